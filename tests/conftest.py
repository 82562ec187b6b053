"""Shared fixtures (tiny genome and peaks, device, a finished tiny run) and the suite check.

Suite check: ``PEAKCNN_REQUIRED_SUITES`` names test files (paths relative to the repository
root, separated by spaces or commas) that must run and must not skip; the skipped tests of
every suite are counted in the summary, and a required suite that skipped a test (or a whole
module), or ran none, fails the session. ``.ci/run`` sets it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
#: Environment variable naming the suites (test files) that must not skip.
REQUIRED_SUITES = "PEAKCNN_REQUIRED_SUITES"
_SKIPPED: Counter = Counter()
_RAN: Counter = Counter()


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
    import torch

    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return request.param


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished local run of the whole workflow on tiny data, in a copy of the project.

    Shared by the workflow, rerun and SLURM tests (the run takes one to two minutes). A test
    that edits its config or library files restores them, contents and mtimes.
    """
    from golden import keep_pristine_copy
    from helpers import make_tiny_project, snakemake

    workdir = make_tiny_project(tmp_path_factory.mktemp("tiny_run"))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    keep_pristine_copy(workdir)  # for tests/test_golden.py, before any test adds outputs
    return workdir


def _suite(nodeid: str) -> str:
    """Test file of a test or collector id (``tests/test_x.py::test_y`` -> ``tests/test_x.py``)."""
    return nodeid.split("::")[0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each test's outcome per suite (a skip in setup or call; xfails are not skips)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED[_suite(report.nodeid)] += 1
    elif report.when == "call":
        _RAN[_suite(report.nodeid)] += 1


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Count a module skipped whole at collection (``pytest.importorskip``, module skips)."""
    if report.skipped and report.nodeid:
        _SKIPPED[_suite(report.nodeid)] += 1


def required_suite_problems(required: list[str], ran: Counter, skipped: Counter) -> list[str]:
    """One line per required suite that skipped tests or ran none."""
    problems = []
    for suite in required:
        if skipped[suite]:
            problems.append(f"{suite}: {skipped[suite]} skipped (the suite is required)")
        elif not ran[suite]:
            problems.append(f"{suite}: no test ran (the suite is required)")
    return problems


def _required() -> list[str]:
    """Suites named in ``PEAKCNN_REQUIRED_SUITES``."""
    return os.environ.get(REQUIRED_SUITES, "").replace(",", " ").split()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a required suite skipped or did not run."""
    if required_suite_problems(_required(), _RAN, _SKIPPED) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Print the skipped tests per suite and the required suites that skipped."""
    if _SKIPPED:
        terminalreporter.section("skipped tests per suite")
        for suite, count in sorted(_SKIPPED.items()):
            terminalreporter.write_line(f"{suite}: {count} skipped")
    problems = required_suite_problems(_required(), _RAN, _SKIPPED)
    if problems:
        terminalreporter.section(f"required suites ({REQUIRED_SUITES})", red=True)
        for line in problems:
            terminalreporter.write_line(line, red=True)
