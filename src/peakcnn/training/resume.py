"""Resumable training: the state saved after every epoch, its fingerprint, every RNG state.

After every epoch a ``checkpoint.pt`` beside ``model.pt`` holds the model, optimiser,
scheduler, scaler, best weights, history and every RNG state (as tensors and lists, loaded with
``weights_only=True``). A rerun after a crash or kill resumes from it when its fingerprint (the
settings and the contents of the split files) matches, and ends with the same result on CPU as
an uninterrupted run. It is removed once the outputs are written; it is not a declared output,
so it never triggers or blocks a rerun.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path

import numpy as np
import torch

from peakcnn.io import atomic_path, remove_stale_temporaries
from peakcnn.training.optim import TrainingSetup

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 1


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: dict, *paths: str) -> str:
    """Hash of the training settings and the contents of the input files."""
    text = json.dumps(settings, sort_keys=True, default=str)
    text += "".join(_file_digest(p) for p in paths)
    return hashlib.sha256(text.encode()).hexdigest()


def capture_rng(generator: torch.Generator) -> dict:
    """Every RNG state, as tensors, lists and numbers (loadable with ``weights_only=True``)."""
    key, mt, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
        "numpy": [key, torch.from_numpy(mt.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(python_state), gauss],
    }


def restore_rng(state: dict, generator: torch.Generator) -> None:
    """Restore the states saved by ``capture_rng``."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])
    key, mt, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((key, mt.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))


def load_resumable(path: Path, fingerprint: str, resume: bool) -> dict | None:
    """Return the state saved at ``path`` if written for these settings and data, else None.

    Temporaries left by a run killed while writing the state are removed first.

    Parameters
    ----------
    path : pathlib.Path
        The ``checkpoint.pt`` beside the model.
    fingerprint : str
        ``fingerprint`` of this run's settings and split files.
    resume : bool
        False: never resume.

    Returns
    -------
    dict or None
        The saved state (on the CPU), or None to start afresh.
    """
    remove_stale_temporaries(path)  # left by a killed run
    if not (resume and path.exists()):
        return None
    # on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") == fingerprint and state.get("version") == CHECKPOINT_VERSION:
        logger.info("resuming from %s after epoch %d", path, state["epoch"])
        return state
    logger.info("ignoring %s: it was written for other settings or data", path)
    return None


def restore_state(state: dict, setup: TrainingSetup, generator: torch.Generator) -> None:
    """Load a saved state's weights, optimiser, scheduler, scaler and RNG states back."""
    setup.core.load_state_dict(state["model"])
    setup.optimizer.load_state_dict(state["optimizer"])
    if setup.scheduler is not None:
        setup.scheduler.load_state_dict(state["scheduler"])
    if setup.scaler is not None:
        setup.scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"], generator)


def save_state(
    path: Path,
    setup: TrainingSetup,
    *,
    fingerprint: str,
    epoch: int,
    best: dict,
    history: list[dict],
    generator: torch.Generator,
) -> None:
    """Write the resumable state after ``epoch`` atomically."""
    state = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": setup.core.state_dict(),
        "optimizer": setup.optimizer.state_dict(),
        "scheduler": setup.scheduler.state_dict() if setup.scheduler is not None else None,
        "scaler": setup.scaler.state_dict() if setup.scaler is not None else None,
        "best": best,
        "history": history,
        "rng": capture_rng(generator),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
