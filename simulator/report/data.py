"""What a report reads: the files of a results folder, and nothing else.

A results folder written by ``reesim run`` holds ``summary.json`` (one run,
DESIGN §8) and ``timeseries.csv``; one written by ``reesim compare`` holds a
``summary.json`` with ``scenarios``, ``differences`` and ``headline``, and a
``<name>/timeseries.csv`` per scenario. :func:`load_results` turns either into
a :class:`ReportData`: one :class:`View` per scenario plus what the comparison
adds. Fields that newer summaries carry (``meta``, ``stages``, ``links``,
``costs``, ``stockpiles``, ``dependency_bloc``) are optional everywhere: the
figures that need them are skipped, with a note, when they are absent.

This module also holds the number formats shared by the HTML, the tables and
the tests, so that a number shown equals the one in ``summary.json`` formatted.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: Scenario colours: the baseline dark grey, then colours clear of the bloc colours.
SCENARIO_COLOURS = ("#1b7f8c", "#e08a1e", "#8e5bb5", "#2a9d4b", "#d6589f", "#8c564b", "#a5a31f")
BASELINE_COLOUR = "#4d4d4d"
STAGE_ORDER = ("recycler", "mine", "separation", "metal", "stockpile", "component", "market")
MINUS = "\u2212"

#: What the report's costs leave out, said where costs are shown (after what they are).
COST_LEFT_OUT = ("investment in mines and refineries, subsidies, the initial stock of stockpiles and substituted "
                 "demand (both never bought) are not counted, so a plan that builds, stockpiles or substitutes "
                 "looks cheaper than it is.")
COST_SCOPE = ("Costs are procurement spend (price × tonnes shipped, summed over every stage, so what a good is "
              "made of is paid for again at each stage it is bought: a volume of trade, not a cost of supply) "
              "and stockpile holding costs only: " + COST_LEFT_OUT)


@dataclass(frozen=True)
class Series:
    """Quantiles across replicates of one series at the reporting interval.

    ``times`` are the last days of each interval; ``p5``, ``p50``, ``p95`` and
    ``mean`` have one value per time.
    """

    times: tuple[dt.date, ...]
    p5: F64
    p50: F64
    p95: F64
    mean: F64


@dataclass
class View:
    """One scenario's results: its run summary, its series and its colour."""

    name: str
    summary: dict[str, Any]
    series: dict[str, Series]
    colour: str

    @property
    def markets(self) -> dict[str, Any]:
        """Market id -> the summary's per-market metrics."""
        return dict(self.summary.get("markets", {}))

    @property
    def meta(self) -> dict[str, Any]:
        """The summary's ``meta`` (empty when absent)."""
        return dict(self.summary.get("meta") or {})

    @property
    def title(self) -> str:
        """Scenario title, or its name."""
        return str(self.summary.get("title") or self.meta.get("title") or self.name)


@dataclass
class ReportData:
    """Everything a report shows, read from one results folder."""

    folder: Path
    kind: str  #: "run" or "compare"
    top: dict[str, Any]  #: summary.json as read
    views: list[View]
    differences: dict[str, Any] = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)
    #: regions, markets, sectors or families whose markets come first in figures and tables (``--focus``)
    focus: tuple[str, ...] = ()

    @property
    def baseline(self) -> View:
        """The first scenario (the one the differences are taken against)."""
        return self.views[0]

    @property
    def is_compare(self) -> bool:
        """True for a comparison of two or more scenarios."""
        return self.kind == "compare"

    def market_ids(self) -> list[str]:
        """Every market of any scenario, in first-seen order."""
        out: dict[str, None] = {}
        for v in self.views:
            out.update(dict.fromkeys(v.markets))
        return list(out)

    def ranked_markets(self) -> list[str]:
        """Markets by largest mean unmet demand in any scenario, then by id; those in ``focus`` first."""
        def worst(m: str) -> float:
            vals = [num(v.markets[m]["unmet_t"].get("mean")) for v in self.views if m in v.markets]
            return max((x for x in vals if math.isfinite(x)), default=0.0)

        return sorted(self.market_ids(), key=lambda m: (not self.in_focus(m), -worst(m), m))

    def focus_words(self) -> dict[str, set[str]]:
        """What ``focus`` may name: market ids, and the regions, sectors and families of the markets."""
        meta = self.meta().get("markets", {})
        out: dict[str, set[str]] = {"market": set(self.market_ids()), "region": set(), "sector": set(),
                                    "family": set()}
        for m in self.market_ids():
            for k in ("region", "sector"):
                if meta.get(m, {}).get(k):
                    out[k].add(str(meta[m][k]))
            out["family"].update(self._families(m))
        return out

    def _families(self, market: str) -> set[str]:
        """The families a market buys from: 'magnets+optical' is in magnets and in optical."""
        fam = self.meta().get("markets", {}).get(market, {}).get("family")
        return ({f for f in str(fam).split("+") if f} | {str(fam)}) if fam else set()  # and 'magnets+optical'


    def in_focus(self, market: str) -> bool:
        """True when ``focus`` names the market, its region, its sector or its family."""
        if not self.focus:
            return False
        m = self.meta().get("markets", {}).get(market, {})
        return any(f in (market, m.get("region"), m.get("sector")) or f in self._families(market) for f in self.focus)

    def meta(self) -> dict[str, dict[str, Any]]:
        """``meta`` merged over the scenarios (later scenarios add what earlier lack)."""
        out: dict[str, dict[str, Any]] = {}
        for v in self.views:
            for k, d in v.meta.items():
                if isinstance(d, dict):
                    merged = dict(d)
                    merged.update(out.get(k, {}))
                    out[k] = merged
        return out

    def family_of(self, market: str) -> str | None:
        """A market's family from ``meta`` (None when the summary lacks it)."""
        m = self.meta().get("markets", {}).get(market)
        if m is None:
            return None
        return str(m.get("family") or "other")

    def bloc_of_region(self, region: str) -> str:
        """A region's bloc from ``meta`` (``region`` itself when unknown)."""
        return str(self.meta().get("regions", {}).get(region, {}).get("bloc", region))

    def windows(self) -> list[tuple[str, str, dt.date, dt.date]]:
        """Event windows (id, label, start, end) of every scenario, each id once."""
        out: dict[str, tuple[str, str, dt.date, dt.date]] = {}
        for v in self.views:
            for w in v.summary.get("event_windows", []):
                out.setdefault(w["id"], (w["id"], w.get("label") or w["id"],
                                         dt.date.fromisoformat(w["start"]), dt.date.fromisoformat(w["end"])))
        return list(out.values())

    def reference(self) -> tuple[str | None, str | None, dt.date | None]:
        """(id, label, start date) of the reference event of TTS and TTR (the first scenario having one)."""
        ref = next((v.summary["reference_event"] for v in self.views if v.summary.get("reference_event")), None)
        for i, lab, s, _ in self.windows():
            if i == ref:
                return ref, lab, s
        return ref, ref, None

    def horizon_start(self) -> dt.date | None:
        """First day of the baseline's horizon."""
        h = self.baseline.summary.get("horizon") or {}
        return dt.date.fromisoformat(h["start"]) if "start" in h else None

    def horizon_end(self) -> dt.date | None:
        """Last day of the baseline's horizon."""
        h = self.baseline.summary.get("horizon") or {}
        return dt.date.fromisoformat(h["end"]) if "end" in h else None


# --------------------------------------------------------------------------- loading


#: the plural of each kind of word a focus may name (in the message refusing one)
PLURAL = {"region": "regions", "sector": "sectors", "family": "families", "market": "markets"}


def refuse_focus(focus: Sequence[str], words: dict[str, set[str]], whose: str) -> None:
    """Raise UsageError for a focus naming nothing in ``words`` (kind -> names), listing what it may name.

    ``whose``: what the names belong to (``the scenario`` before a run, ``these results`` after it).
    """
    known = set().union(*words.values())
    bad = [f for f in focus if f not in known]
    if not bad:
        return
    from ..exceptions import UsageError

    allowed = "; ".join(f"{PLURAL[k]}: {', '.join(sorted(v)[:12])}{' ...' if len(v) > 12 else ''}"
                        for k, v in words.items() if v and k != "market")
    raise UsageError(f"--focus {', '.join(bad)}: not a market, region, sector or family of {whose} "
                     f"(allowed: a market id" + (f", or {allowed})" if allowed else
                                                 "; these results predate regions and families in summary.json)"))


def load_results(folder: Path, focus: tuple[str, ...] = ()) -> ReportData:
    """Read a results folder written by ``reesim run`` or ``reesim compare``.

    Parameters
    ----------
    folder : Path
        The folder holding ``summary.json`` and the ``timeseries.csv`` file(s).
    focus : tuple of str
        Regions, markets, sectors or families whose markets the report shows first.

    Returns
    -------
    ReportData

    Raises
    ------
    FileNotFoundError
        If ``summary.json`` is missing.
    """
    folder = Path(folder)
    top = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    if "scenarios" in top:
        names = list(top["scenarios"])
        views = [View(n, top["scenarios"][n], read_timeseries(folder / n / "timeseries.csv"),
                      scenario_colour(i, len(names))) for i, n in enumerate(names)]
        return ReportData(folder, "compare", top, views, top.get("differences", {}), list(top.get("headline", [])),
                          tuple(focus))
    name = str(top.get("scenario", folder.name))
    view = View(name, top, read_timeseries(folder / "timeseries.csv"), scenario_colour(0, 1))
    return ReportData(folder, "run", top, [view], focus=tuple(focus))


def scenario_colour(i: int, n: int) -> str:
    """Colour of the i-th of n scenarios (a lone run gets teal, a baseline dark grey)."""
    if n == 1:
        return SCENARIO_COLOURS[0]
    return BASELINE_COLOUR if i == 0 else SCENARIO_COLOURS[(i - 1) % len(SCENARIO_COLOURS)]


def read_timeseries(path: Path) -> dict[str, Series]:
    """Parse a tidy ``timeseries.csv`` (time, series, stat, value) into series; {} if missing."""
    if not path.is_file():
        return {}
    acc: dict[str, dict[str, dict[str, float]]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)  # plain rows: ~2.4x faster than DictReader on the flagship's 340 000 lines
        head = next(rows, [])
        missing = [c for c in ("time", "series", "stat", "value") if c not in head]
        if missing:
            raise ValueError(f"{path}: line 1: no column {', '.join(missing)} (expected time,series,stat,value)")
        it, iss, ist, iv = (head.index(c) for c in ("time", "series", "stat", "value"))
        for row in rows:
            if not row:  # a blank line (DictReader skipped them too)
                continue
            acc.setdefault(row[iss], {}).setdefault(row[it], {})[row[ist]] = float(row[iv])
    out: dict[str, Series] = {}
    for name, by_time in acc.items():
        times = sorted(by_time)
        cols = {s: np.array([by_time[t].get(s, np.nan) for t in times]) for s in ("p5", "p50", "p95", "mean")}
        out[name] = Series(tuple(dt.date.fromisoformat(t) for t in times), **cols)
    return out


# --------------------------------------------------------------------------- numbers


def num(x: Any) -> float:
    """A JSON number as float (None -> NaN)."""
    return float("nan") if x is None else float(x)


def _no_signed_zero(text: str) -> str:
    """Drop the sign of a number that rounds to zero: ``−0`` and ``+0.0 %`` read as ``0`` and ``0.0 %``."""
    body = text.lstrip("+-" + MINUS)
    return body if body != text and not any(ch in "123456789" for ch in body) else text


def fmt_t(x: Any) -> str:
    """Tonnes: ``2,122``."""
    v = num(x)
    return "—" if not math.isfinite(v) else _no_signed_zero(f"{v:,.0f}").replace("-", MINUS)


def fmt_days(x: Any) -> str:
    """Days with one decimal: ``143.4``."""
    v = num(x)
    return "—" if not math.isfinite(v) else _no_signed_zero(f"{v:,.1f}").replace("-", MINUS)


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A share as percent: ``80.4 %``."""
    v = num(x)
    return "—" if not math.isfinite(v) else _no_signed_zero(f"{100 * v:.{digits}f} %").replace("-", MINUS)


def fmt_usd(x: Any) -> str:
    """US dollars in millions: ``277.3 M``."""
    v = num(x)
    return "—" if not math.isfinite(v) else _no_signed_zero(f"{v / 1e6:,.1f} M").replace("-", MINUS)


def fmt_signed(x: Any, digits: int = 0, scale: float = 1.0) -> str:
    """A signed difference: ``−2,122``, ``+3.5``, and ``0`` (no sign) for one that rounds to zero."""
    v = num(x)
    return "—" if not math.isfinite(v) else _no_signed_zero(f"{v * scale:+,.{digits}f}").replace("-", MINUS)


#: The text of a 95 % CI of zero width: the paired difference is the same in every replicate.
SAME_IN_EVERY = "same in every replicate"


def fmt_ci(lo: Any, hi: Any, digits: int = 0, scale: float = 1.0, signed: bool = True, sep: str = " to ",
           unit: str = "") -> tuple[str, int]:
    """A 95 % CI as text, and the decimals it took: ``−1,233 to −1,229``, ``80.1–80.6 %``.

    Bounds that print the same at ``digits`` decimals get up to two more (``+0.80 to +0.84``, not
    ``+1 to +1``): paired differences under common random numbers often have a CI far narrower than
    the table's rounding. Still the same then: ``narrower than ±0.005`` (at ``digits`` = 0). Bounds that are
    equal (a zero-width CI): :data:`SAME_IN_EVERY`. The caller shows the mean with the decimals returned.
    """
    a, b = num(lo) * scale, num(hi) * scale
    if not (math.isfinite(a) and math.isfinite(b)):
        return "—", digits
    if a == b:
        return SAME_IN_EVERY, digits

    def f(x: float, k: int) -> str:
        return fmt_signed(x, k) if signed else _no_signed_zero(f"{x:,.{k}f}").replace("-", MINUS)

    for k in range(digits, digits + 3):
        ta, tb = f(a, k), f(b, k)
        if ta != tb:
            return f"{ta}{sep}{tb}{unit}", k
    k = digits + 2
    return f"narrower than ±{0.5 * 10.0 ** -k:.{k + 1}f}{unit}", k


def no_change(d: dict[str, Any] | None) -> bool:
    """True when a paired difference is 0 in every replicate (mean 0, no spread): a tie, not a loss."""
    if not d or d.get("mean") is None or num(d["mean"]) != 0.0:
        return False
    if d.get("sd") is not None:
        return num(d["sd"]) == 0.0
    lo, hi = d.get("ci95") or [None, None]
    return lo is not None and num(lo) == 0.0 and num(hi) == 0.0


def shows_substitution(diffs: dict[str, Any], *markets: dict[str, Any]) -> bool:
    """True when a comparison has substituted demand to show beside unmet demand: some paired difference of
    ``substituted_t``, or some market of the scenarios (``markets``: their summaries' markets), of 0.5 t or more."""
    return any(abs(num((d.get("substituted_t") or {}).get("mean") or 0.0)) >= 0.5 for d in diffs.values()) or any(
        num((mk.get("substituted_t") or {}).get("mean") or 0.0) >= 0.5 for mks in markets for mk in mks.values())


def share_pct(c: float) -> str:
    """A share as a whole percentage, with a decimal where rounding would say 0 or 100 of a share that is
    neither (``99.5``, ``0.4``; ``> 99.9``, ``< 0.1`` beyond that)."""
    out = f"{100 * c:.0f}"
    if (out == "100" and c < 1) or (out == "0" and c > 0):
        out = f"{100 * c:.1f}"
        if out == "100.0":
            out = "> 99.9"
        elif out == "0.0":
            out = "< 0.1"
    return out


def fmt_share(x: float) -> str:
    """A share in % as read: whole from 1 %, one decimal below, '< 0.1 %' for a trace (not '0 %')."""
    p = 100 * x
    return f"{p:.0f} %" if p >= 1 or p == 0 else (f"{p:.1f} %" if p >= 0.1 else "< 0.1 %")


def fmt_ttx(s: dict[str, Any] | None) -> str:
    """A TTS/TTR censored STAT as ``66 d``, ``> 637 d`` (all censored), ``66 d; 30 % > 637 d`` or, when
    most replicates are censored, ``> 637 d in 99.5 %; 195 d in the rest`` (the median of the rest)."""
    if not s:
        return "—"
    cen = num(s.get("censored", 0.0))
    bound = s.get("censored_at_least")
    if not s.get("n"):
        return f"> {num(bound):,.0f} d" if bound is not None else "n/a"
    if cen >= 0.5 and bound is not None:
        return f"> {num(bound):,.0f} d in {share_pct(cen)} %; {num(s['p50']):,.0f} d in the rest"
    out = f"{num(s['p50']):,.0f} d"
    if cen > 0 and bound is not None:
        out += f"; {share_pct(cen)} % > {num(bound):,.0f} d"
    return out


def half_width(s: dict[str, Any] | None) -> float:
    """Half-width of a STAT's 95 % CI (NaN when absent)."""
    if not s or s.get("ci95") is None or s["ci95"][0] is None:
        return float("nan")
    return (num(s["ci95"][1]) - num(s["ci95"][0])) / 2.0


def interval_word(times: tuple[dt.date, ...]) -> str:
    """``daily``, ``weekly`` or ``N-day`` from the spacing of series times."""
    if len(times) < 2:
        return "interval"
    d = (times[1] - times[0]).days
    return {1: "daily", 7: "weekly"}.get(d, f"{d}-day")
