"""What `pulumi up` would do going from one plan to another, worked out offline.

Both sides are the resources the real program declares under the mock engine
(the JSON shape of `plan --json`). A resource is the same resource on both
sides when its (type, name) is the same, as in Pulumi's URNs. A changed input
is an update, or a replacement when the provider cannot change it in place
(the provider's own force-new fields, listed below). Deleting or replacing a
volume, a namespace or a key is flagged as data loss.

Pure: no pulumi import, no I/O.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nuketown_stack.declared import Resource, owning_agents, resource_key
from nuketown_stack.keeping import KEPT

Action = Literal["create", "update", "replace", "delete"]

# Inputs a provider cannot change in place. Kubernetes: pulumi-kubernetes'
# force-new list (plus metadata.name / namespace for every kind); cloud
# resources: the upstream provider's ForceNew arguments.
_KUBERNETES_ALWAYS = ("metadata.name", "metadata.namespace")
REPLACED_ON: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:PersistentVolumeClaim": (
        "spec.accessModes",
        "spec.selector",
        "spec.storageClassName",
        "spec.volumeName",
    ),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
    "kubernetes:core/v1:ResourceQuota": ("spec.scopes",),
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    "gcp:kms/keyRing:KeyRing": ("name", "location", "project"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", "keyRing", "purpose"),
    "gcp:serviceaccount/iAMMember:IAMMember": ("serviceAccountId", "role", "member", "condition"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("cryptoKeyId", "role", "member", "condition"),
    "gcp:projects/iAMMember:IAMMember": ("project", "role", "member", "condition"),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/policy:Policy": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "role"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId"),
    "aws:kms/alias:Alias": ("name",),
    "aws:kms/keyPolicy:KeyPolicy": ("keyId",),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ("clusterName", "namespace", "serviceAccount"),
}

_ABSENT = object()  # a path present on one side only


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    forces_replace: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": _json_value(self.old),
            "new": _json_value(self.new),
            "forcesReplace": self.forces_replace,
        }


@dataclass(frozen=True)
class Change:
    action: Action
    type: str
    name: str
    agent: str | None  # None: stack-wide (providers, key ring)
    fields: tuple[FieldChange, ...] = ()
    data_loss: str | None = None  # why this change loses data, when it does

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "action": self.action,
            "type": self.type,
            "name": self.name,
            "fields": [f.to_json() for f in self.fields],
            "dataLoss": self.data_loss,
        }


@dataclass(frozen=True)
class PlanDiff:
    changes: tuple[Change, ...]
    unchanged: int

    @property
    def data_loss(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.data_loss is not None)

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in ("create", "update", "replace", "delete")}
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "same": self.unchanged}

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [c.to_json() for c in self.changes],
            "counts": self.counts(),
            "dataLoss": bool(self.data_loss),
        }


def diff_plans(base: Sequence[Resource], head: Sequence[Resource]) -> PlanDiff:
    """Every create, update, replace and delete from `base` to `head`, agents in name order."""
    before = {resource_key(r): r for r in base}
    after = {resource_key(r): r for r in head}
    agent_of_before, agent_of_after = owning_agents(base), owning_agents(head)
    changes: list[Change] = []
    unchanged = 0
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            changes.append(Change("create", *key, agent=agent_of_after[key]))
            continue
        change = _compare(old, new, agent_of_after[key])
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    for key, old in before.items():
        if key not in after:
            changes.append(_deleted(old, agent_of_before[key]))
    changes.sort(key=lambda c: (c.agent is None, c.agent or "", _ACTION_ORDER[c.action]))
    return PlanDiff(tuple(changes), unchanged)


_ACTION_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3}


def _compare(old: Resource, new: Resource, agent: str | None) -> Change | None:
    replace_paths = REPLACED_ON.get(new["type"], ()) + (
        _KUBERNETES_ALWAYS if new["type"].startswith("kubernetes:") else ()
    )
    fields = tuple(
        FieldChange(path, before, after, _under_any(path, replace_paths))
        for path, before, after in changed_paths(old.get("inputs", {}), new.get("inputs", {}))
    )
    if not fields:
        return None
    if any(f.forces_replace for f in fields):
        return Change("replace", new["type"], new["name"], agent, fields, _loss_on_replace(old))
    return Change("update", new["type"], new["name"], agent, fields)


def _deleted(old: Resource, agent: str | None) -> Change:
    return Change("delete", old["type"], old["name"], agent, data_loss=_loss_on_delete(old))


def _loss_on_delete(resource: Resource) -> str | None:
    kept = KEPT.get(resource["type"])
    if kept is None:
        return None
    where = "cluster" if resource["type"].startswith("kubernetes:") else "cloud"
    if resource.get("retainOnDelete"):
        return (
            f"{kept.holds} {resource['name']} leaves the stack: it is kept in the {where}, but nothing uses it "
            "any more (declaring it again adopts it)"
        )
    return f"{kept.holds} {resource['name']} would be deleted with its data"


def _loss_on_replace(resource: Resource) -> str | None:
    kept = KEPT.get(resource["type"])
    if kept is None:
        return None
    return f"{kept.holds} {resource['name']} would be replaced: the new one starts empty"


def _under_any(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def changed_paths(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; `_ABSENT` marks a side without it."""
    before, after = _leaves(old), _leaves(new)
    # Sorted, with list indexes as numbers: the engine's key order says nothing, and a stable order reads better.
    paths = sorted(before.keys() | after.keys(), key=_natural)
    return [
        (path, before.get(path, _ABSENT), after.get(path, _ABSENT))
        for path in paths
        if before.get(path, _ABSENT) != after.get(path, _ABSENT)
    ]


def _natural(path: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", path)]


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        items: Iterable[tuple[str, Any]] = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list) and value:
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return {path: value}
    leaves: dict[str, Any] = {}
    for child_path, child in items:
        leaves.update(_leaves(child, child_path))
    return leaves


def _json_value(value: Any) -> Any:
    return None if value is _ABSENT else value


# --- human output ---------------------------------------------------------------------------------

_SIGNS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
MAX_FIELDS_SHOWN = 8


def format_diff(diff: PlanDiff, bold: str = "markdown") -> str:
    """Changes grouped per agent; data loss in bold ("ansi" for a terminal, "markdown" for PR comments)."""
    emphasis = _emphasis(bold)
    lines: list[str] = []
    heading: str | None = None
    for change in diff.changes:
        if _heading(change) != heading:
            heading = _heading(change)
            lines += ["", heading]
        lines.append(f"  {_SIGNS[change.action]:>2} {change.action:<8} {change.type}  {change.name}")
        lines += [f"        {_describe(f)}" for f in change.fields[:MAX_FIELDS_SHOWN]]
        if len(change.fields) > MAX_FIELDS_SHOWN:
            lines.append(f"        ... and {len(change.fields) - MAX_FIELDS_SHOWN} more fields")
        if change.data_loss is not None:
            lines.append("        " + emphasis(f"DATA LOSS: {change.data_loss}"))
    counts = diff.counts()
    summary = ", ".join(f"{counts[a]} to {a}" for a in ("create", "update", "replace", "delete") if counts[a])
    lines += ["", f"{summary or 'no changes'}; {counts['same']} unchanged"]
    if diff.data_loss:
        lines.append(emphasis(f"{len(diff.data_loss)} change(s) would lose data: read them before merging"))
    return "\n".join(lines).lstrip("\n")


def _heading(change: Change) -> str:
    return f"agent {change.agent}" if change.agent is not None else "stack"


def _describe(change: FieldChange) -> str:
    marker = "  (forces replacement)" if change.forces_replace else ""
    return f"{change.path}: {_short(change.old)} -> {_short(change.new)}{marker}"


def _short(value: Any, limit: int = 60) -> str:
    if value is _ABSENT:
        return "(none)"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _emphasis(style: str) -> Callable[[str], str]:
    if style == "ansi":
        return lambda text: f"\033[1m{text}\033[0m"
    if style == "markdown":
        return lambda text: f"**{text}**"
    return lambda text: text
