"""An independent, brute-force NumPy statement of the render contract (formats/g2d.md §Rendering).

The projection follows the spec in float32 (as the contract requires); each pixel then looks at every
Gaussian whose tile box covers its tile and evaluates the weights in float64. No tiles, no chunks, no torch:
slow and obviously right, for small test scenes only.
"""

from __future__ import annotations

import numpy as np

TILE, TOP_K, EPS = 16, 10, 1e-4


def project_np(xy, scale, rotation, height, width):
    """float32 projection: pixel centres, conics (A, B, C), and half-open tile boxes (empty when culled)."""
    f = np.float32
    xy, scale, rotation = (np.asarray(a, dtype=f) for a in (xy, scale, rotation))
    px, py = xy[:, 0] * f(width), xy[:, 1] * f(height)
    c, s = np.cos(rotation), np.sin(rotation)
    v1, v2 = scale[:, 0] * scale[:, 0], scale[:, 1] * scale[:, 1]
    sxx = v1 * c * c + v2 * s * s
    syy = v1 * s * s + v2 * c * c
    sxy = (v2 - v1) * s * c
    det = sxx * syy - sxy * sxy
    alive = det != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        conic = np.stack([syy / det, -sxy / det, sxx / det], axis=1)
    b = f(0.5) * (sxx + syy)
    radius = np.ceil(f(3) * np.sqrt(b + np.sqrt(np.maximum(f(0.1), b * b - det))))
    tiles_x, tiles_y = -(-width // TILE), -(-height // TILE)
    r = radius / f(TILE)
    tx0 = np.clip(np.trunc(px / f(TILE) - r), 0, tiles_x)
    tx1 = np.clip(np.trunc(px / f(TILE) + r + f(1)), 0, tiles_x)
    ty0 = np.clip(np.trunc(py / f(TILE) - r), 0, tiles_y)
    ty1 = np.clip(np.trunc(py / f(TILE) + r + f(1)), 0, tiles_y)
    box = np.stack([tx0, tx1, ty0, ty1], axis=1)
    box[~alive | (box[:, 1] <= box[:, 0]) | (box[:, 3] <= box[:, 2])] = 0  # culled or off-image
    return np.stack([px, py], axis=1), conic, box


def render_np(xy, scale, rotation, color, height, width):
    """Render the contract brute force: ``[H, W, 3]`` float64."""
    centre, conic, box = project_np(xy, scale, rotation, height, width)
    centre, conic, color = centre.astype(np.float64), conic.astype(np.float64), np.asarray(color, np.float64)
    out = np.zeros((height, width, 3))
    for i in range(height):
        for j in range(width):
            tx, ty = j // TILE, i // TILE
            cand = np.nonzero((box[:, 0] <= tx) & (tx < box[:, 1]) & (box[:, 2] <= ty) & (ty < box[:, 3]))[0]
            if len(cand) == 0:
                continue
            dx, dy = centre[cand, 0] - j, centre[cand, 1] - i
            a, b, c = conic[cand, 0], conic[cand, 1], conic[cand, 2]
            sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
            ok = np.isfinite(sigma) & (sigma >= 0)
            cand, w = cand[ok], np.exp(-sigma[ok])
            if len(cand) == 0:
                continue
            keep = np.lexsort((cand, -w))[:TOP_K]  # largest weight first, lower index wins ties
            w, cand = w[keep], cand[keep]
            out[i, j] = (w[:, None] * color[cand]).sum(0) / (w.sum() + EPS)
    return out
