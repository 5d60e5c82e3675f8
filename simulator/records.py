"""What the engine records at the end of each reporting interval (DESIGN §5), and the helpers that split
the work between batches over the compiled step's threads.

:class:`IntervalRecords` keeps the quantile time series of a run (fill, market cover, stockpiles, the
origin shares of the traced replicates) and checks the invariants; its five records of an interval are
independent of each other and run side by side on the step's threads (:func:`side_by_side`), as one core
would otherwise idle through them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np
import numpy.typing as npt

from .metrics import MarketTracker, SeriesQuantiles, check_invariants, market_cover

F64 = npt.NDArray[np.float64]

#: the series every run records (origin series follow, one per traced stage: ``china_share_STAGE``)
SERIES = ("fill", "market_cover_days", "stockpile_t", "stockpile_product_t")


def side_by_side(pool: Executor | None, *jobs: Callable[[], Any]) -> list[Any]:
    """Run ``jobs`` (independent of each other) on ``pool``'s threads and this one (numpy releases the GIL in
    its array loops); their results. Without a pool, one after the other here."""
    if pool is None:
        return [job() for job in jobs]
    futures = [pool.submit(job) for job in jobs[1:]]
    return [jobs[0](), *(f.result() for f in futures)]


def row_parts(R: int, pool: Executor | None) -> list[slice]:
    """Replicate rows in two parts cut at a multiple of 16 (each row's matrix products then round as in one
    product over all rows: see simulator.chunks.split), or one part without a pool."""
    cut = (R // 2) // 16 * 16
    return [slice(0, cut), slice(cut, R)] if pool is not None and cut >= 16 else [slice(0, R)]


class IntervalRecords:
    """The interval records of a run of R replicates: quantile series and invariant checks.

    Parameters
    ----------
    net, mech, plan : the compiled network, its mechanics and kernel plan.
    st : the run's state (read at each record).
    tracker : the market tracker (its interval sums are taken and reset).
    tracer : origin tags (None without trace stages); ``dep_int`` the traced replicates' dependency
        sums of the interval [Rt, M, C] (reset at each record).
    flows, stock0 : cumulative flows by product and the stock at the start [R, P] (mass balance).
    keep : keep each interval's per-replicate values; ``sink`` arrays to write them into, by series name.
    checks, r0 : the invariant checks' mode and the run's first replicate (for their messages).
    """

    def __init__(self, net: Any, mech: Any, plan: Any, st: Any, tracker: MarketTracker, tracer: Any,
                 dep_int: F64, flows: F64, stock0: F64, keep: bool, sink: dict[str, F64] | None,
                 checks: str, r0: int) -> None:
        self.net, self.mech, self.plan, self.st = net, mech, plan, st
        self.tracker, self.tracer, self.dep_int, self.flows, self.stock0 = tracker, tracer, dep_int, flows, stock0
        self.checks, self.r0 = checks, r0
        self.stages = tuple(net.scenario.report.trace_stages)
        self.names = SERIES + tuple(f"china_share_{k}" for k in self.stages)
        self.sunk = sink is not None
        self.series = {name: SeriesQuantiles(keep, (sink or {}).get(name)) for name in self.names}
        china = np.array([net.blocs[b] == "china" for b in net.region_bloc] + [False])
        self.china_cols = china[tracer.col_g] if tracer is not None else np.zeros(0, dtype=bool)
        self.times: list[int] = []
        self.worst = 0.0  #: the largest relative mass-balance error so far

    def record(self, t: int, pool: Executor | None = None) -> None:
        """The records of the interval ending with step t (on ``pool``'s threads and this one)."""
        net, mech, st, series, R = self.net, self.mech, self.st, self.series, self.st.on_hand.shape[0]

        def fill() -> None:
            series["fill"].add(self.tracker.take_interval())

        def cover() -> None:
            series["market_cover_days"].add(market_cover(st.on_hand[:, net.dem_hold], st.exp_use[:, net.dem_hold],
                                                         net.dem_market, len(net.markets)))

        def stockpiles() -> None:
            levels = np.zeros((R, len(net.stockpiles)))
            if len(net.stockpiles):
                np.add.at(levels, (slice(None), mech.pile_of_holding), st.on_hand[:, mech.pile_holdings])
            series["stockpile_t"].add(levels)
            series["stockpile_product_t"].add(st.on_hand[:, mech.pile_holdings])  # each product held

        def shares() -> None:
            dep_int = self.dep_int
            for k, sname in enumerate(self.stages):
                block = self.tracer.col_k == k
                tot = dep_int[:, :, block].sum(axis=-1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    share = np.where(tot > 0, dep_int[:, :, block & self.china_cols].sum(axis=-1)
                                     / np.where(tot > 0, tot, 1), 0.0)
                series[f"china_share_{sname}"].add(share)
            dep_int[...] = 0.0

        def invariants() -> float:
            if self.checks == "off":
                return 0.0
            stock = st.on_hand @ self.plan.hold_prod + st.in_transit @ self.plan.link_prod
            return check_invariants(t, st.on_hand, st.backlog, st.in_transit, st.backorder, stock, self.stock0,
                                    self.flows, net.products, self.r0, self.checks)

        self.worst = max(self.worst, side_by_side(pool, invariants, fill, cover, stockpiles, shares)[0])
        self.times.append(min((t + 1) * net.step_days, net.scenario.horizon.days))

    def labels(self) -> dict[str, tuple[str, ...]]:
        """The columns of each series."""
        net, mech = self.net, self.mech
        labels = {"fill": net.markets, "market_cover_days": net.markets, "stockpile_t": net.stockpiles,
                  "stockpile_product_t": tuple(f"{net.stockpiles[s]}/{net.products[net.hold_product[h]]}"
                                               for h, s in zip(mech.pile_holdings, mech.pile_of_holding))}
        labels.update({f"china_share_{k}": net.markets for k in self.stages})
        return labels

    def arrays(self) -> dict[str, F64]:
        """Each series' quantiles [n_intervals, K, 4]."""
        return {k: v.array() for k, v in self.series.items()}

    def values(self) -> dict[str, F64] | None:
        """Each series' kept per-replicate values (None unless kept here, not in a sink)."""
        if self.sunk or not all(v.keep for v in self.series.values()):
            return None
        return {k: v.values_array() for k, v in self.series.items()}
