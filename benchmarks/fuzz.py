"""Long fuzzing runs of the `.g2d` reader and the image loader, with a summary in ``results/fuzz.json``.

The mutators are the test suite's (``tests/mutate_g2d.py``, ``tests/mutate_images.py``), driven here by a
seeded ``random.Random`` per harness, so a run is reproduced from ``--seed`` and the counts. Property: every
input loads or raises the library's own error (``G2DError``, ``ImageError``); any other exception is an
*escape*, recorded by type and place with its smallest input (base64). An input that runs longer than
``--timeout`` seconds is stopped and recorded as a timeout. The checkout's own ``fast2dgs_cli`` is fuzzed,
not an installed copy; libtiff's messages on stderr are silenced during the image run.

    nice -n 19 python benchmarks/fuzz.py --reader 1000000 --images 100000 --seed 1
"""

from __future__ import annotations

import argparse
import base64
import collections
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from common import RESULTS, ROOT, machine_info, write_json

sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's library and the suite's mutators

from mutate_g2d import g2d_seeds, mutate_g2d, read_outcome  # noqa: E402
from mutate_images import PIXEL_LIMIT, image_seeds, load_outcome, mutate_image  # noqa: E402


class _Timeout(BaseException):
    """Raised by the watchdog inside a run that took too long (a BaseException: no ``except Exception`` eats it)."""


@contextmanager
def _quiet_stderr():
    """Send file descriptor 2 (libtiff and libjpeg write there) to /dev/null for the duration."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _on_alarm(signum, frame) -> None:
    raise _Timeout


def fuzz(
    name: str,
    run: Callable[[bytes], str],
    mutate: Callable[[random.Random, list[bytes]], bytes],
    seeds: list[bytes],
    count: int,
    seed: int,
    timeout: float,
) -> dict:
    """Run ``count`` mutants through ``run``; the harness's summary."""
    rng = random.Random(f"{seed}/{name}")
    outcomes: collections.Counter[str] = collections.Counter()
    escapes: dict[str, dict] = {}
    timeouts: list[str] = []
    slowest = 0.0
    start = last_report = time.perf_counter()
    signal.signal(signal.SIGALRM, _on_alarm)
    for done in range(1, count + 1):
        data = mutate(rng, seeds)
        began = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            outcomes[run(data)] += 1
        except _Timeout:
            outcomes["timeout"] += 1
            if len(timeouts) < 5:
                timeouts.append(base64.b64encode(data).decode())
        except Exception as error:  # an escape: what the run looks for
            outcomes["escape"] += 1
            _record(escapes, error, data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        slowest = max(slowest, time.perf_counter() - began)
        now = time.perf_counter()
        if now - last_report >= 30 or done == count:
            last_report = now
            print(f"{name}: {done:,}/{count:,} inputs, {done / (now - start):,.0f}/s, "
                  f"{outcomes['escape']} escapes, {outcomes['timeout']} timeouts", flush=True)  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "inputs": count,
        "seconds": round(seconds, 1),
        "inputs_per_s": round(count / seconds, 1) if seconds else None,
        "seeds": len(seeds),
        "escapes": sum(entry["count"] for entry in escapes.values()),
        "escapes_by_type": escapes,
        "timeouts": outcomes["timeout"],
        "timeout_inputs_base64": timeouts,
        "slowest_input_s": round(slowest, 3),
        "outcomes": dict(outcomes.most_common()),
    }


def _record(escapes: dict[str, dict], error: Exception, data: bytes) -> None:
    """Count ``error`` under its type and the place it was raised; keep the smallest input that raised it."""
    where = traceback.extract_tb(error.__traceback__)[-1]
    key = f"{type(error).__module__}.{type(error).__qualname__} at {Path(where.filename).name}:{where.lineno}"
    entry = escapes.setdefault(key, {"count": 0, "message": "", "input_base64": None, "input_bytes": None})
    entry["count"] += 1
    if entry["input_bytes"] is None or len(data) < entry["input_bytes"]:
        entry.update(message=str(error)[:200], input_base64=base64.b64encode(data).decode(), input_bytes=len(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader", type=int, default=100_000, help="inputs for the .g2d reader")
    parser.add_argument("--images", type=int, default=20_000, help="inputs for the image loader")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mutations")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds after which one input is stopped")
    parser.add_argument("--json", type=Path, default=RESULTS / "fuzz.json", help="summary file")
    args = parser.parse_args()

    import PIL
    import zstandard

    harnesses = {}
    if args.reader:
        seeds = g2d_seeds()
        harnesses["reader"] = fuzz("reader", read_outcome, mutate_g2d, seeds, args.reader, args.seed, args.timeout)
    if args.images:
        seeds = image_seeds()
        with _quiet_stderr():
            images = fuzz("images", load_outcome, mutate_image, seeds, args.images, args.seed, args.timeout)
        harnesses["images"] = images
    escapes = sum(h["escapes"] for h in harnesses.values())
    summary = {
        "name": "fuzz",
        "description": "Mutation fuzzing of read_g2d/describe and load_image: inputs that raised neither G2DError "
        "nor ImageError (escapes), by type and place, with the smallest such input",
        "settings": {"seed": args.seed, "timeout_s": args.timeout, "image_pixel_limit": PIXEL_LIMIT},
        "machine": {**machine_info(), "pillow": PIL.__version__, "zstandard": zstandard.__version__},
        "results": harnesses,
        "escapes": escapes,
    }
    write_json(args.json, summary)
    print(f"{escapes} escapes; wrote {args.json}")
    sys.exit(1 if escapes else 0)


if __name__ == "__main__":
    main()
