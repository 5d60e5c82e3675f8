"""The step of the reference oracle, literally (``docs/step-semantics.md``), one replicate.

Plain Python loops over lists and floats. Every rule and number comes from the
:class:`~simulator.scenario.models.Scenario`; the :class:`~simulator.network.Network`
gives only index orders and the nominal flows (``nominal_use``, ``nominal_link``).
See :func:`simulator.reference.run_reference`.
"""

from __future__ import annotations

import math
from typing import Any

from .diversify import TRIGGER_TIE
from .network import Network
from .reference_events import DETERMINISTIC, Calendar
from .reference_tracing import Tracer, lifetime_steps
from .scenario.models import Scenario

_LEAD_EPS = 1e-12  # same tolerance as the network's lead_steps: ceil(x - 1e-12)

#: Recorded per step: name -> width key.
FIELDS = {
    "on_hand": "H", "backlog": "E", "in_transit": "E", "backorder": "D", "demand": "D",
    "served": "D", "activity": "F", "shipped": "E", "surplus": "P", "produced": "P", "used": "P",
    "consumed": "P", "fill": "M", "exp_use": "H", "capacity": "F", "released": "S",
    "triggered": "Q", "collected": "P", "substituted": "D", "weights": "E", "stocked": "P",
}


class Model:
    """The scenario, resolved to plain lists indexed in the network's order."""

    def __init__(self, sc: Scenario, net: Network, noise: bool):
        self.sc, self.net = sc, net
        self.step = sc.horizon.step_days
        self.cal = Calendar(sc)
        self.interval = math.ceil(sc.report.interval_days / self.step)
        hidx = {k: i for i, k in enumerate(net.holdings)}
        pidx = {p: i for i, p in enumerate(net.products)}
        ridx = {r: i for i, r in enumerate(net.regions)}
        self.H, self.P = len(net.holdings), len(net.products)
        self.hprod = [pidx[p] for (_, p, _) in net.holdings]
        self.kind = [k for (_, _, k) in net.holdings]

        # stock policies per holding [d] / [t]
        self.cover = [0.0] * self.H
        self.init_days = [0.0] * self.H
        self.fg_days = [0.0] * self.H
        self.pile_init = [0.0] * self.H
        self.pile_target = [0.0] * self.H
        self.pile_online = [0] * self.H  # step the stockpile is set up (0: there from the start)
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
                set_up = sc.stockpiles[n].online
                self.pile_online[h] = 0 if set_up is None else max(0, sc.horizon.step_of(set_up))

        # producers: capacity [units/step], online step, ramp [steps], recipe
        self.prod: list[dict[str, Any]] = []
        for f in net.producers:
            if f in sc.facilities:
                fac = sc.facilities[f]
                if fac.outages is not None and fac.outages.rate_per_year > 0:
                    raise NotImplementedError(DETERMINISTIC)
                cap = fac.capacity * fac.availability * self.step / 365.0
                ins = [(hidx[(f, p, "in")], c) for p, c in fac.inputs.items()]
                outs = [(hidx[(f, p, "out")], c) for p, c in fac.outputs.items()]
                online, ramp_days, stage, region = fac.online, fac.ramp_days, fac.stage, fac.region
            else:
                rec = sc.recyclers[f]
                cap = rec.capacity * self.step / 365.0
                ins = [(hidx[(f, rec.collects.product, "scrap")], 1.0)]
                outs = [(hidx[(f, p, "out")], c) for p, c in rec.outputs.items()]
                online, ramp_days, stage, region = rec.online, rec.ramp_days, "recycler", rec.region
            self.prod.append({
                "id": f, "cap": cap, "ins": ins, "outs": outs,
                "online": 0 if online is None else sc.horizon.step_of(online),
                "ramp": ramp_days / self.step, "recycler": f in sc.recyclers,
                "stage": stage, "region": ridx[region],
            })

        # links [t], [d], weights, prices
        assert tuple(x.key for x in sc.links) == tuple(net.links), "link order differs"
        self.E = len(sc.links)
        self.src, self.dst, self.lead, self.w, self.price = [], [], [], [], []
        self.lead_steps: list[int] = []
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
            self.lead_steps.append(max(1, math.ceil(x.lead_days / self.step - 1e-12)))
            self.w.append(0.0 if pile_src else x.weight)
            self.price.append(x.price)
        self.ships_from: dict[int, list[int]] = {}
        for e in range(self.E):
            if self.kind[self.src[e]] == "out":  # pile holdings give only by release
                self.ships_from.setdefault(self.src[e], []).append(e)
        self.into: dict[int, list[int]] = {}
        for e in range(self.E):
            if self.w[e] > 0:
                self.into.setdefault(self.dst[e], []).append(e)
        self.ordering = sorted(self.into)

        # demand entries, in the network's order
        self.D = len(net.dem_hold)
        self.dem: list[dict[str, Any]] = []
        self.bo_of: dict[int, int] = {}
        d_of: dict[tuple[str, str], int] = {}
        for d in range(self.D):
            m = net.markets[int(net.dem_market[d])]
            h = int(net.dem_hold[d])
            n, p, k = net.holdings[h]
            assert n == m and k == "mkt", "demand entry / holding mismatch"
            mk, dm = sc.markets[m], sc.markets[m].demand[p]
            if dm.noise_cv > 0 and noise:
                raise NotImplementedError(DETERMINISTIC + " (pass noise=False to ignore noise)")
            self.dem.append({
                "m": m, "mi": net.markets.index(m), "h": h, "rate": dm.rate * self.step / 365.0,
                "growth": dm.growth, "backorder": mk.unmet == "backorder",
            })
            self.bo_of[h] = d
            d_of[(m, p)] = d
        self.M = len(net.markets)
        self.mk_entries = {
            m: [d for d in range(self.D) if self.dem[d]["m"] == m] for m in net.markets
        }
        self.nominal = [[float(v) for v in row] for row in net.nominal_use]
        self.nominal_link = [[float(v) for v in row] for row in net.nominal_link]
        # the nominal flows quotas are shares of, as plants come on line (from each of quota_steps on)
        self.quota_steps = [int(s) for s in net.quota_flow_steps]
        self.quota_links = [[[float(v) for v in row] for row in f] for f in net.quota_flows]

        # substitution rules (market order, rule order), each on one demand entry
        self.rules: list[dict[str, Any]] = []
        for m, mk in sc.markets.items():
            for rule in mk.substitution:
                if (m, rule.product) not in d_of:
                    continue
                self.rules.append({
                    "d": d_of[(m, rule.product)], "fraction": rule.fraction,
                    "after": rule.after_shortfall_days, "threshold": rule.threshold,
                    "adopt": math.ceil(rule.adoption_days / self.step),
                })

        # stockpiles: release channels (stockpile, product, receiver order), holding cost
        self.S = len(net.stockpiles)
        self.channels: list[dict[str, Any]] = []
        self.pile_channels: dict[int, list[int]] = {}
        self.stock_holds: list[list[int]] = []
        self.hold_cost: list[float] = []
        for si, sid in enumerate(net.stockpiles):
            sp = sc.stockpiles[sid]
            self.stock_holds.append([hidx[(sid, p, "pile")] for p in sp.holds])
            self.hold_cost.append(sp.holding_cost / 365.0 * self.step)
            if sp.release is None:
                continue
            for p in sp.holds:
                ph = hidx[(sid, p, "pile")]
                for r in sp.release.to:
                    if r in sc.facilities and p in sc.facilities[r].inputs:
                        rh = hidx[(r, p, "in")]
                    elif r in sc.markets and p in sc.markets[r].demand:
                        rh = hidx[(r, p, "mkt")]
                    else:
                        continue  # the receiver does not use p
                    self.pile_channels.setdefault(ph, []).append(len(self.channels))
                    self.channels.append({
                        "s": si, "pile": ph, "r": rh, "cover": sp.release.when_cover_below_days,
                        "max": sp.release.max_per_day * self.step,
                    })
        self.Q = len(self.channels)

        # recyclers: scrap holding, collected demand entries, recovery, lifetimes [steps]
        self.recyclers: list[dict[str, Any]] = []
        for r, rec in sc.recyclers.items():
            col = rec.collects
            ds = [d_of[(m, col.product)] for m in col.from_ if (m, col.product) in d_of]
            self.recyclers.append({
                "h": hidx[(r, col.product, "scrap")], "ds": ds, "recovery": col.recovery,
                "life": lifetime_steps(col.lifetime_days, self.step),
            })

        # origin tracing
        self.tracer = Tracer(
            list(sc.report.trace_stages), len(net.regions), self.kind,
            [{k: pr[k] for k in ("stage", "region", "recycler", "ins", "outs")}
             for pr in self.prod],
            self.src, self.dst, [sum(row) for row in self.nominal_link],
            [sum(row) for row in self.nominal], self.M,
        )

    def growth(self, d: int, t: int) -> float:
        """Growth multiplier of demand entry ``d`` at step ``t`` (t < 0: before the horizon) [-]."""
        return (1.0 + self.dem[d]["growth"]) ** (t * self.step / 365.0)

    def mult(self, t: int, dfac: dict[str, float], keep: list[float]) -> list[float]:
        """Current demand multiplier of every entry: growth x demand factor x (1 - sub) [-]."""
        return [self.growth(d, t) * dfac[self.dem[d]["m"]] * keep[d] for d in range(self.D)]

    def exp_use(self, mult: list[float]) -> list[float]:
        """Expected daily use of every holding [t/d]."""
        return [sum(self.nominal[h][d] * mult[d] for d in range(self.D)) for h in range(self.H)]

    def ref_flow(self, mult: list[float], t: int) -> list[float]:
        """Reference flow of every link per step at demand multipliers ``mult`` (the base of export-control
        quotas, at the demand trend ``growth``: without demand shocks and substitution), with the nominal
        flows in force at step t (a plant not on line yet carries none) [t]."""
        flows = self.quota_links[max(i for i, s in enumerate(self.quota_steps) if s <= t)]
        return [
            sum(flows[e][d] * mult[d] for d in range(self.D)) * self.step
            for e in range(self.E)
        ]

    def scrap_schedule(self) -> list[dict[int, float]]:
        """Scrap due at each step t >= 0 from consumption before the horizon, per recycler [t]."""
        out: list[dict[int, float]] = []
        for rc in self.recyclers:
            due: dict[int, float] = {}
            nb = len(rc["life"])
            for d in rc["ds"]:
                for u in range(-max(rc["life"]), 0):
                    c = self.dem[d]["rate"] * self.growth(d, u)  # nominal pre-horizon demand
                    for lj in rc["life"]:
                        if u + lj >= 0:
                            due[u + lj] = due.get(u + lj, 0.0) + rc["recovery"] * c / nb
            out.append(due)
        return out

    def _offline(self, e: int, t: int, fx: Any) -> bool:
        """Link e's supplier is a producer not online yet at step t, with no commissioned capacity."""
        for pr in self.prod:
            if any(h == self.src[e] for h, _ in pr["outs"]):
                return t < pr["online"] and fx.added_capacity[pr["id"]] <= 0.0
        return False

    def run(self, n_steps: int) -> dict[str, Any]:
        """Run ``n_steps`` steps; return the recorded rows and the run totals."""
        H, E, D, P, S, Q = self.H, self.E, self.D, self.P, self.S, self.Q
        F, M = len(self.prod), self.M
        tr = self.tracer
        keep = [1.0] * D
        exp = self.exp_use(self.mult(0, {m: 1.0 for m in self.net.markets}, keep))
        ref = [0.0] * E
        on = [0.0] * H
        for h in range(H):
            k = self.kind[h]
            if k in ("in", "mkt"):
                on[h] = self.init_days[h] * exp[h]
            elif k == "out":
                on[h] = self.fg_days[h] * exp[h]
            elif k == "pile" and self.pile_online[h] == 0:  # a stockpile set up later starts empty
                on[h] = self.pile_init[h]
        on0 = list(on)
        backlog, backorder = [0.0] * E, [0.0] * D
        pipe: list[dict[int, float]] = [{} for _ in range(E)]  # arrival step -> t
        scrap = self.scrap_schedule()  # per recycler: arrival step -> t
        closed_for = [0] * E
        trig = [False] * Q  # in force at the current step (raised at the end of phase 5 before)
        short_run = [0] * len(self.rules)
        adopt_at: list[int | None] = [None] * len(self.rules)
        spend, hold_cost = [0.0] * E, [0.0] * S
        rec: dict[str, list[list[Any]]] = {k: [] for k in FIELDS}
        tags: list[list[list[list[float]]]] = []
        closed_below = self.sc.policies.closed_below

        for t in range(n_steps):
            # 0. stockpiles set up at this step receive their initial stock (bought outside the chain)
            stocked = [0.0] * P
            for h in range(H):
                if self.kind[h] == "pile" and self.pile_online[h] == t and t > 0:
                    on[h] += self.pile_init[h]
                    stocked[self.hprod[h]] += self.pile_init[h]
            # 1. events, policies, closed links, substitution share; exp_use refresh
            fx = self.cal.factors(t)
            for e in range(E):
                closed_for[e] = closed_for[e] + 1 if fx.link_open[e] < closed_below else 0
            reroute_steps = [None if x is None else math.ceil(x / self.step)
                             for x in (fx.reroute_after_days or [None] * E)]
            keep = [1.0] * D
            for i, ru in enumerate(self.rules):
                a = adopt_at[i]
                if a is not None and t >= a:
                    ramp = 1.0 if ru["adopt"] == 0 else min(1.0, (t - a + 1) / ru["adopt"])
                    keep[ru["d"]] *= 1.0 - ru["fraction"] * ramp
            if t % self.interval == 0:
                mult = self.mult(t, fx.demand_factor, keep)
                exp = self.exp_use(mult)
                ref = self.ref_flow([self.growth(d, t) for d in range(D)], t)  # normal flows: the trend only
            fg = [self.fg_days[h] * exp[h] for h in range(H)]

            # 2. arrive (links, then collected scrap)
            arrivals: dict[int, list[tuple[float, int]]] = {}
            for e in range(E):
                q = pipe[e].pop(t, 0.0)
                if q:
                    arrivals.setdefault(self.dst[e], []).append((q, e))
            for h, parts in arrivals.items():
                tr.arrive(h, on[h], parts)
                for q, _ in parts:
                    on[h] += q
            collected = [0.0] * P
            for i, rc in enumerate(self.recyclers):
                q = scrap[i].pop(t, 0.0)
                if q:
                    h = rc["h"]
                    tr.arrive_scrap(h, on[h], q)
                    on[h] += q
                    collected[self.hprod[h]] += q

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
                cap = ((pr["cap"] * ramp + fx.added_capacity[pr["id"]])
                       * fx.capacity_factor[pr["id"]])
                if pr["recycler"] and not fx.recycling:
                    cap = 0.0
                need = max([0.0] + [(bo_out[h] + fg[h] - on[h]) / c for h, c in pr["outs"]])
                limit = min([math.inf] + [on[h] / c for h, c in pr["ins"]])
                act = max(0.0, min(cap, limit, need))
                if act > 0:
                    took = []
                    for h, c in pr["ins"]:
                        new = max(0.0, on[h] - act * c)
                        took.append((h, on[h] - new))
                        used[self.hprod[h]] += on[h] - new
                        on[h] = new
                    made = []
                    for h, c in pr["outs"]:
                        made.append((h, on[h], act * c))
                        on[h] += act * c
                        produced[self.hprod[h]] += act * c
                    tr.produce(i, took, made)
                for h, _ in pr["outs"]:
                    s = max(0.0, on[h] - fg[h] - bo_out[h])
                    if s > 0:
                        on[h] -= s
                        surplus[self.hprod[h]] += s
                act_row[i], cap_row[i] = act, cap

            # 4a. stockpile releases (wants from the stock before any release)
            rel_row = [0.0] * S
            gave = [False] * Q  # channels that released this step stay triggered (docs/step-semantics.md)
            if fx.stockpile_release and Q:
                want_q = [0.0] * Q
                for q, ch in enumerate(self.channels):
                    if trig[q]:
                        r = ch["r"]
                        want_q[q] = min(ch["max"], max(0.0, ch["cover"] * exp[r] - on[r]))
                for ph, qs in self.pile_channels.items():
                    total = sum(want_q[q] for q in qs)
                    if total <= 0:
                        continue
                    give = min(total, on[ph])
                    ratio = 1.0 if give == total else give / total
                    for q in qs:
                        g = want_q[q] * ratio
                        if g > 0:
                            r = self.channels[q]["r"]
                            tr.release(r, on[r], g, ph)
                            on[r] += g
                            rel_row[self.channels[q]["s"]] += g
                            gave[q] = True
                    on[ph] = max(0.0, on[ph] - give)

            # 4b. ship
            ship_row = [0.0] * E
            for h, es in self.ships_from.items():
                want = [
                    backlog[e] if fx.link_open[e] >= 1.0
                    else min(backlog[e], fx.link_open[e] * ref[e])
                    for e in es
                ]
                total = sum(want)
                if total <= 0:
                    continue
                shipped = min(total, on[h])
                ratio = 1.0 if shipped == total else shipped / total
                for e, wnt in zip(es, want):
                    s = wnt * ratio
                    if s > 0:
                        tr.ship(e, sum(pipe[e].values()), s, h)
                    backlog[e] = max(0.0, backlog[e] - s)
                    lead = (self.lead[e] + fx.extra_lead_days[e]) / self.step
                    arr = t + max(1, math.ceil(lead - _LEAD_EPS))
                    pipe[e][arr] = pipe[e].get(arr, 0.0) + s
                    ship_row[e] = s
                    spend[e] += s * self.price[e]
                on[h] = max(0.0, on[h] - shipped)

            # 5. consume (noise off: z = 0); scrap returns; substitution; triggers
            dem_row, srv_row, sub_row, consumed = [0.0] * D, [0.0] * D, [0.0] * D, [0.0] * P
            cons_d = [0.0] * D
            for d, de in enumerate(self.dem):
                h = de["h"]
                base = de["rate"] * self.growth(d, t) * fx.demand_factor[de["m"]]
                demand = base * keep[d]
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
                cons_d[d] = b + served
                tr.consume(de["mi"], h, b + served)
                dem_row[d], srv_row[d], sub_row[d] = demand, served, base * (1.0 - keep[d])
            fill_row = []
            for m in self.net.markets:
                tot = sum(dem_row[d] for d in self.mk_entries[m])
                srv = sum(srv_row[d] for d in self.mk_entries[m])
                fill_row.append(1.0 if tot <= 0 else srv / tot)
            for i, rc in enumerate(self.recyclers):
                nb = len(rc["life"])
                for d in rc["ds"]:
                    if cons_d[d] > 0:
                        for lj in rc["life"]:
                            back = rc["recovery"] * cons_d[d] / nb
                            scrap[i][t + lj] = scrap[i].get(t + lj, 0.0) + back
            for i, ru in enumerate(self.rules):
                d = ru["d"]
                short = dem_row[d] > 0 and srv_row[d] / dem_row[d] < ru["threshold"]
                short_run[i] = short_run[i] + 1 if short else 0
                if (adopt_at[i] is None and fx.substitution and short
                        and short_run[i] * self.step >= ru["after"]):
                    adopt_at[i] = t + 1
            next_trig = [on[ch["r"]] < ch["cover"] * exp[ch["r"]] * (1.0 - TRIGGER_TIE) or gave[q]
                         for q, ch in enumerate(self.channels)]

            # 6. order (re-routing; a stockpile refills only while none of its channels triggered)
            transit = [sum(pipe[e].values()) for e in range(E)]
            w_row = [0.0] * E
            for h in self.ordering:
                es = self.into[h]
                rerouted = [reroute_steps[e] is not None and closed_for[e] >= max(1, reroute_steps[e])
                            for e in es]
                # a supplier before its online date (and no commissioned capacity) gets no orders
                offline = [self._offline(e, t, fx) for e in es]
                excluded = [r or o for r, o in zip(rerouted, offline)]
                if all(excluded):
                    rerouted = excluded = [False] * len(es)
                wsum = sum(self.w[e] for e, x in zip(es, excluded) if not x)
                for e, r, x in zip(es, rerouted, excluded):
                    if r:
                        backlog[e] = 0.0
                    if not x:
                        w_row[e] = self.w[e] / wsum
                if any(trig[q] for q in self.pile_channels.get(h, [])):
                    continue
                target = self.pile_target[h] if t >= self.pile_online[h] else 0.0  # none before it is set up
                gap = self.cover[h] * exp[h] + target - on[h]
                if h in self.bo_of:
                    gap += backorder[self.bo_of[h]]
                # each link holds its share of the position: weight x (lead + 1), normalised,
                # so that in steady state the flows split by weight whatever the lead times
                pos = {e: w_row[e] * (self.lead_steps[e] + 1) for e in es if w_row[e] > 0}
                psum = sum(pos.values())
                for e, x in pos.items():
                    backlog[e] += max(0.0, x / psum * gap - (transit[e] + backlog[e]))

            # 7. trace, 8. record
            for si, hs in enumerate(self.stock_holds):
                for h in hs:
                    hold_cost[si] += on[h] * self.hold_cost[si]
            tags.append(tr.snapshot())
            for key, row in (("on_hand", on), ("backlog", backlog), ("in_transit", transit),
                             ("backorder", backorder), ("demand", dem_row), ("served", srv_row),
                             ("activity", act_row), ("shipped", ship_row), ("surplus", surplus),
                             ("produced", produced), ("used", used), ("consumed", consumed),
                             ("fill", fill_row), ("exp_use", exp), ("capacity", cap_row),
                             ("released", rel_row), ("triggered", trig), ("collected", collected),
                             ("substituted", sub_row), ("weights", w_row), ("stocked", stocked)):
                rec[key].append(list(row))
            trig = next_trig

        sizes = {"H": H, "E": E, "D": D, "F": F, "P": P, "M": M, "S": S, "Q": Q}
        return {"rows": rec, "sizes": sizes, "on_hand0": on0, "tags": tags,
                "dependency": tr.dependency(), "holding_cost": hold_cost, "spend": spend}
