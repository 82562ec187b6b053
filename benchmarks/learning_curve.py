"""Learning curve on the demo: from scratch, fine-tuned (frozen, unfrozen), k-mer, by peak count.

Pretrains a multi-task ``basset`` through the workflow on four bZIP-bZIP10 DAP-seq sets of the
demo folder (bZIP1, bZIP2, bZIP44, bZIP53; chr1, the same position blocks as the target), builds
the target dataset (bZIP11-bZIP10, the demo), then trains on seeded draws of the target's
training peaks (``train.subsample``: n = 100, 300, 1000 and all) four candidates per draw:

- ``kmer_baseline``;
- ``scratch``: basset from random weights;
- ``finetune_frozen``: basset started from the pretrained model, convolutions frozen for the
  whole run (dense layers and a new one-task head train);
- ``finetune``: started from it, everything trains, the pretrained body at 0.1 x the head's
  learning rate.

Validation and test are the target's whole splits for every n, so every number is measured on
the same 3,188 test windows. Per draw, the candidate with the best validation AUROC is chosen
(``evaluation.selection.choose_candidate``, the ``select_model`` rule: ties go to the
simplest) and compared with the k-mer baseline on test. Fine-tuning goes through the same
cross-dataset leak check as the workflow (``training.finetune.check_no_overlap``).

    python3 benchmarks/learning_curve.py --cores 2
    python3 benchmarks/learning_curve.py --sizes 100,300 --draws 5   # more draws, small n

Everything lands in ``--workdir`` (``benchmarks/learning_curve/``, git-ignored): the workflow
run, one folder per trained run (``runs/n<n>/draw<d>/<candidate>/``, with its val/test logits),
``runs.tsv`` (one row per run), ``curve.tsv`` (per n and candidate: mean test AUROC over
draws with a two-level bootstrap CI), ``zero_shot.json`` (the pretrained model as it is: its
head best on validation, scored on the target's test), ``differences.tsv`` (fine-tuned minus
scratch, minus the pretrained model as it is, and minus
k-mer, per draw and pooled), ``selection.tsv`` (the choice per draw) and ``curve.png``. A rerun
trains only the runs that are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from peakcnn.evaluation.compare import paired_bootstrap  # noqa: E402
from peakcnn.evaluation.metrics import auprc, auroc, bootstrap_ci  # noqa: E402
from peakcnn.evaluation.selection import choose_candidate  # noqa: E402
from peakcnn.io import save_png, write_tsv  # noqa: E402
from peakcnn.models.catalog import simplicity_rank  # noqa: E402
from peakcnn.models.checkpoint import load_checkpoint  # noqa: E402
from peakcnn.models.inference import predict_logits  # noqa: E402
from peakcnn.training.train import train_model  # noqa: E402

DEMO = REPO / "resources/demo"
TARGET = "bzip11_bzip10"
PRETRAIN = "bzip_pretrain4"
PRETRAIN_SETS = ("bZIP1", "bZIP2", "bZIP44", "bZIP53")
CANDIDATES = ("kmer_baseline", "scratch", "finetune_frozen", "finetune")
# Fine-tuning settings of the two fine-tuned candidates (``training.finetune.Finetune``).
FINETUNE = {
    "finetune_frozen": {"freeze": "convolutions"},  # freeze_epochs: the run's epochs
    "finetune": {"freeze": "none", "body_lr_factor": 0.1},
}


def workflow_config(epochs: int, patience: int) -> dict:
    """The demo config with the pretraining and the target dataset, basset only."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())["datasets"][TARGET]
    peaks = {
        f"{name.lower()}_bzip10": {
            "source": str(DEMO / f"GSE198873_{name}-bZIP10.chr1.narrowPeak.gz")
        }
        for name in PRETRAIN_SETS
    }
    genome = {"source": str(DEMO / "TAIR10.1_chr1.fna.gz"), "sha256": demo["genome"]["sha256"]}
    config["datasets"] = {
        PRETRAIN: {"genome": dict(genome), "peaks": peaks},
        TARGET: {
            "genome": genome,
            "peaks": {"source": str(DEMO / Path(demo["peaks"]["source"]).name)},
        },
    }
    config["models"] = ["basset"]
    config["train"].update(epochs=epochs, patience=patience)
    return config


def prepare(workdir: Path, cores: int, epochs: int, patience: int) -> float:
    """Run the workflow: the pretrained model and the target's split files. Returns seconds."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    config = workflow_config(epochs, patience)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/{PRETRAIN}/models/basset/model.pt"] + [
        f"results/{TARGET}/dataset/{split}.npz" for split in ("train", "val", "test")
    ]
    if all((workdir / target).exists() for target in targets):
        print("workflow outputs there: reused (a changed library would retrain the source)")
        return 0.0
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", str(cores), *targets]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - start


def schedule_for(size: int | None, args: argparse.Namespace, config: dict) -> dict:
    """Epochs and patience of one n: small draws take more, shorter epochs (see the docstring)."""
    if size is None:
        return {"epochs": config["train"]["epochs"], "patience": config["train"]["patience"]}
    if size <= 300:
        return {"epochs": args.small_epochs, "patience": args.small_patience}
    return {"epochs": args.mid_epochs, "patience": args.mid_patience}


def train_one(
    folder: Path, dataset: Path, candidate: str, settings: dict, source: Path, cores: int
):
    """Train one candidate into ``folder`` (model.pt, history.tsv, train.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    finetune = None
    if candidate in FINETUNE:
        finetune = {
            "source": str(source),
            "test_path": str(dataset / "test.npz"),
            **FINETUNE[candidate],
        }
        if candidate == "finetune_frozen":
            finetune["freeze_epochs"] = settings["epochs"]
    return train_model(
        str(dataset / "train.npz"),
        str(dataset / "val.npz"),
        str(folder / "model.pt"),
        str(folder / "history.tsv"),
        str(folder / "train.json"),
        model="kmer_baseline" if candidate == "kmer_baseline" else "basset",
        threads=cores,
        finetune=finetune,
        **settings,
    )


def score(folder: Path, splits: dict) -> dict:
    """Write and return the run's val and test logits (first task) in ``scores.npz``."""
    path = folder / "scores.npz"
    if not path.exists():
        model = load_checkpoint(str(folder / "model.pt"))
        logits = {
            name: predict_logits(model, split["x"], torch.device("cpu"))[:, 0]
            for name, split in splits.items()
        }
        np.savez(path, **logits)
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def run_grid(workdir: Path, args: argparse.Namespace, config: dict) -> pd.DataFrame:
    """Train and score every (n, draw, candidate) not yet done; return one row per run."""
    dataset = workdir / f"results/{TARGET}/dataset"
    source = workdir / f"results/{PRETRAIN}/models/basset/model.pt"
    splits = {name: dict(np.load(dataset / f"{name}.npz")) for name in ("val", "test")}
    base = {k: v for k, v in config["train"].items() if k not in ("seeds",)}
    rows = []
    for size in args.sizes:
        for draw in range(args.draws_all if size is None else args.draws):
            settings = {**base, **schedule_for(size, args, config), "seed": draw}
            settings.update(subsample=size, subsample_seed=draw)
            for candidate in CANDIDATES:
                folder = workdir / "runs" / f"n{size or 'all'}" / f"draw{draw}" / candidate
                if not (folder / "train.json").exists():
                    start = time.perf_counter()
                    train_one(folder, dataset, candidate, settings, source, args.cores)
                    took = time.perf_counter() - start
                    print(f"n={size or 'all'} draw {draw} {candidate}: {took:.0f} s", flush=True)
                report = json.loads((folder / "train.json").read_text())
                scores = score(folder, splits)
                rows.append(
                    {
                        "n": size or "all",
                        "draw": draw,
                        "candidate": candidate,
                        "train_windows": report["train_windows"],
                        "train_positives": report["train_positives"][0],
                        "epochs_run": report.get("epochs_run"),
                        "best_epoch": report.get("best_epoch"),
                        "val_auroc": auroc(splits["val"]["y"][:, 0], scores["val"]),
                        "test_auroc": auroc(splits["test"]["y"][:, 0], scores["test"]),
                        "test_auprc": auprc(splits["test"]["y"][:, 0], scores["test"]),
                        "folder": str(folder.relative_to(workdir)),
                    }
                )
    return pd.DataFrame(rows)


def zero_shot(workdir: Path, splits: dict, n_boot: int) -> dict:
    """The pretrained model as it is: its head best on validation, scored on the target's test."""
    source = workdir / f"results/{PRETRAIN}/models/basset/model.pt"
    model = load_checkpoint(str(source))
    logits = {
        name: predict_logits(model, split["x"], torch.device("cpu"))
        for name, split in splits.items()
    }
    tasks = [str(t) for t in np.load(workdir / f"results/{PRETRAIN}/dataset/val.npz")["tasks"]]
    val = [auroc(splits["val"]["y"][:, 0], logits["val"][:, i]) for i in range(len(tasks))]
    best = int(np.argmax(val))
    labels, scores = splits["test"]["y"][:, 0], logits["test"][:, best]
    np.save(workdir / "zero_shot_test_logits.npy", scores)
    return {
        "head": tasks[best],
        "val_auroc_by_head": dict(zip(tasks, val, strict=True)),
        "test_auroc": auroc(labels, scores),
        "test_auroc_ci95": bootstrap_ci(labels, scores, n_boot, seed=0)["auroc_ci95"],
    }


def two_level_ci(
    labels: np.ndarray, other: list, base: list | None, n_boot: int, seed: int
) -> list:
    """95% CI of the mean over draws of AUROC (``base`` given: of AUROC(other) - AUROC(base)).

    Each resample draws the draws with replacement and the test windows with replacement
    (shared by every draw and both models), so the interval covers both the peak draw and the
    test sample.
    """
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        picked = rng.integers(0, len(other), len(other))
        sample = rng.integers(0, len(labels), len(labels))
        y = labels[sample]
        if y.min() == y.max():
            continue
        deltas = [
            auroc(y, other[i][sample]) - (auroc(y, base[i][sample]) if base is not None else 0.0)
            for i in picked
        ]
        values.append(np.mean(deltas))
    return [float(v) for v in np.percentile(values, [2.5, 97.5])]


def test_scores(workdir: Path, runs: pd.DataFrame, n, candidate: str) -> list:
    """Test logits of every draw of (n, candidate), in draw order."""
    chosen = runs[(runs["n"] == n) & (runs["candidate"] == candidate)].sort_values("draw")
    return [np.load(workdir / folder / "scores.npz")["test"] for folder in chosen["folder"]]


def curve_table(workdir: Path, runs: pd.DataFrame, labels: np.ndarray, n_boot: int) -> pd.DataFrame:
    """Per n and candidate: draws, mean/min/max test AUROC and the two-level bootstrap CI."""
    rows = []
    for (n, candidate), group in runs.groupby(["n", "candidate"], sort=False):
        low, high = two_level_ci(labels, test_scores(workdir, runs, n, candidate), None, n_boot, 0)
        rows.append(
            {
                "n": n,
                "candidate": candidate,
                "draws": len(group),
                "train_windows": int(group["train_windows"].median()),
                "test_auroc_mean": group["test_auroc"].mean(),
                "ci95_low": low,
                "ci95_high": high,
                "test_auroc_min": group["test_auroc"].min(),
                "test_auroc_max": group["test_auroc"].max(),
                "test_auprc_mean": group["test_auprc"].mean(),
                "val_auroc_mean": group["val_auroc"].mean(),
            }
        )
    return pd.DataFrame(rows)


def difference_table(
    workdir: Path, runs: pd.DataFrame, labels: np.ndarray, n_boot: int
) -> pd.DataFrame:
    """Fine-tuned minus scratch and minus k-mer: per draw (paired bootstrap) and pooled."""
    rows = []
    for n in runs["n"].unique():
        for other in ("finetune", "finetune_frozen"):
            for base in ("scratch", "kmer_baseline", "pretrained"):
                first = test_scores(workdir, runs, n, other)
                if base == "pretrained":  # the source as it is (zero_shot): what tuning adds
                    second = [np.load(workdir / "zero_shot_test_logits.npy")] * len(first)
                else:
                    second = test_scores(workdir, runs, n, base)
                for draw, (a, b) in enumerate(zip(first, second, strict=True)):
                    delta = paired_bootstrap(labels, b, a, n_boot, seed=draw)
                    rows.append(
                        _delta_row(
                            n,
                            other,
                            base,
                            str(draw),
                            delta["auroc_delta"],
                            delta["auroc_delta_ci95"],
                        )
                    )
                pooled = float(
                    np.mean(
                        [
                            auroc(labels, a) - auroc(labels, b)
                            for a, b in zip(first, second, strict=True)
                        ]
                    )
                )
                rows.append(
                    _delta_row(
                        n,
                        other,
                        base,
                        "pooled",
                        pooled,
                        two_level_ci(labels, first, second, n_boot, 1),
                    )
                )
    return pd.DataFrame(rows)


def _delta_row(n, other: str, base: str, draw: str, delta: float, ci: list) -> dict:
    """One row of the difference table; ``excludes_0`` when the CI is above or below 0."""
    return {
        "n": n,
        "model": other,
        "minus": base,
        "draw": draw,
        "test_auroc_delta": delta,
        "ci95_low": ci[0],
        "ci95_high": ci[1],
        "excludes_0": ci[0] > 0 or ci[1] < 0,
    }


def selection_table(
    workdir: Path, runs: pd.DataFrame, labels: np.ndarray, n_boot: int
) -> pd.DataFrame:
    """Per draw: the candidate chosen on validation, its test AUROC and its gain over k-mer."""
    simplicity = {
        c: (simplicity_rank("kmer_baseline" if c == "kmer_baseline" else "basset"),)
        for c in CANDIDATES
    }
    rows = []
    for (n, draw), group in runs.groupby(["n", "draw"], sort=False):
        values = dict(zip(group["candidate"], group["val_auroc"], strict=True))
        chosen, _ = choose_candidate(values, simplicity, tolerance=0.0)
        row = group.set_index("candidate").loc[chosen]
        kmer = np.load(
            workdir / group.set_index("candidate").loc["kmer_baseline", "folder"] / "scores.npz"
        )["test"]
        picked = np.load(workdir / row["folder"] / "scores.npz")["test"]
        delta = paired_bootstrap(labels, kmer, picked, n_boot, seed=int(draw))
        ci = delta.get("auroc_delta_ci95", [0.0, 0.0])
        ci_test = bootstrap_ci(labels, picked, n_boot, seed=int(draw))["auroc_ci95"]
        rows.append(
            {
                "n": n,
                "draw": draw,
                "chosen": chosen,
                "val_auroc": row["val_auroc"],
                "test_auroc": row["test_auroc"],
                "test_ci95": f"{ci_test[0]:.3f}-{ci_test[1]:.3f}",
                "minus_kmer": delta["auroc_delta"],
                "minus_kmer_ci95": f"{ci[0]:+.3f} to {ci[1]:+.3f}",
                "worse_than_kmer_on_test": ci[1] < 0,
            }
        )
    return pd.DataFrame(rows)


def plot_curve(curve: pd.DataFrame, all_windows: int, reference: dict, path: Path) -> None:
    """Test AUROC against training peaks (log scale), one line per candidate, CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for candidate, group in curve.groupby("candidate", sort=False):
        x = [all_windows // 2 if n == "all" else int(n) for n in group["n"]]
        y = group["test_auroc_mean"].to_numpy()
        error = np.stack([y - group["ci95_low"], group["ci95_high"] - y])
        axis.errorbar(x, y, yerr=error, marker="o", capsize=3, label=candidate)
    axis.axhline(
        reference["test_auroc"], color="grey", linestyle="--", label="pretrained, no fine-tuning"
    )
    axis.set_xscale("log")
    axis.set_xlabel("training peaks (positive windows; negatives 1:1)")
    axis.set_ylabel("test AUROC (mean over draws, 95% CI)")
    axis.set_title("bZIP11-bZIP10, chr1 test block: learning curve")
    axis.grid(alpha=0.3)
    axis.legend()
    save_png(figure, path)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/learning_curve")
    parser.add_argument(
        "--sizes", default="100,300,1000,all", help="training peaks; all = every one"
    )
    parser.add_argument("--draws", type=int, default=3, help="peak draws (and seeds) per n")
    parser.add_argument("--draws-all", type=int, default=1, help="seeds at n = all")
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--pretrain-patience", type=int, default=3)
    parser.add_argument("--small-epochs", type=int, default=40, help="n <= 300")
    parser.add_argument("--small-patience", type=int, default=8)
    parser.add_argument("--mid-epochs", type=int, default=20, help="300 < n < all")
    parser.add_argument("--mid-patience", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    args.sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    return args


def main() -> None:
    """Prepare, train what is missing, write the tables and the plot."""
    args = parse_args()
    workdir = args.workdir.resolve()
    seconds = prepare(workdir, args.cores, args.pretrain_epochs, args.pretrain_patience)
    print(f"workflow (pretraining, target dataset): {seconds:.0f} s", flush=True)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    runs = run_grid(workdir, args, config)
    splits = {
        n: dict(np.load(workdir / f"results/{TARGET}/dataset/{n}.npz")) for n in ("val", "test")
    }
    reference = zero_shot(workdir, splits, args.bootstrap)
    (workdir / "zero_shot.json").write_text(json.dumps(reference, indent=1))
    print(f"pretrained, no fine-tuning: {reference}")
    labels = splits["test"]["y"][:, 0]
    write_tsv(workdir / "runs.tsv", runs)
    curve = curve_table(workdir, runs, labels, args.bootstrap)
    write_tsv(workdir / "curve.tsv", curve)
    write_tsv(workdir / "differences.tsv", difference_table(workdir, runs, labels, args.bootstrap))
    write_tsv(workdir / "selection.tsv", selection_table(workdir, runs, labels, args.bootstrap))
    has_all = (runs["n"] == "all").any()
    all_windows = int(runs.loc[runs["n"] == "all", "train_windows"].max()) if has_all else 0
    plot_curve(curve, all_windows, reference, workdir / "curve.png")
    for name in ("curve", "differences", "selection"):
        table = pd.read_csv(workdir / f"{name}.tsv", sep="\t")
        print(f"\n## {name}\n" + table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
