"""Propose a compute budget from the size of the table, for a person to approve.

Time grows with the square root of the number of cells (rows x columns): about a minute for
10,000 rows x 10 columns, five minutes for 100,000 x 20, clamped to 30 s .. 1 h and rounded
up to a round figure. All available CPUs. Memory is the estimated peak (about ten copies of
the table in memory plus 512 MB for the libraries), rounded up to 64 MB and capped at what is
available.

Example:
    >>> propose_budget(10_000, 10, 800_000, cpus_available=4, memory_available_mb=8000).describe()
    '1m 0s, 4 CPUs, 576 MB'
    >>> propose_budget(100_000_000, 100, 10**10, cpus_available=8,
    ...                memory_available_mb=16000).describe()
    '1h 0m 0s, 8 CPUs, 16000 MB'
"""

from __future__ import annotations

import math

from mlpilot.core.budget import BudgetSpec

SECONDS_AT_REFERENCE = 60.0
REFERENCE_CELLS = 10_000 * 10
MIN_SECONDS, MAX_SECONDS = 30.0, 3600.0
ROUND_SECONDS = (30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 2700, 3600)
MEMORY_COPIES = 10
LIBRARY_MB = 512


def propose_budget(n_rows: int, n_columns: int, table_bytes: int, *, cpus_available: int,
                   memory_available_mb: int) -> BudgetSpec:
    """A deterministic budget proposal for a table of ``n_rows`` x ``n_columns``."""
    cells = max(1, int(n_rows)) * max(1, int(n_columns))
    seconds = SECONDS_AT_REFERENCE * math.sqrt(cells / REFERENCE_CELLS)
    seconds = min(MAX_SECONDS, max(MIN_SECONDS, seconds))
    seconds = next(s for s in ROUND_SECONDS if s >= seconds - 1e-9)
    memory = MEMORY_COPIES * max(0, int(table_bytes)) / 2**20 + LIBRARY_MB
    memory_mb = math.ceil(memory / 64.0) * 64
    memory_mb = max(64, min(memory_mb, int(memory_available_mb)))
    return BudgetSpec(time_seconds=float(seconds), cpus=max(1, int(cpus_available)),
                      memory_mb=memory_mb)
