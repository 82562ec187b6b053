"""Background (negative) windows: outside every peak, GC-matched to the positives per split."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pybedtools  # noqa: E402

from peakcnn.data.candidates import (  # noqa: E402
    candidate_windows,
    flank_candidates,
    match_gc,
    window_gc,
)
from peakcnn.data.intervals import read_bed, read_blacklist, read_peaks, write_bed  # noqa: E402
from peakcnn.data.regions import REGION_COLUMNS  # noqa: E402
from peakcnn.data.split import SPLITS  # noqa: E402
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


@dataclass(frozen=True)
class NegativeSettings:
    """Settings of ``sample_negatives``.

    Attributes
    ----------
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
        Seed of the random generator (tiling offsets, then each split's draws).
    window_length : int, default 800
        Window length in bp (that of the positives).
    blacklist : str, optional
        BED of regions no negative may overlap.
    """

    strategy: str | dict[str, float] = "gc_matched"
    ratio: float = 1.0
    flank_distance: int = 200
    gc_bins: int = 20
    max_n_fraction: float = 0.1
    seed: int = 0
    window_length: int = 800
    blacklist: str | None = None


def strategy_weights(strategy: str | dict[str, float]) -> dict[str, float]:
    """Turn ``negatives.strategy`` into strategy weights, checking it.

    Parameters
    ----------
    strategy : str or dict of str to float
        One of ``STRATEGIES``, or a mixture ``{strategy: weight}``.

    Returns
    -------
    dict of str to float
        ``{strategy: weight}`` (weight 1.0 for a single strategy).

    Raises
    ------
    InputError
        For an unknown strategy, an empty mixture, a negative weight or weights summing to 0.
    """
    weights = {strategy: 1.0} if isinstance(strategy, str) else dict(strategy)
    unknown = sorted(set(weights) - set(STRATEGIES))
    if unknown or not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise InputError(
            f"negatives.strategy {strategy!r}: use one of {list(STRATEGIES)} or a "
            "mapping of them to non-negative weights"
        )
    return weights


def sample_negatives(
    positives_path: str,
    assigned_path: str,
    peaks_path: str,
    regions_path: str,
    fasta_path: str,
    negatives_path: str,
    report_path: str,
    plot_path: str,
    **settings,
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
    **settings
        The ``negatives`` stage settings: the fields of ``NegativeSettings``; an unknown key is
        a TypeError.

    Returns
    -------
    dict
        The report.
    """
    config = NegativeSettings(**settings)
    weights = strategy_weights(config.strategy)
    length = config.window_length
    rng = np.random.default_rng(config.seed)
    with throughput("sample_negatives", "windows") as rate:
        positives = read_bed(assigned_path, WINDOW_COLUMNS + ["split"])
        positives["gc"], _ = window_gc(
            positives.assign(start=positives["start"] - positives["pad_left"]), fasta_path, length
        )
        exclusion = read_exclusion(positives_path, peaks_path, config.blacklist)
        regions = read_bed(regions_path, REGION_COLUMNS)
        candidates, n_rejected = _genome_candidates(regions, exclusion, fasta_path, config, rng)
        picked, report = [], {}
        for split in SPLITS:
            ours = positives[positives["split"] == split]
            flanks = pd.DataFrame(columns=["chrom", "start", "end", "gc"])
            if weights.get("flanks"):
                split_regions = regions[regions["split"] == split]
                flanks = _flanks(ours, split_regions, exclusion, fasta_path, config)
            chosen, report[split] = _split_negatives(
                ours,
                candidates[candidates["split"] == split],
                flanks,
                weights=weights,
                ratio=config.ratio,
                gc_bins=config.gc_bins,
                rng=rng,
            )
            picked.append(chosen.assign(split=split))
        negatives = pd.concat(picked).sort_values(["chrom", "start"]).reset_index(drop=True)
        rate["count"] = len(candidates) + n_rejected
    result = {
        "strategy": weights,
        "flank_distance": config.flank_distance,
        "ratio": config.ratio,
        "seed": config.seed,
        "max_n_fraction": config.max_n_fraction,
        "candidates_rejected_for_n": n_rejected,
        "gc_bins": config.gc_bins,
        "splits": report,
    }
    plot_gc(result, plot_path, config.gc_bins)
    write_bed(name_negatives(negatives), negatives_path, NEGATIVE_COLUMNS)
    write_json(report_path, result)
    logger.info("negatives: %s", {s: report[s]["sampled"] for s in SPLITS})
    return result


def read_exclusion(positives_path: str, peaks_path: str, blacklist: str | None) -> pd.DataFrame:
    """Read the intervals no negative may overlap: positive windows, peaks and the blacklist.

    Parameters
    ----------
    positives_path : str
        All positive windows (BED6+3).
    peaks_path : str
        The peaks of every task (BED).
    blacklist : str or None
        BED of regions to avoid.

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom, start, end``.
    """
    return pd.concat(
        [
            read_bed(positives_path, WINDOW_COLUMNS),
            read_peaks(peaks_path).peaks,
            read_blacklist(blacklist),
        ]
    )[["chrom", "start", "end"]]


def _genome_candidates(
    regions: pd.DataFrame,
    exclusion: pd.DataFrame,
    fasta_path: str,
    config: NegativeSettings,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, int]:
    """Tile the free genome into candidates with their GC, rejecting those with too many N.

    Returns the candidates kept (``chrom, start, end, split, gc, n_fraction``) and the number
    rejected for more than ``max_n_fraction`` non-ACGT bases.
    """
    candidates = candidate_windows(regions, exclusion, config.window_length, rng)
    candidates["gc"], candidates["n_fraction"] = window_gc(
        candidates, fasta_path, config.window_length
    )
    too_many_n = candidates["n_fraction"] > config.max_n_fraction
    return candidates[~too_many_n], int(too_many_n.sum())


def _flanks(
    positives: pd.DataFrame,
    regions: pd.DataFrame,
    exclusion: pd.DataFrame,
    fasta_path: str,
    config: NegativeSettings,
) -> pd.DataFrame:
    """One split's flank candidates with their GC, without those with too many N."""
    flanks = flank_candidates(
        positives, regions, exclusion, config.window_length, config.flank_distance
    )
    flanks["gc"], flank_n = window_gc(flanks, fasta_path, config.window_length)
    return flanks[flank_n <= config.max_n_fraction]


def name_negatives(negatives: pd.DataFrame) -> pd.DataFrame:
    """Name the negatives (``neg_i``, or ``shuffle_i_of_<positive>``) and fill the BED6 fields."""
    return negatives.assign(
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
