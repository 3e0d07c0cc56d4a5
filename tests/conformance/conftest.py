"""The devices under test: the rig's simulators, started as an integrator would (`smartroom
rig` in its own process, stable serial link, its own broker), or real devices named by the
SMARTROOM_CONFORMANCE_* environment variables (conformance_peers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance_peers import (
    Bench,
    CoapTarget,
    ModbusTarget,
    Z2mTarget,
    env_coap,
    env_modbus,
    env_z2m,
    require_peers,
)

from drivers.modbus_serial import Framing
from firmware_mocks.coap_light import free_udp_port
from firmware_mocks.rig import dump_toml

ROOT = Path(__file__).resolve().parents[2]


def _room(coap_port: int) -> dict[str, object]:
    return {
        "room": {"property_id": "CONF", "room_id": "0001"},
        "mqtt": {"host": "auto"},
        "devices": {
            "hvac": {"driver": "modbus_hvac", "port": "/dev/ttyUSB0", "unit": 1},
            "hvac2": {"driver": "modbus_hvac", "port": "/dev/ttyUSB0", "unit": 2},
            "ceiling": {"driver": "coap_light", "host": "127.0.0.1", "port": coap_port},
            "bedside": {"driver": "z2m", "capability": "light", "friendly_name": "conf_bedside"},
            "door": {"driver": "z2m", "capability": "sensor", "friendly_name": "conf_door"},
        },
    }


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    require_peers()
    modbus, coap, z2m = env_modbus(), env_coap(), env_z2m()
    proc: subprocess.Popen[bytes] | None = None
    work = tmp_path_factory.mktemp("conformance")
    log = (work / "rig.log").open("wb")
    if modbus is None or coap is None or z2m is None:
        room_path, written = work / "room.toml", work / "rig-room.toml"
        room_path.write_text(dump_toml(_room(free_udp_port())), encoding="utf-8")
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "smartroom"), "rig",
                "--room", str(room_path),
                "--write-room", str(written),
                "--serial-dir", str(work / "serial"),
                "--speed", "0",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not written.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                log.close()
                out = (work / "rig.log").read_text(errors="replace")
                raise RuntimeError(f"the rig did not start:\n{out}")
            time.sleep(0.05)
        time.sleep(0.5)  # the MQTT devices publish their first state after connecting
        room = tomllib.loads(written.read_text(encoding="utf-8"))
        devices = room["devices"]
        modbus = modbus or ModbusTarget(devices["hvac"]["port"], 1, 2, Framing(9600), "smt131")
        coap = coap or CoapTarget(f"coap://127.0.0.1:{devices['ceiling']['port']}/3311/0")
        z2m = z2m or Z2mTarget(
            room["mqtt"]["host"], room["mqtt"]["port"], "zigbee2mqtt", "conf_bedside", "conf_door"
        )
    try:
        yield Bench(modbus, coap, z2m, simulated=proc is not None)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
