"""What the MQTT simulators (Zigbee2MQTT devices, the speaker) share: their own broker
session with a retained availability flag and a last will, reconnection after a broker
restart, and fault injection applied to everything the device answers.

Each simulated device is its own MQTT client, like a separate piece of hardware: stopping
one (or its broker session dying) fires its will, `offline`, exactly as a device would.

    class Lamp(MqttDeviceSim):
        async def on_message(self, topic: str, payload: bytes) -> None: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import aiomqtt

from drivers.config import MqttConfig
from drivers.mqtt import NODELAY
from firmware_mocks.base import Fault
from smartroom.log import get_logger

log = get_logger("firmware_mocks.mqtt")

CORRUPT_PAYLOADS = (
    b"\x00\xff\xfe not json",
    b'{"state": ',
    b"[1, 2, 3]",
    b'{"brightness": 9999, "state": "MAYBE"}',
    b'{"volume": -5, "power": "yes"}',
)


class MqttDeviceSim:
    """Base of the MQTT simulators: subclasses set the topics and implement `on_message`."""

    def __init__(
        self,
        name: str,
        mqtt: MqttConfig,
        *,
        availability_topic: str,
        online: bytes,
        offline: bytes,
        subscriptions: tuple[str, ...],
    ) -> None:
        self.name = name
        self.mqtt = mqtt
        self.availability_topic = availability_topic
        self._online, self._offline = online, offline
        self._subscriptions = subscriptions
        self.fault = Fault.NONE
        self.delay_s = 1.0
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pending: set[asyncio.Task[None]] = set()
        self._corrupt_index = 0
        self.commands_seen = 0  # every /set or /get received, answered or not

    # --- Simulator protocol ------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"sim:{self.name}")
        await asyncio.wait_for(self._connected.wait(), 10)

    async def stop(self) -> None:
        self._stopping = True
        client = self._client
        if client is not None and self._connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.availability_topic, self._offline, qos=1, retain=True)
        for pending in list(self._pending):
            pending.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def restart(self, down_s: float = 0.2) -> None:
        """A power cycle (see `power_off` / `power_on`)."""
        await self.power_off()
        await asyncio.sleep(down_s)
        await self.power_on()

    async def power_off(self) -> None:
        """The device loses power: its session ends and `offline` is published (as its last
        will would be, without waiting out the keepalive)."""
        await self.stop()

    async def power_on(self) -> None:
        """Back with `power_on_defaults()` applied, then a fresh session (a new `online`,
        the state published as on any connect)."""
        self.fault = Fault.NONE
        self.power_on_defaults()
        await self.start()

    def power_on_defaults(self) -> None:
        """Reset what the real device forgets on power loss (subclasses)."""

    def inject(self, fault: Fault, *, delay_s: float = 1.0) -> None:
        self.fault, self.delay_s = fault, delay_s

    def describe(self) -> str:
        return f"mqtt device on {self.mqtt.host}:{self.mqtt.port}, {self.availability_topic}"

    # --- for subclasses ----------------------------------------------------------------

    async def on_connect(self) -> None:
        """Publish the device's initial state after every (re)connect."""

    async def on_message(self, topic: str, payload: bytes) -> None:
        raise NotImplementedError

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish as the device would, with the injected fault applied."""
        if self.fault is Fault.SILENT:
            return
        if self.fault is Fault.SLOW:
            await asyncio.sleep(self.delay_s)
        if self.fault is Fault.CORRUPT:
            payload = CORRUPT_PAYLOADS[self._corrupt_index % len(CORRUPT_PAYLOADS)]
            self._corrupt_index += 1
        await self.publish_raw(topic, payload, retain=retain)

    async def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish exactly these bytes, whatever the fault (tests use it for garbage)."""
        client = self._client
        if client is None:
            raise RuntimeError(f"simulator {self.name} is not connected")
        await client.publish(topic, payload, qos=1, retain=retain)

    # --- the session loop --------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            client = aiomqtt.Client(
                self.mqtt.host,
                self.mqtt.port,
                identifier=f"sim-{self.name}-{secrets.token_hex(3)}",
                will=aiomqtt.Will(self.availability_topic, self._offline, qos=1, retain=True),
                keepalive=5,
                timeout=5,
                socket_options=NODELAY,
            )
            try:
                async with client:
                    self._client = client
                    for topic_filter in self._subscriptions:
                        await client.subscribe(topic_filter, qos=1)
                    await client.publish(self.availability_topic, self._online, qos=1, retain=True)
                    await self.on_connect()
                    self._connected.set()
                    async for message in client.messages:
                        raw = message.payload
                        payload = bytes(raw) if isinstance(raw, bytes | bytearray) else b""
                        task = asyncio.create_task(self._handle(message.topic.value, payload))
                        self._pending.add(task)
                        task.add_done_callback(self._pending.discard)
            except aiomqtt.MqttError:
                pass
            finally:
                self._connected.clear()
                self._client = None
            if not self._stopping:
                await asyncio.sleep(0.3)

    async def _handle(self, topic: str, payload: bytes) -> None:
        self.commands_seen += 1
        if self.fault is Fault.SILENT:
            return
        try:
            await self.on_message(topic, payload)
        except aiomqtt.MqttError:
            pass
        except Exception:  # a simulator ignores what a real device would ignore
            log.debug("simulator_ignored_message", device=self.name, topic=topic, exc_info=True)
