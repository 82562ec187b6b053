"""SHAP attributions (DeepSHAP, dinucleotide-shuffled references) for top-scoring positives.

The entry points of the attribution stage: ``attribute_chunk`` explains one chunk of the
top-scoring positive windows of a task (scatter step), ``compute_attributions`` joins the chunks
and writes the values, logos and QC (gather step; the rule of the same name), and
``attribute_windows`` does both in one process. Their shared options are the fields of
``ChunkOptions``.

The parts live in their own modules: ``peakcnn.interpret.shap_values`` (references, explainer
calls, projection), ``peakcnn.interpret.deeplift`` (DeepLIFT multipliers and hypothetical
contributions), ``peakcnn.interpret.additivity`` (additivity check),
``peakcnn.interpret.targets`` (choosing a chunk's windows), ``peakcnn.interpret.explain``
(explaining them), ``peakcnn.interpret.qc`` (joining chunks, QC) and
``peakcnn.interpret.logos`` (sequence logos).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from peakcnn.data.splitfile import load_split
from peakcnn.devices import resolve_device, set_seed, set_threads
from peakcnn.errors import InputError
from peakcnn.interpret.explain import explain_chunk
from peakcnn.interpret.logos import plot_logos
from peakcnn.interpret.qc import PER_WINDOW, join_chunks
from peakcnn.interpret.shap_values import resolve_explainer
from peakcnn.interpret.targets import chunk_windows, task_index
from peakcnn.io import atomic_path, write_json
from peakcnn.models.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)

#: Folder beside ``shap.npz`` holding the inputs of TF-MoDISco's ``modisco motifs``.
MODISCO_DIR = "modisco"


@dataclass(frozen=True)
class ChunkOptions:
    """Options of explaining windows, shared by ``attribute_chunk`` and ``attribute_windows``.

    Attributes
    ----------
    n_windows : int, default 100
        Most windows to explain: the positives of ``task`` with the highest scores.
    n_shuffles : int, default 20
        Dinucleotide-shuffled references per window.
    batch_pairs : int, default 20
        Sequence-reference pairs per DeepSHAP batch.
    seed : int, default 0
        Seed; window at row ``r`` is shuffled with ``seed + r``.
    additivity_tolerance : float, default 1e-3
        Largest ``|sum(shap) - (f(x) - mean f(refs))|`` allowed per window, in logits.
    ism_windows : int, default 10
        Top-ranked windows also explained by ISM (0 = none).
    ism_width : int, default 100
        Central bases mutated by ISM (ISM costs 3 forward passes per base).
    explainer : {"auto", "shap.DeepExplainer", "shap.GradientExplainer"}, default "auto"
        auto = the explainer stored in the checkpoint by training (the one that suits the
        model), else DeepExplainer. DeepExplainer's additivity is enforced; GradientExplainer's
        (expected gradients) is only recorded.
    gradient_samples : int, default 200
        GradientExplainer samples per window.
    task : int, str or None, default 0
        Output column explained: its index, its task name, or None for the first.
    threads : int, default 1
        Torch intra-op threads.
    device : str, default "auto"
        ``auto``, ``cpu`` or ``cuda[:i]``.
    """

    n_windows: int = 100
    n_shuffles: int = 20
    batch_pairs: int = 20
    seed: int = 0
    additivity_tolerance: float = 1e-3
    ism_windows: int = 10
    ism_width: int = 100
    explainer: str = "auto"
    gradient_samples: int = 200
    task: int | str | None = 0
    threads: int = 1
    device: str = "auto"


#: Options of ``attribute_chunk`` (the config's ``attribute`` section minus the gather ones);
#: ``threads`` comes from the rule, not the config.
CHUNK_OPTIONS = tuple(field.name for field in fields(ChunkOptions) if field.name != "threads")
#: Options of ``compute_attributions``.
GATHER_OPTIONS = ("logo_windows", "logo_width", "additivity_tolerance")


def _save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to an ``.npz`` at exactly ``path`` (no suffix added)."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _write_outputs(writers: dict[str, Callable[[str], None]]) -> None:
    """Write every output to a temporary file, then move them all into place.

    Parameters
    ----------
    writers : dict of str to callable
        Output path to a function that writes that output to the path it is given.
        Nothing is moved into place unless every writer succeeds.
    """
    with ExitStack() as stack:
        for path, write in writers.items():
            write(stack.enter_context(atomic_path(path)))


def _check_options(options: dict[str, float]) -> None:
    """Raise ``InputError`` for a non-positive count or tolerance among ``options``."""
    for name, value in options.items():
        if not value > 0:
            raise InputError(f"{name} must be > 0, got {value!r}; fix the attribution settings")


def _chunk(
    model_path: str, data_path: str, chunk: int, chunks: int, opts: ChunkOptions
) -> tuple[dict[str, np.ndarray], dict]:
    """Select, explain and check one chunk; return its arrays and QC record."""
    started = time.perf_counter()
    _check_options(
        {
            "n_windows": opts.n_windows,
            "n_shuffles": opts.n_shuffles,
            "batch_pairs": opts.batch_pairs,
            "additivity_tolerance": opts.additivity_tolerance,
            "chunks": chunks,
            "ism_width": opts.ism_width,
            "ism_windows + 1": opts.ism_windows + 1,
            "gradient_samples": opts.gradient_samples,
        }
    )
    opts = replace(opts, explainer=resolve_explainer(model_path, opts.explainer))
    set_threads(opts.threads)
    set_seed(opts.seed)
    torch_device = resolve_device(opts.device)
    model = load_checkpoint(model_path, torch_device).eval()
    data = load_split(data_path)
    task = task_index(opts.task, data["tasks"], data_path)
    rows, ranks, logits, n_positives, n_selected = chunk_windows(
        model, data, data_path, task, opts.n_windows, torch_device, chunk, chunks
    )
    logger.info("chunk %d of %d: %d of %d windows", chunk + 1, chunks, len(rows), n_selected)
    arrays, qc = explain_chunk(model, data, rows, ranks, logits, task, torch_device, opts)
    qc.update(
        chunk=chunk,
        chunks=chunks,
        n_selected=n_selected,
        task=task,
        task_name=str(data["tasks"][task]),
        n_windows_requested=opts.n_windows,
        n_positives=n_positives,
        n_shuffles=opts.n_shuffles,
        batch_pairs=opts.batch_pairs,
        seed=opts.seed,
        ism_windows_requested=opts.ism_windows,
        device=str(torch_device),
        threads=torch.get_num_threads(),
        total_seconds=time.perf_counter() - started,
    )
    return arrays, qc


def attribute_chunk(
    model_path: str, data_path: str, chunk_path: str, *, chunk: int = 0, chunks: int = 1, **options
) -> dict:
    """Explain one chunk of the top-scoring positives (scatter step) and write it as an npz.

    Every chunk ranks the same positives (a deterministic forward pass) and takes the ranks
    ``chunk, chunk + chunks, ...``; ``compute_attributions`` joins the chunks. The additivity
    check runs here, so a failing chunk writes nothing.

    Parameters
    ----------
    model_path, data_path : str
        See ``attribute_windows``.
    chunk_path : str
        Output ``.npz``: the arrays of ``attribute_windows``' ``shap.npz`` for this chunk,
        plus ``rank`` and the QC record as a JSON string (``qc``).
    chunk, chunks : int
        This chunk and the number of chunks.
    **options
        The fields of ``ChunkOptions`` (``n_windows``, ``n_shuffles``, ``batch_pairs``,
        ``seed``, ``additivity_tolerance``, ``ism_windows``, ``ism_width``, ``explainer``,
        ``gradient_samples``, ``task``, ``threads``, ``device``); any other name is a
        ``TypeError``.

    Returns
    -------
    dict
        The chunk's QC record.
    """
    arrays, qc = _chunk(model_path, data_path, chunk, chunks, ChunkOptions(**options))
    arrays["qc"] = np.array(json.dumps(qc, sort_keys=True))
    with atomic_path(chunk_path) as tmp:
        _save_npz(tmp, arrays)
    return qc


def _load_chunk(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read a chunk written by ``attribute_chunk``."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return arrays, json.loads(str(arrays.pop("qc")))


def modisco_paths(shap_path: str) -> tuple[str, str]:
    """Return the inputs of ``modisco motifs`` written beside ``shap_path``.

    Parameters
    ----------
    shap_path : str
        ``attribution/{model}/shap.npz``.

    Returns
    -------
    tuple of str
        ``attribution/{model}/modisco/ohe.npz`` and ``.../modisco/hypothetical.npz``.
    """
    folder = os.path.join(os.path.dirname(shap_path), MODISCO_DIR)
    return os.path.join(folder, "ohe.npz"), os.path.join(folder, "hypothetical.npz")


def _save_modisco_input(path: str, array: np.ndarray) -> None:
    """Write one (n, 4, L) array as the ``arr_0`` of an ``.npz``, as ``modisco motifs`` reads."""
    with open(path, "wb") as handle:
        np.savez(handle, array)


def _write_attribution(
    joined: dict[str, np.ndarray],
    qc: dict,
    shap_path: str,
    logos_path: str,
    qc_path: str,
    logo_windows: int,
    logo_width: int,
) -> None:
    """Write shap.npz, the modisco inputs, the logos and qc.json, all or nothing."""
    arrays = {key: joined[key] for key in PER_WINDOW if key != "rank"}
    arrays["hypothetical_method"] = np.array(qc["hypothetical"])
    ohe_path, hypothetical_path = modisco_paths(shap_path)
    arrays["ism"] = joined["ism"]
    arrays["ism_index"] = joined["index"][joined["ism_rank"]]
    arrays["ism_start"], arrays["ism_end"] = joined["ism_start"], joined["ism_end"]
    meta = {key: joined[key] for key in ("chrom", "start", "end", "score")}
    top = {key: value[:logo_windows] for key, value in meta.items()}
    _write_outputs(
        {
            shap_path: lambda path: _save_npz(path, arrays),
            ohe_path: lambda path: _save_modisco_input(path, joined["x"]),
            hypothetical_path: lambda path: _save_modisco_input(path, joined["hypothetical"]),
            logos_path: lambda path: plot_logos(
                path, joined["projected"][:logo_windows], top, logo_width
            ),
            qc_path: lambda path: write_json(path, qc),
        }
    )
    logger.info(
        "SHAP additivity max %.3g; SHAP vs ISM Pearson median %s; SHAP vs saliency median %s",
        qc["additivity_max_error"],
        qc["ism"]["pearson_with_shap_median"],
        qc["saliency"]["pearson_with_shap_median"],
    )


def compute_attributions(
    chunk_paths: list[str],
    shap_path: str,
    logos_path: str,
    qc_path: str,
    *,
    logo_windows: int = 5,
    logo_width: int = 60,
    additivity_tolerance: float = 1e-3,
) -> dict:
    """Join the chunks of ``attribute_chunk`` (gather step) and write values, logos and QC.

    Parameters
    ----------
    chunk_paths : list of str
        One npz per chunk, all chunks of one run.
    shap_path, logos_path, qc_path : str
        Outputs, as in ``attribute_windows`` (the ``modisco`` inputs are written beside
        ``shap_path``).
    logo_windows, logo_width : int
        Sequence logos drawn.
    additivity_tolerance : float, default 1e-3
        Checked again on the joined windows.

    Returns
    -------
    dict
        The QC record written to ``qc_path``.
    """
    _check_options({"logo_windows": logo_windows, "logo_width": logo_width})
    joined, qc = join_chunks([_load_chunk(path) for path in chunk_paths], additivity_tolerance)
    _write_attribution(joined, qc, shap_path, logos_path, qc_path, logo_windows, logo_width)
    return qc


def attribute_windows(
    model_path: str,
    data_path: str,
    shap_path: str,
    logos_path: str,
    qc_path: str,
    *,
    logo_windows: int = 5,
    logo_width: int = 60,
    **options,
) -> dict:
    """Explain the top-scoring positive windows with SHAP and write values, logos and QC.

    The same as one ``attribute_chunk`` followed by ``compute_attributions``, in one process.

    Parameters
    ----------
    model_path : str
        Checkpoint written by ``peakcnn.models.checkpoint.save_checkpoint``.
    data_path : str
        Encoded split (``dataset/test.npz``), see ``peakcnn.data.splitfile``.
    shap_path : str
        Output ``.npz``: ``shap`` and ``projected`` float32 (n, 4, L), ``hypothetical`` float32
        (n, 4, L) (what each base would contribute at each position; ``projected`` =
        ``hypothetical * x``) and ``hypothetical_method`` (str), ``saliency`` float32
        (n, 4, L) (gradient x input), ``x`` uint8 (n, 4, L), ``chrom`` (n,) str,
        ``start``/``end`` int64 (n,), ``score`` float32 (n,) (probability), ``index`` int64
        (n,) (row in ``data_path``), ``additivity_error`` and ``output_delta`` (``f(x) - mean
        f(refs)``, the sum SHAP values should reach) float64 (n,); ISM of the top
        ``ism_windows``: ``ism`` float32 (m, 4, w) (logit change per substitution),
        ``ism_index`` int64 (m,), ``ism_start``/``ism_end`` (the stretch in the window).
        Beside it, ``modisco/ohe.npz`` (``x``) and ``modisco/hypothetical.npz``
        (``hypothetical``), each (n, 4, L) under ``arr_0``: the inputs of TF-MoDISco's
        ``modisco motifs -s modisco/ohe.npz -a modisco/hypothetical.npz`` (see
        ``modisco_paths``).
    logos_path : str
        Output PNG: logos of ``projected`` for the top ``logo_windows`` windows.
    qc_path : str
        Output JSON: explainer, counts, per-window additivity errors, N handling, timing, and
        the Pearson correlation of projected SHAP with ISM and with saliency.
    logo_windows : int, default 5
        Windows drawn in the logo PNG.
    logo_width : int, default 60
        Bases per logo.
    **options
        The fields of ``ChunkOptions``, documented there; any other name is a ``TypeError``.

    Returns
    -------
    dict
        The QC record written to ``qc_path``.

    Raises
    ------
    InputError
        For bad options, a task out of range or a task with no positive window.
    ValueError
        If the additivity check fails; no output is written then.
    """
    _check_options({"logo_windows": logo_windows, "logo_width": logo_width})
    opts = ChunkOptions(**options)
    joined, qc = join_chunks([_chunk(model_path, data_path, 0, 1, opts)], opts.additivity_tolerance)
    _write_attribution(joined, qc, shap_path, logos_path, qc_path, logo_windows, logo_width)
    return qc
