"""Temperature scaling: the fit, its guards, where it is stored and who applies it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from apply_helpers import write_run
from sklearn.linear_model import LogisticRegression
from test_model_train import train_toy

from peakcnn.apply.export import export_model
from peakcnn.apply.loading import load_model
from peakcnn.apply.predict import score_columns
from peakcnn.data.splitfile import load_split
from peakcnn.errors import InputError
from peakcnn.evaluation.evaluate import evaluate_task
from peakcnn.evaluation.metrics import auprc, auroc, calibration
from peakcnn.models.calibration import (
    TEMPERATURE_BOUNDS,
    binary_nll,
    calibrated_probabilities,
    calibration_of,
    fit_calibration,
    fit_temperature,
)
from peakcnn.models.checkpoint import load_checkpoint
from peakcnn.models.inference import predict_logits


def overconfident(n: int, stretch: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z) and model logits ``stretch * z`` (over-confident if > 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return stretch * z, labels


def test_fitted_temperature_recovers_the_stretch_and_matches_logistic_regression():
    logits, labels = overconfident(20_000, 3.0, 0)
    fit = fit_temperature(logits, labels)
    assert fit["status"] == "fitted"
    assert fit["temperature"] == pytest.approx(3.0, rel=0.05)
    # independent reference: a one-weight logistic regression on the logit, no intercept
    reference = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=1000)
    reference.fit(logits[:, None], labels)
    assert fit["temperature"] == pytest.approx(1 / reference.coef_[0, 0], rel=1e-4)
    assert fit["nll_after"] < fit["nll_before"]
    assert fit["nll_after"] == pytest.approx(binary_nll(logits / fit["temperature"], labels))


def test_under_confident_logits_get_a_temperature_below_one():
    logits, labels = overconfident(20_000, 0.4, 1)
    assert fit_temperature(logits, labels)["temperature"] == pytest.approx(0.4, rel=0.05)


@pytest.mark.parametrize(
    ("logits", "labels", "status"),
    [
        (np.array([1.0, -2.0, 3.0]), np.array([1, 1, 1]), "one_class"),
        (np.array([1.0, -2.0, 3.0]), np.array([0, 0, 0]), "one_class"),
        (np.zeros(4), np.array([0, 1, 0, 1]), "constant_logits"),
        (np.zeros(0), np.zeros(0, dtype=int), "one_class"),
    ],
)
def test_degenerate_validation_sets_keep_temperature_one_and_say_why(logits, labels, status):
    fit = fit_temperature(logits, labels)
    assert (fit["temperature"], fit["status"]) == (1.0, status)


def test_uninformative_logits_stop_at_the_bound_and_say_so():
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(0, 5, 2000), rng.integers(0, 2, 2000)
    fit = fit_temperature(logits, labels)
    assert fit["status"] == "at_bound"
    assert fit["temperature"] == pytest.approx(TEMPERATURE_BOUNDS[1], rel=1e-3)


def test_broken_inputs_are_errors():
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_temperature(np.array([0.0, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match="0/1"):
        fit_temperature(np.array([0.0, 1.0]), np.array([0, 2]))
    with pytest.raises(InputError, match="one positive number per task"):
        calibration_of({"temperature": [1.5, -1.0]}, 2, "model.pt")
    with pytest.raises(InputError, match="one positive number per task"):
        calibration_of({"temperature": [1.5]}, 2, "model.pt")
    with pytest.raises(InputError, match="one positive number per task"):
        calibration_of({"temperature": [1.5, 2.0], "bias": [0.0, np.nan]}, 2, "model.pt")
    with pytest.raises(ValueError, match="must be one of"):
        fit_calibration(np.zeros((3, 1)), np.ones((3, 1)), "isotonic")
    assert calibration_of(None, 2, "model.pt") is None
    temperatures, biases = calibration_of({"temperature": [1.5, 2.0]}, 2, "model.pt")
    assert temperatures.tolist() == [1.5, 2.0] and biases.tolist() == [0.0, 0.0]


def test_platt_fits_scale_and_bias_as_logistic_regression_does():
    logits, labels = overconfident(20_000, 2.0, 6)
    shifted = logits - 1.5  # a base-rate shift that no temperature can undo
    platt = fit_temperature(shifted, labels, "platt")
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000).fit(shifted[:, None], labels)
    assert platt["status"] == "fitted"
    assert 1 / platt["temperature"] == pytest.approx(reference.coef_[0, 0], rel=1e-4)
    assert platt["bias"] == pytest.approx(reference.intercept_[0], abs=1e-4)
    assert platt["temperature"] == pytest.approx(2.0, rel=0.05)
    assert platt["bias"] == pytest.approx(0.75, abs=0.05)  # 1.5 / T
    temperature = fit_temperature(shifted, labels)
    assert temperature["bias"] == 0.0 and platt["nll_after"] < temperature["nll_after"]
    calibrated = {
        name: calibrated_probabilities(shifted, np.array([fit["temperature"]]), [fit["bias"]])
        for name, fit in (("platt", platt), ("temperature", temperature))
    }
    ece = {name: calibration(labels, p)["ece"] for name, p in calibrated.items()}
    assert ece["platt"] < 0.02 < ece["temperature"]


def test_none_records_the_identity():
    logits, labels = overconfident(500, 3.0, 7)
    record = fit_calibration(logits[:, None], labels[:, None], "none")
    assert record["method"] == "none" and record["status"] == ["not_requested"]
    assert (record["temperature"], record["bias"]) == ([1.0], [0.0])
    assert record["nll_after"] == record["nll_before"] == [binary_nll(logits, labels)]


def test_one_temperature_per_task():
    first, labels_a = overconfident(5000, 2.0, 3)
    second, labels_b = overconfident(5000, 0.5, 4)
    record = fit_calibration(np.stack([first, second], 1), np.stack([labels_a, labels_b], 1))
    assert record["method"] == "temperature" and record["status"] == ["fitted", "fitted"]
    assert record["temperature"][0] == pytest.approx(2.0, rel=0.1)
    assert record["temperature"][1] == pytest.approx(0.5, rel=0.1)


def test_scaling_keeps_rankings_moves_the_threshold_and_lowers_the_calibration_error():
    logits, labels = overconfident(6000, 3.0, 5)
    split = {"val": slice(0, 3000), "test": slice(3000, 6000)}
    temperature = fit_temperature(logits[split["val"]], labels[split["val"]])["temperature"]
    raw = {s: calibrated_probabilities(logits[part], None) for s, part in split.items()}
    scaled = {
        s: calibrated_probabilities(logits[part], np.array([temperature]))
        for s, part in split.items()
    }
    y = {s: labels[part] for s, part in split.items()}
    options = {"threshold": "max_f1", "bootstrap": 0, "seed": 0, "calibration_bins": 10}
    before = evaluate_task(y, raw, **options)
    after = evaluate_task(y, scaled, raw_scores=raw, **options)
    for key in ("auroc", "auprc"):
        assert after["test"][key] == pytest.approx(before["test"][key], abs=1e-12)
    # the same validation window is the cut: same calls, another probability value
    assert after["test"]["threshold"] != pytest.approx(before["test"]["threshold"], abs=1e-3)
    for key in ("f1", "mcc", "tp", "fp"):
        assert after["test"][key] == before["test"][key]
    raw_cut = np.log(before["test"]["threshold"] / (1 - before["test"]["threshold"]))
    assert after["test"]["threshold"] == pytest.approx(1 / (1 + np.exp(-raw_cut / temperature)))
    assert after["calibration"]["before"]["test"] == before["calibration"]["test"]
    assert after["calibration"]["test"]["ece"] < 0.5 * before["calibration"]["test"]["ece"]
    assert after["calibration"]["test"]["brier"] < before["calibration"]["test"]["brier"]
    assert auroc(y["test"], scaled["test"]) == auroc(y["test"], raw["test"])
    assert auprc(y["test"], scaled["test"]) == pytest.approx(auprc(y["test"], raw["test"]))
    assert calibration(y["test"], scaled["test"])["ece"] == after["calibration"]["test"]["ece"]


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_training_stores_the_calibration_fitted_on_the_kept_model(tmp_path, method):
    report, out = train_toy(tmp_path, "a", epochs=2, calibration=method)
    checkpoint = torch.load(out["pt"], weights_only=True)
    stored = checkpoint["calibration"]
    assert stored == json.loads(open(out["json"]).read())["calibration"] == report["calibration"]
    val = load_split(str(tmp_path / "val.npz"))
    logits = predict_logits(load_checkpoint(out["pt"]), val["x"], torch.device("cpu"))
    again = fit_calibration(logits, val["y"], method)
    assert again["temperature"] == pytest.approx(stored["temperature"], rel=1e-6)
    assert again["bias"] == pytest.approx(stored["bias"], abs=1e-6)
    assert stored["temperature"][0] > 0 and stored["method"] == method
    assert (stored["bias"] == [0.0]) == (method == "temperature")


def _calibrate_run(model_path, temperatures, biases):
    """Store a Platt calibration in a run's model.pt, as training does."""
    checkpoint = torch.load(model_path, weights_only=True)
    checkpoint["calibration"] = {"method": "platt", "temperature": temperatures, "bias": biases}
    torch.save(checkpoint, model_path)


def test_predict_variants_and_exports_use_the_stored_temperature(tmp_path):
    model_path = write_run(tmp_path)
    plain = load_model(str(model_path))
    assert plain.metadata.temperatures is None
    _calibrate_run(model_path, [2.0, 0.5], [0.3, -1.0])
    model = load_model(str(model_path))
    assert model.metadata.temperatures == [2.0, 0.5] and model.metadata.biases == [0.3, -1.0]
    x = np.eye(4, dtype=np.uint8)[np.random.default_rng(0).integers(0, 4, (16, 100))]
    x = np.ascontiguousarray(x.transpose(0, 2, 1))
    logits = model.logits(x)
    columns = score_columns(model, model.scores(x, False))
    for t, task in enumerate(model.tasks):
        scaled = logits[:, t].astype(np.float64) / [2.0, 0.5][t] + [0.3, -1.0][t]
        expected = 1 / (1 + np.exp(-scaled))
        np.testing.assert_allclose(columns[f"probability_{task}"], expected, rtol=1e-12)
        np.testing.assert_array_equal(columns[f"logit_{task}"], logits[:, t])  # raw
    assert not np.allclose(
        columns[f"probability_{model.tasks[0]}"], 1 / (1 + np.exp(-logits[:, 0]))
    )
    report = export_model(model, str(tmp_path / "exported" / "m"))
    assert report["metadata"]["temperatures"] == [2.0, 0.5]
    assert report["metadata"]["biases"] == [0.3, -1.0]
    for suffix in ("ts", "onnx"):
        exported = load_model(str(tmp_path / "exported" / f"m.{suffix}"))
        assert exported.metadata.temperatures == [2.0, 0.5]
        assert exported.metadata.biases == [0.3, -1.0]
        np.testing.assert_allclose(
            exported.probabilities(exported.logits(x)), model.probabilities(logits), atol=1e-6
        )
