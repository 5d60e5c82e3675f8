"""Shared drawing helpers: an Agg canvas without pyplot, saving, event windows, legends.

Every figure of the report is built as a :class:`FigureOut`: a matplotlib
``Figure`` on its own Agg canvas (no pyplot, no global backend state, as
:mod:`simulator.report.graph` does), a title, a caption and the data table it
shows. matplotlib is imported inside the functions only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import ReportData

DPI = 150
FONT_PT = 8.5
WINDOW_COLOURS = ("#f2c14e", "#b07cc6", "#7fc8a9", "#f28e8e", "#9bb7d4")
RC = {
    "font.size": FONT_PT, "axes.titlesize": FONT_PT + 0.5, "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT - 0.5, "ytick.labelsize": FONT_PT - 0.5, "legend.fontsize": FONT_PT,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6, "axes.axisbelow": True, "svg.hashsalt": "reesim", "svg.fonttype": "path",
    "axes.titleweight": "bold", "axes.titlelocation": "left",
}


@dataclass
class FigureOut:
    """A drawn figure, or the reason it was skipped.

    Attributes
    ----------
    name : str
        File stem under ``figures/`` (``.png`` and ``.svg``) and ``tables/`` (``.csv``).
    title, caption : str
        Shown above and below the figure in the HTML.
    fig : matplotlib.figure.Figure or None
        None when skipped.
    note : str or None
        Why the figure was skipped (shown in its place).
    rows : list of dict
        The numbers drawn, written to ``tables/<name>.csv``.
    """

    name: str
    title: str
    caption: str = ""
    fig: Any = None
    note: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


def skip(name: str, title: str, note: str) -> FigureOut:
    """A figure that is not drawn, with the reason."""
    return FigureOut(name, title, note=note)


def new_figure(width_in: float, height_in: float) -> Any:
    """A matplotlib ``Figure`` on its own Agg canvas, styled for the report."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    return fig


def style() -> Any:
    """A context manager applying the report's rc settings (use while drawing)."""
    import matplotlib

    return matplotlib.rc_context(RC)


def save(fig: Any, folder: Path, name: str) -> bytes:
    """Write ``name.png`` and ``name.svg`` into ``folder``; return the PNG bytes."""
    import matplotlib

    folder.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(RC):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
        png = buf.getvalue()
        (folder / f"{name}.png").write_bytes(png)
        try:  # keep the layout the PNG's draw worked out: constrained layout again is ~15 % of a figure's time
            fig.set_layout_engine("none")
        except RuntimeError:  # an engine matplotlib will not swap out (colorbars): lay out again
            pass
        fig.savefig(folder / f"{name}.svg", format="svg", facecolor="white", metadata={"Date": None})
    return png


def shade_windows(ax: Any, data: ReportData, label: bool = False) -> list[Any]:
    """Shade every event window on a date axis; return legend handles (patches).

    With ``label``, each window's label is also written at the top of its span.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    wins = list(data.windows())
    h0, h1 = data.horizon_start(), data.horizon_end()
    span = None
    if h0 is not None and h1 is not None:
        span = h1 - h0
    elif wins:  # results without a horizon: the windows' own span
        span = max(e for *_, e in wins) - min(s for _, _, s, _ in wins)
    handles = []
    # events over the same dates share one shading (two translucent colours on top of each other made a
    # third that matched neither swatch) and one legend entry naming them all
    spans: dict[tuple[Any, Any], list[str]] = {}
    for _, lab, s, e in wins:
        spans.setdefault((s, e), []).append(lab)
    for k, ((s, e), labs) in enumerate(spans.items()):
        c = WINDOW_COLOURS[k % len(WINDOW_COLOURS)]
        limit = 48 * len(labs)
        lab = " + ".join(labs)
        short = lab if len(lab) <= limit else lab[:limit - 1] + "…"
        if span and (e - s) > 0.6 * span:
            # a window covering most of the horizon would wash out every panel: dashed lines at its start,
            # and at its end when it ends before the horizon does
            ax.axvline(s, color=c, lw=1.6, ls="--", zorder=0)
            if h1 is not None and e < h1:
                ax.axvline(e, color=c, lw=1.6, ls=":", zorder=0)
                text = f"event {s:%b %Y} – {e:%b %Y} (dashed – dotted): {short}"
            else:
                text = f"event from here on: {short}"
            handles.append(Line2D([], [], color=c, lw=1.6, ls="--", label=text))
            continue
        ax.axvspan(s, e, color=c, alpha=0.22, lw=0, zorder=0)
        if label:
            ax.text(s, 1.0, f" {short}", transform=ax.get_xaxis_transform(), ha="left", va="top",
                    fontsize=FONT_PT - 1.5, color="#444444", clip_on=True)
        handles.append(Patch(color=c, alpha=0.35, label=f"{'events' if len(labs) > 1 else 'event'}: {short}"))
    return handles


def date_axis(ax: Any) -> None:
    """Concise month/year ticks on a date x axis."""
    import matplotlib.dates as mdates

    class _Remembered(mdates.AutoDateLocator):  # type: ignore[misc]
        """AutoDateLocator that works the ticks out once per view interval: small multiples with a
        shared x axis asked for them ~70 times per panel and draw (dateutil rrules), about a
        fifth of the time of the fan-chart figures."""

        _seen: tuple[Any, Any] = (None, None)

        def __call__(self) -> Any:
            key = tuple(self.axis.get_view_interval())
            if key != self._seen[0]:
                self._seen = (key, super().__call__())
            return self._seen[1]

    loc = _Remembered(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def grid_shape(n: int, max_cols: int = 3) -> tuple[int, int]:
    """(rows, columns) of small multiples for n panels."""
    cols = min(max_cols, max(1, n))
    return -(-n // cols), cols


def top_legend(fig: Any, handles: list[Any], ncol: int | None = None) -> None:
    """A legend above the panels: one row if it fits the figure's width, else two (filled by column).

    Filled by column, consecutive pairs of handles (a scenario's median and band)
    stay together in one column when two rows are needed.
    """
    if not handles:
        return
    from .graph import _text_width_in

    n = len(handles)
    if ncol is None:
        width = float(fig.get_size_inches()[0]) - 0.3
        w = [_text_width_in(str(h.get_label()), FONT_PT) + 0.55 for h in handles]  # [in]
        ncol = 1
        for c in range(n, 0, -1):  # the most columns whose widest entries fit (filled by column)
            rows = -(-n // c)
            if sum(max(w[j * rows:(j + 1) * rows], default=0.0) for j in range(c)) <= width:
                ncol = c
                break
    fig.legend(handles=handles, loc="outside upper center", ncol=ncol, frameon=False)
