"""The library's expected failures: one base class, so the CLI catches them in one place.

``F2dgsError`` is a failure of one input (an unreadable image, a corrupt `.g2d`, a budget that cannot fit): a
batch reports it and goes on. ``SetupError`` is a failure of this machine or installation (a backend or the
networks cannot run): it would fail every file alike, so a batch stops.
"""

from __future__ import annotations

__all__ = ["F2dgsError", "RequestError", "SetupError"]


class F2dgsError(Exception):
    """An expected failure with a message fit to print as one line."""


class SetupError(F2dgsError):
    """A failure that every file of a batch would meet alike (a backend or the networks cannot run here)."""


class RequestError(F2dgsError, ValueError):
    """What was asked cannot be done for this input (an output size, a byte budget, a command line's files)."""
