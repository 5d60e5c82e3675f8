"""The engine: one SimPy Environment is the clock and calendar, numpy does the work.

Event processes (``events.event_process``) edit the factor arrays at integer
times; the clock process ticks at half steps (t + 0.5), so by the time step t
runs, every event due at or before t has fired (docs/step-semantics.md).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from . import kernels as K
from .events import Board, EventPlan, compile_events, event_process
from .exceptions import ResourceError
from .metrics import MarketTracker, SeriesQuantiles, check_invariants
from .network import Network
from .rng import Streams

F64 = npt.NDArray[np.float64]
NOISE_BLOCK = 16  #: steps of demand noise drawn at once (fixed: part of the stream layout)
DISRUPTIONS = ("export_control", "outage", "logistics")


@dataclass(frozen=True)
class Result:
    """Outcome of a run: per-replicate totals and quantile time series (immutable).

    Per-replicate arrays have the replicate as leading axis R.
    """

    scenario: str
    seed: int
    replications: int
    r0: int
    n_steps: int
    step_days: int
    markets: tuple[str, ...]
    producers: tuple[str, ...]
    products: tuple[str, ...]
    links: tuple[str, ...]
    demand_t: F64  #: demand over the horizon [t] [R, M]
    served_t: F64  #: demand met on the day it arose [t] [R, M]
    max_shortfall: F64  #: max over steps of 1 - daily fill [-] [R, M]
    tts_days: F64  #: time to survive [d] [R, M] (NaN: no reference event)
    tts_censored: npt.NDArray[np.bool_]  #: [R, M]
    ttr_days: F64  #: time to recover [d] [R, M]
    ttr_censored: npt.NDArray[np.bool_]  #: [R, M]
    window_fill: dict[str, F64]  #: fill rate inside each deterministic event window [R, M]
    output_t: F64  #: facility output [t] [R, F]
    capacity_used: F64  #: activity / capacity available [-] [R, F]
    surplus_t: F64  #: co-product surplus [t] [R, P]
    spend_usd: F64  #: procurement spend by link [USD] [R, E]
    series_times: tuple[int, ...]  #: day (since start) at the end of each interval
    series: dict[str, F64]  #: name -> [n_intervals, K, 4] (p5, p50, p95, mean)
    event_windows: tuple[tuple[str, str, int, int], ...]  #: (id, label, start day, end day)
    reference_event: str | None
    mass_balance_error: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def fill_rate(self) -> F64:
        """Fill rate per replicate and market [-] [R, M] (1 where no demand)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.demand_t > 0, self.served_t / np.where(self.demand_t > 0, self.demand_t, 1), 1.0)

    @property
    def unmet_t(self) -> F64:
        """Demand not met on the day it arose [t] [R, M]."""
        return np.maximum(0.0, self.demand_t - self.served_t)

    @property
    def lost_days(self) -> F64:
        """Unmet demand in days of mean daily demand [d] [R, M]."""
        days = self.n_steps * self.step_days
        mean = self.demand_t / days
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, self.unmet_t / np.where(mean > 0, mean, 1), 0.0)


def estimate_memory(net: Network, R: int) -> int:
    """Bytes the run's state and metrics need (an upper estimate)."""
    s = net.sizes
    W = int(net.lead_steps.max()) + 2 if len(net.lead_steps) else 2
    per_rep = (
        s["H"] * 8 + s["E"] * (6 + W) + s["D"] * (6 + NOISE_BLOCK) + s["F"] * 8
        + s["M"] * (16 + 2 * math.ceil(30 / net.step_days)) + s["P"] * 8
    )
    return int(8 * R * per_rep * 1.5)


def available_memory() -> int:
    """Physical memory available to this process [bytes] (best effort)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


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
        mine = [p for p in plans if p.id == ref]
        if mine:
            return mine[0].start.min(axis=1).astype(np.int64), ref
        ev = next(e for e in sc.events if e.id == ref)
        if ev.start is not None:
            s = (ev.start - sc.horizon.start).days // net.step_days
            return np.full(R, s, dtype=np.int64), ref
    stoch = [p for p in plans if not p.deterministic and p.type in DISRUPTIONS]
    if not stoch:
        return np.full(R, -1, dtype=np.int64), None
    first = np.min(np.stack([p.start.min(axis=1) for p in stoch]), axis=0)
    return np.where(first < net.n_steps, first, -1).astype(np.int64), None


def simulate(
    net: Network,
    replications: int,
    seed: int,
    r0: int = 0,
    checks: str = "error",
    observer: Callable[[int, dict[str, Any]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    noise: bool = True,
    max_memory: int | None = None,
) -> Result:
    """Run replicates ``r0 .. r0+replications-1`` of a compiled network.

    Parameters
    ----------
    net : Network
    replications : number of replicates R in this chunk.
    seed : root seed.
    r0 : index of the first replicate (chunks of one run share the seed).
    checks : ``error``, ``warn`` or ``off`` for the invariant checks.
    observer : called after every step with the state (tests, oracle comparison).
    progress : called with (steps done, total steps).
    noise : demand noise on (off for differential tests).
    max_memory : refuse runs whose estimate exceeds this [bytes] (default: available memory).

    Raises
    ------
    ResourceError
        When the run would not fit in memory.
    InvariantError
        When ``checks='error'`` and an invariant breaks.
    """
    t_start = time.perf_counter()
    R = int(replications)
    need = estimate_memory(net, R)
    limit = max_memory if max_memory is not None else int(available_memory() * 0.8)
    if need > limit:
        per = max(1, need // R)
        raise ResourceError(
            f"{R} replicates need about {need / 1e9:.2f} GB, more than the {limit / 1e9:.2f} GB available; "
            f"use -n {max(1, limit // per)} or fewer (about {per / 1e6:.2f} MB per replicate)"
        )
    sc = net.scenario
    T, step = net.n_steps, net.step_days
    sz = net.sizes
    H, E, D, Fn, M, P = sz["H"], sz["E"], sz["D"], sz["F"], sz["M"], sz["P"]
    interval = max(1, math.ceil(sc.report.interval_days / step))
    streams = Streams(seed, r0, R)
    plans = compile_events(net, streams)
    board = Board(R, {"capacity_factor": Fn, "added_capacity": Fn, "link_open": E, "extra_lead_days": E, "demand_factor": D}, plans)
    plan = K.build_plan(net)

    extra_max = sum(float(np.max(p.value)) for p in plans if p.array == "extra_lead_days" and p.value.size)
    W = (int(net.lead_steps.max()) if E else 1) + math.ceil(extra_max / step) + 2
    on_hand = np.zeros((R, H))
    backlog = np.zeros((R, E))
    ref_flow = np.zeros((R, E))
    quota = np.full((R, E), np.inf)
    in_transit = np.zeros((R, E))
    pipe = np.zeros((R, E, W))
    backorder = np.zeros((R, D))
    exp_use = np.zeros((R, H))
    fg_target = np.zeros((R, H))
    order_up_to = np.zeros((R, H))
    noise_buf = np.zeros((R, D, NOISE_BLOCK))
    noisy = [d for d in range(D) if net.dem_noise_cv[d] > 0] if noise else []
    noise_names = [f"demand:{net.markets[net.dem_market[d]]}:{net.products[net.hold_product[net.dem_hold[d]]]}" for d in range(D)]

    def refresh(t: int) -> None:
        mult = net.growth_factor(t * step)[None, :] * board.arrays["demand_factor"]
        exp_use[...] = mult @ net.nominal_use.T
        ref_flow[...] = (mult @ net.nominal_link.T) * step
        fg_target[...] = net.fg_days * exp_use
        order_up_to[...] = net.cover_days * exp_use + net.pile_target

    refresh(0)
    kind = net.hold_kind
    on_hand[:, kind == 0] = (net.initial_days * exp_use)[:, kind == 0]
    on_hand[:, kind == 3] = (net.initial_days * exp_use)[:, kind == 3]
    on_hand[:, kind == 1] = fg_target[:, kind == 1]
    on_hand[:, kind == 4] = net.pile_initial[kind == 4]
    stock0 = on_hand @ plan.hold_prod
    flows = np.zeros((R, P))

    ref_step, ref_id = reference_steps(net, plans, R)
    tracker = MarketTracker(R, M, step, ref_step, max(1, math.ceil(30 / step)))
    windows = [(p.id, p.label, int(p.start[0, 0]), int(p.end[0, 0])) for p in plans
               if p.deterministic and p.type != "commission" and p.start.size and p.start[0, 0] < T]
    win_acc = {w[0]: np.zeros((R, M, 2)) for w in windows}
    fill_series, cover_series = SeriesQuantiles(), SeriesQuantiles()
    series_times: list[int] = []
    output_t = np.zeros((R, Fn))
    cap_avail = np.zeros((R, Fn))
    act_sum = np.zeros((R, Fn))
    surplus_t = np.zeros((R, P))
    spend = np.zeros((R, E))
    out_per_act = np.zeros(Fn)
    np.add.at(out_per_act, net.out_fac, net.out_coef)
    worst = 0.0
    lead_re: np.ndarray | None = None
    setup_s = time.perf_counter() - t_start

    def step_fn(t: int) -> None:
        nonlocal worst, lead_re
        if t % interval == 0 and t > 0:
            refresh(t)
            board.changed = True
        if board.changed:
            lo = board.arrays["link_open"]
            quota[...] = np.where(lo >= 1.0, np.inf, lo * ref_flow)
            xl = board.arrays["extra_lead_days"]
            lead_re = None if not xl.any() else np.maximum(
                1, np.ceil((net.lead_days[None, :] + xl) / step - 1e-12)).astype(np.int64)
            board.changed = False
        K.arrive(on_hand, in_transit, pipe, t % W, plan)
        capacity = (net.cap_per_step * K.ramp_factor(t, net.online_step, net.ramp_steps)
                    + board.arrays["added_capacity"]) * board.arrays["capacity_factor"]
        activity, made, used, extra, _ = K.produce(on_hand, backlog, fg_target, capacity, net, plan)
        shipped = K.ship(on_hand, backlog, quota, net, plan)
        K.dispatch(pipe, in_transit, shipped, t, net.lead_steps, lead_re)
        if noisy and t % NOISE_BLOCK == 0:
            for d in noisy:
                noise_buf[:, d, :] = streams.normals(noise_names[d], NOISE_BLOCK, block=t // NOISE_BLOCK)
        demand = net.dem_rate * net.growth_factor(t * step) * board.arrays["demand_factor"]
        if noisy:
            demand = demand * np.maximum(0.0, 1.0 + net.dem_noise_cv * noise_buf[:, :, t % NOISE_BLOCK])
        served, consumed = K.consume(on_hand, backorder, demand, net)
        K.order(on_hand, backlog, in_transit, backorder, order_up_to, plan.wnorm, net)
        # record
        flows[...] += made - used - consumed @ plan.dem_prod - extra
        served_m = np.add.reduceat(served, net.mkt_starts, axis=1)
        demand_m = np.add.reduceat(demand, net.mkt_starts, axis=1)
        tracker.update(t, served_m, demand_m)
        for wid, _, s, e in windows:
            if s <= t < e:
                win_acc[wid][:, :, 0] += served_m
                win_acc[wid][:, :, 1] += demand_m
        output_t[...] += activity * out_per_act
        act_sum[...] += activity
        cap_avail[...] += capacity
        surplus_t[...] += extra
        spend[...] += shipped * net.price
        if (t + 1) % interval == 0 or t == T - 1:
            fill_series.add(tracker.take_interval())
            with np.errstate(divide="ignore", invalid="ignore"):
                cov = np.where(exp_use[:, net.dem_hold] > 0, on_hand[:, net.dem_hold] / np.where(exp_use[:, net.dem_hold] > 0, exp_use[:, net.dem_hold], 1), 0.0)
            cover_series.add(cov)
            series_times.append(min((t + 1) * step, sc.horizon.days))
            if checks != "off":
                stock = on_hand @ plan.hold_prod + in_transit @ plan.link_prod
                worst = max(worst, check_invariants(t, on_hand, backlog, in_transit, backorder, stock, stock0, flows, net.products, r0, checks))
        if observer is not None:
            observer(t, {"on_hand": on_hand, "backlog": backlog, "in_transit": in_transit, "backorder": backorder,
                         "demand": demand, "served": served, "activity": activity, "shipped": shipped,
                         "surplus": extra, "produced": made, "used": used, "consumed": consumed @ plan.dem_prod})
        if progress is not None:
            progress(t + 1, T)

    def clock(env: simpy.Environment) -> Any:
        yield env.timeout(0.5)
        for t in range(T):
            step_fn(t)
            yield env.timeout(1)

    env = simpy.Environment()
    for i in range(len(plans)):
        env.process(event_process(env, board, i, T))
    env.process(clock(env))
    t_sim = time.perf_counter()
    env.run(until=T + 1)
    sim_s = time.perf_counter() - t_sim
    res = tracker.resilience(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap_avail > 0, act_sum / np.where(cap_avail > 0, cap_avail, 1), 0.0)
        wfill = {w: np.where(a[:, :, 1] > 0, a[:, :, 0] / np.where(a[:, :, 1] > 0, a[:, :, 1], 1), 1.0) for w, a in win_acc.items()}
    return Result(
        scenario=sc.name, seed=seed, replications=R, r0=r0, n_steps=T, step_days=step,
        markets=net.markets, producers=net.producers, products=net.products, links=net.links,
        demand_t=tracker.demand, served_t=tracker.served, max_shortfall=tracker.max_shortfall,
        tts_days=res["tts"], tts_censored=res["tts_censored"], ttr_days=res["ttr"], ttr_censored=res["ttr_censored"],
        window_fill=wfill, output_t=output_t, capacity_used=util, surplus_t=surplus_t, spend_usd=spend,
        series_times=tuple(series_times),
        series={"fill": fill_series.array(), "market_cover_days": cover_series.array()},
        event_windows=tuple((w[0], w[1], w[2] * step, min(w[3], T) * step) for w in windows),
        reference_event=ref_id, mass_balance_error=worst,
        timings={"setup_s": setup_s, "simulate_s": sim_s, "steps": T, "node_replicate_days": float(R * T * step * (Fn + M + len(net.stockpiles)))},
    )
