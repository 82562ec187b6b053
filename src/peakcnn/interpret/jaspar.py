"""JASPAR matrices and the comparison of pattern PPMs with them (TOMTOM, BH q-values).

Each pattern's position probability matrix (PPM), trimmed to the positions whose CWM weight is
at least ``trim_threshold`` of the largest, is compared with every JASPAR matrix of the chosen
collection and taxonomic group (pyjaspar's offline database) by memelite's TOMTOM (Pearson
column similarity, complete scores, both strands). p-values come from TOMTOM; E = p x number of
targets and q = Benjamini-Hochberg over the targets of one pattern.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peakcnn.data.genome import BASES
from peakcnn.errors import InputError


@dataclass(frozen=True)
class JasparQuery:
    """The JASPAR matrices compared (pyjaspar's offline database).

    Attributes
    ----------
    release : str, default "JASPAR2026"
        A release bundled with pyjaspar (config ``motifs.jaspar_release``).
    collection : str, default "CORE"
    tax_group : str, default "plants"
    """

    release: str = "JASPAR2026"
    collection: str = "CORE"
    tax_group: str = "plants"


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
        counts = np.array([motif.counts[base] for base in BASES], dtype=np.float64)
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
    return "".join(BASES[b] if ppm[i, b] >= 0.5 else BASES[b].lower() for i, b in enumerate(best))


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
        From ``peakcnn.interpret.motifs.summarise_patterns``.
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
