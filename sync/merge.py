"""Per-field last-writer-wins for member preferences, ordered by hybrid logical clock.

Each preference field is a `Stamped` value; of two versions of a field the one with the
greater stamp wins (`hlc`, or the wall time `updated_at` for documents written before
stamps existed); equal stamps are broken by the value's JSON so both sides converge to the
same answer whatever the order they merge in. The merge is commutative, associative and
idempotent (a semilattice join): applying a document twice, or two documents in either
order, gives the same result. That is what makes a lost or duplicated message harmless and
why a local change made while an upload is in flight is never lost: the room merges central's
answer into its document instead of replacing it, and its own newer stamp wins.

    merged = merge(local, incoming)
    changed = fields_changed(before, merged)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sync.hlc import Stamp
from sync.wire import MemberPreferences

SECTIONS = ("climate", "lighting", "audio", "routine")


def field_order(value: dict[str, Any]) -> tuple[Stamp, str]:
    """The sort key of one stamped field (as JSON data)."""
    hlc = value.get("hlc")
    if hlc:
        stamp = Stamp.parse(hlc)
    else:
        at = datetime.fromisoformat(value["updated_at"])
        stamp = Stamp(int(at.timestamp() * 1000), 0)
    return stamp, json.dumps(value, sort_keys=True)


def _winner(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if field_order(a) >= field_order(b) else b


def _offset_order(value: dict[str, Any]) -> tuple[Stamp, str]:
    """The learned comfort state's order: its HLC stamp when the room gave one (a room's
    wall clock may have jumped back since its last version), else its `updated_at`."""
    if value.get("hlc"):
        return Stamp.parse(value["hlc"]), json.dumps(value, sort_keys=True)
    at = value.get("updated_at")
    wall = int(datetime.fromisoformat(at).timestamp() * 1000) if at else 0
    return Stamp(wall, 0), json.dumps(value, sort_keys=True)


def merge(current: MemberPreferences, incoming: MemberPreferences) -> MemberPreferences:
    """The join of two versions of one member's preferences. Consent-gated attributes
    (`age_band`, `gender`) are central's alone: `current`'s are kept."""
    if current.member_id != incoming.member_id:
        raise ValueError(
            f"cannot merge preferences of {incoming.member_id} into {current.member_id}"
        )
    old, new = current.model_dump(mode="json"), incoming.model_dump(mode="json")
    out = dict(old)
    for section in SECTIONS:
        names = set(old[section]) | set(new[section])
        out[section] = {n: _winner(old[section].get(n), new[section].get(n)) for n in names}
    out["comfort_offset"] = max(old["comfort_offset"], new["comfort_offset"], key=_offset_order)
    return MemberPreferences.model_validate(out)


def fields_changed(before: MemberPreferences, after: MemberPreferences) -> list[str]:
    """`section.field` names whose stamped value differs."""
    a, b = before.model_dump(mode="json"), after.model_dump(mode="json")
    changed = [
        f"{section}.{name}"
        for section in SECTIONS
        for name in sorted(set(a[section]) | set(b[section]))
        if a[section].get(name) != b[section].get(name)
    ]
    if a["comfort_offset"] != b["comfort_offset"]:
        changed.append("comfort_offset")
    return changed


def stamps(doc: MemberPreferences) -> list[tuple[str, Stamp]]:
    """Every field's stamp (for refusing far-future ones at the boundary)."""
    data = doc.model_dump(mode="json")
    found = [
        (f"{section}.{name}", field_order(value)[0])
        for section in SECTIONS
        for name, value in data[section].items()
        if value is not None
    ]
    if data["comfort_offset"].get("hlc"):
        found.append(("comfort_offset", Stamp.parse(data["comfort_offset"]["hlc"])))
    return found
