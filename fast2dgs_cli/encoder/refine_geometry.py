"""Geometry refinement: move position, scale and rotation codes one grid step where the decoded picture improves.

Nearest rounding treats every value alone; the picture does not. After the colours have been refined
(``refine.refine_colours``), each Gaussian in turn tries each of its five geometry codes (x, y, the two log
scales, the rotation) one step in the downhill direction of the error's exact derivative (both directions
where it is 0; uphill steps gained nothing measurable), and keeps the single move that lowers the squared error
of the decoded picture most, if any.
The error of a move is computed exactly over the pixels that select the Gaussian, with every other Gaussian
and every pixel's selection held fixed: the pixel's value is ``(Σ u·c) / (Σ u + EPS)`` over its selected raw
weights ``u = exp(−σ)``, and only this Gaussian's ``u`` changes. The sweep repeats (at most
``MAX_GEOMETRY_SWEEPS``); after each sweep the picture is rendered for real, and the sweeps stop at the first
one that does not lower its error, whose moves are dropped (a move can change which Gaussians a pixel selects,
which the estimate ignores, so the estimate drifts from the picture). Any code may move, y too: the storage
order is chosen afterwards (``order.store_compactly``). What it gains and costs: docs/encoder.md.

Threads: a move only touches the pixels that select the Gaussian, so Gaussians whose pixels lie in different
rows can move at the same time. The image is cut into stripes of ``S`` rows (``S`` ≥ the footprint height of
3 Gaussians in 4, at least ``MIN_STRIPE_ROWS``); a Gaussian whose pixels lie within rows
``[s·S, (s+2)·S)`` belongs to stripe ``s``. All even stripes run in parallel (their row ranges are
disjoint), then all odd ones; Gaussians too tall for a stripe pair go to stripes twice as tall, and so
on (the last level is one stripe: one Gaussian after another). Within a stripe
the Gaussians go in index order, so the result does not depend on the thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange
from torch import Tensor

from ..choices import Backend
from ..gaussians import dequantize
from ..jit import kernel
from ..render import EPS, render
from ..representation import QuantizedAttribute, QuantizedGaussians, dequantize_attribute
from .refine import (
    GaussianPixels,
    Window,
    band_rows,
    free_gaussians,
    row_span,
    select_pixels,
    stored_target,
    window_rows,
)

__all__ = ["MAX_GEOMETRY_SWEEPS", "MIN_STRIPE_ROWS", "decoded_error", "refine_geometry"]

MAX_GEOMETRY_SWEEPS = 2
"""Sweeps over the Gaussians (each costs about as much as the first; see docs/encoder.md)."""

MIN_STRIPE_ROWS = 16
"""Smallest stripe height of the parallel sweep (see the module docstring)."""


def refine_geometry(
    q: QuantizedGaussians,
    image: Tensor,
    backend: Backend | str = Backend.AUTO,
    max_sweeps: int = MAX_GEOMETRY_SWEEPS,
    selection: GaussianPixels | None = None,
    window: Window | None = None,
) -> QuantizedGaussians:
    """``q`` with position, scale and rotation codes moved by single steps where the decoded picture improves.

    Args:
        q: quantized Gaussians fitted to ``image`` (stored sorted by y, as ``quantize`` leaves them).
        image: ``[H, W, 3]`` float target in [0, 1] at ``q``'s reference size.
        backend: ``cpu`` or ``torch`` computes the blend weights and the final check.
        max_sweeps: most sweeps.
        selection: ``refine.select_pixels(q, backend)`` (of the window's rows), or just its
            ``GaussianPixels``, if the caller has it already (computed here otherwise).
        window: refine over these rows only, moving only its free Gaussians (``None``: the whole picture).

    Returns ``q`` itself when no sweep helps the rendered picture. Grids, colours and order are unchanged.
    """
    rows = window_rows(window)
    target = stored_target(q, image, rows)
    if q.count == 0:
        return q
    height, width = q.height, q.width
    top = row_span(rows, height)[0]
    geometry = (q.xy, q.scale, q.rotation)
    codes = np.concatenate([a.codes for a in geometry], axis=1).astype(np.int64)  # x, y, ln s1, ln s2, θ
    lo = np.concatenate([a.lo for a in geometry]).astype(np.float64)
    step = np.concatenate([a.step for a in geometry]).astype(np.float64)
    limit = np.array([(1 << a.bits) - 1 for a in geometry for _ in range(a.channels)], np.int64)
    colours = dequantize_attribute(q.color).astype(np.float64)
    chosen = select_pixels(q, backend, rows) if selection is None else selection
    start, pixel_of = chosen.start, chosen.pixel_of
    values = lo + codes * step
    pixels = len(target)
    raw, total, blend = _picture_sums(values, colours, start, pixel_of, width, height, top, pixels, float(EPS))
    phases = _stripe_phases(start, pixel_of, width, free_gaussians(window, q.count))
    widest = max(1, int(np.max(np.diff(start))))
    best, best_error = q, decoded_error(q, image, backend, rows)
    for _ in range(max_sweeps):
        moved = False
        for order, first in phases:
            moved |= _sweep(
                order, first, codes, values, lo, step, limit, start, pixel_of, raw, total, blend, target,
                colours, width, height, top, widest, numba.get_num_threads(),
            )  # fmt: skip
        if not moved:
            break
        refined = _with_geometry(q, codes)
        error = decoded_error(refined, image, backend, rows)
        if error >= best_error:  # the estimate has drifted from the picture: later sweeps build on the drift
            break
        best, best_error = refined, error
    return best


def _with_geometry(q: QuantizedGaussians, codes: np.ndarray) -> QuantizedGaussians:
    """``q`` with the geometry codes ``codes`` (columns x, y, ln s1, ln s2, θ)."""
    geometry = (q.xy, q.scale, q.rotation)
    moved = [
        QuantizedAttribute(a.bits, a.lo, a.hi, codes[:, first : first + a.channels].astype(a.codes.dtype))
        for a, first in zip(geometry, (0, 2, 4))
    ]
    return QuantizedGaussians(q.height, q.width, q.count, *moved, q.color)


def decoded_error(
    q: QuantizedGaussians, image: Tensor, backend: Backend | str, rows: tuple[int, int] | None = None
) -> float:
    """Squared error of ``q``'s decoded picture (float, before 8-bit rounding) against ``image``, over the
    pixel rows ``rows`` when given.

    Summed by NumPy (one thread, a fixed pairwise order within each band of ``band_rows``): torch splits a full
    sum into one part per thread, and this comparison decides which codes are stored.
    """
    import torch

    top, bottom = row_span(rows, q.height)
    with torch.no_grad():
        picture = render(dequantize(q), q.height, q.width, backend, rows).cpu().numpy()
    target = image.detach().cpu().numpy()[top:bottom]
    total = 0.0
    for band in band_rows(bottom - top, q.width):  # float64 temporaries of one band at a time
        difference = picture[band].astype(np.float64) - target[band].astype(np.float64)
        total += float(np.sum(difference * difference))
    return total


@kernel()
def _screen(values, width, height, out):  # pragma: no cover - compiled
    """Centre in pixels and conic ``(A, B, C)`` of decoded ``values`` (x, y, ln s1, ln s2, θ) into ``out``
    [5] (``A = −1`` when the covariance is singular); the formulas of ``render.project``, in float64."""
    var1, var2 = math.exp(2.0 * values[2]), math.exp(2.0 * values[3])
    cos, sin = math.cos(values[4]), math.sin(values[4])
    sxx, syy = var1 * cos * cos + var2 * sin * sin, var1 * sin * sin + var2 * cos * cos
    sxy = (var2 - var1) * sin * cos
    det = sxx * syy - sxy * sxy
    out[0], out[1] = values[0] * width, values[1] * height
    if det > 0.0:
        out[2], out[3], out[4] = syy / det, -sxy / det, sxx / det
    else:
        out[2] = -1.0


@kernel()
def _raw_weight(screen, x, y):  # pragma: no cover - compiled
    """``exp(−σ)`` of a screened Gaussian at pixel ``(x, y)`` (0 where σ < 0 or the conic is singular)."""
    if screen[2] < 0.0:
        return 0.0
    dx, dy = screen[0] - x, screen[1] - y
    sigma = 0.5 * (screen[2] * dx * dx + screen[4] * dy * dy) + screen[3] * dx * dy
    return math.exp(-sigma) if sigma >= 0.0 else 0.0


def _stripe_phases(
    start: np.ndarray, pixel_of: np.ndarray, width: int, free: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The parallel schedule of the ``free`` Gaussians: one ``(order, first)`` per phase, group ``i`` of a phase
    being the Gaussians ``order[first[i]:first[i+1]]`` (index order).

    Level ``l`` has stripes of ``S·2^l`` rows; a Gaussian belongs to the first level where its pixels lie in
    one stripe pair ``[s·S_l, (s+2)·S_l)``, and each level runs its even stripes, then its odd ones.
    """
    n = len(start) - 1
    has = (np.diff(start) > 0) & free
    top_row, bottom_row = np.zeros(n, np.int64), np.zeros(n, np.int64)
    top_row[has] = pixel_of[start[:-1][has]] // width
    bottom_row[has] = pixel_of[start[1:][has] - 1] // width
    rows = bottom_row - top_row + 1
    stripe_rows = max(MIN_STRIPE_ROWS, int(np.percentile(rows[has], 75))) if has.any() else MIN_STRIPE_ROWS
    phase = np.full(n, -1, np.int64)  # −1: selected nowhere, never moves
    stripe = np.full(n, -1, np.int64)
    level_rows = stripe_rows
    for level in range(64):
        todo = has & (phase < 0)
        if not todo.any():
            break
        fits = todo & (bottom_row < (top_row // level_rows + 2) * level_rows)
        stripe[fits] = top_row[fits] // level_rows
        phase[fits] = 2 * level + stripe[fits] % 2
        level_rows *= 2
    schedule = []
    for p in range(phase.max() + 1):
        members = np.flatnonzero(phase == p)
        order = members[np.argsort(stripe[members], kind="stable")]
        cuts = np.flatnonzero(np.diff(stripe[order])) + 1
        schedule.append((order.astype(np.int64), np.concatenate([[0], cuts, [len(order)]]).astype(np.int64)))
    return schedule


@kernel()
def _picture_sums(values, colours, start, pixel_of, width, height, top, pixels, eps):  # pragma: no cover
    """``raw`` [entries] each entry's ``exp(−σ)``, ``total`` [P] ``Σ u + EPS`` and ``blend`` [P, 3] ``Σ u·c``
    over the ``pixels`` pixels from row ``top`` (pixel ``p`` at ``(p mod W, top + p div W)``): the weights in
    parallel, then summed in Gaussian order."""
    n = values.shape[0]
    raw = _raw_weights(values, start, pixel_of, width, height, top)
    total = np.full(pixels, eps)
    blend = np.zeros((pixels, 3))
    for g in range(n):
        for e in range(start[g], start[g + 1]):
            p = pixel_of[e]
            total[p] += raw[e]
            for c in range(3):
                blend[p, c] += raw[e] * colours[g, c]
    return raw, total, blend


@kernel(parallel=True)
def _raw_weights(values, start, pixel_of, width, height, top):  # pragma: no cover - compiled
    """Each entry's ``exp(−σ)`` [entries]: Gaussian ``g``'s at its pixels ``pixel_of[start[g]:start[g+1]]``."""
    n = values.shape[0]
    raw = np.empty(start[n])
    for g in prange(n):
        screen = np.empty(5)
        _screen(values[g], width, height, screen)
        for e in range(start[g], start[g + 1]):
            p = pixel_of[e]
            raw[e] = _raw_weight(screen, p % width, top + p // width)
    return raw


@kernel(parallel=True)
def _sweep(
    order, first, codes, values, lo, step, limit, start, pixel_of, raw, total, blend, target, colours, width, height,
    top, widest, threads,
):  # pragma: no cover - compiled
    """Visit the Gaussians of each group ``order[first[i]:first[i+1]]`` (groups in parallel over ``threads``
    workers; the result does not depend on their number); True if any moved."""
    groups = first.shape[0] - 1
    moved = np.zeros(max(groups, 1), np.bool_)
    workers = max(1, min(groups, threads))
    for w in prange(workers):  # stripes dealt round-robin: neighbouring stripes cost alike
        local = np.empty((widest, 9))
        slope, trial, screen = np.empty(5), np.empty(5), np.empty(5)
        for i in range(w, groups, workers):
            for j in range(first[i], first[i + 1]):
                g = order[j]
                if _visit(
                    g, codes, values, lo, step, limit, start, pixel_of, raw, total, blend, target, colours,
                    width, height, top, local, slope, trial, screen,
                ):  # fmt: skip
                    moved[i] = True
    return moved.any()


@kernel(inline="always")
def _visit(
    g, codes, values, lo, step, limit, start, pixel_of, raw, total, blend, target, colours, width, height, top,
    local, slope, trial, screen,
):  # pragma: no cover - compiled
    """Try Gaussian ``g``'s downhill single-step moves, apply the best one if it lowers the error; True if moved."""
    first, count = start[g], start[g + 1] - start[g]
    _screen(values[g], width, height, screen)
    error = _slopes(
        g, values, first, count, pixel_of, raw, total, blend, target, colours, width, height, top, screen, local,
        slope,
    )  # fmt: skip
    best_gain, best_channel, best_step = 1e-12, -1, 0
    for channel in range(5):
        for direction in (-1, 1):
            if direction * slope[channel] > 0.0:
                continue  # uphill to first order (both directions are tried where the slope is 0)
            code = codes[g, channel] + direction
            if code < 0 or code > limit[channel]:
                continue
            trial[:] = values[g]
            trial[channel] = lo[channel] + code * step[channel]
            _screen(trial, width, height, screen)
            after_error = 0.0
            for i in range(count):
                e = first + i
                change = _raw_weight(screen, local[i, 0], local[i, 1]) - raw[e]
                inverse = 1.0 / (local[i, 2] + change)
                for c in range(3):
                    after = local[i, 6 + c] - (local[i, 3 + c] + change * colours[g, c]) * inverse
                    after_error += after * after
            gain = error - after_error
            if gain > best_gain:
                best_gain, best_channel, best_step = gain, channel, direction
    if best_channel < 0:
        return False
    codes[g, best_channel] += best_step
    values[g, best_channel] = lo[best_channel] + codes[g, best_channel] * step[best_channel]
    _screen(values[g], width, height, screen)
    for i in range(count):
        e, p = first + i, pixel_of[first + i]
        change = _raw_weight(screen, local[i, 0], local[i, 1]) - raw[e]
        raw[e] += change
        total[p] += change
        for c in range(3):
            blend[p, c] += change * colours[g, c]
    return True


@kernel(inline="always")
def _slopes(
    g, values, first, count, pixel_of, raw, total, blend, target, colours, width, height, top, screen, local, slope
):  # pragma: no cover - compiled
    """Gather ``g``'s pixels into ``local`` rows (x, y, Σu + EPS, Σu·c, target), put in ``slope`` [5] the
    derivative of their squared error along x, y, ln s1, ln s2, θ, and return that error.

    With ``out = Σu·c / (Σu + EPS)`` and ``u = exp(−σ)``, a pixel's error moves as
    ``dE = 2·u / (Σu + EPS) · Σ_c (target − out)_c·(c_g − out)_c · dσ``; in the frame of the Gaussian's axes
    ``(e1, e2)``, ``σ = ½(e1²/v1 + e2²/v2)`` (``v = s²``), so ``dσ/d ln s1 = −e1²/v1``, ``dσ/d ln s2 = −e2²/v2``,
    ``dσ/dθ = e1·e2·(1/v2 − 1/v1)``, and along the normalized centre ``W·(A·dx + B·dy)``, ``H·(C·dy + B·dx)``.
    """
    inv1, inv2 = math.exp(-2.0 * values[g, 2]), math.exp(-2.0 * values[g, 3])
    cos, sin = math.cos(values[g, 4]), math.sin(values[g, 4])
    slope[:] = 0.0
    error = 0.0
    for i in range(count):
        e = first + i
        p = pixel_of[e]
        x, y = float(p % width), float(top + p // width)
        local[i, 0], local[i, 1], local[i, 2] = x, y, total[p]
        share = 0.0
        for c in range(3):
            out = blend[p, c] / total[p]
            residual = target[p, c] - out
            local[i, 3 + c], local[i, 6 + c] = blend[p, c], target[p, c]
            error += residual * residual
            share += residual * (colours[g, c] - out)
        if screen[2] < 0.0 or raw[e] == 0.0:
            continue
        factor = 2.0 * raw[e] / total[p] * share
        dx, dy = screen[0] - x, screen[1] - y
        e1, e2 = cos * dx - sin * dy, sin * dx + cos * dy
        slope[0] += factor * width * (screen[2] * dx + screen[3] * dy)
        slope[1] += factor * height * (screen[4] * dy + screen[3] * dx)
        slope[2] -= factor * e1 * e1 * inv1
        slope[3] -= factor * e2 * e2 * inv2
        slope[4] += factor * e1 * e2 * (inv2 - inv1)
    return error
