"""One-hot encoding of genome windows: uint8 (N, 4, L), ACGT order, N/other = all zeros.

Windows are read straight from the memory-mapped FASTA through the .fai layout of their record
(``kernels.gather_window``) into a small scratch buffer, then each of the 4 channel rows of the
output is written by one compare loop over that buffer (vectorised by LLVM), so every output
byte is written exactly once and nothing is zero-initialised. Windows may run past either
chromosome end; those positions stay all-zero (N padding) and are counted.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd

from peakcnn.data.genome import BASES, open_fasta, window_layouts
from peakcnn.data.kernels import encode_kernel, rows_kernel

logger = logging.getLogger(__name__)

#: Per-window count columns returned by ``encode_bytes``.
COUNT_COLUMNS = ("n_bases", "other_iupac_bases", "padded_bases")

#: Upper-case ASCII of the 4 channels, in order.
CHANNEL_LETTERS = np.frombuffer(BASES.encode(), dtype=np.uint8).copy()


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
        Write into rows ``rows`` of existing arrays ``x`` (N, 4, length) and ``counts``
        (N, 3) instead of new ones (every byte of those rows is written; no need to zero).

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
        x = np.empty((starts.size, 4, length), dtype=np.uint8)
        counts = np.empty((starts.size, len(COUNT_COLUMNS)), dtype=np.int64)
        rows = np.arange(starts.size)
    else:
        x, counts, rows = out
    encode_kernel(
        np.ascontiguousarray(data, dtype=np.uint8),
        np.asarray([layout], dtype=np.int64),
        np.zeros(starts.size, dtype=np.int64),
        starts,
        np.ascontiguousarray(rows, dtype=np.int64),
        length,
        CHANNEL_LETTERS,
        x,
        counts,
    )
    return x, counts


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
    rows_kernel(np.ascontiguousarray(raw, dtype=np.uint8), rows)
    if sys.byteorder == "big":
        rows.byteswap(inplace=True)
    return rows.view(np.uint8).reshape(raw.size, 4).T


def encode_windows(windows: pd.DataFrame, fasta_path: str, length: int) -> tuple[np.ndarray, dict]:
    """Encode windows from the genome in one pass, padding with N beyond the record ends.

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
    x = np.empty((len(windows), 4, length), dtype=np.uint8)
    counts = np.zeros((len(windows), len(COUNT_COLUMNS)), dtype=np.int64)
    if len(windows):
        starts = (windows["start"] - windows["pad_left"]).to_numpy(dtype=np.int64)
        fasta = open_fasta(fasta_path)
        try:
            layouts, records = window_layouts(fasta, windows["chrom"].to_numpy())
        finally:
            fasta.close()
        data = np.memmap(fasta_path, dtype=np.uint8, mode="r")
        rows = np.arange(len(windows), dtype=np.int64)
        encode_kernel(data, layouts, records, starts, rows, length, CHANNEL_LETTERS, x, counts)
    totals = {name: int(counts[:, i].sum()) for i, name in enumerate(COUNT_COLUMNS)}
    return x, {"windows_with_n": int((counts.sum(axis=1) > 0).sum()), **totals}
