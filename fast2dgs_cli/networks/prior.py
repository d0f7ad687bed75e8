"""The Deep Gaussian Prior: where should ``K`` Gaussians go in this image?

```
image [B,3,H,W] ─┐
log ρ [B] ───────┴─► ConditionalUNet(out=1) ─► logits [B,H,W] ─softmax over pixels─► p(pixel)
```

``softmax(logits)`` over the pixels of one image is a distribution of Gaussian centres; ``K`` positions are
drawn from it by ``sample_positions``. Training matches it to the blurred impulse map of a teacher fit
(``training.targets``), so the prior learns where optimized Gaussians end up at that density ``ρ = K/(H·W)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .unet import ConditionalUNet, UNetConfig

__all__ = ["PriorNet"]


class PriorNet(nn.Module):
    """Image + log-density → one logit per pixel.

    Args:
        config: the UNet's hyper-parameters; ``out_channels`` must be 1 (the default config has it).
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        config = config or UNetConfig(out_channels=1)
        if config.out_channels != 1:
            raise ValueError(f"PriorNet needs out_channels=1, got {config.out_channels}")
        self.config = config
        self.unet = ConditionalUNet(config)

    def forward(self, image: Tensor, log_density: Tensor) -> Tensor:
        """``image`` ``[B,3,H,W]`` in [0,1], ``log_density`` ``[B]`` → logits ``[B,H,W]``."""
        return self.unet(image, log_density)[:, 0]
