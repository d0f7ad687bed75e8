"""Colour refinement: choose the colour codes for the picture the decoder will draw, not for the fitted floats.

After ``quantize`` the geometry (positions, scales, rotations) is fixed at its decoded values, and for fixed
geometry the rendered picture is *linear* in the colours (``render.BlendWeights``: pixel ``p`` is
``Σ_g w_gp·c_g``). The colours are stored as orthonormal (Y, C1, C2) on grids of step ``s``, so the squared
RGB error splits into three independent problems, one per stored channel, each an integer least-squares
problem over the codes ``k_g``: minimize ``Σ_p (t_p − Σ_g w_gp·(lo + k_g·s))²``.

It is solved by exact coordinate descent. With the residual ``e_p`` of the current codes, moving one code by
``δ`` changes the error by ``A_g·s²·δ² − 2·s·δ·b_g`` (``A_g = Σ_p w_gp²``, ``b_g = Σ_p w_gp·e_p``), whose best
integer is ``δ = round(b_g / (A_g·s))``, clamped to the code range. Sweeps visit the Gaussians in stored order,
each only if a code sharing one of its pixels moved since its last visit, and stop when none did (at most
``MAX_SWEEPS``). Every move lowers the squared error, so the result is never worse than nearest rounding, and
it is deterministic. Cost: one forward render for the weights plus O(pixels × TOP_K) per sweep; memory:
the blend weights, their per-Gaussian index and the residual, O(pixels × TOP_K).

The rounding of every colour is decided against the decoder's exact geometry and grid, which absorbs part of
the geometry's quantization error too. The encoder follows it with ``refine_geometry.refine_geometry`` and a
second colour refinement. Measurements: docs/encoder.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import prange
from torch import Tensor

from ..choices import Backend
from ..gaussians import dequantize
from ..jit import kernel
from ..render import blend_weights
from ..representation import QuantizedAttribute, QuantizedGaussians, dequantize_attribute, rgb_to_stored

__all__ = [
    "MAX_SWEEPS", "GaussianPixels", "PixelSelection", "Window", "free_gaussians", "refine_colours", "select_pixels",
    "row_span", "window_rows",
]  # fmt: skip

MAX_SWEEPS = 10
"""Most coordinate-descent sweeps (the first few give most of the gain: see docs/encoder.md)."""


@dataclass(frozen=True)
class Window:
    """Part of a refinement: the pixel rows whose picture counts, and the Gaussians that may change.

    Attributes:
        top: first pixel row (a multiple of ``render.TILE``).
        bottom: one past the last pixel row.
        free: ``[N]`` bool: the Gaussians whose codes may change; the others are held as they are (their part
            of the picture stays in it).
    """

    top: int
    bottom: int
    free: np.ndarray


def window_rows(window: Window | None) -> tuple[int, int] | None:
    """``(top, bottom)`` of ``window``; ``None`` (the whole picture) for no window."""
    return None if window is None else (window.top, window.bottom)


def row_span(rows: tuple[int, int] | None, height: int) -> tuple[int, int]:
    """``rows`` as ``(top, bottom)``, all ``height`` rows of the picture for ``None``."""
    return (0, height) if rows is None else rows


def free_gaussians(window: Window | None, count: int) -> np.ndarray:
    """``[count]`` bool: which Gaussians may change (all of them without a window)."""
    return np.ones(count, np.bool_) if window is None else window.free


@dataclass(frozen=True)
class GaussianPixels:
    """The pixels of a decoded picture that select each Gaussian (all ``refine_geometry`` needs).

    Attributes:
        start: ``[N + 1]`` int64: Gaussian ``g``'s entries are ``start[g]:start[g+1]`` of ``pixel_of``.
        pixel_of: ``[E]`` int32 pixel of each entry, ascending within a Gaussian.
    """

    start: np.ndarray
    pixel_of: np.ndarray


@dataclass(frozen=True)
class PixelSelection(GaussianPixels):
    """Which Gaussians each pixel of a decoded picture blends, and with which weights, both ways round.

    Attributes:
        weight_of: ``[E]`` float32 weight of each entry (of ``GaussianPixels``).
        ids: ``[P, K]`` int32 Gaussian ids per pixel (−1: empty slot), as ``render.blend_weights``; their
            normalized weights are the entries', kept once.
    """

    weight_of: np.ndarray
    ids: np.ndarray


def select_pixels(
    q: QuantizedGaussians, backend: Backend | str = Backend.AUTO, rows: tuple[int, int] | None = None
) -> PixelSelection:
    """The ``PixelSelection`` of ``q``'s decoded picture at its reference size (one forward render), of the
    pixel rows ``rows`` only when given (pixel ``p`` is then ``(y − top)·W + x``).

    It depends on the geometry only, so one selection serves ``refine_colours`` and then ``refine_geometry``.
    """
    weights = blend_weights(dequantize(q), q.height, q.width, backend, rows)
    ids = weights.ids.numpy()
    start, pixel_of, weight_of = entries_by_gaussian(ids, weights.weights.numpy(), q.count)
    return PixelSelection(start, pixel_of, weight_of, ids)


def refine_colours(
    q: QuantizedGaussians,
    image: Tensor,
    backend: Backend | str = Backend.AUTO,
    max_sweeps: int = MAX_SWEEPS,
    selection: PixelSelection | None = None,
    window: Window | None = None,
) -> QuantizedGaussians:
    """``q`` with its colour codes re-chosen to minimize the squared error of the decoded picture to ``image``.

    Args:
        q: quantized Gaussians fitted to ``image``, at its size.
        image: ``[H, W, 3]`` float target in [0, 1], ``H × W`` = ``q``'s reference size.
        backend: ``cpu`` or ``torch`` computes the blend weights (``render.blend_weights``).
        max_sweeps: most sweeps of coordinate descent.
        selection: ``select_pixels(q, backend)`` (of the window's rows) if the caller has it already.
        window: refine over these rows only, moving only its free Gaussians (``None``: the whole picture).

    Everything but the colour codes (grids, geometry, order) is returned unchanged.
    """
    target = stored_target(q, image, window_rows(window))
    if q.count == 0:
        return q
    s = select_pixels(q, backend, window_rows(window)) if selection is None else selection
    colour = q.color
    values = dequantize_attribute(colour).astype(np.float64)
    codes = colour.codes.astype(np.int64)
    steps = colour.step.astype(np.float64)
    top = (1 << colour.bits) - 1
    free = free_gaussians(window, q.count)
    _descend(s.ids, s.start, s.pixel_of, s.weight_of, target, values, codes, steps, top, max_sweeps, free)
    refined = QuantizedAttribute(colour.bits, colour.lo, colour.hi, codes.astype(colour.codes.dtype))
    return QuantizedGaussians(q.height, q.width, q.count, q.xy, q.scale, q.rotation, refined)


def stored_target(q: QuantizedGaussians, image: Tensor, rows: tuple[int, int] | None = None) -> np.ndarray:
    """``image`` (its pixel rows ``rows``, when given) as ``[pixels, 3]`` float64 (Y, C1, C2), the space the
    colour codes live in; checks its size."""
    if tuple(image.shape) != (q.height, q.width, 3):
        raise ValueError(f"image is {tuple(image.shape)}, expected ({q.height}, {q.width}, 3)")
    top, bottom = row_span(rows, q.height)
    pixels = image.detach().cpu().numpy()[top:bottom]
    target = np.empty(((bottom - top) * q.width, 3))
    for band in band_rows(bottom - top, q.width):  # float64 temporaries of one band at a time
        values = pixels[band].astype(np.float64).reshape(-1, 3)
        target[band.start * q.width : band.stop * q.width] = rgb_to_stored(values)
    return target


BAND_PIXELS = 1 << 20
"""Pixels per band of the per-pixel float64 work done a band of rows at a time."""


def band_rows(height: int, width: int) -> list[slice]:
    """Row ranges of about ``BAND_PIXELS`` pixels each (at least one row) covering an ``height × width`` image."""
    rows = max(1, BAND_PIXELS // width)
    return [slice(top, min(height, top + rows)) for top in range(0, height, rows)]


_ENTRY_CHUNKS = 8
"""Ranges of pixels that ``entries_by_gaussian`` inverts in parallel (any count gives the same entries)."""


@kernel(parallel=True)
def entries_by_gaussian(ids, weights, n):  # pragma: no cover - compiled
    """Invert the blend weights: Gaussian ``g`` is selected at pixels ``pixel_of[start[g]:start[g+1]]`` with
    weights ``weight_of[...]`` (8 bytes an entry, pixels in ascending order).

    Each range of pixels counts its entries per Gaussian, the counts give every range its own place in each
    Gaussian's entries (the ranges in pixel order), and the ranges fill their places at once."""
    pixels, chunks = ids.shape[0], _ENTRY_CHUNKS
    cursor = np.zeros((chunks, n), np.int64)
    for chunk in prange(chunks):
        for p in range(chunk * pixels // chunks, (chunk + 1) * pixels // chunks):
            for k in range(ids.shape[1]):
                g = ids[p, k]
                if g >= 0:
                    cursor[chunk, g] += 1
    start = np.zeros(n + 1, np.int64)
    for g in range(n):  # each range's first place: after the entries of the ranges before it
        place = start[g]
        for chunk in range(chunks):
            count = cursor[chunk, g]
            cursor[chunk, g] = place
            place += count
        start[g + 1] = place
    pixel_of = np.empty(start[n], np.int32)
    weight_of = np.empty(start[n], np.float32)
    for chunk in prange(chunks):
        for p in range(chunk * pixels // chunks, (chunk + 1) * pixels // chunks):
            for k in range(ids.shape[1]):
                g = ids[p, k]
                if g >= 0:
                    place = cursor[chunk, g]
                    pixel_of[place], weight_of[place] = p, weights[p, k]
                    cursor[chunk, g] = place + 1
    return start, pixel_of, weight_of


@kernel(parallel=True)
def _descend(ids, start, pixel_of, weight_of, target, values, codes, steps, top, max_sweeps, free):
    """Coordinate descent on ``codes`` [N, 3] (decoded ``values`` [N, 3]) in place, toward ``target`` [P, 3],
    moving only the Gaussians where ``free`` [N] is True.

    ``ids`` … ``weight_of`` are the fields of a ``PixelSelection``. The three stored channels are independent
    problems (a move in one leaves the others' residuals alone), so they run in parallel, each to the same codes
    it would reach beside the others. Luma, the longest, comes last: on two threads it then runs alone while the
    other thread takes both chromas.
    """
    residual = _residuals(ids, start, weight_of, target, values)
    for i in prange(3):
        c = 2 - i
        column = codes[:, c]
        _descend_channel(ids, start, pixel_of, weight_of, residual[c], column, steps[c], top, max_sweeps, free)


@kernel()
def _residuals(ids, start, weight_of, target, values):  # pragma: no cover - compiled
    """``target − picture`` [3, P] (a channel a row) of the colours ``values`` [N, 3]: one pass for the three
    channels, each pixel's terms subtracted in its selection order."""
    n = values.shape[0]
    residual = np.ascontiguousarray(target.T)
    cursor = start[:n].copy()  # pixels in ascending order meet each Gaussian's entries in their order
    for p in range(ids.shape[0]):
        for k in range(ids.shape[1]):
            g = ids[p, k]
            if g >= 0:
                w = weight_of[cursor[g]]
                residual[0, p] -= w * values[g, 0]
                residual[1, p] -= w * values[g, 1]
                residual[2, p] -= w * values[g, 2]
                cursor[g] += 1
    return residual


@kernel()
def _descend_channel(ids, start, pixel_of, weight_of, residual, codes, step, top, max_sweeps, free):
    """``_descend`` of one channel from its ``residual`` [P] (changed in place, as ``codes`` [N] is).

    While many codes move, a sweep visits every free Gaussian; once few do, only those sharing a pixel with a
    moved code since their last visit (``_mark_neighbours``: ``TOP_K`` reads an entry, dearer than a visit's
    one). A Gaussian nothing near moved since its visit would find the same code again, so both ways reach the
    same codes.
    """
    n = codes.shape[0]
    visit = free.copy()
    moved = np.zeros(n, np.bool_)
    tracking = False
    sweeps = 0
    while sweeps < max_sweeps and visit.any():
        sweeps += 1
        moved_entries = 0
        for g in range(n):
            if not visit[g]:
                continue
            if tracking:
                visit[g] = False
            energy, pull = 0.0, 0.0
            for e in range(start[g], start[g + 1]):
                w = weight_of[e]
                energy += w * w
                pull += w * residual[pixel_of[e]]
            if energy <= 0.0:
                continue
            best = codes[g] + int(np.floor(pull / (energy * step) + 0.5))
            delta = min(max(best, 0), top) - codes[g]
            if delta == 0:
                continue
            codes[g] += delta
            shift = delta * step
            for e in range(start[g], start[g + 1]):
                residual[pixel_of[e]] -= weight_of[e] * shift
            moved_entries += start[g + 1] - start[g]
            if tracking:
                _mark_neighbours(g, ids, start, pixel_of, free, visit)
            else:
                moved[g] = True
        if tracking:
            continue
        if moved_entries == 0:
            break
        if moved_entries * ids.shape[1] < start[n]:  # few moved: from now on, visit only where something did
            tracking = True
            visit[:] = False
            for g in range(n):
                if moved[g]:
                    _mark_neighbours(g, ids, start, pixel_of, free, visit)
        else:
            moved[:] = False


@kernel()
def _mark_neighbours(g, ids, start, pixel_of, free, visit):  # pragma: no cover - compiled
    """Mark for a visit every free Gaussian selected at one of ``g``'s pixels (``g`` itself included)."""
    for e in range(start[g], start[g + 1]):
        p = pixel_of[e]
        for k in range(ids.shape[1]):
            h = ids[p, k]
            if h >= 0 and free[h]:
                visit[h] = True
