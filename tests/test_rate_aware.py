"""Rate-aware encoding: removal costs of Gaussians, pruning, and the per-image colour depth."""

from __future__ import annotations

import numpy as np
import torch
from scenes import random_scene

from fast2dgs_cli.encoder.existence import prune_gaussians, removal_costs
from fast2dgs_cli.encoder.precision import best_colour_depth, rd_score
from fast2dgs_cli.encoder.quantize import quantize
from fast2dgs_cli.encoder.refine import select_pixels
from fast2dgs_cli.gaussians import Gaussians, dequantize
from fast2dgs_cli.render import TOP_K, render
from fast2dgs_cli.representation import BitDepths, QuantizedAttribute, QuantizedGaussians

H = W = 24


def _without(q: QuantizedGaussians, keep: np.ndarray) -> QuantizedGaussians:
    attributes = {name: QuantizedAttribute(a.bits, a.lo, a.hi, a.codes[keep]) for name, a in q.attributes().items()}
    return QuantizedGaussians(q.height, q.width, int(keep.sum()), **attributes)


def _squared_error(q: QuantizedGaussians, target: torch.Tensor) -> float:
    picture = render(dequantize(q), q.height, q.width, "cpu").double()
    return float(((picture - target.double()) ** 2).sum())


def test_removal_costs_are_the_exact_rise_of_the_error() -> None:
    # fewer Gaussians than a pixel blends, so removing one changes no pixel's selection
    q = quantize(random_scene(TOP_K, seed=4, spread=1.0, max_scale=8.0), H, W, BitDepths())
    target = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(5))
    costs, error = removal_costs(q, target, select_pixels(q, "cpu"))
    assert error == np.float64(error) and abs(error - _squared_error(q, target)) < 1e-4 * error
    for g in range(q.count):
        keep = np.arange(q.count) != g
        rise = _squared_error(_without(q, keep), target) - error
        assert abs(costs[g] - rise) < 1e-4 * error, (g, costs[g], rise)
    assert (costs != 0).all()


def test_pruning_drops_gaussians_that_draw_nothing_and_keeps_the_picture() -> None:
    base = random_scene(40, seed=6, spread=1.0)
    # a needle a quarter pixel off any pixel centre draws nothing: it costs bytes and adds no picture
    needle = Gaussians(torch.full((1, 2), 6.25 / W), torch.full((1, 2), 1e-3), torch.zeros(1), torch.ones(1, 3))
    fields = ("xy", "scale", "rotation", "color")
    scene = Gaussians(*(torch.cat([getattr(base, name), getattr(needle, name)]) for name in fields))
    q = quantize(scene, H, W, BitDepths())
    target = render(dequantize(q), H, W, "cpu")
    pruned = prune_gaussians(q, target, select_pixels(q, "cpu"))
    assert 0 < pruned.count < q.count
    assert _squared_error(pruned, target) < 1e-9  # what went drew nothing (the picture was exact)
    ys = pruned.xy.codes[:, 1]
    assert (np.diff(ys.astype(int)) >= 0).all()  # still sorted by y
    assert prune_gaussians(pruned, target, select_pixels(pruned, "cpu")) is pruned


def test_colour_depth_follows_the_picture() -> None:
    scene = random_scene(60, seed=7, spread=1.0, max_scale=5.0)
    bits = BitDepths(xy=10, scale=6, rotation=7, color=5)
    q = quantize(scene, H, W, bits)
    selection = select_pixels(q, "cpu")
    smooth = render(dequantize(quantize(scene, H, W, BitDepths())), H, W, "cpu")  # drawn by the Gaussians
    noisy = (smooth + 0.3 * torch.rand(H, W, 3, generator=torch.Generator().manual_seed(8))).clamp(0, 1)
    exact = best_colour_depth(scene, smooth, bits, selection, "cpu")
    rough = best_colour_depth(scene, noisy, bits, selection, "cpu")
    assert exact.color.bits == 6 and rough.color.bits == 4, (exact.color.bits, rough.color.bits)
    assert rd_score(30.0, 1000) > rd_score(30.0, 1001) and rd_score(30.1, 1000) > rd_score(30.0, 1000)


def test_pruning_drops_at_most_a_share_of_the_gaussians() -> None:
    from fast2dgs_cli.encoder.existence import MAX_DROPPED_SHARE

    q = quantize(random_scene(200, seed=9, spread=1.0, max_scale=2.0), H, W, BitDepths())
    noise = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(10))  # nothing pays for itself here
    costs, error = removal_costs(q, noise, select_pixels(q, "cpu"))
    assert (costs < 0.74 * error / q.count).mean() > MAX_DROPPED_SHARE
    pruned = prune_gaussians(q, noise, select_pixels(q, "cpu"))
    assert pruned.count == q.count - int(MAX_DROPPED_SHARE * q.count)


def test_pruning_keeps_one_of_two_overlapping_copies() -> None:
    # each copy costs almost nothing alone and its whole picture with the other: one of each pair must stay
    half = random_scene(8, seed=11, spread=1.0, max_scale=1.0)
    half = Gaussians(half.xy * torch.tensor([0.4, 1.0]), half.scale, half.rotation, half.color)  # left 40 %
    fields = ("xy", "scale", "rotation", "color")
    q = quantize(Gaussians(*(torch.cat([getattr(half, f)] * 2) for f in fields)), H, W, BitDepths())
    noise = torch.zeros(H, W, 3)  # an error no Gaussian reaches makes every byte dear
    noise[:, 20:] = torch.rand(H, W - 20, 3, generator=torch.Generator().manual_seed(12))
    pruned = prune_gaussians(q, render(dequantize(q), H, W, "cpu") + noise, select_pixels(q, "cpu"))
    assert pruned.count < q.count
    assert len(np.unique(pruned.xy.codes, axis=0)) == q.count // 2
