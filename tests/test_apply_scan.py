import gzip
import tracemalloc

import numpy as np
import pandas as pd
import pyBigWig
import pytest
from apply_helpers import LENGTH, TASKS, genome_window, reference_logits, write_genome, write_run

from peakcnn.apply.loading import load_model
from peakcnn.apply.scan import scan_genome
from peakcnn.cli.main import main


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path)


def read_graph(path):
    return pd.read_csv(path, sep="\t", header=None, names=["chrom", "start", "end", "value"])


def test_scan_tiles_the_genome_and_calls_runs_above_threshold(run, tmp_path):
    fasta, contigs = write_genome(tmp_path)
    base = ["scan", str(run), "--genome", str(fasta), "--stride", "40"]
    assert main([*base, "-o", str(tmp_path / "a" / "scan"), "--chunk", "7"]) == 0
    first = read_graph(tmp_path / "a" / f"scan.{TASKS[0]}.bedGraph")
    # a threshold in the widest gap between middle values: rounding in the bedGraph cannot cross it
    values = np.sort(first["value"].unique())
    middle = values[len(values) // 3 : 2 * len(values) // 3]
    k = int(np.argmax(np.diff(middle)))
    cut = float((middle[k] + middle[k + 1]) / 2)
    assert main([*base, "-o", str(tmp_path / "b" / "scan"), "--threshold", str(cut)]) == 0
    for task in TASKS:  # chunks of 7 windows and of 4096 give the same tracks
        a = read_graph(tmp_path / "a" / f"scan.{task}.bedGraph")
        b = read_graph(tmp_path / "b" / f"scan.{task}.bedGraph")
        pd.testing.assert_frame_equal(a, b)
    graph = first
    # bins tile every contig without gaps or overlaps
    for chrom, bases in contigs.items():
        rows = graph[graph["chrom"] == chrom]
        assert rows["start"].iloc[0] == 0 and rows["end"].iloc[-1] == len(bases)
        assert (rows["start"].to_numpy()[1:] == rows["end"].to_numpy()[:-1]).all()
    # the score of a bin is the model on the window centred on it (N past the ends)
    picks = graph.iloc[[0, 10, 74, 75, len(graph) - 1]]
    starts = ((picks["start"] + picks["end"]) // 2 - LENGTH // 2).tolist()
    windows = [genome_window(contigs, c, s) for c, s in zip(picks["chrom"], starts, strict=True)]
    expected = 1 / (1 + np.exp(-reference_logits(run, windows)[:, 0]))
    np.testing.assert_allclose(picks["value"], expected, rtol=1e-4)
    # the bigWig holds the same values
    bigwig = pyBigWig.open(str(tmp_path / "b" / f"scan.{TASKS[0]}.bw"))
    assert bigwig.chroms() == {c: len(b) for c, b in contigs.items()}
    intervals = bigwig.intervals("Chr2")
    rows = graph[graph["chrom"] == "Chr2"]
    assert [(s, e) for s, e, _ in intervals] == list(zip(rows["start"], rows["end"], strict=True))
    np.testing.assert_allclose([v for _, _, v in intervals], rows["value"], atol=1e-6)
    bigwig.close()
    # called regions: exactly the maximal runs of adjacent bins at or above the threshold
    called = pd.read_csv(tmp_path / "b" / "scan.called.bed", sep="\t", header=None)
    for t, task in enumerate(TASKS):
        track = read_graph(tmp_path / "b" / f"scan.{task}.bedGraph")
        above = track[track["value"] >= cut]
        mine = called[called[6] == task]
        assert (mine[2] - mine[1]).sum() == (above["end"] - above["start"]).sum()
        for _, region in mine.iterrows():
            inside = track[(track["chrom"] == region[0]) & (track["start"] >= region[1])]
            inside = inside[inside["end"] <= region[2]]
            assert (inside["value"] >= cut).all()
            assert region[7] == pytest.approx(inside["value"].max(), rel=1e-5)
            outside = track[(track["chrom"] == region[0])]
            neighbours = outside[(outside["end"] == region[1]) | (outside["start"] == region[2])]
            assert (neighbours["value"] < cut).all()
        if t == 0:
            assert 0 < len(mine) < len(track) // 2


def test_scan_contigs_and_regions_options(run, tmp_path):
    fasta, contigs = write_genome(tmp_path)
    base = ["scan", str(run), "--genome", str(fasta), "--stride", "25"]
    assert main([*base, "-o", str(tmp_path / "c" / "s"), "--contigs", "chr2"]) == 0
    graph = read_graph(tmp_path / "c" / f"s.{TASKS[1]}.bedGraph")
    assert set(graph["chrom"]) == {"Chr2"} and graph["end"].max() == len(contigs["Chr2"])
    bed = tmp_path / "r.bed"
    bed.write_text("chr1\t100\t300\nChr1\t250\t400\nChr2\t1990\t2500\n")
    assert main([*base, "-o", str(tmp_path / "r" / "s"), "--regions", str(bed)]) == 0
    graph = read_graph(tmp_path / "r" / f"s.{TASKS[0]}.bedGraph")
    assert graph[["chrom", "start"]].values.tolist()[:2] == [["Chr1", 100], ["Chr1", 125]]
    assert graph.groupby("chrom").apply(lambda g: (g["end"] - g["start"]).sum()).to_dict() == {
        "Chr1": 300,
        "Chr2": 10,
    }


def test_scan_refuses_bad_settings_with_no_output(run, tmp_path, capsys):
    fasta, _ = write_genome(tmp_path)
    prefix = tmp_path / "out" / "s"
    base = ["scan", str(run), "--genome", str(fasta), "-o", str(prefix)]
    assert main([*base, "--stride", "0"]) == 2
    assert "--stride 0 must be a positive" in capsys.readouterr().err
    packed = tmp_path / "genome.fa.gz"
    packed.write_bytes(gzip.compress(fasta.read_bytes()))
    assert main([*base[:3], str(packed), *base[4:], "--stride", "50"]) == 2
    assert f"{packed}: the genome is gzip-compressed; decompress it" in capsys.readouterr().err
    (tmp_path / "results" / "demo" / "eval" / "basset" / "metrics.json").unlink()
    assert main([*base, "--stride", "50"]) == 2
    assert "no validation threshold" in capsys.readouterr().err
    assert not prefix.parent.exists() or not any(prefix.parent.iterdir())


def test_scan_memory_does_not_grow_with_the_genome(run, tmp_path):
    model = load_model(str(run), threshold=0.5)
    peaks = []
    for size in (1, 4):
        folder = tmp_path / f"g{size}"
        folder.mkdir()
        rng = np.random.default_rng(size)
        fasta = folder / "genome.fa"
        fasta.write_text(f">c\n{''.join(rng.choice(list('ACGT'), size * 20_000))}\n")
        scan_genome(model, str(fasta), str(folder / "s"), stride=10, chunk=64)  # warm-up
        tracemalloc.start()
        summary = scan_genome(model, str(fasta), str(folder / "s"), stride=10, chunk=64)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary["windows"] == size * 2000
    assert peaks[1] < 1.3 * peaks[0], peaks
