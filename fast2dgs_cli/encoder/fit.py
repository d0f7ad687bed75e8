"""Fine-tuning: polish Gaussians by gradient descent through the differentiable renderer.

Adam with one learning rate per attribute. Scales are optimized in the log domain (they stay positive);
positions, rotations and colours directly. The loop stops at whichever comes first of the step budget and
the wall-time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..choices import Loss
from ..gaussians import Gaussians
from ..render import Backend, render

__all__ = ["FitConfig", "FitResult", "Loss", "finetune"]


@dataclass(frozen=True)
class FitConfig:
    """Fine-tuning settings.

    Attributes:
        steps: maximum number of optimizer steps.
        time_budget: maximum wall time in seconds (``None``: no limit).
        lr_xy: learning rate of normalized positions.
        lr_scale: learning rate of log standard deviations.
        lr_rotation: learning rate of rotations (radians).
        lr_color: learning rate of colours.
        loss: the loss function.
    """

    steps: int = 300
    time_budget: float | None = None
    lr_xy: float = 4e-4
    lr_scale: float = 2e-2
    lr_rotation: float = 2e-2
    lr_color: float = 1e-2
    loss: Loss = Loss.MSE


@dataclass(frozen=True)
class FitResult:
    """What fine-tuning produced.

    Attributes:
        gaussians: the fitted Gaussians (detached).
        steps: number of optimizer steps taken.
        seconds: wall time spent.
        losses: loss value at every step.
    """

    gaussians: Gaussians
    steps: int
    seconds: float
    losses: list[float]


def _loss(kind: Loss, rendered: Tensor, target: Tensor) -> Tensor:
    if kind is Loss.MSE:
        return torch.mean((rendered - target) ** 2)
    from ..metrics import ssim

    l1 = torch.mean(torch.abs(rendered - target))
    return l1 + 0.1 * (1.0 - ssim(rendered, target))


def finetune(
    gaussians: Gaussians,
    image: Tensor,
    config: FitConfig = FitConfig(),
    backend: Backend | str = Backend.AUTO,
    on_step: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Fit ``gaussians`` to ``image`` (``[H, W, 3]`` float in [0, 1]).

    Args:
        gaussians: the starting point (e.g. from ``init_gaussians``).
        image: the target.
        config: budgets, learning rates and loss.
        backend: the renderer backend.
        on_step: called after every step with ``(step, loss)``, e.g. to drive a progress bar.
    """
    height, width = image.shape[:2]
    target = image.float()
    xy = gaussians.xy.detach().float().clone().requires_grad_(True)
    log_scale = gaussians.scale.detach().float().abs().clamp_min(1e-6).log().requires_grad_(True)
    rotation = gaussians.rotation.detach().float().clone().requires_grad_(True)
    color = gaussians.color.detach().float().clone().requires_grad_(True)
    optimizer = torch.optim.Adam(
        [
            {"params": [xy], "lr": config.lr_xy},
            {"params": [log_scale], "lr": config.lr_scale},
            {"params": [rotation], "lr": config.lr_rotation},
            {"params": [color], "lr": config.lr_color},
        ]
    )
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        if config.time_budget is not None and time.perf_counter() - start >= config.time_budget:
            break
        optimizer.zero_grad(set_to_none=True)
        current = Gaussians(xy, log_scale.exp(), rotation, color)
        loss = _loss(config.loss, render(current, height, width, backend), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    fitted = Gaussians(xy, log_scale.exp(), rotation, color).detach()
    return FitResult(fitted, len(losses), time.perf_counter() - start, losses)
