"""Tests of peakcnn.interpret.motifs, and the planted-motif test of the whole interpretation chain.

Planted motif: random background windows, a G-box (CACGTG) planted near the centre of every
positive and absent from every negative. A small Basset trained on them must put its SHAP mass
on the G-box, agree with ISM there, and modisco-lite must recover CACGTG, whose best JASPAR
(plants) match must be a bHLH factor.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from peakcnn.interpret.attribute import attribute_windows
from peakcnn.interpret.jaspar import (
    benjamini_hochberg,
    consensus,
    load_jaspar,
    match_patterns,
    trim,
)
from peakcnn.interpret.motifs import find_motifs
from peakcnn.models.basset import Basset
from peakcnn.models.checkpoint import save_checkpoint

MOTIF = "CACGTG"
LENGTH = 120
N_WINDOWS = 2000
N_TRAIN = 1500
HYPER = {
    "length": LENGTH,
    "n_tasks": 1,
    "filters": (16, 16, 16),
    "kernels": (9, 5, 3),
    "pools": (2, 2, 2),
    "conv_dropout": (0.0, 0.0, 0.0),
    "dense": (16, 8),
    "dense_dropout": 0.0,
}


def _ppm(sequence: str, purity: float = 0.91) -> np.ndarray:
    """A (w, 4) PPM with ``purity`` on the given bases."""
    ppm = np.full((len(sequence), 4), (1 - purity) / 3)
    ppm[np.arange(len(sequence)), ["ACGT".index(b) for b in sequence]] = purity
    return ppm


def test_trim_and_consensus():
    ppm = _ppm("AACACGTGAA", 0.6)
    cwm = np.zeros((10, 4))
    cwm[2:8] = ppm[2:8] * 2
    cwm[0] = 0.1
    assert trim(ppm, cwm, 0.3) == (2, 8)
    assert consensus(ppm[2:8]) == MOTIF
    assert consensus(_ppm("AC", 0.4)) == "ac"


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> monotone 0.04, 0.0533, 0.0533
    np.testing.assert_allclose(benjamini_hochberg(p), [0.04, 0.16 / 3, 0.16 / 3, 0.2])


@pytest.fixture(scope="module")
def jaspar():
    return load_jaspar("JASPAR2026", "CORE", "plants")


def test_jaspar_plants_offline(jaspar):
    assert len(jaspar) > 500
    ppm = jaspar[0]["ppm"]
    assert ppm.shape[0] == 4
    np.testing.assert_allclose(ppm.sum(axis=0), 1)
    assert any("helix-loop-helix" in motif["tf_class"] for motif in jaspar)


def test_tomtom_matches_gbox_to_bhlh(jaspar):
    pattern = {
        "pattern": "pos_patterns.pattern_0",
        "n_seqlets": 50,
        "ppm": _ppm("ttCACGTGaa".upper()),
        "trim": (2, 8),
        "consensus": MOTIF,
    }
    matches = match_patterns([pattern], jaspar, 3)
    assert list(matches["match_rank"]) == [1, 2, 3]
    # CACGTG is bound by bHLH factors and by G-box bZIP factors: every top match must carry it,
    # and bHLH must be among them
    by_id = {motif["id"]: motif for motif in jaspar}
    for jaspar_id in matches["jaspar_id"]:
        assert MOTIF in consensus(by_id[jaspar_id]["ppm"].T).upper()
    assert matches["tf_class"].str.contains("helix-loop-helix").any()
    assert matches["q_value"].iloc[0] < 0.01
    assert (matches["p_value"].diff().dropna() >= 0).all()


def _planted(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random windows; positives carry one G-box near the centre, negatives none."""
    bases = rng.integers(0, 4, (N_WINDOWS, LENGTH))
    code = np.array(["ACGT".index(b) for b in MOTIF])
    windows = np.lib.stride_tricks.sliding_window_view(bases, len(MOTIF), axis=1)
    for i in np.flatnonzero((windows == code).all(axis=2).any(axis=1)):
        while ("".join("ACGT"[b] for b in bases[i])).find(MOTIF) >= 0:
            bases[i] = rng.integers(0, 4, LENGTH)
    labels = np.zeros(N_WINDOWS, dtype=np.uint8)
    labels[: N_WINDOWS // 2] = 1
    where = rng.integers(LENGTH // 2 - 25, LENGTH // 2 + 25 - len(MOTIF), N_WINDOWS)
    for i in np.flatnonzero(labels):
        bases[i, where[i] : where[i] + len(MOTIF)] = code
    x = np.ascontiguousarray(np.eye(4, dtype=np.uint8)[bases].transpose(0, 2, 1))
    order = rng.permutation(N_WINDOWS)
    return x[order], labels[order], where[order]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    x, labels, where = _planted(rng)
    torch.manual_seed(0)
    model = Basset(**HYPER)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    inputs = torch.from_numpy(x[:N_TRAIN]).float()
    targets = torch.from_numpy(labels[:N_TRAIN]).float()[:, None]
    for _ in range(2):
        model.train()
        for batch in torch.randperm(N_TRAIN).split(64):
            optimiser.zero_grad()
            loss_fn(model(inputs[batch]), targets[batch]).backward()
            optimiser.step()
    model.eval()
    save_checkpoint(str(root / "model.pt"), model, "basset", HYPER)
    held_out = slice(N_TRAIN, None)
    n = N_WINDOWS - N_TRAIN
    np.savez(
        root / "test.npz",
        x=x[held_out],
        y=labels[held_out][:, None],
        chrom=np.array(["chrP"] * n),
        start=np.arange(n, dtype=np.int64) * 1000,
        end=np.arange(n, dtype=np.int64) * 1000 + LENGTH,
        tasks=np.array(["gbox"]),
    )
    attribution = [str(root / name) for name in ("shap.npz", "logos.png", "qc.json")]
    qc = attribute_windows(
        str(root / "model.pt"),
        str(root / "test.npz"),
        *attribution,
        n_windows=120,
        n_shuffles=10,
        ism_windows=5,
        ism_width=50,
        threads=2,
        device="cpu",
    )
    motifs = [str(root / name) for name in ("m.h5", "matches.tsv", "patterns.png", "m.json")]
    summary = find_motifs(
        attribution[0], *motifs, central_bp=LENGTH, min_metacluster_size=30, threads=2
    )
    with torch.no_grad():
        scores = model(torch.from_numpy(x[held_out]).float())[:, 0].numpy()
    return {
        "root": root,
        "qc": qc,
        "summary": summary,
        "where": where[held_out],
        "labels": labels[held_out],
        "scores": scores,
        "matches": pd.read_csv(motifs[1], sep="\t"),
    }


def test_planted_model_learns_the_gbox(planted):
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(planted["labels"], planted["scores"]) > 0.95


def test_shap_mass_concentrates_on_the_planted_motif(planted):
    with np.load(planted["root"] / "shap.npz") as npz:
        track, rows = np.abs(npz["projected"].sum(axis=1)), npz["index"]
    at = planted["where"][rows]
    on_motif = np.array([t[a : a + len(MOTIF)].sum() for t, a in zip(track, at, strict=True)])
    share = on_motif / track.sum(axis=1)
    assert np.median(share) > 0.3  # 6 of 120 bases: 0.05 by chance
    assert planted["qc"]["additivity_passed"]
    assert planted["qc"]["ism"]["pearson_with_shap_median"] > 0.7


def test_modisco_recovers_the_gbox_and_jaspar_calls_it_bhlh(planted):
    summary, matches = planted["summary"], planted["matches"]
    gbox = [p for p in summary["patterns"] if MOTIF in p["consensus"].upper()]
    assert gbox, summary["patterns"]
    assert gbox[0]["pattern"].startswith("pos_patterns")
    best = matches[(matches["pattern"] == gbox[0]["pattern"]) & (matches["match_rank"] == 1)]
    assert "helix-loop-helix" in best["tf_class"].iloc[0]
    saved = json.loads((planted["root"] / "m.json").read_text())
    assert saved["jaspar"]["tax_group"] == "plants"
    assert (planted["root"] / "patterns.png").read_bytes()[:4] == b"\x89PNG"


def test_expected_gradients_also_find_the_planted_motif(planted, tmp_path):
    """GradientExplainer (for models DeepExplainer cannot take) on the same model and windows."""
    root = planted["root"]
    paths = [str(tmp_path / name) for name in ("shap.npz", "logos.png", "qc.json")]
    qc = attribute_windows(
        str(root / "model.pt"),
        str(root / "test.npz"),
        *paths,
        n_windows=12,
        n_shuffles=10,
        ism_windows=4,
        ism_width=40,
        explainer="shap.GradientExplainer",
        gradient_samples=100,
        threads=2,
        device="cpu",
    )
    with np.load(paths[0]) as npz:
        track, rows = np.abs(npz["projected"].sum(axis=1)), npz["index"]
    at = planted["where"][rows]
    share = [t[a : a + len(MOTIF)].sum() / t.sum() for t, a in zip(track, at, strict=True)]
    assert np.median(share) > 0.3
    assert qc["ism"]["pearson_with_shap_median"] > 0.7
    assert not qc["additivity_enforced"] and qc["additivity_median_relative_error"] < 0.2


def test_modisco_command_line_reads_the_attribution_folder(planted, tmp_path):
    """A user's own ``modisco motifs`` run on the files written beside shap.npz finds the G-box."""
    import subprocess

    import h5py

    ohe, hypothetical = (planted["root"] / "modisco" / n for n in ("ohe.npz", "hypothetical.npz"))
    with np.load(ohe) as one_hot, np.load(hypothetical) as hyp:
        assert one_hot["arr_0"].shape == hyp["arr_0"].shape == (120, 4, LENGTH)
    output = tmp_path / "modisco.h5"
    # modisco-lite's script, installed beside this python (a venv's bin/ need not be on PATH)
    beside = Path(sys.executable).with_name("modisco")
    program = str(beside) if beside.exists() else shutil.which("modisco")
    assert program, "modisco-lite's `modisco` command is not installed"
    command = [program, "motifs", "-s", str(ohe), "-a", str(hypothetical), "-n", "2000"]
    command += ["-w", str(LENGTH), "-z", "15", "-l", "2", "-o", str(output)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    with h5py.File(output) as h5:
        found = [
            consensus(np.asarray(h5[f"{group}/{name}/sequence"]))
            for group in ("pos_patterns", "neg_patterns")
            if group in h5
            for name in h5[group]
        ]
    assert any(MOTIF in pattern.upper() for pattern in found), found


def test_find_motifs_refuses_an_unknown_option_before_any_work(tmp_path):
    """A misspelt modisco option is a TypeError naming it, and nothing is written."""
    paths = [str(tmp_path / name) for name in ("shap.npz", "m.h5", "t.tsv", "p.png", "m.json")]
    with pytest.raises(TypeError, match="min_metacluster_sise"):
        find_motifs(*paths, min_metacluster_sise=30)
    assert list(tmp_path.iterdir()) == []
