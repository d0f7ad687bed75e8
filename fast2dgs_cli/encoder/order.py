"""The order the Gaussians are stored in: whichever of a few sorts of their centres makes the smallest file.

The picture does not depend on the order (``formats/g2d.md`` §10.4), so the encoder is free to choose it, and
it decides how well the position codes compress (§6.2). Sorted by (y, x), the y channel delta-codes to a few
bits but x costs nearly its whole depth. Sorted by the high byte of y and then by x, each band of 256 y codes
lists its x codes in ascending order, so x delta-codes to about ``log2`` of the mean gap between neighbours in
the band, the high byte of y costs nearly nothing, and only y's low byte is paid in full: together close to the
information in an unordered set of positions. The same with x and y swapped suits pictures whose Gaussians
line up the other way. Measurements: docs/encoder.md ("Storage order").
"""

from __future__ import annotations

import numpy as np

from ..container import write_g2d
from ..representation import QuantizedGaussians

__all__ = ["BAND_SHIFT", "storage_orders", "store_compactly"]

BAND_SHIFT = 8
"""A band holds the positions whose code shares all bits above the low byte: the high byte plane (§6.2)."""


def storage_orders(q: QuantizedGaussians) -> list[np.ndarray]:
    """The candidate orders of ``q``'s Gaussians: by (y, x), and banded by y or by x then along the other axis.

    Every sort is stable, so ties keep ``q``'s order and the result is deterministic."""
    x, y = (q.xy.codes[:, c].astype(np.int64) for c in range(2))
    return [
        np.lexsort((x, y)),
        np.lexsort((y, x, y >> BAND_SHIFT)),
        np.lexsort((x, y, x >> BAND_SHIFT)),
    ]


def store_compactly(q: QuantizedGaussians) -> QuantizedGaussians:
    """``q`` in the candidate order (``storage_orders``) whose file is smallest; the first on a tie."""
    if q.count < 2:
        return q
    candidates = [q.take(order) for order in storage_orders(q)]
    sizes = [len(write_g2d(candidate, {})) for candidate in candidates]
    return candidates[int(np.argmin(sizes))]
