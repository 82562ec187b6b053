import numpy as np
import pandas as pd
import pytest

from peakcnn.encode import encode_windows, one_hot
from peakcnn.genome import (
    CODE_N,
    CODE_OTHER,
    CODE_TABLE,
    chromosome_codes,
    chromosome_sizes,
    gc_fraction,
    n_fraction,
    open_fasta,
    window_codes,
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
    x = one_hot(codes_of("ACGTNR").reshape(1, -1))
    assert x.dtype == np.uint8 and x.shape == (1, 4, 6)
    assert x[0, :, :4].tolist() == np.eye(4, dtype=np.uint8).tolist()
    assert x[0].sum(axis=0).tolist() == [1, 1, 1, 1, 0, 0]


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
    expected = one_hot(codes_of(fasta["chrB"][40:100]).reshape(1, -1))
    assert (x[1] == expected[0]).all()
