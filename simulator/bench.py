"""Core-loop benchmark: throughput, wall time and peak memory of the full engine.

Runs the whole engine (events, tracing, metrics, invariant checks) on the
tutorial, on the largest real scenario, and on generated networks of 10, 100
and 1000 facilities, for several replicate counts R; the plain-Python reference
oracle is timed beside it in the same process. Throughput is in
node·replicate·days per second (nodes = facilities + recyclers + markets +
stockpiles). Medians of several runs; prints a table and, with ``--json``, writes
the figures.

Usage::

    python benchmarks/core_loop.py                 # the standard set (several minutes)
    python benchmarks/core_loop.py --quick         # what `reesim bench` runs
    python benchmarks/core_loop.py --json out.json

Real scenarios are looked up in ``scenarios/`` under the current folder.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from . import load_scenario
from .engine import simulate
from .exceptions import ResourceError
from .network import compile_network
from .synth import make_network_yaml

ROOT = Path.cwd()

CONFIGS = {
    "quick": {"Rs": (1, 100), "repeats": 2, "generated": (10,), "oracle_R": (1,), "days": 365, "real": False,
              "pool_R": ()},
    "standard": {"Rs": (1, 10, 100, 1000, 10000), "repeats": 3, "generated": (10, 100, 1000),
                 "oracle_R": (1, 4), "days": None, "real": True, "pool_R": (1000,)},
}


def largest_real() -> Path | None:
    """The real scenario (not the tutorial) with the most facilities and markets."""
    best, size = None, -1
    for p in sorted((Path.cwd() / "scenarios").glob("*.yaml")):
        if p.name.startswith("tutorial"):
            continue
        try:
            sc = load_scenario(p)
        except Exception:  # noqa: BLE001 - a broken scenario is skipped, not benchmarked
            continue
        n = len(sc.facilities) + len(sc.markets)
        if n > size:
            best, size = p, n
    return best


def generated(n_fac: int, days: int | None) -> Path:
    """A generated network with about ``n_fac`` facilities (written to a temp file)."""
    mines = max(1, n_fac // 10)
    sep = max(1, n_fac // 10)
    metal = max(1, n_fac // 10)
    comp = max(1, n_fac - mines - sep - metal)
    markets = max(1, n_fac // 4)
    text = make_network_yaml(mines, sep, metal, comp, markets, seed=1, horizon_days=days or 3650)
    path = Path(tempfile.mkdtemp()) / f"gen{n_fac}.yaml"
    path.write_text(text)
    return path


MAX_NRD = 1.5e9  #: runs larger than this many node·replicate·days are timed over the first days only


def steps_for(net: Any, R: int) -> int | None:
    """Steps to time: the whole horizon, or (R = 10 000 on big networks) the first year or so."""
    nodes = net.sizes["F"] + net.sizes["M"] + net.sizes["S"]
    if R * nodes * net.n_steps * net.step_days <= MAX_NRD:
        return None
    return max(60, int(MAX_NRD // (R * nodes * net.step_days)))


def time_engine(net: Any, R: int, repeats: int) -> tuple[float, float]:
    """Median wall time [s] over ``repeats`` runs, and node·replicate·days of one run."""
    times, nrd = [], 0.0
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        res = simulate(net, R, seed=1, checks="error", steps=steps_for(net, R))
        times.append(time.perf_counter() - t)
        nrd = res.timings["node_replicate_days"]
    return statistics.median(times), nrd


def time_pool(net: Any, R: int, repeats: int) -> tuple[float, float, int]:
    """Median wall time [s] of R replicates the way ``reesim run`` runs them from 256 replicates: in
    chunks on the local process pool (one worker per core), merged; node·replicate·days; workers.

    The pool is started and its workers have loaded the compiled kernels before the timing (a
    first chunk of 8 replicates), as the in-process figures load them before theirs."""
    from .chunks import run_chunked
    from .executors import make_executor

    times, nrd = [], 0.0
    ex = make_executor("local")
    try:
        run_chunked(net, 16 * ex.workers, 1, ex, chunk=8, checks="off")
        for _ in range(repeats):
            gc.collect()
            t = time.perf_counter()
            res = run_chunked(net, R, 1, ex)
            times.append(time.perf_counter() - t)
            nrd = res.timings["node_replicate_days"]
        return statistics.median(times), nrd, ex.workers
    finally:
        ex.close()


def peak_memory(net: Any, R: int) -> float:
    """Peak traced memory of one run [MB] (numpy reports its buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    simulate(net, R, seed=1, checks="off", steps=steps_for(net, R))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def time_oracle(sc: Any, net: Any, R: int) -> float | None:
    """Wall time of the reference oracle for R replicates (R sequential one-replicate runs)."""
    from simulator.reference import run_reference

    try:
        t = time.perf_counter()
        for _ in range(R):
            run_reference(sc, net, noise=False)
        return time.perf_counter() - t
    except NotImplementedError:
        return None


def run(config: str, only: str | None = None) -> list[dict[str, Any]]:
    """Run the benchmark set; return one row per (network, R)."""
    cfg = CONFIGS[config]
    days = cfg["days"]
    nets: list[tuple[str, Path, list[str]]] = []
    if (ROOT / "scenarios" / "tutorial.yaml").is_file():
        nets.append(("tutorial", ROOT / "scenarios" / "tutorial.yaml", []))
    real = largest_real() if cfg["real"] else None
    if real is not None:
        nets.append((f"real:{real.stem}", real, []))
    for n in cfg["generated"]:
        nets.append((f"generated:{n}", generated(n, days), []))
    if only and not any(only in label for label, _, _ in nets):
        raise ValueError(f"--only {only!r} matches no network; the networks: {', '.join(lb for lb, _, _ in nets)}")
    rows = []
    for label, path, sets in nets:
        if only and only not in label:
            continue
        sc = load_scenario(path, sets)
        net = compile_network(sc)
        simulate(net, 1, seed=1, steps=2)  # load the compiled kernels outside the timings
        sizes = net.sizes
        nodes = sizes["F"] + sizes["M"] + sizes["S"]
        for R in cfg["Rs"]:
            try:
                wall, nrd = time_engine(net, R, cfg["repeats"] if R <= 1000 else 1)
            except ResourceError as exc:  # the engine's memory estimate refuses the run here
                print(f"{label:<28} {nodes:>5} {'':>5} {R:>6}   skipped: {exc}", flush=True)
                rows.append({"network": label, "nodes": nodes, "links": sizes["E"], "R": R, "skipped": str(exc)})
                continue
            mem = peak_memory(net, R)
            cap = steps_for(net, R)
            row = {"network": label, "nodes": nodes, "links": sizes["E"], "R": R,
                   "days": sc.horizon.days if cap is None else cap * net.step_days,
                   "wall_s": wall, "throughput_nrd_s": nrd / wall, "peak_mb": mem}
            if R in cfg["oracle_R"] and nodes <= 200:
                ot = time_oracle(sc, net, R)
                if ot is not None:
                    row["oracle_s"] = ot
                    row["engine_vs_oracle"] = ot / wall
            rows.append(row)
            _print_row(row)
            if R in cfg["pool_R"] and steps_for(net, R) is None and (os.cpu_count() or 1) >= 2:
                wall, nrd, workers = time_pool(net, R, cfg["repeats"])
                row = {"network": label, "nodes": nodes, "links": sizes["E"], "R": R, "days": sc.horizon.days,
                       "wall_s": wall, "throughput_nrd_s": nrd / wall, "peak_mb": None, "pool_workers": workers}
                rows.append(row)
                _print_row(row)
    return rows


def _print_row(r: dict[str, Any]) -> None:
    mem = f"{r['peak_mb']:9.1f}" if r.get("peak_mb") is not None else "        —"
    ora = f"{r['oracle_s']:8.2f} s  x{r['engine_vs_oracle']:7.1f}" if "oracle_s" in r else ""
    if "pool_workers" in r:
        ora = f"pool of {r['pool_workers']} processes, as `reesim run`"
    print(f"{r['network']:<28} {r['nodes']:>5} {r['days']:>5} {r['R']:>6} {r['wall_s']:9.3f} s "
          f"{r['throughput_nrd_s'] / 1e6:9.3f} M {mem} MB  {ora}", flush=True)


def machine() -> dict[str, Any]:
    """Facts about the machine the figures came from."""
    import numpy as np

    from . import kernels

    return {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "backend": kernels.backend()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the short version `reesim bench` runs")
    ap.add_argument("--only", help="only networks whose label contains this")
    ap.add_argument("--json", type=Path, help="write the rows and machine facts here")
    args = ap.parse_args(argv)
    from . import kernels

    name = machine()["backend"]
    why = ""
    if name != "native" and (os.environ.get("REESIM_BACKEND") or "auto").lower() == "auto" and kernels.compiled():
        from . import _native_step

        why = f"; native unavailable: {_native_step.load()[1]}" if _native_step.compiler() else ""
    print(f"backend: {name} (REESIM_BACKEND=native|numba|numpy picks one{why})")
    print("throughput: millions of node·replicate·days per second; oracle: the plain-Python reference engine's "
          "time for the same run, and how many times faster the engine is")
    print(f"{'network':<28} {'nodes':>5} {'days':>5} {'R':>6} {'wall':>11} {'throughput':>11} {'peak mem':>12}  "
          "oracle (x faster)")
    try:
        rows = run("quick" if args.quick else "standard", args.only)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
        print(f"wrote {args.json}")
    return 0


