"""The jobs of ``encode``, ``decode`` and ``bench``, the ``--from-list`` file, and where the manifest goes."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import F2dgsError, RequestError
from ..imageio import OUTPUT_FORMATS
from ..paths import IMAGE_SUFFIXES, Job, plan_jobs
from ..storage import is_url

__all__ = ["MANIFEST_NAME", "default_manifest", "plan_bench", "plan_decode", "plan_encode", "read_list"]

MANIFEST_NAME = "f2dgs-manifest.jsonl"


def read_list(path: Path) -> list[str]:
    """The inputs named in a ``--from-list`` file: one path or URL a line; blank lines and ``#`` lines skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RequestError(f"cannot read the list {path}: {getattr(error, 'strerror', None) or error}") from None
    inputs = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not inputs:
        raise RequestError(f"the list {path} names no input")
    return inputs


def plan_encode(inputs: list[str], output: str | None, force: bool) -> list[Job]:
    """Jobs of ``f2dgs encode``: images (files, folders, globs, URLs, ``-``) to `.g2d` files (``paths.plan_jobs``)."""
    return plan_jobs(inputs, output, (".g2d",), force, accept=IMAGE_SUFFIXES)


def plan_decode(inputs: list[str], output: str | None, force: bool) -> list[Job]:
    """Jobs of ``f2dgs decode``: `.g2d` files (files, folders, globs, URLs, ``-``) to images, PNG unless named
    otherwise."""
    return plan_jobs(inputs, output, tuple(OUTPUT_FORMATS), force, accept=(".g2d",))


def plan_bench(folder: Path) -> list[Job]:
    """Jobs of ``f2dgs bench``: every image of ``folder``, by name (no outputs)."""
    if not folder.is_dir():
        raise F2dgsError(f"{folder} is not a folder")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise F2dgsError(f"no images in {folder}")
    return [Job(path.name, path, None) for path in images]


def default_manifest(jobs: list[Job], output: str | None) -> Path | None:
    """Where a batch's manifest goes without ``--manifest``: in the local ``-o`` folder, else in the folder that
    holds every local output, else (outputs in an object store) in the current folder; ``None`` for a lone
    file."""
    if len(jobs) < 2 and not any(job.resume for job in jobs):
        return None
    if output is not None and not is_url(output) and Path(output).is_dir():
        return Path(output) / MANIFEST_NAME
    local = [str(job.target.parent) for job in jobs if isinstance(job.target, Path)]
    if local and len(local) == len(jobs):
        return Path(os.path.commonpath(local)) / MANIFEST_NAME
    return Path(MANIFEST_NAME)
