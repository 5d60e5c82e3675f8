"""Compiled pieces of the whole-step kernel (:mod:`simulator._numba_kernel`).

Sums over index segments in the order numpy computes them (so both backends agree
to the last bit), the mass-weighted mixing of origin tags, and the order shares
when links are left out of ordering (re-routing, plants not yet online).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Index arrays, their positions and counts are unsigned (np.uint64) in the step: numba adds no
# negative-index wrap-around to an access with an unsigned index. Arithmetic on them stays
# unsigned (numba turns uint64 mixed with int64 into float64): U1, U2, U8 below.
U1 = np.uint64(1)
U2 = np.uint64(2)
U8 = np.uint64(8)

# --------------------------------------------------------------------------- sums in numpy's order


@njit(cache=True, error_model="numpy", inline="always")
def _pw(x, r, perm, a, n):  # pragma: no cover - compiled
    """numpy's pairwise sum of ``x[r, perm[a:a+n]]`` for n <= 128 (``a``, ``n`` unsigned): one by one
    from -0.0 below 8 values (a sum of -0.0 stays -0.0), else into eight partial sums."""
    if n < U8:
        res = -0.0
        for i in range(n):
            res += x[r, perm[a + i]]
        return res
    r0 = x[r, perm[a]]
    r1 = x[r, perm[a + U1]]
    r2 = x[r, perm[a + U2]]
    r3 = x[r, perm[a + np.uint64(3)]]
    r4 = x[r, perm[a + np.uint64(4)]]
    r5 = x[r, perm[a + np.uint64(5)]]
    r6 = x[r, perm[a + np.uint64(6)]]
    r7 = x[r, perm[a + np.uint64(7)]]
    i = U8
    while i < n - (n % U8):
        r0 += x[r, perm[a + i]]
        r1 += x[r, perm[a + i + U1]]
        r2 += x[r, perm[a + i + U2]]
        r3 += x[r, perm[a + i + np.uint64(3)]]
        r4 += x[r, perm[a + i + np.uint64(4)]]
        r5 += x[r, perm[a + i + np.uint64(5)]]
        r6 += x[r, perm[a + i + np.uint64(6)]]
        r7 += x[r, perm[a + i + np.uint64(7)]]
        i += U8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[r, perm[a + i]]
        i += U1
    return res


@njit(cache=True, error_model="numpy")
def _pairwise(x, r, perm, a, n):  # pragma: no cover - compiled
    """``sum(x[r, perm[a:a+n]])`` in the order of numpy's pairwise summation (``a``, ``n`` unsigned)."""
    if n <= np.uint64(128):
        return _pw(x, r, perm, a, n)
    n2 = n // U2
    n2 -= n2 % U8
    return _pairwise(x, r, perm, a, n2) + _pairwise(x, r, perm, a + n2, n - n2)


@njit(cache=True, error_model="numpy", inline="always")
def _ss(x, r, perm, a, b):  # pragma: no cover - compiled
    """``x[r, perm[a]] + pairwise(x[r, perm[a+1:b]])``: a segment's sum as ``np.add.reduceat`` adds it.

    The pairwise part up to 128 values (:func:`_pw`) is inlined into the step: a call to a
    compiled function passes its arrays with reference counting (atomic increments and
    decrements around every call), which cost ~10 % of the step where segments of 10-30
    links went through a call. Only segments of more than 129 columns call :func:`_pairwise`.
    """
    x0 = x[r, perm[a]]
    n = b - a
    if n == U1:
        return x0
    if n - U1 > np.uint64(128):
        return x0 + _pairwise(x, r, perm, a + U1, n - U1)
    return x0 + _pw(x, r, perm, a + U1, n - U1)


@njit(cache=True, error_model="numpy", inline="always")
def _mix(tags, r, x, src_tags, rs, xs, w, C):  # pragma: no cover - compiled
    """tags[r, x] += w * (src_tags[rs, xs] - tags[r, x])."""
    for c in range(C):
        v = tags[r, x, c]
        tags[r, x, c] = v + (src_tags[rs, xs, c] - v) * w


@njit(cache=True, error_model="numpy", inline="always")
def _reroute_shares(blk, r, ro, E, weights_out, orders, backlog, dst_uniq, dst_starts, dst_ends, dst_perm,
                    base_seg, wnorm, lead1, rr_keep, rr_sh, rr_eff):  # pragma: no cover - compiled
    """Order shares of replicate r when links are left out (``weights_out`` row: their weights zeroed;
    ``orders`` row: 1 on re-routed links): the left-out weight moves to the buyer's other links, or
    back to all of them when none is left (``keep``), and re-routed links' backlogs are cancelled.
    Shares, normalised weights and keep flags go to the block's row of ``rr_sh``, ``rr_eff``, ``rr_keep``."""
    for u in range(np.uint64(dst_uniq.shape[0])):
        a0 = dst_starts[u]
        b0 = dst_ends[u]
        wsum = _ss(weights_out, ro, dst_perm, a0, b0)
        keep = wsum <= 0.0
        for j in range(a0, b0):
            e = dst_perm[j]
            rr_keep[blk, e] = 1.0 if keep else 0.0
            if orders[ro, e] > 0.0 and not keep:
                backlog[r, e] = 0.0
            if keep:
                bs = base_seg[u]
                eff = wnorm[e] / (bs if bs > 0 else 1.0)
            else:
                eff = weights_out[ro, e] / (wsum if wsum > 0 else 1.0)
            weights_out[ro, e] = eff if wnorm[e] > 0 else 0.0
    for e in range(E):
        orders[ro, e] = weights_out[ro, e] * lead1[e]  # x of position_shares
        rr_eff[blk, e] = weights_out[ro, e]
    for u in range(np.uint64(dst_uniq.shape[0])):
        a0 = dst_starts[u]
        b0 = dst_ends[u]
        tot = _ss(orders, ro, dst_perm, a0, b0)
        for j in range(a0, b0):
            e = dst_perm[j]
            x = orders[ro, e]
            rr_sh[blk, e] = x / (tot if tot > 0 else 1.0) if x > 0 else 0.0
