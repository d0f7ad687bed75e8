"""Training the Deep Gaussian Prior and the attribute network (``f2dgs train``).

```
photo folder ─► data: list, split (≈5 % held out by name hash), planned crops (downscaled 1.5–2×)
             ─► teacher: gradient init + fine-tuning per crop (cached on disk) ─► position target maps
             ─► train: PriorNet ← KL to the target map; AttributeNet ← MSE through the cpu renderer
             ─► validate: PSNR at 0 fine-tuning steps, prior init vs gradient init, on held-out photos
             ─► weights file (networks.save_models) + model card JSON
```

``train(config, on_progress)`` is the whole run: seeded, resumable from ``<out>.ckpt``, and silent (progress
goes to the callback).
"""

from .config import DEFAULT_TEACHER_CACHE, TrainConfig, TrainProgress, TrainResult
from .data import DataError
from .loop import train

__all__ = ["DEFAULT_TEACHER_CACHE", "DataError", "TrainConfig", "TrainProgress", "TrainResult", "train"]
