"""Engine: theory checks, hand-computed runs, randomness, invariants, CLI run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import load_scenario
from simulator.engine import estimate_memory, simulate
from simulator.events import EventPlan, compile_events
from simulator.exceptions import InvariantError, ResourceError
from simulator.network import compile_network
from simulator.rng import Streams

pytestmark = pytest.mark.usefixtures("backend")  # every test once per kernel backend

ROOT = Path(__file__).resolve().parents[1]


TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"

ONE_LINK = """
reesim: 1
name: one_link
seed: {seed}
replications: 10
horizon: {{start: 2025-01-01, end: {end}, step_days: 1}}
report: {{interval_days: 7}}
regions: {{AU: {{name: Australia, bloc: allied}}}}
products: {{magnet: {{unit: t, family: magnets}}}}
facilities:
  maker: {{region: AU, stage: component, capacity: 1000000, outputs: {{magnet: 1.0}}, finished_cover_days: 0}}
markets:
  m:
    region: AU
    sector: ev_motors
    demand: {{magnet: {{rate: 36500, noise_cv: {cv}}}}}
    stock: {{magnet: {{cover_days: {cover}, initial_days: {cover}}}}}
    unmet: {unmet}
links:
  - {{from: maker, to: m, product: magnet, lead_days: {lead}}}
events: {events}
"""


def one_link(tmp_path: Path, *, cv=0.0, cover=10, lead=1, unmet="lost", end="2025-06-30", events="[]", seed=1):
    p = tmp_path / "one_link.yaml"
    p.write_text(ONE_LINK.format(cv=cv, cover=cover, lead=lead, unmet=unmet, end=end, events=events, seed=seed))
    return compile_network(load_scenario(p))


def test_backorder_fill_rate_matches_base_stock_theory(tmp_path):
    # S = 680.581 = 6.80581 d x 100 t/d; protection interval L + 1 = 6 d; demand N(100, 20^2)/d.
    # Expected shortage per day = E[(D6 - S)+] - E[(D5 - S)+] = 48.990 * G(1.6449) = 1.0235 t,
    # so the fill rate is 1 - 1.0235/100 = 0.98977 (exact theory, standard normal loss function).
    net = one_link(tmp_path, cv=0.2, cover=6.80581, lead=5, unmet="backorder", end="2030-12-31")
    res = simulate(net, 40, seed=11)
    fill = res.served_t.sum() / res.demand_t.sum()
    assert fill == pytest.approx(0.98977, abs=0.003)


def test_lost_sales_fill_rate_sits_above_backorder_theory(tmp_path):
    net = one_link(tmp_path, cv=0.2, cover=6.80581, lead=5, unmet="lost", end="2030-12-31")
    res = simulate(net, 40, seed=11)
    fill = res.served_t.sum() / res.demand_t.sum()
    assert 0.992 < fill < 0.998  # an independent simulation gives about 0.995


def test_littles_law_in_transit_equals_throughput_times_lead(tmp_path):
    net = one_link(tmp_path, cv=0.2, cover=20, lead=12, end="2027-12-31")
    transit, shipped = [], []

    def obs(t, s):
        if t >= 100:
            transit.append(s["in_transit"].sum(axis=1).mean())
            shipped.append(s["shipped"].sum(axis=1).mean())

    simulate(net, 20, seed=3, observer=obs)
    assert np.mean(transit) == pytest.approx(np.mean(shipped) * 12, rel=0.01)


def test_ttr_counts_from_the_shortage_the_rolling_fill_falls_for(tmp_path):
    # The outage of the test below (steps 30..49: short steps 39..50, the 30-day rolling fill back at
    # 99 % at step 80), after a one-day demand spike at step 20: demand 920 t against 900 t on hand
    # before consumption, fill 900/920 = 0.978 < 0.99, so step 20 is the first day short (TTS 0 d from
    # the spike, the reference event). The rolling fill stays at 3800/3820 = 0.9948 >= 0.99: the spike
    # alone needs no recovery. It first falls below 99 % at step 39 (served 0; window 10..39:
    # 3700 / 3820 = 0.969) and is back at step 80: TTR = 80 - 20 = 60 d. Counting recovery from the
    # first day after the first short day on which the rolling fill is >= 99 % (before 2026-11-28) gave
    # 1 d, and hid the 12 days without supply that follow.
    ev = ("[{id: spike, type: demand_shock, markets: [m], factor: 9.2, start: 2025-01-21, end: 2025-01-22}, "
          "{id: down, type: outage, facilities: [maker], capacity_lost: 1.0, start: 2025-01-31, end: 2025-02-20}]")
    one_link(tmp_path, events=ev)  # writes one_link.yaml
    net = compile_network(load_scenario(tmp_path / "one_link.yaml", ["report.reference_event=spike"]))
    res = simulate(net, 2, seed=0)
    assert res.unmet_t[:, 0] == pytest.approx([20.0 + 1200.0] * 2, abs=1e-9)
    assert res.tts_days[:, 0] == pytest.approx([0.0] * 2)
    assert res.ttr_days[:, 0] == pytest.approx([60.0] * 2)
    assert not res.ttr_censored.any()
    # the spike alone: short for a day, the rolling fill never under 99 %: recovered the next day
    one_link(tmp_path, events=ev.split(", {id: down")[0] + "]")
    res = simulate(compile_network(load_scenario(tmp_path / "one_link.yaml", ["report.reference_event=spike"])), 2, seed=0)
    assert res.tts_days[:, 0] == pytest.approx([0.0] * 2) and res.ttr_days[:, 0] == pytest.approx([1.0] * 2)
    assert not res.ttr_censored.any()


def test_deterministic_outage_hand_computed(tmp_path):
    # Lead 1 d, demand 100 t/d, cover 10 d, finished-goods target 0: in steady state the market
    # holds 800 t after consumption with 100 t in transit. The only supplier is down for
    # steps 30..49. Stock after consumption falls 800, 700, ..., 0 at step 38, so step 39 is the
    # first day short: TTS = 39 - 30 = 9 d. At step 50 the plant ships the 1000 t backlog, which
    # arrives at step 51; steps 39..50 are short (12 d x 100 t = 1200 t unmet). The 30-day
    # rolling fill first reaches 99 % at step 80 (window 51..80): TTR = 50 d.
    ev = "[{id: down, type: outage, facilities: [maker], capacity_lost: 1.0, start: 2025-01-31, end: 2025-02-20}]"
    net = one_link(tmp_path, events=ev)
    res = simulate(net, 3, seed=0)
    assert res.unmet_t[:, 0] == pytest.approx([1200.0] * 3, abs=1e-9)
    assert res.tts_days[:, 0] == pytest.approx([9.0] * 3)
    assert res.ttr_days[:, 0] == pytest.approx([50.0] * 3)
    assert not res.tts_censored.any() and not res.ttr_censored.any()
    assert res.lost_days[:, 0] == pytest.approx([12.0 * 181 * 100 / (181 * 100)] * 3)
    assert res.max_shortfall[:, 0] == pytest.approx([1.0] * 3)


def test_export_control_caps_link_at_open_share_of_reference_flow(tmp_path):
    # blocked 0.75 on the only link: 25 t/d of the 100 t/d reference flow gets through.
    ev = "[{id: ban, type: export_control, origin: [AU], products: [magnet], blocked: 0.75, start: 2025-02-01, end: 2025-05-01}]"
    p = tmp_path / "x.yaml"
    txt = ONE_LINK.format(cv=0.0, cover=10, lead=1, unmet="lost", end="2025-06-30", events=ev, seed=1)
    txt = txt.replace("regions: {AU: {name: Australia, bloc: allied}}",
                      "regions: {AU: {name: Australia, bloc: allied}, JP: {name: Japan, bloc: allied}}")
    txt = txt.replace("    region: AU\n    sector", "    region: JP\n    sector")
    p.write_text(txt)
    net = compile_network(load_scenario(p))
    shipped = {}
    simulate(net, 1, seed=0, observer=lambda t, s: shipped.__setitem__(t, float(s["shipped"][0, 0])))
    assert all(shipped[t] == pytest.approx(25.0) for t in range(60, 119))
    assert shipped[120] == pytest.approx(975.0)  # the held-back backlog ships once the control ends


def test_same_seed_identical_and_chunk_invariant():
    net = compile_network(load_scenario(TUTORIAL))
    a = simulate(net, 8, seed=5)
    b = simulate(net, 8, seed=5)
    np.testing.assert_array_equal(a.served_t, b.served_t)
    np.testing.assert_array_equal(a.tts_days, b.tts_days)
    c = simulate(net, 5, seed=5, r0=3)  # replicates 3..7 in a chunk of their own
    np.testing.assert_array_equal(a.served_t[3:], c.served_t)
    np.testing.assert_array_equal(a.output_t[3:], c.output_t)
    d = simulate(net, 8, seed=6)
    assert not np.array_equal(a.served_t, d.served_t)


def test_unrelated_event_and_facility_leave_other_draws_unchanged(tmp_path):
    base = load_scenario(TUTORIAL)
    extra = load_scenario(
        TUTORIAL,
        sets=[
            "facilities.mine_x={region: AU, stage: mine, capacity: 10, outputs: {concentrate: 1.0}, "
            "outages: {rate_per_year: 3, duration_days: 5}}",
            "events=[{id: cn_magnet_licensing, type: export_control, origin: CN, products: [magnet], "
            "destinations: {exclude: [CN]}, blocked: 0.75, start: 2025-04-04, end: 2025-09-30}, "
            "{id: storm, type: logistics, from_regions: [AU], extra_lead_days: 3, "
            "stochastic: {rate_per_year: 2, duration_days: {uniform: {low: 2, high: 9}}}}]",
        ],
    )
    n1, n2 = compile_network(base), compile_network(extra)
    p1 = {p.id: p for p in compile_events(n1, Streams(9, 0, 6))}
    p2 = {p.id: p for p in compile_events(n2, Streams(9, 0, 6))}
    assert set(p2) - set(p1) == {"storm", "outages-mine_x"}
    for k in p1:
        np.testing.assert_array_equal(p1[k].start, p2[k].start)
        np.testing.assert_array_equal(p1[k].value, p2[k].value)
    d1, d2 = [], []
    simulate(n1, 6, 9, observer=lambda t, s: d1.append(s["demand"].copy()))
    simulate(n2, 6, 9, observer=lambda t, s: d2.append(s["demand"].copy()))
    np.testing.assert_array_equal(np.array(d1), np.array(d2))


def test_stochastic_outage_durations_follow_their_distribution(tmp_path):
    sc = load_scenario(TUTORIAL)
    net = compile_network(sc)
    plan = next(p for p in compile_events(net, Streams(1, 0, 4000)) if p.id == "outages-mine_cn")
    used = plan.start < net.n_steps
    dur = (plan.end - plan.start)[used]
    assert np.median(dur) == pytest.approx(10, abs=1)  # lognormal median 10 d
    assert np.quantile(dur, 0.95) == pytest.approx(40, rel=0.1)  # p95 40 d
    per_year = used.sum() / 4000 / (net.n_steps / 365)
    assert per_year == pytest.approx(0.5, rel=0.05)  # rate 0.5 / yr


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_event_plan_peak_is_the_largest_sum_of_its_occurrences_active_together(data):
    """EventPlan.peak == the largest contribution over every step (brute force), overlaps and unused slots included."""
    R, K = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 12))

    def arr(elements):
        return np.array(data.draw(st.lists(elements, min_size=R * K, max_size=R * K))).reshape(R, K)

    start, dur, unused = arr(st.integers(0, 30)), arr(st.integers(0, 12)), arr(st.booleans())
    never = 10**6
    value = arr(st.floats(0, 50, allow_nan=False))
    plan = EventPlan("x", "logistics", "extra_lead_days", np.array([0]), np.where(unused, never, start),
                     np.where(unused, never, start + dur), value)
    brute = max(float(plan.contribution(t).max()) for t in range(45))
    assert plan.peak() == pytest.approx(brute, rel=1e-12, abs=0)


def test_recurring_logistics_event_overlapping_itself_stays_within_the_arrival_ring():
    """Occurrences of a recurring logistics event that overlap add their extra lead days (step semantics); the
    arrival ring was sized for one occurrence per event, so such shipments wrapped round it and arrived
    early. The engine now checks every lead time against the ring (it raised here before the fix)."""
    sc = load_scenario(ROOT / "scenarios" / "random_risk.yaml",
                       ["events.red_sea_rerouting.stochastic.rate_per_year=6", "horizon.end=2026-12-31"])
    net = compile_network(sc)
    plan = next(p for p in compile_events(net, Streams(sc.seed, 0, 16)) if p.id == "red_sea_rerouting")
    assert plan.peak() > plan.value.max()  # two occurrences overlap in some replicate
    res = simulate(net, 16, sc.seed, checks="error")
    assert res.mass_balance_error < 1e-9
    with pytest.raises(ResourceError, match="use -n"):  # the memory check counts the ring's extra rows
        simulate(net, 16, sc.seed, max_memory=estimate_memory(net, 16) + 1)


def test_delayed_shipments_arrive_after_the_summed_extra_lead_of_overlapping_occurrences():
    """A second implementation of the arrival ring under logistics events: a shipment on link e at step s
    arrives at s + max(1, ceil((lead_days[e] + extra[e](s)) / step)), extra the sum of the active
    occurrences' extra days, overlapping ones of a recurring event included. Arrivals are read back from
    the in-transit stocks (they start empty); a ring too short delivers early and fails this."""
    sc = load_scenario(ROOT / "scenarios" / "random_risk.yaml",
                       ["events.red_sea_rerouting.stochastic.rate_per_year=6", "horizon.end=2026-06-30"])
    net = compile_network(sc)
    R, T, E = 6, net.n_steps, len(net.links)
    plans = [p for p in compile_events(net, Streams(sc.seed, 0, R)) if p.array == "extra_lead_days"]
    xl = np.zeros((T, R, E))
    for t in range(T):
        for p in plans:
            xl[t][:, p.targets] += p.contribution(t)[:, None]
    lead = np.maximum(1, np.ceil((net.lead_days + xl) / net.step_days - 1e-12)).astype(np.int64)
    red = next(p for p in plans if p.id == "red_sea_rerouting")
    assert any(red.contribution(t).max() > red.value.max() for t in range(T))  # overlaps within the horizon
    shipped, transit = [], []

    def look(t: int, s: dict) -> None:
        shipped.append(s["shipped"].copy())
        transit.append(s["in_transit"].copy())

    simulate(net, R, sc.seed, observer=look)
    shipped_a, transit_a = np.array(shipped), np.array(transit)  # [T, R, E], after each step
    before = np.concatenate([np.zeros((1, R, E)), transit_a[:-1]])
    arrived = before + shipped_a - transit_a  # in transit after = before - arrived + shipped
    want = np.zeros((T + int(lead.max()) + 1, R, E))
    r_i, e_i = np.meshgrid(np.arange(R), np.arange(E), indexing="ij")
    for t in range(T):
        np.add.at(want, (t + lead[t], r_i, e_i), shipped_a[t])
    late = lead > net.lead_steps  # shipments an event delays
    assert late.any() and (lead[late] - net.lead_steps[np.nonzero(late)[2]] > 20).any()  # a long delay
    np.testing.assert_allclose(arrived, want[:T], rtol=0, atol=1e-9 * max(1.0, shipped_a.max()))


def test_invariant_violation_names_product_replicate_step():
    net = compile_network(load_scenario(TUTORIAL))

    def leaky(t, state):  # after every step, mass from nowhere (the live stock array)
        state["on_hand"][:, net.dem_hold[0]] += 0.5

    with pytest.raises(InvariantError, match=r"mass balance broken for product 'magnet', replicate \d+, by step 6"):
        simulate(net, 2, seed=1, observer=leaky)


def test_memory_estimate_refuses_with_figure_and_option():
    net = compile_network(load_scenario(TUTORIAL))
    with pytest.raises(ResourceError, match=r"need about .* GB.*use -n \d+"):
        simulate(net, 100000, seed=1, max_memory=10_000_000)


def test_cli_run_writes_summary_matching_contract(tmp_path):
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "simulator", "run", str(TUTORIAL), "-n", "20", "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "ev_us" in r.stdout and "Traceback" not in r.stderr
    s = json.loads((out / "summary.json").read_text())
    for key in ("scenario", "file", "sha256", "seed", "replications", "version", "horizon", "mass_balance_error",
                "markets", "facilities", "surplus_t"):
        assert key in s
    stat_keys = {"mean", "sd", "p5", "p50", "p95", "ci95"}
    for m in s["markets"].values():
        for metric in ("fill_rate", "unmet_t", "lost_days", "max_shortfall", "tts_days", "ttr_days"):
            assert stat_keys <= set(m[metric])
    assert s["replications"] == 20 and s["mass_balance_error"] < 1e-9
    lines = (out / "timeseries.csv").read_text().splitlines()
    assert lines[0] == "time,series,stat,value" and len(lines) > 100
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 2 and "--force" in again.stderr


TWO_PRODUCTS = """
reesim: 1
name: two_products
seed: 1
replications: 2
horizon: {start: 2025-01-01, end: 2025-03-31, step_days: 1}
report: {interval_days: 7}
regions: {AU: {name: Australia, bloc: allied}}
products: {magnet: {unit: t, family: magnets}, motor: {unit: t, family: magnets}}
facilities:
  maker_a: {region: AU, stage: component, capacity: 0.000001, outputs: {magnet: 1.0}, finished_cover_days: 0}
  maker_b: {region: AU, stage: component, capacity: 0.000001, outputs: {motor: 1.0}, finished_cover_days: 0}
markets:
  m:
    region: AU
    sector: ev_motors
    demand: {magnet: {rate: 36500}, motor: {rate: 36500}}
    stock: {magnet: {cover_days: 30, initial_days: 30}, motor: {cover_days: 10, initial_days: 10}}
    unmet: lost
links:
  - {from: maker_a, to: m, product: magnet, lead_days: 1}
  - {from: maker_b, to: m, product: motor, lead_days: 1}
"""


def test_market_cover_is_the_least_cover_among_the_markets_products(tmp_path):
    """A market buying two products (nearly no supply, 100 t/d each): after the first week
    magnet stock is 3000 - 700 t (23 d of use) and motor stock 1000 - 700 t (3 d); the market's
    cover is the motor's 3 d, one column per market, as labelled."""
    p = tmp_path / "two.yaml"
    p.write_text(TWO_PRODUCTS)
    res = simulate(compile_network(load_scenario(p)), 2, seed=1)
    for name, arr in res.series.items():
        assert arr.shape[1] == len(res.series_labels[name]), name
    cover = res.series["market_cover_days"]
    assert res.series_labels["market_cover_days"] == ("m",)
    assert cover[0, 0, 1] == pytest.approx(3.0, abs=1e-6)  # p50 at the end of week 1
    assert cover[1, 0, 1] == pytest.approx(0.0, abs=1e-6)  # the motor has run out in week 2


def test_market_cover_ignores_a_product_the_market_does_not_use_now(tmp_path):
    """The same market with no motor demand (rate 0): its cover is the magnets' 2300 t / 100 t/d
    = 23 d after a week, not 0 (a product nobody uses never runs out)."""
    p = tmp_path / "two.yaml"
    p.write_text(TWO_PRODUCTS.replace("motor: {rate: 36500}", "motor: {rate: 0}"))
    res = simulate(compile_network(load_scenario(p)), 2, seed=1)
    assert res.series["market_cover_days"][0, 0, 1] == pytest.approx(23.0, abs=1e-6)


def test_python_api_refuses_arguments_it_would_misread() -> None:
    # a second review: checks='bogus' ran with no checks at all, replications=0 returned an empty
    # Result, seed=-1 ended in numpy's 'expected non-negative integer', and sets='PATH=VALUE' was read
    # one character at a time
    import simulator
    from simulator.exceptions import UsageError

    sc = simulator.load_scenario(TUTORIAL)
    for kw, msg in (({"checks": "bogus"}, "checks='bogus': allowed: error, warn, off"),
                    ({"replications": 0}, "replications=0: give a whole number >= 1"),
                    ({"seed": -1}, "seed=-1: give a whole number >= 0"),
                    ({"replications": 2.5}, "replications=2.5: give a whole number >= 1")):
        with pytest.raises(UsageError) as exc:
            simulator.run(sc, **({"replications": 2} | kw))
        assert str(exc.value) == msg
    assert simulator.run(sc, replications=np.int64(2), seed=np.int64(3)).fill_rate.shape == (2, 2)
    with pytest.raises(UsageError, match=r"give a list of 'PATH=VALUE' strings, e\.g\. sets=\['seed=3'\]"):
        simulator.load_scenario(TUTORIAL, "seed=3")
    res = simulator.run(sc, replications=3, seed=1)
    assert repr(res) == "Result(scenario='tutorial', replications=3, seed=1, days=730, markets=2, producers=6, links=8)"
