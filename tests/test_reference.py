"""Tests of the reference oracle (simulator/reference.py) against values computed by hand.

Every expected number below is derived in the comments from docs/step-semantics.md,
not copied from a run. Conventions: step_days = 1, so a rate of 36500 t/yr is
100 t/step; "after step t" means the state recorded in the trace at row t.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario
from simulator.network import compile_network
from simulator.reference import event_factors, run_reference

ROOT = Path(__file__).resolve().parents[1]


def build(tmp_path, text, name="s.yaml"):
    """Write a YAML scenario to tmp_path, load it and compile its network."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    sc = load_scenario(p)
    return sc, compile_network(sc)


def hold(net, node, product, kind):
    return net.holdings.index((node, product, kind))


def chain(fcd=7, unmet="lost", events="[]", capacity=365000, lead=5):
    """One mine (AU) -> one market (JP): 100 t/d, cover 10 d, lead ``lead`` d."""
    return f"""
    reesim: 1
    name: chain
    horizon: {{start: 2025-01-01, end: 2025-04-30}}
    regions:
      AU: {{name: Australia, bloc: allied}}
      JP: {{name: Japan, bloc: allied}}
    products:
      ore: {{unit: t}}
    facilities:
      mine:
        region: AU
        stage: mine
        capacity: {capacity}
        outputs: {{ore: 1.0}}
        finished_cover_days: {fcd}
    markets:
      mkt:
        region: JP
        sector: ev_motors
        demand: {{ore: {{rate: 36500}}}}
        stock: {{ore: {{cover_days: 10, initial_days: 10}}}}
        unmet: {unmet}
    links:
      - {{id: road, from: mine, to: mkt, product: ore, lead_days: {lead}}}
    events: {events}
    """


def mass_balance_error(net, tr):
    """Largest relative mass-balance error over products and steps."""
    worst = 0.0
    for p in range(len(net.products)):
        hs = np.flatnonzero(net.hold_product == p)
        es = np.flatnonzero(net.link_product == p)
        stock = tr.on_hand[:, hs].sum(1) + tr.in_transit[:, es].sum(1)
        stock0 = tr.on_hand0[hs].sum()
        flows = np.cumsum(tr.produced[:, p] - tr.used[:, p] - tr.consumed[:, p] - tr.surplus[:, p])
        scale = np.maximum.reduce([
            np.ones_like(flows), np.abs(stock), np.full_like(flows, abs(stock0)),
            np.cumsum(tr.produced[:, p]), np.cumsum(tr.used[:, p]),
            np.cumsum(tr.consumed[:, p]), np.cumsum(tr.surplus[:, p]),
        ])
        worst = max(worst, float(np.max(np.abs(flows - (stock - stock0)) / scale)))
    return worst


# --------------------------------------------------------------------------- (1) steady chain


def test_chain_steady_state_littles_law(tmp_path):
    sc, net = build(tmp_path, chain(fcd=7))
    tr = run_reference(sc, net)
    m, o = hold(net, "mkt", "ore", "mkt"), hold(net, "mine", "ore", "out")
    # nominal flow: the market uses 100 t/d, so does the mine's finished goods
    assert net.nominal_use[m, 0] == pytest.approx(100.0)
    assert net.nominal_use[o, 0] == pytest.approx(100.0)
    # initial: market 10 d x 100 = 1000 t; mine FG target 7 d x 100 = 700 t
    assert tr.on_hand0[m] == pytest.approx(1000.0)
    assert tr.on_hand0[o] == pytest.approx(700.0)
    # step 0: no backlog -> no production/shipment; market 1000 - 100 = 900, orders 100.
    # steps 1..5: mine makes 100 (need = 100 backlog + 700 target - 700), ships 100
    # arriving t+5; nothing arrives before step 6, so market = 1000 - 100(t+1).
    np.testing.assert_allclose(tr.on_hand[:6, m], [900, 800, 700, 600, 500, 400])
    assert tr.activity[0, 0] == 0.0 and tr.shipped[0, 0] == 0.0
    # steady state (t >= 5): on hand + in transit + backlog = S = 1000 with
    # in transit = throughput x lead = 100 x 5 = 500 (Little), backlog = the
    # order placed today = 100, hence on hand = 1000 - 500 - 100 = 400.
    for t in (5, 30, 119):
        assert tr.on_hand[t, m] == pytest.approx(400.0)
        assert tr.in_transit[t, 0] == pytest.approx(100.0 * 5)
        assert tr.backlog[t, 0] == pytest.approx(100.0)
        assert tr.on_hand[t, o] == pytest.approx(700.0)
    np.testing.assert_allclose(tr.activity[1:, 0], 100.0)
    np.testing.assert_allclose(tr.shipped[1:, 0], 100.0)
    np.testing.assert_allclose(tr.fill[:, 0], 1.0)
    np.testing.assert_allclose(tr.surplus, 0.0, atol=1e-12)
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- (2) outage, lost


OUTAGE = "[{id: out, type: outage, facilities: [mine], start: 2025-01-21, duration_days: 20}]"


def test_outage_first_shortage_unmet_and_recovery(tmp_path):
    # fcd 0 (no FG buffer), capacity 365000 t/yr = 1000 t/d. Outage active at
    # steps 20..39 (s = 20, e = 20 + 20). Before it, steady: market 400 on hand,
    # 500 in transit (shipped at 15..19, arriving 20..24), backlog 100.
    # During it the market receives 100/d until step 24, so stock after step t is
    # 400 for t <= 24, then 300, 200, 100, 0 at steps 25..28: the 400 on hand plus
    # 500 in the pipe cover 9 days -> first shortage at step 29 = s0 + 9.
    # Orders keep IP = S: backlog = 100 (t - 18) after steps 20..28 -> 1000 at 28;
    # from step 29 on hand = 0 and IP = 1000 = S, so no more orders.
    # Step 40 (capacity back): need = 1000, ships 1000 arriving at step 45.
    # Steps 29..44 unmet: 16 days x 100 t = 1600 t. Step 45: 1000 arrives, fill 1.
    sc, net = build(tmp_path, chain(fcd=0, events=OUTAGE))
    tr = run_reference(sc, net)
    m = hold(net, "mkt", "ore", "mkt")
    fill = tr.fill[:, 0]
    assert np.all(fill[:29] == 1.0)
    assert int(np.flatnonzero(fill < 0.99)[0]) == 29
    np.testing.assert_allclose(fill[29:45], 0.0)
    np.testing.assert_allclose(fill[45:], 1.0)
    unmet = float((tr.demand - tr.served).sum())
    assert unmet == pytest.approx(1600.0)
    np.testing.assert_allclose(tr.on_hand[24:29, m], [400, 300, 200, 100, 0])
    np.testing.assert_allclose(tr.backlog[20:29, 0], [200, 300, 400, 500, 600, 700, 800, 900, 1000])
    np.testing.assert_allclose(tr.backlog[29:40, 0], 1000.0)
    np.testing.assert_allclose(tr.capacity[20:40, 0], 0.0)
    assert tr.capacity[40, 0] == pytest.approx(1000.0)
    assert tr.activity[40, 0] == pytest.approx(1000.0)
    assert tr.shipped[40, 0] == pytest.approx(1000.0)
    assert tr.on_hand[45, m] == pytest.approx(900.0)  # 1000 arrived, 100 consumed
    # metrics from the trace: TTS = 29 - 20 = 9 d; TTR: the 30-step rolling fill is
    # >= 0.99 only once the window t-29..t holds no shortage day, i.e. t - 29 >= 45
    # -> t = 74, TTR = 74 - 20 = 54 d.
    roll = np.array([tr.served[max(0, t - 29):t + 1].sum() / tr.demand[max(0, t - 29):t + 1].sum()
                     for t in range(len(fill))])
    assert int(np.flatnonzero((roll >= 0.99) & (np.arange(len(fill)) > 29))[0]) - 20 == 54
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- (6) backorder


def test_backorder_carried_and_served_first(tmp_path):
    # Same outage, unmet: backorder. Up to step 28 identical (backlog 1000 after 28).
    # Steps 29..39: 100 t/d unmet -> backorder; IP = 0 - backorder + 1000 + backlog,
    # so the buyer re-orders the 100/d: after 39 backorder = 1100, backlog = 2100.
    # Step 40: ship 1000 (cap), backlog 1100 + 100 = 1200; backorder 1200.
    # Step 41: ship 1000, backlog 200 + 100 = 300; backorder 1300.
    # Step 42: ship 300, backlog 0 + 100; backorder 1400. 43, 44: ship 100; 1500, 1600.
    # Step 45: 1000 arrives, all taken by old orders (b = 1000, backorder 600); today's
    # 100 is unmet -> fill 0, backorder 700. Step 46: 1000 arrives, b = 700, served 100.
    sc, net = build(tmp_path, chain(fcd=0, unmet="backorder", events=OUTAGE))
    tr = run_reference(sc, net)
    fill = tr.fill[:, 0]
    np.testing.assert_allclose(fill[:29], 1.0)
    np.testing.assert_allclose(fill[29:46], 0.0)
    np.testing.assert_allclose(fill[46:], 1.0)
    assert tr.backorder[39, 0] == pytest.approx(1100.0)
    assert tr.backlog[39, 0] == pytest.approx(2100.0)
    np.testing.assert_allclose(tr.shipped[40:45, 0], [1000, 1000, 300, 100, 100])
    np.testing.assert_allclose(tr.backorder[40:47, 0], [1200, 1300, 1400, 1500, 1600, 700, 0])
    assert tr.consumed[45, 0] == pytest.approx(1000.0)  # backorders only
    assert tr.served[45, 0] == 0.0
    assert tr.consumed[46, 0] == pytest.approx(700.0 + 100.0)
    # on-the-day unmet: 17 days (29..45) x 100 t; everything is served eventually
    assert float((tr.demand - tr.served).sum()) == pytest.approx(1700.0)
    assert float(tr.consumed.sum()) == pytest.approx(float(tr.demand.sum()))
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- (3) export control


def test_export_control_quota_halves_covered_link_only(tmp_path):
    # Mine in CN ships 100 t/d to mkt_jp (JP) and to mkt_cn (CN); blocked 0.5 on exports
    # from step 10, destinations = everyone but US. The domestic link CN -> CN is never
    # covered (origin regions are never destinations). The JP link's quota is
    # 0.5 x its reference flow 100 t/d = 50 t/step from step 10 on. JP keeps receiving
    # 100 t/d until step 14 (shipped before the control), then 50 t/d: stock after
    # consumption 400 until step 14, then 350, 300, ..., 50 at step 21, 0 at step 22
    # (50 + 50 arrive, 100 consumed); from step 23 fill is 50/100 = 0.5.
    sc, net = build(tmp_path, """
    reesim: 1
    name: ec
    horizon: {start: 2025-01-01, end: 2025-04-30}
    regions:
      CN: {name: China, bloc: china}
      JP: {name: Japan, bloc: allied}
      US: {name: United States, bloc: allied}
    products:
      ore: {unit: t}
    facilities:
      mine: {region: CN, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
    markets:
      mkt_jp:
        region: JP
        sector: ev_motors
        demand: {ore: {rate: 36500}}
        stock: {ore: {cover_days: 10}}
      mkt_cn:
        region: CN
        sector: ev_motors
        demand: {ore: {rate: 36500}}
        stock: {ore: {cover_days: 10}}
    links:
      - {id: to_jp, from: mine, to: mkt_jp, product: ore, lead_days: 5}
      - {id: to_cn, from: mine, to: mkt_cn, product: ore, lead_days: 5}
    events:
      - {id: ec, type: export_control, origin: CN, products: [ore],
         destinations: {exclude: [US]}, blocked: 0.5, start: 2025-01-11}
    """)
    tr = run_reference(sc, net)
    jp, cn = net.links.index("to_jp"), net.links.index("to_cn")
    mj = net.markets.index("mkt_jp")
    assert tr.shipped[9, jp] == pytest.approx(100.0)
    np.testing.assert_allclose(tr.shipped[10:, jp], 50.0)  # halved while the control lasts
    np.testing.assert_allclose(tr.shipped[1:, cn], 100.0)  # domestic: untouched
    oh = hold(net, "mkt_jp", "ore", "mkt")
    np.testing.assert_allclose(tr.on_hand[10:15, oh], 400.0)
    np.testing.assert_allclose(tr.on_hand[15:23, oh], [350, 300, 250, 200, 150, 100, 50, 0])
    np.testing.assert_allclose(tr.fill[:23, mj], 1.0)
    np.testing.assert_allclose(tr.fill[23:, mj], 0.5)
    np.testing.assert_allclose(tr.fill[:, net.markets.index("mkt_cn")], 1.0)
    assert mass_balance_error(net, tr) < 1e-9


EC_SHOCK = """
reesim: 1
name: ec_demand
horizon: {start: 2025-01-01, end: 2025-04-30}
regions:
  CN: {name: China, bloc: china}
  JP: {name: Japan, bloc: allied}
products:
  ore: {unit: t}
facilities:
  mine: {region: CN, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
markets:
  mkt_jp:
    region: JP
    sector: ev_motors
    demand: {ore: {rate: 36500}}
    stock: {ore: {cover_days: 10}}
    SUBSTITUTION
links:
  - {id: to_jp, from: mine, to: mkt_jp, product: ore, lead_days: 5}
events:
  - {id: ec, type: export_control, origin: CN, products: [ore], destinations: {include: [JP]},
     blocked: 0.5, start: 2025-01-11}
  SHOCK
"""


@pytest.mark.parametrize("case", ["shock", "substitution"])
def test_export_control_quota_is_a_share_of_normal_flows_not_of_cut_demand(tmp_path, case):
    # The control of the test above, on the JP market alone: a quota of 0.5 x the normal flow of 100 t/d
    # = 50 t/step from step 10, fill 0.5 from step 23. Then the market needs less:
    # - shock: a demand shock of 0.5 from step 40 (2025-02-10): demand 50 t/d, the quota stays 50 t/d,
    #   so fill is 1 from step 40 (arrivals of 50 a day meet demand of 50; the backlog is long);
    # - substitution: 40 % of demand substituted after 5 short days (steps 23..27), adoption at once
    #   from step 28: demand 60 t/d against the same 50 t/d, fill 50/60 from step 28.
    # A quota that followed current demand (as before 2026-11-28) fell to 25 and 30 t/d at the next
    # refresh (steps 42 and 28) and held fill at 0.5: cutting demand never helped under a partial block.
    sub = ("substitution: [{product: ore, fraction: 0.4, after_shortfall_days: 5, adoption_days: 0}]"
           if case == "substitution" else "")
    shock = ("- {id: slump, type: demand_shock, markets: [mkt_jp], factor: 0.5, start: 2025-02-10}"
             if case == "shock" else "")
    sc, net = build(tmp_path, EC_SHOCK.replace("SUBSTITUTION", sub).replace("SHOCK", shock))
    tr = run_reference(sc, net)
    jp, mj = net.links.index("to_jp"), net.markets.index("mkt_jp")
    np.testing.assert_allclose(tr.shipped[10:, jp], 50.0)  # the quota never moves
    np.testing.assert_allclose(tr.fill[23:28, mj], 0.5)
    if case == "shock":
        np.testing.assert_allclose(tr.fill[28:40, mj], 0.5)
        np.testing.assert_allclose(tr.fill[40:, mj], 1.0)
    else:
        np.testing.assert_allclose(tr.fill[28:, mj], 50.0 / 60.0)
    assert mass_balance_error(net, tr) < 1e-9
    # the engine (whichever backend is installed) agrees with the oracle step by step
    from simulator.engine import simulate

    served = []
    simulate(net, 1, 1, observer=lambda t, d: served.append(d["served"][0].copy()))
    np.testing.assert_allclose(np.array(served), tr.served, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- (4) co-products


def test_coproducts_fixed_ratio_and_surplus(tmp_path):
    # Separation: 1 t concentrate -> 0.2 t NdPr + 0.5 t Ce. NdPr market 100 t/d, Ce
    # market 50 t/d. Nominal activity = max(100/0.2, 50/0.5) = 500 t conc/d.
    # From step 1 the backlogs are 100 NdPr and 50 Ce: need = max(100/0.2, 50/0.5)
    # = 500 -> produces 100 NdPr and 250 Ce (ratio 2.5); Ce target 0 (fcd 0) + backlog
    # 50 -> surplus 200 t Ce/step. Inputs: 500 t conc/step.
    # Expected use of the conc input: the plant runs at max(500, 100) = 500 t/d in total
    # (shared between the entries 500:100), so the conc stock starts at 10 d x 500 = 5000
    # and settles at S - in transit - backlog = 5000 - 5 x 500 - 500 = 2000.
    sc, net = build(tmp_path, """
    reesim: 1
    name: coprod
    horizon: {start: 2025-01-01, end: 2025-03-31}
    regions:
      AU: {name: Australia, bloc: allied}
      MY: {name: Malaysia, bloc: allied}
      JP: {name: Japan, bloc: allied}
    products:
      conc: {unit: t REO}
      ndpr: {unit: t}
      ce: {unit: t}
    facilities:
      mine: {region: AU, stage: mine, capacity: 365000, outputs: {conc: 1.0}, finished_cover_days: 0}
      sep:
        region: MY
        stage: separation
        capacity: 365000
        inputs: {conc: 1.0}
        outputs: {ndpr: 0.2, ce: 0.5}
        stock: {conc: {cover_days: 10}}
        finished_cover_days: 0
    markets:
      m_ndpr: {region: JP, sector: ev_motors, demand: {ndpr: {rate: 36500}}, stock: {ndpr: {cover_days: 10}}}
      m_ce: {region: JP, sector: polishing, demand: {ce: {rate: 18250}}, stock: {ce: {cover_days: 10}}}
    links:
      - {from: mine, to: sep, product: conc, lead_days: 5}
      - {from: sep, to: m_ndpr, product: ndpr, lead_days: 5}
      - {from: sep, to: m_ce, product: ce, lead_days: 5}
    """)
    tr = run_reference(sc, net)
    P = {p: i for i, p in enumerate(net.products)}
    f = net.producers.index("sep")
    conc = hold(net, "sep", "conc", "in")
    assert tr.exp_use[0, conc] == pytest.approx(500.0)
    assert tr.on_hand0[conc] == pytest.approx(5000.0)
    assert tr.activity[0, f] == 0.0
    np.testing.assert_allclose(tr.activity[1:, f], 500.0)
    np.testing.assert_allclose(tr.produced[1:, P["ndpr"]], 100.0)
    np.testing.assert_allclose(tr.produced[1:, P["ce"]], 250.0)
    np.testing.assert_allclose(tr.produced[1:, P["ce"]] / tr.produced[1:, P["ndpr"]], 2.5)
    np.testing.assert_allclose(tr.surplus[1:, P["ce"]], 200.0)
    np.testing.assert_allclose(tr.surplus[:, P["ndpr"]], 0.0, atol=1e-12)
    np.testing.assert_allclose(tr.used[1:, P["conc"]], 500.0)
    assert tr.on_hand[60, conc] == pytest.approx(2000.0)
    np.testing.assert_allclose(tr.fill, 1.0)
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- (5) rationing


def test_pro_rata_rationing_and_weights(tmp_path):
    # Mine capacity 43800 t/yr = 120 t/d; buyers A 100 t/d and B 50 t/d (cover 10).
    # Step 1: backlogs 100 and 50, need 150, activity 120: shipped pro rata
    # 120 x 100/150 = 80 and 120 x 50/150 = 40; every later step keeps the 2:1 ratio
    # (both re-order what they consumed) -> 80 / 40 t/d forever.
    # A: 1000 - 100/d to step 5 (400), then -20/d: 0 after step 25 (400 - 20 x 20).
    # B: 500 - 50/d to step 5 (200), then -10/d: 0 after step 25. From step 26 both
    # receive 80 % of demand: fill 0.8.
    sc, net = build(tmp_path, """
    reesim: 1
    name: ration
    horizon: {start: 2025-01-01, end: 2025-03-31}
    regions:
      AU: {name: Australia, bloc: allied}
      CN: {name: China, bloc: china}
      JP: {name: Japan, bloc: allied}
    products:
      ore: {unit: t}
    facilities:
      mine: {region: AU, stage: mine, capacity: 43800, outputs: {ore: 1.0}, finished_cover_days: 0}
      mine_a: {region: AU, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
      mine_b: {region: CN, stage: mine, capacity: 365000, outputs: {ore: 1.0}, finished_cover_days: 0}
    markets:
      A: {region: JP, sector: s1, demand: {ore: {rate: 36500}}, stock: {ore: {cover_days: 10}}}
      B: {region: JP, sector: s2, demand: {ore: {rate: 18250}}, stock: {ore: {cover_days: 10}}}
      W: {region: JP, sector: s3, demand: {ore: {rate: 36500}}, stock: {ore: {cover_days: 10}}}
    links:
      - {id: a, from: mine, to: A, product: ore, lead_days: 5}
      - {id: b, from: mine, to: B, product: ore, lead_days: 5}
      - {id: wa, from: mine_a, to: W, product: ore, lead_days: 5, weight: 3}
      - {id: wb, from: mine_b, to: W, product: ore, lead_days: 5, weight: 1}
    """)
    tr = run_reference(sc, net)
    a, b = net.links.index("a"), net.links.index("b")
    np.testing.assert_allclose(tr.shipped[1:, a], 80.0)
    np.testing.assert_allclose(tr.shipped[1:, b], 40.0)
    np.testing.assert_allclose(tr.backlog[1, [a, b]], [20 + 100, 10 + 50])
    mA, mB = net.markets.index("A"), net.markets.index("B")
    np.testing.assert_allclose(tr.fill[:26, [mA, mB]], 1.0)
    np.testing.assert_allclose(tr.fill[26:, [mA, mB]], 0.8)
    assert tr.on_hand[25, hold(net, "A", "ore", "mkt")] == pytest.approx(0.0, abs=1e-9)
    # weights 3:1: W's first order of 100 t splits 75 / 25, shipped at step 1; steady
    # in transit 5 x 75 = 375 and 5 x 25 = 125.
    wa, wb = net.links.index("wa"), net.links.index("wb")
    np.testing.assert_allclose(tr.backlog[0, [wa, wb]], [75, 25])
    np.testing.assert_allclose(tr.shipped[1, [wa, wb]], [75, 25])
    np.testing.assert_allclose(tr.in_transit[40, [wa, wb]], [375, 125])
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- (7) tutorial


def test_tutorial_mass_balance_every_step():
    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", sets=[
        "markets.ev_jp.demand.magnet.noise_cv=0",
        "markets.ev_us.demand.magnet.noise_cv=0",
        "facilities.mine_cn.outages.rate_per_year=0",
    ])
    net = compile_network(sc)
    tr = run_reference(sc, net)
    assert tr.on_hand.shape == (net.n_steps, len(net.holdings))
    for arr in (tr.on_hand, tr.backlog, tr.in_transit, tr.backorder, tr.surplus):
        assert np.all(np.isfinite(arr)) and np.all(arr >= 0.0)
    assert mass_balance_error(net, tr) < 1e-9
    # the stockpile's only receiver, magnet_jp, never falls below its 10-day release threshold
    # (its NdPr oxide cover stays above 10 d throughout), so nothing is ever triggered and,
    # with no link into it, the stockpile holds its initial 300 t
    assert not tr.triggered.any() and not tr.released.any()
    pile = [h for h, (_, _, k) in enumerate(net.holdings) if k == "pile"]
    for h in pile:
        np.testing.assert_allclose(tr.on_hand[:, h], tr.on_hand0[h])


# --------------------------------------------------------------------------- (8) capacity


def test_ramp_commission_and_outage_capacity(tmp_path):
    # Mine 36500 t/yr = 100/step, online 2025-01-11 (step 10), ramp 4 d:
    #   t < 10: 0; t = 10, 11, 12: 100 x 1/4, 2/4, 3/4 = 25, 50, 75; t >= 13: 100.
    # Commission +18250 t/yr = 50/step from step 20, ramp 2 d: +25 at 20, +50 from 21.
    # Outage of the mine at steps 30..34 (lost 0.5) -> (100 + 50) x 0.5 = 75; at step 32
    # also the selector outage (regions AU and stages mine, lost 0.2): 150 x 0.5 x 0.8 = 60.
    # Outage of another facility (mine2) and a selector that matches no stage leave it.
    # Demand 200 t/d >> capacity, so the backlog always exceeds capacity: activity = cap.
    sc, net = build(tmp_path, """
    reesim: 1
    name: cap
    horizon: {start: 2025-01-01, end: 2025-03-31}
    regions:
      AU: {name: Australia, bloc: allied}
      JP: {name: Japan, bloc: allied}
    products:
      ore: {unit: t}
    facilities:
      mine:
        {region: AU, stage: mine, capacity: 36500, outputs: {ore: 1.0}, finished_cover_days: 0,
         online: 2025-01-11, ramp_days: 4}
      mine2: {region: JP, stage: mine, capacity: 36500, outputs: {ore: 1.0}}
    markets:
      mkt:
        region: JP
        sector: ev_motors
        demand: {ore: {rate: 73000}}
        stock: {ore: {cover_days: 30}}
    links:
      - {from: mine, to: mkt, product: ore, lead_days: 1}
    events:
      - {id: add, type: commission, facility: mine, capacity: 18250, ramp_days: 2, start: 2025-01-21}
      - {id: o1, type: outage, facilities: [mine], capacity_lost: 0.5, start: 2025-01-31, duration_days: 5}
      - {id: o2, type: outage, regions: [AU], stages: [mine], capacity_lost: {fixed: 0.2},
         start: 2025-02-02, end: 2025-02-03}
      - {id: o3, type: outage, facilities: [mine2], start: 2025-01-31, end: 2025-02-10}
      - {id: o4, type: outage, regions: [AU], stages: [separation], start: 2025-01-31, end: 2025-02-10}
    """)
    tr = run_reference(sc, net)
    f = net.producers.index("mine")
    expect = [0.0] * 10 + [25, 50, 75] + [100] * 7 + [125] + [150] * 9 + [75, 75, 60, 75, 75] + [150] * 5
    np.testing.assert_allclose(tr.capacity[:40, f], expect)
    np.testing.assert_allclose(tr.activity[:40, f], expect)
    f2 = net.producers.index("mine2")
    np.testing.assert_allclose(tr.capacity[30:40, f2], 0.0)
    assert tr.capacity[40, f2] == pytest.approx(100.0)
    assert mass_balance_error(net, tr) < 1e-9


# --------------------------------------------------------------------------- demand, exp_use, lead


def test_demand_shock_growth_and_exp_use_refresh(tmp_path):
    # Shock x2 at steps 10..14 (selected by sector and region): demand 200 there.
    # exp_use is refreshed at t % 7 == 0 only: 100 for t = 0..13, 200 for 14..20
    # (the shock is active at 14), 100 again from 21.
    ev = ("[{id: sh, type: demand_shock, sectors: [ev_motors], regions: [JP], factor: 2,"
          " start: 2025-01-11, duration_days: 5}]")
    sc, net = build(tmp_path, chain(fcd=0, events=ev))
    tr = run_reference(sc, net, n_steps=40)
    m = hold(net, "mkt", "ore", "mkt")
    np.testing.assert_allclose(tr.demand[:, 0], [100] * 10 + [200] * 5 + [100] * 25)
    np.testing.assert_allclose(tr.exp_use[:, m], [100] * 14 + [200] * 7 + [100] * 19)
    # growth 100 %/yr: demand(t) = 100 x 2^(t/365); exp_use held at the last refresh
    text = chain(fcd=0).replace("{rate: 36500}", "{rate: 36500, growth: 1.0}")
    sc, net = build(tmp_path, text, "g.yaml")
    tr = run_reference(sc, net)
    assert tr.demand[73, 0] == pytest.approx(100 * 2 ** 0.2)  # 114.87 t
    assert tr.exp_use[73, m] == pytest.approx(100 * 2 ** (70 / 365))  # refreshed at 70
    assert mass_balance_error(net, tr) < 1e-9


def test_logistics_extra_lead(tmp_path):
    # +3 d on the link from step 10: a shipment at 10 arrives at 10 + 8 = 18, so no
    # arrivals at 15, 16, 17; the market (400) drops to 300, 200, 100 and settles at 100
    # with 8 x 100 = 800 t in transit (Little), never short (min 200 before consuming).
    ev = ("[{id: port, type: logistics, links: [road], extra_lead_days: 3,"
          " start: 2025-01-11}]")
    sc, net = build(tmp_path, chain(fcd=0, events=ev))
    tr = run_reference(sc, net)
    m = hold(net, "mkt", "ore", "mkt")
    np.testing.assert_allclose(tr.on_hand[14:19, m], [400, 300, 200, 100, 100])
    assert tr.in_transit[60, 0] == pytest.approx(800.0)
    assert tr.on_hand[60, m] == pytest.approx(100.0)
    np.testing.assert_allclose(tr.fill, 1.0)


# --------------------------------------------------------------------------- event selectors


SELECTORS = """
reesim: 1
name: sel
horizon: {start: 2025-01-01, end: 2025-03-31}
regions:
  CN: {name: China, bloc: china}
  AU: {name: Australia, bloc: allied}
  JP: {name: Japan, bloc: allied}
  US: {name: United States, bloc: allied}
products:
  ore: {unit: t}
  mag: {unit: t}
facilities:
  mine_cn: {region: CN, stage: mine, capacity: 1000, outputs: {ore: 1.0}}
  mine_au: {region: AU, stage: mine, capacity: 1000, outputs: {ore: 1.0}}
  mag_jp: {region: JP, stage: component, capacity: 1000, inputs: {ore: 1.0}, outputs: {mag: 1.0}}
  mag_cn: {region: CN, stage: component, capacity: 1000, inputs: {ore: 1.0}, outputs: {mag: 1.0}}
markets:
  ev_us: {region: US, sector: ev_motors, demand: {mag: {rate: 100}}}
  ev_cn: {region: CN, sector: ev_motors, demand: {mag: {rate: 100}}}
  wind_jp: {region: JP, sector: wind, demand: {mag: {rate: 100}}}
links:
  - {from: mine_cn, to: mag_jp, product: ore, lead_days: 5}
  - {from: mine_au, to: mag_jp, product: ore, lead_days: 5}
  - {from: mine_cn, to: mag_cn, product: ore, lead_days: 5}
  - {id: cn_us, from: mag_cn, to: ev_us, product: mag, lead_days: 5}
  - {from: mag_cn, to: ev_cn, product: mag, lead_days: 5}
  - {from: mag_jp, to: wind_jp, product: mag, lead_days: 5}
  - {from: mag_cn, to: wind_jp, product: mag, lead_days: 5}
  - {from: mag_jp, to: ev_us, product: mag, lead_days: 5}
events:
  - {id: ec1, type: export_control, origin: CN, products: [mag], destinations: {exclude: [US]},
     blocked: 0.5, start: 2025-01-11}
  - {id: ec2, type: export_control, origin: [CN], products: [ore, mag],
     destinations: {include: [CN, US]}, blocked: 0.2, start: 2025-01-11, end: 2025-01-21,
     schedule: [{start: 2025-01-16, blocked: 0.6}]}
  - {id: out1, type: outage, stages: [mine], capacity_lost: 0.5, start: 2025-01-11}
  - {id: out2, type: outage, regions: [CN], stages: [component], start: 2025-01-11}
  - {id: out3, type: outage, facilities: [mag_jp], regions: [CN], capacity_lost: 0.25,
     start: 2025-01-11}
  - {id: log1, type: logistics, to_regions: [JP], products: [ore], extra_lead_days: 3,
     start: 2025-01-11}
  - {id: log2, type: logistics, links: [cn_us], extra_lead_days: 10, start: 2025-01-11}
  - {id: log3, type: logistics, from_regions: [CN], extra_lead_days: {fixed: 2}, start: 2025-01-11}
  - {id: sh1, type: demand_shock, sectors: [ev_motors], factor: 1.5, start: 2025-01-11}
  - {id: sh2, type: demand_shock, sectors: [ev_motors], regions: [US], factor: 2, start: 2025-01-11}
  - {id: sh3, type: demand_shock, markets: [wind_jp], factor: 0.5, start: 2025-01-11}
  - {id: com, type: commission, facility: mag_jp, capacity: 3650, ramp_days: 4, start: 2025-01-11}
"""


def test_event_selectors(tmp_path):
    sc, net = build(tmp_path, SELECTORS)
    neutral = event_factors(sc, 5)
    assert set(neutral.capacity_factor.values()) == {1.0}
    assert neutral.link_open == [1.0] * 8 and neutral.extra_lead_days == [0.0] * 8
    fx = event_factors(sc, 12)
    # links: 0 cn>jp ore, 1 au>jp ore, 2 cn>cn ore, 3 cn>us mag, 4 cn>cn mag,
    # 5 jp>jp mag, 6 cn>jp mag, 7 jp>us mag.
    # ec1 covers only 6 (US excluded, CN->CN domestic, ore not listed): 0.5.
    # ec2 (include CN, US) covers only 3 (CN is origin, so never a destination): 0.8.
    assert fx.link_open == pytest.approx([1, 1, 1, 0.8, 1, 1, 0.5, 1])
    assert event_factors(sc, 16).link_open[3] == pytest.approx(0.4)  # schedule step: 0.6
    assert event_factors(sc, 20).link_open[3] == pytest.approx(1.0)  # ec2 ended (exclusive)
    # out1 (all mines) 0.5; out2 (CN and component) -> mag_cn 0; out3 (mag_jp, or CN) 0.75
    assert fx.capacity_factor == pytest.approx(
        {"mine_cn": 0.5 * 0.75, "mine_au": 0.5, "mag_jp": 0.75, "mag_cn": 0.0})
    # log1 (to JP and ore): 0, 1 -> +3; log2: link 3 -> +10; log3 (from CN): 0, 2, 3, 4, 6 -> +2
    assert fx.extra_lead_days == pytest.approx([5, 3, 2, 12, 2, 0, 2, 0])
    # sh1 (ev_motors) 1.5 on ev_us, ev_cn; sh2 (ev_motors and US) 2 on ev_us; sh3 0.5 wind_jp
    assert fx.demand_factor == pytest.approx({"ev_us": 3.0, "ev_cn": 1.5, "wind_jp": 0.5})
    # commission 3650 t/yr = 10/step, ramp 4 steps from step 10: 2.5 at 10, 5 at 11
    assert event_factors(sc, 10).added_capacity["mag_jp"] == pytest.approx(2.5)
    assert event_factors(sc, 11).added_capacity["mag_jp"] == pytest.approx(5.0)
    assert fx.added_capacity == pytest.approx({"mine_cn": 0, "mine_au": 0, "mag_jp": 7.5, "mag_cn": 0})
    assert event_factors(sc, 13).added_capacity["mag_jp"] == pytest.approx(10.0)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("finished_cover_days: 0\n", "finished_cover_days: 0\n"
                        "        outages: {rate_per_year: 1, duration_days: 5}\n"),
    lambda s: s.replace("events: []", "events: [{id: o, type: outage, facilities: [mine],"
                        " capacity_lost: {uniform: {low: 0.1, high: 0.5}}, start: 2025-01-05}]"),
    lambda s: s.replace("events: []", "events: [{id: o, type: outage, facilities: [mine],"
                        " stochastic: {rate_per_year: 1, duration_days: 5}}]"),
    lambda s: s.replace("{rate: 36500}", "{rate: 36500, noise_cv: 0.1}"),
])
def test_refuses_stochastic(tmp_path, edit):
    sc, net = build(tmp_path, edit(chain(fcd=0)))
    with pytest.raises(NotImplementedError, match="deterministic scenarios only"):
        run_reference(sc, net, n_steps=3)


def test_noise_false_ignores_noise(tmp_path):
    sc, net = build(tmp_path, chain(fcd=0).replace("{rate: 36500}", "{rate: 36500, noise_cv: 0.3}"))
    tr = run_reference(sc, net, n_steps=10, noise=False)
    np.testing.assert_allclose(tr.demand[:, 0], 100.0)
    assert math.isclose(tr.fill.min(), 1.0)
