"""Checking a room file's Zigbee2MQTT devices against the bridge's own list (pure, no I/O).

Zigbee2MQTT publishes, retained, `<base>/bridge/devices`: every paired device with its
friendly name and `definition.exposes` (what it reports and takes). A room file that names
a device the bridge does not have, or calls a contact sensor a light, would otherwise only
show as commands that never confirm; checked against the list, the problem is named:

    devices = parse_devices(payload)               # friendly name -> entry
    check_device(config, devices)                  # None, or what is wrong, for people
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from drivers.config import Z2mConfig

# What each capability needs among a definition's exposes (types or properties).
SENSOR_PROPERTIES = frozenset({"occupancy", "contact", "action", "temperature", "humidity"})


class InventoryError(ValueError):
    """`bridge/devices` is not the list Zigbee2MQTT publishes."""


def parse_devices(payload: bytes) -> dict[str, Mapping[str, Any]]:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise InventoryError(f"bridge/devices is not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise InventoryError(f"bridge/devices is a JSON {type(doc).__name__}, expected a list")
    devices: dict[str, Mapping[str, Any]] = {}
    for entry in doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("friendly_name"), str):
            raise InventoryError("bridge/devices has an entry without a friendly_name")
        devices[entry["friendly_name"]] = entry
    return devices


def exposed(entry: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(expose types such as "light"/"cover"/"lock", property names) of a device."""
    definition = entry.get("definition")
    exposes = definition.get("exposes") if isinstance(definition, dict) else None
    types: set[str] = set()
    properties: set[str] = set()

    def walk(items: Iterable[Any]) -> None:
        for item in items:
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("type"), str):
                types.add(item["type"])
            if isinstance(item.get("property"), str):
                properties.add(item["property"])
            if isinstance(item.get("features"), list):
                walk(item["features"])

    walk(exposes if isinstance(exposes, list) else [])
    return types, properties


def check_device(config: Z2mConfig, devices: Mapping[str, Mapping[str, Any]]) -> str | None:
    """What is wrong with `config` given the bridge's devices, or None."""
    name = config.friendly_name
    entry = devices.get(name)
    if entry is None:
        known = sorted(n for n, e in devices.items() if e.get("type") != "Coordinator")
        listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        return (
            f"zigbee2mqtt has no device {name!r} (bridge/devices lists: {listed or 'none'}); "
            "check friendly_name in the room file"
        )
    if entry.get("disabled") is True:
        return f"zigbee2mqtt has {name!r} disabled"
    types, properties = exposed(entry)
    definition = entry.get("definition")
    model = definition.get("model") if isinstance(definition, dict) else None
    shown = ", ".join(sorted(properties)) or "nothing"
    what = f"{name!r} ({model or 'no definition'}, exposes {shown})"
    if config.capability == "light" and "light" not in types:
        return f'{what} is not a light; the room file says capability = "light"'
    if config.capability == "cover" and "cover" not in types:
        return f'{what} is not a cover; the room file says capability = "cover"'
    if config.capability == "sensor":
        if config.contact is not None and "contact" not in properties:
            return f"{what} has no contact; the room file says contact = {config.contact!r}"
        if "lock" not in types and not properties & SENSOR_PROPERTIES:
            return f"{what} reports nothing a sensor driver reads"
    return None
