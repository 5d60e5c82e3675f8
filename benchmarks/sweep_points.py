"""Sweep throughput: points per minute on a local process pool and on a Dask LocalCluster.

Runs the same small Morris sweep (five parameters) of each configuration twice,
once on :class:`simulator.executors.LocalExecutor` and once on a
``distributed.LocalCluster`` of as many single-threaded worker processes on
loopback, checks that both wrote the same ``points.csv``, and prints a table and
JSON. Pool and cluster start-up are included in the wall time, as a user sees it.

Usage, from the repository root::

    python benchmarks/sweep_points.py                  # tutorial and controls_2027_allied (~10 min on 2 cores)
    python benchmarks/sweep_points.py --quick          # the tutorial only (~1 min)
    python benchmarks/sweep_points.py --workers 4 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "tutorial": {
        "file": "scenarios/tutorial.yaml", "samples": 6, "replications": 20, "sets": [],
        "metrics": ["ev_jp.unmet_t"],
        "params": ["stockpiles.jogmec.holds.ndpr_oxide.initial=0:1200", "events.cn_magnet_licensing.blocked=0.3:1.0",
                   "events.cn_magnet_licensing.end=2025-06-01:2025-12-31", "facilities.sep_my.capacity=8000:16000",
                   "policies.reroute_after_days=20:120"],
    },
    "controls_2027_allied": {
        "file": "scenarios/controls_2027_allied.yaml", "samples": 2, "replications": 4, "sets": [],
        "metrics": ["family:magnets.unmet_t"],
        "params": ["events.cn_controls_2027.blocked=0.3:1.0", "stockpiles.us_vault.holds.ndfeb_magnet.initial=0:5000",
                   "facilities.mag_us_vulcan.capacity=2000:10000",
                   "facilities.mag_us_vulcan.online=2026-01-01:2029-01-01",
                   "events.us_japan_framework.set.reroute_after_days=20:180"],
    },
}


def _spec(cfg: dict) -> object:
    from simulator.sweep import SweepSpec, parse_metric, parse_param

    return SweepSpec(ROOT / cfg["file"], tuple(parse_param(p) for p in cfg["params"]), "morris", cfg["samples"],
                     cfg["replications"], 7, tuple(parse_metric(m) for m in cfg["metrics"]), tuple(cfg["sets"]))


def _time(spec: object, make: object, out: Path) -> tuple[float, int]:
    from simulator.sweep import run_sweep

    t0 = time.perf_counter()
    ex = make()  # type: ignore[operator]
    try:
        res = run_sweep(spec, out, ex)  # type: ignore[arg-type]
    finally:
        ex.close()
    return time.perf_counter() - t0, res.n_points


def _warm_up() -> None:
    """One tiny run here first, so compiled kernels (numba's on-disk cache) are built before the timing."""
    from simulator import load_scenario, run

    run(load_scenario(ROOT / "scenarios" / "tutorial.yaml", ["horizon.end=2025-05-31"]), replications=2)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table and JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the tutorial only")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from distributed import Client, LocalCluster

    from simulator.executors import DaskExecutor, LocalExecutor

    names = ["tutorial"] if args.quick else list(CONFIGS)
    _warm_up()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec = _spec(CONFIGS[name])
            local_s, n = _time(spec, lambda: LocalExecutor(args.workers), Path(tmp) / f"{name}-local")
            t0 = time.perf_counter()
            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=":0") as cluster, Client(cluster) as client:
                run_s, _ = _time(spec, lambda client=client: DaskExecutor(client=client), Path(tmp) / f"{name}-dask")
            dask_s = time.perf_counter() - t0
            same = (Path(tmp) / f"{name}-local" / "points.csv").read_bytes() == \
                (Path(tmp) / f"{name}-dask" / "points.csv").read_bytes()
            rows.append({"config": name, "points": n, "replications": CONFIGS[name]["replications"],
                         "workers": args.workers, "local_s": local_s, "local_points_per_min": 60 * n / local_s,
                         "dask_s": dask_s, "dask_points_per_min": 60 * n / dask_s,
                         "dask_run_s": run_s, "identical": same})
    print(f"{'config':<22}{'points':>7}{'R':>4}{'workers':>8}{'local pts/min':>15}{'Dask pts/min':>14}"
          f"{'identical':>11}")
    for r in rows:
        print(f"{r['config']:<22}{r['points']:>7}{r['replications']:>4}{r['workers']:>8}"
              f"{r['local_points_per_min']:>15.1f}{r['dask_points_per_min']:>14.1f}{r['identical']!s:>11}")
    backend = os.environ.get("REESIM_BACKEND", "auto")
    text = json.dumps({"cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "backend": backend,
                       "rows": rows}, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
