"""Core-loop benchmark (see simulator/bench.py): throughput, wall time, peak memory.

Usage, from the repository root::

    python benchmarks/core_loop.py                 # the standard set (long: R up to 10 000)
    python benchmarks/core_loop.py --quick         # what `reesim bench` runs
    python benchmarks/core_loop.py --json out.json
    python benchmarks/core_loop.py --only real --backend numpy --rs 1,100 --repeats 1

Options added here (they adjust the standard set of ``simulator/bench.py``):

- ``--backend numba|numpy|auto`` sets ``REESIM_BACKEND`` for the run (default: numba when
  installed); the kernels are compiled (or loaded from numba's cache) before timing.
- ``--rs 1,100,1000`` replicate counts instead of the set's; ``--repeats k`` runs per figure
  (median; runs with R > 1000 are timed once).

See benchmarks/README.md for what each figure means and the latest figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _pop(argv: list[str], flag: str) -> str | None:
    if flag in argv:
        i = argv.index(flag)
        if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
            raise SystemExit(f"core_loop.py: error: {flag} needs a value (see --help)")
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:  # the options added here, then the set's own
        print(__doc__)
        from simulator import bench

        return bench.main(["--help"])
    backend = _pop(argv, "--backend")
    rs = _pop(argv, "--rs")
    repeats = _pop(argv, "--repeats")
    if backend:
        os.environ["REESIM_BACKEND"] = backend
    from simulator import bench, load_scenario
    from simulator.engine import simulate
    from simulator.network import compile_network

    for cfg in bench.CONFIGS.values():
        if rs:
            cfg["Rs"] = tuple(int(x) for x in rs.split(","))
        if repeats:
            cfg["repeats"] = int(repeats)
    tutorial = Path.cwd() / "scenarios" / "tutorial.yaml"
    if tutorial.is_file():  # compile (or load) the kernels outside the timings
        simulate(compile_network(load_scenario(tutorial)), 2, seed=1)
    return bench.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
