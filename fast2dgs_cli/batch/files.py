"""One file of a batch: ``run_one(work, job)`` does it and returns its ``FileResult``, whatever happens.

``EncodeWork`` and ``DecodeWork`` are the picklable work of ``encode`` and ``decode`` (a runner ships them to
its worker processes, which call ``warm`` once before their first file). A job that resumes (a batch without
``--force``) is ``skipped`` when its target exists and is valid (a `.g2d` file that reads, an image that
decodes); a broken leftover is redone. A failure of the file (``F2dgsError``) becomes a ``failed`` result.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

from .. import storage
from ..errors import F2dgsError
from ..interrupts import raise_if_interrupted
from ..paths import Job
from .settings import DecodeSettings, EncodeSettings, StepCallback

__all__ = [
    "MAX_INPUT_BYTES", "DecodeWork", "EncodeWork", "FileResult", "Work", "decode_file", "encode_file",
    "prepare_encoder", "run_one",
]  # fmt: skip

MAX_INPUT_BYTES = 1 << 29
"""Largest input file (or stdin) read: far above any image of ``MAX_PIXELS`` or any `.g2d` file, and a bound on
what a stream without end can make the process hold."""
HOST = socket.gethostname()


@dataclass
class FileResult:
    """What happened to one file.

    Attributes:
        job: the job.
        status: ``ok``, ``skipped`` (its output was already there), ``failed`` or ``crashed`` (its worker died).
        message: one line about the file (its figures, or why it failed).
        warnings: lines worth telling the user about an ``ok`` file.
        records: the bench records of the file (``bench_file``).
        bytes: size of the output written.
        bpp: bits per pixel of an encoded file.
        psnr: PSNR of the encoded file's picture, in dB.
        seconds: time the file took in its worker.
        node: the machine (host name, or Ray node id) that did it.
    """

    job: Job
    status: str = "ok"
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    records: tuple = ()
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    seconds: float | None = None
    node: str = ""

    def record(self) -> dict[str, object]:
        """The manifest's line for this file."""
        failed = self.status in ("failed", "crashed")
        return {
            "input": "-" if self.job.source is None else str(self.job.source),
            "output": "-" if self.job.target is None else str(self.job.target),
            "status": self.status, "error": self.message if failed else "", "bytes": self.bytes, "bpp": self.bpp,
            "psnr": None if self.psnr is None else round(self.psnr, 4),
            "seconds": None if self.seconds is None else round(self.seconds, 3), "node": self.node,
        }  # fmt: skip


def prepare_encoder(settings: EncodeSettings) -> tuple[float, bool]:
    """Compile (first run on a machine) or load the encoder's kernels: ``(seconds, whether it compiled)``."""
    from ..codec import prepare_encoder as prepare

    seconds, compiled = prepare(settings.options())
    raise_if_interrupted()
    return seconds, compiled


def _read(job: Job) -> bytes:
    """The job's input, at most ``MAX_INPUT_BYTES`` of it (``F2dgsError`` beyond, or when it cannot be read)."""
    if job.source is None:
        try:
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        except OSError as error:
            raise F2dgsError(f"cannot read stdin: {error.strerror}") from None
    else:
        data = storage.read_bytes(job.source, MAX_INPUT_BYTES)
    if len(data) > MAX_INPUT_BYTES:
        name = "stdin" if job.source is None else str(job.source)
        raise F2dgsError(f"{name} holds more than {MAX_INPUT_BYTES} bytes, the input limit")
    return data


def _write(job: Job, data: bytes) -> None:
    """Write the job's output: whole, to its file or object, never replacing one unless ``job.overwrite``; or
    stdout."""
    if job.target is not None:
        storage.write_bytes(job.target, data, job.overwrite)
        return
    if sys.stdout is None:
        raise F2dgsError("cannot write to stdout: it is closed")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as error:
        raise F2dgsError(f"cannot write to stdout: {error.strerror or error}") from None


def encode_file(job: Job, settings: EncodeSettings, on_step: StepCallback | None = None) -> FileResult:
    """Encode one image file (or stdin) to its `.g2d` target (or stdout)."""
    import torch

    from ..imageio import load_image
    from ..rate import encode_at_rate

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
    return FileResult(job, "ok", message, warnings, bytes=len(result.data), bpp=bpp, psnr=float(result.psnr))


def decode_file(job: Job, settings: DecodeSettings) -> FileResult:
    """Decode one `.g2d` file (or stdin) to its image target (or stdout, PNG)."""
    from ..decode import decode_picture

    suffix = "" if job.target is None else storage.suffix(job.target)
    picture, (height, width) = decode_picture(
        _read(job), suffix, settings.width, settings.height, settings.scale, settings.backend, settings.max_pixels
    )
    _write(job, picture)
    return FileResult(job, "ok", f"decoded at {width}x{height}", bytes=len(picture))


def _valid_g2d(data: bytes) -> bool:
    from ..container import read_g2d

    try:
        read_g2d(data)
    except F2dgsError:
        return False
    return True


def _valid_image(data: bytes) -> bool:
    from ..imageio import load_image

    try:
        load_image(data)
    except F2dgsError:
        return False
    return True


class Work(Protocol):
    """The work of a command on one file, picklable so that a runner can ship it to its workers."""

    def warm(self) -> None:
        """Load what every file needs (kernels, networks) once, before the first file."""

    def valid(self, data: bytes) -> bool:
        """Whether ``data``, an existing output, is complete (a resumed batch then skips the file)."""

    def __call__(self, job: Job, on_step: StepCallback | None = None) -> FileResult:
        """Do the file; raise ``F2dgsError`` when it fails."""


@dataclass(frozen=True)
class EncodeWork:
    """``encode_file`` with its settings, for a runner to ship to its workers."""

    settings: EncodeSettings

    def warm(self) -> None:
        """Load (or compile) the kernels and networks before the first file."""
        prepare_encoder(self.settings)

    def valid(self, data: bytes) -> bool:
        """Whether an existing output is a complete `.g2d` file."""
        return _valid_g2d(data)

    def __call__(self, job: Job, on_step: StepCallback | None = None) -> FileResult:
        return encode_file(job, self.settings, on_step)


@dataclass(frozen=True)
class DecodeWork:
    """``decode_file`` with its settings, for a runner to ship to its workers."""

    settings: DecodeSettings

    def warm(self) -> None:
        """Import the decoder (its kernels load from numba's cache)."""
        from .. import decode  # noqa: F401

    def valid(self, data: bytes) -> bool:
        """Whether an existing output is an image that decodes."""
        return _valid_image(data)

    def __call__(self, job: Job, on_step: StepCallback | None = None) -> FileResult:
        return decode_file(job, self.settings)


def _resumed(job: Job, work: Work) -> tuple[Job, bool]:
    """``(job, done)``: whether a resuming job's valid output is already there; a broken one is redone."""
    if not job.resume or job.target is None or not storage.exists(job.target):
        return job, False
    try:
        done = work.valid(storage.read_bytes(job.target, MAX_INPUT_BYTES))
    except F2dgsError:
        done = False
    return (job, True) if done else (dataclasses.replace(job, overwrite=True), False)


def run_one(
    work: Work, job: Job, on_step: StepCallback | None = None, node: str = HOST
) -> FileResult:
    """Do one job: ``skipped`` when its valid output exists (resuming), ``failed`` on the file's
    ``F2dgsError``; a ``SetupError`` (every file would meet it) is raised."""
    from ..errors import SetupError

    start = time.perf_counter()
    try:
        if job.error:
            raise F2dgsError(job.error)
        resumed, done = _resumed(job, work)
        result = FileResult(job, "skipped", "output exists") if done else work(resumed, on_step)
    except SetupError:
        raise
    except F2dgsError as error:
        result = FileResult(job, "failed", str(error))
    result.job = job
    result.seconds = time.perf_counter() - start
    result.node = node
    return result
