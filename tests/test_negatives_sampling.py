"""Negatives follow the positives' GC histogram bin by bin, and every draw is seeded.

The genome has 1 kb blocks of different GC content and the peaks sit in GC-rich blocks, so
the candidate pool's GC distribution (and mean) differs from the positives': a uniform draw
would not reproduce the positives' histogram.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from peakcnn.data.candidates import match_gc
from peakcnn.data.dataset import build_dataset
from peakcnn.data.intervals import read_bed
from peakcnn.data.negatives import NEGATIVE_COLUMNS, sample_negatives
from peakcnn.data.split import SPLITS, split_windows
from peakcnn.data.splitfile import load_split
from peakcnn.data.windows import make_windows

LENGTH = 200
BINS = 10
BLOCK = 1000


def _gc_histogram(gc: np.ndarray) -> np.ndarray:
    return np.histogram(gc, bins=BINS, range=(0, 1))[0]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Genome of GC blocks, peaks in the GC-rich blocks, windows and a block split."""
    root = tmp_path_factory.mktemp("negatives")
    rng = np.random.default_rng(11)
    chroms, peaks = {}, []
    for index in range(3):
        gc = rng.choice([0.3, 0.4, 0.5, 0.65], 60)  # per 1 kb block
        bases = np.where(
            rng.random(gc.size * BLOCK) < gc.repeat(BLOCK),
            rng.choice(list("GC"), gc.size * BLOCK),
            rng.choice(list("AT"), gc.size * BLOCK),
        )
        name = f"chr{index + 1}"
        chroms[name] = "".join(bases)
        rich = np.flatnonzero(gc == 0.65)[1:-1]
        for block in rng.choice(rich, min(12, rich.size), replace=False):
            peaks.append((name, int(block) * BLOCK + 475, int(block) * BLOCK + 525))
    fasta = root / "genome.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in chroms.items()))
    peaks_path = root / "peaks.bed"
    peaks_path.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in sorted(peaks)))
    paths = {n: str(root / n) for n in ("pos.bed", "windows.json", "regions.bed", "assigned.bed")}
    make_windows(
        str(peaks_path), str(fasta), paths["pos.bed"], paths["windows.json"], length=LENGTH
    )
    split_windows(
        str(fasta),
        paths["pos.bed"],
        paths["regions.bed"],
        paths["assigned.bed"],
        str(root / "split.json"),
        method="blocks",
        val_fraction=0.2,
        test_fraction=0.2,
        gap=400,
        window_length=LENGTH,
    )
    return {"root": root, "fasta": str(fasta), "peaks": str(peaks_path), "chroms": chroms, **paths}


def _sample(project, tag, **options):
    """Run sample_negatives into its own files; return (report, negatives table)."""
    out = {n: str(project["root"] / f"{tag}.{n}") for n in ("bed", "json", "png")}
    report = sample_negatives(
        project["pos.bed"],
        project["assigned.bed"],
        project["peaks"],
        project["regions.bed"],
        project["fasta"],
        out["bed"],
        out["json"],
        out["png"],
        gc_bins=BINS,
        window_length=LENGTH,
        **options,
    )
    return report, read_bed(out["bed"], NEGATIVE_COLUMNS), out


def _gc(project, table) -> np.ndarray:
    """GC fraction of each window, read from the genome written by the fixture."""
    return np.array(
        [
            sum(base in "GC" for base in project["chroms"][c][s:e]) / (e - s)
            for c, s, e in zip(table["chrom"], table["start"], table["end"], strict=True)
        ]
    )


def test_match_gc_reproduces_the_target_histogram_bin_by_bin():
    rng = np.random.default_rng(0)
    pool = rng.uniform(0.2, 0.8, 5000)
    target = np.r_[rng.normal(0.33, 0.02, 280), rng.normal(0.62, 0.02, 120)].clip(0, 1)
    assert abs(pool.mean() - target.mean()) > 0.05  # the means alone cannot tell
    for n_wanted in (400, 800):
        chosen, shortfall = match_gc(target, pool, n_wanted, BINS, rng)
        assert shortfall == 0 and len(set(chosen)) == n_wanted
        scale = n_wanted // target.size
        np.testing.assert_array_equal(_gc_histogram(pool[chosen]), scale * _gc_histogram(target))


def test_gc_matched_negatives_follow_the_positives_histogram_per_split(project):
    report, negatives, _ = _sample(project, "gc", strategy="gc_matched")
    _, uniform, _ = _sample(project, "uniform", strategy="random")
    for split in SPLITS:
        stats = report["splits"][split]
        assert stats["sampled"] == stats["requested"] == stats["positives"] > 5
        positives = np.array(stats["gc_histogram_positives"])
        ours = _gc_histogram(_gc(project, negatives[negatives["split"] == split]))
        assert ours.tolist() == stats["gc_histogram_negatives"]
        # bin by bin; one window may fall across a bin edge the sampler saw otherwise
        assert np.abs(ours - positives).sum() <= 2, (split, ours, positives)
        drawn = _gc_histogram(_gc(project, uniform[uniform["split"] == split]))
        assert np.abs(drawn - positives).sum() > stats["positives"] / 2  # the test can fail


def test_negatives_and_datasets_are_identical_for_one_seed_and_differ_across_seeds(project):
    mixture = {"gc_matched": 1, "random": 1, "flanks": 1, "dinuc_shuffled": 1}
    first = _sample(project, "seed0a", strategy=mixture, flank_distance=50, seed=0)
    again = _sample(project, "seed0b", strategy=mixture, flank_distance=50, seed=0)
    other = _sample(project, "seed1", strategy=mixture, flank_distance=50, seed=1)
    text = [open(out["bed"]).read() for _, _, out in (first, again, other)]
    assert text[0] == text[1] and text[0] != text[2]
    assert (
        json.loads(open(first[2]["json"]).read())["splits"]
        == (json.loads(open(again[2]["json"]).read())["splits"])
    )
    summary = json.loads(open(project["root"] / "split.json").read())

    def dataset(tag, negatives_path, seed):
        outputs = {s: str(project["root"] / f"{tag}.{s}.npz") for s in SPLITS}
        build_dataset(
            project["assigned.bed"],
            negatives_path,
            outputs,
            str(project["root"] / f"{tag}.report.json"),
            tasks=["peaks"],
            window_length=LENGTH,
            fasta_path=project["fasta"],
            split_summary=summary,
            seed=seed,
        )
        return {s: load_split(path) for s, path in outputs.items()}

    a = dataset("da", first[2]["bed"], 0)
    b = dataset("db", again[2]["bed"], 0)
    c = dataset("dc", first[2]["bed"], 1)
    for split in SPLITS:
        assert a[split].keys() == b[split].keys()
        for key in a[split]:
            np.testing.assert_array_equal(a[split][key], b[split][key])
    assert any(not np.array_equal(a[s]["x"], c[s]["x"]) for s in SPLITS)  # other shuffles
