"""Refinement in windows and bands: held Gaussians stay, a banded refinement matches the whole one, no seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fast2dgs_cli.choices import Backend
from fast2dgs_cli.container import write_g2d
from fast2dgs_cli.encoder import refinement
from fast2dgs_cli.encoder.fit import FitConfig, finetune
from fast2dgs_cli.encoder.init import init_gaussians
from fast2dgs_cli.encoder.precision import rd_score
from fast2dgs_cli.encoder.quantize import encoder_bit_depths, quantize
from fast2dgs_cli.encoder.refine import Window, refine_colours, select_pixels
from fast2dgs_cli.encoder.refine_geometry import decoded_error, refine_geometry
from fast2dgs_cli.gaussians import Gaussians, dequantize
from fast2dgs_cli.metrics import psnr, to_uint8
from fast2dgs_cli.render import render
from fast2dgs_cli.representation import QuantizedGaussians

HEIGHT, WIDTH = 160, 192


@pytest.fixture(scope="module")
def picture(sample: torch.Tensor) -> torch.Tensor:
    return sample[48:208, 96:288].contiguous()


@pytest.fixture(scope="module")
def fitted(picture: torch.Tensor) -> Gaussians:
    return finetune(init_gaussians(picture, 900, seed=0), picture, FitConfig(steps=40), backend="cpu").gaussians


@pytest.fixture(scope="module")
def quantized(fitted: Gaussians) -> QuantizedGaussians:
    return quantize(fitted, HEIGHT, WIDTH, encoder_bit_depths(HEIGHT, WIDTH, len(fitted)))


def _window(q: QuantizedGaussians, top: int, bottom: int) -> Window:
    """The Gaussians centred in rows [top + 16, bottom − 16) free, over rows [top, bottom)."""
    centre = dequantize(q).xy[:, 1].numpy() * q.height
    return Window(top, bottom, (centre >= top + 16) & (centre < bottom - 16))


def _picture_psnr(q: QuantizedGaussians, target: torch.Tensor, rows: slice = slice(None)) -> float:
    return psnr(to_uint8(render(dequantize(q), q.height, q.width, "cpu"))[rows], to_uint8(target)[rows])


def test_a_window_moves_only_its_free_gaussians_and_lowers_its_error(
    quantized: QuantizedGaussians, picture: torch.Tensor
) -> None:
    window = _window(quantized, 48, 112)
    assert 50 < window.free.sum() < quantized.count // 2
    rows = (window.top, window.bottom)
    colours = refine_colours(quantized, picture, "cpu", window=window)
    geometry = refine_geometry(colours, picture, "cpu", window=window)
    for before, after, names in [(quantized, colours, ("color",)), (colours, geometry, ("xy", "scale", "rotation"))]:
        for name in names:
            old, new = getattr(before, name).codes, getattr(after, name).codes
            assert np.array_equal(old[~window.free], new[~window.free]), name
            assert (old[window.free] != new[window.free]).any(), name
    errors = [decoded_error(q, picture, "cpu", rows) for q in (quantized, colours, geometry)]
    assert errors[1] < 0.99 * errors[0] and errors[2] < 0.99 * errors[1], errors
    # over the window's rows, a whole-picture selection cut to them is the window's own
    whole, part = select_pixels(colours, "cpu"), select_pixels(colours, "cpu", rows)
    assert np.array_equal(part.ids, whole.ids[rows[0] * WIDTH : rows[1] * WIDTH])


@pytest.mark.parametrize("effort", [3, 5])
def test_banded_refinement_matches_the_whole_picture_without_seams(
    quantized: QuantizedGaussians,
    fitted: Gaussians,
    picture: torch.Tensor,
    effort: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = refinement.refine_codes(quantized, picture, Backend.CPU, effort, fitted)
    monkeypatch.setattr(refinement, "BAND_PIXELS", 48 * WIDTH)
    cores = refinement.band_cores(HEIGHT, WIDTH)
    assert [core for core in cores] == [(0, 48), (48, 96), (96, 144), (144, 160)]
    banded = refinement.refine_codes(quantized, picture, Backend.CPU, effort, fitted)
    assert banded == refinement.refine_codes(quantized, picture, Backend.CPU, effort, fitted)  # deterministic
    nearest = rd_score(_picture_psnr(quantized, picture), len(write_g2d(quantized, {})))
    gains = [rd_score(_picture_psnr(q, picture), len(write_g2d(q, {}))) - nearest for q in (whole, banded)]
    assert gains[0] > 0.3 and gains[1] > gains[0] - 0.1, gains  # picture for bytes, in dB
    assert abs(banded.count - whole.count) < 0.05 * whole.count
    for top, _ in cores[1:]:  # eight rows either side of each border: no dip against the whole refinement
        border = slice(top - 8, top + 8)
        assert _picture_psnr(banded, picture, border) > _picture_psnr(whole, picture, border) - 0.2, top
