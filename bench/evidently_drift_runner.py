"""Runs in the Evidently peer venv (.peers/evidently): per-column drift verdicts of Evidently's
default DataDriftPreset for every reference/current pair in a folder.

Usage: .peers/evidently/bin/python bench/evidently_drift_runner.py FOLDER OUT.json
FOLDER holds ref_<i>.parquet / cur_<i>.parquet pairs and columns.json (numerical, categorical).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main(folder: Path, out: Path) -> None:
    kinds = json.loads((folder / "columns.json").read_text())
    definition = DataDefinition(numerical_columns=kinds["numerical"],
                                categorical_columns=kinds["categorical"])
    results = []
    for ref_path in sorted(folder.glob("ref_*.parquet")):
        cur_path = folder / ref_path.name.replace("ref_", "cur_")
        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
        start = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition))
        seconds = time.perf_counter() - start
        verdicts = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if not config.get("type", "").endswith("ValueDrift"):
                continue
            value, threshold = float(metric["value"]), float(config["threshold"])
            p_value = "p_value" in config["method"]
            verdicts[config["column"]] = {
                "method": config["method"],
                "drifted": value < threshold if p_value else value >= threshold}
        results.append({"pair": ref_path.stem, "seconds": seconds, "columns": verdicts})
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
