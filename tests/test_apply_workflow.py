"""The apply rules of the workflow (workflow/rules/apply.smk) on the tiny finished run.

The default config scans the test split and exports the first model, so the tiny run already
has those; predict and variant inputs are added here with a second config file.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyBigWig
import pytest
import yaml
from helpers import snakemake

pytestmark = pytest.mark.workflow


def test_scan_and_export_are_part_of_a_finished_run(tiny_run):
    apply = tiny_run / "results/tiny/apply/basset"
    summary = pd.read_csv(apply / "scan.tsv", sep="\t")
    regions = pd.read_csv(tiny_run / "results/tiny/split/regions.bed", sep="\t", header=None)
    test = regions[regions[3] == "test"]
    config = yaml.safe_load((tiny_run / "config/config.yaml").read_text())
    stride = config["scan"]["stride"]
    assert summary.bases[0] == (test[2] - test[1]).sum()
    assert summary.windows[0] == sum(
        -(-(e - s) // stride) for s, e in zip(test[1], test[2], strict=True)
    )
    metrics = json.loads((tiny_run / "results/tiny/eval/basset/metrics.json").read_text())
    assert summary.threshold[0] == pytest.approx(metrics["test"]["threshold"])
    called = pd.read_csv(apply / "scan/test.called.bed", sep="\t", header=None)
    assert len(called) == summary.called_regions[0]
    chrom, start, end = test.iloc[0, :3]
    with pyBigWig.open(str(apply / "scan/test.tiny.bw")) as track:
        values = np.array(track.values(chrom, int(start), int(end)))
    above = values[::stride] >= summary.threshold[0]
    assert int(((called[2] - called[1]) // stride).sum()) == int(above.sum())
    report = json.loads((apply / "export/basset.export.json").read_text())
    assert report["max_abs_diff_onnx"] <= 1e-4 and report["max_abs_diff_ts"] <= 1e-4
    log = (tiny_run / "logs/scan_genome/tiny/basset.log").read_text()
    assert f"scan: {summary.windows[0]} windows in" in log


def test_predict_and_variant_inputs_from_the_config(tiny_run, tmp_path):
    genome = (tiny_run / "results/tiny/genome/genome.fa").read_text().split(">")[1:]
    chr1 = "".join(genome[0].splitlines()[1:])
    fasta = tmp_path / "seqs.fa"
    fasta.write_text(f">a\n{chr1[1000:1200]}\n>b\n{chr1[5000:5150]}\n")
    bed = tmp_path / "regions.bed"
    bed.write_text("Chr1\t3000\t3200\tr1\nChr1\t7000\t7100\tr2\nChr2\t100\t300\tr3\n")
    variants = tmp_path / "calls.tsv"
    rows = [
        ("Chr1", pos, chr1[pos - 1], "ACGT"[("ACGT".index(chr1[pos - 1]) + 1) % 4])
        for pos in (2000, 2500, 9000)
    ]
    variants.write_text(
        "chrom\tpos\tref\talt\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows)
    )
    extra = tmp_path / "apply.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "predict": {"inputs": {"tiny": [str(fasta), str(bed)]}},
                "variants": {"vcfs": [str(variants)]},
            }
        )
    )
    targets = ["predict/seqs.tsv", "predict/regions.tsv", "variants/calls.tsv"]
    targets = [f"results/tiny/apply/basset/{target}" for target in targets]
    out = tiny_run / "results/tiny/apply/basset"
    config = str(tiny_run / "config/config.yaml")
    result = snakemake(tiny_run, *targets, "--configfile", config, str(extra))
    assert result.returncode == 0, result.stderr[-3000:]
    seqs = pd.read_csv(out / "predict/seqs.tsv", sep="\t")
    assert seqs.name.tolist() == ["a", "b"] and seqs.resized.fillna("").tolist() == ["", "padded"]
    regions = pd.read_csv(out / "predict/regions.tsv", sep="\t")
    assert regions.name.tolist() == ["r1", "r2", "r3"]
    effects = pd.read_csv(out / "variants/calls.tsv", sep="\t")
    assert effects.pos.tolist() == [2000, 2500, 9000]
    assert pd.read_csv(out / "variants/calls.skipped.tsv", sep="\t").empty
    assert (tiny_run / "logs/score_variants/tiny/basset/calls.log").exists()
