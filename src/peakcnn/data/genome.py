"""Genome access: chromosome sizes, base codes and window composition from an indexed FASTA.

Windows are read straight from the memory-mapped FASTA through the .fai layout of their record
(``kernels.gather_window``, compiled with numba), so no chromosome is decoded as a whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx

from peakcnn.data.kernels import composition_kernel

logger = logging.getLogger(__name__)

#: Base codes: A, C, G, T = 0..3 (either case), N = 4, other IUPAC letters = 5, padding = 4.
CODE_N = 4
CODE_OTHER = 5
#: The four bases, in code and one-hot channel order: the one definition of the alphabet.
BASES = "ACGT"


def _code_table() -> np.ndarray:
    """Return the 256-entry byte → base-code lookup table (soft-masked bases map like upper)."""
    table = np.full(256, CODE_OTHER, dtype=np.uint8)
    for code, base in enumerate(BASES):
        table[ord(base)] = table[ord(base.lower())] = code
    table[ord("N")] = table[ord("n")] = CODE_N
    return table


CODE_TABLE = _code_table()


def index_path(path: str) -> str:
    """Where the .fai index of ``path`` lives: beside it, or in a cache folder if read-only.

    A FASTA in a read-only folder (a shared reference, a mounted data set) without an index
    gets its index under ``$XDG_CACHE_HOME/peakcnn`` (default ``~/.cache/peakcnn``), named by
    the FASTA's absolute path.
    """
    beside = f"{path}.fai"
    if os.path.exists(beside) or os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        return beside
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "peakcnn"
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:16]
    logger.info("%s is in a read-only folder; its index goes to %s", path, cache)
    return str(cache / f"{Path(path).name}.{digest}.fai")


def open_fasta(path: str) -> pyfaidx.Fasta:
    """Open a FASTA with pyfaidx (building its .fai index when missing), bases as stored."""
    return pyfaidx.Fasta(
        path, as_raw=True, sequence_always_upper=False, rebuild=False, indexname=index_path(path)
    )


def chromosome_sizes(fasta_path: str) -> dict[str, int]:
    """Return ``{name: length}`` for every record of the FASTA, in file order."""
    fasta = open_fasta(fasta_path)
    try:
        return {name: len(record) for name, record in fasta.records.items()}
    finally:
        fasta.close()


def fasta_descriptions(fasta_path: str) -> dict[str, str]:
    """Return ``{name: description line}`` for every FASTA record, in file order."""
    fasta = open_fasta(fasta_path)
    try:
        return {name: record.long_name for name, record in fasta.records.items()}
    finally:
        fasta.close()


def record_layout(fasta: pyfaidx.Fasta, chrom: str) -> tuple[int, int, int, int]:
    """Return ``(offset, bases per line, bytes per line, length)`` of a record from its .fai."""
    record = fasta.faidx.index[chrom]
    return record.offset, max(record.lenc, 1), max(record.lenb, 1), record.rlen


def chromosome_bytes(fasta: pyfaidx.Fasta, chrom: str) -> np.ndarray:
    """Return one chromosome's sequence as raw ASCII bytes (case kept), uint8 (length,).

    Reads the record's byte range straight from the file using the .fai index (offset, bases
    and bytes per line) and drops the line ends with one reshape, at memory speed.
    """
    offset, per_line, line_bytes, length = record_layout(fasta, chrom)
    if length == 0:
        return np.zeros(0, dtype=np.uint8)
    full_lines, tail = divmod(length, per_line)
    span = full_lines * line_bytes + tail
    raw = np.fromfile(fasta.filename, dtype=np.uint8, count=span, offset=offset)
    body = raw[: full_lines * line_bytes].reshape(full_lines, line_bytes)[:, :per_line]
    return np.concatenate([body.ravel(), raw[full_lines * line_bytes :]])


def chromosome_codes(fasta: pyfaidx.Fasta, chrom: str) -> np.ndarray:
    """Return the base codes of one chromosome.

    Parameters
    ----------
    fasta : pyfaidx.Fasta
        An open FASTA (see ``open_fasta``).
    chrom : str
        Record name.

    Returns
    -------
    numpy.ndarray of uint8, shape (chromosome length,)
        0..3 for A, C, G, T (upper or soft-masked lower case), 4 for N, 5 for other IUPAC codes.
    """
    return CODE_TABLE[chromosome_bytes(fasta, chrom)]


def window_codes(codes: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Gather windows from a chromosome's codes, padding with N beyond either end.

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape (chromosome length,)
        Base codes of one chromosome (see ``chromosome_codes``).
    starts : numpy.ndarray of int64, shape (n,)
        Window starts, 0-based; may be negative or run past the end (padded with N).
    length : int
        Window length in bp.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, length)
    """
    positions = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length, dtype=np.int64)
    inside = (positions >= 0) & (positions < codes.size)
    gathered = codes[np.clip(positions, 0, max(codes.size - 1, 0))]
    return np.where(inside, gathered, np.uint8(CODE_N)).astype(np.uint8, copy=False)


def gc_fraction(window: np.ndarray) -> np.ndarray:
    """GC fraction of each window among its A/C/G/T bases (NaN for a window without any).

    Parameters
    ----------
    window : numpy.ndarray of uint8, shape (n, length)
        Base codes (see ``window_codes``).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    acgt = (window < CODE_N).sum(axis=1)
    gc = ((window == 1) | (window == 2)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(acgt > 0, gc / np.maximum(acgt, 1), np.nan)


def n_fraction(window: np.ndarray) -> np.ndarray:
    """Fraction of each window that is not A/C/G/T (N, other IUPAC codes, padding)."""
    return (window >= CODE_N).mean(axis=1)


def window_layouts(fasta: pyfaidx.Fasta, chroms) -> tuple[np.ndarray, np.ndarray]:
    """Return the .fai layout of each record that windows lie on, and each window's record.

    Parameters
    ----------
    fasta : pyfaidx.Fasta
        An open FASTA (see ``open_fasta``).
    chroms : array-like of str, shape (n,)
        Record of each window.

    Returns
    -------
    numpy.ndarray of int64, shape (records, 4)
        ``record_layout`` of each distinct record.
    numpy.ndarray of int64, shape (n,)
        Row of that table for each window.
    """
    records, names = pd.factorize(np.asarray(chroms, dtype=object))
    layouts = np.array([record_layout(fasta, name) for name in names], dtype=np.int64)
    return layouts.reshape(-1, 4), records.astype(np.int64)


def window_composition(
    fasta_path: str, chroms, starts: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """GC fraction and non-ACGT fraction of windows, read from the memory-mapped FASTA.

    The same values as ``gc_fraction`` and ``n_fraction`` of ``window_codes``, without
    decoding whole chromosomes.

    Parameters
    ----------
    fasta_path : str
        Indexed genome FASTA.
    chroms : array-like of str, shape (n,)
        Record of each window.
    starts : numpy.ndarray of int, shape (n,)
        Window starts, 0-based; may be negative or run past the record end (padding).
    length : int
        Window length in bp.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        GC fraction among the A/C/G/T bases (either case); NaN for a window without any.
    numpy.ndarray of float64, shape (n,)
        Fraction of the window that is N, another IUPAC code or padding.
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    gc = np.empty(starts.size)
    non_acgt = np.empty(starts.size)
    if starts.size == 0:
        return gc, non_acgt
    fasta = open_fasta(fasta_path)
    try:
        layouts, records = window_layouts(fasta, chroms)
    finally:
        fasta.close()
    data = np.memmap(fasta_path, dtype=np.uint8, mode="r")
    composition_kernel(data, layouts, records, starts, length, gc, non_acgt)
    return gc, non_acgt
