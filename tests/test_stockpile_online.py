"""A stockpile set up during the run (``stockpiles.ID.online``): empty and inert before its date, its
initial stock received at the date's step (mass entering the chain), refills and releases from then on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_differential import assert_agree

from simulator import load_scenario
from simulator.engine import simulate
from simulator.network import compile_network
from simulator.reference import run_reference
from simulator.synth import make_network_yaml

pytestmark = pytest.mark.usefixtures("backend")  # every test once per kernel backend

ROOT = Path(__file__).resolve().parents[1]
#: the tutorial with China's export control on NdPr oxide (a full ban): magnet_jp runs short of oxide
#: and the JOGMEC stockpile (300 t of NdPr oxide, no refill) releases to it
BAN = ["facilities.mine_cn.outages.rate_per_year=0", "events.cn_magnet_licensing.products=[ndpr_oxide]",
       "events.cn_magnet_licensing.blocked=1.0", "stockpiles.jogmec.holding_cost=5000"]
JUNE = 151  # 2025-06-01 - 2025-01-01 in days (step_days 1)


def _run(sets: list[str], R: int = 2):
    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", sets=sets)
    net = compile_network(sc)
    pile = int(np.flatnonzero(np.asarray(net.hold_kind) == 4)[0])
    rec: dict[str, list[np.ndarray]] = {"on_hand": [], "released": [], "stocked": []}

    def obs(t, s):
        rec["on_hand"].append(np.array(s["on_hand"][:, pile]))
        rec["released"].append(np.array(s["released"]).sum(axis=1))
        rec["stocked"].append(np.array(s["stocked"]))

    res = simulate(net, R, seed=1, observer=obs)
    return net, res, {k: np.stack(v) for k, v in rec.items()}


def test_a_stockpile_set_up_in_june_holds_and_releases_nothing_before():
    net, res, rec = _run([*BAN, "stockpiles.jogmec.online=2025-06-01"])
    oxide = net.products.index("ndpr_oxide")
    assert (rec["on_hand"][:JUNE] == 0.0).all() and (rec["released"][:JUNE] == 0.0).all()
    # at its step it receives its 300 t (and nothing at any other step), then releases what magnet_jp
    # lacks: the trigger has been in force since May (the same stockpile from the start releases from step 142)
    stocked = rec["stocked"].sum(axis=1)  # [T, P] over replicates
    assert np.flatnonzero(stocked.sum(axis=1)).tolist() == [JUNE]
    np.testing.assert_array_equal(rec["stocked"][JUNE, :, oxide], 300.0)
    assert (rec["released"][JUNE] > 0).all()
    np.testing.assert_allclose(rec["on_hand"][JUNE], 300.0 - rec["released"][JUNE], rtol=0, atol=1e-12)
    assert res.mass_balance_error < 1e-12  # the 300 t count as mass entering the chain
    _, early, rec_early = _run(BAN)
    assert np.flatnonzero(rec_early["released"][:, 0])[0] < JUNE  # it would have released before June
    assert early.holding_cost_usd.sum() > res.holding_cost_usd.sum()  # and been paid for since January


def test_a_stockpile_set_up_before_the_horizon_is_there_from_the_start():
    _, a, _ = _run(BAN)
    _, b, _ = _run([*BAN, "stockpiles.jogmec.online=2024-06-01"])
    for field in ("served_t", "released_t", "holding_cost_usd", "shipped_t"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_a_stockpile_set_up_after_the_horizon_never_exists():
    _, res, rec = _run([*BAN, "stockpiles.jogmec.online=2027-06-01"])
    assert (rec["on_hand"] == 0.0).all() and (rec["stocked"] == 0.0).all()
    assert res.released_t.sum() == 0.0 and res.holding_cost_usd.sum() == 0.0
    assert np.all(res.series["stockpile_t"] == 0.0)



def test_a_stockpile_set_up_after_the_horizon_but_within_the_last_step_never_exists():
    # weekly steps: 730 days make 105 steps, the last one (days 728-734) running past the horizon's end
    # (2026-12-31, day 729); a stockpile set up on 2027-01-02 (day 731) is after the horizon: never there
    sets = [*BAN, "horizon.step_days=7", "stockpiles.jogmec.online=2027-01-02"]
    _, res, rec = _run(sets)
    assert (rec["on_hand"] == 0.0).all() and (rec["stocked"] == 0.0).all()
    assert res.released_t.sum() == 0.0 and res.holding_cost_usd.sum() == 0.0
    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", sets=sets)
    ref = run_reference(sc, compile_network(sc), noise=False)
    assert ref.stocked.sum() == 0.0 and ref.holding_cost.sum() == 0.0
    # the same date inside the horizon (its last day, day 729, also in the last step) sets it up there
    _, last, rec_last = _run([*BAN, "horizon.step_days=7", "stockpiles.jogmec.online=2026-12-31"])
    np.testing.assert_array_equal(rec_last["stocked"].sum(axis=(1, 2)).nonzero()[0], [104])
    assert last.holding_cost_usd.min() > 0

def test_a_stockpile_refills_only_once_set_up_and_agrees_with_the_oracle(tmp_path):
    doc = yaml.safe_load(make_network_yaml(2, 1, 1, 2, 2, seed=3, horizon_days=90, with_stockpile=True))
    for m in doc["markets"].values():
        for d in m["demand"].values():
            d["noise_cv"] = 0.0
    for f in doc["facilities"].values():
        f.pop("outages", None)
    metal = next(f for f, x in doc["facilities"].items() if "ndpr_metal" in x.get("outputs", {}))
    doc["links"].append({"from": metal, "to": "stock_jp", "product": "ndpr_metal", "lead_days": 4})
    pile = doc["stockpiles"]["stock_jp"]
    pile["holds"]["ndpr_metal"]["target"] = 400.0  # above its 200 t: it buys 200 t once set up
    pile["online"] = "2025-02-01"  # step 31
    path = tmp_path / "pile.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    sc = load_scenario(path)
    net = compile_network(sc)
    into = len(sc.links) - 1
    backlog = []
    res = simulate(net, 2, seed=1, observer=lambda t, s: backlog.append(np.array(s["backlog"][:, into])))
    backlog_ = np.stack(backlog)
    assert (backlog_[:31] == 0.0).all()  # no orders before it exists
    np.testing.assert_allclose(backlog_[31], 200.0)  # then the gap to its target, at once
    assert res.shipped_t[:, into].sum() > 0
    assert_agree(sc, R=2)


def test_releases_are_counted_by_product_held():
    # JOGMEC holds magnets too and releases them to ev_jp: releases by (stockpile, product) are the
    # per-channel releases of the step summed over each holding's channels, and add up per stockpile
    sets = [*BAN, "events.cn_magnet_licensing.products=[ndpr_oxide, magnet]",
            "stockpiles.jogmec.holds.magnet={initial: 400}", "stockpiles.jogmec.release.to=[magnet_jp, ev_jp]"]
    sc = load_scenario(ROOT / "scenarios" / "tutorial.yaml", sets=sets)
    net = compile_network(sc)
    from simulator.diversify import compile_mechanics

    mech = compile_mechanics(net)
    by_channel = []
    res = simulate(net, 3, seed=1, observer=lambda t, s: by_channel.append(np.array(s["released"])))
    per_channel = np.stack(by_channel).sum(axis=0)  # [R, Q] over the run
    assert res.pile_holdings == (("jogmec", "ndpr_oxide"), ("jogmec", "magnet"))  # in the order of 'holds'
    for j, (_, product) in enumerate(res.pile_holdings):
        chans = [q for q in range(len(mech.ch_pile))
                 if net.products[net.hold_product[mech.ch_pile[q]]] == product]
        assert chans and res.released_by_holding_t[:, j].min() > 0  # both products were released
        np.testing.assert_allclose(res.released_by_holding_t[:, j], per_channel[:, chans].sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.released_t[:, 0], res.released_by_holding_t.sum(axis=1), rtol=1e-12)
    # the levels too, product by product: their means add up to the stockpile's
    assert res.series_labels["stockpile_product_t"] == ("jogmec/ndpr_oxide", "jogmec/magnet")
    levels = res.series["stockpile_product_t"]  # [intervals, 2, (p5, p50, p95, mean)]
    np.testing.assert_allclose(levels[:, :, 3].sum(axis=1), res.series["stockpile_t"][:, 0, 3], rtol=1e-12)
    assert levels[-1, 1, 3] < 400.0 < levels[0, 1, 3] + 1e-9  # magnets were drawn down
