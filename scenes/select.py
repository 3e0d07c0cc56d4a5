"""Which scene the room should be in, from what the agent knows: pure, level-based.

    choice = select_scene(Situation(now_local=..., rented=True, occupied=True, entry="first"))
    choice.name        # "welcome"
    choice.overlays    # ("dnd",) when do-not-disturb is on

Occupied rooms: the guest of a stay that has just ended (checked out, still packing) →
`departing` (nothing changes until they leave); staff entry, or someone in a room nobody
has rented → `welcome_staff` (or `make_up_room` when MUR is on); an attendant who started
cleaning on the housekeeping board → `make_up_room` until they finish; a guest →
`sleep` / `wake` inside the member's sleep and wake windows, else `welcome` on the first
entry of a stay and `welcome_back` after. Empty rooms: checked in → `away` (or
`pre_arrival` before the first entry); not checked in → `pre_arrival` when a stay arrives
soon, `checkout` just after a departure, else `vacant`. Do-not-disturb is an overlay on
whatever the room is doing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

Entry = Literal["first", "re", "staff"]

WAKE_WINDOW = timedelta(minutes=45)
CHECKOUT_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Situation:
    now_local: datetime  # aware, in the room's time zone
    rented: bool  # a stay is checked in to this room
    occupied: bool
    entry: Entry | None = None  # who the current occupancy started with
    first_entry_done: bool = True  # the checked-in stay has entered at least once
    dnd: bool = False
    mur: bool = False
    arrival_soon: bool = False  # a booked stay arrives within the pre-conditioning window
    departed_at: datetime | None = None  # last check-out of this room
    wake_time: time | None = None
    sleep_time: time | None = None
    service: bool = False  # housekeeping started cleaning on the board
    signature: str | None = None  # the member's exclusive scene (a benefit), if any


@dataclass(frozen=True, slots=True)
class SceneChoice:
    name: str
    overlays: tuple[str, ...] = ()
    why: str = ""


def in_window(now: time, start: time, end: time) -> bool:
    """`start <= now < end` on a 24 h dial (the window may cross midnight)."""
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def _plus(t: time, delta: timedelta) -> time:
    minutes = (t.hour * 60 + t.minute + int(delta.total_seconds() // 60)) % (24 * 60)
    return time(minutes // 60, minutes % 60)


def select_scene(s: Situation) -> SceneChoice:
    overlays = ("dnd",) if s.dnd else ()
    if s.service:
        return SceneChoice("make_up_room", (), "housekeeping at work (started on the board)")
    now = s.now_local.time()
    if s.occupied:
        if not s.rented and s.entry in ("first", "re"):
            # The occupancy began with the guest's own entry: they are still here.
            return SceneChoice("departing", (), "guest checked out, still in the room")
        if s.entry == "staff" or not s.rented:
            if s.mur:
                return SceneChoice("make_up_room", (), "staff inside, make-up requested")
            return SceneChoice("welcome_staff", (), "staff (or someone not checked in) inside")
        if s.wake_time is not None and in_window(now, s.wake_time, _plus(s.wake_time, WAKE_WINDOW)):
            return SceneChoice("wake", overlays, f"member's wake time {s.wake_time:%H:%M}")
        if s.sleep_time is not None:
            end = s.wake_time or time(7, 0)
            if in_window(now, s.sleep_time, end):
                return SceneChoice("sleep", overlays, f"member's sleep time {s.sleep_time:%H:%M}")
        if s.entry == "first":
            return SceneChoice("welcome", overlays, "first entry of the stay")
        if s.signature is not None:
            return SceneChoice(s.signature, overlays, "guest back: their exclusive scene")
        return SceneChoice("welcome_back", overlays, "guest back in the room")
    if s.rented:
        if not s.first_entry_done:
            return SceneChoice("pre_arrival", overlays, "checked in, not yet in the room")
        return SceneChoice("away", overlays, "checked in, room empty")
    if s.arrival_soon:
        return SceneChoice("pre_arrival", (), "a stay arrives soon")
    if s.departed_at is not None and s.now_local - s.departed_at < CHECKOUT_WINDOW:
        return SceneChoice("checkout", (), "guest checked out")
    return SceneChoice("vacant", (), "not rented")
