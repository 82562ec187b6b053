"""Tiny genomes and run folders with random-weight models, for the tests of ``peakcnn.apply``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from peakcnn.data.splitfile import save_split
from peakcnn.models.checkpoint import save_checkpoint
from peakcnn.models.registry import build_model

REPO_SRC = Path(__file__).resolve().parents[1] / "src"
LENGTH = 100
TASKS = ["leaf", "root"]
ARCHITECTURE = {"filters": [8, 8, 8], "kernels": [5, 3, 3], "pools": [2, 2, 2], "dense": [8, 4]}
CODES = {"A": 0, "C": 1, "G": 2, "T": 3}


def write_genome(folder: Path, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """Two small contigs (a soft-masked stretch, an N run), wrapped at 60 bp per line."""
    rng = np.random.default_rng(seed)
    contigs = {"Chr1": "".join(rng.choice(list("ACGT"), 3000)), "Chr2": ""}
    chr2 = list(rng.choice(list("ACGT"), 2000))
    chr2[400:450] = "N" * 50
    chr2[900:1000] = [base.lower() for base in chr2[900:1000]]
    contigs["Chr2"] = "".join(chr2)
    path = folder / "genome.fa"
    with open(path, "w") as handle:
        for name, bases in contigs.items():
            handle.write(f">{name} test contig\n")
            handle.writelines(bases[i : i + 60] + "\n" for i in range(0, len(bases), 60))
    return path, contigs


def write_run(
    folder: Path, *, rc_average: bool = False, seed: int = 0, tasks=TASKS, name: str = "basset"
) -> Path:
    """A run laid out as the workflow does: model.pt, its metrics.json and dataset splits.

    Returns the ``model.pt`` path. The model has random weights (seeded); BatchNorm statistics
    are set away from the identity so that every layer matters.
    """
    torch.manual_seed(seed)
    own = ARCHITECTURE if name == "basset" else {"k": 3}
    hyper = {"length": LENGTH, "n_tasks": len(tasks), **own}
    if rc_average:
        hyper["rc_average"] = True
    model = build_model(name, **hyper)
    for module in model.modules():
        if name == "kmer_baseline" and isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight)  # built untrained (zeros)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    run = folder / "results" / "demo" / "models" / name
    run.mkdir(parents=True)
    save_checkpoint(str(run / "model.pt"), model, name, hyper)
    dataset = folder / "results" / "demo" / "dataset"
    dataset.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {"chrom": ["Chr1"] * 4, "start": [0, 100, 200, 300], "end": [100, 200, 300, 400]}
    )
    table = table.assign(pad_left=0, pad_right=0, name=[f"w{i}" for i in range(4)])
    for split in ("train", "val"):
        x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (4, LENGTH))].transpose(0, 2, 1)
        y = rng.integers(0, 2, (4, len(tasks))).astype(np.uint8)
        save_split(str(dataset / f"{split}.npz"), x, y, table, list(tasks))
    evaluation = folder / "results" / "demo" / "eval" / name
    evaluation.mkdir(parents=True)
    cuts = {task: 0.3 + 0.1 * t for t, task in enumerate(tasks)}
    if len(tasks) == 1:
        metrics = {"task": tasks[0], "test": {"threshold": cuts[tasks[0]]}}
    else:
        metrics = {
            "task": "macro",
            "tasks": list(tasks),
            "test": {"threshold": 0.5},
            "by_task": {task: {"test": {"threshold": cut}} for task, cut in cuts.items()},
        }
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    return run / "model.pt"


def one_hot(sequence: str) -> np.ndarray:
    """Independent reference encoding: (4, L) uint8, ACGT (any case), anything else zeros."""
    x = np.zeros((4, len(sequence)), dtype=np.uint8)
    for i, base in enumerate(sequence.upper()):
        if base in CODES:
            x[CODES[base], i] = 1
    return x


def genome_window(contigs: dict[str, str], chrom: str, start: int, length: int = LENGTH) -> str:
    """The bases of a window, N beyond either contig end."""
    bases = contigs[chrom]
    return "".join(bases[i] if 0 <= i < len(bases) else "N" for i in range(start, start + length))


def reference_logits(model_path: Path, windows: list[str]) -> np.ndarray:
    """Logits of the checkpoint on windows encoded by ``one_hot`` (plain PyTorch)."""
    from peakcnn.models.checkpoint import load_checkpoint

    model = load_checkpoint(str(model_path))
    x = torch.from_numpy(np.stack([one_hot(w) for w in windows])).float()
    with torch.no_grad():
        return model(x).numpy()
