"""The ``f2dgs`` command line: parses, calls one library function per command, shows progress and prints.

Exit codes: 0 success, 1 runtime failure (bad input file, corrupt `.g2d`, unavailable backend, any file of a
batch failing), 2 usage error. Statistics and progress go to stderr; data (``-`` outputs, ``info``) to stdout.
Every expected failure of the library is an ``F2dgsError``, printed as one line by ``main``. Heavy modules
(torch) load inside the commands, so ``f2dgs --help`` stays fast.
"""

from __future__ import annotations

import gc
import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from . import F2dgsError, __version__, batch
from .batch import (
    DEFAULT_EFFORT,
    DEFAULT_QUALITY,
    DEFAULT_STEPS,
    MAX_DEFAULT_STEPS,
    MAX_ENCODES,
    MAX_GAUSSIANS,
    MAX_PIXELS,
    MAX_SIDE,
    Backend,
    InitMethod,
    Loss,
)

if TYPE_CHECKING:
    from rich.progress import Progress


class _Commands(TyperGroup):
    """The command group: the one place where failures become one error line. The library's expected failures
    exit 1; usage errors exit 2 with a pointer to ``--help``; an interrupt exits 130 (SIGINT) or 143 (SIGTERM)."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except F2dgsError as error:
            _fail(str(error))

    def main(self, *args: object, standalone_mode: bool = True, **kwargs: object) -> object:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except Exception as error:
            if not hasattr(error, "format_message"):  # not a usage error of Typer's (vendored) click
                raise
            context = getattr(error, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            _say(err, f"error: {error.format_message()}{hint}")
            code = getattr(error, "exit_code", 2)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Commands,
    name="f2dgs",
    help="Store pictures as a few thousand 2D Gaussians (Fast-2DGS): encode, decode, inspect, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal's width
)
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(highlight=False)

EXIT_FAILURE = 1
MAX_STEPS = 100_000
"""Most fine-tuning steps accepted (far beyond where the fit stops gaining)."""
MAX_TIME = 86_400.0
"""Most fine-tuning seconds accepted per image (a day)."""
MAX_BPP = 64.0
"""Largest --bpp accepted (no file of one Gaussian per pixel comes near it)."""
STEPS_HELP = (
    f"Fine-tuning steps, overriding the effort's (effort 3: {DEFAULT_STEPS} at quality 70's density of Gaussians "
    f"and above, up to {MAX_DEFAULT_STEPS} at half of it and below; other efforts scale these). After "
    "quantization the codes are re-chosen for the decoded picture."
)
EFFORT_HELP = (
    f"Effort 1-9: more encode time for a better picture at about the same size (fine-tuning steps and "
    f"refinement); {DEFAULT_EFFORT}, the default, takes about 4 s for a 768x512 photo on 2 cores, 9 about four "
    f"times as long; 3 is f2dgs 0.1's default. --steps and --time override or cap it."
)

ForceOption = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")]
SeedOption = Annotated[
    int, typer.Option(min=0, max=2**63 - 1, help="Seed: the same seed and input give the same bytes.")
]
MaxPixelsOption = Annotated[
    int,
    typer.Option(
        "--max-pixels", min=1, max=MAX_SIDE * MAX_SIDE,
        help="Refuse pictures of more pixels than this (the limit is checked before any memory is used for them).",
    ),
]
BackendOption = Annotated[
    Backend,
    typer.Option(
        help="Renderer: auto is cpu (the same bytes every run); gmod runs on a CUDA GPU (an encode on it gives "
        "different last bits each run)."
    ),
]
StepsOption = Annotated[int | None, typer.Option(min=0, max=MAX_STEPS, help=STEPS_HELP)]
EffortOption = Annotated[int, typer.Option("-e", "--effort", min=1, max=9, help=EFFORT_HELP)]
InitOption = Annotated[
    InitMethod, typer.Option(help="Initial Gaussians: the Deep Gaussian Prior networks, or a heuristic.")
]
OutputOption = Annotated[str | None, typer.Option("-o", "--output", help="Output file (one input), folder, or '-'.")]
BATCH = "Batches"
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "-j", "--workers", min=1, max=4096, rich_help_panel=BATCH,
        help="Files done at once, each worker a process warmed once (kernels, networks) sharing the cores "
        "(default: what is fastest on this machine, see docs/batch.md). With --ray: the actors (default: as many "
        "as the cluster's CPUs allow).",
    ),
]
RayOption = Annotated[
    bool,
    typer.Option(
        "--ray", rich_help_panel=BATCH,
        help='Run on a Ray cluster: the one at RAY_ADDRESS, else a local one (needs pip install "f2dgs[ray]").',
    ),
]
RayAddressOption = Annotated[
    str | None, typer.Option("--ray-address", rich_help_panel=BATCH, help="The Ray cluster to join (implies --ray).")
]
CpusOption = Annotated[
    float, typer.Option("--cpus-per-worker", min=0.01, max=4096, rich_help_panel=BATCH, help="CPUs a Ray worker uses.")
]
GpusOption = Annotated[
    float,
    typer.Option(
        "--gpus-per-worker", min=0, max=64, rich_help_panel=BATCH,
        help="GPUs a Ray worker reserves (for --backend gmod).",
    ),
]
FromListOption = Annotated[
    Path | None,
    typer.Option("--from-list", rich_help_panel=BATCH, help="A file naming more inputs, one path or URL a line."),
]
ManifestOption = Annotated[
    Path | None,
    typer.Option(
        "--manifest", rich_help_panel=BATCH,
        help=f"JSON-lines record appended as each file ends (default for a batch: {batch.MANIFEST_NAME} in the -o "
        "folder, or where the outputs are).",
    ),
]


def _say(console: Console, text: str) -> None:
    """Print ``text`` as it is: no markup, no highlighting (file names may hold ``[``)."""
    console.print(text, markup=False, highlight=False)


def _fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with code 1."""
    _say(err, f"error: {message}")
    raise typer.Exit(EXIT_FAILURE)


def _version(value: bool) -> None:
    if not value:
        return
    import torch

    from .container import CONTAINER_VERSION
    from .render import available_backends, gmod_unavailable_reason

    backends = ", ".join(b.value for b in available_backends())
    major, minor = CONTAINER_VERSION
    _say(out, f"f2dgs {__version__} (.g2d {major}.{minor}, torch {torch.__version__}, backends: {backends})")
    reason = gmod_unavailable_reason()
    if reason is not None:
        _say(out, f"gmod: {reason}")
    raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show versions and exit.")
    ] = None,
) -> None:
    """f2dgs: a batch image codec that stores a picture as 2D Gaussians."""


def _progress() -> Progress:
    from rich.progress import (  # lazy: slow
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar, and no stray line, in logs and pipes
    )


def _prepare_encoder(settings: batch.EncodeSettings) -> None:
    """Compile or load the encoder's kernels before any timed work; say so when it was the once-per-machine
    compile."""
    with err.status("loading the encoder's kernels (compiled once per machine: about 25 s the first time)"):
        seconds, compiled = batch.prepare_encoder(settings)
    if compiled:
        _say(err, f"compiled the encoder's kernels in {seconds:.0f} s (once per machine; later runs load them)")


def _run(
    jobs: list[batch.Job], work: batch.Work, label: str, runner: batch.RunnerSettings = batch.RunnerSettings(),
    manifest: Path | None = None, report_ok: bool = True,
) -> list[batch.FileResult]:  # fmt: skip
    """Run ``work`` over ``jobs`` with progress (files done, files per minute, ETA, failures), printing each
    file's line and recording it in the manifest (a lone file's failure exits)."""
    import time

    from rich.markup import escape

    start, counts = time.monotonic(), {"done": 0, "failed": 0}
    with batch.Manifest(manifest) as record, _progress() as progress:
        overall = progress.add_task(label, total=len(jobs)) if len(jobs) > 1 else None
        tasks: dict[int, object] = {}

        def on_start(job: batch.Job):
            name = escape(f"{label} {job.name}")
            task = progress.add_task(name, total=None)
            tasks[id(job)] = task

            def on_step(step: int, total: int, _: float) -> None:  # the codes are refined once the fit is done
                stage = "fitting" if step < total else "refining"
                progress.update(task, completed=step, total=total, description=f"{name} ({stage})")

            return on_step

        def on_done(result: batch.FileResult) -> None:
            if id(result.job) in tasks:
                progress.remove_task(tasks.pop(id(result.job)))
            for warning in result.warnings:
                _say(err, f"warning: {result.job.name}: {warning}")
            if result.status == "ok" and report_ok:
                _say(err, f"{result.job.name}: {result.message}")
            _resume_collector()
            counts["done"] += 1
            counts["failed"] += result.status in ("failed", "crashed")
            if overall is not None:
                rate = 60 * counts["done"] / max(time.monotonic() - start, 1e-9)
                description = f"{label} ({rate:.1f} files/min, {counts['failed']} failed)"
                progress.update(overall, advance=1, description=description)

        results = batch.run_batch(jobs, work, runner, record, on_start, on_done)
    if len(results) == 1 and results[0].status in ("failed", "crashed"):
        _fail(f"{results[0].job.name}: {results[0].message}")
    return results


def _exit_if_failed(results: list[batch.FileResult]) -> None:
    """Sum up a batch, list the files that failed, and exit 1 if any did."""
    failed = [r for r in results if r.status in ("failed", "crashed")]
    skipped = sum(r.status == "skipped" for r in results)
    if skipped:
        _say(err, f"{skipped} file(s) skipped: their outputs were already there (--force redoes them)")
    if failed:
        _say(err, f"{len(failed)} file(s) failed:")
        for result in failed:
            _say(err, f"  {result.job.name}: {result.message}")
        raise typer.Exit(EXIT_FAILURE)


def _batch_inputs(inputs: list[str] | None, from_list: Path | None) -> list[str]:
    """The command's inputs: its arguments, then the lines of ``--from-list``."""
    found = list(inputs or []) + (batch.read_list(from_list) if from_list is not None else [])
    if not found:
        raise typer.BadParameter("give inputs, or --from-list", param_hint="INPUTS")
    return found


def _runner(workers: int | None, ray: bool, address: str | None, cpus: float, gpus: float) -> batch.RunnerSettings:
    """The runner the batch options ask for."""
    if workers is None:
        workers = 1 if ray or address else batch.default_workers()
    return batch.RunnerSettings(workers, ray, address, cpus, gpus)


def _resume_collector() -> None:
    """After the first file (every module imported, every kernel loaded): hide what start-up allocated from
    the cyclic garbage collector for good (``gc.freeze``) and turn it back on, for long batches. ``main``
    turns it off while the process starts."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@app.command()
def encode(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Images, folders, glob patterns or URLs (s3://…) to encode; '-' reads stdin."),
    ] = None,
    output: OutputOption = None,
    quality: Annotated[
        float | None,
        typer.Option(
            "-q", "--quality", min=0, max=100,
            help=f"Quality 0-100: sets the Gaussian budget from the image size (every 15 points double it; "
            f"70 is 10,000 Gaussians on 768x512). The default, {DEFAULT_QUALITY} (a budget of about 6,300 "
            "Gaussians, about 0.6 bpp on Kodak), beats JPEG at the same bytes on average; higher: bigger files, "
            "sharper pictures.",
        ),
    ] = None,
    bpp: Annotated[
        float | None,
        typer.Option(
            "--bpp", min=0.001, max=MAX_BPP,
            help="Largest file size in bits per pixel: finds the largest budget that fits, estimated from the "
            f"initialization, then checked by full encodes (usually 1, at most {MAX_ENCODES} per image).",
        ),
    ] = None,
    gaussians: Annotated[
        int | None,
        typer.Option(
            "--gaussians", "-n", min=1, max=MAX_GAUSSIANS,
            help="Exact Gaussian budget per image, at most one per pixel.",
        ),
    ] = None,
    effort: EffortOption = DEFAULT_EFFORT,
    steps: StepsOption = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time", min=0.0, max=MAX_TIME,
            help="Maximum fine-tuning seconds per image (the output then depends on the machine's speed).",
        ),
    ] = None,
    seed: SeedOption = 0,
    init: InitOption = InitMethod.PRIOR,
    loss: Annotated[Loss, typer.Option(help="Fine-tuning loss.")] = Loss.MSE,
    backend: BackendOption = Backend.AUTO,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = MAX_PIXELS,
    workers: WorkersOption = None,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    cpus_per_worker: CpusOption = 1.0,
    gpus_per_worker: GpusOption = 0.0,
    from_list: FromListOption = None,
    manifest: ManifestOption = None,
) -> None:
    """Encode images to .g2d files (one summary line per file on stderr).

    One image: `f2dgs encode photo.png` writes photo.g2d; `f2dgs encode photo.png out.g2d` or `-o out.g2d`
    names the output. Folders (at every depth), globs, URLs or several files form a batch: outputs go to the
    -o folder (created if needed, the input tree mirrored) or next to each input, with the .g2d suffix. A
    batch resumes: outputs already there and valid are skipped (--force redoes them), and each file is
    recorded in the manifest as it ends. Alpha channels are discarded. The size is set by one of
    -q/--quality (default), --bpp or --gaussians.
    """
    try:
        settings = batch.EncodeSettings(
            quality, bpp, gaussians, steps, time_budget, seed, init, loss, backend, max_pixels, effort
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="rate") from None
    runner = _runner(workers, ray, ray_address, cpus_per_worker, gpus_per_worker)
    jobs = batch.plan_encode(_batch_inputs(inputs, from_list), output, force)
    if not all(job.error for job in jobs):  # a refused output is reported at once, without loading the encoder
        _prepare_encoder(settings)
    manifest = manifest or batch.default_manifest(jobs, output)
    _exit_if_failed(_run(jobs, batch.EncodeWork(settings), "encoding", runner, manifest))


@app.command()
def decode(
    inputs: Annotated[
        list[str] | None, typer.Argument(help=".g2d files, folders, glob patterns or URLs to decode; '-' reads stdin.")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o", "--output",
            help="Output image (one input; its suffix picks the format), folder (several), or '-' for stdout (PNG).",
        ),  # fmt: skip
    ] = None,
    width: Annotated[
        int | None, typer.Option(min=1, max=MAX_SIDE, help="Output width (height follows unless given).")
    ] = None,
    height: Annotated[
        int | None, typer.Option(min=1, max=MAX_SIDE, help="Output height (width follows unless given).")
    ] = None,
    scale: Annotated[float | None, typer.Option(help="Render at this multiple of the stored size.")] = None,
    backend: BackendOption = Backend.AUTO,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = MAX_PIXELS,
    workers: WorkersOption = None,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    cpus_per_worker: CpusOption = 1.0,
    gpus_per_worker: GpusOption = 0.0,
    from_list: FromListOption = None,
    manifest: ManifestOption = None,
) -> None:
    """Decode .g2d files to 8-bit RGB images, at the stored size or any other (Gaussians are continuous).

    `f2dgs decode photo.g2d` writes photo.png (refused if it exists, without --force); `f2dgs decode
    photo.g2d out.png` or `-o out.png` names the output; folders, globs and several files form a batch (PNG
    files; it resumes as encode's does).
    The output's suffix picks its format: .png, .jpg/.jpeg (quality 95, no chroma subsampling), .webp
    (lossless), .tif/.tiff, .bmp, .ppm; any other name, and stdout, get PNG.
    """
    if scale is not None and (width is not None or height is not None):
        raise typer.BadParameter("give either --scale or --width/--height, not both", param_hint="--scale")
    if scale is not None and not (math.isfinite(scale) and 0 < scale <= MAX_SIDE):
        raise typer.BadParameter(f"must be a positive number up to {MAX_SIDE}", param_hint="--scale")
    settings = batch.DecodeSettings(width, height, scale, backend, max_pixels)
    runner = _runner(workers, ray, ray_address, cpus_per_worker, gpus_per_worker)
    jobs = batch.plan_decode(_batch_inputs(inputs, from_list), output, force)
    manifest = manifest or batch.default_manifest(jobs, output)
    _exit_if_failed(_run(jobs, batch.DecodeWork(settings), "decoding", runner, manifest))


@app.command()
def info(path: Annotated[str, typer.Argument(help="A .g2d file, or '-' for stdin.")]) -> None:
    """Show a .g2d file's header, Gaussian count, bit depths and the size of every stream."""
    from .container import describe

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        _fail(f"cannot read {path}: {error.strerror}")
    try:
        _say(out, describe(data))
    except F2dgsError as error:
        _fail(f"{path}: {error}")


@app.command()
def bench(
    folder: Annotated[Path, typer.Argument(help="Folder of images (e.g. the Kodak set).")],
    quality: Annotated[
        float | None,
        typer.Option(
            "-q", "--quality", min=0, max=100,
            help=f"Quality 0-100 as for encode (default {DEFAULT_QUALITY} unless --gaussians is given).",
        ),
    ] = None,
    gaussians: Annotated[
        int | None, typer.Option("--gaussians", "-n", min=1, max=MAX_GAUSSIANS, help="Gaussian budget per image.")
    ] = None,
    effort: EffortOption = DEFAULT_EFFORT,
    steps: StepsOption = None,
    seed: SeedOption = 0,
    init: InitOption = InitMethod.PRIOR,
    backend: BackendOption = Backend.AUTO,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write CompressAI-style JSON here.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write per-image CSV here.")] = None,
    force: ForceOption = False,
    codecs: Annotated[
        str,
        typer.Option(
            help="Comma-separated codecs: f2dgs plus any of jpeg, webp, avif (Pillow, in-process), each at the "
            "highest quality whose file is no bigger than f2dgs's file of the same image."
        ),
    ] = "f2dgs",
) -> None:
    """Encode and decode every image of a folder; report bpp, PSNR, MS-SSIM, times and render FPS."""
    try:
        baselines = batch.baseline_codecs(codecs)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--codecs") from None
    for report in (json_path, csv_path):
        if report is not None and report.exists() and not force:
            _fail(f"{report} exists (use --force to overwrite)")
    try:
        settings = batch.EncodeSettings(
            quality=quality, gaussians=gaussians, steps=steps, seed=seed, init=init, backend=backend, effort=effort
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="rate") from None
    jobs = batch.plan_bench(folder)
    _prepare_encoder(settings)  # also checks that the backend can run here
    results = _run(jobs, batch.BenchWork(settings, tuple(baselines)), "benchmark", report_ok=False)
    from .report import baseline_table, bench_table, write_bench_reports

    summary, records, baseline_records = batch.bench_summary(results, settings, folder)
    out.print(bench_table(records, summary))
    if baselines:
        out.print(baseline_table(summary))
    write_bench_reports(summary, records, baseline_records, json_path, csv_path)
    _exit_if_failed(results)


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Folder of training photos (.jpg/.png, searched recursively; not Kodak).")],
    out: Annotated[Path, typer.Option(help="Weights file to write (model card: same name, .json).")],
    iterations: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 15_000,
    batch_size: Annotated[int, typer.Option("--batch", min=1, help="Crops per step.")] = 8,
    crop: Annotated[int, typer.Option(min=16, help="Side of the training crops in pixels.")] = 128,
    crops_per_image: Annotated[int, typer.Option(min=1, help="Teacher-fitted crops per photo.")] = 3,
    max_images: Annotated[int, typer.Option(min=1, help="At most this many training photos.")] = 500,
    teacher_steps: Annotated[int, typer.Option(min=0, help="Fine-tuning steps of each teacher fit.")] = 150,
    teacher_cache: Annotated[
        Path | None, typer.Option(help="Teacher fit cache folder (default: ~/.cache/f2dgs/teacher).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of crops, initialization, batches and sampling.")] = 0,
    resume: Annotated[
        bool, typer.Option(help="Continue from the checkpoint OUT.ckpt (next to --out) when it exists.")
    ] = True,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing weights file.")] = False,
) -> None:
    """Train the Deep Gaussian Prior and attribute networks (for --init prior) on a folder of photos.

    Writes the weights, a model card (.json) with the validation PSNR of prior vs gradient init, and
    checkpoints to OUT.ckpt (OUT: the --out path). Ship the weights as fast2dgs_cli/data/NAME, the name
    printed at the end.
    """
    if out.exists() and not force:
        _fail(f"{out} exists (use --force to overwrite)")
    from .training import DEFAULT_TEACHER_CACHE, TrainConfig, TrainProgress
    from .training import train as run_training

    _resume_collector()  # hours of work: start-up is a rounding error
    settings = {
        "iterations": iterations, "batch": batch_size, "crop": crop, "crops_per_image": crops_per_image,
        "max_images": max_images, "teacher_steps": teacher_steps, "seed": seed,
    }  # fmt: skip
    try:
        cache = teacher_cache or DEFAULT_TEACHER_CACHE
        config = TrainConfig(data=data, out=out, teacher_cache=cache, resume=resume, **settings)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    labels = {"teacher": "teacher fits", "train": "training", "validate": "validation"}
    with _progress() as progress:
        tasks: dict[str, int] = {}

        def on_progress(event: TrainProgress) -> None:
            if event.phase not in tasks:
                tasks[event.phase] = progress.add_task(labels[event.phase], total=event.total)
            metrics = " ".join(f"{k} {v:.4g}" for k, v in event.metrics.items())
            description = f"{labels[event.phase]} {metrics}".rstrip()
            progress.update(tasks[event.phase], completed=event.done, description=description)

        result = run_training(config, on_progress, command=_train_command(data, out, settings))
    validation = result.summary["validation"]
    _say(
        err,
        f"wrote {result.weights} (sha256 {result.sha256[:8]}) and {result.card}; validation PSNR at 0 steps: "
        f"prior {validation['prior_psnr']} dB, gradient {validation['gradient_psnr']} dB; "
        f"ship as fast2dgs_cli/data/{result.summary['shipped_name']}",
    )


def _train_command(data: Path, out: Path, settings: dict[str, int]) -> str:
    """The equivalent command line, with every setting spelled out (recorded in the model card)."""
    options = [part for key, value in settings.items() for part in (f"--{key.replace('_', '-')}", str(value))]
    return shlex.join(["f2dgs", "train", "--data", str(data), "--out", str(out), *options])


def run() -> int | str | None:
    """Run the command line (``entry.main`` handles signals and the process's end); return its exit code.

    The cyclic garbage collector is off until the first file is done (``_resume_collector``): importing torch
    and numba leaves hundreds of thousands of objects that repeated collections would walk again and again,
    and nothing of start-up is garbage (``docs/cli.md``).
    """
    gc.disable()
    try:
        app()
    except SystemExit as done:
        return done.code
    return 0
