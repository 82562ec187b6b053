import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from peakcnn.dataset import save_split
from peakcnn.devices import resolve_device
from peakcnn.model import Basset, build_model, load_checkpoint
from peakcnn.train import train_model


def test_seed_basset_matches_the_reference_design():
    model = Basset(length=800)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert [c.kernel_size[0] for c in convs] == [19, 11, 7]
    assert [c.out_channels for c in convs] == [64, 128, 128]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.MaxPool1d) for m in model.modules()) == 3
    dropouts = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.1, 0.2, 0.3, 0.5, 0.5]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3 and linears[-1].out_features == 1
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 5 and len({id(r) for r in relus}) == 5
    assert not any(r.inplace for r in relus)
    assert model(torch.zeros(3, 4, 800)).shape == (3, 1)


def test_multi_task_output_and_unknown_model():
    assert build_model("basset", length=200, n_tasks=4)(torch.zeros(2, 4, 200)).shape == (2, 4)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer9000", length=200, n_tasks=1)


def test_resolve_device_auto_and_refuses_missing_cuda():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")


def planted_split(path, n, length, seed):
    """One-hot random sequences; positives carry CACGTG at the centre."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    labels = np.arange(n) % 2
    motif = [1, 0, 1, 2, 3, 2]
    codes[labels == 1, length // 2 : length // 2 + 6] = motif
    x = np.eye(4, dtype=np.uint8)[codes].transpose(0, 2, 1).copy()
    import pandas as pd

    table = pd.DataFrame(
        {
            "label": labels,
            "chrom": "c",
            "start": np.arange(n) * length,
            "end": np.arange(n) * length + length,
            "pad_left": 0,
            "pad_right": 0,
            "name": [f"w{i}" for i in range(n)],
        }
    )
    save_split(str(path), x, table, "toy")


SMALL = {"filters": [8, 8, 8], "kernels": [7, 5, 3], "pools": [2, 2, 2], "dense": [16, 8]}


def train_toy(tmp_path, tag, epochs=3, device="cpu", n_train=256):
    planted_split(tmp_path / "train.npz", n_train, 100, 0)
    planted_split(tmp_path / "val.npz", 128, 100, 1)
    out = {k: str(tmp_path / f"{tag}.{k}") for k in ("pt", "tsv", "json")}
    report = train_model(
        str(tmp_path / "train.npz"),
        str(tmp_path / "val.npz"),
        out["pt"],
        out["tsv"],
        out["json"],
        architecture=SMALL,
        epochs=epochs,
        batch_size=32,
        patience=0,
        seed=7,
        device=device,
        threads=1,
    )
    return report, out


def test_training_learns_a_planted_motif_and_writes_outputs(tmp_path, device):
    report, out = train_toy(tmp_path, "a", epochs=8, device=device, n_train=768)
    with open(out["tsv"]) as handle:
        history = list(csv.DictReader(handle, delimiter="\t"))
    assert len(history) == 8 == report["epochs_run"]
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    assert report["best_val_auroc"] > 0.9
    assert json.loads(open(out["json"]).read())["best_epoch"] == report["best_epoch"]
    model = load_checkpoint(out["pt"])
    assert not model.training
    assert report["best_val_auroc"] == max(float(row["val_auroc"]) for row in history)


def test_training_is_deterministic_on_cpu(tmp_path):
    _, first = train_toy(tmp_path, "a")
    _, second = train_toy(tmp_path, "b")
    assert open(first["tsv"]).read().split("\n")[0] == open(second["tsv"]).read().split("\n")[0]
    rows = [
        [r.split("\t")[:5] for r in open(p["tsv"]).read().splitlines()] for p in (first, second)
    ]
    assert rows[0] == rows[1]
    a, b = (torch.load(p["pt"], weights_only=True)["state_dict"] for p in (first, second))
    assert all(torch.equal(a[k], b[k]) for k in a)
