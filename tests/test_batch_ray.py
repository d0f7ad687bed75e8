"""Batches on a real local Ray cluster of two nodes (``ray.cluster_utils.Cluster``, one CPU each), shared by
the module: bad files, killed and deadly workers, resuming, the same bytes as one process, both nodes used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_helpers import (
    SETTINGS,
    GatheringWork,
    KillingWork,
    leftovers,
    make_folder,
    outputs,
    statuses,
    stop_after,
)
from typer.testing import CliRunner

from fast2dgs_cli import batch
from fast2dgs_cli.cli import app

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

WORK = batch.EncodeWork(SETTINGS)
RAY = batch.RunnerSettings(workers=2, ray=True, retries=1)


@pytest.fixture(scope="module")
def cluster():
    """Two nodes of one CPU each; workers import the package and the tests' helpers as this process does."""
    here = Path(__file__).parent
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(here.parent), str(here), saved or ""])
    nodes = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, log_to_driver=False)
    nodes.wait_for_nodes()
    yield nodes
    ray.shutdown()
    nodes.shutdown()
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A folder tree of images with one bad file, and its outputs encoded one after another in this process."""
    root = tmp_path_factory.mktemp("reference")
    source = make_folder(root / "in")
    (source / "sub" / "bad.png").write_bytes(b"not an image")
    jobs = batch.plan_encode([str(source)], str(root / "out"), force=False)
    batch.run_batch(jobs, WORK)
    return source, outputs(root / "out")


def test_ray_writes_the_same_bytes_and_reports_the_bad_file(cluster, tmp_path: Path, reference):
    source, expected = reference
    out = tmp_path / "out"
    args = ["encode", str(source), "-o", str(out), "--gaussians", "40", "--steps", "3", "--ray", "-j", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "1 file(s) failed" in result.output and "bad.png" in result.output
    assert outputs(out) == expected and len(expected) == 4
    records = batch.read_manifest(out / batch.MANIFEST_NAME)
    assert statuses(records) == {"a": ["ok"], "b": ["ok"], "bad": ["failed"], "c": ["ok"], "d": ["ok"]}
    assert "not a readable image" in next(r["error"] for r in records if r["status"] == "failed")


def test_both_nodes_do_files_and_the_manifest_says_which(cluster, tmp_path: Path, reference):
    source, expected = reference
    (tmp_path / "markers").mkdir()
    work = GatheringWork(WORK, str(tmp_path / "markers"))
    with batch.Manifest(tmp_path / "manifest.jsonl") as record:
        batch.run_batch(batch.plan_encode([str(source)], str(tmp_path / "out"), False), work, RAY, record)
    assert outputs(tmp_path / "out") == expected
    records = batch.read_manifest(tmp_path / "manifest.jsonl")
    nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert {r["node"] for r in records if r["status"] == "ok"} == nodes and len(nodes) == 2


def test_a_killed_worker_loses_nothing_and_a_deadly_file_ends_crashed(cluster, tmp_path: Path, reference):
    source, expected = reference
    work = KillingWork(WORK, always="b", once="c", marker=str(tmp_path / "killed-once"))
    jobs = batch.plan_encode([str(source)], str(tmp_path / "out"), force=False)
    results = {Path(r.job.name).stem: r for r in batch.run_batch(jobs, work, RAY)}
    assert {stem: r.status for stem, r in results.items()} == {
        "a": "ok", "b": "crashed", "bad": "failed", "c": "ok", "d": "ok"}  # fmt: skip
    assert "its worker died on each of 2 tries" in results["b"].message
    assert outputs(tmp_path / "out") == {k: v for k, v in expected.items() if k != "b.g2d"}


def test_an_interrupted_ray_batch_resumes_without_redoing_a_file(cluster, tmp_path: Path, reference):
    source, expected = reference
    manifest, out = tmp_path / "manifest.jsonl", tmp_path / "out"

    with pytest.raises(KeyboardInterrupt), batch.Manifest(manifest) as record:
        batch.run_batch(batch.plan_encode([str(source)], str(out), False), WORK, RAY, record, on_done=stop_after(2))
    assert not leftovers(out)
    with batch.Manifest(manifest) as record:
        batch.run_batch(batch.plan_encode([str(source)], str(out), False), WORK, RAY, record)
    assert outputs(out) == expected
    seen = statuses(batch.read_manifest(manifest))
    assert sorted(seen) == ["a", "b", "bad", "c", "d"]
    assert all(s.count("ok") <= 1 and s[-1] in ("ok", "skipped") for stem, s in seen.items() if stem != "bad"), seen
