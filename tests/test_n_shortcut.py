"""N content must not tell positives from negatives: the shared N/padding cap, measured.

A logistic regression on the N fraction of a window alone is trained on the train split and
scored on the test split. Under no association its test AUROC is 0.5 with the Mann-Whitney
null standard deviation sqrt((n1 + n0 + 1) / (12 n1 n0)); the tests allow four of them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from data_stages import data_stages
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from peakcnn.data.fetch import fetch_file, fetch_genome
from peakcnn.data.genome import window_composition
from peakcnn.data.intervals import read_bed
from peakcnn.data.negatives import NEGATIVE_COLUMNS
from peakcnn.data.windows import WINDOW_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def n_fraction_auroc(fasta: str, out: dict[str, str], length: int) -> tuple[float, float]:
    """Test AUROC of a logistic regression on N fraction alone, and the null SD of AUROC."""
    positives = read_bed(out["assigned"], WINDOW_COLUMNS + ["split"])
    negatives = read_bed(out["neg"], NEGATIVE_COLUMNS)
    table = {}
    for split in ("train", "test"):
        pos = positives[positives["split"] == split]
        neg = negatives[negatives["split"] == split]
        chroms = np.r_[pos["chrom"].to_numpy(), neg["chrom"].to_numpy()]
        starts = np.r_[(pos["start"] - pos["pad_left"]).to_numpy(), neg["start"].to_numpy()]
        n_fraction = window_composition(fasta, chroms, starts, length)[1]
        table[split] = (n_fraction[:, None], np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    model = LogisticRegression().fit(*table["train"])
    x, y = table["test"]
    n1, n0 = int(y.sum()), int((1 - y).sum())
    null_sd = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    return roc_auc_score(y, model.predict_proba(x)[:, 1]), null_sd


def stages(folder: Path, fasta: str, peaks: str, config: dict) -> dict[str, str]:
    """The data stages up to the negatives with the config's sections."""
    return data_stages(
        folder,
        fasta,
        peaks,
        windows=config["windows"],
        split=config["split"],
        negatives=config["negatives"],
        dataset=False,
    )


def demo_config() -> dict:
    """The shipped config (its demo dataset and its defaults)."""
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_n_fraction_alone_is_at_chance_on_the_demo(tmp_path):
    config = demo_config()
    assert config["windows"]["max_n_fraction"] == config["negatives"]["max_n_fraction"]
    demo = REPO / "resources/demo"
    fasta, peaks = str(tmp_path / "genome.fa"), str(tmp_path / "peaks.bed")
    fetch_genome(str(demo / "TAIR10.1_chr1.fna.gz"), fasta)
    fetch_file(str(demo / "GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz"), peaks, kind="bed")
    config["windows"].pop("chrom_alias_file", None)
    out = stages(tmp_path, fasta, peaks, config)
    auroc, null_sd = n_fraction_auroc(fasta, out, config["windows"]["length"])
    assert abs(auroc - 0.5) < 4 * null_sd, (auroc, null_sd)


def gappy_genome(folder: Path, seed: int = 0) -> tuple[str, str]:
    """Four 100 kb records with 300 bp N runs; half the peaks sit at the edge of an N run.

    The shape of a draft assembly (gaps between contigs), where peaks beside gaps give
    windows that are largely N.
    """
    rng = np.random.default_rng(seed)
    records, peaks = [], []
    for index in range(1, 5):
        bases = rng.choice(list("ACGT"), 100_000)
        gap_starts = np.arange(2_000, 98_000, 2_000)
        for start in gap_starts:
            bases[start : start + 300] = "N"
        records.append(f">chr{index}\n{''.join(bases)}\n")
        for start in gap_starts:
            # one peak summit at the N run's edge (window about half N), one in clean sequence
            peaks.append(f"chr{index}\t{start - 50}\t{start + 50}\tedge\t0\t.\t5\t1\t1\t50\n")
            clean = start + 1_200
            peaks.append(f"chr{index}\t{clean - 50}\t{clean + 50}\tclean\t0\t.\t5\t1\t1\t50\n")
    fasta, bed = folder / "gappy.fa", folder / "gappy.narrowPeak"
    fasta.write_text("".join(records))
    bed.write_text("".join(peaks))
    return str(fasta), str(bed)


def gappy_config(max_n_fraction: float | None) -> dict:
    """The shipped defaults on 200 bp windows, optionally with another positive N cap."""
    config = demo_config()
    config["windows"]["length"] = 200
    config["split"].update(method="chromosome", gap=200)
    if max_n_fraction is not None:
        config["windows"]["max_n_fraction"] = max_n_fraction
    return config


@pytest.mark.parametrize(("cap", "shortcut"), [(None, False), (1.0, True)])
def test_a_looser_positive_n_cap_is_a_label_shortcut(tmp_path, cap, shortcut):
    fasta, peaks = gappy_genome(tmp_path)
    config = gappy_config(cap)
    auroc, null_sd = n_fraction_auroc(fasta, stages(tmp_path, fasta, peaks, config), 200)
    assert (abs(auroc - 0.5) > 4 * null_sd) == shortcut, (auroc, null_sd)
