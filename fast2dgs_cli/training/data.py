"""Training photos: listing, the held-out split, and the planned crops.

```
folder ──list_images (recursive .jpg/.jpeg/.png, Kodak refused)──► photos
photos ──split_images (SHA-256 of the relative name: ≈5 % held out)──► train, validation
train  ──plan_crops (seeded per photo)──► CropSpec(photo, downscale s, box, K)
CropSpec ──load_crops──► photo resized by 1/s with an antialiasing filter, cut to crop × crop ──► [c,c,3] uint8
```

Crops are planned once per run and fixed, so each one is fitted by the teacher once (and cached); variety
comes from many photos, random boxes, random downscaling and flips during training. The split depends on
names only: adding photos never moves an old photo between training and validation. Kodak is the test set
of the benchmarks, so any path mentioning it is refused.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torch import Tensor

from ..errors import RequestError

__all__ = ["CropSpec", "DataError", "center_crop_spec", "list_images", "load_crops", "plan_crops", "split_images"]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
VALIDATION_PERCENT = 5


class DataError(RequestError):
    """A training folder or photo that cannot be used."""


@dataclass(frozen=True)
class CropSpec:
    """One planned crop: downscale ``path`` by ``scale``, cut ``size × size`` at ``(left, top)``, fit ``k``.

    Attributes:
        path: the photo.
        scale: downscaling factor (≥ 1).
        left: left edge in downscaled pixels.
        top: top edge in downscaled pixels.
        size: side of the crop.
        k: number of Gaussians (density ``k / size²``).
    """

    path: Path
    scale: float
    left: int
    top: int
    size: int
    k: int


def refuse_kodak(path: Path) -> None:
    """Raise ``DataError`` if ``path`` mentions Kodak (the benchmark set must never be trained on)."""
    if "kodak" in str(path).lower():
        raise DataError(f"refusing to train on {path}: Kodak is the benchmark test set")


def list_images(folder: Path) -> list[Path]:
    """Every .jpg/.jpeg/.png under ``folder`` (recursive, sorted); ``DataError`` if none or Kodak."""
    refuse_kodak(folder.resolve())
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    for photo in photos:
        refuse_kodak(photo)
    if not photos:
        raise DataError(f"no .jpg/.png images under {folder}")
    return photos


def _name_hash(path: Path, root: Path) -> int:
    return int.from_bytes(hashlib.sha256(path.relative_to(root).as_posix().encode()).digest()[:8], "little")


def split_images(photos: list[Path], root: Path, max_train: int) -> tuple[list[Path], list[Path]]:
    """Split into (train, validation) by name hash; at most ``max_train`` training photos, in hash order.

    About ``VALIDATION_PERCENT`` % are held out; at least one on each side (``DataError`` below 2 photos).
    """
    if len(photos) < 2:
        raise DataError(f"need at least 2 images (training and validation), found {len(photos)}")
    ordered = sorted(photos, key=lambda p: _name_hash(p, root))
    held = [p for p in ordered if _name_hash(p, root) % 100 < VALIDATION_PERCENT] or ordered[:1]
    held = held[: len(photos) - 1]
    held_set = set(held)
    train = [p for p in ordered if p not in held_set][:max_train]
    return sorted(train), sorted(held)


def _photo_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).size
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from None


def plan_crops(
    photos: list[Path], per_image: int, size: int, downscale: tuple[float, float],
    density_range: tuple[float, float], seed: int,
) -> list[CropSpec]:  # fmt: skip
    """``per_image`` crops per photo, with random downscale, box and log-uniform density (seeded per photo)."""
    specs = []
    lo, hi = math.log(density_range[0]), math.log(density_range[1])
    for photo in photos:
        width, height = _photo_size(photo)
        rng = random.Random(f"{seed}:{photo.name}:{width}x{height}")
        for _ in range(per_image):
            scale = min(rng.uniform(*downscale), min(width, height) / size)
            if scale < 1.0:
                raise DataError(f"{photo} is {width}x{height}, smaller than a {size}x{size} crop")
            left = rng.randrange(_fit(width, scale) - size + 1)
            top = rng.randrange(_fit(height, scale) - size + 1)
            k = max(1, round(math.exp(rng.uniform(lo, hi)) * size * size))
            specs.append(CropSpec(photo, scale, left, top, size, k))
    return specs


def center_crop_spec(photo: Path, size: int, scale: float) -> CropSpec:
    """The centre crop of ``photo`` downscaled by ``scale`` (less if the photo is small); ``k`` unset (1)."""
    width, height = _photo_size(photo)
    scale = max(1.0, min(scale, min(width, height) / size))
    size = min(size, width, height)
    return CropSpec(photo, scale, (_fit(width, scale) - size) // 2, (_fit(height, scale) - size) // 2, size, 1)


def _fit(length: int, scale: float) -> int:
    """Whole downscaled pixels in ``length`` (rounding-safe when ``scale`` was derived from ``length``)."""
    return math.floor(length / scale + 1e-6)


def load_crops(specs: list[CropSpec]) -> list[Tensor]:
    """Cut the crops of ``specs`` (all of one photo, decoded once): ``[size, size, 3]`` uint8 each."""
    path = specs[0].path
    try:
        with Image.open(path) as opened:
            photo = ImageOps.exif_transpose(opened).convert("RGB")
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from None
    crops = []
    for spec in specs:
        box = (spec.left * spec.scale, spec.top * spec.scale,
               (spec.left + spec.size) * spec.scale, (spec.top + spec.size) * spec.scale)  # fmt: skip
        # Pillow's resampling filters widen with the reduction factor, i.e. they antialias.
        crop = photo.resize((spec.size, spec.size), Image.Resampling.BICUBIC, box=box)
        crops.append(torch.frombuffer(bytearray(crop.tobytes()), dtype=torch.uint8).reshape(spec.size, spec.size, 3))
    return crops
