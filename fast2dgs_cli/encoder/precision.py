"""Per-image colour precision, chosen by rate and distortion.

How many bits a colour needs depends on the picture: on a smooth one the colour grid's rounding is a visible
share of the error, on a textured one the fit's own error dwarfs it and the bits buy more as extra Gaussians.
``best_colour_depth`` therefore refines the colour codes (``refine.refine_colours``) at the encoder's colour
depth and at its neighbours, and keeps the depth with the best ``psnr − RD_SLOPE_DB · ln(bytes)``: the
exchange rate between bytes and picture along the rate–distortion curve, so a depth wins when it pays more
than the same bytes spent on more Gaussians would. The geometry codes (and so the pixel selection) are the
same at every colour depth, so one ``PixelSelection`` serves every candidate. Measurements: docs/encoder.md.
"""

from __future__ import annotations

import dataclasses
import math

from torch import Tensor

from ..choices import Backend
from ..container import write_g2d
from ..gaussians import Gaussians
from ..representation import MAX_BITS, BitDepths, QuantizedGaussians
from .quantize import quantize
from .refine import PixelSelection, Window, refine_colours, row_span, window_rows
from .refine_geometry import decoded_error

__all__ = ["COLOUR_OFFSETS", "RD_SLOPE_DB", "best_colour_depth", "rd_score"]

RD_SLOPE_DB = 3.2
"""PSNR gained per e-fold of bytes along f2dgs's rate–distortion curve on Kodak (measured in docs/encoder.md)."""
COLOUR_OFFSETS = (-1, 1)
"""Colour depths tried besides the encoder's, as offsets."""


def rd_score(psnr_db: float, size: int) -> float:
    """``psnr_db − RD_SLOPE_DB · ln(size)``: higher is a better trade of picture for bytes."""
    return psnr_db - RD_SLOPE_DB * math.log(max(size, 1))


def best_colour_depth(
    fitted: Gaussians,
    image: Tensor,
    bits: BitDepths,
    selection: PixelSelection,
    backend: Backend | str = Backend.AUTO,
    offsets: tuple[int, ...] = COLOUR_OFFSETS,
    window: Window | None = None,
) -> QuantizedGaussians:
    """The colour-refined quantization of ``fitted`` at ``bits``, or at ``bits.color + o`` for an ``o`` of
    ``offsets``, whichever has the best ``rd_score`` (ties: the earlier candidate, ``bits`` itself first).

    Args:
        fitted: the fitted Gaussians.
        image: ``[H, W, 3]`` float target in [0, 1].
        bits: the encoder's bit depths.
        selection: ``refine.select_pixels`` of ``quantize(fitted, H, W, bits)`` (the same for every candidate).
        backend: renderer for the colour weights and the scores.
        offsets: colour depth offsets to try besides ``bits.color`` (depths outside 1–``MAX_BITS`` are skipped).
        window: judge on these rows and the bytes of its free Gaussians, refining only those (``None``: the
            whole picture and file).
    """
    height, width = image.shape[:2]
    best, best_score = None, -math.inf
    for depth in (bits.color, *(bits.color + o for o in offsets)):
        if not 1 <= depth <= MAX_BITS:
            continue
        candidate = quantize(fitted, height, width, dataclasses.replace(bits, color=depth))
        candidate = refine_colours(candidate, image, backend, selection=selection, window=window)
        stored = candidate if window is None else candidate.take(window.free)
        score = rd_score(_psnr(candidate, image, backend, window_rows(window)), len(write_g2d(stored, {})))
        if score > best_score:
            best, best_score = candidate, score
    assert best is not None  # bits.color itself is always a candidate
    return best


def _psnr(q: QuantizedGaussians, image: Tensor, backend: Backend | str, rows: tuple[int, int] | None) -> float:
    """PSNR of ``q``'s decoded float picture against ``image`` (peak 1), over the pixel rows ``rows`` if given."""
    top, bottom = row_span(rows, q.height)
    mse = decoded_error(q, image, backend, rows) / ((bottom - top) * q.width * 3)
    return 10 * math.log10(1 / max(mse, 1e-20))
