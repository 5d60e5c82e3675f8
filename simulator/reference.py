"""The reference oracle: one simulation step, exactly as ``docs/step-semantics.md``.

A second, independent implementation of the tick for ONE replicate, written with
plain Python loops over dicts, lists and floats, so that the vectorised kernels
can be tested against it (they must agree to 1e-9 on deterministic scenarios).

Independence: recipes, capacities, links, stock policies, demand and every event
effect are read from the :class:`~simulator.scenario.models.Scenario` by id and
name. The :class:`~simulator.network.Network` is used only for the index order of
holdings, links, producers, demand entries, products and markets, and for the
nominal-flow matrix ``nominal_use[H, D]`` (expected daily use [t/d] of each
holding at each demand entry's base rate).

Scope (for now): demand noise off (``z = 0``); stockpiles hold their initial
stock and never ship (they order up to their target like any buyer); recyclers'
scrap stays 0, so recyclers produce nothing; ``policies.reroute_after_days`` and
stockpile release rules are ignored (they are not in the step contract yet).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .network import Network
from .scenario.models import (
    Commission,
    DemandShock,
    ExportControl,
    Logistics,
    Outage,
    Scenario,
)
from .scenario.types import FixedDist

__all__ = ["EventFactors", "ReferenceTrace", "event_factors", "run_reference"]

_DETERMINISTIC = "reference oracle: deterministic scenarios only"
_LEAD_EPS = 1e-12  # same tolerance as the network's lead_steps: ceil(x - 1e-12)


def _value(x: Any) -> float:
    """A severity that is a number or ``{fixed: x}``; anything else raises."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, FixedDist):
        return float(x.fixed)
    raise NotImplementedError(_DETERMINISTIC)


@dataclass(frozen=True)
class ReferenceTrace:
    """Per-step trace of one replicate, every array recorded after the step.

    Attributes
    ----------
    on_hand : ndarray, shape (T, H)
        Stock of each holding after Order [t].
    backlog : ndarray, shape (T, E)
        Ordered but not yet shipped, per link, after Order [t].
    in_transit : ndarray, shape (T, E)
        Shipped but not yet arrived, per link [t].
    backorder : ndarray, shape (T, D)
        Unmet demand carried by backorder markets [t].
    demand : ndarray, shape (T, D)
        Demand arising that step [t/step].
    served : ndarray, shape (T, D)
        Demand served from stock on the day it arose [t/step].
    activity : ndarray, shape (T, F)
        Activity of each producer [units/step].
    shipped : ndarray, shape (T, E)
        Quantity shipped on each link that step [t/step].
    surplus : ndarray, shape (T, P)
        Co-product surplus leaving the chain, by product [t/step].
    produced, used, consumed : ndarray, shape (T, P)
        Outputs yielded, inputs used, and market consumption (backorders served
        + served), by product [t/step].
    fill : ndarray, shape (T, M)
        Daily fill per market: sum served / sum demand (1 when demand is 0) [-].
    on_hand0 : ndarray, shape (H,)
        Initial stock, before step 0 [t] (extra: for mass balance).
    exp_use : ndarray, shape (T, H)
        Expected daily use in force at the step [t/d] (extra).
    capacity : ndarray, shape (T, F)
        Capacity of each producer at the step [units/step] (extra).
    """

    on_hand: np.ndarray
    backlog: np.ndarray
    in_transit: np.ndarray
    backorder: np.ndarray
    demand: np.ndarray
    served: np.ndarray
    activity: np.ndarray
    shipped: np.ndarray
    surplus: np.ndarray
    produced: np.ndarray
    used: np.ndarray
    consumed: np.ndarray
    fill: np.ndarray
    on_hand0: np.ndarray
    exp_use: np.ndarray
    capacity: np.ndarray


@dataclass(frozen=True)
class EventFactors:
    """Factors set by the events active at one step.

    Attributes
    ----------
    capacity_factor : dict of str to float
        Producer id -> product of ``(1 - capacity_lost)`` over active outages [-].
    added_capacity : dict of str to float
        Producer id -> capacity added by active commissions, ramp applied [units/step].
    link_open : list of float
        Per link (scenario order): fraction of shipments allowed [-].
    extra_lead_days : list of float
        Per link: lead time added by active logistics events [d].
    demand_factor : dict of str to float
        Market id -> product of ``factor`` over active demand shocks [-].
    """

    capacity_factor: dict[str, float]
    added_capacity: dict[str, float]
    link_open: list[float]
    extra_lead_days: list[float]
    demand_factor: dict[str, float]


# --------------------------------------------------------------------------- events


class _Calendar:
    """Deterministic events resolved to step windows ``[s, e)`` and their targets.

    Parameters
    ----------
    sc : Scenario
        The scenario.
    """

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.step = sc.horizon.step_days
        self.T = math.ceil(sc.horizon.days / self.step)
        self.fac_region: dict[str, str] = {}
        self.fac_stage: dict[str, str] = {}
        for f, fac in sc.facilities.items():
            self.fac_region[f], self.fac_stage[f] = fac.region, fac.stage
        for r, rec in sc.recyclers.items():
            self.fac_region[r], self.fac_stage[r] = rec.region, "recycler"
        regions: dict[str, str] = dict(self.fac_region)
        regions.update({m: mk.region for m, mk in sc.markets.items()})
        regions.update({s: sp.region for s, sp in sc.stockpiles.items()})
        self.links = [
            (x.key, regions[x.from_], regions[x.to], x.product) for x in sc.links
        ]
        self.outages: list[tuple[int, int, set[str], float]] = []
        self.commissions: list[tuple[int, int, str, float, float]] = []
        self.controls: list[tuple[int, int, set[int], float, list[tuple[int, float]]]] = []
        self.logistics: list[tuple[int, int, set[int], float]] = []
        self.shocks: list[tuple[int, int, set[str], float]] = []
        for ev in sc.events:
            self._add(ev)

    def step_of(self, d: dt.date) -> int:
        """Step of a date: ``floor((d - start).days / step_days)``."""
        return (d - self.sc.horizon.start).days // self.step

    def _window(self, ev: Any) -> tuple[int, int]:
        if ev.stochastic is not None:
            raise NotImplementedError(_DETERMINISTIC)
        s = self.step_of(ev.start)
        if ev.end is not None:
            e = self.step_of(ev.end)
        elif ev.duration_days is not None:
            e = s + math.ceil(ev.duration_days / self.step)
        else:
            e = self.T
        return s, e

    @staticmethod
    def _selected(ids: list[str] | None, key: str, selectors: list[tuple[Any, str]]) -> bool:
        """In ``ids``, or matching every selector given (at least one given)."""
        if ids and key in ids:
            return True
        given = [(sel, v) for sel, v in selectors if sel]
        return bool(given) and all(v in sel for sel, v in given)

    def _add(self, ev: Any) -> None:
        if isinstance(ev, Outage):
            s, e = self._window(ev)
            hit = {
                f for f in self.fac_region
                if self._selected(ev.facilities, f, [(ev.regions, self.fac_region[f]),
                                                     (ev.stages, self.fac_stage[f])])
            }
            self.outages.append((s, e, hit, 1.0 - _value(ev.capacity_lost)))
        elif isinstance(ev, Commission):
            s, e = self._window(ev)
            ramp_steps = ev.ramp_days / self.step
            self.commissions.append((s, e, ev.facility, ev.capacity * self.step / 365.0, ramp_steps))
        elif isinstance(ev, ExportControl):
            s, e = self._window(ev)
            origin, dest = set(ev.origin), ev.destinations
            hit = set()
            for i, (_, src_r, dst_r, prod) in enumerate(self.links):
                if src_r not in origin or prod not in ev.products or dst_r in origin:
                    continue
                if dest.include is not None:
                    ok = dst_r in dest.include
                else:
                    ok = dst_r not in (dest.exclude or [])
                if ok:
                    hit.add(i)
            sched = [(self.step_of(st.start), st.blocked) for st in ev.schedule]
            self.controls.append((s, e, hit, _value(ev.blocked), sched))
        elif isinstance(ev, Logistics):
            s, e = self._window(ev)
            hit = {
                i for i, (key, src_r, dst_r, prod) in enumerate(self.links)
                if self._selected(ev.links, key, [(ev.from_regions, src_r), (ev.to_regions, dst_r),
                                                  (ev.products, prod)])
            }
            self.logistics.append((s, e, hit, _value(ev.extra_lead_days)))
        elif isinstance(ev, DemandShock):
            s, e = self._window(ev)
            hit = {
                m for m, mk in self.sc.markets.items()
                if self._selected(ev.markets, m, [(ev.sectors, mk.sector), (ev.regions, mk.region)])
            }
            self.shocks.append((s, e, hit, _value(ev.factor)))
        else:
            raise NotImplementedError(
                f"reference oracle: event type {ev.type!r} is not in the step contract yet"
            )

    def factors(self, t: int) -> EventFactors:
        """Factors of the events active at step ``t`` (active iff ``s <= t < e``)."""
        cf = {f: 1.0 for f in self.fac_region}
        added = {f: 0.0 for f in self.fac_region}
        open_ = [1.0] * len(self.links)
        extra = [0.0] * len(self.links)
        df = {m: 1.0 for m in self.sc.markets}
        for s, e, hit, keep in self.outages:
            if s <= t < e:
                for f in hit:
                    cf[f] *= keep
        for s, e, f, cap, ramp_steps in self.commissions:
            if s <= t < e:
                ramp = 1.0 if ramp_steps == 0 else min(1.0, (t - s + 1) / ramp_steps)
                added[f] += cap * ramp
        for s, e, hit, blocked, sched in self.controls:
            if s <= t < e:
                b = blocked
                best = None
                for k, (ks, kb) in enumerate(sched):
                    if ks <= t and (best is None or ks >= sched[best][0]):
                        best = k
                if best is not None:
                    b = sched[best][1]
                for i in hit:
                    open_[i] *= 1.0 - b
        for s, e, hit, days in self.logistics:
            if s <= t < e:
                for i in hit:
                    extra[i] += days
        for s, e, hit, factor in self.shocks:
            if s <= t < e:
                for m in hit:
                    df[m] *= factor
        return EventFactors(cf, added, open_, extra, df)


def event_factors(scenario: Scenario, t: int) -> EventFactors:
    """Factors set by the deterministic events of a scenario at step ``t``.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario.
    t : int
        Step index [steps].

    Returns
    -------
    EventFactors
        Capacity factors and additions per producer id, open fraction and extra
        lead [d] per link (scenario order), demand factor per market id.

    Raises
    ------
    NotImplementedError
        For stochastic events, non-fixed severities and policy events.
    """
    return _Calendar(scenario).factors(t)


# --------------------------------------------------------------------------- the model


class _Model:
    """The scenario, resolved to plain lists indexed in the network's order."""

    def __init__(self, sc: Scenario, net: Network, noise: bool):
        self.sc, self.net = sc, net
        self.step = sc.horizon.step_days
        self.cal = _Calendar(sc)
        self.interval = math.ceil(sc.report.interval_days / self.step)
        hidx = {k: i for i, k in enumerate(net.holdings)}
        pidx = {p: i for i, p in enumerate(net.products)}
        self.H, self.P = len(net.holdings), len(net.products)
        self.hprod = [pidx[p] for (_, p, _) in net.holdings]
        self.kind = [k for (_, _, k) in net.holdings]
        start = sc.horizon.start

        # stock policies per holding [d] / [t]
        self.cover = [0.0] * self.H
        self.init_days = [0.0] * self.H
        self.fg_days = [0.0] * self.H
        self.pile_init = [0.0] * self.H
        self.pile_target = [0.0] * self.H
        for h, (n, p, k) in enumerate(net.holdings):
            if k in ("in", "mkt"):
                node = sc.facilities[n] if k == "in" else sc.markets[n]
                pol = node.stock.get(p)
                self.cover[h] = pol.cover_days if pol else 30.0
                self.init_days[h] = (
                    pol.initial_days if pol and pol.initial_days is not None else self.cover[h]
                )
            elif k == "out":
                node2 = sc.facilities.get(n) or sc.recyclers[n]
                self.fg_days[h] = node2.finished_cover_days
            elif k == "pile":
                hd = sc.stockpiles[n].holds[p]
                self.pile_init[h] = hd.initial
                self.pile_target[h] = hd.initial if hd.target is None else hd.target

        # producers: capacity [units/step], online step, ramp [steps], recipe
        self.prod: list[dict[str, Any]] = []
        for f in net.producers:
            if f in sc.facilities:
                fac = sc.facilities[f]
                if fac.outages is not None and fac.outages.rate_per_year > 0:
                    raise NotImplementedError(_DETERMINISTIC)
                cap = fac.capacity * fac.availability * self.step / 365.0
                ins = [(hidx[(f, p, "in")], c) for p, c in fac.inputs.items()]
                outs = [(hidx[(f, p, "out")], c) for p, c in fac.outputs.items()]
                online, ramp_days = fac.online, fac.ramp_days
            else:
                rec = sc.recyclers[f]
                cap = rec.capacity * self.step / 365.0
                ins = [(hidx[(f, rec.collects.product, "scrap")], 1.0)]
                outs = [(hidx[(f, p, "out")], c) for p, c in rec.outputs.items()]
                online, ramp_days = rec.online, rec.ramp_days
            self.prod.append({
                "id": f, "cap": cap, "ins": ins, "outs": outs,
                "online": 0 if online is None else (online - start).days // self.step,
                "ramp": ramp_days / self.step,
            })

        # links [t], [d], weights
        assert tuple(x.key for x in sc.links) == tuple(net.links), "link order differs"
        self.E = len(sc.links)
        self.src, self.dst, self.lead, self.w = [], [], [], []
        for x in sc.links:
            pile_src = x.from_ in sc.stockpiles
            self.src.append(hidx[(x.from_, x.product, "pile" if pile_src else "out")])
            if x.to in sc.stockpiles:
                kd = "pile"
            elif x.to in sc.markets:
                kd = "mkt"
            else:
                kd = "in"
            self.dst.append(hidx[(x.to, x.product, kd)])
            self.lead.append(x.lead_days)
            self.w.append(0.0 if pile_src else x.weight)
        self.ships_from: dict[int, list[int]] = {}
        for e in range(self.E):
            if self.kind[self.src[e]] == "out":  # pile holdings never ship (no release yet)
                self.ships_from.setdefault(self.src[e], []).append(e)
        self.into: dict[int, list[int]] = {}
        for e in range(self.E):
            self.into.setdefault(self.dst[e], []).append(e)
        self.ordering = [h for h in range(self.H) if any(self.w[e] > 0 for e in self.into.get(h, []))]

        # demand entries, in the network's order
        self.D = len(net.dem_hold)
        self.dem: list[dict[str, Any]] = []
        self.bo_of: dict[int, int] = {}
        for d in range(self.D):
            m = net.markets[int(net.dem_market[d])]
            h = int(net.dem_hold[d])
            n, p, k = net.holdings[h]
            assert n == m and k == "mkt", "demand entry / holding mismatch"
            mk, dm = sc.markets[m], sc.markets[m].demand[p]
            if dm.noise_cv > 0 and noise:
                raise NotImplementedError(_DETERMINISTIC + " (pass noise=False to ignore noise)")
            if mk.substitution and sc.policies.substitution:
                raise NotImplementedError("reference oracle: substitution is not in the step contract yet")
            self.dem.append({
                "m": m, "h": h, "rate": dm.rate * self.step / 365.0, "growth": dm.growth,
                "backorder": mk.unmet == "backorder",
            })
            self.bo_of[h] = d
        self.M = len(net.markets)
        self.mk_entries = {m: [d for d in range(self.D) if self.dem[d]["m"] == m] for m in net.markets}
        self.nominal = [[float(v) for v in row] for row in net.nominal_use]
        self.nominal_link = [[float(v) for v in row] for row in net.nominal_link]

    def growth(self, d: int, t: int) -> float:
        """Growth multiplier of demand entry ``d`` at step ``t`` [-]."""
        return (1.0 + self.dem[d]["growth"]) ** (t * self.step / 365.0)

    def exp_use(self, t: int, dfac: dict[str, float]) -> list[float]:
        """Expected daily use of every holding [t/d]."""
        mult = [self.growth(d, t) * dfac[self.dem[d]["m"]] for d in range(self.D)]
        return [sum(self.nominal[h][d] * mult[d] for d in range(self.D)) for h in range(self.H)]

    def ref_flow(self, t: int, dfac: dict[str, float]) -> list[float]:
        """Reference flow of every link per step (the base of export-control quotas) [t]."""
        mult = [self.growth(d, t) * dfac[self.dem[d]["m"]] for d in range(self.D)]
        return [
            sum(self.nominal_link[e][d] * mult[d] for d in range(self.D)) * self.step
            for e in range(self.E)
        ]

    def run(self, n_steps: int) -> ReferenceTrace:  # noqa: C901 - the step, literally
        """Run ``n_steps`` steps and return the trace."""
        H, E, D, P = self.H, self.E, self.D, self.P
        F, M = len(self.prod), self.M
        exp = self.exp_use(0, {m: 1.0 for m in self.net.markets})
        on = [0.0] * H
        for h in range(H):
            k = self.kind[h]
            if k in ("in", "mkt"):
                on[h] = self.init_days[h] * exp[h]
            elif k == "out":
                on[h] = self.fg_days[h] * exp[h]
            elif k == "pile":
                on[h] = self.pile_init[h]
        on0 = list(on)
        backlog, backorder = [0.0] * E, [0.0] * D
        pipe: list[dict[int, float]] = [{} for _ in range(E)]  # arrival step -> t
        names = ("on_hand", "backlog", "in_transit", "backorder", "demand", "served", "activity",
                 "shipped", "surplus", "produced", "used", "consumed", "fill", "exp_use", "capacity")
        rec: dict[str, list[list[float]]] = {k: [] for k in names}

        for t in range(n_steps):
            # 1. events; exp_use refresh
            fx = self.cal.factors(t)
            if t % self.interval == 0:
                exp = self.exp_use(t, fx.demand_factor)
                ref = self.ref_flow(t, fx.demand_factor)
            fg = [self.fg_days[h] * exp[h] for h in range(H)]

            # 2. arrive
            for e in range(E):
                q = pipe[e].pop(t, 0.0)
                if q:
                    on[self.dst[e]] += q

            # 3. produce
            act_row, cap_row = [0.0] * F, [0.0] * F
            produced, used, surplus = [0.0] * P, [0.0] * P, [0.0] * P
            bo_out = [0.0] * H
            for e in range(E):
                bo_out[self.src[e]] += backlog[e]
            for i, pr in enumerate(self.prod):
                if t < pr["online"]:
                    ramp = 0.0
                elif pr["ramp"] == 0:
                    ramp = 1.0
                else:
                    ramp = min(1.0, (t - pr["online"] + 1) / pr["ramp"])
                cap = (pr["cap"] * ramp + fx.added_capacity[pr["id"]]) * fx.capacity_factor[pr["id"]]
                need = max([0.0] + [(bo_out[h] + fg[h] - on[h]) / c for h, c in pr["outs"]])
                limit = min([math.inf] + [on[h] / c for h, c in pr["ins"]])
                act = max(0.0, min(cap, limit, need))
                for h, c in pr["ins"]:
                    new = max(0.0, on[h] - act * c)
                    used[self.hprod[h]] += on[h] - new
                    on[h] = new
                for h, c in pr["outs"]:
                    on[h] += act * c
                    produced[self.hprod[h]] += act * c
                for h, _ in pr["outs"]:
                    s = max(0.0, on[h] - fg[h] - bo_out[h])
                    if s > 0:
                        on[h] -= s
                        surplus[self.hprod[h]] += s
                act_row[i], cap_row[i] = act, cap

            # 4. ship
            ship_row = [0.0] * E
            for h, es in self.ships_from.items():
                want = [
                    backlog[e] if fx.link_open[e] >= 1.0 else min(backlog[e], fx.link_open[e] * ref[e])
                    for e in es
                ]
                total = sum(want)
                if total <= 0:
                    continue
                shipped = min(total, on[h])
                ratio = 1.0 if shipped == total else shipped / total
                for e, wnt in zip(es, want):
                    s = wnt * ratio
                    backlog[e] = max(0.0, backlog[e] - s)
                    lead = (self.lead[e] + fx.extra_lead_days[e]) / self.step
                    arr = t + max(1, math.ceil(lead - _LEAD_EPS))
                    pipe[e][arr] = pipe[e].get(arr, 0.0) + s
                    ship_row[e] = s
                on[h] = max(0.0, on[h] - shipped)

            # 5. consume (noise off: z = 0)
            dem_row, srv_row, consumed = [0.0] * D, [0.0] * D, [0.0] * P
            for d, de in enumerate(self.dem):
                h = de["h"]
                demand = de["rate"] * self.growth(d, t) * fx.demand_factor[de["m"]]
                b = 0.0
                if de["backorder"]:
                    b = min(on[h], backorder[d])
                    on[h] -= b
                    backorder[d] -= b
                served = min(on[h], demand)
                on[h] -= served
                if de["backorder"]:
                    backorder[d] += demand - served
                consumed[self.hprod[h]] += b + served
                dem_row[d], srv_row[d] = demand, served
            fill_row = []
            for m in self.net.markets:
                tot = sum(dem_row[d] for d in self.mk_entries[m])
                fill_row.append(1.0 if tot <= 0 else sum(srv_row[d] for d in self.mk_entries[m]) / tot)

            # 6. order
            transit = [sum(pipe[e].values()) for e in range(E)]
            for h in self.ordering:
                es = self.into[h]
                gap = self.cover[h] * exp[h] + self.pile_target[h] - on[h]
                if h in self.bo_of:
                    gap += backorder[self.bo_of[h]]
                wsum = sum(self.w[e] for e in es if self.w[e] > 0)
                for e in es:
                    if self.w[e] > 0:
                        backlog[e] += max(0.0, self.w[e] / wsum * gap - (transit[e] + backlog[e]))

            # 8. record
            for key, row in (("on_hand", on), ("backlog", backlog), ("in_transit", transit),
                             ("backorder", backorder), ("demand", dem_row), ("served", srv_row),
                             ("activity", act_row), ("shipped", ship_row), ("surplus", surplus),
                             ("produced", produced), ("used", used), ("consumed", consumed),
                             ("fill", fill_row), ("exp_use", exp), ("capacity", cap_row)):
                rec[key].append(list(row))

        widths = {"on_hand": H, "backlog": E, "in_transit": E, "backorder": D, "demand": D,
                  "served": D, "activity": F, "shipped": E, "surplus": P, "produced": P, "used": P,
                  "consumed": P, "fill": M, "exp_use": H, "capacity": F}
        arrays = {k: np.array(rec[k], dtype=float).reshape(n_steps, widths[k]) for k in names}
        return ReferenceTrace(on_hand0=np.array(on0, dtype=float), **arrays)


def run_reference(
    scenario: Scenario, net: Network, n_steps: int | None = None, noise: bool = True
) -> ReferenceTrace:
    """Run one deterministic replicate of the step contract with plain loops.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario (the source of every rule and number).
    net : Network
        ``compile_network(scenario)``: used for index orders and ``nominal_use`` only.
    n_steps : int, optional
        Steps to run [steps] (default: the whole horizon, ``net.n_steps``).
    noise : bool
        If False, demand noise is ignored (``z = 0``); if True (default), a
        demand entry with ``noise_cv > 0`` raises.

    Returns
    -------
    ReferenceTrace
        Per-step arrays, quantities in t (stocks) and t/step (flows).

    Raises
    ------
    NotImplementedError
        For stochastic events, non-fixed event severities, facility outages with
        ``rate_per_year > 0``, demand noise (unless ``noise=False``), policy events
        and active substitution rules.
    """
    model = _Model(scenario, net, noise)
    return model.run(net.n_steps if n_steps is None else int(n_steps))
