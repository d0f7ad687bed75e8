"""The batch manifest: one JSON line per finished file, appended and flushed as each file ends, so that an
interrupted run keeps the record of what it did (``FileResult.record``: input, output, status, error, bytes,
bpp, psnr, seconds, node)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType

from ..errors import F2dgsError
from .files import FileResult

__all__ = ["Manifest", "read_manifest"]


class Manifest:
    """An append-only JSON-lines file of results (``None``: keep no manifest)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close)
            except OSError as error:
                raise F2dgsError(f"cannot write the manifest {path}: {error.strerror}") from None

    def add(self, result: FileResult) -> None:
        """Append one file's line and push it to the disk."""
        if self._handle is None:
            return
        self._handle.write(json.dumps(result.record(), ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Flush and close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def read_manifest(path: Path) -> list[dict]:
    """The records of a manifest, in the order they were written (a torn last line is left out)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
