"""Random streams: one per (replicate, component), independent of chunking.

DESIGN §4: one ``SeedSequence(seed)``, a stream per (replicate, component id).
A component (``demand:ev_jp:magnet``, ``event:cn_embargo``, ``outage:sep_my``)
gets, for each block of draws, a counter-based Philox generator keyed by
``SeedSequence(seed, spawn_key=(component key, block))``. Replicate r's draws
are the slice ``[r*n, (r+1)*n)`` of that generator's output, reached with
``Philox.advance`` rather than by drawing and discarding, so

- the same seed gives bit-identical draws;
- a replicate's draws do not depend on which chunk of replicates it runs in;
- adding a component (an event, a market) does not change any other's draws.

Normal deviates are made from uniforms by the Box–Muller transform, both
deviates of each pair used (``r cos θ`` for the first half of a block, ``r sin θ``
for the second), so each draw consumes a fixed number of 64-bit words (required
for ``advance``): one uniform per deviate. ``cos θ`` and ``sin θ`` of ``θ = 2π u``
come from :func:`cos_sin_2pi` (fdlibm's polynomials after an exact reduction of
``u`` to a quarter turn), which the numpy and compiled paths compute with the same
operations, so both give the same bits.
"""

from __future__ import annotations

import hashlib
from types import ModuleType

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_Z95 = 1.6448536269514722


def component_key(name: str) -> int:
    """A stable 64-bit key of a component name (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class Streams:
    """Draws for replicates ``r0 .. r0+R-1`` of a run seeded with ``seed``.

    ``fast``: the compiled generator and transform (:mod:`simulator._numba_noise`: the same
    numbers, faster), or None for numpy's.
    """

    def __init__(self, seed: int, r0: int, n_rep: int, fast: ModuleType | None = None):
        self.seed = int(seed)
        self.r0 = int(r0)
        self.R = int(n_rep)
        self.fast = fast

    def uniforms(self, component: str, n: int, block: int = 0) -> F64:
        """``n`` uniforms in [0, 1) per replicate for a component and block, shape [R, n]."""
        n4 = -(-n // 4) * 4  # Philox yields 4 words per counter step
        ss = np.random.SeedSequence(self.seed, spawn_key=(component_key(component), int(block)))
        c0 = self.r0 * n4 // 4
        if self.fast is not None and c0 + self.R * n4 // 4 < 2**63:  # no carry in the compiled counter
            key = ss.generate_state(2, np.uint64)  # what Philox(ss) takes as its key
            out = np.empty((self.R, n4))
            self.fast.philox_into(key[0], key[1], np.uint64(c0), out)
            return out[:, :n]
        bg = np.random.Philox(ss)
        bg.advance(c0)
        u = np.random.Generator(bg).random(self.R * n4).reshape(self.R, n4)
        return u[:, :n]

    def normals(self, component: str, n: int, block: int = 0) -> F64:
        """``n`` standard normal deviates per replicate, shape [R, n].

        Box–Muller on ``m = ceil(n / 2)`` pairs of uniforms ``(u1, u2)`` per replicate:
        with ``rho = sqrt(-2 ln(1 - u1))`` and ``theta = 2 pi u2``, deviate ``j < m`` is
        ``rho_j cos theta_j`` and deviate ``m + j`` is ``rho_j sin theta_j`` (the two are
        independent standard normals), so a deviate costs one uniform, not two; ``cos`` and
        ``sin`` are :func:`cos_sin_2pi`'s.
        """
        m = -(-n // 2)
        u = self.uniforms(component, 2 * m, block)
        l1 = np.log1p(-u[:, :m])
        if self.fast is not None:
            out = np.empty((self.R, n))
            self.fast.box_muller_into(u, l1, out, m)
            return out
        rho = np.sqrt(-2.0 * l1)
        cos, sin = cos_sin_2pi(u[:, m:])
        z = np.empty((self.R, 2 * m))
        np.multiply(rho, cos, out=z[:, :m])
        np.multiply(rho, sin, out=z[:, m:])
        return z[:, :n]


#: fdlibm's kernel polynomials of cos and sin on [-pi/4, pi/4] (FreeBSD msun k_cos.c, k_sin.c);
#: simulator/_numba_noise.py repeats them (tests/test_rng.py checks they are equal)
COS_C = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
         -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
SIN_S = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
         2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
TWO_PI = 2.0 * np.pi


def cos_sin_2pi(u: F64) -> tuple[F64, F64]:
    """``cos(2 pi u)`` and ``sin(2 pi u)`` for uniforms u in [0, 1), within 2.5 units in the last place.

    ``u`` is reduced to ``f = u - k/4`` with ``k = floor(4u + 1/2)`` (exact: |f| <= 1/8), so
    ``x = 2 pi f`` lies in [-pi/4, pi/4] with one rounding, and fdlibm's kernels give cos x and
    sin x; the quarter turns k pick and negate them. numpy's ``np.cos(2 pi u)`` was ~15 ns a value
    (glibc's scalar cos) and off by up to 6e-16 (the rounding of ``2 pi u``, up to 2 pi); the
    compiled path (:func:`simulator._numba_noise.box_muller_into`) does the same operations in
    the same order, vectorised, at ~1 ns, with the same bits.
    """
    c1, c2, c3, c4, c5, c6 = COS_C
    s1, s2, s3, s4, s5, s6 = SIN_S
    k = np.floor(u * 4.0 + 0.5)
    x = (u - 0.25 * k) * TWO_PI
    z = x * x
    w = z * z
    r = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6))
    hz = 0.5 * z
    w1 = 1.0 - hz
    kc = w1 + (((1.0 - w1) - hz) + z * r)
    rs = s2 + z * (s3 + z * s4) + z * w * (s5 + z * s6)
    ks = x + (z * x) * (s1 + z * rs)
    q = k.astype(np.int64) & 3
    odd = (q & 1) == 1
    cos = np.where(odd, ks, kc)  # cos(x + q pi/2): cos x, -sin x, -cos x, sin x
    sin = np.where(odd, kc, ks)  # sin(x + q pi/2): sin x, cos x, -sin x, -cos x
    np.negative(cos, out=cos, where=(q == 1) | (q == 2))
    np.negative(sin, out=sin, where=q >= 2)
    return cos, sin

def box_muller(u1: F64, u2: F64) -> F64:
    """Standard normals from two arrays of uniforms in [0, 1)."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def sample(dist: object, u1: F64, u2: F64) -> F64:
    """Transform uniforms into draws of a named distribution (inverse CDF).

    Parameters
    ----------
    dist : number or FixedDist, UniformDist, TriangularDist, LognormalDist
        The distribution (see :mod:`simulator.scenario.types`).
    u1, u2 : ndarray
        Uniforms of the same shape; ``u2`` is used by the lognormal only.
    """
    from .scenario.types import FixedDist, LognormalDist, TriangularDist, UniformDist

    if isinstance(dist, (int, float)):
        return np.full_like(u1, float(dist))
    if isinstance(dist, FixedDist):
        return np.full_like(u1, dist.fixed)
    if isinstance(dist, UniformDist):
        lo, hi = dist.uniform.low, dist.uniform.high
        return lo + (hi - lo) * u1
    if isinstance(dist, TriangularDist):
        lo, mo, hi = dist.triangular.low, dist.triangular.mode, dist.triangular.high
        if hi == lo:
            return np.full_like(u1, lo)
        c = (mo - lo) / (hi - lo)
        left = lo + np.sqrt(u1 * (hi - lo) * (mo - lo))
        right = hi - np.sqrt((1.0 - u1) * (hi - lo) * (hi - mo))
        return np.where(u1 < c, left, right)
    if isinstance(dist, LognormalDist):
        med, p95 = dist.lognormal.median, dist.lognormal.p95
        sigma = np.log(p95 / med) / _Z95
        return med * np.exp(sigma * box_muller(u1, u2))
    raise TypeError(f"not a distribution: {dist!r}")


def is_random(dist: object) -> bool:
    """True when a distribution is not a fixed value."""
    from .scenario.types import FixedDist

    return not isinstance(dist, (int, float, FixedDist))
