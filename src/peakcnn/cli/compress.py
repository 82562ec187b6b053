"""``peakcnn compress``: int8-quantize, prune and distil a trained model; benchmark them."""

from __future__ import annotations

import argparse
import json

from peakcnn.apply.cli import MODEL_HELP, run_reporting_errors
from peakcnn.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``compress`` subcommand."""
    parser = subparsers.add_parser(
        "compress",
        help="make smaller, faster models (int8, pruned, distilled) and benchmark them",
        description="Compress a trained Basset-style model: int8 post-training static "
        "quantization (int8/model.ts, inference only), structured pruning of whole conv "
        "filters with a short fine-tune (pruned-<sparsity>/model.pt), distillation into a "
        "smaller student (distilled/model.pt). Then compare them with the original on the "
        "test split: AUROC/AUPRC with bootstrap intervals and paired differences, file size, "
        "parameters, CPU windows/s (compress.tsv, compress.png). See docs/compress.md.",
    )
    parser.add_argument("model", help=MODEL_HELP.split(", or a")[0])
    parser.add_argument(
        "--dataset",
        required=True,
        help="the run's dataset folder with train.npz, val.npz, test.npz "
        "(results/<dataset>/dataset)",
    )
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--methods",
        default="quantize,prune,distil",
        help="comma-separated among quantize, prune, distil (default all)",
    )
    parser.add_argument(
        "--sparsity",
        default="0.25,0.5",
        help="comma-separated shares of conv filters pruned (default 0.25,0.5)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs after pruning")
    parser.add_argument("--distil-epochs", type=int, default=10, help="distillation epochs")
    parser.add_argument(
        "--teacher", action="append", default=[], help="another teacher model (an ensemble)"
    )
    parser.add_argument(
        "--student-scale",
        type=float,
        default=0.5,
        help="student filters and dense units relative to the model's (default 0.5)",
    )
    parser.add_argument(
        "--student", help="student Basset arguments as JSON, e.g. '{\"filters\": [32, 64, 64]}'"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="distillation weight of the label loss (0-1)"
    )
    parser.add_argument(
        "--temperature", type=float, default=2.0, help="distillation temperature (> 0)"
    )
    parser.add_argument(
        "--soft-loss",
        choices=("bce", "mse"),
        default="bce",
        help="loss on the teacher: BCE on tempered probabilities or MSE on logits",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument(
        "--time", type=float, default=1.0, help="seconds per throughput measurement"
    )
    return parser


def _floats(text: str, option: str) -> list[float]:
    """Parse comma-separated numbers, or raise InputError naming the option."""
    try:
        return [float(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise InputError(f"{option} {text!r} must be comma-separated numbers") from None


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn compress``."""

    def body() -> int:
        from peakcnn.compress.run import compress_run

        try:
            student = json.loads(args.student) if args.student else None
        except ValueError as error:
            raise InputError(f"--student is not JSON ({error})") from None
        compress_run(
            args.model,
            args.dataset,
            args.output,
            methods=[m.strip() for m in args.methods.split(",") if m.strip()],
            sparsities=_floats(args.sparsity, "--sparsity"),
            teachers=args.teacher,
            student_scale=args.student_scale,
            student_hyperparameters=student,
            distillation={
                "alpha": args.alpha,
                "temperature": args.temperature,
                "soft": args.soft_loss,
            },
            epochs=args.epochs,
            distil_epochs=args.distil_epochs,
            seed=args.seed,
            n_boot=args.bootstrap,
            seconds=args.time,
        )
        return 0

    return run_reporting_errors("compress", body)
