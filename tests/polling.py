"""Waiting for something that happens over a real transport, without fixed sleeps.

took = await eventually(lambda: lamp.availability.available, timeout=10, what="lamp up")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
