"""The network picture (``reesim graph``) and the synthetic-scenario generator it is tested on."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import PNG_SIGNATURE, make_network_yaml, run_cli

from simulator.network import compile_network
from simulator.report import graph
from simulator.scenario import load_scenario


def read_png(path: Path) -> tuple[int, int]:
    """Check the PNG signature and read the picture back; return (height, width) [px]."""
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    return img.shape[0], img.shape[1]


@pytest.fixture
def big_scenario(tmp_path: Path) -> Path:
    """60 facilities (10 mines, 10 separation, 10 metal, 30 component) and 15 markets."""
    p = tmp_path / "big.yaml"
    p.write_text(
        make_network_yaml(10, 10, 10, 30, 15, seed=3, with_stockpile=True, with_recycler=True),
        encoding="utf-8",
    )
    return p


# --------------------------------------------------------------------------- pictures


def test_tutorial_png_and_svg(tutorial_path: Path, tmp_path: Path) -> None:
    png, svg = tmp_path / "g.png", tmp_path / "sub" / "g.svg"
    assert run_cli(["graph", str(tutorial_path), "-o", str(png)]) == 0
    assert run_cli(["graph", str(tutorial_path), "-o", str(svg)]) == 0
    h, w = read_png(png)
    assert 300 <= h <= 3000 and 800 <= w <= 4000
    assert w > h  # five columns side by side, two rows
    text = svg.read_text(encoding="utf-8")
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag.endswith("svg")
    assert len(text) > 10_000


def test_svg_is_reproducible(tutorial_path: Path, tmp_path: Path) -> None:
    sc = load_scenario(tutorial_path)
    net = compile_network(sc)
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    graph.draw_network(sc, net, a)
    graph.draw_network(sc, net, b)
    assert a.read_bytes() == b.read_bytes()


def test_sixty_facilities_render(big_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.png"
    assert run_cli(["graph", str(big_scenario), "-o", str(out)]) == 0
    h, w = read_png(out)
    # the tallest column (30 component plants) sets the height: at least one row each
    assert h >= 30 * graph.ROW_IN * graph.DPI
    assert w >= 7 * graph.GAP_IN * graph.DPI * 6 / 7  # seven columns
    assert run_cli(["graph", str(big_scenario), "-o", str(tmp_path / "big.svg")]) == 0


def test_layout_keeps_boxes_apart(big_scenario: Path) -> None:
    """Boxes in a column sit a full row apart; links passing a column keep clear of its boxes."""
    sc = load_scenario(big_scenario)
    titles, nodes, edges = graph._graph(sc, compile_network(sc))
    assert titles == [
        "mine", "separation", "metal", "component", "recycler", "stockpile", "market"
    ]
    columns: list[list[str]] = [[] for _ in titles]
    for n in nodes.values():
        columns[n.column].append(n.id)
    chains = graph._route(columns, nodes, edges)
    graph._layout(columns, nodes, edges, chains)
    for col in columns:
        ys = sorted((nodes[i].y, nodes[i].dummy) for i in col)
        for (y0, d0), (y1, d1) in zip(ys, ys[1:]):
            need = 1.0 if not (d0 or d1) else (0.6 if not (d0 and d1) else 0.3)
            assert y1 - y0 >= need - 1e-9
    # every chain steps one column at a time
    for chain in chains:
        cols = [nodes[i].column for i in chain]
        assert all(abs(b - a) <= 1 for a, b in zip(cols, cols[1:]))


def test_zero_flow_and_release_edges(tutorial_path: Path) -> None:
    sc = load_scenario(tutorial_path)
    _, nodes, edges = graph._graph(sc, compile_network(sc))
    assert nodes["ev_jp"].label == "ev_jp · ev_motors"
    assert nodes["jogmec"].label == "jogmec (JP)"
    release = [e for e in edges if e.style == "release"]
    assert [(e.src, e.dst, e.flow) for e in release] == [("jogmec", "magnet_jp", 0.0)]
    flows = {(e.src, e.dst): e.flow for e in edges if e.style == "link"}
    assert flows[("magnet_jp", "ev_jp")] + flows[("magnet_cn", "ev_jp")] == pytest.approx(
        7000 / 365
    )


def test_bloc_colours_are_stable() -> None:
    base = graph.bloc_colours(["china", "allied", "other"])
    assert base == {"china": "#c0392b", "allied": "#2e6fba", "other": "#8a8a8a"}
    alone = graph.bloc_colours(["quad"])["quad"]
    assert graph.bloc_colours(["china", "quad", "allied"])["quad"] == alone
    many = graph.bloc_colours([f"b{i}" for i in range(5)])
    assert len(set(many.values())) == 5


def test_draw_network_rejects_other_formats(tutorial_path: Path, tmp_path: Path) -> None:
    sc = load_scenario(tutorial_path)
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        graph.draw_network(sc, compile_network(sc), tmp_path / "g.pdf")


# --------------------------------------------------------------------------- CLI refusals


def test_cli_refuses_unsupported_suffix(tutorial_path: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.jpg"
    assert run_cli(["graph", str(tutorial_path), "-o", str(out)]) == 2
    assert not out.exists()
    assert ".png or .svg" in capsys.readouterr().err


def test_cli_refuses_to_overwrite(tutorial_path: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.png"
    out.write_bytes(b"keep me")
    assert run_cli(["graph", str(tutorial_path), "-o", str(out)]) == 2
    assert out.read_bytes() == b"keep me"
    assert "--force" in capsys.readouterr().err
    assert run_cli(["graph", str(tutorial_path), "-o", str(out), "--force"]) == 0
    read_png(out)


# --------------------------------------------------------------------------- the generator


@pytest.mark.parametrize(
    "sizes", [(1, 1, 1, 1, 1), (2, 2, 1, 3, 3), (10, 10, 10, 30, 15), (3, 4, 2, 7, 2)]
)
def test_generated_scenarios_validate(sizes: tuple[int, ...], tmp_path: Path) -> None:
    for extras in ({}, {"with_stockpile": True, "with_recycler": True}):
        text = make_network_yaml(*sizes, seed=11, **extras)
        assert text == make_network_yaml(*sizes, seed=11, **extras)  # deterministic
        p = tmp_path / "s.yaml"
        p.write_text(text, encoding="utf-8")
        assert run_cli(["validate", str(p)]) == 0
        sc = load_scenario(p)
        assert len(sc.facilities) == sum(sizes[:4])
        assert len(sc.markets) == sizes[4]
        net = compile_network(sc)
        # every market's demand flows in nominally
        for m in sc.markets:
            inflow = sum(
                net.nominal_link[e].sum()
                for e in range(len(net.links))
                if net.holdings[int(net.link_dst[e])][0] == m
            )
            assert inflow > 0


def test_generator_fixture(make_network_yaml) -> None:  # type: ignore[no-untyped-def]
    assert "reesim: 1" in make_network_yaml(2, 2, 2, 3, 2, seed=1)
