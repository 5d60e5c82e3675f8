"""End-to-end wall time of the flagship comparison, split into phases.

Times what ``reesim compare scenarios/controls_2027.yaml scenarios/controls_2027_allied.yaml
-n 1000 -o /tmp/flag --force`` does, by calling the library functions in sequence:

- load: ``simulator.load_scenario`` of every file (parse, validate);
- compile: ``simulator.network.compile_network``;
- simulate: every scenario, same seed (common random numbers), where ``reesim compare`` runs it:
  from 256 replicates on 2+ cores in chunks on a local process pool
  (``simulator.chunks.run_scenarios_chunked``; pool start-up included), else
  ``simulator.engine.simulate`` in this process (``--scheduler none`` forces that);
- metrics: ``simulator.compare.write_compare`` (paired differences, headline, summary.json and
  the time series of every run);
- report: ``simulator.report.html.write_report`` (figures, tables, report.html).

Usage, from the repository root::

    python benchmarks/end_to_end.py                       # the flagship, R = 1000
    python benchmarks/end_to_end.py -n 100 --backend numpy
    python benchmarks/end_to_end.py --json e2e.json

``--backend`` sets ``REESIM_BACKEND`` (numba when installed, else numpy); the first
run after installing numba also compiles the kernels (cached on disk afterwards),
which ``--warm`` keeps out of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILES = ("scenarios/controls_2027.yaml", "scenarios/controls_2027_allied.yaml")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", default=list(FILES), help="scenario files, the first is the baseline")
    ap.add_argument("-n", type=int, default=1000, help="replicates (default 1000)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("-o", "--output", type=Path, default=Path("/tmp/flag-e2e"))
    ap.add_argument("--backend", choices=("auto", "numba", "native", "numpy"), default=None)
    ap.add_argument("--warm", action="store_true", help="compile/load the numba kernels before timing")
    ap.add_argument("--json", type=Path, help="write the phase times here")
    ap.add_argument("--scheduler", default=None,
                    help="as reesim compare: default local pool from 256 replicates on 2+ cores; 'none': one process")
    args = ap.parse_args(argv)
    if args.backend:
        os.environ["REESIM_BACKEND"] = args.backend

    t_import = time.perf_counter()
    from simulator import kernels, load_scenario
    from simulator.chunks import run_scenarios_chunked
    from simulator.compare import Run, write_compare
    from simulator.engine import simulate
    from simulator.executors import make_executor, resolve_scheduler
    from simulator.network import compile_network
    from simulator.report.html import write_report
    from simulator.scenario import scenario_files

    phases = {"import": time.perf_counter() - t_import}
    if args.warm:
        t = time.perf_counter()
        simulate(compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml")), 2, seed=1)
        phases["warm-up (not in total)"] = time.perf_counter() - t

    def timed(name: str, f):
        t = time.perf_counter()
        out = f()
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return out

    paths = [Path(f) if Path(f).is_absolute() else ROOT / f for f in args.files]
    scenarios = timed("load", lambda: [load_scenario(p) for p in paths])
    nets = timed("compile", lambda: [compile_network(sc) for sc in scenarios])
    seed = args.seed if args.seed is not None else scenarios[0].seed
    names = [sc.name for sc in scenarios]
    where = resolve_scheduler(args.scheduler, None, args.n)
    if where is None:
        results = timed("simulate", lambda: [simulate(net, args.n, seed) for net in nets])
        runs = [Run(nm, sc, net, res) for nm, sc, net, res in zip(names, scenarios, nets, results)]
    else:  # what reesim compare does: replicates in chunks on the pool, series merged exactly
        ex = timed("simulate", lambda: make_executor(where))
        try:
            runs = timed("simulate", lambda: run_scenarios_chunked(list(zip(names, scenarios)), args.n, seed, ex))
        finally:
            ex.close()
    prov = {"command": "benchmarks/end_to_end.py " + " ".join(map(str, args.files)) + f" -n {args.n}",
            "sets": [], "run_time_s": sum(phases[k] for k in ("load", "compile", "simulate"))}
    files = {nm: scenario_files(p) for nm, p in zip(names, paths)}
    timed("metrics", lambda: write_compare(args.output, runs, prov, files))
    timed("report", lambda: write_report(args.output))
    total = sum(v for k, v in phases.items() if k not in ("import", "warm-up (not in total)"))
    print(f"backend {kernels.backend()}, R = {args.n}, {len(paths)} scenarios, seed {seed}, "
          f"{'one process' if where is None else where + ' pool'}")
    for k, v in phases.items():
        print(f"  {k:<24} {v:9.2f} s")
    print(f"  {'total (load..report)':<24} {total:9.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"backend": kernels.backend(), "R": args.n, "files": args.files,
                                         "scheduler": where,
                                         "phases_s": phases, "total_s": total}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
