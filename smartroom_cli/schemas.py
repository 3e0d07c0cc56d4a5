"""Export the wire contract's JSON Schemas to docs/schemas/ and check they are current.

smartroom schemas           # rewrite docs/schemas/*.json
smartroom schemas --check   # exit 1 and name the stale files (CI runs this)
"""

from __future__ import annotations

import json
from pathlib import Path

from sync.wire import WIRE_DOCUMENTS

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def render() -> dict[str, str]:
    """File name → JSON text for every wire document."""
    out = {}
    for model in WIRE_DOCUMENTS:
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://smartroom.invalid/schemas/{model.__name__}.json"
        out[f"{model.__name__}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, different, or no longer produced."""
    wanted = render()
    problems = [
        name
        for name, text in wanted.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    if directory.is_dir():
        problems += [p.name for p in directory.glob("*.json") if p.name not in wanted]
    return sorted(problems)


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for name, text in wanted.items():
        (directory / name).write_text(text, encoding="utf-8")
    for old in directory.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    return sorted(wanted)
