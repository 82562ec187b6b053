"""Score genetic variants: ref and alt allele windows, both strands, per task effects.

Each ALT allele of a record (multi-allelic records are split, one row per ALT, and say so) is
scored on two windows of the model's length: the reference haplotype and the alternative one,
each centred on its allele (length-aware: an indel's allele sits in the middle of its own
window, the flanks come from the genome). Logits are the mean of both strands. The effect of
an allele is ``logit(alt) - logit(ref)`` (the natural log odds ratio, also given in log2), so
swapping ref and alt flips its sign exactly. An ensemble (``peakcnn.apply.ensemble``) gives
the mean of its members' probabilities and logit differences, plus their spread.

Records that cannot be scored are written to a separate table with one reason each, led by its
kind: ``symbolic_alt``, ``bad_letters``, ``indel_refused`` (``indels=False``),
``allele_too_long``, ``contig_absent``, ``past_contig_end``, ``ref_mismatch``,
``window_off_end``. REF
mismatches are counted, never scored; above ``max_ref_mismatch`` of the records checked the
run fails (a wrong genome build) and writes nothing.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peakcnn.apply.loading import LoadedModel
from peakcnn.apply.scores import WindowScores, effect_spread, members_of
from peakcnn.apply.sequences import check_genome, open_text
from peakcnn.data.contigs import reconcile_names
from peakcnn.data.encode import encode_bytes
from peakcnn.data.genome import chromosome_bytes, fasta_descriptions, open_fasta
from peakcnn.errors import InputError
from peakcnn.io import atomic_path
from peakcnn.logs import throughput

logger = logging.getLogger(__name__)

#: Variants scored per batch (two windows each, both strands).
CHUNK = 2048
#: Default largest fraction of checked REF alleles that may differ from the genome.
MAX_REF_MISMATCH = 0.05
ALLELE_LETTERS = set("ACGTN")
VARIANT_COLUMNS = ["line", "chrom", "pos", "id", "ref", "alt"]


@dataclass
class Variant:
    """One ALT allele of a record: 1-based ``pos``, input ``line``, and a note if split."""

    line: int
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    note: str = ""


def _split_alleles(line: int, chrom: str, pos: int, vid: str, ref: str, alts: list[str]):
    """One ``Variant`` per ALT; a multi-allelic record's rows say which ALT they are."""
    for i, alt in enumerate(alts, start=1):
        note = f"multi-allelic record split: ALT {i} of {len(alts)}" if len(alts) > 1 else ""
        yield Variant(line, chrom, pos, vid, ref, alt, note)


def read_vcf(path: str) -> list[Variant]:
    """Read the variants of a VCF (plain or bgzipped) with pysam, one per ALT allele.

    The ``line`` of each variant is its line in the (decompressed) file.
    """
    import pysam

    with open_text(path) as handle:
        header_lines = 0
        for text in handle:
            if not text.startswith("#"):
                break
            header_lines += 1
    variants: list[Variant] = []
    try:
        with pysam.VariantFile(path) as vcf:
            for number, record in enumerate(vcf, start=header_lines + 1):
                alts = list(record.alts or (".",))
                vid = record.id or "."
                variants += _split_alleles(number, record.chrom, record.pos, vid, record.ref, alts)
    except (ValueError, OSError) as error:
        raise InputError(
            f"not a readable VCF ({error}); give a VCF/VCF.gz or a chrom/pos/ref/alt TSV", path
        ) from None
    return variants


def read_variant_table(path: str) -> list[Variant]:
    """Read a tab-separated ``chrom, pos (1-based), ref, alt`` table (``id`` optional, 5th).

    A first line starting with ``#`` or ``chrom`` is a header; ALT may list alleles by commas.
    """
    variants: list[Variant] = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip() or line.startswith("#") or fields[0].lower() == "chrom":
                continue
            try:
                chrom, pos, ref, alt = fields[0], int(fields[1]), fields[2], fields[3]
            except (IndexError, ValueError):
                raise InputError(
                    "not a variant line (tab-separated chrom, 1-based pos, ref, alt); fix it",
                    path,
                    number,
                ) from None
            vid = fields[4] if len(fields) > 4 and fields[4] else "."
            variants += _split_alleles(number, chrom, pos, vid, ref, alt.split(","))
    return variants


def read_variants(path: str) -> list[Variant]:
    """Read a VCF (by its ``##fileformat=VCF`` first line) or a variant TSV."""
    with open_text(path) as handle:
        first = handle.readline()
    variants = read_vcf(path) if first.startswith("##fileformat=VCF") else read_variant_table(path)
    if not variants:
        raise InputError("no variants; give a VCF or a chrom/pos/ref/alt TSV with records", path)
    return variants


def _allele_problem(variant: Variant, indels: bool, length: int) -> str | None:
    """Reason to skip a variant before looking at the genome, or None."""
    ref, alt = variant.ref.upper(), variant.alt.upper()
    if alt in (".", "*") or alt.startswith("<") or "[" in alt or "]" in alt:
        return f"symbolic_alt: ALT {variant.alt!r} is symbolic or missing, no sequence to score"
    if not set(ref) <= ALLELE_LETTERS or not set(alt) <= ALLELE_LETTERS or not ref or not alt:
        return "bad_letters: an allele has letters other than A, C, G, T, N"
    if len(ref) != len(alt) and not indels:
        return "indel_refused: indels are not scored (--indels skip)"
    if max(len(ref), len(alt)) > length:
        return f"allele_too_long: an allele is longer than the model's {length} bp window"
    return None


def window_bounds(pos0: int, ref_len: int, allele_len: int, length: int) -> tuple[int, int]:
    """Genome span ``[left flank start, right flank end)`` of an allele's centred window.

    The allele (replacing ``ref_len`` genome bases at ``pos0``) sits at offset
    ``(length - allele_len) // 2`` of the window; the flanks fill the rest.
    """
    left = (length - allele_len) // 2
    right = length - allele_len - left
    return pos0 - left, pos0 + ref_len + right


def allele_window(bases: np.ndarray, pos0: int, ref: str, allele: str, length: int) -> bytes:
    """Return the centred ``length`` bp window of the haplotype with ``allele`` for ``ref``."""
    start, end = window_bounds(pos0, len(ref), len(allele), length)
    left, right = bases[start:pos0].tobytes(), bases[pos0 + len(ref) : end].tobytes()
    return left + allele.encode("ascii") + right


def _contig_mapping(variants: list[Variant], genome: str, path: str) -> dict[str, str]:
    """Reconcile variant contig names with the genome as for peaks; none matching is an error."""
    check_genome(genome)
    names = sorted({v.chrom for v in variants})
    mapping, missing = reconcile_names(names, fasta_descriptions(genome), {})
    if not mapping:
        raise InputError(
            f"none of its contigs {names[:5]} is a record of the genome {genome} "
            f"({sorted(fasta_descriptions(genome))[:5]}), even as Chr/chr/number variants; "
            "use the genome the variants were called on, or rename the contigs",
            path,
        )
    if missing:
        logger.warning("contigs not in the genome (their variants are skipped): %s", missing)
    return mapping


def check_variants(
    variants: list[Variant],
    genome: str,
    path: str,
    *,
    length: int,
    indels: bool = True,
    max_ref_mismatch: float = MAX_REF_MISMATCH,
) -> tuple[list[int], dict[int, str], dict[str, str]]:
    """Sort variants into scorable ones and skipped ones with a reason each.

    Returns
    -------
    list of int
        Indices of the variants to score.
    dict of int to str
        Index → reason, for the skipped.
    dict of str to str
        Variant contig → genome record.

    Raises
    ------
    InputError
        When no contig matches the genome, or more than ``max_ref_mismatch`` of the REF
        alleles checked differ from the genome (a wrong genome build).
    """
    mapping = _contig_mapping(variants, genome, path)
    skipped: dict[int, str] = {}
    by_contig: dict[str, list[int]] = {}
    for i, variant in enumerate(variants):
        reason = _allele_problem(variant, indels, length)
        if reason is None and variant.chrom not in mapping:
            reason = f"contig_absent: contig {variant.chrom!r} is not in the genome"
        if reason:
            skipped[i] = reason
        else:
            by_contig.setdefault(mapping[variant.chrom], []).append(i)
    checked = mismatched = 0
    first_mismatch = None
    fasta = open_fasta(genome)
    try:
        for chrom, indices in by_contig.items():
            bases = chromosome_bytes(fasta, chrom)
            for i in indices:
                reason, matched = _genome_problem(variants[i], bases, length)
                checked += matched is not None
                if matched is False:
                    mismatched += 1
                    first_mismatch = first_mismatch or (variants[i], reason)
                if reason:
                    skipped[i] = reason
    finally:
        fasta.close()
    if checked and mismatched / checked > max_ref_mismatch:
        variant, reason = first_mismatch
        raise InputError(
            f"{mismatched} of {checked} REF alleles ({mismatched / checked:.1%}) differ from the "
            f"genome {genome} (first, line {variant.line}: {reason}): a different genome build? "
            f"Use the genome the variants were called on (allowed: {max_ref_mismatch:.1%}, "
            "--max-ref-mismatch)",
            path,
        )
    if mismatched:
        logger.warning("%d of %d REF alleles differ from the genome: skipped", mismatched, checked)
    keep = [i for i in range(len(variants)) if i not in skipped]
    return keep, skipped, mapping


def _genome_problem(variant: Variant, bases: np.ndarray, length: int) -> tuple[str | None, bool]:
    """Reason to skip a variant given its contig's bases, and whether its REF matched.

    The second value is None when REF could not be checked (position past the contig end).
    """
    pos0, size = variant.pos - 1, bases.size
    if pos0 < 0 or pos0 + len(variant.ref) > size:
        return f"past_contig_end: position {variant.pos} is past the contig end ({size} bp)", None
    genome_ref = bases[pos0 : pos0 + len(variant.ref)].tobytes().decode("ascii")
    if genome_ref.upper() != variant.ref.upper():
        return f"ref_mismatch: REF {variant.ref} does not match the genome ({genome_ref})", False
    for allele in (variant.ref, variant.alt):
        start, end = window_bounds(pos0, len(variant.ref), len(allele), length)
        if start < 0 or end > size:
            return f"window_off_end: the {length} bp window runs off the contig ({size} bp)", True
    return None, True


def score_variants(
    model: LoadedModel,
    variants_path: str,
    genome: str,
    scores_path: str,
    skipped_path: str,
    *,
    indels: bool = True,
    max_ref_mismatch: float = MAX_REF_MISMATCH,
) -> dict:
    """Score every variant of a VCF/TSV and write the scores and the skipped records.

    Parameters
    ----------
    model : LoadedModel
    variants_path : str
        VCF (plain or bgzipped) or a chrom/pos/ref/alt TSV.
    genome : str
        Indexed, uncompressed genome FASTA the variants refer to.
    scores_path : str
        Output TSV, one row per variant and task: the variant (``line, chrom, pos, id, ref,
        alt, note``), ``task``, ``ref_probability``, ``alt_probability``,
        ``probability_difference``, ``logit_difference`` (alt - ref: the natural log odds
        ratio) and ``log2_odds_ratio``.
    skipped_path : str
        Output TSV of the variants not scored, with a ``reason`` each.
    indels : bool, default True
        Score indels (length-aware centring); False skips them with a reason.
    max_ref_mismatch : float, default ``MAX_REF_MISMATCH``
        Largest fraction of REF alleles that may differ from the genome.

    Returns
    -------
    dict
        Counts: ``variants`` (ALT alleles read), ``scored``, ``skipped`` and by reason kind.
    """
    variants = read_variants(variants_path)
    keep, skipped, mapping = check_variants(
        variants,
        genome,
        variants_path,
        length=model.length,
        indels=indels,
        max_ref_mismatch=max_ref_mismatch,
    )
    shape = (len(variants), len(model.tasks), members_of(model))
    scores = {allele: WindowScores.empty(*shape) for allele in ("ref", "alt")}
    with throughput("variants", "windows") as rate:
        for chrom, indices in _by_contig(keep, variants, mapping).items():
            fasta = open_fasta(genome)
            try:
                bases = chromosome_bytes(fasta, chrom)
            finally:
                fasta.close()
            for begin in range(0, len(indices), CHUNK):
                part = indices[begin : begin + CHUNK]
                for allele in ("ref", "alt"):
                    x = encode_alleles(variants, part, bases, allele, model.length)
                    scores[allele].put(part, model.scores(x, both_strands=True))
                    rate["count"] += 2 * len(part)  # both strands
    table = effect_table(
        model,
        variants,
        keep,
        {allele: scores[allele].logits for allele in scores},
        {allele: scores[allele].probabilities[keep] for allele in scores},
    )
    table = pd.concat([table, effect_spread(scores, keep)], axis=1)
    skipped_table = pd.DataFrame(
        [[*_fields(variants[i]), reason] for i, reason in sorted(skipped.items())],
        columns=[*VARIANT_COLUMNS, "reason"],
    )
    with ExitStack() as stack:
        for frame, path in ((table, scores_path), (skipped_table, skipped_path)):
            frame.to_csv(stack.enter_context(atomic_path(path)), sep="\t", index=False)
    summary = {
        "variants": len(variants),
        "scored": len(keep),
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(r.split(":")[0] for r in skipped.values())),
        "from_multiallelic_records": sum(bool(v.note) for v in variants),
    }
    logger.info(
        "%(variants)d variants (ALT alleles, %(from_multiallelic_records)d from split "
        "multi-allelic records): %(scored)d scored, %(skipped)d skipped %(skipped_by_reason)s",
        summary,
    )
    return summary


def _by_contig(keep: list[int], variants: list[Variant], mapping: dict) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i in keep:
        groups.setdefault(mapping[variants[i].chrom], []).append(i)
    return groups


def encode_alleles(variants, indices, bases, allele: str, length: int) -> np.ndarray:
    """One-hot windows of one allele ("ref"/"alt") of the given variants (also the web page's)."""
    data = b"".join(
        allele_window(
            bases, variants[i].pos - 1, variants[i].ref, getattr(variants[i], allele), length
        )
        for i in indices
    )
    starts = np.arange(len(indices), dtype=np.int64) * length
    x, _ = encode_bytes(np.frombuffer(data, dtype=np.uint8), starts, length)
    return x


def _fields(variant: Variant) -> list:
    return [variant.line, variant.chrom, variant.pos, variant.id, variant.ref, variant.alt]


def effect_table(
    model: LoadedModel, variants, keep: list[int], logits: dict, probabilities: dict | None = None
) -> pd.DataFrame:
    """Long table of effects: one row per scored variant and task (shared with the web page).

    ``logits`` holds the ``ref`` and ``alt`` logits (n, T) of every variant; ``probabilities``
    those of the ``keep`` rows (default: the model's calibration of the logits).
    """
    rows = []
    if probabilities is None:
        probabilities = {allele: model.probabilities(logits[allele][keep]) for allele in logits}
    for t, task in enumerate(model.tasks):
        ref, alt = (
            logits["ref"][keep, t].astype(np.float64),
            logits["alt"][keep, t].astype(np.float64),
        )
        frame = pd.DataFrame(
            [[*_fields(variants[i]), variants[i].note] for i in keep],
            columns=[*VARIANT_COLUMNS, "note"],
        )
        frame["task"] = task
        frame["ref_probability"] = probabilities["ref"][:, t]
        frame["alt_probability"] = probabilities["alt"][:, t]
        frame["probability_difference"] = frame["alt_probability"] - frame["ref_probability"]
        frame["logit_difference"] = alt - ref
        frame["log2_odds_ratio"] = (alt - ref) / math.log(2)
        frame["order"] = np.arange(len(keep)) * len(model.tasks) + t
        rows.append(frame)
    table = pd.concat(rows, ignore_index=True).sort_values("order", kind="stable")
    return table.drop(columns="order").reset_index(drop=True)
