"""Homology leak check: val and test windows aligned to the train windows with minimap2.

The split's leak check compares positions, so it cannot see repeats (transposon families,
tandem and segmental duplicates) that put near-identical sequence in train and in test. Here
every val and test window is aligned (both strands) to all train windows with the ``minimap2``
program; a window *has a near-identical train window* when one alignment reaches at least
``min_identity`` (matching bases over alignment columns, gaps included) over at least
``min_coverage`` of the window. One row per val/test window goes to a TSV, and the fractions
per split and class to a JSON summary; ``peakcnn.evaluation.evaluate`` reports the test metrics
with and
without those windows.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from peakcnn.data.genome import BASES
from peakcnn.data.splitfile import load_split
from peakcnn.errors import InputError
from peakcnn.io import atomic_path, write_json

logger = logging.getLogger(__name__)

#: Program run; Debian/Ubuntu ``apt-get install minimap2``, conda ``bioconda::minimap2``.
MINIMAP2 = "minimap2"
#: Splits aligned to the train windows.
QUERY_SPLITS = ("val", "test")
#: Columns of the per-window table.
COLUMNS = (
    "split",
    "name",
    "chrom",
    "start",
    "end",
    "label",
    "train_hit",
    "strand",
    "identity",
    "coverage",
    "near_identical",
)
#: One-hot rows (ACGT) back to letters; all-zero columns (N, other IUPAC, padding) are N.
LETTERS = np.frombuffer((BASES + "N").encode(), dtype=np.uint8)


def decode_windows(x: np.ndarray) -> list[str]:
    """One-hot windows (N, 4, L) back to sequences; all-zero columns become N.

    Parameters
    ----------
    x : numpy.ndarray of uint8, shape (n, 4, length)
        ACGT one-hot, as ``peakcnn.data.encode`` writes it.

    Returns
    -------
    list of str
        One sequence per window.
    """
    index = np.where(x.any(axis=1), x.argmax(axis=1), 4)
    letters = LETTERS[index]
    return [row.tobytes().decode("ascii") for row in letters]


def write_fasta(path: str | Path, sequences: list[str], prefix: str) -> None:
    """Write sequences as FASTA records named ``{prefix}{row}``."""
    with open(path, "w") as handle:
        for row, sequence in enumerate(sequences):
            handle.write(f">{prefix}{row}\n{sequence}\n")


def find_minimap2() -> str:
    """Path of the ``minimap2`` program.

    Raises
    ------
    InputError
        If it is not on PATH, with how to install it or switch the check off.
    """
    path = shutil.which(MINIMAP2)
    if path is None:
        raise InputError(
            "minimap2 is not on PATH: install it (sudo apt-get install minimap2, or conda "
            "install -c bioconda minimap2) or set homology.enabled: false"
        )
    return path


def align(
    reference: list[str],
    queries: list[str],
    *,
    preset: str = "sr",
    threads: int = 1,
    max_secondary: int = 5,
) -> pd.DataFrame:
    """Align query sequences to reference sequences with minimap2 (base-level, both strands).

    Parameters
    ----------
    reference, queries : list of str
        Sequences; the alignments name them by their position in these lists.
    preset : str, default "sr"
        minimap2 ``-x`` preset. ``sr`` (short, near-identical sequence) found every window
        ``asm20`` found on the demo and two more at 90-99% identity.
    threads : int, default 1
    max_secondary : int, default 5
        Secondary alignments kept per query (``-N``), so the best of several repeat copies is
        seen even when it is not the primary chain.

    Returns
    -------
    pandas.DataFrame
        One row per alignment: ``query``, ``target`` (row indices), ``strand``, ``identity``
        (matches / alignment columns), ``coverage`` (aligned query bases / query length),
        ``matches``.
    """
    columns = ["query", "target", "strand", "identity", "coverage", "matches"]
    if not reference or not queries:
        return pd.DataFrame(columns=columns)
    program = find_minimap2()
    with tempfile.TemporaryDirectory(prefix="peakcnn-homology-") as folder:
        ref_path, query_path = Path(folder) / "ref.fa", Path(folder) / "query.fa"
        write_fasta(ref_path, reference, "r")
        write_fasta(query_path, queries, "q")
        command = [
            program,
            "-c",
            "-x",
            preset,
            "-t",
            str(max(1, threads)),
            "-N",
            str(max_secondary),
            "--secondary=yes",
            str(ref_path),
            str(query_path),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"minimap2 failed (exit {done.returncode}): {tail[0]}")
    return parse_paf(done.stdout, columns)


def parse_paf(text: str, columns: list[str]) -> pd.DataFrame:
    """Read the fields ``align`` reports from minimap2's PAF output (``-c``: exact matches)."""
    rows = []
    for line in text.splitlines():
        fields = line.split("\t")
        query_length, query_start, query_end = int(fields[1]), int(fields[2]), int(fields[3])
        matches, block = int(fields[9]), int(fields[10])
        rows.append(
            (
                int(fields[0][1:]),
                int(fields[5][1:]),
                fields[4],
                matches / block,
                (query_end - query_start) / query_length,
                matches,
            )
        )
    return pd.DataFrame(rows, columns=columns)


def best_hits(
    hits: pd.DataFrame, n_queries: int, min_identity: float, min_coverage: float
) -> pd.DataFrame:
    """Pick the best alignment of each query and say whether it is near-identical.

    A query is near-identical when any alignment passes both thresholds; its best hit is then
    the passing alignment with the most matching bases, else the alignment with the most
    matching bases overall.

    Parameters
    ----------
    hits : pandas.DataFrame
        ``align`` output.
    n_queries : int
    min_identity, min_coverage : float

    Returns
    -------
    pandas.DataFrame
        One row per query, in query order: ``target`` (-1 without alignment), ``strand``,
        ``identity``, ``coverage`` (0 without alignment), ``near_identical``.
    """
    hits = hits.assign(
        passes=(hits["identity"] >= min_identity) & (hits["coverage"] >= min_coverage)
    )
    best = hits.sort_values(["query", "passes", "matches"], ascending=[True, False, False])
    best = best.drop_duplicates("query").set_index("query")
    table = pd.DataFrame(index=pd.RangeIndex(n_queries, name="query"))
    table["target"] = best["target"].reindex(table.index).fillna(-1).astype(int)
    table["strand"] = best["strand"].reindex(table.index).fillna(".")
    for column in ("identity", "coverage"):
        table[column] = best[column].reindex(table.index).fillna(0.0).astype(float)
    table["near_identical"] = best["passes"].reindex(table.index).fillna(False).astype(bool)
    return table.reset_index(drop=True)


def window_labels(y: np.ndarray) -> np.ndarray:
    """Per window: 1 if positive for any task, else 0 (the class of the summary)."""
    return (np.asarray(y).reshape(len(y), -1) > 0).any(axis=1).astype(int)


def homology_table(
    splits: dict[str, dict[str, np.ndarray]],
    *,
    min_identity: float,
    min_coverage: float,
    preset: str = "sr",
    threads: int = 1,
) -> pd.DataFrame:
    """One row per val and test window: its best train hit and whether it is near-identical.

    Parameters
    ----------
    splits : dict of str to dict
        ``train``, ``val`` and ``test`` as ``peakcnn.data.dataset.load_split`` returns them.
    min_identity, min_coverage : float
        Thresholds of a near-identical train window.
    preset : str, default "sr"
    threads : int, default 1

    Returns
    -------
    pandas.DataFrame
        Columns ``COLUMNS``; ``train_hit`` is the train window's name ('' without a hit).
    """
    train = splits["train"]
    reference = decode_windows(train["x"])
    queries, parts = [], []
    for split in QUERY_SPLITS:
        data = splits[split]
        queries.extend(decode_windows(data["x"]))
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "name": data["name"].astype(str),
                    "chrom": data["chrom"].astype(str),
                    "start": data["start"],
                    "end": data["end"],
                    "label": window_labels(data["y"]),
                }
            )
        )
    windows = pd.concat(parts, ignore_index=True)
    hits = align(reference, queries, preset=preset, threads=threads)
    best = best_hits(hits, len(queries), min_identity, min_coverage)
    train_names = np.append(train["name"].astype(str), "")
    windows["train_hit"] = train_names[best["target"].to_numpy()]  # -1: the '' at the end
    windows["strand"] = best["strand"]
    windows["identity"] = best["identity"].round(4)
    windows["coverage"] = best["coverage"].round(4)
    windows["near_identical"] = best["near_identical"]
    return windows[list(COLUMNS)]


def summarise(table: pd.DataFrame, settings: dict) -> dict:
    """Near-identical windows per split and class (counts and fractions), with the settings.

    Parameters
    ----------
    table : pandas.DataFrame
        ``homology_table`` output.
    settings : dict
        Thresholds, preset and program version, copied into the summary.

    Returns
    -------
    dict
        ``settings`` plus ``splits``: per split ``windows``, ``near_identical``, ``fraction``,
        and the same for ``positives`` and ``negatives``.
    """

    def counts(rows: pd.DataFrame) -> dict:
        n, hit = len(rows), int(rows["near_identical"].sum())
        return {"windows": n, "near_identical": hit, "fraction": hit / n if n else None}

    splits = {}
    for split in QUERY_SPLITS:
        rows = table[table["split"] == split]
        splits[split] = {
            **counts(rows),
            "positives": counts(rows[rows["label"] == 1]),
            "negatives": counts(rows[rows["label"] == 0]),
        }
    return {**settings, "splits": splits}


def read_split(path: str) -> dict[str, np.ndarray]:
    """Read a split npz (``peakcnn.data.splitfile``) with the window names this check reports."""
    arrays = load_split(path)
    if "name" not in arrays:
        raise InputError("the split has no window names; re-run build_dataset", path=path)
    return arrays


def minimap2_version() -> str:
    """``minimap2 --version``."""
    done = subprocess.run([find_minimap2(), "--version"], capture_output=True, text=True)
    return done.stdout.strip()


def check_homology(
    train_path: str,
    val_path: str,
    test_path: str,
    table_path: str,
    summary_path: str,
    *,
    min_identity: float = 0.9,
    min_coverage: float = 0.5,
    preset: str = "sr",
    threads: int = 1,
) -> dict:
    """Align val and test windows to the train windows; write the per-window TSV and summary.

    Parameters
    ----------
    train_path, val_path, test_path : str
        Encoded split npz files (``peakcnn.data.dataset``).
    table_path : str
        Output TSV, one row per val/test window (``COLUMNS``).
    summary_path : str
        Output JSON: thresholds, minimap2 version, runtime, and per split and class the
        count and fraction of windows with a near-identical train window.
    min_identity, min_coverage : float
    preset : str, default "sr"
    threads : int, default 1

    Returns
    -------
    dict
        The summary.
    """
    for name, value in (("min_identity", min_identity), ("min_coverage", min_coverage)):
        if not 0 < value <= 1:
            raise InputError(f"homology.{name} is {value}; it must be in (0, 1]")
    began = time.perf_counter()
    splits = {
        "train": read_split(train_path),
        "val": read_split(val_path),
        "test": read_split(test_path),
    }
    table = homology_table(
        splits,
        min_identity=min_identity,
        min_coverage=min_coverage,
        preset=preset,
        threads=threads,
    )
    settings = {
        "min_identity": min_identity,
        "min_coverage": min_coverage,
        "preset": preset,
        "program": f"minimap2 {minimap2_version()}",
        "train_windows": len(splits["train"]["name"]),
        "seconds": round(time.perf_counter() - began, 2),
    }
    summary = summarise(table, settings)
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    write_json(summary_path, summary)
    for split, counts in summary["splits"].items():
        logger.info(
            "%s: %d of %d windows (%.1f%%) have a near-identical train window "
            "(positives %d/%d, negatives %d/%d; identity >= %g over >= %g of the window)",
            split,
            counts["near_identical"],
            counts["windows"],
            100 * (counts["fraction"] or 0),
            counts["positives"]["near_identical"],
            counts["positives"]["windows"],
            counts["negatives"]["near_identical"],
            counts["negatives"]["windows"],
            min_identity,
            min_coverage,
        )
    return summary
