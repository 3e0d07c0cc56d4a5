"""A whole room from its config: one MQTT connection, every driver, against simulators."""

from __future__ import annotations

import asyncio
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from polling import eventually
from pydantic import TypeAdapter

from drivers.base import ClimateCommand, DeviceUnavailable, LightCommand, MediaCommand
from drivers.coap_light import CoapLight
from drivers.config import DeviceConfig, MqttConfig
from drivers.mqtt_audio import MqttSpeaker
from drivers.registry import build_device, build_room, read_password
from drivers.z2m import Z2mLight, Z2mSensor
from firmware_mocks import coap_light, speaker, z2m_devices
from firmware_mocks.base import Fault
from firmware_mocks.coap_light import free_udp_port
from firmware_mocks.ptypair import PtyPair
from firmware_mocks.thermostat import ModbusLine, ThermostatSimulator
from smartroom.clock import FakeClock
from smartroom.services import MosquittoBroker
from smartroom.settings import ConfigError

DEVICES = TypeAdapter(dict[str, DeviceConfig])


def room_toml(coap_ports: list[int], tag: str) -> str:
    lights = "\n".join(
        f'[devices.lamp{i}]\ndriver = "coap_light"\nport = {port}\ntimeout_s = 1.0\n'
        f"dimmer_max = {100 if i % 2 else 254}\n"
        for i, port in enumerate(coap_ports)
    )
    zlights = "\n".join(
        f'[devices.bulb{i}]\ndriver = "z2m"\ncapability = "light"\n'
        f'friendly_name = "{tag}_bulb{i}"\ntimeout_s = 1.0\n'
        for i in range(4)
    )
    return f"""
{lights}
{zlights}
[devices.door]
driver = "z2m"
capability = "sensor"
friendly_name = "{tag}_door"

[devices.speaker]
driver = "mqtt_audio"
speaker_id = "{tag}_spk"
timeout_s = 1.0
"""


async def test_a_room_of_ten_commanded_at_once_with_one_dead_device(
    mqtt_broker: MosquittoBroker,
) -> None:
    tag = f"r{time.monotonic_ns()}"
    mqtt = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port)
    configs = DEVICES.validate_python(
        tomllib.loads(room_toml([free_udp_port() for _ in range(4)], tag))["devices"]
    )
    sims: list[Any] = []
    for name, cfg in configs.items():
        if cfg.driver == "coap_light":
            sims.append(coap_light.from_config(name, cfg, mqtt))
        elif cfg.driver == "z2m":
            sims.append(z2m_devices.from_config(name, cfg, mqtt))
        elif cfg.driver == "mqtt_audio":
            sims.append(speaker.from_config(name, cfg, mqtt))
    for sim in sims:
        await sim.start()
    room = build_room(configs, mqtt=mqtt, clock=FakeClock(), client_id=f"room-{tag}")
    assert room.mqtt is not None
    assert isinstance(room.devices["lamp0"], CoapLight)
    assert isinstance(room.devices["bulb0"], Z2mLight)
    assert isinstance(room.devices["door"], Z2mSensor)
    assert isinstance(room.devices["speaker"], MqttSpeaker)
    try:
        async with room:
            await eventually(lambda: all(d.availability.available for d in room.devices.values()))
            sims[1].inject(Fault.SILENT)  # lamp1 stops answering
            lights = [n for n in room.devices if n.startswith(("lamp", "bulb"))]
            start = time.monotonic()
            results = await asyncio.gather(
                *(room.light(n).apply(LightCommand(on=True, level_pct=55)) for n in lights),
                room.media("speaker").apply(MediaCommand(power=True, volume_pct=12)),
                return_exceptions=True,
            )
            elapsed = time.monotonic() - start
            failed = {
                n
                for n, r in zip([*lights, "speaker"], results, strict=True)
                if isinstance(r, BaseException)
            }
            assert failed == {"lamp1"}
            assert isinstance(results[1], DeviceUnavailable)
            assert elapsed < 1.8, f"9 commands + 1 dead device took {elapsed:.2f} s"
            with pytest.raises(TypeError, match="not a media"):
                room.media("lamp0")
            with pytest.raises(KeyError, match="no device"):
                room.light("minibar")
    finally:
        for sim in sims:
            sim.inject(Fault.NONE)
            await sim.stop()


def test_mqtt_devices_need_an_mqtt_table() -> None:
    configs = DEVICES.validate_python(
        {"bulb": {"driver": "z2m", "capability": "light", "friendly_name": "bulb"}}
    )
    with pytest.raises(ConfigError, match=r"(?s)devices\.bulb.*\[mqtt\]"):
        build_room(configs, mqtt=None, client_id="room-1")
    with pytest.raises(ConfigError, match="mqtt"):
        build_device("bulb", configs["bulb"], mqtt=None, clock=FakeClock())


def test_a_room_without_mqtt_devices_opens_no_connection() -> None:
    configs = DEVICES.validate_python({"lamp": {"driver": "coap_light", "port": 5683}})
    room = build_room(configs, mqtt=MqttConfig(), client_id="room-1")
    assert room.mqtt is None and isinstance(room.devices["lamp"], CoapLight)


def test_password_comes_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.pass"
    secret.write_text("s3cret\n", encoding="utf-8")
    assert read_password(MqttConfig(username="agent", password_file=str(secret))) == "s3cret"
    assert read_password(MqttConfig()) is None
    with pytest.raises(ConfigError, match="password_file"):
        read_password(MqttConfig(password_file=str(tmp_path / "missing")))


def test_bad_device_tables_are_explained() -> None:
    with pytest.raises(ValueError, match="dimmer_max"):
        DEVICES.validate_python({"lamp": {"driver": "coap_light", "dimmer_max": 255}})
    with pytest.raises(ValueError, match="friendly_name"):
        DEVICES.validate_python({"bulb": {"driver": "z2m", "capability": "light"}})


async def test_thermostats_on_one_line_share_the_rooms_bus(
    pty_pair: PtyPair, clock: FakeClock
) -> None:
    line = ModbusLine(pty_pair.a, speed=0, clock=clock)
    sims = [ThermostatSimulator(f"hvac{u}", line, unit=u) for u in (1, 2)]
    for sim in sims:
        await sim.start()
    configs = DEVICES.validate_python(
        {
            f"hvac{u}": {"driver": "modbus_hvac", "port": pty_pair.b, "unit": u, "timeout_s": 1}
            for u in (1, 2)
        }
    )
    room = build_room(configs, mqtt=None, clock=clock, client_id="room-hvac")
    assert room.mqtt is None
    try:
        async with room:
            await eventually(lambda: all(d.availability.available for d in room.devices.values()))
            states = await asyncio.gather(
                room.climate("hvac1").apply(ClimateCommand(setpoint_c=23.5)),
                room.climate("hvac2").apply(ClimateCommand(setpoint_c=19.0)),
            )
            assert [s.setpoint_c for s in states] == [23.5, 19.0]
    finally:
        for sim in sims:
            await sim.stop()
