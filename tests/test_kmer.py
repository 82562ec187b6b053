"""The k-mer baseline: counting, canonical merging, fitting, and the shared model interface."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from peakcnn.models.checkpoint import load_checkpoint, save_checkpoint
from peakcnn.models.inference import predict_logits
from peakcnn.models.kmer import KmerBaseline, KmerFrequencies, canonical_index
from peakcnn.training.kmer_fit import DEFAULT_C, fit_kmer_baseline
from peakcnn.training.train import train_model

CPU = torch.device("cpu")
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def one_hot(sequences: list[str]) -> np.ndarray:
    """uint8 (N, 4, L); N (any non-ACGT letter) is an all-zero column."""
    lookup = {base: i for i, base in enumerate("ACGT")}
    x = np.zeros((len(sequences), 4, len(sequences[0])), dtype=np.uint8)
    for row, sequence in enumerate(sequences):
        for position, base in enumerate(sequence):
            if base in lookup:
                x[row, lookup[base], position] = 1
    return x


def naive_frequencies(sequence: str, k: int, canonical: bool) -> dict[str, float]:
    """k-mer frequencies by string counting (k-mers with N skipped)."""
    kmers = [sequence[i : i + k] for i in range(len(sequence) - k + 1)]
    kmers = [kmer for kmer in kmers if set(kmer) <= set("ACGT")]
    if canonical:
        kmers = [min(kmer, kmer.translate(COMPLEMENT)[::-1]) for kmer in kmers]
    return {kmer: kmers.count(kmer) / len(kmers) for kmer in set(kmers)}


@pytest.mark.parametrize("canonical", [False, True])
def test_frequencies_match_string_counting(canonical):
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(3)]
    sequences[1] = sequences[1][:10] + "NN" + sequences[1][12:]
    k = 3
    features = KmerFrequencies(k, canonical)(torch.from_numpy(one_hot(sequences)).float())
    index, _ = canonical_index(k) if canonical else (np.arange(4**k), 4**k)
    for row, sequence in enumerate(sequences):
        for kmer, expected in naive_frequencies(sequence, k, canonical).items():
            kmer_id = int("".join(str("ACGT".index(b)) for b in kmer), 4)
            assert features[row, index[kmer_id]].item() == pytest.approx(expected)
        assert features[row].sum().item() == pytest.approx(1.0)


def test_canonical_classes_merge_reverse_complements():
    assert canonical_index(1)[1] == 2 and canonical_index(2)[1] == 10
    assert canonical_index(3)[1] == 32 and canonical_index(6)[1] == 2080
    index, _ = canonical_index(4)
    for kmer in map("".join, itertools.product("ACGT", repeat=4)):
        reverse = kmer.translate(COMPLEMENT)[::-1]
        ids = [int("".join(str("ACGT".index(b)) for b in s), 4) for s in (kmer, reverse)]
        assert index[ids[0]] == index[ids[1]]


def planted(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random windows; positives carry TGACGT (or its reverse complement) somewhere."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], np.arange(n) % 2
    for label in labels:
        bases = "".join(rng.choice(list("ACGT"), length))
        if label:
            motif = "TGACGT" if rng.random() < 0.5 else "ACGTCA"
            at = int(rng.integers(0, length - 6))
            bases = bases[:at] + motif + bases[at + 6 :]
        sequences.append(bases)
    return one_hot(sequences), labels[:, None].astype(np.uint8)


def test_baseline_learns_a_planted_kmer_and_round_trips(tmp_path):
    x_train, y_train = planted(1200, 60, 0)
    x_val, y_val = planted(300, 60, 1)
    x_test, y_test = planted(300, 60, 2)
    model, report = fit_kmer_baseline(x_train, y_train, x_val, y_val, k=6)  # C on val
    assert report["C"] in DEFAULT_C and len(report["C_tried"]) == len(DEFAULT_C)
    logits = predict_logits(model, x_test, CPU)
    assert logits.shape == (300, 1)
    assert roc_auc_score(y_test[:, 0], logits[:, 0]) > 0.9
    hyperparameters = {"length": 60, "n_tasks": 1, "k": 6, "canonical": True}
    save_checkpoint(str(tmp_path / "model.pt"), model, "kmer_baseline", hyperparameters)
    loaded = load_checkpoint(str(tmp_path / "model.pt"), CPU)
    assert isinstance(loaded, KmerBaseline) and not loaded.training
    np.testing.assert_array_equal(predict_logits(loaded, x_test, CPU), logits)


def test_train_model_fits_the_baseline_and_writes_the_usual_outputs(tmp_path):
    for name, seed, n in (("train", 0, 600), ("val", 1, 300)):
        x, y = planted(n, 100, seed)
        starts = np.arange(n) * 100
        np.savez(
            tmp_path / f"{name}.npz",
            x=x,
            y=y,
            chrom=np.full(n, "c"),
            start=starts,
            end=starts + 100,
            tasks=np.array(["toy"]),
        )
    out = {k: str(tmp_path / "m" / f"model.{k}") for k in ("pt", "tsv", "json")}
    report = train_model(
        str(tmp_path / "train.npz"),
        str(tmp_path / "val.npz"),
        out["pt"],
        out["tsv"],
        out["json"],
        model="kmer_baseline",
        architecture={"kmer_baseline": {"k": 5, "canonical": False, "C": 0.1}},
        device="cpu",
        rc_average=True,
    )
    assert json.loads(open(out["json"]).read())["explainer"] is None
    assert report["hyperparameters"]["k"] == 5 and report["fit"]["n_features"] == 4**5
    assert report["best_val_auroc"] > 0.9 and report["epochs_run"] == 1
    assert open(out["tsv"]).read().count("\n") == 2
    model = load_checkpoint(out["pt"])
    x, _ = planted(20, 100, 3)
    forward = predict_logits(model, x, CPU)
    reverse = predict_logits(model, np.ascontiguousarray(x[:, ::-1, ::-1]), CPU)
    np.testing.assert_allclose(forward, reverse, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="does not take"):
        train_model(
            str(tmp_path / "train.npz"),
            str(tmp_path / "val.npz"),
            *out.values(),
            model="kmer_baseline",
            architecture={"kmer_baseline": {"filters": [3]}},
        )
