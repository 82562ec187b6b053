"""Does the scan find the held-out peaks? Called regions and score track vs test-block summits.

Reads a finished run's scan of the test block (``apply/<model>/scan/test.<task>.bw`` and
``test.called.bed``, written by the workflow's ``scan_genome`` rule), the split regions and the
task's peaks. Reports, at the threshold chosen on validation:

- recall: the share of test-block summits inside a called region;
- precision: the share of called regions holding a summit (and holding one within 100 bp of
  either end), against the same regions shifted to random places in the block (mean of 20);
- the share of the block called (the recall expected by chance);
- AUPRC and AUROC of the per-bin probability: bins whose centre is within ``--near`` bp of a
  summit are positives, bins more than ``--far`` bp from every summit negatives (those in
  between are left out); the AUPRC of a random score is the positive share.

Usage: ``python3 benchmarks/apply_scan_eval.py results/<dataset> [--model basset]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
from sklearn.metrics import average_precision_score, roc_auc_score

#: Further thresholds at which called regions are compared with the summits.
OTHER_THRESHOLDS = (0.5, 0.8, 0.95)


def test_block(run: Path) -> tuple[str, int, int]:
    """The (first) test region of the run's split."""
    regions = pd.read_csv(run / "split" / "regions.bed", sep="\t", header=None)
    row = regions[regions[3] == "test"].iloc[0]
    return str(row[0]), int(row[1]), int(row[2])


def summits_in(run: Path, task: str, chrom: str, start: int, end: int) -> np.ndarray:
    """Sorted summit positions (0-based) of the task's peaks in ``[start, end)``."""
    peaks = pd.read_csv(run / "peaks" / f"{task}.bed", sep="\t", header=None, comment="#")
    peaks = peaks[peaks[0] == chrom]
    offset = peaks[9] if peaks.shape[1] >= 10 else (peaks[2] - peaks[1]) // 2
    summits = np.sort((peaks[1] + offset).to_numpy())
    return summits[(summits >= start) & (summits < end)]


def contains(summits: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each interval holds at least one summit."""
    return np.searchsorted(summits, ends, "left") > np.searchsorted(summits, starts, "left")


def distance_to_nearest(summits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Distance in bp from each position to the nearest summit."""
    index = np.clip(np.searchsorted(summits, positions), 1, len(summits) - 1)
    return np.minimum(np.abs(positions - summits[index - 1]), np.abs(summits[index] - positions))


def runs_vs_summits(
    summits: np.ndarray, bin_starts: np.ndarray, stride: int, above: np.ndarray, cut: float
) -> dict:
    """Recall, precision and called share of the runs of adjacent bins above a threshold."""
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    starts, ends = bin_starts[first], bin_starts[last - 1] + stride
    inside = np.zeros(len(summits), dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        inside[np.searchsorted(summits, s) : np.searchsorted(summits, e)] = True
    return {
        "threshold": cut,
        "regions": int(len(starts)),
        "called_share_of_block": float(above.mean()),
        "recall": float(inside.mean()),
        "precision": float(contains(summits, starts, ends).mean()) if len(starts) else None,
    }


def evaluate(run: Path, model: str, near: int, far: int, seed: int = 0) -> dict:
    """Every number of the module docstring for one task (the first) of one model's scan."""
    summary = pd.read_csv(run / "apply" / model / "scan.tsv", sep="\t")
    task, threshold, stride = summary.task[0], float(summary.threshold[0]), int(summary.stride[0])
    chrom, start, end = test_block(run)
    summits = summits_in(run, task, chrom, start, end)
    called = pd.read_csv(run / "apply" / model / "scan" / "test.called.bed", sep="\t", header=None)
    called = called[called[6] == task]
    c_start, c_end = called[1].to_numpy(), called[2].to_numpy()
    # recall: summits inside a called region
    inside = np.zeros(len(summits), dtype=bool)
    for s, e in zip(c_start, c_end, strict=True):
        inside[np.searchsorted(summits, s) : np.searchsorted(summits, e)] = True
    hit = contains(summits, c_start, c_end)
    hit_100 = contains(summits, c_start - 100, c_end + 100)
    rng = np.random.default_rng(seed)
    shuffled = []
    for _ in range(20):
        shift = rng.integers(0, end - start, len(called))
        new_start = start + (c_start - start + shift) % (end - start)
        shuffled.append(contains(summits, new_start, new_start + (c_end - c_start)).mean())
    with pyBigWig.open(str(run / "apply" / model / "scan" / f"test.{task}.bw")) as track:
        values = np.asarray(track.values(chrom, start, end), dtype=np.float64)
    bin_starts = np.arange(start, end, stride)
    scores = values[bin_starts - start]
    centres = bin_starts + stride // 2
    distance = distance_to_nearest(summits, centres)
    keep = (distance <= near) | (distance > far)
    labels = distance[keep] <= near
    return {
        "at_other_thresholds": [
            runs_vs_summits(summits, bin_starts, stride, scores >= cut, cut)
            for cut in OTHER_THRESHOLDS
        ],
        "model": model,
        "task": task,
        "test_block": f"{chrom}:{start}-{end}",
        "block_bp": end - start,
        "stride": stride,
        "threshold": threshold,
        "test_summits": int(len(summits)),
        "called_regions": int(len(called)),
        "called_bp": int((c_end - c_start).sum()),
        "called_share_of_block": float((c_end - c_start).sum() / (end - start)),
        "median_called_length": float(np.median(c_end - c_start)) if len(called) else 0.0,
        "recall": float(inside.mean()),
        "precision": float(hit.mean()) if len(called) else float("nan"),
        "precision_within_100bp": float(hit_100.mean()) if len(called) else float("nan"),
        "precision_shuffled_regions": float(np.mean(shuffled)),
        "bins": int(len(scores)),
        "auprc_near_vs_far": float(average_precision_score(labels, scores[keep])),
        "auroc_near_vs_far": float(roc_auc_score(labels, scores[keep])),
        "positive_share": float(labels.mean()),
        "near_bp": near,
        "far_bp": far,
    }


def main() -> None:
    """Parse arguments, evaluate, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--model", default="basset")
    parser.add_argument("--near", type=int, default=50)
    parser.add_argument("--far", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(evaluate(args.run, args.model, args.near, args.far), indent=1))


if __name__ == "__main__":
    main()
