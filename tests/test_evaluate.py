"""Tests of peakcnn.evaluation.evaluate: metrics vs scikit-learn, validation threshold, outputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm

from peakcnn.errors import InputError
from peakcnn.evaluation import metrics as ev
from peakcnn.evaluation.config import EvalConfig, EvalInputs, EvalOutputs
from peakcnn.evaluation.evaluate import evaluate_model
from peakcnn.evaluation.groups import assign_groups
from peakcnn.evaluation.metrics import (
    auprc,
    auroc,
    bootstrap_ci,
    calibration,
    choose_threshold,
    classification_metrics,
    threshold_metrics,
)
from peakcnn.evaluation.predictions import check_stored_metrics, read_predictions
from peakcnn.evaluation.robustness import substitute
from peakcnn.models.basset import Basset
from peakcnn.models.checkpoint import save_checkpoint


def _adversarial_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 200)
    labels[:2] = [0, 1]
    return [
        ("all scores tied", labels, np.zeros(200)),
        ("two tied values", labels, (rng.random(200) > 0.5).astype(float)),
        ("ties across classes", labels, np.round(rng.random(200) + 0.3 * labels, 1)),
        ("perfect", labels, labels + rng.random(200) * 0.1),
        ("inverted", labels, -labels + rng.random(200) * 0.1),
        ("one positive", np.r_[1, np.zeros(99, int)], rng.random(100)),
        ("one negative", np.r_[0, np.ones(99, int)], rng.random(100)),
        ("two windows", np.array([0, 1]), np.array([0.7, 0.7])),
        ("huge and tiny", labels, rng.random(200) * 1e12 - 5e11),
        ("logits", labels, rng.normal(size=200) * 50),
        ("all but one tied", labels, np.r_[1.0, np.zeros(199)]),
    ]


@pytest.mark.parametrize("seed", range(8))
def test_ranking_metrics_agree_with_scikit_learn_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 2000))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.random(n) + labels * rng.random()
    if seed % 2:
        scores = np.round(scores, 1)  # coarse: many ties
    assert auroc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert auprc(labels, scores) == pytest.approx(
        skm.average_precision_score(labels, scores), abs=1e-12
    )


@pytest.mark.parametrize("case", _adversarial_cases(), ids=lambda case: case[0])
def test_ranking_metrics_agree_with_scikit_learn_on_adversarial_inputs(case):
    _, labels, scores = case
    assert auroc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert auprc(labels, scores) == pytest.approx(
        skm.average_precision_score(labels, scores), abs=1e-12
    )
    result = classification_metrics(labels, scores, float(np.median(scores)))  # cross-checked
    assert result["auroc"] == auroc(labels, scores)


def test_known_values():
    labels = np.array([0, 0, 1, 1])
    assert auroc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auroc(labels, np.zeros(4)) == 0.5  # all tied: chance
    assert auprc(labels, np.zeros(4)) == 0.5  # all tied: the positive fraction
    assert classification_metrics(labels, -np.array([0.1, 0.2, 0.8, 0.9]), 0)["auroc"] == 0


@pytest.mark.parametrize("seed", range(5))
def test_thresholded_metrics_agree_with_scikit_learn_including_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.5 + labels * 0.3, 1)
    for cut in (-1.0, 0.3, 0.5, float(scores.max()), 2.0):  # includes nothing/everything called
        called = scores >= cut
        result = threshold_metrics(labels, scores, cut)
        assert result["f1"] == pytest.approx(skm.f1_score(labels, called, zero_division=0))
        assert result["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, called))
        assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, called))
        assert result["precision"] == pytest.approx(
            skm.precision_score(labels, called, zero_division=0)
        )
        assert result["recall"] == pytest.approx(skm.recall_score(labels, called))
    result = classification_metrics(labels, scores, 0.5)
    assert result["positive_fraction"] == pytest.approx(labels.mean())
    assert result["tp"] + result["fp"] + result["tn"] + result["fn"] == 300


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="only class"):
        classification_metrics(np.ones(10, dtype=int), np.linspace(0, 1, 10), 0.5)
    with pytest.raises(ValueError, match="only class"):
        choose_threshold(np.zeros(10, dtype=int), np.linspace(0, 1, 10), "max_f1")


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN or infinite"),
        ([0, 1, 1], [0.1, np.inf, 0.3], "NaN or infinite"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "labels must be 0/1"),
        ([0, 1], [0.1, 0.2, 0.3], "equal 1-D shapes"),
    ],
)
def test_bad_inputs_are_clear_errors(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(labels), np.array(scores), 0.5)


def test_a_wrong_metric_implementation_is_caught(monkeypatch):
    """A bug like computing AUROC on the wrong ordering cannot reach metrics.json."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 100)
    scores = rng.random(100) + labels
    monkeypatch.setattr(ev, "auroc", lambda y, s: 0.554)
    with pytest.raises(RuntimeError, match="disagree with scikit-learn"):
        classification_metrics(labels, scores, 0.5)


def test_threshold_is_max_f1_on_validation():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.random(200) * 0.6 + labels * 0.4
    cut = choose_threshold(labels, scores, "max_f1")
    f1_at = lambda t: skm.f1_score(labels, scores >= t)  # noqa: E731
    assert f1_at(cut) == pytest.approx(max(f1_at(t) for t in np.unique(scores)))
    youden = choose_threshold(labels, scores, "youden")
    j_at = lambda t: np.mean(scores[labels == 1] >= t) - np.mean(scores[labels == 0] >= t)  # noqa: E731
    assert j_at(youden) == pytest.approx(max(j_at(t) for t in np.unique(scores)))


def test_bootstrap_intervals_contain_the_estimates():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    scores = rng.random(400) + labels * 0.5
    ci = bootstrap_ci(labels, scores, 200, seed=0, threshold=0.75)
    point = classification_metrics(labels, scores, 0.75)
    for key in ("auroc", "auprc", "f1", "mcc", "accuracy", "precision", "recall"):
        low, high = ci[f"{key}_ci95"]
        assert low < point[key] < high, key
    assert ci["auprc_ci95"][1] - ci["auprc_ci95"][0] < 0.2
    assert ci["bootstrap_used"] == 200
    assert bootstrap_ci(labels, scores, 50, seed=0) == bootstrap_ci(labels, scores, 50, seed=0)


def test_calibration_table():
    rng = np.random.default_rng(2)
    scores = rng.random(5000)
    labels = (rng.random(5000) < scores).astype(int)  # calibrated by construction
    table = calibration(labels, scores, 10)
    assert sum(b["n"] for b in table["bins"]) == 5000
    assert table["ece"] < 0.05
    assert table["brier"] == pytest.approx(np.mean((scores - labels) ** 2))
    assert calibration(labels, np.clip(scores * 3, 0, 1), 10)["ece"] > 0.1


def test_groups_by_region_and_block():
    regions = pd.DataFrame(
        [
            ("chr1", 0, 1000, "train"),
            ("chr1", 1200, 2200, "test"),
            ("chr2", 0, 500, "test"),
        ],
        columns=["chrom", "start", "end", "split"],
    )
    chrom = np.array(["chr1", "chr1", "chr2", "chr2"])
    start = np.array([1150, 1900, -50, 300])  # centres 1200, 1950, 0, 350 (window 100)
    groups = assign_groups(chrom, start, start + 100, regions)
    assert list(groups) == ["chr1:1200-2200", "chr1:1200-2200", "chr2", "chr2"]
    blocks = assign_groups(chrom, start, start + 100, regions, group_bp=500)
    assert list(blocks) == ["chr1:1200-1700", "chr1:1700-2200", "chr2", "chr2"]
    with pytest.raises(InputError, match="outside every test region"):
        assign_groups(np.array(["chr1"]), np.array([0]), np.array([100]), regions)


def test_substitution_rate_and_unknown_bases():
    rng = np.random.default_rng(3)
    x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (50, 400))].transpose(0, 2, 1).copy()
    x[:, :, :20] = 0
    mutated, realised = substitute(x, 0.1, np.random.default_rng(0))
    changed = (mutated != x).any(axis=1)
    assert realised == pytest.approx(changed.sum() / (50 * 380))
    assert 0.09 < realised < 0.11
    assert not mutated[:, :, :20].any()
    assert np.all(mutated[:, :, 20:].sum(axis=1) == 1)


_SPLIT_FILES = (("model", "pt"), ("val", "npz"), ("test", "npz"))


def _write_split(path, x, labels, chrom, starts, length):
    np.savez(
        path,
        x=x,
        y=labels[:, None].astype(np.uint8),
        chrom=np.array(chrom),
        start=starts,
        end=starts + length,
        name=np.array([f"w{i}" for i in range(len(x))]),
        tasks=np.array(["task"]),
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A small random model, val/test windows read from a random genome, all outputs."""
    root = tmp_path_factory.mktemp("evaluate")
    length, rng = 64, np.random.default_rng(0)
    genome = "".join(rng.choice(list("ACGT"), 20_000))
    (root / "genome.fa").write_text(f">chrA\n{genome}\n")
    codes = np.array(["ACGT".index(c) for c in genome])
    splits = {"val": (1000, 9000), "test": (11000, 19000)}
    torch.manual_seed(0)
    hyper = {"length": length, "n_tasks": 1, "filters": (8, 8, 8), "kernels": (5, 3, 3)}
    hyper["pools"] = (2, 2, 2)
    save_checkpoint(str(root / "model.pt"), Basset(**hyper), "basset", hyper)
    for split, (low, high) in splits.items():
        starts = np.sort(rng.choice(np.arange(low, high - length, 50), 80, replace=False))
        x = np.eye(4, dtype=np.uint8)[codes[starts[:, None] + np.arange(length)]]
        labels = rng.integers(0, 2, 80)
        labels[:2] = [0, 1]
        _write_split(root / f"{split}.npz", x.transpose(0, 2, 1), labels, ["chrA"] * 80, starts, 64)
    (root / "regions.bed").write_text(
        "chrA\t0\t500\ttrain\nchrA\t1000\t9000\tval\nchrA\t11000\t19000\ttest\n"
    )
    (root / "history.tsv").write_text(
        "epoch\ttrain_loss\tval_loss\tval_auroc\tval_auprc\n1\t0.7\t0.69\t0.6\t0.6\n"
        "2\t0.6\t0.65\t0.7\t0.7\n"
    )
    (root / "train.json").write_text('{"best_epoch": 2}')
    inputs = EvalInputs(
        *(str(root / name) for name in ("model.pt", "val.npz", "test.npz")),
        history=str(root / "history.tsv"),
        train_report=str(root / "train.json"),
        regions=str(root / "regions.bed"),
        fasta=str(root / "genome.fa"),
    )
    outputs = _outputs(root / "out")
    config = EvalConfig(bootstrap=50, group_bp=4000, shifts=(-5, 5), device="cpu")
    metrics = evaluate_model(inputs, outputs, config)
    paths = {Path(path).name: path for path in vars(outputs).values()}
    return {"root": root, "paths": paths, "inputs": inputs, "config": config, "metrics": metrics}


def _outputs(folder: Path) -> EvalOutputs:
    """Every output of ``evaluate_model``, in ``folder``."""
    names = {
        "metrics": "metrics.json",
        "table": "metrics.tsv",
        "predictions": "predictions.tsv.gz",
        "roc": "roc.png",
        "pr": "pr.png",
        "calibration": "calibration.png",
        "scores": "scores.png",
        "training": "training.png",
        "groups": "groups.tsv",
        "robustness": "robustness.tsv",
        "robustness_plot": "robustness.png",
    }
    return EvalOutputs(**{field: str(folder / name) for field, name in names.items()})


def test_evaluate_model_writes_checked_outputs(tiny_run):
    paths, metrics = tiny_run["paths"], tiny_run["metrics"]
    for name, path in paths.items():
        if name.endswith(".png"):
            assert open(path, "rb").read(4) == b"\x89PNG", name
    assert json.loads(open(paths["metrics.json"]).read())["test"] == metrics["test"]
    with np.load(tiny_run["inputs"].val) as val:
        predictions = pd.read_csv(paths["predictions.tsv.gz"], sep="\t")
        scores = predictions.loc[predictions["split"] == "val", "score"].to_numpy()
        expected = choose_threshold(val["y"][:, 0], scores, "max_f1")
    assert metrics["test"]["threshold"] == pytest.approx(expected, rel=1e-5)
    for key in ("auroc", "auprc", "f1", "mcc"):
        assert f"{key}_ci95" in metrics["test_ci"]
    groups = pd.read_csv(paths["groups.tsv"], sep="\t")
    assert list(groups["group"]) == ["chrA:11000-15000", "chrA:15000-19000", "all"]
    assert groups["n"].iloc[:-1].sum() == groups["n"].iloc[-1] == 80
    robustness = pd.read_csv(paths["robustness.tsv"], sep="\t")
    assert list(robustness["perturbation"]) == ["none"] + ["substitution"] * 3 + ["shift"] * 2
    assert robustness["auroc"].iloc[0] == pytest.approx(metrics["test"]["auroc"], abs=1e-4)
    table = pd.read_csv(paths["metrics.tsv"], sep="\t")
    assert {"auroc", "f1", "mcc"} <= set(table["metric"])


def test_every_metric_recomputed_from_the_predictions_matches_metrics_json(tiny_run):
    paths = tiny_run["paths"]
    stored = json.loads(open(paths["metrics.json"]).read())
    predictions = read_predictions(paths["predictions.tsv.gz"])
    check_stored_metrics(stored, predictions, paths["metrics.json"])
    for split in ("val", "test"):
        rows = predictions[split]
        again = classification_metrics(rows["label"], rows["score"], stored[split]["threshold"])
        assert again == stored[split]  # exactly: the scores are stored at full precision
    for split, key in (("test", "f1"), ("val", "brier"), ("test", "tp")):
        changed = json.loads(json.dumps(stored))
        changed[split][key] += 1e-7
        with pytest.raises(InputError, match=f"{split} task {key} .*re-run evaluate_model"):
            check_stored_metrics(changed, predictions, paths["metrics.json"])


def test_threshold_ignores_test_labels(tiny_run, tmp_path):
    """Relabelling the test split changes test metrics but never the threshold."""
    root = tiny_run["root"]
    with np.load(root / "test.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays["y"] = 1 - arrays["y"]
    np.savez(tmp_path / "test.npz", **arrays)
    inputs = replace(tiny_run["inputs"], test=str(tmp_path / "test.npz"))
    flipped = evaluate_model(inputs, _outputs(tmp_path), tiny_run["config"])
    assert flipped["test"]["threshold"] == tiny_run["metrics"]["test"]["threshold"]
    assert flipped["test"]["auroc"] == pytest.approx(1 - tiny_run["metrics"]["test"]["auroc"])


def test_genome_that_disagrees_with_the_dataset_stops_evaluation(tiny_run, tmp_path):
    root = tiny_run["root"]
    genome = (root / "genome.fa").read_text().split("\n")
    changed = genome[1][:11100] + "".join("A" if b != "A" else "C" for b in genome[1][11100:])
    (tmp_path / "genome.fa").write_text(f"{genome[0]}\n{changed}\n")
    inputs = replace(tiny_run["inputs"], fasta=str(tmp_path / "genome.fa"))
    outputs = EvalOutputs(
        *(str(tmp_path / f"o{i}") for i in range(5)), robustness=str(tmp_path / "robustness.tsv")
    )
    with pytest.raises(InputError, match="genome and the dataset disagree"):
        evaluate_model(inputs, outputs, tiny_run["config"])
    assert not (tmp_path / "o0").exists()  # nothing written


def test_midranks_match_scipy():
    from scipy.stats import rankdata

    rng = np.random.default_rng(4)
    for _ in range(20):
        scores = np.round(rng.random(int(rng.integers(1, 300))), 1)
        np.testing.assert_allclose(ev.midranks(scores), rankdata(scores))


def test_multitask_evaluation_reports_each_task_and_macro_means(tiny_run, tmp_path):
    root = tiny_run["root"]
    hyper = {"length": 64, "n_tasks": 2, "filters": (8, 8, 8), "kernels": (5, 3, 3)}
    hyper["pools"] = (2, 2, 2)
    torch.manual_seed(1)
    save_checkpoint(str(tmp_path / "model.pt"), Basset(**hyper), "basset", hyper)
    rng = np.random.default_rng(5)
    for split in ("val", "test"):
        with np.load(root / f"{split}.npz") as data:
            arrays = dict(data)
        second = rng.integers(0, 2, len(arrays["y"]))
        second[:2] = [1, 0]
        arrays["y"] = np.stack([arrays["y"][:, 0], second], axis=1).astype(np.uint8)
        arrays["tasks"] = np.array(["A", "B"])
        np.savez(tmp_path / f"{split}.npz", **arrays)
    out = {name: str(tmp_path / name) for name in tiny_run["paths"]}
    files = {name: str(tmp_path / f"{name}.{ext}") for name, ext in _SPLIT_FILES}
    inputs = replace(tiny_run["inputs"], **files)
    metrics = evaluate_model(inputs, _outputs(tmp_path), tiny_run["config"])
    assert metrics["tasks"] == ["A", "B"] and metrics["task"] == "macro"
    by_task = metrics["by_task"]
    assert metrics["test"]["auroc"] == pytest.approx(
        (by_task["A"]["test"]["auroc"] + by_task["B"]["test"]["auroc"]) / 2
    )
    assert "auroc_ci95" in by_task["B"]["test_ci"]
    predictions = pd.read_csv(out["predictions.tsv.gz"], sep="\t")
    assert len(predictions) == 2 * (80 + 80)
    test_b = predictions[(predictions["split"] == "test") & (predictions["task"] == "B")]
    assert auroc(test_b["label"].to_numpy(), test_b["score"].to_numpy()) == pytest.approx(
        by_task["B"]["test"]["auroc"], abs=1e-12
    )
    check_stored_metrics(metrics, read_predictions(out["predictions.tsv.gz"]), "metrics.json")
    metrics["by_task"]["B"]["val"]["mcc"] += 1e-6
    with pytest.raises(InputError, match="val B mcc"):
        check_stored_metrics(metrics, read_predictions(out["predictions.tsv.gz"]), "metrics.json")
    robustness = pd.read_csv(out["robustness.tsv"], sep="\t")
    assert set(robustness["task"]) == {"A", "B", "macro"}
    clean = robustness[robustness["perturbation"] == "none"].set_index("task")["auroc"]
    assert clean["macro"] == pytest.approx((clean["A"] + clean["B"]) / 2, abs=1e-4)
    groups = pd.read_csv(out["groups.tsv"], sep="\t")
    assert set(groups["task"]) == {"A", "B", "macro"}
    table = pd.read_csv(out["metrics.tsv"], sep="\t")
    assert {"A: auroc", "B: auroc"} <= set(table["metric"])


def test_evaluation_applies_the_temperature_stored_in_the_checkpoint(tiny_run, tmp_path):
    """Calibrated scores everywhere; rankings unchanged; before/after and T in metrics.json."""
    root = tiny_run["root"]
    checkpoint = torch.load(root / "model.pt", weights_only=True)
    checkpoint["calibration"] = {
        "method": "platt",
        "temperature": [2.5],
        "bias": [0.4],
        "status": ["fitted"],
    }
    torch.save(checkpoint, tmp_path / "model.pt")
    out = {name: str(tmp_path / name) for name in tiny_run["paths"]}
    inputs = replace(tiny_run["inputs"], model=str(tmp_path / "model.pt"))
    metrics = evaluate_model(inputs, _outputs(tmp_path), tiny_run["config"])
    plain = tiny_run["metrics"]
    fit = metrics["calibration"]
    assert (fit["method"], fit["temperature"], fit["bias"]) == ("platt", 2.5, 0.4)
    assert fit["status"] == "fitted"
    assert plain["calibration"]["method"] == "none" and plain["calibration"]["temperature"] is None
    assert fit["before"] == plain["calibration"]["before"]
    assert plain["calibration"]["test"] == plain["calibration"]["before"]["test"]
    assert fit["test"]["brier"] != pytest.approx(fit["before"]["test"]["brier"], abs=1e-9)
    for key in ("auroc", "auprc", "f1", "mcc"):
        assert metrics["test"][key] == pytest.approx(plain["test"][key], abs=1e-12)
    raw_cut = np.log(plain["test"]["threshold"] / (1 - plain["test"]["threshold"]))
    assert metrics["test"]["threshold"] == pytest.approx(1 / (1 + np.exp(-raw_cut / 2.5 - 0.4)))
    predictions = pd.read_csv(out["predictions.tsv.gz"], sep="\t")
    expected = 1 / (1 + np.exp(-predictions["logit"] / 2.5 - 0.4))
    np.testing.assert_allclose(predictions["score"], expected, rtol=1e-12)
    stored = json.loads(open(out["metrics.json"]).read())
    check_stored_metrics(stored, read_predictions(out["predictions.tsv.gz"]), "metrics.json")
    for key, value in (("temperature", 2.6), ("bias", 0.0)):
        changed = json.loads(json.dumps(stored))
        changed["calibration"][key] = value
        with pytest.raises(InputError, match="sigmoid\\(logit / temperature \\+ bias\\)"):
            check_stored_metrics(changed, read_predictions(out["predictions.tsv.gz"]), "m.json")
    table = pd.read_csv(out["metrics.tsv"], sep="\t").set_index("metric")
    assert float(table.loc["calibration temperature", "test"]) == 2.5
    assert float(table.loc["calibration bias", "test"]) == 0.4
    assert "calibration ECE before temperature" in table.index
    checkpoint["calibration"]["temperature"] = [0.0]
    torch.save(checkpoint, tmp_path / "model.pt")
    with pytest.raises(InputError, match="one positive number per task"):
        evaluate_model(inputs, _outputs(tmp_path), tiny_run["config"])


def test_eval_config_rejects_keys_it_does_not_read():
    """``baseline`` belongs to the comparison: passing it to the evaluation is an error."""
    assert EvalConfig(shifts=[-5, 5]).shifts == (-5, 5)
    with pytest.raises(TypeError, match="baseline"):
        EvalConfig(baseline="basset")
    with pytest.raises(ValueError, match="evaluate.threshold 'best'"):
        EvalConfig(threshold="best")


def test_training_plot_marks_the_epoch_train_json_kept(tmp_path, monkeypatch):
    """Under ``train.monitor: val_loss`` the kept epoch is not the best val AUROC's."""
    from peakcnn.evaluation import plots

    history = tmp_path / "history.tsv"
    history.write_text(
        "epoch\ttrain_loss\tval_loss\tval_auroc\n1\t0.7\t0.60\t0.6\n2\t0.6\t0.65\t0.7\n"
    )
    (tmp_path / "train.json").write_text(json.dumps({"best_epoch": 1}))
    drawn = []
    monkeypatch.setattr(plots, "save_png", lambda figure, path: drawn.append(figure))
    plots.plot_training(str(history), str(tmp_path / "train.json"), str(tmp_path / "t.png"))
    for axis in drawn[0].axes:
        kept = [line for line in axis.lines if line.get_label().startswith("kept epoch")]
        assert [line.get_label() for line in kept] == ["kept epoch 1"]
        assert list(kept[0].get_xdata()) == [1, 1]
