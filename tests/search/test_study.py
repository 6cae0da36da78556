"""The search on real flights: leaderboard, budget, repeatability, failures."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError
from mlpilot.models.predictor import Predictor
from mlpilot.search import clocks
from mlpilot.search.study import Limits, SearchResult, TrialResult, run_search

from .conftest import Rmse


def search(problem: dict, **options) -> SearchResult:
    options.setdefault("budget", Budget(120))
    options.setdefault("strategy", "holdout")
    options.setdefault("seed", 0)
    options.setdefault("n_threads", 2)
    return run_search(problem["train_X"], problem["train_y"], problem["valid_X"],
                      problem["valid_y"], schema=problem["schema"], task=problem["task"],
                      classes=problem["classes"], scorer=problem["scorer"], **options)


def without_feature_checks(problem: dict, **options) -> SearchResult:
    """:func:`search` without the short cycles' check (flights' two training months repeat
    the day of the month twice: one more fit of the first configuration, which would shift
    the portfolio these tests follow; tests/search/test_clocks.py tests the check)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clocks, "MIN_CYCLES", 0)
        return search(problem, **options)


@pytest.fixture(scope="module")
def portfolio_result(delay_problem) -> tuple[SearchResult, list[TrialResult]]:
    seen: list[TrialResult] = []
    return without_feature_checks(delay_problem, max_trials=9, on_trial=seen.append), seen


def test_leaderboard_has_baseline_every_family_and_the_ensemble(portfolio_result):
    result, seen = portfolio_result
    assert [t.family for t in result.trials[:9]] == [
        "baseline", "lightgbm", "linear", "catboost", "xgboost", "extra_trees",
        "random_forest", "knn", "lightgbm"]
    assert seen == list(result.trials)
    assert [t.number for t in result.trials] == list(range(len(result.trials)))
    assert all(t.state == "complete" and t.model_size_bytes > 0 for t in result.trials)
    assert [t.seed for t in result.trials[:9]] == list(range(9))
    ensemble = result.trials[9]
    assert ensemble.family == "ensemble" and len(result.trials) == 10
    weights = ensemble.params["weights"]
    assert len(weights) > 1 and sum(weights.values()) == pytest.approx(1.0)


def test_the_ensemble_is_chosen_only_when_it_scores_better(portfolio_result, delay_problem):
    result, _ = portfolio_result
    singles = [t for t in result.trials if t.family != "ensemble"]
    best_single = max(t.score for t in singles)
    assert result.best_trial.score >= best_single
    if result.best_trial.family == "ensemble":
        assert result.best_trial.score > best_single
        assert len(result.best.members) == len(result.best_trial.params["weights"])
    rows = delay_problem["valid_X"]
    proba = result.best.predict_proba(rows)
    assert delay_problem["scorer"](delay_problem["valid_y"], proba) == pytest.approx(
        result.best_trial.score, abs=1e-12)


def test_best_beats_baseline_on_auc(portfolio_result, delay_problem):
    result, _ = portfolio_result
    assert result.trials[0].score == pytest.approx(0.5)
    assert result.best_trial.score > 0.6
    assert result.best_trial.score == max(t.score for t in result.trials)
    rows = delay_problem["valid_X"]
    proba = result.best.predict_proba(rows)
    assert delay_problem["scorer"](delay_problem["valid_y"], proba) == pytest.approx(
        result.best_trial.score, abs=1e-12)
    prior = delay_problem["train_y"].mean()
    np.testing.assert_allclose(result.baseline.predict_proba(rows)[:, 1], prior)
    loaded = Predictor.from_bytes(result.best.to_bytes())
    np.testing.assert_array_equal(loaded.predict_proba(rows), proba)


def test_search_stays_within_its_budget(delay_problem):
    started = time.monotonic()
    result = search(delay_problem, budget=Budget(5.0))
    elapsed = time.monotonic() - started
    assert elapsed < 5.0 + 2.0  # the overrun allowed for short budgets
    assert result.trials[0].family == "baseline"
    assert len(result.trials) >= 2  # the baseline and a first model, even on a busy machine


def test_same_seed_same_trials_and_predictions(delay_problem):
    first = search(delay_problem, max_trials=10, families=["lightgbm", "linear"], seed=3)
    second = search(delay_problem, max_trials=10, families=["lightgbm", "linear"], seed=3)
    strip = [(t.family, t.params, t.seed, t.state, t.score, t.model_size_bytes)
             for t in first.trials]
    assert strip == [(t.family, t.params, t.seed, t.state, t.score, t.model_size_bytes)
                     for t in second.trials]
    assert first.best.to_bytes() == second.best.to_bytes()
    rows = delay_problem["valid_X"]
    np.testing.assert_array_equal(first.best.predict_proba(rows),
                                  second.best.predict_proba(rows))
    assert any(t.number >= 7 for t in first.trials)  # the sampler ran past the portfolio


def test_failing_trial_is_recorded_and_search_goes_on(delay_problem):
    class Exploding:
        name, greater_is_better = "exploding", True

        def __call__(self, y_true, prediction):
            if prediction.shape[1] == 2 and np.ptp(prediction[:, 1]) > 0:
                raise RuntimeError("scorer broke")
            return 0.5

    result = search({**delay_problem, "scorer": Exploding()}, max_trials=3)
    assert [t.state for t in result.trials] == ["complete", "failed", "failed"]
    assert "RuntimeError: scorer broke" in result.trials[1].error
    assert result.best_number == 0


def test_multiclass_search_minimises_log_loss(origin_problem):
    result = search(origin_problem, max_trials=4, families=["lightgbm", "linear"])
    assert result.best_trial.score < result.trials[0].score
    assert list(result.best.predict_frame(origin_problem["valid_X"].iloc[:3]).columns) == [
        "prediction", "proba_EWR", "proba_JFK", "proba_LGA"]


def test_unknown_family_is_a_config_error(delay_problem):
    with pytest.raises(ConfigError, match="xgb"):
        search(delay_problem, families=["xgb"], max_trials=2)


def test_cross_validation_scores_out_of_fold_and_bags_the_fold_models(delay_problem):
    result = search(delay_problem, max_trials=3, families=["lightgbm", "linear"],
                    strategy="cv", ensemble=False)
    assert result.strategy.kind == "cv" and result.strategy.folds == 5
    best = result.best_trial
    assert len(result.best.members) == 5
    assert sum(m.weight for m in result.best.members) == pytest.approx(1.0)
    assert 0.6 < best.score < 0.9
    X = pd.concat([delay_problem["train_X"], delay_problem["valid_X"]], ignore_index=True)
    assert result.best.predict_proba(X.iloc[:10]).shape == (10, 2)


def test_replay_refits_the_recorded_sequence_to_the_same_bytes(delay_problem):
    first = search(delay_problem, max_trials=5, families=["lightgbm", "linear"], strategy="cv")
    again = search(delay_problem, replay=list(first.trials), strategy="cv")
    assert [(t.family, t.params, t.score) for t in again.trials] == [
        (t.family, t.params, t.score) for t in first.trials]
    assert again.best.to_bytes() == first.best.to_bytes()


def test_memory_and_latency_limits_skip_and_reject_trials(delay_problem):
    result = search(delay_problem, max_trials=6, families=["random_forest", "lightgbm"],
                    limits=Limits(memory_mb=70, max_latency=None))
    skipped = [t for t in result.trials if t.state == "skipped"]
    assert skipped and all("exceeds the approved 70 MB" in t.error for t in skipped)
    slow = search(delay_problem, max_trials=4, families=["knn", "lightgbm"],
                  limits=Limits(max_latency=2e-6))
    rejected = {t.family for t in slow.trials if t.state == "rejected"}
    assert "knn" in rejected and "latency limit" in next(
        t.error for t in slow.trials if t.state == "rejected")
    assert slow.best_trial.state == "complete" and slow.best_trial.family != "ensemble"


def test_binary_threshold_is_tuned_for_a_rare_positive_class(portfolio_result):
    result, _ = portfolio_result
    assert result.best.threshold is not None and result.best.threshold < 0.5


LONG_FITS = {
    "lightgbm": {"n_estimators": 100_000, "learning_rate": 0.001, "num_leaves": 255,
                 "min_child_samples": 2},
    "xgboost": {"n_estimators": 100_000, "learning_rate": 0.001, "max_depth": 10},
    "catboost": {"n_estimators": 100_000, "learning_rate": 0.001, "depth": 8},
    "random_forest": {"n_estimators": 20_000, "min_samples_leaf": 1, "max_features": 1.0},
}  # (lbfgs converges on this data before any deadline; linear cuts share the mechanism)


@pytest.mark.parametrize("family", sorted(LONG_FITS))
def test_a_fit_cut_by_its_deadline_is_rebuilt_from_the_recorded_rounds(delay_problem, family):
    """The deadline stops a fit; fitting again for the recorded rounds gives the same model."""
    from mlpilot.models.registry import get_adapter
    from mlpilot.search.validation import Problem, Strategy

    problem = Problem(delay_problem["train_X"], delay_problem["train_y"],
                      delay_problem["valid_X"], delay_problem["valid_y"],
                      delay_problem["schema"], delay_problem["task"], 2, 2,
                      Strategy("holdout", 1), 0)
    adapter = get_adapter(family)
    params = {**adapter.default_params(delay_problem["task"], 3500), **LONG_FITS[family]}
    cut = problem.fit(family, params, 7, time.monotonic() + 0.4)
    assert cut.cuts[0] is not None and cut.cuts[0] >= 1
    again = problem.fit(family, params, 7, None, cuts=cut.cuts)
    assert again.cuts == (None,)
    assert adapter.dump(again.members[0].model) == adapter.dump(cut.members[0].model)
    np.testing.assert_array_equal(again.prediction, cut.prediction)


def test_a_time_budgeted_search_replays_bit_for_bit(delay_problem):
    """Whatever the deadline cut, failed or kept, the replay mirrors it."""
    first = search(delay_problem, budget=Budget(6.0), families=["lightgbm", "random_forest"],
                   strategy="cv")
    again = search(delay_problem, replay=list(first.trials), strategy="cv")
    assert [(t.family, t.state, t.score) for t in again.trials] == [
        (t.family, t.state, t.score) for t in first.trials]
    assert again.best.to_bytes() == first.best.to_bytes()


def test_class_weights_are_searched_only_on_imbalanced_classes(delay_problem):
    # about one flight in five is delayed: the weighted families carry a class_weight choice
    result = search(delay_problem, max_trials=8, families=["lightgbm", "linear"],
                    ensemble=False)
    weighted = [t for t in result.trials if t.family != "baseline"]
    assert len(weighted) == 7
    assert all(t.params["class_weight"] in ("none", "balanced") for t in weighted)
    assert [t.params["class_weight"] for t in weighted[:4]] == ["none"] * 4  # the portfolio
    balanced = dict(delay_problem)
    keep = np.r_[np.flatnonzero(delay_problem["train_y"] == 1),
                 np.flatnonzero(delay_problem["train_y"] == 0)[:800]]
    balanced["train_X"] = delay_problem["train_X"].iloc[keep]
    balanced["train_y"] = delay_problem["train_y"][keep]
    plain = search(balanced, max_trials=3, families=["lightgbm"], ensemble=False)
    assert all("class_weight" not in t.params for t in plain.trials)


def test_hopeless_cross_validated_trials_are_pruned_between_folds(delay_problem):
    seen: list[TrialResult] = []
    result = search(delay_problem, max_trials=14, strategy="cv", on_trial=seen.append,
                    families=["lightgbm", "knn", "linear"])
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, [(t.family, t.state, t.score) for t in result.trials]
    first_possible = 1 + 4  # the baseline, then four complete trials to compare with
    assert all(t.number > first_possible - 1 for t in pruned)
    for t in pruned:
        assert t.score is None and "pruned after" in t.error and "median" in t.error
    # pruned trials are never ensemble members, and a replay prunes the same ones
    if result.best_trial.family == "ensemble":
        assert not {int(n) for n in result.best_trial.params["weights"]} & {
            t.number for t in pruned}
    again = search(delay_problem, max_trials=14, strategy="cv",
                   families=["lightgbm", "knn", "linear"], replay=result.trials)
    assert [t.state for t in again.trials] == [t.state for t in result.trials]
    assert again.best.to_bytes() == result.best.to_bytes()


def test_a_regression_search_spares_every_portfolio_start_from_pruning(distance_problem):
    """Each family's start is scored on all its folds (by default in a regression search);
    without the rule (``spare_starts=False``, as classification searches prune) a start after
    the fourth complete trial can be pruned, and the search's own proposals still are."""
    from mlpilot.search.portfolio import starting_configs

    problem = {**distance_problem, "train_X": distance_problem["train_X"].iloc[:1000],
               "train_y": distance_problem["train_y"][:1000],
               "valid_X": distance_problem["valid_X"].iloc[:400],
               "valid_y": distance_problem["valid_y"][:400]}
    families = ["lightgbm", "linear", "random_forest", "knn"]
    starts = len(starting_configs(problem["task"], 1400, families,
                                  ("identity", "log1p", "sqrt")))
    options = dict(max_trials=starts + 6, strategy="cv", families=families, ensemble=False)
    spared = search(problem, **options)
    earlier = search(problem, spare_starts=False, **options)
    assert [t.family for t in spared.trials[:starts]] == [
        "baseline", "lightgbm", "lightgbm", "lightgbm", "linear", "random_forest", "knn",
        "lightgbm", "lightgbm"]
    assert [t.state for t in spared.trials[:starts]] == ["complete"] * starts
    assert "pruned" in [t.state for t in earlier.trials[:starts]]
    assert "pruned" in [t.state for t in spared.trials[starts:]]


def test_the_fold_pool_fits_the_same_models_as_one_fold_at_a_time(delay_problem):
    from mlpilot.core.config import Task
    from mlpilot.search.parallel import FoldPool
    from mlpilot.search.validation import Problem, choose_strategy

    def problem(pool: FoldPool | None) -> Problem:
        built = Problem(delay_problem["train_X"], delay_problem["train_y"],
                        delay_problem["valid_X"], delay_problem["valid_y"],
                        delay_problem["schema"], Task.BINARY, 2, 1,
                        choose_strategy(5000, 60, True, "cv"), 0)
        built.pool = pool
        return built

    params = {"n_estimators": 50, "num_leaves": 15, "learning_rate": 0.1}
    alone = problem(None).fit("lightgbm", params, 3, None)
    pool = FoldPool(2)
    try:
        pooled = problem(pool).fit("lightgbm", params, 3, None)
    finally:
        pool.close()
    np.testing.assert_array_equal(pooled.prediction, alone.prediction)
    assert [m.family for m in pooled.members] == ["lightgbm"] * 5


def test_a_slow_cross_validated_trial_ends_with_every_fold_cut_not_failed(delay_problem):
    import time as clock

    from mlpilot.core.config import Task
    from mlpilot.search.validation import Problem, choose_strategy

    problem = Problem(delay_problem["train_X"], delay_problem["train_y"],
                      delay_problem["valid_X"], delay_problem["valid_y"],
                      delay_problem["schema"], Task.BINARY, 2, 2,
                      choose_strategy(5000, 60, True, "cv"), 0)
    params = {"n_estimators": 20_000, "max_features": 1.0, "min_samples_leaf": 1}
    started = clock.monotonic()
    fit = problem.fit("random_forest", params, 1, started + 3.0)
    assert clock.monotonic() - started < 8.0  # minutes without the deadline
    assert len(fit.members) == 5 and all(c is not None for c in fit.cuts), fit.cuts
    again = problem.fit("random_forest", params, 1, None, cuts=fit.cuts)
    np.testing.assert_array_equal(again.prediction, fit.prediction)


def test_a_replay_blends_from_the_trials_the_recorded_ensemble_blended(delay_problem,
                                                                       monkeypatch):
    import mlpilot.search.study as study

    families = ["lightgbm", "linear", "knn"]
    first = search(delay_problem, max_trials=8, families=families, strategy="holdout")
    again = search(delay_problem, replay=list(first.trials), strategy="holdout")
    assert [t.params for t in again.trials] == [t.params for t in first.trials]
    assert again.best.to_bytes() == first.best.to_bytes()
    # whatever rule chose the recorded run's candidates, the replay selects from the trials
    # its ensemble blended (here, a recorded ensemble of the two weakest complete trials)
    complete = sorted((t for t in first.trials if t.family not in ("baseline", "ensemble")
                       and t.score is not None), key=lambda t: t.score)
    weakest = {str(t.number): 0.5 for t in complete[:2]}
    recorded = [t for t in first.trials if t.family != "ensemble"]
    recorded.append(TrialResult(len(recorded), "ensemble", {"weights": weakest}, 0,
                                "complete", 0.5, 0.0, 0.0, 0))
    offered: list[set[int]] = []
    real = study.select_ensemble

    def spy(predictions, *args, **kwargs):
        offered.append(set(predictions))
        return real(predictions, *args, **kwargs)

    monkeypatch.setattr(study, "select_ensemble", spy)
    search(delay_problem, replay=recorded, strategy="holdout")
    assert offered == [{int(n) for n in weakest}]


@pytest.mark.parametrize("strategy,name,families,probe", [
    ("holdout", "delay_problem", ["lightgbm", "linear", "knn", "xgboost"], True),
    ("holdout", "delay_problem", ["lightgbm", "linear", "knn", "xgboost"], False),
    ("cv", "distance_problem", ["knn", "linear", "extra_trees"], True)])
def test_the_search_keeps_back_the_final_fit_of_the_ensemble_it_builds(
        strategy, name, families, probe, request, monkeypatch):
    """After a holdout, and after cross-validating a regression (whose final fit refits one
    model per member, the "one" form), the reserve is the planned ensemble's final fit, with
    its probe when one precedes it (a time-ordered split) and without it when none does."""
    import mlpilot.search.study as study
    from mlpilot.search.refit import affordable, refit_cost

    planned: dict[str, float] = {}
    real_finish = study._Loop.finish

    def finish(loop, *args, **kwargs):
        planned["reserve"], planned["base"] = loop._reserve(), loop.reserve
        planned["remaining"] = loop.budget.remaining()
        return real_finish(loop, *args, **kwargs)

    monkeypatch.setattr(study._Loop, "finish", finish)
    problem = request.getfixturevalue(name)
    rows = len(problem["train_y"]) + len(problem["valid_y"])
    budget = Budget(8.0)
    result = search(problem, budget=budget, refit_rows=rows, strategy=strategy,
                    families=families, refit_probe=probe)
    assert result.strategy.kind == strategy
    if strategy == "holdout":
        assert result.best_trial.family == "ensemble", "the test needs a blend to plan"
    # the reserve at the search's end is the final fit of exactly the ensemble's members
    # (after a holdout every family's best trial was a candidate, so they may lie outside the
    # 12 best); the probe fits the searched rows (training and validation), the final fit
    # every row
    options = {"fits": [rows, rows] if probe else [rows], "task": problem["task"],
               "strategy": result.strategy, "searched_rows": result.rows_per_fit, "form": "one"}
    most = study.REFIT_MAX_SHARE * budget.seconds
    chosen, _ = affordable(result.members, most, **options)
    assert chosen, "a 5,000-row refit of these members fits in 2.8 s"
    by_number = {t.number: t for t in result.trials}
    expected = sum(refit_cost(m, **options) for m in result.members if m.trial in chosen)
    expected += study.STORE_WRITES * sum(by_number[m.trial].model_size_bytes
                                         for m in result.members) / study.STORE_BYTES_PER_SECOND
    assert planned["reserve"] - planned["base"] == pytest.approx(min(most, expected))
    # and the search stopped once no more than that was left
    assert planned["remaining"] <= planned["reserve"]


def test_a_non_negative_regression_target_searches_its_transform(distance_problem):
    """Distance (miles, never negative): the portfolio fits LightGBM on its log and square
    root too, every trial names its transform, scores in miles, and a replay refits the same
    bytes; a target with negative values is searched as it is."""
    result = without_feature_checks(distance_problem, max_trials=6,
                                    families=["lightgbm", "linear"])
    fitted = [t for t in result.trials if t.family not in ("baseline", "ensemble")]
    assert [(t.family, t.params["target_transform"]) for t in fitted] == [
        ("lightgbm", "identity"), ("lightgbm", "log1p"), ("lightgbm", "sqrt"),
        ("linear", "identity"), ("lightgbm", "identity")]
    baseline = result.trials[0].score
    assert all(t.score < baseline / 3 for t in fitted[1:3])  # miles, not logs
    again = search(distance_problem, replay=list(result.trials))
    assert [(t.params, t.score) for t in again.trials] == [(t.params, t.score)
                                                          for t in result.trials]
    assert again.best.to_bytes() == result.best.to_bytes()
    shifted = dict(distance_problem)
    shifted["train_y"] = distance_problem["train_y"] - 1000.0
    shifted["valid_y"] = distance_problem["valid_y"] - 1000.0
    plain = search(shifted, max_trials=4, families=["lightgbm"], ensemble=False)
    assert all("target_transform" not in t.params for t in plain.trials)



def test_a_guarded_search_chooses_a_proposal_only_when_it_clears_the_margin(delay_problem,
                                                                           monkeypatch):
    """Whether a flight is delayed, as a 0/1 regression (noisy: the best trials differ by
    less than their spread over the validation rows). The TPE sampler's proposals are
    recorded as such; with the guard (a regression's default) greedy selection and the
    single model are chosen only among the baseline, the starts and the proposals that beat
    the best start by one standard error, while without it a proposal that led by less is
    offered. A replay knows the proposals and chooses the same."""
    import mlpilot.search.study as study
    from mlpilot.models import target as target_transform
    from mlpilot.search.portfolio import starting_configs

    problem = {**delay_problem, "task": Task.REGRESSION, "classes": None,
               "train_y": delay_problem["train_y"].astype(np.float64),
               "valid_y": delay_problem["valid_y"].astype(np.float64), "scorer": Rmse()}
    families = ["lightgbm", "linear"]
    starts = len(starting_configs(Task.REGRESSION, 3500, families,
                                  target_transform.choices(problem["train_y"])))
    offered: list[set[int]] = []
    real_select = study.select_ensemble

    def select(predictions, *args, **kwargs):
        offered.append(set(predictions))
        return real_select(predictions, *args, **kwargs)

    monkeypatch.setattr(study, "select_ensemble", select)
    options = dict(max_trials=starts + 14, families=families, seed=2)
    guarded = without_feature_checks(problem, **options)
    guarded_offer = offered[-1]
    unguarded = without_feature_checks(problem, guard_candidates=False, **options)
    unguarded_offer = offered[-1]

    searched = [t for t in guarded.trials if t.family != "ensemble"]
    assert [t.proposed for t in searched] == [False] * starts + [True] * 14
    assert [t.to_dict()["proposed"] for t in searched] == [t.proposed for t in searched]
    # the same trials either way: the guard only chooses among them
    assert [(t.params, t.score) for t in unguarded.trials[:starts + 14]] == [
        (t.params, t.score) for t in searched]
    best_start = min((t for t in searched[1:starts] if t.score is not None),
                     key=lambda t: t.score)
    ahead = {t.number for t in searched
             if t.proposed and t.score is not None and t.score < best_start.score}
    kept_out = ahead - guarded_offer
    assert kept_out, "no proposal led the best start by less than the margin on these rows"
    assert kept_out <= unguarded_offer  # offered without the guard
    chosen = guarded.best_trial
    members = ({int(n) for n in chosen.params["weights"]} if chosen.family == "ensemble"
               else {chosen.number})
    assert not members & kept_out
    # so the guard changed the model, and a replay that forgot the proposals would too
    assert unguarded.best.to_bytes() != guarded.best.to_bytes()
    again = search(problem, replay=list(guarded.trials), seed=2)
    assert again.best.to_bytes() == guarded.best.to_bytes()
