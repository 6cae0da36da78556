"""What a recorded run used, loaded back: its dataset version, split rows and test predictions.

Reproduction, reports and lineage all need the same things a run saw: the exact dataset
version (by number, not the latest), the stored split assignment and the model's raw test
predictions. This module rebuilds them from the store, checking every hash on the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlpilot.core.config import ProjectConfig
from mlpilot.core.errors import IntegrityError, NotFoundError
from mlpilot.data.schema import Schema, validate_prediction_input
from mlpilot.data.sources import parquet_bytes_to_table
from mlpilot.models.predictor import Predictor
from mlpilot.store import repositories as repo
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow, ProjectRow, RunRow

_SPLIT_CODES = {0: "train", 1: "valid", 2: "test"}


def find_dataset_version(session: Session, project: ProjectRow,
                         version: int) -> DatasetVersionRow:
    """Dataset ``version`` of ``project``; NotFoundError naming the versions that exist."""
    row = session.execute(select(DatasetVersionRow).where(
        DatasetVersionRow.project_id == project.id,
        DatasetVersionRow.version == version)).scalar()
    if row is None:
        known = session.execute(select(DatasetVersionRow.version).where(
            DatasetVersionRow.project_id == project.id)).scalars().all()
        raise NotFoundError(f"project {project.name!r} has no dataset version {version}",
                            found=f"versions {', '.join(map(str, sorted(known)))}",
                            fix="use one of the recorded dataset versions")
    return row


def prediction_bytes(prediction: np.ndarray) -> bytes:
    """Raw predictions as canonical bytes: little-endian float64, C order, shape-prefixed."""
    array = np.ascontiguousarray(prediction, dtype="<f8")
    header = json.dumps({"shape": list(array.shape)}).encode("ascii") + b"\n"
    return header + array.tobytes()


def predictions_from_bytes(data: bytes) -> np.ndarray:
    """The inverse of :func:`prediction_bytes`."""
    header, body = data.split(b"\n", 1)
    shape = tuple(json.loads(header)["shape"])
    return np.frombuffer(body, dtype="<f8").reshape(shape)


@dataclass(frozen=True)
class RunData:
    """The rows a run trained, validated and tested on, as the run saw them."""

    run_id: str
    config: ProjectConfig
    schema: Schema
    frame: pd.DataFrame  # the labelled rows, in stored order
    assignment: np.ndarray  # 0 train, 1 valid, 2 test, per labelled row
    features: pd.DataFrame
    y: np.ndarray
    classes: list[Any] | None

    def part(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        """Features and encoded target of the "train", "valid" or "test" rows."""
        code = {v: k for k, v in _SPLIT_CODES.items()}[name]
        idx = np.flatnonzero(self.assignment == code)
        return self.features.iloc[idx].reset_index(drop=True), self.y[idx]


def load_run_data(store: StoreHandle, run_id: str) -> RunData:
    """Rebuild the labelled rows, split and encoded target of a finished run."""
    from mlpilot.pipeline.run import encode_target  # run imports this module

    with store.transaction() as session:
        run = repo.get_run(session, run_id)
        dataset = repo.get_dataset_version_by_id(session, run.dataset_version_id)
        manifest = json.loads(run.manifest_json)
        split = json.loads(run.split_json) if run.split_json else None
        table_sha, schema_json = dataset.sha256, dataset.schema_json
        full_id = run.id
    if split is None:
        raise NotFoundError(f"run {full_id} has no recorded split (it failed before splitting)",
                            fix="pick a run that finished (`mlpilot run list PROJECT`)")
    config = ProjectConfig.from_dict(manifest["project"])
    schema = Schema.from_dict(json.loads(schema_json))
    frame = parquet_bytes_to_table(store.objects.get(table_sha))
    labelled = frame[frame[config.target].notna()].reset_index(drop=True)
    assignment = np.frombuffer(store.objects.get(split["object"]), dtype=np.int8)
    if len(assignment) != len(labelled):
        raise IntegrityError(f"the split of run {full_id} does not fit its dataset",
                             expected=f"{len(labelled)} rows", found=f"{len(assignment)}",
                             fix="the object store was changed; restore it from a backup")
    y, classes = encode_target(labelled[config.target], config.task)
    return RunData(full_id, config, schema, labelled, assignment,
                   validate_prediction_input(labelled, schema), y, classes)


def raw_prediction(predictor: Predictor, X: pd.DataFrame) -> np.ndarray:
    """Probabilities (classification) or values (regression), as the run evaluated them."""
    if predictor.task.is_classification:
        return predictor.predict_proba(X)
    return predictor.predict(X)


def split_name(code: int) -> str:
    return _SPLIT_CODES[int(code)]


def run_row(session: Session, run_id: str) -> RunRow:
    return repo.get_run(session, run_id)
