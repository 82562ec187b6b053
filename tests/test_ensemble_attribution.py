"""Attributions averaged over models (peakcnn.interpret.ensemble, `peakcnn explain`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_attribute import HYPER, _dataset, _randomize

from peakcnn.cli.main import main
from peakcnn.errors import InputError
from peakcnn.interpret.attribute import attribute_windows, modisco_paths
from peakcnn.interpret.ensemble import AVERAGED, attribute_ensemble
from peakcnn.models.basset import Basset
from peakcnn.models.checkpoint import save_checkpoint

#: Every positive of task 0 explained (and by ISM), so that members' outputs can be aligned.
OPTIONS = {"n_windows": 50, "n_shuffles": 4, "batch_pairs": 8, "seed": 2, "logo_windows": 2}
OPTIONS |= {"ism_windows": 50, "ism_width": 16, "device": "cpu"}
NAMES = ("shap.npz", "logos.png", "qc.json")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble_attribution")
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        paths.append(str(root / f"fold{seed}.pt"))
        save_checkpoint(paths[-1], _randomize(Basset(**HYPER), seed=seed), "basset", HYPER)
    np.savez(root / "test.npz", **_dataset(np.random.default_rng(0)))
    return {"root": root, "models": paths, "data": str(root / "test.npz")}


def outputs(folder):
    return [str(folder / name) for name in NAMES]


def read(folder) -> dict[str, np.ndarray]:
    with np.load(folder / "shap.npz") as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def explained(inputs):
    root = inputs["root"]
    singles = []
    for i, model in enumerate(inputs["models"]):
        attribute_windows(model, inputs["data"], *outputs(root / f"single{i}"), **OPTIONS)
        singles.append(read(root / f"single{i}"))
    qc = attribute_ensemble(
        inputs["models"], inputs["data"], *outputs(root / "ensemble"), **OPTIONS
    )
    return {"singles": singles, "ensemble": read(root / "ensemble"), "qc": qc}


def by_index(arrays: dict, key: str, index: str = "index") -> np.ndarray:
    """An array of shap.npz in the order of window rows (members rank windows differently)."""
    return arrays[key][np.argsort(arrays[index], kind="stable")]


def test_averaged_attributions_are_the_mean_of_the_members(explained):
    singles, ensemble = explained["singles"], explained["ensemble"]
    assert set(ensemble) == set(singles[0])  # the layout of one model's shap.npz
    rows = np.sort(ensemble["index"])
    assert all(np.array_equal(np.sort(s["index"]), rows) for s in singles)
    assert not all(np.array_equal(s["index"], singles[0]["index"]) for s in singles)
    for key in ("shap", "projected", "hypothetical", "saliency", "output_delta", "score"):
        expected = np.mean([by_index(s, key).astype(np.float64) for s in singles], axis=0)
        np.testing.assert_allclose(by_index(ensemble, key), expected, rtol=1e-5, atol=1e-6)
        assert ensemble[key].dtype == singles[0][key].dtype
    ism = np.mean([by_index(s, "ism", "ism_index") for s in singles], axis=0)
    np.testing.assert_allclose(by_index(ensemble, "ism", "ism_index"), ism, atol=1e-5)
    # ranked by the ensemble score, highest first; the windows are the members' windows
    assert np.all(np.diff(ensemble["score"]) <= 0)
    np.testing.assert_array_equal(by_index(ensemble, "x"), by_index(singles[0], "x"))


def test_additivity_per_member_and_of_the_mean(explained, inputs):
    qc, ensemble = explained["qc"], explained["ensemble"]
    assert [member["model"] for member in qc["members"]] == inputs["models"]
    tolerance = qc["additivity_tolerance"]
    for member in qc["members"]:
        assert member["additivity_passed"] and member["additivity_max_error"] <= tolerance
        assert len(member["sha256"]) == 64
    total = ensemble["shap"].astype(np.float64).sum(axis=(1, 2))
    np.testing.assert_allclose(total, ensemble["output_delta"], atol=tolerance)
    assert qc["additivity_passed"] and qc["n_windows"] == len(ensemble["index"])
    assert qc["ensemble"]["members"] == 3 and qc["ensemble"]["averaged"] == list(AVERAGED)
    written = json.loads((inputs["root"] / "ensemble" / "qc.json").read_text())
    assert written["members"] == qc["members"]


def test_modisco_inputs_are_the_averaged_arrays(explained, inputs):
    ohe, hypothetical = modisco_paths(str(inputs["root"] / "ensemble" / "shap.npz"))
    with np.load(ohe) as one_hot, np.load(hypothetical) as contributions:
        np.testing.assert_array_equal(one_hot["arr_0"], explained["ensemble"]["x"])
        np.testing.assert_array_equal(contributions["arr_0"], explained["ensemble"]["hypothetical"])


def test_one_member_gives_the_attribution_stage_output(inputs, tmp_path):
    model = inputs["models"][1]
    options = OPTIONS | {"n_windows": 5, "ism_windows": 2}
    attribute_windows(model, inputs["data"], *outputs(tmp_path / "stage"), **options)
    attribute_ensemble([model], inputs["data"], *outputs(tmp_path / "one"), **options)
    stage, one = read(tmp_path / "stage"), read(tmp_path / "one")
    assert set(stage) == set(one)
    for key in stage:
        if stage[key].dtype.kind in "US":
            np.testing.assert_array_equal(one[key], stage[key], err_msg=key)
        else:
            np.testing.assert_allclose(one[key], stage[key], rtol=1e-6, err_msg=key)


def test_cli_round_trip_and_mismatched_members(explained, inputs, tmp_path, capsys):
    folder = tmp_path / "cli"
    args = ["explain", *inputs["models"], "--data", inputs["data"], "-o", str(folder)]
    for name, value in OPTIONS.items():
        if name != "device":
            args += [f"--{name.replace('_', '-')}", str(value)]
    assert main(args) == 0
    for key, value in read(folder).items():
        np.testing.assert_array_equal(value, explained["ensemble"][key], err_msg=key)
    assert (folder / "modisco" / "hypothetical.npz").exists() and (folder / "logos.png").exists()
    other = dict(HYPER, length=HYPER["length"] // 2)
    short = tmp_path / "short.pt"
    save_checkpoint(str(short), Basset(**other), "basset", other)
    args = ["explain", inputs["models"][0], str(short), "--data", inputs["data"]]
    assert main([*args, "-o", str(tmp_path / "bad")]) == 2
    assert "disagree on the window length" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(InputError, match="not a task of the dataset"):
        attribute_ensemble(inputs["models"], inputs["data"], *outputs(tmp_path / "x"), task="z")
