"""Temperature scaling: applying it and fitting it (the Predictor's use: test_predictor.py)."""

from __future__ import annotations

import numpy as np

from mlpilot.models.temperature import HIGHEST, apply_temperature, fit_temperature


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))))


def overconfident(n: int, scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes drawn from softmax(z); the model answers softmax(scale * z)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n, 3))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in truth])
    sharp = np.exp(scale * logits)
    return y, sharp / sharp.sum(axis=1, keepdims=True)


def test_a_temperature_keeps_the_ranking_and_one_is_the_identity():
    _, proba = overconfident(200, 1.0)
    np.testing.assert_allclose(apply_temperature(proba, 1.0), proba, atol=1e-12)
    for t in (0.3, 3.0):
        scaled = apply_temperature(proba, t)
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
        assert (np.argsort(scaled, axis=1) == np.argsort(proba, axis=1)).all()
    assert apply_temperature(proba, 3.0).max() < proba.max() < apply_temperature(proba, 0.3).max()


def test_the_fitted_temperature_undoes_overconfidence_and_lowers_the_log_loss():
    y, proba = overconfident(4_000, 2.0)  # twice too confident: T should be near 2
    t = fit_temperature(y, proba)
    assert t is not None and 1.7 < t < 2.3
    assert log_loss(y, apply_temperature(proba, t)) < log_loss(y, proba) - 0.05
    y, timid = overconfident(4_000, 0.5, seed=1)  # half as confident: T near 0.5
    t = fit_temperature(y, timid)
    assert t is not None and 0.4 < t < 0.6


def test_no_temperature_when_it_would_not_gain():
    y, proba = overconfident(4_000, 1.0)
    t = fit_temperature(y, proba)  # already calibrated: T = 1 up to noise, or none at all
    assert t is None or 0.9 < t < 1.1
    assert fit_temperature(np.array([], dtype=int), np.zeros((0, 3))) is None
    assert fit_temperature(np.array([0, 1]), np.array([0.3, 0.7])) is None  # not (n, k)
    hopeless = np.tile([0.5, 0.5], (50, 1))  # every answer the same: T changes nothing
    assert fit_temperature(np.array([0, 1] * 25), hopeless) is None
    assert fit_temperature(np.array([0, 1] * 25), np.tile([[0.9, 0.1], [0.1, 0.9]], (25, 1))
                           ) <= HIGHEST
