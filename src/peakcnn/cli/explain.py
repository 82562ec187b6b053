"""``peakcnn explain``: SHAP attributions of one model, or averaged over several (fold models)."""

from __future__ import annotations

import argparse
from pathlib import Path

from peakcnn.apply.cli import run_reporting_errors

#: Options of ``peakcnn.interpret.attribute.ChunkOptions`` offered here: name, type, help.
OPTIONS = (
    ("n_windows", int, "top-scoring positives explained (default 100)", 100),
    ("n_shuffles", int, "dinucleotide-shuffled references per window (default 20)", 20),
    ("batch_pairs", int, "sequence-reference pairs per SHAP batch (default 20)", 20),
    ("seed", int, "seed of the shuffles (default 0)", 0),
    ("additivity_tolerance", float, "largest SHAP additivity error, logits (default 1e-3)", 1e-3),
    ("ism_windows", int, "top windows also explained by ISM (default 10)", 10),
    ("ism_width", int, "central bases mutated by ISM (default 100)", 100),
    ("logo_windows", int, "windows drawn as sequence logos (default 5)", 5),
    ("logo_width", int, "bases per logo (default 60)", 60),
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help="SHAP attributions of a split's top positives, averaged over several models",
        description="Explain the top-scoring positives of a split (dataset/<split>.npz) with "
        "DeepSHAP, as the attribution stage does, with every model given (e.g. the fold "
        "models, results/<dataset>/fold*/models/<model>), and write the mean over models of "
        "the SHAP values and hypothetical contributions in the layout of one model's "
        "attribution folder: shap.npz, modisco/ohe.npz, modisco/hypothetical.npz (the inputs "
        "of `modisco motifs`), logos.png and qc.json (each model's additivity check).",
    )
    parser.add_argument(
        "model",
        nargs="+",
        help="model.pt files or run folders, an ensemble.json or its folder, or "
        "results/<dataset>/folds",
    )
    parser.add_argument("--data", required=True, help="encoded split, e.g. dataset/test.npz")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--task", help="task explained: its name or index (default the first)")
    for name, kind, text, default in OPTIONS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)
    parser.add_argument(
        "--explainer", default="auto", help="auto (the checkpoints'), or a SHAP explainer name"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``peakcnn explain``."""

    def body() -> int:
        from peakcnn.interpret.ensemble import attribute_ensemble

        folder = Path(args.output)
        task = int(args.task) if args.task is not None and args.task.isdigit() else args.task
        attribute_ensemble(
            args.model,
            args.data,
            str(folder / "shap.npz"),
            str(folder / "logos.png"),
            str(folder / "qc.json"),
            task=task,
            explainer=args.explainer,
            device=args.device,
            threads=args.threads,
            **{name: getattr(args, name) for name, *_ in OPTIONS},
        )
        return 0

    return run_reporting_errors("explain", body)
