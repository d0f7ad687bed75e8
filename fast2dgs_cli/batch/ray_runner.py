"""The Ray runner: Ray Data over the file list, ``map_batches`` over a pool of warm actors (``_RayWorker``).

```
[(index, job)] ─from_items (small blocks)─► map_batches(_RayWorker, actor pool) ─iter_rows─► finish(i, result)
```
Every actor starts and warms once (kernels, networks) before the first file, then does one file per
call, one at a time (so that an actor's death costs a retry to no other file), reserving ``cpus_per_worker``
CPUs (its threads) and ``gpus_per_worker`` GPUs. An actor that dies is restarted and its block retried up to
``retries`` times; a block that still fails is dropped (Ray Data's ``max_errored_blocks``), and every file
whose result never came back is reported ``crashed``: nothing is lost silently and nothing loops. Ray's own
progress bars and logs are off; results stream to the caller as they finish. Ray is imported only here.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Callable

from ..errors import SetupError
from ..paths import Job
from .files import FileResult, Work, run_one
from .pool import limit_threads
from .settings import RunnerSettings

__all__ = ["run_ray"]

START_SECONDS = 600
"""How long the pool's actors may take to start (all of them start before the first file: an actor still
starting while files flow could be cancelled by Ray Data's scaling, taking its file with it)."""
MAX_BLOCKS = 10_000
"""Most blocks the file list is cut into: one file a block up to this many files, so a lost block loses
one file; beyond it, a few files a block keep the scheduler's work small."""


class _RayWorker:
    """One warm actor: the work, warmed in the constructor; each call does the files of a batch."""

    def __init__(self, work: Work, threads: int) -> None:
        import ray

        limit_threads(threads)
        self.work = work
        self.node = ray.get_runtime_context().get_node_id()
        self.setup_error = ""
        try:
            work.warm()
        except SetupError as error:  # told to the driver with the first file rather than killing the actor
            self.setup_error = str(error)

    def __call__(self, batch: dict) -> dict:
        out = []
        for blob in batch["job"]:
            job: Job = pickle.loads(blob)
            try:
                if self.setup_error:
                    raise SetupError(self.setup_error)
                result: FileResult | SetupError = run_one(self.work, job, node=self.node)
            except SetupError as error:
                result = error
            out.append(pickle.dumps(result))
        return {"index": list(batch["index"]), "result": out}


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise SetupError('--ray needs Ray: pip install "f2dgs[ray]"') from None
    return ray


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address`` (else ``RAY_ADDRESS``, else a new local one); whether we started Ray."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise SetupError(f"cannot join the Ray cluster {address or ''}: {error}".replace("  ", " ")) from None
    return True


def _actors(ray, runner: RunnerSettings, files: int) -> int:
    """Actors in the pool: ``runner.workers`` when set, else as many as the cluster's CPUs (and GPUs) allow."""
    if runner.workers > 1:
        return min(runner.workers, files)
    resources = ray.cluster_resources()
    count = int(resources.get("CPU", 1) // max(runner.cpus_per_worker, 1e-3))
    if runner.gpus_per_worker > 0:
        count = min(count, int(resources.get("GPU", 0) // runner.gpus_per_worker))
    return max(1, min(count, files))


def _dataset(ray, jobs: list[Job], pending: list[int], work: Work, runner: RunnerSettings):
    items = [{"index": index, "job": pickle.dumps(jobs[index])} for index in pending]
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS))
    with warnings.catch_warnings():  # Ray's notices about its own API's future
        warnings.simplefilter("ignore")
        return _map(dataset, work, runner, _actors(ray, runner, len(items)))


def _map(dataset, work: Work, runner: RunnerSettings, actors: int):
    from ray.data import ActorPoolStrategy

    return dataset.map_batches(
        _RayWorker,
        fn_constructor_args=(work, max(1, int(runner.cpus_per_worker))),
        batch_size=1,
        compute=ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
        num_cpus=runner.cpus_per_worker,
        num_gpus=runner.gpus_per_worker,
        max_restarts=-1,
        max_task_retries=runner.retries,
    )


def _rows(ray, dataset):
    """The dataset's rows as they come; a pool that cannot start in time is a ``SetupError``."""
    try:
        yield from dataset.iter_rows()
    except ray.exceptions.GetTimeoutError:
        raise SetupError(f"the Ray workers did not all start within {START_SECONDS} s: too few free CPUs?") from None


def run_ray(
    jobs: list[Job], pending: list[int], work: Work, runner: RunnerSettings,
    finish: Callable[[int, FileResult], None],
) -> None:  # fmt: skip
    """Do ``jobs[i]`` for each ``i`` of ``pending`` on the Ray cluster, calling ``finish(i, result)`` as each
    result streams back, then ``crashed`` for each file whose result never came."""
    ray = _import_ray()
    started = _connect(ray, runner.ray_address)
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.max_errored_blocks, context.wait_for_min_actors_s
    context.enable_progress_bars, context.max_errored_blocks, context.wait_for_min_actors_s = False, -1, START_SECONDS
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    seen: set[int] = set()
    try:
        for row in _rows(ray, _dataset(ray, jobs, pending, work, runner)):
            index, result = int(row["index"]), pickle.loads(row["result"])
            if isinstance(result, SetupError):
                raise result
            seen.add(index)
            finish(index, result)
    finally:
        context.enable_progress_bars, context.max_errored_blocks, context.wait_for_min_actors_s = saved
        quiet.setLevel(level)
        if started:
            ray.shutdown()
    tries = runner.retries + 1
    for index in pending:
        if index not in seen:
            finish(index, FileResult(jobs[index], "crashed", f"its worker died on each of {tries} tries"))
