"""Vectorised step kernels (docs/step-semantics.md), leading axis R.

No RNG, no I/O, no SimPy, no Python loop over replicates, links or holdings.
Kernels update the state buffers they are given **in place** (the buffers are
preallocated once per run, see :class:`Scratch`) and return the per-step flows
the metrics need. Shapes use the DESIGN letters (R, F, M, H, E, D, P, W).

These are the numpy backend. The numba backend (``simulator/_numba_kernel.py``, run by ``_numba_step.py``,
used when numba imports and ``REESIM_BACKEND`` is not ``numpy``) runs a whole
step, these kernels included, replicate by replicate in one compiled call; it
adds in the same order (a segment sum is ``x0 + pairwise(x1, ...)``, as
``np.add.reduceat``), so stocks and flows of both agree to the last bit in
practice; see ``benchmarks/README.md`` for what each gains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

from .exceptions import UsageError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

# --------------------------------------------------------------------------- backend

_NB: ModuleType | None = None  #: the compiled whole-step kernel when a compiled backend (numba, native) is active
_NAME = "numpy"  #: the active backend
_AUTO = False  #: native chosen by ``auto`` and its library not tried yet


def _import_numba() -> ModuleType | None:
    try:
        from . import _numba_step
    except ImportError:
        return None
    return _numba_step


def _import_native() -> tuple[ModuleType | None, str]:
    """The native step (``_native_step``, SIMD across replicates in C++, built on first use), or None and why not."""
    if _import_numba() is None:
        return None, "the native backend needs numba too (for traced replicates): pip install 'reesim[fast]'"
    from . import _native_step

    lib, why = _native_step.load()
    return (_native_step, "") if lib is not None else (None, f"the native backend is unavailable: {why}")


def set_backend(name: str = "auto") -> str:
    """Choose the kernels: ``native`` (numba's kernel plus SIMD across replicates in C++ for the untraced
    replicates), ``numba``, ``numpy`` or ``auto``; return the choice.

    ``auto`` takes native where numba imports and a C++ compiler is found, numba where only numba
    imports, else numpy. The native library is then built (or loaded from its cache) on first use,
    not here, and if that fails the run goes on with numba's kernel (the same results) and
    :func:`backend` says ``numba``.

    Raises
    ------
    ImportError
        When ``numba`` or ``native`` is asked for and cannot be had.
    """
    global _NB, _NAME, _AUTO
    name = (name or "auto").strip().lower()
    if name not in ("auto", "numba", "native", "numpy"):
        raise ValueError(f"unknown backend {name!r}: use native, numba, numpy or auto")
    _AUTO = False
    if name == "native":
        mod, why = _import_native()
        if mod is None:
            raise ImportError(why)
        _NB, _NAME = mod, "native"
        return backend()
    mod = None if name == "numpy" else _import_numba()
    if name == "numba" and mod is None:
        raise ImportError("the numba backend needs numba: pip install 'reesim[fast]'")
    _NB, _NAME = mod, ("numba" if mod is not None else "numpy")
    if name == "auto" and mod is not None:
        from . import _native_step

        if _native_step.compiler() is not None:
            _NB, _NAME, _AUTO = _native_step, "native", True
            return _NAME  # not built here: on first use (backend() then tells whether it was)
    return backend()


def backend() -> str:
    """The active backend, ``native``, ``numba`` or ``numpy`` (for ``auto``'s native, after building or
    loading its library: ``numba`` when that failed)."""
    global _NB, _NAME, _AUTO
    if _AUTO:
        _AUTO = False
        if _NB is not None and _NB.load()[0] is None:
            _NB, _NAME = _import_numba(), "numba"
    return _NAME


def compiled() -> ModuleType | None:
    """The compiled-step module when a compiled backend (native or numba) is active, else None. The native
    one runs numba's kernel where its library could not be built (``_native_step.step``)."""
    return _NB


try:
    set_backend(os.environ.get("REESIM_BACKEND", "auto") or "auto")
except (ValueError, ImportError) as _exc:  # the command line says so, without a traceback
    raise UsageError(f"REESIM_BACKEND={os.environ.get('REESIM_BACKEND')!r}: {_exc}") from None


# --------------------------------------------------------------------------- index helpers


@dataclass(frozen=True)
class Segments:
    """Sum the columns of an [R, K] array into groups ``target[K]`` with ``reduceat``.

    ``perm`` orders the K columns by target (stable); ``starts`` are the segment
    starts in that order; ``uniq`` the target of each segment. ``reduceat`` adds
    a segment as ``x0 + pairwise(x1, x2, ...)`` (numpy's pairwise summation); the
    compiled kernels add in exactly that order. ``first`` holds each segment's
    first column and ``ranks`` the (segments, columns) of its second, third, ...
    columns, for sums of [R, K, C] arrays (:func:`seg_sum3`).
    """

    perm: I64
    starts: I64
    uniq: I64
    seg_of: I64  #: segment of each original column [K]
    first: I64
    ranks: tuple[tuple[I64, I64], ...]
    single: bool  #: every segment has one column

    @classmethod
    def build(cls, target: I64) -> Segments:
        target = np.asarray(target, dtype=np.int64)
        perm = np.argsort(target, kind="stable").astype(np.int64)
        uniq, starts = np.unique(target[perm], return_index=True)
        seg_of = np.searchsorted(uniq, target).astype(np.int64)
        ends = np.append(starts[1:], len(target)).astype(np.int64)
        ranks = []
        for k in range(1, int((ends - starts).max()) if len(target) else 0):
            segs = np.flatnonzero(ends - starts > k)
            ranks.append((segs.astype(np.int64), perm[starts[segs] + k]))
        return cls(perm, starts.astype(np.int64), uniq.astype(np.int64), seg_of, perm[starts].astype(np.int64),
                   tuple(ranks), not ranks)

    def sum(self, x: F64) -> F64:
        """Per-segment sums of ``x[R, K]``, shape [R, len(uniq)]."""
        if x.shape[1] == 0:
            return np.zeros((x.shape[0], 0))
        if self.single:
            return x[:, self.perm]
        return np.add.reduceat(x[:, self.perm], self.starts, axis=1)

    def scatter_add(self, out: F64, x: F64) -> None:
        """``out[:, target] += x`` with repeated targets summed, in place."""
        if x.shape[1]:
            out[:, self.uniq] += self.sum(x)


@dataclass(frozen=True)
class Plan:
    """Index helpers the kernels reuse every step, built once from a Network."""

    by_dst: Segments  #: links grouped by buyer holding
    by_src: Segments  #: links grouped by supplier holding
    wnorm: F64  #: link weight / sum of weights into its buyer holding [E]
    ship_mask: F64  #: 1 for links that ship against backlog, 0 from stockpiles [E]
    out_prod: F64  #: one-hot product of each output entry [O, P]
    in_prod: F64  #: [I, P]
    dem_prod: F64  #: [D, P]
    hold_prod: F64  #: [H, P]
    link_prod: F64  #: [E, P]
    # arrival ring: link e owns rows ring_off[e] .. ring_off[e] + ring_len[e] - 1 of the [L, R] ring
    ring_off: I64
    ring_len: I64
    ring_rows: int
    # contiguous int64 / float64 copies for the compiled kernels
    src: I64
    dst: I64
    lead: I64
    out_hold: I64
    out_coef: F64
    out_ptr: I64  #: producer f's outputs are entries out_ptr[f] .. out_ptr[f+1]-1 [F+1]
    in_hold: I64
    in_coef: F64
    in_ptr: I64  #: [F+1]
    dem_hold: I64
    dem_bo: B
    hold_dem: I64  #: demand entry whose market holding it is, -1 otherwise [H]


def build_plan(net: object, extra_steps: int | I64 = 0) -> Plan:
    """Index helpers for a :class:`~simulator.network.Network`.

    ``extra_steps`` is the most extra lead time [steps] events may add to each link (one
    number for all, or one per link): link e's arrival ring has ``lead_steps[e] + extra_steps[e] + 2`` rows.
    """
    n = net  # duck-typed to avoid importing network here
    E = len(n.link_src)  # type: ignore[attr-defined]
    P = len(n.products)  # type: ignore[attr-defined]
    F = len(n.producers)  # type: ignore[attr-defined]
    w = np.asarray(n.weight, dtype=float)  # type: ignore[attr-defined]
    dst = np.asarray(n.link_dst, dtype=np.int64)  # type: ignore[attr-defined]
    H = len(n.holdings)  # type: ignore[attr-defined]
    wsum = np.zeros(H)
    np.add.at(wsum, dst, w)
    wnorm = np.where(w > 0, w / np.where(wsum[dst] > 0, wsum[dst], 1.0), 0.0) if E else np.zeros(0)

    def onehot(idx: I64) -> F64:
        m = np.zeros((len(idx), P))
        m[np.arange(len(idx)), idx] = 1.0
        return m

    def i64(a: object) -> I64:
        return np.ascontiguousarray(a, dtype=np.int64)

    def f64(a: object) -> F64:
        return np.ascontiguousarray(a, dtype=np.float64)

    lead = i64(n.lead_steps)  # type: ignore[attr-defined]
    ring_len = lead + np.asarray(extra_steps, dtype=np.int64) + 2
    ring_off = np.concatenate([[0], np.cumsum(ring_len)[:-1]]).astype(np.int64) if E else np.zeros(0, np.int64)
    dem_hold = i64(n.dem_hold)  # type: ignore[attr-defined]
    hold_dem = np.full(H, -1, dtype=np.int64)
    hold_dem[dem_hold] = np.arange(len(dem_hold))
    hp = n.hold_product  # type: ignore[attr-defined]
    return Plan(
        by_dst=Segments.build(dst),
        by_src=Segments.build(n.link_src),  # type: ignore[attr-defined]
        wnorm=wnorm,
        ship_mask=(~np.asarray(n.link_from_pile)).astype(float),  # type: ignore[attr-defined]
        out_prod=onehot(hp[n.out_hold]),  # type: ignore[attr-defined]
        in_prod=onehot(hp[n.in_hold]),  # type: ignore[attr-defined]
        dem_prod=onehot(hp[n.dem_hold]),  # type: ignore[attr-defined]
        hold_prod=onehot(hp),
        link_prod=onehot(n.link_product),  # type: ignore[attr-defined]
        ring_off=ring_off,
        ring_len=ring_len,
        ring_rows=int(ring_len.sum()),
        src=i64(n.link_src),  # type: ignore[attr-defined]
        dst=dst,
        lead=lead,
        out_hold=i64(n.out_hold),  # type: ignore[attr-defined]
        out_coef=f64(n.out_coef),  # type: ignore[attr-defined]
        out_ptr=i64(np.searchsorted(n.out_fac, np.arange(F + 1))),  # type: ignore[attr-defined]
        in_hold=i64(n.in_hold),  # type: ignore[attr-defined]
        in_coef=f64(n.in_coef),  # type: ignore[attr-defined]
        in_ptr=i64(np.searchsorted(n.in_fac, np.arange(F + 1))),  # type: ignore[attr-defined]
        dem_hold=dem_hold,
        dem_bo=np.ascontiguousarray(n.dem_backorder, dtype=np.bool_),  # type: ignore[attr-defined]
        hold_dem=hold_dem,
    )


class Scratch:
    """Per-step output buffers of the kernels for R replicates, allocated once per run.

    Kernels given a Scratch write their results into it (and return those
    arrays), so a step allocates no [R, ...] arrays; the arrays are overwritten
    at the next step (observers copy what they keep, as for the state).
    """

    def __init__(self, net: object, R: int):
        s = net.sizes  # type: ignore[attr-defined]
        E, H, F = s["E"], s["H"], s["F"]
        O, I = len(net.out_hold), len(net.in_hold)  # type: ignore[attr-defined]
        z = np.zeros
        self.arrived, self.shipped, self.orders = z((R, E)), z((R, E)), z((R, E))
        self.activity, self.made, self.used, self.extra = z((R, F)), z((R, O)), z((R, I)), z((R, O))
        self.backlog_out = z((R, H))


def seg_sum3(seg: Segments, x: F64, w: F64) -> F64:
    """Per-segment sums of ``w[R, K, None] * x[R, K, C]``, [R, U, C], one pass per rank."""
    out = x[:, seg.first] * w[:, seg.first, None]
    for segs, cols in seg.ranks:
        out[:, segs] += x[:, cols] * w[:, cols, None]
    return out


# --------------------------------------------------------------------------- kernels


def arrive(on_hand: F64, in_transit: F64, pipe: F64, t: int, plan: Plan, out: Scratch | None = None) -> F64:
    """Shipments due at step ``t`` join the buyers' stock.

    Parameters
    ----------
    on_hand : [R, H] stock [t], updated in place.
    in_transit : [R, E] [t], updated in place.
    pipe : [L, R] shipments by arrival row [t] (link e's row for step t is
        ``ring_off[e] + t % ring_len[e]``); the due rows are emptied.

    Returns
    -------
    arrived : [R, E] [t]
    """
    arrived = out.arrived if out is not None else np.empty(in_transit.shape)
    rows = plan.ring_off + t % plan.ring_len
    arrived[...] = pipe[rows].T
    pipe[rows] = 0.0
    in_transit -= arrived
    np.maximum(in_transit, 0.0, out=in_transit)
    plan.by_dst.scatter_add(on_hand, arrived)
    return arrived


def ramp_factor(t: int, online_step: F64, ramp_steps: F64) -> F64:
    """Share of capacity available at step t from commissioning and ramp-up [F]."""
    since = t - online_step
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ramp_steps > 0, np.minimum(1.0, (since + 1.0) / np.where(ramp_steps > 0, ramp_steps, 1.0)), 1.0)
    return np.where(since >= 0, r, 0.0)


def produce(
    on_hand: F64,
    backlog: F64,
    fg_target: F64,
    capacity: F64,
    net: object,
    plan: Plan,
    out: Scratch | None = None,
) -> tuple[F64, F64, F64, F64, F64]:
    """Run every process at min(capacity, scarcest input, activity needed).

    Parameters
    ----------
    on_hand : [R, H] [t], updated in place.
    backlog : [R, E] [t] ordered, not yet shipped.
    fg_target : [R, H] finished-goods targets [t] (out holdings).
    capacity : [R, F] activity available this step.

    Returns
    -------
    activity [R, F]; made [R, O], used [R, I] and surplus [R, O] per recipe entry [t];
    backlog_out [R, H]
    """
    n = net
    R, H = on_hand.shape
    backlog_out = np.zeros((R, H))
    plan.by_src.scatter_add(backlog_out, backlog)
    oh = n.out_hold  # type: ignore[attr-defined]
    oc = n.out_coef  # type: ignore[attr-defined]
    want = (backlog_out[:, oh] + fg_target[:, oh] - on_hand[:, oh]) / oc
    need = np.maximum.reduceat(want, n.out_starts, axis=1)  # type: ignore[attr-defined]
    limit = np.full_like(capacity, np.inf)
    ih = n.in_hold  # type: ignore[attr-defined]
    ic = n.in_coef  # type: ignore[attr-defined]
    if len(ih):
        ratio = on_hand[:, ih] / ic
        limit[:, n.in_facs_with] = np.minimum.reduceat(ratio, n.in_starts, axis=1)  # type: ignore[attr-defined]
    activity = np.maximum(0.0, np.minimum(np.minimum(capacity, limit), need))
    before_in = on_hand[:, ih]
    after_in = np.maximum(0.0, before_in - activity[:, n.in_fac] * ic)  # type: ignore[attr-defined]
    used_e = before_in - after_in  # what actually left the stock (rounding included)
    on_hand[:, ih] = after_in
    made = activity[:, n.out_fac] * oc  # type: ignore[attr-defined]
    new = on_hand[:, oh] + made
    extra = np.maximum(0.0, new - fg_target[:, oh] - backlog_out[:, oh])
    on_hand[:, oh] = new - extra
    return activity, made, used_e, extra, backlog_out


def ship(
    on_hand: F64,
    backlog: F64,
    quota: F64,
    net: object,
    plan: Plan,
    out: Scratch | None = None,
) -> F64:
    """Ship against backlog, within each link's quota, rationed pro rata when short.

    Parameters
    ----------
    on_hand : [R, H] [t], updated in place (supplier holdings fall).
    backlog : [R, E] [t], updated in place; what a quota withholds stays on it.
    quota : [R, E] most a link may carry this step [t] (``inf`` when fully open;
        ``link_open * reference flow`` under an export control).

    Returns
    -------
    shipped : [R, E] [t]
    """
    shipped = out.shipped if out is not None else np.empty(backlog.shape)
    want = np.minimum(backlog, quota)
    want *= plan.ship_mask
    total = plan.by_src.sum(want)  # [R, S_u]
    src = plan.by_src.uniq
    avail = on_hand[:, src]
    sent = np.minimum(total, avail)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, sent / np.where(total > 0, total, 1.0), 0.0)
    np.multiply(want, ratio[:, plan.by_src.seg_of], out=shipped)
    backlog -= shipped
    np.maximum(backlog, 0.0, out=backlog)
    on_hand[:, src] = avail - sent
    return shipped


def dispatch(
    pipe: F64,
    in_transit: F64,
    shipped: F64,
    t: int,
    lead_steps: I64 | None,
    lead_steps_re: I64 | None,
    plan: Plan,
) -> None:
    """Put shipments into the arrival ring (in place).

    ``lead_steps[E]`` when no link has extra lead time, else ``lead_steps_re[R, E]``.
    """
    in_transit += shipped
    if lead_steps_re is None:
        rows = plan.ring_off + (t + np.asarray(lead_steps)) % plan.ring_len
        pipe[rows] += shipped.T
    else:
        rows = plan.ring_off + (t + lead_steps_re) % plan.ring_len
        pipe[rows, np.arange(pipe.shape[1])[:, None]] += shipped


def consume(
    on_hand: F64,
    backorder: F64,
    demand: F64,
    net: object,
) -> tuple[F64, F64]:
    """Markets consume from stock; unmet demand is lost or backordered.

    Parameters
    ----------
    on_hand : [R, H] [t], updated in place.
    backorder : [R, D] [t], updated in place.
    demand : [R, D] demand arising this step [t].

    Returns
    -------
    served : [R, D] demand met from stock on the day it arose [t]
    consumed : [R, D] served plus old backorders served [t]
    """
    dh = net.dem_hold  # type: ignore[attr-defined]
    bo_mask = net.dem_backorder  # type: ignore[attr-defined]
    oh = on_hand[:, dh]
    back = np.where(bo_mask, np.minimum(oh, backorder), 0.0)
    oh = oh - back
    served = np.minimum(oh, demand)
    oh = oh - served
    on_hand[:, dh] = oh
    backorder -= back
    backorder += np.where(bo_mask, demand - served, 0.0)
    return served, back + served


def position_shares(weights: F64, lead_steps: I64, plan: Plan) -> F64:
    """Each link's share of its buyer's position: weight x (lead + 1), normalised per buyer.

    A link holds ``share x gap`` in its pipeline, which lasts ``lead + 1`` steps, so in
    steady state the flows split by weight whatever the lead times.
    """
    x = np.atleast_2d(weights * (lead_steps + 1.0))
    tot = plan.by_dst.sum(x)[:, plan.by_dst.seg_of] if x.shape[1] else x
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x / np.where(tot > 0, tot, 1.0), 0.0)


def order(
    on_hand: F64,
    backlog: F64,
    in_transit: F64,
    backorder: F64,
    order_up_to: F64,
    weights: F64,
    net: object,
    plan: Plan | None = None,
    out: Scratch | None = None,
) -> F64:
    """Order up to ``order_up_to``, each link for its share of the position.

    Link e into holding h orders
    ``max(0, s_e * (S_h - on_hand_h + backorder_h) - (in_transit_e + backlog_e))``
    with ``s_e`` from :func:`position_shares`: orders stuck on one link (an export
    control) do not stop the buyer's other links from ordering.

    Parameters
    ----------
    backlog : [R, E] [t], updated in place (orders join it).
    order_up_to : [R, H] [t].
    weights : [E], [1, E] or [R, E] position shares (sum 1 over a holding's links; 0: no orders).

    Returns
    -------
    orders : [R, E] [t]
    """
    gap = order_up_to - on_hand
    gap[:, net.dem_hold] += backorder  # type: ignore[attr-defined]
    orders = np.maximum(0.0, weights * gap[:, net.link_dst] - in_transit - backlog)  # type: ignore[attr-defined]
    orders *= weights > 0
    backlog += orders
    return orders
