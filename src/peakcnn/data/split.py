"""Train/val/test splits: assign positive windows to split regions, with a leak check."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.data.genome import chromosome_sizes
from peakcnn.data.intervals import read_bed, write_bed
from peakcnn.data.regions import REGION_COLUMNS, split_regions
from peakcnn.data.windows import WINDOW_COLUMNS
from peakcnn.errors import InputError
from peakcnn.io import write_json

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitSettings:
    """Settings of ``split_windows`` (the ``split`` config section and the window length).

    Attributes
    ----------
    method : {"auto", "chromosome", "blocks", "random"}, default "auto"
        How to split (see ``regions.split_regions``).
    val_chroms, test_chroms : list of str, optional
        Chromosomes for validation and test (chromosome method); chosen by size if empty.
    val_fraction, test_fraction : float, default 0.15
        Target shares of validation and test.
    gap : int, default 100000
        Gap between blocks in bp (blocks method); must be >= ``window_length``.
    window_length : int, default 800
        Window length, for the gap check.
    random_block, seed : int
        ``random`` method: piece size in bp and the seed of the draw (leak-prone; for
        comparison with published random splits only).
    folds, fold : int, default 0
        k-fold cross-validation: with ``folds`` >= 3, the regions of fold ``fold`` (test =
        fold ``fold``, val = the next fold, train = the rest); 0 = one split.
    """

    method: str = "auto"
    val_chroms: list[str] | None = None
    test_chroms: list[str] | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    gap: int = 100_000
    window_length: int = 800
    folds: int = 0
    fold: int = 0
    random_block: int = 100_000
    seed: int = 0


def split_windows(
    fasta_path: str,
    positives_path: str,
    regions_path: str,
    assigned_path: str,
    summary_path: str,
    **settings,
) -> dict:
    """Define split regions and assign each positive window to the region holding its centre.

    Windows whose centre falls in a gap between blocks are left out and counted.

    Parameters
    ----------
    fasta_path : str
        Indexed genome FASTA.
    positives_path : str
        Positive windows, BED6+3 (``WINDOW_COLUMNS``).
    regions_path : str
        Output BED of split regions (``chrom start end split``).
    assigned_path : str
        Output: the positives with a ninth column, their split.
    summary_path : str
        Output JSON: method, regions, counts per split, windows left in gaps.
    **settings
        The ``split`` config section (with ``window_length``): the fields of
        ``SplitSettings``; an unknown key is a TypeError.

    Returns
    -------
    dict
        The summary.
    """
    config = SplitSettings(**settings)
    if config.gap < config.window_length:
        raise InputError(
            f"split.gap {config.gap} is shorter than the window length {config.window_length}; "
            "windows could span two splits: set split.gap >= windows.length"
        )
    sizes = chromosome_sizes(fasta_path)
    positives = read_bed(positives_path, WINDOW_COLUMNS)
    regions_with = functools.partial(
        split_regions,
        sizes,
        set(positives["chrom"]),
        method=config.method,
        val_chroms=list(config.val_chroms or []),
        test_chroms=list(config.test_chroms or []),
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        folds=config.folds,
        fold=config.fold,
        seed=config.seed,
    )
    method, regions = regions_with(gap=config.gap, random_block=config.random_block)
    positives["split"] = assign_splits(positives, regions)
    in_gap = positives["split"] == ""
    counts = positives.loc[~in_gap, "split"].value_counts()
    summary = {
        "method": method,
        "folds": config.folds,
        "fold": config.fold if config.folds else None,
        "regions": regions.to_dict(orient="records"),
        "positives": {split: int(counts.get(split, 0)) for split in SPLITS},
        "positives_in_gaps": int(in_gap.sum()),
    }
    empty = [split for split in SPLITS if summary["positives"][split] == 0]
    if empty:
        gap_is_cause = _gap_is_cause(positives, method, regions_with, config)
        raise InputError(
            empty_split_message(
                empty,
                positives,
                regions,
                method,
                gap=config.gap,
                window_length=config.window_length,
                gap_is_cause=gap_is_cause,
            ),
            positives_path,
        )
    write_bed(regions, regions_path, REGION_COLUMNS)
    write_bed(positives[~in_gap], assigned_path, WINDOW_COLUMNS + ["split"])
    write_json(summary_path, summary)
    logger.info("split %s: positives %s, %d in gaps", method, summary["positives"], in_gap.sum())
    return summary


def _gap_is_cause(
    positives: pd.DataFrame, method: str, regions_with: Callable, config: SplitSettings
) -> bool:
    """Tell whether every split would get positives with the smallest gap (the window length).

    Parameters
    ----------
    positives : pandas.DataFrame
        The positive windows.
    method : str
        The split method, as resolved from ``auto``.
    regions_with : callable
        ``split_regions`` for this genome and these settings, given ``method``, ``gap`` and
        ``random_block``.
    config : SplitSettings
        The settings.

    Returns
    -------
    bool
        Whether the gap alone leaves a split without positives.
    """
    _, smallest_gap = regions_with(
        method=method,
        gap=config.window_length,
        random_block=max(config.random_block, config.window_length + 1),
    )
    return set(assign_splits(positives, smallest_gap)) >= set(SPLITS)


def empty_split_message(
    empty: list[str],
    positives: pd.DataFrame,
    regions: pd.DataFrame,
    method: str,
    *,
    gap: int,
    window_length: int,
    gap_is_cause: bool,
) -> str:
    """Say why splits got no positive window: too few peaks, the gap, or the fractions.

    Parameters
    ----------
    empty : list of str
        The splits without a positive window.
    positives : pandas.DataFrame
        The positive windows, with their ``split`` ("" in a gap).
    regions : pandas.DataFrame
        ``REGION_COLUMNS`` split regions.
    method : str
        The resolved split method.
    gap, window_length : int
        ``split.gap`` and ``windows.length`` in bp.
    gap_is_cause : bool
        Whether every split would get positives with the smallest gap (``window_length``).

    Returns
    -------
    str
        One line naming the splits, the cause and the fix.
    """
    if len(positives) < len(SPLITS):
        return (
            f"only {len(positives)} positive window(s), but train, val and test each need at "
            "least one (more for a useful model); give a peak file with more peaks"
        )
    in_gaps = int((positives["split"] == "").sum())
    room = {
        split: int((regions["end"] - regions["start"])[regions["split"] == split].sum())
        for split in empty
    }
    if gap_is_cause:
        return (
            f"no positive window in split(s) {empty} ({method} split): split.gap {gap} bp leaves "
            f"them {room} bp and {in_gaps} of {len(positives)} positive windows fall in the gaps; "
            f"lower split.gap (at least windows.length {window_length}) for contigs this short"
        )
    return (
        f"no positive window in split(s) {empty} ({method} split, {in_gaps} windows in gaps, "
        f"room {room} bp); adjust split.val_fraction/test_fraction or name "
        "split.val_chroms/test_chroms"
    )


def assign_splits(windows: pd.DataFrame, regions: pd.DataFrame) -> np.ndarray:
    """Return each window's split: the region containing its centre, or "" (in a gap).

    Parameters
    ----------
    windows : pandas.DataFrame
        Columns ``chrom, start, end`` (window clipped to the chromosome) plus
        ``pad_left, pad_right``.
    regions : pandas.DataFrame
        ``REGION_COLUMNS`` split regions.

    Returns
    -------
    numpy.ndarray of str, shape (n,)
    """
    centre = (windows["start"] - windows["pad_left"] + windows["end"] + windows["pad_right"]) // 2
    points = pd.DataFrame(
        {
            "chrom": windows["chrom"],
            "start": centre,
            "end": centre + 1,
            "i": np.arange(len(windows)),
        }
    )
    hits = pybedtools.BedTool.from_dataframe(points).intersect(
        pybedtools.BedTool.from_dataframe(regions), wa=True, wb=True
    )
    split = np.full(len(windows), "", dtype=object)
    for fields in hits:
        split[int(fields[3])] = fields[7]
    return split


def leak_check(windows: pd.DataFrame) -> dict:
    """Count windows of each split that overlap a window of another split (bedtools intersect).

    Parameters
    ----------
    windows : pandas.DataFrame
        Columns ``chrom, start, end, split``.

    Returns
    -------
    dict
        ``{"a|b": n}`` for each pair of splits and ``"passed"``.
    """
    beds = {
        split: pybedtools.BedTool.from_dataframe(
            windows.loc[windows["split"] == split, ["chrom", "start", "end"]]
        )
        for split in SPLITS
    }
    result: dict = {}
    for index, first in enumerate(SPLITS):
        for second in SPLITS[index + 1 :]:
            result[f"{first}|{second}"] = beds[first].intersect(beds[second], u=True).count()
    result["passed"] = all(count == 0 for count in result.values())
    return result
