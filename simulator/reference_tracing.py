"""Origin tracing and recycling lifetimes for the reference oracle (``simulator/reference.py``).

Plain Python, one replicate, exactly as ``docs/step-semantics.md``, "Origin
tracing" and "Recycling". A *tag* is a list of K compositions (one per traced
stage, ``report.trace_stages`` order), each a list over ``net.regions`` plus a
last column **none**; each composition sums to 1.

Mixing is mass-weighted, numerator and denominator summed in the same order, so
a region that is 1.0 in every part stays exactly 1.0 and a 0.0 stays exactly 0.0.
"""

from __future__ import annotations

import graphlib
import math
import statistics
from typing import Any

from .scenario.types import FixedDist, LognormalDist, TriangularDist, UniformDist

__all__ = ["N_QUANTILES", "Tracer", "lifetime_steps", "mix"]

N_QUANTILES = 32
_Z95 = 1.6448536269514722

Tag = list[list[float]]


# --------------------------------------------------------------------------- lifetimes


def lifetime_steps(dist: Any, step_days: int) -> list[int]:
    """Equally likely product lifetimes [steps] of a recycler's ``lifetime_days``.

    A fixed lifetime (a number or ``{fixed: x}``) gives one lifetime; any other
    distribution the 32 quantiles ``L_j = Q((j + 0.5) / 32)``; each is rounded to
    steps, ``l_j = max(1, round(L_j / step_days))`` (Python's ``round``: halves to even).

    Parameters
    ----------
    dist : number or distribution model
        The lifetime [d].
    step_days : int
        Step length [d].

    Returns
    -------
    list of int
        ``nb`` lifetimes [steps], each at least 1.
    """
    if isinstance(dist, (int, float)) and not isinstance(dist, bool):
        days = [float(dist)]
    elif isinstance(dist, FixedDist):
        days = [float(dist.fixed)]
    else:
        us = [(j + 0.5) / N_QUANTILES for j in range(N_QUANTILES)]
        days = [_quantile(dist, u) for u in us]
    return [max(1, round(d / step_days)) for d in days]


def _quantile(dist: Any, u: float) -> float:
    """Inverse CDF of a uniform, triangular or lognormal distribution at ``u``."""
    if isinstance(dist, UniformDist):
        p = dist.uniform
        return p.low + u * (p.high - p.low)
    if isinstance(dist, TriangularDist):
        p = dist.triangular
        width = p.high - p.low
        if width <= 0:
            return p.low
        fc = (p.mode - p.low) / width
        if u < fc:
            return p.low + math.sqrt(u * width * (p.mode - p.low))
        return p.high - math.sqrt((1.0 - u) * width * (p.high - p.mode))
    if isinstance(dist, LognormalDist):
        p = dist.lognormal
        sigma = math.log(p.p95 / p.median) / _Z95
        return p.median * math.exp(sigma * statistics.NormalDist().inv_cdf(u))
    raise TypeError(f"not a lifetime distribution: {dist!r}")


# --------------------------------------------------------------------------- mixing


def mix(parts: list[tuple[float, Tag]]) -> Tag | None:
    """Mass-weighted mix of ``(mass, tag)`` parts; None when the total mass is not positive."""
    total = 0.0
    for m, _ in parts:
        total += m
    if not total > 0.0:
        return None
    K = len(parts[0][1])
    W = len(parts[0][1][0]) if K else 0
    out: Tag = []
    for k in range(K):
        row = []
        for g in range(W):
            num = 0.0
            for m, tag in parts:
                num += m * tag[k][g]
            row.append(num / total)
        out.append(row)
    return out


class Tracer:
    """Origin tags of every holding and link pipeline, and each market's dependency.

    Parameters
    ----------
    stages : list of str
        Traced stages (``report.trace_stages``) [K].
    n_regions : int
        Number of regions G (``net.regions`` order); tags have G + 1 columns.
    hold_kind : list of str
        Kind of each holding [H].
    producers : list of dict
        Per producer: ``stage``, ``region`` (index), ``recycler`` (bool),
        ``ins`` and ``outs`` (lists of ``(holding, coefficient)``).
    link_src, link_dst : list of int
        Supplier and buyer holding of each link [E].
    link_flow : list of float
        Nominal daily flow of each link at base demand [t/d] [E].
    hold_use : list of float
        Nominal daily use of each holding at base demand [t/d] [H].
    n_markets : int
        Number of markets M.
    """

    def __init__(self, stages: list[str], n_regions: int, hold_kind: list[str],
                 producers: list[dict[str, Any]], link_src: list[int], link_dst: list[int],
                 link_flow: list[float], hold_use: list[float], n_markets: int):
        self.stages, self.G = list(stages), n_regions
        self.K, self.W = len(stages), n_regions + 1
        self.prod = producers
        self.none: Tag = [[0.0] * n_regions + [1.0] for _ in range(self.K)]
        H, E = len(hold_kind), len(link_src)
        self.hold: list[Tag] = [self._copy(self.none) for _ in range(H)]
        # initial: nominal steady state, producers upstream first
        into: dict[int, list[int]] = {}
        for e in range(E):
            into.setdefault(link_dst[e], []).append(e)
        maker = {h: f for f, pr in enumerate(producers) for h, _ in pr["outs"]}
        user = {h: f for f, pr in enumerate(producers) for h, _ in pr["ins"]}
        ts: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for f in range(len(producers)):
            ts.add(f)
        for e in range(E):
            g, f = maker.get(link_src[e]), user.get(link_dst[e])
            if g is not None and f is not None:
                ts.add(f, g)  # f after its supplier g
        order = list(ts.static_order())  # upstream first

        def inflow(h: int) -> Tag:
            parts = [(link_flow[e], self.hold[link_src[e]]) for e in into.get(h, [])]
            got = mix(parts) if parts else None
            return self._copy(self.none) if got is None else got

        for f in order:
            pr = producers[f]
            for h, _ in pr["ins"]:
                if hold_kind[h] == "in":
                    self.hold[h] = inflow(h)
            base = self.produced_tag(f, [(h, hold_use[h]) for h, _ in pr["ins"]])
            for h, _ in pr["outs"]:
                self.hold[h] = self._copy(base)
        for h, k in enumerate(hold_kind):
            if k == "mkt":
                self.hold[h] = inflow(h)
        self.pipe: list[Tag] = [self._copy(self.hold[link_src[e]]) for e in range(E)]
        self.acc: list[Tag] = [[[0.0] * self.W for _ in range(self.K)] for _ in range(n_markets)]
        self.acc_total = [0.0] * n_markets

    @staticmethod
    def _copy(tag: Tag) -> Tag:
        return [list(row) for row in tag]

    def _one_hot(self, region: int) -> list[float]:
        row = [0.0] * self.W
        row[region] = 1.0
        return row

    def produced_tag(self, f: int, used: list[tuple[int, float]]) -> Tag:
        """Tag of what producer ``f`` yields from the input masses ``used`` [(holding, t)]."""
        pr = self.prod[f]
        if pr["recycler"]:
            return [self._one_hot(pr["region"]) if k == "recycler" else list(self.none[i])
                    for i, k in enumerate(self.stages)]
        got = mix([(u, self.hold[h]) for h, u in used]) if used else None
        tag = self._copy(self.none) if got is None else got
        for i, k in enumerate(self.stages):
            if k == pr["stage"]:
                tag[i] = self._one_hot(pr["region"])
        return tag

    # --------------------------------------------------------------- along the step

    def receive(self, h: int, before: float, parts: list[tuple[float, Tag]]) -> None:
        """Holding ``h`` with ``before`` t in stock receives ``parts`` (mass, tag)."""
        got = mix([(before, self.hold[h]), *parts])
        if got is not None:
            self.hold[h] = got

    def arrive(self, h: int, before: float, arrivals: list[tuple[float, int]]) -> None:
        """Arrivals ``(t, link)`` join holding ``h`` carrying their pipelines' tags."""
        self.receive(h, before, [(q, self.pipe[e]) for q, e in arrivals])

    def arrive_scrap(self, h: int, before: float, q: float) -> None:
        """Collected scrap (origin unknown: none) joins scrap holding ``h``."""
        self.receive(h, before, [(q, self.none)])

    def produce(self, f: int, used: list[tuple[int, float]],
                outs: list[tuple[int, float, float]]) -> None:
        """Producer ``f`` used ``used`` [(holding, t)] and made ``outs`` [(holding, before, t)]."""
        base = self.produced_tag(f, used)
        for h, before, made in outs:
            self.receive(h, before, [(made, base)])

    def ship(self, e: int, before: float, q: float, src: int) -> None:
        """Link ``e`` with ``before`` t in transit takes ``q`` t from holding ``src``."""
        got = mix([(before, self.pipe[e]), (q, self.hold[src])])
        if got is not None:
            self.pipe[e] = got

    def release(self, r: int, before: float, q: float, pile: int) -> None:
        """A release of ``q`` t from stockpile holding ``pile`` joins receiver ``r``."""
        self.receive(r, before, [(q, self.hold[pile])])

    def consume(self, m: int, h: int, c: float) -> None:
        """Market ``m`` consumed ``c`` t from its holding ``h``."""
        self.acc_total[m] += c
        tag, acc = self.hold[h], self.acc[m]
        for k in range(self.K):
            for g in range(self.W):
                acc[k][g] += c * tag[k][g]

    def snapshot(self) -> list[Tag]:
        """Copy of every holding's tag [H][K][G + 1]."""
        return [self._copy(t) for t in self.hold]

    def dependency(self) -> list[Tag]:
        """Consumption-weighted shares per market [M][K][G + 1] (none = 1 without consumption)."""
        out = []
        for m, acc in enumerate(self.acc):
            tot = self.acc_total[m]
            if tot > 0.0:
                out.append([[v / tot for v in row] for row in acc])
            else:
                out.append(self._copy(self.none))
        return out
