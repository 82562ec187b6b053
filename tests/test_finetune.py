"""Fine-tuning: weights copied, head re-initialised, freezing, compatibility and leak checks.

Real training on planted toy splits (CACGTG at the centre of positives).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers import make_tiny_project, planned_jobs, snakemake

from peakcnn.data.splitfile import save_split
from peakcnn.devices import set_seed
from peakcnn.errors import InputError
from peakcnn.training.config import TrainConfig
from peakcnn.training.finetune import (
    Finetune,
    frozen_names,
    head_keys,
    overlapping,
    set_frozen,
    start_from_source,
)
from peakcnn.training.loop import train_epoch
from peakcnn.training.optim import build_setup
from peakcnn.training.train import train_model

SMALL = {"filters": [8, 8, 8], "kernels": [7, 5, 3], "pools": [2, 2, 2], "dense": [16, 8]}
LENGTH = 100


def planted_split(path: Path, n: int, seed: int, chrom: str, n_tasks: int = 1) -> None:
    """Windows ``chrom``:0.., one in two positive (CACGTG at the centre); task 2 is random."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, LENGTH))
    labels = np.arange(n) % 2
    codes[labels == 1, LENGTH // 2 : LENGTH // 2 + 6] = [1, 0, 1, 2, 3, 2]
    y = np.stack([labels, rng.integers(0, 2, n)], 1)[:, :n_tasks]
    x = np.eye(4, dtype=np.uint8)[codes].transpose(0, 2, 1).copy()
    starts = np.arange(n) * LENGTH
    table = pd.DataFrame(
        {"chrom": chrom, "start": starts, "end": starts + LENGTH, "pad_left": 0, "pad_right": 0}
    )
    table["name"] = [f"{chrom}:{s}" for s in starts]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_split(str(path), x, y.astype(np.uint8), table, ["toy", "random"][:n_tasks])


def make_run(folder: Path, chroms: dict, n_tasks: int = 1) -> Path:
    """A run folder like the workflow's: ``split/`` and ``dataset/{train,val,test}.npz``."""
    (folder / "split").mkdir(parents=True, exist_ok=True)
    for seed, split in enumerate(("train", "val", "test")):
        n = 192 if split == "train" else 64
        planted_split(folder / "dataset" / f"{split}.npz", n, seed, chroms[split], n_tasks)
    return folder


def train_run(folder: Path, epochs: int = 2, finetune: dict | None = None, **options) -> dict:
    """Train basset on a run folder into ``models/basset/``; return its report."""
    out = folder / "models" / "basset"
    settings = {"architecture": SMALL, "epochs": epochs, "batch_size": 32, "patience": 0}
    return train_model(
        str(folder / "dataset" / "train.npz"),
        str(folder / "dataset" / "val.npz"),
        str(out / "model.pt"),
        str(out / "history.tsv"),
        str(out / "train.json"),
        threads=1,
        finetune=finetune,
        **{**settings, "seed": 3, "device": "cpu", "amp": "none", **options},
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A pretrained single-task basset on chromosome ``a`` (train) / ``b`` (val, test)."""
    run = make_run(tmp_path_factory.mktemp("source"), {"train": "a", "val": "b", "test": "b"})
    train_run(run, epochs=3)
    return run / "models" / "basset" / "model.pt"


def parameters(path_or_module) -> dict:
    """Trainable parameters by name (from a model.pt, or a module)."""
    if isinstance(path_or_module, torch.nn.Module):
        return {k: v.detach().clone() for k, v in path_or_module.named_parameters()}
    state = torch.load(path_or_module, weights_only=True)["state_dict"]
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return {k: v for k, v in state.items() if not k.endswith(buffers)}


def setup_from(source: Path, n_tasks: int, **finetune) -> tuple:
    """A fresh basset run (seeded) started from ``source``: (setup, frozen, report, fresh)."""
    config = TrainConfig.from_section(architecture=SMALL, epochs=3, lr=0.02, device="cpu")
    hyperparameters = {"length": LENGTH, "n_tasks": n_tasks, **SMALL}
    set_seed(5)
    setup = build_setup(
        "basset",
        hyperparameters,
        config,
        steps_per_epoch=4,
        pos_weight=None,
        device=torch.device("cpu"),
    )
    fresh = parameters(setup.core)
    frozen, report = start_from_source(
        Finetune(source=str(source), **finetune),
        setup,
        ("basset", hyperparameters),
        config,
        steps_per_epoch=4,
    )
    return setup, frozen, report, fresh


def test_weights_are_copied_and_the_head_kept_for_the_same_tasks(source):
    setup, frozen, report, fresh = setup_from(source, n_tasks=1)
    stored = torch.load(source, weights_only=True)["state_dict"]
    copied = setup.core.state_dict()
    assert set(copied) == set(stored)
    for key, value in stored.items():
        assert torch.equal(copied[key], value), key
    assert not torch.equal(fresh["layers.0.weight"], copied["layers.0.weight"])
    assert report["head_reinitialised"] is False and frozen == set()
    assert report["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert report["tasks"] == ["toy"] and report["train_json"]["model"] == "basset"


def test_head_is_reinitialised_when_the_task_count_differs(source):
    setup, _, report, fresh = setup_from(source, n_tasks=2)
    head = head_keys("basset", {"length": LENGTH, "n_tasks": 2, **SMALL})
    assert head and all(key.startswith("layers.") for key in head)
    stored = torch.load(source, weights_only=True)["state_dict"]
    copied = setup.core.state_dict()
    for key in head:  # the fresh, seeded head of two outputs
        assert copied[key].shape[0] == 2 and torch.equal(copied[key], fresh[key])
    body = [key for key in stored if key not in head]
    assert body and all(torch.equal(copied[key], stored[key]) for key in body)
    assert report["head_reinitialised"] is True and report["source_n_tasks"] == 1


def test_multi_task_source_with_rc_average_starts_a_single_task_model(tmp_path):
    pretrain = make_run(tmp_path / "multi", {"train": "a", "val": "b", "test": "b"}, n_tasks=2)
    train_run(pretrain, epochs=1, rc_average=True)
    source = pretrain / "models/basset/model.pt"
    setup, _, report, fresh = setup_from(source, n_tasks=1)
    stored = torch.load(source, weights_only=True)["state_dict"]  # RCAverage: "model." keys
    head = head_keys("basset", {"length": LENGTH, "n_tasks": 1, **SMALL})
    copied = setup.core.state_dict()
    assert all(
        torch.equal(copied[key], stored[f"model.{key}"]) for key in copied if key not in head
    )
    assert all(torch.equal(copied[key], fresh[key]) and copied[key].shape[0] == 1 for key in head)
    assert report["head_reinitialised"] is True and report["tasks"] == ["toy", "random"]


def test_body_learning_rate_factor_makes_two_groups(source):
    setup, _, _, _ = setup_from(source, n_tasks=1, body_lr_factor=0.1)
    assert [group["lr"] for group in setup.optimizer.param_groups] == pytest.approx([2e-3, 2e-2])
    assert sum(len(g["params"]) for g in setup.optimizer.param_groups) == len(
        list(setup.core.parameters())
    )


def one_epoch(setup, data: str, epoch: int, frozen: set, freeze_epochs: int) -> dict:
    """Train one epoch on the split file ``data``; return the parameters before it."""
    data = np.load(data)
    before = parameters(setup.core)
    set_frozen(setup.core, frozen, epoch, freeze_epochs)
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"][:, :1].astype(np.float32))
    generator = torch.Generator().manual_seed(0)
    train_epoch(
        setup.core, x, y, setup.optimizer, setup.loss_fn, 32, generator, torch.device("cpu")
    )
    return before


@pytest.mark.parametrize("freeze", ["all_but_head", "convolutions"])
def test_frozen_parameters_stay_until_freeze_epochs_end(source, freeze):
    setup, frozen, report, _ = setup_from(source, 1, freeze=freeze, freeze_epochs=1)
    head = head_keys("basset", {"length": LENGTH, "n_tasks": 1, **SMALL})
    assert head == {"layers.22.weight", "layers.22.bias"}
    assert frozen == frozen_names(setup.core, freeze, head)
    conv = {f"layers.{i}.{p}" for i in (0, 1, 5, 6, 10, 11) for p in ("weight", "bias")}
    assert frozen == (conv if freeze == "convolutions" else set(parameters(setup.core)) - head)
    data = report["source_split"]
    before = one_epoch(setup, data, 1, frozen, 1)
    after = parameters(setup.core)
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    moved = [k for k in after if k not in frozen]
    assert moved and all(not torch.equal(before[k], after[k]) for k in moved)
    one_epoch(setup, data, 2, frozen, 1)  # freeze_epochs over: everything trains
    final = parameters(setup.core)
    weights = [k for k in frozen if k.endswith("weight")]  # (a bias before a BatchNorm has
    assert weights and [k for k in weights if torch.equal(after[k], final[k])] == []  # no grad)


def test_train_model_records_the_source_and_keeps_a_frozen_body(source, tmp_path):
    run = make_run(tmp_path / "target", {"train": "c", "val": "b", "test": "b"}, n_tasks=2)
    report = train_run(
        run,
        epochs=1,
        finetune={
            "source": str(source),
            "freeze": "all_but_head",
            "freeze_epochs": 1,
            "test_path": str(run / "dataset/test.npz"),
        },
    )
    init = report["init_from"]
    assert init["source"] == str(source) and init["head_reinitialised"] is True
    assert init["overlapping_windows"] == 0 and init["checked_windows"] == 128
    saved = json.loads((run / "models/basset/train.json").read_text())["init_from"]
    assert saved["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    body_before, body_after = parameters(source), parameters(run / "models/basset/model.pt")
    head = head_keys("basset", {"length": LENGTH, "n_tasks": 2, **SMALL})
    body = [k for k in body_before if k not in head and not k.endswith("num_batches_tracked")]
    assert body and all(torch.equal(body_before[k], body_after[k]) for k in body)
    assert math.isfinite(report["best_val_auroc"])


def test_another_architecture_is_refused_naming_both(source, tmp_path):
    run = make_run(tmp_path / "target", {"train": "c", "val": "b", "test": "b"})
    with pytest.raises(InputError, match=r"cannot start basset .* from .*model\.pt .*filters"):
        train_run(run, finetune={"source": str(source)}, architecture={**SMALL, "filters": [4] * 3})
    assert not (run / "models/basset/model.pt").exists()


def test_source_trained_on_target_test_windows_is_refused_unless_allowed(source, tmp_path):
    run = make_run(tmp_path / "target", {"train": "c", "val": "b", "test": "a"})
    finetune = {"source": str(source), "test_path": str(run / "dataset/test.npz")}
    with pytest.raises(InputError, match=r"64 of 128 val/test windows overlap training windows"):
        train_run(run, epochs=1, finetune=finetune)
    assert not (run / "models/basset/model.pt").exists()
    report = train_run(run, epochs=1, finetune={**finetune, "allow_overlap": True})
    assert report["init_from"]["allow_overlap"] is True
    assert report["init_from"]["overlapping_windows"] == 64


def test_overlap_of_intervals_is_half_open():
    source = (np.array(["a", "a", "b"]), np.array([0, 500, 0]), np.array([100, 900, 50]))
    target = (
        np.array(["a", "a", "a", "b", "c"]),
        np.array([100, 450, 950, 49, 0]),
        np.array([200, 501, 990, 60, 10]),
    )
    assert overlapping(source, target).tolist() == [False, True, False, True, False]


# --- the workflow: dataset B fine-tunes from dataset A's basset ---------------------------------


def finetune_project(folder: Path) -> tuple[Path, dict]:
    """A tiny project: dataset A (pretraining), B (half of A's peaks) fine-tuned from A."""
    workdir = make_tiny_project(folder)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    tiny = config["datasets"].pop("tiny")
    peaks = Path(tiny["peaks"]["source"].removeprefix("file://"))
    half = workdir / "half.bed"
    lines = peaks.read_text().splitlines()
    half.write_text("\n".join(lines[:1] + lines[1::2]) + "\n")
    finetune = {"dataset": "A", "freeze": "all_but_head", "freeze_epochs": 1}
    config["datasets"] = {
        "A": tiny,
        "B": {"genome": tiny["genome"], "peaks": {"source": str(half)}, "finetune": finetune},
    }
    config["models"] = ["basset"]
    config["split"]["gap"] = 1000  # position blocks fit the 50 kb chromosomes (dataset C)
    config["train"].update(epochs=2, seeds=1)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    return workdir, config


@pytest.mark.workflow
def test_workflow_chains_pretraining_and_refuses_a_leaking_source(tmp_path):
    workdir, config = finetune_project(tmp_path)
    target = "results/B/models/basset/train.json"
    assert planned_jobs(workdir, target)["train_model"] == 2  # A's basset, then B's
    result = snakemake(workdir, target)
    assert result.returncode == 0, result.stderr[-3000:]
    source = workdir / "results/A/models/basset/model.pt"
    init = json.loads((workdir / target).read_text())["init_from"]
    assert init["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert init["overlapping_windows"] == 0 and init["checked_windows"] > 0
    assert init["freeze"] == "all_but_head" and init["train_json"]["model"] == "basset"
    checkpoint = torch.load(source, weights_only=True)  # a changed source (its content: a
    first = next(k for k in checkpoint["state_dict"] if k.endswith("layers.0.weight"))
    checkpoint["state_dict"][first] += 0.01  # touch is no change to snakemake)
    torch.save(checkpoint, source)  # retrains the fine-tuned model only
    assert planned_jobs(workdir, target).get("train_model") == 1

    # C: A's peaks on A's training chromosomes only, split in position blocks there: its
    # val/test windows are windows A trained on.
    regions = pd.read_csv(workdir / "results/A/split/regions.bed", sep="\t", header=None)
    train_chroms = set(regions[regions[3] == "train"][0])
    lines = (workdir / "half.bed").read_text().splitlines()
    leaky = workdir / "leaky.bed"
    leaky.write_text("\n".join(line for line in lines if line.split("\t")[0] in train_chroms))
    config["datasets"]["C"] = {
        "genome": config["datasets"]["A"]["genome"],
        "peaks": {"source": str(leaky)},
        "finetune": {"dataset": "A"},
    }
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    refused = snakemake(workdir, "results/C/models/basset/train.json")
    log = (workdir / "logs/train_model/C/basset.log").read_text()
    assert refused.returncode != 0
    assert re.search(r"\d+ of \d+ val/test windows overlap training windows of the source", log)
    assert "allow_overlap: true" in log
    assert not (workdir / "results/C/models/basset/model.pt").exists()
    config["datasets"]["C"]["finetune"]["allow_overlap"] = True
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    accepted = snakemake(workdir, "results/C/models/basset/train.json")
    assert accepted.returncode == 0, accepted.stderr[-3000:]
    init = json.loads((workdir / "results/C/models/basset/train.json").read_text())["init_from"]
    assert init["allow_overlap"] is True and init["overlapping_windows"] > 0


@pytest.mark.workflow
def test_scratch_candidate_trains_both_and_select_model_chooses_on_validation(tmp_path):
    workdir, config = finetune_project(tmp_path)
    config["datasets"]["B"]["finetune"]["scratch_candidate"] = True
    config["train"]["seeds"] = 2
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    target = "results/B/eval/best.json"
    jobs = planned_jobs(workdir, target)
    assert jobs["train_model"] == 5  # A: the source seed; B: 2 fine-tuned + 2 from scratch
    result = snakemake(workdir, target)
    assert result.returncode == 0, result.stderr[-3000:]
    models = workdir / "results/B/models"
    for run, finetuned in (("basset", True), ("basset-seed1", True), ("basset-scratch", False),
                           ("basset-scratch-seed1", False)):  # fmt: skip
        report = json.loads((models / run / "train.json").read_text())
        assert ("init_from" in report) == finetuned, run
        assert report["seed"] == (1 if run.endswith("seed1") else 0)
    table = pd.read_csv(workdir / "results/B/eval/candidates.tsv", sep="\t")
    assert set(table["candidate"]) == {
        "basset", "basset-seed1", "basset-scratch", "basset-scratch-seed1",
        "basset-ensemble", "basset-scratch-ensemble",
    }  # fmt: skip
    best = json.loads((workdir / target).read_text())
    assert best["chosen"] == table.loc[table["val_auroc"].idxmax(), "candidate"]
    # the flag is no fine-tuning setting: dropping it retrains nothing, and A stays alone
    config["datasets"]["B"]["finetune"]["scratch_candidate"] = False
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    assert "train_model" not in planned_jobs(workdir, target)


@pytest.mark.workflow
def test_workflow_refuses_a_source_dataset_that_is_not_in_the_config(tmp_path):
    workdir, config = finetune_project(tmp_path)
    config["datasets"]["B"]["finetune"]["dataset"] = "nowhere"
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n")
    assert result.returncode != 0
    assert "datasets.B.finetune: dataset 'nowhere' is not one of ['A', 'B']" in (
        result.stdout + result.stderr
    )
