"""Batches without Ray: the local process pool against this process, crashes, resuming, interrupts, lists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_helpers import SETTINGS, KillingWork, leftovers, make_folder, outputs, statuses, stop_after
from typer.testing import CliRunner

from fast2dgs_cli import batch
from fast2dgs_cli.cli import app

FAST = ["--gaussians", "40", "--steps", "3"]
WORK = batch.EncodeWork(SETTINGS)
POOL = batch.RunnerSettings(workers=2, retries=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A folder tree of images, and its outputs encoded one after another in this process."""
    root = tmp_path_factory.mktemp("reference")
    source = make_folder(root / "in")
    jobs = batch.plan_encode([str(source)], str(root / "out"), force=False)
    results = batch.run_batch(jobs, WORK)
    assert [r.status for r in results] == ["ok"] * 4
    return source, outputs(root / "out")


def test_the_pool_writes_the_same_bytes_as_one_process(tmp_path: Path, reference) -> None:
    source, expected = reference
    assert sorted(expected) == ["a.g2d", "b.g2d", "sub/c.g2d", "sub/deeper/d.g2d"]  # the tree is mirrored
    jobs = batch.plan_encode([str(source)], str(tmp_path / "out"), force=False)
    results = batch.run_batch(jobs, WORK, POOL)
    assert [r.status for r in results] == ["ok"] * 4 and outputs(tmp_path / "out") == expected
    assert all(r.bytes and r.bpp and r.psnr and r.psnr > 10 for r in results)


def test_a_killed_worker_loses_nothing_and_a_deadly_file_ends_crashed(tmp_path: Path, reference) -> None:
    source, expected = reference
    work = KillingWork(WORK, always="b", once="c", marker=str(tmp_path / "killed-once"))
    manifest = tmp_path / "manifest.jsonl"
    jobs = batch.plan_encode([str(source)], str(tmp_path / "out"), force=False)
    with batch.Manifest(manifest) as record:
        results = batch.run_batch(jobs, work, POOL, record)
    assert {r.job.name.rsplit("/", 1)[-1]: r.status for r in results} == {
        "a.png": "ok", "b.png": "crashed", "c.png": "ok", "d.png": "ok"}  # fmt: skip
    assert "its worker died (signal 9) on each of 2 tries" in results[1].message
    assert statuses(batch.read_manifest(manifest)) == {"a": ["ok"], "b": ["crashed"], "c": ["ok"], "d": ["ok"]}
    assert outputs(tmp_path / "out") == {k: v for k, v in expected.items() if k != "b.g2d"}


def test_an_interrupted_batch_resumes_without_redoing_a_file(tmp_path: Path, reference) -> None:
    source, expected = reference
    manifest, out = tmp_path / "manifest.jsonl", tmp_path / "out"

    with pytest.raises(KeyboardInterrupt), batch.Manifest(manifest) as record:
        batch.run_batch(batch.plan_encode([str(source)], str(out), False), WORK, POOL, record, on_done=stop_after(2))
    assert not leftovers(out) and len(outputs(out)) >= 2  # a busy worker may finish its file as it stops
    first = [p for p in sorted(out.rglob("*.g2d"))]
    first[0].write_bytes(first[0].read_bytes()[:-7])  # a truncated leftover is redone
    with batch.Manifest(manifest) as record:
        batch.run_batch(batch.plan_encode([str(source)], str(out), False), WORK, POOL, record)
    assert outputs(out) == expected
    seen = statuses(batch.read_manifest(manifest))
    assert sorted(seen) == ["a", "b", "c", "d"] and seen[first[0].stem][-1] == "ok", seen
    assert all(s.count("ok") <= 1 + (stem == first[0].stem) and set(s) <= {"ok", "skipped"} for stem, s in seen.items())
    forced = CliRunner().invoke(app, ["encode", str(source), "-o", str(out), *FAST, "--force", "-j", "1"])
    assert forced.exit_code == 0 and "skipped" not in forced.output and outputs(out) == expected


def test_globs_and_lists_name_the_inputs(tmp_path: Path, reference) -> None:
    source, expected = reference
    listed = tmp_path / "list.txt"
    listed.write_text(f"# two files\n{source / 'a.png'}\n\n{source / 'sub' / 'c.png'}\n")
    runner = CliRunner()
    result = runner.invoke(app, ["encode", "--from-list", str(listed), "-o", str(tmp_path / "l"), *FAST, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "l") == {"a.g2d": expected["a.g2d"], "c.g2d": expected["sub/c.g2d"]}
    pattern = str(source / "**" / "[cd].png")
    result = runner.invoke(app, ["encode", pattern, "-o", str(tmp_path / "g"), *FAST, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "g") == {k: v for k, v in expected.items() if k.startswith("sub/")}
    empty = runner.invoke(app, ["encode", "--from-list", str(tmp_path / "missing.txt")])
    assert empty.exit_code == 1 and "cannot read the list" in empty.output


def _manifest_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_the_pool_cleanly_and_a_rerun_completes(
    tmp_path: Path, reference, signum: int
) -> None:
    source, expected = reference
    out = tmp_path / "out"
    command = [sys.executable, "-m", "fast2dgs_cli", "encode", str(source), "-o", str(out), *FAST, "-j", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while _manifest_lines(out / batch.MANIFEST_NAME) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signum)  # as a terminal's Ctrl-C: the whole process group
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode in (128 + signum, 0) and "Traceback" not in stderr, stderr
    assert not leftovers(out)
    done = outputs(out)
    assert done == {k: expected[k] for k in done}  # whatever is there is whole
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert outputs(out) == expected
    seen = statuses(batch.read_manifest(out / batch.MANIFEST_NAME))
    assert sorted(seen) == ["a", "b", "c", "d"]  # an output finished as the signal came is skipped, not redone
    assert all(statuses.count("ok") <= 1 and statuses[-1] in ("ok", "skipped") for statuses in seen.values()), seen
