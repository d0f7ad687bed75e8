"""Presentation of results: Rich tables and CSV for ``bench``, text for ``info``. No computation here."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, fields

from rich.table import Table

from .bench import BaselineRecord, ImageRecord

__all__ = ["baseline_table", "bench_table", "bench_csv"]

_COLUMNS = [
    ("image", "image", "{}"),
    ("size", None, "{}"),
    ("N", "gaussians", "{}"),
    ("bytes", "bytes", "{}"),
    ("bpp", "bpp", "{:.3f}"),
    ("PSNR", "psnr", "{:.2f}"),
    ("MS-SSIM", "ms_ssim", "{:.4f}"),
    ("encode s", "encode_s", "{:.2f}"),
    ("decode s", "decode_s", "{:.3f}"),
    ("render FPS", "render_fps", "{:.1f}"),
    ("error", "error", "{}"),
]


def _cell(record: ImageRecord, attr: str | None, fmt: str) -> str:
    if attr is None:
        return f"{record.width}x{record.height}" if not record.error else ""
    value = getattr(record, attr)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return fmt.format(value)


def bench_table(records: list[ImageRecord], summary: dict) -> Table:
    """A table of every image plus a row of means (from ``summary``)."""
    backend = summary["settings"]["backend"]
    table = Table(title=f"f2dgs bench ({backend} backend)", title_justify="left")
    for header, _, _ in _COLUMNS:
        table.add_column(header, justify="left" if header in ("image", "error") else "right")
    for record in records:
        table.add_row(*(_cell(record, attr, fmt) for _, attr, fmt in _COLUMNS))
    results = summary["results"]
    means = {
        "bpp": results["bpp"][0],
        "PSNR": results["psnr-rgb"][0],
        "MS-SSIM": results["ms-ssim-rgb"][0],
        "encode s": results["encoding_time"][0],
        "decode s": results["decoding_time"][0],
        "render FPS": summary["render_fps"][0],
    }
    row = []
    for header, _, fmt in _COLUMNS:
        value = means.get(header)
        row.append("mean" if header == "image" else "" if value is None else fmt.format(value))
    table.add_section()
    table.add_row(*row, style="bold")
    return table


def baseline_table(summary: dict) -> Table:
    """Means of f2dgs and of each baseline codec (each baseline at most f2dgs's bytes on every image)."""
    table = Table(title="f2dgs vs baselines at the same file size (means)", title_justify="left")
    for header in ("codec", "images", "bpp", "PSNR", "MS-SSIM", "encode s", "decode s"):
        table.add_column(header, justify="left" if header == "codec" else "right")
    entries = [summary, *summary["baselines"].values()]
    for entry in entries:
        r = entry["results"]
        cells = [r["bpp"][0], r["psnr-rgb"][0], r["ms-ssim-rgb"][0], r["encoding_time"][0], r["decoding_time"][0]]
        formats = ("{:.3f}", "{:.2f}", "{:.4f}", "{:.2f}", "{:.3f}")
        done = len(entry["images"]) - len(entry["failed"])
        table.add_row(
            entry["name"], str(done), *("" if v is None else f.format(v) for v, f in zip(cells, formats))
        )
    return table


def bench_csv(records: list[ImageRecord], baselines: list[BaselineRecord] = ()) -> str:
    """Per-image records as CSV text: one header line, one line per image and codec (``codec`` column)."""
    names = ["codec", *(f.name for f in fields(ImageRecord))]
    names += [f.name for f in fields(BaselineRecord) if f.name not in names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", restval="")
    writer.writeheader()
    for record in records:
        writer.writerow({"codec": "f2dgs", **asdict(record)})
    for baseline in baselines:
        writer.writerow(asdict(baseline))
    return buffer.getvalue()
