"""Tests of the oracle's diversification mechanics (docs/step-semantics.md, second half).

Every expected number is derived in the comments from the contract, not copied
from a run. Conventions: step_days = 1, so a rate of 36500 t/yr is 100 t/step;
"after step t" is the state recorded in the trace at row t; lead 5 d means a
shipment at step t arrives at t + 5; an order placed at phase 6 of step t ships at
step t + 1 (phase 4).
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import yaml
from conftest import make_network_yaml

from simulator import load_scenario
from simulator.network import compile_network
from simulator.reference import event_factors, lifetime_steps, run_reference
from simulator.scenario.types import LognormalDist, TriangularDist, UniformDist


def build(tmp_path, text, name="s.yaml"):
    """Write a YAML scenario to tmp_path, load it and compile its network."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    sc = load_scenario(p)
    return sc, compile_network(sc)


def hold(net, node, product, kind):
    return net.holdings.index((node, product, kind))


def mass_balance_error(net, tr):
    """Largest relative error of produced - used - consumed - surplus + collected = change in stock."""
    worst = 0.0
    for p in range(len(net.products)):
        hs = np.flatnonzero(net.hold_product == p)
        es = np.flatnonzero(net.link_product == p)
        stock = tr.on_hand[:, hs].sum(1) + tr.in_transit[:, es].sum(1)
        stock0 = tr.on_hand0[hs].sum()
        terms = (tr.produced[:, p], tr.used[:, p], tr.consumed[:, p], tr.surplus[:, p],
                 tr.collected[:, p])
        flows = np.cumsum(terms[0] - terms[1] - terms[2] - terms[3] + terms[4])
        scale = np.maximum.reduce([np.ones_like(flows), np.abs(stock), np.full_like(flows, abs(stock0)),
                                   *[np.cumsum(x) for x in terms]])
        worst = max(worst, float(np.max(np.abs(flows - (stock - stock0)) / scale)))
    return worst


# --------------------------------------------------------------------------- (1) stockpile

PILE = """
reesim: 1
name: pile
horizon: {start: 2025-01-01, end: 2025-01-30}
report: {trace_stages: [mine]}
regions:
  AU: {name: Australia, bloc: allied}
  JP: {name: Japan, bloc: allied}
products:
  ore: {unit: t}
facilities:
  mine: {region: AU, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
markets:
  mkt:
    region: JP
    sector: ev_motors
    demand: {ore: {rate: 36500}}
    stock: {ore: {cover_days: 10, initial_days: 2}}
stockpiles:
  pile:
    region: JP
    holds: {ore: {initial: 1000}}
    release: {to: [mine, mkt], when_cover_below_days: 3, max_per_day: 150}
    holding_cost: 365
links:
  - {id: road, from: mine, to: mkt, product: ore, lead_days: 5, price: 10}
  - {id: refill, from: mine, to: pile, product: ore, lead_days: 5, price: 20}
events: []
"""


def test_stockpile_trigger_release_refill_and_holding_cost(tmp_path):
    # Market: 100 t/d, S = 10 d x 100 = 1000, starts with 2 d = 200; threshold 3 d = 300 t.
    # One channel (pile, ore, mkt): the mine is skipped (it does not use ore).
    # Step 0: nothing triggered before step 0; consume -> 100 < 300: triggered from step 1.
    #   Orders 1000 - 100 = 900 (ships at 1, arrives at 6). The pile (1000 = target) orders 0.
    # Step 1: want min(150, 300 - 100) = 150 -> 250, consume -> 150. Position 150 + 900 > S: no order.
    # Step 2: want min(150, 300 - 150) = 150 -> 300 (exactly the threshold), -> 200.
    # Steps 3, 4, 5: want min(150, 300 - 200) = 100 -> 300 -> 200 (release stops at the threshold).
    # Step 6: 900 arrive -> 1100; still triggered (200 < 300 after step 5) but want =
    #   max(0, 300 - 1100) = 0; consume -> 1000 >= 300: not triggered from step 7.
    # Pile: 1000 - 150 - 150 - 100 - 100 - 100 = 400 after step 5. Refill is suspended while the
    #   channel is triggered (steps 1..6); at step 7 it orders 1000 - 400 = 600, shipped at 8,
    #   arriving at 13 -> 1000 again.
    # Market from step 7: no arrivals until 13 (its first re-order, 100 at step 7, lands at 13):
    #   1000 - 100 (t - 6) -> 400 after step 12, then steady 400 >= 300: never triggered again.
    sc, net = build(tmp_path, PILE)
    tr = run_reference(sc, net)
    m, p = hold(net, "mkt", "ore", "mkt"), hold(net, "pile", "ore", "pile")
    assert tr.triggered.shape == (30, 1) and tr.triggered.dtype == bool
    np.testing.assert_array_equal(tr.triggered[:, 0], [False] + [True] * 6 + [False] * 23)
    np.testing.assert_allclose(tr.released[:, 0], [0, 150, 150, 100, 100, 100] + [0] * 24)
    np.testing.assert_allclose(tr.on_hand[:14, m],
                               [100, 150, 200, 200, 200, 200, 1000, 900, 800, 700, 600, 500, 400, 400])
    np.testing.assert_allclose(tr.fill, 1.0)
    pile = [1000, 850, 700, 600, 500, 400] + [400] * 7 + [1000] * 17
    np.testing.assert_allclose(tr.on_hand[:, p], pile)
    refill = net.links.index("refill")
    np.testing.assert_allclose(tr.backlog[:7, refill], 0.0)
    assert tr.backlog[7, refill] == pytest.approx(600.0)
    assert tr.shipped[8, refill] == pytest.approx(600.0)
    # holding cost: 365 USD/t/yr = 1 USD/t/d on the end-of-step level:
    # 1000 + 850 + 700 + 600 + 500 + 400 + 7 x 400 + 17 x 1000 = 23850 USD
    assert tr.holding_cost[0] == pytest.approx(23850.0)
    # spend: road carries 900 at step 1 and the 100/d re-orders placed at 7..28 (22 steps)
    # -> 3100 t x 10 = 31000 USD; refill 600 t x 20 = 12000 USD.
    road = net.links.index("road")
    assert tr.spend[road] == pytest.approx(31000.0)
    assert tr.spend[refill] == pytest.approx(12000.0)
    # tags (stage mine; columns AU, JP, none): the market starts AU 1.0 (fed by the AU mine),
    # the pile starts none. Step 1: 150 none join 100 AU -> AU 100/250 = 0.4; step 2: 150 none
    # join 150 at 0.4 -> 60/300 = 0.2; step 3: 100 none join 200 at 0.2 -> 40/300 = 2/15.
    # Step 13: 600 AU join the pile's 400 none -> AU 0.6.
    np.testing.assert_allclose(tr.tags[:4, m, 0, 0], [1.0, 0.4, 0.2, 2 / 15])
    np.testing.assert_allclose(tr.tags[:4, m, 0, 2], [0.0, 0.6, 0.8, 13 / 15])
    assert tr.tags[12, p, 0, 2] == 1.0
    assert tr.tags[13, p, 0, 0] == pytest.approx(0.6)
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- (6) policy window


def test_policy_event_pauses_release_in_its_window_only(tmp_path):
    # As above, with release switched off at steps 2 and 3 (start 01-03 = step 2, end 01-05
    # exclusive = step 4). Step 1: 150 released (100 -> 250 -> 150). Step 2: none, 150 -> 50.
    # Step 3: none, 50 served of 100 (fill 0.5) -> 0. The trigger itself is still raised.
    # Step 4: want min(150, 300 - 0) = 150 -> 150 -> 50. Step 5: min(150, 250) = 150 -> 200 -> 100.
    # Step 6: the 900 arrive -> 1000, want 0; -> 900. The re-orders (50 at 2 and at 3, arriving
    # 8, 9) keep it above 300 afterwards, so the pile releases 150, 0, 0, 150, 150, then nothing.
    text = PILE.replace("events: []", "events:\n  - {id: pause, type: policy, set: "
                        "{stockpile_release: false}, start: 2025-01-03, end: 2025-01-05}")
    sc, net = build(tmp_path, text)
    assert event_factors(sc, 1).stockpile_release and event_factors(sc, 4).stockpile_release
    assert not event_factors(sc, 2).stockpile_release and not event_factors(sc, 3).stockpile_release
    tr = run_reference(sc, net)
    np.testing.assert_allclose(tr.released[:, 0], [0, 150, 0, 0, 150, 150] + [0] * 24)
    np.testing.assert_array_equal(tr.triggered[:7, 0], [False] + [True] * 6)
    m = hold(net, "mkt", "ore", "mkt")
    np.testing.assert_allclose(tr.on_hand[:7, m], [100, 150, 50, 0, 50, 100, 900])
    np.testing.assert_allclose(tr.fill[:7, 0], [1, 1, 1, 0.5, 1, 1, 1])
    # later events win: a second policy event switching release back on for step 3 only
    text2 = text.replace("end: 2025-01-05}", "end: 2025-01-05}\n  - {id: on, type: policy, set: "
                         "{stockpile_release: true}, start: 2025-01-04, duration_days: 1}")
    sc2, net2 = build(tmp_path, text2, "s2.yaml")
    assert [event_factors(sc2, t).stockpile_release for t in range(5)] == [True, True, False, True, True]
    # step 3 now releases min(150, 300 - 50) = 150 -> 200 -> 100
    assert run_reference(sc2, net2).released[3, 0] == pytest.approx(150.0)


# --------------------------------------------------------------------------- (2) re-routing

REROUTE = """
reesim: 1
name: rr
horizon: {start: 2025-01-01, end: 2025-03-31}
regions:
  CN: {name: China, bloc: china}
  AU: {name: Australia, bloc: allied}
  JP: {name: Japan, bloc: allied}
products:
  ore: {unit: t}
facilities:
  mine_cn: {region: CN, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
  mine_au: {region: AU, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
markets:
  mkt: {region: JP, sector: s, demand: {ore: {rate: 36500}}, stock: {ore: {cover_days: 10}}}
links:
  - {id: cn, from: mine_cn, to: mkt, product: ore, lead_days: 5}
  - {id: au, from: mine_au, to: mkt, product: ore, lead_days: 5}
events:
  - {id: ban, type: export_control, origin: CN, products: [ore], blocked: 1.0,
     start: 2025-01-11, end: 2025-02-10}
policies: {reroute_after_days: 20}
"""


def test_reroute_moves_orders_after_the_delay_and_back(tmp_path):
    # Full closure of the CN link at steps 10..39 (s = 10); reroute_steps = ceil(20 / 1) = 20;
    # closed_for = t - 9 from step 10, so the link is rerouted at steps 29..39
    # (s + reroute_steps - 1 = 29) and reopens at step 40 (closed_for = 0).
    # Weights: 0.5 / 0.5, then 0 / 1 at 29..39, then 0.5 / 0.5 again.
    # Before: each link ships 50/d, market 400 on hand. CN ships nothing from step 10; its
    # shipments of 5..9 arrive at 10..14, so the market holds 400 up to step 14.
    # AU order x_t (ships t+1, arrives t+6) = 0.5 (1000 - on_t) - (x_{t-5} + ... + x_{t-1}):
    #   t = 15: on 350, x = 325 - 250 = 75; 16: on 300, x = 350 - 275 = 75; 17: 250, 75;
    #   18: 200, 75; 19: 150, 75; 20: (arrival 50) 100, 75; 21: (arrival 75) 75, 87.5;
    #   22: 50, 87.5; 23: 25, 87.5; 24: 0, x = 500 - 412.5 = 87.5;
    #   25: arrival 75 only -> served 75 of 100: fill 0.75, the first short day.
    # CN's position is its backlog alone (nothing in transit after 14), kept at
    # 0.5 (1000 - on): 500 from step 24 (market empty) until cancelled at 29.
    # At 29 AU (weight 1) orders up to S: on + in transit + backlog = 1000 exactly.
    # The shortage ends when that order arrives: shipped at 30, + 5 d lead -> step 35 =
    # s + reroute_steps + lead. Steps 30..34 get only AU shipments ordered at 24..28 under
    # the half weight (x <= 87.5 < 100 t): short.
    sc, net = build(tmp_path, REROUTE)
    tr = run_reference(sc, net)
    cn, au = net.links.index("cn"), net.links.index("au")
    m = hold(net, "mkt", "ore", "mkt")
    np.testing.assert_allclose(tr.weights[:29], [[0.5, 0.5]] * 29)
    np.testing.assert_allclose(tr.weights[29:40], [[0.0, 1.0]] * 11)
    np.testing.assert_allclose(tr.weights[40:], [[0.5, 0.5]] * (net.n_steps - 40))
    np.testing.assert_allclose(tr.on_hand[10:25, m],
                               [400] * 5 + [350, 300, 250, 200, 150, 100, 75, 50, 25, 0])
    np.testing.assert_allclose(tr.shipped[16:26, au], [75] * 6 + [87.5] * 4)
    np.testing.assert_allclose(tr.fill[:25, 0], 1.0)
    assert tr.fill[25, 0] == pytest.approx(0.75)
    np.testing.assert_allclose(tr.backlog[24:29, cn], 500.0)
    np.testing.assert_allclose(tr.backlog[29:40, cn], 0.0)
    np.testing.assert_allclose(tr.shipped[10:40, cn], 0.0)
    assert tr.on_hand[29, m] + tr.in_transit[29, au] + tr.backlog[29, au] == pytest.approx(1000.0)
    # continuing the recursion: x_25 = 500 - 425 = 75, x_26 = 75, x_27 = x_28 = 87.5, so AU has
    # x_24..x_28 = 412.5 in transit at 29 and its rerouted order is 1000 - 0 - 412.5 = 587.5
    assert tr.in_transit[29, au] == pytest.approx(412.5)
    assert tr.shipped[30, au] == pytest.approx(587.5)
    assert np.all(tr.fill[25:35, 0] < 0.99)
    np.testing.assert_allclose(tr.fill[35:, 0], 1.0)
    # step 40: CN's weight is back and it re-orders its half of the position (its pipeline is 0)
    assert tr.backlog[40, cn] == pytest.approx(0.5 * (1000.0 - tr.on_hand[40, m]))
    assert mass_balance_error(net, tr) < 1e-9
    # without re-routing the CN link keeps its weight: AU's half-weight order at 29 is
    # x_29 = 500 - (x_24..x_28 = 412.5) = 87.5, arriving at 35 into an empty market: fill 0.875
    sc0, net0 = build(tmp_path, REROUTE.replace("policies: {reroute_after_days: 20}", ""), "n.yaml")
    tr0 = run_reference(sc0, net0)
    np.testing.assert_allclose(tr0.weights[:, :], 0.5)
    assert tr0.fill[35, 0] == pytest.approx(0.875)


# --------------------------------------------------------------------------- (3) recycling

RECYCLE = """
reesim: 1
name: rec
horizon: {start: 2025-01-01, end: 2025-03-01}
report: {trace_stages: [component, recycler]}
regions:
  JP: {name: Japan, bloc: allied}
  CN: {name: China, bloc: china}
products:
  magnet: {unit: t}
  oxide: {unit: t}
facilities:
  plant: {region: CN, stage: component, capacity: 365000, outputs: {magnet: 1.0}, finished_cover_days: 0}
markets:
  mkt: {region: JP, sector: ev, demand: {magnet: {rate: 36500, growth: 1.0}}, stock: {magnet: {cover_days: 10}}}
  buyer: {region: JP, sector: cat, demand: {oxide: {rate: 3650}}, stock: {oxide: {cover_days: 10}}}
recyclers:
  rec:
    region: JP
    capacity: 36500
    collects: {from: [mkt], product: magnet, lifetime_days: 10, recovery: 0.5}
    outputs: {oxide: 0.2}
    finished_cover_days: 0
links:
  - {from: plant, to: mkt, product: magnet, lead_days: 5}
  - {from: rec, to: buyer, product: oxide, lead_days: 2}
"""


def test_recycling_fixed_lifetime_scrap_and_mass_balance(tmp_path):
    # Fixed lifetime 10 d -> nb = 1, l = 10 steps. Scrap arriving at t >= 10 is
    # recovery x consumption at t - 10 = 0.5 x consumed[t - 10]. Before the horizon the
    # market's consumption is its nominal demand 100 x 2^(u/365) (growth 100 %/yr) at steps
    # u = -10..-1, arriving at u + 10 = 0..9: 0.5 x 100 x 2^((t - 10)/365).
    sc, net = build(tmp_path, RECYCLE)
    tr = run_reference(sc, net)
    P = {p: i for i, p in enumerate(net.products)}
    col = tr.collected[:, P["magnet"]]
    np.testing.assert_allclose(col[:10], [50 * 2 ** ((t - 10) / 365) for t in range(10)], rtol=1e-12)
    np.testing.assert_allclose(col[10:], 0.5 * tr.consumed[:-10, P["magnet"]], rtol=1e-12)
    np.testing.assert_allclose(tr.collected[:, P["oxide"]], 0.0)
    # the market is never short, so consumption = demand = 100 x 2^(t/365)
    np.testing.assert_allclose(tr.consumed[:, P["magnet"]], [100 * 2 ** (t / 365) for t in range(60)])
    # the recycler makes oxide for the buyer (10 t/d oxide = 50 t/d of scrap)
    f = net.producers.index("rec")
    np.testing.assert_allclose(tr.activity[1:, f], 50.0)
    np.testing.assert_allclose(tr.fill[:, net.markets.index("buyer")], 1.0)
    # tracing: the buyer's oxide passed only through the JP recycler, the magnets only
    # through the CN plant (exactly, columns JP, CN, none)
    b, mk = net.markets.index("buyer"), net.markets.index("mkt")
    assert tr.dependency[b, 1, 0] == 1.0 and tr.dependency[b, 0, 2] == 1.0
    assert tr.dependency[mk, 0, 1] == 1.0 and tr.dependency[mk, 1, 2] == 1.0
    assert mass_balance_error(net, tr) < 1e-9


def test_recycling_off_zero_capacity_scrap_accumulates(tmp_path):
    # recycling: false -> the recycler's capacity is 0; scrap still arrives and piles up:
    # the scrap holding after step t holds everything collected at steps 0..t.
    sc, net = build(tmp_path, RECYCLE + "policies: {recycling: false}\n")
    tr = run_reference(sc, net)
    f = net.producers.index("rec")
    np.testing.assert_allclose(tr.capacity[:, f], 0.0)
    np.testing.assert_allclose(tr.activity[:, f], 0.0)
    s = hold(net, "rec", "magnet", "scrap")
    np.testing.assert_allclose(tr.on_hand[:, s], np.cumsum(tr.collected[:, net.products.index("magnet")]))
    assert mass_balance_error(net, tr) < 1e-9


def test_lifetime_quantiles():
    # uniform 0..64: L_j = 64 (j + 0.5) / 32 = 2j + 1 -> l_j = 2j + 1 steps
    assert lifetime_steps(UniformDist(uniform={"low": 0, "high": 64}), 1) == [2 * j + 1 for j in range(32)]
    # fixed: one lifetime; below half a step still 1 step
    assert lifetime_steps(30, 7) == [4] and lifetime_steps(0, 1) == [1]
    # triangular low = mode = 0, high = 32: Q(u) = 32 (1 - sqrt(1 - u)); j = 31: 1 - u = 1/64,
    # sqrt = 1/8 -> 28; j = 0: 32 (1 - sqrt(63/64)) = 0.25 -> max(1, 0) = 1
    tri = lifetime_steps(TriangularDist(triangular={"low": 0, "mode": 0, "high": 32}), 1)
    assert len(tri) == 32 and tri[31] == 28 and tri[0] == 1
    # lognormal with p95 = median: sigma = 0, every quantile is the median
    assert lifetime_steps(LognormalDist(lognormal={"median": 20, "p95": 20}), 1) == [20] * 32
    # median 20, p95 40: the two middle quantiles are 20 exp(+-sigma z), z = inv_cdf(16.5/32)
    # ~ 0.039, sigma = ln 2 / 1.645 ~ 0.42 -> 19.67 and 20.33 -> both 20 steps
    ln = lifetime_steps(LognormalDist(lognormal={"median": 20, "p95": 40}), 1)
    assert ln[15] == ln[16] == 20 and ln == sorted(ln)


# --------------------------------------------------------------------------- (4) substitution

SUBST = """
reesim: 1
name: sub
horizon: {start: 2025-01-01, end: 2025-01-31}
regions:
  AU: {name: Australia, bloc: allied}
  JP: {name: Japan, bloc: allied}
products:
  ore: {unit: t}
facilities:
  mine: {region: AU, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
markets:
  mkt:
    region: JP
    sector: ev_motors
    demand: {ore: {rate: 36500}}
    stock: {ore: {cover_days: 10, initial_days: 0}}
    substitution:
      - {product: ore, fraction: 0.4, after_shortfall_days: 3, adoption_days: 4}
links:
  - {from: mine, to: mkt, product: ore, lead_days: 5}
"""


def test_substitution_linear_adoption_never_reverts(tmp_path):
    # The market starts empty; its first order (1000 at step 0) ships at 1 and lands at 6,
    # so steps 0..5 are short (fill 0 < 0.99). short_run = 1, 2, 3 after steps 0, 1, 2:
    # 3 x 1 d >= 3 d at step 2 -> adoption starts at a = 3. ceil(4 / 1) = 4 steps:
    # sub = 0.4 x (t - 2) / 4 = 0.1, 0.2, 0.3 at 3, 4, 5 and 0.4 from 6 on, for good (the
    # market is served again from step 6). Demand 100 (1 - sub); saved = 100 sub.
    # exp_use is refreshed at t % 7 == 0: 100 at 0..6, 100 x 0.6 = 60 from step 7.
    sc, net = build(tmp_path, SUBST)
    tr = run_reference(sc, net)
    np.testing.assert_allclose(tr.demand[:, 0], [100, 100, 100, 90, 80, 70] + [60] * 25)
    np.testing.assert_allclose(tr.substituted[:, 0], [0, 0, 0, 10, 20, 30] + [40] * 25)
    np.testing.assert_allclose(tr.fill[:6, 0], 0.0)
    np.testing.assert_allclose(tr.fill[6:, 0], 1.0)
    m = hold(net, "mkt", "ore", "mkt")
    np.testing.assert_allclose(tr.exp_use[:, m], [100] * 7 + [60] * 24)
    assert mass_balance_error(net, tr) < 1e-9
    # switched off: no substitution at all
    sc0, net0 = build(tmp_path, SUBST + "policies: {substitution: false}\n", "off.yaml")
    tr0 = run_reference(sc0, net0)
    np.testing.assert_allclose(tr0.demand[:, 0], 100.0)
    np.testing.assert_allclose(tr0.substituted, 0.0)
    # adoption_days 0: the whole fraction at once from step 3
    sc1, net1 = build(tmp_path, SUBST.replace("adoption_days: 4", "adoption_days: 0"), "now.yaml")
    np.testing.assert_allclose(run_reference(sc1, net1).demand[:8, 0], [100, 100, 100] + [60] * 5)


# --------------------------------------------------------------------------- (5) tracing


def test_tracing_dependency_exact_and_mixed(tmp_path):
    # sep_cn gets concentrate half from mine_cn, half from mine_au (equal leads); sep_au only
    # from mine_au. m_cn is fed only by sep_cn, m_au only by sep_au, m_mix 0.6 / 0.4 from
    # sep_cn / sep_au (equal leads). Columns: CN, AU, JP, none.
    # Stage 1 = separation: one-hot at the separating plant, so m_cn depends on CN exactly 1.0
    # and m_au exactly 0.0 (every mix of 1.0s is 1.0, of 0.0s is 0.0).
    # m_mix: the initial tag is the nominal 0.6 / 0.4; with equal leads each link's pipeline
    # is w_e (S - on) at every step, so every arrival is split 0.6 / 0.4 and so is the tag.
    # Stage 0 = mine: sep_au's output is AU 1.0 exactly; sep_cn's 0.5 / 0.5, so m_mix is
    # 0.6 x (0.5, 0.5) + 0.4 x (0, 1) = 0.3 CN, 0.7 AU.
    sc, net = build(tmp_path, TRACE)
    tr = run_reference(sc, net)
    M = {m: i for i, m in enumerate(net.markets)}
    assert tr.dependency.shape == (4, 2, 4) and tr.tags.shape == (net.n_steps, len(net.holdings), 2, 4)
    assert tr.dependency[M["m_cn"], 1, 0] == 1.0
    assert tr.dependency[M["m_au"], 1, 0] == 0.0 and tr.dependency[M["m_au"], 1, 1] == 1.0
    assert tr.dependency[M["m_au"], 0, 1] == 1.0
    np.testing.assert_allclose(tr.dependency[M["m_cn"], 0], [0.5, 0.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(tr.dependency[M["m_mix"], 1], [0.6, 0.4, 0, 0], atol=1e-12)
    np.testing.assert_allclose(tr.dependency[M["m_mix"], 0], [0.3, 0.7, 0, 0], atol=1e-12)
    mix = hold(net, "m_mix", "oxide", "mkt")
    np.testing.assert_allclose(tr.tags[:, mix, 1], [[0.6, 0.4, 0, 0]] * net.n_steps, atol=1e-12)
    np.testing.assert_allclose(tr.tags[-1, mix, 0], [0.3, 0.7, 0, 0], atol=1e-12)
    np.testing.assert_allclose(tr.tags.sum(-1), 1.0, atol=1e-12)
    # m_lag: the same 0.6 / 0.4 weights but leads 5 and 7 d. Each link holds its share
    # w_e (L_e + 1) / sum_j w_j (L_j + 1) of the position in its pipeline, which lasts L_e + 1
    # steps, so in steady state a link carries w_e x gap / sum_j w_j (L_j + 1): flows split
    # 0.6 : 0.4 = 1.5 whatever the lead times, and the tag stays at 0.6 / 0.4.
    lag = hold(net, "m_lag", "oxide", "mkt")
    np.testing.assert_allclose(tr.tags[0, lag, 1], [0.6, 0.4, 0, 0], atol=1e-12)
    np.testing.assert_allclose(tr.tags[-1, lag, 1], [0.6, 0.4, 0, 0], atol=1e-3)
    e_cn = net.links.index("sep_cn>m_lag:oxide")
    e_au = net.links.index("sep_au>m_lag:oxide")
    assert tr.shipped[-1, e_cn] / tr.shipped[-1, e_au] == pytest.approx(1.5, rel=1e-3)


TRACE = """
reesim: 1
name: trace
horizon: {start: 2025-01-01, end: 2025-04-30}
report: {trace_stages: [mine, separation]}
regions:
  CN: {name: China, bloc: china}
  AU: {name: Australia, bloc: allied}
  JP: {name: Japan, bloc: allied}
products:
  conc: {unit: t}
  oxide: {unit: t}
facilities:
  mine_cn: {region: CN, stage: mine, capacity: 365000, outputs: {conc: 1.0}, finished_cover_days: 0}
  mine_au: {region: AU, stage: mine, capacity: 365000, outputs: {conc: 1.0}, finished_cover_days: 0}
  sep_cn: {region: CN, stage: separation, capacity: 365000, inputs: {conc: 1.0},
           outputs: {oxide: 1.0}, stock: {conc: {cover_days: 10}}, finished_cover_days: 0}
  sep_au: {region: AU, stage: separation, capacity: 365000, inputs: {conc: 1.0},
           outputs: {oxide: 1.0}, stock: {conc: {cover_days: 10}}, finished_cover_days: 0}
markets:
  m_cn: {region: JP, sector: a, demand: {oxide: {rate: 36500}}, stock: {oxide: {cover_days: 10}}}
  m_au: {region: JP, sector: b, demand: {oxide: {rate: 36500}}, stock: {oxide: {cover_days: 10}}}
  m_mix: {region: JP, sector: c, demand: {oxide: {rate: 36500}}, stock: {oxide: {cover_days: 10}}}
  m_lag: {region: JP, sector: d, demand: {oxide: {rate: 36500}}, stock: {oxide: {cover_days: 10}}}
links:
  - {from: mine_cn, to: sep_cn, product: conc, lead_days: 3}
  - {from: mine_au, to: sep_cn, product: conc, lead_days: 3}
  - {from: mine_au, to: sep_au, product: conc, lead_days: 4}
  - {from: sep_cn, to: m_cn, product: oxide, lead_days: 5}
  - {from: sep_au, to: m_au, product: oxide, lead_days: 5}
  - {from: sep_cn, to: m_mix, product: oxide, lead_days: 5, weight: 0.6}
  - {from: sep_au, to: m_mix, product: oxide, lead_days: 5, weight: 0.4}
  - {from: sep_cn, to: m_lag, product: oxide, lead_days: 5, weight: 0.6}
  - {from: sep_au, to: m_lag, product: oxide, lead_days: 7, weight: 0.4}
"""


# --------------------------------------------------------------------------- (7) mass balance


def test_mass_balance_with_stockpile_and_recycler_every_step(tmp_path):
    doc = yaml.safe_load(make_network_yaml(2, 2, 2, 3, 4, seed=3, with_stockpile=True,
                                           with_recycler=True, horizon_days=200))
    for mk in doc["markets"].values():
        for d in mk["demand"].values():
            d["noise_cv"] = 0.0
    for f in doc["facilities"].values():
        f.pop("outages", None)
    metals = [f for f, x in doc["facilities"].items() if x["stage"] == "metal"]
    doc["links"].append({"from": metals[0], "to": "stock_jp", "product": "ndpr_metal", "lead_days": 6,
                         "price": 1000.0})
    doc["stockpiles"]["stock_jp"]["holding_cost"] = 50.0
    mag = [m for m, x in doc["markets"].items() if "magnet" in x["demand"]]
    doc["markets"][mag[0]]["substitution"] = [{"product": "magnet", "fraction": 0.3,
                                               "after_shortfall_days": 5, "adoption_days": 10}]
    doc["events"] = [
        {"id": "metal_out", "type": "outage", "stages": ["metal"], "start": "2025-02-01",
         "duration_days": 60},
        {"id": "ec", "type": "export_control", "origin": ["CN"], "products": sorted(doc["products"]),
         "blocked": 1.0, "start": "2025-03-01", "end": "2025-05-01"},
    ]
    doc["policies"] = {"reroute_after_days": 15}
    p = tmp_path / "gen.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    sc = load_scenario(p)
    net = compile_network(sc)
    tr = run_reference(sc, net)
    for arr in (tr.on_hand, tr.backlog, tr.in_transit, tr.backorder, tr.surplus, tr.released,
                tr.collected, tr.substituted):
        assert np.all(np.isfinite(arr)) and np.all(arr >= 0.0)
    # the mechanisms actually ran: a release, collected scrap, recycler output
    assert tr.released.sum() > 0 and tr.collected.sum() > 0
    assert tr.activity[:, net.producers.index("recycle_jp")].sum() > 0
    assert mass_balance_error(net, tr) < 1e-9
    np.testing.assert_allclose(tr.tags.sum(-1), 1.0, atol=1e-9)
    np.testing.assert_allclose(tr.dependency.sum(-1), 1.0, atol=1e-9)
    # weights into each ordering holding sum to 1 at every step
    for h in np.flatnonzero(net.orders):
        es = np.flatnonzero(net.link_dst == h)
        np.testing.assert_allclose(tr.weights[:, es].sum(1), 1.0)
    assert math.isclose(tr.spend.sum(), float((tr.shipped * net.price).sum()), rel_tol=1e-12)
    # holding cost = sum of end-of-step levels x 50 / 365
    ph = hold(net, "stock_jp", "ndpr_metal", "pile")
    assert tr.holding_cost[0] == pytest.approx(tr.on_hand[:, ph].sum() * 50 / 365)
