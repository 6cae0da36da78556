"""ONNX export: one graph from the raw columns to the Predictor's answers, checked by onnxruntime.

Rows are real flights (examples/flights_sample.parquet) with columns derived from them so every
column kind appears with missing values: a float, a nullable integer, a nullable boolean, a
nullable category, a text and a nullable datetime, next to the flights' own integers,
categories and departure time.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import TensorProto

from mlpilot.cli.main import main
from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, IntegrityError
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
from mlpilot.models.features import FeaturePipeline
from mlpilot.models.onnx.features import feature_matrix
from mlpilot.models.onnx.graph import GraphBuilder
from mlpilot.models.onnx.inputs import feed_from_frame, input_specs
from mlpilot.models.onnx_export import export_onnx
from mlpilot.models.predictor import Member, Predictor, fit_member
from mlpilot.models.registry import get_adapter
from mlpilot.pipeline.workspace import Workspace

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
TASKS = {"binary": ("delayed", Task.BINARY), "multiclass": ("origin", Task.MULTICLASS),
         "regression": ("distance", Task.REGRESSION)}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """2,100 real flights plus derived columns of every kind, ~10% missing in the extras."""
    rng = np.random.default_rng(11)
    df = pd.read_parquet(FLIGHTS).sample(n=N_TRAIN + 600, random_state=5).reset_index(drop=True)
    n = len(df)

    def holes(values: pd.Series) -> pd.Series:
        return values.mask(rng.random(n) < 0.1)

    df["speed"] = holes(df["distance"] / (df["sched_arr_time"] % 500 + 37.5))
    df["seats"] = holes((df["flight"] % 7 * 30 + 90).astype("float64"))
    df["wet"] = holes(pd.Series(df["day"] % 3 == 0, dtype="boolean"))
    df["terminal"] = holes(("T" + (df["flight"] % 5).astype(str)).astype("str"))
    words = np.array(["on time", "gate  change", "crew\u3000swap today", "late inbound",
                      "weather hold at gate"])
    df["remark"] = holes(pd.Series(words[df["flight"].to_numpy() % 5], dtype="str")
                         + " " + df["dest"] + " " + df["carrier"])
    df["booked_at"] = holes(df["time_hour"] - pd.to_timedelta(df["flight"] % 900, unit="h")
                            - pd.to_timedelta(df["minute"], unit="m"))
    return df


def schema_for(target: str, columns: dict = COLUMNS) -> Schema:
    return Schema(columns=tuple(ColumnSchema(name, kind, dtype, nullable)
                                for name, (kind, dtype, nullable) in columns.items()),
                  target=target, time_column="time_hour")


def problem(frame: pd.DataFrame, task_name: str, columns: dict = COLUMNS) -> dict:
    target, task = TASKS[task_name]
    schema = schema_for(target, columns)
    values = frame[target]
    classes = sorted(values.unique().tolist()) if task.is_classification else None
    y = (values.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64) if classes
         else values.to_numpy(dtype=np.float64))
    return {"schema": schema, "task": task, "classes": classes, "y": y,
            "X": frame[list(schema.feature_columns)]}


def member(data: dict, family: str, *, weight: float = 1.0, rows: slice | np.ndarray = slice(
        0, N_TRAIN), features: FeaturePipeline | None = None, **params) -> Member:
    adapter = get_adapter(family)
    task = data["task"]
    settings = {**adapter.default_params(task, N_TRAIN), **adapter.small_params, **params}
    return fit_member(family, data["X"].iloc[rows], data["y"][rows], schema=data["schema"],
                      task=task, n_classes=len(data["classes"] or ()) or None, params=settings,
                      seed=0, n_threads=1, weight=weight, features=features)


def stored(data: dict, members: list[Member], threshold: float | None = None) -> Predictor:
    """The Predictor as a registered version holds it (through its bytes)."""
    predictor = Predictor(data["schema"], data["task"], data["classes"], members,
                          threshold=threshold)
    return Predictor.from_bytes(predictor.to_bytes())


def run_graph(data: bytes, rows: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed_from_frame(rows, schema)), strict=True))


def assert_answers_like(predictor: Predictor, result, rows: pd.DataFrame) -> None:
    got = run_graph(result.data, rows, predictor.schema)
    if predictor.task.is_classification:
        np.testing.assert_allclose(got["probabilities"], predictor.predict_proba(rows),
                                   rtol=0, atol=1e-6)
        assert got["prediction"].tolist() == predictor.predict(rows).tolist()
    else:
        np.testing.assert_allclose(got["prediction"], predictor.predict(rows), rtol=1e-6)


CASES = [*((family, task) for family in ("lightgbm", "xgboost", "random_forest", "linear")
            for task in ("binary", "multiclass", "regression")),
         ("extra_trees", "binary"), ("knn", "binary"), ("knn", "regression")]


@pytest.mark.parametrize(("family", "task_name"), CASES)
def test_each_family_exports_one_graph_from_raw_columns(frame, family, task_name):
    data = problem(frame, task_name)
    predictor = stored(data, [member(data, family)])
    rows = frame.iloc[N_TRAIN:]
    result = export_onnx(predictor, rows)
    assert result.rows_checked == len(rows) and result.max_diff <= 1e-4
    assert result.family == family
    assert result.inputs == data["schema"].feature_columns  # one input per column, by name
    assert_answers_like(predictor, result, rows)


def test_catboost_without_categorical_columns_exports_with_its_own_converter(frame):
    numbers = {name: spec for name, spec in COLUMNS.items()
               if spec[0] in (ColumnKind.INTEGER, ColumnKind.NUMERIC, ColumnKind.BOOLEAN)}
    rows = frame.iloc[N_TRAIN:]
    for task_name in ("binary", "regression"):
        data = problem(frame, task_name, numbers)
        predictor = stored(data, [member(data, "catboost")])
        result = export_onnx(predictor, rows)
        assert result.family == "catboost" and result.max_diff <= 1e-4
        assert_answers_like(predictor, result, rows)


def test_catboost_with_categorical_columns_is_refused_by_name(frame):
    data = problem(frame, "binary")
    predictor = stored(data, [member(data, "catboost")])
    with pytest.raises(ConfigError, match=r"CatBoost's ONNX export does not support "
                                          r"categorical features.*'carrier'"):
        export_onnx(predictor, frame.iloc[N_TRAIN:])


def test_an_ensemble_of_families_averages_members_and_applies_the_threshold(frame):
    data = problem(frame, "binary")
    members = [member(data, "lightgbm", weight=0.36), member(data, "linear", weight=0.2),
               member(data, "xgboost", weight=0.16), member(data, "random_forest", weight=0.12),
               member(data, "knn", weight=0.08), member(data, "baseline", weight=0.08)]
    predictor = stored(data, members, threshold=0.31)
    rows = frame.iloc[N_TRAIN:]
    result = export_onnx(predictor, rows)
    assert result.family.startswith("ensemble (lightgbm x1, linear x1, xgboost x1")
    assert_answers_like(predictor, result, rows)
    labels = run_graph(result.data, rows, data["schema"])["prediction"]
    assert 0 < labels.mean() < 1 and labels.tolist() == predictor.predict(rows).tolist()


def test_members_fitted_under_a_target_transform_map_back_in_the_graph(frame):
    data = problem(frame, "regression")
    members = [member(data, "lightgbm", weight=0.5, target_transform="log1p"),
               member(data, "linear", weight=0.3, target_transform="sqrt"),
               member(data, "xgboost", weight=0.2)]
    predictor = stored(data, members)
    assert [m.target for m in predictor.members] == ["log1p", "sqrt", "identity"]
    rows = frame.iloc[N_TRAIN:]
    result = export_onnx(predictor, rows)
    described = json.loads({p.key: p.value for p in onnx.load_from_string(result.data)
                            .metadata_props}["mlpilot.members"])
    assert [m.get("target") for m in described] == ["log1p", "sqrt", None]
    assert_answers_like(predictor, result, rows)
    distance = rows["distance"].to_numpy(dtype=float)  # the graph answers in miles, not logs
    assert np.corrcoef(run_graph(result.data, rows, data["schema"])["prediction"],
                       distance)[0, 1] > 0.9
    assert [m.get("target_range") for m in described][2] is None
    assert all(m["target_range"] == list(p.target_range)
               for m, p in zip(described[:2], predictor.members, strict=False))
    # the graph clips to the fitted range as the Predictor does, where the range bites
    def narrowed(m):
        if m.target_range is None:
            return m
        low, high = m.target_range
        return replace(m, target_range=(low + (high - low) * 0.4, low + (high - low) * 0.5))

    narrow = replace(predictor, members=[narrowed(m) for m in predictor.members])
    assert not np.allclose(narrow.predict(rows), predictor.predict(rows))
    assert_answers_like(narrow, export_onnx(narrow, rows), rows)


def test_bagged_fold_models_share_one_preprocessing_subgraph(frame):
    data = problem(frame, "multiclass")
    pipeline = FeaturePipeline("tree").fit(data["X"].iloc[:N_TRAIN], data["schema"])
    folds = np.array_split(np.arange(N_TRAIN), 5)
    members = [member(data, "lightgbm", weight=0.2, features=pipeline,
                      rows=np.concatenate(folds[:i] + folds[i + 1:])) for i in range(5)]
    predictor = stored(data, members)  # the bytes give every fold its own pipeline object
    rows = frame.iloc[N_TRAIN:]
    result = export_onnx(predictor, rows)
    assert result.family == "ensemble (lightgbm x5)"
    encoders = [n for n in onnx.load_from_string(result.data).graph.node
                if n.op_type == "LabelEncoder" and n.input[0] == "carrier"]
    assert len(encoders) == 1
    assert_answers_like(predictor, result, rows)


def test_the_metadata_states_the_contract(frame):
    data = problem(frame, "binary")
    predictor = stored(data, [member(data, "lightgbm")], threshold=0.42)
    model = onnx.load_from_string(export_onnx(predictor, frame.iloc[N_TRAIN:]).data)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["mlpilot.classes"]) == [0, 1]
    assert json.loads(meta["mlpilot.threshold"]) == 0.42
    inputs = {i["name"]: i for i in json.loads(meta["mlpilot.inputs"])}
    assert inputs["carrier"]["type"] == "string" and inputs["speed"]["type"] == "double"
    assert "seconds since 1970" in inputs["booked_at"]["meaning"]
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert types["remark"] == TensorProto.STRING and types["wet"] == TensorProto.DOUBLE
    assert [o.name for o in model.graph.output] == ["probabilities", "prediction"]


def feature_graph(pipeline: FeaturePipeline, schema: Schema) -> ort.InferenceSession:
    g = GraphBuilder()
    columns = {s.name: g.add_input(s.name, s.elem_type, [None, 1]) for s in input_specs(schema)}
    g.add_output(feature_matrix(g, pipeline, columns), "matrix", TensorProto.DOUBLE,
                 [None, len(pipeline.feature_names_)])
    return ort.InferenceSession(g.build().SerializeToString(),
                                providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("mode", ["tree", "linear"])
def test_the_preprocessing_graph_reproduces_the_feature_pipeline(frame, mode):
    data = problem(frame, "binary")
    pipeline = FeaturePipeline(mode).fit(data["X"].iloc[:N_TRAIN], data["schema"])
    rows = frame.iloc[N_TRAIN:]
    got = feature_graph(pipeline, data["schema"]).run(
        None, feed_from_frame(rows, data["schema"]))[0]
    np.testing.assert_allclose(got, pipeline.transform(rows), rtol=0, atol=1e-12)


def test_datetime_parts_match_pandas_over_five_centuries():
    rng = np.random.default_rng(3)
    seconds = rng.integers(-8_000_000_000, 10_000_000_000, 5000)  # years 1716 to 2286
    when = pd.Series(pd.to_datetime(seconds, unit="s")).astype("datetime64[us]")
    when[rng.random(5000) < 0.05] = pd.NaT
    schema = Schema(columns=(ColumnSchema("when", ColumnKind.DATETIME, "datetime64[us]", True),
                             ColumnSchema("y", ColumnKind.INTEGER, "int64", False)), target="y")
    rows = pd.DataFrame({"when": when})
    pipeline = FeaturePipeline("tree").fit(rows, schema)
    assert len(pipeline.feature_names_) == 8  # seven calendar parts and the days since the epoch
    got = feature_graph(pipeline, schema).run(None, feed_from_frame(rows, schema))[0]
    np.testing.assert_array_equal(got, pipeline.transform(rows))  # NaN where NaT, exact ints


def test_lightgbm_missing_types_none_and_zero_follow_lightgbm():
    rng = np.random.default_rng(5)
    rows = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    rows.loc[rng.random(3000) < 0.3, "b"] = 0.0
    y = ((rows["a"] > 0.2) ^ (rows["b"] == 0.0)).to_numpy(dtype=np.int64)
    schema = Schema(columns=(ColumnSchema("a", ColumnKind.NUMERIC, "float64", True),
                             ColumnSchema("b", ColumnKind.NUMERIC, "float64", True),
                             ColumnSchema("y", ColumnKind.INTEGER, "int64", False)), target="y")
    pipeline = FeaturePipeline("tree").fit(rows, schema)
    # "a" has no missing value in training (missing type None: NaN is read as 0); with
    # zero_as_missing, "b" has type Zero (0 and NaN go the default way)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_threads": 1,
                         "zero_as_missing": True, "seed": 0},
                        lgb.Dataset(pipeline.transform(rows), y), num_boost_round=20)
    predictor = Predictor(schema, Task.BINARY, [0, 1],
                          [Member("lightgbm", pipeline, booster)])
    probe = pd.DataFrame({"a": [np.nan, 0.0, 0.5, np.nan, -1.0] * 20,
                          "b": [0.0, np.nan, 1e-36, 0.3, np.nan] * 20})
    result = export_onnx(predictor, probe)
    assert result.max_diff < 1e-6
    assert_answers_like(predictor, result, probe)


def test_a_time_zone_other_than_utc_is_refused_by_column_name():
    schema = Schema(columns=(
        ColumnSchema("local_time", ColumnKind.DATETIME, "datetime64[us, Europe/Paris]", False),
        ColumnSchema("y", ColumnKind.INTEGER, "int64", False)), target="y")
    with pytest.raises(ConfigError, match="datetime column 'local_time' holds times in a time "
                                          "zone"):
        input_specs(schema)


def test_an_empty_string_category_is_refused_as_it_means_missing(frame):
    columns = {"carrier": COLUMNS["carrier"], "delayed": COLUMNS["delayed"]}
    data = problem(frame.assign(carrier=frame["carrier"].replace("UA", "")), "binary", columns)
    predictor = stored(data, [member(data, "lightgbm")])
    with pytest.raises(ConfigError, match="'carrier' has the empty string as a level"):
        export_onnx(predictor, frame.iloc[N_TRAIN:])


def test_a_graph_that_does_not_reproduce_the_predictor_is_refused(frame):
    data = problem(frame, "binary")
    predictor = stored(data, [member(data, "lightgbm")])
    with pytest.raises(IntegrityError, match="does not reproduce the Predictor's outputs"):
        export_onnx(predictor, frame.iloc[N_TRAIN:], tolerance=0.0)  # float32 tree sums


def test_cli_exports_the_champion_and_refuses_without_writing(home, frame, tmp_path, capsys):
    workspace = Workspace(home)
    columns = ["month", "sched_dep_time", "carrier", "origin", "dest", "distance", "time_hour",
               "speed", "wet", "booked_at", "delayed"]
    project = workspace.create_project("flights", frame[columns], "delayed",
                                       time_column="time_hour")
    project.approve(time="20s", cpus=1)
    project.run(max_trials=2)
    version = project.champion().version
    workspace.close()
    out = tmp_path / "flights.onnx"
    assert main(["model", "export", "flights", str(version), "--output", str(out),
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["max_diff"] <= 1e-4 and info["rows_checked"] > 0 and out.exists()
    assert info["inputs"] == columns[:-1]
    rows = frame[columns].iloc[-50:]
    predictor = Workspace(home).project("flights").model(version).load()
    got = run_graph(out.read_bytes(), rows, predictor.schema)
    np.testing.assert_allclose(got["probabilities"], predictor.predict_proba(rows), atol=1e-6)

    refused = tmp_path / "refused.onnx"
    assert main(["model", "export", "flights", str(version), "--output", str(refused),
                 "--tolerance", "0"]) != 0
    assert "does not reproduce" in capsys.readouterr().err
    assert not refused.exists() and not list(tmp_path.glob(".refused*"))
