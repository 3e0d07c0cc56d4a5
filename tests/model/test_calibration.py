"""Temperature scaling and the reliability measures, on data whose truth we set."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import Scaling, brier, ece, fit_scaling, reliability, softmax


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, (n, 3))
    p = softmax(true_logits)
    y = np.array([rng.choice(3, p=row) for row in p])
    return true_logits, y


def test_fit_recovers_a_known_temperature_and_bias() -> None:
    z, y = _sample(20_000, 0)
    # An over-confident, prior-shifted model: logits × 2 and "warmer" pushed up by 1.
    distorted = 2.0 * z + np.array([0.0, 0.0, 2.0])
    s = fit_scaling(distorted, y)
    assert s.temperature == pytest.approx(2.0, rel=0.1)
    assert s.bias[2] == pytest.approx(-1.0, abs=0.15)
    assert ece(s.apply(distorted), y) < 0.02 < ece(softmax(distorted), y)
    assert brier(s.apply(distorted), y) < brier(softmax(distorted), y)


def test_folding_into_the_last_layer_gives_the_same_probabilities() -> None:
    rng = np.random.default_rng(1)
    h, w, b = rng.normal(size=(50, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    s = Scaling(temperature=1.7, bias=(-0.4, 0.0, -1.1))
    w2, b2 = s.fold(w, b)
    np.testing.assert_allclose(softmax(h @ w2 + b2), s.apply(h @ w + b), atol=1e-5)


def test_reliability_bins_cover_every_row_and_a_perfect_model_has_low_ece() -> None:
    z, y = _sample(20_000, 2)
    p = softmax(z)
    assert sum(count for _, _, count in reliability(p, y)) == len(y)
    assert ece(p, y) < 0.02
    assert brier(np.eye(3)[y], y) == 0.0
