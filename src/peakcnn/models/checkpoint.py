"""Model checkpoints (``model.pt``): the state_dict plus what is needed to rebuild the model.

A checkpoint is a dict with ``name`` (the ``MODELS`` key), ``hyperparameters`` (the keyword
arguments of ``build_model``: ``length``, ``n_tasks``, ``rc_average``, ...), ``state_dict`` and
any plain extras (``explainer``, ``calibration``, the k-mer fit); it is read with
``weights_only=True``, so it holds tensors and plain values only.
"""

from __future__ import annotations

import torch
from torch import nn

from peakcnn.errors import InputError
from peakcnn.models.registry import build_model


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


def read_checkpoint(path: str, device: torch.device | str = "cpu") -> dict:
    """Read a checkpoint's dict; an exported or int8 TorchScript file is refused with the fix.

    Raises
    ------
    InputError
        If ``path`` is a TorchScript archive (inference only) rather than a ``model.pt``.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except RuntimeError as error:
        if "TorchScript" not in str(error):
            raise
        raise InputError(
            "a TorchScript model (an export, or an int8 model of peakcnn compress) is for "
            "inference only; explain the float model.pt it was made from",
            path=path,
        ) from None


def model_from_checkpoint(checkpoint: dict, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the model of a checkpoint dict (``read_checkpoint``), in eval mode on ``device``."""
    model = build_model(checkpoint["name"], **checkpoint["hyperparameters"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


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
    return model_from_checkpoint(read_checkpoint(path, device), device)
