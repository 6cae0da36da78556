"""Re-creating a run and saying whether it came out the same, to the bit.

``reproduce_run`` first reports every difference between the environment recorded in the
run's manifest and the current one (package by package), then either replays the recorded
trial sequence (same families, parameters, seeds and feature pipelines) or, for a run with a
trial-count budget, searches again from scratch, into a NEW run. It then compares the split,
every trial's validation score, the chosen trial, the model artifact's sha256, the raw test
predictions (bit for bit) and the test metrics. The verdict is "identical" or "different",
with where. The reproduction is an audit event; the new model is registered, never promoted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlpilot.core.errors import ConfigError
from mlpilot.core.hashing import hash_json, sha256_bytes
from mlpilot.pipeline.manifest import Difference, environment_differences, full_environment
from mlpilot.pipeline.observer import RunObserver
from mlpilot.pipeline.registry import load_predictor
from mlpilot.pipeline.rules import Rules
from mlpilot.pipeline.run import execute_run
from mlpilot.pipeline.rundata import (
    load_run_data,
    prediction_bytes,
    predictions_from_bytes,
    raw_prediction,
)
from mlpilot.search.replay import TrialSpec
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, list_events
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import ProjectRow


@dataclass(frozen=True)
class Recorded:
    """What the original run recorded and produced: the reference a reproduction must match."""

    run_id: str
    project: str
    dataset_version: int
    approval_id: int | None
    manifest: dict[str, Any]
    trials: tuple[TrialSpec, ...]
    scores: dict[int, float | None]
    best_trial: int
    split_hash: str
    artifact_sha256: str
    test_predictions: bytes
    test_metrics: dict[str, Any]
    manifest_check: str = "not checked"


@dataclass(frozen=True)
class Comparison:
    """One aspect compared between the recorded and the reproduced run."""

    aspect: str
    identical: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "identical": self.identical, "detail": self.detail}


@dataclass(frozen=True)
class Reproduction:
    """The outcome of a reproduction: environment differences, comparisons and the verdict."""

    original_run: str
    new_run: str
    mode: str
    environment: tuple[Difference, ...]
    comparisons: tuple[Comparison, ...]
    manifest_check: str
    model_version: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def identical(self) -> bool:
        return all(c.identical for c in self.comparisons)

    @property
    def verdict(self) -> str:
        return "identical" if self.identical else "different"

    @property
    def where(self) -> list[str]:
        return [c.aspect for c in self.comparisons if not c.identical]

    def to_dict(self) -> dict[str, Any]:
        return {"original_run": self.original_run, "new_run": self.new_run, "mode": self.mode,
                "verdict": self.verdict, "where": self.where,
                "model_version": self.model_version, "manifest_check": self.manifest_check,
                "environment_differences": [d.to_dict() for d in self.environment],
                "comparisons": [c.to_dict() for c in self.comparisons]}


def recorded_run(store: StoreHandle, run_id: str) -> Recorded:
    """The reference for reproducing ``run_id`` from this workspace's records."""
    with store.transaction() as session:
        run = repo.get_run(session, run_id)
        if run.status != "succeeded" or run.model_version is None:
            raise ConfigError(f"run {run.id} did not finish (status {run.status}), so there is "
                              f"nothing to reproduce",
                              fix="reproduce a succeeded run (`mlpilot run list PROJECT`)")
        project = session.get(ProjectRow, run.project_id)
        dataset = repo.get_dataset_version_by_id(session, run.dataset_version_id)
        model = repo.get_model_version(session, project, run.model_version)
        manifest = json.loads(run.manifest_json)
        rows = repo.list_trials(session, run)
        metrics = json.loads(model.metrics_json)["test"]
        check = _manifest_check(session, project.name, run.id, manifest)
        recorded = dict(run_id=run.id, project=project.name, dataset_version=dataset.version,
                        approval_id=run.approval_id, split_hash=run.split_hash or "",
                        artifact_sha256=model.artifact_sha256, best_trial=model.trial_number)
    sequence = manifest.get("trial_sequence")
    trials = (tuple(TrialSpec.from_dict(t) for t in sequence) if sequence
              else tuple(TrialSpec(r.number, r.family, json.loads(r.params_json), r.seed,
                                   r.state) for r in rows))
    scores = ({int(t["number"]): t["score"] for t in sequence} if sequence
              else {r.number: r.score for r in rows})
    outputs = manifest.get("outputs", {})
    sha = outputs.get("test_predictions_sha256")
    if sha:
        predictions = store.objects.get(sha)
    else:  # runs recorded before predictions were stored: predict with the stored model
        data = load_run_data(store, recorded["run_id"])
        predictor = load_predictor(store, recorded["artifact_sha256"])
        predictions = prediction_bytes(raw_prediction(predictor, data.part("test")[0]))
    return Recorded(manifest=manifest, trials=trials, scores=scores,
                    test_predictions=predictions, test_metrics=metrics, manifest_check=check,
                    **recorded)


def _manifest_check(session: Any, project: str, run_id: str, manifest: dict[str, Any]) -> str:
    for event in list_events(session, project):
        if event.action != "run.finished":
            continue
        payload = json.loads(event.payload_json)
        if payload.get("run_id") != run_id:
            continue
        expected = payload.get("manifest_sha256")
        if expected is None:
            return "no manifest hash was recorded for this run"
        if expected == hash_json(manifest):
            return f"the manifest matches the hash in audit event #{event.seq}"
        return (f"the stored manifest differs from the hash in audit event #{event.seq}: "
                f"it was edited after the run")
    return "no run.finished event found for this run"


def reproduce_run(store: StoreHandle, run_id: str, *, from_scratch: bool = False,
                  observer: RunObserver | None = None,
                  on_environment: Callable[[list[Difference]], None] | None = None
                  ) -> Reproduction:
    """Re-create ``run_id`` into a new run and compare (see the module docstring).

    Args:
        from_scratch: search again instead of replaying the trial sequence (needs a run with
            a trial-count budget, ``max_trials``).
        on_environment: called with the environment differences before anything is refitted.
    """
    return reproduce_recorded(store, recorded_run(store, run_id), from_scratch=from_scratch,
                              observer=observer, on_environment=on_environment)


def reproduce_recorded(store: StoreHandle, recorded: Recorded, *, from_scratch: bool = False,
                       observer: RunObserver | None = None,
                       on_environment: Callable[[list[Difference]], None] | None = None
                       ) -> Reproduction:
    """Re-create a recorded run in ``store`` (its project and dataset version must exist)."""
    max_trials = recorded.manifest.get("max_trials")
    if from_scratch and max_trials is None:
        raise ConfigError(
            f"run {recorded.run_id} had a time budget, so a search from scratch cannot repeat it",
            expected="a run started with --max-trials (a trial-count budget)",
            found="no max_trials in its manifest",
            fix=f"replay its recorded trial sequence instead: `mlpilot reproduce "
                f"{recorded.run_id}`")
    differences = environment_differences(recorded.manifest.get("environment", {}),
                                          full_environment())
    if on_environment is not None:
        on_environment(differences)
    outcome = execute_run(
        store, recorded.project, max_trials=max_trials if from_scratch else None,
        observer=observer, dataset_version=recorded.dataset_version,
        trial_sequence=None if from_scratch else recorded.trials,
        reproduces=recorded.run_id, approval_id=recorded.approval_id,
        refit=recorded_refit(recorded.manifest),
        refit_form=recorded.manifest.get("refit", {}).get("form"),
        rules=Rules.recorded(recorded.manifest))
    comparisons = compare(store, recorded, outcome.run_id)
    result = Reproduction(original_run=recorded.run_id, new_run=outcome.run_id,
                          mode="scratch" if from_scratch else "replay",
                          environment=tuple(differences), comparisons=tuple(comparisons),
                          manifest_check=recorded.manifest_check,
                          model_version=outcome.model_version)
    with store.transaction() as session:
        append_event(session, "run.reproduced",
                     {"original_run": recorded.run_id, "new_run": outcome.run_id,
                      "mode": result.mode, "verdict": result.verdict, "where": result.where,
                      "environment_differences": len(differences)},
                     project=recorded.project)
    return result


def recorded_refit(manifest: dict[str, Any]) -> list[int] | bool:
    """The trials the recorded run refit on every labelled row (False: runs recorded before
    the final fit existed, whose refit, if any, used other rows and is not repeated)."""
    refit = manifest.get("refit", {})
    if "rows" not in refit:
        return False
    return [int(m["trial"]) for m in refit.get("members", []) if m.get("refit")]


def compare(store: StoreHandle, recorded: Recorded, new_run_id: str) -> list[Comparison]:
    """Compare the new run with the recorded one, aspect by aspect."""
    with store.transaction() as session:
        run = repo.get_run(session, new_run_id)
        manifest = json.loads(run.manifest_json)
        split_hash = run.split_hash
        rows = repo.list_trials(session, run)
    outputs = manifest["outputs"]
    out = [Comparison("split", split_hash == recorded.split_hash,
                      f"{(split_hash or '')[:12]} vs recorded {recorded.split_hash[:12]}")]
    new_scores = {r.number: r.score for r in rows}
    changed = [n for n in sorted(set(new_scores) | set(recorded.scores))
               if new_scores.get(n) != recorded.scores.get(n)]
    out.append(Comparison(
        "trial scores", not changed,
        f"all {len(new_scores)} validation scores equal" if not changed else
        "; ".join(f"trial {n}: {recorded.scores.get(n)} recorded, {new_scores.get(n)} now"
                  for n in changed[:5]) + (f" (+{len(changed) - 5} more)"
                                           if len(changed) > 5 else "")))
    best = outputs["best_trial"]
    out.append(Comparison("chosen trial", best == recorded.best_trial,
                          f"trial {best} vs recorded trial {recorded.best_trial}"))
    artifact = outputs["artifact_sha256"]
    out.append(Comparison("model artifact sha256", artifact == recorded.artifact_sha256,
                          f"{artifact[:16]} vs recorded {recorded.artifact_sha256[:16]}"))
    evaluated = recorded.manifest.get("outputs", {}).get("evaluated_artifact_sha256")
    if evaluated is not None:  # the model the test metrics describe (before the final fit)
        now = outputs.get("evaluated_artifact_sha256", "")
        out.append(Comparison("evaluated model sha256", now == evaluated,
                              f"{now[:16]} vs recorded {evaluated[:16]}"))
    new_bytes = store.objects.get(outputs["test_predictions_sha256"])
    out.append(_compare_predictions(recorded.test_predictions, new_bytes))
    metrics = outputs["test_metrics"]
    diff = [k for k in sorted(set(metrics) | set(recorded.test_metrics))
            if metrics.get(k) != recorded.test_metrics.get(k)]
    out.append(Comparison(
        "test metrics", not diff,
        f"all {len(metrics)} equal" if not diff else
        "; ".join(f"{k}: {recorded.test_metrics.get(k)} recorded, {metrics.get(k)} now"
                  for k in diff)))
    return out


def _compare_predictions(recorded: bytes, new: bytes) -> Comparison:
    if recorded == new:
        return Comparison("test predictions", True,
                          f"bit-identical (sha256 {sha256_bytes(new)[:16]})")
    old_arr, new_arr = predictions_from_bytes(recorded), predictions_from_bytes(new)
    if old_arr.shape != new_arr.shape:
        return Comparison("test predictions", False,
                          f"shape {new_arr.shape} vs recorded {old_arr.shape}")
    rows_old = old_arr.reshape(len(old_arr), -1)
    rows_new = new_arr.reshape(len(new_arr), -1)
    differing = int(np.any(rows_old.view(np.uint64) != rows_new.view(np.uint64), axis=1).sum())
    largest = float(np.nanmax(np.abs(rows_old - rows_new)))
    return Comparison("test predictions", False,
                      f"{differing} of {len(old_arr)} rows differ (largest difference "
                      f"{largest:.3g})")
