"""Machine-readable results (DESIGN §8): ``summary.json`` and tidy ``timeseries.csv``."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .engine import Result
from .metrics import censored_stat, stat


def summary_dict(result: Result, horizon: Any, provenance: dict[str, Any]) -> dict[str, Any]:
    """The DESIGN §8 summary of a run, as plain JSON-ready data."""
    fill, unmet, lost = result.fill_rate, result.unmet_t, result.lost_days
    markets: dict[str, Any] = {}
    for m, mid in enumerate(result.markets):
        markets[mid] = {
            "fill_rate": stat(fill[:, m]),
            "unmet_t": stat(unmet[:, m]),
            "lost_days": stat(lost[:, m]),
            "max_shortfall": stat(result.max_shortfall[:, m]),
            "tts_days": censored_stat(result.tts_days[:, m], result.tts_censored[:, m]),
            "ttr_days": censored_stat(result.ttr_days[:, m], result.ttr_censored[:, m]),
            "event_fill_rate": {w: stat(a[:, m]) for w, a in result.window_fill.items()},
            "dependency": {},
        }
    facilities = {
        fid: {"output_t": stat(result.output_t[:, f]), "utilisation": stat(result.capacity_used[:, f])}
        for f, fid in enumerate(result.producers)
    }
    return {
        "scenario": result.scenario,
        **provenance,
        "seed": result.seed,
        "replications": result.replications,
        "version": __version__,
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
        "timings": result.timings,
    }


def write_timeseries(path: Path, result: Result, start: dt.date) -> int:
    """Write the quantile series as tidy rows (time, series, stat, value); return the row count."""
    stats = ("p5", "p50", "p95", "mean")
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "series", "stat", "value"])
        for name, arr in result.series.items():
            for i, day in enumerate(result.series_times):
                date = str(start + dt.timedelta(days=day - 1))
                for k, mid in enumerate(result.markets):
                    for j, s in enumerate(stats):
                        w.writerow([date, f"{name}:{mid}", s, f"{arr[i, k, j]:.6g}"])
                        rows += 1
    return rows


def write_run(outdir: Path, result: Result, horizon: Any, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write summary.json and timeseries.csv into ``outdir``; return the summary."""
    outdir.mkdir(parents=True, exist_ok=True)
    summary = summary_dict(result, horizon, provenance)
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n", encoding="utf-8")
    write_timeseries(outdir / "timeseries.csv", result, horizon.start)
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
