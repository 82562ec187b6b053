"""One-hot encoding of genome windows: uint8 (N, 4, L), ACGT order, N/other = all zeros."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from peakcnn.genome import CODE_N, CODE_OTHER, chromosome_codes, open_fasta, window_codes

logger = logging.getLogger(__name__)

#: Row ``c`` is the one-hot column of base code ``c``: A, C, G, T, then all zeros for N/other.
ONE_HOT_TABLE = np.vstack([np.eye(4, dtype=np.uint8), np.zeros((2, 4), dtype=np.uint8)])


def one_hot(codes: np.ndarray) -> np.ndarray:
    """One-hot encode base codes through a lookup table.

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape (n, length)
        Base codes (0..3 ACGT, 4 N, 5 other; see ``peakcnn.genome``).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 4, length)
        ACGT order; N and other codes are all-zero columns.
    """
    return np.ascontiguousarray(ONE_HOT_TABLE[codes].transpose(0, 2, 1))


def encode_windows(windows: pd.DataFrame, fasta_path: str, length: int) -> tuple[np.ndarray, dict]:
    """Encode windows from the genome, one chromosome at a time, padding with N at the ends.

    Parameters
    ----------
    windows : pandas.DataFrame
        Columns ``chrom, start, pad_left`` (BED6+2 windows; the unclipped start is
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
        Counts: ``windows_with_n``, ``n_bases``, ``other_iupac_bases``, ``padded_bases``.
    """
    x = np.zeros((len(windows), 4, length), dtype=np.uint8)
    counts = {"windows_with_n": 0, "n_bases": 0, "other_iupac_bases": 0, "padded_bases": 0}
    starts = (windows["start"] - windows["pad_left"]).to_numpy(dtype=np.int64)
    fasta = open_fasta(fasta_path)
    try:
        for chrom, rows in windows.groupby("chrom", sort=False).indices.items():
            chrom_codes = chromosome_codes(fasta, chrom)
            codes = window_codes(chrom_codes, starts[rows], length)
            x[rows] = one_hot(codes)
            padded = _padded_bases(starts[rows], length, chrom_codes.size)
            counts["n_bases"] += int((codes == CODE_N).sum()) - padded
            counts["other_iupac_bases"] += int((codes == CODE_OTHER).sum())
            counts["padded_bases"] += padded
            counts["windows_with_n"] += int((codes >= CODE_N).any(axis=1).sum())
    finally:
        fasta.close()
    return x, counts


def _padded_bases(starts: np.ndarray, length: int, chrom_length: int) -> int:
    """Count the window bases that fall outside the chromosome (padded with N)."""
    left = np.clip(-starts, 0, length)
    right = np.clip(starts + length - chrom_length, 0, length)
    return int(np.minimum(left + right, length).sum())
