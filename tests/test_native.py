"""The native backend (SIMD across replicates in C++, ``simulator/_native_step.py``) gives the numba
backend's Results to the last bit: whole ``simulate`` results compared array by array, with demand noise on.
Skipped where the native backend is unavailable (no C++ compiler, or numba missing)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_network_yaml
from test_backends import arrays

from simulator import kernels as K
from simulator import load_scenario
from simulator.engine import simulate
from simulator.network import compile_network

pytest.importorskip("numba")
ROOT = Path(__file__).resolve().parents[1]

_mod, _why = K._import_native()
pytestmark = pytest.mark.skipif(_mod is None, reason=_why or "native backend unavailable")


def run_both(net, R: int, seed: int, **kw):
    from simulator import _native_step

    prev = K.backend()
    try:
        out = {}
        for name in ("numba", "native"):
            assert K.set_backend(name) == name
            out[name] = simulate(net, R, seed=seed, **kw)
            if name == "native":
                assert _native_step.last_fallback is None, _native_step.last_fallback  # it did run natively
    finally:
        K.set_backend(prev)
    return out["numba"], out["native"]


def assert_identical(a, b) -> None:
    xa, xb = arrays(a), arrays(b)
    assert xa.keys() == xb.keys() and xa
    for k in xa:
        x, y = np.asarray(xa[k]), np.asarray(xb[k])
        assert x.shape == y.shape, k
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{k}: numba and native differ"


def test_tutorial_identical():
    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))
    a, b = run_both(net, 24, seed=7)
    assert a.demand_t.std() > 0
    assert_identical(a, b)


def test_allied_traced_and_untraced_chunks_identical():
    """21 replicates (the last chunk has 5 lanes), the first 10 traced: chunk 0 traced, chunk 1 mixed, chunk 2 not."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "allied_supply.yaml",
                                        ["report.trace_replicates=10"]))
    a, b = run_both(net, 21, seed=3, steps=500)
    assert a.dependency.shape[0] == 10
    assert_identical(a, b)


def test_allied_on_two_threads_identical():
    """Replicates 90..159 of a run tracing the first 100: two chunks with traced lanes, seven without, on two
    threads."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "allied_supply.yaml"))
    a, b = run_both(net, 70, seed=4, steps=400, threads=2, r0=90)
    assert a.dependency.shape[0] == 10
    assert_identical(a, b)


def test_largest_real_scenario_identical():
    """Export controls with re-routing, stockpile releases, recycling, plants coming online."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "controls_2027_allied.yaml",
                                        ["report.trace_replicates=2"]))
    a, b = run_both(net, 19, seed=5)
    assert a.released_t.sum() > 0 and a.collected_t.sum() > 0
    assert_identical(a, b)


def test_generated_network_with_stockpile_and_recycler_identical(tmp_path):
    text = make_network_yaml(10, 10, 10, 70, 25, seed=3, horizon_days=365, with_stockpile=True, with_recycler=True)
    p = tmp_path / "gen100.yaml"
    p.write_text(text)
    net = compile_network(load_scenario(p))
    a, b = run_both(net, 13, seed=11)
    assert_identical(a, b)


@pytest.mark.parametrize("name", ["random_risk", "embargo_japan_2010", "export_controls_2025"])
def test_logistics_reroute_substitution_scenarios_identical(name):
    """random_risk: logistics delays per replicate (ring rows per lane) and random outages;
    embargo_japan_2010: re-routing, substitution, a policy event; export_controls_2025: quotas."""
    net = compile_network(load_scenario(ROOT / "scenarios" / f"{name}.yaml"))
    a, b = run_both(net, 17, seed=2, steps=900)
    assert_identical(a, b)


def test_commission_in_some_replicates_before_online_identical(tmp_path):
    """Capacity commissioned in some replicates only (stochastic) for a plant not online yet: the order
    shares differ per replicate (the per-lane path for plants not online yet), plus re-routing."""
    doc = yaml.safe_load(make_network_yaml(3, 3, 3, 4, 5, seed=5, horizon_days=400, with_stockpile=True))
    late = min(f for f, x in doc["facilities"].items() if x["stage"] == "separation")
    doc["facilities"][late]["online"] = "2025-09-01"
    doc["facilities"][late]["ramp_days"] = 0
    doc["events"] = [{"id": "new", "type": "commission", "facility": late, "capacity": 3000, "ramp_days": 10,
                      "stochastic": {"rate_per_year": 2.0, "duration_days": 30}},
                     {"id": "out", "type": "outage", "facilities": [late], "capacity_lost": 1.0,
                      "stochastic": {"rate_per_year": 3.0, "duration_days": {"uniform": {"low": 5, "high": 40}}}}]
    doc["policies"] = {"reroute_after_days": 5}
    p = tmp_path / "late.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    net = compile_network(load_scenario(p))
    a, b = run_both(net, 16, seed=8)
    assert_identical(a, b)


def test_observer_runs_on_numba_and_matches():
    """An observer reads every replicate's per-step outputs: the native backend runs numba's kernel."""
    from simulator import _native_step

    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))
    seen = []
    prev = K.backend()
    try:
        K.set_backend("native")
        simulate(net, 9, seed=1, steps=20, observer=lambda t, s: seen.append(t))
        assert _native_step.last_fallback and "observer" in _native_step.last_fallback
    finally:
        K.set_backend(prev)
    assert seen == list(range(20))


def test_backend_selection_and_unavailable(monkeypatch):
    from simulator import _native_step

    prev = K.backend()
    try:
        assert K.set_backend("native") == "native" and K.compiled() is _native_step
        assert K.set_backend("numba") == "numba"
    finally:
        K.set_backend(prev)
    monkeypatch.setattr(_native_step, "_lib", None)
    monkeypatch.setattr(_native_step, "_reason", None)
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    lib, why = _native_step.load()
    assert lib is None and "does not run" in why
    with pytest.raises(ImportError, match="unavailable"):
        K.set_backend("native")
    assert K.backend() == prev


def test_auto_takes_native_lazily_and_falls_back_to_numba(monkeypatch):
    """``auto`` picks native where a compiler is found without building anything at once; when the build
    then fails, backend() says numba and runs give numba's results (the library is tried once)."""
    from simulator import _native_step

    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))
    prev = K.backend()
    try:
        K.set_backend("numba")
        ref = simulate(net, 12, seed=3)
        monkeypatch.setattr(_native_step, "_lib", None)
        monkeypatch.setattr(_native_step, "_reason", None)
        monkeypatch.setenv("CXX", "/nonexistent/c++")
        assert K.set_backend("auto") == "native" and K.compiled() is _native_step
        assert _native_step._lib is None and _native_step._reason is None  # nothing tried yet
        assert K.backend() == "numba" and K.compiled() is not _native_step
        assert "does not run" in (_native_step._reason or "")
        assert_identical(ref, simulate(net, 12, seed=3))
        monkeypatch.delenv("CXX")
        monkeypatch.setenv("PATH", "/nonexistent")
        assert K.set_backend("auto") == "numba"  # no compiler at all
    finally:
        monkeypatch.undo()
        K.set_backend(prev)


def test_build_failure_is_a_reason_remembered(monkeypatch, tmp_path):
    """A failed build is a reason, and is remembered: later processes fall back at once instead of compiling
    again (every pool worker of every run did)."""
    from simulator import _native_step

    bad = tmp_path / "lanes.cpp"
    bad.write_text("this is not C++\n")
    monkeypatch.setattr(_native_step, "SOURCE", bad)
    monkeypatch.setattr(_native_step, "_cache_dirs", lambda: [tmp_path / "cache"])
    monkeypatch.setattr(_native_step, "_lib", None)
    monkeypatch.setattr(_native_step, "_reason", None)
    lib, why = _native_step.load()
    assert lib is None and "failed to compile" in why
    assert list((tmp_path / "cache").glob("lanes-*.failed"))
    monkeypatch.setattr(_native_step, "_reason", None)
    def run(args, **kw):  # type: ignore[no-untyped-def]
        if "--version" in args:
            return type("Done", (), {"stdout": "g++ 12", "returncode": 0})()
        pytest.fail("compiled again")

    monkeypatch.setattr(_native_step.subprocess, "run", run)
    monkeypatch.setattr(_native_step, "compiler", lambda: ["g++"])
    monkeypatch.setattr(_native_step, "library_key", lambda cxx, version: next(
        (tmp_path / "cache").glob("lanes-*.failed")).name[len("lanes-"):-len(".failed")])
    lib, why = _native_step.load()
    assert lib is None and "failed to compile" in why and "remembered" in why


def test_a_damaged_cached_library_is_rebuilt_not_loaded(monkeypatch, tmp_path):
    """A cached library cut short (a build killed or a crash while it was written) is never loaded: dlopen of a
    truncated one crashed the process with SIGBUS. Without its checksum beside it, or with one that does not
    match, it is built anew."""
    from simulator import _native_step

    lib, why = _native_step.load()  # this process's library (mapped: never rewrite that file in place)
    assert lib is not None, why
    good = Path(lib._name)  # the library of this source, compiler and processor
    whole = good.read_bytes()
    monkeypatch.setattr(_native_step, "_cache_dirs", lambda: [tmp_path])
    for sidecar in (False, True):
        so = tmp_path / good.name
        so.unlink(missing_ok=True)  # a new file: the one loaded in the first round is mapped
        so.write_bytes(whole[:65536])
        if sidecar:
            so.with_suffix(".sha256").write_text(_native_step._digest(good))
        else:
            so.with_suffix(".sha256").unlink(missing_ok=True)
        assert not _native_step._whole(so)
        monkeypatch.setattr(_native_step, "_lib", None)
        monkeypatch.setattr(_native_step, "_reason", None)
        lib, why = _native_step.load()
        assert lib is not None, why
        assert _native_step._whole(so) and len(so.read_bytes()) > 65536
        assert so.stat().st_mode & 0o044  # readable by others sharing the install


def test_threads_share_nothing_between_runs():
    """Two runs at once on Python threads (thread-local scratch and share caches in the library)."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "tutorial.yaml"))
    prev = K.backend()
    try:
        K.set_backend("native")
        ref = simulate(net, 16, seed=5)
        out = [None, None]

        def go(i):
            out[i] = simulate(net, 16, seed=5)

        ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        K.set_backend(prev)
    for o in out:
        assert_identical(ref, o)


# --------------------------------------------------------------------------- origin tags in lanes.cpp
# Chunks holding traced replicates run natively too (lanes.cpp's tag_steps): numba's and the native
# backend's tags, dependency shares and interval series must agree to the last bit.


def _tracer_of(net):
    from simulator.tracing import Tracer

    return Tracer(net, 1)


def test_traced_lanes_mixed_with_untraced_in_a_chunk_identical():
    """13 traced of 27 (chunk 1 holds 5 traced and 3 untraced lanes, chunk 3 has 3 lanes); allied has
    facilities with several inputs (the used-weighted mixing of input tags) and C = 23 tag columns."""
    from simulator import _native_step

    assert not _native_step.TRACED_ON_NUMBA
    net = compile_network(load_scenario(ROOT / "scenarios" / "allied_supply.yaml", ["report.trace_replicates=13"]))
    tr = _tracer_of(net)
    assert not tr._single_input and tr.C > 16
    a, b = run_both(net, 27, seed=6, steps=450)
    assert a.dependency.shape[0] == 13 and 0 < a.dependency.max() < 1.0 + 1e-12
    assert_identical(a, b)


def test_traced_run_starting_inside_the_traced_replicates_identical():
    """Replicates 94..113 of a run tracing 100 (r0 = 94): 6 traced then untraced lanes, one thread."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "allied_supply.yaml"))
    a, b = run_both(net, 20, seed=9, steps=300, r0=94)
    assert a.dependency.shape[0] == 6
    assert_identical(a, b)


def test_untraced_lanes_unchanged_by_native_tags():
    """The untraced replicates of a chunk give the same results whether the traced ones of their chunk
    run natively or on numba's kernel (the previous split)."""
    from simulator import _native_step

    net = compile_network(load_scenario(ROOT / "scenarios" / "allied_supply.yaml", ["report.trace_replicates=5"]))
    prev = K.backend()
    try:
        K.set_backend("native")
        a = simulate(net, 16, seed=2, steps=300)
        _native_step.TRACED_ON_NUMBA = True
        b = simulate(net, 16, seed=2, steps=300)
    finally:
        _native_step.TRACED_ON_NUMBA = False
        K.set_backend(prev)
    assert_identical(a, b)


def test_controls_allied_traced_with_releases_identical():
    """Stockpile releases into traced replicates (the release tags, channel by channel), recycling."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "controls_2027_allied.yaml",
                                        ["report.trace_replicates=11"]))
    a, b = run_both(net, 17, seed=5)
    assert a.released_t.sum() > 0 and a.dependency.shape[0] == 11
    assert_identical(a, b)


@pytest.mark.parametrize("name", ["tutorial_allied", "embargo_japan_2010", "random_risk"])
def test_trace_all_identical(name):
    """trace_replicates: all; tutorial_allied has C = 6 tag columns (a masked vector) and single inputs."""
    net = compile_network(load_scenario(ROOT / "scenarios" / f"{name}.yaml", ["report.trace_replicates=all"]))
    a, b = run_both(net, 19, seed=4, steps=700)
    assert a.dependency.shape[0] == 19
    assert_identical(a, b)


def test_generated_network_traced_all_stages_identical(tmp_path):
    """Stockpile and recycler, all five stages traced (23 tag columns against 11 by default)."""
    text = make_network_yaml(10, 10, 10, 70, 25, seed=3, horizon_days=365, with_stockpile=True, with_recycler=True)
    doc = yaml.safe_load(text)
    doc.setdefault("report", {})["trace_stages"] = ["mine", "separation", "metal", "component", "recycler"]
    p = tmp_path / "gen_all.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    net = compile_network(load_scenario(p))
    assert _tracer_of(net).C > 16
    a, b = run_both(net, 11, seed=12)
    assert_identical(a, b)


def test_the_command_line_is_told_when_the_library_is_compiled(monkeypatch, tmp_path):
    """on_build runs before a compile, not when the library comes from the cache (reesim prints a line then)."""
    from simulator import _native_step

    calls = []
    monkeypatch.setattr(_native_step, "on_build", lambda: calls.append(1))
    monkeypatch.setattr(_native_step, "_cache_dirs", lambda: [tmp_path])
    for expected in (1, 1):  # compiled into the empty cache, then loaded from it
        monkeypatch.setattr(_native_step, "_lib", None)
        monkeypatch.setattr(_native_step, "_reason", None)
        lib, why = _native_step.load()
        assert lib is not None, why
        assert len(calls) == expected
