"""``peakcnn predict/scan/variants/export`` on real data: the demo genome, peaks and VCF.

The model is a small random-weight one (``apply_helpers.write_run``, 100 bp windows): these
tests check what the commands do with real inputs (soft-masked bases, N runs, real REF alleles,
a multi-allelic record, indels), not what a trained model predicts.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest
from apply_helpers import LENGTH, reference_logits, write_run

from peakcnn.cli.main import main

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
VCF = DEMO / "bzip11_bzip10.test_block.vcf"
PEAKS = DEMO / "GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz"
CHROM = "NC_003070.9"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo genome (uncompressed), its sequence, and a random-weight run beside it."""
    folder = tmp_path_factory.mktemp("demo")
    genome = folder / "genome.fa"
    with gzip.open(DEMO / "TAIR10.1_chr1.fna.gz", "rb") as source, open(genome, "wb") as target:
        shutil.copyfileobj(source, target)
    lines = genome.read_text().splitlines()
    sequence = "".join(lines[1:])
    model = write_run(folder)
    return {"folder": folder, "genome": genome, "sequence": sequence, "model": model}


def vcf_records() -> pd.DataFrame:
    """The shipped VCF's records (its 8 columns)."""
    columns = ["chrom", "pos", "id", "ref", "alt", "qual", "filter", "info"]
    return pd.read_csv(VCF, sep="\t", comment="#", header=None, names=columns)


def test_shipped_vcf_scores_every_allele_with_the_genomes_ref(demo, tmp_path):
    records = vcf_records()
    for row in records.itertuples():  # REF is the genome's base (derivation check)
        assert demo["sequence"][row.pos - 1 : row.pos - 1 + len(row.ref)].upper() == row.ref
    out = tmp_path / "effects.tsv"
    code = main(
        ["variants", str(demo["model"]), "--variants", str(VCF), "--genome", str(demo["genome"])]
        + ["-o", str(out)]
    )
    assert code == 0
    scores = pd.read_csv(out, sep="\t")
    alleles = sum(len(alt.split(",")) for alt in records.alt)
    assert alleles == len(records) + 1  # one record with two ALT alleles
    assert len(scores) == alleles * 2  # two tasks
    assert pd.read_csv(tmp_path / "effects.skipped.tsv", sep="\t").empty
    split = scores[scores.note.fillna("").str.startswith("multi-allelic")]
    assert sorted(split.alt.unique()) == sorted(
        records.alt[records.id == "multiallelic_1"].iloc[0].split(",")
    )
    # An SNV's effect is the model on the window centred on it, alleles swapped in.
    snv = records[records.id == "core_1"].iloc[0]
    left = (LENGTH - 1) // 2  # the allele's offset in its window
    ref_window = demo["sequence"][snv.pos - 1 - left : snv.pos - 1 - left + LENGTH]
    alt_window = ref_window[:left] + snv.alt + ref_window[left + 1 :]
    rc = str.maketrans("ACGTacgt", "TGCAtgca")
    windows = [
        ref_window,
        alt_window,
        ref_window.translate(rc)[::-1],
        alt_window.translate(rc)[::-1],
    ]
    logits = reference_logits(demo["model"], windows)
    expected = (logits[1] + logits[3]) / 2 - (logits[0] + logits[2]) / 2
    got = scores[scores.id == "core_1"].logit_difference.to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_swapping_ref_and_alt_on_the_real_genome_flips_every_effect(demo, tmp_path):
    snvs = vcf_records()
    snvs = snvs[(snvs.ref.str.len() == 1) & (snvs.alt.str.len() == 1)]
    bases = list(demo["sequence"])
    for row in snvs.itertuples():
        bases[row.pos - 1] = row.alt
    alt_genome = tmp_path / "alt.fa"
    alt_genome.write_text(f">{CHROM}\n" + "".join(bases) + "\n")
    swapped = snvs.rename(columns={"ref": "alt", "alt": "ref"})[
        ["chrom", "pos", "ref", "alt", "id"]
    ]
    swapped_path = tmp_path / "swapped.tsv"
    swapped.to_csv(swapped_path, sep="\t", index=False)
    forward_path = tmp_path / "forward.tsv"
    snvs[["chrom", "pos", "ref", "alt", "id"]].to_csv(forward_path, sep="\t", index=False)
    for table, genome, out in (
        (forward_path, demo["genome"], "forward"),
        (swapped_path, alt_genome, "swapped"),
    ):
        args = ["variants", str(demo["model"]), "--variants", str(table), "--genome", str(genome)]
        assert main([*args, "-o", str(tmp_path / f"{out}.scores.tsv")]) == 0
    forward = pd.read_csv(tmp_path / "forward.scores.tsv", sep="\t")
    back = pd.read_csv(tmp_path / "swapped.scores.tsv", sep="\t")
    assert len(forward) == len(back) == 2 * len(snvs)
    assert (forward.logit_difference.abs() > 0).mean() > 0.9  # the effects are not all zero
    np.testing.assert_array_equal(
        back.logit_difference.to_numpy(), -forward.logit_difference.to_numpy()
    )
    np.testing.assert_array_equal(
        back.ref_probability.to_numpy(), forward.alt_probability.to_numpy()
    )


def test_scan_of_real_test_block_agrees_with_predict_on_the_same_windows(demo, tmp_path):
    start, end, stride = 26_000_000, 26_020_000, 50
    bins = tmp_path / "bins.bed"
    starts = np.arange(start, end, stride)
    pd.DataFrame({"c": CHROM, "s": starts, "e": starts + stride}).to_csv(
        bins, sep="\t", header=False, index=False
    )
    predicted = tmp_path / "bins.tsv"
    args = ["predict", str(demo["model"]), "--bed", str(bins), "--genome", str(demo["genome"])]
    assert main([*args, "-o", str(predicted)]) == 0
    table = pd.read_csv(predicted, sep="\t")
    threshold = float(table.probability_leaf.median())  # calls about half the bins
    region = tmp_path / "region.bed"
    region.write_text(f"{CHROM}\t{start}\t{end}\n")
    prefix = tmp_path / "scan" / "block"
    prefix.parent.mkdir()
    args = ["scan", str(demo["model"]), "--genome", str(demo["genome"]), "--regions", str(region)]
    args += ["--stride", str(stride), "--threshold", str(threshold)]
    assert main([*args, "-o", str(prefix)]) == 0
    called = pd.read_csv(f"{prefix}.called.bed", sep="\t", header=None)
    with pyBigWig.open(f"{prefix}.leaf.bw") as track:
        values = np.array(track.values(CHROM, start, end))
    # Each bin holds its window's probability (the TSV has 6 significant digits).
    assert (values.reshape(-1, stride) == values[::stride, None]).all()
    np.testing.assert_allclose(values[::stride], table.probability_leaf, rtol=0, atol=1e-6)
    above = values[::stride] >= threshold
    leaf = called[called[6] == "leaf"]
    assert 0 < above.sum() < len(above)
    assert int(((leaf[2] - leaf[1]) // stride).sum()) == int(above.sum())
    runs = np.flatnonzero(np.diff(np.r_[0, above.astype(int)]) == 1)  # starts of runs above
    assert leaf[1].tolist() == (start + stride * runs).tolist()


def test_export_then_predict_real_peaks_with_onnx_matches_the_checkpoint(demo, tmp_path):
    peaks = pd.read_csv(PEAKS, sep="\t", header=None).iloc[-200:]  # the test block's end
    fasta = tmp_path / "peaks.fa"
    with open(fasta, "w") as handle:
        for row in peaks.itertuples():
            handle.write(f">{row[4]}\n{demo['sequence'][row[2] : row[3]]}\n")
    prefix = tmp_path / "exported" / "basset"
    assert main(["export", str(demo["model"]), "-o", str(prefix)]) == 0
    scores = {}
    for name, model in (("pt", demo["model"]), ("onnx", f"{prefix}.onnx")):
        out = tmp_path / f"{name}.tsv"
        assert main(["predict", str(model), "--fasta", str(fasta), "-o", str(out)]) == 0
        scores[name] = pd.read_csv(out, sep="\t")
    assert len(scores["pt"]) == len(peaks)
    assert (scores["pt"].resized == "cropped").all()  # 201 bp peaks, 100 bp windows
    np.testing.assert_allclose(scores["onnx"].logit_leaf, scores["pt"].logit_leaf, atol=1e-4)
