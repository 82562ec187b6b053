"""The peakcnn command: `peakcnn init` writes a config file a run accepts, or says what is wrong."""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, make_tiny_project, snakemake, write_tiny_inputs
from snakemake.utils import validate

from peakcnn.cli.main import SUBCOMMANDS, build_parser, main


@pytest.fixture
def inputs(tmp_path: Path) -> dict:
    """A real tiny genome and peak file."""
    folder = tmp_path / "data"
    folder.mkdir()
    return write_tiny_inputs(folder)


def merged_with_defaults(user: dict) -> dict:
    """The default config with a --configfile's values merged over it, as snakemake merges."""

    def merge(base: dict, over: dict) -> dict:
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    defaults = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return merge(copy.deepcopy(defaults), user)


def test_init_writes_a_commented_config_that_validates(tmp_path, inputs, capsys):
    out = tmp_path / "config" / "col0.yaml"
    code = main(
        [
            "init",
            "--genome",
            str(inputs["genome"]),
            "--peaks",
            str(inputs["peaks"]),
            "--name",
            "col0",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    assert yaml.safe_load(text) == {
        "datasets": {
            "col0": {
                "genome": {"source": str(inputs["genome"].resolve()), "sha256": None},
                "peaks": {"source": str(inputs["peaks"].resolve()), "sha256": None},
            }
        }
    }
    assert text.count("\n# ") >= 3 and "--configfile" in text  # commented, says how to run
    validate(merged_with_defaults(yaml.safe_load(text)), str(REPO / "config/config.schema.yaml"))
    printed = capsys.readouterr().out
    assert f"--configfile {out}" in printed


def test_init_names_the_dataset_after_the_peaks_and_makes_tasks(tmp_path, inputs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    second = inputs["peaks"].with_name("root.bed.gz")
    second.write_bytes(b"")  # only its existence is checked here
    assert main(["init", "--genome", str(inputs["genome"]), "--peaks", str(inputs["peaks"])]) == 0
    assert list(yaml.safe_load(Path("config/peaks.yaml").read_text())["datasets"]) == ["peaks"]
    args = ["init", "--genome", str(inputs["genome"]), "--name", "leaf_root", "--peaks"]
    assert main([*args, str(inputs["peaks"]), str(second)]) == 0
    config = yaml.safe_load(Path("config/leaf_root.yaml").read_text())
    assert set(config["datasets"]["leaf_root"]["peaks"]) == {"peaks", "root"}
    validate(merged_with_defaults(config), str(REPO / "config/config.schema.yaml"))


def test_init_keeps_urls_as_given(tmp_path, inputs):
    url = "https://example.org/TAIR10.fa.gz"
    out = tmp_path / "url.yaml"
    assert main(["init", "--genome", url, "--peaks", str(inputs["peaks"]), "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["datasets"]["peaks"]["genome"]["source"] == url


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"--genome": "missing.fa"}, "missing.fa: --genome: no such file"),
        ({"--peaks": "missing.bed"}, "missing.bed: --peaks: no such file"),
        ({"--name": "my data"}, "dataset name 'my data' is not valid"),
    ],
)
def test_init_refuses_bad_input_in_one_line(tmp_path, inputs, capsys, change, expected):
    out = tmp_path / "new.yaml"
    options = {"--genome": str(inputs["genome"]), "--peaks": str(inputs["peaks"]), **change}
    args = ["init", "--out", str(out), *[item for pair in options.items() for item in pair]]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and expected in error
    assert not out.exists()


def test_init_never_overwrites(tmp_path, inputs, capsys):
    out = tmp_path / "mine.yaml"
    out.write_text("datasets: {}\n")
    args = ["init", "--genome", str(inputs["genome"]), "--peaks", str(inputs["peaks"])]
    assert main([*args, "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert out.read_text() == "datasets: {}\n"


def test_every_subcommand_follows_the_module_contract():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == SUBCOMMANDS
    for name in SUBCOMMANDS:
        assert callable(subparsers.choices[name].get_default("run"))


def test_console_script_points_at_main():
    import tomllib  # python >= 3.11

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"peakcnn": "peakcnn.cli.main:main"}
    result = subprocess.run(
        [sys.executable, "-m", "peakcnn.cli.main", "init", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 0 and "--genome" in result.stdout


def test_a_run_accepts_the_written_config(tmp_path):
    workdir = make_tiny_project(tmp_path / "project")
    genome, peaks = workdir / "genome.fa.gz", workdir / "peaks.narrowPeak"
    out = workdir / "config" / "mine.yaml"
    assert (
        main(
            [
                "init",
                "--genome",
                str(genome),
                "--peaks",
                str(peaks),
                "--out",
                str(out),
                "--name",
                "mine",
            ]
        )
        == 0
    )
    result = snakemake(workdir, "-n", "--configfile", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/mine/windows/positives.bed" in result.stdout + result.stderr
