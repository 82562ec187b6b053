"""Sequence models. Each model is ``__init__`` + ``forward``; training lives in ``train.py``.

Every activation and pooling is its own module (a fresh ``nn.ReLU()`` per use, never in-place,
never functional) so that SHAP's DeepExplainer propagates through each one correctly, and the
output is always (N, T) logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _conv_length(length: int, pools: Sequence[int]) -> int:
    """Length after 'same'-padded convolutions followed by max-pools of the given sizes."""
    for pool in pools:
        length //= pool
    return length


class Basset(nn.Module):
    """Basset-style CNN: three conv blocks then three dense layers, one logit per task.

    Each conv block is Conv1d ('same' padding) → BatchNorm1d → ReLU → MaxPool1d → Dropout.
    The dense part is Linear → ReLU → Dropout, twice, then Linear to ``n_tasks`` logits.

    Parameters
    ----------
    length : int
        Input length in bp.
    n_tasks : int, default 1
        Number of outputs (logits).
    filters : sequence of int, default (64, 128, 128)
        Filters of the three conv layers.
    kernels : sequence of int, default (19, 11, 7)
        Kernel widths of the conv layers.
    pools : sequence of int, default (4, 4, 4)
        Max-pool widths after each conv layer.
    conv_dropout : sequence of float, default (0.1, 0.2, 0.3)
        Dropout after each conv block.
    dense : sequence of int, default (256, 64)
        Units of the two hidden dense layers.
    dense_dropout : float, default 0.5
        Dropout after each hidden dense layer.
    """

    def __init__(
        self,
        length: int,
        n_tasks: int = 1,
        filters: Sequence[int] = (64, 128, 128),
        kernels: Sequence[int] = (19, 11, 7),
        pools: Sequence[int] = (4, 4, 4),
        conv_dropout: Sequence[float] = (0.1, 0.2, 0.3),
        dense: Sequence[int] = (256, 64),
        dense_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if not len(filters) == len(kernels) == len(pools) == len(conv_dropout):
            raise ValueError("filters, kernels, pools and conv_dropout must have the same length")
        layers: list[nn.Module] = []
        channels = 4
        blocks = zip(filters, kernels, pools, conv_dropout, strict=True)
        for n_filters, kernel, pool, dropout in blocks:
            layers += [
                nn.Conv1d(channels, n_filters, kernel, padding="same"),
                nn.BatchNorm1d(n_filters),
                nn.ReLU(),
                nn.MaxPool1d(pool),
                nn.Dropout(dropout),
            ]
            channels = n_filters
        flat = channels * _conv_length(length, pools)
        if flat <= 0:
            raise ValueError(f"length {length} is too short for pools {list(pools)}")
        layers.append(nn.Flatten())
        units = flat
        for hidden in dense:
            layers += [nn.Linear(units, hidden), nn.ReLU(), nn.Dropout(dense_dropout)]
            units = hidden
        layers.append(nn.Linear(units, n_tasks))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map one-hot sequences (N, 4, L) float to logits (N, n_tasks)."""
        return self.layers(x)


MODELS = {"basset": Basset}


def build_model(name: str, length: int, n_tasks: int, **hyperparameters) -> nn.Module:
    """Build a model by its config name.

    Parameters
    ----------
    name : str
        A key of ``MODELS``.
    length : int
        Input length in bp.
    n_tasks : int
        Number of outputs.
    **hyperparameters
        Passed to the model's constructor.

    Returns
    -------
    torch.nn.Module
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](length=length, n_tasks=n_tasks, **hyperparameters)


def save_checkpoint(path: str, model: nn.Module, name: str, hyperparameters: dict) -> None:
    """Write a checkpoint: the state_dict plus what is needed to rebuild the model."""
    torch.save(
        {"name": name, "hyperparameters": hyperparameters, "state_dict": model.state_dict()}, path
    )


def load_checkpoint(path: str, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a model from a checkpoint written by ``save_checkpoint``, in eval mode.

    Parameters
    ----------
    path : str
        The checkpoint (``model.pt``).
    device : torch.device or str, default "cpu"
        Where to put the model.

    Returns
    -------
    torch.nn.Module
    """
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    model = build_model(checkpoint["name"], **checkpoint["hyperparameters"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()
