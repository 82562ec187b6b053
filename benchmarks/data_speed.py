"""Side-by-side speed of peakcnn's data path vs tangermeme on the same FASTA + peaks.

1. One-hot of a whole chromosome: peakcnn.data.encode.one_hot_sequence vs
   tangermeme.utils.one_hot_encode (numba), Gbp/s.
2. Window extraction + one-hot of summit-centred windows: peakcnn.data.encode.encode_windows vs
   tangermeme.io.extract_loci, windows/s, one thread each.

Usage: python benchmarks/data_speed.py [FASTA] [PEAKS] [--length 800] [--repeats 10]
(defaults: the demo genome and peaks, decompressed into a temporary folder).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx
import torch

from peakcnn.data.encode import encode_windows, one_hot_sequence
from peakcnn.data.intervals import read_peaks
from peakcnn.data.windows import centre_windows

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources/demo"


def best_times(first, second, repeats: int) -> tuple[float, float]:
    """Fastest wall time of each of two functions over ``repeats`` alternating calls.

    Both are called once to warm up; alternating them spreads changes in machine load over
    both sides instead of biasing whichever ran during a busy spell.
    """
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for function, record in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            function()
            record.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def decompress(source: Path, folder: Path) -> str:
    """Write a plain copy of a (gzipped) file into ``folder``."""
    target = folder / source.name.removesuffix(".gz")
    with gzip.open(source, "rb") as reader, open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer)
    return str(target)


def clean_fasta(fasta: str, folder: Path) -> str:
    """Upper-case copy with every non-ACGT letter as N: tangermeme accepts only ACGT and N."""
    table = bytearray(b"N" * 256)
    for base in b"ACGT":
        table[base] = table[base + 32] = base
    table[ord(">")] = ord(">")
    target = folder / "clean.fa"
    with open(fasta, "rb") as reader, open(target, "wb") as writer:
        for line in reader:
            if line.startswith(b">"):
                writer.write(line)
            else:
                writer.write(line.rstrip(b"\n").translate(bytes(table)) + b"\n")
    return str(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fasta", nargs="?")
    parser.add_argument("peaks", nargs="?")
    parser.add_argument("--length", type=int, default=800)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    from tangermeme.io import extract_loci
    from tangermeme.utils import one_hot_encode

    folder = Path(tempfile.mkdtemp())
    fasta = args.fasta or decompress(DEMO / "TAIR10.1_chr1.fna.gz", folder)
    peaks = args.peaks or decompress(DEMO / "GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz", folder)
    fasta = clean_fasta(fasta, folder)
    records = pyfaidx.Fasta(fasta, as_raw=True)
    name = next(iter(records.keys()))
    sequence = records[name][:]
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} before")

    ours, theirs = best_times(
        lambda: one_hot_sequence(sequence),
        lambda: one_hot_encode(sequence, n_jobs=1),
        args.repeats,
    )
    gbp = len(sequence) / 1e9
    assert (one_hot_sequence(sequence) == one_hot_encode(sequence).numpy()).all()
    print(
        f"one-hot {name} ({len(sequence) / 1e6:.1f} Mbp): peakcnn {gbp / ours:.2f} Gbp/s, "
        f"tangermeme {gbp / theirs:.2f} Gbp/s, ratio {theirs / ours:.2f}x"
    )

    windows = centre_windows(read_peaks(peaks).peaks, args.length)
    table = pd.DataFrame({"chrom": windows["chrom"], "start": windows["wstart"], "pad_left": 0})
    loci = pd.DataFrame(
        {"chrom": windows["chrom"], "start": windows["wstart"], "end": windows["wend"]}
    )
    ours, theirs = best_times(
        lambda: encode_windows(table, fasta, args.length),
        lambda: extract_loci(loci, fasta, in_window=args.length, n_jobs=1),
        args.repeats,
    )
    x, _ = encode_windows(table, fasta, args.length)
    reference = extract_loci(loci, fasta, in_window=args.length, n_jobs=1).numpy()
    agree = np.array_equal(x, reference.astype(np.uint8))
    n = len(table)
    print(
        f"windows + one-hot ({n} x {args.length} bp, FASTA read included): "
        f"peakcnn {n / ours:,.0f} windows/s, tangermeme extract_loci {n / theirs:,.0f} "
        f"windows/s, ratio {theirs / ours:.2f}x, identical arrays: {agree}"
    )
    print(f"load average {os.getloadavg()[0]:.2f} after")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
