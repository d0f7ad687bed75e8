"""Where a batch reads and writes: local paths, or fsspec URLs (``s3://bucket/key``, ``gs://…``, ``memory://…``).

A location is a ``Path`` (local) or a ``str`` URL (``scheme://…``). Local writes are atomic (``atomic_write``:
temporary file, then rename); a remote object is written with one whole ``put`` (an object store shows either
nothing or the finished object). fsspec and its backend for the scheme (``s3fs`` for ``s3://``) are imported
only when a URL is met; a missing backend is a ``SetupError`` naming the package to install. Options for a
backend come from fsspec's configuration (``FSSPEC_S3_ENDPOINT_URL`` and the like, or the backend's own
environment variables such as ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from .errors import F2dgsError, SetupError
from .imageio import atomic_write

__all__ = [
    "Location", "exists", "is_url", "join", "list_files", "location", "read_bytes", "suffix", "write_bytes",
]  # fmt: skip

Location = Path | str
"""A local path, or a URL (``str``) of an fsspec file system."""
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
"""The package that gives fsspec each common object store, for the message when it is missing."""


def is_url(text: object) -> bool:
    """Whether ``text`` is a URL string (``scheme://…``) rather than a local path."""
    return isinstance(text, str) and bool(_URL.match(text)) and not text.startswith("file://")


def location(text: str) -> Location:
    """A command-line path or URL as a location (``file://`` URLs become paths)."""
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    return text if is_url(text) else Path(text)


def suffix(where: Location) -> str:
    """The lower-case suffix of a location's name (``.png``, ``.g2d``)."""
    return PurePosixPath(where).suffix.lower() if isinstance(where, str) else where.suffix.lower()


def join(base: Location, relative: PurePosixPath) -> Location:
    """``base / relative`` for a folder path or a folder URL."""
    if isinstance(base, str):
        return base.rstrip("/") + "/" + relative.as_posix()
    return base / relative


def _filesystem(url: str):  # -> fsspec.AbstractFileSystem
    scheme = url.split("://", 1)[0].lower()
    try:
        import fsspec

        return fsspec.filesystem(scheme)
    except ImportError as error:
        package = _BACKENDS.get(scheme, f"the fsspec backend for {scheme}://")
        raise SetupError(f"{scheme}:// URLs need {package} ({error.name} is not installed)") from None
    except ValueError as error:
        raise SetupError(f"{scheme}:// URLs cannot be used: {error}") from None


def _strip(url: str) -> tuple[str, str]:
    """``(scheme, path)``: fsspec lists and globs paths without their scheme."""
    scheme, rest = url.split("://", 1)
    return scheme, rest


def list_files(where: str, accept: tuple[str, ...]) -> tuple[list[str], str] | None:
    """The files under the folder URL (all depths) or matching the glob URL ``where`` whose suffix is accepted,
    and the folder URL that names are relative to; ``None`` when ``where`` is a single object."""
    fs = _filesystem(where)
    scheme, path = _strip(where)
    try:
        if any(c in path for c in "*?["):
            base = path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]
            found = fs.glob(path)
        elif fs.isdir(path):
            base, found = path.rstrip("/"), fs.find(path)
        else:
            return None
    except OSError as error:
        raise F2dgsError(f"cannot list {where}: {error}") from None
    files = sorted(f"{scheme}://{name}" for name in found if suffix(name) in accept)
    return files, f"{scheme}://{base}"


def exists(where: Location) -> bool:
    """Whether a file (or object) is at ``where``."""
    if isinstance(where, Path):
        return where.exists() or where.is_symlink()
    fs = _filesystem(where)
    try:
        return bool(fs.exists(_strip(where)[1]))
    except OSError as error:
        raise F2dgsError(f"cannot look up {where}: {error}") from None


def read_bytes(where: Location, limit: int) -> bytes:
    """The content of ``where``, at most ``limit + 1`` bytes of it (the caller refuses more than ``limit``)."""
    try:
        if isinstance(where, Path):
            with open(where, "rb") as handle:
                return handle.read(limit + 1)
        fs = _filesystem(where)
        with fs.open(_strip(where)[1], "rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError:
        raise F2dgsError(f"cannot read {where}: no such file") from None
    except OSError as error:
        raise F2dgsError(f"cannot read {where}: {error.strerror or error}") from None


def write_bytes(where: Location, data: bytes, overwrite: bool) -> None:
    """Write ``data`` to ``where`` whole: atomically to a local file (``atomic_write``), in one put to an object.
    Raises ``F2dgsError`` if it exists and ``overwrite`` is false, or if it cannot be written."""
    if isinstance(where, Path):
        try:
            atomic_write(where, data, overwrite=overwrite)
        except FileExistsError:
            raise F2dgsError(f"{where} exists (use --force to overwrite)") from None
        except OSError as error:
            raise F2dgsError(f"cannot write {where}: {error.strerror}") from None
        return
    if not overwrite and exists(where):
        raise F2dgsError(f"{where} exists (use --force to overwrite)")
    fs = _filesystem(where)
    try:
        fs.pipe_file(_strip(where)[1], data)
    except OSError as error:
        raise F2dgsError(f"cannot write {where}: {error}") from None
