import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peakcnn.data.encode import encode_bytes, encode_windows, one_hot_sequence
from peakcnn.data.genome import (
    CODE_N,
    CODE_OTHER,
    CODE_TABLE,
    chromosome_codes,
    chromosome_sizes,
    gc_fraction,
    n_fraction,
    open_fasta,
    window_codes,
    window_composition,
)


def codes_of(text: str) -> np.ndarray:
    return CODE_TABLE[np.frombuffer(text.encode(), dtype=np.uint8)]


def test_code_table_soft_mask_and_iupac():
    assert codes_of("ACGTacgt").tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert codes_of("Nn").tolist() == [CODE_N, CODE_N]
    assert set(codes_of("RYKMSWBDHVrykm").tolist()) == {CODE_OTHER}


def test_chromosome_sizes_and_codes(tiny_fasta):
    assert chromosome_sizes(tiny_fasta) == {"chrA": 300, "chrB": 200, "chrC": 120}
    fasta = open_fasta(tiny_fasta)
    codes = chromosome_codes(fasta, "chrA")
    raw = fasta["chrA"][:]
    assert codes.size == 300
    # the lowercase run encodes like uppercase
    assert (codes[100:150] == codes_of(raw[100:150].upper())).all()
    assert (codes[150:170] == CODE_N).all()


def test_window_codes_pads_with_n_at_both_ends():
    codes = codes_of("ACGTACGTAC")
    windows = window_codes(codes, np.array([-3, 0, 7]), 6)
    assert windows.shape == (3, 6)
    assert windows[0].tolist() == [CODE_N] * 3 + [0, 1, 2]
    assert windows[1].tolist() == [0, 1, 2, 3, 0, 1]
    assert windows[2].tolist() == [3, 0, 1] + [CODE_N] * 3


def test_gc_and_n_fraction_ignore_non_acgt():
    windows = codes_of("GGCCNNAT").reshape(1, -1)
    assert gc_fraction(windows)[0] == pytest.approx(4 / 6)
    assert n_fraction(windows)[0] == pytest.approx(2 / 8)
    assert np.isnan(gc_fraction(codes_of("NNNN").reshape(1, -1))[0])


def test_one_hot_is_acgt_order_with_zero_columns_for_n():
    x = one_hot_sequence("ACGTNRacgt")
    assert x.dtype == np.uint8 and x.shape == (4, 10)
    assert x[:, :4].tolist() == np.eye(4, dtype=np.uint8).tolist()
    assert (x[:, 6:] == x[:, :4]).all()  # soft-masked bases encode like upper case
    assert x.sum(axis=0).tolist() == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1]


def test_window_kernel_matches_a_plain_numpy_reference():
    rng = np.random.default_rng(0)
    raw = rng.choice(np.frombuffer(b"ACGTacgtNNRY", dtype=np.uint8), 5000)
    starts = rng.integers(-300, 5000, 200)
    x, counts = encode_bytes(raw, starts, 400)
    codes = window_codes(CODE_TABLE[raw], starts, 400)
    reference = (codes[:, None, :] == np.arange(4)[None, :, None]).astype(np.uint8)
    assert (x == reference).all()
    padded = ((starts[:, None] + np.arange(400)) < 0) | ((starts[:, None] + np.arange(400)) >= 5000)
    assert (counts[:, 2] == padded.sum(axis=1)).all()
    assert (counts[:, 0] == ((codes == CODE_N) & ~padded).sum(axis=1)).all()
    assert (counts[:, 1] == (codes == CODE_OTHER).sum(axis=1)).all()


def random_fasta(path: Path, rng: np.random.Generator, line_end: bytes = b"\n") -> dict:
    """Write records of random bases (soft-masked, N, IUPAC, other bytes), varied line widths."""
    alphabet = np.frombuffer(b"ACGTacgtNnRYKMSWrykmswBDHV-*.", dtype=np.uint8)
    records = {}
    with open(path, "wb") as handle:
        shapes = [(1_000, 60, 1.0), (777, 80, 1.0), (5, 7, 1.0), (2_500, 61, 1.0), (900, 50, 0)]
        for index, (size, width, rare) in enumerate(shapes):
            weights = np.r_[np.full(8, 8.0), np.full(alphabet.size - 8, rare)]
            sequence = rng.choice(alphabet, size, p=weights / weights.sum()).tobytes()
            records[f"r{index}"] = sequence
            handle.write(f">r{index} description\n".encode())
            for start in range(0, size, width):
                handle.write(sequence[start : start + width] + line_end)
    return records


def random_windows(records: dict, rng: np.random.Generator, n: int, length: int) -> pd.DataFrame:
    chroms = rng.choice(sorted(records), n)
    sizes = np.array([len(records[c]) for c in chroms])
    starts = rng.integers(-length - 5, sizes + 5)
    return pd.DataFrame({"chrom": chroms, "start": starts})


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_window_composition_matches_a_naive_reference(tmp_path, line_end):
    rng = np.random.default_rng(1)
    path = tmp_path / "random.fa"
    records = random_fasta(path, rng, line_end)
    length = 150
    windows = random_windows(records, rng, 400, length)
    gc, non_acgt = window_composition(str(path), windows["chrom"], windows["start"], length)
    codes = np.concatenate(
        [
            window_codes(CODE_TABLE[np.frombuffer(records[c], dtype=np.uint8)], [s], length)
            for c, s in zip(windows["chrom"], windows["start"], strict=True)
        ]
    )
    expected_gc = np.array(
        [
            np.nan if (row < 4).sum() == 0 else ((row == 1) | (row == 2)).sum() / (row < 4).sum()
            for row in codes
        ]
    )
    np.testing.assert_array_equal(gc, expected_gc)
    np.testing.assert_array_equal(gc, gc_fraction(codes))
    np.testing.assert_array_equal(non_acgt, (codes >= CODE_N).sum(axis=1) / length)
    np.testing.assert_array_equal(non_acgt, n_fraction(codes))
    assert np.isnan(gc).any() and (non_acgt == 1).any() and (non_acgt == 0).any()
    empty = window_composition(str(path), [], np.zeros(0, dtype=np.int64), length)
    assert empty[0].shape == empty[1].shape == (0,)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_encode_windows_matches_a_naive_reference(tmp_path, line_end):
    rng = np.random.default_rng(2)
    path = tmp_path / "random.fa"
    records = random_fasta(path, rng, line_end)
    length = 130
    windows = random_windows(records, rng, 300, length).assign(pad_left=0)
    shift = rng.integers(0, 3, len(windows))  # start - pad_left is the unclipped start
    windows = windows.assign(start=windows["start"] + shift, pad_left=shift)
    x, totals = encode_windows(windows, str(path), length)
    reference = np.zeros((len(windows), 4, length), dtype=np.uint8)
    n_bases = other = padded = with_n = 0
    for row, (chrom, start) in enumerate(
        zip(windows["chrom"], windows["start"] - windows["pad_left"], strict=True)
    ):
        sequence = records[chrom]
        outside = 0
        for j in range(length):
            position = start + j
            if not 0 <= position < len(sequence):
                outside += 1
                continue
            base = chr(sequence[position]).upper()
            if base in "ACGT":
                reference[row, "ACGT".index(base), j] = 1
            elif base == "N":
                n_bases += 1
            else:
                other += 1
        padded += outside
        with_n += int(reference[row].sum() < length)
    assert x.dtype == np.uint8 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, reference)
    assert totals == {
        "windows_with_n": with_n,
        "n_bases": n_bases,
        "other_iupac_bases": other,
        "padded_bases": padded,
    }


def test_one_hot_sequence_matches_the_code_table_for_every_byte():
    every_byte = np.arange(256, dtype=np.uint8).repeat(3)
    x = one_hot_sequence(every_byte)
    codes = CODE_TABLE[every_byte]
    np.testing.assert_array_equal(x, (np.arange(4)[:, None] == codes[None, :]).astype(np.uint8))
    assert one_hot_sequence("").shape == (4, 0)


def test_encode_windows_counts_padding_n_and_iupac(tiny_fasta):
    windows = pd.DataFrame(
        {"chrom": ["chrA", "chrB", "chrB"], "start": [0, 40, 150], "pad_left": [5, 0, 0]}
    )
    x, counts = encode_windows(windows, tiny_fasta, 60)
    assert x.shape == (3, 4, 60)
    column_sums = x.sum(axis=1)
    assert set(np.unique(column_sums)) <= {0, 1}
    assert column_sums[0, :5].sum() == 0  # left padding
    assert column_sums[0, 5:].all()
    assert column_sums[1, 20:24].sum() == 0  # RYKM at chrB:60-64
    assert counts["padded_bases"] == 5 + 10  # chrB window 150-210 runs 10 bp past the end
    assert counts["other_iupac_bases"] == 4
    assert counts["windows_with_n"] == 3
    fasta = open_fasta(tiny_fasta)
    assert (x[1] == one_hot_sequence(fasta["chrB"][40:100])).all()


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder holding a FASTA that this process cannot write to (read-only mount as root)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "ref.fa").write_text(">c1\nACGTACGT\n>c2\nGGGG\n")
    if os.geteuid() != 0:
        source.chmod(0o555)
        yield source
        source.chmod(0o755)
        return
    mount = tmp_path / "mounted"
    mount.mkdir()
    bind = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_fasta_in_a_read_only_folder_gets_its_index_elsewhere(
    read_only_folder, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert not os.access(read_only_folder, os.W_OK)
    fasta = read_only_folder / "ref.fa"
    assert chromosome_sizes(str(fasta)) == {"c1": 8, "c2": 4}
    assert not (read_only_folder / "ref.fa.fai").exists()
    assert len(list((tmp_path / "cache/peakcnn").glob("ref.fa.*.fai"))) == 1
    fasta_handle = open_fasta(str(fasta))
    assert fasta_handle["c2"][:] == "GGGG"
    fasta_handle.close()


def test_duplicate_record_names_fail_cleanly(tmp_path):
    from peakcnn.data.fetch import fetch_genome
    from peakcnn.errors import InputError

    source = tmp_path / "dup.fa"
    source.write_text(">a\nACGT\n>a\nACGT\n")
    dest = tmp_path / "out" / "genome.fa"
    with pytest.raises(InputError, match="record names must be unique"):
        fetch_genome(str(source), str(dest))
    assert not dest.exists() and not Path(f"{dest}.fai").exists()
