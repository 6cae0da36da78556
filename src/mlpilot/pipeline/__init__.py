"""Pipeline: where data, models, search, evaluation and the store meet."""
