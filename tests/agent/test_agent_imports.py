"""What the agent process loads is what the room uses: a protocol or crypto library is
imported by the first device, client or secret that needs it, never by the agent's own
modules (resident memory on a Pi: docs/benchmarks.md, agent-footprint)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "aiocoap",
    "pymodbus",
    "serial",
    "httpx",
    "cryptography",
    "aiomqtt",
    "numpy",
    "ai_edge_litert",
)

_PROBE = """
import json, sys
from pathlib import Path
from agent.cli import _skip_optional; _skip_optional()
import agent.app, agent.cli
from agent.config import parse_room_config
from agent.presence.sealing import Sealer
from drivers.registry import build_room
heavy = {heavy!r}
seen = {{}}
def loaded(step):
    seen[step] = sorted(m for m in heavy if sys.modules.get(m) is not None)
loaded("modules")
config = parse_room_config({{
    "room": {{"property_id": "P", "room_id": "1"}},
    "mqtt": {{"host": "127.0.0.1", "port": 1}},
    "devices": {{"lamp": {{"driver": "z2m", "capability": "light", "friendly_name": "l"}}}},
    "store": {{"path": {store!r}}},
}}, source="t")
build_room(config.devices, mqtt=config.mqtt, client_id="t", session=True)
sealer = Sealer.from_file(Path({key!r}))
loaded("z2m room, device key")
sealer.open(sealer.seal(b"s", name="n"), name="n")
loaded("a secret sealed")
other = parse_room_config({{
    "room": {{"property_id": "P", "room_id": "1"}},
    "devices": {{"hvac": {{"driver": "modbus_hvac", "port": "/dev/null"}},
                 "ceiling": {{"driver": "coap_light"}}}},
    "store": {{"path": {store!r}}},
}}, source="t")
build_room(other.devices, mqtt=None, client_id="t")
loaded("modbus and coap devices")
from sync.client import SyncClient
SyncClient("http://127.0.0.1:1", "key")
loaded("a central client")
from agent.preferences import PreferenceResolver
PreferenceResolver.create(config)
loaded("the comfort model")
print(json.dumps(seen))
"""


def test_libraries_load_with_the_first_thing_that_uses_them(tmp_path: Path) -> None:
    code = _PROBE.format(
        heavy=HEAVY, store=str(tmp_path / "agent.db"), key=str(tmp_path / "device.key")
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # The agent's status goes out on the room's MQTT session: aiomqtt is always there.
    assert seen["modules"] == ["aiomqtt"]
    assert seen["z2m room, device key"] == ["aiomqtt"]
    assert seen["a secret sealed"] == ["aiomqtt", "cryptography"]
    assert seen["modbus and coap devices"] == [
        "aiocoap",
        "aiomqtt",
        "cryptography",
        "pymodbus",
        "serial",
    ]
    assert seen["a central client"] == sorted(set(HEAVY) - {"numpy", "ai_edge_litert"})
    # The comfort model (numpy, LiteRT) loads with the model, not with agent.comfort's rules.
    assert seen["the comfort model"] == sorted(HEAVY)
