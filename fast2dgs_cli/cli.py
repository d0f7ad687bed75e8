"""The ``f2dgs`` command line: parses, resolves paths, drives progress and prints. The work is in the library.

Exit codes: 0 success, 1 runtime failure (bad input file, corrupt `.g2d`, unavailable backend, any file of a
batch failing), 2 usage error. Statistics and progress go to stderr; data (``-`` outputs, ``info``) to stdout.
Heavy modules (torch) are imported inside the commands, so ``f2dgs --help`` stays fast.
"""

from __future__ import annotations

import gc
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .choices import DEFAULT_GAUSSIANS, DEFAULT_QUALITY, DEFAULT_STEPS, MAX_DEFAULT_STEPS, Backend, InitMethod, Loss
from .paths import IMAGE_SUFFIXES, Job, plan_jobs

app = typer.Typer(
    name="f2dgs",
    help="Store pictures as a few thousand 2D Gaussians (Fast-2DGS): encode, decode, inspect, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal's width
)
err = Console(stderr=True, soft_wrap=True)
out = Console()

EXIT_FAILURE = 1
STEPS_HELP = (
    f"Fine-tuning steps (default: {DEFAULT_STEPS} at quality 70's density of Gaussians and above, up to "
    f"{MAX_DEFAULT_STEPS} at half of it and below). After quantization the codes are re-chosen for the "
    "decoded picture."
)


class Failure(Exception):
    """An expected failure: printed as one line, exit code 1."""


def _version(value: bool) -> None:
    if not value:
        return
    import torch

    from .container import CONTAINER_VERSION
    from .render import available_backends

    backends = ", ".join(b.value for b in available_backends())
    major, minor = CONTAINER_VERSION
    out.print(f"f2dgs {__version__} (.g2d {major}.{minor}, torch {torch.__version__}, backends: {backends})")
    raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show versions and exit.")
    ] = None,
) -> None:
    """f2dgs: a batch image codec that stores a picture as 2D Gaussians."""


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _prepare_encoder(options) -> None:
    """Compile or load the encoder's kernels before any timed work (``codec.prepare_encoder``); say so when it
    was the once-per-machine compile. Exits 1 with a message for a backend or networks that cannot run here."""
    from .codec import COMPILED_S, prepare_encoder
    from .networks import ModelUnavailable
    from .render import BackendUnavailable

    try:
        with err.status("loading the encoder's kernels (compiled once per machine: about 25 s the first time)"):
            seconds = prepare_encoder(options)
    except (BackendUnavailable, ModelUnavailable) as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    if seconds > COMPILED_S:
        err.print(
            f"compiled the encoder's kernels in {seconds:.0f} s (once per machine: later runs load them from the cache)",
            highlight=False,
            markup=False,
        )


def _fail_batch(failed: list[tuple[str, str]]) -> None:
    if failed:
        err.print(f"[red]{len(failed)} file(s) failed:[/red]", highlight=False)
        for name, reason in failed:
            err.print(f"  {name}: {reason}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE)


def _read_input(job: Job) -> bytes:
    if job.source is None:
        return sys.stdin.buffer.read()
    try:
        return job.source.read_bytes()
    except OSError as error:
        raise Failure(f"cannot read {job.source}: {error.strerror}") from None


def _write_output(job: Job, data: bytes) -> None:
    from .imageio import atomic_write

    if job.target is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        atomic_write(job.target, data)
    except OSError as error:
        raise Failure(f"cannot write {job.target}: {error.strerror}") from None


def _run_batch(jobs: list[Job], work, progress_label: str) -> None:
    """Run ``work(job, progress, task)`` on each job; collect failures; exit 1 if any failed."""
    from .container import G2DError
    from .imageio import ImageError
    from .networks import ModelUnavailable
    from .render import BackendUnavailable

    failed: list[tuple[str, str]] = []
    with _progress() as progress:
        overall = progress.add_task(progress_label, total=len(jobs)) if len(jobs) > 1 else None
        for job in jobs:
            try:
                if job.error:
                    raise Failure(job.error)
                work(job, progress)
            except (BackendUnavailable, ModelUnavailable) as error:  # would fail every file alike
                err.print(f"error: {error}", highlight=False, markup=False)
                raise typer.Exit(EXIT_FAILURE) from None
            except (Failure, ImageError, G2DError, ValueError) as error:
                failed.append((job.name, str(error)))
                if len(jobs) == 1:
                    err.print(f"error: {job.name}: {error}", highlight=False, markup=False)
                    raise typer.Exit(EXIT_FAILURE) from None
            _resume_collector()
            if overall is not None:
                progress.advance(overall)
    _fail_batch(failed)


def _resume_collector() -> None:
    """After the first file (every module imported, every kernel loaded): hide what start-up allocated from
    the cyclic garbage collector for good (``gc.freeze``) and turn it back on, for long batches. ``main``
    turns it off while the process starts (see there)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@app.command()
def encode(
    inputs: Annotated[list[str], typer.Argument(help="Images or folders to encode; '-' reads one image from stdin.")],
    output: Annotated[
        Optional[str],
        typer.Option("-o", "--output", help="Output file (one input), folder (several), or '-' for stdout."),
    ] = None,
    quality: Annotated[
        Optional[float],
        typer.Option(
            "-q", "--quality", min=0, max=100,
            help=f"Quality 0-100: sets the Gaussian budget from the image size (every 15 points double it; "
            f"{DEFAULT_QUALITY}, the default, is 10,000 Gaussians on 768x512).",
        ),
    ] = None,
    bpp: Annotated[
        Optional[float],
        typer.Option(
            "--bpp", min=0.001,
            help="Largest file size in bits per pixel: finds the largest budget that fits, estimated from the "
            "initialization, then checked by full encodes (usually 1, at most 4 per image).",
        ),
    ] = None,
    gaussians: Annotated[
        Optional[int],
        typer.Option(
            "--gaussians", "-n", min=1, help="Exact Gaussian budget per image, at most one per pixel (expert)."
        ),
    ] = None,
    steps: Annotated[Optional[int], typer.Option(min=0, help=STEPS_HELP)] = None,
    time_budget: Annotated[
        Optional[float], typer.Option("--time", min=0.0, help="Maximum fine-tuning seconds per image.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed and input give the same file.")] = 0,
    init: Annotated[
        InitMethod, typer.Option(help="Initial Gaussians: the Deep Gaussian Prior networks, or a heuristic.")
    ] = InitMethod.PRIOR,
    loss: Annotated[Loss, typer.Option(help="Fine-tuning loss.")] = Loss.MSE,
    backend: Annotated[Backend, typer.Option(help="Renderer used for fine-tuning.")] = Backend.AUTO,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")] = False,
) -> None:
    """Encode images to .g2d files (one summary line per file on stderr).

    One image: `f2dgs encode photo.png` writes photo.g2d; `f2dgs encode photo.png out.g2d` or `-o out.g2d`
    names the output. A folder or several files form a batch: outputs go to the -o folder (created if
    needed) or next to each input, named after the input with the .g2d suffix. Alpha channels are
    discarded. The size is set by one of -q/--quality (default), --bpp or --gaussians.
    """
    if sum(value is not None for value in (quality, bpp, gaussians)) > 1:
        raise typer.BadParameter("give only one of -q/--quality, --bpp, --gaussians", param_hint="rate")
    import dataclasses

    from .codec import EncodeOptions, encode_image
    from .encoder.fit import FitConfig
    from .imageio import load_image
    from .rate import budget_for_quality, encode_to_bpp

    options = EncodeOptions(
        fit=FitConfig(steps=steps, time_budget=time_budget, loss=loss),
        seed=seed,
        init=init,
        backend=backend,
    )
    jobs = _plan(inputs, output, (".g2d",), force, accept=IMAGE_SUFFIXES)
    _prepare_encoder(options)

    def work(job: Job, progress: Progress) -> None:
        image = load_image(_read_input(job))
        if image.had_alpha:
            err.print(f"warning: {job.name}: alpha channel discarded", highlight=False, markup=False)
        height, width = image.pixels.shape[:2]
        if gaussians is not None and gaussians > height * width:
            err.print(
                f"warning: {job.name}: {gaussians} Gaussians asked for {height * width} pixels; using one per pixel",
                highlight=False,
                markup=False,
            )
        task = progress.add_task(f"encoding {job.name}", total=None)
        on_step = lambda step, total, _: progress.update(task, completed=step, total=total)  # noqa: E731
        if bpp is not None:
            result = encode_to_bpp(image.pixels, bpp, options, on_step)
        else:
            budget = gaussians or budget_for_quality(DEFAULT_QUALITY if quality is None else quality, height, width)
            result = encode_image(image.pixels, dataclasses.replace(options, gaussians=budget), on_step)
        progress.remove_task(task)
        _write_output(job, result.data)
        bits_per_pixel = 8 * len(result.data) / (width * height)
        total = sum(result.seconds.values())
        err.print(
            f"{job.name}: {width}x{height}, N={result.count}, {len(result.data)} bytes, {bits_per_pixel:.3f} bpp, "
            f"{result.psnr:.2f} dB, {total:.1f} s ({result.steps} steps, {result.backend.value})",
            highlight=False,
            markup=False,
        )

    _run_batch(jobs, work, "encoding")


@app.command()
def decode(
    inputs: Annotated[list[str], typer.Argument(help=".g2d files or folders to decode; '-' reads stdin.")],
    output: Annotated[
        Optional[str],
        typer.Option(
            "-o", "--output",
            help="Output image (one input; its suffix picks the format), folder (several), or '-' for stdout (PNG).",
        ),  # fmt: skip
    ] = None,
    width: Annotated[Optional[int], typer.Option(min=1, help="Output width (height follows unless given).")] = None,
    height: Annotated[Optional[int], typer.Option(min=1, help="Output height (width follows unless given).")] = None,
    scale: Annotated[Optional[float], typer.Option(help="Render at this multiple of the stored size.")] = None,
    backend: Annotated[Backend, typer.Option(help="Renderer backend.")] = Backend.AUTO,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")] = False,
) -> None:
    """Decode .g2d files to 8-bit RGB images, at the stored size or any other (Gaussians are continuous).

    `f2dgs decode photo.g2d` writes photo.png (refused if it exists, without --force); `f2dgs decode
    photo.g2d out.png` or `-o out.png` names the output; folders and several files form a batch (PNG files).
    The output's suffix picks its format: .png, .jpg/.jpeg (quality 95, no chroma subsampling), .webp
    (lossless), .tif/.tiff, .bmp, .ppm; any other name, and stdout, get PNG.
    """
    if scale is not None and (width is not None or height is not None):
        raise typer.BadParameter("give either --scale or --width/--height, not both", param_hint="--scale")
    if scale is not None and not scale > 0:
        raise typer.BadParameter("must be positive", param_hint="--scale")
    from .codec import decode_g2d, output_size
    from .container import read_g2d
    from .imageio import OUTPUT_FORMATS, encode_picture

    jobs = _plan(inputs, output, tuple(OUTPUT_FORMATS), force, accept=(".g2d",))

    def work(job: Job, progress: Progress) -> None:
        data = _read_input(job)
        size = output_size(read_g2d(data), width=width, height=height, scale=scale)
        picture = decode_g2d(data, size=size, backend=backend)
        _write_output(job, encode_picture(picture, "" if job.target is None else job.target.suffix))
        err.print(f"{job.name}: decoded at {size[1]}x{size[0]}", highlight=False, markup=False)

    _run_batch(jobs, work, "decoding")


@app.command()
def info(path: Annotated[str, typer.Argument(help="A .g2d file, or '-' for stdin.")]) -> None:
    """Show a .g2d file's header, Gaussian count, bit depths and the size of every stream."""
    from .container import G2DError, describe

    source = None if path == "-" else Path(path)
    try:
        data = sys.stdin.buffer.read() if source is None else source.read_bytes()
        description = describe(data)
    except OSError as error:
        err.print(f"error: cannot read {path}: {error.strerror}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except G2DError as error:
        err.print(f"error: {path}: {error}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE) from None
    out.print(description, highlight=False, markup=False)


@app.command()
def bench(
    folder: Annotated[Path, typer.Argument(help="Folder of images (e.g. the Kodak set).")],
    gaussians: Annotated[int, typer.Option("--gaussians", "-n", min=1, help="Gaussian budget per image.")] = DEFAULT_GAUSSIANS,
    steps: Annotated[Optional[int], typer.Option(min=0, help=STEPS_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    init: Annotated[InitMethod, typer.Option(help="Initial Gaussians (see encode --help).")] = InitMethod.PRIOR,
    backend: Annotated[Backend, typer.Option(help="Renderer backend.")] = Backend.AUTO,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write CompressAI-style JSON here.")] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Write per-image CSV here.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing report files.")] = False,
    codecs: Annotated[
        str,
        typer.Option(
            help="Comma-separated codecs: f2dgs plus any of jpeg, webp, avif (Pillow, in-process), each at the "
            "highest quality whose file is no bigger than f2dgs's file of the same image."
        ),
    ] = "f2dgs",
) -> None:
    """Encode and decode every image of a folder; report bpp, PSNR, MS-SSIM, times and render FPS."""
    baselines = _baseline_names(codecs)
    for report in (json_path, csv_path):
        if report is not None and report.exists() and not force:
            err.print(f"error: {report} exists (use --force to overwrite)", highlight=False, markup=False)
            raise typer.Exit(EXIT_FAILURE)
    if not folder.is_dir():
        err.print(f"error: {folder} is not a folder", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE)
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        err.print(f"error: no images in {folder}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE)

    from .bench import bench_baselines, bench_image, summarize
    from .codec import EncodeOptions
    from .encoder.fit import FitConfig
    from .report import baseline_table, bench_csv, bench_table

    options = EncodeOptions(gaussians=gaussians, fit=FitConfig(steps=steps), seed=seed, init=init, backend=backend)
    _prepare_encoder(options)  # also checks that the backend can run here
    records, baseline_records = [], []
    with _progress() as progress:
        overall = progress.add_task("benchmark", total=len(images))
        for path in images:
            task = progress.add_task(f"  {path.name}", total=None)
            on_step = lambda step, total, _: progress.update(task, completed=step, total=total)  # noqa: E731
            records.append(bench_image(path, options, on_step))
            if baselines and not records[-1].error:
                baseline_records += bench_baselines(path, records[-1].bytes, baselines)
            progress.remove_task(task)
            progress.advance(overall)
            _resume_collector()
    summary = summarize(records, options, str(folder), baseline_records)
    out.print(bench_table(records, summary))
    if baselines:
        out.print(baseline_table(summary))
    from .imageio import atomic_write

    if json_path is not None:
        atomic_write(json_path, (json.dumps(summary, indent=2) + "\n").encode())
    if csv_path is not None:
        atomic_write(csv_path, bench_csv(records, baseline_records).encode())
    _fail_batch([(r.image, r.error) for r in records if r.error])


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Folder of training photos (.jpg/.png, searched recursively; not Kodak).")],
    out: Annotated[Path, typer.Option(help="Weights file to write (model card: same name, .json).")],
    iterations: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 15_000,
    batch: Annotated[int, typer.Option(min=1, help="Crops per step.")] = 8,
    crop: Annotated[int, typer.Option(min=16, help="Side of the training crops in pixels.")] = 128,
    crops_per_image: Annotated[int, typer.Option(min=1, help="Teacher-fitted crops per photo.")] = 3,
    max_images: Annotated[int, typer.Option(min=1, help="At most this many training photos.")] = 500,
    teacher_steps: Annotated[int, typer.Option(min=0, help="Fine-tuning steps of each teacher fit.")] = 150,
    teacher_cache: Annotated[
        Optional[Path], typer.Option(help="Teacher fit cache folder (default: ~/.cache/f2dgs/teacher).")
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
        err.print(f"error: {out} exists (use --force to overwrite)", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE)
    from .training import DEFAULT_TEACHER_CACHE, TrainConfig, TrainProgress
    from .training import train as run_training

    _resume_collector()  # hours of work: start-up is a rounding error
    settings = {
        "iterations": iterations, "batch": batch, "crop": crop, "crops_per_image": crops_per_image,
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

        try:
            result = run_training(config, on_progress, command=_train_command(data, out, settings))
        except (ValueError, OSError) as error:
            err.print(f"error: {error}", highlight=False, markup=False)
            raise typer.Exit(EXIT_FAILURE) from None
    validation = result.summary["validation"]
    err.print(
        f"wrote {result.weights} (sha256 {result.sha256[:8]}) and {result.card}; validation PSNR at 0 steps: "
        f"prior {validation['prior_psnr']} dB, gradient {validation['gradient_psnr']} dB; "
        f"ship as fast2dgs_cli/data/{result.summary['shipped_name']}",
        highlight=False,
        markup=False,
    )


def _baseline_names(codecs: str) -> list[str]:
    """Parse ``--codecs``: f2dgs must be listed; the rest must be baselines this Pillow build can write."""
    from .baselines import BASELINES, available_baselines

    names = [name.strip().lower() for name in codecs.split(",") if name.strip()]
    unknown = [name for name in names if name != "f2dgs" and name not in BASELINES]
    if unknown or "f2dgs" not in names:
        problem = f"unknown codec(s) {', '.join(unknown)}" if unknown else "f2dgs must be one of the codecs"
        raise typer.BadParameter(f"{problem} (choose from f2dgs, {', '.join(BASELINES)})", param_hint="--codecs")
    missing = [name for name in names if name in BASELINES and name not in available_baselines()]
    if missing:
        err.print(f"error: this Pillow build cannot write {', '.join(missing)}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE)
    return list(dict.fromkeys(name for name in names if name != "f2dgs"))


def _train_command(data: Path, out: Path, settings: dict[str, int]) -> str:
    """The equivalent command line, with every setting spelled out (recorded in the model card)."""
    options = [part for key, value in settings.items() for part in (f"--{key.replace('_', '-')}", str(value))]
    return shlex.join(["f2dgs", "train", "--data", str(data), "--out", str(out), *options])


def _plan(
    inputs: list[str], output: str | None, outputs: tuple[str, ...], force: bool, accept: tuple[str, ...]
) -> list[Job]:
    try:
        return plan_jobs(inputs, output, outputs, force, accept)
    except ValueError as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FAILURE) from None


def main() -> None:
    """Console-script entry point.

    The cyclic garbage collector is off until the first file is done (``_resume_collector``): importing
    torch and numba and loading the cached kernels leaves about 200 000 objects to track, and the collections
    they trigger would walk them again and again (measured: 0.2 s of ``import torch, fast2dgs_cli.codec``,
    about 0.5 s of a whole ``f2dgs encode`` of a Kodak image on 2 cores); nothing of start-up is garbage.

    Once the command is done (its outputs written, closed and renamed into place), the process ends with
    ``os._exit`` instead of a normal interpreter shutdown: tearing down torch's and numba's thread pools and
    modules takes about 0.9 s on 2 cores, a quarter of a typical ``f2dgs encode``, and there is nothing left
    to clean up.
    """
    gc.disable()
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a closed pipe has nothing left to flush
        pass
    os._exit(code or 0)
