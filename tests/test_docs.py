"""The committed format reference and JSON Schema are what ``reesim schema`` generates."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.scenario.docs import json_schema, json_schema_text, markdown_reference

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "docs" / "scenario.schema.json"
REFERENCE = ROOT / "docs" / "scenario-format.md"


def test_committed_json_schema_is_current():
    assert SCHEMA.read_text(encoding="utf-8") == json_schema_text(), (
        "docs/scenario.schema.json is stale; regenerate it with\n"
        "    reesim schema -o docs/scenario.schema.json --force"
    )


def test_committed_format_reference_is_current():
    assert REFERENCE.read_text(encoding="utf-8") == markdown_reference(), (
        "docs/scenario-format.md is stale; regenerate it with\n"
        "    reesim schema --format markdown -o docs/scenario-format.md --force"
    )


def test_reference_lists_every_key_of_the_schema():
    """Tested against the JSON Schema too, so a key cannot go missing from the page."""
    page = markdown_reference()
    schema = json_schema()
    models = {"Scenario": schema, **schema["$defs"]}
    for name, model in models.items():
        for key in model.get("properties", {}):
            row, param = f"| `{key}` |", f"`{key}`: "  # a table row, or a distribution parameter
            assert row in page or param in page, f"{name}.{key} is not in the format reference"


def test_reference_has_a_section_per_model_and_readable_types():
    page = markdown_reference()
    for section in ("Scenario", "Horizon", "Facility", "Market", "Link", "Events", "ExportControl",
                    "Outage", "Distributions"):
        assert f"\n## {section}\n" in page
    assert "| `capacity` | number > 0 | yes |" in page
    assert "| `region` | id | yes |" in page
    assert "| `step_days` | integer 1-31 |  | `1` |" in page
    assert "| `origin` | id or list of ids | yes |" in page
    assert "| `blocked` | fraction 0-1, or distribution |  | `1` |" in page
    assert "| `links` | list of [Link](#link) |" in page
    assert "float" not in page and "str " not in page  # Python names do not leak


def test_schema_text_is_stable_json():
    text = json_schema_text()
    assert json.loads(text) == json_schema()
    assert text.endswith("}\n")
