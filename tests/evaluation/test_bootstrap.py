"""Paired bootstrap comparison of two models' predictions on the same rows."""

from __future__ import annotations

import math

import numpy as np

from mlpilot.evaluation.bootstrap import paired_worse_share
from mlpilot.evaluation.metrics import METRICS


def test_worse_share_separates_a_clear_difference_from_noise():
    rng = np.random.default_rng(1)
    y = rng.normal(size=2_000)
    good = y + rng.normal(scale=0.5, size=2_000)
    bad = y + rng.normal(scale=1.0, size=2_000)
    twin = good + rng.normal(scale=0.01, size=2_000)  # as good as `good`, up to noise
    rmse = METRICS["rmse"]
    assert paired_worse_share(rmse, y, bad, good) == 1.0
    assert paired_worse_share(rmse, y, good, bad) == 0.0
    assert 0.05 < paired_worse_share(rmse, y, twin, good, n_resamples=200) < 0.95


def test_worse_share_follows_the_metric_direction_and_is_seeded():
    y = np.array([0, 1] * 200)
    sharp = np.column_stack([1 - (0.2 + 0.6 * y), 0.2 + 0.6 * y])
    blunt = np.column_stack([1 - (0.4 + 0.2 * y), 0.4 + 0.2 * y])
    assert paired_worse_share(METRICS["log_loss"], y, blunt, sharp, seed=3) == 1.0  # lower
    assert paired_worse_share(METRICS["log_loss"], y, sharp, blunt, seed=3) == 0.0
    flip = np.column_stack([0.4 + 0.2 * y, 1 - (0.4 + 0.2 * y)])
    assert paired_worse_share(METRICS["roc_auc"], y, flip, sharp) == 1.0  # greater is better
    noisy = sharp + np.random.default_rng(0).normal(scale=0.05, size=sharp.shape).clip(-0.1, 0.1)
    first = paired_worse_share(METRICS["log_loss"], y, noisy.clip(0.01, 0.99), sharp, seed=7)
    assert first == paired_worse_share(METRICS["log_loss"], y, noisy.clip(0.01, 0.99), sharp,
                                       seed=7)


def test_undefined_scores_are_left_out_and_rows_per_resample_can_be_capped():
    y = np.zeros(50, dtype=int)  # one class: AUC is undefined on every resample
    proba = np.full((50, 2), 0.5)
    assert math.isnan(paired_worse_share(METRICS["roc_auc"], y, proba, proba))
    assert math.isnan(paired_worse_share(METRICS["rmse"], np.array([]), np.array([]),
                                         np.array([])))
    rng = np.random.default_rng(2)
    values = rng.normal(size=20_000)
    slightly = values + rng.normal(scale=0.30, size=20_000)
    better = values + rng.normal(scale=0.29, size=20_000)
    # on all 20,000 rows the small gap shows; with 200 rows per resample it is noise
    assert paired_worse_share(METRICS["rmse"], values, slightly, better) > 0.95
    assert paired_worse_share(METRICS["rmse"], values, slightly, better, max_rows=200) < 0.95
