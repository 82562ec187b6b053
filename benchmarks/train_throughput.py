"""Training throughput: our train_epoch path end to end vs. the same model on ready tensors.

End to end = ``peakcnn.training.loop.train_epoch`` over the uint8 split as training uses it: the
shuffle, the uint8 gather, the move to the device, the cast to float, forward, loss, backward
and the optimiser step (on CUDA the uint8 split is resident on the GPU, as in training).
Ceiling = the same model and optimiser stepping over one float batch that is already on the
device (no data handling at all). Both run the same number of steps; each is measured
``--repeats`` times, alternating, and the best of each is kept (robust to other load on the
machine). The ratio end-to-end / ceiling is the share of the hardware's training speed that
the data path leaves; the target is >= 0.9.

Usage::

    python benchmarks/train_throughput.py                      # demo train split, basset
    python benchmarks/train_throughput.py --model hybrid --threads 2
    python benchmarks/train_throughput.py --synthetic 8192     # no dataset needed
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's peakcnn

from peakcnn.devices import device_name, resolve_device, set_seed, set_threads
from peakcnn.models.registry import build_model
from peakcnn.training.inputs import on_device
from peakcnn.training.loop import train_epoch
from peakcnn.training.optim import make_optimizer, resolve_amp

DEMO = Path("results/bzip11_bzip10/dataset/train.npz")


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """The uint8 windows and labels to train on, and where they come from."""
    if args.synthetic or not Path(args.data).exists():
        n = args.synthetic or 8192
        rng = np.random.default_rng(0)
        x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, args.length))].transpose(0, 2, 1)
        y = rng.integers(0, 2, (n, 1)).astype(np.uint8)
        return np.ascontiguousarray(x), y, f"synthetic ({n} windows of {args.length} bp)"
    start = time.perf_counter()
    with np.load(args.data) as data:
        x, y = data["x"], data["y"]
    seconds = time.perf_counter() - start
    return x, y, f"{args.data} ({len(x)} windows of {x.shape[2]} bp, loaded in {seconds:.2f} s)"


def sync(device: torch.device) -> None:
    """Wait for queued device work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    """Measure, then print both rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEMO), help="train npz (default: the demo's)")
    parser.add_argument("--synthetic", type=int, default=0, help="use N random windows instead")
    parser.add_argument("--length", type=int, default=800, help="synthetic window length")
    parser.add_argument("--model", default="basset")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--windows", type=int, default=0, help="windows per measurement (all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--amp", default="auto")
    args = parser.parse_args()

    set_threads(args.threads)
    generator = set_seed(0)
    device = resolve_device(args.device)
    x_np, y_np, source = load(args)
    if args.windows:
        x_np, y_np = x_np[: args.windows], y_np[: args.windows]
    n, length = len(x_np), x_np.shape[2]
    model = build_model(args.model, length=length, n_tasks=y_np.shape[1]).to(device)
    opt = make_optimizer(model, "sgd", 0.02, 0.9, 0.0)
    loss_fn = nn.BCEWithLogitsLoss()
    amp_dtype = resolve_amp(args.amp, device)
    x = on_device(torch.from_numpy(x_np), device)
    y = on_device(torch.from_numpy(y_np.astype(np.float32)), device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")

    xb = torch.from_numpy(x_np[: args.batch_size]).to(device).float()
    yb = torch.from_numpy(y_np[: args.batch_size].astype(np.float32)).to(device)
    steps = -(-n // args.batch_size)

    def end_to_end() -> float:
        sync(device)
        start = time.perf_counter()
        train_epoch(
            model, x, y, opt, loss_fn, args.batch_size, generator, device, amp_dtype=amp_dtype
        )
        sync(device)
        return n / (time.perf_counter() - start)

    def ceiling() -> float:
        model.train()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        return steps * args.batch_size / (time.perf_counter() - start)

    for _ in range(5):  # warm-up (allocator, cudnn autotuning, thread pools)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    load_before = os.getloadavg()
    rates = {"end to end (train_epoch)": [], "ceiling (ready tensors)": []}
    for _ in range(args.repeats):
        rates["end to end (train_epoch)"].append(end_to_end())
        rates["ceiling (ready tensors)"].append(ceiling())
    load_after = os.getloadavg()

    print(
        f"device: {device} ({device_name(device)}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}"
    )
    print(f"data: {source}")
    print(
        f"model: {args.model}, batch {args.batch_size}, amp {amp_dtype}, "
        f"{args.repeats} alternating repeats of {steps} steps, best kept"
    )
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    for name, values in rates.items():
        print(
            f"{name:28s} {max(values):9.1f} windows/s   (all: "
            f"{', '.join(f'{v:.1f}' for v in values)})"
        )
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["end to end (train_epoch)"] / best["ceiling (ready tensors)"]
    print(f"ratio end to end / ceiling: {ratio:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
