"""Config validation: defaults behind $ref filled, one-line key errors, stated constraints."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from peakcnn.config_check import validate_config
from peakcnn.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config/config.schema.yaml"


def merged(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` recursively, as snakemake merges config files."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        both_dicts = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both_dicts else copy.deepcopy(value)
    return out


# The config of a plain `snakemake` run: the defaults with the demo dataset of config/demo.yaml.
SHIPPED = merged(
    yaml.safe_load((REPO / "config/config.yaml").read_text()),
    yaml.safe_load((REPO / "config/demo.yaml").read_text()),
)
DEMO = REPO / "resources/demo"
MINIMAL = {
    "datasets": {
        "d": {
            "genome": {"source": str(DEMO / "TAIR10.1_chr1.fna.gz")},
            "peaks": {"source": str(DEMO / "GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz")},
        }
    }
}


def shipped() -> dict:
    """A fresh copy of the shipped demo config (config/config.yaml + config/demo.yaml)."""
    return copy.deepcopy(SHIPPED)


def error_of(config: dict) -> str:
    """The message validate_config raises for ``config``."""
    with pytest.raises(InputError) as error:
        validate_config(config, SCHEMA)
    message = str(error.value)
    assert "\n" not in message and "$defs" not in message and "properties" not in message
    return message


def test_shipped_config_is_valid_and_unchanged_except_new_defaults():
    config = validate_config(shipped(), SCHEMA)
    assert config["windows"]["off_contig"] == "error"
    assert {k: v for k, v in config["windows"].items() if k != "off_contig"} == SHIPPED["windows"]
    assert config["negatives"] == SHIPPED["negatives"]


def test_defaults_behind_ref_and_of_missing_sections_are_filled():
    config = validate_config(copy.deepcopy(MINIMAL), SCHEMA)
    assert config["negatives"]["seed"] == 0  # behind $ref: #/$defs/seed
    assert config["train"]["device"] == "auto" and config["evaluate"]["device"] == "auto"
    assert config["windows"]["max_n_fraction"] == config["negatives"]["max_n_fraction"] == 0.1
    assert config["split"]["gap"] >= config["windows"]["length"]
    assert config["models"] == ["basset"]


def test_replace_workflow_config_runs_with_a_minimal_config(tmp_path):
    configfile = tmp_path / "minimal.yaml"
    configfile.write_text(yaml.safe_dump(MINIMAL))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
        + ["--directory", str(tmp_path), "--configfile", str(configfile)]
        + ["--replace-workflow-config", "-n", "results/d/dataset/split.json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "KeyError" not in result.stderr


def test_an_unknown_top_level_key_is_one_short_line_through_snakemake(tmp_path):
    configfile = tmp_path / "typo.yaml"
    configfile.write_text(yaml.safe_dump({**MINIMAL, "windws": {"length": 400}}))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
        + ["--directory", str(tmp_path), "--configfile", str(configfile), "-n"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config: windws: unknown key; did you mean 'windows'?" in output
    assert len(output.splitlines()) < 15 and "additionalProperties" not in output


def set_in(config: dict, path: str, value) -> dict:
    """Set ``a.b.c`` in ``config``; return it."""
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "datasets.bzip11_bzip10.peaks",
            {"sorce": "p.bed"},
            "datasets.bzip11_bzip10.peaks.sorce: unknown key; did you mean 'source'?",
        ),
        (
            "datasets.bzip11_bzip10.peaks",
            {"leaf": {"source": "a.bed"}, "root": {"sorce": "b.bed"}},
            "datasets.bzip11_bzip10.peaks.root.sorce: unknown key; did you mean 'source'?",
        ),
        ("windows.lenght", 400, "windows.lenght: unknown key; did you mean 'length'?"),
        (
            "windows.length",
            "800",
            "windows.length: '800' is str, expected integer (--config passes nested values "
            "as text: use --configfile)",
        ),
        (
            "negatives.strategy",
            "gc_match",
            "negatives.strategy: 'gc_match' is not one of ['gc_matched', 'random', 'flanks', "
            "'dinuc_shuffled']; did you mean 'gc_matched'?",
        ),
        (
            "negatives.strategy",
            {"gc_matched": 1, "flank": 1},
            "negatives.strategy.flank: unknown key; did you mean 'flanks'?",
        ),
        ("train.pos_weight", "aut", "train.pos_weight: 'aut' is not one of ['auto']"),
        (
            "train.architecture",
            {"basset": {"filter": [8]}},
            "train.architecture.basset.filter: unknown key; did you mean 'filters'?",
        ),
        (
            "train.architecture",
            {"filters": [0]},
            "train.architecture.filters[0]: 0 is less than the minimum of 1",
        ),
        ("models", ["baset"], "models[0]: 'baset' is not one of"),
        ("windows.max_n_fraction", 1.5, "windows.max_n_fraction: 1.5 is greater than"),
        (
            "windows.off_contig",
            "skip",
            "windows.off_contig: 'skip' is not one of ['error', 'drop']",
        ),
        ("datasets.bad name", MINIMAL["datasets"]["d"], "datasets.bad name: key not allowed"),
        (
            "datasets.bzip11_bzip10.genome.sha256",
            "abc",
            "datasets.bzip11_bzip10.genome.sha256: 'abc' does not match",
        ),
    ],
)
def test_schema_errors_name_the_key_path_with_a_hint(path, value, message):
    assert error_of(set_in(shipped(), path, value)).startswith(f"config: {message}")


def test_a_missing_required_key_is_named():
    config = shipped()
    del config["datasets"]["bzip11_bzip10"]["genome"]
    assert error_of(config) == (
        "config: datasets.bzip11_bzip10.genome: required key missing; add it"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"windows.label_width": 1000}, "windows.label_width 1000 is larger than windows.length"),
        ({"split.gap": 100}, "split.gap 100 is shorter than windows.length 800"),
        (
            {"split.method": "random", "split.random_block": 1000, "split.gap": 1000},
            "split.random_block 1000 must be larger than split.gap 1000",
        ),
        ({"split.folds": 2}, "split.folds 2: use 0 (one split) or at least 3 folds"),
        (
            {"split.val_fraction": 0.5, "split.test_fraction": 0.5},
            "split.val_fraction 0.5 + split.test_fraction 0.5 leave nothing to train on",
        ),
        (
            {"split.val_chroms": ["Chr4"], "split.test_chroms": ["Chr4"]},
            "split.val_chroms and split.test_chroms share ['Chr4']",
        ),
        ({"evaluate.baseline": "hybrid"}, "evaluate.baseline 'hybrid' is not one of models"),
        ({"attribute.task": "leaf"}, "attribute.task 'leaf' is not a peak set of dataset"),
        (
            {"negatives.strategy": {"gc_matched": 0}},
            "negatives.strategy: the mixture's weights sum to 0",
        ),
        (
            {"compress.models": ["kmer_baseline"]},
            "compress.models: 'kmer_baseline' is not a trained Basset-style model; name one of "
            "['basset']",
        ),
        (
            {"compress.models": ["basset_paper"]},
            "compress.models: 'basset_paper' is not a trained Basset-style model",
        ),
        (
            {"compress.teachers": ["hybrid"]},
            "compress.teachers: 'hybrid' is neither `seeds` nor one of models",
        ),
    ],
)
def test_stated_constraints_are_enforced(changes, message):
    config = shipped()
    for path, value in changes.items():
        set_in(config, path, value)
    assert error_of(config).startswith(f"config: {message}")


def test_differing_n_caps_are_warned_about(caplog):
    config = set_in(shipped(), "windows.max_n_fraction", 1.0)
    validate_config(config, SCHEMA)
    assert "windows.max_n_fraction 1.0 differs from negatives.max_n_fraction 0.1" in caplog.text
