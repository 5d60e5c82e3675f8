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
for ``advance``): one uniform per deviate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_Z95 = 1.6448536269514722


def component_key(name: str) -> int:
    """A stable 64-bit key of a component name (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class Streams:
    """Draws for replicates ``r0 .. r0+R-1`` of a run seeded with ``seed``.

    ``box_muller``: the compiled transform of :mod:`simulator._numba_noise` (the same numbers,
    faster), or None for numpy's.
    """

    def __init__(self, seed: int, r0: int, n_rep: int, box_muller: Callable[..., None] | None = None):
        self.seed = int(seed)
        self.r0 = int(r0)
        self.R = int(n_rep)
        self.box_muller = box_muller

    def uniforms(self, component: str, n: int, block: int = 0) -> F64:
        """``n`` uniforms in [0, 1) per replicate for a component and block, shape [R, n]."""
        n4 = -(-n // 4) * 4  # Philox yields 4 words per counter step
        ss = np.random.SeedSequence(self.seed, spawn_key=(component_key(component), int(block)))
        bg = np.random.Philox(ss)
        bg.advance(self.r0 * n4 // 4)
        u = np.random.Generator(bg).random(self.R * n4).reshape(self.R, n4)
        return u[:, :n]

    def normals(self, component: str, n: int, block: int = 0) -> F64:
        """``n`` standard normal deviates per replicate, shape [R, n].

        Box–Muller on ``m = ceil(n / 2)`` pairs of uniforms ``(u1, u2)`` per replicate:
        with ``rho = sqrt(-2 ln(1 - u1))`` and ``theta = 2 pi u2``, deviate ``j < m`` is
        ``rho_j cos theta_j`` and deviate ``m + j`` is ``rho_j sin theta_j`` (the two are
        independent standard normals), so a deviate costs one uniform, not two; ``sin`` is
        taken as ``+-sqrt(1 - cos^2)``.
        """
        m = -(-n // 2)
        u = self.uniforms(component, 2 * m, block)
        l1 = np.log1p(-u[:, :m])
        if self.box_muller is not None:
            out = np.empty((self.R, n))
            self.box_muller(u, l1, out, m)
            return out
        rho = np.sqrt(-2.0 * l1)
        cos = np.cos((2.0 * np.pi) * u[:, m:])
        # sin theta = +-sqrt(1 - cos^2), + for theta < pi (u2 < 0.5): a sqrt instead of a second
        # scalar libm call (17 -> 3 us per 2048); off from np.sin by at most ~1e-8 (where sin ~ 0)
        sin = np.sqrt(np.maximum(0.0, 1.0 - cos * cos))
        np.negative(sin, out=sin, where=u[:, m:] >= 0.5)
        z = np.empty((self.R, 2 * m))
        np.multiply(rho, cos, out=z[:, :m])
        np.multiply(rho, sin, out=z[:, m:])
        return z[:, :n]


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
