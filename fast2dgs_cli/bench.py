"""Benchmark a folder: encode and decode every image, measure rate, quality and speed.

Metrics are computed on the 8-bit rounded reconstruction; bpp counts the whole file (headers included).
The JSON follows CompressAI's results schema (``name``, ``description``, ``results.{bpp, psnr-rgb,
ms-ssim-rgb, encoding_time, decoding_time}``, one point per budget), with per-image records, settings
and the machine added alongside.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .codec import EncodeOptions, encode_image
from .container import read_g2d
from .decode import decode_g2d
from .gaussians import dequantize
from .imageio import load_image, to_rgb8
from .metrics import ms_ssim, psnr, to_uint8
from .rate import RateChoice, encode_at_rate
from .render import render

__all__ = ["BaselineRecord", "ImageRecord", "bench_baselines", "bench_image", "summarize", "machine_info"]

_FPS_REPEATS = 5


@dataclass(frozen=True)
class ImageRecord:
    """Benchmark figures of one image (``error`` set and figures NaN when it failed)."""

    image: str
    width: int = 0
    height: int = 0
    gaussians: int = 0
    bytes: int = 0
    bpp: float = math.nan
    psnr: float = math.nan
    psnr_unquantized: float = math.nan
    ms_ssim: float = math.nan
    encode_s: float = math.nan
    decode_s: float = math.nan
    render_fps: float = math.nan
    steps: int = 0
    effort: int = 0
    backend: str = ""
    init: str = ""
    error: str = ""


@dataclass(frozen=True)
class BaselineRecord:
    """A baseline codec's figures on one image, at the highest quality within f2dgs's byte count."""

    image: str
    codec: str
    quality: int = -1
    bytes: int = 0
    bpp: float = math.nan
    psnr: float = math.nan
    ms_ssim: float = math.nan
    encode_s: float = math.nan
    decode_s: float = math.nan
    error: str = ""


def bench_baselines(path: Path, max_bytes: int, codecs: list[str]) -> list[BaselineRecord]:
    """Run each baseline on ``path`` at the highest quality whose whole file is ≤ ``max_bytes``."""
    from .baselines import BASELINES, encode_within

    pixels = torch.from_numpy(to_rgb8(load_image(path).pixels))
    height, width = pixels.shape[:2]
    records = []
    for name in codecs:
        result = encode_within(BASELINES[name], pixels.numpy(), max_bytes)
        if result is None:
            records.append(BaselineRecord(path.name, name, error=f"no {name} file fits in {max_bytes} bytes"))
            continue
        decoded = torch.from_numpy(result.decoded)
        records.append(
            BaselineRecord(
                image=path.name,
                codec=name,
                quality=result.quality,
                bytes=len(result.data),
                bpp=8 * len(result.data) / (width * height),
                psnr=psnr(decoded, pixels),
                ms_ssim=ms_ssim(decoded, pixels),
                encode_s=result.encode_s,
                decode_s=result.decode_s,
            )
        )
    return records


def bench_image(
    path: Path,
    options: EncodeOptions,
    on_step: Callable[[int, int, float], None] | None = None,
    rate: RateChoice | None = None,
) -> ImageRecord:
    """Encode, decode and measure one image; a failure is recorded in ``error`` instead of raised.

    ``rate`` sets the size (``rate.encode_at_rate``); ``None`` encodes with ``options.gaussians``."""
    try:
        pixels = torch.from_numpy(load_image(path).pixels)
        height, width = pixels.shape[:2]
        start = time.perf_counter()
        if rate is None:
            encoded = encode_image(pixels, options, on_step=on_step)
        else:
            encoded = encode_at_rate(pixels, rate, options, on_step=on_step)
        encode_s = time.perf_counter() - start

        start = time.perf_counter()
        decoded = decode_g2d(encoded.data, backend=encoded.backend)
        decode_s = time.perf_counter() - start

        reference, output = to_uint8(pixels), torch.from_numpy(to_rgb8(decoded))
        return ImageRecord(
            image=path.name,
            width=width,
            height=height,
            gaussians=encoded.count,
            bytes=len(encoded.data),
            bpp=8 * len(encoded.data) / (width * height),
            psnr=psnr(output, reference),
            psnr_unquantized=encoded.psnr_unquantized,
            ms_ssim=ms_ssim(output, reference),
            encode_s=encode_s,
            decode_s=decode_s,
            render_fps=_render_fps(encoded.data, encoded.backend),
            backend=encoded.backend.value,
            steps=encoded.steps,
            effort=options.effort,
            init=options.init.value,
        )
    except (ValueError, RuntimeError, OSError) as error:
        return ImageRecord(image=path.name, error=str(error))


def _render_fps(data: bytes, backend: str) -> float:
    """Median frames per second of rendering the file's Gaussians at their size (after one warm-up)."""
    file = read_g2d(data)
    gaussians = dequantize(file.gaussians)
    size = (file.gaussians.height, file.gaussians.width)
    times = []
    with torch.no_grad():
        for _ in range(_FPS_REPEATS + 1):
            start = time.perf_counter()
            render(gaussians, *size, backend)
            times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times[1:])


def _mean(rows: list, attr: str) -> float | None:
    values = [getattr(r, attr) for r in rows if not r.error and not math.isnan(getattr(r, attr))]
    return sum(values) / len(values) if values else None


def _summarize_baseline(codec: str, records: list[BaselineRecord], folder: str) -> dict:
    """CompressAI-style results of one baseline codec, with its per-image records."""
    return {
        "name": codec,
        "description": f"Pillow {codec} at the highest quality within f2dgs's file size, on {folder}",
        "results": {
            "bpp": [_mean(records, "bpp")],
            "psnr-rgb": [_mean(records, "psnr")],
            "ms-ssim-rgb": [_mean(records, "ms_ssim")],
            "encoding_time": [_mean(records, "encode_s")],
            "decoding_time": [_mean(records, "decode_s")],
        },
        "images": [asdict(r) for r in records],
        "failed": [r.image for r in records if r.error],
    }


def summarize(
    records: list[ImageRecord],
    options: EncodeOptions,
    folder: str,
    baselines: list[BaselineRecord] = (),
    rate: RateChoice | None = None,
) -> dict:
    """CompressAI-style results dictionary (means over the images that succeeded), with per-image records.

    Baseline codecs, if any ran, are summarized the same way under ``baselines`` (one entry per codec).
    ``rate`` is how the sizes were set (``None``: ``options.gaussians`` on every image).
    """
    ok = [r for r in records if not r.error]

    def mean(attr: str) -> float | None:
        return _mean(ok, attr)

    codecs = list(dict.fromkeys(b.codec for b in baselines))
    if rate is not None and rate.gaussians is None:
        size = f"quality {rate.quality}" if rate.bpp is None else f"at most {rate.bpp} bpp"
        gaussians = None
    else:
        gaussians = options.gaussians if rate is None else rate.gaussians
        size = f"{gaussians} Gaussians"
    return {
        "name": "f2dgs",
        "description": (
            f"f2dgs {__version__}, {options.init.value} init, {size}, effort {options.effort}, "
            f"{'default' if options.fit.steps is None else options.fit.steps} steps, on {folder}"
        ),
        "results": {
            "bpp": [mean("bpp")],
            "psnr-rgb": [mean("psnr")],
            "ms-ssim-rgb": [mean("ms_ssim")],
            "encoding_time": [mean("encode_s")],
            "decoding_time": [mean("decode_s")],
        },
        "render_fps": [mean("render_fps")],
        "psnr_unquantized": [mean("psnr_unquantized")],
        "settings": {
            "gaussians": gaussians,
            "quality": None if rate is None else rate.quality,
            "bpp": None if rate is None else rate.bpp,
            "mean_gaussians": mean("gaussians"),
            "effort": options.effort,
            "steps": options.fit.steps,
            "mean_steps_taken": mean("steps"),
            "time_budget": options.fit.time_budget,
            "seed": options.seed,
            "init": options.init.value,
            "backend": ok[0].backend if ok else options.backend.value,
        },
        "machine": machine_info(),
        "images": [asdict(r) for r in records],
        "failed": [r.image for r in records if r.error],
        "baselines": {c: _summarize_baseline(c, [b for b in baselines if b.codec == c], folder) for c in codecs},
    }


def machine_info() -> dict[str, object]:
    """The hardware and software every figure was measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, object] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "f2dgs": __version__,
    }
    try:  # the fast kernels are compiled for this target: a CPU with AVX-512 (e.g. znver4) runs them faster
        import numba
        from llvmlite import binding

        info.update(numba=numba.__version__, numba_threads=numba.get_num_threads())
        info["cpu_target"] = binding.get_host_cpu_name()
        info["avx512"] = bool(binding.get_host_cpu_features().get("avx512f", False))
        from .render.cpu_kernels import WIDE_SIMD

        info["kernel_avx512"] = WIDE_SIMD  # NUMBA_CPU_FEATURES / NUMBA_CPU_NAME may target another CPU
        if numba.config.CPU_NAME:
            info["numba_cpu_name"] = numba.config.CPU_NAME
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
