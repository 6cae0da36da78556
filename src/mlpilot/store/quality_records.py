"""Queries and inserts for schema versions and data reports, in the caller's session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlpilot.core.errors import NotFoundError
from mlpilot.core.hashing import canonical_json, hash_json
from mlpilot.store.audit import utcnow
from mlpilot.store.tables import DataReportRow, DatasetVersionRow, ProjectRow, SchemaVersionRow


def add_schema_version(session: Session, project: ProjectRow, schema: dict[str, Any], *,
                       origin: str, actor: str, note: str | None = None) -> SchemaVersionRow:
    """Record ``schema`` as the project's next schema version."""
    number = session.execute(
        select(func.coalesce(func.max(SchemaVersionRow.version), 0))
        .where(SchemaVersionRow.project_id == project.id)).scalar_one() + 1
    row = SchemaVersionRow(project_id=project.id, version=number,
                           schema_json=canonical_json(schema).decode(),
                           schema_hash=hash_json(schema), origin=origin,
                           note=note, created_at=utcnow(), created_by=actor)
    session.add(row)
    session.flush()
    return row


def list_schema_versions(session: Session, project: ProjectRow) -> list[SchemaVersionRow]:
    return list(session.execute(
        select(SchemaVersionRow).where(SchemaVersionRow.project_id == project.id)
        .order_by(SchemaVersionRow.version)).scalars())


def get_schema_version(session: Session, project: ProjectRow,
                       version: int | None = None) -> SchemaVersionRow | None:
    """Schema ``version`` (the latest when None); None when the project has none recorded."""
    rows = list_schema_versions(session, project)
    if version is None:
        return rows[-1] if rows else None
    for row in rows:
        if row.version == version:
            return row
    raise NotFoundError(f"project {project.name!r} has no schema version {version}",
                        found="versions " + ", ".join(str(r.version) for r in rows),
                        fix=f"list them with `mlpilot schema show {project.name} --json`")


def add_data_report(session: Session, project: ProjectRow, *, kind: str,
                    dataset: DatasetVersionRow | None, schema_version: int, accepted: bool,
                    drift_detected: bool, report_sha256: str, source: str) -> DataReportRow:
    row = DataReportRow(project_id=project.id, kind=kind,
                        dataset_version_id=dataset.id if dataset else None,
                        schema_version=schema_version, accepted=accepted,
                        drift_detected=drift_detected, report_sha256=report_sha256,
                        source=source, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def find_quality_report(session: Session, dataset: DatasetVersionRow,
                        schema_version: int) -> DataReportRow | None:
    """The stored quality report of ``dataset`` under ``schema_version``, if any."""
    return session.execute(
        select(DataReportRow).where(DataReportRow.dataset_version_id == dataset.id,
                                    DataReportRow.kind == "quality",
                                    DataReportRow.schema_version == schema_version)
        .order_by(DataReportRow.id.desc()).limit(1)).scalar()


def list_data_reports(session: Session, project: ProjectRow) -> list[DataReportRow]:
    return list(session.execute(
        select(DataReportRow).where(DataReportRow.project_id == project.id)
        .order_by(DataReportRow.id)).scalars())


def get_dataset_version(session: Session, project: ProjectRow, version: int) -> DatasetVersionRow:
    row = session.execute(
        select(DatasetVersionRow).where(DatasetVersionRow.project_id == project.id,
                                        DatasetVersionRow.version == version)).scalar()
    if row is None:
        known = session.execute(
            select(DatasetVersionRow.version).where(DatasetVersionRow.project_id == project.id)
            .order_by(DatasetVersionRow.version)).scalars().all()
        raise NotFoundError(f"project {project.name!r} has no dataset version {version}",
                            found="versions " + ", ".join(map(str, known)),
                            fix=f"use one of them, e.g. `mlpilot data report {project.name} "
                            f"{known[-1] if known else 1}`")
    return row
