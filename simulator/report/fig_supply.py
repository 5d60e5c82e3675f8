"""Supply figures: cost by bloc, co-product surplus, dependency, HHI by stage, flows (Sankey).

They read the summary fields ``costs``, ``links``, ``surplus_t``,
``markets[id]["dependency_bloc"]`` (or ``dependency`` by region), ``stages``
and ``meta``; a figure whose fields are absent is skipped with a note.
Bloc colours are those of the network picture (:func:`graph.bloc_colours`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .canvas import FigureOut, new_figure, skip, top_legend
from .data import COST_SCOPE, STAGE_ORDER, ReportData, View, half_width, num
from .graph import _BLOC_RANK, _tint, bloc_colours

TOP_DEP = 20  #: markets drawn one by one in the dependency chart; more are grouped by family
HHI_LINES = ((1500.0, "moderately concentrated"), (2500.0, "highly concentrated"))


def _stage_key(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


def _bloc_key(b: str) -> tuple[int, str]:
    return (_BLOC_RANK.get(b, 3), b)


def _grouped_vbars(ax: Any, cats: list[str], views: list[View], values: list[list[tuple[float, float]]],
                   colours: list[list[str]], fmt: str) -> None:
    """Vertical bars ``values[cat][view] = (mean, half-width)`` grouped by category."""
    n = len(views)
    w = 0.8 / n
    x = np.arange(len(cats), dtype=float)
    top = max((m + (h if math.isfinite(h) else 0) for row in values for m, h in row if math.isfinite(m)),
              default=1.0)
    for j in range(n):
        xs = x - 0.4 + w * (j + 0.5)
        ms = np.array([values[i][j][0] for i in range(len(cats))])
        hs = np.array([values[i][j][1] for i in range(len(cats))])
        ax.bar(xs, np.nan_to_num(ms), width=w * 0.92, color=[colours[i][j] for i in range(len(cats))],
               edgecolor="white", lw=0.5)
        ok = np.isfinite(hs) & (hs > 0)
        if ok.any():
            ax.errorbar(xs[ok], ms[ok], yerr=hs[ok], fmt="none", ecolor="#222222", elinewidth=0.8, capsize=2)
        for xx, m in zip(xs, ms):
            if math.isfinite(m):
                ax.text(xx, m + 0.015 * top, format(m, fmt), ha="center", va="bottom", fontsize=6.5,
                        color="#333333")
    if n > 1:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=v.colour, label=v.name) for v in views], loc="upper center",
                  ncol=n, frameon=False, fontsize=7)
    ax.set_xticks(x, cats)
    ax.set_ylim(0, top * (1.35 if n > 1 else 1.2))
    ax.grid(axis="x", visible=False)


def cost_by_bloc(data: ReportData) -> FigureOut:
    """Procurement spend by supplier bloc [M USD], per scenario, with 95 % CI whiskers."""
    name, title = "cost_by_bloc", "Procurement spend by supplier bloc"
    per: list[dict[str, dict[str, Any]]] = []
    for v in data.views:
        costs = (v.summary.get("costs") or {}).get("by_supplier_bloc")
        if costs is None:
            costs = _supplier_bloc_from_links(data, v)
        per.append(costs or {})
    if not any(per):
        return skip(name, title, "summary.json has neither costs.by_supplier_bloc nor links with meta "
                                 "(facility regions), so spend cannot be split by bloc.")
    blocs = sorted({b for p in per for b in p}, key=_bloc_key)
    colours = bloc_colours(blocs)
    vals = [[(num(p.get(b, {}).get("mean")) / 1e6, half_width(p.get(b)) / 1e6) for p in per] for b in blocs]
    cols = [[colours[b] if len(data.views) == 1 else v.colour for v in data.views] for b in blocs]
    fig = new_figure(max(4.5, 1.4 + 1.2 * len(blocs) * len(data.views) ** 0.5), 3.0)
    ax = fig.subplots()
    _grouped_vbars(ax, blocs, data.views, vals, cols, ",.0f")
    ax.set_ylabel("spend over the horizon [M USD]")
    totals = []
    for v in data.views:
        t = (v.summary.get("costs") or {}).get("total_usd")
        if t:
            totals.append(f"{v.name}: {num(t['mean']) / 1e6:,.0f} M USD")
    rows = [{"scenario": v.name, "bloc": b, "spend_musd": vals[i][j][0], "ci_half_musd": vals[i][j][1]}
            for i, b in enumerate(blocs) for j, v in enumerate(data.views)]
    cap = ("What buyers pay suppliers in each bloc (shipped tonnes × link price) over the horizon, mean "
           "with 95 % CI." + (" Total including stockpile holding costs — " + "; ".join(totals) + "." if totals else "")
           + " " + COST_SCOPE)
    return FigureOut(name, title, cap, fig, rows=rows)


def _supplier_bloc_from_links(data: ReportData, v: View) -> dict[str, dict[str, Any]] | None:
    links = v.summary.get("links")
    meta = data.meta()
    if not links or "facilities" not in meta:
        return None
    acc: dict[str, list[float]] = {}
    for lk in links.values():
        node = meta["facilities"].get(lk["from"]) or meta.get("stockpiles", {}).get(lk["from"])
        b = data.bloc_of_region(node["region"]) if node else "unknown"
        h = half_width(lk["spend_usd"])
        a = acc.setdefault(b, [0.0, 0.0])
        a[0] += num(lk["spend_usd"]["mean"])
        a[1] += h if math.isfinite(h) else 0.0  # conservative: sd of a sum <= sum of sds
    return {b: {"mean": m, "ci95": [m - h, m + h]} for b, (m, h) in acc.items()}


def surplus(data: ReportData) -> FigureOut:
    """Co-product surplus by product [t] (the balance problem), with 95 % CI whiskers."""
    name, title = "surplus", "Surplus by product: co-products nobody uses, output its buyers could not order"
    prods: dict[str, None] = {}
    for v in data.views:
        for p, s in (v.summary.get("surplus_t") or {}).items():
            if num(s.get("mean")) >= 0.5:
                prods[p] = None
    if not prods:
        return skip(name, title, "No product leaves the chain as surplus (every co-product is used).")
    cats = sorted(prods, key=lambda p: -max(num(v.summary.get("surplus_t", {}).get(p, {}).get("mean"))
                                            for v in data.views))
    vals = [[(num(v.summary.get("surplus_t", {}).get(p, {}).get("mean")),
              half_width(v.summary.get("surplus_t", {}).get(p))) for v in data.views] for p in cats]
    cols = [[v.colour for v in data.views] for _ in cats]
    fig = new_figure(max(4.5, 1.4 + 1.2 * len(cats) * len(data.views) ** 0.5), 3.0)
    ax = fig.subplots()
    _grouped_vbars(ax, cats, data.views, vals, cols, ",.0f")
    ax.set_ylabel("surplus over the horizon [t]")
    rows = [{"scenario": v.name, "product": p, "surplus_t": vals[i][j][0], "ci_half_t": vals[i][j][1]}
            for i, p in enumerate(cats) for j, v in enumerate(data.views)]
    cap = ("Co-products made beyond what the chain uses (separation yields oxides at fixed ratios, so a plant "
           "running for NdPr also makes cerium and lanthanum): they leave the modelled chain, sold outside "
           "it. Mean with 95 % CI; products with less than 0.5 t are left out.")
    return FigureOut(name, title, cap, fig, rows=rows)


# --------------------------------------------------------------------------- dependency


def _bloc_shares(data: ReportData, mk: dict[str, Any]) -> dict[str, dict[str, float]]:
    """stage -> bloc -> mean share, from ``dependency_bloc`` or ``dependency`` by region + meta."""
    dep = mk.get("dependency_bloc")
    if dep:
        return {st: {b: num(s.get("mean")) for b, s in d.items()} for st, d in dep.items()}
    out: dict[str, dict[str, float]] = {}
    for st, d in (mk.get("dependency") or {}).items():
        acc: dict[str, float] = {}
        for r, s in d.items():
            if r == "none":
                continue
            b = data.bloc_of_region(r)
            acc[b] = acc.get(b, 0.0) + num(s.get("mean"))
        out[st] = acc
    return out


def dependency(data: ReportData) -> FigureOut:
    """Stacked bars: share of each market's consumption that passed through each bloc, per traced stage."""
    name, title = "dependency", "Dependency: where each market's supply passed, by stage and bloc"
    shares = {v.name: {m: _bloc_shares(data, mk) for m, mk in v.markets.items()} for v in data.views}
    stages = sorted({st for sv in shares.values() for d in sv.values() for st in d if d[st]}, key=_stage_key)
    if not stages:
        return skip(name, title, "summary.json has no dependency shares (markets[…].dependency_bloc): no "
                                 "stage is traced (report.trace_stages) or the results predate tracing.")
    ranked = data.ranked_markets()
    by_family = len(ranked) > TOP_DEP and all(data.family_of(m) is not None for m in ranked)
    # --focus: its markets one by one, the others by family (an analyst could not see electronics_jp's)
    focus = [m for m in ranked if data.in_focus(m)] if by_family else []
    if len(focus) > TOP_DEP:
        focus = []
    rows_lab: list[str] = []
    entries: list[tuple[str, dict[str, dict[str, float]]]] = []
    for v in data.views:
        sv = shares[v.name]
        if by_family:
            for m in focus:
                if m in sv:
                    entries.append((m + (f" · {v.name}" if len(data.views) > 1 else ""), sv[m]))
            fams: dict[str, list[str]] = {}
            for m in sv:
                if m not in focus:
                    fams.setdefault(str(data.family_of(m)), []).append(m)
            for f, ms in sorted(fams.items()):
                avg = {st: _mean_dicts([sv[m].get(st, {}) for m in ms]) for st in stages}
                label = f"{'other ' if focus else ''}{f} ({len(ms)} markets)"
                entries.append((label + (f" · {v.name}" if len(data.views) > 1 else ""), avg))
        else:
            for m in ranked[:TOP_DEP]:
                if m in sv:
                    entries.append((m + (f" · {v.name}" if len(data.views) > 1 else ""), sv[m]))
    if by_family and focus and len(data.views) > 1:  # the focus markets' rows together, then the families
        def at(e: tuple[str, Any]) -> tuple[int, str]:
            head = e[0].split(" · ")[0]
            return (focus.index(head) if head in focus else len(focus), head)  # stable: the views' order
        order = sorted(entries, key=at)
    elif by_family or len(data.views) == 1:
        order = entries
    else:  # market rows together: ev_jp · A, ev_jp · B, ev_us · A, ...
        order = sorted(entries, key=lambda e: (ranked.index(e[0].split(" · ")[0]), e[0]))
    rows_lab = [e[0] for e in order]
    blocs = sorted({b for _, d in order for st in stages for b in d.get(st, {})}, key=_bloc_key)
    colours = bloc_colours(blocs)
    fig = new_figure(10.0, 1.3 + 0.26 * len(order))
    axes = np.atleast_1d(fig.subplots(1, len(stages), sharey=True))
    y = np.arange(len(order))[::-1].astype(float)
    table: list[dict[str, Any]] = []
    for ax, st in zip(axes, stages):
        left = np.zeros(len(order))
        for b in blocs:
            w = np.array([d.get(st, {}).get(b, 0.0) for _, d in order])
            w = np.nan_to_num(w)
            ax.barh(y, w, left=left, height=0.72, color=colours[b], label=b, edgecolor="white", lw=0.4)
            for yy, l0, ww in zip(y, left, w):
                if ww >= 0.12:
                    ax.text(l0 + ww / 2, yy, f"{100 * ww:.0f} %", ha="center", va="center", fontsize=6.5,
                            color="white")
            left += w
        rest = np.clip(1.0 - left, 0, 1)
        ax.barh(y, rest, left=left, height=0.72, color="#eeeeee", edgecolor="white", lw=0.4,
                label="untraced / none")
        for (lab, d), r in zip(order, rest):
            table.append({"row": lab, "stage": st, **{f"{b}_pct": 100.0 * d.get(st, {}).get(b, 0.0) for b in blocs},
                          "untraced_pct": 100.0 * float(r)})
        ax.set_xlim(0, 1)
        ax.set_title(f"{st} stage")
        ax.xaxis.set_major_formatter(_pct_formatter())
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(y, rows_lab)
    top_legend(fig, axes[0].get_legend_handles_labels()[0], ncol=len(blocs) + 1)
    cap = ("Share of each market's consumption whose material passed through each bloc at the traced stage "
           "(mixing by mass along the chain); grey: material with no traced origin — initial stock, and "
           "recycled scrap, traced only at the recycler stage (where one region's recycling dominates, as "
           "China's swarf recycling for its magnet makers, that region's true share is its own plus most of "
           "the grey).")
    if by_family and focus:
        cap += (f" The {len(focus)} markets of the focus ({', '.join(data.focus)}) one by one; the other "
                f"{len(ranked) - len(focus)} by family, the unweighted mean over their markets.")
    elif by_family:
        cap += f" With {len(ranked)} markets, rows are families: the unweighted mean over their markets."
    elif len(ranked) > TOP_DEP:
        cap += f" The {TOP_DEP} markets with the most unmet demand are shown."
    traced = {v.meta.get("traced_replicates") for v in data.views} - {None}
    reps = {v.summary.get("replications") for v in data.views}
    if traced and max(traced) < max(r for r in reps if r is not None):  # type: ignore[type-var]
        cap += (f" Shares are means over the first {max(traced)} replicates, whose origin is traced "
                "(report.trace_replicates).")
    return FigureOut(name, title, cap, fig, rows=table)


def _mean_dicts(ds: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for d in ds for k in d}
    return {k: float(np.mean([d.get(k, 0.0) for d in ds])) for k in keys} if ds else {}


def _pct_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def hhi(data: ReportData) -> FigureOut:
    """Herfindahl–Hirschman index of output by region, per stage and product, with 95 % CI and top-3 shares.

    Tonnes of different products do not add up to one supply, so each product a stage makes is a row
    (``stages[st]["by_product"]``); summaries without it are drawn by stage.
    """
    name, title = "hhi", "Concentration of supply by stage and product (HHI)"
    per = [v.summary.get("stages") or {} for v in data.views]
    stages = sorted({st for p in per for st, d in p.items() if d.get("hhi")}, key=_stage_key)
    if not stages:
        return skip(name, title, "summary.json has no stages[…].hhi (output concentration by stage).")
    by_product = any(d.get("by_product") for p in per for d in p.values())
    cats: list[tuple[str, str]] = []  # (stage, product), product "" for the stage as a whole
    for st in stages:
        prods = sorted({q for p in per for q in (p.get(st, {}).get("by_product") or {})}) if by_product else [""]
        cats += [(st, q) for q in prods]

    def entry(p: dict[str, Any], st: str, q: str) -> dict[str, Any]:
        d = p.get(st, {})
        return (d.get("by_product") or {}).get(q, {}) if q else d

    vals = [[(num(entry(p, st, q).get("hhi", {}).get("mean")), half_width(entry(p, st, q).get("hhi")))
             for p in per] for st, q in cats]
    n = len(data.views)
    fig = new_figure(7.2, 1.1 + 0.17 * len(cats) * max(1.4, n))
    ax = fig.subplots()
    h = 0.8 / n
    y = np.arange(len(cats), dtype=float)
    for j, v in enumerate(data.views):
        ys = y - 0.4 + h * (j + 0.5)
        ms = np.array([vals[i][j][0] for i in range(len(cats))])
        hs = np.array([vals[i][j][1] for i in range(len(cats))])
        ax.barh(ys, np.nan_to_num(ms), height=h * 0.9, color=v.colour, label=v.name)
        ok = np.isfinite(hs) & (hs > 0)
        if ok.any():
            ax.errorbar(ms[ok], ys[ok], xerr=hs[ok], fmt="none", ecolor="#222222", elinewidth=0.8, capsize=2)
        for yy, m in zip(ys, ms):
            if math.isfinite(m):
                ax.text(m + 80, yy, f"{m:,.0f}", va="center", ha="left", fontsize=6, color="#333333")
    ax.set_yticks(y, [q or st for st, q in cats], fontsize=7)
    ax.set_xlim(0, 13200 if by_product else 11200)
    ax.set_xticks(np.arange(0, 10001, 2000), [f"{x:,}" for x in range(0, 10001, 2000)])
    ax.grid(axis="y", visible=False)
    for i in range(1, len(cats)):  # a rule and the stage's name where the stage changes
        if cats[i][0] != cats[i - 1][0]:
            ax.axhline(i - 0.5, color="#bbbbbb", lw=0.6)
    if by_product:  # the stage's name beside its rows, right of the values
        for st in stages:
            rows_st = [i for i, c in enumerate(cats) if c[0] == st]
            ax.text(13100, (rows_st[0] + rows_st[-1]) / 2, st, ha="right", va="center", fontsize=7.5,
                    style="italic", color="#555555")
    ax.set_ylim(len(cats) - 0.5, -0.5)
    lines = [ax.axvline(lvl, color="#777777", lw=0.9, ls=ls, zorder=0, label=f"{lvl:,.0f}: {lab}")
             for (lvl, lab), ls in zip(HHI_LINES, ("--", ":"))]
    bars = [hd for hd in ax.get_legend_handles_labels()[0] if hd not in lines] if n > 1 else []
    top_legend(fig, bars + lines)
    ax.set_xlabel("HHI of output by region (0–10,000)")
    rows = []
    for i, (st, q) in enumerate(cats):
        for j, v in enumerate(data.views):
            t3 = entry(per[j], st, q).get("top3_share", {})
            rows.append({"scenario": v.name, "stage": st, "product": q or "(all)", "hhi": vals[i][j][0],
                         "hhi_ci_half": vals[i][j][1], "top3_pct": 100.0 * num(t3.get("mean"))})
    t3 = [r for r in rows if math.isfinite(r["top3_pct"])]
    if t3 and all(r["top3_pct"] >= 99.5 for r in t3):
        t3txt = " The top three regions make all of every product's output."
    elif t3:
        low = sorted(t3, key=lambda r: r["top3_pct"])[:3]
        t3txt = (" Least concentrated: " + "; ".join(
            f"{r['product'] if by_product else r['stage']} ({r['scenario']}) top-3 regions {r['top3_pct']:.0f} %"
            for r in low) + " (all rows in the table).")
    else:
        t3txt = ""
    what = ("a product's output at that stage" if by_product else "the stage's output")
    cap = (f"HHI = sum over regions of (percent share of {what})²: 10,000 when one region makes everything"
           + (" — per product, as tonnes of cerium and of dysprosium, or of catalysts and of magnets, do not add "
              "up to one supply (the stage totals are in summary.json)" if by_product else "")
           + ". Dashed and dotted lines: the usual thresholds of moderate and high concentration. Mean with "
           "95 % CI." + t3txt)
    return FigureOut(name, title, cap, fig, rows=rows)


# --------------------------------------------------------------------------- flows


def _flow_graph(data: ReportData, v: View) -> tuple[dict[tuple[str, str], dict[tuple[str, str], float]], list[str]]:
    """Flows between (stage, region) nodes [t], summed over links, and the links left out."""
    meta = data.meta()
    nodes: dict[str, tuple[str, str]] = {}
    for f, d in meta.get("facilities", {}).items():
        nodes[f] = (d.get("stage", "?"), d["region"])
    for s, d in meta.get("stockpiles", {}).items():
        nodes[s] = ("stockpile", d["region"])
    for m, d in meta.get("markets", {}).items():
        nodes[m] = ("market", d["region"])
    flows: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    missing = []
    for lid, lk in (v.summary.get("links") or {}).items():
        a, b = nodes.get(lk["from"]), nodes.get(lk["to"])
        if a is None or b is None:
            missing.append(lid)
            continue
        q = num(lk.get("shipped_t", {}).get("mean"))
        if math.isfinite(q) and q > 0:
            flows.setdefault(a, {})
            flows[a][b] = flows[a].get(b, 0.0) + q
    return flows, missing


def flows(data: ReportData) -> FigureOut:
    """Sankey-style flows between stages and regions: nodes by (stage, region), ribbons by tonnes shipped."""
    name, title = "flows", "Flows by stage and region"
    if not any(v.summary.get("links") for v in data.views) or "facilities" not in data.meta():
        return skip(name, title, "summary.json has no links[…].shipped_t with meta (facility stages and "
                                 "regions), so flows cannot be drawn.")
    graphs = [(v, *_flow_graph(data, v)) for v in data.views]
    fig = new_figure(10.0, 0.6 + 3.6 * len(graphs))
    axes = np.atleast_1d(fig.subplots(len(graphs), 1))
    blocs = sorted({data.bloc_of_region(r) for _, fl, _ in graphs for a in fl for r in
                    [a[1], *[b[1] for b in fl[a]]]}, key=_bloc_key)
    colours = bloc_colours(blocs)
    rows: list[dict[str, Any]] = []
    missing_all: set[str] = set()
    for ax, (v, fl, missing) in zip(axes, graphs):
        missing_all.update(missing)
        _sankey(ax, data, fl, colours)
        ax.set_title(v.name if len(graphs) > 1 else "")
        rows += [{"scenario": v.name, "from_stage": a[0], "from_region": a[1], "to_stage": b[0],
                  "to_region": b[1], "shipped_t": q} for a, d in fl.items() for b, q in d.items()]
    from matplotlib.patches import Patch

    top_legend(fig, [Patch(color=colours[b], label=b) for b in blocs], ncol=len(blocs))
    cap = ("Tonnes shipped over the horizon between stages, by region (mean over replicates); ribbon colour: "
           "the supplier's bloc. Heights are shares within each column: products differ between columns "
           "(concentrate, oxides, magnets), so tonnes compare within a column only. Nodes too thin to label "
           "are unlabelled; every flow is in the table.")
    if missing_all:
        cap += f" Left out (ends not in meta): {', '.join(sorted(missing_all))}."
    return FigureOut(name, title, cap, fig, rows=rows)


def _sankey(ax: Any, data: ReportData, fl: dict[tuple[str, str], dict[tuple[str, str], float]],
            colours: dict[str, str]) -> None:
    """Draw nodes as stacked boxes per stage column and flows as ribbons of Bézier curves."""
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MPath

    out_q: dict[tuple[str, str], float] = {}
    in_q: dict[tuple[str, str], float] = {}
    for a, d in fl.items():
        for b, q in d.items():
            out_q[a] = out_q.get(a, 0.0) + q
            in_q[b] = in_q.get(b, 0.0) + q
    nodes = set(out_q) | set(in_q)
    cols = sorted({n[0] for n in nodes}, key=_stage_key)
    if not cols:
        ax.set_axis_off()
        return
    node_w = 0.018
    xs = {c: 0.03 + 0.84 * i / max(1, len(cols) - 1) for i, c in enumerate(cols)}
    pos: dict[tuple[str, str], tuple[float, float, float]] = {}  # node -> (x, y bottom, height)
    scale: dict[str, float] = {}
    for c in cols:
        ns = sorted((n for n in nodes if n[0] == c), key=lambda n: (_bloc_key(data.bloc_of_region(n[1])), n[1]))
        sizes = [max(out_q.get(n, 0.0), in_q.get(n, 0.0)) for n in ns]
        tot = sum(sizes) or 1.0
        gap = min(0.03, 0.25 / max(1, len(ns)))
        scale[c] = (0.9 - gap * (len(ns) - 1)) / tot
        y = 0.95
        for n, s in zip(ns, sizes):
            h = s * scale[c]
            pos[n] = (xs[c], y - h, h)
            y -= h + gap
    used_out = {n: 0.0 for n in nodes}
    used_in = {n: 0.0 for n in nodes}
    order = sorted(((a, b, q) for a, d in fl.items() for b, q in d.items()),
                   key=lambda t: (pos[t[0]][1], pos[t[1]][1]), reverse=True)
    for a, b, q in order:
        xa, ya, ha = pos[a]
        xb, yb, hb = pos[b]
        wa, wb = q / out_q[a] * ha, q / in_q[b] * hb  # ribbons fill each node's height
        top_a = ya + ha - used_out[a]
        top_b = yb + hb - used_in[b]
        used_out[a] += wa
        used_in[b] += wb
        x0, x1 = xa + node_w / 2, xb - node_w / 2
        mx = (x0 + x1) / 2
        verts = [(x0, top_a), (mx, top_a), (mx, top_b), (x1, top_b), (x1, top_b - wb),
                 (mx, top_b - wb), (mx, top_a - wa), (x0, top_a - wa), (x0, top_a)]
        codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.LINETO,
                 MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.CLOSEPOLY]
        c = colours[data.bloc_of_region(a[1])]
        ax.add_patch(PathPatch(MPath(verts, codes), fc=c, ec="none", alpha=0.35, zorder=1))
    for n, (x, y, h) in pos.items():
        c = colours[data.bloc_of_region(n[1])]
        ax.add_patch(Rectangle((x - node_w / 2, y), node_w, h, fc=_tint(c, 0.2), ec=c, lw=0.8, zorder=2))
        if h < 0.028:  # too thin to label legibly (all flows are in tables/flows.csv)
            continue
        q = max(out_q.get(n, 0.0), in_q.get(n, 0.0))
        ax.text(x + node_w, y + h / 2, f"{n[1]} {_kt(q)}", ha="left", va="center", fontsize=7, zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
    for c in cols:
        ax.text(xs[c], 0.99, c, ha="center", va="bottom", fontsize=8, fontweight="bold", color="#333333")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_axis_off()


def _kt(q: float) -> str:
    return f"{q / 1000:,.1f} kt" if q >= 1000 else f"{q:,.0f} t"
