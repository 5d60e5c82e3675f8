"""The exported JSON Schema accepts every shipped scenario and rejects what the loader rejects."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from simulator import load_scenario
from simulator.scenario.docs import json_schema

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "schema"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    schema = json.loads(r.stdout)
    assert schema == json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _iso(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _iso(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_iso(v) for v in x]
    if isinstance(x, dt.date):
        return x.isoformat()
    return x


def _errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def test_scenarios_exist():
    assert (ROOT / "scenarios" / "tutorial.yaml") in SCENARIO_FILES


def test_schema_describes_the_format(validator):
    schema = validator.schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    required = {"reesim", "name", "horizon", "regions", "products", "markets"}
    assert required <= set(schema["required"])
    assert "from" in schema["$defs"]["Link"]["properties"]  # YAML names, not Python names


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_loaded_scenario_validates_against_the_json_schema(validator, path):
    doc = load_scenario(path).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert _errors(validator, doc) == []


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_scenario_names_the_schema_for_editors(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../docs/scenario.schema.json"
    assert (path.parent / "../docs/scenario.schema.json").resolve().is_file()


def test_raw_tutorial_validates_against_the_json_schema(validator):
    raw = _iso(yaml.safe_load((ROOT / "scenarios" / "tutorial.yaml").read_text(encoding="utf-8")))
    assert isinstance(raw["events"][0]["origin"], str)  # the short form is part of the format
    assert _errors(validator, raw) == []


def test_json_schema_rejects_unknown_keys(validator):
    raw = _iso(yaml.safe_load((ROOT / "scenarios" / "tutorial.yaml").read_text(encoding="utf-8")))
    raw["facilities"]["mine_au"]["capacty"] = 3
    raw["polices"] = {}
    errors = _errors(validator, raw)
    assert len(errors) == 2, errors
    assert any(e.startswith("facilities/mine_au: ") and "'capacty'" in e for e in errors)
    assert any(e.startswith(": ") and "'polices'" in e for e in errors)


def test_json_schema_rejects_bad_values(validator):
    raw = _iso(yaml.safe_load((ROOT / "scenarios" / "tutorial.yaml").read_text(encoding="utf-8")))
    raw["events"][0]["type"] = "export_contrl"
    raw["links"][0]["lead_days"] = -1
    raw["horizon"]["step_days"] = 0
    paths = {e.split(": ")[0] for e in _errors(validator, raw)}
    assert {"events/0", "links/0/lead_days", "horizon/step_days"} <= paths


def test_validate_all_scenarios_exits_0():
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", *(str(p) for p in SCENARIO_FILES)],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(SCENARIO_FILES)
    for line, path in zip(lines, SCENARIO_FILES):
        assert line.startswith(f"{path}: ok")
