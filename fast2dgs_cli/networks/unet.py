"""A small conditional UNet sized for the CPU: the architecture of both the prior and the attribute network.

```
image [B,3,H,W] in [0,1] ──pad (replicate) to a multiple of 16──► normalize (x−0.5)/0.25
  │
  ├─ enc0  conv3×3              3 → w0  (1/1) ─────────────────────────┐ skip
  ├─ enc1  conv3×3 /2, conv3×3 w0 → w1 (1/2) ───────────────────┐     │
  ├─ enc2  conv3×3 /2, conv3×3 w1 → w2 (1/4) ─────────────┐     │     │
  ├─ enc3  conv3×3 /2, conv3×3 w2 → w3 (1/8) ───────┐     │     │     │
  └─ mid   conv3×3 /2          w3 → 16 (1/16)       │     │     │     │
           FiLM: h·(1+γ) + β, (γ, β) = MLP(log ρ)   │     │     │     │
           conv3×3             16 → 16              │     │     │     │
  dec3  conv3×3(up×2(h) ⊕ skip)        → w3 ◄───────┘     │     │     │
  dec2  up×2(conv1×1 h) + conv1×1 skip → w2 ◄─────────────┘     │     │
  dec1  up×2(conv1×1 h) + conv1×1 skip → w1 ◄───────────────────┘     │
  dec0  up×2(conv1×1 h) + conv1×1 skip → w0 ◄─────────────────────────┘
  head  conv1×1 w0 → out_channels ──crop back to H×W──► [B,out,H,W]
```

The condition is the **density** ``K/(H·W)`` (Gaussians per pixel), fed as ``log(density)``, not the budget
``K``: the same density means the same mean spacing between Gaussians whatever the image size, so one set of
weights serves a 2k budget on a 256² crop and an 18k budget on a 768² image alike (both ≈ 0.03), and
training on small crops transfers to full images.

Cost: the fine levels dominate on a CPU, so they get few channels (one 3×3 convolution at full resolution)
and the fine decoder stages are 1×1 merges. A 1×1 convolution of a concatenation is a sum of 1×1
convolutions, and a 1×1 convolution commutes with bilinear upsampling, so
``conv1×1(up(h) ⊕ skip) = up(conv1×1 h) + conv1×1 skip``: the coarse half runs at the coarse resolution
and no full-resolution concatenation is built (docs/prior.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LOG_DENSITY_CENTER", "LOG_DENSITY_SPREAD", "ConditionalUNet", "UNetConfig"]

MULTIPLE = 16
"""Inputs are padded to a multiple of this (four stride-2 levels)."""
LOG_DENSITY_CENTER = -4.0
"""``log(density)`` is centred on this value (density ≈ 0.018) before entering the FiLM MLP."""
LOG_DENSITY_SPREAD = 1.0
"""…and divided by this spread (the trained range 0.003–0.06 spans about ±1.5)."""


@dataclass(frozen=True)
class UNetConfig:
    """Architecture hyper-parameters (stored in the weights file so loading rebuilds the module).

    Attributes:
        out_channels: number of output maps.
        widths: channels of the four encoder levels (1, 1/2, 1/4, 1/8 resolution).
        bottleneck: channels of the FiLM-modulated 1/16 level.
        film_hidden: hidden units of the FiLM MLP.
    """

    out_channels: int
    widths: tuple[int, int, int, int] = (8, 16, 32, 48)
    bottleneck: int = 16
    film_hidden: int = 32

    def to_dict(self) -> dict[str, object]:
        """Plain-types form for serialization."""
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> UNetConfig:
        """Inverse of ``to_dict``."""
        w0, w1, w2, w3 = (int(w) for w in data["widths"])  # type: ignore[attr-defined]
        ints = {key: int(data[key]) for key in ("out_channels", "bottleneck", "film_hidden")}  # type: ignore[call-overload]
        return cls(widths=(w0, w1, w2, w3), **ints)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class ConditionalUNet(nn.Module):
    """Image ``[B,3,H,W]`` in [0,1] + ``log(density)`` ``[B]`` → ``[B,out_channels,H,W]`` (any H, W ≥ 1)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        w0, w1, w2, w3 = config.widths
        mid = config.bottleneck
        self.enc0 = _conv(3, w0)
        self.enc1 = nn.Sequential(_conv(w0, w1, 2), _conv(w1, w1))
        self.enc2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.enc3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        self.down = _conv(w3, mid, 2)
        hidden = config.film_hidden
        self.film = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2 * mid))
        self.mid = _conv(mid, mid)
        self.dec3 = _conv(mid + w3, w3)
        self.dec2 = _Merge(w3, w2, w2)
        self.dec1 = _Merge(w2, w1, w1)
        self.dec0 = _Merge(w1, w0, w0)
        self.head = nn.Conv2d(w0, config.out_channels, 1)
        nn.init.zeros_(self.film[-1].weight)  # start unconditioned: γ = β = 0
        nn.init.zeros_(self.film[-1].bias)

    def forward(self, image: Tensor, log_density: Tensor) -> Tensor:
        """Run the network; ``image`` ``[B,3,H,W]`` in [0,1], ``log_density`` ``[B]``."""
        height, width = image.shape[-2:]
        pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
        x = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else image
        s0 = self.enc0((x - 0.5) / 0.25)
        s1 = self.enc1(s0)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        h = self.down(s3)
        condition = ((log_density - LOG_DENSITY_CENTER) / LOG_DENSITY_SPREAD).reshape(-1, 1).to(h.dtype)
        gamma, beta = self.film(condition)[:, :, None, None].chunk(2, dim=1)
        h = self.mid(h * (1.0 + gamma) + beta)
        h = self.dec3(torch.cat([_up(h, s3), s3], dim=1))
        h = self.dec0(self.dec1(self.dec2(h, s2), s1), s0)
        return self.head(h)[..., :height, :width]


class _Merge(nn.Module):
    """``relu(up×2(conv1×1 h) + conv1×1 skip)``: a 1×1 decoder stage with the coarse half kept coarse."""

    def __init__(self, c_coarse: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.coarse = nn.Conv2d(c_coarse, c_out, 1, bias=False)
        self.lateral = nn.Conv2d(c_skip, c_out, 1)

    def forward(self, h: Tensor, skip: Tensor) -> Tensor:
        return torch.relu(_up(self.coarse(h), skip) + self.lateral(skip))


def _up(h: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(h, size=like.shape[-2:], mode="bilinear", align_corners=False)
