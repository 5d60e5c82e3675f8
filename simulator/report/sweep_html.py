"""The self-contained HTML report of a sweep folder (``report.html``).

:func:`write_sweep_report` reads only the sweep's files (``sweep.json``,
``sensitivity.json``, ``points.csv``), draws the tornado chart, the index bars
and the scatter per metric with matplotlib on Agg canvases, and writes
``report.html`` (inline CSS, figures as base64 PNG, no scripts, nothing fetched),
``figures/<name>.png|.svg`` and ``tables/<name>.csv``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from . import fig_sweep as FW
from .html import CSS, _e, _figure_html, _write_rows  # one figure/table writer for every report

EXTRA_CSS = """
.lead{font-size:16px;margin:10px 0 4px}
.pair{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}
.pair .fig{margin:0}
"""
MAX_METRIC_SECTIONS = 8  #: metrics drawn in full; the rest are in the tables


def write_sweep_report(folder: Path) -> Path:
    """Render ``report.html``, ``figures/`` and ``tables/`` of a finished sweep folder.

    Parameters
    ----------
    folder : Path
        A folder written by ``reesim sweep`` whose sweep is complete.

    Returns
    -------
    Path
        The ``report.html`` written.

    Raises
    ------
    FileNotFoundError
        If ``sweep.json``, ``sensitivity.json`` or ``points.csv`` is missing.

    Examples
    --------
    >>> write_sweep_report(Path("reports/example-sweep"))  # doctest: +SKIP
    PosixPath('reports/example-sweep/report.html')
    """
    folder = Path(folder)
    data = FW.load_sweep(folder)
    meta, an = data.meta, data.analysis
    figdir, tabdir = folder / "figures", folder / "tables"
    metrics = list(an["metrics"])
    title = f"Sensitivity sweep: {meta.get('title') or meta.get('scenario')}"
    parts = [f"<header><h1>{_e(title)}</h1><p class='sub'>{_e(_subtitle(data))}</p></header>"]
    shown = metrics[:MAX_METRIC_SECTIONS]
    nav = [("drivers", "Top drivers"), ("parameters", "Parameters")]
    nav += [(f"m-{FW._slug(c)}", an["metrics"][c]["label"]) for c in shown]
    nav += [("provenance", "Provenance")]
    parts.append("<nav>" + "".join(f"<a href='#{i}'>{_e(t)}</a>" for i, t in nav) + "</nav>")
    parts.append("<section id='drivers'><h2>Top drivers</h2><ul class='findings'>"
                 + "".join(f"<li>{_e(an['metrics'][c]['sentence'])}</li>" for c in metrics) + "</ul>"
                 + f"<p class='caption'>{_e(_method_note(data))}</p></section>")
    parts.append(f"<section id='parameters'><h2>Parameters</h2>{_params_table(data, tabdir)}</section>")
    for c in shown:
        a = an["metrics"][c]
        figs = [_figure_html(lambda d, c=c: FW.tornado(d, c), data, figdir, tabdir),
                _figure_html(lambda d, c=c: FW.index_bars(d, c), data, figdir, tabdir)]
        body = (f"<p class='lead'>{_e(a['sentence'])}</p><div class='pair'>{''.join(figs)}</div>"
                + _index_table(data, c, tabdir)
                + _figure_html(lambda d, c=c: FW.scatter(d, c), data, figdir, tabdir))
        parts.append(f"<section id='m-{FW._slug(c)}'><h2>{_e(a['label'])}</h2>{body}</section>")
    if len(metrics) > len(shown):
        parts.append(f"<p class='note'>{len(metrics) - len(shown)} more metrics are analysed in "
                     "sensitivity.json and tables/; only the first are drawn.</p>")
    parts.append(f"<section id='provenance'><h2>Provenance</h2>{_provenance(data)}</section>")
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}{EXTRA_CSS}</style></head><body><main>"
            + "\n".join(parts) + "</main></body></html>\n")
    out = folder / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


def _table(head: list[str], rows: list[list[str]], num_cols: set[int], caption: str) -> str:
    th = "".join(f"<th class='{'num' if i in num_cols else ''}'>{_e(h)}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td class='{'num' if i in num_cols else ''}'>{_e(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f"<div class='scroll'><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>"
            f"<p class='caption'>{caption}</p>")


def _params_table(data: FW.SweepData, tabdir: Path) -> str:
    rows = [[p.get("label") or p["path"], p["path"], str(p["low"]), str(p["high"]),
             {"float": "number", "int": "integer", "date": "date (whole days)"}.get(p["kind"], p["kind"])]
            for p in data.params]
    _write_rows(tabdir / "parameters.csv", [dict(zip(("label", "path", "low", "high", "kind"), r)) for r in rows])
    cap = (_e("Each parameter is a --set path of the scenario, varied between its low and high value. ")
           + "<span class='files'>[tables/parameters.csv]</span>")
    return _table(["parameter", "path", "low", "high", "values"], rows, {2, 3}, cap)


def _index_table(data: FW.SweepData, col: str, tabdir: Path) -> str:
    from ..sensitivity import direction, fmt_metric

    a = data.analysis["metrics"][col]
    if not a.get("indices"):
        return ""
    method = data.meta["method"]
    keys = {"morris": ["mu_star", "mu_star_conf", "mu", "sigma"], "sobol": ["S1", "S1_conf", "ST", "ST_conf"],
            "lhs": ["S1", "S1_conf"], "grid": ["S1"]}[method]
    names = {"mu_star": "μ*", "mu_star_conf": "μ* 95 % ±", "mu": "μ (signed)", "sigma": "σ", "S1": "S1",
             "S1_conf": "S1 95 % ±", "ST": "S_T", "ST_conf": "S_T 95 % ±"}
    tor = (a.get("tornado") or {}).get("params", {})
    rows, csv_rows = [], []
    for p in a["ranking"]:
        idx = a["indices"][p]
        cells = [fmt_metric(idx.get(k), a["metric"]) if method == "morris" else
                 ("n/a" if idx.get(k) is None else f"{idx[k]:.3f}") for k in keys]
        e = tor.get(p, {})
        cells += [_level(e.get("low"), a["metric"]), _level(e.get("high"), a["metric"])]
        way = direction(a, p, method)
        rows.append([data.label(p), *cells, way])
        csv_rows.append({"parameter": p, **{k: idx.get(k) for k in keys}, "metric_at_low_others_mid": e.get("low"),
                         "metric_at_high_others_mid": e.get("high"), "direction": way})
    name = f"indices_table_{FW._slug(col)}"
    _write_rows(tabdir / f"{name}.csv", csv_rows)
    head = ["parameter", *(names[k] for k in keys), "at low end", "at high end", "direction"]
    base = (a.get("tornado") or {}).get("base")
    note = (f"'At low/high end': the metric with that parameter at the end of its range and the others mid-range "
            f"(the tornado; all mid-range: {_level(base, a['metric'])}). 'Direction' is over the whole design"
            + (" (sign of μ)" if method == "morris" else " (main effect)") + ". ")
    cap = (_e(f"Ranked by {data.analysis['index_name']}. {note}")
           + f"<span class='files'>[tables/{_e(name)}.csv]</span>")
    return _table(head, rows, set(range(1, len(head) - 1)), cap)


def _level(v: Any, metric: str) -> str:
    from ..sensitivity import fmt_metric

    if v is None:
        return "n/a"
    if metric in ("fill_rate", "max_shortfall"):
        return f"{100 * v:.1f} %"
    return fmt_metric(v, metric)


def _subtitle(data: FW.SweepData) -> str:
    m = data.meta
    k = len(data.params)
    design = {"morris": f"Morris design, {m['samples']} trajectories of {k + 1} points",
              "sobol": f"Sobol' (Saltelli) design, {m['samples']} base samples x {k + 2}",
              "grid": f"full grid, {m['samples']} levels per parameter",
              "lhs": "Latin hypercube"}[m["method"]]
    h = m.get("horizon") or {}
    return (f"scenario {m.get('scenario')} — {len(data.points)} points ({design}), {k} parameters — "
            f"{m['replications']} replicates per point, seed {m['seed']}, common random numbers"
            + (f" — horizon {h.get('start')} to {h.get('end')}" if h else ""))


def _method_note(data: FW.SweepData) -> str:
    method = data.meta["method"]
    if method == "morris":
        return ("Ranked by Morris μ*: the typical change of the metric over one step of a parameter, scaled up to "
                "its whole range, the others held at a design point (± is the 95 % bootstrap half-width; a slope, "
                "so it can exceed the spread of the values seen where the metric saturates). 'Higher values "
                "raise/lower it' is the sign of the mean effect μ, given when |μ| is at least half of μ* and μ*'s interval excludes 0.")
    if method == "sobol":
        return ("Ranked by the total-order Sobol' index S_T: the share of the metric's variance over the sweep "
                "that goes away if the parameter is fixed (± is the 95 % bootstrap half-width). " + _DIR_NOTE)
    return (f"Ranked by {data.analysis['index_name']}: the share of the metric's variance due to the parameter "
            "alone. " + _DIR_NOTE)


_DIR_NOTE = ("'Higher values raise/lower it' compares the mean metric over the points with the parameter in the top "
             "and in the bottom of its range.")


def _provenance(data: FW.SweepData) -> str:
    m = data.meta
    rows: list[tuple[str, str]] = []
    files = "".join(f"<tr><td class='mono'>{_e(f.get('path'))}</td><td class='mono'>{_e(f.get('sha256'))}</td></tr>"
                    for f in m.get("files") or [])
    rows.append(("scenario files", ("<div class='scroll'><table><thead><tr><th>file</th><th>sha256</th></tr>"
                                    f"</thead><tbody>{files}</tbody></table></div>")))
    nd = int(m.get("n_design", m["n_points"]))
    rows.append(("design", _e(f"{m['method']}, --samples {m['samples']}: {nd} design points (SALib, design seed "
                               f"{m['seed']}) + {m['n_points'] - nd} one-at-a-time points for the tornado; "
                               "unit-cube coordinates in design.csv")))
    rows.append(("simulation", _e(f"{m['replications']} replicates per point, seed {m['seed']} at every point")))
    rows.append(("metrics", ", ".join(f"<code>{_e(c)}</code>" for c in m.get("metrics", []))))
    if m.get("sets"):
        rows.append(("--set overrides", "<br>".join(f"<code>{_e(s)}</code>" for s in m["sets"])))
    rows.append(("command line", f"<code>{_e(m.get('command') or '—')}</code>"))
    runs = m.get("runs") or []
    for i, r in enumerate(runs):
        rate = 60.0 * r.get("points", 0) / max(float(r.get("wall_s") or 0.0), 1e-9)
        rows.append((f"run {i + 1} of {len(runs)}" if len(runs) > 1 else "run",
                     _e(f"{r.get('points')} points on {r.get('executor')} in {float(r.get('wall_s') or 0):.1f} s "
                        f"({rate:.1f} points/min), {r.get('started')} to {r.get('finished')}")))
    others = [f for f in ("points.parquet", "design.csv", "sensitivity.json", "sweep.json", "timings.csv")
              if (data.folder / f).exists()]
    rows.append(("data", _e("points.csv (one row per point: parameter values, metric means, .sd, .censored)"
                            + "".join(f", {f}" for f in others))))
    rows.append(("reesim version", _e(m.get("version"))))
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    rows.append(("report rendered", _e(now)))
    return "<dl class='prov'>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
