"""The CoAP resources of the simulated lamp: the IPSO object, each IPSO resource, and
`/.well-known/core`, with the content negotiation a LwM2M device does.

    /.well-known/core   RFC 6690 link format (40): every path with rt, ct, if, obs
    /3311/0             the object instance as one JSON body (50; the driver's dialects)
    /3311/0/5850        On/Off      text/plain "0"/"1" (0) or JSON true/false (50), rw
    /3311/0/5851        Dimmer      0..dimmer_max, rw
    /3311/0/5711        Colour temperature in mireds, 153..454 (a white-spectrum bulb), rw
    /3311/0/5852        On time (s), read-only
    /3311/0/5805        Cumulative active power (Wh), read-only

Every path answers GET, Observe and (where writable) PUT. An Accept the resource cannot
produce is 4.06 Not Acceptable; a PUT whose Content-Format it cannot read is 4.15; a value
of the wrong type or out of range is 4.00 with a diagnostic payload naming the resource —
nothing is clamped or silently ignored; a PUT to a read-only resource is 4.05.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiocoap
import aiocoap.resource

TEXT, LINK_FORMAT, JSON = 0, 40, 50


class BadValue(ValueError):
    """A value a resource refuses; the message is the 4.00's diagnostic payload."""


@dataclass(frozen=True)
class ResourceSpec:
    rid: str
    name: str
    kind: type  # bool, int or float
    writable: bool
    low: float | None = None
    high: float | None = None

    def check(self, value: object) -> bool | int | float:
        """The value as this resource's type, or BadValue: no coercion, no clamping."""
        what = f"{self.rid} ({self.name})"
        if self.kind is bool:
            if value is True or value is False:
                return value
            if value in (0, 1) and isinstance(value, int):
                return bool(value)
            raise BadValue(f"{what} takes a boolean (true/false or 0/1), not {value!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue(f"{what} takes a number, not {value!r}")
        if not math.isfinite(value):
            raise BadValue(f"{what}: {value!r} is not a finite number")
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise BadValue(f"{what} takes a whole number, not {value!r}")
            value = int(value)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise BadValue(f"{what}: {value!r} is outside {self.low:g}..{self.high:g}")
        return value

    def parse_text(self, payload: bytes) -> bool | int | float:
        """LwM2M plain text: booleans are "0"/"1", numbers in decimal."""
        try:
            text = payload.decode("ascii").strip()
        except UnicodeDecodeError:
            raise BadValue(f"{self.rid}: the text body is not ASCII") from None
        if self.kind is bool:
            if text not in ("0", "1"):
                raise BadValue(f"{self.rid} ({self.name}) takes 0 or 1 as text, not {text!r}")
            return text == "1"
        try:
            number: float = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise BadValue(f"{self.rid} ({self.name}): {text!r} is not a number") from None
        return self.check(number)


def lamp_resources(dimmer_max: int, mireds: tuple[int, int]) -> dict[str, ResourceSpec]:
    return {
        "5850": ResourceSpec("5850", "On/Off", bool, True),
        "5851": ResourceSpec("5851", "Dimmer", int, True, 0, dimmer_max),
        "5711": ResourceSpec("5711", "Colour temperature", int, True, *mireds),
        "5852": ResourceSpec("5852", "On time", int, False, 0, None),
        "5805": ResourceSpec("5805", "Cumulative active power", float, False, 0, None),
        # Transition time, write-only in the driver's Tradfri dialect (tenths of a second).
        "5712": ResourceSpec("5712", "Transition time", float, True, 0, 36000),
    }


class Lamp(Protocol):
    """What the resources need from the simulated lamp."""

    resources: dict[str, ResourceSpec]

    async def gate(self) -> None: ...

    def fields(self) -> dict[str, Any]: ...

    def body(self) -> bytes: ...

    def write(self, payload: bytes) -> None:
        """Apply an object body; BadValue to refuse it (nothing applied)."""
        ...

    def write_values(self, values: Mapping[str, object]) -> None: ...


def diagnostic(code: aiocoap.Code, text: str) -> aiocoap.Message:
    return aiocoap.Message(code=code, payload=text.encode()[:200], content_format=TEXT)


def not_acceptable(accept: int, offered: tuple[int, ...]) -> aiocoap.Message:
    return diagnostic(
        aiocoap.NOT_ACCEPTABLE, f"cannot produce content-format {accept}; offers {offered}"
    )


class ObjectResource(aiocoap.resource.ObservableResource):  # type: ignore[misc]
    """/3311/<instance>: every resource as one JSON body (the driver's dialects)."""

    rt = "oma.lwm2m.3311"
    ct = str(JSON)

    def __init__(self, lamp: Lamp, count: Callable[[], None]) -> None:
        super().__init__()
        self.lamp, self.count = lamp, count

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        await self.lamp.gate()
        self.count()
        accept = request.opt.accept
        if accept is not None and int(accept) != JSON:
            return not_acceptable(int(accept), (JSON,))
        return aiocoap.Message(payload=self.lamp.body(), content_format=JSON)

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        await self.lamp.gate()
        self.count()
        fmt = request.opt.content_format
        if fmt is not None and int(fmt) != JSON:
            return diagnostic(
                aiocoap.UNSUPPORTED_CONTENT_FORMAT, f"content-format {int(fmt)}: send JSON (50)"
            )
        try:
            self.lamp.write(request.payload)
        except BadValue as exc:
            return diagnostic(aiocoap.BAD_REQUEST, str(exc))
        return aiocoap.Message(code=aiocoap.CHANGED)


class ValueResource(aiocoap.resource.ObservableResource):  # type: ignore[misc]
    """/3311/<instance>/<resource>: one value, as LwM2M plain text or a JSON scalar."""

    def __init__(self, lamp: Lamp, spec: ResourceSpec, count: Callable[[], None]) -> None:
        super().__init__()
        self.lamp, self.spec, self.count = lamp, spec, count
        self.rt = f"oma.lwm2m.3311.{spec.rid}"
        self.ct = f"{TEXT} {JSON}"
        self.if_ = "core.a" if spec.writable else "core.s"  # actuator / sensor

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        await self.lamp.gate()
        self.count()
        accept = TEXT if request.opt.accept is None else int(request.opt.accept)
        if accept not in (TEXT, JSON):
            return not_acceptable(accept, (TEXT, JSON))
        value = self.lamp.fields()[self.spec.rid]
        if accept == JSON:
            payload = json.dumps(value).encode()
        elif isinstance(value, bool):
            payload = b"1" if value else b"0"
        else:
            payload = str(value).encode()
        return aiocoap.Message(payload=payload, content_format=accept)

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        await self.lamp.gate()
        self.count()
        if not self.spec.writable:
            return diagnostic(aiocoap.METHOD_NOT_ALLOWED, f"{self.spec.rid} is read-only")
        fmt = TEXT if request.opt.content_format is None else int(request.opt.content_format)
        try:
            if fmt == TEXT:
                value = self.spec.parse_text(request.payload)
            elif fmt == JSON:
                try:
                    doc = json.loads(request.payload)
                except (ValueError, RecursionError):
                    raise BadValue(f"{self.spec.rid}: the body is not JSON") from None
                value = self.spec.check(doc)
            else:
                return diagnostic(
                    aiocoap.UNSUPPORTED_CONTENT_FORMAT,
                    f"content-format {fmt}: send text/plain (0) or JSON (50)",
                )
            self.lamp.write_values({self.spec.rid: value})
        except BadValue as exc:
            return diagnostic(aiocoap.BAD_REQUEST, str(exc))
        return aiocoap.Message(code=aiocoap.CHANGED)


def build_site(
    lamp: Lamp, instance: int, count: Callable[[], None]
) -> tuple[aiocoap.resource.Site, list[aiocoap.resource.ObservableResource]]:
    """The lamp's site and its observable resources (to notify on every change)."""
    site = aiocoap.resource.Site()
    observable: list[aiocoap.resource.ObservableResource] = []
    obj = ObjectResource(lamp, count)
    site.add_resource(["3311", str(instance)], obj)
    observable.append(obj)
    for rid, spec in lamp.resources.items():
        if rid == "5712":
            continue  # write-only in a body, not a resource of its own here
        resource = ValueResource(lamp, spec, count)
        site.add_resource(["3311", str(instance), rid], resource)
        observable.append(resource)
    site.add_resource(
        [".well-known", "core"],
        aiocoap.resource.WKCResource(site.get_resources_as_linkheader, impl_info=None),
    )
    return site, observable
