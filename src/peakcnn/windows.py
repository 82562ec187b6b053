"""Fixed-length windows centred on peak summits (midpoint fallback), padded or dropped at ends."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.genome import chromosome_sizes
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


def make_windows(
    peaks_path: str,
    fasta_path: str,
    positives_path: str,
    summary_path: str,
    *,
    length: int = 800,
    chrom_end: str = "pad",
) -> dict:
    """Turn a peak file into summit-centred positive windows, counting every peak's fate.

    Peaks on contigs absent from the FASTA are counted and skipped (an error if none remain);
    exact duplicates (same chromosome and centre) are kept once and counted.

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
        sizes = chromosome_sizes(fasta_path)
        peaks = table.peaks
        on_genome = peaks["chrom"].isin(sizes).to_numpy()
        absent = peaks.loc[~on_genome, "chrom"].value_counts().to_dict()
        if not on_genome.any():
            raise InputError(
                f"no peak is on a FASTA record (peak contigs {sorted(absent)[:5]}, FASTA records "
                f"{list(sizes)[:5]}); use a peak file and genome with the same chromosome names",
                peaks_path,
            )
        windows = centre_windows(peaks[on_genome], length)
        duplicated = windows.duplicated(subset=["chrom", "centre"]).to_numpy()
        windows = windows[~duplicated]
        kept, by_chrom = fit_to_chromosomes(windows, sizes, chrom_end)
        order = {name: index for index, name in enumerate(sizes)}
        kept = kept.sort_values(
            ["chrom", "start"], key=lambda c: c.map(order) if c.name == "chrom" else c
        )
        write_bed(kept, positives_path, WINDOW_COLUMNS)
        rate["count"] = len(kept)
    summary = {
        "input_peaks": len(peaks),
        "file_lines": table.counts,
        "length": length,
        "chrom_end": chrom_end,
        "centred_on_summit": int(windows["used_summit"].sum()),
        "centred_on_midpoint": int((~windows["used_summit"]).sum()),
        "on_absent_contigs": int((~on_genome).sum()),
        "absent_contigs": {str(k): int(v) for k, v in absent.items()},
        "duplicates_removed": int(duplicated.sum()),
        "padded": sum(c["padded"] for c in by_chrom.values()),
        "dropped_at_end": sum(c["dropped_at_end"] for c in by_chrom.values()),
        "windows": len(kept),
        "by_chromosome": by_chrom,
    }
    write_json(summary_path, summary)
    logger.info("windows summary: %s", {k: v for k, v in summary.items() if k != "by_chromosome"})
    return summary
