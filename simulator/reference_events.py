"""Deterministic events and policy switches for the reference oracle (``simulator/reference.py``).

Plain Python, independent of the vectorised engine: every event is resolved from
the :class:`~simulator.scenario.models.Scenario` to a step window ``[s, e)`` and
the ids, links or markets it touches (``docs/step-semantics.md``, "Time",
"Factors" and "Policies").
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from .scenario.models import (
    Commission,
    DemandShock,
    ExportControl,
    Logistics,
    Outage,
    PolicyEvent,
    Scenario,
)
from .scenario.types import FixedDist

__all__ = ["EventFactors", "deterministic_value"]

DETERMINISTIC = "reference oracle: deterministic scenarios only"
_SWITCHES = ("stockpile_release", "substitution", "recycling", "reroute_after_days")


def deterministic_value(x: Any) -> float:
    """A severity that is a number or ``{fixed: x}``; anything else raises."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, FixedDist):
        return float(x.fixed)
    raise NotImplementedError(DETERMINISTIC)


@dataclass(frozen=True)
class EventFactors:
    """Factors and policy switches set by the events active at one step.

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
    stockpile_release, substitution, recycling : bool
        Policy switches in force: ``policies:`` overridden by active ``policy`` events.
    reroute_after_days : list of float or None
        Per link: the re-routing delay in force for its buyer [d] (None: never re-route).
    """

    capacity_factor: dict[str, float]
    added_capacity: dict[str, float]
    link_open: list[float]
    extra_lead_days: list[float]
    demand_factor: dict[str, float]
    stockpile_release: bool = True
    substitution: bool = True
    recycling: bool = True
    reroute_after_days: list[float | None] | None = None


class Calendar:
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
        self.policy_events: list[tuple[int, int, dict[str, Any], set[int] | None]] = []  # file order
        for ev in sc.events:
            self._add(ev)

    def step_of(self, d: dt.date) -> int:
        """Step of a date: ``floor((d - start).days / step_days)``; after the horizon end, the number of steps."""
        return self.sc.horizon.step_of(d)

    def _window(self, ev: Any) -> tuple[int, int]:
        if ev.stochastic is not None:
            raise NotImplementedError(DETERMINISTIC)
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
            self.outages.append((s, e, hit, 1.0 - deterministic_value(ev.capacity_lost)))
        elif isinstance(ev, Commission):
            s, e = self._window(ev)
            ramp_steps = ev.ramp_days / self.step
            per_step = ev.capacity * self.step / 365.0
            self.commissions.append((s, e, ev.facility, per_step, ramp_steps))
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
            self.controls.append((s, e, hit, deterministic_value(ev.blocked), sched))
        elif isinstance(ev, Logistics):
            s, e = self._window(ev)
            hit = {
                i for i, (key, src_r, dst_r, prod) in enumerate(self.links)
                if self._selected(ev.links, key, [(ev.from_regions, src_r), (ev.to_regions, dst_r),
                                                  (ev.products, prod)])
            }
            self.logistics.append((s, e, hit, deterministic_value(ev.extra_lead_days)))
        elif isinstance(ev, DemandShock):
            s, e = self._window(ev)
            hit = {
                m for m, mk in self.sc.markets.items()
                if self._selected(ev.markets, m, [(ev.sectors, mk.sector), (ev.regions, mk.region)])
            }
            self.shocks.append((s, e, hit, deterministic_value(ev.factor)))
        elif isinstance(ev, PolicyEvent):
            s, e = self._window(ev)
            sets = {k: getattr(ev.set, k) for k in _SWITCHES if getattr(ev.set, k) is not None}
            if "reroute_after_days" in ev.set.model_fields_set:  # an explicit null: never re-route
                sets["reroute_after_days"] = ev.set.reroute_after_days
            scope = None if ev.regions is None else {
                i for i, (_, _, dst_r, _) in enumerate(self.links) if dst_r in ev.regions}
            self.policy_events.append((s, e, sets, scope))
        else:  # pragma: no cover - the schema admits no other type
            raise NotImplementedError(f"reference oracle: unknown event type {ev.type!r}")

    def policies(self, t: int) -> dict[str, Any]:
        """Switches in force at step ``t``: ``policies:``, then active policy events in order."""
        pol = self.sc.policies
        out: dict[str, Any] = {k: getattr(pol, k) for k in _SWITCHES}
        out["reroute_after_days"] = [pol.reroute_after_days] * len(self.links)  # per link: its buyer's
        for s, e, sets, scope in self.policy_events:
            if s <= t < e:
                for k, v in sets.items():
                    if k != "reroute_after_days":
                        out[k] = v
                    else:
                        out[k] = [v if scope is None or i in scope else old for i, old in enumerate(out[k])]
        return out

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
        pol = self.policies(t)
        reroute = [None if x is None else float(x) for x in pol["reroute_after_days"]]
        return EventFactors(
            cf, added, open_, extra, df,
            stockpile_release=bool(pol["stockpile_release"]),
            substitution=bool(pol["substitution"]),
            recycling=bool(pol["recycling"]),
            reroute_after_days=reroute,
        )
