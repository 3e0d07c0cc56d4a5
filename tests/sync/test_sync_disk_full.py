"""Disk full: a real `smartroom-agent run` process keeps its SQLite on a 3 MiB tmpfs mounted
for the test (the suite runs as root; a real ENOSPC from the kernel, the way a full SD card
fails, rather than RLIMIT_FSIZE's SIGXFSZ, which kills a process that does not ignore it).

While the disk is full the agent must fail loudly and safely: a purchase is refused with a
507 that says why (nothing charged), /health and /metrics say the store cannot write, the
room keeps running (its control loop steps, a guest's change still reaches the device), and
nothing committed before is lost. When space returns the room writes again and every
purchase it accepted reaches central exactly once when the link heals."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from room_process import RoomProcess, central_behind_link
from sync_harness import room_name

from smartroom.clock import SystemClock
from smartroom.services import MosquittoBroker

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(120)]
SPEND = {"category": "minibar", "item": "cola", "amount": "36.00"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs, unmounted afterwards whatever happens (lazily if still busy)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (run as root): {done.stderr}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)
        assert str(mount) not in Path("/proc/mounts").read_text()


def fill(mount: Path) -> Path:
    """Write a filler file until the kernel says ENOSPC (unbuffered: nothing left to flush)."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    chunk = b"\0" * 16384
    try:
        while True:
            try:
                if os.write(fd, chunk) == 0:
                    break
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]  # fill the last partial block too
    finally:
        os.close(fd)
    return filler


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


async def test_disk_full_refuses_loudly_keeps_the_room_and_loses_nothing(
    tmp_path: Path, small_disk: Path, mqtt_broker: MosquittoBroker
) -> None:
    room_id = room_name()
    async with central_behind_link(tmp_path, SystemClock()) as (central, link):
        member, _stay = central.checked_in_member(room_id)
        store = small_disk / "agent.db"
        async with RoomProcess(
            tmp_path, mqtt_broker, link.url, central.agent_key(room_id), room_id, store=store
        ) as room:
            await room.start()
            await room.until(room.spend, 10, "the stay reaching the room")
            # 1 purchase earned online; then the link goes down and purchases wait locally.
            await room.until(room.drained, 10, "the first purchase uploaded", every=0.2)
            await link.cut()
            accepted = 1
            for _ in range(5):
                assert (await room.api("POST", "/spend", json=SPEND)).status_code == 200
                accepted += 1

            filler = fill(small_disk)
            refused = None
            for _ in range(400):  # until SQLite needs a page the disk does not have
                reply = await room.api("POST", "/spend", json=SPEND)
                if reply.status_code == 507:
                    refused = reply.json()["detail"]
                    break
                assert reply.status_code == 200, reply.text
                accepted += 1
            assert refused is not None, "the disk never filled"
            assert "cannot write" in refused and "nothing was charged" in refused
            assert (await room.api("POST", "/spend", json=SPEND)).status_code == 507

            health = await room.get("/health")
            assert health["ok"], health  # the room itself keeps running
            assert not health["store"]["writable"] and "full" in health["store"]["error"]
            metrics = (await room.api("GET", "/metrics")).text
            assert metric(metrics, "smartroom_store_writable") == 0
            steps = health["steps"]
            reply = await room.api("POST", "/devices/hvac/override", json={"setpoint_c": 24.5})
            assert reply.status_code == 200, reply.text  # the guest's change reached the HVAC
            await room.until(
                lambda: _steps_past(room, steps + 5), 10, "the control loop stepping on"
            )
            assert "store_write_failed" in room.log()

            # Space returns: the room writes again, on its own.
            filler.unlink()
            await room.until(
                lambda: _status(room, 200), 15, "a purchase accepted once space returns"
            )
            accepted += 1
            assert (await room.get("/health"))["store"]["writable"]

            await link.heal()
            await room.until(room.drained, 20, "the outbox drained", every=0.2)
            count, points = central.spend_points(member)
            assert count == accepted and central.points(member) == points > 0
            room.stop()
        conn = sqlite3.connect(store)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            spends = conn.execute("SELECT count(*) FROM outbox WHERE kind='room_spend'")
            assert spends.fetchone()[0] == accepted
        finally:
            conn.close()
    print(f"disk full: {accepted} purchases accepted, all earned once; refused: {refused}")


async def _steps_past(room: RoomProcess, steps: int) -> bool:
    return bool((await room.get("/health"))["steps"] > steps)


async def _status(room: RoomProcess, want: int) -> bool:
    return (await room.api("POST", "/spend", json=SPEND)).status_code == want
