"""The CoAP light driver against the aiocoap simulator on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import structlog.testing
from polling import eventually

from drivers.base import (
    DeviceUnavailable,
    DeviceUpdate,
    InvalidCommand,
    LightCommand,
    ProtocolError,
)
from drivers.coap_light import CoapLight
from drivers.config import CoapLightConfig, MqttConfig
from firmware_mocks.base import Fault
from firmware_mocks.coap_light import CoapLightSim, from_config
from sync.wire import Availability


class Pair:
    def __init__(self, sim: CoapLightSim, driver: CoapLight, updates: list[DeviceUpdate]) -> None:
        self.sim, self.driver, self.updates = sim, driver, updates


async def make_pair(
    dimmer_max: int = 100, timeout_s: float = 0.5, reregister_s: float = 4.0
) -> Pair:
    sim = CoapLightSim("lamp", dimmer_max=dimmer_max)
    config = CoapLightConfig(
        driver="coap_light", port=sim.port, dimmer_max=dimmer_max, timeout_s=timeout_s
    )
    await sim.start()
    driver = CoapLight("lamp", config, reregister_s=reregister_s)
    updates: list[DeviceUpdate] = []
    driver.subscribe(updates.append)
    await driver.start()
    await eventually(lambda: driver.availability.available and driver.state is not None)
    return Pair(sim, driver, updates)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    p = await make_pair()
    yield p
    await p.driver.stop()
    await p.sim.stop()


@pytest.mark.parametrize("dimmer_max", [100, 254])
async def test_put_is_confirmed_by_read_back(dimmer_max: int) -> None:
    p = await make_pair(dimmer_max=dimmer_max)
    try:
        state = await p.driver.apply(LightCommand(on=True, level_pct=40, colour_temp_k=2700))
        assert (state.on, state.level_pct, state.colour_temp_k) == (True, 40, 2700)
        assert p.sim.on and p.sim.dimmer == (40 if dimmer_max == 100 else 102)
        for level in (1, 33, 99):
            assert (await p.driver.apply(LightCommand(level_pct=level))).level_pct == level
        assert not (await p.driver.apply(LightCommand(on=False))).on
    finally:
        await p.driver.stop()
        await p.sim.stop()


async def test_wall_switch_is_pushed_by_observe_as_manual(pair: Pair) -> None:
    await pair.driver.apply(LightCommand(on=True, level_pct=60))
    pair.updates.clear()
    took = 0.0
    await pair.sim.switch(on=False)
    took = await eventually(lambda: any(u.manual for u in pair.updates), timeout=1)
    assert took < 0.5  # a push, not the next re-registration
    assert pair.driver.state is not None and not pair.driver.state.on


async def test_observation_resumes_after_the_server_restarts() -> None:
    p = await make_pair(reregister_s=1.0)
    try:
        registrations = p.driver.registrations
        await p.sim.restart()  # the server forgets its observers
        await eventually(lambda: p.driver.registrations > registrations, timeout=4)
        p.updates.clear()
        await p.sim.switch(on=True, dimmer=77)
        await eventually(lambda: any(u.manual for u in p.updates), timeout=1)
        assert p.driver.state is not None and p.driver.state.level_pct == 77
        assert p.driver.availability.available
    finally:
        await p.driver.stop()
        await p.sim.stop()


async def test_silent_lamp_is_unavailable_within_10_s_logged_once_and_recovers(
    pair: Pair,
) -> None:
    with structlog.testing.capture_logs() as logs:
        pair.sim.inject(Fault.SILENT)
        took = await eventually(
            lambda: pair.driver.availability.status is Availability.UNAVAILABLE, timeout=10
        )
        assert took < 10
        with pytest.raises(DeviceUnavailable, match="no answer"):
            await pair.driver.apply(LightCommand(on=True))
        pair.sim.inject(Fault.NONE)
        await eventually(lambda: pair.driver.availability.available, timeout=12)
    events = [e["event"] for e in logs if e.get("device") == "lamp"]
    assert events.count("device_unavailable") == 1 and events.count("device_recovered") == 1


async def test_stopped_server_is_unavailable_and_slow_answers_time_out(pair: Pair) -> None:
    pair.sim.inject(Fault.SLOW, delay_s=1.0)
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        await pair.driver.apply(LightCommand(on=True))
    assert time.monotonic() - start < 0.8  # bounded by timeout_s=0.5
    pair.sim.inject(Fault.NONE)
    await pair.sim.stop()
    with pytest.raises(DeviceUnavailable):
        await pair.driver.apply(LightCommand(on=True))
    assert pair.driver.availability.status is Availability.UNAVAILABLE
    await pair.sim.start()
    assert (await pair.driver.apply(LightCommand(on=True))).on
    await eventually(lambda: pair.driver.availability.available)


async def test_corrupt_read_back_is_a_protocol_error(pair: Pair) -> None:
    with structlog.testing.capture_logs() as logs:
        pair.sim.inject(Fault.CORRUPT)
        with pytest.raises(ProtocolError, match="corrupt read-back"):
            await pair.driver.apply(LightCommand(on=True))
        await pair.sim.switch(on=False)  # a corrupt push: logged once, ignored
        await pair.sim.switch(on=True)
        await asyncio.sleep(0.3)
    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert warnings.count("malformed_notification_ignored") == 1
    pair.sim.inject(Fault.NONE)
    assert (await pair.driver.apply(LightCommand(on=True, level_pct=5))).level_pct == 5


async def test_invalid_commands_send_nothing(pair: Pair) -> None:
    before = pair.sim.requests
    for bad in (LightCommand(level_pct=-1), LightCommand(colour_temp_k=20000), LightCommand()):
        with pytest.raises(InvalidCommand):
            await pair.driver.apply(bad)
    assert pair.sim.requests == before


async def test_energy_and_on_time_are_reported() -> None:
    p = await make_pair()
    try:
        await p.driver.apply(LightCommand(on=True, level_pct=100))
        await p.sim.switch(on=True, dimmer=50)
        await eventually(lambda: any("energy_wh" in u.extra for u in p.updates))
    finally:
        await p.driver.stop()
        await p.sim.stop()


async def test_ten_lamps_one_silent_finish_in_about_one_timeout() -> None:
    pairs = [await make_pair(timeout_s=1.0) for _ in range(10)]
    try:
        pairs[7].sim.inject(Fault.SILENT)
        start = time.monotonic()
        results = await asyncio.gather(
            *(p.driver.apply(LightCommand(on=True, level_pct=30)) for p in pairs),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - start
        assert isinstance(results[7], DeviceUnavailable)
        assert sum(isinstance(r, BaseException) for r in results) == 1
        assert elapsed < 1.8, f"took {elapsed:.2f} s"
    finally:
        for p in pairs:
            p.sim.inject(Fault.NONE)
            await p.driver.stop()
            await p.sim.stop()


def test_from_config_listens_where_the_config_says() -> None:
    cfg = CoapLightConfig(driver="coap_light", port=56831, instance=2, dimmer_max=254)
    sim = from_config("desk", cfg, MqttConfig())
    assert (sim.port, sim.path, sim.dimmer_max) == (56831, "/3311/2", 254)
    assert "coap://127.0.0.1:56831/3311/2" in sim.describe()


async def test_rig_light_events_scale_to_the_dialect() -> None:
    sim = CoapLightSim("tradfri", dimmer_max=254)
    assert await sim.apply_event("light", 40)
    assert (sim.on, sim.dimmer) == (True, 102)
    assert await sim.apply_event("light", "off")
    assert not sim.on
    assert not await sim.apply_event("volume", 3)
