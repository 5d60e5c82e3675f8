"""The scenario language: models, loading (``extends``, ``--set``), checks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..exceptions import Problem, ScenarioError, UsageError
from .checks import check, notes
from .errors import problems_from
from .models import EVENT_TYPES, Scenario
from .overlay import apply_set, load_document

__all__ = ["EVENT_TYPES", "Scenario", "load_scenario", "load_with_notes", "scenario_files", "scenario_notes", "validate_document"]


def validate_document(doc: Any) -> tuple[Scenario | None, list[Problem]]:
    """Schema-validate and semantically check a merged document."""
    problems: list[Problem] = []
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        problems.extend(problems_from(exc, doc, Scenario))
    problems.extend(check(doc))
    return (scenario if not problems else None), problems


def load_scenario(path: str | Path, sets: Sequence[str] = ()) -> Scenario:
    """Load, overlay, override and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        The scenario YAML file.
    sets : sequence of str
        ``PATH=VALUE`` overrides, applied in order after ``extends``.

    Returns
    -------
    Scenario
        The validated, frozen scenario.

    Raises
    ------
    ScenarioError
        With every problem found, each located by file, line and YAML path.
    UsageError
        If an override's path leads nowhere.
    """
    return _load(path, sets)[0]


def load_with_notes(path: str | Path, sets: Sequence[str] = ()) -> tuple[Scenario, list[Problem]]:
    """:func:`load_scenario`, and the notes on what is valid but probably not meant
    (:func:`checks.notes`), from the one parse of the file."""
    scenario, doc = _load(path, sets)
    return scenario, notes(doc)


def _load(path: str | Path, sets: Sequence[str]) -> tuple[Scenario, Any]:
    """The validated scenario and the merged document it was read from."""
    path = Path(path)
    if isinstance(sets, str):  # one override given as a string would be read letter by letter
        raise UsageError(f"sets={sets!r}: give a list of 'PATH=VALUE' strings, e.g. sets=[{sets!r}]")
    problems: list[Problem] = []
    if not path.is_file():
        raise ScenarioError([Problem(str(path), None, None, "", "no such file")])
    doc = load_document(path, problems)
    if doc is None:
        raise ScenarioError(problems or [Problem(str(path), None, None, "", "could not read")])
    for s in sets:
        apply_set(doc, s)
    scenario, found = validate_document(doc)
    problems.extend(found)
    if scenario is None or problems:
        raise ScenarioError(problems)
    return scenario, doc


def scenario_notes(path: str | Path, sets: Sequence[str] = ()) -> list[Problem]:
    """What a valid scenario holds that is probably not meant (see :func:`checks.notes`), located."""
    return load_with_notes(path, sets)[1]


def scenario_files(path: str | Path) -> list[tuple[str, str]]:
    """The file and every parent it extends, each with its sha256 (for provenance)."""
    out: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def walk(p: Path) -> None:
        rp = p.resolve()
        if rp in seen or not p.is_file():
            return
        seen.add(rp)
        data = p.read_bytes()
        out.append((os.path.normpath(p), hashlib.sha256(data).hexdigest()))  # 'my/../scenarios/x.yaml' -> 'scenarios/x.yaml'
        import yaml

        try:
            doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # safe loaders only
        except yaml.YAMLError:
            return
        parents = doc.get("extends") if isinstance(doc, dict) else None
        for rel in [parents] if isinstance(parents, str) else (parents or []):
            if isinstance(rel, str):
                walk(p.parent / rel)

    walk(Path(path))
    return out
