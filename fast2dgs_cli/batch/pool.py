"""The local process pool: ``workers`` processes, each warmed once, sent one file at a time.

A worker that dies (killed, out of memory, a crash in native code) is replaced and its file tried again, up
to ``retries`` times; then the file is ``crashed`` and the batch goes on. Workers share the machine's cores
(``os.cpu_count() // workers`` threads each; the bytes do not depend on it). They ignore SIGINT, which a
terminal sends to the whole process group: the main process stops them with SIGTERM, which each turns into an
interrupt, so that an output being written is removed before the worker exits.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import Counter, deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from ..errors import SetupError
from ..interrupts import on_signal, quiet_unraisable, raise_if_interrupted, received
from ..paths import Job
from .files import FileResult, Work, run_one

__all__ = ["limit_threads", "run_pool"]

_STOP_SECONDS = 10.0
"""How long a stopped worker gets to remove its temporary file and exit before it is killed."""


def limit_threads(threads: int) -> None:
    """Run this process's numba kernels and torch on ``threads`` threads (before either is imported)."""
    os.environ["NUMBA_NUM_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _stop(signum: int, frame: object) -> None:
    """A worker's SIGTERM handler: interrupt the work once (a second SIGTERM, from the main process after the
    terminal's, is ignored)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    on_signal(signum, frame)


def _serve(connection: Connection, work: Work, threads: int) -> None:
    """A worker's life: warm up, then do each ``(index, job)`` received and send its result back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    sys.unraisablehook = quiet_unraisable
    try:
        limit_threads(threads)
        work.warm()
        while True:
            try:
                _, job = connection.recv()
            except EOFError:  # the main process closed the pipe: the batch is done
                return
            connection.send(run_one(work, job))
    except SetupError as error:
        connection.send(error)
    except (KeyboardInterrupt, ConnectionError):  # stopped, or the main process is gone (a broken or reset pipe)
        return
    except BaseException:
        if not received:  # not stopped: a real failure of the worker, told as a crash
            raise
        return  # stopped, possibly through a library that turned the interrupt into another exception
    finally:  # a SIGTERM during the interpreter's exit has nothing left to clean up: let it pass quietly
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Worker:
    def __init__(self, context: multiprocessing.context.SpawnContext, work: Work, threads: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, work, threads), daemon=True)
        try:  # ignored signals are inherited: a Ctrl-C during the worker's start-up is the main process's
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            previous = None
        try:
            self.process.start()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        child.close()

    def stop(self, busy: bool) -> None:
        """Close the pipe (which ends an idle worker); interrupt a busy one."""
        self.connection.close()
        if busy and self.process.is_alive():
            self.process.terminate()


def _died(job: Job, tries: int, code: int | None) -> FileResult:
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return FileResult(job, "crashed", f"its worker died ({how}) on each of {tries} tries")


def run_pool(
    jobs: list[Job], pending: list[int], work: Work, workers: int, retries: int,
    finish: Callable[[int, FileResult], None],
) -> None:  # fmt: skip
    """Do ``jobs[i]`` for each ``i`` of ``pending`` in ``workers`` processes, calling ``finish(i, result)`` as
    each ends."""
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    queue, tries = deque(pending), Counter()
    idle = [_Worker(context, work, threads) for _ in range(min(workers, len(pending)))]
    busy: dict[_Worker, int] = {}
    try:
        while queue or busy:
            while queue and idle:
                worker, index = idle.pop(), queue.popleft()
                worker.connection.send((index, jobs[index]))
                busy[worker] = index
            wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            raise_if_interrupted()
            for worker, index in list(busy.items()):
                message = _receive(worker)
                if message is None and worker.process.is_alive():
                    continue
                del busy[worker]
                if isinstance(message, SetupError):
                    raise message
                if message is not None:
                    idle.append(worker)
                    finish(index, message)
                    continue
                worker.process.join()
                tries[index] += 1
                if tries[index] > retries:
                    finish(index, _died(jobs[index], tries[index], worker.process.exitcode))
                else:
                    queue.appendleft(index)
                idle.append(_Worker(context, work, threads))
    finally:
        _stop_all(idle, list(busy))


def _receive(worker: _Worker) -> FileResult | SetupError | None:
    """The worker's message if one is waiting, else ``None`` (none yet, or the worker died)."""
    try:
        return worker.connection.recv() if worker.connection.poll() else None
    except (EOFError, OSError):
        return None


def _stop_all(idle: list[_Worker], busy: list[_Worker]) -> None:
    """End the workers: a closed pipe ends an idle one, SIGTERM a busy one; kill any that outstays its time."""
    for worker in idle:
        worker.stop(busy=False)
    for worker in busy:
        worker.stop(busy=True)
    for worker in idle + busy:
        worker.process.join(_STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()

