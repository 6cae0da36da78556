"""The CLI side of serving: `mlpilot serve` (uvicorn); `mlpilot predict` is in cli/predict.py."""

from __future__ import annotations

import os
import shutil
import tempfile

from mlpilot.cli.context import open_workspace
from mlpilot.cli.output import console, err_console
from mlpilot.server.config import ENV, METRICS_DIR_ENV, ServeConfig


def run_server(config: ServeConfig, *, host: str, port: int, workers: int) -> None:
    """Start uvicorn with ``workers`` processes, each building the app from ``config``.

    With more than one worker, the workers share a fresh private metrics directory (created
    here, before they start, removed when the server stops), so ``/metrics`` answered by any of
    them covers all (``server/metrics.py``); a directory named in the environment beforehand is
    not used, since counters left in it would be added to this server's. One worker keeps its
    metrics in memory.
    """
    import uvicorn

    home = open_workspace().home
    os.environ[ENV] = config.to_json()
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="mlpilot-metrics-")
        os.environ[METRICS_DIR_ENV] = metrics_dir
    else:
        os.environ.pop(METRICS_DIR_ENV, None)
    if not config.auth:
        err_console.print("[bold yellow]Warning:[/] serving with --no-auth: anyone who can "
                          f"reach {host}:{port} can predict and move champions. Use it only "
                          "on your own machine.", highlight=False)
    console.print(f"Serving workspace {home} at http://{host}:{port} with {workers} "
                  f"worker(s) (docs: http://{host}:{port}/docs)")
    try:
        uvicorn.run("mlpilot.server.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="warning", access_log=False)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)

