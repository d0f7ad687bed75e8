"""The command line as a user meets it: exit codes, messages, no tracebacks, no partial outputs."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fast2dgs_cli.cli import app

runner = CliRunner()
FAST = ["--gaussians", "60", "--steps", "5"]


def _run(*args: str, stdin: bytes | None = None):
    result = runner.invoke(app, list(args), input=stdin)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _png(path: Path, mode: str = "RGB", size: tuple[int, int] = (40, 24)) -> Path:
    rng = np.random.default_rng(0)
    w, h = size
    if mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16)).save(path)
    elif mode == "P":
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert("P").save(path)
    else:
        channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
        data = rng.integers(0, 255, (h, w, channels), dtype=np.uint8)
        Image.fromarray(data.squeeze(-1) if channels == 1 else data, mode=mode).save(path)
    return path


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width × height`` (and whose pixels are missing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


@pytest.fixture()
def encoded(tmp_path: Path) -> Path:
    source = _png(tmp_path / "a.png")
    result = _run("encode", str(source), *FAST)
    assert result.exit_code == 0, result.output
    return tmp_path / "a.g2d"


@pytest.mark.parametrize("args", [["--help"], ["encode", "--help"]])
def test_help_imports_neither_torch_nor_ray(args: list[str]) -> None:
    code = f"import sys; from fast2dgs_cli.cli import app; sys.argv=['f2dgs', *{args!r}]\n"
    code += "try:\n  app()\nexcept SystemExit:\n  pass\n"
    code += "heavy = {'torch', 'ray', 'fsspec'} & set(sys.modules)\nassert not heavy, heavy"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "encode" in done.stdout and ("decode" in done.stdout or "--ray" in done.stdout)


def _imported(stderr: str) -> set[str]:
    """The modules a ``python -X importtime`` run imported."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("gmod_installed", [False, True])
def test_decode_imports_neither_torch_nor_the_encoder(tmp_path: Path, encoded: Path, gmod_installed: bool) -> None:
    """Also where a ``gmod`` package is importable: ``auto`` decodes on the cpu kernels there too."""
    env = dict(os.environ)
    if gmod_installed:
        (tmp_path / "site" / "gmod").mkdir(parents=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "site"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-X", "importtime", "-m", "fast2dgs_cli", "decode", str(encoded), "-o", "x.png"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "x.png").is_file()
    modules = _imported(done.stderr)
    assert "fast2dgs_cli.render.cpu_kernels" in modules  # the list does hold the decoder's own imports
    assert not [m for m in modules if m == "torch" or m.startswith(("torch.", "fast2dgs_cli.encoder"))]


def test_container_imports_neither_torch_nor_the_encoder() -> None:
    command = [sys.executable, "-X", "importtime", "-c", "import fast2dgs_cli.container"]
    done = subprocess.run(command, capture_output=True, text=True)
    modules = _imported(done.stderr)
    assert "fast2dgs_cli.container.reader" in modules
    assert not [m for m in modules if m == "torch" or m.startswith(("torch.", "fast2dgs_cli.encoder"))]


def test_version_lists_backends() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert "f2dgs 0.1.0" in result.output and ".g2d 2.0" in result.output and "torch" in result.output


def test_encode_decode_round_trip(tmp_path: Path, encoded: Path) -> None:
    assert encoded.exists()
    refused = _run("decode", str(encoded))  # a.png is the source image: never overwritten silently
    assert refused.exit_code == 1 and "exists (use --force" in refused.output
    result = _run("decode", str(encoded), "-o", str(tmp_path / "out.png"))
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (40, 24)


def test_input_then_output_without_dash_o(tmp_path: Path) -> None:
    source = _png(tmp_path / "in.png")
    assert _run("encode", str(source), str(tmp_path / "named.g2d"), *FAST).exit_code == 0
    assert (tmp_path / "named.g2d").exists() and not (tmp_path / "in.g2d").exists()
    assert _run("decode", str(tmp_path / "named.g2d"), str(tmp_path / "back.png")).exit_code == 0
    assert Image.open(tmp_path / "back.png").size == (40, 24)
    two_images = _run("encode", str(source), str(_png(tmp_path / "b.png")), *FAST)  # a batch, as before
    assert two_images.exit_code == 0 and (tmp_path / "in.g2d").exists() and (tmp_path / "b.g2d").exists()


def test_decode_at_other_sizes(tmp_path: Path, encoded: Path) -> None:
    assert _run("decode", str(encoded), "-o", str(tmp_path / "x2.png"), "--scale", "2").exit_code == 0
    assert Image.open(tmp_path / "x2.png").size == (80, 48)
    assert _run("decode", str(encoded), "-o", str(tmp_path / "w.png"), "--width", "20").exit_code == 0
    assert Image.open(tmp_path / "w.png").size == (20, 12)
    both = _run("decode", str(encoded), "-o", str(tmp_path / "z.png"), "--scale", "2", "--width", "3")
    assert both.exit_code == 2 and not (tmp_path / "z.png").exists()


def test_decode_in_bands_writes_the_whole_pictures_pixels(encoded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The banded decode (bands of one tile row here) writes the pixels of the whole-picture render."""
    from fast2dgs_cli.decode import decode_g2d, decode_picture
    from fast2dgs_cli.imageio import to_rgb8
    from fast2dgs_cli.render import arrays

    data = encoded.read_bytes()
    whole = to_rgb8(decode_g2d(data, scale=2.5))
    monkeypatch.setattr(arrays, "BAND_PIXELS", 1)
    png, size = decode_picture(data, ".png", scale=2.5, backend="cpu")
    assert size == whole.shape[:2] and size[0] > 3 * arrays.TILE
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), whole)


@pytest.mark.parametrize(
    ("option", "value", "size"), [("--height", "16000", "26667x16000"), ("--scale", "500", "20000x12000")]
)
def test_decode_above_the_side_limit_is_refused(
    tmp_path: Path, encoded: Path, option: str, value: str, size: str
) -> None:
    result = _run("decode", str(encoded), "-o", str(tmp_path / "big.png"), option, value)
    assert result.exit_code == 1
    assert f"output size {size} is larger than 16384 pixels per side" in result.output
    assert not (tmp_path / "big.png").exists()


@pytest.mark.parametrize(("suffix", "kind"), [(".jpg", "JPEG"), (".webp", "WEBP"), (".tiff", "TIFF"), (".bmp", "BMP")])
def test_decode_output_suffix_picks_the_format(tmp_path: Path, encoded: Path, suffix: str, kind: str) -> None:
    assert _run("decode", str(encoded), str(tmp_path / f"d{suffix}")).exit_code == 0
    with Image.open(tmp_path / f"d{suffix}") as picture:
        assert picture.format == kind and picture.size == (40, 24) and picture.mode == "RGB"
    assert _run("decode", str(encoded), "-o", str(tmp_path / "d.png")).exit_code == 0
    exact = np.asarray(Image.open(tmp_path / "d.png"))
    if kind != "JPEG":  # the lossless formats hold the PNG's pixels exactly
        assert np.array_equal(np.asarray(Image.open(tmp_path / f"d{suffix}")), exact)


@pytest.mark.parametrize(
    ("command", "name", "message"),
    [("encode", "out.png", "this command writes .g2d files, not .png"), ("decode", "out.g2d", "files, not .g2d")],
)
def test_output_named_like_an_input_is_refused(tmp_path: Path, encoded: Path, command: str, name: str, message: str):
    source = tmp_path / "a.png" if command == "encode" else encoded
    result = _run(command, str(source), *(FAST if command == "encode" else []), "-o", str(tmp_path / name))
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / name).exists()


def test_existing_output_is_refused_without_force(tmp_path: Path, encoded: Path) -> None:
    before = encoded.read_bytes()
    result = _run("encode", str(tmp_path / "a.png"), *FAST, "--seed", "3")
    assert result.exit_code == 1 and "exists (use --force" in result.output
    assert encoded.read_bytes() == before
    assert _run("encode", str(tmp_path / "a.png"), *FAST, "--seed", "3", "--force").exit_code == 0
    assert encoded.read_bytes() != before


def test_refused_output_is_reported_before_the_encoder_loads(tmp_path: Path) -> None:
    source, target = _png(tmp_path / "a.png"), tmp_path / "a.g2d"
    target.write_bytes(b"kept")
    command = [sys.executable, "-X", "importtime", "-m", "fast2dgs_cli", "encode", str(source), "-o", str(target)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1 and f"{target} exists (use --force to overwrite)" in done.stderr
    assert target.read_bytes() == b"kept"
    modules = _imported(done.stderr)
    assert "fast2dgs_cli.cli" in modules
    assert not [m for m in modules if m in ("torch", "numba") or m.startswith("fast2dgs_cli.encoder")]


def test_same_seed_gives_same_bytes(tmp_path: Path) -> None:
    source = _png(tmp_path / "s.png")
    for name in ("one", "two"):
        assert _run("encode", str(source), *FAST, "-o", str(tmp_path / f"{name}.g2d")).exit_code == 0
    assert (tmp_path / "one.g2d").read_bytes() == (tmp_path / "two.g2d").read_bytes()


def test_stdin_to_stdout(tmp_path: Path) -> None:
    png = _png(tmp_path / "in.png").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "fast2dgs_cli", "encode", "-", *FAST], input=png, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    command = [sys.executable, "-m", "fast2dgs_cli", "decode", "-"]
    decoded = subprocess.run(command, input=done.stdout, capture_output=True)
    assert decoded.returncode == 0, decoded.stderr
    assert Image.open(io.BytesIO(decoded.stdout)).size == (40, 24)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_pixel_formats_are_converted(tmp_path: Path, mode: str) -> None:
    source = _png(tmp_path / "m.png", mode)
    result = _run("encode", str(source), *FAST)
    assert result.exit_code == 0, result.output
    assert ("alpha channel discarded" in result.output) == (mode == "RGBA")


def test_budget_above_pixel_count_warns_and_uses_every_pixel(tmp_path: Path) -> None:
    source = _png(tmp_path / "tiny.png", size=(12, 8))
    result = _run("encode", str(source), "--gaussians", "500", "--steps", "2", "--effort", "3")  # no pruning
    assert result.exit_code == 0, result.output
    assert f"warning: {source}: 500 Gaussians asked for 96 pixels; using one per pixel" in result.output
    assert "N=96," in result.output
    assert "warning" not in _run("encode", str(source), "--gaussians", "96", "--steps", "2", "--force").output


def test_jpeg_input(tmp_path: Path) -> None:
    Image.open(_png(tmp_path / "j.png")).save(tmp_path / "j.jpg", quality=90)
    assert _run("encode", str(tmp_path / "j.jpg"), *FAST).exit_code == 0


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: (p / "t.png").write_text("hello") and p / "t.png", "not a readable image"),
        (lambda p: p / "missing.png", "no such file"),
        (lambda p: _png_header_only(p / "big.png", 20000, 10), "limit is 16384"),
        (lambda p: _png_header_only(p / "zero.png", 0, 10), "image"),
    ],
)
def test_bad_images_fail_cleanly(tmp_path: Path, make, message: str) -> None:
    source = make(tmp_path)
    result = _run("encode", str(source), *FAST)
    assert result.exit_code == 1
    assert message in result.output
    assert not source.with_suffix(".g2d").exists()


def test_corrupt_g2d_files_fail_cleanly(tmp_path: Path, encoded: Path) -> None:
    data = encoded.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "magic": b"XXXXXXXX" + data[8:],
        "empty": b"",
        "flipped": data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
    }
    version = bytearray(data)
    version[8] = 99  # major version right after the 8-byte magic
    cases["version"] = bytes(version)
    for name, content in cases.items():
        path = tmp_path / f"{name}.g2d"
        path.write_bytes(content)
        result = _run("decode", str(path))
        assert result.exit_code == 1, (name, result.output)
        assert "error:" in result.output, (name, result.output)
        assert not path.with_suffix(".png").exists()
    assert "version" in _run("decode", str(tmp_path / "version.g2d")).output


def test_batch_continues_past_bad_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _png(folder / "good1.png")
    (folder / "bad.png").write_bytes(b"not an image")
    _png(folder / "good2.png", "L")
    result = _run("encode", str(folder), "-o", str(tmp_path / "out"), *FAST)
    assert result.exit_code == 1
    assert "1 file(s) failed" in result.output and "bad.png" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f2dgs-manifest.jsonl", "good1.g2d", "good2.g2d"]


def test_batches_turn_the_collector_back_on_after_the_first_file(tmp_path: Path) -> None:
    """``main`` starts with the cyclic collector off (start-up speed); a batch must not run on without it."""
    import gc

    folder = tmp_path / "in"
    folder.mkdir()
    _png(folder / "a.png")
    _png(folder / "b.png")
    gc.disable()
    try:
        result = _run("encode", str(folder), "-o", str(tmp_path / "out"), *FAST)
        assert result.exit_code == 0, result.output
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_info_shows_streams(encoded: Path) -> None:
    result = _run("info", str(encoded))
    assert result.exit_code == 0
    from fast2dgs_cli.container import read_g2d

    file = read_g2d(encoded.read_bytes())
    assert 0 < file.gaussians.count <= 60  # the budget; rate-aware efforts may drop some
    assert f"40x24 reference size, {file.gaussians.count} Gaussians" in result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line[:4] in ("GPOS", "GCOL")}
    for chunk in file.chunks:
        if chunk.type in rows:  # bits/G column: the whole chunk (12 bytes of framing included) per Gaussian
            expected = 8 * (chunk.stored_size + 12) / file.gaussians.count
            assert float(rows[chunk.type][4]) == pytest.approx(expected, abs=0.006)


def test_bench_writes_compressai_json(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "one.png", size=(48, 32))
    report = tmp_path / "r.json"
    result = _run("bench", str(folder), *FAST, "--json", str(report), "--csv", str(tmp_path / "r.csv"))
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["name"] == "f2dgs"
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"):
        assert len(data["results"][key]) == 1
    assert data["results"]["bpp"][0] > 0
    assert data["settings"]["effort"] == 5 and data["images"][0]["effort"] == 5  # the default effort
    assert (tmp_path / "r.csv").read_text().count("\n") == 2


def test_bench_records_the_effort(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "one.png", size=(48, 32))
    report = tmp_path / "r.json"
    result = _run("bench", str(folder), "-q", "30", "-e", "2", "--json", str(report))
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["settings"]["effort"] == 2 and data["settings"]["quality"] == 30
    assert data["images"][0]["effort"] == 2 and "effort 2" in data["description"]


@pytest.mark.parametrize("effort", ["0", "10", "fast"])
@pytest.mark.parametrize("command", ["encode", "bench"])
def test_effort_outside_1_to_9_is_a_usage_error(tmp_path: Path, command: str, effort: str) -> None:
    image = _png(tmp_path / "a.png")
    result = _run(command, str(image if command == "encode" else tmp_path), "--effort", effort)
    assert result.exit_code == 2 and "effort" in result.output.lower(), result.output
    assert not (tmp_path / "a.g2d").exists()


def test_effort_is_accepted_and_told(tmp_path: Path) -> None:
    image = _png(tmp_path / "a.png")
    result = _run("encode", str(image), "-e", "1", "-n", "30")
    assert result.exit_code == 0, result.output
    assert "effort 1" in result.output and (tmp_path / "a.g2d").exists()


def test_bench_runs_baselines_within_f2dgs_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "one.png", size=(48, 32))
    report = tmp_path / "r.json"
    result = _run("bench", str(folder), *FAST, "--codecs", "f2dgs,jpeg,webp", "--json", str(report))
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    f2dgs_bytes = data["images"][0]["bytes"]
    assert set(data["baselines"]) == {"jpeg", "webp"}
    for codec in ("jpeg", "webp"):
        (row,) = data["baselines"][codec]["images"]
        assert row["codec"] == codec and 0 < row["bytes"] <= f2dgs_bytes and row["psnr"] > 0
    assert "f2dgs vs baselines" in result.output


@pytest.mark.parametrize("codecs", ["jpeg", "f2dgs,gif", ""])
def test_bench_codecs_are_checked(tmp_path: Path, codecs: str) -> None:
    result = _run("bench", str(tmp_path), "--codecs", codecs)
    assert result.exit_code == 2
    assert "--codecs" in result.output


@pytest.mark.parametrize("rates", [["-q", "50", "--bpp", "1"], ["--bpp", "1", "-n", "60"], ["-q", "5", "-n", "9"]])
def test_rate_options_are_mutually_exclusive(tmp_path: Path, rates: list[str]) -> None:
    result = _run("encode", str(_png(tmp_path / "r.png")), *rates, "-o", str(tmp_path / "r.g2d"))
    assert result.exit_code == 2
    assert "only one of" in result.output
    assert not (tmp_path / "r.g2d").exists()


def test_bpp_target_is_met(tmp_path: Path) -> None:
    out = tmp_path / "b.g2d"
    image = _png(tmp_path / "b.png", size=(64, 48))
    result = _run("encode", str(image), "--bpp", "4", "--steps", "3", "--init", "gradient", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert 0.9 * 4 <= 8 * out.stat().st_size / (64 * 48) <= 4


def test_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("encode", str(_png(tmp_path / "b.png")), "--backend", "vulkan")
    assert result.exit_code == 2


def test_gmod_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    result = _run("encode", str(_png(tmp_path / "g.png")), *FAST, "--backend", "gmod")
    assert result.exit_code == 1 and "gmod" in result.output and "CUDA" in result.output
    assert not (tmp_path / "g.g2d").exists()


def test_outputs_get_ordinary_permissions(tmp_path: Path) -> None:
    import os

    previous = os.umask(0o022)
    try:
        out = tmp_path / "p.g2d"
        result = _run("encode", str(_png(tmp_path / "p.png")), *FAST, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)


def test_first_encode_on_a_machine_compiles_the_kernels_before_timing(tmp_path: Path) -> None:
    # an empty numba cache, as on a new machine: the command says it compiled (numba's cache missed), and the
    # file's own time (the summary line) leaves that compile out; the second run loads the kernels and says nothing
    source = _png(tmp_path / "c.png")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")}
    command = [sys.executable, "-m", "fast2dgs_cli", "encode", str(source), *FAST, "-o", str(tmp_path / "c.g2d")]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    notice = re.search(r"compiled the encoder's kernels in (\d+) s \(once per machine", done.stderr)
    assert notice, done.stderr
    encode_s = float(re.search(r"dB, ([\d.]+) s \(", done.stderr).group(1))
    assert encode_s < float(notice.group(1))  # one file's encode is quicker than the compile on any machine
    again = subprocess.run([*command[:-1], str(tmp_path / "again.g2d")], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "compiled" not in again.stderr, again.stderr
    assert (tmp_path / "c.g2d").read_bytes() == (tmp_path / "again.g2d").read_bytes()


def test_decode_loads_cached_kernels_without_numba_compiler(tmp_path: Path, encoded: Path) -> None:
    command = [sys.executable, "-X", "importtime", "-m", "fast2dgs_cli", "decode", str(encoded), "-o", "x.png"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)  # compiles what the cache lacks
    assert first.returncode == 0, first.stderr[-2000:]
    done = subprocess.run([*command, "--force"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = _imported(done.stderr)
    assert "fast2dgs_cli.render.cpu_kernels" in modules
    assert "numba.np.arraymath" not in modules  # numba's lowering: imported only to compile (fast2dgs_cli/jit.py)


def test_encode_imports_no_compiler_machinery(tmp_path: Path) -> None:
    source = _png(tmp_path / "a.png")
    command = [sys.executable, "-X", "importtime", "-m", "fast2dgs_cli", "encode", str(source), *FAST]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "a.g2d").is_file()
    modules = _imported(done.stderr)
    assert "fast2dgs_cli.encoder.fit" in modules
    # torch.optim.Adam would import torch._dynamo, Tensor.backward(gradient) SymPy: start-up an encode never uses
    assert not [m for m in modules if m.startswith(("torch._dynamo", "sympy"))]
