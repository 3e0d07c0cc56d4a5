"""A CoAP light on loopback: an aiocoap server with an observable IPSO 3311 object.

    light = CoapLightSim("bedside", port=free_udp_port())          # IPSO JSON, dimmer 0-100
    await light.start()                     # coap://127.0.0.1:<port>/3311/0, Observe on
    await light.switch(on=False)            # the guest at the wall switch: observers notified
    light.inject(Fault.SILENT)              # requests hang, as a hung lamp's do
    await light.restart()                   # power cycle: observers are forgotten

It serves `/3311/<instance>` as a JSON body in either dialect of `drivers.coap_codec` (IPSO
`dimmer_max=100`, Tradfri-style `dimmer_max=254`), each IPSO resource at its own path, and
`/.well-known/core` (`firmware_mocks.coap_resources`); meters on-time (5852) and energy
(5805, Wh) at a rated power scaled by the dimmer; refuses what it cannot take (4.00, 4.06,
4.15) without changing anything; and refuses to start on a port something already uses.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping
from typing import Any, Literal

import aiocoap
import aiocoap.resource

from drivers.config import CoapLightConfig, MqttConfig
from firmware_mocks.base import Fault
from firmware_mocks.coap_resources import BadValue, build_site, lamp_resources
from smartroom.clock import Clock, SystemClock

JSON = 50
MIREDS = (153, 454)  # a white-spectrum bulb's colour temperature range
# What a bulb does when its supply returns (Zigbee2MQTT's `power_on_behavior` names).
PowerOnBehavior = Literal["on", "off", "previous"]
CORRUPT_BODIES = (b'{"5850": "banana"', b"\xff\xfe\x00", b'{"5850": true, "5851": 999}', b"[]")


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class PortInUse(OSError):
    """The pinned CoAP port is taken (another rig, a real server): named, not shared."""


def check_port_free(host: str, port: int) -> None:
    """aiocoap binds with SO_REUSEPORT, so a second server on a taken port would start and
    split the traffic with the first. Bind plainly first: that fails if anyone holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                exc.errno, f"CoAP port {host}:{port} is already in use ({exc.strerror})"
            ) from None


class CoapLightSim:
    def __init__(
        self,
        name: str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        instance: int = 0,
        dimmer_max: int = 100,
        rated_w: float = 9.0,
        clock: Clock | None = None,
        power_on_behavior: PowerOnBehavior = "on",
    ) -> None:
        if dimmer_max not in (100, 254):
            raise ValueError("dimmer_max is 100 (IPSO) or 254 (Tradfri)")
        self.power_on_behavior = power_on_behavior
        self.name = name
        self.host = host
        self.port = port or free_udp_port(host)
        self.instance = instance
        self.dimmer_max = dimmer_max
        self.rated_w = rated_w
        self.fault = Fault.NONE
        self.delay_s = 1.0
        self.on = False
        self.dimmer = dimmer_max
        self.mireds = 370
        self.requests = 0
        self._clock = clock or SystemClock()
        self._energy_wh = 0.0
        self._on_since: float | None = None
        self._metered_at = self._clock.monotonic()
        self.resources = lamp_resources(dimmer_max, MIREDS)
        self._context: aiocoap.Context | None = None
        self._observable: list[aiocoap.resource.ObservableResource] = []
        self._corrupt_index = 0
        self._unsilenced = asyncio.Event()
        self._unsilenced.set()

    @property
    def path(self) -> str:
        return f"/3311/{self.instance}"

    def describe(self) -> str:
        return (
            f"coap light on coap://{self.host}:{self.port}{self.path} (dimmer 0-{self.dimmer_max})"
        )

    async def start(self) -> None:
        if self._context is not None:
            return
        check_port_free(self.host, self.port)
        site, self._observable = build_site(self, self.instance, self._count)
        self._context = await aiocoap.Context.create_server_context(
            site, bind=(self.host, self.port), transports=["udp6"]
        )

    async def stop(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            await context.shutdown()

    async def restart(self, down_s: float = 0.2) -> None:
        """A power cycle: the server forgets every observer and the lamp comes back in its
        power-on state (`power_on_behavior`)."""
        await self.power_off()
        await asyncio.sleep(down_s)
        await self.power_on()

    async def power_off(self) -> None:
        await self.stop()

    async def power_on(self) -> None:
        """Back as the bulb boots: `power_on_behavior` "on" (full, as most bulbs ship),
        "off", or "previous" (the state it had); on-time and the energy meter start at 0."""
        if self.power_on_behavior == "on":
            self.on, self.dimmer = True, self.dimmer_max
        elif self.power_on_behavior == "off":
            self.on = False
        self._on_since = self._clock.monotonic() if self.on else None
        self._energy_wh = 0.0
        self._metered_at = self._clock.monotonic()
        await self.start()

    def _count(self) -> None:
        self.requests += 1

    def notify(self) -> None:
        """Tell every observer of every path (the object and each resource)."""
        for resource in self._observable:
            resource.updated_state()

    def inject(self, fault: Fault, *, delay_s: float = 1.0) -> None:
        self.fault, self.delay_s = fault, delay_s
        if fault is Fault.SILENT:
            self._unsilenced.clear()
        else:
            self._unsilenced.set()

    async def gate(self) -> None:
        if self.fault is Fault.SLOW:
            await asyncio.sleep(self.delay_s)
        if self.fault is Fault.SILENT:  # answer nothing until the fault is cleared
            await self._unsilenced.wait()

    # --- state ---------------------------------------------------------------------------

    def _meter(self) -> None:
        now = self._clock.monotonic()
        if self.on:
            self._energy_wh += (
                self.rated_w * self.dimmer / self.dimmer_max * (now - self._metered_at) / 3600
            )
        self._metered_at = now

    def fields(self) -> dict[str, Any]:
        self._meter()
        on_time = 0 if self._on_since is None else int(self._clock.monotonic() - self._on_since)
        return {
            "5850": self.on,
            "5851": self.dimmer,
            "5711": self.mireds,
            "5852": on_time,
            "5805": round(self._energy_wh, 4),
        }

    def body(self) -> bytes:
        if self.fault is Fault.CORRUPT:
            self._corrupt_index += 1
            return CORRUPT_BODIES[self._corrupt_index % len(CORRUPT_BODIES)]
        fields = self.fields()
        if self.dimmer_max == 254:
            fields["5850"] = int(fields["5850"])
            return json.dumps({"3311": [fields]}).encode()
        return json.dumps(fields).encode()

    def write(self, payload: bytes) -> None:
        """Apply a JSON object body (this lamp's dialect); BadValue names what is wrong and
        nothing is applied."""
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            raise BadValue("the body is not JSON") from None
        if self.dimmer_max == 254:
            if (
                not isinstance(doc, dict)
                or not isinstance(doc.get("3311"), list)
                or not doc["3311"]
            ):
                raise BadValue('a Tradfri-style body is {"3311": [{...}]}')
            doc = doc["3311"][0]
        if not isinstance(doc, dict):
            raise BadValue(f"the body is a JSON {type(doc).__name__}, expected an object")
        self.write_values(doc)

    def write_values(self, values: Mapping[str, object]) -> None:
        checked: dict[str, bool | int | float] = {}
        for rid, value in values.items():
            spec = self.resources.get(rid)
            if spec is None:
                raise BadValue(f"{rid} is not a resource of 3311 on this lamp")
            if not spec.writable:
                raise BadValue(f"{rid} ({spec.name}) is read-only")
            checked[rid] = spec.check(value)
        self._meter()  # all or nothing: every value was checked before any is applied
        if "5850" in checked:
            self._set_on(bool(checked["5850"]))
        if "5851" in checked:
            self.dimmer = int(checked["5851"])
        if "5711" in checked:
            self.mireds = int(checked["5711"])
        self.notify()

    def _set_on(self, on: bool) -> None:
        if on and not self.on:
            self._on_since = self._clock.monotonic()
        if not on:
            self._on_since = None
        self.on = on

    async def switch(self, on: bool, dimmer: int | None = None) -> None:
        """The guest at the wall switch: state changes and observers are notified."""
        self._meter()
        self._set_on(on)
        if dimmer is not None:
            self.dimmer = dimmer
        self.notify()

    async def apply_event(self, action: str, value: object) -> bool:
        """A rig scenario event: `light` with on/off or a level 0-100 (scaled to this
        lamp's dimmer range). False for actions a lamp does not model."""
        if action != "light":
            return False
        if isinstance(value, int) and not isinstance(value, bool):
            level = max(0, min(100, value))
            dimmer = level if self.dimmer_max == 100 else round(level * 254 / 100)
            await self.switch(on=level > 0, dimmer=dimmer if level > 0 else None)
            return True
        await self.switch(on=str(value).lower() in ("on", "true", "1", "yes"))
        return True


def from_config(name: str, cfg: CoapLightConfig, mqtt: MqttConfig) -> CoapLightSim:
    """The simulator for one `[devices.<name>]` table with `driver = "coap_light"`: a server
    of its own on `cfg.host:cfg.port` (so two lights need two ports)."""
    del mqtt
    return CoapLightSim(
        name, host=cfg.host, port=cfg.port, instance=cfg.instance, dimmer_max=cfg.dimmer_max
    )
