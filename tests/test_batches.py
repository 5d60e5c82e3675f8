"""The compiled step runs several steps per call (batches); results equal one call per step, bit for bit.

Between two calls the engine lets SimPy fire events, records reporting intervals, draws
demand noise and collects scrap. A batch must therefore end where any of these acts
on the step after it (``engine.simulate``: ``batch_stop``; commissions that only add
capacity are taken step by step inside a batch). An observer forces one step per
call, which gives the reference here: same seed, same network, every numeric field
of the Result compared with ``array_equal``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_network_yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_backends import arrays
from test_differential import networks

from simulator import kernels as K
from simulator import load_scenario
from simulator.engine import simulate
from simulator.network import compile_network

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _numba_backend():
    prev = K.backend()
    K.set_backend("numba")
    yield
    K.set_backend(prev)


def batched_and_stepwise(net, R: int, seed: int, monkeypatch, steps: int | None = None) -> tuple[object, object, list[int]]:
    """Results of a batched run and of a run with one step per call, and the batch lengths used."""
    from simulator import _numba_step

    sizes: list[int] = []
    step = _numba_step.step

    def counting(t0, k, *args, **kw):
        sizes.append(int(k))
        step(t0, k, *args, **kw)

    monkeypatch.setattr(_numba_step, "step", counting)
    batched = simulate(net, R, seed=seed, steps=steps)
    n_batches = len(sizes)
    stepwise = simulate(net, R, seed=seed, observer=lambda t, s: None, steps=steps)
    assert len(sizes) - n_batches == (steps or net.n_steps)  # the observer run: one call per step
    return batched, stepwise, sizes[:n_batches]


def assert_identical(a, b) -> None:
    xa, xb = arrays(a), arrays(b)
    assert xa.keys() == xb.keys() and xa
    for k in xa:
        assert np.array_equal(xa[k], xb[k], equal_nan=True), f"{k} differs between batched and one-step calls"


def test_largest_scenario_batched_equals_stepwise(monkeypatch):
    """Export controls, re-routing, stockpile releases, recycling, commissions ramping capacity every day,
    plants coming online, event windows: the first 1000 days of it."""
    net = compile_network(load_scenario(ROOT / "scenarios" / "controls_2027_allied.yaml",
                                        ["report.trace_replicates=2"]))
    a, b, sizes = batched_and_stepwise(net, 3, 5, monkeypatch, steps=1000)
    assert max(sizes) == 7 and sum(sizes) == 1000  # weekly intervals bound the batches
    assert len(sizes) < 1000 / 4  # commissions' daily ramps (from day 365) are taken inside batches
    assert a.released_t.sum() > 0 and a.collected_t.sum() > 0 and a.window_fill
    assert_identical(a, b)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=networks(), noise=st.booleans(), lifetime=st.sampled_from([1, 3, 20]),
       interval=st.sampled_from([1, 5, 7, 30]), outages=st.booleans())
def test_generated_networks_batched_equals_stepwise(tmp_path_factory, monkeypatch, doc, noise, lifetime, interval,
                                                    outages):
    """Generated chains with every kind of event, stockpiles, recyclers with short lifetimes (scrap
    arriving inside what would be a batch), demand noise and random outages per replicate."""
    for m in doc["markets"].values():
        for d in m["demand"].values():
            d["noise_cv"] = 0.2 if noise else 0.0
    for r in doc.get("recyclers", {}).values():
        r["collects"]["lifetime_days"] = lifetime
    if outages:
        f = min(doc["facilities"])
        doc["facilities"][f]["outages"] = {"rate_per_year": 20, "duration_days": 4, "capacity_lost": 0.7}
    doc.setdefault("report", {})["interval_days"] = interval
    p = tmp_path_factory.mktemp("batch") / "gen.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    net = compile_network(load_scenario(p))
    a, b, sizes = batched_and_stepwise(net, 9, 3, monkeypatch)
    assert sum(sizes) == net.n_steps and max(sizes) <= max(1, interval)
    if doc.get("recyclers"):
        assert max(sizes) <= lifetime
    assert_identical(a, b)


@pytest.mark.parametrize("start", ["2025-02-04", "2025-02-10"])
def test_commission_before_a_plant_is_online_cuts_the_batch(tmp_path, monkeypatch, start):
    """Capacity commissioned for a plant before its online date brings its links back into the order
    shares at once; a batch must end there (the shares of plants not yet online change mid-week)."""
    doc = yaml.safe_load(make_network_yaml(3, 2, 2, 3, 4, seed=5, horizon_days=120, with_stockpile=True))
    late = min(f for f, x in doc["facilities"].items() if x["stage"] == "mine")
    doc["facilities"][late]["online"] = "2025-03-20"
    doc["facilities"][late]["ramp_days"] = 0
    doc["events"] = [{"id": "new", "type": "commission", "facility": late, "capacity": 3000,
                      "ramp_days": 10, "start": start}]
    p = tmp_path / "late.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    net = compile_network(load_scenario(p))
    a, b, sizes = batched_and_stepwise(net, 4, 2, monkeypatch)
    starts = np.cumsum([0] + sizes[:-1])
    day = (np.datetime64(start) - np.datetime64("2025-01-01")).astype(int)
    assert day % 7 and day in starts  # a batch starts on the commission's first day, mid-week
    assert a.shipped_t.sum() > 0
    assert_identical(a, b)
