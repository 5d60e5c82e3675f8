"""reesim against a peer simulator: the same small chain in SupplyNetPy 0.5.1 and in reesim.

The chain: 3 mines -> 2 separation plants -> 2 magnet makers -> 4 markets, 3650 days,
daily demand with a small noise (cv 0.1), capacities about twice the nominal need, no
disruptions. Both models are built from one description (``CHAIN`` below); reesim gets a
generated scenario YAML, SupplyNetPy gets its own nodes, links and demands.

A SupplyNetPy replicate is one SimPy simulation (a fresh network, built and run), so R
replicates are R runs; reesim runs R replicates in one ``simulate`` call. For each R the
script prints the wall time of both, the time per replicate-day and their ratio
(SupplyNetPy / reesim: how many times less time reesim takes per replicate-day). When R
SupplyNetPy runs would take longer than ``--snp-budget`` seconds (estimated from the R = 1
runs), only ``--snp-sample`` runs are timed and the figure is extrapolated linearly (marked
``~`` and said so below the table). reesim is timed with each backend it can
have (native, numba, numpy: ``simulator.kernels.set_backend``).

Usage, from the repository root::

    pip install supplynetpy==0.5.1            # or: pip install -e '.[bench]'
    python benchmarks/peers.py                # R = 1, 100, 1000 (about 1.5 minutes)
    python benchmarks/peers.py --rs 1,100 --repeats 1 --json peers.json
    python benchmarks/peers.py --backends numpy --snp-budget 600

What differs between the two models, and why the chain cannot be the same node for node,
is in benchmarks/README.md ("Peers") and in ``SEMANTICS`` below (printed with ``--explain``).
A sanity line after the table gives each model's fill rate per market, so a figure from a
run where one model starved is recognised as such. This is a benchmark: it prints figures
and is not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SNP_VERSION = "0.5.1"

# ----------------------------------------------------------------------------- the chain
# Quantities in reesim's units: t REO of concentrate, t NdPr oxide, t magnet; rates per year.
NDPR_PER_CONC = 0.22  # t NdPr oxide per t concentrate (separation output)
OXIDE_PER_MAGNET = 0.31  # t NdPr oxide per t magnet (magnet maker input)
FG_DAYS = 7.0  # finished-goods cover of every facility (reesim's default)
COVER_MARGIN = 15.0  # order-up-to cover = longest lead time into the holding + this [d]
HEADROOM = 2.0  # capacity / nominal need

CHAIN: dict[str, Any] = {
    "mines": {"mine_au": "AU", "mine_us": "US", "mine_br": "BR"},
    "separation": {"sep_my": "MY", "sep_us": "US"},
    "magnet": {"magnet_jp": "JP", "magnet_de": "DE"},
    # market -> (region, sector, demand t magnet / yr)
    "markets": {
        "ev_jp": ("JP", "ev_motors", 3650.0),
        "wind_de": ("DE", "wind", 2190.0),
        "motors_us": ("US", "industrial_motors", 1825.0),
        "ev_cn": ("CN", "ev_motors", 2920.0),
    },
    # (from, to, product, lead days, weight)
    "links": [
        ("mine_au", "sep_my", "concentrate", 30, 1.0),
        ("mine_us", "sep_us", "concentrate", 7, 0.5),
        ("mine_br", "sep_us", "concentrate", 20, 0.5),
        ("sep_my", "magnet_jp", "ndpr_oxide", 21, 0.6),
        ("sep_us", "magnet_jp", "ndpr_oxide", 14, 0.4),
        ("sep_us", "magnet_de", "ndpr_oxide", 7, 1.0),
        ("magnet_jp", "ev_jp", "magnet", 5, 1.0),
        ("magnet_jp", "wind_de", "magnet", 10, 1.0),
        ("magnet_de", "motors_us", "magnet", 20, 1.0),
        ("magnet_jp", "ev_cn", "magnet", 15, 0.5),
        ("magnet_de", "ev_cn", "magnet", 25, 0.5),
    ],
}
REGIONS = {"AU": ("Australia", "allied"), "US": ("United States", "allied"), "BR": ("Brazil", "other"),
           "MY": ("Malaysia", "other"), "JP": ("Japan", "allied"), "DE": ("Germany", "allied"),
           "CN": ("China", "china")}

SEMANTICS = """\
How the two models differ (SupplyNetPy 0.5.1 read from its source, SupplyNetPy/Components/core.py):
- Stages. A SupplyNetPy Manufacturer takes raw materials only from raw-material Suppliers
  (it reads link.source.raw_material), so two processing stages cannot follow each other.
  Mines are Suppliers, separation plants Manufacturers; magnet makers are InventoryNodes
  (distributors) that pass product through with no recipe and no capacity. SupplyNetPy
  counts the separation product in magnet-equivalent tonnes (OXIDE_PER_MAGNET / NDPR_PER_CONC
  t concentrate per unit) so that demand has the same numbers in both models.
- Markets. reesim markets hold stock and order over links; in SupplyNetPy each market is a
  retailer InventoryNode with its own Demand (one customer order a day).
- Several suppliers. reesim splits every order over a holding's links by weight (position
  shares). SupplyNetPy InventoryNodes send each whole order to one supplier drawn with
  SelectProbabilistic (probabilities = weights). Manufacturers ignore their selection policy
  and order each raw material from the first supplier that can take it, so sep_us, which
  buys from two mines, is given a two-material recipe (half its concentrate from each mine):
  the same split in steady state, but a Leontief AND (one mine stopping stops the plant).
- Stock policies. reesim: daily order-up-to per link, S = cover_days x expected use, input
  stocks at facilities, finished goods made to backlog + fg_days. SupplyNetPy: (s, S) with
  s = S - 1e-6 reviewed every day (period 1), which is order-up-to on the inventory
  position. Manufacturers keep no raw-material stock (they order raw material for each
  production plan), so their S covers the input lead time as well: S = (input cover +
  fg_days + 1 manufacturing day) x daily throughput; the magnet makers' S = (input cover +
  fg_days) x throughput. Mines mine at capacity until their store is full (reesim: produce
  to backlog + 7 days); the store holds the largest order a separation plant can place.
- Shipping. reesim ships partial quantities pro rata every day; SupplyNetPy ships an order
  only when the supplier holds all of it (first come, first served).
- Production. SupplyNetPy makes batches of at most batch_size whole units per
  manufacturing_time (1 day, batch = daily capacity); reesim's activity is continuous
  within the step.
- Demand. Lost sales in both; SupplyNetPy customers take what is there (consume_available)
  like reesim's lost-sales markets. Noise: normal, cv 0.1, cut at 0 (SupplyNetPy at 1e-9,
  it rejects 0). No growth, no events.
- Work done besides the flows. reesim also traces origins (default trace_stages: mine,
  separation), keeps weekly quantile series, TTS/TTR trackers and invariant checks
  (checks='error'); SupplyNetPy keeps its per-node and per-link statistics.
"""


def _nominal() -> dict[str, Any]:
    """Nominal daily flows: per link [t/d of its product], per facility output and input [t/d]."""
    links = CHAIN["links"]
    into: dict[str, list[tuple]] = {}
    for lk in links:
        into.setdefault(lk[1], []).append(lk)
    flow: dict[tuple, float] = {}
    need: dict[str, float] = {m: r / 365.0 for m, (_, _, r) in CHAIN["markets"].items()}  # t magnet/d
    # markets -> magnet makers
    out = {f: 0.0 for f in (*CHAIN["mines"], *CHAIN["separation"], *CHAIN["magnet"])}
    for m, d in need.items():
        w = sum(lk[4] for lk in into[m])
        for lk in into[m]:
            flow[lk] = d * lk[4] / w
            out[lk[0]] += flow[lk]
    for stage, coef in (("magnet", OXIDE_PER_MAGNET), ("separation", 1.0 / NDPR_PER_CONC)):
        for f in CHAIN[stage]:
            use = out[f] * coef
            w = sum(lk[4] for lk in into[f])
            for lk in into[f]:
                flow[lk] = use * lk[4] / w
                out[lk[0]] += flow[lk]
    return {"flow": flow, "out": out, "need": need, "into": into}


def _cover(node: str, into: dict[str, list[tuple]]) -> float:
    return max(lk[3] for lk in into[node]) + COVER_MARGIN


# ----------------------------------------------------------------------------- reesim
def reesim_yaml(days: int, noise_cv: float) -> str:
    """The chain as a reesim scenario (YAML text)."""
    import datetime as dt

    nom = _nominal()
    into = nom["into"]
    end = (dt.date(2025, 1, 1) + dt.timedelta(days=days - 1)).isoformat()
    fac: dict[str, Any] = {}
    for f, r in CHAIN["mines"].items():
        fac[f] = {"region": r, "stage": "mine", "capacity": round(HEADROOM * nom["out"][f] * 365.0, 1),
                  "outputs": {"concentrate": 1.0}, "finished_cover_days": FG_DAYS}
    for f, r in CHAIN["separation"].items():
        act = nom["out"][f] / NDPR_PER_CONC  # t concentrate processed per day
        fac[f] = {"region": r, "stage": "separation", "capacity": round(HEADROOM * act * 365.0, 1),
                  "inputs": {"concentrate": 1.0}, "outputs": {"ndpr_oxide": NDPR_PER_CONC},
                  "stock": {"concentrate": {"cover_days": _cover(f, into)}}, "finished_cover_days": FG_DAYS}
    for f, r in CHAIN["magnet"].items():
        fac[f] = {"region": r, "stage": "component", "capacity": round(HEADROOM * nom["out"][f] * 365.0, 1),
                  "inputs": {"ndpr_oxide": OXIDE_PER_MAGNET}, "outputs": {"magnet": 1.0},
                  "stock": {"ndpr_oxide": {"cover_days": _cover(f, into)}}, "finished_cover_days": FG_DAYS}
    markets = {m: {"region": r, "sector": s, "demand": {"magnet": {"rate": rate, "noise_cv": noise_cv}},
                   "stock": {"magnet": {"cover_days": _cover(m, into)}}, "unmet": "lost"}
               for m, (r, s, rate) in CHAIN["markets"].items()}
    doc = {
        "reesim": 1, "name": "peers_chain",
        "title": "3 mines, 2 separation plants, 2 magnet makers, 4 markets (benchmarks/peers.py)",
        "seed": 1, "replications": 1,
        "horizon": {"start": "2025-01-01", "end": end},
        "regions": {k: {"name": n, "bloc": b} for k, (n, b) in REGIONS.items()},
        "products": {"concentrate": {"unit": "t REO"}, "ndpr_oxide": {"unit": "t"},
                     "magnet": {"unit": "t", "family": "magnets"}},
        "facilities": fac, "markets": markets,
        "links": [{"from": a, "to": b, "product": p, "lead_days": lead, "weight": w}
                  for a, b, p, lead, w in CHAIN["links"]],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def reesim_network(days: int, noise_cv: float) -> tuple[Any, float]:
    """Load and compile the generated scenario; return the network and the seconds it took."""
    from simulator import load_scenario
    from simulator.network import compile_network

    path = Path(tempfile.mkdtemp()) / "peers_chain.yaml"
    path.write_text(reesim_yaml(days, noise_cv))
    t = time.perf_counter()
    net = compile_network(load_scenario(path))
    return net, time.perf_counter() - t


def time_reesim(net: Any, R: int, repeats: int) -> tuple[float, list[float], dict[str, float], dict[str, float]]:
    """Median wall time [s] of ``simulate(net, R)`` over ``repeats`` runs, all times, mean fill by
    market, mean flow by link [t/d]."""
    from simulator.engine import simulate

    times, res = [], None
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        res = simulate(net, R, seed=1, checks="error")
        times.append(time.perf_counter() - t)
    fill = res.fill_rate.mean(axis=0)
    flow = res.shipped_t.mean(axis=0) / (res.n_steps * res.step_days)
    return (statistics.median(times), times, {m: float(f) for m, f in zip(res.markets, fill)},
            {lk.split(":")[0]: float(v) for lk, v in zip(res.links, flow)})


# ----------------------------------------------------------------------------- SupplyNetPy
def build_snp(seed: int, noise_cv: float) -> dict[str, Any]:
    """The chain as a SupplyNetPy network (one replicate): ``create_sc_net`` of nodes, links, demands."""
    import SupplyNetPy.Components as scm

    nom = _nominal()
    into, out = nom["into"], nom["out"]
    conv = OXIDE_PER_MAGNET / NDPR_PER_CONC  # t concentrate per t magnet-equivalent separation product
    quiet = {"logging": False}
    rng = random.Random(seed)

    def ss(S: float) -> dict[str, float]:
        return {"s": max(0.0, S - 1e-6), "S": S, "period": 1}

    # order-up-to levels and stores, downstream first (a supplier's store must hold the
    # largest order its buyer can place: buyer capacity x units per unit)
    S: dict[str, float] = {}
    cap: dict[str, float] = {}
    for m, (_, _, rate) in CHAIN["markets"].items():
        S[m] = _cover(m, into) * rate / 365.0
        cap[m] = 2.0 * S[m]
    for f in CHAIN["magnet"]:  # pass-through, magnet units
        S[f] = (_cover(f, into) + FG_DAYS) * out[f]
        cap[f] = max([2.0 * S[f]] + [cap[lk[1]] for lk in CHAIN["links"] if lk[0] == f])
    for f in CHAIN["separation"]:  # magnet-equivalent units
        thru = out[f] / OXIDE_PER_MAGNET
        S[f] = (_cover(f, into) + FG_DAYS + 1.0) * thru
        cap[f] = max([2.0 * S[f]] + [cap[lk[1]] for lk in CHAIN["links"] if lk[0] == f])

    nodes: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    for f in CHAIN["mines"]:
        per_day = HEADROOM * out[f]
        raw[f] = scm.RawMaterial(ID=f"conc_{f}", name=f"concentrate from {f}", extraction_quantity=per_day,
                                 extraction_time=1, mining_cost=1.0, cost=1.0)
        store = max(cap[lk[1]] * conv * lk[4] / sum(x[4] for x in into[lk[1]])
                    for lk in CHAIN["links"] if lk[0] == f)
        nodes.append({"ID": f, "name": f, "node_type": "supplier", "capacity": store,
                      "initial_level": FG_DAYS * out[f], "inventory_holding_cost": 0.0,
                      "raw_material": raw[f], **quiet})
    for f in CHAIN["separation"]:
        w = sum(lk[4] for lk in into[f])
        thru = out[f] / OXIDE_PER_MAGNET
        product = scm.Product(ID=f"oxide_{f}", name=f"NdPr oxide from {f} (magnet-equivalent t)",
                              manufacturing_cost=1.0, manufacturing_time=1, sell_price=2.0,
                              raw_materials=[(raw[lk[0]], conv * lk[4] / w) for lk in into[f]],
                              batch_size=math.ceil(HEADROOM * thru))
        nodes.append({"ID": f, "name": f, "node_type": "manufacturer", "capacity": cap[f],
                      "initial_level": S[f], "inventory_holding_cost": 0.0, "product_sell_price": 2.0,
                      "replenishment_policy": scm.SSReplenishment, "policy_param": ss(S[f]),
                      "product": product, **quiet})

    def buyer(f: str, node_type: str) -> dict[str, Any]:
        d = {"ID": f, "name": f, "node_type": node_type, "capacity": cap[f], "initial_level": S[f],
             "inventory_holding_cost": 0.0, "replenishment_policy": scm.SSReplenishment,
             "policy_param": ss(S[f]), "product_sell_price": 3.0, "product_buy_price": 2.0, **quiet}
        if len(into[f]) > 1:
            w = sum(lk[4] for lk in into[f])
            d["supplier_selection_policy"] = scm.SelectProbabilistic
            d["supplier_selection_param"] = {"probabilities": {lk[0]: lk[4] / w for lk in into[f]},
                                             "seed": rng.getrandbits(32)}
        return d

    nodes += [buyer(f, "distributor") for f in CHAIN["magnet"]]
    nodes += [buyer(m, "retailer") for m in CHAIN["markets"]]
    links = [{"ID": f"{a}>{b}", "source": a, "sink": b, "cost": 0.0, "lead_time": lead}
             for a, b, _p, lead, _w in CHAIN["links"]]
    demands = []
    for m, (_, _, rate) in CHAIN["markets"].items():
        mean = rate / 365.0
        noise = random.Random(rng.getrandbits(32))
        qty = (lambda mu=mean, g=noise: max(1e-9, g.gauss(mu, noise_cv * mu))) if noise_cv > 0 else mean
        demands.append({"ID": f"demand_{m}", "name": f"demand at {m}", "order_arrival_model": 1,
                        "order_quantity_model": qty, "demand_node": m, "consume_available": True, **quiet})
    return scm.create_sc_net(nodes=nodes, links=links, demands=demands)


def run_snp(days: int, seed: int, noise_cv: float) -> tuple[float, float, dict[str, float], dict[str, float],
                                                            list[str]]:
    """One replicate: build and simulate; return (build s, run s, fill by market, flow by link [t/d in
    reesim's units], warnings raised)."""
    import SupplyNetPy.Components as scm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        net = build_snp(seed, noise_cv)
        t1 = time.perf_counter()
        scm.simulate_sc_net(net, sim_time=days, logging=False)
        t2 = time.perf_counter()
    fill = {}
    for m in CHAIN["markets"]:
        st = net["demands"][f"demand_{m}"].stats
        fill[m] = st.fulfillment_received[1] / st.demand_placed[1] if st.demand_placed[1] else 1.0
    flow = {}
    for a, b, product, _lead, _w in CHAIN["links"]:
        units = net["links"][f"{a}>{b}"].stats.fulfillment_received[1] / days
        flow[f"{a}>{b}"] = units * (OXIDE_PER_MAGNET if product == "ndpr_oxide" else 1.0)
    return t1 - t0, t2 - t1, fill, flow, sorted({str(w.message) for w in caught})


def time_snp(R: int, days: int, noise_cv: float, per_run: float | None, budget: float,
             sample: int) -> dict[str, Any]:
    """R SupplyNetPy replicates, run in full or (past ``budget`` seconds) extrapolated from ``sample`` runs."""
    n = R
    if per_run is not None and per_run * R > budget:
        n = min(R, max(1, sample))
    gc.collect()
    build = run = 0.0
    fills: list[dict[str, float]] = []
    flows: list[dict[str, float]] = []
    notes: set[str] = set()
    for r in range(n):
        b, s, fill, flow, w = run_snp(days, seed=1000 + r, noise_cv=noise_cv)
        build += b
        run += s
        fills.append(fill)
        flows.append(flow)
        notes.update(w)
    scale = R / n
    return {"R": R, "runs": n, "extrapolated": n < R, "wall_s": (build + run) * scale,
            "build_s": build * scale, "run_s": run * scale,
            "fill": {m: statistics.fmean(f[m] for f in fills) for m in CHAIN["markets"]},
            "flow": {k: statistics.fmean(f[k] for f in flows) for k in flows[0]},
            "warnings": sorted(notes)}


# ----------------------------------------------------------------------------- main
def _fmt_s(x: float | None, approx: bool = False) -> str:
    if x is None:
        return "—"
    return ("~" if approx else "") + (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def _per_day_us(x: float, R: int, days: int) -> str:
    return f"{x / (R * days) * 1e6:.3g}"


def machine() -> dict[str, Any]:
    import numpy as np

    info = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}
    import simpy

    info["simpy"] = simpy.__version__
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rs", default="1,100,1000", help="replicate counts (default 1,100,1000)")
    ap.add_argument("--days", type=int, default=3650, help="horizon [d] (default 3650)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per figure, median (SupplyNetPy: R = 1 only; reesim: every R)")
    ap.add_argument("--snp-budget", type=float, default=120.0,
                    help="run R SupplyNetPy replicates in full only below this estimate [s] (default 120)")
    ap.add_argument("--snp-sample", type=int, default=5,
                    help="SupplyNetPy runs timed when R is extrapolated (default 5)")
    ap.add_argument("--backends", default=None,
                    help="reesim backends, comma-separated (default: native and numba where they can be had, "
                         "and numpy)")
    ap.add_argument("--noise-cv", type=float, default=0.1, help="demand noise cv in both models (default 0.1)")
    ap.add_argument("--explain", action="store_true", help="print how the two models differ and exit")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    if args.explain:
        print(SEMANTICS, end="")
        return 0
    try:
        from importlib.metadata import version

        import SupplyNetPy.Components  # noqa: F401

        snp_version = version("supplynetpy")
    except ImportError:
        print(f"SupplyNetPy is not installed: pip install supplynetpy=={SNP_VERSION} "
              "(or pip install -e '.[bench]')", file=sys.stderr)
        return 2
    if snp_version != SNP_VERSION:
        print(f"note: SupplyNetPy {snp_version} installed; these figures and the model mapping are for "
              f"{SNP_VERSION}", file=sys.stderr)

    from simulator import kernels

    if args.backends:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    else:
        backends = []
        for b in ("native", "numba"):
            try:
                backends.append(kernels.set_backend(b))
            except ImportError:
                pass
        backends.append("numpy")
    rs = [int(x) for x in args.rs.split(",")]
    days = args.days
    load0 = os.getloadavg()

    nom = _nominal()
    print(f"chain: 3 mines -> 2 separation -> 2 magnet makers -> 4 markets, {len(CHAIN['links'])} links, "
          f"{days} days, demand {sum(r for *_, r in CHAIN['markets'].values()):.0f} t magnet/yr, "
          f"noise cv {args.noise_cv}")
    print(f"SupplyNetPy {snp_version}; reesim backends: {', '.join(backends)}; "
          f"load average {load0[0]:.2f} on {os.cpu_count()} CPUs")

    # reesim: compile once per backend, warm the kernels (numba compile or cache load) outside the timings
    net, compile_s = reesim_network(days, args.noise_cv)
    from simulator.engine import simulate

    ree: dict[str, dict[int, dict[str, Any]]] = {}
    fill_ree: dict[str, float] = {}
    flow_ree: dict[str, float] = {}
    for b in backends:
        kernels.set_backend(b)
        simulate(net, 2, seed=1)
        ree[b] = {}
        for R in rs:
            med, times, fill_ree, flow_ree = time_reesim(net, R, args.repeats)
            ree[b][R] = {"wall_s": med, "times_s": times}
            print(f"  reesim {b:<5} R={R:<5} {med:9.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times)})",
                  flush=True)
    kernels.set_backend("auto")

    # SupplyNetPy: R = 1 first (median of --repeats), then the larger R
    singles = [time_snp(1, days, args.noise_cv, None, float("inf"), 1) for _ in range(max(1, args.repeats))]
    one = sorted(singles, key=lambda x: x["wall_s"])[len(singles) // 2]
    one["times_s"] = [s["wall_s"] for s in singles]
    per_run = one["wall_s"]
    print(f"  SupplyNetPy R=1     {per_run:9.3f} s  (runs: {', '.join(f'{t:.3f}' for t in one['times_s'])}; "
          f"build {one['build_s']:.3f} s, simulate {one['run_s']:.3f} s)", flush=True)
    snp: dict[int, dict[str, Any]] = {}
    for R in rs:
        snp[R] = one if R == 1 else time_snp(R, days, args.noise_cv, per_run, args.snp_budget, args.snp_sample)
        if R != 1:
            how = f"extrapolated from {snp[R]['runs']} runs" if snp[R]["extrapolated"] else "all runs"
            print(f"  SupplyNetPy R={R:<5} {snp[R]['wall_s']:9.1f} s  ({how})", flush=True)
    load1 = os.getloadavg()

    # table
    print()
    head = f"{'R':>6} | {'SupplyNetPy s':>13} | {'us/rep-day':>10}"
    for b in backends:
        head += f" | {'reesim ' + b + ' s':>16} | {'us/rep-day':>10} | {'ratio':>7}"
    print(head)
    print("-" * len(head))
    rows = []
    for R in rs:
        s = snp[R]
        line = f"{R:>6} | {_fmt_s(s['wall_s'], s['extrapolated']):>13} | {_per_day_us(s['wall_s'], R, days):>10}"
        row: dict[str, Any] = {"R": R, "days": days, "supplynetpy_s": s["wall_s"],
                               "supplynetpy_runs": s["runs"], "supplynetpy_extrapolated": s["extrapolated"],
                               "supplynetpy_us_per_replicate_day": s["wall_s"] / (R * days) * 1e6}
        for b in backends:
            w = ree[b][R]["wall_s"]
            ratio = s["wall_s"] / w
            line += f" | {_fmt_s(w):>16} | {_per_day_us(w, R, days):>10} | {ratio:>6.0f}x"
            row[f"reesim_{b}_s"] = w
            row[f"reesim_{b}_runs_s"] = ree[b][R]["times_s"]
            row[f"reesim_{b}_us_per_replicate_day"] = w / (R * days) * 1e6
            row[f"ratio_{b}"] = ratio
        print(line)
        rows.append(row)
    print()
    print("ratio = SupplyNetPy time / reesim time for the same replicate-days (higher: reesim faster).")
    print("SupplyNetPy: one network built and simulated per replicate; reesim: one simulate call per R "
          f"(load + compile of the scenario once: {compile_s:.3f} s, not in the figures).")
    ex = [R for R in rs if snp[R]["extrapolated"]]
    if ex:
        print(f"~ SupplyNetPy at R = {', '.join(map(str, ex))}: {args.snp_sample} runs timed and scaled "
              f"linearly (a full run was estimated at more than {args.snp_budget:.0f} s).")
    print(f"load average {load0[0]:.2f} before, {load1[0]:.2f} after ({os.cpu_count()} CPUs).")
    print("fill rate by market (sanity: both models serve the same demand):")
    fill_snp, flow_snp = snp[rs[-1]]["fill"], snp[rs[-1]]["flow"]
    for m in CHAIN["markets"]:
        print(f"  {m:<10} SupplyNetPy {fill_snp[m]:.4f}   reesim {fill_ree.get(m, float('nan')):.4f}")
    gap = max(abs(flow_snp[k] - flow_ree[k]) / flow_ree[k] for k in flow_snp)
    print(f"mean flow by link [t/d]: the models differ by at most {100 * gap:.1f} % on a link "
          "(nominal split by weight; SupplyNetPy draws whole orders at random)")
    notes = sorted({w for s in snp.values() for w in s["warnings"]})
    for w in notes:
        print(f"SupplyNetPy warning: {w}")
    print("model differences: python benchmarks/peers.py --explain")

    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine(), "supplynetpy": snp_version, "backends": backends, "days": days,
            "noise_cv": args.noise_cv, "repeats": args.repeats, "snp_budget_s": args.snp_budget,
            "snp_sample": args.snp_sample, "reesim_load_compile_s": compile_s,
            "load_average": {"before": load0, "after": load1},
            "supplynetpy_r1_runs_s": one["times_s"],
            "supplynetpy_r1_build_s": one["build_s"], "supplynetpy_r1_simulate_s": one["run_s"],
            "nominal_link_flow_t_per_day": {f"{a}>{b}": v for (a, b, *_), v in nom["flow"].items()},
            "fill_rate": {"supplynetpy": fill_snp, "reesim": fill_ree},
            "link_flow_t_per_day": {"supplynetpy": flow_snp, "reesim": flow_ree},
            "supplynetpy_warnings": notes, "rows": rows}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
