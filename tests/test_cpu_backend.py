"""The numba CPU rasterizer against the torch reference: images, gradients, binning, edge cases."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from PIL import Image
from scenes import crowded_scene, degenerate_scene, random_scene

from fast2dgs_cli.encoder.init import init_gaussians
from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.render import cpu_backend, cpu_kernels, project, render
from fast2dgs_cli.render.cpu_backend import project_cpu, rasterize_cpu, warm_up
from fast2dgs_cli.render.cpu_kernels import SIGMA_CUTOFF
from fast2dgs_cli.render.projection import Projected, bin_tiles
from fast2dgs_cli.render.reference import rasterize_reference

SAMPLE = Path(__file__).parent / "data" / "kodim23-384x256.png"
BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _run(rasterize, g: Gaussians, height: int, width: int, seed: int = 0, projector=project):
    """Render through ``projector``; return the image, the grads of (xys, conics, colors) and of the Gaussians."""
    params = [t.detach().clone().requires_grad_(True) for t in (g.xy, g.scale, g.rotation, g.color)]
    projected = projector(Gaussians(*params), height, width)
    for t in (projected.xys, projected.conics, projected.colors):
        t.retain_grad()
    image = rasterize(projected)
    weights = torch.randn(height, width, 3, generator=torch.Generator().manual_seed(seed))
    (image * weights).sum().backward()
    screen = [projected.xys.grad, projected.conics.grad, projected.colors.grad]
    return image.detach(), screen, [p.grad for p in params]


def _reference_float64(projected: Projected) -> torch.Tensor:
    """The reference rasterizer run in float64 on the float32 projection (gradients cast back to float32)."""
    xys, conics, colors = (t.double() for t in (projected.xys, projected.conics, projected.colors))
    wide = Projected(xys, conics, colors, projected.radii, projected.tile_box, projected.height, projected.width)
    return rasterize_reference(wide).float()


def _assert_close(ours: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor, name: str) -> None:
    """``|ours − ref| ≤ 1e-6 + 1e-4·|ref| + 1e-5·max|ref| + |ref − ref64|`` element-wise.

    Both sides are float32 sums of hundreds of signed terms; on elements that nearly cancel (and on scale and
    rotation gradients of needle-thin Gaussians, which the projection's float32 chain rule amplifies) the
    float32 reference is itself off its float64 evaluation ``ref64`` by more than 1e-4 relative, so the
    bound allows 1e-5 of the tensor's scale plus the reference's own measured error.
    """
    ours, ref, ref64 = ours.double(), ref.double(), ref64.double()
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    bound = 1e-6 + 1e-4 * ref.abs() + 1e-5 * scale + (ref - ref64).abs()
    excess = (ours - ref).abs() - bound
    assert bool((excess <= 0).all()), f"{name}: worst excess {float(excess.max()):.3g} (scale {scale:.3g})"


def _compare(g: Gaussians, height: int, width: int, seed: int = 0) -> None:
    ref_image, ref_screen, ref_params = _run(rasterize_reference, g, height, width, seed)
    _, wide_screen, wide_params = _run(_reference_float64, g, height, width, seed)
    image, screen, params = _run(rasterize_cpu, g, height, width, seed)
    assert image.shape == (height, width, 3) and image.dtype == torch.float32
    assert float((image - ref_image).abs().max()) < 1e-5
    for name, *grads in zip(("xys", "conics", "colors"), screen, ref_screen, wide_screen):
        _assert_close(*grads, name)
    for name, *grads in zip(("xy", "scale", "rotation", "color"), params, ref_params, wide_params):
        _assert_close(*grads, name)
    # the backend's whole pipeline, as ``render`` runs it: the fused projection renders the same pixels
    fused_image, fused_screen, fused_params = _run(rasterize_cpu, g, height, width, seed, projector=project_cpu)
    assert torch.equal(fused_image, image)
    for name, *grads in zip(("xys", "conics", "colors"), fused_screen, ref_screen, wide_screen):
        _assert_close(*grads, name)
    for name, *grads in zip(("xy", "scale", "rotation", "color"), fused_params, ref_params, wide_params):
        _assert_close(*grads, name)


def _fitted_like(height: int, width: int, n: int) -> Gaussians:
    """Gaussians initialized on a natural crop, then jittered into anisotropic, rotated ones."""
    pixels = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32) / 255.0
    crop = torch.from_numpy(pixels[40 : 40 + height, 150 : 150 + width].copy())
    g = init_gaussians(crop, n, seed=1)
    gen = torch.Generator().manual_seed(2)
    stretch = torch.exp(0.4 * torch.randn(n, 2, generator=gen))
    return Gaussians(g.xy, g.scale * stretch, torch.rand(n, generator=gen) * 3.1, g.color)


@pytest.mark.parametrize("height,width", [(16, 16), (23, 37), (40, 33)])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_scenes_match_reference(height: int, width: int, seed: int) -> None:
    _compare(random_scene(80, seed), height, width, seed)  # includes Gaussians centred off the image


def test_many_candidates_per_pixel_match_reference() -> None:
    _compare(crowded_scene(0), 32, 32)
    _compare(random_scene(400, 5, max_scale=9.0), 35, 50, 5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_degenerate_covariances_match_reference(seed: int) -> None:
    _compare(degenerate_scene(seed), 29, 35, seed)


def test_fitted_like_scene_matches_reference() -> None:
    _compare(_fitted_like(48, 72, 700), 48, 72)


def test_exact_ties_go_to_the_lower_index() -> None:
    # 12 identical Gaussians but for their colour: only the first 10 (lowest indices) may be blended.
    xy = torch.tensor([[0.5, 0.5]]).repeat(12, 1)
    color = torch.zeros(12, 3)
    color[10:] = 1.0
    dup = Gaussians(xy, torch.full((12, 2), 3.0), torch.zeros(12), color)
    image = rasterize_cpu(project(dup, 16, 16))
    assert image.abs().max() == 0
    # duplicates in a busy scene, some in ascending and some in descending colour order
    base = random_scene(40, 7)
    twins = base.select(torch.tensor([3, 3, 3, 8, 8, 20, 20, 20, 20]))
    colours = torch.rand(9, 3, generator=torch.Generator().manual_seed(3))
    twins = Gaussians(twins.xy, twins.scale, twins.rotation, colours)
    mixed = Gaussians(*(torch.cat([getattr(base, f), getattr(twins, f)]) for f in ("xy", "scale", "rotation", "color")))
    _compare(mixed, 30, 30)


def test_ties_behind_a_full_selection_match_reference() -> None:
    # Nine duplicates at (5, 5) and isotropic Gaussians at integer offsets from it: σ ties are exact. Away from
    # the centre (e.g. pixel (8, 4) here, 16 pixels in the reordered scene) a pixel's 10th-smallest σ is shared
    # by the duplicates and some of the others; one of those ties entered no lane's running top 10 (so pass 2
    # never sees it) and precedes a tie another lane kept: the tie quota must still go to the lowest indices.
    centres = [(5, 5)] * 9 + [(7, 5), (3, 5), (5, 7), (5, 3), (6, 6), (7, 7)]
    xy = torch.tensor(centres, dtype=torch.float32) / 16  # exact in float32: σ ties are exact
    n = len(centres)
    colours = torch.rand(n, 3, generator=torch.Generator().manual_seed(4))
    ties = Gaussians(xy, torch.full((n, 2), 1.5), torch.zeros(n), colours)
    _compare(ties, 16, 16)
    reordered = torch.tensor([9, 12, 0, 1, 2, 10, 3, 4, 5, 11, 6, 7, 8, 13, 14])
    _compare(ties.select(reordered), 16, 16)


def test_skipped_negligible_candidates_stay_below_the_error_bound() -> None:
    # Small Gaussians on a sparse grid: their 3σ tile boxes cover whole tiles, so most (pixel, candidate)
    # pairs have σ far beyond the cutoff, and some pixels see only such candidates (weights < 1e-12).
    gen = torch.Generator().manual_seed(4)
    xy = torch.rand(60, 2, generator=gen)
    g = Gaussians(xy, torch.full((60, 2), 0.6), torch.zeros(60), torch.rand(60, 3, generator=gen) * 2 - 0.5)
    p = project(g, 64, 64)
    ours, ref = rasterize_cpu(p), rasterize_reference(p)
    assert float((ours - ref).abs().max()) < 1e-6
    assert SIGMA_CUTOFF > 27.6  # exp(-27.6) ≈ 1e-12, the bound the module docstring derives


def _block_sigmas(xys: np.ndarray, conics: np.ndarray, g: int, bx: int, by: int) -> np.ndarray:
    """Gaussian ``g``'s float32 σ at the 16 pixels of the block at ``(bx, by)``, in the kernels' operation order."""
    f32 = np.float32
    qx, qy = f32(bx) + (np.arange(16) % 4).astype(f32), f32(by) + (np.arange(16) // 4).astype(f32)
    dx, dy = xys[g, 0] - qx, xys[g, 1] - qy
    a, b, c = conics[g]
    return f32(0.5) * (a * dx * dx + c * dy * dy) + b * dx * dy


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10, 11, 13])
def test_the_sorting_network_sorts_every_input(n: int) -> None:
    # the 0-1 principle: a comparator network that sorts every sequence of 0s and 1s sorts every sequence
    network = cpu_kernels._odd_even_merge_sort(n)
    for bits in range(1 << n):
        values = [(bits >> i) & 1 for i in range(n)]
        for a, b in network:
            assert a < b < n
            values[a], values[b] = min(values[a], values[b]), max(values[a], values[b])
        assert values == sorted(values), (n, bits)
    assert len(cpu_kernels._SORTING_NETWORK) == 32  # the K = 10 network the kernels use (190 min/max → 64)


@intrinsic
def _exp_neg_rows(typingctx, sigma, out):
    """The kernels' ``exp(−σ)`` over ``sigma`` (a multiple of 16 long) into ``out``."""

    def codegen(context, builder, signature, args):
        v = cpu_kernels._Simd(context, builder)
        sigma_p, out_p = v.data(signature.args[0], args[0]), v.data(signature.args[1], args[1])
        n = cgutils.unpack_tuple(builder, context.make_array(signature.args[0])(context, builder, args[0]).shape, 1)[0]
        rows = builder.udiv(n, ir.Constant(ir.IntType(64), 16))
        with cgutils.for_range(builder, rows) as loop:
            start = builder.shl(loop.index, ir.Constant(ir.IntType(64), 4))
            row = builder.load(v.ptr(sigma_p, start, cpu_kernels._VF32), align=4)
            builder.store(v.exp_neg(row), v.ptr(out_p, start, cpu_kernels._VF32), align=4)
        return context.get_dummy_value()

    return types.void(sigma, out), codegen


@njit
def _exp_neg_all(sigma, out):
    _exp_neg_rows(sigma, out)


def test_exp_is_within_the_documented_ulps_of_the_exact_value() -> None:
    # every 37th float32 from 0 to the cut-off (30 million σ), against float64 exp; the bound is the one the
    # module docstring states (measured there over every float32 in that range)
    top = int(np.array([SIGMA_CUTOFF], np.float32).view(np.uint32)[0])
    sigma = np.arange(0, top + 1, 37, dtype=np.uint32).view(np.float32)
    sigma = sigma[: len(sigma) - len(sigma) % 16]
    out = np.empty_like(sigma)
    _exp_neg_all(sigma, out)
    exact = np.exp(-sigma.astype(np.float64))
    ulps = np.abs(out - exact) / np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert ulps.max() <= (1.08 if cpu_kernels._FUSED else 1.38), ulps.max()
    assert ulps.max() > 0.5  # a float32 result: some inputs must round by about half an ulp


@pytest.mark.parametrize("seed", [0, 1])
def test_block_lists_leave_out_only_candidates_beyond_the_cutoff(seed: int) -> None:
    # round, elongated (up to 1:40, condition number 1600, past the bound's limit of 1000) and rotated
    # Gaussians of every size; a (candidate, block) pair may leave the block's list only if the candidate's
    # float32 σ is at or beyond the cut-off at all 16 pixels, and many must leave for the test to mean anything
    g = random_scene(400, seed, max_scale=8.0)
    gen = torch.Generator().manual_seed(seed)
    thin = torch.rand(400, generator=gen) < 0.3
    scale = g.scale.clone()
    scale[thin, 0] = scale[thin, 1] / (1.0 + 39.0 * torch.rand(int(thin.sum()), generator=gen))
    p = project(Gaussians(g.xy, scale, g.rotation, g.color), 96, 112)
    xys, conics, colors = (t.detach().numpy() for t in (p.xys, p.conics, p.colors))
    bins = cpu_kernels.Bins(p.tile_box.numpy(), p.height, p.width)
    gboxes = cpu_kernels._gaussian_boxes(xys, conics)
    capacity = int(np.max(np.diff(bins.tile_start)))
    params, cols = cpu_kernels._tile_scratch(capacity)
    boxes, masks, lst, _, _ = cpu_kernels._block_scratch(capacity)
    kept = skipped = 0
    for t in range(len(bins.tile_start) - 1):
        start, count = bins.tile_start[t], bins.tile_start[t + 1] - bins.tile_start[t]
        if count == 0:
            continue
        x0, y0 = (t % bins.tiles_x) * 16, (t // bins.tiles_x) * 16
        cpu_kernels._load_tile(xys, conics, colors, bins.ids, start, count, params, cols)
        cpu_kernels._load_boxes(gboxes, bins.ids, start, count, boxes)
        cpu_kernels._block_masks(params, boxes, count, x0, y0, masks)
        for blk in range(16):
            bx, by = x0 + 4 * (blk % 4), y0 + 4 * (blk // 4)
            listed = lst[: cpu_kernels._block_list(masks, count, blk, lst)].copy()
            assert np.all(np.diff(listed) > 0) and all(masks[m] >> blk & 1 for m in listed)
            for m in set(range(count)) - set(listed.tolist()):
                x_lo, x_hi, y_lo, y_hi = gboxes[bins.ids[start + m], :4]
                in_box = bx <= x_hi and x_lo <= bx + 3 and by <= y_hi and y_lo <= by + 3
                skipped += in_box
                sigma = _block_sigmas(xys, conics, bins.ids[start + m], bx, by)
                assert bool((sigma >= SIGMA_CUTOFF).all()), (t, m, blk, float(sigma.min()))
            kept += len(listed)
    assert skipped > 0.2 * (kept + skipped)


@pytest.mark.parametrize("kind", ["random", "crowded", "degenerate", "fitted", "sparse"])
def test_blend_weights_match_reference_and_reproduce_the_picture(kind: str) -> None:
    from fast2dgs_cli.render import blend_weights

    g, height, width = {
        "sparse": (random_scene(2, 5, spread=1.0, max_scale=1.0), 70, 90),  # most tiles without a candidate
        "random": (random_scene(300, 1), 50, 37),
        "crowded": (crowded_scene(2), 40, 40),
        "degenerate": (degenerate_scene(3), 33, 35),
        "fitted": (_fitted_like(48, 72, 700), 48, 72),
    }[kind]
    ours, reference = blend_weights(g, height, width, "cpu"), blend_weights(g, height, width, "torch")
    assert ours.ids.shape == ours.weights.shape == (height * width, 10)
    # the kernels skip candidates of weight < 1e-12 (normalized: < 1e-8) that the reference keeps
    significant = reference.weights > 1e-7
    assert torch.equal(ours.ids[significant], reference.ids[significant])
    assert torch.equal(ours.ids[ours.ids >= 0], reference.ids[ours.ids >= 0])
    assert torch.allclose(ours.weights, reference.weights, atol=1e-6)
    linear = (ours.weights[..., None] * g.color[ours.ids.clamp_min(0).long()]).sum(1)
    picture = render(g, height, width, "torch").reshape(-1, 3)
    assert torch.allclose(linear, picture, atol=1e-5)


@pytest.mark.parametrize("height,width", [(1, 1), (23, 37), (64, 48), (100, 130)])
def test_binning_matches_bin_tiles(height: int, width: int) -> None:
    p = project(random_scene(300, height + width, spread=1.6, max_scale=12.0), height, width)
    expected = bin_tiles(p)
    bins = cpu_kernels.Bins(p.tile_box.numpy(), p.height, p.width)
    assert np.array_equal(bins.tile_start, expected.tile_start.numpy())
    assert np.array_equal(bins.ids.astype(np.int64), expected.gaussian_ids.numpy())
    # every intersection owns one gradient slot, and each Gaussian's slots are contiguous
    assert np.array_equal(np.sort(bins.home), np.arange(len(bins.ids)))
    owner = np.repeat(np.arange(len(p.xys)), np.diff(bins.gauss_start))
    assert np.array_equal(owner[bins.home], bins.ids)


@pytest.mark.parametrize("tiles", [0, 1, 31, 32, 33, 1536, 47_000])
def test_tile_order_visits_every_tile_once_in_runs_of_consecutive_tiles(tiles: int) -> None:
    order = cpu_kernels._tile_order(tiles)
    assert np.array_equal(np.sort(order), np.arange(tiles))
    run = cpu_kernels._TILE_RUN
    inside = np.flatnonzero(order % run != 0)  # every tile but a run's first follows its predecessor
    assert np.array_equal(order[inside], order[inside - 1] + 1)
    if tiles > 2 * run:  # the runs themselves are scattered
        assert np.count_nonzero(np.diff(order) != 1) >= tiles // run - 1


@pytest.mark.parametrize("kind", ["random", "degenerate", "fitted", "sparse"])
@pytest.mark.parametrize("rows", [16, 32, 48])
def test_bands_render_the_rows_of_the_whole_picture_bit_for_bit(kind: str, rows: int) -> None:
    from fast2dgs_cli.render.arrays import render_arrays, render_bands

    g, height, width = {
        "sparse": (random_scene(2, 5, spread=1.0, max_scale=1.0), 70, 90),
        "random": (random_scene(300, 1, spread=1.4, max_scale=9.0), 83, 37),
        "degenerate": (degenerate_scene(3), 33, 35),
        "fitted": (_fitted_like(48, 72, 700), 48, 72),
    }[kind]
    values = {name: getattr(g, name).numpy() for name in ("xy", "scale", "rotation", "color")}
    whole = render_arrays(values, height, width)
    bands = [(top, band.copy()) for top, band in render_bands(values, height, width, rows=rows)]
    assert [top for top, _ in bands] == list(range(0, height, rows))
    assert np.array_equal(np.concatenate([band for _, band in bands]), whole)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize("rows", [(0, 16), (16, 83), (32, 47), (80, 83)])
def test_a_row_window_renders_and_selects_as_the_whole_picture(backend: str, rows: tuple[int, int]) -> None:
    from fast2dgs_cli.render import blend_weights

    g, height, width = random_scene(300, 1, spread=1.4, max_scale=9.0), 83, 37
    top, bottom = rows
    with torch.no_grad():
        assert torch.equal(render(g, height, width, backend, rows=rows), render(g, height, width, backend)[top:bottom])
    window, whole = blend_weights(g, height, width, backend, rows=rows), blend_weights(g, height, width, backend)
    assert torch.equal(window.ids, whole.ids[top * width : bottom * width])
    assert torch.equal(window.weights, whole.weights[top * width : bottom * width])
    for wrong in [(8, 40), (16, 84), (32, 32)]:
        with pytest.raises(ValueError, match="not a band"):
            render(g, height, width, backend, rows=wrong)


@pytest.mark.parametrize("kind", ["empty", "culled"])
def test_empty_and_culled_scenes_give_zeros_and_zero_gradients(kind: str) -> None:
    if kind == "empty":
        g = Gaussians(torch.zeros(0, 2), torch.ones(0, 2), torch.zeros(0), torch.zeros(0, 3))
    else:  # off-image, or zero-area (det == 0)
        xy = torch.tensor([[5.0, 5.0], [-3.0, 0.5], [0.5, 0.5]])
        scale = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0]])
        g = Gaussians(xy, scale, torch.zeros(3), torch.ones(3, 3))
    image, screen, params = _run(rasterize_cpu, g, 20, 27)
    assert image.shape == (20, 27, 3) and image.abs().max() == 0
    for grad in screen + params:
        assert grad is not None and grad.abs().max() == 0 if grad.numel() else True


def test_results_are_deterministic_across_runs_and_thread_counts() -> None:
    g = random_scene(300, 9, max_scale=8.0)
    first = _run(rasterize_cpu, g, 45, 61)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = _run(rasterize_cpu, g, 45, 61)
    finally:
        numba.set_num_threads(threads)
    again = _run(rasterize_cpu, g, 45, 61)
    for run in (single, again):
        assert torch.equal(run[0], first[0])
        for a, b in zip(run[1] + run[2], first[1] + first[2]):
            assert torch.equal(a, b)


def test_reference_gradients_are_deterministic_too() -> None:
    g = random_scene(2000, 1)  # crowded enough that many pixels share Gaussians, as in a fit
    first = _run(rasterize_reference, g, 128, 96)
    for _ in range(3):
        again = _run(rasterize_reference, g, 128, 96)
        for a, b in zip(again[1] + again[2], first[1] + first[2]):
            assert torch.equal(a, b)


def test_forward_only_calls_save_no_backward_state(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("autograd path taken for a forward-only call")

    monkeypatch.setattr(cpu_backend._RasterizeCpu, "apply", refuse)
    g = random_scene(50, 2)
    with torch.no_grad():
        image = rasterize_cpu(project(g, 20, 20))
    assert image.grad_fn is None
    rasterize_cpu(project(g, 20, 20))  # nothing requires grad: no state either


def test_registry_renders_with_the_cpu_backend() -> None:
    g = random_scene(50, 3)
    assert torch.allclose(render(g, 21, 19, "cpu"), render(g, 21, 19, "torch"), atol=1e-5)


def test_rejects_tensors_off_the_cpu() -> None:
    p = project(random_scene(5, 0), 8, 8)
    meta = Projected(p.xys.to("meta"), p.conics, p.colors, p.radii, p.tile_box, 8, 8)
    with pytest.raises(ValueError, match="CPU"):
        rasterize_cpu(meta)


def test_warm_up_reports_seconds() -> None:
    assert warm_up() >= 0.0


_NARROW_RENDER = """
import sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
from scenes import crowded_scene, random_scene
from test_cpu_backend import _run
from fast2dgs_cli.render import cpu_backend, cpu_kernels
from fast2dgs_cli.render.cpu_backend import project_cpu

assert not cpu_kernels.WIDE_SIMD
out = {}
for name, scene in (("random", random_scene(400, 5, max_scale=9.0)), ("crowded", crowded_scene(6))):
    image, screen, params = _run(cpu_backend.rasterize_cpu, scene, 45, 61, projector=project_cpu)
    for i, array in enumerate((image, *screen, *params)):
        out[f"{name}{i}"] = array.numpy()
np.savez(sys.argv[2], **out)
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 feature names")
def test_build_without_avx512_renders_the_same_bits(tmp_path: Path) -> None:
    """The selection pass runs 8 lanes at a time where AVX-512 is missing: same image and gradients, bit for bit."""
    from numba.core.codegen import get_host_cpu_features

    spec = importlib.util.spec_from_file_location("avx2_features", BENCHMARKS / "avx2_features.py")
    avx2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(avx2)  # the feature string the *-avx2 benchmarks are measured with
    features = avx2.without_avx512(get_host_cpu_features())
    env = {**os.environ, "NUMBA_CPU_FEATURES": features, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    tests = Path(__file__).parent
    done = subprocess.run(
        [sys.executable, "-c", _NARROW_RENDER, str(tests), str(tmp_path / "narrow.npz")], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    narrow = np.load(tmp_path / "narrow.npz")
    for name, scene in (("random", random_scene(400, 5, max_scale=9.0)), ("crowded", crowded_scene(6))):
        image, screen, params = _run(rasterize_cpu, scene, 45, 61, projector=project_cpu)
        for i, array in enumerate((image, *screen, *params)):
            assert np.array_equal(narrow[f"{name}{i}"], array.numpy()), (name, i)
