"""Train/val/test splits: by chromosome or by position blocks, with a leak check."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.data.genome import chromosome_sizes
from peakcnn.data.intervals import read_bed, write_bed
from peakcnn.data.windows import WINDOW_COLUMNS
from peakcnn.errors import InputError
from peakcnn.io import write_json

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
REGION_COLUMNS = ["chrom", "start", "end", "split"]


def choose_chromosomes(sizes: dict[str, int], fraction: float, exclude: set[str]) -> list[str]:
    """Pick chromosomes whose total size comes close to ``fraction`` of the genome.

    Greedy from the largest chromosome that does not overshoot the target; if none fits, the
    one closest to the target. Works for any naming scheme because it looks only at sizes.
    """
    target = fraction * sum(sizes.values())
    candidates = sorted(((n, s) for n, s in sizes.items() if n not in exclude), key=lambda i: -i[1])
    chosen: list[str] = []
    total = 0
    for name, size in candidates:
        if total + size <= target:
            chosen.append(name)
            total += size
    if not chosen and candidates:
        chosen = [min(candidates, key=lambda item: abs(item[1] - target))[0]]
    return chosen


def chromosome_regions(
    sizes: dict[str, int], val_chroms: list[str], test_chroms: list[str]
) -> pd.DataFrame:
    """Whole chromosomes as split regions: the named val/test chromosomes, the rest train."""
    unknown = sorted(set(val_chroms + test_chroms) - set(sizes))
    if unknown:
        raise InputError(
            f"split chromosomes {unknown} are not in the genome (records: {list(sizes)[:8]}); "
            "fix split.val_chroms/split.test_chroms"
        )
    if set(val_chroms) & set(test_chroms):
        raise InputError(
            "split.val_chroms and split.test_chroms share chromosomes; make them disjoint"
        )
    split_of = {c: "val" for c in val_chroms} | {c: "test" for c in test_chroms}
    rows = [(name, 0, size, split_of.get(name, "train")) for name, size in sizes.items()]
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


def block_regions(
    sizes: dict[str, int], val_fraction: float, test_fraction: float, gap: int
) -> pd.DataFrame:
    """Cut every chromosome into contiguous train | gap | val | gap | test blocks.

    Parameters
    ----------
    sizes : dict of str to int
        Chromosome lengths.
    val_fraction, test_fraction : float
        Share of each chromosome given to validation and test (the end of the chromosome).
    gap : int
        Bases left out between blocks; at least one window so no window spans two splits.

    Returns
    -------
    pandas.DataFrame
        ``REGION_COLUMNS`` rows, BED 0-based half-open.
    """
    rows = []
    for name, size in sizes.items():
        val_start = int(round(size * (1 - val_fraction - test_fraction)))
        test_start = int(round(size * (1 - test_fraction)))
        bounds = [
            (0, val_start - gap // 2, "train"),
            (val_start + gap - gap // 2, test_start - gap // 2, "val"),
            (test_start + gap - gap // 2, size, "test"),
        ]
        rows += [(name, start, end, split) for start, end, split in bounds if end > start]
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


def joined_regions(chrom: str, pieces, gap: int) -> list[tuple]:
    """Join consecutive pieces of one split and leave ``gap`` bp where the split changes.

    Parameters
    ----------
    chrom : str
    pieces : iterable of (start, end, split)
        Adjacent pieces tiling the chromosome, in order.
    gap : int
        Bases left out between pieces of different splits (half taken from each side).

    Returns
    -------
    list of tuple
        ``(chrom, start, end, split)`` rows, empty pieces left out.
    """
    merged: list[list] = []
    for start, end, split in pieces:
        if merged and merged[-1][2] == split:
            merged[-1][1] = end
        else:
            merged.append([start, end, split])
    rows = []
    for index, (start, end, split) in enumerate(merged):
        start += 0 if index == 0 else gap - gap // 2
        end -= 0 if index == len(merged) - 1 else gap // 2
        if end > start:
            rows.append((chrom, start, end, split))
    return rows


def random_block_regions(
    sizes: dict[str, int],
    val_fraction: float,
    test_fraction: float,
    gap: int,
    block: int,
    seed: int,
) -> pd.DataFrame:
    """Cut every chromosome into ``block``-bp pieces and give each a random split.

    Each piece is val with probability ``val_fraction``, test with ``test_fraction``, else
    train; adjacent pieces of the same split are joined and ``gap`` bp are left out wherever
    the split changes, so windows of different splits never overlap. Leak-prone all the same:
    neighbouring pieces share local sequence (repeats, gene families, tandem duplicates), so
    held-out scores come out higher than on a chromosome or block split.

    Returns
    -------
    pandas.DataFrame
        ``REGION_COLUMNS`` rows, BED 0-based half-open.
    """
    if block <= gap:
        raise InputError(f"split.random_block {block} must be larger than split.gap {gap}")
    rng = np.random.default_rng(seed)
    rows = []
    for name, size in sizes.items():
        starts = np.arange(0, size, block)
        draws = rng.random(len(starts))
        roles = np.where(
            draws < test_fraction,
            "test",
            np.where(draws < test_fraction + val_fraction, "val", "train"),
        )
        ends = np.minimum(starts + block, size)
        pieces = zip(starts.tolist(), ends.tolist(), roles.tolist(), strict=True)
        rows += joined_regions(name, pieces, gap)
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


def fold_chromosome_groups(sizes: dict[str, int], folds: int) -> list[list[str]]:
    """Deal chromosomes into ``folds`` groups of similar total size.

    Largest first, each to the group with the smallest total so far (ties: the first group),
    so the result depends only on sizes, not on names.
    """
    groups: list[list[str]] = [[] for _ in range(folds)]
    totals = [0] * folds
    for name, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        smallest = totals.index(min(totals))
        groups[smallest].append(name)
        totals[smallest] += size
    return groups


def fold_block_regions(sizes: dict[str, int], folds: int, fold: int, gap: int) -> pd.DataFrame:
    """Cut every chromosome into ``folds`` equal blocks: block ``fold`` is test, the next val.

    Adjacent blocks of different splits are separated by ``gap`` bp (half taken from each);
    adjacent training blocks are joined.

    Returns
    -------
    pandas.DataFrame
        ``REGION_COLUMNS`` rows, BED 0-based half-open.
    """
    role = {fold: "test", (fold + 1) % folds: "val"}
    rows = []
    for name, size in sizes.items():
        bounds = [int(round(size * b / folds)) for b in range(folds + 1)]
        blocks = [(bounds[b], bounds[b + 1], role.get(b, "train")) for b in range(folds)]
        rows += joined_regions(name, blocks, gap)
    return pd.DataFrame(rows, columns=REGION_COLUMNS)


def fold_regions(
    sizes: dict[str, int], with_peaks: dict[str, int], method: str, folds: int, fold: int, gap: int
) -> pd.DataFrame:
    """Split regions of fold ``fold`` of ``folds``: test = its group, val = the next group.

    Chromosome folds deal the chromosomes that carry peaks into groups of similar size
    (chromosomes without peaks train); block folds cut every chromosome into equal blocks.
    """
    if not 0 <= fold < folds:
        raise InputError(f"fold {fold} is not in 0..{folds - 1} (split.folds {folds})")
    if method == "blocks":
        return fold_block_regions(sizes, folds, fold, gap)
    if len(with_peaks) < folds:
        raise InputError(
            f"split.folds {folds} needs at least {folds} chromosomes with peaks, the genome has "
            f"{len(with_peaks)}; use fewer folds or split.method blocks"
        )
    groups = fold_chromosome_groups(with_peaks, folds)
    return chromosome_regions(sizes, groups[(fold + 1) % folds], groups[fold])


def split_regions(
    sizes: dict[str, int],
    chroms_with_peaks: set[str],
    *,
    method: str,
    val_chroms: list[str],
    test_chroms: list[str],
    val_fraction: float,
    test_fraction: float,
    gap: int,
    folds: int = 0,
    fold: int = 0,
    random_block: int = 100_000,
    seed: int = 0,
) -> tuple[str, pd.DataFrame]:
    """Return the resolved method and the split regions for a genome.

    ``method="auto"`` splits by chromosome when at least three chromosomes carry peaks
    (val/test chosen by size unless named), else by position blocks within chromosomes.
    With ``folds`` >= 3, the regions are those of fold ``fold`` (see ``fold_regions``); the
    named chromosomes and fractions are then not used.
    """
    with_peaks = {c: size for c, size in sizes.items() if c in chroms_with_peaks}
    if method == "auto":
        method = "chromosome" if len(with_peaks) >= 3 else "blocks"
    if method in ("chromosome", "blocks") and folds:
        if folds < 3:
            raise InputError(f"split.folds {folds}: use 0 (one split) or at least 3 folds")
        return method, fold_regions(sizes, with_peaks, method, folds, fold, gap)
    if method == "chromosome":
        test = list(test_chroms or choose_chromosomes(with_peaks, test_fraction, set()))
        val = list(val_chroms or choose_chromosomes(with_peaks, val_fraction, set(test)))
        return method, chromosome_regions(sizes, val, test)
    if method == "blocks":
        return method, block_regions(sizes, val_fraction, test_fraction, gap)
    if method == "random":
        regions = random_block_regions(sizes, val_fraction, test_fraction, gap, random_block, seed)
        return method, regions
    raise InputError(f"split.method {method!r} must be auto, chromosome, blocks or random")


def split_windows(
    fasta_path: str,
    positives_path: str,
    regions_path: str,
    assigned_path: str,
    summary_path: str,
    *,
    method: str = "auto",
    val_chroms: list[str] | None = None,
    test_chroms: list[str] | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    gap: int = 100_000,
    window_length: int = 800,
    folds: int = 0,
    fold: int = 0,
    random_block: int = 100_000,
    seed: int = 0,
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
    method : {"auto", "chromosome", "blocks", "random"}, default "auto"
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

    Returns
    -------
    dict
        The summary.
    """
    if gap < window_length:
        raise InputError(
            f"split.gap {gap} is shorter than the window length {window_length}; windows could "
            "span two splits: set split.gap >= windows.length"
        )
    sizes = chromosome_sizes(fasta_path)
    positives = read_bed(positives_path, WINDOW_COLUMNS)
    regions_with = functools.partial(
        split_regions,
        sizes,
        set(positives["chrom"]),
        method=method,
        val_chroms=list(val_chroms or []),
        test_chroms=list(test_chroms or []),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        folds=folds,
        fold=fold,
        seed=seed,
    )
    method, regions = regions_with(gap=gap, random_block=random_block)
    positives["split"] = assign_splits(positives, regions)
    in_gap = positives["split"] == ""
    counts = positives.loc[~in_gap, "split"].value_counts()
    summary = {
        "method": method,
        "folds": folds,
        "fold": fold if folds else None,
        "regions": regions.to_dict(orient="records"),
        "positives": {split: int(counts.get(split, 0)) for split in SPLITS},
        "positives_in_gaps": int(in_gap.sum()),
    }
    empty = [split for split in SPLITS if summary["positives"][split] == 0]
    if empty:
        _, smallest_gap = regions_with(
            method=method,  # as resolved from auto
            gap=window_length,
            random_block=max(random_block, window_length + 1),
        )
        gap_is_cause = set(assign_splits(positives, smallest_gap)) >= set(SPLITS)
        raise InputError(
            empty_split_message(
                empty,
                positives,
                regions,
                method,
                gap=gap,
                window_length=window_length,
                gap_is_cause=gap_is_cause,
            ),
            positives_path,
        )
    write_bed(regions, regions_path, REGION_COLUMNS)
    write_bed(positives[~in_gap], assigned_path, WINDOW_COLUMNS + ["split"])
    write_json(summary_path, summary)
    logger.info("split %s: positives %s, %d in gaps", method, summary["positives"], in_gap.sum())
    return summary


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
