"""Repeated k-fold on small log-loss tables: two draws of the five folds, every row predicted
out of fold once per draw, pruning on the first draw, the bag refit the same way, replayed bit
for bit. On real flights rows (a 1,600-row slice of the shared fixture: which airport a flight
left from, scored by log loss)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

from mlpilot.core.budget import Budget
from mlpilot.models.registry import get_adapter
from mlpilot.search.refit import refit_all
from mlpilot.search.study import Limits, SearchResult, TrialResult, _Loop, run_search
from mlpilot.search.validation import (
    CV_REPEAT_ROWS,
    CV_REPEATS,
    Problem,
    Strategy,
    TrialFit,
    choose_strategy,
)


@pytest.fixture(scope="module")
def small(origin_problem) -> dict:
    """1,200 training and 400 validation rows: 1,600 pooled rows, repeated k-fold."""
    p = origin_problem
    return {**p, "train_X": p["train_X"].iloc[:1200], "train_y": p["train_y"][:1200],
            "valid_X": p["valid_X"].iloc[:400], "valid_y": p["valid_y"][:400]}


def problem(small: dict, strategy: Strategy) -> Problem:
    return Problem(small["train_X"], small["train_y"], small["valid_X"], small["valid_y"],
                   small["schema"], small["task"], 3, 2, strategy, seed=3)


def search(small: dict, **options) -> SearchResult:
    return run_search(small["train_X"], small["train_y"], small["valid_X"], small["valid_y"],
                      schema=small["schema"], task=small["task"], classes=small["classes"],
                      scorer=small["scorer"], budget=Budget(300), seed=0, n_threads=2,
                      **options)


def test_small_log_loss_tables_draw_the_folds_twice():
    def plan(rows: int, seconds: float = 60, **options) -> Strategy:
        return choose_strategy(rows, seconds, **{"allow_cv": True, "log_loss": True, **options})

    assert plan(CV_REPEAT_ROWS) == Strategy("cv", 5, CV_REPEATS)
    assert plan(CV_REPEAT_ROWS + 1) == Strategy("cv", 5, 1)
    assert plan(300, 10).repeats == 2  # at any budget
    assert plan(300, allow_cv=False) == Strategy("holdout", 1)
    assert plan(500_000, requested="cv").repeats == 1
    # AUC and RMSE searches keep one draw (bench/README.md)
    assert plan(300, log_loss=False) == Strategy("cv", 5, 1)
    assert Strategy("cv", 5, 2).fits == 10 and Strategy("cv", 5).fits == 5
    assert Strategy("cv", 5, 2).describe() == "5-fold repeated 2 times"
    assert Strategy("cv", 5).describe() == "5-fold"
    assert Strategy("cv", 5, 2).to_dict() == {"kind": "cv", "folds": 5, "repeats": 2}


def test_each_row_is_out_of_fold_once_per_repeat_and_predicted_by_their_mean(small):
    once, twice = problem(small, Strategy("cv", 5)), problem(small, Strategy("cv", 5, 2))
    assert len(twice.folds) == 10
    # the first draw is the plain seeded 5-fold; the second is a different shuffle
    plain = StratifiedKFold(n_splits=5, shuffle=True, random_state=3).split(once.X, once.y)
    for (a, b), (c, d) in zip(once.folds, twice.folds[:5], strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    for (a, b), (c, d) in zip(plain, once.folds, strict=True):
        assert np.array_equal(np.sort(a), c) and np.array_equal(np.sort(b), d)
    assert not all(np.array_equal(b, d) for (_, b), (_, d)
                   in zip(twice.folds[:5], twice.folds[5:], strict=True))
    counts = np.bincount(np.concatenate([v for _, v in twice.folds]), minlength=1600)
    assert (counts == 2).all()
    for draw in (twice.folds[:5], twice.folds[5:]):  # each draw is a partition
        assert np.array_equal(np.sort(np.concatenate([v for _, v in draw])), np.arange(1600))

    params = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15}
    fit = twice.fit("lightgbm", params, seed=5, deadline=None)
    plain = once.fit("lightgbm", params, seed=5, deadline=None)
    assert len(fit.members) == 10 and sum(m.weight for m in fit.members) == pytest.approx(1.0)
    assert fit.first_pass is not None and plain.first_pass is None
    # the first draw's models are the plain 5-fold's (same rows, same seed)
    np.testing.assert_allclose(fit.first_pass, plain.prediction)
    second = np.zeros_like(fit.prediction)
    for (_, rows), member in zip(twice.folds[5:], fit.members[5:], strict=True):
        assert member.features is not None
        matrix = member.features.transform(twice.X.iloc[rows])
        second[rows] = get_adapter("lightgbm").predict(member.model, matrix, small["task"])
    np.testing.assert_allclose(fit.prediction, (fit.first_pass + second) / 2, atol=1e-12)
    assert small["scorer"](twice.y, fit.prediction) != small["scorer"](twice.y, fit.first_pass)


def test_a_repeated_search_prunes_on_the_first_draw_and_replays_bit_for_bit(small):
    seen: list[TrialResult] = []
    result = search(small, max_trials=11, on_trial=seen.append,
                    families=["knn", "linear"])
    assert result.strategy == Strategy("cv", 5, 2)
    assert result.rows_per_fit == 1280
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, [(t.family, t.state, t.score) for t in result.trials]
    for t in pruned:  # asked only while the first draw's folds come in
        assert t.error is not None and "median" in t.error
        done = int(t.error.split("pruned after ")[1].split(" of ")[0])
        assert 1 <= done <= 5 and " of 10 folds" in t.error
    # every chosen trial keeps its ten fold models
    assert result.best_trial.family != "baseline" and len(result.best.members) % 10 == 0
    again = search(small, max_trials=11, families=["knn", "linear"],
                   replay=result.trials)
    assert [(t.state, t.score) for t in again.trials] == [(t.state, t.score)
                                                          for t in result.trials]
    assert again.best.to_bytes() == result.best.to_bytes()


def test_the_bag_is_refit_with_the_same_repeated_folds(small):
    result = search(small, max_trials=3, families=["linear"], ensemble=False)
    X = pd.concat([small["train_X"], small["valid_X"]], ignore_index=True)
    y = np.concatenate([small["train_y"], small["valid_y"]])
    outcome = refit_all(X, y, result.members, schema=small["schema"], task=small["task"],
                        classes=small["classes"], strategy=result.strategy, seed=0,
                        n_threads=2, threshold=result.best.threshold,
                        searched_rows=result.rows_per_fit, deadline=None)
    assert outcome.done and outcome.form == "bag"
    assert "5-fold repeated 2 times bagging, as validated" in outcome.reason
    assert outcome.predictor is not None and len(outcome.predictor.members) == 10


def test_an_auc_search_on_as_few_rows_keeps_one_draw(delay_problem):
    p = delay_problem
    result = run_search(p["train_X"].iloc[:1200], p["train_y"][:1200], p["valid_X"].iloc[:400],
                        p["valid_y"][:400], schema=p["schema"], task=p["task"],
                        classes=p["classes"], scorer=p["scorer"], budget=Budget(60), seed=0,
                        n_threads=2, max_trials=2, families=["linear"], ensemble=False)
    assert result.strategy == Strategy("cv", 5, 1)
    assert result.best_trial.family == "linear" and len(result.best.members) == 5


def test_a_recorded_number_of_draws_is_what_a_replay_uses(small):
    """A run recorded before its folds were repeated replays with one draw."""
    once = search(small, max_trials=2, families=["linear"], ensemble=False, repeats=1)
    assert once.strategy == Strategy("cv", 5, 1) and len(once.best.members) == 5
    twice = search(small, max_trials=2, families=["linear"], ensemble=False)
    assert twice.strategy == Strategy("cv", 5, 2) and len(twice.best.members) == 10


def test_the_prediction_cost_per_row_is_the_bag_of_ten_models(small):
    twice = problem(small, Strategy("cv", 5, 2))
    parts = [np.full((len(v), 3), 1 / 3) for _, v in twice.folds]
    fit = twice._assemble([], parts, fit_seconds=1.0, predict_seconds=3.2, size=0,
                          taken=[None] * 10)
    # 3.2 s over 3,200 predicted rows (each row once per draw): 1 ms per row and model
    assert fit.predict_seconds_per_row == pytest.approx(10 * 3.2 / 3200)


def test_pruning_compares_the_first_draw_with_the_earlier_trials_first_draw(small):
    twice = problem(small, Strategy("cv", 5, 2))
    y = twice.y
    loop = _Loop(twice, small["scorer"], Limits(), Budget(60), 1.0, False, None, False)

    def probabilities(on_truth: float) -> np.ndarray:
        out = np.full((len(y), 3), (1 - on_truth) / 2)
        out[np.arange(len(y)), y] = on_truth
        return out

    # the earlier trials: sharp on their first draw, and (made up) uniform as the mean of two
    for n in range(5):
        loop.trials.append(TrialResult(n, "lightgbm", {"n": n}, n, "complete", 0.1, 0.0,
                                       0.0, 0))
        loop.fits[n] = TrialFit((), np.full((len(y), 3), 1 / 3), 0.0, 0.0, 0, (),
                                first_pass=probabilities(0.9))
    prune = loop._pruner()
    assert prune is not None
    rows = np.concatenate([v for _, v in twice.folds[:2]])
    halfway = probabilities(0.6)[rows]  # better than uniform, worse than 0.9 on the truth
    reason = prune(rows, halfway)
    assert reason is not None and "median" in reason
    assert prune(rows, probabilities(0.95)[rows]) is None


def test_one_draw_of_a_regression_is_the_plain_seeded_k_fold(distance_problem):
    """One draw keeps the folds every earlier run (and its replay) was validated on."""
    p = distance_problem
    one = Problem(p["train_X"].iloc[:300], p["train_y"][:300], p["valid_X"].iloc[:100],
                  p["valid_y"][:100], p["schema"], p["task"], None, 2, Strategy("cv", 5), seed=7)
    plain = KFold(n_splits=5, shuffle=True, random_state=7).split(one.X)
    for (a, b), (c, d) in zip(plain, one.folds, strict=True):
        assert np.array_equal(np.sort(a), c) and np.array_equal(np.sort(b), d)
