"""The board with a real room: a `smartroom-agent run` process (devices simulated by the
rig on real MQTT and a real pty) reports to the real central service, and the board in
headless Chromium follows it. A DND pressed in the room is on every open board within 2 s;
an attendant's cleaning takes the room from dirty to inspected while the room runs its
housekeeping scene and returns from it; check-in waits for the inspection."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from board_harness import Board
from browser import chromium, signed_in
from playwright.async_api import expect

from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.clock import SystemClock
from smartroom.services import MosquittoBroker, free_port

pytestmark = [pytest.mark.browser, pytest.mark.mqtt, pytest.mark.timeout(120)]
BIN = Path(sys.executable).parent / "smartroom-agent"
LIVE_S = 2.0  # the promise


@asynccontextmanager
async def room_agent(tmp_path: Path, board: Board, broker: MosquittoBroker) -> AsyncIterator[str]:
    """Rig + agent process for room 1201, pointed at the board's central; yields its API."""
    key_file = tmp_path / "agent.key"
    key_file.write_text(board.agent_key("1201"))
    os.chmod(key_file, 0o600)
    data: dict[str, Any] = {
        "room": {"property_id": "SHA-01", "room_id": "1201", "timezone": "Asia/Shanghai"},
        "mqtt": {"host": broker.host, "port": broker.port},
        "devices": standard_devices(only=("hvac", "bedside", "curtain", "motion"), hvac_poll_s=0.5),
        "store": {"path": str(tmp_path / "agent.db")},
        "api": {"port": free_port()},
        "runtime": {"tick_s": 0.05, "status_heartbeat_s": 5},
        "central": {
            "url": board.url,
            "credential_file": str(key_file),
            "pull_interval_s": 1.0,
            "push_interval_s": 0.2,
        },
    }
    async with Rig(data, free_ports=True) as rig:
        room_file = tmp_path / "room.toml"
        room_file.write_text(rig.room_toml(), encoding="utf-8")
        api = f"http://127.0.0.1:{tomllib.loads(room_file.read_text())['api']['port']}"
        log = (tmp_path / "agent.log").open("w")
        proc = subprocess.Popen(
            [str(BIN), "run", "--config", str(room_file)], stdout=log, stderr=log
        )
        try:
            async with httpx.AsyncClient(base_url=api) as http:
                for _ in range(300):
                    try:
                        if (await http.get("/health")).json().get("ok"):
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError((tmp_path / "agent.log").read_text()[-3000:])
            yield api
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
            log.close()


async def _scene(api: str) -> str:
    async with httpx.AsyncClient(base_url=api) as http:
        return str((await http.get("/status")).json()["scene"])


async def _until(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_live_status_and_a_cleaning_from_dirty_to_inspected(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    with Board(tmp_path, clock=SystemClock()) as board:
        async with room_agent(tmp_path, board, mqtt_broker) as api, chromium() as browser:
            _, boss = await signed_in(browser, board.url, board.staff["supervisor"])
            _, maid = await signed_in(browser, board.url, board.staff["attendant"])
            card, boss_card = maid.locator("#room-1201"), boss.locator("#room-1201")
            await expect(card.locator("[data-test=occupancy]")).to_contain_text(
                "vacant", timeout=15_000
            )

            # Live: DND pressed in the room reaches both open boards within 2 s.
            async with httpx.AsyncClient(base_url=api) as http:
                pressed = time.monotonic()
                assert (await http.put("/housekeeping", json={"dnd": True})).status_code == 200
            for page in (maid, boss):
                await expect(page.locator("#room-1201 [data-test=dnd]")).to_be_visible(
                    timeout=LIVE_S * 1000
                )
            took = time.monotonic() - pressed
            assert took <= LIVE_S, took
            await expect(card.locator("[data-act=start_cleaning]")).to_have_count(0)  # DND
            assert "1201" not in await maid.locator("#priority").inner_text()
            async with httpx.AsyncClient(base_url=api) as http:
                await http.put("/housekeeping", json={"dnd": False, "mur": True})
            await expect(card.locator("[data-test=mur]")).to_be_visible(timeout=LIVE_S * 1000)

            # A guest is booked for today: check-in waits for an inspected room.
            stay = board.stay("1201", arrive_in=timedelta(hours=-1), check_in=False)
            refused = httpx.post(
                f"{board.url}/v1/stays/{stay}/check-in",
                json={"room_id": "1201"},
                headers={"Authorization": f"Bearer {board.admin}", "Idempotency-Key": "ci-early-1"},
            )
            assert refused.status_code == 409 and "room_not_inspected" in refused.text

            # The attendant starts: the room runs its housekeeping scene.
            await card.locator("[data-act=start_cleaning]").click()
            await expect(card.locator("[data-test=cleaning]")).to_contain_text("Li Na")
            await _until(lambda: _is(api, "make_up_room"), "the housekeeping scene")
            await expect(card.locator("[data-test=occupancy]")).to_contain_text(
                "make_up_room", timeout=5000
            )
            await _until(lambda: _serviced(api), "lights up, curtains open, HVAC fan high")

            # Done: the room leaves the scene, MUR is served, the room is clean.
            await card.locator("[data-act=finish_cleaning]").click()
            await expect(card.locator("[data-test=condition]")).to_have_text("Clean")
            await _until(lambda: _not(api, "make_up_room"), "the room back from the scene")
            await expect(card.locator("[data-test=mur]")).to_have_count(0, timeout=5000)

            # The supervisor inspects on their own board; now the check-in goes through.
            await boss_card.locator("[data-act=inspect][data-passed='1']").click()
            await expect(card.locator("[data-test=condition]")).to_have_text(
                "Inspected", timeout=LIVE_S * 1000
            )
            board.call("POST", f"/v1/stays/{stay}/check-in", json={"room_id": "1201"})
            await expect(card.locator("[data-test=stay]")).to_contain_text(
                "Checked in", timeout=5000
            )


async def _is(api: str, scene: str) -> bool:
    return await _scene(api) == scene


async def _not(api: str, scene: str) -> bool:
    return await _scene(api) != scene


async def _devices(api: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=api) as http:
        status = (await http.get("/status")).json()
    return {d["device"]: d["state"] for d in status["devices"]}


async def _serviced(api: str) -> bool:
    """The housekeeping scene carried out by the devices (a curtain takes a while)."""
    devices = await _devices(api)
    light, curtain, hvac = devices["bedside"], devices["curtain"], devices["hvac"]
    return bool(
        light.get("on") and light.get("level_pct") == 100
        and curtain.get("position_pct") == 100
        and hvac.get("fan") == "high"
    )  # fmt: skip
