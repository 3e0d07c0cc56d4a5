"""The text policy of the whole API: what characters a string anywhere in a request may
hold. Pure; used by the JSON decoder, the query-string check and the CLI.

Refused: C0 control characters except TAB, LF and CR (NUL above all: PostgreSQL cannot
store it, SQLite would, so the backends would disagree), DEL, C1 controls (U+0080-U+009F)
and lone surrogates (U+D800-U+DFFF, which JSON's \\u escapes can produce but UTF-8 cannot
encode). Everything else — any script, emoji, combining marks — is text."""

from __future__ import annotations

import re

_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

POLICY = (
    "text may not contain control characters (U+0000-U+001F except tab, LF, CR; U+007F; "
    "U+0080-U+009F) or lone surrogates (U+D800-U+DFFF)"
)


def text_problem(value: str) -> str | None:
    """Why `value` breaks the text policy, or None if it does not."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    char = found.group()
    kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return f"contains {kind} (U+{ord(char):04X}) at position {found.start()}; {POLICY}"
