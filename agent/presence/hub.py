"""Member presence: the seam that BLE rotating-id resolution and signed app room keys feed.

Recognisers (`agent/presence/ble.py`, `agent/presence/app_key.py`, `agent/presence/lock.py`)
call `hub.report(...)` once they have resolved a signal to a stay assigned to this room (or
to a staff badge); the room controller subscribes. Only stay ids (or badge names) cross this
seam, never a phone address or raw identifier.

    hub = PresenceHub()
    unsubscribe = hub.subscribe(controller.on_presence)
    hub.report(PresenceSignal(stay_id="stay_x", present=True, via="ble", at=clock.now()))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smartroom.listeners import Listeners
from smartroom.log import get_logger

log = get_logger("agent.presence")


@dataclass(frozen=True, slots=True)
class PresenceSignal:
    stay_id: str
    present: bool
    via: Literal["ble", "room_key", "lock", "api"]
    at: datetime
    # "staff": a staff badge; `stay_id` then holds the badge's name and the room treats it
    # as a staff entry, never as the guest's welcome.
    who: Literal["member", "staff"] = "member"


PresenceListener = Callable[[PresenceSignal], None]


class PresenceHub:
    def __init__(self) -> None:
        self._listeners: Listeners[PresenceSignal] = Listeners("presence_listener_failed")

    def subscribe(self, listener: PresenceListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def report(self, signal: PresenceSignal) -> None:
        self._listeners.emit(signal)
