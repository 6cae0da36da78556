"""The deployable Predictor: schema, fitted features, model(s), weights, threshold, versions.

``predict``/``predict_proba``/``predict_frame`` are all a caller needs; online, batch and notebook
use the same object, so training and serving cannot preprocess differently. ``to_bytes`` writes a
deterministic zip (fixed timestamps, sorted entries) of JSON, native LightGBM text and skops
files; ``from_bytes`` checks sha256 before reading anything and never unpickles.

Example:
    >>> import pandas as pd
    >>> from mlpilot.core.config import Task
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> schema = Schema(columns=(ColumnSchema("x", ColumnKind.NUMERIC, "float64", False),
    ...                          ColumnSchema("y", ColumnKind.CATEGORICAL, "str", False)),
    ...                 target="y")
    >>> train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    >>> member = fit_member("baseline", train, [0, 1, 1, 1], schema=schema, task=Task.BINARY,
    ...                     n_classes=2, params={}, seed=0, n_threads=1)
    >>> predictor = Predictor(schema, Task.BINARY, ["no", "yes"], [member])
    >>> predictor.predict_frame(pd.DataFrame({"x": [5.0]}))
      prediction  proba_no  proba_yes
    0        yes      0.25       0.75
    >>> again = Predictor.from_bytes(predictor.to_bytes())
    >>> again.to_bytes() == predictor.to_bytes(), again.threshold
    (True, 0.5)
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, IntegrityError
from mlpilot.core.hashing import canonical_json, sha256_bytes
from mlpilot.data import schema as data_schema
from mlpilot.data.schema import Schema
from mlpilot.models import target as target_transform
from mlpilot.models.base import deterministic_zip
from mlpilot.models.features import FeaturePipeline
from mlpilot.models.records import ArrowTransformer, NeedsFrame, RecordTransformer
from mlpilot.models.registry import get_adapter

#: the archive format: 3 when a member was fitted under a target transform and records the
#: range it was fitted on (an mlpilot that reads only format 2 would map back outputs outside
#: it, so its predictions would differ: it must refuse the archive); 2 when a member has a
#: transform but no range (saved before ranges were recorded; still read); 1 otherwise
#: (byte-identical to archives saved before transforms; an mlpilot that reads only format 1
#: would answer in log or square-root units)
FORMAT_VERSION = 3
_FORMATS = (1, 2, 3)
_PACKAGES = {"numpy": "numpy", "pandas": "pandas", "sklearn": "scikit-learn",
             "lightgbm": "lightgbm", "skops": "skops", "mlpilot": "mlpilot"}


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a Predictor depends on."""
    versions = {"python": platform.python_version()}
    for key, dist in _PACKAGES.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = "unknown"
    return versions


@dataclass(frozen=True, eq=False)
class Member:
    """One fitted model with its feature pipeline (None for families that read no features)
    and, for regression, the transform its target was fitted under and the range, in the
    model's units, of the values it was fitted on (:mod:`.target`; None: not recorded)."""

    family: str
    features: FeaturePipeline | None
    model: Any
    weight: float = 1.0
    target: str = target_transform.IDENTITY
    target_range: tuple[float, float] | None = None


def fit_member(family: str, train_X: pd.DataFrame, train_y: Any, *, schema: Schema, task: Task,
               n_classes: int | None, params: dict[str, Any], seed: int, n_threads: int,
               valid_X: pd.DataFrame | None = None, valid_y: Any = None,
               deadline: float | None = None, features: FeaturePipeline | None = None,
               weight: float = 1.0) -> Member:
    """Fit the features (unless given already fitted) and a model of ``family``: one Member.

    ``params`` may name a regression target transform under
    :data:`mlpilot.models.target.KEY`; the Member records it."""
    adapter = get_adapter(family)
    target, params = target_transform.split_params(params)
    fitted = target_transform.fitted_range(target, np.asarray(train_y))
    if target != target_transform.IDENTITY:
        train_y = target_transform.forward(target, np.asarray(train_y))
        if valid_y is not None:
            valid_y = target_transform.forward(target, np.asarray(valid_y))
    if adapter.preprocessing == "none":
        features = None
        matrix, valid_matrix = np.zeros((len(train_X), 0)), None
    else:
        if features is None:
            features = FeaturePipeline(adapter.preprocessing).fit(train_X, schema)
        matrix = features.transform(train_X)
        valid_matrix = features.transform(valid_X) if valid_X is not None else None
    model = adapter.fit(
        matrix, np.asarray(train_y), task=task, n_classes=n_classes, params=params, seed=seed,
        n_threads=n_threads,
        categorical_indices=features.categorical_indices_ if features is not None else (),
        X_valid=valid_matrix, y_valid=None if valid_y is None else np.asarray(valid_y),
        deadline=deadline,
    )
    return Member(family, features, model, weight, target, fitted)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class Predictor:
    """A deployable model bundle.

    Args:
        schema: the training schema; inputs are validated against it.
        task: binary, multiclass or regression.
        classes: original label values (index i = encoded class i), None for regression.
        members: fitted members whose predictions are averaged with their weights.
        threshold: binary only: predict ``classes[1]`` when its probability >= threshold
            (0.5 when not given).
        versions: library versions the bundle was built with (the current ones by default).
    """

    schema: Schema
    task: Task
    classes: list[Any] | None
    members: Sequence[Member]
    threshold: float | None = None
    versions: dict[str, str] = field(default_factory=library_versions)

    def __post_init__(self) -> None:
        classes = None if self.classes is None else [_plain(c) for c in self.classes]
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "task", Task(self.task))
        if self.task is Task.BINARY and self.threshold is None:
            object.__setattr__(self, "threshold", 0.5)
        if not self.members:
            raise ConfigError("a Predictor needs at least one member", found="no members",
                              fix="pass the fitted member(s)")
        transformed = sorted({m.target for m in self.members} - {target_transform.IDENTITY})
        if self.task.is_classification and transformed:
            raise ConfigError("a target transform is for regression only",
                              expected="classification members fitted on the labels as they are",
                              found=f"members fitted under {', '.join(transformed)}",
                              fix=f"fit them without {target_transform.KEY}")
        if self.task.is_classification and (classes is None or len(classes) < 2):
            raise ConfigError("a classification Predictor needs its class labels",
                              expected="two or more classes", found=repr(classes),
                              fix="pass classes=[...] in encoded order")

    # ------------------------------------------------------------- predicting
    def _combined(self, df: pd.DataFrame) -> np.ndarray:
        frame = data_schema.validate_prediction_input(df, self.schema)
        return self._combine(lambda features: features.transform(frame), len(frame))

    def _combine(self, transform: Callable[[FeaturePipeline], np.ndarray], n: int
                 ) -> np.ndarray:
        """The weighted average of the members' outputs; ``transform`` gives each matrix."""
        total_weight = float(sum(m.weight for m in self.members))
        combined: np.ndarray | None = None
        for member in self.members:
            adapter = get_adapter(member.family)
            features = member.features
            matrix = np.zeros((n, 0)) if features is None else transform(features)
            part = adapter.predict(member.model, matrix, self.task)
            if self.task.is_classification:
                part = _pad(part, len(self.classes or ()))
            else:
                part = target_transform.inverse(member.target, part, member.target_range)
            part = part * (member.weight / total_weight)
            combined = part if combined is None else combined + part
        assert combined is not None
        return combined

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """(n, k) class probabilities, columns in the order of ``classes``."""
        if not self.task.is_classification:
            raise ConfigError("predict_proba needs a classification model",
                              found=f"a {self.task} model", fix="call predict(df) instead")
        return self._combined(df)

    def _label_index(self, proba: np.ndarray) -> np.ndarray:
        """The index into ``classes`` of each row's predicted label."""
        if self.task is Task.BINARY:
            threshold = 0.5 if self.threshold is None else float(self.threshold)
            return (proba[:, 1] >= threshold).astype(int)
        return np.argmax(proba, axis=1)

    def _labels(self, proba: np.ndarray) -> np.ndarray:
        labels = np.asarray(self.classes, dtype=object)
        return np.asarray(labels[self._label_index(proba)].tolist())

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Labels in the original class values, or float predictions for regression."""
        combined = self._combined(df)
        if not self.task.is_classification:
            return combined.astype(np.float64)
        return self._labels(combined)

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: ``prediction``, then ``proba_<class>`` per class."""
        return self._frame(self._combined(df))

    def predict_arrow(self, table: pa.Table) -> pd.DataFrame:
        """``predict_frame(table.to_pandas())`` for an Arrow table (a Parquet record batch),
        identical to it, with the features computed by vectorised Arrow compute
        (:class:`~mlpilot.models.records.ArrowTransformer`); a table with a column type only the
        pandas path coerces goes through ``predict_frame`` instead."""
        try:
            matrices = {id(f): t.transform(table) for f, t in self._arrow_transformers()}
        except NeedsFrame:
            return self.predict_frame(table.to_pandas())
        return self._frame(self._combine(lambda features: matrices[id(features)],
                                         table.num_rows))

    def predict_arrow_table(self, table: pa.Table) -> pa.Table:
        """:meth:`predict_arrow` as an Arrow table of :attr:`output_schema`: the same values,
        built without pandas on the fast path (batch prediction writes it as it is)."""
        try:
            matrices = {id(f): t.transform(table) for f, t in self._arrow_transformers()}
        except NeedsFrame:
            frame = self.predict_frame(table.to_pandas())
            return pa.Table.from_pandas(frame, preserve_index=False) \
                .replace_schema_metadata(None).cast(self.output_schema)
        combined = self._combine(lambda features: matrices[id(features)], table.num_rows)
        schema = self.output_schema
        if not self.task.is_classification:
            return pa.Table.from_arrays([pa.array(combined.astype(np.float64))], schema=schema)
        labels = self.__dict__.get("_arrow_labels")
        if labels is None:
            labels = pa.array(np.asarray(self.classes), type=schema.field("prediction").type)
            object.__setattr__(self, "_arrow_labels", labels)
        columns = [labels.take(pa.array(self._label_index(combined)))]
        columns.extend(pa.array(combined[:, i]) for i in range(len(self.classes or ())))
        return pa.Table.from_arrays(columns, schema=schema)

    @property
    def output_schema(self) -> pa.Schema:
        """The Arrow schema of a prediction table: ``prediction`` (the classes' type, float64
        for regression), then ``proba_<class>`` (float64) per class."""
        cached = self.__dict__.get("_output_schema")
        if cached is None:
            if not self.task.is_classification:
                cached = pa.schema([("prediction", pa.float64())])
            else:
                probas = [(f"proba_{cls}", pa.float64()) for cls in self.classes or ()]
                cached = pa.schema([("prediction", pa.array(np.asarray(self.classes)).type),
                                    *probas])
            object.__setattr__(self, "_output_schema", cached)
        return cached

    def _arrow_transformers(self) -> list[tuple[FeaturePipeline, ArrowTransformer]]:
        cached = self.__dict__.get("_arrow_cache")
        if cached is None:
            cached = [(f, ArrowTransformer(f, self.schema)) for f, _ in self._record_transformers()]
            object.__setattr__(self, "_arrow_cache", cached)
        return cached

    def _frame(self, combined: np.ndarray) -> pd.DataFrame:
        if not self.task.is_classification:
            return pd.DataFrame({"prediction": combined.astype(np.float64)})
        columns: dict[str, Any] = {"prediction": self._labels(combined)}
        for i, cls in enumerate(self.classes or ()):
            columns[f"proba_{cls}"] = combined[:, i]
        return pd.DataFrame(columns)

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``predict_frame`` for JSON records, as plain dicts: ``prediction`` then
        ``proba_<class>`` per class, one per record, in order.

        Identical (bit for bit) to ``frame_to_records(predict_frame(pd.DataFrame.from_records(
        records)))``, the reference, but without pandas: each member's matrix comes from
        :class:`~mlpilot.models.records.RecordTransformer`. Records holding a value only the
        pandas path knows how to coerce (see ``models/records.py``) are scored by the reference
        path instead, so the answer is the same either way.
        """
        try:
            matrices = {id(f): t.transform(records) for f, t in self._record_transformers()}
        except NeedsFrame:
            return frame_to_records(self.predict_frame(pd.DataFrame.from_records(records)))
        combined = self._combine(lambda features: matrices[id(features)], len(records))
        if not self.task.is_classification:
            return [{"prediction": p} for p in combined.astype(np.float64).tolist()]
        names = [f"proba_{cls}" for cls in self.classes or ()]
        labels = self._labels(combined).tolist()
        return [{"prediction": label, **dict(zip(names, proba, strict=True))}
                for label, proba in zip(labels, combined.tolist(), strict=True)]

    def _record_transformers(self) -> list[tuple[FeaturePipeline, RecordTransformer]]:
        """One compiled RecordTransformer per distinct feature pipeline (built once)."""
        cached = self.__dict__.get("_records_cache")
        if cached is None:
            cached, seen = [], set()
            for member in self.members:
                features = member.features
                if features is not None and id(features) not in seen:
                    seen.add(id(features))
                    cached.append((features, RecordTransformer(features, self.schema)))
            object.__setattr__(self, "_records_cache", cached)
        return cached

    # ------------------------------------------------------------- persisting
    def to_bytes(self) -> bytes:
        """Deterministic zip: ``predictor.json``, then a features and a model file per member."""
        files: dict[str, bytes] = {}
        members = []
        for i, member in enumerate(self.members):
            adapter = get_adapter(member.family)
            entry: dict[str, Any] = {"family": member.family, "weight": float(member.weight),
                                     "features": None,
                                     "model": f"member-{i}.model.{adapter.file_suffix}"}
            if member.target != target_transform.IDENTITY:  # absent: identity (older bundles)
                entry["target"] = member.target
            if member.target_range is not None:  # absent: not recorded (format 2)
                entry["target_range"] = [float(v) for v in member.target_range]
            if member.features is not None:
                entry["features"] = f"member-{i}.features.json"
                files[entry["features"]] = canonical_json(member.features.to_dict())
            files[entry["model"]] = adapter.dump(member.model)
            members.append(entry)
        manifest = {
            "format": _format(self.members),
            "schema": self.schema.to_dict(),
            "task": str(self.task),
            "classes": self.classes,
            "threshold": self.threshold,
            "members": members,
            "versions": dict(self.versions),
            "files": {name: sha256_bytes(data) for name, data in files.items()},
        }
        files["predictor.json"] = json.dumps(manifest, sort_keys=True, indent=1,
                                             allow_nan=False).encode("utf-8")
        return deterministic_zip(files)

    @classmethod
    def from_bytes(cls, data: bytes, expected_sha256: str | None = None) -> Predictor:
        """Load a Predictor from :meth:`to_bytes` output, verifying integrity first.

        Raises:
            IntegrityError: the sha256 differs from ``expected_sha256``, or the archive or one
                of its files is damaged.
        """
        if expected_sha256 is not None and sha256_bytes(data) != expected_sha256:
            raise _damaged(f"sha256 {sha256_bytes(data)[:12]}... instead of "
                           f"{expected_sha256[:12]}...")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                files = {name: archive.read(name) for name in archive.namelist()}
            manifest = json.loads(files["predictor.json"])
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, zlib.error) as exc:
            raise _damaged(f"an unreadable archive ({exc})") from exc
        if manifest.get("format") not in _FORMATS:
            raise ConfigError("unsupported Predictor format",
                              expected=" or ".join(f"format {f}" for f in _FORMATS),
                              found=str(manifest.get("format")),
                              fix="load it with the mlpilot version that saved it")
        for name, digest in manifest["files"].items():
            if name not in files or sha256_bytes(files[name]) != digest:
                raise _damaged(f"file {name!r} does not match its recorded sha256")
        members = []
        for entry in manifest["members"]:
            features = None
            if entry["features"] is not None:
                features = FeaturePipeline.from_dict(json.loads(files[entry["features"]]))
            model = get_adapter(entry["family"]).load(files[entry["model"]])
            target = target_transform.check(entry.get("target", target_transform.IDENTITY))
            fitted = entry.get("target_range")
            members.append(Member(entry["family"], features, model, float(entry["weight"]),
                                  target, None if fitted is None else
                                  (float(fitted[0]), float(fitted[1]))))
        return cls(schema=Schema.from_dict(manifest["schema"]), task=Task(manifest["task"]),
                   classes=manifest["classes"], members=members,
                   threshold=manifest["threshold"], versions=manifest["versions"])


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a ``predict_frame`` result as JSON-safe dicts (Python scalars), in order."""
    columns = [str(c) for c in frame.columns]
    plain = []
    for column in frame.columns:
        values = frame[column].to_numpy()
        plain.append(values.tolist() if values.dtype.kind != "O" else [_plain(x) for x in values])
    return [dict(zip(columns, row, strict=True)) for row in zip(*plain, strict=True)]


def _format(members: Sequence[Member]) -> int:
    """The oldest archive format that describes ``members`` (see :data:`FORMAT_VERSION`)."""
    if any(m.target_range is not None for m in members):
        return FORMAT_VERSION
    return 2 if any(m.target != target_transform.IDENTITY for m in members) else 1


def _damaged(found: str) -> IntegrityError:
    return IntegrityError(
        "the model artifact was modified or corrupted",
        expected="the exact bytes that were saved",
        found=found,
        fix="do not use this copy; fetch the artifact again from the workspace or re-run "
            "training to re-create it",
    )


def _pad(proba: np.ndarray, k: int) -> np.ndarray:
    if proba.shape[1] >= k:
        return proba[:, :k]
    return np.column_stack([proba, np.zeros((proba.shape[0], k - proba.shape[1]))])
