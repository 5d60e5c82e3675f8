"""The report's figures drawn in worker processes: the same bytes as drawn in one process."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from simulator.report import html as H

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "scenarios" / "tutorial.yaml"
ALLIED = ROOT / "scenarios" / "tutorial_allied.yaml"
FORK = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
needs_fork = pytest.mark.skipif(not FORK, reason="figures are drawn in workers on Linux (fork) only")


class _FrozenDatetime(dt.datetime):
    """``datetime`` whose ``now()`` is fixed: report.html shows when it was rendered."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return cls(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "dt", types.SimpleNamespace(datetime=_FrozenDatetime))


@pytest.fixture(scope="module")
def compare_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``reesim compare`` results folder (tutorial vs tutorial_allied, 8 replicates) without its report."""
    out = tmp_path_factory.mktemp("cmp") / "res"
    args = ["compare", str(TUTORIAL), str(ALLIED), "-n", "8", "--seed", "5", "-o", str(out)]
    assert run_cli(args) == 0
    for name in ("figures", "tables"):
        shutil.rmtree(out / name)
    (out / "report.html").unlink()
    return out


def _render(src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch, workers: str) -> Path:
    shutil.copytree(src, dest)
    with monkeypatch.context() as m:
        m.setenv(H.WORKERS_ENV, workers)
        H.write_report(dest)
    return dest


def _files(folder: Path) -> dict[str, bytes]:
    out = {str(p.relative_to(folder)): p.read_bytes()
           for sub in ("figures", "tables") for p in sorted((folder / sub).rglob("*")) if p.is_file()}
    out["report.html"] = (folder / "report.html").read_bytes()
    return out


def _assert_identical(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    assert any(k.endswith(".svg") for k in fa) and any(k.endswith(".png") for k in fa)
    different = [k for k in fa if fa[k] != fb[k]]
    assert different == [], different


@pytest.fixture(scope="module")
def serial(compare_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report drawn in this process (REESIM_REPORT_WORKERS=1)."""
    dest = tmp_path_factory.mktemp("serial") / "res"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(H, "dt", types.SimpleNamespace(datetime=_FrozenDatetime))
        m.setenv(H.WORKERS_ENV, "1")
        m.setattr(H, "_pool_context", lambda: pytest.fail("REESIM_REPORT_WORKERS=1 must not start a pool"))
        shutil.copytree(compare_results, dest)
        H.write_report(dest)
    return dest


@needs_fork
def test_two_workers_write_the_same_bytes_as_one(compare_results: Path, serial: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    contexts: list[str] = []
    choose = H._pool_context

    def spy() -> Any:
        ctx = choose()
        contexts.append(ctx.get_start_method())
        return ctx

    monkeypatch.setattr(H, "_pool_context", spy)
    _assert_identical(serial, _render(compare_results, tmp_path / "par", monkeypatch, "2"))
    assert contexts and contexts[0] in ("fork", "forkserver")  # forkserver after numba's omp threads


@needs_fork
@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_each_start_method_writes_the_same_bytes(method: str, compare_results: Path, serial: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "_pool_context", lambda: multiprocessing.get_context(method))
    _assert_identical(serial, _render(compare_results, tmp_path / method, monkeypatch, "2"))


def _die(i: int, figdir: Path, tabdir: Path) -> str:  # a worker killed in the middle of a figure
    os._exit(3)


@needs_fork
def test_a_broken_pool_falls_back_to_drawing_here(compare_results: Path, serial: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "_pool_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(H, "_figure_in_worker", _die)
    _assert_identical(serial, _render(compare_results, tmp_path / "broken", monkeypatch, "2"))


def _boom(data: Any) -> Any:
    raise ValueError("no such market <x>")


@needs_fork
def test_an_error_in_a_worker_figure_is_a_note(compare_results: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "FIGURES", (H.FIGURES[0], ("Shortfalls", _boom), H.FIGURES[1]))
    monkeypatch.setattr(H, "_pool_context", lambda: multiprocessing.get_context("fork"))
    one = _render(compare_results, tmp_path / "one", monkeypatch, "1")
    two = _render(compare_results, tmp_path / "two", monkeypatch, "2")
    _assert_identical(one, two)
    page = (two / "report.html").read_text(encoding="utf-8")
    assert "Figure _boom could not be drawn: ValueError: no such market &lt;x&gt;" in page
    assert page.index("id='fig-fill_fan'") < page.index("Figure _boom") < page.index("id='fig-unmet_by_market'")


def test_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, want in (("1", 1), ("0", 1), ("3", 3), ("99", len(H.FIGURES))):
        monkeypatch.setenv(H.WORKERS_ENV, raw)
        assert H._report_workers() == want, raw
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    for raw in ("", "two"):  # not set, or not a number: min(2, CPUs)
        monkeypatch.setenv(H.WORKERS_ENV, raw)
        assert H._report_workers() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert H._report_workers() == 2


@needs_fork
def test_no_fork_after_numbas_openmp_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H.threading, "active_count", lambda: 1)
    fake = types.SimpleNamespace(_is_initialized=False, _threading_layer=None)
    monkeypatch.setitem(sys.modules, "numba.np.ufunc.parallel", fake)
    assert H._pool_context().get_start_method() == "fork"  # numba's threads never launched
    for layer, method in (("workqueue", "fork"), ("tbb", "fork"), ("omp", "forkserver")):
        fake._is_initialized, fake._threading_layer = True, layer
        assert H._pool_context().get_start_method() == method, layer
    fake._is_initialized, fake._threading_layer = False, None
    monkeypatch.setattr(H.threading, "active_count", lambda: 3)  # other threads alive
    assert H._pool_context().get_start_method() == "forkserver"


def test_one_cpu_or_no_fork_draws_here(compare_results: Path, serial: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "_pool_context", lambda: None)  # as on macOS / Windows
    _assert_identical(serial, _render(compare_results, tmp_path / "nofork", monkeypatch, "2"))
