"""Dispatching: one component sends the plan to the drivers, confirms, retries with the
shared backoff, and reports what was really achieved.

    dispatcher = Dispatcher(devices, clock=clock, timeout_s=5, start_grace_s=10,
                            report=room.feed, on_scene_done=room.scene_done)
    dispatcher.dispatch(plan, choice, view)   # never waits on a device
    dispatcher.inflight                       # device -> task

One task per device, so a dead lamp cannot hold up the HVAC. Each command remembers the
scene run it was sent for and is credited to that run only: a scene change while a
command is in flight does not report the old command as the new scene's success, and
every run ends exactly once, with what each device confirmed. Every settled command goes
back to sensing as a `CommandSettled` fact (a failed one may still land later, and
decide() must not mistake that for the guest).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.device_commands import command_dict, explains, state_dict
from agent.facts import CommandSettled, DeviceView, Fact
from drivers.availability import Backoff
from drivers.base import Device
from scenes.apply import DeviceOutcome, apply_one
from scenes.engine import Plan
from scenes.model import Command, DesiredState
from scenes.select import SceneChoice
from smartroom.clock import Clock
from smartroom.log import get_logger

log = get_logger("agent.dispatch")

RETRY_INITIAL_S, RETRY_MAX_S = 10.0, 120.0  # the first retry 5-10 s after a failure


@dataclass(slots=True)
class SceneRun:
    """One scene change being applied: which devices are still pending and what each did.
    `started`/`done_at` are the clock's monotonic readings."""

    scene: str
    why: str
    started: float
    pending: set[str] = field(default_factory=set)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    done_at: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.started


@dataclass(slots=True)
class _Retry:
    backoff: Backoff
    next_at: float = 0.0


@dataclass(slots=True)
class _InFlight:
    task: asyncio.Task[None]
    command: Command
    runs: list[SceneRun]


class Dispatcher:
    def __init__(
        self,
        devices: Mapping[str, Device],
        *,
        clock: Clock,
        timeout_s: float,
        start_grace_s: float,
        report: Callable[[Fact], None],
        on_scene_done: Callable[[SceneRun], None],
    ) -> None:
        self._devices = dict(devices)
        self._clock = clock
        self._timeout_s = timeout_s
        self._grace_s = start_grace_s
        self._started = clock.monotonic()
        self._report = report
        self._on_scene_done = on_scene_done
        self.sent: dict[str, Command] = {}  # what each device was last confirmed to do
        self._flights: dict[str, _InFlight] = {}
        self._retry: dict[str, _Retry] = {}
        self.outcomes: dict[str, DeviceOutcome] = {}
        self.scene_run: SceneRun | None = None
        self.last_scene_run: SceneRun | None = None

    @property
    def inflight(self) -> dict[str, asyncio.Task[None]]:
        return {name: f.task for name, f in self._flights.items()}

    def resume(self, scene: str) -> None:
        """After a restart: the room was already in `scene`. Its commands go out again (the
        devices' state is not known to be right), but it is not a new run of the scene."""
        mono = self._clock.monotonic()
        self.scene_run = SceneRun(scene, "resumed after a restart", mono, done_at=mono)

    def already_there(self, name: str, command: Command) -> None:
        self.sent[name] = command

    def resend(self, name: str) -> None:
        """Forget what the device was sent (it restarted, or a hold was released)."""
        self.sent.pop(name, None)
        self._retry.pop(name, None)

    def dispatch(self, plan: Plan, choice: SceneChoice, view: DeviceView) -> None:
        mono = self._clock.monotonic()
        run = self.scene_run
        new_scene = run is None or run.scene != choice.name
        if new_scene:
            run = self._new_run(choice, mono)
        assert run is not None
        for name, desired in plan.items():
            self._one(name, desired, run, new_scene, view, mono)
        self._maybe_finish(run)

    def _one(
        self,
        name: str,
        desired: DesiredState,
        run: SceneRun,
        new_scene: bool,
        view: DeviceView,
        mono: float,
    ) -> None:
        command = desired.command
        open_ = run.done_at is None
        waiting = open_ and (new_scene or name in run.pending)  # the run wants its result

        def settle(did: str) -> None:
            if waiting:
                run.pending.discard(name)
                run.results[name] = {**_result(desired), "did": did}

        if command is None:
            settle("unchanged")
            return
        flight = self._flights.get(name)
        if flight is not None:
            if waiting:
                if flight.command == command and run not in flight.runs:
                    flight.runs.append(run)  # the same command: its result is ours
                # Otherwise ours goes out once the old one settles (a later step).
                run.pending.add(name)
            return
        if self.sent.get(name) == command:
            settle("already so")
            return
        retry = self._retry.get(name)
        if retry is not None and retry.next_at > mono:
            settle("failing, retry later")
            return
        if not self._ready(name, view, mono):
            # Starting up: it gets its command the moment it reports available, and the
            # run waits for it (bounded by the start grace).
            if waiting:
                run.pending.add(name)
            return
        runs = [run] if open_ else []
        if open_:
            run.pending.add(name)
        task = asyncio.get_running_loop().create_task(
            self._send(desired, runs), name=f"apply-{name}"
        )
        self._flights[name] = _InFlight(task, command, runs)

    def _new_run(self, choice: SceneChoice, mono: float) -> SceneRun:
        old = self.scene_run
        if old is not None and old.done_at is None:
            # Superseded: devices it still waited for without a command of its own in
            # flight end here; the ones in flight finish it when they settle.
            mine = {n for n, f in self._flights.items() if old in f.runs}
            for name in sorted(old.pending - mine):
                old.pending.discard(name)
                old.results.setdefault(name, {"did": "superseded"})
            self._maybe_finish(old)
        run = self.scene_run = SceneRun(choice.name, choice.why, mono)
        log.info("scene", scene=choice.name, why=choice.why)
        return run

    def _ready(self, name: str, view: DeviceView, mono: float) -> bool:
        """A device that has not yet reported itself available is not sent commands during
        the start grace (no failures and retries while the MQTT session comes up); after
        it, every device is tried, and failures back off as usual."""
        avail = view.availability.get(name)
        if avail is not None and avail.available:
            return True
        return mono - self._started >= self._grace_s

    async def _send(self, desired: DesiredState, runs: list[SceneRun]) -> None:
        name = desired.device
        command = desired.command
        assert command is not None
        try:
            device: Any = self._devices.get(name)  # every non-sensor driver takes apply()
            outcome = await apply_one(desired, device, self._timeout_s)
        finally:
            self._flights.pop(name, None)
        self.outcomes[name] = outcome
        if outcome.ok:
            self.sent[name] = command
            self._retry.pop(name, None)
        else:
            retry = self._retry.setdefault(
                name, _Retry(Backoff(initial=RETRY_INITIAL_S, maximum=RETRY_MAX_S))
            )
            delay = retry.backoff.next()
            retry.next_at = self._clock.monotonic() + delay
            log.warning("command_failed", device=name, error=outcome.error, retry_s=round(delay, 1))
        confirmed = outcome.state is not None and explains(command, outcome.state)
        for run in runs:
            if name not in run.pending or run.done_at is not None:
                continue
            run.pending.discard(name)
            run.results[name] = {
                **_result(desired),
                "did": ("ok" if confirmed else "sent, not confirmed") if outcome.ok else "failed",
                "confirmed": state_dict(outcome.state) if outcome.ok else None,
                "error": outcome.error,
                "ms": round(outcome.elapsed_ms, 1),
            }
            self._maybe_finish(run)
        self._report(CommandSettled(name, command, outcome.ok, outcome.state, self._clock.now()))

    def _maybe_finish(self, run: SceneRun) -> None:
        if run.pending or run.done_at is not None:
            return
        run.done_at = self._clock.monotonic()
        if run is self.scene_run or self.last_scene_run is None:
            self.last_scene_run = run
        self._on_scene_done(run)

    async def cancel(self, timeout_s: float) -> None:
        """Stop: cancel what is in flight and wait (bounded) for the tasks to unwind."""
        tasks = [f.task for f in self._flights.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)


def _result(desired: DesiredState) -> dict[str, Any]:
    return {"layer": desired.layer.value, "command": command_dict(desired.command)}
