"""The hybrid model: a CNN front end, a self-attention encoder and a small dense head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from peakcnn.models.layers import (
    EncoderBlock,
    MeanOverTokens,
    PositionalEmbedding,
    Transpose,
    conv_blocks,
    pooled_length,
)


class Hybrid(nn.Module):
    """CNN front end + self-attention encoder + dense head, one logit per task.

    The conv blocks are those of ``Basset``; their pooled output (length ``L / prod(pools)``)
    becomes the tokens of ``layers`` pre-norm encoder blocks (learned position embeddings,
    ``heads`` heads, width ``filters[-1]``), which are layer-normed, averaged over positions
    and mapped by Linear → ReLU → Dropout → Linear to ``n_tasks`` logits.

    Parameters
    ----------
    length : int
        Input length in bp.
    n_tasks : int, default 1
        Number of outputs.
    filters : sequence of int, default (128, 128)
        Filters of the conv layers; the last is the attention width.
    kernels : sequence of int, default (19, 11)
        Kernel widths of the conv layers.
    pools : sequence of int, default (4, 4)
        Max-pool widths after each conv layer.
    conv_dropout : sequence of float, default (0.1, 0.1)
        Dropout after each conv block.
    heads : int, default 4
        Attention heads.
    layers : int, default 2
        Encoder blocks.
    ff : int, default 256
        Feed-forward units in each block.
    attention_dropout : float, default 0.1
        Dropout inside the encoder blocks.
    dense : int, default 64
        Units of the hidden dense layer of the head.
    dense_dropout : float, default 0.3
        Dropout after it.
    """

    def __init__(
        self,
        length: int,
        n_tasks: int = 1,
        filters: Sequence[int] = (128, 128),
        kernels: Sequence[int] = (19, 11),
        pools: Sequence[int] = (4, 4),
        conv_dropout: Sequence[float] = (0.1, 0.1),
        heads: int = 4,
        layers: int = 2,
        ff: int = 256,
        attention_dropout: float = 0.1,
        dense: int = 64,
        dense_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        tokens = pooled_length(length, pools)
        if tokens <= 0:
            raise ValueError(f"length {length} is too short for pools {list(pools)}")
        dim = filters[-1]
        self.front = nn.Sequential(
            *conv_blocks(filters, kernels, pools, conv_dropout),
            Transpose(),
            PositionalEmbedding(tokens, dim),
        )
        self.encoder = nn.Sequential(
            *[EncoderBlock(dim, heads, ff, attention_dropout) for _ in range(layers)]
        )
        self.head = nn.Sequential(
            nn.LayerNorm(dim),
            MeanOverTokens(),
            nn.Linear(dim, dense),
            nn.ReLU(),
            nn.Dropout(dense_dropout),
            nn.Linear(dense, n_tasks),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map one-hot sequences (N, 4, L) float to logits (N, n_tasks)."""
        return self.head(self.encoder(self.front(x)))
