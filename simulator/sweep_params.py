"""What a sweep varies and measures: parameters (``PATH=LOW:HIGH``) and metrics (``KEY.METRIC``).

A parameter is a ``--set`` path with a range; unit-cube coordinates from the
design map onto it linearly (float), rounded (both ends written as integers) or
in whole days (ISO dates). A metric is a market id, ``family:<f>`` or
``bloc:<b>`` and one of :data:`METRIC_NAMES`, reduced per point to its mean
over replicates (:func:`simulator.sweep.evaluate_point`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exceptions import UsageError

METRIC_NAMES = ("fill_rate", "unmet_t", "lost_days", "max_shortfall", "tts_days", "ttr_days", "cost_usd",
                "substituted_t", "window_fill")  # compare.METRICS (a test checks that they agree)
CENSORED = ("tts_days", "ttr_days")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^[+-]?\d+$")


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """A swept value: a ``--set`` path and its range.

    Attributes
    ----------
    path : str
        Dotted path as for ``--set`` (``events.cn_magnet_licensing.blocked``).
    low, high : float, int or datetime.date
        Ends of the range, ``low < high``.
    kind : {'float', 'int', 'date'}
        How unit coordinates map onto the range (linear, rounded, whole days).
    label : str
        Plain-language name used in reports.
    """

    path: str
    low: Any
    high: Any
    kind: str
    label: str

    def value(self, u: float) -> Any:
        """The value at unit coordinate ``u`` in [0, 1] (int, float or date)."""
        if self.kind == "date":
            return self.low + dt.timedelta(days=round(u * (self.high - self.low).days))
        v = self.low + u * (self.high - self.low)
        # 12 significant digits: 0.65, not 0.6499999999999999 (far finer than any input is known)
        return round(v) if self.kind == "int" else float(f"{v:.12g}")

    def text(self, u: float) -> str:
        """The value at ``u`` as written into ``--set`` and ``points.csv``."""
        return fmt_value(self.value(u))

    def assignment(self, u: float) -> str:
        """``PATH=VALUE`` at ``u``."""
        return f"{self.path}={self.text(u)}"

    @property
    def spec(self) -> str:
        """``PATH=LOW:HIGH`` as given."""
        return f"{self.path}={fmt_value(self.low)}:{fmt_value(self.high)}"

    def as_dict(self) -> dict[str, Any]:
        """JSON form (sweep.json)."""
        return {"path": self.path, "low": fmt_value(self.low), "high": fmt_value(self.high),
                "kind": self.kind, "label": self.label}


def fmt_value(v: Any) -> str:
    """A value as YAML reads it back exactly: ``0.65``, ``300``, ``2026-07-01``."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return np.format_float_positional(float(v), unique=True, trim="0")


def parse_param(text: str, label: str | None = None) -> Param:
    """Read ``PATH=LOW:HIGH`` (numbers, or ISO dates for a date value).

    Raises
    ------
    UsageError
        When the text is not of that form, or ``LOW >= HIGH``.
    """
    where = f"--param {text!r}"
    if "=" not in text:
        raise UsageError(f"{where}: expected PATH=LOW:HIGH, e.g. events.cn_magnet_licensing.blocked=0.3:1.0")
    path, rng = (s.strip() for s in text.split("=", 1))
    if not path or any(not p for p in path.split(".")):
        raise UsageError(f"{where}: empty part in path {path!r}")
    if rng.count(":") != 1:
        raise UsageError(f"{where}: expected LOW:HIGH after '=', e.g. 100:1000 or 2026-01-01:2028-01-01")
    lo_s, hi_s = (s.strip() for s in rng.split(":"))
    kinds = []
    vals: list[Any] = []
    for s in (lo_s, hi_s):
        if _DATE.match(s):
            try:
                vals.append(dt.date.fromisoformat(s))
            except ValueError:
                raise UsageError(f"{where}: {s!r} is not a date (YYYY-MM-DD)") from None
            kinds.append("date")
        elif _INT.match(s):
            vals.append(int(s))
            kinds.append("int")
        else:
            try:
                vals.append(float(s))
            except ValueError:
                raise UsageError(f"{where}: {s!r} is neither a number nor a date (YYYY-MM-DD)") from None
            if not math.isfinite(vals[-1]):
                raise UsageError(f"{where}: {s!r} is not a finite number")
            kinds.append("float")
    if "date" in kinds and kinds != ["date", "date"]:
        raise UsageError(f"{where}: give both ends as dates (YYYY-MM-DD) or both as numbers")
    kind = "date" if kinds[0] == "date" else ("int" if kinds == ["int", "int"] else "float")
    lo, hi = vals
    if kind == "float":
        lo, hi = float(lo), float(hi)
    if not lo < hi:
        raise UsageError(f"{where}: LOW ({lo_s}) must be below HIGH ({hi_s})")
    return Param(path, lo, hi, kind, label or param_label(path))


def param_label(path: str) -> str:
    """A plain-language name for a parameter path (the path itself when no rule fits)."""
    p = path.split(".")
    rules: list[tuple[Callable[[list[str]], bool], Callable[[list[str]], str]]] = [
        (lambda p: p[0] == "events" and len(p) == 3 and p[2] == "blocked", lambda p: f"blocked fraction of {p[1]}"),
        (lambda p: p[0] == "events" and len(p) == 3 and p[2] in ("start", "end"), lambda p: f"{p[2]} of {p[1]}"),
        (lambda p: p[0] == "stockpiles" and len(p) == 5 and p[2] == "holds", lambda p: f"{p[1]} {p[4]} {p[3]} [t]"),
        (lambda p: p[0] in ("facilities", "recyclers") and len(p) == 3 and p[2] == "online",
         lambda p: f"{p[1]} start date"),
        (lambda p: p[0] == "stockpiles" and len(p) == 3 and p[2] == "online", lambda p: f"{p[1]} set-up date"),
        (lambda p: p[0] == "facilities" and len(p) == 3 and p[2] == "capacity", lambda p: f"{p[1]} capacity"),
        (lambda p: p == ["policies", "reroute_after_days"], lambda p: "re-routing delay [d]"),
        (lambda p: p[0] == "markets" and "substitution" in p and p[-1] == "adoption_days",
         lambda p: f"{p[1]} substitution adoption [d]"),
        (lambda p: p[0] == "markets" and "substitution" in p and p[-1] == "after_shortfall_days",
         lambda p: f"{p[1]} substitution trigger [d]"),
    ]
    for test, name in rules:
        try:
            if test(p):
                return name(p)
        except IndexError:
            continue
    return path


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metric:
    """A per-point outcome: a market, ``family:<f>`` or ``bloc:<b>`` and a metric name."""

    key: str
    metric: str

    @property
    def column(self) -> str:
        """``KEY.METRIC``: the column in points.csv."""
        return f"{self.key}.{self.metric}"

    @property
    def label(self) -> str:
        """``ev_jp unmet demand [t]``."""
        return f"{self.key} {METRIC_LABELS[self.metric]}"


METRIC_LABELS = {"fill_rate": "fill rate", "unmet_t": "unmet demand [t]", "lost_days": "lost days of supply [d]",
                 "max_shortfall": "max shortfall", "tts_days": "time to survive [d]",
                 "ttr_days": "time to recover [d]", "cost_usd": "procurement cost [USD]",
                 "substituted_t": "demand given up to substitution [t]",
                 "window_fill": "fill rate in the reference event's window"}


def parse_metric(text: str, allowed_keys: Sequence[str] | None = None) -> Metric:
    """Read ``MARKET.METRIC`` (or ``family:<f>.METRIC``, ``bloc:<b>.METRIC``).

    Raises
    ------
    UsageError
        For an unknown metric, or a key not in ``allowed_keys``.
    """
    if "." not in text:
        raise UsageError(f"--metric {text!r}: expected MARKET.METRIC, e.g. ev_jp.unmet_t or "
                         f"family:magnets.fill_rate (metrics: {', '.join(METRIC_NAMES)})")
    key, metric = text.rsplit(".", 1)
    if metric not in METRIC_NAMES:
        hint = difflib.get_close_matches(metric, METRIC_NAMES, n=1)
        raise UsageError(f"--metric {text!r}: no metric {metric!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else "")
                         + f"; allowed: {', '.join(METRIC_NAMES)}")
    if metric == "window_fill" and ":" in key:
        raise UsageError(f"--metric {text!r}: window_fill is kept per market, not for families or blocs "
                         f"(e.g. ev_jp.window_fill)")
    if allowed_keys is not None and key not in allowed_keys:
        hint = difflib.get_close_matches(key, list(allowed_keys), n=1)
        shown = ", ".join(list(allowed_keys)[:15]) + (", ..." if len(allowed_keys) > 15 else "")
        raise UsageError(f"--metric {text!r}: the scenario has no market or group {key!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else f"; there: {shown}"))
    return Metric(key, metric)


def metric_keys(net: Any) -> list[str]:
    """Markets, ``family:<f>`` and ``bloc:<b>`` keys of a network, as metrics accept them."""
    from .compare import BLOC_PREFIX, FAMILY_PREFIX, market_bloc
    from .network import market_family

    keys = list(net.markets)
    keys += list(dict.fromkeys(FAMILY_PREFIX + market_family(net, m) for m in range(len(net.markets))))
    keys += list(dict.fromkeys(BLOC_PREFIX + market_bloc(net, m) for m in range(len(net.markets))))
    return keys


def default_metrics(net: Any) -> list[Metric]:
    """Unmet demand of every market family (``family:<f>.unmet_t``)."""
    return [Metric(k, "unmet_t") for k in metric_keys(net) if k.startswith("family:")]
