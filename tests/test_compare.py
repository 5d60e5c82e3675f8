"""Paired comparison with common random numbers: exact zeros, variance reduction, headline, CLI."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli

from simulator import load_scenario
from simulator.compare import (
    METRICS,
    Outcome,
    _worst,
    compare_runs,
    differences,
    fmt_tonnes,
    headline,
    outcomes,
    paired_difference,
    run_scenarios,
)
from simulator.engine import simulate
from simulator.network import compile_network

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"
ALLIED = ROOT / "scenarios" / "tutorial_allied.yaml"
HALF_BLOCKED = "events.cn_magnet_licensing.blocked=0.5"


def _stat_keys(s: dict) -> list:  # type: ignore[type-arg]
    return [s["mean"], s["sd"], s["p5"], s["p50"], s["p95"], *s["ci95"]]


# --------------------------------------------------------------------------- exact zeros


def test_self_comparison_gives_exact_zeros() -> None:
    sc = load_scenario(TUTORIAL)
    runs = run_scenarios([("a", sc), ("b", sc)], 24, seed=11)
    cmp = compare_runs(runs)
    diffs = cmp["differences"]["b"]
    assert {"ev_jp", "ev_us", "family:magnets", "bloc:allied"} <= set(diffs)
    for key, by_metric in diffs.items():
        # the reference window's fill is kept per market (a group's window demand is not)
        assert set(by_metric) == set(METRICS) - ({"window_fill"} if ":" in key else set()), key
        for metric, s in by_metric.items():
            if s["n"] == 0:  # every replicate censored in both (e.g. TTS of a market never short)
                assert s["excluded"] == 1.0 and s["mean"] is None, (key, metric)
            else:
                assert all(v == 0.0 for v in _stat_keys(s)), (key, metric, s)
            assert s["p_better"] == 0.0, (key, metric)
    assert "same fill and shortfall" in cmp["headline"][0]


# --------------------------------------------------------------------------- CRN


def test_common_random_numbers_narrow_the_ci_of_paired_differences() -> None:
    base = compile_network(load_scenario(TUTORIAL))
    variant = compile_network(load_scenario(TUTORIAL, [HALF_BLOCKED]))
    R, seed = 60, 7
    a = simulate(base, R, seed)
    same = simulate(variant, R, seed)  # common random numbers
    indep = simulate(variant, R, seed + 1000)  # independent draws
    d_same = differences(outcomes(a, base), outcomes(same, variant))["ev_us"]["unmet_t"]
    d_indep = differences(outcomes(a, base), outcomes(indep, variant))["ev_us"]["unmet_t"]

    def half(s: dict) -> float:  # type: ignore[type-arg]
        return (s["ci95"][1] - s["ci95"][0]) / 2

    assert d_same["mean"] < 0 and d_indep["mean"] < 0  # a softer licence leaves less unmet
    assert half(d_same) < half(d_indep)
    assert half(d_same) < 0.5 * half(d_indep)  # not a marginal gain: CRN removes the shared noise
    # both estimate the same effect
    assert abs(d_same["mean"] - d_indep["mean"]) < 3 * half(d_indep)


# --------------------------------------------------------------------------- units


def test_paired_difference_handles_censoring_and_direction() -> None:
    a = np.array([10.0, 20.0, np.nan, 30.0])
    b = np.array([12.0, 15.0, np.nan, 25.0])
    a_c = np.array([False, False, False, True])
    b_c = np.array([False, True, False, False])
    s = paired_difference(a, b, "tts_days", a_c, b_c)
    assert s["n"] == 1 and s["mean"] == 2.0  # only replicate 0 is uncensored in both
    assert s["excluded"] == 0.75 and s["no_reference"] == 0.25
    # TTS: higher is better; a censored value ranks above every uncensored one
    assert s["p_better"] == pytest.approx(2 / 3)
    u = paired_difference(np.array([5.0, 5.0, 5.0]), np.array([4.0, 5.0, 6.0]), "unmet_t")
    assert u["mean"] == 0.0 and u["p_better"] == pytest.approx(1 / 3) and u["excluded"] == 0.0


def test_group_takes_the_worst_market_with_censoring() -> None:
    x = np.array([[50.0, 80.0], [600.0, 90.0], [600.0, 600.0]])
    c = np.array([[False, False], [True, False], [True, True]])
    tts, tts_c = _worst(x, c, earliest=True)
    np.testing.assert_array_equal(tts, [50.0, 90.0, 600.0])
    np.testing.assert_array_equal(tts_c, [False, False, True])
    ttr, ttr_c = _worst(x, c, earliest=False)
    np.testing.assert_array_equal(ttr, [80.0, 600.0, 600.0])
    np.testing.assert_array_equal(ttr_c, [False, True, True])


def _outcome(unmet: np.ndarray, ttr: np.ndarray, demand: float = 10000.0) -> Outcome:
    R = len(unmet)
    d = np.full(R, demand)
    return Outcome(served=d - unmet, demand=d, max_shortfall=np.full(R, 0.8), tts=np.full(R, 60.0),
                   tts_c=np.zeros(R, bool), ttr=ttr, ttr_c=np.zeros(R, bool), cost=np.zeros(R), days=365.0)


def test_headline_reads_like_a_sentence() -> None:
    import re

    rng = np.random.default_rng(1)
    na, nb = rng.normal(0, 400, 400), rng.normal(0, 200, 400)
    na, nb = na - na.mean(), nb - nb.mean()  # means exactly 2,100 t and 700 t
    base = {"ev_jp": _outcome(2100 + na, np.full(400, 100.0)),
            "ev_us": _outcome(np.full(400, 50.0), np.full(400, 30.0))}
    other = {"ev_jp": _outcome(700 + nb, np.full(400, 60.0)),
             "ev_us": _outcome(np.full(400, 50.0), np.full(400, 30.0))}
    text = headline("baseline", "allied_supply", base, other, differences(base, other))
    m = "\u2212"
    assert re.fullmatch(rf"allied_supply cuts ev_jp's shortfall from 2,100 t to 700 t \({m}67 %, 95 % CI "
                        rf"{m}6\d to {m}6\d %\), recovery 40 days sooner", text), text
    assert headline("baseline", "allied_supply", base, other, differences(base, other), "2025\u20132030").startswith(
        "allied_supply cuts ev_jp's shortfall over 2025\u20132030 from 2,100 t to 700 t")
    worse = headline("baseline", "ban", other, base, differences(other, base))
    assert worse.startswith("ban raises ev_jp's shortfall from 700 t to 2,100 t (+200 %"), worse
    assert worse.endswith("recovery 40 days later")


def test_headline_figures_match_the_tables_and_a_narrow_ci_still_shows_two_bounds() -> None:
    assert [fmt_tonnes(x) for x in (3494.4, 1066.0, 9.6, 4.271, 0.4, -2429.0)] == [
        "3,494 t", "1,066 t", "10 t", "4.27 t", "0 t", "\u22122,429 t"]
    rng = np.random.default_rng(2)
    n = 200
    noise = rng.normal(0.0, 1.0, n)
    noise -= noise.mean()
    base = {"ev_jp": _outcome(3494.0 + 30 * noise, np.full(n, 100.0))}
    # common random numbers: the variant's shortfall moves with the baseline's, the cut is nearly constant
    other = {"ev_jp": _outcome(1066.0 + 30 * noise + 10.0 * rng.normal(0.0, 1.0, n), np.full(n, 100.0))}
    d = differences(base, other)["ev_jp"]["unmet_t"]
    lo, hi = (100 * x / 3494.0 for x in d["ci95"])
    assert 0.02 < hi - lo < 0.2  # a CI that one decimal would show as "-69.5 to -69.5 %"
    text = headline("baseline", "allied", base, other, differences(base, other))
    m = "\u2212"
    got = re.search(rf"from 3,494 t to 1,06\d t \(({m}[\d.]+) %, 95 % CI ({m}[\d.]+) to ({m}[\d.]+) %\)", text)
    assert got, text
    assert all(len(g.split(".")[1]) == 2 for g in got.groups())  # two decimals
    assert got.group(2) != got.group(3)
    same = {"ev_jp": _outcome(3494.0 + 30 * noise - 2428.0, np.full(n, 100.0))}  # the same cut everywhere
    assert "the same in every replicate" in headline("baseline", "allied", base, same, differences(base, same))


def test_headline_when_the_variant_removes_the_shortage() -> None:
    sc, allied = load_scenario(TUTORIAL), load_scenario(ALLIED)
    cmp = compare_runs(run_scenarios([("tutorial", sc), ("tutorial_allied", allied)], 20, seed=7))
    line = cmp["headline"][0]
    # ev_us backorders: its shortfall is served late, not lost (a review read the tonnes as lost)
    assert line.startswith("tutorial_allied removes ev_us's shortfall (tonnes served late, not lost) of 2,1"), line
    assert "t over 2025\u20132026 in tutorial" in line
    assert "no day below 99 % fill in any replicate" in line
    d = cmp["differences"]["tutorial_allied"]["ev_us"]
    assert d["unmet_t"]["mean"] < -2000 and d["unmet_t"]["p_better"] == 1.0
    assert d["fill_rate"]["p_better"] == 1.0 and d["cost_usd"]["mean"] > 0


# --------------------------------------------------------------------------- CLI


def test_cli_compare_writes_summary_timeseries_and_report(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    args = ["compare", str(TUTORIAL), str(ALLIED), "-n", "12", "--seed", "3", "-o", str(out)]
    assert run_cli(args) == 0
    text = capsys.readouterr().out
    assert "tutorial_allied removes ev_us's shortfall" in text and "family:magnets" in text
    s = json.loads((out / "summary.json").read_text())
    assert list(s["scenarios"]) == ["tutorial", "tutorial_allied"]
    assert s["seed"] == 3 and s["replications"] == 12 and s["version"]
    assert s["command"].startswith("reesim compare") and s["run_time_s"] > 0
    paths = {(f["scenario"], Path(f["path"]).name) for f in s["files"]}
    assert {("tutorial", "tutorial.yaml"), ("tutorial_allied", "tutorial_allied.yaml"),
            ("tutorial_allied", "tutorial.yaml")} <= paths  # the parent it extends, too
    assert all(len(f["sha256"]) == 64 for f in s["files"])
    for name, run in s["scenarios"].items():
        assert run["scenario"] == name and run["seed"] == 3 and run["replications"] == 12
        assert {"fill_rate", "unmet_t", "tts_days", "cost_usd"} <= set(run["markets"]["ev_us"])
        assert (out / name / "timeseries.csv").read_text().startswith("time,series,stat,value")
    stat_keys = {"mean", "sd", "p5", "p50", "p95", "ci95", "p_better", "excluded", "no_reference"}
    for key, by_metric in s["differences"]["tutorial_allied"].items():
        assert set(by_metric) == set(METRICS) - ({"window_fill"} if ":" in key else set()), key
        assert all(stat_keys <= set(v) for v in by_metric.values()), key
    assert s["headline"] and (out / "report.html").is_file()


def test_cli_compare_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["compare", str(TUTORIAL)]) == 2  # needs two files
    assert "two or more" in capsys.readouterr().err
    assert run_cli(["compare", str(TUTORIAL), str(tmp_path / "missing.yaml"), "-n", "2"]) == 2  # a usage error
    assert "missing.yaml: no such file" in capsys.readouterr().err
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "--checks", "maybe"]) == 2
    capsys.readouterr()
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "2", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert run_cli(["compare", str(TUTORIAL), str(TUTORIAL), "-n", "4", "-o", str(out), "--force"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert list(s["scenarios"]) == ["tutorial", "tutorial_2"]  # a scenario compared with itself
    assert all(v["mean"] in (0.0, None) for d in s["differences"]["tutorial_2"].values() for v in d.values())


def test_cli_compare_default_folder_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "2"]) == 0
    assert (tmp_path / "reports" / "compare-tutorial-vs-tutorial_allied" / "summary.json").is_file()
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "2"]) == 2  # not empty now


def test_cli_compare_refuses_different_horizons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2 years against 6: the paired differences were printed as if they meant something
    out = tmp_path / "x"
    controls = ROOT / "scenarios" / "controls_2027.yaml"
    assert run_cli(["compare", str(TUTORIAL), str(controls), "-n", "2", "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"reesim: cannot compare {TUTORIAL} (2025-01-01 to 2026-12-31, 1-day steps) with {controls} "
        "(2025-01-01 to 2030-12-31, 1-day steps): paired differences need the same horizon (start, end and "
        "step_days)\n")
    assert not out.exists()  # refused before the folder is made


def test_check_comparable_compares_start_end_and_step() -> None:
    from simulator.compare import check_comparable
    from simulator.exceptions import UsageError

    sc = load_scenario(TUTORIAL)
    check_comparable([("a", sc), ("b", load_scenario(ALLIED))])
    weekly = sc.model_copy(update={"horizon": sc.horizon.model_copy(update={"step_days": 7})})
    with pytest.raises(UsageError, match=r"^cannot compare a \(2025-01-01 to 2026-12-31, 1-day steps\) with c "
                                         r"\(2025-01-01 to 2026-12-31, 7-day steps\)"):
        check_comparable([("a", sc), ("b", sc), ("c", weekly)])


def test_cli_compare_says_which_markets_it_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    more = tmp_path / "more.yaml"
    more.write_text(f"""reesim: 1
extends: {TUTORIAL}
name: tutorial_more
markets:
  wind_us: {{region: US, sector: wind, demand: {{magnet: {{rate: 1000}}}}}}
links:
  - {{from: magnet_cn, to: wind_us, product: magnet, lead_days: 35}}
""", encoding="utf-8")
    out = tmp_path / "cmp"
    assert run_cli(["compare", str(more), str(TUTORIAL), str(ALLIED), "-n", "2", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert (f"markets compared: the 2 in every scenario (ev_jp, ev_us); left out: 1 of {more}, 0 of {TUTORIAL}, "
            f"0 of {ALLIED}\n") in err
    assert json.loads((out / "summary.json").read_text())["markets"] == ["ev_jp", "ev_us"]
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "2", "-o", str(out), "--force"]) == 0
    assert "markets compared" not in capsys.readouterr().err  # the same markets: nothing to say


def test_cli_compare_refuses_scenarios_without_a_shared_market(tmp_path: Path, mini_yaml: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(mini_yaml, encoding="utf-8")
    b.write_text(mini_yaml.replace("ev_jp", "ev_de"), encoding="utf-8")
    assert run_cli(["compare", str(a), str(b), "-n", "2", "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == f"reesim: cannot compare {a} and {b}: no market is in every one of them\n"


def test_cli_report_needs_a_results_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["report", str(tmp_path)]) == 2
    assert "no summary.json" in capsys.readouterr().err
    assert run_cli(["report", str(tmp_path / "typo")]) == 2  # a review read 'has no summary.json' for a typo
    assert f"{tmp_path / 'typo'}: no such folder" in capsys.readouterr().err
    (tmp_path / "sweep.json").write_text("{}")  # a sweep folder: said, with the command that re-renders it
    assert run_cli(["report", str(tmp_path)]) == 2
    assert "is a sweep folder; its report is re-rendered by 'reesim sweep SWEEP_FILE" in capsys.readouterr().err


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run folder and a compare folder of the tutorial (2 replicates), to copy and damage."""
    base = tmp_path_factory.mktemp("results")
    assert run_cli(["run", str(TUTORIAL), "-n", "2", "-o", str(base / "run")]) == 0
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "2", "-o", str(base / "cmp")]) == 0
    return {"run": base / "run", "cmp": base / "cmp"}


RERUN = "re-run the command that wrote the folder"
NOT_A_SUMMARY = "not a summary written by reesim run or reesim compare"


@pytest.mark.parametrize(("text", "why"), [
    ('{"bad\n', "not valid JSON (line 1, column 6)"),
    ("", "not valid JSON (line 1, column 1)"),
    ("{}", f"{NOT_A_SUMMARY} (no markets)"),
    ("[]", f"{NOT_A_SUMMARY} (it holds an array, not an object)"),
    ('{"scenarios": [1]}', f"{NOT_A_SUMMARY} ('scenarios' is not an object of scenarios)"),
    ('{"scenarios": {"a": {}}}', f"{NOT_A_SUMMARY} (no scenarios.a.markets)"),
])
def test_cli_report_refuses_a_damaged_summary_without_a_traceback(
        results: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, why: str) -> None:
    folder = tmp_path / "run"
    shutil.copytree(results["run"], folder)
    (folder / "summary.json").write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert run_cli(["report", str(folder)]) == 1  # a damaged results folder, like an invalid scenario file
    assert capsys.readouterr().err == f"reesim: {folder}/summary.json: {why}; {RERUN}\n"


@pytest.mark.parametrize(("kind", "csv"), [("run", "timeseries.csv"), ("cmp", "tutorial_allied/timeseries.csv")])
def test_cli_report_refuses_a_folder_without_its_timeseries(
        results: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, csv: str) -> None:
    # drawn without it, the report said the tutorial had no stockpiles
    folder = tmp_path / kind
    shutil.copytree(results[kind], folder)
    (folder / csv).unlink()
    (folder / "report.html").unlink()
    capsys.readouterr()
    assert run_cli(["report", str(folder)]) == 1
    assert capsys.readouterr().err == (f"reesim: {folder}/{csv}: no such file; the report needs it as well as "
                                       f"summary.json; {RERUN}\n")
    assert not (folder / "report.html").exists()


def test_cli_report_names_a_damaged_timeseries(results: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    shutil.copytree(results["run"], folder)
    (folder / "timeseries.csv").write_text("time,series,stat,value\n2025-01-07,fill:ev_jp,p5,x\n")
    capsys.readouterr()
    assert run_cli(["report", str(folder)]) == 1
    assert capsys.readouterr().err == (f"reesim: {folder}: cannot read its results (ValueError: could not convert "
                                       f"string to float: 'x'); {RERUN}\n")
    shutil.copy(results["run"] / "timeseries.csv", folder / "timeseries.csv")  # repaired: the report is drawn
    assert run_cli(["report", str(folder)]) == 0
    assert capsys.readouterr().out == f"wrote {folder}/report.html\n"


def test_cli_output_folder_that_is_a_file_or_cannot_be_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # refused before the run, with the folder named, never a traceback; --force does not replace a file
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for cmd in (["run", str(TUTORIAL), "-n", "2"], ["compare", str(TUTORIAL), str(ALLIED), "-n", "2"],
                ["sweep", str(TUTORIAL), "--param", "facilities.mine_cn.capacity=1000:2000", "--method", "lhs",
                 "--samples", "2", "-n", "2"]):
        for force in ([], ["--force"]):
            assert run_cli([*cmd, "-o", str(afile), *force]) == 2
            assert f"{afile} exists and is not a folder" in capsys.readouterr().err
    assert afile.read_text() == "mine"
    blocked = afile / "sub"  # a folder inside a file cannot be made
    assert run_cli(["run", str(TUTORIAL), "-n", "2", "-o", str(blocked)]) == 2
    assert f"cannot make the output folder {blocked}" in capsys.readouterr().err


def test_unknown_backend_in_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "REESIM_BACKEND": "numbaa"}
    out = subprocess.run([sys.executable, "-m", "simulator", "run", str(TUTORIAL), "-n", "2", "-o", str(tmp_path / "x")],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 2, out.stderr
    assert "REESIM_BACKEND='numbaa': unknown backend 'numbaa': use native, numba, numpy or auto" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_unknown_scheduler_lists_none_where_it_is_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["run", str(TUTORIAL)], ["compare", str(TUTORIAL), str(ALLIED)]):
        assert run_cli([*cmd, "-n", "2", "--scheduler", "bogus", "-o", str(tmp_path / "x")]) == 2
        assert capsys.readouterr().err == ("reesim: --scheduler 'bogus': allowed: local, none (this process), "
                                           "tcp://HOST:PORT (a running Dask scheduler)\n")  # no blank line first
        assert not (tmp_path / "x").exists()  # said before the folder is made


def test_substituted_demand_is_a_paired_difference_and_a_column_beside_unmet(capsys: pytest.CaptureFixture[str]) -> None:
    """Less unmet demand can be demand given up: the differences carry the substituted tonnes (per replicate,
    paired), and the terminal table shows them beside Δ unmet only when some scenario substitutes."""
    from rich.console import Console

    from simulator.cli_compare import _print_differences

    n = 50
    base = {"ev_jp": _outcome(np.full(n, 900.0), np.full(n, 100.0))}
    sub = np.linspace(100.0, 300.0, n)  # 200 t on average, given up by the variant only
    other = {"ev_jp": Outcome(**{**vars(_outcome(np.full(n, 600.0), np.full(n, 100.0))), "substituted": sub})}
    d = differences(base, other)["ev_jp"]
    assert d["substituted_t"]["mean"] == pytest.approx(200.0) and d["unmet_t"]["mean"] == pytest.approx(-300.0)
    assert d["substituted_t"]["sd"] == pytest.approx(float(np.std(sub, ddof=1)))

    def table(diffs: dict[str, Any]) -> str:
        runs = {"a": {"markets": {"ev_jp": {"unmet_t": {"mean": 900.0}}}},
                "b": {"markets": {"ev_jp": {"unmet_t": {"mean": 600.0}}}}}
        summary = {"differences": {"b": diffs}, "scenarios": runs, "replications": n, "seed": 1}
        console = Console(width=400, record=True)
        _print_differences(console, summary, "a", "b")
        return " ".join(console.export_text().split())  # the caption wraps at the table's width

    shown = table({"ev_jp": d})
    assert "Δ subst. t" in shown and "+200 ±" in shown and "not counted as unmet" in shown
    plain = differences(base, {"ev_jp": _outcome(np.full(n, 600.0), np.full(n, 100.0))})
    assert "Δ subst. t" not in table(plain)
    same = differences(base, base)
    assert "no change" in table(same) and "−0" not in table(same) and "+0 " not in table(same)


def test_compare_names_the_file_a_refused_set_value_was_applied_to(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["compare", str(TUTORIAL), str(ALLIED), "-n", "2", "-o", str(tmp_path / "o"),
            "--set", "facilities.sep_my.capacity=-5"]
    assert run_cli(args) == 2  # the command line is wrong, not the files
    err = capsys.readouterr().err
    assert err.startswith(f"{TUTORIAL}: --set facilities.sep_my.capacity=-5: facilities.sep_my.capacity: got -5")
    assert not (tmp_path / "o").exists()


def test_force_replaces_an_earlier_comparison_and_keeps_other_files(tmp_path: Path) -> None:
    """A review ran a tutorial run with --force into a comparison's folder: the comparison's per-scenario
    folders and difference table stayed beside the new results, as if part of them."""
    out = tmp_path / "out"
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "8", "-o", str(out)]) == 0
    assert (out / "tutorial_allied" / "timeseries.csv").is_file()
    assert (out / "tables" / "differences_tutorial_allied.csv").is_file()
    (out / "my notes.txt").write_text("mine")
    (out / "tables" / "my_analysis.csv").write_text("my,data\n")  # a review's: the user's own files stay
    (out / "design.csv").write_text("x,y\n")
    (out / "kept_baseline").mkdir()
    (out / "kept_baseline" / "timeseries.csv").write_text((out / "tutorial" / "timeseries.csv").read_text())
    assert run_cli(["run", str(TUTORIAL), "-n", "8", "-o", str(out)]) == 2  # refused without --force
    assert (out / "tutorial_allied").is_dir()
    assert run_cli(["run", str(TUTORIAL), "-n", "8", "-o", str(out), "--force"]) == 0
    assert not (out / "tutorial_allied").exists() and not (out / "tutorial").exists()
    assert not (out / "tables" / "differences_tutorial_allied.csv").exists()
    assert (out / "timeseries.csv").is_file() and (out / "report.html").is_file()
    assert json.loads((out / "summary.json").read_text())["scenario"] == "tutorial"
    assert (out / "my notes.txt").read_text() == "mine"
    assert (out / "tables" / "my_analysis.csv").is_file() and (out / "design.csv").is_file()
    assert (out / "kept_baseline" / "timeseries.csv").is_file()


def test_the_difference_in_the_reference_windows_fill_is_paired_per_market(tmp_path: Path) -> None:
    # a review: 'Δ fill rate +5 pp' for ev_jp over 2025-2030 diluted +33 pp inside 2027's controls
    sc, allied = load_scenario(TUTORIAL), load_scenario(ALLIED)
    runs = run_scenarios([("tutorial", sc), ("tutorial_allied", allied)], 16, seed=7)
    cmp = compare_runs(runs)
    ref = runs[0].result.reference_event
    m = runs[0].result.markets.index("ev_us")
    want = runs[1].result.window_fill[ref][:, m] - runs[0].result.window_fill[ref][:, m]
    got = cmp["differences"]["tutorial_allied"]["ev_us"]["window_fill"]
    assert got["mean"] == pytest.approx(float(want.mean()))
    assert got["p_better"] == pytest.approx(float((want > 0).mean()))
    assert "window_fill" not in cmp["differences"]["tutorial_allied"]["family:magnets"]  # kept per market
    out = tmp_path / "c"
    assert run_cli(["compare", str(TUTORIAL), str(ALLIED), "-n", "16", "--seed", "7", "-o", str(out)]) == 0
    rows = {r["market / group"]: r for r in csv.DictReader(
        (out / "tables" / "differences_tutorial_allied.csv").open(encoding="utf-8"))}
    assert float(rows["ev_us"][f"Δ fill in {ref} pp"]) == pytest.approx(100 * float(want.mean()))
    assert rows["family:magnets"][f"Δ fill in {ref} pp"] == "—"
    # what the answer rests on: the first scenario's assumptions, then what the plan adds (a review found the
    # controls' severity, stockpile sizes and plant dates nowhere in the report)
    text = (out / "report.html").read_text(encoding="utf-8")
    rests = text[text.index("<section id='assumptions'>"):].split("</section>")[0]
    assert "75 % withheld of magnet from CN to all but CN; 2025-04-04 to 2025-09-30" in rests
    assert "tutorial_allied: what it adds or changes" in rests and "magnet_us (US, component)" in rests
    # and what it changes beyond events and plants: capacities and links (a final review found them missing)
    assert "mine_au 15,000 → 20,000, sep_my 12,000 → 16,000" in rests
    assert "3 added" in rests and "magnet_us&gt;ev_jp:magnet" in rests
