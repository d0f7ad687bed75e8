"""Fine-tuning: polish Gaussians by gradient descent through the differentiable renderer.

Adam with one learning rate per attribute. Scales are optimized in the log domain (they stay positive);
positions, rotations and colours directly. The position rate follows the budget: ``XY_STEP / √N`` in
normalized coordinates, a fixed fraction of the mean spacing between ``N`` Gaussians on any image. The loop
stops at whichever comes first of the step budget and the wall-time budget. Without an explicit step count,
``default_steps`` picks one from the Gaussian density.

The fit runs on the device of the render backend (``render.backend_device``: CUDA for gmod, else the CPU):
the target, the parameters and the optimizer state are moved there once, and the fitted Gaussians come back
to the CPU, where quantization works.

The fit works on floats; the picture the decoder draws is settled after quantization, where
``refine.refine_colours`` and ``refine_geometry.refine_geometry`` re-choose the codes against it.

The Adam update is the textbook one (Kingma & Ba, bias-corrected, β = (0.9, 0.999), ε = 1e-8) written out
here: constructing ``torch.optim.Adam`` imports ``torch._dynamo``, a start-up cost every ``f2dgs encode`` run
would pay for four tensors.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..choices import DEFAULT_DENSITY, DEFAULT_STEPS, MAX_DEFAULT_STEPS, Loss
from ..gaussians import Gaussians
from ..render import Backend, backend_device, render, resolve_backend

__all__ = ["DECAY_FLOOR", "XY_STEP", "FitConfig", "FitResult", "Loss", "default_steps", "finetune", "rate_factor"]

XY_STEP = 0.075
"""Position learning rate as a fraction of the mean Gaussian spacing ``1/√N`` (normalized coordinates).

A rate tied to the spacing moves every Gaussian by the same share of the distance to its neighbours, whatever
the budget; a fixed rate moves dense Gaussians too far and sparse ones too little. The rates stay constant
over the run: short fits are still travelling, not settling.
"""

DECAY_FLOOR = 0.1
"""Share of each learning rate left at the last step of a decaying fit (``FitConfig.decay``)."""


@dataclass(frozen=True)
class FitConfig:
    """Fine-tuning settings.

    Attributes:
        steps: maximum number of optimizer steps (``None``: ``default_steps`` of the budget and image size).
        time_budget: maximum wall time in seconds (``None``: no limit).
        lr_xy: learning rate of normalized positions (``None``: ``XY_STEP / √N`` for ``N`` Gaussians).
        lr_scale: learning rate of log standard deviations.
        lr_rotation: learning rate of rotations (radians).
        lr_color: learning rate of colours.
        loss: the loss function.
        decay: share of the steps, at the end, over which every rate falls (half a cosine) to ``DECAY_FLOOR``
            of its value, so that a long fit settles instead of wandering (0: constant rates).
        keep_best: return the Gaussians of the step with the lowest loss, not the last ones: a long fit of
            few Gaussians at constant rates can end worse than it was hundreds of steps before.
        backoff: halve every rate for the rest of the fit whenever the loss exceeds this multiple of the lowest
            so far (``None``: never), so that rates too large for one picture do not keep it from settling.

    The scale, rotation and colour rates are tuned for short runs (Adam, about 100 steps).
    """

    steps: int | None = None
    time_budget: float | None = None
    lr_xy: float | None = None
    lr_scale: float = 0.1
    lr_rotation: float = 0.1
    lr_color: float = 3e-2
    loss: Loss = Loss.MSE
    decay: float = 0.0
    keep_best: bool = False
    backoff: float | None = None


def default_steps(count: int, pixels: int) -> int:
    """Fine-tuning steps for ``count`` Gaussians on an image of ``pixels`` pixels when none are given.

    ``DEFAULT_STEPS`` (50) at ``DEFAULT_DENSITY`` Gaussians per pixel and above, ``MAX_DEFAULT_STEPS`` (100) at
    half that density and below, linear in log-density between.
    """
    halvings = math.log2(DEFAULT_DENSITY * pixels / max(count, 1))
    share = min(1.0, max(0.0, halvings))
    return round(DEFAULT_STEPS + share * (MAX_DEFAULT_STEPS - DEFAULT_STEPS))


def rate_factor(step: int, steps: int, decay: float) -> float:
    """Learning-rate multiplier of ``step`` (1-based) of ``steps`` when the last ``decay`` share of them decays:
    1 before, then half a cosine down to ``DECAY_FLOOR`` at the last step."""
    span = decay * steps
    into = step - (steps - span)
    if span <= 0 or into <= 0:
        return 1.0
    return DECAY_FLOOR + (1.0 - DECAY_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, into / span)))


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


class _Adam:
    """Adam over ``(parameter, learning rate)`` pairs; ``step()`` applies and then clears the gradients."""

    def __init__(self, params: list[tuple[Tensor, float]], betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.betas, self.eps, self.count = params, betas, eps, 0
        self.factor = 1.0  # multiplies every learning rate (the schedule)
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p, _ in params]

    @torch.no_grad()
    def step(self) -> None:
        self.count += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1.0 - beta1**self.count, 1.0 - beta2**self.count
        for (param, lr), (mean, square) in zip(self.params, self.moments):
            if param.grad is None:
                continue
            mean.mul_(beta1).add_(param.grad, alpha=1.0 - beta1)
            square.mul_(beta2).addcmul_(param.grad, param.grad, value=1.0 - beta2)
            denom = (square / correction2).sqrt_().add_(self.eps)
            param.addcdiv_(mean, denom, value=-lr * self.factor / correction1)
            param.grad = None


class _SeedGradient(torch.autograd.Function):
    """A scalar whose backward hands ``gradient`` to ``output``: ``_SeedGradient.apply(output, gradient).backward()``
    is ``output.backward(gradient)``, which would import torch's symbolic-shape machinery (and SymPy) on its
    first call, a start-up cost of every ``f2dgs encode`` run."""

    @staticmethod
    def forward(ctx, output: Tensor, gradient: Tensor) -> Tensor:
        ctx.gradient = gradient
        return output.new_zeros(())

    @staticmethod
    def backward(ctx, _: Tensor) -> tuple[Tensor, None]:
        return ctx.gradient, None


def _loss_backward(kind: Loss, rendered: Tensor, target: Tensor) -> float:
    """The loss of ``rendered`` against ``target``, after sending its gradient back through the renderer.

    MSE hands the renderer its image gradient ``2·(rendered − target)/n`` directly (the same numbers autograd's
    ``mse_loss`` would give, without the loss as a graph node and its own passes over the picture)."""
    if kind is Loss.MSE:
        residual = rendered.detach() - target
        loss = _mean_square(residual)
        _SeedGradient.apply(rendered, residual.mul_(2.0 / residual.numel())).backward()
        return loss
    loss = _structural_loss(rendered, target)
    loss.backward()
    return loss.item()


def _loss_value(kind: Loss, rendered: Tensor, target: Tensor) -> float:
    """The loss of ``rendered`` against ``target`` as ``_loss_backward`` computes it, without a gradient."""
    if kind is Loss.MSE:
        return _mean_square(rendered - target)
    return _structural_loss(rendered, target).item()


def _mean_square(residual: Tensor) -> float:
    flat = residual.reshape(-1)
    return torch.dot(flat, flat).item() / flat.numel()


def _structural_loss(rendered: Tensor, target: Tensor) -> Tensor:
    """L1 plus 0.1 × (1 − SSIM)."""
    from ..metrics import ssim

    l1 = torch.mean(torch.abs(rendered - target))
    return l1 + 0.1 * (1.0 - ssim(rendered, target))


def finetune(
    gaussians: Gaussians,
    image: Tensor,
    config: FitConfig = FitConfig(),
    backend: Backend | str = Backend.AUTO,
    on_step: Callable[[int, int, float], None] | None = None,
) -> FitResult:
    """Fit ``gaussians`` to ``image`` (``[H, W, 3]`` float in [0, 1]).

    Args:
        gaussians: the starting point (e.g. from ``init_gaussians``).
        image: the target.
        config: budgets, learning rates and loss.
        backend: the renderer backend; the fit runs on its device (``render.backend_device``).
        on_step: called after every step with ``(step, total steps, loss)``, e.g. to drive a progress bar.

    Returns the fitted Gaussians on the CPU.
    """
    height, width = image.shape[:2]
    chosen = resolve_backend(backend)
    device = backend_device(chosen)
    target = image.float().to(device)
    xy, log_scale, rotation, color = _parameters(gaussians.to(device=device))
    lr_xy = XY_STEP / math.sqrt(max(len(gaussians), 1)) if config.lr_xy is None else config.lr_xy
    optimizer = _Adam(
        [(xy, lr_xy), (log_scale, config.lr_scale), (rotation, config.lr_rotation), (color, config.lr_color)]
    )
    steps = default_steps(len(gaussians), height * width) if config.steps is None else config.steps
    losses: list[float] = []
    best_loss, best = math.inf, None
    min_loss, scale = math.inf, 1.0  # scale: what the backoffs left of the rates
    start = time.perf_counter()
    collecting = gc.isenabled()
    gc.disable()  # the steps free their objects by reference counting; a full collection would walk every
    try:  # object torch and numba have loaded, several times per fit
        for step in range(1, steps + 1):
            if config.time_budget is not None and time.perf_counter() - start >= config.time_budget:
                break
            current = Gaussians(xy, log_scale.exp(), rotation, color)
            losses.append(_loss_backward(config.loss, render(current, height, width, chosen), target))
            if config.keep_best and losses[-1] < best_loss:  # the parameters this loss was measured at
                best_loss = losses[-1]
                best = Gaussians(*(t.detach().clone() for t in (xy, current.scale, rotation, color)))
            if config.backoff is not None and losses[-1] > config.backoff * min_loss:
                scale, min_loss = 0.5 * scale, losses[-1]  # judged again against the loss at the lower rates
            min_loss = min(min_loss, losses[-1])
            optimizer.factor = scale * rate_factor(step, steps, config.decay)
            optimizer.step()
            if on_step is not None:
                on_step(step, steps, losses[-1])
    finally:
        if collecting:
            gc.enable()
    fitted = Gaussians(xy, log_scale.exp(), rotation, color).detach()
    if best is not None:
        with torch.no_grad():  # the last step's loss is not known without one more render: measure it
            last = _loss_value(config.loss, render(fitted, height, width, chosen), target)
        fitted = fitted if last <= best_loss else best
    fitted = fitted.to(device="cpu")
    return FitResult(fitted, len(losses), time.perf_counter() - start, losses)


def _parameters(gaussians: Gaussians) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fresh leaf tensors on the Gaussians' device: ``xy``, ``log(scale)``, ``rotation``, ``color`` (float32)."""
    xy = gaussians.xy.detach().float().clone().requires_grad_(True)
    log_scale = gaussians.scale.detach().float().abs().clamp_min(1e-6).log().requires_grad_(True)
    rotation = gaussians.rotation.detach().float().clone().requires_grad_(True)
    color = gaussians.color.detach().float().clone().requires_grad_(True)
    return xy, log_scale, rotation, color
