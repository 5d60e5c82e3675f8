"""Sensitivity indices of a finished sweep (SALib), main effects and the top-drivers sentence.

Per metric of the sweep, from the design's unit coordinates X [n, k] and the
per-point means Y [n]:

- ``morris``: SALib's elementary effects: μ* (mean absolute effect), μ (signed),
  σ (spread: interactions or non-linearity) and the 95 % bootstrap half-width of
  μ*. An elementary effect is the change of the metric for one step of a
  parameter, scaled to the parameter's whole range, so μ* reads in the metric's
  unit as a slope over the range (where the metric saturates, or is cut off by the
  horizon, it can exceed the spread of the values seen);
- ``sobol``: SALib's Saltelli/Jansen estimators: first-order S1 and total-order
  ST with 95 % bootstrap half-widths (shares of the metric's variance);
- ``lhs``: SALib's RBD-FAST first-order S1 with its 95 % half-width;
- ``grid``: the first-order share of variance Var(E[Y | x_j]) / Var(Y) on the
  full factorial (exact for the grid; no confidence interval).

Parameters are ranked by μ* (morris), ST (sobol) or S1 (lhs, grid). The
direction of an effect ("higher values raise it") comes from the sign of μ
(morris) or from the *main effects* (sobol, lhs, grid): the mean metric over the
points with the parameter at its lowest and at its highest level (grid) or in
the lowest and highest fifth of its range (sobol, lhs). The tornado chart uses
the sweep's one-at-a-time points instead (:func:`tornado`): the metric with
every parameter mid-range, and with one parameter at its low or high end.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: (index key, its name in reports) used for ranking, per method.
RANK_INDEX = {"morris": ("mu_star", "μ*"), "sobol": ("ST", "total-order Sobol' index S_T"),
              "lhs": ("S1", "first-order index S1 (RBD-FAST)"), "grid": ("S1", "first-order share of variance S1")}
EDGE = 0.2  #: share of the range at each end used for main effects of continuous designs
TOP = 3  #: drivers named in the sentence
#: Morris with fewer trajectories than this is a rough screen: its sentence never says a parameter "hardly
#: matters" (μ* from two or three elementary effects can miss what the one-at-a-time tornado shows)
FEW_TRAJECTORIES = 4
#: Sobol' base samples below which the indices are a rough screen: a review's N = 16 ranked a driver with
#: S_T 0.52 at N = 256 as 'hardly matters' (S_T 0.02 +-0.04), its bootstrap interval missing the value
FEW_SOBOL = 64


def analyse(method: str, X: np.ndarray, Y: np.ndarray, names: list[str], seed: int,
            levels: int = 4) -> dict[str, Any]:
    """Indices and main effects of one metric.

    Parameters
    ----------
    method : {'morris', 'sobol', 'lhs', 'grid'}
    X : ndarray
        Unit-cube coordinates of the points [n, k], in design order.
    Y : ndarray
        The metric at each point [n].
    names : list of str
        Parameter names (k).
    seed : int
        Seed of SALib's bootstrap (results are reproducible).
    levels : int
        Morris levels.

    Returns
    -------
    dict
        ``{"ok": bool, "note": str | None, "indices": {name: {index: value}},
        "ranking": [names, most influential first], "effects": {name: {"low", "high"}},
        "mean": float, "sd": float}``.
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    k = X.shape[1]
    out: dict[str, Any] = {"ok": True, "note": None, "indices": {}, "ranking": [], "effects": {},
                           "mean": float(np.nanmean(Y)) if np.isfinite(Y).any() else None,
                           "sd": float(np.nanstd(Y)) if np.isfinite(Y).any() else None,
                           "min": float(np.nanmin(Y)) if np.isfinite(Y).any() else None,
                           "max": float(np.nanmax(Y)) if np.isfinite(Y).any() else None}
    bad = int(np.sum(~np.isfinite(Y)))
    if bad:
        out.update(ok=False, note=f"the metric has no value at {bad} of {len(Y)} points "
                                  "(e.g. no reference event for TTS/TTR); no indices")
        return out
    out["effects"] = {} if method == "morris" else main_effects(X, Y, names, discrete=method == "grid")
    key = RANK_INDEX[method][0]
    if float(np.ptp(Y)) == 0.0:
        out["note"] = "the metric is the same at every point: no parameter changes it over the ranges swept"
        zero = {"morris": {"mu": 0.0, "mu_star": 0.0, "sigma": 0.0, "mu_star_conf": 0.0},
                "sobol": {"S1": 0.0, "S1_conf": 0.0, "ST": 0.0, "ST_conf": 0.0},
                "lhs": {"S1": 0.0, "S1_conf": 0.0}, "grid": {"S1": 0.0}}[method]
        out["indices"] = {n: dict(zero) for n in names}
        out["ranking"] = list(names)
        return out
    problem = {"num_vars": k, "names": list(names), "bounds": [[0.0, 1.0]] * k}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            if method == "morris":
                from SALib.analyze import morris

                r = morris.analyze(problem, X, Y, num_resamples=1000, conf_level=0.95, num_levels=levels, seed=seed)
                cols = ("mu", "mu_star", "sigma", "mu_star_conf")
                out["trajectories"] = len(Y) // (k + 1)
            elif method == "sobol":
                from SALib.analyze import sobol

                r = sobol.analyze(problem, Y, calc_second_order=False, num_resamples=1000, conf_level=0.95,
                                  seed=seed)
                cols = ("S1", "S1_conf", "ST", "ST_conf")
                out["base_samples"] = len(Y) // (k + 2)
            elif method == "lhs":
                from SALib.analyze import rbd_fast

                r = rbd_fast.analyze(problem, X, Y, num_resamples=1000, conf_level=0.95, seed=seed)
                cols = ("S1", "S1_conf")
            else:
                r = {"S1": grid_first_order(X, Y)}
                cols = ("S1",)
    out["indices"] = {n: {c: _f(r[c][j]) for c in cols} for j, n in enumerate(names)}
    out["ranking"] = sorted(names, key=lambda n: -(out["indices"][n][key] or 0.0))
    return out


def tornado(Y_oat: np.ndarray, names: list[str], censored: np.ndarray | None = None) -> dict[str, Any] | None:
    """Tornado data from the one-at-a-time points (see :func:`simulator.sweep.tornado_points`).

    ``censored``: the share of replicates censored at each of those points (TTS, TTR), whose values are
    bounds at the horizon, not times.

    Returns
    -------
    dict or None
        ``{"base": metric with every parameter mid-range, "params": {name: {"low", "high"}}}``, and with
        ``censored`` the same shape of shares under ``"censored"``; None when the metric has no value at
        one of those points.
    """
    Y = np.asarray(Y_oat, dtype=float)
    if len(Y) != 2 * len(names) + 1 or not np.all(np.isfinite(Y)):
        return None
    out: dict[str, Any] = {
        "base": float(Y[0]),
        "params": {n: {"low": float(Y[1 + 2 * j]), "high": float(Y[2 + 2 * j])} for j, n in enumerate(names)}}
    if censored is not None and len(censored) == len(Y):
        c = np.nan_to_num(np.asarray(censored, dtype=float))
        out["censored"] = {"base": float(c[0]), "params": {n: {"low": float(c[1 + 2 * j]), "high": float(c[2 + 2 * j])}
                                                           for j, n in enumerate(names)}}
    return out


def grid_first_order(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Var(E[Y | x_j]) / Var(Y) per parameter on a full-factorial grid [k]."""
    var = float(np.var(Y))
    out = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        _, inv = np.unique(X[:, j], return_inverse=True)
        means = np.bincount(inv, weights=Y) / np.bincount(inv)
        counts = np.bincount(inv) / len(Y)
        out[j] = float(np.sum(counts * (means - Y.mean()) ** 2) / var) if var > 0 else 0.0
    return out


def main_effects(X: np.ndarray, Y: np.ndarray, names: list[str], discrete: bool) -> dict[str, dict[str, float]]:
    """Mean metric with each parameter at the low and at the high end of its range.

    For level designs (morris, grid) the ends are the lowest and highest level;
    otherwise the lowest and highest :data:`EDGE` of the range.
    """
    out = {}
    for j, n in enumerate(names):
        x = X[:, j]
        if discrete:
            lo, hi = x == x.min(), x == x.max()
        else:
            lo, hi = x <= EDGE, x >= 1.0 - EDGE
            if not lo.any() or not hi.any():
                lo, hi = x <= np.quantile(x, EDGE), x >= np.quantile(x, 1.0 - EDGE)
        out[n] = {"low": float(Y[lo].mean()), "high": float(Y[hi].mean()),
                  "n_low": int(lo.sum()), "n_high": int(hi.sum())}
    return out


def _f(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


# --------------------------------------------------------------------------- plain language


def _usd(v: float, like: float | None = None) -> str:
    """USD in millions (``435.5 M``) from 100,000 on, else whole (``42,000``); ``like``: in that value's scale."""
    if abs(v if like is None else like) >= 1e5:
        return f"{v / 1e6:,.1f} M"
    return f"{v:,.0f}"


def fmt_metric(v: float | None, metric: str) -> str:
    """A value in the metric's unit: ``2,340 t``, ``4.1 pp``, ``12 d``, ``USD 1.2 M``."""
    if v is None or not math.isfinite(v):
        return "n/a"
    if metric in ("fill_rate", "max_shortfall"):
        return f"{100 * v:.1f} pp"
    if metric == "cost_usd":
        return f"USD {_usd(v)}"
    unit = "t" if metric.endswith("_t") else "d"  # unmet_t, substituted_t: tonnes; the rest days
    if abs(v) < 0.005:
        return f"0 {unit}"
    return f"{v:,.0f} {unit}" if abs(v) >= 10 else f"{v:.2f} {unit}"


def _level(v: float, metric: str) -> str:
    """A metric's value (not a change): fill rate and shortfall in %."""
    return f"{100 * v:.1f} %" if metric in ("fill_rate", "max_shortfall") else fmt_metric(v, metric)


def index_text(method: str, idx: dict[str, Any], metric: str) -> str:
    """The ranking index of one parameter, with its 95 % half-width: ``μ* 2,340 t ±120``."""
    key, _ = RANK_INDEX[method]
    v = idx.get(key)
    conf = idx.get(key + "_conf")
    if method == "morris":
        s = f"μ* {fmt_metric(v, metric)}"
        if conf is None:
            return s
        if metric == "cost_usd" and v is not None:  # the half-width in the mean's scale: 'USD 435.5 M ±8.9'
            return s + " ±" + _usd(conf, like=v).removesuffix(" M")
        return s + " ±" + fmt_metric(conf, metric).split(" ")[0]  # '2,340 t ±120', '4.1 pp ±1.0'
    name = "S_T" if key == "ST" else "S1"
    s = f"{name} {v:.2f}" if v is not None else f"{name} n/a"
    return s + (f" ±{conf:.2f}" if conf is not None else "")


def direction(a: dict[str, Any], name: str, method: str) -> str:
    """``higher values raise it`` / ``lower it`` / ``no clear direction`` for one parameter.

    Morris: the sign of μ when |μ| is at least half of μ* (else the effect changes
    sign across the design) and μ*'s 95 % interval excludes 0 (a review read 'raises it' for
    μ* 12 ±23); other methods: the main effect (mean metric at the high end minus at the
    low end), when it is at least 5 % of the largest one.
    """
    if method == "morris":
        idx = a["indices"][name]
        mu, mu_star = idx.get("mu") or 0.0, idx.get("mu_star") or 0.0
        conf = idx.get("mu_star_conf") or 0.0
        if mu_star <= 0 or abs(mu) < 0.5 * mu_star or mu_star - conf <= 0:
            return "no clear direction"
        return "higher values raise it" if mu > 0 else "higher values lower it"
    effects = a["effects"]
    spread = float(max((abs(e["high"] - e["low"]) for e in effects.values()), default=0.0))
    d = effects[name]["high"] - effects[name]["low"]
    if spread <= 0 or abs(d) < 0.05 * spread:
        return "no clear direction"
    return "higher values raise it" if d > 0 else "higher values lower it"


def drivers_sentence(metric_label: str, metric: str, method: str, a: dict[str, Any],
                     labels: dict[str, str]) -> str:
    """One plain-language line naming the top three drivers of a metric.

    Example: ``Top drivers of ev_jp unmet demand [t]: blocked fraction of
    cn_magnet_licensing (μ* 2,340 t ±120; higher values raise it), jogmec initial
    ndpr_oxide [t] (μ* 410 t ±60; higher values lower it) and re-routing delay [d]
    (μ* 120 t ±30; no clear direction).``
    """
    if not a.get("ok"):
        return f"{metric_label}: {a.get('note')}"
    if a.get("note"):
        return f"{metric_label}: {a['note']}."
    key = RANK_INDEX[method][0]
    ranked = a["ranking"]
    top = ranked[0]
    best = a["indices"][top][key] or 0.0
    keep = [n for n in ranked[:TOP] if (a["indices"][n][key] or 0.0) >= 0.05 * best and
            (method == "morris" or (a["indices"][n][key] or 0.0) >= 0.01)]
    parts = [f"{labels.get(n, n)} ({index_text(method, a['indices'][n], metric)}; "
             f"{direction(a, n, method)})" for n in keep]
    if not parts:
        return f"No parameter moves {metric_label} noticeably over the ranges swept."
    lo, hi, mean = a.get("min"), a.get("max"), a.get("mean")
    if lo is not None and hi is not None and mean and (hi - lo) < 0.01 * abs(mean):
        return (f"{metric_label} hardly changes over the sweep ({_level(lo, metric)} to {_level(hi, metric)}); "
                f"the largest effect is that of {parts[0]}.")
    word = {1: "driver", 2: "two drivers", 3: "three drivers"}[len(parts)]
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    rest = len(ranked) - len(parts)
    others = "the other parameter matters" if rest == 1 else f"the other {rest} parameters matter"
    few = a.get("trajectories") if method == "morris" else None
    rough = few is not None and few < FEW_TRAJECTORIES
    n_sobol = a.get("base_samples") if method == "sobol" else None
    rough_sobol = n_sobol is not None and n_sobol < FEW_SOBOL
    tail = f"; {others} less" if rest and (len(parts) == TOP or rough or rough_sobol) else (
        f"; {others.replace('matter', 'hardly matter')}" if rest else "")
    # exactly no effect (not 'matter less'), unless the screen is too rough to say so
    idle = rest and not (rough or rough_sobol) and all((a["indices"][n][key] or 0.0) == 0.0 for n in ranked[len(parts):])
    if idle:
        tail = ("; the other parameter has no effect over its range" if rest == 1
                else f"; the other {rest} parameters have no effect over their ranges")
    if rough:
        tail += (f"; {few} trajector{'y' if few == 1 else 'ies'} make{'s' if few == 1 else ''} this a rough "
                 "screen (the tornado shows each parameter's effect alone)")
    if rough_sobol:
        tail += (f"; with {n_sobol} base samples the indices are a rough screen, and their intervals can miss "
                 f"(use --samples {FEW_SOBOL * 4} or more; the tornado shows each parameter's effect alone)")
    # the drivers' intervals: said beside them, not after what follows about the others
    ov = " (their 95 % intervals overlap: more samples would settle the order)" if _overlap(
        a["indices"], keep, key) else ""
    cen = a.get("censored_share")
    if cen:
        tail += (f"; {100 * cen:.0f} % of the replicate values are cut off by the horizon and count at "
                 "their lower bound")
    return f"Top {word} of {metric_label}: {body}{ov}{tail}."


def _overlap(indices: dict[str, dict[str, Any]], names: list[str], key: str) -> bool:
    """True when the 95 % intervals of consecutive drivers overlap."""
    for a, b in itertools.pairwise(names):
        va, vb = indices[a][key] or 0.0, indices[b][key] or 0.0
        ca, cb = indices[a].get(key + "_conf"), indices[b].get(key + "_conf")
        if ca is not None and cb is not None and va - ca < vb + cb:
            return True
    return False


# --------------------------------------------------------------------------- a sweep folder


def analyse_sweep(outdir: Path) -> dict[str, Any]:
    """Analyse every metric of a finished sweep folder; write and return ``sensitivity.json``.

    Returns
    -------
    dict
        ``{"method", "index", "index_name", "params": [...], "metrics": {column:
        {"label", "metric", "sentence", **analyse(...)}}}``.

    Raises
    ------
    ValueError
        When ``points.csv`` does not hold every point of the design.
    """
    import csv
    import io

    from .sweep import METRIC_LABELS
    from .sweep_io import read_design

    outdir = Path(outdir)
    meta = json.loads((outdir / "sweep.json").read_text(encoding="utf-8"))
    params = meta["params"]
    names = [p["path"] for p in params]
    labels = {p["path"]: p.get("label") or p["path"] for p in params}
    X = read_design(outdir, len(names))
    rows = list(csv.DictReader(io.StringIO((outdir / "points.csv").read_text(encoding="utf-8"))))
    if X is None or len(rows) != len(X):
        raise ValueError(f"{outdir}: {len(rows)} of {0 if X is None else len(X)} points finished; "
                         "resume the sweep first")
    rows.sort(key=lambda r: int(r["point"]))
    method = meta["method"]
    nd = int(meta.get("n_design", len(rows)))
    result: dict[str, Any] = {"method": method, "index": RANK_INDEX[method][0], "index_name": RANK_INDEX[method][1],
                              "params": params, "n_design": nd, "n_points": len(rows), "metrics": {}}
    for col in meta["metrics"]:
        key, metric = col.rsplit(".", 1)
        Y = np.array([float(r[col]) for r in rows])
        a = analyse(method, X[:nd], Y[:nd], names, int(meta["seed"]))
        if col + ".censored" in rows[0]:
            cen = np.array([float(r[col + ".censored"]) for r in rows[:nd]])
            a["censored_share"] = float(np.nanmean(cen)) if np.isfinite(cen).any() else None
        label = f"{key} {METRIC_LABELS[metric]}"
        cen_oat = (np.array([float(r[col + ".censored"]) for r in rows[nd:]]) if col + ".censored" in rows[0]
                   else None)
        a.update(label=label, metric=metric, tornado=tornado(Y[nd:], names, cen_oat),
                 sentence=drivers_sentence(label, metric, method, a, labels))
        result["metrics"][col] = a
    (outdir / "sensitivity.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
