"""Background (negative) windows: outside every peak, GC-matched to the positives per split."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pybedtools  # noqa: E402

from peakcnn.data.genome import window_composition  # noqa: E402
from peakcnn.data.intervals import read_bed, read_blacklist, read_peaks, write_bed  # noqa: E402
from peakcnn.data.split import REGION_COLUMNS, SPLITS  # noqa: E402
from peakcnn.data.tasks import NO_TASK  # noqa: E402
from peakcnn.data.windows import WINDOW_COLUMNS  # noqa: E402
from peakcnn.errors import InputError  # noqa: E402
from peakcnn.io import atomic_path, write_json  # noqa: E402
from peakcnn.logs import throughput  # noqa: E402

logger = logging.getLogger(__name__)

STRATEGIES = ("gc_matched", "random", "flanks", "dinuc_shuffled")

#: Columns of ``negatives.bed``: BED6+3 windows (tasks "."), their split, and their kind
#: (``genome`` or ``dinuc_shuffle``: a shuffle of the positive window at these coordinates).
NEGATIVE_COLUMNS = WINDOW_COLUMNS + ["split", "kind"]


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


def _histogram(gc: np.ndarray, bins: int) -> list[int]:
    """Count GC fractions in ``bins`` equal-width bins on [0, 1]."""
    return np.histogram(gc[~np.isnan(gc)], bins=bins, range=(0, 1))[0].tolist()


def plot_gc(report: dict, path: str, bins: int) -> None:
    """Plot GC histograms of positives vs negatives for each split."""
    centres = (np.arange(bins) + 0.5) / bins
    figure, axes = plt.subplots(1, len(SPLITS), figsize=(4 * len(SPLITS), 3), sharey=False)
    for axis, split in zip(axes, SPLITS, strict=True):
        for kind in ("positives", "negatives"):
            axis.step(
                centres, report["splits"][split][f"gc_histogram_{kind}"], where="mid", label=kind
            )
        axis.set(title=split, xlabel="GC fraction", ylabel="windows")
    axes[0].legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)


def allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` over strategies in proportion to ``weights`` (largest remainder)."""
    names = list(weights)
    shares = np.array([weights[n] for n in names], dtype=float)
    exact = total * shares / shares.sum()
    counts = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - counts))[: total - counts.sum()]:
        counts[index] += 1
    return dict(zip(names, counts.tolist(), strict=True))


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


def _genome_negatives(
    strategy: str,
    wanted: int,
    positives: pd.DataFrame,
    pool: pd.DataFrame,
    gc_bins: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Draw ``wanted`` genome windows from ``pool``: GC-matched, uniform, or flanks (uniform)."""
    if strategy == "gc_matched":
        chosen, _ = match_gc(
            positives["gc"].to_numpy(), pool["gc"].to_numpy(), wanted, gc_bins, rng
        )
    else:
        chosen = np.sort(rng.permutation(len(pool))[:wanted])
    return pool.iloc[chosen].assign(kind="genome", source="", pad_left=0, pad_right=0)


def _shuffled_negatives(
    wanted: int, positives: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Pick positives whose dinucleotide shuffles become negatives (encoded later)."""
    rows = (
        rng.permutation(len(positives))[:wanted]
        if wanted <= len(positives)
        else rng.integers(0, len(positives), wanted)
    )
    picked = positives.iloc[np.sort(rows)]
    columns = ["chrom", "start", "end", "pad_left", "pad_right", "gc"]
    return picked[columns].assign(kind="dinuc_shuffle", source=picked["name"].to_numpy())


def _split_negatives(
    positives: pd.DataFrame,
    candidates: pd.DataFrame,
    flanks: pd.DataFrame,
    *,
    weights: dict[str, float],
    ratio: float,
    gc_bins: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict]:
    """Draw one split's negatives with every strategy of the mixture and describe them."""
    wanted = allocate(int(round(ratio * len(positives))), weights)
    pool = candidates[candidates["chrom"].isin(set(positives["chrom"])).to_numpy()]
    picked: dict[str, pd.DataFrame] = {}
    if wanted.get("flanks"):
        picked["flanks"] = _genome_negatives(
            "flanks", wanted["flanks"], positives, flanks, gc_bins, rng
        )
        if len(pool) and len(picked["flanks"]):
            clear = pybedtools.BedTool.from_dataframe(
                pool[["chrom", "start", "end"]].assign(row=np.arange(len(pool)))
            ).intersect(
                pybedtools.BedTool.from_dataframe(picked["flanks"][["chrom", "start", "end"]]),
                v=True,
            )
            pool = pool.iloc[[int(f[3]) for f in clear]]
    for strategy in ("gc_matched", "random"):
        if wanted.get(strategy):
            picked[strategy] = _genome_negatives(
                strategy, wanted[strategy], positives, pool, gc_bins, rng
            )
            pool = pool.drop(index=picked[strategy].index)
    if wanted.get("dinuc_shuffled"):
        picked["dinuc_shuffled"] = _shuffled_negatives(wanted["dinuc_shuffled"], positives, rng)
    negatives = pd.concat(list(picked.values())) if picked else candidates.iloc[:0]
    by_strategy = {
        name: {"requested": wanted[name], "sampled": len(picked.get(name, []))} for name in wanted
    }
    shortfall = sum(v["requested"] - v["sampled"] for v in by_strategy.values())
    if shortfall:
        logger.warning(
            "%d of %d negatives could not be drawn: %s",
            shortfall,
            sum(wanted.values()),
            by_strategy,
        )
    stats = {
        "positives": len(positives),
        "candidates": len(pool) + sum(len(v) for k, v in picked.items() if k != "dinuc_shuffled"),
        "flank_candidates": len(flanks),
        "requested": sum(wanted.values()),
        "sampled": len(negatives),
        "shortfall": shortfall,
        "by_strategy": by_strategy,
        "gc_mean_positives": float(np.nanmean(positives["gc"])),
        "gc_mean_negatives": float(np.nanmean(negatives["gc"])) if len(negatives) else None,
        "gc_histogram_positives": _histogram(positives["gc"].to_numpy(), gc_bins),
        "gc_histogram_negatives": _histogram(negatives["gc"].to_numpy(), gc_bins),
    }
    return negatives, stats


def sample_negatives(
    positives_path: str,
    assigned_path: str,
    peaks_path: str,
    regions_path: str,
    fasta_path: str,
    negatives_path: str,
    report_path: str,
    plot_path: str,
    *,
    strategy: str | dict[str, float] = "gc_matched",
    ratio: float = 1.0,
    flank_distance: int = 200,
    gc_bins: int = 20,
    max_n_fraction: float = 0.1,
    seed: int = 0,
    window_length: int = 800,
    blacklist: str | None = None,
) -> dict:
    """Sample background windows for each split, clear of every peak and positive window.

    Candidates tile each split's regions on the chromosomes that carry that split's positives,
    minus all peaks and positive windows; those with more than ``max_n_fraction`` non-ACGT bases
    are rejected (counted). ``gc_matched`` follows the positives' GC histogram; ``random`` draws
    uniformly; ``flanks`` takes windows ``flank_distance`` bp beside positive windows;
    ``dinuc_shuffled`` marks positives whose dinucleotide shuffles become negatives (made when
    the dataset is encoded). A mapping mixes strategies in the given proportions.

    Parameters
    ----------
    positives_path : str
        All positive windows (BED6+3), for the exclusion.
    assigned_path : str
        Positive windows with their split (BED6+3+split).
    peaks_path : str
        The peaks of every task (BED, FASTA names: ``windows/peaks.bed``), for the exclusion.
    regions_path : str
        Split regions BED.
    fasta_path : str
        Indexed genome FASTA.
    negatives_path : str
        Output BED6+3+split of negatives.
    report_path : str
        Output JSON: strategy, counts and GC histograms per split.
    plot_path : str
        Output PNG of the GC histograms.
    strategy : str or dict of str to float, default "gc_matched"
        One of ``STRATEGIES``, or a mixture ``{strategy: weight}``.
    ratio : float, default 1.0
        Negatives per positive, in every split.
    flank_distance : int, default 200
        Gap in bp between a positive window and its flank windows.
    gc_bins : int, default 20
        GC histogram bins for matching and reporting.
    max_n_fraction : float, default 0.1
        Largest fraction of non-ACGT bases allowed in a negative.
    seed : int, default 0
    window_length : int, default 800
    blacklist : str, optional
        BED of regions no negative may overlap.

    Returns
    -------
    dict
        The report.
    """
    weights = {strategy: 1.0} if isinstance(strategy, str) else dict(strategy)
    unknown = sorted(set(weights) - set(STRATEGIES))
    if unknown or not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise InputError(
            f"negatives.strategy {strategy!r}: use one of {list(STRATEGIES)} or a "
            "mapping of them to non-negative weights"
        )
    rng = np.random.default_rng(seed)
    with throughput("sample_negatives", "windows") as rate:
        positives = read_bed(assigned_path, WINDOW_COLUMNS + ["split"])
        positives["gc"], _ = window_gc(
            positives.assign(start=positives["start"] - positives["pad_left"]),
            fasta_path,
            window_length,
        )
        exclusion = pd.concat(
            [
                read_bed(positives_path, WINDOW_COLUMNS),
                read_peaks(peaks_path).peaks,
                read_blacklist(blacklist),
            ]
        )[["chrom", "start", "end"]]
        regions = read_bed(regions_path, REGION_COLUMNS)
        candidates = candidate_windows(regions, exclusion, window_length, rng)
        candidates["gc"], candidates["n_fraction"] = window_gc(
            candidates, fasta_path, window_length
        )
        too_many_n = candidates["n_fraction"] > max_n_fraction
        candidates = candidates[~too_many_n]
        picked, report = [], {}
        for split in SPLITS:
            ours = positives[positives["split"] == split]
            flanks = pd.DataFrame(columns=["chrom", "start", "end", "gc"])
            if weights.get("flanks"):
                flanks = flank_candidates(
                    ours,
                    regions[regions["split"] == split],
                    exclusion,
                    window_length,
                    flank_distance,
                )
                flanks["gc"], flank_n = window_gc(flanks, fasta_path, window_length)
                flanks = flanks[flank_n <= max_n_fraction]
            chosen, report[split] = _split_negatives(
                ours,
                candidates[candidates["split"] == split],
                flanks,
                weights=weights,
                ratio=ratio,
                gc_bins=gc_bins,
                rng=rng,
            )
            picked.append(chosen.assign(split=split))
        negatives = pd.concat(picked).sort_values(["chrom", "start"]).reset_index(drop=True)
        rate["count"] = len(candidates) + int(too_many_n.sum())
    negatives = negatives.assign(
        name=[
            f"neg_{i}" if kind == "genome" else f"shuffle_{i}_of_{source}"
            for i, (kind, source) in enumerate(
                zip(negatives["kind"], negatives["source"], strict=True)
            )
        ],
        score=0,
        strand=".",
        tasks=NO_TASK,
    )
    result = {
        "strategy": weights,
        "flank_distance": flank_distance,
        "ratio": ratio,
        "seed": seed,
        "max_n_fraction": max_n_fraction,
        "candidates_rejected_for_n": int(too_many_n.sum()),
        "gc_bins": gc_bins,
        "splits": report,
    }
    plot_gc(result, plot_path, gc_bins)
    write_bed(negatives, negatives_path, NEGATIVE_COLUMNS)
    write_json(report_path, result)
    logger.info("negatives: %s", {s: report[s]["sampled"] for s in SPLITS})
    return result
