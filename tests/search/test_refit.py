"""The final fit on every labelled row, on real flights: what is refit, how, and when not."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.models.predictor import Predictor
from mlpilot.models.registry import get_adapter
from mlpilot.search.refit import (
    BAG_BELOW_ROWS,
    MARGIN,
    RefitMember,
    RefitOutcome,
    affordable,
    member_refit_estimate,
    refit_all,
    refit_form,
    rounds_scale,
    rows_per_fit,
    scaled_rounds,
)
from mlpilot.search.study import SearchResult, run_search
from mlpilot.search.validation import Strategy


def search(problem: dict, **options) -> SearchResult:
    """A search on the first 3,500 + 1,000 rows (the last 500 play the test rows)."""
    options.setdefault("budget", Budget(120))
    options.setdefault("seed", 0)
    options.setdefault("n_threads", 2)
    return run_search(problem["train_X"], problem["train_y"],
                      problem["valid_X"].iloc[:1000], problem["valid_y"][:1000],
                      schema=problem["schema"], task=problem["task"],
                      classes=problem["classes"], scorer=problem["scorer"], **options)


def everything(problem: dict) -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.concat([problem["train_X"], problem["valid_X"]], ignore_index=True)
    return X, np.concatenate([problem["train_y"], problem["valid_y"]])


def refit(problem: dict, result: SearchResult, **options) -> RefitOutcome:
    X, y = everything(problem)
    options.setdefault("deadline", None)
    return refit_all(X, y, result.members, schema=problem["schema"], task=problem["task"],
                     classes=problem["classes"], strategy=result.strategy, seed=0,
                     n_threads=2, threshold=result.best.threshold,
                     searched_rows=result.rows_per_fit, **options)


@pytest.fixture(scope="module")
def holdout(delay_problem) -> SearchResult:
    return search(delay_problem, max_trials=6, families=["lightgbm", "linear", "extra_trees"],
                  strategy="holdout")


def test_after_a_holdout_each_member_is_refit_on_every_row_with_its_rounds(
        holdout, delay_problem):
    outcome = refit(delay_problem, holdout)
    assert outcome.done and outcome.rows == 5000 and "5,000 labelled rows" in outcome.reason
    assert [m["trial"] for m in outcome.members] == [m.trial for m in holdout.members]
    assert outcome.refit_trials == [m.trial for m in holdout.members]
    final = outcome.predictor
    assert final is not None and final.threshold == holdout.best.threshold
    for record, member in zip(outcome.members, final.members, strict=True):
        assert record["refit"]
        assert get_adapter(member.family).fitted_rounds(member.model) == record["rounds"]
        if record["rounds"] is not None:  # a boosted classifier keeps its rounds
            assert record["rounds"] == record["searched_rounds"]
    assert any(record["rounds"] is not None for record in outcome.members)
    assert "the rows ratio" not in outcome.reason
    # the refit models saw the last 1,500 rows too, so they predict differently
    rows = delay_problem["valid_X"].iloc[1000:]
    assert not np.array_equal(final.predict_proba(rows), holdout.best.predict_proba(rows))
    assert refit(delay_problem, holdout).predictor.to_bytes() == final.to_bytes()


def test_after_cross_validation_each_member_is_bagged_again_over_every_row(delay_problem):
    result = search(delay_problem, max_trials=3, families=["lightgbm"], strategy="cv",
                    ensemble=False)
    outcome = refit(delay_problem, result)
    assert outcome.done and "5-fold bagging" in outcome.reason and outcome.form == "bag"
    final = outcome.predictor
    assert final is not None and len(final.members) == 5 == len(result.best.members)
    assert sum(m.weight for m in final.members) == pytest.approx(1.0)
    assert rows_per_fit(5000, result.strategy) == 4000
    assert all(m["rounds"] is None for m in outcome.members)  # early stopping per fold
    assert refit(delay_problem, result).predictor.to_bytes() == final.to_bytes()


def test_after_cross_validation_a_regression_member_is_one_model_with_the_folds_rounds(
        distance_problem):
    result = search(distance_problem, max_trials=3, families=["lightgbm"], strategy="cv",
                    ensemble=False)
    outcome = refit(distance_problem, result)
    assert outcome.done and outcome.form == "one" and "(the folds' mean)" in outcome.reason
    assert "times 1.39, the rows ratio" in outcome.reason
    final = outcome.predictor
    assert final is not None and len(final.members) == 1 < len(result.best.members)
    [record], [member] = outcome.members, final.members
    folds = [get_adapter("lightgbm").fitted_rounds(m.model) for m in result.best.members]
    assert record["searched_rounds"] == max(1, round(float(np.mean(folds))))
    # each fold model fitted 3,600 of the 4,500 searched rows; the one model fits 5,000
    assert result.rows_per_fit == 3600
    assert record["rounds"] == scaled_rounds(record["searched_rounds"], 5000 / 3600)
    assert get_adapter("lightgbm").fitted_rounds(member.model) == record["rounds"]
    assert outcome.to_dict()["form"] == "one"
    assert refit(distance_problem, result).predictor.to_bytes() == final.to_bytes()
    # the bag is still there to ask for (bench/refit_choice.py compares the two)
    bag = refit(distance_problem, result, form="bag")
    assert bag.form == "bag" and len(bag.predictor.members) == 5
    assert "5-fold bagging" in bag.reason
    with pytest.raises(ValueError, match="unknown final-fit form"):
        refit(distance_problem, result, form="stack")


def test_the_forms_and_their_estimates():
    cv, holdout = Strategy("cv", 5), Strategy("holdout", 1)
    assert refit_form(Task.REGRESSION, cv, 2_000) == "one" == refit_form(Task.BINARY, holdout, 400)
    assert refit_form(Task.BINARY, cv, 2_000) == "bag" == refit_form(Task.MULTICLASS, cv, 2_000)
    # a small regression is bagged again; a holdout one, however small, is not
    assert refit_form(Task.REGRESSION, cv, BAG_BELOW_ROWS - 1) == "bag"
    assert refit_form(Task.REGRESSION, cv, BAG_BELOW_ROWS) == "one"
    assert refit_form(Task.REGRESSION, holdout, 400) == "one"
    # five fold fits of 800 rows took 10 s: bagging 1,000 rows again is five fits of 800
    # rows, one model is one fit of 1,000
    assert member_refit_estimate(10.0, strategy=cv, n_rows=1000, searched_rows=800,
                                 form="bag") == pytest.approx(10.0 * MARGIN)
    assert member_refit_estimate(10.0, strategy=cv, n_rows=1000, searched_rows=800,
                                 form="one") == pytest.approx(2.0 * 1000 / 800 * MARGIN)
    # a boosted regression member also fits 1,000 / 800 times its rounds
    more = rounds_scale(Task.REGRESSION, 1000, searched_rows=800)
    assert more == 1.25 and rounds_scale(Task.BINARY, 1000, searched_rows=800) == 1.0
    assert member_refit_estimate(10.0, strategy=cv, n_rows=1000, searched_rows=800, form="one",
                                 more_rounds=more) == pytest.approx(2.0 * 1.25 ** 2 * MARGIN)
    assert scaled_rounds(100, 1.25) == 125 and scaled_rounds(1, 0.3) == 1


def test_members_the_time_left_cannot_cover_keep_their_validated_models(holdout,
                                                                       delay_problem):
    none = refit(delay_problem, holdout, deadline=time.monotonic() + 1e-3)
    assert not none.done and none.predictor is None
    assert all(not m["refit"] and "kept as validated" in m["note"] for m in none.members)
    # a replay refits exactly the recorded members, whatever the clock says
    assert len(holdout.members) > 1  # the ensemble of the fixture
    first = holdout.members[0].trial
    part = refit(delay_problem, holdout, only=[first])
    assert part.done and part.refit_trials == [first]
    assert f"1 of {len(holdout.members)} members" in part.reason
    assert len(part.predictor.members) == len(holdout.best.members)
    same = [a.model is b.model for a, b in zip(part.predictor.members, holdout.best.members,
                                               strict=True)]
    assert same == [m.trial != first for m in holdout.members]


def test_the_baseline_is_never_refit(delay_problem):
    result = search(delay_problem, max_trials=1, strategy="holdout")
    assert result.best_trial.family == "baseline"
    outcome = refit(delay_problem, result)
    assert not outcome.done and "baseline" in outcome.reason


def test_a_failing_or_oversized_refit_keeps_the_validated_models(holdout, delay_problem,
                                                                 monkeypatch):
    import mlpilot.search.refit as refit_module

    small = refit(delay_problem, holdout, memory_mb=1)
    assert not small.done and small.predictor is None
    assert all("over the approved 1 MB" in m["note"] for m in small.members)

    failing = holdout.members[0].trial
    real = refit_module._refit_member

    def broken(problem, member, deadline, scale):
        if member.trial == failing:
            raise ValueError("out of disk")
        return real(problem, member, deadline, scale)

    monkeypatch.setattr(refit_module, "_refit_member", broken)
    outcome = refit(delay_problem, holdout)
    note = next(m["note"] for m in outcome.members if m["trial"] == failing)
    assert "the refit failed (ValueError: out of disk)" in note
    assert outcome.done and failing not in outcome.refit_trials
    first = [a.model is b.model for a, b in zip(outcome.predictor.members,
                                                 holdout.best.members, strict=True)]
    assert first == [m.trial == failing for m in holdout.members]


def test_the_affordable_members_leave_time_for_a_probe_and_the_final_fit():
    holdout = Strategy("holdout", 1)

    def member(trial: int, family: str, weight: float, seconds: float) -> RefitMember:
        return RefitMember(trial, family, {}, 0, weight, (), 100, seconds)

    # searched on 1,000 rows; probe on 1,000, final fit on 2,000: a classification member
    # that took 1 s is estimated at 1 + 2 s
    members = [member(1, "catboost", 0.5, 4.0), member(2, "lightgbm", 0.3, 1.0),
               member(3, "xgboost", 0.1, 1.0), member(0, "baseline", 0.1, 0.0)]
    options = dict(fits=(1_000, 2_000), task=Task.BINARY, strategy=holdout,
                   searched_rows=1_000, form="one")
    chosen, why = affordable(members, 8.0, **options)
    # the heaviest (CatBoost, 12 s) is passed over, not allowed to starve the others
    assert chosen == [2, 3]
    assert why[1] == "kept as validated: an estimated 12.0 s with its probe, 8.0 s left"
    assert why[0] == "the baseline is kept as validated"
    assert affordable(members, 16.0, **options)[0] == [1, 2]  # 12 + 3 s, then 1 left
    assert affordable(members, 100.0, **options)[0] == [1, 2, 3]
    assert affordable(members, 1.0, **options)[0] == []
    # a regression member also fits its rounds times the rows ratio (1 and 2 here)
    regression = affordable([member(2, "lightgbm", 1.0, 1.0)], 4.0,
                            **{**options, "task": Task.REGRESSION})
    assert regression[0] == [] and "5.0 s with its probe" in regression[1][2]
    # over the approved memory whatever the time
    big = affordable(members, 100.0, memory_mb=1, n_features=50_000, **options)
    assert big[0] == [] and "over the approved 1 MB" in big[1][2]


@pytest.mark.parametrize("form", ["one", "bag"])
def test_a_trial_fitted_on_the_log_of_the_target_is_refit_on_it(distance_problem, form):
    result = search(distance_problem, max_trials=3, families=["lightgbm"], strategy="cv",
                    ensemble=False)
    logged = next(t for t in result.trials if t.params.get("target_transform") == "log1p")
    member = RefitMember(logged.number, "lightgbm", dict(logged.params), logged.seed, 1.0, (),
                         120, logged.fit_seconds)
    X, y = everything(distance_problem)
    outcome = refit_all(X.iloc[:4500], y[:4500], [member], schema=distance_problem["schema"],
                        task=Task.REGRESSION, classes=None, strategy=result.strategy, seed=0,
                        n_threads=2, threshold=None, searched_rows=result.rows_per_fit,
                        deadline=None, form=form)
    final = outcome.predictor
    assert outcome.done and final is not None and outcome.form == form
    assert len(final.members) == (5 if form == "bag" else 1)
    assert all(m.target == "log1p" for m in final.members)
    rows, truth = X.iloc[4500:], y[4500:]
    assert np.abs(final.predict(rows) - truth).mean() < 150  # miles: mapped back from logs
    assert Predictor.from_bytes(final.to_bytes()).predict(rows).tolist() == \
        final.predict(rows).tolist()
