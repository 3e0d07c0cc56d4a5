"""The one JSON decoder for request bodies. Pure.

    value = parse(body)        # raises BodyError(status, code, message, field)

Refused, each naming the field (dotted path, list indexes as numbers, "body" for the whole
document): not JSON or not UTF-8 (400 `malformed_json`), a key that appears twice in one
object (422 `duplicate_key`: the stdlib would silently keep the last one), NaN/Infinity
(422 `not_a_number`: not JSON), nesting deeper than MAX_DEPTH (400) and any string or key
that breaks the text policy (422 `invalid_text`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
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


def parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            400, "malformed_json", f"the body is not UTF-8 (byte {exc.start})", "body"
        ) from None
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
