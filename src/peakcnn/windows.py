"""Fixed-length windows centred on peak summits (midpoint fallback), padded or dropped at ends."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.contigs import DEFAULT_EXCLUDE, excluded_contigs, read_alias_file, reconcile_names
from peakcnn.errors import InputError
from peakcnn.genome import chromosome_sizes, fasta_descriptions, window_composition
from peakcnn.intervals import read_peaks, write_bed
from peakcnn.io import write_json
from peakcnn.logs import throughput

logger = logging.getLogger(__name__)

#: Columns of ``windows/positives.bed`` (BED6+2): the window clipped to the chromosome, plus
#: the number of N bases to pad on the left and right to reach the full window length.
WINDOW_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "pad_left", "pad_right"]


def centre_windows(peaks: pd.DataFrame, length: int) -> pd.DataFrame:
    """Return unclipped windows of ``length`` bp centred on each peak's summit or midpoint.

    Parameters
    ----------
    peaks : pandas.DataFrame
        Columns ``chrom, start, end, name, score, summit`` (summit offset, -1 for none).
    length : int
        Window length in bp (even).

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom, centre, wstart, wend, name, score, used_summit``; ``wstart`` may be
        negative and ``wend`` may pass the chromosome end.
    """
    has_summit = peaks["summit"].to_numpy() >= 0
    midpoint = (peaks["start"].to_numpy() + peaks["end"].to_numpy()) // 2
    centre = np.where(has_summit, peaks["start"].to_numpy() + peaks["summit"].to_numpy(), midpoint)
    return pd.DataFrame(
        {
            "chrom": peaks["chrom"].to_numpy(),
            "centre": centre,
            "wstart": centre - length // 2,
            "wend": centre - length // 2 + length,
            "name": peaks["name"].to_numpy(),
            "score": peaks["score"].to_numpy(),
            "used_summit": has_summit,
        }
    )


def fit_to_chromosomes(
    windows: pd.DataFrame, sizes: dict[str, int], chrom_end: str
) -> tuple[pd.DataFrame, dict]:
    """Clip windows to their chromosome, recording N padding, or drop those that run off.

    Parameters
    ----------
    windows : pandas.DataFrame
        Output of ``centre_windows``; every chromosome must be in ``sizes``.
    sizes : dict of str to int
        Chromosome lengths.
    chrom_end : {"pad", "drop"}
        Policy for windows that run off a chromosome end.

    Returns
    -------
    pandas.DataFrame
        ``WINDOW_COLUMNS`` rows for the kept windows.
    dict
        Per-chromosome counts ``{chrom: {"kept", "padded", "dropped_at_end"}}``.
    """
    size = windows["chrom"].map(sizes).to_numpy()
    pad_left = np.maximum(0, -windows["wstart"].to_numpy())
    pad_right = np.maximum(0, windows["wend"].to_numpy() - size)
    off_end = (pad_left > 0) | (pad_right > 0)
    keep = ~off_end if chrom_end == "drop" else np.ones(len(windows), dtype=bool)
    table = pd.DataFrame(
        {
            "chrom": windows["chrom"],
            "start": windows["wstart"].to_numpy() + pad_left,
            "end": windows["wend"].to_numpy() - pad_right,
            "name": windows["name"],
            "score": windows["score"],
            "strand": ".",
            "pad_left": pad_left,
            "pad_right": pad_right,
        }
    )
    by_chrom = {}
    for chrom in pd.unique(windows["chrom"]):
        on = (windows["chrom"] == chrom).to_numpy()
        by_chrom[chrom] = {
            "kept": int((on & keep).sum()),
            "padded": int((on & keep & off_end).sum()),
            "dropped_at_end": int((on & ~keep).sum()),
        }
    return table[keep].reset_index(drop=True), by_chrom


OVERLAP_POLICIES = ("keep", "merge", "strongest")


def resolve_overlaps(peaks: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, dict]:
    """Apply the overlap policy to peaks whose intervals overlap (bedtools merge clusters).

    Parameters
    ----------
    peaks : pandas.DataFrame
        ``PEAK_COLUMNS`` rows.
    policy : {"keep", "merge", "strongest"}
        ``keep`` every peak; ``merge`` each cluster of overlapping peaks into one peak (its
        window centred on the merged interval's midpoint); ``strongest`` keeps the peak with
        the highest ``signal`` of each cluster.

    Returns
    -------
    pandas.DataFrame
        The peaks left.
    dict
        ``overlap_clusters`` (clusters of 2+ peaks) and ``overlap_removed`` (peaks removed).
    """
    if policy not in OVERLAP_POLICIES:
        raise InputError(f"windows.overlap_policy {policy!r} must be one of {OVERLAP_POLICIES}")
    ordered = peaks.sort_values(["chrom", "start"], kind="stable").reset_index(drop=True)
    merged = (
        pybedtools.BedTool.from_dataframe(
            ordered[["chrom", "start", "end"]].assign(row=np.arange(len(ordered)))
        )
        .merge(c=4, o="collapse")
        .to_dataframe(names=["chrom", "start", "end", "rows"], dtype={"chrom": str, "rows": str})
    )
    members = [np.array(r.split(","), dtype=int) for r in merged["rows"]]
    clusters = sum(len(m) > 1 for m in members)
    if policy == "keep" or clusters == 0:
        return peaks, {"overlap_clusters": clusters, "overlap_removed": 0}
    if policy == "strongest":
        best = [m[np.argmax(ordered["signal"].to_numpy()[m])] for m in members]
        kept = ordered.iloc[best]
    else:
        first = ordered.iloc[[m[0] for m in members]].reset_index(drop=True)
        kept = first.assign(
            start=merged["start"].to_numpy(),
            end=merged["end"].to_numpy(),
            summit=[-1 if len(m) > 1 else s for m, s in zip(members, first["summit"], strict=True)],
            signal=[ordered["signal"].to_numpy()[m].max() for m in members],
        )
    return kept.reset_index(drop=True), {
        "overlap_clusters": clusters,
        "overlap_removed": len(peaks) - len(kept),
    }


def n_fractions(windows: pd.DataFrame, fasta_path: str, length: int) -> np.ndarray:
    """Fraction of each window that is N, another IUPAC code or padding."""
    starts = (windows["start"] - windows["pad_left"]).to_numpy(dtype=np.int64)
    return window_composition(fasta_path, windows["chrom"].to_numpy(), starts, length)[1]


def read_blacklist(path: str | None) -> pd.DataFrame:
    """Read a blacklist BED (``chrom, start, end``); empty when ``path`` is None."""
    if not path:
        return pd.DataFrame(
            {
                "chrom": pd.Series(dtype=str),
                "start": pd.Series(dtype=np.int64),
                "end": pd.Series(dtype=np.int64),
            }
        )
    return read_peaks(path).peaks[["chrom", "start", "end"]]


def overlaps_blacklist(windows: pd.DataFrame, blacklist: str | None) -> np.ndarray:
    """Whether each window (``chrom, start, end``) overlaps a blacklisted region (bedtools)."""
    regions = read_blacklist(blacklist)
    hit = np.zeros(len(windows), dtype=bool)
    if regions.empty or windows.empty:
        return hit
    rows = pybedtools.BedTool.from_dataframe(
        windows[["chrom", "start", "end"]].assign(row=np.arange(len(windows)))
    ).intersect(pybedtools.BedTool.from_dataframe(regions), u=True)
    hit[[int(fields[3]) for fields in rows]] = True
    return hit


def select_contigs(
    peaks: pd.DataFrame,
    records: dict[str, str],
    *,
    aliases: dict[str, str],
    include: list[str],
    exclude: list[str],
) -> tuple[pd.DataFrame, dict]:
    """Rename peak contigs to FASTA records and keep peaks on selected records.

    Returns the kept peaks and counts: ``renamed_contigs``, ``on_absent_contigs``,
    ``absent_contigs`` and ``on_excluded_contigs`` (by contig).
    """
    mapping, missing = reconcile_names(sorted(set(peaks["chrom"])), records, aliases)
    renamed = peaks.assign(chrom=peaks["chrom"].map(mapping))
    absent = peaks.loc[renamed["chrom"].isna(), "chrom"].value_counts()
    excluded = excluded_contigs(records, include, exclude)
    on_excluded = renamed["chrom"].isin(excluded)
    kept = renamed[renamed["chrom"].notna() & ~on_excluded].reset_index(drop=True)
    return kept, {
        "renamed_contigs": {k: v for k, v in mapping.items() if k != v},
        "on_absent_contigs": int(absent.sum()),
        "absent_contigs": {str(k): int(v) for k, v in absent.items()},
        "on_excluded_contigs": {
            str(k): int(v) for k, v in renamed.loc[on_excluded, "chrom"].value_counts().items()
        },
        "excluded_records": sorted(excluded),
    }


def make_windows(
    peaks_path: str,
    fasta_path: str,
    positives_path: str,
    summary_path: str,
    *,
    length: int = 800,
    chrom_end: str = "pad",
    overlap_policy: str = "keep",
    max_n_fraction: float = 1.0,
    include_contigs: list[str] | None = None,
    exclude_contigs: list[str] | None = None,
    chrom_aliases: dict[str, str] | None = None,
    chrom_alias_file: str | None = None,
    blacklist: str | None = None,
) -> dict:
    """Turn a peak file into summit-centred positive windows, counting every peak's fate.

    Peak contig names are matched to FASTA records (exact, alias table, or an unambiguous
    ``Chr1``/``chr1``/``1`` match); peaks on contigs absent from the FASTA or on excluded
    contigs (organelles and unplaced scaffolds by default) are counted and skipped, an error
    only if none remain. Exact duplicates (same chromosome and centre) are kept once and
    counted; overlapping peaks follow ``overlap_policy``; windows with more than
    ``max_n_fraction`` non-ACGT bases are dropped and counted.

    Parameters
    ----------
    peaks_path : str
        BED or narrowPeak file.
    fasta_path : str
        Indexed genome FASTA.
    positives_path : str
        Output BED6+2 (``WINDOW_COLUMNS``), sorted in FASTA chromosome order then by start.
    summary_path : str
        Output JSON with the counts.
    length : int, default 800
        Window length in bp (even).
    chrom_end : {"pad", "drop"}, default "pad"
        Windows that run off a chromosome end are padded with N or dropped.
    overlap_policy : {"keep", "merge", "strongest"}, default "keep"
        What to do with peaks whose intervals overlap (see ``resolve_overlaps``).
    max_n_fraction : float, default 1.0
        Largest fraction of N/IUPAC/padding allowed in a positive window (1.0: no cap).
    include_contigs : list of str, optional
        Regular expressions; when given, only matching records are used.
    exclude_contigs : list of str, optional
        Regular expressions of records to leave out; default ``contigs.DEFAULT_EXCLUDE``.
    chrom_aliases : dict of str to str, optional
        Peak-file name → FASTA record name.
    chrom_alias_file : str, optional
        chromAlias-style file (tab-separated names of one sequence per line).
    blacklist : str, optional
        BED of regions to avoid (e.g. high-signal artefact regions); positive windows
        overlapping it are dropped and counted.

    Returns
    -------
    dict
        The summary written to ``summary_path``.
    """
    if length <= 0 or length % 2:
        raise InputError(f"windows.length {length} must be a positive even number of bp")
    if chrom_end not in ("pad", "drop"):
        raise InputError(f"windows.chrom_end {chrom_end!r} must be 'pad' or 'drop'")
    with throughput("make_windows", "windows") as rate:
        table = read_peaks(peaks_path)
        records = fasta_descriptions(fasta_path)
        sizes = chromosome_sizes(fasta_path)
        aliases = dict(chrom_aliases or {})
        if chrom_alias_file:
            aliases = read_alias_file(chrom_alias_file, set(records)) | aliases
        peaks, contig_counts = select_contigs(
            table.peaks,
            records,
            aliases=aliases,
            include=list(include_contigs or []),
            exclude=DEFAULT_EXCLUDE if exclude_contigs is None else list(exclude_contigs),
        )
        if peaks.empty:
            raise InputError(
                f"no peak left on the selected FASTA records (peak contigs "
                f"{sorted(set(table.peaks['chrom']))[:5]}, FASTA records {list(records)[:5]}, "
                f"excluded {contig_counts['excluded_records'][:5]}); use matching chromosome "
                "names, windows.chrom_aliases, or windows.include_contigs/exclude_contigs",
                peaks_path,
            )
        peaks, overlap_counts = resolve_overlaps(peaks, overlap_policy)
        windows = centre_windows(peaks, length)
        duplicated = windows.duplicated(subset=["chrom", "centre"]).to_numpy()
        windows = windows[~duplicated]
        kept, by_chrom = fit_to_chromosomes(windows, sizes, chrom_end)
        too_many_n = n_fractions(kept, fasta_path, length) > max_n_fraction
        kept = kept[~too_many_n]
        blacklisted = overlaps_blacklist(kept, blacklist)
        kept = kept[~blacklisted]
        order = {name: index for index, name in enumerate(sizes)}
        kept = kept.sort_values(
            ["chrom", "start"], key=lambda c: c.map(order) if c.name == "chrom" else c
        )
        write_bed(kept, positives_path, WINDOW_COLUMNS)
        rate["count"] = len(kept)
    summary = {
        "input_peaks": len(table.peaks),
        "file_lines": table.counts,
        "length": length,
        "chrom_end": chrom_end,
        "overlap_policy": overlap_policy,
        **contig_counts,
        **overlap_counts,
        "centred_on_summit": int(windows["used_summit"].sum()),
        "centred_on_midpoint": int((~windows["used_summit"]).sum()),
        "duplicates_removed": int(duplicated.sum()),
        "padded": sum(c["padded"] for c in by_chrom.values()),
        "dropped_at_end": sum(c["dropped_at_end"] for c in by_chrom.values()),
        "max_n_fraction": max_n_fraction,
        "dropped_for_n": int(too_many_n.sum()),
        "blacklist": blacklist,
        "dropped_in_blacklist": int(blacklisted.sum()),
        "windows": len(kept),
        "by_chromosome": by_chrom,
    }
    write_json(summary_path, summary)
    logger.info("windows summary: %s", {k: v for k, v in summary.items() if k != "by_chromosome"})
    return summary
