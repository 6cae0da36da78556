"""The rules a run follows that mlpilot has changed, as recorded, so a reproduction repeats them.

Some of a run's choices are rules that a later mlpilot decides differently: how many times a
cross-validated search draws its folds, how a time-ordered split keeps a period in one part,
which checks of the features a time-ordered search makes, whether median pruning spares the
portfolio's starts, and whether the ensemble's candidates are guarded against overtuning. A
run records the rule it followed in its manifest, and a search from scratch that reproduces
it reads them back (:meth:`Rules.recorded`), so it searches as the run did; a run recorded
before a rule was recorded followed the rule of its time, which the reading gives. A new
run follows :class:`Rules` at their defaults, today's rules.

Example:
    >>> Rules().period_share == PERIOD_SHARE and Rules().feature_checks == FEATURE_CHECKS
    True
    >>> Rules.recorded({"split": {"method": "time-ordered"}})  # doctest: +NORMALIZE_WHITESPACE
    Rules(fold_repeats=1, period_share=0.0, feature_checks=1, spare_starts=False,
          guard_candidates=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlpilot.core.config import Task
from mlpilot.data.split import PERIOD_SHARE
from mlpilot.search.clocks import FEATURE_CHECKS
from mlpilot.search.study import guards_candidates, spares_starts


@dataclass(frozen=True)
class Rules:
    """The changed rules a run follows.

    Attributes:
        fold_repeats: how many times a cross-validated search draws its folds; None chooses
            from the rows and the metric (:func:`mlpilot.search.validation.choose_strategy`).
        period_share: the time-ordered split's rule for keeping a period in one part
            (:func:`mlpilot.data.split.make_split`).
        feature_checks: which checks of the features a time-ordered search makes
            (:data:`mlpilot.search.clocks.FEATURE_CHECKS`).
        spare_starts: whether median pruning spares the portfolio's starts; None decides
            from the task (:func:`mlpilot.search.study.spares_starts`).
        guard_candidates: whether a proposed configuration must beat the best start by a
            margin to be chosen; None decides from the task
            (:func:`mlpilot.search.study.guards_candidates`).
    """

    fold_repeats: int | None = None
    period_share: float = PERIOD_SHARE
    feature_checks: int = FEATURE_CHECKS
    spare_starts: bool | None = None
    guard_candidates: bool | None = None

    def spares_starts(self, task: Task) -> bool:
        """Whether pruning spares the portfolio's starts in a search of ``task``.

        Example:
            >>> Rules().spares_starts(Task.REGRESSION), Rules(spare_starts=False).spares_starts(
            ...     Task.REGRESSION)
            (True, False)
        """
        return spares_starts(task) if self.spare_starts is None else self.spare_starts

    def guards_candidates(self, task: Task) -> bool:
        """Whether a search of ``task`` guards its ensemble candidates against overtuning.

        Example:
            >>> Rules().guards_candidates(Task.REGRESSION), Rules(
            ...     guard_candidates=False).guards_candidates(Task.REGRESSION)
            (True, False)
        """
        return (guards_candidates(task) if self.guard_candidates is None
                else self.guard_candidates)

    @classmethod
    def recorded(cls, manifest: dict[str, Any]) -> Rules:
        """The rules the run with this manifest followed (see the module)."""
        return cls(fold_repeats=recorded_fold_repeats(manifest),
                   period_share=recorded_period_share(manifest),
                   feature_checks=recorded_feature_checks(manifest),
                   spare_starts=recorded_spare_starts(manifest),
                   guard_candidates=recorded_guard_candidates(manifest))


def recorded_fold_repeats(manifest: dict[str, Any]) -> int:
    """How many times the recorded run drew its cross-validation folds: its manifest's
    ``validation.repeats``, or 1 for a run recorded before the folds could be repeated.

    Example:
        >>> recorded_fold_repeats({"validation": {"kind": "cv", "folds": 5, "repeats": 2}})
        2
        >>> recorded_fold_repeats({"refit": {"rows": 331}})
        1
    """
    return int(manifest.get("validation", {}).get("repeats", 1))


def recorded_period_share(manifest: dict[str, Any]) -> float:
    """The recorded run's rule for keeping a period in one part of a time-ordered split (its
    manifest's ``split.period_share``), or 0 for a run recorded before the rule had a share
    (any cut moved to a period's edge that left no part empty).

    Example:
        >>> recorded_period_share({"split": {"method": "time-ordered", "period_share": 0.5}})
        0.5
        >>> recorded_period_share({"split": {"method": "time-ordered"}})
        0.0
    """
    return float(manifest.get("split", {}).get("period_share", 0.0))


def recorded_feature_checks(manifest: dict[str, Any]) -> int:
    """Which checks of the features the recorded run's search made on time-ordered rows
    (:data:`mlpilot.search.clocks.FEATURE_CHECKS`): its manifest's ``feature_checks``, or 1
    (the numeric clocks alone) for a run recorded before the number was.

    Example:
        >>> recorded_feature_checks({"feature_checks": 3}), recorded_feature_checks({})
        (3, 1)
    """
    return int(manifest.get("feature_checks", 1))


def recorded_spare_starts(manifest: dict[str, Any]) -> bool:
    """Whether the recorded run's median pruning spared the portfolio's starts (its manifest's
    ``pruning.spares_starts``), or False for a run recorded before they were spared.

    Example:
        >>> recorded_spare_starts({"pruning": {"after": 4, "spares_starts": True}})
        True
        >>> recorded_spare_starts({"feature_checks": 3})
        False
    """
    return bool(manifest.get("pruning", {}).get("spares_starts", False))


def recorded_guard_candidates(manifest: dict[str, Any]) -> bool:
    """Whether the recorded run guarded its ensemble candidates against overtuning (its
    manifest's ``candidates.guarded``), or False for a run recorded before they were.

    Example:
        >>> recorded_guard_candidates({"candidates": {"guarded": True, "margin": 1.0}})
        True
        >>> recorded_guard_candidates({"feature_checks": 3})
        False
    """
    return bool(manifest.get("candidates", {}).get("guarded", False))
