"""Command round trip per driver (command sent -> state confirmed) on loopback, and how it
scales when 50 devices are commanded at once.

    ./dev python -m bench.drivers_roundtrip                  # default: 200 commands, 50 devices
    ./dev python -m bench.drivers_roundtrip --commands 1000 --fanout 50 --bursts 20

For each driver (CoAP light, Zigbee2MQTT light, MQTT speaker) against its simulator:
- sequential: `--commands` commands one after another on one device, p50/p99;
- fan-out: `--bursts` times, `--fanout` devices commanded together with asyncio.gather;
  burst wall time (p50) and per-command p99, with the burst time divided by the
  single-device p50 of the same run as the scaling ratio (1.0 = perfectly parallel,
  `fanout` = fully serial).
Everything runs on loopback with a private Mosquitto; the loops are bounded by the flags.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.record import record
from drivers.base import LightCommand, MediaCommand
from drivers.coap_light import CoapLight
from drivers.config import CoapLightConfig, MqttAudioConfig, MqttConfig, Z2mConfig
from drivers.mqtt import MqttConnection
from drivers.mqtt_audio import MqttSpeaker
from drivers.z2m import Z2mLight
from firmware_mocks.coap_light import CoapLightSim
from firmware_mocks.speaker import SpeakerSim
from firmware_mocks.z2m_devices import Z2mLightSim
from smartroom.services import MosquittoBroker

Command = Callable[[int], Awaitable[Any]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_available(devices: list[Any], limit_s: float = 15.0) -> None:
    deadline = time.monotonic() + limit_s
    while not all(d.availability.available and d.state is not None for d in devices):
        if time.monotonic() > deadline:
            raise RuntimeError("devices did not become available")
        await asyncio.sleep(0.02)


async def timed(command: Command, i: int) -> float:
    start = time.perf_counter()
    await command(i)
    return time.perf_counter() - start


async def measure(commands: list[Command], n: int, bursts: int) -> dict[str, float]:
    single = [await timed(commands[0], i) for i in range(n)]
    burst_walls: list[float] = []
    burst_each: list[float] = []
    for b in range(bursts):
        start = time.perf_counter()
        each = await asyncio.gather(*(timed(c, b + k) for k, c in enumerate(commands)))
        burst_walls.append(time.perf_counter() - start)
        burst_each.extend(each)
    p50 = statistics.median(single)
    return {
        "p50": p50,
        "p99": pct(single, 0.99),
        "burst_p50": statistics.median(burst_walls),
        "burst_cmd_p99": pct(burst_each, 0.99),
        "ratio": statistics.median(burst_walls) / p50,
    }


def light_command(i: int) -> LightCommand:
    return LightCommand(on=True, level_pct=1 + (i * 37) % 100)


def _light(device: CoapLight | Z2mLight) -> Command:
    async def command(i: int) -> Any:
        return await device.apply(light_command(i))

    return command


def _volume(speaker: MqttSpeaker) -> Command:
    async def command(i: int) -> Any:
        return await speaker.apply(MediaCommand(power=True, volume_pct=i % 101))

    return command


async def bench_coap(fanout: int, n: int, bursts: int) -> dict[str, float]:
    sims = [CoapLightSim(f"lamp{i}") for i in range(fanout)]
    for sim in sims:
        await sim.start()
    drivers = [
        CoapLight(f"lamp{i}", CoapLightConfig(driver="coap_light", port=s.port))
        for i, s in enumerate(sims)
    ]
    try:
        for d in drivers:
            await d.start()
        await wait_available(drivers)
        return await measure([_light(d) for d in drivers], n, bursts)
    finally:
        for d in drivers:
            await d.stop()
        for sim in sims:
            await sim.stop()


async def bench_mqtt(
    broker: MosquittoBroker, kind: str, fanout: int, n: int, bursts: int
) -> dict[str, float]:
    mqtt = MqttConfig(host=broker.host, port=broker.port)
    conn = MqttConnection(mqtt, client_id=f"bench-{kind}")
    await conn.start()
    await conn.wait_connected(5)
    sims: list[Any] = []
    drivers: list[Any] = []
    commands: list[Command] = []
    for i in range(fanout):
        if kind == "z2m":
            sims.append(Z2mLightSim(f"bench_bulb{i}", mqtt))
            lamp = Z2mLight(
                f"bulb{i}",
                Z2mConfig(driver="z2m", capability="light", friendly_name=f"bench_bulb{i}"),
                conn,
                None,
            )
            drivers.append(lamp)
            commands.append(_light(lamp))
        else:
            sims.append(SpeakerSim(f"bench_spk{i}", mqtt))
            spk = MqttSpeaker(
                f"spk{i}", MqttAudioConfig(driver="mqtt_audio", speaker_id=f"bench_spk{i}"), conn
            )
            drivers.append(spk)
            commands.append(_volume(spk))
    try:
        for sim in sims:
            await sim.start()
        for d in drivers:
            await d.start()
        await wait_available(drivers)
        return await measure(commands, n, bursts)
    finally:
        for d in drivers:
            await d.stop()
        for sim in sims:
            await sim.stop()
        await conn.stop()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def run(n: int, fanout: int, bursts: int) -> str:
    rows: list[tuple[str, dict[str, float]]] = [
        ("CoAP light (PUT + GET read-back)", await bench_coap(fanout, n, bursts))
    ]
    for nodelay in (False, True):
        broker = MosquittoBroker()
        if nodelay:  # Mosquitto's own option; its default leaves Nagle on for its sockets
            with broker.config.open("a", encoding="utf-8") as conf:
                conf.write("set_tcp_nodelay true\n")
        label = "broker `set_tcp_nodelay true`" if nodelay else "broker defaults"
        with broker:
            for kind, title in (("z2m", "Zigbee2MQTT light"), ("audio", "MQTT speaker")):
                result = await bench_mqtt(broker, kind, fanout, n, bursts)
                rows.append((f"{title} (/set -> state), {label}", result))
    lines = [
        f"{n} sequential commands on one device; {bursts} bursts of {fanout} devices commanded "
        "at once (asyncio.gather). Ratio = burst wall time / single-device p50 "
        f"(1 = fully parallel, {fanout} = fully serial). Loopback, private Mosquitto, "
        "simulators in the same process (they share the CPU with the drivers).",
        "",
        f"| driver | p50 ms | p99 ms | {fanout} at once: wall p50 ms "
        "| per-command p99 ms | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['burst_p50'])} | "
            f"{ms(r['burst_cmd_p99'])} | {r['ratio']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=200, help="sequential commands (≤ 20000)")
    parser.add_argument("--fanout", type=int, default=50, help="devices commanded at once (≤ 200)")
    parser.add_argument("--bursts", type=int, default=10, help="fan-out repetitions (≤ 1000)")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    n = max(1, min(args.commands, 20_000))
    fanout = max(1, min(args.fanout, 200))
    bursts = max(1, min(args.bursts, 1000))
    body = asyncio.run(run(n, fanout, bursts))
    print(body)
    if not args.no_record:
        record("drivers-roundtrip", "Driver command round trip (CoAP, Zigbee2MQTT, speaker)", body)


if __name__ == "__main__":
    main()
