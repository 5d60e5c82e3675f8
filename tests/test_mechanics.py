"""Diversification mechanics in the vectorised engine: hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario
from simulator.engine import simulate
from simulator.network import compile_network

pytestmark = pytest.mark.usefixtures("backend")  # every test once per kernel backend
ROOT = Path(__file__).resolve().parents[1]



BASE = """
reesim: 1
name: mech
horizon: {{start: 2025-01-01, end: 2025-06-30}}
report: {{interval_days: 7, trace_stages: [mine, separation]}}
regions:
  CN: {{name: China, bloc: china}}
  AU: {{name: Australia, bloc: allied}}
  JP: {{name: Japan, bloc: allied}}
products:
  conc: {{unit: t REO}}
  oxide: {{unit: t}}
  magnet: {{unit: t, family: magnets}}
{body}
"""


def build(tmp_path: Path, body: str, sets: list[str] | None = None):
    p = tmp_path / "m.yaml"
    p.write_text(BASE.format(body=body))
    return compile_network(load_scenario(p, sets or ()))


def two_suppliers(late_online: str, first: str = "mag_old", late: str = "mag_new", first_region: str = "AU",
                  events: str = "") -> str:
    """One market m (100 t/d of magnets, 5 days of cover) buying 1:1 from two plants over 1-day links, the
    second coming on line on ``late_online``; ``events``: YAML list items."""
    plant = "{{region: {r}, stage: component, capacity: 1000000, outputs: {{magnet: 1.0}}, finished_cover_days: 0"
    return (f"""
facilities:
  {first}: {plant.format(r=first_region)}}}
  {late}: {plant.format(r="AU")},
            online: {late_online}}}
markets:
  m: {{region: JP, sector: ev_motors, demand: {{magnet: {{rate: 36500}}}}, stock: {{magnet: {{cover_days: 5}}}}}}
links:
  - {{from: {first}, to: m, product: magnet, lead_days: 1}}
  - {{from: {late}, to: m, product: magnet, lead_days: 1}}
""" + (f"events:\n{events}" if events else ""))


def run(net, R=1, **kw):
    rec: dict[str, list] = {}

    def obs(t, s):
        for k in ("served", "demand", "released", "collected", "weights", "substituted", "on_hand", "shipped",
                  "triggered"):
            rec.setdefault(k, []).append(np.array(s[k], copy=True))

    res = simulate(net, R, seed=0, observer=obs, noise=False, **kw)
    return res, {k: np.stack(v) for k, v in rec.items()}


TWO_CHAINS = """
facilities:
  mine_cn: {region: CN, stage: mine, capacity: 1000000, outputs: {conc: 1.0}, finished_cover_days: 0}
  sep_cn: {region: CN, stage: separation, capacity: 1000000, inputs: {conc: 1.0}, outputs: {oxide: 1.0}, finished_cover_days: 0}
  mine_au: {region: AU, stage: mine, capacity: 1000000, outputs: {conc: 1.0}, finished_cover_days: 0}
  sep_au: {region: AU, stage: separation, capacity: 1000000, inputs: {conc: 1.0}, outputs: {oxide: 1.0}, finished_cover_days: 0}
  mag_a: {region: JP, stage: component, capacity: 1000000, inputs: {oxide: 1.0}, outputs: {magnet: 1.0}, finished_cover_days: 0}
  mag_b: {region: JP, stage: component, capacity: 1000000, inputs: {oxide: 1.0}, outputs: {magnet: 1.0}, finished_cover_days: 0}
markets:
  via_cn: {region: JP, sector: ev_motors, demand: {magnet: {rate: 36500}}}
  via_au: {region: JP, sector: wind, demand: {magnet: {rate: 18250}}}
links:
  - {from: mine_cn, to: sep_cn, product: conc, lead_days: 3}
  - {from: sep_cn, to: mag_a, product: oxide, lead_days: 5}
  - {from: mine_au, to: sep_au, product: conc, lead_days: 3}
  - {from: sep_au, to: mag_b, product: oxide, lead_days: 5}
  - {from: mag_a, to: via_cn, product: magnet, lead_days: 2}
  - {from: mag_b, to: via_au, product: magnet, lead_days: 2}
"""


def test_dependency_exactly_one_through_china_and_zero_through_allied_chain(tmp_path):
    net = build(tmp_path, TWO_CHAINS)
    res = simulate(net, 4, seed=0)
    cn, none = net.regions.index("CN"), -1
    k_sep, k_mine = res.trace_stages.index("separation"), res.trace_stages.index("mine")
    a, b = net.markets.index("via_cn"), net.markets.index("via_au")
    assert (res.dependency[:, a, k_sep, cn] == 1.0).all()
    assert (res.dependency[:, a, k_mine, cn] == 1.0).all()
    assert (res.dependency[:, b, k_sep, cn] == 0.0).all()
    assert (res.dependency[:, b, k_sep, net.regions.index("AU")] == 1.0).all()
    assert (res.dependency[:, :, :, none] == 0.0).all()


def test_reroute_ends_shortage_after_delay_plus_lead(tmp_path):
    # Market: 100 t/d, cover 2 d, fed half by CN and half by AU (lead 1 d, ample capacity).
    # The CN link closes fully at step 30; with reroute_after_days 20 the link counts as
    # closed for 20 steps at step 49, so at step 49 the AU link takes all the weight and
    # orders the whole gap; it ships at step 50 and arrives at step 51: fill is 0.5 from
    # the day the stock runs out until step 50, and 1 again from step 51.
    net = build(tmp_path, """
facilities:
  mag_cn: {region: CN, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
  mag_au: {region: AU, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
markets:
  m: {region: JP, sector: ev_motors, demand: {magnet: {rate: 36500}}, stock: {magnet: {cover_days: 2}}}
links:
  - {from: mag_cn, to: m, product: magnet, lead_days: 1}
  - {from: mag_au, to: m, product: magnet, lead_days: 1}
events:
  - {id: ban, type: export_control, origin: CN, products: [magnet], blocked: 1.0, start: 2025-01-31, end: 2025-04-01}
policies: {reroute_after_days: 20}
""")
    res, rec = run(net)
    fill = rec["served"][:, 0, 0] / rec["demand"][:, 0, 0]
    assert fill[:30] == pytest.approx(1.0)
    assert fill[35:51] == pytest.approx(0.5)
    assert fill[51:89] == pytest.approx(1.0)
    w = rec["weights"][:, 0]
    assert w[48].tolist() == [0.5, 0.5] and w[49].tolist() == [0.0, 1.0]
    assert w[95].tolist() == [0.5, 0.5]  # the control ended at step 90: weights back


def test_stockpile_releases_max_per_day_from_the_step_after_trigger(tmp_path):
    # A market of 100 t/d with 10 d cover loses its only supplier at step 20. In steady state
    # (lead 1) it holds 800 after consumption, with 100 in transit (1000 - 100 - 100 ordered).
    # At step 20 the last arrival keeps it at 800, then it falls by 100 a day: 700 at 21,
    # 600, 500 at 23 (not below 5 d x 100 = 500), 400 at step 24: the trigger is raised at
    # step 24 and releases start at step 25, 30 t a step (max_per_day) until the 600 t are
    # gone (steps 25..44).
    net = build(tmp_path, """
facilities:
  mag: {region: AU, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
markets:
  m: {region: JP, sector: ev_motors, demand: {magnet: {rate: 36500}}, stock: {magnet: {cover_days: 10}}}
stockpiles:
  pile: {region: JP, holds: {magnet: {initial: 600}}, release: {to: [m], when_cover_below_days: 5, max_per_day: 30}, holding_cost: 365}
links:
  - {from: mag, to: m, product: magnet, lead_days: 1}
events:
  - {id: down, type: outage, facilities: [mag], capacity_lost: 1.0, start: 2025-01-21}
""")
    res, rec = run(net)
    rel = rec["released"][:, 0, 0]
    assert rel[:25].sum() == 0.0
    assert rel[25:45] == pytest.approx(30.0)  # 20 x 30 = 600 t: the stockpile is empty after step 44
    assert rel[45:].sum() == 0.0
    assert res.released_t[0, 0] == pytest.approx(600.0)
    # holding cost 1 USD/t/d on the level at the end of each step: 600 x 25 + sum of 570, 540, ..., 0
    assert res.holding_cost_usd[0, 0] == pytest.approx(600 * 25 + sum(600 - 30 * k for k in range(1, 21)))


def test_recycling_returns_recovered_consumption_after_lifetime(tmp_path):
    # 100 t/d consumed; recovery 0.2; lifetime 30 d: scrap = 20 t/d, from pre-horizon
    # consumption during steps 0..29 and from simulated consumption afterwards.
    net = build(tmp_path, """
facilities:
  mag: {region: AU, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
recyclers:
  rec: {region: JP, capacity: 100000, collects: {from: [m], product: magnet, lifetime_days: 30, recovery: 0.2}, outputs: {oxide: 0.25}}
markets:
  m: {region: JP, sector: ev_motors, demand: {magnet: {rate: 36500}}}
links:
  - {from: mag, to: m, product: magnet, lead_days: 2}
""")
    res, rec = run(net)
    coll = rec["collected"][:, 0, net.products.index("magnet")]
    assert coll == pytest.approx(20.0)
    assert res.mass_balance_error < 1e-9


def test_substitution_cuts_demand_after_shortage_persists(tmp_path):
    # The only supplier is down from step 10; with cover 5 d and lead 1 the market holds 300
    # after consumption in steady state (500 - 100 in transit - 100 ordered): 300 at step 10
    # (last arrival), 200, 100, 0 at step 13, short from step 14. After 7 short days (steps
    # 14..20) adoption starts at step 21 and ramps linearly over 10 steps to 30 %: demand at
    # step 21 is 100 x (1 - 0.03), at step 30 and later 70.
    net = build(tmp_path, """
facilities:
  mag: {region: AU, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
markets:
  m:
    region: JP
    sector: ev_motors
    demand: {magnet: {rate: 36500}}
    stock: {magnet: {cover_days: 5}}
    substitution: [{product: magnet, fraction: 0.3, after_shortfall_days: 7, adoption_days: 10}]
links:
  - {from: mag, to: m, product: magnet, lead_days: 1}
events:
  - {id: down, type: outage, facilities: [mag], capacity_lost: 1.0, start: 2025-01-11}
""")
    res, rec = run(net)
    dem = rec["demand"][:, 0, 0]
    assert dem[:21] == pytest.approx(100.0)
    assert dem[21] == pytest.approx(97.0)
    assert dem[30:] == pytest.approx(70.0)
    assert rec["substituted"][40, 0, 0] == pytest.approx(30.0)


def test_plant_online_after_the_horizon_never_runs_nor_gets_orders(tmp_path):
    # As the test below, with mag_new online only after the horizon (and a commission of it after the
    # horizon too): allowed, so that a horizon can be cut short (--set horizon.end=...); every order
    # goes to mag_old for the whole run and nobody waits for the plant. A disruption dated after the
    # horizon never happens either: the results are those without it, and as the reference event it
    # gives no TTS/TTR (NaN), not a negative time.
    body = two_suppliers("2031-01-01",
                         events="  - {id: more, type: commission, facility: mag_new, start: 2032-01-01, capacity: 1000}\n")
    net = build(tmp_path, body)
    res, rec = run(net)
    assert rec["weights"][:, 0].tolist() == [[1.0, 0.0]] * net.n_steps
    assert (rec["served"] == rec["demand"]).all()
    new = net.producers.index("mag_new")
    assert res.output_t[0, new] == 0.0 and res.capacity_used[0, new] == 0.0
    build(tmp_path, body + "  - {id: ban, type: outage, facilities: [mag_old], start: 2032-01-01}\n")  # m.yaml
    late = compile_network(load_scenario(tmp_path / "m.yaml", ["report.reference_event=ban"]))
    res2, rec2 = run(late)
    assert np.array_equal(rec2["served"], rec["served"]) and np.array_equal(res2.output_t, res.output_t)
    assert np.isnan(res2.tts_days).all() and np.isnan(res2.ttr_days).all() and not res2.tts_censored.any()


def test_dates_after_the_horizon_in_its_last_step_never_happen(tmp_path):
    # 181 days in 7-day steps: 26 steps, the last one (2025-06-25 .. 07-01) a day past the horizon's end.
    # A plant online on 2025-07-01 and an outage from then are after the horizon, so they never happen
    # (they used to, in that last step); dated 2025-06-30, the horizon's last day, both happen in it.
    def late(day: str):
        cut = f"  - {{id: cut, type: outage, facilities: [mag_old], capacity_lost: 1.0, start: {day}}}\n"
        net = build(tmp_path, two_suppliers(day, events=cut), ["horizon.step_days=7"])
        return (net, *run(net))

    net, after, rec_after = late("2025-07-01")
    old, new = net.producers.index("mag_old"), net.producers.index("mag_new")
    assert net.n_steps == 26 and net.online_step[new] == 26
    assert (rec_after["weights"][:, 0, 1] == 0.0).all()  # mag_new is never ordered from
    net, within, rec_within = late("2025-06-30")
    assert net.online_step[new] == 25
    assert (rec_within["weights"][:25, 0, 1] == 0.0).all() and rec_within["weights"][25, 0, 1] > 0.0
    # the outage takes mag_old's last step of output (its backlog) only when it starts within the horizon
    assert within.output_t[0, old] < after.output_t[0, old]


def test_supplier_not_online_yet_gets_no_orders(tmp_path):
    # Two suppliers of one market, weights 1:1, lead 1 d; mag_new comes online at step 30.
    # Before that every order goes to mag_old (weight 1 of the links still considered), so
    # mag_new has no backlog to serve when it starts; from step 30 orders split 1:1 and the
    # new plant ships from step 31.
    net = build(tmp_path, two_suppliers("2025-01-31"))
    res, rec = run(net)
    w = rec["weights"][:, 0]
    assert w[:30].tolist() == [[1.0, 0.0]] * 30
    assert w[30].tolist() == [0.5, 0.5]
    fill = rec["served"][:, 0, 0] / rec["demand"][:, 0, 0]
    assert fill == pytest.approx(1.0)  # no orders waited at a plant that was not running


def test_a_scheduled_export_control_has_one_window_over_its_whole_schedule():
    # the tutorial's licence with a schedule (blocked 0.46 in April, 0.74 in May, 0.34 in June, to 1 July):
    # its window (shading, 'fill in <event>') ran only to the first step of the schedule, 1 May
    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", [
        "events.cn_magnet_licensing.end=2025-07-01",
        "events.cn_magnet_licensing.schedule=[{start: 2025-05-01, blocked: 0.74}, {start: 2025-06-01, blocked: 0.34}]"])
    net = compile_network(sc)
    res, rec = run(net)
    (w,) = [w for w in res.event_windows if w[0] == "cn_magnet_licensing"]
    assert (w[2], w[3]) == (93, 181)  # 2025-04-04 and 2025-07-01, in days from the start
    served, demand = rec["served"][93:181, 0].sum(axis=0), rec["demand"][93:181, 0].sum(axis=0)
    m = net.markets.index("ev_jp")
    seg = slice(net.mkt_starts[m], net.mkt_starts[m + 1] if m + 1 < len(net.markets) else None)
    np.testing.assert_allclose(res.window_fill["cn_magnet_licensing"][0, m], served[seg].sum() / demand[seg].sum())


def test_an_export_quota_is_a_share_of_the_flow_of_the_plants_on_line(tmp_path):
    # m buys magnets half from mag_cn and half from mag_au, which comes on line at step 30; China lets
    # through half of its normal exports. Before step 30 all of m's 100 t/d come from mag_cn, so the quota
    # is 50 t/d (it used to be 25: half of mag_cn's nominal share with mag_au counted as if running);
    # from step 30 mag_cn's normal share is half, and the quota 25 t/d.
    cap = "  - {id: cap, type: export_control, origin: CN, products: [magnet], blocked: 0.5, start: 2025-01-01}\n"
    net = build(tmp_path, two_suppliers("2025-01-31", "mag_cn", "mag_au", "CN", cap))
    assert net.quota_flow_steps.tolist() == [0, 30]
    res, rec = run(net)
    cn = list(net.links).index("mag_cn>m:magnet")
    shipped = rec["shipped"][:, 0, cn]
    np.testing.assert_allclose(shipped[5:30], 50.0)  # short of magnets, m orders more than the quota allows
    np.testing.assert_allclose(shipped[40:], 25.0)


PLANT_RESERVE = """
facilities:
  sep: {region: AU, stage: separation, capacity: 36500, outputs: {oxide: 1.0}, finished_cover_days: 0}
  mag: {region: JP, stage: component, capacity: 1000000, inputs: {oxide: 1.0}, outputs: {magnet: 1.0},
        finished_cover_days: 0, stock: {oxide: {cover_days: 10}}}
markets:
  m: {region: JP, sector: ev_motors, demand: {magnet: {rate: 18250}}, stock: {magnet: {cover_days: 5}}}
stockpiles:
  pile: {region: JP, holds: {oxide: {initial: 2000, target: 2000}}, release: {to: [mag], when_cover_below_days: 5, max_per_day: 1000}}
links:
  - {from: sep, to: mag, product: oxide, lead_days: 1}
  - {from: sep, to: pile, product: oxide, lead_days: 1}
  - {from: mag, to: m, product: magnet, lead_days: 1}
events:
  - {id: down, type: outage, facilities: [sep], capacity_lost: 0.6, start: 2025-02-01}
"""


def test_a_reserve_feeding_a_plant_releases_every_step_and_buys_nothing_meanwhile(tmp_path):
    # sep makes 100 t/d, 40 after the outage (step 31); mag uses 50 t/d of oxide. mag's stock falls
    # 10 t/d to its threshold (5 d x 50 = 250 t) and the reserve tops it up from step 48 (20 t, then the
    # 10 t/d gap). mag uses its input (phase 3) before the release (phase 4), so a top-up to the threshold
    # is not below it: the channel was triggered every other step, and on the steps between the reserve
    # re-ordered from sep, buying back what it released (JOGMEC's Dy in 2027). A channel that released
    # stays triggered, and a triggered reserve orders nothing.
    net = build(tmp_path, PLANT_RESERVE)
    _, rec = run(net)
    rel = rec["released"][:, 0, 0]
    trig = rec["triggered"][:, 0, 0]
    to_pile = rec["shipped"][:, 0, net.links.index("sep>pile:oxide")]
    assert rel[:48].sum() == 0.0 and not trig[:48].any()
    assert rel[48] == pytest.approx(20.0)
    assert rel[49:] == pytest.approx(10.0)
    assert trig[48:].all()
    assert to_pile.sum() == 0.0


REGIONAL_REROUTE = """
facilities:
  mag_cn: {region: CN, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
  mag_au: {region: AU, stage: component, capacity: 1000000, outputs: {magnet: 1.0}, finished_cover_days: 0}
markets:
  m_jp: {region: JP, sector: ev_motors, demand: {magnet: {rate: 36500}}, stock: {magnet: {cover_days: 5}}}
  m_au: {region: AU, sector: ev_motors, demand: {magnet: {rate: 36500}}, stock: {magnet: {cover_days: 5}}}
links:
  - {from: mag_cn, to: m_jp, product: magnet, lead_days: 1}
  - {from: mag_au, to: m_jp, product: magnet, lead_days: 1}
  - {from: mag_cn, to: m_au, product: magnet, lead_days: 1}
  - {from: mag_au, to: m_au, product: magnet, lead_days: 1}
policies: {reroute_after_days: 20}
events:
  - {id: ban, type: export_control, origin: CN, products: [magnet], destinations: {exclude: [CN]}, blocked: 1.0, start: 2025-02-01}
  - {id: fw, type: policy, set: {reroute_after_days: 5}, regions: [JP], start: 2025-01-01}
"""


def test_a_policy_scoped_to_a_region_speeds_only_its_buyers_re_routing(tmp_path):
    # the US-Japan framework sped up every buyer's re-sourcing in the model, so at 90 % withheld EU and
    # rest-of-world users moved to Japan's magnet maker a month sooner and Japan ran short sooner with the
    # plan. The ban closes both markets' Chinese links from step 31 (1 Feb): m_jp (JP, 5 days) re-routes at
    # step 35, its closure counter reaching 5; m_au (20 days, the scenario's policy) at step 50.
    net = build(tmp_path, REGIONAL_REROUTE)
    _, rec = run(net)
    w = rec["weights"][:, 0]
    jp, au = net.links.index("mag_cn>m_jp:magnet"), net.links.index("mag_cn>m_au:magnet")
    assert int(np.argmax(w[:, jp] == 0.0)) == 35
    assert int(np.argmax(w[:, au] == 0.0)) == 50
    assert w[49, au] == pytest.approx(0.5) and w[35, net.links.index("mag_au>m_jp:magnet")] == pytest.approx(1.0)
