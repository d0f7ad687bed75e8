"""Fuzzing the two parsers of untrusted bytes: the `.g2d` reader and the image loader.

Property: every input either loads or raises the library's own error (``G2DError``, ``ImageError``); any other
exception is a bug. The mutators are ``mutate_g2d.py`` and ``mutate_images.py``. This is a short, deterministic
run: hypothesis draws the mutations (derandomized, no example database, so every run tries the same inputs and
a failure shrinks to a small one), then a plain seeded loop runs many more. Long runs: ``benchmarks/fuzz.py``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutate_g2d import check_g2d, g2d_seeds, mutate_g2d
from mutate_images import check_image, image_seeds, mutate_image

from fast2dgs_cli.container import read_g2d
from fast2dgs_cli.imageio import ImageError, LoadedImage, load_image

ESCAPES = Path(__file__).parent / "data" / "fuzz"
"""Inputs on which Pillow raised something other than OSError/ValueError (found by these harnesses)."""
_BOUNDED = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=1000
)


@pytest.fixture(scope="module")
def g2d_corpus() -> list[bytes]:
    return g2d_seeds()


@pytest.fixture(scope="module")
def image_corpus() -> list[bytes]:
    return image_seeds()


def _report(error: Exception, data: bytes) -> str:
    return f"{type(error).__name__}: {error} on the input {data.hex()}"


def test_seeds_are_valid(g2d_corpus: list[bytes], image_corpus: list[bytes]) -> None:
    readable = [data for data in g2d_corpus if _reads(data)]
    assert len(readable) >= len(g2d_corpus) - 3  # the three invalid conformance files
    assert len(image_corpus) >= 35
    for data in image_corpus:
        assert isinstance(load_image(data), LoadedImage)


def _reads(data: bytes) -> bool:
    try:
        read_g2d(data)
    except ValueError:
        return False
    return True


@_BOUNDED
@given(rng=st.randoms(use_true_random=False))
def test_reader_returns_or_raises_g2d_error(g2d_corpus: list[bytes], rng: random.Random) -> None:
    data = mutate_g2d(rng, g2d_corpus)
    error = check_g2d(data)
    assert error is None, _report(error, data)


@settings(_BOUNDED, max_examples=600)
@given(rng=st.randoms(use_true_random=False))
def test_image_loader_returns_or_raises_image_error(image_corpus: list[bytes], rng: random.Random) -> None:
    data = mutate_image(rng, image_corpus)
    error = check_image(data)
    assert error is None, _report(error, data)


@pytest.mark.parametrize(("mutate", "check", "corpus", "count"), [
    (mutate_g2d, check_g2d, "g2d_corpus", 20_000), (mutate_image, check_image, "image_corpus", 10_000)
])  # fmt: skip
def test_seeded_mutants(mutate, check, corpus: str, count: int, request: pytest.FixtureRequest) -> None:
    seeds = request.getfixturevalue(corpus)
    rng = random.Random(2024)
    for _ in range(count):
        data = mutate(rng, seeds)
        error = check(data)
        assert error is None, _report(error, data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's "Corrupt EXIF data"
@pytest.mark.parametrize("path", sorted(p for p in ESCAPES.iterdir() if p.suffix != ".md"), ids=lambda p: p.name)
def test_inputs_that_escaped_once_raise_image_error(path: Path) -> None:
    with pytest.raises(ImageError, match="^cannot decode image: [^\n]+$"):
        load_image(path.read_bytes())
