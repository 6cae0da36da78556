"""The final fit only when it pays, on real flights: the probe without the test rows decides."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.budget import Budget
from mlpilot.core.config import ProjectConfig, Task
from mlpilot.data.schema import Schema, infer_schema, validate_prediction_input
from mlpilot.data.split import Split, make_split
from mlpilot.evaluation.metrics import evaluate, get_metric
from mlpilot.pipeline.final_fit import HURTS_SHARE, final_fit, probes
from mlpilot.pipeline.run import encode_target
from mlpilot.pipeline.rundata import raw_prediction
from mlpilot.search.refit import refit_all
from mlpilot.search.study import SearchResult, run_search

FAMILIES = ["lightgbm", "linear"]


class Case:
    """A searched flights problem: the labelled rows, their split and the search result."""

    def __init__(self, frame: pd.DataFrame, target: str, task: Task, metric: str,
                 strategy: str, time_column: str | None = "time_hour") -> None:
        self.config = ProjectConfig("flights", target, task, metric, time_column=time_column)
        self.schema: Schema = infer_schema(frame, target=target, time_column=time_column)
        self.X = validate_prediction_input(frame, self.schema)
        self.y, self.classes = encode_target(frame[target], task)
        self.split: Split = make_split(frame, target=target, task=task, seed=0,
                                       time_column=time_column)
        self.metric = get_metric(metric, task)
        part = {name: (self.X.iloc[idx].reset_index(drop=True), self.y[idx])
                for name, idx in (("train", self.split.train), ("valid", self.split.valid))}
        self.result: SearchResult = run_search(
            *part["train"], *part["valid"], schema=self.schema, task=task,
            classes=self.classes, scorer=self.metric, budget=Budget(300), seed=0,
            n_threads=2, max_trials=4, families=FAMILIES, strategy=strategy)

    def test_score(self, predictor) -> float:
        test_X = self.X.iloc[self.split.test].reset_index(drop=True)
        return evaluate(self.config.task, self.y[self.split.test],
                        raw_prediction(predictor, test_X), self.classes,
                        threshold=predictor.threshold)[self.metric.name]

    def evaluated(self, kind: str = "as evaluated") -> tuple[float, np.ndarray]:
        """The evaluated model's test score and predictions, or those of a perfect or an
        uninformative model in its place (to steer the probe's comparison)."""
        test_y = self.y[self.split.test]
        if kind == "perfect":
            prediction = np.eye(2)[test_y] if self.classes else test_y.astype(float)
        elif kind == "uninformative":
            prediction = np.full((len(test_y), 2), 0.5)
        else:
            test_X = self.X.iloc[self.split.test].reset_index(drop=True)
            prediction = raw_prediction(self.result.best, test_X)
        return self.metric(test_y, prediction), prediction

    def final_fit(self, kind: str = "as evaluated", **options):
        score, prediction = self.evaluated(kind)
        options.setdefault("refit", None)
        options.setdefault("budget", Budget(300))
        return final_fit(self.X, self.y, self.split, self.result, schema=self.schema,
                         config=self.config, classes=self.classes, n_threads=2,
                         form=options.pop("form", None), max_trials=options.pop("max_trials", 4),
                         replay=options.pop("replay", False), store_seconds=0.0,
                         max_latency_us=None, memory_mb=8_000, metric=self.metric,
                         evaluated_score=score, evaluated_prediction=prediction, **options)


@pytest.fixture(scope="module")
def delay(flights_slice) -> Case:
    return Case(flights_slice, "delayed", Task.BINARY, "roc_auc", "holdout")


@pytest.fixture(scope="module")
def distance(flights_slice) -> Case:
    frame = flights_slice.iloc[:2000].reset_index(drop=True)
    return Case(frame, "distance", Task.REGRESSION, "rmse", "cv")


def test_the_probe_is_the_chosen_recipe_fitted_without_the_test_rows(delay):
    evaluated, _ = delay.evaluated()
    assert evaluated == delay.test_score(delay.result.best)
    outcome = delay.final_fit()
    probe = outcome.probe
    seen = np.sort(np.concatenate([delay.split.train, delay.split.valid]))
    assert probe is not None and probe["rows"] == len(seen) < len(delay.y)
    assert probe["metric"] == "roc_auc" and probe["evaluated_score"] == evaluated
    # the probe's score is the test score of the members refit on the seen rows alone
    again = refit_all(delay.X.iloc[seen].reset_index(drop=True), delay.y[seen],
                      delay.result.members, schema=delay.schema, task=Task.BINARY,
                      classes=delay.classes, strategy=delay.result.strategy, seed=0,
                      n_threads=2, threshold=delay.result.best.threshold,
                      searched_rows=delay.result.rows_per_fit, deadline=None,
                      only=probe["trials"])
    assert probe["score"] == pytest.approx(delay.test_score(again.predictor), abs=1e-12)
    # served on every row unless the probe is worse beyond the noise of the test rows
    assert 0.0 <= probe["worse_share"] <= 1.0
    assert probe["hurts"] == (probe["worse_share"] >= HURTS_SHARE) != outcome.done
    assert (outcome.predictor is not None) == outcome.done


def test_a_refit_whose_probe_does_not_hurt_is_served_on_every_row(delay):
    outcome = delay.final_fit("uninformative")  # any real probe beats an AUC of 0.5
    assert outcome.done and not outcome.probe["hurts"] and outcome.rows == len(delay.y)
    assert outcome.probe["worse_share"] == 0.0
    assert "the probe does not hurt: roc_auc" in outcome.reason
    assert "0.5 as evaluated, worse on 0% of 100 resamples" in outcome.reason
    assert outcome.refit_trials == outcome.probe["trials"] and outcome.refit_trials
    assert outcome.form == "one" and outcome.to_dict()["probe"]["hurts"] is False


def test_a_refit_whose_probe_hurts_is_not_served(delay):
    outcome = delay.final_fit("perfect")  # every probe is worse than perfect predictions
    assert not outcome.done and outcome.predictor is None
    assert outcome.reason.startswith("not done: it hurts (roc_auc ")
    assert outcome.probe["hurts"] and outcome.probe["worse_share"] == 1.0
    # a replay of this run refits nothing: the recorded decision is repeated, not re-probed
    assert outcome.refit_trials == []
    assert all("the probe hurt" in m["note"] for m in outcome.members)
    replay = delay.final_fit(refit=outcome.refit_trials, form=outcome.form, replay=True)
    assert not replay.done and replay.probe is None


def test_a_replay_refits_the_recorded_members_without_a_probe(delay):
    served = delay.final_fit("uninformative")
    replay = delay.final_fit("perfect", refit=served.refit_trials, form=served.form,
                             replay=True)
    assert replay.done and replay.probe is None
    assert replay.predictor.to_bytes() == served.predictor.to_bytes()


def test_no_time_left_means_no_probe_and_no_refit(delay):
    spent = Budget(0.5)
    time.sleep(0.5)
    outcome = delay.final_fit(budget=spent, max_trials=None)
    assert not outcome.done and outcome.predictor is None and outcome.probe is None
    assert outcome.reason.startswith("not done (trial ")
    assert "with its probe, 0.0 s left" in outcome.reason
    assert all(not m["refit"] for m in outcome.members)


def test_a_member_too_slow_for_its_probe_and_final_fit_is_passed_over(delay):
    members = delay.result.members
    if len(members) < 2:  # an ensemble of the best trial and another
        other = next(t for t in delay.result.trials
                     if t.family not in ("baseline", "ensemble")
                     and t.number != members[0].trial)
        members = (members[0], dataclasses.replace(members[0], trial=other.number))
    # the heaviest member's search fits took a day: its refit cannot fit in the time left
    slow = dataclasses.replace(members[0], fit_seconds=86_400.0)
    result = dataclasses.replace(delay.result, members=(slow, *members[1:]))
    score, prediction = delay.evaluated("uninformative")
    outcome = final_fit(delay.X, delay.y, delay.split, result, schema=delay.schema,
                        config=delay.config, classes=delay.classes, n_threads=2,
                        budget=Budget(300), refit=None, form=None, max_trials=None,
                        replay=False, store_seconds=0.0, max_latency_us=None,
                        memory_mb=8_000, metric=delay.metric, evaluated_score=score,
                        evaluated_prediction=prediction)
    # the others are probed and refit; the slow one keeps its validated models, and says why
    assert outcome.done and outcome.probe["trials"] == outcome.refit_trials
    assert outcome.refit_trials == [m.trial for m in members[1:]]
    note = next(m["note"] for m in outcome.members if m["trial"] == slow.trial)
    assert note.startswith("kept as validated: an estimated ") and "with its probe" in note
    assert f"({len(members) - 1} of {len(members)} members)" in outcome.reason


def test_a_regression_after_cross_validation_is_probed_too(distance):
    assert distance.result.strategy.kind == "cv"
    outcome = distance.final_fit()
    assert outcome.form == "one" and outcome.probe is not None
    assert outcome.probe["hurts"] == (outcome.probe["worse_share"] >= HURTS_SHARE)
    assert outcome.done != outcome.probe["hurts"]
    assert distance.final_fit("perfect").probe["hurts"]


def test_a_bag_is_refit_without_a_probe(flights_slice):
    case = Case(flights_slice.iloc[:1500].reset_index(drop=True), "delayed", Task.BINARY,
                "roc_auc", "cv")
    outcome = case.final_fit("perfect")  # no probe, so not even perfect predictions stop it
    assert outcome.form == "bag" and outcome.probe is None and outcome.done
    assert "probe" not in outcome.to_dict()


def test_a_shuffled_split_is_refit_without_a_probe(flights_slice):
    """Rows drawn like the searched ones: the final fit refits every member on every row
    with no probe, so not even perfect predictions as evaluated stop it."""
    frame = flights_slice.iloc[:2000].drop(columns="time_hour").reset_index(drop=True)
    case = Case(frame, "distance", Task.REGRESSION, "rmse", "holdout", time_column=None)
    assert case.split.method != "time-ordered" and not probes(case.config)
    outcome = case.final_fit("perfect")
    assert outcome.form == "one" and outcome.probe is None and outcome.done
    assert outcome.rows == len(case.y) and "probe" not in outcome.reason
    assert outcome.refit_trials == [m.trial for m in case.result.members]
    # the same members in a project with a time column are probed first, and perfect
    # predictions as evaluated stop them
    case.config = dataclasses.replace(case.config, time_column="time_hour")
    probed = case.final_fit("perfect")
    assert probes(case.config) and probed.probe["hurts"] and not probed.done
