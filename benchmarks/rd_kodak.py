"""Rate–distortion on Kodak: f2dgs at several ``--bpp`` targets and efforts against JPEG, WebP and AVIF.

For every effort, image and target ``X``: f2dgs encodes with ``encode_to_bpp(X)`` at that effort (default
settings otherwise); then each baseline encodes the same image at the highest quality whose whole file is no
bigger than f2dgs's file (``baselines.encode_within``), so every comparison is at equal or lower baseline size.
Metrics are on the 8-bit decoded images; bpp counts whole files. The images go in name order, each at every
effort that includes it (``--images-at`` gives an effort only the first N), and the JSON is rewritten after
each image, so a run cut short is a valid result (``images_done``).

Per effort (``efforts[e]``) and per codec the JSON follows CompressAI's schema (``results.{bpp, psnr-rgb,
ms-ssim-rgb, encoding_time, decoding_time}``, one mean per target), over the images that effort ran, with:
``bd_rate_percent[vs][metric]``, the Bjøntegaard delta rate of f2dgs against each baseline (``bjontegaard``
package, ``akima`` interpolation, targets within ``BD_WINDOW``, 0.15–1.0 bpp; negative = fewer bits than
that codec for the same PSNR or MS-SSIM); ``bits_per_gaussian``, per target, the mean bits each stored
attribute costs per Gaussian (whole chunk, framing included; the rest of the file apart); ``gaussians``, the
mean count per target; and ``bpp_landing``, the worst ratio of f2dgs's bpp to the target. The top level
repeats the first effort's curves and BD-rates against JPEG (``codecs``, ``bd_rate_vs_jpeg_percent``) for the
README tables. Records without an effort (older runs) are effort 3, f2dgs 0.1's encoder.

    python benchmarks/rd_kodak.py [--kodak DIR] [--bpps 0.12 0.25 0.43 0.5 0.8 1.2] [--limit 24]
                                  [--efforts 5 9] [--images-at 9=6]
    python benchmarks/rd_kodak.py --summarize-only [--merge MORE.json]   # recompute the summary and plot

Writes ``benchmarks/results/rd_kodak.json`` and
``rd_kodak.png`` (needs matplotlib and bjontegaard: ``pip install ".[bench]"``).
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
OLD_EFFORT = 3
"""The effort of records written before efforts existed (f2dgs 0.1's encoder)."""
METRICS = {"psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb"}


def measure_image(image: torch.Tensor, stem: str, target: float, effort: int) -> list[dict[str, object]]:
    """f2dgs at ``target`` bpp and ``effort``, and every baseline within its bytes: one record per codec."""
    from fast2dgs_cli.baselines import BASELINES, encode_within
    from fast2dgs_cli.codec import EncodeOptions
    from fast2dgs_cli.container import read_g2d
    from fast2dgs_cli.container.info import CHUNK_OVERHEAD
    from fast2dgs_cli.decode import decode_g2d
    from fast2dgs_cli.metrics import ms_ssim, psnr, to_uint8
    from fast2dgs_cli.rate import encode_to_bpp

    height, width = image.shape[:2]
    reference = to_uint8(image)
    start = time.perf_counter()
    result = encode_to_bpp(image, target, EncodeOptions(effort=effort))
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = to_uint8(torch.from_numpy(decode_g2d(result.data)))
    decode_s = time.perf_counter() - start
    chunks = {c.type: 8 * (c.stored_size + CHUNK_OVERHEAD) / max(result.count, 1) for c in read_g2d(result.data).chunks}

    def row(codec: str, size: int, pixels: torch.Tensor, enc: float, dec: float, **extra) -> dict[str, object]:
        return {"image": stem, "codec": codec, "effort": effort, "target_bpp": target, "bytes": size,
                "bpp": 8 * size / (width * height), "psnr": psnr(pixels, reference),
                "ms_ssim": ms_ssim(pixels, reference), "encode_s": enc, "decode_s": dec, **extra}  # fmt: skip

    rows = [row("f2dgs", len(result.data), decoded, encode_s, decode_s, gaussians=result.count, steps=result.steps,
                psnr_unquantized=result.psnr_unquantized, bits_per_gaussian=chunks)]  # fmt: skip
    for name in BASELINE_NAMES:
        found = encode_within(BASELINES[name], reference.numpy(), len(result.data))
        if found is not None:
            rows.append(row(name, len(found.data), torch.from_numpy(found.decoded), found.encode_s, found.decode_s,
                            quality=found.quality))  # fmt: skip
    return rows


def _mean(rows: list[dict[str, object]], key: str) -> float:
    return statistics.fmean(r[key] for r in rows)


def curves(records: list[dict[str, object]], targets: list[float]) -> dict[str, object]:
    """CompressAI-style curves per codec: means per target over ``records``."""
    codecs: dict[str, object] = {}
    for codec in ("f2dgs", *BASELINE_NAMES):
        points = [[r for r in records if r["codec"] == codec and r["target_bpp"] == t] for t in targets]
        points = [p for p in points if p]
        if not points:
            continue
        codecs[codec] = {
            "name": codec,
            "results": {
                "bpp": [_mean(p, "bpp") for p in points],
                "psnr-rgb": [_mean(p, "psnr") for p in points],
                "ms-ssim-rgb": [_mean(p, "ms_ssim") for p in points],
                "encoding_time": [_mean(p, "encode_s") for p in points],
                "decoding_time": [_mean(p, "decode_s") for p in points],
            },
            "images_per_point": [len(p) for p in points],
        }
    return codecs


def bd_rate(anchor: dict, test: dict, targets: list[float], metric: str, window: tuple[float, float]) -> object:
    """BD-rate (%) of curve ``test`` against ``anchor`` on ``metric`` over the targets within ``window``."""
    import bjontegaard

    def keep(curve: dict[str, list[float]], key: str) -> list[float]:
        return [v for t, v in zip(targets, curve[key]) if window[0] <= t <= window[1]]

    try:
        value = bjontegaard.bd_rate(keep(anchor, "bpp"), keep(anchor, metric), keep(test, "bpp"), keep(test, metric),
                                    method="akima", require_matching_points=False, min_overlap=0)  # fmt: skip
        return float(value) if math.isfinite(value) else "not computable: the curves do not overlap"
    except Exception as error:  # noqa: BLE001 - bjontegaard raises plain exceptions on a poor overlap
        return f"not computable: {error}"


def summarize_effort(records: list[dict[str, object]], targets: list[float]) -> dict[str, object]:
    """Curves, BD-rates, bits per Gaussian and counts of one effort's records."""
    codecs = curves(records, targets)
    f2dgs = [r for r in records if r["codec"] == "f2dgs"]
    # a baseline that cannot get small enough on every image has fewer images at a target: its curve keeps the
    # targets where it has them all, so that the BD-rate compares the same images
    images = len({r["image"] for r in f2dgs})
    targets_full = {c: [t for t, n in zip(targets, e["images_per_point"]) if n == images] for c, e in codecs.items()}
    bd: dict[str, object] = {}
    for name in BASELINE_NAMES:
        if name not in codecs:
            continue
        full = curves([r for r in records if r["target_bpp"] in targets_full[name]], targets_full[name])
        bd[name] = {metric: bd_rate(full[name]["results"], full["f2dgs"]["results"], targets_full[name], metric,
                                    BD_WINDOW) for metric in METRICS.values()}  # fmt: skip
    vs_jpeg = {}
    for codec, entry in codecs.items():
        vs_jpeg[codec] = bd_rate(codecs["jpeg"]["results"], entry["results"], targets, "psnr-rgb", BD_WINDOW)
    bits, counts, landing = {}, {}, {}
    for target in targets:
        rows = [r for r in f2dgs if r["target_bpp"] == target]
        if not rows:
            continue
        kinds = sorted({k for r in rows for k in r.get("bits_per_gaussian", {})})
        if kinds:
            bits[str(target)] = {k: statistics.fmean(r["bits_per_gaussian"].get(k, 0.0) for r in rows) for k in kinds}
        counts[str(target)] = _mean(rows, "gaussians")
        ratios = [r["bpp"] / target for r in rows]
        landing[str(target)] = {"min": min(ratios), "max": max(ratios)}
    return {
        "images": images,
        "image_names": sorted({r["image"] for r in f2dgs}),
        "codecs": codecs,
        "bd_rate_percent": bd,
        "bd_rate_vs_jpeg_percent": vs_jpeg,
        "bits_per_gaussian": bits,
        "gaussians": counts,
        "bpp_landing": landing,
        "median_encode_s": {str(t): statistics.median(r["encode_s"] for r in f2dgs if r["target_bpp"] == t)
                            for t in targets if any(r["target_bpp"] == t for r in f2dgs)},  # fmt: skip
    }


def summarize(records: list[dict[str, object]], targets: list[float], efforts: list[int]) -> dict[str, object]:
    """Every effort's summary, and the first effort's curves and BD-rates against JPEG at the top level."""
    for record in records:
        record.setdefault("effort", OLD_EFFORT)
    per_effort = {}
    for effort in efforts:
        rows = [r for r in records if r["effort"] == effort]
        if rows:
            per_effort[str(effort)] = summarize_effort(rows, targets)
    first = per_effort[str(efforts[0])]
    first_rows = [r for r in records if r["effort"] == efforts[0]]
    return {
        "codecs": first["codecs"],
        "bd_window_bpp": list(BD_WINDOW),
        "bd_rate_vs_jpeg_percent": first["bd_rate_vs_jpeg_percent"],
        "bd_rate_vs_jpeg_percent_all_targets": {
            codec: bd_rate(first["codecs"]["jpeg"]["results"], entry["results"], targets, "psnr-rgb", (0.0, math.inf))
            for codec, entry in first["codecs"].items()
        },
        "bpp_landing": first["bpp_landing"],
        "images_of_first_effort": len({r["image"] for r in first_rows}),
        "efforts": per_effort,
    }


def plot(summary: dict[str, object], path: Path) -> None:
    """PSNR and MS-SSIM against bpp: one line per baseline (from the first effort's images) and per f2dgs effort."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    lines = [(codec, entry["results"]) for codec, entry in summary["codecs"].items() if codec != "f2dgs"]
    for effort, entry in summary["efforts"].items():
        lines.append((f"f2dgs -e {effort} ({entry['images']} images)", entry["codecs"]["f2dgs"]["results"]))
    for label, r in lines:
        axes[0].plot(r["bpp"], r["psnr-rgb"], marker="o", label=label)
        axes[1].plot(r["bpp"], r["ms-ssim-rgb"], marker="o", label=label)
    for ax, label in zip(axes, ("PSNR (dB)", "MS-SSIM")):
        ax.set_xlabel("bpp (whole files)")
        ax.set_ylabel(f"{label}, mean over Kodak")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _images_at(values: list[str]) -> dict[int, int]:
    """``--images-at 9=6``: effort 9 runs on the first 6 images."""
    return {int(e): int(n) for e, n in (v.split("=") for v in values)}


def _headline(summary: dict[str, object]) -> str:
    return json.dumps({e: v["bd_rate_percent"] for e, v in summary["efforts"].items()}, indent=1)


def main() -> None:
    from fast2dgs_cli.effort import DEFAULT_EFFORT

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=24)
    parser.add_argument("--bpps", type=float, nargs="+", default=[0.12, 0.25, 0.43, 0.5, 0.8, 1.2])
    parser.add_argument("--efforts", type=int, nargs="+", default=[DEFAULT_EFFORT], help="first: the README's")
    parser.add_argument("--images-at", nargs="*", default=[], help="EFFORT=N: fewer images at that effort")
    parser.add_argument("--start", type=int, default=0, help="skip the first N images (to continue a run)")
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="--summarize-only: add these runs' records")
    parser.add_argument("--out", type=Path, default=RESULTS / "rd_kodak.json")
    parser.add_argument("--summarize-only", action="store_true", help="recompute the summary of --out's records")
    args = parser.parse_args()
    if args.summarize_only:
        result = json.loads(args.out.read_text())
        records = result.pop("images")
        for other in args.merge:
            records += json.loads(other.read_text())["images"]
            result["images_done"] = len({r["image"] for r in records})
        settings = result["settings"]
        summary = summarize(records, settings["bpps"], settings.get("efforts", [OLD_EFFORT]))
        result = {key: value for key, value in result.items() if key not in summary}
        result.update(summary, images=records)
        write_json(args.out, result, indent=1)
        plot(summary, args.out.with_suffix(".png"))
        print(_headline(summary))
        return

    from fast2dgs_cli.render.cpu_backend import warm_up

    warm_up()
    limits = _images_at(args.images_at)
    if not kodak_files(args.kodak, 1):
        raise SystemExit(f"no PNG images in {args.kodak} (use --kodak)")
    started, records = time.perf_counter(), []
    for index, file in enumerate(kodak_files(args.kodak, args.limit)):
        if index < args.start:
            continue
        image, stem = load_image(file)
        for effort in (e for e in args.efforts if index < limits.get(e, args.limit)):
            for target in args.bpps:
                rows = measure_image(image, stem, target, effort)
                records += rows
                points = ", ".join(f"{r['codec']} {r['bpp']:.3f} bpp {r['psnr']:.2f} dB" for r in rows)
                print(f"e{effort} {stem} @ {target} bpp: {points}", flush=True)
        summary = summarize(records, args.bpps, args.efforts)
        result = {
            "name": "rd_kodak",
            "description": "f2dgs --bpp targets per effort vs Pillow JPEG/WebP/AVIF at no more bytes, Kodak, "
            "8-bit metrics",
            "machine": machine_info(),
            "settings": {"bpps": args.bpps, "images": args.limit, "efforts": args.efforts, "images_at": limits},
            "images_done": index + 1,
            "wall_s": time.perf_counter() - started,
            **summary,
            "images": records,
        }
        write_json(args.out, result, indent=1)
    plot(summary, args.out.with_suffix(".png"))
    print(_headline(summary))


if __name__ == "__main__":
    main()
