"""The run manifest: everything needed to re-create a run, and how two environments differ.

A manifest is written when a run starts (inputs, configuration, budget, seeds, environment) and
completed when it finishes (the trial sequence and the hashes of what it produced). It is plain
JSON stored on the run row; ``mlpilot run show RUN --json`` prints it.

Example:
    >>> recorded = {"python": "3.12.1", "packages": {"numpy": "2.4.0", "lightgbm": "4.7.0"}}
    >>> current = {"python": "3.12.1", "packages": {"numpy": "2.4.1", "polars": "1.0"}}
    >>> for d in environment_differences(recorded, current):
    ...     print(d.describe())
    package lightgbm: 4.7.0 recorded, not installed now
    package numpy: 2.4.0 recorded, 2.4.1 now
    package polars: not recorded, 1.0 now
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpilot.core.budget import BudgetSpec
from mlpilot.core.config import ProjectConfig
from mlpilot.pipeline.environment import capture_environment

MANIFEST_FORMAT = 2
#: environment fields compared one by one (packages are compared name by name)
_COMPARED = ("mlpilot", "mlpilot_source", "python", "implementation", "platform", "machine", "cpu",
             "cpu_flags", "cpu_count", "threads", "blas")


def cpu_flags() -> list[str]:
    """The CPU's feature flags (sorted; from /proc/cpuinfo on Linux, else empty)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return sorted(set(line.split(":", 1)[1].split()))
    return []


def blas_threads() -> list[str]:
    """The native thread pools loaded in this process (BLAS, OpenMP) with their sizes, e.g.
    ``"openblas 0.3.30 (2 threads)"``, sorted and without repeats."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return []
    pools = {f"{p.get('internal_api')} {p.get('version') or ''}".strip()
             + f" ({p.get('num_threads')} threads)" for p in threadpool_info()}
    return sorted(pools)


def full_environment() -> dict[str, Any]:
    """:func:`capture_environment` plus CPU flags, native thread pools and the hash seed."""
    env = capture_environment()
    env["cpu_flags"] = cpu_flags()
    env["blas"] = blas_threads()
    env["threads"] = {**env.get("threads", {}),
                      "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")}
    env["executable"] = sys.executable
    return env


def derived_seeds(seed: int, trial_numbers: Iterable[int] = ()) -> dict[str, Any]:
    """Every seed a run derives from the project seed (the split, the sampler, each trial)."""
    return {"project": seed, "split": seed, "sampler": seed,
            "trials": {str(n): seed + n for n in trial_numbers}}


def build_manifest(*, run_id: str, config: ProjectConfig, dataset: Any, spec: BudgetSpec,
                   approval: dict[str, Any], max_trials: int | None, n_threads: int,
                   mode: str, reproduces: str | None) -> dict[str, Any]:
    """The manifest recorded when a run starts.

    Args:
        dataset: the dataset version row (version, sha256, schema_hash, profile_sha256).
        approval: who approved the budget and when (sequence, approved_by, approved_at).
        mode: "search" (a fresh search) or "replay" (a recorded trial sequence refitted).
        reproduces: the id of the run this one re-creates, if any.
    """
    return {
        "format": MANIFEST_FORMAT,
        "run_id": run_id,
        "mode": mode,
        "reproduces": reproduces,
        "project": config.to_dict(),
        "dataset": {"version": dataset.version, "sha256": dataset.sha256,
                    "rows": dataset.n_rows, "columns": dataset.n_columns,
                    "profile_sha256": dataset.profile_sha256},
        "schema_hash": dataset.schema_hash,
        "budget": spec.to_dict(),
        "approval": approval,
        "max_trials": max_trials,
        "seed": config.seed,
        "seeds": derived_seeds(config.seed),
        "n_threads": n_threads,
        "environment": full_environment(),
    }


def complete_manifest(manifest: dict[str, Any], *, trials: Iterable[Any],
                      split: dict[str, Any], artifact_sha256: str,
                      test_predictions_sha256: str, test_metrics: dict[str, Any],
                      best_trial: int, evaluated_artifact_sha256: str | None = None
                      ) -> dict[str, Any]:
    """The manifest with what the run did and produced (written when it finishes)."""
    sequence = [{"number": t.number, "family": t.family, "params": dict(t.params),
                 "seed": t.seed, "state": t.state, "score": t.score,
                 **({"proposed": True} if getattr(t, "proposed", False) else {})}
                for t in trials]
    return {
        **manifest,
        "seeds": derived_seeds(int(manifest["seed"]), (t["number"] for t in sequence)),
        "split": {"hash": split["hash"], "method": split["method"], "object": split["object"],
                  **({"period_share": split["period_share"]} if "period_share" in split else {})},
        "trial_sequence": sequence,
        "outputs": {"artifact_sha256": artifact_sha256, "best_trial": best_trial,
                    "evaluated_artifact_sha256": evaluated_artifact_sha256 or artifact_sha256,
                    "test_predictions_sha256": test_predictions_sha256,
                    "test_metrics": test_metrics},
    }


@dataclass(frozen=True)
class Difference:
    """One way the current environment differs from a recorded one."""

    field: str
    recorded: Any
    current: Any

    def describe(self) -> str:
        if self.field.startswith("package "):
            if self.recorded is None:
                return f"{self.field}: not recorded, {self.current} now"
            if self.current is None:
                return f"{self.field}: {self.recorded} recorded, not installed now"
        if self.field == "cpu_flags":
            return f"cpu_flags: {self.recorded}"
        return f"{self.field}: {self.recorded} recorded, {self.current} now"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "recorded": self.recorded, "current": self.current,
                "description": self.describe()}


def environment_differences(recorded: dict[str, Any],
                            current: dict[str, Any]) -> list[Difference]:
    """Every difference between two environments: scalar fields, then package by package."""
    out: list[Difference] = []
    for key in _COMPARED:
        if key not in recorded:
            continue
        old, new = recorded.get(key), current.get(key)
        if key == "cpu_flags":
            gone = sorted(set(old or ()) - set(new or ()))
            added = sorted(set(new or ()) - set(old or ()))
            if gone or added:
                text = "; ".join(part for part in (
                    f"missing now: {' '.join(gone)}" if gone else "",
                    f"new now: {' '.join(added)}" if added else "") if part)
                out.append(Difference(key, text, None))
        elif old != new:
            out.append(Difference(key, old, new))
    old_packages = recorded.get("packages", {})
    new_packages = current.get("packages", {})
    for name in sorted(set(old_packages) | set(new_packages)):
        if old_packages.get(name) != new_packages.get(name):
            out.append(Difference(f"package {name}", old_packages.get(name),
                                  new_packages.get(name)))
    return out
