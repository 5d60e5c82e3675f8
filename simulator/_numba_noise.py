"""Box–Muller for the demand noise, compiled (numba backend): the numbers of :meth:`simulator.rng.Streams.normals`.

numpy runs the transform as about ten passes over temporaries (sqrt, cos, products, the
sign of sin); this does it in one pass per replicate. It takes ``log1p(-u1)`` from numpy
(numpy's SIMD ``log1p`` and glibc's differ in the last bit) and does the rest with the same
operations in the same order — ``sqrt``, products and ``max`` are exact in IEEE arithmetic,
and ``cos`` is glibc's in both — so the deviates are bit-identical to numpy's
(``tests/test_rng.py`` checks it).
"""

from __future__ import annotations

import math

from numba import njit

TWO_PI = 2.0 * math.pi  # == 2.0 * np.pi


@njit(cache=True, error_model="numpy", nogil=True)
def box_muller_into(u, l1, out, m):  # pragma: no cover - compiled
    """``out[r, j] = rho cos theta`` (j < m) and ``out[r, m + j] = rho sin theta`` (m + j < n) from uniforms
    ``u[r, 0:2m]`` and ``l1 = log1p(-u[:, :m])``, with ``rho = sqrt(-2 l1)``, ``theta = 2 pi u[r, m + j]``,
    ``sin = +-sqrt(max(0, 1 - cos^2))``, negative where ``u[r, m + j] >= 0.5``."""
    R = out.shape[0]
    n = out.shape[1]
    for r in range(R):
        for j in range(m):
            rho = math.sqrt(-2.0 * l1[r, j])
            u2 = u[r, m + j]
            c = math.cos(TWO_PI * u2)
            out[r, j] = rho * c
            if m + j < n:
                x = 1.0 - c * c
                s = math.sqrt(x if x > 0.0 else 0.0)
                if u2 >= 0.5:
                    s = -s
                out[r, m + j] = rho * s
