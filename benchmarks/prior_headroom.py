"""What limits the prior's PSNR after 50 fine-tuning steps: oracle starts that isolate positions and attributes.

The prior's acceptance asks the gradient init to need 4× the steps to reach the prior's PSNR at 50 steps,
i.e. prior@50 ≥ gradient@200. This benchmark asks which part of the prior's start would have to improve for
that to hold, by replacing one part with an oracle and fine-tuning 50 steps from there:

* ``prior``: the shipped networks' start (default sampling), after 0 and 50 steps;
* ``lsq-colours``: the same positions and shapes, colours replaced by their least-squares optimum (the image
  is linear in the colours once the geometry is fixed; conjugate gradients on the normal equations, through
  the renderer's own forward and backward passes);
* ``fitted-attributes-S``: the prior's positions frozen, every other attribute fitted for ``S`` steps (each
  of ``--oracle-steps``): what an attribute network that sees the sampled positions could at best start from;
* ``converged-positions-S``: the positions an ``S``-step fit from the prior ends at, with the networks'
  attributes read at those pixels: what a better position prior would give the current attribute network;
* ``fitted-attributes-S-gentle``: the longest such start fine-tuned with every learning rate × ``GENTLE``:
  Adam's first updates move every parameter by about its full rate, which undoes part of a near-optimal start;
* ``gradient``: the heuristic init after 50 and 200 steps (the bar: ``prior@50 ≥ gradient@200``).

Every start is fine-tuned with the encoder's defaults (``FitConfig``) on the cpu backend; PSNR of the float
rendering. Means per budget over the images.

    python benchmarks/prior_headroom.py [--kodak DIR] [--images kodim01 ...] [--budgets 2000 10000 20000]

Writes ``benchmarks/results/prior_headroom.json``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from common import RESULTS, add_kodak_arguments, load_image, machine_info, write_json

IMAGES = ("kodim01", "kodim05", "kodim07", "kodim13", "kodim19", "kodim23")
GENTLE = 0.3
"""Learning-rate factor of the ``gentle`` fine-tuning (best of 1, 0.3, 0.1 from such starts on training crops)."""


def psnr_of(gaussians, image: torch.Tensor) -> float:
    """PSNR in dB of the float rendering of ``gaussians`` against ``image``."""
    from fast2dgs_cli.render import render

    height, width = image.shape[:2]
    with torch.no_grad():
        mse = float(torch.mean((render(gaussians, height, width, "cpu") - image) ** 2))
    return -10.0 * math.log10(max(mse, 1e-12))


def fit(gaussians, image: torch.Tensor, steps: int, freeze_positions: bool = False, rates: float = 1.0):
    """``gaussians`` after ``steps`` fine-tuning steps at the default learning rates × ``rates``.

    ``freeze_positions`` holds the positions still (learning rate 0).
    """
    from fast2dgs_cli.encoder.fit import XY_STEP, FitConfig, finetune

    default = FitConfig()
    lr_xy = 0.0 if freeze_positions else rates * XY_STEP / math.sqrt(len(gaussians))
    config = FitConfig(
        steps=steps, lr_xy=lr_xy, lr_scale=rates * default.lr_scale,
        lr_rotation=rates * default.lr_rotation, lr_color=rates * default.lr_color,
    )  # fmt: skip
    return finetune(gaussians, image, config, backend="cpu").gaussians


def least_squares_colours(gaussians, image: torch.Tensor, iterations: int = 10):
    """``gaussians`` with the colours minimizing the squared error for their geometry (conjugate gradients).

    With positions, scales and rotations fixed the rendering is ``A·c`` for a sparse ``A`` (the normalized
    top-K weights), so the optimum solves ``AᵀA c = Aᵀy``. ``A·c`` is a forward render with colours ``c`` and
    ``Aᵀv`` is the colour gradient of a render against the upstream gradient ``v``; every channel is solved
    with its own step sizes.
    """
    from fast2dgs_cli.gaussians import Gaussians
    from fast2dgs_cli.render import render

    height, width = image.shape[:2]

    def transpose_of(colours: torch.Tensor, upstream: torch.Tensor | None) -> torch.Tensor:
        """``Aᵀ·upstream``, or ``AᵀA·colours`` when ``upstream`` is None."""
        colours = colours.detach().requires_grad_(True)
        out = render(Gaussians(gaussians.xy, gaussians.scale, gaussians.rotation, colours), height, width, "cpu")
        (grad,) = torch.autograd.grad(out, colours, grad_outputs=out.detach() if upstream is None else upstream)
        return grad

    colours = gaussians.color.detach().clone()
    residual = transpose_of(torch.zeros_like(colours), image) - transpose_of(colours, None)
    direction, norm = residual.clone(), residual.square().sum(0)
    for _ in range(iterations):
        product = transpose_of(direction, None)
        alpha = norm / (direction * product).sum(0).clamp_min(1e-30)
        colours, residual = colours + alpha * direction, residual - alpha * product
        new_norm = residual.square().sum(0)
        direction, norm = residual + (new_norm / norm.clamp_min(1e-30)) * direction, new_norm
    return Gaussians(gaussians.xy, gaussians.scale, gaussians.rotation, colours)


def converged_positions(prior, image: torch.Tensor, maps: torch.Tensor, oracle_steps: int):
    """The networks' attribute ``maps`` read at the positions an ``oracle_steps`` fit from ``prior`` converges to."""
    from fast2dgs_cli.gaussians import Gaussians
    from fast2dgs_cli.networks.attributes import gaussians_from_maps

    height, width = image.shape[:2]
    xy = fit(prior, image, oracle_steps).xy
    cols = (xy[:, 0] * width).round().long().clamp(0, width - 1)
    rows = (xy[:, 1] * height).round().long().clamp(0, height - 1)
    read = gaussians_from_maps(maps, rows, cols)
    return Gaussians(xy, read.scale, read.rotation, read.color)


def measure(image: torch.Tensor, budget: int, oracle_steps: list[int]) -> dict[str, dict[str, float]]:
    """PSNR of every start after 0 and 50 steps (and the gradient init after 200) for one image and budget."""
    from fast2dgs_cli.encoder.init import init_gaussians
    from fast2dgs_cli.networks import load_models
    from fast2dgs_cli.networks.predict import predict_maps

    prior = init_gaussians(image, budget, seed=0, method="prior")
    _, maps = predict_maps(image, budget, load_models())
    starts = {"prior": prior, "lsq-colours": least_squares_colours(prior, image)}
    for steps in oracle_steps:
        starts[f"fitted-attributes-{steps}"] = fit(prior, image, steps, freeze_positions=True)
        starts[f"converged-positions-{steps}"] = converged_positions(prior, image, maps, steps)
    starts["gradient"] = init_gaussians(image, budget, seed=0, method="gradient")
    out = {name: {"0": psnr_of(g, image), "50": psnr_of(fit(g, image, 50), image)} for name, g in starts.items()}
    out["gradient"]["200"] = psnr_of(fit(starts["gradient"], image, 200), image)
    longest = f"fitted-attributes-{max(oracle_steps)}"
    out[f"{longest}-gentle"] = {
        "0": out[longest]["0"], "50": psnr_of(fit(starts[longest], image, 50, rates=GENTLE), image)
    }  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser)
    parser.add_argument("--images", nargs="+", default=list(IMAGES))
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000, 10000, 20000])
    parser.add_argument("--oracle-steps", type=int, nargs="+", default=[50, 300], help="steps of the oracle fits")
    parser.add_argument("--out", type=Path, default=RESULTS / "prior_headroom.json")
    args = parser.parse_args()

    from fast2dgs_cli.render.cpu_backend import warm_up

    warm_up()
    started = time.perf_counter()
    records = []
    for name in args.images:
        image, stem = load_image(args.kodak / f"{name}.png")
        for budget in args.budgets:
            row = measure(image, budget, args.oracle_steps)
            records.append({"image": stem, "budget": budget, "psnr": row})
            print(stem, budget, {k: {m: round(v, 2) for m, v in r.items()} for k, r in row.items()}, flush=True)
    summary = {
        str(budget): {
            start: {
                mark: statistics.fmean(r["psnr"][start][mark] for r in records if r["budget"] == budget)
                for mark in records[0]["psnr"][start]
            }
            for start in records[0]["psnr"]
        }
        for budget in args.budgets
    }
    result = {
        "name": "prior_headroom",
        "description": "PSNR after 0/50 steps from the prior's start with one part replaced by an oracle",
        "machine": machine_info(),
        "settings": {"images": args.images, "budgets": args.budgets, "oracle_steps": args.oracle_steps},
        "wall_s": time.perf_counter() - started,
        "summary": summary,
        "records": records,
    }
    write_json(args.out, result, indent=1)
    for budget, starts in summary.items():
        print(budget, {k: {m: round(v, 2) for m, v in r.items()} for k, r in starts.items()})


if __name__ == "__main__":
    main()
