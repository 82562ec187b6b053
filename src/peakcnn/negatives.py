"""Background (negative) windows: outside every peak, GC-matched to the positives per split."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pybedtools  # noqa: E402

from peakcnn.errors import InputError  # noqa: E402
from peakcnn.genome import (  # noqa: E402
    chromosome_codes,
    gc_fraction,
    n_fraction,
    open_fasta,
    window_codes,  # noqa: E402
)
from peakcnn.intervals import read_bed, read_peaks, write_bed  # noqa: E402
from peakcnn.io import atomic_path, write_json  # noqa: E402
from peakcnn.logs import throughput  # noqa: E402
from peakcnn.split import REGION_COLUMNS, SPLITS  # noqa: E402
from peakcnn.windows import WINDOW_COLUMNS  # noqa: E402

logger = logging.getLogger(__name__)

STRATEGIES = ("gc_matched", "random")


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
    free = (
        pybedtools.BedTool.from_dataframe(regions)
        .subtract(pybedtools.BedTool.from_dataframe(exclusion[["chrom", "start", "end"]]))
        .to_dataframe(names=REGION_COLUMNS, dtype={"chrom": str})
    )
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
    """Return the GC fraction and the non-ACGT fraction of each window, one chromosome at a time.

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
    gc = np.full(len(windows), np.nan)
    ns = np.zeros(len(windows))
    fasta = open_fasta(fasta_path)
    try:
        for chrom, rows in windows.groupby("chrom", sort=False).indices.items():
            codes = window_codes(
                chromosome_codes(fasta, chrom), windows["start"].to_numpy()[rows], length
            )
            gc[rows] = gc_fraction(codes)
            ns[rows] = n_fraction(codes)
    finally:
        fasta.close()
    return gc, ns


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


def _split_negatives(
    split: str,
    positives: pd.DataFrame,
    candidates: pd.DataFrame,
    *,
    strategy: str,
    ratio: float,
    gc_bins: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict]:
    """Draw one split's negatives from its candidates and describe them."""
    on_chroms = candidates["chrom"].isin(set(positives["chrom"])).to_numpy()
    pool = candidates[(candidates["split"] == split).to_numpy() & on_chroms]
    wanted = int(round(ratio * len(positives)))
    if strategy == "gc_matched":
        chosen, shortfall = match_gc(
            positives["gc"].to_numpy(), pool["gc"].to_numpy(), wanted, gc_bins, rng
        )
    else:
        chosen = np.sort(rng.permutation(len(pool))[:wanted])
        shortfall = wanted - len(chosen)
    picked = pool.iloc[chosen]
    if shortfall:
        logger.warning("split %s: %d of %d negatives could not be drawn", split, shortfall, wanted)
    stats = {
        "positives": len(positives),
        "candidates": len(pool),
        "requested": wanted,
        "sampled": len(picked),
        "shortfall": shortfall,
        "gc_mean_positives": float(np.nanmean(positives["gc"])),
        "gc_mean_negatives": float(np.nanmean(picked["gc"])) if len(picked) else None,
        "gc_histogram_positives": _histogram(positives["gc"].to_numpy(), gc_bins),
        "gc_histogram_negatives": _histogram(picked["gc"].to_numpy(), gc_bins),
    }
    return picked, stats


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
    strategy: str = "gc_matched",
    ratio: float = 1.0,
    gc_bins: int = 20,
    max_n_fraction: float = 0.1,
    seed: int = 0,
    window_length: int = 800,
) -> dict:
    """Sample background windows for each split, clear of every peak and positive window.

    Candidates tile each split's regions on the chromosomes that carry that split's positives,
    minus all peaks and positive windows; those with more than ``max_n_fraction`` non-ACGT bases
    are rejected (counted). ``gc_matched`` follows the positives' GC histogram; ``random`` draws
    uniformly.

    Parameters
    ----------
    positives_path : str
        All positive windows (BED6+2), for the exclusion.
    assigned_path : str
        Positive windows with their split (BED6+2+split).
    peaks_path : str
        The peak file, for the exclusion.
    regions_path : str
        Split regions BED.
    fasta_path : str
        Indexed genome FASTA.
    negatives_path : str
        Output BED6+2+split of negatives.
    report_path : str
        Output JSON: strategy, counts and GC histograms per split.
    plot_path : str
        Output PNG of the GC histograms.
    strategy : {"gc_matched", "random"}, default "gc_matched"
    ratio : float, default 1.0
        Negatives per positive, in every split.
    gc_bins : int, default 20
        GC histogram bins for matching and reporting.
    max_n_fraction : float, default 0.1
        Largest fraction of non-ACGT bases allowed in a negative.
    seed : int, default 0
    window_length : int, default 800

    Returns
    -------
    dict
        The report.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"negatives.strategy {strategy!r} must be one of {list(STRATEGIES)}")
    rng = np.random.default_rng(seed)
    with throughput("sample_negatives", "windows") as rate:
        positives = read_bed(assigned_path, WINDOW_COLUMNS + ["split"])
        positives["gc"], _ = window_gc(
            positives.assign(start=positives["start"] - positives["pad_left"]),
            fasta_path,
            window_length,
        )
        exclusion = pd.concat(
            [read_bed(positives_path, WINDOW_COLUMNS), read_peaks(peaks_path).peaks]
        )[["chrom", "start", "end"]]
        candidates = candidate_windows(
            read_bed(regions_path, REGION_COLUMNS), exclusion, window_length, rng
        )
        candidates["gc"], candidates["n_fraction"] = window_gc(
            candidates, fasta_path, window_length
        )
        too_many_n = candidates["n_fraction"] > max_n_fraction
        candidates = candidates[~too_many_n]
        picked, report = [], {}
        for split in SPLITS:
            chosen, report[split] = _split_negatives(
                split,
                positives[positives["split"] == split],
                candidates,
                strategy=strategy,
                ratio=ratio,
                gc_bins=gc_bins,
                rng=rng,
            )
            picked.append(chosen)
        negatives = pd.concat(picked).sort_values(["chrom", "start"]).reset_index(drop=True)
        rate["count"] = len(candidates) + int(too_many_n.sum())
    negatives = negatives.assign(
        name=[f"neg_{i}" for i in range(len(negatives))],
        score=0,
        strand=".",
        pad_left=0,
        pad_right=0,
    )
    result = {
        "strategy": strategy,
        "ratio": ratio,
        "seed": seed,
        "max_n_fraction": max_n_fraction,
        "candidates_rejected_for_n": int(too_many_n.sum()),
        "gc_bins": gc_bins,
        "splits": report,
    }
    plot_gc(result, plot_path, gc_bins)
    write_bed(negatives, negatives_path, WINDOW_COLUMNS + ["split"])
    write_json(report_path, result)
    logger.info("negatives: %s", {s: report[s]["sampled"] for s in SPLITS})
    return result
