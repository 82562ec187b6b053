"""Checks made before any job runs: the programs the workflow's jobs call must be installed.

Standard library only, so that it runs before anything else is installed
(``python -m peakcnn.preflight``) and costs nothing when the workflow is parsed.
"""

from __future__ import annotations

import shutil
import sys

#: Program -> why it is needed. Each is looked up on PATH.
REQUIRED_PROGRAMS = {
    "bedtools": "the data stages run it through pybedtools",
    "minimap2": "the homology leak check aligns val/test windows to train windows with it",
}

#: How to install a missing program, by apt, conda or the project's set-up script.
INSTALL_HINT = (
    "sudo apt-get install {program}, or conda install -c bioconda {program}, "
    "or bash .ci/install as root"
)


def missing_programs(
    programs: dict[str, str] = REQUIRED_PROGRAMS, path: str | None = None
) -> list[str]:
    """List the programs of ``programs`` not found on ``path`` (default: the PATH variable)."""
    return [program for program in programs if shutil.which(program, path=path) is None]


def missing_message(program: str, programs: dict[str, str] = REQUIRED_PROGRAMS) -> str:
    """Say in one line which program is missing, what needs it and how to install it."""
    hint = INSTALL_HINT.format(program=program)
    return f"error: {program} is not installed ({programs[program]}); install it: {hint}"


def check_programs(programs: dict[str, str] = REQUIRED_PROGRAMS, path: str | None = None) -> None:
    """Exit with one line per missing program, before any job runs; return if all are there.

    Raises
    ------
    SystemExit
        When a program is missing; its message names the program and how to install it.
    """
    missing = missing_programs(programs, path)
    if missing:
        raise SystemExit("\n".join(missing_message(program, programs) for program in missing))


def main() -> int:
    """Check the programs from the command line (``python -m peakcnn.preflight``)."""
    check_programs()
    print(f"preflight: found {', '.join(REQUIRED_PROGRAMS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
