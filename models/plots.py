"""The model card's reliability plot (matplotlib, training extra only).

write_reliability_plot(report["calibration"], Path("docs/model-card-reliability.png"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT_NAME = "model-card-reliability.png"


def write_reliability_plot(calibration: dict[str, Any], path: Path) -> None:
    """Accuracy against confidence (top label, equal-width bins) before and after the
    calibration, on unseen buildings; the dot size is the rows in the bin."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the card is rendered on build machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 5.0), dpi=110)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    styles = {
        "uncalibrated": ("tab:red", "o"),
        "calibrated, context given": ("tab:blue", "s"),
        "calibrated, context both unknown": ("tab:green", "^"),
    }
    total = sum(c for _, _, c in calibration["uncalibrated"]["reliability"])
    for name, (colour, marker) in styles.items():
        block = calibration.get(name)
        if not block:
            continue
        conf = [b[0] for b in block["reliability"]]
        acc = [b[1] for b in block["reliability"]]
        size = [20 + 400 * b[2] / total for b in block["reliability"]]
        ax.plot(conf, acc, color=colour, linewidth=1)
        ax.scatter(
            conf,
            acc,
            s=size,
            color=colour,
            marker=marker,
            alpha=0.7,
            label=f"{name} (ECE {block['ece']:.3f})",
        )
    ax.set_xlim(0.3, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("confidence (top-label probability)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title("Reliability on unseen buildings (building-grouped CV)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so the same report gives the same bytes.
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
