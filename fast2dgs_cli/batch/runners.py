"""``run_batch``: the jobs of a command through one runner, each result recorded in the manifest as it ends.

The runner is this process (one file after another), the local process pool (``pool``) or a Ray cluster
(``ray_runner``); all call ``files.run_one`` on each file, so the outputs are the same bytes whichever runs
them, in whatever order. A file's failure is its result and the batch goes on; a ``SetupError`` (which every
file would meet) stops it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..interrupts import raise_if_interrupted
from ..paths import Job
from .files import FileResult, Work, run_one
from .manifest import Manifest
from .settings import RunnerSettings, StepCallback

__all__ = ["run_batch"]


def run_batch(
    jobs: list[Job],
    work: Work,
    runner: RunnerSettings = RunnerSettings(),
    manifest: Manifest | None = None,
    on_start: Callable[[Job], StepCallback | None] = lambda job: None,
    on_done: Callable[[FileResult], None] = lambda result: None,
) -> list[FileResult]:
    """Do every job; return their results in the jobs' order.

    Args:
        jobs: the files.
        work: what to do with each (``files.EncodeWork``, ``DecodeWork``, ``benchmark.BenchWork``).
        runner: where to do it (this process, a local pool, Ray).
        manifest: where each result is appended as it ends.
        on_start: called as this process starts a file (one process only); returns its step callback.
        on_done: called with each result as it ends, in the order they end.
    """
    results: list[FileResult | None] = [None] * len(jobs)

    def finish(index: int, result: FileResult) -> None:
        results[index] = result
        if manifest is not None:
            manifest.add(result)
        on_done(result)

    pending = [index for index, job in enumerate(jobs) if not job.error]
    for index, job in enumerate(jobs):
        if job.error:
            finish(index, run_one(work, job))
    if runner.uses_ray and pending:
        from .ray_runner import run_ray

        run_ray(jobs, pending, work, runner, finish)
    elif runner.workers > 1 and len(pending) > 1:
        from .pool import run_pool

        run_pool(jobs, pending, work, runner.workers, runner.retries, finish)
    else:
        for index in pending:
            raise_if_interrupted()
            finish(index, run_one(work, jobs[index], on_start(jobs[index])))
    return [result for result in results if result is not None]
