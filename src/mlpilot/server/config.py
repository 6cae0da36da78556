"""The settings of `mlpilot serve`, passed to every uvicorn worker through one variable.

Example:
    >>> cfg = ServeConfig(auth=False, batch_max_size=32)
    >>> ServeConfig.from_env({ENV: cfg.to_json()}) == cfg
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from mlpilot.core.errors import ConfigError

ENV = "MLPILOT_SERVE_CONFIG"
# prometheus_client's switch to its multiprocess mode (server/metrics.py); named here, in a
# module that does not import prometheus_client, because the library reads it at import.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class ServeConfig:
    """How the server behaves.

    Args:
        auth: require API keys (``--no-auth`` turns it off, for local use only).
        strict: reject unknown columns (422) instead of ignoring them.
        batch_max_size: most rows per micro-batch; 1 turns micro-batching off.
        batch_max_wait_ms: how long a micro-batch that is not full waits for more requests.
        refresh_seconds: how often champion pointers are re-read from the database (moves
            made with the CLI are served within this time).
        log: keep the prediction log.
        log_fsync: fsync the log before each answer (survives power loss, slower).
        log_max_pending_rows: rows waiting for the Parquet flusher before requests wait.
        key_cache_seconds: how long a verified API key is trusted without asking the database.
        model_threads: OpenMP/BLAS threads each worker scores with (0: the libraries' default,
            all cores). 1 by default: a LightGBM predict of one row takes ~30 us on one thread
            and ~500 us (ms on a busy host) when it starts an OpenMP team; scale with
            ``--workers`` instead.
    """

    auth: bool = True
    strict: bool = True
    batch_max_size: int = 64
    batch_max_wait_ms: float = 0.0
    refresh_seconds: float = 1.0
    log: bool = True
    log_fsync: bool = False
    log_max_pending_rows: int = 200_000
    key_cache_seconds: float = 10.0
    model_threads: int = 1

    def __post_init__(self) -> None:
        if self.batch_max_size < 1:
            raise ConfigError("--batch-max-size must be at least 1",
                              found=str(self.batch_max_size), fix="pass 1 to turn it off")
        if self.batch_max_wait_ms < 0 or self.refresh_seconds <= 0:
            raise ConfigError("wait and refresh times must be positive",
                              found=f"wait {self.batch_max_wait_ms} ms, refresh "
                                    f"{self.refresh_seconds} s",
                              fix="pass --batch-max-wait-ms >= 0 and --refresh-seconds > 0")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeConfig:
        """The config in ``$MLPILOT_SERVE_CONFIG`` (defaults when unset)."""
        raw = (os.environ if environ is None else environ).get(ENV)
        return cls(**json.loads(raw)) if raw else cls()
