"""Member presence: the seam that BLE rotating-id resolution and signed app room keys feed.

Recognisers (later: `agent/presence/ble.py`, `agent/presence/room_key.py`) call
`hub.report(...)` once they have resolved a signal to a stay assigned to this room; the room
controller subscribes. Only stay ids cross this seam, never a phone address or raw id.

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
    via: Literal["ble", "room_key", "api"]
    at: datetime


PresenceListener = Callable[[PresenceSignal], None]


class PresenceHub:
    def __init__(self) -> None:
        self._listeners: Listeners[PresenceSignal] = Listeners("presence_listener_failed")

    def subscribe(self, listener: PresenceListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def report(self, signal: PresenceSignal) -> None:
        self._listeners.emit(signal)
