"""Shipped network weights: a small registry of named models stored as package data.

```
fast2dgs_cli/data/<name>-<sha256[:8]>.pt ──torch.load(weights_only=True)──► {format, version, prior, attributes, meta}
                                                         each network: {config: UNetConfig dict, state: state dict}
                                                                         └──► PriorNet / AttributeNet rebuilt
```

A model is found by its name alone: ``data/`` must hold exactly one ``<name>-<8 hex>.pt`` file, and the
hex is checked against the file's SHA-256 before loading, so a truncated or swapped file is refused.
``f2dgs train`` writes the file anywhere; shipping it means copying it to ``data/`` under that name
(``shipped_name`` gives it). The file stores the architecture next to the weights, so a future model with
other widths loads without code changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import SetupError
from .attributes import AttributeNet
from .prior import PriorNet
from .unet import UNetConfig

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelUnavailable",
    "PriorModels",
    "file_sha256",
    "load_models",
    "load_models_file",
    "save_models",
    "shipped_name",
]

MODELS: dict[str, str] = {
    "prior-v1": "Deep Gaussian Prior + attribute network, trained by `f2dgs train` on non-Kodak photos.",
}
"""Known model names and what they are."""
DEFAULT_MODEL = "prior-v1"
"""The model behind ``--init prior``."""
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Where shipped weights live (package data)."""
_FORMAT = "f2dgs-prior"
_VERSION = 1


class ModelUnavailable(SetupError, RuntimeError):
    """A known model whose weights file is missing, ambiguous or corrupt."""


@dataclass
class PriorModels:
    """The two networks of a model, in eval mode, and the metadata saved with them.

    Attributes:
        prior: the position prior.
        attributes: the attribute network.
        meta: free-form metadata (training summary), JSON-compatible.
    """

    prior: PriorNet
    attributes: AttributeNet
    meta: dict[str, object] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_name(name: str, path: Path) -> str:
    """The file name under which the weights at ``path`` ship as model ``name``: ``<name>-<sha[:8]>.pt``."""
    return f"{name}-{file_sha256(path)[:8]}.pt"


def save_models(path: Path, prior: PriorNet, attributes: AttributeNet, meta: dict[str, object]) -> str:
    """Write both networks (architecture + weights) and ``meta`` to ``path``; return the file's SHA-256.

    ``meta`` must be JSON-compatible; it is stored as plain JSON types (what ``weights_only`` loading allows).
    """
    payload = {
        "format": _FORMAT,
        "version": _VERSION,
        "prior": {"config": prior.config.to_dict(), "state": prior.state_dict()},
        "attributes": {"config": attributes.config.to_dict(), "state": attributes.state_dict()},
        "meta": json.loads(json.dumps(meta)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)
    return file_sha256(path)


def load_models_file(path: Path) -> PriorModels:
    """Rebuild the networks stored at ``path`` (eval mode); raise ``ModelUnavailable`` if unreadable."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise ModelUnavailable(f"cannot load network weights {path}: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ModelUnavailable(f"{path} is not an f2dgs network file")
    if payload.get("version") != _VERSION:
        raise ModelUnavailable(f"{path} has network file version {payload.get('version')}, expected {_VERSION}")
    prior = PriorNet(UNetConfig.from_dict(payload["prior"]["config"]))
    attributes = AttributeNet(UNetConfig.from_dict(payload["attributes"]["config"]))
    prior.load_state_dict(payload["prior"]["state"])
    attributes.load_state_dict(payload["attributes"]["state"])
    return PriorModels(prior.eval(), attributes.eval(), dict(payload.get("meta", {})))


def load_models(name: str = DEFAULT_MODEL, data_dir: Path | None = None) -> PriorModels:
    """Load the shipped model ``name`` from ``data_dir`` (default: the package's ``DATA_DIR``), hash-checked.

    Raises:
        ValueError: ``name`` is not in ``MODELS``.
        ModelUnavailable: its file is missing, ambiguous, corrupt or fails the hash check.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")
    data_dir = DATA_DIR if data_dir is None else data_dir
    candidates = sorted(p for p in data_dir.glob(f"{name}-*.pt") if _hash_part(p, name) is not None)
    if not candidates:
        raise ModelUnavailable(
            f"the weights of model '{name}' are not installed (no {name}-<sha256[:8]>.pt in {data_dir}); "
            "train them with 'f2dgs train'"
        )
    if len(candidates) > 1:
        raise ModelUnavailable(f"several weight files for model '{name}' in {data_dir}: {[p.name for p in candidates]}")
    path = candidates[0]
    if not file_sha256(path).startswith(_hash_part(path, name) or ""):
        raise ModelUnavailable(f"{path.name} does not match the SHA-256 in its name (corrupt or renamed file)")
    return load_models_file(path)


def _hash_part(path: Path, name: str) -> str | None:
    suffix = path.stem[len(name) + 1 :]
    return suffix if len(suffix) == 8 and all(c in "0123456789abcdef" for c in suffix) else None
