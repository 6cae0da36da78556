"""Export a run as a self-contained bundle, and re-create it from one in another workspace.

A bundle is a deterministic ``.tar.gz`` (sorted entries, fixed times and owners) holding what a
third party needs to review and re-create a run: every dataset version up to the run's (the
canonical Parquet bytes, schema and profile), the project configuration, the approved budget,
the run manifest, the split assignment, the trial sequence, the model artifact, the raw test
predictions, the metrics, the project's audit events and the narrative reports. ``bundle.json``
lists the sha256 of every file; the import checks each one before using it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mlpilot.core.budget import BudgetSpec
from mlpilot.core.config import ProjectConfig
from mlpilot.core.errors import ConfigError, IntegrityError, NotFoundError
from mlpilot.core.hashing import canonical_json, sha256_bytes
from mlpilot.data.schema import Schema
from mlpilot.data.sources import parquet_bytes_to_table
from mlpilot.pipeline.ingest import PreparedTable, record_project
from mlpilot.pipeline.report import render_report
from mlpilot.pipeline.reproduce import Recorded, recorded_run
from mlpilot.search.replay import TrialSpec
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, current_actor, list_events
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow, ProjectRow

BUNDLE_FORMAT = 1
_MAX_MEMBER_BYTES = 4 << 30


@dataclass(frozen=True)
class ExportResult:
    """Where the bundle was written, its sha256 and the files it holds."""

    path: Path
    sha256: str
    files: dict[str, str]
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "bytes": self.bytes,
                "files": self.files}


def bundle_files(store: StoreHandle, run_id: str) -> dict[str, bytes]:
    """The files of the bundle for ``run_id``, name to bytes."""
    recorded = recorded_run(store, run_id)
    with store.transaction() as session:
        run = repo.get_run(session, recorded.run_id)
        project = session.get(ProjectRow, run.project_id)
        versions = [v for v in _dataset_versions(session, project)
                    if v.version <= recorded.dataset_version]
        approval = session.get(repo.BudgetApprovalRow, run.approval_id)
        model = repo.get_model_version(session, project, run.model_version)
        trials = [{"number": t.number, "family": t.family, "params": json.loads(t.params_json),
                   "seed": t.seed, "state": t.state, "score": t.score,
                   "fit_seconds": t.fit_seconds, "error": t.error}
                  for t in repo.list_trials(session, run)]
        events = [{"seq": e.seq, "action": e.action, "actor": e.actor,
                   "at": e.at.isoformat(), "payload": json.loads(e.payload_json),
                   "payload_hash": e.payload_hash, "prev_hash": e.prev_hash, "hash": e.hash}
                  for e in list_events(session, project.name)]
        files: dict[str, bytes] = {
            "project.json": canonical_json({
                "config": json.loads(project.config_json),
                "proposed_budget": json.loads(project.proposed_budget_json)}),
            "approval.json": canonical_json({
                "sequence": approval.sequence, "approved": json.loads(approval.approved_json),
                "approved_by": approval.approved_by,
                "approved_at": approval.approved_at.isoformat()}),
            "split.json": (run.split_json or "{}").encode("utf-8"),
            "model.json": canonical_json({
                "version": model.version, "family": model.family, "metric": model.metric,
                "artifact_sha256": model.artifact_sha256, "trial_number": model.trial_number,
                "metrics": json.loads(model.metrics_json),
                "lineage": json.loads(model.lineage_json)}),
        }
        for v in versions:
            files[f"data/v{v.version}.json"] = canonical_json({
                "version": v.version, "sha256": v.sha256, "rows": v.n_rows,
                "columns": v.n_columns, "source": v.source, "schema_hash": v.schema_hash,
                "schema": json.loads(v.schema_json), "profile_sha256": v.profile_sha256})
            files[f"data/v{v.version}.parquet"] = store.objects.get(v.sha256)
            files[f"data/v{v.version}.profile.json"] = store.objects.get(v.profile_sha256)
    split = json.loads(files["split.json"])
    files["manifest.json"] = canonical_json(recorded.manifest)
    files["trials.json"] = canonical_json(trials)
    files["events.jsonl"] = b"".join(canonical_json(e) + b"\n" for e in events)
    files["split.bin"] = store.objects.get(split["object"])
    files["model.zip"] = store.objects.get(recorded.artifact_sha256)
    files["test_predictions.bin"] = recorded.test_predictions
    files["report.html"] = render_report(store, recorded.run_id, "html").encode("utf-8")
    files["report.md"] = render_report(store, recorded.run_id, "md").encode("utf-8")
    files["bundle.json"] = canonical_json({
        "format": BUNDLE_FORMAT, "run_id": recorded.run_id, "project": recorded.project,
        "dataset_version": recorded.dataset_version,
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())}})
    return files


def export_bundle(store: StoreHandle, run_id: str, path: Path) -> ExportResult:
    """Write the bundle of ``run_id`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    if not path.name.endswith((".tar.gz", ".tgz")):
        raise ConfigError("a bundle is written as a .tar.gz file", found=path.name,
                          fix=f"name it {path.stem}.tar.gz")
    if not path.parent.is_dir():
        raise NotFoundError(f"the folder {path.parent} does not exist",
                            fix="create it first, or write the bundle elsewhere")
    files = bundle_files(store, run_id)
    data = _deterministic_targz(files)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    manifest = json.loads(files["bundle.json"])
    with store.transaction() as session:
        append_event(session, "run.exported",
                     {"run_id": manifest["run_id"], "bundle_sha256": sha256_bytes(data),
                      "path": str(path)}, project=manifest["project"])
    return ExportResult(path, sha256_bytes(data), manifest["files"], len(data))


def _deterministic_targz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def read_bundle(path: Path) -> dict[str, bytes]:
    """The files of a bundle, every one checked against the sha256 listed in bundle.json."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"bundle {path} does not exist",
                            fix="pass the path of a file written by `mlpilot export`")
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.name.startswith(("/", "..")) \
                        or ".." in Path(member.name).parts or member.size > _MAX_MEMBER_BYTES:
                    raise IntegrityError(f"bundle {path.name} holds an unexpected entry",
                                         found=member.name,
                                         fix="use a bundle written by `mlpilot export`")
                handle = tar.extractfile(member)
                files[member.name] = handle.read() if handle else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise IntegrityError(f"bundle {path.name} cannot be read", found=str(exc),
                             fix="copy the bundle again; it is damaged") from exc
    if "bundle.json" not in files:
        raise IntegrityError(f"{path.name} is not an mlpilot bundle", found="no bundle.json",
                             fix="use a bundle written by `mlpilot export`")
    listed = json.loads(files["bundle.json"])["files"]
    for name, sha in listed.items():
        if name not in files:
            raise IntegrityError(f"bundle {path.name} lacks {name}",
                                 fix="copy the bundle again; it is incomplete")
        if sha256_bytes(files[name]) != sha:
            raise IntegrityError(f"{name} in bundle {path.name} does not match its sha256",
                                 expected=sha, found=sha256_bytes(files[name]),
                                 fix="the bundle was modified; get an untouched copy")
    return files


def import_bundle(store: StoreHandle, files: dict[str, bytes]) -> Recorded:
    """Re-create the bundle's project, dataset versions and approval in ``store``.

    Returns the recorded run, pointing at the re-created project, ready to reproduce.

    Raises:
        ConflictError: a project with the bundle's name already exists in this workspace.
    """
    meta = json.loads(files["bundle.json"])
    manifest = json.loads(files["manifest.json"])
    project_info = json.loads(files["project.json"])
    config = ProjectConfig.from_dict(project_info["config"])
    with store.transaction() as session:
        repo.check_name_free(session, config.name)
    versions = sorted(int(n[len("data/v"):-len(".json")]) for n in files
                      if n.startswith("data/v") and n.endswith(".json")
                      and not n.endswith(".profile.json"))
    actor = current_actor()
    project_row: ProjectRow | None = None
    for number in versions:
        info = json.loads(files[f"data/v{number}.json"])
        table = files[f"data/v{number}.parquet"]
        profile = json.loads(files[f"data/v{number}.profile.json"])
        schema = Schema.from_dict(info["schema"])
        if project_row is None:
            frame = parquet_bytes_to_table(table)
            prepared = PreparedTable(
                frame, config, schema, profile, table,
                BudgetSpec(**project_info["proposed_budget"]),
                f"bundle of run {meta['run_id']}: {info['source']}")
            project_row, _ = record_project(store, prepared)
            continue
        store.objects.put(table)
        profile_sha = store.objects.put(canonical_json(profile))
        with store.transaction() as session:
            row = session.get(ProjectRow, project_row.id)
            added = repo.add_dataset_version(
                session, row, sha256=info["sha256"], n_rows=info["rows"],
                n_columns=info["columns"], schema=info["schema"],
                schema_hash=info["schema_hash"], profile_sha256=profile_sha,
                source=f"bundle of run {meta['run_id']}: {info['source']}")
            append_event(session, "dataset.ingested",
                         {"version": added.version, "sha256": info["sha256"],
                          "rows": info["rows"], "columns": info["columns"],
                          "source": added.source, "schema_hash": info["schema_hash"]},
                         project=config.name, actor=actor)
    if project_row is None:
        raise IntegrityError("the bundle holds no dataset version",
                             fix="export the run again with `mlpilot export RUN FILE`")
    approval = json.loads(files["approval.json"])
    with store.transaction() as session:
        row = session.get(ProjectRow, project_row.id)
        approved = repo.add_approval(session, row, project_info["proposed_budget"],
                                     approval["approved"], actor)
        append_event(session, "budget.approved",
                     {"sequence": approved.sequence, "approved": approval["approved"],
                      "proposed": project_info["proposed_budget"],
                      "from_bundle": meta["run_id"],
                      "originally_approved_by": approval["approved_by"]},
                     project=config.name, actor=actor)
        approval_id = approved.id
        dataset = session.execute(
            select(DatasetVersionRow).where(
                DatasetVersionRow.project_id == row.id,
                DatasetVersionRow.version == meta["dataset_version"])).scalar()
        if dataset is None or dataset.sha256 != manifest["dataset"]["sha256"]:
            raise IntegrityError("the bundle's dataset does not match its manifest",
                                 expected=manifest["dataset"]["sha256"],
                                 found=dataset.sha256 if dataset else "no such version",
                                 fix="the bundle was assembled by hand; export it again")
    sequence = manifest.get("trial_sequence") or json.loads(files["trials.json"])
    split = json.loads(files["split.json"])
    model = json.loads(files["model.json"])
    return Recorded(
        run_id=meta["run_id"], project=config.name, dataset_version=meta["dataset_version"],
        approval_id=approval_id, manifest=manifest,
        trials=tuple(TrialSpec.from_dict(t) for t in sequence),
        scores={int(t["number"]): t["score"] for t in sequence},
        best_trial=int(model["trial_number"]), split_hash=split.get("hash", ""),
        artifact_sha256=model["artifact_sha256"],
        test_predictions=files["test_predictions.bin"],
        test_metrics=model["metrics"]["test"],
        manifest_check="checked against bundle.json's sha256 list")


def _dataset_versions(session: Any, project: ProjectRow) -> list[DatasetVersionRow]:
    return list(session.execute(
        select(DatasetVersionRow).where(DatasetVersionRow.project_id == project.id)
        .order_by(DatasetVersionRow.version)).scalars())
