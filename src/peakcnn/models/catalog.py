"""Facts about each model, by name: the one table the library and the workflow read.

Standard library only, so that the workflow (``common.smk``, at DAG time) and the torch-free
stages (model choice) read the same facts as the trainer without importing torch. The classes
that build each model are mapped to these names in ``peakcnn.models.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Explainer names, as stored in checkpoints (``explainer``).
DEEP_EXPLAINER = "shap.DeepExplainer"
GRADIENT_EXPLAINER = "shap.GradientExplainer"


@dataclass(frozen=True)
class ModelFacts:
    """What the library and the workflow need to know about one model.

    Attributes
    ----------
    name : str
        The config name (``config.models``).
    explainer : str or None
        The SHAP explainer that suits it; None: no SHAP attribution.
    deterministic : bool, default False
        Training draws no random numbers: one run whatever the seeds.
    kmer_baseline : bool, default False
        It is the k-mer baseline: fitted in one pass by scikit-learn, not by gradient descent.
    """

    name: str
    explainer: str | None
    deterministic: bool = False
    kmer_baseline: bool = False


# DeepExplainer needs every nonlinearity to be its own module with a known DeepLIFT rule;
# attention multiplies two activations, which it has no rule for, so the hybrid takes expected
# gradients instead. The k-mer baseline counts discrete k-mers (not differentiable in the input).
#: Every model, simplest first: the order breaks ties between equally good runs.
FACTS: tuple[ModelFacts, ...] = (
    ModelFacts("kmer_baseline", None, deterministic=True, kmer_baseline=True),
    ModelFacts("basset", DEEP_EXPLAINER),
    ModelFacts("basset_paper", DEEP_EXPLAINER),
    ModelFacts("hybrid", GRADIENT_EXPLAINER),
)
#: Facts by model name.
BY_NAME = {facts.name: facts for facts in FACTS}
#: Model names, simplest first.
SIMPLICITY: tuple[str, ...] = tuple(facts.name for facts in FACTS)
#: Models trained once whatever ``train.seeds``.
DETERMINISTIC_MODELS = frozenset(f.name for f in FACTS if f.deterministic)
#: Models SHAP cannot explain: no attribution target in the workflow.
NO_SHAP_MODELS = frozenset(f.name for f in FACTS if f.explainer is None)


def simplicity_rank(name: str) -> int:
    """Position of a model in ``SIMPLICITY`` (0: simplest); any other name ranks after all."""
    return SIMPLICITY.index(name) if name in SIMPLICITY else len(SIMPLICITY)
