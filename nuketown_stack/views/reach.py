"""What declared resources let an agent reach, and what a change adds to it.

Every kind of resource that grants something is one row of REACH: a function from its inputs to the
`Grant`s it makes (IAM members with their roles, resources and conditions; AWS policy statements of
roles, boundaries and keys; trust; Pod Identity associations; the identity a ServiceAccount names;
egress; the environment the spec adds). A new grant kind is a new row. Deny statements and a role's
boundary are *limits*: losing one widens too.

`diff` compares, per agent, HEAD's grants with all of BASE's: a grant no BASE grant covers widens
what the agent reaches (or who reaches its identity and key), and its change is SECURITY. A value
unknown at preview comes from a resource this update creates, which is new and empty, so it covers
and is covered like any value; a whole policy document unknown at preview cannot be read, and is
reported as such.

One grant that no BASE grant covers is not a widening: the agent's own identity on a bucket the agent
declares in HEAD that no agent declared in BASE (a GCS bucket-level member, an S3 statement naming the
bucket or its objects). The bucket is new and the agent's alone (or its own, kept from before and adopted
only when labelled for it), so nothing beyond the agent is reached. A grant on a bucket BASE already
declared, another agent's or any other, on a bucket no agent declares, by any other holder, or on a
bucket-name pattern (a GCP storage condition, an S3 `<prefix>*`) is compared as every grant is. Pure: no
pulumi, no I/O.
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nuketown_stack.clouds.aws.plan import EKS_ROLE_ANNOTATION
from nuketown_stack.clouds.gcp.plan import GKE_ACCOUNT_ANNOTATION, KMS_DECRYPTER
from nuketown_stack.inputs.env import RESERVED_ENV
from nuketown_stack.plan.egress import atoms as egress_atoms
from nuketown_stack.plan.stack import AKS_CLIENT_ANNOTATION
from nuketown_stack.program.declared import UNKNOWN_TEXT, Resource, owning_agents, resource_key

ANY = "*"
IDENTITY_ANNOTATIONS = (GKE_ACCOUNT_ANNOTATION, EKS_ROLE_ANNOTATION, AKS_CLIENT_ANNOTATION)
_STARTS_WITH = 'resource.name.startsWith("'
_ON_BUCKET = "bucket "  # how a GCS bucket-level member's resource reads (the row's `what`)
_S3_ARN = re.compile(r"arn:[a-z-]+:s3:::([^/]*)(?:/.*)?", re.DOTALL)
# The agent's buckets, by type: the input holding the bucket's name.
BUCKETS = {"gcp:storage/bucket:Bucket": "name", "aws:s3/bucket:Bucket": "bucket"}


@dataclass(frozen=True)
class Grant:
    """`who` may `does` on `on`, when `when` holds ("" always). `limit`: a Deny or a cap, which takes away."""

    kind: str  # "gcp-iam", "aws-policy", "key-policy", "trust", "pod-identity", "identity", "egress", "env"
    who: str
    does: str
    on: str
    when: str = ""
    limit: bool = False
    readable: bool = True  # False: a document unknown until apply, whose grants cannot be compared

    def within(self, other: "Grant") -> bool:
        """Whether `other` already allows everything this grant allows (for limits: takes away as much)."""
        return (
            self.readable
            and other.readable
            and (self.kind, self.limit) == (other.kind, other.limit)
            and _covers(other.who, self.who)
            and _covers(other.does.lower(), self.does.lower())
            and _covers(other.on, self.on)
            and _condition_covers(other.when, self.when)
        )

    def words(self) -> str:
        if not self.readable:
            return f"{self.who}: what it grants is known only after apply (it names a resource this update creates)"
        if self.kind == "env":
            return f"env {self.does}"
        if self.limit:
            return f"no longer: {self.who} {self.does} on {self.on}"
        return f"{self.who}: {self.does} on {self.on}" + (f" if {self.when}" if self.when else "")


def _covers(old: str, new: str) -> bool:
    """Whether the pattern `old` (IAM and egress wildcards `*`, `?`) matches everything `new` does. A value
    unknown until apply names something this update creates: new and empty, it covers and is covered."""
    if old == new or UNKNOWN_TEXT in old or UNKNOWN_TEXT in new:
        return True
    if not any(w in old for w in "*?"):
        return False
    # `new` read literally: its own wildcards then lie inside what an old `*` matches, so every string `new`
    # matches does too. An old `?` could match a new `*` alone, which stands for more: not covered.
    if any(w in new for w in "*?") and "?" in old:
        return False
    return re.fullmatch(_glob(old), new, re.DOTALL) is not None


def _glob(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _condition_covers(old: str, new: str) -> bool:
    """No condition covers any; GCP's `resource.name.startsWith(P)` covers a longer prefix; else equal."""
    if not old or old == new:
        return True
    if old.startswith(_STARTS_WITH) and new.startswith(_STARTS_WITH) and old.endswith('")') and new.endswith('")'):
        return new[len(_STARTS_WITH) : -2].startswith(old[len(_STARTS_WITH) : -2])
    return False


# --- the rows ---------------------------------------------------------------------------------------------

Inputs = Mapping[str, Any]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _gcp_member(target: str, what: str) -> Callable[[Inputs], list[Grant]]:
    """A non-authoritative IAM member: one principal, one role, on one resource, maybe conditioned."""

    def grants(inputs: Inputs) -> list[Grant]:
        condition = inputs.get("condition") or {}
        when = _text(condition.get("expression", "")) if isinstance(condition, Mapping) else _text(condition)
        return [
            Grant(
                "gcp-iam",
                _text(inputs.get("member")),
                _text(inputs.get("role")),
                f"{what} {_text(inputs.get(target))}",
                when,
            )
        ]

    return grants


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal is None:
        return []
    if not isinstance(principal, Mapping):
        return [_text(principal)]
    return [f"{kind}:{_text(p)}" for kind, value in sorted(principal.items()) for p in _listed(value)]


def _statements(document: Any, kind: str, who: str, on: str | None = None) -> list[Grant]:
    """Allow statements as grants, Deny statements as limits; an unreadable document as one opaque grant.
    `who` is the document's holder (a role, a boundary); statements with a Principal name theirs instead."""
    try:
        parsed = json.loads(document) if isinstance(document, str) else document
        statements = _listed(parsed.get("Statement"))
    except (ValueError, AttributeError):
        return [Grant(kind, who, "", "", readable=False)]
    grants = []
    for statement in statements:
        if not isinstance(statement, Mapping):
            return [Grant(kind, who, "", "", readable=False)]
        when = _text(statement["Condition"]) if statement.get("Condition") else ""
        actions = [_text(a) for a in _listed(statement.get("Action"))]
        actions += [f"anything but {_text(a)}" for a in _listed(statement.get("NotAction"))]
        resources = [on] if on is not None else [_text(r) for r in _listed(statement.get("Resource"))]
        resources += [f"anything but {_text(r)}" for r in _listed(statement.get("NotResource"))]
        limit = statement.get("Effect") != "Allow"
        for holder in _principals(statement) or [who]:
            grants += [Grant(kind, holder, a, r, when, limit) for a in actions for r in resources]
    return grants


def _role_policy(inputs: Inputs) -> list[Grant]:
    return _statements(inputs.get("policy"), "aws-policy", f"role {_text(inputs.get('role'))}")


def _boundary(inputs: Inputs) -> list[Grant]:
    # A boundary caps its role: what it allows is the most the role can ever do.
    return _statements(inputs.get("policy"), "aws-policy", f"boundary {_text(inputs.get('name'))}")


def _key_policy(inputs: Inputs) -> list[Grant]:
    return _statements(inputs.get("policy"), "key-policy", "key policy", on=f"key {_text(inputs.get('keyId'))}")


def _role(inputs: Inputs) -> list[Grant]:
    role = f"role {_text(inputs.get('name'))}"
    trust = _statements(inputs.get("assumeRolePolicy"), "trust", role, on=role)
    boundary = inputs.get("permissionsBoundary")
    capped = [Grant("trust", role, "capped by boundary", _text(boundary), limit=True)] if boundary else []
    return trust + capped


def _pod_identity(inputs: Inputs) -> list[Grant]:
    pods = "/".join(_text(inputs.get(k)) for k in ("clusterName", "namespace", "serviceAccount"))
    return [Grant("pod-identity", f"pods of {pods}", "assume", f"role {_text(inputs.get('roleArn'))}")]


def _namespaced(inputs: Inputs) -> str:
    metadata = inputs.get("metadata") or {}
    return f"{_text(metadata.get('namespace'))}/{_text(metadata.get('name'))}"


def _service_account(inputs: Inputs) -> list[Grant]:
    annotations = (inputs.get("metadata") or {}).get("annotations") or {}
    return [
        Grant("identity", f"ServiceAccount {_namespaced(inputs)}", key, _text(annotations[key]))
        for key in IDENTITY_ANNOTATIONS
        if key in annotations
    ]


def _network_policy(inputs: Inputs) -> list[Grant]:
    rules = (inputs.get("spec") or {}).get("egress") or []
    who = f"pods of {_text((inputs.get('metadata') or {}).get('namespace'))}"
    return [Grant("egress", who, ports, peer) for peer, ports in egress_atoms(rules)]


def _deployment(inputs: Inputs) -> list[Grant]:
    """The environment the spec adds (nuketown's own variables are the Deployment's, not the spec's)."""
    pod = ((inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [
        Grant("env", f"container {_text(container.get('name'))}", _text(env.get("name")), _text(env.get("value")))
        for container in pod.get("containers") or []
        for env in container.get("env") or []
        if env.get("name") not in RESERVED_ENV
    ]


REACH: dict[str, Callable[[Inputs], list[Grant]]] = {
    "gcp:projects/iAMMember:IAMMember": _gcp_member("project", "project"),
    "gcp:serviceaccount/iAMMember:IAMMember": _gcp_member("serviceAccountId", "service account"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _gcp_member("cryptoKeyId", "key"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": _gcp_member("bucket", _ON_BUCKET.strip()),
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/policy:Policy": _boundary,
    "aws:kms/keyPolicy:KeyPolicy": _key_policy,
    "aws:iam/role:Role": _role,
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _pod_identity,
    "kubernetes:core/v1:ServiceAccount": _service_account,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _network_policy,
    "kubernetes:apps/v1:Deployment": _deployment,
}


def in_words(found: Iterable[Grant]) -> list[str]:
    """Grants in words, those that differ only in what they do said once: `role r: s3:GetObject, s3:PutObject on
    arn:aws:s3:::ada-*/*`."""
    actions: dict[Grant, list[str]] = {}
    for grant in found:
        actions.setdefault(replace(grant, does=""), []).append(grant.does)
    return [replace(grant, does=", ".join(dict.fromkeys(does))).words() for grant, does in actions.items()]


def grants(resource: Resource) -> list[Grant]:
    row = REACH.get(resource["type"])
    return row(resource.get("inputs") or {}) if row is not None else []


# --- what a change adds ----------------------------------------------------------------------------------


def bucket_of(grant: Grant) -> str | None:
    """The one bucket a grant is on: a GCS bucket-level member's, or the bucket an S3 ARN names (the bucket, or
    objects in it). None for anything else: a project, a key, a bucket-name pattern, a name unknown at preview."""
    if grant.kind == "gcp-iam" and grant.on.startswith(_ON_BUCKET):
        name = grant.on[len(_ON_BUCKET) :]
    elif grant.kind == "aws-policy" and (match := _S3_ARN.fullmatch(grant.on)) is not None:
        name = match[1]
    else:
        return None
    return name if name and not any(c in name for c in "*?") and UNKNOWN_TEXT not in name else None


def _buckets(resources: Sequence[Resource], agents: Mapping[tuple[str, str], str | None]) -> dict[str | None, set[str]]:
    """The buckets each agent declares, by name."""
    declared: dict[str | None, set[str]] = {}
    for resource in resources:
        name = (resource.get("inputs") or {}).get(BUCKETS.get(resource["type"], ""))
        if isinstance(name, str):
            declared.setdefault(agents[resource_key(resource)], set()).add(name)
    return declared


def _own_holders(base_grants: Iterable[Grant]) -> list[str]:
    """Who acts as the agent in BASE: the role its role policy and boundary belong to (AWS), the member its key is
    decrypted by (GCP)."""
    return [g.who for g in base_grants if g.kind == "aws-policy" or (g.kind == "gcp-iam" and g.does == KMS_DECRYPTER)]


def widened(base: Sequence[Resource], head: Sequence[Resource]) -> dict[tuple[str, str], list[Grant]]:
    """Per HEAD resource, (type, name), the grants no BASE grant of its agent covers, and the limits of its BASE
    self that it no longer has. Agents new in HEAD are left out: adding one is the change to review. The agent's
    own identity on a bucket new in HEAD and declared by the agent is its own (module docstring)."""
    agent_before, agent_after = owning_agents(base), owning_agents(head)
    allowed: dict[str | None, list[Grant]] = {}
    for resource in base:
        allowed.setdefault(agent_before[resource_key(resource)], []).extend(g for g in grants(resource) if not g.limit)
    known_buckets = set().union(*_buckets(base, agent_before).values())
    declared = _buckets(head, agent_after)
    declarers = Counter(name for names in declared.values() for name in names)  # a bucket two declare is neither's
    new_buckets = {agent: {n for n in names - known_buckets if declarers[n] == 1} for agent, names in declared.items()}
    before = {resource_key(r): r for r in base}
    found: dict[tuple[str, str], list[Grant]] = {}
    for resource in head:
        key = resource_key(resource)
        agent = agent_after[key]
        if agent not in allowed:
            continue
        now = grants(resource)
        holders = _own_holders(allowed[agent])
        added = [
            g
            for g in now
            if not g.limit
            and not any(g.within(old) for old in allowed[agent])
            and not (bucket_of(g) in new_buckets.get(agent, set()) and any(_covers(h, g.who) for h in holders))
        ]
        limits = [g for g in now if g.limit]
        lost = [old for old in (grants(before[key]) if key in before else []) if old.limit and not _kept(old, limits)]
        if added or lost:
            found[key] = added + lost
    return found


def _kept(old_limit: Grant, limits: Iterable[Grant]) -> bool:
    """A limit is kept when a limit of HEAD takes away at least as much (its pattern covers the old one)."""
    return any(old_limit.within(new) for new in limits)
