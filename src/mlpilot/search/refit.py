"""The final fit: the chosen configuration fitted again on every labelled row.

The search fits its trials on part of the rows: a holdout search on the training rows (the
validation rows score it), cross-validation on folds of the training and validation rows, and
neither ever sees the test rows, which measure the chosen model once the search is over. After
that measurement nothing is left to learn from those rows but the rows themselves, so the
model that is registered and served is the same configuration fitted on *every* labelled row
(AutoGluon's ``refit_full``, FLAML's ``retrain_full``): more data, and for time-ordered data
the most recent rows, which are the closest to the live traffic.

How each chosen member (a trial, or each trial of the ensemble, with its weight) is refit:

- after a holdout search: one model on every row, with its rounds fixed to what early
  stopping chose, for regression scaled by the ratio of the rows it now fits to the rows it
  was searched on (no validation set, so the fit is deterministic; see :func:`rounds_scale`);
- after cross-validation, for classification: the same trial cross-validated again over every
  row (same folds seed, early stopping on each fold), so the served model stays the bagged
  ensemble the out-of-fold scores describe, each fold model fitted on more rows (averaging
  the fold models' probabilities is what keeps them calibrated: one model on every row was
  far worse on penguins' log loss in ``bench/refit_choice.py``);
- after cross-validation, for regression: one model on every row with the folds' mean
  early-stopped rounds, scaled the same way, like a holdout member. A point prediction gains
  more from the fifth of the rows each fold model never saw than from averaging
  (bench/refit_choice.py: ames 24,629 against 25,722 bagged again, wage 35.61 against 35.68),
  and it costs one fit instead of k, so a slow member (a CatBoost trial on ames) still fits in
  a short budget. On fewer than :data:`BAG_BELOW_ROWS` rows the averaging is worth more
  (diabetes, 331 rows: 56.31 bagged again against 56.74), and such a member is bagged again
  like a classification one.

See :func:`refit_form`.

Members are refit in order of weight while the time left covers each one's estimate (its fit
seconds scaled by the row count, with a margin); a member that does not fit in the time left,
or that the deadline cuts, keeps its validated models, so the registered model is never worse
off than the validated one. The test metrics describe the validated model (which never saw the
test rows); both models are stored and the lineage says which is which. A replay refits
exactly the recorded members, without deadlines, so a reproduction is bit-identical.

Example:
    >>> refit_estimate([2.0, 1.0], n_rows=1_200, n_train_rows=1_000)
    3.6
    >>> cv = Strategy("cv", 5)
    >>> refit_form(Task.REGRESSION, cv, 5_000), refit_form(Task.BINARY, cv, 5_000)
    ('one', 'bag')
    >>> holdout = Strategy("holdout", 1)
    >>> refit_form(Task.REGRESSION, cv, 400), refit_form(Task.REGRESSION, holdout, 400)
    ('bag', 'one')
    >>> scaled_rounds(300, rounds_scale(Task.REGRESSION, 10_000, searched_rows=7_000))
    429
    >>> rounds_scale(Task.BINARY, 10_000, searched_rows=7_000)
    1.0
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError
from mlpilot.data.schema import Schema
from mlpilot.models import target as target_transform
from mlpilot.models.predictor import Member, Predictor
from mlpilot.models.registry import get_adapter
from mlpilot.search.clocks import DROP_KEY
from mlpilot.search.validation import Problem, Strategy

#: estimated refit seconds are the members' fit seconds x rows ratio x this. Measured over 23
#: final fits of bench/automl.py runs (one model per member, each with its probe): the
#: final fit took 0.31-1.02 times its estimate at 1.25 (median 0.58; a search's fits include
#: the rounds early stopping waited through and the per-round validation scores, which the
#: refit does not); at 1.0 the median is 0.71 and 9 in 10 took at most 1.05 times it.
MARGIN = 1.0


@dataclass(frozen=True)
class RefitMember:
    """One chosen trial as the final fit needs it: its configuration, its weight in the chosen
    model, its validated members (kept when it is not refit), the rounds its fitted models
    kept (their mean; None when the family has none) and the seconds its fits took."""

    trial: int
    family: str
    params: dict[str, Any]
    seed: int
    weight: float
    validated: tuple[Member, ...] = field(compare=False)
    rounds: int | None
    fit_seconds: float


@dataclass(frozen=True)
class RefitOutcome:
    """What the final fit did: ``done`` (at least one member refit), why (``reason``), per
    member the trial, family, rounds and whether it was refit, the rows it used and the
    seconds it took. ``predictor`` is the model to register (None when nothing was refit);
    ``form`` how the members were refit (see :func:`refit_form`; None when not tried);
    ``probe`` the fit without the test rows that decided whether the refit pays, when one
    did (:mod:`mlpilot.pipeline.final_fit`)."""

    done: bool
    reason: str
    members: tuple[dict[str, Any], ...] = ()
    rows: int = 0
    seconds: float = 0.0
    predictor: Predictor | None = field(default=None, compare=False)
    form: str | None = None
    probe: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "reason": self.reason, "members": list(self.members),
                "rows": self.rows, "seconds": round(self.seconds, 3),
                **({"form": self.form} if self.form is not None else {}),
                **({"probe": self.probe} if self.probe is not None else {})}

    @property
    def refit_trials(self) -> list[int]:
        """The trials that were refit (what a replay passes back as ``only``)."""
        return [int(m["trial"]) for m in self.members if m.get("refit")]


def refit_estimate(fit_seconds: Sequence[float], *, n_rows: int, n_train_rows: int) -> float:
    """Seconds a refit of members that took ``fit_seconds`` is expected to take on ``n_rows``
    instead of ``n_train_rows`` (fit cost taken as linear in rows, with a margin)."""
    return float(sum(fit_seconds)) * n_rows / max(1, n_train_rows) * MARGIN


def rounds_scale(task: Task, n_rows: int, *, searched_rows: int) -> float:
    """How many times its early-stopped rounds a boosted member fits in a ``"one"`` refit on
    ``n_rows`` rows, searched on ``searched_rows`` rows each: their ratio for regression, 1
    (the rounds early stopping chose) for classification. A forest's rounds are its trees
    (fewer than asked when a deadline cut its fit): it gets as many more, which costs time
    and never hurts a forest's accuracy.

    Early stopping picks the rounds that suit the rows a model was fitted on; on more rows the
    best round count is higher (each round's step is learnt from more evidence, so overfitting
    sets in later). Trial-count runs on the benchmark split (``mlpilot run --max-trials 16``,
    the same search, only the final fit differing; scale = ratio ** e) measured served test
    RMSE for e = 0 / 0.5 / 1: diamonds 525.59 / 525.14 / 525.02, wage 35.628 / 35.570 /
    35.549, ames 24,629 / 24,581 / 24,528. The ratio itself measured best on all three.
    Classification refit one model per member after a holdout only, and there the ratio
    (1.43) lost in 60 s runs whose search and evaluated model were unchanged: employment_ma
    0.9070 -> 0.9058 AUC on the benchmark's test rows, flights 0.6179 -> 0.6162; more rounds
    than early stopping chose also make probabilities more confident.
    """
    if task.is_classification:
        return 1.0
    return n_rows / max(1, searched_rows)


def scaled_rounds(rounds: int, scale: float) -> int:
    """``rounds`` times ``scale``, rounded, at least 1."""
    return max(1, round(rounds * scale))


#: below this many labelled rows a cross-validated regression is bagged again, not refit as
#: one model per member (see :func:`refit_form`)
BAG_BELOW_ROWS = 1_000


def refit_form(task: Task, strategy: Strategy, n_rows: int) -> str:
    """How a member of a search with ``strategy`` is refit on every one of ``n_rows``
    labelled rows: ``"bag"`` (k-fold cross-validated again: classification after a
    cross-validated search, and a cross-validated regression on fewer than
    :data:`BAG_BELOW_ROWS` rows) or ``"one"`` (one model with the early-stopped rounds, for
    regression scaled by :func:`rounds_scale`: after a holdout, and for a larger regression).

    On a few hundred rows the average of k fold models is worth more than the rows each of
    them never saw: diabetes (331 labelled rows) scored 56.26 / 59.32 / 56.22 RMSE on the
    benchmark's test rows as the evaluated bag and 56.62 / 60.95 / 57.19 refit as one model
    (60 s, seeds 0 / 1 / 2), 56.15 / 58.50 / 56.33 bagged again (bench/README.md), and 56.31
    bagged again against 56.74 in ``bench/refit_choice.py``; on about 2,200 rows one model won
    (ames 24,629 against 25,722, wage 35.61 against 35.68)."""
    if strategy.kind == "cv" and (task.is_classification or n_rows < BAG_BELOW_ROWS):
        return "bag"
    return "one"


def member_refit_estimate(fit_seconds: float, *, strategy: Strategy, n_rows: int,
                          searched_rows: int, form: str, more_rounds: float = 1.0) -> float:
    """Seconds the final fit (of ``form``) of one member on ``n_rows`` rows is expected to
    take, from the ``fit_seconds`` of its search fits (every fold's, and repeat's, of a
    cross-validated trial) on ``searched_rows`` rows each; a member refit in the ``"one"``
    form with ``more_rounds`` times its rounds (:func:`rounds_scale`) takes that much longer
    again."""
    if form == "bag":
        return refit_estimate([fit_seconds], n_rows=rows_per_fit(n_rows, strategy),
                              n_train_rows=searched_rows)
    return refit_estimate([fit_seconds / strategy.fits], n_rows=n_rows,
                          n_train_rows=searched_rows) * max(1.0, more_rounds)


def refit_cost(member: RefitMember, *, fits: Sequence[int], task: Task, strategy: Strategy,
               searched_rows: int, form: str) -> float:
    """Estimated seconds to fit ``member`` once on each row count of ``fits`` (a probe, then
    the final fit), with the rounds a ``"one"`` refit adds (:func:`rounds_scale`)."""
    return sum(member_refit_estimate(
        member.fit_seconds, strategy=strategy, n_rows=n, searched_rows=searched_rows,
        form=form, more_rounds=rounds_scale(task, n, searched_rows=searched_rows)
        if form == "one" and member.rounds is not None else 1.0) for n in fits)


def affordable(members: Sequence[RefitMember], seconds: float, *, fits: Sequence[int],
               task: Task, strategy: Strategy, searched_rows: int, form: str,
               memory_mb: int | None = None, n_features: int = 0
               ) -> tuple[list[int], dict[int, str]]:
    """The members to refit when each is fitted once on each row count of ``fits`` (a probe,
    then the final fit) in ``seconds``: in order of weight, each whose estimates fit in what
    the members before it leave (and, with ``memory_mb``, whose estimated peak fits in it).
    A slow member that does not fit is passed over rather than cutting the ones after it
    short, and every member chosen has the time for its probe *and* its final fit, so the
    final fit can refit what the probe did. Returns the trials and, for the others, why.

    Example:
        >>> fast = RefitMember(1, "lightgbm", {}, 0, 0.3, (), 100, 1.0)
        >>> slow = RefitMember(2, "catboost", {}, 0, 0.7, (), 100, 20.0)
        >>> affordable([fast, slow], 10.0, fits=[1_000, 1_000], task=Task.BINARY,
        ...            strategy=Strategy("holdout", 1), searched_rows=1_000, form="one")[0]
        [1]
    """
    left = seconds
    chosen: list[int] = []
    why: dict[int, str] = {}
    for member in sorted(members, key=lambda m: (-m.weight, m.trial)):
        if member.family == "baseline":
            why[member.trial] = "the baseline is kept as validated"
            continue
        per_fit = rows_per_fit(max(fits), strategy if form == "bag" else Strategy("holdout", 1))
        over = _over_memory(member, per_fit, n_features, memory_mb)
        if over is not None:
            why[member.trial] = over
            continue
        cost = refit_cost(member, fits=fits, task=task, strategy=strategy,
                          searched_rows=searched_rows, form=form)
        if cost > left:
            why[member.trial] = (f"kept as validated: an estimated {cost:.1f} s with its probe, "
                                 f"{max(0.0, left):.1f} s left")
            continue
        chosen.append(member.trial)
        left -= cost
    return chosen, why


def _over_memory(member: RefitMember, rows: int, n_features: int,
                 memory_mb: int | None) -> str | None:
    """Why ``member`` is kept as validated when its estimated peak fitting ``rows`` rows
    exceeds the approved ``memory_mb``; None when it fits (or no memory was approved)."""
    if memory_mb is None:
        return None
    need = get_adapter(member.family).estimate_memory_mb(rows, n_features, member.params)
    if need <= memory_mb:
        return None
    return (f"kept as validated: an estimated {need:,.0f} MB on every row, over the approved "
            f"{memory_mb:,} MB")


def rows_per_fit(n_rows: int, strategy: Strategy) -> int:
    """Rows each model of a fit on ``n_rows`` rows trains on: all of them for a holdout
    refit, all but one fold's share with k-fold cross-validation."""
    if strategy.kind == "cv":
        return n_rows - n_rows // strategy.folds
    return n_rows


def refit_all(X: pd.DataFrame, y: np.ndarray, members: Sequence[RefitMember], *,
              schema: Schema, task: Task, classes: Sequence[Any] | None, strategy: Strategy,
              seed: int, n_threads: int, threshold: float | None, searched_rows: int,
              deadline: float | None, only: Collection[int] | None = None,
              memory_mb: int | None = None, form: str | None = None,
              passed_over: dict[int, str] | None = None) -> RefitOutcome:
    """Fit each member of the chosen model again on every row of ``X`` (see the module).

    Args:
        members: the chosen trials (:meth:`SearchResult.refit_members`).
        strategy: the search's validation; a cross-validated search is refit by
            cross-validating each member again over all rows.
        searched_rows: rows each of the search's models trained on (for the estimates).
        deadline: the monotonic time the refit must end by; None (a replay) never stops it.
        only: refit exactly these trials, whatever the time left (a replay passes the
            recorded ones, a trial-count run all of them), still stopping at ``deadline``;
            None decides member by member from the time left.
        memory_mb: the approved memory; a member whose estimated peak on every row exceeds
            it keeps its validated models.
        form: ``"bag"`` or ``"one"`` (see :func:`refit_form`, which decides when None);
            ``bench/refit_choice.py`` passes both to compare them.
        passed_over: with ``only``, why each member left out of it is not refit (recorded
            as its note; by default, that the recorded run did not refit it).

    A member whose refit fails keeps its validated models too (the error is recorded): the
    final fit never costs the run its model.
    """
    started = time.monotonic()
    n_classes = len(classes) if task.is_classification and classes else None
    empty = X.iloc[:0]
    form = form or refit_form(task, strategy, len(X))
    if form not in ("bag", "one") or (form == "bag" and strategy.kind != "cv"):
        raise ConfigError("unknown final-fit form", expected='"one", or "bag" after a '
                          "cross-validated search", found=f"{form!r} after a {strategy.kind}",
                          fix="pass form=None to let the task and validation decide")
    refit_strategy = strategy if form == "bag" else Strategy("holdout", 1)
    problem = Problem(X, np.asarray(y), empty, np.asarray(y)[:0], schema, task, n_classes,
                      n_threads, refit_strategy, seed)
    per_fit = rows_per_fit(len(X), refit_strategy)
    scale = rounds_scale(task, per_fit, searched_rows=searched_rows) if form == "one" else 1.0
    fitted: dict[int, tuple[Member, ...]] = {}
    notes: dict[int, str] = {}
    for member in sorted(members, key=lambda m: (-m.weight, m.trial)):
        if member.family == "baseline":
            notes[member.trial] = "the baseline is kept as validated"
            continue
        if deadline is not None and time.monotonic() >= deadline:
            notes[member.trial] = "kept as validated: no time left"
            continue
        over = _over_memory(member, per_fit, X.shape[1], memory_mb) if only is None else None
        if over is not None:
            notes[member.trial] = over
            continue
        if only is not None:
            if member.trial not in only:
                notes[member.trial] = (passed_over or {}).get(member.trial,
                                                              "not refit in the recorded run")
                continue
            stop = deadline  # a replay passes None: never stopped
        else:
            estimate = member_refit_estimate(member.fit_seconds, strategy=strategy,
                                             n_rows=len(X), searched_rows=searched_rows,
                                             form=form,
                                             more_rounds=scale if member.rounds else 1.0)
            left = (deadline - time.monotonic()) if deadline is not None else float("inf")
            if estimate > left:
                notes[member.trial] = f"kept as validated: an estimated {estimate:.1f} s, " \
                                      f"{max(0.0, left):.1f} s left"
                continue
            stop = deadline
        try:
            models = _refit_member(problem, member, stop, scale)
        except Exception as exc:  # the validated models stay; the run keeps its model
            notes[member.trial] = f"kept as validated: the refit failed ({type(exc).__name__}: " \
                                  f"{exc})"
            continue
        if models is None:
            notes[member.trial] = "kept as validated: the deadline cut its refit"
            continue
        fitted[member.trial] = models
    record = [{"trial": m.trial, "family": m.family, "weight": m.weight,
               "rounds": (scaled_rounds(m.rounds, scale) if form == "one" and m.rounds is not None
                          else None),
               **({"searched_rounds": m.rounds} if form == "one" and m.rounds is not None
                  else {}),
               "refit": m.trial in fitted,
               **({"note": notes[m.trial]} if m.trial in notes else {})} for m in members]
    seconds = time.monotonic() - started
    if not fitted:
        why = "; ".join(f"trial {n}: {text}" for n, text in notes.items()) or "no members"
        return RefitOutcome(False, f"not done ({why})", tuple(record), len(X), seconds,
                            form=form)
    out = [member for m in members for member in fitted.get(m.trial, m.validated)]
    labels = list(classes) if classes is not None else None
    predictor = Predictor(schema, task, labels, out, threshold=threshold)
    how = (f"{strategy.describe()} bagging, as validated" if form == "bag"
           else "one model per member, with the rounds early stopping chose"
           + (" (the folds' mean)" if strategy.kind == "cv" else "")
           + (f" times {scale:.3g}, the rows ratio" if scale != 1.0 else ""))
    part = "" if len(fitted) == len(members) else f" ({len(fitted)} of {len(members)} members)"
    return RefitOutcome(True, f"refit on all {len(X):,} labelled rows with {how}{part}",
                        tuple(record), len(X), seconds, predictor, form)


def _refit_member(problem: Problem, member: RefitMember, deadline: float | None,
                  scale: float) -> tuple[Member, ...] | None:
    """The member's models fitted on the problem's rows, weighted, a one-model refit with
    ``scale`` times its rounds; None when cut."""
    adapter = get_adapter(member.family)
    settings = {k: v for k, v in member.params.items() if not k.startswith("_")}
    drop = member.params.get(DROP_KEY, ())
    if problem.strategy.kind == "cv":
        try:
            fit = problem.fit(member.family, {**settings, DROP_KEY: drop} if drop else settings,
                              member.seed, deadline, share_time=False)
        except TimeoutError:
            return None
        if any(c is not None for c in fit.cuts):
            return None
        return tuple(replace(m, weight=m.weight * member.weight) for m in fit.members)
    if adapter.rounds_param is not None and member.rounds is not None:
        settings[adapter.rounds_param] = scaled_rounds(member.rounds, scale)
    target, settings = target_transform.split_params(settings)
    pipeline, matrix, _ = problem.matrices(adapter.preprocessing, 0, drop)
    model = adapter.fit(
        matrix, target_transform.forward(target, problem.y), task=problem.task,
        n_classes=problem.n_classes, params=settings,
        seed=member.seed, n_threads=problem.n_threads,
        categorical_indices=pipeline.categorical_indices_ if pipeline is not None else (),
        deadline=deadline)
    if adapter.take_cut(model) is not None:
        return None
    return (Member(member.family, pipeline, model, member.weight, target,
                   target_transform.fitted_range(target, problem.y)),)


def mean_rounds(family: str, members: Sequence[Member]) -> int | None:
    """The mean rounds the fitted models of one trial kept (None: the family has none)."""
    adapter = get_adapter(family)
    rounds = [adapter.fitted_rounds(m.model) for m in members]
    if adapter.rounds_param is None or not rounds or any(r is None for r in rounds):
        return None
    return max(1, round(float(np.mean([float(r) for r in rounds if r is not None]))))
