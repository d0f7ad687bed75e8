"""The ``f2dgs`` process: signals first, then the command line (``cli.run``), then a quick end.

SIGINT and SIGTERM end the command at any moment, imports and the kernels' first compile included, with exit
code 130 or 143 and no traceback; outputs go through temporary files that an interrupt removes. The handlers
are installed before anything heavy is imported. Once the command is done the process ends with ``os._exit``,
which skips the slow teardown of torch's and numba's thread pools (``docs/cli.md``).
"""

from __future__ import annotations

import os
import signal
import sys

from .interrupts import on_signal, quiet_unraisable, received

__all__ = ["main"]


def main() -> None:
    """Console-script entry point."""
    sys.unraisablehook = quiet_unraisable
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        from .cli import run

        code = run()
    except BaseException:  # an interrupt, possibly turned into another exception by a library
        if not received:
            raise
        code = 1
    if received:
        code = 128 + received[0]  # 130 for SIGINT, 143 for SIGTERM
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # a closed or broken pipe has nothing left to flush
        pass
    os._exit(code or 0)
