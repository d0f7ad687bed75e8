"""Presentation of results: Rich tables, CSV and JSON for ``bench``. No computation here.

The tables stay readable in an 80-column terminal: few, narrow columns, and image names never cut.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, fields
from pathlib import Path

from rich import box
from rich.table import Table

from .bench import BaselineRecord, ImageRecord
from .imageio import atomic_write

__all__ = ["baseline_table", "bench_csv", "bench_table", "write_bench_reports"]

_COLUMNS = [
    ("image", "image", "{}"),
    ("N", "gaussians", "{}"),
    ("bpp", "bpp", "{:.3f}"),
    ("PSNR", "psnr", "{:.2f}"),
    ("MS-SSIM", "ms_ssim", "{:.4f}"),
    ("enc s", "encode_s", "{:.2f}"),
    ("dec s", "decode_s", "{:.3f}"),
    ("FPS", "render_fps", "{:.0f}"),
]


def _cell(record: ImageRecord, attr: str, fmt: str) -> str:
    if record.error and attr != "image":
        return "failed" if attr == "gaussians" else ""
    value = getattr(record, attr)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return fmt.format(value)


def bench_table(records: list[ImageRecord], summary: dict) -> Table:
    """A table of every image plus a row of means (from ``summary``)."""
    backend = summary["settings"]["backend"]
    table = Table(title=f"f2dgs bench ({backend} backend)", title_justify="left", box=box.SIMPLE_HEAD)
    for header, _, _ in _COLUMNS:
        table.add_column(header, justify="left" if header == "image" else "right", no_wrap=True)
    for record in records:
        table.add_row(*(_cell(record, attr, fmt) for _, attr, fmt in _COLUMNS))
    results = summary["results"]
    means = {
        "bpp": results["bpp"][0],
        "PSNR": results["psnr-rgb"][0],
        "MS-SSIM": results["ms-ssim-rgb"][0],
        "enc s": results["encoding_time"][0],
        "dec s": results["decoding_time"][0],
        "FPS": summary["render_fps"][0],
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
    table = Table(title="f2dgs vs baselines at the same file size (means)", title_justify="left", box=box.SIMPLE_HEAD)
    for header in ("codec", "images", "bpp", "PSNR", "MS-SSIM", "enc s", "dec s"):
        table.add_column(header, justify="left" if header == "codec" else "right", no_wrap=True)
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


def write_bench_reports(
    summary: dict,
    records: list[ImageRecord],
    baselines: list[BaselineRecord],
    json_path: Path | None = None,
    csv_path: Path | None = None,
) -> None:
    """Write the summary as JSON and the per-image records as CSV, each atomically, where a path is given."""
    if json_path is not None:
        atomic_write(json_path, (json.dumps(summary, indent=2) + "\n").encode())
    if csv_path is not None:
        atomic_write(csv_path, bench_csv(records, baselines).encode())
