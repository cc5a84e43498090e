"""docs/spec.schema.json: the JSON Schema of a spec, generated from the model and shipped for editors and
other tools. Regenerate with `UPDATE_GOLDEN=1 python -m pytest tests/test_spec_schema.py`."""

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import ROOT

from nuketown_stack.inputs.spec import load_spec, spec_json_schema

SHIPPED = ROOT / "docs" / "spec.schema.json"


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def test_the_shipped_schema_is_the_models() -> None:
    generated = _text(spec_json_schema())
    if os.environ.get("UPDATE_GOLDEN"):
        SHIPPED.write_text(generated)
    assert SHIPPED.read_text() == generated


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SHIPPED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_bundled_specs_are_valid(example_json: dict[str, Any], fleet_json: dict[str, Any]) -> None:
    validator = _validator()
    for spec in (example_json, fleet_json):
        assert [e.message for e in validator.iter_errors(spec)] == []


def _broken(spec: dict[str, Any], change: str) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    ada = spec["agents"]["ada"]
    if change == "unknown field":
        ada["persits"] = []
    elif change == "wrong type":
        ada["uid"] = "ada"
    elif change == "missing field":
        del ada["identity"]
    elif change == "bad enum":
        ada["network"] = {"egress": "some"}
    return spec


@pytest.mark.parametrize("change", ["unknown field", "wrong type", "missing field", "bad enum"])
def test_the_schema_and_the_model_refuse_the_same_shapes(example_json: dict[str, Any], change: str) -> None:
    from nuketown_stack.errors import InputError

    broken = _broken(example_json, change)
    assert list(_validator().iter_errors(broken)), change
    with pytest.raises(InputError):
        load_spec(broken)


def test_fields_are_described() -> None:
    """Every field a user sets by hand carries a description (the model's attribute docstrings)."""
    defs = json.loads(SHIPPED.read_text())["$defs"]
    for model, field in [
        ("AgentSpec", "resources"),
        ("AgentSpec", "persist"),
        ("Persist", "size"),
        ("Scaling", "idleTimeout"),
        ("Identity", "scope"),
        ("EgressRule", "cidr"),
        ("Tier", "cpu"),
    ]:
        assert defs[model]["properties"][field]["description"], (model, field)


def test_the_schema_file_is_where_the_docs_say(tmp_path: Path) -> None:
    assert "docs/spec.schema.json" in (ROOT / "README.md").read_text()
