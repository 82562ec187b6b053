"""Sequence models, chosen by name (``config.models``), and the one table of facts about them.

Every torch model maps one-hot float (N, 4, L) to (N, T) logits, one per task. Models:

- ``kmer_baseline``: k-mer frequencies and a logistic regression fitted with scikit-learn,
  held as a torch module (``peakcnn.models.kmer``) so that it is saved, loaded and scored like
  the others. It draws no random numbers: trained once, whatever ``train.seeds``.
- ``basset``: the seed Basset-style CNN (64/128/128 filters, kernels 19/11/7, pools 4/4/4).
- ``basset_paper``: the original Basset sizes (300/200/200 filters, kernels 19/11/7, pools
  3/4/4, two dense layers of 1000 units, dropout 0.3).
- ``hybrid``: a CNN front end, then pre-norm multi-head self-attention (transformer encoder)
  blocks over the pooled positions, mean-pooled into a small dense head.

``SPECS`` lists them simplest first, with the SHAP explainer that suits each one and whether
training is deterministic; ``MODELS``, ``SIMPLICITY`` and the functions below are read from it.
The workflow (``workflow/rules/common.smk``) cannot import torch at DAG time and keeps its own
``DETERMINISTIC_MODELS`` and ``NO_SHAP_MODELS``; a test checks them against this table.

``build_model(..., rc_average=True)`` wraps any model in ``RCAverage``, which averages the
logits of each sequence and its reverse complement; the flag is stored with the
hyperparameters, so ``peakcnn.models.checkpoint.load_checkpoint`` rebuilds the wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from peakcnn.models.basset import Basset, BassetPaper
from peakcnn.models.hybrid import Hybrid
from peakcnn.models.kmer import KmerBaseline
from peakcnn.models.layers import RCAverage

#: Explainer names, as stored in checkpoints (``explainer``).
DEEP_EXPLAINER = "shap.DeepExplainer"
GRADIENT_EXPLAINER = "shap.GradientExplainer"


@dataclass(frozen=True)
class ModelSpec:
    """What the library and the workflow need to know about one model.

    Attributes
    ----------
    name : str
        The config name (``config.models``).
    builder : type of torch.nn.Module
        Its class, called as ``builder(length=..., n_tasks=..., **hyperparameters)``.
    explainer : str or None
        The SHAP explainer that suits it; None: no SHAP attribution.
    deterministic : bool, default False
        Training draws no random numbers: one run whatever the seeds.
    kmer_baseline : bool, default False
        It is the k-mer baseline: fitted in one pass by scikit-learn, not by gradient descent.
    """

    name: str
    builder: type[nn.Module]
    explainer: str | None
    deterministic: bool = False
    kmer_baseline: bool = False


# DeepExplainer needs every nonlinearity to be its own module with a known DeepLIFT rule;
# attention multiplies two activations, which it has no rule for, so the hybrid takes expected
# gradients instead. The k-mer baseline counts discrete k-mers (not differentiable in the input).
#: Every model, simplest first: the order breaks ties between equally good runs.
SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("kmer_baseline", KmerBaseline, None, deterministic=True, kmer_baseline=True),
    ModelSpec("basset", Basset, DEEP_EXPLAINER),
    ModelSpec("basset_paper", BassetPaper, DEEP_EXPLAINER),
    ModelSpec("hybrid", Hybrid, GRADIENT_EXPLAINER),
)
_BY_NAME = {spec.name: spec for spec in SPECS}

#: Model name → class: the models ``build_model`` can build.
MODELS: dict[str, type[nn.Module]] = {spec.name: spec.builder for spec in SPECS}
#: Model names, simplest first.
SIMPLICITY: tuple[str, ...] = tuple(spec.name for spec in SPECS)


def check_model_name(name: str) -> None:
    """Raise ValueError naming the choices unless ``name`` is a key of ``MODELS``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")


def explainer_for(name: str) -> str | None:
    """Return the SHAP explainer that suits a model (``None`` when SHAP does not apply).

    Parameters
    ----------
    name : str
        A key of ``MODELS``.

    Returns
    -------
    str or None
        ``"shap.DeepExplainer"``, ``"shap.GradientExplainer"`` or None; a model registered in
        ``MODELS`` but not in ``SPECS`` is taken to be a module-built CNN (DeepExplainer).
    """
    check_model_name(name)
    spec = _BY_NAME.get(name)
    return spec.explainer if spec else DEEP_EXPLAINER


def supports_shap(name: str) -> bool:
    """Whether SHAP attributions can be computed for a model (False for ``kmer_baseline``)."""
    return explainer_for(name) is not None


def is_deterministic(name: str) -> bool:
    """Whether a model's training draws no random numbers (trained once, whatever the seeds)."""
    check_model_name(name)
    spec = _BY_NAME.get(name)
    return bool(spec and spec.deterministic)


def is_kmer_baseline(name: str) -> bool:
    """Whether a model is the k-mer baseline (fitted in one pass, not by gradient descent)."""
    check_model_name(name)
    spec = _BY_NAME.get(name)
    return bool(spec and spec.kmer_baseline)


def simplicity_rank(name: str) -> int:
    """Position of a model in ``SIMPLICITY`` (0: simplest); any other name ranks after all."""
    return SIMPLICITY.index(name) if name in SIMPLICITY else len(SIMPLICITY)


def build_model(
    name: str, length: int, n_tasks: int, rc_average: bool = False, **hyperparameters
) -> nn.Module:
    """Build a model by its config name.

    Parameters
    ----------
    name : str
        A key of ``MODELS``.
    length : int
        Input length in bp.
    n_tasks : int
        Number of outputs.
    rc_average : bool, default False
        Wrap the model in ``RCAverage`` (mean logit over both strands).
    **hyperparameters
        Passed to the model's constructor.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        For an unknown model name or a hyperparameter the model does not take.
    """
    check_model_name(name)
    try:
        model = MODELS[name](length=length, n_tasks=n_tasks, **hyperparameters)
    except TypeError as error:
        if "unexpected keyword" not in str(error):
            raise
        raise ValueError(
            f"model {name!r} does not take hyperparameter(s) {sorted(hyperparameters)}: {error}"
        ) from None
    return RCAverage(model) if rc_average else model
