"""Which trials greedy ensemble selection may pick from, and what it picks."""

from __future__ import annotations

import numpy as np

from mlpilot.search.ensemble import clears_margin, ensemble_candidates, select_ensemble


def test_every_family_s_best_trial_is_a_candidate_beside_the_best_trials():
    # 14 LightGBM trials rank first, then XGBoost, another LightGBM, CatBoost, the baseline
    ranked = [(n, "lightgbm") for n in range(14)] + [
        (20, "xgboost"), (21, "lightgbm"), (22, "catboost"), (23, "xgboost"), (0, "baseline")]
    chosen = ensemble_candidates(ranked, max_candidates=12, family_bests=True)
    assert chosen == [*range(12), 20, 22]  # the best XGBoost and CatBoost, in rank order
    assert len(set(chosen)) == len(chosen)
    # after cross-validation, the best trials only
    assert ensemble_candidates(ranked, max_candidates=12, family_bests=False) == [*range(12)]


def test_the_baseline_is_a_candidate_only_among_the_best_trials():
    assert ensemble_candidates([(1, "lightgbm"), (2, "lightgbm"), (0, "baseline")],
                               max_candidates=1, family_bests=True) == [1]
    assert ensemble_candidates([(1, "lightgbm"), (0, "baseline")], max_candidates=2,
                               family_bests=True) == [1, 0]


def test_fewer_trials_than_the_limit_are_all_candidates():
    ranked = [(3, "knn"), (1, "linear"), (2, "knn")]
    assert ensemble_candidates(ranked, max_candidates=12, family_bests=True) == [3, 1, 2]


def test_a_dissimilar_model_outside_the_best_earns_its_weight():
    # two near-copies of one model share its error; a worse but different one cancels it
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    shared = rng.normal(scale=0.5, size=400)
    predictions = {1: y + shared, 2: y + shared + rng.normal(scale=0.01, size=400),
                   3: y - shared + rng.normal(scale=0.3, size=400)}

    def neg_mse(t: np.ndarray, p: np.ndarray) -> float:
        return -float(np.mean((t - p) ** 2))

    ranked = sorted(predictions, key=lambda n: -neg_mse(y, predictions[n]))
    families = {1: "lightgbm", 2: "lightgbm", 3: "catboost"}
    only_best = select_ensemble({n: predictions[n] for n in ranked[:2]}, y, neg_mse,
                                greater_is_better=True)
    assert set(only_best) <= {1, 2}
    chosen = ensemble_candidates([(n, families[n]) for n in ranked], max_candidates=2,
                                 family_bests=True)
    picked = select_ensemble({n: predictions[n] for n in chosen}, y, neg_mse,
                             greater_is_better=True)
    assert 3 in picked
    blend = sum(predictions[n] * w for n, w in picked.items())
    best_of_two = sum(predictions[n] * w for n, w in only_best.items())
    assert neg_mse(y, blend) > neg_mse(y, best_of_two)


def _neg_mse(y: np.ndarray, p: np.ndarray) -> float:
    return -float(np.mean((y - p) ** 2))


def test_a_gain_clears_the_margin_only_when_it_exceeds_its_standard_error():
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    reference = y + rng.normal(size=300)
    options = dict(greater_is_better=True, seed=0)
    # a model with half the noise is better on any resample
    assert clears_margin(y + 0.5 * rng.normal(size=300), reference, y, _neg_mse, **options)
    # every row's error 2% larger, but the two largest errors 20% smaller: a real gain that
    # rests on two rows, well within its spread over resamples of the rows
    error = reference - y
    slightly = y + 1.02 * error
    worst = np.argsort(-np.abs(error))[:2]
    slightly[worst] = y[worst] + 0.8 * error[worst]
    assert _neg_mse(y, slightly) > _neg_mse(y, reference)
    assert not clears_margin(slightly, reference, y, _neg_mse, **options)
    assert clears_margin(slightly, reference, y, _neg_mse, margin=0.0, **options)
    # a worse model never clears, the reference never clears itself
    assert not clears_margin(reference + 0.3, reference, y, _neg_mse, margin=0.0, **options)
    assert not clears_margin(reference, reference, y, _neg_mse, margin=0.0, **options)


def test_the_margin_reads_lower_is_better_scores_and_repeats_with_its_seed():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    reference = y + rng.normal(size=200)
    better = y + 0.7 * rng.normal(size=200)

    def mse(t: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean((t - p) ** 2))

    answers = {clears_margin(better, reference, y, mse, greater_is_better=False, seed=s)
               for s in (3, 3, 3)}
    assert answers == {True}
    assert not clears_margin(reference, better, y, mse, greater_is_better=False, seed=3)
