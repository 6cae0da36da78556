"""Queries and inserts of the metadata records, each in the caller's session (transaction).

Functions raise the domain errors a user reads: an unknown project names the existing ones, a
taken name says how to pick another.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlpilot.core.errors import ConflictError, NotFoundError
from mlpilot.store.audit import utcnow
from mlpilot.store.tables import (
    AliasRow,
    BudgetApprovalRow,
    DatasetVersionRow,
    ModelVersionRow,
    ProjectRow,
    RunRow,
    TrialRow,
)


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


# -- projects ------------------------------------------------------------------------------


def list_projects(session: Session) -> list[ProjectRow]:
    return list(session.execute(select(ProjectRow).order_by(ProjectRow.name)).scalars())


def find_project(session: Session, name: str) -> ProjectRow | None:
    return session.execute(select(ProjectRow).where(ProjectRow.name == name)).scalar()


def get_project(session: Session, name: str) -> ProjectRow:
    row = find_project(session, name)
    if row is None:
        names = [p.name for p in list_projects(session)]
        close = difflib.get_close_matches(name, names, n=3)
        found = f"projects: {', '.join(names)}" if names else "no projects yet"
        fix = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
               else "create it with `mlpilot project create NAME --data FILE --target COLUMN`")
        raise NotFoundError(f"unknown project {name!r}", found=found, fix=fix)
    return row


def check_name_free(session: Session, name: str) -> None:
    """Raise ConflictError when a project called ``name`` exists."""
    if find_project(session, name) is not None:
        raise ConflictError(
            f"a project named {name!r} already exists",
            fix=f"choose another name, or use the existing one (`mlpilot project show {name}`)",
        )


def add_project(session: Session, name: str, config: dict[str, Any], proposed: dict[str, Any],
                actor: str) -> ProjectRow:
    check_name_free(session, name)
    row = ProjectRow(name=name, config_json=dumps(config), proposed_budget_json=dumps(proposed),
                     created_at=utcnow(), created_by=actor)
    session.add(row)
    session.flush()
    return row


# -- budget approvals ----------------------------------------------------------------------


def add_approval(session: Session, project: ProjectRow, proposed: dict[str, Any],
                 approved: dict[str, Any], actor: str) -> BudgetApprovalRow:
    last = latest_approval(session, project)
    row = BudgetApprovalRow(project_id=project.id, sequence=(last.sequence + 1) if last else 1,
                            proposed_json=dumps(proposed), approved_json=dumps(approved),
                            approved_by=actor, approved_at=utcnow())
    session.add(row)
    session.flush()
    return row


def latest_approval(session: Session, project: ProjectRow) -> BudgetApprovalRow | None:
    return session.execute(
        select(BudgetApprovalRow).where(BudgetApprovalRow.project_id == project.id)
        .order_by(BudgetApprovalRow.sequence.desc()).limit(1)
    ).scalar()


# -- dataset versions ----------------------------------------------------------------------


def add_dataset_version(session: Session, project: ProjectRow, *, sha256: str, n_rows: int,
                        n_columns: int, schema: dict[str, Any], schema_hash: str,
                        profile_sha256: str, source: str,
                        parent: DatasetVersionRow | None = None) -> DatasetVersionRow:
    last = latest_dataset_version(session, project)
    row = DatasetVersionRow(project_id=project.id, version=(last.version + 1) if last else 1,
                            sha256=sha256, parent_id=parent.id if parent else None,
                            n_rows=n_rows, n_columns=n_columns, schema_json=dumps(schema),
                            schema_hash=schema_hash, profile_sha256=profile_sha256,
                            source=source, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def latest_dataset_version(session: Session, project: ProjectRow) -> DatasetVersionRow | None:
    return session.execute(
        select(DatasetVersionRow).where(DatasetVersionRow.project_id == project.id)
        .order_by(DatasetVersionRow.version.desc()).limit(1)
    ).scalar()


def get_dataset_version_by_id(session: Session, row_id: int) -> DatasetVersionRow:
    row = session.get(DatasetVersionRow, row_id)
    if row is None:
        raise NotFoundError(f"dataset version id {row_id} does not exist")
    return row


# -- runs and trials -----------------------------------------------------------------------


def add_run(session: Session, project: ProjectRow, *, run_id: str, dataset: DatasetVersionRow,
            approval: BudgetApprovalRow, seed: int, manifest: dict[str, Any]) -> RunRow:
    number = session.execute(
        select(func.coalesce(func.max(RunRow.number), 0)).where(RunRow.project_id == project.id)
    ).scalar_one() + 1
    row = RunRow(id=run_id, project_id=project.id, number=number, status="running",
                 dataset_version_id=dataset.id, approval_id=approval.id, seed=seed,
                 manifest_json=dumps(manifest), started_at=utcnow())
    session.add(row)
    session.flush()
    return row


def get_run(session: Session, run_id: str) -> RunRow:
    row = session.get(RunRow, run_id)
    if row is None:
        matches = list(session.execute(
            select(RunRow).where(RunRow.id.startswith(run_id))).scalars()) if run_id else []
        if len(matches) == 1:
            return matches[0]
        raise NotFoundError(f"unknown run {run_id!r}",
                            fix="list runs with `mlpilot run list PROJECT`")
    return row


def list_runs(session: Session, project: ProjectRow) -> list[RunRow]:
    return list(session.execute(
        select(RunRow).where(RunRow.project_id == project.id).order_by(RunRow.number)).scalars())


def add_trial(session: Session, run: RunRow, **fields: Any) -> TrialRow:
    fields["params_json"] = dumps(fields.pop("params"))
    row = TrialRow(run_id=run.id, **fields)
    session.add(row)
    session.flush()
    return row


def list_trials(session: Session, run: RunRow) -> list[TrialRow]:
    return list(session.execute(
        select(TrialRow).where(TrialRow.run_id == run.id).order_by(TrialRow.number)).scalars())


# -- model versions and aliases ------------------------------------------------------------


def add_model_version(session: Session, project: ProjectRow, **fields: Any) -> ModelVersionRow:
    version = session.execute(
        select(func.coalesce(func.max(ModelVersionRow.version), 0))
        .where(ModelVersionRow.project_id == project.id)
    ).scalar_one() + 1
    fields["metrics_json"] = dumps(fields.pop("metrics"))
    fields["lineage_json"] = dumps(fields.pop("lineage"))
    row = ModelVersionRow(project_id=project.id, version=version, created_at=utcnow(), **fields)
    session.add(row)
    session.flush()
    return row


def list_model_versions(session: Session, project: ProjectRow) -> list[ModelVersionRow]:
    return list(session.execute(
        select(ModelVersionRow).where(ModelVersionRow.project_id == project.id)
        .order_by(ModelVersionRow.version)).scalars())


def get_model_version(session: Session, project: ProjectRow, version: int) -> ModelVersionRow:
    row = session.execute(
        select(ModelVersionRow).where(ModelVersionRow.project_id == project.id,
                                      ModelVersionRow.version == version)).scalar()
    if row is None:
        known = [m.version for m in list_model_versions(session, project)]
        raise NotFoundError(
            f"project {project.name!r} has no model version {version}",
            found=f"versions {', '.join(map(str, known))}" if known else "no model versions yet",
            fix=(f"use `mlpilot model list {project.name}`" if known
                 else f"train one with `mlpilot run {project.name}`"),
        )
    return row


def get_alias(session: Session, project: ProjectRow, name: str) -> AliasRow | None:
    return session.get(AliasRow, (project.id, name))


def set_alias(session: Session, project: ProjectRow, name: str, version: int) -> AliasRow:
    row = get_alias(session, project, name)
    if row is None:
        row = AliasRow(project_id=project.id, name=name, model_version=version,
                       updated_at=utcnow())
        session.add(row)
    else:
        row.model_version = version
        row.updated_at = utcnow()
    session.flush()
    return row
