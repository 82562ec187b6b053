"""``peakcnn variants``: score the effect of variants (VCF or TSV) with a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from peakcnn.apply.cli import add_model_arguments, model_from_args, run_reporting_errors
from peakcnn.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``variants`` subcommand."""
    from peakcnn.apply.variants import MAX_REF_MISMATCH

    parser = subparsers.add_parser(
        "variants",
        help="score variants (VCF or chrom/pos/ref/alt TSV): ref vs alt allele per task",
        description="Score each ALT allele on windows centred on it (ref and alt haplotype, "
        "both strands averaged): per task ref/alt probability, their difference, the logit "
        "difference (alt - ref, the natural log odds ratio) and the log2 odds ratio. Records "
        "that cannot be scored go to the skipped table with a reason each; REF alleles that "
        "differ from the genome are counted, and too many of them stop the run.",
    )
    add_model_arguments(parser, ensemble=True)
    parser.add_argument(
        "--variants", required=True, help="VCF (plain or bgzipped) or TSV chrom, pos, ref, alt"
    )
    parser.add_argument("--genome", required=True, help="indexed, uncompressed genome FASTA")
    parser.add_argument("-o", "--output", required=True, help="output TSV of variant scores")
    parser.add_argument(
        "--skipped", help="output TSV of skipped variants (default: <output>.skipped.tsv)"
    )
    parser.add_argument(
        "--indels",
        choices=("score", "skip"),
        default="score",
        help="score indels with length-aware centring (default) or skip them with a reason",
    )
    parser.add_argument(
        "--max-ref-mismatch",
        type=float,
        default=MAX_REF_MISMATCH,
        help=f"largest fraction of REF alleles that may differ from the genome "
        f"(default {MAX_REF_MISMATCH})",
    )
    return parser


def skipped_path(output: str) -> str:
    """Default path of the skipped-variants table beside the scores."""
    path = Path(output)
    stem = path.name.removesuffix(".tsv")
    return str(path.with_name(f"{stem}.skipped.tsv"))


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn variants``."""

    def body() -> int:
        from peakcnn.apply.variants import score_variants

        if not 0.0 <= args.max_ref_mismatch <= 1.0:
            raise InputError(f"--max-ref-mismatch {args.max_ref_mismatch} must be in [0, 1]")
        score_variants(
            model_from_args(args),
            args.variants,
            args.genome,
            args.output,
            args.skipped or skipped_path(args.output),
            indels=args.indels == "score",
            max_ref_mismatch=args.max_ref_mismatch,
        )
        return 0

    return run_reporting_errors("variants", body)
