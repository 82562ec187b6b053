"""Fixed-length windows centred on peak summits (midpoint fallback), padded or dropped at ends."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from peakcnn.data.contigs import read_selected_peaks, total_counts, write_peaks
from peakcnn.data.genome import chromosome_sizes, window_composition
from peakcnn.data.intervals import peak_centres, write_bed
from peakcnn.data.overlaps import overlaps_blacklist, resolve_overlaps
from peakcnn.data.tasks import NO_TASK, label_tasks, split_tasks
from peakcnn.errors import InputError
from peakcnn.io import write_json
from peakcnn.logs import throughput

logger = logging.getLogger(__name__)

#: Columns of ``windows/positives.bed`` (BED6+3): the window clipped to the chromosome, the
#: number of N bases to pad on the left and right to reach the full window length, and the
#: comma-separated tasks (peak sets) the window is positive for ("." for none: negatives).
WINDOW_COLUMNS = [
    "chrom",
    "start",
    "end",
    "name",
    "score",
    "strand",
    "pad_left",
    "pad_right",
    "tasks",
]


def centre_windows(peaks: pd.DataFrame, length: int) -> pd.DataFrame:
    """Return unclipped windows of ``length`` bp centred on each peak's summit or midpoint.

    Parameters
    ----------
    peaks : pandas.DataFrame
        Columns ``chrom, start, end, name, score, summit`` (summit offset, -1 for none) and
        optionally ``tasks`` (the peak sets the window comes from).
    length : int
        Window length in bp (even).

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom, centre, wstart, wend, name, score, used_summit, tasks``; ``wstart``
        may be negative and ``wend`` may pass the chromosome end.
    """
    has_summit = peaks["summit"].to_numpy() >= 0
    centre = peak_centres(peaks)
    return pd.DataFrame(
        {
            "chrom": peaks["chrom"].to_numpy(),
            "centre": centre,
            "wstart": centre - length // 2,
            "wend": centre - length // 2 + length,
            "name": peaks["name"].to_numpy(),
            "score": peaks["score"].to_numpy(),
            "used_summit": has_summit,
            "tasks": peaks["tasks"].to_numpy() if "tasks" in peaks else NO_TASK,
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
            "tasks": windows["tasks"],
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


def n_fractions(windows: pd.DataFrame, fasta_path: str, length: int) -> np.ndarray:
    """Fraction of each window that is N, another IUPAC code or padding."""
    starts = (windows["start"] - windows["pad_left"]).to_numpy(dtype=np.int64)
    return window_composition(fasta_path, windows["chrom"].to_numpy(), starts, length)[1]


@dataclass(frozen=True)
class WindowSettings:
    """Settings of ``make_windows`` (the ``windows`` config section).

    Attributes
    ----------
    length : int, default 800
        Window length in bp (even).
    label_width : int, default 200
        Central region in bp within which another task's peak centre makes the window
        positive for that task too (at most ``length``; a larger value is capped, logged and
        recorded).
    chrom_end : {"pad", "drop"}, default "pad"
        Windows that run off a chromosome end are padded with N or dropped.
    overlap_policy : {"keep", "merge", "strongest"}, default "keep"
        What to do with peaks whose intervals overlap (see ``resolve_overlaps``); applied to
        the peaks of all tasks together.
    max_n_fraction : float, default 0.1
        Largest fraction of N/IUPAC/padding allowed in a positive window (1.0: no cap); the
        same cap as the negatives' by default, so that N content cannot tell the classes
        apart.
    off_contig : {"error", "drop"}, default "error"
        A peak lying beyond the end of its FASTA record (see ``check_on_contig``) stops the
        run, or is dropped and counted (``off_contig`` in the summary).
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
    """

    length: int = 800
    label_width: int = 200
    chrom_end: str = "pad"
    overlap_policy: str = "keep"
    max_n_fraction: float = 0.1
    off_contig: str = "error"
    include_contigs: list[str] | None = None
    exclude_contigs: list[str] | None = None
    chrom_aliases: dict[str, str] | None = None
    chrom_alias_file: str | None = None
    blacklist: str | None = None


def check_window_settings(settings: WindowSettings) -> WindowSettings:
    """Check the window length, labelling width and chromosome-end policy.

    Parameters
    ----------
    settings : WindowSettings
        The settings as given.

    Returns
    -------
    WindowSettings
        The settings to use: ``label_width`` capped at ``length`` (logged).

    Raises
    ------
    InputError
        For an odd or non-positive length, a non-positive label width or an unknown
        ``chrom_end``.
    """
    length, label_width = settings.length, settings.label_width
    if length <= 0 or length % 2:
        raise InputError(f"windows.length {length} must be a positive even number of bp")
    if label_width <= 0:
        raise InputError(f"windows.label_width {label_width} must be a positive number of bp")
    if label_width > length:
        logger.warning("windows.label_width %d > length %d: using %d", label_width, length, length)
        settings = replace(settings, label_width=length)
    if settings.chrom_end not in ("pad", "drop"):
        raise InputError(f"windows.chrom_end {settings.chrom_end!r} must be 'pad' or 'drop'")
    return settings


def make_windows(
    peaks_path: str | dict[str, str],
    fasta_path: str,
    positives_path: str,
    summary_path: str,
    *,
    all_peaks_path: str | None = None,
    **settings,
) -> dict:
    """Turn peak files into summit-centred positive windows, counting every peak's fate.

    Peak contig names are matched to FASTA records (exact, alias table, or an unambiguous
    ``Chr1``/``chr1``/``1`` match); peaks on contigs absent from the FASTA or on excluded
    contigs (organelles and unplaced scaffolds by default) are counted and skipped, an error
    only if none of a task remain. Every peak is checked against its record's length: one
    beyond the end is an error, or dropped and counted with ``off_contig="drop"``. Windows
    are made from the peaks of all tasks together: exact duplicates (same chromosome and
    centre) are kept once and counted; overlapping peaks follow ``overlap_policy``; windows
    with more than ``max_n_fraction`` non-ACGT bases are dropped and counted. Each window is
    labelled with every task that has a peak centred in its central ``label_width`` bp (see
    ``label_tasks``).

    Parameters
    ----------
    peaks_path : str or dict of str to str
        BED or narrowPeak file, or one per task (task name → file) for multi-task labels. A
        single file is the one task ``peaks``.
    fasta_path : str
        Indexed genome FASTA.
    positives_path : str
        Output BED6+3 (``WINDOW_COLUMNS``), sorted in FASTA chromosome order then by start.
    summary_path : str
        Output JSON with the counts, in total and per task.
    all_peaks_path : str, optional
        Output BED4 of every kept peak of every task with FASTA names (``chrom start end
        task``), which negatives must avoid.
    **settings
        The ``windows`` config section: the fields of ``WindowSettings``; an unknown key is a
        TypeError.

    Returns
    -------
    dict
        The summary written to ``summary_path``.
    """
    config = check_window_settings(WindowSettings(**settings))
    paths = {"peaks": peaks_path} if isinstance(peaks_path, str) else dict(peaks_path)
    with throughput("make_windows", "windows") as rate:
        sizes = chromosome_sizes(fasta_path)
        all_peaks, by_task = read_selected_peaks(
            paths,
            fasta_path,
            sizes,
            include_contigs=config.include_contigs,
            exclude_contigs=config.exclude_contigs,
            chrom_aliases=config.chrom_aliases,
            chrom_alias_file=config.chrom_alias_file,
            off_contig=config.off_contig,
        )
        peaks, overlap_counts = resolve_overlaps(all_peaks, config.overlap_policy)
        windows = centre_windows(peaks, config.length)
        duplicated = windows.duplicated(subset=["chrom", "centre"]).to_numpy()
        windows = windows[~duplicated]
        kept, by_chrom = fit_to_chromosomes(windows, sizes, config.chrom_end)
        too_many_n = n_fractions(kept, fasta_path, config.length) > config.max_n_fraction
        kept = kept[~too_many_n]
        blacklisted = overlaps_blacklist(kept, config.blacklist)
        kept = kept[~blacklisted].reset_index(drop=True)
        counts = {
            **overlap_counts,
            "centred_on_summit": int(windows["used_summit"].sum()),
            "centred_on_midpoint": int((~windows["used_summit"]).sum()),
            "duplicates_removed": int(duplicated.sum()),
            "dropped_for_n": int(too_many_n.sum()),
            "dropped_in_blacklist": int(blacklisted.sum()),
            "windows": len(kept),
        }
        if kept.empty:
            raise _no_window_error(fasta_path, config, len(windows), counts, by_chrom, sizes)
        kept["tasks"] = label_tasks(kept, all_peaks, config.length, config.label_width)
        kept = _in_fasta_order(kept, sizes)
        write_bed(kept, positives_path, WINDOW_COLUMNS)
        if all_peaks_path:
            write_peaks(all_peaks, all_peaks_path)
        rate["count"] = len(kept)
    summary = window_summary(config, list(paths), by_task, counts, by_chrom, kept["tasks"])
    write_json(summary_path, summary)
    logger.info(
        "windows summary: %s",
        {k: v for k, v in summary.items() if k not in ("by_chromosome", "by_task")},
    )
    return summary


def _no_window_error(
    fasta_path: str,
    config: WindowSettings,
    n_windows: int,
    counts: dict,
    by_chrom: dict,
    sizes: dict[str, int],
) -> InputError:
    """Build the error for a run where every window was dropped, with the count of each cause."""
    return InputError(
        f"no positive window left of {n_windows}: {counts['dropped_for_n']} with more "
        f"than windows.max_n_fraction {config.max_n_fraction} N/padding (windows of "
        f"{config.length} bp on records of at most {max(sizes.values())} bp), "
        f"{sum(c['dropped_at_end'] for c in by_chrom.values())} run off a record end "
        f"(windows.chrom_end {config.chrom_end}), {counts['dropped_in_blacklist']} in the "
        "blacklist; use a shorter windows.length or fix the inputs",
        fasta_path,
    )


def _in_fasta_order(windows: pd.DataFrame, sizes: dict[str, int]) -> pd.DataFrame:
    """Sort windows in FASTA chromosome order, then by start."""
    order = {name: index for index, name in enumerate(sizes)}
    return windows.sort_values(
        ["chrom", "start"], key=lambda c: c.map(order) if c.name == "chrom" else c
    )


def window_summary(
    config: WindowSettings,
    tasks: list[str],
    by_task: dict,
    counts: dict,
    by_chrom: dict,
    window_tasks: pd.Series,
) -> dict:
    """Gather the ``make_windows`` summary: settings and every peak's and window's fate.

    Parameters
    ----------
    config : WindowSettings
        The settings used.
    tasks : list of str
        Task names, in order.
    by_task : dict
        Per-task counts of ``read_task_peaks``; their totals are added at the top level.
    counts : dict
        The overlap counts of ``resolve_overlaps`` and ``centred_on_summit``,
        ``centred_on_midpoint``, ``duplicates_removed``, ``dropped_for_n``,
        ``dropped_in_blacklist`` and ``windows``.
    by_chrom : dict
        Per-chromosome counts of ``fit_to_chromosomes``.
    window_tasks : pandas.Series
        The ``tasks`` value of each window written.

    Returns
    -------
    dict
        The summary, as written to ``summary.json``.
    """
    labels = [split_tasks(value) for value in window_tasks]
    return {
        "tasks": tasks,
        **total_counts(by_task),
        "length": config.length,
        "label_width": config.label_width,
        "chrom_end": config.chrom_end,
        "off_contig_policy": config.off_contig,
        "overlap_policy": config.overlap_policy,
        "overlap_clusters": counts["overlap_clusters"],
        "overlap_removed": counts["overlap_removed"],
        "centred_on_summit": counts["centred_on_summit"],
        "centred_on_midpoint": counts["centred_on_midpoint"],
        "duplicates_removed": counts["duplicates_removed"],
        "padded": sum(c["padded"] for c in by_chrom.values()),
        "dropped_at_end": sum(c["dropped_at_end"] for c in by_chrom.values()),
        "max_n_fraction": config.max_n_fraction,
        "dropped_for_n": counts["dropped_for_n"],
        "blacklist": config.blacklist,
        "dropped_in_blacklist": counts["dropped_in_blacklist"],
        "windows": counts["windows"],
        "positive_windows_by_task": {
            task: sum(task in names for names in labels) for task in tasks
        },
        "windows_by_number_of_tasks": {
            str(n): int(c) for n, c in sorted(Counter(map(len, labels)).items())
        },
        "by_task": by_task,
        "by_chromosome": by_chrom,
    }
