"""Contig naming and selection: match peak-file names to FASTA records, skip organelles.

Also reads every task's peaks on the selected records, checked against each record's length.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from peakcnn.data.genome import fasta_descriptions
from peakcnn.data.intervals import peak_centres, read_peaks, write_bed
from peakcnn.errors import InputError

logger = logging.getLogger(__name__)

#: Default exclusions, matched against a record's name and its FASTA description line:
#: organelle genomes and unplaced/unlocalised scaffolds.
DEFAULT_EXCLUDE = [
    r"(?i)^(chr)?(c|m|mt|pt|chrc|chrm)$",
    r"(?i)chloroplast|mitochondri|plastid",
    r"(?i)scaffold|unplaced|unlocali[sz]ed|_random$|^(chr)?un(_|$)|_alt$",
]

_CHROMOSOME_WORD = re.compile(r"(?i)\bchromosome\s+([A-Za-z0-9]+)\b")


def name_key(name: str) -> str:
    """Normalise a chromosome name for matching: lower case, no ``chr``/``chromosome`` prefix.

    ``Chr1``, ``chr1``, ``CHR1`` and ``1`` share the key ``1``; leading zeros are dropped
    (``chr01`` → ``1``).
    """
    key = re.sub(r"^(chromosome|chrom|chr)[_-]?", "", name.strip().lower())
    return key.lstrip("0") or key


def fasta_keys(records: dict[str, str]) -> dict[str, set[str]]:
    """Map each matching key to the FASTA records it may name.

    Keys come from each record's name and, for NCBI-style descriptions such as
    ``NC_003070.9 Arabidopsis thaliana chromosome 1 sequence``, from the chromosome number.

    Parameters
    ----------
    records : dict of str to str
        Record name → its full FASTA description line (without ``>``).
    """
    keys: dict[str, set[str]] = {}
    for name, description in records.items():
        found = {name_key(name)}
        match = _CHROMOSOME_WORD.search(description)
        if match:
            found.add(name_key(match.group(1)))
        for key in found:
            keys.setdefault(key, set()).add(name)
    return keys


def read_alias_file(path: str, fasta_names: set[str]) -> dict[str, str]:
    """Read a chromAlias-style file: tab-separated names of one sequence per line.

    On each line the field that is a FASTA record name is the target and every other field an
    alias of it; a line naming no record is skipped; ``#`` lines are comments.
    """
    aliases: dict[str, str] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = [f for f in line.rstrip("\r\n").split("\t") if f]
            if not fields or fields[0].startswith("#"):
                continue
            targets = [f for f in fields if f in fasta_names]
            if len(targets) > 1:
                raise InputError(
                    f"names {targets} are all FASTA records; one line must name one sequence",
                    path,
                    number,
                )
            for field in fields:
                if targets and field != targets[0]:
                    aliases[field] = targets[0]
    return aliases


def reconcile_names(
    peak_contigs: list[str], records: dict[str, str], aliases: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Map every peak contig name to a FASTA record where that is unambiguous.

    Order: exact record name, then the alias table, then a unique match on the normalised key
    (``Chr1`` / ``chr1`` / ``1`` / NCBI ``chromosome 1`` descriptions).

    Parameters
    ----------
    peak_contigs : list of str
        Contig names used in the peak file.
    records : dict of str to str
        FASTA record name → description line.
    aliases : dict of str to str
        Explicit alias → record name (config or alias file); wins over automatic matching.

    Returns
    -------
    dict of str to str
        Peak contig → FASTA record, for every contig that could be matched.
    list of str
        Peak contigs with no record (their peaks are counted and skipped).

    Raises
    ------
    InputError
        When a name matches several records, naming both sides and the fix.
    """
    bad = sorted({target for target in aliases.values() if target not in records})
    if bad:
        raise InputError(
            f"chromosome aliases point to {bad}, which are not FASTA records "
            f"({sorted(records)[:8]}); fix windows.chrom_aliases"
        )
    keys = fasta_keys(records)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for contig in peak_contigs:
        if contig in records:
            mapping[contig] = contig
        elif contig in aliases:
            mapping[contig] = aliases[contig]
        elif len(keys.get(name_key(contig), ())) == 1:
            mapping[contig] = next(iter(keys[name_key(contig)]))
        elif keys.get(name_key(contig)):
            raise InputError(
                f"peak contig {contig!r} matches several FASTA records "
                f"{sorted(keys[name_key(contig)])}; name the right one in "
                "windows.chrom_aliases"
            )
        else:
            missing.append(contig)
    renamed = {k: v for k, v in mapping.items() if k != v}
    if renamed:
        logger.info("peak contigs renamed to FASTA records: %s", renamed)
    return mapping, missing


def excluded_contigs(records: dict[str, str], include: list[str], exclude: list[str]) -> set[str]:
    """Return the FASTA records left out by the include/exclude regular expressions.

    A record is kept when it matches an ``include`` pattern (all records when the list is
    empty) and no ``exclude`` pattern; patterns are searched in the name and the description.
    """

    def hits(patterns: list[str], name: str) -> bool:
        return any(re.search(p, name) or re.search(p, records[name]) for p in patterns)

    return {
        name for name in records if (include and not hits(include, name)) or hits(exclude, name)
    }


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


def total_counts(by_task: dict[str, dict]) -> dict:
    """Totals of the per-task counts of ``read_task_peaks`` (see ``_add_counts``)."""
    totals: dict = {}
    for counts in by_task.values():
        _add_counts(totals, counts)
    return totals


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


def read_selected_peaks(
    paths: dict[str, str],
    fasta_path: str,
    sizes: dict[str, int],
    *,
    include_contigs: list[str] | None,
    exclude_contigs: list[str] | None,
    chrom_aliases: dict[str, str] | None,
    chrom_alias_file: str | None,
    off_contig: str,
) -> tuple[pd.DataFrame, dict]:
    """Read every task's peaks on the selected records of a FASTA (see ``read_task_peaks``).

    Parameters
    ----------
    paths : dict of str to str
        Task name → peak file.
    fasta_path : str
        Indexed genome FASTA.
    sizes : dict of str to int
        Record lengths.
    include_contigs, exclude_contigs : list of str or None
        Regular expressions of records to use and to leave out (``None``: ``DEFAULT_EXCLUDE``).
    chrom_aliases : dict of str to str or None
        Peak-file name → FASTA record name; they win over ``chrom_alias_file``.
    chrom_alias_file : str or None
        chromAlias-style file (tab-separated names of one sequence per line).
    off_contig : {"error", "drop"}
        Policy for peaks beyond the end of their record (see ``check_on_contig``).

    Returns
    -------
    pandas.DataFrame
        The kept peaks of all tasks.
    dict
        Counts per task.
    """
    records = fasta_descriptions(fasta_path)
    aliases = dict(chrom_aliases or {})
    if chrom_alias_file:
        aliases = read_alias_file(chrom_alias_file, set(records)) | aliases
    return read_task_peaks(
        paths,
        records,
        aliases=aliases,
        include=list(include_contigs or []),
        exclude=DEFAULT_EXCLUDE if exclude_contigs is None else list(exclude_contigs),
        sizes=sizes,
        off_contig=off_contig,
    )


def write_peaks(peaks: pd.DataFrame, path: str) -> None:
    """Write the kept peaks of all tasks (FASTA names) as BED4 ``chrom start end task``."""
    ordered = peaks.sort_values(["chrom", "start", "end"], kind="stable")
    write_bed(ordered, path, ["chrom", "start", "end", "tasks"])
