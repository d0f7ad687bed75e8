"""The Deep Gaussian Prior networks: shapes, conditioning, the maps→Gaussians convention, exact-K
sampling, the weights registry, and ``--init prior`` from the command line."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from fast2dgs_cli.cli import app
from fast2dgs_cli.encoder.init import init_gaussians
from fast2dgs_cli.networks import (
    MAP_CHANNELS,
    AttributeNet,
    ModelUnavailable,
    PriorModels,
    PriorNet,
    gaussians_from_maps,
    load_models,
    predict,
    prior_init,
    registry,
    sample_positions,
    save_models,
    shipped_name,
)
from fast2dgs_cli.networks.sampling import hilbert_order, water_fill

SAMPLE = Path(__file__).parent / "data" / "kodim23-384x256.png"


def _models(seed: int = 0) -> PriorModels:
    torch.manual_seed(seed)
    prior, attributes = PriorNet(), AttributeNet()
    for net in (prior, attributes):  # a conditioned network: FiLM starts at zero (unconditioned)
        torch.nn.init.normal_(net.unet.film[-1].weight, std=0.5)
    return PriorModels(prior.eval(), attributes.eval())


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (37, 53), (32, 48)])
def test_output_shapes_on_any_size(size: tuple[int, int]) -> None:
    models, image = _models(), torch.rand(2, 3, *size)
    log_density = torch.tensor([-4.0, -3.0])
    with torch.no_grad():
        assert models.prior(image, log_density).shape == (2, *size)
        assert models.attributes(image, log_density).shape == (2, MAP_CHANNELS, *size)


def test_padding_is_replicate_and_cropped_back() -> None:
    """An odd-sized image gives the top-left of what its replicate-padded version gives."""
    models, image = _models(), torch.rand(1, 3, 21, 35)
    padded = F.pad(image, (0, 48 - 35, 0, 32 - 21), mode="replicate")
    log_density = torch.tensor([-4.0])
    with torch.no_grad():
        small, large = models.prior(image, log_density), models.prior(padded, log_density)
    torch.testing.assert_close(small, large[:, :21, :35])


def test_film_makes_the_output_depend_on_density() -> None:
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        conditioned = _models().prior
        assert not torch.allclose(conditioned(image, torch.tensor([-5.0])), conditioned(image, torch.tensor([-3.0])))
        fresh = PriorNet().eval()  # zero-initialized FiLM: no effect until trained
        torch.testing.assert_close(fresh(image, torch.tensor([-5.0])), fresh(image, torch.tensor([-3.0])))


def test_untrained_attributes_are_residuals_on_the_heuristic() -> None:
    image = torch.rand(1, 3, 24, 24)
    density = 0.02
    with torch.no_grad():
        maps = AttributeNet()(image, torch.tensor([math.log(density)]))
    assert maps[:, 0:2].abs().max() <= 0.5
    baseline = math.log(0.5 / math.sqrt(density))
    assert (maps[:, 2:4] - baseline).abs().max() <= 2.0
    assert (maps[:, 6:9] - image).abs().max() <= 0.25


def test_gaussians_from_maps_pixel_convention_and_gradient() -> None:
    height, width = 5, 7
    maps = torch.zeros(MAP_CHANNELS, height, width)
    maps[2:4] = math.log(1.5)
    maps[4], maps[5] = 0.0, 1.0  # (cos 2θ, sin 2θ) = (0, 1): θ = π/4
    maps[6:9] = torch.rand(3, height, width)
    rows, cols = torch.tensor([0, 2, 4]), torch.tensor([0, 3, 6])
    gaussians = gaussians_from_maps(maps, rows, cols)
    assert torch.equal(gaussians.xy, torch.stack([cols.float() / width, rows.float() / height], dim=1))
    torch.testing.assert_close(gaussians.scale, torch.full((3, 2), 1.5))
    torch.testing.assert_close(gaussians.rotation, torch.full((3,), math.pi / 4))
    torch.testing.assert_close(gaussians.color, maps[6:9, rows, cols].T)

    maps[0, 2, 3], maps[1, 2, 3] = 0.25, -0.5
    shifted = gaussians_from_maps(maps, rows, cols).xy[1]
    torch.testing.assert_close(shifted, torch.tensor([3.25 / width, 1.5 / height]))

    trainable = maps.clone().requires_grad_(True)
    g = gaussians_from_maps(trainable, rows, cols)
    (g.xy.sum() + g.scale.sum() + g.rotation.sum() + g.color.sum()).backward()
    touched = trainable.grad.abs().sum(0) > 0
    assert touched[rows, cols].all() and int(touched.sum()) == 3


def _distinct_k(weights: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    picked = sample_positions(weights, k, "systematic", seed)
    assert picked.shape == (k,) and picked.dtype == torch.int64
    assert torch.equal(picked, torch.unique(picked)), "duplicates or unsorted"
    assert 0 <= int(picked.min()) and int(picked.max()) < weights.numel()
    return picked


def test_systematic_gives_exactly_k_distinct_pixels() -> None:
    peaked = torch.full((20, 30), 1e-9)
    peaked[3, 4] = 1.0
    partly_zero = torch.zeros(20, 30)
    partly_zero[:2, :5] = torch.rand(2, 5)
    for weights in (peaked, torch.ones(20, 30), torch.zeros(20, 30), partly_zero, torch.rand(20, 30) ** 8):
        for k in (1, 7, 100, 599, 600):
            _distinct_k(weights, k)
    assert 3 * 30 + 4 in _distinct_k(peaked, 5).tolist()


def test_systematic_is_seeded_and_unbiased() -> None:
    weights = torch.tensor([[8.0, 1.0, 1.0, 0.0], [2.0, 2.0, 1.0, 1.0]])
    assert torch.equal(sample_positions(weights, 3, seed=4), sample_positions(weights, 3, seed=4))
    mass = torch.from_numpy(water_fill(weights.reshape(-1), 3))
    assert math.isclose(float(mass.sum()), 3.0) and float(mass.max()) == 1.0 and float(mass[3]) == 0.0
    torch.testing.assert_close(mass[1] / mass[4], torch.tensor(0.5, dtype=torch.float64))  # ∝ weights below the cap
    counts = torch.zeros(8)
    runs = 2000
    for seed in range(runs):
        counts[sample_positions(weights, 3, seed=seed)] += 1
    torch.testing.assert_close(counts / runs, mass.float(), atol=0.04, rtol=0)


def test_hilbert_order_is_a_path_through_every_pixel() -> None:
    square = hilbert_order(16, 16)
    assert sorted(square.tolist()) == list(range(256)) and square[0] == 0
    rows, cols = np.divmod(square, 16)
    assert (np.abs(np.diff(rows)) + np.abs(np.diff(cols)) == 1).all()  # each step moves to a 4-neighbour
    assert sorted(hilbert_order(5, 37).tolist()) == list(range(5 * 37))


def test_water_fill_sorts_the_weights_as_a_stable_argsort_would() -> None:
    from fast2dgs_cli.networks.sampling import _descending_order

    generator = np.random.default_rng(0)
    ties = np.round(generator.random(5000), 2)  # many equal weights: their order must stay the index order
    weights = np.concatenate([generator.random(5000), ties, np.zeros(50), [-0.0, 1e-310]])
    generator.shuffle(weights)
    order = _descending_order((weights + 0.0).view(np.uint64))
    assert np.array_equal(order, np.argsort(-weights, kind="stable"))


def _hilbert_order_by_arrays(height: int, width: int) -> np.ndarray:
    """The bitwise (x, y) → distance conversion on whole arrays, then the pixels sorted by distance."""
    side = 1 << max(1, (max(height, width) - 1).bit_length())
    y, x = np.divmod(np.arange(height * width, dtype=np.int64), width)
    distance = np.zeros(height * width, dtype=np.int64)
    quadrant = side // 2
    while quadrant > 0:
        right, lower = (x & quadrant) > 0, (y & quadrant) > 0
        distance += quadrant * quadrant * ((3 * right) ^ lower)
        flip = (right & ~lower) * (side - 1)
        x, y = x ^ flip, y ^ flip
        x, y = np.where(lower, x, y), np.where(lower, y, x)
        quadrant //= 2
    return np.argsort(distance)


@pytest.mark.parametrize("size", [(16, 16), (5, 37), (37, 5), (100, 64), (1, 1), (1, 3)])
def test_hilbert_order_matches_the_curve_computed_on_arrays(size: tuple[int, int]) -> None:
    assert np.array_equal(hilbert_order(*size), _hilbert_order_by_arrays(*size))


def test_systematic_spreads_points_evenly_on_a_flat_map() -> None:
    # Each aligned 8×8 block is one stretch of the curve holding mass 1: exactly one point in every block.
    # (In raster order the 64 points would form one vertical line.)
    picked = _distinct_k(torch.ones(64, 64), 64, seed=5)
    rows, cols = picked // 64, picked % 64
    blocks = torch.bincount((rows // 8) * 8 + cols // 8, minlength=64)
    assert torch.equal(blocks, torch.ones(64, dtype=torch.int64))


def test_multinomial_repeats_pixels_on_a_peaked_map() -> None:
    peaked = torch.full((16, 16), 1e-6)
    peaked[5, 5] = 1.0
    picked = sample_positions(peaked, 50, "multinomial", seed=1)
    assert picked.shape == (50,) and len(torch.unique(picked)) < 50
    assert torch.equal(picked, sample_positions(peaked, 50, "multinomial", seed=1))


def test_sampling_rejects_bad_requests() -> None:
    weights = torch.ones(4, 4)
    for k in (0, 17):
        with pytest.raises(ValueError, match="cannot sample"):
            sample_positions(weights, k)
    with pytest.raises(ValueError, match="non-negative"):
        sample_positions(-weights, 2)
    with pytest.raises(ValueError, match=r"\[H, W\] map"):
        sample_positions(weights.reshape(-1), 2)
    with pytest.raises(ValueError, match="'stratified'"):
        sample_positions(weights, 2, "stratified")


def test_registry_round_trip(tmp_path: Path) -> None:
    models = _models(seed=3)
    written = tmp_path / "w.pt"
    sha = save_models(written, models.prior, models.attributes, {"note": "test"})
    assert written.stat().st_size < 1_000_000
    installed = tmp_path / shipped_name("prior-v1", written)
    assert installed.name == f"prior-v1-{sha[:8]}.pt"
    written.rename(installed)
    loaded = load_models("prior-v1", data_dir=tmp_path)
    assert loaded.meta == {"note": "test"} and not loaded.prior.training
    image = torch.rand(40, 28, 3)
    first, second = prior_init(image, 60, 2, models), prior_init(image, 60, 2, loaded)
    for name in ("xy", "scale", "rotation", "color"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert len(torch.unique(first.xy, dim=0)) == 60

    with pytest.raises(ValueError, match="'prior-v9'"):
        load_models("prior-v9", data_dir=tmp_path)
    corrupt = bytearray(installed.read_bytes())
    corrupt[-10] ^= 0xFF
    installed.write_bytes(bytes(corrupt))
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        load_models("prior-v1", data_dir=tmp_path)
    installed.unlink()
    with pytest.raises(ModelUnavailable, match="not installed"):
        load_models("prior-v1", data_dir=tmp_path)


def test_init_prior_uses_the_shipped_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "DATA_DIR", tmp_path)
    predict.default_models.cache_clear()
    image = torch.rand(24, 32, 3)
    with pytest.raises(ModelUnavailable):
        init_gaussians(image, 40, method="prior")
    models = _models(seed=5)
    written = tmp_path / "w.pt"
    save_models(written, models.prior, models.attributes, {})
    written.rename(tmp_path / shipped_name("prior-v1", written))
    try:
        via_init = init_gaussians(image, 40, seed=1, method="prior")
    finally:
        predict.default_models.cache_clear()
    assert torch.equal(via_init.xy, prior_init(image, 40, 1, models).xy)


def test_cli_init_prior_without_weights_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "DATA_DIR", tmp_path / "empty")
    predict.default_models.cache_clear()
    runner = CliRunner()
    assert "prior" in runner.invoke(app, ["encode", "--help"]).output
    Image.new("RGB", (24, 16), (200, 30, 30)).save(tmp_path / "a.png")
    result = runner.invoke(app, ["encode", str(tmp_path / "a.png"), "--init", "prior", "-n", "20", "--steps", "1"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "not installed" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "a.g2d").exists()


def test_shipped_weights_are_installed_and_load() -> None:
    """The default model ships as package data, passes its hash check and places Gaussians."""
    from importlib.resources import files

    from fast2dgs_cli.networks import DEFAULT_MODEL, load_models, prior_init

    shipped = [p.name for p in files("fast2dgs_cli").joinpath("data").iterdir() if p.name.startswith(DEFAULT_MODEL)]
    assert len([n for n in shipped if n.endswith(".pt")]) == 1, shipped
    models = load_models(DEFAULT_MODEL)
    image = torch.rand(40, 56, 3)
    gaussians = prior_init(image, 300, seed=3, models=models)
    assert gaussians.xy.shape == (300, 2)
    assert torch.isfinite(gaussians.scale).all() and (gaussians.scale > 0).all()
    assert torch.isfinite(gaussians.color).all() and torch.isfinite(gaussians.rotation).all()


def test_installed_package_carries_the_weights(tmp_path: Path) -> None:
    """Outside the source tree (cwd elsewhere), the *installed* f2dgs finds and loads its weights."""
    import subprocess
    import sys

    code = (
        "import fast2dgs_cli, pathlib; from fast2dgs_cli.networks import load_models; m = load_models(); "
        "print(pathlib.Path(fast2dgs_cli.__file__).parent, sum(p.numel() for p in m.prior.parameters()))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 1000


def test_windows_give_the_whole_image_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Networks run on windows (64-px tiles here) whose halo covers the receptive field: the same maps and
    position probabilities as one whole-image call, to float rounding."""
    image = torch.from_numpy(np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32) / 255.0)
    models = predict.default_models()
    rows, cols = torch.arange(0, 256, 3), torch.arange(0, 384, 4)[:86]
    whole = predict.predict_probabilities(image, 2000, models), predict.attributes_at(image, 2000, models, rows, cols)
    monkeypatch.setattr(predict, "WHOLE_PIXELS", 1000)
    monkeypatch.setattr(predict, "NET_TILE", 64)
    assert len(predict.windows(256, 384)) == 24
    tiled = predict.predict_probabilities(image, 2000, models), predict.attributes_at(image, 2000, models, rows, cols)
    torch.testing.assert_close(tiled[0], whole[0], rtol=1e-5, atol=0)
    torch.testing.assert_close(tiled[1], whole[1], rtol=0, atol=2e-5)
    monkeypatch.setattr(predict, "NET_HALO", 32)  # less context than the receptive field: visibly different
    assert float((predict.attributes_at(image, 2000, models, rows, cols) - whole[1]).abs().max()) > 0.1


def test_windows_keep_freed_memory_only_where_glibc_would_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 12 MP picture's windows (1216×1216 with their context) make 47 MB activations, above the largest block
    glibc keeps for reuse by itself: the networks then run with freed memory kept. A Kodak-sized picture's
    activations (13 MB) stay under it, and the policy is left alone."""
    models = predict.default_models()
    entered = []
    monkeypatch.setattr(predict, "reusing_freed_memory", lambda: entered.append(True) or contextlib.nullcontext())
    with predict._keeping_freed_memory(models.prior, predict.windows(3000, 4000)):
        pass
    assert entered == [True]
    with predict._keeping_freed_memory(models.attributes, predict.windows(512, 768)):
        pass
    assert entered == [True]
