"""What a dry run plans after a finished run: config edits, library edits, config validation.

All tests share one finished tiny run in a copy of the project (``tiny_run`` in conftest.py);
each edit is undone, contents and mtimes, before the test ends.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import REPO, planned_jobs, rule_code, snakemake

pytestmark = pytest.mark.workflow
SCHEMA = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())


def stage_and_downstream(workdir: Path, *rules: str) -> set[str]:
    """What snakemake plans for ``-R rules`` after a finished run: the rules and all downstream."""
    plan = set(planned_jobs(workdir, "--forcerun", *rules))
    assert set(rules) <= plan
    return plan


@contextlib.contextmanager
def restored(path: Path) -> Iterator[None]:
    """Undo any edit of ``path`` on exit: contents, then access and modification times."""
    text, stat = path.read_text(), path.stat()
    try:
        yield
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@contextlib.contextmanager
def restored_bytes(path: Path) -> Iterator[None]:
    """Undo any edit of the binary file ``path`` on exit: contents, then times."""
    data, stat = path.read_bytes(), path.stat()
    try:
        yield
    finally:
        path.write_bytes(data)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_finished_run_plans_nothing(tiny_run):
    assert planned_jobs(tiny_run) == {}


def test_a_moved_project_plans_nothing(tiny_run, tmp_path):
    # The library inputs are recorded relative to the project (script_code in common.smk), so
    # a finished project moved or copied elsewhere is still finished.
    moved = tmp_path / "moved"
    shutil.copytree(tiny_run, moved, symlinks=True)
    assert planned_jobs(moved) == {}


# (config keys, new value, the first stage whose params change)
CONFIG_EDITS = [
    (("datasets", "tiny", "genome", "sha256"), None, "fetch_genome"),
    (("datasets", "tiny", "peaks", "source"), "PLAIN_PATH", "fetch_peaks"),
    (("windows", "chrom_end"), "drop", "make_windows"),
    (("windows", "length"), 240, "make_windows"),
    (("split", "val_fraction"), 0.25, "split_windows"),
    (("negatives", "ratio"), 2.0, "sample_negatives"),
    (("homology", "min_identity"), 0.8, "homology_check"),
    (("train", "batch_size"), 16, "train_model"),
    (("evaluate", "bootstrap"), 20, "evaluate_model"),
    (("select", "metric"), "auprc", "select_model"),
    (("attribute", "n_shuffles"), 3, "attribute_chunk"),
    (("motifs", "central_bp"), 100, "find_motifs"),
    (("scan", "stride"), 50, "scan_genome"),
]


def test_every_config_section_has_an_edit_above():
    # `models` adds or removes whole chains of jobs rather than changing one stage;
    # `resources` changes no result (test_editing_resources_plans_nothing). predict and
    # variants run nothing without input files, and export has no setting but which model:
    # like `models`, they add or remove jobs. compress is off in the tiny run (models []):
    # test_compress_section_edits_plan_compress_model_only below, and tests/
    # test_compress_workflow.py on a compressed run.
    edited = {keys[0] for keys, _, _ in CONFIG_EDITS}
    assert edited == set(SCHEMA["properties"]) - {
        "models",
        "resources",
        "predict",
        "variants",
        "export",
        "compress",
    }


def test_editing_resources_plans_nothing(tiny_run):
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        config["resources"]["train_model"] = {"threads": 1, "mem_mb": 500, "runtime": 5}
        config["resources"]["default"]["mem_mb"] = 3000
        config_path.write_text(yaml.safe_dump(config))
        assert planned_jobs(tiny_run) == {}


@pytest.mark.parametrize(
    ("keys", "value", "stage"), CONFIG_EDITS, ids=[".".join(e[0]) for e in CONFIG_EDITS]
)
def test_config_edit_plans_its_stage_and_downstream_only(tiny_run, keys, value, stage):
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        *parents, last = keys
        section = config
        for key in parents:
            section = section[key]
        assert section[last] != value
        if value == "PLAIN_PATH":  # the same file, named by path instead of a file:// URI
            value = section[last].removeprefix("file://")
        section[last] = value
        config_path.write_text(yaml.safe_dump(config))
        plan = set(planned_jobs(tiny_run))
    # Read after the edit is undone: -R gives the stage and everything downstream of it.
    assert plan == stage_and_downstream(tiny_run, stage)


def test_compress_section_edits_plan_compress_model_only(tiny_run):
    # Off (models []), its settings plan nothing; on, the one new job and nothing upstream.
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        config["compress"].update(sparsity=[0.1], alpha=0.9)
        config_path.write_text(yaml.safe_dump(config))
        assert planned_jobs(tiny_run) == {}
        config["compress"]["models"] = ["basset"]
        config_path.write_text(yaml.safe_dump(config))
        assert planned_jobs(tiny_run) == {"compress_model": 1, "all": 1}


@pytest.mark.parametrize(
    ("seeds", "expected"),
    [
        (3, {"train_model": 1, "evaluate_model": 1, "select_model": 1}),
        (1, {"select_model": 1}),
    ],
    ids=["more-seeds", "fewer-seeds"],
)
def test_changing_seeds_plans_the_new_runs_and_the_choice_only(tiny_run, seeds, expected):
    # The tiny run has train.seeds 2; the first seed's runs (and attribution) keep their params.
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        assert config["train"]["seeds"] == 2
        config["train"]["seeds"] = seeds
        config_path.write_text(yaml.safe_dump(config))
        plan = planned_jobs(tiny_run)
    assert plan == {**expected, "all": 1}
    assert planned_jobs(tiny_run) == {}


# Library modules to edit: each rule whose code imports one (its script, or a module the script
# runs, directly or not) must rerun, with everything downstream, and nothing else.
LIBRARY_EDITS = [
    "data/negatives.py",
    "data/genome.py",
    "models/registry.py",
    "evaluation/evaluate.py",
    "evaluation/selection.py",
    "interpret/__init__.py",
]


def dotted(path: str) -> str:
    """The package-relative module name of a source path: ``data/__init__.py`` -> ``data``."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


@pytest.mark.parametrize("module", LIBRARY_EDITS)
def test_library_edit_plans_importing_stages_and_downstream_only(tiny_run, module):
    in_run = set(planned_jobs(tiny_run, "--forceall"))  # rules the tiny run has jobs of
    importers = [
        name
        for name, rule in rule_code().items()
        if dotted(module) in rule.modules and name in in_run
    ]
    assert importers and not any(name.startswith("fetch_") for name in importers)
    source = tiny_run / "src/peakcnn" / module
    with restored(source):
        source.write_text(source.read_text() + "\n# an edit\n")
        plan = set(planned_jobs(tiny_run))
    assert plan == stage_and_downstream(tiny_run, *importers)
    # Undone (contents and mtime), the edit leaves nothing to rerun.
    assert planned_jobs(tiny_run) == {}


def test_touching_a_module_without_changing_it_plans_nothing(tiny_run):
    # Only a change of contents counts: a newer mtime alone is checked against the checksum.
    source = tiny_run / "src/peakcnn/data/negatives.py"
    with restored(source):
        source.touch()
        assert planned_jobs(tiny_run) == {}


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("train", "learning_rate", 0.1, "config: train.learning_rate: unknown key; "),
        (None, "trian", {"lr": 0.1}, "config: trian: unknown key; did you mean 'train'?"),
        ("train", "epochs", "ten", "config: train.epochs: 'ten' is str, expected integer"),
        ("negatives", "strategy", "gc", "config: negatives.strategy: 'gc' is not one of"),
    ],
    ids=["unknown-key", "unknown-section", "wrong-type", "not-in-enum"],
)
def test_invalid_config_fails_naming_the_key(tiny_run, tmp_path, section, key, value, expected):
    config = yaml.safe_load((tiny_run / "config/config.yaml").read_text())
    (config[section] if section else config)[key] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake(tiny_run, "-n", "--configfile", str(bad))
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert expected in message
    assert "additionalProperties" not in message  # one line, not the schema
    assert "Job stats" not in message  # nothing was planned


def test_an_overwritten_peak_file_reruns_its_dataset_from_the_fetch(tiny_run):
    # The tiny peaks are a local file (named by a file:// URI); the same path, new contents.
    config = yaml.safe_load((tiny_run / "config/config.yaml").read_text())
    peaks = Path(config["datasets"]["tiny"]["peaks"]["source"].removeprefix("file://"))
    with restored(peaks):
        lines = peaks.read_text().splitlines(keepends=True)
        peaks.write_text("".join(lines[:-1]))  # one peak fewer
        plan = set(planned_jobs(tiny_run))
    assert plan == stage_and_downstream(tiny_run, "fetch_peaks")
    assert planned_jobs(tiny_run) == {}


def test_an_overwritten_genome_reruns_its_dataset_from_the_fetch(tiny_run):
    # A plain local path. The new file no longer matches the config's sha256: the planned
    # fetch would stop there, naming the file, instead of the old results standing.
    config = yaml.safe_load((tiny_run / "config/config.yaml").read_text())
    genome = Path(config["datasets"]["tiny"]["genome"]["source"])
    with restored_bytes(genome):
        genome.write_bytes(gzip.compress(gzip.decompress(genome.read_bytes()) + b">extra\nAC\n"))
        plan = set(planned_jobs(tiny_run))
    assert plan == stage_and_downstream(tiny_run, "fetch_genome")
    assert planned_jobs(tiny_run) == {}


# Training settings that kmer_baseline does not read: an edit retrains the CNNs only.
KMER_IGNORES = {
    "lr": 0.01,
    "epochs": 3,
    "batch_size": 16,
    "optimizer": "adamw",
    "momentum": 0.5,
    "patience": 2,
    "augment_rc": False,
    "amp": "bf16",
}


@pytest.mark.parametrize(("key", "value"), KMER_IGNORES.items(), ids=list(KMER_IGNORES))
def test_a_train_edit_kmer_baseline_ignores_leaves_it_alone(tiny_run, key, value):
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        assert config["train"][key] != value
        config["train"][key] = value
        config_path.write_text(yaml.safe_dump(config))
        plan = planned_jobs(tiny_run)
    assert plan["train_model"] == 2  # basset and basset-seed1, not kmer_baseline
    assert plan["evaluate_model"] == 2


def test_a_train_edit_kmer_baseline_reads_retrains_it(tiny_run):
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        config["train"]["pos_weight"] = "auto"
        config_path.write_text(yaml.safe_dump(config))
        plan = planned_jobs(tiny_run)
    assert plan["train_model"] == 3


def test_a_subsample_retrains_every_model_and_its_seed_alone_nothing(tiny_run):
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        assert config["train"]["subsample"] is None
        config["train"]["subsample_seed"] = 9  # no draw: nothing changes
        config_path.write_text(yaml.safe_dump(config))
        assert planned_jobs(tiny_run) == {}
        config["train"]["subsample"] = 5
        config_path.write_text(yaml.safe_dump(config))
        plan = planned_jobs(tiny_run)
    assert plan["train_model"] == 3  # kmer_baseline trains on the draw too
    assert "build_dataset" not in plan  # validation and test are never subsampled


def test_editing_the_baseline_reruns_the_comparison_only(tiny_run):
    config_path = tiny_run / "config/config.yaml"
    with restored(config_path):
        config = yaml.safe_load(config_path.read_text())
        assert config["evaluate"]["baseline"] is None  # the first model, basset
        config["evaluate"]["baseline"] = "kmer_baseline"
        config_path.write_text(yaml.safe_dump(config))
        plan = planned_jobs(tiny_run)
    assert plan == {"compare_models": 1, "all": 1}
