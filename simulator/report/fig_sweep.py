"""Figures of a sensitivity sweep: tornado chart, index bars, metric-versus-parameter scatter.

Every function takes the loaded sweep (:class:`SweepData`) and returns a
:class:`~simulator.report.canvas.FigureOut` drawn on its own Agg canvas.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .canvas import FigureOut, grid_shape, new_figure, skip

LOW_C, HIGH_C = "#4477aa", "#ee7733"  #: bars of a parameter at the low / high end of its range
IDX_C, IDX2_C = "#1b7f8c", "#b9b9b9"
TOP_TORNADO = 12  #: parameters in the tornado and index charts
TOP_SCATTER = 12  #: panels of the scatter figure


@dataclass
class SweepData:
    """The files of a sweep folder, read."""

    folder: Path
    meta: dict[str, Any]  #: sweep.json
    analysis: dict[str, Any]  #: sensitivity.json
    points: list[dict[str, str]]  #: points.csv rows, by point

    @property
    def params(self) -> list[dict[str, Any]]:
        """Parameter dicts: path, low, high, kind, label."""
        return list(self.meta.get("params", []))

    def label(self, path: str) -> str:
        """Plain-language label of a parameter."""
        return next((p.get("label") or path for p in self.params if p["path"] == path), path)

    def param(self, path: str) -> dict[str, Any]:
        """The parameter dict of ``path``."""
        return next(p for p in self.params if p["path"] == path)


def load_sweep(folder: Path) -> SweepData:
    """Read ``sweep.json``, ``sensitivity.json`` and ``points.csv`` of a finished sweep.

    Raises
    ------
    FileNotFoundError
        When one of them is missing.
    """
    folder = Path(folder)
    meta = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    analysis = json.loads((folder / "sensitivity.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(io.StringIO((folder / "points.csv").read_text(encoding="utf-8"))))
    rows.sort(key=lambda r: int(r["point"]))
    return SweepData(folder, meta, analysis, rows)


def _slug(col: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in col).strip("_")


def _value_text(v: str, kind: str) -> str:
    if kind == "float":
        x = float(v)
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    if kind == "int":
        return f"{int(v):,}"
    return v


def tornado(data: SweepData, col: str) -> FigureOut:
    """The metric with every parameter mid-range, and with one parameter at its low or high end."""
    a = data.analysis["metrics"][col]
    name, title = f"tornado_{_slug(col)}", f"Tornado: {a['label']}"
    t = a.get("tornado")
    if not t:
        return skip(name, title, "the metric has no value at the one-at-a-time points (e.g. no reference "
                                 "event for TTS/TTR)")
    eff = t["params"]
    order = sorted(eff, key=lambda p: -abs(eff[p]["high"] - eff[p]["low"]))[:TOP_TORNADO]
    scale, unit = _scale(a["metric"])
    base = float(t["base"]) * scale
    fig = new_figure(7.6, 1.1 + 0.36 * len(order))
    ax = fig.subplots(1, 1)
    y = np.arange(len(order))[::-1].astype(float)
    vals = [base] + [eff[p][e] * scale for p in order for e in ("low", "high")]
    any_bound = False
    span = (max(vals) - min(vals)) or max(abs(base), 1.0)
    rows = []
    for yy, p in zip(y, order):
        e, par = eff[p], data.param(p)
        lo, hi = e["low"] * scale, e["high"] * scale
        cen = (t.get("censored") or {}).get("params", {}).get(p, {})
        for v, colour, end in ((lo, LOW_C, "low"), (hi, HIGH_C, "high")):
            bound = num_or_0(cen.get(end)) > 0  # a mean over censored replicates: a bound, drawn hatched
            ax.barh(yy, v - base, left=base, height=0.62, color=colour, hatch="////" if bound else None,
                    edgecolor="white" if bound else None, lw=0)
            any_bound = any_bound or bound
        if abs(hi - lo) < 0.005 * span and abs(hi - base) < 0.005 * span and abs(lo - base) < 0.005 * span:
            # a review read 'no change' for Vulcan's ±100 t beside effects of 20,000 t: say which it is
            small = "no change over the range" if lo == hi == base else "under 0.5 % of the widest effect"
            ax.text(base + 0.02 * span, yy, small, va="center", ha="left", fontsize=7, color="#555555")
        else:
            for v, end in ((lo, "low"), (hi, "high")):
                other = hi if end == "low" else lo
                right = v > base or (v == base and other < base)
                txt = _value_text(par[end], par["kind"])
                ax.text(v + (0.015 if right else -0.015) * span, yy, txt, va="center",
                        ha="left" if right else "right", fontsize=7, color="#333333")
        rows.append({"parameter": p, "label": data.label(p), "low_value": par["low"], "high_value": par["high"],
                     "metric_at_low": e["low"], "metric_at_high": e["high"], "metric_all_mid": t["base"]})
    ax.axvline(base, color="#222222", lw=0.9)
    ax.set_yticks(y, [data.label(p) for p in order])
    ax.set_xlabel(f"{a['label'].rsplit(' [', 1)[0]}{unit}")
    ax.set_xlim(min(vals) - 0.3 * span, max(vals) + 0.3 * span)
    if min(vals) >= 0:  # room for the labels left of zero, but no negative ticks for a quantity
        from matplotlib.ticker import FuncFormatter

        dec = 0 if span >= 10 else (1 if span >= 1 else 2)  # a 2-day axis read '438 439 440 440'
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda x, _: "" if x < 0 else (f"{x:,.{dec}f}" if abs(x) >= 100 else f"{x:.3g}")))
    ax.grid(axis="y", visible=False)
    from matplotlib.patches import Patch

    handles = [Patch(color=LOW_C, label="parameter at its low end"),
               Patch(color=HIGH_C, label="parameter at its high end")]
    if any_bound:
        handles.append(Patch(facecolor="#999999", hatch="////", edgecolor="white",
                             label="some replicates censored: the mean is a lower bound"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False, fontsize=7.5)
    cap = (f"{a['label']} with every parameter at the middle of its range (vertical line: "
           f"{_fmt(t['base'], a['metric'])}), and with one parameter moved to its low end (blue) or its high end "
           "(orange), the others kept mid-range; numbers at the bar ends are the parameter's values. Widest bar "
           "on top. These 2k + 1 one-at-a-time runs show local effects around the middle; the index chart "
           "measures effects across the whole design.")
    if a["metric"] in ("tts_days", "ttr_days"):  # a censored time is a bound, not a time
        cap += (" A replicate whose market had not yet run short (TTS) or recovered (TTR) when the horizon ended "
                "counts at that bound, the days left in the horizon: a bar that reaches it means 'not within "
                "the horizon', not that time"
                + ("; hatched bar ends are means over such replicates in part, so lower bounds." if any_bound
                   else "."))
    return FigureOut(name, title, cap, fig, rows=rows)


def num_or_0(x: Any) -> float:
    """A share from JSON (None, NaN or a number) as a number, 0 when absent."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def _fmt(v: float, metric: str) -> str:
    from ..sensitivity import fmt_metric

    if metric in ("fill_rate", "max_shortfall"):
        return f"{100 * v:.1f} %"
    return fmt_metric(v, metric)


def index_bars(data: SweepData, col: str) -> FigureOut:
    """Sensitivity indices per parameter: Morris μ* and σ, or Sobol S1 and S_T, or S1, with 95 % CIs."""
    a = data.analysis["metrics"][col]
    method = data.meta["method"]
    name, title = f"indices_{_slug(col)}", f"Sensitivity indices: {a['label']}"
    if not a.get("ok") or not a.get("indices"):
        return skip(name, title, a.get("note") or "no indices")
    order = a["ranking"][:TOP_TORNADO]
    idx = a["indices"]
    if method == "morris":
        scale, unit = _scale(a["metric"], change=True)
        series = [("μ* (mean |effect|)", "mu_star", "mu_star_conf", IDX_C), ("σ (spread of effects)", "sigma", None,
                                                                                IDX2_C)]
        xlabel = f"change in {a['label'].rsplit(' [', 1)[0]}{unit} per parameter range (one step, scaled)"
    elif method == "sobol":
        scale, unit = 1.0, ""
        series = [("S1 first order", "S1", "S1_conf", IDX2_C), ("S_T total order", "ST", "ST_conf", IDX_C)]
        xlabel = "share of the metric's variance"
    else:
        scale, unit = 1.0, ""
        series = [("S1 first order", "S1", "S1_conf", IDX_C)]
        xlabel = "share of the metric's variance"
    fig = new_figure(7.6, 1.0 + 0.36 * len(order) * (1.0 if len(series) == 1 else 1.35))
    ax = fig.subplots(1, 1)
    y = np.arange(len(order))[::-1].astype(float)
    h = 0.8 / len(series)
    rows = []
    for j, (lab, key, conf, colour) in enumerate(series):
        ys = y + 0.4 - h * (j + 0.5)
        vals = np.array([_num(idx[p].get(key)) * scale for p in order])
        errs = np.array([_num(idx[p].get(conf)) * scale if conf else math.nan for p in order])
        ax.barh(ys, np.nan_to_num(vals), height=h * 0.9, color=colour, label=lab)
        ok = np.isfinite(errs) & (errs > 0)
        if ok.any():
            ax.errorbar(vals[ok], ys[ok], xerr=errs[ok], fmt="none", ecolor="#222222", elinewidth=0.8, capsize=2)
    for p in order:
        rows.append({"parameter": p, "label": data.label(p), **{k: v for k, v in idx[p].items()}})
    ax.set_yticks(y, [data.label(p) for p in order])
    ax.set_xlabel(xlabel)
    left = min(0.0, float(np.nanmin([_num(idx[p].get(s[1])) * scale for p in order for s in series] + [0.0])))
    ax.set_xlim(left=left)
    ax.grid(axis="y", visible=False)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncol=len(series), frameon=False,
               fontsize=7.5)
    if method == "morris":
        cap = ("Morris screening (SALib): μ* is the mean absolute elementary effect — the metric's change over "
               "one step of the parameter, scaled up to its whole range (a slope, so where the metric saturates "
               "or is cut off by the horizon μ* can exceed the spread of the values seen) — with its 95 % "
               "bootstrap CI; σ is "
               "the spread of those effects: σ comparable to μ* means the effect depends on the other "
               "parameters (interactions) or is not linear.")
    elif method == "sobol":
        cap = ("Sobol' indices (SALib, Saltelli design): S1 is the share of the metric's variance due to the "
               "parameter alone, S_T the share including all its interactions; whiskers are 95 % bootstrap CIs. "
               "S_T well above S1 means interactions matter.")
    elif method == "lhs":
        cap = ("First-order indices by RBD-FAST (SALib) on the Latin-hypercube points, with 95 % bootstrap "
               "CIs: the share of the metric's variance due to each parameter alone.")
    else:
        cap = ("First-order share of variance on the full grid: Var(mean metric at each level of the "
               "parameter) / Var(metric). Exact for the grid; no confidence interval.")
    return FigureOut(name, title, cap, fig, rows=rows)


def scatter(data: SweepData, col: str) -> FigureOut:
    """The metric at every point against each parameter (small multiples)."""
    a = data.analysis["metrics"][col]
    name, title = f"scatter_{_slug(col)}", f"{a['label']} at every point, by parameter"
    if not data.points:
        return skip(name, title, "points.csv is empty")
    ranked = a.get("ranking") or [p["path"] for p in data.params]
    panels = ranked[:TOP_SCATTER]
    from matplotlib.ticker import MaxNLocator

    scale, unit = _scale(a["metric"])
    pts = data.points[:int(data.meta.get("n_design", len(data.points)))]
    y = np.array([float(r[col]) for r in pts]) * scale
    nrows, ncols = grid_shape(len(panels))
    fig = new_figure(10.0 if ncols > 1 else 6.0, 0.7 + 2.2 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    for k, p in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        par = data.param(p)
        if par["kind"] == "date":
            x: Any = [dt.date.fromisoformat(r[p]) for r in pts]
        else:
            x = np.array([float(r[p]) for r in pts])
        ax.scatter(x, y, s=9, color=IDX_C, alpha=0.6, lw=0)
        ax.set_title(data.label(p), fontsize=8.5)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        if k % ncols == 0:
            ax.set_ylabel(f"{a['label'].rsplit(' [', 1)[0]}{unit}")
        if par["kind"] == "date":
            from .canvas import date_axis

            date_axis(ax)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].set_axis_off()
    cap = (f"Each dot is one point of the design ({len(pts)} in all): the mean over its replicates of "
           f"{a['label']}, against the parameter's value at that point. A clear slope shows a strong main "
           "effect; a vertical spread at one value shows the other parameters' influence.")
    return FigureOut(name, title, cap, fig)


def _scale(metric: str, change: bool = False) -> tuple[float, str]:
    """Display scale and unit suffix of a metric (fill rate and shortfall in %, their changes in pp)."""
    if metric in ("fill_rate", "max_shortfall"):
        return 100.0, " [pp]" if change else " [%]"
    return 1.0, {"unmet_t": " [t]", "lost_days": " [d]", "tts_days": " [d]", "ttr_days": " [d]",
                 "cost_usd": " [USD]", "substituted_t": " [t]"}.get(metric, "")


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan
