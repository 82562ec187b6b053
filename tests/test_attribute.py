"""Tests of peakcnn.interpret.attribute and its parts: SHAP attributions, QC and cross-checks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from peakcnn.data.shuffle import shuffle_window
from peakcnn.errors import InputError
from peakcnn.interpret.attribute import (
    attribute_chunk,
    attribute_windows,
    compute_attributions,
    modisco_paths,
)
from peakcnn.interpret.ism import ism, ism_importance, saliency
from peakcnn.interpret.shap_values import make_references, resolve_explainer
from peakcnn.models import registry as model_module
from peakcnn.models.basset import Basset
from peakcnn.models.checkpoint import save_checkpoint

LENGTH = 200
HYPER = {"length": LENGTH, "n_tasks": 2, "filters": (8, 8, 8), "dense": (16, 8)}
N_ROWS = 30
N_ROWS_WITH_N = (0, 3, 7, 11, 14, 20)
OPTIONS = {"n_windows": 8, "n_shuffles": 5, "batch_pairs": 10, "seed": 3, "logo_windows": 3}


def _randomize(model: nn.Module, seed: int) -> nn.Module:
    """Scale weights and set BatchNorm statistics so that logits spread over a few units."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            module.weight.data.mul_(3.0)
        if isinstance(module, nn.BatchNorm1d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
    return model.eval()


def _dataset(rng: np.random.Generator) -> dict[str, np.ndarray]:
    bases = rng.integers(0, 4, size=(N_ROWS, LENGTH))
    x = np.zeros((N_ROWS, 4, LENGTH), dtype=np.uint8)
    np.put_along_axis(x, bases[:, None, :], 1, axis=1)
    for i, row in enumerate(N_ROWS_WITH_N):  # a few interior N columns, and an edge run
        x[row, :, 40 + 10 * i : 43 + 10 * i] = 0
    x[N_ROWS_WITH_N[-1], :, LENGTH - 15 :] = 0
    y = np.zeros((N_ROWS, 2), dtype=np.uint8)
    y[::2, 0] = 1
    y[N_ROWS_WITH_N, 0] = 1
    y[1::3, 1] = 1
    starts = np.arange(N_ROWS, dtype=np.int64) * 1000
    return {
        "x": x,
        "y": y,
        "chrom": np.array(["chr1"] * N_ROWS),
        "start": starts,
        "end": starts + LENGTH,
        "tasks": np.array(["a", "b"]),
    }


def _logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x).float()).double().numpy()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("attribute")
    torch.manual_seed(0)
    model = _randomize(Basset(**HYPER), seed=0)
    save_checkpoint(str(root / "model.pt"), model, "basset", HYPER)
    data = _dataset(np.random.default_rng(0))
    np.savez(root / "test.npz", **data)
    return {"root": root, "model": model, "data": data}


@pytest.fixture(scope="module")
def run(inputs: dict) -> dict:
    root = inputs["root"]
    paths = {name: str(root / "out" / name) for name in ("shap.npz", "logos.png", "qc.json")}
    qc = attribute_windows(
        str(root / "model.pt"), str(root / "test.npz"), *paths.values(), device="cpu", **OPTIONS
    )
    with np.load(paths["shap.npz"]) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return {"qc": qc, "paths": paths, "arrays": arrays}


def test_outputs_and_shapes(run: dict) -> None:
    arrays, n = run["arrays"], OPTIONS["n_windows"]
    for key in ("shap", "projected"):
        assert arrays[key].shape == (n, 4, LENGTH) and arrays[key].dtype == np.float32
    assert arrays["x"].shape == (n, 4, LENGTH) and arrays["x"].dtype == np.uint8
    for key in ("chrom", "start", "end", "score", "index"):
        assert arrays[key].shape == (n,)
    assert arrays["chrom"].dtype.kind == "U"
    assert np.all((arrays["score"] > 0) & (arrays["score"] < 1))
    with open(run["paths"]["logos.png"], "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_projection_on_observed_base(run: dict) -> None:
    arrays = run["arrays"]
    x, projected = arrays["x"], arrays["projected"]
    assert np.all(projected[x == 0] == 0)
    np.testing.assert_allclose(
        projected.sum(axis=1), arrays["shap"].sum(axis=1) * x.any(axis=1), rtol=1e-5, atol=1e-7
    )


def test_hypothetical_projects_and_modisco_inputs(run: dict) -> None:
    arrays, qc = run["arrays"], run["qc"]
    x, hypothetical = arrays["x"], arrays["hypothetical"]
    assert hypothetical.shape == x.shape and hypothetical.dtype == np.float32
    scale = np.abs(arrays["projected"]).max()
    np.testing.assert_allclose(hypothetical * x, arrays["projected"], atol=1e-6 * scale)
    assert np.abs(hypothetical * (1 - x)).max() > 0.1 * scale  # the other bases are filled in
    assert qc["hypothetical"] == str(arrays["hypothetical_method"])
    assert "tangermeme hypothetical=True" in qc["hypothetical"]
    ohe_path, hypothetical_path = modisco_paths(run["paths"]["shap.npz"])
    assert ohe_path.endswith("out/modisco/ohe.npz")
    for path, expected in ((ohe_path, x), (hypothetical_path, hypothetical)):
        with np.load(path) as npz:
            assert npz.files == ["arr_0"]  # what ``modisco motifs -s/-a`` read
            np.testing.assert_array_equal(npz["arr_0"], expected)


def test_unknown_bases_get_zero_shap(run: dict) -> None:
    arrays, qc = run["arrays"], run["qc"]
    unknown = ~arrays["x"].any(axis=1)
    assert qc["windows_with_n"] == int(unknown.any(axis=1).sum()) >= 1
    assert qc["n_columns"] == int(unknown.sum())
    assert np.all(arrays["shap"].transpose(0, 2, 1)[unknown] == 0)


def test_qc_additivity(run: dict) -> None:
    with open(run["paths"]["qc.json"]) as handle:
        qc = json.load(handle)
    assert qc == json.loads(json.dumps(run["qc"]))
    assert qc["explainer"] == "shap.DeepExplainer"
    assert qc["additivity_passed"] and qc["additivity_max_error"] < qc["additivity_tolerance"]
    assert qc["n_windows"] == OPTIONS["n_windows"] and qc["n_shuffles"] == OPTIONS["n_shuffles"]
    assert qc["pairs"] == OPTIONS["n_windows"] * OPTIONS["n_shuffles"]
    assert qc["attributions_per_second"] > 0


def test_selects_top_scoring_positives(inputs: dict, run: dict) -> None:
    data, arrays = inputs["data"], run["arrays"]
    logits = _logits(inputs["model"], data["x"])[:, 0]
    positives = np.flatnonzero(data["y"][:, 0] == 1)
    expected = positives[np.argsort(-logits[positives], kind="stable")][: OPTIONS["n_windows"]]
    np.testing.assert_array_equal(arrays["index"], expected)
    np.testing.assert_array_equal(arrays["x"], data["x"][expected])
    np.testing.assert_array_equal(arrays["start"], data["start"][expected])
    np.testing.assert_allclose(arrays["score"], 1 / (1 + np.exp(-logits[expected])), rtol=1e-5)


def test_matches_tangermeme_deep_lift_shap(inputs: dict, run: dict) -> None:
    from tangermeme.deep_lift_shap import deep_lift_shap

    arrays, n_shuffles = run["arrays"], OPTIONS["n_shuffles"]
    references, _ = make_references(arrays["x"], arrays["index"], n_shuffles, OPTIONS["seed"])
    x, refs = torch.from_numpy(arrays["x"]).float(), torch.from_numpy(references).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tangermeme warns about the N columns of X
        multipliers = deep_lift_shap(
            inputs["model"],
            x,
            target=0,
            references=refs,
            raw_outputs=True,
            batch_size=n_shuffles,
            device="cpu",
            only_warn=True,
        )
    raw = (multipliers * (x[:, None] - refs)).mean(dim=1).numpy()
    assert np.corrcoef(raw.ravel(), arrays["shap"].ravel())[0, 1] > 0.999
    np.testing.assert_allclose(arrays["shap"], raw, atol=1e-5 * np.abs(raw).max())


def test_shuffle_keeps_unknown_bases_in_place() -> None:
    rng = np.random.default_rng(1)
    x = np.zeros((4, 50), dtype=np.uint8)
    x[rng.integers(0, 4, 50), np.arange(50)] = 1
    x[:, [0, 20, 21, 49]] = 0
    references, shuffled = shuffle_window(x, 4, seed=5)
    known = x.any(axis=0)
    assert shuffled and references.shape == (4, 4, 50)
    assert np.all(references[:, :, ~known] == 0)
    assert np.all(references[:, :, known].sum(axis=1) == 1)
    np.testing.assert_array_equal(references.sum(axis=2), np.repeat(x.sum(axis=1)[None], 4, 0))
    assert not np.array_equal(references[0], x)
    same, shuffled = shuffle_window(np.tile(np.eye(4, 1, dtype=np.uint8), (1, 30)), 3, seed=0)
    assert not shuffled and np.all(same[:, 0] == 1)


class FunctionalReluBasset(Basset):
    """Basset whose forward applies torch.nn.functional.relu instead of its ReLU modules."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(x) if isinstance(layer, nn.ReLU) else layer(x)
        return x


class HardtanhBasset(Basset):
    """Basset whose activations are Hardtanh modules, which have no DeepLIFT rule."""

    def __init__(self, **hyperparameters) -> None:
        super().__init__(**hyperparameters)
        layers = [nn.Hardtanh() if isinstance(layer, nn.ReLU) else layer for layer in self.layers]
        self.layers = nn.Sequential(*layers)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (FunctionalReluBasset, "additivity_tolerance=0.001.*functional"),
        (HardtanhBasset, "additivity_tolerance=0.001.*Hardtanh, called 1x\\) has no DeepLIFT rule"),
    ],
)
def test_unsupported_model_raises_and_writes_nothing(
    inputs: dict, tmp_path, monkeypatch: pytest.MonkeyPatch, cls: type, message: str
) -> None:
    monkeypatch.setitem(model_module.MODELS, "broken", cls)
    torch.manual_seed(0)
    broken = _randomize(cls(**HYPER), seed=0)
    save_checkpoint(str(tmp_path / "model.pt"), broken, "broken", HYPER)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message) as error:
        attribute_windows(
            str(tmp_path / "model.pt"),
            str(inputs["root"] / "test.npz"),
            str(out / "shap.npz"),
            str(out / "logos.png"),
            str(out / "qc.json"),
            device="cpu",
            **OPTIONS,
        )
    assert "\n" not in str(error.value)
    assert not out.exists() or not any(out.iterdir())


def test_task_without_positives_raises(inputs: dict, tmp_path) -> None:
    data = dict(inputs["data"], y=np.zeros((N_ROWS, 2), dtype=np.uint8))
    np.savez(tmp_path / "test.npz", **data)
    with pytest.raises(InputError, match="no window has label 1"):
        attribute_windows(
            str(inputs["root"] / "model.pt"),
            str(tmp_path / "test.npz"),
            *(str(tmp_path / name) for name in ("s.npz", "l.png", "q.json")),
            device="cpu",
        )


def test_fewer_positives_than_asked(inputs: dict, tmp_path) -> None:
    paths = [str(tmp_path / name) for name in ("s.npz", "l.png", "q.json")]
    qc = attribute_windows(
        str(inputs["root"] / "model.pt"),
        str(inputs["root"] / "test.npz"),
        *paths,
        n_windows=100,
        n_shuffles=2,
        task=1,
        device="cpu",
    )
    expected = np.flatnonzero(inputs["data"]["y"][:, 1] == 1)
    assert qc["n_windows"] == qc["n_positives"] == len(expected)
    with np.load(paths[0]) as npz:
        assert sorted(npz["index"]) == list(expected)


def test_qc_checks_shap_against_ism_and_saliency(run: dict) -> None:
    qc, arrays = run["qc"], run["arrays"]
    assert len(qc["additivity_errors"]) == OPTIONS["n_windows"]
    np.testing.assert_allclose(qc["additivity_errors"], arrays["additivity_error"])
    ism = qc["ism"]
    assert ism["windows"] == min(10, OPTIONS["n_windows"])
    assert (ism["start"], ism["end"]) == (50, 150)
    assert ism["mutants"] == ism["windows"] * 100 * 3
    assert len(ism["pearson_with_shap_per_window"]) == ism["windows"]
    assert ism["pearson_with_shap_median"] > 0  # random model; the planted-motif test asks more
    track, saliency = arrays["projected"].sum(axis=1), arrays["saliency"].sum(axis=1)
    pearson = [np.corrcoef(a, b)[0, 1] for a, b in zip(track, saliency, strict=True)]
    saliency_qc = qc["saliency"]
    np.testing.assert_allclose(saliency_qc["pearson_with_shap_per_window"], pearson, rtol=1e-4)
    assert saliency_qc["pearson_with_shap_median"] == pytest.approx(np.median(pearson), rel=1e-4)
    assert arrays["ism"].shape == (ism["windows"], 4, 100)
    np.testing.assert_array_equal(arrays["ism_index"], arrays["index"][: ism["windows"]])
    assert arrays["saliency"].shape == arrays["shap"].shape
    assert np.all(arrays["saliency"][arrays["x"] == 0] == 0)


def test_ism_matches_tangermeme(inputs: dict) -> None:
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    x = inputs["data"]["x"][1:4]  # row 3 holds N columns
    ours = ism(inputs["model"], x, 0, torch.device("cpu"), 30, 90)
    y0, y_hat = saturation_mutagenesis(
        inputs["model"],
        torch.from_numpy(x).float(),
        start=30,
        end=90,
        raw_outputs=True,
        device="cpu",
        fast=False,
    )
    expected = (y_hat[..., 0] - y0[:, None, None, 0]).numpy()
    observed = x[:, :, 30:90] == 1
    np.testing.assert_allclose(ours[~observed], expected[~observed], atol=1e-5)
    assert np.all(ours[observed] == 0)
    importance = ism_importance(ours, x[:, :, 30:90])
    np.testing.assert_allclose(importance, -ours.sum(axis=1) / 3 * x[:, :, 30:90].any(axis=1))


def test_saliency_of_a_linear_model_is_weight_times_input() -> None:
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(4 * LENGTH, 2)).eval()
    x = _dataset(np.random.default_rng(2))["x"][:5]
    values = saliency(linear, x, 1, torch.device("cpu"))
    weights = linear[1].weight.detach().numpy()[1].reshape(4, LENGTH)
    np.testing.assert_allclose(values, weights[None] * x, rtol=1e-6)


def test_chunks_gather_to_the_same_result(inputs: dict, run: dict, tmp_path) -> None:
    root = inputs["root"]
    options = {k: v for k, v in OPTIONS.items() if k != "logo_windows"}
    paths = [str(tmp_path / f"{chunk}.npz") for chunk in range(3)]
    for chunk, path in enumerate(paths):
        attribute_chunk(
            str(root / "model.pt"),
            str(root / "test.npz"),
            path,
            chunk=chunk,
            chunks=3,
            device="cpu",
            **options,
        )
    outputs = [str(tmp_path / name) for name in ("shap.npz", "logos.png", "qc.json")]
    qc = compute_attributions(paths[::-1], *outputs, logo_windows=3)
    with np.load(outputs[0]) as npz:
        joined = {key: npz[key] for key in npz.files}
    assert set(joined) == set(run["arrays"])
    for key, value in run["arrays"].items():
        if key == "additivity_error":  # rounding noise of different DeepExplainer batches
            assert joined[key].max() < 1e-4 and value.max() < 1e-4
        elif value.dtype.kind == "f":
            np.testing.assert_allclose(joined[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
        else:
            np.testing.assert_array_equal(joined[key], value, err_msg=key)
    assert qc["chunks"] == 3 and qc["n_windows"] == OPTIONS["n_windows"]
    assert qc["pairs"] == run["qc"]["pairs"]
    with pytest.raises(InputError, match="do not fit together"):
        compute_attributions(paths[:2], *outputs)


def test_gradient_explainer_is_recorded_not_enforced(inputs: dict, run: dict, tmp_path) -> None:
    paths = [str(tmp_path / name) for name in ("s.npz", "l.png", "q.json")]
    qc = attribute_windows(
        str(inputs["root"] / "model.pt"),
        str(inputs["root"] / "test.npz"),
        *paths,
        explainer="shap.GradientExplainer",
        gradient_samples=100,
        device="cpu",
        **OPTIONS,
    )
    assert qc["explainer"] == "shap.GradientExplainer" and not qc["additivity_enforced"]
    assert qc["additivity_max_error"] > qc["additivity_tolerance"]  # recorded, not enforced
    assert qc["additivity_passed"] and np.isfinite(qc["additivity_median_relative_error"])
    with np.load(paths[0]) as npz:
        np.testing.assert_allclose(npz["output_delta"], run["arrays"]["output_delta"])
    # on a trained model expected gradients must find the motif: see tests/test_motifs.py


def test_explainer_comes_from_the_checkpoint(inputs: dict, tmp_path) -> None:
    model = inputs["model"]
    save_checkpoint(str(tmp_path / "g.pt"), model, "basset", HYPER)
    assert resolve_explainer(str(tmp_path / "g.pt")) == "shap.DeepExplainer"
    torch.save({**torch.load(tmp_path / "g.pt"), "explainer": None}, tmp_path / "none.pt")
    with pytest.raises(InputError, match="no SHAP explainer"):
        resolve_explainer(str(tmp_path / "none.pt"))
    torch.save(
        {**torch.load(tmp_path / "g.pt"), "explainer": "shap.GradientExplainer"},
        tmp_path / "grad.pt",
    )
    assert resolve_explainer(str(tmp_path / "grad.pt")) == "shap.GradientExplainer"
    with pytest.raises(InputError, match="must be auto or one of"):
        resolve_explainer(str(tmp_path / "g.pt"), "lime")
    # a checkpoint naming no explainer gets its model's: none for the k-mer baseline
    older = {k: v for k, v in torch.load(tmp_path / "g.pt").items() if k != "explainer"}
    torch.save(older, tmp_path / "old.pt")
    assert resolve_explainer(str(tmp_path / "old.pt")) == "shap.DeepExplainer"
    torch.save({**older, "name": "kmer_baseline"}, tmp_path / "old_kmer.pt")
    with pytest.raises(InputError, match="'kmer_baseline' has no SHAP explainer"):
        resolve_explainer(str(tmp_path / "old_kmer.pt"))
