"""The layering of DESIGN.md holds: import-linter contracts in pyproject.toml must all pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_are_respected():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_layer_violation_would_be_caught(tmp_path):
    """The contract can fail: a copy of the package where `data` imports `store` is refused."""
    pkg = tmp_path / "src" / "mlpilot"
    shutil.copytree(ROOT / "src" / "mlpilot", pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "data" / "bad.py").write_text("import mlpilot.store.db\n")
    config = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(config)
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = {"PYTHONPATH": str(tmp_path / "src"), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([exe, "--config", str(tmp_path / "pyproject.toml"),
                             "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                            check=False, env=env)
    assert result.returncode != 0
    assert "mlpilot.data.bad" in result.stdout
