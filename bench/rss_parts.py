"""Where a process's resident memory is: its anonymous memory (Python's objects, malloc's
heap and arenas, native libraries' allocations) against the pages of the shared libraries
it has mapped, by package, from `/proc/PID/smaps`.

    parts = rss_parts(pid)     # {"anonymous (...)": kB, "cryptography": kB, ...}
    threads(pid)               # the process's thread count (each may get a malloc arena)

Used by bench/agent_footprint.py to say what a room in service adds to the bench room.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ANON = "anonymous: Python objects, malloc heap, native allocations"
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$")


def _owner(path: str) -> str:
    """The package (site-packages) or library file a mapping belongs to."""
    if not path or path.startswith("["):
        return ANON  # [heap], [stack] and unnamed mappings
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return top.removesuffix(".libs").split(".cpython")[0]  # numpy.libs -> numpy
    if "/lib-dynload/" in path:
        return "Python's extension modules"
    name = path.rsplit("/", 1)[-1]
    return name.split(".so")[0] if ".so" in name else "other files"


def rss_parts(pid: int) -> dict[str, int]:
    """Resident kB per owner (see `_owner`), largest first."""
    parts: Counter[str] = Counter()
    owner = ANON
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        mapping = _MAPPING.match(line)
        if mapping:
            owner = _owner(mapping[1])
        elif line.startswith("Rss:"):
            parts[owner] += int(line.split()[1])
    return dict(parts.most_common())


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise ValueError(f"/proc/{pid}/status has no Threads line")
