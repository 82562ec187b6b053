"""Export a trained model to TorchScript and ONNX, with its metadata, checked against PyTorch.

Both files carry ``ModelMetadata`` (window length, tasks, alphabet order, validation
thresholds, strand averaging, training data hash) as JSON under ``METADATA_KEY``: a TorchScript
extra file, an ONNX ``metadata_props`` entry. Each export is run on the same check windows as
the PyTorch model and the largest absolute logit difference is reported (and must stay within
``TOLERANCE``); nothing is written unless both pass.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch

from peakcnn.apply.loading import METADATA_KEY, LoadedModel, load_model
from peakcnn.errors import InputError
from peakcnn.io import atomic_path, write_json

logger = logging.getLogger(__name__)

#: Largest absolute logit difference accepted between an export and the PyTorch model.
TOLERANCE = 1e-4
#: ONNX opset of the export.
OPSET = 17


def check_windows(length: int, n: int = 64, seed: int = 0) -> np.ndarray:
    """Random one-hot windows (n, 4, length) uint8, a tenth of the bases N (all-zero)."""
    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 4, (n, length))
    x = np.eye(4, dtype=np.uint8)[bases].transpose(0, 2, 1).copy()
    x[:, :, rng.random(length) < 0.1] = 0
    return x


def _torchscript(network: torch.nn.Module, example: torch.Tensor, how: str):
    """Compile a model to TorchScript by scripting (keeps the batch size free) or tracing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.script(network) if how == "script" else torch.jit.trace(network, example)


def _write_torchscript(
    network: torch.nn.Module, example: torch.Tensor, path: str, meta: str, how: str
) -> None:
    """Save the model as TorchScript with the metadata as an extra file."""
    _torchscript(network, example, how).save(path, _extra_files={METADATA_KEY: meta})


def _write_onnx(
    network: torch.nn.Module, example: torch.Tensor, path: str, meta: str, how: str
) -> None:
    """Export to ONNX (batch axis dynamic) from a trace or a script, and add the metadata."""
    import onnx

    module = network if how == "trace" else _torchscript(network, example, "script")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            path,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load(path)
    graph.metadata_props.add(key=METADATA_KEY, value=meta)
    graph.doc_string = "peakcnn model: input x float (batch, 4, length) one-hot ACGT; logits"
    onnx.save(graph, path)


#: Ways to write each format, tried in order until one matches PyTorch on the check windows
#: (tracing fixes the batch size of models that build tensors from ``len(x)``).
WRITERS = {
    "ts": (_write_torchscript, ("script", "trace")),
    "onnx": (_write_onnx, ("trace", "script")),
}


def _write_checked(
    kind: str, network, path: str, meta: str, x: np.ndarray, expected: np.ndarray, tolerance
) -> tuple[str, float]:
    """Write one export by the first way that matches PyTorch; return the way and the diff."""
    write, ways = WRITERS[kind]
    example = torch.zeros(2, 4, x.shape[2])
    failures = []
    for how in ways:
        try:
            write(network, example, path, meta, how)
            difference = float(np.abs(load_model(path).logits(x) - expected).max())
        except Exception as error:  # noqa: BLE001 - try the next way, report all
            failures.append(f"{how}: {type(error).__name__}: {str(error).splitlines()[0]}")
            continue
        if difference <= tolerance:
            return how, difference
        failures.append(f"{how}: max |logit difference| {difference:.3g} > {tolerance:g}")
    raise RuntimeError(f"no {kind} export matches the PyTorch model ({'; '.join(failures)})")


def export_model(
    model: LoadedModel, prefix: str, *, check_n: int = 64, tolerance: float = TOLERANCE
) -> dict:
    """Write ``<prefix>.ts``, ``<prefix>.onnx`` and ``<prefix>.export.json``.

    Parameters
    ----------
    model : LoadedModel
        A model loaded from a checkpoint (``model.pt``).
    prefix : str
        Output path without suffix.
    check_n : int, default 64
        Check windows (random, with N) on which the exports must match PyTorch.
    tolerance : float, default ``TOLERANCE``
        Largest absolute logit difference accepted.

    Returns
    -------
    dict
        The report written to ``<prefix>.export.json``: metadata, files, and the largest
        absolute logit difference of each export against PyTorch.
    """
    if model.kind != "checkpoint":
        raise InputError(
            f"is already a {model.kind} export; export from the run's model.pt", model.source
        )
    network = model.network.cpu().eval()
    meta = model.metadata.to_json()
    x = check_windows(model.length, check_n)
    with torch.no_grad():
        expected = network(torch.from_numpy(x).float()).numpy()
    paths = {kind: f"{prefix}.{kind}" for kind in WRITERS}
    report = {
        "metadata": dataclasses.asdict(model.metadata),
        "source": model.source,
        "check_windows": check_n,
        "tolerance": tolerance,
    }
    with ExitStack() as stack:
        for kind, path in paths.items():
            tmp = stack.enter_context(atomic_path(path))
            how, difference = _write_checked(kind, network, tmp, meta, x, expected, tolerance)
            report[f"max_abs_diff_{kind}"] = difference
            report[f"{kind}_from"] = how
            logger.info(
                "%s export (%s): max |logit difference| to PyTorch %.3g on %d windows",
                kind,
                how,
                difference,
                check_n,
            )
        report["files"] = {kind: Path(path).name for kind, path in paths.items()}
        write_json(f"{prefix}.export.json", report)
    return report
