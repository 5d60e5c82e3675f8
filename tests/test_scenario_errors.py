"""Every class of scenario mistake is reported at its line, with its YAML path and a plain message.

Each test writes the minimal valid scenario of ``conftest.MINI_YAML`` with one
mistake, then checks the single problem reported: line, path and the key part
of the message. The last test puts ten mistakes in one file and runs the CLI.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from simulator import load_scenario
from simulator.exceptions import Problem, ScenarioError
from simulator.scenario import yamlpos

ROOT = Path(__file__).resolve().parents[1]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not found {nth} times"
    return hits[nth - 1]


def problems_of(path: Path, sets: tuple[str, ...] = ()) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, sets)
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "expected one problem, got:\n" + "\n".join(map(str, problems))
    return problems[0]


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def one_problem(write_scenario, text: str) -> tuple[Problem, Path]:  # type: ignore[no-untyped-def]
    path = write_scenario(text)
    return only(problems_of(path)), path


def test_minimal_scenario_is_valid(write_scenario, mini_yaml):
    sc = load_scenario(write_scenario(mini_yaml))
    assert sc.name == "mini"
    assert sc.events[0].origin == ["AU"]  # a single origin is read as a list


# --------------------------------------------------------------------------- reading the file


def test_duplicate_key(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    region: AU\n", "    region: AU\n    region: JP\n")
    p, path = one_problem(write_scenario, text)
    assert (p.file, p.line, p.col) == (str(path), 13, 5)
    assert p.path == "facilities.mine_au.region"
    assert p.message == (
        "duplicate key 'region' (first given at line 12; each key may appear once in a mapping)"
    )
    assert str(p).startswith(f"{path}:13:5: facilities.mine_au.region: duplicate key")


def test_duplicate_key_does_not_hide_other_problems(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    region: AU\n", "    region: AU\n    region: JP\n")
    text = replace_once(text, "capacity: 1000", "capacity: 0")
    problems = problems_of(write_scenario(text))
    assert [(p.line, p.path) for p in problems] == [
        (13, "facilities.mine_au.region"),
        (15, "facilities.mine_au.capacity"),
    ]


def test_alias_bomb_is_bounded(write_scenario):
    rows = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    p, _ = one_problem(write_scenario, "\n".join(rows) + "\n")  # 9**9 values if expanded
    assert p.line == 1  # the values repeated by the aliases
    assert p.path == ""
    assert f"more than {yamlpos.MAX_NODES} values after expanding aliases" in p.message
    assert f"(allowed: at most {yamlpos.MAX_NODES} values)" in p.message


def test_recursive_alias(write_scenario, mini_yaml):
    p, _ = one_problem(write_scenario, mini_yaml + "policies: &p\n  loop: *p\n")
    assert p.line == line_of(mini_yaml + "policies: &p\n", "policies: &p")
    assert "recursive alias" in p.message


def test_oversized_file(write_scenario, mini_yaml, monkeypatch):
    monkeypatch.setattr(yamlpos, "MAX_BYTES", 100)
    path = write_scenario(mini_yaml)
    p = only(problems_of(path))
    assert (p.file, p.line, p.col) == (str(path), 1, 1)
    size = len(mini_yaml.encode())
    assert p.message == f"the file is {size} bytes, too large (allowed: at most 100)"


def test_non_utf8_bytes(write_scenario, mini_yaml):
    data = replace_once(mini_yaml, "sector: ev_motors", "sector: ev_motors  # caf\xe9").encode(
        "latin-1"
    )
    path = write_scenario(data)
    p = only(problems_of(path))
    line = line_of(mini_yaml, "sector: ev_motors")
    assert (p.line, p.col) == (line, len("    sector: ev_motors  # caf") + 1)
    assert "not UTF-8 text: byte 0xe9" in p.message
    assert "(allowed: UTF-8" in p.message


def test_yaml_syntax_error(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "  AU: {name: Australia, bloc: allied}", "  AU: {name: AU")
    p, _ = one_problem(write_scenario, text)
    assert p.line == line_of(text, "  JP: {name: Japan")  # where the parser noticed
    assert p.message.startswith("YAML syntax error: expected ',' or '}'")
    assert f"starts at line {line_of(text, '  AU:')}" in p.message


def test_empty_file(write_scenario):
    for text in ("", "# only a comment\n"):
        p, _ = one_problem(write_scenario, text)
        assert (p.line, p.col, p.path) == (1, 1, "")
        assert p.message == "the file is empty; a scenario starts with 'reesim: 1'"


def test_impossible_date_is_a_problem_not_a_crash(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "start: 2025-03-01", "start: 2025-02-30")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "start: 2025-02-30"), "events[0].start")
    assert p.message == "not a date, got '2025-02-30' (allowed: YYYY-MM-DD)"


def test_unsafe_tag_is_refused(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "name: mini", "name: !!python/object:os.system mini")
    problems = problems_of(write_scenario(text))
    assert problems[0].line == 2
    assert problems[0].path == "name"
    assert "cannot read the value" in problems[0].message


# --------------------------------------------------------------------------- schema


def test_unknown_key_did_you_mean(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    capacity: 1000\n", "    capacity: 1000\n    capacty: 3\n")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.col) == (15, 5)
    assert p.path == "facilities.mine_au.capacty"
    assert p.message.startswith("unknown key 'capacty' (did you mean 'capacity'?) (allowed: ")
    assert "finished_cover_days" in p.message


def test_unknown_key_in_an_event_lists_that_event_type_keys(write_scenario, mini_yaml):
    extra = "  - {id: o, type: outage, facilities: [mine_au], start: 2025-02-01, blocked: 1}\n"
    p, _ = one_problem(write_scenario, mini_yaml + extra)
    assert (p.line, p.path) == (line_of(mini_yaml + extra, "id: o,"), "events[1].blocked")
    assert "unknown key 'blocked'" in p.message
    assert "capacity_lost" in p.message and "origin" not in p.message


def test_unknown_event_type_lists_allowed_types(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "type: export_control", "type: export_contrl")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.col) == (line_of(text, "type: export_contrl"), 5)
    assert p.path == "events[0].type"
    assert p.message == (
        "unknown type 'export_contrl' (did you mean 'export_control'?) "
        "(allowed: export_control, outage, logistics, demand_shock, commission, policy)"
    )


def test_capacity_not_positive(write_scenario, mini_yaml):
    for bad in ("0", "-5"):
        text = replace_once(mini_yaml, "capacity: 1000", f"capacity: {bad}")
        p, _ = one_problem(write_scenario, text)
        assert (p.line, p.path) == (14, "facilities.mine_au.capacity")
        assert p.message == f"got {bad} (allowed: > 0)"


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("lead_days: 10}", "lead_days: -3}", "links[0].lead_days"),
        ("cover_days: 30", "cover_days: -30", "facilities.magnet_jp.stock.ore.cover_days"),
        ("rate: 400", "rate: -400", "markets.ev_jp.demand.magnet.rate"),
    ],
    ids=["lead_time", "stock_cover", "demand_rate"],
)
def test_negative_quantity(write_scenario, mini_yaml, old, new, path):
    text = replace_once(mini_yaml, old, new)
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, new), path)
    value = new.split(": ")[1].rstrip("}")
    assert p.message == f"negative value {value} (allowed: >= 0)"


def test_step_of_zero_days(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "step_days: 1", "step_days: 0")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.col, p.path) == (3, 47, "horizon.step_days")
    assert p.message == "got 0 (allowed: >= 1)"


FRACTION_ALLOWED = "(allowed: a fraction in [0, 1], or a distribution within [0, 1])"
OUTAGE = "  - {id: o, type: outage, facilities: [mine_au], start: 2025-02-01, capacity_lost: %s}\n"


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("1.5", "got 1.5"),
        ("{uniform: {low: 0.5, high: 1.2}}", "got a distribution with values from 0.5 to 1.2"),
    ],
    ids=["number", "distribution"],
)
def test_blocked_fraction_above_one(write_scenario, mini_yaml, value, got):
    text = replace_once(mini_yaml, "blocked: 0.5", f"blocked: {value}")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "blocked:"), "events[0].blocked")
    assert p.message == f"{got} {FRACTION_ALLOWED}"


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("2", "got 2"),
        (
            "{triangular: {low: 0, mode: 0.5, high: 1.5}}",
            "got a distribution with values from 0 to 1.5",
        ),
    ],
    ids=["number", "distribution"],
)
def test_capacity_lost_fraction_above_one(write_scenario, mini_yaml, value, got):
    text = mini_yaml + OUTAGE % value
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "id: o,"), "events[1].capacity_lost")
    assert p.message == f"{got} {FRACTION_ALLOWED}"


def test_fraction_field_above_one(write_scenario, mini_yaml):
    text = replace_once(
        mini_yaml, "    capacity: 500\n", "    capacity: 500\n    availability: 1.2\n"
    )
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "availability"), "facilities.magnet_jp.availability")
    assert p.message == "got 1.2 (allowed: <= 1)"


def test_event_start_outside_horizon(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "start: 2025-03-01", "start: 2024-03-01")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "start: 2024-03-01"), "events[0].start")
    assert p.message == "date 2024-03-01 is outside the horizon (allowed: 2025-01-01 to 2025-12-31)"


def test_event_start_outside_horizon_quoted(write_scenario, mini_yaml):
    # YAML leaves a quoted date a string (the schema reads it as a date later): checked all the same,
    # a quoted horizon included
    text = replace_once(mini_yaml, "start: 2025-03-01", "start: '2024-12-22'")
    text = replace_once(text, "{start: 2025-01-01, end: 2025-12-31,", "{start: '2025-01-01', end: '2025-12-31',")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "start: '2024-12-22'"), "events[0].start")
    assert p.message == "date 2024-12-22 is outside the horizon (allowed: 2025-01-01 to 2025-12-31)"


def test_event_end_before_start(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "end: 2025-06-01", "end: 2025-02-01")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.col) == (line_of(text, "end: 2025-02-01"), 5)
    assert p.path == "events[0].end"
    assert p.message == "end 2025-02-01 is before start 2025-03-01 (allowed: after 2025-03-01)"


def test_horizon_end_before_start(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "end: 2025-12-31", "end: 2024-12-31")
    p, _ = one_problem(write_scenario, text)  # and no cascade of "outside the horizon"
    assert (p.line, p.col, p.path) == (3, 30, "horizon.end")
    assert p.message.startswith("end 2024-12-31 is before start 2025-01-01")


def test_lognormal_p95_below_median(write_scenario, mini_yaml):
    text = replace_once(
        mini_yaml,
        "    outputs: {ore: 1.0}\n",
        "    outputs: {ore: 1.0}\n    outages:\n      rate_per_year: 1\n"
        "      duration_days: {lognormal: {median: 20, p95: 10}}\n",
    )
    p, _ = one_problem(write_scenario, text)
    assert p.line == line_of(text, "lognormal")
    assert p.col == text.splitlines()[p.line - 1].index("p95") + 1
    assert p.path == "facilities.mine_au.outages.duration_days.lognormal.p95"
    assert p.message == "p95 (10) is below the median (20) (allowed: p95 >= median)"


def test_unknown_distribution(write_scenario, mini_yaml):
    p, _ = one_problem(write_scenario, mini_yaml + OUTAGE % "{normal: {mean: 0.5}}")
    assert p.path == "events[1].capacity_lost"
    assert p.message.startswith(
        "unknown distribution 'normal' (did you mean 'lognormal'?) (allowed: "
    )


def test_weight_not_positive(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "lead_days: 5}", "lead_days: 5, weight: 0}")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "weight: 0"), "links[1].weight")
    assert p.message == "got 0 (allowed: > 0)"


def test_missing_required_key(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    sector: ev_motors\n", "")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "  ev_jp:"), "markets.ev_jp.sector")
    assert p.message == "missing required key 'sector'"


# --------------------------------------------------------------------------- semantic checks


def test_unknown_region_did_you_mean(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    region: AU\n", "    region: AUS\n")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.col, p.path) == (12, 5, "facilities.mine_au.region")
    assert p.message == "unknown region 'AUS' (did you mean 'AU'?) (allowed: AU, JP)"


def test_unknown_link_end_did_you_mean(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "to: ev_jp", "to: ev_japan")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "to: ev_japan"), "links[1].to")
    assert p.col == text.splitlines()[p.line - 1].index("to:") + 1
    assert p.message == (
        "unknown buyer 'ev_japan' (did you mean 'ev_jp'?) (allowed: ev_jp, magnet_jp, mine_au)"
    )


def test_market_is_not_a_supplier(write_scenario, mini_yaml):
    extra = "  - {from: ev_jp, to: magnet_jp, product: ore, lead_days: 1}\n"
    text = replace_once(mini_yaml, "events:\n", extra + "events:\n")
    problems = problems_of(write_scenario(text))
    assert problems[0].path == "links[2].from"
    assert problems[0].message.startswith("'ev_jp' is a market, not a supplier (allowed: ")


def test_link_product_not_output_by_supplier(write_scenario, mini_yaml):
    extra = "  - {from: mine_au, to: ev_jp, product: magnet, lead_days: 1}\n"
    text = replace_once(mini_yaml, "events:\n", extra + "events:\n")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "from: mine_au, to: ev_jp"), "links[2].product")
    assert p.message == "supplier 'mine_au' does not output 'magnet' (allowed: ore)"


def test_link_product_not_used_by_buyer(write_scenario, mini_yaml):
    extra = "  - {from: mine_au, to: ev_jp, product: ore, lead_days: 1}\n"
    text = replace_once(mini_yaml, "events:\n", extra + "events:\n")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "from: mine_au, to: ev_jp"), "links[2].product")
    assert p.message == "buyer 'ev_jp' does not use 'ore' (allowed: magnet)"


def test_unreachable_market_product(write_scenario, mini_yaml):
    link = "  - {from: magnet_jp, to: ev_jp, product: magnet, lead_days: 5}\n"
    text = replace_once(mini_yaml, link, "")
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.path) == (line_of(text, "demand: {magnet"), "markets.ev_jp.demand.magnet")
    assert "no mine can reach 'magnet' at market 'ev_jp' through recipes and links" in p.message


def test_duplicate_id_across_facilities_and_markets(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "markets:\n  ev_jp:", "markets:\n  magnet_jp:")
    text = replace_once(text, "to: ev_jp", "to: magnet_jp")
    problems = problems_of(write_scenario(text))
    p = problems[0]
    assert (p.line, p.col, p.path) == (line_of(text, "  magnet_jp:", 2), 3, "markets.magnet_jp")
    first = line_of(text, "  magnet_jp:")
    assert p.message.startswith(
        f"duplicate id 'magnet_jp': already used in facilities at line {first}"
    )


def test_duplicate_event_id(write_scenario, mini_yaml):
    text = mini_yaml + "  - {id: ban, type: outage, facilities: [mine_au], start: 2025-02-01}\n"
    p, _ = one_problem(write_scenario, text)
    assert (p.line, p.col, p.path) == (line_of(text, "id: ban,"), 6, "events[1].id")
    assert p.message == (
        f"duplicate event id 'ban' (first given at line {line_of(text, '- id: ban')}, "
        "events[0]; each id may appear once)"
    )


def test_recipe_with_no_output(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    outputs: {magnet: 1.0}\n", "    outputs: {}\n")
    problems = problems_of(write_scenario(text))
    p = problems[0]
    assert (p.line, p.path) == (line_of(text, "outputs: {}"), "facilities.magnet_jp.outputs")
    assert p.message.startswith("the recipe has no output")


def test_recipe_without_outputs_key(write_scenario, mini_yaml):
    text = replace_once(mini_yaml, "    outputs: {ore: 1.0}\n", "")
    problems = problems_of(write_scenario(text))
    p = problems[0]  # the facility lacks the key: its own line
    assert (p.line, p.path) == (line_of(text, "  mine_au:"), "facilities.mine_au.outputs")
    assert p.message.startswith("the recipe has no output")


# --------------------------------------------------------------------------- overlays


def test_extends_cycle(write_scenario, mini_yaml):
    a = write_scenario("extends: b.yaml\nname: a\n", "a.yaml")
    b = write_scenario("name: b\nextends: a.yaml\n", "b.yaml")
    p = only(problems_of(a))
    assert (p.file, p.line, p.col, p.path) == (str(b), 2, 1, "extends")
    assert p.message == f"extends cycle: {a} -> {b} -> {a}"


def test_missing_parent(write_scenario, mini_yaml):
    write_scenario(mini_yaml, "mini.yaml")
    child = write_scenario("reesim: 1\nextends: [mini.yaml, nowhere.yaml]\n", "child.yaml")
    p = only(problems_of(child))
    assert (p.file, p.line, p.col, p.path) == (str(child), 2, 22, "extends[1]")
    assert p.message.startswith("parent file 'nowhere.yaml' not found (looked at ")


# --------------------------------------------------------------------------- all at once


TEN_MISTAKES = [
    # (old, new, path, message part) -- one mistake each, none causing another
    ("    capacity: 1000\n", "    capacity: 1000\n    capacity: 1200\n",
     "facilities.mine_au.capacity", "duplicate key 'capacity'"),
    ("  ore: {unit: t}", "  ore: {unit: t, colour: red}", "products.ore.colour",
     "unknown key 'colour'"),
    ("    region: JP\n    sector", "    region: JPN\n    sector", "markets.ev_jp.region",
     "unknown region 'JPN'"),
    ("lead_days: 10}", "lead_days: -10}", "links[0].lead_days", "negative value -10"),
    ("lead_days: 5}", "lead_days: 5, weight: 0}", "links[1].weight", "got 0 (allowed: > 0)"),
    ("step_days: 1", "step_days: 0", "horizon.step_days", "got 0 (allowed: >= 1)"),
    ("blocked: 0.5", "blocked: 1.5", "events[1].blocked", "got 1.5"),
    ("end: 2025-06-01", "end: 2025-02-01", "events[1].end", "is before start"),
    ("cover_days: 30", "cover_days: -30", "facilities.magnet_jp.stock.ore.cover_days",
     "negative value -30"),
    ("events:\n", "events:\n  - {id: ban2, type: outgae, start: 2025-02-01}\n", "events[0].type",
     "unknown type 'outgae'"),
]


def test_ten_mistakes_ten_located_messages(tmp_path, mini_yaml):
    text = mini_yaml
    for old, new, _, _ in TEN_MISTAKES:
        text = replace_once(text, old, new)
    path = tmp_path / "ten.yaml"
    path.write_text(text, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", "ten.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[-1] == "ten.yaml: invalid (10 problems)"
    located = [ln for ln in lines if re.match(r"^ten\.yaml:\d+:\d+: \S+: ", ln)]
    assert len(located) == 10 == len(lines) - 1, r.stderr
    for _, new, path_, part in TEN_MISTAKES:
        hits = [ln for ln in located if f": {path_}: " in ln and part in ln]
        assert len(hits) == 1, f"{path_}: {part!r} not reported once in:\n{r.stderr}"
    # each message points at the line of its mistake
    dup = next(ln for ln in located if "duplicate key" in ln)
    assert dup.startswith(f"ten.yaml:{line_of(text, 'capacity: 1200')}:5: ")
    typ = next(ln for ln in located if "outgae" in ln)
    assert typ.startswith(f"ten.yaml:{line_of(text, 'outgae')}:")


def test_validate_reports_every_file(tmp_path, mini_yaml):
    (tmp_path / "good.yaml").write_text(mini_yaml, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(mini_yaml.replace("capacity: 1000", "capacity: 0"), "utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", "good.yaml", "bad.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 1
    assert r.stdout.startswith("good.yaml: ok")
    assert r.stderr.splitlines() == [
        "bad.yaml:14:5: facilities.mine_au.capacity: got 0 (allowed: > 0)",
        "bad.yaml: invalid (1 problem)",
    ]


def test_validate_names_the_file_a_set_does_not_fit_and_checks_the_rest(tmp_path, mini_yaml):
    (tmp_path / "a.yaml").write_text(mini_yaml.replace("mine_au", "mine_xx"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(mini_yaml, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", "a.yaml", "b.yaml", "--set", "facilities.mine_au.capacity=5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2  # a --set that does not fit: a usage error, as in run and compare
    assert r.stderr.startswith("a.yaml: --set 'facilities.mine_au.capacity=5': facilities has no 'mine_au'")
    assert r.stdout.startswith("b.yaml: ok")


def test_compare_names_the_file_a_set_does_not_fit(tmp_path, mini_yaml, capsys):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(mini_yaml, encoding="utf-8")
    b.write_text(mini_yaml.replace("mine_au", "mine_xx"), encoding="utf-8")
    assert run_cli(["compare", str(a), str(b), "--set", "facilities.mine_au.capacity=5", "-n", "1",
                    "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == (f"reesim: {b}: --set 'facilities.mine_au.capacity=5': facilities has "
                                       "no 'mine_au' (did you mean 'mine_xx'?)\n")


def test_validate_missing_file_is_a_usage_error_and_the_others_are_checked(tmp_path, mini_yaml):
    (tmp_path / "b.yaml").write_text(mini_yaml, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", "nowhere.yaml", "b.yaml", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["nowhere.yaml: no such file", ". is a folder, not a scenario file"]
    assert r.stdout.startswith("b.yaml: ok")


def test_missing_file_and_bad_set_value_are_usage_errors_in_every_command(tmp_path, mini_yaml):
    """Exit 2 (the command line is wrong) for a file that is not there and for a --set value the
    schema refuses, as for a --set path that leads nowhere; exit 1 stays for an invalid file."""
    (tmp_path / "b.yaml").write_text(mini_yaml, encoding="utf-8")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "simulator", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    for args in (["run", "nowhere.yaml", "-n", "1"], ["compare", "b.yaml", "nowhere.yaml", "-n", "1"],
                 ["sweep", "nowhere.yaml", "--param", "seed=1:2"]):
        r = cli(*args)
        assert (r.returncode, r.stderr.strip()) == (2, "reesim: nowhere.yaml: no such file"), args
    r = cli("run", "b.yaml", "-n", "1", "--set", "seed=abc")
    assert r.returncode == 2 and r.stderr.startswith("--set seed=abc: seed: expected a whole number"), r.stderr
    r = cli("validate", "b.yaml", "--set", "seed=abc")
    assert r.returncode == 2 and "--set seed=abc: seed:" in r.stderr
    (tmp_path / "bad.yaml").write_text(mini_yaml.replace("step_days: 1", "step_days: x"), encoding="utf-8")
    r = cli("run", "bad.yaml", "-n", "1")
    assert r.returncode == 1 and "bad.yaml:" in r.stderr and "Traceback" not in r.stderr


def test_yaml_nested_too_deep_is_a_located_error_not_a_crash(tmp_path):
    """100 000 nested lists (200 KB, under the size limit): libyaml's composer would recurse in C
    and crash the interpreter; the depth is checked on the parser's events first."""
    p = tmp_path / "deep.yaml"
    p.write_text("reesim: 1\na: " + "[" * 100_000 + "]" * 100_000 + "\n")
    r = subprocess.run([sys.executable, "-m", "simulator", "validate", str(p)], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "deep.yaml:2:" in r.stderr + r.stdout and "nested deeper than 64 levels" in r.stderr + r.stdout


def test_set_value_nested_too_deep_is_a_short_usage_error():
    """A --set value goes through PyYAML's recursive composer: 3000 nested lists were a RecursionError whose
    message quoted the 6000-character value twice. Now the same depth limit as a file, the value cut short."""
    deep = "[" * 3000 + "]" * 3000
    r = subprocess.run([sys.executable, "-m", "simulator", "validate", str(Path(__file__).resolve().parents[1] / "scenarios" / "tutorial.yaml"),
                        "--set", f"report.interval_days={deep}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "nested deeper than 64 levels" in r.stderr and "6000 characters" in r.stderr
    assert len(r.stderr) < 400 and "Traceback" not in r.stderr


def test_tabs_mean_the_same_with_or_without_libyaml():
    """A tab after a colon is refused by PyYAML's parser; libyaml would read it as a space. Text with
    tabs goes to PyYAML's parser, so the file is invalid whichever PyYAML build is installed."""
    probs = yamlpos.parse("reesim: 1\nname:\tx\n", "t.yaml")[1]
    assert probs and probs[0].line == 2 and "'\\t'" in probs[0].message


def test_market_without_demand_is_refused(write_scenario, mini_yaml):
    """A market demanding no product once took another market's demand (or crashed the compiled step
    when it was the last market); it is a located validation error."""
    text = replace_once(mini_yaml, "    demand: {magnet: {rate: 400}}\n", "    demand: {}\n")
    text = text.replace("  - {from: magnet_jp, to: ev_jp, product: magnet, lead_days: 5}\n", "")
    probs = problems_of(write_scenario(text))
    p = next(p for p in probs if p.path == "markets.ev_jp.demand")
    assert p.line == line_of(text, "demand: {}") and "demands no product" in p.message


def test_both_yaml_parsers_build_the_same_trees(monkeypatch):
    """Every scenario file gives the same values and the same line/column of every key and item
    through libyaml's parser and PyYAML's own (the path without libyaml)."""
    def tree(x):
        if isinstance(x, dict):
            return ("map", (x.mark.line, x.mark.col), [(k, (m.line, m.col), tree(x[k])) for k, m in x.key_marks.items()])
        if isinstance(x, list):
            return ("seq", (x.mark.line, x.mark.col), [((m.line, m.col), tree(v)) for m, v in zip(x.item_marks, x)])
        return (type(x).__name__, x)

    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "scenarios").glob("*.yaml")) + sorted((root / "sweeps").glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        text = f.read_text(encoding="utf-8")
        fast = yamlpos.parse(text, f.name)
        monkeypatch.setattr(yamlpos, "_CLoader", None)
        slow = yamlpos.parse(text, f.name)
        monkeypatch.undo()
        assert fast[1] == slow[1] == [], f.name
        assert tree(fast[0]) == tree(slow[0]), f.name


def test_a_sweep_file_or_a_results_file_is_named_as_such_in_one_problem(tmp_path):
    """Validating a sweep file or a summary.json used to list every missing and unknown key (6 and 15
    problems); one line now says what the file is."""
    sweep = ROOT / "sweeps" / "tutorial_morris.yaml"
    with pytest.raises(ScenarioError) as exc:
        load_scenario(sweep)
    (p,) = exc.value.problems
    assert (p.line, p.path) == (line_of(sweep.read_text(), "sweep:"), "sweep")
    assert re.fullmatch(r"this is a sweep file, not a scenario: run it with 'reesim sweep \S*tutorial_morris.yaml'",
                        p.message), p.message
    results = tmp_path / "summary.json"
    results.write_text('{"scenarios": {}, "seed": 7, "markets": {}, "version": "0.1.0"}')
    with pytest.raises(ScenarioError) as exc:
        load_scenario(results)
    (p,) = exc.value.problems
    assert p.message == ("not a reesim scenario: results written by reesim run or reesim compare "
                         "(found: scenarios, seed, markets, version)")
    other = tmp_path / "notes.yaml"
    other.write_text("todo: [check Dy]\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(other)
    assert [p.message for p in exc.value.problems] == [
        "not a reesim scenario: no 'reesim: 1' line and none of a scenario's sections (found: todo)"]


def test_a_parent_that_is_a_fragment_still_merges(tmp_path):
    # a parent with only an events: list (no reesim: line) is a fragment of a scenario, not another kind of file
    (tmp_path / "extra.yaml").write_text(
        "events:\n  - {id: late_ban, type: export_control, origin: CN, products: [magnet],\n"
        "     destinations: {exclude: [CN]}, blocked: 0.3, start: 2025-09-01}\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"reesim: 1\nname: child\nextends: [{ROOT / 'scenarios' / 'tutorial.yaml'}, extra.yaml]\n")
    sc = load_scenario(child)
    assert "late_ban" in {e.id for e in sc.events} and "cn_magnet_licensing" in {e.id for e in sc.events}


def _tutorial_with(tmp_path, old, new):
    """The tutorial with ``old`` replaced by ``new`` once, written to tmp_path: (text, path, its one problem)."""
    text = (ROOT / "scenarios" / "tutorial.yaml").read_text()
    assert old in text
    text = text.replace(old, new, 1)
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    (prob,) = exc.value.problems
    return text, p, prob


def test_a_link_from_a_stockpile_is_refused(tmp_path):
    """A link out of a stockpile validated but carried nothing, and its price was never paid (a second
    review bought a stockpile's magnets 'for free'): a stockpile gives through its release block."""
    text, _, prob = _tutorial_with(
        tmp_path, "links:", "links:\n  - {from: jogmec, to: magnet_jp, product: ndpr_oxide, lead_days: 1, price: 80000}")
    assert (prob.line, prob.path) == (line_of(text, "{from: jogmec"), "links[0].from")
    assert prob.message.startswith("a link cannot start at stockpile 'jogmec': a stockpile gives through its "
                                   "release block")


def test_an_overlay_that_misspells_an_id_is_told_which_it_meant(tmp_path):
    """A child that meant to change ev_jp but typed ev_jpp made a new, incomplete market: the review read
    'missing required key region' with no hint, and '(allowed: )' with nothing listed."""
    child = tmp_path / "typo.yaml"
    child.write_text(f"reesim: 1\nextends: {ROOT / 'scenarios' / 'tutorial.yaml'}\nname: typo\n"
                     "markets:\n  ev_jpp: {stock: {magnet: {cover_days: 90}}}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(child)
    msgs = [p.message for p in exc.value.problems]
    assert msgs[0] == "missing required key 'region' (market 'ev_jpp' is new here: did you mean 'ev_jp'?)"
    assert msgs[1] == "missing required key 'sector'"  # the hint once per entry
    assert msgs[-1].endswith("(allowed: none; the market has no demand)")


def test_a_stockpile_refill_target_without_a_link_into_it_is_refused(tmp_path):
    """A first review: 'a stockpile with a target but no supply link validates without comment' (it never
    refills). The tutorial's own inert target is gone (its results are bit-identical without it)."""
    text, p, prob = _tutorial_with(
        tmp_path, "holds: {ndpr_oxide: {initial: 300}}", "holds: {ndpr_oxide: {initial: 300, target: 500}}")
    assert (prob.line, prob.path) == (line_of(text, "target: 500"), "stockpiles.jogmec.holds.ndpr_oxide.target")
    assert prob.message == ("a refill target, but no link brings 'ndpr_oxide' to 'jogmec', so it never refills "
                            "(allowed: a link into the stockpile, or no target)")
    linked = text.replace("links:", "links:\n  - {from: sep_my, to: jogmec, product: ndpr_oxide, lead_days: 5}", 1)
    p.write_text(linked)
    assert load_scenario(p).stockpiles["jogmec"].holds["ndpr_oxide"].target == 500


def test_a_misspelled_required_key_is_not_taken_for_a_misspelled_id(tmp_path):
    """A review typed 'capacty' in the tutorial's mine_au and was told 'facility mine_au is new here: did you
    mean mine_cn?' beside the right 'unknown key capacty (did you mean capacity?)'."""
    p = tmp_path / "typo_key.yaml"
    p.write_text((ROOT / "scenarios" / "tutorial.yaml").read_text().replace("capacity:", "capacty:", 1))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    msgs = [pr.message for pr in exc.value.problems]
    assert any(m.startswith("missing required key 'capacity'") for m in msgs), msgs
    assert not any("is new here" in m for m in msgs), msgs
    assert any("unknown key 'capacty'" in m and "did you mean 'capacity'" in m for m in msgs), msgs


def test_an_event_outside_the_horizon_is_noted_with_its_line(tmp_path, capsys):
    """A review moved the licensing to 2031 and read 'ok', then a report where ev_jp never ran short and
    TTS was 'n/a: no reference event'. Valid (a shorter --set horizon.end cuts a run before its events),
    so a note, not an error."""
    text = (ROOT / "scenarios" / "tutorial.yaml").read_text()
    late = tmp_path / "late.yaml"
    late.write_text(text.replace("    start: 2025-04-04", "    start: 2031-04-04", 1).replace(
        "    end: 2025-09-30", "    end: 2031-09-30", 1))
    assert run_cli(["validate", str(late)]) == 0
    err = capsys.readouterr().err
    line = text.splitlines().index("    start: 2025-04-04") + 1
    assert f"note: {late}:{line}:5: events[0].start: event 'cn_magnet_licensing' starts 2031-04-04, after the " \
           "horizon ends (2026-12-31): it never acts in this run" in err, err
    assert run_cli(["validate", str(ROOT / "scenarios" / "tutorial.yaml")]) == 0
    assert "note:" not in capsys.readouterr().err
    assert run_cli(["validate", str(ROOT / "scenarios" / "tutorial.yaml"), "--set", "horizon.end=2025-03-31"]) == 0
    assert "starts 2025-04-04, after the horizon ends (2025-03-31)" in capsys.readouterr().err


def test_notes_for_a_window_past_the_horizon_a_zero_length_event_and_a_threshold_met_in_normal_times(tmp_path):
    """A review: a stochastic event whose window opens after the horizon and a 0-day event validated without
    a word; and a reserve whose threshold its receiver sits at in normal operation releases (and refills)
    with no disruption."""
    from simulator.scenario import scenario_notes

    base = (ROOT / "scenarios" / "tutorial.yaml").read_text()
    late = base.replace("    start: 2025-04-04\n    end: 2025-09-30", "    stochastic: {rate_per_year: 1, "
                        "duration_days: 30, window: {start: 2031-01-01, end: 2031-12-31}}", 1)
    assert late != base
    p = tmp_path / "late.yaml"
    p.write_text(late)
    (n,) = scenario_notes(p)
    assert n.path == "events[0].stochastic.window.start"
    assert n.message == ("event 'cn_magnet_licensing' can start only from 2031-01-01, after the horizon ends "
                         "(2026-12-31): it never acts in this run")
    zero = base.replace("    end: 2025-09-30", "    duration_days: 0", 1)
    p.write_text(zero)
    (n,) = scenario_notes(p)
    assert n.path == "events[0].duration_days"
    assert n.message == "event 'cn_magnet_licensing' lasts 0 days: it never acts in this run"
    from test_mechanics import BASE, PLANT_RESERVE

    p.write_text(BASE.format(body=PLANT_RESERVE.replace("cover_days: 10", "cover_days: 6")))
    (n,) = scenario_notes(p)
    assert n.path == "stockpiles.pile.release.when_cover_below_days"
    assert "but 'mag' holds about 4 days on hand in normal operation (cover 6 - longest lead 1 - 1)" in n.message
    p.write_text(BASE.format(body=PLANT_RESERVE))
    assert scenario_notes(p) == []


def test_a_policy_event_scoped_to_regions_takes_re_routing_only(tmp_path):
    """regions on a policy event scopes reroute_after_days to those buyers; other switches would silently
    apply everywhere, so they are refused with what is allowed."""
    base = (ROOT / "scenarios" / "tutorial.yaml").read_text()
    p = tmp_path / "scoped.yaml"
    ok = base.replace("events:\n", "events:\n  - {id: fw, type: policy, set: {reroute_after_days: 30}, "
                      "regions: [JP], start: 2025-01-01}\n", 1)
    p.write_text(ok)
    assert load_scenario(p).events[0].regions == ["JP"]
    p.write_text(ok.replace("set: {reroute_after_days: 30}", "set: {reroute_after_days: 30, substitution: null}"))
    assert load_scenario(p).events[0].regions == ["JP"]  # a null switch sets nothing anywhere: allowed
    for bad, want in (("set: {reroute_after_days: 30, substitution: false}, regions: [JP]",
                       "regions scopes re-routing only: substitution would still apply everywhere"),
                      ("set: {reroute_after_days: 30}, regions: [XX]", "unknown region 'XX'")):
        p.write_text(ok.replace("set: {reroute_after_days: 30}, regions: [JP]", bad))
        with pytest.raises(ScenarioError) as exc:
            load_scenario(p)
        assert any(want in pr.message for pr in exc.value.problems), [pr.message for pr in exc.value.problems]
