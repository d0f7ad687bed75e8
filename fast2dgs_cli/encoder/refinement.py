"""The refinement stage: the quantized codes re-chosen for the decoded picture, in bands on large pictures.

```
refine_codes:  [colour depth] ─► colours ─► [drop what does not pay ─► colours] ─► (geometry ─► colours) × rounds
```
The effort (``effort.Effort``) sets the rounds and sweeps, and whether the colour depth and the Gaussians kept
are chosen for rate and distortion (``precision``, ``existence``).

A picture of up to ``BAND_PIXELS`` pixels is refined as one problem. The refinement's per-pixel state (the
pixel selection, the geometry's sums) grows with the picture, so a larger one is cut into bands of whole tile
rows of about ``BAND_PIXELS`` pixels each, refined from the top down. A band's Gaussians (those whose centre
lies in it) are refined against the rows they reach, its *window*, with every other Gaussian that reaches
those rows held as it is (the bands above as already refined). A window renders exactly as the same rows of
the whole picture, so banding changes only the order of the moves and what each drop is weighed against.
A rate-aware effort chooses the colour depth once, on the middle band.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import Tensor

from ..choices import Backend
from ..effort import Effort, effort_level
from ..gaussians import Gaussians, dequantize
from ..render import TILE, project
from ..representation import BitDepths, QuantizedAttribute, QuantizedGaussians
from .existence import kept_gaussians
from .precision import best_colour_depth
from .quantize import quantize
from .refine import GaussianPixels, Window, refine_colours, select_pixels, window_rows
from .refine_geometry import refine_geometry

__all__ = ["BAND_PIXELS", "band_cores", "refine_codes"]

BAND_PIXELS = 1 << 21
"""Pictures of up to this many pixels are refined whole; larger ones in bands of about this many pixels."""


def refine_codes(
    q: QuantizedGaussians, pixels: Tensor, backend: Backend, effort: int, fitted: Gaussians | None
) -> QuantizedGaussians:
    """``q`` (``quantize`` of ``fitted``) refined for its decoded picture of ``pixels`` as ``effort`` says.

    A rate-aware effort chooses the colour depth only when given ``fitted``, the Gaussians ``q`` quantizes
    (``None``: the caller's bit depths are kept).
    """
    level = effort_level(effort)
    cores = band_cores(q.height, q.width)
    if len(cores) == 1:
        return _refine_window(q, pixels, backend, level, fitted, None)[0]
    if level.rate_aware and fitted is not None:
        q = _at_chosen_colour_depth(q, pixels, backend, fitted, cores[len(cores) // 2])
    band = _band_of(_centre_rows(q), cores)
    keep = np.ones(q.count, np.bool_)
    for index, core in enumerate(cores):
        members, rows = _window_members(_tile_boxes(q), band == index, keep, core, q.height)
        window = Window(rows[0], rows[1], band[members] == index)
        refined, kept = _refine_window(q.take(members), pixels, backend, level, None, window)
        survivors, free = members[kept], window.free[kept]
        q = _with_codes(q, survivors[free], refined.take(free))
        keep[members[~kept]] = False  # only free Gaussians are dropped
    return q if keep.all() else q.take(keep)


def band_cores(height: int, width: int) -> list[tuple[int, int]]:
    """The bands' pixel rows ``(top, bottom)``: whole tile rows of about ``BAND_PIXELS`` pixels each, or the
    whole picture as one band when it has at most ``BAND_PIXELS`` pixels."""
    if height * width <= BAND_PIXELS:
        return [(0, height)]
    count = math.ceil(height * width / BAND_PIXELS)
    rows = math.ceil(height / count / TILE) * TILE
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def _refine_window(
    q: QuantizedGaussians,
    pixels: Tensor,
    backend: Backend,
    level: Effort,
    fitted: Gaussians | None,
    window: Window | None,
) -> tuple[QuantizedGaussians, np.ndarray]:
    """The refinement of ``q`` over ``window`` (``None``: the whole picture): the refined Gaussians, and which
    of ``q``'s stayed (``[N]`` bool; the refined ones are those, in their order)."""
    rows = window_rows(window)
    kept = np.ones(q.count, np.bool_)
    selection = select_pixels(q, backend, rows)  # the colours do not move the geometry: shared
    if level.rate_aware and fitted is not None:
        bits = BitDepths(q.xy.bits, q.scale.bits, q.rotation.bits, q.color.bits)
        q = best_colour_depth(fitted, pixels, bits, selection, backend)
    else:
        q = refine_colours(q, pixels, backend, selection=selection, window=window)
    if level.rate_aware:
        kept = kept_gaussians(q, pixels, selection, window)
        if not kept.all():
            del selection  # the old one goes before the new one is built: one selection in memory at a time
            q = q.take(kept)
            window = None if window is None else dataclasses.replace(window, free=window.free[kept])
            selection = select_pixels(q, backend, rows)
            q = refine_colours(q, pixels, backend, selection=selection, window=window)
    for _ in range(level.rounds if level.geometry_sweeps else 0):
        by_gaussian = GaussianPixels(selection.start, selection.pixel_of)
        del selection  # the geometry needs no per-pixel ids or weights: they make way for its own state
        moved = refine_geometry(
            q, pixels, backend, max_sweeps=level.geometry_sweeps, selection=by_gaussian, window=window
        )
        del by_gaussian
        selection = select_pixels(moved, backend, rows)  # where nothing moved, the same selection again
        still = moved is q  # no move helped the rendered picture: another round would find none either
        q = refine_colours(moved, pixels, backend, selection=selection, window=window)
        if still:
            break
    return q, kept


def _at_chosen_colour_depth(
    q: QuantizedGaussians, pixels: Tensor, backend: Backend, fitted: Gaussians, core: tuple[int, int]
) -> QuantizedGaussians:
    """``fitted`` quantized as ``q`` is, at the colour depth ``best_colour_depth`` chooses on the band ``core``
    (its Gaussians quantized on their own, with those reaching its window)."""
    height, width = q.height, q.width
    centres = fitted.xy[:, 1].detach().double().numpy() * height
    in_core = (centres >= core[0]) & (centres < core[1])
    boxes = project(fitted.to(device="cpu"), height, width).tile_box.numpy()
    members, rows = _window_members(boxes, in_core, np.ones(len(fitted), np.bool_), core, height)
    part = fitted.select(torch.from_numpy(members))
    bits = BitDepths(q.xy.bits, q.scale.bits, q.rotation.bits, q.color.bits)
    quantized = quantize(part, height, width, bits)  # its own order and grids: the free ones found again
    centre = _centre_rows(quantized)
    window = Window(rows[0], rows[1], (centre >= core[0]) & (centre < core[1]))
    selection = select_pixels(quantized, backend, rows)
    depth = best_colour_depth(part, pixels, bits, selection, backend, window=window).color.bits
    return q if depth == q.color.bits else quantize(fitted, height, width, dataclasses.replace(bits, color=depth))


def _centre_rows(q: QuantizedGaussians) -> np.ndarray:
    """``[N]`` the decoded centres' pixel rows (float)."""
    return dequantize(q).xy[:, 1].double().numpy() * q.height


def _band_of(centre_rows: np.ndarray, cores: list[tuple[int, int]]) -> np.ndarray:
    """``[N]`` the band of each centre row (those above or below the picture: the first or last band)."""
    tops = np.array([top for top, _ in cores], np.float64)
    return np.clip(np.searchsorted(tops, centre_rows, side="right") - 1, 0, len(cores) - 1)


def _tile_boxes(q: QuantizedGaussians) -> np.ndarray:
    """``[N, 4]`` tile boxes ``(x0, x1, y0, y1)`` (half open) of ``q``'s decoded Gaussians, as the renderer
    bins them."""
    return project(dequantize(q), q.height, q.width).tile_box.numpy()


def _window_members(
    boxes: np.ndarray, free: np.ndarray, keep: np.ndarray, core: tuple[int, int], height: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """The window of the ``free`` Gaussians on a picture ``height`` rows high: the indices (ascending) of the
    kept Gaussians that are free or reach its rows, and its rows ``(top, bottom)``, the tile rows the free ones
    reach (the ``core`` rows where none do)."""
    drawn = (boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2])
    reach = keep & free & drawn
    if reach.any():
        first, last = int(boxes[reach, 2].min()), int(boxes[reach, 3].max())
    else:
        first, last = core[0] // TILE, -(-core[1] // TILE)
    meets = drawn & (boxes[:, 2] < last) & (boxes[:, 3] > first)
    return np.flatnonzero(keep & (free | meets)), (first * TILE, min(last * TILE, height))


def _with_codes(q: QuantizedGaussians, indices: np.ndarray, part: QuantizedGaussians) -> QuantizedGaussians:
    """``q`` with the codes of its Gaussians ``indices`` replaced by ``part``'s (on the same grids)."""
    attributes = {}
    for name, attribute in q.attributes().items():
        codes = attribute.codes.copy()
        codes[indices] = getattr(part, name).codes
        attributes[name] = QuantizedAttribute(attribute.bits, attribute.lo, attribute.hi, codes)
    return QuantizedGaussians(q.height, q.width, q.count, **attributes)
