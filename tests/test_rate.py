"""Rate control: quality → budget, and --bpp lands in [0.9·X, X] of the whole file."""

from __future__ import annotations

import pytest
import torch

from fast2dgs_cli.choices import Backend, InitMethod
from fast2dgs_cli.codec import EncodeOptions
from fast2dgs_cli.encoder.fit import FitConfig
from fast2dgs_cli.rate import budget_for_quality, encode_to_bpp


def test_quality_maps_to_density() -> None:
    assert budget_for_quality(70, 512, 768) == 10_000
    assert budget_for_quality(85, 512, 768) == 20_000
    assert budget_for_quality(55, 256, 384) == 1_250  # same density on a quarter of the pixels, halved
    assert budget_for_quality(0, 4, 4) == 1
    assert budget_for_quality(100, 512, 768) == 40_000
    assert budget_for_quality(100, 2, 2) == 1  # never below one Gaussian
    with pytest.raises(ValueError, match="between 0 and 100"):
        budget_for_quality(101, 10, 10)


@pytest.fixture(scope="module")
def crop(sample: torch.Tensor) -> torch.Tensor:
    return sample[64:192, 96:288].contiguous()  # 192×128


@pytest.mark.parametrize("bpp", [0.6, 1.5])
def test_bpp_lands_just_under_the_target(crop: torch.Tensor, bpp: float) -> None:
    options = EncodeOptions(fit=FitConfig(steps=10), init=InitMethod.GRADIENT, backend=Backend.CPU)
    result = encode_to_bpp(crop, bpp, options)
    actual = 8 * len(result.data) / (crop.shape[0] * crop.shape[1])
    assert 0.9 * bpp <= actual <= bpp, actual


def test_bpp_too_small_is_an_error(crop: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="no Gaussian budget fits"):
        encode_to_bpp(crop, 0.001, EncodeOptions(fit=FitConfig(steps=2), init=InitMethod.GRADIENT, backend=Backend.CPU))
