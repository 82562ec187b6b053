"""The suite check of tests/conftest.py: a required suite that skips fails the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUITES = {
    "test_fine.py": "def test_runs():\n    assert 1 + 1 == 2\n",
    "test_skips.py": (
        "import pytest\n\n"
        "def test_runs():\n    assert 'a' < 'b'\n\n"
        "def test_skips():\n    pytest.skip('no cluster')\n"
    ),
    "test_whole.py": "import pytest\n\npytest.importorskip('no_such_module_here')\n",
    "test_xfail.py": (
        "import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_known():\n    assert 1 == 2\n"
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder of tiny suites beside a copy of the real conftest.py."""
    root = tmp_path_factory.mktemp("suites")
    shutil.copy(Path(__file__).with_name("conftest.py"), root / "conftest.py")
    for name, text in SUITES.items():
        (root / name).write_text(text)
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def run_suites(root, required):
    env = {k: v for k, v in os.environ.items() if k != "PEAKCNN_REQUIRED_SUITES"}
    if required is not None:
        env["PEAKCNN_REQUIRED_SUITES"] = required
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("required", "code", "problems"),
    [
        (None, 0, []),
        ("test_fine.py, test_xfail.py", 0, []),
        ("test_skips.py", 1, ["test_skips.py: 1 skipped (the suite is required)"]),
        (
            "test_fine.py test_whole.py test_gone.py",
            1,
            [
                "test_whole.py: 1 skipped (the suite is required)",
                "test_gone.py: no test ran (the suite is required)",
            ],
        ),
    ],
)
def test_required_suites_that_skip_fail_the_session(project, required, code, problems):
    result = run_suites(project, required)
    assert result.returncode == code, result.stdout[-3000:]
    assert (
        "test_skips.py: 1 skipped" in result.stdout and "test_whole.py: 1 skipped" in result.stdout
    )
    assert "test_xfail.py" not in result.stdout.split("skipped tests per suite")[1]
    for line in problems:
        assert line in result.stdout
    assert ("required suites (PEAKCNN_REQUIRED_SUITES)" in result.stdout) == bool(problems)
