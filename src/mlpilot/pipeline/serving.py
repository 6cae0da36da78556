"""What a server serves: each project's champion, held in memory and swapped atomically.

:class:`Champions` keeps one immutable :class:`Served` record per project in a dict that is
replaced whole, never mutated, so a reader sees either the old mapping or the new one. A request
takes its :class:`Served` once and keeps it: a swap (promotion, rollback, or a move made by the
CLI and noticed by :meth:`Champions.refresh`) never changes the model under a request that is
already running. Predictors are loaded (sha256 verified) before the swap and cached per artifact
sha256, so swapping back and forth costs nothing.

Example:
    >>> import tempfile, pathlib
    >>> from mlpilot.pipeline.workspace import Workspace
    >>> champions = Champions(Workspace(pathlib.Path(tempfile.mkdtemp()) / "ws"))
    >>> champions.refresh(), champions.names()
    ([], [])
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mlpilot.core.config import ProjectConfig
from mlpilot.core.errors import NotFoundError, SchemaError
from mlpilot.models.predictor import Predictor
from mlpilot.pipeline import predlog, registry
from mlpilot.pipeline.workspace import Workspace
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, utcnow
from mlpilot.store.tables import AliasRow, FeedbackRow, ModelVersionRow, ProjectRow


@dataclass(frozen=True, eq=False)
class Served:
    """One project's champion as served: version, artifact hash and the loaded Predictor."""

    project: str
    version: int
    sha256: str
    predictor: Predictor
    config: ProjectConfig


class Champions:
    """The champion of every project, refreshed from the database and swapped atomically."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._served: dict[str, Served] = {}
        self._refresh_lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._served)

    def all(self) -> dict[str, Served]:
        """The current mapping (a snapshot: it is never mutated after publication)."""
        return self._served

    def get(self, name: str) -> Served:
        """The served champion of ``name``; NotFoundError naming the served projects."""
        served = self._served.get(name)
        if served is None:
            names = ", ".join(self.names()) or "none"
            raise NotFoundError(f"project {name!r} has no champion being served",
                                found=f"projects served: {names}",
                                fix="check the name, or train and promote a model for it "
                                    f"(`mlpilot run {name}`)")
        return served

    def _pointers(self) -> list[tuple[ProjectRow, int, str]]:
        with self.workspace.store.transaction() as session:
            rows = session.execute(
                select(ProjectRow, AliasRow.model_version, ModelVersionRow.artifact_sha256)
                .join(AliasRow, (AliasRow.project_id == ProjectRow.id)
                      & (AliasRow.name == registry.CHAMPION))
                .join(ModelVersionRow, (ModelVersionRow.project_id == ProjectRow.id)
                      & (ModelVersionRow.version == AliasRow.model_version))).all()
        return [(row[0], int(row[1]), str(row[2])) for row in rows]

    def refresh(self) -> list[tuple[str, int | None, int]]:
        """Read every champion pointer; load new ones, then publish. Returns the changes."""
        with self._refresh_lock:
            current = self._served
            fresh: dict[str, Served] = {}
            changes = []
            for project, version, sha in self._pointers():
                old = current.get(project.name)
                if old is not None and old.sha256 == sha and old.version == version:
                    fresh[project.name] = old
                    continue
                predictor = registry.load_predictor(self.workspace.store, sha)
                config = ProjectConfig.from_dict(json.loads(project.config_json))
                fresh[project.name] = Served(project.name, version, sha, predictor, config)
                changes.append((project.name, old.version if old else None, version))
            if changes or set(fresh) != set(current):
                self._served = fresh
            return changes

    def move(self, name: str, *, version: int | None, actor: str) -> dict[str, Any]:
        """Promote ``version`` (rollback when None), then serve the new champion at once."""
        with self.workspace.store.transaction() as session:
            project = repo.get_project(session, name)
            if version is None:
                move = registry.rollback(session, project, actor)
            else:
                move = registry.promote(session, project, version, actor)
        self.refresh()
        return move


@dataclass(frozen=True)
class FeedbackResult:
    """What :func:`record_feedback` wrote: labels recorded, of which replaced an earlier one."""

    recorded: int
    replaced: int


def record_feedback(workspace: Workspace, served: Served,
                    labels: list[tuple[str, int, Any]], actor: str) -> FeedbackResult:
    """Attach true labels to (request id, row) pairs the server answered for this project.

    All or nothing: every label must be a value the model predicts and every pair must be in
    the project's prediction log (flushed or not, answered by any worker), else a 422 names
    the offenders and nothing is recorded. Feedback for a pair that already has a label
    replaces it (the latest wins); the ``feedback.recorded`` audit event keeps the labels it
    replaced, so no label is lost. Within one call, the last label given for a pair wins.
    """
    _check_labels(served, labels)
    latest = {(request_id, row): label for request_id, row, label in labels}
    logged = predlog.find_requests(workspace.store, served.project,
                                   {request_id for request_id, _ in latest})
    unknown = sorted({request_id for request_id, _ in latest if request_id not in logged})
    bad_rows = [f"request {request_id} has no row {row} (its rows: "
                f"{', '.join(map(str, sorted(logged[request_id])))})"
                for request_id, row in latest
                if request_id in logged and row not in logged[request_id]]
    if unknown or bad_rows:
        found = []
        if unknown:
            shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more"
                                               if len(unknown) > 20 else "")
            found.append(f"{len(unknown)} request id(s) that {served.project!r} never answered: "
                         f"{shown}")
        found.extend(bad_rows[:10])
        raise SchemaError("feedback names requests that are not in the prediction log; "
                          "nothing was recorded",
                          expected=f"request ids returned by POST /v1/projects/"
                                   f"{served.project}/predict, with the row of each record "
                                   "(0 for a one-record request)",
                          found="; ".join(found),
                          fix="send the request_id of each answered prediction (ids of other "
                              "projects are not accepted here), then retry the whole batch")
    replaced = []
    with workspace.store.transaction() as session:
        ids = sorted(logged)
        earlier = {(r.request_id, r.row): r
                   for start in range(0, len(ids), 500)
                   for r in session.scalars(select(FeedbackRow).where(
                       FeedbackRow.project == served.project,
                       FeedbackRow.request_id.in_(ids[start:start + 500])))}
        for (request_id, row), label in latest.items():
            existing = earlier.get((request_id, row))
            if existing is None:
                session.add(FeedbackRow(project=served.project, request_id=request_id, row=row,
                                        label_json=json.dumps(label), created_at=utcnow()))
            else:
                replaced.append({"request_id": request_id, "row": row,
                                 "previous": json.loads(existing.label_json), "label": label})
                existing.label_json = json.dumps(label)
        append_event(session, "feedback.recorded",
                     {"labels": len(latest), "replaced": replaced},
                     project=served.project, actor=actor)
    return FeedbackResult(recorded=len(latest), replaced=len(replaced))


def _check_labels(served: Served, labels: list[tuple[str, int, Any]]) -> None:
    """A 422 naming each label that is not a value the model can predict."""
    classes = served.predictor.classes
    bad = []
    for request_id, row, label in labels:
        wrong_class = classes is not None and str(label) not in {str(c) for c in classes}
        not_number = classes is None and (isinstance(label, bool)
                                          or not isinstance(label, int | float))
        if wrong_class or not_number:
            bad.append(f"request {request_id} row {row}: {label!r}")
    if bad:
        expected = (f"one of the classes {classes}" if classes is not None else "a number")
        raise SchemaError("some feedback labels are not values the model can predict",
                          expected=expected, found="; ".join(bad[:10]),
                          fix="send the true value of the target for each request id")
