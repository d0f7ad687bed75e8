"""Reference codecs run in-process through Pillow, each at the highest quality that fits a byte budget.

```
pixels uint8 [H,W,3] ──► PillowCodec.encode(quality) ──► bytes ──► PillowCodec.decode ──► pixels uint8
                         encode_within(codec, pixels, max_bytes): bisection over quality, keeps the
                         highest quality whose whole file is ≤ max_bytes
```

JPEG is Pillow's libjpeg with ``optimize=True`` (optimized Huffman tables) and its default 4:2:0 chroma
subsampling; WebP is libwebp's lossy mode with ``method=6`` (slowest, best); AVIF is libavif through
Pillow's AVIF plugin at its default speed. The files are the codecs' whole files, headers included, as
f2dgs's are.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, features

__all__ = ["BASELINES", "BaselineResult", "PillowCodec", "available_baselines", "encode_within"]


@dataclass(frozen=True)
class PillowCodec:
    """One Pillow image format used as a lossy codec.

    Attributes:
        name: the name used on the command line.
        pil_format: Pillow's format name.
        feature: Pillow feature that must be compiled in (``None``: always there).
        options: fixed save options.
        lowest: lowest quality setting searched (the highest is 100).
    """

    name: str
    pil_format: str
    feature: str | None = None
    options: dict[str, object] = field(default_factory=dict)
    lowest: int = 1

    def encode(self, pixels: np.ndarray, quality: int) -> bytes:
        """Encode ``[H, W, 3]`` uint8 pixels at ``quality`` (higher is better)."""
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, self.pil_format, quality=quality, **self.options)
        return buffer.getvalue()

    @staticmethod
    def decode(data: bytes) -> np.ndarray:
        """Decode a file to ``[H, W, 3]`` uint8 pixels."""
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB")).copy()


BASELINES: dict[str, PillowCodec] = {
    "jpeg": PillowCodec("jpeg", "JPEG", options={"optimize": True}),
    "webp": PillowCodec("webp", "WEBP", feature="webp", options={"method": 6}, lowest=0),
    "avif": PillowCodec("avif", "AVIF", feature="avif", lowest=0),
}
"""The baselines by name."""


def available_baselines() -> list[str]:
    """Names of the baselines this Pillow build can write."""
    return [name for name, codec in BASELINES.items() if codec.feature is None or features.check(codec.feature)]


@dataclass(frozen=True)
class BaselineResult:
    """A baseline's file at a byte budget.

    Attributes:
        codec: the codec's name.
        quality: the quality setting used.
        data: the whole file.
        decoded: the decoded ``[H, W, 3]`` uint8 pixels.
        encode_s: seconds of the final encode (the search's other encodes are not counted).
        decode_s: seconds of the decode.
    """

    codec: str
    quality: int
    data: bytes
    decoded: np.ndarray
    encode_s: float
    decode_s: float


def encode_within(codec: PillowCodec, pixels: np.ndarray, max_bytes: int) -> BaselineResult | None:
    """The file at the highest quality whose size is ≤ ``max_bytes`` (``None`` if even the lowest is bigger).

    File size grows with quality for these codecs, so a bisection over the quality range finds it in
    about seven encodes.
    """
    low, high, best = codec.lowest, 100, None
    while low <= high:
        quality = (low + high) // 2
        if len(codec.encode(pixels, quality)) <= max_bytes:
            best, low = quality, quality + 1
        else:
            high = quality - 1
    if best is None:
        return None
    start = time.perf_counter()
    data = codec.encode(pixels, best)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(data)
    return BaselineResult(codec.name, best, data, decoded, encode_s, time.perf_counter() - start)
