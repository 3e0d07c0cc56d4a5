"""Reliability of the model's probabilities, and temperature scaling to fix it.

    t = fit_scaling(logits, y)                 # on predictions for held-out buildings
    p = t.apply(logits)                        # softmax(logits / T + bias)
    ece(p, y), brier(p, y), reliability(p, y)

The setpoint search reads P("no change") directly, so the probabilities must mean what they
say. The scaling is one temperature T and a bias per class (cooler, warmer; "no change" is
the reference): the teacher was trained with balanced class weights, which shifts every
probability towards the rare classes, and a temperature alone cannot undo a prior shift.
It is folded into the MLP's last layer (`Scaling.fold`), so the shipped .tflite itself
outputs calibrated probabilities and the agent's runtime needs no change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BINS = 15


def softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class Scaling:
    temperature: float = 1.0
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def apply(self, logits: FloatArray) -> FloatArray:
        return softmax(np.asarray(logits, np.float64) / self.temperature + np.asarray(self.bias))

    def fold(
        self, weights: npt.NDArray[np.floating], bias: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The last layer (weights[in, 3], bias[3]) that outputs the scaled logits."""
        w = np.asarray(weights, np.float64) / self.temperature
        b = np.asarray(bias, np.float64) / self.temperature + np.asarray(self.bias)
        return w.astype(np.float32), b.astype(np.float32)


def fit_scaling(logits: FloatArray, y: IntArray, steps: int = 400) -> Scaling:
    """Minimise the log-loss over (log T, bias cooler, bias warmer) by Newton-free gradient
    descent with a backtracking step (three parameters, convex in the biases)."""
    z = np.asarray(logits, np.float64)
    onehot = np.eye(3)[np.asarray(y, np.int64)]

    def loss_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        inv_t = np.exp(-theta[0])
        b = np.array([theta[1], 0.0, theta[2]])
        p = softmax(z * inv_t + b)
        loss = -float(np.mean(np.log(np.clip((p * onehot).sum(axis=1), 1e-12, 1.0))))
        r = (p - onehot) / len(z)
        g_logt = float((r * (-z * inv_t)).sum())
        return loss, np.array([g_logt, r[:, 0].sum(), r[:, 2].sum()])

    theta = np.zeros(3)
    loss, grad = loss_grad(theta)
    step = 1.0
    for _ in range(steps):
        trial = theta - step * grad
        new_loss, new_grad = loss_grad(trial)
        if new_loss < loss:
            theta, loss, grad = trial, new_loss, new_grad
            step *= 1.5
        else:
            step *= 0.5
            if step < 1e-8:
                break
    return Scaling(
        temperature=round(float(np.exp(theta[0])), 4),
        bias=(round(float(theta[1]), 4), 0.0, round(float(theta[2]), 4)),
    )


def ece(probs: FloatArray, y: IntArray, bins: int = BINS) -> float:
    """Top-label expected calibration error (equal-width bins over the top probability)."""
    table = reliability(probs, y, bins)
    n = sum(row[2] for row in table)
    return float(sum(abs(acc - conf) * count for conf, acc, count in table) / max(n, 1))


def reliability(probs: FloatArray, y: IntArray, bins: int = BINS) -> list[tuple[float, float, int]]:
    """Per non-empty bin of the top probability: (mean confidence, accuracy, rows)."""
    p = np.asarray(probs, np.float64)
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == np.asarray(y)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        if m.any():
            out.append((float(conf[m].mean()), float(hit[m].mean()), int(m.sum())))
    return out


def brier(probs: FloatArray, y: IntArray) -> float:
    """Multi-class Brier score: mean over rows of the squared distance to the one-hot."""
    onehot = np.eye(probs.shape[1])[np.asarray(y, np.int64)]
    return float(np.mean(((np.asarray(probs, np.float64) - onehot) ** 2).sum(axis=1)))
