"""Negative-window candidates: free genome tiles, flanks of positives, and GC matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.data.genome import window_composition
from peakcnn.data.regions import REGION_COLUMNS


def subtract_intervals(regions: pd.DataFrame, exclusion: pd.DataFrame) -> pd.DataFrame:
    """Return the parts of each region outside every excluded interval (``bedtools subtract``).

    The union of the excluded intervals is taken per chromosome; each region yields its free
    pieces in ascending order, regions in their given order, as ``bedtools subtract`` does.

    Parameters
    ----------
    regions : pandas.DataFrame
        Columns ``chrom, start, end`` and any others (copied to each piece).
    exclusion : pandas.DataFrame
        Columns ``chrom, start, end`` (half-open; empty intervals exclude nothing).

    Returns
    -------
    pandas.DataFrame
        The columns of ``regions``, one row per free piece, with a fresh index.
    """
    order: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    region_start = regions["start"].to_numpy(dtype=np.int64)
    region_end = regions["end"].to_numpy(dtype=np.int64)
    excluded = exclusion[exclusion["end"].to_numpy() > exclusion["start"].to_numpy()]
    by_chrom = excluded.groupby("chrom", sort=False).indices
    excluded_start = excluded["start"].to_numpy(dtype=np.int64)
    excluded_end = excluded["end"].to_numpy(dtype=np.int64)
    for chrom, rows in regions.groupby("chrom", sort=False).indices.items():
        hits = by_chrom.get(chrom, np.zeros(0, dtype=np.int64))
        sort = np.argsort(excluded_start[hits], kind="stable")
        first, last = excluded_start[hits][sort], excluded_end[hits][sort]
        reach = np.maximum.accumulate(last) if last.size else last
        # a new merged block starts where an interval begins past everything before it
        new = np.r_[True, first[1:] > reach[:-1]] if first.size else np.zeros(0, dtype=bool)
        block_start = first[new]
        block_end = (
            reach[np.r_[np.flatnonzero(new)[1:] - 1, first.size - 1]] if first.size else last
        )
        # gaps between the merged blocks, unbounded at both ends
        gap_start = np.r_[np.iinfo(np.int64).min, block_end]
        gap_end = np.r_[block_start, np.iinfo(np.int64).max]
        low = np.searchsorted(gap_end, region_start[rows], side="right")
        high = np.searchsorted(gap_start, region_end[rows], side="left")
        pieces = np.maximum(high - low, 0)
        owner = np.repeat(rows, pieces)
        gap = np.repeat(low, pieces) + (
            np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        )
        order.append(owner)
        starts.append(np.maximum(gap_start[gap], region_start[owner]))
        ends.append(np.minimum(gap_end[gap], region_end[owner]))
    owner = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    end = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    keep = end > start
    owner, start, end = owner[keep], start[keep], end[keep]
    sort = np.lexsort((start, owner))
    return regions.iloc[owner[sort]].assign(start=start[sort], end=end[sort]).reset_index(drop=True)


def candidate_windows(
    regions: pd.DataFrame, exclusion: pd.DataFrame, length: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Tile the split regions, minus excluded intervals, into non-overlapping full windows.

    Each free interval is tiled from a random offset so that the grid is not the same for every
    run seed. Returned windows never overlap an excluded interval nor each other.

    Parameters
    ----------
    regions : pandas.DataFrame
        ``REGION_COLUMNS`` rows.
    exclusion : pandas.DataFrame
        Columns ``chrom, start, end``: peaks and positive windows to stay clear of.
    length : int
        Window length in bp.
    rng : numpy.random.Generator
        For the tiling offsets.

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom, start, end, split``.
    """
    free = subtract_intervals(regions[REGION_COLUMNS], exclusion)
    width = (free["end"] - free["start"]).to_numpy()
    free = free[width >= length].reset_index(drop=True)
    width = (free["end"] - free["start"]).to_numpy()
    offset = rng.integers(0, (width % length) + 1)
    tiles = (width - offset) // length
    owner = np.repeat(np.arange(len(free)), tiles)
    rank = np.arange(owner.size) - np.repeat(np.cumsum(tiles) - tiles, tiles)
    starts = free["start"].to_numpy()[owner] + offset[owner] + rank * length
    return pd.DataFrame(
        {
            "chrom": free["chrom"].to_numpy()[owner],
            "start": starts,
            "end": starts + length,
            "split": free["split"].to_numpy()[owner],
        }
    )


def window_gc(windows: pd.DataFrame, fasta_path: str, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the GC fraction and the non-ACGT fraction of each window (``window_composition``).

    Parameters
    ----------
    windows : pandas.DataFrame
        Columns ``chrom`` and ``start`` (the unclipped window start).
    fasta_path : str
        Indexed genome FASTA.
    length : int
        Window length in bp.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        GC fraction among A/C/G/T bases (NaN without any).
    numpy.ndarray of float64, shape (n,)
        Fraction of N, other IUPAC codes and padding.
    """
    return window_composition(
        fasta_path, windows["chrom"].to_numpy(), windows["start"].to_numpy(), length
    )


def match_gc(
    target_gc: np.ndarray, pool_gc: np.ndarray, n_wanted: int, bins: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Pick ``n_wanted`` pool indices whose GC histogram follows the targets' histogram.

    Each GC bin gets its share of ``n_wanted``; a bin short of candidates borrows from the
    nearest bins, and any final shortfall is returned (never hidden).

    Parameters
    ----------
    target_gc : numpy.ndarray of float, shape (m,)
        GC fractions of the positives.
    pool_gc : numpy.ndarray of float, shape (k,)
        GC fractions of the candidates.
    n_wanted : int
        Number of negatives to pick.
    bins : int
        Number of equal-width GC bins on [0, 1].
    rng : numpy.random.Generator
        For drawing within bins.

    Returns
    -------
    numpy.ndarray of int
        Chosen indices into the pool (no repeats).
    int
        Shortfall: how many could not be drawn.
    """
    edges = np.linspace(0, 1, bins + 1)
    target_bin = np.clip(np.digitize(target_gc, edges) - 1, 0, bins - 1)
    pool_bin = np.clip(np.digitize(pool_gc, edges) - 1, 0, bins - 1)
    wanted = np.bincount(target_bin, minlength=bins) * (n_wanted / max(len(target_gc), 1))
    wanted = np.floor(wanted).astype(int)
    wanted[np.argmax(wanted)] += n_wanted - wanted.sum()
    available = [list(rng.permutation(np.flatnonzero(pool_bin == b))) for b in range(bins)]
    chosen: list[int] = []
    for b in np.argsort(-wanted):
        need = int(wanted[b])
        for nearest in sorted(range(bins), key=lambda other: (abs(other - b), other)):
            take = available[nearest][:need]
            available[nearest] = available[nearest][need:]
            chosen += take
            need -= len(take)
            if need == 0:
                break
    return np.array(sorted(chosen), dtype=np.int64), n_wanted - len(chosen)


def flank_candidates(
    positives: pd.DataFrame,
    regions: pd.DataFrame,
    exclusion: pd.DataFrame,
    length: int,
    distance: int,
) -> pd.DataFrame:
    """Windows ``distance`` bp to the left and right of each positive window.

    Kept only when wholly inside the split's regions, clear of every peak and positive window,
    and not overlapping another kept flank (the first along the chromosome wins).
    """
    full_start = (positives["start"] - positives["pad_left"]).to_numpy()
    full_end = (positives["end"] + positives["pad_right"]).to_numpy()
    starts = np.concatenate([full_start - distance - length, full_end + distance])
    flanks = pd.DataFrame(
        {
            "chrom": np.tile(positives["chrom"].to_numpy(), 2),
            "start": starts,
            "end": starts + length,
        }
    )
    flanks = flanks[flanks["start"] >= 0]
    if flanks.empty:
        return flanks
    kept = (
        pybedtools.BedTool.from_dataframe(flanks)
        .intersect(pybedtools.BedTool.from_dataframe(regions[REGION_COLUMNS[:3]]), f=1.0, u=True)
        .intersect(pybedtools.BedTool.from_dataframe(exclusion[["chrom", "start", "end"]]), v=True)
        .to_dataframe(names=["chrom", "start", "end"], dtype={"chrom": str})
    )
    kept = kept.sort_values(["chrom", "start"]).drop_duplicates().reset_index(drop=True)
    previous_end = kept.groupby("chrom")["end"].shift().fillna(-1).to_numpy()
    running = np.maximum.accumulate(
        np.where(kept["chrom"].ne(kept["chrom"].shift()), -1, previous_end)
    )
    return kept[kept["start"].to_numpy() >= running].reset_index(drop=True)
