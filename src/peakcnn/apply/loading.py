"""Load a trained model with its metadata: from a ``model.pt``, a run folder or an export.

A run of the workflow lays out ``results/<dataset>/models/<run>/model.pt``, its validation
threshold in ``results/<dataset>/eval/<run>/metrics.json`` and its task names in
``results/<dataset>/dataset/{train,val}.npz``. Exported TorchScript and ONNX files carry the
same metadata inside them (``METADATA_KEY``), so they stand alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from peakcnn.apply.scores import WindowScores, strand_logits
from peakcnn.errors import InputError
from peakcnn.models.calibration import CHECKPOINT_KEY, calibrated_probabilities, calibration_of
from peakcnn.models.inference import predict_logits
from peakcnn.models.registry import build_model

logger = logging.getLogger(__name__)

#: Order of the one-hot channels (``peakcnn.data.genome.BASES``).
ALPHABET = "ACGT"
#: Name of the metadata entry in exported files (TorchScript extra file, ONNX metadata key).
METADATA_KEY = "peakcnn.json"
#: Files tried, in order, for the task names of a run's dataset.
SPLIT_FILES = ("val.npz", "test.npz", "train.npz")


@dataclass
class ModelMetadata:
    """What a user of a trained model needs besides its weights.

    Attributes
    ----------
    name : str
        Model name (a key of ``peakcnn.models.registry.MODELS``).
    length : int
        Window length in bp.
    tasks : list of str
        Output names, one logit each.
    alphabet : str
        Order of the one-hot channels.
    thresholds : list of float or None
        Per-task probability threshold chosen on validation (``metrics.json``), if known; on
        the calibrated probabilities when the model carries temperatures.
    temperatures, biases : list of float or None
        Per-task calibration fitted on validation (stored in ``model.pt``): probabilities
        are ``sigmoid(logit / T + b)``; None: the raw ``sigmoid(logit)``.
    rc_average : bool
        The model averages its logits over both strands.
    training_data_sha256 : str or None
        SHA-256 of the training split file, if known.
    hyperparameters : dict
        Arguments of ``peakcnn.models.registry.build_model``.
    """

    name: str
    length: int
    tasks: list[str]
    alphabet: str = ALPHABET
    thresholds: list[float] | None = None
    temperatures: list[float] | None = None
    biases: list[float] | None = None
    rc_average: bool = False
    training_data_sha256: str | None = None
    hyperparameters: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise to a JSON string (stored in exported files)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, path: str) -> ModelMetadata:
        """Read metadata written by ``to_json``; ``path`` names the file in errors."""
        try:
            values = json.loads(text)
            return cls(**values)
        except (ValueError, TypeError) as error:
            raise InputError(
                f"its {METADATA_KEY} metadata is unreadable ({error}); export the model again "
                "with `peakcnn export`",
                path,
            ) from None


@dataclass
class LoadedModel:
    """A trained model ready for inference on uint8 one-hot windows.

    Attributes
    ----------
    source : str
        The file it was loaded from.
    kind : {"checkpoint", "torchscript", "onnx"}
    network : object
        A ``torch.nn.Module`` (checkpoint, TorchScript) or an ``onnxruntime.InferenceSession``.
    metadata : ModelMetadata
    device : torch.device
    """

    source: str
    kind: str
    network: object
    metadata: ModelMetadata
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
        """Return logits (n, T) float32 of uint8 one-hot windows (n, 4, length)."""
        if x.shape[1:] != (4, self.length):
            raise ValueError(f"windows of shape {x.shape[1:]}, the model takes (4, {self.length})")
        if self.kind != "onnx":
            out = predict_logits(self.network, x, self.device, batch_size)
            return out.reshape(len(x), len(self.tasks)).astype(np.float32, copy=False)
        name = self.network.get_inputs()[0].name
        parts = [
            self.network.run(None, {name: x[i : i + batch_size].astype(np.float32)})[0]
            for i in range(0, len(x), batch_size)
        ]
        if not parts:
            return np.zeros((0, len(self.tasks)), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (float64) of logits (n, T): ``sigmoid(logit / T + b)``."""
        meta = self.metadata
        return calibrated_probabilities(
            logits,
            None if meta.temperatures is None else np.asarray(meta.temperatures),
            None if meta.biases is None else np.asarray(meta.biases),
        )

    def scores(self, x: np.ndarray, both_strands: bool = False) -> WindowScores:
        """Logits (optionally both strands averaged) and calibrated probabilities of windows."""
        logits = strand_logits(self, x, both_strands)
        return WindowScores(logits, self.probabilities(logits))


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(path: str) -> Path:
    """Return the model file of ``path``: itself, or the ``model.pt`` inside a run folder."""
    target = Path(path)
    if target.is_dir():
        target = target / "model.pt"
        if not target.exists() and (target.parent / "ensemble.json").exists():
            raise InputError(
                "a fold ensemble: predict, scan and variants take it, export does not; export "
                "each member (results/<dataset>/fold<i>/models/<model>)",
                path,
            )
        if not target.exists():
            raise InputError(
                "this folder holds no model.pt; give a run folder "
                "(results/<dataset>/models/<run>) or a model file",
                path,
            )
    elif not target.exists():
        raise InputError("no such model file; give a model.pt, a run folder or an export", path)
    return target


def run_files(model_path: Path) -> dict[str, Path]:
    """Locate a run's sidecar files from its ``model.pt`` (those that exist).

    Returns
    -------
    dict of str to pathlib.Path
        ``metrics`` (``eval/<run>/metrics.json``), ``split`` (a dataset split npz, for task
        names) and ``train`` (``dataset/train.npz``, for the training data hash).
    """
    run = model_path.parent
    root = run.parent.parent
    found = {
        "metrics": root / "eval" / run.name / "metrics.json",
        "train": root / "dataset" / "train.npz",
    }
    splits = [root / "dataset" / name for name in SPLIT_FILES if (root / "dataset" / name).exists()]
    if splits:
        found["split"] = splits[0]
    return {key: value for key, value in found.items() if value.exists()}


def thresholds_from_metrics(path: str | Path, tasks: list[str]) -> list[float]:
    """Read the per-task thresholds chosen on validation from a ``metrics.json``.

    Parameters
    ----------
    path : str or pathlib.Path
        ``metrics.json`` of ``peakcnn.evaluation.evaluate.evaluate_model``.
    tasks : list of str
        The model's tasks, in output order.

    Returns
    -------
    list of float
    """
    try:
        metrics = json.loads(Path(path).read_text())
        if "by_task" in metrics:
            return [float(metrics["by_task"][task]["test"]["threshold"]) for task in tasks]
        if len(tasks) != 1:
            raise KeyError("by_task")
        return [float(metrics["test"]["threshold"])]
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"no validation threshold for tasks {tasks} here ({error!r}); give the metrics.json "
            "of this model's run, or --threshold",
            str(path),
        ) from None


def _task_names(split: Path | None, n_tasks: int) -> list[str]:
    """Task names from a split npz, or ``task0..`` when it is absent or disagrees."""
    if split is not None:
        with np.load(split, allow_pickle=False) as data:
            if "tasks" in data.files and len(data["tasks"]) == n_tasks:
                return [str(task) for task in data["tasks"]]
    return ["score"] if n_tasks == 1 else [f"task{t}" for t in range(n_tasks)]


def _stored(checkpoint: dict, key: str, n_tasks: int) -> list | None:
    """One value per task stored in a checkpoint (``tasks``, ``thresholds``), else None.

    Models that stand alone outside a run folder carry them (``peakcnn.compress``); a run's
    own ``model.pt`` has them beside it instead (its split files and ``metrics.json``).
    """
    values = checkpoint.get(key)
    return list(values) if isinstance(values, list | tuple) and len(values) == n_tasks else None


def _not_peakcnn(path: str, what: str) -> InputError:
    return InputError(
        f"{what}, not a peakcnn model; give the model.pt of a run (results/<dataset>/models/"
        "<run>/model.pt), its folder, or a file written by `peakcnn export`",
        path,
    )


def _load_checkpoint_file(path: Path, device: torch.device, data_hash: bool) -> LoadedModel:
    """Load a ``save_checkpoint`` file and find its run's tasks, threshold and data hash."""
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is bad input here
        raise _not_peakcnn(
            str(path), f"unreadable as a PyTorch file ({type(error).__name__})"
        ) from None
    keys = {"name", "hyperparameters", "state_dict"}
    if not isinstance(checkpoint, dict) or not keys <= set(checkpoint):
        raise _not_peakcnn(str(path), f"a PyTorch file without the keys {sorted(keys)}")
    hyperparameters = dict(checkpoint["hyperparameters"])
    try:
        network = build_model(checkpoint["name"], **hyperparameters)
        network.load_state_dict(checkpoint["state_dict"])
    except (ValueError, RuntimeError, TypeError) as error:
        raise _not_peakcnn(str(path), f"a checkpoint that does not rebuild ({error})") from None
    network = network.to(device).eval()
    sidecars = run_files(path)
    n_tasks = int(hyperparameters.get("n_tasks", 1))
    tasks = _stored(checkpoint, "tasks", n_tasks) or _task_names(sidecars.get("split"), n_tasks)
    calibration = calibration_of(checkpoint.get(CHECKPOINT_KEY), n_tasks, str(path))
    metadata = ModelMetadata(
        name=checkpoint["name"],
        length=int(hyperparameters["length"]),
        tasks=tasks,
        thresholds=(
            thresholds_from_metrics(sidecars["metrics"], tasks)
            if "metrics" in sidecars
            else _stored(checkpoint, "thresholds", n_tasks)
        ),
        temperatures=None if calibration is None else calibration[0].tolist(),
        biases=None if calibration is None else calibration[1].tolist(),
        rc_average=bool(hyperparameters.get("rc_average", False)),
        training_data_sha256=(
            file_sha256(sidecars["train"]) if data_hash and "train" in sidecars else None
        ),
        hyperparameters=hyperparameters,
    )
    return LoadedModel(str(path), "checkpoint", network, metadata, device)


def _load_torchscript(path: Path, device: torch.device) -> LoadedModel:
    """Load a TorchScript file written by ``peakcnn.apply.export``."""
    extra = {METADATA_KEY: ""}
    with warnings.catch_warnings():  # TorchScript is deprecated in favour of torch.export
        warnings.simplefilter("ignore", DeprecationWarning)
        network = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    if not extra[METADATA_KEY]:
        raise _not_peakcnn(str(path), f"a TorchScript file without {METADATA_KEY} metadata")
    metadata = ModelMetadata.from_json(extra[METADATA_KEY], str(path))
    return LoadedModel(str(path), "torchscript", network.eval(), metadata, device)


def _load_onnx(path: Path) -> LoadedModel:
    """Load an ONNX file written by ``peakcnn.apply.export`` into an onnxruntime session."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - any unreadable file is bad input here
        raise _not_peakcnn(str(path), f"unreadable as ONNX ({type(error).__name__})") from None
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if not text:
        raise _not_peakcnn(str(path), f"an ONNX file without {METADATA_KEY} metadata")
    return LoadedModel(
        str(path), "onnx", session, ModelMetadata.from_json(text, str(path)), torch.device("cpu")
    )


def _is_torchscript(path: Path) -> bool:
    """Whether a file is a TorchScript archive (a zip with a ``code/`` folder)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def load_model(
    path: str,
    device: torch.device | str = "cpu",
    *,
    metrics: str | None = None,
    threshold: float | None = None,
    data_hash: bool = False,
) -> LoadedModel:
    """Load a trained model from a ``model.pt``, a run folder, or a TorchScript/ONNX export.

    Parameters
    ----------
    path : str
        ``model.pt`` of a run, the run folder holding it, or a ``.ts``/``.onnx`` file written
        by ``peakcnn export``.
    device : torch.device or str, default "cpu"
        Where PyTorch models run (ONNX runs on the CPU).
    metrics : str, optional
        A ``metrics.json`` to take the validation thresholds from (default: the run's own,
        or those stored in an export).
    threshold : float, optional
        One probability threshold for every task; wins over ``metrics``.
    data_hash : bool, default False
        Hash the run's ``train.npz`` into the metadata (for exports).

    Returns
    -------
    LoadedModel

    Raises
    ------
    InputError
        When the file is not a peakcnn model.
    """
    device = torch.device(device)
    target = resolve_model_path(path)
    if target.suffix == ".onnx" or _looks_like_onnx(target):
        loaded = _load_onnx(target)
    elif _is_torchscript(target):
        loaded = _load_torchscript(target, device)
    else:
        loaded = _load_checkpoint_file(target, device, data_hash)
    if metrics is not None:
        loaded.metadata.thresholds = thresholds_from_metrics(metrics, loaded.tasks)
    if threshold is not None:
        if not 0.0 < threshold < 1.0:
            raise InputError(f"--threshold {threshold} must be a probability in (0, 1)")
        loaded.metadata.thresholds = [float(threshold)] * len(loaded.tasks)
    meta = loaded.metadata
    logger.info(
        "model %s (%s, %s): %d bp windows, tasks %s, thresholds %s, calibration T %s b %s%s",
        target,
        loaded.kind,
        meta.name,
        meta.length,
        meta.tasks,
        meta.thresholds,
        meta.temperatures,
        meta.biases,
        ", averaged over both strands" if meta.rc_average else "",
    )
    return loaded


def _looks_like_onnx(path: Path) -> bool:
    """Whether a file without the ``.onnx`` suffix parses as an ONNX model with our metadata."""
    if zipfile.is_zipfile(path):
        return False
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - not ONNX
        return False
    return any(prop.key == METADATA_KEY for prop in model.metadata_props)
