"""The agent process: one supervisor owning every resource and task, in order.

Start: store → scene book → comfort resolver → drivers (MQTT session, every device) →
room controller → supervised tasks (controller loop, which feeds the systemd watchdog,
status on MQTT, central sync, store housekeeping) → local HTTP API → `READY=1` to systemd.
Stop (SIGTERM/SIGINT): `STOPPING=1` → API stops accepting → tasks in reverse (sync, status
publishes offline, controller) → in-flight device commands → drivers → store.

    agent = Agent(load_room_config(path))
    await agent.run()                       # until SIGTERM/SIGINT

    async with Agent(config, clock=fake_clock) as agent:   # tests, benchmarks
        agent.api_url, agent.room.status()
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Mapping
from types import TracebackType
from typing import Any

from agent.api import create_api
from agent.app_health import agent_health, collect_gauges
from agent.central_config import CentralConfig
from agent.config import RoomConfig
from agent.http_server import LocalServer
from agent.memory import settle_memory, trim_heap
from agent.metrics import AgentMetrics
from agent.model_updates import ModelUpdater, open_model_store
from agent.preferences import PreferenceResolver
from agent.presence import PresenceHub
from agent.presence.http import presence_routes
from agent.presence.sealing import Sealer, SealError
from agent.presence.service import PresenceConfigError, RoomPresence
from agent.room import RoomController
from agent.sdnotify import Notifier
from agent.status_mqtt import StatusPublisher, availability_topic
from agent.store import AgentStore
from agent.supervisor import Supervisor
from agent.sync_link import SyncLink
from drivers.base import Device, DriverError
from drivers.mqtt import MqttConnection
from drivers.registry import RoomDevices, build_room, read_password
from scenes.loader import load_scenes
from smartroom.clock import Clock, SystemClock
from smartroom.log import get_logger
from smartroom.settings import ConfigError

log = get_logger("agent.app")

# Each shutdown step's limit. Worst case, every step wedged: api + status offline +
# commands + devices (in parallel) + MQTT session + central, plus the supervised tasks at
# STEP_LIMIT_S each (in order): about 2 s x 12 tasks at most, within TimeoutStopSec=20 s.
STEP_LIMIT_S = 1.5


async def _bounded(work: Awaitable[object], what: str) -> None:
    try:
        async with asyncio.timeout(STEP_LIMIT_S):
            await work
    except TimeoutError:
        log.error("shutdown_step_timeout", step=what, limit_s=STEP_LIMIT_S)
    except Exception as exc:  # noqa: BLE001 - a failing close must not stop the others
        log.error("shutdown_step_failed", step=what, error=f"{type(exc).__name__}: {exc}")


class Agent:
    def __init__(
        self,
        config: RoomConfig,
        *,
        clock: Clock | None = None,
        devices: Mapping[str, Device] | None = None,
        notifier: Notifier | None = None,
        resolver: PreferenceResolver | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier.from_environment()
        self.metrics = AgentMetrics()
        self.presence = PresenceHub()
        self.supervisor = supervisor or Supervisor(
            on_restart=lambda name, _exc, _delay: self.metrics.task_restarts.labels(task=name).inc()
        )
        self._given_devices = devices
        self._resolver = resolver
        self.room_devices: RoomDevices | None = None
        self.store: AgentStore | None = None
        self.room: RoomController | None = None
        self.recognition: RoomPresence | None = None
        self.ble_scanner: Any = None
        self.status_publisher: StatusPublisher | None = None
        self._session: MqttConnection | None = None
        self._own_session = False
        self.link: SyncLink | None = None
        self.central_config: CentralConfig | None = None
        self.model_updater: ModelUpdater | None = None
        self._server: LocalServer | None = None
        self.api_port: int | None = None
        self.ready = asyncio.Event()
        self.stopped = asyncio.Event()
        self.started_monotonic = self.clock.monotonic()
        self.ready_after_s: float | None = None
        self.shutdown_log: list[str] = []
        self._last_ping: float | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.config.api.host}:{self.api_port}"

    # --- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config  # the room file's; central's settings are laid over it below
        started = self.clock.monotonic()
        device_key = config.presence.device_key_file or config.store.path.parent / "device.key"
        try:
            sealer = Sealer.from_file(device_key)
        except (OSError, SealError) as exc:
            raise ConfigError("presence", [f"presence.device_key_file -- {exc}"]) from None
        self.store = store = AgentStore(
            config.store.path,
            clock=self.clock,
            property_id=config.room.property_id,
            room_id=config.room.room_id,
            sealer=sealer,
            budgets=config.store.budgets(),
        )
        # Central's room config laid over the room file (docs/sync.md: precedence); the
        # last version applied holds from the start, central reachable or not.
        self.central_config = CentralConfig(self.config, store, apply=self._apply_config)
        self.config = config = self.central_config.at_start()
        scenes = load_scenes(config.scenes.directory, config.scenes.overrides)
        model_store = None
        if config.comfort.model_signing_key is not None:
            model_store = open_model_store(config.models_dir, config.comfort.model_signing_key)
        resolver = self._resolver or PreferenceResolver.create(config, model_store)
        client_id = f"agent-{config.room.property_id}-{config.room.room_id}"[:64]
        if self._given_devices is not None:
            devices = dict(self._given_devices)
            # Devices given in-process (tests, benchmarks): the status still goes out
            # through a drivers' MQTT session, only one without devices on it.
            self._session = MqttConnection(
                config.mqtt,
                client_id=client_id,
                clock=self.clock,
                password=read_password(config.mqtt),
                status_topic=availability_topic(config),
            )
            self._own_session = True
        else:
            self.room_devices = build_room(
                config.devices,
                mqtt=config.mqtt,
                clock=self.clock,
                client_id=client_id,
                status_topic=availability_topic(config),
                session=True,  # the room's status goes through the drivers' session too
            )
            self._session = self.room_devices.mqtt
            devices = self.room_devices.devices
        self.room = room = RoomController(
            config,
            store=store,
            devices=devices,
            scenes=scenes,
            resolver=resolver,
            clock=self.clock,
            metrics=self.metrics,
        )
        try:
            self.recognition = recognition = RoomPresence(
                config.presence,
                store,
                self.presence,
                self.clock,
                registry=self.metrics.registry,
                on_stays_changed=room.stays_changed,
            )
        except PresenceConfigError as exc:
            raise ConfigError("presence", [str(exc)]) from None
        self.presence.subscribe(room.on_presence)
        for device in devices.values():
            device.subscribe(room.on_device_update)
            device.subscribe(recognition.on_device_update)
        if self.room_devices is not None:
            await self.room_devices.start()
            if self.room_devices.mqtt is not None:
                # Give the broker a moment so the first scene does not fail on MQTT devices
                # (if it is down, the devices report unavailable and catch up later).
                with contextlib.suppress(DriverError):
                    await self.room_devices.mqtt.wait_connected(2.0)
        elif self._given_devices is not None:
            await asyncio.gather(*(d.start() for d in devices.values()))
        if self._own_session and self._session is not None:
            await self._session.start()
        self.central_config.settle()  # a version received but not applied before a crash
        room.prime()
        room.step()

        sup = self.supervisor
        # The control loop itself feeds the systemd watchdog after each step: if it dies or
        # wedges, the pings stop (API traffic or other tasks never feed it).
        sup.add("controller", lambda: room.run(beat=self._watchdog_beat))
        sup.add("presence", recognition.run)
        if config.presence.ble_scanner:
            from drivers.ble_scanner import BleScanner  # bleak only where a radio is used

            self.ble_scanner = BleScanner(recognition.ble.on_service_data, config.presence)
            sup.add("ble-scanner", self.ble_scanner.run)
        if config.presence.ble_proxy_port:
            from drivers.ble_scanner import BleProxy

            presence = config.presence
            proxy = BleProxy(
                recognition.ble.on_hci, presence.ble_proxy_host, presence.ble_proxy_port
            )
            sup.add("ble-proxy", proxy.run)
        if self._session is not None:
            self.status_publisher = StatusPublisher(config, room, self._session)
            sup.add("status", self.status_publisher.run)
        if model_store is not None:
            self.model_updater = ModelUpdater(
                model_store,
                on_model=resolver.use_model,
                count=lambda outcome: self.metrics.model_updates.labels(outcome=outcome).inc(),
                now=self.clock.now,
            )
            room.alert_sources.append(self.model_updater.alerts)
        self.link = SyncLink.create(
            config,
            store,
            room,
            self.clock,
            self.model_updater,
            on_credentials=recognition.refresh,
            on_config=self.central_config.settle,
        )
        if self.link is not None:
            if self.model_updater is None:
                log.info(
                    "comfort_model_updates_off", reason="[comfort] model_signing_key is not set"
                )
            await self.link.start()
            self.link.add_tasks(sup)
        self.metrics.collectors.append(lambda: collect_gauges(self))
        sup.add("store-housekeeping", self._store_housekeeping)
        sup.start()

        await self._start_api()
        self.ready_after_s = self.clock.monotonic() - started
        self.ready.set()
        self.notifier.notify(f"READY=1\nSTATUS=room {config.room.room_id} ready")
        log.info(
            "agent_ready",
            room=config.room.room_id,
            api=self.api_url,
            seconds=round(self.ready_after_s, 3),
        )

    async def _start_api(self) -> None:
        assert self.room is not None
        token = None
        if self.config.api.token_file is not None:
            token = self.config.api.token_file.read_text(encoding="utf-8").strip()
        assert self.recognition is not None
        app = create_api(
            self.room,
            token=token,
            health=lambda: agent_health(self),
            extra_routes=presence_routes(self.recognition, self.clock),
        )
        api = self.config.api
        server = LocalServer(app, api.host, api.port)
        try:
            await server.start()
        except OSError as exc:
            raise ConfigError(
                "api",
                [
                    f"api.port = {api.port} -- cannot listen on {api.host}:{api.port}: "
                    f"{exc.strerror or exc} (fix: another agent may be running; free the port "
                    "or change api.port)"
                ],
            ) from None
        self._server = server
        self.api_port = server.port

    def _apply_config(self, config: RoomConfig) -> None:
        self.config = config
        if self.room is not None:
            self.room.apply_config(config)

    def _watchdog_beat(self) -> None:
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        now = self.clock.monotonic()
        last = self._last_ping
        if last is None or now - last >= interval / 2 or now < last:
            self.notifier.notify("WATCHDOG=1")
            self._last_ping = now

    async def _store_housekeeping(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(3600)
            self.store.prune()
            trim_heap()

    # --- stop ----------------------------------------------------------------------------

    def _step(self, what: str) -> None:
        self.shutdown_log.append(what)
        log.info("shutdown_step", step=what)

    async def stop(self) -> None:
        """Ordered and bounded: every step has a time limit (STEP_LIMIT_S), so the whole
        stop fits well inside the unit's TimeoutStopSec (20 s) even with a wedged device."""
        if self.stopped.is_set():
            return
        self.notifier.notify("STOPPING=1")
        if self._server is not None:
            await _bounded(self._server.stop(), "api")
            self._step("api")
        await self.supervisor.stop()
        self._step("tasks")
        if self.status_publisher is not None:
            await self.status_publisher.say_offline(STEP_LIMIT_S)
        if self.room is not None:
            await self.room.dispatcher.cancel(timeout_s=STEP_LIMIT_S)
            self._step("commands")
        devices = (
            self.room_devices.devices if self.room_devices is not None else self._given_devices
        ) or {}
        await asyncio.gather(*(_bounded(d.stop(), f"device {name}") for name, d in devices.items()))
        if self._session is not None:
            await _bounded(self._session.stop(), "mqtt session")
        self._step("devices")
        if self.link is not None:
            await _bounded(self.link.aclose(), "central client")
        if self.store is not None:
            self.store.close()
            self._step("store")
        self.stopped.set()
        log.info("agent_stopped")

    async def __aenter__(self) -> Agent:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down in order."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            # The process's own run (systemd, the CLI): settle what start-up left behind.
            settle_memory()
            await stop.wait()
            log.info("signal_received")
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
