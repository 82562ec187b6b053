import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from apply_helpers import (
    LENGTH,
    REPO_SRC,
    TASKS,
    genome_window,
    one_hot,
    reference_logits,
    write_genome,
    write_run,
)

from peakcnn.apply.loading import load_model
from peakcnn.apply.sequences import parse_region
from peakcnn.cli.main import SUBCOMMANDS, main
from peakcnn.errors import InputError


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path)


@pytest.fixture
def genome(tmp_path):
    return write_genome(tmp_path)


def test_loading_a_run_finds_tasks_thresholds_and_rebuilds_the_model(run, tmp_path):
    for path in (run, run.parent):
        model = load_model(str(path))
        assert model.kind == "checkpoint"
        assert model.tasks == TASKS
        assert model.length == LENGTH
        assert model.metadata.thresholds == pytest.approx([0.3, 0.4])
    x = np.stack([one_hot("ACGT" * 25), one_hot("GGCA" * 25)])
    expected = reference_logits(run, ["ACGT" * 25, "GGCA" * 25])
    np.testing.assert_allclose(model.logits(x), expected, atol=1e-6)
    assert load_model(str(run), threshold=0.7).metadata.thresholds == [0.7, 0.7]


def test_predict_fasta_centres_pads_and_crops(run, tmp_path):
    rng = np.random.default_rng(1)
    seqs = {
        "exact": "".join(rng.choice(list("ACGT"), LENGTH)),
        "short": "".join(rng.choice(list("ACGTN"), 61)),
        "long": "".join(rng.choice(list("acgtRY"), 151)),
    }
    fasta = tmp_path / "seqs.fa"
    fasta.write_text("".join(f">{k} desc\n{v[:70]}\n{v[70:]}\n" for k, v in seqs.items()))
    out = tmp_path / "out" / "scores.tsv"
    assert main(["predict", str(run), "--fasta", str(fasta), "-o", str(out)]) == 0
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert table["name"].tolist() == list(seqs)
    assert table["resized"].tolist() == ["", "padded", "cropped"]
    short, long = seqs["short"], seqs["long"]
    # each window starts at (size - length) // 2 in its record: N before, cropped evenly
    windows = [seqs["exact"], "N" * 20 + short + "N" * 19, long[25:125]]
    expected = reference_logits(run, windows)
    for t, task in enumerate(TASKS):
        np.testing.assert_allclose(table[f"logit_{task}"], expected[:, t], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            table[f"probability_{task}"], 1 / (1 + np.exp(-expected[:, t])), rtol=1e-5
        )
    assert table["padded_bases"].tolist() == [0, 39, 0]
    # gzipped FASTA, and --both-strands: the mean of each window's and its reverse complement's
    gz = tmp_path / "seqs.fa.gz"
    gz.write_bytes(gzip.compress(fasta.read_bytes()))
    both = tmp_path / "both.tsv"
    assert main(["predict", str(run), "--fasta", str(gz), "-o", str(both), "--both-strands"]) == 0
    averaged = pd.read_csv(both, sep="\t", keep_default_na=False)
    reverse = [w[::-1].translate(str.maketrans("ACGTacgt", "TGCAtgca")) for w in windows]
    expected_both = (expected + reference_logits(run, reverse)) / 2
    np.testing.assert_allclose(averaged[f"logit_{TASKS[0]}"], expected_both[:, 0], atol=1e-5)
    assert not np.allclose(expected_both[:, 0], expected[:, 0], atol=1e-5)


def test_predict_bed_and_region_strings_agree_with_the_genome(run, genome, tmp_path):
    fasta, contigs = genome
    bed = tmp_path / "regions.bed"
    bed.write_text(
        "track name=x\nchr1\t500\t600\tmid\nchr1\t10\t30\tedge\nChr2\t1900\t2000\tend\n"
        "chr2\t380\t520\t.\n"
    )
    tsv, out_bed = tmp_path / "r.tsv", tmp_path / "r.bed"
    args = ["predict", str(run), "--bed", str(bed), "--genome", str(fasta), "-o", str(tsv)]
    assert main([*args, "--output-bed", str(out_bed)]) == 0
    table = pd.read_csv(tsv, sep="\t", keep_default_na=False)
    assert table["chrom"].tolist() == ["Chr1", "Chr1", "Chr2", "Chr2"]
    assert table["name"].tolist() == ["mid", "edge", "end", "chr2:380-520"]
    starts = [500, 20 - 50, 1950 - 50, 450 - 50]
    assert table["window_start"].tolist() == starts
    assert table["resized"].tolist() == ["", "extended", "", "cropped"]
    assert table["padded_bases"].tolist() == [0, 30, 0, 0]
    windows = [genome_window(contigs, c, s) for c, s in zip(table["chrom"], starts, strict=True)]
    expected = reference_logits(run, windows)
    for t, task in enumerate(TASKS):
        np.testing.assert_allclose(table[f"logit_{task}"], expected[:, t], rtol=1e-5, atol=1e-5)
    scored = pd.read_csv(out_bed, sep="\t", header=None)
    probabilities = 1 / (1 + np.exp(-expected))
    assert scored[4].tolist() == np.rint(1000 * probabilities.max(axis=1)).astype(int).tolist()
    np.testing.assert_allclose(scored[[6, 7]].to_numpy(), probabilities, rtol=1e-5)
    # the same region as a string (1-based, inclusive) gives the same score
    single = tmp_path / "one.tsv"
    region = ["--region", "Chr1:501-600", "--genome", str(fasta), "-o", str(single)]
    assert main(["predict", str(run), *region]) == 0
    one = pd.read_csv(single, sep="\t")
    assert one.loc[0, f"logit_{TASKS[0]}"] == pytest.approx(expected[0, 0], abs=1e-5)


def test_rc_average_model_scores_both_strands_alike(tmp_path):
    run = write_run(tmp_path, rc_average=True)
    model = load_model(str(run))
    assert model.metadata.rc_average
    seq = "".join(np.random.default_rng(3).choice(list("ACGT"), LENGTH))
    reverse = seq[::-1].translate(str.maketrans("ACGT", "TGCA"))
    logits = model.logits(np.stack([one_hot(seq), one_hot(reverse)]))
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-5)
    plain = write_run(tmp_path / "plain")
    assert not np.allclose(
        *load_model(str(plain)).logits(np.stack([one_hot(seq), one_hot(reverse)]))
    )


def test_bad_inputs_fail_with_one_line_and_no_output(run, genome, tmp_path, capsys):
    fasta, _ = genome
    empty = tmp_path / "empty.fa"
    empty.write_text(">a\nACGT\n>b\n\n>c\nAC\n")
    out = tmp_path / "x.tsv"
    assert main(["predict", str(run), "--fasta", str(empty), "-o", str(out)]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{empty}:3:" in message and "'b' has no bases" in message
    assert not out.exists()
    not_model = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(3)}, not_model)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    for path in (not_model, text):
        assert main(["predict", str(path), "--fasta", str(empty), "-o", str(out)]) == 2
        assert "not a peakcnn model" in capsys.readouterr().err
    bed = tmp_path / "bad.bed"
    bed.write_text("Chr1\t0\t100\nscaffold_9\t0\t100\n")
    args = ["predict", str(run), "--bed", str(bed), "--genome", str(fasta), "-o", str(out)]
    assert main(args) == 2
    message = capsys.readouterr().err
    assert f"{bed}:2:" in message and "scaffold_9" in message
    assert not out.exists()
    with pytest.raises(InputError, match="chrom:start-end"):
        parse_region("Chr1:100")


def test_every_subcommand_has_help():
    for name in SUBCOMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "peakcnn.cli.main", name, "--help"],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO_SRC), "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        assert f"usage: peakcnn {name}" in result.stdout
