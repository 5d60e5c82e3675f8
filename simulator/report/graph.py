"""The network picture of ``reesim graph``: stages as columns, bloc colours, link width by flow.

Columns run left to right through the stages present (mine, separation, metal,
component, recycler), then stockpiles, then markets. A link is a curve from
supplier to buyer whose width is proportional to its nominal flow at base
demand [t/d] (DESIGN §3, *nominal flows*), coloured by the supplier's bloc;
links that carry nothing nominally (from stockpiles, or a release rule with no
link) are thin and dashed, and scrap returned by markets to recyclers is
dotted. Links that run right to left carry an arrowhead.

Within a column, nodes are ordered and placed by weighted barycentre sweeps:
each node is pulled towards the flow-weighted mean height of its neighbours,
nodes keep at least one row between them, and the sweep with the fewest
crossings wins. The figure height follows the tallest column, so labels stay
at a fixed, legible size (8 pt) and never overlap, however many nodes there are.

matplotlib is imported inside :func:`draw_network` only, and the figure is
drawn on an Agg canvas without pyplot, so no global backend state is touched.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..network import Network
    from ..scenario.models import Scenario

STAGE_COLUMNS = ("mine", "separation", "metal", "component", "recycler")
BLOC_COLOURS = {"china": "#c0392b", "allied": "#2e6fba", "other": "#8a8a8a"}
_EXTRA_COLOURS = ("#2a9d4b", "#e08a1e", "#8e5bb5", "#8c564b", "#d6589f", "#a5a31f", "#1fa5b8")
_BLOC_RANK = {"china": 0, "allied": 1, "other": 2}

FONT_PT = 8.0  #: node labels [pt]
ROW_IN = 0.30  #: smallest vertical pitch between nodes of a column [in]
BOX_H_IN = 0.20  #: node box height [in]
GAP_IN = 1.3  #: horizontal room between columns, for the links [in]
PAD_IN = 0.07  #: text padding inside a node box [in]
MARGIN_IN = 0.35
MAX_LW_PT = 8.0  #: width of the largest flow [pt]
MIN_LW_PT = 0.7  #: floor for small positive flows [pt]
MAX_LABEL = 28  #: longer labels are cut with an ellipsis [characters]
DPI = 150
CAPTION = "link width: nominal flow at base demand [t/d]"
_ZERO_LABEL = "no nominal flow (e.g. stockpile)"
_SCRAP_LABEL = "scrap return"
_DASHED = (0, (4, 2))


@dataclass
class _Node:
    id: str
    column: int
    bloc: str
    region: str
    label: str
    dummy: bool = False  #: a waypoint of a link crossing this column, not a node
    y: float = 0.0  #: position [rows], increasing downwards


@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    flow: float  #: nominal flow [t/d]
    style: str  #: "link", "release" (a stockpile release rule without a link) or "scrap"


def bloc_colours(blocs: Iterable[str]) -> dict[str, str]:
    """Colour of each bloc: china red, allied blue, other grey, others stable by name.

    A bloc outside the three known ones gets a colour chosen from its name's
    CRC32, moving to the next free colour when another bloc of the same
    scenario already took it; the same bloc therefore keeps its colour from
    picture to picture.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for b in sorted(set(blocs)):
        if b in BLOC_COLOURS:
            out[b] = BLOC_COLOURS[b]
            continue
        k = zlib.crc32(b.encode("utf-8")) % len(_EXTRA_COLOURS)
        for j in range(len(_EXTRA_COLOURS)):
            c = _EXTRA_COLOURS[(k + j) % len(_EXTRA_COLOURS)]
            if c not in taken:
                break
        else:
            c = _EXTRA_COLOURS[k]
        out[b] = c
        taken.add(c)
    return out


def _tint(hex_colour: str, amount: float = 0.75) -> tuple[float, float, float]:
    """Blend a colour with white (amount 1 = white)."""
    rgb = [int(hex_colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)]
    r, g, b = (c + (1.0 - c) * amount for c in rgb)
    return (r, g, b)


def _label(node_id: str, region: str, extra: str | None = None) -> str:
    """``id``, then `` (REGION)`` unless the id already names it, then `` · extra`` (a sector)."""
    s = node_id
    if region.lower() not in re.split(r"[_\-.]", node_id.lower()):
        s += f" ({region})"
    if extra and extra not in node_id:
        s += f" · {extra}"
    return s if len(s) <= MAX_LABEL else s[: MAX_LABEL - 1] + "…"


def _graph(sc: Scenario, net: Network) -> tuple[list[str], dict[str, _Node], list[_Edge]]:
    """Columns (titles), nodes and drawable edges of a scenario and its compiled network."""
    stage_of: dict[str, str] = {f: fac.stage for f, fac in sc.facilities.items()}
    stage_of.update({r: "recycler" for r in sc.recyclers})
    present = set(stage_of.values())
    titles = [s for s in STAGE_COLUMNS if s in present]
    if sc.stockpiles:
        titles.append("stockpile")
    titles.append("market")
    col = {t: i for i, t in enumerate(titles)}

    nodes: dict[str, _Node] = {}

    def add(node_id: str, column: str, region: str, extra: str | None = None) -> None:
        bloc = sc.regions[region].bloc
        nodes[node_id] = _Node(node_id, col[column], bloc, region, _label(node_id, region, extra))

    for f, fac in sc.facilities.items():
        add(f, fac.stage, fac.region)
    for r, rec in sc.recyclers.items():
        add(r, "recycler", rec.region)
    for s, pile in sc.stockpiles.items():
        add(s, "stockpile", pile.region)
    for m, mk in sc.markets.items():
        add(m, "market", mk.region, mk.sector)

    n_links = len(net.links)
    flow = (
        np.asarray(net.nominal_link).sum(axis=1) if net.nominal_link.size else np.zeros(n_links)
    )
    merged: dict[tuple[str, str, str], float] = {}
    for e in range(n_links):
        src = net.holdings[int(net.link_src[e])][0]
        dst = net.holdings[int(net.link_dst[e])][0]
        key = (src, dst, "link")
        merged[key] = merged.get(key, 0.0) + float(flow[e])
    for s, pile in sc.stockpiles.items():
        if pile.release is None:
            continue
        for t in pile.release.to:
            if (s, t, "link") not in merged and t in nodes:
                merged[(s, t, "release")] = 0.0
    for r, rec in sc.recyclers.items():
        for m in rec.collects.from_:
            if m in nodes:
                merged[(m, r, "scrap")] = 0.0
    edges = [_Edge(s, d, f, st) for (s, d, st), f in merged.items()]
    return titles, nodes, edges


# --------------------------------------------------------------------------- layout

# Smallest vertical gaps [rows] between neighbours in a column: two boxes, a box and
# a passing link, two passing links.
_GAP_BOX, _GAP_MIXED, _GAP_PASS = 1.0, 0.6, 0.3


def _route(
    columns: list[list[str]], nodes: dict[str, _Node], edges: list[_Edge]
) -> list[list[str]]:
    """The chain of items each edge passes: supplier, a waypoint per column crossed, buyer.

    A link that spans several columns gets a *waypoint* (a dummy node without a
    box) in each column it crosses, so that the layout keeps it clear of the
    boxes there. Links leaving the same node in the same direction share their
    waypoints, which keeps crowded columns short.
    """
    chains: list[list[str]] = []
    for e in edges:
        a, b = nodes[e.src], nodes[e.dst]
        step = 1 if b.column > a.column else -1
        chain = [e.src]
        for c in range(a.column + step, b.column, step) if a.column != b.column else ():
            key = f"\x00{e.src}>{c}:{step}"
            if key not in nodes:
                nodes[key] = _Node(key, c, a.bloc, a.region, "", dummy=True)
                columns[c].append(key)
            chain.append(key)
        chain.append(e.dst)
        chains.append(chain)
    return chains


def _gap(a: _Node, b: _Node) -> float:
    if a.dummy and b.dummy:
        return _GAP_PASS
    return _GAP_MIXED if (a.dummy or b.dummy) else _GAP_BOX


def _spaced(targets: list[float], gaps: list[float], lo: float, hi: float) -> list[float]:
    """Heights closest (least squares) to ``targets``, in order, ``gaps`` apart, in [lo, hi].

    ``gaps[i]`` is the least distance between items i and i+1. With
    z_i = y_i - (sum of the gaps before i) the constraints become "z
    non-decreasing": an isotonic regression (pool adjacent violators), then
    clipped to the range.
    """
    offs = [0.0]
    for g in gaps:
        offs.append(offs[-1] + g)
    blocks: list[list[float]] = []  # [sum, count]
    for t, o in zip(targets, offs):
        blocks.append([t - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    z = [s / c for s, c in blocks for _ in range(int(c))]
    z_lo, z_hi = lo, hi - offs[-1]
    if z_hi < z_lo:  # cannot fit: centre it
        z_lo = z_hi = (lo + hi - offs[-1]) / 2
    return [min(max(zi, z_lo), z_hi) + o for zi, o in zip(z, offs)]


def _segments(chains: list[list[str]], edges: list[_Edge]) -> list[tuple[str, str, _Edge]]:
    return [(c[k], c[k + 1], e) for c, e in zip(chains, edges) for k in range(len(c) - 1)]


def _score(nodes: dict[str, _Node], segs: list[tuple[str, str, _Edge]]) -> tuple[int, float]:
    """(crossings between segments joining the same two columns, flow-weighted length)."""
    groups: dict[tuple[int, int], set[tuple[float, float]]] = {}
    length = 0.0
    for s, d, e in segs:
        a, b = nodes[s], nodes[d]
        if a.column == b.column:
            continue
        if a.column > b.column:
            a, b = b, a
        groups.setdefault((a.column, b.column), set()).add((a.y, b.y))
        length += (e.flow + 1e-9) * abs(a.y - b.y)
    crossings = 0
    for pairs in groups.values():
        ya, yb = np.array(sorted(pairs)).T
        da = ya[:, None] - ya[None, :]
        db = yb[:, None] - yb[None, :]
        crossings += int((da * db < 0).sum()) // 2
    return crossings, length


def _layout(
    columns: list[list[str]], nodes: dict[str, _Node], edges: list[_Edge], chains: list[list[str]]
) -> None:
    """Order and place the items of every column (sets ``node.y``, in rows)."""
    spans = []
    for c in columns:
        r = sum(not nodes[i].dummy for i in c)
        d = len(c) - r
        spans.append(max(r - 1 + 0.6 * d, 0.3 * (d - 1), 0.0))
    lo, hi = -max(spans) / 2.0, max(spans) / 2.0
    segs = _segments(chains, edges)
    fmax = max((e.flow for e in edges), default=0.0)
    eps = 0.05 * fmax if fmax > 0 else 1.0
    neigh: dict[str, list[tuple[str, float]]] = {}
    for s, d, e in segs:
        if nodes[s].column == nodes[d].column:
            continue
        w = e.flow + (eps if e.style == "link" else 0.2 * eps)
        neigh.setdefault(s, []).append((d, w))
        neigh.setdefault(d, []).append((s, w))

    def rank(n: _Node) -> tuple[int, int, str, str, str]:
        return (int(n.dummy), _BLOC_RANK.get(n.bloc, 3), n.bloc, n.region, n.id)

    def place(col: list[str], targets: list[float]) -> None:
        gaps = [_gap(nodes[a], nodes[b]) for a, b in zip(col, col[1:])]
        for i, y in zip(col, _spaced(targets, gaps, lo, hi)):
            nodes[i].y = y

    for c in columns:
        c.sort(key=lambda i: rank(nodes[i]))
        place(c, [0.0] * len(c))

    def snapshot() -> tuple[list[list[str]], dict[str, float]]:
        return [list(c) for c in columns], {i: n.y for i, n in nodes.items()}

    best = (_score(nodes, segs), *snapshot())
    for it in range(24):
        order = range(len(columns)) if it % 2 == 0 else range(len(columns) - 1, -1, -1)
        for ci in order:
            col = columns[ci]
            target: dict[str, float] = {}
            for i in col:
                ns = neigh.get(i)
                if ns:
                    wsum = sum(w for _, w in ns)
                    target[i] = sum(nodes[j].y * w for j, w in ns) / wsum
                else:
                    target[i] = nodes[i].y
            col.sort(key=lambda i: (target[i], nodes[i].y))
            place(col, [target[i] for i in col])
        score = _score(nodes, segs)
        if score < best[0]:
            best = (score, *snapshot())
    for c, saved in zip(columns, best[1]):
        c[:] = saved
    for i, y in best[2].items():
        nodes[i].y = y


def _nice_below(x: float) -> float:
    """Largest 1, 2 or 5 x 10^k not above x (x > 0)."""
    k = math.floor(math.log10(x))
    for m in (5.0, 2.0, 1.0):
        if m * 10.0**k <= x * (1 + 1e-12):
            return m * 10.0**k
    return 10.0**k  # pragma: no cover


def _width_samples(fmax: float) -> list[float]:
    """Two or three round flows [t/d] for the width legend."""
    if fmax <= 0:
        return []
    out: list[float] = []
    for frac in (1.0, 0.25, 0.05):
        v = _nice_below(fmax * frac)
        if v not in out and MAX_LW_PT * v / fmax >= MIN_LW_PT:
            out.append(v)
    return out


# --------------------------------------------------------------------------- drawing


def _text_width_in(text: str, size: float, weight: str = "normal") -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if not text:
        return 0.0
    tp = TextPath((0, 0), text, size=size, prop=FontProperties(weight=weight))
    return float(tp.get_extents().width) / 72.0


def _legend_width_in(labels: list[str], title: str) -> float:
    """Width of a one-row legend (matplotlib's default spacings, in font-size units)."""
    em = FONT_PT / 72.0
    items = sum(_text_width_in(s, FONT_PT) + (2.0 + 0.8) * em for s in labels)
    items += 2.0 * em * max(len(labels) - 1, 0) + 2 * 0.4 * em + 2 * 0.5 * em
    return max(items, _text_width_in(title, FONT_PT, "bold") + 1.0 * em)


def draw_network(scenario: Scenario, net: Network, path: Path) -> None:
    """Draw the network as a picture: stages as columns, bloc colours, link width by flow.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario (titles, stages, regions, blocs, release and scrap rules).
    net : Network
        Its compiled network; ``net.nominal_link.sum(axis=1)`` gives each
        link's nominal flow at base demand [t/d].
    path : Path
        Where to write; the suffix (``.png`` or ``.svg``) picks the format.

    Raises
    ------
    ValueError
        If the suffix is neither ``.png`` nor ``.svg``.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"{path}: the picture must end in .png or .svg (got {path.suffix!r})")

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyBboxPatch, Patch, PathPatch
    from matplotlib.path import Path as MPath

    titles, nodes, edges = _graph(scenario, net)
    columns: list[list[str]] = [[] for _ in titles]
    for n in nodes.values():
        columns[n.column].append(n.id)
    chains = _route(columns, nodes, edges)
    _layout(columns, nodes, edges, chains)
    y_min = min(n.y for n in nodes.values())
    rows = max(n.y for n in nodes.values()) - y_min + 1.0
    colours = bloc_colours(n.bloc for n in nodes.values())
    bloc_names = {b: (scenario.blocs[b].name if b in scenario.blocs else b) for b in colours}
    used_blocs = sorted(colours, key=lambda b: (_BLOC_RANK.get(b, 3), b))

    # ---- geometry, in inches (the axes span the figure, one data unit = one inch)
    fmax = max((e.flow for e in edges), default=0.0)
    samples = _width_samples(fmax)
    dashed = any(e.style == "release" or (e.style == "link" and e.flow <= 0) for e in edges)
    dotted = any(e.style == "scrap" for e in edges)
    link_labels = [f"{v:g} t/d" for v in samples]
    link_labels += [_ZERO_LABEL] * dashed + [_SCRAP_LABEL] * dotted
    bloc_labels = [bloc_names[b] for b in used_blocs]
    legend_w = _legend_width_in(bloc_labels, "bloc") + 0.5 + _legend_width_in(link_labels, "links")

    col_w = [
        max(_text_width_in(nodes[i].label, FONT_PT) for i in c if not nodes[i].dummy) + 2 * PAD_IN
        for c in columns
    ]
    pitch = max(ROW_IN, min(0.6, 2.4 / rows))
    inner_w = sum(col_w) + GAP_IN * (len(columns) - 1)
    title = scenario.title or scenario.name
    title_pt = 12.0
    width = max(inner_w + 2 * MARGIN_IN, legend_w + 2 * MARGIN_IN, 6.0)
    while title_pt > 8.0 and _text_width_in(title, title_pt, "bold") > width - 2 * MARGIN_IN:
        title_pt -= 0.5
    head_in, foot_in = 0.95, 1.15
    plot_h = (rows - 1) * pitch + BOX_H_IN + 0.3
    height = head_in + plot_h + foot_in
    x = (width - inner_w) / 2.0
    col_x: list[float] = []
    for w in col_w:
        col_x.append(x + w / 2.0)
        x += w + GAP_IN
    y_top = height - head_in - 0.15 - BOX_H_IN / 2.0

    def pos(node_id: str) -> tuple[float, float, float]:
        n = nodes[node_id]
        return col_x[n.column], y_top - (n.y - y_min) * pitch, col_w[n.column]

    with matplotlib.rc_context({"svg.hashsalt": "reesim", "svg.fonttype": "path"}):
        fig = Figure(figsize=(width, height), dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.set_axis_off()

        ax.text(width / 2, height - 0.18, title, ha="center", va="top", fontsize=title_pt,
                fontweight="bold")
        for t, cx, c in zip(titles, col_x, columns):
            n_real = sum(not nodes[i].dummy for i in c)
            ax.text(cx, height - head_in + 0.05, f"{t} ({n_real})", ha="center", va="bottom",
                    fontsize=FONT_PT + 1, fontweight="bold", color="#333333")

        for k in sorted(range(len(edges)), key=lambda k: -edges[k].flow):
            _draw_edge(ax, edges[k], chains[k], pos, nodes, colours, fmax, pitch, MPath, PathPatch)

        for i, n in nodes.items():
            if n.dummy:
                continue
            cx, cy, w = pos(i)
            colour = colours[n.bloc]
            ax.add_patch(FancyBboxPatch(
                (cx - w / 2, cy - BOX_H_IN / 2), w, BOX_H_IN,
                boxstyle="round,pad=0,rounding_size=0.04",
                fc=_tint(colour), ec=colour, lw=1.0, zorder=3,
            ))
            ax.text(cx, cy, n.label, ha="center", va="center", fontsize=FONT_PT, zorder=4,
                    color="#111111")

        # ---- legends and caption
        bloc_handles = [
            Patch(fc=_tint(colours[b]), ec=colours[b], label=bloc_names[b]) for b in used_blocs
        ]
        link_handles: list[Any] = [
            Line2D([], [], color="#555555", alpha=0.55, solid_capstyle="butt",
                   lw=max(MIN_LW_PT, MAX_LW_PT * v / fmax), label=f"{v:g} t/d")
            for v in samples
        ]
        if dashed:
            link_handles.append(Line2D([], [], color="#555555", lw=0.9, ls=_DASHED,
                                       label=_ZERO_LABEL))
        if dotted:
            link_handles.append(Line2D([], [], color="#555555", lw=0.9, ls=":",
                                       label=_SCRAP_LABEL))
        leg_y = 0.42
        kw: dict[str, Any] = dict(frameon=False, fontsize=FONT_PT, title_fontsize=FONT_PT,
                                  bbox_transform=ax.transData)
        split = width / 2 + (_legend_width_in(bloc_labels, "bloc")
                             - _legend_width_in(link_labels, "links")) / 2
        leg1 = ax.legend(handles=bloc_handles, title="bloc", ncol=len(bloc_handles),
                         loc="lower right", bbox_to_anchor=(split - 0.25, leg_y), **kw)
        leg1.get_title().set_fontweight("bold")
        ax.add_artist(leg1)
        if link_handles:
            leg2 = ax.legend(handles=link_handles, title="links", ncol=len(link_handles),
                             loc="lower left", bbox_to_anchor=(split + 0.25, leg_y), **kw)
            leg2.get_title().set_fontweight("bold")
        ax.text(width / 2, 0.2, f"{CAPTION}; colour: the supplier's bloc",
                ha="center", va="bottom", fontsize=FONT_PT - 0.5, color="#444444",
                style="italic")

        meta = {"Date": None} if fmt == "svg" else {}
        fig.savefig(path, format=fmt, dpi=DPI, facecolor="white", metadata=meta)


def _draw_edge(ax: Any, e: _Edge, chain: list[str], pos: Any, nodes: dict[str, _Node],
               colours: dict[str, str], fmax: float, pitch: float, MPath: Any,
               PathPatch: Any) -> None:
    """One link as Bézier pieces from the supplier's box, through its waypoints, to the buyer's."""
    cs, cd = nodes[e.src].column, nodes[e.dst].column
    if cs == cd:  # same column: a loop out to the right
        (xs, ys, ws), (xd, yd, wd) = pos(e.src), pos(e.dst)
        k = min(GAP_IN * 0.45, 0.25 + 0.08 * abs(ys - yd) / pitch)
        p0, p3 = (xs + ws / 2, ys), (xd + wd / 2, yd)
        verts = [p0, (p0[0] + k, ys), (p3[0] + k, yd), p3]
        codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4]
    else:
        sgn = 1.0 if cd > cs else -1.0  # left to right: leave by the right edge, enter by the left
        ports: list[tuple[float, float]] = []
        for k, i in enumerate(chain):
            x, y, w = pos(i)
            if k > 0:
                ports.append((x - sgn * w / 2, y))
            if k < len(chain) - 1:
                ports.append((x + sgn * w / 2, y))
        verts, codes = [ports[0]], [MPath.MOVETO]
        for k in range(1, len(ports)):
            a, b = ports[k - 1], ports[k]
            if k % 2 == 0:  # across a waypoint's column: straight
                verts.append(b)
                codes.append(MPath.LINETO)
            else:
                dx = (b[0] - a[0]) / 2
                verts += [(a[0] + dx, a[1]), (b[0] - dx, b[1]), b]
                codes += [MPath.CURVE4] * 3
    path = MPath(verts, codes)
    colour = colours[nodes[e.src].bloc]
    if e.style == "scrap":
        kw: dict[str, Any] = dict(ec="#555555", lw=0.9, ls=":", alpha=0.9)
    elif e.flow <= 0 or fmax <= 0:
        kw = dict(ec=colour, lw=0.9, ls=_DASHED, alpha=0.9)
    else:
        kw = dict(ec=colour, lw=max(MIN_LW_PT, MAX_LW_PT * e.flow / fmax), alpha=0.45,
                  capstyle="butt")
    ax.add_patch(PathPatch(path, fill=False, zorder=1 if e.flow > 0 else 2, **kw))
    if cs >= cd or e.flow <= 0:  # direction is not obvious: add an arrowhead at the buyer
        (x2, y2), (x3, y3) = verts[-2], verts[-1]
        ang = math.atan2(y3 - y2, x3 - x2)
        tip = (x3 - 0.05 * math.cos(ang), y3 - 0.05 * math.sin(ang))
        ax.plot([tip[0]], [tip[1]], marker=(3, 0, math.degrees(ang) - 90), ms=5,
                color=kw["ec"], zorder=2.5, ls="none")
