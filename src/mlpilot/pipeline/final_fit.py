"""Whether the chosen model is refit on every labelled row: unless, after a time-ordered split,
a probe shows it hurts.

The final fit (:mod:`mlpilot.search.refit`) trades the early-stopping check of the evaluated
model for more rows (the validation rows, and the test rows too). That usually pays, and
is what AutoGluon's ``refit_full`` and FLAML's ``retrain_full`` always do; it does not on
every table: on bikeshare (time-ordered, hourly counts) the evaluated model, fitted on the
earliest 70% of the rows, scored an RMSE of 52.5 on the benchmark's test rows and the same
configuration refit on every row with its early-stopped rounds 56.0 (``bench/final_fit_check.py``).

So before refitting on every row, a *probe* fits the same recipe (same members, same form, the
same early-stopped rounds, for regression scaled to its rows) on the train + valid rows, and
scores it on the run's test rows next to the evaluated model. More rows are expected to pay, so
the refit on every row is the default; it is skipped, and the evaluated model served, only when
the probe *hurts*: worse than the evaluated model on at least :data:`HURTS_SHARE` of
:data:`RESAMPLES` paired bootstrap resamples of the test rows (seeded; at most :data:`MAX_ROWS`
rows per resample). A difference inside the noise of the test rows is no evidence against more
rows (at 60 s the probe looked slightly worse on diamonds, 549.0 against 546.8, and on ames,
while the refit on every row scored 2.5% and 4% better on the benchmark's own test rows); a
clear one is (bikeshare: 57.2 against 52.0). The lineage records both scores and the share
(``refit.probe``). The test metrics keep describing the evaluated model; the probe uses the
test rows once more to make one yes/no choice between two fits of the chosen configuration,
never to choose among trials.

The probe is fitted only after a time-ordered split (:func:`probes`), where the rows the final
fit adds are the latest ones and the target's relation to the features may have moved between
them. After a shuffled split every labelled row is drawn like the rows searched on, and more of
them paid on every such table ``bench/final_fit_check.py`` measured (diamonds 546.1 to 532.4,
ames, wage, seattle_weather, hpc_jobs) but diabetes (56.12 to 56.21; its 331 rows are now
bagged again, with no probe in any case). There the probe was a cost and no guard: a second
fit of every member, which at 60 s left diamonds' final fit no time for its three CatBoost
members (two thirds of the ensemble's weight, kept as validated on 70% of the rows: 533.68 on
the benchmark's test rows; without the probe every member of that seed's run was refit,
520.61), and noise that once skipped a refit that paid (diamonds at 300 s: the probe worse on
97% of resamples, 527.99 served where the refit scored 519.99). So after a shuffled split the
chosen model is refit without a probe, as AutoGluon's ``refit_full`` is.

No probe is fitted either when the form is ``"bag"`` (classification after cross-validation):
the bag over the training and validation rows *is* the evaluated model, and bagging it again
over every row only gives each fold model more rows. A replay repeats the recorded decision:
it refits exactly the recorded members (none when the probe hurt), with no probe.

Which members are refit is decided once, before the probe: in order of weight, each whose
estimated probe *and* final fit fit in what the members before it leave
(:func:`mlpilot.search.refit.affordable`); a slow member that does not is kept as validated
and passed over, so it neither takes the probe's time from the members after it nor leaves the
final fit unable to refit what the probe did. The time is then shared between the probe and
the final fit in proportion to their rows; when the final fit still fails to refit
what the probe refit (an estimate was off), the evaluated model is served (what is served is
always a model that was scored on the test rows, or the refit of exactly the members whose
probe did not hurt).
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
from mlpilot.evaluation.bootstrap import paired_worse_share
from mlpilot.evaluation.metrics import Metric, evaluate
from mlpilot.pipeline.rundata import raw_prediction
from mlpilot.search.refit import RefitOutcome, affordable, refit_all, refit_form
from mlpilot.search.study import SearchResult

#: the probe hurts when it is worse on at least this share of the paired resamples
HURTS_SHARE = 0.95
#: paired bootstrap resamples of the test rows, and the most rows each draws
RESAMPLES = 100
MAX_ROWS = 5_000
#: seconds the final fit on every labelled row leaves for storing and registering the model
REGISTER_FRACTION = 0.03
#: the final model is assumed to take this many times as long to store as the evaluated one
STORE_MARGIN = 1.25


def final_fit(X: pd.DataFrame, y: np.ndarray, split: Split, result: SearchResult, *,
              schema: Schema, config: ProjectConfig, classes: list[Any] | None,
              n_threads: int, budget: Budget, refit: bool | Sequence[int] | None,
              form: str | None, max_trials: int | None, replay: bool, store_seconds: float,
              max_latency_us: float | None, memory_mb: int, metric: Metric,
              evaluated_score: float, evaluated_prediction: np.ndarray) -> RefitOutcome:
    """The chosen model refit on every labelled row (``X``, ``y``) unless its probe shows it
    hurts (see the module), ending early enough to store a model as large as the evaluated one
    (``store_seconds``) and register it. ``evaluated_score`` is the evaluated model's
    ``metric`` on the test rows of ``split``, from ``evaluated_prediction`` (probabilities or
    values, one row per test row); ``refit`` and ``form`` are
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
    form = form or refit_form(config.task, result.strategy, len(y))
    if form == "bag" or not probes(config):
        return refit_all(X, y, result.members, deadline=deadline, only=only, form=form,
                         **options)
    return _unless_it_hurts(X, y, split, result, deadline=deadline, only=only, form=form,
                         metric=metric, evaluated=(evaluated_score, evaluated_prediction),
                         options=options)


def probes(config: ProjectConfig) -> bool:
    """Whether a final fit of one model per member is preceded by its probe: only after a
    time-ordered split (see the module), where the rows it adds are the latest.

    Example:
        >>> from mlpilot.core.config import Task
        >>> probes(ProjectConfig("p", "y", Task.REGRESSION, "rmse", time_column="when"))
        True
        >>> probes(ProjectConfig("p", "y", Task.REGRESSION, "rmse"))
        False
    """
    return config.time_column is not None


def _unless_it_hurts(X: pd.DataFrame, y: np.ndarray, split: Split, result: SearchResult, *,
                  deadline: float, only: list[int] | None, form: str, metric: Metric,
                  evaluated: tuple[float, np.ndarray], options: dict[str, Any]) -> RefitOutcome:
    """The probe on the training and validation rows, then, unless it hurts on the test
    rows, the final fit of the members it refit on every row."""
    evaluated_score, evaluated_prediction = evaluated
    started = time.monotonic()
    seen = np.sort(np.concatenate([split.train, split.valid]))
    passed_over: dict[int, str] = {}
    if only is None:
        only, passed_over = affordable(
            result.members, deadline - started, fits=(len(seen), len(y)), task=options["task"],
            strategy=options["strategy"], searched_rows=options["searched_rows"], form=form,
            memory_mb=options["memory_mb"], n_features=X.shape[1])
        if not only:
            members = tuple({"trial": m.trial, "family": m.family, "weight": m.weight,
                             "refit": False, "note": passed_over.get(m.trial, "")}
                            for m in result.members)
            why = "; ".join(f"trial {n}: {text}" for n, text in passed_over.items())
            return RefitOutcome(False, f"not done ({why})", members, len(y),
                                time.monotonic() - started, form=form)
    probe_deadline = started + (deadline - started) * len(seen) / (len(seen) + len(y))
    probed = refit_all(X.iloc[seen].reset_index(drop=True), y[seen], result.members,
                       deadline=probe_deadline, only=only, form=form,
                       passed_over=passed_over, **options)
    if not probed.done or probed.predictor is None:
        return dataclasses.replace(
            probed, reason=f"not done: its probe without the test rows was {probed.reason}",
            rows=len(y), seconds=time.monotonic() - started, predictor=None)
    predictor = probed.predictor
    test_X = X.iloc[split.test].reset_index(drop=True)
    prediction = raw_prediction(predictor, test_X)
    test_y = y[split.test]
    score = evaluate(options["task"], test_y, prediction, options["classes"],
                     threshold=predictor.threshold)[metric.name]
    worse = paired_worse_share(metric, test_y, prediction, evaluated_prediction,
                               n_resamples=RESAMPLES, seed=options["seed"], max_rows=MAX_ROWS)
    hurts = bool(worse >= HURTS_SHARE)
    probe = {"rows": len(seen), "trials": probed.refit_trials, "metric": metric.name,
             "score": _finite(score), "evaluated_score": _finite(evaluated_score),
             "worse_share": _finite(worse), "hurts": hurts}
    versus = (f"{metric.name} {score:.5g} on the test rows fitted without them, against "
              f"{evaluated_score:.5g} as evaluated, worse on {worse:.0%} of {RESAMPLES} "
              f"resamples")
    if hurts:
        members = tuple({**m, "refit": False, "note": "kept as validated: the probe hurt"}
                        if m["refit"] else m for m in probed.members)
        return RefitOutcome(False, f"not done: it hurts ({versus})", members, len(y),
                            time.monotonic() - started, form=form, probe=probe)
    final = refit_all(X, y, result.members, deadline=deadline, only=probed.refit_trials,
                      form=form, passed_over=_notes(probed), **options)
    if final.refit_trials != probed.refit_trials:
        members = tuple({**m, "refit": False} for m in final.members)
        return RefitOutcome(False, f"not done: the probe does not hurt ({versus}), but the "
                            f"final fit did not refit the members the probe did "
                            f"({final.reason})", members,
                            len(y), time.monotonic() - started, form=form, probe=probe)
    return dataclasses.replace(final, reason=f"{final.reason}; the probe does not hurt: {versus}",
                               seconds=time.monotonic() - started, probe=probe)


def _notes(outcome: RefitOutcome) -> dict[int, str]:
    """Why each member an outcome did not refit was left out (for the final fit's record)."""
    return {int(m["trial"]): str(m["note"]) for m in outcome.members
            if not m.get("refit") and "note" in m}


def _finite(value: float) -> float | None:
    """``value``, or None where the metric is undefined on these rows (JSON has no NaN)."""
    return float(value) if np.isfinite(value) else None
