"""Ensembles of trained models (e.g. the fold models of ``split.folds``) scored as one model.

An ``Ensemble`` has the interface of ``peakcnn.apply.loading.LoadedModel`` that ``peakcnn
predict``, ``scan`` and ``variants`` use (``length``, ``tasks``, ``metadata``, ``scores``), so
they take one model or several alike. What is averaged, for each window and task:

- probabilities: the mean of the members' calibrated probabilities, each member with its own
  calibration (as the seed ensembles of ``peakcnn.evaluation.candidates`` average
  probabilities);
- logits: the mean of the members' raw logits, so a variant's ``logit_difference`` is the mean
  of the members' own ``logit_difference`` (differences are linear);
- the threshold of each task (``scan`` calls): the mean of the members' validation thresholds
  (calibrated probabilities share one scale), unless ``--threshold`` or ``--metrics`` is given.

Members are given as model files or run folders, an ``ensemble.json`` (written by the
workflow's ``fold_ensemble`` rule: member ``model.pt`` files with their SHA-256), or a folder
holding one. Exporting an ensemble is not supported: export each member.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from peakcnn.apply.loading import (
    LoadedModel,
    ModelMetadata,
    file_sha256,
    load_model,
    thresholds_from_metrics,
)
from peakcnn.apply.scores import WindowScores, strand_logits
from peakcnn.errors import InputError
from peakcnn.io import write_json

logger = logging.getLogger(__name__)

#: File listing the members of an ensemble (``results/<dataset>/folds/<model>/ensemble.json``).
ENSEMBLE_FILE = "ensemble.json"


@dataclass
class Ensemble:
    """Models scored together: means over members (see the module docstring).

    Attributes
    ----------
    members : list of LoadedModel
        Two or more models with the same window length and tasks.
    metadata : ModelMetadata
        ``name``, ``length``, ``tasks`` and ``thresholds`` of the ensemble; no calibration of
        its own (each member keeps its own).
    source : str
        What it was loaded from (for messages).
    """

    members: list[LoadedModel]
    metadata: ModelMetadata
    source: str
    kind: str = "ensemble"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def length(self) -> int:
        """Window length in bp."""
        return self.metadata.length

    @property
    def tasks(self) -> list[str]:
        """Output (task) names."""
        return self.metadata.tasks

    def logits(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Mean of the members' raw logits (n, T) of uint8 one-hot windows (n, 4, length)."""
        return np.mean([member.logits(x, batch_size) for member in self.members], axis=0)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Refused: an ensemble's probabilities are not a function of its mean logits."""
        raise TypeError(
            "an ensemble's probabilities are the mean of its members' calibrated probabilities; "
            "use scores(x) instead of probabilities(logits)"
        )

    def scores(self, x: np.ndarray, both_strands: bool = False) -> WindowScores:
        """Mean logits and mean calibrated probabilities over members, and each member's."""
        logits = np.stack([strand_logits(member, x, both_strands) for member in self.members])
        probabilities = np.stack(
            [member.probabilities(part) for member, part in zip(self.members, logits, strict=True)]
        )
        return WindowScores(
            logits.mean(axis=0).astype(np.float32),
            probabilities.mean(axis=0),
            logits,
            probabilities,
        )


def read_ensemble_file(path: Path) -> list[Path]:
    """Member model files of an ``ensemble.json``, each checked against its SHA-256."""
    try:
        listed = json.loads(path.read_text())["members"]
        members = [
            (Path(os.path.normpath(path.parent / entry["path"])), entry["sha256"])
            for entry in listed
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"not an ensemble file ({error!r}); rebuild it with snakemake", str(path)
        ) from None
    for member, digest in members:
        if not member.exists() or file_sha256(member) != digest:
            raise InputError(
                f"member {member} is missing or changed since the ensemble was built; rebuild "
                "it (snakemake results/<dataset>/folds/<model>/ensemble.json)",
                str(path),
            )
    return [member for member, _ in members]


def _folds_folder_members(folder: Path) -> list[Path]:
    """Return the fold models beside a ``results/<dataset>/folds`` folder (of one model)."""
    runs = sorted(folder.parent.glob("fold[0-9]*/models/*/model.pt"))
    models = sorted({run.parent.name for run in runs})
    if len(models) != 1:
        raise InputError(
            f"the fold runs beside it hold the models {models}; give one model's "
            f"{folder}/<model>/{ENSEMBLE_FILE}, or its fold run folders "
            f"({folder.parent}/fold*/models/<model>)",
            str(folder),
        )
    return runs


def ensemble_members(paths: list[str]) -> tuple[list[Path], bool]:
    """Model files named by ``paths``, and whether they form an ensemble.

    Parameters
    ----------
    paths : list of str
        Model files, run folders, ``ensemble.json`` files or folders holding one, or a
        ``results/<dataset>/folds`` folder whose fold runs hold one model.

    Returns
    -------
    list of pathlib.Path
        Member model files (a run folder stays a folder: ``load_model`` resolves it).
    bool
        True for several models or an ensemble file/folder.
    """
    members: list[Path] = []
    ensemble = len(paths) > 1
    for text in paths:
        path = Path(text)
        if path.is_dir() and (path / ENSEMBLE_FILE).exists():
            path = path / ENSEMBLE_FILE
        if path.name == ENSEMBLE_FILE and path.is_file():
            members += read_ensemble_file(path)
            ensemble = True
        elif path.is_dir() and not (path / "model.pt").exists() and path.name == "folds":
            members += _folds_folder_members(path)
            ensemble = True
        else:
            members.append(path)
    return members, ensemble


def check_members(members: list[LoadedModel]) -> None:
    """Raise ``InputError`` unless every member has the first one's window length and tasks."""
    first = members[0]
    for member in members[1:]:
        if member.length != first.length:
            raise InputError(
                f"ensemble members disagree on the window length: {first.source} takes "
                f"{first.length} bp, {member.source} {member.length} bp; combine models of one "
                "dataset and config"
            )
        if member.tasks != first.tasks:
            raise InputError(
                f"ensemble members disagree on the tasks: {first.source} has {first.tasks}, "
                f"{member.source} {member.tasks}; combine models trained on the same tasks"
            )


def _ensemble_thresholds(members: list[LoadedModel]) -> list[float] | None:
    """Per task, the mean of the members' validation thresholds; None unless all have them."""
    if any(member.metadata.thresholds is None for member in members):
        return None
    return np.mean([member.metadata.thresholds for member in members], axis=0).tolist()


def load_models(
    paths: list[str],
    device: torch.device | str = "cpu",
    *,
    metrics: str | None = None,
    threshold: float | None = None,
) -> LoadedModel | Ensemble:
    """Load one model (as ``load_model``) or an ensemble of several.

    Parameters
    ----------
    paths : list of str
        See ``ensemble_members``; one model file or run folder gives a ``LoadedModel``.
    device : torch.device or str, default "cpu"
    metrics : str, optional
        A ``metrics.json`` to take the thresholds from (default: one model's own; for an
        ensemble, the mean of its members' thresholds).
    threshold : float, optional
        One probability threshold for every task; wins over ``metrics``.

    Returns
    -------
    LoadedModel or Ensemble
    """
    members, ensemble = ensemble_members(paths)
    if not ensemble:
        return load_model(str(members[0]), device, metrics=metrics, threshold=threshold)
    loaded = [load_model(str(member), device) for member in members]
    check_members(loaded)
    first = loaded[0].metadata
    thresholds = _ensemble_thresholds(loaded)
    if metrics is not None:
        thresholds = thresholds_from_metrics(metrics, first.tasks)
    if threshold is not None:
        if not 0.0 < threshold < 1.0:
            raise InputError(f"--threshold {threshold} must be a probability in (0, 1)")
        thresholds = [float(threshold)] * len(first.tasks)
    names = sorted({member.metadata.name for member in loaded})
    metadata = ModelMetadata(
        name=f"ensemble of {len(loaded)} ({', '.join(names)})",
        length=first.length,
        tasks=list(first.tasks),
        thresholds=thresholds,
        hyperparameters={"members": [member.source for member in loaded]},
    )
    logger.info(
        "ensemble of %d models (%s): means of the members' calibrated probabilities and raw "
        "logits; thresholds %s",
        len(loaded),
        ", ".join(member.source for member in loaded),
        thresholds,
    )
    return Ensemble(loaded, metadata, " + ".join(paths), device=torch.device(device))


def write_ensemble_file(path: str, members: list[str], **description) -> dict:
    """Write an ``ensemble.json``: member model files (relative to it) with their SHA-256.

    Parameters
    ----------
    path : str
        Output JSON.
    members : list of str
        Member ``model.pt`` files, in order (folds: fold 0 first).
    **description
        More keys written as they are (dataset, model, folds, ...).

    Returns
    -------
    dict
        What was written.
    """
    folder = Path(path).resolve().parent
    record = {
        **description,
        "averaged": "mean of the members' calibrated probabilities and of their raw logits",
        "members": [
            {
                "path": os.path.relpath(Path(member).resolve(), folder),
                "sha256": file_sha256(member),
            }
            for member in members
        ],
    }
    write_json(path, record)
    return record
