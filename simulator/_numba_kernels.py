"""Compiled step kernels: fused loops over replicates (numba), behind ``kernels`` and ``tracing``.

Each function does, for one replicate after the other, what the numpy code of
the public function of the same name in :mod:`simulator.kernels` or
:class:`simulator.tracing.Tracer` does for all replicates at once, in place on
the same buffers. Stocks and flows are computed with the numpy path's operations
in the numpy path's order (a segment sum is ``x0 + pairwise(x1, ...)``, like
``np.add.reduceat``; no fast-math), so both backends agree to the last bit in
practice. Tags, which never feed back into the flows, may differ in rounding
(the numpy path sums a holding's arrivals before mixing them, as here, but
through other temporaries).

Work that cannot change anything is skipped: links or outputs with nothing
moving leave tags as they are (``tag + 0 * diff`` is ``tag``), and the ring rows
and stocks are touched only where a flow is not zero.

Imported only when numba is installed (``pip install 'reesim[fast]'``); the
module fails to import otherwise and the numpy path is used.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- sums in numpy's order


@njit(cache=True, error_model="numpy")
def _pairwise(x, r, perm, a, n):  # pragma: no cover - compiled
    """``sum(x[r, perm[a:a+n]])`` in the order of numpy's pairwise summation."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[r, perm[a + i]]
        return res
    if n <= 128:
        r0 = x[r, perm[a]]
        r1 = x[r, perm[a + 1]]
        r2 = x[r, perm[a + 2]]
        r3 = x[r, perm[a + 3]]
        r4 = x[r, perm[a + 4]]
        r5 = x[r, perm[a + 5]]
        r6 = x[r, perm[a + 6]]
        r7 = x[r, perm[a + 7]]
        i = 8
        while i < n - (n % 8):
            r0 += x[r, perm[a + i]]
            r1 += x[r, perm[a + i + 1]]
            r2 += x[r, perm[a + i + 2]]
            r3 += x[r, perm[a + i + 3]]
            r4 += x[r, perm[a + i + 4]]
            r5 += x[r, perm[a + i + 5]]
            r6 += x[r, perm[a + i + 6]]
            r7 += x[r, perm[a + i + 7]]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += x[r, perm[a + i]]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(x, r, perm, a, n2) + _pairwise(x, r, perm, a + n2, n - n2)


@njit(cache=True, error_model="numpy")
def _segsum(x, r, perm, a, b):  # pragma: no cover - compiled
    """Sum of segment ``perm[a:b]`` of row r as ``np.add.reduceat`` computes it."""
    if b - a == 1:
        return x[r, perm[a]]
    return x[r, perm[a]] + _pairwise(x, r, perm, a + 1, b - a - 1)


# --------------------------------------------------------------------------- stocks and flows


@njit(cache=True, error_model="numpy")
def arrive(on_hand, in_transit, pipe, t, ring_off, ring_len, perm, starts, uniq, arrived):  # pragma: no cover
    R, E = in_transit.shape
    U = uniq.shape[0]
    for e in range(E):  # links outer: a ring row is contiguous over replicates
        row = ring_off[e] + t % ring_len[e]
        for r in range(R):
            a = pipe[row, r]
            arrived[r, e] = a
            if a != 0.0:
                pipe[row, r] = 0.0
                v = in_transit[r, e] - a
                if v < 0.0:
                    v = 0.0
                in_transit[r, e] = v
    for r in range(R):
        for u in range(U):
            b = starts[u + 1] if u + 1 < U else E
            s = _segsum(arrived, r, perm, starts[u], b)
            if s != 0.0:
                on_hand[r, uniq[u]] += s


@njit(cache=True, error_model="numpy")
def produce(on_hand, backlog, fg_target, capacity, perm, starts, uniq, out_hold, out_coef, out_ptr,
            in_hold, in_coef, in_ptr, activity, made, used, extra, backlog_out):  # pragma: no cover
    R = on_hand.shape[0]
    E = backlog.shape[1]
    F = out_ptr.shape[0] - 1
    U = uniq.shape[0]
    for r in range(R):
        for u in range(U):
            b = starts[u + 1] if u + 1 < U else E
            backlog_out[r, uniq[u]] = 0.0 + _segsum(backlog, r, perm, starts[u], b)
        for f in range(F):
            o0, o1 = out_ptr[f], out_ptr[f + 1]
            need = -np.inf
            for o in range(o0, o1):
                h = out_hold[o]
                w = (backlog_out[r, h] + fg_target[r, h] - on_hand[r, h]) / out_coef[o]
                if o == o0 or w > need:
                    need = w
            limit = np.inf
            for i in range(in_ptr[f], in_ptr[f + 1]):
                q = on_hand[r, in_hold[i]] / in_coef[i]
                if q < limit:
                    limit = q
            a = capacity[r, f]
            if limit < a:
                a = limit
            if need < a:
                a = need
            if a <= 0.0:
                a = 0.0
            activity[r, f] = a
            for i in range(in_ptr[f], in_ptr[f + 1]):
                h = in_hold[i]
                before = on_hand[r, h]
                after = before - a * in_coef[i]
                if after <= 0.0:
                    after = 0.0
                used[r, i] = before - after
                on_hand[r, h] = after
            for o in range(o0, o1):
                h = out_hold[o]
                m = a * out_coef[o]
                made[r, o] = m
                new = on_hand[r, h] + m
                x = new - fg_target[r, h] - backlog_out[r, h]
                if x <= 0.0:
                    x = 0.0
                extra[r, o] = x
                on_hand[r, h] = new - x


@njit(cache=True, error_model="numpy")
def ship(on_hand, backlog, quota, mask, perm, starts, uniq, shipped):  # pragma: no cover
    R, E = backlog.shape
    U = uniq.shape[0]
    want = np.empty((1, E))
    for r in range(R):
        for e in range(E):
            b = backlog[r, e]
            q = quota[r, e]
            want[0, e] = (b if b <= q else q) * mask[e]
        for u in range(U):
            a0 = starts[u]
            b0 = starts[u + 1] if u + 1 < U else E
            total = _segsum(want, 0, perm, a0, b0)
            h = uniq[u]
            avail = on_hand[r, h]
            sent = total if total <= avail else avail
            ratio = sent / total if total > 0.0 else 0.0
            for j in range(a0, b0):
                e = perm[j]
                s = want[0, e] * ratio
                shipped[r, e] = s
                v = backlog[r, e] - s
                if v < 0.0:
                    v = 0.0
                backlog[r, e] = v
            on_hand[r, h] = avail - sent


@njit(cache=True, error_model="numpy")
def dispatch(pipe, in_transit, shipped, t, lead, ring_off, ring_len):  # pragma: no cover
    """``lead`` is [1, E] (the links' own lead times) or [R, E] (with extra lead time)."""
    R, E = shipped.shape
    per_rep = lead.shape[0] > 1
    for e in range(E):  # links outer: a ring row is contiguous over replicates
        for r in range(R):
            s = shipped[r, e]
            if s != 0.0:
                in_transit[r, e] += s
                pipe[ring_off[e] + (t + lead[r if per_rep else 0, e]) % ring_len[e], r] += s


@njit(cache=True, error_model="numpy")
def consume(on_hand, backorder, demand, dem_hold, dem_bo, served, consumed):  # pragma: no cover
    R, D = backorder.shape
    for r in range(R):
        for d in range(D):
            h = dem_hold[d]
            oh = on_hand[r, h]
            back = 0.0
            if dem_bo[d]:
                bo = backorder[r, d]
                back = oh if oh <= bo else bo
            oh = oh - back
            dm = demand[r, d]
            sv = oh if oh <= dm else dm
            on_hand[r, h] = oh - sv
            unmet = dm - sv if dem_bo[d] else 0.0
            backorder[r, d] = (backorder[r, d] - back) + unmet
            served[r, d] = sv
            consumed[r, d] = back + sv


@njit(cache=True, error_model="numpy")
def order(on_hand, backlog, in_transit, backorder, order_up_to, weights, dst, hold_dem, orders):  # pragma: no cover
    """``weights`` is [1, E] or [R, E]."""
    R, E = backlog.shape
    per_rep = weights.shape[0] > 1
    for r in range(R):
        wr = r if per_rep else 0
        for e in range(E):
            h = dst[e]
            g = order_up_to[r, h] - on_hand[r, h]
            d = hold_dem[h]
            if d >= 0:
                g = g + backorder[r, d]
            w = weights[wr, e]
            o = w * g - in_transit[r, e] - backlog[r, e]
            if o <= 0.0:
                o = 0.0
            o = o * (1.0 if w > 0.0 else 0.0)
            orders[r, e] = o
            backlog[r, e] += o


# --------------------------------------------------------------------------- origin tracing


@njit(cache=True, error_model="numpy")
def trace_arrive(hold, pipe_tag, on_hand_after, arrived, perm, starts, uniq):  # pragma: no cover
    R, E = arrived.shape
    C = hold.shape[2]
    U = uniq.shape[0]
    acc = np.empty(C)
    for r in range(R):
        for u in range(U):
            a0 = starts[u]
            b0 = starts[u + 1] if u + 1 < U else E
            h = uniq[u]
            if b0 - a0 == 1:
                e = perm[a0]
                s = arrived[r, e]
                if not s > 0.0:
                    continue
                old = on_hand_after[r, h] - s
                if old < 0.0:
                    old = 0.0
                w = s / (old + s)
                for c in range(C):
                    x = hold[r, h, c]
                    hold[r, h, c] = x + (pipe_tag[r, e, c] - x) * w
                continue
            s = 0.0
            for j in range(a0, b0):
                s += arrived[r, perm[j]]
            if not s > 0.0:
                continue
            for c in range(C):
                acc[c] = 0.0
            for j in range(a0, b0):
                e = perm[j]
                ae = arrived[r, e]
                if ae != 0.0:
                    for c in range(C):
                        acc[c] += ae * pipe_tag[r, e, c]
            old = on_hand_after[r, h] - s
            if old < 0.0:
                old = 0.0
            w = s / (old + s)
            for c in range(C):
                x = hold[r, h, c]
                hold[r, h, c] = x + (acc[c] / s - x) * w


@njit(cache=True, error_model="numpy")
def trace_produce(hold, before_out, used, made, in_hold, in_ptr, out_hold, out_ptr, keep, onehot, none,
                  single_input):  # pragma: no cover
    R = made.shape[0]
    C = hold.shape[2]
    F = out_ptr.shape[0] - 1
    tag = np.empty(C)
    for r in range(R):
        for f in range(F):
            o0, o1 = out_ptr[f], out_ptr[f + 1]
            moved = False
            for o in range(o0, o1):
                if made[r, o] > 0.0:
                    moved = True
            if not moved:
                continue
            i0, i1 = in_ptr[f], in_ptr[f + 1]
            if i1 == i0:
                for c in range(C):
                    tag[c] = none[c]
            elif single_input:
                for c in range(C):
                    tag[c] = hold[r, in_hold[i0], c]
            else:
                tot = 0.0
                for i in range(i0, i1):
                    tot += used[r, i]
                if tot > 0.0:
                    for c in range(C):
                        tag[c] = 0.0
                    for i in range(i0, i1):
                        ui = used[r, i]
                        if ui != 0.0:
                            for c in range(C):
                                tag[c] += ui * hold[r, in_hold[i], c]
                    for c in range(C):
                        tag[c] /= tot
                else:
                    for c in range(C):
                        tag[c] = none[c]
            for c in range(C):
                tag[c] = tag[c] * keep[f, c] + onehot[f, c]
            for o in range(o0, o1):
                m = made[r, o]
                if not m > 0.0:
                    continue
                h = out_hold[o]
                tot = before_out[r, o] + m
                w = m / (tot if tot > 0.0 else 1.0)
                for c in range(C):
                    x = hold[r, h, c]
                    hold[r, h, c] = x + (tag[c] - x) * w


@njit(cache=True, error_model="numpy")
def trace_ship(pipe_tag, hold, in_transit, shipped, src):  # pragma: no cover
    R, E = shipped.shape
    C = hold.shape[2]
    for r in range(R):
        for e in range(E):
            s = shipped[r, e]
            if not s > 0.0:
                continue
            tot = in_transit[r, e] + s
            w = s / (tot if tot > 0.0 else 1.0)
            h = src[e]
            for c in range(C):
                x = pipe_tag[r, e, c]
                pipe_tag[r, e, c] = x + (hold[r, h, c] - x) * w


@njit(cache=True, error_model="numpy")
def trace_release(hold, recv_before, recv, released, pile):  # pragma: no cover
    R, Q = released.shape
    C = hold.shape[2]
    mass = np.empty(Q)
    for r in range(R):
        for q in range(Q):
            h = recv[q]
            before = recv_before[r, q]
            for q2 in range(q - 1, -1, -1):
                if recv[q2] == h:
                    before = mass[q2]
                    break
            add = released[r, q]
            mass[q] = before + add
            if not add > 0.0:
                continue
            tot = before + add
            w = add / (tot if tot > 0.0 else 1.0)
            p = pile[q]
            for c in range(C):
                x = hold[r, h, c]
                hold[r, h, c] = x + (hold[r, p, c] - x) * w


@njit(cache=True, error_model="numpy")
def trace_consume(dep, also, hold, consumed, dem_hold, dem_market):  # pragma: no cover
    R, D = consumed.shape
    C = hold.shape[2]
    for r in range(R):
        for d in range(D):
            x = consumed[r, d]
            if x == 0.0:
                continue
            h = dem_hold[d]
            m = dem_market[d]
            for c in range(C):
                v = x * hold[r, h, c]
                dep[r, m, c] += v
                also[r, m, c] += v
