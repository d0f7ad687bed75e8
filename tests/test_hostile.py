"""Hostile and unlucky inputs: each ends with one error line and the right exit code, never a traceback, a
half-written output, or an overwritten file."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fast2dgs_cli import F2dgsError, batch
from fast2dgs_cli.cli import app

runner = CliRunner()
FAST = ["--gaussians", "60", "--steps", "5"]


def _cli(*args: str, cwd: Path | None = None, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fast2dgs_cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, **kwargs)


def _one_error_line(stderr: str, words: str) -> None:
    """``stderr`` is one error line holding ``words`` (after the first-run compile notice, on a new machine)."""
    lines = [line for line in stderr.splitlines(keepends=True) if not line.startswith("compiled the encoder")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("\n"), stderr
    assert words in lines[0] and "Traceback" not in stderr


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width × height``, with no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _gif_header(width: int, height: int) -> bytes:
    """A 35-byte GIF whose screen and image claim ``width × height``."""
    screen = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00"
    return screen + image + b"\x02\x02\x44\x01\x00\x3b"


@pytest.fixture()
def small_png(tmp_path: Path) -> Path:
    path = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("bomb.gif", _gif_header(9459, 9459), "9459x9459 = 89472681 pixels; the limit is 40000000 (--max-pixels)"),
        ("wide.png", _png_header(16384, 6000), "16384x6000 = 98304000 pixels; the limit is 40000000"),
        ("huge.png", _png_header(20000, 10), "the limit is 16384 pixels on a side"),
    ],
)
def test_image_bombs_are_refused_from_the_header(tmp_path: Path, name: str, data: bytes, words: str) -> None:
    (tmp_path / name).write_bytes(data)
    done = _cli("encode", name, *FAST, cwd=tmp_path)
    assert done.returncode == 1
    _one_error_line(done.stderr, words)
    assert list(tmp_path.iterdir()) == [tmp_path / name]


def test_the_pixel_limit_can_be_raised(tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(_png_header(16384, 6000))
    result = runner.invoke(app, ["encode", str(tmp_path / "wide.png"), "--max-pixels", "100000000", *FAST])
    assert result.exit_code == 1 and "cannot decode image" in result.output  # past the limit, into the pixels


def test_stdin_is_read_up_to_the_input_limit(monkeypatch: pytest.MonkeyPatch, small_png: Path) -> None:
    monkeypatch.setattr(batch.files, "MAX_INPUT_BYTES", 100)
    result = runner.invoke(app, ["encode", "-", *FAST], input=small_png.read_bytes())
    assert result.exit_code == 1 and "stdin holds more than 100 bytes, the input limit" in result.output


def test_an_output_that_appears_during_the_encode_is_not_replaced(
    tmp_path: Path, small_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fast2dgs_cli import rate

    target = tmp_path / "out.g2d"
    real = rate.encode_at_rate

    def encode_while_another_writes(*args, **kwargs):
        target.write_bytes(b"the other process's file")
        return real(*args, **kwargs)

    monkeypatch.setattr(rate, "encode_at_rate", encode_while_another_writes)
    job = batch.plan_encode([str(small_png)], str(target), force=False)[0]
    assert job.error == ""
    with pytest.raises(F2dgsError, match="out.g2d exists"):
        batch.encode_file(job, batch.EncodeSettings(gaussians=60, steps=5))
    assert target.read_bytes() == b"the other process's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.g2d", "small.png"]  # no temporary file left


def test_a_dangling_symlink_at_the_output_is_refused(tmp_path: Path, small_png: Path) -> None:
    (tmp_path / "out.g2d").symlink_to(tmp_path / "nowhere")
    result = runner.invoke(app, ["encode", str(small_png), "-o", str(tmp_path / "out.g2d"), *FAST])
    assert result.exit_code == 1 and "exists (use --force" in result.output
    assert (tmp_path / "out.g2d").is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("folder", "name", "words"),
    [("missing", "out.g2d", "no folder"), (".", "n" * 252 + ".g2d", "the name is longer than the file system allows")],
)
def test_the_output_path_is_checked_before_encoding(
    tmp_path: Path, small_png: Path, folder: str, name: str, words: str
) -> None:
    result = runner.invoke(app, ["encode", str(small_png), "-o", str(tmp_path / folder / name), *FAST])
    assert result.exit_code == 1 and words in result.output and "N=" not in result.output


def test_a_name_of_255_bytes_is_written(tmp_path: Path, small_png: Path) -> None:
    target = tmp_path / ("n" * 251 + ".g2d")
    assert runner.invoke(app, ["encode", str(small_png), "-o", str(target), *FAST]).exit_code == 0
    assert target.is_file()


def test_markup_and_newlines_in_file_names_are_printed_as_they_are(tmp_path: Path, small_png: Path) -> None:
    folder = tmp_path / "[bold]"
    folder.mkdir()
    for name in ("[red].png", "a\nb.png"):
        (folder / name).write_bytes(small_png.read_bytes())
    done = _cli("encode", str(folder), "-o", str(tmp_path / "out"), *FAST)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(line.startswith(f"{folder}/[red].png: 40x24") for line in lines), lines
    assert any(line.startswith(f"{folder}/a\\nb.png: 40x24") for line in lines), lines


@pytest.mark.parametrize(
    "args",
    [
        ["decode", "x.g2d", "--scale", "inf"],
        ["decode", "x.g2d", "--scale", "1e308"],
        ["decode", "x.g2d", "--width", "1" + "0" * 21],
        ["encode", "x.png", "--bpp", "inf"],
        ["encode", "x.png", "--seed", str(2**70)],
        ["encode", "x.png", "--steps", "9" * 20],
        ["encode", "x.png", "--max-pixels", "0"],
        ["encode", "x.png", "-q", "50", "--bpp", "1"],
        ["encode"],
    ],
)
def test_bad_numbers_and_usage_are_one_line_and_exit_2(args: list[str]) -> None:
    done = _cli(*args)
    assert done.returncode == 2, done.stderr
    _one_error_line(done.stderr, "--help')")


def test_corrupt_exif_prints_no_warning(tmp_path: Path) -> None:
    picture = Image.fromarray(np.full((24, 40, 3), 128, np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 8)
    (tmp_path / "exif.jpg").write_bytes(buffer.getvalue())
    done = _cli("encode", "exif.jpg", *FAST, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("compiled the encoder")]
    assert done.returncode == 0 and "Warning" not in done.stderr and len(lines) == 1, done.stderr


def test_a_full_or_closed_stdout_ends_with_one_line(tmp_path: Path, small_png: Path) -> None:
    assert _cli("encode", str(small_png), "-o", str(tmp_path / "a.g2d"), *FAST).returncode == 0
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "fast2dgs_cli", "decode", str(tmp_path / "a.g2d"), "-o", "-"],
                              stdout=full, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert done.returncode == 1
    _one_error_line(done.stderr, "cannot write to stdout: No space left on device")
    closed = f"{sys.executable} -m fast2dgs_cli decode {tmp_path / 'a.g2d'} -o - >&-"
    done = subprocess.run(["sh", "-c", closed], capture_output=True, text=True)
    assert done.returncode == 1
    _one_error_line(done.stderr, "cannot write to stdout: it is closed")


def test_finalizer_errors_are_silent_after_a_signal_and_shown_before(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interrupt can leave an object half closed, whose finalizer then fails: say nothing of that."""
    from fast2dgs_cli import interrupts

    class HalfClosed:
        def __del__(self) -> None:
            raise AttributeError("'ValueRef' object has no attribute '_as_parameter_'")

    monkeypatch.setattr(sys, "unraisablehook", interrupts.quiet_unraisable)
    monkeypatch.setattr(interrupts, "received", [signal.SIGTERM])
    HalfClosed()
    assert "_as_parameter_" not in capsys.readouterr().err
    monkeypatch.setattr(interrupts, "received", [])
    HalfClosed()
    assert "_as_parameter_" in capsys.readouterr().err


@pytest.mark.parametrize(("signum", "code", "cache"), [(signal.SIGINT, 130, "warm"), (signal.SIGTERM, 143, "warm"),
                                                       (signal.SIGINT, 130, "empty")])  # fmt: skip
def test_an_interrupt_at_any_moment_ends_cleanly(
    tmp_path: Path, small_png: Path, signum: int, code: int, cache: str
) -> None:
    """Signals during start-up, kernel loading (or their first compile, with an empty cache) and encoding."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")} if cache == "empty" else None
    for delay in (1.0, 2.0, 3.0):  # from the imports on (a signal before Python runs our code is the OS's)
        command = [sys.executable, "-m", "fast2dgs_cli", "encode", str(small_png), "-o", str(tmp_path / "o.g2d")]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(delay)
        process.send_signal(signum)
        stderr = process.communicate()[1]
        assert process.returncode in (code, 0), (delay, process.returncode, stderr)
        assert "Traceback" not in stderr, stderr
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".f2dgs-")]
        assert not leftovers, leftovers
        if process.returncode == code:
            assert not (tmp_path / "o.g2d").exists()
        (tmp_path / "o.g2d").unlink(missing_ok=True)
