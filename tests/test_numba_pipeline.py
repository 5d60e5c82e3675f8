"""The whole-step kernel's compiler pipeline (simulator/_numba_pipeline.py): copy propagation drops the
reference counting of arrays passed to inlined helpers, and changes no result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json
    import numba
    import numpy as np
    from simulator._numba_pipeline import COPY_PROPAGATION, StepCompiler

    @numba.njit(inline="always")
    def seg_sum(x, r, perm, a, b):  # the shape of _numba_parts._ss: an array bound to a new name per call
        s = 0.0
        for j in range(a, b):
            s += x[r, perm[j]]
        return s

    def body(x, y, perm, starts, out, n):
        for r in range(n):
            for u in range(starts.shape[0] - 1):
                s = seg_sum(x, r, perm, starts[u], starts[u + 1])
                if s > 3.0:
                    s += seg_sum(y, r, perm, starts[u], starts[u + 1])
                out[r, u] = s

    rng = np.random.default_rng(1)
    x, y = rng.random((5, 10)), rng.random((5, 10))
    perm, starts = rng.permutation(10), np.array([0, 3, 7, 10])
    res = {"copy_propagation": COPY_PROPAGATION}
    for name, fn in (("default", numba.njit(body)), ("step", numba.njit(pipeline_class=StepCompiler)(body))):
        out = np.zeros((5, 3))
        fn(x, y, perm, starts, out, 5)
        ir = "".join(fn.inspect_llvm().values())
        res[name] = {"out": out.tolist(), "incref": ir.count("call void @NRT_incref"),
                     "decref": ir.count("call void @NRT_decref")}
    print(json.dumps(res))
""")


def test_copy_propagation_drops_refcounts_of_inlined_array_arguments(tmp_path):
    """With LLVM's reference-count pruning off (it catches such pairs in small functions, not in the
    step), the step's pipeline leaves fewer increments and decrements than numba's default pipeline,
    and the same results."""
    env = dict(os.environ, NUMBA_LLVM_REFPRUNE_PASS="0", NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    res = json.loads(run.stdout.strip().splitlines()[-1])
    assert res["copy_propagation"], "numba's internals moved: the step compiles with the default pipeline (slower)"
    d, s = res["default"], res["step"]
    assert s["out"] == d["out"]
    assert s["incref"] < d["incref"] and s["decref"] < d["decref"], (d, s)


def test_step_kernel_compiles_with_the_pipeline():
    from simulator import _numba_kernel
    from simulator._numba_pipeline import StepCompiler

    assert _numba_kernel._step_block._compiler.pipeline_class is StepCompiler
    assert _numba_kernel._step_block.targetoptions.get("nogil") is True
