"""Baseline codecs: the byte budget is respected and the best quality within it is found."""

from __future__ import annotations

import numpy as np
import pytest

from fast2dgs_cli.baselines import BASELINES, available_baselines, encode_within


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    """A smooth gradient with noise: compressible, but with a real rate-quality trade-off."""
    y, x = np.mgrid[0:64, 0:96]
    rng = np.random.default_rng(1)
    base = np.stack([x * 2.5, y * 3.5, (x + y) * 1.5], axis=-1) + rng.normal(0, 12, (64, 96, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", available_baselines())
def test_highest_quality_within_budget(pixels: np.ndarray, name: str) -> None:
    codec = BASELINES[name]
    budget = len(codec.encode(pixels, 60)) + 10
    result = encode_within(codec, pixels, budget)
    assert result is not None and len(result.data) <= budget
    assert result.quality >= 60
    if result.quality < 100:
        assert len(codec.encode(pixels, result.quality + 1)) > budget
    assert result.decoded.shape == pixels.shape
    error = np.abs(result.decoded.astype(int) - pixels.astype(int)).mean()
    assert error < 20


def test_budget_below_the_smallest_file(pixels: np.ndarray) -> None:
    assert encode_within(BASELINES["jpeg"], pixels, 50) is None


def test_jpeg_and_webp_are_always_available() -> None:
    assert {"jpeg", "webp"} <= set(available_baselines())
