"""Tests of peakcnn.evaluation.compare: the model comparison table, paired bootstrap differences."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evaluated import write_evaluation

from peakcnn.errors import InputError
from peakcnn.evaluation.compare import compare_models, paired_bootstrap
from peakcnn.evaluation.metrics import auroc, bootstrap_ci


def _write_model(folder, labels, scores, coordinates):
    """metrics.json and predictions.tsv.gz as evaluate_model writes them (val = test here)."""
    robustness = [
        {"perturbation": "none", "amount": 0, "auroc": float(auroc(labels, scores))},
        {"perturbation": "substitution", "amount": 0.1, "auroc": 0.6},
        {"perturbation": "shift", "amount": -50, "auroc": 0.55},
        {"perturbation": "shift", "amount": 10, "auroc": 0.7},
    ]
    return write_evaluation(
        folder,
        {"val": labels, "test": labels},
        {"val": scores, "test": scores},
        {"val": coordinates, "test": coordinates},
        [0.5],
        bootstrap=100,
        extra={"robustness": robustness},
    )


@pytest.fixture
def two_models(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.integers(0, 2, n)
    noise = rng.normal(size=n)
    coordinates = pd.DataFrame(
        {"chrom": "chr1", "start": np.arange(n) * 1000, "end": np.arange(n) * 1000 + 200}
    ).assign(name=[f"w{i}" for i in range(n)])
    weak = 1 / (1 + np.exp(-(labels * 0.8 + noise)))
    strong = 1 / (1 + np.exp(-(labels * 2.5 + noise)))  # same noise: correlated models
    paths = {
        "weak": _write_model(tmp_path / "weak", labels, weak, coordinates),
        "strong": _write_model(tmp_path / "strong", labels, strong, coordinates),
    }
    return {"tmp": tmp_path, "paths": paths, "labels": labels, "weak": weak, "strong": strong}


def test_table_has_one_row_per_model_and_paired_differences(two_models):
    paths, tmp = two_models["paths"], two_models["tmp"]
    table = compare_models(
        {name: p[0] for name, p in paths.items()},
        {name: p[1] for name, p in paths.items()},
        str(tmp / "models.tsv"),
        str(tmp / "models.png"),
        bootstrap=200,
    )
    assert list(table["model"]) == ["weak", "strong"]
    assert list(table["baseline"]) == [True, False]
    assert np.isnan(table["auroc_delta"].iloc[0])
    strong = table.iloc[1]
    assert strong["auroc_delta"] > 0 and strong["auroc_delta_ci95_low"] > 0
    assert strong["auroc_delta_p"] < 0.05
    assert strong["auroc_subst_0.1"] == 0.6 and strong["auroc_shift_-50bp"] == 0.55
    written = pd.read_csv(tmp / "models.tsv", sep="\t")
    assert written.shape[0] == 2 and "auroc_ci95_low" in written
    assert (tmp / "models.png").read_bytes()[:4] == b"\x89PNG"


def test_paired_ci_is_narrower_than_unpaired(two_models):
    labels, weak, strong = two_models["labels"], two_models["weak"], two_models["strong"]
    paired = paired_bootstrap(labels, weak, strong, 300, seed=0)
    low, high = paired["auroc_delta_ci95"]
    a = bootstrap_ci(labels, weak, 300, 0)["auroc_ci95"]
    b = bootstrap_ci(labels, strong, 300, 1)["auroc_ci95"]
    assert low < paired["auroc_delta"] < high
    assert high - low < (a[1] - a[0]) + (b[1] - b[0])
    same = paired_bootstrap(labels, weak, weak, 50, seed=0)
    assert same["auroc_delta"] == 0 and same["auroc_delta_ci95"] == [0.0, 0.0]


def test_different_test_windows_are_an_error(two_models):
    paths, tmp = two_models["paths"], two_models["tmp"]
    table = pd.read_csv(paths["strong"][1], sep="\t")
    table.loc[table["split"] == "test", "start"] += 1
    table.to_csv(paths["strong"][1], sep="\t", index=False)
    with pytest.raises(InputError, match="different test windows"):
        compare_models(
            {name: p[0] for name, p in paths.items()},
            {name: p[1] for name, p in paths.items()},
            str(tmp / "models.tsv"),
        )


def test_metrics_that_do_not_match_predictions_are_an_error(two_models):
    paths, tmp = two_models["paths"], two_models["tmp"]
    metrics = json.loads(open(paths["weak"][0]).read())
    metrics["test"]["auroc"] = 0.554
    open(paths["weak"][0], "w").write(json.dumps(metrics))
    with pytest.raises(InputError, match="test t auroc .* metrics.json says 0.554:"):
        compare_models(
            {"weak": paths["weak"][0]}, {"weak": paths["weak"][1]}, str(tmp / "models.tsv")
        )


def test_named_baseline(two_models):
    paths, tmp = two_models["paths"], two_models["tmp"]
    metrics = {name: p[0] for name, p in paths.items()}
    predictions = {name: p[1] for name, p in paths.items()}
    table = compare_models(metrics, predictions, str(tmp / "m.tsv"), baseline="strong")
    assert list(table["baseline"]) == [False, True]
    assert table["auroc_delta"].iloc[0] < 0
    with pytest.raises(InputError, match="not one of the models"):
        compare_models(metrics, predictions, str(tmp / "m.tsv"), baseline="other")


def test_multitask_predictions_are_compared_on_macro_means(two_models, tmp_path):
    from peakcnn.evaluation.multitask import macro_mean

    labels, weak, strong = two_models["labels"], two_models["weak"], two_models["strong"]
    coordinates = pd.DataFrame({"chrom": "c", "start": np.arange(labels.size), "name": "w"})
    coordinates["end"] = coordinates["start"] + 10
    y = np.stack([labels, labels[::-1]], axis=1)
    paths = {}
    for name, scores in (
        ("weak", np.stack([weak, weak[::-1]], 1)),
        ("strong", np.stack([strong, weak[::-1]], 1)),
    ):
        paths[name] = write_evaluation(
            tmp_path / f"mt_{name}",
            {"val": y, "test": y},
            {"val": scores, "test": scores},
            {"val": coordinates, "test": coordinates},
            [0.5, 0.5],
        )
        metrics = json.loads(open(paths[name][0]).read())
        assert metrics["test"]["auroc"] == pytest.approx(macro_mean(auroc, y, scores), abs=1e-12)
    table = compare_models(
        {n: m for n, (m, _) in paths.items()},
        {n: p for n, (_, p) in paths.items()},
        str(tmp_path / "mt.tsv"),
        bootstrap=50,
    )
    strong_row = table.set_index("model").loc["strong"]
    # task B scores are equal in both models, so the macro difference is half task A's
    expected = (auroc(labels, strong) - auroc(labels, weak)) / 2
    assert strong_row["auroc_delta"] == pytest.approx(expected)
    assert strong_row["auroc_delta_ci95_low"] > 0


def test_fold_summary_reports_each_fold_and_the_spread(tmp_path):
    from peakcnn.evaluation.folds import summarise_folds

    paths = {}
    for fold, value in (("fold0", 0.8), ("fold1", 0.9), ("fold2", 1.0)):
        paths[fold] = {}
        for model, offset in (("basset", 0.0), ("kmer_baseline", -0.1)):
            test = {"auroc": value + offset, "auprc": 0.5, "positive_fraction": 0.5}
            test.update(f1=0.5, mcc=0.1, accuracy=0.5, n=100)
            path = tmp_path / f"{fold}_{model}.json"
            path.write_text(json.dumps({"test": test}))
            paths[fold][model] = str(path)
    summary = summarise_folds(paths, str(tmp_path / "folds.tsv"), str(tmp_path / "folds.json"))
    basset = summary["models"]["basset"]["auroc"]
    assert basset["mean"] == pytest.approx(0.9) and basset["sd"] == pytest.approx(0.1)
    assert summary["models"]["kmer_baseline"]["auroc"]["min"] == pytest.approx(0.7)
    table = pd.read_csv(tmp_path / "folds.tsv", sep="\t")
    assert len(table) == 6 and set(table["fold"]) == {"fold0", "fold1", "fold2"}


def test_scores_near_one_that_tie_at_six_digits_still_match_their_metrics(tmp_path):
    """Float32 probabilities just below 1 keep their order in predictions.tsv.gz."""
    from peakcnn.evaluation.predictions import STORED_TOLERANCE, read_predictions

    rng = np.random.default_rng(5)
    n = 3434
    labels = rng.integers(0, 2, n)
    logits = 12 + 1.5 * labels + rng.normal(size=n)  # every probability above 0.9999
    scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
    rounded = np.array([float(f"{s:.6g}") for s in scores])
    assert len(np.unique(rounded)) < len(np.unique(scores)) / 2  # ties after rounding
    assert abs(auroc(labels, rounded) - auroc(labels, scores)) > 1e-4 > STORED_TOLERANCE
    coordinates = pd.DataFrame(
        {"chrom": "chr1", "start": np.arange(n) * 500, "end": np.arange(n) * 500 + 200}
    ).assign(name=[f"w{i}" for i in range(n)])
    paths = {
        name: write_evaluation(
            tmp_path / name,
            {"val": labels, "test": labels},
            {"val": model_scores, "test": model_scores},
            {"val": coordinates, "test": coordinates},
            [0.99999],
        )
        for name, model_scores in (("basset", scores), ("other", scores[::-1].copy()))
    }
    stored = read_predictions(paths["basset"][1])["test"]["score"].to_numpy()
    assert np.array_equal(stored, scores.astype(np.float64))
    table = compare_models(
        {name: p[0] for name, p in paths.items()},
        {name: p[1] for name, p in paths.items()},
        str(tmp_path / "models.tsv"),
        bootstrap=0,
    )
    assert table.loc[0, "auroc"] == auroc(labels, scores)
