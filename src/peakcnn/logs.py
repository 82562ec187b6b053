"""Logging set-up for workflow rules: one log file per rule, stderr and warnings included.

The job's own stderr (the terminal snakemake runs in, or a cluster job's output file) is kept
aside for two things: the one-line message of a failed job, and a live progress bar, drawn only
when that stderr is a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

import peakcnn
from peakcnn.errors import InputError

logger = logging.getLogger(__name__)

#: stderr of the job before ``log_to_file`` sent it to the log file (None: not redirected)
_job_stderr: TextIO | None = None


def log_to_file(path: str, sources: dict[str, str] | None = None) -> None:
    """Send logging, warnings and stderr to the rule's log file; report a failure on stderr.

    An uncaught exception is written to the log (an ``InputError`` as its one line, anything
    else with its traceback) and its one line to the job's own stderr, where snakemake shows it.

    Parameters
    ----------
    path : str
        The rule's log file; it is truncated.
    sources : dict of str to str, optional
        Fetched copy -> the user's own file (or URL) it was fetched from: errors about a line
        of a copy name the user's file instead (the copy has the same lines).
    """
    global _job_stderr
    if _job_stderr is None:
        _job_stderr = sys.stderr
    stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the process
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    sys.excepthook = _failure_reporter(path, dict(sources or {}))
    logger.info(
        "peakcnn %s from %s, python %s",
        peakcnn.__version__,
        Path(peakcnn.__file__).parent,
        sys.version.split()[0],
    )


def user_message(error: InputError, sources: dict[str, str]) -> str:
    """Return the one line of an ``InputError``, naming the user's file instead of its copy.

    Parameters
    ----------
    error : InputError
        The error; its message starts with ``error.path`` when that is set.
    sources : dict of str to str
        Fetched copy -> the user's file, as for ``log_to_file``.

    Returns
    -------
    str
    """
    text = str(error)
    if error.path is None:
        return text
    for copy, original in sources.items():
        if os.path.abspath(str(error.path)) == os.path.abspath(copy):
            return original + text[len(str(error.path)) :]
    return text


def _failure_reporter(log_path: str, sources: dict[str, str]):
    """Return an ``excepthook`` writing a failure to the log, its one line to job stderr."""

    def report(kind: type[BaseException], error: BaseException, tb: TracebackType | None):
        if isinstance(error, InputError):
            line = user_message(error, sources)
            logger.error(line)
        else:
            logger.error("failed", exc_info=(kind, error, tb))
            first = (str(error).splitlines() or [""])[0]
            line = f"{kind.__name__}: {first} (traceback in {log_path})"
        if _job_stderr is not None:
            _job_stderr.write(f"peakcnn error: {line}\n")
            _job_stderr.flush()

    return report


def job_terminal() -> TextIO | None:
    """Return the job's own stderr when it is a terminal (a person watching), else None."""
    stream = _job_stderr if _job_stderr is not None else sys.stderr
    try:
        return stream if os.isatty(stream.fileno()) else None
    except (AttributeError, OSError, ValueError):  # no file descriptor (a notebook, a pipe)
        return None


def progress(total: int, desc: str, unit: str) -> tqdm:
    """Return a live tqdm bar on the job's terminal, disabled (drawing nothing) without one.

    Log files, CI and cluster jobs get no bar: their stderr is not a terminal. Callers log
    their own one line per epoch or chunk.

    Parameters
    ----------
    total : int
        Units of work.
    desc : str
        What is counted, shown before the bar (``epoch 3/20``).
    unit : str
        Unit of the count (``windows``).

    Returns
    -------
    tqdm.tqdm
        Call ``update(n)`` and ``close()``.
    """
    terminal = job_terminal()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=terminal,
        disable=terminal is None,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )


@contextmanager
def throughput(what: str, unit: str) -> Iterator[dict]:
    """Time a block and log its throughput as ``<count> <unit> in <s> s (<rate> <unit>/s)``.

    Parameters
    ----------
    what : str
        Name of the work, for the log line.
    unit : str
        Unit of the count (``windows``, ``samples``, ``attributions``).

    Yields
    ------
    dict
        Set ``["count"]`` inside the block; ``["seconds"]`` and ``["rate"]`` are filled on exit.
    """
    record: dict = {"count": 0}
    start = time.perf_counter()
    yield record
    seconds = max(time.perf_counter() - start, 1e-9)
    record["seconds"] = seconds
    record["rate"] = record["count"] / seconds
    logger.info(
        "%s: %d %s in %.2f s (%.0f %s/s)",
        what,
        record["count"],
        unit,
        seconds,
        record["rate"],
        unit,
    )
