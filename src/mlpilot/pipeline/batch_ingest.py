"""`mlpilot data ingest`: validate a new batch and append it as a dataset version, streamed.

Memory is bounded by a chunk of the batch and one Parquet row group of the new table, never
the whole table:

1. The batch is read in chunks (:func:`read_table_chunks`, the checks of ``read_table``);
   each chunk is validated (:class:`BatchValidator`) and its coerced rows are spilled to a
   scratch folder beside the objects (:class:`TableAppend`).
2. A blocking anomaly rejects the batch: its report is stored and recorded with a
   ``dataset.rejected`` event; no dataset version is made.
3. Otherwise the parent version's rows and the spilled chunks stream, in the new table's
   final types, through :class:`CanonicalWriter` into a scratch file (the same canonical bytes
   ``table_to_parquet_bytes`` gives the concatenated frame), while a :class:`TableProfiler`
   profiles them and the parent is sampled as the drift reference.
4. The table file, the profile and the report become objects; then the dataset version, its
   ingest report and the ``dataset.ingested`` event commit in one transaction, unless another
   version was added meanwhile (a conflict: nothing is recorded, ingest again).

The scratch folder is removed whatever happens, so a failure leaves no partial file and no
record. The new version's quality report is computed when first asked for (``mlpilot data
report``, or the next run): it needs the whole table in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mlpilot.core.errors import ConflictError, DataError
from mlpilot.core.hashing import canonical_json
from mlpilot.data.append import TableAppend
from mlpilot.data.canonical import CanonicalWriter
from mlpilot.data.chunked import TableProfiler
from mlpilot.data.schema import Schema
from mlpilot.data.sources import CHUNK_ROWS, read_table_chunks
from mlpilot.data.validate import BatchValidator, drift_columns, reference_step
from mlpilot.pipeline.data_quality import current_schema
from mlpilot.store import quality_records as records
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, current_actor
from mlpilot.store.handle import StoreHandle


@dataclass(frozen=True)
class IngestOutcome:
    """What ``mlpilot data ingest`` did with a batch."""

    project: str
    accepted: bool
    dataset_version: int | None
    schema_version: int
    report_sha256: str
    validation: dict[str, Any]
    rows: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "accepted": self.accepted,
                "dataset_version": self.dataset_version,
                "drift_detected": self.validation["drift_detected"],
                "schema_version": self.schema_version, "rows": self.rows,
                "source": self.source, "report_sha256": self.report_sha256,
                "findings": self.validation["findings"], "drift": self.validation["drift"]}


def _frame_chunks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    if len(frame) == 0:
        raise DataError("the batch has no rows", expected="at least one row",
                        found=f"an empty frame with {frame.shape[1]} columns",
                        fix="pass the new rows")
    for start in range(0, len(frame), CHUNK_ROWS):
        yield frame.iloc[start:start + CHUNK_ROWS]


@dataclass
class _Written:
    """The new table, written to a scratch file, and what was learned while writing it."""

    path: Path
    rows: int
    columns: int
    profile: dict[str, Any]
    reference: pd.DataFrame


def _write_table(append: TableAppend, schema: Schema, path: Path) -> _Written:
    """Stream the parent's rows and the batch's through the canonical writer and profiler."""
    profiler = TableProfiler()
    drifting = [c for c in drift_columns(schema) if c in append.columns]
    step, seen, sample = reference_step(append.parent_rows), 0, []
    with CanonicalWriter(str(path), append.schema()) as writer:
        for piece, stored in append.parent_pieces():
            writer.write(piece)
            profiler.add(piece.to_pandas())
            first = (-seen) % step
            seen += stored.num_rows
            rows = pa.Table.from_batches([stored.select(drifting)])
            sample.append(rows.take(list(range(first, rows.num_rows, step))).to_pandas())
        for piece in append.batch_pieces():
            writer.write(piece)
            profiler.add(piece.to_pandas())
    reference = pd.concat(sample, ignore_index=True) if sample else pd.DataFrame()
    return _Written(path, writer.rows, len(append.columns), profiler.result(), reference)


def _validate_and_spill(chunks: Iterable[pd.DataFrame], checker: BatchValidator,
                        append: TableAppend) -> None:
    for chunk in chunks:
        coerced = checker.add(chunk)
        if coerced is not None:
            append.add(coerced)


def ingest_batch(store: StoreHandle, project_name: str,
                 data: Path | str | pd.DataFrame) -> IngestOutcome:
    """Validate ``data`` and, unless a blocking anomaly rejects it, append it as a new version.

    Raises:
        DataError: the file cannot be read as a table, or its rows cannot be stored next to
            the existing ones (nothing is recorded).
        ConflictError: another dataset version was added while this one was being written.
    """
    source = "<DataFrame>" if isinstance(data, pd.DataFrame) else str(data)
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        parent = repo.latest_dataset_version(session, project)
        parent_version, parent_sha = parent.version, parent.sha256
        schema_version, schema = current_schema(session, project)
    chunks = (_frame_chunks(data) if isinstance(data, pd.DataFrame)
              else read_table_chunks(Path(data), CHUNK_ROWS))
    checker = BatchValidator(schema, environment="training")
    with (tempfile.TemporaryDirectory(prefix=".ingest-", dir=store.home) as scratch,
          store.objects.open_verified(parent_sha) as stored):
        append = TableAppend(stored, Path(scratch))
        _validate_and_spill(chunks, checker, append)
        if not checker.accepted:
            result = checker.finish(None)
            return _record_rejection(store, project_name, source, parent_version,
                                     schema_version, result.to_dict(), checker.rows)
        written = _write_table(append, schema, Path(scratch) / "table.parquet")
        validation = checker.finish(written.reference).to_dict()
        table_sha = store.objects.put_file(written.path, move=True)
    report = _report(project_name, source, parent_version, schema_version, checker.rows,
                     validation)
    profile_sha = store.objects.put(canonical_json(written.profile))
    report_sha = store.objects.put(canonical_json(report))
    actor = current_actor()
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        latest = repo.latest_dataset_version(session, project)
        if latest.version != parent_version:
            raise ConflictError(
                f"dataset version {latest.version} of {project_name!r} was added while this "
                f"batch was appended to version {parent_version}: nothing was recorded",
                fix="ingest the batch again; it will be appended to the latest version")
        dataset = repo.add_dataset_version(
            session, project, sha256=table_sha, n_rows=written.rows, n_columns=written.columns,
            schema=schema.to_dict(), schema_hash=schema.hash, profile_sha256=profile_sha,
            source=source, parent=latest)
        records.add_data_report(session, project, kind="ingest", dataset=dataset,
                                schema_version=schema_version, accepted=True,
                                drift_detected=validation["drift_detected"],
                                report_sha256=report_sha, source=source)
        append_event(session, "dataset.ingested",
                     {"version": dataset.version, "sha256": table_sha, "rows": dataset.n_rows,
                      "batch_rows": checker.rows, "parent": parent_version, "source": source,
                      "schema_hash": schema.hash, "report_sha256": report_sha,
                      "drift_detected": validation["drift_detected"],
                      "warnings": sum(f["severity"] == "warning"
                                      for f in validation["findings"])},
                     project=project_name, actor=actor)
        version = dataset.version
    return IngestOutcome(project_name, True, version, schema_version, report_sha, validation,
                         checker.rows, source)


def _report(project: str, source: str, parent_version: int, schema_version: int, rows: int,
            validation: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ingest", "project": project, "source": source,
            "parent_version": parent_version, "schema_version": schema_version, "rows": rows,
            **validation}


def _record_rejection(store: StoreHandle, project_name: str, source: str, parent_version: int,
                      schema_version: int, validation: dict[str, Any],
                      rows: int) -> IngestOutcome:
    report = _report(project_name, source, parent_version, schema_version, rows, validation)
    sha = store.objects.put(canonical_json(report))
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        records.add_data_report(session, project, kind="ingest", dataset=None,
                                schema_version=schema_version, accepted=False,
                                drift_detected=False, report_sha256=sha, source=source)
        append_event(session, "dataset.rejected",
                     {"source": source, "rows": rows, "report_sha256": sha,
                      "blocking": [f for f in validation["findings"]
                                   if f["severity"] == "blocking"]},
                     project=project_name, actor=current_actor())
    return IngestOutcome(project_name, False, None, schema_version, sha, validation, rows,
                         source)
