"""The immutable outcome of a run (DESIGN §4: bounded, never R x N x T)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class Result:
    """Outcome of a run: per-replicate totals and quantile time series (immutable).

    Per-replicate arrays have the replicate as leading axis R; their second axis follows
    ``markets`` (M), ``producers`` (F), ``products`` (P), ``links`` (E) or the scenario's
    stockpiles (S), as each field's comment says. Units are in brackets.

    Reading TTS and TTR: where ``tts_censored`` (``ttr_censored``) is True the market had not
    yet run short (not yet recovered) when the horizon ended, and ``tts_days`` (``ttr_days``)
    holds that lower bound, the days from the reference event to the horizon's end, not a
    time; a plain mean or median over replicates then understates it. NaN: the replicate has
    no reference event. ``window_fill[event_id]`` is the fill rate inside that event's window,
    where a crisis shows that the fill over the whole horizon hides.

    >>> import numpy as np, simulator
    >>> res = simulator.run(simulator.load_scenario("scenarios/tutorial.yaml"), replications=8)
    >>> m = res.markets.index("ev_us")
    >>> fill, short = res.fill_rate[:, m].mean(), ~res.tts_censored[:, m]
    >>> tts = np.median(res.tts_days[short, m]) if short.any() else None  # days until ev_us runs short
    """

    scenario: str
    seed: int
    replications: int
    r0: int
    n_steps: int
    step_days: int
    markets: tuple[str, ...]
    producers: tuple[str, ...]
    products: tuple[str, ...]
    links: tuple[str, ...]
    pile_holdings: tuple[tuple[str, str], ...]  #: (stockpile, product) of each stockpile holding
    demand_t: F64  #: demand over the horizon [t] [R, M]
    served_t: F64  #: demand met on the day it arose [t] [R, M]
    max_shortfall: F64  #: max over steps of 1 - daily fill [-] [R, M]
    tts_days: F64  #: time to survive [d] [R, M] (NaN: no reference event)
    tts_censored: npt.NDArray[np.bool_]  #: [R, M]
    ttr_days: F64  #: time to recover [d] [R, M]
    ttr_censored: npt.NDArray[np.bool_]  #: [R, M]
    window_fill: dict[str, F64]  #: fill rate inside each deterministic event window [R, M]
    output_t: F64  #: facility output [t] [R, F]
    capacity_used: F64  #: activity / capacity available [-] [R, F]
    surplus_t: F64  #: co-product surplus [t] [R, P]
    spend_usd: F64  #: procurement spend by link [USD] [R, E]
    shipped_t: F64  #: tonnes shipped by link [R, E]
    released_t: F64  #: stockpile releases, all products held [t] [R, S]
    released_by_holding_t: F64  #: stockpile releases by product held [t] [R, len(pile_holdings)]
    holding_cost_usd: F64  #: stockpile holding cost [USD] [R, S]
    substituted_t: F64  #: demand saved by substitution [t] [R, M]
    collected_t: F64  #: scrap collected by recyclers, by product [t] [R, P]
    dependency: F64  #: share of consumption by region (+ none) per traced stage [Rt, M, K, G+1]
    #: (the first Rt = ``report.trace_replicates`` replicates of the run, at most R)
    trace_stages: tuple[str, ...]
    regions: tuple[str, ...]
    series_times: tuple[int, ...]  #: day (since start) at the end of each interval
    series: dict[str, F64]  #: name -> [n_intervals, K, 4] (p5, p50, p95, mean)
    series_labels: dict[str, tuple[str, ...]]  #: name -> the K labels of the series
    event_windows: tuple[tuple[str, str, int, int], ...]  #: (id, label, start day, end day)
    reference_event: str | None
    mass_balance_error: float
    timings: dict[str, float] = field(default_factory=dict)
    #: per-replicate values behind ``series``, name -> [n_intervals, R, K] (only when asked for:
    #: chunks of a run keep them to merge the quantiles exactly)
    series_values: dict[str, F64] | None = None

    def __repr__(self) -> str:  # the arrays would fill a notebook cell (~55,000 characters for the flagship)
        return (f"Result(scenario={self.scenario!r}, replications={self.replications}, seed={self.seed}, "
                f"days={self.n_steps * self.step_days}, markets={len(self.markets)}, "
                f"producers={len(self.producers)}, links={len(self.links)})")

    @property
    def traced_replicates(self) -> int:
        """How many replicates' origins were traced (the leading axis of ``dependency``)."""
        return int(self.dependency.shape[0])

    @property
    def fill_rate(self) -> F64:
        """Fill rate per replicate and market [-] [R, M] (1 where no demand)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.demand_t > 0, self.served_t / np.where(self.demand_t > 0, self.demand_t, 1), 1.0)

    @property
    def unmet_t(self) -> F64:
        """Demand not met on the day it arose [t] [R, M]."""
        return np.maximum(0.0, self.demand_t - self.served_t)

    @property
    def lost_days(self) -> F64:
        """Unmet demand in days of mean daily demand [d] [R, M]."""
        days = self.n_steps * self.step_days
        mean = self.demand_t / days
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, self.unmet_t / np.where(mean > 0, mean, 1), 0.0)
