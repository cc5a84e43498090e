"""What `pulumi up` would do going from one plan to another, worked out offline.

Both sides are the resources the real program declares under the mock engine
(the JSON shape of `plan --json`), each under its own stack settings. A
resource is the same resource on both sides when it has the same URN, or when
one of its aliases names the other's URN, as the engine finds a resource's old
state (step_generator.go getOldResource). Every verdict comes from the engine's change model
(change_model.py: which inputs force a replacement, delete-before-replace, the
Kubernetes API's rules) and from what holds data (keeping.py):

- kept       a volume, namespace, key or identity leaves the stack; it is kept
             where it is, unused (retainOnDelete: its delete is never called)
- empty      a new, empty volume or namespace takes over from a kept one
- identity   a new identity or key takes over: grants and secrets stay with the old
- blocked    the engine or the API server will refuse it: `pulumi up` fails

`kept`, `empty` and `identity` move data or identity (exit 3, a PR label
accepts it); `blocked` never applies (exit 4). Pure: no pulumi import, no I/O.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from nuketown_stack.plan import change_model
from nuketown_stack.plan.egress import egress_in_words
from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program.declared import UNKNOWN_TEXT, Resource, owning_agents, resource_key
from nuketown_stack.views.reach import Grant, in_words, widened

if TYPE_CHECKING:
    from nuketown_stack.inputs.settings import Settings

Action = Literal["create", "update", "replace", "delete"]
Effect = Literal["kept", "empty", "identity", "blocked"]
LIFECYCLE_DOC = "docs/lifecycle.md"
EXIT_DATA_AT_RISK = 3
EXIT_CANNOT_APPLY = 4

_ABSENT = object()  # a path present on one side only
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


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
    effect: Effect | None = None  # what the change does to data or identity, when it does something
    reason: str | None = None  # the effect in words, with what to do about it
    security: str | None = None  # what the change adds to what the agent (or others, on its identity) reaches
    note: str | None = None  # what a reviewer should know that moves nothing (an adoption it may make)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "action": self.action,
            "type": self.type,
            "name": self.name,
            "fields": [f.to_json() for f in self.fields],
            "effect": self.effect,
            "reason": self.reason,
            "security": self.security,
            "note": self.note,
        }


@dataclass(frozen=True)
class SettingChange:
    """A stack setting whose change moves data or identity as a whole (docs/lifecycle.md)."""

    key: str
    old: Any
    new: Any
    effect: Effect
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, "effect": self.effect, "reason": self.reason}


@dataclass(frozen=True)
class PlanDiff:
    changes: tuple[Change, ...]
    unchanged: int
    settings: tuple[SettingChange, ...] = ()

    @property
    def risky(self) -> tuple[Change | SettingChange, ...]:
        return (*self.settings, *(c for c in self.changes if c.effect is not None))

    @property
    def exit_code(self) -> int:
        effects = {item.effect for item in self.risky}
        if "blocked" in effects:
            return EXIT_CANNOT_APPLY
        return EXIT_DATA_AT_RISK if effects else 0

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in ("create", "update", "replace", "delete")}
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "same": self.unchanged}

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": [s.to_json() for s in self.settings],
            "changes": [c.to_json() for c in self.changes],
            "counts": self.counts(),
            "exitCode": self.exit_code,
        }


def diff_plans(base: Sequence[Resource], head: Sequence[Resource], settings: Sequence[SettingChange] = ()) -> PlanDiff:
    """Every create, update, replace and delete from `base` to `head`, agents in name order."""
    before = {resource_key(r): r for r in base}
    after = {resource_key(r): r for r in head}
    previous = previous_states(base, head)
    agent_of_before, agent_of_after = owning_agents(base), owning_agents(head)
    changes: list[Change] = []
    unchanged = 0
    for key, new in after.items():
        old = before.get(previous[key]) if key in previous else None
        if old is None:
            changes.append(Change("create", *key, agent=agent_of_after[key], note=_adoption_note(new)))
            continue
        change = _compare(old, new, agent_of_after[key])
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    carried = set(previous.values())
    for key, old in before.items():
        if key not in carried:
            changes.append(_deleted(old, agent_of_before[key]))
    changes = _with_quota_admission(changes, before, after)
    changes = _with_keda_ownership(changes, before, after)
    changes = _with_security(changes, before, after, widened(base, head))
    changes.sort(key=lambda c: (c.agent is None, c.agent or "", _ACTION_ORDER[c.action]))
    return PlanDiff(tuple(changes), unchanged, tuple(settings))


_ACTION_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3}


def previous_states(base: Sequence[Resource], head: Sequence[Resource]) -> dict[tuple[str, str], tuple[str, str]]:
    """HEAD's (type, name) -> the BASE resource whose state it takes over, found as the engine finds a
    resource's old state: under its own URN first, then under each of its aliases (step_generator.go
    getOldResource). Resources recorded without URNs (hand-made, or an older plan --json) match by (type, name).
    URNs are compared without their stack: a renamed stack (diff --base-stack) carries its state over, as
    `pulumi stack rename` rewrites every URN of the state to the new name.
    """

    def identity(resource: Resource) -> str:
        return _without_stack(str(resource["urn"])) if with_urns else "::".join(resource_key(resource))

    with_urns = all(r.get("urn") for r in (*base, *head))
    in_base = {identity(r): resource_key(r) for r in base}
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for resource in head:
        aliases = [_without_stack(str(u)) for u in resource.get("aliases", ())] if with_urns else []
        old = next((in_base[u] for u in (identity(resource), *aliases) if u in in_base), None)
        if old is not None:
            found[resource_key(resource)] = old
    return found


def _without_stack(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` without `<stack>`."""
    return urn.split("::", 1)[-1]


def _compare(old: Resource, new: Resource, agent: str | None) -> Change | None:
    typ = new["type"]
    fields = tuple(
        FieldChange(path, before, after, change_model.forces_replace(typ, path))
        for path, before, after in changed_paths(old.get("inputs", {}), new.get("inputs", {}))
    )
    if not fields:
        return None
    if any(f.forces_replace for f in fields):
        effect, reason = _on_replace(old, [f.path for f in fields])
        return Change("replace", typ, new["name"], agent, fields, effect, reason)
    effect, reason = _on_update(old, new)
    return Change("update", typ, new["name"], agent, fields, effect, reason)


def _what(resource: Resource) -> str:
    kept = KEPT.get(resource["type"])
    return f"{kept.holds if kept else resource['type'].rsplit(':', 1)[-1]} {resource['name']}"


def _where(resource: Resource) -> str:
    return "cluster" if resource["type"].startswith("kubernetes:") else "cloud"


def _on_replace(old: Resource, paths: list[str]) -> tuple[Effect | None, str | None]:
    typ = old["type"]
    if typ not in KEPT:
        return None, None
    what = _what(old)
    if change_model.same_physical_object(typ, paths):
        changed = ", ".join(p for p in paths if change_model.forces_replace(typ, p))
        return "blocked", (
            f"{what} cannot be replaced in place ({changed}): it is kept (retainOnDelete), so the engine never "
            f"deletes the old one, and creating the new one under the same name is refused; see "
            f"{LIFECYCLE_DOC}#{_anchor(typ)}"
        )
    if typ.startswith("kubernetes:"):
        return "empty", (
            f"{what} moves: a new, empty one is created, the old one is kept in the cluster with its data, "
            f"unused; see {LIFECYCLE_DOC}#{_anchor(typ)}"
        )
    return "identity", (
        f"{what} is replaced by a new one: the old one is kept in the cloud, and grants made to it or secrets "
        f"encrypted to it stay with it; see {LIFECYCLE_DOC}#{_anchor(typ)}"
    )


def _adoption_note(new: Resource) -> str | None:
    """A kept kind is adopted, not created, when one of its name is still there: an agent given the name of
    a removed one gets that agent's volumes, identity and key as they are."""
    if new["type"] not in KEPT:
        return None
    return (
        f"adopts, as it is, the {_what(new)} kept from a removed agent of this name, if there is one "
        f"(its data, its grants); see {LIFECYCLE_DOC}#namespace"
    )


def _on_update(old: Resource, new: Resource) -> tuple[Effect | None, str | None]:
    if new["type"] == "kubernetes:core/v1:PersistentVolumeClaim" and change_model.shrinks(
        old.get("inputs", {}), new.get("inputs", {})
    ):
        return "blocked", (
            f"volume {new['name']} cannot shrink: Kubernetes only ever expands a claim, so `pulumi up` fails here; "
            f"see {LIFECYCLE_DOC}#shrink"
        )
    return None, None


def _deleted(old: Resource, agent: str | None) -> Change:
    typ = old["type"]
    if typ not in KEPT:
        return Change("delete", typ, old["name"], agent, note=_letting_go_note(old))
    if not old.get("retainOnDelete"):
        return Change("delete", typ, old["name"], agent, effect="kept", reason=f"{_what(old)} is deleted with its data")
    return Change(
        "delete",
        typ,
        old["name"],
        agent,
        effect="kept",
        reason=(
            f"{_what(old)} leaves the stack: it is kept in the {_where(old)}, unused; declaring it again adopts it, "
            f"deleting it is yours to do ({LIFECYCLE_DOC}#{_anchor(typ)})"
        ),
    )


def _letting_go_note(old: Resource) -> str | None:
    """A ScaledObject's delete hands the replica count back (kedacore/keda scaledobject_finalizer.go)."""
    if old["type"] != SCALED_OBJECT:
        return None
    advanced = (old.get("inputs") or {}).get("spec", {}).get("advanced") or {}
    if advanced.get("restoreToOriginalReplicaCount"):
        return (
            "KEDA scales the Deployment back to its replica count from before idling as it lets go: an idle agent "
            "runs again"
        )
    return "KEDA leaves the Deployment at its last replica count (0 if the agent is idle): scale it up by hand"


def _anchor(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1].lower()


def _with_security(
    changes: list[Change],
    before: Mapping[tuple[str, str], Resource],
    after: Mapping[tuple[str, str], Resource],
    widening: Mapping[tuple[str, str], list[Grant]],
) -> list[Change]:
    """Each create, update or replace that widens what its agent reaches, marked SECURITY in words."""
    return [
        replace(change, security=_security_words(before.get(key), after[key], widening[key]))
        if (key := (change.type, change.name)) in widening and change.action != "delete"
        else change
        for change in changes
    ]


def _security_words(old: Resource | None, new: Resource, grants: list[Grant]) -> str:
    parts = []
    if any(g.kind == "egress" for g in grants):
        rules_before = ((old or {}).get("inputs") or {}).get("spec", {}).get("egress", [])
        rules_after = (new.get("inputs") or {}).get("spec", {}).get("egress", [])
        parts.append(f"egress widened: from {egress_in_words(rules_before)} to {egress_in_words(rules_after)}")
    variables = sorted({g.does for g in grants if g.kind == "env"})
    if variables:
        parts.append(
            f"environment set or changed: {', '.join(variables)} (a variable can redirect traffic or run code in "
            "the program that reads it; nuketown refuses only the families it knows, docs/security.md#2-what-an-"
            "agents-pod-can-reach)"
        )
    other = in_words(g for g in grants if g.kind not in ("egress", "env"))
    if other:
        parts.append("reaches more: " + "; ".join(other))
    return "; ".join(parts)


def _with_quota_admission(
    changes: list[Change], before: Mapping[tuple[str, str], Resource], after: Mapping[tuple[str, str], Resource]
) -> list[Change]:
    """A claim created in a namespace whose quota, counting the claims kept there, has no room is refused."""
    claim = "kubernetes:core/v1:PersistentVolumeClaim"
    kept_by_namespace: dict[str, list[Resource]] = {}
    for change in changes:
        old = before.get((change.type, change.name))
        if change.action == "delete" and change.type == claim and old is not None and old.get("retainOnDelete"):
            kept_by_namespace.setdefault(_namespace(old), []).append(old)
    quotas = {_namespace(r): r for r in after.values() if r["type"] == "kubernetes:core/v1:ResourceQuota"}
    result = []
    for change in changes:
        if change.action == "create" and change.type == claim:
            new = after[(change.type, change.name)]
            namespace = _namespace(new)
            kept_here = kept_by_namespace.get(namespace, [])
            quota = quotas.get(namespace)
            if kept_here and quota is not None:
                declared = [r for r in after.values() if r["type"] == claim and _namespace(r) == namespace]
                claims = declared + kept_here
                hard = quota.get("inputs", {}).get("spec", {}).get("hard", {})
                if not change_model.quota_admits(hard, [c.get("inputs", {}) for c in claims]):
                    change = replace(
                        change,
                        effect="blocked",
                        reason=(
                            f"volume {change.name} is refused by the namespace's ResourceQuota, which still counts "
                            f"the kept {', '.join(str(k['name']) for k in kept_here)}; see {LIFECYCLE_DOC}#persist"
                        ),
                    )
        result.append(change)
    return result


def _with_keda_ownership(
    changes: list[Change], before: Mapping[tuple[str, str], Resource], after: Mapping[tuple[str, str], Resource]
) -> list[Change]:
    """An update that sets a Deployment's replicas while a ScaledObject of BASE holds them can never apply:
    KEDA owns the field, pulumi-kubernetes applies server-side without force (await.go, ssaUpdate), and the
    ScaledObject's delete only runs once every update went through."""
    held = {
        (_namespace(r), (r.get("inputs") or {}).get("spec", {}).get("scaleTargetRef", {}).get("name"))
        for r in before.values()
        if r["type"] == SCALED_OBJECT
    }
    result = []
    for change in changes:
        new = after.get((change.type, change.name))
        if (
            change.action == "update"
            and change.type == DEPLOYMENT
            and new is not None
            and "replicas" in (new.get("inputs") or {}).get("spec", {})
            and (_namespace(new), (new.get("inputs") or {}).get("metadata", {}).get("name")) in held
        ):
            change = replace(
                change,
                effect="blocked",
                reason=(
                    f"Deployment {change.name} sets spec.replicas, which KEDA's ScaledObject holds: the server-side "
                    "apply conflicts (409) on every run, and the ScaledObject is only deleted after it; leave "
                    f"replicas out (see {LIFECYCLE_DOC}#idling)"
                ),
            )
        result.append(change)
    return result


def _namespace(resource: Resource) -> str:
    return str(resource.get("inputs", {}).get("metadata", {}).get("namespace", ""))


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
_EFFECT_WORDS = {"kept": "KEPT", "empty": "NEW EMPTY", "identity": "NEW IDENTITY", "blocked": "CANNOT APPLY"}
MAX_FIELDS_SHOWN = 8


def format_diff(diff: PlanDiff, style: str = "markdown") -> str:
    """Changes grouped per agent, what they do to data in bold ("ansi" on a terminal, "markdown" for PRs,
    "plain" with NO_COLOR); + ~ - marks coloured on a terminal as `pulumi preview` colours them."""
    emphasis, mark = _emphasis(style), _marks(style)
    lines: list[str] = []
    if diff.settings:
        lines.append("stack settings")
        for setting in diff.settings:
            lines.append(f"   ~ {setting.key}: {_short(setting.old)} -> {_short(setting.new)}")
            lines.append("        " + emphasis(f"{_EFFECT_WORDS[setting.effect]}: {setting.reason}"))
    heading: str | None = None
    for change in diff.changes:
        if _heading(change) != heading:
            heading = _heading(change)
            lines += ["", heading]
        lines.append(f"  {mark(change.action)} {change.action:<8} {change.type}  {change.name}")
        lines += [f"        {_describe(f)}" for f in change.fields[:MAX_FIELDS_SHOWN]]
        if len(change.fields) > MAX_FIELDS_SHOWN:
            lines.append(f"        ... and {len(change.fields) - MAX_FIELDS_SHOWN} more fields")
        if change.security is not None:
            lines.append("        " + emphasis(f"SECURITY: {change.security}"))
        if change.effect is not None and change.reason is not None:
            lines.append("        " + emphasis(f"{_EFFECT_WORDS[change.effect]}: {change.reason}"))
        if change.note is not None:
            lines.append(f"        note: {change.note}")
    counts = diff.counts()
    summary = ", ".join(f"{counts[a]} to {a}" for a in ("create", "update", "replace", "delete") if counts[a])
    lines += ["", f"{summary or 'no changes'}; {counts['same']} unchanged"]
    blocked = [item for item in diff.risky if item.effect == "blocked"]
    moving = [item for item in diff.risky if item.effect != "blocked"]
    if blocked:
        lines.append(emphasis(f"{len(blocked)} change(s) can never apply: `pulumi up` would fail; rework them"))
    if moving:
        lines.append(emphasis(f"{len(moving)} change(s) move or leave data or identity: read them before merging"))
    widening = [change for change in diff.changes if change.security is not None]
    if widening:
        lines.append(emphasis(f"{len(widening)} change(s) widen what an agent reaches (SECURITY): read them"))
    return "\n".join(lines).lstrip("\n")


def _heading(change: Change) -> str:
    return f"agent {change.agent}" if change.agent is not None else "stack"


def _describe(change: FieldChange) -> str:
    marker = "  (forces replacement)" if change.forces_replace else ""
    return f"{change.path}: {_short(change.old)} -> {_short(change.new)}{marker}"


def _short(value: Any, limit: int = 60) -> str:
    if value is _ABSENT or value is None:
        return "(none)"
    if value == UNKNOWN_TEXT:
        return UNKNOWN_TEXT
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _emphasis(style: str) -> Callable[[str], str]:
    if style == "ansi":
        return lambda text: f"\033[1m{text}\033[0m"
    if style == "markdown":
        return lambda text: f"**{text}**"
    return lambda text: text


_COLOURS = {"create": "32", "update": "33", "replace": "35", "delete": "31"}  # pulumi's green, yellow, magenta, red


def _marks(style: str) -> Callable[[str], str]:
    if style == "ansi":
        return lambda action: f"\033[{_COLOURS[action]}m{_SIGNS[action]:>2}\033[0m"
    return lambda action: f"{_SIGNS[action]:>2}"


# --- stack settings that move everything ------------------------------------------------------------------


def setting_changes(base: "Settings", head: "Settings") -> list[SettingChange]:
    """Settings whose change moves every agent's data or identity at once (each named with its recipe)."""
    changes = []

    def add(key: str, old: Any, new: Any, effect: Effect, reason: str, anchor: str) -> None:
        if old != new:
            changes.append(SettingChange(key, old, new, effect, f"{reason}; see {LIFECYCLE_DOC}#{anchor}"))

    moved = "every name derived from it moves: agents start in new namespaces on empty volumes" + (
        ", with new identities and keys" if base.cloud != "none" else ""
    )
    add(
        "nuketown:environment",
        base.names.environment,
        head.names.environment,
        "empty",
        f"{moved}; the old ones are kept, unused",
        "environment",
    )
    add(
        "nuketown:legacyNames",
        base.names.legacy,
        head.names.legacy,
        "empty",
        f"{moved} (environment and agent joined by '-' or by '--'); the old ones are kept, unused",
        "legacy-names",
    )
    if base.names.environment == head.names.environment and base.names.legacy == head.names.legacy:
        add(
            "nuketown:namespacePrefix",
            base.prefix,
            head.prefix,
            "empty",
            "every agent moves to a new namespace, where its volumes start empty; the old namespaces keep theirs "
            "(kept, unused)",
            "namespace-prefix",
        )
    add(
        "cluster",
        _cluster(base),
        _cluster(head),
        "empty",
        "the Kubernetes provider points at another cluster, so the engine replaces it and every object it "
        "manages: agents start there on empty volumes, the old cluster keeps the old ones",
        "cluster",
    )
    if base.cloud != "none":
        add(
            "nuketown:cloud",
            base.cloud,
            head.cloud,
            "identity",
            f"every agent's {base.cloud} identity and key leave the stack (kept in the cloud, unused) and their "
            "grants are deleted",
            "cloud",
        )
    if base.cloud == head.cloud == "gcp":
        add(
            "gcp:project",
            base.gcp_project,
            head.gcp_project,
            "identity",
            "every account, key and grant is created in the new project; the old ones are kept, and secrets stay "
            "encrypted to the old keys",
            "gcp-project",
        )
        add(
            "nuketown:gcpKmsLocation",
            base.gcp_kms_location,
            head.gcp_kms_location,
            "identity",
            "a new key ring and keys are created there; secrets stay encrypted to the old keys (kept)",
            "kms-location",
        )
    if base.cloud == head.cloud == "aws":
        add(
            "aws:region",
            base.aws_region,
            head.aws_region,
            "identity",
            "keys are regional: new keys in the new region, the old ones kept with the secrets encrypted to them",
            "aws-region",
        )
    if not base.apply_kubernetes and head.apply_kubernetes and not head.adopt_existing_objects:
        add(
            "nuketown:applyKubernetes",
            False,
            True,
            "blocked",
            "the stack takes the Kubernetes objects back, and Argo CD applied them already: it creates namespaces "
            "and volume claims by upsert, but every other object, its ownership guard too, with a plain create, "
            "which Kubernetes refuses (AlreadyExists); stop Argo CD, then make this change with "
            "nuketown:adoptExistingObjects: true",
            "argo-cd-back",
        )
    if base.apply_kubernetes and not head.apply_kubernetes:
        add(
            "nuketown:applyKubernetes",
            True,
            False,
            "kept",
            "the stack stops applying Kubernetes objects: namespaces and volumes leave it (kept), the rest is "
            "deleted until Argo CD applies it",
            "argo-cd",
        )
    return changes


def _cluster(settings: "Settings") -> dict[str, Any]:
    """What decides the cluster the Kubernetes provider reaches (a secret kubeconfig only by its presence)."""
    kubernetes = settings.provider_config.get("kubernetes", {})
    found = {key: kubernetes[key] for key in change_model.KUBERNETES_PROVIDER_CLUSTER if key in kubernetes}
    if "kubernetes:kubeconfig" in settings.secret_keys:
        found["kubeconfig"] = "[secret]"
    for key, value in (("gkeCluster", settings.gke_cluster), ("eksCluster", settings.eks_cluster)):
        if value is not None:
            found[key] = value
    return found
