"""The model registry: loading verified artifacts and moving the ``champion`` alias.

Every move of ``champion`` is an event; rollback walks that history back.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from mlpilot.core.errors import ConflictError, NotFoundError
from mlpilot.models.predictor import Predictor
from mlpilot.store import repositories as repo
from mlpilot.store.artifacts import ObjectStore
from mlpilot.store.audit import append_event, list_events
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import ProjectRow

CHAMPION = "champion"
_MOVES = ("model.promoted", "model.rolled_back")


def load_predictor(store: StoreHandle, sha256: str) -> Predictor:
    """The Predictor stored under ``sha256``, its hash verified before loading (cached)."""
    return _load(store.objects, sha256)


@lru_cache(maxsize=16)
def _load(objects: ObjectStore, sha256: str) -> Predictor:
    return Predictor.from_bytes(objects.get(sha256), expected_sha256=sha256)


def champion_history(session: Session, project: ProjectRow) -> list[int]:
    """The stack of champion versions, oldest first, replayed from the audit log."""
    stack: list[int] = []
    for event in list_events(session, project.name):
        if event.action not in _MOVES:
            continue
        payload = json.loads(event.payload_json)
        if event.action == "model.promoted":
            stack.append(int(payload["version"]))
        elif stack:
            stack.pop()
    return stack


def move_champion(session: Session, project: ProjectRow, version: int, *, action: str,
                  reason: str, actor: str) -> dict[str, Any]:
    """Point ``champion`` at ``version`` and record the move."""
    current = repo.get_alias(session, project, CHAMPION)
    previous = current.model_version if current else None
    repo.set_alias(session, project, CHAMPION, version)
    payload = {"alias": CHAMPION, "version": version, "previous": previous, "reason": reason}
    append_event(session, action, payload, project=project.name, actor=actor)
    return payload


def promote(session: Session, project: ProjectRow, version: int, actor: str) -> dict[str, Any]:
    """Make ``version`` the champion (an explicit decision by ``actor``)."""
    repo.get_model_version(session, project, version)
    current = repo.get_alias(session, project, CHAMPION)
    if current is not None and current.model_version == version:
        raise ConflictError(f"model version {version} is already the champion of "
                            f"{project.name!r}", fix="promote another version, or do nothing")
    return move_champion(session, project, version, action="model.promoted",
                         reason=f"promoted by {actor}", actor=actor)


def rollback(session: Session, project: ProjectRow, actor: str) -> dict[str, Any]:
    """Move ``champion`` back to the version it pointed at before its last promotion."""
    history = champion_history(session, project)
    if len(history) < 2:
        found = f"champion v{history[-1]} with no earlier champion" if history else "no champion"
        raise NotFoundError(
            f"project {project.name!r} has no earlier champion to roll back to",
            found=found,
            fix=f"promote a version explicitly with `mlpilot model promote {project.name} N`",
        )
    return move_champion(session, project, history[-2], action="model.rolled_back",
                         reason=f"rolled back from v{history[-1]} by {actor}", actor=actor)
