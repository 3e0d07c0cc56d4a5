"""One listener set serves every source: devices, connections, presence."""

from __future__ import annotations

import structlog.testing

from smartroom.listeners import Listeners


def test_every_listener_hears_even_when_one_raises() -> None:
    heard: list[int] = []
    listeners: Listeners[int] = Listeners("device_listener_failed", device="lamp")

    def broken(_value: int) -> None:
        raise RuntimeError("subscriber bug")

    listeners.add(broken)
    remove = listeners.add(heard.append)
    with structlog.testing.capture_logs() as logs:
        listeners.emit(1)
    assert heard == [1]
    assert [(e["event"], e["device"]) for e in logs] == [("device_listener_failed", "lamp")]
    remove()
    remove()  # unsubscribing twice is harmless
    listeners.emit(2)
    assert heard == [1]
    assert len(listeners) == 1


def test_a_listener_may_unsubscribe_while_being_called() -> None:
    listeners: Listeners[str] = Listeners("x_failed")
    calls: list[str] = []
    removers: list[object] = []

    def once(value: str) -> None:
        calls.append(value)
        remover = removers[0]
        assert callable(remover)
        remover()

    removers.append(listeners.add(once))
    listeners.emit("a")
    listeners.emit("b")
    assert calls == ["a"]
