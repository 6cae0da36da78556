"""Schemas, quality reports and new batches, recorded in the workspace.

- Every project has versioned schemas: version 1 inferred at creation, one more per edit.
- Every dataset version has a quality report: stored at creation for a first version of at
  most ``SAMPLE_ROWS`` rows, and computed and stored on first request for longer first
  versions (see :mod:`mlpilot.pipeline.ingest`), for versions appended by ``mlpilot data
  ingest`` (see :mod:`mlpilot.pipeline.batch_ingest`; both stream and never hold the whole
  table) and for versions made before reports existed.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlpilot.core.config import ProjectConfig
from mlpilot.core.errors import SchemaError
from mlpilot.core.hashing import canonical_json
from mlpilot.data.quality import quality_report
from mlpilot.data.schema import Schema
from mlpilot.data.schema_yaml import schema_from_yaml
from mlpilot.data.sources import parquet_bytes_to_table
from mlpilot.data.split_check import compare_split
from mlpilot.data.validate import validate_batch
from mlpilot.store import quality_records as records
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, current_actor
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow, ProjectRow

# -- schemas --------------------------------------------------------------------------------


def current_schema(session: Session, project: ProjectRow) -> tuple[int, Schema]:
    """The project's latest schema version; version 1 is the first dataset's inferred schema."""
    row = records.get_schema_version(session, project)
    if row is not None:
        return row.version, Schema.from_dict(json.loads(row.schema_json))
    first = session.execute(
        select(DatasetVersionRow).where(DatasetVersionRow.project_id == project.id)
        .order_by(DatasetVersionRow.version).limit(1)).scalar_one()
    return 1, Schema.from_dict(json.loads(first.schema_json))


def record_inferred_schema(session: Session, project: ProjectRow, schema: Schema,
                           actor: str) -> int:
    """Schema version 1 of a new project (called in the creating transaction)."""
    return records.add_schema_version(session, project, schema.to_dict(), origin="inferred",
                                      actor=actor).version


def schema_history(store: StoreHandle, project_name: str) -> list[dict[str, Any]]:
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        rows = records.list_schema_versions(session, project)
        if not rows:
            version, schema = current_schema(session, project)
            return [{"version": version, "origin": "inferred", "note": None,
                     "schema_hash": schema.hash, "created_at": None, "created_by": None}]
        return [{"version": r.version, "origin": r.origin, "note": r.note,
                 "schema_hash": r.schema_hash, "created_by": r.created_by,
                 "created_at": r.created_at.isoformat(timespec="seconds") + "Z"}
                for r in rows]


def get_schema(store: StoreHandle, project_name: str,
               version: int | None = None) -> tuple[int, Schema]:
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        if version is None or records.get_schema_version(session, project) is None:
            found, schema = current_schema(session, project)
            if version not in (None, found):
                records.get_schema_version(session, project, version)  # raises NotFound
            return found, schema
        row = records.get_schema_version(session, project, version)
        return row.version, Schema.from_dict(json.loads(row.schema_json))


def edit_schema(store: StoreHandle, project_name: str, text: str,
                note: str | None = None) -> tuple[int, Schema]:
    """Apply an edited YAML schema as a new version, after checking the latest data fits it.

    Raises:
        SchemaError: the YAML is invalid, an edit is not allowed, nothing changed, or the
            latest dataset version does not fit the edited schema (each column named).
    """
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        version, schema = current_schema(session, project)
        dataset = repo.latest_dataset_version(session, project)
    edited = schema_from_yaml(text, schema)
    if edited.hash == schema.hash:
        raise SchemaError("the edited schema is the same as the current one",
                          found=f"schema version {version} unchanged",
                          fix="change a field, or leave the schema as it is")
    frame = parquet_bytes_to_table(store.objects.get(dataset.sha256))
    check = validate_batch(frame, edited, None)
    if not check.accepted:
        problems = "; ".join(f"{f.column}: {f.message}" for f in check.blocking)
        raise SchemaError(f"dataset version {dataset.version} does not fit the edited schema",
                          expected="every column's values readable as its new kind",
                          found=problems, fix="choose kinds the data holds, then save again")
    actor = current_actor()
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        if records.get_schema_version(session, project) is None:  # predates versioning
            records.add_schema_version(session, project, schema.to_dict(), origin="inferred",
                                       actor=actor)
        row = records.add_schema_version(session, project, edited.to_dict(), origin="edited",
                                         actor=actor, note=note)
        parent = repo.latest_dataset_version(session, project)
        # the same table under the new schema: a new dataset version (no new bytes), so runs
        # and reproductions keep reading the schema from the dataset version they used
        retyped = repo.add_dataset_version(
            session, project, sha256=parent.sha256, n_rows=parent.n_rows,
            n_columns=parent.n_columns, schema=edited.to_dict(), schema_hash=edited.hash,
            profile_sha256=parent.profile_sha256,
            source=f"schema v{row.version} applied to dataset v{parent.version}", parent=parent)
        append_event(session, "schema.edited",
                     {"version": row.version, "schema_hash": row.schema_hash,
                      "previous": version, "note": note, "dataset_version": retyped.version},
                     project=project.name, actor=actor)
        return row.version, edited


# -- quality reports ------------------------------------------------------------------------


def _quality_payload(frame: pd.DataFrame, schema: Schema, config: ProjectConfig,
                     dataset_version: int, schema_version: int) -> dict[str, Any]:
    report = quality_report(frame, schema, task=str(config.task))
    return {"kind": "quality", "project": config.name, "dataset_version": dataset_version,
            "schema_version": schema_version, "schema_hash": schema.hash, **report.to_dict()}


def dataset_report(store: StoreHandle, project_name: str,
                   version: int | None = None) -> dict[str, Any]:
    """The quality report of a dataset version (latest by default) under the current schema.

    Stored on first request; later requests read the stored report.
    """
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        dataset = (repo.latest_dataset_version(session, project) if version is None
                   else records.get_dataset_version(session, project, version))
        schema_version, schema = current_schema(session, project)
        stored = records.find_quality_report(session, dataset, schema_version)
        config = ProjectConfig.from_dict(json.loads(project.config_json))
    if stored is not None:
        return json.loads(store.objects.get(stored.report_sha256))
    frame = parquet_bytes_to_table(store.objects.get(dataset.sha256))
    payload = _quality_payload(frame, schema, config, dataset.version, schema_version)
    sha = store.objects.put(canonical_json(payload))
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        records.add_data_report(session, project, kind="quality", dataset=dataset,
                                schema_version=schema_version, accepted=True,
                                drift_detected=False, report_sha256=sha,
                                source=dataset.source)
    return payload


def record_initial_quality(store: StoreHandle, session: Session, project: ProjectRow,
                           dataset: DatasetVersionRow, frame: pd.DataFrame | None,
                           schema: Schema, config: ProjectConfig, actor: str) -> str | None:
    """Schema version 1 and, given the whole table as ``frame``, the first dataset version's
    quality report, in ``session``; without it (a table too long to hold) the report is
    computed on first request (:func:`dataset_report`). Returns the report's sha256."""
    schema_version = record_inferred_schema(session, project, schema, actor)
    if frame is None:
        return None
    payload = _quality_payload(frame, schema, config, dataset.version, schema_version)
    sha = store.objects.put(canonical_json(payload))
    records.add_data_report(session, project, kind="quality", dataset=dataset,
                            schema_version=schema_version, accepted=True, drift_detected=False,
                            report_sha256=sha, source=dataset.source)
    return sha


# -- inside a run ---------------------------------------------------------------------------


def run_data_checks(store: StoreHandle, project_name: str, dataset_version: int,
                    labelled: pd.DataFrame, schema: Schema, split: Any) -> dict[str, Any]:
    """What a run records about its data: the dataset's quality summary and the split check.

    Returns ``{"data_quality": {...}, "split_check": {...}}`` for the run's split record: the
    counts and warnings of the stored quality report, and each feature whose validation or
    test distribution differs significantly from training.
    """
    quality = dataset_report(store, project_name, dataset_version)
    comparison = compare_split(labelled, schema, {"train": split.train, "valid": split.valid,
                                                  "test": split.test})
    return {
        "data_quality": {"dataset_version": dataset_version,
                         "schema_version": quality["schema_version"],
                         "counts": quality["counts"],
                         "warnings": [f"{f['column'] or 'table'}: {f['message']}"
                                      for f in quality["findings"]
                                      if f["severity"] == "warning"]},
        "split_check": {
            "differences": [f.to_dict() for f in comparison["findings"]],
            "drifted": {part: info["drifted_columns"]
                        for part, info in comparison["parts"].items()}},
    }
