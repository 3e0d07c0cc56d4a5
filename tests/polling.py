"""Waiting for something that happens over a real transport, without fixed sleeps.

took = await eventually(lambda: lamp.availability.available, timeout=10, what="lamp up")
profile = await eventually_value(lambda: central.get(url)["climate"], "the profile")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


async def eventually(
    check: Callable[[], bool], timeout: float = 5.0, *, what: str = "condition"
) -> float:
    """Wait until `check()` is true; returns the seconds it took, or fails the test naming
    `what` after `timeout` seconds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def eventually_value(
    check: Callable[[], Any],
    what: str,
    timeout: float = 30.0,
    *,
    ignore: tuple[type[Exception], ...] = (KeyError, TypeError, ValueError),
) -> Any:
    """Wait until the blocking `check()` (an HTTP read of a real process, run in a thread so
    the test's own servers keep serving) returns something truthy, and return it. A transport
    error (the process not up yet, or restarting) and the exceptions in `ignore` (by default
    those of reading a field that is not there yet) count as "not yet"; after `timeout`
    seconds the test fails naming `what` and the last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        try:
            last = await asyncio.to_thread(check)
        except (httpx.TransportError, *ignore) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
        await asyncio.sleep(0.1)
