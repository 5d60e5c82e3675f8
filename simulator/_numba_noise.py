"""Box–Muller for the demand noise, compiled (numba backend): the numbers of :meth:`simulator.rng.Streams.normals`.

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
