"""Score and explain one window for the Sequence page, with bounded work per request.

The score is that of ``peakcnn predict``; SHAP values come from ``peakcnn.interpret.shap_values``
(the
explainer the model was trained for, against a few dinucleotide-shuffled references); the
in-silico mutagenesis from ``peakcnn.interpret.ism`` on the central stretch of the window; a
single-base
what-if scores the three substitutions at one base with the code of ``peakcnn variants`` (a
window centred on the base for each allele, logits averaged over both strands). The work of a
request does not depend on the length of the input: one window, ``references`` shuffles and
``3 * ism_width`` mutants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peakcnn.apply.loading import LoadedModel
from peakcnn.apply.predict import window_logits
from peakcnn.apply.variants import Variant, effect_table, encode_alleles
from peakcnn.errors import InputError
from peakcnn.interpret.ism import ism
from peakcnn.interpret.shap_values import explain, make_references, output_deltas, resolve_explainer
from peakcnn.web.inputs import Query

#: Dinucleotide shuffles each window is explained against on the page.
REFERENCES = 8
#: Bases mutated by the in-silico mutagenesis, centred on the window.
ISM_WIDTH = 200
#: Largest values of the two settings above that ``peakcnn serve`` accepts.
MAX_REFERENCES, MAX_ISM_WIDTH = 50, 1000
#: Seed of the reference shuffles (the page shows the same logo for the same input).
SEED = 0


@dataclass
class Limits:
    """Work allowed per request: SHAP references and the width of the mutagenesis."""

    references: int = REFERENCES
    ism_width: int = ISM_WIDTH

    def __post_init__(self) -> None:
        if not 1 <= self.references <= MAX_REFERENCES:
            raise InputError(f"--shap-references must be within 1-{MAX_REFERENCES}")
        if not 1 <= self.ism_width <= MAX_ISM_WIDTH:
            raise InputError(f"--ism-width must be within 1-{MAX_ISM_WIDTH}")


def scores(model: LoadedModel, query: Query, both_strands: bool = False) -> list[dict]:
    """Probability, logit, validation threshold and call of each task for the window."""
    logits = window_logits(model, query.x, both_strands).astype(np.float64)
    probabilities = model.probabilities(logits)[0]  # calibrated, as in peakcnn predict
    thresholds = model.metadata.thresholds or [None] * len(model.tasks)
    rows = []
    for task, logit, probability, cut in zip(
        model.tasks, logits[0], probabilities, thresholds, strict=True
    ):
        probability = float(probability)
        call = None if cut is None else ("bound" if probability >= cut else "not bound")
        rows.append(
            {
                "task": task,
                "probability": probability,
                "logit": float(logit),
                "threshold": cut,
                "call": call,
            }
        )
    return rows


def shap_values(model: LoadedModel, query: Query, task: int, limits: Limits) -> dict:
    """SHAP value of each observed base of the window for one task's logit.

    Returns
    -------
    dict
        ``values`` (one per base; 0 at N), ``explainer``, ``references``, and the additivity
        check: ``sum`` of the values and ``delta`` (logit minus the mean reference logit).
    """
    if model.kind != "checkpoint":
        raise InputError("SHAP needs a run's model.pt (a PyTorch checkpoint)")
    try:
        explainer = resolve_explainer(model.source)
    except InputError:
        raise InputError(
            f"model {model.metadata.name!r} has no SHAP explainer (its inputs are not "
            "differentiable); the mutagenesis below explains it"
        ) from None
    network = model.network
    references, _ = make_references(query.x, np.zeros(1, dtype=np.int64), limits.references, SEED)
    raw, _ = explain(  # projected-ready values and the hypothetical contributions
        network,
        query.x,
        references,
        task,
        model.device,
        batch_pairs=limits.references,
        explainer=explainer,
        seed=SEED,
    )
    per_base = (raw.sum(axis=1) * query.x.any(axis=1))[0]
    delta = output_deltas(network, query.x, references, task, model.device)[0]
    return {
        "values": [_significant(v) for v in per_base],
        "explainer": explainer,
        "references": limits.references,
        "sum": float(per_base.sum()),
        "delta": float(delta),
    }


def mutagenesis(model: LoadedModel, query: Query, task: int, limits: Limits) -> dict:
    """Change of one task's logit for each substitution on the central ``ism_width`` bases.

    Returns
    -------
    dict
        ``start`` (window index of the first mutated base) and ``values``: 4 rows (A, C, G,
        T) of ``logit(mutant) - logit(window)``, 0 at the observed base.
    """
    length = query.x.shape[2]
    width = min(limits.ism_width, length)
    start = (length - width) // 2
    deltas = ism(model.network, query.x, task, model.device, start, start + width)[0]
    return {"start": start, "values": [[_significant(v) for v in row] for row in deltas]}


def _significant(value: float) -> float:
    """Round a value to 4 significant digits, for the page's JSON."""
    return float(f"{float(value):.4g}")


def what_if(model: LoadedModel, query: Query, index: int) -> list[dict]:
    """Effect of each substitution of one window base, scored as ``peakcnn variants`` does.

    Parameters
    ----------
    model : LoadedModel
    query : Query
    index : int
        Base of the window (0-based).

    Returns
    -------
    list of dict
        One per substitution and task, the columns of ``peakcnn variants``: ``pos``, ``ref``,
        ``alt``, ``task``, ``ref_probability``, ``alt_probability``,
        ``probability_difference``, ``logit_difference``, ``log2_odds_ratio``.
    """
    length = query.x.shape[2]
    if not 0 <= index < length:
        raise InputError(f"base {index} is outside the {length} bp window")
    where = query.window_in_context + index
    ref = chr(query.context[where]).upper()
    ref = ref if ref in "ACGT" else "N"
    label = query.chrom or query.label
    variants = [Variant(0, label, where + 1, ".", ref, alt) for alt in "ACGT" if alt != ref]
    bases = np.frombuffer(query.context, dtype=np.uint8)
    keep = list(range(len(variants)))
    logits = {
        allele: window_logits(model, encode_alleles(variants, keep, bases, allele, length), True)
        for allele in ("ref", "alt")
    }
    table = effect_table(model, variants, keep, logits)
    table["pos"] = query.position(index)
    columns = [
        "pos",
        "ref",
        "alt",
        "task",
        "ref_probability",
        "alt_probability",
        "probability_difference",
        "logit_difference",
        "log2_odds_ratio",
    ]
    return table[columns].to_dict(orient="records")
