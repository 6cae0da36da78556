"""The search loop: the starting portfolio, then a seeded Optuna TPE study, inside a budget.

Each trial fits one family with one set of parameters on the training rows, scores it on the
validation rows and records its cost. Features are fitted once per preprocessing mode. Trial
``n`` is fitted with seed ``seed + n`` and a deadline (the budget's end less a reserve, and at
most half of what remains), so the search ends on time. With ``max_trials`` and enough budget
the same seed gives the same trials, scores and predictions, bit for bit.

Example:
    >>> import numpy as np, pandas as pd
    >>> from mlpilot.core.budget import Budget
    >>> from mlpilot.core.config import Task
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> class NegMSE:
    ...     name, greater_is_better = "neg_mse", True
    ...     def __call__(self, y, p): return -float(np.mean((y - p) ** 2))
    >>> schema = Schema(columns=(ColumnSchema("x", ColumnKind.NUMERIC, "float64", False),
    ...                          ColumnSchema("y", ColumnKind.NUMERIC, "float64", False)),
    ...                 target="y")
    >>> X = pd.DataFrame({"x": np.linspace(0, 1, 200)}); y = 3 * X["x"].to_numpy()
    >>> result = run_search(X, y, X, y, schema=schema, task=Task.REGRESSION, classes=None,
    ...                     scorer=NegMSE(), budget=Budget(60), seed=0, n_threads=1,
    ...                     families=["linear"], max_trials=3)
    >>> [(t.number, t.family, t.state) for t in result.trials]
    [(0, 'baseline', 'complete'), (1, 'linear', 'complete'), (2, 'linear', 'complete')]
    >>> result.best_trial.family
    'linear'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError
from mlpilot.core.hashing import canonical_json
from mlpilot.data.schema import Schema
from mlpilot.models.features import FeaturePipeline
from mlpilot.models.predictor import Member, Predictor
from mlpilot.models.registry import get_adapter
from mlpilot.search.portfolio import starting_configs
from mlpilot.search.scoring import Scorer

DEFAULT_FAMILIES: tuple[str, ...] = ("lightgbm", "linear", "random_forest", "extra_trees")
RESERVE_FRACTION = 0.1  # of the budget, kept for the last trial's scoring and the final steps
MIN_RESERVE_SECONDS = 0.25
MIN_TRIAL_SECONDS = 1.0  # a trial may use half of what remains, but never less than this


@dataclass(frozen=True)
class TrialResult:
    """One evaluated configuration. ``state`` is "complete", "failed" or "skipped" (a repeat of
    an earlier configuration, not refitted)."""

    number: int
    family: str
    params: dict[str, Any]
    seed: int
    state: str
    score: float | None
    fit_seconds: float
    predict_seconds_per_row: float
    model_size_bytes: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "family": self.family, "params": dict(self.params),
                "seed": self.seed, "state": self.state, "score": self.score,
                "fit_seconds": self.fit_seconds,
                "predict_seconds_per_row": self.predict_seconds_per_row,
                "model_size_bytes": self.model_size_bytes, "error": self.error}


@dataclass(frozen=True)
class SearchResult:
    """All trials in order, the best one's number, its Predictor and the baseline Predictor."""

    trials: tuple[TrialResult, ...]
    best_number: int
    best: Predictor
    baseline: Predictor

    @property
    def best_trial(self) -> TrialResult:
        return self.trials[self.best_number]


@dataclass
class _Problem:
    """The fixed inputs of one search plus the per-mode feature cache (private, mutable)."""

    train_X: pd.DataFrame
    train_y: np.ndarray
    valid_X: pd.DataFrame
    valid_y: np.ndarray
    schema: Schema
    task: Task
    n_classes: int | None
    n_threads: int
    features: dict[str, tuple[FeaturePipeline | None, np.ndarray, np.ndarray]] = field(
        default_factory=dict)

    def matrices(self, mode: str) -> tuple[FeaturePipeline | None, np.ndarray, np.ndarray]:
        if mode not in self.features:
            if mode == "none":
                self.features[mode] = (None, np.zeros((len(self.train_X), 0)),
                                       np.zeros((len(self.valid_X), 0)))
            else:
                pipeline = FeaturePipeline(mode).fit(self.train_X, self.schema)
                self.features[mode] = (pipeline, pipeline.transform(self.train_X),
                                       pipeline.transform(self.valid_X))
        return self.features[mode]


def run_search(train_X: pd.DataFrame, train_y: Any, valid_X: pd.DataFrame, valid_y: Any, *,
               schema: Schema, task: Task, classes: Sequence[Any] | None, scorer: Scorer,
               budget: Budget, seed: int, n_threads: int,
               families: Sequence[str] | None = None, max_trials: int | None = None,
               on_trial: Callable[[TrialResult], None] | None = None) -> SearchResult:
    """Search model families and hyperparameters; return every trial and the best Predictor.

    Args:
        train_X, valid_X: raw feature frames (already validated against ``schema``).
        train_y, valid_y: int-encoded classes 0..k-1, or float values for regression.
        classes: original class labels in encoded order (None for regression).
        scorer: the validation metric to optimise.
        budget: the wall clock; trials stop at its end less a small reserve.
        seed: the search seed; trial ``n`` is fitted with ``seed + n``.
        n_threads: threads per fit.
        families: families to search (default: lightgbm, linear, random_forest, extra_trees);
            the baseline is always run first.
        max_trials: stop after this many trials, baseline and portfolio included.
        on_trial: called with each :class:`TrialResult` as soon as it is known.

    Raises:
        ConfigError: an unknown family, or ``max_trials`` below 1.
    """
    families = _check_families(families, max_trials)
    problem = _Problem(train_X, np.asarray(train_y), valid_X, np.asarray(valid_y), schema,
                       Task(task), len(classes) if Task(task).is_classification and classes
                       else None, int(n_threads))
    reserve = max(MIN_RESERVE_SECONDS, RESERVE_FRACTION * budget.seconds)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="maximize" if scorer.greater_is_better else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
        starts = starting_configs(problem.task, len(problem.train_y), families)
        trials: list[TrialResult] = []
        seen: dict[bytes, int] = {}
        best_number: int | None = None
        best_member = baseline_member = None
        while max_trials is None or len(trials) < max_trials:
            number = len(trials)
            if number > 0 and budget.remaining() <= reserve:
                break
            if number >= len(starts) and not families:
                break
            optuna_trial, family, params = _next_config(study, starts, number, families,
                                                        problem)
            key = canonical_json([family, params])
            member = None
            if key in seen:
                result = _repeat(number, family, params, seed, trials[seen[key]])
            else:
                seen[key] = number
                result, member = _run_trial(problem, number, family, params, seed + number,
                                            scorer, _deadline(budget, reserve))
            if member is not None:
                if number == 0:
                    baseline_member = member
                if best_number is None or _better(result.score, trials[best_number].score,
                                                  scorer.greater_is_better):
                    best_number, best_member = number, member
            if optuna_trial is not None:
                _tell(study, optuna_trial, result)
            trials.append(result)
            if on_trial is not None:
                on_trial(result)
    finally:
        optuna.logging.set_verbosity(verbosity)
    if best_number is None or best_member is None or baseline_member is None:
        raise ConfigError("the search produced no model, not even the baseline",
                          found=trials[0].error if trials else "no trials",
                          fix="check the training data and target")

    def predictor(member: Member) -> Predictor:
        return Predictor(schema, problem.task, list(classes) if classes is not None else None,
                         [member])

    return SearchResult(trials=tuple(trials), best_number=best_number,
                        best=predictor(best_member), baseline=predictor(baseline_member))


def _check_families(families: Sequence[str] | None, max_trials: int | None) -> list[str]:
    """The searched families (unique, in order, without the baseline, which always runs)."""
    chosen = list(DEFAULT_FAMILIES if families is None else families)
    for name in chosen:
        get_adapter(name)  # ConfigError naming the valid families
    if max_trials is not None and max_trials < 1:
        raise ConfigError("max_trials must be at least 1", found=str(max_trials),
                          fix="pass max_trials=1 or more, or leave it out")
    return [f for f in dict.fromkeys(chosen) if f != "baseline"]


def _next_config(study: optuna.Study, starts: list[tuple[str, dict[str, Any]]], number: int,
                 families: list[str], problem: _Problem
                 ) -> tuple[optuna.Trial | None, str, dict[str, Any]]:
    """The portfolio entry ``number`` if any is left, else a configuration from the sampler."""
    n_rows = len(problem.train_y)
    if number < len(starts):
        family, params = starts[number]
        if family == "baseline":
            return None, family, dict(params)
        adapter = get_adapter(family)
        study.enqueue_trial({"family": family, **{f"{family}.{p.name}": params[p.name]
                                                   for p in adapter.space(problem.task, n_rows)}})
        trial = study.ask()
        trial.suggest_categorical("family", families)
        adapter.search_space(trial, problem.task, n_rows)
        return trial, family, dict(params)
    trial = study.ask()
    family = trial.suggest_categorical("family", families)
    return trial, family, get_adapter(family).search_space(trial, problem.task, n_rows)


def _deadline(budget: Budget, reserve: float) -> float:
    end = budget.deadline() - reserve
    usable = max(0.0, end - time.monotonic())
    return min(end, time.monotonic() + max(usable * 0.5, MIN_TRIAL_SECONDS))


def _run_trial(problem: _Problem, number: int, family: str, params: dict[str, Any], seed: int,
               scorer: Scorer, deadline: float) -> tuple[TrialResult, Member | None]:
    adapter = get_adapter(family)
    fit_seconds = predict_per_row = 0.0
    size = 0
    try:
        started = time.monotonic()
        pipeline, train_matrix, valid_matrix = problem.matrices(adapter.preprocessing)
        model = adapter.fit(
            train_matrix, problem.train_y, task=problem.task, n_classes=problem.n_classes,
            params=params, seed=seed, n_threads=problem.n_threads,
            categorical_indices=pipeline.categorical_indices_ if pipeline is not None else (),
            X_valid=valid_matrix, y_valid=problem.valid_y, deadline=deadline,
        )
        fit_seconds = time.monotonic() - started
        started = time.monotonic()
        prediction = adapter.predict(model, valid_matrix, problem.task)
        predict_per_row = (time.monotonic() - started) / max(1, len(valid_matrix))
        score = float(scorer(problem.valid_y, prediction))
        if not math.isfinite(score):
            raise ValueError(f"the {scorer.name} score is {score}")
        size = len(adapter.dump(model))
    except Exception as exc:  # a failing trial is recorded; the search goes on
        return TrialResult(number, family, params, seed, "failed", None, fit_seconds,
                           predict_per_row, size, f"{type(exc).__name__}: {exc}"), None
    result = TrialResult(number, family, params, seed, "complete", score, fit_seconds,
                         predict_per_row, size)
    return result, Member(family, pipeline, model, 1.0)


def _repeat(number: int, family: str, params: dict[str, Any], seed: int,
            earlier: TrialResult) -> TrialResult:
    return TrialResult(number, family, params, seed, "skipped", earlier.score, 0.0, 0.0,
                       earlier.model_size_bytes,
                       f"same configuration as trial {earlier.number}; not refitted")


def _tell(study: optuna.Study, trial: optuna.Trial, result: TrialResult) -> None:
    if result.score is None:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, result.score)


def _better(candidate: float | None, incumbent: float | None, greater_is_better: bool) -> bool:
    if candidate is None:
        return False
    if incumbent is None:
        return True
    return candidate > incumbent if greater_is_better else candidate < incumbent
