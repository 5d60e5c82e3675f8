"""Machine-readable results (DESIGN §8): ``summary.json`` and tidy ``timeseries.csv``."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, kernels
from .assumptions import network_facts, scenario_assumptions
from .metrics import censored_stat, stat
from .network import market_family
from .result import Result


def _hhi(out_by_region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HHI (0-10 000) and top-3 share per replicate of output by region [R, G]."""
    tot = out_by_region.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tot > 0, out_by_region / np.where(tot > 0, tot, 1.0), 0.0)
    hhi = ((100.0 * share) ** 2).sum(axis=1)
    top3 = -np.sort(-share, axis=1)[:, :3].sum(axis=1)
    return hhi, top3


def _stage_products(result: Result, net: Any, fs: list[int], regions: list[str]) -> dict[str, Any]:
    """HHI, top-3 share and output by region of each product a stage makes.

    A stage's tonnes of different products do not add up to one supply (a separation plant's
    cerium outweighs its dysprosium a hundredfold), so its concentration is given per product
    as well. A facility's output of product p is its output times p's share of its output
    coefficients (output_t = activity x sum of the coefficients).
    """
    per_act = np.zeros(len(net.producers))
    np.add.at(per_act, np.asarray(net.out_fac), np.asarray(net.out_coef))
    made: dict[int, np.ndarray] = {}
    where: dict[int, set[int]] = {}
    for f_, h, c in zip(net.out_fac, net.out_hold, net.out_coef):
        f = int(f_)
        if f not in fs or per_act[f] <= 0:
            continue
        p = int(net.hold_product[int(h)])
        g = int(net.producer_region[f])
        arr = made.setdefault(p, np.zeros((result.replications, len(regions))))
        arr[:, g] += result.output_t[:, f] * (float(c) / per_act[f])
        where.setdefault(p, set()).add(g)
    out = {}
    for p in sorted(made, key=lambda p: net.products[p]):
        if not made[p].any():  # made only by plants on line after the horizon: no supply to be concentrated
            continue
        hhi, top3 = _hhi(made[p])
        out[net.products[p]] = {"hhi": stat(hhi), "top3_share": stat(top3),
                                "output_by_region": {regions[g]: stat(made[p][:, g]) for g in sorted(where[p])}}
    return out


def summary_dict(result: Result, net: Any, provenance: dict[str, Any]) -> dict[str, Any]:
    """The DESIGN §8 summary of a run, as plain JSON-ready data."""
    sc = net.scenario
    horizon = sc.horizon
    fill, unmet, lost = result.fill_rate, result.unmet_t, result.lost_days
    regions = list(result.regions)
    blocs = [sc.regions[r].bloc for r in regions]
    bloc_names = list(dict.fromkeys(blocs))
    markets: dict[str, Any] = {}
    for m, mid in enumerate(result.markets):
        dep = {}
        dep_bloc = {}
        for k, stage in enumerate(result.trace_stages):
            shares = result.dependency[:, m, k, :]
            dep[stage] = {r: stat(shares[:, g]) for g, r in enumerate(regions)}
            dep[stage]["none"] = stat(shares[:, -1])
            dep_bloc[stage] = {
                b: stat(shares[:, [g for g, bb in enumerate(blocs) if bb == b]].sum(axis=1)) for b in bloc_names
            }
        markets[mid] = {
            "fill_rate": stat(fill[:, m]),
            "unmet_t": stat(unmet[:, m]),
            "lost_days": stat(lost[:, m]),
            "max_shortfall": stat(result.max_shortfall[:, m]),
            "tts_days": censored_stat(result.tts_days[:, m], result.tts_censored[:, m]),
            "ttr_days": censored_stat(result.ttr_days[:, m], result.ttr_censored[:, m]),
            "event_fill_rate": {w: stat(a[:, m]) for w, a in result.window_fill.items()},
            "substituted_t": stat(result.substituted_t[:, m]),
            "dependency": dep,
            "dependency_bloc": dep_bloc,
        }
    facilities = {
        fid: {"output_t": stat(result.output_t[:, f]), "utilisation": stat(result.capacity_used[:, f])}
        for f, fid in enumerate(result.producers)
    }
    stages: dict[str, Any] = {}
    for stage in dict.fromkeys(net.producer_stage):
        fs = [f for f, s in enumerate(net.producer_stage) if s == stage]
        by_region = np.zeros((result.replications, len(regions)))
        for f in fs:
            by_region[:, int(net.producer_region[f])] += result.output_t[:, f]
        hhi, top3 = _hhi(by_region)
        used = [g for g in range(len(regions)) if any(int(net.producer_region[f]) == g for f in fs)]
        stages[stage] = {"hhi": stat(hhi), "top3_share": stat(top3),
                         "output_by_region": {regions[g]: stat(by_region[:, g]) for g in used},
                         "by_product": _stage_products(result, net, fs, regions)}
    links = {}
    for e, lid in enumerate(result.links):
        x = sc.links[e]
        links[lid] = {"from": x.from_, "to": x.to, "product": x.product,
                      "shipped_t": stat(result.shipped_t[:, e]), "spend_usd": stat(result.spend_usd[:, e])}
    buyer_region = np.asarray(net.link_dst_region)
    supplier_bloc = [sc.regions[regions[int(g)]].bloc for g in np.asarray(net.link_src_region)]
    costs = {
        "by_buyer_region": {r: stat(result.spend_usd[:, buyer_region == g].sum(axis=1))
                            for g, r in enumerate(regions) if (buyer_region == g).any()},
        "by_supplier_bloc": {b: stat(result.spend_usd[:, [e for e, bb in enumerate(supplier_bloc) if bb == b]].sum(axis=1))
                             for b in dict.fromkeys(supplier_bloc)},
        "total_usd": stat(result.spend_usd.sum(axis=1) + result.holding_cost_usd.sum(axis=1)),
    }
    families: dict[str, Any] = {}
    fam_of = [market_family(net, m) for m in range(len(result.markets))]
    days = result.n_steps * result.step_days
    for fam in dict.fromkeys(fam_of):
        cols = [m for m, f in enumerate(fam_of) if f == fam]
        dem = result.demand_t[:, cols].sum(axis=1)
        unmet_f = result.unmet_t[:, cols].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fill_f = np.where(dem > 0, result.served_t[:, cols].sum(axis=1) / np.where(dem > 0, dem, 1), 1.0)
            lost_f = np.where(dem > 0, unmet_f / np.where(dem > 0, dem / days, 1), 0.0)
        families[fam] = {"markets": [result.markets[m] for m in cols], "fill_rate": stat(fill_f),
                         "unmet_t": stat(unmet_f), "lost_days": stat(lost_f)}
    stockpiles = {sid: {"released_t": stat(result.released_t[:, s]), "holding_cost_usd": stat(result.holding_cost_usd[:, s]),
                        "products": {p: {"released_t": stat(result.released_by_holding_t[:, j])}
                                     for j, (owner, p) in enumerate(result.pile_holdings) if owner == sid}}
                  for s, sid in enumerate(net.stockpiles)}
    meta = {
        "regions": {r: {"name": sc.regions[r].name, "bloc": sc.regions[r].bloc} for r in regions},
        "markets": {mid: {"region": mk.region, "sector": mk.sector,
                          "family": market_family(net, net.markets.index(mid)), "name": mk.name,
                          "unmet": mk.unmet}
                    for mid, mk in sc.markets.items()},
        "facilities": {fid: {"region": f.region, "stage": f.stage} for fid, f in sc.facilities.items()}
        | {rid: {"region": r.region, "stage": "recycler"} for rid, r in sc.recyclers.items()},
        "stockpiles": {sid: {"region": s.region} for sid, s in sc.stockpiles.items()},
        "title": sc.title,
        "random": random_elements(sc),
        "trace_stages": list(result.trace_stages),
        "traced_replicates": result.traced_replicates,
        "assumptions": scenario_assumptions(sc),
        "network": network_facts(sc),
    }
    return {
        "scenario": result.scenario,
        **provenance,
        "seed": result.seed,
        "replications": result.replications,
        "version": __version__,
        "backend": kernels.backend(),  # native, numba or numpy: the same results (numpy to 1e-12)
        "horizon": {"start": str(horizon.start), "end": str(horizon.end), "step_days": horizon.step_days},
        "reference_event": result.reference_event,
        "event_windows": [
            {"id": i, "label": lab, "start": str(horizon.start + dt.timedelta(days=s)),
             "end": str(horizon.start + dt.timedelta(days=e))}
            for i, lab, s, e in result.event_windows
        ],
        "mass_balance_error": result.mass_balance_error,
        "markets": markets,
        "facilities": facilities,
        "surplus_t": {p: stat(result.surplus_t[:, i]) for i, p in enumerate(result.products)},
        "collected_t": {p: stat(result.collected_t[:, i]) for i, p in enumerate(result.products)},
        "families": families,
        "stages": stages,
        "links": links,
        "costs": costs,
        "stockpiles": stockpiles,
        "meta": meta,
        "timings": result.timings,
    }


def random_elements(sc: Any) -> list[str]:
    """What a scenario draws at random, in words (what its confidence intervals cover)."""
    from .rng import is_random

    out = []
    if any(d.noise_cv > 0 for m in sc.markets.values() for d in m.demand.values()):
        out.append("day-to-day demand noise")
    if any(f.outages is not None and f.outages.rate_per_year > 0 for f in sc.facilities.values()):
        out.append("plant outages")
    severities = ("blocked", "capacity_lost", "factor", "extra_lead_days", "capacity")
    if any(e.stochastic is not None or any(is_random(getattr(e, k, None) or 0) for k in severities)
           for e in sc.events):
        out.append("events drawn per replicate")
    return out


def write_timeseries(path: Path, result: Result, start: dt.date) -> int:
    """Write the quantile series as tidy rows (time, series, stat, value); return the row count."""
    stats = ("p5", "p50", "p95", "mean")
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "series", "stat", "value"])
        for name, arr in result.series.items():
            labels = [f"{name}:{mid}" for mid in result.series_labels[name]]
            for i, day in enumerate(result.series_times):
                date = str(start + dt.timedelta(days=day - 1))
                # Python floats format faster than numpy scalars (same text); one writerows per interval
                w.writerows([date, lab, s, f"{v:.6g}"] for lab, vals in zip(labels, arr[i].tolist(), strict=True)
                            for s, v in zip(stats, vals, strict=True))
                rows += len(labels) * len(stats)
    return rows


#: what a sweep writes into its folder beside its report (removed only where a sweep.json says a sweep wrote them)
SWEEP_FILES = ("sweep.json", "sensitivity.json", "design.csv", "points.csv", "points.parquet", "timings.csv")


def clear_previous(outdir: Path) -> list[Path]:
    """Remove an earlier run's results from ``outdir`` (a forced rerun), so that none of them sits beside
    the new results as if part of them.

    Only what reesim can be shown to have written goes: ``summary.json``, ``report.html`` and
    ``timeseries.csv``; the figures and tables the earlier ``report.html`` names; the
    ``timeseries.csv`` of each scenario the earlier ``summary.json`` names (and its folder, when
    that leaves it empty); a sweep's files where its ``sweep.json`` is. Anything else stays.
    Returns what was removed.
    """
    import re

    summary, report, sweep = outdir / "summary.json", outdir / "report.html", outdir / "sweep.json"
    if not summary.is_file() and not sweep.is_file():
        return []
    gone: list[Path] = []

    def drop(p: Path) -> None:
        if p.is_file():
            p.unlink()
            gone.append(p)

    names: list[str] = []
    try:
        old = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
        names = [str(n) for n in (old.get("scenarios") or {})] if isinstance(old, dict) else []
    except (OSError, ValueError):
        pass
    for n in names:
        if n and "/" not in n and n not in (".", ".."):
            drop(outdir / n / "timeseries.csv")
            if (outdir / n).is_dir() and not any((outdir / n).iterdir()):
                (outdir / n).rmdir()
    if report.is_file():
        text = report.read_text(encoding="utf-8", errors="replace")
        for sub, name in set(re.findall(r"\b(figures|tables)/([\w.+-]+\.(?:png|svg|csv))\b", text)):
            drop(outdir / sub / name)
    if sweep.is_file():
        for name in SWEEP_FILES:
            drop(outdir / name)
    for name in ("summary.json", "report.html", "timeseries.csv"):
        drop(outdir / name)
    for sub in ("figures", "tables"):
        if (outdir / sub).is_dir() and not any((outdir / sub).iterdir()):
            (outdir / sub).rmdir()
    return gone


def write_run(outdir: Path, result: Result, net: Any, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write summary.json and timeseries.csv into ``outdir``; return the summary."""
    outdir.mkdir(parents=True, exist_ok=True)
    summary = summary_dict(result, net, provenance)
    horizon = net.scenario.horizon
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n", encoding="utf-8")
    write_timeseries(outdir / "timeseries.csv", result, horizon.start)
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
