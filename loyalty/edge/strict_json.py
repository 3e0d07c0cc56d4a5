"""The one JSON decoder for request bodies. Pure.

    value = parse(body)        # raises BodyError(status, code, message, field)

Refused, each naming the field (dotted path, list indexes as numbers, "body" for the whole
document): not JSON or not UTF-8 (400 `malformed_json`), a key that appears twice in one
object (422 `duplicate_key`: the stdlib would silently keep the last one), NaN/Infinity
(422 `not_a_number`: not JSON), nesting deeper than MAX_DEPTH (400) and any string or key
that breaks the text policy (422 `invalid_text`).

Most bodies break none of these, and the full check (a hook per object, a walk over every
string) was a tenth of central's time on a room's 500-event upload. So `parse` first tries
a quick check that can only say "surely strict": the body holds no backslash (so no
escape that could decode to a refused character) and no refused character, nests no
deeper than MAX_DEPTH, and decodes with no key twice. Anything else (including every
error) goes through the full check, which alone decides the answer and names the field:
the outcome is the same."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from loyalty.edge.text import text_problem

MAX_DEPTH = 64


@dataclass
class BodyError(Exception):
    status: int
    code: str
    message: str
    field: str


class _Duplicated(dict[str, Any]):
    """An object with a repeated key: kept so the walk can name where it was."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            dup = _Duplicated(out)
            dup.duplicate = key
            return dup
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise BodyError(422, "not_a_number", f"{name} is not a JSON number", "body")


def _where(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "body"


def _walk(value: Any, path: list[str | int]) -> None:
    if len(path) > MAX_DEPTH:
        raise BodyError(400, "malformed_json", f"nested deeper than {MAX_DEPTH}", _where(path))
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise BodyError(422, "invalid_text", f"{_where(path)}: {problem}", _where(path))
    elif isinstance(value, dict):
        if isinstance(value, _Duplicated):
            where = _where([*path, value.duplicate])
            raise BodyError(422, "duplicate_key", f"{where}: the key appears more than once", where)
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                where = _where(path)
                raise BodyError(422, "invalid_text", f"a key in {where}: {problem}", where)
            _walk(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, [*path, index])


# Bytes that are surely text: printable ASCII, TAB, LF, CR (a body of only these needs no
# look for refused characters).
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class _NotSure(Exception):
    """The quick check cannot vouch for the body: the full check decides."""


def _not_sure(_name: str) -> Any:
    raise _NotSure


def _quick(body: bytes, text: str) -> tuple[bool, Any]:
    """(True, the value) when the body is surely strict JSON; (False, None) when unsure.
    Only bodies without a backslash: then no string holds an escape (which could decode
    to a refused character) and every quote delimits a string."""
    if b"\\" in body:
        return False, None
    if body.translate(None, _PLAIN) and text_problem(text) is not None:
        return False, None  # not plain ASCII, and a refused character is there
    # What lies outside the strings (valid JSON; an invalid text fails to decode below,
    # whatever this counted): how deep the containers nest, and how many keys there are
    # (a colon each), which the decoded objects hold too unless a key came twice.
    outside = b"".join(body.split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKET)
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH:
        return False, None
    kept = 0

    def count(obj: dict[str, Any]) -> dict[str, Any]:
        nonlocal kept
        kept += len(obj)
        return obj

    try:
        value = json.loads(text, object_hook=count, parse_constant=_not_sure)
    except (_NotSure, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return False, None
    if kept != outside.count(b":"):
        return False, None
    return True, value


def parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            400, "malformed_json", f"the body is not UTF-8 (byte {exc.start})", "body"
        ) from None
    sure, value = _quick(body, text)
    if sure:
        return value
    return _strict(text)


def _strict(text: str) -> Any:
    """The full check: every error, with the field it names."""
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BodyError(
            400, "malformed_json", f"the body is not JSON: {exc.msg} at {exc.pos}", "body"
        ) from None
    except (RecursionError, ValueError) as exc:  # 10**5000 digits, [[[[...
        problem = f"the body is not usable JSON: {exc}"
        raise BodyError(400, "malformed_json", problem, "body") from None
    _walk(value, [])
    return value
