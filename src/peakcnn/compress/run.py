"""Compress one trained model by every asked method and benchmark the results side by side.

``compress_run`` writes, under the output folder:

- ``int8/model.ts``: the int8 TorchScript (``peakcnn.compress.quantize``);
- ``pruned-<sparsity>/model.pt``: each structured-pruned, fine-tuned model
  (``peakcnn.compress.prune``);
- ``distilled/model.pt``: the student (``peakcnn.compress.distil``);
- ``compress.tsv`` / ``compress.png``: the benchmark (``peakcnn.compress.benchmark``);
- ``compress.json``: what each method reported.
"""

from __future__ import annotations

import inspect
import logging
import math
from pathlib import Path

from peakcnn.apply.loading import load_model, resolve_model_path
from peakcnn.compress.benchmark import Candidate, benchmark
from peakcnn.compress.common import load_splits
from peakcnn.compress.distil import distil_model
from peakcnn.compress.prune import prune_model
from peakcnn.compress.quantize import quantize_model
from peakcnn.errors import InputError
from peakcnn.io import write_json
from peakcnn.models.basset import Basset

logger = logging.getLogger(__name__)

#: Compression methods, in the order they run.
METHODS = ("quantize", "prune", "distil")


def scaled_student(hyperparameters: dict, scale: float) -> dict:
    """Return a Basset's size arguments with its filters and dense units times ``scale`` (>= 1).

    Sizes the checkpoint does not list are the Basset defaults it was built with.
    """
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(Basset.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    sizes = {}
    for key in ("filters", "dense"):
        widths = hyperparameters.get(key, defaults[key])
        sizes[key] = [max(1, math.ceil(n * scale)) for n in widths]
    keep = ("kernels", "pools", "conv_dropout", "dense_dropout", "rc_average")
    return {**{k: v for k, v in hyperparameters.items() if k in keep}, **sizes}


def compress_run(
    model: str,
    dataset: str,
    out: str,
    *,
    methods=METHODS,
    sparsities=(0.25, 0.5),
    teachers=(),
    student_scale: float = 0.5,
    student_hyperparameters: dict | None = None,
    distillation: dict | None = None,
    epochs: int = 3,
    distil_epochs: int = 10,
    seed: int = 0,
    n_boot: int = 1000,
    seconds: float = 1.0,
) -> dict:
    """Compress a model by each of ``methods`` and benchmark everything on the test split.

    Parameters
    ----------
    model : str
        The ``model.pt`` or run folder of a Basset-style model.
    dataset : str
        The run's dataset folder (``train.npz``, ``val.npz``, ``test.npz``).
    out : str
        Output folder (created).
    methods : iterable of str
        Among ``METHODS``.
    sparsities : iterable of float
        Pruning levels (share of filters removed per conv layer).
    teachers : iterable of str
        More teacher models for distillation (an ensemble with ``model``).
    student_scale : float, default 0.5
        Student size relative to ``model`` (filters and dense units), unless
        ``student_hyperparameters`` are given.
    student_hyperparameters : dict, optional
        The student Basset's arguments.
    distillation : dict, optional
        ``alpha``, ``temperature``, ``soft`` of ``peakcnn.compress.distil.distil_model``.
    epochs, distil_epochs : int
        Fine-tuning epochs after pruning; distillation epochs.
    seed, n_boot, seconds
        Seed, bootstrap resamples, seconds per throughput measurement.

    Returns
    -------
    dict
        Per method its report, and ``table``: the benchmark rows.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise InputError(f"unknown compression method(s) {unknown}; choose among {METHODS}")
    path = str(resolve_model_path(model))
    original = load_model(path, data_hash=True)
    splits = load_splits(dataset, original.length)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    candidates = [Candidate("original", path)]
    report: dict = {"model": path, "dataset": dataset}
    if "quantize" in methods:
        target = folder / "int8" / "model.ts"
        target.parent.mkdir(exist_ok=True)
        report["quantize"] = quantize_model(
            original, splits.x["train"], str(target), splits.x["val"], seed=seed
        )
        candidates.append(Candidate("int8", str(target), "quantize", "int8"))
    if "prune" in methods:
        report["prune"] = []
        for sparsity in sparsities:
            target = folder / f"pruned-{sparsity:g}" / "model.pt"
            target.parent.mkdir(exist_ok=True)
            result = prune_model(original, splits, sparsity, str(target), epochs=epochs, seed=seed)
            report["prune"].append(result)
            candidates.append(Candidate(target.parent.name, str(target), "prune", f"{sparsity:g}"))
    if "distil" in methods:
        target = folder / "distilled" / "model.pt"
        target.parent.mkdir(exist_ok=True)
        ensemble = [original] + [load_model(str(resolve_model_path(t))) for t in teachers]
        student = student_hyperparameters or scaled_student(
            original.metadata.hyperparameters, student_scale
        )
        report["distil"] = distil_model(
            ensemble,
            splits,
            str(target),
            student_hyperparameters=student,
            epochs=distil_epochs,
            seed=seed,
            **(distillation or {}),
        )
        level = f"{len(ensemble)} teacher(s), scale {student_scale:g}"
        candidates.append(Candidate("distilled", str(target), "distil", level))
    table = benchmark(
        candidates,
        splits.x["test"],
        splits.y["test"],
        str(folder / "compress.tsv"),
        str(folder / "compress.png"),
        n_boot=n_boot,
        seed=seed,
        seconds=seconds,
    )
    report["table"] = table.to_dict(orient="records")
    write_json(str(folder / "compress.json"), report)
    return report


def compress_from_settings(model: str, dataset: str, out: str, settings: dict, teachers=()) -> dict:
    """Run ``compress_run`` with the workflow's ``compress`` config section.

    Parameters
    ----------
    model, dataset, out : str
        As for ``compress_run``.
    settings : dict
        The section's keys (config/config.yaml): ``methods``, ``sparsity``, ``epochs``,
        ``student_scale``, ``student``, ``alpha``, ``temperature``, ``soft_loss``,
        ``distil_epochs``, ``seed``, ``bootstrap``, ``time``; others are ignored
        (``teachers`` arrive as files).
    teachers : iterable of str
        The ``model.pt`` of each more teacher.

    Returns
    -------
    dict
        ``compress_run``'s report.
    """
    return compress_run(
        model,
        dataset,
        out,
        methods=settings["methods"],
        sparsities=settings["sparsity"],
        teachers=teachers,
        student_scale=settings["student_scale"],
        student_hyperparameters=settings["student"],
        distillation={
            "alpha": settings["alpha"],
            "temperature": settings["temperature"],
            "soft": settings["soft_loss"],
        },
        epochs=settings["epochs"],
        distil_epochs=settings["distil_epochs"],
        seed=settings["seed"],
        n_boot=settings["bootstrap"],
        seconds=settings["time"],
    )
