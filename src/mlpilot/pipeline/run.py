"""One execution of the pipeline: split, search, evaluate, register, promote.

The run's wall time, from start to registered model, stays inside the approved budget: the
search gets what remains after a reserve for evaluation and registration.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.budget import Budget, BudgetSpec
from mlpilot.core.config import ProjectConfig, Task
from mlpilot.core.errors import ApprovalError, DataError
from mlpilot.core.hashing import hash_json
from mlpilot.data.schema import Schema, validate_prediction_input
from mlpilot.data.sources import parquet_bytes_to_table
from mlpilot.data.split import make_split
from mlpilot.evaluation.metrics import evaluate, get_metric, is_better
from mlpilot.pipeline.data_quality import run_data_checks
from mlpilot.pipeline.final_fit import final_fit, probes
from mlpilot.pipeline.manifest import build_manifest, complete_manifest
from mlpilot.pipeline.observer import RunObserver, SilentObserver
from mlpilot.pipeline.registry import load_predictor, move_champion
from mlpilot.pipeline.rules import Rules
from mlpilot.pipeline.rundata import find_dataset_version, prediction_bytes, raw_prediction
from mlpilot.search.ensemble import CANDIDATE_MARGIN
from mlpilot.search.replay import TrialSpec, replay_search
from mlpilot.search.study import (
    PRUNE_AFTER,
    Limits,
    SearchResult,
    TrialResult,
    run_search,
)
from mlpilot.search.validation import choose_strategy
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, current_actor, utcnow
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import ProjectRow

#: seconds kept back from the search for evaluation, the final fit and registration
RESERVE_FRACTION = 0.06
RESERVE_MIN_SECONDS = 1.0


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run produced."""

    run_id: str
    model_version: int
    promoted: bool
    promotion_reason: str
    test_metrics: dict[str, float]
    baseline_test_metrics: dict[str, float]
    seconds: float
    first_trial_seconds: float | None
    #: what the final fit on every labelled row did (see :mod:`mlpilot.search.refit`)
    final_fit: str = ""


def encode_target(y: pd.Series, task: Task) -> tuple[np.ndarray, list[Any] | None]:
    """Integer codes 0..k-1 and the class list for classification; floats for regression."""
    if not task.is_classification:
        return y.astype("float64").to_numpy(), None
    values = y.to_numpy(dtype=object)
    classes = sorted({v.item() if hasattr(v, "item") else v for v in values}, key=_class_key)
    index = {c: i for i, c in enumerate(classes)}
    codes = np.fromiter((index[v.item() if hasattr(v, "item") else v] for v in values),
                        dtype=np.int64, count=len(values))
    return codes, classes


def _class_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float | bool) else (1, str(value))


def require_approval(store: StoreHandle, project: ProjectRow) -> tuple[int, BudgetSpec]:
    with store.transaction() as session:
        approval = repo.latest_approval(session, project)
    if approval is None:
        proposed = json.loads(project.proposed_budget_json)
        spec = BudgetSpec(**proposed)
        raise ApprovalError(
            f"project {project.name!r} has no approved budget, so the run cannot start",
            expected="a budget approved by a person",
            found=f"the proposal {spec.describe()}, not approved",
            fix=f"approve it with `mlpilot project approve {project.name}` "
            f"(or `--time 5m --cpus 2` to change it)",
        )
    return approval.id, BudgetSpec(**json.loads(approval.approved_json))


def execute_run(
    store: StoreHandle, project_name: str, *, max_trials: int | None = None,
    observer: RunObserver | None = None, dataset_version: int | None = None,
    trial_sequence: Sequence[TrialSpec] | None = None, reproduces: str | None = None,
    approval_id: int | None = None, max_latency_us: float | None = None,
    refit: bool | Sequence[int] | None = None, refit_form: str | None = None,
    rules: Rules | None = None,
) -> RunOutcome:
    """Run the whole pipeline for ``project_name`` inside its approved budget.

    ``max_latency_us`` limits the search to models predicting under that many microseconds
    per row (``--optimize-for latency``); no ensemble is built then.

    ``dataset_version`` picks a recorded dataset version (default: the latest).
    ``trial_sequence`` refits that recorded sequence instead of searching (a replay).
    ``reproduces`` names the run this one re-creates: it is recorded in the manifest and the
    new model is registered but never promoted. ``approval_id`` reuses that run's approval.
    ``refit`` is the final fit on every labelled row after evaluation (see
    :mod:`mlpilot.search.refit`): None decides member by member from the time left (with
    ``max_trials``, every member whatever the estimate, stopping only at the run's end, like
    its trials; not with a latency limit), False skips it, and a sequence of trial numbers
    refits exactly those without a deadline (a reproduction passes the recorded ones), in
    ``refit_form`` (the recorded ``"bag"`` or ``"one"``; None with a sequence: a run recorded
    before the form was, which bagged again after cross-validation). ``rules`` are the rules
    mlpilot has changed that the run follows (:class:`~mlpilot.pipeline.rules.Rules`; None:
    today's; a reproduction passes the recorded run's).
    """
    observer = observer or SilentObserver()
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        dataset = (repo.latest_dataset_version(session, project) if dataset_version is None
                   else find_dataset_version(session, project, dataset_version))
    if approval_id is None:
        approval_id, spec = require_approval(store, project)
    else:
        with store.transaction() as session:
            spec = BudgetSpec(**json.loads(
                session.get(repo.BudgetApprovalRow, approval_id).approved_json))
    budget = Budget(spec.time_seconds)
    config = ProjectConfig.from_dict(json.loads(project.config_json))
    schema = Schema.from_dict(json.loads(dataset.schema_json))
    run_id = uuid.uuid4().hex[:16]
    actor = current_actor()
    with store.transaction() as session:
        approval = session.get(repo.BudgetApprovalRow, approval_id)
        manifest = build_manifest(
            run_id=run_id, config=config, dataset=dataset, spec=spec,
            approval={"sequence": approval.sequence, "approved_by": approval.approved_by,
                      "approved_at": approval.approved_at.isoformat()},
            max_trials=max_trials, n_threads=spec.cpus,
            mode="search" if trial_sequence is None else "replay", reproduces=reproduces)
        manifest["max_latency_us"] = max_latency_us
        repo.add_run(session, project, run_id=run_id, dataset=dataset, approval=approval,
                           seed=config.seed, manifest=manifest)
        append_event(session, "run.started", {"run_id": run_id, "budget": spec.to_dict(),
                                              "max_trials": max_trials,
                                              "mode": manifest["mode"],
                                              "reproduces": reproduces},
                     project=project.name, actor=actor)
    try:
        outcome = _pipeline(store, project, config, schema, dataset, run_id, spec, budget,
                            max_trials, observer, actor, trial_sequence, reproduces,
                            max_latency_us=max_latency_us, refit=refit,
                            refit_form=refit_form, rules=rules or Rules())
    except BaseException as exc:
        with store.transaction() as session:
            row = repo.get_run(session, run_id)
            row.status = "failed"
            row.finished_at = utcnow()
            row.error = "".join(traceback.format_exception_only(exc)).strip()
            append_event(session, "run.failed", {"run_id": run_id, "error": row.error},
                         project=project.name, actor=actor)
        raise
    return outcome


def _pipeline(
    store: StoreHandle, project: ProjectRow, config: ProjectConfig, schema: Schema,
    dataset: Any, run_id: str, spec: BudgetSpec, budget: Budget, max_trials: int | None,
    observer: RunObserver, actor: str, trial_sequence: Sequence[TrialSpec] | None = None,
    reproduces: str | None = None, max_latency_us: float | None = None,
    refit: bool | Sequence[int] | None = None, refit_form: str | None = None, *,
    rules: Rules,
) -> RunOutcome:
    observer.stage("load", f"dataset v{dataset.version}")
    frame = parquet_bytes_to_table(store.objects.get(dataset.sha256))
    labelled = frame[frame[config.target].notna()].reset_index(drop=True)
    dropped = len(frame) - len(labelled)

    observer.stage("split", f"time-ordered by {config.time_column!r}" if config.time_column
                   else "stratified" if config.task.is_classification else "random")
    share = rules.period_share
    spare = rules.spares_starts(config.task)
    guard = rules.guards_candidates(config.task)
    split = make_split(labelled, target=config.target, task=config.task, seed=config.seed,
                       time_column=config.time_column, period_share=share)
    split_sha = store.objects.put(split.assignment().astype(np.int8).tobytes())
    split_info = {**split.to_dict(), "object": split_sha, "dropped_missing_target": dropped,
                  **({"period_share": share} if config.time_column else {})}
    split_info.update(run_data_checks(store, project.name, dataset.version, labelled, schema,
                                      split))
    with store.transaction() as session:
        row = repo.get_run(session, run_id)
        row.split_hash = split.hash
        row.split_json = repo.dumps(split_info)

    y_all, classes = encode_target(labelled[config.target], config.task)
    features = validate_prediction_input(labelled, schema)
    parts = {name: (features.iloc[idx].reset_index(drop=True), y_all[idx])
             for name, idx in (("train", split.train), ("valid", split.valid),
                               ("test", split.test))}
    metric = get_metric(config.metric, config.task)

    reserve = max(RESERVE_MIN_SECONDS, spec.time_seconds * RESERVE_FRACTION)
    search_budget = Budget(max(0.5, budget.remaining() - reserve))
    observer.stage("search", f"{spec.describe()}")
    first_trial: list[float] = []
    best: list[float | None] = [None]
    stored_trials: list[TrialResult] = []

    def on_trial(result: TrialResult) -> None:
        if result.state == "complete" and result.family != "baseline" and not first_trial:
            first_trial.append(budget.elapsed())
        if result.score is not None and (best[0] is None or (
                result.score > best[0] if metric.greater_is_better else result.score < best[0])):
            best[0] = result.score
        stored_trials.append(result)
        with store.transaction() as session:
            run_row = repo.get_run(session, run_id)
            repo.add_trial(session, run_row, number=result.number, family=result.family,
                           params=result.params, seed=result.seed, state=result.state,
                           score=result.score, fit_seconds=result.fit_seconds,
                           predict_seconds_per_row=result.predict_seconds_per_row,
                           model_size_bytes=result.model_size_bytes, error=result.error)
        observer.trial(result, best[0], budget.remaining())

    (train_X, train_y), (valid_X, valid_y), (test_X, test_y) = (
        parts["train"], parts["valid"], parts["test"])
    # decided from the approved budget (not the clock), so a replay decides the same
    allow_cv = config.time_column is None
    plan = choose_strategy(len(train_y) + len(valid_y), spec.time_seconds, allow_cv)
    limits = Limits(memory_mb=spec.memory_mb,
                    max_latency=max_latency_us / 1e6 if max_latency_us is not None else None)
    if trial_sequence is not None:
        result: SearchResult = replay_search(
            train_X, train_y, valid_X, valid_y, schema=schema, task=config.task,
            classes=classes, scorer=metric, n_threads=spec.cpus, trials=trial_sequence,
            budget_seconds=search_budget.seconds, seed=config.seed, strategy=plan.kind,
            allow_cv=allow_cv, limits=limits, on_trial=on_trial, repeats=rules.fold_repeats,
            guard_candidates=guard)
    else:
        result = run_search(
            train_X, train_y, valid_X, valid_y, schema=schema, task=config.task,
            classes=classes, scorer=metric, budget=search_budget, seed=config.seed,
            n_threads=spec.cpus, max_trials=max_trials, on_trial=on_trial,
            strategy=plan.kind, allow_cv=allow_cv, limits=limits,
            refit_rows=None if refit is False or max_latency_us is not None else len(y_all),
            repeats=rules.fold_repeats, feature_checks=rules.feature_checks,
            spare_starts=spare, refit_probe=probes(config), guard_candidates=guard)

    observer.stage("evaluate", "untouched test rows")
    evaluated = result.best  # fitted without the test rows: what the test metrics describe
    test_prediction = raw_prediction(evaluated, test_X)
    test_metrics = evaluate(config.task, test_y, test_prediction, classes,
                            threshold=evaluated.threshold)
    baseline_metrics = evaluate(config.task, test_y, raw_prediction(result.baseline, test_X),
                                classes)

    best_trial = next(t for t in result.trials if t.number == result.best_number)
    test_score = test_metrics[metric.name]
    predictions_sha = store.objects.put(prediction_bytes(test_prediction))
    if reproduces is not None:
        champion_score, reason = None, f"a reproduction of run {reproduces}; never promoted"
    else:
        champion_score, reason = _champion_score(store, project, metric, config, test_X,
                                                 test_y, classes)
    promote = reproduces is None and (
        champion_score is None or is_better(test_score, champion_score, metric))
    if champion_score is not None:
        reason = (f"{metric.name} {test_score:.5f} vs champion {champion_score:.5f} on this "
                  f"run's test rows: {'better' if promote else 'not better'}")
    # stored before the final fit, which then leaves room to store a model of the same size
    started = time.monotonic()
    evaluated_sha = store.objects.put(evaluated.to_bytes())
    store_seconds = time.monotonic() - started

    refit_outcome = final_fit(features, y_all, split, result, schema=schema, config=config,
                              classes=classes, n_threads=spec.cpus, budget=budget,
                              refit=refit, form=refit_form, max_trials=max_trials,
                              replay=trial_sequence is not None, store_seconds=store_seconds,
                              max_latency_us=max_latency_us, memory_mb=spec.memory_mb,
                              metric=metric, evaluated_score=test_score,
                              evaluated_prediction=test_prediction)
    observer.stage("refit", refit_outcome.reason)
    final = refit_outcome.predictor or evaluated

    observer.stage("register", "model artifact and lineage")
    artifact_sha = (store.objects.put(final.to_bytes()) if final is not evaluated
                    else evaluated_sha)
    lineage = {
        "dataset": {"version": dataset.version, "sha256": dataset.sha256},
        "schema_hash": schema.hash,
        "split": {"hash": split.hash, "method": split.method, "object": split_sha},
        "validation": result.strategy.to_dict(),
        "evaluated": {
            "artifact_sha256": evaluated_sha, "rows_per_model": result.rows_per_fit,
            "note": ("the model the test metrics describe: fitted without the test rows"
                     + ("; the registered artifact is the same configuration refit on every "
                        "labelled row" if final is not evaluated else
                        "; it is the registered artifact"))},
        "run_id": run_id,
        "trial": {"number": best_trial.number, "family": best_trial.family,
                  "params": best_trial.params, "seed": best_trial.seed},
        "seed": config.seed,
        "budget": spec.to_dict(),
        "refit": refit_outcome.to_dict(),
    }
    seconds = budget.elapsed()
    with store.transaction() as session:
        model = repo.add_model_version(
            session, project, artifact_sha256=artifact_sha, run_id=run_id,
            trial_number=best_trial.number, family=best_trial.family, metric=metric.name,
            test_score=test_score, metrics={"test": test_metrics, "baseline": baseline_metrics},
            lineage=lineage)
        append_event(session, "model.registered",
                     {"version": model.version, "artifact_sha256": artifact_sha,
                      "run_id": run_id, "test": test_metrics},
                     project=project.name, actor=actor)
        if promote:
            move_champion(session, project, model.version, action="model.promoted",
                          reason=reason, actor=actor)
        row = repo.get_run(session, run_id)
        final_manifest = complete_manifest(
            json.loads(row.manifest_json), trials=result.trials, split=split_info,
            artifact_sha256=artifact_sha, test_predictions_sha256=predictions_sha,
            test_metrics=test_metrics, best_trial=best_trial.number,
            evaluated_artifact_sha256=evaluated_sha)
        final_manifest["refit"] = refit_outcome.to_dict()
        final_manifest["validation"] = result.strategy.to_dict()  # what a reproduction repeats
        final_manifest["feature_checks"] = rules.feature_checks
        final_manifest["pruning"] = {"after": PRUNE_AFTER, "spares_starts": spare}
        final_manifest["candidates"] = {"guarded": guard, "margin": CANDIDATE_MARGIN}
        row.manifest_json = repo.dumps(final_manifest)
        row.status = "succeeded"
        row.finished_at = utcnow()
        row.model_version = model.version
        row.first_trial_seconds = first_trial[0] if first_trial else None
        append_event(session, "run.finished",
                     {"run_id": run_id, "model_version": model.version,
                      "seconds": round(seconds, 3), "trials": len(result.trials),
                      "manifest_sha256": hash_json(final_manifest)},
                     project=project.name, actor=actor)
    return RunOutcome(run_id=run_id, model_version=model.version, promoted=promote,
                      promotion_reason=reason, test_metrics=test_metrics,
                      baseline_test_metrics=baseline_metrics, seconds=budget.elapsed(),
                      first_trial_seconds=first_trial[0] if first_trial else None,
                      final_fit=refit_outcome.reason)


def _champion_score(store: StoreHandle, project: ProjectRow, metric: Any,
                    config: ProjectConfig, test_X: pd.DataFrame, test_y: np.ndarray,
                    classes: list[Any] | None) -> tuple[float | None, str]:
    """The current champion's score on this run's test rows (None when there is none)."""
    with store.transaction() as session:
        alias = repo.get_alias(session, project, "champion")
        if alias is None:
            return None, "first model of the project"
        champion = repo.get_model_version(session, project, alias.model_version)
    # the champion as evaluated (fitted without its test rows): a refit champion has seen
    # every labelled row of its dataset, so its served artifact would score itself too well
    evaluated = json.loads(champion.lineage_json).get("evaluated", {}).get("artifact_sha256")
    predictor = load_predictor(store, evaluated or champion.artifact_sha256)
    if predictor.classes != classes:
        return None, (f"champion v{champion.version} was trained on other classes; "
                      f"the new model replaces it")
    try:
        prediction = raw_prediction(predictor, test_X)
    except DataError as exc:
        return None, f"champion v{champion.version} cannot score the new data: {exc.problem}"
    return evaluate(config.task, test_y, prediction, classes,
                    threshold=predictor.threshold)[metric.name], ""

