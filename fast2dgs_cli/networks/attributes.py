"""The attribute network: every pixel's Gaussian, should one be placed there.

```
image [B,3,H,W] ─┐                         raw [B,9,H,W]                         maps [B,9,H,W]
log ρ [B] ───────┴─► ConditionalUNet(out=9) ─────────────► bound / add baselines ───────────────►
    ch 0:2  offset (dx, dy)        = 0.5·tanh(raw)                  pixels, within the pixel's cell
    ch 2:4  log std (s1, s2)       = log(0.5/√ρ) + 2·tanh(raw/2)    log pixels, residual on the spacing
    ch 4:6  (cos 2θ, sin 2θ)       = (1, 0) + raw                   θ = ½·atan2(sin 2θ, cos 2θ)
    ch 6:9  colour (r, g, b)       = image + 0.25·tanh(raw)         residual on the pixel's colour

maps, rows, cols ──gaussians_from_maps──► Gaussians  (xy = ((col+dx)/W, (row+dy)/H), scale = exp(log std))
```

Every channel is a residual on the heuristic init's answer (``encoder.init``: a Gaussian on its pixel, of
the pixel's colour, with std half the mean spacing ``1/√ρ``), so an untrained network already gives a
usable start and training only learns corrections. Rotation is encoded by the doubled angle because a
Gaussian is unchanged by θ → θ + π: (cos 2θ, sin 2θ) is continuous where θ itself wraps; its (1, 0) offset
keeps the vector away from the origin, where ``atan2`` has no gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..gaussians import Gaussians
from .unet import ConditionalUNet, UNetConfig

__all__ = ["AttributeNet", "MAP_CHANNELS", "gaussians_from_maps", "gaussians_from_picked", "spacing_log_std"]

MAP_CHANNELS = 9
"""Channels of the attribute maps: offset 2, log std 2, doubled-angle rotation 2, colour 3."""
_SPACING_TO_STD = 0.5
"""Baseline std as a fraction of the mean spacing between Gaussians (the heuristic init's choice)."""
_LOG_STD_RANGE = 2.0
_COLOR_RANGE = 0.25


def spacing_log_std(log_density: Tensor) -> Tensor:
    """Baseline ``log std`` in pixels at a density: ``log(0.5 / √ρ)``, same shape as ``log_density``."""
    return torch.log(torch.tensor(_SPACING_TO_STD)) - 0.5 * log_density


class AttributeNet(nn.Module):
    """Image + log-density → dense attribute maps ``[B,9,H,W]`` (see the module docstring for channels).

    Args:
        config: the UNet's hyper-parameters; ``out_channels`` must be ``MAP_CHANNELS``.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        config = config or UNetConfig(out_channels=MAP_CHANNELS)
        if config.out_channels != MAP_CHANNELS:
            raise ValueError(f"AttributeNet needs out_channels={MAP_CHANNELS}, got {config.out_channels}")
        self.config = config
        self.unet = ConditionalUNet(config)

    def forward(self, image: Tensor, log_density: Tensor) -> Tensor:
        """``image`` ``[B,3,H,W]`` in [0,1], ``log_density`` ``[B]`` → maps ``[B,9,H,W]``."""
        raw = self.unet(image, log_density)
        offset = 0.5 * torch.tanh(raw[:, 0:2])
        baseline = spacing_log_std(log_density)[:, None, None, None]
        log_std = baseline + _LOG_STD_RANGE * torch.tanh(raw[:, 2:4] / _LOG_STD_RANGE)
        color = image + _COLOR_RANGE * torch.tanh(raw[:, 6:9])
        rotation = raw[:, 4:6] + torch.tensor([1.0, 0.0], dtype=raw.dtype)[None, :, None, None]
        return torch.cat([offset, log_std, rotation, color], dim=1)


def gaussians_from_maps(maps: Tensor, rows: Tensor, cols: Tensor) -> Gaussians:
    """Gather one Gaussian per chosen pixel from attribute maps, differentiably w.r.t. ``maps``.

    Args:
        maps: ``[9, H, W]`` maps of one image (an ``AttributeNet`` output without its batch axis).
        rows: ``[N]`` int64 pixel rows.
        cols: ``[N]`` int64 pixel columns.

    Returns:
        Gaussians at ``xy = ((col + dx)/W, (row + dy)/H)``: a zero offset puts the centre exactly on the
        pixel, the renderer's integer pixel convention (``gaussians.py``).
    """
    channels, height, width = maps.shape
    if channels != MAP_CHANNELS:
        raise ValueError(f"attribute maps have {channels} channels, expected {MAP_CHANNELS}")
    return gaussians_from_picked(maps[:, rows, cols].T, rows, cols, height, width)


def gaussians_from_picked(picked: Tensor, rows: Tensor, cols: Tensor, height: int, width: int) -> Gaussians:
    """``gaussians_from_maps`` from the maps' values at the chosen pixels only: ``picked`` ``[N, 9]``."""
    x = (cols.to(picked.dtype) + picked[:, 0]) / width
    y = (rows.to(picked.dtype) + picked[:, 1]) / height
    rotation = 0.5 * torch.atan2(picked[:, 5], picked[:, 4])
    return Gaussians(torch.stack([x, y], dim=1), picked[:, 2:4].exp(), rotation, picked[:, 6:9])
