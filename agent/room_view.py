"""What the room shows: RoomStatus (MQTT, the board, `GET /status`), the detail for
people (`GET /status/detail`) and the controller's readings (`RoomReadings`: occupancy,
manual holds, DND/MUR, temperatures, energy, device states), read without changing it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agent.decide import describe_plan
from agent.device_commands import command_dict, state_dict
from drivers.base import AvailabilityState
from sync.wire import DeviceStatus, RoomStatus

if TYPE_CHECKING:
    import asyncio
    from datetime import datetime

    from agent.dispatch import Dispatcher, SceneRun
    from agent.room import RoomController
    from agent.room_memory import Memory
    from agent.sensing import Sensing
    from drivers.base import State
    from scenes import energy
    from scenes.model import Command


class RoomReadings:
    """The controller's current readings, as properties (a mixin of RoomController: the
    API, the status and the tests read the room through these)."""

    memory: Memory
    sensing: Sensing
    dispatcher: Dispatcher

    @property
    def occ(self) -> energy.Occupancy:
        return self.memory.occ

    @property
    def manual(self) -> dict[str, Command]:
        return self.memory.manual

    @property
    def dnd(self) -> bool:
        return self.memory.dnd

    @property
    def mur(self) -> bool:
        return self.memory.mur

    @property
    def window_open_since(self) -> dict[str, datetime]:
        return self.memory.window_open_since

    @property
    def indoor_c(self) -> float | None:
        return self.memory.indoor_c

    @property
    def outdoor_c(self) -> float | None:
        return self.memory.outdoor_c

    @property
    def outdoor_mean(self) -> Any:
        return self.memory.outdoor_mean

    @property
    def energy_kwh(self) -> float:
        """The room's cumulative HVAC energy, monotonic across counter resets and restarts."""
        return self.memory.energy.total_kwh

    @property
    def states(self) -> dict[str, State]:
        return self.sensing.states

    @property
    def avail(self) -> dict[str, AvailabilityState]:
        return self.sensing.availability

    @property
    def inflight(self) -> dict[str, asyncio.Task[None]]:
        return self.dispatcher.inflight

    @property
    def last_scene_run(self) -> SceneRun | None:
        return self.dispatcher.last_scene_run


def room_status(room: RoomController, *, online: bool = True) -> RoomStatus:
    m = room.memory
    devices = []
    for name in sorted(room.devices):
        avail = room.sensing.availability.get(name) or AvailabilityState()
        devices.append(
            DeviceStatus(
                device=name,
                capability=room.rules.capabilities[name],
                availability=avail.status,
                reason=avail.reason[:256] if avail.reason else None,
                state=state_dict(room.sensing.states.get(name)),
            )
        )
    return RoomStatus(
        property_id=room.config.room.property_id,
        room_id=room.config.room.room_id,
        at=room.clock.now(),
        rented=room.active_stay() is not None,
        occupied=m.occ.occupied,
        member_present=m.occ.member_present,
        scene=room.choice.name if room.choice else "starting",
        dnd=m.dnd,
        mur=m.mur,
        devices=devices[:64],
        alerts=sorted(
            [*m.alerts.values(), *(a for source in room.alert_sources for a in source())],
            key=lambda a: (a.kind, a.detail),
        )[:32],
        online=online,
        energy_kwh=m.energy.total_kwh if m.energy.counters else None,
    )


def room_detail(room: RoomController) -> dict[str, Any]:
    run = room.last_scene_run
    m = room.memory
    target = room.energy_target
    return {
        "scene": room.choice.name if room.choice else None,
        "why": room.choice.why if room.choice else None,
        "overlays": list(room.choice.overlays) if room.choice else [],
        "plan": describe_plan(room.plan),
        "energy": None
        if target is None
        else {"mode": target.mode.value, "setpoint_c": target.setpoint_c, "reason": target.reason},
        "energy_kwh": m.energy.total_kwh,
        "season": m.season.value if m.season else None,
        "expected_return": room.expected_return.isoformat() if room.expected_return else None,
        "recovery_c_per_hour": {
            "heating": m.recovery.heating_c_per_hour,
            "cooling": m.recovery.cooling_c_per_hour,
        },
        "manual": {name: command_dict(cmd) for name, cmd in m.manual.items()},
        "last_scene": None
        if run is None
        else {"scene": run.scene, "seconds": run.seconds, "devices": run.results},
        "outbox_pending": room.store.outbox_depth(),
        # The stays central lists for this room and the profiles it holds (issue 16).
        "stays": [
            {
                "stay_id": s.stay_id,
                "member_id": s.member_id,
                "status": s.status,
                "departure": s.departure.isoformat(),
                "benefits": sorted(b.action for b in s.benefits),
            }
            for s in room.stays
        ],
        "profiles": room.store.cached_members(),
        # What central's room config can change, as in force now (agent.central_config).
        "limits": room.config.limits.model_dump(),
        "energy_policy": room.config.energy.model_dump(
            include={"away_after_min", "away_setback_c", "deep_after_min", "deep_setback_c"}
        ),
    }


# Device readings that change on their own (telemetry): not a change of the room's status.
TELEMETRY_FIELDS = frozenset(
    {"current_c", "humidity_pct", "energy_kwh", "temperature_c", "illuminance_lux", "battery_pct"}
)


def status_key(status: RoomStatus) -> str:
    """What makes a status new: everything but its time and the devices' telemetry."""
    data = status.model_dump(mode="json", exclude={"at", "energy_kwh"})
    for device in data["devices"]:
        device["state"] = {k: v for k, v in device["state"].items() if k not in TELEMETRY_FIELDS}
    return json.dumps(data, sort_keys=True)
