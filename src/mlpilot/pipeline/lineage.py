"""The lineage graph of a model version, and whether the model is stale.

dataset version(s) -> split -> run -> trials -> model -> evaluation -> alias events. A model is
stale when the data or the preprocessing it was built on is superseded: a newer dataset version
exists, the latest dataset's schema differs from the model's, or the schema was edited after
the model was registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlpilot.pipeline.registry import CHAMPION
from mlpilot.store import repositories as repo
from mlpilot.store.audit import list_events
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import DatasetVersionRow


@dataclass(frozen=True)
class Node:
    """One step of the graph: its id (``kind:key``), kind, label and details."""

    id: str
    kind: str
    label: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "details": self.details}


@dataclass(frozen=True)
class Lineage:
    """The graph of one model version: nodes, edges (from id, to id) and staleness."""

    project: str
    version: int
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]
    stale: bool
    stale_reasons: tuple[str, ...]
    champion: bool = False

    def node(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "version": self.version, "stale": self.stale,
                "champion": self.champion,
                "stale_reasons": list(self.stale_reasons),
                "nodes": [n.to_dict() for n in self.nodes],
                "edges": [{"from": a, "to": b} for a, b in self.edges]}


def model_lineage(store: StoreHandle, project_name: str, version: int) -> Lineage:
    """The lineage of model ``version`` of ``project_name`` (NotFoundError when absent)."""
    with store.transaction() as session:
        project = repo.get_project(session, project_name)
        model = repo.get_model_version(session, project, version)
        run = repo.get_run(session, model.run_id)
        dataset = repo.get_dataset_version_by_id(session, run.dataset_version_id)
        chain = [dataset]
        while chain[-1].parent_id is not None:
            chain.append(repo.get_dataset_version_by_id(session, chain[-1].parent_id))
        latest = repo.latest_dataset_version(session, project)
        trials = repo.list_trials(session, run)
        alias = repo.get_alias(session, project, CHAMPION)
        events = [(e.seq, e.action, e.actor, e.at, json.loads(e.payload_json))
                  for e in list_events(session, project.name)]
        lineage = json.loads(model.lineage_json)
        metrics = json.loads(model.metrics_json)
        nodes: list[Node] = []
        edges: list[tuple[str, str]] = []
        previous: str | None = None
        for row in reversed(chain):
            node = _dataset_node(row)
            nodes.append(node)
            if previous:
                edges.append((previous, node.id))
            previous = node.id
        split = json.loads(run.split_json) if run.split_json else {}
        split_node = Node(f"split:{(run.split_hash or '')[:12]}", "split",
                          f"split {split.get('method', '?')} {(run.split_hash or '')[:12]}",
                          {"hash": run.split_hash, "method": split.get("method"),
                           "counts": split.get("counts"), "object": split.get("object")})
        manifest = json.loads(run.manifest_json)
        run_node = Node(f"run:{run.id}", "run", f"run #{run.number} {run.id}",
                        {"id": run.id, "status": run.status, "seed": run.seed,
                         "mode": manifest.get("mode", "search"),
                         "reproduces": manifest.get("reproduces"),
                         "budget": manifest.get("budget"),
                         "max_trials": manifest.get("max_trials"),
                         "started_at": run.started_at.isoformat()})
        families = sorted({t.family for t in trials})
        trials_node = Node(f"trials:{run.id}", "trials",
                           f"{len(trials)} trials ({', '.join(families)})",
                           {"count": len(trials), "families": families,
                            "chosen": model.trial_number,
                            "failed": sum(t.state == "failed" for t in trials)})
        model_node = Node(f"model:{model.version}", "model",
                          f"model v{model.version} {model.family}",
                          {"artifact_sha256": model.artifact_sha256, "family": model.family,
                           "trial": lineage.get("trial"),
                           "created_at": model.created_at.isoformat()})
        eval_node = Node(f"evaluation:{model.version}", "evaluation",
                         f"test {model.metric} {model.test_score:.5g}",
                         {"metric": model.metric, "test": metrics.get("test"),
                          "baseline": metrics.get("baseline")})
        nodes += [split_node, run_node, trials_node, model_node, eval_node]
        edges += [(previous or "", split_node.id), (split_node.id, run_node.id),
                  (run_node.id, trials_node.id), (trials_node.id, model_node.id),
                  (model_node.id, eval_node.id)]
        for seq, action, actor, at, payload in events:
            if action in ("model.promoted", "model.rolled_back") and (
                    payload.get("version") == version or payload.get("previous") == version):
                moved_to = payload.get("version") == version
                node = Node(f"event:{seq}", "alias",
                            f"#{seq} {action} {'to' if moved_to else 'away from'} "
                            f"v{version} by {actor}",
                            {"seq": seq, "action": action, "actor": actor,
                             "at": at.isoformat(), **payload})
                nodes.append(node)
                edges.append((model_node.id, node.id))
        reasons = _stale_reasons(dataset, latest, lineage, model.created_at, events)
        champion_now = alias is not None and alias.model_version == version
    return Lineage(project_name, version, tuple(nodes), tuple(edges), bool(reasons),
                   tuple(reasons), champion_now)


def _dataset_node(row: DatasetVersionRow) -> Node:
    return Node(f"dataset:v{row.version}", "dataset",
                f"dataset v{row.version} {row.sha256[:12]}",
                {"version": row.version, "sha256": row.sha256, "rows": row.n_rows,
                 "columns": row.n_columns, "schema_hash": row.schema_hash,
                 "source": row.source, "created_at": row.created_at.isoformat()})


def _stale_reasons(dataset: DatasetVersionRow, latest: DatasetVersionRow | None,
                   lineage: dict[str, Any], created: Any,
                   events: list[tuple[int, str, str, Any, dict[str, Any]]]) -> list[str]:
    reasons: list[str] = []
    if latest is not None and latest.version > dataset.version:
        reasons.append(f"dataset v{latest.version} is newer than v{dataset.version}, the "
                       f"version the model was trained on")
    schema_hash = lineage.get("schema_hash") or dataset.schema_hash
    if latest is not None and latest.schema_hash != schema_hash:
        reasons.append(f"the latest schema ({latest.schema_hash[:12]}) differs from the one "
                       f"the model was built with ({schema_hash[:12]})")
    for seq, action, actor, at, _ in events:
        if action.startswith("schema.") and at > created:
            reasons.append(f"the schema was changed after the model was registered "
                           f"(event #{seq} {action} by {actor})")
    return reasons
