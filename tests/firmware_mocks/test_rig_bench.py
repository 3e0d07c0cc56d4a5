"""The rig as a bench tool: power-cycling one device, running one device alone (`only`),
and a stable serial path that survives a restart of the rig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from polling import eventually

from drivers.base import ClimateCommand, ClimateMode, ClimateState, DeviceUpdate
from drivers.config import CoapLightConfig, ModbusHvacConfig
from drivers.modbus_bus import BusPool
from drivers.modbus_hvac import create
from firmware_mocks.coap_light import CoapLightSim, PortInUse
from firmware_mocks.rig import Rig
from firmware_mocks.thermostat import ThermostatSimulator

ROOM: dict[str, Any] = {
    "room": {"property_id": "SHA-01", "room_id": "0102"},
    "devices": {
        "hvac": {
            "driver": "modbus_hvac",
            "port": "/dev/ttyUSB0",
            "timeout_s": 0.5,
            "poll_interval_s": 0.1,
        },
        "ceiling": {"driver": "coap_light", "port": 5683},
    },
}


async def test_power_cycle_brings_power_on_defaults_and_a_zeroed_meter() -> None:
    async with Rig(ROOM, speed=3600, free_ports=True) as rig:
        cfg = rig.device_configs["hvac"]
        assert isinstance(cfg, ModbusHvacConfig)
        sim = rig.simulators["hvac"]
        assert isinstance(sim, ThermostatSimulator)
        hvac = create("hvac", cfg, pool=BusPool())
        updates: list[DeviceUpdate] = []
        hvac.subscribe(updates.append)
        await hvac.start()
        try:
            await eventually(lambda: hvac.availability.available, what="thermostat up")
            await hvac.apply(ClimateCommand(setpoint_c=28.0, mode=ClimateMode.HEAT))
            await eventually(lambda: int(sim.values()["energy"] or 0) > 50, timeout=10)
            lamp = rig.simulators["ceiling"]
            assert isinstance(lamp, CoapLightSim)
            await lamp.switch(on=False)

            rig.lines["/dev/ttyUSB0"].speed = 0  # simulated time stands still from here
            # Down longer than a poll and its timeout, so the driver sees the outage (a
            # shorter blip may fall between two polls and look like nothing happened).
            await rig.power_cycle("hvac", down_s=1.5)
            await rig.power_cycle("ceiling", down_s=0.1)

            assert sim.controls.setpoint_c == 22.0  # its power-on setpoint
            assert sim.values()["energy"] == 0  # the meter started again from 0
            assert lamp.on and lamp.dimmer == 100  # bulbs come back on, full
            await eventually(
                lambda: hvac.state is not None and hvac.state.setpoint_c == 22.0, timeout=5
            )
            seen = [u for u in updates if isinstance(u.state, ClimateState)]
            assert seen[-1].manual is False and seen[-1].extra.get("after_outage") is True
            await rig.power_off("hvac")  # a rig may stop with a device powered off
        finally:
            await hvac.stop()
    assert not rig.lines["/dev/ttyUSB0"].running  # its line was still released


async def test_only_one_device_on_a_stable_serial_link_across_rig_restarts(
    tmp_path: Path,
) -> None:
    links = tmp_path / "serial"
    async with Rig(ROOM, speed=0, only=["hvac"], serial_dir=links) as rig:
        assert set(rig.simulators) == {"hvac"}
        ceiling = rig.device_configs["ceiling"]
        assert isinstance(ceiling, CoapLightConfig) and ceiling.port == 5683  # left alone
        cfg = rig.device_configs["hvac"]
        assert isinstance(cfg, ModbusHvacConfig)
        assert cfg.port == str(links / "ttyUSB0")
        assert (links / "ttyUSB0").resolve().is_char_device()
        hvac = create("hvac", cfg, pool=BusPool())
        await hvac.start()
        await eventually(lambda: hvac.availability.available, what="thermostat up")
    try:
        # The rig is gone (its pty with it): the driver loses the device...
        await eventually(lambda: not hvac.availability.available, timeout=10)
        async with Rig(ROOM, speed=0, only=["hvac"], serial_dir=links):
            # ...and finds it again at the same path once the rig is back.
            assert (links / "ttyUSB0").is_symlink()
            await eventually(lambda: hvac.availability.available, timeout=15, what="back")
    finally:
        await hvac.stop()
    assert not (links / "ttyUSB0").exists()  # the rig removes its link when it stops


async def test_a_pinned_coap_port_in_use_is_refused() -> None:
    first = CoapLightSim("a")
    await first.start()
    try:
        second = CoapLightSim("b", port=first.port)
        with pytest.raises(PortInUse, match=f"CoAP port 127.0.0.1:{first.port} is already in use"):
            await second.start()
        room = {**ROOM, "devices": {"ceiling": {"driver": "coap_light", "port": first.port}}}
        with pytest.raises(PortInUse):
            async with Rig(room):
                pass
    finally:
        await first.stop()
