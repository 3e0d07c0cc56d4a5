"""Model updates over a bad link, with a real `smartroom-agent run` process: the `models`
stream offers a signed comfort-model version, the agent fetches it through a relay that
tampers with the download (tests/sync/room_process.py, `Link.model_fault`).

* cut mid-body: the old model stays in use; the agent tries again after a backoff, on its
  own (the offers did not change), and installs the version once the link lets it through;
* stalled mid-body and the agent SIGKILLed: nothing half-written is used; the restarted
  agent comes up on the version it had and fetches the new one again;
* one byte flipped (a corrupted download: the sha256 does not match the signed manifest):
  refused, never written or loaded, the old model stays; /health, the metric and the board
  (`comfort_model_refused`) say so;
* then a good version is verified and swapped in atomically, and the alert clears."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from room_process import RoomProcess, central_behind_link
from sync_harness import Central, room_name

from agent.comfort import shipped_model_path
from agent.comfort.updates import public_key_b64, publish_body, signed_manifest
from smartroom.clock import SystemClock
from smartroom.services import MosquittoBroker

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(120)]


def _publish(central: Central, version: str, key: Ed25519PrivateKey) -> None:
    blob = shipped_model_path().read_bytes()  # a valid model: it passes the self-test
    central.call(
        "POST",
        "/v1/admin/models",
        "admin",
        json=publish_body(signed_manifest(key, blob, version), blob),
    )


async def _model(room: RoomProcess) -> dict[str, Any]:
    info: dict[str, Any] = (await room.get("/health"))["comfort_model"]
    return info


async def test_killed_and_corrupted_downloads_never_replace_the_model(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    signing = Ed25519PrivateKey.generate()
    room_id = room_name()
    models = tmp_path / "models"
    async with central_behind_link(tmp_path, SystemClock()) as (central, link):
        extra = {"comfort": {"model_signing_key": public_key_b64(signing.public_key())}}
        async with RoomProcess(
            tmp_path, mqtt_broker, link.url, central.agent_key(room_id), room_id, extra=extra
        ) as room:
            await room.start()
            assert (await _model(room))["version"] == "shipped"

            # Cut mid-body: the old model stays; a retry after the backoff installs it.
            link.model_fault = "cut"
            _publish(central, "1.1.0", signing)
            await room.until(lambda: link.faults >= 1, 15, "the download cut mid-body")
            await room.until(lambda: "comfort_model_fetch_failed" in room.log(), 5, "the log")
            assert (await _model(room))["version"] == "shipped"
            assert not (models / "versions" / "1.1.0").exists()
            link.model_fault = None
            await room.until(
                lambda: _version(room, "1.1.0"), 20, "1.1.0 installed on a retry", every=0.2
            )

            # Stalled mid-body, the agent SIGKILLed there: it restarts on 1.1.0.
            link.model_fault = "stall"
            faults = link.faults
            _publish(central, "1.2.0", signing)
            await room.until(lambda: link.faults > faults, 15, "the download stalled")
            room.kill9()
            assert json.loads((models / "state.json").read_text())["current"] == "1.1.0"
            assert not (models / "versions" / "1.2.0" / "comfort.tflite").exists()
            await link.cut()  # drops the stalled connection
            link.model_fault = None
            await link.heal()
            await room.start()
            await room.until(lambda: _version(room, "1.2.0"), 20, "1.2.0 after the restart")

            # Corrupted on the way: refused, never written, never loaded; the board says so.
            link.model_fault = "flip"
            _publish(central, "1.3.0", signing)
            await room.until(lambda: _refused(room, "1.3.0"), 15, "1.3.0 refused")
            info = await _model(room)
            assert info["version"] == "1.2.0" and "sha256" in info["refused"]["1.3.0"]
            assert not (models / "versions" / "1.3.0").exists()
            assert json.loads((models / "state.json").read_text())["current"] == "1.2.0"
            metrics = (await room.api("GET", "/metrics")).text
            assert 'smartroom_comfort_model_updates_total{outcome="refused"} 1.0' in metrics
            await room.until(
                lambda: "comfort_model_refused" in central.board(room_id)["alerts"],
                10,
                "the refusal on the board",
            )

            # A good version: verified and swapped in; the alert clears.
            link.model_fault = None
            _publish(central, "1.4.0", signing)
            await room.until(lambda: _version(room, "1.4.0"), 15, "1.4.0 installed")
            state = json.loads((models / "state.json").read_text())
            assert state == {"current": "1.4.0", "previous": "1.2.0"}
            await room.until(
                lambda: "comfort_model_refused" not in central.board(room_id)["alerts"],
                10,
                "the alert cleared",
            )
            room.stop()


async def _version(room: RoomProcess, version: str) -> bool:
    return bool((await _model(room))["version"] == version)


async def _refused(room: RoomProcess, version: str) -> bool:
    return version in (await _model(room))["refused"]
