"""Sequence models, chosen by name (``config.models``); training lives in ``train.py``.

Every torch model maps one-hot float (N, 4, L) to (N, T) logits, one per task. Every activation,
pooling and softmax is its own module (a fresh ``nn.ReLU()`` per use, never in-place, never
functional in ``forward``) so that SHAP's DeepExplainer propagates through each one correctly.

Models:

- ``basset``: the seed Basset-style CNN (64/128/128 filters, kernels 19/11/7, pools 4/4/4).
- ``basset_paper``: the original Basset sizes (300/200/200 filters, kernels 19/11/7, pools
  3/4/4, two dense layers of 1000 units, dropout 0.3).
- ``hybrid``: a CNN front end, then pre-norm multi-head self-attention (transformer encoder)
  blocks over the pooled positions, mean-pooled into a small dense head.
- ``kmer_baseline``: k-mer frequencies and a logistic regression fitted with scikit-learn,
  held as a torch module (``peakcnn.models.kmer``) so that it is saved, loaded and scored like the
  others.

``build_model(..., rc_average=True)`` wraps any of them in ``RCAverage``, which averages the
logits of each sequence and its reverse complement; the flag is stored with the
hyperparameters, so ``load_checkpoint`` rebuilds the wrapper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from peakcnn.models.kmer import KmerBaseline


def _conv_length(length: int, pools: Sequence[int]) -> int:
    """Length after 'same'-padded convolutions followed by max-pools of the given sizes."""
    for pool in pools:
        length //= pool
    return length


def _conv_blocks(
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
        layers = _conv_blocks(filters, kernels, pools, conv_dropout)
        flat = filters[-1] * _conv_length(length, pools)
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
    """Basset with the sizes of the original paper (Kelley et al. 2016).

    300/200/200 filters, kernels 19/11/7, max-pools 3/4/4, no conv dropout, two dense layers
    of 1000 units with dropout 0.3. Any of them can be overridden as in ``Basset``.

    Parameters
    ----------
    length : int
        Input length in bp.
    n_tasks : int, default 1
        Number of outputs.
    filters, kernels, pools, conv_dropout, dense, dense_dropout
        As in ``Basset``, with the paper's values as defaults.
    """

    def __init__(
        self,
        length: int,
        n_tasks: int = 1,
        filters: Sequence[int] = (300, 200, 200),
        kernels: Sequence[int] = (19, 11, 7),
        pools: Sequence[int] = (3, 4, 4),
        conv_dropout: Sequence[float] = (0.0, 0.0, 0.0),
        dense: Sequence[int] = (1000, 1000),
        dense_dropout: float = 0.3,
    ) -> None:
        super().__init__(
            length, n_tasks, filters, kernels, pools, conv_dropout, dense, dense_dropout
        )


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
        tokens = _conv_length(length, pools)
        if tokens <= 0:
            raise ValueError(f"length {length} is too short for pools {list(pools)}")
        dim = filters[-1]
        self.front = nn.Sequential(
            *_conv_blocks(filters, kernels, pools, conv_dropout),
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


MODELS: dict[str, type[nn.Module]] = {
    "basset": Basset,
    "basset_paper": BassetPaper,
    "hybrid": Hybrid,
    "kmer_baseline": KmerBaseline,
}

# The SHAP explainer that suits each model (None: no SHAP attribution). DeepExplainer needs
# every nonlinearity to be its own module with a known DeepLIFT rule; attention multiplies two
# activations, which it has no rule for, so the hybrid takes expected gradients instead. The
# k-mer baseline counts discrete k-mers (not differentiable in the input).
EXPLAINERS: dict[str, str | None] = {
    "basset": "shap.DeepExplainer",
    "basset_paper": "shap.DeepExplainer",
    "hybrid": "shap.GradientExplainer",
    "kmer_baseline": None,
}


def explainer_for(name: str) -> str | None:
    """Return the SHAP explainer that suits a model (``None`` when SHAP does not apply).

    Parameters
    ----------
    name : str
        A key of ``MODELS``.

    Returns
    -------
    str or None
        ``"shap.DeepExplainer"``, ``"shap.GradientExplainer"`` or None; a model registered in
        ``MODELS`` but not in ``EXPLAINERS`` is taken to be a module-built CNN (DeepExplainer).
    """
    _check_name(name)
    return EXPLAINERS.get(name, "shap.DeepExplainer")


def supports_shap(name: str) -> bool:
    """Whether SHAP attributions can be computed for a model (False for ``kmer_baseline``)."""
    return explainer_for(name) is not None


def _check_name(name: str) -> None:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")


def build_model(
    name: str, length: int, n_tasks: int, rc_average: bool = False, **hyperparameters
) -> nn.Module:
    """Build a model by its config name.

    Parameters
    ----------
    name : str
        A key of ``MODELS``.
    length : int
        Input length in bp.
    n_tasks : int
        Number of outputs.
    rc_average : bool, default False
        Wrap the model in ``RCAverage`` (mean logit over both strands).
    **hyperparameters
        Passed to the model's constructor.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        For an unknown model name or a hyperparameter the model does not take.
    """
    _check_name(name)
    try:
        model = MODELS[name](length=length, n_tasks=n_tasks, **hyperparameters)
    except TypeError as error:
        if "unexpected keyword" not in str(error):
            raise
        raise ValueError(
            f"model {name!r} does not take hyperparameter(s) {sorted(hyperparameters)}: {error}"
        ) from None
    return RCAverage(model) if rc_average else model


def save_checkpoint(
    path: str, model: nn.Module, name: str, hyperparameters: dict, extra: dict | None = None
) -> None:
    """Write a checkpoint: the state_dict plus what is needed to rebuild the model.

    Parameters
    ----------
    path : str
        Output file.
    model : torch.nn.Module
        The model as built by ``build_model(name, **hyperparameters)``.
    name : str
        Its ``MODELS`` key.
    hyperparameters : dict
        The keyword arguments of ``build_model`` (``length``, ``n_tasks``, ...).
    extra : dict, optional
        More plain values to store (e.g. the explainer); ignored by ``load_checkpoint``.
    """
    torch.save(
        {
            "name": name,
            "hyperparameters": hyperparameters,
            "state_dict": model.state_dict(),
            **(extra or {}),
        },
        path,
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
