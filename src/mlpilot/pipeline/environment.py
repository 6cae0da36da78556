"""What a run ran on: Python, platform, CPU, thread settings, every installed distribution and,
when mlpilot runs from a git checkout, the commit of its source (the package version alone
does not change between commits, so it cannot explain why a replay of an older run differs).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "PYTHONHASHSEED")


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else platform.processor())."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def source_revision(package_dir: Path | None = None) -> str | None:
    """The git commit of mlpilot's source, with ``+dirty`` when its tracked files under the
    package differ from that commit; None when the package is not a tracked part of a git
    checkout (an installed wheel) or git is missing."""
    where = package_dir or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(where), *args], capture_output=True,
                                  text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if git("ls-files", "--error-unmatch", "__init__.py") is None:
        return None
    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return commit + ("+dirty" if changes else "")


def installed_packages() -> dict[str, str]:
    """Every installed distribution, name (normalised, lower case) to version."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower().replace("_", "-")
        if name:
            found[name] = dist.version
    return dict(sorted(found.items()))


def available_memory_mb() -> int:
    """Physical memory in MB (what a budget may approve at most)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def capture_environment() -> dict[str, Any]:
    """A JSON-safe description of this process's environment, for the run manifest."""
    try:
        mlpilot_version = metadata.version("mlpilot")
    except metadata.PackageNotFoundError:
        mlpilot_version = "unknown"
    return {
        "mlpilot": mlpilot_version,
        "mlpilot_source": source_revision(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": available_cpus(),
        "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        "packages": installed_packages(),
    }
