"""The numba and numpy kernels give the same Results (to 1e-12), with demand noise on."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import make_network_yaml

from simulator import kernels as K
from simulator import load_scenario
from simulator.engine import simulate
from simulator.network import compile_network

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]


def run_both(net, R: int, seed: int):
    prev = K.backend()
    try:
        out = {}
        for name in ("numpy", "numba"):
            assert K.set_backend(name) == name
            out[name] = simulate(net, R, seed=seed)
    finally:
        K.set_backend(prev)
    return out["numpy"], out["numba"]


def arrays(res) -> dict[str, np.ndarray]:
    """Every numeric array of a Result, by name (dict fields flattened)."""
    out = {}
    for f in dataclasses.fields(res):
        v = getattr(res, f.name)
        if isinstance(v, np.ndarray) and v.dtype.kind in "fiub":
            out[f.name] = v
        elif isinstance(v, dict):
            for k, x in v.items():
                if isinstance(x, np.ndarray) and x.dtype.kind in "fiub":
                    out[f"{f.name}.{k}"] = x
    return out


def assert_same(a, b) -> None:
    xa, xb = arrays(a), arrays(b)
    assert xa.keys() == xb.keys() and xa
    for k in xa:
        x, y = np.asarray(xa[k], dtype=float), np.asarray(xb[k], dtype=float)
        assert x.shape == y.shape, k
        fin = np.isfinite(x)
        assert np.array_equal(fin, np.isfinite(y)) and np.array_equal(x[~fin], y[~fin], equal_nan=True), k
        x, y = x[fin], y[fin]
        scale = max(1.0, float(np.abs(x).max())) if x.size else 1.0
        err = float(np.abs(x - y).max()) / scale if x.size else 0.0
        assert err <= 1e-12, f"{k}: numba and numpy differ by {err:.3g} (relative)"


def test_tutorial_same_results_both_backends():
    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))
    a, b = run_both(net, 16, seed=7)
    assert a.demand_t.std() > 0  # noise is on
    assert_same(a, b)


def test_generated_100_facility_network_same_results_both_backends(tmp_path):
    text = make_network_yaml(10, 10, 10, 70, 25, seed=3, horizon_days=365, with_stockpile=True, with_recycler=True)
    p = tmp_path / "gen100.yaml"
    p.write_text(text)
    net = compile_network(load_scenario(p))
    assert net.sizes["F"] >= 100
    a, b = run_both(net, 6, seed=11)
    assert np.any(net.dem_noise_cv > 0)
    assert_same(a, b)


def test_largest_real_scenario_same_results_both_backends():
    """Export controls with re-routing, stockpile releases, recycling and plants coming online in
    2026-2029 (the compiled step's shortcut for plants not online yet), over five years."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "controls_2027_allied.yaml",
                                        ["report.trace_replicates=2"]))
    assert np.isfinite(net.online_step).any()
    a, b = run_both(net, 3, seed=5)
    assert a.released_t.sum() > 0 and a.collected_t.sum() > 0 and a.dependency.shape[0] == 2
    assert_same(a, b)


def test_logistics_delays_same_results_both_backends():
    """Stochastic logistics events, overlapping ones included: the compiled step's arrival row for a
    delayed shipment (no division) is the numpy path's ``(t + lead) % ring_len``."""
    sc = load_scenario(ROOT / "scenarios" / "random_risk.yaml",
                       ["events.red_sea_rerouting.stochastic.rate_per_year=6", "horizon.end=2026-06-30"])
    a, b = run_both(compile_network(sc), 16, sc.seed)
    assert a.shipped_t.sum() > 0
    assert_same(a, b)


def test_parallel_step_equals_the_serial_step(monkeypatch):
    """Blocks of replicates on threads give every replicate's results bit for bit (one thread below 64)."""
    import numba

    from simulator import _numba_step

    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml", ["report.trace_replicates=20"]))
    prev = K.backend()
    try:
        K.set_backend("numba")
        assert _numba_step.threads_for(40) == 1
        serial = simulate(net, 40, seed=3)
        monkeypatch.setattr(_numba_step, "PARALLEL_FROM", 1)
        assert _numba_step.threads_for(40) == numba.config.NUMBA_NUM_THREADS
        monkeypatch.setattr(_numba_step, "threads_for", lambda R: 3)
        parallel = simulate(net, 40, seed=3)  # 3 threads, each on interleaved chunks of 8 (0 and 3, 1 and 4, 2)
        assert not [t for t in threading.enumerate() if t.name.startswith("reesim-step")]  # none outlives the run
    finally:
        K.set_backend(prev)
    xa, xb = arrays(serial), arrays(parallel)
    assert xa.keys() == xb.keys()
    for k in xa:
        assert np.array_equal(xa[k], xb[k], equal_nan=True), k


def test_blas_on_one_thread_during_a_compiled_run_only():
    """The compiled step holds BLAS to one thread during the run, also on one step thread (R < 64), where
    BLAS's idle threads would only spin; BLAS gets its threads back after the run."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    libs = [p["filepath"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]  # numpy's

    def blas_threads() -> list[int]:  # (numba loads scipy's BLAS during the run; the step never calls it)
        n = {p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}
        return [n[f] for f in libs]

    before = blas_threads()
    if not before or max(before) < 2:
        pytest.skip("numpy without a multi-threaded BLAS threadpoolctl can see")
    seen: list[list[int]] = []
    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))

    def look(t: int, _: object) -> None:
        if t % 100 == 0:
            seen.append(blas_threads())

    prev = K.backend()
    try:
        K.set_backend("numba")
        simulate(net, 8, seed=1, observer=look)
        assert seen and all(n == [1] * len(before) for n in seen)
        seen.clear()
        K.set_backend("numpy")  # numpy's kernels keep BLAS's threads (its matrix products are the work)
        simulate(net, 8, seed=1, observer=look)
        assert seen and all(n == before for n in seen)
    finally:
        K.set_backend(prev)
    assert blas_threads() == before


def test_backend_switch_and_env(monkeypatch):
    prev = K.backend()
    try:
        assert K.set_backend("numpy") == "numpy" and K.compiled() is None
        assert K.set_backend("numba") == "numba" and K.compiled() is not None
        with pytest.raises(ValueError):
            K.set_backend("fortran")
    finally:
        K.set_backend(prev)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 10, 16, 17, 30, 128, 129, 130, 300])
def test_compiled_segment_sum_adds_as_reduceat(n):
    """The compiled step's segment sum gives np.add.reduceat's bits: x0 + numpy's pairwise sum of
    the rest (one by one below 8 values, eight partial sums up to 128, recursion beyond). A
    9-column segment once went one by one and differed in the last bit in a third of cases."""
    from simulator._numba_parts import _ss

    rng = np.random.default_rng(n)
    for _ in range(50):
        x = rng.random((3, 400)) * 10.0 ** rng.uniform(-3, 6, (3, 400))
        perm = rng.permutation(400)
        a = int(rng.integers(0, 400 - n + 1))
        want = np.add.reduceat(x[:, perm], np.array([a, a + n]) if a + n < 400 else np.array([a]), axis=1)[1, 0]
        assert _ss(x, 1, perm.astype(np.uint64), np.uint64(a), np.uint64(a + n)) == want


@pytest.mark.parametrize(("name", "module"), [("PARTS_SHA256", "_numba_parts.py"),
                                              ("PIPELINE_SHA256", "_numba_pipeline.py")])
def test_compiled_step_file_names_the_parts_it_inlines(name, module):
    """numba's cache of _numba_kernel keys on that file only: editing _numba_parts.py (inlined) or
    _numba_pipeline.py (the compiler passes) without it would leave every installed cache running
    the old code. Update the constant with the file."""
    import hashlib

    from simulator import _numba_kernel

    digest = hashlib.sha256((ROOT / "simulator" / module).read_bytes()).hexdigest()[:16]
    assert getattr(_numba_kernel, name) == digest, (
        f"simulator/{module} changed: set {name} in simulator/_numba_kernel.py to {digest}")
