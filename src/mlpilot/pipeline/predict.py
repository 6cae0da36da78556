"""Batch prediction: a file in, a file of predictions out, one row per input row, in order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlpilot.data.sources import read_table, write_table
from mlpilot.models.predictor import Predictor


@dataclass(frozen=True)
class BatchResult:
    rows: int
    output: Path


def predict_frame(predictor: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """``prediction`` then ``proba_<class>`` per class, one row per input row, in order."""
    return predictor.predict_frame(frame)


def predict_file(predictor: Predictor, source: Path, output: Path) -> BatchResult:
    """Read ``source`` (CSV or Parquet), predict, write ``output`` atomically (by extension)."""
    frame = read_table(source)
    result = predict_frame(predictor, frame)
    write_table(result, output)
    return BatchResult(rows=len(result), output=output)
