"""Batches: the files of one command as jobs, one function per file, and the runners that do them.

```
plan_encode / plan_decode / plan_bench ──► [Job] ──run_batch(work, runner)──► [FileResult] (+ manifest lines)
                                                    │ this process  (runners.py)
                                                    │ local pool    (pool.py: -j/--workers N)
                                                    └ Ray cluster   (ray_runner.py: --ray, --ray-address)
```
Every runner calls ``files.run_one`` on each file (``EncodeWork``, ``DecodeWork``, ``BenchWork``), which
returns a ``FileResult`` (ok, skipped, failed or crashed) instead of raising, so one bad file never stops a
batch. Nothing here prints: the caller shows progress and results. Importing this package loads neither
torch, the encoder nor Ray; they load when first needed.
"""

from ..choices import (
    DEFAULT_GAUSSIANS,
    DEFAULT_QUALITY,
    DEFAULT_STEPS,
    MAX_DEFAULT_STEPS,
    MAX_ENCODES,
    Backend,
    InitMethod,
    Loss,
)
from ..container import MAX_GAUSSIANS
from ..effort import DEFAULT_EFFORT
from ..imageio import MAX_PIXELS, MAX_SIDE
from ..paths import Job
from .benchmark import BenchWork, baseline_codecs, bench_file, bench_summary
from .files import (
    MAX_INPUT_BYTES,
    DecodeWork,
    EncodeWork,
    FileResult,
    Work,
    decode_file,
    encode_file,
    prepare_encoder,
    run_one,
)
from .manifest import Manifest, read_manifest
from .plan import MANIFEST_NAME, default_manifest, plan_bench, plan_decode, plan_encode, read_list
from .runners import run_batch
from .settings import (
    DEFAULT_RETRIES,
    DecodeSettings,
    EncodeSettings,
    RunnerSettings,
    StepCallback,
    default_workers,
)

__all__ = [
    "DEFAULT_EFFORT", "DEFAULT_GAUSSIANS", "DEFAULT_QUALITY", "DEFAULT_RETRIES", "DEFAULT_STEPS", "MANIFEST_NAME",
    "MAX_DEFAULT_STEPS", "MAX_ENCODES", "MAX_GAUSSIANS", "MAX_INPUT_BYTES", "MAX_PIXELS", "MAX_SIDE", "Backend",
    "BenchWork", "DecodeSettings", "DecodeWork", "EncodeSettings", "EncodeWork", "FileResult", "InitMethod", "Job",
    "Loss", "Manifest", "RunnerSettings", "StepCallback", "Work", "baseline_codecs", "bench_file", "bench_summary",
    "decode_file", "default_manifest", "default_workers", "encode_file", "plan_bench", "plan_decode", "plan_encode",
    "prepare_encoder", "read_list", "read_manifest", "run_batch", "run_one",
]  # fmt: skip
