"""Splits and classes that cannot train a model stop the data stages with the cause and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_stages import data_stages, write_genome, write_summits

from peakcnn.errors import InputError

BLOCKS = {"method": "blocks", "val_fraction": 0.2, "test_fraction": 0.2}


def outputs_absent(folder: Path, *names: str) -> bool:
    """Whether none of the named outputs was written."""
    return not any((folder / name).exists() for name in names)


def test_one_peak_file_gets_its_own_message(tmp_path):
    fasta = write_genome(tmp_path / "g.fa", {"chr1": 20_000})
    peaks = write_summits(tmp_path / "one.narrowPeak", [("chr1", 5_000)])
    with pytest.raises(InputError, match=r"only 1 positive window\(s\).*more peaks") as error:
        data_stages(tmp_path, fasta, peaks, windows={"length": 200}, split={**BLOCKS, "gap": 200})
    assert "val_fraction" not in str(error.value) and "gap" not in str(error.value)
    assert outputs_absent(tmp_path, "regions", "assigned", "split.json")


def test_a_gap_larger_than_the_contigs_is_named_as_the_cause(tmp_path):
    fasta = write_genome(tmp_path / "g.fa", {"chr1": 20_000, "chr2": 20_000})
    summits = [(c, s) for c in ("chr1", "chr2") for s in range(500, 19_500, 500)]
    peaks = write_summits(tmp_path / "p.narrowPeak", summits)
    with pytest.raises(InputError, match=r"split\.gap 500000 bp") as error:
        data_stages(
            tmp_path, fasta, peaks, windows={"length": 200}, split={**BLOCKS, "gap": 500_000}
        )
    message = str(error.value)
    assert "no positive window in split(s) ['train', 'val', 'test']" in message
    assert "lower split.gap" in message and "val_fraction" not in message
    assert message.startswith(str(tmp_path / "pos")) and "\n" not in message
    assert outputs_absent(tmp_path, "regions", "assigned", "split.json")


def test_fractions_not_the_gap_when_the_gap_is_not_the_cause(tmp_path):
    fasta = write_genome(tmp_path / "g.fa", {"chr1": 20_000})
    peaks = write_summits(tmp_path / "p.narrowPeak", [("chr1", s) for s in range(500, 9_000, 500)])
    with pytest.raises(InputError, match="adjust split.val_fraction/test_fraction") as error:
        data_stages(tmp_path, fasta, peaks, windows={"length": 200}, split={**BLOCKS, "gap": 400})
    assert "lower split.gap" not in str(error.value)


def test_no_room_for_negatives_stops_build_dataset_naming_the_split(tmp_path):
    # peaks every 200 bp: positive windows cover the genome and leave no room for a negative
    fasta = write_genome(tmp_path / "g.fa", {f"chr{i}": 6_000 for i in (1, 2, 3)})
    summits = [(f"chr{i}", s) for i in (1, 2, 3) for s in range(100, 6_000, 200)]
    peaks = write_summits(tmp_path / "p.narrowPeak", summits)
    with pytest.raises(InputError) as error:
        data_stages(tmp_path, fasta, peaks, windows={"length": 200}, split={"method": "chromosome"})
    message = str(error.value)
    assert message.startswith("split 'train' has ") and "no negative" in message
    assert "negatives shortfall" in message and "dinuc_shuffled" in message
    assert (tmp_path / "neg.json").exists()  # the negatives stage ran: the shortfall is counted
    assert outputs_absent(tmp_path, "train.npz", "val.npz", "test.npz", "dataset.json")


def test_windows_longer_than_the_contigs(tmp_path):
    fasta = write_genome(tmp_path / "g.fa", {f"ctg{i}": 600 for i in range(6)})
    peaks = write_summits(tmp_path / "p.narrowPeak", [(f"ctg{i}", 300) for i in range(6)])
    split = {"method": "chromosome", "val_chroms": ["ctg4"], "test_chroms": ["ctg5"]}
    with pytest.raises(InputError, match="no positive window left of 6: 6 with more than"):
        data_stages(tmp_path, fasta, peaks, windows={"length": 800}, split=split)
    with pytest.raises(InputError) as error:
        windows = {"length": 800, "max_n_fraction": 1.0}
        data_stages(tmp_path, fasta, peaks, windows=windows, split=split)
    message = str(error.value)
    assert message.startswith("split 'train' has 4 positive windows and no negative")
    assert "windows (800 bp) are longer than its regions (longest 600 bp" in message
    assert outputs_absent(tmp_path, "train.npz", "dataset.json")


def test_a_task_without_positives_in_a_split_stops_build_dataset(tmp_path):
    fasta = write_genome(tmp_path / "g.fa", {f"chr{i}": 20_000 for i in (1, 2, 3)})
    everywhere = [(f"chr{i}", s) for i in (1, 2, 3) for s in range(1_000, 19_000, 2_000)]
    only_chr1 = [("chr1", s) for s in range(2_000, 19_000, 2_000)]
    peaks = {
        "a": write_summits(tmp_path / "a.narrowPeak", everywhere),
        "b": write_summits(tmp_path / "b.narrowPeak", only_chr1),
    }
    split = {"method": "chromosome", "val_chroms": ["chr2"], "test_chroms": ["chr3"]}
    with pytest.raises(InputError, match="split 'val' has no positive window for task 'b'"):
        data_stages(tmp_path, fasta, peaks, windows={"length": 200}, split=split)
    assert outputs_absent(tmp_path, "train.npz", "dataset.json")


def test_a_dataset_with_both_classes_everywhere_is_built(tmp_path):
    fasta = write_genome(tmp_path / "g.fa", {f"chr{i}": 20_000 for i in (1, 2, 3)})
    summits = [(f"chr{i}", s) for i in (1, 2, 3) for s in range(1_000, 19_000, 2_000)]
    peaks = write_summits(tmp_path / "p.narrowPeak", summits)
    split = {"method": "chromosome", "val_chroms": ["chr2"], "test_chroms": ["chr3"]}
    data_stages(tmp_path, fasta, peaks, windows={"length": 200}, split=split)
    assert (tmp_path / "dataset.json").exists() and (tmp_path / "test.npz").exists()
