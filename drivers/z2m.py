"""Zigbee2MQTT devices on the room's shared MQTT connection: lights, covers, sensors.

    conn = MqttConnection(MqttConfig(), client_id="room-101")
    lamp = create("bedside", Z2mConfig(driver="z2m", capability="light",
                                       friendly_name="room101_bedside"), conn, clock)
    await conn.start(); await lamp.start()
    state = await lamp.apply(LightCommand(on=True, level_pct=40, colour_temp_k=2700))

Availability is the worst of: the MQTT connection, the retained `zigbee2mqtt/bridge/state`,
the retained `zigbee2mqtt/<name>/availability`, and our own evidence (a command nobody
confirmed marks the device unavailable; a `/get` is then retried with backoff until it
answers). Commands return only once a state report shows them, within `timeout_s` (plus
the transition for lights; covers extend the deadline while they report progress).
Events from retained messages are ignored: a retained `action` is an old button press.
At start the device also reads the bridge's retained `bridge/devices` and checks its
friendly name and capability against it (`drivers.z2m_inventory`): a missing or mistyped
device is unavailable with a reason naming the problem, logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, ClassVar

from drivers.base import (
    CapabilityName,
    CommandNotConfirmed,
    CoverCommand,
    CoverState,
    DeviceUnavailable,
    InvalidCommand,
    LightCommand,
    LightState,
    SensorState,
    State,
)
from drivers.config import Z2mConfig
from drivers.mqtt import MqttConnection, MqttDeviceBase, MqttMessage
from drivers.z2m_codec import (
    LightReport,
    Z2mPayloadError,
    contact_is_window,
    cover_set_payload,
    decode_object,
    decode_online,
    light_confirms,
    light_set_payload,
    parse_action,
    parse_cover,
    parse_light,
    parse_sensor,
)
from drivers.z2m_inventory import InventoryError, check_device, parse_devices
from smartroom.clock import Clock
from smartroom.log import get_logger

log = get_logger("drivers.z2m")


class Z2mDevice(MqttDeviceBase):
    capability: CapabilityName
    # What to send on `/get`; None = the device cannot be asked.
    get_body: ClassVar[dict[str, Any] | None] = None

    def __init__(
        self, name: str, config: Z2mConfig, connection: MqttConnection, clock: Clock | None
    ) -> None:
        super().__init__(name, connection, clock, config.timeout_s)
        self.config = config
        self.topic = f"{config.base_topic}/{config.friendly_name}"
        self._bridge_online: bool | None = None
        self._z2m_online: bool | None = None
        self._seen_report = False
        self._no_answer: str | None = None
        self._inventory_problem: str | None = None
        self._probe: asyncio.Task[None] | None = None
        # The command in flight (one at a time, under self._lock) and what its reports said.
        self._expect: dict[str, Any] | None = None
        self._confirmed = asyncio.Event()
        self._mismatch: str | None = None
        self._reports_since_command = 0

    async def start(self) -> None:
        self._follow_connection()
        await self._listen(f"{self.config.base_topic}/bridge/state", self._on_bridge)
        await self._listen(f"{self.config.base_topic}/bridge/devices", self._on_inventory)
        await self._listen(f"{self.topic}/availability", self._on_availability)
        await self._listen(self.topic, self._on_state)
        await self._request_state()

    async def stop(self) -> None:
        self._unsubscribe_all()
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    # --- availability inputs -----------------------------------------------------------

    def _on_bridge(self, msg: MqttMessage) -> None:
        try:
            self._bridge_online = decode_online(msg.payload)
        except Z2mPayloadError as exc:
            self._malformed(msg.topic, exc)
            return
        self._reassess()

    def _on_inventory(self, msg: MqttMessage) -> None:
        try:
            problem = check_device(self.config, parse_devices(msg.payload))
        except InventoryError as exc:
            self._malformed(msg.topic, exc)
            return
        if problem != self._inventory_problem and problem is not None:
            log.error("z2m_device_not_in_bridge", device=self.name, problem=problem)
        self._inventory_problem = problem
        self._reassess()

    def _on_availability(self, msg: MqttMessage) -> None:
        if not msg.payload:  # a cleared retained message: no claim either way
            self._z2m_online = None
        else:
            try:
                self._z2m_online = decode_online(msg.payload)
            except Z2mPayloadError as exc:
                self._malformed(msg.topic, exc)
                return
        self._reassess()

    def _reassess(self) -> None:
        reason = self._connection_reason()
        if reason is None and self._bridge_online is False:
            reason = "zigbee2mqtt bridge offline"
        if reason is None:
            reason = self._inventory_problem
        if reason is None and self._z2m_online is False:
            reason = "zigbee2mqtt reports the device offline"
        if reason is None:
            reason = self._no_answer
        if reason is not None:
            self._tracker.failed(reason)
        elif self._z2m_online or self._seen_report:
            self._tracker.ok()

    def _connection_up(self) -> None:
        task = asyncio.get_running_loop().create_task(self._request_state())
        task.add_done_callback(_quiet)

    def _blocked_reason(self) -> str | None:
        """Why a command cannot even be sent now (our own timeouts do not block: a retry
        is how a device that stopped answering is found again)."""
        reason = self._connection_reason()
        if reason is None and self._bridge_online is False:
            reason = "zigbee2mqtt bridge offline"
        if reason is None:
            reason = self._inventory_problem
        if reason is None and self._z2m_online is False:
            reason = "zigbee2mqtt reports the device offline"
        return reason

    # --- state reports -----------------------------------------------------------------

    def _on_state(self, msg: MqttMessage) -> None:
        if not msg.payload:
            return
        try:
            obj = decode_object(msg.payload)
            self._handle_report(obj, retained=msg.retain)
        except Z2mPayloadError as exc:
            self._malformed(msg.topic, exc)
            return
        self._wellformed()
        self._seen_report = True
        if self._no_answer is not None:
            self._no_answer = None
            self._stop_probe()
        self._reassess()

    def _handle_report(self, obj: dict[str, Any], *, retained: bool) -> None:
        raise NotImplementedError

    async def _request_state(self) -> None:
        if self.get_body is None or not self._conn.connected:
            return
        with contextlib.suppress(DeviceUnavailable):
            await self._conn.publish(f"{self.topic}/get", json.dumps(self.get_body).encode())

    # --- commands ----------------------------------------------------------------------

    async def _command(self, body: dict[str, Any], limit_s: float) -> None:
        """Publish `/set` and wait for `self._confirmed` to be set by a matching report."""
        blocked = self._blocked_reason()
        if blocked is not None:
            raise DeviceUnavailable(self.name, blocked)
        payload = json.dumps(body, separators=(",", ":")).encode()
        self._mismatch = None
        self._confirmed = asyncio.Event()
        self._expect = body
        self._reports_since_command = 0
        try:
            async with asyncio.timeout(limit_s):
                await self._conn.publish(f"{self.topic}/set", payload)
                await self._confirmed.wait()
        except TimeoutError:
            if self._reports_since_command == 0:
                self._no_answer = f"no state report within {limit_s:g} s of a command"
                self._reassess()
                self._start_probe()
                raise CommandNotConfirmed(self.name, self._no_answer) from None
            raise CommandNotConfirmed(
                self.name, f"state report {self._mismatch} does not show {body} after {limit_s:g} s"
            ) from None
        finally:
            self._expect = None

    def _start_probe(self) -> None:
        if self.get_body is not None and (self._probe is None or self._probe.done()):
            self._probe = asyncio.get_running_loop().create_task(self._probe_loop())

    def _stop_probe(self) -> None:
        if self._probe is not None and self._probe is not asyncio.current_task():
            self._probe.cancel()
        self._probe = None

    async def _probe_loop(self) -> None:
        while self._no_answer is not None:
            await asyncio.sleep(self._tracker.backoff.next())
            await self._request_state()


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class Z2mLight(Z2mDevice):
    capability: CapabilityName = "light"
    get_body: ClassVar[dict[str, Any] | None] = {"state": ""}

    def __init__(
        self, name: str, config: Z2mConfig, connection: MqttConnection, clock: Clock | None
    ) -> None:
        super().__init__(name, config, connection, clock)
        self._state: LightState | None = None
        self._raw = LightReport()
        self._hint_k: int | None = None

    @property
    def state(self) -> LightState | None:
        return self._state

    def _current_state(self) -> State | None:
        return self._state

    def _handle_report(self, obj: dict[str, Any], *, retained: bool) -> None:
        report = parse_light(obj)
        self._raw = LightReport(
            on=self._raw.on if report.on is None else report.on,
            brightness=self._raw.brightness if report.brightness is None else report.brightness,
            color_temp=self._raw.color_temp if report.color_temp is None else report.color_temp,
        )
        previous = self._state
        self._state = report.merge(previous, self._hint_k)
        expecting = self._expect is not None
        if expecting:
            self._reports_since_command += 1
            assert self._expect is not None
            if light_confirms(self._expect, self._raw):
                self._confirmed.set()
            else:
                self._mismatch = str(obj)
        manual = not expecting and previous is not None and previous != self._state
        self._emit(manual=manual)

    async def apply(self, command: LightCommand) -> LightState:
        try:
            body = light_set_payload(command)
        except ValueError as exc:
            raise InvalidCommand(self.name, str(exc)) from None
        async with self._lock:
            if command.colour_temp_k is not None:
                self._hint_k = command.colour_temp_k
            await self._command(body, self.timeout_s + float(body.get("transition", 0)))
            assert self._state is not None
            return self._state


class Z2mCover(Z2mDevice):
    capability: CapabilityName = "cover"
    get_body: ClassVar[dict[str, Any] | None] = {"position": ""}

    def __init__(
        self, name: str, config: Z2mConfig, connection: MqttConnection, clock: Clock | None
    ) -> None:
        super().__init__(name, config, connection, clock)
        self._state: CoverState | None = None
        self._progress = asyncio.Event()

    @property
    def state(self) -> CoverState | None:
        return self._state

    def _current_state(self) -> State | None:
        return self._state

    def _handle_report(self, obj: dict[str, Any], *, retained: bool) -> None:
        previous = self._state
        self._state = parse_cover(obj, previous)
        expecting = self._expect is not None
        if expecting:
            self._reports_since_command += 1
            assert self._expect is not None
            if self._state.position_pct == self._expect["position"] and not self._state.moving:
                self._confirmed.set()
            else:
                self._mismatch = str(obj)
                self._progress.set()
        manual = not expecting and previous is not None and previous != self._state
        self._emit(manual=manual)

    async def apply(self, command: CoverCommand) -> CoverState:
        try:
            body = cover_set_payload(command)
        except ValueError as exc:
            raise InvalidCommand(self.name, str(exc)) from None
        async with self._lock:
            # A curtain takes longer than a lamp: the deadline restarts with every progress
            # report, so a moving curtain is never "unconfirmed", a stuck one is.
            waiter = asyncio.get_running_loop().create_task(self._command(body, 3600.0))
            try:
                while True:
                    self._progress.clear()
                    progress = asyncio.ensure_future(self._progress.wait())
                    done, _ = await asyncio.wait(
                        {waiter, progress},
                        timeout=self.timeout_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    progress.cancel()
                    if waiter in done:
                        waiter.result()
                        break
                    if not done:  # no progress within timeout_s
                        waiter.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await waiter
                        if self._reports_since_command == 0:
                            reason = f"no state report within {self.timeout_s:g} s"
                            self._no_answer = reason
                            self._reassess()
                            self._start_probe()
                        else:
                            reason = f"curtain stopped at {self._state} short of {body}"
                        raise CommandNotConfirmed(self.name, reason)
            finally:
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
            assert self._state is not None
            return self._state


class Z2mSensor(Z2mDevice):
    """Multi-sensors, door/window contacts, locks and the DND/MUR button: state fields
    merge into one `SensorState`; `action` becomes a `SensorEvent` in the update."""

    capability: CapabilityName = "sensor"
    get_body = None  # battery devices sleep: asking them is pointless

    def __init__(
        self, name: str, config: Z2mConfig, connection: MqttConnection, clock: Clock | None
    ) -> None:
        super().__init__(name, config, connection, clock)
        self._state: SensorState | None = None
        self._window = (
            config.contact == "window"
            if config.contact is not None
            else contact_is_window(config.friendly_name)
        )

    @property
    def state(self) -> SensorState | None:
        return self._state

    def _current_state(self) -> State | None:
        return self._state

    def _handle_report(self, obj: dict[str, Any], *, retained: bool) -> None:
        event = None if retained else parse_action(obj, self._clock.now())
        state = parse_sensor(obj, self._state, contact_is_window=self._window)
        changed = state != self._state
        self._state = state
        if changed or event is not None:
            extra: dict[str, object] = {}
            if isinstance(obj.get("linkquality"), int):
                extra["linkquality"] = obj["linkquality"]
            self._emit(event=event, extra=extra)


def create(
    name: str, config: Z2mConfig, connection: MqttConnection, clock: Clock | None = None
) -> Z2mLight | Z2mCover | Z2mSensor:
    """Build the driver for one `[devices.<name>]` table with `driver = "z2m"`."""
    if config.capability == "light":
        return Z2mLight(name, config, connection, clock)
    if config.capability == "cover":
        return Z2mCover(name, config, connection, clock)
    return Z2mSensor(name, config, connection, clock)
