"""Demand noise of a run: standard normal deviates per replicate, demand entry and step.

Each noisy demand entry (``noise_cv > 0``) is a stream of its own
(``demand:MARKET:PRODUCT``, :class:`simulator.rng.Streams`), drawn
:data:`NOISE_BLOCK` steps at a time into a ring of two blocks (block b in half
b % 2), so a step reads ``ring[:, :, t % (2 * NOISE_BLOCK)]`` and the compiled
step reads the ring itself.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Executor, Future
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from .rng import Streams

F64 = npt.NDArray[np.float64]

#: steps of demand noise drawn at once (fixed: part of the stream layout; 16 before 2026-11: a call costs
#: ~20 µs of set-up, a block of 32 halves the calls)
NOISE_BLOCK = 32


class DemandNoise:
    """The noise ring of replicates ``streams.r0 ..`` of a run, and the draws that fill it.

    Parameters
    ----------
    net : Network
    streams : Streams
        The run's streams (seed, first replicate, R).
    on : bool
        Noise on (off: no entry is noisy and the ring stays 0).
    fast : module, optional
        The compiled generator and transform (:mod:`simulator._numba_noise`; the same numbers, faster).
    """

    def __init__(self, net: Any, streams: Streams, on: bool = True,
                 fast: ModuleType | None = None) -> None:
        D = len(net.dem_hold)
        self.seed, self.r0, self.R = streams.seed, streams.r0, streams.R
        self.fast = fast
        self.ring = np.zeros((self.R, D, 2 * NOISE_BLOCK))
        self.noisy = [d for d in range(D) if net.dem_noise_cv[d] > 0] if on else []
        self.names = [f"demand:{net.markets[net.dem_market[d]]}:{net.products[net.hold_product[net.dem_hold[d]]]}"
                      for d in range(D)]
        self.parts = [(0, self.R, Streams(self.seed, self.r0, self.R, fast))]
        self.pool: Executor | None = None
        self.drawn = -1  # the last block drawn into the ring
        self.last = -1  # the last block a step reads (see split)
        self.pending: tuple[int, list[Future[None]]] | None = None  # a block being drawn ahead (prefetch)

    def split(self, pool: Executor, threads: int, n_steps: int = 0) -> None:
        """Draw on ``pool``, each of ``threads`` contiguous parts of the replicates with streams of its own
        (a replicate's draws do not depend on which others are drawn with it; numpy and the compiled
        generator release the GIL while they generate and transform them). ``n_steps``: the run's steps,
        up to which :meth:`prefetch` draws ahead."""
        cuts = [self.R * i // threads for i in range(threads + 1)]
        self.parts = [(a, e, Streams(self.seed, self.r0 + a, e - a, self.fast))
                      for a, e in itertools.pairwise(cuts)]
        self.pool = pool
        self.last = (n_steps - 1) // NOISE_BLOCK

    def prefetch(self, t: int) -> None:
        """Start drawing the next block on the pool while this thread does other work (the interval's records
        and targets), when steps from t on no longer read the ring half it goes to (the draws are the same
        whenever they are made)."""
        nxt = self.drawn + 1
        if (self.pool is None or len(self.parts) < 2 or self.pending is not None or nxt > self.last
                or nxt > t // NOISE_BLOCK + 1 or not self.noisy):
            return
        self.pending = (nxt, [self.pool.submit(self._draw_part, p, nxt) for p in self.parts])

    def at(self, t: int) -> F64:
        """The deviates of step t [R, D] (after :meth:`draw` of it)."""
        return self.ring[:, :, t % (2 * NOISE_BLOCK)]

    def draw(self, t: int, k: int = 1) -> None:
        """Steps t .. t+k-1 (k <= NOISE_BLOCK): the blocks not drawn yet, into the ring."""
        for b in range(t // NOISE_BLOCK, (t + k - 1) // NOISE_BLOCK + 1):
            if b > self.drawn:
                if self.pending is not None and self.pending[0] == b:
                    for f in self.pending[1]:
                        f.result()
                    self.pending = None
                elif self.pool is None or len(self.parts) == 1:
                    for p in self.parts:
                        self._draw_part(p, b)
                else:
                    for f in [self.pool.submit(self._draw_part, p, b) for p in self.parts]:
                        f.result()
                self.drawn = b

    def _draw_part(self, part: tuple[int, int, Streams], b: int) -> None:
        a, e, strm = part
        half = (b % 2) * NOISE_BLOCK
        for d in self.noisy:
            self.ring[a:e, d, half:half + NOISE_BLOCK] = strm.normals(self.names[d], NOISE_BLOCK, block=b)
