"""Batches: the files of one command as jobs, one library function per file, and the loop that runs them.

```
plan_jobs(inputs, -o) ──► [Job] ──run_batch(work)──► [FileResult]   (work: encode_file | decode_file | bench_file)
```
Each ``*_file`` function does one file and returns a ``FileResult``; a failure of that file (``F2dgsError``)
becomes a ``failed`` result and the batch goes on, while a ``SetupError`` (a backend or the networks cannot
run here) stops it. Nothing here prints: the caller shows progress and results. Importing this module loads
neither torch nor the encoder; the functions load them when first called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .choices import (
    DEFAULT_GAUSSIANS,
    DEFAULT_QUALITY,
    DEFAULT_STEPS,
    MAX_DEFAULT_STEPS,
    Backend,
    InitMethod,
    Loss,
    RateChoice,
)
from .container import MAX_GAUSSIANS
from .effort import DEFAULT_EFFORT, effort_level
from .errors import F2dgsError, SetupError
from .imageio import MAX_PIXELS, MAX_SIDE, OUTPUT_FORMATS, atomic_write
from .interrupts import raise_if_interrupted
from .paths import IMAGE_SUFFIXES, Job, plan_jobs

__all__ = [
    "DEFAULT_EFFORT",
    "DEFAULT_GAUSSIANS",
    "DEFAULT_QUALITY",
    "DEFAULT_STEPS",
    "MAX_DEFAULT_STEPS",
    "MAX_GAUSSIANS",
    "MAX_INPUT_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "Backend",
    "DecodeSettings",
    "EncodeSettings",
    "FileResult",
    "InitMethod",
    "Job",
    "Loss",
    "StepCallback",
    "baseline_codecs",
    "bench_file",
    "bench_summary",
    "decode_file",
    "encode_file",
    "plan_bench",
    "plan_decode",
    "plan_encode",
    "prepare_encoder",
    "run_batch",
]

StepCallback = Callable[[int, int, float], None]
"""Fine-tuning progress: ``(step, total steps, loss)``."""
MAX_INPUT_BYTES = 1 << 29
"""Largest input file (or stdin) read: far above any image of ``MAX_PIXELS`` or any `.g2d` file, and a bound on
what a stream without end can make the process hold."""


@dataclass(frozen=True)
class EncodeSettings:
    """Everything ``encode_file`` and ``bench_file`` need besides the file (see ``f2dgs encode --help``)."""

    quality: float | None = None
    bpp: float | None = None
    gaussians: int | None = None
    steps: int | None = None
    time_budget: float | None = None
    seed: int = 0
    init: InitMethod = InitMethod.PRIOR
    loss: Loss = Loss.MSE
    backend: Backend = Backend.AUTO
    max_pixels: int = MAX_PIXELS
    effort: int = DEFAULT_EFFORT

    def __post_init__(self) -> None:
        effort_level(self.effort)  # each raises ValueError for settings that cannot work
        _ = self.rate

    @property
    def rate(self) -> RateChoice:
        """The rate choice (at most one of quality, bpp, Gaussians)."""
        return RateChoice(self.quality, self.bpp, self.gaussians)

    def options(self):  # -> codec.EncodeOptions (imported lazily: it needs torch)
        """The codec's ``EncodeOptions`` for these settings (the budget: ``gaussians`` or the default)."""
        from .codec import EncodeOptions
        from .encoder.fit import FitConfig

        fit = FitConfig(steps=self.steps, time_budget=self.time_budget, loss=self.loss)
        budget = self.gaussians or DEFAULT_GAUSSIANS
        return EncodeOptions(
            gaussians=budget, fit=fit, seed=self.seed, init=self.init, backend=self.backend, effort=self.effort
        )


@dataclass(frozen=True)
class DecodeSettings:
    """Output size (at most one of a scale or a width/height) and renderer of ``decode_file``."""

    width: int | None = None
    height: int | None = None
    scale: float | None = None
    backend: Backend = Backend.AUTO
    max_pixels: int = MAX_PIXELS


@dataclass
class FileResult:
    """What happened to one file.

    Attributes:
        job: the job.
        status: ``ok`` or ``failed``.
        message: one line about the file (its figures, or why it failed).
        warnings: lines worth telling the user about an ``ok`` file.
        records: the bench records of the file (``bench_file``).
    """

    job: Job
    status: str = "ok"
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    records: tuple = ()


def plan_encode(inputs: list[str], output: str | None, force: bool) -> list[Job]:
    """Jobs of ``f2dgs encode``: images (files, folders, ``-``) to `.g2d` files (``paths.plan_jobs``)."""
    return plan_jobs(inputs, output, (".g2d",), force, accept=IMAGE_SUFFIXES)


def plan_decode(inputs: list[str], output: str | None, force: bool) -> list[Job]:
    """Jobs of ``f2dgs decode``: `.g2d` files (files, folders, ``-``) to images, PNG unless named otherwise."""
    return plan_jobs(inputs, output, tuple(OUTPUT_FORMATS), force, accept=(".g2d",))


def plan_bench(folder: Path) -> list[Job]:
    """Jobs of ``f2dgs bench``: every image of ``folder``, by name (no outputs)."""
    if not folder.is_dir():
        raise F2dgsError(f"{folder} is not a folder")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise F2dgsError(f"no images in {folder}")
    return [Job(path.name, path, None) for path in images]


def prepare_encoder(settings: EncodeSettings) -> tuple[float, bool]:
    """Compile (first run on a machine) or load the encoder's kernels: ``(seconds, whether it compiled)``."""
    from .codec import prepare_encoder as prepare

    seconds, compiled = prepare(settings.options())
    raise_if_interrupted()
    return seconds, compiled


def baseline_codecs(codecs: str) -> list[str]:
    """Parse ``bench --codecs`` (``f2dgs`` plus baselines): the baselines' names. Raises ``ValueError`` for an
    unknown name or a list without f2dgs, ``SetupError`` for a codec this Pillow build cannot write."""
    from .baselines import BASELINES, available_baselines

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
    from .bench import summarize

    records = [r.records[0] for r in results if r.records]
    baseline_records = [b for r in results if r.records for b in r.records[1]]
    summary = summarize(records, settings.options(), str(folder), baseline_records, settings.rate)
    return summary, records, baseline_records


def _read(job: Job) -> bytes:
    """The job's input, at most ``MAX_INPUT_BYTES`` of it (``F2dgsError`` beyond, or when it cannot be read)."""
    name = "stdin" if job.source is None else str(job.source)
    try:
        if job.source is None:
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(job.source, "rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        raise F2dgsError(f"cannot read {name}: {error.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise F2dgsError(f"{name} holds more than {MAX_INPUT_BYTES} bytes, the input limit")
    return data


def _write(job: Job, data: bytes) -> None:
    """Write the job's output: atomically to its file, never replacing one unless ``job.overwrite``; or stdout."""
    if job.target is None:
        if sys.stdout is None:
            raise F2dgsError("cannot write to stdout: it is closed")
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as error:
            raise F2dgsError(f"cannot write to stdout: {error.strerror or error}") from None
        return
    try:
        atomic_write(job.target, data, overwrite=job.overwrite)
    except FileExistsError:
        raise F2dgsError(f"{job.target} exists (use --force to overwrite)") from None
    except OSError as error:
        raise F2dgsError(f"cannot write {job.target}: {error.strerror}") from None


def encode_file(job: Job, settings: EncodeSettings, on_step: StepCallback | None = None) -> FileResult:
    """Encode one image file (or stdin) to its `.g2d` target (or stdout)."""
    import torch

    from .imageio import load_image
    from .rate import encode_at_rate

    image = load_image(_read(job), settings.max_pixels)
    height, width = image.pixels.shape[:2]
    warnings = ["alpha channel discarded"] if image.had_alpha else []
    if settings.gaussians is not None and settings.gaussians > height * width:
        warnings.append(f"{settings.gaussians} Gaussians asked for {height * width} pixels; using one per pixel")
    result = encode_at_rate(torch.from_numpy(image.pixels), settings.rate, settings.options(), on_step)
    _write(job, result.data)
    bpp = 8 * len(result.data) / (width * height)
    message = (
        f"{width}x{height}, N={result.count}, {len(result.data)} bytes, {bpp:.3f} bpp, {result.psnr:.2f} dB, "
        f"{sum(result.seconds.values()):.1f} s ({result.steps} steps, effort {settings.effort}, {result.backend.value})"
    )
    return FileResult(job, "ok", message, warnings)


def decode_file(job: Job, settings: DecodeSettings) -> FileResult:
    """Decode one `.g2d` file (or stdin) to its image target (or stdout, PNG)."""
    from .decode import decode_picture

    suffix = "" if job.target is None else job.target.suffix
    picture, (height, width) = decode_picture(
        _read(job), suffix, settings.width, settings.height, settings.scale, settings.backend, settings.max_pixels
    )
    _write(job, picture)
    return FileResult(job, "ok", f"decoded at {width}x{height}")


def bench_file(
    job: Job, settings: EncodeSettings, baselines: list[str], on_step: StepCallback | None = None
) -> FileResult:
    """Encode, decode and measure one image, then each baseline codec at most its bytes (``bench``)."""
    from .bench import bench_baselines, bench_image

    if job.source is None:
        raise F2dgsError("bench reads image files, not stdin")
    record = bench_image(job.source, settings.options(), on_step, settings.rate)
    if record.error:
        return FileResult(job, "failed", record.error, records=(record, []))
    others = bench_baselines(job.source, record.bytes, baselines) if baselines else []
    message = f"{record.bytes} bytes, {record.bpp:.3f} bpp, {record.psnr:.2f} dB"
    return FileResult(job, "ok", message, records=(record, others))


def run_batch(
    jobs: list[Job],
    work: Callable[[Job, StepCallback | None], FileResult],
    on_start: Callable[[Job], StepCallback | None] = lambda job: None,
    on_done: Callable[[FileResult], None] = lambda result: None,
) -> list[FileResult]:
    """Run ``work`` on every job in order; a file's ``F2dgsError`` makes a ``failed`` result and the batch
    goes on. Raises ``SetupError`` (which every file would meet) at once."""
    results = []
    for job in jobs:
        raise_if_interrupted()
        on_step = on_start(job)
        try:
            if job.error:
                raise F2dgsError(job.error)
            result = work(job, on_step)
        except SetupError:
            raise
        except F2dgsError as error:
            result = FileResult(job, "failed", str(error))
        results.append(result)
        on_done(result)
    return results
