"""Helpers over what the program declared, in the JSON shape of `plan --json`.

Shared by `diff` and the human `plan` output; pure (no pulumi import).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# {"type", "name", "parent", "urn", "aliases", "inputs", "protect", "retainOnDelete", "dependencies"}
# (engine.py, to_json)
Resource = Mapping[str, Any]
AGENT_TYPE = "nuketown:index:Agent"
FLEET_TYPE = "nuketown:index:Fleet"
PROJECT = "nuketown"  # the project name when no Pulumi.yaml names one (as in Pulumi.yaml here)
UNKNOWN_TEXT = "(known after apply)"  # a value the cloud assigns when the resource is created


def resource_key(resource: Resource) -> tuple[str, str]:
    """(type, name): what makes a resource the same resource across runs, as in its URN."""
    return resource["type"], resource["name"]


def agent_names(resources: Iterable[Resource]) -> tuple[str, ...]:
    return tuple(sorted(r["name"] for r in resources if r["type"] == AGENT_TYPE))


def owning_agents(resources: Sequence[Resource]) -> dict[tuple[str, str], str | None]:
    """The agent each resource belongs to (its Agent component, however deep); None for stack-wide ones."""
    parents = {f"{r['type']}::{r['name']}": r.get("parent") for r in resources}

    def agent(reference: str | None) -> str | None:
        while reference is not None:
            kind, _, name = reference.partition("::")
            if kind == AGENT_TYPE:
                return name
            reference = parents.get(reference)
        return None

    return {resource_key(r): agent(f"{r['type']}::{r['name']}") for r in resources}
