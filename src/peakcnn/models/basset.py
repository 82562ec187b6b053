"""Basset-style CNNs: the seed sizes (``Basset``) and the original paper's (``BassetPaper``)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import torch
from torch import nn

from peakcnn.models.layers import conv_blocks, pooled_length

#: The sizes of the original Basset paper (Kelley et al. 2016): ``BassetPaper``'s defaults.
PAPER_SIZES = MappingProxyType(
    {
        "filters": (300, 200, 200),
        "kernels": (19, 11, 7),
        "pools": (3, 4, 4),
        "conv_dropout": (0.0, 0.0, 0.0),
        "dense": (1000, 1000),
        "dense_dropout": 0.3,
    }
)


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
        layers = conv_blocks(filters, kernels, pools, conv_dropout)
        flat = filters[-1] * pooled_length(length, pools)
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


class BassetPaper(Basset):
    """Basset with the sizes of the original paper (Kelley et al. 2016), ``PAPER_SIZES``.

    300/200/200 filters, kernels 19/11/7, max-pools 3/4/4, no conv dropout, two dense layers
    of 1000 units with dropout 0.3. Any of them can be overridden as in ``Basset``.

    Parameters
    ----------
    length : int
        Input length in bp.
    n_tasks : int, default 1
        Number of outputs.
    **sizes
        ``filters``, ``kernels``, ``pools``, ``conv_dropout``, ``dense``, ``dense_dropout``
        as in ``Basset``; each defaults to its ``PAPER_SIZES`` value.
    """

    def __init__(self, length: int, n_tasks: int = 1, **sizes) -> None:
        super().__init__(length, n_tasks, **{**PAPER_SIZES, **sizes})
