"""Quantization: error bounds, rotation modulo π, exact float32 dequantization, straight-through gradients."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
import torch
from scenes import random_scene

from fast2dgs_cli.container import write_g2d
from fast2dgs_cli.encoder.order import BAND_SHIFT, storage_orders, store_compactly
from fast2dgs_cli.encoder.quantize import quantize
from fast2dgs_cli.gaussians import Gaussians, dequantize
from fast2dgs_cli.render import render
from fast2dgs_cli.representation import BitDepths, QuantizedAttribute, QuantizedGaussians, exp_float32

H, W = 23, 37


def _half_step(q: QuantizedAttribute) -> np.ndarray:
    """Half a grid step per channel, plus float32 rounding slack of the grid itself."""
    step = q.step.astype(np.float64)
    magnitude = np.maximum(np.abs(q.lo), np.abs(q.hi)).astype(np.float64)
    return step / 2 * (1 + 1e-5) + 2 * magnitude * 2.0**-24


@pytest.mark.parametrize("bits", [BitDepths(), BitDepths(8, 6, 5, 4), BitDepths(20, 17, 24, 1)])
def test_error_is_at_most_half_a_step(bits: BitDepths) -> None:
    g = random_scene(300, seed=1)
    q = quantize(g, H, W, bits, sort=False)
    d = dequantize(q)
    assert d.xy.dtype == torch.float32 and d.xy.device.type == "cpu"
    err_xy = (d.xy.double() - g.xy.double()).abs().numpy()
    assert np.all(err_xy <= _half_step(q.xy))
    # colours: half a step per stored (Y, C1, C2) channel, and the transform is orthonormal, so the RGB error
    # vector is at most √3 half-steps long (plus the float32 rounding of the inverse transform)
    err_color = np.linalg.norm((d.color.double() - g.color.double()).numpy(), axis=1)
    assert np.all(err_color <= math.sqrt(3) * _half_step(q.color).max() + 4 * 2.0**-24 * 2)
    assert np.ptp(q.color.step) <= 2 * 2.0**-24 * q.color.step.max()  # one common step
    err_log_scale = (d.scale.double().log() - g.scale.double().log()).abs().numpy()
    assert np.all(err_log_scale <= _half_step(q.scale) + 2.0**-23)  # + rounding of exp to float32
    diff = d.rotation.double() - g.rotation.double()
    err_rot = (diff - math.pi * torch.round(diff / math.pi)).abs().numpy()  # distance modulo π
    assert np.all(err_rot <= _half_step(q.rotation)[0] + 1e-12)


def test_rotation_is_stored_modulo_pi() -> None:
    g = random_scene(200, seed=2)
    turned = Gaussians(g.xy, g.scale, torch.linspace(-12.0, 12.0, 200), g.color)
    q = quantize(turned, H, W, BitDepths(rotation=6), sort=False)
    assert 0 <= q.rotation.lo[0] <= q.rotation.hi[0] <= np.float32(math.pi)
    diff = dequantize(q).rotation.double() - turned.rotation.double()
    err = (diff - math.pi * torch.round(diff / math.pi)).abs()
    assert err.max() <= _half_step(q.rotation)[0] + 1e-6  # + float32 rounding of θ itself (|θ| ≤ 12)


def test_range_covers_the_data_and_codes_fit_their_bits() -> None:
    g = random_scene(200, seed=3)
    bits = BitDepths(xy=12, scale=9, rotation=7, color=5)
    q = quantize(g, H, W, bits)
    assert q.bits_per_gaussian == 2 * 12 + 2 * 9 + 7 + 3 * 5
    for name, attribute in q.attributes().items():
        assert attribute.codes.dtype == np.uint16
        assert int(attribute.codes.max()) <= (1 << getattr(bits, name)) - 1
        assert np.all(attribute.codes.min(axis=0) == 0)
        top = attribute.codes.max(axis=0)  # every channel reaches the top code, but for colour only the widest
        assert (top.max() if name == "color" else top.min()) == (1 << attribute.bits) - 1
    assert np.all(q.xy.lo <= g.xy.min(0).values.double().numpy())
    assert np.all(q.xy.hi >= g.xy.max(0).values.double().numpy())


def test_sorting_is_raster_order_and_keeps_the_set() -> None:
    g = random_scene(100, seed=4)
    unsorted, ordered = quantize(g, H, W, sort=False), quantize(g, H, W)
    keys = ordered.xy.codes[:, 1].astype(np.int64) * 65536 + ordered.xy.codes[:, 0]
    assert np.all(np.diff(keys) >= 0)
    assert _rows(unsorted) == _rows(ordered)


def test_dequantize_is_the_documented_float32_formula() -> None:
    g = random_scene(64, seed=5)
    q = quantize(g, H, W)
    d = dequantize(q)
    for name, attribute in q.attributes().items():
        lo, hi = attribute.lo, attribute.hi
        step = np.float32(np.float32(hi - lo) / np.float32((1 << attribute.bits) - 1))
        expected = np.float32(lo + np.float32(attribute.codes.astype(np.float32) * step))
        values = {"xy": d.xy, "scale": d.scale.log(), "rotation": d.rotation[:, None], "color": d.color}[name]
        if name == "scale":
            assert np.array_equal(d.scale.numpy(), exp_float32(expected))
        elif name == "color":
            from fast2dgs_cli.representation import stored_to_rgb

            assert np.array_equal(values.numpy(), stored_to_rgb(expected))
        else:
            assert np.array_equal(values.numpy(), expected)


def test_exp_float32_is_correctly_rounded() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(-80, 80, 2000), np.float32([0.0, 1.0, -1.0, 80.0, -80.0])]).astype(np.float32)
    out = exp_float32(v)
    for x, y in zip(v[:300], out[:300]):
        true = Decimal(float(x)).exp()
        below, above = np.nextafter(y, np.float32(-np.inf)), np.nextafter(y, np.float32(np.inf))
        assert abs(Decimal(float(y)) - true) <= abs(Decimal(float(below)) - true)
        assert abs(Decimal(float(y)) - true) <= abs(Decimal(float(above)) - true)
    assert out[-5] == 1.0 and np.all(np.isfinite(out))


def test_single_gaussian_and_empty_set() -> None:
    g = random_scene(1, seed=6)
    d = dequantize(quantize(g, 16, 16))
    assert torch.equal(d.xy, g.xy)  # lo = hi: no grid error
    torch.testing.assert_close(d.color, g.color, rtol=0, atol=4e-7)  # only the colour transform's rounding
    empty = Gaussians(torch.zeros(0, 2), torch.ones(0, 2), torch.zeros(0), torch.zeros(0, 3))
    assert len(dequantize(quantize(empty, 16, 16))) == 0


def test_invalid_inputs_raise_value_error() -> None:
    g = random_scene(5, seed=7)
    with pytest.raises(ValueError, match="BitDepths.xy"):
        BitDepths(xy=0)
    with pytest.raises(ValueError, match="BitDepths.color"):
        BitDepths(color=25)
    bad = Gaussians(g.xy, g.scale, g.rotation, g.color.clone().index_fill_(0, torch.tensor([0]), float("nan")))
    with pytest.raises(ValueError, match="non-finite color"):
        quantize(bad, H, W)
    huge = Gaussians(g.xy * 1e7, g.scale, g.rotation, g.color)
    with pytest.raises(ValueError, match="xy"):
        quantize(huge, H, W)
    with pytest.raises(ValueError, match="reference size"):
        quantize(g, 0, W)


def test_encoder_bit_depths_follow_the_spacing_of_the_gaussians() -> None:
    from fast2dgs_cli.encoder.quantize import encoder_bit_depths

    assert encoder_bit_depths(512, 768, 6_300) == BitDepths(11, 6, 7, 7)  # step 0.375 px, spacing 7.9 px
    assert encoder_bit_depths(512, 768, 10_000).xy == 12
    assert encoder_bit_depths(512, 768, 1_000).xy == 10
    assert encoder_bit_depths(256, 384, 2_500).xy == 11  # same density as 10k on 768×512, half the side
    assert encoder_bit_depths(1, 1, 1).xy == 5
    assert encoder_bit_depths(16384, 16384, 16384 * 16384).xy == 19  # one Gaussian per pixel


def test_colour_transform_matches_the_spec_order_and_is_nearly_orthonormal() -> None:
    from fast2dgs_cli.representation import rgb_to_stored, stored_to_rgb

    rgb = np.random.default_rng(3).uniform(-0.2, 1.2, (500, 3))
    stored = rgb_to_stored(rgb)
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), np.linalg.norm(rgb, axis=1), rtol=1e-12)
    back = stored_to_rgb(stored.astype(np.float32))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, rgb, atol=4e-7)
    y, c1, c2 = (np.float32(v) for v in (0.75, -0.25, 0.125))  # formats/g2d.md §8, one rounding per operation
    a, b, c, d = (np.frombuffer(bytes.fromhex(h), ">f4")[0] for h in ("3F13CD3A", "3F3504F3", "3ED105EC", "3F5105EC"))
    t, u, w = np.float32(a * y), np.float32(b * c1), np.float32(c * c2)
    red, green = np.float32(np.float32(t + u) + w), np.float32(t - np.float32(d * c2))
    expected = [red, green, np.float32(np.float32(t - u) + w)]
    assert stored_to_rgb(np.array([[y, c1, c2]], np.float32))[0].tolist() == [float(e) for e in expected]


def _rows(q: QuantizedGaussians) -> list[tuple[int, ...]]:
    """Each Gaussian's codes, as a sorted list: the set a file holds, whatever its order."""
    return sorted(tuple(np.concatenate([a.codes[i] for a in q.attributes().values()]).tolist()) for i in range(q.count))


def test_compact_storage_order_keeps_the_picture_and_shrinks_the_positions() -> None:
    g = random_scene(3000, seed=5, spread=1.0, max_scale=2.0)
    q = quantize(g, 512, 768, BitDepths(11, 6, 7, 7))  # raster order (y, then x)
    stored = store_compactly(q)
    assert _rows(stored) == _rows(q)
    x, y = (stored.xy.codes[:, c].astype(np.int64) for c in range(2))
    assert np.all(np.diff(y >> BAND_SHIFT) >= 0) or np.all(np.diff(x >> BAND_SHIFT) >= 0)  # a banded order won
    sizes = [len(write_g2d(q.take(order), {})) for order in storage_orders(q)]
    assert len(write_g2d(stored, {})) == min(sizes) < 0.99 * sizes[0]
    assert store_compactly(q) == stored  # deterministic
    small = quantize(random_scene(200, seed=6), H, W)
    picture = render(dequantize(small), H, W, backend="torch")
    assert torch.equal(render(dequantize(small.take(storage_orders(small)[1])), H, W, backend="torch"), picture)
