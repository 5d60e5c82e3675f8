"""Synthetic supply networks of any size (for benchmarks, tests and exploration).

``make_network_yaml(n_mines, n_sep, n_metal, n_component, n_markets, seed)``
returns the text of a valid scenario: eight regions in three blocs, magnet and
catalyst chains with separation co-products, capacities about twice the
nominal need, so every market is reachable and served at base demand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

# Eight regions in three blocs, and the stages each may host (realistic enough to read).
_REGIONS = {
    "CN": ("China", "china"),
    "MM": ("Myanmar", "china"),
    "AU": ("Australia", "allied"),
    "US": ("United States", "allied"),
    "JP": ("Japan", "allied"),
    "DE": ("Germany", "allied"),
    "MY": ("Malaysia", "other"),
    "BR": ("Brazil", "other"),
}
_HOSTS = {
    "mine": ["CN", "MM", "AU", "US", "BR"],
    "sep": ["CN", "MY", "US", "AU"],
    "metal": ["CN", "JP", "US", "MY"],
    "component": ["CN", "JP", "DE", "US"],
    "market": ["CN", "JP", "DE", "US", "MY", "BR"],
}
# Recipes (t per unit of activity): separation yields NdPr and Ce oxide at fixed ratios.
_NDPR, _CE = 0.22, 0.45
_METAL_IN = 1.05  # t NdPr oxide per t NdPr metal
_MAGNET_IN = 0.31  # t NdPr metal per t magnet
_CATALYST_IN = 0.5  # t Ce oxide per t catalyst
_SECTORS = {"magnet": ["ev_motors", "wind", "industrial_motors"], "catalyst": ["fcc_catalysts"]}


def make_network_yaml(
    n_mines: int,
    n_sep: int,
    n_metal: int,
    n_component: int,
    n_markets: int,
    seed: int = 0,
    *,
    with_stockpile: bool = False,
    with_recycler: bool = False,
    horizon_days: int = 180,
    replications: int = 4,
) -> str:
    """YAML text of a synthetic, valid four-stage chain (mine, separation, metal, component).

    Regions are eight countries in three blocs (china, allied, other). Every
    third component plant (and every third market) makes (demands) a Ce-based
    catalyst straight from separation; the others make (demand) NdFeB magnets
    from NdPr metal. Every plant has a supplier and a buyer, every market at
    least one supplier, and capacities are about twice the nominal need, so
    the scenario passes ``reesim validate`` and runs short of nothing at base
    demand. The same arguments give the same text.

    Parameters
    ----------
    n_mines, n_sep, n_metal, n_component, n_markets : int
        Node counts per stage (each at least 1).
    seed : int
        Seed of the choices (regions, suppliers, weights, lead times, demand).
    with_stockpile : bool
        Add a Japanese stockpile of NdPr metal with a release rule to one magnet
        plant.
    with_recycler : bool
        Add a magnet recycler collecting from the magnet markets and selling
        NdPr oxide to a metal plant (a right-to-left link).
    horizon_days, replications : int
        Size of a run of the scenario.

    Returns
    -------
    str
        The scenario YAML.
    """
    if min(n_mines, n_sep, n_metal, n_component, n_markets) < 1:
        raise ValueError("every stage needs at least one node")
    rng = np.random.default_rng(seed)

    def region(stage: str, k: int) -> str:
        hosts = _HOSTS[stage]
        return hosts[k % len(hosts)] if k < len(hosts) else hosts[int(rng.integers(len(hosts)))]

    # products made by each component plant, demanded by each market
    comp_prod = ["catalyst" if k % 3 == 2 else "magnet" for k in range(n_component)]
    made = set(comp_prod)
    mkt_prod = [
        "catalyst" if (k % 3 == 2 and "catalyst" in made) else "magnet" for k in range(n_markets)
    ]
    if "magnet" not in mkt_prod and "magnet" in made:  # a magnet plant needs a buyer
        mkt_prod[0] = "magnet"
    if "catalyst" in made and "catalyst" not in mkt_prod:
        # no catalyst market: the catalyst plants make magnets instead
        comp_prod = ["magnet"] * n_component

    def ids(prefix: str, stage: str, n: int) -> list[tuple[str, str]]:
        out = []
        for k in range(n):
            r = region(stage, k)
            out.append((f"{prefix}{k + 1:02d}_{r.lower()}", r))
        return out

    mines = ids("mine", "mine", n_mines)
    seps = ids("sep", "sep", n_sep)
    metals = ids("metal", "metal", n_metal)
    comps = [
        (f"{'magnet' if p == 'magnet' else 'catal'}{k + 1:02d}_{r.lower()}", r)
        for k, ((_, r), p) in enumerate(zip(ids("c", "component", n_component), comp_prod))
    ]
    markets = []
    for k in range(n_markets):
        r = region("market", k)
        sectors = _SECTORS[mkt_prod[k]]
        sector = sectors[k % len(sectors)]
        markets.append((f"{sector.split('_')[0]}{k + 1:02d}_{r.lower()}", r, sector))

    # demand and the capacities it needs (t/yr), with a factor two of headroom
    rate = {m[0]: float(rng.choice([500, 1000, 2000, 3000])) for m in markets}
    need = {"magnet": 0.0, "catalyst": 0.0}
    for (mid, _, _), p in zip(markets, mkt_prod):
        need[p] += rate[mid]
    metal_need = need["magnet"] * _MAGNET_IN
    conc_need = max(metal_need * _METAL_IN / _NDPR, need["catalyst"] * _CATALYST_IN / _CE)
    n_mag = comp_prod.count("magnet")
    n_cat = n_component - n_mag

    def cap(total: float, n: int) -> float:
        return float(round(max(2.0 * total / max(n, 1), 100.0)))

    doc: dict[str, Any] = {
        "reesim": 1,
        "name": f"synthetic_{n_mines}_{n_sep}_{n_metal}_{n_component}_{n_markets}_s{seed}",
        "title": f"Synthetic chain: {n_mines + n_sep + n_metal + n_component} facilities, "
        f"{n_markets} market{'s' if n_markets != 1 else ''} (seed {seed})",
        "seed": seed,
        "replications": replications,
        "horizon": {"start": "2025-01-01", "end": _date_after("2025-01-01", horizon_days - 1)},
        "regions": {r: {"name": n, "bloc": b} for r, (n, b) in _REGIONS.items()},
        "products": {
            "concentrate": {"unit": "t REO"},
            "ndpr_oxide": {"unit": "t"},
            "ce_oxide": {"unit": "t"},
            "ndpr_metal": {"unit": "t"},
            "magnet": {"unit": "t", "family": "magnets"},
            "catalyst": {"unit": "t", "family": "catalysts"},
        },
        "facilities": {},
        "markets": {},
        "links": [],
    }
    fac = doc["facilities"]
    for mid, r in mines:
        fac[mid] = {"region": r, "stage": "mine", "capacity": cap(conc_need, n_mines),
                    "outputs": {"concentrate": 1.0}}
    for sid, r in seps:
        fac[sid] = {"region": r, "stage": "separation", "capacity": cap(conc_need, n_sep),
                    "inputs": {"concentrate": 1.0},
                    "outputs": {"ndpr_oxide": _NDPR, "ce_oxide": _CE}}
    for mid, r in metals:
        fac[mid] = {"region": r, "stage": "metal", "capacity": cap(metal_need, n_metal),
                    "inputs": {"ndpr_oxide": _METAL_IN}, "outputs": {"ndpr_metal": 1.0}}
    for (cid, r), p in zip(comps, comp_prod):
        if p == "magnet":
            fac[cid] = {"region": r, "stage": "component", "capacity": cap(need["magnet"], n_mag),
                        "inputs": {"ndpr_metal": _MAGNET_IN}, "outputs": {"magnet": 1.0}}
        else:
            fac[cid] = {"region": r, "stage": "component",
                        "capacity": cap(need["catalyst"], n_cat),
                        "inputs": {"ce_oxide": _CATALYST_IN}, "outputs": {"catalyst": 1.0}}
    for (mid, r, sector), p in zip(markets, mkt_prod):
        doc["markets"][mid] = {
            "region": r, "sector": sector,
            "demand": {p: {"rate": rate[mid], "growth": 0.05, "noise_cv": 0.1}},
        }

    links: set[tuple[str, str, str]] = set()

    def connect(sup: list[str], buy: list[str], product: str) -> None:
        """Each buyer gets 1-2 suppliers; each supplier at least one buyer."""
        if not sup or not buy:
            return
        for k, s in enumerate(sup):
            links.add((s, buy[k % len(buy)], product))
        for b in buy:
            if not any(x[1] == b and x[2] == product for x in links):
                links.add((sup[int(rng.integers(len(sup)))], b, product))
            if len(sup) > 1 and rng.random() < 0.5:
                links.add((sup[int(rng.integers(len(sup)))], b, product))

    connect([m for m, _ in mines], [s for s, _ in seps], "concentrate")
    connect([s for s, _ in seps], [m for m, _ in metals], "ndpr_oxide")
    connect([m for m, _ in metals], [c for (c, _), p in zip(comps, comp_prod) if p == "magnet"],
            "ndpr_metal")
    connect([s for s, _ in seps], [c for (c, _), p in zip(comps, comp_prod) if p == "catalyst"],
            "ce_oxide")
    for prod in ("magnet", "catalyst"):
        connect([c for (c, _), p in zip(comps, comp_prod) if p == prod],
                [m for (m, _, _), p in zip(markets, mkt_prod) if p == prod], prod)

    magnet_plants = [c for (c, _), p in zip(comps, comp_prod) if p == "magnet"]
    for s, b, p in sorted(links):
        doc["links"].append({
            "from": s, "to": b, "product": p,
            "lead_days": int(rng.integers(3, 45)),
            "weight": round(float(rng.uniform(0.2, 1.0)), 2),
            "price": float(rng.integers(5, 90)) * 1000.0,
        })
    if with_stockpile and magnet_plants:
        target = magnet_plants[0]
        doc["stockpiles"] = {"stock_jp": {
            "region": "JP", "holds": {"ndpr_metal": {"initial": 200.0}},
            "release": {"to": [target], "when_cover_below_days": 10, "max_per_day": 2.0},
        }}
    if with_recycler:
        mag_mkts = [m for (m, _, _), p in zip(markets, mkt_prod) if p == "magnet"]
        doc["recyclers"] = {"recycle_jp": {
            "region": "JP", "capacity": 500.0,
            "collects": {"from": mag_mkts, "product": "magnet", "lifetime_days": 90,
                         "recovery": 0.2},
            "outputs": {"ndpr_oxide": 0.25},
        }}
        doc["links"].append({"from": "recycle_jp", "to": metals[0][0], "product": "ndpr_oxide",
                             "lead_days": 10})
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _date_after(start: str, days: int) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(start) + dt.timedelta(days=days)).isoformat()


