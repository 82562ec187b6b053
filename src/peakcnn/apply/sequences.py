"""Inputs as model windows: FASTA records and genome regions, centred and padded or cropped.

A sequence or region of another length than the model's is centred on the model's window:
longer ones are cropped evenly on both sides, shorter ones padded with N (all-zero one-hot
columns, as N and other IUPAC codes are in training). Both are counted and logged.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peakcnn.data.contigs import reconcile_names
from peakcnn.data.encode import COUNT_COLUMNS, encode_bytes, encode_windows
from peakcnn.data.genome import chromosome_sizes, fasta_descriptions
from peakcnn.errors import InputError

logger = logging.getLogger(__name__)

_REGION = re.compile(r"^(?P<chrom>[^\s:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


@dataclass
class FastaRecord:
    """One FASTA record: its name (first word of the header), bases and header line number."""

    name: str
    sequence: bytes
    line: int


def open_text(path: str):
    """Open a plain or gzip-compressed text file."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)


def read_fasta(path: str) -> Iterator[FastaRecord]:
    """Yield the records of a FASTA file (plain or gzipped), one at a time.

    Raises
    ------
    InputError
        For text before the first header, a record with no bases, or a file with no records.
    """
    name, line_number, chunks = None, 0, []
    seen = 0
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    yield _finish(path, name, chunks, line_number)
                    seen += 1
                words = line[1:].split(maxsplit=1)
                if not words:
                    raise InputError("header without a name; name every record", path, number)
                name, line_number, chunks = words[0], number, []
            elif line:
                if name is None:
                    raise InputError(
                        "sequence before the first '>' header; is this FASTA?", path, number
                    )
                chunks.append(line)
    if name is not None:
        yield _finish(path, name, chunks, line_number)
        seen += 1
    if not seen:
        raise InputError("no FASTA records ('>' headers) found; give a FASTA file", path)


def _finish(path: str, name: str, chunks: list[str], line: int) -> FastaRecord:
    """Close one record, refusing an empty one."""
    if not chunks:
        raise InputError(f"record {name!r} has no bases; remove it or add its sequence", path, line)
    return FastaRecord(name, "".join(chunks).encode("ascii"), line)


def centred_start(size: int, length: int) -> int:
    """Offset of a ``length`` window centred on a sequence of ``size`` bp (negative: padded)."""
    return (size - length) // 2


def encode_records(records: list[FastaRecord], length: int) -> tuple[np.ndarray, pd.DataFrame]:
    """One-hot encode FASTA records into model windows, centred and padded/cropped.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 4, length)
    pandas.DataFrame
        Per record: ``name``, ``length`` (its own), ``window_offset`` (window start in the
        record; negative when padded), ``resized`` (``padded``/``cropped``/empty) and the
        counts of ``COUNT_COLUMNS``.
    """
    x = np.empty((len(records), 4, length), dtype=np.uint8)
    counts = np.empty((len(records), len(COUNT_COLUMNS)), dtype=np.int64)
    offsets = np.array([centred_start(len(r.sequence), length) for r in records], dtype=np.int64)
    for row, (record, offset) in enumerate(zip(records, offsets, strict=True)):
        raw = np.frombuffer(record.sequence, dtype=np.uint8)
        encode_bytes(raw, np.array([offset]), length, out=(x, counts, np.array([row])))
    sizes = np.array([len(r.sequence) for r in records], dtype=np.int64)
    table = pd.DataFrame(
        {
            "name": [r.name for r in records],
            "length": sizes,
            "window_offset": offsets,
            "resized": np.where(sizes > length, "cropped", np.where(sizes < length, "padded", "")),
        }
    )
    for i, column in enumerate(COUNT_COLUMNS):
        table[column] = counts[:, i]
    return x, table


def log_resized(table: pd.DataFrame, length: int, what: str) -> None:
    """Log how many inputs were padded or cropped to the model's window length."""
    for kind in ("padded", "extended", "cropped"):
        n = int((table["resized"] == kind).sum())
        if n:
            logger.info(
                "%d of %d %s %s to the model's %d bp, centred", n, len(table), what, kind, length
            )


def parse_region(text: str) -> tuple[str, int, int]:
    """Parse ``chrom:start-end`` (1-based, inclusive, as samtools; commas allowed) to BED.

    Returns
    -------
    tuple of (str, int, int)
        Chromosome, 0-based start, end.
    """
    match = _REGION.match(text.strip())
    if not match:
        raise InputError(f"region {text!r} is not chrom:start-end (e.g. Chr1:1001-1200)")
    start, end = (int(match[k].replace(",", "")) for k in ("start", "end"))
    if start < 1 or end < start:
        raise InputError(f"region {text!r} needs 1 <= start <= end (1-based, inclusive)")
    return match["chrom"], start - 1, end


def read_bed(path: str) -> pd.DataFrame:
    """Read the first 3 (and name) columns of a BED file; header lines are skipped.

    Returns
    -------
    pandas.DataFrame
        ``chrom, start, end, name, line`` (name defaults to ``chrom:start-end``).
    """
    rows = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\r\n").split("\t")
            try:
                chrom, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise InputError(
                    "not a BED line (tab-separated chrom, start, end); fix or remove it",
                    path,
                    number,
                ) from None
            if start < 0 or end < start:
                raise InputError(
                    f"start {start} / end {end} out of order; fix the line", path, number
                )
            name = (
                fields[3]
                if len(fields) > 3 and fields[3] not in ("", ".")
                else f"{chrom}:{start}-{end}"
            )
            rows.append((chrom, start, end, name, number))
    if not rows:
        raise InputError("no regions; give a BED file with at least one line", path)
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "line"])


def check_genome(path: str) -> None:
    """Refuse a missing or compressed genome FASTA (windows are read from the raw file)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
    except OSError as error:
        raise InputError(
            f"cannot read the genome ({error.strerror}); check the path", path
        ) from None
    if magic == b"\x1f\x8b":
        raise InputError(
            "the genome is gzip-compressed; decompress it (gunzip, or bgzip -d) and pass that",
            path,
        )


def match_contigs(
    chroms: list[str], genome: str, source: str, lines: list[int] | None = None
) -> dict[str, str]:
    """Map input contig names to genome records (as for peaks) or fail naming the first miss.

    Parameters
    ----------
    chroms : list of str
        Contig of each input row.
    genome : str
        Indexed genome FASTA.
    source : str
        The input file (or ``"--region"``), for the error.
    lines : list of int, optional
        Line of each input row, for the error.
    """
    check_genome(genome)
    mapping, missing = reconcile_names(sorted(set(chroms)), fasta_descriptions(genome), {})
    if missing:
        first = next(i for i, chrom in enumerate(chroms) if chrom in missing)
        raise InputError(
            f"contig {chroms[first]!r} is not in the genome {genome} (nor a Chr/chr/number "
            f"variant of a record); contigs {sorted(missing)} are missing: use the genome "
            "these coordinates refer to, or rename them",
            source,
            None if lines is None else lines[first],
        )
    return mapping


def encode_regions(
    regions: pd.DataFrame, genome: str, length: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """One-hot encode model windows centred on genome regions (N beyond contig ends).

    Parameters
    ----------
    regions : pandas.DataFrame
        ``chrom`` (a genome record), ``start``, ``end`` (0-based, half open).
    genome : str
        Indexed, uncompressed genome FASTA.
    length : int
        Model window length.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 4, length)
    pandas.DataFrame
        ``regions`` plus ``window_start``, ``window_end``, ``resized`` and the padded-base
        count of each window.
    """
    centre = (regions["start"].to_numpy(np.int64) + regions["end"].to_numpy(np.int64)) // 2
    starts = centre - length // 2
    sizes = chromosome_sizes(genome)
    windows = pd.DataFrame({"chrom": regions["chrom"].to_numpy(), "start": starts, "pad_left": 0})
    x, _ = encode_windows(windows, genome, length)
    table = regions.copy()
    table["window_start"] = starts
    table["window_end"] = starts + length
    span = (regions["end"] - regions["start"]).to_numpy()
    table["resized"] = np.where(span > length, "cropped", np.where(span < length, "extended", ""))
    ends = np.array([sizes[c] for c in regions["chrom"]], dtype=np.int64)
    table["padded_bases"] = np.maximum(0, -starts) + np.maximum(0, starts + length - ends)
    return x, table
