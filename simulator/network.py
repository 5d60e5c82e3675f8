"""Compile a validated :class:`Scenario` into an immutable network of numpy arrays.

Axis letters (DESIGN): R replicates, F producers (facilities and recyclers),
M markets, S stockpiles, H holdings (a node's stock of one product), E links,
D demand entries (a market's demand for one product), P products,
I recipe-input entries, O recipe-output entries.

A *holding* is where stock sits: a producer's input (kind ``in``) or finished
goods (``out``), a recycler's scrap (``scrap``), a market's stock (``mkt``) or
a stockpile's stock (``pile``). Links run from an ``out`` holding
to an ``in``, ``mkt`` or ``pile`` holding.
"""

from __future__ import annotations

import graphlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .exceptions import Problem, ScenarioError
from .scenario.models import Scenario

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

KINDS = ("in", "out", "scrap", "mkt", "pile")
DEFAULT_COVER_DAYS = 30.0


@dataclass(frozen=True, eq=False)
class Network:
    """Everything the kernels need, as read-only arrays. Shapes in brackets."""

    scenario: Scenario
    step_days: int
    n_steps: int
    # --- index maps
    products: tuple[str, ...]
    producers: tuple[str, ...]  #: facilities then recyclers [F]
    markets: tuple[str, ...]  #: [M]
    stockpiles: tuple[str, ...]  #: [S]
    regions: tuple[str, ...]
    blocs: tuple[str, ...]
    links: tuple[str, ...]  #: link keys [E]
    holdings: tuple[tuple[str, str, str], ...]  #: (node, product, kind) [H]
    # --- regions
    region_bloc: I64  #: bloc of each region [G]
    producer_region: I64  #: [F]
    producer_stage: tuple[str, ...]  #: [F]
    market_region: I64  #: [M]
    stockpile_region: I64  #: [S]
    # --- holdings
    hold_product: I64  #: [H]
    hold_kind: I64  #: index into KINDS [H]
    hold_region: I64  #: region of the holding's node [H]
    hold_owner: I64  #: producer/market/stockpile index within its own kind of node [H]
    # --- producers
    cap_per_step: F64  #: activity per step at full capacity x availability [F]
    online_step: F64  #: first step with capacity [F]
    ramp_steps: F64  #: steps of the linear ramp [F]
    is_recycler: B  #: [F]
    in_fac: I64  #: producer of each input entry [I], sorted by producer
    in_hold: I64  #: holding of each input entry [I]
    in_coef: F64  #: units per activity [I]
    out_fac: I64  #: [O], sorted by producer
    out_hold: I64  #: [O]
    out_coef: F64  #: [O]
    fac_has_inputs: B  #: [F]
    in_starts: I64  #: start of each producer-with-inputs segment in the I entries
    in_facs_with: I64  #: producers that have inputs, in segment order
    out_starts: I64  #: start of each producer's segment in the O entries [F]
    # --- links
    link_src: I64  #: supplier holding [E]
    link_dst: I64  #: buyer holding [E]
    link_product: I64  #: [E]
    lead_days: F64  #: lead time [d] [E]
    lead_steps: I64  #: ceil(lead_days / step_days), at least 1 [E]
    weight: F64  #: sourcing weight, 0 for links from stockpiles [E]
    price: F64  #: [USD/t] [E]
    link_from_pile: B  #: [E]
    link_src_region: I64  #: [E]
    link_dst_region: I64  #: [E]
    # --- stock policies
    cover_days: F64  #: order-up-to cover [d] (0 for out, scrap, pile) [H]
    initial_days: F64  #: initial stock in days of use [H]
    fg_days: F64  #: finished-goods target [d] for out holdings [H]
    pile_initial: F64  #: initial stock of pile holdings [t] [H]
    pile_target: F64  #: refill target of pile holdings [t] [H]
    pile_online_step: F64  #: step from which a pile holding's stockpile exists (0: from the start; n_steps: never) [H]
    orders: B  #: holding places orders (has at least one ordering link) [H]
    # --- markets
    dem_market: I64  #: market of each demand entry [D], sorted by market
    dem_hold: I64  #: market holding of each entry [D]
    dem_rate: F64  #: base demand [t/step] [D]
    dem_growth: F64  #: growth per year [D]
    dem_noise_cv: F64  #: [D]
    dem_backorder: B  #: unmet demand deferred [D]
    mkt_starts: I64  #: start of each market's segment in D [M]
    # --- nominal flows
    nominal_use: F64  #: daily use of each holding due to each demand entry at its base rate [t/d] [H, D]
    nominal_link: F64  #: daily flow on each link due to each demand entry at base rate [t/d] [E, D]
    #: the same while some plants are not on line yet, from each step of ``quota_flow_steps`` on [V, E, D]
    #: (a link out of a plant before its online step carries nothing; export quotas are shares of these)
    quota_flows: F64
    quota_flow_steps: I64  #: first step of each version of ``quota_flows`` [V] (the first is 0)
    nominal_activity: F64  #: daily activity of each producer due to each demand entry [1/d] [F, D]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, int]:
        """Sizes of the named axes."""
        return {
            "F": len(self.producers),
            "M": len(self.markets),
            "S": len(self.stockpiles),
            "H": len(self.holdings),
            "E": len(self.links),
            "D": len(self.dem_rate),
            "P": len(self.products),
        }

    def growth_factor(self, day: float) -> F64:
        """Demand multiplier from growth at a day since the start [D]."""
        return np.power(1.0 + self.dem_growth, day / 365.0)


def _ro(a: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def compile_network(sc: Scenario) -> Network:
    """Build the immutable array network of a validated scenario.

    Raises
    ------
    ScenarioError
        If the links form a cycle (nominal flows cannot be propagated).
    """
    step = sc.horizon.step_days
    n_steps = math.ceil(sc.horizon.days / step)
    products = tuple(sc.products)
    pidx = {p: i for i, p in enumerate(products)}
    regions = tuple(sc.regions)
    ridx = {r: i for i, r in enumerate(regions)}
    blocs = tuple(dict.fromkeys([*sc.blocs, *(r.bloc for r in sc.regions.values())]))
    bidx = {b: i for i, b in enumerate(blocs)}
    producers = (*sc.facilities, *sc.recyclers)
    fidx = {f: i for i, f in enumerate(producers)}
    markets = tuple(sc.markets)
    midx = {m: i for i, m in enumerate(markets)}
    piles = tuple(sc.stockpiles)
    sidx = {s: i for i, s in enumerate(piles)}

    holdings: list[tuple[str, str, str]] = []
    hidx: dict[tuple[str, str, str], int] = {}

    def hold(node: str, product: str, kind: str) -> int:
        key = (node, product, kind)
        if key not in hidx:
            hidx[key] = len(holdings)
            holdings.append(key)
        return hidx[key]

    def node_region(node: str) -> int:
        for d in (sc.facilities, sc.recyclers, sc.markets, sc.stockpiles):
            if node in d:
                return ridx[d[node].region]  # type: ignore[attr-defined]
        raise KeyError(node)

    in_e: list[tuple[int, int, float]] = []
    out_e: list[tuple[int, int, float]] = []
    cap, online, ramp, is_rec, stage = [], [], [], [], []
    for f in producers:
        i = fidx[f]
        if f in sc.facilities:
            fac = sc.facilities[f]
            for p, c in fac.inputs.items():
                in_e.append((i, hold(f, p, "in"), c))
            for p, c in fac.outputs.items():
                out_e.append((i, hold(f, p, "out"), c))
            cap.append(fac.capacity * fac.availability * step / 365.0)
            online.append(fac.online)
            ramp.append(fac.ramp_days / step)
            is_rec.append(False)
            stage.append(fac.stage)
        else:
            rec = sc.recyclers[f]
            in_e.append((i, hold(f, rec.collects.product, "scrap"), 1.0))
            for p, c in rec.outputs.items():
                out_e.append((i, hold(f, p, "out"), c))
            cap.append(rec.capacity * step / 365.0)
            online.append(rec.online)
            ramp.append(rec.ramp_days / step)
            is_rec.append(True)
            stage.append("recycler")
    dem: list[tuple[int, int, float, float, float, bool]] = []
    for m in markets:
        mk = sc.markets[m]
        for p, d in mk.demand.items():
            dem.append((midx[m], hold(m, p, "mkt"), d.rate * step / 365.0, d.growth, d.noise_cv,
                        mk.unmet == "backorder"))
    for s in piles:
        for p in sc.stockpiles[s].holds:
            hold(s, p, "pile")

    def src_hold(node: str, product: str) -> int:
        if node in sc.stockpiles:
            return hidx[(node, product, "pile")]
        return hidx[(node, product, "out")]

    def dst_hold(node: str, product: str) -> int:
        if node in sc.stockpiles:
            return hidx[(node, product, "pile")]
        if node in sc.markets:
            return hidx[(node, product, "mkt")]
        return hidx[(node, product, "in")]

    H = len(holdings)
    E = len(sc.links)
    link_src = np.array([src_hold(x.from_, x.product) for x in sc.links], dtype=np.int64)
    link_dst = np.array([dst_hold(x.to, x.product) for x in sc.links], dtype=np.int64)
    from_pile = np.array([x.from_ in sc.stockpiles for x in sc.links], dtype=bool)
    weight = np.array([0.0 if x.from_ in sc.stockpiles else x.weight for x in sc.links])
    lead = np.array([max(1, math.ceil(x.lead_days / step - 1e-12)) for x in sc.links], dtype=np.int64)

    kind = np.array([KINDS.index(k) for (_, _, k) in holdings], dtype=np.int64)
    h_region = np.array([node_region(n) for (n, _, _) in holdings], dtype=np.int64)
    owner = np.array(
        [
            fidx.get(n, midx.get(n, sidx.get(n, -1)))
            for (n, _, _) in holdings
        ],
        dtype=np.int64,
    )

    cover = np.zeros(H)
    init_days = np.zeros(H)
    fg = np.zeros(H)
    p_init = np.zeros(H)
    p_target = np.zeros(H)
    p_online = np.zeros(H)
    for h, (n, p, k) in enumerate(holdings):
        if k == "in":
            pol = sc.facilities[n].stock.get(p)
        elif k == "mkt":
            pol = sc.markets[n].stock.get(p)
        else:
            pol = None
        if k in ("in", "mkt"):
            cover[h] = pol.cover_days if pol else DEFAULT_COVER_DAYS
            init_days[h] = (
                pol.initial_days if pol and pol.initial_days is not None else cover[h]
            )
        elif k == "out":
            node = sc.facilities.get(n) or sc.recyclers[n]
            fg[h] = node.finished_cover_days
        elif k == "pile":
            hd = sc.stockpiles[n].holds[p]
            p_init[h] = hd.initial
            p_target[h] = hd.initial if hd.target is None else hd.target
            set_up = sc.stockpiles[n].online
            if set_up is not None:  # before the start: there from the start (step 0); after the end: never
                # (n_steps: the last step can run past the end when step_days does not divide the horizon)
                p_online[h] = max(0.0, float(sc.horizon.step_of(set_up)))

    orders = np.zeros(H, dtype=bool)
    orders[link_dst[weight > 0]] = True

    online_step = np.array([0.0 if d is None else float(sc.horizon.step_of(d)) for d in online])

    in_arr = np.array(sorted(in_e), dtype=float).reshape(-1, 3)
    out_arr = np.array(sorted(out_e), dtype=float).reshape(-1, 3)
    in_fac = in_arr[:, 0].astype(np.int64)
    out_fac = out_arr[:, 0].astype(np.int64)
    Fn = len(producers)
    has_in = np.zeros(Fn, dtype=bool)
    has_in[in_fac] = True
    in_facs_with, in_starts = np.unique(in_fac, return_index=True)
    out_starts = np.searchsorted(out_fac, np.arange(Fn))

    dem_arr = sorted(dem, key=lambda x: x[0])
    dem_market = np.array([d[0] for d in dem_arr], dtype=np.int64)
    mkt_starts = np.searchsorted(dem_market, np.arange(len(markets)))

    use, flow, act = _nominal(sc, holdings, hidx, link_src, link_dst, weight, in_e, out_e,
                              producers, dem_arr, step)
    q_steps, q_flows = _quota_flows(sc, holdings, hidx, link_src, link_dst, weight, in_e, out_e, producers,
                                    dem_arr, step, n_steps, kind, owner, online_step, flow)

    return Network(
        scenario=sc,
        step_days=step,
        n_steps=n_steps,
        products=products,
        producers=producers,
        markets=markets,
        stockpiles=piles,
        regions=regions,
        blocs=blocs,
        links=tuple(x.key for x in sc.links),
        holdings=tuple(holdings),
        region_bloc=_ro(np.array([bidx[sc.regions[r].bloc] for r in regions], dtype=np.int64)),
        producer_region=_ro(np.array(
            [ridx[(sc.facilities.get(f) or sc.recyclers[f]).region] for f in producers], dtype=np.int64
        ).reshape(-1)),
        producer_stage=tuple(stage),
        market_region=_ro(np.array([ridx[sc.markets[m].region] for m in markets], dtype=np.int64)),
        stockpile_region=_ro(np.array([ridx[sc.stockpiles[s].region] for s in piles], dtype=np.int64)),
        hold_product=_ro(np.array([pidx[p] for (_, p, _) in holdings], dtype=np.int64)),
        hold_kind=_ro(kind),
        hold_region=_ro(h_region),
        hold_owner=_ro(owner),
        cap_per_step=_ro(np.array(cap, dtype=float)),
        online_step=_ro(online_step),
        ramp_steps=_ro(np.array(ramp, dtype=float)),
        is_recycler=_ro(np.array(is_rec, dtype=bool)),
        in_fac=_ro(in_fac),
        in_hold=_ro(in_arr[:, 1].astype(np.int64)),
        in_coef=_ro(in_arr[:, 2].copy()),
        out_fac=_ro(out_fac),
        out_hold=_ro(out_arr[:, 1].astype(np.int64)),
        out_coef=_ro(out_arr[:, 2].copy()),
        fac_has_inputs=_ro(has_in),
        in_starts=_ro(in_starts.astype(np.int64)),
        in_facs_with=_ro(in_facs_with.astype(np.int64)),
        out_starts=_ro(out_starts.astype(np.int64)),
        link_src=_ro(link_src),
        link_dst=_ro(link_dst),
        link_product=_ro(np.array([pidx[x.product] for x in sc.links], dtype=np.int64)),
        lead_days=_ro(np.array([x.lead_days for x in sc.links], dtype=float)),
        lead_steps=_ro(lead),
        weight=_ro(weight),
        price=_ro(np.array([x.price for x in sc.links], dtype=float)),
        link_from_pile=_ro(from_pile),
        link_src_region=_ro(h_region[link_src] if E else np.zeros(0, dtype=np.int64)),
        link_dst_region=_ro(h_region[link_dst] if E else np.zeros(0, dtype=np.int64)),
        cover_days=_ro(cover),
        initial_days=_ro(init_days),
        fg_days=_ro(fg),
        pile_initial=_ro(p_init),
        pile_target=_ro(p_target),
        pile_online_step=_ro(p_online),
        orders=_ro(orders),
        dem_market=_ro(dem_market),
        dem_hold=_ro(np.array([d[1] for d in dem_arr], dtype=np.int64)),
        dem_rate=_ro(np.array([d[2] for d in dem_arr], dtype=float)),
        dem_growth=_ro(np.array([d[3] for d in dem_arr], dtype=float)),
        dem_noise_cv=_ro(np.array([d[4] for d in dem_arr], dtype=float)),
        dem_backorder=_ro(np.array([d[5] for d in dem_arr], dtype=bool)),
        mkt_starts=_ro(mkt_starts.astype(np.int64)),
        nominal_use=_ro(use),
        nominal_link=_ro(flow),
        quota_flows=_ro(q_flows),
        quota_flow_steps=_ro(q_steps),
        nominal_activity=_ro(act),
    )


def _quota_flows(sc: Scenario, holdings: list[tuple[str, str, str]], hidx: dict[tuple[str, str, str], int],
                 link_src: I64, link_dst: I64, weight: F64, in_e: list[tuple[int, int, float]],
                 out_e: list[tuple[int, int, float]], producers: tuple[str, ...],
                 dem: list[tuple[int, int, float, float, float, bool]], step: int, n_steps: int, kind: I64,
                 owner: I64, online_step: F64, flow: F64) -> tuple[I64, F64]:
    """Nominal link flows as plants come on line: ``(first steps [V], flows [V, E, D])``.

    At step s a link out of a producer with ``s < online_step`` gets weight 0, its buyer's other links share
    the buyer's use (a buyer all of whose suppliers are off line keeps them all), as the ordering rule does
    (docs/step-semantics.md); a new version starts at each online step that changes the weights.
    """
    E = len(link_src)
    src_fac = np.where(kind[link_src] == KINDS.index("out"), owner[link_src], -1) if E else np.zeros(0, np.int64)
    buyers: dict[int, list[int]] = {}
    for e in range(E):
        if weight[e] > 0:
            buyers.setdefault(int(link_dst[e]), []).append(e)
    steps, flows, last = [], [], None
    for s in [0, *sorted({math.ceil(x) for x in online_step if 0 < x < n_steps})]:
        w = np.array(weight, dtype=float)
        off = (src_fac >= 0) & (s < online_step[np.maximum(src_fac, 0)])
        w[off] = 0.0
        for es in buyers.values():
            if not (w[es] > 0).any():
                w[es] = weight[es]
        if last is not None and np.array_equal(w, last):
            continue
        steps.append(s)
        flows.append(flow if np.array_equal(w, weight) else
                     _nominal(sc, holdings, hidx, link_src, link_dst, w, in_e, out_e, producers, dem, step)[1])
        last = w
    return np.array(steps, dtype=np.int64), np.stack(flows) if flows else np.zeros((1, E, len(dem)))


def _nominal(
    sc: Scenario,
    holdings: list[tuple[str, str, str]],
    hidx: dict[tuple[str, str, str], int],
    link_src: I64,
    link_dst: I64,
    weight: F64,
    in_e: list[tuple[int, int, float]],
    out_e: list[tuple[int, int, float]],
    producers: tuple[str, ...],
    dem: list[tuple[int, int, float, float, float, bool]],
    step: int,
) -> tuple[F64, F64, F64]:
    """Propagate each demand entry's base daily rate upstream (DESIGN §3, nominal flows).

    Returns ``use[H, D]`` (daily use of each holding [t/d]), ``flow[E, D]`` (daily
    flow on each link [t/d]) and ``activity[F, D]`` (daily activity of each
    producer), each split by the demand entry, at base demand rates; multiplying
    column d by entry d's current demand multiplier gives current nominal flows.
    A co-producing process runs at the activity its most-demanded output needs
    in total, shared among the entries in proportion to their own needs.
    """
    H, E, D, Fn = len(holdings), len(link_src), len(dem), len(producers)
    use = np.zeros((H, D))
    flow = np.zeros((E, D))
    act = np.zeros((Fn, D))
    for j, d in enumerate(dem):
        use[d[1], j] = d[2] / step  # t/day at base rate
    # links into each holding, and normalised weights
    into: dict[int, list[int]] = {}
    for e in range(E):
        if weight[e] > 0:
            into.setdefault(int(link_dst[e]), []).append(e)
    out_of: dict[int, list[tuple[int, float]]] = {}
    in_of: dict[int, list[tuple[int, float]]] = {}
    for f, h, c in out_e:
        out_of.setdefault(f, []).append((h, c))
    for f, h, c in in_e:
        in_of.setdefault(f, []).append((h, c))
    hold_fac: dict[int, int] = {}
    for f, h, _ in out_e:
        hold_fac[h] = f
    # producer dependency graph: f depends on g when a link runs from g's output to f's input
    ts: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for f in range(Fn):
        ts.add(f)
    fac_of_in: dict[int, int] = {h: f for f, h, _ in in_e}
    for e in range(E):
        if weight[e] <= 0:
            continue
        g = hold_fac.get(int(link_src[e]))
        f = fac_of_in.get(int(link_dst[e]))
        if g is not None and f is not None:
            ts.add(g, f)  # g must come after f when walking downstream-first
    try:
        order = list(ts.static_order())  # downstream producers first
    except graphlib.CycleError as exc:
        cyc = " -> ".join(producers[i] for i in exc.args[1])
        raise ScenarioError(
            [Problem(sc.name, None, None, "links", f"links form a cycle between producers: {cyc}")]
        ) from None

    def push(h: int) -> None:
        """Send holding h's use up its incoming links to the supplying holdings."""
        es = into.get(h, [])
        if not es:
            return
        w = np.array([weight[e] for e in es])
        w = w / w.sum()
        for e, we in zip(es, w):
            f_e = use[h] * we
            flow[e] += f_e
            use[int(link_src[e])] += f_e

    # markets (and stockpile holdings have no nominal use) push first
    for h in sorted({d[1] for d in dem}):
        push(h)
    for f in order:
        outs = out_of.get(f, [])
        a = np.zeros(D)
        for h, c in outs:
            a = np.maximum(a, use[h] / c)
        # A co-producing plant runs at the activity its most-wanted output needs *in
        # total*; per-entry maxima would add up to more. Share the total activity among
        # the entries in proportion to what each alone would need (exact at base demand).
        total = max((use[h].sum() / c for h, c in outs), default=0.0)
        if a.sum() > 0:
            a = a * (total / a.sum())
        act[f] = a
        for h, c in in_of.get(f, []):
            use[h] = a * c
            push(h)
    return use, flow, act


def market_family(net: Network, m: int) -> str:
    """Family of market ``m``: the family of the products it demands (``other`` if none).

    A market demanding products of several families gets them joined by ``+``.
    """
    sc = net.scenario
    lo = int(net.mkt_starts[m])
    hi = int(net.mkt_starts[m + 1]) if m + 1 < len(net.mkt_starts) else len(net.dem_market)
    fams = []
    for d in range(lo, hi):
        p = net.products[int(net.hold_product[int(net.dem_hold[d])])]
        f = sc.products[p].family or "other"
        if f not in fams:
            fams.append(f)
    return "+".join(sorted(fams)) if fams else "other"
