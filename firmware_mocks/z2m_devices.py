"""Devices that behave like Zigbee2MQTT's on a real broker: lights, a curtain, a
multi-sensor, door and window contacts, a door lock and the in-room DND/MUR button.

Each publishes a retained `{"state":"online"}` on `zigbee2mqtt/<name>/availability` (its
last will is `offline`), its state on `zigbee2mqtt/<name>`, answers `/set` (a JSON object, a
plain `ON`/`OFF`/`TOGGLE`, or `/set/<attribute>` with a plain value, as Zigbee2MQTT takes)
and `/get` (mains devices only: battery sensors sleep and do not answer), describes itself
as Zigbee2MQTT's `bridge/devices` does (`definition()`, for `firmware_mocks.z2m_bridge`),
and offers methods the rig and tests call to play a guest:

    lamp = Z2mLightSim("bedside", MqttConfig(port=port))
    door = Z2mSensorSim("room101_door", MqttConfig(port=port), kind="door")
    await lamp.start(); await door.start()
    await door.open(); await lamp.switch(on=False)      # the guest at the wall switch
    lamp.inject(Fault.SILENT)                            # it stops answering

`from_config(name, Z2mConfig, MqttConfig)` picks the simulator for a room-file device.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from typing import Any, Literal

from drivers.config import MqttConfig, Z2mConfig
from firmware_mocks.mqtt_device import MqttDeviceSim

SensorKind = Literal["multi", "door", "window", "lock", "button"]


def sensor_kind(friendly_name: str) -> SensorKind:
    """The simulated sensor a friendly name implies (the same naming rule the driver
    documents for contacts): `..._lock`, `..._button`/`..._dnd`, `..._window`, `..._door`,
    anything else is a multi-sensor."""
    lowered = friendly_name.lower()
    if "lock" in lowered:
        return "lock"
    if "button" in lowered or "dnd" in lowered or "mur" in lowered:
        return "button"
    if "window" in lowered:
        return "window"
    if "door" in lowered:
        return "door"
    return "multi"


class Z2mDeviceSim(MqttDeviceSim):
    def __init__(
        self,
        friendly_name: str,
        mqtt: MqttConfig,
        *,
        base_topic: str = "zigbee2mqtt",
        publish_bridge: bool = True,
    ) -> None:
        self.topic = f"{base_topic}/{friendly_name}"
        self.base_topic = base_topic
        self.bridge_topic = f"{base_topic}/bridge/state"
        # Without a `Z2mBridgeSim` each device plays the bridge's `online` itself (tests of
        # one device); the rig runs a bridge and turns this off.
        self.publish_bridge = publish_bridge
        super().__init__(
            friendly_name,
            mqtt,
            availability_topic=f"{self.topic}/availability",
            online=b'{"state":"online"}',
            offline=b'{"state":"offline"}',
            subscriptions=(f"{self.topic}/set", f"{self.topic}/set/+", f"{self.topic}/get"),
        )
        self.linkquality = 120
        digest = hashlib.sha256(friendly_name.encode()).hexdigest()
        self.ieee_address = f"0x{digest[:16]}"  # stable per name, like a real radio's

    # What Zigbee2MQTT's `bridge/devices` says about this device (subclasses fill in).
    model = "generic"
    vendor = "Smartroom"
    description = "simulated Zigbee device"
    sleepy = False  # a battery end device: asleep most of the time, never answers /get
    # A sleepy device that polls its parent every this many seconds answers a /get then;
    # None: one that never polls (many contact and motion sensors), so /get goes unanswered.
    wake_interval_s: float | None = None
    _wake: asyncio.Task[None] | None = None

    async def _answer_on_wake(self) -> None:
        try:
            await asyncio.sleep(self.wake_interval_s or 0)
            await self.report()
        finally:
            self._wake = None

    def exposes(self) -> list[dict[str, Any]]:
        return []

    def definition(self) -> dict[str, Any]:
        """This device's entry in `bridge/devices`, in Zigbee2MQTT's format."""
        exposes = [*self.exposes(), _numeric("linkquality", 0, 255, unit="lqi")]
        return {
            "ieee_address": self.ieee_address,
            "friendly_name": self.name,
            "type": "EndDevice" if self.sleepy else "Router",
            "network_address": int(self.ieee_address[-4:], 16),
            "power_source": "Battery" if self.sleepy else "Mains (single phase)",
            "supported": True,
            "disabled": False,
            "interview_completed": True,
            "interviewing": False,
            "definition": {
                "model": self.model,
                "vendor": self.vendor,
                "description": self.description,
                "exposes": exposes,
                "options": [],
                "supports_ota": False,
            },
        }

    def describe(self) -> str:
        return f"zigbee2mqtt device {self.topic} on mqtt://{self.mqtt.host}:{self.mqtt.port}"

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError

    async def on_connect(self) -> None:
        if self.publish_bridge:
            await self.publish_raw(self.bridge_topic, b'{"state":"online"}', retain=True)
        await self.report()

    # Zigbee2MQTT's per-device `retain: true` option; sensors use it so that an agent that
    # (re)starts learns whether the door is open without waiting for the next change.
    retain_state = False

    async def report(self, **extra: Any) -> None:
        body = {**self.snapshot(), "linkquality": self.linkquality, **extra}
        await self.publish(self.topic, json.dumps(body).encode(), retain=self.retain_state)

    async def set_bridge_online(self, online: bool) -> None:
        """Play the Zigbee2MQTT bridge going down (or coming back)."""
        state = b'{"state":"online"}' if online else b'{"state":"offline"}'
        await self.publish_raw(self.bridge_topic, state, retain=True)

    async def set_availability(self, online: bool) -> None:
        """Play Zigbee2MQTT declaring the device offline (e.g. 10 min of mains silence)."""
        await self.publish_raw(
            self.availability_topic,
            b'{"state":"online"}' if online else b'{"state":"offline"}',
            retain=True,
        )

    async def on_message(self, topic: str, payload: bytes) -> None:
        if topic == f"{self.topic}/get":
            if not self.sleepy:
                await self.report()
            elif self.wake_interval_s is not None and self._wake is None:
                # A sleeping end device hears the request when it next polls its parent.
                self._wake = asyncio.create_task(self._answer_on_wake())
            return
        body = set_body(topic.removeprefix(f"{self.topic}/set"), payload)
        if body is not None:
            await self.on_set(body)

    async def on_set(self, body: dict[str, Any]) -> None:
        await self.report()


def set_body(attribute_path: str, payload: bytes) -> dict[str, Any] | None:
    """What Zigbee2MQTT makes of a message on `/set` (`attribute_path` "") or on
    `/set/<attribute>` ("/<attribute>"): a JSON object; a plain `ON`/`OFF`/`TOGGLE` on
    `/set`; a plain value (number, JSON or bare text) on `/set/<attribute>`. None for what
    it refuses (it logs an error and changes nothing)."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if attribute_path:
        attribute = attribute_path.lstrip("/")
        if not attribute or "/" in attribute:
            return None
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        return {attribute: value}
    if text.upper() in ("ON", "OFF", "TOGGLE"):
        return {"state": text.upper()}
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _feature(kind: str, name: str, access: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "property": name, "access": access, **fields}


def _binary(name: str, on: Any, off: Any, access: int = 1, **extra: Any) -> dict[str, Any]:
    return _feature("binary", name, access, value_on=on, value_off=off, **extra)


def _numeric(name: str, low: float, high: float, access: int = 1, **extra: Any) -> dict[str, Any]:
    return _feature("numeric", name, access, value_min=low, value_max=high, **extra)


def _enum(name: str, values: list[str], access: int = 1) -> dict[str, Any]:
    return _feature("enum", name, access, values=values)


# Zigbee2MQTT's `access` bits: 1 published in state, 2 settable (/set), 4 gettable (/get).
STATE, SET, GET = 1, 2, 4


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class Z2mLightSim(Z2mDeviceSim):
    def __init__(
        self,
        friendly_name: str,
        mqtt: MqttConfig,
        *,
        base_topic: str = "zigbee2mqtt",
        mireds_range: tuple[int, int] = (153, 454),
        publish_bridge: bool = True,
        power_on_behavior: Literal["on", "off", "previous"] = "on",
    ) -> None:
        super().__init__(friendly_name, mqtt, base_topic=base_topic, publish_bridge=publish_bridge)
        self.power_on_behavior = power_on_behavior
        self.on = False
        self.brightness = 254
        self.color_temp = 370
        self.mireds_range = mireds_range

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": "ON" if self.on else "OFF",
            "brightness": self.brightness,
            "color_temp": self.color_temp,
            "color_mode": "color_temp",
        }

    async def on_set(self, body: dict[str, Any]) -> None:
        state = body.get("state")
        if state in ("ON", "OFF"):
            self.on = state == "ON"
        elif state == "TOGGLE":
            self.on = not self.on
        brightness = _number(body.get("brightness"))
        if brightness is not None and 0 <= brightness <= 254:
            self.brightness = max(1, round(brightness))
            self.on = brightness > 0
        color_temp = _number(body.get("color_temp"))
        if color_temp is not None:
            lo, hi = self.mireds_range
            self.color_temp = min(hi, max(lo, round(color_temp)))
        await self.report()

    model = "SR-LIGHT-WS"
    description = "white-spectrum bulb (simulated)"

    def exposes(self) -> list[dict[str, Any]]:
        lo, hi = self.mireds_range
        return [
            {
                "type": "light",
                "features": [
                    _binary("state", "ON", "OFF", STATE | SET | GET, value_toggle="TOGGLE"),
                    _numeric("brightness", 0, 254, STATE | SET | GET),
                    _numeric("color_temp", lo, hi, STATE | SET | GET, unit="mired"),
                ],
            }
        ]

    def power_on_defaults(self) -> None:
        """Zigbee2MQTT's `power_on_behavior`: most bulbs ship with "on" (full brightness)."""
        if self.power_on_behavior == "on":
            self.on, self.brightness = True, 254
        elif self.power_on_behavior == "off":
            self.on = False

    async def switch(self, on: bool, brightness: int | None = None) -> None:
        """The guest at the wall switch (a change our driver did not ask for)."""
        self.on = on
        if brightness is not None:
            self.brightness = brightness
        await self.report()


class Z2mCoverSim(Z2mDeviceSim):
    """A curtain motor that travels at `speed_pct_s` and reports progress every `step_s`."""

    def __init__(
        self,
        friendly_name: str,
        mqtt: MqttConfig,
        *,
        base_topic: str = "zigbee2mqtt",
        speed_pct_s: float = 100.0,
        step_s: float = 0.1,
        publish_bridge: bool = True,
    ) -> None:
        super().__init__(friendly_name, mqtt, base_topic=base_topic, publish_bridge=publish_bridge)
        self.position = 0.0
        self.moving: Literal["UP", "DOWN", "STOP"] = "STOP"
        self.speed_pct_s, self.step_s = speed_pct_s, step_s
        self.stuck_at: int | None = None  # a curtain caught on something stops here
        self._travel: asyncio.Task[None] | None = None

    model = "SR-CURTAIN"
    description = "curtain motor (simulated)"

    def exposes(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "cover",
                "features": [
                    _enum("state", ["OPEN", "CLOSE", "STOP"], SET),
                    _numeric("position", 0, 100, STATE | SET | GET, unit="%"),
                ],
            },
            _enum("moving", ["UP", "DOWN", "STOP"]),
        ]

    def snapshot(self) -> dict[str, Any]:
        return {
            "position": round(self.position),
            "state": "CLOSE" if round(self.position) == 0 else "OPEN",
            "moving": self.moving,
        }

    async def on_set(self, body: dict[str, Any]) -> None:
        target = _number(body.get("position"))
        state = body.get("state")
        if state == "OPEN":
            target = 100
        elif state == "CLOSE":
            target = 0
        elif state == "STOP":
            await self._halt()
            await self.report()
            return
        if target is None or not 0 <= target <= 100:
            await self.report()
            return
        await self._halt()
        self._travel = asyncio.create_task(self._move(round(target)))

    async def _halt(self) -> None:
        travel, self._travel = self._travel, None
        if travel is not None and travel is not asyncio.current_task():
            travel.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await travel
        self.moving = "STOP"

    async def _move(self, target: int) -> None:
        self.moving = "UP" if target > self.position else "DOWN"
        step = self.speed_pct_s * self.step_s
        while round(self.position) != target:
            await asyncio.sleep(self.step_s)
            if self.stuck_at is not None and round(self.position) == self.stuck_at:
                break
            delta = target - self.position
            self.position = (
                target if abs(delta) <= step else self.position + math.copysign(step, delta)
            )
            if round(self.position) != target:
                await self.report()
        self.moving = "STOP"
        await self.report()

    async def stop(self) -> None:
        await self._halt()
        await super().stop()


class Z2mSensorSim(Z2mDeviceSim):
    """Multi-sensor (occupancy, temperature, humidity), door or window contact, lock,
    DND/MUR button: one class, `kind` decides which fields it reports. State is retained,
    so the last `action` is too: drivers must not replay it as a new event."""

    retain_state = True
    sleepy = True
    description = "battery sensor (simulated)"

    def __init__(
        self,
        friendly_name: str,
        mqtt: MqttConfig,
        *,
        kind: SensorKind = "multi",
        base_topic: str = "zigbee2mqtt",
        publish_bridge: bool = True,
        wake_interval_s: float | None = None,
    ) -> None:
        super().__init__(friendly_name, mqtt, base_topic=base_topic, publish_bridge=publish_bridge)
        self.wake_interval_s = wake_interval_s
        self.kind = kind
        self.battery = 97
        self.occupancy = False
        self.temperature = 21.5
        self.humidity = 45.0
        self.contact = True  # closed
        self.locked = True
        self.model = f"SR-{kind.upper()}"

    def exposes(self) -> list[dict[str, Any]]:
        battery = _numeric("battery", 0, 100, unit="%")
        if self.kind == "multi":
            return [
                _binary("occupancy", True, False),
                _numeric("temperature", -40, 125, unit="°C"),
                _numeric("humidity", 0, 100, unit="%"),
                battery,
            ]
        if self.kind in ("door", "window"):
            return [_binary("contact", False, True), battery]  # contact false = open
        if self.kind == "lock":
            lock = _binary("state", "LOCK", "UNLOCK", STATE | SET | GET)
            actions = ["rfid_unlock", "keypad_unlock", "rf_unlock", "manual_unlock"]
            return [
                {"type": "lock", "features": [lock]},
                _enum("action", [*actions, "staff_unlock", "lock"]),
                battery,
            ]
        return [_enum("action", ["dnd", "mur", "clear"]), battery]

    def snapshot(self) -> dict[str, Any]:
        body: dict[str, Any] = {"battery": self.battery}
        if self.kind == "multi":
            body.update(
                occupancy=self.occupancy,
                temperature=round(self.temperature, 1),
                humidity=round(self.humidity, 1),
            )
        elif self.kind in ("door", "window"):
            body["contact"] = self.contact
        elif self.kind == "lock":
            body["state"] = "LOCK" if self.locked else "UNLOCK"
        return body

    async def on_set(self, body: dict[str, Any]) -> None:
        if self.kind == "lock" and body.get("state") in ("LOCK", "UNLOCK"):
            self.locked = body["state"] == "LOCK"
        await self.report()

    # --- guest and staff actions ---------------------------------------------------------

    async def walk_in(self) -> None:
        self.occupancy = True
        await self.report()

    async def leave(self) -> None:
        self.occupancy = False
        await self.report()

    async def set_climate(self, temperature_c: float, humidity_pct: float | None = None) -> None:
        self.temperature = temperature_c
        if humidity_pct is not None:
            self.humidity = humidity_pct
        await self.report()

    async def open(self) -> None:
        self.contact = False
        await self.report()

    async def close(self) -> None:
        self.contact = True
        await self.report()

    async def unlock(self, by: Literal["rfid", "keypad", "rf", "manual", "staff"] = "rfid") -> None:
        """A keycard (rfid), the app (rf), staff master key... unlocks the door."""
        self.locked = False
        await self.report(action=f"{by}_unlock")

    async def lock(self) -> None:
        self.locked = True
        await self.report(action="lock")

    async def press(self, button: Literal["dnd", "mur", "clear"]) -> None:
        """The guest presses the DND or MUR button (or clears it)."""
        await self.report(action=button)


Z2mSim = Z2mLightSim | Z2mCoverSim | Z2mSensorSim


def from_config(name: str, cfg: Z2mConfig, mqtt: MqttConfig) -> Z2mSim:
    """The simulator for one `[devices.<name>]` table with `driver = "z2m"`."""
    del name  # the device is addressed by its friendly name, as in Zigbee2MQTT
    if cfg.capability == "light":
        return Z2mLightSim(cfg.friendly_name, mqtt, base_topic=cfg.base_topic)
    if cfg.capability == "cover":
        return Z2mCoverSim(cfg.friendly_name, mqtt, base_topic=cfg.base_topic)
    return Z2mSensorSim(
        cfg.friendly_name,
        mqtt,
        kind=cfg.contact or sensor_kind(cfg.friendly_name),
        base_topic=cfg.base_topic,
    )
