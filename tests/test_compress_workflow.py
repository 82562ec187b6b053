"""The compress_model rule on the finished tiny run: outputs, standalone models, reruns.

The stage is off by default (``compress.models: []``); these tests turn it on for ``basset``
in the shared tiny run (``tiny_run`` in conftest.py), with a few epochs and short speed
measurements, and undo the config edit and the outputs before they end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import planned_jobs, snakemake

from peakcnn.apply.loading import load_model
from peakcnn.compress.common import load_splits
from peakcnn.evaluation.metrics import auroc

pytestmark = pytest.mark.workflow
#: The compress section of the tests: quick settings, one pruning level.
QUICK = {
    "models": ["basset"],
    "sparsity": [0.5],
    "epochs": 1,
    "distil_epochs": 2,
    "bootstrap": 20,
    "time": 0.05,
}
VARIANTS = ["original", "int8", "pruned-0.5", "distilled"]


@contextlib.contextmanager
def compress_config(workdir: Path, **changes) -> Iterator[Path]:
    """Turn the compress stage on (``QUICK`` plus ``changes``); undo the edit on exit.

    Yields the config file; contents and times are restored, and with them the plan.
    """
    path = workdir / "config/config.yaml"
    text, stat = path.read_text(), path.stat()
    config = yaml.safe_load(text)
    config["compress"] = {**config["compress"], **QUICK, **changes}
    path.write_text(yaml.safe_dump(config))
    try:
        yield path
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture(scope="module")
def compressed_run(tiny_run) -> Iterator[Path]:
    """The tiny run with its basset compressed by the workflow (outputs removed afterwards)."""
    folder = tiny_run / "results/tiny/compress"
    try:
        with compress_config(tiny_run):
            # Turning the stage on adds the one job: nothing upstream reruns.
            assert planned_jobs(tiny_run) == {"compress_model": 1, "all": 1}
            result = snakemake(tiny_run)
            assert result.returncode == 0, result.stderr[-5000:]
            yield tiny_run
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_every_variant_is_written_and_benchmarked(compressed_run):
    folder = compressed_run / "results/tiny/compress/basset"
    for name in ("int8/model.ts", "pruned-0.5/model.pt", "distilled/model.pt"):
        assert (folder / name).stat().st_size > 0, name
    table = pd.read_csv(folder / "compress.tsv", sep="\t")
    assert list(table["model"]) == VARIANTS
    assert table[["auroc", "auprc", "file_bytes", "parameters"]].notna().all().all()
    assert (table["parameters"].iloc[2:] < table["parameters"].iloc[0]).all()
    assert (folder / "compress.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((folder / "compress.json").read_text())
    # teachers [seeds]: the model and its second seed run (tiny config: train.seeds 2)
    teachers = [Path(t).parent.name for t in report["distil"]["teachers"]]
    assert teachers == ["basset", "basset-seed1"]
    assert (compressed_run / "logs/compress_model/tiny/basset.log").exists()
    assert (compressed_run / "logs/benchmarks/compress_model/tiny/basset.tsv").exists()


@pytest.mark.parametrize("variant", ["pruned-0.5", "distilled"])
def test_a_compressed_model_loads_and_predicts_on_its_own(compressed_run, variant):
    model = load_model(str(compressed_run / f"results/tiny/compress/basset/{variant}/model.pt"))
    assert model.kind == "checkpoint" and model.tasks == ["tiny"]
    assert model.metadata.temperatures is not None and model.metadata.thresholds is not None
    splits = load_splits(str(compressed_run / "results/tiny/dataset"), model.length, ["test"])
    logits = model.logits(splits.x["test"])
    assert logits.shape == (len(splits.x["test"]), 1) and np.isfinite(logits).all()
    if variant.startswith("pruned"):  # half the filters and one epoch still find the motif
        assert auroc(splits.y["test"][:, 0], logits[:, 0]) > 0.6
    probabilities = model.probabilities(logits)
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_nothing_to_do_after_compressing(compressed_run):
    with compress_config(compressed_run):
        assert planned_jobs(compressed_run) == {}


@pytest.mark.parametrize(
    ("key", "value"), [("alpha", 0.8), ("sparsity", [0.25]), ("time", 0.1), ("teachers", [])]
)
def test_editing_the_compress_section_reruns_compress_model_only(compressed_run, key, value):
    with compress_config(compressed_run, **{key: value}):
        assert planned_jobs(compressed_run) == {"compress_model": 1, "all": 1}


def test_editing_another_section_leaves_the_compressed_models_alone(compressed_run):
    # evaluate_model's settings: the compressed models are benchmarked by the stage itself
    config_path = compressed_run / "config/config.yaml"
    with compress_config(compressed_run):
        config = yaml.safe_load(config_path.read_text())
        config["evaluate"]["bootstrap"] = 30
        config_path.write_text(yaml.safe_dump(config))
        plan = planned_jobs(compressed_run)
    assert "compress_model" not in plan and "evaluate_model" in plan
