"""Device resolution and naming, thread count and seeding."""

from __future__ import annotations

import logging
import platform
import random

import numpy as np
import torch

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return the torch device to use: CUDA when present for ``None``/``"auto"``, else CPU.

    Parameters
    ----------
    device : str, torch.device or None, default None
        ``None`` or ``"auto"`` picks CUDA if available, otherwise CPU; any other value is used
        as given (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If CUDA is asked for and none is available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} asked for but no CUDA device is available; use device: auto or cpu"
        )
    return resolved


def device_name(device: torch.device) -> str:
    """Human-readable name of the device (GPU model, or the CPU model).

    Parameters
    ----------
    device : torch.device

    Returns
    -------
    str
        The CUDA device's name, else the CPU model from ``/proc/cpuinfo`` (Linux), else
        ``platform.processor()`` or ``"cpu"``.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or "cpu"


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a seeded CPU generator for shuffling.

    Parameters
    ----------
    seed : int
        The seed.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def set_threads(threads: int) -> None:
    """Make torch use ``threads`` intra-op threads (the rule's ``threads:``)."""
    torch.set_num_threads(max(1, int(threads)))
    logger.info("torch threads: %d", torch.get_num_threads())
