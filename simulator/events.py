"""Disruptions and interventions as SimPy processes that edit factor arrays.

Every event (and every facility's random ``outages:``) is compiled into an
:class:`EventPlan`: which columns of which factor array it touches, and, per
replicate, its occurrences (start step, end step, severity). Deterministic
events have one occurrence shared by all replicates (a ``schedule`` gives one
occurrence per step of the schedule); ``stochastic:`` events draw Poisson
arrivals, durations and severities per replicate from their own stream.

:func:`event_process` is the SimPy process of one plan: it waits for each
moment its contribution changes for some replicate, and asks the
:class:`Board` to recombine the factor array. Contributions of several events
on the same array combine by product (capacity, link openness, demand) or by
sum (extra lead time, added capacity), so overlapping events restore correctly.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .network import Network
from .rng import Streams, is_random, sample
from .scenario.models import (
    Commission,
    DemandShock,
    ExportControl,
    Logistics,
    Outage,
    PolicyEvent,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: factor array -> how contributions combine and its neutral value
ARRAYS = {
    "capacity_factor": ("prod", 1.0),
    "added_capacity": ("sum", 0.0),
    "link_open": ("prod", 1.0),
    "extra_lead_days": ("sum", 0.0),
    "demand_factor": ("prod", 1.0),
}


@dataclass
class EventPlan:
    """One event's effect: target columns and per-replicate occurrences."""

    id: str
    type: str
    array: str  #: which factor array (keys of ARRAYS), or "policy"
    targets: I64  #: columns of that array it touches
    start: I64  #: [R, K] start step of each occurrence (a large number when unused)
    end: I64  #: [R, K] end step, exclusive
    value: F64  #: [R, K] contribution while active (factor, or additive amount)
    ramp_steps: float = 0.0  #: commission ramp
    label: str = ""
    deterministic: bool = True
    switches: dict[str, Any] | None = None  #: policy events: the switches they set
    #: policy events scoped to buyers' regions: the links whose re-routing delay they set (None: every link)
    scope: I64 | None = None

    def contribution(self, t: int) -> F64:
        """Contribution of this plan at step t, per replicate [R]."""
        kind, neutral = ARRAYS.get(self.array, ("prod", 1.0))
        active = (self.start <= t) & (t < self.end)
        val = self.value
        if self.ramp_steps > 0:
            frac = np.minimum(1.0, (t - self.start + 1.0) / self.ramp_steps)
            val = val * np.clip(frac, 0.0, 1.0)
        if kind == "prod":
            return np.prod(np.where(active, val, 1.0), axis=1)
        return np.sum(np.where(active, val, 0.0), axis=1)

    def peak(self) -> float:
        """The largest contribution of an additive plan (non-negative values) at any step in any
        replicate: the values of its occurrences active together add up, and a stochastic event
        that recurs before its last occurrence ended overlaps itself. The arrival ring is sized
        from it.

        A sweep over each replicate's starts and ends (ends first at equal steps: an occurrence
        is active from its start up to, not including, its end) finds the start where the sum
        peaks, O(K log K) per replicate; the sum there is then taken exactly as
        :meth:`contribution` takes it."""
        s, e = self.start, self.end
        if s.size == 0:
            return 0.0
        v = np.where(e > s, np.maximum(self.value, 0.0), 0.0)  # an empty occurrence never acts
        R, K = s.shape
        order = np.argsort(np.concatenate([e, s], axis=1), axis=1, kind="stable")  # ends (< K) before starts
        run = np.cumsum(np.take_along_axis(np.concatenate([-v, v], axis=1), order, axis=1), axis=1)
        best = np.where(order >= K, run, -np.inf).argmax(axis=1)  # the start (per replicate) where it peaks
        at = np.take_along_axis(s, (order[np.arange(R), best] - K)[:, None], axis=1)
        live = (s <= at) & (at < e)
        return float(max(0.0, np.where(live, v, 0.0).sum(axis=1).max()))

    def change_steps(self, n_steps: int) -> list[int]:
        """Steps at which the contribution may change for some replicate."""
        pts = set(np.unique(self.start[self.start < n_steps]).tolist())
        pts |= set(np.unique(self.end[self.end < n_steps]).tolist())
        if self.ramp_steps > 0:
            for s in np.unique(self.start[self.start < n_steps]).tolist():
                pts |= set(range(int(s), min(n_steps, int(s + math.ceil(self.ramp_steps)))))
        # an occurrence that began before the horizon (s < 0 <= e) is in force from step 0
        # (docs/step-semantics.md, "Time"): its change points before 0 are taken at 0
        return sorted({max(0, int(p)) for p in pts})


def extra_lead_steps(plans: list[EventPlan], n_links: int, step_days: int) -> I64:
    """The most extra lead time [steps] the logistics plans can add to each link at once: the peaks of the
    plans covering it, added in the :class:`Board`'s order, so no sum of contributions exceeds it
    (overlapping occurrences of a recurring event add up: docs/step-semantics.md). Link e's arrival
    ring is sized from it (:func:`simulator.kernels.build_plan`)."""
    extra = np.zeros(n_links)
    for p in plans:
        if p.array == "extra_lead_days":
            extra[p.targets] += p.peak()
    return np.ceil(extra / step_days).astype(np.int64)


class Board:
    """The factor arrays of a run, recombined from the active plans' contributions."""

    def __init__(
        self, R: int, sizes: dict[str, int], plans: list[EventPlan], policies: Any = None, step_days: int = 1
    ):
        self.R = R
        self.step_days = step_days
        self.arrays: dict[str, F64] = {
            name: np.full((R, sizes[name]), ARRAYS[name][1]) for name in ARRAYS
        }
        self.plans = plans
        self.current: dict[int, F64] = {}
        self.base_policy = policies
        self.policy: dict[str, F64] = {}
        self.changed = True  #: set when any factor changed since the engine last looked
        self._policy_at(0)

    def _policy_at(self, t: int) -> None:
        """Policy switches per replicate [R] (re-routing delay per replicate and link [R, E]): the
        scenario's, overridden by active policy events in file order (a scoped one on its links only)."""
        R, pol = self.R, self.base_policy
        E = self.arrays["link_open"].shape[1]
        on = lambda b: np.full(R, 1.0 if b else 0.0)
        steps = self.step_days_to_steps
        self.policy = {
            "stockpile_release": on(pol.stockpile_release if pol else True),
            "substitution": on(pol.substitution if pol else True),
            "recycling": on(pol.recycling if pol else True),
            "reroute_steps": np.full((R, E), steps(pol.reroute_after_days) if pol else np.inf),
        }
        for p in self.plans:
            if p.array != "policy" or not p.switches:
                continue
            active = ((p.start <= t) & (t < p.end)).any(axis=1)
            for key, val in p.switches.items():
                if key == "reroute_after_days":
                    cur = self.policy["reroute_steps"]
                    cols = slice(None) if p.scope is None else p.scope
                    cur[:, cols] = np.where(active[:, None], steps(val), cur[:, cols])
                    continue
                self.policy[key] = np.where(active, 1.0 if val else 0.0, self.policy[key])

    def step_days_to_steps(self, days: Any) -> float:
        """Reroute delay in steps (inf when none)."""
        return np.inf if days is None else float(math.ceil(days / self.step_days))

    def update(self, i: int, t: int) -> None:
        """Recompute plan i's contribution at step t and the array it feeds."""
        plan = self.plans[i]
        if plan.array == "policy":
            self._policy_at(t)
            self.changed = True
            return
        self.current[i] = plan.contribution(t)
        kind, neutral = ARRAYS[plan.array]
        arr = np.full_like(self.arrays[plan.array], neutral)
        for j, p in enumerate(self.plans):
            if p.array != plan.array or j not in self.current:
                continue
            c = self.current[j][:, None]
            if kind == "prod":
                arr[:, p.targets] *= c
            else:
                arr[:, p.targets] += c
        self.arrays[plan.array][...] = arr
        self.changed = True


def event_process(env: Any, board: Board, i: int, n_steps: int) -> Generator[Any, None, None]:
    """SimPy process of plan i: at each change point, recombine its array."""
    for t in board.plans[i].change_steps(n_steps):
        if t > env.now:
            yield env.timeout(t - env.now)
        board.update(i, t)


# --------------------------------------------------------------------------- compile


def _step(net: Network, date: Any) -> int:
    return net.scenario.horizon.step_of(date)


def _occurrences(
    ev: Any, net: Network, streams: Streams, component: str, severity: Any
) -> tuple[I64, I64, F64, bool]:
    """Per-replicate occurrences of an event: start[R,K], end[R,K], severity[R,K]."""
    R, T, step = streams.R, net.n_steps, net.step_days
    never = np.int64(T + 10**6)
    if ev.stochastic is None:
        s = _step(net, ev.start)
        if ev.end is not None:
            e = _step(net, ev.end)
        elif ev.duration_days is not None:
            e = s + math.ceil(ev.duration_days / step)
        else:
            e = T
        if is_random(severity):
            u = streams.uniforms(component, 2)
            sev = sample(severity, u[:, :1], u[:, 1:])
        else:
            sev = np.full((R, 1), float(sample(severity, np.zeros(1), np.zeros(1))[0]))
        return np.full((R, 1), s, dtype=np.int64), np.full((R, 1), e, dtype=np.int64), sev, True
    st = ev.stochastic
    if st.window is not None:
        w0 = max(0, _step(net, st.window.start))
        w1 = min(T, _step(net, st.window.end) + 1)
    else:
        w0, w1 = 0, T
    years = max(0.0, (w1 - w0) * step / 365.0)
    lam = st.rate_per_year * years
    K = int(math.ceil(lam + 6.0 * math.sqrt(lam) + 4.0))
    u = streams.uniforms(component, 8 * K).reshape(R, K, 8)
    gaps = -np.log1p(-u[:, :, 0]) / st.rate_per_year * 365.0  # days
    start_day = w0 * step + np.cumsum(gaps, axis=1)
    dur = np.maximum(0.0, sample(st.duration_days, u[:, :, 1], u[:, :, 2]))
    sev = sample(severity, u[:, :, 3], u[:, :, 4])
    start = np.floor(start_day / step).astype(np.int64)
    end = start + np.maximum(1, np.ceil(dur / step)).astype(np.int64)
    unused = start >= w1
    start = np.where(unused, never, start)
    end = np.where(unused, never, end)
    return start, end, sev, False


def _select_links(net: Network, ev: ExportControl | Logistics) -> I64:
    sc = net.scenario
    idx = []
    for e, link in enumerate(sc.links):
        src_region = net.regions[net.link_src_region[e]]
        dst_region = net.regions[net.link_dst_region[e]]
        if isinstance(ev, ExportControl):
            if src_region not in ev.origin or link.product not in ev.products:
                continue
            if dst_region in ev.origin:
                continue  # export controls never touch domestic links
            d = ev.destinations
            if d.include is not None and dst_region not in d.include:
                continue
            if d.exclude is not None and dst_region in d.exclude:
                continue
        else:
            if ev.links is not None and link.key not in ev.links:
                continue
            if ev.from_regions is not None and src_region not in ev.from_regions:
                continue
            if ev.to_regions is not None and dst_region not in ev.to_regions:
                continue
            if ev.products is not None and link.product not in ev.products:
                continue
        idx.append(e)
    return np.array(idx, dtype=np.int64)


def _select_producers(net: Network, ev: Outage) -> I64:
    out = []
    for f, fid in enumerate(net.producers):
        region = net.regions[net.producer_region[f]]
        if ev.facilities is not None and fid in ev.facilities:
            out.append(f)
            continue
        if ev.facilities is not None and not (ev.regions or ev.stages):
            continue
        if ev.regions is not None and region not in ev.regions:
            continue
        if ev.stages is not None and net.producer_stage[f] not in ev.stages:
            continue
        if ev.regions is None and ev.stages is None:
            continue
        out.append(f)
    return np.array(out, dtype=np.int64)


def _select_demand(net: Network, ev: DemandShock) -> I64:
    sc = net.scenario
    out = []
    for d, m in enumerate(net.dem_market):
        mid = net.markets[m]
        mk = sc.markets[mid]
        if ev.markets is not None and mid in ev.markets:
            out.append(d)
            continue
        if ev.markets is not None and not (ev.sectors or ev.regions):
            continue
        if ev.sectors is not None and mk.sector not in ev.sectors:
            continue
        if ev.regions is not None and mk.region not in ev.regions:
            continue
        if ev.sectors is None and ev.regions is None:
            continue
        out.append(d)
    return np.array(out, dtype=np.int64)


def compile_events(net: Network, streams: Streams) -> list[EventPlan]:
    """Every event of the scenario and every facility's random outages as plans."""
    sc = net.scenario
    plans: list[EventPlan] = []
    for ev in sc.events:
        comp = f"event:{ev.id}"
        label = ev.name or ev.id
        if isinstance(ev, ExportControl):
            targets = _select_links(net, ev)
            if ev.schedule and ev.stochastic is None:
                plans.extend(_schedule_plans(net, ev, targets, streams.R, label))
                continue
            s, e, sev, det = _occurrences(ev, net, streams, comp, ev.blocked)
            plans.append(EventPlan(ev.id, ev.type, "link_open", targets, s, e, 1.0 - np.clip(sev, 0, 1), label=label, deterministic=det))
        elif isinstance(ev, Outage):
            s, e, sev, det = _occurrences(ev, net, streams, comp, ev.capacity_lost)
            plans.append(EventPlan(ev.id, ev.type, "capacity_factor", _select_producers(net, ev), s, e, 1.0 - np.clip(sev, 0, 1), label=label, deterministic=det))
        elif isinstance(ev, Logistics):
            s, e, sev, det = _occurrences(ev, net, streams, comp, ev.extra_lead_days)
            plans.append(EventPlan(ev.id, ev.type, "extra_lead_days", _select_links(net, ev), s, e, np.maximum(sev, 0), label=label, deterministic=det))
        elif isinstance(ev, DemandShock):
            s, e, sev, det = _occurrences(ev, net, streams, comp, ev.factor)
            plans.append(EventPlan(ev.id, ev.type, "demand_factor", _select_demand(net, ev), s, e, np.maximum(sev, 0), label=label, deterministic=det))
        elif isinstance(ev, Commission):
            s, e, _, det = _occurrences(ev, net, streams, comp, 0.0)
            f = net.producers.index(ev.facility)
            amount = ev.capacity * net.step_days / 365.0
            plans.append(EventPlan(ev.id, ev.type, "added_capacity", np.array([f]), s, e, np.full(s.shape, amount), ramp_steps=ev.ramp_days / net.step_days, label=label, deterministic=det))
        elif isinstance(ev, PolicyEvent):
            s, e, _, det = _occurrences(ev, net, streams, comp, 0.0)
            sw = ev.set.model_dump(exclude_none=True)
            if "reroute_after_days" in ev.set.model_fields_set:
                sw["reroute_after_days"] = ev.set.reroute_after_days
            scope = None if ev.regions is None else np.flatnonzero(np.isin(
                np.asarray(net.link_dst_region), [net.regions.index(r) for r in ev.regions])).astype(np.int64)
            plans.append(EventPlan(ev.id, ev.type, "policy", np.zeros(0, dtype=np.int64), s, e, np.zeros(s.shape),
                                   label=label, deterministic=det, switches=sw, scope=scope))
    for f, fid in enumerate(net.producers):
        fac = sc.facilities.get(fid)
        if fac is None or fac.outages is None or fac.outages.rate_per_year <= 0:
            continue
        from .scenario.models import Stochastic

        pseudo = Outage(
            id=f"outages-{fid}",
            type="outage",
            facilities=[fid],
            capacity_lost=fac.outages.capacity_lost,
            stochastic=Stochastic(rate_per_year=fac.outages.rate_per_year, duration_days=fac.outages.duration_days),
        )
        s, e, sev, _ = _occurrences(pseudo, net, streams, f"outage:{fid}", fac.outages.capacity_lost)
        plans.append(EventPlan(pseudo.id, "outage", "capacity_factor", np.array([f]), s, e, 1.0 - np.clip(sev, 0, 1), label=f"{fid} outages", deterministic=False))
    return plans


def _schedule_plans(net: Network, ev: ExportControl, targets: I64, R: int, label: str) -> list[EventPlan]:
    """An export control whose blocked fraction follows a schedule: one occurrence per step."""
    T = net.n_steps
    s0 = _step(net, ev.start)
    e_all = T if ev.end is None else _step(net, ev.end)
    if ev.duration_days is not None:
        e_all = s0 + math.ceil(ev.duration_days / net.step_days)
    points = [(s0, float(sample(ev.blocked, np.zeros(1), np.zeros(1))[0]))]
    for st in sorted(ev.schedule, key=lambda x: x.start):
        points.append((max(s0, _step(net, st.start)), st.blocked))
    starts, ends, vals = [], [], []
    for k, (s, b) in enumerate(points):
        e = points[k + 1][0] if k + 1 < len(points) else e_all
        e = min(e, e_all)
        if e > s:
            starts.append(s)
            ends.append(e)
            vals.append(1.0 - b)
    K = max(1, len(starts))
    if not starts:
        starts, ends, vals = [T + 10**6], [T + 10**6], [1.0]
    return [
        EventPlan(
            ev.id, ev.type, "link_open", targets,
            np.tile(np.array(starts, dtype=np.int64), (R, 1)).reshape(R, K),
            np.tile(np.array(ends, dtype=np.int64), (R, 1)).reshape(R, K),
            np.tile(np.array(vals, dtype=float), (R, 1)).reshape(R, K),
            label=label,
        )
    ]


#: event types that count as disruptions (the default reference event of TTS and TTR)
DISRUPTIONS = ("export_control", "outage", "logistics")


def reference_steps(net: Network, plans: list[EventPlan], R: int) -> tuple[np.ndarray, str | None]:
    """Per-replicate step of the reference event's start (-1 where none) and its id."""
    sc = net.scenario
    ref = sc.report.reference_event
    if ref is None:
        det = [p for p in plans if p.deterministic and p.type in DISRUPTIONS]
        if det:
            first = min(det, key=lambda p: int(p.start.min()))
            ref = first.id
    if ref is not None:
        # an event dated after the horizon never happens: no reference step (-1), as for stochastic ones below
        mine = [p for p in plans if p.id == ref]
        if mine:
            s0 = mine[0].start.min(axis=1).astype(np.int64)
            return np.where(s0 < net.n_steps, s0, -1), ref
        ev = next(e for e in sc.events if e.id == ref)
        if ev.start is not None:
            s = sc.horizon.step_of(ev.start)
            return np.full(R, s if s < net.n_steps else -1, dtype=np.int64), ref
    stoch = [p for p in plans if not p.deterministic and p.type in DISRUPTIONS]
    if not stoch:
        return np.full(R, -1, dtype=np.int64), None
    first = np.min(np.stack([p.start.min(axis=1) for p in stoch]), axis=0)
    return np.where(first < net.n_steps, first, -1).astype(np.int64), None
