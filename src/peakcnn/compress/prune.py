"""Structured magnitude pruning of a Basset: whole conv filters out, a smaller model rebuilt.

Each conv layer keeps the ``1 - sparsity`` share of its filters (at least one) with the largest
magnitude, measured as the L1 norm of the filter's weights times its BatchNorm scale
``|gamma| / sqrt(running_var + eps)`` (a filter whose output BatchNorm shrinks to nothing
matters little, whatever its weights). The model is then rebuilt with fewer filters: the next
conv layer's input channels and the first dense layer's input features (channel-major after
the flatten) are cut to match, so the pruned model is genuinely smaller and faster, not a dense
model full of zeros. A short fine-tune on the training windows (best epoch on validation)
recovers the accuracy lost. The result is a normal ``model.pt`` with the new ``filters``
hyperparameter: evaluation, SHAP and export take it unchanged. It carries its task names, a
calibration refitted on its validation logits and thresholds (``peakcnn.compress.standalone``),
so it stands alone outside the run folder.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from peakcnn.apply.loading import LoadedModel
from peakcnn.compress.common import Splits, basset_core, fit
from peakcnn.compress.standalone import standalone_extras
from peakcnn.errors import InputError
from peakcnn.models.checkpoint import save_checkpoint
from peakcnn.models.registry import build_model


def filter_scores(conv: nn.Conv1d, norm: nn.BatchNorm1d) -> torch.Tensor:
    """Magnitude of each filter: L1 norm of its weights times its BatchNorm scale."""
    scale = norm.weight.abs() / torch.sqrt(norm.running_var + norm.eps)
    return conv.weight.abs().sum(dim=(1, 2)) * scale


def kept_filters(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Return the indices (ascending) of the ``ceil((1 - sparsity) * n)`` largest scores (>= 1)."""
    keep = max(1, math.ceil((1.0 - sparsity) * len(scores)))
    return torch.sort(torch.topk(scores, keep).indices).values


def _conv_pairs(layers: nn.Sequential) -> list[tuple[nn.Conv1d, nn.BatchNorm1d]]:
    """Return the (Conv1d, BatchNorm1d) pairs of a Basset's layers, in order."""
    modules = list(layers)
    return [(m, modules[i + 1]) for i, m in enumerate(modules) if isinstance(m, nn.Conv1d)]


@torch.no_grad()
def _copy_pruned(old: nn.Sequential, new: nn.Sequential, keeps: list[torch.Tensor]) -> None:
    """Copy the kept filters' weights from ``old`` layers into the smaller ``new`` layers."""
    previous = torch.arange(4)
    for (conv, norm), (small_conv, small_norm), keep in zip(
        _conv_pairs(old), _conv_pairs(new), keeps, strict=True
    ):
        small_conv.weight.copy_(conv.weight[keep][:, previous])
        small_conv.bias.copy_(conv.bias[keep])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(small_norm, name).copy_(getattr(norm, name)[keep])
        small_norm.num_batches_tracked.copy_(norm.num_batches_tracked)
        previous = keep
    old_linear = [m for m in old if isinstance(m, nn.Linear)]
    new_linear = [m for m in new if isinstance(m, nn.Linear)]
    first, small_first = old_linear[0], new_linear[0]
    positions = first.in_features // len(_conv_pairs(old)[-1][0].weight)
    weight = first.weight.reshape(first.out_features, -1, positions)[:, previous]
    small_first.weight.copy_(weight.reshape(first.out_features, -1))
    small_first.bias.copy_(first.bias)
    for big, small in zip(old_linear[1:], new_linear[1:], strict=True):
        small.load_state_dict(big.state_dict())


def prune_network(
    model: nn.Module, name: str, hyperparameters: dict, sparsity: float, source: str = "model"
) -> tuple[nn.Module, dict]:
    """Remove the ``sparsity`` share of each conv layer's filters and rebuild a smaller model.

    Parameters
    ----------
    model : torch.nn.Module
        A trained ``Basset``/``BassetPaper`` (possibly in ``RCAverage``); left unchanged.
    name : str
        Its ``MODELS`` key.
    hyperparameters : dict
        Its ``build_model`` arguments.
    sparsity : float
        Share of filters removed per conv layer, in [0, 1).
    source : str
        Names the model in errors.

    Returns
    -------
    model : torch.nn.Module
        The smaller model, built by ``build_model(name, **hyperparameters)`` (new ``filters``).
    hyperparameters : dict
    """
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"pruning sparsity {sparsity} must be in [0, 1)")
    core, _ = basset_core(model, source)
    keeps = [kept_filters(filter_scores(c, n), sparsity) for c, n in _conv_pairs(core.layers)]
    pruned_hyper = {**hyperparameters, "filters": [len(keep) for keep in keeps]}
    pruned = build_model(name, **pruned_hyper)
    small_core, _ = basset_core(pruned, source)
    _copy_pruned(core.layers.cpu(), small_core.layers, keeps)
    return pruned.eval(), pruned_hyper


def count_parameters(model: nn.Module) -> int:
    """Count the parameters (weights and biases) of a torch module."""
    return sum(p.numel() for p in model.parameters())


def prune_model(
    loaded: LoadedModel,
    splits: Splits,
    sparsity: float,
    path: str,
    *,
    epochs: int = 3,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict:
    """Prune a loaded checkpoint, fine-tune it and save it as a ``model.pt``.

    Parameters
    ----------
    loaded : LoadedModel
        A model loaded from a ``model.pt``.
    splits : Splits
        Train and val windows of the model's run (``peakcnn.compress.common.load_splits``).
    sparsity : float
        Share of filters removed per conv layer.
    path : str
        The ``model.pt`` to write.
    epochs, lr, seed
        Fine-tuning epochs (best on validation AUROC, epoch 0 = not fine-tuned), Adam
        learning rate and shuffle seed.

    Returns
    -------
    dict
        ``sparsity``, ``filters`` before and after, parameter counts, validation AUROC right
        after pruning and after fine-tuning, the refitted ``calibration`` and ``thresholds``,
        ``path``.
    """
    if loaded.kind != "checkpoint":
        raise InputError(f"is a {loaded.kind} file; prune the run's model.pt", loaded.source)
    meta = loaded.metadata
    torch.manual_seed(seed)
    pruned, hyper = prune_network(
        loaded.network, meta.name, meta.hyperparameters, sparsity, loaded.source
    )
    pruned, history = fit(pruned, splits, epochs, lr=lr, seed=seed)
    extras = standalone_extras(pruned, meta.name, splits, loaded)
    save_checkpoint(path, pruned, meta.name, hyper, extras)
    best = max(history, key=lambda row: np.nan_to_num(row["val_auroc"], nan=-1.0))
    return {
        "sparsity": sparsity,
        "filters_before": list(meta.hyperparameters.get("filters", [])),
        "filters_after": hyper["filters"],
        "parameters_before": count_parameters(loaded.network),
        "parameters_after": count_parameters(pruned),
        "val_auroc_pruned": history[0]["val_auroc"],
        "val_auroc_fine_tuned": best["val_auroc"],
        "best_epoch": best["epoch"],
        "calibration": extras["calibration"],
        "thresholds": extras["thresholds"],
        "path": path,
    }
