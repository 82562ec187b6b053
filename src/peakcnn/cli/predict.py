"""``peakcnn predict``: score sequences or regions with a trained model."""

from __future__ import annotations

import argparse

from peakcnn.apply.cli import (
    add_both_strands_argument,
    add_model_arguments,
    model_from_args,
    run_reporting_errors,
)
from peakcnn.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="score sequences (FASTA) or regions (BED, chrom:start-end) with a trained model",
        description="Score sequences from a FASTA, regions from a BED (with --genome) or "
        "chrom:start-end regions; writes a TSV (probability and logit per task) and, for "
        "regions, a BED scored 0-1000. Inputs of another length than the model's window are "
        "centred and padded with N or cropped (counted in the log).",
    )
    add_model_arguments(parser, ensemble=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fasta", help="sequences to score (plain or gzipped FASTA)")
    source.add_argument("--bed", help="regions to score (BED; needs --genome)")
    source.add_argument(
        "--region",
        action="append",
        help="chrom:start-end (1-based, inclusive); repeat for more (needs --genome)",
    )
    parser.add_argument("--genome", help="indexed, uncompressed genome FASTA for --bed/--region")
    parser.add_argument("-o", "--output", required=True, help="output TSV")
    parser.add_argument("--output-bed", help="output BED of scored regions (--bed/--region)")
    add_both_strands_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn predict``."""
    return run_reporting_errors("predict", lambda: _predict(args))


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from peakcnn.apply.predict import predict_fasta, predict_regions
    from peakcnn.apply.sequences import parse_region, read_bed

    if args.fasta and args.output_bed:
        raise InputError("--output-bed needs regions (--bed/--region), not --fasta")
    if not args.fasta and not args.genome:
        raise InputError("--bed/--region need --genome (the FASTA the coordinates refer to)")
    model = model_from_args(args)
    if args.fasta:
        predict_fasta(model, args.fasta, args.output, both_strands=args.both_strands)
        return 0
    if args.bed:
        regions, source = read_bed(args.bed), args.bed
    else:
        rows = [(*parse_region(text), text) for text in args.region]
        regions = pd.DataFrame(rows, columns=["chrom", "start", "end", "name"])
        source = "--region"
    predict_regions(
        model,
        regions,
        args.genome,
        args.output,
        args.output_bed,
        source=source,
        both_strands=args.both_strands,
    )
    return 0
