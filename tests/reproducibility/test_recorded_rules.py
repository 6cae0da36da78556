"""Rules a run records so that it reproduces after they change: the time-ordered split's
period share, the feature checks, and which trials median pruning may stop. A run recorded
under an earlier rule (its manifest without the key) reproduces under that rule."""

from __future__ import annotations

import json

import numpy as np

from mlpilot.core.config import Task
from mlpilot.pipeline.reproduce import reproduce_run
from mlpilot.pipeline.rules import Rules
from mlpilot.pipeline.run import execute_run
from mlpilot.pipeline.workspace import Workspace
from mlpilot.store import repositories as repo


def _by_year(flights_frame):
    """1,200 flights with a year each: 400 in 2015 and 2016, 390 in 2017, 10 in 2018."""
    frame = flights_frame.iloc[::20].reset_index(drop=True).iloc[:1200].drop(
        columns=["time_hour"])
    frame["year"] = np.repeat([2015, 2016, 2017, 2018], [400, 400, 390, 10])
    return frame


def test_the_split_share_is_recorded_and_an_earlier_rule_replays(tmp_path, flights_frame):
    ws = Workspace(tmp_path / "ws")
    project = ws.create_project("years", _by_year(flights_frame), "delayed", task="binary",
                                metric="roc_auc", seed=0, time_column="year")
    project.approve(time=60, cpus=2)
    outcome = project.run(max_trials=3)
    (run,) = project.runs()
    assert run.id == outcome.run_id
    assert run.split["counts"] == {"train": 800, "valid": 180, "test": 220}
    assert run.split["period_share"] == 0.5 == run.manifest["split"]["period_share"]
    # every rule a run follows reads back from its manifest as today's
    today = Rules()
    assert Rules.recorded(run.manifest) == Rules(
        fold_repeats=run.manifest["validation"]["repeats"], period_share=today.period_share,
        feature_checks=today.feature_checks, spare_starts=today.spares_starts(Task.BINARY),
        guard_candidates=today.guards_candidates(Task.BINARY))
    assert run.manifest["candidates"] == {"guarded": False, "margin": 1.0}  # a binary search

    earlier = execute_run(ws.store, "years", max_trials=3, rules=Rules(period_share=0.0))
    with ws.store.transaction() as session:
        row = repo.get_run(session, earlier.run_id)
        assert json.loads(row.split_json)["counts"] == {"train": 800, "valid": 390, "test": 10}
        manifest = json.loads(row.manifest_json)
        del manifest["split"]["period_share"]  # as recorded before the rule had a share
        row.manifest_json = json.dumps(manifest)
    result = reproduce_run(ws.store, earlier.run_id)
    assert result.verdict == "identical", result.comparisons
    ws.close()


def test_a_search_from_scratch_repeats_the_recorded_feature_checks(tmp_path, flights_frame):
    """A time-ordered run recorded before the short cycles' check (no ``feature_checks`` in
    its manifest: the numeric clocks alone) searched from scratch again makes the checks it
    made, not today's, and matches; a run now records the checks it made."""
    ws = Workspace(tmp_path / "ws")
    frame = flights_frame.iloc[::20].reset_index(drop=True).iloc[:1500]
    project = ws.create_project("hours", frame, "delayed", task="binary", metric="roc_auc",
                                seed=0, time_column="time_hour")
    project.approve(time=60, cpus=2)
    now = execute_run(ws.store, "hours", max_trials=4)
    earlier = execute_run(ws.store, "hours", max_trials=4, rules=Rules(feature_checks=1))
    with ws.store.transaction() as session:
        now_manifest = json.loads(repo.get_run(session, now.run_id).manifest_json)
        row = repo.get_run(session, earlier.run_id)
        manifest = json.loads(row.manifest_json)
        assert now_manifest["feature_checks"] == 3 and manifest["feature_checks"] == 1
        del manifest["feature_checks"]  # as recorded before the checks were numbered
        row.manifest_json = json.dumps(manifest)
    # today's search fits the first configuration once more without the day of the month
    assert ["time_hour__day" in t["params"].get("_dropped_features", ())
            for t in now_manifest["trial_sequence"][:4]] == [False, False, False, True]
    assert not any("time_hour__day" in t["params"].get("_dropped_features", ())
                   for t in manifest["trial_sequence"])
    result = reproduce_run(ws.store, earlier.run_id, from_scratch=True)
    assert result.verdict == "identical", result.comparisons
    ws.close()


def test_a_search_from_scratch_prunes_by_the_recorded_rule(tmp_path, flights_frame):
    """A cross-validated regression run recorded before the portfolio's starts were spared
    (no ``pruning`` in its manifest: a start could be pruned) searched from scratch again
    prunes as it did, not as today's search would, and matches; a run now records the rule."""
    ws = _distance_project(tmp_path, flights_frame, "spared", every=50, rows=800)
    # the baseline, LightGBM on the target, its log and its square root, then the starts of
    # linear, CatBoost, XGBoost, ExtraTrees, the random forest and k-NN: pruning may begin
    # after the fourth complete trial
    starts = 10
    now = execute_run(ws.store, "spared", max_trials=starts)
    earlier = execute_run(ws.store, "spared", max_trials=starts,
                          rules=Rules(spare_starts=False))
    with ws.store.transaction() as session:
        now_manifest = json.loads(repo.get_run(session, now.run_id).manifest_json)
        row = repo.get_run(session, earlier.run_id)
        manifest = json.loads(row.manifest_json)
        assert now_manifest["validation"]["kind"] == "cv"
        assert now_manifest["pruning"] == {"after": 4, "spares_starts": True}
        assert manifest["pruning"] == {"after": 4, "spares_starts": False}
        del manifest["pruning"]  # as recorded before the rule was
        row.manifest_json = json.dumps(manifest)
    states = [t["state"] for t in now_manifest["trial_sequence"][:starts]]
    assert states == ["complete"] * starts, states
    assert "pruned" in [t["state"] for t in manifest["trial_sequence"][:starts]]
    result = reproduce_run(ws.store, earlier.run_id, from_scratch=True)
    assert result.verdict == "identical", result.comparisons
    ws.close()


def test_a_run_chooses_by_its_recorded_guard_on_the_candidates(tmp_path, flights_frame):
    """A regression run recorded before the ensemble's candidates were guarded (no
    ``candidates`` in its manifest) searched from scratch again chooses among every trial, as
    it did, and matches; a guarded run records the rule and which trials were proposed, and its
    replay chooses the same model. On these rows the guard changes the ensemble, so a reading
    of the rule that got it wrong would not match."""
    ws = _distance_project(tmp_path, flights_frame, "guarded", every=100, rows=400)
    now = execute_run(ws.store, "guarded", max_trials=20)
    earlier = execute_run(ws.store, "guarded", max_trials=20,
                          rules=Rules(guard_candidates=False))
    with ws.store.transaction() as session:
        now_manifest = json.loads(repo.get_run(session, now.run_id).manifest_json)
        row = repo.get_run(session, earlier.run_id)
        manifest = json.loads(row.manifest_json)
        assert now_manifest["candidates"] == {"guarded": True, "margin": 1.0}
        assert manifest["candidates"] == {"guarded": False, "margin": 1.0}
        assert (now_manifest["outputs"]["artifact_sha256"]
                != manifest["outputs"]["artifact_sha256"])
        del manifest["candidates"]  # as recorded before the rule was
        row.manifest_json = json.dumps(manifest)
    # the baseline and the portfolio's starts are not proposals; every later trial is
    proposed = [t.get("proposed", False) for t in now_manifest["trial_sequence"]
                if t["family"] != "ensemble"]
    assert proposed == sorted(proposed) and 10 <= proposed.count(False) < len(proposed)
    assert reproduce_run(ws.store, earlier.run_id, from_scratch=True).verdict == "identical"
    result = reproduce_run(ws.store, now.run_id)
    assert result.verdict == "identical", result.comparisons
    ws.close()


def _distance_project(tmp_path, flights_frame, name: str, *, every: int, rows: int) -> Workspace:
    """A workspace with an approved regression project: a flight's distance from every
    ``every``-th of the flights rows (the first ``rows``, untimed, the label left out)."""
    ws = Workspace(tmp_path / "ws")
    frame = flights_frame.iloc[::every].reset_index(drop=True).iloc[:rows].drop(
        columns=["time_hour", "delayed"])
    project = ws.create_project(name, frame, "distance", task="regression", metric="rmse",
                                seed=0)
    project.approve(time=120, cpus=2)
    return ws
