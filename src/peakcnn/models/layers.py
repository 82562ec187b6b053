"""Building blocks of the sequence models, each nonlinearity its own module.

Every activation, pooling and softmax is its own module (a fresh ``nn.ReLU()`` per use, never
in-place, never functional in ``forward``) so that SHAP's DeepExplainer propagates through each
one correctly; a test scans every module of ``peakcnn.models`` for functional calls.

- ``conv_blocks`` / ``pooled_length``: the Basset-style conv front end and its output length.
- ``Transpose``, ``PositionalEmbedding``, ``SelfAttention``, ``EncoderBlock``,
  ``MeanOverTokens``: the pieces of the hybrid's self-attention encoder.
- ``RCAverage``: wraps any model to average its logits over both strands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def pooled_length(length: int, pools: Sequence[int]) -> int:
    """Length after 'same'-padded convolutions followed by max-pools of the given sizes."""
    for pool in pools:
        length //= pool
    return length


def conv_blocks(
    filters: Sequence[int],
    kernels: Sequence[int],
    pools: Sequence[int],
    conv_dropout: Sequence[float],
) -> list[nn.Module]:
    """Conv1d ('same') → BatchNorm1d → ReLU → MaxPool1d → Dropout, once per filter count."""
    if not len(filters) == len(kernels) == len(pools) == len(conv_dropout):
        raise ValueError("filters, kernels, pools and conv_dropout must have the same length")
    layers: list[nn.Module] = []
    channels = 4
    for n_filters, kernel, pool, dropout in zip(filters, kernels, pools, conv_dropout, strict=True):
        layers += [
            nn.Conv1d(channels, n_filters, kernel, padding="same"),
            nn.BatchNorm1d(n_filters),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            nn.Dropout(dropout),
        ]
        channels = n_filters
    return layers


class Transpose(nn.Module):
    """Swap the channel and position axes: (N, C, L) ↔ (N, L, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` with its last two axes swapped."""
        return x.transpose(1, 2)


class PositionalEmbedding(nn.Module):
    """Add a learned embedding per position to (N, tokens, dim) inputs.

    Parameters
    ----------
    tokens : int
        Number of positions.
    dim : int
        Embedding width.
    """

    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.normal_(self.embedding, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` plus the position embeddings."""
        return x + self.embedding


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention built from modules.

    Parameters
    ----------
    dim : int
        Model width (divisible by ``heads``).
    heads : int
        Attention heads.
    dropout : float
        Dropout on the attention weights.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model width {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.softmax = nn.Softmax(dim=-1)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (N, tokens, dim) to (N, tokens, dim)."""
        n, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(n, tokens, 3, self.heads, dim // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        weights = self.dropout(self.softmax((query @ key.transpose(-2, -1)) * self.scale))
        mixed = (weights @ value).transpose(1, 2).reshape(n, tokens, dim)
        return self.out(mixed)


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder block: x + attn(norm(x)), then x + ff(norm(x)).

    Parameters
    ----------
    dim : int
        Model width.
    heads : int
        Attention heads.
    ff : int
        Hidden units of the feed-forward part.
    dropout : float
        Dropout on attention weights and on both residual branches.
    """

    def __init__(self, dim: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.LayerNorm(dim), SelfAttention(dim, heads, dropout), nn.Dropout(dropout)
        )
        self.feedforward = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, ff),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(ff, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (N, tokens, dim) to (N, tokens, dim)."""
        x = x + self.attention(x)
        return x + self.feedforward(x)


class MeanOverTokens(nn.Module):
    """Average (N, tokens, dim) over the tokens to (N, dim)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the mean over axis 1."""
        return x.mean(dim=1)


class RCAverage(nn.Module):
    """Average a model's logits over each sequence and its reverse complement.

    The reverse complement of ACGT one-hot is a flip of both the channel and the position
    axes. Sequence and reverse complement are interleaved in one batch (row ``2i`` and
    ``2i + 1``), so the wrapped model runs once per call and any first/second half of the
    batch (DeepExplainer's inputs and references) stays a contiguous half.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (N, 4, L) float to (N, T) logits.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (N, 4, L) to the mean of the logits of x and its reverse complement (N, T)."""
        n = x.shape[0]
        both = torch.stack((x, x.flip(1, 2)), dim=1).reshape((2 * n,) + x.shape[1:])
        logits = self.model(both)
        return logits.reshape(n, 2, -1).mean(dim=1)
