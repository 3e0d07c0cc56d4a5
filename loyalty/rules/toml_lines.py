"""Where each key of a TOML document lives: `key_lines(text)` maps key paths to line numbers.

`tomllib` reports the line of a syntax error but forgets positions once parsing succeeds,
so a pydantic error such as `tiers[1].earn_multiplier` could not name its line. This
scanner walks a document that tomllib has already accepted and records, for every table
header, key, inline-table key and array element, the 1-based line where it starts::

    >>> key_lines('[[tiers]]\\nname = "silver"\\n[[tiers]]\\nqualify = { spend = 1 }\\n')
    {('tiers',): 1, ('tiers', 0): 1, ('tiers', 0, 'name'): 2, ('tiers', 1): 3, ...}

Array elements are indexed like pydantic's `loc` (ints), so a validation location can be
looked up directly. The scanner is forgiving: on anything it does not understand it stops
and returns what it found (a message then falls back to the nearest enclosing table).
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Collection

Path = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}\n#]")
# The skips and one-line strings are single regex matches rather than a loop per
# character: a refused programme file is scanned once per refusal, and the loop was
# half the cost of parse_programme (tests parse thousands of mutated files).
_INLINE_SPACE = re.compile(r"[ \t]*")
_SPACE_COMMENTS_NEWLINES = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_BASIC_STRING = re.compile(r'"((?:[^"\\\n]|\\[\s\S])*)"')  # an escape takes any next char
_LITERAL_STRING = re.compile(r"'([^'\n]*)'")


def _end_of(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a match of `pattern` (one that also matches nothing) at `pos` ends."""
    match = pattern.match(text, pos)
    assert match is not None  # each pattern used here matches the empty string
    return match.end()


class _Stop(Exception):
    """Internal: the scanner met something unexpected; keep what was found."""


class _Found(Exception):
    """Internal: every wanted path has its line; the rest of the text need not be read."""


class _Scanner:
    def __init__(self, text: str, wanted: Collection[Path] | None = None) -> None:
        self.text = text
        self.missing = None if wanted is None else set(wanted)
        self.pos = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.index: dict[Path, int] = {}
        self.array_counts: dict[Path, int] = {}

    # -- low level ------------------------------------------------------------------------
    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_right(self.starts, self.pos if pos is None else pos)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def skip_inline_space(self) -> None:
        self.pos = _end_of(_INLINE_SPACE, self.text, self.pos)

    def skip_space_comments_newlines(self) -> None:
        self.pos = _end_of(_SPACE_COMMENTS_NEWLINES, self.text, self.pos)

    def remember(self, path: Path, line: int) -> None:
        if path in self.index:
            return
        self.index[path] = line
        if self.missing is not None:
            self.missing.discard(path)
            if not self.missing:
                raise _Found

    # -- keys -----------------------------------------------------------------------------
    def simple_key(self) -> str:
        ch = self.peek()
        if ch in ('"', "'"):
            return self.string()
        match = _BARE.match(self.text, self.pos)
        if not match:
            raise _Stop
        self.pos = match.end()
        return match.group()

    def dotted_key(self) -> tuple[str, ...]:
        parts = [self.simple_key()]
        self.skip_inline_space()
        while self.peek() == ".":
            self.pos += 1
            self.skip_inline_space()
            parts.append(self.simple_key())
            self.skip_inline_space()
        return tuple(parts)

    # -- values ---------------------------------------------------------------------------
    def string(self) -> str:
        if self.peek(3) in ('"""', "'''"):
            quote = self.peek(3)
            end = self.text.find(quote, self.pos + 3)
            if end < 0:
                raise _Stop
            while self.text[end + 3 : end + 4] == quote[0]:  # """a"""" ends later
                end += 1
            value = self.text[self.pos + 3 : end]
            self.pos = end + 3
            return value
        pattern = _BASIC_STRING if self.peek() == '"' else _LITERAL_STRING
        match = pattern.match(self.text, self.pos)
        if match is None:  # unterminated on its line
            raise _Stop
        self.pos = match.end()
        return match.group(1)

    def value(self, path: Path) -> None:
        ch = self.peek()
        if ch in ('"', "'"):
            self.string()
        elif ch == "{":
            self.inline_table(path)
        elif ch == "[":
            self.array(path)
        else:
            match = _SCALAR_END.search(self.text, self.pos)
            self.pos = len(self.text) if match is None else match.start()

    def inline_table(self, path: Path) -> None:
        self.pos += 1
        self.skip_inline_space()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            self.skip_inline_space()
            line = self.line()
            key = self.dotted_key()
            for i in range(1, len(key) + 1):
                self.remember(path + key[:i], line)
            if self.peek() != "=":
                raise _Stop
            self.pos += 1
            self.skip_inline_space()
            self.value(path + key)
            self.skip_inline_space()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == "}":
                self.pos += 1
                return
            raise _Stop

    def array(self, path: Path) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_space_comments_newlines()
            if self.peek() == "]":
                self.pos += 1
                return
            self.remember((*path, index), self.line())
            self.value((*path, index))
            index += 1
            self.skip_space_comments_newlines()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == "]":
                self.pos += 1
                return
            raise _Stop

    # -- document -------------------------------------------------------------------------
    def resolve(self, key: tuple[str, ...]) -> Path:
        """A header path with arrays of tables replaced by their current element."""
        out: list[str | int] = []
        for part in key:
            out.append(part)
            count = self.array_counts.get(tuple(out))
            if count:
                out.append(count - 1)
        return tuple(out)

    def document(self) -> None:
        table: Path = ()
        while True:
            self.skip_space_comments_newlines()
            if self.pos >= len(self.text):
                return
            line = self.line()
            if self.peek(2) == "[[":
                self.pos += 2
                self.skip_inline_space()
                key = self.dotted_key()
                parent = self.resolve(key[:-1])
                array_path = (*parent, key[-1])
                count = self.array_counts.get(array_path, 0)
                self.array_counts[array_path] = count + 1
                table = (*array_path, count)
                self.remember(array_path, line)
                self.remember(table, line)
                self.pos = self.text.index("]]", self.pos) + 2
            elif self.peek() == "[":
                self.pos += 1
                self.skip_inline_space()
                table = self.resolve(self.dotted_key())
                self.remember(table, line)
                self.pos = self.text.index("]", self.pos) + 1
            else:
                key = self.dotted_key()
                for i in range(1, len(key) + 1):
                    self.remember(table + key[:i], line)
                if self.peek() != "=":
                    raise _Stop
                self.pos += 1
                self.skip_inline_space()
                self.value(table + key)


def key_lines(text: str, *, wanted: Collection[Path] | None = None) -> dict[Path, int]:
    """Map every key path of a (tomllib-valid) TOML document to its 1-based line.

    With `wanted` (the paths a refusal names), the scan stops as soon as each of them has
    its line, so the index may hold only what came before; `line_of` answers the same
    for a wanted path either way (its own line is found first, or the scan went to the end).
    """
    scanner = _Scanner(text, wanted)
    if scanner.missing is not None and not scanner.missing:
        return scanner.index
    with contextlib.suppress(_Stop, _Found, ValueError, IndexError):
        scanner.document()
    return scanner.index


def line_of(index: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest enclosing key/table that the file spells out."""
    for end in range(len(path), 0, -1):
        line = index.get(path[:end])
        if line is not None:
            return line
    return None
