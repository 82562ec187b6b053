"""SHAP speed: our DeepSHAP (interpret.deeplift) vs tangermeme's deep_lift_shap, same inputs.

Both explain the same windows against the same dinucleotide-shuffled references (made once by
``peakcnn.interpret.shap_values.make_references``) with the same number of sequence-reference
pairs per
batch. Ours = ``peakcnn.interpret.shap_values.explain`` (DeepLIFT rescale rules, one backward
pass over the
references, ``peakcnn.interpret.deeplift``) followed by the projection onto the observed base;
tangermeme = ``deep_lift_shap`` with those references (its default output is already
projected). After the timing, our hypothetical contributions are also compared with
tangermeme's ``hypothetical=True`` (untimed). Each is timed ``--repeats`` times,
alternating, and the best run is kept (robust to other load on the machine). Printed:
sequence-reference pairs/s of each, the ratio ours / tangermeme, and their agreement (Pearson
r and the largest difference relative to the largest attribution), plus the load average,
since other jobs sharing the cores slow both.

Usage::

    python benchmarks/shap_speed.py                      # demo model and test split
    python benchmarks/shap_speed.py --windows 40 --threads 2
    python benchmarks/shap_speed.py --synthetic          # random Basset, random windows
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's peakcnn

from peakcnn.devices import resolve_device, set_threads
from peakcnn.interpret.shap_values import explain, make_references, project
from peakcnn.interpret.targets import select_windows
from peakcnn.models.checkpoint import load_checkpoint
from peakcnn.models.inference import predict_logits
from peakcnn.models.registry import build_model

DEMO = Path("results/bzip11_bzip10")
OURS = "ours (peakcnn.interpret.deeplift)"


def load(args: argparse.Namespace, device: torch.device):
    """The model, the windows to explain (top-scoring test positives) and where they are from."""
    model_path, data_path = Path(args.model), Path(args.data)
    if args.synthetic or not (model_path.exists() and data_path.exists()):
        torch.manual_seed(0)
        model = build_model("basset", length=args.length, n_tasks=1).to(device).eval()
        rng = np.random.default_rng(0)
        bases = rng.integers(0, 4, (args.windows, args.length))
        x = np.ascontiguousarray(np.eye(4, dtype=np.uint8)[bases].transpose(0, 2, 1))
        return model, x, np.arange(args.windows), "synthetic: untrained basset, random windows"
    model = load_checkpoint(str(model_path), device).eval()
    with np.load(data_path) as data:
        x, y = data["x"], data["y"][:, 0]
    logits = np.full(len(y), -np.inf)
    positives = np.flatnonzero(y == 1)
    logits[positives] = predict_logits(model, x[positives], device)[:, 0]
    rows = select_windows(logits, y, args.windows)
    return model, x[rows], rows, f"{model_path}, top {len(rows)} test positives of {data_path}"


def run_ours(model, x, references, device, batch_pairs) -> np.ndarray:
    """Projected SHAP values from peakcnn.interpret.shap_values.explain (interpret.deeplift)."""
    return project(explain(model, x, references, 0, device, batch_pairs)[0], x)


def run_tangermeme(model, x, references, device, batch_pairs, **options) -> np.ndarray:
    """Projected (or, with ``hypothetical=True``, hypothetical) values from tangermeme."""
    from tangermeme.deep_lift_shap import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = deep_lift_shap(
            model,
            torch.from_numpy(x).float(),
            target=0,
            references=torch.from_numpy(references).float(),
            batch_size=batch_pairs,
            device=device,
            **options,
        )
    return values.numpy()


def agreement(ours: np.ndarray, theirs: np.ndarray) -> str:
    """Pearson r and the largest difference relative to the largest value."""
    r = np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]
    relative = np.abs(ours - theirs).max() / np.abs(theirs).max()
    return f"Pearson r {r:.6f}, max |difference| / max |attribution| {relative:.2e}"


def main() -> None:
    """Time both implementations and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEMO / "models/basset/model.pt"))
    parser.add_argument("--data", default=str(DEMO / "dataset/test.npz"))
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--length", type=int, default=800, help="synthetic window length")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--batch-pairs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    set_threads(args.threads)
    device = resolve_device(args.device)
    model, x, rows, source = load(args, device)
    references, _ = make_references(x, rows, args.shuffles, seed=0)
    pairs = len(x) * args.shuffles
    runners = {OURS: run_ours, "tangermeme.deep_lift_shap": run_tangermeme}
    best = dict.fromkeys(runners, np.inf)
    results = {}
    load_before = os.getloadavg()
    for _ in range(args.repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            results[name] = runner(model, x, references, device, args.batch_pairs)
            best[name] = min(best[name], time.perf_counter() - start)
    load_after = os.getloadavg()
    ours, theirs = results.values()
    hypothetical = explain(model, x, references, 0, device, args.batch_pairs)[1]
    hypothetical_theirs = run_tangermeme(
        model, x, references, device, args.batch_pairs, hypothetical=True
    )

    print(f"inputs: {source}")
    print(
        f"{len(x)} windows x {args.shuffles} shuffles = {pairs} pairs, {x.shape[2]} bp, "
        f"{args.batch_pairs} pairs per batch, device {device}, {torch.get_num_threads()} "
        f"threads, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    for name, seconds in best.items():
        print(
            f"{name:28s} {seconds:7.2f} s  {pairs / seconds:8.1f} pairs/s (best of {args.repeats})"
        )
    ratio = best["tangermeme.deep_lift_shap"] / best[OURS]
    print(f"speed ratio ours / tangermeme: {ratio:.2f}x")
    print(f"agreement (projected): {agreement(ours, theirs)}")
    print(f"agreement (hypothetical): {agreement(hypothetical, hypothetical_theirs)}")


if __name__ == "__main__":
    main()
