"""DeepLIFT multipliers (rescale rule, as in DeepSHAP) of one task's logit, by module hooks.

The multipliers of a sequence ``x`` against a reference ``r`` are the gradient of the model in
which every nonlinearity is replaced by its secant between ``x`` and ``r`` (the rescale rule of
Shrikumar et al. 2017; for max-pooling, the change of each pooled output routed back to the
winning input positions of ``x`` and of ``r``). Linear layers (convolutions, dense layers,
BatchNorm and Dropout in eval mode, flattening) keep their ordinary gradient. These are the
rules of ``shap.DeepExplainer`` and of ``tangermeme.deep_lift_shap``.

Both of those run the forward and the backward pass over a batch of ``x`` stacked on ``r`` and
keep the gradient of one half. Every rule gives both halves the same multiplier, so here:

- ``x`` runs once per window, without autograd, recording the input and output of every
  nonlinear module (``n`` rows instead of ``n * S``);
- the references run with autograd, and a forward hook on each nonlinear module replaces its
  output by the same values carrying the DeepLIFT multiplier as their gradient
  (``_Multiplied``); one backward pass over the references alone gives the multipliers.

The reference batch holds reference ``s`` of window ``i`` at row ``s * n + i``, so inside the
model (also after a wrapper that interleaves a sequence with its reverse complement) the
activations of the references reshape to ``(S, n, ...)`` and line up with those of ``x``.
Where the input of a nonlinearity barely changes (``|dx| < 1e-6``) its multiplier falls back
to the ordinary derivative at ``x``; at max-pool inputs that do not change at all, to the
ordinary gradient of ``x`` (both as tangermeme does). A module used several times in one
forward pass gets one set of activations per call, in call order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

#: Elementwise nonlinearities that take the rescale rule.
ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
)
#: Max-pooling layers that take the routed rescale rule.
MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d)
#: Layers that are linear in eval mode: their ordinary gradient is their multiplier.
LINEAR = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
)
SUPPORTED = ELEMENTWISE + MAXPOOL + LINEAR
#: Smallest input change of an elementwise nonlinearity taken for its secant.
SECANT_MIN = 1e-6


class _Multiplied(torch.autograd.Function):
    """Pass ``output`` on; send the gradient back to ``inputs`` through ``backward_rule``."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, output: torch.Tensor, rule: Callable) -> torch.Tensor:
        """Return ``output`` (the module's own values) unchanged."""
        ctx.rule = rule
        return output

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        """Map the gradient of the output to that of the input by the DeepLIFT rule."""
        return ctx.rule(grad), None, None


def _paired(reference: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """View reference activations (S * m, ...) as (S, m, ...) to line up with (m, ...)."""
    rows = observed.shape[0]
    if rows == 0 or reference.shape[0] % rows or reference.shape[1:] != observed.shape[1:]:
        raise ValueError(
            f"reference activations {tuple(reference.shape)} do not line up with those of the "
            f"sequences {tuple(observed.shape)}; the model must treat batch rows independently"
        )
    return reference.reshape((-1,) + tuple(observed.shape))


def _derivative(module: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Ordinary derivative of an elementwise module at ``inputs`` (hooks bypassed)."""
    if isinstance(module, nn.ReLU):
        return (inputs > 0).to(inputs.dtype)
    with torch.enable_grad():
        point = inputs.detach().requires_grad_()
        (derivative,) = torch.autograd.grad(module.forward(point).sum(), point)
    return derivative


def _elementwise_rule(
    module: nn.Module, observed: tuple, ref_in: torch.Tensor, ref_out: torch.Tensor
) -> Callable:
    """Rescale rule: multiplier ``dy / dx`` between sequence and reference, per unit."""
    x_in, x_out = observed
    delta_in = x_in - _paired(ref_in, x_in)
    delta_out = x_out - _paired(ref_out, x_out)
    small = delta_in.abs() < SECANT_MIN
    secant = delta_out / torch.where(small, torch.ones_like(delta_in), delta_in)
    multiplier = torch.where(small, _derivative(module, x_in), secant).reshape(ref_in.shape)
    return lambda grad: grad * multiplier


def _pool_indices(module: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Flat input position of each pooled maximum, (B, C, pooled positions)."""
    pool = F.max_pool1d if isinstance(module, nn.MaxPool1d) else F.max_pool2d
    _, indices = pool(
        inputs,
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        module.ceil_mode,
        return_indices=True,
    )
    return indices.flatten(2)


def _maxpool_rule(
    module: nn.Module, observed: tuple, ref_in: torch.Tensor, ref_out: torch.Tensor
) -> Callable:
    """Max-pool rule: each output's change, split at ``max(y_x, y_r)``, routed to its winners.

    The part ``max(y_x, y_r) - y_r`` goes to the winner in ``x`` and ``y_x - max(y_x, y_r)``
    to the winner in ``r``; each input's routed change over its own change is its multiplier
    (the ordinary gradient of ``x`` where the input does not change).
    """
    x_in, x_out, x_indices = observed
    shape = ref_in.shape
    paired_out = _paired(ref_out, x_out)
    cross = torch.maximum(x_out, paired_out)
    to_x = (cross - paired_out).reshape(ref_out.shape).flatten(2)
    to_ref = (x_out - cross).reshape(ref_out.shape).flatten(2)
    ref_indices = _pool_indices(module, ref_in)
    x_indices = x_indices.expand((shape[0] // x_in.shape[0],) + x_indices.shape)
    x_indices = x_indices.reshape(ref_indices.shape)
    delta_in = (x_in - _paired(ref_in, x_in)).reshape(shape).flatten(2)
    unchanged = delta_in == 0
    inverse = torch.where(unchanged, 0.0, 1.0 / torch.where(unchanged, 1.0, delta_in))

    def rule(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.flatten(2)
        routed = torch.zeros_like(delta_in)
        routed.scatter_add_(2, x_indices, grad * to_x)
        routed.scatter_add_(2, ref_indices, grad * to_ref)
        ordinary = torch.zeros_like(delta_in).scatter_add_(2, x_indices, grad)
        return torch.where(unchanged, ordinary, routed * inverse).reshape(shape)

    return rule


class _Hooks:
    """Forward hooks that record the sequences' activations, then rewrite the references'."""

    def __init__(self, model: nn.Module) -> None:
        self.modules = [m for m in model.modules() if isinstance(m, ELEMENTWISE + MAXPOOL)]
        self.records: dict[int, list] = {}
        self.calls: dict[int, int] = {}
        self.recording = True

    def __call__(self, module: nn.Module, inputs: tuple, output: torch.Tensor):
        """Record (sequence pass) or return the output carrying the multiplier (reference)."""
        key = id(module)
        if self.recording:
            record = (inputs[0], output)
            if isinstance(module, MAXPOOL):
                record += (_pool_indices(module, inputs[0]),)
            self.records.setdefault(key, []).append(record)
            return None
        call = self.calls.get(key, 0)
        self.calls[key] = call + 1
        observed = self.records[key][call]
        make = _maxpool_rule if isinstance(module, MAXPOOL) else _elementwise_rule
        rule = make(module, observed, inputs[0].detach(), output.detach())
        return _Multiplied.apply(inputs[0], output.detach(), rule)

    def reset(self) -> None:
        """Forget the activations of the previous batch."""
        self.records.clear()
        self.calls.clear()
        self.recording = True


@contextlib.contextmanager
def _hooked(model: nn.Module) -> Iterator[_Hooks]:
    """Register the hooks on the nonlinear modules (not in place, eval mode); undo on exit."""
    hooks = _Hooks(model)
    training = model.training
    inplace = [m for m in hooks.modules if getattr(m, "inplace", False)]
    handles = [module.register_forward_hook(hooks) for module in hooks.modules]
    model.eval()
    for module in inplace:
        module.inplace = False  # the rule needs the input intact; the values are the same
    try:
        yield hooks
    finally:
        for handle in handles:
            handle.remove()
        for module in inplace:
            module.inplace = True
        model.train(training)


def multipliers(
    model: nn.Module, x: torch.Tensor, references: torch.Tensor, task: int
) -> torch.Tensor:
    """DeepLIFT multipliers of one task's logit, each window against each of its references.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, 4, L) float to (B, T) logits, treating batch rows independently.
    x : torch.Tensor
        Windows, float (n, 4, L), on the model's device.
    references : torch.Tensor
        Their references, float (n, S, 4, L), same device.
    task : int
        Output column.

    Returns
    -------
    torch.Tensor
        (n, S, 4, L): the multiplier of every base at every position, per reference. The
        contributions are ``multipliers * (x - reference)``.
    """
    n, n_refs = references.shape[:2]
    stacked = references.transpose(0, 1).reshape((n_refs * n,) + tuple(x.shape[1:]))
    with _hooked(model) as hooks:
        with torch.no_grad():
            model(x)
        hooks.recording = False
        stacked = stacked.detach().requires_grad_()
        with torch.enable_grad():
            logits = model(stacked)[:, task]
            (grad,) = torch.autograd.grad(logits.sum(), stacked)
        hooks.reset()
    return grad.reshape((n_refs, n) + tuple(x.shape[1:])).transpose(0, 1)


def contributions(
    model: nn.Module, x: torch.Tensor, references: torch.Tensor, task: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSHAP contributions and hypothetical contributions, summed over the references.

    Parameters
    ----------
    model, x, references, task
        See ``multipliers``.

    Returns
    -------
    contribution : torch.Tensor
        ``sum_s m * (x - r_s)``, (n, 4, L).
    hypothetical : torch.Tensor
        ``sum_s sum_c m_c * (e_b - r_s)_c`` for every base ``b``, (n, 4, L): what each base
        would contribute at each position (the observed base's equals the position's summed
        contribution).
    """
    m = multipliers(model, x, references, task)
    contribution = (m * (x.unsqueeze(1) - references)).sum(dim=1)
    hypothetical = (m - (m * references).sum(dim=2, keepdim=True)).sum(dim=1)
    return contribution, hypothetical
