"""Rate–distortion on Kodak: f2dgs at several ``--bpp`` targets against JPEG, WebP and AVIF on real bytes.

For every image and target ``X``: f2dgs encodes with ``encode_to_bpp(X)`` (default quality settings
otherwise); then each baseline encodes the same image at the highest quality whose whole file is no bigger
than f2dgs's file (``baselines.encode_within``), so every comparison is at equal or lower baseline size.
Metrics are on the 8-bit decoded images; bpp counts whole files.

Per codec the JSON follows CompressAI's schema (``results.{bpp, psnr-rgb, ms-ssim-rgb, encoding_time,
decoding_time}``, one mean per target), with per-image records; ``bd_rate_vs_jpeg_percent`` is the Bjøntegaard
delta rate of each codec against JPEG on the mean curves of the targets within ``BD_WINDOW`` (0.15–1.0 bpp;
``bjontegaard`` package, ``akima`` interpolation; negative = fewer bits than JPEG for the same PSNR), and
``bd_rate_vs_jpeg_percent_all_targets`` the same over every target (below about 0.12 bpp JPEG cannot reach the
size on every image, so that point averages fewer images). ``bpp_landing`` records, per
target, the worst ratio of f2dgs's actual bpp to the target over the images.

    python benchmarks/rd_kodak.py [--kodak DIR] [--bpps 0.12 0.25 0.43 0.5 0.8 1.2] [--limit 24]
    python benchmarks/rd_kodak.py --summarize-only   # recompute curves, BD-rates and plot from the JSON

Writes ``benchmarks/results/rd_kodak.json`` and ``rd_kodak.png`` (needs matplotlib and bjontegaard:
``pip install ".[bench]"``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
from common import RESULTS, add_kodak_arguments, kodak_files, load_image, machine_info, write_json

BASELINE_NAMES = ("jpeg", "webp", "avif")
BD_WINDOW = (0.15, 1.0)
"""Targets (bpp) whose points enter the headline BD-rate."""


def measure_image(image: torch.Tensor, stem: str, target: float) -> list[dict[str, object]]:
    """f2dgs at ``target`` bpp and every baseline within its bytes: one record per codec."""
    from fast2dgs_cli.baselines import BASELINES, encode_within
    from fast2dgs_cli.decode import decode_g2d
    from fast2dgs_cli.metrics import ms_ssim, psnr, to_uint8
    from fast2dgs_cli.rate import encode_to_bpp

    height, width = image.shape[:2]
    reference = to_uint8(image)
    start = time.perf_counter()
    result = encode_to_bpp(image, target)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = to_uint8(torch.from_numpy(decode_g2d(result.data)))
    decode_s = time.perf_counter() - start

    def row(codec: str, size: int, pixels: torch.Tensor, enc: float, dec: float, **extra) -> dict[str, object]:
        return {"image": stem, "codec": codec, "target_bpp": target, "bytes": size, "bpp": 8 * size / (width * height),
                "psnr": psnr(pixels, reference), "ms_ssim": ms_ssim(pixels, reference),
                "encode_s": enc, "decode_s": dec, **extra}  # fmt: skip

    rows = [row("f2dgs", len(result.data), decoded, encode_s, decode_s, gaussians=result.count,
                psnr_unquantized=result.psnr_unquantized)]  # fmt: skip
    for name in BASELINE_NAMES:
        found = encode_within(BASELINES[name], reference.numpy(), len(result.data))
        if found is not None:
            rows.append(row(name, len(found.data), torch.from_numpy(found.decoded), found.encode_s, found.decode_s,
                            quality=found.quality))  # fmt: skip
    return rows


def summarize(records: list[dict[str, object]], targets: list[float]) -> dict[str, object]:
    """CompressAI-style curves per codec (means per target) and BD-rate against JPEG."""
    import bjontegaard

    def mean(rows: list[dict[str, object]], key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    codecs: dict[str, object] = {}
    for codec in ("f2dgs", *BASELINE_NAMES):
        points = [[r for r in records if r["codec"] == codec and r["target_bpp"] == t] for t in targets]
        points = [p for p in points if p]
        if not points:
            continue
        codecs[codec] = {
            "name": codec,
            "results": {
                "bpp": [mean(p, "bpp") for p in points],
                "psnr-rgb": [mean(p, "psnr") for p in points],
                "ms-ssim-rgb": [mean(p, "ms_ssim") for p in points],
                "encoding_time": [mean(p, "encode_s") for p in points],
                "decoding_time": [mean(p, "decode_s") for p in points],
            },
            "images_per_point": [len(p) for p in points],
        }

    def bd_rates(window: tuple[float, float]) -> dict[str, object]:
        def keep(curve: dict[str, list[float]], key: str) -> list[float]:
            return [v for t, v in zip(targets, curve[key]) if window[0] <= t <= window[1]]

        anchor, rates = codecs["jpeg"]["results"], {}
        for codec, entry in codecs.items():
            curve = entry["results"]
            try:
                value = bjontegaard.bd_rate(keep(anchor, "bpp"), keep(anchor, "psnr-rgb"), keep(curve, "bpp"),
                                            keep(curve, "psnr-rgb"), method="akima", require_matching_points=False,
                                            min_overlap=0)  # fmt: skip
                rates[codec] = float(value) if math.isfinite(value) else "not computable: the curves do not overlap"
            except Exception as error:  # noqa: BLE001 - bjontegaard raises plain exceptions on a poor overlap
                rates[codec] = f"not computable: {error}"
        return rates

    landing = {}
    for target in targets:
        ratios = [r["bpp"] / target for r in records if r["codec"] == "f2dgs" and r["target_bpp"] == target]
        landing[str(target)] = {"min": min(ratios), "max": max(ratios)} if ratios else None
    return {
        "codecs": codecs,
        "bd_window_bpp": list(BD_WINDOW),
        "bd_rate_vs_jpeg_percent": bd_rates(BD_WINDOW),
        "bd_rate_vs_jpeg_percent_all_targets": bd_rates((0.0, math.inf)),
        "bpp_landing": landing,
    }


def plot(summary: dict[str, object], path: Path) -> None:
    """PSNR and MS-SSIM against bpp, one line per codec."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for codec, entry in summary["codecs"].items():
        r = entry["results"]
        axes[0].plot(r["bpp"], r["psnr-rgb"], marker="o", label=codec)
        axes[1].plot(r["bpp"], r["ms-ssim-rgb"], marker="o", label=codec)
    for ax, label in zip(axes, ("PSNR (dB)", "MS-SSIM")):
        ax.set_xlabel("bpp (whole files)")
        ax.set_ylabel(f"{label}, mean over Kodak")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=24)
    parser.add_argument("--bpps", type=float, nargs="+", default=[0.12, 0.25, 0.43, 0.5, 0.8, 1.2])
    parser.add_argument("--out", type=Path, default=RESULTS / "rd_kodak.json")
    parser.add_argument("--summarize-only", action="store_true", help="recompute the summary of --out's records")
    args = parser.parse_args()
    if args.summarize_only:
        result = json.loads(args.out.read_text())
        records = result.pop("images")
        summary = summarize(records, result["settings"]["bpps"])
        result = {key: value for key, value in result.items() if key not in summary}
        result.update(summary, images=records)
        write_json(args.out, result, indent=1)
        plot(summary, args.out.with_suffix(".png"))
        print(json.dumps(summary["bd_rate_vs_jpeg_percent"], indent=1))
        return

    from fast2dgs_cli.render.cpu_backend import warm_up

    warm_up()
    started, records = time.perf_counter(), []
    for file in kodak_files(args.kodak, args.limit):
        image, stem = load_image(file)
        for target in args.bpps:
            rows = measure_image(image, stem, target)
            records += rows
            points = ", ".join(f"{r['codec']} {r['bpp']:.3f} bpp {r['psnr']:.2f} dB" for r in rows)
            print(f"{stem} @ {target} bpp: {points}", flush=True)
    summary = summarize(records, args.bpps)
    result = {
        "name": "rd_kodak",
        "description": "f2dgs --bpp targets vs Pillow JPEG/WebP/AVIF at no more bytes, Kodak, 8-bit metrics",
        "machine": machine_info(),
        "settings": {"bpps": args.bpps, "images": args.limit},
        "wall_s": time.perf_counter() - started,
        **summary,
        "images": records,
    }
    write_json(args.out, result, indent=1)
    plot(summary, args.out.with_suffix(".png"))
    print(json.dumps(summary["bd_rate_vs_jpeg_percent"], indent=1))


if __name__ == "__main__":
    main()
