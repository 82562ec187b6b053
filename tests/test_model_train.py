import csv
import fcntl
import json
import logging
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

import peakcnn.training.train as train_module
from peakcnn.data.splitfile import load_split, save_split
from peakcnn.devices import resolve_device
from peakcnn.models.basset import Basset
from peakcnn.models.catalog import (
    DETERMINISTIC_MODELS,
    FACTS,
    NO_SHAP_MODELS,
    SIMPLICITY,
    architecture_of,
    simplicity_rank,
)
from peakcnn.models.checkpoint import load_checkpoint
from peakcnn.models.inference import predict_logits
from peakcnn.models.layers import RCAverage
from peakcnn.models.registry import (
    MODELS,
    build_model,
    explainer_for,
    is_deterministic,
    is_kmer_baseline,
    supports_shap,
)
from peakcnn.training.config import TrainConfig, resolve_architecture
from peakcnn.training.inputs import subsample_split
from peakcnn.training.loop import train_epoch
from peakcnn.training.monitor import progress_for
from peakcnn.training.optim import (
    compute_pos_weight,
    make_optimizer,
    make_scheduler,
    resolve_amp,
)
from peakcnn.training.train import train_model

REPO = Path(__file__).resolve().parents[1]


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


def planted_split(path, n, length, seed, n_tasks=1, positive_every=2):
    """One-hot random sequences; positives (one in ``positive_every``) carry CACGTG at the centre.

    With ``n_tasks`` 2, the second task is "has GATA at a quarter of the length".
    """
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    labels = (np.arange(n) % positive_every == positive_every - 1).astype(int)
    motif = [1, 0, 1, 2, 3, 2]
    codes[labels == 1, length // 2 : length // 2 + 6] = motif
    second = rng.integers(0, 2, n)
    if n_tasks == 2:
        codes[second == 1, length // 4 : length // 4 + 4] = [2, 0, 3, 0]
    x = np.eye(4, dtype=np.uint8)[codes].transpose(0, 2, 1).copy()
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
    if n_tasks == 2:
        save_split(str(path), x, np.stack([labels, second], 1), table, ["toy", "gata"])
    else:
        save_split(str(path), x, labels[:, None], table, ["toy"])


SMALL = {"filters": [8, 8, 8], "kernels": [7, 5, 3], "pools": [2, 2, 2], "dense": [16, 8]}


def train_toy(tmp_path, tag, epochs=3, device="cpu", n_train=256, **options):
    """Train on planted toy splits; outputs in their own folder ``tmp_path/tag``."""
    if not (tmp_path / "train.npz").exists():
        planted_split(tmp_path / "train.npz", n_train, 100, 0)
        planted_split(tmp_path / "val.npz", 128, 100, 1)
    folder = tmp_path / tag
    out = {k: str(folder / f"model.{k}") for k in ("pt", "tsv", "json")}
    settings = {
        "architecture": SMALL,
        "epochs": epochs,
        "batch_size": 32,
        "patience": 0,
        "seed": 7,
        "device": device,
        # float32 on CPU whatever the machine's bf16 instructions (amp auto would use them)
        "amp": "none" if device == "cpu" else "auto",
        "threads": 1,
        **options,
    }
    report = train_model(
        str(tmp_path / "train.npz"),
        str(tmp_path / "val.npz"),
        out["pt"],
        out["tsv"],
        out["json"],
        **settings,
    )
    return report, out


def history_metrics(path):
    """History rows without the timing columns."""
    with open(path) as handle:
        return [r.split("\t")[:6] for r in handle.read().splitlines()]


def same_weights(first, second):
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in (first, second))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


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
    assert report["explainer"] == "shap.DeepExplainer"
    assert report["device"].startswith(device) and report["windows_per_s"] > 0
    assert report["amp"] == (False if device == "cpu" else "bfloat16")
    folder = Path(out["pt"]).parent
    assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
    assert not (folder / "checkpoint.pt").exists()  # removed once the outputs are written


def test_training_is_deterministic_on_cpu(tmp_path):
    _, first = train_toy(tmp_path, "a", augment_rc=True)
    _, second = train_toy(tmp_path, "b", augment_rc=True)
    assert history_metrics(first["tsv"]) == history_metrics(second["tsv"])
    assert same_weights(first["pt"], second["pt"])
    _, third = train_toy(tmp_path, "c", seed=8, augment_rc=True)
    assert history_metrics(first["tsv"]) != history_metrics(third["tsv"])


# --- models --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("n_tasks", [1, 3])
def test_every_model_builds_and_gives_n_by_t(name, n_tasks):
    torch.manual_seed(0)
    x = torch.from_numpy(
        np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (5, 200))]
    )
    x = x.transpose(1, 2).contiguous()
    model = build_model(name, length=200, n_tasks=n_tasks).eval()
    assert model(x).shape == (5, n_tasks)
    wrapped = build_model(name, length=200, n_tasks=n_tasks, rc_average=True).eval()
    assert isinstance(wrapped, RCAverage)
    with torch.no_grad():
        wrapped.model.load_state_dict(model.state_dict())
        if name == "kmer_baseline":  # untrained: zero weights; give it some
            wrapped.model.linear.weight.normal_()
        forward, reverse = wrapped(x), wrapped(x.flip(1, 2))
    assert forward.shape == (5, n_tasks)
    torch.testing.assert_close(forward, reverse, rtol=1e-5, atol=1e-5)


def test_basset_paper_has_the_original_sizes():
    model = build_model("basset_paper", length=600, n_tasks=1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in convs] == [300, 200, 200]
    assert [c.kernel_size[0] for c in convs] == [19, 11, 7]
    assert [m.kernel_size for m in model.modules() if isinstance(m, nn.MaxPool1d)] == [3, 4, 4]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [1000, 1000, 1]
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout) and m.p} == {0.3}
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 3


@pytest.mark.parametrize("name", ["basset", "basset_paper", "hybrid"])
def test_each_activation_is_its_own_module_called_once(name):
    model = build_model(name, length=400, n_tasks=2).eval()
    calls = {}
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    for leaf_name, module in leaves:
        module.register_forward_hook(
            lambda *_, key=leaf_name: calls.__setitem__(key, calls.get(key, 0) + 1)
        )
    model(torch.zeros(2, 4, 400))
    assert set(calls.values()) == {1}, calls
    assert not any(getattr(m, "inplace", False) for _, m in leaves)
    assert any(isinstance(m, nn.ReLU) for _, m in leaves)
    if name == "hybrid":
        assert any(isinstance(m, nn.Softmax) for _, m in leaves)


def test_explainer_and_shap_support_per_model():
    assert explainer_for("basset") == explainer_for("basset_paper") == "shap.DeepExplainer"
    assert explainer_for("hybrid") == "shap.GradientExplainer"
    assert explainer_for("kmer_baseline") is None
    assert [n for n in sorted(MODELS) if not supports_shap(n)] == ["kmer_baseline"]
    with pytest.raises(ValueError, match="unknown model"):
        supports_shap("nope")


# A functional call in a model's code would bypass DeepExplainer's per-module rules; a
# functional loss (fitting code, never part of a forward pass) is fine.
FUNCTIONAL_CALL = re.compile(
    r"\b(?:F|functional)\.(?!\w*(?:loss|cross_entropy))\w+"
    r"|torch\.(?:relu|softmax|sigmoid|tanh|max_pool1d)\("
)


def test_no_model_module_uses_functional_activations():
    for caught in ("F.relu(x)", "nn.functional.softmax(x)", "torch.sigmoid(x)"):
        assert FUNCTIONAL_CALL.search(caught), caught
    assert not FUNCTIONAL_CALL.search("nn.functional.binary_cross_entropy_with_logits(x, y)")
    sources = sorted((REPO / "src/peakcnn/models").glob("*.py"))
    assert {"basset.py", "hybrid.py", "layers.py", "kmer.py"} <= {path.name for path in sources}
    for path in sources:
        found = FUNCTIONAL_CALL.search(path.read_text())
        assert not found, f"{path.name}: {found[0]}"


def test_the_workflow_reads_model_facts_from_the_catalog():
    # common.smk cannot import torch at DAG time: it reads the torch-free catalog, which must
    # agree with the registry's answers, and keeps no set of model names of its own.
    text = (REPO / "workflow/rules/common.smk").read_text()
    imported = re.search(r"^from peakcnn\.models\.catalog import \(([^)]*)\)", text, re.M)
    names = set(re.findall(r"\w+", imported[1])) if imported else set()
    assert {"DETERMINISTIC_MODELS", "NO_SHAP_MODELS", "architecture_of"} <= names
    assert not re.search(r"^(DETERMINISTIC|NO_SHAP)_MODELS = ", text, re.M)
    assert NO_SHAP_MODELS == {name for name in MODELS if not supports_shap(name)}
    assert DETERMINISTIC_MODELS == {name for name in MODELS if is_deterministic(name)}
    assert DETERMINISTIC_MODELS >= {n for n in MODELS if is_kmer_baseline(n)}


def test_registry_facts_and_simplicity_order_cover_every_model():
    assert sorted(SIMPLICITY) == sorted(MODELS) == sorted(facts.name for facts in FACTS)
    assert [simplicity_rank(name) for name in SIMPLICITY] == list(range(len(MODELS)))
    assert simplicity_rank("an_ensemble") == len(MODELS)
    # the order config/README.md documents for the model choice
    readme = (REPO / "config/README.md").read_text()
    documented = re.search(r"simplest of them wins: ((?:`\w+`(?: < )?)+)", readme)[1]
    assert tuple(re.findall(r"`(\w+)`", documented)) == SIMPLICITY
    assert [n for n in SIMPLICITY if is_kmer_baseline(n)] == ["kmer_baseline"]
    assert [n for n in SIMPLICITY if is_deterministic(n)] == ["kmer_baseline"]
    for fact in (is_deterministic, is_kmer_baseline, explainer_for):
        with pytest.raises(ValueError, match="unknown model 'nope'"):
            fact("nope")


def test_unknown_hyperparameter_is_a_clear_error():
    with pytest.raises(ValueError, match="does not take hyperparameter"):
        build_model("hybrid", length=200, n_tasks=1, filters=[8], nonsense=3)


def test_architecture_is_flat_or_keyed_by_model():
    assert resolve_architecture("basset", {"filters": [8]}) == {"filters": [8]}
    keyed = {"basset": {"filters": [8]}, "kmer_baseline": {"k": 4}}
    assert resolve_architecture("kmer_baseline", keyed) == {"k": 4}
    assert resolve_architecture("hybrid", keyed) == {}
    assert resolve_architecture("hybrid", None) == {}
    # the workflow's form: a flat value is basset's alone; a misspelt model key is an error
    assert architecture_of("hybrid", {"filters": [8]}, flat_for="basset") == {}
    assert architecture_of("basset", {"filters": [8]}, flat_for="basset") == {"filters": [8]}
    with pytest.raises(ValueError, match=r"\['baset'\] are no model names"):
        architecture_of("basset", {"baset": {"filters": [8]}}, flat_for="basset")


def test_rc_average_keeps_deepexplainer_additivity():
    shap = pytest.importorskip("shap")
    torch.manual_seed(0)
    model = RCAverage(Basset(length=64, filters=(4, 4, 4), pools=(2, 2, 2), dense=(8, 4))).eval()
    rng = np.random.default_rng(0)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (7, 64))].transpose(0, 2, 1)
    x, background = torch.from_numpy(onehot[:1].copy()), torch.from_numpy(onehot[1:].copy())
    values = shap.DeepExplainer(model, background).shap_values(x, check_additivity=False)
    total = float(np.asarray(values).sum())
    with torch.no_grad():
        expected = float(model(x)[0, 0] - model(background)[:, 0].mean())
    assert abs(total - expected) < 1e-4


# --- trainer pieces ------------------------------------------------------------------------


def test_train_config_takes_the_train_section_and_refuses_other_keys():
    config = TrainConfig.from_section(compile=True, monitor="val_loss", calibration="none")
    assert config.torch_compile and config.monitor == "val_loss"
    resumable = config.resumable_settings()
    assert resumable["compile"] is True and "torch_compile" not in resumable
    assert "calibration" not in resumable  # fitted after training: no effect on resuming
    with pytest.raises(TypeError, match="nonsense"):
        TrainConfig.from_section(nonsense=1)
    with pytest.raises(TypeError, match="torch_compile"):
        TrainConfig.from_section(torch_compile=True)  # the field's name is no config key
    with pytest.raises(ValueError, match="train.monitor 'auroc'"):
        TrainConfig.from_section(monitor="auroc")


def test_train_config_matches_the_schema():
    schema = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())
    section = schema["properties"]["train"]["properties"]
    defaults = TrainConfig().resumable_settings() | {"calibration": TrainConfig().calibration}
    assert set(section) - {"seeds"} == set(defaults)  # seeds: one job per seed, not a setting
    for key, spec in section.items():
        if "default" in spec and key not in ("seeds", "architecture"):
            assert defaults[key] == spec["default"], key


def test_pos_weight_auto_number_and_none():
    y = np.zeros((100, 2), dtype=np.uint8)
    y[:20, 0] = 1
    y[:50, 1] = 1
    np.testing.assert_allclose(compute_pos_weight(y, "auto"), [80 / 20, 50 / 50])
    np.testing.assert_allclose(compute_pos_weight(y, 3), [3.0, 3.0])
    assert compute_pos_weight(y, None) is None and compute_pos_weight(y, "none") is None
    y[:, 1] = 0
    with pytest.raises(ValueError, match="no positive"):
        compute_pos_weight(y, "auto")
    with pytest.raises(ValueError, match="pos_weight"):
        compute_pos_weight(y, -1)


def test_amp_on_cpu_is_bf16_only_and_auto_follows_the_cpu(caplog, monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_amp("none", cpu) is None
    assert resolve_amp("bf16", cpu) is torch.bfloat16
    with caplog.at_level(logging.WARNING):
        assert resolve_amp("fp16", cpu) is None
    assert "not available on cpu" in caplog.text
    for native in (True, False):
        monkeypatch.setattr("peakcnn.training.optim.cpu_has_native_bf16", lambda n=native: n)
        assert resolve_amp("auto", cpu) is (torch.bfloat16 if native else None)
    with pytest.raises(ValueError, match="train.amp"):
        resolve_amp("fp8", cpu)


def test_bf16_training_on_cpu_learns_and_saves_float32_weights(tmp_path):
    report, out = train_toy(tmp_path, "a", epochs=8, n_train=768, amp="bf16")
    assert report["amp"] == "bfloat16" and report["device"].startswith("cpu")
    assert report["best_val_auroc"] > 0.9
    weights = torch.load(out["pt"], weights_only=True)["state_dict"]
    assert {w.dtype for w in weights.values() if w.is_floating_point()} == {torch.float32}
    _, again = train_toy(tmp_path, "b", epochs=8, n_train=768, amp="bf16")
    assert same_weights(out["pt"], again["pt"])  # as repeatable as float32 on one machine


@pytest.mark.parametrize("schedule", ["none", "reduce_on_plateau", "cosine", "one_cycle"])
def test_schedules_change_the_learning_rate_as_documented(schedule):
    model = nn.Linear(2, 1)
    opt = make_optimizer(model, "sgd", 0.1, 0.9, 0.0)
    scheduler, per_step = make_scheduler(
        opt, schedule, epochs=2, steps_per_epoch=5, lr=0.1, monitor="val_loss", lr_patience=0
    )
    seen = []
    for _ in range(2):
        for _ in range(5):
            opt.step()
            if per_step:
                scheduler.step()
            seen.append(opt.param_groups[0]["lr"])
        if scheduler is not None and not per_step:
            scheduler.step(1.0)  # never better: the plateau schedule lowers the LR at once
    if schedule == "none":
        assert set(seen) == {0.1}
    elif schedule == "reduce_on_plateau":
        assert set(seen) == {0.1} and opt.param_groups[0]["lr"] == pytest.approx(0.05)
    elif schedule == "cosine":
        assert seen == sorted(seen, reverse=True) and seen[-1] < 1e-6
    else:
        assert max(seen) == pytest.approx(0.1, rel=0.05) and seen[0] < 0.1 and seen[-1] < 0.01
    # every state (RNG, optimiser, scheduler) must load back with weights_only=True
    if scheduler is not None:
        buffer = __import__("io").BytesIO()
        torch.save({"scheduler": scheduler.state_dict(), "opt": opt.state_dict()}, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)


def plateau_lrs(values, lr, factor, patience, mode):
    """Learning rate at the start of each epoch under ReduceLROnPlateau, written out by hand."""
    best, bad, lrs = None, 0, []
    for value in values:
        lrs.append(lr)
        better = best is None or (
            value > best * (1 + 1e-4) if mode == "max" else value < best * (1 - 1e-4)
        )
        best, bad = (value, 0) if better else (best, bad + 1)
        if bad > patience:
            lr, bad = lr * factor, 0
    return lrs


@pytest.mark.parametrize("schedule", ["none", "reduce_on_plateau", "cosine", "one_cycle"])
def test_the_logged_learning_rate_follows_the_schedule(tmp_path, schedule):
    lr, epochs, steps = 0.2, 4, 256 // 32  # lr 0.2: the validation loss stalls
    options = {"schedule": schedule, "lr": lr, "monitor": "val_loss", "lr_patience": 0}
    report, out = train_toy(tmp_path, "a", epochs=epochs, **options)
    history = pd.read_csv(out["tsv"], sep="\t")
    assert report["schedule"] == schedule and len(history) == epochs
    done = (history["epoch"].to_numpy() - 1) * steps  # optimiser steps before each epoch
    if schedule == "none":
        expected = np.full(epochs, lr)
    elif schedule == "reduce_on_plateau":
        expected = plateau_lrs(history["val_loss"], lr, 0.5, 0, "min")
        assert min(expected) < lr  # the validation loss stalled at least once
    elif schedule == "cosine":
        expected = lr * (1 + np.cos(np.pi * done / (epochs * steps))) / 2
    else:
        reference = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
        cycle = torch.optim.lr_scheduler.OneCycleLR(reference, lr, total_steps=epochs * steps)
        expected = []
        for step in range(epochs * steps):
            if step in done:
                expected.append(reference.param_groups[0]["lr"])
            reference.step()
            cycle.step()
        assert expected[0] == pytest.approx(lr / 25)  # warm-up from lr / 25
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_training_uses_the_configured_optimiser(tmp_path, monkeypatch, optimizer):
    """The optimiser state saved after epoch 1 is the configured optimiser's, with its settings."""
    options = {"optimizer": optimizer, "lr": 0.003, "momentum": 0.8, "weight_decay": 0.01}
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, epoch=2)
        with pytest.raises(Interrupted):
            train_toy(tmp_path, "a", epochs=2, **options)
    state = torch.load(tmp_path / "a/checkpoint.pt", weights_only=True)["optimizer"]
    group = state["param_groups"][0]
    assert group["lr"] == 0.003 and group["weight_decay"] == 0.01
    per_parameter = {key for values in state["state"].values() for key in values}
    if optimizer == "sgd":
        assert group["momentum"] == 0.8 and "betas" not in group
        assert per_parameter == {"momentum_buffer"}
    else:
        assert "momentum" not in group and "betas" in group
        assert per_parameter == {"step", "exp_avg", "exp_avg_sq"}


def test_train_json_records_pos_weight_and_warns_on_small_splits(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        report, _ = train_toy(tmp_path, "a", epochs=1, pos_weight="auto")
    assert report["pos_weight"] == [1.0]  # the toy splits are balanced
    assert "small train split" in caplog.text and "small val split" in caplog.text
    assert len(report["warnings"]) == 2


def val_loss_of(model_path, val_path, weight):
    """BCE of a saved model on a split, positives weighted by ``weight``."""
    with np.load(val_path) as val:
        logits = predict_logits(load_checkpoint(model_path), val["x"], torch.device("cpu"))
        target = torch.from_numpy(val["y"].astype(np.float32))
    logits = torch.from_numpy(logits)
    loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([weight]))(logits, target)
    return float(loss), float(torch.sigmoid(logits).mean())


def test_pos_weight_weights_the_positives_of_unbalanced_data(tmp_path):
    planted_split(tmp_path / "train.npz", 256, 100, 0, positive_every=4)
    planted_split(tmp_path / "val.npz", 128, 100, 1, positive_every=4)
    weighted, weighted_out = train_toy(tmp_path, "w", epochs=1, pos_weight="auto")
    plain, plain_out = train_toy(tmp_path, "p", epochs=1)
    assert weighted["pos_weight"] == [3.0] and plain["pos_weight"] is None
    means = {}
    for out, weight in ((weighted_out, 3.0), (plain_out, 1.0)):
        history = pd.read_csv(out["tsv"], sep="\t")
        loss, means[weight] = val_loss_of(out["pt"], tmp_path / "val.npz", weight)
        assert history["val_loss"].iloc[0] == pytest.approx(loss, rel=1e-5)
    assert means[3.0] > means[1.0] + 0.02  # positives weighted 3:1 raise the probabilities


def test_augment_rc_changes_training(tmp_path):
    """One epoch, same seed and batch order: only the reverse-complemented windows differ."""
    _, plain = train_toy(tmp_path, "plain", epochs=1)
    _, augmented = train_toy(tmp_path, "rc", epochs=1, augment_rc=True)
    _, again = train_toy(tmp_path, "rc2", epochs=1, augment_rc=True)
    assert not same_weights(plain["pt"], augmented["pt"])
    assert same_weights(augmented["pt"], again["pt"])
    assert history_metrics(plain["tsv"]) != history_metrics(augmented["tsv"])


def test_early_stopping_on_val_loss_restores_the_best_epoch(tmp_path):
    report, out = train_toy(
        tmp_path, "a", epochs=12, monitor="val_loss", patience=2, lr=0.2, n_train=256
    )
    with open(out["tsv"]) as handle:
        history = list(csv.DictReader(handle, delimiter="\t"))
    losses = [float(row["val_loss"]) for row in history]
    assert report["best_epoch"] == 1 + int(np.argmin(losses))
    assert report["epochs_run"] <= report["best_epoch"] + 2
    model = load_checkpoint(out["pt"])
    with np.load(tmp_path / "val.npz") as val:
        logits = torch.from_numpy(predict_logits(model, val["x"], torch.device("cpu")))
        target = torch.from_numpy(val["y"].astype(np.float32))
    loss = float(nn.BCEWithLogitsLoss()(logits, target))
    assert loss == pytest.approx(min(losses), rel=1e-5)


def test_multi_task_training(tmp_path):
    planted_split(tmp_path / "train.npz", 512, 100, 0, n_tasks=2)
    planted_split(tmp_path / "val.npz", 256, 100, 1, n_tasks=2)
    report, out = train_toy(tmp_path, "a", epochs=6, pos_weight="auto")
    assert report["hyperparameters"]["n_tasks"] == 2 and len(report["pos_weight"]) == 2
    assert len(report["best_val_auroc_tasks"]) == 2
    assert report["best_val_auroc"] == pytest.approx(np.mean(report["best_val_auroc_tasks"]))
    assert load_checkpoint(out["pt"])(torch.zeros(3, 4, 100)).shape == (3, 2)


def test_rc_average_is_stored_in_the_checkpoint(tmp_path):
    report, out = train_toy(tmp_path, "a", epochs=2, rc_average=True, augment_rc=True)
    model = load_checkpoint(out["pt"])
    assert isinstance(model, RCAverage) and report["rc_average"]
    with np.load(tmp_path / "val.npz") as val:
        x = val["x"][:16]
    forward = predict_logits(model, x, torch.device("cpu"))
    reverse = predict_logits(model, np.ascontiguousarray(x[:, ::-1, ::-1]), torch.device("cpu"))
    np.testing.assert_allclose(forward, reverse, rtol=1e-5, atol=1e-5)


def test_hybrid_trains(tmp_path):
    architecture = {"filters": [16, 16], "pools": [2, 2], "heads": 2, "layers": 1, "ff": 32}
    report, out = train_toy(
        tmp_path,
        "a",
        epochs=3,
        architecture={"hybrid": architecture},
        model="hybrid",
        optimizer="adamw",
        lr=0.003,
    )
    assert report["explainer"] == "shap.GradientExplainer"
    assert load_checkpoint(out["pt"])(torch.zeros(2, 4, 100)).shape == (2, 1)


def test_progress_bar_only_on_a_terminal(monkeypatch):
    assert progress_for(10, 1, 2) is None  # pytest's stderr is no terminal

    main, side = os.openpty()  # a real pseudo-terminal, 100 columns wide, as the job's stderr
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with os.fdopen(side, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        bar = progress_for(10, 1, 2)
        assert bar is not None
        bar(10)
        terminal.flush()
        ready, _, _ = select.select([main], [], [], 5)
        text = os.read(main, 65536).decode() if ready else ""
    os.close(main)
    assert "epoch 1/2" in text and "0/10" in text and "windows" in text


# --- checkpoints and resuming --------------------------------------------------------------


class Interrupted(Exception):
    pass


def interrupt_in_epoch(monkeypatch, epoch, after_batches=3):
    """Make ``train_epoch`` raise in the middle of the given epoch (after some optimiser steps)."""
    real = train_module.train_epoch
    calls = {"epochs": 0}

    def flaky(model, x, y, optimizer, loss_fn, *args, **kwargs):
        calls["epochs"] += 1
        if calls["epochs"] != epoch:
            return real(model, x, y, optimizer, loss_fn, *args, **kwargs)
        batches = {"n": 0}

        def failing_loss(logits, target):
            batches["n"] += 1
            if batches["n"] > after_batches:
                raise Interrupted
            return loss_fn(logits, target)

        return real(model, x, y, optimizer, failing_loss, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", flaky)


def test_resume_after_an_interrupted_epoch_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    options = {"epochs": 5, "schedule": "one_cycle", "augment_rc": True, "pos_weight": "auto"}
    _, reference = train_toy(tmp_path, "ref", **options)
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, epoch=3)
        with pytest.raises(Interrupted):
            train_toy(tmp_path, "run", **options)
    checkpoint = tmp_path / "run/checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    assert not (tmp_path / "run/model.pt").exists()
    report, resumed = train_toy(tmp_path, "run", **options)
    assert report["resumed_after_epoch"] == 2 and report["epochs_run"] == 5
    assert history_metrics(resumed["tsv"]) == history_metrics(reference["tsv"])
    assert same_weights(resumed["pt"], reference["pt"])
    assert not checkpoint.exists()


def test_a_checkpoint_from_other_settings_is_not_resumed(tmp_path, monkeypatch):
    _, reference = train_toy(tmp_path, "ref", epochs=3, lr=0.01)
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, epoch=2)
        with pytest.raises(Interrupted):
            train_toy(tmp_path, "run", epochs=3, lr=0.02)
    report, fresh = train_toy(tmp_path, "run", epochs=3, lr=0.01)
    assert report["resumed_after_epoch"] == 0
    assert history_metrics(fresh["tsv"]) == history_metrics(reference["tsv"])


KILLED_RUN = """
import sys
sys.path.insert(0, {src!r})
from peakcnn.training.train import train_model
train_model({train!r}, {val!r}, {pt!r}, {tsv!r}, {json!r}, **{options!r})
"""


def test_resume_after_a_real_kill_equals_an_uninterrupted_run(tmp_path):
    planted_split(tmp_path / "train.npz", 2048, 100, 0)
    planted_split(tmp_path / "val.npz", 256, 100, 1)
    options = {"epochs": 3, "augment_rc": True, "schedule": "cosine"}
    _, reference = train_toy(tmp_path, "ref", **options)
    folder = tmp_path / "run"
    paths = {k: str(folder / f"model.{k}") for k in ("pt", "tsv", "json")}
    settings = {"architecture": SMALL, "batch_size": 32, "patience": 0, "seed": 7}
    settings.update(device="cpu", amp="none", threads=1, **options)
    script = KILLED_RUN.format(
        src=str(REPO / "src"),
        train=str(tmp_path / "train.npz"),
        val=str(tmp_path / "val.npz"),
        options=settings,
        **paths,
    )
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    checkpoint = folder / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)  # in epoch 2, right after epoch 1's checkpoint
    assert process.wait() == -signal.SIGKILL
    assert not Path(paths["pt"]).exists()
    assert torch.load(checkpoint, weights_only=True)["epoch"] < options["epochs"]
    stale = folder / ".checkpoint.pt.k1ll3d_x.pt"  # as a kill inside a checkpoint write leaves
    stale.write_bytes(b"half a checkpoint")
    report, resumed = train_toy(tmp_path, "run", **options)
    assert report["resumed_after_epoch"] >= 1
    assert not stale.exists() and not list(folder.glob(".*.pt"))
    assert history_metrics(resumed["tsv"]) == history_metrics(reference["tsv"])
    assert same_weights(resumed["pt"], reference["pt"])


# --- CUDA ----------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_training_on_cuda(tmp_path, amp):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    report, out = train_toy(tmp_path, "a", epochs=2, device="cuda", amp=amp, augment_rc=True)
    assert report["amp"] == {"bf16": "bfloat16", "fp16": "float16"}[amp]
    assert report["device"].startswith("cuda")
    assert load_checkpoint(out["pt"], "cuda")(torch.zeros(2, 4, 100, device="cuda")).shape == (2, 1)


class _Recorder(nn.Module):
    """Records its inputs; one weight so that an optimiser can step."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return (x.sum(dim=(1, 2)) * self.weight)[:, None]


def test_random_shifts_crop_each_window_at_a_random_offset():
    n, length, margin = 16, 20, 5
    codes = torch.randint(
        0, 4, (n, length + 2 * margin), generator=torch.Generator().manual_seed(0)
    )
    x = nn.functional.one_hot(codes, 4).permute(0, 2, 1).to(torch.uint8).contiguous()
    y = torch.zeros(n, 1)
    model = _Recorder()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    offsets = set()
    for _ in range(3):
        train_epoch(
            model,
            x,
            y,
            optimizer,
            nn.BCEWithLogitsLoss(),
            4,
            torch.Generator().manual_seed(len(offsets)),
            torch.device("cpu"),
            length=length,
        )
    for batch in model.inputs:
        assert batch.shape[1:] == (4, length)
        for window in batch:
            found = [
                (i, o)
                for i in range(n)
                for o in range(2 * margin + 1)
                if torch.equal(window, x[i, :, o : o + length].float())
            ]
            assert found, "every input is a crop of a training window"
            offsets.add(found[0][1])
    assert len(offsets) > 3  # the offsets vary


def test_a_dataset_built_for_other_shifts_is_refused(tmp_path):
    from peakcnn.errors import InputError
    from peakcnn.training.loop import check_margin

    train = {"x": np.zeros((2, 4, 60), np.uint8), "margin": np.array(5)}
    val = {"x": np.zeros((2, 4, 50), np.uint8)}
    assert check_margin(train, val, 5, "t.npz") == (50, 5)
    with pytest.raises(InputError, match="train.max_shift is 0"):
        check_margin(train, val, 0, "t.npz")


# --- learning curves: train.subsample --------------------------------------------------------


def test_subsample_keeps_n_positives_and_the_negative_ratio(tmp_path):
    planted_split(tmp_path / "train.npz", 400, 60, 0, positive_every=4)  # 100 pos, 300 neg
    split = load_split(str(tmp_path / "train.npz"))
    kept, report = subsample_split(split, 20, seed=3)
    positive = kept["y"].any(axis=1)
    assert (positive.sum(), (~positive).sum()) == (20, 60)
    assert report == {
        "positives": 20,
        "positives_total": 100,
        "negatives": 60,
        "negatives_total": 300,
        "seed": 3,
    }
    # the kept windows are the split's own, in file order, with their coordinates
    index = np.searchsorted(split["start"], kept["start"])
    assert (np.diff(index) > 0).all()
    assert np.array_equal(split["x"][index], kept["x"]) and list(kept["tasks"]) == ["toy"]
    again, _ = subsample_split(split, 20, seed=3)
    other, _ = subsample_split(split, 20, seed=4)
    assert np.array_equal(again["start"], kept["start"])
    assert not np.array_equal(other["start"], kept["start"])
    everything, report = subsample_split(split, 10_000, seed=0)  # more than there are: all
    assert len(everything["y"]) == 400 and report["positives"] == 100


def test_training_on_a_subsample_records_it_and_refuses_zero(tmp_path):
    report, _ = train_toy(tmp_path, "a", epochs=1, subsample=16, subsample_seed=2)
    assert report["subsample"]["positives"] == 16 and report["train_windows"] == 32
    assert report["train_positives"] == [16] and report["val_windows"] == 128
    full, _ = train_toy(tmp_path, "b", epochs=1)
    assert "subsample" not in full and full["train_windows"] == 256
    with pytest.raises(ValueError, match="train.subsample 0"):
        TrainConfig.from_section(subsample=0)
