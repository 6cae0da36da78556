"""FeaturePipeline on real flights rows: unseen levels, missing values, datetimes, round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import SchemaError
from mlpilot.data.schema import ColumnKind, ColumnSchema, Schema
from mlpilot.models.features import FeaturePipeline


@pytest.fixture(scope="module")
def train_X(delay_data):
    return delay_data["train_X"]


@pytest.fixture(scope="module")
def schema(delay_data):
    return delay_data["schema"]


def with_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with missing distances and carriers, and carriers nobody trained on."""
    out = frame.copy()
    out.loc[out.index[:3], "distance"] = np.nan
    out["carrier"] = out["carrier"].astype("str")
    out.loc[out.index[3:5], "carrier"] = None
    out.loc[out.index[5:7], "carrier"] = "ZZ-new-airline"
    return out


@pytest.mark.parametrize("mode", ["tree", "linear"])
def test_pipeline_outputs_float64_matrix_with_named_columns(mode, train_X, schema):
    pipeline = FeaturePipeline(mode).fit(train_X, schema)
    matrix = pipeline.transform(train_X)
    assert matrix.dtype == np.float64
    assert matrix.shape == (len(train_X), len(pipeline.feature_names_))


def test_tree_codes_follow_training_frequency_and_unseen_or_missing_become_nan(train_X, schema):
    pipeline = FeaturePipeline("tree").fit(train_X, schema)
    col = pipeline.feature_names_.index("carrier")
    assert col in pipeline.categorical_indices_
    matrix = pipeline.transform(with_gaps(train_X.iloc[:10]))
    assert np.isnan(matrix[3:7, col]).all()
    most_common = train_X["carrier"].value_counts().index[0]
    first = pipeline.transform(train_X[train_X["carrier"] == most_common].iloc[:1])
    assert first[0, col] == 0.0


def test_tree_keeps_missing_numbers_as_nan(train_X, schema):
    pipeline = FeaturePipeline("tree").fit(train_X, schema)
    col = pipeline.feature_names_.index("distance")
    assert np.isnan(pipeline.transform(with_gaps(train_X.iloc[:10]))[:3, col]).all()


def test_tree_caps_levels_at_255_with_an_other_code(train_X, schema):
    assert train_X["tailnum"].nunique() > 255
    pipeline = FeaturePipeline("tree").fit(train_X, schema)
    codes = pipeline.transform(train_X)[:, pipeline.feature_names_.index("tailnum")]
    assert np.nanmax(codes) == 255.0
    assert not np.isnan(codes).any()


def test_linear_imputes_median_and_flags_missing(train_X, schema):
    gappy = with_gaps(train_X)
    pipeline = FeaturePipeline("linear").fit(gappy, schema)
    names = pipeline.feature_names_
    matrix = pipeline.transform(gappy)
    assert not np.isnan(matrix).any()
    flag = matrix[:, names.index("distance__missing")]
    assert flag[:3].tolist() == [1.0, 1.0, 1.0] and flag[3:].sum() == 0
    scaled = matrix[:, names.index("distance")]
    assert abs(scaled.mean()) < 1e-9 and abs(scaled.std() - 1.0) < 1e-9


def test_linear_one_hot_keeps_frequent_levels_and_zeroes_unseen(train_X, schema):
    pipeline = FeaturePipeline("linear").fit(train_X, schema)
    names = pipeline.feature_names_
    carrier_cols = [i for i, n in enumerate(names) if n.startswith("carrier=")]
    tail_cols = [n for n in names if n.startswith("tailnum=")]
    assert 0 < len(tail_cols) <= 30
    assert pipeline.categorical_indices_ == []
    matrix = pipeline.transform(with_gaps(train_X.iloc[:10]))
    assert (matrix[3:7][:, carrier_cols] == 0).all()
    assert matrix[3:5, names.index("carrier__missing")].tolist() == [1.0, 1.0]
    assert matrix[5:7, names.index("carrier__missing")].tolist() == [0.0, 0.0]


def test_datetime_expands_and_drops_constant_parts(train_X, schema):
    pipeline = FeaturePipeline("tree").fit(train_X, schema)
    parts = [n for n in pipeline.feature_names_ if n.startswith("time_hour__")]
    # the sample covers several months of 2013 at whole hours: year and minute never vary
    assert "time_hour__year" not in parts and "time_hour__minute" not in parts
    assert {"time_hour__month", "time_hour__hour", "time_hour__dayofweek"} <= set(parts)
    matrix = pipeline.transform(train_X.iloc[:1])
    stamp = train_X["time_hour"].iloc[0]
    assert matrix[0, pipeline.feature_names_.index("time_hour__hour")] == stamp.hour
    # time_hour orders the rows: every row to predict is later than its training range, so
    # its moment as one number (the "days" part) is left out
    assert schema.time_column == "time_hour" and "time_hour__days" not in parts


@pytest.mark.parametrize("mode", ["tree", "linear"])
def test_dropped_features_get_no_step_and_every_path_agrees(mode, train_X, schema):
    import pyarrow as pa

    from mlpilot.models.records import ArrowTransformer, RecordTransformer

    full = FeaturePipeline(mode).fit(train_X, schema)
    drop = ["distance", "time_hour__dayofyear", "carrier"]  # a categorical column too
    pipeline = FeaturePipeline(mode, drop).fit(train_X, schema)
    categorical = [c.name for c in schema.features if c.kind is ColumnKind.CATEGORICAL]
    assert "carrier" in categorical and len(categorical) > 1
    assert "distance" in full.feature_names_ and "time_hour__dayofyear" in full.feature_names_
    assert "distance" not in pipeline.feature_names_
    assert not any(n.startswith("distance__") for n in pipeline.feature_names_)
    assert "time_hour__dayofyear" not in pipeline.feature_names_
    assert "time_hour__hour" in pipeline.feature_names_
    assert any(n.startswith("carrier") for n in full.feature_names_)
    assert not any(n.startswith("carrier") for n in pipeline.feature_names_)
    others = [c for c in categorical if c != "carrier"]
    assert all(any(n.startswith(c) for n in pipeline.feature_names_) for c in others)
    kept = [full.feature_names_.index(n) for n in pipeline.feature_names_]
    rows = train_X.iloc[:50]
    matrix = pipeline.transform(rows)
    np.testing.assert_array_equal(matrix, full.transform(rows)[:, kept])
    # the saved steps carry the choice: a reloaded pipeline, the record and Arrow paths agree
    np.testing.assert_array_equal(FeaturePipeline.from_dict(json.loads(json.dumps(
        pipeline.to_dict()))).transform(rows), matrix)
    records = json.loads(rows.drop(columns="time_hour").to_json(orient="records"))
    for record, stamp in zip(records, rows["time_hour"], strict=True):
        record["time_hour"] = stamp.to_pydatetime()  # as the request model parses it
    np.testing.assert_array_equal(RecordTransformer(pipeline, schema).transform(records), matrix)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    np.testing.assert_array_equal(ArrowTransformer(pipeline, schema).transform(table), matrix)


def test_a_change_at_a_date_is_one_split_on_the_days_part():
    when = pd.Series(pd.date_range("2012-01-01", periods=1000, freq="D"), name="when")
    schema = Schema(columns=(ColumnSchema("when", ColumnKind.DATETIME, "datetime64[ns]", True),
                             ColumnSchema("y", ColumnKind.INTEGER, "int64", False)), target="y")
    frame = pd.DataFrame({"when": when + pd.Timedelta(hours=6)})
    frame.loc[3, "when"] = pd.NaT
    pipeline = FeaturePipeline("tree").fit(frame, schema)
    days = pipeline.transform(frame)[:, pipeline.feature_names_.index("when__days")]
    # days since 1970-01-01, the time of day as a fraction: 2012-01-01 06:00 is 15340.25
    assert np.isnan(days[3]) and days[0] == 15340.25
    rule_changed = (when >= "2013-04-01").to_numpy()
    present = ~np.isnan(days)
    threshold = days[present][rule_changed[present]].min()
    assert ((days[present] >= threshold) == rule_changed[present]).all()
    ordered = Schema(columns=schema.columns, target="y", time_column="when")
    assert "when__days" not in FeaturePipeline("tree").fit(frame, ordered).feature_names_


def test_boolean_and_text_columns():
    schema = Schema(columns=(ColumnSchema("vip", ColumnKind.BOOLEAN, "bool", True),
                             ColumnSchema("note", ColumnKind.TEXT, "str", True),
                             ColumnSchema("y", ColumnKind.INTEGER, "int64", False)), target="y")
    X = pd.DataFrame({"vip": pd.array([True, False, None], dtype="boolean"),
                      "note": pd.array(["late again", None, "ok"], dtype="str")})
    tree = FeaturePipeline("tree").fit(X, schema)
    assert tree.feature_names_ == ["vip", "note__chars", "note__words"]
    np.testing.assert_array_equal(tree.transform(X),
                                  [[1.0, 10.0, 2.0], [0.0, np.nan, np.nan], [np.nan, 2.0, 1.0]])
    linear = FeaturePipeline("linear").fit(X, schema)
    assert not np.isnan(linear.transform(X)).any()


@pytest.mark.parametrize("mode", ["tree", "linear"])
def test_json_round_trip_gives_identical_output(mode, train_X, schema):
    gappy = with_gaps(train_X)
    pipeline = FeaturePipeline(mode).fit(gappy, schema)
    again = FeaturePipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    assert again.feature_names_ == pipeline.feature_names_
    assert again.categorical_indices_ == pipeline.categorical_indices_
    np.testing.assert_array_equal(again.transform(gappy), pipeline.transform(gappy))


def test_missing_column_is_named_in_the_error(train_X, schema):
    pipeline = FeaturePipeline("tree").fit(train_X, schema)
    with pytest.raises(SchemaError, match="'carrier'"):
        pipeline.transform(train_X.drop(columns=["carrier"]))


def _reviews(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Short product reviews whose label (a complaint) depends on which words they use, not
    on their length: only a word-level representation can separate them."""
    rng = np.random.default_rng(seed)
    good = ["great", "love", "perfect", "works", "recommend", "excellent"]
    bad = ["broken", "refund", "late", "missing", "awful", "returned"]
    neutral = ["the", "box", "item", "arrived", "colour", "size", "price", "delivery", "it"]
    texts, labels = [], []
    for _ in range(n):
        complaint = rng.random() < 0.4
        words = list(rng.choice(neutral, size=rng.integers(3, 8)))
        words += list(rng.choice(bad if complaint else good, size=rng.integers(1, 3)))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(int(complaint))
    return pd.DataFrame({"review": pd.array(texts, dtype="str")}), np.array(labels)


REVIEW_SCHEMA = Schema(columns=(ColumnSchema("review", ColumnKind.TEXT, "str", True),
                                ColumnSchema("y", ColumnKind.INTEGER, "int64", False)),
                       target="y")


@pytest.mark.parametrize("mode", ["tree", "linear"])
def test_text_columns_get_tfidf_components_that_carry_the_words(mode):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    X, y = _reviews(800, seed=0)
    X_test, y_test = _reviews(400, seed=1)
    pipeline = FeaturePipeline(mode).fit(X, REVIEW_SCHEMA)
    names = pipeline.feature_names_
    assert names[:2] == ["review__chars", "review__words"]
    assert sum(n.startswith("review__text") for n in names) == 16
    step = pipeline.steps_[0]
    assert "broken" in step["vocabulary"] and "the" in step["vocabulary"]
    train, test = pipeline.transform(X), pipeline.transform(X_test)
    assert np.isfinite(train).all()
    # with the words a simple model separates complaints; with lengths alone it cannot
    scores = {}
    for label, cols in (("words", slice(None)), ("lengths", slice(0, 2))):
        model = LogisticRegression(max_iter=2000).fit(np.nan_to_num(train[:, cols]), y)
        scores[label] = roc_auc_score(y_test, model.predict_proba(
            np.nan_to_num(test[:, cols]))[:, 1])
    assert scores["words"] > 0.95 and scores["lengths"] < 0.7, scores


def test_tfidf_is_deterministic_ignores_unseen_words_and_keeps_missing_missing():
    X, _ = _reviews(300, seed=2)
    first = FeaturePipeline("tree").fit(X, REVIEW_SCHEMA)
    second = FeaturePipeline.from_dict(json.loads(json.dumps(
        FeaturePipeline("tree").fit(X, REVIEW_SCHEMA).to_dict())))
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    odd = pd.DataFrame({"review": pd.array([None, "zebra quantum", "BROKEN broken"],
                                           dtype="str")})
    matrix = first.transform(odd)
    assert np.isnan(matrix[0]).all()  # a missing review stays missing in every column
    np.testing.assert_array_equal(matrix[1, 2:], 0.0)  # no known word: all components zero
    # case does not matter, and repeating a word does not change its normalised weight
    np.testing.assert_allclose(matrix[2, 2:], first.transform(
        pd.DataFrame({"review": pd.array(["broken"], dtype="str")}))[0, 2:])


def test_text_without_repeated_words_keeps_only_lengths():
    X = pd.DataFrame({"review": pd.array(["alpha beta", "gamma delta", None], dtype="str")})
    pipeline = FeaturePipeline("tree").fit(X, REVIEW_SCHEMA)
    assert pipeline.feature_names_ == ["review__chars", "review__words"]
