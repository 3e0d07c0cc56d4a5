"""Keep the agent's resident memory down on a small box.

    settle_memory()      # once the agent is ready: collect, freeze, hand free heap back
    trim_heap()          # later, e.g. hourly: hand free heap back to the kernel

Start-up (imports, building pydantic schemas, loading the comfort model, the LiteRT
interpreter's first allocations) leaves megabytes of freed-but-kept heap in glibc's malloc;
`malloc_trim(0)` returns those pages to the kernel (7 MB measured after the model's
self-test). `gc.freeze()` moves every object alive after start-up out of the collector's
reach, so later collections do not walk (and dirty) them. Neither changes behaviour; on a
libc without `malloc_trim` (musl) trimming is skipped.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def trim_heap() -> bool:
    """Return free heap pages to the kernel; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def settle_memory() -> bool:
    """After start-up, once per process (never in a test process: frozen objects are never
    collected)."""
    gc.collect()
    gc.freeze()
    return trim_heap()
