"""Project creation: read and check a table in chunks, then record it as the first version.

Memory is bounded by a chunk, a sample of rows, the target column and one Parquet row group,
never the whole table:

1. The table is read in chunks (:func:`read_table_chunks`, the checks of ``read_table``; a
   DataFrame is cut into chunks). Each chunk is spilled to a scratch folder beside the
   objects (:class:`ChunkSpill`), sampled (:class:`RowSample`, at most
   :data:`SAMPLE_ROWS` rows) and its target column kept. A CSV column read as numbers in
   some chunks and as text in others is read again as text throughout, as reading the file
   whole gives it.
2. The column types of the whole table are resolved from the chunks'; the target is checked
   on all its values (missing, all missing, the task, too few rows of a class) and the metric
   resolved, before anything more is written.
3. The spilled chunks stream through :class:`CanonicalWriter` into a scratch file: the bytes
   ``table_to_parquet_bytes`` gives the whole table, so the dataset hash is the one reading it
   in memory gave. A table longer than the sample is profiled on the way
   (:class:`TableProfiler`), and the domain of its text columns followed
   (:class:`DistinctValues`).
4. The schema is inferred: from the whole table when it is its own sample, else from the
   sample's values and the whole table's types and domain (:func:`column_facts`).
5. The table file and the profile become objects; the project, its first dataset version,
   schema version 1 and the audit events commit in one transaction. The quality report is
   stored with them for a table that is its own sample; a longer table's is computed on first
   request (``mlpilot data report``, or the first run), as for versions added by ingest.

The scratch folder is removed whatever happens, so a failure leaves no partial file and no
record. :func:`record_project` records a table already in memory (a bundle's import).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlpilot.core.budget import BudgetSpec
from mlpilot.core.config import ProjectConfig, Task, check_project_name
from mlpilot.core.errors import DataError
from mlpilot.core.hashing import canonical_json
from mlpilot.data.canonical import CanonicalWriter
from mlpilot.data.chunked import TableProfiler
from mlpilot.data.profile import profile_table
from mlpilot.data.schema import ColumnFacts, Schema, infer_schema, unknown_column_error
from mlpilot.data.sources import CHUNK_ROWS, read_table_chunks
from mlpilot.data.spill import ChunkSpill, as_dtypes
from mlpilot.data.streamed_schema import DistinctValues, RowSample, column_facts
from mlpilot.data.task import check_target, check_target_for_task, detect_task
from mlpilot.evaluation.metrics import default_metric, get_metric
from mlpilot.pipeline.data_quality import record_initial_quality
from mlpilot.pipeline.environment import available_cpus, available_memory_mb
from mlpilot.search.proposal import propose_budget
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, current_actor
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow, ProjectRow

#: rows of the sample the schema is inferred from; a table this long or shorter is its own
#: sample (schema, profile and quality report from the whole table, as in memory)
SAMPLE_ROWS = 50_000


@dataclass(frozen=True)
class PreparedTable:
    """A table in memory that passed every check, with what was derived from it (a bundle's
    first dataset version, re-created on import)."""

    frame: pd.DataFrame
    config: ProjectConfig
    schema: Schema
    profile: dict[str, Any]
    table_bytes: bytes
    proposed: BudgetSpec
    source: str


@dataclass
class _Read:
    """Step 1's result: the spilled table, its sample and its target column."""

    spill: ChunkSpill
    sample: RowSample
    target: list[pd.Series]


@dataclass
class _Written:
    """Step 3's result: the canonical table in a scratch file and what was learned writing it."""

    path: Path
    rows: int
    columns: int
    facts: dict[str, ColumnFacts] | None  # None: the table is its own sample
    profile: dict[str, Any] | None = None


def _frame_chunks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    if len(frame) == 0 or frame.shape[1] == 0:
        raise DataError("the DataFrame is an empty table",
                        expected="a header row and at least one data row",
                        found=f"{len(frame)} rows and {frame.shape[1]} columns",
                        fix="pass the table's rows")
    names = [str(c) for c in frame.columns]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise DataError("the DataFrame has duplicate column names: "
                        + ", ".join(repr(d) for d in doubled),
                        expected="every column name once",
                        found=f"{len(names)} columns, {len(set(names))} distinct names",
                        fix="rename or drop the repeated columns")
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start:start + CHUNK_ROWS]
        chunk.columns = names
        yield chunk


def _read(chunks: Iterator[pd.DataFrame], target: str, scratch: Path) -> _Read:
    read = _Read(ChunkSpill(scratch), RowSample(SAMPLE_ROWS), [])
    with contextlib.closing(chunks):
        for chunk in chunks:
            if not read.spill.columns and target not in chunk.columns:  # before reading on
                raise unknown_column_error("target column", target, list(chunk.columns))
            read.spill.add(chunk)
            read.sample.add(chunk)
            read.target.append(chunk[target].copy())
    return read


def _check_target(read: _Read, dtype: Any, target: str, task: str | None,
                  metric: str | None) -> tuple[Task, str]:
    """The task and metric name, after checking the whole target column (then let go)."""
    labels = as_dtypes(pd.concat([part.to_frame() for part in read.target], ignore_index=True),
                       {target: dtype})
    read.target.clear()
    check_target(labels, target)
    resolved = Task.parse(task) if task else detect_task(labels[target])
    check_target_for_task(labels[target][labels[target].notna()], resolved)
    return resolved, (get_metric(metric, resolved) if metric else default_metric(resolved)).name


def _check_roles(columns: list[str], time_column: str | None,
                 id_columns: tuple[str, ...]) -> None:
    for role, name in [("time column", time_column), *(("id column", c) for c in id_columns)]:
        if name is not None and name not in columns:
            raise unknown_column_error(role, name, columns)


def _write(read: _Read, dtypes: dict[str, Any], path: Path) -> _Written:
    """Stream the spilled chunks into canonical Parquet; profile them unless sampled whole."""
    profiled = not read.sample.complete
    profiler, distinct = TableProfiler(), DistinctValues.of_text_columns(dtypes)
    with CanonicalWriter(str(path), read.spill.schema()) as writer:
        for piece in read.spill.pieces():
            writer.write(piece)
            if profiled:
                frame = as_dtypes(piece.to_pandas(), dtypes)
                profiler.add(frame)
                distinct.add(frame)
    if not profiled:
        return _Written(path, writer.rows, len(dtypes), None)
    profile = profiler.result()
    return _Written(path, writer.rows, len(dtypes), column_facts(profile, distinct), profile)


def create_project(store: StoreHandle, name: str, data: Path | str | pd.DataFrame, target: str,
                   *, task: str | None = None, metric: str | None = None,
                   time_column: str | None = None, id_columns: tuple[str, ...] = (),
                   seed: int = 0) -> ProjectRow:
    """Check ``data`` and record it as project ``name``'s first dataset version (streamed).

    Raises:
        DataError: the table cannot be read, the target is missing, empty or unsuited to the
            task, a named column is missing, or no column is left to learn from; nothing is
            written.
        ConfigError: the name, task or metric is invalid.
    """
    check_project_name(name)
    if isinstance(data, pd.DataFrame):
        chunks, source = _frame_chunks(data), "<DataFrame>"
    else:
        chunks, source = read_table_chunks(Path(data), CHUNK_ROWS), str(data)
    with tempfile.TemporaryDirectory(prefix=".create-", dir=store.home) as scratch:
        read = _read(chunks, target, Path(scratch))
        mixed = read.spill.mixed_text()
        if mixed and not isinstance(data, pd.DataFrame):  # as reading the file whole does
            read.spill.discard()
            chunks = read_table_chunks(Path(data), CHUNK_ROWS, text_columns=mixed)
            read = _read(chunks, target, Path(scratch))
        dtypes = read.spill.dtypes()
        resolved_task, metric_name = _check_target(read, dtypes[target], target, task, metric)
        _check_roles(read.spill.columns, time_column, tuple(id_columns))
        written = _write(read, dtypes, Path(scratch) / "table.parquet")
        sample = read.sample.frame(dtypes)
        if written.profile is None:
            profile, memory = profile_table(sample), int(sample.memory_usage(deep=True).sum())
        else:
            profile = written.profile
            memory = int(profile["memory_bytes"] + pd.RangeIndex(written.rows).memory_usage())
        schema = infer_schema(sample, target=target, time_column=time_column,
                              id_columns=tuple(id_columns), facts=written.facts)
        _check_features(schema)
        config = ProjectConfig(name=name, target=target, task=resolved_task, metric=metric_name,
                               time_column=time_column, id_columns=tuple(id_columns), seed=seed)
        proposed = propose_budget(written.rows, written.columns, memory,
                                  cpus_available=available_cpus(),
                                  memory_available_mb=available_memory_mb())
        table_sha = store.objects.put_file(written.path, move=True)
    project, _ = _record(store, config, schema, profile, proposed, source, table_sha,
                         (written.rows, written.columns), sample if written.facts is None else None)
    return project


def _check_features(schema: Schema) -> None:
    if not schema.feature_columns:
        raise DataError(
            "the table has no feature columns besides the target",
            expected="at least one column a model can learn from",
            found=f"columns: {', '.join(schema.names)}",
            fix="add feature columns to the table, or check --id-columns",
        )


def record_project(store: StoreHandle, prepared: PreparedTable) -> tuple[ProjectRow,
                                                                         DatasetVersionRow]:
    """Store a table already in memory, then the project and its first dataset version."""
    table_sha = store.objects.put(prepared.table_bytes)
    return _record(store, prepared.config, prepared.schema, prepared.profile, prepared.proposed,
                   prepared.source, table_sha, prepared.frame.shape, prepared.frame)


def _record(store: StoreHandle, config: ProjectConfig, schema: Schema, profile: dict[str, Any],
            proposed: BudgetSpec, source: str, table_sha: str, shape: tuple[int, int],
            frame: pd.DataFrame | None) -> tuple[ProjectRow, DatasetVersionRow]:
    """The profile object, then the records in one transaction (the table is stored)."""
    profile_sha = store.objects.put(canonical_json(profile))
    actor = current_actor()
    with store.transaction() as session:
        project = repo.add_project(session, config.name, config.to_dict(), proposed.to_dict(),
                                   actor)
        dataset = repo.add_dataset_version(
            session, project, sha256=table_sha, n_rows=shape[0], n_columns=shape[1],
            schema=schema.to_dict(), schema_hash=schema.hash, profile_sha256=profile_sha,
            source=source)
        append_event(session, "project.created",
                     {"config": config.to_dict(), "proposed_budget": proposed.to_dict()},
                     project=project.name, actor=actor)
        append_event(session, "dataset.ingested",
                     {"version": dataset.version, "sha256": table_sha, "rows": dataset.n_rows,
                      "columns": dataset.n_columns, "source": source,
                      "schema_hash": schema.hash},
                     project=project.name, actor=actor)
        record_initial_quality(store, session, project, dataset, frame, schema, config, actor)
    return project, dataset
