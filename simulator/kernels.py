"""Vectorised step kernels (docs/step-semantics.md), leading axis R.

Pure numpy: no RNG, no I/O, no SimPy, no Python loop over replicates, links or
holdings. Kernels update the state buffers they are given **in place** (the
buffers are preallocated once per run) and return the per-step flows the
metrics need. Shapes use the DESIGN letters (R, F, M, H, E, D, P, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Segments:
    """Sum the columns of an [R, K] array into groups ``target[K]`` with ``reduceat``.

    ``perm`` orders the K columns by target; ``starts`` are the segment starts
    in that order; ``uniq`` the target of each segment.
    """

    perm: I64
    starts: I64
    uniq: I64
    seg_of: I64  #: segment of each original column [K]

    @classmethod
    def build(cls, target: I64) -> "Segments":
        target = np.asarray(target, dtype=np.int64)
        perm = np.argsort(target, kind="stable")
        uniq, starts = np.unique(target[perm], return_index=True)
        seg_of = np.searchsorted(uniq, target)
        return cls(perm, starts.astype(np.int64), uniq, seg_of.astype(np.int64))

    def sum(self, x: F64) -> F64:
        """Per-segment sums of ``x[R, K]``, shape [R, len(uniq)]."""
        if x.shape[1] == 0:
            return np.zeros((x.shape[0], 0))
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


def build_plan(net: object) -> Plan:
    """Index helpers for a :class:`~simulator.network.Network`."""
    n = net  # duck-typed to avoid importing network here
    E = len(n.link_src)  # type: ignore[attr-defined]
    P = len(n.products)  # type: ignore[attr-defined]
    w = np.asarray(n.weight, dtype=float)  # type: ignore[attr-defined]
    dst = n.link_dst  # type: ignore[attr-defined]
    H = len(n.holdings)  # type: ignore[attr-defined]
    wsum = np.zeros(H)
    np.add.at(wsum, dst, w)
    wnorm = np.where(w > 0, w / np.where(wsum[dst] > 0, wsum[dst], 1.0), 0.0) if E else np.zeros(0)

    def onehot(idx: I64) -> F64:
        m = np.zeros((len(idx), P))
        m[np.arange(len(idx)), idx] = 1.0
        return m

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
    )


def arrive(on_hand: F64, in_transit: F64, pipe: F64, slot: int, plan: Plan) -> F64:
    """Shipments due in ring ``slot`` join the buyers' stock.

    Parameters
    ----------
    on_hand : [R, H] stock [t], updated in place.
    in_transit : [R, E] [t], updated in place.
    pipe : [R, E, W] shipments by arrival slot [t]; the slot is emptied.

    Returns
    -------
    arrived : [R, E] [t]
    """
    arrived = pipe[:, :, slot].copy()
    pipe[:, :, slot] = 0.0
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
    on_hand[:, oh] += made
    extra = np.maximum(0.0, on_hand[:, oh] - fg_target[:, oh] - backlog_out[:, oh])
    on_hand[:, oh] -= extra
    return activity, made, used_e, extra, backlog_out


def ship(
    on_hand: F64,
    backlog: F64,
    quota: F64,
    net: object,
    plan: Plan,
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
    want = np.minimum(backlog, quota) * plan.ship_mask
    total = plan.by_src.sum(want)  # [R, S_u]
    src = plan.by_src.uniq
    avail = on_hand[:, src]
    sent = np.minimum(total, avail)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, sent / np.where(total > 0, total, 1.0), 0.0)
    shipped = want * ratio[:, plan.by_src.seg_of]
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
) -> None:
    """Put shipments into the arrival ring (in place).

    ``lead_steps[E]`` when no link has extra lead time, else ``lead_steps_re[R, E]``.
    """
    R, E, W = pipe.shape
    in_transit += shipped
    if lead_steps_re is None:
        slot = (t + lead_steps) % W  # type: ignore[operator]
        pipe[:, np.arange(E), slot] += shipped
    else:
        slot = (t + lead_steps_re) % W
        pipe[np.arange(R)[:, None], np.arange(E)[None, :], slot] += shipped


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
    weights : [E] or [R, E] position shares (sum 1 over a holding's links; 0: no orders).

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
