"""Print this CPU's feature string for numba with AVX-512 switched off, to time the kernels as AVX2 CPUs run them.

numba compiles for ``NUMBA_CPU_FEATURES`` when it is set; ``NUMBA_CPU_NAME`` alone keeps the host's features,
AVX-512 included. Off here: every ``avx512*`` feature, the AVX10/AMX families and ``evex512``, and four
newer extensions that do not need AVX-512 (``avxvnni``, ``vaes``, ``vpclmulqdq``, ``gfni``: the kernels use
none of them, so switching them off only makes the build more conservative)::

    NUMBA_CACHE_DIR=/tmp/numba-avx2 NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES="$(python benchmarks/avx2_features.py)" \\
        python benchmarks/render_speed.py --out benchmarks/results/render_speed-znver4-avx2.json

(``render_speed-znver4-avx2.json`` and ``encode_speed-znver4-avx2.json`` were measured so; a cache directory of
their own keeps those kernels apart from the host build's.)
"""

from __future__ import annotations

from numba.core.codegen import get_host_cpu_features

_EXTRA_OFF = ("evex512", "avxvnni", "vaes", "vpclmulqdq", "gfni")


def without_avx512(features: str) -> str:
    """``features`` (numba's ``+name,-name,…`` string) with AVX-512 and its companions switched off."""

    def off(name: str) -> bool:
        return "avx512" in name or name.startswith(("avx10", "amx")) or name in _EXTRA_OFF

    return ",".join(f"-{item[1:]}" if off(item[1:]) else item for item in features.split(","))


if __name__ == "__main__":
    print(without_avx512(get_host_cpu_features()))
