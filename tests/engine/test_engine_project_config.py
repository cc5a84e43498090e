"""The Pulumi CLI's config rules applied to Pulumi.yaml and every stack file this project ships.

The rules are pulumi/pulumi's own (`pkg/workspace/config.go` `mergeConfig` and
`validateStackConfigValues`, `sdk/go/common/workspace/project.go` `Project.Validate`
and `ValidateConfigValue`; see pulumi_config_rules.py): a project key declared with
no default is required for every stack, so a first `pulumi preview` of a stack that
leaves it unset stops before the program runs.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from pulumi_config_rules import missing_keys, project_problems, type_problems

from nuketown_stack.inputs.settings import KEYS, Settings, settings_from_config

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
STACK_FILES = sorted([*ROOT.glob("Pulumi.*.yaml"), *(ROOT / "examples" / "stacks").glob("Pulumi.*.yaml")])


def stack_config(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()).get("config") or {}


def test_pulumi_yaml_loads() -> None:
    """`Project.Validate` (project.go:840-884) accepts the project file."""
    assert project_problems(PROJECT) == []


def test_stack_files_are_found() -> None:
    assert {p.name for p in STACK_FILES} >= {"Pulumi.dev.yaml", "Pulumi.gke.yaml", "Pulumi.eks.yaml"}


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_no_stack_misses_a_required_key(path: Path) -> None:
    """`mergeConfig` (config.go:316-325): nothing declared without a default is left unset."""
    assert missing_keys(PROJECT, stack_config(path)) == []


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_stack_values_have_their_declared_types(path: Path) -> None:
    """`validateStackConfigValues` (config.go:66-117) checks each typed key's value."""
    assert type_problems(PROJECT, stack_config(path)) == []


def test_only_the_source_is_required() -> None:
    """A new stack (`pulumi stack init` with an empty file) needs nuketown:source and nothing else."""
    assert missing_keys(PROJECT, {}) == ["nuketown:source"]


def test_the_rule_catches_what_it_is_for() -> None:
    """The checks fail on what the engine refuses: keys without defaults, wrong types, typed foreign keys."""
    project = {
        "name": "nuketown",
        "config": {
            "nuketown:source": {"type": "string"},
            "nuketown:storageClass": {"type": "string", "description": "no default"},
            "nuketown:applyKubernetes": {"type": "boolean", "default": True},
            "nuketown:items": {"type": "array"},
            "gcp:project": {"type": "string"},
        },
    }
    assert missing_keys(project, {"nuketown:source": "x.nix"}) == ["nuketown:items", "nuketown:storageClass"]
    assert type_problems(project, {"nuketown:applyKubernetes": "yes"}) == [
        "nuketown:applyKubernetes: must be of type boolean"
    ]
    assert project_problems(project) == [
        "nuketown:items: declares an array but not the type of its items",
        "gcp:project: a key of another namespace may only provide 'value'",
    ]


def test_declared_defaults_are_the_programs_defaults() -> None:
    """The engine hands the program Pulumi.yaml's defaults; offline commands use Settings'. They must agree."""
    defaults = {
        key: entry["default"]
        for key, entry in PROJECT["config"].items()
        if isinstance(entry, dict) and "default" in entry
    }
    from_engine = settings_from_config("dev", defaults)
    assert from_engine == Settings(stack="dev")


def test_every_declared_key_is_a_setting_and_described() -> None:
    declared = PROJECT["config"]
    assert set(declared) <= set(KEYS)
    assert all(entry.get("description") for entry in declared.values())
    assert all("type" in entry for entry in declared.values())
