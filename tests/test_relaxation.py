"""Lloyd relaxation of the sampled positions: exact nearest sites, K distinct pixels, evener spacing."""

from __future__ import annotations

import numpy as np
import torch

from fast2dgs_cli.networks import relax_positions, sample_positions
from fast2dgs_cli.networks.relaxation import _nearest_sites


def _nearest_neighbour_distances(picked: torch.Tensor, width: int) -> np.ndarray:
    points = np.stack(np.divmod(picked.numpy(), width), axis=1).astype(float)
    distances = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    np.fill_diagonal(distances, np.inf)
    return distances.min(1)


def test_nearest_sites_match_brute_force_with_ties_to_the_lower_index() -> None:
    generator = np.random.default_rng(3)
    height, width = 37, 53
    rows, cols = np.divmod(np.arange(height * width), width)
    centres = np.stack([rows + 0.5, cols + 0.5], axis=1)
    for count in (1, 5, 60, 400):
        # Half the sites on pixel centres (many exact ties between them), half anywhere; a few clustered in a
        # corner so that the bucket search has to walk many empty rings.
        on_centres = centres[generator.choice(height * width, count - count // 2, replace=False)]
        anywhere = generator.uniform(0, 1, (count // 2, 2)) * [height, width / 8]
        sites = np.concatenate([on_centres, anywhere])
        distances = ((centres[:, None] - sites[None]) ** 2).sum(-1)
        expected = distances.argmin(1)  # argmin returns the first (lowest) index among equal distances
        for cell in (1.0, 4.5, 30.0):
            owner = _nearest_sites(sites, height, width, cell)
            assert np.array_equal(owner.reshape(-1), expected), (count, cell)


def test_relaxation_keeps_k_distinct_sorted_pixels_and_is_deterministic() -> None:
    weights = torch.rand(40, 60, generator=torch.Generator().manual_seed(1)) ** 6
    for k in (1, 30, 600, 2400):
        picked = sample_positions(weights, k, seed=2)
        relaxed = relax_positions(picked, weights)
        assert relaxed.shape == (k,) and relaxed.dtype == torch.int64
        assert torch.equal(relaxed, torch.unique(relaxed)), "duplicates or unsorted"
        assert 0 <= int(relaxed.min()) and int(relaxed.max()) < weights.numel()
        assert torch.equal(relaxed, relax_positions(picked, weights))
    assert torch.equal(relax_positions(picked, weights, iterations=0), picked)


def test_relaxation_evens_out_a_clumped_start_on_a_flat_map() -> None:
    start = torch.randperm(64 * 64, generator=torch.Generator().manual_seed(0))[:64].sort().values
    before = _nearest_neighbour_distances(start, 64)
    after = _nearest_neighbour_distances(relax_positions(start, torch.ones(64, 64)), 64)
    # measured: closest pair 1.41 → 4.12 px, spread of the spacing (std) 1.93 → 1.30 px; lattice spacing 8 px
    assert before.min() < 2.0 and after.min() > 4.0
    assert after.std() < 0.75 * before.std()


def test_relaxed_points_stay_where_the_density_is() -> None:
    weights = torch.zeros(48, 48)
    weights[10:30, 5:25] = 1.0  # a convex support: every weighted centroid lies inside it
    picked = sample_positions(weights, 40, seed=0)
    relaxed = relax_positions(picked, weights, iterations=10)
    rows, cols = relaxed // 48, relaxed % 48
    assert bool(((rows >= 10) & (rows < 30) & (cols >= 5) & (cols < 25)).all())
    assert not torch.equal(relaxed, picked)
