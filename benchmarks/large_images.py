"""Photos at the sizes people take them: whole-process ``f2dgs encode`` and ``decode`` from 0.4 to 48 megapixels.

One training photograph (default: a 1024×768 SUN photograph of buildings) is resized with Lanczos to each size
(4:3). For each size, in fresh processes as a user runs them: ``f2dgs encode`` at the default settings
(``--max-pixels`` raised above the default limit) and ``f2dgs decode`` of its file, wall time and peak
resident memory (``ru_maxrss``); the decoded picture's PSNR and bits per pixel; and Pillow's WebP and AVIF at
the highest quality within the `.g2d` file's bytes, their PSNR and the seconds of their final encode. Then the
largest file at most 12 megapixels is decoded at four times its pixels (``--scale 2``). Photographs enlarged from
1024 pixels hold no detail finer than the original's, so the PSNR of the large sizes is high for every codec; the
times and memory are what the sizes cost.

    python benchmarks/large_images.py --sizes 0.4 1.2 3 12 24 48
    python benchmarks/large_images.py --sizes 48 --add     # one more size beside the rows already written

Writes ``benchmarks/results/large_images.json`` and ``large_images.png`` (time and memory against
megapixels; needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
from pathlib import Path

from common import RESULTS, ROOT, f2dgs_command, machine_info, measure_process, write_json

from fast2dgs_cli.imageio import MAX_PIXELS

TRAIN = ROOT.parent / "shared" / "data" / "train"
SOURCE = TRAIN / "sun_hays80" / "village_sun_abdgedtspkcucrao.jpg"
UPSCALED_DECODE_LIMIT = 12.5e6
"""The ``--scale 2`` decode is of the largest file of at most this many pixels (a 48-megapixel output)."""


def size_for(megapixels: float) -> tuple[int, int]:
    """``(width, height)`` of a 4:3 picture of about ``megapixels``, both even."""
    width = 2 * round(math.sqrt(megapixels * 1e6 * 4 / 3) / 2)
    return width, 2 * round(width * 3 / 8)


def _psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


def _baselines(pixels, max_bytes: int) -> dict[str, dict]:
    from fast2dgs_cli.baselines import BASELINES, encode_within

    found = {}
    for name in ("webp", "avif"):
        result = encode_within(BASELINES[name], pixels, max_bytes)
        if result is not None:
            found[name] = {
                "bytes": len(result.data),
                "psnr": round(_psnr(result.decoded, pixels), 3),
                "encode_s": round(result.encode_s, 3),
                "quality": result.quality,
            }
    return found


def resized_photo(source: Path, megapixels: float, folder: Path) -> Path:
    """``source`` resized with Lanczos to the 4:3 picture of about ``megapixels`` (``size_for``), as a PNG in
    ``folder``."""
    from PIL import Image

    width, height = size_for(megapixels)
    image = folder / f"photo-{width}x{height}.png"
    with Image.open(source) as opened:
        opened.convert("RGB").resize((width, height), Image.LANCZOS).save(image)
    return image


def encode_and_decode(image: Path, folder: Path, options: tuple[str, ...] = ()) -> dict:
    """``f2dgs encode image`` with ``options`` and ``f2dgs decode`` of its file, each in a fresh process: the
    file's bytes and bits per pixel, the decoded picture's PSNR, and each command's wall seconds and peak MiB."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(image).convert("RGB"))
    height, width = pixels.shape[:2]
    g2d, decoded = folder / "photo.g2d", folder / "decoded.png"
    limit = ["--max-pixels", str(width * height)] if width * height > MAX_PIXELS else []  # above the default
    encode = measure_process([*f2dgs_command(), "encode", str(image), "-o", str(g2d), "--force", *limit, *options])
    decode = measure_process([*f2dgs_command(), "decode", str(g2d), "-o", str(decoded), "--force", *limit])
    size = g2d.stat().st_size
    return {
        "megapixels": round(width * height / 1e6, 3),
        "width": width,
        "height": height,
        "bytes": size,
        "bpp": round(8 * size / (width * height), 4),
        "psnr": round(_psnr(np.asarray(Image.open(decoded).convert("RGB")), pixels), 3),
        "encode_s": round(encode[0], 2),
        "encode_peak_mib": round(encode[1], 1),
        "decode_s": round(decode[0], 3),
        "decode_peak_mib": round(decode[1], 1),
    }


def measure_size(source: Path, megapixels: float, folder: Path) -> dict:
    """Encode, decode and compare one size; return its row."""
    import numpy as np
    from PIL import Image

    image = resized_photo(source, megapixels, folder)
    row = encode_and_decode(image, folder)
    width, height, g2d = row["width"], row["height"], folder / "photo.g2d"
    row["baselines"] = _baselines(np.asarray(Image.open(image).convert("RGB")), row["bytes"])
    if width * height <= UPSCALED_DECODE_LIMIT:
        big = measure_process([*f2dgs_command(), "decode", str(g2d), "-o", str(folder / "decoded.png"), "--force",
                               "--scale", "2", "--max-pixels", str(4 * width * height)])  # fmt: skip
        row["decode_x2"] = {"megapixels": round(4 * width * height / 1e6, 2), "s": round(big[0], 3),
                            "peak_mib": round(big[1], 1)}  # fmt: skip
    return row


def warm_kernels(folder: Path) -> None:
    """Encode the bundled sample once, so that the timed commands find the kernels compiled and cached."""
    sample = ROOT / "tests" / "data" / "kodim23-384x256.png"
    subprocess.run([*f2dgs_command(), "encode", str(sample), "-o", str(folder / "warm.g2d"), "-n", "300"], check=True)


def plot(rows: list[dict], path: Path) -> None:
    """Encode and decode seconds and peak MiB against megapixels, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mp = [row["megapixels"] for row in rows]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("encode", "f2dgs encode"), ("decode", "f2dgs decode")):
        time_axis.plot(mp, [row[f"{key}_s"] for row in rows], "o-", label=label)
        memory_axis.plot(mp, [row[f"{key}_peak_mib"] for row in rows], "o-", label=label)
    for name in ("webp", "avif"):
        points = [(row["megapixels"], row["baselines"][name]["encode_s"]) for row in rows if name in row["baselines"]]
        time_axis.plot(*zip(*points), "s--", label=f"{name.upper() if name == 'avif' else 'WebP'} encode")
    memory_axis.plot(mp, [200 * m * 1e6 / 2**20 for m in mp], ":", color="grey", label="200 bytes per pixel")
    for axis, title in ((time_axis, "wall seconds"), (memory_axis, "peak MiB")):
        axis.set(xscale="log", yscale="log", xlabel="megapixels", title=title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=SOURCE, help="the photograph to resize")
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.4, 1.2, 3, 12, 24], help="megapixels")
    parser.add_argument("--out", type=Path, default=RESULTS / "large_images.json")
    parser.add_argument("--add", action="store_true", help="add the sizes to the rows already in --out")
    args = parser.parse_args()
    rows = json.loads(args.out.read_text())["sizes"] if args.add else []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        warm_kernels(Path(scratch))
        for megapixels in args.sizes:
            rows.append(measure_size(args.source, megapixels, Path(scratch)))
            print({key: value for key, value in rows[-1].items() if key != "baselines"}, rows[-1]["baselines"])
            rows.sort(key=lambda row: row["megapixels"])
            write_json(args.out, _document(args.source, rows, load))
    plot(rows, args.out.with_suffix(".png"))


def _document(source: Path, rows: list[dict], load: tuple[float, float, float]) -> dict:
    return {
        "source": source.name,
        "settings": "f2dgs encode defaults (quality 60, effort 5); fresh processes",
        "loadavg_start": [round(x, 2) for x in load],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "sizes": rows,
        "machine": machine_info(),
    }


if __name__ == "__main__":
    main()
