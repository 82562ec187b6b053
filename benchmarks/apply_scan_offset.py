"""Why a scan finds fewer summits than the test AUROC suggests: the score vs the summit's offset.

Training and test windows are centred on the peak summits; a scan scores windows centred on
its bins, so a summit sits up to ``stride / 2`` bp from the nearest window centre. This script
measures, for the test-block summits of a finished run:

- ``by_offset``: windows centred ``d`` bp from each summit (both sides, through the same
  encoding and calibrated probabilities the scan uses) against windows centred on random
  positions of the block more than ``--far`` bp from every summit: median probability, the
  share at or above the validation threshold, and the AUROC of positive vs background;
- ``scan_bins_by_distance``: the run's own scan track (``apply/<model>/scan/test.<task>.bw``),
  its bins split by the distance from the bin centre to the nearest summit, each group's AUROC
  against the bins more than ``--far`` bp from every summit (the negatives of
  ``apply_scan_eval.py``).

Usage: ``python3 benchmarks/apply_scan_offset.py results/<dataset> [--model basset]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
from apply_scan_eval import distance_to_nearest, summits_in, test_block
from sklearn.metrics import roc_auc_score

from peakcnn.apply.loading import load_model
from peakcnn.apply.predict import window_logits
from peakcnn.data.encode import encode_bytes
from peakcnn.data.genome import open_fasta, record_layout
from peakcnn.devices import set_threads

OFFSETS = (0, 1, 2, 5, 10, 25, 50, 100, 200, 400)
DISTANCE_BINS = ((0, 10), (10, 25), (25, 50), (50, 100), (100, 250), (250, 500))


def probabilities_at(model, genome: str, chrom: str, centres: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of the model's windows centred on ``centres``."""
    data = np.memmap(genome, dtype=np.uint8, mode="r")
    fasta = open_fasta(genome)
    layout = record_layout(fasta, chrom)
    fasta.close()
    x, _ = encode_bytes(data, centres - model.length // 2, model.length, layout)
    return model.probabilities(window_logits(model, x))[:, 0]


def by_offset(
    run: Path, model_name: str, far: int, background: int, seed: int, threshold: float | None
) -> dict:
    """Probability and AUROC vs background of windows centred ``d`` bp from the summits."""
    model = load_model(str(run / "models" / model_name / "model.pt"), threshold=threshold)
    genome = str(run / "genome" / "genome.fa")
    task = model.tasks[0]
    threshold = model.metadata.thresholds[0]
    chrom, start, end = test_block(run)
    summits = summits_in(run, task, chrom, start, end)
    rng = np.random.default_rng(seed)
    candidates = rng.integers(start, end, background * 4)
    negatives = candidates[distance_to_nearest(summits, candidates) > far][:background]
    negative_scores = probabilities_at(model, genome, chrom, negatives)
    rows = []
    for offset in OFFSETS:
        centres = np.r_[summits - offset, summits + offset] if offset else summits
        scores = probabilities_at(model, genome, chrom, centres)
        labels = np.r_[np.ones(len(scores)), np.zeros(len(negative_scores))]
        rows.append(
            {
                "offset_bp": offset,
                "windows": int(len(scores)),
                "median_probability": float(np.median(scores)),
                "share_at_threshold": float((scores >= threshold).mean()),
                "auroc_vs_background": float(roc_auc_score(labels, np.r_[scores, negative_scores])),
            }
        )
    return {
        "task": task,
        "threshold": threshold,
        "test_summits": int(len(summits)),
        "background_windows": int(len(negatives)),
        "background_median_probability": float(np.median(negative_scores)),
        "background_share_at_threshold": float((negative_scores >= threshold).mean()),
        "by_offset": rows,
    }


def scan_bins_by_distance(run: Path, model_name: str, far: int) -> list[dict]:
    """AUROC of the run's scan bins, grouped by distance to the nearest summit, vs far bins."""
    summary = pd.read_csv(run / "apply" / model_name / "scan.tsv", sep="\t")
    task, stride = summary.task[0], int(summary.stride[0])
    chrom, start, end = test_block(run)
    summits = summits_in(run, task, chrom, start, end)
    with pyBigWig.open(str(run / "apply" / model_name / "scan" / f"test.{task}.bw")) as track:
        values = np.asarray(track.values(chrom, start, end), dtype=np.float64)
    bin_starts = np.arange(start, end, stride)
    scores = values[bin_starts - start]
    distance = distance_to_nearest(summits, bin_starts + stride // 2)
    negatives = scores[distance > far]
    rows = []
    for low, high in DISTANCE_BINS:
        group = scores[(distance >= low) & (distance < high)]
        labels = np.r_[np.ones(len(group)), np.zeros(len(negatives))]
        rows.append(
            {
                "distance_bp": f"[{low}, {high})",
                "bins": int(len(group)),
                "median_probability": float(np.median(group)),
                "auroc_vs_far": float(roc_auc_score(labels, np.r_[group, negatives])),
            }
        )
    return rows


def main() -> None:
    """Parse arguments, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--model", default="basset")
    parser.add_argument("--far", type=int, default=500)
    parser.add_argument("--background", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--threshold", type=float, help="default: the run's validation threshold (metrics.json)"
    )
    args = parser.parse_args()
    set_threads(args.threads)
    result = by_offset(args.run, args.model, args.far, args.background, 0, args.threshold)
    result["scan_bins_by_distance"] = scan_bins_by_distance(args.run, args.model, args.far)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
