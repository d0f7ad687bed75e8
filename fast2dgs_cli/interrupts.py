"""The process's interrupts: which signals arrived, so that work can stop where a library swallowed them.

``entry.main`` routes SIGINT and SIGTERM here; ``raise_if_interrupted`` lets long work (the kernels' first
compile, whose compiler swallows ``KeyboardInterrupt``) stop at its next step.
"""

from __future__ import annotations

import sys

__all__ = ["on_signal", "quiet_unraisable", "raise_if_interrupted", "received"]

received: list[int] = []
"""Signals received, in order (SIGINT, SIGTERM)."""


def on_signal(signum: int, _frame: object) -> None:
    """Signal handler: remember the signal and interrupt what runs now."""
    received.append(signum)
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a signal arrived (its first ``KeyboardInterrupt`` may have been swallowed)."""
    if received:
        raise KeyboardInterrupt


def quiet_unraisable(event: sys.UnraisableHookArgs) -> None:
    """``sys.unraisablehook`` that says nothing of an interrupt landing where Python cannot raise it (a C
    callback in numba's compiler), nor, once a signal arrived, of a finalizer failing on an object the
    interrupt left half closed (llvmlite's): the process still ends as the signal asks."""
    if not isinstance(event.exc_value, KeyboardInterrupt) and not received:
        sys.__unraisablehook__(event)
