"""The report's tables and plain-language findings, built from a :class:`ReportData`.

A :class:`Table` is a list of rows of :class:`Cell`. Each cell carries the text
shown and, for numbers, the value it shows (from ``summary.json``) and where it
comes from (``key``), so the HTML can state ``data-key``/``data-value`` and
the CSV under ``tables/`` holds the unrounded numbers, in the unit its header
names and the HTML shows (a share in %, a difference of shares in pp, USD in
M USD): ``value × scale``. Its 95 % CI bounds and the like are columns of
their own (``extra``), as numbers in that unit.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import (
    COST_LEFT_OUT,
    SAME_IN_EVERY,
    ReportData,
    fmt_ci,
    fmt_days,
    fmt_pct,
    fmt_share,
    fmt_signed,
    fmt_t,
    fmt_ttx,
    fmt_usd,
    no_change,
    num,
    shows_substitution,
)

TOP_DIFF_ROWS = 15  #: market rows of a differences table shown before the rest are folded away
#: the finding on what the confidence intervals do and do not cover (after a comparison's headline)
HOW_SURE = ("The 95 % confidence intervals cover the random draws of these scenarios ({drawn}), not the "
            "uncertainty of their inputs (capacities, blocked shares, dates, stocks){narrow}: 'reesim sweep' "
            "shows which inputs move the results most.")


def how_sure(data: ReportData) -> str:
    """The finding on what the confidence intervals cover: the random elements of the scenarios shown."""
    drawn: list[str] = []
    known = True
    for v in data.views:
        r = v.meta.get("random")
        if r is None:  # results written before this was recorded
            known = False
        for x in r or ():
            if x not in drawn:
                drawn.append(x)
    if not known:
        return HOW_SURE.format(drawn="demand noise, outages and other drawn events", narrow="")
    if drawn == ["day-to-day demand noise"]:
        return HOW_SURE.format(drawn="day-to-day demand noise only: no outage or event is drawn at random",
                               narrow=", which is why they can be so narrow")
    return HOW_SURE.format(drawn=", ".join(drawn) if drawn else "none: nothing is drawn at random", narrow="")
NO_CHANGE = "no change"  #: 'better in' of a tie: the paired difference is 0 in every replicate


@dataclass(frozen=True)
class Cell:
    """One table cell: the text shown, the number behind it and its summary.json path."""

    text: str
    value: Any = None
    key: str | None = None
    sub: str = ""  #: a second, smaller line (e.g. the 95 % CI)
    scale: float = 1.0  #: the CSV holds value × scale: the unit of its column's CSV header (100: a share in %)
    extra: tuple[tuple[str, Any], ...] = ()  #: CSV-only columns '<header>: <name>', values in that unit


#: The CSV columns of a 95 % CI (numbers, in the unit of the column they belong to).
CI_LOW, CI_HIGH = "95 % CI low", "95 % CI high"


@dataclass
class Table:
    """A titled table; ``name`` is its CSV stem under ``tables/``."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: str = ""
    fold_after: int = 20  #: rows after this many are folded away in the HTML
    #: a column's CSV header where the HTML's does not name the unit its numbers are in
    #: (``fill rate`` -> ``fill rate %``); None leaves a column the HTML alone shows out of the CSV
    csv_columns: dict[str, str | None] = field(default_factory=dict)

    def write_csv(self, folder: Path) -> Path:
        """Write ``<name>.csv`` (numbers in the unit of their header where numeric, else the text shown) and
        return its path."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.csv"
        rows = self.rows
        cols = [(i, self.csv_columns.get(c, c)) for i, c in enumerate(self.columns)]
        cols = [(i, h) for i, h in cols if h is not None]
        extras = {i: list(dict.fromkeys(k for r in rows for k, _ in r[i].extra)) for i, _ in cols}
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([x for i, h in cols for x in [h, *(f"{h}: {k}" for k in extras[i])]])
            for row in rows:
                out: list[Any] = []
                for i, _ in cols:
                    c = row[i]
                    out.append(c.value * c.scale if isinstance(c.value, (int, float)) else c.text)
                    more = dict(c.extra)
                    out += [more.get(k, "") for k in extras[i]]
                w.writerow(out)
        return path


def _c(text: str, value: Any = None, key: str | None = None, sub: str = "", scale: float = 1.0,
       extra: tuple[tuple[str, Any], ...] = ()) -> Cell:
    return Cell(text, value, key, sub, scale, extra)


def _ci_extra(s: dict[str, Any] | None, scale: float = 1.0) -> tuple[tuple[str, Any], ...]:
    """A STAT's 95 % CI bounds as CSV columns, in the unit of value × scale (none without a CI)."""
    lo, hi = (s or {}).get("ci95") or [None, None]
    return () if lo is None or hi is None else ((CI_LOW, num(lo) * scale), (CI_HIGH, num(hi) * scale))


def _ttx_extra(s: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """A censored TTS/TTR STAT's censored share [%] and its bound [d] as CSV columns."""
    if not s:
        return ()
    bound = s.get("censored_at_least")
    return (("% of replicates censored", 100.0 * num(s.get("censored", 0.0))),
            ("censored ones: at least d", "" if bound is None else num(bound)))


def _ttx_cell(mk: dict[str, Any], metric: str, key: str) -> Cell:
    """A market's median TTS or TTR (``metric``), censoring shown, its censored share and bound in the CSV."""
    s = mk[metric]
    return _c(fmt_ttx(s), s.get("p50"), f"{key}/{metric}/p50", extra=_ttx_extra(s))


def _ci(s: dict[str, Any], pct: bool = False) -> str:
    lo, hi = s.get("ci95") or [None, None]
    if lo is None:
        return "—"
    if pct:
        return fmt_ci(lo, hi, 1, 100.0, signed=False, sep="–", unit=" %")[0]
    return fmt_ci(lo, hi, signed=False, sep="–")[0]


# --------------------------------------------------------------------------- run


def headline_table(data: ReportData) -> Table:
    """Per market (worst first): fill rate with CI, unmet, lost days, max shortfall, TTS, TTR."""
    if data.is_compare:
        return _compare_headline(data)
    v = data.baseline
    cols = ["market", "family", "fill rate", "95 % CI", "unmet t", "lost days", "max shortfall",
            "TTS (median)", "TTR (median)"]
    t = Table("headline", "Headline: outcomes per market (mean over replicates)", cols)
    for m in data.ranked_markets():
        mk = v.markets[m]
        k = f"markets/{m}"
        t.rows.append([
            _c(m), _c(data.family_of(m) or "—"),
            _c(fmt_pct(mk["fill_rate"]["mean"]), mk["fill_rate"]["mean"], f"{k}/fill_rate/mean", scale=100.0,
               extra=_ci_extra(mk["fill_rate"], 100.0)),
            _c(_ci(mk["fill_rate"], pct=True)),
            _c(fmt_t(mk["unmet_t"]["mean"]), mk["unmet_t"]["mean"], f"{k}/unmet_t/mean"),
            _c(fmt_days(mk["lost_days"]["mean"]), mk["lost_days"]["mean"], f"{k}/lost_days/mean"),
            _c(fmt_pct(mk["max_shortfall"]["mean"], 0), mk["max_shortfall"]["mean"], f"{k}/max_shortfall/mean",
               scale=100.0),
            _ttx_cell(mk, "tts_days", k),
            _ttx_cell(mk, "ttr_days", k),
        ])
    t.csv_columns = {"fill rate": "fill rate %", "95 % CI": None, "max shortfall": "max shortfall %",
                     "TTS (median)": "TTS d (median)", "TTR (median)": "TTR d (median)"}
    ref = data.reference()[1]
    t.caption = ("Fill rate: demand met on the day it arose ÷ demand. Lost days: unmet ÷ mean daily demand. "
                 "Max shortfall: worst day's 1 − fill. TTS/TTR: median days after "
                 f"{ref or 'the reference event'} starts; '> N d': cut off by the horizon (censored), "
                 "with the share of replicates censored.")
    return t


def stockpile_table(data: ReportData) -> Table | None:
    """Released tonnes and holding cost per stockpile and scenario (None without stockpiles)."""
    piles = [(v, sid, s) for v in data.views for sid, s in (v.summary.get("stockpiles") or {}).items()]
    # a stockpile of several products: tonnes of magnets and of Dy metal add up to little, so show each
    mixed = any(len(s.get("products") or {}) > 1 for _, _, s in piles)
    cols = ["scenario", "stockpile", "released t", *(["released by product [t]"] if mixed else []),
            "holding cost [M USD]"]
    t = Table("stockpile_releases", "Stockpiles: releases and holding cost", cols)
    for v, sid, s in piles:
        pre = f"scenarios/{v.name}/" if data.is_compare else ""
        r, h = s.get("released_t", {}), s.get("holding_cost_usd", {})
        means = [(p, num(ps.get("released_t", {}).get("mean"))) for p, ps in (s.get("products") or {}).items()]
        # in the CSV the split is in columns 'released t: PRODUCT' beside the total
        row = [_c(v.name), _c(sid), _c(fmt_t(r.get("mean")), r.get("mean"), f"{pre}stockpiles/{sid}/released_t/mean",
                                       extra=tuple(means) if mixed else ())]
        if mixed:
            row.append(_c(" · ".join(f"{p} {fmt_t(m)}" for p, m in means)))
        row.append(_c(fmt_usd(h.get("mean")), h.get("mean"), f"{pre}stockpiles/{sid}/holding_cost_usd/mean", scale=1e-6))
        t.rows.append(row)
    if mixed:
        t.caption = ("Released: mean tonnes over the horizon, all the products a stockpile holds summed; "
                     "the next column splits them by product.")
        t.csv_columns = {"released by product [t]": None}  # the CSV has the split as numbers instead
    return t if t.rows else None


def findings(data: ReportData, top: int = 5) -> list[str]:
    """Plain-language findings: the comparison's headline lines, or a run's worst markets."""
    if data.is_compare:
        # what the intervals cover right after the headline, whose CI reads as more certain than it is
        return list(data.headline) + [how_sure(data)] + _group_findings(data)
    v = data.baseline
    _, label, _ = data.reference()
    out: list[str] = []
    ranked = data.ranked_markets()
    short = [m for m in ranked if num(v.markets[m]["unmet_t"]["mean"]) >= 0.5]
    for m in short[:top]:
        mk = v.markets[m]
        late = (v.meta.get("markets") or {}).get(m, {}).get("unmet") == "backorder"  # served later, not lost
        text = (f"{m} {'goes without' if late else 'loses'} {fmt_t(mk['unmet_t']['mean'])} t "
                + ("on the days it needs them (backordered: served later, as stock comes in; " if late else "(")
                + f"{fmt_days(mk['lost_days']['mean'])} days of its demand; fill rate {fmt_pct(mk['fill_rate']['mean'])})")
        tts, ttr = mk["tts_days"], mk["ttr_days"]
        if label and tts.get("n"):
            text += (f"; it runs short {num(tts['p50']):,.0f} days after {label} starts "
                     f"(5–95 %: {num(tts['p5']):,.0f}–{num(tts['p95']):,.0f}"
                     + (f"; never within the horizon in {100 * num(tts['censored']):.0f} % of replicates"
                        if num(tts.get("censored", 0.0)) > 0 else "") + ")")
        if label and ttr.get("n") and num(ttr["p50"]) > 0:
            text += f", and is back at 99 % rolling fill {num(ttr['p50']):,.0f} days after that start"
        if ttr.get("censored"):
            text += (f"; in {100 * num(ttr['censored']):.0f} % of replicates it has not recovered when the "
                     "horizon ends")
        out.append(text + ".")
    if len(short) > top:
        rest = sum(num(v.markets[m]["unmet_t"]["mean"]) for m in short[top:])
        out.append(f"{len(short) - top} more markets run short, losing {fmt_t(rest)} t between them.")
    fine = [m for m in ranked if m not in short]
    if fine:
        names = ", ".join(fine[:8]) + (f" and {len(fine) - 8} more" if len(fine) > 8 else "")
        out.append(f"{names} {'meets' if len(fine) == 1 else 'meet'} all {'its' if len(fine) == 1 else 'their'} "
                   "demand (less than 0.5 t unmet on average).")
    out += _supply_findings(data)
    return out + [how_sure(data)]


def _supply_findings(data: ReportData) -> list[str]:
    v = data.baseline
    out: list[str] = []
    sur = v.summary.get("surplus_t") or {}
    big = sorted(((num(s["mean"]), p) for p, s in sur.items() if num(s.get("mean")) >= 0.5), reverse=True)
    if big:
        out.append("Surplus (made beyond what buyers ordered and taken out of the chain: co-products nobody "
                   "uses, and output its buyers could not order, e.g. behind an export control): "
                   + ", ".join(f"{fmt_t(q)} t of {p}" for q, p in big[:3]) + ".")
    for st in (v.meta.get("trace_stages") or []):
        best = None
        for m, mk in v.markets.items():
            s = (mk.get("dependency_bloc") or {}).get(st, {}).get("china")
            if s and s.get("mean") is not None and (best is None or num(s["mean"]) > best[0]):
                best = (num(s["mean"]), m)
        if best:
            out.append(f"Most dependent on the china bloc at the {st} stage: {best[1]}, with "
                       f"{fmt_pct(best[0], 0)} of its supply passing through it.")
    err = v.summary.get("mass_balance_error")
    if err is not None:
        out.append(f"Mass balance holds to {num(err):.1e} (relative) in every replicate.")
    return out


# --------------------------------------------------------------------------- compare


def _compare_headline(data: ReportData) -> Table:
    """Per market and scenario: fill over the horizon and during the reference event, unmet demand, and when
    the market runs short and is back (TTS, TTR): the six-year fill alone hides the crisis and its length."""
    ref = data.reference()[0]
    in_window = bool(ref) and any(ref in (mk.get("event_fill_rate") or {}) for v in data.views
                                  for mk in v.markets.values())
    cols = ["market"]
    for v in data.views:
        cols += [f"fill rate · {v.name}", *([f"fill in {ref} · {v.name}"] if in_window else []),
                 f"unmet t · {v.name}", f"TTS · {v.name}", f"TTR · {v.name}"]
    t = Table("headline", "Headline: fill rate, unmet demand and time short per market and scenario", cols)
    for m in data.ranked_markets():
        row = [_c(m)]
        for v in data.views:
            mk = v.markets.get(m)
            if mk is None:
                row += [_c("—")] * (5 if in_window else 4)
                continue
            k = f"scenarios/{v.name}/markets/{m}"
            row.append(_c(fmt_pct(mk["fill_rate"]["mean"]), mk["fill_rate"]["mean"], f"{k}/fill_rate/mean",
                          scale=100.0))
            if in_window:
                w = (mk.get("event_fill_rate") or {}).get(ref) or {}
                row.append(_c(fmt_pct(w["mean"]), w["mean"], f"{k}/event_fill_rate/{ref}/mean", scale=100.0)
                           if w.get("mean") is not None else _c("—"))
            row += [_c(fmt_t(mk["unmet_t"]["mean"]), mk["unmet_t"]["mean"], f"{k}/unmet_t/mean"),
                    _ttx_cell(mk, "tts_days", k), _ttx_cell(mk, "ttr_days", k)]
        t.rows.append(row)
    t.csv_columns = {}
    for v in data.views:
        t.csv_columns |= {f"fill rate · {v.name}": f"fill rate % · {v.name}",
                          f"TTS · {v.name}": f"TTS d (median) · {v.name}", f"TTR · {v.name}": f"TTR d (median) · {v.name}"}
        if in_window:
            t.csv_columns[f"fill in {ref} · {v.name}"] = f"fill in {ref} % · {v.name}"
    label = data.reference()[1] or ref or "the reference event"
    span = _horizon_span(data)
    t.caption = ("Markets with the most unmet demand first. Fill rate and unmet t: over the whole horizon"
                 + (f" ({span})" if span else "")
                 + (f"; fill in {ref}: during that event's window ({label}), where the crisis shows" if in_window
                    else "")
                 + f". TTS/TTR: median days after {label} starts until the market first runs short (fill below "
                 "99 %) and until its 30-day fill is back at 99 % ('> N d': cut off by the horizon); the time "
                 "between them is how long the shortage lasts plus up to 30 days, as the 30-day fill recovers up "
                 "to a month after the daily fill"
                 + _ttr_bound(data) + ". The differences per scenario follow.")
    return t


def _horizon_span(data: ReportData) -> str:
    """``2025–2030`` (or ``2025``): the calendar years of the horizon, '' when unknown."""
    h = (data.views[0].summary.get("horizon") or {}) if data.views else {}
    a, b = str(h.get("start") or "")[:4], str(h.get("end") or "")[:4]
    return "" if not (a and b) else (a if a == b else f"{a}–{b}")


def _ttr_bound(data: ReportData) -> str:
    """Where the reference event has an end: recovery cannot come before it for a market short until then."""
    ref = data.reference()[0]
    for i, _, s, e in data.windows():
        if i == ref and e < (data.horizon_end() or e) + dt.timedelta(days=1):
            return (f" — {ref} runs from {s} to {e}, so a market short until then recovers only after {e}: "
                    "its TTR mostly measures how long the scenario assumes the event lasts")
    return ""


def _diff_cell(d: dict[str, Any] | None, key: str, digits: int = 0, scale: float = 1.0,
               censored: bool = False) -> Cell:
    if not d or d.get("mean") is None:
        if d and d.get("no_reference", 0.0) >= 1.0:
            return _c("— (no reference event)")
        return _c("— (censored)" if d and d.get("excluded", 0) >= 1.0 else "—")
    lo, hi = d["ci95"]
    sub, k = fmt_ci(lo, hi, digits, scale)  # the mean with as many decimals as its CI needs
    extra = _ci_extra(d, scale)
    if censored:
        extra += (("% of replicates left out", 100.0 * num(d.get("excluded", 0.0))),)
    if d.get("excluded"):
        sub += f"; {fmt_share(d['excluded'])} excl."
    return _c(fmt_signed(d["mean"], k, scale), d["mean"], key, sub, scale, extra)


def _better_in(d: dict[str, Any], key: str) -> Cell:
    """The share of replicates with less unmet demand; 'no change' when the two are the same in every one."""
    if no_change(d):
        return _c(NO_CHANGE)
    pb = d.get("p_better")
    return _c("—" if pb is None else f"{100 * pb:.0f} %", pb, key, scale=100.0)


def difference_tables(data: ReportData) -> list[Table]:
    """One table per non-first scenario: paired differences per market, family and bloc."""
    out = []
    first = data.baseline
    for v in data.views[1:]:
        diffs = data.differences.get(v.name, {})
        # demand given up to substitution is not unmet: shown beside Δ unmet when some scenario substitutes
        subst = shows_substitution(diffs, first.markets, v.markets)
        ref = data.reference()[0]
        # the fill over the horizon dilutes a crisis (ev_jp: +5 pp over 2025-2030, +33 pp in 2027's controls)
        window = bool(ref) and any(d.get("window_fill") for d in diffs.values())
        cols = ["market / group", f"unmet t · {first.name}", f"unmet t · {v.name}", "Δ unmet t",
                *(["Δ substituted t"] if subst else []),
                "Δ fill rate pp", *([f"Δ fill in {ref} pp"] if window else []),
                "Δ lost days", "Δ TTS d", "Δ TTR d", "Δ cost M USD", "better in"]
        t = Table(f"differences_{v.name}", f"{v.name} − {first.name}: paired differences (mean, 95 % CI)", cols)
        markets = sorted((k for k in diffs if ":" not in k), key=lambda k: (-abs(num(diffs[k]["unmet_t"]["mean"])), k))
        groups = [k for k in diffs if ":" in k]
        for k in groups + markets:
            d = diffs[k]
            a = _unmet_of(first, k)
            b = _unmet_of(v, k)
            base = f"differences/{v.name}/{k}"
            t.rows.append([_c(k), _c(fmt_t(a), a), _c(fmt_t(b), b),
                           _diff_cell(d["unmet_t"], f"{base}/unmet_t/mean"),
                           *([_diff_cell(d.get("substituted_t"), f"{base}/substituted_t/mean")] if subst else []),
                           _diff_cell(d["fill_rate"], f"{base}/fill_rate/mean", 1, 100.0),
                           *([_diff_cell(d.get("window_fill"), f"{base}/window_fill/mean", 1, 100.0)] if window else []),
                           _diff_cell(d["lost_days"], f"{base}/lost_days/mean", 1),
                           _diff_cell(d["tts_days"], f"{base}/tts_days/mean", censored=True),
                           _no_shortage_note(_diff_cell(d["ttr_days"], f"{base}/ttr_days/mean", censored=True),
                                             v, k),
                           _diff_cell(d.get("cost_usd"), f"{base}/cost_usd/mean", 1, 1e-6),
                           _better_in(d["unmet_t"], f"{base}/unmet_t/p_better")])
        t.fold_after = len(groups) + TOP_DIFF_ROWS
        t.csv_columns = {"better in": "better in %"}
        t.caption = (f"Per replicate, {v.name} minus {first.name} with the same random draws (common random "
                     "numbers): the mean of the paired differences, and below it their 95 % CI "
                     f"('{SAME_IN_EVERY}': the difference does not vary, no interval). TTS/TTR "
                     "differences use only the replicates uncensored in both ('excl.': the share left out). "
                     f"'better in': share of replicates in which {v.name} has less unmet demand ('{NO_CHANGE}': "
                     "the same unmet demand in every replicate)"
                     + (f"; Δ fill in {ref}: the fill inside that event's window, where the crisis shows (markets "
                        "only; the fill rate beside it is over the whole horizon)" if window else "")
                     + ("; Δ substituted t: demand given up to substitution, which is not counted as unmet, so "
                        "less unmet demand is not all served demand" if subst else "") + ". family: and "
                     "bloc: rows sum their markets (max shortfall, TTS and TTR: their worst market); markets "
                     "follow, largest change first. Δ cost: what the market pays for what is shipped to it "
                     "(price × tonnes, at the fixed link prices of the scenario: no crisis price rises); " + COST_LEFT_OUT)
        out.append(t)
    return out


def _no_shortage_note(cell: Cell, v: Any, key: str) -> Cell:
    """A market that never runs short in ``v`` has TTR 0 there (DESIGN §5), so its Δ TTR is minus the
    first scenario's recovery time, not a faster recovery: the cell says so."""
    ttr = (v.markets.get(key) or {}).get("ttr_days") or {}
    if ":" in key or cell.value is None or not ttr.get("n") or num(ttr.get("p95")) != 0.0 or ttr.get("censored"):
        return cell
    return Cell(cell.text, cell.value, cell.key, f"no shortage in {v.name}", cell.scale, cell.extra)


def _unmet_of(v: Any, key: str) -> float:
    if ":" in key:
        g = (v.summary.get("groups") or {}).get(key)
        return num(g["unmet_t"]["mean"]) if g else math.nan
    mk = v.markets.get(key)
    return num(mk["unmet_t"]["mean"]) if mk else math.nan


def substitution_note(base: str, base_markets: dict[str, Any], name: str, markets: dict[str, Any]) -> str | None:
    """A finding when substitution takes demand out of the markets (it is not counted as unmet): how much in
    each scenario, and where it grows most; None when neither substitutes 0.5 t or more."""
    def subst(mk: dict[str, Any]) -> dict[str, float]:
        return {m: num((d.get("substituted_t") or {}).get("mean") or 0.0) for m, d in mk.items()}

    a, b = subst(base_markets), subst(markets)
    ta, tb = sum(a.values()), sum(b.values())
    if max(ta, tb) < 0.5:
        return None
    grow = sorted(((b.get(m, 0.0) - a.get(m, 0.0), m) for m in b), reverse=True)
    most = [f"{m} ({fmt_t(d)} t)" for d, m in grow[:3] if d >= 0.5]
    return (f"Substitution takes {fmt_t(tb)} t of demand out of the markets in {name} against {fmt_t(ta)} t in "
            f"{base}; demand given up this way is not counted as unmet, so less unmet demand is not all "
            "served demand" + (f" (most added in {', '.join(most)})." if most else "."))


def _group_findings(data: ReportData) -> list[str]:
    out = []
    for v in data.views[1:]:
        diffs = data.differences.get(v.name, {})
        ms = [num(d["unmet_t"]["mean"]) for k, d in diffs.items() if ":" not in k]
        better = sum(1 for x in ms if x <= -0.5)
        worse = sum(1 for x in ms if x >= 0.5)
        unmet = lambda view, m: num(((view.markets.get(m) or {}).get("unmet_t") or {}).get("mean")) or 0.0
        short = sum(1 for m in diffs if ":" not in m and max(unmet(data.baseline, m), unmet(v, m)) >= 0.5)
        out.append(f"{v.name} leaves less demand unmet than {data.baseline.name} in {better} of the {short} "
                   f"markets that run short in either (of {len(ms)}) and more in {worse} (changes under 0.5 t "
                   "not counted).")
        note = substitution_note(data.baseline.name, data.baseline.markets, v.name, v.markets)
        if note:
            out.append(note)
        for k, d in data.differences.get(v.name, {}).items():
            if not k.startswith("family:"):
                continue
            u = d["unmet_t"]
            if u.get("mean") is None or abs(num(u["mean"])) < 0.5:
                continue
            lo, hi = u["ci95"]
            word = "less" if num(u["mean"]) < 0 else "more"
            ci = fmt_ci(lo, hi, unit=" t")[0]
            out.append(f"Across the {k.split(':', 1)[1]} markets, {v.name} leaves {fmt_t(abs(num(u['mean'])))} t "
                       f"{word} demand unmet than {data.baseline.name} "
                       + (f"({SAME_IN_EVERY})" if ci == SAME_IN_EVERY else f"(95 % CI {ci})")
                       + f", and does better in {100 * num(u.get('p_better')):.0f} % of replicates.")
    return out
