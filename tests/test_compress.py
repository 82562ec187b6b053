"""Tests of peakcnn.compress and ``peakcnn compress``: a tiny Basset trained on a planted motif."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from peakcnn.apply.loading import load_model
from peakcnn.cli.main import main
from peakcnn.compress.common import load_splits
from peakcnn.compress.distil import distil_model, teacher_logits
from peakcnn.compress.prune import count_parameters, prune_model, prune_network
from peakcnn.compress.quantize import is_quantized, quantize_model, quantize_network
from peakcnn.compress.run import scaled_student
from peakcnn.data.splitfile import save_split
from peakcnn.errors import InputError
from peakcnn.evaluation.metrics import auroc
from peakcnn.interpret.deeplift import contributions
from peakcnn.interpret.shap_values import make_references, resolve_explainer
from peakcnn.models.calibration import fit_calibration
from peakcnn.models.checkpoint import load_checkpoint, save_checkpoint
from peakcnn.models.layers import RCAverage
from peakcnn.models.registry import build_model
from peakcnn.training.train import train_model

LENGTH = 100
ARCHITECTURE = {
    "filters": [32, 32, 32],
    "kernels": [7, 5, 3],
    "pools": [2, 2, 2],
    "dense": [64, 16],
}
#: int8 logits must stay within this share of the float logits' range (and rank the same).
QUANT_TOLERANCE = 0.05


def planted_split(path: Path, n: int, seed: int) -> None:
    """Random one-hot windows; every other one carries CACGTG at its centre (label 1)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, LENGTH))
    labels = np.arange(n) % 2
    codes[labels == 1, LENGTH // 2 : LENGTH // 2 + 6] = [1, 0, 1, 2, 3, 2]
    x = np.eye(4, dtype=np.uint8)[codes].transpose(0, 2, 1).copy()
    table = pd.DataFrame(
        {"chrom": "c", "start": np.arange(n) * LENGTH, "end": np.arange(n) * LENGTH + LENGTH}
    ).assign(pad_left=0, pad_right=0, name=[f"w{i}" for i in range(n)])
    save_split(str(path), x, labels[:, None], table, ["toy"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run laid out as the workflow does: dataset/{train,val,test}.npz, models/basset/model.pt."""
    root = tmp_path_factory.mktemp("compress") / "results" / "toy"
    dataset, models = root / "dataset", root / "models" / "basset"
    dataset.mkdir(parents=True)
    models.mkdir(parents=True)
    for seed, (name, n) in enumerate((("train", 512), ("val", 128), ("test", 256))):
        planted_split(dataset / f"{name}.npz", n, seed)
    model = models / "model.pt"
    train_model(
        str(dataset / "train.npz"),
        str(dataset / "val.npz"),
        str(model),
        str(models / "history.tsv"),
        str(models / "train.json"),
        architecture=ARCHITECTURE,
        epochs=6,
        batch_size=32,
        patience=0,
        seed=7,
        device="cpu",
        amp="none",
        threads=1,
    )
    return {"model": model, "dataset": dataset, "splits": load_splits(str(dataset), LENGTH)}


def _test_auroc(model: torch.nn.Module, splits) -> float:
    with torch.no_grad():
        scores = model(torch.from_numpy(splits.x["test"]).float()).numpy()[:, 0]
    return auroc(splits.y["test"][:, 0], scores)


def test_the_original_learns_the_planted_motif(run):
    assert _test_auroc(load_checkpoint(str(run["model"])), run["splits"]) > 0.95


def test_int8_model_loads_agrees_with_float_and_is_smaller(run, tmp_path):
    original = load_model(str(run["model"]))
    path = tmp_path / "int8.ts"
    report = quantize_model(original, run["splits"].x["train"], str(path), run["splits"].x["val"])
    loaded = load_model(str(path))
    assert loaded.kind == "torchscript" and is_quantized(str(path))
    assert not is_quantized(str(run["model"]))
    assert loaded.metadata.hyperparameters["quantized"] == "int8"
    assert loaded.metadata.hyperparameters["inference_only"] is True
    assert loaded.tasks == original.tasks == ["toy"] and loaded.length == LENGTH
    kinds = [module.original_name for module in loaded.network.modules()]
    assert kinds.count("ConvReLU1d") == 3 and kinds.count("LinearReLU") == 2  # fused int8
    assert "Quantize" in kinds and "Conv1d" not in kinds and "BatchNorm1d" not in kinds
    x = run["splits"].x["test"]
    exact, int8 = original.logits(x)[:, 0], loaded.logits(x)[:, 0]
    spread = exact.max() - exact.min()
    assert np.abs(int8 - exact).max() <= QUANT_TOLERANCE * spread
    assert spearmanr(exact, int8).statistic > 0.99
    assert report["max_abs_diff"] <= QUANT_TOLERANCE * spread and report["spearman"] > 0.99
    assert path.stat().st_size < run["model"].stat().st_size
    assert auroc(run["splits"].y["test"][:, 0], int8) > 0.95
    with pytest.raises(InputError, match="for inference only; explain the float model.pt"):
        resolve_explainer(str(path))


def test_int8_keeps_strand_averaging_and_refuses_non_basset_models(run):
    model = RCAverage(load_checkpoint(str(run["model"])))
    int8 = quantize_network(model, run["splits"].x["train"][:256])
    assert isinstance(int8, RCAverage)
    x = torch.from_numpy(run["splits"].x["test"]).float()
    with torch.no_grad():
        exact, approx = model(x)[:, 0].numpy(), int8(x)[:, 0].numpy()
        flipped = int8(x.flip(1, 2))[:, 0].numpy()
    assert np.abs(approx - exact).max() <= QUANT_TOLERANCE * (exact.max() - exact.min())
    np.testing.assert_allclose(flipped, approx, atol=1e-5)  # same on both strands
    hybrid = build_model("hybrid", length=LENGTH, n_tasks=1)
    with pytest.raises(InputError, match="only Basset-style"):
        quantize_network(hybrid, run["splits"].x["train"][:8])


def test_pruning_at_zero_sparsity_rebuilds_the_same_network(run):
    model = load_checkpoint(str(run["model"]))
    hyper = torch.load(run["model"], weights_only=True)["hyperparameters"]
    same, same_hyper = prune_network(model, "basset", hyper, 0.0)
    assert same_hyper["filters"] == ARCHITECTURE["filters"]
    x = torch.from_numpy(run["splits"].x["val"]).float()
    with torch.no_grad():
        torch.testing.assert_close(same(x), model(x))


def test_pruned_model_is_smaller_valid_and_still_explainable(run, tmp_path):
    original = load_model(str(run["model"]))
    path = tmp_path / "pruned" / "model.pt"
    path.parent.mkdir()
    report = prune_model(original, run["splits"], 0.5, str(path), epochs=2)
    pruned = load_checkpoint(str(path))
    assert report["filters_after"] == [16, 16, 16]
    assert count_parameters(pruned) == report["parameters_after"]
    assert count_parameters(pruned) < 0.6 * count_parameters(original.network)
    assert _test_auroc(pruned, run["splits"]) > 0.9
    assert load_model(str(path)).kind == "checkpoint"
    assert_shap_additive(pruned, run["splits"].x["test"][:4], str(path))


def assert_shap_additive(model: torch.nn.Module, x: np.ndarray, path: str) -> None:
    """DeepSHAP of a compressed model.pt adds up to its logit minus the mean reference logit."""
    assert resolve_explainer(path) == "shap.DeepExplainer"
    n = len(x)
    references, _ = make_references(x, np.arange(n), 4, 0)
    xt, rt = torch.from_numpy(x).float(), torch.from_numpy(references).float()
    contribution, _ = contributions(model, xt, rt, 0)
    with torch.no_grad():
        expected = model(xt)[:, 0] - model(rt.reshape(-1, 4, LENGTH))[:, 0].reshape(n, 4).mean(1)
    torch.testing.assert_close(contribution.sum(dim=(1, 2)) / 4, expected, atol=1e-4, rtol=1e-4)


def test_distilled_student_learns_the_teacher(run, tmp_path):
    teacher = load_model(str(run["model"]))
    path = tmp_path / "student.pt"
    student_sizes = {"filters": [8, 8, 8], "kernels": [7, 5, 3], "pools": [2, 2, 2], "dense": [16]}
    report = distil_model(
        [teacher], run["splits"], str(path), student_hyperparameters=student_sizes, epochs=6
    )
    student = load_checkpoint(str(path))
    assert count_parameters(student) == report["parameters_student"]
    assert report["parameters_student"] < count_parameters(teacher.network) / 4
    x = run["splits"].x["test"]
    with torch.no_grad():
        mine = student(torch.from_numpy(x).float()).numpy()[:, 0]
    assert np.corrcoef(mine, teacher.logits(x)[:, 0])[0, 1] > 0.8
    assert report["val_logit_pearson"] > 0.8
    assert auroc(run["splits"].y["test"][:, 0], mine) > 0.9
    assert_shap_additive(student, x[:4], str(path))


def test_an_ensemble_teacher_averages_and_refuses_other_windows(run, tmp_path):
    teacher = load_model(str(run["model"]))
    x = run["splits"].x["val"][:16]
    np.testing.assert_allclose(teacher_logits([teacher, teacher], x), teacher.logits(x))
    other = tmp_path / "other.pt"
    hyper = {"length": LENGTH + 20, "n_tasks": 1, **ARCHITECTURE}
    save_checkpoint(str(other), build_model("basset", **hyper), "basset", hyper)
    with pytest.raises(InputError, match="same windows and tasks"):
        teacher_logits([teacher, load_model(str(other))], x)


def test_compress_command_writes_every_model_and_the_benchmark(run, tmp_path):
    out = tmp_path / "out"
    args = ["compress", str(run["model"].parent), "--dataset", str(run["dataset"]), "-o", str(out)]
    options = ["--sparsity", "0.5", "--epochs", "1", "--distil-epochs", "2"]
    assert main([*args, *options, "--bootstrap", "20", "--time", "0.05"]) == 0
    table = pd.read_csv(out / "compress.tsv", sep="\t")
    assert list(table["model"]) == ["original", "int8", "pruned-0.5", "distilled"]
    columns = ["file_bytes", "parameters", "auroc", "auprc", "auroc_ci95", "auprc_ci95"]
    columns += ["auroc_delta", "auroc_delta_ci95", "auprc_delta", "file_bytes_ratio"]
    columns += ["parameters_ratio"] + [
        f"{k}_{s}"
        for k in ("windows_per_s", "speedup")
        for s in ("b1_t1", "b1_tall", "b256_t1", "b256_tall")
    ]
    assert set(columns) <= set(table.columns)
    assert table[columns].notna().all().all()
    first = table.iloc[0]
    assert first["auroc_delta"] == 0 and first["speedup_b256_t1"] == 1
    assert (table["parameters_ratio"].iloc[2:] < 1).all()
    assert (out / "compress.png").read_bytes()[:4] == b"\x89PNG"
    for model in ("int8/model.ts", "pruned-0.5/model.pt", "distilled/model.pt"):
        assert load_model(str(out / model)).length == LENGTH
    fasta = tmp_path / "query.fa"
    motif = "A" * 47 + "CACGTG" + "A" * 47
    fasta.write_text(f">motif\n{motif}\n>plain\n{'A' * LENGTH}\n")
    scores = tmp_path / "scores.tsv"
    assert (
        main(["predict", str(out / "int8/model.ts"), "--fasta", str(fasta), "-o", str(scores)]) == 0
    )
    predicted = pd.read_csv(scores, sep="\t")
    assert len(predicted) == 2
    logit = predicted.filter(like="logit").iloc[:, 0]
    assert logit.iloc[0] > logit.iloc[1]


def test_compress_refuses_a_dataset_without_test_split(run, tmp_path, capsys):
    empty = tmp_path / "dataset"
    empty.mkdir()
    out = tmp_path / "out"
    args = ["compress", str(run["model"]), "--dataset", str(empty), "-o", str(out)]
    assert main(args) == 2
    assert "train.npz" in capsys.readouterr().err
    assert not out.exists()


def test_compress_has_help(capsys):
    with pytest.raises(SystemExit) as leaving:
        main(["compress", "--help"])
    assert leaving.value.code == 0
    text = capsys.readouterr().out
    assert "usage: peakcnn compress" in text and "--sparsity" in text and "--teacher" in text


def test_a_student_of_a_default_basset_is_scaled_from_the_defaults():
    # model.pt of a default basset lists no sizes: the student halves the default widths
    student = scaled_student({"length": 800, "n_tasks": 1}, 0.5)
    assert student == {"filters": [32, 64, 64], "dense": [128, 32]}
    assert scaled_student({"filters": [8, 8, 8], "kernels": [5, 3, 3]}, 0.5)["filters"] == [4, 4, 4]


@pytest.mark.parametrize("method", ["prune", "distil"])
def test_a_compressed_model_stands_alone_with_tasks_and_its_own_calibration(run, tmp_path, method):
    # Copied out of any run folder, the model still names its task, calibrates its own logits
    # (refitted on validation, not the original's) and knows its validation thresholds.
    original = load_model(str(run["model"]))
    made = tmp_path / "made.pt"
    if method == "prune":
        report = prune_model(original, run["splits"], 0.5, str(made), epochs=1)
    else:
        sizes = {"filters": [8, 8, 8], "dense": [16]}
        report = distil_model([original], run["splits"], str(made), student_hyperparameters=sizes)
    alone = tmp_path / "elsewhere" / "model.pt"
    alone.parent.mkdir()
    alone.write_bytes(made.read_bytes())
    loaded = load_model(str(alone))
    assert loaded.tasks == ["toy"] and original.tasks == ["toy"]
    stored = torch.load(alone, weights_only=True)["calibration"]
    assert (
        stored["method"]
        == "platt"
        == torch.load(run["model"], weights_only=True)["calibration"]["method"]
    )
    assert loaded.metadata.temperatures == report["calibration"]["temperature"]
    assert loaded.metadata.temperatures != original.metadata.temperatures
    val_logits = loaded.logits(run["splits"].x["val"])
    refit = fit_calibration(val_logits, run["splits"].y["val"], "platt")
    np.testing.assert_allclose(loaded.metadata.temperatures, refit["temperature"], rtol=1e-6)
    np.testing.assert_allclose(loaded.metadata.biases, refit["bias"], rtol=1e-6, atol=1e-9)
    assert loaded.metadata.thresholds == report["thresholds"] and 0 < report["thresholds"][0] < 1
    fasta = tmp_path / "query.fa"
    fasta.write_text(f">motif\n{'A' * 47}CACGTG{'A' * 47}\n>plain\n{'A' * LENGTH}\n")
    scores = tmp_path / "scores.tsv"
    assert main(["predict", str(alone), "--fasta", str(fasta), "-o", str(scores)]) == 0
    predicted = pd.read_csv(scores, sep="\t")
    expected = loaded.probabilities(predicted[["logit_toy"]].to_numpy())[:, 0]
    np.testing.assert_allclose(predicted["probability_toy"], expected, rtol=1e-4, atol=1e-9)
    assert not np.allclose(expected, 1 / (1 + np.exp(-predicted["logit_toy"])))
