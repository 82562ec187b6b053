"""What a user types on the Sequence page, as one model window: DNA, a FASTA record or a region.

A pasted sequence (plain or one FASTA record) of another length than the model's window is
centred on it, cropped or padded with N, exactly as ``peakcnn predict --fasta`` does; a region
``chrom:start-end`` (1-based, inclusive) is read from the run's genome and the window centred on
its midpoint, as ``peakcnn predict --region``. Every refusal is an ``InputError`` with a
one-line message meant for the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from peakcnn.apply.sequences import (
    FastaRecord,
    encode_records,
    encode_regions,
    match_contigs,
    parse_region,
)
from peakcnn.data.genome import chromosome_sizes, open_fasta
from peakcnn.errors import InputError

#: Letters accepted in a pasted sequence (any case): ACGT, N and the other IUPAC codes (read as N).
DNA_LETTERS = frozenset("ACGTNRYKMSWBDHV")
#: Longest pasted sequence or region, in bp (longer ones are refused, not cropped).
MAX_INPUT_BP = 50_000
#: A pasted sequence must cover at least this fraction of the model's window.
MIN_WINDOW_FRACTION = 0.5
#: One word with a colon: meant as a region (a colon is never DNA), even when malformed.
_REGION_LIKE = re.compile(r"^[^>\s]\S*:\S*$")
#: Contig names listed in the message for an unknown contig.
SHOWN_CONTIGS = 5


@dataclass
class Query:
    """One model window built from the user's input.

    Attributes
    ----------
    kind : {"sequence", "region"}
    label : str
        The record name or the region as typed.
    x : numpy.ndarray of uint8, shape (1, 4, length)
        The one-hot window.
    window : str
        Its bases (``N`` for padding).
    context : bytes
        The input with ``length`` bp of flank on both sides (genome bases, or N), for
        windows centred on single bases (what-ifs).
    window_in_context : int
        Where the window starts in ``context``.
    chrom : str or None
        Genome record of a region.
    first_position : int
        1-based coordinate of the window's first base: on the contig for a region, in the
        pasted sequence otherwise (below 1 where the window is padded).
    notes : list of str
        What was done to fit the input to the window (cropped, padded, N counts).
    span : str
        A region's window on its contig, clipped to the contig with the N padding named
        (empty for a pasted sequence).
    """

    kind: str
    label: str
    x: np.ndarray
    window: str
    context: bytes
    window_in_context: int
    chrom: str | None
    first_position: int
    notes: list[str] = field(default_factory=list)
    span: str = ""

    def position(self, index: int) -> int:
        """1-based coordinate of base ``index`` of the window."""
        return self.first_position + index


def parse_query(text: str, length: int, genome: str | None) -> Query:
    """Read the Sequence page's input into a model window.

    Parameters
    ----------
    text : str
        DNA, one FASTA record, or ``chrom:start-end``.
    length : int
        The model's window length.
    genome : str or None
        The run's indexed genome FASTA (for regions).

    Returns
    -------
    Query

    Raises
    ------
    InputError
        Empty input, letters that are not DNA, several FASTA records, a sequence shorter than
        ``MIN_WINDOW_FRACTION`` of the window or longer than ``MAX_INPUT_BP``, a malformed
        region, an unknown contig, coordinates past the contig end.
    """
    text = text.strip()
    if not text:
        raise InputError("nothing to score: paste DNA, a FASTA record, or type chrom:start-end")
    if _REGION_LIKE.match(text):
        return region_query(text, length, genome)
    name, bases = _sequence_text(text)
    return sequence_query(name, bases, length)


def _sequence_text(text: str) -> tuple[str, str]:
    """Name and bases (whitespace removed) of pasted DNA or of one FASTA record."""
    if not text.startswith(">"):
        return "pasted sequence", "".join(text.split())
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith(">")]
    if len(headers) > 1:
        raise InputError(
            f"{len(headers)} FASTA records pasted; paste one (score many with `peakcnn predict "
            "--fasta`)"
        )
    words = lines[0][1:].split(maxsplit=1)
    name = words[0] if words else "pasted record"
    return name, "".join("".join(lines[1:]).split())


def _check_letters(bases: str) -> None:
    """Refuse anything but DNA letters, naming the first offender and its position."""
    bad = next((i for i, letter in enumerate(bases) if letter.upper() not in DNA_LETTERS), None)
    if bad is not None:
        raise InputError(
            f"{bases[bad]!r} at base {bad + 1} is not DNA: use A, C, G, T or N (other IUPAC "
            "codes read as N); paste one sequence, or one FASTA record starting with '>'"
        )


def sequence_query(name: str, bases: str, length: int) -> Query:
    """Build the window centred on pasted bases (cropped or N-padded as ``peakcnn predict``)."""
    if not bases:
        raise InputError(f"{name!r} has no bases; paste its sequence")
    _check_letters(bases)
    shortest = int(np.ceil(MIN_WINDOW_FRACTION * length))
    if len(bases) < shortest:
        raise InputError(
            f"sequence too short: {len(bases)} bp; the model reads {length} bp windows, paste at "
            f"least {shortest} bp (shorter ones than the window are padded with N)"
        )
    if len(bases) > MAX_INPUT_BP:
        raise InputError(
            f"sequence too long: {len(bases)} bp, at most {MAX_INPUT_BP} bp here (the central "
            f"{length} bp are scored); score long sequences with `peakcnn scan`"
        )
    raw = bases.encode("ascii")
    x, table = encode_records([FastaRecord(name, raw, 1)], length)
    offset = int(table["window_offset"].iloc[0])
    context = b"N" * length + raw + b"N" * length
    start = length + offset
    notes = _fit_notes(table.iloc[0], length, "sequence")
    return Query(
        "sequence",
        name,
        x,
        context[start : start + length].decode("ascii").upper(),
        context,
        start,
        None,
        offset + 1,
        notes,
    )


def region_query(text: str, length: int, genome: str | None) -> Query:
    """Build the window centred on a genome region (``chrom:start-end``, 1-based inclusive)."""
    if genome is None:
        raise InputError(
            f"no genome for this dataset (results/<dataset>/genome/genome.fa) to read {text} "
            "from; paste the sequence instead"
        )
    chrom, start, end = parse_region(text)
    sizes = chromosome_sizes(genome)
    try:
        record = match_contigs([chrom], genome, "coordinates")[chrom]
    except InputError:
        names = list(sizes)
        shown = ", ".join(names[:SHOWN_CONTIGS]) + (
            f" and {len(names) - SHOWN_CONTIGS} more" if len(names) > SHOWN_CONTIGS else ""
        )
        raise InputError(
            f"contig {chrom!r} is not in the genome of this run ({shown}); type one of those "
            "(Chr1, chr1 and 1 match the same record)"
        ) from None
    size = sizes[record]
    if end > size:
        raise InputError(
            f"{text} runs off the end of {record} ({size:,} bp); give coordinates within 1-{size}"
        )
    if end - start > MAX_INPUT_BP:
        raise InputError(
            f"region of {end - start:,} bp, at most {MAX_INPUT_BP:,} bp here; score long regions "
            "with `peakcnn scan --regions`"
        )
    regions = pd.DataFrame({"chrom": [record], "start": [start], "end": [end], "name": [text]})
    x, table = encode_regions(regions, genome, length)
    window_start = int(table["window_start"].iloc[0])
    context = _genome_slice(genome, record, window_start - length, window_start + 2 * length)
    notes = _fit_notes(table.iloc[0], length, "region")
    window = context[length : 2 * length].decode("ascii").upper()
    span = _window_span(record, window_start, length, size)
    return Query("region", text, x, window, context, length, record, window_start + 1, notes, span)


def _window_span(chrom: str, window_start: int, length: int, size: int) -> str:
    """``chrom:first-last`` of a window (1-based, clipped to the contig), naming its N padding."""
    before, after = max(0, -window_start), max(0, window_start + length - size)
    span = f"{chrom}:{window_start + before + 1}-{window_start + length - after}"
    padding = [f"{before} N before it" if before else "", f"{after} N after it" if after else ""]
    padding = [words for words in padding if words]
    return span + (f" ({', '.join(padding)})" if padding else "")


def _genome_slice(genome: str, chrom: str, start: int, end: int) -> bytes:
    """Bases ``[start, end)`` of a contig, N where the span runs past either end."""
    fasta = open_fasta(genome)
    try:
        size = len(fasta[chrom])
        inside = str(fasta[chrom][max(start, 0) : min(end, size)])
    finally:
        fasta.close()
    return (b"N" * max(0, -start)) + inside.encode("ascii") + (b"N" * max(0, end - size))


def _fit_notes(row: pd.Series, length: int, what: str) -> list[str]:
    """Sentences saying how an input was fitted to the window, and its unknown bases."""
    notes = []
    if row["resized"] == "cropped":
        notes.append(f"{what} longer than the model's {length} bp: its central {length} bp scored")
    elif row["resized"] in ("padded", "extended"):
        how = "padded with N" if row["resized"] == "padded" else "extended with genome sequence"
        notes.append(f"{what} shorter than the model's {length} bp: centred and {how}")
    for column, words in (
        ("padded_bases", "bases of padding (N) past an end"),
        ("n_bases", "N bases"),
        ("other_iupac_bases", "other IUPAC codes (read as N)"),
    ):
        if column in row and int(row[column]):
            notes.append(f"{int(row[column])} {words} in the window")
    return notes
