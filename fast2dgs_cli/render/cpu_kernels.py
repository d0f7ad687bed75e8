"""The cpu backend's numba kernels: the reference image and its exact gradient, on NumPy arrays (no torch).

Same contract as ``reference.rasterize_reference`` (``formats/g2d.md`` §10): per pixel, the ``TOP_K`` largest
weights ``w = exp(−σ)`` among its tile's candidates (ties to the lower Gaussian index), blended as
``Σ w·c / (Σ w + EPS)``; the backward pass is the exact gradient for that fixed selection.

Every compiled kernel and the intrinsics they inline live in this one module on purpose: numba invalidates a
cached kernel only when the file defining it changes, never when a function it calls from another file does.
The inner loops are explicit 16-lane LLVM vector IR (``numba.extending.intrinsic``) without fast-math flags, so
every lane rounds like the float32 reference. A tile owns its pixels and its intersection slots, so no two
threads write the same memory and each Gaussian sums its slots in tile order: results do not depend on the
number of threads. Design, data flow, error bounds and measurements: ``docs/renderer.md``.

Data flow::

    tile boxes ──_bin_kernel──► per-tile lists (ascending Gaussian id) + per-Gaussian slot ranges
    xys, conics, colors ──_forward_kernel──► image [H, W, 3] (+ for backward: per intersection and 4×4
        block, the mask of pixels that selected it; per pixel Σw)
    dL/dimage ──_backward_kernel──► one gradient slot per intersection ──_reduce_kernel──► dL/dxys, conics, colors
"""

from __future__ import annotations

import math
import platform

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from ..jit import kernel
from .tiles import EPS, TILE, TOP_K, tile_grid

__all__ = ["SIGMA_CUTOFF", "WIDE_SIMD", "Bins", "backward", "forward", "selection_weights"]


def _target_features() -> str:
    """The CPU features numba compiles for: ``NUMBA_CPU_FEATURES`` if set, else the host's, as numba reads them."""
    from numba.core.codegen import get_host_cpu_features

    return numba.config.CPU_FEATURES if numba.config.CPU_FEATURES is not None else get_host_cpu_features()


SIGMA_CUTOFF = 27.65
"""Candidates with ``σ ≥ SIGMA_CUTOFF`` (weight ``exp(−σ) < 1e-12``) are skipped; see the module docstring."""

_K = TOP_K
_LANES = 16  # a 4×4 block of pixels
_TILE_PIX = TILE * TILE
_CUT32 = np.float32(SIGMA_CUTOFF)
_BOX_CUT = SIGMA_CUTOFF * (1.0 + 1e-4) + 1e-3  # float64 σ bound used for the ellipse boxes
_BLOCK_CUT = SIGMA_CUTOFF * 1.01  # float64 lower bound of σ over a 4×4 block above which it is skipped
_CULL_CONDITION = 1000.0  # largest conic condition number for which that bound is used
_BIN_CHUNKS = 8  # ranges of Gaussians binned in parallel (any count gives the same lists)
_TILE_RUN = 32  # consecutive tiles a chunk renders in a row (``_tile_order``)
WIDE_SIMD = "+avx512f" in _target_features().split(",")
"""Whether the kernels' target has 16-float vectors and 32 vector registers (AVX-512). Elsewhere (AVX2, NEON) the
selection pass keeps its rows for 8 lanes at a time (``_keep_smallest``): all 16 lanes' would spill."""
_EPS = float(EPS)
_INF_BITS = int(np.array([np.inf], np.float32).view(np.int32)[0])  # +inf's bits: above every key's

# ------------------------------------------------------------------------------------- SIMD (LLVM IR)
# One 4×4 pixel block = 16 lanes. Vector ops carry no fast-math flags, so every lane rounds exactly like the
# scalar float32 reference (no FMA contraction, no reassociation).
_I32, _I64, _F32 = ir.IntType(32), ir.IntType(64), ir.FloatType()
_F64 = ir.DoubleType()
_VI32, _VF32, _VF64 = (ir.VectorType(t, _LANES) for t in (_I32, _F32, _F64))
_MASK = ir.IntType(_LANES)
_VI16 = ir.VectorType(ir.IntType(16), _LANES)
_LOG2E_F = float(np.float32(1.0 / math.log(2.0)))
_LN2_HI = 0.693145751953125  # 15 significant bits: n·_LN2_HI is exact in float32 for n < 512
_LN2_LO = float(np.float32(math.log(2.0) - _LN2_HI))
# exp(−r) ≈ Σ c_k·(−r)^k on |r| ≤ ln2 / 2: a degree-6 near-minimax fit (Chebyshev, float32 coefficients), relative
# error 2e-9 before rounding
_EXP_NEG_POLY = tuple(
    c * (-1) ** k
    for k, c in enumerate(
        (1.0, 1.0, 0.5, 0.16666413843631744, 0.04166635125875473, 0.008375209756195545, 0.0013941213255748153)
    )
)
_FUSED = "+fma" in _target_features().split(",") or platform.machine().lower() in ("aarch64", "arm64")
"""Whether the kernels' target has fused multiply-add (x86 with FMA3, 64-bit ARM): ``exp`` then uses it."""


def _odd_even_merge_sort(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators ``(i, j)``, ``i < j`` (min to ``i``), of Batcher's odd-even merge sort of the next power of two
    ``≥ n`` inputs, less those touching an input ``≥ n``: with those inputs +inf they never move a value, so what
    is left sorts ``n`` inputs (32 comparators for 10)."""
    size = 1 << max(n - 1, 0).bit_length()
    network, p = [], 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        network.append((a, b))
            k //= 2
        p *= 2
    return tuple(network)


_SORTING_NETWORK = _odd_even_merge_sort(_K)


class _Simd:
    """Emit 16-lane vector code for one 4×4 pixel block into an llvmlite builder."""

    def __init__(self, context, builder) -> None:
        self.ctx, self.b = context, builder

    def const(self, value, vtype=_VF32):
        return ir.Constant(vtype, [value] * _LANES)

    def splat(self, value, vtype=_VF32):
        lane0 = self.b.insert_element(ir.Constant(vtype, ir.Undefined), value, ir.Constant(_I32, 0))
        return self.b.shuffle_vector(lane0, ir.Constant(vtype, ir.Undefined), self.const(0, _VI32))

    def data(self, aryty, ary):
        return self.ctx.make_array(aryty)(self.ctx, self.b, ary).data

    def int64(self, value, ty):
        return self.ctx.cast(self.b, value, ty, types.int64)

    def ptr(self, data, offset, vtype):
        """Pointer to a 16-lane row of ``data`` starting at element ``offset`` (an i64 value)."""
        return self.b.bitcast(self.b.gep(data, [offset]), vtype.as_pointer())

    def at(self, data, offset):
        return self.b.load(self.b.gep(data, [offset]))

    def add(self, value, constant):
        return self.b.add(value, ir.Constant(_I64, constant))

    def any(self, mask):
        return self.b.icmp_unsigned("!=", self.b.bitcast(mask, _MASK), ir.Constant(_MASK, 0))

    def sigma(self, x0, y0, px, py, a, b, c):
        """``(σ, dx, dy)`` at the block's pixels: σ = 0.5·(a·dx·dx + c·dy·dy) + b·dx·dy, op by op."""
        f = self.b
        qx = f.fadd(self.splat(x0), ir.Constant(_VF32, [float(i % 4) for i in range(_LANES)]))
        qy = f.fadd(self.splat(y0), ir.Constant(_VF32, [float(i // 4) for i in range(_LANES)]))
        dx, dy = f.fsub(self.splat(px), qx), f.fsub(self.splat(py), qy)
        axx = f.fmul(f.fmul(self.splat(a), dx), dx)
        cyy = f.fmul(f.fmul(self.splat(c), dy), dy)
        bxy = f.fmul(f.fmul(self.splat(b), dx), dy)
        return f.fadd(f.fmul(self.const(0.5), f.fadd(axx, cyy)), bxy), dx, dy

    def mul_add(self, x, y, z):
        """``x·y + z``: one fused, exactly rounded operation where the target has FMA, else a product and a sum."""
        if not _FUSED:
            return self.b.fadd(self.b.fmul(x, y), z)
        name = f"llvm.fma.v{x.type.count}f32"
        fma = self.b.module.globals.get(name)
        fma = fma or ir.Function(self.b.module, ir.FunctionType(x.type, [x.type] * 3), name=name)
        return self.b.call(fma, [x, y, z])

    def exp_neg(self, sigma):
        """``exp(−σ)`` for ``0 ≤ σ < 80`` in float32 as ``2⁻ⁿ·p(σ − n·ln 2)`` (its error: ``docs/renderer.md``)."""
        f = self.b
        n = f.fptosi(f.fadd(f.fmul(sigma, self.const(_LOG2E_F)), self.const(0.5)), _VI32)
        fn = f.sitofp(n, _VF32)
        r = self.mul_add(fn, self.const(-_LN2_LO), self.mul_add(fn, self.const(-_LN2_HI), sigma))  # |r| ≤ ln2 / 2
        poly = self.const(_EXP_NEG_POLY[-1])
        for coef in reversed(_EXP_NEG_POLY[:-1]):
            poly = self.mul_add(poly, r, self.const(coef))
        # times 2⁻ⁿ by lowering the exponent field: exact, as poly·2⁻ⁿ ≥ 2⁻¹¹⁷ stays a normal float
        return f.bitcast(f.sub(f.bitcast(poly, _VI32), f.shl(n, self.const(23, _VI32))), _VF32)

    def candidate(self, params, count, m):
        """``(px, py, a, b, c)`` of list entry ``m`` from the tile's ``params`` [5·count]."""
        return tuple(self.at(params, self.b.add(self.b.mul(count, ir.Constant(_I64, i)), m)) for i in range(5))


def _is_array(ty, dtype) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == dtype and ty.ndim == 1 and ty.layout == "C"


def _keep_smallest(f, score, n, keys_p, picked_p, n_picked, half=None):
    """Emit pass 1 of ``_render_block`` over ``n`` candidates: ``(τ, number of rows below τ)`` per lane.

    Every candidate's key is inserted into the lanes' K smallest, kept sorted in ``K`` rows by a min/max
    insertion network (row i becomes min(row i, max(row i−1, key)) from the old rows at once; a key that
    enters no lane leaves every row as it was); the first K keys, which fill the rows, are sorted at once by
    ``_SORTING_NETWORK`` instead (64 min/max instead of 190, the same rows). There is no branch on whether a
    candidate enters some lane (most do, unpredictably): its key row and entry are always written at the
    end of the kept list, which only grows if it entered. Each candidate is scored one ahead of its insertion.

    With ``half`` None the rows are 16 lanes wide: on AVX-512 they fit in its 32 vector registers. With
    ``half`` 0 or 1 only lanes 8·half … 8·half+7 are kept, in 8-lane rows, so that 16 AVX2 (or NEON)
    registers hold them instead of spilling every row to memory on every candidate: half 0 stores each
    candidate's low key half at its own index and whether it entered in ``picked``; half 1 adds the high
    half and compacts the kept list in place (it writes entry ``j ≤ m`` after reading entry ``m``).
    """
    width = _LANES if half is None else _LANES // 2
    row_type, key_type = ir.VectorType(_F32, width), ir.VectorType(_I32, width)
    inf_bits = ir.Constant(key_type, [_INF_BITS] * width)
    rows = [cgutils.alloca_once_value(f, inf_bits) for _ in range(_K)]  # promoted to registers by LLVM

    def row_at(index, offset=0):
        """Pointer to lanes ``offset …`` of key row ``index`` in ``keys``."""
        start = f.add(f.shl(index, ir.Constant(_I64, 4)), ir.Constant(_I64, offset))
        return f.bitcast(f.gep(keys_p, [start]), row_type.as_pointer())

    def smaller(x, y):
        return f.select(f.icmp_signed("<", x, y), x, y)

    def larger(x, y):
        return f.select(f.icmp_signed("<", x, y), y, x)

    def keyed(index):
        """Candidate ``index``'s entry and σ row (this pass's lanes)."""
        entry, sigma = score(index)
        if half is not None:
            sigma = _shuffle(f, sigma, sigma, list(range(width * half, width * (half + 1))))
        return entry, sigma

    def kept(index, entry, sigma):
        """Keep candidate ``index`` if it enters some lane (bookkeeping of the kept list); return its key."""
        key = f.bitcast(sigma, key_type)
        mask = f.icmp_signed("<", key, f.load(rows[-1]))
        entered = f.icmp_unsigned("!=", f.bitcast(mask, ir.IntType(width)), ir.Constant(ir.IntType(width), 0))
        if half == 0:
            f.store(sigma, row_at(index), align=4)
            f.store(f.zext(entered, _I32), f.gep(picked_p, [index]))
        else:
            j = f.load(n_picked)
            if half == 1:
                low = f.load(row_at(index), align=4)
                before = f.trunc(f.load(f.gep(picked_p, [index])), ir.IntType(1))
                entered = f.or_(entered, before)
                f.store(low, row_at(j), align=4)
                f.store(sigma, row_at(j, width), align=4)
            else:
                f.store(sigma, row_at(j), align=4)
            f.store(entry, f.gep(picked_p, [j]))
            f.store(f.add(j, f.zext(entered, _I64)), n_picked)
        return key

    first = cgutils.alloca_once_value(f, ir.Constant(_I64, 0))
    with f.if_then(f.icmp_signed(">=", n, ir.Constant(_I64, _K))):  # the first K: a sorting network
        index = [ir.Constant(_I64, i) for i in range(_K)]
        keys = [kept(i, *keyed(i)) for i in index]  # each enters where valid: the rows are +inf
        for a, b in _SORTING_NETWORK:
            keys[a], keys[b] = smaller(keys[a], keys[b]), larger(keys[a], keys[b])
        for row, key in zip(rows, keys):
            f.store(key, row)
        f.store(ir.Constant(_I64, _K), first)
    # the rest, each scored one candidate ahead: the next σ's long dependency chain overlaps this one's insertion
    start = f.load(first)
    ahead = [cgutils.alloca_once(f, t) for t in (_I32, row_type)]
    with f.if_then(f.icmp_signed("<", start, n)):
        for slot, value in zip(ahead, keyed(start)):
            f.store(value, slot)
    with cgutils.for_range(f, n, start=start) as loop:
        entry, sigma = (f.load(slot) for slot in ahead)
        following = f.add(loop.index, ir.Constant(_I64, 1))
        following = f.select(f.icmp_signed("<", following, n), following, loop.index)  # past the end: again
        for slot, value in zip(ahead, keyed(following)):
            f.store(value, slot)
        key = kept(loop.index, entry, sigma)
        old = [f.load(row) for row in rows]
        for i, row in enumerate(rows):
            moved = key if i == 0 else larger(old[i - 1], key)
            f.store(smaller(moved, old[i]), row)
    tau_bits = f.load(rows[-1])
    below = [f.zext(f.icmp_signed("<", f.load(row), tau_bits), key_type) for row in rows]
    n_below = below[0]
    for flag in below[1:]:
        n_below = f.add(n_below, flag)
    tau = f.bitcast(tau_bits, row_type)
    return tau, n_below


@intrinsic
def _render_block(typingctx, x0, y0, params, cols, count, lst, n, cut, keys, picked, save, hits, hit_base, inside, res):
    """Select and blend one 4×4 block: ``res`` [4·16] ← per lane ``(d, r, g, b)``, ``d = Σw + EPS``, ``r = Σw·r / d``.

    Pass 1 scores the ``n`` listed candidates (a σ that is negative, NaN or ``≥ cut`` counts as ``+inf``) and
    keeps each lane's K smallest σ, values only, sorted in registers by a min/max insertion network
    (``_keep_smallest``; without AVX-512, for 8 lanes at a time). Its K-th
    value ``τ`` decides the selection: every σ < τ, then the first σ = τ in list (= Gaussian index) order until
    K are taken — the reference's K largest weights with ties to the lower index. Only the candidates that
    entered some lane's K smallest when scored can be selected (the K-th smallest only decreases, and a
    candidate equal to it then has K earlier ones at or below τ, enough to fill the tie quota first), so pass 1
    keeps those alone, in order: their σ rows in ``keys`` [16·n] and their entries in ``picked`` [n]. Pass 2
    walks that shorter list and blends each selected candidate into the lane sums (its colour is one
    broadcast; no gather). If ``save``, candidate ``m``'s lane mask (limited to the ``inside`` lanes) is stored
    at ``hits[hit_base + 16·m]`` for the backward pass.
    """
    ok = _is_array(params, types.float32) and _is_array(cols, types.float32) and _is_array(lst, types.int32)
    ok = ok and _is_array(keys, types.float32) and _is_array(picked, types.int32) and _is_array(hits, types.int16)
    if not ok or not _is_array(res, types.float32) or (x0, y0, cut) != (types.float32,) * 3 or save != types.boolean:
        return None
    sig = types.void(x0, y0, params, cols, count, lst, n, cut, keys, picked, save, hits, hit_base, inside, res)

    def codegen(context, builder, signature, args):
        v, f = _Simd(context, builder), builder
        (x0_v, y0_v, params_v, cols_v, count_v, lst_v, n_v, cut_v, keys_v, picked_v, save_v, hits_v, base_v, inside_v,
         res_v) = args
        tys = signature.args
        params_p, cols_p, lst_p = v.data(tys[2], params_v), v.data(tys[3], cols_v), v.data(tys[5], lst_v)
        keys_p, picked_p = v.data(tys[8], keys_v), v.data(tys[9], picked_v)
        hits_p, res_p = v.data(tys[11], hits_v), v.data(tys[14], res_v)
        count_i, n_i, base_i = v.int64(count_v, tys[4]), v.int64(n_v, tys[6]), v.int64(base_v, tys[12])
        inside_m = f.trunc(v.int64(inside_v, tys[13]), _MASK)
        save_b = context.cast(f, save_v, tys[10], types.boolean)
        inf, zero = v.const(math.inf), v.const(0.0)
        n_picked = cgutils.alloca_once_value(f, ir.Constant(_I64, 0))

        def score(index):
            """Candidate ``index``'s list entry and its 16-lane key: σ (−0 made +0, so that the bits of every key
            order like their values), or +inf where not valid."""
            entry = f.load(f.gep(lst_p, [index]))
            sigma, _, _ = v.sigma(x0_v, y0_v, *v.candidate(params_p, count_i, f.sext(entry, _I64)))
            bits = f.bitcast(f.fadd(sigma, zero), _VI32)  # as unsigned integers, +0 ≤ σ < cut are below the cut's
            valid = f.icmp_unsigned("<", bits, v.splat(f.bitcast(cut_v, _I32), _VI32))  # negative, NaN: above
            return entry, f.bitcast(f.select(valid, bits, v.const(_INF_BITS, _VI32)), _VF32)

        if WIDE_SIMD:
            tau, n_below = _keep_smallest(f, score, n_i, keys_p, picked_p, n_picked)
        else:  # each half's rows alone fit in the registers; pass 1b compacts the kept list in place
            halves = [_keep_smallest(f, score, n_i, keys_p, picked_p, n_picked, half) for half in (0, 1)]
            tau = _shuffle(f, halves[0][0], halves[1][0], list(range(_LANES)))
            n_below = _shuffle(f, halves[0][1], halves[1][1], list(range(_LANES)))
        finite = f.fcmp_ordered("<", tau, inf)  # fewer than K valid candidates: take them all, no ties at +inf
        quota = cgutils.alloca_once_value(f, f.select(finite, f.sub(v.const(_K, _VI32), n_below), v.const(0, _VI32)))
        sums = [cgutils.alloca_once_value(f, zero) for _ in range(4)]
        tau_bits = f.bitcast(tau, _VI32)
        with cgutils.for_range(f, f.load(n_picked)) as loop:  # pass 2: take σ < τ, then the first ties σ = τ
            key = f.load(v.ptr(keys_p, f.shl(loop.index, ir.Constant(_I64, 4)), _VF32), align=4)
            key_bits = f.bitcast(key, _VI32)  # the keys' bits order like their values (see score)
            left = f.load(quota)
            tie = f.and_(f.icmp_signed("==", key_bits, tau_bits), f.icmp_signed(">", left, v.const(0, _VI32)))
            f.store(f.sub(left, f.zext(tie, _VI32)), quota)
            take = f.or_(f.icmp_signed("<", key_bits, tau_bits), tie)
            with f.if_then(v.any(take)):
                m = f.sext(f.load(f.gep(picked_p, [loop.index])), _I64)
                weight = f.select(take, v.exp_neg(f.select(take, key, zero)), zero)
                f.store(f.fadd(f.load(sums[0]), weight), sums[0])
                for ch in range(3):
                    colour = v.splat(v.at(cols_p, v.add(f.shl(m, ir.Constant(_I64, 2)), ch)))
                    term = f.select(take, f.fmul(weight, colour), zero)
                    f.store(f.fadd(f.load(sums[ch + 1]), term), sums[ch + 1])
                with f.if_then(save_b):
                    lanes = f.and_(f.bitcast(take, _MASK), inside_m)
                    f.store(lanes, f.gep(hits_p, [f.add(base_i, f.shl(m, ir.Constant(_I64, 4)))]))
        norm = f.fadd(f.load(sums[0]), v.const(float(np.float32(_EPS))))
        outputs = [norm] + [f.fdiv(f.load(total), norm) for total in sums[1:]]
        for q, value in enumerate(outputs):
            f.store(value, v.ptr(res_p, ir.Constant(_I64, q * _LANES), _VF32), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _backward_candidate(typingctx, hits, x0, y0, params, cols, count, m, lanes, out):
    """Gradient of list entry ``m`` over the tile's blocks whose lanes selected it.

    ``hits[16·m + blk]`` is the 16-bit lane mask of block ``blk``'s pixels whose top-K selection holds
    ``m``; those lanes contribute (``docs/renderer.md``, the backward pass; using ``Σ_k w_k·c_k·v = (Σw+EPS)·out·v``):
    ``dL/dσ = w/(Σw+EPS)·(out·v − c·v)`` and colour ``w/(Σw+EPS)·v``, with ``lanes`` [16 blocks · 5 · 16] =
    (v_r, v_g, v_b, out·v, 1/(Σw+EPS)). The 8 sums (xy, conic, colour) stay in registers across blocks, then
    reduce over lanes by a fixed pairwise tree into ``out`` [8] float64.
    """
    ok = _is_array(hits, types.int16) and _is_array(params, types.float32) and _is_array(cols, types.float32)
    if not (ok and _is_array(lanes, types.float32) and _is_array(out, types.float64)):
        return None
    sig = types.void(hits, x0, y0, params, cols, count, m, lanes, out)

    def codegen(context, builder, signature, args):
        v, f = _Simd(context, builder), builder
        hits_v, x0_v, y0_v, params_v, cols_v, count_v, m_v, lanes_v, out_v = args
        tys = signature.args
        hits_p, params_p, cols_p = v.data(tys[0], hits_v), v.data(tys[3], params_v), v.data(tys[4], cols_v)
        lanes_p, out_p = v.data(tys[7], lanes_v), v.data(tys[8], out_v)
        count_i, m_i = v.int64(count_v, tys[5]), v.int64(m_v, tys[6])
        x0_i, y0_i = v.int64(x0_v, tys[1]), v.int64(y0_v, tys[2])
        px, py, a, b, c = v.candidate(params_p, count_i, m_i)
        c0, c1, c2 = (v.splat(v.at(cols_p, v.add(f.shl(m_i, ir.Constant(_I64, 2)), ch))) for ch in range(3))
        A, B, C = v.splat(a), v.splat(b), v.splat(c)
        zero = v.const(0.0)
        sums = [cgutils.alloca_once_value(f, zero) for _ in range(8)]
        hit_row = f.shl(m_i, ir.Constant(_I64, 4))
        # the blocks with a selecting lane, found without a branch per block: an unpredictable branch there
        # costs more than the block's arithmetic; the loop then visits exactly those, in ascending order
        masks = f.load(v.ptr(hits_p, hit_row, _VI16), align=2)
        selected = f.icmp_signed("!=", masks, ir.Constant(_VI16, [0] * _LANES))
        pending = cgutils.alloca_once_value(f, f.bitcast(selected, _MASK))
        with cgutils.for_range(f, f.zext(f.ctpop(f.load(pending)), _I64)):
            rest = f.load(pending)
            f.store(f.and_(rest, f.sub(rest, ir.Constant(_MASK, 1))), pending)
            blk = f.zext(f.cttz(rest, ir.Constant(ir.IntType(1), 1)), _I64)
            bits = f.zext(v.at(hits_p, f.add(hit_row, blk)), _I32)
            lane_bits = ir.Constant(_VI32, [1 << i for i in range(_LANES)])  # a vector test: cheap on any SIMD
            hit = f.icmp_signed("!=", f.and_(v.splat(bits, _VI32), lane_bits), v.const(0, _VI32))
            lane_row = f.mul(blk, ir.Constant(_I64, 5 * _LANES))
            v0, v1, v2, ov, inv = (
                f.load(v.ptr(lanes_p, v.add(lane_row, q * _LANES), _VF32), align=4) for q in range(5)
            )
            bx = f.sitofp(f.add(x0_i, f.shl(f.and_(blk, ir.Constant(_I64, 3)), ir.Constant(_I64, 2))), _F32)
            by = f.sitofp(f.add(y0_i, f.shl(f.lshr(blk, ir.Constant(_I64, 2)), ir.Constant(_I64, 2))), _F32)
            sigma, dx, dy = v.sigma(bx, by, px, py, a, b, c)
            # w / (Σw + EPS) on the lanes that selected m, exactly 0 elsewhere: their terms below are then
            # ±0 (every factor is finite near a selected Gaussian), so no per-sum mask is needed
            share = f.select(hit, f.fmul(v.exp_neg(f.select(hit, sigma, zero)), inv), zero)
            cv = f.fadd(f.fadd(f.fmul(c0, v0), f.fmul(c1, v1)), f.fmul(c2, v2))
            d_sigma = f.fmul(share, f.fsub(ov, cv))
            d_dx, d_dy = f.fmul(d_sigma, dx), f.fmul(d_sigma, dy)
            grads = (
                f.fmul(d_sigma, f.fadd(f.fmul(A, dx), f.fmul(B, dy))),
                f.fmul(d_sigma, f.fadd(f.fmul(B, dx), f.fmul(C, dy))),
                f.fmul(f.fmul(d_dx, dx), v.const(0.5)),
                f.fmul(d_dx, dy),
                f.fmul(f.fmul(d_dy, dy), v.const(0.5)),
                f.fmul(share, v0),
                f.fmul(share, v1),
                f.fmul(share, v2),
            )
            for slot, grad in zip(sums, grads):
                f.store(f.fadd(f.load(slot), grad), slot)
        for q, slot in enumerate(sums):
            total = _tree_sum(f, f.fpext(f.load(slot), ir.VectorType(ir.DoubleType(), _LANES)))
            f.store(total, f.gep(out_p, [ir.Constant(_I64, q)]))
        return context.get_dummy_value()

    return sig, codegen


def _shuffle(builder, x, y, mask):
    return builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(_I32, len(mask)), mask))


def _tree_sum(builder, row):
    """Sum a vector's lanes by a fixed pairwise tree (upper half onto lower half)."""
    width = row.type.count
    while width > 1:
        width //= 2
        lo = _shuffle(builder, row, row, list(range(width)))
        hi = _shuffle(builder, row, row, list(range(width, 2 * width)))
        row = builder.fadd(lo, hi)
    return builder.extract_element(row, ir.Constant(_I32, 0))


@intrinsic
def _store_block(typingctx, res, out, x, y):
    """Write a whole 4×4 block's colours, ``res[16:64]`` (r, g, b rows of 16 lanes), into ``out`` [H, W, 3] at
    pixel ``(x, y)``: per pixel row, the lanes interleaved into 12 consecutive floats and stored at once."""
    ok = _is_array(res, types.float32) and isinstance(out, types.Array) and out.dtype == types.float32
    integers = isinstance(x, types.Integer) and isinstance(y, types.Integer)
    if not (ok and out.ndim == 3 and out.layout == "C" and integers):
        return None
    sig = types.void(res, out, x, y)

    def codegen(context, builder, signature, args):
        v, f = _Simd(context, builder), builder
        tys = signature.args
        res_p, image = v.data(tys[0], args[0]), context.make_array(tys[1])(context, builder, args[1])
        width = cgutils.unpack_tuple(f, image.shape, 3)[1]
        x_i, y_i = v.int64(args[2], tys[2]), v.int64(args[3], tys[3])
        red, green, blue = (f.load(v.ptr(res_p, ir.Constant(_I64, q * _LANES), _VF32), align=4) for q in (1, 2, 3))
        red_green = _shuffle(f, red, green, list(range(2 * _LANES)))
        blue_twice = _shuffle(f, blue, blue, list(range(_LANES)) * 2)  # its lanes sit at 32 + i below
        for row in range(4):
            lanes = [4 * row + px + ch * _LANES for px in range(4) for ch in range(3)]
            pixels = _shuffle(f, red_green, blue_twice, lanes)
            start = f.mul(f.add(f.mul(v.add(y_i, row), width), x_i), ir.Constant(_I64, 3))
            f.store(pixels, v.ptr(image.data, start, pixels.type), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _block_mask(typingctx, params, boxes, count, m, x0, y0):
    """16-bit mask of the tile's 4×4 blocks (bit ``4·row + column``) that list entry ``m``'s box meets, less those
    where its σ lower bound reaches ``_BLOCK_CUT`` if its bound flag is set (see ``_block_masks``); the 16 blocks
    are tested side by side in float64 lanes."""
    ok = _is_array(params, types.float32) and _is_array(boxes, types.float32)
    if not (ok and all(isinstance(t, types.Integer) for t in (count, m, x0, y0))):
        return None
    sig = types.int64(params, boxes, count, m, x0, y0)

    def codegen(context, builder, signature, args):
        v, f = _Simd(context, builder), builder
        tys = signature.args
        params_p, boxes_p = v.data(tys[0], args[0]), v.data(tys[1], args[1])
        count_i, m_i = v.int64(args[2], tys[2]), v.int64(args[3], tys[3])
        x0_d, y0_d = (f.sitofp(v.int64(args[i], tys[i]), _F64) for i in (4, 5))
        px, py, a, b, c = (f.fpext(value, _F64) for value in v.candidate(params_p, count_i, m_i))
        x_lo, x_hi, y_lo, y_hi, bounded = (
            f.fpext(v.at(boxes_p, f.add(f.mul(count_i, ir.Constant(_I64, q)), m_i)), _F64) for q in range(5)
        )
        left = f.fadd(v.splat(x0_d, _VF64), ir.Constant(_VF64, [4.0 * (i % 4) for i in range(_LANES)]))
        top = f.fadd(v.splat(y0_d, _VF64), ir.Constant(_VF64, [4.0 * (i // 4) for i in range(_LANES)]))
        three = v.const(3.0, _VF64)
        meets = [  # the block's pixels [left, left + 3] × [top, top + 3] meet the box (all exact in float64)
            f.fcmp_ordered("<=", left, v.splat(x_hi, _VF64)),
            f.fcmp_ordered("<=", v.splat(x_lo, _VF64), f.fadd(left, three)),
            f.fcmp_ordered("<=", top, v.splat(y_hi, _VF64)),
            f.fcmp_ordered("<=", v.splat(y_lo, _VF64), f.fadd(top, three)),
        ]
        half = v.const(1.5, _VF64)
        u = f.fsub(v.splat(px, _VF64), f.fadd(left, half))  # centre minus the block's centre
        w = f.fsub(v.splat(py, _VF64), f.fadd(top, half))
        A, B, C = (v.splat(value, _VF64) for value in (a, b, c))
        gx = f.fadd(f.fmul(A, u), f.fmul(B, w))
        gy = f.fadd(f.fmul(B, u), f.fmul(C, w))
        vi64 = ir.VectorType(_I64, _LANES)

        def fabs(x):  # clear the sign bit
            return f.bitcast(f.and_(f.bitcast(x, vi64), v.const((1 << 63) - 1, vi64)), _VF64)

        centre = f.fmul(v.const(0.5, _VF64), f.fadd(f.fmul(u, gx), f.fmul(w, gy)))
        slope = f.fmul(v.const(1.5, _VF64), f.fadd(fabs(gx), fabs(gy)))
        below = f.fcmp_ordered("<", f.fsub(centre, slope), v.const(_BLOCK_CUT, _VF64))
        positive = f.fcmp_ordered(">", bounded, ir.Constant(_F64, 0.0))
        culled = f.and_(v.splat(positive, ir.VectorType(ir.IntType(1), _LANES)), f.not_(below))
        mask = f.and_(f.and_(meets[0], meets[1]), f.and_(meets[2], meets[3]))
        return f.zext(f.bitcast(f.and_(mask, f.not_(culled)), _MASK), _I64)

    return sig, codegen


# --------------------------------------------------------------------------------------------- binning
@kernel(parallel=True)
def _bin_kernel(box, tiles_x, tiles_y):  # pragma: no cover - compiled
    """Per-tile candidate lists exactly as ``projection.bin_tiles``, plus per-Gaussian gradient slots.

    Returns ``(tile_start [T+1] i64, ids [n] i32, gauss_start [N+1] i64, home [n] i64)``: tile ``t`` owns
    ``ids[tile_start[t]:tile_start[t+1]]`` (ascending Gaussian index); intersection ``i`` writes its gradient
    to slot ``home[i]``, and Gaussian ``g`` owns slots ``gauss_start[g]:gauss_start[g+1]``. The Gaussians are
    cut into ``_BIN_CHUNKS`` ranges binned side by side: each range counts, then fills, its own share of every
    tile's list, placed after the shares of the ranges before it (so the lists come out ascending, whatever
    the threads).
    """
    n, n_tiles = box.shape[0], tiles_x * tiles_y
    counts = np.zeros((_BIN_CHUNKS, n_tiles), np.int64)
    gauss_start = np.zeros(n + 1, np.int64)
    for chunk in prange(_BIN_CHUNKS):
        lo, hi = _chunk(chunk, _BIN_CHUNKS, n)
        for g in range(lo, hi):
            tx0, tx1, ty0, ty1 = max(box[g, 0], 0), min(box[g, 1], tiles_x), max(box[g, 2], 0), min(box[g, 3], tiles_y)
            if tx1 > tx0 and ty1 > ty0:
                gauss_start[g + 1] = (tx1 - tx0) * (ty1 - ty0)
                for ty in range(ty0, ty1):
                    for tx in range(tx0, tx1):
                        counts[chunk, ty * tiles_x + tx] += 1
    for g in range(n):
        gauss_start[g + 1] += gauss_start[g]
    tile_start = np.empty(n_tiles + 1, np.int64)
    cursor = np.empty((_BIN_CHUNKS, n_tiles), np.int64)
    total = 0
    for t in range(n_tiles):
        tile_start[t] = total
        for chunk in range(_BIN_CHUNKS):
            cursor[chunk, t] = total
            total += counts[chunk, t]
    tile_start[n_tiles] = total
    ids = np.empty(total, np.int32)
    home = np.empty(total, np.int64)
    for chunk in prange(_BIN_CHUNKS):
        lo, hi = _chunk(chunk, _BIN_CHUNKS, n)
        for g in range(lo, hi):
            k = gauss_start[g]
            if gauss_start[g + 1] == k:
                continue
            for ty in range(max(box[g, 2], 0), min(box[g, 3], tiles_y)):
                for tx in range(max(box[g, 0], 0), min(box[g, 1], tiles_x)):
                    pos = cursor[chunk, ty * tiles_x + tx]
                    cursor[chunk, ty * tiles_x + tx] = pos + 1
                    ids[pos] = g
                    home[pos] = k
                    k += 1
    return tile_start, ids, gauss_start, home


# ---------------------------------------------------------------------------------------------- tiles
@kernel(parallel=True)
def _gaussian_boxes(xys, conics):  # pragma: no cover - compiled
    """``[N, 5]`` float32: ``(x_lo, x_hi, y_lo, y_hi)`` of each ellipse ``σ ≤ SIGMA_CUTOFF`` plus a one-pixel
    margin (infinite when the conic is not positive definite: then every pixel is tried), and 1 where the
    block bound of ``_block_masks`` holds (a positive definite conic of condition number ≤ ``_CULL_CONDITION``),
    else 0."""
    boxes = np.empty((xys.shape[0], 5), np.float32)
    for g in prange(xys.shape[0]):
        px, py = xys[g, 0], xys[g, 1]
        a, b, c = np.float64(conics[g, 0]), np.float64(conics[g, 1]), np.float64(conics[g, 2])
        det = a * c - b * b
        hx, hy, bounded = np.inf, np.inf, 0.0
        if a > 0.0 and det > 0.0 and math.isfinite(det) and math.isfinite(px) and math.isfinite(py):
            hx = math.sqrt(2.0 * _BOX_CUT * c / det) + 1.0
            hy = math.sqrt(2.0 * _BOX_CUT * a / det) + 1.0
            spread = math.sqrt(0.25 * (a - c) * (a - c) + b * b)
            if 0.5 * (a + c) + spread <= _CULL_CONDITION * (0.5 * (a + c) - spread):
                bounded = 1.0
        boxes[g, 0], boxes[g, 1], boxes[g, 2], boxes[g, 3] = px - hx, px + hx, py - hy, py + hy
        boxes[g, 4] = bounded
    return boxes


@kernel()
def _tile_scratch(capacity):  # pragma: no cover - compiled
    """Per-thread-chunk candidate buffers for tiles of up to ``capacity`` candidates: params, cols."""
    return np.empty(5 * capacity, np.float32), np.zeros(4 * capacity, np.float32)


@kernel()
def _block_scratch(capacity):  # pragma: no cover - compiled
    """Per-thread-chunk buffers of the forward's blocks: candidate boxes, block masks, a block list, σ rows, picked
    entries."""
    boxes = np.empty(5 * capacity, np.float32)
    masks, lst = np.empty(capacity + 8, np.int32), np.empty(capacity + 8, np.int32)  # 8 at a time
    return boxes, masks, lst, np.empty(_LANES * capacity, np.float32), np.empty(capacity, np.int32)


@kernel()
def _load_tile(xys, conics, colors, ids, start, count, params, cols):  # pragma: no cover
    """Gather a tile's candidates: ``params`` [5·M] (px, py, a, b, c) and ``cols`` [4·M] (r, g, b, 0)."""
    for m in range(count):
        g = ids[start + m]
        params[m], params[count + m], params[2 * count + m] = xys[g, 0], xys[g, 1], conics[g, 0]
        params[3 * count + m], params[4 * count + m] = conics[g, 1], conics[g, 2]
        cols[4 * m], cols[4 * m + 1], cols[4 * m + 2] = colors[g, 0], colors[g, 1], colors[g, 2]


@kernel()
def _load_boxes(gboxes, ids, start, count, boxes):  # pragma: no cover - compiled
    """Gather a tile's candidate boxes and bound flags ``boxes`` [5·M] (the forward pass's block culling)."""
    for m in range(count):
        g = ids[start + m]
        for q in range(5):
            boxes[q * count + m] = gboxes[g, q]


def _chunk(i, n_chunks, n):  # pragma: no cover - compiled
    """Bounds ``[lo, hi)`` of chunk ``i`` of ``n`` items cut into ``n_chunks`` near-equal chunks."""
    return i * n // n_chunks, (i + 1) * n // n_chunks


_chunk = kernel(inline="always")(_chunk)


@kernel()
def _block_masks(params, boxes, count, x0, y0, masks):  # pragma: no cover - compiled
    """For each candidate, the 16-bit mask of the tile's 4×4 blocks (bit ``4·row + column``) its box meets, less
    those where its σ is provably ``≥ SIGMA_CUTOFF`` at all 16 pixels; ``_block_list`` then lists each block's
    candidates.

    The bound: with ``w`` = the Gaussian's centre
    minus the block's centre and ``Q`` its conic, a pixel at offset ``e`` (``|e_x|, |e_y| ≤ 1.5``) from the
    block's centre has ``σ = ½(w − e)ᵀQ(w − e) ≥ σ(w) − eᵀQw ≥ σ(w) − 1.5·(|(Qw)_x| + |(Qw)_y|)``, as
    ``Q`` is positive definite. The kernel's float32 ``σ`` is within ``16·2⁻²⁴·κ·σ`` of the exact value (``κ`` the
    conic's condition number), under 0.1 % for ``κ ≤ _CULL_CONDITION``, so a bound ``≥ _BLOCK_CUT`` (1 % over
    the cut-off) leaves every lane's float32 σ at or above the cut-off: the skipped candidate would have been
    scored ``+inf`` in every lane, entered no lane and been selected nowhere. The image is unchanged, bit for
    bit; pass 1 scores fewer candidates.
    """
    for m in range(count):
        masks[m] = _block_mask(params, boxes, count, m, x0, y0)


_SET_LANES = np.array(
    [[i for i in range(8) if mask >> i & 1] + [0] * (8 - bin(mask).count("1")) for mask in range(256)], np.int32
).ravel()
"""Row ``mask`` (8 entries from ``8·mask``): the lanes set in the 8-bit ``mask``, ascending, then zeros."""


@intrinsic
def _list_block(typingctx, masks, count, blk, lst, set_lanes):
    """``_block_list``'s work, 8 candidates at a time: their masks' bits for block ``blk`` form an 8-bit number
    whose row of ``set_lanes`` (``_SET_LANES``) lists the candidates naming the block; 8 entries are stored at
    the end of the list (the ones past it are overwritten next), which then grows by their number."""
    ok = _is_array(masks, types.int32) and _is_array(lst, types.int32)
    if not (ok and isinstance(set_lanes, types.Array) and set_lanes.dtype == types.int32 and set_lanes.ndim == 1):
        return None
    sig = types.int64(masks, count, blk, lst, set_lanes)

    def codegen(context, builder, signature, args):
        v, f = _Simd(context, builder), builder
        tys = signature.args
        masks_p, lst_p, table_p = v.data(tys[0], args[0]), v.data(tys[3], args[3]), v.data(tys[4], args[4])
        count_i, blk_i = v.int64(args[1], tys[1]), v.int64(args[2], tys[2])
        row_type = ir.VectorType(_I32, 8)

        def splat(value):
            lane0 = f.insert_element(ir.Constant(row_type, ir.Undefined), value, ir.Constant(_I32, 0))
            return f.shuffle_vector(lane0, ir.Constant(row_type, ir.Undefined), ir.Constant(row_type, [0] * 8))

        def row_at(data, offset):
            return f.bitcast(f.gep(data, [offset]), row_type.as_pointer())

        bit = splat(f.trunc(f.shl(ir.Constant(_I64, 1), blk_i), _I32))
        lane_index = ir.Constant(row_type, list(range(8)))
        n = cgutils.alloca_once_value(f, ir.Constant(_I64, 0))
        groups = f.udiv(f.add(count_i, ir.Constant(_I64, 7)), ir.Constant(_I64, 8))
        with cgutils.for_range(f, groups) as loop:
            first = f.shl(loop.index, ir.Constant(_I64, 3))
            base = splat(f.trunc(first, _I32))
            live = f.icmp_signed("<", f.add(base, lane_index), splat(f.trunc(count_i, _I32)))
            group = f.load(row_at(masks_p, first), align=4)
            named = f.and_(live, f.icmp_unsigned("!=", f.and_(group, bit), ir.Constant(row_type, [0] * 8)))
            number = f.zext(f.bitcast(named, ir.IntType(8)), _I64)
            lanes = f.load(row_at(table_p, f.shl(number, ir.Constant(_I64, 3))), align=4)
            here = f.load(n)
            f.store(f.add(lanes, base), row_at(lst_p, here), align=4)
            f.store(f.add(here, f.zext(f.ctpop(number), _I64)), n)
        return f.load(n)

    return sig, codegen


@kernel(inline="always")
def _block_list(masks, count, blk, lst):  # pragma: no cover - compiled
    """List (ascending) into ``lst`` the candidates whose mask names block ``blk``; return how many."""
    return _list_block(masks, count, blk, lst, _SET_LANES)


@kernel(error_model="numpy")
def _render_tile(
    params, cols, boxes, masks, lst, keys, picked, count, start, t, x0, y0, width, height, top, out, hits, norm
):  # pragma: no cover
    """Render one tile's pixels into ``out`` (whose first row is pixel row ``top``); if ``hits`` is non-empty save
    the backward state (see ``_forward_kernel``)."""
    res = np.empty(4 * _LANES, np.float32)
    save = hits.shape[0] > 0
    if save:
        hits[16 * start : 16 * (start + count)] = 0
    _block_masks(params, boxes, count, x0, y0, masks)
    for blk in range(16):
        bx, by = x0 + 4 * (blk % 4), y0 + 4 * (blk // 4)
        if bx >= width or by >= height:
            continue
        nx, ny = min(4, width - bx), min(4, height - by)
        inside = ((1 << nx) - 1) * (0x1111 & ((1 << (4 * ny)) - 1))  # lanes x < nx of rows y < ny
        n = _block_list(masks, count, blk, lst)
        _render_block(
            np.float32(bx), np.float32(by), params, cols, count, lst, n, _CUT32, keys, picked, save, hits,
            16 * start + blk, inside, res,
        )  # fmt: skip
        if save:
            norm[(t * 16 + blk) * _LANES : (t * 16 + blk + 1) * _LANES] = res[:_LANES]
        if nx == 4 and ny == 4:
            _store_block(res, out, bx, by - top)
            continue
        for lane in range(_LANES):
            x, y = bx + lane % 4, by + lane // 4
            if x < width and y < height:
                out[y - top, x, 0] = res[_LANES + lane]
                out[y - top, x, 1] = res[2 * _LANES + lane]
                out[y - top, x, 2] = res[3 * _LANES + lane]


@kernel(parallel=True)
def _forward_kernel(
    xys, conics, colors, tile_start, ids, order, n_chunks, width, height, tiles_x, top, out, hits, norm
):  # pragma: no cover
    """Render every tile into ``out`` [H − top, W, 3], writing every pixel (prange over chunks of tiles in
    ``order``). The tile grid starts at pixel row ``top`` (a multiple of ``TILE``): a band of a larger picture.

    If ``hits`` is non-empty, also save which pixels selected each intersection — ``hits[16·i + blk]`` is the
    16-bit lane mask of tile block ``blk`` for intersection ``i`` (int16 [16·n_isect]) — and per pixel
    ``Σw + EPS`` (``norm`` [T·256] float32, block-major within each tile).
    """  # noqa: D401
    gboxes = _gaussian_boxes(xys, conics)
    capacity = max(1, np.max(tile_start[1:] - tile_start[:-1]))
    for chunk in prange(n_chunks):
        params, cols = _tile_scratch(capacity)
        boxes, masks, lst, keys, picked = _block_scratch(capacity)
        lo, hi = _chunk(chunk, n_chunks, order.shape[0])
        for i in range(lo, hi):
            t = order[i]
            start = tile_start[t]
            count = tile_start[t + 1] - start
            x0, y0 = (t % tiles_x) * TILE, top + (t // tiles_x) * TILE
            if count > 0:
                _load_tile(xys, conics, colors, ids, start, count, params, cols)
                _load_boxes(gboxes, ids, start, count, boxes)
                _render_tile(
                    params, cols, boxes, masks, lst, keys, picked, count, start, t, x0, y0, width, height, top, out,
                    hits, norm,
                )  # fmt: skip
            else:  # no candidate: black (``out`` is not pre-zeroed)
                out[y0 - top : min(y0 + TILE, height) - top, x0 : min(x0 + TILE, width), :] = 0.0


# -------------------------------------------------------------------------------------------- backward
@kernel(error_model="numpy")
def _block_lanes(t, blk, bx, by, width, height, out, grad_out, norm, lanes):  # pragma: no cover - compiled
    """Per-lane inputs of a block's backward: ``lanes`` = [v_r, v_g, v_b, out·v, 1/(Σw+EPS)] × 16 (0 outside)."""
    for lane in range(_LANES):
        x, y = bx + lane % 4, by + lane // 4
        if x < width and y < height:
            v0, v1, v2 = grad_out[y, x, 0], grad_out[y, x, 1], grad_out[y, x, 2]
            lanes[lane], lanes[_LANES + lane], lanes[2 * _LANES + lane] = v0, v1, v2
            ov = np.float64(out[y, x, 0]) * v0 + np.float64(out[y, x, 1]) * v1 + np.float64(out[y, x, 2]) * v2
            lanes[3 * _LANES + lane] = ov
            lanes[4 * _LANES + lane] = 1.0 / np.float64(norm[t * _TILE_PIX + blk * _LANES + lane])
        else:
            for q in range(5):
                lanes[q * _LANES + lane] = 0.0


@kernel()
def _backward_tile(params, cols, hits, lanes, count, t, x0, y0, width, height, norm, out, grad_out, slots, home):
    """Compute each tile candidate's gradient over the pixels that selected it and write it to its slot."""  # noqa: D401
    for blk in range(16):
        bx, by = x0 + 4 * (blk % 4), y0 + 4 * (blk // 4)
        if bx < width and by < height:
            _block_lanes(t, blk, bx, by, width, height, out, grad_out, norm, lanes[blk * 5 * _LANES :])
    total = np.empty(8, np.float64)
    for m in range(count):
        _backward_candidate(hits, x0, y0, params, cols, count, m, lanes, total)
        for q in range(8):
            slots[home[m], q] = total[q]


@kernel(parallel=True)
def _backward_kernel(
    xys, conics, colors, tile_start, ids, home, order, n_chunks, width, height, tiles_x, hits, norm, out, grad_out,
    slots,
):  # fmt: skip
    """Write each (tile, Gaussian) intersection's gradient to its own row of ``slots`` [n_isect, 8]."""  # noqa: D401
    capacity = max(1, np.max(tile_start[1:] - tile_start[:-1]))
    for chunk in prange(n_chunks):
        params, cols = _tile_scratch(capacity)
        lanes = np.empty(16 * 5 * _LANES, np.float32)
        lo, hi = _chunk(chunk, n_chunks, order.shape[0])
        for i in range(lo, hi):
            t = order[i]
            start = tile_start[t]
            count = tile_start[t + 1] - start
            if count > 0:
                _load_tile(xys, conics, colors, ids, start, count, params, cols)
                x0, y0 = (t % tiles_x) * TILE, (t // tiles_x) * TILE
                _backward_tile(
                    params, cols, hits[16 * start : 16 * (start + count)], lanes, count, t, x0, y0, width, height,
                    norm, out, grad_out, slots,
                    home[start : start + count],
                )  # fmt: skip


@kernel(parallel=True)
def _reduce_kernel(gauss_start, slots, grad_xy, grad_conic, grad_color):  # pragma: no cover - compiled
    """Sum each Gaussian's slots, in a fixed order, into the float32 gradients."""
    for g in prange(grad_xy.shape[0]):
        total = np.zeros(8, np.float64)
        for s in range(gauss_start[g], gauss_start[g + 1]):
            for j in range(8):
                total[j] += slots[s, j]
        grad_xy[g, 0], grad_xy[g, 1] = total[0], total[1]
        grad_conic[g, 0], grad_conic[g, 1], grad_conic[g, 2] = total[2], total[3], total[4]
        grad_color[g, 0], grad_color[g, 1], grad_color[g, 2] = total[5], total[6], total[7]


# ----------------------------------------------------------------------------------------- blend weights
@kernel(parallel=True)
def _weights_kernel(
    hits, norm, tile_start, ids, xys, conics, tiles_x, width, height, top, out_ids, out_weights
):  # pragma: no cover
    """Expand the forward pass's saved lane masks into per-pixel Gaussian ids and normalized weights, each
    pixel's entries ordered like the reference: weight descending (σ ascending), ties by Gaussian index.

    The tile grid starts at pixel row ``top`` and ends at row ``height`` (a band, as in ``_forward_kernel``);
    pixel ``(x, y)`` is row ``(y − top)·width + x`` of the outputs. Tiles without candidates have no saved
    state (the forward kernel only blackens them): their pixels get empty slots.
    """
    for t in prange(tile_start.shape[0] - 1):
        x0, y0, start = (t % tiles_x) * TILE, top + (t // tiles_x) * TILE, tile_start[t]
        for y in range(y0, min(y0 + TILE, height)):
            for x in range(x0, min(x0 + TILE, width)):
                out_ids[(y - top) * width + x, :] = -1
                out_weights[(y - top) * width + x, :] = 0.0
        filled = np.zeros(_TILE_PIX, np.int64)
        sigmas = np.empty((_TILE_PIX, _K), np.float32)
        for i in range(start, tile_start[t + 1]):
            g = ids[i]
            for blk in range(16):
                bits = np.int64(hits[16 * i + blk]) & 0xFFFF
                while bits != 0:  # each lane (pixel) that selected Gaussian g
                    lane = trailing_zeros(bits)
                    bits &= bits - 1
                    x, y = x0 + 4 * (blk % 4) + lane % 4, y0 + 4 * (blk // 4) + lane // 4
                    dx, dy = xys[g, 0] - np.float32(x), xys[g, 1] - np.float32(y)
                    axx, cyy, bxy = conics[g, 0] * dx * dx, conics[g, 2] * dy * dy, conics[g, 1] * dx * dy
                    sigma = np.float32(0.5) * (axx + cyy) + bxy
                    local, pixel = blk * _LANES + lane, (y - top) * width + x
                    k = filled[local]  # insert in (σ, id) order; ids arrive ascending
                    while k > 0 and sigmas[local, k - 1] > sigma:
                        sigmas[local, k], out_ids[pixel, k] = sigmas[local, k - 1], out_ids[pixel, k - 1]
                        k -= 1
                    sigmas[local, k], out_ids[pixel, k] = sigma, g
                    filled[local] += 1
        for local in range(_TILE_PIX):
            blk, lane = local // _LANES, local % _LANES
            x, y = x0 + 4 * (blk % 4) + lane % 4, y0 + 4 * (blk // 4) + lane // 4
            total = np.float64(norm[t * _TILE_PIX + local]) if filled[local] > 0 else 1.0
            for k in range(filled[local]):
                out_weights[(y - top) * width + x, k] = math.exp(-np.float64(sigmas[local, k])) / total


# ------------------------------------------------------------------------------------------- NumPy API
class Bins:
    """Per-call binning of ``[N, 4]`` int64 tile boxes: tile lists, per-Gaussian slot ranges, tile order.

    ``height`` rows from pixel row ``top`` (a multiple of ``TILE``; the boxes count tiles of the whole picture):
    a band of the picture, which renders exactly as the same rows of the whole.
    """

    def __init__(self, box: np.ndarray, height: int, width: int, top: int = 0) -> None:
        if top % TILE:
            raise ValueError(f"a band must start on a tile row, not at pixel row {top}")
        self.height, self.width, self.top = height, width, top
        self.tiles_x, self.tiles_y = tile_grid(height, width)
        if top:
            box = box - np.array([0, 0, top // TILE, top // TILE], box.dtype)
        self.tile_start, self.ids, self.gauss_start, self.home = _bin_kernel(box, self.tiles_x, self.tiles_y)
        self.order = _tile_order(self.tiles_x * self.tiles_y)
        self.n_chunks = min(len(self.order), 8 * numba.get_num_threads())


def _tile_order(n_tiles: int) -> np.ndarray:
    """The order the threads' chunks take the tiles in: runs of ``_TILE_RUN`` consecutive (row-major) tiles, which
    share Gaussians, image rows and memory pages, in a fixed permutation of the runs that scatters neighbouring
    runs (whose costs are alike) across the chunks."""
    runs = -(-n_tiles // _TILE_RUN)
    stride = max(1, int(runs * 0.6180339887))
    while math.gcd(stride, runs) != 1:
        stride += 1
    firsts = (np.arange(runs, dtype=np.int64) * stride) % max(runs, 1) * _TILE_RUN
    order = (firsts[:, None] + np.arange(_TILE_RUN, dtype=np.int64)).ravel()
    return order[order < n_tiles]


def forward(
    xys: np.ndarray, conics: np.ndarray, colors: np.ndarray, bins: Bins, save: bool, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render contiguous float32 ``xys [N, 2]``, ``conics [N, 3]``, ``colors [N, 3]`` into ``[H, W, 3]``.

    Returns ``(image, hits, norm)``; ``hits`` and ``norm`` (the state ``backward`` needs) are empty unless
    ``save``. ``out``, when given, is the float32 ``[bins.height, W, 3]`` C-contiguous image to fill.
    """
    image = np.empty((bins.height, bins.width, 3), np.float32) if out is None else out
    hits = np.empty(16 * len(bins.ids) if save else 0, np.int16)
    norm = np.empty(bins.tiles_x * bins.tiles_y * _TILE_PIX if save else 0, np.float32)
    b = bins
    _forward_kernel(
        xys, conics, colors, b.tile_start, b.ids, b.order, b.n_chunks, b.width, b.top + b.height, b.tiles_x, b.top,
        image, hits, norm,
    )  # fmt: skip
    return image, hits, norm


def backward(
    xys: np.ndarray, conics: np.ndarray, colors: np.ndarray, bins: Bins, hits: np.ndarray, norm: np.ndarray,
    image: np.ndarray, grad_image: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dL/dxys, dL/dconics, dL/dcolors)`` of ``forward``'s image for ``grad_image = dL/dimage``."""
    b = bins
    slots = np.empty((len(b.ids), 8), np.float64)
    _backward_kernel(
        xys, conics, colors, b.tile_start, b.ids, b.home, b.order, b.n_chunks, b.width, b.height, b.tiles_x, hits,
        norm, image, grad_image, slots,
    )  # fmt: skip
    grads = np.empty_like(xys), np.empty_like(conics), np.empty_like(colors)
    _reduce_kernel(b.gauss_start, slots, *grads)
    return grads


def selection_weights(
    xys: np.ndarray, conics: np.ndarray, colors: np.ndarray, bins: Bins
) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's selected Gaussians ``[H·W, TOP_K]`` int32 (−1 empty) and normalized weights (float32)."""
    _, hits, norm = forward(xys, conics, colors, bins, save=True)
    pixels = bins.height * bins.width
    ids, weights = np.empty((pixels, _K), np.int32), np.empty((pixels, _K), np.float32)
    b = bins
    _weights_kernel(
        hits, norm, b.tile_start, b.ids, xys, conics, b.tiles_x, b.width, b.top + b.height, b.top, ids, weights
    )
    return ids, weights
