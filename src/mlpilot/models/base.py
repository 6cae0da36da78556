"""The model-family interface: one adapter per family, search space and cost as data.

An adapter is stateless: it fits, predicts, dumps and loads *models* (the library's own objects).
Its search space is declared as data (:class:`Param` entries); :meth:`ModelAdapter.search_space`
suggests each one under a family-namespaced name (``lightgbm.num_leaves``) so one Optuna study
can hold every family's conditional space, and returns the plain (un-namespaced) parameters.

Example:
    >>> import optuna
    >>> p = Param("num_leaves", "int", 8, 256, log=True)
    >>> trial = optuna.trial.FixedTrial({"lightgbm.num_leaves": 63})
    >>> p.suggest(trial, "lightgbm")
    63
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import optuna

from mlpilot.core.config import Task
from mlpilot.core.errors import IntegrityError


@dataclass(frozen=True)
class Param:
    """One searchable hyperparameter: ``kind`` is "int", "float" or "categorical"."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial, family: str) -> Any:
        key = f"{family}.{self.name}"
        if self.kind == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(key, float(self.low), float(self.high), log=self.log)
        return trial.suggest_categorical(key, list(self.choices))


class ModelAdapter(ABC):
    """One model family.

    Class data: ``name`` (registry key), ``preprocessing`` ("tree", "linear" or "none": the
    :class:`~mlpilot.models.features.FeaturePipeline` mode it needs), ``relative_cost`` (rough
    fit cost against LightGBM = 1.0), ``file_suffix`` (extension of its dumped model) and
    ``small_params`` (cheap parameters for tests and smoke runs).

    Subclasses implement :meth:`fit`, :meth:`predict`, :meth:`dump` and :meth:`load`, and
    declare :meth:`space` and :meth:`default_params` as data.
    """

    name: ClassVar[str]
    preprocessing: ClassVar[str]
    relative_cost: ClassVar[float]
    file_suffix: ClassVar[str]
    #: cheap parameters for tests and smoke runs (merged over ``default_params``)
    small_params: ClassVar[dict[str, Any]] = {}
    #: the parameter counting rounds / trees / iterations, which a deadline can cut short
    #: (None: fits of this family are never cut)
    rounds_param: ClassVar[str | None] = None
    #: whether ``fit`` honours ``params["class_weight"] == "balanced"`` (classification): the
    #: search offers the choice on imbalanced data (see :data:`CLASS_WEIGHT`)
    supports_class_weight: ClassVar[bool] = False

    def take_cut(self, model: Any) -> int | None:
        """How many rounds the fit ran when its deadline stopped it (None: it was not cut),
        removing the mark from the model so it never reaches the model's stored bytes.

        Fitting again with ``rounds_param`` set to this number and no deadline gives the same
        model, so a replay of a time-budgeted run is bit-identical.
        """
        value = getattr(model, "_mlpilot_cut_at", None)
        if hasattr(model, "_mlpilot_cut_at"):
            delattr(model, "_mlpilot_cut_at")
        return None if value is None else int(value)

    def fitted_rounds(self, model: Any) -> int | None:
        """The rounds (trees, iterations) the fitted model keeps: its best iteration when it
        stopped early. A refit on more rows sets ``rounds_param`` to this and fits without a
        validation set. None: the family has no rounds to carry over."""
        return None

    def default_params(self, task: Task, n_rows: int) -> dict[str, Any]:
        """Every parameter the family's ``fit`` reads, at sensible defaults."""
        return {}

    def space(self, task: Task, n_rows: int) -> Sequence[Param]:
        """The searchable parameters (defaults must lie inside them)."""
        return ()

    def search_space(self, trial: optuna.Trial, task: Task, n_rows: int) -> dict[str, Any]:
        """Suggest the family's parameters on ``trial`` (namespaced); return the plain dict."""
        params = self.default_params(task, n_rows)
        for param in self.space(task, n_rows):
            params[param.name] = param.suggest(trial, self.name)
        return params

    def model_size_bytes(self, model: Any) -> int:
        """The size of the model as stored (families whose dump is slow override this with an
        estimate from the model's own arrays)."""
        return len(self.dump(model))

    def estimate_memory_mb(self, n_rows: int, n_features: int, params: dict[str, Any]) -> float:
        """A rough peak-memory estimate of one fit, in MB (the feature matrix a few times over,
        plus the library's own working set); families with large models override it."""
        return 64.0 + 4.0 * n_rows * max(1, n_features) * 8 / 2**20

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, *, task: Task, n_classes: int | None,
            params: dict[str, Any], seed: int, n_threads: int,
            categorical_indices: Sequence[int] = (), X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, deadline: float | None = None) -> Any:
        """Fit on the feature matrix; stop at the monotonic ``deadline`` with the model so far.

        ``y`` is int-encoded 0..k-1 for classification, float for regression.
        """

    @abstractmethod
    def predict(self, model: Any, X: np.ndarray, task: Task) -> np.ndarray:
        """(n, k) probabilities for classification (k = 2 for binary), (n,) for regression."""

    @abstractmethod
    def dump(self, model: Any) -> bytes:
        """The model as bytes that load without executing code."""

    @abstractmethod
    def load(self, data: bytes) -> Any:
        """The inverse of :meth:`dump`."""


#: the class-weighting choice the search adds to a family's space on imbalanced classes
CLASS_WEIGHT = Param("class_weight", "categorical", choices=("none", "balanced"))


def balanced_weights(y: np.ndarray, params: dict[str, Any]) -> np.ndarray | None:
    """Per-row weights ``n / (k * count(class))`` when ``params["class_weight"]`` is
    "balanced" (each class then weighs the same in the loss), else None.

    Example:
        >>> balanced_weights(np.array([0, 0, 0, 1]), {"class_weight": "balanced"}).tolist()
        [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
        >>> balanced_weights(np.array([0, 1]), {}) is None
        True
    """
    if params.get("class_weight", "none") != "balanced":
        return None
    codes = np.asarray(y).astype(np.int64)
    counts = np.bincount(codes)
    present = int(np.count_nonzero(counts))
    per_class = np.zeros(counts.shape, dtype=np.float64)
    per_class[counts > 0] = len(codes) / (present * counts[counts > 0])
    return per_class[codes]


def past(deadline: float | None) -> bool:
    """Whether the monotonic ``deadline`` has passed (never, when it is None)."""
    return deadline is not None and time.monotonic() >= deadline


def proba_columns(proba: np.ndarray, classes: np.ndarray, n_classes: int | None) -> np.ndarray:
    """Place a model's per-class columns at their class index (absent classes get 0)."""
    width = max(int(n_classes or 0), int(classes.max()) + 1, 2)
    out = np.zeros((proba.shape[0], width), dtype=np.float64)
    out[:, classes.astype(int)] = proba
    return out


def skops_dump(model: Any) -> bytes:
    """A scikit-learn model as canonical skops bytes (never pickle): same model, same bytes.

    skops names objects by their memory address, stamps zip entries with the current time and
    copies uninitialised padding of structured arrays; all are replaced by stable values (ids
    renumbered in order of appearance, fixed timestamps, sorted entries, zeroed padding), which
    skops loads unchanged.
    """
    import skops.io as sio

    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(raw.read("schema.json"))
    ids: dict[int, int] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, dict):
            if "__id__" in node:
                node["__id__"] = ids.setdefault(node["__id__"], len(ids))
            if isinstance(node.get("file"), str) and node["file"].endswith(".npy"):
                old = int(node["file"][:-4])
                node["file"] = f"{ids.setdefault(old, len(ids))}.npy"
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    entries = {"schema.json": json.dumps(schema, indent=1, sort_keys=False).encode("utf-8")}
    for name in raw.namelist():
        if name.endswith(".npy"):
            entries[f"{ids[int(name[:-4])]}.npy"] = _clean_npy(raw.read(name))
    return deterministic_zip(entries, compress=False)


def _clean_npy(data: bytes) -> bytes:
    """Re-save an .npy in C order with zeroed padding bytes (structured tree arrays carry
    uninitialised padding, which would make equal models dump to different bytes)."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError:
        return data
    out = io.BytesIO()
    np.save(out, np.array(zeroed_padding(array), order="C"), allow_pickle=False)
    return out.getvalue()


def zeroed_padding(array: np.ndarray) -> np.ndarray:
    """A structured array copied field by field into zeros, so the padding bytes between its
    fields (uninitialised in scikit-learn's tree nodes) are zero; other arrays unchanged."""
    if not array.dtype.names:
        return array
    clean = np.zeros(array.shape, dtype=array.dtype)
    for field_name in array.dtype.names:
        clean[field_name] = array[field_name]
    return clean


#: zlib level of a compressed zip: the fastest. A 57-tree ExtraTrees model of diamonds (190 MB
#: of node arrays) is deflated to 44.9 MB in 1.0 s at level 1 and to 41.0 MB in 3.6 s at the
#: default level 6; storing the evaluated model is on a run's clock (the final fit waits for it)
COMPRESS_LEVEL = 1


def deterministic_zip(entries: dict[str, bytes], *, compress: bool = True) -> bytes:
    """A zip of ``entries`` with sorted names and fixed (1980-01-01) timestamps, deflated at
    :data:`COMPRESS_LEVEL` (or stored, with ``compress=False``)."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    level = COMPRESS_LEVEL if compress else None
    with zipfile.ZipFile(buffer, "w", compression=method, compresslevel=level) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name], compresslevel=level)
    return buffer.getvalue()


def skops_load(data: bytes, allowed: Sequence[str]) -> Any:
    """Load skops bytes, trusting only the exact ``allowed`` type names.

    Raises:
        IntegrityError: the bytes name a type outside ``allowed`` (possible tampering).
    """
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise IntegrityError("the model file cannot be read", found=str(exc),
                             fix="re-create the artifact; it was modified or corrupted") from exc
    unexpected = sorted(set(untrusted) - set(allowed))
    if unexpected:
        raise IntegrityError(
            "the model file names types mlpilot does not trust",
            expected="only " + ", ".join(sorted(allowed)),
            found=", ".join(unexpected),
            fix="re-create the artifact from its run; it may have been tampered with",
        )
    return sio.loads(data, trusted=list(untrusted))
