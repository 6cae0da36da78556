"""Replaying a recorded trial sequence: the same families, parameters and seeds, refitted.

A time-budgeted search is not repeatable (a faster machine fits more trials), so a run records
its trial sequence and a replay refits exactly those trials, in order, with the same feature
pipelines, adapters, validation strategy, ensemble selection and threshold as
:func:`mlpilot.search.study.run_search` (which does the work, with ``replay=``). On the same
environment the best Predictor is the same to the bit. Replayed trials run without a deadline:
a trial the original run stopped at its deadline is fitted to the end here, and shows up as a
different score.

Example:
    >>> import numpy as np, pandas as pd
    >>> from mlpilot.core.budget import Budget
    >>> from mlpilot.core.config import Task
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> from mlpilot.search.study import run_search
    >>> class NegMSE:
    ...     name, greater_is_better = "neg_mse", True
    ...     def __call__(self, y, p): return -float(np.mean((y - p) ** 2))
    >>> schema = Schema(columns=(ColumnSchema("x", ColumnKind.NUMERIC, "float64", False),
    ...                          ColumnSchema("y", ColumnKind.NUMERIC, "float64", False)),
    ...                 target="y")
    >>> X = pd.DataFrame({"x": np.linspace(0, 1, 200)}); y = 3 * X["x"].to_numpy()
    >>> kw = dict(schema=schema, task=Task.REGRESSION, classes=None, scorer=NegMSE(),
    ...           n_threads=1)
    >>> first = run_search(X, y, X, y, budget=Budget(60), seed=0, families=["linear"],
    ...                    max_trials=3, **kw)
    >>> again = replay_search(X, y, X, y, trials=[TrialSpec.of(t) for t in first.trials],
    ...                       budget_seconds=60, seed=0, **kw)
    >>> again.best.to_bytes() == first.best.to_bytes()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlpilot.core.budget import Budget
from mlpilot.core.config import Task
from mlpilot.data.schema import Schema
from mlpilot.search.scoring import Scorer
from mlpilot.search.study import SearchResult, TrialResult, run_search


@dataclass(frozen=True)
class TrialSpec:
    """One recorded trial to refit: its number, family, parameters, seed, state and whether
    the TPE sampler proposed it (False for a run recorded before that was recorded)."""

    number: int
    family: str
    params: dict[str, Any]
    seed: int
    state: str = "complete"
    proposed: bool = False

    @classmethod
    def of(cls, trial: Any) -> TrialSpec:
        """From anything with number, family, params, seed and state (a result or a row)."""
        return cls(int(trial.number), str(trial.family), dict(trial.params), int(trial.seed),
                   str(trial.state), bool(getattr(trial, "proposed", False)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialSpec:
        return cls(int(data["number"]), str(data["family"]), dict(data["params"]),
                   int(data["seed"]), str(data.get("state", "complete")),
                   bool(data.get("proposed", False)))


def replay_search(train_X: pd.DataFrame, train_y: Any, valid_X: pd.DataFrame, valid_y: Any, *,
                  schema: Schema, task: Task, classes: Sequence[Any] | None, scorer: Scorer,
                  n_threads: int, trials: Sequence[TrialSpec], budget_seconds: float,
                  seed: int = 0, on_trial: Callable[[TrialResult], None] | None = None,
                  **search_options: Any) -> SearchResult:
    """Refit ``trials`` in order and choose exactly as the search does.

    Args:
        trials: the recorded sequence, trial 0 (the baseline) first.
        budget_seconds: the recorded search budget, only read to choose the validation
            strategy when ``strategy`` is not in ``search_options``; replayed trials have no
            deadline.
        search_options: further :func:`run_search` options the recorded run used.
        The other arguments are those of :func:`mlpilot.search.study.run_search`.

    Raises:
        ConfigError: the sequence is empty, not numbered 0..n-1, does not start with the
            baseline, or names an unknown family.
    """
    return run_search(train_X, train_y, valid_X, valid_y, schema=schema, task=task,
                      classes=classes, scorer=scorer, budget=Budget(budget_seconds), seed=seed,
                      n_threads=n_threads, on_trial=on_trial, replay=list(trials),
                      **search_options)
