"""Origin tracing: the share of each holding's stock that passed each region per traced stage.

Tags are compositions ``[R, X, K, G1]`` (X holdings or links, K traced stages,
G1 = regions + a final ``none`` column) that sum to 1 over G1. Flows mix them
by mass (docs/step-semantics.md, "Origin tracing").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import kernels as K
from .kernels import Segments
from .network import Network

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def traced_replicates(setting: int | str, r0: int, R: int) -> int:
    """How many of replicates ``r0 .. r0+R-1`` are traced: those with a global index below the setting."""
    if setting == "all":
        return R
    return max(0, min(R, int(setting) - r0))


def mix(old_mass: F64, old_tag: F64, add_mass: F64, add_tag: F64) -> F64:
    """Mass-weighted mix of two compositions; ``old_tag`` where nothing is there."""
    tot = (old_mass + add_mass)[..., None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        new = (old_mass[..., None, None] * old_tag + add_mass[..., None, None] * add_tag) / np.where(tot > 0, tot, 1.0)
    return np.where(tot > 0, new, old_tag)


class Tracer:
    """Origin tags of every holding and link pipeline for R replicates."""

    def __init__(self, net: Network, R: int):
        sc = net.scenario
        self.net = net
        self.stages = tuple(sc.report.trace_stages)
        K, G = len(self.stages), len(net.regions)
        self.K, self.G1 = K, G + 1
        H, E, Fn = len(net.holdings), len(net.link_src), len(net.producers)
        # producer own tag: one-hot region at its own stage (recyclers: stage 'recycler')
        own = np.zeros((Fn, K), dtype=bool)
        for f in range(Fn):
            for k, s in enumerate(self.stages):
                own[f, k] = net.producer_stage[f] == s
        self.own = own
        onehot = np.zeros((Fn, K, self.G1))
        for f in range(Fn):
            onehot[f, :, int(net.producer_region[f])] = 1.0
        self.onehot = onehot
        self.none = np.zeros((K, self.G1))
        self.none[:, -1] = 1.0
        init = self._initial_tags()
        self._layout()
        self.hold = np.broadcast_to(self.compact(init), (R, H, self.C)).copy()
        self.pipe = self.hold[:, np.asarray(net.link_src)].copy() if E else np.zeros((R, 0, self.C))
        self.dep = np.zeros((R, len(net.markets), self.C))
        self._single_input = len(np.unique(np.asarray(net.in_fac))) == len(net.in_fac)
        self._single_demand = (len(np.unique(np.asarray(net.dem_market))) == len(net.dem_market)
                               and len(net.dem_market) == len(net.markets))
        self._in_seg = Segments.build(net.in_fac)
        self._dem_seg = Segments.build(net.dem_market)
        i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)
        self._src, self._in_hold, self._out_hold = i64(net.link_src), i64(net.in_hold), i64(net.out_hold)
        self._in_ptr = i64(np.searchsorted(net.in_fac, np.arange(Fn + 1)))
        self._out_ptr = i64(np.searchsorted(net.out_fac, np.arange(Fn + 1)))
        self._dem_hold, self._dem_market = i64(net.dem_hold), i64(net.dem_market)

    def _produced_tag(self, in_tags: F64, in_mass: F64, f: int) -> F64:
        """Tag of what producer f makes from inputs with tags [..., n_in, K, G1] and masses [..., n_in]."""
        net = self.net
        if net.is_recycler[f] or in_mass.shape[-1] == 0:
            tag = np.broadcast_to(self.none, in_tags.shape[:-3] + (self.K, self.G1)).copy()
        else:
            tot = in_mass.sum(axis=-1)[..., None, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                tag = (in_mass[..., None, None] * in_tags).sum(axis=-3) / np.where(tot > 0, tot, 1.0)
            tag = np.where(tot > 0, tag, self.none)
        tag[..., self.own[f], :] = self.onehot[f][self.own[f]]
        return tag

    def _initial_tags(self) -> F64:
        """Nominal steady-state tags [H, K, G1], walking producers upstream first."""
        net = self.net
        H = len(net.holdings)
        tags = np.broadcast_to(self.none, (H, self.K, self.G1)).copy()
        flow = net.nominal_link.sum(axis=1)
        use = net.nominal_use.sum(axis=1)
        Fn = len(net.producers)
        done = np.zeros(Fn, dtype=bool)
        src_fac = {int(h): int(f) for f, h in zip(net.out_fac, net.out_hold)}
        into: dict[int, list[int]] = {}  # holding -> links with nominal flow into it, in link order
        for e in range(len(flow)):
            if flow[e] > 0:
                into.setdefault(int(net.link_dst[e]), []).append(e)
        ins_of = [np.flatnonzero(net.in_fac == f) for f in range(Fn)]
        feeders = []
        for f in range(Fn):
            in_set = {int(h) for h in net.in_hold[ins_of[f]]}
            es = sorted(e for h in in_set for e in into.get(h, []))
            feeders.append([src_fac.get(int(net.link_src[e])) for e in es])
        for _ in range(Fn + 1):
            progressed = False
            for f in range(Fn):
                if done[f]:
                    continue
                in_h = net.in_hold[ins_of[f]]
                if any(g is not None and not done[g] for g in feeders[f]):
                    continue
                for h in in_h:
                    tags[h] = self._inflow_tag(int(h), tags, flow, into)
                tag = self._produced_tag(tags[in_h], use[in_h], f)
                for h in net.out_hold[net.out_fac == f]:
                    tags[h] = tag
                done[f] = True
                progressed = True
            if not progressed:
                break
        for h in np.flatnonzero(np.asarray(net.hold_kind) == 3):
            tags[h] = self._inflow_tag(int(h), tags, flow, into)
        return tags

    def _inflow_tag(self, h: int, tags: F64, flow: F64, into: dict[int, list[int]]) -> F64:
        net = self.net
        es = into.get(h, [])
        if not es:
            return self.none.copy()
        w = np.array([flow[e] for e in es])
        return np.tensordot(w / w.sum(), tags[[int(net.link_src[e]) for e in es]], axes=1)

    # ------------------------------------------------------------------ along the step
    #
    # At run time tags live in a compact layout [R, X, C]: for each traced stage only the
    # regions that host a producer of that stage, plus that stage's ``none`` column (a
    # share on any other region is always 0). Mixing is done in place as
    # ``tag += w * (add_tag - tag)`` with ``w = add / (old + add)``.

    def _layout(self) -> None:
        net = self.net
        cols: list[tuple[int, int]] = []  # (stage k, full column g) with g = G for none
        for k, stage in enumerate(self.stages):
            regs = sorted({int(net.producer_region[f]) for f in range(len(net.producers))
                           if net.producer_stage[f] == stage})
            cols += [(k, g) for g in regs] + [(k, self.G1 - 1)]
        self.cols = cols
        self.C = len(cols)
        self.col_k = np.array([k for k, _ in cols], dtype=np.int64)
        self.col_g = np.array([g for _, g in cols], dtype=np.int64)
        Fn = len(net.producers)
        self.c_onehot = np.zeros((Fn, self.C))
        self.c_keep = np.ones((Fn, self.C))  # 1 where the input's share carries through
        for f in range(Fn):
            for c, (k, g) in enumerate(cols):
                if self.own[f, k]:
                    self.c_keep[f, c] = 0.0
                    self.c_onehot[f, c] = 1.0 if g == int(net.producer_region[f]) else 0.0
        self.c_none = np.array([1.0 if g == self.G1 - 1 else 0.0 for _, g in cols])

    def compact(self, full: F64) -> F64:
        """[..., K, G1] -> [..., C]."""
        return full[..., self.col_k, self.col_g]

    def expand(self, comp: F64) -> F64:
        """[..., C] -> [..., K, G1] (zeros on regions that host no producer of the stage)."""
        out = np.zeros(comp.shape[:-1] + (self.K, self.G1))
        out[..., self.col_k, self.col_g] = comp
        return out

    @staticmethod
    def _mix_into(tag: F64, old: F64, add: F64, add_tag: F64, scratch: bool = False) -> None:
        """In place: tag <- (old * tag + add * add_tag) / (old + add); unchanged where nothing is added.

        With ``scratch`` the caller gives up ``add_tag`` (a temporary), which is reused.
        """
        tot = old + add
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(add > 0, add / np.where(tot > 0, tot, 1.0), 0.0)
        diff = np.subtract(add_tag, tag, out=add_tag if scratch else None)
        diff *= w[..., None]
        tag += diff

    def arrive(self, on_hand_after: F64, arrived: F64, by_dst: Segments) -> None:
        """Mix arrivals (with their link's pipeline tag) into the buyers' stock."""
        if arrived.shape[1] == 0 or self.C == 0:
            return
        seg = by_dst
        uniq = seg.uniq
        if seg.single:
            arr_sum = arrived[:, seg.first]
            arr_tag = self.pipe[:, seg.first]
        else:
            arr_sum = seg.sum(arrived)
            arr_tag = K.seg_sum3(seg, self.pipe, arrived)
            with np.errstate(divide="ignore", invalid="ignore"):
                arr_tag /= np.where(arr_sum > 0, arr_sum, 1.0)[:, :, None]
        old = np.maximum(on_hand_after[:, uniq] - arr_sum, 0.0)
        sub = self.hold[:, uniq]
        self._mix_into(sub, old, arr_sum, arr_tag, scratch=True)
        self.hold[:, uniq] = sub

    def produce(self, on_hand_before_out: F64, used_e: F64, made_e: F64) -> None:
        """Mix what each producer made (tagged from the inputs it used) into its outputs."""
        if self.C == 0:
            return
        net = self.net
        R = used_e.shape[0]
        Fn = len(net.producers)
        in_tag = np.broadcast_to(self.c_none, (R, Fn, self.C)).copy()
        if used_e.shape[1]:
            if self._single_input:
                in_tag[:, net.in_fac] = self.hold[:, net.in_hold]
            else:
                seg = self._in_seg
                tot = seg.sum(used_e)
                mixed = K.seg_sum3(seg, self.hold[:, net.in_hold], used_e)
                with np.errstate(divide="ignore", invalid="ignore"):
                    mixed /= np.where(tot > 0, tot, 1.0)[:, :, None]
                in_tag[:, seg.uniq] = np.where((tot > 0)[:, :, None], mixed, self.c_none)
        in_tag *= self.c_keep
        in_tag += self.c_onehot
        oh = net.out_hold
        sub = self.hold[:, oh]
        self._mix_into(sub, on_hand_before_out, made_e, in_tag[:, net.out_fac], scratch=True)
        self.hold[:, oh] = sub

    def ship(self, in_transit_before: F64, shipped: F64) -> None:
        """Mix shipments (supplier's tag) into each link's pipeline."""
        if shipped.shape[1] == 0 or self.C == 0:
            return
        self._mix_into(self.pipe, in_transit_before, shipped, self.hold[:, self.net.link_src], scratch=True)

    def release(self, recv_before: F64, recv: I64, released: F64, pile: I64) -> None:
        """Mix stockpile releases into receivers, channel by channel."""
        if self.C == 0 or released.shape[1] == 0:
            return
        mass = {}
        for q in range(released.shape[1]):
            r = int(recv[q])
            before = mass.get(r, recv_before[:, q])
            sub = self.hold[:, r]
            self._mix_into(sub, before, released[:, q], self.hold[:, int(pile[q])])
            self.hold[:, r] = sub
            mass[r] = before + released[:, q]

    def consume(self, consumed: F64, also: F64 | None = None) -> F64 | None:
        """Accumulate each market's consumption by tag into the dependency (and into ``also``).

        Returns this step's [R, M, C] addition when ``also`` is None.
        """
        net = self.net
        hold = self.hold[:, net.dem_hold]
        if self._single_demand:
            add = hold
            add *= consumed[:, :, None]
        else:
            add = np.zeros_like(self.dep)
            add[:, self._dem_seg.uniq] = K.seg_sum3(self._dem_seg, hold, consumed)
        self.dep += add
        if also is not None:
            also += add
            return None
        return add

    def full_tags(self) -> F64:
        """Holding tags in the full layout [R, H, K, G1] (for tests and the oracle)."""
        return self.expand(self.hold)

    def dependency(self) -> F64:
        """Share of each market's consumption by region (+ none) per stage [R, M, K, G1]; all on none (unknown)
        for a market that consumed nothing, so every composition sums to 1 (docs/step-semantics.md)."""
        full = self.expand(self.dep)
        tot = full.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(tot > 0, full / np.where(tot > 0, tot, 1.0), 0.0)
        out[..., -1] = np.where(tot[..., 0] > 0, out[..., -1], 1.0)
        return out
