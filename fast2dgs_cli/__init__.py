"""f2dgs: a batch image codec that stores a picture as a few thousand 2D Gaussians.

Implements *Fast-2DGS: Efficient Image Representation with Deep Gaussian Prior* (Wang et al., 2025):

```
encode:  image ──init──► Gaussians ──finetune (differentiable render)──► quantize ──entropy-code──► .g2d
decode:  .g2d ──parse──► dequantize ──render (torch | cpu | gmod)──► image
```
"""

from .errors import F2dgsError

__version__ = "0.1.0"

__all__ = ["F2dgsError", "__version__"]
