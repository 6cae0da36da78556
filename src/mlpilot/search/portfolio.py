"""The starting configurations, run in order before the search proposes its own.

Baseline first (it is always on the leaderboard), then LightGBM at its defaults (fast and
usually strong, so a good model exists within seconds), on a regression target no value of
which is negative the same fitted on the target's log and square root
(:mod:`mlpilot.models.target`), then each other family at its defaults, then LightGBM
variants that often win on tabular data. In a regression search median pruning between
folds never stops a start (:func:`mlpilot.search.study.spares_starts`), so every family is
scored on all its folds at least once.
Overrides name only searchable parameters, so every start is also a point of the Optuna
search space and teaches the sampler.

Example:
    >>> from mlpilot.core.config import Task
    >>> [family for family, _ in starting_configs(Task.BINARY, 10_000)][:5]
    ['baseline', 'lightgbm', 'linear', 'catboost', 'xgboost']
    >>> [family for family, _ in starting_configs(Task.BINARY, 10_000, families=["linear"])]
    ['baseline', 'linear']
    >>> [p.get("target_transform") for _, p in starting_configs(
    ...     Task.REGRESSION, 10_000, families=["lightgbm"], targets=("identity", "log1p", "sqrt"))]
    [None, 'identity', 'log1p', 'sqrt', 'identity', 'identity']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlpilot.core.config import Task
from mlpilot.models.registry import get_adapter
from mlpilot.models.target import IDENTITY, KEY


@dataclass(frozen=True)
class Start:
    """A family and the searchable parameters it overrides from its defaults."""

    family: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


PORTFOLIO: tuple[Start, ...] = (
    Start("baseline"),
    Start("lightgbm"),
    Start("lightgbm", {KEY: "log1p"}),
    Start("lightgbm", {KEY: "sqrt"}),
    Start("linear"),
    Start("catboost"),
    Start("xgboost"),
    Start("extra_trees"),
    Start("random_forest"),
    Start("knn"),
    Start("lightgbm", {"learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 50,
                       "feature_fraction": 0.7}),
    Start("lightgbm", {"learning_rate": 0.03, "num_leaves": 127, "min_child_samples": 10,
                       "feature_fraction": 0.6, "bagging_fraction": 0.8, "lambda_l2": 1.0}),
)


def starting_configs(task: Task, n_rows: int, families: Sequence[str] | None = None,
                     targets: Sequence[str] = (IDENTITY,)) -> list[tuple[str, dict[str, Any]]]:
    """The portfolio as (family, full parameters), keeping ``families`` (baseline always).

    ``targets``: the target transforms the search offers (identity alone: no start names
    one); when it offers more, every start but the baseline names its own."""
    out = []
    for start in PORTFOLIO:
        if families is not None and start.family != "baseline" and start.family not in families:
            continue
        if start.overrides.get(KEY, IDENTITY) not in targets:
            continue
        params = get_adapter(start.family).default_params(task, n_rows)
        if len(targets) > 1 and start.family != "baseline":
            params[KEY] = IDENTITY
        params.update(start.overrides)
        out.append((start.family, params))
    return out
