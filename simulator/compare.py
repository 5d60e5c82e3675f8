"""Paired comparison of scenarios with common random numbers (DESIGN §4, §5, §8).

Every random stream is keyed by (seed, component name, replicate), so running
two scenarios with the same seed and the same replicate indices gives the same
draws to the components they share: replicate r of scenario B faces the same
demand noise, outages and stochastic events as replicate r of scenario A. The
difference B - A per replicate then removes most of the noise the two share,
and a confidence interval of the mean paired difference is far narrower than
one of two independent runs (common random numbers, CRN).

Outcomes are compared for every market, every market *family* (``family:<f>``,
the family of the products a market demands) and every *bloc* of the markets'
regions (``bloc:<b>``). A group's fill rate, unmet demand, lost days and cost
sum served, demand and spend over its markets per replicate; daily series per
group are not kept, so its max shortfall, TTS and TTR are those of its worst
market (largest max shortfall, earliest TTS, latest TTR). Only markets present
in every scenario are compared.

Metrics (units): ``fill_rate`` [-], ``unmet_t`` [t], ``lost_days`` [d],
``max_shortfall`` [-], ``tts_days`` [d], ``ttr_days`` [d], ``cost_usd`` [USD]
(procurement spend on the links into the market's holdings).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import kernels
from .engine import Result, simulate
from .exceptions import UsageError
from .metrics import SHORT as SHORT_FILL
from .metrics import censored_stat, stat
from .network import Network, compile_network, market_family
from .scenario.models import Scenario

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

METRICS = ("fill_rate", "unmet_t", "lost_days", "max_shortfall", "tts_days", "ttr_days", "cost_usd", "substituted_t",
           "window_fill")
#: True where a larger value is better for the market (used by ``p_better``).
HIGHER_IS_BETTER = {"fill_rate": True, "tts_days": True, "window_fill": True}
CENSORED = ("tts_days", "ttr_days")
FAMILY_PREFIX, BLOC_PREFIX = "family:", "bloc:"


@dataclass(frozen=True)
class Run:
    """One simulated scenario of a comparison: its scenario, network and result."""

    name: str
    scenario: Scenario
    network: Network
    result: Result


@dataclass(frozen=True)
class Outcome:
    """Per-replicate outcomes of one market or group of markets, each [R].

    ``tts_c`` and ``ttr_c`` flag censored values (cut off by the horizon);
    ``tts`` and ``ttr`` are NaN in replicates without a reference event.
    """

    served: F64
    demand: F64
    max_shortfall: F64
    tts: F64
    tts_c: B
    ttr: F64
    ttr_c: B
    cost: F64
    days: float  #: horizon length [d]
    #: demand given up to substitution [t] (not in ``demand``, so not unmet either); None: none
    substituted: F64 | None = None
    #: fill rate inside the reference event's window [-]; None: no such window (or a group of markets,
    #: whose window demand is not kept)
    window: F64 | None = None

    @property
    def values(self) -> dict[str, F64]:
        """Metric name -> per-replicate values [R]."""
        unmet = np.maximum(0.0, self.demand - self.served)
        with np.errstate(divide="ignore", invalid="ignore"):
            fill = np.where(self.demand > 0, self.served / np.where(self.demand > 0, self.demand, 1), 1.0)
            mean = self.demand / self.days
            lost = np.where(mean > 0, unmet / np.where(mean > 0, mean, 1), 0.0)
        return {"fill_rate": fill, "unmet_t": unmet, "lost_days": lost,
                "max_shortfall": self.max_shortfall, "tts_days": self.tts, "ttr_days": self.ttr,
                "cost_usd": self.cost,
                "substituted_t": np.zeros_like(self.demand) if self.substituted is None else self.substituted,
                "window_fill": np.full_like(self.demand, np.nan) if self.window is None else self.window}

    def censored(self, metric: str) -> B | None:
        """Censoring flags [R] of ``tts_days`` / ``ttr_days``; None for other metrics."""
        return {"tts_days": self.tts_c, "ttr_days": self.ttr_c}.get(metric)


# --------------------------------------------------------------------------- network facts


def market_bloc(net: Network, m: int) -> str:
    """Bloc of market ``m``'s region."""
    return net.blocs[int(net.region_bloc[int(net.market_region[m])])]


def network_meta(net: Network) -> dict[str, Any]:
    """Names, blocs, sectors, families and stages of a network, as the summary's ``meta`` shape.

    Returns
    -------
    dict
        ``{"regions": {id: {"name", "bloc"}}, "markets": {id: {"region", "sector",
        "family", "unmet"}}, "facilities": {id: {"region", "stage"}}}`` (``unmet``: lost or backorder).
    """
    sc = net.scenario
    return {
        "regions": {r: {"name": g.name, "bloc": g.bloc} for r, g in sc.regions.items()},
        "markets": {mid: {"region": sc.markets[mid].region, "sector": sc.markets[mid].sector,
                          "family": market_family(net, m), "unmet": sc.markets[mid].unmet}
                    for m, mid in enumerate(net.markets)},
        "facilities": {f: {"region": net.regions[int(net.producer_region[i])],
                           "stage": net.producer_stage[i]} for i, f in enumerate(net.producers)},
    }


def market_cost(result: Result, net: Network) -> F64:
    """Procurement spend on the links into each market's holdings [USD] [R, M]."""
    midx = {mid: m for m, mid in enumerate(net.markets)}
    into = np.zeros((len(net.links), len(net.markets)))
    for e in range(len(net.links)):
        node, _, kind = net.holdings[int(net.link_dst[e])]
        if kind == "mkt" and node in midx:
            into[e, midx[node]] = 1.0
    return np.asarray(result.spend_usd @ into, dtype=float)


# --------------------------------------------------------------------------- outcomes


def outcomes(result: Result, net: Network, markets: Sequence[str] | None = None) -> dict[str, Outcome]:
    """Per-replicate outcomes of each market and of each family and bloc of markets.

    Parameters
    ----------
    result : Result
        A run of ``net``.
    net : Network
        The compiled network of the run.
    markets : sequence of str, optional
        Markets to include (default: all); groups aggregate over these only.

    Returns
    -------
    dict
        Key (market id, ``family:<f>`` or ``bloc:<b>``) -> :class:`Outcome`.
    """
    ids = list(markets) if markets is not None else list(net.markets)
    midx = {mid: m for m, mid in enumerate(result.markets)}
    days = float(result.n_steps * result.step_days)
    cost = market_cost(result, net)
    win = result.window_fill.get(result.reference_event) if result.reference_event else None
    out: dict[str, Outcome] = {}
    for mid in ids:
        m = midx[mid]
        out[mid] = Outcome(result.served_t[:, m], result.demand_t[:, m], result.max_shortfall[:, m],
                           result.tts_days[:, m], result.tts_censored[:, m], result.ttr_days[:, m],
                           result.ttr_censored[:, m], cost[:, m], days, result.substituted_t[:, m],
                           None if win is None else win[:, m])
    groups: dict[str, list[int]] = {}
    for mid in ids:
        m = midx[mid]
        groups.setdefault(FAMILY_PREFIX + market_family(net, m), []).append(m)
    for mid in ids:
        m = midx[mid]
        groups.setdefault(BLOC_PREFIX + market_bloc(net, m), []).append(m)
    for key, ms in groups.items():
        out[key] = _group(result, cost, ms, days)
    return out


def _group(result: Result, cost: F64, ms: list[int], days: float) -> Outcome:
    """Aggregate markets ``ms``: sums of served, demand and cost; worst market for the rest."""
    tts, tts_c = _worst(result.tts_days[:, ms], result.tts_censored[:, ms], earliest=True)
    ttr, ttr_c = _worst(result.ttr_days[:, ms], result.ttr_censored[:, ms], earliest=False)
    return Outcome(result.served_t[:, ms].sum(axis=1), result.demand_t[:, ms].sum(axis=1),
                   result.max_shortfall[:, ms].max(axis=1), tts, tts_c, ttr, ttr_c,
                   cost[:, ms].sum(axis=1), days, result.substituted_t[:, ms].sum(axis=1))


def _worst(x: F64, c: B, earliest: bool) -> tuple[F64, B]:
    """Earliest (TTS) or latest (TTR) value over markets [R, k] -> [R], with censoring.

    A censored value is a lower bound at the horizon, above every uncensored
    value, so it ranks as +inf: the earliest is censored only when all are, the
    latest whenever any is.
    """
    if x.shape[1] == 0:
        return np.full(x.shape[0], np.nan), np.zeros(x.shape[0], dtype=bool)
    key = np.where(c, np.inf, x)
    key = np.where(np.isnan(x), np.nan, key)
    with np.errstate(invalid="ignore"):
        pick = np.nanargmin(np.where(np.isnan(key), np.inf, key), axis=1) if earliest else \
            np.nanargmax(np.where(np.isnan(key), -np.inf, key), axis=1)
    rows = np.arange(x.shape[0])
    return x[rows, pick], c[rows, pick]


def outcome_stats(o: Outcome) -> dict[str, Any]:
    """STAT of every metric of an outcome (censored STAT for TTS and TTR)."""
    vals = o.values
    out: dict[str, Any] = {}
    for metric in METRICS:
        if metric == "window_fill" and o.window is None:  # groups, and runs without a reference window
            continue
        cen = o.censored(metric)
        out[metric] = censored_stat(vals[metric], cen) if cen is not None else stat(vals[metric])
    return out


# --------------------------------------------------------------------------- differences


def paired_difference(a: F64, b: F64, metric: str, a_c: B | None = None, b_c: B | None = None) -> dict[str, Any]:
    """STAT of the paired differences ``b - a`` per replicate, with ``p_better``.

    Parameters
    ----------
    a, b : ndarray
        Per-replicate values of the first scenario and of the other one [R].
    metric : str
        One of :data:`METRICS`; says which direction is better.
    a_c, b_c : ndarray of bool, optional
        Censoring flags (TTS, TTR). Differences are taken only over replicates
        uncensored in both; ``excluded`` gives the share left out (censored in
        either, or without a reference event).

    Returns
    -------
    dict
        STAT (``mean``, ``sd``, ``p5``, ``p50``, ``p95``, ``ci95``, ``n``) of the
        differences, plus ``p_better``: the share of replicates in which the
        other scenario does strictly better (higher fill rate or TTS; lower
        unmet, lost days, max shortfall, TTR or cost). A censored value ranks
        above every uncensored one (it is a lower bound at the horizon), so
        ``p_better`` counts censored replicates too; replicates without a
        reference event (NaN) are left out of both, and ``no_reference`` gives
        their share.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a_c = np.zeros(a.shape, dtype=bool) if a_c is None else np.asarray(a_c, dtype=bool)
    b_c = np.zeros(b.shape, dtype=bool) if b_c is None else np.asarray(b_c, dtype=bool)
    valid = np.isfinite(a) & np.isfinite(b)
    both = valid & ~a_c & ~b_c
    s = stat(np.where(both, b - a, np.nan))
    ka, kb = np.where(a_c, np.inf, a), np.where(b_c, np.inf, b)
    better = kb > ka if HIGHER_IS_BETTER.get(metric, False) else kb < ka
    nv = int(valid.sum())
    s["p_better"] = float(np.sum(better & valid) / nv) if nv else None
    s["excluded"] = float(1.0 - both.sum() / len(a)) if len(a) else 0.0
    s["no_reference"] = float(1.0 - nv / len(a)) if len(a) else 0.0
    return s


def differences(first: dict[str, Outcome], other: dict[str, Outcome]) -> dict[str, dict[str, Any]]:
    """Paired differences (other minus first) of every metric, per key both share."""
    out: dict[str, dict[str, Any]] = {}
    for key, oa in first.items():
        ob = other.get(key)
        if ob is None:
            continue
        va, vb = oa.values, ob.values
        out[key] = {m: paired_difference(va[m], vb[m], m, oa.censored(m), ob.censored(m)) for m in METRICS
                    if m != "window_fill" or (oa.window is not None and ob.window is not None)}
    return out


# --------------------------------------------------------------------------- running


def run_scenarios(
    scenarios: Sequence[tuple[str, Scenario]],
    replications: int,
    seed: int,
    checks: str = "error",
    progress: Callable[[int, int, int], None] | None = None,
) -> list[Run]:
    """Simulate every scenario with the same seed and replicate indices 0..R-1.

    Parameters
    ----------
    scenarios : sequence of (name, Scenario)
        Names must be distinct; the first is the baseline of the differences.
    replications : int
        Replicates R of every run.
    seed : int
        Root seed shared by every run (common random numbers).
    checks : {'error', 'warn', 'off'}
        Invariant checks of each run.
    progress : callable, optional
        Called with (scenario index, steps done, total steps).

    Returns
    -------
    list of Run
    """
    runs: list[Run] = []
    for i, (name, sc) in enumerate(scenarios):
        net = compile_network(sc)
        cb = None if progress is None else (lambda done, total, i=i: progress(i, done, total))
        res = simulate(net, replications, seed, checks=checks, progress=cb)
        runs.append(Run(name, sc, net, res))
    return runs


def horizon_text(sc: Scenario) -> str:
    """``2025-01-01 to 2026-12-31, 1-day steps``: a scenario's horizon, as messages give it."""
    h = sc.horizon
    return f"{h.start} to {h.end}, {h.step_days}-day steps"


def check_comparable(labelled: Sequence[tuple[str, Scenario]]) -> None:
    """Refuse scenarios that cannot be paired day by day: every horizon must be the first's.

    Parameters
    ----------
    labelled : sequence of (label, Scenario)
        The label (e.g. the file name) is what the message names; the first is the baseline.

    Raises
    ------
    UsageError
        Naming the first scenario whose start, end or step_days differ from the baseline's, and both horizons.
    """
    (la, a), *rest = labelled
    for lb, b in rest:
        ha, hb = a.horizon, b.horizon
        if (ha.start, ha.end, ha.step_days) != (hb.start, hb.end, hb.step_days):
            raise UsageError(f"cannot compare {la} ({horizon_text(a)}) with {lb} ({horizon_text(b)}): "
                             "paired differences need the same horizon (start, end and step_days)")


def shared_markets(scenarios: Sequence[Scenario]) -> tuple[list[str], list[int]]:
    """Markets of every scenario (in the first's order), and how many of each scenario's are left out."""
    keep = [m for m in scenarios[0].markets if all(m in sc.markets for sc in scenarios[1:])]
    return keep, [len(sc.markets) - len(keep) for sc in scenarios]


def common_markets(runs: Sequence[Run]) -> list[str]:
    """Markets present in every run, in the first run's order."""
    return [m for m in runs[0].network.markets if all(m in r.network.markets for r in runs[1:])]


def compare_runs(runs: Sequence[Run]) -> dict[str, Any]:
    """Differences of every run against the first, per-run group STATs and the headline.

    Returns
    -------
    dict
        ``{"differences": {name: {key: {metric: STAT}}}, "groups": {name: {key:
        {metric: STAT}}}, "market_cost_usd": {name: {market: STAT}}, "headline":
        [str, ...], "markets": [common market ids]}``.
    """
    keep = common_markets(runs)
    outs = [outcomes(r.result, r.network, keep) for r in runs]
    base = outs[0]
    diffs = {r.name: differences(base, o) for r, o in zip(runs[1:], outs[1:])}
    groups = {r.name: {k: outcome_stats(v) for k, v in o.items() if ":" in k} for r, o in zip(runs, outs)}
    cost = {r.name: {k: stat(v.cost) for k, v in o.items() if ":" not in k} for r, o in zip(runs, outs)}
    h = runs[0].network.scenario.horizon
    span = str(h.start.year) if h.start.year == h.end.year else f"{h.start.year}\u2013{h.end.year}"
    late = frozenset(m for m, mk in runs[0].network.scenario.markets.items() if mk.unmet == "backorder")
    lines = [headline(runs[0].name, r.name, base, o, diffs[r.name], span, late) for r, o in zip(runs[1:], outs[1:])]
    return {"differences": diffs, "groups": groups, "market_cost_usd": cost, "headline": lines,
            "markets": keep}


# --------------------------------------------------------------------------- headline

MINUS = "\u2212"


def fmt_tonnes(x: float) -> str:
    """Tonnes as the report's tables show them: whole tonnes with thousands separators (``2,124 t``),
    three significant figures below 10 t (``4.27 t``), so a headline and its table give the same figure."""
    if not math.isfinite(x):
        return "n/a"
    if abs(x) < 0.5:
        return "0 t"
    text = f"{x:,.0f}" if abs(x) >= 9.5 else f"{x:.3g}"
    return text.replace("-", MINUS) + " t"


def _relative_change(rel: float, lo: float, hi: float) -> str:
    """``−67 %, 95 % CI −72 to −61 %``, with as many decimals (up to two) as it takes for the bounds to
    differ: paired differences under common random numbers often give a CI far narrower than 1 %."""
    if lo == hi:  # the same paired difference in every replicate
        return f"{_signed(rel, 1)} %, the same in every replicate"
    for k in (0, 1, 2):
        a, b = _signed(lo, k), _signed(hi, k)
        if (hi - lo >= 2.0 * 10.0 ** -k or k == 2) and a != b:
            return f"{_signed(rel, k)} %, 95 % CI {a} to {b} %"
    return f"{_signed(rel, 2)} %, 95 % CI narrower than \u00b10.005 %"


def _signed(x: float, digits: int = 0) -> str:
    s = f"{x:+,.{digits}f}"
    return s.replace("-", MINUS)


def headline(first: str, name: str, base: dict[str, Outcome], other: dict[str, Outcome],
             diffs: dict[str, dict[str, Any]], span: str = "", late: frozenset[str] = frozenset()) -> str:
    """One plain-language sentence on what scenario ``name`` changes against ``first``.

    ``span``: the years the shortfalls are summed over (``2025–2030``), named after "shortfall".
    ``late``: backorder markets, whose shortfall is served later, not lost (said so).

    It names the market whose mean unmet demand changes most, gives both means,
    the relative change with its 95 % CI (the CI of the mean paired difference
    divided by the first scenario's mean) and the change in time to recover, e.g.
    ``allied_supply cuts ev_jp's shortfall from 2,100 t to 700 t (−67 %, 95 % CI
    −72 to −61 %), recovery 40 days sooner``.
    """
    markets = [k for k in diffs if ":" not in k]
    if not markets:
        return f"{name} shares no market with {first}: nothing to compare"
    key = max(markets, key=lambda k: (abs(diffs[k]["unmet_t"]["mean"] or 0.0), k))
    d = diffs[key]["unmet_t"]
    a = float(np.mean(base[key].values["unmet_t"]))
    b = float(np.mean(other[key].values["unmet_t"]))
    lo, hi = d["ci95"]
    if d["mean"] is None or abs(d["mean"]) < 0.5:
        total = sum(float(np.mean(base[k].values["unmet_t"])) for k in markets)
        if total < 0.5 and all(float(np.mean(other[k].values["unmet_t"])) < 0.5 for k in markets):
            return f"no market runs short in {name} or in {first}"
        if all(diffs[k][m]["sd"] == 0.0 and diffs[k][m]["mean"] == 0.0
               for k in markets for m in ("unmet_t", "fill_rate")):
            return f"{name} gives every market the same fill and shortfall as {first}"
        return (f"{name} changes no market's shortfall by as much as half a tonne against {first} "
                f"(largest change: {key}, {_signed(d['mean'] or 0.0, 2)} t)")
    verb = "cuts" if d["mean"] < 0 else "raises"
    what = "shortfall (tonnes served late, not lost)" if key in late else "shortfall"
    no_short_b = float(np.mean(other[key].max_shortfall <= 1.0 - SHORT_FILL))
    if b < 0.5 and no_short_b >= 0.995:
        over = f" over {span}" if span else ""
        text = (f"{name} removes {key}'s {what} of {fmt_tonnes(a)}{over} in {first} "
                f"(95 % CI of the cut {fmt_tonnes(-hi)} to {fmt_tonnes(-lo)}): "
                f"no day below {100 * SHORT_FILL:.0f} % fill in any replicate")
        return text
    text = f"{name} {verb} {key}'s {what}{' over ' + span if span else ''} from {fmt_tonnes(a)} to {fmt_tonnes(b)}"
    if a >= 0.5:
        rel, rlo, rhi = (100.0 * x / a for x in (d["mean"], lo, hi))
        text += f" ({_relative_change(rel, rlo, rhi)})"
    else:
        text += f" (95 % CI {_signed(lo)} to {_signed(hi)} t)"
    text += _recovery_clause(diffs[key]["ttr_days"], base[key], other[key])
    return text


def _recovery_clause(d: dict[str, Any], a: Outcome, b: Outcome) -> str:
    """``, recovery 40 days sooner`` (or later, or about the censoring) when it says something."""
    a_c, b_c = float(np.mean(a.ttr_c)), float(np.mean(b.ttr_c))
    if d.get("n", 0) and d["mean"] is not None and abs(d["mean"]) >= 0.5:
        days = abs(d["mean"])
        word = "sooner" if d["mean"] < 0 else "later"
        out = f", recovery {days:,.0f} day{'s' if round(days) != 1 else ''} {word}"
        if d["excluded"] > 0:
            out += f" (over the {100 * (1 - d['excluded']):.0f} % of replicates recovered in both)"
        return out
    if a_c > 0 and b_c < a_c:
        return (f", recovered by the end of the horizon in {100 * (1 - b_c):.0f} % of replicates "
                f"instead of {100 * (1 - a_c):.0f} %")
    if b_c > a_c:
        return (f", still unrecovered at the end of the horizon in {100 * b_c:.0f} % of replicates "
                f"instead of {100 * a_c:.0f} %")
    return ""


# --------------------------------------------------------------------------- writing


def compare_summary(runs: Sequence[Run], provenance: dict[str, Any],
                    files: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, Any]:
    """The comparison's ``summary.json`` content (DESIGN §8).

    Parameters
    ----------
    runs : sequence of Run
        The runs, baseline first.
    provenance : dict
        Shared provenance: ``command``, ``sets``, ``run_time_s`` and anything else
        to record at the top level.
    files : dict, optional
        Scenario name -> [(path, sha256), ...] of its file and the files it extends.

    Returns
    -------
    dict
        ``{"scenarios": {name: run summary + "meta", "groups", per-market
        "cost_usd"}, "differences": ..., "headline": [...], "markets": [...],
        "files": [...], "seed", "replications", "version", ...}``. Each run
        summary is :func:`simulator.results.summary_dict`'s, extended with the
        network ``meta``, the family/bloc ``groups`` STATs and each market's
        procurement ``cost_usd`` STAT.
    """
    from . import __version__
    from .results import summary_dict

    files = files or {}
    cmp = compare_runs(runs)
    scen: dict[str, Any] = {}
    for r in runs:
        fl = files.get(r.name, [])
        prov = {"file": fl[0][0] if fl else None, "sha256": fl[0][1] if fl else None,
                "files": [{"path": p, "sha256": h} for p, h in fl],
                "command": provenance.get("command"), "sets": provenance.get("sets", [])}
        s = _run_summary(summary_dict, r, prov)
        s.setdefault("title", r.scenario.title)
        s.setdefault("meta", network_meta(r.network))
        s["groups"] = cmp["groups"][r.name]
        for mid, st in cmp["market_cost_usd"][r.name].items():
            s["markets"][mid].setdefault("cost_usd", st)
        scen[r.name] = s
    first = runs[0]
    return {
        "scenarios": scen,
        "baseline": first.name,
        "differences": cmp["differences"],
        "headline": cmp["headline"],
        "markets": cmp["markets"],
        "files": [{"scenario": n, "path": p, "sha256": h} for n in scen for p, h in files.get(n, [])],
        "seed": first.result.seed,
        "replications": first.result.replications,
        "version": __version__,
        "backend": kernels.backend(),  # native, numba or numpy: the same results (numpy to 1e-12)
        **provenance,
    }


def _run_summary(summary_dict: Callable[..., dict[str, Any]], run: Run, prov: dict[str, Any]) -> dict[str, Any]:
    """Call ``results.summary_dict`` with the network, or with the horizon (older signature)."""
    import inspect

    params = list(inspect.signature(summary_dict).parameters)
    second = run.scenario.horizon if len(params) > 1 and params[1] == "horizon" else run.network
    return summary_dict(run.result, second, prov)


def write_compare(outdir: Any, runs: Sequence[Run], provenance: dict[str, Any],
                  files: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, Any]:
    """Write ``summary.json`` and ``<name>/timeseries.csv`` per scenario into ``outdir``.

    Returns
    -------
    dict
        The summary written (see :func:`compare_summary`).
    """
    import json
    from pathlib import Path

    from .results import _json_default, write_timeseries

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    summary = compare_summary(runs, provenance, files)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n",
                                      encoding="utf-8")
    for r in runs:
        (out / r.name).mkdir(exist_ok=True)
        write_timeseries(out / r.name / "timeseries.csv", r.result, r.scenario.horizon.start)
    return summary
