"""Batch throughput on Kodak: images per minute of the sequential runner, the local pool at each worker count,
and a local Ray cluster, with each runner's start-up cost.

Each runner encodes the same images (default settings) into a fresh folder through ``batch.run_batch``; the
wall time counts everything a user waits for: kernels loaded (sequential), worker processes spawned and warmed
(pool), Ray started and its actors warmed (Ray). Start-up is the wall time until the first file finished, less
that file's own seconds. ``steady_images_per_min`` counts only the files after the first. The outputs of every
runner are checked byte-identical. Run: ``PYTHONPATH=. python benchmarks/batch_throughput.py [--limit N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import RESULTS, add_kodak_arguments, kodak_files, machine_info, write_json

from fast2dgs_cli import batch


def run(files: list[Path], out: Path, runner: batch.RunnerSettings) -> dict:
    """One runner over ``files``: wall time, start-up and images per minute."""
    jobs = batch.plan_encode([str(f) for f in files], str(out), force=False)
    done: list[tuple[float, batch.FileResult]] = []
    start = time.perf_counter()
    if not runner.uses_ray and runner.workers == 1:
        batch.prepare_encoder(batch.EncodeSettings())
    results = batch.run_batch(jobs, batch.EncodeWork(batch.EncodeSettings()), runner,
                              on_done=lambda r: done.append((time.perf_counter(), r)))  # fmt: skip
    wall = time.perf_counter() - start
    first_at, first = done[0]
    steady = (done[-1][0] - first_at) / max(1, len(done) - 1)
    assert all(r.status == "ok" for r in results), [r.message for r in results if r.status != "ok"]
    return {
        "wall_s": round(wall, 2), "startup_s": round(first_at - start - (first.seconds or 0), 2),
        "images_per_min": round(60 * len(files) / wall, 2), "steady_images_per_min": round(60 / steady, 2),
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=24)
    parser.add_argument("--workers", type=int, nargs="*", default=[2, 3], help="pool sizes to measure")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray runner")
    parser.add_argument("--out", type=Path, default=RESULTS / "batch_throughput.json")
    args = parser.parse_args()
    files = kodak_files(args.kodak, args.limit)
    if not files:
        raise SystemExit(f"no PNG images in {args.kodak} (give --kodak)")
    runners = {"sequential": batch.RunnerSettings(workers=1)}
    runners |= {f"pool-{n}": batch.RunnerSettings(workers=n) for n in args.workers}
    if not args.no_ray:
        runners["ray-local"] = batch.RunnerSettings(ray=True, cpus_per_worker=1)
    rows, bytes_by_runner = {}, {}
    scratch = Path(tempfile.mkdtemp(prefix="f2dgs-batch-"))
    try:
        for name, runner in runners.items():
            load = [round(x, 2) for x in os.getloadavg()]
            rows[name] = {"load_before": load, **run(files, scratch / name, runner)}
            bytes_by_runner[name] = {p.name: p.read_bytes() for p in sorted((scratch / name).glob("*.g2d"))}
            print(name, rows[name], flush=True)
    finally:
        shutil.rmtree(scratch)
    identical = all(found == bytes_by_runner["sequential"] for found in bytes_by_runner.values())
    best = max((n for n in rows if n.startswith("pool")), key=lambda n: rows[n]["images_per_min"], default=None)
    write_json(args.out, {
        "description": "f2dgs encode of Kodak images (default settings) per runner: sequential, local pool, Ray",
        "images": len(files), "runners": rows, "best_pool": best, "outputs_byte_identical": identical,
        "host_shared": "2 cores shared with other sessions' jobs while measured: see load_before/load_after",
        "machine": machine_info(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
