"""Comfort-model versions reach the room through sync, against the real central service:
signed offline (`smartroom-model sign`), published by an admin, fetched by the agent on its
pull, verified, installed side by side, swapped into the running advisor and kept across a
restart. A wrong signature, a model that fails its self-test and a downgrade are refused,
and the room keeps the model it has."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from agent_central import PROPERTY, ROOM, Central
from agent_fakes import climate
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from polling import eventually

from agent.app import Agent
from agent.comfort import shipped_model_path
from agent.comfort.features import N_FEATURES, FeatureSpec, Imputation
from agent.comfort.updates import public_key_b64, publish_body, signed_manifest
from agent.config import RoomConfig, parse_room_config
from agent.preferences import ComfortInputs
from models.export import mlp_to_tflite
from smartroom.services import MosquittoBroker

pytestmark = [pytest.mark.timeout(90)]
SPEC = FeatureSpec(impute=Imputation(rh_pct=50, outdoor_c=20, running_mean_c=20, cooling=1))


def peaked_model(at_c: float) -> bytes:
    """A valid model whose "no change" is likeliest at `at_c` (indoor temperature)."""
    w = np.zeros((N_FEATURES, 3), np.float32)
    w[0] = [2.0, 0.0, -2.0]
    b = np.array([-2.0 * (at_c + 0.5), 0.0, 2.0 * (at_c - 0.5)], np.float32)
    return mlp_to_tflite([(w, b)], SPEC.model_dump_json())


def backwards_model() -> bytes:
    """Loads, but says "cooler" is likelier when colder: fails the self-test."""
    w = np.zeros((N_FEATURES, 3), np.float32)
    w[0, 0] = -1.0
    return mlp_to_tflite([(w, np.zeros(3, np.float32))], SPEC.model_dump_json())


def publish(central: Central, blob: bytes, version: str, key: Ed25519PrivateKey) -> None:
    body = publish_body(signed_manifest(key, blob, version), blob)
    central.call("POST", "/v1/admin/models", "admin", json=body)


def room_config(
    tmp_path: Path, central: Central, broker: MosquittoBroker, signing: Ed25519PrivateKey | None
) -> RoomConfig:
    key_file = central.agent_key_file(tmp_path)
    return parse_room_config(
        {
            "room": {"property_id": PROPERTY, "room_id": ROOM},
            "mqtt": {"host": broker.host, "port": broker.port},
            "central": {
                "url": central.url,
                "credential_file": str(key_file),
                "pull_interval_s": 0.1,
                "push_interval_s": 0.1,
            },
            "comfort": {}
            if signing is None
            else {"model_signing_key": public_key_b64(signing.public_key())},
            "store": {"path": str(tmp_path / "agent.db")},
            "api": {"port": 0},
            "runtime": {"tick_s": 0.05},
        },
        source="test",
    )


def population_setpoint(agent: Agent) -> float:
    assert agent.room is not None
    inputs = ComfortInputs(at=datetime(2026, 7, 1, 15, tzinfo=UTC), indoor_c=23.0)
    return agent.room.resolver.values(None, inputs).setpoint_c


async def health(agent: Agent) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=agent.api_url) as http:
        data: dict[str, Any] = (await http.get("/health")).json()
        return data


async def test_a_signed_version_is_installed_used_and_kept(
    tmp_path: Path, central: Central, mqtt_broker: MosquittoBroker
) -> None:
    signing = Ed25519PrivateKey.generate()
    config = room_config(tmp_path, central, mqtt_broker, signing)
    async with Agent(config, devices={"hvac": climate("hvac")}) as agent:
        shipped = population_setpoint(agent)
        assert (await health(agent))["comfort_model"]["version"] == "shipped"
        publish(central, peaked_model(25.5), "1.1.0", signing)
        updater = agent.model_updater
        assert updater is not None
        await eventually(lambda: updater.version == "1.1.0", what="1.1.0 installed")
        assert population_setpoint(agent) == 25.5 != shipped
        info = (await health(agent))["comfort_model"]
        assert info == {"version": "1.1.0", "last": "installed", "refused": {}}
        async with httpx.AsyncClient(base_url=agent.api_url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'smartroom_comfort_model_updates_total{outcome="installed"} 1.0' in metrics
    installed = config.models_dir / "versions" / "1.1.0" / "comfort.tflite"
    assert installed.read_bytes() == peaked_model(25.5)

    # A restart (central down meanwhile) comes up on the installed version, not the shipped one.
    central.stop()
    async with Agent(config, devices={"hvac": climate("hvac")}) as agent:
        assert population_setpoint(agent) == 25.5
        assert agent.model_updater is not None and agent.model_updater.version == "1.1.0"
    central.start()


async def test_bad_offers_are_refused_and_the_room_keeps_its_model(
    tmp_path: Path, central: Central, mqtt_broker: MosquittoBroker
) -> None:
    signing = Ed25519PrivateKey.generate()
    config = room_config(tmp_path, central, mqtt_broker, signing)
    publish(central, peaked_model(24.0), "1.1.0", signing)
    async with Agent(config, devices={"hvac": climate("hvac")}) as agent:
        updater = agent.model_updater
        assert updater is not None
        await eventually(lambda: updater.version == "1.1.0", what="1.1.0 installed")

        # Signed by someone else: refused before it touches the disk.
        publish(central, peaked_model(20.0), "1.2.0", Ed25519PrivateKey.generate())
        await eventually(lambda: "1.2.0" in updater.refused, what="1.2.0 refused")
        assert "signature" in updater.refused["1.2.0"]
        assert not (config.models_dir / "versions" / "1.2.0").exists()

        # Properly signed but nonsense: installed side by side, fails its self-test, rolled
        # back; the advisor never saw it.
        publish(central, backwards_model(), "1.3.0", signing)
        await eventually(lambda: "1.3.0" in updater.refused, what="1.3.0 rolled back")
        assert "self-test" in updater.refused["1.3.0"]
        assert updater.version == "1.1.0" and population_setpoint(agent) == 24.0
        assert updater.store.state() == {"current": "1.1.0", "previous": None}

        # Refused versions are not fetched again on every pull.
        pulls = agent.link.worker.pulls if agent.link else 0
        await eventually(lambda: agent.link is not None and agent.link.worker.pulls >= pulls + 3)
        assert set(updater.refused) == {"1.2.0", "1.3.0"}
        info = (await health(agent))["comfort_model"]
        assert info["last"] == "rolled_back" and info["version"] == "1.1.0"
        assert agent.link is not None and agent.link.worker.online is True


async def test_no_signing_key_means_no_updates(
    tmp_path: Path, central: Central, mqtt_broker: MosquittoBroker
) -> None:
    signing = Ed25519PrivateKey.generate()
    publish(central, peaked_model(25.5), "1.1.0", signing)
    config = room_config(tmp_path, central, mqtt_broker, None)
    async with Agent(config, devices={"hvac": climate("hvac")}) as agent:
        assert agent.link is not None
        await eventually(lambda: agent.link is not None and agent.link.worker.pulls >= 2)
        assert agent.model_updater is None
        assert (await health(agent))["comfort_model"] is None
        assert agent.room is not None and agent.room.resolver.has_model
        assert population_setpoint(agent) != 25.5
    assert not config.models_dir.exists()
    assert shipped_model_path().is_file()
