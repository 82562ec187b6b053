"""k-mer baseline: k-mer frequencies + logistic regression, held as a torch module.

The features are the frequencies of all k-mers in a window (optionally merged with their
reverse complements: canonical k-mers), standardised with the training split's mean and
standard deviation. The logistic regression is fitted by scikit-learn, one per task, with its
inverse regularisation ``C`` chosen on validation AUROC from a grid
(``peakcnn.training.kmer_fit``); the coefficients are copied into an ``nn.Linear``. The fitted
``KmerBaseline`` maps one-hot float (N, 4, L) to (N, T) logits like every other model, so it is
saved with ``peakcnn.models.checkpoint.save_checkpoint`` and scored with
``peakcnn.models.inference.predict_logits`` without a special case.

k-mers overlapping an unknown base (all-zero column) are not counted; frequencies are counts
divided by the number of counted k-mers of the window.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def canonical_index(k: int) -> tuple[np.ndarray, int]:
    """Map every k-mer id to the id of its canonical (reverse-complement-merged) class.

    k-mer ids are base-4 numbers, first base most significant (A=0, C=1, G=2, T=3). A k-mer and
    its reverse complement get the same class; classes are numbered in order of their smaller
    k-mer id.

    Parameters
    ----------
    k : int
        k-mer length.

    Returns
    -------
    index : numpy.ndarray
        int64 (4**k,), class of each k-mer.
    n_classes : int
        Number of classes.
    """
    ids = np.arange(4**k)
    powers = 4 ** np.arange(k)[::-1]
    digits = (ids[:, None] // powers) % 4
    reverse_complement = ((3 - digits[:, ::-1]) * powers).sum(axis=1)
    canonical = np.minimum(ids, reverse_complement)
    classes, index = np.unique(canonical, return_inverse=True)
    return index.astype(np.int64), len(classes)


class KmerFrequencies(nn.Module):
    """k-mer frequencies of one-hot sequences: (N, 4, L) float to (N, F) float.

    Parameters
    ----------
    k : int
        k-mer length.
    canonical : bool
        Merge each k-mer with its reverse complement (F = number of classes) or not (4**k).
    """

    def __init__(self, k: int, canonical: bool) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, not {k}")
        self.k = k
        if canonical:
            index, self.n_features = canonical_index(k)
        else:
            index, self.n_features = np.arange(4**k), 4**k
        self.register_buffer("index", torch.from_numpy(index), persistent=False)
        self.register_buffer("powers", 4 ** torch.arange(k - 1, -1, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the k-mer frequencies of one-hot ``x``, float32 (N, F)."""
        known = x.sum(dim=1) > 0.5
        codes = x.argmax(dim=1)
        ids = (codes.unfold(1, self.k, 1) * self.powers).sum(dim=-1)
        counted = known.unfold(1, self.k, 1).all(dim=-1).float()
        counts = torch.zeros(len(x), self.n_features, device=x.device)
        counts.scatter_add_(1, self.index[ids], counted)
        return counts / counted.sum(dim=1, keepdim=True).clamp(min=1.0)


class Standardize(nn.Module):
    """Subtract a mean and divide by a scale, feature by feature (buffers, fitted outside).

    Parameters
    ----------
    n_features : int
        Number of features.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(x - mean) / scale``."""
        return (x - self.mean) / self.scale


class KmerBaseline(nn.Module):
    """k-mer frequencies → standardisation → linear logits (a fitted logistic regression).

    Built untrained (zero weights); ``peakcnn.training.kmer_fit.fit_kmer_baseline`` fills it.

    Parameters
    ----------
    length : int
        Input length in bp (at least ``k``).
    n_tasks : int, default 1
        Number of outputs.
    k : int, default 6
        k-mer length.
    canonical : bool, default True
        Merge each k-mer with its reverse complement.
    """

    def __init__(self, length: int, n_tasks: int = 1, k: int = 6, canonical: bool = True) -> None:
        super().__init__()
        if length < k:
            raise ValueError(f"length {length} is shorter than k = {k}")
        self.features = KmerFrequencies(k, canonical)
        self.standardize = Standardize(self.features.n_features)
        self.linear = nn.Linear(self.features.n_features, n_tasks)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map one-hot sequences (N, 4, L) float to logits (N, n_tasks)."""
        return self.linear(self.standardize(self.features(x.float())))


@torch.no_grad()
def kmer_features(
    features: nn.Module, x: np.ndarray | torch.Tensor, device: torch.device, batch_size: int = 512
) -> np.ndarray:
    """Compute k-mer features of uint8 one-hot sequences, a batch at a time on ``device``.

    Parameters
    ----------
    features : torch.nn.Module
        A ``KmerFrequencies`` module on ``device``.
    x : numpy.ndarray or torch.Tensor
        uint8 (N, 4, L).
    device : torch.device
        Where the batches are computed.
    batch_size : int, default 512

    Returns
    -------
    numpy.ndarray
        float64 (N, F).
    """
    x = torch.as_tensor(x)
    parts = [
        features(x[i : i + batch_size].to(device).float()).cpu().double()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts).numpy() if parts else np.zeros((0, features.n_features))
