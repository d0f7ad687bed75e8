"""Training settings, progress events and the result of ``train``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_TEACHER_CACHE", "TrainConfig", "TrainProgress", "TrainResult"]

DEFAULT_TEACHER_CACHE = Path.home() / ".cache" / "f2dgs" / "teacher"
"""Where teacher fits are cached (outside the repository)."""


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; the defaults are sized for a CPU-only run (docs/prior.md).

    Attributes:
        data: folder of training photos (searched recursively for .jpg/.jpeg/.png; Kodak refused).
        out: weights file to write; the model card goes to ``out`` with suffix ``.json``, the checkpoint
            to ``<out>.ckpt``.
        crop: side of the square training crops in pixels.
        downscale: range of the random downscaling factor applied to a photo before cropping (antialiased:
            it removes JPEG 4:2:0 blocking and chroma blur from what the networks learn).
        density_range: range of Gaussians per pixel, sampled log-uniformly per crop.
        crops_per_image: crops planned per training photo (each fitted once by the teacher, then reused).
        max_images: at most this many training photos are used (a deterministic hash-ordered subset).
        teacher_steps: fine-tuning steps of each teacher fit.
        iterations: optimizer steps.
        batch: crops per step.
        lr: peak AdamW learning rate (cosine decay to 5 % of it, after a short linear warm-up).
        weight_decay: AdamW weight decay.
        grad_clip: gradient-norm clip.
        target_blur: blur of the teacher's impulse map, as a fraction of the mean spacing ``1/√ρ``.
        teacher_positions_share: share of the first iterations in which the attribute network is trained on
            positions sampled from the teacher's map; later ones use the prior's own (detached) samples, as
            at inference.
        val_crop: side of the centre crop of every validation photo.
        val_densities: densities at which validation compares prior init with gradient init.
        checkpoint_every: iterations between checkpoints.
        seed: seed of everything (crops, densities, network init, batches, sampling).
        teacher_cache: folder of cached teacher fits.
        resume: continue from ``<out>.ckpt`` when it exists.
    """

    data: Path
    out: Path
    crop: int = 128
    downscale: tuple[float, float] = (1.5, 2.0)
    density_range: tuple[float, float] = (0.003, 0.06)
    crops_per_image: int = 3
    max_images: int = 500
    teacher_steps: int = 150
    iterations: int = 15000
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    target_blur: float = 0.5
    teacher_positions_share: float = 0.25
    val_crop: int = 256
    val_densities: tuple[float, ...] = (0.005, 0.0127, 0.025, 0.051)
    checkpoint_every: int = 250
    seed: int = 0
    teacher_cache: Path = field(default=DEFAULT_TEACHER_CACHE)
    resume: bool = True

    def __post_init__(self) -> None:
        checks = {
            "crop": self.crop >= 16,
            "downscale": 1.0 <= self.downscale[0] <= self.downscale[1],
            "density_range": 0.0 < self.density_range[0] <= self.density_range[1] <= 1.0,
            "crops_per_image": self.crops_per_image >= 1,
            "max_images": self.max_images >= 1,
            "teacher_steps": self.teacher_steps >= 0,
            "iterations": self.iterations >= 1,
            "batch": self.batch >= 1,
            "lr": self.lr > 0,
            "target_blur": self.target_blur > 0,
            "teacher_positions_share": 0.0 <= self.teacher_positions_share <= 1.0,
            "val_crop": self.val_crop >= 16,
            "val_densities": all(0.0 < d <= 1.0 for d in self.val_densities),
            "checkpoint_every": self.checkpoint_every >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting(s): {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible form (paths as strings, tuples as lists)."""
        return {key: _plain(value) for key, value in asdict(self).items()}

    @property
    def checkpoint(self) -> Path:
        """The checkpoint file, ``<out>.ckpt``."""
        return self.out.with_name(self.out.name + ".ckpt")

    @property
    def card(self) -> Path:
        """The model card, ``out`` with suffix ``.json``."""
        return self.out.with_suffix(".json")


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class TrainProgress:
    """One progress event of ``train``.

    Attributes:
        phase: ``teacher`` (fitting or loading teacher crops), ``train`` (optimizer steps) or ``validate``.
        done: units finished in this phase.
        total: units in this phase.
        metrics: latest values (e.g. ``kl``, ``mse``, ``psnr`` for ``train``).
    """

    phase: str
    done: int
    total: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` wrote.

    Attributes:
        weights: the weights file.
        card: the model card JSON.
        sha256: SHA-256 of the weights file (its first 8 hex digits name the shipped file).
        summary: the model card's content.
    """

    weights: Path
    card: Path
    sha256: str
    summary: dict[str, object]
