"""Do variant effects follow the learned motif? Core-breaking vs matched flank substitutions.

For every test-block peak of a finished run with the learned core (default ``ACGT``, the core
of the top motif-stage pattern; checked against ``attribution/<model>/motifs/summary.json``)
within 25 bp of its summit, one base of that core (the C or the G, drawn at random) is
substituted by each of the 3 other bases ("core"). Each is matched by the same REF -> ALT
substitution at a position of the same peak 150-350 bp from the summit with no core within
10 bp ("flank"). All are scored by ``peakcnn.apply.variants.score_variants`` (the code behind
``peakcnn variants``) with the run's model on the run's genome. Reported: quantiles of the
effect (``logit_difference``) and of |effect| per kind, the share of core effects below zero
(breaking the motif should lower the score), the AUROC of |effect| separating core from flank
variants, and a paired comparison (share of pairs where the core |effect| is larger).

Usage: ``python3 benchmarks/apply_variant_motif.py results/<dataset> [--model basset]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from peakcnn.apply.loading import load_model
from peakcnn.apply.variants import score_variants
from peakcnn.data.genome import chromosome_bytes, open_fasta
from peakcnn.devices import set_threads

OTHER = {base: [b for b in "ACGT" if b != base] for base in "ACGT"}


def learned_core(run: Path, model: str, core: str) -> dict:
    """The motif-stage patterns whose consensus holds ``core`` (or its reverse complement)."""
    path = run / "attribution" / model / "motifs" / "summary.json"
    if not path.exists():
        return {"summary": f"{path} absent (motif stage not run)"}
    summary = json.loads(path.read_text())
    patterns = summary["patterns"]
    holding = [p for p in patterns if core in p["consensus"].upper()]
    return {
        "patterns": len(patterns),
        "with_core": [
            {k: p.get(k) for k in ("pattern", "n_seqlets", "consensus", "best_match")}
            for p in holding
        ],
        "top_pattern": {k: patterns[0].get(k) for k in ("pattern", "consensus", "best_match")}
        if patterns
        else None,
    }


def make_variants(run: Path, core: str, seed: int) -> pd.DataFrame:
    """Core and matched flank SNVs of the test-block peaks (``chrom, pos, ref, alt, id``)."""
    regions = pd.read_csv(run / "split" / "regions.bed", sep="\t", header=None)
    test = regions[regions[3] == "test"]
    peaks = pd.read_csv(run / "windows" / "peaks.bed", sep="\t", header=None)
    fasta = open_fasta(str(run / "genome" / "genome.fa"))
    rng = np.random.default_rng(seed)
    rows, pair = [], 0
    for chrom, start, end in test[[0, 1, 2]].itertuples(index=False):
        sequence = chromosome_bytes(fasta, chrom).tobytes().decode("ascii").upper()
        summits = sorted(
            {(s + e) // 2 for c, s, e in peaks[[0, 1, 2]].itertuples(index=False) if c == chrom}
        )
        for summit in (s for s in summits if start + 1000 <= s < end - 1000):
            hits = [
                summit + o
                for o in range(-25, 22)
                if sequence[summit + o : summit + o + len(core)] == core
            ]
            if not hits:
                continue
            at = min(hits, key=lambda h: abs(h + len(core) // 2 - summit))
            pos0 = at + int(rng.integers(1, len(core) - 1))  # an inner base (C or G of ACGT)
            ref = sequence[pos0]
            flanks = [
                summit + side * distance
                for distance in range(150, 351)
                for side in (-1, 1)
                if sequence[summit + side * distance] == ref
                and core
                not in sequence[summit + side * distance - 13 : summit + side * distance + 14]
            ]
            if not flanks:
                continue
            flank = int(rng.choice(flanks))
            pair += 1
            for alt in OTHER[ref]:
                rows.append((chrom, pos0 + 1, ref, alt, f"core_{pair}_{alt}"))
                rows.append((chrom, flank + 1, ref, alt, f"flank_{pair}_{alt}"))
    fasta.close()
    return pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "id"])


def quantiles(values: np.ndarray) -> dict:
    """Mean and 10/25/50/75/90 % quantiles."""
    qs = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {
        "mean": float(values.mean()),
        **{
            f"q{int(q * 100)}": float(v)
            for q, v in zip([0.1, 0.25, 0.5, 0.75, 0.9], qs, strict=True)
        },
    }


def benchmark(run: Path, model_name: str, core: str, threads: int, seed: int = 0) -> dict:
    """Score the core and flank variants; every number of the module docstring."""
    set_threads(threads)
    variants = make_variants(run, core, seed)
    model = load_model(str(run / "models" / model_name / "model.pt"))
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "variants.tsv"
        variants.to_csv(table, sep="\t", index=False)
        counts = score_variants(
            model,
            str(table),
            str(run / "genome" / "genome.fa"),
            f"{folder}/scores.tsv",
            f"{folder}/skipped.tsv",
        )
        scores = pd.read_csv(f"{folder}/scores.tsv", sep="\t")
    scores["kind"] = scores["id"].str.split("_").str[0]
    scores["pair"] = scores["id"].str.split("_", n=1).str[1]
    effect = scores.pivot_table(index="pair", columns="kind", values="logit_difference")
    core_effect, flank_effect = effect["core"].to_numpy(), effect["flank"].to_numpy()
    labels = np.r_[np.ones(len(core_effect)), np.zeros(len(flank_effect))]
    return {
        "model": model_name,
        "core": core,
        "motif_stage": learned_core(run, model_name, core),
        "scored": counts["scored"],
        "skipped": counts["skipped"],
        "peaks": int(len(effect) // 3),
        "pairs": int(len(effect)),
        "core_effect": quantiles(core_effect),
        "flank_effect": quantiles(flank_effect),
        "core_abs_effect": quantiles(np.abs(core_effect)),
        "flank_abs_effect": quantiles(np.abs(flank_effect)),
        "core_share_negative": float((core_effect < 0).mean()),
        "flank_share_negative": float((flank_effect < 0).mean()),
        "auroc_abs_effect_core_vs_flank": float(
            roc_auc_score(labels, np.abs(np.r_[core_effect, flank_effect]))
        ),
        "pairs_core_abs_larger": float((np.abs(core_effect) > np.abs(flank_effect)).mean()),
    }


def main() -> None:
    """Parse arguments, run the benchmark, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--model", default="basset")
    parser.add_argument("--core", default="ACGT")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(benchmark(args.run, args.model, args.core, args.threads), indent=1))


if __name__ == "__main__":
    main()
