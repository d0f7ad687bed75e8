"""The Deep Gaussian Prior (Fast-2DGS): two small CPU networks that initialize the Gaussians.

```
image [H,W,3], budget K ──► density ρ = K/(H·W)
   │
   ├─► PriorNet(image, log ρ) ─► logits [H,W] ─softmax─► sample_positions(K) ─► relax_positions ──┐
   │                                                                        K pixels (rows, cols) │
   └─► AttributeNet(image, log ρ) ─► maps [9,H,W]: offset, log std, rotation, colour ────────────┴─► gaussians_from_maps
                                                                                                              │
                                                                                    Gaussians ──► finetune ───┘
```

Both networks are the same conditional UNet (``unet``), conditioned on ``log ρ`` by FiLM: one set of
weights serves every image size and budget. ``predict.prior_init`` is the whole inference path;
``registry`` loads the shipped weights; ``training`` (a sibling package) produces them.
"""

from .attributes import MAP_CHANNELS, AttributeNet, gaussians_from_maps
from .predict import default_models, predict_maps, prior_init
from .prior import PriorNet
from .registry import (
    DEFAULT_MODEL,
    MODELS,
    ModelUnavailable,
    PriorModels,
    load_models,
    load_models_file,
    save_models,
    shipped_name,
)
from .relaxation import RELAX_ITERATIONS, relax_positions
from .sampling import SAMPLING_METHODS, sample_positions
from .unet import ConditionalUNet, UNetConfig

__all__ = [
    "DEFAULT_MODEL",
    "MAP_CHANNELS",
    "MODELS",
    "RELAX_ITERATIONS",
    "SAMPLING_METHODS",
    "AttributeNet",
    "ConditionalUNet",
    "ModelUnavailable",
    "PriorModels",
    "PriorNet",
    "UNetConfig",
    "default_models",
    "gaussians_from_maps",
    "load_models",
    "load_models_file",
    "predict_maps",
    "prior_init",
    "relax_positions",
    "sample_positions",
    "save_models",
    "shipped_name",
]
