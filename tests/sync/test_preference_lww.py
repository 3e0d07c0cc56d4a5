"""Per-field last writer wins for lighting and audio, without any service: the room's
learner against an app value (a table), then central's and the room's merges over any
versions of a profile (properties). The same rule end to end against a real central is
tests/agent/test_agent_preference_lww.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.comfort.lighting import (
    learn_audio,
    learn_lighting,
    suggest_audio,
    suggest_lighting,
)
from loyalty.services.preferences import merge as central_app_merge
from sync.hlc import Stamp
from sync.merge import field_order, merge
from sync.wire import AudioPrefs, LightingPrefs, MemberPreferences, Stamped

CHANGE = datetime(2026, 7, 1, 12, tzinfo=UTC)  # the guest's change in the room (20:00 local)
LOCAL = CHANGE.astimezone(UTC)
MS = int(CHANGE.timestamp() * 1000)
MEMBER = "mem_lwwlwwlwwlww"


def stored(value: int, source: str, dt_s: float, hlc_dt_s: float | None = None) -> Stamped[int]:
    """A stored field written `dt_s` seconds from the guest's change (negative: before)."""
    hlc = None if hlc_dt_s is None else str(Stamp(MS + int(hlc_dt_s * 1000), 3))
    return Stamped[int](
        value=value,
        updated_at=CHANGE + timedelta(seconds=dt_s),
        source=source,  # type: ignore[arg-type]
        hlc=hlc,
    )


# (what the room has stored for the field, what the guest chose) -> (value, source) after.
# A tie keeps the stored value; the hlc stamp, when there is one, orders, not updated_at.
CASES: list[tuple[str, Stamped[int] | None, int, tuple[int, str]]] = [
    ("nothing stored: the first change is adopted", None, 70, (70, "learned")),
    ("learned before: averaged half way", stored(40, "learned", -3600), 70, (55, "learned")),
    ("older app value: the guest wins", stored(40, "member", -60), 70, (70, "learned")),
    ("app value a millisecond older", stored(40, "member", -0.001), 70, (70, "learned")),
    ("staff value older than the change", stored(40, "staff", -60), 70, (70, "learned")),
    ("newer app value: the app wins", stored(40, "member", 60), 70, (40, "member")),
    ("app value at the same instant: kept", stored(40, "member", 0), 70, (40, "member")),
    ("hlc after the change wins", stored(40, "member", -60, 5), 70, (40, "member")),
    ("hlc before the change loses", stored(40, "member", 60, -5), 70, (70, "learned")),
]  # fmt: skip


@pytest.mark.parametrize(("case", "before", "chosen", "after"), CASES, ids=[c[0] for c in CASES])
def test_the_room_learner_is_last_writer_wins_per_field(
    case: str, before: Stamped[int] | None, chosen: int, after: tuple[int, str]
) -> None:
    lighting = LightingPrefs(level_pct=before, colour_temp_k=None)
    learnt = learn_lighting(
        lighting, suggest_lighting(LOCAL, lighting), level_pct=chosen, at=CHANGE
    )
    assert learnt.level_pct is not None
    assert (learnt.level_pct.value, learnt.level_pct.source) == after
    if after[1] == "learned":
        assert learnt.level_pct.updated_at == CHANGE  # stamped as the guest's write
    else:
        assert learnt.level_pct == before  # untouched, stamp and all
    kelvin = None if before is None else before.model_copy(update={"value": 3000})
    learnt_k = learn_lighting(
        LightingPrefs(colour_temp_k=kelvin),
        suggest_lighting(LOCAL, LightingPrefs(colour_temp_k=kelvin)),
        colour_temp_k=4000,
        at=CHANGE,
    ).colour_temp_k
    assert learnt_k is not None
    assert learnt_k.source == after[1]
    averaged = before is not None and before.source == "learned"
    assert learnt_k.value == (3000 if after[1] != "learned" else 3500 if averaged else 4000)
    audio = AudioPrefs(volume_pct=before)
    learnt_a = learn_audio(audio, suggest_audio(LOCAL, audio), volume_pct=chosen, at=CHANGE)
    assert learnt_a.volume_pct is not None
    assert (learnt_a.volume_pct.value, learnt_a.volume_pct.source) == after


FIELDS = (("lighting", "level_pct", 0, 100), ("lighting", "colour_temp_k", 2000, 6500))
FIELDS += (("audio", "volume_pct", 0, 100),)


@st.composite
def versions(draw: Any) -> MemberPreferences:
    """One writer's version of the profile: some of the fields, each stamped by the app
    (`updated_at` only) or by a room (with its hybrid logical clock), close in time so
    ties and near-ties happen."""
    data: dict[str, Any] = {"member_id": MEMBER, "lighting": {}, "audio": {}}
    for section, name, lo, hi in FIELDS:
        if not draw(st.booleans()):
            continue
        dt_ms = draw(st.integers(-3, 3))
        room = draw(st.booleans())
        data[section][name] = {
            "value": draw(st.integers(lo, hi)),
            "updated_at": (CHANGE + timedelta(milliseconds=dt_ms)).isoformat(),
            "source": "learned" if room else draw(st.sampled_from(["member", "staff"])),
            "hlc": str(Stamp(MS + dt_ms, draw(st.integers(0, 2)))) if room else None,
        }
    return MemberPreferences.model_validate(data)


def _sections(doc: MemberPreferences) -> dict[str, Any]:
    data = doc.model_dump(mode="json")
    return {"lighting": data["lighting"], "audio": data["audio"]}


@settings(max_examples=300, deadline=None)
@given(st.lists(versions(), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_every_merge_keeps_the_newest_write_of_each_field(
    docs: list[MemberPreferences], rnd: Any
) -> None:
    """Whatever order central and the rooms see the writes in, and through either of
    central's doors (a room's upload: sync.merge; the app's PUT: its own merge), each field
    ends as the write with the greatest stamp."""
    shuffled = list(docs)
    rnd.shuffle(shuffled)
    room_side, app_side = docs[0], shuffled[0]
    for doc in docs[1:]:
        room_side = merge(room_side, doc)
    for doc in shuffled[1:]:
        app_side = central_app_merge(app_side, doc)
    assert _sections(room_side) == _sections(app_side)
    for section, name, _lo, _hi in FIELDS:
        writes = [
            d.model_dump(mode="json")[section][name]
            for d in docs
            if d.model_dump(mode="json")[section][name] is not None
        ]
        got = room_side.model_dump(mode="json")[section][name]
        if not writes:
            assert got is None
            continue
        assert got == max(writes, key=field_order)
    # A semilattice: idempotent and commutative (a duplicated or reordered sync is harmless).
    assert merge(room_side, room_side) == room_side
    if len(docs) >= 2:
        assert _sections(merge(docs[0], docs[1])) == _sections(merge(docs[1], docs[0]))


def test_a_room_change_then_an_app_change_in_either_arrival_order() -> None:
    """The whole path without services: the room learns over an older app value, the app
    then writes again; central ends with the later write whichever message lands first."""
    app_old = MemberPreferences(
        member_id=MEMBER, lighting=LightingPrefs(level_pct=stored(40, "member", -60))
    )
    learnt = learn_lighting(
        app_old.lighting, suggest_lighting(LOCAL, app_old.lighting), level_pct=70, at=CHANGE
    )
    room = app_old.model_copy(update={"lighting": learnt})
    room_doc = room.model_copy(
        update={
            "lighting": LightingPrefs(
                level_pct=learnt.level_pct.model_copy(update={"hlc": str(Stamp(MS + 5, 0))})  # type: ignore[union-attr]
            )
        }
    )
    for app_dt, winner in ((60, 25), (-30, 70)):
        app_new = MemberPreferences(
            member_id=MEMBER, lighting=LightingPrefs(level_pct=stored(25, "member", app_dt))
        )
        for first, second in ((room_doc, app_new), (app_new, room_doc)):
            got = central_app_merge(merge(app_old, first), second).lighting.level_pct
            assert got is not None and got.value == winner, (app_dt, first is room_doc)
