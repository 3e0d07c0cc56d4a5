"""Member preferences: stored as one MemberPreferences document per member, merged per
field by `Stamped.updated_at` (last writer wins; ties broken by the value's JSON so both
sides of a sync converge). Consent-gated attributes follow the member's consent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from loyalty.db.tables import preferences
from loyalty.errors import ApiError
from sync.merge import field_order
from sync.wire import MemberPreferences

SECTIONS = ("climate", "lighting", "audio", "routine")
MAX_SKEW = timedelta(minutes=5)


def _newer(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    # The same order as the rooms' merge (sync.merge): hybrid logical clock stamp, else
    # `updated_at`, then the value's JSON, so central and the rooms converge.
    if old is None:
        return new
    if new is None:
        return old
    return new if field_order(new) > field_order(old) else old


def merge(current: MemberPreferences, incoming: MemberPreferences) -> MemberPreferences:
    old, new = current.model_dump(mode="json"), incoming.model_dump(mode="json")
    out = dict(old)
    for section in SECTIONS:
        merged = {}
        for name in set(old[section]) | set(new[section]):
            merged[name] = _newer(old[section].get(name), new[section].get(name))
        out[section] = merged
    co, cn = old["comfort_offset"], new["comfort_offset"]
    new_at, old_at = _offset_stamp(cn), _offset_stamp(co)
    if new_at is not None and (old_at is None or new_at > old_at):
        out["comfort_offset"] = cn
    for attr in ("age_band", "gender"):
        if new.get(attr) is not None:
            out[attr] = new[attr]
    return MemberPreferences.model_validate(out)


def _offset_stamp(offset: dict[str, Any]) -> datetime | None:
    """The last time the learned comfort state changed: its offset or its votes."""
    stamps = [
        datetime.fromisoformat(offset[k]) for k in ("updated_at", "votes_at") if offset.get(k)
    ]
    return max(stamps) if stamps else None


def _stamps(doc: MemberPreferences) -> list[tuple[str, datetime]]:
    found = []
    data = doc.model_dump()
    for section in SECTIONS:
        for name, value in data[section].items():
            if value is not None:
                found.append((f"{section}.{name}.updated_at", value["updated_at"]))
    if doc.comfort_offset.updated_at is not None:
        found.append(("comfort_offset.updated_at", doc.comfort_offset.updated_at))
    if doc.comfort_offset.votes_at is not None:
        found.append(("comfort_offset.votes_at", doc.comfort_offset.votes_at))
    return found


def load(conn: Connection, member: Any) -> MemberPreferences:
    row = conn.execute(select(preferences).where(preferences.c.member_id == member.id)).first()
    doc = (
        MemberPreferences.model_validate_json(row.document)
        if row
        else MemberPreferences(member_id=member.id)
    )
    if member.consent_personalisation:
        doc = doc.model_copy(update={"age_band": member.age_band, "gender": member.gender})
    return doc


def save(
    conn: Connection, member: Any, incoming: MemberPreferences, now: datetime
) -> MemberPreferences:
    if incoming.member_id != member.id:
        raise ApiError(
            422,
            "member_mismatch",
            "member_id in the body differs from the path",
            field="member_id",
        )
    for where, stamp in _stamps(incoming):
        if stamp > now + MAX_SKEW:
            raise ApiError(
                422,
                "clock_skew",
                f"{where} is {stamp.isoformat()}, more than 5 minutes ahead of the service",
                field=where,
            )
    if (incoming.age_band or incoming.gender) and not member.consent_personalisation:
        raise ApiError(
            409,
            "consent_required",
            "age_band and gender need the member's personalisation consent",
            field="age_band" if incoming.age_band else "gender",
        )
    merged = merge(load(conn, member), incoming)
    stored = merged.model_copy(update={"age_band": None, "gender": None})
    document = stored.model_dump_json()
    exists = conn.execute(
        select(preferences.c.member_id).where(preferences.c.member_id == member.id)
    ).first()
    if exists:
        conn.execute(
            preferences.update()
            .where(preferences.c.member_id == member.id)
            .values(document=document, updated_at=now)
        )
    else:
        conn.execute(
            preferences.insert().values(member_id=member.id, document=document, updated_at=now)
        )
    if merged.age_band or merged.gender:
        from loyalty.db.tables import members

        conn.execute(
            members.update()
            .where(members.c.id == member.id)
            .values(age_band=merged.age_band, gender=merged.gender)
        )
    return merged
