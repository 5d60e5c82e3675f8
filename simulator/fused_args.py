"""The argument tuples of the compiled step (:func:`simulator._numba_step.step`, :mod:`simulator._numba_kernel`).

The engine keeps its state in the arrays of :class:`simulator.state.State`, the
tracker and the accumulators; the compiled step takes them, and the compiled
network's index arrays, as five tuples in a fixed order (state, tags, network,
per-step outputs, accumulators). The sixth, the per-batch controls, is built by
``engine.simulate`` at each call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import diversify as V
from . import kernels as K
from .metrics import RECOVERED, SHORT, MarketTracker
from .network import Network
from .state import State
from .tracing import Tracer

F64 = npt.NDArray[np.float64]
MAX_BATCH = 8  #: most steps the compiled kernel runs in one call (bounds the per-step tables)


def fused_args(net: Network, R: int, observed: bool, st: State, plan: K.Plan, mech: V.Mechanics, tracer: Tracer | None,
                tracker: MarketTracker, acc: dict[str, F64], flows: F64, dep_int: F64, ref_step: np.ndarray,
                out_per_act: F64, link_fac: np.ndarray, static_shares: F64) -> tuple[Any, dict[str, F64]]:
    """The argument tuples of ``_numba_step.step`` (state, tags, network, outputs, accumulators)."""
    from . import _numba_step as fused_step

    sz = net.sizes
    H, E, D, Fn, M, P = sz["H"], sz["E"], sz["D"], sz["F"], sz["M"], sz["P"]
    Q = len(mech.ch_pile)
    Oo, I_ = len(net.out_hold), len(net.in_hold)
    i64 = lambda a: np.array(a, dtype=np.int64).reshape(-1)  # writable contiguous copies
    # index arrays the step only indexes with are unsigned: numba then skips the negative-index
    # wrap-around it adds to every access with a signed index it cannot prove non-negative
    u64 = lambda a: np.array(a, dtype=np.uint64).reshape(-1)
    f64 = lambda a: np.array(a, dtype=np.float64)

    def seg(sg: K.Segments, n: int) -> tuple[np.ndarray, ...]:
        ends = np.append(sg.starts[1:], n) if len(sg.starts) else np.zeros(0, dtype=np.uint64)
        return u64(sg.perm), u64(sg.starts), u64(ends), u64(sg.uniq)

    hp = np.asarray(net.hold_product)
    bd, bs = plan.by_dst, plan.by_src
    chp = K.Segments.build(mech.ch_pile)
    base_seg = bd.sum(plan.wnorm[None, :])[0] if E else np.zeros(0)
    mkt_starts = u64(net.mkt_starts)
    mkt_ends = u64(np.append(mkt_starts[1:], D))
    if tracer is not None:
        C = tracer.C
        tags = (tracer.hold, tracer.pipe, tracer.dep, dep_int)
        c_keep, c_onehot, c_none = f64(tracer.c_keep), f64(tracer.c_onehot), f64(tracer.c_none)
        single_input = bool(tracer._single_input)
    else:
        C = 0
        tags = (np.zeros((0, H, 0)), np.zeros((0, E, 0)), np.zeros((0, M, 0)), np.zeros((0, M, 0)))
        c_keep, c_onehot, c_none, single_input = np.zeros((Fn, 0)), np.zeros((Fn, 0)), np.zeros(0), True
    N = (*seg(bs, E), *seg(bd, E),
         i64(plan.ring_off), i64(plan.ring_len), f64(plan.ship_mask),
         u64(plan.out_hold), f64(plan.out_coef), u64(plan.out_ptr), u64(plan.in_hold), f64(plan.in_coef),
         u64(plan.in_ptr), u64(plan.dem_hold), u64(net.dem_market), np.array(plan.dem_bo, dtype=np.bool_),
         u64(hp[np.asarray(plan.dem_hold)]), u64(hp[np.asarray(plan.out_hold)]), u64(hp[np.asarray(plan.in_hold)]),
         i64(plan.hold_dem), u64(net.link_src), u64(net.link_dst), u64(np.arange(D)), mkt_starts, mkt_ends,
         f64(out_per_act), f64(plan.wnorm), f64(base_seg), f64(np.reshape(static_shares, -1)),
         f64(np.asarray(net.lead_steps) + 1.0), i64(link_fac), f64(net.online_step),
         f64(net.dem_noise_cv), f64(mech.sub_fraction), f64(mech.sub_after), f64(mech.sub_adopt_steps),
         f64(mech.sub_threshold), np.array(mech.has_sub, dtype=np.bool_),
         u64(mech.ch_pile), u64(mech.ch_recv), f64(mech.ch_cover_days), f64(mech.ch_max_step),
         *seg(chp, Q),
         u64(mech.ch_holding), u64(mech.pile_holdings), u64(mech.pile_of_holding), f64(mech.pile_cost_step),
         c_keep, c_onehot, c_none, single_input, u64(mech.rec_scrap_hold), float(net.step_days),
         float(net.scenario.policies.closed_below), i64(ref_step))
    widths = {"arrived": E, "activity": Fn, "made": Oo, "used": I_, "extra": Oo, "backlog_out": H, "before_out": Oo,
              "recv_before": Q, "released": Q, "shipped": E, "want": E, "raw": D, "sub": D, "rs": D, "demand": D,
              "served": D, "consumed": D, "weights_out": E,
              "orders": E, "tag_acc": C}  # in the kernel's order
    # outputs only the step itself reads get one row per block of replicates, unless an observer wants them
    # (never R of them then: the kernels tell an observed run by its outputs having R rows)
    compact = fused_step.BLOCKS if R != fused_step.BLOCKS else fused_step.BLOCKS + 1
    rows = {k: R if observed or k not in fused_step.COMPACT else compact for k in widths}
    out = {k: np.zeros((rows[k], w)) for k, w in widths.items()}
    new_trig = np.zeros((R, Q), dtype=np.bool_)
    S = (st.on_hand, st.backlog, st.in_transit, st.pipe, st.backorder, st.exp_use, st.fg_target, st.order_up_to,
         st.quota, st.closed_for, st.short_run, st.adopt_at, st.triggered, new_trig)
    O = tuple(out.values())
    tr = tracker
    A = (flows, acc["output_t"], acc["act_sum"], acc["cap_avail"], acc["surplus_t"],
         acc["shipped_t"], acc["substituted_t"], acc["released_h"], acc["holding_cost"],
         tr.demand, tr.served, tr.int_d, tr.int_s, tr.max_shortfall, tr.ring_d, tr.ring_s, tr.roll_d, tr.roll_s,
         tr.short_step, tr.recover_step, tr.dip_step)
    assert P == flows.shape[1] and SHORT == fused_step.SHORT and RECOVERED == fused_step.RECOVERED
    assert V.TRIGGER_TIE == fused_step.TRIGGER_TIE
    return (S, tags, N, O, A), out
