"""Core-loop benchmark (see simulator/bench.py): throughput, wall time, peak memory.

Usage, from the repository root::

    python benchmarks/core_loop.py                 # the standard set (several minutes)
    python benchmarks/core_loop.py --quick         # what `reesim bench` runs
    python benchmarks/core_loop.py --json out.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.bench import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
