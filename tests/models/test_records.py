"""The record fast path is bit-identical to the pandas path, for every family and column kind.

Rows are real flights (examples/flights_sample.parquet) with extra columns derived from them so
every kind the FeaturePipeline supports appears, with missing values: a float, a nullable
integer, a nullable boolean, a nullable category, a text and a nullable datetime. Records go
through the server's own request model (JSON in, pydantic out), then both paths score them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlpilot.core.config import Task
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema, validate_prediction_input
from mlpilot.models.predictor import Predictor, fit_member, frame_to_records
from mlpilot.models.records import NeedsFrame, RecordTransformer
from mlpilot.models.registry import FAMILIES, get_adapter
from mlpilot.server.schemas import RequestBody

FLIGHTS = Path(__file__).resolve().parents[2] / "examples" / "flights_sample.parquet"
N_TRAIN = 1500
COLUMNS = {  # name: (kind, dtype, nullable)
    "month": (ColumnKind.INTEGER, "int64", False),
    "sched_dep_time": (ColumnKind.INTEGER, "int64", False),
    "carrier": (ColumnKind.CATEGORICAL, "str", False),
    "tailnum": (ColumnKind.CATEGORICAL, "str", False),
    "origin": (ColumnKind.CATEGORICAL, "str", False),
    "dest": (ColumnKind.CATEGORICAL, "str", False),
    "distance": (ColumnKind.INTEGER, "int64", False),
    "time_hour": (ColumnKind.DATETIME, "datetime64[us]", False),
    "speed": (ColumnKind.NUMERIC, "float64", True),
    "seats": (ColumnKind.INTEGER, "float64", True),
    "wet": (ColumnKind.BOOLEAN, "boolean", True),
    "terminal": (ColumnKind.CATEGORICAL, "str", True),
    "remark": (ColumnKind.TEXT, "str", True),
    "booked_at": (ColumnKind.DATETIME, "datetime64[us]", True),
    "delayed": (ColumnKind.INTEGER, "int64", False),
}
NULLABLE = [name for name, (_, _, nullable) in COLUMNS.items() if nullable]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """2,100 real flights plus derived columns of every kind, ~10% missing in the extras."""
    rng = np.random.default_rng(7)
    df = pd.read_parquet(FLIGHTS).sample(n=N_TRAIN + 600, random_state=3)
    df = df.reset_index(drop=True)
    n = len(df)

    def holes(values: pd.Series) -> pd.Series:
        return values.mask(rng.random(n) < 0.1)

    df["speed"] = holes(df["distance"] / (df["sched_arr_time"] % 500 + 37.5))
    df["seats"] = holes((df["flight"] % 7 * 30 + 90).astype("float64"))
    df["wet"] = holes(pd.Series(df["day"] % 3 == 0, dtype="boolean"))
    df["terminal"] = holes(("T" + (df["flight"] % 5).astype(str)).astype("str"))
    words = np.array(["on time", "gate  change", "crew\u3000swap today", "", "late inbound"])
    df["remark"] = holes(pd.Series(words[df["flight"].to_numpy() % 5], dtype="str")
                         + " " + df["dest"])
    df["booked_at"] = holes(df["time_hour"] - pd.to_timedelta(df["flight"] % 900, unit="h")
                            - pd.to_timedelta(df["minute"], unit="m"))
    return df


def schema_for(target: str) -> Schema:
    return Schema(columns=tuple(ColumnSchema(name, kind, dtype, nullable)
                                for name, (kind, dtype, nullable) in COLUMNS.items()),
                  target=target, time_column="time_hour")


TASKS = {"binary": ("delayed", Task.BINARY), "multiclass": ("origin", Task.MULTICLASS),
         "regression": ("distance", Task.REGRESSION)}


def fit(frame: pd.DataFrame, task_name: str, families: list[str], *, seeds: list[int] | None = None,
        shared: bool = False) -> Predictor:
    """A Predictor of one member per family (or per seed when bagging one family)."""
    target, task = TASKS[task_name]
    schema = schema_for(target)
    X = frame[list(schema.feature_columns)].iloc[:N_TRAIN]
    raw_y = frame[target].iloc[:N_TRAIN]
    classes = sorted(raw_y.unique().tolist()) if task.is_classification else None
    y = raw_y.map({c: i for i, c in enumerate(classes)}).to_numpy() if classes else raw_y.to_numpy(
        dtype=float)
    members, features = [], None
    plan = [(f, s) for f in families for s in (seeds or [0])]
    for i, (family, seed) in enumerate(plan):
        adapter = get_adapter(family)
        params = {**adapter.default_params(task, N_TRAIN), **adapter.small_params}
        member = fit_member(family, X, y, schema=schema, task=task,
                            n_classes=len(classes) if classes else None, params=params,
                            seed=seed, n_threads=1, features=features if shared else None,
                            weight=1.0 + i)
        if shared:
            features = member.features
        members.append(member)
    return Predictor(schema, task, classes, members)


def as_records(predictor: Predictor, rows: pd.DataFrame) -> list[dict]:
    """Rows as the server receives them: JSON, then the generated request model."""
    body = RequestBody.build("flights", predictor.schema, strict=False)
    return body.parse(json.dumps({"records": as_json(predictor, rows)}).encode())


def as_json(predictor: Predictor, rows: pd.DataFrame) -> list[dict]:
    """The JSON objects a client sends for ``rows`` (feature columns only)."""
    rows = rows[list(predictor.schema.feature_columns)]
    payload = json.loads(rows.to_json(orient="records", date_format="iso", date_unit="us"))
    integers = [c.name for c in predictor.schema.features if c.kind is ColumnKind.INTEGER]
    for record in payload:  # absent keys exercise the optional fields too
        for name in integers:  # a nullable integer column is float in pandas, not in JSON
            if isinstance(record.get(name), float):
                record[name] = int(record[name])
        for name in NULLABLE:
            if record.get(name) is None and hash(str(record.get("tailnum"))) % 2:
                record.pop(name, None)
    return payload


def reference(predictor: Predictor, records: list[dict]) -> list[dict]:
    return frame_to_records(predictor.predict_frame(pd.DataFrame.from_records(records)))


def assert_bit_identical(predictor: Predictor, records: list[dict]) -> None:
    frame = validate_prediction_input(pd.DataFrame.from_records(records), predictor.schema)
    for features, transformer in predictor._record_transformers():
        fast, slow = transformer.transform(records), features.transform(frame)
        assert fast.shape == slow.shape and fast.dtype == slow.dtype
        fast, slow = fast.copy(), slow.copy()
        fast[np.isnan(fast)] = np.nan  # one NaN bit pattern; every other bit must agree
        slow[np.isnan(slow)] = np.nan
        assert fast.tobytes() == slow.tobytes()
    got, want = predictor.predict_records(records), reference(predictor, records)
    assert got == want
    assert [type(v) for v in got[0].values()] == [type(v) for v in want[0].values()]


EDGES = [
    {"carrier": "ZZ", "tailnum": "N00000", "dest": "XXX", "terminal": "T99"},  # unseen
    {"speed": None, "seats": None, "wet": None, "terminal": None, "remark": None,
     "booked_at": None},  # every optional value missing
    {"remark": "", "terminal": ""},  # empty strings are values, not missing
    {"remark": "a\x1cb\u2028c\u00a0d  e\u200bf", "carrier": "\u00e9t\u00e9"},  # unicode
    {"booked_at": "2013-02-03", "time_hour": "2013-02-03T04:05:06.123456"},  # ISO strings
    {"wet": False, "speed": 0.0, "seats": 0},
    {"speed": -1e300, "seats": 2**53},
]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_matches_the_pandas_path(frame, family):
    predictor = fit(frame, "binary", [family])
    rows = frame.iloc[N_TRAIN:].drop(columns=["delayed"])
    records = as_records(predictor, rows)
    assert_bit_identical(predictor, records)
    assert_bit_identical(predictor, records[:1])


@pytest.mark.parametrize(("task", "families", "seeds", "shared"), [
    ("binary", ["lightgbm", "linear", "baseline", "knn"], None, False),  # ensemble
    ("binary", ["lightgbm"], [0, 1, 2], True),  # bagged, one shared pipeline
    ("multiclass", ["lightgbm", "linear"], None, False),
    ("regression", ["xgboost", "linear", "random_forest"], None, False),
])
def test_ensembles_and_bagged_predictors_match(frame, task, families, seeds, shared):
    predictor = fit(frame, task, families, seeds=seeds, shared=shared)
    target = TASKS[task][0]
    records = as_records(predictor, frame.iloc[N_TRAIN:N_TRAIN + 300].drop(columns=[target]))
    assert_bit_identical(predictor, records)


@pytest.fixture(scope="module")
def pair(frame) -> Predictor:
    """A tree and a linear pipeline in one Predictor (codes and one-hot, scaled and raw)."""
    return fit(frame, "binary", ["lightgbm", "linear"])


def test_edge_cases_through_the_request_model(frame, pair):
    base = as_json(pair, frame.iloc[N_TRAIN:N_TRAIN + len(EDGES)])
    payload = [{**row, **edge} for row, edge in zip(base, EDGES, strict=True)]
    body = RequestBody.build("flights", pair.schema, strict=True)
    records = body.parse(json.dumps({"records": payload}).encode())
    assert_bit_identical(pair, records)
    for record in records:  # one at a time, as single-row requests are
        assert_bit_identical(pair, [record])


def test_random_holes_anywhere_match(frame, pair):
    """Property-style: random rows with values randomly set to None in any column (not only
    the optional ones: a direct caller of predict_records may send them)."""
    rng = np.random.default_rng(11)
    rows = frame.iloc[N_TRAIN:].drop(columns=["delayed"])
    records = as_records(pair, rows)
    for _ in range(25):
        picked = [dict(records[i]) for i in rng.choice(len(records), size=rng.integers(1, 40))]
        for record in picked:
            for name in rng.choice(list(record), size=rng.integers(0, 4), replace=False):
                record[str(name)] = None
        assert_bit_identical(pair, picked)


@pytest.mark.parametrize("change", [
    {"distance": "1400"},  # a numeric string: pandas coerces it
    {"seats": 2**60},  # beyond exact floats
    {"booked_at": "2013-02-03T04:05:06+02:00"},  # timezone-aware
    {"seats": 3.0},  # a float for an integer column
], ids=["numeric-string", "huge-int", "tz-aware", "float-for-int"])
def test_values_only_pandas_defines_fall_back_to_it(frame, pair, change):
    records = as_records(pair, frame.iloc[N_TRAIN:N_TRAIN + 5].drop(columns=["delayed"]))
    records[2] = {**records[2], **change}
    if "booked_at" in change:
        records[2]["booked_at"] = pd.Timestamp(change["booked_at"]).to_pydatetime()
    transformer = pair._record_transformers()[0][1]
    with pytest.raises(NeedsFrame):
        transformer.transform(records)
    assert outcome(pair.predict_records, records) == outcome(lambda r: reference(pair, r),
                                                             records)


def outcome(score, records: list[dict]) -> tuple:
    """The answer, or the error (type and message) when the records are refused."""
    try:
        return ("answer", score(records))
    except Exception as exc:  # the pandas path refuses e.g. naive and aware times mixed
        return (type(exc).__name__, str(exc))


def test_a_record_without_a_feature_key_falls_back(frame, pair):
    records = as_records(pair, frame.iloc[N_TRAIN:N_TRAIN + 3].drop(columns=["delayed"]))
    records[1] = {k: v for k, v in records[1].items() if k != "speed"}
    assert pair.predict_records(records) == reference(pair, records)
    with pytest.raises(Exception, match="missing"):  # the pandas path's own SchemaError
        pair.predict_records([{k: v for k, v in r.items() if k != "speed"} for r in records])


def test_transformer_needs_a_fitted_pipeline(pair):
    from mlpilot.models.features import FeaturePipeline

    with pytest.raises(ValueError, match="not fitted"):
        RecordTransformer(FeaturePipeline("tree"), pair.schema)


def arrow_table(frame: pd.DataFrame, predictor: Predictor) -> pa.Table:
    return pa.Table.from_pandas(frame[list(predictor.schema.feature_columns)],
                                preserve_index=False)


def test_arrow_batches_match_the_pandas_path(frame, pair):
    """Batch prediction's vectorised path: every kind, missing values, unseen levels."""
    rows = frame.iloc[N_TRAIN:].copy()
    rows.loc[rows.index[:50], "carrier"] = "ZZ"  # unseen levels
    rows.loc[rows.index[50:60], "remark"] = None
    table = arrow_table(rows, pair)
    reference_frame = table.to_pandas()
    checked = validate_prediction_input(reference_frame, pair.schema)
    for features, transformer in pair._arrow_transformers():
        fast, slow = transformer.transform(table), features.transform(checked)
        fast[np.isnan(fast)] = np.nan
        slow = slow.copy()
        slow[np.isnan(slow)] = np.nan
        assert fast.tobytes() == slow.tobytes()
    assert pair.predict_arrow(table).equals(pair.predict_frame(reference_frame))
    one = table.slice(60, 1)  # a chunk whose text is all missing
    assert pair.predict_arrow(one).equals(pair.predict_frame(one.to_pandas()))


@pytest.mark.parametrize("column", ["distance", "time_hour", "carrier", "seats"])
def test_arrow_types_only_pandas_coerces_fall_back(frame, pair, column):
    rows = frame.iloc[N_TRAIN:N_TRAIN + 100].copy()
    if column == "time_hour":
        rows[column] = rows[column].dt.tz_localize("Europe/Oslo")
    elif column == "seats":
        rows[column] = rows[column] + 0.5  # fractional values for an integer column
    else:
        rows[column] = rows[column].astype(str).astype(object)
        if column == "carrier":
            rows[column] = pd.Categorical(rows[column])
            rows[column] = rows[column].cat.codes  # integers for a categorical column
    table = arrow_table(rows, pair)
    with pytest.raises(NeedsFrame):
        pair._arrow_transformers()[0][1].transform(table)
    fast = outcome(lambda _: pair.predict_arrow(table).to_dict("list"), [])
    assert fast == outcome(lambda _: pair.predict_frame(table.to_pandas()).to_dict("list"), [])
