"""Score sequences (FASTA) or genome regions (BED, ``chrom:start-end``) with a trained model.

Outputs a TSV with one row per input (coordinates, how the window was fitted, then a
probability and a logit per task) and, for regions, a BED6+ whose score is
``round(1000 * probability)`` (the highest over tasks) followed by one probability column per
task. Inputs are read and scored in chunks; outputs appear only once everything is scored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from itertools import islice

import numpy as np
import pandas as pd

from peakcnn.apply.loading import LoadedModel
from peakcnn.apply.scores import WindowScores, strand_logits
from peakcnn.apply.sequences import (
    FastaRecord,
    encode_records,
    encode_regions,
    log_resized,
    match_contigs,
    read_bed,
    read_fasta,
)
from peakcnn.errors import InputError
from peakcnn.io import atomic_path
from peakcnn.logs import throughput

logger = logging.getLogger(__name__)

#: Windows encoded and scored at a time.
CHUNK = 4096


#: ``window_logits(model, x, both_strands)``: logits (n, T), optionally both strands averaged
#: (``peakcnn.apply.scores.strand_logits``; the web page's name for it).
window_logits = strand_logits


def score_columns(model: LoadedModel, scores: WindowScores) -> pd.DataFrame:
    """``probability_<task>`` (calibrated) and ``logit_<task>`` (raw) columns of scores.

    For an ensemble these are the means over its members, followed by one
    ``probability_sd_<task>`` column per task (the members' spread).
    """
    columns = {}
    for t, task in enumerate(model.tasks):
        columns[f"probability_{task}"] = scores.probabilities[:, t]
        columns[f"logit_{task}"] = scores.logits[:, t]
    spread = scores.probability_sd
    for t, task in enumerate(model.tasks if spread is not None else ()):
        columns[f"probability_sd_{task}"] = spread[:, t]
    return pd.DataFrame(columns)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def predict_fasta(
    model: LoadedModel, fasta_path: str, tsv_path: str, *, both_strands: bool = False
) -> int:
    """Score every record of a FASTA file and write the TSV.

    Parameters
    ----------
    model : LoadedModel
    fasta_path : str
        Sequences (plain or gzipped FASTA), any length: centred, padded with N or cropped.
    tsv_path : str
        Output: ``name, length, window_offset, resized``, base counts, then per task
        ``probability_<task>, logit_<task>``.
    both_strands : bool, default False
        Average each window with its reverse complement.

    Returns
    -------
    int
        Number of sequences scored.
    """
    records: Iterator[FastaRecord] = read_fasta(fasta_path)
    total = 0
    resized = []
    with throughput("predict", "windows") as rate, atomic_path(tsv_path) as tmp:
        with open(tmp, "w") as handle:
            for chunk in _chunks(records, CHUNK):
                x, table = encode_records(chunk, model.length)
                scores = score_columns(model, model.scores(x, both_strands))
                table = pd.concat([table, scores], axis=1)
                table.to_csv(handle, sep="\t", index=False, header=total == 0, float_format="%.6g")
                total += len(table)
                resized.append(table[["resized"]])
        rate["count"] = total
    log_resized(pd.concat(resized), model.length, "sequences")
    return total


def region_table(regions: pd.DataFrame, genome: str, source: str) -> pd.DataFrame:
    """Check and rename the contigs of regions to genome records (as for peaks).

    Parameters
    ----------
    regions : pandas.DataFrame
        ``chrom, start, end, name`` and optionally ``line`` (for errors).
    genome : str
        Indexed genome FASTA.
    source : str
        Where the regions came from, for errors.
    """
    lines = regions["line"].tolist() if "line" in regions else None
    mapping = match_contigs(regions["chrom"].tolist(), genome, source, lines)
    table = regions.drop(columns=["line"], errors="ignore").copy()
    table["chrom"] = table["chrom"].map(mapping)
    return table


def predict_regions(
    model: LoadedModel,
    regions: pd.DataFrame,
    genome: str,
    tsv_path: str,
    bed_path: str | None = None,
    *,
    source: str = "regions",
    both_strands: bool = False,
) -> int:
    """Score model windows centred on genome regions; write the TSV and the scored BED.

    Parameters
    ----------
    model : LoadedModel
    regions : pandas.DataFrame
        ``chrom, start, end, name`` (0-based, half open) and optionally ``line``.
    genome : str
        Indexed, uncompressed genome FASTA.
    tsv_path : str
        Output: the regions, ``window_start, window_end, resized, padded_bases``, then per task
        ``probability_<task>, logit_<task>``.
    bed_path : str, optional
        Output BED6+: score ``round(1000 * max probability)``, then one probability per task.
    source : str, default "regions"
        The input's name, for errors.
    both_strands : bool, default False
        Average each window with its reverse complement.

    Returns
    -------
    int
        Number of regions scored.
    """
    table = region_table(regions, genome, source)
    fitted = []
    with ExitStack() as stack, throughput("predict", "windows") as rate:
        tsv = open(stack.enter_context(atomic_path(tsv_path)), "w")
        stack.callback(tsv.close)
        bed = None
        if bed_path:
            bed = open(stack.enter_context(atomic_path(bed_path)), "w")
            stack.callback(bed.close)
        for begin in range(0, len(table), CHUNK):
            part = table.iloc[begin : begin + CHUNK].reset_index(drop=True)
            x, windows = encode_regions(part, genome, model.length)
            scores = score_columns(model, model.scores(x, both_strands))
            out = pd.concat([windows, scores], axis=1)
            out.to_csv(tsv, sep="\t", index=False, header=begin == 0, float_format="%.6g")
            if bed is not None:
                _bed_rows(model, out).to_csv(
                    bed, sep="\t", index=False, header=False, float_format="%.6g"
                )
            rate["count"] += len(part)
            fitted.append(windows[["resized", "padded_bases"]])
    log_resized(pd.concat(fitted), model.length, "regions")
    padded = int(sum((f["padded_bases"] > 0).sum() for f in fitted))
    if padded:
        logger.info("%d windows run past a contig end: padded with N there", padded)
    return len(table)


def _bed_rows(model: LoadedModel, out: pd.DataFrame) -> pd.DataFrame:
    """BED6 + per-task probabilities of scored regions."""
    probabilities = out[[f"probability_{task}" for task in model.tasks]]
    bed = out[["chrom", "start", "end", "name"]].copy()
    bed["score"] = np.rint(1000 * probabilities.max(axis=1).to_numpy()).astype(int)
    bed["strand"] = "."
    return pd.concat([bed, probabilities], axis=1)


#: File name endings read as FASTA by ``predict_file`` (anything else is BED).
FASTA_ENDINGS = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")


def predict_file(
    model: LoadedModel,
    path: str,
    tsv_path: str,
    genome: str | None = None,
    *,
    both_strands: bool = False,
) -> int:
    """Score a FASTA file's records, or a BED file's regions on ``genome`` (by its ending).

    Parameters
    ----------
    model : LoadedModel
    path : str
        FASTA (``FASTA_ENDINGS``) or BED file.
    tsv_path : str
        Output TSV (see ``predict_fasta`` and ``predict_regions``).
    genome : str, optional
        Indexed genome FASTA; required for BED input.
    both_strands : bool, default False
        Average each window with its reverse complement.

    Returns
    -------
    int
        Number of sequences or regions scored.
    """
    if path.endswith(FASTA_ENDINGS):
        return predict_fasta(model, path, tsv_path, both_strands=both_strands)
    if genome is None:
        raise InputError("a BED input needs the genome its coordinates refer to", path)
    regions = region_table(read_bed(path), genome, path)
    return predict_regions(model, regions, genome, tsv_path, source=path, both_strands=both_strands)
