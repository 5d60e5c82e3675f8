"""Parameter sweeps: SALib designs, one simulation per point, resumable results (DESIGN §6).

A sweep varies scenario values named by ``--set`` paths over ranges
(``PATH=LOW:HIGH``), runs every point of a design with the same seed and
replicate indices (common random numbers: the points differ only in the swept
values), and records per point the replicate mean of the chosen metrics.

Designs come from SALib: ``morris`` (``samples`` trajectories of k+1 points,
4 levels), ``sobol`` (Saltelli's scheme without second order, ``samples`` x (k+2)
points, ``samples`` a power of two), ``lhs`` (``samples`` Latin-hypercube points)
and ``grid`` (``samples`` evenly spaced levels per parameter, all combinations).
After the design come the 2k + 1 one-at-a-time points of the tornado chart:
every parameter mid-range, then each parameter alone at its low and at its
high end.
Coordinates are drawn on the unit cube and mapped onto each range: a float
range linearly, an integer range (both ends written as integers) rounded, and a
date range (``2026-01-01:2028-01-01``) in whole days.

Files in the output folder (all written as the sweep goes):

- ``sweep.json``: what defines the points (scenario files and hashes, ``--set``
  overrides, parameters, method, samples, replicates, seed, metrics) and the
  provenance of every run of it (executor, times);
- ``design.csv``: the unit-cube coordinates of every point (the SALib design,
  then the tornado's points);
- ``points.csv``: one row per finished point, appended as points finish; at the
  end sorted by point so it is the same file however the points were run.
  Columns: ``point``, each parameter's value as applied, then per metric its
  mean over replicates, ``.sd`` and (TTS, TTR) ``.censored`` (share of
  replicates cut off by the horizon, whose value counts at its lower bound);
- ``timings.csv``: per point the seconds it took and where it ran;
- ``points.parquet``: ``points.csv`` as Parquet at the end, when pyarrow is installed.

An interrupted sweep (Ctrl-C, a killed worker, ``max_points``) is resumed with
``resume=True``: the finished rows are kept and only the missing points run.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import Problem, ReesimError, ScenarioError, UsageError
from .sweep_params import (
    CENSORED,
    METRIC_LABELS,
    METRIC_NAMES,
    Metric,
    Param,
    default_metrics,
    fmt_value,
    metric_keys,
    param_label,
    parse_metric,
    parse_param,
)

__all__ = ["CENSORED", "DEFAULT_SAMPLES", "METHODS", "METRIC_LABELS", "METRIC_NAMES", "Metric", "Param",
           "PointFactory", "SweepOutcome", "SweepSpec", "check_design", "default_metrics", "design",
           "evaluate_point", "fmt_value", "metric_keys", "param_label", "parse_metric", "parse_param",
           "point_count", "run_sweep", "sweep_points", "tornado_points"]

METHODS = ("morris", "sobol", "grid", "lhs")
DEFAULT_SAMPLES = {"morris": 10, "sobol": 64, "grid": 3, "lhs": 50}
MORRIS_LEVELS = 4  #: levels of the Morris grid
#: Keys of sweep.json that define the points: a resumed sweep must match them.
IDENTITY = ("files", "sets", "params", "method", "samples", "replications", "seed", "metrics", "checks",
            "n_design", "n_points")


# --------------------------------------------------------------------------- designs


def point_count(method: str, k: int, samples: int) -> int:
    """Points of a design: morris N(k+1), sobol N(k+2), grid N^k, lhs N."""
    return {"morris": samples * (k + 1), "sobol": samples * (k + 2), "grid": samples ** k, "lhs": samples}[method]


def check_design(method: str, k: int, samples: int) -> None:
    """Refuse designs SALib cannot make or that make no sense.

    Raises
    ------
    UsageError
    """
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: allowed: {', '.join(METHODS)}")
    if k < 1:
        raise UsageError("a sweep needs at least one --param PATH=LOW:HIGH")
    if method in ("morris", "sobol") and k < 2:
        raise UsageError(f"--method {method} needs two or more parameters (got {k}); use grid or lhs for one")
    least = {"morris": 2, "sobol": 2, "grid": 2, "lhs": 2}[method]
    if samples < least:
        raise UsageError(f"--samples {samples}: {method} needs {least} or more")
    if method == "sobol" and samples & (samples - 1):
        lo = 1 << (samples.bit_length() - 1)
        raise UsageError(f"--samples {samples}: Sobol' sequences need a power of two; use {lo} or {lo * 2}")


def design(method: str, k: int, samples: int, seed: int) -> np.ndarray:
    """Unit-cube coordinates of every point [n_points, k] (SALib; a full factorial for grid)."""
    check_design(method, k, samples)
    problem = {"num_vars": k, "names": [f"x{j}" for j in range(k)], "bounds": [[0.0, 1.0]] * k}
    if method == "morris":
        from SALib.sample import morris

        X = morris.sample(problem, samples, num_levels=MORRIS_LEVELS, seed=seed)
    elif method == "sobol":
        from SALib.sample import sobol

        X = sobol.sample(problem, samples, calc_second_order=False, seed=seed)
    elif method == "lhs":
        from SALib.sample import latin

        X = latin.sample(problem, samples, seed=seed)
    else:
        levels = np.linspace(0.0, 1.0, samples)
        X = np.array(list(itertools.product(levels, repeat=k)), dtype=float)
    return np.clip(np.asarray(X, dtype=float), 0.0, 1.0)


def tornado_points(k: int) -> np.ndarray:
    """One-at-a-time points of the tornado chart [2k+1, k]: all parameters mid-range, then each at its low and high end."""
    X = np.full((2 * k + 1, k), 0.5)
    for j in range(k):
        X[1 + 2 * j, j] = 0.0
        X[2 + 2 * j, j] = 1.0
    return X


def sweep_points(method: str, k: int, samples: int, seed: int) -> np.ndarray:
    """Every point a sweep runs [n_design + 2k + 1, k]: the design, then the tornado's one-at-a-time points."""
    return np.vstack([design(method, k, samples, seed), tornado_points(k)])


# --------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep's points.

    Attributes
    ----------
    file : Path
        The scenario file.
    params : tuple of Param
    method : str
        One of :data:`METHODS`.
    samples : int
        Trajectories (morris), base samples (sobol), levels (grid) or points (lhs).
    replications, seed : int
        Replicates per point and the root seed shared by every point.
    metrics : tuple of Metric
        Empty: :func:`default_metrics`.
    sets : tuple of str
        ``--set`` overrides applied to every point before the swept values.
    checks : str
        Invariant checks of each run.
    """

    file: Path
    params: tuple[Param, ...]
    method: str = "morris"
    samples: int = 10
    replications: int = 20
    seed: int = 7
    metrics: tuple[Metric, ...] = ()
    sets: tuple[str, ...] = ()
    checks: str = "error"

    @property
    def n_design(self) -> int:
        """Points of the design (the sensitivity indices use these)."""
        return point_count(self.method, len(self.params), self.samples)

    @property
    def n_points(self) -> int:
        """Points the sweep runs: the design and the tornado's 2k + 1 one-at-a-time points."""
        return self.n_design + 2 * len(self.params) + 1


class PointFactory:
    """Builds each point's validated :class:`Scenario` from the file, read once.

    Raises
    ------
    ScenarioError, UsageError
        From reading the file or a ``--set``; :meth:`check` also tries every
        parameter at both ends of its range.
    """

    def __init__(self, spec: SweepSpec):
        from .scenario.overlay import apply_set, load_document

        self.spec = spec
        problems: list[Problem] = []
        if not Path(spec.file).is_file():
            raise ScenarioError([Problem(str(spec.file), None, None, "", "no such file")])
        doc = load_document(Path(spec.file), problems)
        if doc is None:
            raise ScenarioError(problems or [Problem(str(spec.file), None, None, "", "could not read")])
        for s in spec.sets:
            apply_set(doc, s)
        self._doc = doc
        self._problems = problems
        self._base: Any = None  # the base scenario, once check() has passed

    def scenario(self, assignments: Sequence[str]) -> Any:
        """The scenario with ``assignments`` (``PATH=VALUE``) applied and validated."""
        from .scenario import validate_document
        from .scenario.overlay import apply_set

        doc = copy.deepcopy(self._doc)
        for a in assignments:
            apply_set(doc, a)
        sc, found = validate_document(doc)
        problems = self._problems + found
        if sc is None or problems:
            raise ScenarioError(problems)
        return sc

    def check(self) -> Any:
        """Validate the base scenario and every parameter at its low and high end; return the base scenario.

        A bad path raises :class:`UsageError` naming the ``--param``; a value the
        schema refuses raises :class:`ScenarioError` located at ``--set PATH=VALUE``.
        A second call returns the base scenario of the first.
        """
        if self._base is not None:
            return self._base
        base = self.scenario([])
        for p in self.spec.params:
            for u in (0.0, 1.0):
                try:
                    self.scenario([p.assignment(u)])
                except UsageError as exc:
                    raise UsageError(str(exc).replace("--set ", "--param ", 1) + f" (from --param {p.spec!r})") \
                        from None
        self._base = base
        return base


def evaluate_point(scenario: Any, replications: int, seed: int, metrics: Sequence[Metric],
                   checks: str = "error", threads: int | None = 1) -> dict[str, Any]:
    """Simulate one point and reduce it to its metrics (the task each worker runs).

    Parameters
    ----------
    scenario : Scenario
        The point's validated scenario (from :meth:`PointFactory.scenario`).
    replications, seed : int
        Replicates ``0 .. R-1`` with this root seed: the same at every point.
    metrics : sequence of Metric
        What to keep of the run.
    checks : {'error', 'warn', 'off'}
        Invariant checks.
    threads : int, optional
        Threads of the compiled step: 1, as the executor's workers already fill the cores
        (None: one per core from 64 replicates).

    Returns
    -------
    dict
        ``{"values": {column: float}, "seconds": float, "where": "host:pid"}``;
        ``values`` has per metric its mean over replicates, ``.sd`` and, for TTS
        and TTR, ``.censored`` (NaN where no replicate has a value).
    """
    from .compare import outcomes
    from .engine import simulate
    from .network import compile_network

    t0 = time.perf_counter()
    net = compile_network(scenario)
    res = simulate(net, replications, seed, checks=checks, threads=threads)
    outs = outcomes(res, net)
    values: dict[str, float] = {}
    for m in metrics:
        o = outs[m.key]
        v = np.asarray(o.values[m.metric], dtype=float)
        ok = v[np.isfinite(v)]
        values[m.column] = float(ok.mean()) if ok.size else math.nan
        values[m.column + ".sd"] = float(ok.std(ddof=1)) if ok.size > 1 else (0.0 if ok.size else math.nan)
        cen = o.censored(m.metric)
        if cen is not None:
            values[m.column + ".censored"] = float(np.mean(cen)) if len(cen) else math.nan
    return {"values": values, "seconds": time.perf_counter() - t0, "where": f"{socket.gethostname()}:{os.getpid()}"}


def metric_columns(metrics: Sequence[Metric]) -> list[str]:
    """The points.csv columns of the metrics, in order."""
    cols: list[str] = []
    for m in metrics:
        cols += [m.column, m.column + ".sd"] + ([m.column + ".censored"] if m.metric in CENSORED else [])
    return cols


@dataclass
class SweepOutcome:
    """What a call of :func:`run_sweep` did."""

    outdir: Path
    n_points: int
    done: int  #: points finished in total (this run and earlier ones)
    new: int  #: points finished by this run
    wall_s: float
    complete: bool
    analysis: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def run_sweep(spec: SweepSpec, outdir: Path, executor: Any, *, resume: bool = False, force: bool = False,
              max_points: int | None = None, progress: Callable[[int, int], None] | None = None,
              command: str | None = None, factory: PointFactory | None = None) -> SweepOutcome:
    """Run (or resume) a sweep, writing every finished point at once.

    Parameters
    ----------
    spec : SweepSpec
    outdir : Path
        Output folder (see the module docstring for its files).
    executor : Executor
        From :func:`simulator.executors.make_executor`.
    resume : bool
        Keep the points already in ``outdir/points.csv`` and run only the missing ones.
    force : bool
        Start afresh in a non-empty ``outdir``.
    max_points : int, optional
        Stop after this many new points (a sweep in instalments; continue with ``resume``).
    progress : callable, optional
        Called with (points done, points in the design).
    command : str, optional
        The command line, for provenance.
    factory : PointFactory, optional
        The points' factory of ``spec``, already checked (the command line checks the
        parameters before it makes the folder); default: a new one.

    Returns
    -------
    SweepOutcome
        With the sensitivity analysis when the sweep is complete.

    Raises
    ------
    UsageError
        For a folder that holds another sweep, or a bad parameter or metric.
    ScenarioError
        When a point's scenario does not validate (the problem names the ``--set``).
    ReesimError
        When a point fails (its index and values are named), or workers keep dying.
    """
    from . import sweep_io as io_

    t0 = time.perf_counter()
    factory = factory if factory is not None else PointFactory(spec)
    base = factory.check()
    from .network import compile_network

    net = compile_network(base)
    keys = metric_keys(net)
    metrics = tuple(parse_metric(m.column, keys) for m in spec.metrics) or tuple(default_metrics(net))
    spec = SweepSpec(spec.file, spec.params, spec.method, spec.samples, spec.replications, spec.seed,
                     metrics, spec.sets, spec.checks)
    header = io_.header(spec, base, command)
    outdir = Path(outdir)
    X = io_.prepare(outdir, spec, header, resume=resume, force=force)
    pcols = [p.path for p in spec.params]
    mcols = metric_columns(metrics)
    texts = [[p.text(float(u)) for p, u in zip(spec.params, row)] for row in X]
    done = io_.read_points(outdir, pcols, mcols, texts)
    todo = [i for i in range(len(X)) if i not in done]
    if max_points is not None:
        todo = todo[:max(0, max_points)]
    n_total = len(X)
    if progress is not None:
        progress(len(done), n_total)
    writer = io_.PointWriter(outdir, pcols, mcols, rows=done) if todo else None
    run_info = {"started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "executor": _describe(executor), "points": 0}
    new = 0
    try:
        for i, result in _execute(factory, spec, X, todo, executor):
            writer.add(i, texts[i], result)  # type: ignore[union-attr]
            new += 1
            if progress is not None:
                progress(len(done) + new, n_total)
    finally:
        if writer is not None:
            writer.close()
        run_info.update(points=new, wall_s=time.perf_counter() - t0,
                        finished=dt.datetime.now().astimezone().isoformat(timespec="seconds"))
        if new or not done:  # a resume that finds nothing to run leaves no trace
            io_.record_run(outdir, run_info, complete=len(done) + new == n_total)
    complete = len(done) + new == n_total
    out = SweepOutcome(outdir, n_total, len(done) + new, new, time.perf_counter() - t0, complete, info=run_info)
    if complete:
        io_.finish(outdir, pcols, mcols, parquet=bool(new))
        from .sensitivity import analyse_sweep

        out.analysis = analyse_sweep(outdir)
    return out


def _describe(executor: Any) -> str:
    d = getattr(executor, "describe", None)
    return d() if callable(d) else str(getattr(executor, "name", "executor"))


def _execute(factory: PointFactory, spec: SweepSpec, X: np.ndarray, todo: list[int],
             executor: Any, max_restarts: int = 3) -> Any:
    """Yield ``(point, result)`` as points finish, keeping a bounded number of tasks in flight.

    A pool whose worker died is restarted and the points it held are run again
    (at most ``max_restarts`` times).
    """
    from .executors import lost_worker_errors

    window = max(2, 2 * int(getattr(executor, "workers", 1)))
    queue = list(todo)
    inflight: dict[Any, int] = {}
    restarts = 0

    def submit(i: int) -> None:
        sets = [p.assignment(float(u)) for p, u in zip(spec.params, X[i])]
        try:
            sc = factory.scenario(sets)
        except ScenarioError as exc:
            raise ScenarioError([Problem(p.file, p.line, p.col, p.path, f"{p.message} (point {i})")
                                 for p in exc.problems]) from None
        inflight[executor.submit(evaluate_point, sc, spec.replications, spec.seed, spec.metrics, spec.checks)] = i

    try:
        while queue or inflight:
            while queue and len(inflight) < window:
                submit(queue.pop(0))
            finished = executor.wait_first(list(inflight))
            for f in finished:
                i = inflight.pop(f)
                try:
                    res = f.result()
                except lost_worker_errors() as exc:
                    restarts += 1
                    if restarts > max_restarts:
                        raise ReesimError(f"workers keep dying ({type(exc).__name__}: {exc}); the finished "
                                          "points are saved: run again with --resume") from None
                    lost = [i, *inflight.values()]
                    executor.cancel(list(inflight))
                    inflight.clear()
                    executor.restart()
                    queue[:0] = sorted(lost)
                    break
                except ReesimError as exc:
                    sets = ", ".join(p.assignment(float(u)) for p, u in zip(spec.params, X[i]))
                    raise type(exc)(f"point {i} ({sets}): {exc}") from None
                yield i, res
    except BaseException:
        executor.cancel(list(inflight))
        raise
