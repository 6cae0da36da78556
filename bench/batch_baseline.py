"""The baseline of bench/batch.py: what a user writes to score a file *without* mlpilot.

The same job as `mlpilot predict` on the same file: read it (the feature columns only, the
category columns as pandas categoricals: pyarrow for Parquet, pandas for CSV), prepare the
native model's input the way the model was trained (numbers as float64, categories as the
training codes, datetime parts), call LightGBM's own ``Booster.predict`` (all cores, its
default), and write the label and the class probabilities (Parquet with pandas/pyarrow, CSV
with pandas). The whole file is read at once, as the plain idiom does; the bench checks that
its predictions equal mlpilot's. Of the idioms tried for reading and coding the categories
(pandas' own reader, Arrow-backed strings, categoricals) this was the fastest on the flights
file, so the baseline is not a straw man.

``model_dir`` holds ``model.txt`` (LightGBM's native text model) and ``prep.json`` (what the
user's training code knows about its features: per column its kind, the category levels in
code order, the datetime parts; the classes and the decision threshold). bench/batch.py
writes both from the mlpilot model it compares with.

    python bench/batch_baseline.py MODEL_DIR input.parquet predictions.parquet
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

DATETIME_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}


def load(model_dir: Path) -> tuple[lgb.Booster, dict[str, Any]]:
    booster = lgb.Booster(model_file=str(model_dir / "model.txt"))
    return booster, json.loads((model_dir / "prep.json").read_text())


def features(frame: pd.DataFrame, prep: dict[str, Any]) -> np.ndarray:
    """The float64 matrix the booster was trained on."""
    columns = []
    for step in prep["steps"]:
        values = frame[step["column"]]
        if step["kind"] == "numeric":
            columns.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
        elif step["kind"] == "codes":
            codes = pd.Index(step["levels"]).get_indexer(values).astype(np.float64)
            unknown = codes < 0
            codes[unknown] = np.nan
            if step["other"]:  # levels past the 255 most frequent share one code
                codes[unknown & values.notna().to_numpy()] = len(step["levels"])
            columns.append(codes)
        elif step["kind"] == "datetime":
            if not pd.api.types.is_datetime64_any_dtype(values.dtype):
                values = pd.to_datetime(values)
            for part in step["parts"]:
                part_values = getattr(values.dt, DATETIME_ATTRIBUTES.get(part, part))
                columns.append(part_values.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            raise ValueError(f"this baseline handles numeric, codes and datetime steps, "
                             f"not {step['kind']!r}")
    return np.column_stack(columns)


def predict_file(booster: lgb.Booster, prep: dict[str, Any], source: Path, output: Path) -> int:
    """Score ``source`` into ``output``; the number of rows."""
    columns = [step["column"] for step in prep["steps"]]
    categories = [step["column"] for step in prep["steps"] if step["kind"] == "codes"]
    if source.suffix == ".parquet":  # strings read as categories: a lookup per distinct value
        frame = pq.read_table(source, columns=columns, read_dictionary=categories).to_pandas()
    else:
        frame = pd.read_csv(source, usecols=columns, dtype=dict.fromkeys(categories, "category"))
    proba = booster.predict(features(frame, prep))
    classes = np.asarray(prep["classes"])
    out = pd.DataFrame({"prediction": classes[(proba >= prep["threshold"]).astype(int)],
                        f"proba_{prep['classes'][0]}": 1.0 - proba,
                        f"proba_{prep['classes'][1]}": proba})
    if output.suffix == ".parquet":
        out.to_parquet(output, index=False)
    else:
        out.to_csv(output, index=False)
    return len(out)


if __name__ == "__main__":
    booster, prep = load(Path(sys.argv[1]))
    predict_file(booster, prep, Path(sys.argv[2]), Path(sys.argv[3]))
