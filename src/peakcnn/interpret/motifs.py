"""Motifs from attributions: TF-MoDISco (modisco-lite) patterns matched to JASPAR with TOMTOM.

modisco-lite clusters high-attribution stretches (seqlets) into patterns. It is given the
one-hot windows and the hypothetical contributions of ``shap.npz`` (what each of the four bases
would contribute at each position: the DeepSHAP multipliers combined over the bases, as
tangermeme's ``hypothetical=True``); it takes their product with the one-hot as the
contribution scores (the projected SHAP values) to find seqlets, and compares seqlets by their
hypothetical contributions too. Seqlets are looked for in the central ``central_bp`` of each
window, where the summit is. The same inputs are written beside ``shap.npz`` for TF-MoDISco's
own command line (``modisco/ohe.npz``, ``modisco/hypothetical.npz``; see
``peakcnn.interpret.attribute``).

The patterns are matched to JASPAR by ``peakcnn.interpret.jaspar`` and drawn by
``peakcnn.interpret.logos.plot_patterns``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.interpret.jaspar import JasparQuery, consensus, load_jaspar, match_patterns, trim
from peakcnn.interpret.logos import plot_patterns
from peakcnn.io import atomic_path, write_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModiscoOptions:
    """modisco-lite's options (the config's ``motifs`` section, recorded in the summary).

    Attributes
    ----------
    central_bp : int, default 400
        Central bases of each window searched for seqlets (the whole window if longer).
    sliding_window_size : int, default 15
    flank_size : int, default 5
    target_seqlet_fdr : float, default 0.05
    min_metacluster_size : int, default 50
    max_seqlets : int, default 2000
        modisco-lite's ``max_seqlets_per_metacluster``.
    n_leiden_runs : int, default 4
    final_min_cluster_size : int, default 20
    """

    central_bp: int = 400
    sliding_window_size: int = 15
    flank_size: int = 5
    target_seqlet_fdr: float = 0.05
    min_metacluster_size: int = 50
    max_seqlets: int = 2000
    n_leiden_runs: int = 4
    final_min_cluster_size: int = 20


def run_modisco(
    x: np.ndarray, hypothetical: np.ndarray, options: ModiscoOptions
) -> tuple[list, list, int]:
    """Run modisco-lite on the central stretch of the windows.

    Parameters
    ----------
    x : numpy.ndarray of uint8, shape (n, 4, L)
    hypothetical : numpy.ndarray of float, shape (n, 4, L)
        Hypothetical contributions (modisco-lite multiplies them by ``x`` for the contribution
        scores).
    options : ModiscoOptions
        The stretch searched (``central_bp``) and modisco-lite's options.

    Returns
    -------
    positive, negative : list
        modisco-lite ``SeqletSet`` patterns (empty lists when none).
    offset : int
        First window position of the searched stretch.
    """
    from modiscolite.tfmodisco import TFMoDISco

    length = x.shape[2]
    width = min(options.central_bp, length)
    offset = (length - width) // 2
    one_hot = np.ascontiguousarray(x[:, :, offset : offset + width].transpose(0, 2, 1), np.float32)
    central = np.ascontiguousarray(
        hypothetical[:, :, offset : offset + width].transpose(0, 2, 1), np.float32
    )
    positive, negative = TFMoDISco(
        one_hot=one_hot,
        hypothetical_contribs=central,
        sliding_window_size=options.sliding_window_size,
        flank_size=options.flank_size,
        target_seqlet_fdr=options.target_seqlet_fdr,
        min_metacluster_size=options.min_metacluster_size,
        max_seqlets_per_metacluster=options.max_seqlets,
        n_leiden_runs=options.n_leiden_runs,
        final_min_cluster_size=options.final_min_cluster_size,
    )
    return list(positive or []), list(negative or []), offset


def summarise_patterns(positive: list, negative: list, trim_threshold: float) -> list[dict]:
    """Name, trim and describe each pattern.

    Parameters
    ----------
    positive, negative : list
        modisco-lite patterns of each metacluster.
    trim_threshold : float

    Returns
    -------
    list of dict
        ``pattern`` (``pos_patterns.pattern_0`` as in the h5 file), ``n_seqlets``, ``ppm``
        and ``cwm`` (w, 4), trimmed span ``trim``, ``consensus`` (trimmed), ``contribution``
        (sum of the CWM).
    """
    summaries = []
    for group, patterns in (("pos_patterns", positive), ("neg_patterns", negative)):
        for index, pattern in enumerate(patterns):
            ppm = np.asarray(pattern.sequence, dtype=np.float64)
            cwm = np.asarray(pattern.contrib_scores, dtype=np.float64)
            start, end = trim(ppm, cwm, trim_threshold)
            summaries.append(
                {
                    "pattern": f"{group}.pattern_{index}",
                    "n_seqlets": len(pattern.seqlets),
                    "ppm": ppm,
                    "cwm": cwm,
                    "trim": (start, end),
                    "consensus": consensus(ppm[start:end]),
                    "contribution": float(cwm.sum()),
                }
            )
    return summaries


def _set_numba_threads(threads: int) -> None:
    """Limit numba's threads to the rule's ``threads``."""
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _save_modisco(path: str, positive: list, negative: list, window: int) -> None:
    """Write the patterns in modisco-lite's h5 format (readable by ``modisco report``)."""
    from modiscolite.io import save_hdf5

    with atomic_path(path) as tmp:
        save_hdf5(tmp, positive or None, negative or None, window)


def _read_attributions(shap_path: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Read ``x``, ``hypothetical`` and ``hypothetical_method`` of a ``shap.npz``.

    Raises
    ------
    InputError
        If the file has no hypothetical contributions or no window.
    """
    with np.load(shap_path, allow_pickle=False) as npz:
        if "hypothetical" not in npz.files:
            raise InputError(
                "no hypothetical contributions (written since DeepSHAP gives them); re-run the "
                "attribution stage",
                path=shap_path,
            )
        x, hypothetical = npz["x"], npz["hypothetical"]
        method = str(npz["hypothetical_method"])
    if len(x) == 0:
        raise InputError("no explained windows to search for motifs", path=shap_path)
    return x, hypothetical, method


def _best_match(pattern: str, best: pd.DataFrame) -> dict:
    """Describe the best JASPAR match of one pattern for the summary ({} when it has none)."""
    if pattern not in best.index:
        return {}
    hit = best.loc[pattern]
    return {
        "best_match": f"{hit['jaspar_id']} {hit['jaspar_name']}",
        "best_match_class": hit["tf_class"],
        "best_match_q": float(hit["q_value"]),
    }


def motif_summary(
    patterns: list[dict],
    matches: pd.DataFrame,
    searched: list[int],
    settings: dict,
    jaspar: dict,
) -> dict:
    """Build the summary JSON of ``find_motifs``, less its counts and timing.

    Parameters
    ----------
    patterns : list of dict
        From ``summarise_patterns``.
    matches : pandas.DataFrame
        From ``peakcnn.interpret.jaspar.match_patterns``.
    searched : list of int
        ``[start, end)`` of the window stretch searched.
    settings : dict
        The modisco-lite options and ``trim_threshold``.
    jaspar : dict
        The JASPAR query and its number of ``matrices``.

    Returns
    -------
    dict
        ``searched``, ``patterns`` (with their best match), ``jaspar``, ``comparison`` and
        ``settings``.
    """
    best = matches[matches["match_rank"] == 1].set_index("pattern")
    return {
        "searched": searched,
        "patterns": [
            {
                "pattern": p["pattern"],
                "n_seqlets": p["n_seqlets"],
                "consensus": p["consensus"],
                "contribution": p["contribution"],
                **_best_match(p["pattern"], best),
            }
            for p in patterns
        ],
        "jaspar": jaspar,
        "comparison": "memelite.tomtom (Pearson, complete score, both strands); "
        "E = p x matrices; q = Benjamini-Hochberg over the matrices of one pattern",
        "settings": settings,
    }


def _write_motifs(
    paths: tuple[str, str, str],
    modisco: tuple[list, list, int],
    patterns: list[dict],
    matches: pd.DataFrame,
    targets: list[dict],
    logo_patterns: int,
) -> None:
    """Write the modisco h5, the matches TSV and the pattern logos.

    ``paths`` are the h5, TSV and PNG outputs (the summary is written last, by the caller);
    ``modisco`` is the positive and negative patterns and the sliding window size.
    """
    modisco_path, matches_path, logos_path = paths
    _save_modisco(modisco_path, *modisco)
    with atomic_path(matches_path) as tmp:
        matches.to_csv(tmp, sep="\t", index=False, float_format="%.3g")
    plot_patterns(logos_path, patterns, matches, {t["id"]: t for t in targets}, logo_patterns)


def find_motifs(
    shap_path: str,
    modisco_path: str,
    matches_path: str,
    logos_path: str,
    summary_path: str,
    *,
    trim_threshold: float = 0.3,
    jaspar_release: str = "JASPAR2026",
    collection: str = "CORE",
    tax_group: str = "plants",
    top_matches: int = 3,
    logo_patterns: int = 6,
    threads: int = 1,
    **modisco,
) -> dict:
    """Find patterns in hypothetical SHAP contributions and match them to JASPAR.

    Parameters
    ----------
    shap_path : str
        ``shap.npz`` from ``peakcnn.interpret.attribute`` (``x``, ``hypothetical``,
        ``hypothetical_method``).
    modisco_path : str
        Output h5 of modisco-lite patterns.
    matches_path : str
        Output TSV, ``MATCH_COLUMNS``: the ``top_matches`` best JASPAR matches per pattern.
    logos_path : str
        Output PNG: pattern CWMs beside their best match.
    summary_path : str
        Output JSON: counts, settings, best match per pattern, timing.
    trim_threshold : float, default 0.3
        Pattern ends with CWM weight below this fraction of the largest are trimmed.
    jaspar_release, collection, tax_group : str
        JASPAR matrices compared (``peakcnn.interpret.jaspar.JasparQuery``).
    top_matches : int, default 3
    logo_patterns : int, default 6
        Patterns drawn.
    threads : int, default 1
        numba threads.
    **modisco
        The fields of ``ModiscoOptions`` (``central_bp``, ``sliding_window_size``,
        ``flank_size``, ``target_seqlet_fdr``, ``min_metacluster_size``, ``max_seqlets``,
        ``n_leiden_runs``, ``final_min_cluster_size``); any other name is a ``TypeError``.

    Returns
    -------
    dict
        The summary.
    """
    from modiscolite import precompile

    options = ModiscoOptions(**modisco)
    query = JasparQuery(jaspar_release, collection, tax_group)
    started = time.perf_counter()
    # modisco-lite forks children that compile its numba kernels into numba's on-disk cache
    # (so later runs load them); that needs numba's thread pool not started yet, so the
    # thread count is set after.
    precompile.start()
    _set_numba_threads(threads)
    x, hypothetical, method = _read_attributions(shap_path)
    positive, negative, offset = run_modisco(x, hypothetical, options)
    modisco_seconds = time.perf_counter() - started
    patterns = summarise_patterns(positive, negative, trim_threshold)
    targets = load_jaspar(query.release, query.collection, query.tax_group)
    matches = match_patterns(patterns, targets, top_matches)
    width = min(options.central_bp, x.shape[2])
    if not patterns:
        logger.warning(
            "modisco-lite found no pattern in %d windows (central %d bp); explain more windows "
            "(attribute.n_windows) or lower motifs.min_metacluster_size",
            len(x),
            width,
        )
    summary = motif_summary(
        patterns,
        matches,
        [offset, offset + width],
        {**asdict(options), "trim_threshold": trim_threshold},
        {**asdict(query), "matrices": len(targets)},
    )
    summary.update(windows=len(x), hypothetical_contributions=method)
    summary.update(modisco_seconds=modisco_seconds, total_seconds=time.perf_counter() - started)
    modisco_run = (positive, negative, options.sliding_window_size)
    outputs = (modisco_path, matches_path, logos_path)
    _write_motifs(outputs, modisco_run, patterns, matches, targets, logo_patterns)
    write_json(summary_path, summary)
    logger.info(
        "%d patterns in %d windows (%.1f s); best matches: %s",
        len(patterns),
        len(x),
        summary["total_seconds"],
        json.dumps({p["pattern"]: p.get("best_match") for p in summary["patterns"]}),
    )
    return summary
