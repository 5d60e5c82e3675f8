"""The numba backend's step: the compiled kernel (:mod:`simulator._numba_kernel`) run over blocks of
replicates, on one thread per core from :data:`PARALLEL_FROM` replicates in one process.

The compiled block releases the GIL, so the blocks run on Python threads (a pool that lives as
long as the run, :func:`simulator.engine.simulate`); meanwhile BLAS is held to one thread
(:func:`one_blas_thread`). ``simulator.kernels.compiled()`` returns this module.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ._numba_kernel import (  # noqa: F401
    BLOCKS,
    CHUNK,
    COMPACT,
    PARTS_SHA256,
    PIPELINE_SHA256,
    RECOVERED,
    SHORT,
    TRIGGER_TIE,
    _step_block,
)

PARALLEL_FROM = 64  #: fewer replicates run on one thread (see :func:`threads_for`)


def step(t0, nsteps, S, T, N, O, A, K, pool=None, threads=1):
    """Advance every replicate by steps ``t0 .. t0+nsteps-1``, in blocks of replicates on ``pool``'s threads.

    A chunk of replicates runs all ``nsteps`` steps before the next chunk starts, so its
    state stays in the core's caches from one step to the next (the engine calls with
    ``nsteps > 1`` only where nothing outside the kernel acts in between: no event,
    reporting interval, plant coming online or event window boundary; see
    ``engine.simulate``). Replicates never interact within a step, so the order over
    replicates and steps does not change any result.

    ``pool``: a ThreadPoolExecutor of ``threads`` threads, or None for this thread. Block
    ``b`` of ``nb`` (one per thread) runs on a thread of its own, the compiled block releasing the GIL;
    ``tests/test_backends.py`` checks that the results are those of one block.
    """
    R = S[0].shape[0]
    nb = 1 if pool is None else blocks(R, threads)
    n_chunks = -(-R // CHUNK)
    if nb == 1:
        _step_block(0, 1, t0, nsteps, S, T, N, O, A, K, n_chunks)
        return
    futures = [pool.submit(_step_block, b, nb, t0, nsteps, S, T, N, O, A, K, n_chunks) for b in range(nb)]
    for f in futures:
        f.result()


def blocks(R: int, threads: int) -> int:
    """Blocks of replicates a step over R replicates runs on ``threads`` threads: one per thread, at most one
    per chunk of :data:`CHUNK` replicates and at most :data:`BLOCKS` (the per-block scratch rows)."""
    return max(1, min(int(threads), BLOCKS, -(-R // CHUNK)))


def threads_for(R: int) -> int:
    """Threads for a step over R replicates in one process: one per core from :data:`PARALLEL_FROM`.

    On the 2-vCPU machine we measured (largest real scenario, 700 steps, medians of 3),
    two threads against one: 0.77 against 0.88 s at R = 64, 1.55 against 1.91 s at 256,
    2.26 against 3.13 s at 512. ``NUMBA_NUM_THREADS`` sets the count (numba's default:
    the number of CPUs; ``numba.set_num_threads`` has no effect on it). The
    chunks of a process pool and sweep points step on one thread each
    (:func:`simulator.chunks.simulate_chunk`, :func:`simulator.sweep.evaluate_point`).
    """
    import numba

    return 1 if R < PARALLEL_FROM else max(1, int(numba.config.NUMBA_NUM_THREADS))


def one_blas_thread() -> Any:
    """BLAS held to one thread while the step runs: BLAS's own threads (the targets' matrix products)
    spin between calls and take the cores the step's threads need (16.1 -> 10.8 s at R = 1000 on
    two cores); with the step on one thread they only burn CPU (R = 48 on the flagship network:
    3.5 s CPU for 1.8 s wall, 1.8 s with this; 1000 generated facilities: 7.1 s for 3.6, 3.5).
    threadpoolctl is a dependency; without it the run is only slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an install from before threadpoolctl was required
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
