"""URNs and the old URNs an alias stands for, computed as the Pulumi engine computes them (pure: no pulumi).

The mock engine records, per resource, its URN and every URN the engine would look its old state up under,
so `plan --json` and `diff` see a resource that moved under a new parent as the same resource. The rules are
pulumi/pulumi `pkg/resource/deploy/step_generator.go` (collapseAliasToUrn, inheritedChildAlias,
generateAliases, getOldResource) and `sdk/go/common/resource/alias.go` (CreateURN); the Python SDK sends
each `pulumi.Alias` to the engine as a spec (`sdk/python/lib/pulumi/runtime/resource.py`, create_alias_spec).

Not modelled: an alias whose explicit parent itself matched an alias (the engine then uses that parent's old
URN), and alias fields given as Outputs. The program declares neither.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class AliasSpec:
    """A `pulumi.Alias` as the SDK sends it: None means "as the resource is now"."""

    name: str | None = None
    type: str | None = None
    parent: str | None = None  # the old parent's URN
    no_parent: bool = False  # Alias(parent=pulumi.ROOT_STACK_RESOURCE): it sat at the stack's root
    stack: str | None = None
    project: str | None = None
    urn: str | None = None  # a whole old URN, given as a string


def qualified_type(urn: str) -> str:
    """The type chain of a URN: `a$b$c` of `urn:pulumi:stack::project::a$b$c::name`."""
    return urn.split("::")[2]


def urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def create_urn(name: str, typ: str, parent: str, project: str, stack: str) -> str:
    """alias.go CreateURN: under a parent, the parent's type chain, `$`, the type; at the root, the type alone."""
    if not parent:
        return f"urn:pulumi:{stack}::{project}::{typ}::{name}"
    return f"{parent[: parent.rindex('::')]}${typ}::{name}"


def collapse(spec: AliasSpec, name: str, typ: str, parent: str, project: str, stack: str) -> str:
    """step_generator.go collapseAliasToUrn: the old URN one alias names."""
    if spec.urn:
        return spec.urn
    old_parent = spec.parent or parent
    if spec.no_parent or (old_parent and qualified_type(old_parent) == ROOT_STACK_TYPE):
        old_parent = ""
    return create_urn(spec.name or name, spec.type or typ, old_parent, spec.project or project, spec.stack or stack)


def inherited(child_type: str, child_name: str, parent_name: str, parent_alias: str, project: str, stack: str) -> str:
    """step_generator.go inheritedChildAlias: the child's old URN under its parent's old URN. A child named
    after its parent (`<parent>-suffix`) is renamed with it."""
    name = child_name
    if child_name.startswith(parent_name):
        name = urn_name(parent_alias) + child_name[len(parent_name) :]
    parent_type = qualified_type(parent_alias)
    typ = child_type if parent_type in ("", ROOT_STACK_TYPE) else f"{parent_type}${child_type}"
    return f"urn:pulumi:{stack}::{project}::{typ}::{name}"


@dataclass(frozen=True)
class Placed:
    """Where a resource is: its URN and the URNs of its parent's aliases ('' parent: the stack's root)."""

    name: str
    type: str
    parent: str
    parent_name: str
    parent_aliases: Sequence[str]


def alias_urns(specs: Iterable[AliasSpec], placed: Placed, project: str, stack: str) -> list[str]:
    """step_generator.go generateAliases: the resource's own aliases, then each alias its parent's aliases give
    it, in the engine's order, without repeats. The engine uses the parent's alias that matched the old
    state; this lists what every alias of the parent would give (the engine's candidates)."""
    found: dict[str, None] = {}
    own = [collapse(spec, placed.name, placed.type, placed.parent, project, stack) for spec in specs]
    found.update(dict.fromkeys(own))
    for parent_alias in placed.parent_aliases:
        found[inherited(placed.type, placed.name, placed.parent_name, parent_alias, project, stack)] = None
        for alias in own:
            old_type, old_name = qualified_type(alias).rsplit("$", 1)[-1], urn_name(alias)
            found[inherited(old_type, old_name, placed.parent_name, parent_alias, project, stack)] = None
    return list(found)
