import json

import numpy as np
import pandas as pd
import pytest

from peakcnn.errors import InputError
from peakcnn.intervals import read_bed
from peakcnn.negatives import candidate_windows, match_gc, sample_negatives
from peakcnn.split import (
    REGION_COLUMNS,
    SPLITS,
    assign_splits,
    block_regions,
    choose_chromosomes,
    leak_check,
    split_regions,
    split_windows,
)
from peakcnn.windows import WINDOW_COLUMNS


def test_block_regions_are_disjoint_ordered_and_gapped():
    regions = block_regions({"c1": 10_000, "c2": 5_000}, 0.2, 0.1, gap=500)
    for _, rows in regions.groupby("chrom"):
        rows = rows.sort_values("start")
        assert rows["split"].tolist() == ["train", "val", "test"]
        assert (rows["start"].to_numpy()[1:] - rows["end"].to_numpy()[:-1] >= 500).all()
    c1 = regions[regions["chrom"] == "c1"].set_index("split")
    assert c1.loc["test", "end"] == 10_000 and c1.loc["train", "start"] == 0


def test_chromosomes_chosen_by_size_for_any_names():
    sizes = {"Chr1": 300, "Chr2": 200, "Chr3": 230, "Chr4": 180, "Chr5": 270}
    method, regions = split_regions(
        sizes,
        set(sizes),
        method="auto",
        val_chroms=[],
        test_chroms=[],
        val_fraction=0.15,
        test_fraction=0.2,
        gap=0,
    )
    assert method == "chromosome"
    split_of = dict(zip(regions["chrom"], regions["split"], strict=True))
    assert sorted(split_of.values()).count("test") >= 1
    assert sorted(split_of.values()).count("val") >= 1
    assert {c for c, s in split_of.items() if s == "test"}.isdisjoint(
        {c for c, s in split_of.items() if s == "val"}
    )
    assert choose_chromosomes(sizes, 0.2, set()) == ["Chr3"]


def test_named_chromosomes_must_exist():
    with pytest.raises(InputError, match="not in the genome"):
        split_regions(
            {"a": 10, "b": 10, "c": 10},
            {"a", "b", "c"},
            method="chromosome",
            val_chroms=["chr10"],
            test_chroms=["c"],
            val_fraction=0.1,
            test_fraction=0.1,
            gap=0,
        )


def test_assign_by_centre_and_leave_gaps_out():
    regions = pd.DataFrame(
        [("c", 0, 1000, "train"), ("c", 1500, 2000, "val"), ("c", 2500, 3000, "test")],
        columns=REGION_COLUMNS,
    )
    windows = pd.DataFrame(
        {
            "chrom": "c",
            "start": [0, 1100, 1600, 2700],
            "end": [100, 1200, 1700, 2800],
            "pad_left": [50, 0, 0, 0],
            "pad_right": 0,
        }
    )
    assert assign_splits(windows, regions).tolist() == ["train", "", "val", "test"]


def test_leak_check_detects_cross_split_overlap():
    windows = pd.DataFrame(
        {
            "chrom": "c",
            "start": [0, 50, 500],
            "end": [100, 150, 600],
            "split": ["train", "test", "val"],
        }
    )
    result = leak_check(windows)
    assert not result["passed"] and result["train|test"] == 1 and result["train|val"] == 0
    windows.loc[1, "split"] = "train"
    assert leak_check(windows)["passed"]


def test_gap_shorter_than_window_is_rejected(tmp_path, tiny_fasta):
    bed = tmp_path / "p.bed"
    bed.write_text("chrA\t0\t40\tp\t0\t.\t0\t0\n")
    with pytest.raises(InputError, match="gap"):
        split_windows(
            tiny_fasta, str(bed), *(str(tmp_path / n) for n in "rasx"[:3]), gap=10, window_length=40
        )


def test_match_gc_follows_target_histogram_and_reports_shortfall():
    rng = np.random.default_rng(0)
    pool = rng.uniform(0.2, 0.7, 5000)
    target = rng.normal(0.45, 0.03, 400).clip(0, 1)
    chosen, shortfall = match_gc(target, pool, 400, 20, rng)
    assert shortfall == 0 and len(set(chosen)) == 400
    assert abs(pool[chosen].mean() - target.mean()) < 0.01
    chosen, shortfall = match_gc(target, pool[:100], 400, 20, rng)
    assert shortfall == 300 and len(chosen) == 100


def test_candidates_avoid_exclusion_and_each_other():
    regions = pd.DataFrame([("c", 0, 10_000, "train")], columns=REGION_COLUMNS)
    exclusion = pd.DataFrame({"chrom": ["c", "c"], "start": [1000, 5000], "end": [2000, 5100]})
    tiles = candidate_windows(regions, exclusion, 100, np.random.default_rng(1))
    assert ((tiles["end"] - tiles["start"]) == 100).all()
    starts = np.sort(tiles["start"].to_numpy())
    assert (np.diff(starts) >= 100).all()
    for _, row in exclusion.iterrows():
        assert not ((tiles["start"] < row["end"]) & (tiles["end"] > row["start"])).any()
    assert len(tiles) >= 85


def synthetic_genome(tmp_path, n_chroms=3, length=20_000, seed=0):
    rng = np.random.default_rng(seed)
    path = tmp_path / "genome.fa"
    with open(path, "w") as handle:
        for index in range(n_chroms):
            gc = rng.uniform(0.3, 0.6, length // 1000).repeat(1000)
            bases = np.where(
                rng.random(length) < gc,
                rng.choice(list("GC"), length),
                rng.choice(list("AT"), length),
            )
            handle.write(f">chr{index + 1}\n{''.join(bases)}\n")
    return str(path)


def test_split_then_negatives_end_to_end(tmp_path):
    fasta = synthetic_genome(tmp_path)
    peaks = tmp_path / "peaks.bed"
    rng = np.random.default_rng(3)
    lines = [
        f"chr{c}\t{s}\t{s + 50}\n"
        for c in (1, 2, 3)
        for s in sorted(rng.choice(np.arange(200, 19_700, 300), 25, replace=False))
    ]
    peaks.write_text("".join(lines))
    from peakcnn.windows import make_windows

    paths = {
        name: str(tmp_path / name)
        for name in [
            "pos.bed",
            "summary.json",
            "regions.bed",
            "assigned.bed",
            "split.json",
            "neg.bed",
            "neg.json",
            "gc.png",
        ]
    }
    make_windows(str(peaks), fasta, paths["pos.bed"], paths["summary.json"], length=200)
    summary = split_windows(
        fasta,
        paths["pos.bed"],
        paths["regions.bed"],
        paths["assigned.bed"],
        paths["split.json"],
        method="blocks",
        val_fraction=0.2,
        test_fraction=0.2,
        gap=400,
        window_length=200,
    )
    assert summary["method"] == "blocks"
    assert sum(summary["positives"].values()) + summary["positives_in_gaps"] == 75
    report = sample_negatives(
        paths["pos.bed"],
        paths["assigned.bed"],
        str(peaks),
        paths["regions.bed"],
        fasta,
        paths["neg.bed"],
        paths["neg.json"],
        paths["gc.png"],
        ratio=1.0,
        gc_bins=10,
        window_length=200,
    )
    negatives = read_bed(paths["neg.bed"], WINDOW_COLUMNS + ["split"])
    positives = read_bed(paths["assigned.bed"], WINDOW_COLUMNS + ["split"])
    for split in SPLITS:
        stats = report["splits"][split]
        assert stats["sampled"] + stats["shortfall"] == stats["requested"]
        assert stats["sampled"] == (negatives["split"] == split).sum()
        assert sum(stats["gc_histogram_negatives"]) == stats["sampled"]
    both = pd.concat([positives, negatives])
    assert leak_check(both)["passed"]
    assert json.loads(open(paths["neg.json"]).read())["strategy"] == "gc_matched"
    for _, neg in negatives.iterrows():
        same = positives[positives["chrom"] == neg["chrom"]]
        assert not ((same["start"] < neg["end"]) & (same["end"] > neg["start"])).any()
