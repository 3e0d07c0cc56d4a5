"""The hardware-in-the-loop rig: simulators for every device a room file names.

    async with Rig(Path("examples/rooms/room-101.toml"), speed=120) as rig:
        rig.device_configs["hvac"].port      # the pty the driver must open (rewritten)
        rig.mqtt                             # the broker the MQTT devices are on
        rig.simulators["hvac"].turn_knob(24) # poke a device directly
        report = await rig.play(load_scenario(Path("examples/rooms/evening-arrival.toml")))
        Path("rig-room.toml").write_text(rig.room_toml())   # the room file for an agent

What it starts, per `[devices.<name>]` table:

| driver        | simulator                                  | address rewritten            |
|---------------|--------------------------------------------|------------------------------|
| `modbus_hvac` | `firmware_mocks.thermostat` on a pty pair  | `port` -> the pty's far end  |
| `coap_light`  | `firmware_mocks.coap_light.from_config`    | `port` only if `free_ports`  |
| `z2m`         | `firmware_mocks.z2m_devices.from_config`   | (the broker, below)          |
| `mqtt_audio`  | `firmware_mocks.speaker.from_config`       | (the broker, below)          |

Thermostats that name the same `port` share one pty: one RS-485 line with several units.
MQTT devices need a broker: `[mqtt] host = "auto"` (or no `[mqtt]` table) starts a private
one (Mosquitto, else the embedded amqtt broker) and `rig.mqtt` says where; any other host is
used as given. Devices listed in `real` are left pointing at hardware and not simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from drivers.config import (
    CoapLightConfig,
    DeviceConfig,
    ModbusHvacConfig,
    MqttConfig,
)
from drivers.modbus_map import MapError, load_map
from firmware_mocks.base import PowerCycled, Simulator
from firmware_mocks.ptypair import PtyPair
from firmware_mocks.scenario import Event, Scenario
from firmware_mocks.thermostat import ModbusLine, ThermostatSimulator
from smartroom.clock import Clock, SystemClock
from smartroom.log import get_logger
from smartroom.services import ServiceError, start_broker
from smartroom.settings import ConfigError, explain, read_toml

log = get_logger("firmware_mocks.rig")

# driver -> "module:factory" with the signature from_config(name, cfg, mqtt) -> Simulator.
# Looked up by name so the rig runs with whichever simulators this build has.
SIMULATOR_FACTORIES: dict[str, str] = {
    "coap_light": "firmware_mocks.coap_light:from_config",
    "z2m": "firmware_mocks.z2m_devices:from_config",
    "mqtt_audio": "firmware_mocks.speaker:from_config",
}
MQTT_DRIVERS = frozenset({"z2m", "mqtt_audio"})


class RoomInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # the agent has more keys here
    property_id: str
    room_id: str


class RigRoom(BaseModel):
    """The part of the agent's room file the rig reads; other tables are kept untouched."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    room: RoomInfo
    mqtt: MqttConfig | None = None
    devices: dict[str, DeviceConfig]


def load_room(path: Path) -> tuple[RigRoom, dict[str, Any]]:
    data = read_toml(path, what="room file")
    return parse_room(data, source=str(path)), data


def parse_room(data: Mapping[str, Any], *, source: str = "<room>") -> RigRoom:
    try:
        return RigRoom.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, explain(exc)) from None


@dataclass
class Delivery:
    at_s: float
    device: str
    action: str
    value: object
    handled_by: list[str] = field(default_factory=list)


@dataclass
class PlayReport:
    scenario: str
    deliveries: list[Delivery]
    thermostats: dict[str, dict[str, object]]


class Rig:
    def __init__(
        self,
        room: RigRoom | Path | Mapping[str, Any],
        *,
        clock: Clock | None = None,
        speed: float = 60.0,
        real: Iterable[str] = (),
        free_ports: bool = False,
        emulate_line_timing: bool = False,
        only: Iterable[str] = (),
        serial_dir: Path | None = None,
        z2m_bridge: bool | None = None,
    ) -> None:
        if isinstance(room, Path):
            self.room, self._raw = load_room(room)
        elif isinstance(room, RigRoom):
            self.room, self._raw = room, room.model_dump(mode="json", exclude_none=True)
        else:
            self.room, self._raw = parse_room(room), dict(room)
        self.only = frozenset(only)
        unknown_only = self.only - set(self.room.devices)
        if unknown_only:
            raise ConfigError(
                "rig",
                [
                    f"--only names unknown device(s): {sorted(unknown_only)} "
                    f"(have: {', '.join(sorted(self.room.devices))})"
                ],
            )
        # --only D: simulate D and nothing else; the others are someone else's (another
        # rig's, or real hardware) and keep the addresses the room file gives them.
        others = set(self.room.devices) - self.only if self.only else set()
        self.real = frozenset(real) | others
        self._hardware = frozenset(real)
        unknown = frozenset(real) - set(self.room.devices)
        if unknown:
            raise ConfigError("rig", [f"--real names unknown device(s): {sorted(unknown)}"])
        # Where the thermostats' serial links go: a stable name per room-file port that
        # survives restarts of the rig (as a udev rule's /dev/serial/by-id name does).
        self.serial_dir = serial_dir
        # A Zigbee2MQTT bridge (bridge/state with its will, bridge/info, bridge/devices) per
        # base topic. Default: only on a broker this rig starts itself ([mqtt] host "auto"):
        # on a shared broker several rigs' bridges would overwrite each other's device list
        # and one stopping would say "offline" for all; there each device says "online".
        self.z2m_bridge = z2m_bridge
        self.clock = clock or SystemClock()
        self.speed = speed
        self.free_ports = free_ports
        self.emulate_line_timing = emulate_line_timing
        self.simulators: dict[str, Simulator] = {}
        self.device_configs: dict[str, DeviceConfig] = dict(self.room.devices)
        self.mqtt: MqttConfig | None = self.room.mqtt
        self.lines: dict[str, ModbusLine] = {}  # by the room file's port name
        self._driver_ports: dict[str, str] = {}  # room file's port -> the driver's pty end
        self._ptys: list[PtyPair] = []
        self._links: list[Path] = []
        self._broker: Any = None
        self._started: list[Simulator] = []
        self.bridges: list[Simulator] = []  # Zigbee2MQTT bridges (not room devices)

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Rig:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._build()
            for bridge in self.bridges:
                await bridge.start()
                self._started.append(bridge)
                log.info("simulator_started", device=bridge.name, where=bridge.describe())
            for name, sim in self.simulators.items():
                await sim.start()
                self._started.append(sim)
                log.info("simulator_started", device=name, where=sim.describe())
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        started, self._started = self._started, []
        bridges = [s for s in started if s in self.bridges]
        devices = [s for s in started if s not in self.bridges]
        results = await asyncio.gather(*(s.stop() for s in devices), return_exceptions=True)
        results += await asyncio.gather(*(s.stop() for s in bridges), return_exceptions=True)
        started = devices + bridges
        for sim, result in zip(started, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("simulator_stop_failed", device=sim.name, error=str(result))
        for pty in self._ptys:
            pty.close()
        self._ptys.clear()
        for link in self._links:
            with contextlib.suppress(FileNotFoundError):
                if link.is_symlink():
                    link.unlink()
        self._links.clear()
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await asyncio.to_thread(broker.close)

    async def _build(self) -> None:
        simulated = {n: c for n, c in self.room.devices.items() if n not in self.real}
        if any(c.driver in MQTT_DRIVERS for c in simulated.values()):
            await self._ensure_broker()
        for name, cfg in simulated.items():
            if isinstance(cfg, ModbusHvacConfig):
                self._add_thermostat(name, cfg)
            else:
                if isinstance(cfg, CoapLightConfig) and self.free_ports:
                    from firmware_mocks.coap_light import free_udp_port

                    cfg = cfg.model_copy(update={"port": free_udp_port(cfg.host)})
                    self.device_configs[name] = cfg
                try:
                    factory = _factory(cfg.driver)
                except ConfigError as exc:
                    fix = "add its simulator, or list it with --real / real="
                    raise ConfigError(f"devices.{name}", [*exc.problems, fix]) from None
                self.simulators[name] = factory(name, cfg, self.mqtt or MqttConfig())
        self._add_bridges()

    def _add_bridges(self) -> None:
        """One Zigbee2MQTT bridge per base topic, listing the simulated devices; none where
        a real bridge speaks (a `--real` device on that topic), with `--only` (the rig
        running the rest of the room has the bridge) or when not wanted (`z2m_bridge`)."""
        from firmware_mocks.z2m_bridge import Z2mBridgeSim
        from firmware_mocks.z2m_devices import Z2mDeviceSim

        by_topic: dict[str, list[Z2mDeviceSim]] = {}
        for sim in self.simulators.values():
            if isinstance(sim, Z2mDeviceSim):
                by_topic.setdefault(sim.base_topic, []).append(sim)
        real_topics = {
            cfg.base_topic
            for name, cfg in self.room.devices.items()
            if name in self._hardware and cfg.driver == "z2m"
        }
        wanted = self.z2m_bridge if self.z2m_bridge is not None else self._broker is not None
        for topic, devices in by_topic.items():
            if not wanted:
                continue
            if self.only or topic in real_topics:
                for device in devices:
                    device.publish_bridge = False
                continue
            bridge = Z2mBridgeSim(self.mqtt or MqttConfig(), devices=devices, base_topic=topic)
            self.bridges.append(bridge)

    async def _ensure_broker(self) -> None:
        if self.mqtt is not None and self.mqtt.host != "auto":
            return
        try:
            self._broker = await asyncio.to_thread(start_broker)
        except ServiceError as exc:
            raise ConfigError("mqtt", [f"cannot start a broker for the rig: {exc}"]) from None
        base = self.mqtt or MqttConfig()
        self.mqtt = base.model_copy(update={"host": self._broker.host, "port": self._broker.port})

    def _add_thermostat(self, name: str, cfg: ModbusHvacConfig) -> None:
        try:
            framing = load_map(cfg.register_map).framing(cfg.baudrate, cfg.parity, cfg.stopbits)
        except MapError as exc:
            raise ConfigError(f"devices.{name}", [str(exc)]) from None
        line = self.lines.get(cfg.port)
        if line is None:
            pty = PtyPair()
            self._ptys.append(pty)
            line = ModbusLine(
                pty.a,
                baudrate=framing.baudrate,
                parity=framing.parity,
                stopbits=framing.stopbits,
                speed=self.speed,
                clock=self.clock,
                emulate_line_timing=self.emulate_line_timing,
            )
            self.lines[cfg.port] = line
            self._driver_ports[cfg.port] = self._serial_link(cfg.port, pty.b)
        elif line.framing != framing:
            raise ConfigError(
                f"devices.{name}",
                [
                    f"port {cfg.port} is shared with another thermostat at "
                    f"{line.framing.describe()}; this one is {framing.describe()}"
                ],
            )
        sim = ThermostatSimulator(name, line, unit=cfg.unit, register_map=cfg.register_map)
        self.simulators[name] = sim
        self.device_configs[name] = cfg.model_copy(update={"port": self._driver_ports[cfg.port]})

    def _serial_link(self, room_port: str, pty_end: str) -> str:
        """The path the driver opens: `serial_dir/<port name>` pointing at the pty (replaced
        atomically, so a driver that reopens after a rig restart finds the new one)."""
        if self.serial_dir is None:
            return pty_end
        self.serial_dir.mkdir(parents=True, exist_ok=True)
        link = self.serial_dir / Path(room_port).name
        staging = link.with_name(f".{link.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        staging.symlink_to(pty_end)
        os.replace(staging, link)
        self._links.append(link)
        return str(link)

    # --- power -----------------------------------------------------------------------------

    def simulator(self, device: str) -> Simulator:
        sim = self.simulators.get(device)
        if sim is None:
            why = "not simulated by this rig" if device in self.room.devices else "not in the room"
            raise KeyError(f"device {device!r} is {why} (simulated: {sorted(self.simulators)})")
        return sim

    async def power_off(self, device: str) -> None:
        """Cut `device`'s supply: it vanishes from its bus (see firmware_mocks.base)."""
        await cast(PowerCycled, self.simulator(device)).power_off()
        log.info("simulator_powered_off", device=device)

    async def power_on(self, device: str) -> None:
        """Restore `device`'s supply: it comes back with its power-on defaults."""
        await cast(PowerCycled, self.simulator(device)).power_on()
        log.info("simulator_powered_on", device=device)

    async def power_cycle(self, device: str, *, down_s: float = 0.5) -> None:
        """Off for `down_s` real seconds, then on with the device's power-on defaults (the
        thermostat's power-on setpoint/mode, a lamp's power-on behaviour, meters at zero).
        The device's driver sees an outage, then a device that has forgotten what it was
        told: what an agent must re-apply."""
        await self.power_off(device)
        await asyncio.sleep(down_s)
        await self.power_on(device)

    # --- people ------------------------------------------------------------------------

    def describe(self) -> list[str]:
        lines = []
        for name, cfg in self.device_configs.items():
            if name in self.real:
                lines.append(f"{name}: {cfg.driver} -> real hardware ({_address(cfg)})")
            else:
                where = self.simulators[name].describe()
                lines.append(
                    f"{name}: {cfg.driver} simulated, {where}; driver uses {_address(cfg)}"
                )
        lines.extend(f"{bridge.name}: {bridge.describe()}" for bridge in self.bridges)
        if self.mqtt is not None:
            origin = "started by the rig" if self._broker is not None else "from the room file"
            lines.append(f"mqtt broker: {self.mqtt.host}:{self.mqtt.port} ({origin})")
        return lines

    def room_toml(self) -> str:
        """The room file with every address pointing at the simulators (for an agent)."""
        data = dict(self._raw)
        data["devices"] = {
            name: cfg.model_dump(mode="json", exclude_none=True)
            for name, cfg in self.device_configs.items()
        }
        if self.mqtt is not None:
            data["mqtt"] = self.mqtt.model_dump(mode="json", exclude_none=True)
        return dump_toml(data)

    # --- scenarios ---------------------------------------------------------------------

    def check(self, scenario: Scenario) -> None:
        problems = [
            f"events[{i}]: device {event.device!r} is not in the room "
            f"(have: {', '.join(sorted(self.room.devices))}, or 'room')"
            for i, event in enumerate(scenario.events)
            if event.device != "room" and event.device not in self.room.devices
        ]
        if problems:
            raise ConfigError(scenario.scenario.name, problems)

    async def play(
        self, scenario: Scenario, *, echo: Callable[[str], None] | None = None
    ) -> PlayReport:
        """Play the timeline; returns what each event reached and the thermostats' final
        readings. Real time waited = simulated time / scenario speed."""
        self.check(scenario)
        speed = scenario.scenario.speed
        saved = {line: line.speed for line in self.lines.values()}
        for line in self.lines.values():
            line.speed = speed
        loop = asyncio.get_running_loop()
        start = loop.time()
        deliveries: list[Delivery] = []
        try:
            for event in scenario.events:
                await _sleep_until(loop, start + event.at / speed)
                delivery = await self._deliver(event)
                deliveries.append(delivery)
                if echo is not None:
                    echo(_describe_delivery(delivery))
            await _sleep_until(loop, start + scenario.end_s / speed)
        finally:
            for line, old in saved.items():
                line.speed = old
        return PlayReport(scenario.scenario.name, deliveries, self.thermostat_readings())

    def thermostat_readings(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for name, sim in self.simulators.items():
            if isinstance(sim, ThermostatSimulator):
                out[name] = {
                    "temperature_c": round(sim.room.temperature_c, 2),
                    "setpoint_c": sim.controls.setpoint_c,
                    "mode": sim.controls.mode.value,
                    "action": sim.room.action.value,
                    "energy_kwh": round(sim.room.energy_kwh, 3),
                    "outdoor_c": round(sim.conditions.outdoor_c, 1),
                }
        return out

    async def _deliver(self, event: Event) -> Delivery:
        delivery = Delivery(event.at, event.device, event.action, event.value)
        if event.action == "note":
            return delivery
        targets = (
            list(self.simulators.items())
            if event.device == "room"
            else [(event.device, self.simulators[event.device])]
            if event.device in self.simulators
            else []
        )
        for name, sim in targets:
            if await deliver(sim, event):
                delivery.handled_by.append(name)
        if not delivery.handled_by:
            why = "real hardware" if event.device in self.real else "no simulator models it"
            log.warning(
                "scenario_event_unhandled", device=event.device, action=event.action, reason=why
            )
        return delivery


async def deliver(sim: Simulator, event: Event) -> bool:
    """Hand one event to one simulator; False when it does not model that action."""
    if event.action == "fault":
        sim.inject(event.fault, delay_s=event.delay_s)
        return True
    if event.action == "restart":
        await sim.restart()  # a power cycle with the simulator's default off time
        return True
    apply_event = getattr(sim, "apply_event", None)
    if apply_event is not None:
        return bool(await apply_event(event.action, event.value))
    return await _adapt(sim, event.action, event.value)


async def _adapt(sim: object, action: str, value: object) -> bool:
    """Map scenario actions onto the other simulators' own methods (duck-typed, so this
    module does not depend on their classes)."""
    kind = getattr(sim, "kind", None)
    on = _truthy(value)
    if action == "motion" and hasattr(sim, "walk_in") and kind == "multi":
        await (sim.walk_in() if on else sim.leave())  # type: ignore[attr-defined]
        return True
    if action in ("door", "window") and kind == action:
        await (sim.open() if on else sim.close())  # type: ignore[attr-defined]
        return True
    if action == "lock" and kind == "lock":
        locked = str(value).lower() in ("locked", "lock", "true", "1")
        await (sim.lock() if locked else sim.unlock())  # type: ignore[attr-defined]
        return True
    if action == "button" and kind == "button":
        button = {"normal": "clear"}.get(str(value), str(value))
        await sim.press(button)  # type: ignore[attr-defined]
        return True
    if action == "light" and hasattr(sim, "switch"):
        switch = sim.switch
        level = value if isinstance(value, int) and not isinstance(value, bool) else None
        params = list(inspect.signature(switch).parameters)
        if level is not None and len(params) > 1 and params[1] == "brightness":
            level = round(level * 254 / 100)  # Zigbee2MQTT brightness is 0-254
        await switch(on if level is None else level > 0, level)
        return True
    if action == "volume" and hasattr(sim, "turn_knob"):
        await sim.turn_knob(int(cast(int, value)))
        return True
    return False


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() in ("open", "opened", "on", "true", "yes", "1", "present")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value > 0
    return bool(value)


def _factory(driver: str) -> Callable[[str, Any, MqttConfig], Simulator]:
    target = SIMULATOR_FACTORIES.get(driver)
    if target is None:
        raise ConfigError("rig", [f"no simulator for driver {driver!r}"])
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "rig", [f"no simulator for driver {driver!r} in this build ({exc.name} missing)"]
        ) from None
    return cast(Callable[[str, Any, MqttConfig], Simulator], getattr(module, attr))


def _address(cfg: DeviceConfig) -> str:
    if isinstance(cfg, ModbusHvacConfig):
        return f"{cfg.port} unit {cfg.unit} at {cfg.baudrate} baud"
    if isinstance(cfg, CoapLightConfig):
        return f"coap://{cfg.host}:{cfg.port}/3311/{cfg.instance}"
    if cfg.driver == "z2m":
        return f"mqtt {cfg.base_topic}/{cfg.friendly_name}"
    return f"mqtt smartroom/audio/{cfg.speaker_id}"


def _describe_delivery(d: Delivery) -> str:
    clock = f"{int(d.at_s // 3600):02d}:{int(d.at_s % 3600 // 60):02d}:{d.at_s % 60:04.1f}"
    value = "" if d.value is None else f" = {d.value}"
    reached = ", ".join(d.handled_by) if d.handled_by else "nobody"
    if d.action == "note":
        return f"[{clock}] note: {d.value}"
    return f"[{clock}] {d.device}.{d.action}{value} -> {reached}"


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    delay = when - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


# --- a small TOML writer (tomllib reads only) ----------------------------------------------


def dump_toml(data: Mapping[str, Any]) -> str:
    """Tables of scalars, arrays and sub-tables, as the room file uses; round-trips through
    tomllib."""
    out: list[str] = []
    _dump_table(data, [], out)
    return "\n".join(out).strip() + "\n"


def _dump_table(table: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping) and not _is_aot(v)}
    if path and (scalars or not table):
        out.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars.items():
        out.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, Mapping):
            _dump_table(value, [*path, key], out)
        elif _is_aot(value):
            for item in value:
                out.append(f"\n[[{'.'.join(_key(p) for p in [*path, key])}]]")
                for k, v in item.items():
                    out.append(f"{_key(k)} = {_value(v)}")


def _is_aot(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _key(key: str) -> str:
    return key if key and set(key) <= _BARE else _string(key)


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("TOML strings cannot hold lone surrogates")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


__all__ = [
    "SIMULATOR_FACTORIES",
    "Delivery",
    "PlayReport",
    "Rig",
    "RigRoom",
    "deliver",
    "dump_toml",
    "load_room",
    "parse_room",
]
