"""Diversification mechanics (docs/step-semantics.md, second half), vectorised.

Stockpile release channels, re-routing, recycling and substitution: compiled
once into index arrays (:func:`compile_mechanics`), then applied by pure
numpy functions with a leading replicate axis R. Axis letters: Q release
channels, C recyclers, D demand entries, E links, H holdings.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .network import Network
from .scenario.types import FixedDist, LognormalDist, TriangularDist, UniformDist

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
N_LIFETIMES = 32


#: a receiver triggers a release when its stock is below the threshold by more than this share of it: a
#: release tops the receiver up to the threshold exactly, and whether it then counts as below was left to
#: the last bit of the rounding (the oracle and the engine disagreed at 7-day steps)
TRIGGER_TIE = 1e-9


@dataclass(frozen=True)
class Mechanics:
    """Index arrays of the diversification mechanics of one network."""

    # stockpile release channels [Q]
    ch_pile: I64  #: stockpile holding
    ch_recv: I64  #: receiver holding
    ch_stockpile: I64  #: stockpile index
    ch_holding: I64  #: index of its stockpile holding in ``pile_holdings`` (releases are counted per holding)
    ch_cover_days: F64  #: trigger threshold [d]
    ch_max_step: F64  #: largest release per step [t]
    pile_cost_step: F64  #: holding cost per t per step [USD/t] [H]
    pile_holdings: I64  #: holdings of kind pile
    pile_of_holding: I64  #: stockpile index of each pile holding
    pile_channels: list[I64]  #: channels of each pile holding (same order as pile_holdings)
    # recyclers [C]
    rec_producer: I64  #: producer index of each recycler
    rec_scrap_hold: I64  #: its scrap holding
    rec_dem: list[I64]  #: demand entries it collects from
    rec_recovery: F64  #: [C]
    rec_lifetimes: list[I64]  #: lifetimes in steps (nb values, equally likely)
    legacy_scrap: F64  #: scrap from pre-horizon consumption [T, C] [t]
    # substitution [D]
    sub_fraction: F64
    sub_after: F64  #: short days that trigger adoption [d]
    sub_adopt_steps: F64
    sub_threshold: F64
    has_sub: B


def lifetime_quantiles(dist: object, n: int = N_LIFETIMES) -> list[float]:
    """Equally likely lifetimes [d]: the value itself, or the n mid-quantiles."""
    if isinstance(dist, (int, float)):
        return [float(dist)]
    if isinstance(dist, FixedDist):
        return [dist.fixed]
    us = [(j + 0.5) / n for j in range(n)]
    if isinstance(dist, UniformDist):
        lo, hi = dist.uniform.low, dist.uniform.high
        return [lo + (hi - lo) * u for u in us]
    if isinstance(dist, TriangularDist):
        lo, mo, hi = dist.triangular.low, dist.triangular.mode, dist.triangular.high
        c = (mo - lo) / (hi - lo) if hi > lo else 0.5
        return [
            lo + math.sqrt(u * (hi - lo) * (mo - lo)) if u < c else hi - math.sqrt((1 - u) * (hi - lo) * (hi - mo))
            for u in us
        ]
    if isinstance(dist, LognormalDist):
        med, p95 = dist.lognormal.median, dist.lognormal.p95
        sigma = math.log(p95 / med) / 1.6448536269514722
        nd = statistics.NormalDist()
        return [med * math.exp(sigma * nd.inv_cdf(u)) for u in us]
    raise TypeError(f"not a distribution: {dist!r}")


def compile_mechanics(net: Network) -> Mechanics:
    """Release channels, recycler collection and substitution rules as arrays."""
    sc = net.scenario
    hidx = {h: i for i, h in enumerate(net.holdings)}
    step, T = net.step_days, net.n_steps
    chp, chr_, chs, chc, chm = [], [], [], [], []
    cost = np.zeros(len(net.holdings))
    for s, sid in enumerate(net.stockpiles):
        pile = sc.stockpiles[sid]
        for p in pile.holds:
            h = hidx[(sid, p, "pile")]
            cost[h] = pile.holding_cost / 365.0 * step
            if pile.release is None:
                continue
            for rid in pile.release.to:
                key = (rid, p, "mkt") if rid in sc.markets else (rid, p, "in")
                if key not in hidx:
                    continue  # receiver does not use this product
                chp.append(h)
                chr_.append(hidx[key])
                chs.append(s)
                chc.append(pile.release.when_cover_below_days)
                chm.append(pile.release.max_per_day * step)
    pile_h = np.flatnonzero(np.asarray(net.hold_kind) == 4)
    ch_pile = np.array(chp, dtype=np.int64)
    rec_p, rec_h, rec_d, rec_r, rec_l = [], [], [], [], []
    legacy: list[F64] = []
    for c, (rid, rec) in enumerate(sc.recyclers.items()):
        rec_p.append(net.producers.index(rid))
        rec_h.append(hidx[(rid, rec.collects.product, "scrap")])
        dems = [
            d for d in range(len(net.dem_rate))
            if net.markets[net.dem_market[d]] in rec.collects.from_
            and net.products[net.hold_product[net.dem_hold[d]]] == rec.collects.product
        ]
        rec_d.append(np.array(dems, dtype=np.int64))
        rec_r.append(rec.collects.recovery)
        lts = np.array([max(1, round(x / step)) for x in lifetime_quantiles(rec.collects.lifetime_days)], dtype=np.int64)
        rec_l.append(lts)
        leg = np.zeros(T)
        nb = len(lts)
        # nominal consumption at each pre-horizon step u = -1, -2, ... (shared by the lifetimes)
        u_max = int(lts.max()) if nb else 0
        u = -np.arange(1, u_max + 1, dtype=float)
        rate, grow = np.asarray(net.dem_rate)[dems], 1.0 + np.asarray(net.dem_growth)[dems]
        bases = (rate[None, :] * grow[None, :] ** (u[:, None] * step / 365.0)).sum(axis=1)  # bases[k]: u = -(k+1)
        for lt in lts:
            n = min(T, int(lt))
            t = np.arange(n)
            leg[t] += rec.collects.recovery * bases[int(lt) - t - 1] / nb
        legacy.append(leg)
    D = len(net.dem_rate)
    frac, after, adopt, thr, has = np.zeros(D), np.zeros(D), np.zeros(D), np.ones(D), np.zeros(D, dtype=bool)
    for d in range(D):
        mk = sc.markets[net.markets[net.dem_market[d]]]
        p = net.products[net.hold_product[net.dem_hold[d]]]
        for rule in mk.substitution:
            if rule.product == p:
                frac[d], after[d], thr[d], has[d] = rule.fraction, rule.after_shortfall_days, rule.threshold, True
                adopt[d] = math.ceil(rule.adoption_days / step)
    return Mechanics(
        ch_pile=ch_pile,
        ch_recv=np.array(chr_, dtype=np.int64),
        ch_stockpile=np.array(chs, dtype=np.int64),
        ch_holding=np.searchsorted(pile_h, ch_pile).astype(np.int64),
        ch_cover_days=np.array(chc, dtype=float),
        ch_max_step=np.array(chm, dtype=float),
        pile_cost_step=cost,
        pile_holdings=pile_h,
        pile_of_holding=np.asarray(net.hold_owner)[pile_h],
        pile_channels=[np.flatnonzero(ch_pile == h) for h in pile_h],
        rec_producer=np.array(rec_p, dtype=np.int64),
        rec_scrap_hold=np.array(rec_h, dtype=np.int64),
        rec_dem=rec_d,
        rec_recovery=np.array(rec_r, dtype=float),
        rec_lifetimes=rec_l,
        legacy_scrap=np.stack(legacy, axis=1) if legacy else np.zeros((T, 0)),
        sub_fraction=frac,
        sub_after=after,
        sub_adopt_steps=adopt,
        sub_threshold=thr,
        has_sub=has,
    )


# --------------------------------------------------------------------------- stockpiles


class PileSetUp:
    """Stockpiles set up during the run (``online``): empty and with no refill target until their step, at
    the start of which they receive their initial stock (mass entering the chain, bought outside it) and
    their target (docs/step-semantics.md, "Set-up date")."""

    def __init__(self, net: Any, T: int) -> None:
        self.net = net
        on = net.pile_online_step
        self.initial = np.where(on > 0, 0.0, net.pile_initial)  #: stock of pile holdings at the start [H]
        self.target = np.where(on > 0, 0.0, net.pile_target)  #: refill targets of those set up so far [H]
        #: step -> the pile holdings set up at its start
        self.steps = {int(s): np.flatnonzero(on == s) for s in np.unique(on[(on > 0) & (on < T)])}
        self._none = np.zeros(len(net.products))
        self.stocked = self._none  #: tonnes by product received at the last step applied [P]

    def apply(self, t: int, on_hand: F64, order_up_to: F64, exp_use: F64, flows: F64) -> None:
        """Set up the stockpiles of step t (in place): their stock, its mass in ``flows``, their targets."""
        hs = self.steps.get(t)
        self.stocked = self._none
        if hs is None:
            return
        net = self.net
        on_hand[:, hs] += net.pile_initial[hs]
        self.stocked = np.zeros_like(self._none)
        np.add.at(self.stocked, np.asarray(net.hold_product)[hs], net.pile_initial[hs])
        flows += self.stocked
        self.target[hs] = net.pile_target[hs]
        order_up_to[:, hs] = net.cover_days[hs] * exp_use[:, hs] + self.target[hs]


def triggers(on_hand: F64, exp_use: F64, mech: Mechanics, released: F64) -> B:
    """Channels whose receiver's cover is below the release threshold, or that released this step [R, Q].

    A release tops its receiver up to the threshold, which is not below it: without the second
    clause a plant that uses its input before the release (phase 3) was triggered every other day,
    and its stockpile re-ordered on the days between, buying back what it released.
    """
    thr = mech.ch_cover_days * exp_use[:, mech.ch_recv]
    return (on_hand[:, mech.ch_recv] < thr - thr * TRIGGER_TIE) | (released > 0.0)


def release(on_hand: F64, exp_use: F64, triggered: B, allowed: F64, mech: Mechanics) -> F64:
    """Release stockpile stock to triggered receivers (in place); return [R, Q] released [t].

    ``allowed`` [R] is 1 where the ``stockpile_release`` policy is on, else 0.
    """
    Q = len(mech.ch_pile)
    if Q == 0:
        return np.zeros((on_hand.shape[0], 0))
    recv = mech.ch_recv
    gap = np.maximum(0.0, mech.ch_cover_days * exp_use[:, recv] - on_hand[:, recv])
    want = np.minimum(mech.ch_max_step, gap) * triggered * allowed[:, None]
    # pro rata per stockpile holding
    uniq, inv = np.unique(mech.ch_pile, return_inverse=True)
    total = np.zeros((on_hand.shape[0], len(uniq)))
    for j in range(len(uniq)):  # loop over stockpile holdings (a handful), not replicates
        total[:, j] = want[:, inv == j].sum(axis=1)
    avail = on_hand[:, uniq]
    give = np.minimum(total, avail)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total > 0, give / np.where(total > 0, total, 1.0), 0.0)
    out = want * ratio[:, inv]
    on_hand[:, uniq] = avail - give
    np.add.at(on_hand, (slice(None), recv), out)
    return out


# --------------------------------------------------------------------------- re-routing


def reroute(
    closed_for: F64,
    link_open: F64,
    closed_below: float,
    reroute_steps: F64,
    weight: F64,
    backlog: F64,
    by_dst: object,
    offline: npt.NDArray[np.bool_] | None = None,
) -> F64 | None:
    """Update closure counters, cancel rerouted backlog, return effective weights [R, E].

    ``reroute_steps`` [R, E] (or [R]) is ``inf`` where re-routing is off. ``offline`` [R, E] marks
    links whose supplier is not producing yet (before its online date): they get no
    orders either, but keep their backlog. Returns None when no link is re-routed or
    offline (the static weights apply).
    """
    closed = link_open < closed_below
    closed_for[...] = np.where(closed, closed_for + 1.0, 0.0)
    rs = np.maximum(1.0, reroute_steps)
    rerouted = (closed_for >= (rs if rs.ndim == 2 else rs[:, None])) & (weight > 0)
    excluded = rerouted if offline is None else rerouted | (offline & (weight > 0))
    if not excluded.any():
        return None
    eff = excluded_weights(excluded, weight, by_dst, rerouted, backlog)
    # a replicate with nothing excluded keeps the static weights exactly (whatever the others do)
    return np.where(excluded.any(axis=1, keepdims=True), eff, weight)


def excluded_weights(
    excluded: npt.NDArray[np.bool_], weight: F64, by_dst: object,
    rerouted: npt.NDArray[np.bool_] | None = None, backlog: F64 | None = None,
) -> F64:
    """Weights [R, E] with the ``excluded`` links' share moved to their buyer's other links.

    A buyer whose links are all excluded keeps its weights (the rule does not apply);
    elsewhere the backlog of ``rerouted`` links is cancelled (in place).
    """
    w = np.where(excluded, 0.0, weight)
    wsum = by_dst.sum(w)  # type: ignore[attr-defined]
    base = by_dst.sum(np.broadcast_to(weight, w.shape))  # type: ignore[attr-defined]
    seg = by_dst.seg_of  # type: ignore[attr-defined]
    keep_orig = wsum[:, seg] <= 0.0  # every link of the holding excluded: the rule does not apply
    if rerouted is not None and backlog is not None:
        backlog[rerouted & ~keep_orig] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(keep_orig, weight / np.where(base[:, seg] > 0, base[:, seg], 1.0),
                       w / np.where(wsum[:, seg] > 0, wsum[:, seg], 1.0))
    return np.where(weight > 0, eff, 0.0)


# --------------------------------------------------------------------------- recycling


class ScrapRing:
    """Scrap on its way back from markets to recyclers: a ring over steps, [W, C, R].

    Scrap due at or after the horizon never arrives in the run, so it is not kept:
    the ring spans the longest lifetime shorter than the horizon (a few steps when
    products last longer than the run), not the longest lifetime.
    """

    def __init__(self, R: int, mech: Mechanics):
        self.mech = mech
        self.T = T = mech.legacy_scrap.shape[0]
        self.W = max((int(lt) for x in mech.rec_lifetimes for lt in x if lt < T), default=0) + 1
        self.ring = np.zeros((self.W, len(mech.rec_producer), R))
        # each recycler's distinct lifetimes within the horizon, split by occurrence:
        # [first occurrences, second ones, ...]
        self._by_rank: list[list[npt.NDArray[np.int64]]] = []
        for lts in mech.rec_lifetimes:
            lts = np.asarray(lts, dtype=np.int64)
            vals, counts = np.unique(lts[lts < T], return_counts=True)
            self._by_rank.append([vals[counts > k] for k in range(int(counts.max()) if len(vals) else 0)])

    def take(self, t: int) -> F64:
        """Scrap arriving at step t, incl. pre-horizon consumption [R, C] [t]."""
        k = t % self.W
        out = self.ring[k].T.copy()
        self.ring[k] = 0.0
        if t < self.T:
            out += self.mech.legacy_scrap[t]
        return out

    def add(self, t: int, consumed: F64) -> None:
        """Schedule the scrap of this step's consumption [R, D] (what arrives before the horizon)."""
        m = self.mech
        for c in range(len(m.rec_producer)):
            if len(m.rec_dem[c]) == 0 or not self._by_rank[c]:
                continue
            amount = consumed[:, m.rec_dem[c]].sum(axis=1) * m.rec_recovery[c] / len(m.rec_lifetimes[c])
            for lts in self._by_rank[c]:  # a slot two lifetimes share gets two adds, as a loop over them gives
                due = lts[lts < self.T - t]
                if len(due):
                    self.ring[(t + due) % self.W, c] += amount


# --------------------------------------------------------------------------- substitution


def substitution_update(
    t: int, served: F64, demand: F64, short_run: F64, adopt_at: F64, on: F64, step_days: int, mech: Mechanics
) -> None:
    """After consumption: count short days and start adoption where the rule fires (in place)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(demand > 0, served / np.where(demand > 0, demand, 1.0), 1.0)
    short = (fill < mech.sub_threshold) & (demand > 0)
    short_run[...] = np.where(short, short_run + 1.0, 0.0)
    fire = mech.has_sub & (on[:, None] > 0) & np.isinf(adopt_at) & short & (short_run * step_days >= mech.sub_after)
    adopt_at[fire] = t + 1


def substituted_share(t: int, adopt_at: F64, mech: Mechanics) -> F64:
    """Share of each demand entry substituted at step t [R, D]."""
    with np.errstate(invalid="ignore"):
        since = t - adopt_at + 1.0
    ramp = np.where(mech.sub_adopt_steps > 0, since / np.where(mech.sub_adopt_steps > 0, mech.sub_adopt_steps, 1.0), 1.0)
    return np.where(since >= 1.0, mech.sub_fraction * np.minimum(1.0, ramp), 0.0)
