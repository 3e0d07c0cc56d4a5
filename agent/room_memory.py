"""The room's memory: everything the room must still know after a restart, as ONE typed
object. Loaded once at start, replaced by `decide()` on every step and written once per
step (`AgentStore.commit_step`) together with the outbox events the step produced, so a
`kill -9` at any point leaves the memory and its events consistent.

Timers are memory too: the door closing behind a leaving guest, the motion sensors' last
word and the window left open are here, so a restart neither forgets that the guest left
nor shortens the window interlock's grace.

What belongs to a stay (its first entry, its outings, the guest's held settings) is kept
under `stay` and dropped when the stay ends: nothing here grows with the number of stays.
What the room learns across stays (`history`: arrival delays, returns, outing lengths) is
bounded to the last `scenes.energy_history.HISTORY_KEPT` of each and holds no guest ids.

Telemetry (temperatures, the energy counter) changes every few seconds; `durable_key()`
leaves it out so the controller writes such changes at a steady rate only. The energy
total and the counter it was last advanced from are always written together, so a
restart between two writes neither loses nor double-counts the energy in between.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from agent.device_commands import command_dict, command_from_dict
from agent.preferences import RunningMean
from scenes import energy
from scenes.energy_comfort import ComfortLedger
from scenes.energy_history import RoomHistory
from scenes.model import Command
from scenes.select import Entry
from sync.wire import Alert

MEMORY_VERSION = 1
OUTINGS_KEPT = 20
UNCONFIRMED_KEPT = 3  # a command that timed out may land after the next one went out


@dataclass(frozen=True, slots=True)
class StayMemory:
    """What the room remembers about the checked-in stay (gone with the stay)."""

    stay_id: str
    member_id: str
    checked_in_at: datetime
    first_entry_at: datetime | None = None  # the welcome has played
    guest_left_at: datetime | None = None  # the guest's last departure (staff do not count)
    outings: tuple[tuple[datetime, datetime], ...] = ()  # (left, back), the last 20
    benefits_delivered: tuple[str, ...] = ()  # entitlement ids the room has delivered


@dataclass(frozen=True, slots=True)
class EnergyMeter:
    """The room's cumulative HVAC energy, monotonic whatever the thermostat's counter does.

    A counter that goes backwards was reset (or wrapped): what it shows since is new
    energy. The total and the counter reading it was advanced from are stored together."""

    total_kwh: float = 0.0
    counters: dict[str, float] = field(default_factory=dict)

    def read(self, device: str, counter_kwh: float) -> EnergyMeter:
        last = self.counters.get(device)
        if last == counter_kwh:
            return self
        if last is None:
            added = 0.0  # the first reading ever is where we start counting from
        elif counter_kwh >= last:
            added = counter_kwh - last
        else:
            added = counter_kwh  # reset or wrapped: it counted up again from zero
        return EnergyMeter(
            total_kwh=round(self.total_kwh + added, 6),
            counters={**self.counters, device: counter_kwh},
        )


@dataclass(frozen=True, slots=True)
class Memory:
    occ: energy.Occupancy = field(default_factory=energy.Occupancy)
    vacant_since: datetime | None = None
    entry: Entry | None = None
    dnd: bool = False
    mur: bool = False
    service: bool = False  # housekeeping at work, started from the board
    service_seq: int = 0  # the last board command applied (central's per-room order)
    # The guest's held settings (a knob turned, an app change): automation keeps off them.
    manual: dict[str, Command] = field(default_factory=dict)
    # Commands that failed or timed out, the last few per device: a device that carries
    # one out late is doing what we asked, not what the guest did.
    unconfirmed: dict[str, tuple[Command, ...]] = field(default_factory=dict)
    # When each device last came back (available again): what it reports right after is
    # its power-on state, not the guest's choice.
    returned_at: dict[str, datetime] = field(default_factory=dict)
    stay: StayMemory | None = None
    # What the room has seen of its guests over earlier stays (bounded; no guest ids):
    # arrival delays after the booked time, returns, outings. Predictions learn from it.
    history: RoomHistory = field(default_factory=RoomHistory)
    # The room's occupied comfort, last 7 days (bounded; no guest ids): it moves the
    # quantile the history's predictions are taken at (scenes.energy_comfort).
    comfort: ComfortLedger = field(default_factory=ComfortLedger)
    departed_at: datetime | None = None  # the last check-out of this room
    last_unlock: tuple[str | None, datetime] | None = None
    scene: str | None = None  # the scene the room was in (a restart resumes it, not replays it)
    stranger_entry: bool = False  # the current occupancy began with no credential at the door
    door_open_since: datetime | None = None
    window_open_since: dict[str, datetime] = field(default_factory=dict)
    motion_now: dict[str, bool] = field(default_factory=dict)
    last_motion_at: datetime | None = None
    reception_since: datetime | None = None
    recovery: energy.RecoveryRates = field(default_factory=energy.RecoveryRates)
    recovering_for: datetime | None = None
    season: energy.Season | None = None
    alerts: dict[str, Alert] = field(default_factory=dict)
    setpoint_since: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    # Telemetry (see durable_key).
    indoor_c: float | None = None
    humidity_pct: float | None = None
    outdoor_c: float | None = None
    outdoor_mean: RunningMean = field(default_factory=RunningMean)
    energy: EnergyMeter = field(default_factory=EnergyMeter)

    @classmethod
    def fresh(cls, now: datetime) -> Memory:
        return cls(vacant_since=now)

    def durable_key(self) -> str:
        """The memory without its telemetry: a change here is written at once."""
        data = self.to_json()
        # The comfort ledger advances with every step a guest is in: telemetry too.
        for key in ("indoor_c", "humidity_pct", "outdoor_c", "energy", "setpoint_since", "comfort"):
            data.pop(key, None)
        occ = data.get("occ") or {}
        occ.pop("last_motion_at", None)
        data.pop("last_motion_at", None)
        data["recovery"] = {
            k: v for k, v in (data.get("recovery") or {}).items() if k.endswith("per_hour")
        }
        return json.dumps(data, sort_keys=True)

    # --- JSON -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MEMORY_VERSION,
            "occ": _dc_json(self.occ),
            "vacant_since": _t(self.vacant_since),
            "entry": self.entry,
            "dnd": self.dnd,
            "mur": self.mur,
            "service": self.service,
            "service_seq": self.service_seq,
            "manual": {n: command_dict(c) for n, c in self.manual.items()},
            "unconfirmed": {n: [command_dict(c) for c in cs] for n, cs in self.unconfirmed.items()},
            "returned_at": {k: _t(v) for k, v in self.returned_at.items()},
            "stay": None if self.stay is None else _dc_json(self.stay),
            "history": self.history.to_json(),
            "comfort": self.comfort.to_json(),
            "departed_at": _t(self.departed_at),
            "last_unlock": None
            if self.last_unlock is None
            else [self.last_unlock[0], _t(self.last_unlock[1])],
            "scene": self.scene,
            "stranger_entry": self.stranger_entry,
            "door_open_since": _t(self.door_open_since),
            "window_open_since": {k: _t(v) for k, v in self.window_open_since.items()},
            "motion_now": dict(self.motion_now),
            "last_motion_at": _t(self.last_motion_at),
            "reception_since": _t(self.reception_since),
            "recovery": _dc_json(self.recovery),
            "recovering_for": _t(self.recovering_for),
            "season": None if self.season is None else self.season.value,
            "alerts": {k: a.model_dump(mode="json") for k, a in self.alerts.items()},
            "setpoint_since": {k: [sp, _t(at)] for k, (sp, at) in self.setpoint_since.items()},
            "indoor_c": self.indoor_c,
            "humidity_pct": self.humidity_pct,
            "outdoor_c": self.outdoor_c,
            "outdoor_mean": self.outdoor_mean.to_json(),
            "energy": {"total_kwh": self.energy.total_kwh, "counters": self.energy.counters},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], capabilities: dict[str, str]) -> Memory:
        """What `to_json` wrote. Devices no longer in the room are dropped."""
        if data.get("version") != MEMORY_VERSION:
            raise ValueError(f"room memory version {data.get('version')!r} is not {MEMORY_VERSION}")

        def commands(raw: dict[str, Any]) -> dict[str, Command]:
            return {
                n: command_from_dict(capabilities[n], c)
                for n, c in raw.items()
                if capabilities.get(n) not in (None, "sensor")
            }

        unlock = data.get("last_unlock")
        season = data.get("season")
        meter = data.get("energy") or {}
        return cls(
            occ=_dc_from(energy.Occupancy, data["occ"]),
            vacant_since=_dt(data.get("vacant_since")),
            entry=data.get("entry"),
            dnd=bool(data.get("dnd")),
            mur=bool(data.get("mur")),
            service=bool(data.get("service")),
            service_seq=int(data.get("service_seq") or 0),
            manual=commands(data.get("manual") or {}),
            unconfirmed={
                n: tuple(command_from_dict(capabilities[n], c) for c in cs)
                for n, cs in (data.get("unconfirmed") or {}).items()
                if capabilities.get(n) not in (None, "sensor")
            },
            returned_at={k: _req(v) for k, v in (data.get("returned_at") or {}).items()},
            stay=None if data.get("stay") is None else _stay_from(data["stay"]),
            history=RoomHistory.from_json(data.get("history")),
            comfort=ComfortLedger.from_json(data.get("comfort")),
            departed_at=_dt(data.get("departed_at")),
            last_unlock=None if unlock is None else (unlock[0], _req(unlock[1])),
            scene=data.get("scene"),
            stranger_entry=bool(data.get("stranger_entry")),
            door_open_since=_dt(data.get("door_open_since")),
            window_open_since={
                k: _req(v) for k, v in (data.get("window_open_since") or {}).items()
            },
            motion_now={k: bool(v) for k, v in (data.get("motion_now") or {}).items()},
            last_motion_at=_dt(data.get("last_motion_at")),
            reception_since=_dt(data.get("reception_since")),
            recovery=_dc_from(energy.RecoveryRates, data.get("recovery") or {}),
            recovering_for=_dt(data.get("recovering_for")),
            season=None if season is None else energy.Season(season),
            alerts={k: Alert.model_validate(a) for k, a in (data.get("alerts") or {}).items()},
            setpoint_since={
                k: (float(sp), _req(at))
                for k, (sp, at) in (data.get("setpoint_since") or {}).items()
            },
            # Live readings (indoor, humidity, outdoor now) are relearnt, not restored.
            outdoor_mean=RunningMean.from_json(data.get("outdoor_mean")),
            energy=EnergyMeter(
                total_kwh=float(meter.get("total_kwh", 0.0)),
                counters={k: float(v) for k, v in (meter.get("counters") or {}).items()},
            ),
        )


def with_outing(stay: StayMemory, left: datetime, back: datetime) -> StayMemory:
    return replace(stay, outings=(*stay.outings, (left, back))[-OUTINGS_KEPT:])


# --- helpers ---------------------------------------------------------------------------------

D = TypeVar("D")


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _dc_json(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            # (left, back) pairs of outings; plain strings (ids) as they are
            value = [
                [v.isoformat() for v in item] if isinstance(item, tuple) else item for item in value
            ]
        out[f.name] = value
    return out


def _is_datetime(annotation: Any) -> bool:
    if annotation is datetime:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return datetime in typing.get_args(annotation)
    return False


def _dc_from(cls: type[D], data: dict[str, Any]) -> D:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        if value is not None and _is_datetime(hints[f.name]):
            value = datetime.fromisoformat(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _stay_from(data: dict[str, Any]) -> StayMemory:
    outings = tuple((_req(a), _req(b)) for a, b in data.get("outings") or [])
    return StayMemory(
        stay_id=data["stay_id"],
        member_id=data["member_id"],
        checked_in_at=_req(data["checked_in_at"]),
        first_entry_at=_dt(data.get("first_entry_at")),
        guest_left_at=_dt(data.get("guest_left_at")),
        outings=outings,
        benefits_delivered=tuple(data.get("benefits_delivered") or ()),
    )
