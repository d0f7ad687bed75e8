"""``f2dgs bench`` per file: encode, decode and measure one image, then the baseline codecs at its bytes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import F2dgsError, SetupError
from ..paths import Job
from .files import FileResult, prepare_encoder
from .settings import EncodeSettings, StepCallback

__all__ = ["BenchWork", "baseline_codecs", "bench_file", "bench_summary"]


def baseline_codecs(codecs: str) -> list[str]:
    """Parse ``bench --codecs`` (``f2dgs`` plus baselines): the baselines' names. Raises ``ValueError`` for an
    unknown name or a list without f2dgs, ``SetupError`` for a codec this Pillow build cannot write."""
    from ..baselines import BASELINES, available_baselines

    names = [name.strip().lower() for name in codecs.split(",") if name.strip()]
    unknown = [name for name in names if name != "f2dgs" and name not in BASELINES]
    if unknown or "f2dgs" not in names:
        problem = f"unknown codec(s) {', '.join(unknown)}" if unknown else "f2dgs must be one of the codecs"
        raise ValueError(f"{problem} (choose from f2dgs, {', '.join(BASELINES)})")
    missing = [name for name in names if name in BASELINES and name not in available_baselines()]
    if missing:
        raise SetupError(f"this Pillow build cannot write {', '.join(missing)}")
    return list(dict.fromkeys(name for name in names if name != "f2dgs"))


def bench_summary(results: list[FileResult], settings: EncodeSettings, folder: Path) -> tuple[dict, list, list]:
    """``bench.summarize`` of ``bench_file`` results: ``(summary, f2dgs records, baseline records)``."""
    from ..bench import summarize

    records = [r.records[0] for r in results if r.records]
    baseline_records = [b for r in results if r.records for b in r.records[1]]
    summary = summarize(records, settings.options(), str(folder), baseline_records, settings.rate)
    return summary, records, baseline_records


def bench_file(
    job: Job, settings: EncodeSettings, baselines: list[str], on_step: StepCallback | None = None
) -> FileResult:
    """Encode, decode and measure one image, then each baseline codec at most its bytes (``bench``)."""
    from ..bench import bench_baselines, bench_image

    if not isinstance(job.source, Path):
        raise F2dgsError("bench reads local image files")
    record = bench_image(job.source, settings.options(), on_step, settings.rate)
    if record.error:
        return FileResult(job, "failed", record.error, records=(record, []))
    others = bench_baselines(job.source, record.bytes, baselines) if baselines else []
    message = f"{record.bytes} bytes, {record.bpp:.3f} bpp, {record.psnr:.2f} dB"
    return FileResult(job, "ok", message, records=(record, others), bytes=record.bytes, bpp=record.bpp,
                      psnr=record.psnr)  # fmt: skip


@dataclass(frozen=True)
class BenchWork:
    """``bench_file`` with its settings and baselines (``files.Work``)."""

    settings: EncodeSettings
    baselines: tuple[str, ...] = ()

    def warm(self) -> None:
        """Load (or compile) the encoder's kernels before the first file."""
        prepare_encoder(self.settings)

    def valid(self, data: bytes) -> bool:
        """Bench writes no output: nothing is ever already done."""
        return False

    def __call__(self, job: Job, on_step: StepCallback | None = None) -> FileResult:
        return bench_file(job, self.settings, list(self.baselines), on_step)
