"""Classification metrics for the 3-class preference vote, in plain numpy.

m = scores(y_true, y_pred)      # Scores(accuracy, macro_f1, kappa, recall={...}, n)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.comfort.features import CLASSES

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    kappa: float
    recall: dict[str, float]

    def row(self, name: str) -> str:
        rec = " | ".join(f"{self.recall[c]:.3f}" for c in CLASSES)
        return (
            f"| {name} | {self.n} | {self.accuracy:.3f} | {self.macro_f1:.3f} | "
            f"{self.kappa:.3f} | {rec} |"
        )


TABLE_HEAD = (
    "| model | rows | accuracy | macro-F1 | Cohen's κ | recall cooler | recall no change "
    "| recall warmer |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)


def confusion(y_true: IntArray, y_pred: IntArray, k: int = 3) -> IntArray:
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shapes differ: {y_true.shape} vs {y_pred.shape}")
    if y_true.size and (
        min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= k
    ):
        raise ValueError(f"labels must be in 0..{k - 1}")
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k).astype(np.int64)


def scores(y_true: IntArray, y_pred: IntArray) -> Scores:
    """Accuracy, macro-F1 (over all three classes; an empty class scores 0), Cohen's κ and
    recall per class."""
    cm = confusion(np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)).astype(np.float64)
    n = cm.sum()
    if n == 0:
        raise ValueError("no rows to score")
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    po = tp.sum() / n
    pe = float((support * predicted).sum()) / (n * n)
    kappa = 0.0 if pe >= 1.0 else (po - pe) / (1.0 - pe)
    return Scores(
        n=int(n),
        accuracy=float(po),
        macro_f1=float(f1.mean()),
        kappa=float(kappa),
        recall={c: float(r) for c, r in zip(CLASSES, recall, strict=True)},
    )


def decide(probabilities: npt.NDArray[np.floating], weights: tuple[float, ...]) -> IntArray:
    """The class with the highest weighted probability (weights chosen on inner folds)."""
    return np.asarray(np.argmax(probabilities * np.asarray(weights), axis=1), dtype=np.int64)


def choose_weights(
    probabilities: npt.NDArray[np.floating], y: IntArray
) -> tuple[float, float, float]:
    """Decision weights (cooler, 1, warmer) that maximise macro-F1 + κ on held-out
    predictions. Call it on INNER folds only: these are hyperparameters."""
    best = (-np.inf, (1.0, 1.0, 1.0))
    for a in np.round(np.arange(0.5, 2.51, 0.1), 2):
        for b in np.round(np.arange(0.5, 3.51, 0.1), 2):
            s = scores(y, decide(probabilities, (float(a), 1.0, float(b))))
            value = s.macro_f1 + s.kappa
            if value > best[0]:
                best = (value, (float(a), 1.0, float(b)))
    return best[1]
