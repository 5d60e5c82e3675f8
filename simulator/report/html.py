"""The self-contained HTML report of a results folder (``report.html``).

:func:`write_report` reads only the files of a results folder (``summary.json``
and the ``timeseries.csv`` files), draws every figure with matplotlib on an Agg
canvas, and writes:

- ``report.html``: findings, the headline table, the differences (comparisons),
  the figures embedded as base64 PNG data URIs, and the provenance; inline CSS,
  no scripts, nothing fetched from the network;
- ``figures/<name>.png`` and ``.svg`` for every figure drawn;
- ``tables/<name>.csv`` for every table and for the numbers behind each figure,
  unrounded, in the unit the header names and the page shows: a table's
  ``fill rate %``, ``Δ fill rate pp`` and ``Δ cost M USD`` hold percent,
  percentage points and millions of USD; a figure's column names end in the
  unit (``_t``, ``_days``, ``_pct``, ``_musd``).

A figure whose data the summary lacks is replaced by a note saying what is
missing. Running it again on the same folder re-renders all three from the
files (``reesim report DIR``) without re-running the simulation.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import os
import pickle
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import fig_markets as FM
from . import fig_supply as FS
from .canvas import FigureOut, save, style
from .data import SAME_IN_EVERY, ReportData, load_results, num, refuse_focus
from .tables import Table, difference_tables, findings, headline_table, stockpile_table

#: (section, builder) in the order the report shows them.
FIGURES: tuple[tuple[str, Callable[[ReportData], FigureOut]], ...] = (
    ("Markets over time", FM.fill_fan),
    ("Shortfalls", FM.unmet_by_market),
    ("Shortfalls", FM.unmet_by_family),
    ("Shortfalls", FM.tts_ttr),
    ("Stocks", FM.cover),
    ("Stocks", FM.stockpiles),
    ("Costs and surplus", FS.cost_by_bloc),
    ("Costs and surplus", FS.surplus),
    ("Dependency and concentration", FS.dependency),
    ("Dependency and concentration", FS.hhi),
    ("Dependency and concentration", FS.flows),
)

CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#dcdcdc;--soft:#f5f6f7;--accent:#1b7f8c}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:#fff}
main{max-width:1080px;margin:0 auto;padding:28px 28px 60px}
h1{font-size:26px;line-height:1.25;margin:0 0 6px}
h2{font-size:20px;margin:38px 0 10px;padding-top:10px;border-top:2px solid var(--line)}
h3{font-size:16px;margin:24px 0 6px}
.sub{color:var(--muted);margin:0 0 16px}
nav{background:var(--soft);border-radius:6px;padding:10px 16px;margin:16px 0;font-size:14px}
nav a{color:var(--accent);text-decoration:none;margin-right:14px;white-space:nowrap}
ul.findings{padding-left:20px}ul.findings li{margin:6px 0}
.scroll{overflow-x:auto;margin:8px 0}
.scroll.wide{width:max-content;min-width:100%;max-width:min(1320px,100vw - 64px);position:relative;left:50%;
transform:translateX(-50%)}
table{border-collapse:collapse;font-size:13.5px;width:100%}
table.wide{font-size:12.5px}table.wide th,table.wide td{padding:4px 6px}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;position:sticky;top:0;overflow-wrap:normal;word-break:normal;
hyphens:manual}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.num{white-space:nowrap}
tr:hover td{background:#fafbfc}
td .ci{color:var(--muted);font-size:11.5px}td .ci.words{white-space:normal}
.caption,figcaption{color:var(--muted);font-size:13px;margin:6px 0 0}
.fig{display:inline-block;vertical-align:top;max-width:100%;margin:0 20px 8px 0}
.fig:last-child{margin-right:0}
figure{margin:10px 0 6px}
figure img{display:block;width:100%;height:auto;border:1px solid #eee}
details{margin:6px 0}summary{cursor:pointer;color:var(--accent);font-size:14px}
.note{background:#fff8e6;border-left:4px solid #e0b000;padding:8px 12px;font-size:14px;color:#5b4a00}
.files{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;color:var(--muted)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;font-size:14px}
dl.prov dt{color:var(--muted)}dl.prov dd{margin:0}
"""


#: the words of the report a reader outside the field may not know, in the order they first appear
TERMS = (
    ("replicate", (
        "one run of the scenario with its own random draws (day-to-day demand noise, and outages or"
        " events where the scenario draws them); results are means or quantiles over them"
    )),
    ("market", (
        "an industry in a region (ev_jp: EV motors in Japan); 'row' is the rest of the world, 'refining' "
        "oil-refinery catalysts, not rare-earth refining"
    )),
    ("family", (
        "markets grouped by what they buy: magnets, magnets+optical (electronics), catalysts, optical, "
        "batteries"
    )),
    ("bloc", "regions grouped in the scenario: china, allied (US, Japan, EU, Australia, ...), other"),
    ("t", (
        "tonnes of the market's own product: for ev_jp, t of NdFeB magnets (about 30 % NdPr and 1.5 % Dy by "
        "weight), not t REO; family and bloc rows add up the products of their markets"
    )),
    ("fill rate", (
        "demand met on the day it arose ÷ demand, where demand is what is left after substitution: a "
        "market that gives up demand can show a higher fill while it receives less"
    )),
    ("unmet t, lost days", "demand not met on the day (tonnes), and the same in days of the market's mean daily demand"),
    ("TTS (time to survive)", "days from the start of the reference event to the first day a market's fill falls below 99 %"),
    ("TTR (time to recover)", (
        "days from the start of the reference event until the market's 30-day rolling fill is back at 99 "
        "% after falling below it"
    )),
    ("censored, '> N d'", (
        "cut off by the end of the horizon: the market had not run short (or recovered) by then, so the "
        "true value is at least N days"
    )),
    ("p5–p95", "the range holding the middle 90 % of replicates"),
    ("95 % CI", (
        "95 % confidence interval of a mean over the replicates (it covers the random draws, not the "
        "uncertainty of the scenario's inputs)"
    )),
    ("paired difference, common random numbers", "both scenarios are run with the same random draws, so each replicate is compared with its twin"),
    ("pp", "percentage points"),
    ("substitution", (
        "demand a market gives up (e.g. Dy thrifting, written as less NdFeB demand) once short for long "
        "enough; not counted as unmet"
    )),
    ("HHI", (
        "Herfindahl–Hirschman index of concentration: the sum of squared percent shares of a product's "
        "output at a stage by region, 10,000 when one region makes everything"
    )),
    ("REO, NdPr, Dy, Tb", (
        "rare-earth oxide (the unit of ores and concentrates); neodymium-praseodymium, dysprosium and "
        "terbium, the magnet elements"
    )),
    ("co-products, surplus", (
        "elements a separation plant makes at fixed ratios beside the one it runs for (cerium, lanthanum,"
        " yttrium), beyond what the modelled chain uses"
    )),
)


def write_report(results_dir: Path, focus: Sequence[str] = ()) -> Path:
    """Render ``report.html``, ``figures/`` and ``tables/`` from a results folder's files.

    Parameters
    ----------
    results_dir : Path
        A folder written by ``reesim run`` (``summary.json``, ``timeseries.csv``)
        or ``reesim compare`` (``summary.json``, ``<name>/timeseries.csv``).
    focus : sequence of str
        Regions, markets, sectors or families (``JP``, ``ev_jp``, ``ev_motors``, ``magnets``) whose
        markets come first in the figures and tables, whatever their shortfall.

    Returns
    -------
    Path
        The ``report.html`` written.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``summary.json``.
    UsageError
        If ``focus`` names no market, region, sector or family of the results.

    Notes
    -----
    The figures (about 0.4 s of matplotlib ``savefig`` each, PNG and SVG) are
    drawn in worker processes when more than one CPU is available: at most
    ``min(2, CPUs)`` of them, on Linux only (see :func:`_pool_context`). The
    files written and ``report.html`` are byte for byte those of the serial path
    (the SVG ids are salted with the fixed ``svg.hashsalt`` of the report style),
    and the figures keep the report's order. A pool that breaks (a worker killed,
    no process could be started) falls back to drawing the rest in this process.

    The environment variable ``REESIM_REPORT_WORKERS`` sets the number of worker
    processes: ``1`` (or ``0``) draws every figure in this process, as does one
    CPU or a platform without ``fork``; a number of 2 or more is used as given
    (up to one worker per figure), even on one CPU. A value that is not a whole
    number is ignored.

    Examples
    --------
    >>> from simulator.report.html import write_report
    >>> write_report(Path("reports/tutorial"))  # doctest: +SKIP
    PosixPath('reports/tutorial/report.html')
    """
    folder = Path(results_dir)
    data = load_results(folder, tuple(focus))
    refuse_focus(data.focus, data.focus_words(), "these results")
    figdir, tabdir = folder / "figures", folder / "tables"
    parts: list[str] = []
    sections: dict[str, list[str]] = {}
    for (section, _), snippet in zip(FIGURES, _render_figures(data, figdir, tabdir)):
        sections.setdefault(section, []).append(snippet)
    tables = [headline_table(data), *difference_tables(data)]
    pile = stockpile_table(data)
    for t in tables + ([pile] if pile else []):
        t.write_csv(tabdir)

    title = _title(data)
    from .rests_on import assumptions_html  # it draws on this module's escaping

    rests_on = assumptions_html(data)
    nav = ["findings", "headline"] + (["differences"] if data.is_compare else []) + \
        (["assumptions"] if rests_on else []) + [_slug(s) for s in sections] + ["terms", "provenance"]
    names = {"findings": "Findings", "headline": "Headline", "differences": "Differences", "terms": "Terms",
             "provenance": "Provenance", "assumptions": "Assumptions", **{_slug(s): s for s in sections}}
    parts.append(f"<header><h1>{_e(title)}</h1><p class='sub'>{_e(_subtitle(data))}</p></header>")
    parts.append("<nav>" + "".join(f"<a href='#{n}'>{_e(names[n])}</a>" for n in nav) + "</nav>")
    parts.append("<section id='findings'><h2>Findings</h2><ul class='findings'>"
                 + "".join(f"<li>{_e(x)}</li>" for x in findings(data)) + "</ul></section>")
    parts.append(f"<section id='headline'><h2>Headline</h2>{_table_html(tables[0])}</section>")
    if data.is_compare:
        parts.append("<section id='differences'><h2>Differences</h2>"
                     + "".join(f"<h3>{_e(t.title)}</h3>{_table_html(t)}" for t in tables[1:]) + "</section>")
    if rests_on:
        parts.append(f"<section id='assumptions'><h2>Assumptions</h2>{rests_on}</section>")
    for s, items in sections.items():
        extra = f"<h3>{_e(pile.title)}</h3>{_table_html(pile)}" if (pile and s == "Stocks") else ""
        parts.append(f"<section id='{_slug(s)}'><h2>{_e(s)}</h2>{''.join(items)}{extra}</section>")
    parts.append("<section id='terms'><h2>Terms</h2><dl class='prov'>"
                 + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in TERMS) + "</dl></section>")
    parts.append(f"<section id='provenance'><h2>Provenance</h2>{_provenance_html(data)}</section>")
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
            + "\n".join(parts) + "</main></body></html>\n")
    out = folder / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


#: Environment variable: worker processes drawing the figures (1: in this process).
WORKERS_ENV = "REESIM_REPORT_WORKERS"

#: The results a fork-started worker draws from: set in the parent just before the
#: pool forks its workers (they inherit it; nothing is pickled) and cleared after.
#: Workers started by ``forkserver`` receive a pickled copy through the initializer.
_SHARED: ReportData | None = None


def _report_workers() -> int:
    """Worker processes for the figures: ``REESIM_REPORT_WORKERS``, else min(2, CPUs)."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            return max(1, min(int(raw), len(FIGURES)))
        except ValueError:
            pass  # not a whole number: the default below
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return 1 if cpus < 2 else min(2, cpus)


def _numba_layer() -> str | None:
    """The numba threading layer whose threads run in this process, or None if none were launched.

    Read from ``numba.np.ufunc.parallel`` only if something already imported it:
    importing numba here would cost ~0.5 s and launch nothing.
    """
    par = sys.modules.get("numba.np.ufunc.parallel")
    if par is None or not getattr(par, "_is_initialized", False):
        return None
    return str(getattr(par, "_threading_layer", None) or "unknown")


def _pool_context() -> Any:
    """The multiprocessing context for the figure workers, or None to draw in this process.

    ``fork`` where it is safe: the workers inherit the loaded results (``_SHARED``)
    and the modules imported, with no interpreter start and nothing pickled.

    It is not safe once numba's threading layer has been launched in this process
    (GNU OpenMP here, which numba documents as not fork safe: its team threads do
    not exist in a forked child, and numba's guard kills a forked child that enters
    a parallel region). reesim's own step no longer launches it — it runs on Python
    threads that end with each run — but a caller's code may have. The figure
    workers never call numba, but rather than rely on that, the figures then go to
    ``forkserver`` workers:
    forked from a clean server process without those threads, as
    :class:`simulator.executors.LocalExecutor` does for the simulations. The same
    when other Python threads are alive (a fork copies the locks they hold). Those
    workers get the results pickled once here and loaded in each: 9 MB, 0.13 s
    to pickle and 0.11 s to load for the flagship comparison (2 scenarios x 1000
    replicates), plus an interpreter start and the imports in each worker. They
    still beat the serial path: ``write_report`` of that comparison took 5.2 s
    with two forkserver workers, 4.6 s with two forked ones and 7.4 s serially
    (medians of 3 on 2 cores); 1.8, 1.4 and 2.2 s for the tutorial comparison
    at 8 replicates. ``tbb`` and ``workqueue`` are fork safe (numba's
    ``forksafe`` choices), so they keep ``fork``.

    None (the serial path) without ``fork`` (macOS, Windows) or in a daemonic
    process, which may not start children.
    """
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if not sys.platform.startswith("linux") or "fork" not in methods or multiprocessing.current_process().daemon:
        return None
    fork_ok = _numba_layer() in (None, "tbb", "workqueue") and threading.active_count() == 1
    if fork_ok:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver") if "forkserver" in methods else None


def _init_worker(blob: bytes | None) -> None:
    """Worker initializer: load the pickled results (forkserver); a forked worker has them. Ctrl-C is left to
    the parent, which stops the pool."""
    from ..executors import quiet_interrupts

    global _SHARED
    quiet_interrupts()
    if blob is not None:
        _SHARED = pickle.loads(blob)


def _figure_in_worker(i: int, figdir: Path, tabdir: Path) -> str:
    """Draw figure ``FIGURES[i]`` in a worker from the results it holds."""
    if _SHARED is None:  # pragma: no cover - the pool always hands them over
        raise RuntimeError("report worker started without the results")
    return _figure_html(FIGURES[i][1], _SHARED, figdir, tabdir)


def _render_figures(data: ReportData, figdir: Path, tabdir: Path) -> list[str]:
    """The HTML of every figure in :data:`FIGURES` order, drawn in worker processes when worthwhile.

    Each worker writes its figures' PNG, SVG and CSV itself (distinct names) and
    returns the snippet; the snippets are gathered in submission order, so the
    page is the serial one. Errors inside a figure are notes, as in the serial
    path; a broken pool (a worker killed, a fork refused) draws the figures not
    yet returned here instead.
    """
    global _SHARED
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    n = _report_workers()
    ctx = _pool_context() if n > 1 else None
    out: list[str | None] = [None] * len(FIGURES)
    blob: bytes | None = None
    if ctx is not None and ctx.get_start_method() != "fork":
        try:  # once here, not once per worker
            blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - something unpicklable: draw them here
            ctx = None
    if ctx is not None:
        _SHARED = data if blob is None else None
        try:
            with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                                     initargs=(blob,)) as pool:
                try:
                    futures = [pool.submit(_figure_in_worker, i, figdir, tabdir) for i in range(len(FIGURES))]
                    for i, fut in enumerate(futures):
                        out[i] = fut.result()
                except KeyboardInterrupt:
                    from ..executors import stop_pool

                    stop_pool(pool)  # not the wait for the figures being drawn that leaving the block does
                    raise
        except (BrokenProcessPool, OSError):
            pass  # the pool itself failed: draw what is missing below, in this process
        finally:
            _SHARED = None
    return [s if s is not None else _figure_html(build, data, figdir, tabdir)
            for s, (_, build) in zip(out, FIGURES)]


def _figure_html(build: Callable[[ReportData], FigureOut], data: ReportData, figdir: Path, tabdir: Path) -> str:
    """Build one figure, write its PNG/SVG/CSV, and return its HTML (or a note)."""
    try:
        with style():
            f = build(data)
            png = save(f.fig, figdir, f.name) if f.fig is not None else None
    except Exception as exc:  # noqa: BLE001 - a figure must not sink the whole report
        name = getattr(build, "__name__", "figure")
        return f"<p class='note'>Figure {_e(name)} could not be drawn: {_e(type(exc).__name__)}: {_e(str(exc))}</p>"
    for ext in ("png", "svg"):
        if png is None and (figdir / f"{f.name}.{ext}").exists():
            (figdir / f"{f.name}.{ext}").unlink()  # a stale picture from an earlier render
    head = f"<h3 id='fig-{f.name}'>{_e(f.title)}</h3>"
    if png is None:
        return f"<div class='fig'>{head}<p class='note'>Not drawn: {_e(f.note or 'no data')}</p></div>"
    files = f"figures/{f.name}.png, figures/{f.name}.svg"
    if f.rows:
        _write_rows(tabdir / f"{f.name}.csv", f.rows)
        files += f", tables/{f.name}.csv"
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    width = round(float(f.fig.get_size_inches()[0]) * 104)  # CSS px at about the figure's own size
    return (f"<div class='fig' style='width:{width}px'>{head}<figure><img src='{uri}' alt='{_e(f.title)}'>"
            f"<figcaption>{_e(f.caption)} <span class='files'>[{_e(files)}]</span></figcaption></figure></div>")


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cols))
        w.writeheader()
        w.writerows(rows)


def _table_html(t: Table) -> str:
    """A table; rows past ``t.fold_after`` go into a collapsed ``<details>`` block (no script needed)."""
    fold_after = t.fold_after
    num_cols = {i for i, _ in enumerate(t.columns)
                if any(isinstance(r[i].value, (int, float)) for r in t.rows)}
    head = "".join(f"<th class='{'num' if i in num_cols else ''}'>{_header_html(c)}</th>"
                   for i, c in enumerate(t.columns))

    def body(rows: list[list[Any]]) -> str:
        out = []
        for r in rows:
            cells = []
            for i, c in enumerate(r):
                attrs = " class='num'" if i in num_cols else ""
                if c.key is not None:
                    attrs += f" data-key='{_e(c.key)}' data-value='{_e(repr(_plain(c.value)))}'"
                words = " words" if c.sub == SAME_IN_EVERY else ""  # a phrase, not a number: it may wrap
                sub = f"<br><span class='ci{words}'>{_e(c.sub)}</span>" if c.sub else ""
                cells.append(f"<td{attrs}>{_e(c.text)}{sub}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        return "".join(out)

    def table(rows: list[list[Any]]) -> str:
        wide = len(t.columns) > 7  # room beyond the text column, up to the window's width
        div, cls = ("scroll wide", " class='wide'") if wide else ("scroll", "")
        return (f"<div class='{div}'><table{cls}><thead><tr>{head}</tr></thead><tbody>{body(rows)}</tbody></table>"
                "</div>")

    shown, rest = (t.rows, []) if len(t.rows) <= fold_after + 5 else (t.rows[:fold_after], t.rows[fold_after:])
    html_ = table(shown)
    if rest:
        html_ += f"<details><summary>{len(rest)} more rows</summary>{table(rest)}</details>"
    cap = f"<p class='caption'>{_e(t.caption)} <span class='files'>[tables/{_e(t.name)}.csv]</span></p>"
    return html_ + cap


def _header_html(text: str) -> str:
    """A column header, escaped, that may break after the underscores of a scenario name
    (``controls_<wbr>2027_<wbr>allied``) as well as at its spaces, never inside a word."""
    return "_<wbr>".join(_e(part) for part in text.split("_"))


def _plain(x: Any) -> Any:
    return None if x is None else float(x)


def _title(data: ReportData) -> str:
    if data.is_compare:
        return "Comparison: " + " vs ".join(v.name for v in data.views)
    return data.baseline.title


def _subtitle(data: ReportData) -> str:
    top = data.top
    h = data.baseline.summary.get("horizon") or {}
    bits = []
    if data.is_compare:
        bits.append(" · ".join(f"{v.name}: {v.title}" for v in data.views))
    else:
        bits.append(f"scenario {data.baseline.name}")
    bits.append(f"{top.get('replications')} replicates, seed {top.get('seed')}")
    if h:
        bits.append(f"horizon {h.get('start')} to {h.get('end')}")
    ref, label, start = data.reference()
    if ref:
        bits.append(f"TTS/TTR from {label}" + (f" ({start})" if start else ""))
    if data.focus:
        n = sum(data.in_focus(m) for m in data.market_ids())
        bits.append(f"focus: {', '.join(data.focus)} ({n} market{'s' if n != 1 else ''} shown first)")
    return " — ".join(bits)


def _provenance_html(data: ReportData) -> str:
    top = data.top
    rows: list[tuple[str, str]] = []
    files = top.get("files") or []
    if not files and top.get("file"):
        files = [{"path": top.get("file"), "sha256": top.get("sha256")}]
    if data.is_compare:
        for v in data.views:
            for f in v.summary.get("files") or []:
                if not any(g.get("path") == f.get("path") and g.get("scenario") == v.name for g in files):
                    files.append({"scenario": v.name, **f})
    seen: set[str] = set()
    trs = []
    for f in files:
        sc = str(f.get("scenario", data.baseline.name))
        role = "extends: " if sc in seen else ""  # files after a scenario's own are the ones it extends
        seen.add(sc)
        trs.append(f"<tr><td>{_e(sc)}</td><td class='mono'>{_e(role)}{_e(f.get('path'))}</td>"
                   f"<td class='mono'>{_e(f.get('sha256'))}</td></tr>")
    ftab = "".join(trs)
    head = "<thead><tr><th>scenario</th><th>file</th><th>sha256</th></tr></thead>"
    rows.append(("scenario files", f"<div class='scroll'><table>{head}<tbody>{ftab}</tbody></table></div>"))
    rows.append(("seed", _e(top.get("seed"))))
    rows.append(("replications", _e(top.get("replications"))))
    rows.append(("command line", f"<code>{_e(top.get('command') or '—')}</code>"))
    sets = top.get("sets") or []
    if sets:
        rows.append(("--set overrides", "<br>".join(f"<code>{_e(s)}</code>" for s in sets)))
    rows.append(("reesim version", _e(top.get("version"))))
    if top.get("run_time_s") is not None:
        rows.append(("run time", f"{num(top['run_time_s']):.1f} s (loading and simulating every scenario)"))
    for v in data.views:
        t = v.summary.get("timings") or {}
        if t.get("simulate_s") is not None:
            sim = f"{num(t['simulate_s']):.2f} s (set-up {num(t.get('setup_s')):.2f} s)"
            if t.get("wall_s") is not None:  # run in chunks (on a pool): the chunks' times add up, the pool's is wall time
                sim = (f"{num(t['simulate_s']):.1f} s of simulation, summed over the chunks it ran in (set-up "
                       f"{num(t.get('setup_s')):.1f} s); {num(t['wall_s']):.1f} s elapsed"
                       + (" for all scenarios together" if data.is_compare else ""))
            rows.append((f"simulation time · {v.name}" if data.is_compare else "simulation time", sim))
        if v.summary.get("mass_balance_error") is not None:
            rows.append((f"mass balance error · {v.name}" if data.is_compare else "mass balance error",
                         f"{num(v.summary['mass_balance_error']):.1e} (relative; checked at every interval)"))
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    rows.append(("report rendered",
                 f"{now} from the files in this folder (re-render with <code>reesim report DIR</code>)"))
    return "<dl class='prov'>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in s.lower()).strip("-")


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)
