"""The container's zstd against range (arithmetic) coding with ``constriction``, on real attribute streams.

Each of ``--limit`` Kodak images is encoded with ``--gaussians`` Gaussians (4000 ≈ 0.5 bpp) and default
settings. Every attribute channel's symbols (what the writer stores: the codes, or their deltas for a sorted
column) are then coded four ways; sizes are in bits per Gaussian, grid parameters excluded (the same for all):

* ``zstd`` — the attribute's zstd frame exactly as the `.g2d` writer makes it (all channels together);
* ``static`` — a range coder over each channel's own histogram (order 0), plus that histogram as side
  information (each count of the channel's alphabet as an Elias-gamma code of count + 1);
  every range-coded channel also pays for its alphabet size (an Elias-gamma code);
* ``adaptive`` — a range coder whose counts start at 1 and grow as symbols are coded (no side information);
* ``context`` — adaptive, one count table per context drawn from values already coded for the same
  Gaussian: scale 2 given scale 1, rotation given the anisotropy |scale 1 − scale 2|, C1 and C2 given Y,
  and the sorted y delta given the previous delta.

Range-coded sizes are real ``constriction`` output (32-bit words), not entropy estimates.

    python benchmarks/entropy_coders.py [--kodak DIR] [--limit 6] [--gaussians 4000]

Writes ``benchmarks/results/entropy_coders.json``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import constriction
import numpy as np
from common import RESULTS, add_kodak_arguments, kodak_files, load_image, machine_info, write_json

CODERS = ("zstd", "static", "adaptive", "context")
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def stored_symbols(codes: np.ndarray) -> list[np.ndarray]:
    """Per channel, the values the writer stores: codes, or deltas where a column never decreases."""
    columns = []
    for column in codes.astype(np.int64).T:
        sorted_column = len(column) > 1 and bool(np.all(column[1:] >= column[:-1]))
        columns.append(np.diff(column, prepend=0) if sorted_column else column)
    return columns


def range_coded_bits(symbols: np.ndarray, probabilities: np.ndarray) -> int:
    """Bits of ``constriction``'s range coder for ``symbols`` with one probability row per symbol."""
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.astype(np.int32), _CATEGORICAL, np.ascontiguousarray(probabilities, dtype=np.float32))
    return 32 * len(encoder.get_compressed())


def elias_gamma_bits(values: np.ndarray) -> int:
    """Length of the Elias-gamma codes of positive integers."""
    return int(np.sum(2 * np.floor(np.log2(values)) + 1))


def static_bits(symbols: np.ndarray, alphabet: int) -> int:
    """Order-0 range coding with the channel's histogram, plus the histogram."""
    counts = np.bincount(symbols, minlength=alphabet)
    rows = np.broadcast_to(counts / counts.sum(), (len(symbols), alphabet))
    return range_coded_bits(symbols, rows) + elias_gamma_bits(counts + 1)


def adaptive_bits(symbols: np.ndarray, alphabet: int, contexts: np.ndarray | None = None) -> int:
    """Adaptive range coding: per context, counts start at 1 and count every coded symbol."""
    contexts = np.zeros(len(symbols), np.int64) if contexts is None else contexts
    tables = np.ones((int(contexts.max()) + 1, alphabet))
    rows = np.empty((len(symbols), alphabet))
    for i, (symbol, context) in enumerate(zip(symbols, contexts)):
        rows[i] = tables[context] / tables[context].sum()
        tables[context, symbol] += 1
    return range_coded_bits(symbols, rows)


def context_of(name: str, channel: int, codes: dict[str, np.ndarray], symbols: list[np.ndarray]) -> np.ndarray | None:
    """The context of each symbol of ``name``'s ``channel`` (see the module docstring), or None."""
    if name == "scale" and channel == 1:
        return codes["scale"][:, 0].astype(np.int64) // 8
    if name == "rotation":
        return np.minimum(np.abs(codes["scale"][:, 0].astype(np.int64) - codes["scale"][:, 1]), 7)
    if name == "color" and channel > 0:
        return codes["color"][:, 0].astype(np.int64) // 16
    if name == "xy" and channel == 1:
        return np.minimum(np.concatenate([[0], symbols[1][:-1]]), 3)
    return None


def measure(data: bytes) -> dict[str, dict[str, float]]:
    """Bits per Gaussian of each attribute under each coder, for one `.g2d` file."""
    from fast2dgs_cli.container import read_g2d
    from fast2dgs_cli.container.streams import encode_attribute

    q = read_g2d(data).gaussians
    codes = {name: a.codes for name, a in q.attributes().items()}
    result: dict[str, dict[str, float]] = {}
    for name, attribute in q.attributes().items():
        zstd_frame = len(encode_attribute(attribute)) - (4 + 9 * attribute.channels)
        sizes = {"zstd": 8 * zstd_frame, "static": 0, "adaptive": 0, "context": 0}
        symbols = stored_symbols(attribute.codes)
        for channel, column in enumerate(symbols):
            alphabet = max(2, int(column.max()) + 1)  # the coder needs two symbols at least
            side = elias_gamma_bits(np.array([alphabet]))  # the decoder must know the alphabet
            sizes["static"] += side + static_bits(column, alphabet)
            sizes["adaptive"] += side + adaptive_bits(column, alphabet)
            sizes["context"] += side + adaptive_bits(column, alphabet, context_of(name, channel, codes, symbols))
        result[name] = {coder: bits / q.count for coder, bits in sizes.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=6)
    parser.add_argument("--gaussians", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=RESULTS / "entropy_coders.json")
    args = parser.parse_args()

    from fast2dgs_cli.codec import EncodeOptions, encode_image

    images = []
    for file in kodak_files(args.kodak, args.limit):
        image, stem = load_image(file)
        data = encode_image(image, EncodeOptions(gaussians=args.gaussians)).data
        bits = measure(data)
        totals = {coder: sum(a[coder] for a in bits.values()) for coder in CODERS}
        images.append({"image": stem, "bytes": len(data), "bits_per_gaussian": bits, "total": totals})
        print(stem, "  ".join(f"{c} {v:.2f}" for c, v in totals.items()), "bits/G", flush=True)
    mean = {
        name: {coder: statistics.fmean(r["bits_per_gaussian"][name][coder] for r in images) for coder in CODERS}
        for name in images[0]["bits_per_gaussian"]
    }
    summary = {
        "name": "entropy_coders",
        "description": "bits per Gaussian of each attribute: the .g2d zstd frames against constriction range coding",
        "machine": machine_info(),
        "settings": {"gaussians": args.gaussians, "images": [r["image"] for r in images]},
        "mean_bits_per_gaussian": mean,
        "mean_total": {coder: statistics.fmean(r["total"][coder] for r in images) for coder in CODERS},
        "images": images,
    }
    write_json(args.out, summary)
    print("mean", "  ".join(f"{c} {v:.2f}" for c, v in summary["mean_total"].items()), "bits/G")


if __name__ == "__main__":
    main()
