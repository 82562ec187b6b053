"""Homology leak check: real minimap2 on tiny splits with planted duplicates, and the test
metrics without the windows that have a near-identical train window."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from peakcnn.data.encode import encode_bytes
from peakcnn.data.homology import check_homology, decode_windows
from peakcnn.errors import InputError
from peakcnn.evaluation.near_identical import homology_metrics, homology_rows, read_near_identical

LENGTH = 800
COMPLEMENT = bytes.maketrans(b"ACGT", b"TGCA")


def random_sequence(rng: np.random.Generator, length: int = LENGTH) -> bytes:
    return rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), size=length).tobytes()


def mutate(sequence: bytes, rate: float, rng: np.random.Generator) -> bytes:
    """Substitute a fraction ``rate`` of the bases, each by a different base."""
    letters = bytearray(sequence)
    for position in rng.choice(len(letters), size=int(rate * len(letters)), replace=False):
        letters[position] = rng.choice([b for b in b"ACGT" if b != letters[position]])
    return bytes(letters)


def reverse_complement(sequence: bytes) -> bytes:
    return sequence.translate(COMPLEMENT)[::-1]


def save(path, sequences: list[bytes], labels: list[int], names: list[str], offset: int) -> None:
    """Encode sequences with peakcnn's encoder and write them as a split npz."""
    data = np.frombuffer(b"".join(sequences), dtype=np.uint8)
    starts = np.arange(len(sequences), dtype=np.int64) * LENGTH
    x, _ = encode_bytes(data, starts, LENGTH)
    np.savez(
        path,
        x=x,
        y=np.array(labels, dtype=np.uint8)[:, None],
        chrom=np.array(["chr1"] * len(sequences)),
        start=offset + starts,
        end=offset + starts + LENGTH,
        name=np.array(names),
        tasks=np.array(["task"]),
        margin=np.array(0),
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Train: 40 random windows. Test and val: copies of train windows (mutated, reverse
    complemented, partial) among unrelated windows; the expected call per window."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("homology")
    train = [random_sequence(rng) for _ in range(40)]
    train_names = [f"train_{i}" for i in range(40)]
    save(folder / "train.npz", train, [i % 2 for i in range(40)], train_names, 0)
    test = {
        "copy_2pct": (mutate(train[3], 0.02, rng), 1, "train_3", "+"),
        "revcomp_5pct": (reverse_complement(mutate(train[10], 0.05, rng)), 0, "train_10", "-"),
        "unrelated_a": (random_sequence(rng), 1, None, None),
        "unrelated_b": (random_sequence(rng), 0, None, None),
        "diverged_25pct": (mutate(train[20], 0.25, rng), 0, None, None),
        # 40% of a train window inside unrelated sequence: identical, but covers too little.
        "partial_40pct": (
            random_sequence(rng, 240) + train[5][:320] + random_sequence(rng, 240),
            1,
            None,
            None,
        ),
    }
    save(
        folder / "test.npz",
        [v[0] for v in test.values()],
        [v[1] for v in test.values()],
        list(test),
        10**6,
    )
    val = {"val_copy": (mutate(train[30], 0.01, rng), 1), "val_other": (random_sequence(rng), 0)}
    save(
        folder / "val.npz",
        [v[0] for v in val.values()],
        [v[1] for v in val.values()],
        list(val),
        5 * 10**5,
    )
    summary = check_homology(
        str(folder / "train.npz"),
        str(folder / "val.npz"),
        str(folder / "test.npz"),
        str(folder / "homology.tsv"),
        str(folder / "homology.json"),
        min_identity=0.9,
        min_coverage=0.5,
    )
    table = pd.read_csv(folder / "homology.tsv", sep="\t", keep_default_na=False)
    return folder, test, summary, table.set_index("name")


def test_planted_duplicates_are_found_and_unrelated_windows_are_not(planted):
    _, test, _, table = planted
    for name, (_, _, hit, strand) in test.items():
        row = table.loc[name]
        assert bool(row["near_identical"]) == (hit is not None), name
        if hit is not None:
            assert row["train_hit"] == hit
            assert row["strand"] == strand
            assert row["coverage"] >= 0.95
    assert 0.96 <= table.loc["copy_2pct", "identity"] < 1.0
    assert table.loc["revcomp_5pct", "identity"] < table.loc["copy_2pct", "identity"]
    # the partial copy aligns, perfectly, but over 40% of the window only
    partial = table.loc["partial_40pct"]
    assert partial["train_hit"] == "train_5" and partial["identity"] == 1.0
    assert 0.35 <= partial["coverage"] < 0.5
    assert table.loc["val_copy", "near_identical"] and table.loc["val_copy", "split"] == "val"


def test_summary_counts_per_split_and_class(planted):
    folder, _, summary, table = planted
    assert json.loads((folder / "homology.json").read_text()) == summary
    test = summary["splits"]["test"]
    assert (test["windows"], test["near_identical"]) == (6, 2)
    assert test["positives"] == {"windows": 3, "near_identical": 1, "fraction": 1 / 3}
    assert test["negatives"] == {"windows": 3, "near_identical": 1, "fraction": 1 / 3}
    assert summary["splits"]["val"]["near_identical"] == 1
    assert summary["program"].startswith("minimap2 ")
    assert len(table) == 8


def test_thresholds_move_the_calls(planted):
    folder, _, _, _ = planted
    strict = check_homology(
        *(str(folder / f"{s}.npz") for s in ("train", "val", "test")),
        str(folder / "strict.tsv"),
        str(folder / "strict.json"),
        min_identity=0.97,
        min_coverage=0.3,
    )
    calls = pd.read_csv(folder / "strict.tsv", sep="\t").set_index("name")["near_identical"]
    # 5% mismatches fall below 97% identity; the 40% partial copy now covers enough.
    assert not calls["revcomp_5pct"] and calls["copy_2pct"] and calls["partial_40pct"]
    assert strict["splits"]["test"]["near_identical"] == 2


def test_decode_windows_round_trips_the_encoder():
    sequence = b"ACGTNNacgtRY"
    x, _ = encode_bytes(np.frombuffer(sequence, dtype=np.uint8), np.array([0]), len(sequence))
    assert decode_windows(x) == ["ACGTNNACGTNN"]


def test_missing_minimap2_is_one_clear_error(planted, monkeypatch, tmp_path):
    folder, _, _, _ = planted
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="minimap2 is not on PATH.*homology.enabled: false"):
        check_homology(
            *(str(folder / f"{s}.npz") for s in ("train", "val", "test")),
            str(tmp_path / "out.tsv"),
            str(tmp_path / "out.json"),
        )
    assert not os.listdir(tmp_path)


def test_metrics_without_near_identical_windows(planted):
    folder, _, _, _ = planted
    rng = np.random.default_rng(1)
    test = dict(np.load(folder / "test.npz"))
    near = read_near_identical(str(folder / "homology.tsv"), test)
    assert near.tolist() == [True, True, False, False, False, False]
    # a larger test set sharing the check's calls: 6 planted windows + 200 random ones
    labels = np.concatenate([test["y"][:, 0], rng.integers(0, 2, 200)])[:, None]
    scores = np.clip(labels * 0.3 + rng.random(labels.shape) * 0.7, 0, 1)
    near = np.concatenate([near, rng.random(200) < 0.1])
    result = homology_metrics(labels, scores, near, np.array([0.5]), ["task"], bootstrap=50, seed=0)
    kept = result["by_task"]["task"]["without_near_identical"]
    assert result["near_identical"] == int(near.sum())
    assert result["windows_kept"] == int((~near).sum())
    assert result["near_identical_positives"] == int((near & (labels[:, 0] == 1)).sum())
    assert kept["auroc"] == pytest.approx(roc_auc_score(labels[~near, 0], scores[~near, 0]))
    low, high = kept["auroc_ci95"]
    assert low <= kept["auroc"] <= high
    rows = homology_rows({"homology": result})
    assert [row[0] for row in rows[1:]] == [
        "auroc without near-identical windows",
        "auprc without near-identical windows",
    ]


def test_homology_table_of_another_split_is_rejected(planted, tmp_path):
    folder, _, _, _ = planted
    test = dict(np.load(folder / "test.npz"))
    test["name"] = np.array([f"other_{i}" for i in range(len(test["name"]))])
    with pytest.raises(InputError, match="re-run homology_check"):
        read_near_identical(str(folder / "homology.tsv"), test)


def test_evaluate_model_reports_metrics_without_near_identical_windows(planted):
    folder, _, _, _ = planted
    torch = pytest.importorskip("torch")
    from peakcnn.evaluation.config import EvalConfig, EvalInputs, EvalOutputs
    from peakcnn.evaluation.evaluate import evaluate_model
    from peakcnn.evaluation.metrics import auroc
    from peakcnn.evaluation.predictions import read_predictions
    from peakcnn.models.basset import Basset
    from peakcnn.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    hyper = {"length": LENGTH, "n_tasks": 1, "filters": (4, 4, 4), "kernels": (5, 3, 3)}
    hyper["pools"] = (4, 4, 4)
    save_checkpoint(str(folder / "model.pt"), Basset(**hyper), "basset", hyper)
    out = folder / "eval"
    metrics = evaluate_model(
        EvalInputs(
            *(str(folder / name) for name in ("model.pt", "val.npz", "test.npz")),
            homology=str(folder / "homology.tsv"),
        ),
        EvalOutputs(
            *(str(out / name) for name in ("metrics.json", "metrics.tsv", "predictions.tsv.gz")),
            str(out / "roc.png"),
            str(out / "pr.png"),
        ),
        EvalConfig(bootstrap=20, device="cpu"),
    )
    homology = json.loads((out / "metrics.json").read_text())["homology"]
    assert homology == json.loads(json.dumps(metrics["homology"]))
    assert (homology["near_identical"], homology["windows_kept"]) == (2, 4)
    test = read_predictions(str(out / "predictions.tsv.gz"))["test"]
    kept = test[~test["name"].isin(["copy_2pct", "revcomp_5pct"])]
    without = homology["by_task"]["task"]["without_near_identical"]
    assert without["auroc"] == pytest.approx(
        auroc(kept["label"].to_numpy(), kept["score"].to_numpy())
    )
    assert without["n"] == 4
    table = pd.read_csv(out / "metrics.tsv", sep="\t").set_index("metric")
    assert float(table.loc["auroc without near-identical windows", "test"]) == pytest.approx(
        without["auroc"], abs=1e-4
    )
