"""Assemble the labelled, split, leak-checked and encoded dataset files."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from peakcnn.data.encode import encode_windows
from peakcnn.data.intervals import read_bed
from peakcnn.data.negatives import NEGATIVE_COLUMNS
from peakcnn.data.shuffle import shuffle_window
from peakcnn.data.split import SPLITS, leak_check
from peakcnn.data.splitfile import save_split
from peakcnn.data.tasks import label_matrix
from peakcnn.data.windows import WINDOW_COLUMNS
from peakcnn.errors import InputError
from peakcnn.io import write_json
from peakcnn.logs import throughput

logger = logging.getLogger(__name__)


def label_windows(positives: pd.DataFrame, negatives: pd.DataFrame) -> pd.DataFrame:
    """Stack positives (label 1) and negatives (label 0), sorted by split, chromosome, start."""
    table = pd.concat(
        [positives.assign(label=1, kind="peak"), negatives.assign(label=0)], ignore_index=True
    )
    return table.sort_values(["split", "chrom", "start"], kind="stable").reset_index(drop=True)


def check_classes(
    table: pd.DataFrame, tasks: list[str], split_summary: dict, window_length: int
) -> None:
    """Stop when a split lacks a class: no negatives, or a task without positives or negatives.

    Parameters
    ----------
    table : pandas.DataFrame
        Labelled windows (``label_windows``) with their ``split`` and ``tasks``.
    tasks : list of str
        Task names.
    split_summary : dict
        The split stage's summary (``method``, ``regions``), to name the cause.
    window_length : int
        Window length in bp.

    Raises
    ------
    InputError
        Naming the split, the cause and the fix.
    """
    for split in SPLITS:
        rows = table[table["split"] == split]
        if (rows["label"] == 1).any() and not (rows["label"] == 0).any():
            raise InputError(
                f"split {split!r} has {int(rows['label'].sum())} positive windows and no "
                f"negative: {no_negatives_cause(split, split_summary, window_length)}"
            )
        labels = label_matrix(rows["tasks"], tasks)
        for column, task in enumerate(tasks):
            for label, name in ((1, "positive"), (0, "negative")):
                if not (labels[:, column] == label).any():
                    raise InputError(
                        f"split {split!r} has no {name} window for task {task!r} "
                        f"({len(rows)} windows): its metrics and model choice are undefined; "
                        "give more peaks of that set, or change split.val_fraction/test_fraction "
                        "or split.val_chroms/test_chroms so that every split holds both classes"
                    )


def no_negatives_cause(split: str, split_summary: dict, window_length: int) -> str:
    """Why no negative was drawn in ``split``, and the fix, from the split regions' sizes."""
    regions = [r for r in split_summary["regions"] if r["split"] == split]
    longest = max((r["end"] - r["start"] for r in regions), default=0)
    if longest < window_length:
        gap = ", split.gap between blocks" if split_summary["method"] != "chromosome" else ""
        return (
            f"windows ({window_length} bp) are longer than its regions (longest {longest} bp: "
            f"the contigs{gap}); use a shorter windows.length, a smaller split.gap, or a "
            "genome with longer contigs"
        )
    return (
        f"negatives shortfall: its regions ({len(regions)}, longest {longest} bp) hold no "
        f"{window_length} bp window clear of peaks, positive windows and the blacklist and "
        "within negatives.max_n_fraction (see negatives/negatives.json); use "
        "negatives.strategy dinuc_shuffled (needs no free genome), a shorter windows.length, "
        "or a larger genome"
    )


def shuffle_rows(x: np.ndarray, rows: np.ndarray, seed: int) -> int:
    """Replace the marked windows of ``x`` in place by one dinucleotide shuffle each.

    Parameters
    ----------
    x : numpy.ndarray of uint8, shape (n, 4, L)
        Encoded windows.
    rows : numpy.ndarray of bool, shape (n,)
        Windows to shuffle (negatives made from positives).
    seed : int
        Window ``i`` is shuffled with seed ``seed + i``.

    Returns
    -------
    int
        Number of windows shuffled.
    """
    for row in np.flatnonzero(rows):
        x[row] = shuffle_window(x[row], 1, seed + int(row))[0][0]
    return int(rows.sum())


def build_dataset(
    assigned_path: str,
    negatives_path: str,
    split_paths: dict[str, str],
    split_report_path: str,
    *,
    tasks: list[str],
    window_length: int = 800,
    fasta_path: str,
    split_summary: dict,
    seed: int = 0,
    max_shift: int = 0,
) -> dict:
    """Label, leak-check and encode all windows; write one npz per split and ``split.json``.

    Parameters
    ----------
    assigned_path : str
        Positive windows with their split (BED6+3+split).
    negatives_path : str
        Negative windows with their split (BED6+3+split).
    split_paths : dict of str to str
        Output npz path for each of ``train``, ``val``, ``test``.
    split_report_path : str
        Output ``split.json``: method, regions, counts, positive fraction, leak check.
    tasks : list of str
        Task (label column) names in ``y`` order: the peak sets of the dataset.
    window_length : int, default 800
    fasta_path : str
        Indexed genome FASTA.
    split_summary : dict
        The split stage's summary (method, regions, positives in gaps).
    seed : int, default 0
        Seed of the dinucleotide shuffles made for ``dinuc_shuffle`` negatives.
    max_shift : int, default 0
        Training windows are read with this many extra bases on each side (the trainer crops
        a randomly shifted window from them); the leak check includes the margins.

    Returns
    -------
    dict
        The split report.

    Raises
    ------
    InputError
        If a window of one split overlaps a window of another, or a split lacks a class
        (``check_classes``); nothing is written then.
    """
    table = label_windows(
        read_bed(assigned_path, WINDOW_COLUMNS + ["split"]),
        read_bed(negatives_path, NEGATIVE_COLUMNS),
    )
    if max_shift < 0:
        raise InputError(f"train.max_shift {max_shift} must be >= 0")
    margins = np.where(table["split"] == "train", max_shift, 0)
    leaks = leak_check(
        table.assign(start=(table["start"] - margins).clip(lower=0), end=table["end"] + margins)
    )
    leaks["train_margin"] = max_shift
    if not leaks["passed"]:
        raise InputError(
            f"leak check failed, windows (training windows with their {max_shift} bp shift "
            f"margins) overlap across splits: {leaks}; increase split.gap or fix the split "
            "regions"
        )
    check_classes(table, tasks, split_summary, window_length)
    report = {key: split_summary[key] for key in ("method", "regions", "positives_in_gaps")}
    report.update(
        {"leak_check": leaks, "tasks": tasks, "window_length": window_length, "splits": {}}
    )
    with throughput("encode", "windows") as rate:
        for split in SPLITS:
            rows = table[table["split"] == split]
            margin = max_shift if split == "train" else 0
            x, counts = encode_windows(
                rows.assign(start=rows["start"] - margin), fasta_path, window_length + 2 * margin
            )
            shuffled = shuffle_rows(x, (rows["kind"] == "dinuc_shuffle").to_numpy(), seed)
            y = label_matrix(rows["tasks"], tasks)
            save_split(split_paths[split], x, y, rows, tasks, margin)
            report["splits"][split] = {
                "windows": len(rows),
                "positives": int(rows["label"].sum()),
                "negatives": int((rows["label"] == 0).sum()),
                "positive_fraction": float(rows["label"].mean()),
                "positives_by_task": dict(zip(tasks, y.sum(axis=0).tolist(), strict=True)),
                "positive_fraction_by_task": dict(
                    zip(tasks, y.mean(axis=0).round(6).tolist(), strict=True)
                ),
                "chromosomes": sorted(set(rows["chrom"])),
                "dinuc_shuffled_negatives": shuffled,
                **counts,
            }
            rate["count"] += len(rows)
    write_json(split_report_path, report)
    logger.info("dataset: %s", {s: report["splits"][s]["windows"] for s in SPLITS})
    return report
