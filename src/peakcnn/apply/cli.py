"""Command-line pieces shared by ``peakcnn predict/scan/variants/export``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from peakcnn.apply.ensemble import Ensemble, load_models
from peakcnn.apply.loading import LoadedModel, load_model
from peakcnn.devices import resolve_device, set_threads
from peakcnn.errors import InputError

MODEL_HELP = (
    "trained model: the model.pt of a run, its run folder (results/<dataset>/models/<run>), "
    "or a .ts/.onnx file written by `peakcnn export`"
)


ENSEMBLE_HELP = (
    "; several (e.g. results/<dataset>/fold*/models/<model>), an ensemble.json or its folder "
    "(results/<dataset>/folds/<model>), or results/<dataset>/folds make an ensemble: the mean "
    "of the members' calibrated probabilities and of their logits (docs/apply.md)"
)


def add_model_arguments(
    parser: argparse.ArgumentParser, thresholds: bool = False, ensemble: bool = False
) -> None:
    """Add ``model``, ``--device``, ``--threads`` (and threshold options) to a subparser.

    With ``ensemble``, ``model`` takes one or more models (``peakcnn.apply.ensemble``).
    """
    if ensemble:
        parser.add_argument("model", nargs="+", help=MODEL_HELP + ENSEMBLE_HELP)
    else:
        parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    if thresholds:
        parser.add_argument(
            "--metrics",
            help="metrics.json to take the validation threshold from "
            "(default: the run's own eval/<run>/metrics.json, or the one stored in an export)",
        )
        parser.add_argument(
            "--threshold", type=float, help="probability threshold for every task (overrides)"
        )


def model_from_args(args: argparse.Namespace, data_hash: bool = False) -> LoadedModel | Ensemble:
    """Load the model (or the ensemble of models) named on the command line onto the device."""
    set_threads(args.threads)
    if isinstance(args.model, list):
        return load_models(
            args.model,
            resolve_device(args.device),
            metrics=getattr(args, "metrics", None),
            threshold=getattr(args, "threshold", None),
        )
    return load_model(
        args.model,
        resolve_device(args.device),
        metrics=getattr(args, "metrics", None),
        threshold=getattr(args, "threshold", None),
        data_hash=data_hash,
    )


def run_reporting_errors(command: str, body: Callable[[], int]) -> int:
    """Run a command with INFO logging to stderr; bad input becomes one line and exit code 2."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        return body()
    except InputError as error:
        print(f"peakcnn {command}: error: {error}", file=sys.stderr)
        return 2


def add_both_strands_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--both-strands``: average each window with its reverse complement."""
    parser.add_argument(
        "--both-strands",
        action="store_true",
        help="average each window with its reverse complement (built in for rc_average models)",
    )
