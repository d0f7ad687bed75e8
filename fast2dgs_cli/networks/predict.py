"""Prior initialization: both networks, one sampling step, ``n`` Gaussians ready for fine-tuning.

```
image [H,W,3] ─► [1,3,H,W], log ρ (ρ = n/(H·W))
   ├─► PriorNet ─► logits ─softmax─► sample_positions(n) ─► relax_positions ─► rows, cols ─┐
   └─► AttributeNet ─► maps [9,H,W] at rows, cols ◄────────────────────────────────────────┴─► gaussians_from_picked
```

The relaxation evens out the systematic sampler's spacing; the multinomial ablation keeps the paper's
sampling untouched. The attribute network runs after the sampling, so only the chosen pixels' attributes are
kept, not the nine full-size maps.

Above ``WHOLE_PIXELS`` each network runs on overlapping windows (``windows``): square tiles of ``NET_TILE``
pixels with ``NET_HALO`` pixels of context on every side, at least the networks' receptive field, on the
whole image's stride-16 grid, so a tile's interior sees what it sees in the whole image and the memory of a
network's activations stays that of one window. Two windows run at a time, each on one thread. Where a
window's activations are larger than glibc keeps for reuse by itself, freed memory is kept while the networks
run (``allocator.reusing_freed_memory``), so that each layer does not fault in fresh pages.

The networks run on one torch thread, whatever ``torch.set_num_threads`` (or ``OMP_NUM_THREADS``, or numba's
thread count, which shares the OpenMP runtime) says: torch picks a different 1×1 convolution (im2col and
BLAS instead of oneDNN) when it has a single thread, and neither library promises the same rounding for
every thread count. One thread computes the same maps everywhere, so the same input and seed give the same
file on any number of cores (docs/encoder.md, "Determinism across thread counts").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

from ..allocator import ADAPTIVE_MMAP_MOST, reusing_freed_memory
from ..gaussians import Gaussians
from .attributes import MAP_CHANNELS, gaussians_from_picked
from .registry import DEFAULT_MODEL, PriorModels, load_models
from .relaxation import RELAX_ITERATIONS, relax_positions
from .sampling import sample_positions

__all__ = [
    "NET_HALO", "NET_TILE", "WHOLE_PIXELS", "Window", "attributes_at", "default_models", "predict_maps",
    "predict_probabilities", "prior_init", "windows",
]  # fmt: skip


WHOLE_PIXELS = 1 << 22
"""Images of up to this many pixels run each network whole (one call, as in training)."""
NET_TILE = 1024
"""Side of a window's interior in pixels (a multiple of the networks' 16)."""
NET_HALO = 96
"""Context around a window's interior in pixels (a multiple of 16): the networks' receptive field reaches
about 84 pixels (four stride-2 levels, a 3×3 convolution at 1/16 and the bilinear upsampling after it)."""
_WORKERS = 2


@lru_cache(maxsize=1)
def default_models() -> PriorModels:
    """The shipped default model, loaded once per process (``ModelUnavailable`` if not installed)."""
    return load_models(DEFAULT_MODEL)


def predict_maps(image: Tensor, n: int, models: PriorModels) -> tuple[Tensor, Tensor]:
    """Run both networks on ``image`` (``[H,W,3]``) at density ``n/(H·W)``: ``(probs [H,W], maps [9,H,W])``."""
    height, width = image.shape[:2]
    maps = torch.empty(MAP_CHANNELS, height, width)

    def keep(window: Window, out: Tensor) -> None:
        maps[:, window.rows, window.cols] = out

    _run_windows(models.attributes, image, n, keep)
    return predict_probabilities(image, n, models), maps


def predict_probabilities(image: Tensor, n: int, models: PriorModels) -> Tensor:
    """The prior network's position distribution on ``image`` at density ``n/(H·W)``: ``[H, W]`` float64."""
    height, width = image.shape[:2]
    logits = torch.empty(height, width)

    def keep(window: Window, out: Tensor) -> None:
        logits[window.rows, window.cols] = out

    _run_windows(models.prior, image, n, keep)
    with _one_thread():  # a parallel reduction would round by thread count
        return torch.softmax(logits.double().reshape(-1), dim=0).reshape(height, width)


def attributes_at(image: Tensor, n: int, models: PriorModels, rows: Tensor, cols: Tensor) -> Tensor:
    """The attribute network's maps at pixels ``(rows, cols)`` of ``image`` at density ``n/(H·W)``: ``[N, 9]``."""
    picked = torch.empty(MAP_CHANNELS, len(rows))  # channel-major, as the maps' gather: the same roundings after

    def keep(window: Window, out: Tensor) -> None:
        inside = (rows >= window.rows.start) & (rows < window.rows.stop)
        inside &= (cols >= window.cols.start) & (cols < window.cols.stop)
        where = torch.nonzero(inside).reshape(-1)
        picked[:, where] = out[:, rows[where] - window.rows.start, cols[where] - window.cols.start]

    _run_windows(models.attributes, image, n, keep)
    return picked.T


class Window(NamedTuple):
    """A network call's input crop ``(top, bottom, left, right)`` and the interior it answers for."""

    crop: tuple[int, int, int, int]
    rows: slice
    cols: slice


def windows(height: int, width: int) -> list[Window]:
    """The windows covering an ``height × width`` image: one whole-image window up to ``WHOLE_PIXELS``."""
    if height * width <= WHOLE_PIXELS:
        return [Window((0, height, 0, width), slice(0, height), slice(0, width))]
    found = []
    for top in range(0, height, NET_TILE):
        for left in range(0, width, NET_TILE):
            bottom, right = min(height, top + NET_TILE), min(width, left + NET_TILE)
            crop = (max(0, top - NET_HALO), min(height, bottom + NET_HALO))
            crop += (max(0, left - NET_HALO), min(width, right + NET_HALO))
            found.append(Window(crop, slice(top, bottom), slice(left, right)))
    return found


def _run_windows(net: torch.nn.Module, image: Tensor, n: int, keep: Callable[[Window, Tensor], None]) -> None:
    """Run ``net`` on every window of ``image`` (``[H,W,3]``) and hand ``keep`` each window's interior output
    (``[C, rows, cols]``, or ``[rows, cols]`` for one channel), from the calling thread, in window order."""
    height, width = image.shape[:2]
    log_density = torch.tensor([math.log(n / (height * width))])
    batch = image.permute(2, 0, 1)[None]

    def run(window: Window) -> Tensor:
        top, bottom, left, right = window.crop
        with torch.inference_mode():
            out = net(batch[..., top:bottom, left:right].float(), log_density)[0]
            inner_rows = slice(window.rows.start - top, window.rows.stop - top)
            inner_cols = slice(window.cols.start - left, window.cols.stop - left)
            return out[..., inner_rows, inner_cols].clone()

    todo = windows(height, width)
    with _one_thread(), _keeping_freed_memory(net, todo):
        if len(todo) == 1:
            keep(todo[0], run(todo[0]))
            return
        with ThreadPoolExecutor(_WORKERS) as pool:  # one thread each: the same sums as one window at a time
            for window, out in zip(todo, pool.map(run, todo)):
                keep(window, out)


def _keeping_freed_memory(net: torch.nn.Module, todo: list[Window]) -> AbstractContextManager:
    """``reusing_freed_memory()`` where one full-resolution activation of ``net`` on a window (float32, its first
    level's channels) is larger than the blocks glibc keeps for reuse by itself (``ADAPTIVE_MMAP_MOST``): each
    layer would otherwise get fresh pages from the kernel and fault every one of them in."""
    pixels = max((bottom - top) * (right - left) for top, bottom, left, right in (window.crop for window in todo))
    activation = pixels * 4 * net.config.widths[0]
    return reusing_freed_memory() if activation > ADAPTIVE_MMAP_MOST else nullcontext()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the enclosed torch ops on one thread (the calling thread's setting is restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def prior_init(
    image: Tensor,
    n: int,
    seed: int = 0,
    models: PriorModels | None = None,
    sampling: str = "systematic",
    relax: int = RELAX_ITERATIONS,
) -> Gaussians:
    """Place ``n`` Gaussians on ``image`` (``[H, W, 3]`` float in [0, 1]) with the Deep Gaussian Prior.

    Args:
        image: the target image.
        n: number of Gaussians, 1 ≤ n ≤ H·W.
        seed: seed of the position sampling.
        models: the networks (default: the shipped default model).
        sampling: ``systematic`` (n distinct pixels) or ``multinomial`` (with replacement, as the paper).
        relax: Lloyd iterations applied to systematic samples (``relaxation``; 0: the sampler's pixels).
    """
    height, width = image.shape[:2]
    if not 1 <= n <= height * width:
        raise ValueError(f"cannot place {n} Gaussians on a {width}x{height} image (1 to {height * width})")
    models = models or default_models()
    probs = predict_probabilities(image, n, models)
    chosen = sample_positions(probs, n, sampling, seed)
    if sampling == "systematic":
        chosen = relax_positions(chosen, probs, relax)
    del probs
    rows, cols = chosen // width, chosen % width
    return gaussians_from_picked(attributes_at(image, n, models, rows, cols), rows, cols, height, width)
