"""Which trials greedy ensemble selection may pick from, and what it picks."""

from __future__ import annotations

import numpy as np

from mlpilot.search.ensemble import ensemble_candidates, select_ensemble


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
