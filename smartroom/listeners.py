"""A set of callbacks subscribed to one source (a device's updates, a connection's
availability, presence signals).

    updates: Listeners[DeviceUpdate] = Listeners("device_listener_failed", device="lamp")
    unsubscribe = updates.add(print)
    updates.emit(update)      # every listener is called; one that raises is logged, not raised

A subscriber's bug must never stop the loop that emits (a poll, an MQTT message handler),
nor keep the other subscribers from hearing about the change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

from smartroom.log import get_logger

T = TypeVar("T")

log = get_logger("smartroom.listeners")


class Listeners(Generic[T]):
    def __init__(self, failure_event: str, **log_context: object) -> None:
        self._listeners: list[Callable[[T], None]] = []
        self._failure_event = failure_event
        self._log_context = log_context

    def add(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Subscribe `listener`; returns a function that unsubscribes it (idempotent)."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def emit(self, value: T) -> None:
        for listener in list(self._listeners):
            try:
                listener(value)
            except Exception:
                log.exception(self._failure_event, **self._log_context)

    def __len__(self) -> int:
        return len(self._listeners)
