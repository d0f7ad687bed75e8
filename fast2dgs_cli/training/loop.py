"""The training loop: teacher crops in, shipped weights and a model card out.

```
photos ─► plan_crops ─► build_examples (teacher fits, cached) ─► examples: crop, K, target map [c,c]
                                     batch of B examples, random flips ─┤
   ┌────────────────────────────────────────────────────────────────────┴──────────────┐
   ▼                                                                                   ▼
PriorNet(crop, log ρ) ─► logits ─► KL(target ‖ softmax(logits)) ─► kl       AttributeNet(crop, log ρ) ─► maps
   │                                                                                   │
   └─ position weights: the target map for the first teacher_positions_share of the    │
      run, then softmax(logits) detached ─► sample_positions(K, systematic) ─► rows, cols
                                                                     │                 │
                                                  gaussians_from_maps(maps, rows, cols) ◄┘
                                                                     │ render (cpu, differentiable)
                                                                     ▼
                                                           MSE vs crop ─► mse

loss = kl + mse ─► backward ─► clip each network's gradient ─► AdamW (warm-up + cosine)
```

The two networks share no parameter, so ``kl + mse`` needs no weighting: Adam's per-parameter step is
invariant to a loss scale, and each network's gradient is clipped on its own. Every random choice of
iteration ``t`` comes from a generator seeded by ``(seed, t)``, so a run resumed from a checkpoint
(model, optimizer, loss history, elapsed time) continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import __version__
from ..imageio import atomic_write
from ..networks import DEFAULT_MODEL, MODELS, AttributeNet, PriorNet, gaussians_from_maps, sample_positions, save_models
from ..render import render
from .config import TrainConfig, TrainProgress, TrainResult
from .data import DataError, center_crop_spec, list_images, load_crops, plan_crops, split_images
from .teacher import Example, build_examples
from .validate import validate

__all__ = ["train"]

_OPERATIONAL = ("resume", "checkpoint_every", "teacher_cache")
"""Settings that may change between a checkpoint and its resumption."""
_FINAL_WINDOW = 100
"""The final losses are means over this many last iterations."""


def train(
    config: TrainConfig, on_progress: Callable[[TrainProgress], None] | None = None, command: str = ""
) -> TrainResult:
    """Train the prior and attribute networks; write ``config.out`` and its model card (never prints).

    Args:
        config: data, budgets and hyper-parameters.
        on_progress: called with a ``TrainProgress`` after every teacher crop, iteration and validation crop.
        command: the command line that started the run, recorded in the model card.

    Raises:
        DataError: unusable data folder or photos (Kodak included), or a checkpoint that cannot be resumed.
    """
    clock = time.perf_counter()
    report = on_progress or (lambda event: None)
    photos = list_images(config.data)
    train_photos, val_photos = split_images(photos, config.data, config.max_images)
    specs = plan_crops(
        train_photos, config.crops_per_image, config.crop, config.downscale, config.density_range, config.seed
    )
    examples = build_examples(
        specs, config.teacher_steps, config.seed, config.teacher_cache, config.target_blur,
        lambda done, total: report(TrainProgress("teacher", done, total)),
    )  # fmt: skip
    torch.manual_seed(config.seed)
    prior, attributes = PriorNet(), AttributeNet()
    parameters = [*prior.parameters(), *attributes.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    start, history, elapsed = _resume(config, prior, attributes, optimizer)
    for iteration in range(start, config.iterations):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, iteration)
        history.append(_step(config, iteration, examples, prior, attributes, optimizer))
        report(TrainProgress("train", iteration + 1, config.iterations, history[-1]))
        if (iteration + 1) % config.checkpoint_every == 0 or iteration + 1 == config.iterations:
            seconds = elapsed + time.perf_counter() - clock
            _save_checkpoint(config, iteration + 1, prior, attributes, optimizer, history, seconds)
    val_scale = sum(config.downscale) / 2
    val_images = [load_crops([center_crop_spec(p, config.val_crop, val_scale)])[0].float() / 255 for p in val_photos]
    validation = validate(
        prior, attributes, val_images, config.val_densities, config.seed,
        lambda done, total: report(TrainProgress("validate", done, total)),
    )  # fmt: skip
    card = _card(config, command, (prior, attributes), (len(train_photos), len(val_photos)), examples, history)
    card["validation"] = {"crop": config.val_crop, "fine_tuning_steps": 0, **validation}
    card["wall_time_s"] = round(elapsed + time.perf_counter() - clock, 1)
    sha = save_models(config.out, prior.eval(), attributes.eval(), card)
    card = {**card, "sha256": sha, "shipped_name": f"{DEFAULT_MODEL}-{sha[:8]}.pt"}
    atomic_write(config.card, (json.dumps(card, indent=2) + "\n").encode())
    return TrainResult(config.out, config.card, sha, card)


def _seed(*parts: int) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:7], "little")


def _learning_rate(config: TrainConfig, iteration: int) -> float:
    """Linear warm-up over 2 % of the run, then cosine decay from ``lr`` to 5 % of it."""
    warm = max(1, config.iterations // 50)
    if iteration < warm:
        return config.lr * (iteration + 1) / warm
    progress = (iteration - warm) / max(1, config.iterations - warm)
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _batch(config: TrainConfig, iteration: int, examples: list[Example]) -> tuple[Tensor, Tensor, list[int]]:
    """``(images [B,3,c,c], targets [B,c,c], budgets)`` of random examples, randomly flipped."""
    generator = torch.Generator().manual_seed(_seed(config.seed, iteration))
    picks = torch.randint(len(examples), (config.batch,), generator=generator).tolist()
    flips = (torch.rand(config.batch, 2, generator=generator) < 0.5).tolist()
    images, targets = [], []
    for index, (flip_x, flip_y) in zip(picks, flips):
        dims = [d for d, flip in ((-1, flip_x), (-2, flip_y)) if flip]
        images.append(examples[index].image.permute(2, 0, 1).flip(dims).float() / 255)
        targets.append(examples[index].target.flip(dims))
    return torch.stack(images), torch.stack(targets), [examples[i].k for i in picks]


def _step(
    config: TrainConfig, iteration: int, examples: list[Example], prior: PriorNet, attributes: AttributeNet,
    optimizer: torch.optim.Optimizer,
) -> dict[str, float]:  # fmt: skip
    """One optimizer step on one batch; returns ``kl`` (nats), ``mse`` and its ``psnr`` (dB)."""
    images, targets, budgets = _batch(config, iteration, examples)
    size = images.shape[-1]
    log_density = torch.log(torch.tensor(budgets, dtype=torch.float32) / (size * size))
    logits = prior(images, log_density).flatten(1)
    flat_targets = targets.flatten(1)
    kl = (flat_targets * (flat_targets.clamp_min(1e-30).log() - F.log_softmax(logits, dim=1))).sum(1).mean()
    maps = attributes(images, log_density)
    from_teacher = iteration < config.teacher_positions_share * config.iterations
    weights = flat_targets if from_teacher else torch.softmax(logits.detach().double(), dim=1)
    errors = []
    for b, k in enumerate(budgets):
        chosen = sample_positions(weights[b].reshape(size, size), k, "systematic", _seed(config.seed, iteration, b))
        rendered = render(gaussians_from_maps(maps[b], chosen // size, chosen % size), size, size, "cpu")
        errors.append(torch.mean((rendered - images[b].permute(1, 2, 0)) ** 2))
    mse = torch.stack(errors).mean()
    optimizer.zero_grad(set_to_none=True)
    (kl + mse).backward()
    torch.nn.utils.clip_grad_norm_(prior.parameters(), config.grad_clip)
    torch.nn.utils.clip_grad_norm_(attributes.parameters(), config.grad_clip)
    optimizer.step()
    return {"kl": kl.item(), "mse": mse.item(), "psnr": -10.0 * math.log10(max(mse.item(), 1e-12))}


def _identity(config: TrainConfig) -> dict[str, object]:
    return {k: v for k, v in config.to_dict().items() if k not in _OPERATIONAL}


def _save_checkpoint(
    config: TrainConfig, iteration: int, prior: PriorNet, attributes: AttributeNet,
    optimizer: torch.optim.Optimizer, history: list[dict[str, float]], elapsed: float,
) -> None:  # fmt: skip
    payload = {
        "iteration": iteration,
        "prior": prior.state_dict(),
        "attributes": attributes.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "elapsed": elapsed,
        "config": _identity(config),
    }
    config.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    partial = config.checkpoint.with_name(config.checkpoint.name + ".partial")
    torch.save(payload, partial)
    partial.replace(config.checkpoint)


def _resume(
    config: TrainConfig, prior: PriorNet, attributes: AttributeNet, optimizer: torch.optim.Optimizer
) -> tuple[int, list[dict[str, float]], float]:
    """Restore ``<out>.ckpt`` into the modules when resuming: ``(next iteration, history, elapsed s)``."""
    if not (config.resume and config.checkpoint.is_file()):
        return 0, [], 0.0
    try:
        payload = torch.load(config.checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise DataError(f"cannot resume from {config.checkpoint}: {error} (delete it or use --no-resume)") from None
    changed = sorted(k for k, v in _identity(config).items() if payload["config"].get(k) != v)
    if changed:
        raise DataError(
            f"{config.checkpoint} was written with other settings ({', '.join(changed)}); "
            "use the same settings, or --no-resume to start over"
        )
    prior.load_state_dict(payload["prior"])
    attributes.load_state_dict(payload["attributes"])
    optimizer.load_state_dict(payload["optimizer"])
    return int(payload["iteration"]), list(payload["history"]), float(payload["elapsed"])


def _card(
    config: TrainConfig, command: str, networks: tuple[PriorNet, AttributeNet], counts: tuple[int, int],
    examples: list[Example], history: list[dict[str, float]],
) -> dict[str, object]:  # fmt: skip
    """The model card: what was trained on, how, and how well (JSON-compatible)."""
    window = history[-_FINAL_WINDOW:]
    final = {key: round(statistics.fmean(h[key] for h in window), 5) for key in ("kl", "mse", "psnr")}
    parameters = sum(p.numel() for net in networks for p in net.parameters())
    return {
        "name": DEFAULT_MODEL,
        "description": MODELS[DEFAULT_MODEL],
        "paper": "Fast-2DGS: Efficient Image Representation with Deep Gaussian Prior",
        "data": {
            "folder": str(config.data),
            "train_images": counts[0],
            "validation_images": counts[1],
            "crops": len(examples),
            "crop": config.crop,
            "downscale": list(config.downscale),
            "density_range": list(config.density_range),
            "teacher_steps": config.teacher_steps,
            "teacher_psnr": round(statistics.fmean(e.teacher_psnr for e in examples), 3),
        },
        "training": {"iterations": len(history), "batch": config.batch, "lr": config.lr, "final": final},
        "networks": {
            "prior": networks[0].config.to_dict(),
            "attributes": networks[1].config.to_dict(),
            "parameters": parameters,
        },
        "config": config.to_dict(),
        "command": command,
        "versions": {"f2dgs": __version__, "torch": str(torch.__version__)},
        "threads": torch.get_num_threads(),
    }
