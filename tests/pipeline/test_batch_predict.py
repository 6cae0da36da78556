"""Batch prediction (`predict_file`, `mlpilot predict`): streamed files give exactly what the
model gives on the whole frame, in order, for Parquet, CSV and TSV in and out; the target
column in serving data is ignored with a warning; failures leave nothing behind.

Rows are real flights (examples/) with a nullable category and a nullable float added, so the
dictionary-encoded Parquet path meets missing values, unseen levels and the "other" code.
"""

from __future__ import annotations

import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlpilot.cli.main import main
from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, DataError, SchemaError
from mlpilot.data.schema import infer_schema, validate_prediction_input
from mlpilot.models.predictor import Predictor, fit_member
from mlpilot.models.registry import get_adapter
from mlpilot.pipeline.predict import TargetColumnIgnored, predict_file
from mlpilot.pipeline.workspace import Workspace

TRAIN_ROWS = 3000


@pytest.fixture(scope="module")
def flights_with_holes(flights_slice) -> pd.DataFrame:
    """5,000 flights plus `terminal` (a category) and `speed` (a float), ~10% missing."""
    rng = np.random.default_rng(11)
    df = flights_slice.copy()
    n = len(df)
    terminal = ("T" + (df["flight"] % 6).astype(str)).astype(object)
    df["terminal"] = terminal.mask(rng.random(n) < 0.1)
    df["speed"] = (df["distance"] / (df["sched_arr_time"] % 500 + 37.5)).mask(
        rng.random(n) < 0.1)
    return df


def fit(train: pd.DataFrame, families: list[str], target: str, task: Task) -> Predictor:
    """A Predictor of ``families`` (equal weights) fitted on ``train``."""
    schema = infer_schema(train, target=target, time_column="time_hour")
    X = validate_prediction_input(train, schema)
    if task.is_classification:
        classes = sorted(train[target].unique().tolist())
        y = train[target].map({c: i for i, c in enumerate(classes)}).to_numpy()
    else:
        classes, y = None, train[target].to_numpy(dtype=float)
    members = []
    for family in families:
        params = {**get_adapter(family).default_params(task, len(X)),
                  **get_adapter(family).small_params}
        members.append(fit_member(family, X, y, schema=schema, task=task,
                                  n_classes=len(classes) if classes else None, params=params,
                                  seed=0, n_threads=1, weight=1.0 / len(families)))
    return Predictor(schema, task, classes, members,
                     threshold=0.3 if task is Task.BINARY else None)


@pytest.fixture(scope="module")
def ensemble(flights_with_holes) -> Predictor:
    """LightGBM (category codes, "other" for rare tail numbers) + linear (one-hot), binary."""
    return fit(flights_with_holes.iloc[:TRAIN_ROWS], ["lightgbm", "linear"], "delayed",
               Task.BINARY)


@pytest.fixture(scope="module")
def new_flights(flights_with_holes) -> pd.DataFrame:
    """2,000 later flights without the target, some with carriers never seen in training."""
    rows = flights_with_holes.iloc[TRAIN_ROWS:].drop(columns=["delayed"]).reset_index(drop=True)
    rows.loc[:40, "carrier"] = "ZZ"
    return rows


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, row_group_size=700)  # row groups that do not align with chunks
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")


@pytest.mark.parametrize(("source_suffix", "output_suffix"), [
    (".parquet", ".parquet"), (".parquet", ".csv"), (".csv", ".parquet"), (".tsv", ".tsv")])
def test_streamed_file_equals_the_whole_frame(tmp_path, ensemble, new_flights, source_suffix,
                                              output_suffix):
    source = write(new_flights, tmp_path / f"in{source_suffix}")
    output = tmp_path / f"out{output_suffix}"
    seen = []
    result = predict_file(ensemble, source, output, chunk_rows=800,
                          on_progress=lambda done, total: seen.append((done, total)))
    total = 2000 if source_suffix == ".parquet" else None
    done = [0] + [d for d, _ in seen]
    assert result.rows == 2000 and done[-1] == 2000 and {t for _, t in seen} == {total}
    assert all(0 < b - a <= 800 for a, b in pairwise(done))  # Parquet: ends at row groups
    assert result.ignored_target is None
    expected = ensemble.predict_frame(read(source))
    pd.testing.assert_frame_equal(read(output), expected, check_exact=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, output.name])


def test_thread_count_changes_nothing_in_the_output(tmp_path, ensemble, new_flights):
    source = write(new_flights, tmp_path / "in.parquet")
    outputs = []
    for threads in (1, 3):
        out = tmp_path / f"out-{threads}.parquet"
        predict_file(ensemble, source, out, chunk_rows=300, threads=threads)
        outputs.append(pq.read_table(out))
    assert outputs[0].equals(outputs[1])
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        predict_file(ensemble, source, tmp_path / "never.parquet", threads=0)
    assert not (tmp_path / "never.parquet").exists()


def test_dictionary_encoded_strings_give_the_plain_matrix(ensemble, new_flights):
    """The Parquet reader asks for categories as dictionaries; the matrix is bit-identical to
    the one from plain strings, with missing values, unseen levels and two chunks that each
    have their own dictionary."""
    rows = new_flights.copy()
    rows.loc[5:9, "carrier"] = None
    plain = pa.Table.from_pandas(rows, preserve_index=False)
    halves = []
    for part in (plain.slice(0, 900), plain.slice(900)):
        halves.append(part.set_column(
            part.schema.get_field_index("carrier"), "carrier",
            part.column("carrier").dictionary_encode()).set_column(
            part.schema.get_field_index("terminal"), "terminal",
            part.column("terminal").dictionary_encode()))
    encoded = pa.concat_tables(halves)
    assert encoded.column("carrier").num_chunks == 2
    for _, transformer in ensemble._arrow_transformers():
        fast, slow = transformer.transform(encoded), transformer.transform(plain)
        assert np.array_equal(fast, slow, equal_nan=True)
    assert ensemble.predict_arrow_table(encoded).equals(ensemble.predict_arrow_table(plain))


@pytest.mark.parametrize(("target", "task"), [("origin", Task.MULTICLASS),
                                              ("distance", Task.REGRESSION)])
def test_output_columns_keep_the_pandas_types(tmp_path, flights_with_holes, target, task):
    predictor = fit(flights_with_holes.iloc[:1500], ["lightgbm"], target, task)
    rows = flights_with_holes.iloc[1500:2000].drop(columns=[target])
    table = predictor.predict_arrow_table(pa.Table.from_pandas(rows, preserve_index=False))
    reference = pa.Table.from_pandas(predictor.predict_frame(rows), preserve_index=False)
    assert table.schema == predictor.output_schema
    assert [f.name for f in table.schema] == reference.column_names
    assert table.to_pandas().equals(reference.to_pandas().astype(table.to_pandas().dtypes))
    out = predict_file(predictor, write(rows, tmp_path / "in.parquet"), tmp_path / "o.csv").output
    pd.testing.assert_frame_equal(read(out), predictor.predict_frame(rows), check_exact=True,
                                  check_dtype=False)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_target_in_serving_data_is_ignored_with_a_warning(tmp_path, ensemble, new_flights,
                                                              suffix):
    with_target = new_flights.assign(delayed=np.where(np.arange(2000) % 2 == 0, 1000, -7))
    source = write(with_target, tmp_path / f"labelled{suffix}")
    with pytest.warns(TargetColumnIgnored, match="target column 'delayed'.* ignored"):
        result = predict_file(ensemble, source, tmp_path / "out.parquet", chunk_rows=700)
    assert result.ignored_target == "delayed"
    got = pd.read_parquet(tmp_path / "out.parquet")
    assert "delayed" not in got.columns
    pd.testing.assert_frame_equal(got, ensemble.predict_frame(read(source).drop(
        columns=["delayed"])), check_exact=True)


def test_a_bad_value_in_a_late_chunk_leaves_no_output(tmp_path, ensemble, new_flights):
    rows = new_flights.iloc[:900].astype({"distance": object})
    rows.loc[850, "distance"] = "far"
    source = write(rows, tmp_path / "in.csv")
    with pytest.raises(SchemaError, match=r"rows 800-899 of 'in.csv' \(row numbers below count "
                       r"from row 800\).*'distance' expects whole numbers but row 50 has 'far'"):
        predict_file(ensemble, source, tmp_path / "out.csv", chunk_rows=100, threads=2)
    assert list(tmp_path.iterdir()) == [source]


def test_missing_feature_columns_are_named_before_anything_is_written(tmp_path, ensemble,
                                                                       new_flights):
    source = write(new_flights.drop(columns=["carrier", "dest"]), tmp_path / "in.parquet")
    with pytest.raises(SchemaError, match="missing 'carrier', 'dest'"):
        predict_file(ensemble, source, tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == [source]


def test_files_that_cannot_be_scored_say_why(tmp_path, ensemble, new_flights):
    header_only = tmp_path / "empty.csv"
    new_flights.iloc[:0].to_csv(header_only, index=False)
    with pytest.raises(DataError, match="no rows to predict"):
        predict_file(ensemble, header_only, tmp_path / "out.csv")
    with pytest.raises(DataError, match="does not exist"):
        predict_file(ensemble, tmp_path / "nope.parquet", tmp_path / "out.csv")
    with pytest.raises(DataError, match="unsupported type"):
        predict_file(ensemble, header_only, tmp_path / "out.xlsx")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match="cannot read"):
        predict_file(ensemble, broken, tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.parquet", "empty.csv"]


@pytest.fixture(scope="module")
def flights_home(tmp_path_factory, flights_slice) -> Path:
    """A workspace where `flights` was trained once (a LightGBM champion, v1)."""
    home = tmp_path_factory.mktemp("batch") / "ws"
    workspace = Workspace(home)
    project = workspace.create_project("flights", flights_slice, "delayed",
                                       time_column="time_hour")
    project.approve(time="30s", cpus=1)
    project.run(max_trials=2)
    workspace.close()
    return home


def test_cli_predict_warns_about_the_target_and_scores_every_row(tmp_path, flights_home,
                                                                 flights_frame, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv("MLPILOT_HOME", str(flights_home))
    source = write(flights_frame.iloc[-1200:], tmp_path / "labelled.parquet")
    output = tmp_path / "preds.csv"
    code = main(["predict", "flights", "--input", str(source), "--output", str(output),
                 "--chunk-rows", "500"])
    out, err = capsys.readouterr()
    assert code == 0, err
    err = " ".join(err.split())
    assert "Warning:" in err and "target column 'delayed'" in err and "ignored" in err
    assert "Wrote 1,200 predictions" in out
    expected = Workspace(flights_home).project("flights").predict(
        flights_frame.iloc[-1200:].drop(columns=["delayed"]))
    pd.testing.assert_frame_equal(read(output), expected, check_exact=True)


def test_cli_predict_on_one_thread_writes_the_same_file_and_refuses_zero(tmp_path, flights_home,
                                                                        flights_frame,
                                                                        monkeypatch, capsys):
    monkeypatch.setenv("MLPILOT_HOME", str(flights_home))
    source = write(flights_frame.iloc[-900:].drop(columns=["delayed"]), tmp_path / "new.csv")
    outputs = []
    for threads in (["--threads", "1"], ["--threads", "2"], []):
        outputs.append(tmp_path / f"p{len(outputs)}.csv")
        code = main(["predict", "flights", "--input", str(source), "--output",
                     str(outputs[-1]), "--chunk-rows", "200", *threads])
        assert code == 0, capsys.readouterr().err
    assert outputs[0].read_bytes() == outputs[1].read_bytes() == outputs[2].read_bytes()
    capsys.readouterr()
    code = main(["predict", "flights", "--input", str(source), "--output",
                 str(tmp_path / "zero.csv"), "--threads", "0"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "--threads" in err and "greater than or equal to 1" in err
    assert not (tmp_path / "zero.csv").exists()


def test_cli_predict_without_the_target_prints_no_warning(tmp_path, flights_home,
                                                          flights_frame, monkeypatch, capsys):
    monkeypatch.setenv("MLPILOT_HOME", str(flights_home))
    source = write(flights_frame.iloc[-300:].drop(columns=["delayed"]), tmp_path / "new.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["predict", "flights", "--input", str(source), "--output",
                     str(tmp_path / "p.parquet")])
    _, err = capsys.readouterr()
    assert code == 0 and "Warning" not in err


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_datetime_parts_match_pandas_across_the_calendar(unit):
    """Batch datetime features come from integer calendar arithmetic on the epoch counts; they
    equal pandas' ``.dt`` parts from year 1 to 9999, before and after 1970, with gaps."""
    from mlpilot.models.features import DATETIME_PARTS
    from mlpilot.models.features import _datetime_parts as pandas_parts
    from mlpilot.models.records import _datetime_parts

    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]
    rng = np.random.default_rng(3)
    lo, hi = -62_135_596_800, 253_402_300_799  # 0001-01-01 00:00:00, 9999-12-31 23:59:59
    seconds = np.concatenate([rng.integers(lo, hi, 20_000), [lo, hi, -1, 0, 1],
                              np.arange(-400, 400) * 86_400 * 365 // 4])  # around leap days
    counts = seconds * per_second + (rng.integers(0, per_second, len(seconds))
                                     if per_second > 1 else 0)
    array = pa.array(counts, pa.timestamp(unit), mask=rng.random(len(counts)) < 0.05)
    column = pa.chunked_array([array.slice(0, 7_000), array.slice(7_000)])
    fast = _datetime_parts(column, DATETIME_PARTS)
    reference = pandas_parts(pd.Series(column.to_pandas(), name="t"), DATETIME_PARTS)
    for part, got, want in zip(DATETIME_PARTS, fast, reference.values(), strict=True):
        assert np.array_equal(got, want, equal_nan=True), part
