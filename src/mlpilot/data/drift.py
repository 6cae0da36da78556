"""Drift of one column between a reference sample and a current one, and of a whole table.

Each test is a small class with one abstract method, :meth:`DriftTest.score`. The test used for
a column is chosen by its kind and the reference size, as Evidently's default preset does (with
two changes, measured in ``bench/drift.py``: the chi-square test is two-sample, and the
Jensen-Shannon threshold is lower but confirmed by that test):

========================  ===================================  ===================================
reference rows            numeric (more than 5 distinct)       categorical, boolean, few values
========================  ===================================  ===================================
≤ 1,000                   Kolmogorov-Smirnov, p < 0.05         chi-square (two-sample), p < 0.05
> 1,000                   Wasserstein distance / reference     Jensen-Shannon distance ≥ 0.04,
                          std ≥ 0.1                            and chi-square p < 0.05
========================  ===================================  ===================================

A p-value test on a large sample flags differences too small to matter, so large samples are
judged on the size of the difference (for categories: a size that is also significant). The
table drifts when at least half of the compared columns drift.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref, same = rng.normal(size=5000), rng.normal(size=5000)
    >>> drift_column(ref, same, kind="numeric").drifted
    False
    >>> result = drift_column(ref, same + 0.5, kind="numeric")
    >>> result.test, result.drifted
    ('wasserstein', True)
    >>> drift_column(np.array(["a", "b"] * 300), np.array(["a", "a", "b"] * 200),
    ...              kind="categorical").test
    'chi_square'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

#: reference sizes up to this use p-value tests; above it, distances with a threshold
SMALL_SAMPLE = 1000
#: numeric columns with at most this many distinct values are compared as categories
FEW_VALUES = 5
#: the table drifts when this share of its columns (or more) drift
DATASET_SHARE = 0.5
#: categories expected fewer times than this in the current sample are pooled
MIN_EXPECTED = 5


class DriftTest(ABC):
    """A statistic comparing two samples, and the rule that calls it drift.

    Subclasses set ``name``, ``statistic`` (what the score is), ``threshold`` and
    ``is_p_value`` (drift when the score is *below* the threshold), and implement
    :meth:`score`.
    """

    name: str
    statistic: str
    threshold: float
    is_p_value: bool = False

    @abstractmethod
    def score(self, reference: np.ndarray, current: np.ndarray) -> float:
        """The statistic for two samples without missing values."""

    def drifted(self, score: float) -> bool:
        return score < self.threshold if self.is_p_value else score >= self.threshold

    def verdict(self, reference: np.ndarray, current: np.ndarray) -> tuple[float, bool]:
        """The score and whether it means drift (a test may add conditions)."""
        score = self.score(reference, current)
        if not np.isfinite(score):
            score = 1.0 if self.is_p_value else 0.0
        return score, self.drifted(score)


def _frequencies(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category, aligned, with rare categories pooled into one "other" bin.

    A category is kept when the current sample would hold at least ``MIN_EXPECTED`` rows of it
    at the reference share; the rest (and values never seen in the reference) are pooled. This
    is the usual validity rule of the chi-square test, and it keeps a column of thousands of
    rare codes (tail numbers, zip codes) from looking drifted by sampling noise alone.
    """
    ref = pd.Series(reference).astype("str").value_counts()
    cur = pd.Series(current).astype("str").value_counts()
    kept = ref.index[ref.to_numpy() / ref.sum() * cur.sum() >= MIN_EXPECTED]
    ref_kept = ref.reindex(kept, fill_value=0).to_numpy(dtype="float64")
    cur_kept = cur.reindex(kept, fill_value=0).to_numpy(dtype="float64")
    ref_other, cur_other = ref.sum() - ref_kept.sum(), cur.sum() - cur_kept.sum()
    if ref_other or cur_other:
        ref_kept, cur_kept = np.append(ref_kept, ref_other), np.append(cur_kept, cur_other)
    return ref_kept, cur_kept


class KolmogorovSmirnov(DriftTest):
    name, statistic, threshold, is_p_value = "ks", "p_value", 0.05, True

    def score(self, reference: np.ndarray, current: np.ndarray) -> float:
        return float(stats.ks_2samp(reference.astype("float64"),
                                    current.astype("float64")).pvalue)


class ChiSquare(DriftTest):
    name, statistic, threshold, is_p_value = "chi_square", "p_value", 0.05, True

    def score(self, reference: np.ndarray, current: np.ndarray) -> float:
        ref, cur = _frequencies(reference, current)
        if len(ref) < 2:
            return 1.0
        # a two-sample test (2 x k contingency table): the reference is a sample too, so
        # testing the current counts against its shares as if they were exact would
        # over-alarm
        table = np.vstack([ref, cur])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:
            return 1.0
        return float(stats.chi2_contingency(table, correction=False).pvalue)


class Wasserstein(DriftTest):
    name, statistic, threshold = "wasserstein", "distance_in_std", 0.1

    def score(self, reference: np.ndarray, current: np.ndarray) -> float:
        ref, cur = reference.astype("float64"), current.astype("float64")
        std = float(np.std(ref))
        if std == 0:
            std = max(abs(float(np.mean(ref))), 1e-3)  # Evidently's fallback for a constant
        return float(stats.wasserstein_distance(ref, cur) / std)


class JensenShannon(DriftTest):
    """Jensen-Shannon distance of the category shares, confirmed by the chi-square test.

    A fixed distance threshold alone is blind to sample size: with many categories and a
    thousand rows the distance of two samples of the *same* data is often above 0.1, while a
    5-point share change of a three-valued column is about 0.05. So the threshold is lower
    (0.04) and a distance counts only when the two-sample chi-square test also finds the
    difference significant (p < 0.05): big enough to matter, and not sampling noise.
    """

    name, statistic, threshold = "jensen_shannon", "distance", 0.04

    def score(self, reference: np.ndarray, current: np.ndarray) -> float:
        ref, cur = _frequencies(reference, current)
        return float(jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2))

    def verdict(self, reference: np.ndarray, current: np.ndarray) -> tuple[float, bool]:
        score, drifted = super().verdict(reference, current)
        if drifted:
            drifted = TESTS["chi_square"].verdict(reference, current)[1]
        return score, drifted


TESTS: dict[str, DriftTest] = {t.name: t for t in (KolmogorovSmirnov(), ChiSquare(),
                                                   Wasserstein(), JensenShannon())}


def choose_test(kind: str, n_reference: int, n_unique: int) -> DriftTest:
    """The test for a column: by kind ('numeric' or not), reference size and distinct values."""
    numeric = kind in ("numeric", "integer", "datetime") and n_unique > FEW_VALUES
    if n_reference <= SMALL_SAMPLE:
        return TESTS["ks"] if numeric else TESTS["chi_square"]
    return TESTS["wasserstein"] if numeric else TESTS["jensen_shannon"]


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict for one column."""

    column: str
    test: str
    statistic: str
    score: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _present(values: Any) -> np.ndarray:
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = series.dropna().astype("int64")
    return series.dropna().to_numpy()


def drift_column(reference: Any, current: Any, *, kind: str, column: str = "") -> ColumnDrift:
    """Compare the non-missing values of one column in two samples."""
    ref, cur = _present(reference), _present(current)
    n_unique = int(pd.Series(ref).nunique()) if ref.size else 0
    test = choose_test(kind, ref.size, n_unique)
    if ref.size and cur.size:
        score, drifted = test.verdict(ref, cur)
    else:
        score, drifted = (1.0 if test.is_p_value else 0.0), False
    return ColumnDrift(column=column, test=test.name, statistic=test.statistic,
                       score=round(float(score), 6), threshold=test.threshold,
                       drifted=bool(drifted), n_reference=int(ref.size),
                       n_current=int(cur.size))


@dataclass(frozen=True)
class TableDrift:
    """Per-column verdicts and the table's: drifted when ≥ half the columns drift."""

    columns: tuple[ColumnDrift, ...]
    share_drifted: float
    drifted: bool

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drifted)

    def to_dict(self) -> dict[str, Any]:
        return {"drift_detected": self.drifted, "share_drifted": self.share_drifted,
                "drifted_columns": list(self.drifted_columns),
                "columns": [c.to_dict() for c in self.columns]}


def drift_table(reference: pd.DataFrame, current: pd.DataFrame,
                kinds: dict[str, str]) -> TableDrift:
    """Compare every column named in ``kinds`` (column -> kind) present in both tables."""
    results = tuple(drift_column(reference[name], current[name], kind=kind, column=name)
                    for name, kind in kinds.items()
                    if name in reference.columns and name in current.columns)
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    return TableDrift(columns=results, share_drifted=round(share, 4),
                      drifted=bool(results) and share >= DATASET_SHARE)
