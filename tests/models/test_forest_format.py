"""The compact forest format: bit-identical predictions, equal bytes, old skops files still
load, tampering refused."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from mlpilot.core.config import Task
from mlpilot.core.errors import IntegrityError
from mlpilot.models.base import deterministic_zip, skops_dump
from mlpilot.models.forest_format import MANIFEST, dump_forest, is_forest_bytes, load_forest
from mlpilot.models.registry import get_adapter


def _data(task: Task) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    X[rng.random(X.shape) < 0.05] = np.nan  # trees route missing values: that field too
    y = (rng.integers(0, 3, 300) if task is Task.MULTICLASS
         else np.nan_to_num(X[:, 0]) * 2.0 + rng.normal(size=300))
    return X, y


@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
@pytest.mark.parametrize("task", [Task.MULTICLASS, Task.REGRESSION])
def test_round_trip_predicts_bit_identically_and_dumps_equal_bytes(family: str,
                                                                   task: Task) -> None:
    adapter = get_adapter(family)
    X, y = _data(task)
    params = {**adapter.default_params(task, len(y)), "n_estimators": 30}
    model = adapter.fit(X, y, task=task, n_classes=3 if task.is_classification else None,
                        params=params, seed=0, n_threads=1)
    data = adapter.dump(model)
    assert is_forest_bytes(data)
    loaded = adapter.load(data)
    assert np.array_equal(adapter.predict(loaded, X, task), adapter.predict(model, X, task))
    assert adapter.dump(loaded) == data
    assert adapter.fitted_rounds(loaded) == 30


def test_much_faster_than_skops_and_smaller() -> None:
    import time

    adapter = get_adapter("random_forest")
    X, y = _data(Task.MULTICLASS)
    model = adapter.fit(X, y, task=Task.MULTICLASS, n_classes=3,
                        params={"n_estimators": 100, "min_samples_leaf": 1}, seed=0, n_threads=1)
    started = time.perf_counter()
    compact = dump_forest(model)
    compact_seconds = time.perf_counter() - started
    started = time.perf_counter()
    generic = skops_dump(model)
    skops_seconds = time.perf_counter() - started
    assert compact_seconds * 5 < skops_seconds
    assert len(compact) < len(generic)


def test_artifacts_saved_with_skops_still_load() -> None:
    adapter = get_adapter("extra_trees")
    X, y = _data(Task.REGRESSION)
    model = adapter.fit(X, y, task=Task.REGRESSION, n_classes=None,
                        params={"n_estimators": 10}, seed=0, n_threads=1)
    old = skops_dump(model)
    assert not is_forest_bytes(old)
    assert np.array_equal(adapter.predict(adapter.load(old), X, Task.REGRESSION),
                          adapter.predict(model, X, Task.REGRESSION))


def _rewritten(data: bytes, edit) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries[MANIFEST])
    edit(manifest)
    entries[MANIFEST] = json.dumps(manifest).encode()
    return deterministic_zip(entries)


def test_untrusted_type_and_damage_are_refused() -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = _data(Task.REGRESSION)
    data = dump_forest(RandomForestRegressor(n_estimators=2, random_state=0).fit(X, y))

    def swap(manifest: dict) -> None:
        manifest["model"]["object"] = "Popen"

    with pytest.raises(IntegrityError, match="does not trust"):
        load_forest(_rewritten(data, swap))

    def shrink(manifest: dict) -> None:
        key = next(iter(manifest["pools"]))
        manifest["pools"][key] += 1

    with pytest.raises(IntegrityError, match="cannot be read"):
        load_forest(_rewritten(data, shrink))
    with pytest.raises(IntegrityError, match="cannot be read"):
        load_forest(data[: len(data) // 2])


def test_an_attribute_it_cannot_hold_is_refused_at_dump() -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = _data(Task.REGRESSION)
    model = RandomForestRegressor(n_estimators=2, random_state=0).fit(X, y)
    model.note = object()
    with pytest.raises(TypeError, match="cannot be saved"):
        dump_forest(model)
