"""``peakcnn scan``: tile a genome with a trained model; score tracks and called regions."""

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
    """Add the ``scan`` subcommand."""
    from peakcnn.apply.scan import CHUNK

    parser = subparsers.add_parser(
        "scan",
        help="scan a genome (or contigs/regions): bigWig + bedGraph of the score, called regions",
        description="Cut the genome (or --contigs, or --regions) into bins of --stride bp, score "
        "each with the model window centred on it, and write per task <prefix>.<task>.bw and "
        ".bedGraph of the probability, plus <prefix>.called.bed: runs of bins at or above the "
        "threshold chosen on validation (the run's metrics.json). Streams chunk by chunk: "
        "memory does not grow with the genome.",
    )
    add_model_arguments(parser, thresholds=True, ensemble=True)
    parser.add_argument("--genome", required=True, help="indexed, uncompressed genome FASTA")
    parser.add_argument("-o", "--prefix", required=True, help="output path prefix")
    parser.add_argument("--stride", type=int, required=True, help="bin size and step, in bp")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--contigs", nargs="+", help="scan these contigs only")
    where.add_argument("--regions", help="scan these regions only (BED)")
    parser.add_argument(
        "--chunk", type=int, default=CHUNK, help=f"windows per batch (default {CHUNK})"
    )
    add_both_strands_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn scan``."""

    def body() -> int:
        from peakcnn.apply.predict import region_table
        from peakcnn.apply.scan import scan_genome
        from peakcnn.apply.sequences import read_bed

        if args.stride < 1:
            raise InputError(f"--stride {args.stride} must be a positive number of bp (e.g. 50)")
        regions = None
        if args.regions:
            regions = region_table(read_bed(args.regions), args.genome, args.regions)
        scan_genome(
            model_from_args(args),
            args.genome,
            args.prefix,
            stride=args.stride,
            contigs=args.contigs,
            regions=regions,
            chunk=args.chunk,
            both_strands=args.both_strands,
        )
        return 0

    return run_reporting_errors("scan", body)
