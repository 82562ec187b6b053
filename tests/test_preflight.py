"""Missing programs are caught before any job runs, in one line saying how to install them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, make_tiny_project, snakemake

from peakcnn.preflight import (
    REQUIRED_PROGRAMS,
    check_programs,
    missing_message,
    missing_programs,
)


def path_without(program: str, folder: Path) -> str:
    """PATH with every folder holding ``program`` replaced by a copy of it (links) without it."""
    folders = []
    for index, entry in enumerate(os.environ["PATH"].split(os.pathsep)):
        if entry and (Path(entry) / program).exists():
            shadow = folder / f"bin{index}"
            shadow.mkdir()
            for item in Path(entry).iterdir():
                if item.name != program:
                    (shadow / item.name).symlink_to(item)
            entry = str(shadow)
        folders.append(entry)
    return os.pathsep.join(folders)


@pytest.fixture
def no_bedtools_path(tmp_path: Path) -> str:
    """A PATH on which every program but bedtools is found."""
    path = path_without("bedtools", tmp_path)
    assert missing_programs(path=path) == ["bedtools"]
    return path


def test_installed_programs_are_found():
    # The test machine has bedtools (the workflow tests run it).
    assert "bedtools" in REQUIRED_PROGRAMS
    assert missing_programs() == []
    check_programs()


def test_a_missing_program_stops_with_one_line(no_bedtools_path):
    with pytest.raises(SystemExit) as stop:
        check_programs(path=no_bedtools_path)
    message = str(stop.value.code)
    assert message == missing_message("bedtools") and "\n" not in message
    assert message.startswith("error: bedtools is not installed")
    for way in ("apt-get install bedtools", "conda install -c bioconda bedtools", ".ci/install"):
        assert way in message


def test_command_line_check(no_bedtools_path):
    command = [sys.executable, "-m", "peakcnn.preflight"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    found = subprocess.run(command, capture_output=True, text=True, env=env)
    assert found.returncode == 0 and "bedtools" in found.stdout
    missing = subprocess.run(
        command, capture_output=True, text=True, env={**env, "PATH": no_bedtools_path}
    )
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [missing_message("bedtools")]


def test_workflow_stops_before_any_job_without_bedtools(tmp_path, no_bedtools_path, monkeypatch):
    workdir = make_tiny_project(tmp_path / "project")
    monkeypatch.setenv("PATH", no_bedtools_path)
    result = snakemake(workdir)  # a real run, not a dry run: it must not start a job
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == missing_message("bedtools")
    assert "Traceback" not in result.stderr
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_use_conda_leaves_the_programs_to_the_environments(tmp_path, no_bedtools_path, monkeypatch):
    # With --use-conda the envs bring bedtools: the parse passes the preflight and the run
    # gets as far as needing conda (not installed here).
    workdir = make_tiny_project(tmp_path / "project")
    monkeypatch.setenv("PATH", no_bedtools_path)
    result = snakemake(workdir, "-n", "--use-conda")
    assert missing_message("bedtools") not in result.stderr
    if shutil.which("conda", path=no_bedtools_path) is None:
        assert result.returncode != 0 and "conda" in result.stderr
    else:
        assert result.returncode == 0, result.stderr[-3000:]
