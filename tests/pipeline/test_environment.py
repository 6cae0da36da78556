"""The environment a run records: the commit of mlpilot's source when it runs from git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlpilot.pipeline.environment import capture_environment, source_revision
from mlpilot.pipeline.manifest import environment_differences

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(where), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@needs_git
def test_a_package_in_a_git_checkout_records_its_commit_and_whether_it_was_edited(tmp_path):
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    commit = git(tmp_path, "rev-parse", "HEAD")
    assert source_revision(package) == commit
    (tmp_path / "notes.txt").write_text("untracked, outside the package\n")
    assert source_revision(package) == commit
    (package / "__init__.py").write_text("x = 2\n")
    assert source_revision(package) == commit + "+dirty"


@needs_git
def test_an_untracked_package_or_a_plain_folder_records_none(tmp_path):
    assert source_revision(tmp_path) is None  # not a git checkout
    git(tmp_path, "init", "-q")
    (tmp_path / "__init__.py").write_text("")
    assert source_revision(tmp_path) is None  # a checkout, but the package is not tracked


def test_a_replay_names_a_change_of_source_commit_and_ignores_older_manifests():
    now = capture_environment()
    assert "mlpilot_source" in now
    before = {**now, "mlpilot_source": "0" * 40}
    changed = {d.field: d for d in environment_differences(before, now)}
    assert changed["mlpilot_source"].recorded == "0" * 40
    assert changed["mlpilot_source"].current == now["mlpilot_source"]
    older = {k: v for k, v in now.items() if k != "mlpilot_source"}  # recorded before it
    assert "mlpilot_source" not in {d.field for d in environment_differences(older, now)}
