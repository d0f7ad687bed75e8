"""Deep Gaussian Prior vs heuristic initialization on Kodak: PSNR against fine-tuning steps and seconds.

For every Kodak image and budget K it initializes with each variant — ``prior`` (the shipped networks,
exact-K sampling without duplicates), ``prior-multinomial`` (the networks, K draws with replacement as in
the seed code), ``gradient`` and ``random`` (the heuristics) — and fine-tunes ``--steps`` steps with the
default learning rates on the fast CPU backend. One run per (image, K, variant) gives the whole curve:

* ``psnr_steps``: PSNR after 0, 25, 50, 100, 200 steps. Step 0 is the initialization alone, measured on the
  8-bit rendering; later points come from the fine-tuning loss (PSNR of the float rendering, the value
  being optimized), read at the step it was computed;
* ``psnr_seconds``: PSNR after 1, 2 and 5 s of fine-tuning (the last step that finished within the time);
* ``init_s``: the initialization's own time (networks + sampling, or the heuristics).

Summaries per budget and variant are means over the images; ``steps_to_match`` is the number of steps the
``gradient`` curve needs to reach the ``prior`` PSNR at 50 steps (null when it never does within the run).
The ablations (``random``, ``prior-multinomial``) may run on fewer images and steps (``--ablation-images``,
``--ablation-steps``) to bound the run time; the summary records how many images each mean covers.

    python benchmarks/prior_vs_heuristic.py [--kodak DIR] [--budgets 2000 5000 10000 20000] [--limit 24]

Writes ``benchmarks/results/prior_vs_heuristic.json`` and ``prior_vs_heuristic.png`` (needs matplotlib).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from common import RESULTS, add_kodak_arguments, kodak_files, load_image, machine_info, write_json

STEP_MARKS = (0, 25, 50, 100, 200)
SECOND_MARKS = (1.0, 2.0, 5.0)
VARIANTS = ("prior", "prior-multinomial", "gradient", "random")


def initialize(image: torch.Tensor, budget: int, variant: str):
    """Initial Gaussians of ``variant`` and the seconds it took."""
    from fast2dgs_cli.encoder.init import init_gaussians
    from fast2dgs_cli.networks import load_models, prior_init

    start = time.perf_counter()
    if variant == "prior-multinomial":
        gaussians = prior_init(image, budget, seed=0, models=load_models(), sampling="multinomial")
    else:
        gaussians = init_gaussians(image, budget, seed=0, method=variant)
    return gaussians, time.perf_counter() - start


def run_one(image: torch.Tensor, budget: int, variant: str, steps: int) -> dict[str, object]:
    """Initialize and fine-tune once; return the PSNR at every step and time mark."""
    from fast2dgs_cli.encoder.fit import FitConfig, finetune
    from fast2dgs_cli.metrics import psnr, to_uint8
    from fast2dgs_cli.render import render

    height, width = image.shape[:2]
    gaussians, init_s = initialize(image, budget, variant)
    with torch.no_grad():
        psnr0 = psnr(to_uint8(render(gaussians, height, width, "cpu")), to_uint8(image))
    clock: list[float] = []
    start = time.perf_counter()
    result = finetune(gaussians, image, FitConfig(steps=steps), backend="cpu",
                      on_step=lambda step, total, loss: clock.append(time.perf_counter() - start))  # fmt: skip
    with torch.no_grad():
        final = float(torch.mean((render(result.gaussians, height, width, "cpu") - image) ** 2))
    # losses[i] is the loss of the parameters after i updates; ``final`` is after all of them
    curve = [-10.0 * math.log10(max(v, 1e-12)) for v in [*result.losses, final]]
    after_steps = {str(s): (psnr0 if s == 0 else curve[s]) for s in STEP_MARKS if s <= steps}
    after_seconds = {}
    for mark in SECOND_MARKS:
        done = sum(1 for t in clock if t <= mark)  # updates finished within ``mark`` seconds
        after_seconds[str(mark)] = curve[done] if done else psnr0
    return {"psnr_steps": after_steps, "psnr_seconds": after_seconds, "init_s": init_s, "curve": curve}


def steps_to_match(curve: list[float], target: float) -> int | None:
    """First step count at which ``curve`` reaches ``target``."""
    return next((s for s, value in enumerate(curve) if value >= target), None)


def summarize(records: list[dict[str, object]], budgets: list[int]) -> dict[str, object]:
    """Means over images per budget and variant, and the steps gradient init needs to match the prior."""
    out: dict[str, object] = {}
    for budget in budgets:
        per_variant = {}
        for variant in VARIANTS:
            rows = [r for r in records if r["budget"] == budget and r["variant"] == variant]
            if not rows:
                continue
            per_variant[variant] = {
                "psnr_steps": {k: statistics.fmean(r["psnr_steps"][k] for r in rows) for k in rows[0]["psnr_steps"]},
                "psnr_seconds": {
                    k: statistics.fmean(r["psnr_seconds"][k] for r in rows) for k in rows[0]["psnr_seconds"]
                },
                "init_s": statistics.fmean(r["init_s"] for r in rows),
                "curve": [statistics.fmean(c) for c in zip(*(r["curve"] for r in rows))],
                "images": len(rows),
            }  # fmt: skip
        entry: dict[str, object] = {"variants": per_variant}
        if "prior" in per_variant and "gradient" in per_variant:
            prior, gradient = per_variant["prior"], per_variant["gradient"]
            target = prior["curve"][50] if len(prior["curve"]) > 50 else None
            match = steps_to_match(gradient["curve"], target) if target is not None else None
            entry["gain_db"] = {k: prior["psnr_steps"][k] - gradient["psnr_steps"][k] for k in prior["psnr_steps"]}
            entry["gradient_steps_to_match_prior_at_50"] = match
        out[str(budget)] = entry
    return out


def plot(summary: dict[str, object], path: Path) -> None:
    """PSNR vs fine-tuning steps, one panel per budget, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = list(summary)
    fig, axes = plt.subplots(1, len(budgets), figsize=(4 * len(budgets), 3.4), squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        for variant, row in summary[budget]["variants"].items():
            ax.plot(range(len(row["curve"])), row["curve"], label=f"{variant} ({row['images']} images)")
        ax.set_title(f"K = {int(budget):,}")
        ax.set_xlabel("fine-tuning steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("PSNR (dB), mean over Kodak")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=24)
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--ablation-images", type=int, default=24, help="images for random / prior-multinomial")
    parser.add_argument("--ablation-steps", type=int, default=200, help="steps for random / prior-multinomial")
    parser.add_argument("--out", type=Path, default=RESULTS / "prior_vs_heuristic.json")
    args = parser.parse_args()

    from fast2dgs_cli.render.cpu_backend import warm_up

    warm_up()
    from fast2dgs_cli.networks import prior_init

    prior_init(torch.rand(64, 64, 3), 100)  # load (or compile) the relaxation kernels outside the timings
    records = []
    started = time.perf_counter()
    for number, file in enumerate(kodak_files(args.kodak, args.limit)):
        image, stem = load_image(file)
        for budget in args.budgets:
            for variant in args.variants:
                ablation = variant in ("random", "prior-multinomial")
                if ablation and number >= args.ablation_images:
                    continue
                steps = args.ablation_steps if ablation else args.steps
                row = {"image": stem, "budget": budget, "variant": variant, **run_one(image, budget, variant, steps)}
                records.append(row)
                steps = " ".join(f"{v:.2f}" for v in row["psnr_steps"].values())
                print(f"{stem} K={budget} {variant}: {steps}", flush=True)
    summary = summarize(records, args.budgets)
    result = {
        "name": "prior_vs_heuristic",
        "description": "PSNR vs fine-tuning steps/seconds for prior, multinomial-prior, gradient and random init",
        "machine": machine_info(),
        "settings": {
            "budgets": args.budgets, "steps": args.steps, "images": args.limit, "backend": "cpu",
            "ablation_images": args.ablation_images, "ablation_steps": args.ablation_steps,
        },
        "wall_s": time.perf_counter() - started,
        "summary": summary,
        "images": [{k: v for k, v in r.items() if k != "curve"} for r in records],
    }
    write_json(args.out, result, indent=1)
    plot(summary, args.out.with_suffix(".png"))
    for budget, entry in summary.items():
        print(budget, {k: round(v, 2) for k, v in entry.get("gain_db", {}).items()},
              "gradient steps to match prior@50:", entry.get("gradient_steps_to_match_prior_at_50"))  # fmt: skip


if __name__ == "__main__":
    main()
