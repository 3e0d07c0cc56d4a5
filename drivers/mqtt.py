"""One MQTT session per room, shared by every MQTT device of that room.

Home-automation systems are often blamed for going quiet after a broker restart: the
client reconnects but forgets its subscriptions, and its retained "online" flag is gone
(the broker kept the last will, "offline"). This connection owns both duties:

- a registry of topic filters -> handlers, subscribed again on every (re)connect, so the
  broker also resends the retained availability and state of every device;
- our own availability on `status_topic`: retained `online` published on every connect, a
  retained `offline` last will, and an explicit `offline` on a clean stop.

The connection's own availability (an `AvailabilityTracker`) is pushed to listeners, so
every MQTT device goes unavailable while the broker is unreachable. Payloads above
`max_payload` bytes and handlers that raise are logged once per topic and ignored.

    conn = MqttConnection(MqttConfig(port=1883), client_id="room-101")
    await conn.start()
    unsubscribe = await conn.subscribe("zigbee2mqtt/lamp", lambda msg: print(msg.payload))
    await conn.publish("zigbee2mqtt/lamp/set", b'{"state":"ON"}')
    await conn.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from drivers.availability import AvailabilityTracker, Backoff
from drivers.base import (
    AvailabilityState,
    DeviceUnavailable,
    DeviceUpdate,
    Listener,
    SensorEvent,
    State,
)
from drivers.config import MqttConfig
from smartroom.clock import Clock, SystemClock
from smartroom.listeners import Listeners
from smartroom.log import get_logger
from sync.wire import Availability

log = get_logger("drivers.mqtt")

ONLINE = b"online"
OFFLINE = b"offline"
# The number of distinct topics we remember having warned about, so a device spraying
# garbage over ever-new topics cannot grow memory without bound.
_MAX_WARNED_TOPICS = 1024
# Commands and state reports are tiny: without TCP_NODELAY, Nagle's algorithm meets the
# peer's delayed ACK and every QoS 1 exchange stalls ~40 ms (measured: 89 ms -> ~2 ms).
NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool = False


MessageHandler = Callable[[MqttMessage], None]
AvailabilityListener = Callable[[AvailabilityState], None]


def topic_matches(topic: str, topic_filter: str) -> bool:
    """MQTT filter matching (`+` one level, `#` the rest), e.g.
    `topic_matches("zigbee2mqtt/lamp/availability", "zigbee2mqtt/+/availability")`."""
    return aiomqtt.Topic(topic).matches(topic_filter)


class MqttConnection:
    def __init__(
        self,
        config: MqttConfig,
        *,
        client_id: str,
        clock: Clock | None = None,
        status_topic: str | None = None,
        password: str | None = None,
        max_payload: int = 64 * 1024,
        keepalive_s: int = 4,
        op_timeout_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not client_id or len(client_id) > 64:
            raise ValueError("client_id must be 1..64 characters")
        self.config = config
        self.client_id = client_id
        self.status_topic = status_topic or f"smartroom/agent/{client_id}/availability"
        self.max_payload = max_payload
        self._password = password
        self._keepalive_s = keepalive_s
        self._op_timeout_s = op_timeout_s
        self._clock = clock or SystemClock()
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._listeners: Listeners[AvailabilityState] = Listeners(
            "availability_listener_failed", connection=client_id
        )
        self._warned: set[str] = set()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._tracker = AvailabilityTracker(
            f"mqtt://{config.host}:{config.port}",
            clock=self._clock,
            on_change=self._changed,
            backoff=backoff or Backoff(initial=0.25, maximum=10.0),
        )
        self.connects = 0  # how many sessions have been established (for tests and metrics)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"mqtt:{self.client_id}")

    async def wait_connected(self, limit_s: float) -> None:
        """Wait until a session is up; raises DeviceUnavailable after `limit_s` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), limit_s)
        except TimeoutError:
            raise DeviceUnavailable(
                self._tracker.device, f"not connected after {limit_s:g} s"
            ) from None

    async def stop(self) -> None:
        """Publish `offline` (a clean disconnect does not fire the will) and disconnect."""
        self._stopping = True
        client = self._client
        if client is not None and self._connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(
                    self.status_topic, OFFLINE, qos=1, retain=True, timeout=self._op_timeout_s
                )
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- availability ------------------------------------------------------------------

    @property
    def availability(self) -> AvailabilityState:
        return self._tracker.state

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def on_availability(self, listener: AvailabilityListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def _changed(self, state: AvailabilityState) -> None:
        self._listeners.emit(state)

    # --- subscriptions and publishing --------------------------------------------------

    async def subscribe(self, topic_filter: str, handler: MessageHandler) -> Callable[[], None]:
        """Register `handler` for `topic_filter`; returns a function that unregisters it.

        The filter is (re)subscribed on every connect. If connected now, this waits for the
        broker's SUBACK, so retained messages for the filter follow shortly."""
        _check_filter(topic_filter)
        self._handlers.setdefault(topic_filter, []).append(handler)
        client = self._client
        if client is not None and self._connected.is_set():
            # A repeated SUBSCRIBE to a known filter is deliberate: the broker then resends
            # the retained messages, which the new handler has not seen.
            with contextlib.suppress(aiomqtt.MqttError):
                await client.subscribe(topic_filter, qos=1, timeout=self._op_timeout_s)

        def remove() -> None:
            handlers = self._handlers.get(topic_filter, [])
            with contextlib.suppress(ValueError):
                handlers.remove(handler)
            if not handlers and topic_filter in self._handlers:
                del self._handlers[topic_filter]
                current = self._client
                if current is not None and self._connected.is_set():
                    task = asyncio.get_running_loop().create_task(
                        self._unsubscribe(current, topic_filter)
                    )
                    task.add_done_callback(_ignore_result)

        return remove

    async def _unsubscribe(self, client: aiomqtt.Client, topic_filter: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await client.unsubscribe(topic_filter, timeout=self._op_timeout_s)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish, or raise DeviceUnavailable at once when the broker is not connected."""
        client = self._client
        if client is None or not self._connected.is_set():
            raise DeviceUnavailable(self._tracker.device, "broker not connected")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=self._op_timeout_s)
        except aiomqtt.MqttError as exc:
            raise DeviceUnavailable(self._tracker.device, f"publish failed: {exc}") from None

    # --- the session loop --------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            reason = "disconnected"
            client = aiomqtt.Client(
                self.config.host,
                self.config.port,
                identifier=self.client_id,
                username=self.config.username,
                password=self._password,
                will=aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True),
                keepalive=self._keepalive_s,
                timeout=self._op_timeout_s,
                clean_session=True,
                socket_options=NODELAY,
            )
            # A room commands dozens of devices at once; aiomqtt warns above 10 in flight.
            client.pending_calls_threshold = 1000
            try:
                async with client:
                    self._client = client
                    await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
                    filters = list(self._handlers)
                    if filters:
                        await client.subscribe([(f, 1) for f in filters])
                    self.connects += 1
                    self._connected.set()
                    self._tracker.ok()
                    async for message in client.messages:
                        self._dispatch(message)
            except aiomqtt.MqttError as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                self._connected.clear()
                self._client = None
            if self._stopping:
                break
            self._tracker.failed(f"broker {self.config.host}:{self.config.port}: {reason}")
            await asyncio.sleep(self._tracker.backoff.next())

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        raw = message.payload
        if isinstance(raw, bytes | bytearray):
            payload = bytes(raw)
        elif raw is None:
            payload = b""
        else:
            payload = str(raw).encode()
        if len(payload) > self.max_payload:
            self._warn_once(topic, "mqtt_payload_too_large", size=len(payload))
            return
        msg = MqttMessage(topic, payload, bool(message.retain))
        for topic_filter, handlers in list(self._handlers.items()):
            if not message.topic.matches(topic_filter):
                continue
            for handler in list(handlers):
                try:
                    handler(msg)
                except Exception as exc:  # noqa: BLE001 - one bad device must not end the session
                    self._warn_once(topic, "mqtt_handler_failed", error=repr(exc))

    def _warn_once(self, topic: str, event: str, **fields: object) -> None:
        key = f"{event}:{topic}"
        if key in self._warned or len(self._warned) >= _MAX_WARNED_TOPICS:
            return
        self._warned.add(key)
        log.warning(event, topic=topic, limit=self.max_payload, **fields)


def _check_filter(topic_filter: str) -> None:
    if not topic_filter or len(topic_filter) > 512:
        raise ValueError("an MQTT topic filter is 1..512 characters")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"'#' must be a whole last level in {topic_filter!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level in {topic_filter!r}")


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class MqttDeviceBase:
    """What every device on the shared connection has in common: listeners, an
    availability tracker that follows the connection, and malformed payloads logged once
    (then again only after a good payload in between)."""

    def __init__(
        self, name: str, connection: MqttConnection, clock: Clock | None, timeout_s: float
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._conn = connection
        self._clock = clock or SystemClock()
        self._listeners: Listeners[DeviceUpdate] = Listeners("device_listener_failed", device=name)
        self._tracker = AvailabilityTracker(
            name, clock=self._clock, on_change=self._availability_changed
        )
        self._unsubs: list[Callable[[], None]] = []
        self._malformed_logged = False
        self._lock = asyncio.Lock()  # one command at a time per device

    @property
    def availability(self) -> AvailabilityState:
        return self._tracker.state

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    async def _listen(self, topic_filter: str, handler: MessageHandler) -> None:
        self._unsubs.append(await self._conn.subscribe(topic_filter, handler))

    def _follow_connection(self) -> None:
        self._unsubs.append(self._conn.on_availability(self._connection_changed))
        if self._conn.availability.status is Availability.UNAVAILABLE:
            self._connection_changed(self._conn.availability)

    def _connection_changed(self, state: AvailabilityState) -> None:
        self._reassess()
        if state.available:
            self._connection_up()

    def _connection_up(self) -> None:
        """Called after every (re)connect; drivers refresh state here."""

    def _connection_reason(self) -> str | None:
        if self._conn.connected:
            return None
        return f"mqtt connection down: {self._conn.availability.reason or 'not connected yet'}"

    def _reassess(self) -> None:
        reason = self._connection_reason()
        if reason is not None:
            self._tracker.failed(reason)

    def _unsubscribe_all(self) -> None:
        while self._unsubs:
            self._unsubs.pop()()

    def _availability_changed(self, _state: AvailabilityState) -> None:
        self._emit()

    def _current_state(self) -> State | None:
        return None

    def _emit(
        self,
        *,
        event: SensorEvent | None = None,
        manual: bool = False,
        extra: dict[str, object] | None = None,
    ) -> None:
        update = DeviceUpdate(
            device=self.name,
            availability=self._tracker.state,
            state=self._current_state(),
            event=event,
            manual=manual,
            extra=extra or {},
        )
        self._listeners.emit(update)

    def _malformed(self, topic: str, error: Exception) -> None:
        if not self._malformed_logged:
            self._malformed_logged = True
            log.warning(
                "malformed_payload_ignored", device=self.name, topic=topic, error=str(error)
            )

    def _wellformed(self) -> None:
        self._malformed_logged = False
