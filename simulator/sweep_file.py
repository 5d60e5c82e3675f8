"""A sweep described in YAML: a file with a ``sweep:`` block naming what ``reesim sweep`` takes.

.. code-block:: yaml

    reesim: 1
    sweep:
      scenario: ../scenarios/tutorial.yaml     # relative to this file
      method: morris                           # morris | sobol | grid | lhs
      samples: 10
      replications: 20
      seed: 7
      metrics: [ev_jp.unmet_t, ev_jp.ttr_days]
      sets: [horizon.end=2025-12-31]           # fixed overrides of every point
      params:
        - events.cn_magnet_licensing.blocked=0.3:1.0
        - {path: stockpiles.jogmec.holds.ndpr_oxide.initial, low: 100, high: 1000,
           label: JOGMEC NdPr oxide stockpile [t]}
      scheduler: local                         # or tcp://HOST:PORT
      output: reports/sweep-tutorial           # relative to the current folder, like -o

Options given on the command line override the file's (``--param`` and
``--metric`` replace its lists; ``--set`` adds to its ``sets``). Mistakes are
reported like a scenario's: file, line, column, path and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .exceptions import Problem, ScenarioError, UsageError
from .sweep import Param, fmt_value, parse_param


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamItem(_Strict):
    """A swept value given as a mapping."""

    path: str = Field(description="a --set path, e.g. events.cn_magnet_licensing.blocked")
    low: dt.date | int | float = Field(description="low end of the range (number or date)")
    high: dt.date | int | float = Field(description="high end of the range (number or date)")
    label: str | None = Field(default=None, description="name shown in reports")


class SweepBlock(_Strict):
    """What ``reesim sweep`` takes on its command line."""

    scenario: str = Field(description="scenario file, relative to the sweep file")
    params: list[str | ParamItem] = Field(min_length=1, description="PATH=LOW:HIGH or {path, low, high}")
    method: Literal["morris", "sobol", "grid", "lhs"] | None = None
    samples: int | None = Field(default=None, ge=1)
    replications: int | None = Field(default=None, ge=1)
    seed: int | None = Field(default=None, ge=0)
    metrics: list[str] = Field(default_factory=list)
    sets: list[str] = Field(default_factory=list)
    scheduler: str | None = None
    workers: int | None = Field(default=None, ge=1)
    output: str | None = None
    checks: Literal["error", "warn", "off"] | None = None


class SweepFile(_Strict):
    """A YAML file holding a sweep."""

    reesim: Literal[1] = 1
    sweep: SweepBlock


@dataclass(frozen=True)
class LoadedSweep:
    """A sweep file, read: paths resolved, parameters parsed."""

    block: SweepBlock
    scenario: Path
    params: tuple[Param, ...]
    source: Path


def is_sweep_file(path: Path) -> bool:
    """True when ``path`` is a YAML file with a top-level ``sweep:`` key (a line starting ``sweep:``).

    Read as text, so that a sweep file with a YAML mistake is still recognised
    and its mistake reported by :func:`load_sweep_file` with its location.
    """
    import re

    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^sweep\s*:", text, flags=re.MULTILINE) is not None


def load_sweep_file(path: Path) -> LoadedSweep:
    """Read and check a sweep file.

    Raises
    ------
    ScenarioError
        With every problem, located by file, line and path.
    """
    from .scenario.errors import problems_from
    from .scenario.overlay import _shown
    from .scenario.yamlpos import parse, read_text

    shown = _shown(path)
    text, problems = read_text(path, shown)
    if text is None:
        raise ScenarioError(problems)
    doc, probs = parse(text, shown)
    problems += probs
    if problems:
        raise ScenarioError(problems)
    raw = doc.get("sweep") if isinstance(doc, dict) else None
    scen_rel = raw.get("scenario") if isinstance(raw, dict) else None
    scen = Path(os.path.normpath(path.parent / scen_rel)) if isinstance(scen_rel, str) else None
    if scen is not None and not scen.is_file():
        m = raw.key_marks.get("scenario", raw.mark)
        problems.append(Problem(m.file, m.line, m.col, "sweep.scenario",
                                f"scenario file {scen_rel!r} not found (looked at {_shown(scen)})"))
    try:
        sf = SweepFile.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioError(problems + problems_from(exc, doc, SweepFile)) from None
    block = sf.sweep
    items = raw["params"]
    marks = getattr(items, "item_marks", [])
    params: list[Param] = []
    for j, item in enumerate(block.params):
        try:
            if isinstance(item, str):
                params.append(parse_param(item))
            else:
                params.append(parse_param(f"{item.path}={fmt_value(item.low)}:{fmt_value(item.high)}", item.label))
        except UsageError as exc:
            m = marks[j] if j < len(marks) else doc.mark
            problems.append(Problem(m.file, m.line, m.col, f"sweep.params[{j}]",
                                    str(exc).replace("--param ", "", 1)))
    if problems:
        raise ScenarioError(problems)
    assert scen is not None
    return LoadedSweep(block, scen, tuple(params), path)
