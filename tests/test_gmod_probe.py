"""The gmod probe against fake ``gmod`` packages: it never reaches gmod's JIT build, refuses an extension that
does not load or whose kernels do not run, keeps the reason, and leaves ``TORCH_CUDA_ARCH_LIST`` alone."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.render import (
    TOP_K,
    Backend,
    BackendUnavailable,
    available_backends,
    backend_device,
    backends,
    blend_weights,
    gmod_backend,
    resolve_backend,
)

ARCH_LIST = "TORCH_CUDA_ARCH_LIST"
BROKEN_EXTENSION = 'raise ImportError("csrc.so: undefined symbol: _ZN3c1010TensorImpl")\n'
WORKING_RENDER = "return torch.full((img_height, img_width, colors.shape[1]), 0.5)"
BLACK_RENDER = "return torch.zeros(img_height, img_width, colors.shape[1])"
FAILING_RENDER = 'raise RuntimeError("CUDA error: no kernel image is available for execution on the device")'


def _clear_probe() -> dict[str, ModuleType]:
    """Forget the probe's answers and every imported ``gmod`` module; return those modules."""
    gmod_backend.gmod_unavailable_reason.cache_clear()
    backends._probe_backends.cache_clear()
    return {m: sys.modules.pop(m) for m in list(sys.modules) if m == "gmod" or m.startswith("gmod.")}


@pytest.fixture
def probe_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A CUDA machine as far as the probe can tell, rendering on the CPU; the probe's caches cleared around, and
    a real gmod imported before (on a GPU machine) put back afterwards for the tests that use it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gmod_backend, "DEVICE", torch.device("cpu"))
    real = _clear_probe()
    yield
    _clear_probe()
    sys.modules.update(real)


def _fake_gmod(root: Path, extension: str = "", render: str = WORKING_RENDER) -> Path:
    """Write a ``gmod`` namespace package shaped like the real one under ``root``; return the file its
    ``cuda/_backend.py`` writes when imported (which, like gmod's, also sets ``TORCH_CUDA_ARCH_LIST``)."""
    marker = root / "backend-imported"
    files = {
        "gmod/gsplat/__init__.py": "from .rasterize_sum import rasterize_gaussians_sum\n",
        "gmod/gsplat/csrc.py": extension,
        "gmod/gsplat/cuda/__init__.py": "",
        "gmod/gsplat/cuda/_backend.py": f"""
            import os
            import pathlib
            pathlib.Path({str(marker)!r}).write_text("imported")
            os.environ["{ARCH_LIST}"] = "8.0;8.6;8.7;8.9"
            from gmod.gsplat import csrc as _C
            """,
        "gmod/gsplat/rasterize_sum.py": f"""
            import torch
            def rasterize_gaussians_sum(xys, radii, conics, num_tiles_hit, colors, img_height, img_width,
                                        BLOCK_H=16, BLOCK_W=16, topk_norm=False):
                {render}
            """,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    importlib.invalidate_caches()
    return marker


@pytest.mark.usefixtures("probe_here")
def test_an_extension_that_does_not_load_is_refused_before_gmods_jit_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = _fake_gmod(tmp_path, extension=BROKEN_EXTENSION)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(ARCH_LIST, "9.0")
    reason = gmod_backend.gmod_unavailable_reason()
    assert reason is not None and "does not load" in reason and "undefined symbol" in reason
    assert not marker.exists() and "gmod.gsplat.cuda._backend" not in sys.modules
    assert Backend.GMOD not in available_backends()
    with pytest.raises(BackendUnavailable, match="undefined symbol"):
        resolve_backend("gmod")
    assert gmod_backend.gmod_available() is False


@pytest.mark.usefixtures("probe_here")
@pytest.mark.parametrize("saved", ["9.0", None])
def test_kernels_that_do_not_run_are_refused_and_the_arch_list_is_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: str | None
) -> None:
    _fake_gmod(tmp_path, render=BLACK_RENDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    if saved is None:
        monkeypatch.delenv(ARCH_LIST, raising=False)
    else:
        monkeypatch.setenv(ARCH_LIST, saved)
    reason = gmod_backend.gmod_unavailable_reason()
    assert reason is not None and "black" in reason and ARCH_LIST in reason
    assert "gmod.gsplat.cuda._backend" in sys.modules  # the probe got as far as rendering
    assert os.environ.get(ARCH_LIST) == saved


@pytest.mark.usefixtures("probe_here")
def test_a_test_render_that_raises_is_refused_with_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gmod(tmp_path, render=FAILING_RENDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    reason = gmod_backend.gmod_unavailable_reason()
    assert reason is not None and "test render failed" in reason and "no kernel image" in reason


@pytest.mark.usefixtures("probe_here")
def test_a_working_extension_is_accepted_and_renders_on_its_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = _fake_gmod(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(ARCH_LIST, "9.0")
    assert gmod_backend.gmod_unavailable_reason() is None
    assert marker.exists() and os.environ[ARCH_LIST] == "9.0"
    assert available_backends()[0] is Backend.GMOD and resolve_backend("gmod") is Backend.GMOD
    assert resolve_backend("auto") is Backend.CPU  # never gmod: its bytes vary between runs
    assert backend_device("gmod") == gmod_backend.DEVICE and backend_device("cpu") == torch.device("cpu")


@pytest.mark.usefixtures("probe_here")
def test_without_gmod_the_reason_says_so() -> None:
    if importlib.util.find_spec("gmod") is not None:
        pytest.skip("a gmod package is installed here")
    reason = gmod_backend.gmod_unavailable_reason()
    assert reason is not None and "not importable" in reason


def test_without_cuda_the_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gmod_backend.gmod_unavailable_reason.cache_clear()
    try:
        assert gmod_backend.gmod_unavailable_reason() == "no CUDA device (torch.cuda.is_available() is False)"
    finally:
        gmod_backend.gmod_unavailable_reason.cache_clear()


def test_auto_and_cpu_never_probe_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe() -> str | None:
        raise AssertionError("the gmod probe ran")

    monkeypatch.setattr(backends, "gmod_unavailable_reason", probe)
    assert resolve_backend("auto") is Backend.CPU and resolve_backend("cpu") is Backend.CPU
    assert backend_device("auto") == torch.device("cpu")
    scene = Gaussians(torch.rand(3, 2), torch.ones(3, 2), torch.zeros(3), torch.rand(3, 3))
    assert blend_weights(scene, 8, 8, "auto").ids.shape == (64, TOP_K)  # the encoder's refinement asks this
