"""Turning the command line's inputs and ``-o`` into (source, target) jobs, with the overwrite rules.

``-`` stands for stdin (as a source) or stdout (as a target). A folder input expands to its files with an
accepted suffix (not recursive). One input writes to ``-o`` or next to itself; several write into the ``-o``
folder or next to themselves, named with the command's first output suffix. Without ``-o``, ``COMMAND IN OUT``
also works when ``OUT`` has an output suffix (``f2dgs encode photo.png photo.g2d``, ``f2dgs decode photo.g2d
photo.webp``): output suffixes are never accepted inputs, so the two readings cannot be confused. An output
file named with an *input* suffix (a `.g2d` file called ``out.png``) is refused. An existing target is refused
unless ``force``; the refusal is recorded on the job so a batch can go on with the other files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import RequestError

__all__ = ["IMAGE_SUFFIXES", "Job", "plan_jobs", "printable"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm", ".pnm")


@dataclass(frozen=True)
class Job:
    """One file to process.

    Attributes:
        name: what to call it in messages.
        source: the input path, ``None`` for stdin.
        target: the output path, ``None`` for stdout.
        error: why it cannot run ("" when it can).
        overwrite: whether the target may replace an existing file (``--force``).
    """

    name: str
    source: Path | None
    target: Path | None
    error: str = ""
    overwrite: bool = False


def _expand(inputs: list[str], accept: tuple[str, ...]) -> tuple[list[Path | None], bool]:
    sources: list[Path | None] = []
    from_folder = False
    for item in inputs:
        if item == "-":
            if len(inputs) > 1:
                raise RequestError("'-' (stdin) cannot be combined with other inputs")
            sources.append(None)
            continue
        path = Path(item)
        if _is_dir(path):
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in accept)
            if not found:
                raise RequestError(f"no {'/'.join(accept)} files in folder {path}")
            sources.extend(found)
            from_folder = True
        else:
            sources.append(path)
    return sources, from_folder


def plan_jobs(
    inputs: list[str], output: str | None, outputs: tuple[str, ...], force: bool, accept: tuple[str, ...]
) -> list[Job]:
    """Plan the jobs of one command; raise ``RequestError`` for a command line that cannot work at all.

    Args:
        inputs: the command's input arguments (files, folders, ``-``).
        output: the ``-o`` value, if any.
        outputs: suffixes the command writes, the default first (``.g2d``; ``.png``, ``.jpg``, …).
        force: overwrite existing targets.
        accept: input suffixes taken from folders (``.png``, ``.jpg``, …; ``.g2d``).
    """
    if output is None and len(inputs) == 2 and inputs[1].lower().endswith(outputs):
        inputs, output = inputs[:1], inputs[1]
    wrong = Path(output).suffix.lower() if output not in (None, "-") else ""
    if wrong in accept and not _is_dir(Path(output)):  # type: ignore[arg-type]
        raise RequestError(f"{output}: this command writes {'/'.join(outputs)} files, not {wrong}")
    sources, from_folder = _expand(inputs, accept)
    batch = from_folder or len(sources) > 1
    out_dir: Path | None = None
    if batch and output == "-":
        raise RequestError("several outputs cannot all go to stdout: give a folder with -o")
    if output not in (None, "-") and (batch or _is_dir(Path(output))):
        out_dir = Path(output)
        if out_dir.exists() and not out_dir.is_dir():
            raise RequestError(f"output {out_dir} is a file, not a folder")
        out_dir.mkdir(parents=True, exist_ok=True)

    jobs: list[Job] = []
    planned: set[Path] = set()
    for source in sources:
        name = "<stdin>" if source is None else printable(str(source))
        if source is None:
            target = None if output in (None, "-") else Path(output)
        elif out_dir is not None:
            target = out_dir / (source.stem + outputs[0])
        elif output is not None:
            target = None if output == "-" else Path(output)
        else:
            target = source.with_suffix(outputs[0])
        try:
            refusal = _refusal(source, target, planned, force)
        except OSError as error:  # a path the system cannot look up at all
            refusal = f"cannot use {error.filename}: {error.strerror}"
        jobs.append(Job(name, source, target, refusal, force))
        if target is not None:
            planned.add(target.resolve())
    return jobs


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False for a path the system cannot even look up (a name too long, say)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def printable(text: str) -> str:
    """``text`` with control characters (a newline in a file name) escaped, so that it stays on one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _refusal(source: Path | None, target: Path | None, planned: set[Path], force: bool) -> str:
    if source is not None and not source.is_file():
        return "no such file" if not source.exists() else "not a regular file"
    if target is None:
        return ""
    folder = target.parent
    if not folder.is_dir():
        return f"cannot write {target}: no folder {folder}"
    if len(os.fsencode(target.name)) > _name_max(folder):
        return f"cannot write {target}: the name is longer than the file system allows"
    if source is not None and target.resolve() == source.resolve():
        return "output would overwrite the input"
    if target.resolve() in planned:
        return f"another input already writes {target}"
    if (target.exists() or target.is_symlink()) and not force:
        return f"{target} exists (use --force to overwrite)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write {target}: the folder is not writable"
    return ""


def _name_max(folder: Path) -> int:
    """The longest file name ``folder``'s file system allows, in bytes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
