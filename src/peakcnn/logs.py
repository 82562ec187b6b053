"""Logging set-up for workflow rules: one log file per rule, stderr and warnings included."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peakcnn

logger = logging.getLogger(__name__)


def log_to_file(path: str) -> None:
    """Send logging, warnings and stderr (tracebacks included) to the rule's log file.

    Parameters
    ----------
    path : str
        The rule's log file; it is truncated.
    """
    stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the process
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    logger.info(
        "peakcnn %s from %s, python %s",
        peakcnn.__version__,
        Path(peakcnn.__file__).parent,
        sys.version.split()[0],
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
