"""Chunked runs: replicate chunks on an executor merge into the single run's per-replicate results."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import load_scenario
from simulator.chunks import PER_REPLICATE, merge_results, run_chunked, run_scenarios_chunked, split
from simulator.engine import simulate
from simulator.executors import make_executor
from simulator.network import compile_network

ROOT = Path(__file__).resolve().parent.parent
SHORT = ["horizon.end=2025-07-31"]


@pytest.fixture(scope="module")
def tutorial():  # type: ignore[no-untyped-def]
    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", SHORT)
    return sc, simulate(compile_network(sc), 7, 5)


def _same_per_replicate(a, b) -> None:  # type: ignore[no-untyped-def]
    for name in PER_REPLICATE:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert a.window_fill.keys() == b.window_fill.keys()
    for k in a.window_fill:
        assert np.array_equal(a.window_fill[k], b.window_fill[k])
    assert (a.replications, a.r0) == (b.replications, b.r0)


def test_chunks_here_and_on_a_pool_equal_one_run(tutorial) -> None:  # type: ignore[no-untyped-def]
    sc, whole = tutorial
    here = run_chunked(sc, 7, 5, executor=None, chunk=3)  # one chunk of 7 after alignment
    _same_per_replicate(here, whole)
    ex = make_executor("local", workers=2)
    try:
        pooled = run_chunked(compile_network(sc), 7, 5, executor=ex, chunk=2, align=2)
    finally:
        ex.close()
    _same_per_replicate(pooled, whole)
    assert pooled.timings["series_chunks"] == 1.0  # quantiles recomputed from the chunks' values
    assert pooled.series_values is None  # not carried by the merged result
    for k, s in whole.series.items():
        assert pooled.series[k].shape == s.shape
        np.testing.assert_allclose(pooled.series[k], s, rtol=1e-12, atol=1e-12, err_msg=k)


def test_pool_workers_write_series_values_into_a_shared_store_that_goes_with_the_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a local pool the workers write their per-replicate series values into the run's store (files in
    shared memory) instead of sending them back: the results arrive without them, the merged quantiles equal
    one run's bit for bit (origin series too, with the traced replicates ending inside a chunk), and the
    store's files are gone after the run, also when it fails."""
    import os

    import simulator.chunks as C

    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", [*SHORT, "report.trace_replicates=3"])
    assert sc.report.trace_stages
    whole = simulate(compile_network(sc), 7, 5)
    dirs, arrived = [], []
    real_open, real_attach = C.SeriesStore.open, C.SeriesStore.attach

    def spy_open(net, R):  # type: ignore[no-untyped-def]
        st = real_open(net, R)
        dirs.append(st.dir)
        return st

    def spy_attach(self, net, res):  # type: ignore[no-untyped-def]
        arrived.append(res.series_values)
        return real_attach(self, net, res)

    monkeypatch.setattr(C.SeriesStore, "open", staticmethod(spy_open))
    monkeypatch.setattr(C.SeriesStore, "attach", spy_attach)
    ex = make_executor("local", workers=2)
    try:
        pooled = run_chunked(compile_network(sc), 7, 5, executor=ex, chunk=2, align=2)
    finally:
        ex.close()
    assert len(dirs) == 1 and not os.path.exists(dirs[0])
    assert arrived == [None] * 3  # chunks [0, 2) [2, 4) [4, 7): no values in the results
    _same_per_replicate(pooled, whole)
    assert pooled.timings["series_chunks"] == 1.0 and pooled.series_values is None
    assert any(k.startswith("china_share_") for k in whole.series)
    for k, s in whole.series.items():
        np.testing.assert_array_equal(pooled.series[k], s, err_msg=k)
    with pytest.raises(RuntimeError), C._series_stores(type("Pool", (), {"name": "local"})(),
                                                       [(compile_network(sc), True)], 7) as (st,):
        assert os.path.isdir(st.dir)
        raise RuntimeError("a chunk failed")
    assert not os.path.exists(st.dir)


def test_chunks_beyond_the_memory_budget_merge_quantiles_approximately(tutorial, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import simulator.chunks as CH

    sc, whole = tutorial
    monkeypatch.setattr(CH, "SERIES_VALUES_BUDGET", 0)
    merged = run_chunked(sc, 7, 5, executor=None, chunk=2, align=2)
    _same_per_replicate(merged, whole)
    assert merged.timings["series_chunks"] == 3.0  # [0, 1] [2, 3] [4, 5, 6]
    fill = whole.series["fill"]
    # the mean across replicates merges exactly; quantiles are chunk-weighted means (documented)
    np.testing.assert_allclose(merged.series["fill"][..., 3], fill[..., 3], rtol=1e-12, atol=1e-12)
    assert not np.allclose(merged.series["fill"][..., :3], fill[..., :3], rtol=1e-9, atol=1e-9)


def test_one_chunk_is_the_run_itself(tutorial) -> None:  # type: ignore[no-untyped-def]
    sc, whole = tutorial
    one = run_chunked(sc, 7, 5, chunk=50)
    _same_per_replicate(one, whole)
    for k, s in whole.series.items():
        assert np.array_equal(one.series[k], s)
    assert one.timings["series_chunks"] == 1.0


def test_merge_refuses_gaps_and_foreign_chunks(tutorial) -> None:  # type: ignore[no-untyped-def]
    sc, _ = tutorial
    net = compile_network(sc)
    a, c = simulate(net, 2, 5, r0=0), simulate(net, 2, 5, r0=3)
    with pytest.raises(ValueError, match="not consecutive"):
        merge_results([a, c])
    other = dataclasses.replace(simulate(net, 2, 6, r0=2), seed=6)
    with pytest.raises(ValueError, match="field 'seed' differs"):
        merge_results([a, other])


def test_chunked_comparison_keeps_common_random_numbers(tutorial) -> None:  # type: ignore[no-untyped-def]
    sc, whole = tutorial
    allied = load_scenario(ROOT / "scenarios" / "tutorial_allied.yaml", SHORT)
    runs = run_scenarios_chunked([("a", sc), ("b", allied)], 7, 5, chunk=3)
    assert [r.name for r in runs] == ["a", "b"]
    _same_per_replicate(runs[0].result, whole)
    _same_per_replicate(runs[1].result, simulate(compile_network(allied), 7, 5))


def test_chunks_are_aligned_and_never_leave_one_replicate_alone() -> None:
    assert split(40, 16) == [(0, 16), (16, 16), (32, 8)]
    assert split(33, 10) == [(0, 16), (16, 17)]
    assert split(1, 16) == [(0, 1)]
    assert all(r0 % 16 == 0 for r0, _ in split(1000, 100))


def test_odd_replicate_counts_stay_bit_identical(tutorial) -> None:  # type: ignore[no-untyped-def]
    sc, _ = tutorial
    net = compile_network(sc)
    for R in (33, 35):
        _same_per_replicate(run_chunked(sc, R, 5, chunk=16), simulate(net, R, 5))


def test_cli_run_and_compare_chunked_on_local_pool_match_unchunked(tmp_path):
    """`reesim run/compare --scheduler local --chunk` give the same per-market means as one chunk."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    tut = str(root / "scenarios" / "tutorial.yaml")
    allied = str(root / "scenarios" / "tutorial_allied.yaml")

    def go(*args):
        r = subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True, cwd=root)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr

    go("run", tut, "-n", "48", "--set", "horizon.end=2025-12-31", "-o", str(tmp_path / "a"))
    go("run", tut, "-n", "48", "--set", "horizon.end=2025-12-31", "--scheduler", "local", "--chunk", "16",
       "-o", str(tmp_path / "b"))
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    for m in a["markets"]:
        for metric in ("fill_rate", "unmet_t", "tts_days", "ttr_days"):
            assert a["markets"][m][metric]["mean"] == b["markets"][m][metric]["mean"]
    go("compare", tut, allied, "-n", "32", "--set", "horizon.end=2025-12-31", "--scheduler", "local",
       "--chunk", "16", "-o", str(tmp_path / "c"))
    c = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert "differences" in c


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 4), parts=st.lists(st.integers(0, 9), min_size=1, max_size=4), k=st.integers(1, 3),
       seed=st.integers(0, 2**31), ties=st.booleans(), nan=st.booleans())
def test_sorted_quantiles_equal_numpy_bit_for_bit(n, parts, k, seed, ties, nan):
    """quantile_rows_of (chunks' values joined without concatenating, sorted along R) and quantiles
    (1-D) give np.quantile's numbers exactly, with ties and NaN rows; the mean is each interval's."""
    from simulator.metrics import QUANTILES, quantile_rows_of, quantiles

    rng = np.random.default_rng(seed)
    vals = [rng.standard_normal((n, r, k)) for r in parts]
    if ties:
        vals = [np.round(v) for v in vals]
    if nan and sum(parts):
        j = next(i for i, r in enumerate(parts) if r)
        vals[j][0, 0, 0] = np.nan
    got = quantile_rows_of(vals)
    joined = np.concatenate(vals, axis=1)
    if joined.shape[1] == 0:
        assert np.isnan(got).all()
        return
    np.testing.assert_array_equal(got[..., :3], np.moveaxis(np.quantile(joined, QUANTILES, axis=1), 0, -1))
    np.testing.assert_array_equal(got[..., 3], np.stack([joined[i].mean(axis=0) for i in range(n)]))
    x = joined[-1, :, -1]
    if not np.isnan(x).any():
        np.testing.assert_array_equal(quantiles(x), np.quantile(x, QUANTILES))


def test_chunks_on_an_executor_step_on_one_thread(tutorial, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The pool's (or Dask's) workers already fill the cores: their chunks, and sweep points, must not start
    step threads of their own, while chunks run here may (the machine counted as two cores)."""
    import concurrent.futures as cf

    pytest.importorskip("numba")
    from simulator import _numba_step
    from simulator import engine as eng
    from simulator import kernels as K
    from simulator.sweep import evaluate_point

    sc, _ = tutorial
    pools: list[int] = []

    class Counting(cf.ThreadPoolExecutor):
        def __init__(self, n: int, **kw) -> None:  # type: ignore[no-untyped-def]
            pools.append(n)
            super().__init__(n, **kw)

    class Recording:  # an executor running tasks here
        workers = 2

        def submit(self, fn, *args):  # type: ignore[no-untyped-def]
            f: cf.Future = cf.Future()
            f.set_result(fn(*args))
            return f

        def as_completed(self, futs):  # type: ignore[no-untyped-def]
            return iter(futs)

        def cancel(self, futs) -> None:  # type: ignore[no-untyped-def]
            pass

    prev = K.backend()
    try:
        K.set_backend("numba")
        monkeypatch.setattr(eng, "ThreadPoolExecutor", Counting)
        monkeypatch.setattr(_numba_step, "threads_for", lambda R: 2)
        here = run_chunked(sc, 48, 5, executor=None, chunk=16)
        assert pools == [2, 2, 2]  # the control: chunks run here do start them
        pools.clear()
        res = run_chunked(sc, 48, 5, executor=Recording(), chunk=16)
        evaluate_point(sc, 80, 5, [])
        assert pools == []
    finally:
        K.set_backend(prev)
    _same_per_replicate(res, here)


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 3000), st.integers(1, 600), st.integers(0, 3000), st.sampled_from([1, 8, 16]),
       st.sampled_from([2.5, 3.0, 5.6]))
def test_balanced_chunks_cover_the_run_aligned_and_no_less_even(R, size, traced, align, TRACED_COST) -> None:
    """Balanced boundaries: the same number of chunks, contiguous over 0 .. R-1, starts multiples of align,
    no single-replicate last chunk, and the costliest chunk no costlier than with the uniform split."""
    from simulator.chunks import balanced

    parts = split(R, size, align)
    out = balanced(parts, traced, align, cost=TRACED_COST)
    assert len(out) == len(parts)
    assert out[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(out, out[1:])) and out[-1][0] + out[-1][1] == R
    assert all(n >= 1 for _, n in out) and all(a % align == 0 for a, _ in out)
    assert len(out) == 1 or out[-1][1] > 1

    def cost(a: int, n: int) -> float:
        return n + (TRACED_COST - 1) * max(0, min(n, traced - a))

    assert max(cost(*p) for p in out) <= max(cost(*p) for p in parts) + align * TRACED_COST


def test_chunked_run_refuses_results_that_would_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # every chunk fits on its worker, but the merged results come back to this process: refused before any
    # chunk runs, saying how many replicates would fit (all 100 are traced here, so the estimate is 100 x
    # a per-replicate size, and one byte less than it allows 99)
    import simulator.chunks as C
    from simulator.exceptions import ResourceError
    from simulator.memory import result_memory

    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))
    need = result_memory(net, 100)
    assert need % 100 == 0
    monkeypatch.setattr(C, "available_memory", lambda: need - 1)
    ran = []
    monkeypatch.setattr(C, "simulate_chunk", lambda *a, **k: ran.append(a))
    with pytest.raises(ResourceError, match=r"100 replicates need about .* use -n 99 or fewer"):
        run_chunked(net, 100, 1, None, chunk=16)
    with pytest.raises(ResourceError, match="use -n 99 or fewer"):
        run_scenarios_chunked([("a", net.scenario), ("b", net.scenario)], 100, 1, None, chunk=16)
    assert ran == []
    monkeypatch.setattr(C, "available_memory", lambda: need)
    assert C._chunk_plan(net, 100, None, 16)[0][0] == (0, 16)  # fits exactly


def test_abort_stops_busy_workers_without_waiting_for_them() -> None:
    # abort (Ctrl-C, a failed chunk) terminates the workers: it used to leave them waiting on their queue
    # while the interpreter's exit joined them (an interrupted compare could hang for good)
    import time

    ex = make_executor("local", workers=2)
    futs = [ex.submit(time.sleep, 60) for _ in range(3)]
    while not any(f.running() for f in futs):
        time.sleep(0.05)
    procs = list(ex._pool._processes.values())  # type: ignore[union-attr]
    assert len(procs) == 2
    ex.abort()  # returns once the workers are gone, not after their 60 s tasks
    assert not any(p.is_alive() for p in procs)


def test_ctrl_c_on_a_pool_run_stops_quietly(tmp_path: Path) -> None:
    # a terminal's Ctrl-C reaches every process of the job: the workers leave it to the parent, which
    # stops them and says so; exit 130, no traceback from any process, no worker left behind
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "run", str(ROOT / "scenarios" / "tutorial.yaml"),
                             "-n", "20000", "--chunk", "64", "--scheduler", "local", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # until the pool's workers are running chunks
        kids = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if len(kids) >= 4 and proc.poll() is None:  # the parent, the forkserver, two workers
            break
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "reesim: interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    for _ in range(100):  # the forkserver and resource tracker follow their parent out
        left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def test_sigterm_on_a_pool_run_stops_it_like_ctrl_c_and_leaves_no_series_store(tmp_path: Path) -> None:
    # `timeout`, batch schedulers and `docker stop` send SIGTERM to the parent alone: it stops like Ctrl-C
    # (exit 130, no traceback) and removes its series store from shared memory (hundreds of MB of RAM)
    import signal
    import subprocess
    import sys
    import time

    from simulator.chunks import SeriesStore

    proc = subprocess.Popen([sys.executable, "-m", "simulator", "run", str(ROOT / "scenarios" / "tutorial.yaml"),
                             "-n", "20000", "--chunk", "64", "--scheduler", "local", "-o", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pattern = f"{SeriesStore.PREFIX}{proc.pid}-*"
    shm = [Path(d) for d in ("/dev/shm", tempfile.gettempdir()) if Path(d).is_dir()]
    deadline = time.time() + 120
    while time.time() < deadline and not any(list(d.glob(pattern)) for d in shm) and proc.poll() is None:
        time.sleep(0.2)
    assert any(list(d.glob(pattern)) for d in shm), "the run made no series store"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "reesim: interrupted" in err and "Traceback" not in err
    assert not any(list(d.glob(pattern)) for d in shm)


def test_series_stores_of_dead_processes_are_cleared(tmp_path: Path) -> None:
    # a run killed outright (SIGKILL, the OOM killer) leaves its store; the next run removes it, and only it
    import subprocess
    import sys

    from simulator.chunks import SeriesStore

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    for name in (f"{dead}-abc", f"{os.getpid()}-mine", "1-init", "notapid-x"):
        (tmp_path / f"{SeriesStore.PREFIX}{name}").mkdir()
    SeriesStore.clear_orphans(str(tmp_path))
    left = sorted(p.name[len(SeriesStore.PREFIX):] for p in tmp_path.iterdir())
    assert left == sorted([f"{os.getpid()}-mine", "1-init", "notapid-x"])
