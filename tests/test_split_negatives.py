import json
from pathlib import Path

import numpy as np
import pandas as pd
import pybedtools
import pytest

from peakcnn.data.candidates import candidate_windows, match_gc, subtract_intervals
from peakcnn.data.intervals import read_bed
from peakcnn.data.negatives import NEGATIVE_COLUMNS, allocate, sample_negatives
from peakcnn.data.regions import REGION_COLUMNS, block_regions, choose_chromosomes, split_regions
from peakcnn.data.split import SPLITS, assign_splits, leak_check, split_windows
from peakcnn.data.windows import WINDOW_COLUMNS
from peakcnn.errors import InputError


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


@pytest.mark.parametrize("seed", range(4))
def test_subtract_intervals_matches_bedtools(seed):
    rng = np.random.default_rng(seed)
    regions = pd.DataFrame(
        {
            "chrom": rng.choice(["c1", "c2", "c3"], 40),
            "start": rng.integers(0, 5_000, 40),
            "split": rng.choice(["train", "val", "test"], 40),
        }
    )
    regions.insert(2, "end", regions["start"] + rng.integers(1, 3_000, 40))
    starts = rng.integers(0, 8_000, 300)
    exclusion = pd.DataFrame(
        {
            "chrom": rng.choice(["c1", "c2", "c4"], 300),
            "start": starts,
            "end": starts + rng.integers(1, 200, 300),
        }
    )
    # book-ended and nested intervals, and a region with nothing excluded on its chromosome
    exclusion = pd.concat(
        [
            exclusion,
            pd.DataFrame(
                {"chrom": ["c1", "c1", "c1"], "start": [100, 150, 120], "end": [150, 170, 130]}
            ),
        ]
    )
    expected = (
        pybedtools.BedTool.from_dataframe(regions)
        .subtract(pybedtools.BedTool.from_dataframe(exclusion))
        .to_dataframe(names=REGION_COLUMNS, dtype={"chrom": str})
    )
    result = subtract_intervals(regions, exclusion)
    pd.testing.assert_frame_equal(result, expected, check_dtype=False)
    assert (result["chrom"] == "c3").any()
    assert subtract_intervals(regions, exclusion.iloc[:0]).equals(regions)


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


def prepare_split(tmp_path):
    """Synthetic genome, 75 peaks, windows and a block split; returns the paths."""
    fasta = synthetic_genome(tmp_path)
    peaks = tmp_path / "peaks.bed"
    rng = np.random.default_rng(3)
    lines = [
        f"chr{c}\t{s}\t{s + 50}\n"
        for c in (1, 2, 3)
        for s in sorted(rng.choice(np.arange(200, 19_700, 300), 25, replace=False))
    ]
    peaks.write_text("".join(lines))
    from peakcnn.data.windows import make_windows

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
    return fasta, str(peaks), paths


def run_negatives(fasta, peaks, paths, **options):
    return sample_negatives(
        paths["pos.bed"],
        paths["assigned.bed"],
        peaks,
        paths["regions.bed"],
        fasta,
        paths["neg.bed"],
        paths["neg.json"],
        paths["gc.png"],
        gc_bins=10,
        window_length=200,
        **options,
    )


def test_split_then_negatives_end_to_end(tmp_path):
    fasta, peaks, paths = prepare_split(tmp_path)
    report = sample_negatives(
        paths["pos.bed"],
        paths["assigned.bed"],
        peaks,
        paths["regions.bed"],
        fasta,
        paths["neg.bed"],
        paths["neg.json"],
        paths["gc.png"],
        ratio=1.0,
        gc_bins=10,
        window_length=200,
    )
    negatives = read_bed(paths["neg.bed"], NEGATIVE_COLUMNS)
    positives = read_bed(paths["assigned.bed"], WINDOW_COLUMNS + ["split"])
    for split in SPLITS:
        stats = report["splits"][split]
        assert stats["sampled"] + stats["shortfall"] == stats["requested"]
        assert stats["sampled"] == (negatives["split"] == split).sum()
        assert sum(stats["gc_histogram_negatives"]) == stats["sampled"]
    both = pd.concat([positives, negatives])
    assert leak_check(both)["passed"]
    assert json.loads(open(paths["neg.json"]).read())["strategy"] == {"gc_matched": 1.0}
    for _, neg in negatives.iterrows():
        same = positives[positives["chrom"] == neg["chrom"]]
        assert not ((same["start"] < neg["end"]) & (same["end"] > neg["start"])).any()


def test_allocate_splits_counts_by_weight():
    assert allocate(10, {"gc_matched": 0.5, "flanks": 0.3, "dinuc_shuffled": 0.2}) == {
        "gc_matched": 5,
        "flanks": 3,
        "dinuc_shuffled": 2,
    }
    assert sum(allocate(7, {"a": 1, "b": 1, "c": 1}).values()) == 7


def test_mixture_of_flanks_shuffles_and_gc_matched(tmp_path):
    fasta, peaks, paths = prepare_split(tmp_path)
    report = run_negatives(
        fasta,
        peaks,
        paths,
        strategy={"gc_matched": 2, "flanks": 1, "dinuc_shuffled": 1},
        flank_distance=50,
    )
    negatives = read_bed(paths["neg.bed"], NEGATIVE_COLUMNS)
    positives = read_bed(paths["assigned.bed"], WINDOW_COLUMNS + ["split"])
    train = report["splits"]["train"]["by_strategy"]
    assert train["flanks"]["sampled"] == train["flanks"]["requested"] > 0
    assert train["dinuc_shuffled"]["sampled"] == train["dinuc_shuffled"]["requested"] > 0
    shuffles = negatives[negatives["kind"] == "dinuc_shuffle"]
    genome = negatives[negatives["kind"] == "genome"]
    # a shuffle sits on its positive's coordinates, in the same split
    keys = set(zip(positives["chrom"], positives["start"], positives["split"], strict=True))
    assert all(
        k in keys for k in zip(shuffles["chrom"], shuffles["start"], shuffles["split"], strict=True)
    )
    # genome negatives never overlap a positive nor each other
    for _, neg in genome.iterrows():
        same = positives[positives["chrom"] == neg["chrom"]]
        assert not ((same["start"] < neg["end"]) & (same["end"] > neg["start"])).any()
    for _, rows in genome.groupby("chrom"):
        starts = np.sort(rows["start"].to_numpy())
        assert (np.diff(starts) >= 200).all()
    with pytest.raises(InputError, match="negatives.strategy"):
        run_negatives(fasta, peaks, paths, strategy={"gc_matched": 1, "bogus": 1})


def test_dataset_shuffles_are_composition_preserving_and_leaks_fail(tmp_path):
    from peakcnn.data.dataset import build_dataset
    from peakcnn.data.splitfile import load_split

    fasta, peaks, paths = prepare_split(tmp_path)
    run_negatives(fasta, peaks, paths, strategy={"dinuc_shuffled": 1})
    outputs = {split: str(tmp_path / f"{split}.npz") for split in SPLITS}
    summary = json.loads(open(paths["split.json"]).read())
    report = build_dataset(
        paths["assigned.bed"],
        paths["neg.bed"],
        outputs,
        str(tmp_path / "split_report.json"),
        tasks=["peaks"],
        window_length=200,
        fasta_path=fasta,
        split_summary=summary,
    )
    data = load_split(outputs["train"])
    assert report["splits"]["train"]["dinuc_shuffled_negatives"] == (data["y"] == 0).sum() > 0
    positives = {
        (c, s): x
        for c, s, x, y in zip(data["chrom"], data["start"], data["x"], data["y"][:, 0], strict=True)
        if y == 1
    }
    for chrom, start, x, y in zip(
        data["chrom"], data["start"], data["x"], data["y"][:, 0], strict=True
    ):
        if y == 0:
            source = positives[(chrom, start)]
            assert (x.sum(axis=1) == source.sum(axis=1)).all()  # same base composition
            assert not (x == source).all()
    # a negative moved into another split's window makes the leak check fail, writing nothing
    negatives = read_bed(paths["neg.bed"], NEGATIVE_COLUMNS)
    negatives.loc[0, "split"] = "test" if negatives.loc[0, "split"] != "test" else "train"
    leaky = tmp_path / "leaky.bed"
    negatives.to_csv(leaky, sep="\t", header=False, index=False)
    fresh = {split: str(tmp_path / f"leak_{split}.npz") for split in SPLITS}
    with pytest.raises(InputError, match="leak check failed"):
        build_dataset(
            paths["assigned.bed"],
            str(leaky),
            fresh,
            str(tmp_path / "leak.json"),
            tasks=["peaks"],
            window_length=200,
            fasta_path=fasta,
            split_summary=summary,
        )
    assert not any(Path(p).exists() for p in [*fresh.values(), tmp_path / "leak.json"])


def test_blacklist_drops_positives_and_keeps_negatives_out(tmp_path):
    fasta, peaks, paths = prepare_split(tmp_path)
    from peakcnn.data.windows import make_windows

    blacklist = tmp_path / "blacklist.bed"
    blacklist.write_text("chr1\t0\t6000\nchr2\t10000\t20000\n")
    summary = make_windows(
        peaks, fasta, paths["pos.bed"], paths["summary.json"], length=200, blacklist=str(blacklist)
    )
    positives = read_bed(paths["pos.bed"], WINDOW_COLUMNS)
    assert summary["dropped_in_blacklist"] > 0
    assert summary["windows"] + summary["dropped_in_blacklist"] == 75
    split_windows(
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
    run_negatives(fasta, peaks, paths, blacklist=str(blacklist))
    negatives = read_bed(paths["neg.bed"], NEGATIVE_COLUMNS)
    for table in (positives, negatives):
        chr1 = table[table["chrom"] == "chr1"]
        chr2 = table[table["chrom"] == "chr2"]
        assert (chr1["start"] >= 6000).all()
        assert not ((chr2["start"] < 20000) & (chr2["end"] > 10000)).any()


def test_training_windows_carry_shift_margins_and_the_leak_check_covers_them(tmp_path):
    from peakcnn.data.dataset import build_dataset
    from peakcnn.data.splitfile import load_split

    fasta, peaks, paths = prepare_split(tmp_path)
    run_negatives(fasta, peaks, paths)
    summary = json.loads(open(paths["split.json"]).read())

    def build(prefix, max_shift):
        outputs = {split: str(tmp_path / f"{prefix}_{split}.npz") for split in SPLITS}
        report = build_dataset(
            paths["assigned.bed"],
            paths["neg.bed"],
            outputs,
            str(tmp_path / f"{prefix}.json"),
            tasks=["peaks"],
            window_length=200,
            fasta_path=fasta,
            split_summary=summary,
            max_shift=max_shift,
        )
        return report, {split: load_split(path) for split, path in outputs.items()}

    _, plain = build("plain", 0)
    report, shifted = build("shifted", 30)
    assert report["leak_check"]["train_margin"] == 30
    assert shifted["train"]["x"].shape[2] == 260 and int(shifted["train"]["margin"]) == 30
    # the central 200 bp are the unshifted windows; val/test are untouched
    assert (shifted["train"]["x"][:, :, 30:230] == plain["train"]["x"]).all()
    assert (shifted["train"]["start"] == plain["train"]["start"]).all()
    for split in ("val", "test"):
        assert (shifted[split]["x"] == plain[split]["x"]).all()
    # margins reaching into another split's windows fail the leak check
    with pytest.raises(InputError, match="shift margins"):
        build("huge", 5000)


def test_chromosome_folds_hold_out_every_chromosome_once():
    from peakcnn.data.regions import fold_chromosome_groups, fold_regions

    sizes = {"Chr1": 100, "Chr2": 90, "Chr3": 80, "Chr4": 70, "Chr5": 60, "ChrM": 5}
    with_peaks = {k: v for k, v in sizes.items() if k != "ChrM"}
    groups = fold_chromosome_groups(with_peaks, 3)
    assert sorted(c for g in groups for c in g) == sorted(with_peaks)
    totals = [sum(with_peaks[c] for c in g) for g in groups]
    assert sorted(totals) == [100, 150, 150]  # the best possible split of these sizes
    held = {"test": [], "val": []}
    for fold in range(3):
        regions = fold_regions(sizes, with_peaks, "chromosome", 3, fold, 0)
        assert regions.set_index("chrom").loc["ChrM", "split"] == "train"
        for split in held:
            held[split] += regions.loc[regions["split"] == split, "chrom"].tolist()
    assert sorted(held["test"]) == sorted(held["val"]) == sorted(with_peaks)
    with pytest.raises(InputError, match="at least 6 chromosomes"):
        fold_regions(sizes, with_peaks, "chromosome", 6, 0, 0)


def test_block_folds_tile_each_chromosome_with_gaps():
    from peakcnn.data.regions import fold_block_regions

    tested = []
    for fold in range(5):
        regions = fold_block_regions({"c": 1000}, 5, fold, 20)
        ordered = regions.sort_values("start")
        # no overlap, and a gap of 20 bp wherever the split changes
        assert (ordered["start"].to_numpy()[1:] - ordered["end"].to_numpy()[:-1] == 20).all()
        assert list(regions["split"]).count("test") == list(regions["split"]).count("val") == 1
        test = regions[regions["split"] == "test"].iloc[0]
        tested.append((test["start"], test["end"]))
    assert tested[0] == (0, 190) and tested[2] == (410, 590) and tested[4] == (810, 1000)


def test_fold_splits_assign_every_positive_to_test_once(tmp_path):
    fasta, peaks, paths = prepare_split(tmp_path)
    test_names = []
    for fold in range(3):
        out = {k: str(tmp_path / f"f{fold}_{k}") for k in ("regions", "assigned", "summary")}
        summary = split_windows(
            fasta,
            paths["pos.bed"],
            out["regions"],
            out["assigned"],
            out["summary"],
            method="blocks",
            gap=400,
            window_length=200,
            folds=3,
            fold=fold,
        )
        assert summary["folds"] == 3 and summary["fold"] == fold
        assigned = read_bed(out["assigned"], WINDOW_COLUMNS + ["split"])
        test_names += assigned.loc[assigned["split"] == "test", "name"].tolist()
    assert len(test_names) == len(set(test_names))  # no window is tested twice
    assert len(test_names) > 60  # of 75, a few fall in gaps


def test_random_split_draws_pieces_with_gaps_and_stays_leak_free(tmp_path):
    from peakcnn.data.regions import random_block_regions

    regions = random_block_regions({"c": 1_000_000, "d": 500_000}, 0.2, 0.2, 800, 10_000, 0)
    for _, rows in regions.groupby("chrom"):
        rows = rows.sort_values("start")
        gaps = rows["start"].to_numpy()[1:] - rows["end"].to_numpy()[:-1]
        changes = rows["split"].to_numpy()[1:] != rows["split"].to_numpy()[:-1]
        assert (changes).all() and (gaps == 800).all()  # same-split pieces are joined
    share = (regions["end"] - regions["start"]).groupby(regions["split"]).sum() / 1_500_000
    assert 0.1 < share["test"] < 0.3 and 0.1 < share["val"] < 0.3
    again = random_block_regions({"c": 1_000_000, "d": 500_000}, 0.2, 0.2, 800, 10_000, 0)
    assert again.equals(regions)  # seeded
    fasta, peaks, paths = prepare_split(tmp_path)
    summary = split_windows(
        fasta,
        paths["pos.bed"],
        paths["regions.bed"],
        paths["assigned.bed"],
        paths["split.json"],
        method="random",
        gap=400,
        window_length=200,
        random_block=2_000,
        seed=1,
    )
    assert summary["method"] == "random" and min(summary["positives"].values()) > 0
    assigned = read_bed(paths["assigned.bed"], WINDOW_COLUMNS + ["split"])
    assert leak_check(assigned)["passed"]
