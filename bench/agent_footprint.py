"""The agent's footprint as a process: cold start to READY, idle CPU, resident memory after
an hour's worth of room activity.

    ./dev python -m bench.agent_footprint                  # ~8 minutes (four agent runs)
    ./dev python -m bench.agent_footprint --activity-s 30 --idle-s 10 --variants unit --no-record

Runs the real `smartroom-agent run --config ROOM.toml` process with NOTIFY_SOCKET (as
systemd does) against the rig's simulators (thermostat on a pty at 60x simulated time, CoAP
light, Zigbee2MQTT lights/curtain/sensors, MQTT speaker) on a private Mosquitto.

- Cold start: process spawn -> `READY=1` on the notify socket (imports, store, drivers,
  MQTT, API all included). Baseline, same run: spawn -> exit of a bare `python -c pass`.
- Idle CPU: user+system CPU seconds over `--idle-s` seconds with nothing happening (the
  thermostat is still polled every 2 s and the status heartbeat runs).
- Memory: VmRSS and VmHWM after `--activity-s` seconds of compressed activity: a guest
  cycle (unlock, door, motion, leave) every 4 s, knob turns, DND/MUR presses, window
  open/close: 60 guest movements, about an hour of a busy room's events. Baseline, same
  run: the RSS of a Python process that has imported the agent's modules and nothing else.
- Environment: the agent runs with the memory settings of `systemd/smartroom-agent.service`
  (read from the unit), and once more without each of them, so what each one is worth is
  measured, not assumed. Compiled modules are cached as the unit caches them
  (`PYTHONPYCACHEPREFIX`, here in a directory of the run, warmed by a short untimed start
  of each environment; a shell's PYTHONDONTWRITEBYTECODE is not passed on): every start
  after the first reads them, and compiling ~750 modules from source would leave its
  garbage in the imports-only baseline; `central` runs the same room in service: syncing with a real
  central (loyalty on SQLite, in this process) with a member checked in (`--variants unit`
  runs the unit's environment only, without central).
- Where the memory is: `/proc/PID/smaps` after the activity, anonymous memory (Python's
  objects, malloc) against each shared library's resident pages (bench/rss_parts.py).
- Per library: RSS and import time in a fresh interpreter (bench/import_costs.py), and
  whether the bench room's agent loads it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.import_costs import import_costs, process_env, room_imports, table
from bench.record import record
from bench.rss_parts import ANON, rss_parts, threads
from firmware_mocks.rig import Rig
from firmware_mocks.standard_room import standard_devices
from smartroom.log import configure_logging
from smartroom.services import MosquittoBroker, free_port

BIN = Path(sys.executable).parent / "smartroom-agent"
PROPERTY, ROOM = "BENCH", "102"
UNIT = Path(__file__).resolve().parent.parent / "systemd" / "smartroom-agent.service"
MEMORY_SETTINGS = ("MALLOC_ARENA_MAX", "PYTHONOPTIMIZE")
BYTECODE_CACHE = "PYTHONPYCACHEPREFIX"  # the unit's; the bench puts it in its own directory
VARIANTS = {  # name -> the unit's memory settings left out
    "unit": (),
    "no-arena-max": ("MALLOC_ARENA_MAX",),
    "no-optimize": ("PYTHONOPTIMIZE",),
    "central": (),  # the unit's settings, and a real central with a checked-in member
}


def unit_environment() -> dict[str, str]:
    """The unit's memory settings (`Environment=NAME=value` lines), as systemd sets them."""
    env = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        name, _, value = line.removeprefix("Environment=").partition("=")
        if line.startswith("Environment=") and name in MEMORY_SETTINGS:
            env[name] = value
    missing = set(MEMORY_SETTINGS) - set(env)
    if f"Environment={BYTECODE_CACHE}=" not in UNIT.read_text(encoding="utf-8"):
        missing.add(BYTECODE_CACHE)
    if missing:
        raise SystemExit(f"{UNIT} does not set {sorted(missing)}: update MEMORY_SETTINGS")
    return env


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])  # kB
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def leftovers(tmp: Path) -> tuple[int, float]:
    """The store's size on disk (kB) and the agent's own start time from its log."""
    db_kb = sum(p.stat().st_size for p in tmp.glob("agent.db*")) // 1024
    start_s = 0.0
    for line in (tmp / "agent.log").read_text().splitlines():
        if '"agent_ready"' in line:
            start_s = float(json.loads(line)["seconds"])
    return db_kb, start_s


def bare_start_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


@contextlib.contextmanager
def central_service(tmp: Path) -> Iterator[dict[str, str]]:
    """The real central service (loyalty on SQLite, uvicorn on loopback, in this process)
    with a member checked in to the bench room: the agent syncs with it, pulls the stay
    (and its sealed secret) and pushes its events, as a room in service does. Yields the
    room file's `[central]` table."""
    import httpx

    from loyalty.app import create_app
    from loyalty.auth import create_key
    from loyalty.settings import LoyaltySettings
    from smartroom.clock import SystemClock
    from smartroom.services import AppServer

    clock = SystemClock()
    app = create_app(
        LoyaltySettings(database_url=f"sqlite:///{tmp / 'central.db'}"), clock=clock, migrate=True
    )
    with app.state.ctx.engine.begin() as conn:
        _, staff = create_key(conn, role="staff", now=clock.now())
        _, agent = create_key(
            conn, role="agent", now=clock.now(), property_id=PROPERTY, room_id=ROOM
        )
    key_file = tmp / "agent.key"
    key_file.write_text(agent)
    key_file.chmod(0o600)
    with AppServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        n = iter(range(1_000))

        def call(path: str, body: dict[str, Any]) -> Any:
            headers = {
                "Authorization": f"Bearer {staff}",
                "Idempotency-Key": f"bench-footprint-{next(n)}",
            }
            answer = http.post(path, json=body, headers=headers)
            answer.raise_for_status()
            return answer.json()

        member = call("/v1/members", {})["id"]
        now = clock.now()
        stay = call(
            "/v1/stays",
            {
                "member_id": member,
                "property_id": PROPERTY,
                "arrival": now.isoformat(),
                "departure": (now + timedelta(days=2)).isoformat(),
                "nightly_rate": "800.00",
            },
        )["id"]
        call(f"/v1/stays/{stay}/check-in", {"room_id": ROOM})
        yield {"url": server.url, "credential_file": str(key_file)}
    app.state.ctx.engine.dispose()


def imports_only_rss_kb(env: dict[str, str]) -> int:
    """RSS of a process that imported the agent's modules and nothing else (run twice: the
    first run compiles into the cache, as the unit's first start does)."""
    code = (
        "import sys; from agent.cli import _skip_optional; _skip_optional();"  # as `run` does
        "import agent.app, agent.cli, drivers.registry, drivers.modbus_hvac, "
        "drivers.coap_light, drivers.z2m, drivers.mqtt_audio;"
        "import pathlib;"
        "print(next(l.split()[1] for l in pathlib.Path('/proc/self/status').read_text()"
        ".splitlines() if l.startswith('VmRSS')))"
    )
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env=process_env(env),
        )
    return int(out.stdout.strip().splitlines()[-1])


async def activity(rig: Rig, seconds: float) -> int:
    sims: Any = rig.simulators
    moves = 0
    deadline = time.perf_counter() + seconds
    cycle = 0
    while time.perf_counter() < deadline:
        cycle += 1
        await sims["lock"].unlock("rfid")
        await sims["entrance"].open()
        await sims["motion"].walk_in()
        await sims["entrance"].close()
        await asyncio.sleep(0.5)
        await sims["motion"].leave()
        await sims["motion"].walk_in()
        if cycle % 3 == 0:
            sims["hvac"].turn_knob(20.0 + cycle % 5)
        if cycle % 4 == 0:
            await sims["button"].press("dnd" if cycle % 8 else "clear")
        if cycle % 5 == 0:
            await sims["window"].open()
            await asyncio.sleep(0.3)
            await sims["window"].close()
        await asyncio.sleep(1.0)
        await sims["motion"].leave()
        await sims["entrance"].open()
        await sims["entrance"].close()
        moves += 4
        await asyncio.sleep(1.5)
    return moves


async def measure(
    env_extra: dict[str, str], activity_s: float, idle_s: float, *, central: bool = False
) -> dict[str, Any]:
    """One agent process, from spawn to the end of the activity, with `env_extra` set."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        broker = stack.enter_context(MosquittoBroker())
        data: dict[str, Any] = {
            "room": {"property_id": PROPERTY, "room_id": ROOM},
            "mqtt": {"host": broker.host, "port": broker.port},
            "devices": standard_devices(ROOM),
            "store": {"path": str(Path(tmp) / "agent.db")},
            "api": {"port": free_port()},
            "occupancy": {"confirm_after_close_s": 5},
            "runtime": {"log_level": "info"},
        }
        if central:
            section = stack.enter_context(central_service(Path(tmp)))
            data["central"] = section
        async with Rig(data, free_ports=True, speed=60) as rig:
            room_file = Path(tmp) / "room.toml"
            room_file.write_text(rig.room_toml(), encoding="utf-8")
            notify_path = Path(tmp) / "notify.sock"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(notify_path))
            sock.settimeout(30)
            env = {**process_env(env_extra), "NOTIFY_SOCKET": str(notify_path)}
            for name in MEMORY_SETTINGS:
                if name not in env_extra:
                    env.pop(name, None)  # the variant without it, whatever this shell has
            log = (Path(tmp) / "agent.log").open("w")
            started = time.perf_counter()
            proc = subprocess.Popen(  # noqa: ASYNC220 - the child is what we measure
                [str(BIN), "run", "--config", str(room_file)], env=env, stdout=log, stderr=log
            )
            try:
                while True:
                    message = (await asyncio.to_thread(sock.recv, 4096)).decode()
                    if "READY=1" in message:
                        break
                cold_start = time.perf_counter() - started
                await asyncio.sleep(3)
                cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
                await asyncio.sleep(idle_s)
                idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t0)
                after_start = proc_status(proc.pid)
                moves = await activity(rig, activity_s)
                await asyncio.sleep(2)
                after = proc_status(proc.pid)
                parts, n_threads = rss_parts(proc.pid), threads(proc.pid)
                assert proc.poll() is None, "the agent died during the activity"
            finally:
                proc.terminate()
                proc.wait(20)
                log.close()
                sock.close()
            db_kb, start_s = leftovers(Path(tmp))
    return {
        "cold_start_s": cold_start,
        "agent_start_s": start_s,
        "idle_cpu_pct": idle_cpu * 100,
        "rss_start_mb": after_start["VmRSS"] / 1024,
        "rss_mb": after["VmRSS"] / 1024,
        "hwm_mb": after["VmHWM"] / 1024,
        "imports_mb": imports_only_rss_kb(env_extra) / 1024,
        "moves": moves,
        "db_kb": db_kb,
        "parts_kb": parts,
        "threads": n_threads,
    }


def parts_table(results: dict[str, dict[str, Any]]) -> str:
    """Resident MB per owner (anonymous memory, each library over 0.5 MB in some run) and
    the threads, one column per variant."""
    names = list(results)
    libraries = {o for r in results.values() for o, kb in r["parts_kb"].items() if kb >= 512}
    owners = [
        ANON,
        *sorted(
            libraries - {ANON},
            key=lambda o: -max(r["parts_kb"].get(o, 0) for r in results.values()),
        ),
    ]
    out = [
        "| resident after the activity | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for owner in owners:
        label = owner if owner == ANON else f"`{owner}` (shared library pages)"
        cells = [f"{r['parts_kb'].get(owner, 0) / 1024:.1f}" for r in results.values()]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    rest = [
        sum(kb for o, kb in r["parts_kb"].items() if o not in owners) / 1024
        for r in results.values()
    ]
    out.append("| everything else mapped | " + " | ".join(f"{v:.1f}" for v in rest) + " |")
    total = [sum(r["parts_kb"].values()) / 1024 for r in results.values()]
    out.append("| **total (MB)** | " + " | ".join(f"**{v:.1f}**" for v in total) + " |")
    out.append("| threads | " + " | ".join(str(r["threads"]) for r in results.values()) + " |")
    return "\n".join(out)


async def run(
    activity_s: float, idle_s: float, variants: list[str], *, do_record: bool
) -> dict[str, dict[str, Any]]:
    configure_logging("warning", json=True)
    cache = tempfile.TemporaryDirectory(prefix="footprint-pycache-")
    unit = {**unit_environment(), BYTECODE_CACHE: cache.name}
    envs = {name: {k: v for k, v in unit.items() if k not in VARIANTS[name]} for name in variants}
    # The unit's first start compiles into its cache; every later start reads it. A short
    # untimed run of each environment (central: it loads the most) fills the cache.
    for env in {json.dumps(e, sort_keys=True): e for e in envs.values()}.values():
        await measure(env, 5, 5, central=True)
    load = [os.getloadavg()[0]]
    results = {}
    for name in variants:
        results[name] = await measure(envs[name], activity_s, idle_s, central=name == "central")
        load.append(os.getloadavg()[0])
    bare = bare_start_s()
    costs = import_costs(unit)
    loaded = room_imports(unit, standard_devices(ROOM), central=False)
    with_central = room_imports(unit, standard_devices(ROOM), central=True)
    r = results[variants[0]]
    settings = ", ".join(f"`{k}={v}`" for k, v in unit.items() if k != BYTECODE_CACHE)
    body = (
        "The real `smartroom-agent run` process with NOTIFY_SOCKET, a 10-device room on the "
        "rig's simulators (Modbus thermostat, CoAP light, Zigbee2MQTT lights/curtain/sensors, "
        "MQTT speaker), private Mosquitto, no central URL; the comfort model is loaded "
        f"(LiteRT interpreter, self-tested). Environment of the first column: {settings} "
        f"(`{variants[0]}`, as `systemd/smartroom-agent.service` sets them), modules compiled "
        "into a `PYTHONPYCACHEPREFIX` cache by an untimed first start, as the unit's first "
        "start does. Load average "
        f"(1 min) {' / '.join(f'{x:.1f}' for x in load)} at the start and after each run, "
        "on a machine shared with other work.\n\n"
        "| measure | agent | baseline (same run) | goal |\n|---|---|---|---|\n"
        f"| cold start: spawn -> READY=1 | {r['cold_start_s']:.2f} s | bare `python -c pass`: "
        f"{bare:.2f} s | <= 3 s ({'met' if r['cold_start_s'] <= 3 else 'NOT met'}) |\n"
        f"| of which `Agent.start()` (store, scenes, model, drivers, MQTT, API) | "
        f"{r['agent_start_s']:.2f} s | | |\n"
        f"| idle CPU over {idle_s:.0f} s | {r['idle_cpu_pct']:.2f} % of one core | | |\n"
        f"| RSS after start | {r['rss_start_mb']:.1f} MB | modules imported only: "
        f"{r['imports_mb']:.1f} MB | |\n"
        f"| RSS after {activity_s:.0f} s of compressed activity ({r['moves']:.0f} guest "
        f"movements, knob/button/window events) | {r['rss_mb']:.1f} MB (peak "
        f"{r['hwm_mb']:.1f} MB, a start-up transient) | | <= 80 MB after activity "
        f"({'met' if r['rss_mb'] <= 80 else 'NOT met'}; peak "
        f"{'within' if r['hwm_mb'] <= 80 else 'over'}) |\n"
        f"| store on disk after the run | {r['db_kb']:.0f} kB | | |\n\n"
    )
    if len(variants) > 1:
        body += (
            "Each of the unit's memory settings, with and without, and the same room in service "
            "(`central`: syncing with a real central, a member checked in, so the stay's "
            "secret is sealed): same activity, one process each, in this run:\n\n"
            "| environment | RSS after start | RSS after activity | peak | modules only | "
            "cold start | <= 80 MB after activity |\n|---|---:|---:|---:|---:|---:|---|\n"
        )
        for name in variants:
            v = results[name]
            label = ", ".join(f"{k}={envs[name][k]}" for k in MEMORY_SETTINGS if k in envs[name])
            label = label or "none"
            if name == "central":
                label += "; a real central over http, a checked-in member"
            body += (
                f"| `{name}` ({label}) | {v['rss_start_mb']:.1f} MB | **{v['rss_mb']:.1f} MB**"
                f" | {v['hwm_mb']:.1f} MB | {v['imports_mb']:.1f} MB | "
                f"{v['cold_start_s']:.2f} s | {'met' if v['rss_mb'] <= 80 else 'NOT met'} |\n"
            )
        body += "\n"
    body += (
        "Where it is (`/proc/PID/smaps` after the activity, MB; the libraries' pages are "
        "their code and data as mapped, shared with any other process that maps them):\n\n"
        + parts_table(results)
        + "\n\n"
    )
    extra = sorted(with_central - loaded)
    body += (
        "What each library costs, alone in a fresh interpreter with the unit's settings "
        "(`bench/import_costs.py`; they overlap: asyncio, ssl and typing are shared, so the "
        "rows do not add up), and whether this room's agent loads it. Protocol and crypto "
        "libraries load with the first device, client or secret that needs them: a room with "
        f"a central URL also loads {', '.join(f'`{m}`' for m in extra) or 'nothing more'} "
        "(and `cryptography` with the first sealed stay secret or room key).\n\n"
        + table(costs, loaded)
        + "\n\nMeasured on x86-64; a Pi's cold start is slower (the imports dominate: "
        "pydantic, pymodbus, aiocoap, numpy + LiteRT for the comfort model)."
    )
    print(body)
    cache.cleanup()
    if do_record:
        record("agent-footprint", "Agent: cold start, idle CPU, memory", body)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--activity-s", type=float, default=60.0)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, first one in the main table (of: {', '.join(VARIANTS)})",
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if not (5 <= args.activity_s <= 3600 and 5 <= args.idle_s <= 600):
        parser.error("--activity-s 5..3600 and --idle-s 5..600")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    asyncio.run(run(args.activity_s, args.idle_s, variants, do_record=not args.no_record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
