"""Refit on every training row: the chosen configuration fitted again on train + validation.

A holdout search fits each trial on the training rows only and keeps the validation rows to
score it. Once the search has chosen (a trial, or an ensemble of trials), fitting the same
configuration on the training *and* validation rows gives the model more data, and for
time-ordered data the most recent rows, which is where the test rows and live traffic come
from. Each refit member keeps its trial's parameters, seed and weight, with its rounds fixed to
what early stopping chose (the fold models' mean), and fits without a validation set, so the
refit is deterministic; the untouched test rows still measure the model that is registered.

It pays, and is done, when the search used a holdout (cross-validation already fits bagged
fold models on every pooled row) and the time left covers the estimated refit cost: the
members' fit times scaled by the row count, with a margin. A refit that would be cut by the
deadline is abandoned and the validated model kept; either way the decision is recorded, and a
replay follows the recorded decision.

Example:
    >>> refit_estimate([2.0, 1.0], n_rows=1_200, n_train_rows=1_000)
    4.5
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlpilot.models.features import FeaturePipeline
from mlpilot.models.predictor import Member, Predictor
from mlpilot.models.registry import get_adapter
from mlpilot.search.validation import Problem, TrialFit

MARGIN = 1.25  # estimated refit seconds are the members' fit seconds x rows ratio x this


@dataclass(frozen=True)
class RefitOutcome:
    """What the refit step did: ``done``, why (``reason``), per member the trial, family and
    rounds, and the seconds it took. ``predictor`` is the refit Predictor (None when not done)."""

    done: bool
    reason: str
    members: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0
    predictor: Predictor | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "reason": self.reason, "members": list(self.members),
                "seconds": round(self.seconds, 3)}


def refit_estimate(fit_seconds: Sequence[float], *, n_rows: int, n_train_rows: int) -> float:
    """Seconds a refit of members that took ``fit_seconds`` is expected to take on ``n_rows``
    instead of ``n_train_rows`` (fit cost taken as linear in rows, with a margin)."""
    return float(sum(fit_seconds)) * n_rows / max(1, n_train_rows) * MARGIN


def refit_members(problem: Problem, weights: dict[int, float], fits: dict[int, TrialFit],
                  trials: dict[int, tuple[str, dict[str, Any], int]], *,
                  classes: Sequence[Any] | None, threshold: float | None,
                  deadline: float | None) -> RefitOutcome:
    """Fit each chosen trial ``n`` (``trials[n]`` = family, params, seed) on every pooled row
    of ``problem`` with the rounds its fitted models kept; abandon at ``deadline``."""
    started = time.monotonic()
    members: list[Member] = []
    record: list[dict[str, Any]] = []
    pipelines: dict[str, FeaturePipeline | None] = {}
    matrices: dict[str, np.ndarray] = {}
    for number, weight in weights.items():
        family, params, seed = trials[number]
        adapter = get_adapter(family)
        rounds = [adapter.fitted_rounds(m.model) for m in fits[number].members]
        settings = {k: v for k, v in params.items() if not k.startswith("_")}
        kept: int | None = None
        if adapter.rounds_param is not None and all(r is not None for r in rounds):
            kept = max(1, round(float(np.mean([float(r) for r in rounds if r is not None]))))
            settings[adapter.rounds_param] = kept
        mode = adapter.preprocessing
        if mode not in pipelines:
            if mode == "none":
                pipelines[mode], matrices[mode] = None, np.zeros((len(problem.y), 0))
            else:
                pipeline = FeaturePipeline(mode).fit(problem.X, problem.schema)
                pipelines[mode], matrices[mode] = pipeline, pipeline.transform(problem.X)
        pipeline = pipelines[mode]
        model = adapter.fit(
            matrices[mode], problem.y, task=problem.task, n_classes=problem.n_classes,
            params=settings, seed=seed, n_threads=problem.n_threads,
            categorical_indices=pipeline.categorical_indices_ if pipeline is not None else (),
            deadline=deadline)
        if adapter.take_cut(model) is not None:
            return RefitOutcome(False, "abandoned: the refit reached the deadline; the "
                                "validated model is kept", seconds=time.monotonic() - started)
        members.append(Member(family, pipeline, model, weight))
        record.append({"trial": number, "family": family, "rounds": kept})
    labels = list(classes) if classes is not None else None
    predictor = Predictor(problem.schema, problem.task, labels, members, threshold=threshold)
    rows = len(problem.y)
    return RefitOutcome(True, f"refit on all {rows:,} training and validation rows",
                        tuple(record), time.monotonic() - started, predictor)
