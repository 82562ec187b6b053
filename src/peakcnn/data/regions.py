"""Split regions of a genome: whole chromosomes, position blocks, random blocks or k folds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.errors import InputError

REGION_COLUMNS = ["chrom", "start", "end", "split"]
"""Columns of ``split/regions.bed``: BED 0-based half-open regions and their split."""


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
