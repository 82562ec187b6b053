"""Training speed in float32 vs bf16 autocast, side by side on the same model and windows.

Both runs step ``peakcnn.training.loop.train_epoch`` (the training path itself: shuffle, uint8
gather, cast, forward, loss, backward, SGD step) over the same windows from the same initial
weights, alternating ``--repeats`` times; the best rate of each is kept (robust to other load
on the machine), and their ratio is printed. On a CPU, bf16 autocast pays off only with native
bfloat16 instructions (AVX512-BF16 or AMX; ``cpu_has_native_bf16``), which ``train.amp: auto``
checks before using it.

Usage::

    python benchmarks/amp_speed.py                     # the demo's train split, basset
    python benchmarks/amp_speed.py --synthetic 4096 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's peakcnn

from train_throughput import DEMO, load  # noqa: E402  (beside this script)

from peakcnn.devices import device_name, resolve_device, set_seed, set_threads  # noqa: E402
from peakcnn.models.registry import build_model  # noqa: E402
from peakcnn.training.loop import train_epoch  # noqa: E402
from peakcnn.training.optim import cpu_has_native_bf16, make_optimizer  # noqa: E402

MODES = {"float32": None, "bf16": torch.bfloat16}


def rate(model, x, y, amp_dtype, device: torch.device, batch_size: int) -> float:
    """Windows per second of one training epoch over ``x`` with autocast ``amp_dtype``."""
    optimizer = make_optimizer(model, "sgd", 0.02, 0.9, 0.0)
    start = time.perf_counter()
    train_epoch(
        model,
        x,
        y,
        optimizer,
        nn.BCEWithLogitsLoss(),
        batch_size,
        set_seed(0),
        device,
        amp_dtype=amp_dtype,
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return len(x) / (time.perf_counter() - start)


def main() -> None:
    """Alternate both precisions, print the best rates and the bf16 / float32 ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEMO), help="train npz (default: the demo's)")
    parser.add_argument("--synthetic", type=int, default=0, help="N random windows instead")
    parser.add_argument("--length", type=int, default=800, help="synthetic window length")
    parser.add_argument("--windows", type=int, default=2048, help="windows per measurement")
    parser.add_argument("--model", default="basset")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    set_threads(args.threads)
    device = resolve_device(args.device)
    x_np, y_np, source = load(args)
    x_np, y_np = x_np[: args.windows], y_np[: args.windows]
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np.astype(np.float32))
    set_seed(0)
    initial = build_model(args.model, length=x.shape[2], n_tasks=y.shape[1]).to(device)
    best = {mode: 0.0 for mode in MODES}
    for _ in range(args.repeats):
        for mode, amp_dtype in MODES.items():
            model = copy.deepcopy(initial)
            best[mode] = max(best[mode], rate(model, x, y, amp_dtype, device, args.batch_size))
    print(
        f"device: {device} ({device_name(device)}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; native bf16 on this CPU: {cpu_has_native_bf16()}"
    )
    print(f"data: {source}, first {len(x_np)}; model {args.model}, batch {args.batch_size}")
    for mode, value in best.items():
        print(f"{mode:>8}: {value:8.1f} windows/s (best of {args.repeats})")
    print(f"bf16 / float32: {best['bf16'] / best['float32']:.2f}x")


if __name__ == "__main__":
    main()
