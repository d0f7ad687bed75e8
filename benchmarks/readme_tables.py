"""Regenerate the measured tables of README.md and benchmarks/README.md from ``benchmarks/results/*.json``.

Each table sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` markers and is replaced whole;
nothing else in either file is touched. README.md holds the one headline table (f2dgs against JPEG, WebP and
AVIF at the same bytes), benchmarks/README.md all the others. A table whose markers are missing is an error.

    python benchmarks/readme_tables.py
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Callable

from common import RESULTS, ROOT, shipped_card

CODEC_NAMES = {"f2dgs": "f2dgs", "jpeg": "JPEG", "webp": "WebP", "avif": "AVIF"}


def _results(name: str) -> dict | None:
    """The JSON of ``benchmarks/results/<name>``, or ``None`` when that benchmark has not been run."""
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _missing(command: str) -> str:
    """The table's place-holder until ``command`` has been run."""
    return f"_No results yet: run `{command}`._"


def describe_machine(machine: dict) -> str:
    """``AMD EPYC (znver3, no AVX-512), 2 cores``: what a figure was measured on."""
    target = machine.get("cpu_target")
    isa = "" if target is None else f" ({target}, {'AVX-512' if machine.get('avx512') else 'no AVX-512'})"
    build = ""
    if machine.get("numba_cpu_name"):
        build += f", kernels built for {machine['numba_cpu_name']}"
    if machine.get("avx512") and machine.get("kernel_avx512") is False:
        build += " without AVX-512 (`NUMBA_CPU_FEATURES`)"
    return f"{machine['cpu']}{isa}, {machine['cores']} cores{build}"


def kodak_table() -> str:
    """Mean figures per Gaussian budget over the Kodak images."""
    rows = []
    for path in sorted(RESULTS.glob("kodak-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        data = json.loads(path.read_text())
        r, s = data["results"], data["settings"]
        n_ok = len(data["images"]) - len(data["failed"])
        rows.append(
            f"| {s['gaussians']} | {s.get('mean_steps_taken') or s['steps']:.0f} | {n_ok}/{len(data['images'])} | "
            f"{r['bpp'][0]:.3f} | {r['psnr-rgb'][0]:.2f} | {r['ms-ssim-rgb'][0]:.4f} | {r['encoding_time'][0]:.2f} | "
            f"{r['decoding_time'][0]:.3f} | {data['render_fps'][0]:.1f} | {s['backend']} |"
        )
    if not rows:
        return "_No results yet: run `python benchmarks/kodak.py`._"
    machine = json.loads(min(RESULTS.glob("kodak-*.json")).read_text())["machine"]
    header = (
        "| Gaussians | steps | images | bpp | PSNR dB | MS-SSIM | encode s | decode s | render FPS | backend |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    note = f"\n\nMeans over the images; {describe_machine(machine)}, torch {machine['torch']}."
    return header + "\n" + "\n".join(rows) + note


def render_speed_table() -> str:
    """Renderer speed per backend and scene, one table per ``render_speed*.json`` (render_speed.py)."""
    paths = sorted(RESULTS.glob("render_speed*.json"), key=lambda path: (path.name != "render_speed.json", path.name))
    if not paths:
        return "_No results yet: run `python benchmarks/render_speed.py`._"
    return "\n\n".join(_render_speed_table(json.loads(path.read_text()), path.name) for path in paths)


def _render_speed_table(data: dict, name: str) -> str:
    machine, first = data["machine"], data["first_call_s"]
    lines = [
        f"`{name}`: {describe_machine(machine)}, torch {machine['torch']}, numba {machine['numba']}.\n",
        (
            "| backend | size | Gaussians | forward FPS | × torch | forward+backward ms | peak MB forward | "
            "peak MB forward+backward |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    for row in data["results"]:
        lines.append(
            f"| {row['backend']} | {row['width']}×{row['height']} | {row['gaussians']} | "
            f"{fmt(row.get('forward_fps'), '.1f')} | {fmt(row.get('speedup_forward'), '.0f')} | "
            f"{fmt(row.get('forward_backward_ms'), '.1f')} | {fmt(row.get('peak_rss_mb_forward'), '.0f')} | "
            f"{fmt(row.get('peak_rss_mb_forward_backward'), '.0f')} |"
        )
    lines.append(
        f"\nMedians after warm-up; peak memory above the process baseline (n/a: not measured for the reference "
        f"on big scenes). First call of the cpu kernels in a fresh process: "
        f"{first['compile_cold_cache']['warm_up_s']:.1f} s compiling into an empty cache (once per machine), "
        f"{first['load_from_cache']['warm_up_s']:.2f} s loading from numba's on-disk cache."
    )
    drift = [row for row in data["results"] if row.get("forward_rounds_ms")]
    if drift:
        rounds = drift[0]["rounds"]
        spans = "; ".join(
            f"{row['backend']} {row['width']}×{row['height']} {row['gaussians']}: forward "
            f"{min(row['forward_rounds_ms']):.1f}–{max(row['forward_rounds_ms']):.1f} ms, forward+backward "
            f"{min(row['forward_backward_rounds_ms']):.1f}–{max(row['forward_backward_rounds_ms']):.1f} ms"
            for row in drift
        )  # fmt: skip
        lines.append(
            f"The fast backend was timed in {rounds} interleaved rounds over all scenes (medians of all "
            f"repetitions above); per-round medians ranged: {spans}."
        )
    return "\n".join(lines)


def encode_speed_table() -> str:
    """Encode time with the default settings, one table per ``encode_speed*.json`` (written by encode_speed.py)."""
    paths = sorted(RESULTS.glob("encode_speed*.json"), key=lambda path: (path.name != "encode_speed.json", path.name))
    if not paths:
        return "_No results yet: run `python benchmarks/encode_speed.py`._"
    return "\n\n".join(_encode_speed_table(json.loads(path.read_text()), path.name) for path in paths)


def _encode_speed_table(data: dict, name: str) -> str:
    s, cli = data["settings"], data["cli"]
    if "quality" in s:
        rate = f"quality {s['quality']}, effort {s['effort']}"
    else:  # f2dgs 0.1's defaults, before the quality scale and the effort levels
        rate = f"{s['gaussians']} Gaussians, {s['steps']} steps"
    lines = [
        f"`{name}`: {describe_machine(data['machine'])}, torch {data['machine']['torch']}.\n",
        "| settings | init | images | median encode s | max encode s | `f2dgs encode` wall s | mean PSNR dB |",
        "|---|---|---:|---:|---:|---:|---:|",
        (
            f"| {rate} | {s['init']} | {len(data['images'])} | {data['median_encode_s']:.2f} | "
            f"{data['max_encode_s']:.2f} | {cli['median_wall_s']:.2f} | {data['mean_psnr']:.2f} |"
        ),
    ]
    lines += _reference_lines(data["reference_backend"])
    lines.append(
        "\nEncode s: `encode_image` in a warm process (init, fine-tuning, quantization, colour and geometry "
        "refinement, entropy coding, verification). Wall s: the whole `f2dgs encode` command in a fresh process, "
        f"start-up included, median of {len(cli['wall_s'])} runs"
        + (f" on {', '.join(cli['images'])}." if "images" in cli else f" on {cli['image']}.")
    )
    if "startup" in cli:
        parts = ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.2f}" for k, v in cli["startup"].items())
        lines.append(f"Fixed start-up of a fresh process (median s): {parts}.")
    if cli.get("scipy_installed") is False:
        lines.append(
            "The command ran in an environment without scipy, as the README installs it; where scipy is installed, "
            "numba imports it at its first kernel load (about 0.25 s more per command)."
        )
    return "\n".join(lines)


def encode_command_table() -> str:
    """The whole command over the Kodak images (written by encode_command.py)."""
    path = RESULTS / "encode_command.json"
    if not path.exists():
        return "_No results yet: run `python benchmarks/encode_command.py`._"
    data = json.loads(path.read_text())
    s, probes = data["settings"], data["import_torch_s"]
    rows = data["images"]
    return "\n".join(
        [
            f"`encode_command.json`: {describe_machine(data['machine'])}, torch {data['machine']['torch']}.\n",
            "| settings | images | runs each | median wall s | fastest / slowest image s | images ≤ 5 s | peak MiB |",
            "|---|---:|---:|---:|---:|---:|---:|",
            (
                f"| quality {s['quality']}, effort {s['effort']} | {len(rows)} | {s['rounds']} | "
                f"{data['median_wall_s']:.2f} | {data['min_wall_s']:.2f} / {data['max_wall_s']:.2f} | "
                f"{data['images_at_most_5_s']} | {data['max_peak_mib']:.0f} |"
            ),
            (
                f"\nEach image's figure is the median of its runs; the median is over the images. A fresh "
                f'`python -c "import torch"` timed before, between and after the rounds took '
                f"{min(probes):.2f}–{max(probes):.2f} s: how fast the shared host was meanwhile."
            ),
        ]
    )


def _reference_lines(refs: list[dict]) -> list[str]:
    """The torch reference backend's encodes against the cpu ones: per image, or a summary for many images."""
    if len(refs) <= 3:
        return [
            f"\nSame settings on the torch reference backend, {r['image']}: {r['psnr_torch']:.3f} dB in "
            f"{r['encode_s_torch']:.0f} s, against {r['psnr_cpu']:.3f} dB in {r['encode_s_cpu']:.1f} s on cpu."
            for r in refs
        ]
    gaps = [r["psnr_cpu"] - r["psnr_torch"] for r in refs]
    lower = sum(gap < 0 for gap in gaps)
    stderr = statistics.stdev(gaps) / math.sqrt(len(gaps))
    summary = (
        f"\nSame settings on the torch reference backend, {len(refs)} images: mean PSNR "
        f"{statistics.mean(r['psnr_torch'] for r in refs):.3f} dB (median encode "
        f"{statistics.median(r['encode_s_torch'] for r in refs):.0f} s), against "
        f"{statistics.mean(r['psnr_cpu'] for r in refs):.3f} dB on cpu (median "
        f"{statistics.median(r['encode_s_cpu'] for r in refs):.1f} s); cpu minus torch per image: mean "
        f"{statistics.mean(gaps):+.4f} dB (standard error {stderr:.4f} dB), from {min(gaps):+.4f} to "
        f"{max(gaps):+.4f} dB, lower on {lower} of {len(refs)}."
    )
    return [summary]


def prior_table() -> str:
    """Prior vs heuristic init per budget, from ``prior_vs_heuristic.json`` (written by prior_vs_heuristic.py)."""
    data = _results("prior_vs_heuristic.json")
    if data is None:
        return _missing("python benchmarks/prior_vs_heuristic.py")
    lines = [
        (
            "| K | prior 0 steps | gradient 0 | random 0 | multinomial prior 0 | prior 50 | gradient 50 | "
            "gradient 200 | gradient steps to reach prior@50 | prior 1 s | gradient 1 s | networks s (median) |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def at(entry: dict, variant: str, kind: str, mark: str) -> str:
        value = entry["variants"].get(variant, {}).get(kind, {}).get(mark)
        return "n/a" if value is None else f"{value:.2f}"

    def init_median(budget: str) -> float:  # the median: a mean would carry any one-off kernel compile
        return statistics.median(
            r["init_s"] for r in data["images"] if r["budget"] == int(budget) and r["variant"] == "prior"
        )

    for budget, entry in data["summary"].items():
        match = entry.get("gradient_steps_to_match_prior_at_50")
        steps = data["settings"]["steps"]
        lines.append(
            f"| {int(budget):,} | {at(entry, 'prior', 'psnr_steps', '0')} | "
            f"{at(entry, 'gradient', 'psnr_steps', '0')} | {at(entry, 'random', 'psnr_steps', '0')} | "
            f"{at(entry, 'prior-multinomial', 'psnr_steps', '0')} | "
            f"{at(entry, 'prior', 'psnr_steps', '50')} | {at(entry, 'gradient', 'psnr_steps', '50')} | "
            f"{at(entry, 'gradient', 'psnr_steps', '200')} | {match if match is not None else f'> {steps}'} | "
            f"{at(entry, 'prior', 'psnr_seconds', '1.0')} | {at(entry, 'gradient', 'psnr_seconds', '1.0')} | "
            f"{init_median(budget):.2f} |"
        )
    s, machine = data["settings"], data["machine"]
    lines.append(
        f"\nPSNR in dB, means over {s['images']} Kodak images (ablations: {s['ablation_images']} images, "
        f"{s['ablation_steps']} steps); cpu backend, {describe_machine(machine)}."
    )
    return "\n".join(lines)


def headroom_table() -> str:
    """PSNR from oracle starts after 0 → 50 steps, per budget, from ``prior_headroom.json`` (prior_headroom.py)."""
    data = _results("prior_headroom.json")
    if data is None:
        return _missing("python benchmarks/prior_headroom.py")
    oracle = data["settings"]["oracle_steps"]
    columns = ["prior", "lsq-colours"]
    columns += [f"fitted-attributes-{s}" for s in oracle] + [f"converged-positions-{s}" for s in oracle]
    titles = ["prior", "least-squares colours"]
    titles += [f"attributes fitted {s} steps" for s in oracle] + [f"positions of a {s}-step fit" for s in oracle]
    columns.append(f"fitted-attributes-{max(oracle)}-gentle")
    titles.append(f"attributes fitted {max(oracle)} steps, gentle fine-tuning")
    lines = [
        "| K | " + " | ".join(titles) + " | gradient 50 | gradient 200 |",
        "|---:|" + "---:|" * (len(columns) + 2),
    ]
    for budget, starts in data["summary"].items():
        cells = [f"{starts[c]['0']:.2f} → {starts[c]['50']:.2f}" for c in columns]
        gradient = starts["gradient"]
        lines.append(f"| {int(budget):,} | " + " | ".join(cells) + f" | {gradient['50']:.2f} | {gradient['200']:.2f} |")
    lines.append(
        f"\nPSNR in dB after 0 → 50 fine-tuning steps, means over {len(data['settings']['images'])} Kodak images "
        f"({', '.join(data['settings']['images'])}); cpu backend, {describe_machine(data['machine'])}."
    )
    return "\n".join(lines)


def rd_table() -> str:
    """Rate–distortion points per ``--bpp`` target, from ``rd_kodak.json`` (written by rd_kodak.py)."""
    data = _results("rd_kodak.json")
    if data is None:
        return _missing("python benchmarks/rd_kodak.py")
    codecs = data["codecs"]
    names = [c for c in ("f2dgs", "jpeg", "webp", "avif") if c in codecs]
    lines = [
        (
            "| target bpp | " + " | ".join(f"{c} bpp | {c} PSNR" for c in names)
            + " | f2dgs MS-SSIM | jpeg MS-SSIM | f2dgs median encode s | f2dgs quantization loss dB |"
        ),
        "|---:|" + "---:|" * (2 * len(names) + 4),
    ]
    for i, target in enumerate(data["settings"]["bpps"]):
        cells = []
        for c in names:
            r = codecs[c]["results"]
            if i >= len(r["bpp"]):
                cells += ["n/a", "n/a"]
                continue
            count, total = codecs[c]["images_per_point"][i], _images(data)
            partial = f" ({count}/{total} images)" if count < total else ""
            cells += [f"{r['bpp'][i]:.3f}", f"{r['psnr-rgb'][i]:.2f}{partial}"]
        f, j = codecs["f2dgs"]["results"], codecs["jpeg"]["results"]
        rows = [r for r in data["images"] if r["codec"] == "f2dgs" and r["target_bpp"] == target]
        median_encode = statistics.median(r["encode_s"] for r in rows)
        loss = statistics.fmean(r["psnr_unquantized"] - r["psnr"] for r in rows)
        lines.append(
            f"| {target} | " + " | ".join(cells) + f" | {f['ms-ssim-rgb'][i]:.4f} | {j['ms-ssim-rgb'][i]:.4f} | "
            f"{median_encode:.1f} | {loss:.2f} |"
        )
    def bd(rates: dict) -> str:
        return ", ".join(f"{c} {v:+.1f} %" if isinstance(v, (int, float)) else f"{c}: {v}" for c, v in rates.items())

    low, high = data["bd_window_bpp"]
    landing = data["bpp_landing"]
    worst = min(v["min"] for v in landing.values() if v), max(v["max"] for v in landing.values() if v)
    efforts = data["settings"].get("efforts", [3])
    lines.append(
        f"\nf2dgs at effort {efforts[0]}. Means over {_images(data)} Kodak images; each baseline at the highest "
        f"quality whose file is no bigger than f2dgs's for that image (n/a or fewer images where it cannot get that "
        f"small). BD-rate vs JPEG (PSNR, akima), targets {low}–{high} bpp: {bd(data['bd_rate_vs_jpeg_percent'])}; "
        f"every target: {bd(data['bd_rate_vs_jpeg_percent_all_targets'])}. f2dgs's actual bpp over "
        f"every image and target: {worst[0]:.3f}–{worst[1]:.3f} × the target. f2dgs encode s includes the "
        f"size search; quantization loss is the mean PSNR of the unquantized fit minus that of the decoded file. "
        f"{describe_machine(data['machine'])}."
    )
    if "efforts" in data:
        lines += ["", effort_tables(data)]
    return "\n".join(lines)


def _images(data: dict) -> int:
    """Images of the first effort (a run may have been cut short: ``images_done``)."""
    return data.get("images_of_first_effort", data["settings"]["images"])


def effort_tables(data: dict) -> str:
    """Per effort of ``rd_kodak.json``: BD-rates of f2dgs against each baseline, and per target the Gaussian
    count and the bits per Gaussian of each stored attribute."""

    def rate(value: object) -> str:
        return f"{value:+.1f} %" if isinstance(value, (int, float)) else "n/a"

    low, high = data["bd_window_bpp"]
    lines = [
        f"BD-rate of f2dgs against each codec on the same images, targets {low}–{high} bpp (akima; negative: "
        "f2dgs needs fewer bits), PSNR / MS-SSIM:",
        "",
        "| effort | images | vs JPEG | vs WebP | vs AVIF |",
        "|---:|---:|---:|---:|---:|",
    ]
    for effort, entry in data["efforts"].items():
        cells = [" / ".join(rate(entry["bd_rate_percent"].get(c, {}).get(m)) for m in ("psnr-rgb", "ms-ssim-rgb"))
                 for c in ("jpeg", "webp", "avif")]  # fmt: skip
        lines.append(f"| {effort} | {entry['images']} | " + " | ".join(cells) + " |")
    kinds = sorted({k for e in data["efforts"].values() for t in e["bits_per_gaussian"].values() for k in t})
    if not kinds:  # records older than the bits-per-Gaussian split
        return "\n".join(lines)
    lines += [
        "",
        "Gaussians and bits per Gaussian of each chunk (framing included) per target, means over the images:",
        "",
        "| effort | target bpp | Gaussians | f2dgs bpp | f2dgs PSNR | " + " | ".join(kinds) + " |",
        "|---:|---:|---:|---:|---:|" + "---:|" * len(kinds),
    ]
    targets = data["settings"]["bpps"]
    for effort, entry in data["efforts"].items():
        curve = entry["codecs"]["f2dgs"]["results"]
        for i, target in enumerate(targets):
            bits = entry["bits_per_gaussian"].get(str(target))
            if bits is None or i >= len(curve["bpp"]):
                continue
            lines.append(
                f"| {effort} | {target} | {entry['gaussians'][str(target)]:.0f} | {curve['bpp'][i]:.3f} | "
                f"{curve['psnr-rgb'][i]:.2f} | " + " | ".join(f"{bits.get(k, 0.0):.1f}" for k in kinds) + " |"
            )
    return "\n".join(lines)


HEADLINE_RD = "rd_kodak_storage_order.json"
"""The rate–distortion run of the current coder, whose first effort is the README's."""


def headline_table() -> str:
    """The README's table: mean PSNR of f2dgs at the default effort and of JPEG, WebP and AVIF at no more bytes,
    per ``--bpp`` target (``HEADLINE_RD``)."""
    data = _results(HEADLINE_RD)
    if data is None:
        return _missing(f"python benchmarks/rd_kodak.py --efforts 5 9 --out benchmarks/results/{HEADLINE_RD}")
    codecs, total = data["codecs"], _images(data)
    names = [c for c in CODEC_NAMES if c in codecs]
    lines = [
        "| target bpp | f2dgs bpp | " + " | ".join(f"{CODEC_NAMES[c]} PSNR" for c in names) + " |",
        "|---:|---:|" + "---:|" * len(names),
    ]
    for i, target in enumerate(data["settings"]["bpps"]):
        cells = []
        for c in names:
            psnr, count = codecs[c]["results"]["psnr-rgb"], codecs[c]["images_per_point"]
            if i >= len(psnr):
                cells.append("n/a")
                continue
            cells.append(f"{psnr[i]:.2f}" + (f" ({count[i]}/{total})" if count[i] < total else ""))
        lines.append(f"| {target} | {codecs['f2dgs']['results']['bpp'][i]:.3f} | " + " | ".join(cells) + " |")
    low, high = data["bd_window_bpp"]
    rates = data["bd_rate_vs_jpeg_percent"]
    bd = ", ".join(
        f"{CODEC_NAMES[c]} {rates[c]:+.1f} %" for c in names if c != "jpeg" and isinstance(rates.get(c), (int, float))
    )
    lines.append(
        f"\nf2dgs at effort {data['settings'].get('efforts', [3])[0]}. "
        f"PSNR in dB on the 8-bit pictures, means over the {total} Kodak images; each other codec at its highest "
        f"quality whose file is no bigger than f2dgs's for that image (in parentheses where it cannot get that small "
        f"on every image: the images averaged). BD-rate against JPEG, {low}–{high} bpp: {bd}. "
        f"{describe_machine(data['machine'])}."
    )
    return "\n".join(lines)


def decode_speed_table() -> str:
    """Whole-process ``f2dgs decode`` against Pillow's AVIF decode, from ``decode_speed.json`` (decode_speed.py)."""
    data = _results("decode_speed.json")
    if data is None:
        return _missing("python benchmarks/decode_speed.py")
    lines = [
        "| image | .g2d bytes | f2dgs decode s | f2dgs peak MiB | AVIF bytes | AVIF decode s | AVIF peak MiB |",
        "|---|" + "---:|" * 6,
    ]
    for row in data["images"]:
        ours, avif = row["f2dgs"], row["avif"]
        lines.append(
            f"| {row['image']} | {row['g2d_bytes']} | {ours['wall_s_median']:.3f} | {ours['peak_mib_median']:.0f} | "
            f"{row['avif_bytes']} | {avif['wall_s_median']:.3f} | {avif['peak_mib_median']:.0f} |"
        )
    lines += ["", f"Medians of {data['rounds']} interleaved fresh processes each; {describe_machine(data['machine'])}."]
    return "\n".join(lines)


def rd_efforts_table(name: str = "rd_kodak_efforts.json") -> str:
    """f2dgs per effort against the baselines, from ``name`` (``rd_kodak.py --efforts ... --out name``)."""
    data = _results(name)
    if data is None:
        return _missing(f"python benchmarks/rd_kodak.py --efforts 5 9 --out ...{name}")
    lines = [
        "| effort | target bpp | images | f2dgs bpp | f2dgs PSNR | jpeg PSNR | webp PSNR | avif PSNR | f2dgs MS-SSIM | "
        "jpeg MS-SSIM | f2dgs median encode s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def psnr(entry: dict, codec: str, i: int) -> str:
        r = entry["codecs"].get(codec)
        if r is None or i >= len(r["results"]["psnr-rgb"]):
            return "n/a"
        count = r["images_per_point"][i]
        return f"{r['results']['psnr-rgb'][i]:.2f}" + (f" ({count})" if count < entry["images"] else "")

    for effort, entry in data["efforts"].items():
        codecs = entry["codecs"]
        for i, target in enumerate(data["settings"]["bpps"]):
            if i >= len(codecs["f2dgs"]["results"]["bpp"]):
                continue
            f, j = codecs["f2dgs"]["results"], codecs["jpeg"]["results"]
            lines.append(
                f"| {effort} | {target} | {entry['images']} | {f['bpp'][i]:.3f} | "
                + " | ".join(psnr(entry, c, i) for c in ("f2dgs", "jpeg", "webp", "avif"))
                + f" | {f['ms-ssim-rgb'][i]:.4f} | {j['ms-ssim-rgb'][i]:.4f} | "
                f"{entry['median_encode_s'][str(target)]:.1f} |"
            )
    done = data.get("images_done", data["settings"]["images"])
    lines.append(
        f"\nImages in name order: {done} of {data['settings']['images']} done in this run; an effort with fewer "
        f"images ran on the first ones (its BD-rates compare those images only). PSNR in parentheses: fewer images "
        f"(the codec cannot get that small on every one). Encode s includes the size search. "
        f"{describe_machine(data['machine'])}."
    )
    return "\n".join(lines) + "\n\n" + effort_tables(data)


def large_images_table() -> str:
    """Encode and decode cost per picture size, with WebP and AVIF at the same bytes, from ``large_images.json``."""
    data = _results("large_images.json")
    if data is None:
        return _missing("python benchmarks/large_images.py")
    lines = [
        "| MP | size | bytes | bpp | PSNR | encode s | encode peak MiB | bytes/pixel | decode s | decode peak MiB | "
        "WebP PSNR | WebP encode s | AVIF PSNR | AVIF encode s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["sizes"]:
        others = [
            f"{row['baselines'][name]['psnr']:.2f} | {row['baselines'][name]['encode_s']:.2f}"
            if name in row["baselines"]
            else "n/a | n/a"
            for name in ("webp", "avif")
        ]
        per_pixel = row["encode_peak_mib"] * 2**20 / (row["width"] * row["height"])
        lines.append(
            f"| {row['megapixels']:.1f} | {row['width']}×{row['height']} | {row['bytes']} | {row['bpp']:.3f} | "
            f"{row['psnr']:.2f} | {row['encode_s']:.1f} | {row['encode_peak_mib']:.0f} | {per_pixel:.0f} | "
            f"{row['decode_s']:.2f} | {row['decode_peak_mib']:.0f} | {' | '.join(others)} |"
        )
    upscaled = [row for row in data["sizes"] if "decode_x2" in row]
    if upscaled:
        big = upscaled[-1]["decode_x2"]
        lines.append(
            f"\n`f2dgs decode --scale 2` of the {upscaled[-1]['megapixels']:.1f} MP file ({big['megapixels']:.0f} MP "
            f"out): {big['s']:.2f} s, {big['peak_mib']:.0f} MiB peak."
        )
    load = data["loadavg_start"]
    lines.append(
        f"\nFresh processes, one run per size; {describe_machine(data['machine'])}; load average "
        f"{load[0]:.1f} at the start, {data['loadavg_end'][0]:.1f} at the end (a shared host: the seconds are "
        "inflated by the other work on it, the memory is not)."
    )
    return "\n".join(lines)


def large_steps_table() -> str:
    """A large picture's encode at fewer fine-tuning steps and lower efforts, from ``large_steps.json``."""
    data = _results("large_steps.json")
    if data is None:
        return _missing("python benchmarks/large_steps.py")
    first = data["runs"][0]
    lines = [
        f"{first['megapixels']:.1f} MP ({first['width']}×{first['height']}), quality 60:",
        "",
        "| options | bytes | bpp | PSNR | encode s | encode peak MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in data["runs"]:
        lines.append(
            f"| `{run['options']}` | {run['bytes']} | {run['bpp']:.3f} | {run['psnr']:.2f} | {run['encode_s']:.1f} | "
            f"{run['encode_peak_mib']:.0f} |"
        )
    load = data["loadavg_start"]
    lines.append(
        f"\nFresh `f2dgs encode` processes, one run each; {describe_machine(data['machine'])}; load average "
        f"{load[0]:.1f} at the start, {data['loadavg_end'][0]:.1f} at the end."
    )
    return "\n".join(lines)


def decode_limits_table() -> str:
    """Adversarial `.g2d` files against the decoder's limits, from ``decode_limits.json`` (decode_limits.py)."""
    data = _results("decode_limits.json")
    if data is None:
        return _missing("python benchmarks/decode_limits.py")
    lines = ["| file | bytes | outcome | seconds | peak MiB |", "|---|---:|---|---:|---:|"]
    for row in data["cases"]:
        outcome = row["outcome"] if row["outcome"] == "decoded" else "refused: " + row["outcome"].split(": ", 2)[-1]
        lines.append(f"| {row['file']} | {row['bytes']} | {outcome} | {row['seconds']:.2f} | {row['peak_mib']:.0f} |")
    lines += ["", f"Fresh `f2dgs decode` processes, one run each; {describe_machine(data['machine'])}."]
    return "\n".join(lines)


def baselines_table() -> str:
    """f2dgs at its default quality and effort vs the baselines at f2dgs's own file sizes, from
    ``kodak_default.json``'s ``baselines`` (``kodak-10000.json`` before that existed)."""
    path = RESULTS / "kodak_default.json"
    if not path.exists():
        path = RESULTS / "kodak-10000.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    if not data.get("baselines"):
        return "_No results yet: run `f2dgs bench ... --codecs f2dgs,jpeg,webp,avif`._"
    lines = ["| codec | images | bpp | PSNR dB | MS-SSIM | encode s | decode s |", "|---|" + "---:|" * 6]
    for entry in (data, *data["baselines"].values()):
        r = entry["results"]
        done = len(entry["images"]) - len(entry["failed"])
        lines.append(
            f"| {entry['name']} | {done} | {r['bpp'][0]:.3f} | {r['psnr-rgb'][0]:.2f} | {r['ms-ssim-rgb'][0]:.4f} | "
            f"{r['encoding_time'][0]:.2f} | {r['decoding_time'][0]:.3f} |"
        )
    return "\n".join(lines)


def entropy_coders_table() -> str:
    """Bits per Gaussian of each attribute under zstd and range coding, from ``entropy_coders.json``."""
    data = _results("entropy_coders.json")
    if data is None:
        return _missing("python benchmarks/entropy_coders.py")
    coders = list(data["mean_total"])
    lines = ["| attribute | " + " | ".join(coders) + " |", "|---|" + "---:|" * len(coders)]
    for name, row in data["mean_bits_per_gaussian"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in coders) + " |")
    lines.append("| **total** | " + " | ".join(f"**{data['mean_total'][c]:.2f}**" for c in coders) + " |")
    s = data["settings"]
    lines.append(
        f"\nBits per Gaussian, mean over {len(s['images'])} Kodak images at {s['gaussians']} Gaussians "
        "(grid parameters and chunk framing excluded)."
    )
    return "\n".join(lines)


def train_reproduction_table() -> str:
    """The README training command re-run from scratch vs the shipped card (train_reproduction.py)."""
    path = RESULTS / "train_reproduction.json"
    if not path.exists():
        return "_Not measured yet: run `python benchmarks/train_reproduction.py`._"
    data = json.loads(path.read_text())
    shipped_now = shipped_card()[1].name
    stale = (
        f"**Measured for the previous weights `{data['shipped_weights']}`**, not yet re-run for the shipped "
        f"`{shipped_now}`.\n\n"
        if data["shipped_weights"] != shipped_now
        else ""
    )
    psnr, losses = data["validation_psnr_db"], data["final_losses"]
    per_density = ", ".join(f"{d}: {v:+.3f}" for d, v in data["per_density_difference_db"].items())
    return stale + (
        "| weights | validation PSNR, 0 steps | final KL | final train PSNR |\n|---|---:|---:|---:|\n"
        f"| shipped (`{data['shipped_weights']}`) | {psnr['shipped']:.3f} dB | {losses['shipped']['kl']:.4f} | "
        f"{losses['shipped']['psnr']:.2f} dB |\n"
        f"| re-run from scratch (sha256 `{data['reproduced_sha256'][:8]}`) | {psnr['reproduced']:.3f} dB | "
        f"{losses['reproduced']['kl']:.4f} | {losses['reproduced']['psnr']:.2f} dB |\n\n"
        f"Difference {psnr['difference']:+.3f} dB (per density {per_density}; tolerance ±{data['tolerance_db']} dB); "
        f"wall {data['wall_s'] / 60:.0f} min including the teacher fits, {describe_machine(data['machine'])} "
        "(`python benchmarks/train_reproduction.py`)."
    )


def fuzz_table() -> str:
    """Inputs, outcomes and escapes of each harness of the last long fuzzing run, from ``fuzz.json`` (fuzz.py)."""
    data = _results("fuzz.json")
    if data is None:
        return _missing("python benchmarks/fuzz.py")
    names = {"reader": "`.g2d` reader (`read_g2d`, `describe`)", "images": "image loader (`load_image`)"}
    lines = [
        "| harness | inputs | accepted | escapes | timeouts | slowest input s | inputs/s | minutes |",
        "|---|" + "---:|" * 7,
    ]
    for name, r in data["results"].items():
        lines.append(
            f"| {names.get(name, name)} | {r['inputs']:,} | {r['outcomes'].get('accepted', 0) / r['inputs']:.0%} | "
            f"{r['escapes']} | {r['timeouts']} | {r['slowest_input_s']:.3f} | {r['inputs_per_s']:,.0f} | "
            f"{r['seconds'] / 60:.1f} |"
        )
    for name, r in data["results"].items():
        lines += [f"\n{names.get(name, name)} escape: `{key}` × {e['count']}, {e['message']}"
                  for key, e in r["escapes_by_type"].items()]  # fmt: skip
    machine = data["machine"]
    lines.append(
        f"\nSeed {data['settings']['seed']}; {describe_machine(machine)}, Python {machine['python']}, Pillow "
        f"{machine['pillow']}, zstandard {machine['zstandard']}; run at `nice -n 19` beside other work."
    )
    return "\n".join(lines)


DOCUMENTS: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"headline": headline_table},
    "benchmarks/README.md": {
        "kodak": kodak_table,
        "baselines": baselines_table,
        "rd": rd_table,
        "rd-efforts": rd_efforts_table,
        "rd-rate-aware": lambda: rd_efforts_table("rd_kodak_rate_aware.json"),
        "rd-storage-order": lambda: rd_efforts_table(HEADLINE_RD),
        "entropy-coders": entropy_coders_table,
        "render-speed": render_speed_table,
        "encode-speed": encode_speed_table,
        "encode-command": encode_command_table,
        "decode-speed": decode_speed_table,
        "decode-limits": decode_limits_table,
        "large-images": large_images_table,
        "large-steps": large_steps_table,
        "prior": prior_table,
        "headroom": headroom_table,
        "train-reproduction": train_reproduction_table,
        "fuzz": fuzz_table,
    },
}
"""Per document (relative to the repository root), its tables by marker name."""


def fill(text: str, name: str, table: str) -> str:
    """``text`` with the table between ``name``'s markers replaced by ``table``; ``KeyError`` if they are missing."""
    pattern = re.compile(rf"(<!-- table:{name} -->\n)(?:.*?\n)?(<!-- /table:{name} -->)", re.DOTALL)
    if pattern.search(text) is None:
        raise KeyError(f"no <!-- table:{name} --> … <!-- /table:{name} --> markers")
    return pattern.sub(lambda match: match.group(1) + table + "\n" + match.group(2), text)


def main() -> None:
    for document, tables in DOCUMENTS.items():
        path = ROOT / document
        text = path.read_text(encoding="utf-8")
        for name, build in tables.items():
            try:
                text = fill(text, name, build())
            except KeyError as error:
                raise SystemExit(f"{document}: {error.args[0]}") from None
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
