"""An object-store round trip: a folder encoded from and to ``s3://`` URLs (moto's S3 server on localhost,
through s3fs), byte-identical to the local run, by this process and by the local pool, then resumed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from batch_helpers import SETTINGS, make_folder, outputs, statuses
from typer.testing import CliRunner

from fast2dgs_cli import batch
from fast2dgs_cli.cli import app

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
FAST = ["--gaussians", "40", "--steps", "3"]


@pytest.fixture(scope="module")
def bucket():
    """``s3://f2dgs-test`` on a moto server on a free localhost port; fsspec and worker processes find it
    through ``FSSPEC_S3_*`` settings."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    settings = {"FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "FSSPEC_S3_KEY": "test",
                "FSSPEC_S3_SECRET": "test", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    patch = pytest.MonkeyPatch()
    for name, value in settings.items():
        patch.setenv(name, value)
    import fsspec.config

    patch.setitem(fsspec.config.conf, "s3", {"endpoint_url": settings["FSSPEC_S3_ENDPOINT_URL"], "key": "test",
                                              "secret": "test"})  # fmt: skip
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **fsspec.config.conf["s3"])
    fs.mkdir("f2dgs-test")
    yield fs
    patch.undo()
    server.stop()


def test_an_s3_folder_round_trips_byte_identical_to_local(bucket, tmp_path: Path) -> None:
    source = make_folder(tmp_path / "in")
    batch.run_batch(batch.plan_encode([str(source)], str(tmp_path / "local"), False), batch.EncodeWork(SETTINGS))
    expected = outputs(tmp_path / "local")
    bucket.put(str(source), "f2dgs-test/in", recursive=True)
    runner = CliRunner()
    for workers, folder in (("1", "one"), ("2", "pool")):
        manifest = tmp_path / f"{folder}.jsonl"
        args = ["encode", "s3://f2dgs-test/in/", "-o", f"s3://f2dgs-test/{folder}", *FAST, "-j", workers,
                "--manifest", str(manifest)]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        bucket.invalidate_cache()
        found = {name.split(f"{folder}/", 1)[1]: bucket.cat(name) for name in bucket.find(f"f2dgs-test/{folder}")}
        assert found == expected
        assert all(seen == ["ok"] for seen in statuses(batch.read_manifest(manifest)).values())
    again = runner.invoke(app, ["encode", "s3://f2dgs-test/in", "-o", "s3://f2dgs-test/one", *FAST, "-j", "1",
                                "--manifest", str(tmp_path / "again.jsonl")])  # fmt: skip
    assert again.exit_code == 0 and "4 file(s) skipped" in again.output
    decoded = runner.invoke(app, ["decode", "s3://f2dgs-test/one/sub", "-o", str(tmp_path / "png"), "-j", "1"])
    assert decoded.exit_code == 0, decoded.output
    assert sorted(outputs(tmp_path / "png", ".png")) == ["c.png", "deeper/d.png"]
