"""Large runs as replicate chunks on an executor, merged into one :class:`Result` (DESIGN §4, §6).

Replicate r's draws depend only on (seed, component, r), so replicates
``r0 .. r0+n-1`` simulated anywhere equal those replicates of one big run, bit
for bit. :func:`run_chunked` cuts ``0 .. R-1`` into chunks, runs each as
``simulate(net, n, seed, r0=r0)`` on the executor, and :func:`merge_results`
puts them back together:

- every per-replicate field (``demand_t``, ``served_t``, TTS/TTR, ``window_fill``,
  ``output_t``, ``dependency``, ...) is concatenated along the replicate axis in
  replicate order: identical to a single run's, whatever the executor or the
  number of workers. One caveat comes from the engine's matrix products over
  the replicate axis (``x[R, k] @ m[k, p]``): OpenBLAS rounds a row in the last
  bits differently when it is alone or an odd row out of its row blocks, so
  fields computed through them (``output_t``, ``capacity_used``, ``surplus_t``,
  ``spend_usd``, ``shipped_t``) would differ by ~1e-16 relative between a
  1-replicate chunk and one big run. :func:`split` therefore aligns chunks to
  :data:`CHUNK_ALIGN` replicates and never leaves a 1-replicate tail, which keeps
  them bit-identical (tested); the workers run single-threaded BLAS;
- ``mass_balance_error`` is the largest of the chunks'; timings add up;
- the quantile time series (``series``: p5, p50, p95, mean across replicates per
  reporting interval) are recomputed from the chunks' per-replicate interval
  values (``simulate(..., keep_series_values=True)``), so they equal those of one
  run, while those values fit in :data:`SERIES_VALUES_BUDGET` (about 0.3 GB for
  the flagship at R = 1000); ``timings["series_chunks"]`` is then 1. Beyond that
  budget the chunks keep only their quantiles: the merged **mean** is still exact
  (the replicate-weighted mean of the chunk means), the merged **p5, p50 and
  p95** are the replicate-weighted means of the chunks' quantiles, an
  approximation whose error shrinks as chunks grow, and ``series_chunks`` records
  the number of chunks merged. The merged result does not carry the values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .engine import simulate
from .exceptions import UsageError
from .memory import available_memory, check_memory, result_memory
from .metrics import quantile_rows_of
from .network import Network, compile_network
from .result import Result
from .scenario.models import Scenario
from .tracing import traced_replicates

#: Per-replicate array fields of :class:`Result` (leading axis R).
PER_REPLICATE = ("demand_t", "served_t", "max_shortfall", "tts_days", "tts_censored", "ttr_days",
                 "ttr_censored", "output_t", "capacity_used", "surplus_t", "spend_usd", "shipped_t",
                 "released_t", "released_by_holding_t", "holding_cost_usd", "substituted_t", "collected_t", "dependency")
#: Fields every chunk of one run shares.
SHARED = ("scenario", "seed", "n_steps", "step_days", "markets", "producers", "products", "links", "pile_holdings",
          "trace_stages", "regions", "series_times", "event_windows", "reference_event")
DEFAULT_CHUNK = 256  #: replicates per chunk when none is given
CHUNK_ALIGN = 16  #: chunk sizes are multiples of this (BLAS row blocks; see :func:`split`)
#: chunks keep their series values for an exact merge while all of them take at most this [bytes]
SERIES_VALUES_BUDGET = 2 * 1024**3


def split(replications: int, chunk: int, align: int = CHUNK_ALIGN) -> list[tuple[int, int]]:
    """``(r0, n)`` of consecutive chunks covering ``0 .. R-1``.

    ``chunk`` is rounded up to a multiple of ``align``, and a last chunk of a
    single replicate joins the one before: BLAS matrix products over the
    replicate axis (OpenBLAS ``dgemm``) round a row differently when it is the
    only row, or an odd row out of the kernel's row blocks, so only chunks that
    start at multiples of the block size keep every replicate bit-identical to
    one big run (see the module docstring).

    Examples
    --------
    >>> split(40, 16)
    [(0, 16), (16, 16), (32, 8)]
    >>> split(33, 10)
    [(0, 16), (16, 17)]
    """
    if replications < 1 or chunk < 1:
        raise UsageError(f"replications ({replications}) and --chunk ({chunk}) must be 1 or more")
    size = -(-chunk // align) * align
    parts = [(r0, min(size, replications - r0)) for r0 in range(0, replications, size)]
    if len(parts) > 1 and parts[-1][1] == 1:
        r0, n = parts[-2]
        parts[-2:] = [(r0, n + 1)]
    return parts


def simulate_chunk(scenario: Scenario, r0: int, n: int, seed: int, checks: str = "error",
                   keep_values: bool = True, threads: int | None = None,
                   store: dict[str, str] | None = None) -> Result:
    """Replicates ``r0 .. r0+n-1`` of a scenario (the task each worker runs).

    With ``keep_values`` the engine keeps the per-replicate interval values of the
    time series, so that the merge of the chunks' quantiles is exact; with ``store``
    (a local pool: :meth:`SeriesStore.files`) it writes them into the store's files
    instead of returning them. ``threads``: the compiled step's threads (1 on an
    executor's workers, which already fill the cores).

    A replicate's results equal those of the same replicate in one big run bit for bit when
    ``r0`` and ``n`` are multiples of :data:`CHUNK_ALIGN` (as :func:`split` cuts them) or
    ``n`` is the rest of the run; other cuts (e.g. ``n = 1``) can differ by ~1e-16 relative in
    the fields computed through matrix products (see the module docstring).
    """
    net = compile_network(scenario)
    if not (keep_values and store):
        return simulate(net, n, seed, r0=r0, checks=checks, keep_series_values=keep_values, threads=threads)
    arrays = {k: np.load(path, mmap_mode="r+") for k, path in store.items()}
    try:
        sink = {k: a[:, slice(*_store_rows(net, k, r0, n))] for k, a in arrays.items()}
        res = simulate(net, n, seed, r0=r0, checks=checks, keep_series_values=True, threads=threads,
                       series_sink=sink)
        for k, a in sink.items():
            if len(res.series_times) != a.shape[0]:
                raise RuntimeError(f"series {k!r}: {len(res.series_times)} intervals written, the store has "
                                   f"{a.shape[0]} (a bug: please report it)")
        return res
    finally:
        for a in arrays.values():
            a.flush()
        del arrays


def series_shapes(net: Network, replications: int) -> dict[str, tuple[int, int, int]]:
    """The per-replicate interval values of a whole run's time series: [intervals, rows, columns] by name
    (the origin series' rows are the traced replicates)."""
    rep = net.scenario.report
    n_int = -(-net.n_steps // max(1, -(-rep.interval_days // net.step_days)))
    traced = traced_replicates(rep.trace_replicates, 0, replications)
    M, R = len(net.markets), replications
    piles = int(np.count_nonzero(np.asarray(net.hold_kind) == 4))  # stockpile holdings: a column per product held
    shapes = {"fill": (n_int, R, M), "market_cover_days": (n_int, R, M), "stockpile_t": (n_int, R, len(net.stockpiles)),
              "stockpile_product_t": (n_int, R, piles)}
    shapes.update({f"china_share_{k}": (n_int, traced, M) for k in rep.trace_stages})
    return shapes


def _store_rows(net: Network, name: str, r0: int, n: int) -> tuple[int, int]:
    """Rows of a series' store that replicates ``r0 .. r0+n-1`` fill (their traced ones for origin series)."""
    if name.startswith("china_share_"):
        return r0, r0 + _traced(net, r0, n)
    return r0, r0 + n


class SeriesStore:
    """Files holding the per-replicate interval values of a run's time series ([intervals, R, columns] per
    series, ``.npy`` in shared memory, ``/dev/shm``, where there is room), which a local pool's workers write
    straight into (:func:`simulate_chunk`) and this process reads for the exact merge.

    Sent back with each chunk's result, these values were most of what a worker pickled and this process
    unpickled (113 MB for 368 replicates of the flagship network): on two cores that took 0.8-1.0 s of a
    6 s run of 1000 replicates. The files go when it closes
    (:func:`_series_stores` closes it).
    """

    PREFIX = "reesim-series-"

    def __init__(self, shapes: dict[str, tuple[int, int, int]], directory: str) -> None:
        self.dir = tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-", dir=directory)
        self.arrays: dict[str, np.ndarray] = {}
        self.files: dict[str, str] = {}
        for i, (k, shape) in enumerate(shapes.items()):
            path = os.path.join(self.dir, f"{i}.npy")
            self.arrays[k] = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
            self.files[k] = path

    @classmethod
    def open(cls, net: Network, replications: int) -> SeriesStore | None:
        """A store for a run, or None where no temporary directory has room for it (the values then come
        back with the results)."""
        shapes = series_shapes(net, replications)
        need = 8 * sum(a * b * c for a, b, c in shapes.values())
        for d in ("/dev/shm", tempfile.gettempdir()):
            with contextlib.suppress(OSError):
                if os.path.isdir(d) and os.access(d, os.W_OK):
                    cls.clear_orphans(d)
                    if shutil.disk_usage(d).free > need + need // 4:
                        return cls(shapes, d)
        return None

    @classmethod
    def clear_orphans(cls, directory: str) -> None:
        """Remove stores whose process is gone (killed with SIGKILL, or by the out-of-memory killer, before it
        could remove them): their directory names carry the pid of the process that made them."""
        for path in Path(directory).glob(f"{cls.PREFIX}*-*"):
            pid = path.name[len(cls.PREFIX):].split("-", 1)[0]
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(path, ignore_errors=True)
            except OSError:  # another user's live process: not ours to remove
                continue

    def attach(self, net: Network, res: Result) -> Result:
        """A chunk's result with its series values: views of the store's rows it wrote."""
        views = {k: a[:, slice(*_store_rows(net, k, res.r0, res.replications))] for k, a in self.arrays.items()}
        return dataclasses.replace(res, series_values=views)

    def close(self) -> None:
        self.arrays = {}
        shutil.rmtree(self.dir, ignore_errors=True)


def series_values_bytes(net: Network, replications: int) -> int:
    """Memory the per-replicate series values of a whole run take when merged [bytes]."""
    return 8 * sum(a * b * c for a, b, c in series_shapes(net, replications).values())


def run_chunked(
    scenario: Scenario | Network,
    replications: int,
    seed: int,
    executor: Any = None,
    chunk: int | None = None,
    checks: str = "error",
    progress: Callable[[int, int], None] | None = None,
    align: int = CHUNK_ALIGN,
) -> Result:
    """Simulate ``replications`` replicates in chunks on an executor and merge them.

    Parameters
    ----------
    scenario : Scenario or Network
        What to run (a network's scenario is sent to the workers, which compile it).
    replications : int
        Replicates R in total.
    seed : int
        Root seed.
    executor : Executor, optional
        From :func:`simulator.executors.make_executor`; None runs the chunks here, one after another.
    chunk : int, optional
        Replicates per chunk, rounded up to a multiple of :data:`CHUNK_ALIGN`
        (default: R split evenly over the executor's workers, at most
        :data:`DEFAULT_CHUNK` per chunk).
    checks : {'error', 'warn', 'off'}
        Invariant checks in every chunk.
    progress : callable, optional
        Called with (replicates done, R) as chunks finish.
    align : int
        Chunk sizes are multiples of this (see :func:`split`).

    Returns
    -------
    Result
        Per-replicate fields identical to ``simulate(net, R, seed)``; see the module
        docstring for the quantile series.

    Examples
    --------
    >>> from simulator.executors import make_executor
    >>> ex = make_executor("local", workers=2)                   # doctest: +SKIP
    >>> res = run_chunked(sc, 2000, 7, ex, chunk=256)            # doctest: +SKIP
    """
    net = scenario if isinstance(scenario, Network) else compile_network(scenario)
    sc = net.scenario
    t0 = time.perf_counter()
    parts, keep = _chunk_plan(net, replications, executor, chunk, align)
    done = 0
    results: list[Result] = []
    if executor is None:
        for r0, n in parts:
            results.append(simulate_chunk(sc, r0, n, seed, checks, keep))
            done += n
            if progress is not None:
                progress(done, replications)
        merged = merge_results(results)
    else:
        with _series_stores(executor, [(net, keep)], replications) as (store,):
            def collect(_: int, res: Result) -> None:
                results.append(res if store is None else store.attach(net, res))
                if progress is not None:
                    progress(sum(r.replications for r in results), replications)

            _gather(executor, [(sc, r0, n, keep, store) for r0, n in parts], seed, checks, collect)
            merged = merge_results(results)  # while the store is open: the chunks' values are views of it
    return dataclasses.replace(merged, timings={**merged.timings, "wall_s": time.perf_counter() - t0})


@contextlib.contextmanager
def _series_stores(executor: Any, runs: Sequence[tuple[Network, bool]], replications: int) -> Any:
    """A :class:`SeriesStore` per run that keeps its series values, on a local pool (None elsewhere: Dask
    workers may be other machines, and the values come back with the results); closed on the way out."""
    stores: list[SeriesStore | None] = []
    local = getattr(executor, "name", None) == "local"
    try:
        for net, keep in runs:
            stores.append(SeriesStore.open(net, replications) if keep and local else None)
        yield tuple(stores)
    finally:
        for st in stores:
            if st is not None:
                st.close()


def _gather(executor: Any, tasks: Sequence[tuple[Scenario, int, int, bool, SeriesStore | None]], seed: int,
            checks: str, on_result: Callable[[int, Result], None]) -> None:
    """Run :func:`simulate_chunk` for each task ``(scenario, r0, n, keep_values, store)`` on the executor and
    call ``on_result(task index, result)`` as each finishes; if one fails, cancel the rest and raise."""
    futs = {executor.submit(simulate_chunk, sc, r0, n, seed, checks, keep, 1, None if st is None else st.files): i
            for i, (sc, r0, n, keep, st) in enumerate(tasks)}
    try:
        for f in executor.as_completed(list(futs)):
            on_result(futs[f], f.result())
    except BaseException:
        executor.cancel(list(futs))
        raise


def _chunk_plan(net: Network, replications: int, executor: Any, chunk: int | None,
                align: int = CHUNK_ALIGN) -> tuple[list[tuple[int, int]], bool]:
    """The chunks ``(r0, n)`` of a run, and whether they keep their series values for an exact merge.

    Refuses (ResourceError, with the replicates that would fit) a run whose merged results would not fit
    in this process's memory, before any chunk runs: each chunk fits on its worker, the results of all of
    them come back here."""
    check_memory(result_memory(net, replications), replications, available_memory())
    workers = executor.workers if executor is not None else 1
    size = chunk if chunk is not None else min(DEFAULT_CHUNK, max(1, -(-replications // workers)))
    parts = split(replications, size, align)
    if chunk is None and executor is not None:
        parts = balanced(parts, _traced(net, 0, replications), align)
    return parts, len(parts) > 1 and series_values_bytes(net, replications) <= SERIES_VALUES_BUDGET


#: a traced replicate's run time in untraced ones, by backend (origin tags; measured on the flagship network
#: in one process: 96 traced replicates against 96 and 192 untraced, per-run overhead taken out, 2026-11-28)
TRACED_COST = {"numpy": 2.9, "numba": 3.0, "native": 2.9}


def traced_cost() -> float:
    """:data:`TRACED_COST` of the active backend (the workers of a pool run the same one)."""
    from . import kernels

    return TRACED_COST.get(kernels.backend(), TRACED_COST["numba"])


def balanced(parts: list[tuple[int, int]], traced: int, align: int = CHUNK_ALIGN,
             cost: float | None = None) -> list[tuple[int, int]]:
    """The same number of chunks over the same replicates, with boundaries (multiples of ``align``) moved so
    that each chunk's expected run time is about the same: the first ``traced`` replicates trace origins and
    count ``cost`` times (default: :func:`traced_cost`). Without traced replicates, or where no such
    boundaries exist, ``parts``.

    On a pool the chunk holding the traced replicates used to be the longest and to finish last: for
    R = 1000 on two workers and a traced replicate costing 2.5 untraced ones, chunks of 256 cost 396, 256,
    256 and 232 units (the pool waits for 628), balanced ones 294, 288, 288 and 280 (574).

    Examples
    --------
    >>> balanced([(0, 256), (256, 256), (512, 256), (768, 232)], 100, 16, cost=2.5)
    [(0, 144), (144, 288), (432, 288), (720, 280)]
    >>> balanced([(0, 256), (256, 256), (512, 256), (768, 232)], 100, 16, cost=2.9)
    [(0, 112), (112, 288), (400, 304), (704, 296)]
    """
    TRACED = traced_cost() if cost is None else float(cost)
    k = len(parts)
    R = parts[-1][0] + parts[-1][1] if parts else 0
    traced = min(traced, R)
    if k < 2 or traced == 0:
        return parts
    extra = TRACED - 1.0
    total = R + extra * traced
    bounds = [0]
    for i in range(1, k):
        target = total * i / k
        r = target / TRACED if target <= TRACED * traced else target - extra * traced
        b = round(r / align) * align
        if b <= bounds[-1] or b >= R - 1:  # an empty chunk, or a last one of a single replicate
            return parts
        bounds.append(b)
    bounds.append(R)
    return [(a, b - a) for a, b in itertools.pairwise(bounds)]


def _chunk_cost(net: Network, r0: int, n: int) -> float:
    """A chunk's expected run time, for ordering [arbitrary units]: replicates x network size, a traced
    replicate counted :func:`traced_cost` times."""
    sz = net.sizes
    return (n + (traced_cost() - 1.0) * _traced(net, r0, n)) * (sz["E"] + sz["H"] + sz["F"] + sz["D"]) * net.n_steps


def _traced(net: Network, r0: int, n: int) -> int:
    """How many of replicates ``r0 .. r0+n-1`` trace origins (none without trace stages: no tracer)."""
    rep = net.scenario.report
    return traced_replicates(rep.trace_replicates, r0, n) if rep.trace_stages else 0


def merge_results(parts: Sequence[Result]) -> Result:
    """One :class:`Result` from chunk results of one run (any order in, replicate order out).

    Raises
    ------
    ValueError
        When the chunks are not consecutive replicates of one run (different
        scenario, seed, horizon or layout, a gap or an overlap).
    """
    if not parts:
        raise ValueError("no chunk results to merge")
    rs = sorted(parts, key=lambda r: r.r0)
    first = rs[0]
    for r in rs[1:]:
        for name in SHARED:
            if not _same(getattr(r, name), getattr(first, name)):
                raise ValueError(f"chunks of different runs: field {name!r} differs "
                                 f"(chunk at r0={r.r0} vs r0={first.r0})")
    for a, b in itertools.pairwise(rs):
        if b.r0 != a.r0 + a.replications:
            raise ValueError(f"chunks are not consecutive: replicates {a.r0}..{a.r0 + a.replications - 1} "
                             f"then {b.r0}..{b.r0 + b.replications - 1}")
    if len(rs) == 1:
        return dataclasses.replace(first, timings={**first.timings, "series_chunks": 1.0})
    cat = {name: np.concatenate([getattr(r, name) for r in rs], axis=0) for name in PER_REPLICATE}
    windows = {w: np.concatenate([r.window_fill[w] for r in rs], axis=0) for w in first.window_fill}
    series, exact = _merge_series(rs)
    timings: dict[str, float] = {}
    for r in rs:
        for k, v in r.timings.items():
            timings[k] = timings.get(k, 0.0) + float(v)
    timings["steps"] = float(first.timings.get("steps", first.n_steps))
    timings["series_chunks"] = 1.0 if exact else float(len(rs))
    extra: dict[str, Any] = {}
    if _has_series_values(rs):
        extra["series_values"] = None  # used for the exact quantiles; not carried (R x K per interval)
    return dataclasses.replace(
        first, replications=sum(r.replications for r in rs), r0=first.r0, window_fill=windows,
        series=series, mass_balance_error=max(r.mass_balance_error for r in rs), timings=timings,
        **cat, **extra,
    )


def _merge_series(rs: Sequence[Result]) -> tuple[dict[str, np.ndarray], bool]:
    """Merged quantile series and whether they are exact (see the module docstring)."""
    if _has_series_values(rs):
        return {k: quantile_rows_of([r.series_values[k] for r in rs])  # type: ignore[index]
                for k in rs[0].series}, True
    out = {}
    for k in rs[0].series:
        # origin series come from the traced replicates only (chunks past them have none)
        n = [r.traced_replicates if k.startswith("china_share_") else r.replications for r in rs]
        arrs = [r.series[k] for r, m in zip(rs, n, strict=True) if m > 0]
        w = np.array([m for m in n if m > 0], dtype=float)
        if any(a.shape != arrs[0].shape for a in arrs):
            raise ValueError(f"series {k!r} has different shapes in the chunks")
        out[k] = np.tensordot(w / w.sum(), np.stack(arrs), axes=1) if arrs[0].size else arrs[0]
    return out, False


def _has_series_values(rs: Sequence[Result]) -> bool:
    """True when the engine kept per-replicate interval values (a ``series_values`` field)."""
    names = {f.name for f in dataclasses.fields(Result)}
    return "series_values" in names and all(getattr(r, "series_values", None) for r in rs)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def run_scenarios_chunked(
    scenarios: Sequence[tuple[str, Scenario]],
    replications: int,
    seed: int,
    executor: Any = None,
    chunk: int | None = None,
    checks: str = "error",
    progress: Callable[[int, int, int], None] | None = None,
) -> list[Any]:
    """:func:`simulator.compare.run_scenarios` with every run chunked on an executor.

    Same seed and replicate indices for every scenario (common random numbers);
    returns the same list of :class:`simulator.compare.Run`. ``progress`` is called
    with (scenario index, replicates done, R). On an executor the chunks of all
    scenarios are queued at once, longest expected first (:func:`_chunk_cost`: the
    chunks that trace origins, then the larger networks'), so the last chunks to
    start are the shortest and the workers finish together (the flagship's pool
    phase: 25.0 -> 22.6 s against the first chunks of each scenario first).
    """
    from .compare import Run

    nets = [compile_network(sc) for _, sc in scenarios]
    if executor is None:
        return [Run(name, sc, net, run_chunked(net, replications, seed, None, chunk, checks,
                                               None if progress is None else
                                               (lambda done, total, i=i: progress(i, done, total))))
                for i, ((name, sc), net) in enumerate(zip(scenarios, nets, strict=True))]
    t0 = time.perf_counter()
    plans = [_chunk_plan(net, replications, executor, chunk) for net in nets]
    parts = plans[0][0]  # the same replicate split for every scenario
    keep = [k for _, k in plans]
    order = sorted(((-_chunk_cost(net, r0, n), i, r0, n) for i, net in enumerate(nets) for r0, n in parts))
    results: list[list[Result]] = [[] for _ in scenarios]

    with _series_stores(executor, list(zip(nets, keep, strict=True)), replications) as stores:
        def collect(k: int, res: Result) -> None:
            i = order[k][1]
            st = stores[i]
            results[i].append(res if st is None else st.attach(nets[i], res))
            if progress is not None:
                progress(i, sum(r.replications for r in results[i]), replications)

        _gather(executor, [(scenarios[i][1], r0, n, keep[i], stores[i]) for _, i, r0, n in order], seed, checks,
                collect)
        wall = time.perf_counter() - t0
        merged_all = [merge_results(rs) for rs in results]  # while the stores are open (views of them)
    runs = []
    for (name, sc), net, merged in zip(scenarios, nets, merged_all, strict=True):
        runs.append(Run(name, sc, net, dataclasses.replace(merged, timings={**merged.timings, "wall_s": wall})))
    return runs
