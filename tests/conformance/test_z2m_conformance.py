"""Zigbee2MQTT devices and bridge as `mosquitto_sub` / `mosquitto_pub` see them."""

from __future__ import annotations

import json

from conformance_peers import Bench, MqttListener, mqtt_pub, mqtt_sub


def _payloads(lines: list[str], topic: str) -> list[str]:
    return [line.partition(" ")[2] for line in lines if line.partition(" ")[0] == topic]


def test_bridge_state_info_and_devices_are_retained(bench: Bench) -> None:
    z = bench.z2m
    state = mqtt_sub(z, f"{z.base_topic}/bridge/state")
    assert state.code == 0 and json.loads(state.out.partition(" ")[2]) == {"state": "online"}
    info = json.loads(mqtt_sub(z, f"{z.base_topic}/bridge/info").out.partition(" ")[2])
    assert isinstance(info["version"], str) and "coordinator" in info
    devices = json.loads(mqtt_sub(z, f"{z.base_topic}/bridge/devices").out.partition(" ")[2])
    by_name = {d["friendly_name"]: d for d in devices}
    light = by_name[z.light]["definition"]["exposes"]
    assert any(e.get("type") == "light" for e in light)
    assert by_name[z.sensor]["power_source"] == "Battery"


def test_device_availability_is_retained(bench: Bench) -> None:
    z = bench.z2m
    for name in (z.light, z.sensor):
        got = mqtt_sub(z, f"{z.base_topic}/{name}/availability")
        assert json.loads(got.out.partition(" ")[2]) == {"state": "online"}, got.text


def test_plain_on_off_on_set_and_set_state(bench: Bench) -> None:
    z = bench.z2m
    topic = f"{z.base_topic}/{z.light}"
    for where, payload, want in (
        (f"{topic}/set", "OFF", "OFF"),
        (f"{topic}/set/state", "ON", "ON"),
        (f"{topic}/set", "OFF", "OFF"),
        (f"{topic}/set", '{"state": "ON", "brightness": 100}', "ON"),
    ):
        listener = MqttListener(z, topic)
        assert mqtt_pub(z, where, payload).code == 0
        reports = [json.loads(p) for p in _payloads(listener.lines(0.8), topic)]
        assert reports and reports[-1]["state"] == want, (where, payload, reports)
    listener = MqttListener(z, topic)
    mqtt_pub(z, f"{topic}/set/brightness", "42")
    reports = [json.loads(p) for p in _payloads(listener.lines(0.8), topic)]
    assert reports and reports[-1]["brightness"] == 42


def test_get_is_answered_by_a_mains_light_not_by_a_sleepy_sensor(bench: Bench) -> None:
    z = bench.z2m
    light, sensor = f"{z.base_topic}/{z.light}", f"{z.base_topic}/{z.sensor}"
    listener = MqttListener(z, f"{z.base_topic}/+")
    mqtt_pub(z, f"{light}/get", '{"state": ""}')
    mqtt_pub(z, f"{sensor}/get", '{"contact": ""}')
    lines = listener.lines(1.5)
    assert _payloads(lines, light), lines
    assert not _payloads(lines, sensor), lines  # asleep: no answer


def test_malformed_and_oversized_payloads_change_nothing(bench: Bench) -> None:
    z = bench.z2m
    topic = f"{z.base_topic}/{z.light}"
    mqtt_pub(z, f"{topic}/set", "OFF")
    listener = MqttListener(z, topic)
    for garbage in (b"\xff\xfe not json", b'{"state": ', b"[1, 2]", b"x" * 200_000):
        assert mqtt_pub(z, f"{topic}/set", garbage).code == 0
    reports = [json.loads(p) for p in _payloads(listener.lines(0.8), topic)]
    assert all(r["state"] == "OFF" for r in reports), reports
    listener = MqttListener(z, topic)
    mqtt_pub(z, f"{topic}/set", "ON")  # and it still obeys
    reports = [json.loads(p) for p in _payloads(listener.lines(0.8), topic)]
    assert reports and reports[-1]["state"] == "ON"
