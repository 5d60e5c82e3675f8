"""One whole engine step for every replicate in one compiled call (numba).

The numpy engine (:mod:`simulator.engine`) runs a step as ~40 array operations
over all replicates, each streaming every replicate's state through memory. This
kernel does the same step replicate by replicate (from 64 replicates in blocks on
one thread per core, the compiled code releasing the GIL; one thread below), so a
replicate's stocks, orders and origin tags are read once per step and stay in cache
while arrive → produce → release → ship → dispatch → consume → metrics → substitution →
triggers → re-route → order run on them (docs/step-semantics.md, "The step" and
"How the engine computes a step"). It repeats, per replicate, the operations of the numpy path in
the numpy path's order, so stocks and flows agree to the last bit in practice;
``tests/test_backends.py`` compares whole results of both.

What stays in Python: the calendar (SimPy events edit the factor arrays the
kernel reads), demand-noise draws (noise.NOISE_BLOCK steps at a time), scrap collection and the
reporting-interval records. The kernel runs a batch of steps per call (see
:func:`simulator._numba_step.step`, which runs the blocks of replicates on threads),
applies the stockpile release triggers it raises from the next step on, and adds the
event-window sums.

Origin tags exist for the first ``Rt`` replicates only (``report.trace_replicates``);
replicates ``r >= Rt`` skip every tag operation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._numba_parts import U1, _mix, _reroute_shares, _ss
from ._numba_pipeline import StepCompiler

#: sha256 (first 16 hex digits) of _numba_parts.py, whose functions are inlined here. numba's
#: on-disk cache of this module is keyed on this file alone, so a change there must change this
#: line, or the cached kernel would keep the old code (tests/test_backends.py checks it).
PARTS_SHA256 = "351138854e624be8"
#: sha256 of _numba_pipeline.py (the compiler passes the step is built with), for the same reason
PIPELINE_SHA256 = "b35da1eda26cd8e8"
BLOCKS = 16  #: replicates are run in this many blocks (fewer for small R)
CHUNK = 8  #: consecutive replicates a block runs together
#: per-step outputs nobody reads after the step: one row per block unless an observer wants them all
COMPACT = ("arrived", "activity", "made", "used", "extra", "backlog_out", "before_out", "recv_before", "released",
           "shipped", "want", "raw", "sub", "rs", "demand", "served", "weights_out", "orders",
           "tag_acc")
SHORT = 0.99  # metrics.SHORT (asserted equal in fused_args)
RECOVERED = 0.99  # metrics.RECOVERED
TRIGGER_TIE = 1e-9  # diversify.TRIGGER_TIE (asserted equal in fused_args)


@njit(cache=True, error_model="numpy", nogil=True, pipeline_class=StepCompiler)
def _step_block(blk, nb, t0, nsteps, S, T, N, O, A, K, ch_end):  # pragma: no cover - compiled
    """Advance the replicates of block ``blk`` of ``nb`` by steps ``t0 .. t0+nsteps-1``: chunks blk, blk + nb, ... of CHUNK
    below ``ch_end`` (the native backend, :mod:`simulator._native_step`, runs the chunks from there on).

    Interleaved chunks share the traced replicates (the first ones) out between the cores;
    chunks of 8 keep each core on whole cache lines of the [L, R] arrival ring.

    ``S`` state, ``T`` tags, ``N`` static network arrays, ``O`` per-step outputs
    (scratch), ``A`` accumulators and tracker, ``K`` controls (factor arrays,
    policies, flags) and the per-step tables of the batch (index j = t - t0): the
    rate of each demand entry ``G[j, d]`` (growth times base rate), capacities
    ``CAP[j or 0, r, f]`` and added capacity ``added_capacity[j or 0, r, f]``, arrival and dispatch rows of the ring ``AR[j, e]``,
    ``DR[j, e]``, scrap arriving ``GOT[j, r, k]`` and its mass by product
    ``COLL[j, r, p]``. Demand noise comes from a ring of two blocks of NOISE_BLOCK steps.
    """
    (on_hand, backlog, in_transit, pipe, backorder, exp_use, fg_target, order_up_to, quota, closed_for,
     short_run, adopt_at, triggered, new_trig) = S
    hold_tag, pipe_tag, dep, dep_int = T
    (src_perm, src_starts, src_ends, src_uniq, dst_perm, dst_starts, dst_ends, dst_uniq,
     ring_off, ring_len, ship_mask, out_hold, out_coef, out_ptr, in_hold, in_coef, in_ptr,
     dem_hold, dem_market, dem_bo, dem_prod, out_prod, in_prod, hold_dem, link_src, link_dst, d_ident, mkt_starts, mkt_ends,
     out_per_act, wnorm, base_seg, static_shares, lead1, link_fac, online_step,
     cv, sub_fraction, sub_after, sub_adopt, sub_threshold, has_sub,
     ch_pile, ch_recv, ch_cover, ch_max, chp_perm, chp_starts, chp_ends, chp_uniq,
     pile_of_q, pile_h, pile_of_h, pile_cost,
     c_keep, c_onehot, c_none, single_input, rec_hold, step_days, closed_below, ref_step) = N
    (arrived, activity, made, used, extra, backlog_out, before_out, recv_before, released, shipped, want,
     raw, sub, rs, demand, served, consumed, weights_out, orders, tag_acc) = O
    (flows, a_output, a_act, a_cap, a_surplus, a_shipped, a_subst, a_released, a_hcost,
     tr_demand, tr_served, tr_int_d, tr_int_s, tr_maxsf, tr_ring_d, tr_ring_s, tr_roll_d, tr_roll_s,
     tr_short, tr_recover, tr_dip) = A
    (CAP, GOT, COLL, demand_factor, noise, link_open, lead_re, use_lead_re, off_check, added_capacity,
     pol_release, pol_sub, reroute_steps, blockrow, G, AR, DR, use_pat, pat_w,
     pat_shares, pat_any, quota_links, closing_links, win, win_on, cons_k,
     base_w, rr_version, rr_ok, rr_ver, rr_key, rr_keep, rr_sh, rr_eff) = K

    Rt = hold_tag.shape[0]
    C = hold_tag.shape[2]
    # counts over index spaces are unsigned, so loop indices, the index arrays' values and
    # positions are all np.uint64 (see _numba_parts.U1)
    E = np.uint64(backlog.shape[1])
    F = np.uint64(out_ptr.shape[0] - 1)
    D = np.uint64(backorder.shape[1])
    M = np.uint64(mkt_starts.shape[0])
    Q = np.uint64(ch_pile.shape[0])
    W = tr_ring_d.shape[0]
    NC = np.uint64(rec_hold.shape[0])
    n_dst = np.uint64(dst_uniq.shape[0])
    n_src = np.uint64(src_uniq.shape[0])
    n_out = np.uint64(out_hold.shape[0])
    n_in = np.uint64(in_hold.shape[0])
    n_chp = np.uint64(chp_uniq.shape[0])
    n_ph = np.uint64(pile_h.shape[0])
    n_ql = np.uint64(quota_links.shape[0])
    n_cl = np.uint64(closing_links.shape[0])
    n_prod = np.uint64(COLL.shape[2])
    R = on_hand.shape[0]
    observed = arrived.shape[0] == R  # per-step outputs kept for every replicate (an observer reads them)
    n_chunks = (R + CHUNK - 1) // CHUNK
    NW = win_on.shape[0]
    NB2 = noise.shape[2]
    scrap = COLL.shape[2] > 0
    for ch in range(blk, min(n_chunks, ch_end), nb):
        r_end = min(R, ch * CHUNK + CHUNK)
        for jr in range(nsteps * CHUNK):  # the chunk's first replicate at steps t0, t0 + 1, ..., then the next
            js = jr % nsteps  # step index in the batch
            ri = jr // nsteps  # the replicate's lane in the chunk's arrival ring
            r = ch * CHUNK + ri
            if r >= r_end:
                continue
            t = t0 + js
            jc = js if CAP.shape[0] > 1 else 0
            ro = r if observed else blk  # row of the per-step outputs (per block when compact)
            tr = r < Rt and C > 0
            # ------------------------------------------------------------ 1. release triggers raised last step
            use_block = False
            for q in range(Q):
                tq = new_trig[r, q]
                triggered[r, q] = tq
                if tq:
                    use_block = True
            if use_block:  # 1 on stockpile holdings with a release channel in force
                for q in range(Q):
                    blockrow[ro, ch_pile[q]] = 0.0
                for q in range(Q):
                    if triggered[r, q]:
                        blockrow[ro, ch_pile[q]] = 1.0
            # ------------------------------------------------------------ 2. arrive (+ tags), scrap
            for e in range(E):
                row = AR[js, e]
                a = pipe[ch, row, ri]
                arrived[ro, e] = a
                if a != 0.0:
                    pipe[ch, row, ri] = 0.0
                    v = in_transit[r, e] - a
                    if v < 0.0:
                        v = 0.0
                    in_transit[r, e] = v
            for u in range(n_dst):
                s = _ss(arrived, ro, dst_perm, dst_starts[u], dst_ends[u])
                if s != 0.0:
                    on_hand[r, dst_uniq[u]] += s
            if tr and E > 0:
                for u in range(n_dst):
                    a0 = dst_starts[u]
                    b0 = dst_ends[u]
                    h = dst_uniq[u]
                    if b0 - a0 == U1:
                        e = dst_perm[a0]
                        s = arrived[ro, e]
                        if not s > 0.0:
                            continue
                        old = on_hand[r, h] - s
                        if old < 0.0:
                            old = 0.0
                        _mix(hold_tag, r, h, pipe_tag, r, e, s / (old + s), C)
                        continue
                    s = 0.0
                    for j in range(a0, b0):
                        s += arrived[ro, dst_perm[j]]
                    if not s > 0.0:
                        continue
                    for c in range(C):
                        tag_acc[ro, c] = 0.0
                    for j in range(a0, b0):
                        e = dst_perm[j]
                        ae = arrived[ro, e]
                        if ae != 0.0:
                            for c in range(C):
                                tag_acc[ro, c] += ae * pipe_tag[r, e, c]
                    old = on_hand[r, h] - s
                    if old < 0.0:
                        old = 0.0
                    w = s / (old + s)
                    for c in range(C):
                        x = hold_tag[r, h, c]
                        hold_tag[r, h, c] = x + (tag_acc[ro, c] / s - x) * w
            for kc in range(NC):
                on_hand[r, rec_hold[kc]] += GOT[js, r, kc]
            # ------------------------------------------------------------ 3. produce (+ tags)
            if tr:
                for o in range(n_out):
                    before_out[ro, o] = on_hand[r, out_hold[o]]
            for u in range(n_src):
                backlog_out[ro, src_uniq[u]] = 0.0 + _ss(backlog, r, src_perm, src_starts[u], src_ends[u])
            for f in range(F):
                o0, o1 = out_ptr[f], out_ptr[f + U1]
                need = -np.inf
                for o in range(o0, o1):
                    h = out_hold[o]
                    wv = (backlog_out[ro, h] + fg_target[r, h] - on_hand[r, h]) / out_coef[o]
                    if o == o0 or wv > need:
                        need = wv
                limit = np.inf
                for i in range(in_ptr[f], in_ptr[f + U1]):
                    q = on_hand[r, in_hold[i]] / in_coef[i]
                    if q < limit:
                        limit = q
                a = CAP[jc, r, f]
                if limit < a:
                    a = limit
                if need < a:
                    a = need
                if a <= 0.0:
                    a = 0.0
                activity[ro, f] = a
                for i in range(in_ptr[f], in_ptr[f + U1]):
                    h = in_hold[i]
                    before = on_hand[r, h]
                    after = before - a * in_coef[i]
                    if after <= 0.0:
                        after = 0.0
                    used[ro, i] = before - after
                    on_hand[r, h] = after
                for o in range(o0, o1):
                    h = out_hold[o]
                    m = a * out_coef[o]
                    made[ro, o] = m
                    new = on_hand[r, h] + m
                    x = new - fg_target[r, h] - backlog_out[ro, h]
                    if x <= 0.0:
                        x = 0.0
                    extra[ro, o] = x
                    on_hand[r, h] = new - x
            if tr:
                for f in range(F):
                    o0, o1 = out_ptr[f], out_ptr[f + U1]
                    moved = False
                    for o in range(o0, o1):
                        if made[ro, o] > 0.0:
                            moved = True
                    if not moved:
                        continue
                    i0, i1 = in_ptr[f], in_ptr[f + U1]
                    if i1 == i0:
                        for c in range(C):
                            tag_acc[ro, c] = c_none[c]
                    elif single_input:
                        for c in range(C):
                            tag_acc[ro, c] = hold_tag[r, in_hold[i0], c]
                    else:
                        tot = 0.0
                        for i in range(i0, i1):
                            tot += used[ro, i]
                        if tot > 0.0:
                            for c in range(C):
                                tag_acc[ro, c] = 0.0
                            for i in range(i0, i1):
                                ui = used[ro, i]
                                if ui != 0.0:
                                    for c in range(C):
                                        tag_acc[ro, c] += ui * hold_tag[r, in_hold[i], c]
                            for c in range(C):
                                tag_acc[ro, c] /= tot
                        else:
                            for c in range(C):
                                tag_acc[ro, c] = c_none[c]
                    for c in range(C):
                        tag_acc[ro, c] = tag_acc[ro, c] * c_keep[f, c] + c_onehot[f, c]
                    for o in range(o0, o1):
                        m = made[ro, o]
                        if not m > 0.0:
                            continue
                        h = out_hold[o]
                        tot = before_out[ro, o] + m
                        w = m / (tot if tot > 0.0 else 1.0)
                        for c in range(C):
                            x = hold_tag[r, h, c]
                            hold_tag[r, h, c] = x + (tag_acc[ro, c] - x) * w
            # ------------------------------------------------------------ 4. release (+ tags)
            if Q > 0:
                for q in range(Q):
                    h = ch_recv[q]
                    recv_before[ro, q] = on_hand[r, h]
                    gap = ch_cover[q] * exp_use[r, h] - on_hand[r, h]
                    if gap <= 0.0:
                        gap = 0.0
                    wq = ch_max[q] if ch_max[q] <= gap else gap
                    released[ro, q] = wq * (1.0 if triggered[r, q] else 0.0) * pol_release[r]
                for u in range(n_chp):
                    tot = _ss(released, ro, chp_perm, chp_starts[u], chp_ends[u])
                    h = chp_uniq[u]
                    av = on_hand[r, h]
                    give = tot if tot <= av else av
                    ratio = give / tot if tot > 0.0 else 0.0
                    for j in range(chp_starts[u], chp_ends[u]):
                        q = chp_perm[j]
                        released[ro, q] = released[ro, q] * ratio
                    on_hand[r, h] = av - give
                for q in range(Q):
                    on_hand[r, ch_recv[q]] += released[ro, q]
                if tr:
                    for q in range(Q):
                        add = released[ro, q]
                        if not add > 0.0:
                            continue
                        h = ch_recv[q]
                        before = recv_before[ro, q]  # the receiver's mass after earlier channels into it
                        for q2 in range(q):
                            if ch_recv[q2] == h:
                                before = before + released[ro, q2]
                        tot = before + add
                        _mix(hold_tag, r, h, hold_tag, r, ch_pile[q], add / (tot if tot > 0.0 else 1.0), C)
            # ------------------------------------------------------------ ship (+ tags), dispatch
            for e in range(E):
                want[ro, e] = backlog[r, e] * ship_mask[e]
            for j in range(n_ql):  # the links with a finite quota in some replicate
                e = quota_links[j]
                b = backlog[r, e]
                qv = quota[r, e]
                want[ro, e] = (b if b <= qv else qv) * ship_mask[e]
            for u in range(n_src):
                a0 = src_starts[u]
                b0 = src_ends[u]
                total = _ss(want, ro, src_perm, a0, b0)
                h = src_uniq[u]
                avail = on_hand[r, h]
                sent = total if total <= avail else avail
                ratio = sent / total if total > 0.0 else 0.0
                for j in range(a0, b0):
                    e = src_perm[j]
                    s = want[ro, e] * ratio
                    shipped[ro, e] = s
                    v = backlog[r, e] - s
                    if v < 0.0:
                        v = 0.0
                    backlog[r, e] = v
                on_hand[r, h] = avail - sent
            if tr:
                for e in range(E):
                    s = shipped[ro, e]
                    if not s > 0.0:
                        continue
                    tot = in_transit[r, e] + s
                    _mix(pipe_tag, r, e, hold_tag, r, link_src[e], s / (tot if tot > 0.0 else 1.0), C)
            for e in range(E):
                s = shipped[ro, e]
                if s != 0.0:
                    in_transit[r, e] += s
                    if use_lead_re:  # row ring_off + (t + lead) % ring_len without a division: AR holds
                        row = np.int64(AR[js, e]) + lead_re[r, e]  # ring_off + t % ring_len, 1 <= lead < ring_len
                        if row >= ring_off[e] + ring_len[e]:
                            row -= ring_len[e]
                        pipe[ch, row, ri] += s
                    else:
                        pipe[ch, DR[js, e], ri] += s
            # ------------------------------------------------------------ 5. demand, consume (+ tags)
            for d in range(D):
                x = G[js, d] * demand_factor[r, d]
                x = x * max(0.0, 1.0 + cv[d] * noise[r, d, t % NB2])
                raw[ro, d] = x
                since = t - adopt_at[r, d] + 1.0
                if since >= 1.0:
                    rp = since / sub_adopt[d] if sub_adopt[d] > 0 else 1.0
                    sh = sub_fraction[d] * (rp if rp <= 1.0 else 1.0)
                else:
                    sh = 0.0
                sub[ro, d] = sh
                rs[ro, d] = x * sh
                demand[ro, d] = x * (1.0 - sh)
            for d in range(D):
                h = dem_hold[d]
                oh = on_hand[r, h]
                back = 0.0
                if dem_bo[d]:
                    bo = backorder[r, d]
                    back = oh if oh <= bo else bo
                oh = oh - back
                dm = demand[ro, d]
                sv = oh if oh <= dm else dm
                on_hand[r, h] = oh - sv
                unmet = dm - sv if dem_bo[d] else 0.0
                backorder[r, d] = (backorder[r, d] - back) + unmet
                served[ro, d] = sv
                consumed[r, d] = back + sv
            if tr:
                for d in range(D):
                    x = consumed[r, d]
                    if x == 0.0:
                        continue
                    h = dem_hold[d]
                    m = dem_market[d]
                    for c in range(C):
                        v = x * hold_tag[r, h, c]
                        dep[r, m, c] += v
                        dep_int[r, m, c] += v
            # ------------------------------------------------------------ market metrics (MarketTracker.update)
            k = t % W
            for m in range(M):
                a0 = mkt_starts[m]
                b0 = mkt_ends[m]
                if b0 <= a0:
                    b0 = a0 + U1
                sv = _ss(served, ro, d_ident, a0, b0)
                dm = _ss(demand, ro, d_ident, a0, b0)
                tr_demand[r, m] += dm
                tr_served[r, m] += sv
                tr_int_d[r, m] += dm
                tr_int_s[r, m] += sv
                fill = sv / dm if dm > 0 else 1.0
                sf = 1.0 - fill
                if sf > tr_maxsf[r, m] or np.isnan(sf):
                    tr_maxsf[r, m] = sf
                tr_roll_d[r, m] += dm - tr_ring_d[k, r, m]
                tr_roll_s[r, m] += sv - tr_ring_s[k, r, m]
                tr_ring_d[k, r, m] = dm
                tr_ring_s[k, r, m] = sv
                for wi in range(NW):  # event windows in force
                    if win_on[wi]:
                        win[wi, r, m, 0] += sv
                        win[wi, r, m, 1] += dm
                if ref_step[r] >= 0 and t >= ref_step[r] and tr_short[r, m] < 0 and fill < SHORT:
                    tr_short[r, m] = t
                if tr_short[r, m] >= 0 and tr_recover[r, m] < 0:  # short, not recovered (MarketTracker.update)
                    rd = tr_roll_d[r, m]
                    roll = tr_roll_s[r, m] / rd if rd > 1e-12 else 1.0
                    if roll < RECOVERED:
                        if tr_dip[r, m] < 0:
                            tr_dip[r, m] = t
                    elif t > tr_short[r, m] and tr_dip[r, m] >= 0:
                        tr_recover[r, m] = t
                a_subst[r, m] += _ss(rs, ro, d_ident, a0, b0)
            # ------------------------------------------------------------ substitution, release triggers
            for d in range(D):
                dm = demand[ro, d]
                fill = served[ro, d] / dm if dm > 0 else 1.0
                short = fill < sub_threshold[d] and dm > 0
                short_run[r, d] = short_run[r, d] + 1.0 if short else 0.0
                if (has_sub[d] and pol_sub[r] > 0 and np.isinf(adopt_at[r, d]) and short
                        and short_run[r, d] * step_days >= sub_after[d]):
                    adopt_at[r, d] = t + 1
            for q in range(Q):
                h = ch_recv[q]
                thr = ch_cover[q] * exp_use[r, h]
                new_trig[r, q] = on_hand[r, h] < thr - thr * TRIGGER_TIE or released[ro, q] > 0.0
            # ------------------------------------------------------------ 6. re-route, order
            any_rer = False  # a link is re-routed once closed for max(1, reroute_steps[r, e]) steps
            for j in range(n_cl):  # elsewhere closed_for is and stays 0
                e = closing_links[j]
                cf = closed_for[r, e] + 1.0 if link_open[r, e] < closed_below else 0.0
                closed_for[r, e] = cf
                if cf >= max(1.0, reroute_steps[r, e]) and wnorm[e] > 0:
                    any_rer = True
            if any_rer and not (off_check and not use_pat):
                # links left out other than by re-routing are the same in every replicate (base_w): the
                # shares follow from which closing links are re-routed, and the block keeps the last ones
                # it worked out (most replicates share them, step after step)
                hit = rr_ok[blk] and rr_ver[blk] == rr_version
                if hit:
                    for j in range(n_cl):
                        e = closing_links[j]
                        if (1.0 if closed_for[r, e] >= max(1.0, reroute_steps[r, e]) and wnorm[e] > 0 else 0.0) != rr_key[blk, j]:
                            hit = False
                            break
                if hit:
                    for j in range(n_cl):
                        e = closing_links[j]
                        if rr_key[blk, j] > 0.0 and rr_keep[blk, e] == 0.0:
                            backlog[r, e] = 0.0
                    if observed:
                        for e in range(E):
                            weights_out[ro, e] = rr_eff[blk, e]
                else:
                    for e in range(E):
                        weights_out[ro, e] = base_w[e]  # the excluded-zeroed weights for now
                        orders[ro, e] = 0.0  # rerouted flags (orders is rewritten below)
                    for j in range(n_cl):
                        e = closing_links[j]
                        rer = closed_for[r, e] >= max(1.0, reroute_steps[r, e]) and wnorm[e] > 0
                        rr_key[blk, j] = 1.0 if rer else 0.0
                        if rer:
                            weights_out[ro, e] = 0.0
                            orders[ro, e] = 1.0
                    _reroute_shares(blk, r, ro, E, weights_out, orders, backlog, dst_uniq, dst_starts, dst_ends,
                                    dst_perm, base_seg, wnorm, lead1, rr_keep, rr_sh, rr_eff)
                    rr_ok[blk] = True
                    rr_ver[blk] = rr_version
                shares_from = 2
            elif off_check and not use_pat:  # plants not online yet, told apart per replicate
                any_ex = False
                for e in range(E):
                    rer = closed_for[r, e] >= max(1.0, reroute_steps[r, e]) and wnorm[e] > 0
                    ex = rer
                    if not rer and wnorm[e] > 0 and link_fac[e] >= 0:
                        fl = link_fac[e]
                        ex = t < online_step[fl] and added_capacity[jc, r, fl] <= 0.0
                    weights_out[ro, e] = 0.0 if ex else wnorm[e]  # the excluded-zeroed weights for now
                    orders[ro, e] = 1.0 if rer else 0.0  # rerouted flags (orders is rewritten below)
                    if ex:
                        any_ex = True
                if not any_ex:
                    shares_from = 0
                    if observed:
                        for e in range(E):
                            weights_out[ro, e] = wnorm[e]
                else:
                    _reroute_shares(blk, r, ro, E, weights_out, orders, backlog, dst_uniq, dst_starts, dst_ends,
                                    dst_perm, base_seg, wnorm, lead1, rr_keep, rr_sh, rr_eff)
                    rr_ok[blk] = False  # these shares are not those of a key
                    shares_from = 2
            elif use_pat and pat_any:  # only the plants not online yet: the step's common shares
                shares_from = 1
                if observed:
                    for e in range(E):
                        weights_out[ro, e] = pat_w[e]
            else:  # nothing excluded: the static shares
                shares_from = 0
                if observed:
                    for e in range(E):
                        weights_out[ro, e] = wnorm[e]
            for e in range(E):
                # the order shares: static (0), the step's pattern (1) or the block's row (2); read in
                # place, as a view of one of them would be reference-counted (atomic) per replicate-step
                if shares_from == 0:
                    sh = static_shares[e]
                elif shares_from == 1:
                    sh = pat_shares[e]
                else:
                    sh = rr_sh[blk, e]
                if use_block:
                    sh = sh * (1.0 - blockrow[ro, link_dst[e]])
                h = link_dst[e]
                gp = order_up_to[r, h] - on_hand[r, h]
                dd = hold_dem[h]
                if dd >= 0:
                    gp = gp + backorder[r, dd]
                o = sh * gp - in_transit[r, e] - backlog[r, e]
                if o <= 0.0:
                    o = 0.0
                o = o * (1.0 if sh > 0.0 else 0.0)
                orders[ro, e] = o
                backlog[r, e] += o
            # ------------------------------------------------------------ 8. record
            for f in range(F):
                a = activity[ro, f]
                a_output[r, f] += a * out_per_act[f]
                a_act[r, f] += a
                a_cap[r, f] += CAP[jc, r, f]
            for o in range(n_out):
                p = out_prod[o]
                flows[r, p] += made[ro, o] - extra[ro, o]
                a_surplus[r, p] += extra[ro, o]
            for i in range(n_in):
                flows[r, in_prod[i]] -= used[ro, i]
            for d in range(D):
                flows[r, dem_prod[d]] -= consumed[r, d]
            for e in range(E):
                a_shipped[r, e] += shipped[ro, e]
            for q in range(Q):
                a_released[r, pile_of_q[q]] += released[ro, q]
            for j in range(n_ph):
                h = pile_h[j]
                a_hcost[r, pile_of_h[j]] += on_hand[r, h] * pile_cost[h]
            if scrap:  # scrap collected this step (mass entering the chain), and what was consumed for the ring
                for p in range(n_prod):
                    flows[r, p] += COLL[js, r, p]
                for d in range(D):
                    cons_k[js, r, d] = consumed[r, d]
