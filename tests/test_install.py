"""The set-up command (.ci/install) refuses what it cannot use in one line, before installing.

Its successful path (a fresh .venv made with an externally managed system python, PEP 668) is
run by .ci/run on CI, which also checks that the system python's site-packages stay untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from helpers import REPO


def run_install(folder: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a copy of .ci/install in ``folder`` (a bare project copy) with extra variables."""
    (folder / ".ci").mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / ".ci/install", folder / ".ci/install")
    command = ["bash", str(folder / ".ci/install")]
    environment = {**os.environ, **env}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)


def test_a_python_older_than_3_11_is_refused(tmp_path):
    result = run_install(tmp_path, PYTHON="/bin/false")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: PYTHON=/bin/false is not a python >= 3.11"]
    assert not (tmp_path / ".venv").exists()


def test_a_broken_venv_is_named_not_reused(tmp_path):
    (tmp_path / ".venv/bin").mkdir(parents=True)
    (tmp_path / ".venv/bin/python").symlink_to(tmp_path / "gone/python3")
    result = run_install(tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: .venv exists but its python does not run")
    assert "rm -rf .venv" in line
