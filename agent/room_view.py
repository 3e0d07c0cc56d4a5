"""What the room shows: RoomStatus (MQTT, the board, `GET /status`) and the detail for
people (`GET /status/detail`), read from the controller without changing it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agent.decide import describe_plan
from agent.device_commands import command_dict, state_dict
from drivers.base import AvailabilityState
from sync.wire import DeviceStatus, RoomStatus

if TYPE_CHECKING:
    from agent.room import RoomController


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
            [*m.alerts.values(), *room.store.clock_alerts()], key=lambda a: (a.kind, a.detail)
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
