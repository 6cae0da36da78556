"""Greedy ensemble selection (Caruana et al., 2004) over the scored predictions of trials.

Start from the best trial, then repeatedly add (with replacement) the trial whose inclusion
most improves the averaged prediction's score; the weights are how often each was picked.
Ties go to the earlier trial, so the result is deterministic.

The candidates (:func:`ensemble_candidates`) are the best :data:`MAX_CANDIDATES` trials and,
after a holdout search, the best trial of every other family too. A holdout search on a large
table spends its budget on the fastest family (diamonds at 60 s: about 45 trials, the 12 best
all LightGBM), so the 12 best are near-copies of one model whose blend fits the validation
rows about as well as a mixed one and generalises worse: on one such search, greedy selection
over the 12 best scored 542.3 RMSE on the benchmark's test rows as evaluated and 528.0 once
refit on every row, over the 12 best and each other family's best 539.2 and 524.8
(bench/README.md). The search keeps back the time the mixed ensemble's final fit needs
(:mod:`mlpilot.search.study`). After cross-validation (small tables) the extra candidates did
not pay in 60 s runs (diabetes 56.21 -> 56.64, wage 35.53 -> 35.59, ames 24,824 -> 24,844),
so there the 12 best stay the candidates.

A regression search also guards the candidates against overtuning (:func:`clears_margin`):
a configuration proposed by the TPE sampler joins them only when it beats the best of the
portfolio's starts by more than :data:`CANDIDATE_MARGIN` standard errors of the paired
difference (a seeded bootstrap over the scored rows). After a hundred-odd proposals on a few
hundred or a few thousand rows, the best scores are partly the folds' luck: in trial-count
runs of 34 to 160 trials (a script outside the product; bench/README.md
"Ensemble candidates guarded against overtuning"), the proposals that led out of fold by
less than one standard error lost on the benchmark's test rows on ames and diabetes, where
the starts' ensemble scored 23,545 against 24,314 and 56.60 against 57.88 at seed 1.

Example:
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> preds = {1: y + 1.0, 2: y - 1.0, 3: y + 3.0}
    >>> def neg_mse(t, p): return -float(np.mean((t - p) ** 2))
    >>> select_ensemble(preds, y, neg_mse, greater_is_better=True, rounds=10)
    {1: 0.5, 2: 0.5}
    >>> ensemble_candidates([(4, "lightgbm"), (2, "lightgbm"), (7, "catboost"), (1, "linear")],
    ...                     max_candidates=2, family_bests=True)
    [4, 2, 7, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

DEFAULT_ROUNDS = 25
MAX_CANDIDATES = 12
#: standard errors of the paired difference by which a proposed configuration must beat the
#: best start to be an ensemble candidate in a guarded search (the one-standard-error rule)
CANDIDATE_MARGIN = 1.0
#: bootstrap resamples of the scored rows that estimate that standard error
RESAMPLES = 200


def ensemble_candidates(ranked: Sequence[tuple[int, str]], *, family_bests: bool,
                        max_candidates: int = MAX_CANDIDATES) -> list[int]:
    """The trials greedy selection may pick from, given (number, family) best first: the
    first ``max_candidates`` and, with ``family_bests``, then the best trial of each family
    not among them (never the baseline), in rank order."""
    chosen = [number for number, _ in ranked[:max_candidates]]
    if not family_bests:
        return chosen
    families = {family for _, family in ranked[:max_candidates]} | {"baseline"}
    for number, family in ranked[max_candidates:]:
        if family not in families:
            chosen.append(number)
            families.add(family)
    return chosen


def select_ensemble(predictions: Mapping[int, np.ndarray], y: np.ndarray,
                    score: Callable[[np.ndarray, np.ndarray], float], *,
                    greater_is_better: bool, rounds: int = DEFAULT_ROUNDS) -> dict[int, float]:
    """Weights per trial number (summing to 1) of the greedy ensemble."""
    if not predictions:
        return {}
    sign = 1.0 if greater_is_better else -1.0
    numbers = list(predictions)
    single = {n: sign * score(y, predictions[n]) for n in numbers}
    first = max(numbers, key=lambda n: (single[n], -n))
    counts = {first: 1}
    total = predictions[first].astype(np.float64).copy()
    best = single[first]
    for size in range(2, rounds + 1):
        choice, choice_score = None, -np.inf
        for n in numbers:
            value = sign * score(y, (total + predictions[n]) / size)
            if value > choice_score:
                choice, choice_score = n, value
        if choice is None or choice_score <= best + 1e-12:
            break
        counts[choice] = counts.get(choice, 0) + 1
        total += predictions[choice]
        best = max(best, choice_score)
    picked = sum(counts.values())
    return {n: counts[n] / picked for n in sorted(counts)}


def clears_margin(prediction: np.ndarray, reference: np.ndarray, y: np.ndarray,
                  score: Callable[[np.ndarray, np.ndarray], float], *,
                  greater_is_better: bool, seed: int, margin: float = CANDIDATE_MARGIN,
                  resamples: int = RESAMPLES) -> bool:
    """Whether ``prediction`` scores better than ``reference`` on the rows ``y`` by more than
    ``margin`` standard errors of the difference. The standard error is the spread of the
    paired difference over ``resamples`` bootstrap resamples of the rows, drawn from ``seed``
    (the same rows for every trial, so the answer is deterministic).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=400)
        >>> def neg_mse(t, p): return -float(np.mean((t - p) ** 2))
        >>> reference = y + rng.normal(size=400)
        >>> clears_margin(y + 0.5 * rng.normal(size=400), reference, y, neg_mse,
        ...               greater_is_better=True, seed=0)
        True
        >>> clears_margin(reference + 0.01, reference, y, neg_mse,
        ...               greater_is_better=True, seed=0)
        False
    """
    sign = 1.0 if greater_is_better else -1.0
    gain = sign * (score(y, prediction) - score(y, reference))
    if gain <= 0.0:
        return False
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for b in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        differences[b] = score(y[rows], prediction[rows]) - score(y[rows], reference[rows])
    return bool(gain > margin * float(np.std(differences)))
