"""Shared fixtures and scenario generators for the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

from simulator.synth import make_network_yaml


@pytest.fixture(name="make_network_yaml")
def _make_network_yaml_fixture() -> Callable[..., str]:
    """The generator :func:`make_network_yaml`, as a fixture."""
    return make_network_yaml


@pytest.fixture
def tutorial_path() -> Path:
    """The tutorial scenario shipped in ``scenarios/``."""
    return SCENARIOS / "tutorial.yaml"


# --------------------------------------------------------------------------- scenario format
# A small valid scenario for the loader, overlay and error tests: mutate its text to
# make one mistake at a known line. Keep the layout stable: tests locate lines by text.

MINI_YAML = """\
reesim: 1
name: mini
horizon: {start: 2025-01-01, end: 2025-12-31, step_days: 1}
regions:
  AU: {name: Australia, bloc: allied}
  JP: {name: Japan, bloc: allied}
products:
  ore: {unit: t}
  magnet: {unit: t, family: magnets}
facilities:
  mine_au:
    region: AU
    stage: mine
    capacity: 1000
    outputs: {ore: 1.0}
  magnet_jp:
    region: JP
    stage: component
    capacity: 500
    inputs: {ore: 1.0}
    outputs: {magnet: 1.0}
    stock: {ore: {cover_days: 30}}
markets:
  ev_jp:
    region: JP
    sector: ev_motors
    demand: {magnet: {rate: 400}}
links:
  - {from: mine_au, to: magnet_jp, product: ore, lead_days: 10}
  - {from: magnet_jp, to: ev_jp, product: magnet, lead_days: 5}
events:
  - id: ban
    type: export_control
    origin: AU
    products: [ore]
    destinations: {exclude: [AU]}
    blocked: 0.5
    start: 2025-03-01
    end: 2025-06-01
"""


@pytest.fixture
def mini_yaml() -> str:
    """Text of a minimal valid scenario (two facilities, one market, one event)."""
    return MINI_YAML


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write scenario text to ``tmp_path / name`` (sub-directories allowed); return the path."""

    def write(text: str | bytes, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


# --------------------------------------------------------------------------- kernel backends
# Modules that want every test run once per backend declare
# ``pytestmark = pytest.mark.usefixtures("backend")``.


def _backends():
    """numpy always; numba when it imports (skipped otherwise)."""
    import importlib.util

    has = importlib.util.find_spec("numba") is not None
    return ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not has, reason="numba not installed"))]


@pytest.fixture(params=_backends())
def backend(request, monkeypatch):
    """Run every test of this module once per kernel backend (also for subprocesses, via REESIM_BACKEND)."""
    from simulator import kernels

    prev = kernels.backend()
    kernels.set_backend(request.param)
    monkeypatch.setenv("REESIM_BACKEND", request.param)
    yield request.param
    kernels.set_backend(prev)


# --------------------------------------------------------------------------- CLI and picture helpers

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(args: list[str]) -> int:
    """Run ``reesim ARGS`` in-process; return its exit status."""
    from simulator.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
