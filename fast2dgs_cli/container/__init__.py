"""The `.g2d` v2 container: a fixed header, then CRC-checked chunks holding zstd-compressed quantized Gaussians.

```
write_g2d: QuantizedGaussians (+ metadata) ──► header │ meta │ GPOS │ GSCL │ GROT │ GCOL │ GEND ──► bytes
read_g2d:  bytes ──► check magic, version, CRCs, sizes, limits (G2DError on any defect) ──► G2DFile
```
The byte-level specification is ``formats/g2d.md``.
"""

from .format import (
    CONTAINER_VERSION,
    MAGIC,
    MAX_GAUSSIANS,
    MAX_HEIGHT,
    MAX_WIDTH,
    ChunkInfo,
    G2DError,
    G2DFile,
)
from .info import describe
from .reader import accept, read_g2d, read_header
from .writer import write_g2d

__all__ = [
    "CONTAINER_VERSION",
    "ChunkInfo",
    "G2DError",
    "G2DFile",
    "MAGIC",
    "MAX_GAUSSIANS",
    "MAX_HEIGHT",
    "MAX_WIDTH",
    "accept",
    "describe",
    "read_g2d",
    "read_header",
    "write_g2d",
]
