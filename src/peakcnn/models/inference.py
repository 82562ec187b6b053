"""Batched inference on uint8 one-hot arrays."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: np.ndarray | torch.Tensor, device: torch.device, batch_size: int = 256
) -> np.ndarray:
    """Return the model's logits for one-hot sequences, in eval mode, batch by batch.

    The input stays uint8 until each batch is on the device; the model's train/eval mode is
    restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        Maps float (n, 4, L) to logits (n, T).
    x : numpy.ndarray or torch.Tensor of uint8, shape (n, 4, L)
        One-hot sequences.
    device : torch.device
        Where the model lives.
    batch_size : int, default 256

    Returns
    -------
    numpy.ndarray of float32, shape (n, T)
    """
    was_training = model.training
    model.eval()
    x = torch.as_tensor(x)
    outputs = [
        model(x[i : i + batch_size].to(device, non_blocking=True).float()).float().cpu()
        for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), dtype=np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))
