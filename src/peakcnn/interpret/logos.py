"""Sequence logos of projected SHAP values, cropped around each window's strongest stretch."""

from __future__ import annotations

import numpy as np

from peakcnn.data.genome import BASES


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
    import pandas as pd
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
