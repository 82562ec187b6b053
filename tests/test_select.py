"""Tests of peakcnn.evaluation.selection: choice on validation, seed ensembles, ties, small sets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evaluated import write_evaluation

from peakcnn.errors import InputError
from peakcnn.evaluation.candidates import Run, ensembles
from peakcnn.evaluation.metrics import auroc, choose_threshold
from peakcnn.evaluation.selection import choose_candidate, select_model, small_split_warnings

N_VAL, N_TEST = 400, 400


def _coordinates(n, offset):
    return pd.DataFrame(
        {
            "chrom": "chr1",
            "start": offset + np.arange(n) * 1000,
            "end": offset + np.arange(n) * 1000 + 200,
            "name": [f"w{offset + i}" for i in range(n)],
        }
    )


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    return {"val": rng.integers(0, 2, N_VAL), "test": rng.integers(0, 2, N_TEST)}


def _scores(labels, strength, seed):
    """Probabilities separating the classes by ``strength`` (0 = random)."""
    rng = np.random.default_rng(seed)
    return 1 / (1 + np.exp(-(labels * strength + rng.normal(size=labels.shape))))


def _write_run(folder, name, model, seed, labels, val, test):
    """metrics.json and predictions.tsv.gz as evaluate_model writes them."""
    cut = choose_threshold(labels["val"], val, "max_f1")
    coordinates = {"val": _coordinates(N_VAL, 0), "test": _coordinates(N_TEST, 10**7)}
    paths = write_evaluation(
        folder / name, labels, {"val": val, "test": test}, coordinates, [cut], bootstrap=50
    )
    return Run(name, model, seed, *paths)


def _select(tmp_path, runs, **kwargs):
    kwargs.setdefault("bootstrap", 50)
    return select_model(
        runs, str(tmp_path / "best.json"), str(tmp_path / "candidates.tsv"), **kwargs
    )


def test_choice_is_the_best_validation_value(tmp_path, labels):
    runs = [
        _write_run(tmp_path, "kmer_baseline", "kmer_baseline", 0, labels,
                   _scores(labels["val"], 1.0, 1), _scores(labels["test"], 1.0, 2)),
        _write_run(tmp_path, "basset", "basset", 0, labels,
                   _scores(labels["val"], 3.0, 3), _scores(labels["test"], 3.0, 4)),
    ]  # fmt: skip
    best = _select(tmp_path, runs)
    assert best["chosen"] == "basset" and best["kind"] == "run"
    assert best["chosen_on"] == "val auroc"
    metrics = json.loads((tmp_path / "basset/metrics.json").read_text())
    assert best["val"]["auroc"] == pytest.approx(metrics["val"]["auroc"])
    assert best["test"] == metrics["test"] and best["test_ci"] == metrics["test_ci"]
    versus = best["versus_baseline"]
    assert versus["baseline"] == "kmer_baseline" and versus["test_auroc_delta"] > 0
    assert not versus["worse_on_test"]
    table = pd.read_csv(tmp_path / "candidates.tsv", sep="\t")
    assert list(table["candidate"]) == ["kmer_baseline", "basset"]
    assert table["chosen"].tolist() == [False, True]
    assert (table["val_auroc_ci95_low"] <= table["val_auroc"]).all()
    assert (table["val_auroc"] <= table["val_auroc_ci95_high"]).all()


def test_test_predictions_are_never_used_to_choose(tmp_path, labels):
    # basset is better on val but far worse on test: the choice must not move.
    runs = [
        _write_run(tmp_path, "kmer_baseline", "kmer_baseline", 0, labels,
                   _scores(labels["val"], 1.0, 1), _scores(labels["test"], 3.0, 2)),
        _write_run(tmp_path, "basset", "basset", 0, labels,
                   _scores(labels["val"], 2.0, 3), _scores(labels["test"], -1.0, 4)),
    ]  # fmt: skip
    best = _select(tmp_path, runs)
    assert best["chosen"] == "basset"
    assert best["test"]["auroc"] < 0.5  # reported as it is
    assert best["versus_baseline"]["worse_on_test"]


def test_seed_ensemble_is_a_candidate_with_mean_probabilities(tmp_path, labels):
    val = [_scores(labels["val"], 1.5, s) for s in (10, 11, 12)]
    test = [_scores(labels["test"], 1.5, s) for s in (20, 21, 22)]
    runs = [
        _write_run(tmp_path, "basset" + ("" if s == 0 else f"-seed{s}"), "basset", s, labels,
                   val[s], test[s])
        for s in range(3)
    ]  # fmt: skip
    runs.append(
        _write_run(tmp_path, "kmer_baseline", "kmer_baseline", 0, labels,
                   _scores(labels["val"], 0.5, 1), _scores(labels["test"], 0.5, 2))
    )  # fmt: skip
    best = _select(tmp_path, runs)
    # independent noise averages out: the ensemble beats every seed on val
    mean_val, mean_test = np.mean(val, axis=0), np.mean(test, axis=0)
    assert best["chosen"] == "basset-ensemble" and best["kind"] == "ensemble"
    assert best["members"] == ["basset", "basset-seed1", "basset-seed2"]
    assert best["seeds"] == [0, 1, 2]
    assert best["val"]["auroc"] == pytest.approx(auroc(labels["val"], mean_val), abs=1e-5)
    assert best["test"]["auroc"] == pytest.approx(auroc(labels["test"], mean_test), abs=1e-5)
    cut = choose_threshold(labels["val"], mean_val, "max_f1")
    assert best["test"]["threshold"] == pytest.approx(cut, rel=1e-4)  # chosen on val
    low, high = best["test_ci"]["auroc_ci95"]
    assert low <= best["test"]["auroc"] <= high
    table = pd.read_csv(tmp_path / "candidates.tsv", sep="\t")
    assert list(table["candidate"]) == [
        "basset", "basset-seed1", "basset-seed2", "kmer_baseline", "basset-ensemble",
    ]  # fmt: skip
    assert table.loc[table["candidate"] == "basset-ensemble", "seeds"].item() == "0,1,2"
    # without ensembles: one of the seeds
    best = _select(tmp_path, runs, ensemble=False)
    assert best["kind"] == "run" and best["model"] == "basset"


def test_ensembles_need_two_runs_of_a_model():
    from peakcnn.evaluation.candidates import Candidate

    scores = {"val": np.array([0.2, 0.8]), "test": np.array([0.4, 0.6])}
    one = Candidate("kmer_baseline", "kmer_baseline", "run", ["kmer_baseline"], [0], scores)
    a = Candidate("basset", "basset", "run", ["basset"], [0], scores)
    b = Candidate("basset-seed1", "basset", "run", ["basset-seed1"], [1],
                  {"val": np.array([0.4, 0.6]), "test": np.array([0.0, 1.0])})  # fmt: skip
    found = ensembles([one, a, b])
    assert [e.name for e in found] == ["basset-ensemble"]
    np.testing.assert_allclose(found[0].scores["val"], [0.3, 0.7])
    np.testing.assert_allclose(found[0].scores["test"], [0.2, 0.8])


def test_fine_tuned_and_scratch_runs_are_separate_candidates_and_ensembles():
    from peakcnn.evaluation.candidates import Candidate

    def run(name, seed, val):
        return Candidate(name, "basset", "run", [name], [seed], {"val": val, "test": val})

    runs = [
        run("basset", 0, np.array([0.2, 0.8])),
        run("basset-seed1", 1, np.array([0.4, 0.6])),
        run("basset-scratch", 0, np.array([0.6, 0.4])),
        run("basset-scratch-seed1", 1, np.array([0.0, 1.0])),
    ]
    found = {e.name: e for e in ensembles(runs)}
    assert list(found) == ["basset-ensemble", "basset-scratch-ensemble"]
    assert found["basset-ensemble"].members == ["basset", "basset-seed1"]
    assert found["basset-scratch-ensemble"].members == ["basset-scratch", "basset-scratch-seed1"]
    np.testing.assert_allclose(found["basset-scratch-ensemble"].scores["val"], [0.3, 0.7])
    assert found["basset-scratch-ensemble"].model == "basset"


def test_ties_go_to_the_simpler_candidate():
    simplicity = {"basset": (1, 1), "kmer_baseline": (0, 1), "basset-ensemble": (1, 3)}
    values = {"basset": 0.9, "kmer_baseline": 0.9, "basset-ensemble": 0.9}
    chosen, tied = choose_candidate(values, simplicity, 0.0)
    assert chosen == "kmer_baseline" and tied == ["kmer_baseline", "basset", "basset-ensemble"]
    values = {"basset": 0.92, "kmer_baseline": 0.90, "basset-ensemble": 0.93}
    assert choose_candidate(values, simplicity, 0.0) == ("basset-ensemble", ["basset-ensemble"])
    # within the tolerance: the simplest of the tied, not the best
    chosen, tied = choose_candidate(values, simplicity, 0.015)
    assert chosen == "basset" and tied == ["basset", "basset-ensemble"]
    assert choose_candidate(values, simplicity, 0.05)[0] == "kmer_baseline"
    # a NaN value is never chosen
    values["basset-ensemble"] = float("nan")
    assert choose_candidate(values, simplicity, 0.0)[0] == "basset"


def test_tie_in_the_workflow_picks_the_baseline(tmp_path, labels):
    same_val = _scores(labels["val"], 2.0, 1)
    runs = [
        _write_run(tmp_path, "basset", "basset", 0, labels, same_val,
                   _scores(labels["test"], 2.0, 2)),
        _write_run(tmp_path, "kmer_baseline", "kmer_baseline", 0, labels, same_val,
                   _scores(labels["test"], 1.0, 3)),
    ]  # fmt: skip
    best = _select(tmp_path, runs)
    assert best["chosen"] == "kmer_baseline" and best["tied"] == ["kmer_baseline", "basset"]
    assert best["versus_baseline"]["test_auroc_delta"] == 0.0


def test_auprc_can_be_the_metric(tmp_path, labels):
    runs = [
        _write_run(tmp_path, "kmer_baseline", "kmer_baseline", 0, labels,
                   _scores(labels["val"], 3.0, 1), _scores(labels["test"], 1.0, 2)),
        _write_run(tmp_path, "basset", "basset", 0, labels,
                   _scores(labels["val"], 1.0, 3), _scores(labels["test"], 3.0, 4)),
    ]  # fmt: skip
    best = _select(tmp_path, runs, metric="auprc")
    assert best["chosen"] == "kmer_baseline" and best["chosen_on"] == "val auprc"
    with pytest.raises(ValueError, match="select.metric"):
        _select(tmp_path, runs, metric="f1")


def test_small_splits_are_warned_about(tmp_path, labels, caplog):
    runs = [
        _write_run(tmp_path, "basset", "basset", 0, labels,
                   _scores(labels["val"], 2.0, 1), _scores(labels["test"], 2.0, 2)),
    ]  # fmt: skip
    best = _select(tmp_path, runs, min_positives=100, min_negatives=100)
    assert best["warnings"] == [] and best["small_splits"] == []  # about 200 of each
    caplog.set_level("WARNING")
    best = _select(tmp_path, runs, min_positives=250, min_negatives=10)
    assert best["small_splits"] == ["val", "test"]
    assert "small val split" in best["warnings"][0] and "choice" in best["warnings"][0]
    assert "small val split" in caplog.text
    positives = int(labels["val"].sum())
    assert best["splits"]["val"] == {"n": N_VAL, "positives": positives,
                                     "negatives": N_VAL - positives}  # fmt: skip


def test_small_split_warnings_counts():
    counts = {"val": {"n": 150, "positives": 70, "negatives": 80},
              "test": {"n": 1000, "positives": 500, "negatives": 500}}  # fmt: skip
    found = small_split_warnings(counts, 200, 200)
    assert len(found) == 1 and found[0].startswith("small val split: 70 positives")
    assert small_split_warnings(counts, 50, 50) == []


def test_runs_on_other_windows_fail(tmp_path, labels):
    runs = [
        _write_run(tmp_path, "basset", "basset", 0, labels,
                   _scores(labels["val"], 2.0, 1), _scores(labels["test"], 2.0, 2)),
        _write_run(tmp_path, "kmer_baseline", "kmer_baseline", 0, labels,
                   _scores(labels["val"], 2.0, 1), _scores(labels["test"], 2.0, 2)),
    ]  # fmt: skip
    path = tmp_path / "kmer_baseline/predictions.tsv.gz"
    table = pd.read_csv(path, sep="\t")
    table.loc[table["split"] == "val", "start"] += 5
    table.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match="different val windows"):
        _select(tmp_path, runs)


def test_predictions_must_match_metrics(tmp_path, labels):
    runs = [
        _write_run(tmp_path, "basset", "basset", 0, labels,
                   _scores(labels["val"], 2.0, 1), _scores(labels["test"], 2.0, 2)),
    ]  # fmt: skip
    path = tmp_path / "basset/metrics.json"
    metrics = json.loads(path.read_text())
    metrics["val"]["auroc"] -= 0.1
    path.write_text(json.dumps(metrics))
    with pytest.raises(InputError, match="metrics.json says"):
        _select(tmp_path, runs)


def test_multitask_runs_are_chosen_on_macro_means(tmp_path):
    from peakcnn.evaluation.multitask import macro_mean

    rng = np.random.default_rng(3)
    labels = {s: rng.integers(0, 2, (n, 2)) for s, n in (("val", N_VAL), ("test", N_TEST))}
    runs = []
    for name, model, seed, strength in (
        ("kmer_baseline", "kmer_baseline", 0, 0.5),
        ("basset", "basset", 0, 2.0),
        ("basset-seed1", "basset", 1, 2.0),
    ):
        scores = {s: _scores(labels[s], strength, seed) for s in labels}
        coordinates = {"val": _coordinates(N_VAL, 0), "test": _coordinates(N_TEST, 10**7)}
        paths = write_evaluation(tmp_path / name, labels, scores, coordinates, [0.5, 0.5])
        runs.append(Run(name, model, seed, *paths))
    best = select_model(runs, str(tmp_path / "best.json"), str(tmp_path / "c.tsv"), bootstrap=20)
    table = pd.read_csv(tmp_path / "c.tsv", sep="\t").set_index("candidate")
    assert best["chosen"] in ("basset", "basset-seed1", "basset-ensemble")
    ensemble_val = (
        _scores(labels["val"], 2.0, 0) + _scores(labels["val"], 2.0, 1)
    ) / 2  # the ensemble is the mean probability, scored per task
    assert table.loc["basset-ensemble", "val_auroc"] == pytest.approx(
        macro_mean(auroc, labels["val"], ensemble_val),
        abs=5e-5,  # the table keeps 4 decimals
    )
    assert best["splits"]["val"]["positives"] == labels["val"].sum(axis=0).min()
