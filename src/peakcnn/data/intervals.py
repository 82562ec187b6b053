"""Reading BED/narrowPeak peak files with line-precise validation, and writing BED tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.io import atomic_path

logger = logging.getLogger(__name__)

HEADER_PREFIXES = ("#", "track", "browser")
PEAK_COLUMNS = ["chrom", "start", "end", "name", "score", "summit", "signal", "line"]


@dataclass
class PeakTable:
    """Peaks read from a BED/narrowPeak file.

    Attributes
    ----------
    peaks : pandas.DataFrame
        Columns ``chrom, start, end, name, score, summit, signal, line``: BED 0-based
        half-open coordinates, the summit as an offset from ``start`` (-1 when the file gives
        none), the peak strength used to rank peaks (narrowPeak column 7, else a numeric
        column 5, else 0) and the 1-based line number in the file.
    counts : dict
        ``lines``, ``header_lines``, ``blank_lines``, ``with_summit``, ``without_summit``.
    """

    peaks: pd.DataFrame
    counts: dict = field(default_factory=dict)


def _parse_int(text: str, what: str, path: str, line: int) -> int:
    """Parse one integer BED field or raise an InputError naming the file and line."""
    try:
        return int(text)
    except ValueError:
        raise InputError(
            f"{what} {text!r} is not an integer; BED coordinates are whole numbers, fix or "
            "remove this line",
            path,
            line,
        ) from None


def _parse_peak(fields: list[str], path: str, line: int) -> tuple:
    """Validate one BED/narrowPeak data line and return its row for ``PEAK_COLUMNS``."""
    if len(fields) < 3:
        raise InputError(
            f"{len(fields)} column(s), BED needs at least 3 tab-separated columns "
            "(chrom, start, end); fix the line or the delimiter",
            path,
            line,
        )
    start = _parse_int(fields[1], "start", path, line)
    end = _parse_int(fields[2], "end", path, line)
    if start < 0:
        raise InputError(f"negative start {start}; coordinates are 0-based >= 0", path, line)
    if start >= end:
        raise InputError(f"start {start} >= end {end}; swap or fix the coordinates", path, line)
    name = fields[3] if len(fields) > 3 else f"peak_{line}"
    score = fields[4] if len(fields) > 4 else "0"
    summit = -1
    if len(fields) >= 10:
        summit = _parse_int(fields[9], "summit offset (column 10)", path, line)
        if summit >= end - start or summit < -1:
            raise InputError(
                f"summit offset {summit} is outside the peak (width {end - start}); column 10 "
                "must be in [0, end - start) or -1 for no summit",
                path,
                line,
            )
    return fields[0], start, end, name, score, summit, _signal(fields), line


def _signal(fields: list[str]) -> float:
    """Peak strength: narrowPeak signalValue (column 7), else a numeric score (column 5)."""
    for column in (6, 4):
        if len(fields) > column:
            try:
                return float(fields[column])
            except ValueError:
                continue
    return 0.0


def read_peaks(path: str) -> PeakTable:
    """Read a BED (3+ columns) or narrowPeak (10 columns) file, validating every line.

    Header lines (``#``, ``track``, ``browser``) and blank lines are skipped and counted;
    Windows line endings are accepted.

    Parameters
    ----------
    path : str
        Plain-text BED or narrowPeak file (decompressed by the fetch stage).

    Returns
    -------
    PeakTable

    Raises
    ------
    InputError
        For a malformed line (too few columns, non-integer or negative coordinates,
        start >= end, summit outside the peak) or a file without any peak.
    """
    rows: list[tuple] = []
    counts = {"lines": 0, "header_lines": 0, "blank_lines": 0}
    with open(path, newline="") as handle:
        for number, raw in enumerate(handle, start=1):
            counts["lines"] += 1
            text = raw.rstrip("\r\n")
            if not text.strip():
                counts["blank_lines"] += 1
            elif text.startswith(HEADER_PREFIXES):
                counts["header_lines"] += 1
            else:
                rows.append(_parse_peak(text.split("\t"), path, number))
    if not rows:
        raise InputError("no peaks found; give a BED/narrowPeak file with at least one peak", path)
    peaks = pd.DataFrame(rows, columns=PEAK_COLUMNS)
    counts["with_summit"] = int((peaks["summit"] >= 0).sum())
    counts["without_summit"] = int(len(peaks) - counts["with_summit"])
    logger.info("read %d peaks from %s (%s)", len(peaks), path, counts)
    return PeakTable(peaks=peaks, counts=counts)


def write_bed(table: pd.DataFrame, path: str, columns: list[str]) -> None:
    """Write the given columns of ``table`` as a headerless tab-separated BED file, atomically."""
    with atomic_path(path) as tmp:
        table[columns].to_csv(tmp, sep="\t", header=False, index=False)


def read_bed(path: str, columns: list[str]) -> pd.DataFrame:
    """Read a headerless BED file written by ``write_bed`` with the given column names."""
    return pd.read_csv(
        path, sep="\t", header=None, names=columns, dtype={columns[0]: str}, comment=None
    )


def peak_centres(peaks: pd.DataFrame) -> np.ndarray:
    """Summit position of each peak (``start + summit``), or its midpoint when it has none."""
    start = peaks["start"].to_numpy()
    summit = peaks["summit"].to_numpy()
    return np.where(summit >= 0, start + summit, (start + peaks["end"].to_numpy()) // 2)


def read_blacklist(path: str | None) -> pd.DataFrame:
    """Read a blacklist BED (``chrom, start, end``); empty when ``path`` is None."""
    if not path:
        return pd.DataFrame(
            {
                "chrom": pd.Series(dtype=str),
                "start": pd.Series(dtype=np.int64),
                "end": pd.Series(dtype=np.int64),
            }
        )
    return read_peaks(path).peaks[["chrom", "start", "end"]]
