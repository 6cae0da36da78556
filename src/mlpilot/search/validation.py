"""How a trial is validated: a holdout (train / validation rows) or k-fold cross-validation.

With cross-validation the training and validation rows are pooled and split into k seeded
folds; a trial fits one model per fold (each stopping early on its own held-out fold), is
scored on the out-of-fold predictions of every pooled row, and keeps the k fold models as a
bagged ensemble (weights 1/k). Small tables get cross-validation, which gives steadier scores
and uses every row for fitting; large ones a holdout. Features are fitted on each fold's
training rows only, and cached per preprocessing mode and fold.

When the search optimises log loss on a small table (up to :data:`CV_REPEAT_ROWS` pooled
rows), the k folds are drawn :data:`CV_REPEATS` times with different shuffles (repeated
k-fold): each row is then predicted out of fold once per draw, its prediction is the mean of
those, and the bag keeps every fold model (weights 1 / (k × repeats)). Log loss scores the
probabilities themselves, and the mean of ten fold models' probabilities is the steadier; the
trials are half as many. At 60 s penguins scored 0.0426 / 0.0421 / 0.0435 at seeds 0 / 1 / 2
(0.0454 / 0.0421 / 0.0446 with one draw) and seattle_weather 0.5657 / 0.5662 / 0.5679 (0.5675 /
0.5703 / 0.5683); at 300 s penguins 0.0426 (0.0454), seattle_weather 0.5672 either way; and
hpc_jobs (2,761 pooled rows), measured after the rule was drawn from the first two, scored
better at every seed too (bench/README.md). On the small AUC and RMSE tables (breast_cancer,
diabetes, ames, wage) the trials it costs were worth more, so they keep one draw.

Example:
    >>> plan = choose_strategy(n_rows=2_000, budget_seconds=60, allow_cv=True)
    >>> plan.kind, plan.folds, plan.repeats
    ('cv', 5, 1)
    >>> choose_strategy(n_rows=2_000, budget_seconds=60, allow_cv=True, log_loss=True).repeats
    2
    >>> choose_strategy(n_rows=200_000, budget_seconds=60, allow_cv=True).kind
    'holdout'
    >>> [choose_strategy(n_rows=34_000, budget_seconds=b, allow_cv=True).kind for b in (60, 300)]
    ['holdout', 'cv']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from mlpilot.core.config import Task
from mlpilot.data.schema import Schema
from mlpilot.models import target as target_transform
from mlpilot.models.features import FeaturePipeline
from mlpilot.models.predictor import Member
from mlpilot.models.registry import get_adapter
from mlpilot.search.clocks import DROP_KEY, find_clocks, find_short_cycles
from mlpilot.search.parallel import FoldDone, FoldJob, FoldPool, fit_fold

#: pooled rows per second of the approved budget up to which k-fold pays: 12,000 rows at 60 s,
#: 60,000 at 300 s (diamonds, 34,387 pooled rows, at 300 s: RMSE 528.33 with a holdout, 525.46
#: with 5 folds; bench/README.md)
CV_ROWS_PER_SECOND = 200.0
#: never more (the k folds' cached feature matrices hold about k - 1 copies of the table)
CV_CAP_ROWS = 100_000
CV_MAX_ROWS = 12_000  # pooled rows up to which k-fold pays at a budget of a minute or less
CV_SMALL_ROWS = 3_000  # pooled rows up to which k-fold is used even at a short budget
CV_MIN_SECONDS = 30.0
CV_FOLDS = 5
#: pooled rows up to which a log-loss search draws the k folds :data:`CV_REPEATS` times (see
#: the module): the tables small enough for k-fold at any budget
CV_REPEAT_ROWS = CV_SMALL_ROWS
CV_REPEATS = 2


@dataclass(frozen=True)
class Strategy:
    """``kind`` is "holdout" or "cv"; ``folds`` the number of folds (1 for a holdout);
    ``repeats`` how many times the k folds are drawn (repeated k-fold; 1 otherwise)."""

    kind: str
    folds: int
    repeats: int = 1

    @property
    def fits(self) -> int:
        """Models one trial fits: one per fold and repeat."""
        return self.folds * self.repeats

    def describe(self) -> str:
        """``"5-fold"``, or ``"5-fold repeated 2 times"``."""
        return f"{self.folds}-fold" + (f" repeated {self.repeats} times"
                                       if self.repeats > 1 else "")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "folds": self.folds, "repeats": self.repeats}


def choose_strategy(n_rows: int, budget_seconds: float, allow_cv: bool,
                    requested: str | None = None, *, log_loss: bool = False) -> Strategy:
    """k-fold for small tables (and when requested), a holdout otherwise or when time-ordered.

    A table is small enough for k-fold below 3,000 pooled rows at any budget, and from a 30 s
    budget up to ``max(12,000, 200 × budget seconds)`` rows, at most 100,000: a longer budget
    pays for the k fits per trial on larger tables. When the search optimises ``log_loss``,
    up to :data:`CV_REPEAT_ROWS` rows the folds are drawn :data:`CV_REPEATS` times.
    """
    if requested == "holdout" or not allow_cv:
        return Strategy("holdout", 1)
    cv_rows = min(CV_CAP_ROWS, max(CV_MAX_ROWS, CV_ROWS_PER_SECOND * budget_seconds))
    small = n_rows <= CV_SMALL_ROWS or (n_rows <= cv_rows and budget_seconds >= CV_MIN_SECONDS)
    if requested == "cv" or small:
        repeated = log_loss and n_rows <= CV_REPEAT_ROWS
        return Strategy("cv", CV_FOLDS, CV_REPEATS if repeated else 1)
    return Strategy("holdout", 1)


class TrialPruned(Exception):
    """A trial stopped between folds because its partial score was hopeless."""


@dataclass(frozen=True)
class TrialFit:
    """A fitted trial: its members, its predictions on the scored rows, and its costs."""

    members: tuple[Member, ...]
    prediction: np.ndarray
    fit_seconds: float
    predict_seconds_per_row: float
    model_size_bytes: int
    #: per fold, the rounds run when the deadline cut the fit (None: not cut)
    cuts: tuple[int | None, ...] = ()
    #: with repeated k-fold, the out-of-fold predictions of the first repeat alone (what a
    #: later trial's first folds are compared with when pruning); None otherwise
    first_pass: np.ndarray | None = None


@dataclass
class Problem:
    """The fixed inputs of one search, the folds, and the per-(mode, fold) feature cache."""

    train_X: pd.DataFrame
    train_y: np.ndarray
    valid_X: pd.DataFrame
    valid_y: np.ndarray
    schema: Schema
    task: Task
    n_classes: int | None
    n_threads: int
    strategy: Strategy = field(default_factory=lambda: Strategy("holdout", 1))
    seed: int = 0
    _cache: dict[tuple[str, int, tuple[str, ...]],
                 tuple[FeaturePipeline | None, np.ndarray, np.ndarray]] = field(
        default_factory=dict)
    #: fits the folds of a cross-validated trial side by side (see search/parallel.py)
    pool: FoldPool | None = None

    def __post_init__(self) -> None:
        self.train_y = np.asarray(self.train_y)
        self.valid_y = np.asarray(self.valid_y)
        if self.strategy.kind == "cv":
            self.X = pd.concat([self.train_X, self.valid_X], ignore_index=True)
            self.y = np.concatenate([self.train_y, self.valid_y])
            stratified = self.task.is_classification and self._stratifiable()
            # each draw is a shuffled k-fold; the first is that of a plain seeded k-fold
            splitter = (RepeatedStratifiedKFold if stratified else RepeatedKFold)(
                n_splits=self.strategy.folds, n_repeats=self.strategy.repeats,
                random_state=self.seed)
            self.folds = [(np.sort(a), np.sort(b)) for a, b in splitter.split(self.X, self.y)]
        else:
            self.X = pd.concat([self.train_X, self.valid_X], ignore_index=True)
            self.y = np.concatenate([self.train_y, self.valid_y])
            n = len(self.train_y)
            self.folds = [(np.arange(n), np.arange(n, len(self.y)))]

    def _stratifiable(self) -> bool:
        counts = np.bincount(np.concatenate([self.train_y, self.valid_y]).astype(int))
        return bool(counts[counts > 0].min() >= self.strategy.folds)

    @property
    def scored_y(self) -> np.ndarray:
        """Targets of the rows a trial is scored on (validation rows, or every pooled row)."""
        return self.valid_y if self.strategy.kind == "holdout" else self.y

    @property
    def n_train_rows(self) -> int:
        return len(self.folds[0][0])

    def _later_holdout_time(self) -> str | None:
        """The time column when the rows are time-ordered and validated on a later holdout
        (where the clocks and short cycles are checked); None otherwise."""
        time_column = self.schema.time_column
        if self.strategy.kind != "holdout" or time_column is None \
                or time_column not in self.train_X.columns:
            return None
        return time_column

    def clocks(self, labels: bool = True) -> list[str]:
        """The features that count time (:mod:`mlpilot.search.clocks`; categorical ones only
        with ``labels``) when the rows are time-ordered and validated on a later holdout;
        none otherwise."""
        time_column = self._later_holdout_time()
        if time_column is None:
            return []
        pipeline, train, valid = self.matrices("tree", 0)
        assert pipeline is not None
        return find_clocks(train, valid, pipeline.feature_names_, pipeline.categorical_indices_,
                           time_column, labels=labels)

    def short_cycles(self, clocks: Sequence[str] = ()) -> list[str]:
        """The time column's calendar parts that the training rows repeat only a few times
        (:func:`mlpilot.search.clocks.find_short_cycles`; the span counts one time step past
        the last row, so a year of hourly rows is a year), when the rows are time-ordered by
        a datetime column and validated on a later holdout; none otherwise, nor ``clocks``."""
        time_column = self._later_holdout_time()
        if time_column is None:
            return []
        times = self.train_X[time_column]
        if not pd.api.types.is_datetime64_any_dtype(times.dtype):
            return []
        moments = pd.Series(times.dropna().unique()).sort_values(ignore_index=True)
        if len(moments) < 2:
            return []
        step = moments.diff().median()
        span = (moments.iloc[-1] - moments.iloc[0] + step) / pd.Timedelta(seconds=1)
        pipeline, _, _ = self.matrices("tree", 0)
        assert pipeline is not None
        return [name for name in find_short_cycles(float(span), pipeline.feature_names_,
                                                   time_column) if name not in clocks]

    def matrices(self, mode: str, fold: int, drop: Sequence[str] = ()
                 ) -> tuple[FeaturePipeline | None, np.ndarray, np.ndarray]:
        """The fitted pipeline of ``mode`` (without the features ``drop`` names) and the
        training and validation matrices of ``fold``; cached."""
        key = (mode, fold, tuple(sorted(drop)))
        if key not in self._cache:
            train_idx, valid_idx = self.folds[fold]
            if mode == "none":
                self._cache[key] = (None, np.zeros((len(train_idx), 0)),
                                    np.zeros((len(valid_idx), 0)))
            else:
                train = self.X.iloc[train_idx]
                pipeline = FeaturePipeline(mode, drop).fit(train, self.schema)
                self._cache[key] = (pipeline, pipeline.transform(train),
                                    pipeline.transform(self.X.iloc[valid_idx]))
        return self._cache[key]

    def fit(self, family: str, params: dict[str, Any], seed: int,
            deadline: float | None, *, finish_late_folds: bool = False,
            cuts: Sequence[int | None] | None = None,
            prune: Callable[[np.ndarray, np.ndarray], str | None] | None = None,
            share_time: bool = True) -> TrialFit:
        """Fit ``family`` on every fold; out-of-fold (or validation) predictions and members.

        Folds are fitted one at a time with every thread, or (with a :attr:`pool`) as many
        side by side as the pool has workers, each single-threaded. With k folds, a deadline
        and ``share_time``, each fold (or batch of folds) gets an equal share of the time left
        when it starts, so every fold is fitted and scored even when the family is slow: its
        rounds are cut (and recorded) rather than the trial failing. A holdout fit stops at the
        deadline itself. ``finish_late_folds`` is kept for callers (the first model of a
        search); folds now always start. ``cuts`` (a replay) fits each fold for the recorded
        number of rounds, without a deadline, which rebuilds the same models. ``prune`` is
        asked after each batch of folds that holds a fold of the first draw (never after the
        trial's last batch), with the first draw's rows scored so far and their predictions
        (with repeated k-fold the last ask sees every row of the first draw); a reason
        returned stops the trial (:class:`TrialPruned`).
        """
        adapter = get_adapter(family)
        drop = params.get(DROP_KEY, ())
        params = {k: v for k, v in params.items() if k != DROP_KEY}
        jobs: list[FoldJob] = []
        pipelines: list[FeaturePipeline | None] = []
        for fold, (train_idx, valid_idx) in enumerate(self.folds):
            fold_params = params
            if cuts is not None and fold < len(cuts) and cuts[fold] is not None:
                fold_params = {**params, str(adapter.rounds_param): int(cuts[fold])}
            pipeline, Xt, Xv = self.matrices(adapter.preprocessing, fold, drop)
            pipelines.append(pipeline)
            jobs.append(FoldJob(
                family, Xt, self.y[train_idx], Xv, self.y[valid_idx],
                tuple(pipeline.categorical_indices_) if pipeline is not None else (),
                self.task, self.n_classes, fold_params, seed, deadline,
                start_late=finish_late_folds or fold == 0))
        # the baseline's folds take microseconds: shipping them to the pool would cost more
        parallel = self.pool is not None and len(self.folds) > 1 and family != "baseline"
        batch = self.pool.workers if parallel and self.pool is not None else 1
        done: list[FoldDone] = []
        for first in range(0, len(jobs), batch):
            group = jobs[first:first + batch]
            if share_time and deadline is not None and len(jobs) > 1:
                # each batch of folds gets its share of the time left, so a slow family ends
                # with every fold fitted (for fewer rounds, recorded as cuts) instead of failing
                now = time.monotonic()
                share = max(0.0, deadline - now) * len(group) / (len(jobs) - first)
                group = [replace(job, deadline=min(deadline, now + share), start_late=True)
                         for job in group]
            if parallel and self.pool is not None:
                done.extend(self.pool.map(group))
            else:
                done.extend(fit_fold(job, self.n_threads) for job in group)
            late = sum(d.late for d in done)
            if late:
                raise TimeoutError(f"stopped at its deadline: {late} of {len(self.folds)} "
                                   f"folds had not started")
            scored = min(len(done), self.strategy.folds)  # folds of the first repeat done
            if prune is not None and len(done) < len(jobs) and first < self.strategy.folds:
                rows = np.concatenate([self.folds[i][1] for i in range(scored)])
                reason = prune(rows, np.concatenate([d.prediction for d in done[:scored]]))
                if reason is not None:
                    raise TrialPruned(f"pruned after {len(done)} of {len(jobs)} folds: "
                                      f"{reason}")
        weight = 1.0 / len(self.folds)
        target = target_transform.split_params(params)[0]
        members = [Member(family, pipeline, d.model, weight, target, d.target_range)
                   for pipeline, d in zip(pipelines, done, strict=True)]
        return self._assemble(members, [d.prediction for d in done],
                              sum(d.fit_seconds for d in done),
                              sum(d.predict_seconds for d in done), sum(d.size for d in done),
                              [d.cut for d in done])

    def _assemble(self, members: list[Member], parts: list[np.ndarray], fit_seconds: float,
                  predict_seconds: float, size: int, taken: list[int | None]) -> TrialFit:
        first_pass: np.ndarray | None = None
        if self.strategy.kind == "holdout":
            prediction = parts[0]
        else:
            # each row is out of fold once per repeat: its prediction is the mean of those
            prediction = np.zeros((len(self.y), *parts[0].shape[1:]))
            for (_, valid_idx), part in zip(self.folds, parts, strict=True):
                prediction[valid_idx] += part
            if self.strategy.repeats > 1:
                prediction /= self.strategy.repeats
                first_pass = np.zeros_like(prediction)
                for (_, valid_idx), part in zip(self.folds[:self.strategy.folds],
                                                parts[:self.strategy.folds], strict=True):
                    first_pass[valid_idx] = part
        # one model's seconds per row predicted (each row once per draw), times the models
        per_row = predict_seconds / max(1, sum(len(valid_idx) for _, valid_idx in self.folds))
        return TrialFit(tuple(members), prediction, fit_seconds, per_row * len(self.folds), size,
                        tuple(taken), first_pass)
