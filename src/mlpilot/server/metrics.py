"""Prometheus metrics of the server: requests, latency, batch sizes, model versions.

Each app owns its registry, so several apps in one process (tests) never collide, and a single
process renders that registry directly. Under ``mlpilot serve --workers N`` the CLI points
``$PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory before the workers start;
prometheus_client then keeps every value in a per-process memory-mapped file there, and a
scrape answered by any worker merges every worker's files (``MultiProcessCollector``), so
``/metrics`` reports the whole server. Counters and histograms are summed over workers (those
of a worker that died keep counting: totals never go back); the gauges combine over live
workers only (the model version a worker loaded last, the sum of unflushed log rows). A worker
that stops removes its live gauge files; one killed without a goodbye is noticed at the next
scrape (its pid is gone).

The mode is prometheus_client's own choice, made when it is first imported: the variable must
be set before then, which is why the CLI sets it before uvicorn spawns the workers.

Example:
    >>> metrics = ServerMetrics()
    >>> metrics.observe_request("flights", "predict", 200, 0.002)
    >>> b'mlpilot_requests_total{endpoint="predict",project="flights",status="200"} 1.0' \
in metrics.render()
    True
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mlpilot.server.config import METRICS_DIR_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5)
_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def multiprocess_dir() -> str | None:
    """The directory shared by the workers, or None when prometheus_client runs in its
    ordinary single-process mode (values in memory)."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(METRICS_DIR_ENV)


class ServerMetrics:
    """The metrics one app exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mlpilot_requests", "Requests answered.",
                                ["project", "endpoint", "status"], registry=self.registry)
        self.latency = Histogram("mlpilot_request_latency_seconds",
                                 "Time from request body to answer, per project.",
                                 ["project", "endpoint"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.rows = Counter("mlpilot_predicted_rows", "Rows scored.", ["project"],
                            registry=self.registry)
        self.batch_rows = Histogram("mlpilot_batch_rows", "Rows per scored micro-batch.",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
                                    registry=self.registry)
        # over workers: the version a live worker loaded last (a promotion or a rollback shows
        # as soon as one worker serves it)
        self.model_version = Gauge("mlpilot_model_version", "Champion version being served.",
                                   ["project"], registry=self.registry,
                                   multiprocess_mode="livemostrecent")
        self.swaps = Counter("mlpilot_champion_swaps",
                             "Champion swaps seen (summed over worker processes).",
                             ["project"], registry=self.registry)
        # over workers: the sum of what every live worker has still to flush
        self.log_pending = Gauge("mlpilot_prediction_log_pending_rows",
                                 "Logged rows not yet flushed to Parquet.",
                                 registry=self.registry, multiprocess_mode="livesum")

        self.directory = multiprocess_dir()
        self._scrape = self.registry
        if self.directory is not None:
            self._scrape = CollectorRegistry()
            multiprocess.MultiProcessCollector(self._scrape, path=self.directory)
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once (labels() costs more than inc())."""
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, project: str, endpoint: str, status: int,
                        seconds: float) -> None:
        self._child(self.requests, project, endpoint, str(status)).inc()
        self._child(self.latency, project, endpoint).observe(seconds)

    def count_rows(self, project: str, n: int) -> None:
        self._child(self.rows, project).inc(n)

    def render(self) -> bytes:
        """The exposition text: this process's registry, or every worker's merged."""
        if self.directory is not None:
            _forget_dead_workers(self.directory)
        return generate_latest(self._scrape)

    def close(self) -> None:
        """Drop this process's live gauges from the shared directory (the worker stops)."""
        if self.directory is not None:
            multiprocess.mark_process_dead(os.getpid(), self.directory)


def _forget_dead_workers(directory: str) -> None:
    """``mark_process_dead`` for every worker whose live gauge files outlived it (kill -9)."""
    pids = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_FILE.fullmatch(os.path.basename(path))
        if match is not None:
            pids.add(int(match.group(1)))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:
            pass  # alive, owned by someone else
