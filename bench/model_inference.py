"""On-device comfort model: latency of one batched call, size, memory, learning speed.

    ./dev python -m bench.model_inference                 # 2,000 calls, ~30 s
    ./dev python -m bench.model_inference --calls 500 --no-record

- Latency: one TFLite interpreter call scoring the 17 candidate setpoints (19–27 °C), p50 and
  p99 over `--calls` calls; the whole `ComfortAdvisor.suggest` (encode + clothing + adaptive
  band + call) likewise. Baseline in the same run: the same MLP as a numpy forward pass
  (ratio = TFLite / numpy).
- Size of the shipped .tflite.
- Memory: this process's RSS before importing the runtime and loading the interpreter
  (baseline: Python + numpy) and after; the ratio.
- Simulated stays: members whose true preference is ±1, ±2, ±3 °C off the population, in four
  climates/seasons; manual changes until the suggestion is within ±0.5 °C.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls (max 100000)")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    calls = max(10, min(args.calls, 100_000))

    rss_before = rss_kib()
    from agent.comfort import CANDIDATES, ComfortAdvisor, ComfortContext
    from agent.comfort.features import RawFeatures, encode
    from models.simulate import simulate_stay
    from sync.wire import MemberPreferences, new_id

    advisor = ComfortAdvisor.load()
    model = advisor.model
    assert model is not None
    ctx = ComfortContext(
        indoor_c=24.0,
        humidity_pct=50.0,
        outdoor_c=31.0,
        outdoor_running_mean_c=28.0,
        at=datetime(2026, 7, 1, 15, tzinfo=UTC),
        climate="Cfa",
        air_conditioned=True,
    )
    advisor.suggest(ctx, None)
    rss_after = rss_kib()

    raw = RawFeatures.broadcast(
        len(CANDIDATES),
        indoor_c=np.asarray(CANDIDATES),
        humidity_pct=50.0,
        outdoor_c=31.0,
        running_mean_c=28.0,
        season=1.0,
        koppen="Cfa",
        cooling=1.0,
        age_band=None,
        gender=None,
    )
    x = encode(raw, model.spec)
    from models.export import read_mlp
    from models.train import Student

    reference = Student(read_mlp(model_path().read_bytes()))
    max_diff = float(np.abs(model.predict(x) - reference.predict_proba(x)).max())

    def timed(fn: object) -> list[float]:
        out = []
        for _ in range(calls):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            out.append((time.perf_counter() - t) * 1e6)
        return out

    for _ in range(50):
        model.predict(x)
    tfl = timed(lambda: model.predict(x))
    ref = timed(lambda: reference.predict_proba(x))
    full = timed(lambda: advisor.suggest(ctx, None))
    voter = MemberPreferences(member_id=new_id("m_"))
    for vote in ("warmer", "warmer", "no change"):
        voter = voter.model_copy(
            update={"comfort_offset": advisor.observe_vote(voter, vote, ctx.at)}
        )
    personal = timed(lambda: advisor.predict_vote(ctx, voter))

    stays = []
    contexts = {
        "humid subtropical summer (Cfa, 31 °C out)": ctx,
        "continental winter (Dfb, −5 °C out)": ctx.model_copy(
            update={
                "climate": "Dfb",
                "outdoor_c": -5.0,
                "outdoor_running_mean_c": -2.0,
                "at": datetime(2026, 1, 15, 20, tzinfo=UTC),
                "humidity_pct": 30.0,
            }
        ),
        "tropical savanna (Aw, 27 °C out)": ctx.model_copy(
            update={
                "climate": "Aw",
                "outdoor_c": 27.0,
                "outdoor_running_mean_c": 27.0,
                "humidity_pct": 70.0,
            }
        ),
        "mediterranean spring (Csa, 18 °C out)": ctx.model_copy(
            update={
                "climate": "Csa",
                "outdoor_c": 18.0,
                "outdoor_running_mean_c": 16.0,
                "at": datetime(2026, 4, 10, 20, tzinfo=UTC),
            }
        ),
    }
    for name, c in contexts.items():
        for off in (-3.0, -2.0, -1.0, 1.0, 2.0, 3.0):
            r = simulate_stay(
                advisor,
                c,
                MemberPreferences(member_id=new_id("m_")),
                true_offset_c=off,
                limits=(16.0, 30.0),
            )
            stays.append((name, off, r.changes, r.converged))

    def row(label: str, v: list[float]) -> str:
        return (
            f"| {label} | {percentile(v, 50):.1f} | {percentile(v, 99):.1f} | "
            f"{statistics.fmean(v):.1f} |"
        )

    two = [s for s in stays if abs(s[1]) == 2.0]
    body = "\n".join(
        [
            f"Shipped `models/comfort.tflite`: **{model.size_bytes} bytes** (limit 65,536), "
            f"sha256 `{model.sha256[:16]}…`. {calls} timed calls each, batch of "
            f"{len(CANDIDATES)} candidate setpoints, interpreter with 1 thread.",
            "",
            "| what | p50 µs | p99 µs | mean µs |",
            "|---|---:|---:|---:|",
            row("TFLite interpreter, one batched call", tfl),
            row("baseline: same MLP in numpy", ref),
            row("whole `ComfortAdvisor.suggest` (encode, clo, adaptive band, call)", full),
            row("`ComfortAdvisor.predict_vote` with 3 learned votes (one row)", personal),
            "",
            f"TFLite / numpy p50 ratio: **{percentile(tfl, 50) / percentile(ref, 50):.2f}**; "
            f"goal p99 ≤ 1,000 µs for the batched call: "
            f"**{'met' if percentile(tfl, 99) <= 1000 else 'NOT met'}** "
            f"({percentile(tfl, 99):.0f} µs). Max |TFLite − numpy| = {max_diff:.1e}.",
            "",
            f"Memory (RSS): {rss_before / 1024:.1f} MiB before importing the runtime and "
            f"loading the model (Python + numpy), {rss_after / 1024:.1f} MiB after "
            f"(+{(rss_after - rss_before) / 1024:.1f} MiB, ratio "
            f"{rss_after / rss_before:.2f}). Most of it is the LiteRT, pydantic and wire-model "
            "imports (the model itself is 7 KB); pythermalcomfort is not imported on the agent.",
            "",
            "Simulated stays (true preference = population suggestion + offset; the guest sets "
            "it whenever the room is more than 0.5 °C off; changes until it is not):",
            "",
            "| context | −3 | −2 | −1 | +1 | +2 | +3 |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *[
                "| "
                + name
                + " | "
                + " | ".join(
                    f"{s[2]}{'' if s[3] else ' (not converged)'}" for s in stays if s[0] == name
                )
                + " |"
                for name in contexts
            ],
            "",
            f"Member 2 °C off the population: **{max(s[2] for s in two)} manual changes at "
            f"most** (mean {statistics.fmean(s[2] for s in two):.1f}) until the room gets it "
            "right; all converged: " + ("yes" if all(s[3] for s in stays) else "NO") + ".",
        ]
    )
    print(body)
    if not args.no_record:
        from bench.record import record

        record("model-inference", "Comfort model on the agent (TFLite)", body)


def model_path() -> Path:
    from agent.comfort import shipped_model_path

    return shipped_model_path()


if __name__ == "__main__":
    main()
