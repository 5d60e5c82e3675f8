"""The assumptions a run's answer rests on, in words: the summary's ``meta.assumptions``.

A decision-maker reads a comparison's result next to what produced it: the events
(what is withheld, from when to when, how much), the stockpiles (what they hold, when
they release), the plants that come on line during the horizon, the substitution
rules and the policies. Each row is ``{"kind", "what", "value", "source"}``; the
report lists them per scenario (for a comparison, what the others add or change
against the first).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .scenario import Scenario


def _n(v: float) -> str:
    """A quantity as read: whole above 100 (``10,000``), three digits below (``1.5``, ``0.25``)."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def _dist(x: Any, pct: bool = False) -> str:
    """A number or a distribution of the scenario format, in words (``74 %``, ``uniform 30-90``)."""
    def f(v: float) -> str:
        return f"{100 * v:.0f} %" if pct else _n(v)

    if isinstance(x, (int, float)):
        return f(float(x))
    for name in ("fixed", "uniform", "triangular", "lognormal"):
        d = getattr(x, name, None)
        if d is None:
            continue
        if name == "fixed":
            return f(float(d))
        if name == "uniform":
            return f"uniform {f(d.low)}–{f(d.high)}"
        if name == "triangular":
            return f"triangular {f(d.low)}–{f(d.high)} (mode {f(d.mode)})"
        return f"lognormal, median {f(d.median)}, p95 {f(d.p95)}"
    return str(x)


def _span(ev: Any, end_of: dt.date) -> str:
    if ev.stochastic is not None:
        st = ev.stochastic
        win = f", starting {st.window.start} to {st.window.end}" if st.window else ""
        return (f"drawn per replicate: {st.rate_per_year:g} a year, lasting {_dist(st.duration_days)} days{win}")
    end = ev.end or (ev.start + dt.timedelta(days=float(ev.duration_days)) if ev.duration_days is not None
                     else end_of)
    return f"{ev.start} to {end}"


def _event(ev: Any, sc: Scenario) -> str:
    t = ev.type
    when = _span(ev, sc.horizon.end)
    if t == "export_control":
        dest = ev.destinations
        to = (f"to {', '.join(dest.include)}" if dest.include is not None
              else "to all but " + ", ".join(dest.exclude) if dest.exclude else "to everyone")
        share = (", then ".join(f"{100 * s.blocked:.0f} % from {s.start}" for s in ev.schedule) + " withheld"
                 if ev.schedule else f"{_dist(ev.blocked, pct=True)} withheld")
        return f"{share} of {', '.join(ev.products)} from {', '.join(ev.origin)} {to}; {when}"
    if t == "outage":
        where = ", ".join(ev.facilities or []) or " ".join(
            x for x in (", ".join(ev.regions or []), ", ".join(ev.stages or [])) if x)
        return f"{_dist(ev.capacity_lost, pct=True)} of capacity lost at {where}; {when}"
    if t == "logistics":
        return f"{_dist(ev.extra_lead_days)} extra days of lead time; {when}"
    if t == "demand_shock":
        who = ", ".join(ev.markets or []) or ", ".join((ev.sectors or []) + (ev.regions or []))
        return f"demand × {_dist(ev.factor)} at {who}; {when}"
    if t == "commission":
        return f"{ev.facility} gains {_n(ev.capacity)} a year of capacity (ramp {ev.ramp_days:g} d); {when}"
    if t == "policy":
        sets = ", ".join(f"{k} = {('on' if v else 'off') if isinstance(v, bool) else _n(v)}"
                         for k, v in ev.set.model_dump(exclude_none=True).items())
        who = f" for buyers in {', '.join(ev.regions)}" if ev.regions is not None else ""
        return f"{sets}{who}; {when}"
    return when


def scenario_assumptions(sc: Scenario) -> list[dict[str, str]]:
    """The rows of one scenario, in reading order: events, stockpiles, plants, substitution, policies."""
    rows: list[dict[str, str]] = []

    def add(kind: str, what: str, value: str, source: str | None, ident: str = "") -> None:
        rows.append({"kind": kind, "what": what, "value": value, "source": source or "", "id": ident})

    h0, h1 = sc.horizon.start, sc.horizon.end
    for ev in sc.events:
        add("event", ev.name or ev.id, _event(ev, sc), ev.source, ev.id)
    for sid, pile in sc.stockpiles.items():
        held = "; ".join(f"{p} {_n(h.initial)} t" + (f" (refilled to {_n(h.target)} t)" if h.target is not None
                                                    and h.target != h.initial else "")
                         for p, h in pile.holds.items())
        rel = pile.release
        how = (f"; released to {', '.join(rel.to)} below {rel.when_cover_below_days:g} days of their use, at most "
               f"{_n(rel.max_per_day)} t/d to each" if rel else "; never released")
        when = f"; set up {pile.online}" if pile.online is not None and pile.online > h0 else ""
        add("stockpile", pile.name or sid, held + how + when, pile.source, sid)
    for fid, f in sc.facilities.items():
        if f.online is not None and h0 < f.online <= h1:
            ramp = f", ramp {f.ramp_days:g} d" if f.ramp_days else ""
            add("plant", f.name or fid, f"on line {f.online}{ramp}; capacity {_n(f.capacity)} a year", f.source, fid)
    for rid, rc in sc.recyclers.items():
        if rc.online is not None and h0 < rc.online <= h1:
            ramp = f", ramp {rc.ramp_days:g} d" if rc.ramp_days else ""
            add("recycler", rc.name or rid, f"on line {rc.online}{ramp}; {_n(rc.capacity)} t of scrap a year",
                rc.source, rid)
    rules: dict[tuple[Any, ...], list[str]] = {}
    src: dict[tuple[Any, ...], str | None] = {}
    for mid, m in sc.markets.items():
        for r in m.substitution:
            key = (r.product, r.fraction, r.after_shortfall_days, r.adoption_days, r.threshold)
            rules.setdefault(key, []).append(mid)
            src.setdefault(key, r.source)
    for (p, frac, after, adopt, thr), ms in rules.items():
        add("substitution", ", ".join(ms),
            f"{100 * frac:.0f} % of {p} demand given up for good after {after:g} days below {100 * thr:.0f} % fill, "
            f"phased in over {adopt:g} days", src[(p, frac, after, adopt, thr)])
    pol = sc.policies
    add("policy", "policies", f"orders move off a closed supplier (a link below {100 * pol.closed_below:.0f} % of its "
        "normal flow) after "
        + ("never" if pol.reroute_after_days is None else f"{pol.reroute_after_days:g} days")
        + f"; substitution {'on' if pol.substitution else 'off'}; stockpile releases "
        f"{'on' if pol.stockpile_release else 'off'}; recycling {'on' if pol.recycling else 'off'}", None)
    return rows


def network_facts(sc: Scenario) -> dict[str, Any]:
    """Capacities and links, for a comparison to say what a plan changes beyond its events and plants."""
    cap = {k: float(f.capacity) for k, f in sc.facilities.items()} | {k: float(r.capacity)
                                                                     for k, r in sc.recyclers.items()}
    links = {x.key: {"weight": float(x.weight), "lead_days": float(x.lead_days)} for x in sc.links}
    return {"capacity": cap, "links": links}


__all__ = ["network_facts", "scenario_assumptions"]
