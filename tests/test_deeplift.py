"""Tests of peakcnn.interpret.deeplift: DeepSHAP multipliers vs tangermeme and shap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from peakcnn.interpret.deeplift import contributions, multipliers
from peakcnn.interpret.shap_values import explain, make_references, output_deltas, project
from peakcnn.models.basset import Basset
from peakcnn.models.registry import build_model

LENGTH = 120
HYPER = {"length": LENGTH, "n_tasks": 2, "filters": (8, 8, 8), "dense": (16, 8)}
N_WINDOWS, N_SHUFFLES = 5, 4


def _spread(model: nn.Module, seed: int = 0) -> nn.Module:
    """Scale weights and set BatchNorm statistics so that logits spread over a few units."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            module.weight.data.mul_(3.0)
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def _windows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random one-hot windows (one with N columns) and their dinucleotide-shuffled references."""
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(
        np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (N_WINDOWS, LENGTH))].transpose(0, 2, 1)
    )
    x[1, :, 30:34] = 0
    references, _ = make_references(x, np.arange(N_WINDOWS), N_SHUFFLES, seed)
    return x, references


def _tangermeme(model: nn.Module, x, references, task: int, **options) -> np.ndarray:
    from tangermeme.deep_lift_shap import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tangermeme warns about the N columns of X
        values = deep_lift_shap(
            model,
            torch.from_numpy(x).float(),
            target=task,
            references=torch.from_numpy(references).float(),
            batch_size=N_SHUFFLES,
            device="cpu",
            only_warn=True,
            **options,
        )
    return values.numpy()


@pytest.fixture(scope="module", params=[False, True], ids=["basset", "rc_average"])
def model(request: pytest.FixtureRequest) -> nn.Module:
    torch.manual_seed(0)
    return _spread(build_model("basset", rc_average=request.param, **HYPER))


def test_multipliers_match_tangermeme(model: nn.Module) -> None:
    x, references = _windows()
    ours = multipliers(model, torch.from_numpy(x).float(), torch.from_numpy(references).float(), 1)
    theirs = _tangermeme(model, x, references, 1, raw_outputs=True)
    assert ours.shape == theirs.shape == (N_WINDOWS, N_SHUFFLES, 4, LENGTH)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-6 * np.abs(theirs).max())


def test_hypothetical_matches_tangermeme_and_projects(model: nn.Module) -> None:
    x, references = _windows()
    values, hypothetical = explain(model, x, references, 1, torch.device("cpu"), batch_pairs=6)
    theirs = _tangermeme(model, x, references, 1, hypothetical=True)
    scale = np.abs(theirs).max()
    assert scale > 0.05
    np.testing.assert_allclose(hypothetical, theirs, atol=1e-6 * scale)
    projected = project(values, x)
    np.testing.assert_allclose(hypothetical * x, projected, atol=1e-6 * scale)
    np.testing.assert_allclose(projected, _tangermeme(model, x, references, 1), atol=1e-6 * scale)
    # the observed base's hypothetical contribution is the position's summed contribution
    observed = x.astype(bool)
    np.testing.assert_allclose(
        hypothetical.transpose(0, 2, 1)[observed.transpose(0, 2, 1)],
        values.sum(axis=1)[observed.any(axis=1)],
        atol=1e-6 * scale,
    )


def test_additivity(model: nn.Module) -> None:
    x, references = _windows(seed=1)
    device = torch.device("cpu")
    values, _ = explain(model, x, references, 0, device, batch_pairs=3)  # references split
    deltas = output_deltas(model, x, references, 0, device)
    assert np.abs(deltas).max() > 0.1
    np.testing.assert_allclose(values.sum(axis=(1, 2)), deltas, atol=1e-4)
    assert np.all(values[1][:, 30:34] == 0)  # N columns: zero in x and in every reference


def test_matches_shap_deep_explainer() -> None:
    import shap

    torch.manual_seed(0)
    model = _spread(Basset(**HYPER))
    x, references = _windows(seed=2)
    ours, _ = explain(model, x, references, 0, torch.device("cpu"), batch_pairs=N_SHUFFLES)

    class Task(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.model(inputs)[:, :1]

    theirs = np.stack(
        [
            np.asarray(
                shap.DeepExplainer(Task(), torch.from_numpy(refs).float()).shap_values(
                    torch.from_numpy(window[None]).float(), check_additivity=False
                )
            ).reshape(window.shape)
            for window, refs in zip(x, references, strict=True)
        ]
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max())


class SharedReluBasset(Basset):
    """Basset that reuses one in-place ReLU module for every activation."""

    def __init__(self, **hyperparameters) -> None:
        super().__init__(**hyperparameters)
        shared = nn.ReLU(inplace=True)
        layers = [shared if isinstance(layer, nn.ReLU) else layer for layer in self.layers]
        self.layers = nn.Sequential(*layers)


def test_reused_and_inplace_modules_give_the_same_values() -> None:
    torch.manual_seed(0)
    plain = _spread(Basset(**HYPER))
    shared = SharedReluBasset(**HYPER).eval()
    shared.load_state_dict(plain.state_dict())
    x, references = _windows(seed=3)
    inputs = torch.from_numpy(x).float(), torch.from_numpy(references).float()
    expected = contributions(plain, *inputs, 0)
    observed = contributions(shared, *inputs, 0)
    for ours, theirs in zip(observed, expected, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    assert all(module.inplace for module in shared.modules() if isinstance(module, nn.ReLU))
    assert not any(module._forward_hooks for module in shared.modules())


def test_batch_rows_must_line_up() -> None:
    class MixesRows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.ReLU()

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            extra = torch.cat([inputs, inputs[:1]])  # one more row: batches no longer line up
            return self.relu(extra.flatten(1)).sum(dim=1, keepdim=True)[: len(inputs)]

    x, references = _windows()
    with pytest.raises(ValueError, match="do not line up"):
        multipliers(
            MixesRows(), torch.from_numpy(x).float(), torch.from_numpy(references).float(), 0
        )
