"""The engine: one SimPy Environment is the clock and calendar, numpy does the work.

Event processes (``events.event_process``) edit the factor arrays at integer
times; the clock process ticks at half steps (t + 0.5), so by the time step t
runs, every event due at or before t has fired (docs/step-semantics.md).

With the compiled step (numba backend) the clock hands the kernel batches of up
to MAX_BATCH steps: it advances the calendar step by step through a batch,
keeping the capacity and added capacity of each step, and calls the kernel once
at the end. A batch ends wherever something outside the kernel acts on the next
step: a reporting interval's end, an event on anything but capacity (outages
and commissions act inside batches), a commission that changes which plants not
yet online take orders, a plant coming online, an event window's start or end,
and the shortest recycling lifetime. Inside the kernel a chunk of replicates runs all steps of the batch
before the next chunk starts, so its state stays in cache; replicates never
interact within a step, so the results equal one call per step (tests/test_batches.py).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from . import diversify as V
from . import kernels as K
from .events import Board, compile_events, event_process, extra_lead_steps, reference_steps
from .exceptions import InvariantError, UsageError
from .fused_args import MAX_BATCH, fused_args
from .memory import available_memory, check_memory, estimate_memory
from .metrics import MarketTracker
from .network import Network
from .noise import DemandNoise
from .records import IntervalRecords, row_parts, side_by_side
from .result import Result
from .rng import Streams
from .state import State
from .tracing import Tracer, traced_replicates

F64 = npt.NDArray[np.float64]
#: factor arrays whose changes a batch takes step by step (they only enter the step through its capacity)
IN_BATCH = ("added_capacity", "capacity_factor")


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
    keep_series_values: bool = False,
    steps: int | None = None,
    threads: int | None = None,
    series_sink: dict[str, F64] | None = None,
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
    keep_series_values : keep each interval's per-replicate values of the time series
        (``Result.series_values``), so that chunks of a run merge their quantiles exactly.
    steps : simulate only the first ``steps`` steps of the horizon (benchmarks).
    threads : threads of the compiled step (default: one per core from 64 replicates,
        ``_numba_step.threads_for``); the chunks of a pool run with 1.
    series_sink : arrays ``[n_intervals, rows, K]`` by series name to write each interval's per-replicate
        values into (a pool's worker writes them straight into files the main process reads, see
        ``chunks.SeriesStore``); ``Result.series_values`` is then None.

    Raises
    ------
    ResourceError
        When the run would not fit in memory.
    InvariantError
        When ``checks='error'`` and an invariant breaks.
    """
    t_start = time.perf_counter()
    R = int(replications)
    if checks not in ("error", "warn", "off"):  # anything else would skip the checks without a word
        raise UsageError(f"checks={checks!r}: allowed: error, warn, off")
    limit = max_memory if max_memory is not None else int(available_memory() * 0.8)
    check_memory(estimate_memory(net, R), R, limit)  # before the events draw their occurrences for R replicates
    sc = net.scenario
    T, step = net.n_steps if steps is None else max(1, min(net.n_steps, int(steps))), net.step_days
    sz = net.sizes
    H, E, D, Fn, M, P, S = sz["H"], sz["E"], sz["D"], sz["F"], sz["M"], sz["P"], sz["S"]
    interval = max(1, math.ceil(sc.report.interval_days / step))
    streams = Streams(seed, r0, R)
    plans = compile_events(net, streams)
    extra_steps = extra_lead_steps(plans, E, step)  # the arrival ring's extra rows per link
    if extra_steps.any():
        check_memory(estimate_memory(net, R, int(extra_steps.sum())), R, limit)
    sizes = {"capacity_factor": Fn, "added_capacity": Fn, "link_open": E, "extra_lead_days": E, "demand_factor": D}
    board = Board(R, sizes, plans, sc.policies, step)
    mech = V.compile_mechanics(net)
    Q = len(mech.ch_pile)
    plan = K.build_plan(net, extra_steps)
    fused = K.compiled()  # the whole-step kernel (numba backend), or None: the numpy kernels
    fast_noise = None
    if fused is not None:  # demand noise through the compiled generator and transform (the same numbers)
        from . import _numba_noise as fast_noise
    st = State.allocate(net, R, plan.ring_rows, Q, ring_chunk=None if fused is None else fused.CHUNK)
    Rt = traced_replicates(sc.report.trace_replicates, r0, R)
    tracer = Tracer(net, Rt) if sc.report.trace_stages else None
    tr = slice(0, Rt)  # the traced replicates of this chunk
    scrap = V.ScrapRing(R, mech) if len(mech.rec_producer) else None
    dnoise = DemandNoise(net, streams, noise, fast_noise)

    # contiguous transposes: a matmul with a transposed view is ~100x slower on some BLAS builds
    use_t = np.ascontiguousarray(net.nominal_use.T)
    # export quotas are shares of the nominal link flows in force (plants not on line yet carry none)
    quota_t = [np.ascontiguousarray(f.T) for f in net.quota_flows]

    piles = V.PileSetUp(net, T)  # stockpiles set up during the run

    # the compiled step's threads, once started: the interval's targets and records are split over them too
    # (records.side_by_side), as one core would otherwise idle through them
    threads_of: list[ThreadPoolExecutor | None] = [None]

    def refresh(t: int) -> None:
        growth = net.growth_factor(t * step)

        def rows(sl: slice) -> None:
            sub = V.substituted_share(t, st.adopt_at[sl], mech)
            mult = growth[None, :] * board.arrays["demand_factor"][sl] * (1.0 - sub)
            st.exp_use[sl] = mult @ use_t
            st.fg_target[sl] = net.fg_days * st.exp_use[sl]
            st.order_up_to[sl] = net.cover_days * st.exp_use[sl] + piles.target

        side_by_side(threads_of[0], *(functools.partial(rows, sl) for sl in row_parts(R, threads_of[0])))
        # export-control quotas are a share of *normal* flows: the demand trend, not a replicate's demand
        # shocks or substitution (a licence does not shrink because the importer substitutes)
        v = int(np.searchsorted(net.quota_flow_steps, t, side="right")) - 1
        st.ref_flow[...] = (growth @ quota_t[v]) * step

    refresh(0)
    kind = net.hold_kind
    for k in (0, 3):
        st.on_hand[:, kind == k] = (net.initial_days * st.exp_use)[:, kind == k]
    st.on_hand[:, kind == 1] = st.fg_target[:, kind == 1]
    st.on_hand[:, kind == 4] = piles.initial[kind == 4]
    stock0 = st.on_hand @ plan.hold_prod
    flows = np.zeros((R, P))

    def set_up_piles(t: int) -> None:  # before the step's arrivals
        piles.apply(t, st.on_hand, st.order_up_to, st.exp_use, flows)

    ref_step, ref_id = reference_steps(net, plans, R)
    tracker = MarketTracker(R, M, step, ref_step, max(1, math.ceil(30 / step)))
    # an event's window runs from its first occurrence's start to its last one's end (a schedule is one
    # occurrence per level, back to back)
    windows = [(p.id, p.label, int(p.start[0].min()), int(p.end[0].max())) for p in plans
               if p.deterministic and p.type not in ("commission", "policy") and p.start.size and p.start[0, 0] < T]
    win_all = np.zeros((len(windows), R, M, 2))  # event-window sums of served and demand, one block per window
    win_acc = {w[0]: win_all[i] for i, w in enumerate(windows)}
    dep_int = np.zeros((Rt, M, tracer.C if tracer is not None else 0))
    records = IntervalRecords(net, mech, plan, st, tracker, tracer, dep_int, flows, stock0, keep_series_values,
                              series_sink, checks, r0)
    acc = {name: np.zeros(shape) for name, shape in (
        ("output_t", (R, Fn)), ("cap_avail", (R, Fn)), ("act_sum", (R, Fn)), ("surplus_t", (R, P)),
        ("shipped_t", (R, E)), ("released_h", (R, len(mech.pile_holdings))), ("holding_cost", (R, S)),
        ("substituted_t", (R, M)), ("collected_t", (R, P)))}
    out_per_act = np.zeros(Fn)
    np.add.at(out_per_act, net.out_fac, net.out_coef)
    pile_of_q = mech.ch_holding  # releases are counted per stockpile holding, then summed per stockpile
    scrap_prod = np.zeros((len(mech.rec_producer), P))
    scrap_prod[np.arange(len(mech.rec_producer)), np.asarray(net.hold_product)[mech.rec_scrap_hold]] = 1.0
    lead_re: np.ndarray | None = None
    trig_event: list[Any] = [None]
    kinds = np.asarray(net.hold_kind)
    link_fac = np.where(kinds[np.asarray(net.link_src)] == 1, np.asarray(net.hold_owner)[np.asarray(net.link_src)], -1)
    last_offline = float(np.max(net.online_step)) if len(net.online_step) else 0.0
    static_shares = K.position_shares(plan.wnorm, net.lead_steps, plan)
    # capacity before events: changes only while some producer is not yet fully ramped up
    fin = np.isfinite(net.online_step) & (net.online_step < T)  # a plant online after the horizon never ramps
    ramp_end = float(np.max(net.online_step[fin] + net.ramp_steps[fin])) if fin.any() else 0.0
    base_cap = [net.cap_per_step * K.ramp_factor(math.ceil(ramp_end), net.online_step, net.ramp_steps)]
    step_pool: ThreadPoolExecutor | None = None
    if fused is None:  # buffers of the numpy kernels
        scr = K.Scratch(net, R)
        before_out = np.zeros((R, len(net.out_hold)))
        no_sub = np.zeros((R, D))
    else:
        threads = fused.blocks(R, fused.threads_for(R) if threads is None else threads)  # a thread per block
        # the step's threads live as long as this run: none is left behind (a fork after the run, e.g.
        # of the report's figure workers, then copies no idle thread)
        step_pool = ThreadPoolExecutor(threads, thread_name_prefix="reesim-step") if threads > 1 else None
        threads_of[0] = step_pool
        kernel = functools.partial(fused.step, pool=step_pool, threads=threads)
        if step_pool is not None:
            dnoise.split(step_pool, threads, T)
        fused_args_, scr_f = fused_args(net, R, observer is not None, st, plan, mech, tracer, tracker,
                                        acc, flows, dep_int, ref_step, out_per_act, link_fac, static_shares)
    setup_s = time.perf_counter() - t_start

    def begin_step(t: int) -> bool:
        """Refresh targets at the interval and quotas/lead times after events; True when anything changed."""
        nonlocal lead_re
        if t % interval == 0:  # also at t = 0: after the events in force from the start (a demand shock)
            refresh(t)
            board.changed = True
        if not board.changed:
            return False
        lo = board.arrays["link_open"]
        st.quota[...] = np.where(lo >= 1.0, np.inf, lo * st.ref_flow)
        xl = board.arrays["extra_lead_days"]
        lead_re = None if not xl.any() else np.maximum(
            1, np.ceil((net.lead_days[None, :] + xl) / step - 1e-12)).astype(np.int64)
        if lead_re is not None and (lead_re >= plan.ring_len).any():  # both kernels rely on lead < ring length
            raise InvariantError(f"step {t}: a lead time outruns its link's arrival ring, which is sized from the "
                                 "events' extra lead days (a bug: please report it with the scenario)")
        board.changed = False
        return True

    def capacity_at(t: int) -> F64:
        """Activity available at step t [R, F]: ramp-up, added capacity, events, recycling policy."""
        capacity = ((net.cap_per_step * K.ramp_factor(t, net.online_step, net.ramp_steps) if t < ramp_end
                     else base_cap[0])
                    + board.arrays["added_capacity"]) * board.arrays["capacity_factor"]
        if len(mech.rec_producer):
            capacity[:, mech.rec_producer] *= board.policy["recycling"][:, None]
        return capacity

    def release_block() -> F64:
        """1 on stockpile holdings with a release channel in force, per replicate [R, H]."""
        block = np.zeros((R, H))
        for j, h in enumerate(mech.pile_holdings):
            chs = mech.pile_channels[j]
            if len(chs):
                block[:, h] = st.triggered[:, chs].any(axis=1)
        return block

    def step_fn(t: int) -> None:
        set_up_piles(t)
        begin_step(t)
        pol = board.policy
        # 2. arrive (and scrap)
        arrived = K.arrive(st.on_hand, st.in_transit, st.pipe, t, plan, scr)
        if tracer is not None:
            tracer.arrive(st.on_hand[tr], arrived[tr], plan.by_dst)
        collected = np.zeros((R, P))
        if scrap is not None:
            got = scrap.take(t)
            st.on_hand[:, mech.rec_scrap_hold] += got
            collected = got @ scrap_prod
        # 3. produce
        capacity = capacity_at(t)
        if tracer is not None:
            np.take(st.on_hand, net.out_hold, axis=1, out=before_out)
        activity, made, used, extra, _ = K.produce(st.on_hand, st.backlog, st.fg_target, capacity, net, plan, scr)
        if tracer is not None:
            tracer.produce(before_out[tr], used[tr], made[tr])
        # 4. release, ship
        released = np.zeros((R, Q))
        if Q:
            recv_before = st.on_hand[:, mech.ch_recv].copy()
            released = V.release(st.on_hand, st.exp_use, st.triggered, pol["stockpile_release"], mech)
            if tracer is not None:
                tracer.release(recv_before[tr], mech.ch_recv, released[tr], mech.ch_pile)
        shipped = K.ship(st.on_hand, st.backlog, st.quota, net, plan, scr)
        if tracer is not None:
            tracer.ship(st.in_transit[tr], shipped[tr])  # in transit before this step's shipments (dispatch adds them)
        K.dispatch(st.pipe, st.in_transit, shipped, t, net.lead_steps, lead_re, plan)
        # 5. consume
        dnoise.draw(t)
        raw = net.dem_rate * net.growth_factor(t * step) * board.arrays["demand_factor"]
        if dnoise.noisy:
            raw = raw * np.maximum(0.0, 1.0 + net.dem_noise_cv * dnoise.at(t))
        adopted = not np.isinf(st.adopt_at).all()
        sub = V.substituted_share(t, st.adopt_at, mech) if adopted else no_sub
        demand = raw * (1.0 - sub)
        served, consumed = K.consume(st.on_hand, st.backorder, demand, net)
        if tracer is not None:
            tracer.consume(consumed[tr], also=dep_int)
        if scrap is not None:
            scrap.add(t, consumed)
        V.substitution_update(t, served, demand, st.short_run, st.adopt_at, pol["substitution"], step, mech)
        if Q:
            new = V.triggers(st.on_hand, st.exp_use, mech, released)
            if not np.array_equal(new, st.triggered) and trig_event[0] is not None:
                trig_event[0].succeed(new)
        # 6. order (re-routing; stockpiles refill only while not releasing)
        offline = None
        if t < last_offline:  # a supplier not online yet gets no orders (docs/step-semantics.md)
            off_f = (t < net.online_step)[None, :] & (board.arrays["added_capacity"] <= 0.0)
            offline = np.where(link_fac >= 0, off_f[:, np.maximum(link_fac, 0)], False)
        rer = V.reroute(st.closed_for, board.arrays["link_open"], sc.policies.closed_below,
                        pol["reroute_steps"], plan.wnorm, st.backlog, plan.by_dst, offline)
        if rer is None:
            weights, shares = np.broadcast_to(plan.wnorm, (R, E)), static_shares
        else:
            weights, shares = rer, K.position_shares(rer, net.lead_steps, plan)
        if Q and st.triggered.any():
            shares = shares * (1.0 - release_block()[:, net.link_dst])
        K.order(st.on_hand, st.backlog, st.in_transit, st.backorder, st.order_up_to, shares, net, plan, scr)
        # 8. record
        consumed_p = consumed @ plan.dem_prod
        flows[...] += made @ plan.out_prod - used @ plan.in_prod - consumed_p - extra @ plan.out_prod + collected
        served_m = np.add.reduceat(served, net.mkt_starts, axis=1)
        demand_m = np.add.reduceat(demand, net.mkt_starts, axis=1)
        tracker.update(t, served_m, demand_m)
        for wid, _, s0, e0 in windows:
            if s0 <= t < e0:
                win_acc[wid][:, :, 0] += served_m
                win_acc[wid][:, :, 1] += demand_m
        acc["output_t"] += activity * out_per_act
        acc["act_sum"] += activity
        acc["cap_avail"] += capacity
        acc["surplus_t"] += extra @ plan.out_prod
        acc["shipped_t"] += shipped
        acc["collected_t"] += collected
        acc["substituted_t"] += np.add.reduceat(raw * sub, net.mkt_starts, axis=1)
        if S:
            np.add.at(acc["released_h"], (slice(None), pile_of_q), released)
            pile_h = mech.pile_holdings
            np.add.at(acc["holding_cost"], (slice(None), mech.pile_of_holding),
                      st.on_hand[:, pile_h] * mech.pile_cost_step[pile_h])
        if (t + 1) % interval == 0 or t == T - 1:
            records.record(t, threads_of[0])
        if observer is not None:
            observer(t, {"on_hand": st.on_hand, "backlog": st.backlog, "in_transit": st.in_transit,
                         "backorder": st.backorder, "demand": demand, "served": served, "activity": activity,
                         "shipped": shipped, "surplus": extra @ plan.out_prod, "produced": made @ plan.out_prod,
                         "used": used @ plan.in_prod, "consumed": consumed_p, "released": released,
                         "collected": collected, "weights": weights, "triggered": st.triggered,
                         "substituted": raw * sub, "stocked": np.broadcast_to(piles.stocked, (R, P)),
                         "tags": None if tracer is None else tracer.full_tags()})
        if progress is not None:
            progress(t + 1, T)

    # the compiled step's batches (run_batch): per-step tables and rings
    cap_now: list[Any] = [None]
    n_rec = len(mech.rec_producer)
    no_got, no_coll = np.zeros((1, R, 0)), np.zeros((1, R, 0))
    no_lead = np.zeros((1, max(E, 1)), dtype=np.int64)
    blockrow = np.zeros((R if observer is not None else min(R, fused.BLOCKS), H)) if fused is not None else None
    cons_k = np.zeros((MAX_BATCH if scrap is not None else 0, R if scrap is not None else 0, D))
    # each block of replicates keeps the order shares it last worked out for re-routed links, with the
    # version of the links left out in every replicate (base_w) and of the closing links they are for
    nbk = 0 if fused is None else fused.BLOCKS
    rr_cache = (np.zeros(nbk, dtype=np.bool_), np.zeros(nbk, dtype=np.int64), *(np.zeros((nbk, E)) for _ in range(4)))
    rr_base: dict[str, Any] = {"key": None, "version": 0, "w": np.array(plan.wnorm)}
    # batches stay within the shortest recycling lifetime (scrap arriving in a batch comes from before it)
    lifetimes = [int(x) for lts in mech.rec_lifetimes for x in lts] if n_rec else []
    scrap_life = max(1, min(lifetimes)) if lifetimes else MAX_BATCH
    # steps where an event changes something other than capacity, plants come online (order shares
    # change), event windows open or close and stockpiles are set up (their stock arrives between batches)
    stops = np.unique(np.concatenate([np.ceil(net.online_step[np.isfinite(net.online_step)]),
                                      [math.ceil(last_offline)] if np.isfinite(last_offline) else [],
                                      [w[2] for w in windows], [w[3] for w in windows], list(piles.steps),
                                      *[list(p.change_steps(T)) for p in plans if p.array not in IN_BATCH]])
                      ).astype(np.int64)

    pattern: dict[str, Any] = {"uniform": True, "key": None, "off": np.zeros(E, dtype=np.bool_), "any": False,
                               "w": np.array(plan.wnorm), "shares": np.array(np.reshape(static_shares, -1))}
    closed_below = float(sc.policies.closed_below)
    sparse = {k: np.zeros(0, dtype=np.int64) for k in ("quota", "closing", "closing_before")}

    def _offline_pattern(t: int) -> None:
        """Order weights and shares when only the plants not online yet are left out (the same in
        every replicate while no event adds capacity to some replicates only): worked out here once
        per change, with the numpy path's formulas, instead of in every replicate at every step."""
        off_f = (t < net.online_step) & (board.arrays["added_capacity"][0] <= 0.0)
        key = off_f.tobytes()
        if key == pattern["key"]:
            return
        off = np.where(link_fac >= 0, off_f[np.maximum(link_fac, 0)], False)
        eff = V.excluded_weights(off[None, :] & (plan.wnorm > 0), plan.wnorm, plan.by_dst)
        pattern.update(key=key, off=np.ascontiguousarray(off), w=np.ascontiguousarray(eff[0]),
                       any=bool((off & (plan.wnorm > 0)).any()),
                       shares=np.ascontiguousarray(K.position_shares(eff, net.lead_steps, plan)[0]))

    def batch_stop(t: int) -> int:
        """First step after t that must start a new call of the compiled kernel: the end of the reporting
        interval, a change of any event other than a commission's added capacity, a plant coming
        online, an event window's start or end, a stockpile's set-up, at most MAX_BATCH steps on and
        within the shortest recycling lifetime (scrap arriving in a batch then comes from consumption
        before it)."""
        if observer is not None:
            return t + 1
        nxt = min(T, (t // interval + 1) * interval, t + MAX_BATCH, t + scrap_life)
        i = int(np.searchsorted(stops, t, side="right"))
        if i < len(stops) and stops[i] < nxt:
            nxt = int(stops[i])
        return nxt

    def start_batch(t: int) -> None:
        """Quotas, lead times, order-share patterns and capacity at the first step of a batch."""
        if begin_step(t):
            cap_now[0] = None
            ac = board.arrays["added_capacity"]
            pattern["uniform"] = bool((ac == ac[:1]).all())
            lo = board.arrays["link_open"]
            # links the kernel checks for a quota (finite where a link is partly open) and for closure
            # (closed now, or at the last change: their closed_for must go back to 0)
            closing = np.flatnonzero((lo < closed_below).any(axis=0))
            sparse["quota"] = np.flatnonzero((lo < 1.0).any(axis=0))
            sparse["closing"] = np.union1d(closing, sparse["closing_before"])
            sparse["closing_before"] = closing
        if cap_now[0] is None or t <= ramp_end:  # at ramp_end the fully ramped base applies
            cap_now[0] = capacity_at(t)
        if t < last_offline and pattern["uniform"]:
            _offline_pattern(t)

    def run_batch(t: int, k: int, cap_rows: list[F64], ac_rows: list[F64]) -> None:
        """Steps t .. t+k-1 through the compiled kernel (numba backend): same results as ``step_fn``.

        ``cap_rows`` and ``ac_rows``: capacity and added capacity at each step of the batch (one row
        when they do not change in it)."""
        S_, T_, N_, O_, A_ = fused_args_
        pol = board.policy
        CAP = np.ascontiguousarray(np.stack(cap_rows))
        ACT = np.ascontiguousarray(np.stack(ac_rows))
        got, coll = no_got, no_coll
        if scrap is not None:
            got = np.stack([scrap.take(t + j) for j in range(k)])
            coll = np.stack([g_j @ scrap_prod for g_j in got])  # per step, as the numpy path computes it
        dnoise.draw(t, k)
        ts = np.arange(t, t + k)
        G = np.stack([net.dem_rate * net.growth_factor(u * step) for u in ts]) if D else np.zeros((k, 0))
        use_pat = t < last_offline and pattern["uniform"]
        key = (use_pat, pattern["key"] if use_pat else None, sparse["closing"].tobytes())
        if key != rr_base["key"]:  # the weights left out in every replicate, or the closing links, changed
            rr_base.update(key=key, version=rr_base["version"] + 1,
                           w=np.where(pattern["off"] & (plan.wnorm > 0), 0.0, plan.wnorm) if use_pat
                           else np.array(plan.wnorm))
        win_on = np.array([s0 <= t < e0 for _, _, s0, e0 in windows], dtype=np.bool_)
        controls = (CAP, got, coll, board.arrays["demand_factor"], dnoise.ring,
                    board.arrays["link_open"], no_lead if lead_re is None else lead_re, lead_re is not None,
                    t < last_offline, ACT, pol["stockpile_release"],
                    pol["substitution"], pol["reroute_steps"], blockrow, G,
                    (plan.ring_off + ts[:, None] % plan.ring_len).astype(np.uint64),
                    (plan.ring_off + (ts[:, None] + plan.lead) % plan.ring_len).astype(np.uint64),
                    use_pat, pattern["w"], pattern["shares"], pattern["any"],
                    sparse["quota"].astype(np.uint64), sparse["closing"].astype(np.uint64), win_all, win_on, cons_k, rr_base["w"], rr_base["version"], *rr_cache)
        kernel(t, k, S_, T_, N_, O_, A_, controls)
        dnoise.prefetch(t + k)  # the next noise block, drawn on the step's threads during the records below
        o = scr_f
        if scrap is not None:
            for j in range(k):
                acc["collected_t"] += coll[j]
                scrap.add(t + j, cons_k[j])
        t_last = t + k - 1
        if (t_last + 1) % interval == 0 or t_last == T - 1:
            records.record(t_last, threads_of[0])
        if observer is not None:
            observer(t, {"on_hand": st.on_hand, "backlog": st.backlog, "in_transit": st.in_transit,
                         "backorder": st.backorder, "demand": o["demand"], "served": o["served"],
                         "activity": o["activity"], "shipped": o["shipped"], "surplus": o["extra"] @ plan.out_prod,
                         "produced": o["made"] @ plan.out_prod, "used": o["used"] @ plan.in_prod,
                         "consumed": o["consumed"] @ plan.dem_prod, "released": o["released"],
                         "collected": coll[0] if scrap is not None else np.zeros((R, P)),
                         "weights": o["weights_out"], "triggered": st.triggered,
                         "substituted": o["raw"] * o["sub"], "stocked": np.broadcast_to(piles.stocked, (R, P)),
                         "tags": None if tracer is None else tracer.full_tags()})
        if progress is not None:
            progress(t + k, T)

    def stockpile_watch(env: simpy.Environment) -> Any:
        """Triggered policy: wait for the kernels to raise a change of release triggers."""
        while True:
            trig_event[0] = env.event()
            new = yield trig_event[0]
            st.triggered[...] = new

    def clock(env: simpy.Environment) -> Any:
        yield env.timeout(0.5)
        if fused is None:
            for t in range(T):
                step_fn(t)
                yield env.timeout(1)
            return
        t = 0
        while t < T:  # batches of steps (see batch_stop), the calendar advanced step by step within them
            end = batch_stop(t)
            set_up_piles(t)
            start_batch(t)
            ac = board.arrays["added_capacity"].copy()
            cap_rows, ac_rows, per_step = [cap_now[0]], [ac], t <= ramp_end
            u, cut = t + 1, False
            while u < end:
                yield env.timeout(1)  # now at u + 0.5: events due at u (on capacity only, here) have acted
                if board.changed:  # an outage or a commission changed capacity at u
                    ac = board.arrays["added_capacity"].copy()
                    off = ((u < net.online_step) & (ac[0] <= 0.0)).tobytes()
                    if bool((ac == ac[:1]).all()) != pattern["uniform"] or (
                            t < last_offline and pattern["uniform"] and off != pattern["key"]):
                        cut = True  # the order-share pattern changes: a new batch starts at u
                        break
                    board.changed = False
                    cap_now[0], per_step = capacity_at(u), True
                elif u <= ramp_end:
                    cap_now[0] = capacity_at(u)
                cap_rows.append(cap_now[0])
                ac_rows.append(ac)
                u += 1
            k = u - t
            if not per_step:
                cap_rows, ac_rows = cap_rows[:1], ac_rows[:1]
            run_batch(t, k, cap_rows, ac_rows)
            t = u
            if not cut:
                yield env.timeout(1)

    env = simpy.Environment()
    for i in range(len(plans)):
        env.process(event_process(env, board, i, T))
    if Q and fused is None:  # the compiled step applies the triggers it raises itself, from the next step
        env.process(stockpile_watch(env))
    env.process(clock(env))
    t_sim = time.perf_counter()
    if fused is not None:  # BLAS on one thread, also when the step runs on one: its threads would spin
        try:  # between the interval's matrix products (CPU time 2x wall time below 64 replicates, same wall)
            with fused.one_blas_thread():
                env.run(until=T + 1)
        finally:
            if step_pool is not None:
                step_pool.shutdown()
    else:
        env.run(until=T + 1)
    sim_s = time.perf_counter() - t_sim
    res = tracker.resilience(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(acc["cap_avail"] > 0, acc["act_sum"] / np.where(acc["cap_avail"] > 0, acc["cap_avail"], 1), 0.0)
        wfill = {w: np.where(a[:, :, 1] > 0, a[:, :, 0] / np.where(a[:, :, 1] > 0, a[:, :, 1], 1), 1.0)
                 for w, a in win_acc.items()}
    dep = tracer.dependency() if tracer is not None else np.zeros((Rt, M, 0, len(net.regions) + 1))
    released_s = np.zeros((R, S))  # per stockpile: the sum over its holdings
    np.add.at(released_s, (slice(None), mech.pile_of_holding), acc["released_h"])
    return Result(
        scenario=sc.name, seed=seed, replications=R, r0=r0, n_steps=T, step_days=step,
        markets=net.markets, producers=net.producers, products=net.products, links=net.links,
        demand_t=tracker.demand, served_t=tracker.served, max_shortfall=tracker.max_shortfall,
        tts_days=res["tts"], tts_censored=res["tts_censored"], ttr_days=res["ttr"], ttr_censored=res["ttr_censored"],
        window_fill=wfill, output_t=acc["output_t"], capacity_used=util, surplus_t=acc["surplus_t"],
        spend_usd=acc["shipped_t"] * net.price, shipped_t=acc["shipped_t"], released_t=released_s,
        released_by_holding_t=acc["released_h"],
        pile_holdings=tuple((net.stockpiles[s], net.products[net.hold_product[h]])
                            for h, s in zip(mech.pile_holdings, mech.pile_of_holding)),
        holding_cost_usd=acc["holding_cost"], substituted_t=acc["substituted_t"], collected_t=acc["collected_t"],
        dependency=dep, trace_stages=records.stages, regions=net.regions,
        series_times=tuple(records.times), series=records.arrays(), series_labels=records.labels(),
        series_values=records.values(),
        event_windows=tuple((w[0], w[1], w[2] * step, min(w[3], T) * step) for w in windows),
        reference_event=ref_id, mass_balance_error=records.worst,
        timings={"setup_s": setup_s, "simulate_s": sim_s, "steps": T,
                 "node_replicate_days": float(R * T * step * (Fn + M + S))},
    )
