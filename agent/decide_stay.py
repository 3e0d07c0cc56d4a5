"""The stay's side of `decide()`: check-in and check-out, a guest entering or leaving (who
it was: the member, staff, a stranger), presence signals, and housekeeping requests.
Pure, like decide itself; `agent.decide_room.fold` calls these as facts arrive.

    memory = stay_changes(memory, stay, now, events, notes)
    memory = occupancy_changed(memory, stay, now, rules, events, notes)  # entered / left
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.facts import PresenceSignal, StaffService
from agent.room_memory import Memory, StayMemory, with_outing
from agent.store import NewEvent
from scenes import energy
from sync.wire import EventKind, StayAssignment

if TYPE_CHECKING:
    from agent.decide import RoomRules

Notes = list[tuple[str, dict[str, Any]]]


def stay_changes(
    memory: Memory,
    stay: StayAssignment | None,
    now: datetime,
    events: list[NewEvent],
    notes: Notes,
) -> Memory:
    """A stay checked in, or ended (checked out, or no longer listed for this room)."""
    kept = memory.stay
    if (kept.stay_id if kept else None) == (stay.stay_id if stay else None):
        return memory
    if kept is not None:
        # `entry` stays: a guest still inside after check-out is the departing guest.
        memory = replace(memory, stay=None, departed_at=now, dnd=False, mur=False, manual={})
        events.append(
            NewEvent(
                EventKind.HOUSEKEEPING,
                {"checkout": True, "dnd": False, "mur": False, "via": "stay"},
                stay_id=kept.stay_id,
            )
        )
        notes.append(("stay_ended", {}))
    if stay is not None:
        memory = replace(
            memory,
            stay=StayMemory(stay_id=stay.stay_id, member_id=stay.member_id, checked_in_at=now),
        )
        events.append(
            NewEvent(
                EventKind.HOUSEKEEPING,
                {"checked_in": True},
                stay_id=stay.stay_id,
                member_id=stay.member_id,
                sync=False,
            )
        )
        notes.append(("stay_checked_in", {}))
    return memory


def presence(
    fact: PresenceSignal,
    m: Memory,
    stay: StayAssignment | None,
    rules: RoomRules,
    events: list[NewEvent],
    notes: Notes,
) -> Memory:
    if fact.who == "staff":
        # A staff badge at the door: the next entry is staff's.
        return replace(m, last_unlock=("staff", fact.at)) if fact.present else m
    if stay is None or stay.stay_id != fact.stay_id:
        notes.append(("presence_for_other_stay", {"via": fact.via}))  # never the id itself
        return m
    was = m.occ.occupied
    occ = energy.on_presence(m.occ, present=fact.present, at=fact.at, sticky=fact.via == "ble")
    m = replace(m, occ=occ, last_unlock=("app", fact.at) if fact.present else m.last_unlock)
    if fact.present and was and m.entry == "staff" and m.stranger_entry:
        # The unrecognised person inside turns out to be the member: welcome them.
        m = occupancy_changed(m, stay, fact.at, rules, events, notes)
    return m


def housekeeping(
    m: Memory,
    dnd: bool | None,
    mur: bool | None,
    via: str,
    stay: StayAssignment | None,
    events: list[NewEvent],
    notes: Notes,
) -> Memory:
    new_dnd = m.dnd if dnd is None else dnd
    new_mur = m.mur if mur is None else mur
    if dnd:  # the two exclude each other: the last request wins
        new_mur = False
    if mur:
        new_dnd = False
    if (new_dnd, new_mur) == (m.dnd, m.mur):
        return m
    events.append(
        NewEvent(
            EventKind.HOUSEKEEPING,
            {"dnd": new_dnd, "mur": new_mur, "via": via},
            stay_id=stay.stay_id if stay else None,
        )
    )
    notes.append(("housekeeping", {"dnd": new_dnd, "mur": new_mur, "via": via}))
    return replace(m, dnd=new_dnd, mur=new_mur)


def staff_service(
    m: Memory,
    fact: StaffService,
    stay: StayAssignment | None,
    events: list[NewEvent],
    notes: Notes,
) -> Memory:
    """The board's start/finish of cleaning: the housekeeping scene runs while it lasts;
    the finish serves a make-up request. Commands are applied once, in central's order."""
    if fact.seq <= m.service_seq:
        return m
    m = replace(m, service=fact.active, service_seq=fact.seq)
    notes.append(("staff_service", {"active": fact.active, "seq": fact.seq}))
    if not fact.active and m.mur:
        m = housekeeping(m, None, False, "board", stay, events, notes)
    return m


def occupancy_changed(
    m: Memory,
    stay: StayAssignment | None,
    now: datetime,
    rules: RoomRules,
    events: list[NewEvent],
    notes: Notes,
) -> Memory:
    at = m.occ.changed_at or now
    kept = m.stay
    history = m.history
    if m.occ.occupied:
        window = timedelta(seconds=rules.config.occupancy.entry_window_s)
        staff = (
            m.last_unlock is not None
            and m.last_unlock[0] == "staff"
            and now - m.last_unlock[1] <= window
        )
        # In a rented room, an entry with no credential at the door (no unlock, no
        # recognised phone or room key) is not the member's: no personal welcome.
        stranger = (
            stay is not None
            and not staff
            and not m.occ.member_present
            and (m.last_unlock is None or now - m.last_unlock[1] > window)
        )
        if stranger:
            notes.append(("entry_unrecognised", {"hint": "no unlock or recognised member"}))
        m = replace(m, stranger_entry=stranger)
        if staff or stay is None or kept is None or stranger:
            entry = "staff"
        else:
            entry = "re" if kept.first_entry_at is not None else "first"
            tz = rules.config.room.tz
            if entry == "re" and kept.guest_left_at is not None:
                # One more outing for this guest's pattern (kept small), and the room's.
                history = history.observe_outing(kept.guest_left_at, at, tz=tz)
                kept = with_outing(kept, kept.guest_left_at, at)
            elif entry == "first":
                delay = int((at - stay.arrival).total_seconds() // 60)
                history = history.observe_arrival(delay)
            kept = replace(kept, first_entry_at=kept.first_entry_at or now, guest_left_at=None)
            events.append(
                NewEvent(
                    EventKind.ARRIVAL,
                    {"entry": entry, "member_present": m.occ.member_present},
                    stay_id=stay.stay_id,
                    member_id=stay.member_id,
                )
            )
        notes.append(("occupied", {"entry": entry}))
        return replace(
            m,
            entry=entry,  # type: ignore[arg-type]
            vacant_since=None,
            stay=kept,
            history=history,
        )
    mur = m.mur
    if m.entry in ("first", "re") and stay is not None and kept is not None:
        events.append(
            NewEvent(EventKind.DEPARTURE, {}, stay_id=stay.stay_id, member_id=stay.member_id)
        )
        kept = replace(kept, guest_left_at=at)
    if m.entry == "staff" and m.mur:
        # Housekeeping has been in: the make-up request is served.
        mur = False
        events.append(
            NewEvent(
                EventKind.HOUSEKEEPING,
                {"dnd": m.dnd, "mur": False, "via": "staff_visit"},
                stay_id=stay.stay_id if stay else None,
            )
        )
    notes.append(("vacant", {}))
    # The guest left: automation may act again.
    return replace(m, entry=None, vacant_since=at, manual={}, mur=mur, stay=kept)
