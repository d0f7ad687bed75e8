"""Shared fixtures: the bundled sample picture (Kodak's kodim23 at 384×256) as a path and as pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fast2dgs_cli.imageio import load_image


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The bundled sample picture."""
    return Path(__file__).parent / "data" / "kodim23-384x256.png"


@pytest.fixture(scope="session")
def sample(sample_path: Path) -> torch.Tensor:
    """The sample as ``[256, 384, 3]`` float32 RGB in [0, 1]."""
    return torch.from_numpy(load_image(sample_path).pixels)
