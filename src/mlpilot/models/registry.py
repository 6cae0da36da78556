"""Model families by name.

Example:
    >>> sorted(FAMILIES)
    ['baseline', 'catboost', 'extra_trees', 'knn', 'lightgbm', 'linear', 'random_forest', 'xgboost']
    >>> get_adapter("lightgbm").preprocessing
    'tree'
"""

from __future__ import annotations

from mlpilot.core.errors import ConfigError
from mlpilot.models.base import ModelAdapter
from mlpilot.models.baseline import BaselineAdapter
from mlpilot.models.catboost import CatBoostAdapter
from mlpilot.models.forests import ExtraTreesAdapter, RandomForestAdapter
from mlpilot.models.knn import KNNAdapter
from mlpilot.models.lightgbm import LightGBMAdapter
from mlpilot.models.linear import LinearAdapter
from mlpilot.models.xgboost import XGBoostAdapter

FAMILIES: dict[str, type[ModelAdapter]] = {
    cls.name: cls
    for cls in (BaselineAdapter, LinearAdapter, LightGBMAdapter, ExtraTreesAdapter,
                RandomForestAdapter, XGBoostAdapter, CatBoostAdapter, KNNAdapter)
}


def get_adapter(name: str) -> ModelAdapter:
    """A (stateless) adapter instance for the family ``name``.

    Raises:
        ConfigError: ``name`` is not a known family.
    """
    try:
        return FAMILIES[name]()
    except KeyError:
        raise ConfigError(
            f"unknown model family {name!r}",
            expected="one of " + ", ".join(sorted(FAMILIES)),
            found=repr(name),
            fix="choose a family from the list",
        ) from None
