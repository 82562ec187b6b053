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

Each pattern's position probability matrix (PPM), trimmed to the positions whose CWM weight is
at least ``trim_threshold`` of the largest, is compared with every JASPAR matrix of the chosen
collection and taxonomic group (pyjaspar's offline database) by memelite's TOMTOM (Pearson
column similarity, complete scores, both strands). p-values come from TOMTOM; E = p x number of
targets and q = Benjamini-Hochberg over the targets of one pattern.
"""

from __future__ import annotations

import functools
import json
import logging
import time

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.io import atomic_path, write_json

logger = logging.getLogger(__name__)

ALPHABET = "ACGT"
MATCH_COLUMNS = [
    "pattern",
    "n_seqlets",
    "consensus",
    "length",
    "match_rank",
    "jaspar_id",
    "jaspar_name",
    "tf_class",
    "tf_family",
    "p_value",
    "e_value",
    "q_value",
    "strand",
    "offset",
    "overlap",
]


@functools.lru_cache(maxsize=4)
def load_jaspar(
    release: str = "JASPAR2026", collection: str = "CORE", tax_group: str = "plants"
) -> list[dict]:
    """Read the latest version of every JASPAR matrix of a collection and taxonomic group.

    Cached per process (the same list is returned again; do not modify it).

    Parameters
    ----------
    release : str, default "JASPAR2026"
        A release bundled with pyjaspar (offline).
    collection : str, default "CORE"
    tax_group : str, default "plants"

    Returns
    -------
    list of dict
        ``id, name, tf_class, tf_family, ppm`` (float64 (4, w), columns sum to 1).

    Raises
    ------
    InputError
        If the release is unknown or no matrix matches.
    """
    from pyjaspar import jaspar_releases, jaspardb

    if release not in jaspar_releases:
        raise InputError(
            f"motifs.jaspar_release {release!r} is not bundled with pyjaspar; choose one of "
            f"{sorted(jaspar_releases)}"
        )
    found = jaspardb(release=release).fetch_motifs(
        collection=collection, tax_group=[tax_group], all_versions=False
    )
    if not found:
        raise InputError(
            f"no JASPAR {release} matrix in collection {collection!r}, tax group {tax_group!r}; "
            "fix motifs.collection/motifs.tax_group"
        )
    motifs = []
    for motif in found:
        counts = np.array([motif.counts[base] for base in ALPHABET], dtype=np.float64)
        motifs.append(
            {
                "id": motif.matrix_id,
                "name": motif.name,
                "tf_class": "; ".join(motif.tf_class or []),
                "tf_family": "; ".join(motif.tf_family or []),
                "ppm": counts / np.maximum(counts.sum(axis=0, keepdims=True), 1e-12),
            }
        )
    return motifs


def trim(ppm: np.ndarray, cwm: np.ndarray, threshold: float) -> tuple[int, int]:
    """Span ``[start, end)`` of the positions whose ``sum |cwm|`` reaches ``threshold`` x max.

    Parameters
    ----------
    ppm, cwm : numpy.ndarray, shape (w, 4)
    threshold : float

    Returns
    -------
    tuple of int
    """
    score = np.abs(cwm).sum(axis=1)
    passing = np.flatnonzero(score >= threshold * score.max())
    return int(passing.min()), int(passing.max()) + 1


def consensus(ppm: np.ndarray) -> str:
    """Most likely base per position, upper case when its probability is at least 0.5.

    Parameters
    ----------
    ppm : numpy.ndarray, shape (w, 4)

    Returns
    -------
    str
    """
    best = ppm.argmax(axis=1)
    return "".join(
        ALPHABET[b] if ppm[i, b] >= 0.5 else ALPHABET[b].lower() for i, b in enumerate(best)
    )


def run_modisco(
    x: np.ndarray,
    hypothetical: np.ndarray,
    *,
    central_bp: int,
    sliding_window_size: int,
    flank_size: int,
    target_seqlet_fdr: float,
    min_metacluster_size: int,
    max_seqlets: int,
    n_leiden_runs: int,
    final_min_cluster_size: int,
) -> tuple[list, list, int]:
    """Run modisco-lite on the central stretch of the windows.

    Parameters
    ----------
    x : numpy.ndarray of uint8, shape (n, 4, L)
    hypothetical : numpy.ndarray of float, shape (n, 4, L)
        Hypothetical contributions (modisco-lite multiplies them by ``x`` for the contribution
        scores).
    central_bp : int
        Central bases searched (the whole window if longer).
    sliding_window_size, flank_size, target_seqlet_fdr, min_metacluster_size, max_seqlets,
    n_leiden_runs, final_min_cluster_size
        modisco-lite options (``max_seqlets`` = ``max_seqlets_per_metacluster``).

    Returns
    -------
    positive, negative : list
        modisco-lite ``SeqletSet`` patterns (empty lists when none).
    offset : int
        First window position of the searched stretch.
    """
    from modiscolite.tfmodisco import TFMoDISco

    length = x.shape[2]
    width = min(central_bp, length)
    offset = (length - width) // 2
    one_hot = np.ascontiguousarray(x[:, :, offset : offset + width].transpose(0, 2, 1), np.float32)
    central = np.ascontiguousarray(
        hypothetical[:, :, offset : offset + width].transpose(0, 2, 1), np.float32
    )
    positive, negative = TFMoDISco(
        one_hot=one_hot,
        hypothetical_contribs=central,
        sliding_window_size=sliding_window_size,
        flank_size=flank_size,
        target_seqlet_fdr=target_seqlet_fdr,
        min_metacluster_size=min_metacluster_size,
        max_seqlets_per_metacluster=max_seqlets,
        n_leiden_runs=n_leiden_runs,
        final_min_cluster_size=final_min_cluster_size,
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


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of a 1-D array of p-values."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(q)
    out[order] = np.minimum(q, 1.0)
    return out


def match_patterns(patterns: list[dict], targets: list[dict], top: int) -> pd.DataFrame:
    """Compare each trimmed pattern PPM with every target by TOMTOM; keep the ``top`` best.

    Parameters
    ----------
    patterns : list of dict
        From ``summarise_patterns``.
    targets : list of dict
        From ``load_jaspar``.
    top : int
        Matches kept per pattern.

    Returns
    -------
    pandas.DataFrame
        ``MATCH_COLUMNS``, best match first within each pattern.
    """
    if not patterns:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    from memelite import tomtom

    queries = [np.ascontiguousarray(p["ppm"][slice(*p["trim"])].T) for p in patterns]
    n_targets = len(targets)
    # n_nearest = all targets: every p-value (for q-values) through tomtom's nearest-target path
    p, _, offsets, overlaps, strands, indices = tomtom(
        queries, [t["ppm"] for t in targets], n_nearest=n_targets
    )
    rows = []
    for i, pattern in enumerate(patterns):
        q_by_rank = benjamini_hochberg(p[i])  # row i is every target, in rank order
        for rank in range(min(top, n_targets)):
            target = targets[int(indices[i, rank])]
            rows.append(
                {
                    "pattern": pattern["pattern"],
                    "n_seqlets": pattern["n_seqlets"],
                    "consensus": pattern["consensus"],
                    "length": pattern["trim"][1] - pattern["trim"][0],
                    "match_rank": rank + 1,
                    "jaspar_id": target["id"],
                    "jaspar_name": target["name"],
                    "tf_class": target["tf_class"],
                    "tf_family": target["tf_family"],
                    "p_value": float(p[i, rank]),
                    "e_value": float(p[i, rank] * n_targets),
                    "q_value": float(q_by_rank[rank]),
                    "strand": "-" if strands[i, rank] else "+",
                    "offset": int(offsets[i, rank]),
                    "overlap": int(overlaps[i, rank]),
                }
            )
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def _information(ppm: np.ndarray) -> np.ndarray:
    """Scale a (w, 4) PPM to information content (bits) per base, for a logo."""
    ppm = np.clip(ppm, 1e-9, 1.0)
    ppm = ppm / ppm.sum(axis=1, keepdims=True)
    bits = 2.0 + (ppm * np.log2(ppm)).sum(axis=1, keepdims=True)
    return ppm * bits


def plot_patterns(
    path: str, patterns: list[dict], matches: pd.DataFrame, targets: dict[str, dict], limit: int
) -> None:
    """Draw each pattern's trimmed CWM beside its best JASPAR match (information content).

    Parameters
    ----------
    path : str
        Output PNG.
    patterns : list of dict
        From ``summarise_patterns``.
    matches : pandas.DataFrame
        From ``match_patterns``.
    targets : dict of str to dict
        JASPAR matrices by id.
    limit : int
        Most patterns drawn.
    """
    import logomaker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = patterns[:limit]
    rows = max(1, len(shown))
    figure = Figure(figsize=(10, 2.1 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 2, squeeze=False)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "modisco-lite found no pattern", ha="center", va="center")
        for axis in axes[0]:
            axis.set_axis_off()
    for (left, right), pattern in zip(axes, shown, strict=False):
        cwm = pattern["cwm"][slice(*pattern["trim"])]
        logomaker.Logo(pd.DataFrame(cwm, columns=list(ALPHABET)), ax=left)
        left.set_title(
            f"{pattern['pattern']}: {pattern['n_seqlets']} seqlets, {pattern['consensus']}",
            fontsize=9,
        )
        left.set_ylabel("CWM")
        best = matches[(matches["pattern"] == pattern["pattern"]) & (matches["match_rank"] == 1)]
        if best.empty:
            right.set_axis_off()
            continue
        hit = best.iloc[0]
        ppm = targets[hit["jaspar_id"]]["ppm"].T
        if hit["strand"] == "-":
            ppm = ppm[::-1, ::-1]
        logomaker.Logo(pd.DataFrame(_information(ppm), columns=list(ALPHABET)), ax=right)
        right.set_title(
            f"best match {hit['jaspar_id']} {hit['jaspar_name']}, strand {hit['strand']}, "
            f"q {hit['q_value']:.2g}\n{hit['tf_class']}",
            fontsize=8,
        )
        right.set_ylabel("bits")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def _set_numba_threads(threads: int) -> None:
    """Limit numba's threads to the rule's ``threads``."""
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _save_modisco(path: str, positive: list, negative: list, window: int) -> None:
    """Write the patterns in modisco-lite's h5 format (readable by ``modisco report``)."""
    from modiscolite.io import save_hdf5

    with atomic_path(path) as tmp:
        save_hdf5(tmp, positive or None, negative or None, window)


def find_motifs(
    shap_path: str,
    modisco_path: str,
    matches_path: str,
    logos_path: str,
    summary_path: str,
    *,
    central_bp: int = 400,
    sliding_window_size: int = 15,
    flank_size: int = 5,
    target_seqlet_fdr: float = 0.05,
    min_metacluster_size: int = 50,
    max_seqlets: int = 2000,
    n_leiden_runs: int = 4,
    final_min_cluster_size: int = 20,
    trim_threshold: float = 0.3,
    jaspar_release: str = "JASPAR2026",
    collection: str = "CORE",
    tax_group: str = "plants",
    top_matches: int = 3,
    logo_patterns: int = 6,
    threads: int = 1,
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
    central_bp : int, default 400
        Central bases of each window searched for seqlets.
    sliding_window_size, flank_size, target_seqlet_fdr, min_metacluster_size, max_seqlets,
    n_leiden_runs, final_min_cluster_size
        modisco-lite options.
    trim_threshold : float, default 0.3
        Pattern ends with CWM weight below this fraction of the largest are trimmed.
    jaspar_release, collection, tax_group : str
        JASPAR matrices compared (pyjaspar's offline database).
    top_matches : int, default 3
    logo_patterns : int, default 6
        Patterns drawn.
    threads : int, default 1
        numba threads.

    Returns
    -------
    dict
        The summary.
    """
    from modiscolite import precompile

    started = time.perf_counter()
    # modisco-lite forks children that compile its numba kernels into numba's on-disk cache
    # (so later runs load them); that needs numba's thread pool not started yet, so the
    # thread count is set after.
    precompile.start()
    _set_numba_threads(threads)
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
    positive, negative, offset = run_modisco(
        x,
        hypothetical,
        central_bp=central_bp,
        sliding_window_size=sliding_window_size,
        flank_size=flank_size,
        target_seqlet_fdr=target_seqlet_fdr,
        min_metacluster_size=min_metacluster_size,
        max_seqlets=max_seqlets,
        n_leiden_runs=n_leiden_runs,
        final_min_cluster_size=final_min_cluster_size,
    )
    modisco_seconds = time.perf_counter() - started
    patterns = summarise_patterns(positive, negative, trim_threshold)
    targets = load_jaspar(jaspar_release, collection, tax_group)
    matches = match_patterns(patterns, targets, top_matches)
    if not patterns:
        logger.warning(
            "modisco-lite found no pattern in %d windows (central %d bp); explain more windows "
            "(attribute.n_windows) or lower motifs.min_metacluster_size",
            len(x),
            min(central_bp, x.shape[2]),
        )
    best = matches[matches["match_rank"] == 1].set_index("pattern")
    summary = {
        "windows": len(x),
        "searched": [offset, offset + min(central_bp, x.shape[2])],
        "hypothetical_contributions": method,
        "patterns": [
            {
                "pattern": p["pattern"],
                "n_seqlets": p["n_seqlets"],
                "consensus": p["consensus"],
                "contribution": p["contribution"],
                **(
                    {
                        "best_match": f"{best.loc[p['pattern'], 'jaspar_id']} "
                        f"{best.loc[p['pattern'], 'jaspar_name']}",
                        "best_match_class": best.loc[p["pattern"], "tf_class"],
                        "best_match_q": float(best.loc[p["pattern"], "q_value"]),
                    }
                    if p["pattern"] in best.index
                    else {}
                ),
            }
            for p in patterns
        ],
        "jaspar": {
            "release": jaspar_release,
            "collection": collection,
            "tax_group": tax_group,
            "matrices": len(targets),
        },
        "comparison": "memelite.tomtom (Pearson, complete score, both strands); "
        "E = p x matrices; q = Benjamini-Hochberg over the matrices of one pattern",
        "settings": {
            "central_bp": central_bp,
            "sliding_window_size": sliding_window_size,
            "flank_size": flank_size,
            "target_seqlet_fdr": target_seqlet_fdr,
            "min_metacluster_size": min_metacluster_size,
            "max_seqlets": max_seqlets,
            "n_leiden_runs": n_leiden_runs,
            "final_min_cluster_size": final_min_cluster_size,
            "trim_threshold": trim_threshold,
        },
        "modisco_seconds": modisco_seconds,
        "total_seconds": time.perf_counter() - started,
    }
    _save_modisco(modisco_path, positive, negative, sliding_window_size)
    with atomic_path(matches_path) as tmp:
        matches.to_csv(tmp, sep="\t", index=False, float_format="%.3g")
    plot_patterns(logos_path, patterns, matches, {t["id"]: t for t in targets}, logo_patterns)
    write_json(summary_path, summary)
    logger.info(
        "%d patterns in %d windows (%.1f s); best matches: %s",
        len(patterns),
        len(x),
        summary["total_seconds"],
        json.dumps({p["pattern"]: p.get("best_match") for p in summary["patterns"]}),
    )
    return summary
