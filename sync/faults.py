"""Named fault points for crash tests: at a point the process can SIGKILL itself.

Off unless `SMARTROOM_FAULTS` is set (read once, at import) or a test calls `configure`,
so production pays one attribute check per point. The value is a comma-separated list of:

* `name` — die at the first hit of that point;
* `name@n` — die at its n-th hit;
* `random:<p>:<seed>` — die at any point with probability p (seeded).

    faults.point("agent.apply.after_items")

`SMARTROOM_FAULTS_LOG=path` (or `configure(..., log=path)`) appends "<pid> <point>" to that
file just before the kill, so the parent of a killed process knows where it died (the kill
rig, tests/sync/kill_rig.py, asserts every point was hit from these lines).

Tests can instead install a hook (`set_hook`) that raises, to simulate a crash in-process
(the stateful model does: its "crash" discards the uncommitted transaction, as SIGKILL would).
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from collections.abc import Callable

POINTS = (
    # the agent: its write path, upload, acknowledgement and page apply
    "agent.commit.after_outbox",
    "agent.upload.before_send",
    "agent.upload.after_send",
    "agent.ack.before_commit",
    "agent.apply.after_items",
    "agent.apply.before_commit",
    # central's accept path: inside the upload transaction, then after its commit
    "central.accept.event",
    "central.accept.after_effect",
    "central.consume.after_earn",
    "central.accept.before_commit",
    "central.accept.after_commit",
    # central's pull (cursor) path
    "central.pull.before_commit",
    "central.pull.after_commit",
)

hits: Counter[str] = Counter()
_hook: Callable[[str], None] | None = None


def _parse(spec: str) -> tuple[dict[str, int], float, random.Random | None]:
    targets: dict[str, int] = {}
    chance, rng = 0.0, None
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if part.startswith("random:"):
            _, p, seed = part.split(":")
            chance, rng = float(p), random.Random(int(seed))  # fault choice, not security
            continue
        name, _, nth = part.partition("@")
        if name not in POINTS:
            raise ValueError(f"SMARTROOM_FAULTS: unknown fault point {name!r}")
        targets[name] = int(nth or 1)
    return targets, chance, rng


_targets, _chance, _rng = _parse(os.environ.get("SMARTROOM_FAULTS", ""))
_log = os.environ.get("SMARTROOM_FAULTS_LOG") or None
ENABLED = bool(_targets) or _rng is not None


def configure(spec: str, log: str | None = None) -> None:
    """Arm the points as `SMARTROOM_FAULTS=spec` would (a forked child of a pre-imported
    parent cannot re-read its environment at import); resets the hit counts."""
    global _targets, _chance, _rng, _log, ENABLED
    _targets, _chance, _rng = _parse(spec)
    _log = log
    ENABLED = bool(_targets) or _rng is not None
    hits.clear()


def set_hook(hook: Callable[[str], None] | None) -> None:
    """Call `hook(name)` at every point (tests); None removes it."""
    global _hook
    _hook = hook


def point(name: str) -> None:
    if _hook is not None:
        _hook(name)
    if not ENABLED:
        return
    hits[name] += 1
    die = _targets.get(name) == hits[name] or (_rng is not None and _rng.random() < _chance)
    if die:
        if _log is not None:  # one line, appended: the kernel keeps it when we die
            fd = os.open(_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, f"{os.getpid()} {name}\n".encode())
            os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
