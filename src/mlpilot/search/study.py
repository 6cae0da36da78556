"""The search loop: the starting portfolio, then a seeded Optuna TPE study, inside a budget,
then greedy ensemble selection and the decision threshold.

Each trial fits one family with one set of parameters under the validation strategy (a
holdout, or k-fold cross-validation with bagged fold models, see
:mod:`mlpilot.search.validation`), is scored on its validation (or out-of-fold) predictions and
records its cost. Trial ``n`` is fitted with seed ``seed + n`` and a deadline (the budget's end
less a reserve, and at most half of what remains; with ``max_trials`` only the budget's end),
so the search ends on time. When a deadline cuts a fit, the rounds it ran are recorded with the
trial (``_cut_at``, per fold), so a replay rebuilds exactly the same model. A trial whose
memory estimate exceeds the approved memory, or (with ``max_latency``) whose prediction cost
per row is over the limit, is skipped or rejected and recorded. With ``max_trials`` and enough
budget the same seed gives the same trials, scores and predictions, bit for bit; a recorded
sequence can be replayed (``replay=``) to the same result.

After the trials, greedy ensemble selection over the best trials' scored predictions (and,
after a holdout, each family's best: :func:`mlpilot.search.ensemble.ensemble_candidates`)
builds a weighted ensemble; it is reported as an extra trial (family ``ensemble``) and chosen
when it scores better than the best single trial (a replay selects from the trials the
recorded ensemble blended).

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
    ...                     families=["linear"], max_trials=3, strategy="holdout")
    >>> [(t.number, t.family, t.state) for t in result.trials]
    [(0, 'baseline', 'complete'), (1, 'linear', 'complete'), (2, 'linear', 'complete')]
    >>> result.best_trial.family
    'linear'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError
from mlpilot.core.hashing import canonical_json
from mlpilot.data.schema import Schema
from mlpilot.models import target as target_transform
from mlpilot.models.base import CLASS_WEIGHT, Param
from mlpilot.models.predictor import Predictor
from mlpilot.models.registry import get_adapter
from mlpilot.search.clocks import DROP_KEY, FEATURE_CHECKS
from mlpilot.search.ensemble import clears_margin, ensemble_candidates, select_ensemble
from mlpilot.search.portfolio import starting_configs
from mlpilot.search.refit import (
    RefitMember,
    affordable,
    mean_rounds,
    member_refit_estimate,
    refit_cost,
    refit_form,
    rounds_scale,
)
from mlpilot.search.scoring import Scorer
from mlpilot.search.threshold import choose_threshold
from mlpilot.search.validation import (
    Problem,
    Strategy,
    TrialFit,
    TrialPruned,
    choose_strategy,
)

DEFAULT_FAMILIES: tuple[str, ...] = ("lightgbm", "catboost", "xgboost", "linear",
                                     "extra_trees", "random_forest", "knn")
RESERVE_FRACTION = 0.05  # of the budget, kept for the last trial's scoring and the final steps
MIN_RESERVE_SECONDS = 0.25
MIN_TRIAL_SECONDS = 1.0  # a trial may use half of what remains, but never less than this
ENSEMBLE = "ensemble"
IMBALANCE_RATIO = 3.0
PRUNE_AFTER = 4  # complete trials (baseline aside) before cross-validated trials are pruned
REFIT_MAX_SHARE = 0.35  # of the budget: the most a search sets aside for the final fit
REFIT_ENSEMBLE = 1.5  # a classification CV search's final-fit reserve, per best trial's refit
#: the ensemble the search would build now is planned on at most this many of
#: the validation (or out-of-fold) rows (a seeded sample), to estimate the final fit it needs
PLAN_ROWS = 5_000
#: bytes per second a member's model is written at (ExtraTrees' 190 MB of node arrays took
#: 1.0 s at the predictor's zlib level 1 on the benchmark machine), and how many times a
#: member is written: in the evaluated model, then in the final one
STORE_BYTES_PER_SECOND = 100e6
STORE_WRITES = 2.25
#: recorded in a trial's params when its deadline cut a fit: the rounds run, per fold
CUT_KEY = "_cut_at"


@dataclass(frozen=True)
class TrialResult:
    """One evaluated configuration. ``state`` is "complete", "failed", "skipped" (a repeat of
    an earlier configuration, or over the memory budget: not fitted), "pruned" (a
    cross-validated trial stopped between folds, its partial score worse than the median of
    earlier trials) or "rejected" (fitted, but over the latency limit)."""

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
    #: proposed by the TPE sampler (not the baseline, a portfolio start or a check of the
    #: features): a guarded search makes it clear a margin to be chosen (:func:`run_search`)
    proposed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "family": self.family, "params": dict(self.params),
                "seed": self.seed, "state": self.state, "score": self.score,
                "fit_seconds": self.fit_seconds,
                "predict_seconds_per_row": self.predict_seconds_per_row,
                "model_size_bytes": self.model_size_bytes, "error": self.error,
                "proposed": self.proposed}


@dataclass(frozen=True)
class SearchResult:
    """All trials in order (the ensemble last, when built), the chosen one's number, its
    Predictor, the baseline Predictor and the validation strategy."""

    trials: tuple[TrialResult, ...]
    best_number: int
    best: Predictor
    baseline: Predictor
    strategy: Strategy = field(default_factory=lambda: Strategy("holdout", 1))
    #: the chosen trials as the final fit on every labelled row needs them
    members: tuple[RefitMember, ...] = field(default=(), compare=False)
    #: rows each of the search's models trained on (a fold's, or the training rows)
    rows_per_fit: int = 0

    @property
    def best_trial(self) -> TrialResult:
        return self.trials[self.best_number]


@dataclass(frozen=True)
class Limits:
    """Optional limits a trial must respect: approved memory and prediction latency."""

    memory_mb: int | None = None
    max_latency: float | None = None  # seconds per row


def run_search(train_X: pd.DataFrame, train_y: Any, valid_X: pd.DataFrame, valid_y: Any, *,
               schema: Schema, task: Task, classes: Sequence[Any] | None, scorer: Scorer,
               budget: Budget, seed: int, n_threads: int,
               families: Sequence[str] | None = None, max_trials: int | None = None,
               on_trial: Callable[[TrialResult], None] | None = None,
               strategy: str | None = None, allow_cv: bool = True,
               limits: Limits | None = None, ensemble: bool = True,
               replay: Sequence[Any] | None = None,
               refit_rows: int | None = None, repeats: int | None = None,
               feature_checks: int = FEATURE_CHECKS,
               spare_starts: bool | None = None, refit_probe: bool = True,
               guard_candidates: bool | None = None) -> SearchResult:
    """Search model families and hyperparameters; return every trial and the chosen Predictor.

    Args:
        train_X, valid_X: raw feature frames (already validated against ``schema``).
        train_y, valid_y: int-encoded classes 0..k-1, or float values for regression.
        classes: original class labels in encoded order (None for regression).
        scorer: the validation metric to optimise.
        budget: the wall clock; trials stop at its end less a small reserve.
        seed: the search seed; trial ``n`` is fitted with ``seed + n``.
        n_threads: threads per fit: one trial (and one fold) at a time uses every approved
            CPU, which ``bench/parallel.py`` measured to beat a pool of single-threaded fold
            workers on most tables (see :mod:`mlpilot.search.parallel`).
        families: families to search (default: every family but the baseline, which always
            runs first).
        max_trials: stop after this many trials, baseline and portfolio included.
        on_trial: called with each :class:`TrialResult` as soon as it is known.
        strategy: "holdout", "cv" or None (chosen from the size of the data and the budget).
        allow_cv: False for time-ordered data, where folds would mix past and future.
        limits: memory and latency limits (trials over them are skipped / rejected).
        ensemble: build the greedy ensemble (off with a latency limit).
        replay: a recorded trial sequence (objects with number, family, params, seed) to
            refit in order, without deadlines, instead of searching.
        refit_rows: the rows the final fit on every labelled row will use
            (:func:`mlpilot.search.refit.refit_all`, run after the search): the search keeps
            back the time it is estimated to take. None: no final fit follows.
        refit_probe: whether that final fit, when it fits one model per member, is preceded
            by a probe on the searched rows that decides whether it pays (a time-ordered
            split; :mod:`mlpilot.pipeline.final_fit`): the time kept back counts it.
        repeats: how many times a cross-validated search draws its folds, as a recorded run
            did (a replay of a run recorded under another rule); None: chosen from the rows
            and the metric (:func:`mlpilot.search.validation.choose_strategy`).
        feature_checks: which checks of the features a time-ordered search makes
            (:data:`mlpilot.search.clocks.FEATURE_CHECKS`; a search from scratch reproducing
            a run passes the recorded number).
        spare_starts: whether median pruning spares the portfolio's starts, so every family
            is scored on all its folds at least once; None: :func:`spares_starts` decides from
            the task (a search from scratch reproducing a run passes the recorded choice).
        guard_candidates: whether a configuration proposed by the TPE sampler must beat the
            best portfolio start by :data:`mlpilot.search.ensemble.CANDIDATE_MARGIN` standard
            errors to be an ensemble candidate or the chosen single model
            (:func:`mlpilot.search.ensemble.clears_margin`); None: :func:`guards_candidates`
            decides from the task (a reproduction passes the recorded choice).

    Raises:
        ConfigError: an unknown family, ``max_trials`` below 1, or a bad replay sequence.
    """
    task = Task(task)
    limits = limits or Limits()
    families = _check_families(families, max_trials)
    n_classes = len(classes) if task.is_classification and classes else None
    n_rows = len(train_X) + len(valid_X)
    plan = choose_strategy(n_rows, budget.seconds, allow_cv, strategy,
                           log_loss=scorer.name == "log_loss")
    if repeats is not None and plan.kind == "cv":
        plan = replace(plan, repeats=int(repeats))
    problem = Problem(train_X, np.asarray(train_y), valid_X, np.asarray(valid_y), schema, task,
                      n_classes, int(n_threads), plan, seed)
    reserve = max(MIN_RESERVE_SECONDS, RESERVE_FRACTION * budget.seconds)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        refit_rows = (refit_rows if replay is None and max_trials is None else None)
        loop = _Loop(problem, scorer, limits, budget, reserve, replay is not None, on_trial,
                     whole_budget=max_trials is not None, refit_rows=refit_rows,
                     refit_probe=refit_probe,
                     spare_starts=spares_starts(task) if spare_starts is None else spare_starts,
                     guard=guards_candidates(task) if guard_candidates is None
                     else guard_candidates)
        if replay is not None:
            configs: Iterator[_Config] = _replayed(replay)
        else:
            configs = _sampled(problem, families, seed, scorer, loop.trials, feature_checks)
        loop.run(configs, max_trials, seed)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return loop.finish(classes, ensemble and limits.max_latency is None, replay)


# -- configurations ----------------------------------------------------------------------


@dataclass
class _Config:
    family: str
    params: dict[str, Any]
    seed: int | None = None
    trial: optuna.Trial | None = None
    study: optuna.Study | None = None
    recorded_state: str | None = None
    cuts: list[int | None] | None = None
    #: a portfolio start (never pruned when the search spares them: :func:`spares_starts`)
    start: bool = False
    #: proposed by the TPE sampler (not the baseline, a start or a check of the features)
    proposed: bool = False


def _sampled(problem: Problem, families: list[str], seed: int, scorer: Scorer,
             history: Sequence[TrialResult],
             feature_checks: int = FEATURE_CHECKS) -> Iterator[_Config]:
    """The portfolio, then configurations proposed by a seeded TPE sampler. On imbalanced
    classes, families that support it also search ``class_weight`` (none or balanced); on a
    regression target no value of which is negative, every family searches its target
    transform (:mod:`mlpilot.models.target`: identity, log1p or sqrt).

    On time-ordered rows with features that count time (:mod:`mlpilot.search.clocks`), the
    first configuration after the baseline is fitted a second time without them (same seed,
    not an Optuna trial); when that scores better on the validation rows, every later
    configuration leaves them out too (its parameters name them, under
    :data:`~mlpilot.search.clocks.DROP_KEY`, so a refit and a replay rebuild the same
    features). Then, where the time column has calendar parts that its training rows repeat
    only a few times (short cycles: the day of the month over a few months), the same
    configuration once more without them too, kept out the same way when that scores better
    than the fit decided on so far. ``history`` is the loop's list of results, read after each
    yield."""
    study = optuna.create_study(direction="maximize" if scorer.greater_is_better else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    n_rows = problem.n_train_rows
    weighted = problem.task.is_classification and is_imbalanced(problem.y)
    targets = (target_transform.choices(problem.y) if problem.task is Task.REGRESSION
               else (target_transform.IDENTITY,))
    transform = [Param(target_transform.KEY, "categorical", choices=targets)] \
        if len(targets) > 1 else []
    clocks = problem.clocks(labels=feature_checks >= 2) if families else []
    cycles = problem.short_cycles(clocks) if families and feature_checks >= 3 else []
    dropped: dict[str, Any] = {}

    def space(family: str) -> list[Param]:
        adapter = get_adapter(family)
        extra = [CLASS_WEIGHT] if weighted and adapter.supports_class_weight else []
        return [*adapter.space(problem.task, n_rows), *extra, *transform]

    for family, params in starting_configs(problem.task, n_rows, families, targets):
        if family == "baseline":
            yield _Config(family, dict(params))
            continue
        if weighted and get_adapter(family).supports_class_weight:
            params = {**params, "class_weight": "none"}
        study.enqueue_trial({"family": family, **{f"{family}.{p.name}": params[p.name]
                                                   for p in space(family)}})
        trial = study.ask()
        trial.suggest_categorical("family", families)
        for param in space(family):
            param.suggest(trial, family)
        yield _Config(family, {**params, **dropped}, trial=trial, study=study, start=True)
        current = history[-1]  # the fit of the features every later trial gets so far
        if clocks:
            yield _Config(family, {**params, DROP_KEY: clocks}, seed=current.seed)
            if _better_without(current, history[-1], scorer):
                dropped, current = {DROP_KEY: clocks}, history[-1]
            clocks = []
        if cycles and current.state == "complete":
            without = sorted({*dropped.get(DROP_KEY, ()), *cycles})
            yield _Config(family, {**params, DROP_KEY: without}, seed=current.seed)
            if _better_without(current, history[-1], scorer):
                dropped = {DROP_KEY: without}
            cycles = []
    if not families:
        return
    while True:
        trial = study.ask()
        family = trial.suggest_categorical("family", families)
        params = get_adapter(family).default_params(problem.task, n_rows)
        for param in space(family):
            params[param.name] = param.suggest(trial, family)
        yield _Config(family, {**params, **dropped}, trial=trial, study=study, proposed=True)


def spares_starts(task: Task) -> bool:
    """Whether median pruning spares the portfolio's starts (each family's one configuration
    known to be strong, scored then on all its folds): in a regression search, where a fold's
    RMSE turns on its few largest errors, so a fold or two is too noisy to judge a family on.

    On ames (60 s, seed 0) CatBoost's start was pruned after 3 of 5 folds, RMSE 26,325 against
    a median of 26,102; spared, it scored 24,186 on all five, the best single model of the
    run. Pruned, it also taught the sampler that CatBoost loses: every CatBoost trial after it
    was pruned too and the ensemble was LightGBM alone (test RMSE 24,985; spared, 23,755 to
    23,885 in four runs).
    Sparing every start in a classification search was measured worse: caravan's ROC AUC fell
    from 0.7637 to 0.7571 and breast_cancer's from 0.9862 to 0.9849 (bench/README.md).

    Example:
        >>> spares_starts(Task.REGRESSION), spares_starts(Task.BINARY)
        (True, False)
    """
    return task is Task.REGRESSION


def guards_candidates(task: Task) -> bool:
    """Whether a search of ``task`` guards its ensemble candidates against overtuning
    (:func:`mlpilot.search.ensemble.clears_margin`): a regression does. On trial-count runs
    (34 to 160 trials), the guard's ensemble scored better on the benchmark's test rows on
    ames (mean of seeds 0-2: 23,778 against 24,063) and diabetes (56.50 against 56.94), and a
    little worse on wage (35.52 against 35.42); see bench/README.md. Classification was not
    measured with it, and is first on every dataset without it.

    Example:
        >>> guards_candidates(Task.REGRESSION), guards_candidates(Task.BINARY)
        (True, False)
    """
    return task is Task.REGRESSION


def _better_without(with_them: TrialResult, without: TrialResult, scorer: Scorer) -> bool:
    """Whether the trial fitted without some features (the clocks, or the short cycles) scored
    better than the same configuration with them (a trial that did not complete decides
    nothing: the features stay)."""
    if with_them.state != "complete" or without.state != "complete" \
            or with_them.score is None or without.score is None:
        return False
    sign = 1.0 if scorer.greater_is_better else -1.0
    return sign * float(without.score) > sign * float(with_them.score)


def is_imbalanced(y: np.ndarray) -> bool:
    """Whether the largest class has at least :data:`IMBALANCE_RATIO` times the rows of the
    smallest (then class weights are worth searching).

    Example:
        >>> is_imbalanced(np.array([0] * 80 + [1] * 20)), is_imbalanced(np.array([0, 1] * 50))
        (True, False)
    """
    counts = np.bincount(np.asarray(y).astype(np.int64))
    counts = counts[counts > 0]
    return bool(counts.size > 1 and counts.max() >= IMBALANCE_RATIO * counts.min())


def _replayed(sequence: Sequence[Any]) -> Iterator[_Config]:
    specs = [s for s in sequence if s.family != ENSEMBLE]
    if not specs:
        raise ConfigError("there is no trial sequence to replay",
                          fix="reproduce a run that finished its search")
    numbers = [int(s.number) for s in specs]
    if numbers != list(range(len(specs))):
        raise ConfigError("the recorded trial sequence is not numbered 0, 1, 2, ...",
                          found=", ".join(map(str, numbers[:10])),
                          fix="the run record was changed; restore it from a backup")
    if specs[0].family != "baseline":
        raise ConfigError("the recorded trial sequence does not start with the baseline",
                          found=specs[0].family, fix="reproduce a run made by mlpilot")
    for spec in specs:
        get_adapter(spec.family)
    for spec in specs:
        params = dict(spec.params)
        cuts = params.pop(CUT_KEY, None)
        yield _Config(spec.family, params, seed=int(spec.seed),
                      recorded_state=str(getattr(spec, "state", "complete")), cuts=cuts,
                      proposed=bool(getattr(spec, "proposed", False)))


# -- the loop ----------------------------------------------------------------------------


class _Loop:
    """Runs trials, keeps their scored predictions and members, tracks the best."""

    def __init__(self, problem: Problem, scorer: Scorer, limits: Limits, budget: Budget,
                 reserve: float, replaying: bool,
                 on_trial: Callable[[TrialResult], None] | None, whole_budget: bool,
                 refit_rows: int | None = None, spare_starts: bool = False,
                 refit_probe: bool = True, guard: bool = False) -> None:
        self.problem, self.scorer, self.limits = problem, scorer, limits
        self.spare_starts = spare_starts
        self.guard = guard
        #: trial numbers of the configurations the TPE sampler proposed
        self.proposed: set[int] = set()
        #: (trial, reference start) -> whether the trial clears the margin over it
        self.cleared: dict[tuple[int, int], bool] = {}
        self.budget, self.reserve, self.replaying = budget, reserve, replaying
        # with a trial-count budget no trial is cut short by a per-trial share of the time (which
        # depends on the machine's speed): only the run's own end stops one
        self.whole_budget = whole_budget
        self.on_trial = on_trial
        self.refit_rows = refit_rows
        self.refit_probe = refit_probe
        self.trials: list[TrialResult] = []
        self.fits: dict[int, TrialFit] = {}
        self.seen: dict[bytes, int] = {}
        # the last final-fit plan (_planned_refit): the candidates it was made from, its seconds
        self._plan: tuple[tuple[int, ...], float] | None = None

    def run(self, configs: Iterator[_Config], max_trials: int | None, seed: int) -> None:
        for config in configs:
            number = len(self.trials)
            if max_trials is not None and number >= max_trials and not self.replaying:
                if config.trial is not None and config.study is not None:
                    config.study.tell(config.trial, state=optuna.trial.TrialState.FAIL)
                break
            if not self.replaying and number > 0 and self.budget.remaining() <= self._reserve():
                break
            trial_seed = config.seed if config.seed is not None else seed + number
            result = self._trial(number, config.family, config.params, trial_seed,
                                 config.recorded_state, config.cuts,
                                 prunable=not (config.start and self.spare_starts))
            if config.proposed:
                result = replace(result, proposed=True)
                self.proposed.add(number)
            if config.trial is not None and config.study is not None:
                _tell(config.study, config.trial, result)
            self.trials.append(result)
            if self.on_trial is not None:
                self.on_trial(result)

    def _trial(self, number: int, family: str, params: dict[str, Any], seed: int,
               recorded_state: str | None = None,
               cuts: list[int | None] | None = None, prunable: bool = True) -> TrialResult:
        """Fit and score one configuration (``prunable``: whether median pruning may stop it
        between folds). A replay mirrors the recorded decisions: a trial recorded as skipped is
        skipped again, one recorded as rejected is kept out again."""
        key = canonical_json([family, params])
        if key in self.seen:
            earlier = self.trials[self.seen[key]]
            return TrialResult(number, family, params, seed, "skipped", earlier.score, 0.0, 0.0,
                               earlier.model_size_bytes,
                               f"same configuration as trial {earlier.number}; not refitted")
        self.seen[key] = number
        adapter = get_adapter(family)
        if recorded_state in ("skipped", "failed", "pruned"):
            return TrialResult(number, family, params, seed, recorded_state, None, 0.0, 0.0, 0,
                               f"{recorded_state} in the recorded run; not refitted")
        if self.limits.memory_mb is not None and recorded_state is None:
            estimate = adapter.estimate_memory_mb(self.problem.n_train_rows,
                                                  self.problem.X.shape[1], params)
            if estimate > self.limits.memory_mb:
                return TrialResult(number, family, params, seed, "skipped", None, 0.0, 0.0, 0,
                                   f"memory estimate {estimate:,.0f} MB exceeds the approved "
                                   f"{self.limits.memory_mb:,} MB")
        first_model = family != "baseline" and len(self.fits) <= 1
        share = 1.0 if self.whole_budget or first_model else 0.5
        deadline = math.inf if self.replaying else _deadline(self.budget, self._reserve(), share)
        try:
            fit = self.problem.fit(family, params, seed,
                                   None if deadline == math.inf else deadline,
                                   finish_late_folds=first_model, cuts=cuts,
                                   # a trial-count run is stopped by its budget's end only
                                   share_time=not self.whole_budget,
                                   prune=self._pruner()
                                   if prunable and not (self.replaying or first_model)
                                   else None)
            score = float(self.scorer(self.problem.scored_y, fit.prediction))
            if not math.isfinite(score):
                raise ValueError(f"the {self.scorer.name} score is {score}")
        except TrialPruned as exc:
            return TrialResult(number, family, params, seed, "pruned", None, 0.0, 0.0, 0,
                               str(exc))
        except Exception as exc:  # a failing trial is recorded; the search goes on
            return TrialResult(number, family, params, seed, "failed", None, 0.0, 0.0, 0,
                               f"{type(exc).__name__}: {exc}")
        state, error = "complete", None
        limit = self.limits.max_latency
        if recorded_state == "rejected":
            state, error = "rejected", "rejected as in the recorded run"
        elif (recorded_state is None and limit is not None and family != "baseline"
              and fit.predict_seconds_per_row > limit):
            state = "rejected"
            error = (f"predicts in {fit.predict_seconds_per_row * 1e6:.1f} µs/row, over the "
                     f"{limit * 1e6:.1f} µs/row latency limit")
        else:
            self.fits[number] = fit
        recorded = dict(params)
        applied = cuts if cuts is not None else fit.cuts  # a replay records the cuts it rebuilt
        if any(c is not None for c in applied):
            recorded[CUT_KEY] = list(applied)  # where the deadline stopped each fold
        return TrialResult(number, family, recorded, seed, state, score, fit.fit_seconds,
                           fit.predict_seconds_per_row, fit.model_size_bytes, error)

    def _pruner(self) -> Callable[[np.ndarray, np.ndarray], str | None] | None:
        """Median pruning between folds: a cross-validated trial whose score on the folds
        fitted so far is worse than the median of the earlier complete trials' scores on the
        same rows stops there (from :data:`PRUNE_AFTER` complete trials on). With repeated
        k-fold the folds of the first repeat are compared with the earlier trials' first
        repeat (one model's prediction per row on each side), until that repeat is whole.
        A portfolio start is not pruned when the search spares the starts
        (:func:`spares_starts`)."""
        earlier = [n for n, t in enumerate(self.trials)
                   if n in self.fits and t.family not in ("baseline", ENSEMBLE)]
        if len(earlier) < PRUNE_AFTER:
            return None
        y, scorer = self.problem.y, self.scorer
        sign = 1.0 if scorer.greater_is_better else -1.0

        def prune(rows: np.ndarray, prediction: np.ndarray) -> str | None:
            partial = float(scorer(y[rows], prediction))
            median = float(np.median([scorer(y[rows], _first_pass(self.fits[n])[rows])
                                      for n in earlier]))
            if sign * partial < sign * median:
                return (f"{scorer.name} {partial:.5g} on those rows, worse than the median "
                        f"{median:.5g} of {len(earlier)} earlier trials")
            return None

        return prune

    def _reserve(self) -> float:
        """Time kept back from the trials: the final steps, plus, when the final fit on every
        labelled row follows, at most :data:`REFIT_MAX_SHARE` of the budget for it. When that
        fit refits one model per member (the "one" form: after a holdout, and after
        cross-validating a regression), the final fit (and after a time-ordered split its
        probe) of the ensemble the search would build now (:meth:`_planned_refit`); when it
        bags each member again (a cross-validated classification), the best trial's estimated
        refit times :data:`REFIT_ENSEMBLE` for the ensemble's further members, or nothing when
        even the best trial alone would take more than that share. On ames at 60 s that best-trial
        reserve let a cross-validated regression run on until its final fit could refit 1 of
        the 6 members (served RMSE 24,827 to 25,936 over five runs on one code path); the plan
        stops it in time for 2 of 3 (25,088, 25,091, 25,096)."""
        if self.refit_rows is None:
            return self.reserve
        sign = 1.0 if self.scorer.greater_is_better else -1.0
        scored = [t for t in self.trials if t.number in self.fits and t.score is not None
                  and t.family != "baseline"]
        if not scored:
            return self.reserve
        form = refit_form(self.problem.task, self.problem.strategy, self.refit_rows)
        # after a time-ordered split a "one" refit is preceded by its probe on the searched
        # rows (pipeline/final_fit.py)
        rows = [len(self.problem.y)] if form == "one" and self.refit_probe else []
        rows.append(self.refit_rows)
        most = REFIT_MAX_SHARE * self.budget.seconds
        if form == "one":
            return self.reserve + self._planned_refit(rows, form, most)
        best = max(scored, key=lambda t: (sign * float(t.score), -t.number))
        estimate = sum(member_refit_estimate(
            self.fits[best.number].fit_seconds, strategy=self.problem.strategy, n_rows=n,
            searched_rows=self.problem.n_train_rows, form=form,
            more_rounds=rounds_scale(self.problem.task, n,
                                     searched_rows=self.problem.n_train_rows)
            if get_adapter(best.family).rounds_param is not None else 1.0) for n in rows)
        if estimate > most:
            return self.reserve
        return self.reserve + min(most, estimate * REFIT_ENSEMBLE)

    def _planned_refit(self, rows: list[int], form: str, most: float) -> float:
        """After a holdout, or a cross-validated regression: the seconds the final steps of
        the ensemble the search would build now need, at most ``most``. Greedy selection over
        the candidates (a seeded sample of at most :data:`PLAN_ROWS` validation or
        out-of-fold rows) gives its members; the estimated fits on each of ``rows`` (the
        probe's, when one precedes the final fit, then the final fit's) of those the final fit
        would refit in ``most`` seconds
        (:func:`mlpilot.search.refit.affordable`: a slow member is kept as validated), and
        writing every member twice. With each family's best among the candidates, the
        ensemble is often mixed, and its cheap members are what the final fit refits (one
        CatBoost member, a few XGBoost or ExtraTrees ones beside the LightGBM ones): a reserve
        scaled from the best trial alone left diamonds' final fit no time for them. Planned
        again only when the candidates change."""
        ranked = self._ranked()
        numbers = self._candidates(ranked)
        key = tuple(numbers)
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1]
        scored_y = self.problem.scored_y
        sample = np.arange(len(scored_y))
        if len(sample) > PLAN_ROWS:
            sample = np.sort(np.random.default_rng(self.problem.seed).choice(
                sample, PLAN_ROWS, replace=False))
        picked = select_ensemble({n: self.fits[n].prediction[sample] for n in numbers},
                                 scored_y[sample], self.scorer,
                                 greater_is_better=self.scorer.greater_is_better)
        by_number = {t.number: t for t in self.trials}
        members = [self._refit_member(by_number[n], w, validated=False)
                   for n, w in picked.items()]
        options: dict[str, Any] = {"fits": rows, "task": self.problem.task,
                                   "strategy": self.problem.strategy,
                                   "searched_rows": self.problem.n_train_rows, "form": form}
        chosen, _ = affordable(members, most, **options)
        seconds = sum(refit_cost(m, **options) for m in members if m.trial in chosen)
        seconds += STORE_WRITES * sum(by_number[n].model_size_bytes
                                      for n in picked) / STORE_BYTES_PER_SECOND
        self._plan = (key, min(most, seconds))
        return self._plan[1]

    def _refit_member(self, trial: TrialResult, weight: float, *,
                      validated: bool = True) -> RefitMember:
        """``trial`` as a member of the chosen model with ``weight``, as the final fit needs
        it (without its weighted validated models when ``validated`` is False: a plan)."""
        fit = self.fits[trial.number]
        kept = tuple(replace(m, weight=m.weight * weight)
                     for m in fit.members) if validated else ()
        return RefitMember(trial.number, trial.family, dict(trial.params), trial.seed, weight,
                           kept, mean_rounds(trial.family, fit.members), fit.fit_seconds)

    def _candidates(self, ranked: list[TrialResult]) -> list[int]:
        """The trials greedy selection picks from, given the ranked trials (each family's best
        among them after a holdout: :func:`mlpilot.search.ensemble.ensemble_candidates`)."""
        return ensemble_candidates([(t.number, t.family) for t in self._eligible(ranked)],
                                   family_bests=self.problem.strategy.kind == "holdout")

    def _eligible(self, ranked: list[TrialResult]) -> list[TrialResult]:
        """The ranked trials the ensemble and the single model are chosen from: all of them,
        or in a guarded search (:func:`guards_candidates`) the baseline, the starts and the
        checks of the features, and each proposed configuration that beats the best of those
        (the baseline aside) by the margin (:func:`mlpilot.search.ensemble.clears_margin`)."""
        if not self.guard:
            return ranked
        reference = next((t for t in ranked
                          if t.number not in self.proposed and t.family != "baseline"), None)
        if reference is None:
            return ranked
        y, scorer = self.problem.scored_y, self.scorer
        eligible = []
        for t in ranked:
            if t.number in self.proposed:
                key = (t.number, reference.number)
                if key not in self.cleared:
                    self.cleared[key] = clears_margin(
                        self.fits[t.number].prediction, self.fits[reference.number].prediction,
                        y, scorer, greater_is_better=scorer.greater_is_better,
                        seed=self.problem.seed)
                if not self.cleared[key]:
                    continue
            eligible.append(t)
        return eligible

    def _ranked(self) -> list[TrialResult]:
        """The complete, scored trials (the baseline included), best first."""
        sign = 1.0 if self.scorer.greater_is_better else -1.0
        complete = [t for t in self.trials if t.number in self.fits and t.score is not None]
        return sorted(complete, key=lambda t: (-sign * float(t.score), t.number))

    def finish(self, classes: Sequence[Any] | None, build_ensemble: bool,
               replay: Sequence[Any] | None) -> SearchResult:
        problem, scorer = self.problem, self.scorer
        complete = [t for t in self.trials if t.number in self.fits and t.score is not None]
        if 0 not in self.fits or not complete:
            raise ConfigError("the search produced no model, not even the baseline",
                              found=self.trials[0].error if self.trials else "no trials",
                              fix="check the training data and target")
        sign = 1.0 if scorer.greater_is_better else -1.0
        ranked = self._ranked()
        # a replay knows which trials were proposed (TrialResult.proposed), so it chooses
        # among the same ones as the recorded run (all of them for a run recorded before)
        best = self._eligible(ranked)[0]
        weights = {best.number: 1.0}
        chosen_number, chosen_score = best.number, float(best.score)
        if build_ensemble and len(ranked) > 1 and _ensemble_recorded(replay, True):
            recorded = _recorded_members(replay)
            numbers = ([t.number for t in ranked if t.number in recorded]
                       if recorded is not None else
                       self._candidates(ranked))
            candidates = {n: self.fits[n].prediction for n in numbers}
            picked = select_ensemble(candidates, problem.scored_y, scorer,
                                     greater_is_better=scorer.greater_is_better)
            blend = sum(self.fits[n].prediction * w for n, w in picked.items())
            blend_score = float(scorer(problem.scored_y, blend))
            if len(picked) > 1:
                number = len(self.trials)
                fits = [self.fits[n] for n in picked]
                result = TrialResult(
                    number, ENSEMBLE, {"weights": {str(n): w for n, w in picked.items()}}, 0,
                    "complete", blend_score, 0.0,
                    sum(f.predict_seconds_per_row for f in fits),
                    sum(f.model_size_bytes for f in fits))
                self.trials.append(result)
                if self.on_trial is not None:
                    self.on_trial(result)
                if sign * blend_score > sign * chosen_score:
                    weights, chosen_number, chosen_score = picked, number, blend_score
        by_number = {t.number: t for t in self.trials}
        refit = tuple(self._refit_member(by_number[n], w) for n, w in weights.items())
        members = [m for chosen_member in refit for m in chosen_member.validated]
        threshold = None
        if problem.task is Task.BINARY:
            scored = sum(self.fits[n].prediction * w for n, w in weights.items())
            threshold = choose_threshold(problem.scored_y, scored[:, 1], scorer.name)
        labels = list(classes) if classes is not None else None
        chosen = Predictor(problem.schema, problem.task, labels, members, threshold=threshold)
        baseline = Predictor(problem.schema, problem.task, labels, list(self.fits[0].members))
        return SearchResult(trials=tuple(self.trials), best_number=chosen_number, best=chosen,
                            baseline=baseline, strategy=problem.strategy, members=refit,
                            rows_per_fit=problem.n_train_rows)


def _first_pass(fit: TrialFit) -> np.ndarray:
    """A trial's out-of-fold predictions from its first repeat of the folds (all of them
    without repeated k-fold)."""
    return fit.first_pass if fit.first_pass is not None else fit.prediction


def _ensemble_recorded(replay: Sequence[Any] | None, default: bool) -> bool:
    """A replay builds the ensemble only when the recorded run did."""
    if replay is None:
        return default
    return any(s.family == ENSEMBLE for s in replay)


def _recorded_members(replay: Sequence[Any] | None) -> set[int] | None:
    """A replay's candidates: the trials the recorded ensemble blended (greedy selection over
    exactly those, from the same predictions, picks the same weights, whatever rule chose the
    recorded run's candidates); None outside a replay."""
    if replay is None:
        return None
    return {int(n) for s in replay if s.family == ENSEMBLE for n in s.params["weights"]}


def _check_families(families: Sequence[str] | None, max_trials: int | None) -> list[str]:
    """The searched families (unique, in order, without the baseline, which always runs)."""
    chosen = list(DEFAULT_FAMILIES if families is None else families)
    for name in chosen:
        get_adapter(name)  # ConfigError naming the valid families
    if max_trials is not None and max_trials < 1:
        raise ConfigError("max_trials must be at least 1", found=str(max_trials),
                          fix="pass max_trials=1 or more, or leave it out")
    return [f for f in dict.fromkeys(chosen) if f != "baseline"]


def _deadline(budget: Budget, reserve: float, share: float = 0.5) -> float:
    end = budget.deadline() - reserve
    usable = max(0.0, end - time.monotonic())
    return min(end, time.monotonic() + max(usable * share, MIN_TRIAL_SECONDS))


def _tell(study: optuna.Study, trial: optuna.Trial, result: TrialResult) -> None:
    if result.state == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    elif result.score is None or result.state not in ("complete", "skipped"):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, result.score)


def ensemble_weights(result: SearchResult) -> dict[int, float]:
    """The chosen ensemble's weights by trial number ({n: 1.0} for a single trial)."""
    trial = result.best_trial
    if trial.family != ENSEMBLE:
        return {trial.number: 1.0}
    return {int(n): float(w) for n, w in trial.params["weights"].items()}

