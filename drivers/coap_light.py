"""Lights over CoAP: IPSO Light Control `/3311/<instance>` (dialects in `drivers.coap_codec`).

    lamp = create("desk", CoapLightConfig(driver="coap_light", port=5683), clock)
    await lamp.start()          # observes the resource; never raises if the lamp is absent
    state = await lamp.apply(LightCommand(on=True, level_pct=40))
    await lamp.stop()

Observe (RFC 7641) brings the guest's own changes as they happen. A CoAP server that
restarts forgets its observers without telling anyone, so the driver re-registers every
`reregister_s` (a GET with Observe=0, as RFC 7641 §3.3.1 allows): that GET is also the
liveness check, so a lamp that stops answering is unavailable within
`reregister_s + timeout_s` (4 + 2 s by default) and is retried with backoff. A PUT is
confirmed by a GET read-back within `timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiocoap
import aiocoap.error

from drivers.availability import AvailabilityTracker, Backoff
from drivers.base import (
    AvailabilityState,
    CapabilityName,
    CommandNotConfirmed,
    DeviceUnavailable,
    DeviceUpdate,
    InvalidCommand,
    LightCommand,
    LightState,
    Listener,
    ProtocolError,
)
from drivers.coap_codec import (
    CONTENT_FORMAT_JSON,
    CoapLightReport,
    CoapPayloadError,
    confirms,
    decode_light,
    encode_fields,
    put_fields,
)
from drivers.config import CoapLightConfig
from smartroom.clock import Clock, SystemClock
from smartroom.listeners import Listeners
from smartroom.log import get_logger

log = get_logger("drivers.coap_light")


class _Failure(Exception):
    """A failed exchange, already phrased for the availability reason."""


class CoapLight:
    capability: CapabilityName = "light"

    def __init__(
        self,
        name: str,
        config: CoapLightConfig,
        clock: Clock | None = None,
        *,
        reregister_s: float = 4.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.config = config
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.uri = f"coap://{host}:{config.port}/3311/{config.instance}"
        self.reregister_s = reregister_s
        self._clock = clock or SystemClock()
        self._tracker = AvailabilityTracker(
            name,
            clock=self._clock,
            on_change=lambda _s: self._emit(),
            backoff=backoff or Backoff(initial=0.5, maximum=10.0),
        )
        self._listeners: Listeners[DeviceUpdate] = Listeners("device_listener_failed", device=name)
        self._state: LightState | None = None
        self._extra: dict[str, object] = {}
        self._hint_k: int | None = None
        self._context: aiocoap.Context | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._notify_logged = False
        self.registrations = 0  # observations established (tests, metrics)

    # --- Device protocol ---------------------------------------------------------------

    @property
    def availability(self) -> AvailabilityState:
        return self._tracker.state

    @property
    def state(self) -> LightState | None:
        return self._state

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._context = await aiocoap.Context.create_client_context(transports=["udp6"])
        self._task = asyncio.create_task(self._supervise(), name=f"coap:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        context, self._context = self._context, None
        if context is not None:
            await context.shutdown()

    # --- commands ----------------------------------------------------------------------

    async def apply(self, command: LightCommand) -> LightState:
        try:
            fields = put_fields(command, self.config.dimmer_max)
        except ValueError as exc:
            raise InvalidCommand(self.name, str(exc)) from None
        body = encode_fields(fields, self.config.dimmer_max)
        async with self._lock:
            if command.colour_temp_k is not None:
                self._hint_k = command.colour_temp_k
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    put = await self._request(aiocoap.PUT, body)
                    if put.code != aiocoap.CHANGED:
                        raise CommandNotConfirmed(
                            self.name, f"PUT {self.uri} answered {put.code}: {put.payload[:80]!r}"
                        )
                    report = self._decode(await self._request(aiocoap.GET))
            except TimeoutError:
                reason = f"no answer within {self.config.timeout_s:g} s"
                self._tracker.failed(reason)
                raise DeviceUnavailable(self.name, reason) from None
            except _Failure as exc:
                self._tracker.failed(str(exc))
                raise DeviceUnavailable(self.name, str(exc)) from None
            except CoapPayloadError as exc:
                self._tracker.failed(f"corrupt read-back: {exc}")
                raise ProtocolError(self.name, f"corrupt read-back: {exc}") from None
            self._tracker.ok()
            self._wake.set()  # a supervisor in backoff re-registers at once
            self._update(report, manual=False)
            if not confirms(fields, report):
                raise CommandNotConfirmed(self.name, f"read-back {report} does not show {fields}")
            assert self._state is not None
            return self._state

    # --- observation -------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                await self._observe_once()
            except (_Failure, CoapPayloadError) as exc:
                self._tracker.failed(str(exc))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._tracker.backoff.next()):
                        await self._wake.wait()

    async def _observe_once(self) -> None:
        """Register, take the first answer as a liveness proof, then listen to
        notifications until it is time to re-register."""
        assert self._context is not None
        request = self._context.request(aiocoap.Message(code=aiocoap.GET, uri=self.uri, observe=0))
        try:
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    first = await request.response
            except TimeoutError:
                raise _Failure(f"no answer within {self.config.timeout_s:g} s") from None
            except (aiocoap.error.Error, OSError) as exc:
                raise _Failure(f"{type(exc).__name__}: {exc}") from None
            if not first.code.is_successful():
                raise _Failure(f"GET {self.uri} answered {first.code}")
            report = self._decode(first)  # a corrupt answer is a failed exchange
            self.registrations += 1
            self._tracker.ok()
            # A difference found on re-registration is a change we did not make (the wall
            # switch while the observation was lost).
            self._update(report, manual=not self._lock.locked())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.reregister_s):
                    try:
                        async for notification in request.observation:
                            self._on_notification(notification)
                    except aiocoap.error.Error as exc:
                        log.debug("observation_ended", device=self.name, error=str(exc))
                    # The server ended the observation (or never supports it): carry on
                    # at the re-registration pace rather than spin.
                    await asyncio.sleep(self.reregister_s)
        finally:
            with contextlib.suppress(Exception):
                if not request.observation.cancelled:
                    request.observation.cancel()

    def _on_notification(self, message: aiocoap.Message) -> None:
        try:
            report = self._decode(message)
        except CoapPayloadError as exc:
            if not self._notify_logged:  # a corrupt push is logged once and ignored
                self._notify_logged = True
                log.warning("malformed_notification_ignored", device=self.name, error=str(exc))
            return
        self._notify_logged = False
        self._tracker.ok()
        self._update(report, manual=not self._lock.locked())

    async def _request(self, code: aiocoap.Code, payload: bytes = b"") -> aiocoap.Message:
        assert self._context is not None
        message = aiocoap.Message(code=code, uri=self.uri, payload=payload)
        if payload:
            message.opt.content_format = CONTENT_FORMAT_JSON
        try:
            response: aiocoap.Message = await self._context.request(message).response
        except (aiocoap.error.Error, OSError) as exc:
            raise _Failure(f"{type(exc).__name__}: {exc}") from None
        return response

    def _decode(self, message: aiocoap.Message) -> CoapLightReport:
        if not message.code.is_successful():
            raise _Failure(f"{self.uri} answered {message.code}")
        return decode_light(message.payload, self.config.dimmer_max)

    def _update(self, report: CoapLightReport, *, manual: bool) -> None:
        state = report.to_state(self.config.dimmer_max, self._hint_k)
        extra: dict[str, Any] = {}
        if report.on_time_s is not None:
            extra["on_time_s"] = report.on_time_s
        if report.energy_wh is not None:
            extra["energy_wh"] = report.energy_wh
        previous, self._state, self._extra = self._state, state, extra
        if previous != state:
            self._emit(manual=manual and previous is not None)

    def _emit(self, *, manual: bool = False) -> None:
        update = DeviceUpdate(
            device=self.name,
            availability=self._tracker.state,
            state=self._state,
            manual=manual,
            extra=dict(self._extra),
        )
        self._listeners.emit(update)


def create(name: str, config: CoapLightConfig, clock: Clock | None = None) -> CoapLight:
    """Build the driver for one `[devices.<name>]` table with `driver = "coap_light"`."""
    return CoapLight(name, config, clock)
