"""The whole workflow on a tiny synthetic genome: outputs, report, rerun semantics."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import REPO, planned_jobs, run_in_terminal, snakemake, snakemake_command

from peakcnn.evaluation.metrics import choose_threshold
from peakcnn.evaluation.predictions import check_stored_metrics, read_predictions

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def finished_run(tiny_run) -> Path:
    """The session's finished tiny run (tests/conftest.py); a test that edits it restores it."""
    return tiny_run


def test_every_output_exists_and_is_sound(finished_run):
    out = finished_run / "results/tiny"
    summary = json.loads((out / "windows/summary.json").read_text())
    assert summary["input_peaks"] == 320 and summary["windows"] == 320
    split = json.loads((out / "dataset/split.json").read_text())
    assert split["method"] == "chromosome" and split["leak_check"]["passed"]
    chroms = [set(split["splits"][s]["chromosomes"]) for s in ("train", "val", "test")]
    assert not (chroms[0] & chroms[1]) and not (chroms[0] & chroms[2])
    for name in ("train", "val", "test"):
        data = np.load(out / f"dataset/{name}.npz")
        width = 200 + 2 * int(data["margin"]) if name == "train" else 200  # shift margins
        assert data["x"].dtype == np.uint8 and data["x"].shape[1:] == (4, width)
        assert data["y"].shape == (len(data["x"]), 1)
        assert set(np.unique(data["x"].sum(axis=1))) <= {0, 1}
    assert (out / "negatives/gc.png").stat().st_size > 0
    train = json.loads((out / "models/basset/train.json").read_text())
    assert train["device"] == "cpu" and train["epochs_run"] == 6
    assert (out / "models/basset/history.tsv").read_text().count("\n") == 7
    metrics = json.loads((out / "eval/basset/metrics.json").read_text())
    assert metrics["test"]["auroc"] > 0.8  # the planted G-box is easy
    assert 0 < metrics["test"]["positive_fraction"] < 1
    assert metrics["threshold_method"] == "max_f1"
    for plot in ("roc.png", "pr.png"):
        assert (out / f"eval/basset/{plot}").read_bytes()[:4] == b"\x89PNG"
    shap = np.load(out / "attribution/basset/shap.npz")
    assert shap["shap"].shape == (4, 4, 200)
    qc = json.loads((out / "attribution/basset/qc.json").read_text())
    assert qc["additivity_passed"] and qc["additivity_max_error"] < 1e-3
    assert (out / "attribution/basset/logos.png").read_bytes()[:4] == b"\x89PNG"
    log = (finished_run / "logs/make_windows/tiny.log").read_text()
    assert "windows/s" in log
    # the rules import the project's own library, not whatever peakcnn is installed
    assert f"peakcnn 0.1.0 from {finished_run / 'src/peakcnn'}," in log


def test_evaluation_outputs_are_checked_and_complete(finished_run):
    out = finished_run / "results/tiny/eval"
    metrics = json.loads((out / "basset/metrics.json").read_text())
    for key in ("auroc", "auprc", "f1", "mcc"):
        low, high = metrics["test_ci"][f"{key}_ci95"]
        assert low <= metrics["test"][key] <= high
    stored = read_predictions(str(out / "basset/predictions.tsv.gz"))
    check_stored_metrics(metrics, stored, str(out / "basset/metrics.json"))  # every metric
    train = json.loads((finished_run / "results/tiny/models/basset/train.json").read_text())
    temperature = train["calibration"]["temperature"][0]  # fitted on val, stored in model.pt
    assert metrics["calibration"]["temperature"] == temperature > 0
    assert metrics["calibration"]["before"]["test"]["ece"] >= 0
    predictions = pd.read_csv(out / "basset/predictions.tsv.gz", sep="\t")
    val = predictions[predictions["split"] == "val"]
    cut = choose_threshold(val["label"].to_numpy(), val["score"].to_numpy(), "max_f1")
    assert metrics["test"]["threshold"] == pytest.approx(cut, rel=1e-5)  # chosen on val
    test_chroms = set(
        json.loads((finished_run / "results/tiny/dataset/split.json").read_text())["splits"][
            "test"
        ]["chromosomes"]
    )
    groups = pd.read_csv(out / "basset/groups.tsv", sep="\t")
    assert set(groups["group"]) == test_chroms | {"all"}  # per chromosome
    robustness = pd.read_csv(out / "basset/robustness.tsv", sep="\t")
    assert set(robustness["perturbation"]) == {"none", "substitution", "shift"}
    for plot in ("calibration", "scores", "training", "robustness"):
        assert (out / f"basset/{plot}.png").read_bytes()[:4] == b"\x89PNG"
    models = pd.read_csv(out / "models.tsv", sep="\t")
    assert list(models["model"])[0] == "basset" and bool(models["baseline"].iloc[0])
    assert models["auroc"].iloc[0] == pytest.approx(metrics["test"]["auroc"], abs=1e-4)


def test_seeds_and_the_model_choice(finished_run):
    out = finished_run / "results/tiny"
    # train.seeds: 2 -> a second basset run beside the first, kmer_baseline once
    first = json.loads((out / "models/basset/train.json").read_text())
    second = json.loads((out / "models/basset-seed1/train.json").read_text())
    assert (first["seed"], second["seed"]) == (0, 1)
    assert not (out / "models/kmer_baseline-seed1").exists()
    assert (out / "eval/basset-seed1/predictions.tsv.gz").exists()
    best = json.loads((out / "eval/best.json").read_text())
    table = pd.read_csv(out / "eval/candidates.tsv", sep="\t")
    assert list(table["candidate"]) == [
        "basset",
        "basset-seed1",
        "kmer_baseline",
        "basset-ensemble",
    ]
    assert table["chosen"].sum() == 1
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["candidate"] == best["chosen"] and best["chosen_on"] == "val auroc"
    assert chosen["val_auroc"] == pytest.approx(table["val_auroc"].max(), abs=1e-4)
    if best["kind"] == "run":  # a run's test metrics are its own metrics.json's
        metrics = json.loads((out / f"eval/{best['chosen']}/metrics.json").read_text())
        assert best["test"]["auroc"] == pytest.approx(metrics["test"]["auroc"])
    low, high = best["test_ci"]["auroc_ci95"]
    assert low <= best["test"]["auroc"] <= high
    assert best["versus_baseline"]["baseline"] == "kmer_baseline"
    # 320 peaks: every split is small, and says so
    assert best["small_splits"] == ["val", "test"] and len(best["warnings"]) == 2
    assert "small val split" in (finished_run / "logs/select_model/tiny.log").read_text()


def test_attribution_checks_and_motif_outputs(finished_run):
    out = finished_run / "results/tiny/attribution/basset"
    qc = json.loads((out / "qc.json").read_text())
    assert len(qc["additivity_errors"]) == qc["n_windows"] == 4
    assert qc["ism"]["windows"] == 4 and qc["ism"]["pearson_with_shap_median"] is not None
    shap = np.load(out / "shap.npz")
    assert shap["saliency"].shape == shap["shap"].shape and shap["ism"].shape[0] == 4
    matches = pd.read_csv(out / "motifs/matches.tsv", sep="\t")
    assert {"pattern", "jaspar_id", "tf_class", "q_value"} <= set(matches.columns)
    summary = json.loads((out / "motifs/summary.json").read_text())
    assert summary["windows"] == 4 and summary["jaspar"]["matrices"] > 500
    assert (out / "motifs/patterns.png").read_bytes()[:4] == b"\x89PNG"


def test_report_builds(finished_run):
    result = snakemake(finished_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (finished_run / "report.html").read_text()
    for name in (
        "metrics.tsv",
        "roc.png",
        "models.tsv",
        "robustness.tsv",
        "matches.tsv",
        "candidates.tsv",
        "best.json",
    ):
        assert name in html, name


def test_nothing_to_do_after_a_finished_run(finished_run):
    assert planned_jobs(finished_run) == {}


def test_editing_train_settings_reruns_train_and_downstream_only(finished_run):
    config_path = finished_run / "config/config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["train"]["lr"] = 0.01
    config_path.write_text(yaml.safe_dump(config))
    try:
        assert set(planned_jobs(finished_run)) == {
            "train_model",
            "evaluate_model",
            "compare_models",
            "select_model",
            "attribute_chunk",
            "compute_attributions",
            "find_motifs",
            "scan_genome",  # workflow/rules/apply.smk
            "export_model",
            "all",
        }
    finally:
        config_path.write_text(original)


def test_attribution_scatters_into_chunks(finished_run):
    config_path = finished_run / "config/config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["attribute"]["chunks"] = 3
    config_path.write_text(yaml.safe_dump(config))
    try:
        assert planned_jobs(finished_run) == {
            "attribute_chunk": 3,
            "compute_attributions": 1,
            "find_motifs": 1,
            "all": 1,
        }
    finally:
        config_path.write_text(original)


def test_multitask_dataset_runs_end_to_end(tmp_path):
    """Two peak sets on one genome: (N, 2) labels, a two-output model, per-task metrics."""
    from helpers import make_tiny_project

    workdir = make_tiny_project(tmp_path)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    peaks = Path(config["datasets"]["tiny"]["peaks"]["source"].removeprefix("file://"))
    lines = peaks.read_text().splitlines()
    half = workdir / "half.bed"  # every other peak, as plain BED3 (midpoints)
    half.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in lines[1::2]))
    config["datasets"]["tiny"]["peaks"] = {
        "gbox": {"source": str(peaks)},
        "half": {"source": str(half)},
    }
    config["attribute"]["task"] = "half"
    # Centred training: 6 epochs of shifted windows are too few for two tasks on 320 windows
    # (the tiny run covers the default shifts).
    config["train"]["max_shift"] = 0
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        workdir, "results/tiny/eval/models.tsv", "results/tiny/attribution/basset/shap.npz"
    )
    assert result.returncode == 0, result.stderr[-5000:]
    out = workdir / "results/tiny"
    summary = json.loads((out / "windows/summary.json").read_text())
    assert summary["tasks"] == ["gbox", "half"] and summary["input_peaks"] == 320 + 160
    assert summary["positive_windows_by_task"]["half"] == 160
    for split in ("train", "val", "test"):
        data = np.load(out / f"dataset/{split}.npz")
        assert list(data["tasks"]) == ["gbox", "half"] and data["y"].shape[1] == 2
        assert (data["y"][:, 1] <= data["y"][:, 0]).all()  # half is a subset of gbox
        assert 0 < data["y"][:, 1].sum() < data["y"][:, 0].sum()
    metrics = json.loads((out / "eval/basset/metrics.json").read_text())
    assert metrics["tasks"] == ["gbox", "half"]
    mean = np.mean([metrics["by_task"][t]["test"]["auroc"] for t in ("gbox", "half")])
    assert metrics["test"]["auroc"] == pytest.approx(mean)
    assert metrics["by_task"]["gbox"]["test"]["auroc"] > 0.8
    table = pd.read_csv(out / "eval/models.tsv", sep="\t")
    assert list(table["model"]) == ["basset", "kmer_baseline"]
    qc = json.loads((out / "attribution/basset/qc.json").read_text())
    assert qc["task_name"] == "half" and qc["additivity_passed"]


def test_k_fold_runs_every_fold_and_summarises_them(tmp_path):
    """split.folds 3 on four chromosomes: three runs, each chromosome tested once."""
    from helpers import make_tiny_project

    workdir = make_tiny_project(tmp_path)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["split"]["folds"] = 3
    config["models"] = ["kmer_baseline"]
    config["train"]["seeds"] = 1
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    out = workdir / "results/tiny"
    tested = []
    for fold in range(3):
        split = json.loads((out / f"fold{fold}/dataset/split.json").read_text())
        assert split["leak_check"]["passed"]
        assert {r["split"] for r in split["regions"]} == {"train", "val", "test"}
        tested += split["splits"]["test"]["chromosomes"]
    assert sorted(tested) == ["Chr1", "Chr2", "Chr3", "Chr4"]
    table = pd.read_csv(out / "folds/summary.tsv", sep="\t")
    assert list(table["fold"]) == ["fold0", "fold1", "fold2"]
    summary = json.loads((out / "folds/summary.json").read_text())
    assert summary["models"]["kmer_baseline"]["auroc"]["mean"] == pytest.approx(
        table["auroc"].mean(), abs=1e-4
    )
    assert not (out / "dataset").exists()  # with folds, nothing is split outside the folds


def demo_checkout(folder: Path) -> Path:
    """A working directory like the repository's: its config/ and resources/demo (linked)."""
    shutil.copytree(REPO / "config", folder / "config")
    (folder / "resources").mkdir()
    (folder / "resources/demo").symlink_to(REPO / "resources/demo")
    return folder


def planned_datasets(workdir: Path, *args: str) -> set[str]:
    """The datasets whose results a dry run would write (results/<dataset>/...)."""
    result = snakemake(workdir, "-n", *args, snakefile=REPO / "Snakefile")
    assert result.returncode == 0, result.stderr[-3000:]
    return set(re.findall(r"results/([\w.-]+)/", result.stdout))


def test_own_datasets_replace_the_demo(tmp_path):
    """The README's own-data example plans its dataset only; no config plans the demo."""
    workdir = demo_checkout(tmp_path)
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Your own data")[1]
    example = re.search(r"cat > my.yaml <<'EOF'\n(.*?)\nEOF\n", section, re.DOTALL)[1]
    (workdir / "my.yaml").write_text(example)
    own = yaml.safe_load(example)["datasets"]
    mine, demo = str(workdir / "my.yaml"), str(workdir / "config/demo.yaml")
    assert planned_datasets(workdir, "--configfile", mine) == set(own)
    assert planned_datasets(workdir) == {"bzip11_bzip10"}
    assert planned_datasets(workdir, "--configfile", demo, mine) == {"bzip11_bzip10", *own}
    multitask = planned_datasets(workdir, "--configfile", str(workdir / "config/multitask.yaml"))
    assert multitask == {"bzip_family"}


def test_a_bad_peak_line_is_reported_on_the_terminal_naming_the_users_file(tmp_path):
    """The one-line error reaches snakemake's stderr with the user's own path and line."""
    from helpers import make_tiny_project

    workdir = make_tiny_project(tmp_path)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    peaks = Path(config["datasets"]["tiny"]["peaks"]["source"].removeprefix("file://"))
    lines = peaks.read_text().splitlines(keepends=True)
    fields = lines[5].split("\t")  # line 6: the fifth peak (line 1 is a track line)
    fields[1], fields[2] = fields[2], fields[1]
    lines[5] = "\t".join(fields)
    peaks.write_text("".join(lines))
    result = snakemake(workdir, "results/tiny/windows/positives.bed")
    assert result.returncode != 0
    expected = f"{peaks}:6: start {fields[1]} >= end {fields[2]}; swap or fix the coordinates"
    reported = [line for line in result.stderr.splitlines() if expected in line]
    assert reported, result.stderr[-3000:]
    assert not (workdir / "results/tiny/windows/positives.bed").exists()


def test_progress_bar_on_a_terminal_only(tiny_run, tmp_path):
    """Training draws a live tqdm bar on snakemake's terminal; a pipe (CI, SLURM) gets none."""
    workdir = tmp_path / "run"  # a copy: the shared run keeps its model
    shutil.copytree(tiny_run, workdir, symlinks=True)
    args = ("results/tiny/models/basset/model.pt", "--forcerun", "train_model")
    command = snakemake_command(workdir, *args)
    code, shown = run_in_terminal(command)
    assert code == 0, shown[-3000:]
    bars = re.findall(r"epoch (\d)/6:\s+\d+%\|.*?\| \d+/\d+ \[", shown)
    assert sorted(set(bars)) == ["1", "2", "3", "4", "5", "6"], shown[-3000:]
    log = (workdir / "logs/train_model/tiny/basset.log").read_text()
    assert len(re.findall(r"INFO peakcnn.training.train: epoch \d: train loss", log)) == 6
    assert "%|" not in log  # the log keeps one line per epoch, no bar
    piped = snakemake(workdir, *args)
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert "epoch 1/6" not in piped.stdout + piped.stderr
    assert "%|" not in piped.stdout + piped.stderr


MODULE_SNAKEFILE = """
configfile: "{defaults}"
configfile: "peakcnn.yaml"


module peakcnn:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from peakcnn as peakcnn_*


rule all:
    default_target: True
    input:
        rules.peakcnn_all.input,
"""


def test_usable_as_a_snakemake_module(tmp_path):
    """A workflow of one's own, elsewhere, imports peakcnn as a module and runs it."""
    from helpers import tiny_config, write_tiny_inputs

    config = tiny_config(write_tiny_inputs(tmp_path))
    config["models"] = ["kmer_baseline"]  # quick: no SHAP
    (tmp_path / "peakcnn.yaml").write_text(yaml.safe_dump(config))
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        MODULE_SNAKEFILE.format(defaults=REPO / "config/config.yaml", snakefile=REPO / "Snakefile")
    )
    plan = planned_jobs(tmp_path)
    assert plan["peakcnn_fetch_genome"] == 1 and plan["peakcnn_train_model"] == 1
    assert set(plan) == {"all", *(f"peakcnn_{rule}" for rule in MODULE_RULES)}
    result = snakemake(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    best = json.loads((tmp_path / "results/tiny/eval/best.json").read_text())
    assert best["chosen"] == "kmer_baseline"
    assert (tmp_path / "logs/benchmarks/train_model/tiny/kmer_baseline.tsv").exists()
    assert planned_jobs(tmp_path) == {}


MODULE_RULES = {
    "fetch_genome",
    "fetch_peaks",
    "make_windows",
    "split_windows",
    "sample_negatives",
    "build_dataset",
    "homology_check",
    "train_model",
    "evaluate_model",
    "compare_models",
    "select_model",
    "scan_genome",
    "export_model",
}
