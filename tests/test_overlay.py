"""``extends:`` overlays and ``--set`` overrides (DESIGN §7)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import load_scenario
from simulator.exceptions import Problem, ScenarioError, UsageError


def problems_of(path: Path, sets: tuple[str, ...] = ()) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, sets)
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.fixture
def parent(write_scenario, mini_yaml) -> Path:
    """The minimal scenario, as ``base/mini.yaml``."""
    return write_scenario(mini_yaml, "base/mini.yaml")


# --------------------------------------------------------------------------- extends


def test_one_parent_relative_to_the_child(write_scenario, parent):
    child = write_scenario(
        "extends: ../base/mini.yaml\nname: child\nfacilities:\n  mine_au:\n    capacity: 2500\n",
        "variants/child.yaml",
    )
    sc = load_scenario(child)
    assert sc.name == "child"
    mine = sc.facilities["mine_au"]
    assert mine.capacity == 2500.0
    # the other keys of the facility come from the parent
    assert (mine.region, mine.stage, mine.outputs) == ("AU", "mine", {"ore": 1.0})
    assert set(sc.facilities) == {"mine_au", "magnet_jp"}
    assert sc.extends is None and sc.remove == []


def test_list_of_parents_applied_in_order(write_scenario, parent):
    write_scenario("facilities: {mine_au: {capacity: 2000, availability: 0.9}}\n", "base/a.yaml")
    write_scenario("facilities: {mine_au: {capacity: 3000}}\n", "base/b.yaml")
    ab = write_scenario("extends: [mini.yaml, a.yaml, b.yaml]\n", "base/ab.yaml")
    ba = write_scenario("extends: [mini.yaml, b.yaml, a.yaml]\n", "base/ba.yaml")
    mine_ab = load_scenario(ab).facilities["mine_au"]
    mine_ba = load_scenario(ba).facilities["mine_au"]
    assert (mine_ab.capacity, mine_ab.availability) == (3000.0, 0.9)  # b after a wins
    assert (mine_ba.capacity, mine_ba.availability) == (2000.0, 0.9)  # a after b wins
    own = write_scenario(
        "extends: [mini.yaml, a.yaml, b.yaml]\nfacilities: {mine_au: {capacity: 4000}}\n",
        "base/own.yaml",
    )
    assert load_scenario(own).facilities["mine_au"].capacity == 4000.0  # the child wins


def test_grandparent_chain(write_scenario, parent):
    write_scenario("extends: mini.yaml\nname: mid\nseed: 5\n", "base/mid.yaml")
    child = write_scenario("extends: base/mid.yaml\nname: leaf\n", "leaf.yaml")
    sc = load_scenario(child)
    assert (sc.name, sc.seed) == ("leaf", 5)


def test_events_merge_by_id_and_new_items_are_appended(write_scenario, parent):
    child = write_scenario(
        "extends: ../base/mini.yaml\n"
        "events:\n"
        "  - {id: ban, blocked: 0.9}\n"
        "  - {id: fire, type: outage, facilities: [mine_au], start: 2025-05-01,\n"
        "     capacity_lost: 0.5}\n",
        "variants/events.yaml",
    )
    sc = load_scenario(child)
    assert [e.id for e in sc.events] == ["ban", "fire"]
    ban = sc.events[0]
    assert ban.blocked == 0.9
    assert (ban.type, ban.origin, ban.products) == ("export_control", ["AU"], ["ore"])
    assert ban.start == dt.date(2025, 3, 1)
    assert sc.events[1].capacity_lost == 0.5


def test_links_merge_by_from_to_product(write_scenario, parent):
    child = write_scenario(
        "extends: ../base/mini.yaml\n"
        "links:\n"
        "  - {from: mine_au, to: magnet_jp, product: ore, lead_days: 20}\n",
        "variants/links.yaml",
    )
    links = load_scenario(child).links
    assert [(x.key, x.lead_days) for x in links] == [
        ("mine_au>magnet_jp:ore", 20.0),
        ("magnet_jp>ev_jp:magnet", 5.0),
    ]


def test_remove_deletes_a_facility_and_its_links(write_scenario, parent):
    child = write_scenario(
        "extends: ../base/mini.yaml\n"
        "remove: [magnet_jp]\n"
        "facilities:\n"
        "  magnet_au:\n"
        "    region: AU\n"
        "    stage: component\n"
        "    capacity: 800\n"
        "    inputs: {ore: 1.0}\n"
        "    outputs: {magnet: 1.0}\n"
        "links:\n"
        "  - {from: mine_au, to: magnet_au, product: ore, lead_days: 2}\n"
        "  - {from: magnet_au, to: ev_jp, product: magnet, lead_days: 20}\n",
        "variants/remove.yaml",
    )
    sc = load_scenario(child)
    assert set(sc.facilities) == {"mine_au", "magnet_au"}
    assert [x.key for x in sc.links] == ["mine_au>magnet_au:ore", "magnet_au>ev_jp:magnet"]


def test_remove_an_event(write_scenario, parent):
    child = write_scenario("extends: ../base/mini.yaml\nremove: [ban]\n", "variants/calm.yaml")
    assert load_scenario(child).events == []


def test_remove_unknown_id_is_an_error(write_scenario, parent):
    text = "extends: ../base/mini.yaml\nremove: [ban, magnet_xp]\n"
    child = write_scenario(text, "variants/bad_remove.yaml")
    problems = problems_of(child)
    assert len(problems) == 1, problems
    p = problems[0]
    assert (p.file, p.line, p.col, p.path) == (str(child), 2, 15, "remove[1]")
    assert p.message == (
        "nothing with id 'magnet_xp' to remove (did you mean 'magnet_jp'?) "
        "(allowed: ids the parents define)"
    )


def test_remove_without_extends_is_an_error(write_scenario, mini_yaml):
    path = write_scenario(mini_yaml + "remove: [ban]\n")
    problems = problems_of(path)
    line = line_of(mini_yaml + "remove:", "remove:")
    assert [(p.line, p.path) for p in problems] == [(line, "remove")]
    assert "this file has no extends" in problems[0].message


def test_self_extension_is_a_cycle(write_scenario):
    path = write_scenario("reesim: 1\nextends: me.yaml\n", "me.yaml")
    p = problems_of(path)[0]
    assert (p.file, p.line, p.path) == (str(path), 2, "extends")
    assert p.message == f"extends cycle: {path} -> {path}"


def test_three_file_cycle(write_scenario):
    a = write_scenario("extends: b.yaml\n", "a.yaml")
    b = write_scenario("extends: c.yaml\n", "b.yaml")
    c = write_scenario("# comment\nextends: [a.yaml]\n", "c.yaml")
    problems = problems_of(a)
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.line, p.col, p.path) == (str(c), 2, 11, "extends[0]")
    assert p.message == f"extends cycle: {a} -> {b} -> {c} -> {a}"


def test_diamond_is_not_a_cycle(write_scenario, parent):
    write_scenario("extends: mini.yaml\nseed: 1\n", "base/left.yaml")
    write_scenario("extends: mini.yaml\nreplications: 7\n", "base/right.yaml")
    sc = load_scenario(write_scenario("extends: [base/left.yaml, base/right.yaml]\n", "d.yaml"))
    assert (sc.seed, sc.replications) == (1, 7)


def test_error_positions_point_into_the_right_file(write_scenario, mini_yaml):
    parent_text = mini_yaml.replace("capacity: 500", "capacity: -1")
    parent = write_scenario(parent_text, "base/mini.yaml")
    child_text = (
        "extends: ../base/mini.yaml\n"
        "facilities:\n"
        "  mine_au:\n"
        "    capacity: 0\n"
        "    colour: red\n"
    )
    child = write_scenario(child_text, "variants/child.yaml")
    got = {(p.file, p.line, p.path, p.message) for p in problems_of(child)}
    assert got == {
        (str(parent), line_of(parent_text, "capacity: -1"), "facilities.magnet_jp.capacity",
         "got -1 (allowed: > 0)"),
        (str(child), 4, "facilities.mine_au.capacity", "got 0 (allowed: > 0)"),
        (str(child), 5, "facilities.mine_au.colour",
         "unknown key 'colour' (allowed: availability, capacity, finished_cover_days, inputs, "
         "name, note, online, outages, outputs, ramp_days, region, source, stage, stock)"),
    }


def test_semantic_error_in_a_parent_is_located_in_the_parent(write_scenario, mini_yaml):
    parent = write_scenario(mini_yaml, "base/mini.yaml")
    child = write_scenario(
        "extends: ../base/mini.yaml\nevents:\n  - {id: ban, origin: AUS}\n", "variants/c.yaml"
    )
    p = problems_of(child)[0]
    assert (p.file, p.line, p.path) == (str(child), 3, "events[0].origin")
    assert p.message.startswith("unknown region 'AUS'")
    # a key the child does not touch keeps its place in the parent
    child2 = write_scenario(
        "extends: ../base/mini.yaml\n"
        "regions: {JP: {bloc: allied2}}\n"
        "blocs: {allies: {name: Allies}}\n",
        "variants/c2.yaml",
    )
    problems = problems_of(child2)
    assert [(p.file, p.line, p.path) for p in problems] == [
        (str(parent), line_of(mini_yaml, "AU: {name"), "regions.AU.bloc"),
        (str(child2), 2, "regions.JP.bloc"),
    ]


# --------------------------------------------------------------------------- --set


def test_set_number_date_list_and_items_by_id(write_scenario, mini_yaml):
    path = write_scenario(mini_yaml)
    sc = load_scenario(
        path,
        [
            "facilities.mine_au.capacity=15000",
            "horizon.end=2026-06-30",
            "events.ban.products=[magnet]",
            "events.ban.blocked=0.25",
            "links.mine_au>magnet_jp:ore.lead_days=3",
            "facilities.mine_au.online=2025-02-01",  # a key the file does not give
            "products.dy_oxide={unit: t}",  # a new id in a mapping of ids
        ],
    )
    assert sc.facilities["mine_au"].capacity == 15000.0
    assert sc.horizon.end == dt.date(2026, 6, 30)
    assert sc.events[0].products == ["magnet"]
    assert sc.events[0].blocked == 0.25
    assert sc.links[0].lead_days == 3.0
    assert sc.facilities["mine_au"].online == dt.date(2025, 2, 1)
    assert sc.products["dy_oxide"].unit == "t"


def test_set_creates_an_optional_section_the_file_leaves_out(write_scenario, mini_yaml):
    assert "policies" not in mini_yaml
    sc = load_scenario(write_scenario(mini_yaml), ["policies.reroute_after_days=30"])
    assert sc.policies.reroute_after_days == 30.0
    assert sc.policies.closed_below == 0.5  # the other keys keep their defaults


def test_set_list_item_by_index_and_later_assignment_wins(write_scenario, mini_yaml):
    path = write_scenario(mini_yaml)
    sc = load_scenario(path, ["events.0.blocked=0.1", "events.ban.blocked=0.2"])
    assert sc.events[0].blocked == 0.2


def test_set_applies_after_extends(write_scenario, parent):
    child = write_scenario(
        "extends: ../base/mini.yaml\nfacilities: {mine_au: {capacity: 2000}}\n", "variants/c.yaml"
    )
    sc = load_scenario(child, ["facilities.mine_au.capacity=15000", "events.ban.blocked=0.5"])
    assert sc.facilities["mine_au"].capacity == 15000.0


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("facilites.mine_au.capacity=1",
         "the top level has no 'facilites' (did you mean 'facilities'?)"),
        ("facilities.mine_aus.capacity=1",
         "facilities has no 'mine_aus' (did you mean 'mine_au'?)"),
        ("facilities.mine_au.capacty=1",
         "facilities.mine_au has no 'capacty' (did you mean 'capacity'?)"),
        ("events.bann.blocked=0.5", "events has no 'bann' (did you mean 'ban'?)"),
        ("events.ban.blockd=0.5", "events.ban has no 'blockd' (did you mean 'blocked'?)"),
        ("polices.reroute_after_days=3", "the top level has no 'polices' (did you mean 'policies'?)"),
        ("horizon.start.day=1", "horizon.start is a value, not a mapping"),
        ("name", "expected PATH=VALUE"),
        ("horizon.end=2026-02-30", "cannot read value '2026-02-30': day is out of range for month"),
        ("name=[a", "cannot read value '[a': expected ',' or ']'"),
        ("name=!!python/object:os.system x", "could not determine a constructor"),
    ],
)
def test_set_unknown_path_is_a_usage_error(write_scenario, mini_yaml, assignment, message):
    path = write_scenario(mini_yaml)
    with pytest.raises(UsageError) as info:
        load_scenario(path, [assignment])
    assert message in str(info.value)
    assert str(info.value).startswith(f"--set {assignment!r}")


def test_set_unknown_path_exits_2(write_scenario, mini_yaml):
    path = write_scenario(mini_yaml)
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", str(path),
         "--set", "facilites.x.capacity=1"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2
    assert "did you mean 'facilities'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_set_invalid_value_is_a_problem_naming_the_assignment(write_scenario, mini_yaml):
    path = write_scenario(mini_yaml)
    problems = problems_of(path, ("events.ban.blocked=2",))
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.line, p.col) == ("--set events.ban.blocked=2", None, None)
    assert p.path == "events[0].blocked"
    assert str(p) == (
        "--set events.ban.blocked=2: events[0].blocked: got 2 "
        "(allowed: a fraction in [0, 1], or a distribution within [0, 1])"
    )
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", str(path), "--set", "events.ban.blocked=2"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2  # the command line is wrong, not the file
    assert r.stderr.splitlines()[0] == str(p)
    assert "Traceback" not in r.stderr


def test_set_nested_value_errors_name_the_assignment(write_scenario, mini_yaml):
    path = write_scenario(mini_yaml)
    assignment = "facilities.magnet_jp.stock={ore: {cover_days: -1}}"
    problems = problems_of(path, (assignment,))
    assert [(p.file, p.line, p.path, p.message) for p in problems] == [
        (f"--set {assignment}", None, "facilities.magnet_jp.stock.ore.cover_days",
         "negative value -1 (allowed: >= 0)")
    ]


def test_provenance_lists_parent_files_by_normalised_paths(tmp_path, monkeypatch):
    # the report's provenance read 'extends: my/../scenarios/controls_2027.yaml'
    from simulator.scenario import scenario_files

    (tmp_path / "scenarios").mkdir()
    (tmp_path / "my").mkdir()
    (tmp_path / "scenarios" / "base.yaml").write_text("reesim: 1\nname: base\n")
    (tmp_path / "my" / "plan.yaml").write_text("reesim: 1\nextends: ../scenarios/base.yaml\nname: plan\n")
    monkeypatch.chdir(tmp_path)
    assert [p for p, _ in scenario_files("my/plan.yaml")] == ["my/plan.yaml", "scenarios/base.yaml"]
