"""Prometheus metrics of one server process: requests, latency, batch sizes, model versions.

Each app owns its registry, so several apps (tests, workers) never collide. With ``--workers``
each process reports its own counters; scrape every worker or run one per port.

Example:
    >>> metrics = ServerMetrics()
    >>> metrics.observe_request("flights", "predict", 200, 0.002)
    >>> b'mlpilot_requests_total{endpoint="predict",project="flights",status="200"} 1.0' \
in metrics.render()
    True
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1.0, 2.5)


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
        self.model_version = Gauge("mlpilot_model_version", "Champion version being served.",
                                   ["project"], registry=self.registry)
        self.swaps = Counter("mlpilot_champion_swaps", "Champion swaps seen by this process.",
                             ["project"], registry=self.registry)
        self.log_pending = Gauge("mlpilot_prediction_log_pending_rows",
                                 "Logged rows not yet flushed to Parquet.",
                                 registry=self.registry)

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
        return generate_latest(self.registry)
