"""The Python API: Workspace, Project, Run and ModelVersion, mirroring the CLI.

Example:
    >>> import tempfile, pathlib
    >>> ws = Workspace(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> ws.projects()
    []
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlpilot.core.budget import BudgetSpec, parse_duration
from mlpilot.core.config import ProjectConfig
from mlpilot.core.errors import NotFoundError
from mlpilot.data.schema import Schema
from mlpilot.models.predictor import Predictor
from mlpilot.pipeline import registry
from mlpilot.pipeline.ingest import create_project
from mlpilot.pipeline.observer import RunObserver
from mlpilot.pipeline.predict import CHUNK_ROWS, BatchResult, Progress, predict_file
from mlpilot.pipeline.run import RunOutcome, execute_run, require_approval
from mlpilot.store import repositories as repo
from mlpilot.store.audit import ChainReport, append_event, current_actor, list_events
from mlpilot.store.audit import verify_chain as _verify_chain
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import ModelVersionRow, ProjectRow, RunRow, TrialRow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


@dataclass(frozen=True)
class ModelVersion:
    """A registered model: its artifact, test metrics and lineage."""

    project: str
    version: int
    family: str
    metric: str
    test_score: float
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    artifact_sha256: str
    run_id: str
    created_at: datetime
    is_champion: bool
    _store: StoreHandle = field(repr=False, compare=False)

    @classmethod
    def _from_row(cls, store: StoreHandle, project: str, row: ModelVersionRow,
                  champion: int | None) -> ModelVersion:
        return cls(project=project, version=row.version, family=row.family, metric=row.metric,
                   test_score=row.test_score, metrics=json.loads(row.metrics_json),
                   lineage=json.loads(row.lineage_json), artifact_sha256=row.artifact_sha256,
                   run_id=row.run_id, created_at=row.created_at,
                   is_champion=row.version == champion, _store=store)

    def load(self) -> Predictor:
        """The deployable Predictor, its sha256 verified before loading."""
        return registry.load_predictor(self._store, self.artifact_sha256)

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "version": self.version, "family": self.family,
                "metric": self.metric, "test_score": self.test_score, "metrics": self.metrics,
                "lineage": self.lineage, "artifact_sha256": self.artifact_sha256,
                "run_id": self.run_id, "created_at": _iso(self.created_at),
                "champion": self.is_champion}


@dataclass(frozen=True)
class Trial:
    number: int
    family: str
    params: dict[str, Any]
    seed: int
    state: str
    score: float | None
    fit_seconds: float
    predict_seconds_per_row: float | None
    model_size_bytes: int | None
    error: str | None

    @classmethod
    def _from_row(cls, row: TrialRow) -> Trial:
        return cls(number=row.number, family=row.family, params=json.loads(row.params_json),
                   seed=row.seed, state=row.state, score=row.score,
                   fit_seconds=row.fit_seconds,
                   predict_seconds_per_row=row.predict_seconds_per_row,
                   model_size_bytes=row.model_size_bytes, error=row.error)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Run:
    """One execution of the pipeline."""

    id: str
    project: str
    number: int
    status: str
    model_version: int | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    split: dict[str, Any] | None
    manifest: dict[str, Any]
    first_trial_seconds: float | None
    trials: tuple[Trial, ...]

    @classmethod
    def _from_row(cls, project: str, row: RunRow, trials: list[TrialRow]) -> Run:
        return cls(id=row.id, project=project, number=row.number, status=row.status,
                   model_version=row.model_version, started_at=row.started_at,
                   finished_at=row.finished_at, error=row.error,
                   split=json.loads(row.split_json) if row.split_json else None,
                   manifest=json.loads(row.manifest_json),
                   first_trial_seconds=row.first_trial_seconds,
                   trials=tuple(Trial._from_row(t) for t in trials))

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self, *, manifest: bool = False) -> dict[str, Any]:
        data = {"id": self.id, "project": self.project, "number": self.number,
                "status": self.status, "model_version": self.model_version,
                "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
                "seconds": self.seconds, "first_trial_seconds": self.first_trial_seconds,
                "trials": len(self.trials), "error": self.error, "split": self.split}
        if manifest:
            data["manifest"] = self.manifest
        return data


class Project:
    """A registered problem: its configuration, data, budget, runs and models."""

    def __init__(self, store: StoreHandle, row: ProjectRow) -> None:
        self._store = store
        self._row = row
        self.name = row.name
        self.config = ProjectConfig.from_dict(json.loads(row.config_json))
        self.proposed_budget = BudgetSpec(**json.loads(row.proposed_budget_json))

    def __repr__(self) -> str:
        return f"Project({self.name!r}, task={self.config.task}, metric={self.config.metric})"

    # -- budget ----------------------------------------------------------------------------

    @property
    def approved_budget(self) -> BudgetSpec | None:
        with self._store.transaction() as session:
            row = repo.latest_approval(session, self._row)
        return BudgetSpec(**json.loads(row.approved_json)) if row else None

    def require_approved_budget(self) -> BudgetSpec:
        """The approved budget; ApprovalError (saying how to approve) when there is none."""
        return require_approval(self._store, self._row)[1]

    def approval(self) -> dict[str, Any] | None:
        with self._store.transaction() as session:
            row = repo.latest_approval(session, self._row)
        if row is None:
            return None
        return {"sequence": row.sequence, "approved": json.loads(row.approved_json),
                "proposed": json.loads(row.proposed_json), "approved_by": row.approved_by,
                "approved_at": _iso(row.approved_at)}

    def approve(self, time: str | float | None = None, cpus: int | None = None,
                memory_mb: int | None = None) -> BudgetSpec:
        """Approve the proposed budget, or a changed one; recorded with who and when."""
        proposed = self.proposed_budget
        seconds = (proposed.time_seconds if time is None else
                   parse_duration(time) if isinstance(time, str) else float(time))
        spec = BudgetSpec(time_seconds=seconds,
                          cpus=proposed.cpus if cpus is None else int(cpus),
                          memory_mb=proposed.memory_mb if memory_mb is None else int(memory_mb))
        actor = current_actor()
        with self._store.transaction() as session:
            row = repo.add_approval(session, self._row, proposed.to_dict(), spec.to_dict(),
                                    actor)
            append_event(session, "budget.approved",
                         {"sequence": row.sequence, "approved": spec.to_dict(),
                          "proposed": proposed.to_dict()}, project=self.name, actor=actor)
        return spec

    # -- data ------------------------------------------------------------------------------

    def dataset(self) -> dict[str, Any]:
        with self._store.transaction() as session:
            row = repo.latest_dataset_version(session, self._row)
        return {"version": row.version, "sha256": row.sha256, "rows": row.n_rows,
                "columns": row.n_columns, "source": row.source,
                "created_at": _iso(row.created_at), "schema_hash": row.schema_hash}

    @property
    def schema(self) -> Schema:
        with self._store.transaction() as session:
            row = repo.latest_dataset_version(session, self._row)
        return Schema.from_dict(json.loads(row.schema_json))

    def profile(self) -> dict[str, Any]:
        with self._store.transaction() as session:
            row = repo.latest_dataset_version(session, self._row)
        return json.loads(self._store.objects.get(row.profile_sha256))

    # -- runs ------------------------------------------------------------------------------

    def run(self, *, max_trials: int | None = None, observer: RunObserver | None = None,
            max_latency_us: float | None = None, final_fit: bool = True) -> RunOutcome:
        """Run the pipeline inside the approved budget; raises ApprovalError without one.

        ``max_latency_us`` keeps only models predicting under that many µs per row.
        ``final_fit=False`` registers the chosen model exactly as evaluated, without the
        final fit on every labelled row.
        """
        return execute_run(self._store, self.name, max_trials=max_trials, observer=observer,
                           max_latency_us=max_latency_us,
                           refit=None if final_fit else False)

    def runs(self) -> list[Run]:
        with self._store.transaction() as session:
            return [Run._from_row(self.name, r, repo.list_trials(session, r))
                    for r in repo.list_runs(session, self._row)]

    def get_run(self, run_id: str | None = None) -> Run:
        """A run by id (or unique id prefix); the latest run when ``run_id`` is None."""
        with self._store.transaction() as session:
            if run_id is None:
                rows = repo.list_runs(session, self._row)
                if not rows:
                    raise NotFoundError(f"project {self.name!r} has no runs yet",
                                        fix=f"start one with `mlpilot run {self.name}`")
                row = rows[-1]
            else:
                row = repo.get_run(session, run_id)
                if row.project_id != self._row.id:
                    raise NotFoundError(f"run {run_id!r} belongs to another project")
            return Run._from_row(self.name, row, repo.list_trials(session, row))

    def leaderboard(self, run_id: str | None = None) -> list[Trial]:
        """Trials of a run (latest by default), best first; failed trials last."""
        run = self.get_run(run_id)
        greater = self._greater_is_better()
        scored = [t for t in run.trials if t.score is not None]
        scored.sort(key=lambda t: (-t.score if greater else t.score, t.number))
        return scored + [t for t in run.trials if t.score is None]

    def _greater_is_better(self) -> bool:
        from mlpilot.evaluation.metrics import get_metric
        return get_metric(self.config.metric, self.config.task).greater_is_better

    # -- models ----------------------------------------------------------------------------

    def models(self) -> list[ModelVersion]:
        with self._store.transaction() as session:
            alias = repo.get_alias(session, self._row, registry.CHAMPION)
            champion = alias.model_version if alias else None
            return [ModelVersion._from_row(self._store, self.name, r, champion)
                    for r in repo.list_model_versions(session, self._row)]

    def model(self, version: int | None = None) -> ModelVersion:
        """Model ``version``, or the champion when None."""
        with self._store.transaction() as session:
            alias = repo.get_alias(session, self._row, registry.CHAMPION)
            champion = alias.model_version if alias else None
            if version is None:
                if champion is None:
                    raise NotFoundError(f"project {self.name!r} has no champion model yet",
                                        fix=f"train one with `mlpilot run {self.name}`")
                version = champion
            row = repo.get_model_version(session, self._row, version)
            return ModelVersion._from_row(self._store, self.name, row, champion)

    def champion(self) -> ModelVersion | None:
        try:
            return self.model(None)
        except NotFoundError:
            return None

    def promote(self, version: int) -> dict[str, Any]:
        with self._store.transaction() as session:
            return registry.promote(session, self._row, version, current_actor())

    def rollback(self) -> dict[str, Any]:
        with self._store.transaction() as session:
            return registry.rollback(session, self._row, current_actor())

    # -- prediction ------------------------------------------------------------------------

    def predict(self, frame: pd.DataFrame, version: int | None = None) -> pd.DataFrame:
        """Predictions of the champion (or ``version``) for ``frame``."""
        return self.model(version).load().predict_frame(frame)

    def predict_file(self, source: Path, output: Path, version: int | None = None, *,
                     chunk_rows: int = CHUNK_ROWS, on_progress: Progress | None = None,
                     threads: int | None = None) -> BatchResult:
        """Score a CSV/Parquet file in chunks of ``chunk_rows`` (bounded memory) on
        ``threads`` scoring threads (default: one per available core); the output is the same
        whatever the number of threads."""
        model = self.model(version)
        result = predict_file(model.load(), Path(source), Path(output), chunk_rows=chunk_rows,
                              on_progress=on_progress, threads=threads)
        with self._store.transaction() as session:
            append_event(session, "predictions.served",
                         {"version": model.version, "rows": result.rows, "source": str(source),
                          "output": str(output)}, project=self.name)
        return result

    def to_dict(self) -> dict[str, Any]:
        champion = self.champion()
        approved = self.approved_budget
        return {"name": self.name, **{k: v for k, v in self.config.to_dict().items()
                                      if k != "name"},
                "created_at": _iso(self._row.created_at), "created_by": self._row.created_by,
                "proposed_budget": self.proposed_budget.to_dict(),
                "approved_budget": approved.to_dict() if approved else None,
                "dataset": self.dataset(),
                "champion": champion.version if champion else None,
                "models": len(self.models()), "runs": len(self.runs())}


class Workspace:
    """A workspace: metadata database plus object store (``$MLPILOT_HOME``, default ./.mlpilot)."""

    def __init__(self, home: Path | str | None = None, db_url: str | None = None) -> None:
        self.store = StoreHandle.open(Path(home) if home is not None else None, db_url)

    @property
    def home(self) -> Path:
        return self.store.home

    def create_project(self, name: str, data: Path | str | pd.DataFrame, target: str, *,
                       task: str | None = None, metric: str | None = None,
                       time_column: str | None = None, id_columns: tuple[str, ...] = (),
                       seed: int = 0) -> Project:
        """Check ``data``, then record the project and its first dataset version."""
        with self.store.transaction() as session:
            repo.check_name_free(session, name)
        row = create_project(self.store, name, data, target, task=task, metric=metric,
                             time_column=time_column, id_columns=tuple(id_columns), seed=seed)
        return Project(self.store, row)

    def project(self, name: str) -> Project:
        with self.store.transaction() as session:
            return Project(self.store, repo.get_project(session, name))

    def projects(self) -> list[Project]:
        with self.store.transaction() as session:
            return [Project(self.store, row) for row in repo.list_projects(session)]

    def events(self, project: str | None = None) -> list[dict[str, Any]]:
        with self.store.transaction() as session:
            return [{"seq": e.seq, "project": e.project, "action": e.action, "actor": e.actor,
                     "at": _iso(e.at), "payload": json.loads(e.payload_json), "hash": e.hash}
                    for e in list_events(session, project)]

    def verify_audit(self) -> ChainReport:
        with self.store.transaction() as session:
            return _verify_chain(session)

    def close(self) -> None:
        self.store.close()
