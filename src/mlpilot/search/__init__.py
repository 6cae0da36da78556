"""Search: the AutoML engine (starting portfolio, seeded Optuna study, budget proposal)."""
