"""Demand noise, compiled (numba backend): the numbers of :meth:`simulator.rng.Streams.uniforms` and ``normals``.

:func:`philox_into` is numpy's Philox4x64-10 generator and its ``random()`` doubles, bit for bit,
vectorised over the counter blocks of a call (7 against ~31 µs for a block of 256 x 32 uniforms,
numpy's ``Generator.random`` being a scalar loop plus the generator's set-up).

:func:`box_muller_into`: 
numpy runs the transform as about thirty passes over temporaries; this does it in one
vectorised pass per replicate. It takes ``log1p(-u1)`` from numpy (numpy's SIMD
``log1p`` and glibc's differ in the last bit) and does the rest with the operations of
:func:`simulator.rng.cos_sin_2pi` in the same order — IEEE products, sums, ``sqrt`` and
``floor`` round the same way everywhere, and numba contracts nothing into fused
multiply-adds without ``fastmath`` — so the deviates are bit-identical to numpy's
(``tests/test_rng.py`` checks it).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TWO_PI = 2.0 * math.pi  # == simulator.rng.TWO_PI
# simulator.rng.COS_C and SIN_S (fdlibm's kernels), repeated: numba freezes globals into its cache of this
# module, which does not see rng.py (tests/test_rng.py checks they are equal)
C1, C2, C3, C4, C5, C6 = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
                          -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
S1, S2, S3, S4, S5, S6 = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
                          2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)


@njit(cache=True, error_model="numpy", nogil=True)
def box_muller_into(u, l1, out, m):  # pragma: no cover - compiled
    """``out[r, j] = rho cos theta`` (j < m) and ``out[r, m + j] = rho sin theta`` (m + j < n) from uniforms
    ``u[r, 0:2m]`` and ``l1 = log1p(-u[:, :m])``, with ``rho = sqrt(-2 l1)``, ``theta = 2 pi u[r, m + j]``
    and cos, sin as :func:`simulator.rng.cos_sin_2pi` computes them."""
    R = out.shape[0]
    n = out.shape[1]
    for r in range(R):
        for j in range(m):
            rho = math.sqrt(-2.0 * l1[r, j])
            u2 = u[r, m + j]
            k = math.floor(u2 * 4.0 + 0.5)
            x = (u2 - 0.25 * k) * TWO_PI
            z = x * x
            w = z * z
            rc = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6))
            hz = 0.5 * z
            w1 = 1.0 - hz
            kc = w1 + (((1.0 - w1) - hz) + z * rc)
            rs = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6)
            ks = x + (z * x) * (S1 + z * rs)
            q = int(k) & 3
            odd = (q & 1) == 1
            c = ks if odd else kc
            if q == 1 or q == 2:
                c = -c
            out[r, j] = rho * c
            if m + j < n:
                s = kc if odd else ks
                if q >= 2:
                    s = -s
                out[r, m + j] = rho * s


# numpy's Philox4x64 (numpy/random/src/philox/philox.h): multipliers and Weyl key increments
PM0, PM1 = np.uint64(0xD2E7470EE14C6C93), np.uint64(0xCA5A826395121157)
PW0, PW1 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBB67AE8584CAA73B)
LO32, SH32, SH11 = np.uint64(0xFFFFFFFF), np.uint64(32), np.uint64(11)
INV_2_53 = 1.0 / 9007199254740992.0  # numpy's next_double: (word >> 11) * 2**-53


@njit(cache=True, inline="always")
def _mulhi(a, b):  # pragma: no cover - compiled
    """The high 64 bits of the 128-bit product a * b (unsigned), from 32-bit halves."""
    alo = a & LO32
    ahi = a >> SH32
    blo = b & LO32
    bhi = b >> SH32
    hl = ahi * blo
    cross = ((alo * blo) >> SH32) + (hl & LO32) + alo * bhi
    return ahi * bhi + (hl >> SH32) + (cross >> SH32)


@njit(cache=True, error_model="numpy", nogil=True)
def philox_into(k0, k1, c0, out):  # pragma: no cover - compiled
    """``out`` [R, n] (n a multiple of 4, C-contiguous) = the doubles numpy's
    ``Generator(Philox(key=(k0, k1)) advanced by c0).random(R * n)`` returns: the i-th block of four
    words is Philox4x64-10 of the counter ``c0 + i + 1`` (numpy raises the counter before it fills its
    buffer), its words taken in order. ``c0 + R * n / 4 + 1`` must stay below 2**64 (no carry into the
    counter's second word; the caller checks)."""
    flat = out.reshape(-1)
    N = flat.shape[0] // 4
    X0 = np.empty(N, np.uint64)
    X1 = np.zeros(N, np.uint64)
    X2 = np.zeros(N, np.uint64)
    X3 = np.zeros(N, np.uint64)
    for i in range(N):
        X0[i] = c0 + np.uint64(i + 1)
    a = k0
    b = k1
    for rnd in range(10):  # rounds outermost, blocks innermost: the block loop vectorises
        if rnd > 0:
            a = a + PW0
            b = b + PW1
        for i in range(N):
            x0 = X0[i]
            x2 = X2[i]
            hi0 = _mulhi(PM0, x0)
            lo0 = PM0 * x0
            hi1 = _mulhi(PM1, x2)
            lo1 = PM1 * x2
            X0[i] = hi1 ^ X1[i] ^ a
            X1[i] = lo1
            X2[i] = hi0 ^ X3[i] ^ b
            X3[i] = lo0
    for i in range(N):
        flat[4 * i] = np.float64(X0[i] >> SH11) * INV_2_53
        flat[4 * i + 1] = np.float64(X1[i] >> SH11) * INV_2_53
        flat[4 * i + 2] = np.float64(X2[i] >> SH11) * INV_2_53
        flat[4 * i + 3] = np.float64(X3[i] >> SH11) * INV_2_53
