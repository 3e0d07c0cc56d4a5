"""One owner for every long-lived task: start in order, restart a crashed task with backoff
(and report it), stop in reverse order.

    sup = Supervisor(on_restart=lambda name, exc, delay: metrics.task_restarts.labels(name).inc())
    sup.add("controller", room.run)
    sup.add("status", publisher.run)
    sup.start()
    ...
    await sup.stop()            # status first, controller last: reverse order of add()

A task function that raises is restarted after `Backoff` (0.5 s, 1 s, 2 s ... capped); the
backoff resets once the task has run for `healthy_after_s`. A task that returns normally is
done (not restarted). A crash never propagates: the agent stays up and says which task
failed, how often, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from drivers.availability import Backoff
from smartroom.log import get_logger

log = get_logger("agent.supervisor")

TaskFn = Callable[[], Awaitable[None]]
RestartHook = Callable[[str, BaseException, float], None]


@dataclass(slots=True)
class TaskInfo:
    name: str
    fn: TaskFn
    restart: bool
    backoff: Backoff
    restarts: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = None
    stop_timeout_s: float = 5.0
    running_since: float | None = None
    done: bool = False
    history: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        *,
        on_restart: RestartHook | None = None,
        healthy_after_s: float = 30.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self._tasks: dict[str, TaskInfo] = {}
        self._on_restart = on_restart
        self._healthy_after_s = healthy_after_s
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._stopping = False

    def add(
        self, name: str, fn: TaskFn, *, restart: bool = True, stop_timeout_s: float = 1.5
    ) -> None:
        """`stop_timeout_s` bounds the wait for the cancelled task at stop: the tasks stop
        one after the other, and the whole stop must fit in the unit's TimeoutStopSec."""
        if name in self._tasks:
            raise ValueError(f"task {name!r} is already supervised")
        self._tasks[name] = TaskInfo(
            name,
            fn,
            restart,
            Backoff(initial=self._backoff[0], maximum=self._backoff[1]),
            stop_timeout_s=stop_timeout_s,
        )

    def start(self) -> None:
        for info in self._tasks.values():
            if info.task is None:
                info.task = asyncio.get_running_loop().create_task(
                    self._keep(info), name=f"supervised-{info.name}"
                )

    def info(self) -> dict[str, dict[str, object]]:
        return {
            name: {
                "running": info.task is not None and not info.task.done() and not info.done,
                "restarts": info.restarts,
                "last_error": info.last_error,
                "recent_backoff_s": [round(d, 3) for d in info.history[-5:]],
            }
            for name, info in self._tasks.items()
        }

    async def _keep(self, info: TaskInfo) -> None:
        while True:
            info.running_since = time.monotonic()
            try:
                await info.fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the whole point: a crash must not take the agent down
                ran = time.monotonic() - info.running_since
                if ran >= self._healthy_after_s:
                    info.backoff.reset()
                delay = info.backoff.next()
                info.restarts += 1
                info.history.append(delay)
                del info.history[:-20]
                info.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.error(
                    "task_crashed",
                    task=info.name,
                    error=info.last_error,
                    restart_in_s=round(delay, 2),
                    restarts=info.restarts,
                    exc_info=exc,
                )
                if self._on_restart is not None:
                    with contextlib.suppress(Exception):
                        self._on_restart(info.name, exc, delay)
                if not info.restart:
                    info.done = True
                    return
                await asyncio.sleep(delay)
                continue
            info.done = True
            log.info("task_finished", task=info.name)
            return

    async def stop(self) -> None:
        """Cancel tasks in reverse order of `add`, waiting for each before the next."""
        self._stopping = True
        for info in reversed(list(self._tasks.values())):
            task = info.task
            if task is None or task.done():
                continue
            task.cancel()
            try:
                async with asyncio.timeout(info.stop_timeout_s):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            except TimeoutError:
                log.error("task_stop_timeout", task=info.name)
            log.info("task_stopped", task=info.name)
