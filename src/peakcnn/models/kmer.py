"""k-mer baseline: k-mer frequencies + logistic regression, held as a torch module.

The features are the frequencies of all k-mers in a window (optionally merged with their
reverse complements: canonical k-mers), standardised with the training split's mean and
standard deviation. The logistic regression is fitted by scikit-learn, one per task, with its
inverse regularisation ``C`` chosen on validation AUROC from a grid; the coefficients are
copied into an ``nn.Linear``. The fitted ``KmerBaseline`` maps one-hot float (N, 4, L) to
(N, T) logits like every other model, so it is saved with
``peakcnn.models.networks.save_checkpoint``
and scored with ``peakcnn.models.inference.predict_logits`` without a special case.

k-mers overlapping an unknown base (all-zero column) are not counted; frequencies are counts
divided by the number of counted k-mers of the window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn

from peakcnn.evaluation.multitask import macro_mean

logger = logging.getLogger(__name__)

DEFAULT_C = (0.0001, 0.001, 0.01, 0.1)


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

    Built untrained (zero weights); ``fit_kmer_baseline`` fills it.

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


def fit_kmer_baseline(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    k: int = 6,
    canonical: bool = True,
    C: float | Sequence[float] = DEFAULT_C,
    pos_weight: np.ndarray | None = None,
    max_iter: int = 2000,
    device: torch.device | str = "cpu",
) -> tuple[KmerBaseline, dict]:
    """Fit the k-mer baseline, choosing ``C`` on validation AUROC.

    Parameters
    ----------
    x_train, x_val : numpy.ndarray
        uint8 one-hot (N, 4, L).
    y_train, y_val : numpy.ndarray
        Labels (N, T) in {0, 1}.
    k : int, default 6
        k-mer length.
    canonical : bool, default True
        Merge reverse-complement k-mers.
    C : float or sequence of float, default (0.0001, 0.001, 0.01, 0.1)
        Inverse L2 regularisation of the logistic regression; with several, the one with the
        best mean validation AUROC is kept (ties: the smaller C).
    pos_weight : numpy.ndarray, optional
        Weight of positive windows per task (T,), as in ``BCEWithLogitsLoss``; None = 1.
    max_iter : int, default 2000
        lbfgs iterations.
    device : torch.device or str, default "cpu"
        Where k-mers are counted.

    Returns
    -------
    model : KmerBaseline
        The fitted model, on CPU, in eval mode.
    report : dict
        ``n_features``, ``C`` chosen, the validation AUROC of every ``C`` tried, and the
        training loss (BCE, weighted by ``pos_weight``) of the chosen fit.
    """
    device = torch.device(device)
    length, n_tasks = x_train.shape[2], y_train.shape[1]
    model = KmerBaseline(length, n_tasks, k=k, canonical=canonical)
    features = model.features.to(device)
    train = kmer_features(features, x_train, device)
    val = kmer_features(features, x_val, device)
    features.cpu()
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale[scale < 1e-8] = 1.0
    train, val = (train - mean) / scale, (val - mean) / scale
    grid = sorted({float(C)} if np.isscalar(C) else {float(c) for c in C})
    tried, best = [], None
    for c in grid:
        fits = []
        for task in range(n_tasks):
            labels = y_train[:, task].astype(int)
            if labels.min() == labels.max():
                raise ValueError(f"task {task}: the train split has one class only")
            weight = None
            if pos_weight is not None:
                weight = np.where(labels == 1, float(pos_weight[task]), 1.0)
            fits.append(
                LogisticRegression(C=c, max_iter=max_iter).fit(train, labels, sample_weight=weight)
            )
        scores = np.stack([fit.decision_function(val) for fit in fits], axis=1)
        auroc = macro_mean(roc_auc_score, y_val, scores)
        tried.append({"C": c, "val_auroc": auroc})
        logger.info("k-mer baseline k=%d, C=%g: val AUROC %.4f", k, c, auroc)
        if best is None or auroc > best[0]:
            best = (auroc, c, fits)
    _, chosen, fits = best
    train_logits = torch.from_numpy(np.stack([fit.decision_function(train) for fit in fits], 1))
    train_loss = nn.functional.binary_cross_entropy_with_logits(
        train_logits,
        torch.from_numpy(y_train.astype(np.float64)),
        pos_weight=None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float64),
    )
    with torch.no_grad():
        model.standardize.mean.copy_(torch.from_numpy(mean))
        model.standardize.scale.copy_(torch.from_numpy(scale))
        model.linear.weight.copy_(torch.from_numpy(np.concatenate([f.coef_ for f in fits])))
        model.linear.bias.copy_(torch.from_numpy(np.concatenate([f.intercept_ for f in fits])))
    report = {
        "n_features": features.n_features,
        "C": chosen,
        "C_tried": tried,
        "train_loss": float(train_loss),
    }
    return model.eval(), report
