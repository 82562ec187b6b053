"""Overlaps (bedtools): peaks with each other (keep, merge, strongest); windows with a blacklist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pybedtools

from peakcnn.data.intervals import read_blacklist
from peakcnn.data.tasks import join_tasks
from peakcnn.errors import InputError

OVERLAP_POLICIES = ("keep", "merge", "strongest")


def resolve_overlaps(peaks: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, dict]:
    """Apply the overlap policy to peaks whose intervals overlap (bedtools merge clusters).

    Parameters
    ----------
    peaks : pandas.DataFrame
        ``PEAK_COLUMNS`` rows.
    policy : {"keep", "merge", "strongest"}
        ``keep`` every peak; ``merge`` each cluster of overlapping peaks into one peak (its
        window centred on the merged interval's midpoint, positive for the tasks of all its
        peaks); ``strongest`` keeps the peak with the highest ``signal`` of each cluster.

    Returns
    -------
    pandas.DataFrame
        The peaks left.
    dict
        ``overlap_clusters`` (clusters of 2+ peaks) and ``overlap_removed`` (peaks removed).
    """
    if policy not in OVERLAP_POLICIES:
        raise InputError(f"windows.overlap_policy {policy!r} must be one of {OVERLAP_POLICIES}")
    ordered = peaks.sort_values(["chrom", "start"], kind="stable").reset_index(drop=True)
    merged = (
        pybedtools.BedTool.from_dataframe(
            ordered[["chrom", "start", "end"]].assign(row=np.arange(len(ordered)))
        )
        .merge(c=4, o="collapse")
        .to_dataframe(names=["chrom", "start", "end", "rows"], dtype={"chrom": str, "rows": str})
    )
    members = [np.array(r.split(","), dtype=int) for r in merged["rows"]]
    clusters = sum(len(m) > 1 for m in members)
    if policy == "keep" or clusters == 0:
        return peaks, {"overlap_clusters": clusters, "overlap_removed": 0}
    if policy == "strongest":
        best = [m[np.argmax(ordered["signal"].to_numpy()[m])] for m in members]
        kept = ordered.iloc[best]
    else:
        first = ordered.iloc[[m[0] for m in members]].reset_index(drop=True)
        kept = first.assign(
            start=merged["start"].to_numpy(),
            end=merged["end"].to_numpy(),
            summit=[-1 if len(m) > 1 else s for m, s in zip(members, first["summit"], strict=True)],
            signal=[ordered["signal"].to_numpy()[m].max() for m in members],
        )
        if "tasks" in ordered:
            kept["tasks"] = [join_tasks(ordered["tasks"].to_numpy()[m]) for m in members]
    return kept.reset_index(drop=True), {
        "overlap_clusters": clusters,
        "overlap_removed": len(peaks) - len(kept),
    }


def overlaps_blacklist(windows: pd.DataFrame, blacklist: str | None) -> np.ndarray:
    """Whether each window (``chrom, start, end``) overlaps a blacklisted region (bedtools)."""
    regions = read_blacklist(blacklist)
    hit = np.zeros(len(windows), dtype=bool)
    if regions.empty or windows.empty:
        return hit
    rows = pybedtools.BedTool.from_dataframe(
        windows[["chrom", "start", "end"]].assign(row=np.arange(len(windows)))
    ).intersect(pybedtools.BedTool.from_dataframe(regions), u=True)
    hit[[int(fields[3]) for fields in rows]] = True
    return hit
