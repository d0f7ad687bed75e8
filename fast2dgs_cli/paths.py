"""Turning the command line's inputs and ``-o`` into (source, target) jobs, with the overwrite rules.

``-`` stands for stdin (as a source) or stdout (as a target). An input is a file, a folder (its files with an
accepted suffix, at every depth), a glob pattern (``photos/**/*.jpg``) or a URL of either (``storage``). One
input writes to ``-o`` or next to itself; a batch (a folder, a glob or several inputs) writes into the ``-o``
folder, mirroring the tree under each folder or glob, or next to each input, named with the command's first
output suffix. Without ``-o``, ``COMMAND IN OUT`` also works when ``OUT`` has an output suffix (``f2dgs encode
photo.png photo.g2d``, ``f2dgs decode photo.g2d photo.webp``): output suffixes are never accepted inputs, so the
two readings cannot be confused. An output file named with an *input* suffix (a `.g2d` file called ``out.png``)
is refused. A lone file's existing target is refused unless ``force``; a batch's jobs *resume* instead: the
worker skips a target that exists and is valid and redoes a broken one (``batch.files``). A refusal is recorded
on the job so a batch can go on with the other files.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import RequestError
from .storage import Location, is_url, join, list_files, location, suffix

__all__ = ["IMAGE_SUFFIXES", "Job", "plan_jobs", "printable"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm", ".pnm")
_GLOB = ("*", "?", "[")


@dataclass(frozen=True)
class Job:
    """One file to process.

    Attributes:
        name: what to call it in messages.
        source: the input path or URL, ``None`` for stdin.
        target: the output path or URL, ``None`` for stdout.
        error: why it cannot run ("" when it can).
        overwrite: whether the target may replace an existing file (``--force``).
        resume: whether an existing valid target means the job is done (a batch without ``--force``).
    """

    name: str
    source: Location | None
    target: Location | None
    error: str = ""
    overwrite: bool = False
    resume: bool = False


Found = tuple[Location | None, PurePosixPath | None]
"""An input found: its location, and its path relative to the folder or glob it came from (``None``: a file
named on its own, whose output takes its name only)."""


def _expand(inputs: list[str], accept: tuple[str, ...]) -> tuple[list[Found], bool]:
    found: list[Found] = []
    grouped = False
    for item in inputs:
        if item == "-":
            if len(inputs) > 1:
                raise RequestError("'-' (stdin) cannot be combined with other inputs")
            found.append((None, None))
            continue
        where = location(item)
        group = _expand_remote(where, accept) if isinstance(where, str) else _expand_local(where, accept)
        if group is None:
            found.append((where, None))
            continue
        if not group:
            raise RequestError(f"no {'/'.join(accept)} files in {printable(item)}")
        found.extend(group)
        grouped = True
    return found, grouped


def _expand_local(path: Path, accept: tuple[str, ...]) -> list[Found] | None:
    """The accepted files under folder ``path`` or matching the glob ``path``; ``None`` for a single file."""
    if _is_dir(path):
        base, files = path, (p for p in path.rglob("*") if p.is_file())
    elif any(c in str(path) for c in _GLOB) and not path.exists():
        first = next(i for i, part in enumerate(path.parts) if any(c in part for c in _GLOB))
        base = Path(*path.parts[:first]) if first else Path()
        files = (Path(name) for name in glob.glob(str(path), recursive=True) if Path(name).is_file())
    else:
        return None
    chosen = sorted(p for p in files if p.suffix.lower() in accept and not _hidden(p.relative_to(base)))
    return [(p, PurePosixPath(p.relative_to(base).as_posix())) for p in chosen]


def _expand_remote(url: str, accept: tuple[str, ...]) -> list[Found] | None:
    listed = list_files(url, accept)
    if listed is None:
        return None
    files, base = listed
    return [(name, PurePosixPath(name[len(base) :].lstrip("/"))) for name in files]


def _hidden(relative: Path) -> bool:
    """Whether a file or one of its folders is hidden (a name starting with a dot: temporary files, .git)."""
    return any(part.startswith(".") for part in relative.parts)


def _target(source: Location | None, relative: PurePosixPath | None, output: str | None, out_dir: Location | None,
            suffix_out: str) -> Location | None:  # fmt: skip
    """The output of one input: in ``out_dir`` (its relative path mirrored), at ``output``, or next to it."""
    if source is None:
        return None if output in (None, "-") else location(output)  # type: ignore[arg-type]
    if out_dir is not None:
        name = relative if relative is not None else PurePosixPath(PurePosixPath(str(source)).name)
        return join(out_dir, name.with_suffix(suffix_out))
    if output is not None:
        return None if output == "-" else location(output)
    if isinstance(source, str):
        return source[: len(source) - len(PurePosixPath(source).suffix)] + suffix_out
    return source.with_suffix(suffix_out)


def plan_jobs(
    inputs: list[str], output: str | None, outputs: tuple[str, ...], force: bool, accept: tuple[str, ...]
) -> list[Job]:
    """Plan the jobs of one command; raise ``RequestError`` for a command line that cannot work at all.

    Args:
        inputs: the command's input arguments (files, folders, globs, URLs, ``-``).
        output: the ``-o`` value, if any.
        outputs: suffixes the command writes, the default first (``.g2d``; ``.png``, ``.jpg``, …).
        force: overwrite existing targets.
        accept: input suffixes taken from folders and globs (``.png``, ``.jpg``, …; ``.g2d``).
    """
    if output is None and len(inputs) == 2 and inputs[1].lower().endswith(outputs):
        inputs, output = inputs[:1], inputs[1]
    wrong = suffix(location(output)) if output not in (None, "-") else ""  # type: ignore[arg-type]
    if wrong in accept and not (not is_url(output) and _is_dir(Path(output))):  # type: ignore[arg-type]
        raise RequestError(f"{output}: this command writes {'/'.join(outputs)} files, not {wrong}")
    found, grouped = _expand(inputs, accept)
    batch = grouped or len(found) > 1
    if batch and output == "-":
        raise RequestError("several outputs cannot all go to stdout: give a folder with -o")
    out_dir = _out_dir(output, batch)
    jobs: list[Job] = []
    planned: set[str] = set()
    for source, relative in found:
        name = "<stdin>" if source is None else printable(str(source))
        target = _target(source, relative, output, out_dir, outputs[0])
        if batch and isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            refusal = _refusal(source, target, planned, force, batch)
        except OSError as error:  # a path the system cannot look up at all
            refusal = f"cannot use {error.filename}: {error.strerror}"
        jobs.append(Job(name, source, target, refusal, force, batch and not force))
        if target is not None:
            planned.add(_key(target))
    return jobs


def _out_dir(output: str | None, batch: bool) -> Location | None:
    """The ``-o`` folder, created if needed, when the outputs go into one."""
    if output in (None, "-"):
        return None
    where = location(output)  # type: ignore[arg-type]
    if isinstance(where, str):
        return where if batch else None
    if not (batch or _is_dir(where)):
        return None
    if where.exists() and not where.is_dir():
        raise RequestError(f"output {where} is a file, not a folder")
    where.mkdir(parents=True, exist_ok=True)
    return where


def _key(where: Location) -> str:
    return where if isinstance(where, str) else str(where.resolve())


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False for a path the system cannot even look up (a name too long, say)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def printable(text: str) -> str:
    """``text`` with control characters (a newline in a file name) escaped, so that it stays on one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _refusal(source: Location | None, target: Location | None, planned: set[str], force: bool, batch: bool) -> str:
    if isinstance(source, str) or isinstance(target, str):
        return f"another input already writes {target}" if target is not None and _key(target) in planned else ""
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
    if _key(target) in planned:
        return f"another input already writes {target}"
    if (target.exists() or target.is_symlink()) and not (force or batch):
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
