"""One-hot encoding of genome windows: uint8 (N, 4, L), ACGT order, N/other = all zeros.

The hot loop is one compiled pass (numba) over the raw bytes of a chromosome: each base is
looked up in the 256-entry code table and sets at most one byte of the zero-initialised output,
so no intermediate (N, L) array is built. Windows may run past either chromosome end; those
positions stay all-zero (N padding) and are counted.
"""

from __future__ import annotations

import logging

import numba
import numpy as np
import pandas as pd

from peakcnn.genome import CODE_N, CODE_TABLE, open_fasta, record_layout

logger = logging.getLogger(__name__)

#: Per-window count columns returned by ``encode_bytes``.
COUNT_COLUMNS = ("n_bases", "other_iupac_bases", "padded_bases")


def _kernel_tables() -> np.ndarray:
    """Per byte: one-hot channel (0 for non-ACGT), value to write, is-N, is-other-IUPAC."""
    tables = np.zeros((4, 256), dtype=np.int64)
    acgt = CODE_TABLE < 4
    tables[0] = np.where(acgt, CODE_TABLE, 0)
    tables[1] = acgt
    tables[2] = CODE_TABLE == CODE_N
    tables[3] = CODE_TABLE > CODE_N
    return tables


KERNEL_TABLES = _kernel_tables()


@numba.njit(cache=True, nogil=True)
def _encode_kernel(
    data: np.ndarray,
    layout: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    length: int,
    tables: np.ndarray,
    out: np.ndarray,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fill rows ``rows`` of ``out`` (zeroed, (N, 4 * length)) and ``counts`` ((N, 3)).

    ``layout`` is (offset, bases per line, bytes per line, record length) of the record in
    ``data``; windows are copied line run by line run, so line ends are skipped for free.
    The inner loop has no branch: each base writes its value (1 for ACGT, 0 otherwise) at its
    channel's row (row 0 for non-ACGT, which is 0 there anyway).
    """
    offset, per_line, line_bytes, size = layout[0], layout[1], layout[2], layout[3]
    channel, value, is_n, is_other = tables[0], tables[1], tables[2], tables[3]
    for index in range(starts.shape[0]):
        first = starts[index]
        target = out[rows[index]]
        n_bases = 0
        other = 0
        padded = 0
        done = 0
        while done < length:
            position = first + done
            if position < 0 or position >= size:
                padded += 1
                done += 1
                continue
            line = position // per_line
            column = position - line * per_line
            run = min(per_line - column, length - done, size - position)
            base = offset + line * line_bytes + column
            for k in range(run):
                byte = data[base + k]
                target[channel[byte] * length + done + k] = value[byte]
                n_bases += is_n[byte]
                other += is_other[byte]
            done += run
        counts[rows[index], 0] = n_bases
        counts[rows[index], 1] = other
        counts[rows[index], 2] = padded


def encode_bytes(
    data: np.ndarray,
    starts: np.ndarray,
    length: int,
    layout: tuple[int, int, int, int] | None = None,
    *,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot encode windows of one sequence held as raw ASCII bytes.

    Parameters
    ----------
    data : numpy.ndarray of uint8
        Raw bytes: a bare sequence, or a whole FASTA file (e.g. memory-mapped) with ``layout``
        locating one record in it.
    starts : numpy.ndarray of int64, shape (n,)
        Window starts, 0-based in the sequence; may be negative or run past the end.
    length : int
        Window length in bp.
    layout : tuple of int, optional
        ``(offset, bases per line, bytes per line, sequence length)`` of a FASTA record, as in
        its .fai index; default: ``data`` is the bare sequence.
    out : tuple of (x, counts, rows), optional
        Write into rows ``rows`` of existing zeroed arrays ``x`` (N, 4, length) and
        ``counts`` (N, 3) instead of new ones (no copy when filling a dataset).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 4, length)
        ACGT order (soft-masked lowercase as uppercase); N, other IUPAC codes and padding
        beyond either end are all-zero columns.
    numpy.ndarray of int64, shape (n, 3)
        Per window: N bases, other IUPAC bases, padded bases (``COUNT_COLUMNS``).
    """
    if layout is None:
        layout = (0, max(data.size, 1), max(data.size, 1), data.size)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    if out is None:
        x = np.zeros((starts.size, 4, length), dtype=np.uint8)
        counts = np.zeros((starts.size, len(COUNT_COLUMNS)), dtype=np.int64)
        rows = np.arange(starts.size)
    else:
        x, counts, rows = out
    layout_array = np.asarray(layout, dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    _encode_kernel(
        data, layout_array, starts, rows, length, KERNEL_TABLES, x.reshape(len(x), -1), counts
    )
    return x, counts


def _row_patterns() -> np.ndarray:
    """Return the byte → uint32 table whose 4 little-endian bytes are that base's one-hot row."""
    patterns = np.zeros(256, dtype=np.uint32)
    for code in range(4):
        patterns[CODE_TABLE == code] = np.uint32(1) << np.uint32(8 * code)
    return patterns


ROW_PATTERNS = _row_patterns()


@numba.njit(cache=True, nogil=True)
def _rows_kernel(
    sequence: np.ndarray, patterns: np.ndarray, rows: np.ndarray
) -> None:  # pragma: no cover
    """Write base i's one-hot row (4 bytes) as one uint32: ``rows[i] = patterns[sequence[i]]``."""
    for i in range(sequence.shape[0]):
        rows[i] = patterns[sequence[i]]


def one_hot_sequence(sequence: str | bytes | np.ndarray) -> np.ndarray:
    """One-hot encode a whole sequence (e.g. a chromosome) in one sequential pass.

    Each base is written as one 4-byte row of a base-major (L, 4) array, and the (4, L)
    transpose is returned as a view (no copy); call ``numpy.ascontiguousarray`` on it where
    channel-major memory is needed.

    Parameters
    ----------
    sequence : str, bytes or numpy.ndarray of uint8
        ASCII bases; soft-masked lowercase reads as uppercase, N and other codes as zeros.

    Returns
    -------
    numpy.ndarray of uint8, shape (4, len(sequence))
    """
    if isinstance(sequence, str):
        sequence = sequence.encode("ascii")
    raw = np.frombuffer(sequence, dtype=np.uint8) if isinstance(sequence, bytes) else sequence
    rows = np.empty(raw.size, dtype=np.uint32)
    _rows_kernel(np.ascontiguousarray(raw, dtype=np.uint8), ROW_PATTERNS, rows)
    return rows.view(np.uint8).reshape(raw.size, 4).T


def encode_windows(windows: pd.DataFrame, fasta_path: str, length: int) -> tuple[np.ndarray, dict]:
    """Encode windows from the genome, one chromosome at a time, padding with N at the ends.

    Parameters
    ----------
    windows : pandas.DataFrame
        Columns ``chrom, start, pad_left`` (BED6+3 windows; the unclipped start is
        ``start - pad_left``).
    fasta_path : str
        Indexed genome FASTA.
    length : int
        Window length in bp.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 4, length)
        One-hot windows in the order of ``windows``.
    dict
        Counts: ``windows_with_n`` (any N, IUPAC or padded base), ``n_bases``,
        ``other_iupac_bases``, ``padded_bases``.
    """
    x = np.zeros((len(windows), 4, length), dtype=np.uint8)
    counts = np.zeros((len(windows), len(COUNT_COLUMNS)), dtype=np.int64)
    starts = (windows["start"] - windows["pad_left"]).to_numpy(dtype=np.int64)
    fasta = open_fasta(fasta_path)
    try:
        data = np.memmap(fasta_path, dtype=np.uint8, mode="r")
        for chrom, rows in windows.groupby("chrom", sort=False).indices.items():
            encode_bytes(
                data, starts[rows], length, record_layout(fasta, chrom), out=(x, counts, rows)
            )
    finally:
        fasta.close()
    totals = {name: int(counts[:, i].sum()) for i, name in enumerate(COUNT_COLUMNS)}
    return x, {"windows_with_n": int((counts.sum(axis=1) > 0).sum()), **totals}
