"""Logos: projected SHAP values of windows, and motif patterns beside their best JASPAR match.

``plot_logos`` draws each window cropped around its strongest stretch; ``plot_patterns`` draws
each modisco pattern's trimmed CWM beside its best match (information content).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.data.genome import BASES
from peakcnn.io import atomic_path


def _logo_offset(projected: np.ndarray, width: int) -> int:
    """First position of the ``width``-bp crop with the largest summed ``|projected|``.

    Parameters
    ----------
    projected : numpy.ndarray
        Projected SHAP values of one window, float (4, L).
    width : int
        Crop width in bp.

    Returns
    -------
    int
        Offset into the window; 0 if the window is not longer than ``width``.
    """
    weight = np.abs(projected).sum(axis=0)
    if width >= len(weight):
        return 0
    return int(np.argmax(np.convolve(weight, np.ones(width), mode="valid")))


def plot_logos(path: str, projected: np.ndarray, meta: dict[str, np.ndarray], width: int) -> None:
    """Draw one sequence logo of projected SHAP values per window, a row each, as a PNG.

    Parameters
    ----------
    path : str
        The PNG to write.
    projected : numpy.ndarray
        Projected SHAP values, float32 (n, 4, L), in the order to draw.
    meta : dict of str to numpy.ndarray
        ``chrom`` (n,) str, ``start``/``end`` (n,) int64 and ``score`` (n,) float.
    width : int
        Bases shown per logo, cropped around the highest-attribution stretch.
    """
    import logomaker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    length = projected.shape[2]
    width = min(width, length)
    figure = Figure(figsize=(max(6.0, 0.16 * width), 1.9 * len(projected)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(projected), 1, squeeze=False)[:, 0]
    for ax, values, chrom, start, end, score in zip(
        axes, projected, meta["chrom"], meta["start"], meta["end"], meta["score"], strict=True
    ):
        offset = _logo_offset(values, width)
        crop = values[:, offset : offset + width].T
        index = pd.RangeIndex(int(start) + offset, int(start) + offset + width, name="pos")
        logomaker.Logo(pd.DataFrame(crop, columns=list(BASES), index=index), ax=ax)
        ax.set_title(f"{chrom}:{start}-{end}  score {score:.3f}", fontsize=9)
        ax.set_ylabel("SHAP")
    figure.savefig(path, format="png", dpi=100)


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
        From ``peakcnn.interpret.motifs.summarise_patterns``.
    matches : pandas.DataFrame
        From ``peakcnn.interpret.jaspar.match_patterns``.
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
        logomaker.Logo(pd.DataFrame(cwm, columns=list(BASES)), ax=left)
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
        logomaker.Logo(pd.DataFrame(_information(ppm), columns=list(BASES)), ax=right)
        right.set_title(
            f"best match {hit['jaspar_id']} {hit['jaspar_name']}, strand {hit['strand']}, "
            f"q {hit['q_value']:.2g}\n{hit['tf_class']}",
            fontsize=8,
        )
        right.set_ylabel("bits")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
