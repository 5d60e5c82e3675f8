"""The HTML report: figures written and valid, numbers as in summary.json, re-rendering, skips."""

from __future__ import annotations

import datetime as dt
import json
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PNG_SIGNATURE, run_cli

from simulator.report import data as D
from simulator.report.html import FIGURES, write_report

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"
ALLIED = ROOT / "scenarios" / "tutorial_allied.yaml"


class _Cells(HTMLParser):
    """Collects table cells carrying data-key/data-value, with their text; images; notes."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, Any]] = []
        self.images: list[str] = []
        self.notes: list[str] = []
        self._cell: dict[str, Any] | None = None
        self._note: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and "data-key" in a:
            self._cell = {"key": a["data-key"], "value": a["data-value"], "text": ""}
            self._depth = 0
        elif self._cell is not None and tag in ("br", "span"):
            self._depth += tag == "span"
        if tag == "img":
            self.images.append(str(a.get("src")))
        if tag == "p" and a.get("class") == "note":
            self._note = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None
        if tag == "span" and self._cell is not None:
            self._depth -= 1
        if tag == "p" and self._note is not None:
            self.notes.append("".join(self._note))
            self._note = None

    def handle_data(self, text: str) -> None:
        if self._cell is not None and self._depth == 0:
            self._cell["text"] += text
        if self._note is not None:
            self._note.append(text)


def parse(html_path: Path) -> _Cells:
    p = _Cells()
    p.feed(html_path.read_text(encoding="utf-8"))
    return p


def lookup(summary: dict[str, Any], key: str) -> Any:
    """Follow a data-key path (``markets/ev_us/unmet_t/mean``) into summary.json."""
    node: Any = summary
    for part in key.split("/"):
        node = node[part]
    return node


def check_figures(folder: Path, html: _Cells) -> set[str]:
    """Every figure not skipped has a valid PNG and SVG; return the names drawn."""
    drawn = set()
    for png in sorted((folder / "figures").glob("*.png")):
        raw = png.read_bytes()
        assert raw[:8] == PNG_SIGNATURE and len(raw) > 2000, png
        import matplotlib.image as mpimg

        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        svg = png.with_suffix(".svg")
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg") and len(list(root.iter())) > 20, svg
        drawn.add(png.stem)
    assert len(html.images) == len(drawn)
    assert all(src.startswith("data:image/png;base64,") for src in html.images)
    assert not any("could not be drawn" in n for n in html.notes), html.notes
    return drawn


# --------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def tutorial_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tut") / "res"
    assert run_cli(["run", str(TUTORIAL), "-n", "16", "-o", str(out)]) == 0
    write_report(out)
    return out


def test_every_figure_of_the_tutorial_report_is_a_valid_png_and_svg(tutorial_results: Path) -> None:
    html = parse(tutorial_results / "report.html")
    drawn = check_figures(tutorial_results, html)
    assert {"fill_fan", "unmet_by_market", "tts_ttr", "market_cover", "surplus"} <= drawn
    summary = json.loads((tutorial_results / "summary.json").read_text())
    if summary.get("stages") and summary.get("links") and summary.get("meta"):
        assert {"hhi", "flows", "cost_by_bloc", "dependency", "unmet_by_family", "stockpiles"} <= drawn
    for name in drawn:
        assert (tutorial_results / "tables" / f"{name}.csv").is_file()
    assert (tutorial_results / "tables" / "headline.csv").read_text().startswith("market,family,fill rate")


def test_numbers_in_the_html_equal_summary_json(tutorial_results: Path) -> None:
    summary = json.loads((tutorial_results / "summary.json").read_text())
    cells = parse(tutorial_results / "report.html").cells
    keys = {c["key"] for c in cells}
    for m in summary["markets"]:
        for metric in ("fill_rate", "unmet_t", "lost_days", "max_shortfall"):
            assert f"markets/{m}/{metric}/mean" in keys
    formats = {"fill_rate": D.fmt_pct, "unmet_t": D.fmt_t, "lost_days": D.fmt_days,
               "max_shortfall": lambda x: D.fmt_pct(x, 0)}
    for c in cells:
        want = lookup(summary, c["key"])
        got = None if c["value"] == "None" else float(c["value"])
        assert (want is None and got is None) or got == want, c
        if not c["key"].startswith("markets/"):
            continue
        _, m, metric, _ = c["key"].split("/")
        if metric in formats:
            assert c["text"] == formats[metric](want), c
        else:  # TTS / TTR: the censored-aware text of the whole STAT
            assert c["text"] == D.fmt_ttx(summary["markets"][m][metric]), c
    ev_us = summary["markets"]["ev_us"]["unmet_t"]["mean"]
    assert any(c["text"] == f"{ev_us:,.0f}" for c in cells)


def test_report_is_self_contained(tutorial_results: Path) -> None:
    text = (tutorial_results / "report.html").read_text(encoding="utf-8")
    for banned in ("http://", "https://", "<script", "<link", "@import", "src='figures/"):
        assert banned not in text
    assert "<style>" in text and "Provenance" in text and "sha256" in text.lower()
    summary = json.loads((tutorial_results / "summary.json").read_text())
    assert summary["sha256"] in text and summary["command"] in text
    assert "China magnet licensing" in text  # the event window, labelled


def test_reesim_report_rerenders_without_running(tutorial_results: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import simulator.engine

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("reesim report must not simulate")

    monkeypatch.setattr(simulator.engine, "simulate", forbidden)
    before = (tutorial_results / "summary.json").read_bytes()
    (tutorial_results / "report.html").unlink()
    for p in (tutorial_results / "figures").iterdir():
        p.unlink()
    assert run_cli(["report", str(tutorial_results)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (tutorial_results / "summary.json").read_bytes() == before
    html = parse(tutorial_results / "report.html")
    assert check_figures(tutorial_results, html)


# --------------------------------------------------------------------------- a comparison


def test_compare_report_shows_the_differences(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "10", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    html = parse(out / "report.html")
    check_figures(out, html)
    keys = {c["key"]: c for c in html.cells}
    assert "differences/tutorial_allied/ev_us/unmet_t/mean" in keys
    assert "differences/tutorial_allied/family:magnets/unmet_t/mean" in keys
    for c in html.cells:
        want = lookup(summary, c["key"])
        assert (c["value"] == "None" and want is None) or float(c["value"]) == want, c
    d = summary["differences"]["tutorial_allied"]["ev_us"]["unmet_t"]
    assert keys["differences/tutorial_allied/ev_us/unmet_t/mean"]["text"] == D.fmt_signed(d["mean"])
    text = (out / "report.html").read_text(encoding="utf-8")
    for line in summary["headline"]:
        assert line.replace("'", "&#x27;") in text
    assert (out / "tables" / "differences_tutorial_allied.csv").is_file()
    # what cost is, where costs are shown: a plan that substitutes demand must not just look cheaper
    diffs = text[text.index("<section id='differences'>"):].split("</section>")[0]
    # TTR of a market short until the licence ends is bounded by the licence's assumed end
    assert "cn_magnet_licensing runs from 2025-04-04 to 2025-09-30, so a market short until then recovers only " \
           "after 2025-09-30: its TTR mostly measures how long the scenario assumes the event lasts" in text
    assert "Δ cost: what the market pays for what is shipped to it (price × tonnes, at the fixed link prices " \
           "of the scenario: no crisis price rises); investment in mines and " \
           "refineries, subsidies, the initial stock of stockpiles and substituted demand (both never bought) " \
           "are not counted" in diffs
    costs = text[text.index("<section id='costs-and-surplus'>"):].split("</section>")[0]
    assert "summed over every stage, so what a good is made of is paid for again at each stage it is bought: a " \
           "volume of trade, not a cost of supply" in costs  # a review read the 285 bn USD total as a cost
    assert "and stockpile holding costs only: investment " \
           "in mines and refineries, subsidies, the initial stock of stockpiles and substituted demand " \
           "(both never bought) are not counted" in costs


# --------------------------------------------------------------------------- synthetic summaries


def _stat(mean: float, sd: float = 0.0, n: int = 50) -> dict[str, Any]:
    h = 1.96 * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "p5": mean - 1.6 * sd, "p50": mean, "p95": mean + 1.6 * sd,
            "ci95": [mean - h, mean + h], "n": n}


def _ttx(p50: float, censored: float, bound: float | None) -> dict[str, Any]:
    s = _stat(p50, 5.0) if censored < 1.0 else {"mean": None, "sd": None, "p5": None, "p50": None,
                                                 "p95": None, "ci95": [None, None], "n": 0}
    s.update({"censored": censored, "censored_at_least": bound if censored > 0 else None})
    return s


def synthetic_results(folder: Path, n_markets: int = 45, full: bool = True) -> dict[str, Any]:
    """Write a summary.json of the DESIGN §8 shape (+ the fields being added) and a timeseries.csv."""
    rng = np.random.default_rng(5)
    regions = {"CN": ("China", "china"), "MM": ("Myanmar", "china"), "AU": ("Australia", "allied"),
               "US": ("United States", "allied"), "JP": ("Japan", "allied"), "DE": ("Germany", "allied"),
               "MY": ("Malaysia", "other"), "BR": ("Brazil", "other")}
    fams = ["magnets", "batteries", "catalysts", "optical"]
    mk_regions = ["JP", "US", "DE", "CN", "MY", "BR"]
    markets, meta_m = {}, {}
    for k in range(n_markets):
        mid = f"m{k:02d}_{mk_regions[k % 6].lower()}"
        unmet = float(rng.choice([0.0, 0.0, rng.uniform(10, 3000)]))
        fill = 1.0 - unmet / 20000.0
        short = unmet > 0
        markets[mid] = {
            "fill_rate": _stat(fill, 0.01), "unmet_t": _stat(unmet, unmet * 0.05),
            "lost_days": _stat(unmet / 20000.0 * 365, 1.0), "max_shortfall": _stat(0.6 if short else 0.0, 0.05),
            "tts_days": _ttx(60.0, 0.2, 600.0) if short else _ttx(0, 1.0, 600.0),
            "ttr_days": _ttx(200.0, 0.3, 600.0) if short else _ttx(0.0, 0.0, None),
            "event_fill_rate": {"ban": _stat(fill - 0.1, 0.02)},
        }
        if k == 1:  # a market whose replicates saw no reference event: no TTS/TTR at all
            markets[mid]["tts_days"] = markets[mid]["ttr_days"] = _ttx(0.0, 1.0, None) | {"censored": 0.0}
        if full:
            cn = float(rng.uniform(0.2, 0.9))
            markets[mid]["dependency"] = {st: {"CN": _stat(cn), "AU": _stat(1 - cn - 0.05), "none": _stat(0.05)}
                                          for st in ("mine", "separation")}
            markets[mid]["dependency_bloc"] = {st: {"china": _stat(cn), "allied": _stat(1 - cn - 0.05)}
                                               for st in ("mine", "separation")}
        meta_m[mid] = {"region": mk_regions[k % 6], "sector": "ev_motors", "family": fams[k % 4]}
    facilities = {"mine_cn": ("mine", "CN"), "mine_au": ("mine", "AU"), "sep_cn": ("separation", "CN"),
                  "sep_my": ("separation", "MY"), "metal_jp": ("metal", "JP"), "mag_cn": ("component", "CN"),
                  "mag_de": ("component", "DE")}
    summary: dict[str, Any] = {
        "scenario": "synthetic", "file": "synthetic.yaml", "sha256": "0" * 64,
        "files": [{"path": "synthetic.yaml", "sha256": "0" * 64}], "command": "reesim run synthetic.yaml",
        "sets": [], "seed": 1, "replications": 50, "version": "0.1.0",
        "horizon": {"start": "2025-01-01", "end": "2026-12-31", "step_days": 1},
        "reference_event": "ban",
        "event_windows": [{"id": "ban", "label": "Oxide ban", "start": "2025-04-01", "end": "2025-09-30"},
                          {"id": "flood", "label": "Mine flood", "start": "2025-08-01", "end": "2025-10-15"}],
        "mass_balance_error": 1e-15, "markets": markets,
        "facilities": {f: {"output_t": _stat(1000.0), "utilisation": _stat(0.8)} for f in facilities},
        "surplus_t": {"ce_oxide": _stat(15000.0, 100.0), "la_oxide": _stat(9000.0, 80.0), "magnet": _stat(0.0)},
        "timings": {"setup_s": 0.01, "simulate_s": 1.0},
    }
    if full:
        summary["stages"] = {st: {"hhi": _stat(float(rng.uniform(3000, 9000)), 50.0),
                                  "top3_share": _stat(0.95),
                                  "output_by_region": {r: _stat(float(rng.uniform(100, 5000)))
                                                       for f, (s2, r) in facilities.items() if s2 == st},
                                  "by_product": {f"{st}_{k}": {"hhi": _stat(float(rng.uniform(3000, 9000)), 50.0),
                                                               "top3_share": _stat(0.95)} for k in "ab"}}
                             for st in ("mine", "separation", "metal", "component")}
        links = {}
        pairs = [("mine_cn", "sep_cn"), ("mine_au", "sep_my"), ("sep_cn", "metal_jp"), ("sep_my", "metal_jp"),
                 ("metal_jp", "mag_cn"), ("metal_jp", "mag_de"), ("pile_jp", "mag_de")]
        pairs += [("mag_cn" if k % 2 else "mag_de", m) for k, m in enumerate(markets)]
        for a, b in pairs:
            q = float(rng.uniform(50, 3000))
            links[f"{a}>{b}:x"] = {"from": a, "to": b, "product": "x", "shipped_t": _stat(q, 10.0),
                                   "spend_usd": _stat(q * 60000.0, 1e5)}
        summary["links"] = links
        summary["stockpiles"] = {"pile_jp": {"released_t": _stat(120.0, 10.0), "holding_cost_usd": _stat(2e5)}}
        summary["meta"] = {"regions": {r: {"name": n, "bloc": b} for r, (n, b) in regions.items()},
                           "markets": meta_m,
                           "facilities": {f: {"region": r, "stage": s2} for f, (s2, r) in facilities.items()},
                           "stockpiles": {"pile_jp": {"region": "JP"}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    rows = ["time,series,stat,value"]
    start = dt.date(2025, 1, 1)
    names = [f"fill:{m}" for m in markets] + [f"market_cover_days:{m}" for m in markets]
    names += ["stockpile_t:pile_jp"] if full else []
    for w in range(104):
        day = start + dt.timedelta(days=7 * w + 6)
        dip = 0.5 if 13 <= w <= 30 else 0.0
        for name in names:
            base = 1.0 - dip if name.startswith("fill") else (20.0 - 15 * dip if "cover" in name else 300 - 200 * dip)
            for st, f in (("p5", 0.9), ("p50", 1.0), ("p95", 1.05), ("mean", 1.0)):
                rows.append(f"{day},{name},{st},{min(base * f, 1.0) if name.startswith('fill') else base * f:.6g}")
    (folder / "timeseries.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return summary


def test_synthetic_summary_with_45_markets_draws_every_figure(tmp_path: Path) -> None:
    folder = tmp_path / "syn"
    summary = synthetic_results(folder, 45, full=True)
    write_report(folder)
    html = parse(folder / "report.html")
    drawn = check_figures(folder, html)
    assert drawn == {build(D.load_results(folder)).name for _, build in FIGURES}  # nothing skipped
    assert html.notes == []
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "rows are families" in text  # 45 markets: dependency grouped by family
    assert "Showing the 12 markets with the most unmet demand of 45" in text  # small multiples: top 12
    flows = (folder / "tables" / "flows.csv").read_text()
    assert "stockpile" in flows and "market" in flows
    fam = (folder / "tables" / "unmet_by_family.csv").read_text().splitlines()
    assert len(fam) == 1 + 4  # four families, one scenario
    releases = (folder / "tables" / "stockpile_releases.csv").read_text()
    assert "pile_jp,120" in releases
    # the headline table still agrees with summary.json
    for c in html.cells:
        want = lookup(summary, c["key"])
        assert (c["value"] == "None" and want is None) or float(c["value"]) == want, c


def test_missing_fields_skip_their_figures_with_a_note(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    synthetic_results(folder, 5, full=False)
    write_report(folder)
    html = parse(folder / "report.html")
    drawn = check_figures(folder, html)
    assert {"fill_fan", "unmet_by_market", "tts_ttr", "market_cover", "surplus"} <= drawn
    assert not {"dependency", "hhi", "flows", "cost_by_bloc", "stockpiles", "unmet_by_family"} & drawn
    joined = " ".join(html.notes)
    for word in ("dependency", "stages", "links", "stockpile", "families"):
        assert word in joined, word
    assert len(html.notes) == 6


def test_event_windows_are_drawn_against_the_horizon() -> None:
    # a single time-limited event used to be 'event from here on' (its span measured against itself)
    import datetime as dt

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simulator.report.canvas import shade_windows

    class Data:
        def __init__(self, wins, end):
            self.wins, self.end = wins, end

        def windows(self):
            return self.wins

        def horizon_start(self):
            return dt.date(2025, 1, 1)

        def horizon_end(self):
            return self.end

    d = dt.date
    cases = [
        ([("lic", "licensing", d(2025, 4, 1), d(2025, 9, 30))], d(2026, 12, 31), "event: licensing"),
        ([("ban", "ban", d(2025, 3, 1), d(2026, 9, 1))], d(2026, 12, 31), "event Mar 2025 – Sep 2026 (dashed – dotted): ban"),
        ([("ban", "ban", d(2025, 3, 1), d(2026, 12, 31))], d(2026, 12, 31), "event from here on: ban"),
    ]
    for wins, end, label in cases:
        fig, ax = plt.subplots()
        handles = shade_windows(ax, Data(wins, end))
        assert [h.get_label() for h in handles] == [label]
        plt.close(fig)


def test_provenance_tells_chunk_time_from_elapsed_time(tutorial_results: Path, tmp_path: Path) -> None:
    # chunks' simulation times add up (worker time on a pool); the review read 110 s 'simulation time'
    # beside a 73 s run: the page now says which is which
    import shutil

    folder = tmp_path / "res"
    shutil.copytree(tutorial_results, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary["timings"] = {**summary.get("timings", {}), "simulate_s": 12.34, "setup_s": 0.44, "wall_s": 7.02}
    (folder / "summary.json").write_text(json.dumps(summary))
    assert run_cli(["report", str(folder)]) == 0
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "12.3 s of simulation, summed over the chunks it ran in (set-up 0.4 s); 7.0 s elapsed" in text
    del summary["timings"]["wall_s"]
    (folder / "summary.json").write_text(json.dumps(summary))
    assert run_cli(["report", str(folder)]) == 0
    assert "12.34 s (set-up 0.44 s)" in (folder / "report.html").read_text(encoding="utf-8")


def test_censored_times_say_the_censored_share_first_when_most_are() -> None:
    # 199 of 200 replicates censored read '195 d; 100 % > 637 d' beside a 100 % fill rate
    assert [D.share_pct(c) for c in (0.3, 0.995, 0.9996, 0.004, 0.0004, 1.0, 0.0)] == \
        ["30", "99.5", "> 99.9", "0.4", "< 0.1", "100", "0"]
    s = {"n": 1, "p50": 195.0, "p5": 195.0, "p95": 195.0, "censored": 0.995, "censored_at_least": 637.0}
    assert D.fmt_ttx(s) == "> 637 d in 99.5 %; 195 d in the rest"
    assert D.fmt_ttx({**s, "censored": 0.3, "n": 140}) == "195 d; 30 % > 637 d"
    assert D.fmt_ttx({**s, "censored": 0.0}) == "195 d"
    assert D.fmt_ttx({**s, "n": 0, "censored": 1.0}) == "> 637 d"


def test_substitution_is_named_where_it_takes_demand_out() -> None:
    # the review saw 'less demand unmet' where substitution had taken 7,809 t of demand out, uncounted
    from simulator.report.tables import substitution_note

    base = {"ev_eu": {"substituted_t": {"mean": 100.0}}, "ev_kr": {"substituted_t": {"mean": 0.0}}}
    plan = {"ev_eu": {"substituted_t": {"mean": 7909.0}}, "ev_kr": {"substituted_t": {"mean": 40.0}}}
    note = substitution_note("controls", base, "allied", plan)
    assert note == ("Substitution takes 7,949 t of demand out of the markets in allied against 100 t in controls; "
                    "demand given up this way is not counted as unmet, so less unmet demand is not all served "
                    "demand (most added in ev_eu (7,809 t), ev_kr (40 t)).")
    none = {"ev_eu": {"substituted_t": {"mean": 0.2}}}
    assert substitution_note("a", none, "b", none) is None


# --------------------------------------------------------------------------- the tables' numbers


def _diff(mean: float, lo: float, hi: float, sd: float = 1.0, p_better: float = 0.5, **extra: float) -> dict[str, Any]:
    return {"mean": mean, "sd": sd, "ci95": [lo, hi], "n": 200, "p_better": p_better, "excluded": 0.0,
            "no_reference": 0.0, **extra}


def _compare_data(tmp_path: Path, rows: dict[str, dict[str, Any]],
                  names: tuple[str, str] = ("base", "plan")) -> D.ReportData:
    """A two-scenario ReportData with the given paired differences (each metric's STAT by row)."""
    views = []
    for i, n in enumerate(names):
        markets = {k: {"fill_rate": _stat(0.9), "unmet_t": _stat(100.0 * (1 - i)), "lost_days": _stat(1.0),
                       "max_shortfall": _stat(0.1), "tts_days": _ttx(60.0, 0.0, None),
                       "ttr_days": _ttx(90.0, 0.0, None)} for k in rows if ":" not in k}
        groups = {k: {"unmet_t": _stat(0.0)} for k in rows if ":" in k}
        views.append(D.View(n, {"markets": markets, "groups": groups}, {}, D.scenario_colour(i, 2)))
    return D.ReportData(tmp_path, "compare", {}, views, {names[1]: rows}, [])


def test_no_signed_zeros_and_no_interval_whose_bounds_print_the_same() -> None:
    # the review read '−0', '−0 to −0', '+0 +0 to +0' and '+1.0 to +1.0' in the differences table
    assert [D.fmt_signed(x) for x in (-0.3, 0.3, -0.0, -2122.4, 0.6)] == ["0", "0", "0", "−2,122", "+1"]
    assert D.fmt_signed(-0.0004, 1, 100.0) == "0.0" and D.fmt_signed(-0.0006, 1, 100.0) == "−0.1"
    assert (D.fmt_t(-0.3), D.fmt_days(-0.04), D.fmt_pct(-1e-9), D.fmt_usd(-1.0)) == ("0", "0.0", "0.0 %", "0.0 M")
    assert D.fmt_ci(0.8, 0.84) == ("+0.80 to +0.84", 2)  # not '+1 to +1'
    assert D.fmt_ci(0.01061, 0.01088, 1, 100.0) == ("+1.06 to +1.09", 2)  # not '+1.1 to +1.1'
    assert D.fmt_ci(-0.3, 0.2) == ("−0.3 to +0.2", 1)  # not '−0 to +0'
    assert D.fmt_ci(-1234.0, -1229.0) == ("−1,234 to −1,229", 0)
    assert D.fmt_ci(0.0, 0.0) == (D.SAME_IN_EVERY, 0) and D.fmt_ci(5.0, 5.0, 1) == (D.SAME_IN_EVERY, 1)
    assert D.fmt_ci(-1e-12, 1e-12) == ("narrower than ±0.005", 2)
    assert D.fmt_ci(0.893, 0.8935, 1, 100.0, signed=False, sep="–", unit=" %") == ("89.30–89.35 %", 2)


def test_difference_cells_give_the_mean_the_decimals_of_its_ci_and_ties_no_share(tmp_path: Path) -> None:
    # 'better in 0 %' was shown where both scenarios are the same in every replicate
    from simulator.report.tables import NO_CHANGE, difference_tables

    zero = _diff(0.0, 0.0, 0.0, sd=0.0, p_better=0.0)
    tie = {m: zero for m in ("fill_rate", "unmet_t", "lost_days", "max_shortfall", "tts_days", "ttr_days",
                             "cost_usd")}
    moved = {"fill_rate": _diff(0.0107, 0.01061, 0.01088), "unmet_t": _diff(-2450.0, -2453.0, -2447.0, p_better=1.0),
             "lost_days": _diff(-0.02, -0.3, 0.2), "max_shortfall": _diff(0.0, 0.0, 0.0),
             "tts_days": _diff(0.82, 0.80, 0.84), "ttr_days": _diff(-1e-9, -0.2, 0.1),
             "cost_usd": _diff(-2.579e8, -2.581e8, -2.578e8)}
    worse = {**moved, "unmet_t": _diff(3.0, 3.0, 3.0, sd=0.0, p_better=0.0)}
    data = _compare_data(tmp_path, {"family:catalysts": tie, "ev_jp": moved, "ev_us": worse})
    (t,) = difference_tables(data)
    rows = {r[0].text: r for r in t.rows}
    cols = {c: i for i, c in enumerate(t.columns)}
    cat = rows["family:catalysts"]
    assert cat[cols["better in"]].text == NO_CHANGE and cat[cols["better in"]].value is None
    assert [(cat[cols[c]].text, cat[cols[c]].sub) for c in ("Δ unmet t", "Δ fill rate pp", "Δ cost M USD")] == \
        [("0", D.SAME_IN_EVERY), ("0.0", D.SAME_IN_EVERY), ("0.0", D.SAME_IN_EVERY)]
    jp = rows["ev_jp"]
    assert jp[cols["better in"]].text == "100 %"
    assert (jp[cols["Δ unmet t"]].text, jp[cols["Δ unmet t"]].sub) == ("−2,450", "−2,453 to −2,447")
    assert (jp[cols["Δ fill rate pp"]].text, jp[cols["Δ fill rate pp"]].sub) == ("+1.07", "+1.06 to +1.09")
    assert (jp[cols["Δ TTS d"]].text, jp[cols["Δ TTS d"]].sub) == ("+0.82", "+0.80 to +0.84")
    assert (jp[cols["Δ lost days"]].text, jp[cols["Δ lost days"]].sub) == ("0.0", "−0.3 to +0.2")
    assert (jp[cols["Δ TTR d"]].text, jp[cols["Δ TTR d"]].sub) == ("0.0", "−0.2 to +0.1")  # was '−0', '−0 to +0'
    assert (jp[cols["Δ cost M USD"]].text, jp[cols["Δ cost M USD"]].sub) == ("−257.9", "−258.1 to −257.8")
    # the same non-zero change in every replicate is a loss in every one, not a tie
    assert rows["ev_us"][cols["better in"]].text == "0 %"
    assert rows["ev_us"][cols["Δ unmet t"]].sub == D.SAME_IN_EVERY


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_numbers_are_in_the_unit_their_header_names(tmp_path: Path) -> None:
    # differences_*.csv held fractions under 'Δ fill rate pp' (0.0518 for +5.2 pp) and USD under
    # 'Δ cost M USD'; stockpile_releases.csv USD under 'holding cost [M USD]'
    from simulator.report.tables import difference_tables

    moved = {"fill_rate": _diff(0.0518, 0.0515, 0.0521), "unmet_t": _diff(-2450.0, -2453.0, -2447.0, p_better=1.0),
             "lost_days": _diff(-110.2, -110.4, -110.0), "max_shortfall": _diff(-0.2, -0.21, -0.19),
             "tts_days": _diff(133.0, 132.0, 134.0, excluded=0.25), "ttr_days": _diff(-0.2, -0.3, -0.1),
             "cost_usd": _diff(-257939177.68, -258.1e6, -257.8e6)}
    data = _compare_data(tmp_path, {"ev_jp": moved})
    (t,) = difference_tables(data)
    (row,) = _csv(t.write_csv(tmp_path / "tables"))
    assert float(row["Δ fill rate pp"]) == pytest.approx(5.18)
    assert (float(row["Δ fill rate pp: 95 % CI low"]), float(row["Δ fill rate pp: 95 % CI high"])) == \
        pytest.approx((5.15, 5.21))
    assert float(row["Δ cost M USD"]) == pytest.approx(-257.93917768)
    assert (float(row["Δ cost M USD: 95 % CI low"]), float(row["Δ cost M USD: 95 % CI high"])) == \
        pytest.approx((-258.1, -257.8))
    assert float(row["Δ unmet t"]) == -2450.0 and float(row["Δ unmet t: 95 % CI low"]) == -2453.0
    assert float(row["better in %"]) == 100.0
    assert float(row["Δ TTS d: % of replicates left out"]) == 25.0

    folder = tmp_path / "syn"
    summary = synthetic_results(folder, 8, full=True)
    write_report(folder)
    (pile,) = _csv(folder / "tables" / "stockpile_releases.csv")
    assert float(pile["holding cost [M USD]"]) == pytest.approx(0.2)  # 2e5 USD
    head = {r["market"]: r for r in _csv(folder / "tables" / "headline.csv")}
    m, mk = next(iter(summary["markets"].items()))
    assert float(head[m]["fill rate %"]) == pytest.approx(100.0 * mk["fill_rate"]["mean"])
    assert float(head[m]["fill rate %: 95 % CI high"]) == pytest.approx(100.0 * mk["fill_rate"]["ci95"][1])
    assert float(head[m]["max shortfall %"]) == pytest.approx(100.0 * mk["max_shortfall"]["mean"])
    assert "95 % CI" not in head[m]  # the HTML's text column: its bounds are numbers above
    fan = _csv(folder / "tables" / "fill_fan.csv")
    assert max(float(r["p50_pct"]) for r in fan) == pytest.approx(100.0)  # drawn in %, written in %
    hhi_rows = _csv(folder / "tables" / "hhi.csv")
    assert [float(r["top3_pct"]) for r in hhi_rows] == pytest.approx([95.0] * 8)
    for r in hhi_rows:  # one row per product a stage makes (their tonnes do not add up), in stage order
        assert float(r["hhi"]) == pytest.approx(summary["stages"][r["stage"]]["by_product"][r["product"]]["hhi"]["mean"])
    assert [r["product"] for r in hhi_rows][:3] == ["mine_a", "mine_b", "separation_a"]
    dep = _csv(folder / "tables" / "dependency.csv")[0]
    shares = [float(v) for k, v in dep.items() if k.endswith("_pct")]
    assert sum(shares) == pytest.approx(100.0)


def test_tts_ttr_legend_gives_the_censoring_bound_not_a_literal_n(tmp_path: Path) -> None:
    # the legend read 'censored: cut off by the horizon (> N d)', an N nobody filled in
    import matplotlib.pyplot as plt

    from simulator.report import fig_markets as FM

    synthetic_results(tmp_path / "syn", 8, full=False)  # censored replicates at 600 d
    out = FM.tts_ttr(D.load_results(tmp_path / "syn"))
    labels = [t.get_text() for lg in out.fig.legends for t in lg.get_texts()]
    plt.close(out.fig)
    assert "not reached when the horizon ends: > 600 d" in labels
    assert not any("N d" in x for x in labels)
    assert FM.censored_label([1096.0, 1461.0]) == "not reached when the horizon ends: > 1,096–1,461 d"


def test_table_headers_break_between_words_not_inside_them(tmp_path: Path) -> None:
    # the review read 'bette r in' and 'controls _2027': th had overflow-wrap:anywhere
    import re

    from simulator.report.html import CSS, _table_html
    from simulator.report.tables import difference_tables

    th = re.search(r"(?:^|\})th\{([^}]*)\}", CSS, re.MULTILINE).group(1)  # the rule of every th
    assert "overflow-wrap:normal" in th and "word-break:normal" in th and "anywhere" not in th
    assert "break-all" not in th and "hyphens:manual" in th
    zero = _diff(0.0, 0.0, 0.0, sd=0.0, p_better=0.0)
    metrics = ("fill_rate", "unmet_t", "lost_days", "max_shortfall", "tts_days", "ttr_days", "cost_usd")
    data = _compare_data(tmp_path, {"ev_jp": dict.fromkeys(metrics, zero)}, ("controls_2027", "controls_2027_allied"))
    (t,) = difference_tables(data)
    page = _table_html(t)
    heads = re.findall(r"<th[^>]*>(.*?)</th>", page)
    assert "unmet t · controls_<wbr>2027_<wbr>allied" in heads  # a scenario name breaks at its underscores
    assert "better in" in heads  # words stay whole
    assert "<div class='scroll wide'><table class='wide'>" in page  # ten columns: room beyond the text column
    assert re.search(r"\.scroll\.wide\{[^}]*max-width:min\(1320px,100vw - 64px\)", CSS)  # but not past the window
    assert f"<span class='ci words'>{D.SAME_IN_EVERY}</span>" in page  # the phrase may wrap, the numbers not


def test_differences_table_shows_substituted_demand_beside_unmet_when_there_is_some(tmp_path: Path) -> None:
    # 'less unmet in 100 % of replicates' with fill barely moved: the plan gave demand up to substitution
    from simulator.report.tables import difference_tables

    base = {m: _diff(0.0, -1.0, 1.0) for m in ("fill_rate", "lost_days", "max_shortfall", "tts_days", "ttr_days",
                                                "cost_usd")}
    row = {**base, "unmet_t": _diff(-494.0, -500.0, -488.0, p_better=1.0),
           "substituted_t": _diff(4822.0, 4544.0, 5100.0)}
    (t,) = difference_tables(_compare_data(tmp_path, {"ev_kr": row}))
    cols = {c: i for i, c in enumerate(t.columns)}
    assert cols["Δ substituted t"] == cols["Δ unmet t"] + 1
    cell = t.rows[0][cols["Δ substituted t"]]
    assert (cell.text, cell.sub) == ("+4,822", "+4,544 to +5,100")
    assert "not counted as unmet" in t.caption
    (t,) = difference_tables(_compare_data(tmp_path, {"ev_kr": {**row, "substituted_t": _diff(0.0, 0.0, 0.0, sd=0.0)}}))
    assert "Δ substituted t" not in t.columns and "substitution" not in t.caption
    # both scenarios substitute the same: the column stays, showing 0, since unmet leaves that demand out in both
    zero = {**row, "substituted_t": _diff(0.0, 0.0, 0.0, sd=0.0)}
    data = _compare_data(tmp_path, {"ev_kr": zero})
    for v in data.views:
        v.markets["ev_kr"]["substituted_t"] = _stat(300.0)
    (t,) = difference_tables(data)
    assert "Δ substituted t" in t.columns


def test_findings_say_a_backorder_market_goes_without_not_that_it_loses(tmp_path: Path) -> None:
    # the tutorial's ev_us backorders (served later, as stock comes in), ev_jp loses what it cannot get;
    # a finding said 'ev_us loses 2,122 t' for demand that was only late
    import html as html_mod
    import re

    out = tmp_path / "tut"
    assert run_cli(["run", str(TUTORIAL), "-n", "4", "-o", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["meta"]["markets"]["ev_us"]["unmet"] == "backorder"
    text = html_mod.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (out / "report.html").read_text())))
    assert re.search(r"ev_us goes without [\d,]+ t on the days it needs them \(backordered: served later", text)
    assert re.search(r"ev_jp loses [\d,]+ t \(", text) and "ev_us loses" not in text


def test_compare_headline_gives_fill_during_the_reference_event_and_time_short(tmp_path: Path) -> None:
    # a second review: the six-year fill (92.3 % -> 98.5 %) hid the crisis (54.4 % -> 92.9 % during the
    # controls) and the report gave only differences of TTS/TTR, not when a market runs short and is back
    out = tmp_path / "cmp"
    assert run_cli(["compare", str(TUTORIAL), str(ROOT / "scenarios" / "tutorial_allied.yaml"), "-n", "6",
                    "-o", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    ref = s["scenarios"]["tutorial"]["reference_event"]
    rows = {r["market"]: r for r in _csv(out / "tables" / "headline.csv")}
    for name in ("tutorial", "tutorial_allied"):
        mk = s["scenarios"][name]["markets"]["ev_us"]
        assert float(rows["ev_us"][f"fill in {ref} % · {name}"]) == pytest.approx(
            100 * mk["event_fill_rate"][ref]["mean"])
        assert float(rows["ev_us"][f"TTR d (median) · {name}"]) == pytest.approx(mk["ttr_days"]["p50"])
    tts = rows["ev_us"]["TTS d (median) · tutorial"]
    assert float(tts) == pytest.approx(s["scenarios"]["tutorial"]["markets"]["ev_us"]["tts_days"]["p50"])
    assert float(tts) < float(rows["ev_us"]["TTR d (median) · tutorial"])  # short first, back later
    # and 'how sure': the CIs cover the draws, not the inputs; the report says so and where to look
    text = (out / "report.html").read_text()
    assert "not the uncertainty of their inputs" in text and "reesim sweep" in text


def test_a_stockpile_of_several_products_shows_its_releases_by_product(tmp_path: Path) -> None:
    # 1,700 t of magnets and 40 t of Dy metal added up say little about Dy: the table splits them
    folder = tmp_path / "syn"
    summary = synthetic_results(folder, 8, full=True)
    summary["stockpiles"]["pile_jp"]["products"] = {"ndfeb_magnet": {"released_t": _stat(90.0)},
                                                    "dy_metal": {"released_t": _stat(30.0)}}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    write_report(folder)
    (pile,) = _csv(folder / "tables" / "stockpile_releases.csv")
    assert float(pile["released t"]) == 120.0
    assert float(pile["released t: ndfeb_magnet"]) == 90.0 and float(pile["released t: dy_metal"]) == 30.0
    assert "released by product [t]" not in pile  # the text of the HTML column is not repeated
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "ndfeb_magnet 90 · dy_metal 30" in text and "all the products a stockpile holds summed" in text
    # one product: no split column (nor from results written before the split, without 'products')
    for products in ({"ndpr_oxide": {"released_t": _stat(120.0)}}, None):
        summary = synthetic_results(folder, 8, full=True)
        if products:
            summary["stockpiles"]["pile_jp"]["products"] = products
            (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        write_report(folder)
        assert "released t:" not in (folder / "tables" / "stockpile_releases.csv").read_text()


def test_the_how_sure_finding_names_what_the_scenarios_draw(tmp_path: Path) -> None:
    # the flagship draws only demand noise: its CIs of ±0.05 % are not about outages or events it does not have
    from simulator import load_scenario
    from simulator.results import random_elements

    root = Path(__file__).resolve().parents[1] / "scenarios"
    assert random_elements(load_scenario(root / "controls_2027_allied.yaml")) == ["day-to-day demand noise"]
    assert random_elements(load_scenario(root / "tutorial.yaml")) == ["day-to-day demand noise", "plant outages"]
    assert random_elements(load_scenario(root / "random_risk.yaml")) == [
        "day-to-day demand noise", "events drawn per replicate"]
    folder = tmp_path / "syn"
    only_noise = ("(day-to-day demand noise only: no outage or event is drawn at random), not the uncertainty of "
                  "their inputs (capacities, blocked shares, dates, stocks), which is why they can be so narrow")
    for drawn, want in ((["day-to-day demand noise"], only_noise),
                        (["day-to-day demand noise", "plant outages"], "(day-to-day demand noise, plant outages), not"),
                        (None, "(demand noise, outages and other drawn events), not")):
        summary = synthetic_results(folder, 8, full=True)
        if drawn is not None:
            summary["meta"]["random"] = drawn
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        write_report(folder)
        assert want in (folder / "report.html").read_text(encoding="utf-8")


def test_the_count_of_markets_the_plan_helps_is_out_of_those_that_run_short(tmp_path: Path) -> None:
    # '25 of 54 markets' read as under half, where 25 of the 29 markets that run short at all were helped
    from simulator.report.tables import _group_findings

    zero = _diff(0.0, 0.0, 0.0, sd=0.0, p_better=0.0)
    tie = {m: zero for m in ("fill_rate", "unmet_t", "lost_days", "max_shortfall", "tts_days", "ttr_days")}
    moved = {**tie, "unmet_t": _diff(-80.0, -81.0, -79.0, p_better=1.0)}
    data = _compare_data(tmp_path, {"ev_jp": moved, "ev_us": moved, "idle_a": tie, "idle_b": tie})
    for v in data.views:  # the two idle markets are never short
        for m in ("idle_a", "idle_b"):
            v.summary["markets"][m]["unmet_t"] = _stat(0.0)
    (line,) = [x for x in _group_findings(data) if "leaves less demand unmet" in x]
    assert "in 2 of the 2 markets that run short in either (of 4) and more in 0" in line


def test_the_report_explains_its_terms(tmp_path: Path) -> None:
    # a ministry reader met TTS/TTR, p5-p95, pp, HHI, 'row' and 'censored' with no definition on the page
    folder = tmp_path / "syn"
    synthetic_results(folder, 8, full=True)
    write_report(folder)
    text = (folder / "report.html").read_text(encoding="utf-8")
    terms = text[text.index("<section id='terms'>"):].split("</section>")[0]
    for word in ("TTS (time to survive)", "TTR (time to recover)", "p5–p95", "HHI", "pp", "censored", "row"):
        assert f"<dt>{word}" in terms or word in terms, word
    assert "<a href='#terms'>Terms</a>" in text


def test_stockpile_levels_are_drawn_per_product_when_the_results_have_them(tmp_path: Path) -> None:
    # JOGMEC's ~600 t of NdPr metal, never released, hid whether its Dy ran out: one panel per product
    folder = tmp_path / "syn"
    synthetic_results(folder, 8, full=True)
    rows = (folder / "timeseries.csv").read_text(encoding="utf-8").splitlines()
    extra = [r.replace("stockpile_t:pile_jp", f"stockpile_product_t:pile_jp/{p}") for p in ("dy_metal", "ndpr_metal")
             for r in rows if ",stockpile_t:pile_jp," in r]
    (folder / "timeseries.csv").write_text("\n".join(rows + extra) + "\n", encoding="utf-8")
    write_report(folder)
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "Stock of each product each stockpile holds [t] (stockpile/product)" in text
    stocks = (folder / "tables" / "stockpiles.csv").read_text(encoding="utf-8")
    assert "pile_jp/dy_metal" in stocks and "pile_jp/ndpr_metal" in stocks
    synthetic_results(folder, 8, full=True)  # results from before: one panel per stockpile, summed
    write_report(folder)
    assert "all the products it holds summed" in (folder / "report.html").read_text(encoding="utf-8")


def test_concentration_is_drawn_per_product_and_by_stage_for_results_from_before(tmp_path: Path) -> None:
    # the component stage's HHI (~3,300) mixed t of catalysts with t of magnets (~8,900 alone): per product now
    folder = tmp_path / "syn"
    summary = synthetic_results(folder, 8, full=True)
    write_report(folder)
    assert "per product, as tonnes of cerium and of dysprosium" in (folder / "report.html").read_text(encoding="utf-8")
    for st in summary["stages"].values():  # a summary written before the products were split out
        del st["by_product"]
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    write_report(folder)
    rows = _csv(folder / "tables" / "hhi.csv")
    assert [(r["stage"], r["product"]) for r in rows] == [(s, "(all)") for s in ("mine", "separation", "metal",
                                                                               "component")]
    assert float(rows[1]["hhi"]) == pytest.approx(summary["stages"]["separation"]["hhi"]["mean"])


def test_events_over_the_same_dates_share_one_shading_and_legend_entry() -> None:
    # the flagship's two 2027 events were shaded green over red, a brown that matched neither swatch
    import datetime as dt
    from types import SimpleNamespace

    from simulator.report.canvas import new_figure, shade_windows

    d = dt.date
    wins = [("a", "China's 2027 controls", d(2027, 1, 1), d(2028, 1, 1)),
            ("b", "extraterritorial rule", d(2027, 1, 1), d(2028, 1, 1)),
            ("c", "licensing", d(2025, 4, 4), d(2025, 6, 1))]
    data = SimpleNamespace(windows=lambda: wins, horizon_start=lambda: d(2025, 1, 1), horizon_end=lambda: d(2030, 12, 31))
    ax = new_figure(4, 3).subplots()
    handles = shade_windows(ax, data)  # type: ignore[arg-type]
    assert [h.get_label() for h in handles] == ["events: China's 2027 controls + extraterritorial rule",
                                                "event: licensing"]
    assert len(ax.patches) == 2  # two spans drawn, not three


def test_a_market_never_short_with_the_plan_says_so_beside_its_delta_ttr() -> None:
    # ev_us read 'Δ TTR -429, same in every replicate': the plan's TTR is 0 because it never ran short
    from types import SimpleNamespace

    from simulator.report.tables import Cell, _no_shortage_note

    cell = Cell("−429", -429.0, "differences/allied/ev_us/ttr_days/mean", "same in every replicate")
    never = SimpleNamespace(name="allied", markets={"ev_us": {"ttr_days": {"n": 1000, "p95": 0.0, "censored": 0.0}}})
    short = SimpleNamespace(name="allied", markets={"ev_us": {"ttr_days": {"n": 1000, "p95": 30.0, "censored": 0.0}}})
    assert _no_shortage_note(cell, never, "ev_us").sub == "no shortage in allied"
    assert _no_shortage_note(cell, short, "ev_us").sub == "same in every replicate"
    assert _no_shortage_note(cell, never, "bloc:allied").sub == "same in every replicate"


def test_focus_puts_a_regions_markets_first_and_refuses_what_the_results_lack(tmp_path: Path) -> None:
    # an automaker's analyst could not get electronics_jp (14th by unmet) into the figures
    from simulator.exceptions import UsageError

    folder = tmp_path / "syn"
    summary = synthetic_results(folder, 45, full=True)
    region = {m: summary["meta"]["markets"][m]["region"] for m in summary["markets"]}
    unmet = {m: mk["unmet_t"]["mean"] for m, mk in summary["markets"].items()}
    least = min(unmet, key=lambda m: unmet[m])
    write_report(folder, focus=(least,))
    rows = _csv(folder / "tables" / "headline.csv")
    assert rows[0]["market"] == least  # the market with the least unmet demand, first
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert f"focus: {least} (1 market shown first)" in text
    assert f"the 1 of the focus ({least}) first, then those with the most unmet demand" in text
    dep = [r["row"] for r in _csv(folder / "tables" / "dependency.csv") if r["stage"] == "mine"]
    assert dep[0] == least and all(r.startswith("other ") for r in dep[1:])  # 45 markets: the rest by family
    r = region[least]
    write_report(folder, focus=(r,))
    rows = [row["market"] for row in _csv(folder / "tables" / "headline.csv")]
    n = sum(1 for m in region if region[m] == r)
    assert {region[m] for m in rows[:n]} == {r} and all(region[m] != r for m in rows[n:])
    with pytest.raises(UsageError, match=r"--focus XX: not a market, region, sector or family .*regions: "):
        write_report(folder, focus=("XX",))


def test_cli_focus_is_checked_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tut = Path(__file__).resolve().parents[1] / "scenarios" / "tutorial.yaml"
    assert run_cli(["run", str(tut), "-n", "2", "-o", str(tmp_path / "x"), "--focus", "XX"]) == 2
    assert "allowed: a market id, or regions: JP, US; sectors: ev_motors; families: magnets" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_focus_on_a_family_takes_the_markets_that_mix_it_and_products_without_one(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # a review: '--focus optical' passed the check before the run and was refused after it, as the report
    # knew only 'magnets+optical'; a product without a family crashed the message of a bad focus
    from simulator.report.data import ReportData, View

    meta = {"markets": {"a": {"region": "JP", "sector": "s", "family": "magnets+optical"},
                        "b": {"region": "US", "sector": "s", "family": "magnets"}}}
    summ = {"markets": {m: {"unmet_t": {"mean": u}} for m, u in (("a", 1.0), ("b", 5.0))}, "meta": meta}
    data = ReportData(tmp_path, "run", summ, [View("x", summ, {}, "#000")], focus=("optical",))
    assert data.focus_words()["family"] == {"magnets", "optical", "magnets+optical"}  # as the report names it
    assert data.ranked_markets() == ["a", "b"]
    tut = (Path(__file__).resolve().parents[1] / "scenarios" / "tutorial.yaml").read_text()
    nofam = tmp_path / "nofam.yaml"
    nofam.write_text(tut.replace("magnet:      {unit: t, family: magnets,", "magnet:      {unit: t,", 1))
    assert run_cli(["run", str(nofam), "-n", "2", "-o", str(tmp_path / "o"), "--focus", "XX"]) == 2
    assert "families: other" in capsys.readouterr().err


def test_a_trace_of_censored_replicates_is_not_called_zero() -> None:
    # industrial_us read '(0 % excl.)' and '> 1,461 d (0 %)' for 0.3 % of its replicates
    from simulator.report.data import fmt_share

    assert [fmt_share(x) for x in (0.0, 0.003, 0.0004, 0.05, 1.0)] == ["0 %", "0.3 %", "< 0.1 %", "5 %", "100 %"]
