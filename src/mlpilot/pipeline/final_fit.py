"""Whether the chosen model is refit on every labelled row: only when that pays.

The final fit (:mod:`mlpilot.search.refit`) trades the early-stopping check of the evaluated
model for more rows (the validation rows, and the test rows too). That usually pays, and
is what AutoGluon's ``refit_full`` and FLAML's ``retrain_full`` always do; it does not on
every table: on bikeshare (time-ordered, hourly counts) the evaluated model, fitted on the
earliest 70% of the rows, scored an RMSE of 52.5 on the benchmark's test rows and the same
configuration refit on every row with its early-stopped rounds 56.0 (``bench/final_fit_check.py``).

So before refitting on every row, a *probe* fits the same recipe (same members, same form,
same rounds) on the training and validation rows only, and scores it on the run's test rows
next to the evaluated model. The model refit on every row is served only when the probe is
strictly better there; otherwise the evaluated model is served, and the lineage records
both scores (``refit.probe``). The test metrics keep describing the evaluated model; the
probe uses the test rows once more to make one yes/no choice between two fits of the chosen
configuration, never to choose among trials.

No probe is fitted when the form is ``"bag"`` (classification after cross-validation): the
bag over the training and validation rows *is* the evaluated model, and bagging it again
over every row only gives each fold model more rows. A replay repeats the recorded decision:
it refits exactly the recorded members (none when the probe did not pay), with no probe.

The time left for the final fit is shared between the probe and the final fit in proportion
to their rows, so a member the probe refits has, by its estimate, the time for its final fit
too; when the final fit then fails to refit what the probe refit, the evaluated model is
served (what is served is always a model that was scored on the test rows, or the refit that
a better-scoring probe vouched for).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.budget import Budget
from mlpilot.core.config import ProjectConfig
from mlpilot.data.schema import Schema
from mlpilot.data.split import Split
from mlpilot.evaluation.metrics import Metric, evaluate, is_better
from mlpilot.pipeline.rundata import raw_prediction
from mlpilot.search.refit import RefitOutcome, refit_all, refit_form
from mlpilot.search.study import SearchResult

#: seconds the final fit on every labelled row leaves for storing and registering the model
REGISTER_FRACTION = 0.03
#: the final model is assumed to take this many times as long to store as the evaluated one
STORE_MARGIN = 1.25


def final_fit(X: pd.DataFrame, y: np.ndarray, split: Split, result: SearchResult, *,
              schema: Schema, config: ProjectConfig, classes: list[Any] | None,
              n_threads: int, budget: Budget, refit: bool | Sequence[int] | None,
              form: str | None, max_trials: int | None, replay: bool, store_seconds: float,
              max_latency_us: float | None, memory_mb: int, metric: Metric,
              evaluated_score: float) -> RefitOutcome:
    """The chosen model refit on every labelled row (``X``, ``y``), when it pays (see the
    module), ending early enough to store a model as large as the evaluated one
    (``store_seconds``) and register it. ``evaluated_score`` is the evaluated model's
    ``metric`` on the test rows of ``split``; ``refit`` and ``form`` are
    :func:`mlpilot.pipeline.run.execute_run`'s."""
    if refit is False or (replay and refit is None):
        return RefitOutcome(False, "not done: switched off" if refit is False
                            else "not done: the recorded run did not refit")
    if result.best_trial.family == "baseline":
        return RefitOutcome(False, "not done: the baseline was chosen")
    if max_latency_us is not None and refit is None:
        # refit models can predict slower (k-NN searches more rows, a bag may keep more
        # rounds): the validated ones are the ones measured under the limit
        return RefitOutcome(False, "not done: a latency limit was set, and the validated "
                                   "models are the ones measured under it")
    options: dict[str, Any] = {
        "schema": schema, "task": config.task, "classes": classes,
        "strategy": result.strategy, "seed": config.seed, "n_threads": n_threads,
        "threshold": result.best.threshold, "searched_rows": result.rows_per_fit,
        "memory_mb": memory_mb}
    deadline: float | None = budget.deadline() - max(
        0.5, REGISTER_FRACTION * budget.seconds) - STORE_MARGIN * store_seconds
    if refit is not None and refit is not True:
        # a replay: exactly the recorded members in the recorded form, no deadline, no probe
        # (a run recorded before the form was bagged again after cross-validation)
        recorded_form = form or ("bag" if result.strategy.kind == "cv" else "one")
        return refit_all(X, y, result.members, deadline=None, only=[int(n) for n in refit],
                         form=recorded_form, **options)
    only: list[int] | None = None
    if refit is True or max_trials is not None:
        # every member whatever the estimate, so a trial-count run decides the same on any
        # machine; like its trials, it stops only at the run's end
        only = [m.trial for m in result.members]
    form = form or refit_form(config.task, result.strategy)
    if form == "bag":
        return refit_all(X, y, result.members, deadline=deadline, only=only, form=form,
                         **options)
    return _when_it_pays(X, y, split, result, deadline=deadline, only=only, form=form,
                         metric=metric, evaluated_score=evaluated_score, options=options)


def _when_it_pays(X: pd.DataFrame, y: np.ndarray, split: Split, result: SearchResult, *,
                  deadline: float, only: list[int] | None, form: str, metric: Metric,
                  evaluated_score: float, options: dict[str, Any]) -> RefitOutcome:
    """The probe on the training and validation rows, then, if it beats the evaluated model
    on the test rows, the final fit of the members it refit on every row."""
    started = time.monotonic()
    seen = np.sort(np.concatenate([split.train, split.valid]))
    probe_deadline = started + (deadline - started) * len(seen) / (len(seen) + len(y))
    probed = refit_all(X.iloc[seen].reset_index(drop=True), y[seen], result.members,
                       deadline=probe_deadline, only=only, form=form, **options)
    if not probed.done or probed.predictor is None:
        return dataclasses.replace(
            probed, reason=f"not done: its probe without the test rows was {probed.reason}",
            rows=len(y), seconds=time.monotonic() - started, predictor=None)
    predictor = probed.predictor
    test_X = X.iloc[split.test].reset_index(drop=True)
    score = evaluate(options["task"], y[split.test], raw_prediction(predictor, test_X),
                     options["classes"], threshold=predictor.threshold)[metric.name]
    paid = is_better(score, evaluated_score, metric)
    probe = {"rows": len(seen), "trials": probed.refit_trials, "metric": metric.name,
             "score": score, "evaluated_score": evaluated_score, "paid": paid}
    versus = (f"{metric.name} {score:.5g} on the test rows fitted without them, against "
              f"{evaluated_score:.5g} as evaluated")
    if not paid:
        members = tuple({**m, "refit": False, "note": "kept as validated: the probe did not "
                         "pay"} if m["refit"] else m for m in probed.members)
        return RefitOutcome(False, f"not done: it did not pay ({versus})", members, len(y),
                            time.monotonic() - started, form=form, probe=probe)
    final = refit_all(X, y, result.members, deadline=deadline, only=probed.refit_trials,
                      form=form, **options)
    if final.refit_trials != probed.refit_trials:
        members = tuple({**m, "refit": False} for m in final.members)
        return RefitOutcome(False, f"not done: it paid ({versus}), but the final fit did not "
                            f"refit the members the probe did ({final.reason})", members,
                            len(y), time.monotonic() - started, form=form, probe=probe)
    return dataclasses.replace(final, reason=f"{final.reason}; it pays: {versus}",
                               seconds=time.monotonic() - started, probe=probe)
