"""Feature preprocessing: a raw frame in, a float64 matrix out, fitted on training rows only.

Two modes share one pipeline. ``"tree"`` keeps missing values as NaN and turns categories into
integer codes (by training frequency) that LightGBM reads as categorical features. ``"linear"``
imputes, adds missing-value indicators, standardises numbers and one-hot encodes frequent levels.
Free-text columns become their length in characters and words plus a TF-IDF representation
(the most frequent terms of the training rows, weighted by inverse document frequency and
projected onto their top singular directions, so a few dense columns carry the vocabulary).

Each feature column becomes one *step*: a JSON-safe dict (kind, learned statistics and the
output column names). The whole state is a list of steps, so ``to_dict``/``from_dict`` round-trip
exactly without pickle.

``drop`` leaves features out by their tree-mode names: a numeric or categorical column's name
(the column gets no step) or a datetime part's ``column__part`` (the part is not derived). The
search drops the features that count time on time-ordered data when its validation says so
(:mod:`mlpilot.search.clocks`); the fitted steps simply lack them, so every path that reads the
steps (pandas, records, Arrow, ONNX) agrees.

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
    >>> schema = Schema(columns=(ColumnSchema("age", ColumnKind.INTEGER, "int64", True),
    ...                          ColumnSchema("city", ColumnKind.CATEGORICAL, "str", True),
    ...                          ColumnSchema("y", ColumnKind.BOOLEAN, "bool", False)), target="y")
    >>> X = pd.DataFrame({"age": [30, None, 50, 40], "city": ["Lyon", "Oslo", "Lyon", None]})
    >>> tree = FeaturePipeline("tree").fit(X, schema)
    >>> tree.feature_names_, tree.categorical_indices_
    (['age', 'city'], [1])
    >>> tree.transform(pd.DataFrame({"age": [1], "city": ["Paris"]})).tolist()
    [[1.0, nan]]
    >>> linear = FeaturePipeline("linear").fit(X, schema)
    >>> linear.feature_names_
    ['age', 'age__missing', 'city__missing']
    >>> FeaturePipeline.from_dict(linear.to_dict()).transform(X).shape
    (4, 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import ConfigError, SchemaError
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema

MODES = ("tree", "linear")
FORMAT_VERSION = 1
TREE_MAX_LEVELS = 255
LINEAR_MAX_LEVELS = 30
LINEAR_MIN_COUNT = 5
# "days": days since 1970-01-01 (fractions for the time of day), the moment as one number, so
# a tree finds a change at a date (a new labelling rule, a new price list) in one split
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "minute", "dayofyear", "days")
_DT_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
TEXT_MAX_TERMS = 300  # the vocabulary: the terms in most training rows (at least 2 rows)
TEXT_COMPONENTS = 16  # dense TF-IDF columns per text column (singular directions)
EIGEN_FLOOR = 1e-9  # of the largest: smaller singular directions carry no text
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's: words of two or more characters
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


class FeaturePipeline:
    """Turns the feature columns of a frame into a float64 matrix.

    Args:
        mode: ``"tree"`` (NaN kept, categorical codes) or ``"linear"`` (imputed, standardised,
            one-hot).
        drop: features left out, by their tree-mode names (a numeric, integer or categorical
            column, or a datetime part ``column__part``).
    """

    def __init__(self, mode: str = "tree", drop: Iterable[str] = ()) -> None:
        self.mode = mode
        self.drop = frozenset(drop)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame, schema: Schema) -> FeaturePipeline:
        """Learn the per-column statistics from training rows ``X`` over ``schema.features``."""
        if self.mode not in MODES:
            raise ConfigError(f"unknown feature mode {self.mode!r}",
                              expected="'tree' or 'linear'", found=repr(self.mode),
                              fix="use FeaturePipeline('tree') or ('linear')")
        _check_columns(X, [c.name for c in schema.features])
        self.steps_ = [self._fit_column(X[col.name], col, col.name == schema.time_column)
                       for col in schema.features
                       if not (col.name in self.drop
                               and col.kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER,
                                                ColumnKind.CATEGORICAL))]
        self._finish()
        return self

    def _finish(self) -> None:
        names: list[str] = []
        cats: list[int] = []
        for step in self.steps_:
            if step["kind"] == "codes":
                cats.append(len(names))
            names.extend(step["outputs"])
        self.feature_names_ = names
        self.categorical_indices_ = cats

    def _fit_column(self, series: pd.Series, col: ColumnSchema,
                    orders_time: bool = False) -> dict[str, Any]:
        kind = col.kind
        if kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER):
            return self._fit_numbers(col.name, {col.name: _as_float(series)}, col.nullable)
        if kind is ColumnKind.BOOLEAN:
            step = self._fit_numbers(col.name, {col.name: _as_bool(series)}, col.nullable,
                                     scale=False)
            step["kind"] = "boolean"
            return step
        if kind is ColumnKind.DATETIME:
            # every row to predict comes after the time column's training range, where its
            # moment never recurs: a split on it only tells the training period's days apart
            parts = _datetime_parts(series, [p for p in DATETIME_PARTS
                                             if not (orders_time and p == "days")
                                             and f"{col.name}__{p}" not in self.drop])
            kept = {key: v for key, v in parts.items() if _varies(v)}
            step = self._fit_numbers(col.name, kept, col.nullable)
            step.update(kind="datetime", parts=[k.rsplit("__", 1)[1] for k in kept])
            return step
        if kind is ColumnKind.TEXT:
            tfidf = fit_tfidf(series)
            step = self._fit_numbers(col.name, _text_stats(col.name, series, tfidf),
                                     col.nullable)
            step.update(kind="text", **tfidf)
            return step
        if kind is ColumnKind.CATEGORICAL:
            return self._fit_categorical(col.name, series)
        raise SchemaError(f"column {col.name!r} of kind {kind} cannot be a feature",
                          expected="numeric, integer, boolean, categorical, datetime or text",
                          found=str(kind), fix="mark it as an id column or change its kind")

    def _fit_numbers(self, name: str, values: dict[str, np.ndarray], nullable: bool,
                     *, scale: bool = True) -> dict[str, Any]:
        step: dict[str, Any] = {"kind": "numeric", "column": name, "outputs": list(values)}
        if self.mode == "tree":
            return step
        fills, means, stds = [], [], []
        any_missing = False
        for v in values.values():
            present = v[~np.isnan(v)]
            any_missing |= present.size < v.size
            fill = float(np.median(present)) if present.size else 0.0
            filled = np.where(np.isnan(v), fill, v)
            mean = float(filled.mean()) if scale and filled.size else 0.0
            std = float(filled.std()) if scale and filled.size else 1.0
            fills.append(fill)
            means.append(mean)
            stds.append(std if std > 0 else 1.0)
        indicator = bool(values) and (nullable or any_missing)
        step.update(fill=fills, mean=means, std=stds, indicator=indicator)
        if indicator:
            step["outputs"] = [*step["outputs"], f"{name}__missing"]
        return step

    def _fit_categorical(self, name: str, series: pd.Series) -> dict[str, Any]:
        strings = _as_str(series)
        counts = strings.value_counts(dropna=True)
        ranked = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0]))
        if self.mode == "tree":
            levels = [str(k) for k, _ in ranked[:TREE_MAX_LEVELS]]
            other = len(ranked) > TREE_MAX_LEVELS
            return {"kind": "codes", "column": name, "outputs": [name], "levels": levels,
                    "other": other}
        levels = [str(k) for k, c in ranked if int(c) >= LINEAR_MIN_COUNT][:LINEAR_MAX_LEVELS]
        outputs = [f"{name}={lvl}" for lvl in levels] + [f"{name}__missing"]
        return {"kind": "onehot", "column": name, "outputs": outputs, "levels": levels}

    # ---------------------------------------------------------------- transform
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix of ``X`` (rows in order, columns as ``feature_names_``)."""
        if not hasattr(self, "steps_"):
            raise ConfigError("the feature pipeline is not fitted", fix="call fit(X, schema) first")
        _check_columns(X, [s["column"] for s in self.steps_])
        blocks = [self._transform_step(X[s["column"]], s) for s in self.steps_]
        if not blocks:
            return np.zeros((len(X), 0), dtype=np.float64)
        return np.ascontiguousarray(np.column_stack(blocks), dtype=np.float64)

    def _transform_step(self, series: pd.Series, step: dict[str, Any]) -> np.ndarray:
        kind = step["kind"]
        if kind == "codes":
            mapping = {lvl: float(i) for i, lvl in enumerate(step["levels"])}
            strings = _as_str(series)
            codes = np.array(strings.map(mapping).to_numpy(dtype=np.float64, na_value=np.nan))
            if step["other"]:
                seen_other = strings.notna().to_numpy() & np.isnan(codes)
                codes[seen_other] = float(len(step["levels"]))
            return codes[:, None]
        if kind == "onehot":
            strings = _as_str(series)
            missing = strings.isna().to_numpy()
            values = strings.to_numpy(dtype=object)
            cols = [(values == lvl) & ~missing for lvl in step["levels"]]
            cols.append(missing)
            return np.column_stack(cols).astype(np.float64)
        if kind == "numeric":
            columns = [_as_float(series)]
        elif kind == "boolean":
            columns = [_as_bool(series)]
        elif kind == "datetime":
            columns = list(_datetime_parts(series, step["parts"]).values())
        else:  # text
            columns = list(_text_stats(step["column"], series, step).values())
        if not columns:
            return np.zeros((len(series), 0))
        return self.numbers_block(np.column_stack(columns), step)

    def numbers_block(self, matrix: np.ndarray, step: dict[str, Any]) -> np.ndarray:
        """A numeric-like step's output from its raw (n, parts) float matrix: as is in tree
        mode; filled, standardised and with the missing indicator in linear mode. Shared by
        :meth:`transform` and the record fast path (``models/records.py``)."""
        if self.mode == "tree":
            return matrix
        missing = np.isnan(matrix)
        filled = np.where(missing, np.asarray(step["fill"]), matrix)
        scaled = (filled - np.asarray(step["mean"])) / np.asarray(step["std"])
        if step["indicator"]:
            return np.column_stack([scaled, missing.any(axis=1).astype(np.float64)])
        return scaled

    # ---------------------------------------------------------------- persisting
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: the mode and the fitted steps."""
        return {"format": FORMAT_VERSION, "mode": self.mode, "steps": self.steps_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeaturePipeline:
        """Rebuild a fitted pipeline from :meth:`to_dict` output."""
        if data.get("format") != FORMAT_VERSION:
            raise ConfigError("unsupported feature pipeline format",
                              expected=f"format {FORMAT_VERSION}", found=str(data.get("format")),
                              fix="load it with the mlpilot version that saved it")
        pipeline = cls(data["mode"])
        pipeline.steps_ = [dict(step) for step in data["steps"]]
        pipeline._finish()
        return pipeline


def _check_columns(X: pd.DataFrame, names: list[str]) -> None:
    missing = [n for n in names if n not in X.columns]
    if missing:
        raise SchemaError(f"{len(missing)} feature column(s) missing from the frame",
                          expected="every training feature column",
                          found="missing: " + ", ".join(repr(m) for m in missing),
                          fix="send every feature column the model was trained with")


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _as_bool(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(values), np.nan, (values != 0).astype(np.float64))
    lowered = _as_str(series).str.strip().str.lower()
    mapped = lowered.map(lambda v: 1.0 if v in _TRUE else 0.0 if v in _FALSE else np.nan)
    return mapped.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_str(series: pd.Series) -> pd.Series:
    """Values compared as str; missing stays missing."""
    return series.astype("str")


def _datetime_parts(series: pd.Series, parts: Any) -> dict[str, np.ndarray]:
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, errors="coerce")
    dt = series.dt
    out = {}
    for part in parts:
        if part == "days":  # the wall-clock moment, floored to the second, as the other parts
            naive = series.dt.tz_localize(None) if dt.tz is not None else series
            stamps = naive.to_numpy()  # in the column's own unit: any date pandas can hold
            per_second = np.timedelta64(1, "s") // np.timedelta64(1, np.datetime_data(
                stamps.dtype)[0])
            seconds = np.floor_divide(stamps.view(np.int64), per_second).astype(np.float64)
            seconds[np.isnat(stamps)] = np.nan
            out[f"{series.name}__{part}"] = seconds * (1.0 / 86400.0)  # as records and ONNX do
            continue
        values = getattr(dt, _DT_ATTRIBUTES.get(part, part)).astype("float64")
        out[f"{series.name}__{part}"] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _varies(values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    return present.size > 0 and bool(present.min() != present.max())


def _text_stats(name: str, series: pd.Series,
                tfidf: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """A text column's raw numeric columns: characters, words and (when ``tfidf`` holds a
    fitted vocabulary, see :func:`fit_tfidf`) its dense TF-IDF components."""
    strings = _as_str(series)
    length = strings.str.len().to_numpy(dtype=np.float64, na_value=np.nan)
    if strings.isna().all():  # .str.split() of all-missing values is not a str column
        words = np.full(len(strings), np.nan)
    else:
        words = strings.str.split().str.len().to_numpy(dtype=np.float64, na_value=np.nan)
    out = {f"{name}__chars": length, f"{name}__words": words}
    if tfidf and tfidf.get("vocabulary"):
        projected = tfidf_matrix(strings, tfidf) @ np.asarray(tfidf["components"])
        missing = strings.isna().to_numpy()
        for i in range(projected.shape[1]):
            out[f"{name}__text{i}"] = np.where(missing, np.nan, projected[:, i])
    return out


def _tokens(strings: pd.Series) -> list[list[str]]:
    """Lower-cased word tokens per row (missing rows have none)."""
    found = strings.str.lower().str.findall(TOKEN_PATTERN)
    return [v if isinstance(v, list) else [] for v in found.tolist()]


def fit_tfidf(series: pd.Series) -> dict[str, Any]:
    """The TF-IDF state of a text column, learned from training rows: ``vocabulary`` (the
    :data:`TEXT_MAX_TERMS` terms found in most rows, at least two), their smoothed ``idf``
    and ``components``, the top :data:`TEXT_COMPONENTS` right singular vectors of the
    L2-normalised TF-IDF matrix (from the eigenvectors of its Gram matrix, with signs fixed so
    the largest entry of each is positive: the same rows always give the same numbers).
    Empty when no term is in two rows.

    Example:
        >>> texts = pd.Series(["red apple pie", "green apple", "red wine", None, "red apple"])
        >>> state = fit_tfidf(texts)
        >>> state["vocabulary"], len(state["components"][0])
        (['apple', 'red'], 2)
    """
    rows = _tokens(_as_str(series))
    n = len(rows)
    df: dict[str, int] = {}
    for tokens in rows:
        for term in set(tokens):
            df[term] = df.get(term, 0) + 1
    ranked = sorted((t for t, c in df.items() if c >= 2), key=lambda t: (-df[t], t))
    vocabulary = sorted(ranked[:TEXT_MAX_TERMS])
    if not vocabulary:
        return {}
    idf = [float(np.log((1 + n) / (1 + df[t])) + 1.0) for t in vocabulary]
    state: dict[str, Any] = {"vocabulary": vocabulary, "idf": idf}
    matrix = tfidf_matrix(_as_str(series), {**state, "components": None})
    gram = (matrix.T @ matrix).toarray()
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(-values, kind="stable")[:min(TEXT_COMPONENTS, len(vocabulary))]
    # directions without variance are rounding noise (scaled up, they could not be reproduced)
    keep = order[values[order] > EIGEN_FLOOR * max(float(values.max()), 0.0)]
    components = vectors[:, keep]
    signs = np.sign(components[np.abs(components).argmax(axis=0), range(components.shape[1])])
    components = components * np.where(signs == 0, 1.0, signs)
    state["components"] = components.tolist()
    return state


def tfidf_matrix(strings: pd.Series, tfidf: dict[str, Any]) -> Any:
    """The sparse (n, terms) L2-normalised TF-IDF matrix of ``strings`` over the fitted
    vocabulary (terms outside it are ignored)."""
    from scipy import sparse

    index = {term: i for i, term in enumerate(tfidf["vocabulary"])}
    idf = np.asarray(tfidf["idf"], dtype=np.float64)
    indptr, indices, data = [0], [], []
    for tokens in _tokens(strings):
        counts: dict[int, int] = {}
        for term in tokens:
            j = index.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        cols = sorted(counts)
        weights = np.array([counts[j] for j in cols], dtype=np.float64) * idf[cols]
        norm = float(np.sqrt(np.sum(weights * weights)))
        indices.extend(cols)
        data.extend((weights / norm).tolist() if norm > 0 else weights.tolist())
        indptr.append(len(indices))
    return sparse.csr_matrix((np.asarray(data, dtype=np.float64), indices, indptr),
                             shape=(len(indptr) - 1, len(index)))
