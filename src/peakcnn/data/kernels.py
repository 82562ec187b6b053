"""Compiled (numba) loops over raw FASTA bytes, shared by ``genome`` and ``encode``.

They live in one module because numba's on-disk cache of a function is keyed on its own source
file only: a kernel that inlines a helper from another file would keep a stale copy of it, so
every kernel built on ``gather_window`` belongs here.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import uint64

#: Byte mask that upper-cases ASCII letters (clears bit 5) and leaves every other byte distinct
#: from the upper-case letters A, C, G, T and N.
UPPER_MASK = np.uint8(0xDF)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def gather_window(
    data: np.ndarray, layout: np.ndarray, first: int, length: int, scratch: np.ndarray
) -> int:  # pragma: no cover - compiled
    """Copy one window's bases, upper-cased (``UPPER_MASK``), from FASTA bytes into ``scratch``.

    ``layout`` is ``(offset, bases per line, bytes per line, record length)`` (``record_layout``)
    of the record in ``data``; the window ``[first, first + length)`` may run past either end
    of the record, and those positions get byte 0 (not a base). Line ends are skipped by copying
    line runs. Returns the number of such padded positions.
    """
    offset, per_line, line_bytes, size = layout[0], layout[1], layout[2], layout[3]
    done = 0
    padded = 0
    while done < length:
        position = first + done
        if position < 0 or position >= size:
            scratch[uint64(done)] = 0
            padded += 1
            done += 1
            continue
        line = position // per_line
        column = position - line * per_line
        run = min(per_line - column, length - done, size - position)
        source = uint64(offset + line * line_bytes + column)
        target = uint64(done)
        # unsigned indices: no negative-index wraparound, so the copy is vectorised
        for k in range(uint64(run)):
            scratch[target + k] = data[source + k] & UPPER_MASK
        done += run
    return padded


@numba.njit(cache=True, nogil=True, boundscheck=False)
def composition_kernel(
    data: np.ndarray,
    layouts: np.ndarray,
    records: np.ndarray,
    starts: np.ndarray,
    length: int,
    gc: np.ndarray,
    non_acgt: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fill ``gc`` and ``non_acgt`` (float64, (n,)) for windows read by ``gather_window``."""
    scratch = np.empty(length, dtype=np.uint8)
    for index in range(starts.shape[0]):
        gather_window(data, layouts[records[index]], starts[index], length, scratch)
        acgt = 0
        strong = 0
        for j in range(uint64(length)):
            base = scratch[j]
            is_gc = (base == 67) | (base == 71)
            strong += is_gc
            acgt += is_gc | (base == 65) | (base == 84)
        gc[index] = strong / acgt if acgt > 0 else np.nan
        non_acgt[index] = (length - acgt) / length


@numba.njit(cache=True, nogil=True, boundscheck=False)
def encode_kernel(
    data: np.ndarray,
    layouts: np.ndarray,
    records: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    length: int,
    letters: np.ndarray,
    out: np.ndarray,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Write window ``i`` to ``out[rows[i]]`` ((4, length), every byte) and its counts.

    Window ``i`` starts at ``starts[i]`` in the record whose layout is
    ``layouts[records[i]]`` (see ``gather_window``). Counts are N bases, other non-ACGT
    bases and padded positions (``COUNT_COLUMNS``).
    """
    scratch = np.empty(length, dtype=np.uint8)
    for index in range(starts.shape[0]):
        padded = gather_window(data, layouts[records[index]], starts[index], length, scratch)
        target = out[rows[index]]
        for channel in range(4):
            letter = letters[channel]
            row = target[channel]
            for j in range(uint64(length)):
                row[j] = scratch[j] == letter
        acgt = 0
        n_bases = 0
        for j in range(uint64(length)):
            base = scratch[j]
            acgt += (base == 65) | (base == 67) | (base == 71) | (base == 84)
            n_bases += base == 78
        counts[rows[index], 0] = n_bases
        counts[rows[index], 1] = length - acgt - n_bases - padded
        counts[rows[index], 2] = padded


@numba.njit(cache=True, nogil=True, boundscheck=False)
def rows_kernel(sequence: np.ndarray, rows: np.ndarray) -> None:  # pragma: no cover
    """Write base i's one-hot row (4 bytes, little-endian) as one uint32 in ``rows[i]``.

    The row is computed with 4 compares on the upper-cased byte rather than looked up in a
    table, so the loop has no gather and is vectorised.
    """
    for i in range(uint64(sequence.shape[0])):
        base = sequence[i] & UPPER_MASK
        rows[i] = (
            np.uint32(base == 65)
            | (np.uint32(base == 67) << np.uint32(8))
            | (np.uint32(base == 71) << np.uint32(16))
            | (np.uint32(base == 84) << np.uint32(24))
        )
