"""Verifying a workspace: the audit chain, every referenced object and every run manifest.

The chain check finds the first changed, removed or reordered event; the object check re-hashes
every blob a record names (dataset tables, profiles, split assignments, model artifacts, test
predictions); the manifest check compares each finished run's manifest with the sha256 its
``run.finished`` event recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mlpilot.core.errors import IntegrityError, NotFoundError
from mlpilot.core.hashing import hash_json
from mlpilot.store.audit import list_events, verify_chain
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow, EventRow, ModelVersionRow, RunRow


@dataclass(frozen=True)
class AuditReport:
    """ok, what was checked, and one sentence per problem found."""

    events: int
    objects: int
    manifests: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "objects": self.objects,
                "manifests": self.manifests, "problems": list(self.problems)}


def verify_workspace(store: StoreHandle, *, objects: bool = True) -> AuditReport:
    """Check the chain, and with ``objects`` every referenced object and run manifest."""
    problems: list[str] = []
    with store.transaction() as session:
        chain = verify_chain(session)
        if not chain.ok:
            row = session.get(EventRow, chain.broken_seq)
            what = (f"{row.action} by {row.actor} at {row.at.isoformat(timespec='seconds')}"
                    if row is not None else "missing")
            problems.append(f"audit event #{chain.broken_seq} ({what}): {chain.reason}")
        if not objects:
            return AuditReport(chain.events, 0, 0, tuple(problems))
        keys: dict[str, str] = {}
        for d in session.execute(select(DatasetVersionRow)).scalars():
            keys.setdefault(d.sha256, f"dataset v{d.version} table")
            keys.setdefault(d.profile_sha256, f"dataset v{d.version} profile")
        for m in session.execute(select(ModelVersionRow)).scalars():
            keys.setdefault(m.artifact_sha256, f"model v{m.version} artifact (run {m.run_id})")
            evaluated = json.loads(m.lineage_json).get("evaluated", {}).get("artifact_sha256")
            if evaluated:
                keys.setdefault(evaluated, f"model v{m.version} evaluated artifact "
                                           f"(run {m.run_id})")
        manifests: dict[str, dict[str, Any]] = {}
        for r in session.execute(select(RunRow)).scalars():
            manifest = json.loads(r.manifest_json)
            manifests[r.id] = manifest
            if r.split_json:
                keys.setdefault(json.loads(r.split_json)["object"], f"run {r.id} split")
            sha = manifest.get("outputs", {}).get("test_predictions_sha256")
            if sha:
                keys.setdefault(sha, f"run {r.id} test predictions")
        recorded = {}
        for event in list_events(session):
            if event.action == "run.finished":
                payload = json.loads(event.payload_json)
                if payload.get("manifest_sha256"):
                    recorded[payload["run_id"]] = (event.seq, payload["manifest_sha256"])
    for key, what in sorted(keys.items(), key=lambda kv: kv[1]):
        try:
            store.objects.get(key)
        except (IntegrityError, NotFoundError) as exc:
            problems.append(f"{what}: {exc.problem}")
    for run_id, (seq, sha) in sorted(recorded.items()):
        if run_id in manifests and hash_json(manifests[run_id]) != sha:
            problems.append(f"run {run_id} manifest: it differs from the sha256 recorded in "
                            f"audit event #{seq} (edited after the run)")
    return AuditReport(chain.events, len(keys), len(recorded), tuple(problems))
