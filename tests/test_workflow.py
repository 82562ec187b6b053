"""The whole workflow on a tiny synthetic genome: outputs, report, rerun semantics."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow

MOTIF = "CACGTG"


def write_tiny_inputs(folder: Path, seed: int = 0) -> dict:
    """Four 50 kb chromosomes (soft-masked stretch, an N run) and 320 peaks with a G-box."""
    rng = np.random.default_rng(seed)
    chroms = {f"Chr{i}": rng.choice(list("ACGT"), 50_000) for i in (1, 2, 3, 4)}
    peaks = []
    for name, bases in chroms.items():
        for start in sorted(rng.choice(np.arange(300, 49_400, 250), 80, replace=False)):
            for offset in (-20, 0, 20):
                at = start + 50 + offset
                bases[at : at + len(MOTIF)] = list(MOTIF)
            peaks.append(f"{name}\t{start}\t{start + 101}\t{name}:{start}\t100\t.\t5\t3\t2\t50")
        bases[1000:1500] = np.char.lower(bases[1000:1500])
    chroms["Chr2"][5000:5100] = "N"
    genome = folder / "genome.fa.gz"
    with gzip.open(genome, "wt") as handle:
        for name, bases in chroms.items():
            handle.write(f">{name}\n{''.join(bases)}\n")
    bed = folder / "peaks.narrowPeak"
    bed.write_text("track name=tiny\n" + "\n".join(peaks) + "\n")
    return {"genome": genome, "peaks": bed}


def tiny_config(inputs: dict) -> dict:
    """The default config, shrunk to run in about a minute."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    sha = hashlib.sha256(inputs["genome"].read_bytes()).hexdigest()
    config["datasets"] = {
        "tiny": {
            "genome": {"source": str(inputs["genome"]), "sha256": sha},
            "peaks": {"source": inputs["peaks"].as_uri()},
        }
    }
    config["windows"]["length"] = 200
    config["split"].update(val_fraction=0.3, test_fraction=0.3)
    config["train"].update(
        epochs=6,
        batch_size=32,
        patience=0,
        architecture={
            "filters": [16, 16, 16],
            "kernels": [9, 5, 3],
            "pools": [2, 2, 2],
            "dense": [16, 8],
        },
    )
    config["evaluate"]["bootstrap"] = 50
    config["attribute"].update(
        n_windows=4, n_shuffles=4, batch_pairs=8, logo_windows=2, logo_width=20
    )
    return config


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake on the repository's Snakefile in ``workdir``."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rules (and job counts) that a dry run would execute."""
    result = snakemake(workdir, "-n", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("run")
    inputs = write_tiny_inputs(workdir)
    (workdir / "config").mkdir()
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(tiny_config(inputs)))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


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
        assert data["x"].dtype == np.uint8 and data["x"].shape[1:] == (4, 200)
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
    assert "windows/s" in (finished_run / "logs/make_windows/tiny.log").read_text()


def test_report_builds(finished_run):
    result = snakemake(finished_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (finished_run / "report.html").read_text()
    assert "metrics.tsv" in html and "roc.png" in html


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
            "compute_attributions",
            "all",
        }
    finally:
        config_path.write_text(original)
