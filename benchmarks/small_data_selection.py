"""Model choice on small real data: subsampled demo peaks, basset with several seeds + k-mer.

Draws ``--peaks`` peaks at random (one draw per ``--draws`` seed) from the demo's bZIP11-bZIP10
chromosome 1 peaks, runs the workflow on each draw up to ``select_model`` (basset trained with
``--seeds`` seeds, kmer_baseline, the demo config otherwise) and prints, per draw, every
candidate's validation and test AUROC, the chosen candidate and its test difference to the
k-mer baseline with a paired-bootstrap 95% CI.

    python3 benchmarks/small_data_selection.py --peaks 500 --draws 3 --seeds 3 --cores 2
    python3 benchmarks/small_data_selection.py --epochs 50 --patience 10 \
        --workdir benchmarks/small_data_selection_e50

The run folder (``benchmarks/small_data_selection/`` by default, git-ignored) holds a copy of
the config, the sampled peak files, the results and ``summary.json``; a rerun reuses what is
there (Snakemake only runs what is missing).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources/demo"
PEAKS = DEMO / "GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz"
GENOME = DEMO / "TAIR10.1_chr1.fna.gz"


def sample_peaks(path: Path, n: int, seed: int) -> Path:
    """Write ``n`` peaks drawn without replacement (file order kept) next to the run."""
    with gzip.open(PEAKS, "rt") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith(("#", "track"))]
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(lines), size=min(n, len(lines)), replace=False))
    path.write_text("".join(lines[i] for i in keep))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peaks", type=int, default=500)
    parser.add_argument("--draws", type=int, default=3, help="independent peak subsamples")
    parser.add_argument("--seeds", type=int, default=3, help="train.seeds for basset")
    parser.add_argument("--epochs", type=int, default=None, help="default: the demo config's")
    parser.add_argument("--patience", type=int, default=None, help="default: the demo config's")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/small_data_selection")
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["models"] = ["basset", "kmer_baseline"]
    config["train"]["seeds"] = args.seeds
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    if args.patience is not None:
        config["train"]["patience"] = args.patience
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    genome_sha = demo["datasets"]["bzip11_bzip10"]["genome"]["sha256"]
    config["datasets"] = {}
    names = []
    for draw in range(args.draws):
        name = f"peaks{args.peaks}_draw{draw}"
        peaks = sample_peaks(workdir / f"{name}.narrowPeak", args.peaks, draw)
        config["datasets"][name] = {
            "genome": {"source": str(GENOME), "sha256": genome_sha},
            "peaks": {"source": str(peaks)},
        }
        names.append(name)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    targets = [f"results/{n}/eval/{f}" for n in names for f in ("best.json", "models.tsv")]
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(args.cores),
        *targets,
    ]
    start = time.perf_counter()
    # the run folder is not the project folder: make this checkout's library importable
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(command, check=True, env=env)
    seconds = time.perf_counter() - start

    summary = {
        "peaks": args.peaks,
        "seeds": args.seeds,
        "epochs": config["train"]["epochs"],
        "patience": config["train"]["patience"],
        "seconds": round(seconds, 1),
    }
    summary["draws"] = []
    for name in names:
        out = workdir / "results" / name
        best = json.loads((out / "eval/best.json").read_text())
        table = pd.read_csv(out / "eval/candidates.tsv", sep="\t")
        split = json.loads((out / "dataset/split.json").read_text())
        versus = best["versus_baseline"]
        summary["draws"].append(
            {
                "dataset": name,
                "split_counts": best["splits"],
                "train_windows": split["splits"]["train"].get("windows"),
                "candidates": table.to_dict(orient="records"),
                "chosen": best["chosen"],
                "chosen_test_auroc": best["test"]["auroc"],
                "chosen_test_auroc_ci95": best["test_ci"].get("auroc_ci95"),
                "baseline": versus["baseline"],
                "test_auroc_delta_vs_baseline": versus.get("test_auroc_delta"),
                "test_auroc_delta_ci95": versus.get("test_auroc_delta_ci95"),
                "worse_on_test": versus["worse_on_test"],
                "warnings": best["warnings"],
            }
        )
        print(f"\n## {name}: chose {best['chosen']}")
        print(table.to_markdown(index=False, floatfmt=".3f"))
        ci = versus.get("test_auroc_delta_ci95")
        print(
            f"test AUROC {best['test']['auroc']:.3f} "
            f"(CI {best['test_ci'].get('auroc_ci95')}); vs {versus['baseline']}: "
            f"{versus.get('test_auroc_delta', 0):+.3f} (CI {ci}); warnings: {best['warnings']}"
        )
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{len(names)} draws in {seconds:.0f} s; summary in {workdir / 'summary.json'}")


if __name__ == "__main__":
    main()
