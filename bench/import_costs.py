"""What each library costs the agent process: resident memory and import time, each in a
fresh interpreter, and whether a room's `smartroom-agent run` loads it at all.

    rows = import_costs(env)            # [(library, what uses it, MB, ms)], fresh processes
    loaded = room_imports(env, devices) # top-level packages the agent's start-up imports

Used by bench/agent_footprint.py; run alone for the table only:

    ./dev python -m bench.import_costs
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

# (import, the top-level package it loads, who in the agent needs it)
LIBRARIES = (
    ("numpy", "numpy", "comfort model (features, advisor)"),
    ("ai_edge_litert.interpreter", "ai_edge_litert", "comfort model (the TFLite interpreter)"),
    ("aiomqtt", "aiomqtt", "the room's MQTT session (status; Zigbee2MQTT and speaker devices)"),
    ("httpx", "httpx", "central sync client (only with `[central] url`)"),
    ("pymodbus.client", "pymodbus", "Modbus thermostat driver (only with such a device)"),
    ("aiocoap", "aiocoap", "CoAP light driver (only with such a device)"),
    (
        "cryptography.hazmat.primitives.ciphers.aead",
        "cryptography",
        "sealed stay secrets, room keys (with the first secret or key)",
    ),
    ("prometheus_client", "prometheus_client", "`/metrics`"),
    ("structlog", "structlog", "logging"),
    ("pydantic", "pydantic", "config and wire models"),
    ("h11", "h11", "the local HTTP API"),
    ("sync.wire", "sync", "the wire models themselves (33 pydantic classes)"),
)

_RSS = (
    "import pathlib\n"
    "def rss():\n"
    "    for line in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
    "        if line.startswith('VmRSS'):\n"
    "            return int(line.split()[1])\n"
)


def process_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment with `env` on top. With a bytecode cache in `env`
    (PYTHONPYCACHEPREFIX, as the agent's unit sets one) a shell's PYTHONDONTWRITEBYTECODE is
    dropped: systemd does not pass it, and without the cache every module is compiled from
    source, whose garbage would be counted as the module's cost."""
    out = {**os.environ, **env}
    if "PYTHONPYCACHEPREFIX" in env:
        out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def _run(code: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *extra, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=process_env(env),
    )


def import_costs(env: dict[str, str]) -> list[tuple[str, str, float, float]]:
    """Per library: RSS added by importing it into a bare interpreter (MB) and its
    cumulative import time (ms, `-X importtime`). They overlap (asyncio, ssl, typing are
    shared), so the rows do not add up to the agent's total."""
    rows = []
    for module, top, why in LIBRARIES:
        code = _RSS + f"a = rss()\nimport {module}\nprint(a, rss())"
        _run(code, env)  # fills the bytecode cache, if env has one: measured from the next
        done = _run(code, env, "-X", "importtime")
        before, after = (int(v) for v in done.stdout.split())
        micros = 0
        for line in done.stderr.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] == module:
                micros = int(parts[1])
        rows.append((top, why, (after - before) / 1024, micros / 1000))
    return rows


_CENTRAL = "from sync.client import SyncClient; SyncClient('https://central', 'k')\n"


def room_imports(env: dict[str, str], devices: dict[str, Any], *, central: bool) -> set[str]:
    """The top-level packages loaded by `run`'s imports, the comfort model and building the
    room's drivers (what the agent holds before its first step)."""
    code = (
        "import json, sys\n"
        "from agent.cli import _skip_optional; _skip_optional()\n"
        "from agent.config import parse_room_config\n"
        "from agent.preferences import PreferenceResolver\n"
        "import agent.app\n"
        "from drivers.registry import build_room\n"
        f"data = json.loads({json.dumps(json.dumps(devices))})\n"
        "config = parse_room_config({'room': {'property_id': 'P', 'room_id': '1'},"
        " 'mqtt': {'host': '127.0.0.1', 'port': 1}, 'devices': data,"
        " 'store': {'path': '/nonexistent/agent.db'}}, source='bench')\n"
        "PreferenceResolver.create(config)\n"
        "build_room(config.devices, mqtt=config.mqtt, client_id='bench', session=True)\n"
        + (_CENTRAL if central else "")
        + "print(json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() if v})))"
    )
    return set(json.loads(_run(code, env).stdout.strip().splitlines()[-1]))


def table(rows: list[tuple[str, str, float, float]], loaded: set[str]) -> str:
    out = [
        "| library | what in the agent needs it | RSS alone (MB) | import (ms) "
        "| loaded by the bench room |",
        "|---|---|---:|---:|---|",
    ]
    for top, why, mb, ms in sorted(rows, key=lambda r: -r[2]):
        used = "yes" if top in loaded else "no"
        out.append(f"| `{top}` | {why} | {mb:.1f} | {ms:.0f} | {used} |")
    return "\n".join(out)


def main() -> None:
    from bench.agent_footprint import unit_environment
    from firmware_mocks.standard_room import standard_devices

    with tempfile.TemporaryDirectory(prefix="import-costs-pycache-") as cache:
        env = {**unit_environment(), "PYTHONPYCACHEPREFIX": cache}
        print(table(import_costs(env), room_imports(env, standard_devices("102"), central=False)))


if __name__ == "__main__":
    main()
