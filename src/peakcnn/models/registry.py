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

``MODELS`` maps each name to its class; what is known about each model (SHAP explainer,
determinism, simplicity order, k-mer baseline) is in ``peakcnn.models.catalog``, which the
workflow and the torch-free stages read too; the functions below answer from it.

``build_model(..., rc_average=True)`` wraps any model in ``RCAverage``, which averages the
logits of each sequence and its reverse complement; the flag is stored with the
hyperparameters, so ``peakcnn.models.checkpoint.load_checkpoint`` rebuilds the wrapper.
"""

from __future__ import annotations

from torch import nn

from peakcnn.models.basset import Basset, BassetPaper
from peakcnn.models.catalog import BY_NAME, DEEP_EXPLAINER
from peakcnn.models.hybrid import Hybrid
from peakcnn.models.kmer import KmerBaseline
from peakcnn.models.layers import RCAverage

#: Model name → class: the models ``build_model`` can build (their facts: ``FACTS``).
MODELS: dict[str, type[nn.Module]] = {
    "kmer_baseline": KmerBaseline,
    "basset": Basset,
    "basset_paper": BassetPaper,
    "hybrid": Hybrid,
}


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
        ``MODELS`` but not in the catalog is taken to be a module-built CNN (DeepExplainer).
    """
    check_model_name(name)
    spec = BY_NAME.get(name)
    return spec.explainer if spec else DEEP_EXPLAINER


def supports_shap(name: str) -> bool:
    """Whether SHAP attributions can be computed for a model (False for ``kmer_baseline``)."""
    return explainer_for(name) is not None


def is_deterministic(name: str) -> bool:
    """Whether a model's training draws no random numbers (trained once, whatever the seeds)."""
    check_model_name(name)
    spec = BY_NAME.get(name)
    return bool(spec and spec.deterministic)


def is_kmer_baseline(name: str) -> bool:
    """Whether a model is the k-mer baseline (fitted in one pass, not by gradient descent)."""
    check_model_name(name)
    spec = BY_NAME.get(name)
    return bool(spec and spec.kmer_baseline)


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
