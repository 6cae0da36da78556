"""The Predictor bundle: predictions, deterministic bytes, integrity, all three tasks."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.config import Task
from mlpilot.core.errors import ConfigError, IntegrityError, SchemaError
from mlpilot.models import target
from mlpilot.models.predictor import Member, Predictor, fit_member
from mlpilot.models.registry import get_adapter


def build(data: dict, family: str = "lightgbm", params: dict | None = None,
          **extra) -> Predictor:
    from mlpilot.models.registry import get_adapter

    adapter = get_adapter(family)
    params = {**adapter.default_params(data["task"], 4000), **adapter.small_params,
              **(params or {})}
    member = fit_member(family, data["train_X"], data["train_y"], schema=data["schema"],
                        task=data["task"], n_classes=len(data["classes"] or ()) or None,
                        params=params, seed=0, n_threads=2, valid_X=data["valid_X"],
                        valid_y=data["valid_y"])
    return Predictor(data["schema"], data["task"], data["classes"], [member], **extra)


@pytest.fixture(scope="module")
def delay_predictor(delay_data) -> Predictor:
    return build(delay_data)


@pytest.fixture(scope="module")
def scoring_rows(flights) -> pd.DataFrame:
    """Rows as a client would send them: all columns, including the target, shuffled index."""
    return flights.iloc[5000:5200].set_index(np.arange(200) * 7)


def test_binary_predict_frame_has_prediction_then_probabilities(delay_predictor, scoring_rows):
    frame = delay_predictor.predict_frame(scoring_rows)
    assert list(frame.columns) == ["prediction", "proba_0", "proba_1"]
    assert list(frame.index) == list(range(len(scoring_rows)))
    np.testing.assert_allclose(frame[["proba_0", "proba_1"]].sum(axis=1), 1.0)
    expected = np.where(frame["proba_1"] >= 0.5, 1, 0)
    np.testing.assert_array_equal(frame["prediction"], expected)
    np.testing.assert_array_equal(delay_predictor.predict(scoring_rows), expected)


def test_threshold_moves_the_decision(delay_data, delay_predictor, scoring_rows):
    member = delay_predictor.members[0]
    eager = Predictor(delay_data["schema"], Task.BINARY, [0, 1], [member], threshold=0.0)
    assert (eager.predict(scoring_rows) == 1).all()


def test_to_bytes_is_deterministic_across_fits(delay_data, delay_predictor):
    again = build(delay_data)
    assert delay_predictor.to_bytes() == delay_predictor.to_bytes() == again.to_bytes()
    with zipfile.ZipFile(io.BytesIO(again.to_bytes())) as archive:
        assert archive.namelist() == sorted(archive.namelist())
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert set(archive.namelist()) == {"member-0.features.json", "member-0.model.txt",
                                           "predictor.json"}


@pytest.mark.parametrize("family", ["lightgbm", "linear", "random_forest", "baseline"])
def test_from_bytes_round_trip_gives_identical_predictions(delay_data, scoring_rows, family):
    predictor = build(delay_data, family)
    data = predictor.to_bytes()
    loaded = Predictor.from_bytes(data, expected_sha256=hashlib.sha256(data).hexdigest())
    assert loaded.classes == [0, 1] and loaded.threshold == 0.5
    assert loaded.versions == predictor.versions
    np.testing.assert_array_equal(loaded.predict_proba(scoring_rows),
                                  predictor.predict_proba(scoring_rows))
    assert loaded.to_bytes() == data


def test_tampered_bytes_raise_integrity_error(delay_predictor):
    data = bytearray(delay_predictor.to_bytes())
    digest = hashlib.sha256(bytes(data)).hexdigest()
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(IntegrityError, match="modified or corrupted"):
        Predictor.from_bytes(bytes(data), expected_sha256=digest)
    with pytest.raises(IntegrityError, match="modified or corrupted"):
        Predictor.from_bytes(bytes(data))


def test_a_swapped_member_file_is_caught_without_an_expected_hash(delay_predictor):
    with zipfile.ZipFile(io.BytesIO(delay_predictor.to_bytes())) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    files["member-0.model.txt"] = files["member-0.model.txt"].replace(b"Tree=0", b"Tree=9")
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with pytest.raises(IntegrityError, match=r"member-0\.model\.txt"):
        Predictor.from_bytes(forged.getvalue())


def test_missing_feature_column_is_a_schema_error(delay_predictor, scoring_rows):
    with pytest.raises(SchemaError, match="carrier"):
        delay_predictor.predict(scoring_rows.drop(columns=["carrier"]))


def test_multiclass_origin_predicts_airport_codes(origin_data, scoring_rows):
    predictor = build(origin_data)
    frame = predictor.predict_frame(scoring_rows)
    assert list(frame.columns) == ["prediction", "proba_EWR", "proba_JFK", "proba_LGA"]
    assert set(frame["prediction"]) <= {"EWR", "JFK", "LGA"}
    assert (frame["prediction"] == scoring_rows["origin"].to_numpy()).mean() > 0.5
    loaded = Predictor.from_bytes(predictor.to_bytes())
    pd.testing.assert_frame_equal(loaded.predict_frame(scoring_rows), frame)


def test_regression_distance_predicts_miles(distance_data, scoring_rows):
    predictor = build(distance_data, params={"n_estimators": 400, "learning_rate": 0.2})
    frame = predictor.predict_frame(scoring_rows)
    assert list(frame.columns) == ["prediction"]
    error = np.abs(frame["prediction"] - scoring_rows["distance"].to_numpy()).mean()
    assert error < 100  # miles: the destination nearly fixes the distance
    with pytest.raises(Exception, match="classification"):
        predictor.predict_proba(scoring_rows)
    loaded = Predictor.from_bytes(predictor.to_bytes())
    np.testing.assert_array_equal(loaded.predict(scoring_rows), predictor.predict(scoring_rows))


def test_members_are_averaged_by_weight(delay_data, scoring_rows):
    boosted = build(delay_data)
    base = build(delay_data, "baseline")
    mixed = Predictor(delay_data["schema"], Task.BINARY, [0, 1],
                      [Member("lightgbm", boosted.members[0].features, boosted.members[0].model,
                              3.0),
                       Member("baseline", None, base.members[0].model, 1.0)])
    expected = (3 * boosted.predict_proba(scoring_rows) + base.predict_proba(scoring_rows)) / 4
    np.testing.assert_allclose(mixed.predict_proba(scoring_rows), expected)
    loaded = Predictor.from_bytes(mixed.to_bytes())
    np.testing.assert_array_equal(loaded.predict_proba(scoring_rows),
                                  mixed.predict_proba(scoring_rows))


@pytest.mark.parametrize("transform", ["log1p", "sqrt"])
def test_a_member_fitted_under_a_target_transform_predicts_in_the_targets_units(
        distance_data, scoring_rows, transform):
    params = {"n_estimators": 400, "learning_rate": 0.2}
    plain = build(distance_data, params=params)
    transformed = build(distance_data, params={**params, "target_transform": transform})
    member = transformed.members[0]
    assert member.target == transform
    # the model itself answers on the transformed scale; the Predictor maps it back
    raw = get_adapter("lightgbm").predict(member.model, member.features.transform(scoring_rows),
                                          Task.REGRESSION)
    fitted = target.forward(transform, distance_data["train_y"])
    assert member.target_range == (fitted.min(), fitted.max())
    inside = np.clip(raw, fitted.min(), fitted.max())
    inverse = np.expm1(inside) if transform == "log1p" else inside ** 2
    np.testing.assert_allclose(transformed.predict(scoring_rows), inverse)
    truth = scoring_rows["distance"].to_numpy()
    assert np.abs(transformed.predict(scoring_rows) - truth).mean() < 100  # miles, not logs
    assert not np.array_equal(transformed.predict(scoring_rows), plain.predict(scoring_rows))
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(transformed.to_bytes()))
                          .read("predictor.json"))
    # format 3: an mlpilot that reads only formats 1 and 2 refuses it rather than map back
    # outputs outside the fitted range
    assert manifest["format"] == 3 and manifest["members"][0]["target"] == transform
    assert manifest["members"][0]["target_range"] == list(member.target_range)
    loaded = Predictor.from_bytes(transformed.to_bytes())
    assert loaded.members[0].target == transform
    assert loaded.members[0].target_range == member.target_range
    np.testing.assert_array_equal(loaded.predict(scoring_rows), transformed.predict(scoring_rows))
    records = loaded.predict_records(scoring_rows.to_dict("records"))
    assert [r["prediction"] for r in records] == loaded.predict(scoring_rows).tolist()


def test_outputs_outside_the_fitted_range_map_back_to_its_ends_and_format_2_still_loads(
        distance_data, scoring_rows):
    from dataclasses import replace

    fitted = build(distance_data, params={"n_estimators": 100, "target_transform": "log1p"})
    member = fitted.members[0]
    wide = fitted.predict(scoring_rows)
    middle = float(np.median(np.log1p(wide)))
    narrow = replace(fitted, members=[replace(member, target_range=(middle - 0.1, middle))])
    clipped = narrow.predict(scoring_rows)
    assert clipped.min() >= np.expm1(middle - 0.1) - 1e-9
    assert clipped.max() <= np.expm1(middle) + 1e-9
    assert (clipped < wide).any() and (clipped > wide).any()  # both ends bite
    np.testing.assert_array_equal(Predictor.from_bytes(narrow.to_bytes()).predict(scoring_rows),
                                  clipped)
    # a bundle saved before ranges were recorded: format 2, read, mapped back without a range
    unranged = replace(fitted, members=[replace(member, target_range=None)])
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(unranged.to_bytes()))
                          .read("predictor.json"))
    assert manifest["format"] == 2 and "target_range" not in manifest["members"][0]
    loaded = Predictor.from_bytes(unranged.to_bytes())
    assert loaded.members[0].target_range is None
    raw = get_adapter("lightgbm").predict(member.model, member.features.transform(scoring_rows),
                                          Task.REGRESSION)
    np.testing.assert_allclose(loaded.predict(scoring_rows), np.expm1(np.clip(raw, 0, 700)))


def test_a_bundle_without_target_transforms_keeps_its_bytes(distance_data):
    predictor = build(distance_data)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(predictor.to_bytes()))
                          .read("predictor.json"))
    # identity is the absence of the entry: a bundle saved before transforms loads the same
    assert [sorted(m) for m in manifest["members"]] == [["family", "features", "model",
                                                         "weight"]]
    assert manifest["format"] == 1


def test_a_target_transform_is_refused_for_classification_and_by_unknown_name(delay_data,
                                                                              distance_data):
    with pytest.raises(ConfigError, match="regression only"):
        build(delay_data, params={"target_transform": "log1p"})
    with pytest.raises(ConfigError, match="unknown target transform"):
        build(distance_data, params={"target_transform": "log"})
    negative = {**distance_data, "train_y": distance_data["train_y"] - 1000.0}
    with pytest.raises(ConfigError, match="non-negative target"):
        build(negative, params={"target_transform": "sqrt"})
