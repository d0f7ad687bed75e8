"""Fine-tuning runs on the render backend's device: a stand-in backend on the ``meta`` device shows where the
target, the parameters and the loss live, without a GPU."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
from torch import Tensor

from fast2dgs_cli.encoder import fit
from fast2dgs_cli.encoder.fit import FitConfig, finetune
from fast2dgs_cli.gaussians import Gaussians

ELSEWHERE = torch.device("meta")


class _LossReached(Exception):
    """Stops the fit at its first loss: values on ``meta`` cannot be read back."""


def test_finetune_moves_the_target_and_parameters_to_the_backends_device(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, torch.device] = {}

    def render_elsewhere(gaussians: Gaussians, height: int, width: int, backend: object) -> Tensor:
        seen.update({f.name: getattr(gaussians, f.name).device for f in fields(gaussians)})
        return torch.zeros(height, width, 3, device=ELSEWHERE)

    def loss(kind: fit.Loss, rendered: Tensor, target: Tensor) -> float:
        seen.update(rendered=rendered.device, target=target.device)
        raise _LossReached

    monkeypatch.setattr(fit, "render", render_elsewhere)
    monkeypatch.setattr(fit, "backend_device", lambda backend: ELSEWHERE, raising=False)  # absent before the fix
    monkeypatch.setattr(fit, "_loss_backward", loss)
    scene = Gaussians(torch.rand(4, 2), torch.ones(4, 2), torch.zeros(4), torch.rand(4, 3))
    with pytest.raises(_LossReached):
        finetune(scene, torch.rand(8, 8, 3), FitConfig(steps=1), backend="torch")
    assert seen == dict.fromkeys(("xy", "scale", "rotation", "color", "rendered", "target"), ELSEWHERE)


def test_finetune_on_the_cpu_returns_cpu_tensors() -> None:
    scene = Gaussians(torch.rand(6, 2), torch.full((6, 2), 2.0), torch.zeros(6), torch.rand(6, 3))
    result = finetune(scene, torch.rand(12, 10, 3), FitConfig(steps=2), backend="torch")
    assert all(getattr(result.gaussians, f.name).device.type == "cpu" for f in fields(result.gaussians))
    assert result.steps == 2
