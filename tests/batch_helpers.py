"""Shared by the batch tests: tiny image folders, a work that kills its worker on chosen files, and readers of
outputs and manifests. Worker processes (the local pool's, Ray's) import this module by name."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fast2dgs_cli import batch

SETTINGS = batch.EncodeSettings(gaussians=40, steps=3)
"""Tiny, fast encodes."""


def make_folder(root: Path, names: tuple[str, ...] = ("a", "b", "sub/c", "sub/deeper/d")) -> Path:
    """A folder of small distinct PNG images (``sub/…`` names make a tree)."""
    for number, name in enumerate(names):
        path = root / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(number).integers(0, 255, (16 + 2 * number, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
    return root


def outputs(folder: Path, suffix: str = ".g2d") -> dict[str, bytes]:
    """The outputs under ``folder`` by relative path, with their bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob(f"*{suffix}"))}


def leftovers(folder: Path) -> list[str]:
    """Temporary files of interrupted writes under ``folder``."""
    return [p.name for p in folder.rglob(".f2dgs-*")]


def statuses(records: list[dict]) -> dict[str, list[str]]:
    """Each input's statuses, in the order the manifest recorded them, keyed by the input's stem."""
    found: dict[str, list[str]] = {}
    for record in records:
        found.setdefault(Path(record["input"]).stem, []).append(record["status"])
    return found


@dataclass(frozen=True)
class KillingWork:
    """``EncodeWork`` whose worker dies (SIGKILL) on the file named ``always``, and on the file named ``once``
    the first time only (a marker file remembers it across processes)."""

    inner: batch.EncodeWork
    always: str = ""
    once: str = ""
    marker: str = ""

    def warm(self) -> None:
        self.inner.warm()

    def valid(self, data: bytes) -> bool:
        return self.inner.valid(data)

    def __call__(self, job: batch.Job, on_step=None) -> batch.FileResult:
        stem = Path(str(job.source)).stem
        if stem == self.always:
            os.kill(os.getpid(), signal.SIGKILL)
        if stem == self.once:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                os.kill(os.getpid(), signal.SIGKILL)
            except FileExistsError:
                pass
        return self.inner(job, on_step)


@dataclass(frozen=True)
class GatheringWork:
    """``EncodeWork`` whose workers each wait, once warm, until ``peers`` workers are warm (marker files in
    ``folder``), so that every worker is ready before the first file and all of them get files."""

    inner: batch.EncodeWork
    folder: str
    peers: int = 2

    def warm(self) -> None:
        self.inner.warm()
        Path(self.folder, f"warm-{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while len(list(Path(self.folder).glob("warm-*"))) < self.peers and time.monotonic() < deadline:
            time.sleep(0.05)

    def valid(self, data: bytes) -> bool:
        return self.inner.valid(data)

    def __call__(self, job: batch.Job, on_step=None) -> batch.FileResult:
        return self.inner(job, on_step)


def stop_after(count: int) -> Callable[[batch.FileResult], None]:
    """An ``on_done`` callback that interrupts a batch (``KeyboardInterrupt``) once ``count`` files ended."""
    done: list[batch.FileResult] = []

    def on_done(result: batch.FileResult) -> None:
        done.append(result)
        if len(done) == count:
            raise KeyboardInterrupt

    return on_done
