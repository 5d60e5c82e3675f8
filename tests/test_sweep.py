"""Sweeps: SALib designs, sensitivity indices, executors, resumable writing, the CLI."""

from __future__ import annotations

import builtins
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from simulator.exceptions import ScenarioError, UsageError
from simulator.executors import DaskExecutor, make_executor
from simulator.sensitivity import analyse, drivers_sentence, grid_first_order
from simulator.sweep import (
    SweepSpec,
    design,
    parse_metric,
    parse_param,
    point_count,
    run_sweep,
    sweep_points,
)

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"
#: Five assumptions of the tutorial: stockpile, blocked fraction, re-routing, allied capacity, event end date.
PARAMS = ("stockpiles.jogmec.holds.ndpr_oxide.initial=100:1000",
          "events.cn_magnet_licensing.blocked=0.3:1.0",
          "policies.reroute_after_days=20:120",
          "facilities.sep_my.capacity=8000:16000",
          "events.cn_magnet_licensing.end=2025-06-15:2025-08-15")
SHORT = ("horizon.end=2025-08-31",)  # eight months: a point takes about 0.1 s


def _spec(**kw: object) -> SweepSpec:
    base: dict[str, object] = {
        "file": TUTORIAL, "params": tuple(parse_param(p) for p in PARAMS), "method": "morris", "samples": 2,
        "replications": 3, "seed": 11, "sets": SHORT,
        "metrics": (parse_metric("ev_jp.unmet_t"), parse_metric("family:magnets.ttr_days"))}
    base.update(kw)
    return SweepSpec(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- designs


@pytest.mark.parametrize(("method", "k", "samples", "n"), [
    ("morris", 5, 4, 24), ("morris", 2, 3, 9), ("sobol", 3, 8, 40), ("sobol", 5, 16, 112),
    ("grid", 2, 3, 9), ("grid", 3, 2, 8), ("lhs", 4, 7, 7),
])
def test_designs_have_the_expected_point_counts(method: str, k: int, samples: int, n: int) -> None:
    X = design(method, k, samples, seed=3)
    assert X.shape == (n, k) == (point_count(method, k, samples), k)
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert np.array_equal(X, design(method, k, samples, seed=3))  # seeded: the same design again
    allx = sweep_points(method, k, samples, seed=3)
    assert allx.shape == (n + 2 * k + 1, k)  # plus the tornado's one-at-a-time points
    assert np.all(allx[n] == 0.5) and allx[n + 1, 0] == 0.0 and allx[n + 2, 0] == 1.0


def test_morris_levels_and_grid_cover_the_ends() -> None:
    X = design("morris", 3, 6, seed=1)
    assert set(np.round(np.unique(X), 9)) <= {0.0, round(1 / 3, 9), round(2 / 3, 9), 1.0}
    G = design("grid", 2, 3, seed=0)
    assert sorted(map(tuple, G)) == [(a, b) for a in (0.0, 0.5, 1.0) for b in (0.0, 0.5, 1.0)]


@pytest.mark.parametrize(("method", "k", "samples", "msg"), [
    ("sobol", 3, 50, "power of two; use 32 or 64"), ("morris", 1, 4, "two or more parameters"),
    ("latin", 2, 4, "allowed: morris, sobol, grid, lhs"), ("lhs", 0, 4, "at least one --param"),
])
def test_bad_designs_are_refused_with_the_fix(method: str, k: int, samples: int, msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        design(method, k, samples, seed=0)


# --------------------------------------------------------------------------- parameters and metrics


def test_parameters_map_unit_coordinates_onto_their_ranges() -> None:
    f = parse_param("events.x.blocked=0.3:1.0")
    assert (f.kind, f.text(0.0), f.text(0.5), f.text(1.0)) == ("float", "0.3", "0.65", "1.0")
    i = parse_param("stockpiles.j.holds.ndpr_oxide.initial=100:1000")
    assert (i.kind, i.text(1 / 3), i.label) == ("int", "400", "j initial ndpr_oxide [t]")
    d = parse_param("facilities.sep_my.online=2026-01-01:2028-01-01")
    assert (d.kind, d.text(0.5), d.text(1.0)) == ("date", "2027-01-01", "2028-01-01")
    assert d.assignment(0.0) == "facilities.sep_my.online=2026-01-01"


@pytest.mark.parametrize(("text", "msg"), [
    ("events.x.blocked", "expected PATH=LOW:HIGH"), ("events.x.blocked=0.3", "expected LOW:HIGH"),
    ("events.x.blocked=1:0.5", "LOW (1) must be below HIGH (0.5)"), ("a..b=1:2", "empty part"),
    ("x.online=2026-01-01:5", "both ends as dates"), ("x.online=2026-02-30:2026-03-01", "not a date"),
    ("x.y=low:high", "neither a number nor a date"),
])
def test_bad_parameters_say_what_is_wrong(text: str, msg: str) -> None:
    with pytest.raises(UsageError, match=re.escape(msg)):
        parse_param(text)


def test_bad_metrics_say_what_is_allowed() -> None:
    assert parse_metric("family:magnets.fill_rate").column == "family:magnets.fill_rate"
    with pytest.raises(UsageError, match="did you mean 'unmet_t'"):
        parse_metric("ev_jp.unmet")
    with pytest.raises(UsageError, match="did you mean 'ev_jp'"):
        parse_metric("ev_j.unmet_t", ["ev_jp", "ev_us"])


# --------------------------------------------------------------------------- sensitivity on known functions


def test_sobol_indices_of_the_ishigami_function() -> None:
    from SALib.test_functions import Ishigami

    X = design("sobol", 3, 1024, seed=5)
    Y = Ishigami.evaluate(-np.pi + 2 * np.pi * X)  # SALib's own test function on [-pi, pi]^3
    a = analyse("sobol", X, Y, ["x1", "x2", "x3"], seed=5)
    a1 = 7.0 ** 2 / 8.0
    var = a1 + 0.1 * np.pi ** 4 / 5 + 0.01 * np.pi ** 8 / 18 + 0.5
    s1 = [(0.5 * (1 + 0.1 * np.pi ** 4 / 5) ** 2) / var, a1 / var, 0.0]
    st = [s1[0] + (8 * 0.1 ** 2 * np.pi ** 8 / 225) / var, s1[1], (8 * 0.1 ** 2 * np.pi ** 8 / 225) / var]
    for j, n in enumerate(["x1", "x2", "x3"]):
        assert a["indices"][n]["S1"] == pytest.approx(s1[j], abs=0.06)
        assert a["indices"][n]["ST"] == pytest.approx(st[j], abs=0.06)
        assert a["indices"][n]["ST_conf"] > 0
    assert a["ranking"] == ["x1", "x2", "x3"]  # by total order


def test_morris_and_grid_indices_of_a_linear_metric() -> None:
    coef = np.array([3.0, -1.0, 0.0])
    X = design("morris", 3, 8, seed=2)
    a = analyse("morris", X, X @ coef, ["a", "b", "c"], seed=2)
    # an elementary effect is the change over the whole range: the coefficient itself
    assert [a["indices"][n]["mu_star"] for n in "abc"] == pytest.approx([3.0, 1.0, 0.0])
    assert [a["indices"][n]["mu"] for n in "abc"] == pytest.approx([3.0, -1.0, 0.0])
    assert [a["indices"][n]["sigma"] for n in "abc"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    G = design("grid", 3, 3, seed=0)
    assert grid_first_order(G, G @ coef) == pytest.approx(coef ** 2 / np.sum(coef ** 2))
    line = drivers_sentence("toy [t]", "unmet_t", "morris", a, {"a": "alpha", "b": "beta"})
    assert line.startswith("Top two drivers of toy [t]: alpha (μ* 3")
    assert "alpha (μ* 3.00 t ±0; higher values raise it)" in line
    assert "beta (μ* 1.00 t ±0; higher values lower it)" in line
    assert "the other parameter has no effect over its range" in line  # c's coefficient is 0: none, not 'hardly'


def test_a_screen_of_few_trajectories_says_it_is_rough() -> None:
    # μ* from two elementary effects per parameter can miss what the one-at-a-time tornado on the same
    # page shows, so with two trajectories the sentence calls no parameter negligible and says why
    X = design("morris", 3, 2, seed=2)
    a = analyse("morris", X, X @ np.array([3.0, -1.0, 0.0]), ["a", "b", "c"], seed=2)
    assert a["trajectories"] == 2
    line = drivers_sentence("toy [t]", "unmet_t", "morris", a, {})
    assert "hardly" not in line and "the other parameter matters less" in line
    assert line.endswith("; 2 trajectories make this a rough screen (the tornado shows each parameter's effect alone).")


def test_a_sobol_analysis_of_few_base_samples_says_it_is_rough() -> None:
    # a review's N = 16 called a parameter with S_T 0.52 at N = 256 one that 'hardly matters'
    X = design("sobol", 3, 16, seed=2)
    a = analyse("sobol", X, X @ np.array([3.0, -1.0, 0.2]), ["a", "b", "c"], seed=2)
    assert a["base_samples"] == 16
    line = drivers_sentence("toy [t]", "unmet_t", "sobol", a, {})
    assert "with 16 base samples the indices are a rough screen" in line and "hardly" not in line
    big = analyse("sobol", design("sobol", 3, 64, seed=2), design("sobol", 3, 64, seed=2) @ np.array([3.0, -1.0, 0.2]),
                  ["a", "b", "c"], seed=2)
    assert "rough" not in drivers_sentence("toy [t]", "unmet_t", "sobol", big, {})


def test_constant_and_undefined_metrics_are_reported_not_analysed() -> None:
    X = design("morris", 2, 4, seed=0)
    a = analyse("morris", X, np.full(len(X), 5.0), ["a", "b"], seed=0)
    assert "same at every point" in drivers_sentence("m", "unmet_t", "morris", a, {})
    b = analyse("morris", X, np.where(np.arange(len(X)) == 2, np.nan, 1.0), ["a", "b"], seed=0)
    assert not b["ok"] and "no value at 1 of" in b["note"]


# --------------------------------------------------------------------------- sweeps on the tutorial


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete 5-parameter Morris sweep of the tutorial on a local pool of one worker."""
    out = tmp_path_factory.mktemp("sweep") / "local"
    ex = make_executor("local", workers=1)
    try:
        res = run_sweep(_spec(), out, ex)
    finally:
        ex.close()
    assert res.complete and res.new == res.n_points == 2 * 6 + 11
    return out


def test_sweep_writes_points_with_the_values_applied(reference: Path) -> None:
    lines = (reference / "points.csv").read_text().splitlines()
    head = lines[0].split(",")
    assert head[:6] == ["point", *(p.split("=")[0] for p in PARAMS)]
    assert head[6:] == ["ev_jp.unmet_t", "ev_jp.unmet_t.sd", "family:magnets.ttr_days",
                        "family:magnets.ttr_days.sd", "family:magnets.ttr_days.censored"]
    assert [int(r.split(",")[0]) for r in lines[1:]] == list(range(23))
    mid = lines[1 + 12].split(",")  # the first tornado point: every parameter mid-range
    assert mid[1:6] == ["550", "0.65", "70", "12000", "2025-07-15"]
    meta = json.loads((reference / "sweep.json").read_text())
    assert meta["complete"] and meta["n_design"] == 12 and meta["runs"][0]["points"] == 23
    sens = json.loads((reference / "sensitivity.json").read_text())
    assert set(sens["metrics"]) == {"ev_jp.unmet_t", "family:magnets.ttr_days"}
    assert sens["metrics"]["ev_jp.unmet_t"]["sentence"].startswith("Top ")


def test_points_are_identical_on_a_dask_cluster_of_two_workers(reference: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        ex = DaskExecutor(client=client)
        assert ex.workers == 2
        res = run_sweep(_spec(), tmp_path, ex)
        # the command line, connecting to the cluster's scheduler by its address
        sp = _spec()
        args = ["sweep", str(TUTORIAL), "-o", str(tmp_path / "cli"), "--scheduler", cluster.scheduler_address,
                "--samples", "2", "-n", "3", "--seed", "11", "--set", SHORT[0],
                "--metric", "ev_jp.unmet_t", "--metric", "family:magnets.ttr_days"]
        assert run_cli(args + [x for p in sp.params for x in ("-p", p.spec)]) == 0
    assert (tmp_path / "cli" / "points.csv").read_bytes() == (reference / "points.csv").read_bytes()
    assert res.complete
    assert (tmp_path / "points.csv").read_bytes() == (reference / "points.csv").read_bytes()
    assert (tmp_path / "design.csv").read_bytes() == (reference / "design.csv").read_bytes()
    where = {line.split(",")[2] for line in (tmp_path / "timings.csv").read_text().splitlines()[1:]}
    assert len(where) == 2  # both workers ran points


def test_resume_runs_exactly_the_missing_points(reference: Path, tmp_path: Path) -> None:
    ex = make_executor("local", workers=2)
    try:
        first = run_sweep(_spec(), tmp_path, ex, max_points=9)
        assert (first.done, first.new, first.complete) == (9, 9, False)
        with (tmp_path / "points.csv").open("a") as fh:
            fh.write("9,550,0.6")  # a line cut off by a kill mid-write
        second = run_sweep(_spec(), tmp_path, ex, resume=True)
    finally:
        ex.close()
    assert (second.done, second.new, second.complete) == (23, 14, True)
    assert (tmp_path / "points.csv").read_bytes() == (reference / "points.csv").read_bytes()
    ran = [int(line.split(",")[0]) for line in (tmp_path / "timings.csv").read_text().splitlines()[1:]]
    assert sorted(ran) == list(range(23))  # every point ran once
    meta = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["points"] for r in meta["runs"]] == [9, 14] and meta["complete"]


def test_resume_refuses_a_different_sweep(reference: Path, tmp_path: Path) -> None:
    ex = make_executor("local", workers=1)
    try:
        run_sweep(_spec(), tmp_path, ex, max_points=1)
        with pytest.raises(UsageError, match=r"holds a different sweep: replications \(3 there, 4 now\)"):
            run_sweep(_spec(replications=4), tmp_path, ex, resume=True)
        with pytest.raises(UsageError, match="--resume to continue"):
            run_sweep(_spec(), tmp_path, ex)
    finally:
        ex.close()


def test_bad_parameter_paths_and_values_are_located(tmp_path: Path) -> None:
    ex = make_executor("local", workers=1)
    try:
        bad_path = _spec(params=(parse_param("events.cn_magnet_licensing.blokced=0.3:1.0"),
                                 parse_param(PARAMS[0])))
        with pytest.raises(UsageError, match=r"--param .*has no 'blokced' \(did you mean 'blocked'\?\)"):
            run_sweep(bad_path, tmp_path / "a", ex)
        bad_value = _spec(params=(parse_param("events.cn_magnet_licensing.blocked=0.3:1.5"),
                                  parse_param(PARAMS[0])))
        with pytest.raises(ScenarioError) as err:
            run_sweep(bad_value, tmp_path / "b", ex)
        assert "--set events.cn_magnet_licensing.blocked=1.5" in str(err.value)
    finally:
        ex.close()


# --------------------------------------------------------------------------- the command line


def test_cli_sweep_from_a_sweep_file_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "sweep.yaml"
    f.write_text(f"""reesim: 1
sweep:
  scenario: {TUTORIAL}
  method: lhs
  samples: 6
  replications: 2
  seed: 3
  metrics: [ev_jp.unmet_t]
  sets: [{SHORT[0]}]
  params:
    - events.cn_magnet_licensing.blocked=0.3:1.0
    - {{path: stockpiles.jogmec.holds.ndpr_oxide.initial, low: 100, high: 1000, label: 'JOGMEC NdPr stock [t]'}}
  workers: 2
""")
    out = tmp_path / "out"
    assert run_cli(["sweep", str(f), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Top " in text and "points/min" in text
    page = (out / "report.html").read_text()
    assert "Tornado: ev_jp unmet demand [t]" in page and "JOGMEC NdPr stock [t]" in page
    assert (out / "figures" / "tornado_ev_jp_unmet_t.png").is_file()
    assert run_cli(["sweep", str(out), "--resume"]) == 0  # a finished sweep: re-analysed and re-rendered


def test_cli_sweep_errors_exit_without_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["sweep", str(TUTORIAL), "--set", SHORT[0], "-n", "2", "-o", str(tmp_path / "o")]
    assert run_cli([*args, "-p", "events.cn_magnet_licensing.blokced=0.3:1", "-p", PARAMS[0]]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'blocked'" in err and "Traceback" not in err
    assert run_cli([*args, "-p", "events.cn_magnet_licensing.blocked=0.3:2", "-p", PARAMS[0]]) == 2  # a bad bound
    err = capsys.readouterr().err
    assert "--set events.cn_magnet_licensing.blocked=2" in err and "Traceback" not in err
    assert run_cli([*args, "-p", PARAMS[0], "-p", PARAMS[1], "--metric", "ev_jp.unmet"]) == 2
    assert "did you mean 'unmet_t'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("sweep:\n  scenario: nowhere.yaml\n  params: [a.b=1:2]\n  metod: sobol\n")
    assert run_cli(["sweep", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:4:3: sweep.metod:" in err and "sweep.scenario" in err
    real_import = builtins.__import__

    def no_dask(name: str, *a: object, **k: object) -> object:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real_import(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_dask)
    assert run_cli([*args, "-p", PARAMS[0], "-p", PARAMS[1], "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "pip install 'reesim[dist]'" in capsys.readouterr().err
    assert run_cli([*args, "-p", PARAMS[0], "-p", PARAMS[1], "--scheduler", "spark"]) == 2
    assert "allowed: local, tcp://HOST:PORT" in capsys.readouterr().err


def test_cli_sweep_checks_each_param_before_counting_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a lone --param with a typo said 'morris needs two or more parameters' first
    out = tmp_path / "o"
    args = ["sweep", str(TUTORIAL), "-n", "2", "-o", str(out)]
    typo = "events.cn_magnet_licensing.blockd=0.3:1.0"
    said = ("reesim: --param 'events.cn_magnet_licensing.blockd=0.3': events.cn_magnet_licensing has no 'blockd' "
            f"(did you mean 'blocked'?) (from --param '{typo}')\n")
    for more in ([], ["-p", PARAMS[0]]):
        assert run_cli([*args, "-p", typo, *more]) == 2
        assert capsys.readouterr().err == said
        assert not out.exists()  # refused before the folder is made
    assert run_cli([*args, "-p", "events.cn_magnet_licensing.blocked=0.3:2", "-p", PARAMS[0]]) == 2  # a bad end
    assert capsys.readouterr().err.startswith("--set events.cn_magnet_licensing.blocked=2")
    assert not out.exists()
    assert run_cli([*args, "-p", PARAMS[1]]) == 2  # a good one: now the count
    assert capsys.readouterr().err == "reesim: --method morris needs two or more parameters (got 1); use grid or lhs for one\n"
    assert not out.exists()


def test_cli_sweep_that_fails_leaves_no_folder_it_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", str(TUTORIAL), "--set", SHORT[0], "-p", PARAMS[1], "--method", "lhs", "--samples", "2", "-n", "2"]
    out = tmp_path / "a" / "b"
    assert run_cli([*args, "--scheduler", "spark", "-o", str(out)]) == 2
    assert capsys.readouterr().err == "reesim: --scheduler 'spark': allowed: local, tcp://HOST:PORT (a running Dask scheduler)\n"
    assert not (tmp_path / "a").exists()
    assert run_cli([*args, "--metric", "ev_xx.unmet_t", "-o", str(out)]) == 2  # found once the folder is made
    assert capsys.readouterr().err.endswith("reesim: --metric 'ev_xx.unmet_t': the scenario has no market or group "
                                            "'ev_xx' (did you mean 'ev_us'?)\n")
    assert not (tmp_path / "a").exists()  # both folders it made are gone again
    out.mkdir(parents=True)  # a folder that was there stays, empty or not
    assert run_cli([*args, "--metric", "ev_xx.unmet_t", "-o", str(out)]) == 2
    assert out.is_dir() and not any(out.iterdir())
    assert run_cli([*args, "--metric", "ev_xx.unmet_t", "-o", str(out / "c")]) == 2
    assert out.is_dir() and not (out / "c").exists()


def test_cli_sweep_says_interrupted_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.sweep

    def ctrl_c(spec: object, outdir: Path, *a: object, progress: object = None, **k: object) -> None:
        (outdir / "sweep.json").write_text("{}")  # as io_.prepare writes it before the first point
        progress(3, 35)  # type: ignore[operator]
        raise KeyboardInterrupt

    monkeypatch.setattr(simulator.sweep, "run_sweep", ctrl_c)
    out = tmp_path / "o"
    assert run_cli(["sweep", str(TUTORIAL), "-p", PARAMS[0], "-p", PARAMS[1], "-n", "2", "-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.endswith(f"reesim: interrupted; 3 of 35 points are saved in {out}/points.csv; continue with:\n"
                        f"  reesim sweep {out} --resume\n")
    assert err.count("interrupted") == 1

    def early(*a: object, **k: object) -> None:  # Ctrl-C while the scenario is checked: no sweep.json yet
        raise KeyboardInterrupt

    monkeypatch.setattr(simulator.sweep, "run_sweep", early)
    out2 = tmp_path / "o2"
    assert run_cli(["sweep", str(TUTORIAL), "-p", PARAMS[0], "-p", PARAMS[1], "-n", "2", "-o", str(out2)]) == 130
    err = capsys.readouterr().err
    assert err.endswith("reesim: interrupted before the first point; nothing was saved\n") and "--resume" not in err
    assert not out2.exists()  # the empty folder it made is gone


def test_points_parquet_matches_points_csv(reference: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from simulator.sweep_io import write_parquet

    out = write_parquet(reference)
    assert out is not None
    df = pd.read_parquet(out)
    assert list(df["point"]) == list(range(23))
    assert df["events.cn_magnet_licensing.blocked"].dtype == float
    assert df["events.cn_magnet_licensing.end"].iloc[12] == "2025-07-15"


def test_resume_from_a_damaged_sweep_record_is_one_line_not_a_traceback(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sw"
    folder.mkdir()
    (folder / "sweep.json").write_text('{"bad')
    assert run_cli(["sweep", str(folder), "--resume"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"reesim: {folder / 'sweep.json'}: not valid JSON (line 1, column ") and "Traceback" not in err
    (folder / "sweep.json").write_text("{}")
    assert run_cli(["sweep", str(folder), "--resume"]) == 1
    assert "not a sweep record written by reesim sweep (KeyError: 'params')" in capsys.readouterr().err


def test_sweep_metrics_are_the_comparison_metrics_each_with_a_label() -> None:
    from simulator.compare import METRICS
    from simulator.sweep_params import METRIC_LABELS, METRIC_NAMES, parse_metric

    assert set(METRIC_NAMES) == set(METRICS) == set(METRIC_LABELS)
    assert parse_metric("ev_jp.substituted_t").metric == "substituted_t"  # was refused: 'allowed: ...'


def test_sweep_sentences_give_each_metric_its_unit() -> None:
    from simulator.sensitivity import fmt_metric

    assert [fmt_metric(9717.0, m) for m in ("unmet_t", "substituted_t", "ttr_days", "lost_days")] == [
        "9,717 t", "9,717 t", "9,717 d", "9,717 d"]  # substituted_t read '9,717 d'


def test_sweep_sentence_gives_a_cost_interval_in_the_scale_of_its_mean() -> None:
    from simulator.sensitivity import index_text

    # the sentence read 'μ* USD 435.5 M ±USD' (the first word of 'USD 8.9 M')
    assert index_text("morris", {"mu_star": 435.5e6, "mu_star_conf": 8.9e6}, "cost_usd") == "μ* USD 435.5 M ±8.9"
    assert index_text("morris", {"mu_star": 435.5e6, "mu_star_conf": 8.9e3}, "cost_usd") == "μ* USD 435.5 M ±0.0"
    assert index_text("morris", {"mu_star": 4.2e4, "mu_star_conf": 900.0}, "cost_usd") == "μ* USD 42,000 ±900"
    assert index_text("morris", {"mu_star": 2340.0, "mu_star_conf": 120.0}, "unmet_t") == "μ* 2,340 t ±120"


def test_tornado_of_a_time_says_a_bar_at_the_horizon_is_a_bound(reference: Path) -> None:
    # a second review read a 1,461 d bar as a time: it is TTS/TTR cut off by the horizon
    from simulator.report.fig_sweep import load_sweep, tornado

    data = load_sweep(reference)
    ttr, unmet = tornado(data, "family:magnets.ttr_days"), tornado(data, "ev_jp.unmet_t")
    assert "counts at that bound, the days left in the horizon" in ttr.caption
    assert "bound" not in unmet.caption


def test_parameter_paths_get_plain_names() -> None:
    from simulator.sweep_params import param_label

    assert param_label("stockpiles.us_vault.online") == "us_vault set-up date"
    assert param_label("recyclers.rec_jp.online") == "rec_jp start date"
    assert param_label("stockpiles.jogmec.holds.dy_metal.initial") == "jogmec initial dy_metal [t]"
    assert param_label("events.cn_controls_2027.blocked") == "blocked fraction of cn_controls_2027"
    assert param_label("markets.ev_jp.stock.ndfeb_magnet.cover_days") == "markets.ev_jp.stock.ndfeb_magnet.cover_days"


def test_tornado_bar_ends_over_censored_replicates_are_hatched(reference: Path) -> None:
    # censored TTS/TTR values are bounds at the horizon; their bars were drawn as ordinary times
    from simulator.report.fig_sweep import load_sweep, tornado
    from simulator.sensitivity import tornado as tornado_data

    names = ["a", "b"]
    t = tornado_data(np.array([10.0, 8.0, 12.0, 9.0, 11.0]), names, np.array([0.0, 0.0, 0.5, 0.0, np.nan]))
    assert t is not None and t["censored"] == {"base": 0.0, "params": {"a": {"low": 0.0, "high": 0.5},
                                                                       "b": {"low": 0.0, "high": 0.0}}}
    data = load_sweep(reference)
    col = "family:magnets.ttr_days"
    tor = data.analysis["metrics"][col]["tornado"]
    first = next(iter(tor["params"]))
    tor["censored"] = {"base": 0.0, "params": {p: {"low": 0.0, "high": 0.25 if p == first else 0.0}
                                               for p in tor["params"]}}
    out = tornado(data, col)
    assert "hatched bar ends are means over such replicates in part, so lower bounds" in out.caption
    assert sum(1 for b in out.fig.axes[0].patches if b.get_hatch()) == 1
    del tor["censored"]
    assert "hatched" not in tornado(data, col).caption


def test_tornado_tells_a_small_effect_from_none_and_labels_a_narrow_axis(reference: Path) -> None:
    # a review read 'no change over the range' for ±100 t beside 20,000 t, and ticks '438 439 440 440'
    from simulator.report.fig_sweep import load_sweep, tornado

    data = load_sweep(reference)
    col = "ev_jp.unmet_t"
    tor = data.analysis["metrics"][col]["tornado"]
    names = list(tor["params"])
    tor["base"] = 438.7
    tor["params"] = {n: {"low": 438.7, "high": 438.7} for n in names}
    tor["params"][names[0]] = {"low": 437.9, "high": 440.1}
    tor["params"][names[1]] = {"low": 438.7, "high": 438.705}
    out = tornado(data, col)
    texts = [t.get_text() for t in out.fig.axes[0].texts]
    assert "under 0.5 % of the widest effect" in texts and "no change over the range" in texts
    out.fig.canvas.draw()
    ticks = [t.get_text() for t in out.fig.axes[0].get_xticklabels() if t.get_text()]
    assert len(ticks) == len(set(ticks)) and all("." in t for t in ticks), ticks


def test_driver_sentences_say_no_effect_for_none_and_no_direction_for_an_interval_over_zero() -> None:
    # a review: '... matter less (their 95 % intervals overlap)' for parameters at μ* 0 ±0, and 'higher values
    # raise it' for μ* 12 ±23
    from simulator.sensitivity import direction

    a = {"indices": {"a": {"mu": 5.0, "mu_star": 5.0, "mu_star_conf": 1.0, "sigma": 0.0},
                     "b": {"mu": 12.0, "mu_star": 12.0, "mu_star_conf": 23.0, "sigma": 0.0},
                     "c": {"mu": 0.0, "mu_star": 0.0, "mu_star_conf": 0.0, "sigma": 0.0},
                     "d": {"mu": 0.0, "mu_star": 0.0, "mu_star_conf": 0.0, "sigma": 0.0}},
         "ranking": ["b", "a", "c", "d"], "trajectories": 10, "min": 0.0, "max": 100.0, "mean": 50.0, "ok": True}
    assert direction(a, "b", "morris") == "no clear direction"
    assert direction(a, "a", "morris") == "higher values raise it"
    line = drivers_sentence("toy [t]", "unmet_t", "morris", a, {})
    assert "the other 2 parameters have no effect over their ranges" in line and "matter less" not in line
