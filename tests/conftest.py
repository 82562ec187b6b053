"""Shared fixtures: tiny handwritten genome and peaks, device fixture."""

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
