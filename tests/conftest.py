"""Shared fixtures: tiny handwritten genome and peaks, device fixture, a finished tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny_fasta(tmp_path: Path) -> str:
    """A copy of tests/data/tiny.fa (3 records, soft-masked, N runs, IUPAC codes)."""
    path = tmp_path / "tiny.fa"
    path.write_text((DATA / "tiny.fa").read_text())
    return str(path)


@pytest.fixture
def tiny_peaks(tmp_path: Path) -> str:
    """A copy of tests/data/tiny.narrowPeak (summits, edge peaks, a duplicate, a header)."""
    path = tmp_path / "tiny.narrowPeak"
    path.write_text((DATA / "tiny.narrowPeak").read_text())
    return str(path)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request: pytest.FixtureRequest) -> str:
    """Run a test on CPU, and on CUDA when one is present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return request.param


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished local run of the whole workflow on tiny data, in a copy of the project.

    Shared by the workflow, rerun and SLURM tests (the run takes one to two minutes). A test
    that edits its config or library files restores them, contents and mtimes.
    """
    from helpers import make_tiny_project, snakemake

    workdir = make_tiny_project(tmp_path_factory.mktemp("tiny_run"))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
