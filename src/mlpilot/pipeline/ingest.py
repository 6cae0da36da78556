"""Project creation: read and check a table, then record it as the first dataset version.

Every check runs before anything is written; the objects (table, profile) are stored before the
database records that name them, and those records commit in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlpilot.core.budget import BudgetSpec
from mlpilot.core.config import ProjectConfig, Task, check_project_name
from mlpilot.core.errors import DataError
from mlpilot.core.hashing import canonical_json
from mlpilot.data.profile import profile_table
from mlpilot.data.schema import Schema, infer_schema
from mlpilot.data.sources import read_table, table_to_parquet_bytes
from mlpilot.data.task import check_target, check_target_for_task, detect_task
from mlpilot.evaluation.metrics import default_metric, get_metric
from mlpilot.pipeline.data_quality import record_initial_quality
from mlpilot.pipeline.environment import available_cpus, available_memory_mb
from mlpilot.search.proposal import propose_budget
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, current_actor
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow, ProjectRow


@dataclass(frozen=True)
class PreparedTable:
    """A table that passed every check, with what was derived from it, not yet stored."""

    frame: pd.DataFrame
    config: ProjectConfig
    schema: Schema
    profile: dict[str, Any]
    table_bytes: bytes
    proposed: BudgetSpec
    source: str


def prepare_table(
    name: str, data: Path | str | pd.DataFrame, target: str, *, task: str | None = None,
    metric: str | None = None, time_column: str | None = None,
    id_columns: tuple[str, ...] = (), seed: int = 0,
) -> PreparedTable:
    """Read and check ``data`` for a new project; raise before anything is written."""
    check_project_name(name)
    if isinstance(data, pd.DataFrame):
        frame, source = data.reset_index(drop=True), "<DataFrame>"
    else:
        frame, source = read_table(Path(data)), str(data)
    check_target(frame, target)
    resolved_task = Task.parse(task) if task else detect_task(frame[target])
    labelled = frame[frame[target].notna()]
    check_target_for_task(labelled[target], resolved_task)
    metric_name = (get_metric(metric, resolved_task) if metric
                   else default_metric(resolved_task)).name
    schema = infer_schema(frame, target=target, time_column=time_column,
                          id_columns=tuple(id_columns))
    if not schema.feature_columns:
        raise DataError(
            "the table has no feature columns besides the target",
            expected="at least one column a model can learn from",
            found=f"columns: {', '.join(frame.columns)}",
            fix="add feature columns to the table, or check --id-columns",
        )
    config = ProjectConfig(name=name, target=target, task=resolved_task, metric=metric_name,
                           time_column=time_column, id_columns=tuple(id_columns), seed=seed)
    table_bytes = table_to_parquet_bytes(frame)
    proposed = propose_budget(len(frame), frame.shape[1], int(frame.memory_usage(deep=True).sum()),
                              cpus_available=available_cpus(),
                              memory_available_mb=available_memory_mb())
    return PreparedTable(frame, config, schema, profile_table(frame), table_bytes, proposed,
                         source)


def record_project(store: StoreHandle, prepared: PreparedTable) -> tuple[ProjectRow,
                                                                         DatasetVersionRow]:
    """Store the objects, then the project and its first dataset version in one transaction."""
    table_sha = store.objects.put(prepared.table_bytes)
    profile_sha = store.objects.put(canonical_json(prepared.profile))
    actor = current_actor()
    with store.transaction() as session:
        project = repo.add_project(session, prepared.config.name, prepared.config.to_dict(),
                                   prepared.proposed.to_dict(), actor)
        dataset = repo.add_dataset_version(
            session, project, sha256=table_sha, n_rows=len(prepared.frame),
            n_columns=prepared.frame.shape[1], schema=prepared.schema.to_dict(),
            schema_hash=prepared.schema.hash, profile_sha256=profile_sha,
            source=prepared.source)
        append_event(session, "project.created",
                     {"config": prepared.config.to_dict(),
                      "proposed_budget": prepared.proposed.to_dict()},
                     project=project.name, actor=actor)
        append_event(session, "dataset.ingested",
                     {"version": dataset.version, "sha256": table_sha, "rows": dataset.n_rows,
                      "columns": dataset.n_columns, "source": prepared.source,
                      "schema_hash": prepared.schema.hash},
                     project=project.name, actor=actor)
        record_initial_quality(store, session, project, dataset, prepared.frame,
                               prepared.schema, prepared.config, actor)
    return project, dataset
