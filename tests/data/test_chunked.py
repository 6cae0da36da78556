"""The chunked scan gives the in-memory profile's numbers and finds schema breaks per chunk."""

from __future__ import annotations

import pytest

from mlpilot.core.errors import DataError
from mlpilot.data.chunked import scan_file
from mlpilot.data.profile import profile_table
from mlpilot.data.schema import infer_schema


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunked_profile_matches_the_in_memory_profile(flights_slice, tmp_path, suffix):
    path = tmp_path / f"flights{suffix}"
    frame = flights_slice.drop(columns=["time_hour"])
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    scanned = scan_file(path, batch_rows=700).profile
    expected = profile_table(frame)
    assert scanned["n_rows"] == expected["n_rows"] == 5000
    for name in ("distance", "hour", "carrier", "delayed"):
        got, want = scanned["columns"][name], expected["columns"][name]
        assert got.get("top") == want.get("top"), name
        for key in ("missing", "n_unique", "mean", "std", "min", "max", "p50"):
            if key in want:
                assert got[key] == pytest.approx(want[key]), (name, key)


def test_chunked_validation_counts_breaks_across_chunks(flights_slice, tmp_path):
    schema = infer_schema(flights_slice.iloc[:2500], target="delayed")
    batch = flights_slice.iloc[2500:].copy()
    batch["distance"] = batch["distance"].astype(str)
    batch.loc[batch.index[[10, 900, 2000]], "distance"] = "far"
    path = tmp_path / "batch.csv"
    batch.drop(columns=["origin"]).to_csv(path, index=False)
    result = scan_file(path, schema, batch_rows=500)
    found = {(f.check, f.column): f for f in result.findings}
    assert not result.accepted
    assert found[("type_change", "distance")].details["rows"] == 3
    assert ("missing_column", "origin") in found


def test_a_file_without_rows_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataError, match=r"empty table.*no rows"):
        scan_file(path)
