"""Fixed-length windows centred on peak summits (midpoint fallback), padded or dropped at ends."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.data.contigs import DEFAULT_EXCLUDE, excluded_contigs, read_alias_file, reconcile_names
from peakcnn.data.genome import chromosome_sizes, fasta_descriptions, window_composition
from peakcnn.data.intervals import read_peaks, write_bed
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

#: Task separator in the ``tasks`` column, and the value of a window positive for no task.
TASK_SEPARATOR = ","
NO_TASK = "."


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


def peak_centres(peaks: pd.DataFrame) -> np.ndarray:
    """Summit position of each peak (``start + summit``), or its midpoint when it has none."""
    start = peaks["start"].to_numpy()
    summit = peaks["summit"].to_numpy()
    return np.where(summit >= 0, start + summit, (start + peaks["end"].to_numpy()) // 2)


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


OVERLAP_POLICIES = ("keep", "merge", "strongest")


def resolve_overlaps(peaks: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, dict]:
    """Apply the overlap policy to peaks whose intervals overlap (bedtools merge clusters).

    Parameters
    ----------
    peaks : pandas.DataFrame
        ``PEAK_COLUMNS`` rows.
    policy : {"keep", "merge", "strongest"}
        ``keep`` every peak; ``merge`` each cluster of overlapping peaks into one peak (its
        window centred on the merged interval's midpoint, positive for the tasks of all its
        peaks); ``strongest`` keeps the peak with the highest ``signal`` of each cluster.

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
        if "tasks" in ordered:
            kept["tasks"] = [join_tasks(ordered["tasks"].to_numpy()[m]) for m in members]
    return kept.reset_index(drop=True), {
        "overlap_clusters": clusters,
        "overlap_removed": len(peaks) - len(kept),
    }


def join_tasks(tasks) -> str:
    """One ``tasks`` value from task names or ``tasks`` values: unique, sorted, comma-joined."""
    names = {name for value in tasks for name in split_tasks(value)}
    return TASK_SEPARATOR.join(sorted(names)) or NO_TASK


def split_tasks(value: str) -> list[str]:
    """Return the task names of one ``tasks`` value (none for ``NO_TASK``)."""
    return [] if value == NO_TASK else value.split(TASK_SEPARATOR)


def label_tasks(
    windows: pd.DataFrame, peaks: pd.DataFrame, length: int, label_width: int
) -> list[str]:
    """Tasks each window is positive for: those with a peak centred in its central region.

    A window is positive for a task when the summit (or midpoint) of one of that task's peaks
    lies within the central ``label_width`` bp of the window; the tasks the window was made
    from (its ``tasks``, e.g. all peaks of a merged cluster) always count.

    Parameters
    ----------
    windows : pandas.DataFrame
        ``WINDOW_COLUMNS`` rows (clipped coordinates plus padding).
    peaks : pandas.DataFrame
        Every peak of every task (``chrom, start, end, summit, tasks``), FASTA names.
    length, label_width : int
        Window length and central labelling region, in bp.

    Returns
    -------
    list of str
        One ``tasks`` value per window.
    """
    if windows.empty:
        return []
    centre = (windows["start"] - windows["pad_left"]).to_numpy() + length // 2
    central = pd.DataFrame(
        {
            "chrom": windows["chrom"].to_numpy(),
            "start": np.maximum(0, centre - label_width // 2),
            "end": centre - label_width // 2 + label_width,
            "row": np.arange(len(windows)),
        }
    )
    summits = peak_centres(peaks)
    points = pd.DataFrame(
        {"chrom": peaks["chrom"].to_numpy(), "start": summits, "end": summits + 1}
    ).assign(tasks=peaks["tasks"].to_numpy())
    found = [set(split_tasks(value)) for value in windows["tasks"]]
    hits = pybedtools.BedTool.from_dataframe(central).intersect(
        pybedtools.BedTool.from_dataframe(points), wa=True, wb=True
    )
    for fields in hits:
        found[int(fields[3])].add(fields[7])
    return [join_tasks(names) for names in found]


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


def _add_counts(total: dict, counts: dict) -> dict:
    """Add one task's counts into ``total``: numbers summed, dicts merged, lists united.

    Other values (e.g. the FASTA name a contig was renamed to) are the same for every task.
    """
    for key, value in counts.items():
        if isinstance(value, dict):
            total[key] = _add_counts(dict(total.get(key, {})), value)
        elif isinstance(value, list):
            total[key] = sorted(set(total.get(key, [])) | set(value))
        elif isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        else:
            total[key] = value
    return total


OFF_CONTIG_POLICIES = ("error", "drop")


def check_on_contig(
    peaks: pd.DataFrame, sizes: dict[str, int], path: str, policy: str
) -> tuple[pd.DataFrame, dict]:
    """Check every peak against the length of its FASTA record.

    A peak is *off contig* when it lies wholly beyond the end of its record, or when its
    centre (summit, else midpoint) does: its window would hold no base of the record, the
    usual sign of peaks called on another assembly version with the same contig names.
    Peaks that only run past the end are kept (their windows are padded) and counted.

    Parameters
    ----------
    peaks : pandas.DataFrame
        ``PEAK_COLUMNS`` rows with FASTA record names.
    sizes : dict of str to int
        Record lengths.
    path : str
        The peak file, for the error message.
    policy : {"error", "drop"}
        ``error``: the first off-contig peak stops the run; ``drop``: they are dropped.

    Returns
    -------
    pandas.DataFrame
        The peaks on their records.
    dict
        ``off_contig`` (peaks dropped) and ``past_contig_end`` (kept peaks running past it).

    Raises
    ------
    InputError
        With ``policy="error"``, naming the file, line, contig length and the likely cause.
    """
    if policy not in OFF_CONTIG_POLICIES:
        raise InputError(f"windows.off_contig {policy!r} must be one of {OFF_CONTIG_POLICIES}")
    size = peaks["chrom"].map(sizes).to_numpy(dtype=np.int64)
    off = (peaks["start"].to_numpy() >= size) | (peak_centres(peaks) >= size)
    if off.any() and policy == "error":
        first = peaks[off].iloc[0]
        raise InputError(
            f"peak {first['chrom']}:{first['start']}-{first['end']} lies beyond the end of "
            f"FASTA record {first['chrom']!r} ({sizes[first['chrom']]} bp; {int(off.sum())} "
            "such peak(s) in this file); the peaks were probably called on another assembly "
            "version: use the genome they were called on, or set windows.off_contig: drop to "
            "drop (and count) them",
            path,
            int(first["line"]),
        )
    kept = peaks[~off].reset_index(drop=True)
    past_end = kept["end"].to_numpy() > kept["chrom"].map(sizes).to_numpy()
    return kept, {"off_contig": int(off.sum()), "past_contig_end": int(past_end.sum())}


def read_task_peaks(
    peaks_paths: dict[str, str],
    records: dict[str, str],
    *,
    aliases: dict[str, str],
    include: list[str],
    exclude: list[str],
    sizes: dict[str, int] | None = None,
    off_contig: str = "error",
) -> tuple[pd.DataFrame, dict]:
    """Read every task's peak file and keep its peaks on the selected FASTA records.

    Returns all kept peaks (``PEAK_COLUMNS`` plus ``tasks``, FASTA names) and the counts of
    each task (``input_peaks``, ``file_lines``, those of ``select_contigs`` and, with
    ``sizes``, those of ``check_on_contig``).

    Raises
    ------
    InputError
        If no peak of a task is left on the selected records, or (``off_contig="error"``) a
        peak lies beyond the end of its record.
    """
    tables, by_task = [], {}
    for task, path in peaks_paths.items():
        table = read_peaks(path)
        peaks, counts = select_contigs(
            table.peaks, records, aliases=aliases, include=include, exclude=exclude
        )
        if sizes is not None:
            peaks, on_contig_counts = check_on_contig(peaks, sizes, path, off_contig)
            counts.update(on_contig_counts)
        if peaks.empty:
            raise InputError(
                f"no peak of task {task!r} left on the selected FASTA records (peak contigs "
                f"{sorted(set(table.peaks['chrom']))[:5]}, FASTA records {list(records)[:5]}, "
                f"excluded {counts['excluded_records'][:5]}, beyond a record's end "
                f"{counts.get('off_contig', 0)}); use matching chromosome names and assembly, "
                "windows.chrom_aliases, or windows.include_contigs/exclude_contigs",
                path,
            )
        tables.append(peaks.assign(tasks=task))
        by_task[task] = {"input_peaks": len(table.peaks), "file_lines": table.counts, **counts}
    return pd.concat(tables, ignore_index=True), by_task


def write_peaks(peaks: pd.DataFrame, path: str) -> None:
    """Write the kept peaks of all tasks (FASTA names) as BED4 ``chrom start end task``."""
    ordered = peaks.sort_values(["chrom", "start", "end"], kind="stable")
    write_bed(ordered, path, ["chrom", "start", "end", "tasks"])


def make_windows(
    peaks_path: str | dict[str, str],
    fasta_path: str,
    positives_path: str,
    summary_path: str,
    *,
    all_peaks_path: str | None = None,
    length: int = 800,
    label_width: int = 200,
    chrom_end: str = "pad",
    overlap_policy: str = "keep",
    max_n_fraction: float = 0.1,
    off_contig: str = "error",
    include_contigs: list[str] | None = None,
    exclude_contigs: list[str] | None = None,
    chrom_aliases: dict[str, str] | None = None,
    chrom_alias_file: str | None = None,
    blacklist: str | None = None,
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

    Returns
    -------
    dict
        The summary written to ``summary_path``.
    """
    if length <= 0 or length % 2:
        raise InputError(f"windows.length {length} must be a positive even number of bp")
    if label_width <= 0:
        raise InputError(f"windows.label_width {label_width} must be a positive number of bp")
    if label_width > length:
        logger.warning("windows.label_width %d > length %d: using %d", label_width, length, length)
        label_width = length
    if chrom_end not in ("pad", "drop"):
        raise InputError(f"windows.chrom_end {chrom_end!r} must be 'pad' or 'drop'")
    paths = {"peaks": peaks_path} if isinstance(peaks_path, str) else dict(peaks_path)
    with throughput("make_windows", "windows") as rate:
        records = fasta_descriptions(fasta_path)
        sizes = chromosome_sizes(fasta_path)
        aliases = dict(chrom_aliases or {})
        if chrom_alias_file:
            aliases = read_alias_file(chrom_alias_file, set(records)) | aliases
        all_peaks, by_task = read_task_peaks(
            paths,
            records,
            aliases=aliases,
            include=list(include_contigs or []),
            exclude=DEFAULT_EXCLUDE if exclude_contigs is None else list(exclude_contigs),
            sizes=sizes,
            off_contig=off_contig,
        )
        peaks, overlap_counts = resolve_overlaps(all_peaks, overlap_policy)
        windows = centre_windows(peaks, length)
        duplicated = windows.duplicated(subset=["chrom", "centre"]).to_numpy()
        windows = windows[~duplicated]
        kept, by_chrom = fit_to_chromosomes(windows, sizes, chrom_end)
        too_many_n = n_fractions(kept, fasta_path, length) > max_n_fraction
        kept = kept[~too_many_n]
        blacklisted = overlaps_blacklist(kept, blacklist)
        kept = kept[~blacklisted].reset_index(drop=True)
        if kept.empty:
            raise InputError(
                f"no positive window left of {len(windows)}: {int(too_many_n.sum())} with more "
                f"than windows.max_n_fraction {max_n_fraction} N/padding (windows of {length} "
                f"bp on records of at most {max(sizes.values())} bp), "
                f"{sum(c['dropped_at_end'] for c in by_chrom.values())} run off a record end "
                f"(windows.chrom_end {chrom_end}), {int(blacklisted.sum())} in the blacklist; "
                "use a shorter windows.length or fix the inputs",
                fasta_path,
            )
        kept["tasks"] = label_tasks(kept, all_peaks, length, label_width)
        order = {name: index for index, name in enumerate(sizes)}
        kept = kept.sort_values(
            ["chrom", "start"], key=lambda c: c.map(order) if c.name == "chrom" else c
        )
        write_bed(kept, positives_path, WINDOW_COLUMNS)
        if all_peaks_path:
            write_peaks(all_peaks, all_peaks_path)
        rate["count"] = len(kept)
    totals: dict = {}
    for counts in by_task.values():
        _add_counts(totals, counts)
    labels = [split_tasks(value) for value in kept["tasks"]]
    summary = {
        "tasks": list(paths),
        **totals,
        "length": length,
        "label_width": label_width,
        "chrom_end": chrom_end,
        "off_contig_policy": off_contig,
        "overlap_policy": overlap_policy,
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
        "positive_windows_by_task": {
            task: sum(task in names for names in labels) for task in paths
        },
        "windows_by_number_of_tasks": {
            str(n): int(c) for n, c in sorted(Counter(map(len, labels)).items())
        },
        "by_task": by_task,
        "by_chromosome": by_chrom,
    }
    write_json(summary_path, summary)
    logger.info(
        "windows summary: %s",
        {k: v for k, v in summary.items() if k not in ("by_chromosome", "by_task")},
    )
    return summary
