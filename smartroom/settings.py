"""Turning pydantic validation errors into messages that say what to fix.

Every config (agent room file, central service settings, programme file, rig file) goes
through `load_or_explain`: on failure it raises `ConfigError` whose text names the setting,
the bad value and the fix, one line per problem, e.g.::

    room.toml: devices.hvac.port = 42 -- Input should be a valid string (fix: give the serial
    device path, e.g. "/dev/ttyUSB0")
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file or setting is invalid; str() is the full human message."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: invalid configuration\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def explain(error: ValidationError, *, fixes: Mapping[str, str] | None = None) -> list[str]:
    """One line per problem: `where = value -- what is wrong (fix: ...)`."""
    lines = []
    for item in error.errors(include_url=False):
        where = _location(tuple(item["loc"]))
        value = item.get("input")
        shown = "(missing)" if item["type"] == "missing" else repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        line = f"{where} = {shown} -- {item['msg']}"
        hint = None
        if fixes:
            hint = fixes.get(where) or fixes.get(where.split(".")[-1])
        if hint:
            line += f" (fix: {hint})"
        elif item["type"] == "missing":
            line += " (fix: add this setting)"
        elif item["type"] == "extra_forbidden":
            line += " (fix: remove it, or check its spelling)"
        lines.append(line)
    return lines


def validate_or_explain(
    model: type[M], data: Any, *, source: str, fixes: Mapping[str, str] | None = None
) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, explain(exc, fixes=fixes)) from None


def read_toml(path: Path, *, what: str = "file") -> dict[str, Any]:
    """A TOML file's tables; a ConfigError names the path and says what is wrong: the file
    cannot be read, or the line and column of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the {what}: {exc.strerror}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None


def load_toml(model: type[M], path: Path, *, fixes: Mapping[str, str] | None = None) -> M:
    """Read and validate a TOML file; TOML syntax errors name the line."""
    return validate_or_explain(model, read_toml(path), source=str(path), fixes=fixes)
