"""Market figures: fill fan charts, stock cover and stockpiles, unmet demand, TTS and TTR.

Every function takes a :class:`~simulator.report.data.ReportData` and returns a
:class:`~simulator.report.canvas.FigureOut`. They stay legible with many
markets: time series are small multiples of the markets with the most unmet
demand (``TOP_SERIES``), bar charts show the top ``TOP_BARS`` markets and sum
the rest into one bar, and families get their own chart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .canvas import FigureOut, date_axis, grid_shape, new_figure, shade_windows, skip, top_legend
from .data import ReportData, Series, View, fmt_share, fmt_ttx, half_width, interval_word, num

TOP_SERIES = 12  #: markets drawn as small multiples
TOP_BARS = 15  #: markets drawn as bars before the rest are summed
TOP_TTX = 20  #: markets in the TTS/TTR chart


def _rest_note(shown: int, total: int, what: str, data: ReportData | None = None) -> str:
    if total <= shown:
        return ""
    n = sum(data.in_focus(m) for m in data.market_ids()) if data is not None and data.focus else 0
    if n >= shown:  # the focus alone fills the figure
        return (f" Showing {shown} of the {n} markets of the focus ({', '.join(data.focus)}), those with the most "
                f"unmet demand ({total} markets in all); {what}")
    if n:
        return (f" Showing {shown} of {total} markets: the {n} of the focus ({', '.join(data.focus)}) first, "
                f"then those with the most unmet demand; {what}")
    return f" Showing the {shown} markets with the most unmet demand of {total}; {what}"


def _fan(ax: Any, s: Series, colour: str, scale: float = 1.0) -> None:
    ax.fill_between(s.times, s.p5 * scale, s.p95 * scale, color=colour, alpha=0.2, lw=0, step="pre")
    ax.plot(s.times, s.p50 * scale, color=colour, lw=1.4, drawstyle="steps-pre")


def _scenario_handles(data: ReportData, band: bool = True) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out: list[Any] = []
    for v in data.views:
        out.append(Line2D([], [], color=v.colour, lw=1.6, label=f"{v.name}: median"))
        if band:
            out.append(Patch(color=v.colour, alpha=0.25, label=f"{v.name}: p5–p95"))
    return out


def _small_multiples(data: ReportData, prefix: str, ids: list[str], ylabel: str, percent: bool,
                     name: str, title: str, caption: str, unit: str) -> FigureOut:
    """Small multiples of one series per id, a fan per scenario, event windows shaded.

    The rows for the CSV are ``p5_<unit>``, ``p50_<unit>``, ``p95_<unit>``: in percent (``pct``) for a
    share (``percent``), as drawn; else in the series' own unit (``days``, ``t``).
    """
    from matplotlib.ticker import PercentFormatter

    panels = [i for i in ids if any(f"{prefix}:{i}" in v.series for v in data.views)]
    if not panels:
        return skip(name, title, f"timeseries.csv has no '{prefix}:…' series.")
    nrows, ncols = grid_shape(len(panels))
    fig = new_figure(10.0 if ncols > 1 else 7.0, 0.9 + 2.05 * nrows)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=percent, squeeze=False)
    lowest = min([float(np.nanmin(v.series[f"{prefix}:{i}"].p5)) for i in panels for v in data.views
                  if f"{prefix}:{i}" in v.series] + [0.9])
    rows: list[dict[str, Any]] = []
    handles: list[Any] = []
    scale = 100.0 if percent else 1.0
    for k, ident in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        wh = shade_windows(ax, data)
        handles = handles or wh
        for v in data.views:
            s = v.series.get(f"{prefix}:{ident}")
            if s is None:
                continue
            _fan(ax, s, v.colour, scale)
            rows += [{"scenario": v.name, "id": ident, "time": str(t), f"p5_{unit}": a * scale,
                      f"p50_{unit}": b * scale, f"p95_{unit}": c * scale}
                     for t, a, b, c in zip(s.times, s.p5, s.p50, s.p95)]
        fam = data.family_of(ident) if not prefix.startswith("stockpile") else None
        ax.set_title(ident + (f"  ·  {fam}" if fam else ""), fontsize=8.5)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(100.0, decimals=0))
            # a deep shortfall on an axis from 0 (25 % on an axis from 20 % read as nothing left); a shallow
            # one zoomed in so that it shows
            low = lowest * 100.0 - 5.0
            ax.set_ylim(0.0 if low < 50.0 else min(low, 90.0), 102.0)
        else:
            ax.set_ylim(bottom=0.0)
        if k % ncols == 0:
            ax.set_ylabel(ylabel)
        date_axis(ax)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].set_axis_off()
    top_legend(fig, _scenario_handles(data) + handles)
    return FigureOut(name, title, caption, fig, rows=rows)


def fill_fan(data: ReportData) -> FigureOut:
    """Fan charts of the fill rate per market over time (median, p5–p95), windows shaded."""
    ranked = data.ranked_markets()
    ids = ranked[:TOP_SERIES]
    times = next((s.times for v in data.views for k, s in v.series.items() if k.startswith("fill:")), ())
    word = interval_word(times)
    cap = (f"{word.capitalize()} fill rate (demand met on the day it arose ÷ demand) per market: median "
           "across replicates, with the band from the 5th to the 95th percentile; one colour per scenario. "
           "Shaded: event windows." + _rest_note(len(ids), len(ranked), "all series are in timeseries.csv.", data))
    return _small_multiples(data, "fill", ids, "fill rate", True, "fill_fan",
                            f"Fill rate over time ({word})", cap, "pct")


def cover(data: ReportData) -> FigureOut:
    """Market stock cover (days of expected use on hand) over time, per market."""
    ranked = data.ranked_markets()
    ids = ranked[:TOP_SERIES]
    cap = ("Stock on hand at each market in days of its expected use (for a market buying several "
           "products, the product with the least cover): median and p5–p95 across "
           "replicates. Zero cover means the market lives from what arrives each day."
           + _rest_note(len(ids), len(ranked), "all series are in timeseries.csv.", data))
    return _small_multiples(data, "market_cover_days", ids, "cover [d]", False, "market_cover",
                            "Market stock cover over time", cap, "days")


def stockpiles(data: ReportData) -> FigureOut:
    """Stockpile levels over time, one panel per product a stockpile holds (``stockpile_product_t:<id>/<product>``
    series; results from before them: one panel per stockpile, ``stockpile_t:<id>``)."""
    for prefix in ("stockpile_product_t", "stockpile_t"):
        ids: dict[str, None] = {}
        for v in data.views:
            ids.update(dict.fromkeys(k.split(":", 1)[1] for k in v.series if k.startswith(prefix + ":")))
        if ids:
            break
    if not ids:
        return skip("stockpiles", "Stockpile levels over time",
                    "No stockpile series (stockpile_t:…) in timeseries.csv: the scenario has no stockpiles, "
                    "or its results predate them.")
    cap = ("Stock of each product each stockpile holds [t] (stockpile/product): median and p5–p95 across "
           "replicates. Shaded: event windows." if prefix == "stockpile_product_t" else
           "Stock held by each stockpile [t], all the products it holds summed: median and p5–p95 across "
           "replicates. Shaded: event windows.")
    out = _small_multiples(data, prefix, list(ids)[:TOP_SERIES], "stock [t]", False, "stockpiles",
                           "Stockpile levels over time", cap, "t")
    table = _stockpile_rows(data)
    if table:
        out.caption += " Releases and holding costs are in the table below."
    return out


def _stockpile_rows(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for v in data.views:
        for sid, s in (v.summary.get("stockpiles") or {}).items():
            rows.append({"scenario": v.name, "stockpile": sid,
                         "released_t": num(s.get("released_t", {}).get("mean")),
                         "holding_cost_usd": num(s.get("holding_cost_usd", {}).get("mean"))})
    return rows


# --------------------------------------------------------------------------- bars


def _hbars(ax: Any, labels: list[str], values: list[list[tuple[float, float]]], colours: list[str],
           names: list[str], fmt: str) -> None:
    """Grouped horizontal bars: ``values[row][scenario] = (mean, CI half-width)``, top row first."""
    n_s = len(colours)
    h = 0.8 / n_s
    y = np.arange(len(labels))[::-1].astype(float)
    xmax = max((m + (w if math.isfinite(w) else 0.0) for row in values for m, w in row if math.isfinite(m)),
               default=0.0)
    for j in range(n_s):
        ys = y + 0.4 - h * (j + 0.5)
        ms = np.array([row[j][0] for row in values])
        ws = np.array([row[j][1] for row in values])
        ax.barh(ys, np.nan_to_num(ms), height=h * 0.92, color=colours[j], label=names[j])
        ok = np.isfinite(ws) & (ws > 0)
        if ok.any():
            ax.errorbar(ms[ok], ys[ok], xerr=ws[ok], fmt="none", ecolor="#222222", elinewidth=0.8, capsize=2)
        for yy, m, w in zip(ys, ms, ws):
            if math.isfinite(m):
                ax.text(m + (w if math.isfinite(w) else 0.0) + 0.01 * max(xmax, 1e-9), yy, format(m, fmt),
                        va="center", ha="left", fontsize=7, color="#333333")
    ax.set_yticks(y, labels)
    ax.set_xlim(0, max(xmax, 1e-9) * 1.18)
    ax.grid(axis="y", visible=False)


def unmet_by_market(data: ReportData) -> FigureOut:
    """Unmet demand [t] and lost days [d] per market with 95 % CI whiskers (top markets, rest summed)."""
    name, title = "unmet_by_market", "Unmet demand and lost days by market"
    ranked = data.ranked_markets()
    if not ranked:
        return skip(name, title, "summary.json lists no markets.")
    shown, rest = ranked[:TOP_BARS], ranked[TOP_BARS:]
    labels = list(shown)
    unmet, lost, rows = [], [], []
    for m in shown:
        u_row, l_row = [], []
        for v in data.views:
            mk = v.markets.get(m)
            u = mk["unmet_t"] if mk else None
            ld = mk["lost_days"] if mk else None
            u_row.append((num(u["mean"]) if u else math.nan, half_width(u)))
            l_row.append((num(ld["mean"]) if ld else math.nan, half_width(ld)))
            rows.append({"scenario": v.name, "market": m, "unmet_t": u_row[-1][0], "unmet_ci_half_t": u_row[-1][1],
                         "lost_days": l_row[-1][0], "lost_ci_half_days": l_row[-1][1]})
        unmet.append(u_row)
        lost.append(l_row)
    if rest:
        labels.append(f"other {len(rest)} markets (sum)")
        unmet.append([(sum(num(v.markets[m]["unmet_t"]["mean"]) for m in rest if m in v.markets), math.nan)
                      for v in data.views])
        lost.append([(math.nan, math.nan) for _ in data.views])
        for v, (u, _) in zip(data.views, unmet[-1]):
            rows.append({"scenario": v.name, "market": labels[-1], "unmet_t": u})
    fig = new_figure(10.0, 1.1 + 0.26 * len(labels) * max(1, len(data.views)) ** 0.6)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    cols, names = [v.colour for v in data.views], [v.name for v in data.views]
    _hbars(ax1, labels, unmet, cols, names, ",.0f")
    _hbars(ax2, labels, lost, cols, names, ",.1f")
    ax1.set_xlabel("unmet demand [t]")
    ax2.set_xlabel("lost days of supply [d]")
    ax1.set_title("Unmet demand")
    ax2.set_title("Lost days (unmet ÷ mean daily demand)")
    if len(data.views) > 1:
        top_legend(fig, ax1.get_legend_handles_labels()[0])
    cap = ("Mean over replicates with 95 % confidence intervals of the mean (whiskers)."
           + (f" The {len(rest)} markets with the least unmet demand are summed into one bar "
              "(no whisker: their covariance is not kept)." if rest else ""))
    return FigureOut(name, title, cap, fig, rows=rows)


def family_stats(data: ReportData, v: View) -> tuple[dict[str, dict[str, Any]], bool]:
    """Per-family STAT-like dicts of ``unmet_t`` and ``lost_days`` and whether they are exact.

    Exact when the summary has ``groups`` (written by ``reesim compare``);
    otherwise the markets' means are summed using ``meta`` families, with the
    sum of their CI half-widths as a conservative half-width (sd of a sum is
    at most the sum of the sds) and no lost days.
    """
    groups = v.summary.get("groups") or {}
    fams = {k.split(":", 1)[1]: g for k, g in groups.items() if k.startswith("family:")}
    if fams:
        return fams, True
    out: dict[str, dict[str, Any]] = {}
    for m, mk in v.markets.items():
        f = data.family_of(m)
        if f is None:
            return {}, False
        u = mk["unmet_t"]
        acc = out.setdefault(f, {"unmet_t": {"mean": 0.0, "half": 0.0}, "n_markets": 0})
        acc["unmet_t"]["mean"] += num(u["mean"])
        acc["unmet_t"]["half"] += half_width(u) if math.isfinite(half_width(u)) else 0.0
        acc["n_markets"] += 1
    for acc in out.values():
        mean, half = acc["unmet_t"]["mean"], acc["unmet_t"].pop("half")
        acc["unmet_t"]["ci95"] = [mean - half, mean + half]
    return out, False


def unmet_by_family(data: ReportData) -> FigureOut:
    """Unmet demand and lost days per market family (magnets, batteries, ...) with CI whiskers."""
    name, title = "unmet_by_family", "Unmet demand and lost days by market family"
    per = [family_stats(data, v) for v in data.views]
    if not any(p[0] for p in per):
        return skip(name, title, "summary.json has no market families (meta.markets[…].family), "
                                 "so markets cannot be grouped by family.")
    exact = all(p[1] for p in per)
    fams = sorted({f for p in per for f in p[0]})
    unmet = [[(num(p[0].get(f, {}).get("unmet_t", {}).get("mean")), half_width(p[0].get(f, {}).get("unmet_t")))
              for p in per] for f in fams]
    rows = [{"scenario": v.name, "family": f, "unmet_t": unmet[i][j][0], "unmet_ci_half_t": unmet[i][j][1]}
            for i, f in enumerate(fams) for j, v in enumerate(data.views)]
    cols, names = [v.colour for v in data.views], [v.name for v in data.views]
    fig = new_figure(10.0, 1.2 + 0.32 * len(fams) * max(1, len(data.views)) ** 0.6)
    if exact:
        ax1, ax2 = fig.subplots(1, 2, sharey=True)
        lost = [[(num(p[0][f]["lost_days"]["mean"]) if f in p[0] else math.nan,
                  half_width(p[0].get(f, {}).get("lost_days"))) for p in per] for f in fams]
        for i, f in enumerate(fams):
            for j in range(len(data.views)):
                rows[i * len(data.views) + j]["lost_days"] = lost[i][j][0]
        _hbars(ax2, fams, lost, cols, names, ",.1f")
        ax2.set_xlabel("lost days of supply [d]")
        ax2.set_title("Lost days (family unmet ÷ family mean daily demand)")
    else:
        ax1 = fig.subplots(1, 1)
    _hbars(ax1, fams, unmet, cols, names, ",.0f")
    ax1.set_xlabel("unmet demand [t]")
    ax1.set_title("Unmet demand")
    if len(data.views) > 1:
        top_legend(fig, ax1.get_legend_handles_labels()[0])
    cap = "A market's family is the family of the products it demands. Mean over replicates; whiskers: 95 % CI."
    if not exact:
        cap += (" Family totals are sums of the markets' means; whiskers are the sum of the markets' CI "
                "half-widths, a conservative bound. Lost days by family need per-replicate family totals, "
                "which a comparison (reesim compare) writes.")
    return FigureOut(name, title, cap, fig, rows=rows)


# --------------------------------------------------------------------------- TTS / TTR


def tts_ttr(data: ReportData) -> FigureOut:
    """Time to survive and time to recover per market, censored values hollow and marked ``> N d``."""
    name, title = "tts_ttr", "Time to survive (TTS) and time to recover (TTR)"
    ref, label, _ = data.reference()
    if ref is None and not any(
            v.markets.get(m, {}).get("tts_days", {}).get("n") for v in data.views for m in v.markets):
        return skip(name, title, "No reference event: TTS and TTR are measured from a disruption's start, "
                                 "and this scenario has none.")
    ranked = data.ranked_markets()
    shown = ranked[:TOP_TTX]
    n_v = len(data.views)
    fig = new_figure(10.0, 1.3 + 0.3 * len(shown) * max(1, n_v) ** 0.6)
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(shown))[::-1].astype(float)
    rows: list[dict[str, Any]] = []
    xmax = 1.0
    for ax, metric, word in ((axes[0], "tts_days", "TTS"), (axes[1], "ttr_days", "TTR")):
        for j, v in enumerate(data.views):
            dy = 0.0 if n_v == 1 else 0.2 - 0.4 * j / (n_v - 1)
            for yy, m in zip(y + dy, shown):
                s = v.markets.get(m, {}).get(metric)
                if not s:
                    continue
                cen = s.get("censored")
                rows.append({"scenario": v.name, "market": m, "metric": metric, "p5_days": s.get("p5"),
                             "p50_days": s.get("p50"), "p95_days": s.get("p95"),
                             "censored_pct": None if cen is None else 100.0 * num(cen),
                             "censored_at_least_days": s.get("censored_at_least"), "shown": fmt_ttx(s)})
                xmax = max([xmax, *(num(s.get(k)) for k in ("p95", "censored_at_least") if s.get(k) is not None)])
                _ttx_marker(ax, yy, s, v.colour)
        ax.set_title(f"{word} [d]")  # the reference event goes under both panels: two titles with it overlapped
        ax.set_xlabel(f"days after {label or 'the reference event'} starts", fontsize=8)
        ax.grid(axis="y", visible=False)
    _, _, ref_start = data.reference()
    end = data.horizon_end()
    for ax in axes:
        ax.set_xlim(-0.03 * xmax, xmax * 1.22)
        ax.set_ylim(-0.7, len(shown) - 0.3)
        for yy in y[:-1]:
            ax.axhline(yy - 0.5, color="#eeeeee", lw=0.8, zorder=0)
        ax.set_yticks(y, shown)
        x_end = (end - ref_start).days + 1 if ref_start is not None and end is not None else None
        if x_end is not None and x_end <= xmax * 1.22:  # only when the data reach near it
            ax.axvline(x_end, color="#999999", lw=0.8, ls="--", zorder=0)
            ax.text(x_end, 1.0, "end of horizon ", transform=ax.get_xaxis_transform(),
                    ha="right", va="bottom", fontsize=6.5, color="#777777")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="#555555", marker="o", ls="-", lw=1, label="median, p5–p95 line")]
    bounds = sorted({num(r["censored_at_least_days"]) for r in rows
                     if num(r.get("censored_pct") or 0.0) > 0 and r.get("censored_at_least_days") is not None})
    if bounds:
        handles.append(Line2D([], [], color="#555555", marker="o", mfc="white", ls="none",
                              label=censored_label(bounds)))
    if n_v > 1:
        handles = [Line2D([], [], color=v.colour, marker="o", ls="none", label=v.name) for v in data.views] + handles
    top_legend(fig, handles)
    cap = ("TTS: days from the reference event's start to the first day with fill below 99 %. TTR: days to "
           "the first day, after the first shortage, on which the 30-day rolling fill is back at 99 % after "
           "falling below it (the next day if it never did; 0 when there was no shortage). Filled marker: "
           "median over the replicates that reached it, with p5–p95; "
           "hollow marker '> N d': replicates in which the market had not yet run short (TTS) or not yet "
           "recovered (TTR) when the horizon ended, N days after the start, so their time is more than N; "
           "'n/a': no reference event in that scenario."
           + _rest_note(len(shown), len(ranked), "every market's values are in summary.json.", data))
    return FigureOut(name, title, cap, fig, rows=rows)


def censored_label(bounds: list[float]) -> str:
    """The legend entry of the hollow markers: replicates that had not reached the time when the horizon
    ended, with the bound N filled in (``> 1,461 d``; ``> 1,096–1,461 d`` when markets or scenarios differ)."""
    n = f"{bounds[0]:,.0f}" if len(bounds) == 1 else f"{bounds[0]:,.0f}–{bounds[-1]:,.0f}"
    return f"not reached when the horizon ends: > {n} d"


def _ttx_marker(ax: Any, y: float, s: dict[str, Any], colour: str) -> None:
    n = s.get("n") or 0
    cen = num(s.get("censored", 0.0))
    bound = s.get("censored_at_least")
    if n:
        ax.plot([num(s["p5"]), num(s["p95"])], [y, y], color=colour, lw=1.2, solid_capstyle="butt")
        ax.plot([num(s["p50"])], [y], marker="o", color=colour, ms=5)
        if num(s["p95"]) == 0.0:
            ax.annotate("0: no shortage", (0, y), xytext=(6, 0), textcoords="offset points", va="center",
                        fontsize=7, color=colour)
    if cen > 0 and bound is not None:
        ax.plot([num(bound)], [y], marker="o", mfc="white", mec=colour, mew=1.3, ms=6, ls="none")
        # a share under 1 % read '(0 %)' beside a marker that says some replicates are there
        text = f"> {num(bound):,.0f} d" + ("" if not n else f" ({fmt_share(cen)})")
        ax.annotate(text, (num(bound), y), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=7, color=colour)
    if not n and bound is None:
        ax.annotate("n/a", (0, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7,
                    color="#777777")
