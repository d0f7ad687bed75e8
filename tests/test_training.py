"""Training the prior: data split and crops, teacher targets and cache, and ``f2dgs train`` end to end
(weights + model card, resuming from the checkpoint, Kodak refused)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fast2dgs_cli import cli
from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.networks import load_models_file
from fast2dgs_cli.training import DataError, TrainConfig, TrainProgress, train
from fast2dgs_cli.training import teacher as teacher_module
from fast2dgs_cli.training.data import list_images, load_crops, plan_crops, split_images
from fast2dgs_cli.training.teacher import build_examples, position_target

runner = CliRunner()


def _photos(folder: Path, count: int = 3, size: tuple[int, int] = (72, 64)) -> Path:
    rng = np.random.default_rng(0)
    (folder / "nested").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        width, height = size
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack([np.sin(x / (3 + i)), y / height, ((x // 8 + y // 8) % 2) * 1.0], axis=-1) * 0.5 + 0.25
        pixels = np.clip(pixels + rng.normal(0, 0.02, pixels.shape), 0, 1)
        name = f"nested/photo{i}.jpg" if i == 0 else f"photo{i}.png"
        Image.fromarray((pixels * 255).astype(np.uint8)).save(folder / name)
    return folder


def _config(data: Path, tmp_path: Path, **changes: object) -> TrainConfig:
    settings: dict[str, object] = dict(
        crop=32, iterations=3, batch=2, crops_per_image=2, teacher_steps=5, val_crop=40,
        val_densities=(0.02,), checkpoint_every=1, teacher_cache=tmp_path / "cache",
    )  # fmt: skip
    settings.update(changes)
    return TrainConfig(data=data, out=tmp_path / "out" / "w.pt", **settings)  # type: ignore[arg-type]


def test_listing_split_and_crops_are_deterministic(tmp_path: Path) -> None:
    data = _photos(tmp_path / "photos")
    (data / "notes.txt").write_text("not an image")
    photos = list_images(data)
    assert [p.name for p in photos] == ["photo0.jpg", "photo1.png", "photo2.png"]
    train_photos, val_photos = split_images(photos, data, max_train=10)
    assert len(val_photos) >= 1 and len(train_photos) >= 1 and not set(train_photos) & set(val_photos)
    assert split_images(photos, data, max_train=10) == (train_photos, val_photos)
    specs = plan_crops(train_photos, 3, 32, (1.5, 2.0), (0.003, 0.06), seed=1)
    assert specs == plan_crops(train_photos, 3, 32, (1.5, 2.0), (0.003, 0.06), seed=1)
    for spec in specs:
        assert 1.0 <= spec.scale <= 2.0 and 1 <= spec.k <= 32 * 32
        assert (spec.left + 32) * spec.scale <= 72 + 1e-6 and (spec.top + 32) * spec.scale <= 64 + 1e-6
    crops = load_crops([s for s in specs if s.path == specs[0].path])
    assert all(c.shape == (32, 32, 3) and c.dtype == torch.uint8 for c in crops)
    with pytest.raises(DataError, match="smaller than"):
        plan_crops(train_photos, 1, 100, (1.5, 2.0), (0.003, 0.06), seed=1)


def test_benchmark_set_and_empty_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Kodak"):
        list_images(_photos(tmp_path / "KODAK-set"))
    sneaky = _photos(tmp_path / "photos")
    Image.new("RGB", (64, 64)).save(sneaky / "nested" / "kodak_01.png")
    with pytest.raises(DataError, match="Kodak"):
        list_images(sneaky)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .jpg"):
        list_images(tmp_path / "empty")


def test_position_target_is_a_distribution_around_the_centres() -> None:
    xy = torch.tensor([[0.25, 0.25], [0.75, 0.5], [2.0, 0.5]])  # the last is outside: ignored
    gaussians = Gaussians(xy, torch.ones(3, 2), torch.zeros(3), torch.zeros(3, 3))
    target = position_target(gaussians, 16, 16, blur=0.2)
    assert target.shape == (16, 16) and torch.isclose(target.sum(), torch.tensor(1.0))
    assert target[4, 4] > target[12, 4] and target[8, 12] > target[0, 12]
    outside = Gaussians(xy[2:], torch.ones(1, 2), torch.zeros(1), torch.zeros(1, 3))
    assert torch.allclose(position_target(outside, 8, 8, blur=0.5), torch.full((8, 8), 1 / 64))


def test_teacher_fits_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _photos(tmp_path / "photos")
    specs = plan_crops(list_images(data)[:2], 2, 32, (1.5, 2.0), (0.01, 0.05), seed=0)
    first = build_examples(specs, 3, 0, tmp_path / "cache", 0.5)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == len(specs)

    def no_refit(*args: object) -> None:
        raise AssertionError("cached fit recomputed")

    monkeypatch.setattr(teacher_module, "fit_teacher", no_refit)
    second = build_examples(specs, 3, 0, tmp_path / "cache", 0.5)
    for a, b in zip(first, second):
        assert torch.equal(a.image, b.image) and torch.equal(a.target, b.target) and a.k == b.k


def test_cli_train_writes_weights_and_model_card(tmp_path: Path) -> None:
    data = _photos(tmp_path / "photos")
    out = tmp_path / "run" / "prior.pt"
    args = ["train", "--data", str(data), "--out", str(out), "--crop", "32", "--iterations", "3", "--batch", "2",
            "--teacher-steps", "5", "--crops-per-image", "2", "--teacher-cache", str(tmp_path / "cache")]  # fmt: skip
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "ship as fast2dgs_cli/data/prior-v1-" in result.output and "Traceback" not in result.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["train_images"] + card["data"]["validation_images"] == 3
    assert card["training"]["iterations"] == 3 and set(card["training"]["final"]) == {"kl", "mse", "psnr"}
    assert card["validation"]["prior_psnr"] > 0 and card["validation"]["gradient_psnr"] > 0
    assert card["command"].startswith("f2dgs train --data") and card["wall_time_s"] >= 0
    assert card["shipped_name"] == f"prior-v1-{card['sha256'][:8]}.pt"
    models = load_models_file(out)
    assert models.meta["data"] == card["data"]
    assert out.with_name("prior.pt.ckpt").is_file()

    again = runner.invoke(cli.app, args)
    assert again.exit_code == 1 and "exists" in again.output


def test_resume_continues_exactly_from_the_checkpoint(tmp_path: Path) -> None:
    data = _photos(tmp_path / "photos")
    whole = train(_config(data, tmp_path / "a"))

    class Interrupt(Exception):
        pass

    def stop_at_second(event: TrainProgress) -> None:
        if event.phase == "train" and event.done == 2:
            raise Interrupt

    config = _config(data, tmp_path / "b")
    with pytest.raises(Interrupt):
        train(config, stop_at_second)
    assert torch.load(config.checkpoint, weights_only=True)["iteration"] == 1
    seen: list[int] = []
    resumed = train(config, lambda e: seen.append(e.done) if e.phase == "train" else None)
    assert seen == [2, 3]
    assert resumed.summary["training"] == whole.summary["training"]
    a, b = load_models_file(whole.weights), load_models_file(resumed.weights)
    for x, y in zip(a.prior.state_dict().values(), b.prior.state_dict().values()):
        torch.testing.assert_close(x, y)

    with pytest.raises(ValueError, match="batch"):
        train(_config(data, tmp_path / "b", batch=3))
    assert train(_config(data, tmp_path / "b", batch=3, resume=False)).summary["training"]["batch"] == 3


def test_cli_train_errors(tmp_path: Path) -> None:
    kodak = _photos(tmp_path / "kodak")
    result = runner.invoke(cli.app, ["train", "--data", str(kodak), "--out", str(tmp_path / "w.pt")])
    assert result.exit_code == 1 and "Kodak" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "w.pt").exists()
    bad = runner.invoke(cli.app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "w.pt"), "--crop", "8"])
    assert bad.exit_code == 2


def test_cli_defaults_are_the_library_defaults() -> None:
    defaults = {name: p.default for name, p in inspect.signature(TrainConfig).parameters.items()}
    for name, parameter in inspect.signature(cli.train).parameters.items():
        if name in defaults and name not in ("teacher_cache",):
            assert parameter.default == defaults[name], name
