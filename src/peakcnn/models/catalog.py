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


def architecture_of(
    name: str,
    architecture: dict | None,
    *,
    flat_for: str | None = None,
    models: tuple[str, ...] | frozenset[str] | dict = SIMPLICITY,
) -> dict:
    """Return the hyperparameters of model ``name`` from a ``train.architecture`` value.

    The value is keyed by model name when every value is a dict (``{basset: {...}, hybrid:
    {...}}``), else flat: the hyperparameters of ``flat_for`` only (the config's seed form holds
    basset's), or of ``name`` itself when ``flat_for`` is None (a library call for one model).

    Parameters
    ----------
    name : str
    architecture : dict or None
    flat_for : str, optional
    models : collection of str, default ``SIMPLICITY``
        The model names a keyed value may use.

    Raises
    ------
    ValueError
        For a keyed value with a key that is no model name (a typo would drop its settings).
    """
    architecture = dict(architecture or {})
    if architecture and all(isinstance(value, dict) for value in architecture.values()):
        unknown = sorted(set(architecture) - set(models))
        if unknown:
            raise ValueError(
                f"train.architecture: {unknown} are no model names ({sorted(models)}); key it "
                "by model name, or give basset's hyperparameters flat"
            )
        return dict(architecture.get(name) or {})
    if flat_for is not None and name != flat_for:
        return {}
    return architecture
