"""SHAP values of one task's logit, each window against its own dinucleotide-shuffled references.

Each explained window is attributed against its own ``n_shuffles`` dinucleotide shuffles
(``tangermeme.ersatz.dinucleotide_shuffle``, seeded per window). The default explainer,
``shap.DeepExplainer`` (DeepSHAP: DeepLIFT's rescale rules averaged over the references), runs
in ``peakcnn.interpret.deeplift``: the rules of shap's DeepExplainer and tangermeme's
``deep_lift_shap``
in one backward pass over the references, which also gives the hypothetical contributions
(what each of the four bases would contribute at each position) that TF-MoDISco needs.
``shap.GradientExplainer`` (expected gradients, for models with no DeepLIFT rule) runs in shap
on several windows stacked along the channel axis of a small wrapper model (``_StackedTask``).

Unknown bases (all-zero columns) are kept in place: only the ACGT positions of a window are
joined and dinucleotide-shuffled, and the N columns stay all-zero in every reference. Their raw
SHAP values are therefore exactly zero, and so is their projection.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from peakcnn.data.genome import BASES
from peakcnn.data.shuffle import shuffle_window
from peakcnn.errors import InputError
from peakcnn.interpret.deeplift import contributions
from peakcnn.logs import progress
from peakcnn.models.catalog import DEEP_EXPLAINER, GRADIENT_EXPLAINER
from peakcnn.models.checkpoint import read_checkpoint
from peakcnn.models.inference import predict_logits
from peakcnn.models.registry import explainer_for

EXPLAINER = DEEP_EXPLAINER
EXPLAINERS = (EXPLAINER, GRADIENT_EXPLAINER)
SCORE_BATCH = 256
ENGINE = (
    "peakcnn.interpret.deeplift: DeepLIFT rescale rules of shap.DeepExplainer / "
    "tangermeme.deep_lift_shap, "
    "one backward pass over the references"
)
HYPOTHETICAL = (
    "DeepSHAP multipliers combined over the four bases: mean over references of "
    "sum_c m_c * (onehot_b - ref)_c (tangermeme hypothetical=True)"
)
HYPOTHETICAL_PROJECTED = (
    "projected SHAP (observed base only): expected gradients give no multipliers"
)
N_HANDLING = (
    "N (all-zero) columns kept in place in every reference; only the ACGT positions are "
    "joined and dinucleotide-shuffled, so N columns get zero SHAP"
)


def score_windows(
    model: nn.Module,
    x: np.ndarray,
    task: int,
    device: torch.device,
    rows: np.ndarray | None = None,
    batch: int = SCORE_BATCH,
) -> np.ndarray:
    """Compute the logit of one task for windows, a batch at a time.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``; maps (B, 4, L) float32 to (B, T) logits.
    x : numpy.ndarray
        One-hot windows, uint8 (N, 4, L).
    task : int
        Output column to return.
    device : torch.device
        Where each batch is moved.
    rows : numpy.ndarray or None, default None
        Rows of ``x`` to score, int (n,); None scores all of them.
    batch : int, default 256
        Windows per forward pass.

    Returns
    -------
    numpy.ndarray
        Logits, float64 (n,).
    """
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    return predict_logits(model, x[rows], device, batch)[:, task].astype(np.float64)


def make_references(
    x: np.ndarray, rows: np.ndarray, n_shuffles: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Make the dinucleotide-shuffled references of each window.

    Window ``i`` is shuffled with seed ``seed + rows[i]``, so its references do not depend on
    which other windows are explained.

    Parameters
    ----------
    x : numpy.ndarray
        The windows, uint8 (n, 4, L).
    rows : numpy.ndarray
        Their rows in the dataset, int64 (n,).
    n_shuffles : int
        References per window.
    seed : int
        Base seed.

    Returns
    -------
    references : numpy.ndarray
        uint8 (n, n_shuffles, 4, L).
    shuffled : numpy.ndarray
        bool (n,); False where no shuffle other than the window itself exists.
    """
    references = np.empty((len(x), n_shuffles) + x.shape[1:], dtype=np.uint8)
    shuffled = np.ones(len(x), dtype=bool)
    for i, (window, row) in enumerate(zip(x, rows, strict=True)):
        references[i], shuffled[i] = shuffle_window(window, n_shuffles, seed + int(row))
    return references, shuffled


class _StackedTask(nn.Module):
    """One task's logit summed over ``k`` windows stacked along the channel axis.

    Input (B, k * 4, L) is viewed as (B * k, 4, L), so row ``b`` of window ``j`` is row
    ``b * k + j``. The windows do not interact (eval mode), so the SHAP values of the sum are
    those of each window's own logit; one GradientExplainer call then explains ``k`` windows,
    each against its own references.
    """

    def __init__(self, model: nn.Module, task: int, channels: int = len(BASES)) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, k * 4, L) float to the summed task logit (B, 1)."""
        rows, stacked, length = x.shape
        k = stacked // self.channels
        logits = self.model(x.reshape(rows * k, self.channels, length))
        return logits[:, self.task].reshape(rows, k).sum(dim=1, keepdim=True)


def _as_input_array(values: np.ndarray | list, shape: tuple[int, ...]) -> np.ndarray:
    """Drop shap's output axis: a list of per-output arrays or a trailing axis of size 1."""
    if isinstance(values, list):
        values = values[0]
    values = np.asarray(values)
    if values.ndim == len(shape) + 1:
        values = values[..., 0]
    return values.reshape(shape)


def _gradient_call(
    wrapper: _StackedTask,
    x: np.ndarray,
    references: np.ndarray,
    device: torch.device,
    samples: int,
    seed: int,
) -> np.ndarray:
    """Run one shap.GradientExplainer call for ``k`` windows against their own references.

    Expected gradients: ``samples`` random points between the window and a random reference;
    additive only in expectation.

    Parameters
    ----------
    wrapper : _StackedTask
        The wrapped model, in eval mode.
    x : numpy.ndarray
        Windows, uint8 (k, 4, L).
    references : numpy.ndarray
        Their references, uint8 (k, S, 4, L).
    device : torch.device
        Where the call runs.
    samples : int
        Samples per window.
    seed : int
        Random seed.

    Returns
    -------
    numpy.ndarray
        SHAP values averaged over the ``S`` references, float64 (k, 4, L).
    """
    import shap  # imported here: the gather step does not need it (2 s)

    k, n_refs, channels, length = references.shape
    background = torch.from_numpy(references.transpose(1, 0, 2, 3).copy())
    background = background.reshape(n_refs, k * channels, length).to(device, torch.float32)
    inputs = torch.from_numpy(x).reshape(1, k * channels, length).to(device, torch.float32)
    values = shap.GradientExplainer(wrapper, background).shap_values(
        inputs, nsamples=samples, rseed=seed
    )
    return _as_input_array(values, (k, channels, length)).astype(np.float64)


def _deep_call(
    model: nn.Module, x: np.ndarray, references: np.ndarray, task: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """DeepSHAP contributions and hypothetical contributions of some windows, summed over refs.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``.
    x : numpy.ndarray
        Windows, uint8 (k, 4, L).
    references : numpy.ndarray
        Some of their references, uint8 (k, S, 4, L).
    task : int
        Output column explained.
    device : torch.device
        Where the passes run.

    Returns
    -------
    tuple of numpy.ndarray
        Contributions and hypothetical contributions summed over the ``S`` references,
        float64 (k, 4, L) each; see ``peakcnn.interpret.deeplift.contributions``.
    """
    windows = torch.from_numpy(x).to(device, torch.float32)
    refs = torch.from_numpy(references).to(device, torch.float32)
    contribution, hypothetical = contributions(model, windows, refs, task)
    return (
        contribution.detach().cpu().numpy().astype(np.float64),
        hypothetical.detach().cpu().numpy().astype(np.float64),
    )


def explain(
    model: nn.Module,
    x: np.ndarray,
    references: np.ndarray,
    task: int,
    device: torch.device,
    batch_pairs: int = 20,
    explainer: str = EXPLAINER,
    samples: int = 200,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Compute SHAP values of one task's logit, each window against its own references.

    One call holds about ``batch_pairs`` pairs: ``batch_pairs // S`` windows when that is at
    least one, else one window with its references split into chunks (their values are summed
    and divided by ``S``, which equals using all at once).

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``; (B, 4, L) float32 to (B, T) logits.
    x : numpy.ndarray
        Windows, uint8 (n, 4, L).
    references : numpy.ndarray
        References, uint8 (n, S, 4, L).
    task : int
        Output column explained.
    device : torch.device
        Where the calls run.
    batch_pairs : int, default 20
        Sequence-reference pairs per call.
    explainer : {"shap.DeepExplainer", "shap.GradientExplainer"}
        DeepSHAP (DeepLIFT rescale rules, exact additivity; ``peakcnn.interpret.deeplift``) or
        GradientExplainer (expected gradients; additive only in expectation).
    samples : int, default 200
        GradientExplainer samples per window (and per reference chunk).
    seed : int, default 0
        GradientExplainer's seed (each call adds its position).

    Returns
    -------
    values : numpy.ndarray
        Raw SHAP values, float64 (n, 4, L): ``mean_s m * (x - r_s)``.
    hypothetical : numpy.ndarray or None
        Hypothetical contributions, float64 (n, 4, L): ``mean_s sum_c m_c (e_b - r_s)_c`` for
        each base ``b`` (DeepSHAP only; None for GradientExplainer, which gives no multipliers).
    """
    if explainer not in EXPLAINERS:
        raise InputError(f"explainer {explainer!r} must be one of {list(EXPLAINERS)}")
    deep = explainer == EXPLAINER
    wrapper = None if deep else _StackedTask(model, task).eval()
    n_refs = references.shape[1]
    per_call = max(1, batch_pairs // n_refs)
    chunk = min(n_refs, max(1, batch_pairs))
    values = np.zeros(x.shape, dtype=np.float64)
    hypothetical = np.zeros(x.shape, dtype=np.float64) if deep else None
    bar = progress(len(x), "SHAP", "windows")  # a live bar on a terminal only
    for first in range(0, len(x), per_call):
        group = slice(first, first + per_call)
        for ref_first in range(0, n_refs, chunk):
            refs = references[group, ref_first : ref_first + chunk]
            if deep:
                summed, hypothetical_sum = _deep_call(model, x[group], refs, task, device)
                values[group] += summed
                hypothetical[group] += hypothetical_sum
            else:
                call = _gradient_call(
                    wrapper, x[group], refs, device, samples, seed + first + ref_first
                )
                values[group] += call * refs.shape[1]
        bar.update(len(x[group]))
    bar.close()
    if deep:
        hypothetical /= n_refs
    return values / n_refs, hypothetical


def engine_of(explainer: str) -> str:
    """Describe the code that computes ``explainer``'s values (for the QC record)."""
    if explainer == EXPLAINER:
        return ENGINE
    from importlib.metadata import version

    return f"shap {version('shap')} {explainer}"


def output_deltas(
    model: nn.Module, x: np.ndarray, references: np.ndarray, task: int, device: torch.device
) -> np.ndarray:
    """Compute ``f(x) - mean f(refs)`` of one task's logit, the sum SHAP values should reach.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``.
    x : numpy.ndarray
        Windows, uint8 (n, 4, L).
    references : numpy.ndarray
        References, uint8 (n, S, 4, L).
    task : int
        Output column.
    device : torch.device
        Where the forward passes run.

    Returns
    -------
    numpy.ndarray
        float64 (n,).
    """
    n, n_refs = references.shape[:2]
    flat = references.reshape((n * n_refs,) + references.shape[2:])
    reference_logits = score_windows(model, flat, task, device).reshape(n, n_refs)
    return score_windows(model, x, task, device) - reference_logits.mean(axis=1)


def project(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Place each position's summed SHAP value on its observed base.

    Parameters
    ----------
    values : numpy.ndarray
        Raw SHAP values, float (n, 4, L).
    x : numpy.ndarray
        One-hot windows, uint8 (n, 4, L); all-zero columns (N) get zero.

    Returns
    -------
    numpy.ndarray
        float32 (n, 4, L), non-zero only on the observed base.
    """
    return (values.sum(axis=1, keepdims=True) * x).astype(np.float32)


def resolve_explainer(model_path: str, explainer: str = "auto") -> str:
    """Return the SHAP explainer to use for a checkpoint.

    Parameters
    ----------
    model_path : str
        Checkpoint; training stores the explainer that suits the model under ``explainer``.
    explainer : str, default "auto"
        ``auto`` (the checkpoint's, DeepExplainer when it names none) or an explainer name.

    Returns
    -------
    str
        ``shap.DeepExplainer`` or ``shap.GradientExplainer``.

    Raises
    ------
    InputError
        For an unknown name, or a model that SHAP cannot explain (e.g. the k-mer baseline).
    """
    if explainer == "auto":
        checkpoint = read_checkpoint(model_path)
        # older checkpoints name no explainer: the one the model's name calls for
        explainer = checkpoint.get("explainer", explainer_for(checkpoint.get("name", "basset")))
        if explainer is None:
            raise InputError(
                f"model {checkpoint.get('name')!r} has no SHAP explainer (its inputs are not "
                "differentiable); leave it out of attribution",
                path=model_path,
            )
    if explainer not in EXPLAINERS:
        raise InputError(f"attribute.explainer {explainer!r} must be auto or one of {EXPLAINERS}")
    return explainer
