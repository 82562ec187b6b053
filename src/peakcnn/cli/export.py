"""``peakcnn export``: write a trained model as TorchScript and ONNX, with its metadata."""

from __future__ import annotations

import argparse

from peakcnn.apply.cli import add_model_arguments, model_from_args, run_reporting_errors


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to TorchScript and ONNX with its metadata",
        description="Write <prefix>.ts (TorchScript), <prefix>.onnx and <prefix>.export.json. "
        "Both model files carry the window length, tasks, alphabet order, validation "
        "thresholds and training data hash, give the same logits as the PyTorch model "
        "(largest difference reported), and are accepted by predict/scan/variants.",
    )
    add_model_arguments(parser, thresholds=True)
    parser.add_argument("-o", "--prefix", required=True, help="output path without suffix")
    parser.add_argument(
        "--check-windows", type=int, default=64, help="random windows the exports are checked on"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn export``."""

    def body() -> int:
        from peakcnn.apply.export import export_model

        args.device = "cpu"
        export_model(model_from_args(args, data_hash=True), args.prefix, check_n=args.check_windows)
        return 0

    return run_reporting_errors("export", body)
