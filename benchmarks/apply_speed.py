"""Inference speed of ``predict`` and ``scan`` on CPU against the model's own forward-pass ceiling.

In one process and with the same torch threads: the ceiling is the network's forward pass on
synthetic random one-hot batches of the size ``LoadedModel.logits`` uses (256 windows, float32,
no encoding, no I/O); ``predict`` scores BED regions of the genome and ``scan`` tiles a region
at ``--stride``, both through the library functions the commands call (encoding, strands,
writing included). After one untimed warm-up of each, ``--rounds`` rounds each measure the
ceiling, predict, scan and the ceiling again (averaged), so that a change of machine load shows
as spread between rounds; medians are reported and the load average printed beside them.

``--genome-scan`` instead measures a whole-genome scan in a subprocess (``peakcnn scan``
through ``/usr/bin/time -v``: wall time and peak resident memory) on a synthetic random genome
of ``--genome-mbp`` Mbp in 5 contigs.

Usage::

    python3 benchmarks/apply_speed.py MODEL.pt GENOME.fa --windows 8192 --threads 1
    python3 benchmarks/apply_speed.py MODEL.pt --genome-scan --genome-mbp 120 --stride 4000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from peakcnn.apply.loading import load_model
from peakcnn.apply.predict import predict_regions, region_table
from peakcnn.apply.scan import scan_genome
from peakcnn.devices import set_threads

BATCH = 256  # LoadedModel.logits' batch size


def ceiling(model, windows: int, repeats: int = 2) -> float:
    """Windows/s of the bare forward pass on random one-hot float32 batches of ``BATCH``."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (BATCH, model.length))
    x = torch.from_numpy(np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1).copy())
    network = model.network.eval()
    best = 0.0
    with torch.inference_mode():
        network(x)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(windows // BATCH):
                network(x)
            best = max(best, (windows // BATCH) * BATCH / (time.perf_counter() - start))
    return best


def timed(function) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def loadavg() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def speed(args: argparse.Namespace) -> dict:
    """Ceiling, predict and scan windows/s in this process, ``--rounds`` times interleaved."""
    set_threads(args.threads)
    model = load_model(args.model, metrics=args.metrics)
    bins = np.arange(args.start, args.start + args.windows * args.stride, args.stride)
    regions = pd.DataFrame(
        {"chrom": args.chrom, "start": bins, "end": bins + args.stride, "name": "r"}
    )
    regions = region_table(regions, args.genome, "benchmark regions")
    region = regions.iloc[[0]].assign(end=int(bins[-1]) + args.stride)
    result = {"threads": args.threads, "windows": args.windows, "load_before": loadavg()}
    rounds = []
    with tempfile.TemporaryDirectory() as folder:
        # Warm-up, not timed: first-call costs (imports, allocations, page-ins of the genome).
        predict_regions(model, regions.iloc[:BATCH], args.genome, f"{folder}/w.tsv", source="b")
        scan_genome(model, args.genome, f"{folder}/w", stride=args.stride, regions=region)
        for _ in range(args.rounds):
            row = {"ceiling_before": ceiling(model, args.windows)}
            seconds = timed(
                lambda: predict_regions(model, regions, args.genome, f"{folder}/p.tsv", source="b")
            )
            row["predict"] = args.windows / seconds
            seconds = timed(
                lambda: scan_genome(
                    model, args.genome, f"{folder}/s", stride=args.stride, regions=region
                )
            )
            row["scan"] = args.windows / seconds
            row["ceiling_after"] = ceiling(model, args.windows)
            row["ceiling"] = (row["ceiling_before"] + row["ceiling_after"]) / 2
            row["predict_vs_ceiling"] = row["predict"] / row["ceiling"]
            row["scan_vs_ceiling"] = row["scan"] / row["ceiling"]
            row["load"] = loadavg()
            rounds.append(row)
    result["rounds"] = rounds
    for key in ("ceiling", "predict", "scan", "predict_vs_ceiling", "scan_vs_ceiling"):
        result[f"median_{key}"] = float(np.median([row[key] for row in rounds]))
    return result


def write_random_genome(path: Path, mbp: int, contigs: int = 5, seed: int = 0) -> None:
    """A random ACGT genome of ``mbp`` Mbp in ``contigs`` records, 60 bp lines, and its index."""
    rng = np.random.default_rng(seed)
    size = mbp * 1_000_000 // contigs
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as handle:
        for c in range(contigs):
            handle.write(f">rand{c + 1}\n".encode())
            for begin in range(0, size, 6_000_000):  # 100k lines at a time
                block = letters[rng.integers(0, 4, min(6_000_000, size - begin))]
                lines = block.reshape(-1, 60)
                out = np.concatenate([lines, np.full((len(lines), 1), 10, np.uint8)], axis=1)
                handle.write(out.tobytes())
    subprocess.run([sys.executable, "-c", f"import pyfaidx; pyfaidx.Faidx('{path}')"], check=True)


def genome_scan(args: argparse.Namespace) -> dict:
    """Wall time and peak memory of ``peakcnn scan`` over a synthetic genome."""
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        genome = Path(folder) / "random.fa"
        write_random_genome(genome, args.genome_mbp)
        command = ["/usr/bin/time", "-v", sys.executable, "-m", "peakcnn.cli.main", "scan"]
        command += [args.model, "--genome", str(genome), "--stride", str(args.stride)]
        command += ["--threads", str(args.threads), "-o", f"{folder}/scan"]
        command += ["--threshold", "0.5"]
        load = loadavg()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        text = done.stderr
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)[1])
    windows = int(re.search(r"scan: (\d+) windows in", text)[1])
    wall_s = hours * 3600 + minutes * 60 + seconds
    return {
        "genome_mbp": args.genome_mbp,
        "stride": args.stride,
        "threads": args.threads,
        "windows": windows,
        "wall_s": wall_s,
        "windows_per_s": windows / wall_s,
        "peak_rss_mib": rss / 1024,
        "load_before": load,
        "load_after": loadavg(),
    }


def main() -> None:
    """Parse arguments, run one measurement, print it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("genome", nargs="?")
    parser.add_argument("--metrics")
    parser.add_argument("--chrom", default="NC_003070.9")
    parser.add_argument("--start", type=int, default=26_000_000)
    parser.add_argument("--windows", type=int, default=8192)
    parser.add_argument("--stride", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--genome-scan", action="store_true")
    parser.add_argument("--genome-mbp", type=int, default=120)
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    result = genome_scan(args) if args.genome_scan else speed(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
