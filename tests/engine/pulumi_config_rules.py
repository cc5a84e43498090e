"""The Pulumi CLI's rules for project and stack configuration, as read in pulumi/pulumi (v3.259, 2026-08).

A copy of the engine's logic, only as far as this project relies on it, so the
tests can apply it to Pulumi.yaml and every shipped stack file:

- `sdk/go/common/workspace/project.go`, `Project.Validate` (lines 840-884): a key in
  the project's namespace may declare `type` (one of string, integer, boolean, array,
  object; array needs `items`) and `default`, which must be of that type; a key of
  another namespace may only carry `value`.
- `pkg/workspace/config.go`, `mergeConfig` (lines 316-325): a project key declared
  with neither `default` nor `value` and not set by the stack is missing, and
  `pulumi preview`/`up` stop with "Stack '<stack>' is missing configuration values".
- `pkg/workspace/config.go`, `validateStackConfigValues` (lines 66-117) and
  `project.go`, `ValidateConfigValue` (lines 771-831): a stack value of an explicitly
  typed key must be of that type (a boolean is "true"/"false", an integer parses,
  an object is a map, an array's items are of the item type); untyped keys are not
  checked, and undeclared project keys are allowed.
"""

from collections.abc import Mapping
from typing import Any

TYPES = ("string", "integer", "boolean", "array", "object")


def _declarations(project: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`config:` entries in their long form (RewriteShorthandConfigValues, project.go:486-517)."""
    name = project["name"]
    declared = {}
    for key, entry in (project.get("config") or {}).items():
        if isinstance(entry, dict):
            declared[key] = dict(entry)
        elif _in_project(key, name):
            declared[key] = {"default": entry}
        else:
            declared[key] = {"value": entry}
    return declared


def _in_project(key: str, project_name: str) -> bool:
    """project.go:833-835: a key without a namespace, or in the project's own."""
    return ":" not in key or key.startswith(f"{project_name}:")


def _stack_key(key: str, project_name: str) -> str:
    return key if ":" in key else f"{project_name}:{key}"


def project_problems(project: Mapping[str, Any]) -> list[str]:
    """What `Project.Validate` refuses when Pulumi.yaml is loaded."""
    problems = []
    for key, entry in _declarations(project).items():
        if not _in_project(key, project["name"]):
            if "type" in entry or "default" in entry or "value" not in entry:
                problems.append(f"{key}: a key of another namespace may only provide 'value'")
            continue
        kind = entry.get("type")
        if kind is not None and kind not in TYPES:
            problems.append(f"{key}: type {kind!r} is not one of {', '.join(TYPES)}")
        if kind == "array" and "items" not in entry:
            problems.append(f"{key}: declares an array but not the type of its items")
        if (
            kind is not None
            and entry.get("default") is not None
            and not valid(kind, entry.get("items"), entry["default"])
        ):
            problems.append(f"{key}: the default is not of the declared type {kind}")
    return problems


def missing_keys(project: Mapping[str, Any], stack_config: Mapping[str, Any]) -> list[str]:
    """The keys `mergeConfig` reports as missing for a stack with this `config:`."""
    name = project["name"]
    on_stack = {_stack_key(k, name) for k in stack_config}
    return sorted(
        key
        for key, entry in _declarations(project).items()
        if _in_project(key, name)
        and entry.get("default") is None
        and entry.get("value") is None
        and _stack_key(key, name) not in on_stack
    )


def type_problems(project: Mapping[str, Any], stack_config: Mapping[str, Any]) -> list[str]:
    """Stack values of explicitly typed keys that are not of their type."""
    name = project["name"]
    declared = _declarations(project)
    problems = []
    for key, value in stack_config.items():
        entry = declared.get(_stack_key(key, name))
        if entry is None or "type" not in entry:
            continue
        if isinstance(value, dict) and "secure" in value:
            continue  # checked on the decrypted text, which only the CLI has
        if not valid(entry["type"], entry.get("items"), value):
            problems.append(f"{key}: must be of type {entry['type']}")
    return problems


def valid(kind: str, items: Mapping[str, Any] | None, value: Any) -> bool:
    """`ValidateConfigValue`: stack scalars arrive as text, so "true", "42" and 42 are alike."""
    if kind == "string":
        return isinstance(value, str | int | float | bool)
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and value.lstrip("+-").isdigit()
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        item_kind = (items or {}).get("type")
        return isinstance(value, list) and all(
            item_kind is None or valid(item_kind, (items or {}).get("items"), v) for v in value
        )
    return False
