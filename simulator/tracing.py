"""Origin tracing: the share of each holding's stock that passed each region per traced stage.

Tags are compositions ``[R, X, K, G1]`` (X holdings or links, K traced stages,
G1 = regions + a final ``none`` column) that sum to 1 over G1. Flows mix them
by mass (docs/step-semantics.md, "Origin tracing").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .network import Network

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


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
        self.hold = np.broadcast_to(init, (R, H, K, self.G1)).copy()
        self.pipe = self.hold[:, np.asarray(net.link_src)].copy() if E else np.zeros((R, 0, K, self.G1))
        self.dep = np.zeros((R, len(net.markets), K, self.G1))

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
        for _ in range(Fn + 1):
            progressed = False
            for f in range(Fn):
                if done[f]:
                    continue
                ins = np.flatnonzero(net.in_fac == f)
                in_h = net.in_hold[ins]
                feeders = [src_fac.get(int(net.link_src[e])) for e in range(len(flow))
                           if int(net.link_dst[e]) in set(in_h.tolist()) and flow[e] > 0]
                if any(g is not None and not done[g] for g in feeders):
                    continue
                for h in in_h:
                    tags[h] = self._inflow_tag(int(h), tags, flow)
                tag = self._produced_tag(tags[in_h], use[in_h], f)
                for h in net.out_hold[net.out_fac == f]:
                    tags[h] = tag
                done[f] = True
                progressed = True
            if not progressed:
                break
        for h in np.flatnonzero(np.asarray(net.hold_kind) == 3):
            tags[h] = self._inflow_tag(int(h), tags, flow)
        return tags

    def _inflow_tag(self, h: int, tags: F64, flow: F64) -> F64:
        net = self.net
        es = [e for e in range(len(flow)) if int(net.link_dst[e]) == h and flow[e] > 0]
        if not es:
            return self.none.copy()
        w = np.array([flow[e] for e in es])
        return np.tensordot(w / w.sum(), tags[[int(net.link_src[e]) for e in es]], axes=1)

    # ------------------------------------------------------------------ along the step

    def arrive(self, on_hand_after: F64, arrived: F64, by_dst: object) -> None:
        """Mix arrivals (with their link's pipeline tag) into the buyers' stock."""
        if arrived.shape[1] == 0:
            return
        seg = by_dst  # Segments
        uniq = seg.uniq  # type: ignore[attr-defined]
        arr_sum = seg.sum(arrived)  # type: ignore[attr-defined]
        tagged = np.add.reduceat((arrived[:, :, None, None] * self.pipe)[:, seg.perm], seg.starts, axis=1)  # type: ignore[attr-defined]
        with np.errstate(divide="ignore", invalid="ignore"):
            arr_tag = tagged / np.where(arr_sum > 0, arr_sum, 1.0)[:, :, None, None]
        old = on_hand_after[:, uniq] - arr_sum
        self.hold[:, uniq] = mix(np.maximum(old, 0.0), self.hold[:, uniq], arr_sum, arr_tag)

    def produce(self, on_hand_before_out: F64, used_e: F64, made_e: F64) -> None:
        """Mix what each producer made (tagged from the inputs it used) into its outputs."""
        net = self.net
        R = used_e.shape[0]
        Fn = len(net.producers)
        in_tag = np.zeros((R, Fn, self.K, self.G1))
        in_tot = np.zeros((R, Fn))
        if used_e.shape[1]:
            w = used_e[:, :, None, None] * self.hold[:, net.in_hold]
            in_tag[:, net.in_facs_with] = np.add.reduceat(w, net.in_starts, axis=1)
            in_tot[:, net.in_facs_with] = np.add.reduceat(used_e, net.in_starts, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            prod = in_tag / np.where(in_tot > 0, in_tot, 1.0)[:, :, None, None]
        prod = np.where((in_tot > 0)[:, :, None, None], prod, self.none)
        prod[:, np.asarray(net.is_recycler)] = self.none
        own = self.own[None, :, :, None]
        prod = np.where(own, self.onehot[None], prod)
        oh = net.out_hold
        self.hold[:, oh] = mix(on_hand_before_out, self.hold[:, oh], made_e, prod[:, net.out_fac])

    def ship(self, in_transit_before: F64, shipped: F64) -> None:
        """Mix shipments (supplier's tag) into each link's pipeline."""
        if shipped.shape[1] == 0:
            return
        self.pipe = mix(in_transit_before, self.pipe, shipped, self.hold[:, self.net.link_src])

    def release(self, recv_before: F64, recv: I64, released: F64, pile: I64) -> None:
        """Mix stockpile releases into receivers (one channel per receiver at a time)."""
        for q in range(released.shape[1]):
            r = int(recv[q])
            self.hold[:, r] = mix(recv_before[:, q], self.hold[:, r], released[:, q], self.hold[:, int(pile[q])])

    def consume(self, consumed: F64) -> None:
        """Accumulate each market's consumption by tag [R, D] -> dependency sums."""
        net = self.net
        w = consumed[:, :, None, None] * self.hold[:, net.dem_hold]
        self.dep += np.add.reduceat(w, net.mkt_starts, axis=1)

    def dependency(self) -> F64:
        """Share of each market's consumption by region (+ none) per stage [R, M, K, G1]."""
        tot = self.dep.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(tot > 0, self.dep / np.where(tot > 0, tot, 1.0), 0.0)
