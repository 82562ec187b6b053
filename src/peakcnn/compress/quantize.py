"""Int8 post-training static quantization of a Basset-style CNN, written as TorchScript.

Eager-mode ``torch.ao.quantization`` (the one static-quantization API that ships with torch
2.13 itself; the pt2e export flow now lives in the separate ``torchao`` package): each
Conv1d → BatchNorm1d → ReLU and Linear → ReLU is fused into one int8 module, observers
(histogram for activations, per-channel min/max for weights) are calibrated on training
windows, and the model is converted to int8 kernels (``x86``/fbgemm, else ``qnnpack``). Max
pooling, flattening and dropout run on the int8 tensors as they are; strand averaging
(``RCAverage``) stays in float around the quantized network.

The result is a TorchScript ``.ts`` file with the same ``peakcnn.json`` metadata as
``peakcnn export`` writes, so ``peakcnn.apply.loading.load_model`` loads it and predict, scan
and variants take it. Its ``hyperparameters`` carry ``quantized: "int8"`` and
``inference_only: true``, and ``QUANTIZED_KEY`` is a second extra file saying so. A quantized
model is for inference only: it has no gradients, so SHAP/DeepLIFT cannot explain it; explain
the float model it came from.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings

import numpy as np
import torch
from torch import nn

from peakcnn.apply.loading import METADATA_KEY, LoadedModel
from peakcnn.compress.common import basset_core
from peakcnn.errors import InputError
from peakcnn.io import atomic_path
from peakcnn.models.layers import RCAverage

logger = logging.getLogger(__name__)

#: Extra file of the TorchScript archive that marks a quantized, inference-only model.
QUANTIZED_KEY = "peakcnn.quantized.json"
#: Training windows the activation ranges are calibrated on, at most (a seeded random subset).
CALIBRATION_WINDOWS = 2048
#: Backends tried in order (the first that this torch build supports is used).
BACKENDS = ("x86", "fbgemm", "qnnpack")


class QuantizableBasset(nn.Module):
    """A Basset's layers between a quantize and a dequantize stub (float in, float out)."""

    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.layers = layers
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map one-hot (N, 4, L) float to logits (N, T) float through the int8 layers."""
        return self.dequant(self.layers(self.quant(x)))


def backend() -> str:
    """Return the first of ``BACKENDS`` that this torch build supports."""
    engines = torch.backends.quantized.supported_engines
    for name in BACKENDS:
        if name in engines:
            return name
    raise RuntimeError(f"this torch build has no int8 CPU backend (engines: {engines})")


def fusion_groups(layers: nn.Sequential) -> list[list[str]]:
    """Names of the Conv1d+BatchNorm1d+ReLU and Linear+ReLU runs of a Sequential, to fuse."""
    modules = list(layers)
    groups = []
    for i, module in enumerate(modules):
        following = [type(m) for m in modules[i + 1 : i + 3]]
        if isinstance(module, nn.Conv1d) and following == [nn.BatchNorm1d, nn.ReLU]:
            groups.append([str(i), str(i + 1), str(i + 2)])
        elif isinstance(module, nn.Linear) and following[:1] == [nn.ReLU]:
            groups.append([str(i), str(i + 1)])
    return groups


def explicit_padding(layers: nn.Sequential, source: str) -> None:
    """Replace each ``padding="same"`` Conv1d by the same conv with integer padding, in place.

    The int8 conv kernels take integer padding only; for an odd kernel ``k``, 'same' is
    ``(k - 1) // 2`` on both sides, so the outputs are unchanged.
    """
    for i, module in enumerate(layers):
        if not isinstance(module, nn.Conv1d) or module.padding != "same":
            continue
        (kernel,) = module.kernel_size
        if kernel % 2 == 0 or module.dilation != (1,):
            raise InputError(
                f"has a conv of even kernel {kernel} or dilation {module.dilation}: its 'same' "
                "padding is uneven, which the int8 kernels cannot do; use odd kernels",
                source,
            )
        conv = nn.Conv1d(module.in_channels, module.out_channels, kernel, padding=(kernel - 1) // 2)
        conv.load_state_dict(module.state_dict())
        layers[i] = conv.eval()


def quantize_network(
    model: nn.Module, calibration: np.ndarray, source: str = "model", batch_size: int = 256
) -> nn.Module:
    """Return an int8 copy of a float Basset, calibrated on one-hot windows.

    Parameters
    ----------
    model : torch.nn.Module
        A ``Basset`` (or ``BassetPaper``), possibly wrapped in ``RCAverage``; left unchanged.
    calibration : numpy.ndarray of uint8, shape (n, 4, L)
        Windows the activation ranges are observed on (training windows).
    source : str
        Names the model in errors.
    batch_size : int, default 256

    Returns
    -------
    torch.nn.Module
        Float in, float out, int8 inside; in eval mode, on the CPU.
    """
    core, wrapped = basset_core(model, source)
    if len(calibration) == 0:
        raise InputError("no calibration windows (the training split is empty)", source)
    engine = backend()
    torch.backends.quantized.engine = engine
    network = QuantizableBasset(copy.deepcopy(core.layers).cpu().eval())
    explicit_padding(network.layers, source)
    torch.ao.quantization.fuse_modules(network.layers, fusion_groups(network.layers), inplace=True)
    network.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # observer and deprecation notices
        torch.ao.quantization.prepare(network, inplace=True)
        with torch.no_grad():
            x = torch.from_numpy(calibration)
            for first in range(0, len(x), batch_size):
                network(x[first : first + batch_size].float())
        torch.ao.quantization.convert(network, inplace=True)
    network = network.eval()
    return RCAverage(network).eval() if wrapped else network


def quantize_model(
    loaded: LoadedModel,
    calibration: np.ndarray,
    path: str,
    check: np.ndarray | None = None,
    *,
    max_windows: int = CALIBRATION_WINDOWS,
    seed: int = 0,
) -> dict:
    """Quantize a loaded checkpoint to int8 and write it as TorchScript with its metadata.

    Parameters
    ----------
    loaded : LoadedModel
        A model loaded from a ``model.pt`` (``peakcnn.apply.loading.load_model``).
    calibration : numpy.ndarray of uint8, shape (n, 4, L)
        Training windows to calibrate the activation ranges on.
    path : str
        The ``.ts`` file to write.
    check : numpy.ndarray of uint8, optional
        Windows on which the int8 and float logits are compared (default: ``calibration``).
    max_windows, seed : int
        At most ``max_windows`` of the calibration windows are used, drawn with ``seed``.

    Returns
    -------
    dict
        ``backend``, ``calibration_windows``, ``max_abs_diff`` and ``spearman`` (int8 vs float
        logits on the check windows, over all tasks), ``path``.
    """
    if loaded.kind != "checkpoint":
        raise InputError(f"is a {loaded.kind} file; quantize the run's model.pt", loaded.source)
    if len(calibration) > max_windows:
        rows = np.random.default_rng(seed).choice(len(calibration), max_windows, replace=False)
        calibration = calibration[np.sort(rows)]
    network = quantize_network(loaded.network.cpu(), calibration, loaded.source)
    metadata = copy.deepcopy(loaded.metadata)
    metadata.hyperparameters = {
        **metadata.hyperparameters,
        "quantized": "int8",
        "inference_only": True,
    }
    flag = {"quantized": "int8", "inference_only": True, "backend": backend()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(network)
    extra = {METADATA_KEY: metadata.to_json(), QUANTIZED_KEY: json.dumps(flag)}
    with atomic_path(path) as tmp:
        scripted.save(tmp, _extra_files=extra)
    windows = calibration if check is None else check
    agreement = logit_agreement(loaded.network.cpu(), network, windows)
    logger.info(
        "int8 model %s (%s): max |logit difference| %.3g, Spearman %.4f on %d windows",
        path,
        flag["backend"],
        agreement["max_abs_diff"],
        agreement["spearman"],
        len(windows),
    )
    return {**flag, "calibration_windows": len(calibration), **agreement, "path": path}


def logit_agreement(reference: nn.Module, other: nn.Module, x: np.ndarray) -> dict:
    """Largest absolute difference and Spearman correlation of two models' logits on ``x``."""
    from scipy.stats import spearmanr

    with torch.no_grad():
        a = reference.eval()(torch.from_numpy(x).float()).numpy().ravel()
        b = other.eval()(torch.from_numpy(x).float()).numpy().ravel()
    return {
        "max_abs_diff": float(np.abs(a - b).max()),
        "spearman": float(spearmanr(a, b).statistic) if len(a) > 1 else float("nan"),
    }


def is_quantized(path: str) -> bool:
    """Whether a model file is an int8 TorchScript written by ``quantize_model``."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith(f"extra/{QUANTIZED_KEY}") for name in archive.namelist())
