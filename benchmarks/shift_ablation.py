"""Shift robustness against centred accuracy: train candidate defaults, test them moved by ±50 bp.

For each candidate training setting (``CANDIDATES``; choose with ``--candidates``) a ``basset``
is trained on a built dataset of the workflow (its ``train``/``val``/``test.npz``, training
windows read with a shift margin of at least the largest ``max_shift``), then its test windows
are re-read from the genome moved by every shift in ``--shifts`` (default -50..50 bp in 10 bp
steps) and scored. Printed and written per candidate: centred test AUROC, the AUROC at ±10 and
±50 bp (mean of both directions) and their losses, and the AUROC averaged over all shifts, each
with a percentile bootstrap 95% CI (the same resampled windows for every shift), plus the
training time. A candidate meets the three numbers when centred >= 0.975, the ±10 bp loss
<= 0.01 and the ±50 bp loss <= 0.03; the fallback rule picks the best shift-averaged AUROC among
those with centred AUROC >= 0.955.

    python3 benchmarks/shift_ablation.py --run results/bzip11_bzip10 --candidates shift20,shift20_rc
    python3 benchmarks/shift_ablation.py --run <run> --reuse seed=results/x/models/basset
    python3 benchmarks/shift_ablation.py --plot-table benchmarks/shift_ablation_demo.tsv

``--run`` is a run folder of the workflow (``dataset/``, ``genome/genome.fa``); its training
windows need a margin (``train.max_shift`` when it was built) >= every candidate's shift; a
smaller candidate shift crops it. Results go to ``--out`` (``benchmarks/shift_ablation/``,
git-ignored): one folder per candidate, ``ablation.tsv`` and ``ablation.png``; a rerun trains
only the candidates that are missing. ``--plot-table`` only redraws the curve from a table of
point estimates and CIs (``shift_ablation_demo.tsv``: the demo's candidates as reported in
benchmarks/RESULTS.md) into ``--png`` (docs/shift-ablation.png).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from peakcnn.data.splitfile import load_split  # noqa: E402
from peakcnn.evaluation.metrics import auroc  # noqa: E402
from peakcnn.evaluation.robustness import shifted_windows  # noqa: E402
from peakcnn.io import save_png, write_tsv  # noqa: E402
from peakcnn.models.checkpoint import load_checkpoint  # noqa: E402
from peakcnn.models.inference import predict_logits  # noqa: E402
from peakcnn.training.train import train_model  # noqa: E402

_RC = {"augment_rc": True, "rc_average": True}
_COSINE = {"schedule": "cosine", "patience": 100}
_ADAMW = {
    "optimizer": "adamw",
    "lr": 0.001,
    "weight_decay": 0.01,
    "schedule": "one_cycle",
    "patience": 100,
}

#: The training settings every candidate starts from: the project's ``train`` defaults before
#: shift robustness was measured (no shifts, no RC, SGD lr 0.02 constant, 15 epochs, float32).
SEED = {
    "epochs": 15,
    "optimizer": "sgd",
    "lr": 0.02,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "none",
    "patience": 4,
    "augment_rc": False,
    "max_shift": 0,
    "rc_average": False,
    "amp": "none",
}

#: Candidate settings over ``SEED`` (other keys from config/config.yaml's ``train``).
CANDIDATES = {
    "seed": {},
    "shift20": {"max_shift": 20},
    "shift20_rc": {**_RC, "max_shift": 20},
    "shift50_rc": {**_RC, "max_shift": 50},
    "shift20_rc_seed1": {**_RC, "max_shift": 20, "seed": 1},
    "shift20_rc_seed2": {**_RC, "max_shift": 20, "seed": 2},
    "shift30_rc": {**_RC, "max_shift": 30},
    "shift20_rc_e25": {**_RC, "max_shift": 20, "epochs": 25},
    "shift20_rc_cos": {**_RC, **_COSINE, "max_shift": 20},
    "shift20_rc_cos25": {**_RC, **_COSINE, "max_shift": 20, "epochs": 25},
    "shift30_rc_cos": {**_RC, **_COSINE, "max_shift": 30},
    "shift50_rc_cos": {**_RC, **_COSINE, "max_shift": 50},
    "shift20_rc_adamw": {**_RC, **_ADAMW, "max_shift": 20},
    "shift50_rc_adamw": {**_RC, **_ADAMW, "max_shift": 50},
    "shift20_rc_adamw_seed1": {**_RC, **_ADAMW, "max_shift": 20, "seed": 1},
    "shift20_rc_bf16": {**_RC, "max_shift": 20, "amp": "bf16"},
    "shift20_rc_bf16_seed1": {**_RC, "max_shift": 20, "amp": "bf16", "seed": 1},
}


def cropped_train(run: Path, margin: int, cache: Path) -> Path:
    """The run's ``train.npz`` with its shift margin cropped to ``margin`` (cached)."""
    source = run / "dataset/train.npz"
    split = load_split(str(source))
    have = int(split.get("margin", 0))
    if have == margin:
        return source
    if have < margin:
        raise SystemExit(f"{source}: margin {have} < max_shift {margin}; build it with more")
    path = cache / f"train.margin{margin}.npz"
    if not path.exists():
        cut = have - margin
        split["x"] = split["x"][:, :, cut : split["x"].shape[2] - cut]
        split["margin"] = np.array(margin)
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.npz")  # another run may read it meanwhile
        np.savez(partial, **split)
        partial.replace(path)
    return path


def train_candidate(name: str, run: Path, folder: Path, threads: int) -> float:
    """Train one candidate into ``folder``; return the seconds it took."""
    settings = yaml.safe_load((REPO / "config/config.yaml").read_text())["train"]
    settings = {k: v for k, v in settings.items() if k != "seeds"} | SEED | CANDIDATES[name]
    train = cropped_train(run, settings.get("max_shift", 0), folder.parent / "cache")
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train_model(
        str(train),
        str(run / "dataset/val.npz"),
        str(folder / "model.pt"),
        str(folder / "history.tsv"),
        str(folder / "train.json"),
        model="basset",
        threads=threads,
        **settings,
    )
    return time.perf_counter() - start


def shifted_logits(model_path: Path, run: Path, shifts: list[int]) -> np.ndarray:
    """Logits (first task) of the test windows moved by each shift: (len(shifts), n)."""
    test = load_split(str(run / "dataset/test.npz"))
    model = load_checkpoint(str(model_path))
    fasta, length = str(run / "genome/genome.fa"), test["x"].shape[2]
    rows = []
    for shift in shifts:
        x = (
            test["x"]
            if shift == 0
            else shifted_windows(fasta, test["chrom"], test["start"], length, shift)
        )
        rows.append(predict_logits(model, x, torch.device("cpu"))[:, 0])
    return np.stack(rows)


def summary(labels: np.ndarray, logits: np.ndarray, shifts: list[int], n_boot: int) -> dict:
    """Centred, ±10, ±50 and shift-averaged AUROC with bootstrap CIs (shared resamples)."""

    def values(rows: np.ndarray, y: np.ndarray) -> dict:
        per_shift = {s: auroc(y, rows[i]) for i, s in enumerate(shifts)}
        at = lambda d: np.mean([per_shift[d], per_shift[-d]])  # noqa: E731
        return {
            "centred": per_shift[0],
            "pm10": at(10),
            "pm50": at(50),
            "averaged": float(np.mean(list(per_shift.values()))),
        }

    point = values(logits, labels)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(n_boot):
        sample = rng.integers(0, len(labels), len(labels))
        draws.append(values(logits[:, sample], labels[sample]))
    result = {}
    for key, value in point.items():
        result[key] = value
        result[f"{key}_ci95"] = (
            np.percentile([d[key] for d in draws], [2.5, 97.5]).round(4).tolist()
        )
    for key in ("pm10", "pm50"):
        loss = [d["centred"] - d[key] for d in draws]
        result[f"loss_{key}"] = point["centred"] - point[key]
        result[f"loss_{key}_ci95"] = np.percentile(loss, [2.5, 97.5]).round(4).tolist()
    result["per_shift"] = {s: round(auroc(labels, logits[i]), 4) for i, s in enumerate(shifts)}
    return result


def plot(table: pd.DataFrame, path: Path) -> None:
    """Centred against shift-averaged test AUROC, one point per candidate with CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8.5, 4.5))
    colours = plt.get_cmap("tab20").colors
    for index, row in table.iterrows():
        x, y = row["averaged"], row["centred"]
        axis.errorbar(
            x,
            y,
            xerr=[[x - row["averaged_ci95"][0]], [row["averaged_ci95"][1] - x]],
            yerr=[[y - row["centred_ci95"][0]], [row["centred_ci95"][1] - y]],
            marker="osD^vPX"[index % 7],
            color=colours[index % len(colours)],
            capsize=3,
            label=row["candidate"],
        )
    axis.axhline(0.955, color="grey", linestyle=":", label="centred 0.955")
    axis.set_xlabel("test AUROC averaged over shifts -50..50 bp")
    axis.set_ylabel("centred test AUROC")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.tight_layout()
    save_png(figure, path)


def table_with_cis(path: Path) -> pd.DataFrame:
    """Read a TSV of candidates with ``<x>``, ``<x>_low``, ``<x>_high`` for centred/averaged."""
    table = pd.read_csv(path, sep="\t")
    for key in ("centred", "averaged"):
        table[f"{key}_ci95"] = table[[f"{key}_low", f"{key}_high"]].values.tolist()
    return table


def main() -> None:
    """Train the missing candidates, score them under shifts, write the table and plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a workflow run folder")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--reuse", action="append", default=[], help="name=run folder, trained")
    parser.add_argument("--shifts", default="-50,-40,-30,-20,-10,0,10,20,30,40,50")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/shift_ablation")
    parser.add_argument("--plot-table", type=Path, help="only redraw: a TSV of CIs -> PNG")
    parser.add_argument("--png", type=Path, default=REPO / "docs/shift-ablation.png")
    args = parser.parse_args()
    if args.plot_table:
        plot(table_with_cis(args.plot_table), args.png)
        return
    if args.run is None:
        parser.error("--run is required (or --plot-table)")
    shifts = [int(s) for s in args.shifts.split(",")]
    reuse = dict(item.split("=", 1) for item in args.reuse)
    labels = load_split(str(args.run / "dataset/test.npz"))["y"][:, 0]
    rows = []
    for name in args.candidates.split(","):
        folder = Path(reuse.get(name, args.out / name))
        seconds = None
        if not (folder / "model.pt").exists():
            seconds = train_candidate(name, args.run, folder, args.threads)
        result = summary(
            labels, shifted_logits(folder / "model.pt", args.run, shifts), shifts, args.bootstrap
        )
        rows.append({"candidate": name, "train_s": seconds, **result})
        print(name, {k: v for k, v in result.items() if k != "per_shift"}, flush=True)
    table = pd.DataFrame(rows)
    table["meets_three"] = (
        (table["centred"] >= 0.975) & (table["loss_pm10"] <= 0.01) & (table["loss_pm50"] <= 0.03)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_tsv(args.out / "ablation.tsv", table)
    plot(table, args.out / "ablation.png")
    print(table.drop(columns=["per_shift"]).to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
