"""Peak memory and time of each data stage on an Arabidopsis-sized synthetic genome.

Writes a 5-chromosome, 120 Mbp genome and 50,000 narrowPeak peaks to a temporary folder, then
runs make_windows, split_windows, sample_negatives and build_dataset, each in its own process,
and prints wall time, windows/s, peak resident memory (goal: < 2 GB per stage) and the 1-minute
load average after the stage.

Usage: python benchmarks/data_memory.py [--mbp 120] [--peaks 50000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def write_genome(folder: Path, mbp: int, n_peaks: int, seed: int = 0) -> tuple[str, str]:
    """Write a random soft-masked genome (5 chromosomes) and narrowPeak peaks on it."""
    rng = np.random.default_rng(seed)
    sizes = np.full(5, mbp * 1_000_000 // 5)
    alphabet = np.frombuffer(b"ACGTacgt", dtype=np.uint8)
    fasta = folder / "genome.fa"
    with open(fasta, "wb") as handle:
        for index, size in enumerate(sizes, start=1):
            handle.write(f">Chr{index}\n".encode())
            bases = alphabet[rng.integers(0, 8, size)]
            lines = np.pad(bases, (0, -size % 80)).reshape(-1, 80)
            for block in np.array_split(lines, 50):
                handle.write(b"\n".join(row.tobytes().rstrip(b"\0") for row in block) + b"\n")
    peaks = folder / "peaks.narrowPeak"
    chrom = rng.integers(0, 5, n_peaks)
    start = rng.integers(1_000, sizes[0] - 1_000, n_peaks)
    rows = [
        f"Chr{c + 1}\t{s}\t{s + 200}\tp{i}\t0\t.\t{rng.random():.3f}\t1\t1\t100"
        for i, (c, s) in enumerate(zip(chrom, start, strict=True))
    ]
    peaks.write_text("\n".join(rows) + "\n")
    return str(fasta), str(peaks)


def reset_peak_memory() -> None:
    """Reset this process's resident-memory high-water mark (Linux ``clear_refs``).

    A child started by fork + exec inherits its parent's ``ru_maxrss``, so the stage's own
    peak is measured from ``VmHWM`` after this reset.
    """
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    """This process's resident-memory high-water mark (``VmHWM``) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_stage(name: str, folder: str, fasta: str, peaks: str, queue) -> None:
    """Run one stage in this (child) process and report time and peak memory."""
    reset_peak_memory()
    from peakcnn.data import dataset, negatives, split, windows

    f = Path(folder)
    start = time.perf_counter()
    if name == "make_windows":
        count = windows.make_windows(peaks, fasta, str(f / "pos.bed"), str(f / "w.json"))["windows"]
    elif name == "split_windows":
        result = split.split_windows(
            fasta,
            str(f / "pos.bed"),
            str(f / "regions.bed"),
            str(f / "assigned.bed"),
            str(f / "split.json"),
        )
        count = sum(result["positives"].values())
    elif name == "sample_negatives":
        result = negatives.sample_negatives(
            str(f / "pos.bed"),
            str(f / "assigned.bed"),
            peaks,
            str(f / "regions.bed"),
            fasta,
            str(f / "neg.bed"),
            str(f / "neg.json"),
            str(f / "gc.png"),
        )
        count = sum(s["sampled"] for s in result["splits"].values())
    else:
        result = dataset.build_dataset(
            str(f / "assigned.bed"),
            str(f / "neg.bed"),
            {s: str(f / f"{s}.npz") for s in ("train", "val", "test")},
            str(f / "ds.json"),
            tasks=["peaks"],
            fasta_path=fasta,
            split_summary=json.loads((f / "split.json").read_text()),
        )
        count = sum(s["windows"] for s in result["splits"].values())
    seconds = time.perf_counter() - start
    queue.put((name, seconds, count, peak_memory_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbp", type=int, default=120)
    parser.add_argument("--peaks", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        fasta, peaks = write_genome(Path(folder), args.mbp, args.peaks)
        print(
            f"synthetic genome {args.mbp} Mbp, {args.peaks} peaks written in "
            f"{time.perf_counter() - start:.1f} s"
        )
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        print(
            f"{'stage':<18}{'seconds':>9}{'windows':>10}{'windows/s':>12}{'peak MB':>10}{'load':>7}"
        )
        for stage in ("make_windows", "split_windows", "sample_negatives", "build_dataset"):
            process = context.Process(target=run_stage, args=(stage, folder, fasta, peaks, queue))
            process.start()
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"{stage} failed")
            name, seconds, count, peak_mb = queue.get()
            print(
                f"{name:<18}{seconds:>9.1f}{count:>10}{count / seconds:>12,.0f}{peak_mb:>10.0f}"
                f"{os.getloadavg()[0]:>7.2f}"
            )


if __name__ == "__main__":
    main()
