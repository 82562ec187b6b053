"""Ensembles of models (fold ensembles): predict, scan and variants average their members."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from apply_helpers import LENGTH, TASKS, write_genome, write_run

from peakcnn.apply.ensemble import Ensemble, load_models, write_ensemble_file
from peakcnn.cli.main import main
from peakcnn.errors import InputError

DATA = __import__("pathlib").Path(__file__).parent / "data"
#: Per member: calibration temperatures and biases (one per task), so that each member's own
#: calibration matters.
CALIBRATIONS = [([1.0, 2.0], [0.0, 0.5]), ([0.5, 1.5], [-0.3, 0.0]), ([3.0, 1.0], [0.2, -0.4])]


def calibrate(model_path, temperatures, biases) -> None:
    """Store a calibration in a checkpoint, as training does."""
    checkpoint = torch.load(model_path, weights_only=True)
    checkpoint["calibration"] = {"temperature": temperatures, "bias": biases}
    torch.save(checkpoint, model_path)


def fold_project(root, n: int = 3, models=("basset",)):
    """A results/demo/fold<i> layout of n calibrated random-weight runs; their model.pt paths."""
    paths = {}
    for i in range(n):
        for name in models:
            scratch = root / f"scratch{i}{name}"
            model = write_run(scratch, seed=10 + i, name=name)
            if name == "basset":
                calibrate(model, *CALIBRATIONS[i % len(CALIBRATIONS)])
            fold = root / "results" / "demo" / f"fold{i}"
            for part in ("models", "eval", "dataset"):
                source = scratch / "results" / "demo" / part
                shutil.copytree(source, fold / part, dirs_exist_ok=True)
            shutil.rmtree(scratch)
            paths.setdefault(name, []).append(fold / "models" / name / "model.pt")
    return paths


@pytest.fixture
def members(tmp_path):
    return fold_project(tmp_path)["basset"]


def random_fasta(path, n: int = 6, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    path.write_text(
        "".join(f">s{i}\n{''.join(rng.choice(list('ACGT'), LENGTH + 7 * i))}\n" for i in range(n))
    )


def predict(models, fasta, out, *extra) -> pd.DataFrame:
    assert main(["predict", *map(str, models), "--fasta", str(fasta), "-o", str(out), *extra]) == 0
    return pd.read_csv(out, sep="\t", keep_default_na=False)


@pytest.mark.parametrize("both_strands", [False, True])
def test_ensemble_prediction_is_the_mean_of_its_members(members, tmp_path, both_strands):
    fasta = tmp_path / "seqs.fa"
    random_fasta(fasta)
    extra = ["--both-strands"] if both_strands else []
    singles = [predict([m], fasta, tmp_path / f"m{i}.tsv", *extra) for i, m in enumerate(members)]
    table = predict(members, fasta, tmp_path / "ensemble.tsv", *extra)
    single_columns = list(singles[0].columns)
    sd_columns = [f"probability_sd_{task}" for task in TASKS]
    assert list(table.columns) == single_columns + sd_columns  # same columns, spread appended
    for task in TASKS:
        probabilities = np.stack([s[f"probability_{task}"] for s in singles])
        logits = np.stack([s[f"logit_{task}"] for s in singles])
        np.testing.assert_allclose(table[f"probability_{task}"], probabilities.mean(0), atol=2e-6)
        np.testing.assert_allclose(table[f"logit_{task}"], logits.mean(0), atol=2e-5)
        np.testing.assert_allclose(
            table[f"probability_sd_{task}"], probabilities.std(0, ddof=1), atol=2e-6
        )
        # each member's own calibration: not the calibration-free sigmoid of the mean logit
        assert not np.allclose(table[f"probability_{task}"], 1 / (1 + np.exp(-logits.mean(0))))
    assert (table["name"] == singles[0]["name"]).all()


def test_one_model_is_not_an_ensemble(members, tmp_path):
    loaded = load_models([str(members[0])])
    assert loaded.kind == "checkpoint"
    fasta = tmp_path / "seqs.fa"
    random_fasta(fasta)
    table = predict([members[0]], fasta, tmp_path / "one.tsv")
    assert not any(column.startswith("probability_sd_") for column in table.columns)


def test_folds_folder_and_ensemble_file_name_the_same_members(members, tmp_path):
    folds = tmp_path / "results" / "demo" / "folds"
    folds.mkdir(parents=True)
    from_folder = load_models([str(folds)])
    assert isinstance(from_folder, Ensemble)
    assert [m.source for m in from_folder.members] == [str(m) for m in members]
    record = write_ensemble_file(
        str(folds / "basset" / "ensemble.json"), [str(m) for m in members], model="basset"
    )
    assert [entry["path"] for entry in record["members"]] == [
        f"../../fold{i}/models/basset/model.pt" for i in range(3)
    ]
    for source in (folds / "basset", folds / "basset" / "ensemble.json"):
        loaded = load_models([str(source)])
        assert [m.source for m in loaded.members] == [m.source for m in from_folder.members]
    # thresholds: the mean of the members' validation thresholds; --threshold wins
    assert loaded.metadata.thresholds == pytest.approx([0.3, 0.4])
    assert load_models([str(folds)], threshold=0.6).metadata.thresholds == [0.6, 0.6]
    # a member changed after the ensemble was written is refused
    checkpoint = torch.load(members[1], weights_only=True)
    checkpoint["calibration"]["bias"] = [0.0, 0.0]
    torch.save(checkpoint, members[1])
    with pytest.raises(InputError, match="missing or changed since the ensemble was built"):
        load_models([str(folds / "basset")])


def test_folds_folder_with_several_models_names_them(tmp_path):
    fold_project(tmp_path, models=("basset", "kmer_baseline"))
    folds = tmp_path / "results" / "demo" / "folds"
    folds.mkdir()
    with pytest.raises(InputError, match=r"the models \['basset', 'kmer_baseline'\]"):
        load_models([str(folds)])


def test_members_must_agree_on_length_and_tasks(members, tmp_path, capsys):
    other_tasks = write_run(tmp_path / "tasks", tasks=["leaf", "stem"])
    fasta = tmp_path / "seqs.fa"
    random_fasta(fasta)
    args = ["predict", str(members[0]), str(other_tasks), "--fasta", str(fasta)]
    assert main([*args, "-o", str(tmp_path / "x.tsv")]) == 2
    error = capsys.readouterr().err.strip()
    assert "disagree on the tasks" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "x.tsv").exists()
    longer = tmp_path / "long.pt"
    checkpoint = torch.load(members[1], weights_only=True)
    model_hyper = dict(checkpoint["hyperparameters"], length=2 * LENGTH)
    from peakcnn.models.checkpoint import save_checkpoint
    from peakcnn.models.registry import build_model

    save_checkpoint(str(longer), build_model("basset", **model_hyper), "basset", model_hyper)
    with pytest.raises(InputError, match="disagree on the window length"):
        load_models([str(members[0]), str(longer)])


def test_export_refuses_an_ensemble(members, tmp_path, capsys):
    folder = tmp_path / "results" / "demo" / "folds" / "basset"
    write_ensemble_file(str(folder / "ensemble.json"), [str(m) for m in members])
    assert main(["export", str(folder), "-o", str(tmp_path / "out")]) == 2
    assert "export does not" in capsys.readouterr().err


def test_variant_effects_are_the_mean_of_the_members_effects(members, tiny_fasta, tmp_path):
    def score(models, out):
        args = ["variants", *map(str, models), "--variants", str(DATA / "variants.vcf")]
        args += ["--genome", tiny_fasta, "-o", str(out), "--max-ref-mismatch", "0.2"]
        assert main(args) == 0
        return pd.read_csv(out, sep="\t", keep_default_na=False)

    singles = [score([m], tmp_path / f"v{i}.tsv") for i, m in enumerate(members)]
    table = score(members, tmp_path / "ensemble.tsv")
    assert list(table.columns) == list(singles[0].columns) + [
        "probability_difference_sd",
        "logit_difference_sd",
    ]
    for column in ("ref_probability", "alt_probability", "probability_difference"):
        expected = np.mean([s[column] for s in singles], axis=0)
        np.testing.assert_allclose(table[column], expected, atol=2e-6)
    effects = np.stack([s["logit_difference"] for s in singles])
    np.testing.assert_allclose(table["logit_difference"], effects.mean(0), atol=2e-5)
    np.testing.assert_allclose(table["logit_difference_sd"], effects.std(0, ddof=1), atol=2e-5)
    np.testing.assert_allclose(table["log2_odds_ratio"], effects.mean(0) / np.log(2), atol=3e-5)
    skipped = pd.read_csv(tmp_path / "ensemble.skipped.tsv", sep="\t")
    assert skipped.equals(pd.read_csv(tmp_path / "v0.skipped.tsv", sep="\t"))


def test_scan_with_an_ensemble_tracks_the_mean_probability(members, tmp_path):
    genome, _ = write_genome(tmp_path)
    prefixes = []
    for i, models in enumerate([[m] for m in members] + [members]):
        prefix = tmp_path / f"scan{i}" / "out"
        args = ["scan", *map(str, models), "--genome", str(genome), "-o", str(prefix)]
        assert main([*args, "--stride", "250", "--contigs", "Chr1"]) == 0
        prefixes.append(prefix)

    def track(prefix, task):
        table = pd.read_csv(f"{prefix}.{task}.bedGraph", sep="\t", header=None, comment="t")
        return table[3].to_numpy()

    for task in TASKS:
        expected = np.mean([track(p, task) for p in prefixes[:-1]], axis=0)
        np.testing.assert_allclose(track(prefixes[-1], task), expected, atol=2e-5)


def test_workflow_with_folds_plans_the_fold_ensembles(tmp_path):
    import yaml
    from helpers import make_tiny_project, planned_jobs

    project = make_tiny_project(tmp_path / "project")
    config = yaml.safe_load((project / "config/config.yaml").read_text())
    (tmp_path / "seqs.fa").write_text(">a\n" + "ACGT" * 50 + "\n")
    (tmp_path / "calls.tsv").write_text("chrom\tpos\tref\talt\nChr1\t100\tA\tG\n")
    extra = {
        "split": {**config["split"], "folds": 3},
        "predict": {"inputs": [str(tmp_path / "seqs.fa")]},
        "variants": {"vcfs": [str(tmp_path / "calls.tsv")]},
    }
    (tmp_path / "folds.yaml").write_text(yaml.safe_dump(extra))
    configs = ["--configfile", str(project / "config/config.yaml"), str(tmp_path / "folds.yaml")]
    plan = planned_jobs(project, *configs)
    assert plan["fold_ensemble"] == len(config["models"])  # one per model
    assert plan["predict_ensemble"] == plan["score_variants_ensemble"] == 1  # the chosen model
    assert plan["predict_sequences"] == plan["score_variants"] == 3  # each fold's own, as before
    without = planned_jobs(project)  # no folds: no ensemble
    assert not {"fold_ensemble", "predict_ensemble", "score_variants_ensemble"} & set(without)
