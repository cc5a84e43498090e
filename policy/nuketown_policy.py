"""The rules of the nuketown policy pack, as plain functions.

Resource rules take a resource's type and properties and return one line per
problem (empty when it complies). Stack rules take every resource of the stack
(`Resource`: type, name, properties, the agent it belongs to) and a `Context`
(the stack's name and the pack's allow-lists) and return `Finding`s, each
naming the resource it is about. `policies.py` wires both into CrossGuard;
`offline.py` runs them over `nuketown-stack plan --json`; the tests call them
directly. Properties are the engine's (camelCase), exactly what
`plan --json` prints as `inputs`.

Every rule is mandatory, so a value a rule needs that is unknown (at preview)
is itself a violation, unless it provably comes from the agent's own identity or
key (`with_origins`, below; nuketown_values.py). Resource rules cannot tell: under
CrossGuard a resource policy is given no dependencies, so it defers a value it
cannot read to the stack rule `unknown_origin_problems`, which runs the same rule
with the origins known.

Names the program derives (namespaces, service account ids, role names) are
restated here, not imported: the pack runs in its own virtualenv, without
nuketown_stack, and it checks the program rather than trusting it. The tests
compare them with nuketown_stack.naming.
"""

import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import nuketown_iam as iam
from nuketown_values import (
    NO_ORIGIN,
    Derived,
    UnknownOrigin,
    UnknownValue,
    has_unknown,
    reading_unknowns,
    replace_unknowns,
    view,
)
from podsecurity import violations as pod_security_violations

Props = Mapping[str, Any]
AGENT_TYPE = "nuketown:index:Agent"
FLEET_TYPE = "nuketown:index:Fleet"
AGENT_LABEL = "nuketown.io/agent"
STACK_LABEL = "nuketown.io/stack"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
GKE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
EKS_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
AUTHORITATIVE_GCP_IAM = ("IAMBinding", "IAMPolicy")  # they replace every other grant on the resource

NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NETWORK_POLICY_PATCH = "kubernetes:networking.k8s.io/v1:NetworkPolicyPatch"
GCP_ACCOUNT = "gcp:serviceaccount/account:Account"
GCP_ACCOUNT_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
GCP_KEY_RING = "gcp:kms/keyRing:KeyRing"
GCP_KEY = "gcp:kms/cryptoKey:CryptoKey"
GCP_KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
GCP_PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
GCP_BUCKET = "gcp:storage/bucket:Bucket"
GCP_BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
AWS_BUCKET = "aws:s3/bucket:Bucket"
AWS_BUCKET_PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
AWS_ROLE = "aws:iam/role:Role"
AWS_POLICY = "aws:iam/policy:Policy"
AWS_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AWS_KEY = "aws:kms/key:Key"
AWS_ALIAS = "aws:kms/alias:Alias"
AWS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
AWS_POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
KMS_DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
KMS_ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypter"
STORAGE_OBJECT_USER = "roles/storage.objectUser"
# The only GCP grants nuketown makes: resource type -> (what it grants on, the roles allowed there).
GCP_GRANTS: dict[str, tuple[str, frozenset[str]]] = {
    GCP_ACCOUNT_MEMBER: ("a service account", frozenset({WORKLOAD_IDENTITY_USER})),
    GCP_KEY_MEMBER: ("a KMS key", frozenset({KMS_DECRYPTER, KMS_ENCRYPTER})),
    GCP_PROJECT_MEMBER: ("the project", frozenset({STORAGE_OBJECT_USER})),  # conditioned on an agent's buckets
    GCP_BUCKET_MEMBER: ("a bucket", frozenset({STORAGE_OBJECT_USER})),
}
STORAGE_CONDITION = re.compile(rf'resource\.name\.startsWith\("projects/_/buckets/(?P<prefix>{iam.SCOPE_PREFIX})"\)')
WORKLOAD_IDENTITY_MEMBER = re.compile(
    r"serviceAccount:(?P<pool>[a-z][a-z0-9-]{4,28}[a-z0-9]\.svc\.id\.goog)\[(?P<namespace>[^/\[\]]+)/(?P<account>[^/\[\]]+)\]"
)
ACCOUNT_RESOURCE_NAME = re.compile(r"projects/(?P<project>[^/]+)/serviceAccounts/(?P<email>[^/]+)")
GCP_EMAIL = re.compile(r"[^@\s]+@(?P<project>[a-z][a-z0-9-]*[a-z0-9])\.iam\.gserviceaccount\.com")
_ARN_PREFIX = r"arn:aws(?:-cn|-us-gov)?:iam::[0-9]{12}"

# Every resource type the program declares. Anything else (a role attachment, a service account key,
# an RBAC binding, a Service) is refused until the pack is taught what to check on it.
VERTICAL_POD_AUTOSCALER = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
ADMISSION_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
PERSISTENT_VOLUME_CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
KNOWN_TYPES = frozenset(
    {
        "pulumi:pulumi:Stack",
        FLEET_TYPE,
        AGENT_TYPE,
        "pulumi:providers:kubernetes",
        "pulumi:providers:gcp",
        "pulumi:providers:aws",
        NAMESPACE,
        SERVICE_ACCOUNT,
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:ResourceQuota",
        "kubernetes:core/v1:LimitRange",
        PERSISTENT_VOLUME_CLAIM,
        NETWORK_POLICY,
        "kubernetes:apps/v1:Deployment",
        VERTICAL_POD_AUTOSCALER,
        SCALED_OBJECT,
        ADMISSION_POLICY,
        ADMISSION_BINDING,
        GCP_ACCOUNT,
        GCP_ACCOUNT_MEMBER,
        GCP_KEY_RING,
        GCP_KEY,
        GCP_KEY_MEMBER,
        GCP_PROJECT_MEMBER,
        GCP_BUCKET,
        GCP_BUCKET_MEMBER,
        AWS_BUCKET,
        AWS_BUCKET_PUBLIC_ACCESS,
        AWS_KEY,
        AWS_ALIAS,
        AWS_KEY_POLICY,
        AWS_POLICY,
        AWS_ROLE,
        AWS_ROLE_POLICY,
        AWS_POD_IDENTITY,
    }
)

# Where each workload kind keeps its pod template (metadata and spec); a Pod is its own.
WORKLOAD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "ReplicationController": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
)
# What the stack's ownership guard must refuse: updates (adoption is one) of the kinds the program adopts.
# (API group, resource) of every kind the program writes: its ownership guard refuses creating or updating any
# of them for another owner, or into another owner's namespace (nuketown_stack/plan/admission.py).
GUARDED_RESOURCES = frozenset(
    {
        ("", "namespaces"),
        ("", "serviceaccounts"),
        ("", "configmaps"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("networking.k8s.io", "networkpolicies"),
        ("autoscaling.k8s.io", "verticalpodautoscalers"),
        ("keda.sh", "scaledobjects"),
    }
)
STACK_UNKNOWN = "the stack name is not known (offline: pass --stack), so names derived from it cannot be checked"


# --- names the program derives (nuketown_stack/plan/naming.py) --------------------------------------------------

SEPARATOR = "--"  # between environment and agent; neither may contain it (legacy names: "-")


def _digest(name: str, length: int) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Names:
    """The names a stack derives from its environment (the stack's name unless pack config says otherwise),
    separated by '--' or, for stacks that keep their older names (pack config legacyNames), by '-'."""

    environment: str
    legacy: bool = False

    @property
    def separator(self) -> str:
        return "-" if self.legacy else SEPARATOR

    def _fit(self, name: str, limit: int) -> str:
        """As the program cuts a long name: head and a hash of the whole name (6 digits legacy, else 8 and
        exactly `limit` long from `limit` on)."""
        if self.legacy:
            return name if len(name) <= limit else f"{name[: limit - 7].rstrip('-')}-{_digest(name, 6)}"
        return name if len(name) < limit else f"{name[: limit - 9]}-{_digest(name, 8)}"

    def account_id(self, agent: str) -> str:
        return self._fit(f"nt-{self.environment}{self.separator}{agent}", 30)

    def key_ring(self) -> str:
        return f"nuketown-{self.environment}"

    def role(self, agent: str) -> str:
        return self._fit(f"nuketown-{self.environment}{self.separator}{agent}", 64)

    def boundary(self, agent: str) -> str:
        return self._fit(f"nuketown-{self.environment}{self.separator}{agent}{self.separator}boundary", 128)

    def key_alias(self, agent: str) -> str:
        return f"alias/nuketown/{self.environment}/{agent}"

    def carried_by(self, prefix: str) -> bool:
        """A namespace prefix names the environment as a whole dash-separated part (`nuketown-dev--`, `dev--`),
        and in the separated form ends in the separator, its only one."""
        if f"-{self.environment}-" not in f"-{prefix}":
            return False
        return self.legacy or (prefix.endswith(SEPARATOR) and prefix.count(SEPARATOR) == 1 and "---" not in prefix)


def is_reserved_namespace(name: str) -> bool:
    return name in RESERVED_NAMESPACES or name.startswith("kube-")


# --- what rules are given ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Props
    agent: str | None = None  # the nuketown:index:Agent component it belongs to, however deep
    urn: str | None = None
    # Input property -> the resources its value comes from (their `ref`s): the engine's property dependencies.
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def ref(self) -> str:
        """How dependencies name it: its URN under CrossGuard, `<type>::<name>` in a plan."""
        return self.urn or f"{self.type}::{self.name}"

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"

    def read(self) -> Any:
        return view(self.props)


class Finding(NamedTuple):
    resource: Resource | None  # None: about the stack as a whole
    message: str


class ConfigError(ValueError):
    """Pack configuration that is not what the schema says."""


@dataclass(frozen=True)
class Context:
    stack: str | None
    # The operator's allow-lists (pack config): an existing identity an agent may bind, an email or a
    # role ARN; scopes (like "shared-*") an agent may reach beyond its own "<agent>-".
    allowed_identities: Mapping[str, str] = field(default_factory=dict)
    allowed_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # How the stack derives its names (pack config environment, legacyNames), as its settings say.
    environment: str | None = None
    legacy_names: bool = False
    # agentPrefix: the operator declared the project or account the stack's alone (nuketown:storage), so an
    # agent may also reach every bucket named <agent>-*; buckets: only the buckets the stack declares for it.
    storage: str = "buckets"

    @property
    def names(self) -> Names | None:
        """The stack's names; None when the stack is not known (offline without --stack)."""
        environment = self.environment or self.stack
        return Names(environment, self.legacy_names) if environment else None

    @classmethod
    def from_config(cls, stack: str | None, config: Mapping[str, Any] | None) -> "Context":
        config = config or {}
        identities = config.get("allowedIdentities") or {}
        scopes = config.get("allowedScopes") or {}
        if not isinstance(identities, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in identities.items()
        ):
            raise ConfigError("allowedIdentities must map agent names to one email or role ARN each")
        if not isinstance(scopes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v)
            for k, v in scopes.items()
        ):
            raise ConfigError('allowedScopes must map agent names to lists of scopes (like "shared-*")')
        environment, legacy = config.get("environment"), config.get("legacyNames", False)
        storage = config.get("storage", "buckets")
        if storage not in ("buckets", "agentPrefix"):
            raise ConfigError("storage must be buckets or agentPrefix")
        if environment is not None and not isinstance(environment, str):
            raise ConfigError("environment must be the name the stack's names derive from")
        if not isinstance(legacy, bool):
            raise ConfigError("legacyNames must be true or false")
        return cls(
            stack=stack,
            allowed_identities=dict(identities),
            allowed_scopes={agent: tuple(values) for agent, values in scopes.items()},
            environment=environment,
            legacy_names=legacy,
            storage=storage,
        )

    def allows_scope(self, agent: str, prefix: str) -> bool:
        """A bucket-name prefix an agent's grant may cover: allow-listed for it, or `<agent>-` in a project or
        account the operator declared the stack's alone (storage agentPrefix)."""
        own = self.storage == "agentPrefix" and prefix.startswith(f"{agent}-")
        return own or any(scope.removesuffix("*") == prefix for scope in self.allowed_scopes.get(agent, ()))


def owning_agents(resources: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """The agent each `plan --json` resource belongs to, following `parent` ("<type>::<name>") references."""
    parents = {f"{r['type']}::{r['name']}": r.get("parent") for r in resources}

    def agent(reference: str | None) -> str | None:
        seen = set()
        while reference is not None and reference not in seen:
            seen.add(reference)
            kind, _, name = reference.partition("::")
            if kind == AGENT_TYPE:
                return name
            reference = parents.get(reference)
        return None

    return [agent(f"{r['type']}::{r['name']}") for r in resources]


def resources_from_plan(plan: Mapping[str, Any]) -> list[Resource]:
    """The resources of a `nuketown-stack plan --json` document."""
    entries = list(plan.get("resources") or [])
    return [
        Resource(
            type=r["type"],
            name=r["name"],
            props=r.get("inputs") or {},
            agent=agent,
            dependencies={key: tuple(refs) for key, refs in (r.get("dependencies") or {}).items()},
        )
        for r, agent in zip(entries, owning_agents(entries), strict=True)
    ]


# --- where an unknown value comes from ---------------------------------------------------------------------

# What a resource this stack declares for an agent assigns on creation that is the agent's own identity or key:
# a service account's email, a key's id, a role's or boundary's ARN, and the key ring of the stack.
IDENTITY_SOURCES = frozenset({GCP_ACCOUNT, GCP_KEY, GCP_KEY_RING, AWS_ROLE, AWS_POLICY, AWS_KEY})
AGENT_TAG, STACK_TAG = "nuketown.io/agent", "nuketown.io/stack"


def with_origins(resources: Sequence[Resource], names: Names | None) -> list[Resource]:
    """The resources with each value unknown at preview replaced by where it comes from.

    An input property whose every dependency is a resource this stack declares as the same agent's own
    identity or key (IDENTITY_SOURCES; the key ring: the stack's), each named as the program names it, becomes
    `Derived`: rules accept it where they ask whether a value is the agent's own identity, key, or a
    document about them. Any other unknown (no dependency information, a resource of another agent, of
    another type, one this stack does not declare, or misnamed) becomes `UnknownOrigin`, which a rule
    reading it reports, naming where it came from.
    """
    origins = _Origins({resource.ref: resource for resource in resources}, names)
    return [origins.mark(resource) for resource in resources]


@dataclass(frozen=True)
class _Origins:
    by_ref: Mapping[str, Resource]
    names: Names | None

    def mark(self, resource: Resource) -> Resource:
        if not has_unknown(resource.props) or not isinstance(resource.props, Mapping):
            return resource
        props = dict(resource.props)
        for key, value in resource.props.items():
            if not has_unknown(value):
                continue
            verdict = self.verdict(resource, key)
            if isinstance(verdict, str):
                props[key] = replace_unknowns(value, lambda _, why=verdict: UnknownOrigin(why), key)
            else:
                props[key] = replace_unknowns(value, lambda path, sources=verdict: Derived(path, sources), key)
        return dataclasses.replace(resource, props=props)

    def verdict(self, resource: Resource, key: str, seen: frozenset[str] = frozenset()) -> tuple[Any, ...] | str:
        """The (type, reference) of each resource `resource.props[key]` comes from, when each is the agent's own
        identity or key; else why not."""
        refs = resource.dependencies.get(key) or ()
        if not refs:
            return NO_ORIGIN
        if resource.agent is None:
            return f"comes from {', '.join(refs)} but belongs to no agent"
        if self.names is None:
            return f"comes from {', '.join(refs)}, but {STACK_UNKNOWN}"
        problems = [p for ref in refs if (p := self.source_problem(ref, resource.agent, seen | {resource.ref}))]
        if problems:
            return "; ".join(problems)
        return tuple((self.by_ref[ref].type, self.by_ref[ref].label) for ref in refs)

    def source_problem(self, ref: str, agent: str, seen: frozenset[str]) -> str | None:
        """Why the resource `ref` is not `agent`'s own identity or key as this stack declares it (None if it is)."""
        source = self.by_ref.get(ref)
        if source is None:
            return f"comes from {ref}, which this stack does not declare"
        label, names = source.label, self.names
        assert names is not None
        if source.type not in IDENTITY_SOURCES:
            return f"comes from {label}, which is not an identity or key resource"
        if source.type == GCP_KEY_RING:
            return self._named(source, "name", names.key_ring(), "the stack's key ring")
        if source.agent != agent:
            return f"comes from {label}, which is {source.agent or 'no agent'}'s, not {agent}'s"
        if source.type == GCP_ACCOUNT:
            return self._named(source, "accountId", names.account_id(agent), f"{agent}'s account")
        if source.type == AWS_ROLE:
            return self._named(source, "name", names.role(agent), f"{agent}'s role")
        if source.type == AWS_POLICY:
            return self._named(source, "name", names.boundary(agent), f"{agent}'s boundary")
        if source.type == AWS_KEY:
            tags = _peek(source, "tags")
            tags = tags if isinstance(tags, Mapping) else {}
            if tags.get(AGENT_TAG) == agent and tags.get(STACK_TAG) == names.environment:
                return None
            return (
                f"comes from {label}, which is not tagged {AGENT_TAG}={agent}, {STACK_TAG}={names.environment} "
                f"(tags {dict(tags)!r})"
            )
        # GCP_KEY: named for the agent, in the stack's ring (known, or unknown from the stack's ring alone)
        problem = self._named(source, "name", agent, f"{agent}'s key")
        if problem:
            return problem
        ring, wanted = _peek(source, "keyRing"), names.key_ring()
        if (isinstance(ring, str) and ring.endswith(f"/keyRings/{wanted}")) or derived_from(ring, GCP_KEY_RING):
            return None
        if ref not in seen and has_unknown(source.props.get("keyRing") if isinstance(source.props, Mapping) else None):
            verdict = self.verdict(source, "keyRing", seen)
            if not isinstance(verdict, str) and all(kind == GCP_KEY_RING for kind, _ in verdict):
                return None
            if isinstance(verdict, str):
                return f"comes from {label}, whose keyRing is unknown and {verdict}"
        return f"comes from {label}, whose keyRing {ring!r} is not the stack's ring {wanted!r}"

    @staticmethod
    def _named(source: Resource, key: str, wanted: str, what: str) -> str | None:
        value = _peek(source, key)
        if value == wanted:
            return None
        return f"comes from {source.label}, whose {key} {value!r} is not {what} {wanted!r}"


def derived_from(value: Any, *types: str) -> bool:
    """Whether `value` is unknown at preview and comes only from the agent's own resources of these types."""
    return isinstance(value, Derived) and value.comes_from(*types)


# --- resource rules ----------------------------------------------------------------------------------------

ResourceRule = Callable[[str, Props], list[str]]


def resource_rule(check: ResourceRule) -> ResourceRule:
    """A rule over one resource; a value it reads that is unknown (preview) is a violation.

    `rule.deferring(type, props)` is the rule as a CrossGuard resource policy runs it: None, deferred, when it
    reads an unknown value, even one it reports itself (a resource policy is given no dependencies, so it
    cannot tell where the value comes from); `unknown_origin_problems` then runs the rule with the origins
    known.
    """

    @functools.wraps(check)
    def rule(resource_type: str, props: Props) -> list[str]:
        try:
            return check(resource_type, view(props))
        except UnknownValue as unknown:
            return [unknown.message]

    def deferring(resource_type: str, props: Props) -> list[str] | None:
        with reading_unknowns() as read:
            try:
                problems = check(resource_type, view(props))
            except UnknownValue:
                return None
        return None if read else problems

    rule.deferring = deferring  # type: ignore[attr-defined]
    return rule


@resource_rule
def resource_type_problems(resource_type: str, props: Props) -> list[str]:
    """Only the resource types the program declares: anything else is refused until the pack checks it."""
    if resource_type in KNOWN_TYPES:
        return []
    return [f"{resource_type} is not a type nuketown declares; the policy pack must be taught to check it first"]


@resource_rule
def role_boundary_problems(resource_type: str, props: Props) -> list[str]:
    """An agent's IAM role must carry a permissions boundary, whatever gets attached to it later."""
    if resource_type == AWS_ROLE and not props.get("permissionsBoundary"):
        return [f"IAM role {props.get('name', '?')} has no permissions boundary"]
    return []


@resource_rule
def authoritative_gcp_iam_problems(resource_type: str, props: Props) -> list[str]:
    """Only additive members: a binding or policy would silently remove grants others rely on."""
    kind = resource_type.rsplit(":", 1)[-1]
    if resource_type.startswith("gcp:") and kind.endswith(AUTHORITATIVE_GCP_IAM):
        return [f"{kind} is authoritative (it replaces grants it does not list); use the matching IAMMember"]
    return []


@resource_rule
def gcp_iam_role_problems(resource_type: str, props: Props) -> list[str]:
    """GCP grants are the three nuketown makes: workloadIdentityUser on an account, cryptoKeyDecrypter or
    cryptoKeyEncrypter on a key, storage.objectUser on the project. No editor, owner, admin or token creator."""
    kind = resource_type.rsplit(":", 1)[-1]
    if not resource_type.startswith("gcp:") or "IAM" not in kind:
        return []
    if resource_type not in GCP_GRANTS:
        return [f"{resource_type} is not a grant nuketown makes (only {', '.join(sorted(GCP_GRANTS))})"]
    what, allowed = GCP_GRANTS[resource_type]
    role = props.get("role")
    if role not in allowed:
        return [f"role {role!r} on {what} is not allowed; only {', '.join(sorted(allowed))}"]
    return []


@resource_rule
def unconditioned_storage_grant_problems(resource_type: str, props: Props) -> list[str]:
    """A storage role on a whole project reaches every bucket in it unless a condition narrows it."""
    if resource_type != GCP_PROJECT_MEMBER:
        return []
    role = str(props.get("role", ""))
    conditioned = bool((props.get("condition") or {}).get("expression"))
    if role.startswith("roles/storage.") and not conditioned:
        return [f"{role} granted to {props.get('member', '?')} on the project without a condition"]
    return []


@resource_rule
def storage_condition_problems(resource_type: str, props: Props) -> list[str]:
    """A storage grant's condition is exactly `resource.name.startsWith("projects/_/buckets/<prefix>")`, the
    prefix a lowercase name ([a-z0-9][a-z0-9._-]*, as the program's scopes): not "true", no stray characters.
    Whose prefix it is, scope_ownership_problems decides."""
    if resource_type != GCP_PROJECT_MEMBER or not str(props.get("role", "")).startswith("roles/storage."):
        return []
    condition = props.get("condition")
    if not condition:
        return []  # unconditioned_storage_grant_problems reports it
    expression = condition.get("expression")
    if isinstance(expression, str) and STORAGE_CONDITION.fullmatch(expression):
        return []
    return [
        f'condition {expression!r} is not resource.name.startsWith("projects/_/buckets/<prefix>") '
        "with a lowercase prefix ([a-z0-9][a-z0-9._-]*)"
    ]


@resource_rule
def policy_document_problems(resource_type: str, props: Props) -> list[str]:
    """IAM policies and boundaries: an Allow names its actions and resources; S3 may end in one '*'
    after a lowercase prefix (`ada-*`, `ada-data*/*`); no '**', no whitespace, no NotAction."""
    if resource_type in (AWS_POLICY, AWS_ROLE_POLICY):
        return iam.identity_policy_problems(props.get("policy"), "policy")
    if resource_type != AWS_ROLE:
        return []
    problems = []
    for index, inline in enumerate(props.get("inlinePolicies") or []):
        problems += iam.identity_policy_problems(inline.get("policy"), f"inlinePolicies[{index}].policy")
    if props.get("managedPolicyArns"):
        problems.append(f"managed policies {list(props['managedPolicyArns'])} attached to an agent's role")
    return problems


@resource_rule
def trust_document_problems(resource_type: str, props: Props) -> list[str]:
    """A role is assumed by exactly one Kubernetes ServiceAccount: IRSA (Federated OIDC provider,
    StringEquals on :sub and :aud) or EKS Pod Identity (pods.eks.amazonaws.com, source and tag conditions)."""
    if resource_type != AWS_ROLE:
        return []
    return iam.trust_policy_problems(props.get("assumeRolePolicy"))


@resource_rule
def workload_pod_security_problems(resource_type: str, props: Props) -> list[str]:
    """Every workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
    CronJob, PodTemplate) runs pods that meet the Pod Security `restricted` profile."""
    if not resource_type.startswith("kubernetes:"):
        return []
    kind = resource_type.rsplit(":", 1)[-1]
    for suffix in ("Patch", "List"):
        if kind.endswith(suffix) and kind.removesuffix(suffix) in WORKLOAD_TEMPLATES:
            return [f"{kind}: a partial or listed workload cannot be checked against the profile; not allowed"]
    if kind not in WORKLOAD_TEMPLATES:
        return []
    name = (props.get("metadata") or {}).get("name", "?")
    template = props
    for key in WORKLOAD_TEMPLATES[kind]:
        template = template.get(key) or {}
    problems = pod_security_violations(template.get("spec") or {}, template.get("metadata") or {})
    return [f"{kind} {name}: {problem}" for problem in problems]


RESOURCE_RULES: tuple[ResourceRule, ...] = (
    resource_type_problems,
    role_boundary_problems,
    authoritative_gcp_iam_problems,
    gcp_iam_role_problems,
    unconditioned_storage_grant_problems,
    storage_condition_problems,
    policy_document_problems,
    trust_document_problems,
    workload_pod_security_problems,
)


# --- stack rules -------------------------------------------------------------------------------------------

StackRule = Callable[[Sequence[Resource], Context], list[Finding]]


def stack_rule(check: StackRule) -> StackRule:
    """A rule over the whole stack, reading each unknown value as where it comes from (`with_origins`)."""

    @functools.wraps(check)
    def rule(resources: Sequence[Resource], context: Context) -> list[Finding]:
        return check(with_origins(resources, context.names), context)

    return rule


def _each(resources: Iterable[Resource], check: Callable[[Resource], list[str]]) -> list[Finding]:
    """`check` on each resource; an unknown value it reads is that resource's violation."""
    findings = []
    for resource in resources:
        try:
            messages = check(resource)
        except UnknownValue as unknown:
            messages = [unknown.message]
        findings += [Finding(resource, message) for message in messages]
    return findings


def _of_type(resources: Iterable[Resource], *types: str) -> list[Resource]:
    return [r for r in resources if r.type in types]


def _by_agent(resources: Iterable[Resource], resource_type: str) -> dict[str, list[Resource]]:
    owned: dict[str, list[Resource]] = {}
    for resource in resources:
        if resource.type == resource_type and resource.agent is not None:
            owned.setdefault(resource.agent, []).append(resource)
    return owned


def _peek(resource: Resource, *path: str) -> Any:
    """A value for gathering facts: None when missing or unknown (the rule that needs it reports that)."""
    try:
        value = resource.read()
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value
    except UnknownValue:
        return None


def _label_agent(resource: Resource) -> str | None:
    labels = _peek(resource, "metadata", "labels")
    agent = labels.get(AGENT_LABEL) if isinstance(labels, Mapping) else None
    return agent if isinstance(agent, str) else None


def _agent_of(resource: Resource) -> str | None:
    return resource.agent if resource.agent is not None else _label_agent(resource)


@dataclass(frozen=True)
class _Agents:
    """What the stack declares per agent, as far as it is known."""

    namespaces: dict[str, str]  # agent -> its Namespace's name
    service_accounts: dict[str, str]  # agent -> its Kubernetes ServiceAccount's name
    emails: dict[str, str]  # agent -> the email of the GCP account this stack creates for it
    roles: dict[str, str]  # agent -> the name of the IAM role this stack creates for it
    # agent -> the ids and ARNs of its AWS key: from the key's outputs (at `pulumi up`) and from the alias this
    # stack names for the agent (`alias/nuketown/<stack>/<agent>`, whose target is known once the key exists).
    keys: dict[str, set[str]] = field(default_factory=dict)
    key_owners: dict[str, str] = field(default_factory=dict)  # key id or ARN -> the agent whose Key it is

    @classmethod
    def of(cls, resources: Sequence[Resource], names: Names | None) -> "_Agents":
        namespaces = {}
        for resource in _of_type(resources, NAMESPACE):
            agent, name = _agent_of(resource), _peek(resource, "metadata", "name")
            if agent is not None and isinstance(name, str):
                namespaces.setdefault(agent, name)
        service_accounts = {}
        for agent, owned in _by_agent(resources, SERVICE_ACCOUNT).items():
            name = _peek(owned[0], "metadata", "name")
            if isinstance(name, str):
                service_accounts[agent] = name
        emails, roles = {}, {}
        if names is not None:
            for agent, owned in _by_agent(resources, GCP_ACCOUNT).items():
                for account in owned:
                    account_id, project = _peek(account, "accountId"), _peek(account, "project")
                    if account_id == names.account_id(agent) and isinstance(project, str):
                        emails[agent] = f"{account_id}@{project}.iam.gserviceaccount.com"
            for agent, owned in _by_agent(resources, AWS_ROLE).items():
                if any(_peek(role, "name") == names.role(agent) for role in owned):
                    roles[agent] = names.role(agent)
        keys, key_owners = _aws_keys(resources, names)
        return cls(namespaces, service_accounts, emails, roles, keys, key_owners)

    def is_own_key(self, key: Any, agent: str) -> bool:
        """Whether `key` (an id or ARN) is the agent's AWS key (or, unknown at preview, derived from it)."""
        return derived_from(key, AWS_KEY) or (isinstance(key, str) and key in self.keys.get(agent, set()))

    def service_account(self, agent: str) -> str:
        """The agent's ServiceAccount: the one it declares, else the program's name for it (the agent's)."""
        return self.service_accounts.get(agent, agent)

    def namespace_problem(self, namespace: Any, agent: str, names: Names | None) -> str | None:
        """Why `namespace` is not `agent`'s (None when it is)."""
        declared = self.namespaces.get(agent)
        if declared is not None:
            return None if namespace == declared else f"namespace {namespace!r} is not {agent}'s ({declared!r})"
        problems = _namespace_name_problems(namespace, agent, names)
        return "; ".join(problems) if problems else None

    def role_arn_matches(self, arn: Any, agent: str) -> bool:
        """The ARN of the role this stack creates for the agent (or, unknown at preview, derived from it)."""
        if derived_from(arn, AWS_ROLE):
            return True
        role = self.roles.get(agent)
        return (
            role is not None
            and isinstance(arn, str)
            and re.fullmatch(rf"{_ARN_PREFIX}:role/{re.escape(role)}", arn) is not None
        )


def _aws_keys(resources: Sequence[Resource], names: Names | None) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Each agent's AWS key ids and ARNs, and whose Key each one is (outputs are known only after `pulumi up`)."""
    keys: dict[str, set[str]] = {}
    owners: dict[str, str] = {}
    for agent, owned in _by_agent(resources, AWS_KEY).items():
        for key in owned:
            for output in ("keyId", "arn", "id"):
                value = _peek(key, output)
                if isinstance(value, str):
                    keys.setdefault(agent, set()).add(value)
                    owners[value] = agent
    for agent, aliases in _by_agent(resources, AWS_ALIAS).items():
        for alias in aliases:
            target = _peek(alias, "targetKeyId")
            if names is not None and _peek(alias, "name") == names.key_alias(agent) and isinstance(target, str):
                keys.setdefault(agent, set()).add(target)
    return keys, owners


def _namespace_name_problems(namespace: Any, agent: str, names: Names | None) -> list[str]:
    """A namespace derived for `agent`: `<prefix><agent>`, the prefix naming the environment (ending in the
    separator, but for legacy names), never a reserved one."""
    if not isinstance(namespace, str):
        return [f"namespace {namespace!r} is not a name"]
    problems = []
    if is_reserved_namespace(namespace):
        problems.append(f"namespace {namespace!r} is reserved (default, kube-*); an agent never lands there")
    if not namespace.endswith(agent):
        problems.append(f"namespace {namespace!r} is not derived from agent {agent} (<prefix>{agent})")
    elif names is None:
        problems.append(STACK_UNKNOWN)
    elif not names.carried_by(namespace[: -len(agent)]):
        problems.append(
            f"namespace {namespace!r} does not carry the environment {names.environment!r} in its prefix "
            f"(like nuketown-{names.environment}{names.separator}{agent}); two stacks would derive the same name"
        )
    return problems


@stack_rule
def namespace_isolation_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """Every agent namespace has a NetworkPolicy over all its pods denying ingress, and no
    NetworkPolicy there admits any ingress."""
    namespaces: dict[str, Resource] = {}

    def agent_namespace(resource: Resource) -> list[str]:
        name = (resource.read().get("metadata") or {}).get("name")
        if isinstance(name, str) and _agent_of(resource) is not None:
            namespaces[name] = resource
        return []

    findings = _each(_of_type(resources, NAMESPACE), agent_namespace)
    isolated: set[str] = set()

    def check(policy: Resource) -> list[str]:
        props = policy.read()
        metadata = props.get("metadata") or {}
        namespace = metadata.get("namespace")
        if namespace not in namespaces and policy.agent is None:
            return []
        spec = props.get("spec") or {}
        ingress = spec.get("ingress") or []
        if ingress:
            return [f"NetworkPolicy {metadata.get('name', '?')} in {namespace} admits ingress ({len(ingress)} rule(s))"]
        selector = spec.get("podSelector") or {}
        types = spec.get("policyTypes")
        if (
            policy.type == NETWORK_POLICY
            and not selector.get("matchLabels")
            and not selector.get("matchExpressions")
            and (types is None or "Ingress" in list(types))
        ):
            isolated.add(namespace)
        return []

    findings += _each(_of_type(resources, NETWORK_POLICY, NETWORK_POLICY_PATCH), check)
    return findings + [
        Finding(resource, f"agent namespace {name} has no NetworkPolicy denying all ingress")
        for name, resource in namespaces.items()
        if name not in isolated
    ]


@stack_rule
def namespace_placement_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """Agents land in their own namespaces: `<prefix><agent>` with the stack in the prefix, labelled for the
    agent and Pod Security `restricted`, never default or kube-*, never shared; every namespaced object of
    an agent sits in its agent's namespace."""
    agents = _Agents.of(resources, context.names)
    owners: dict[str, str] = {}

    def check_namespace(resource: Resource) -> list[str]:
        metadata = resource.read().get("metadata") or {}
        name = metadata.get("name")
        labels = metadata.get("labels") or {}
        agent = _agent_of(resource)
        if agent is None:
            problems = [f"namespace {name!r} belongs to no agent"]
            if isinstance(name, str) and is_reserved_namespace(name):
                problems.append(f"namespace {name!r} is reserved (default, kube-*)")
            return problems
        problems = _namespace_name_problems(name, agent, context.names)
        if labels.get(AGENT_LABEL) != agent:
            problems.append(f"label {AGENT_LABEL} is {labels.get(AGENT_LABEL)!r}, not {agent!r}")
        if context.names is not None and labels.get(STACK_LABEL) != context.names.environment:
            problems.append(f"label {STACK_LABEL} is {labels.get(STACK_LABEL)!r}, not {context.names.environment!r}")
        if labels.get(ENFORCE_LABEL) != "restricted":
            problems.append(f"label {ENFORCE_LABEL} is {labels.get(ENFORCE_LABEL)!r}, not 'restricted'")
        if name in owners and owners[name] != agent:
            problems.append(f"namespace {name!r} is also {owners[name]}'s")
        elif agents.namespaces.get(agent) not in (None, name):
            problems.append(f"agent {agent} already has namespace {agents.namespaces[agent]!r}")
        owners.setdefault(name, agent)
        return problems

    def check_placement(resource: Resource) -> list[str]:
        if resource.kind in CLUSTER_SCOPED_KINDS:
            return []
        namespace = (resource.read().get("metadata") or {}).get("namespace")
        if not namespace:
            return ["no metadata.namespace: it would land in the provider's default namespace"]
        if isinstance(namespace, str) and is_reserved_namespace(namespace):
            return [f"namespace {namespace!r} is reserved (default, kube-*)"]
        if resource.agent is None:
            return [f"in namespace {namespace!r} but belongs to no agent"]
        problem = agents.namespace_problem(namespace, resource.agent, context.names)
        return [problem] if problem else []

    kubernetes = [r for r in resources if r.type.startswith("kubernetes:")]
    return _each(_of_type(kubernetes, NAMESPACE), check_namespace) + _each(
        [r for r in kubernetes if r.type != NAMESPACE], check_placement
    )


@stack_rule
def stack_name_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """Cloud names carry the stack and the agent as the program derives them: service account
    nt-<stack>-<agent>, key ring nuketown-<stack>, key <agent>, role nuketown-<stack>-<agent>, boundary
    nuketown-<stack>-<agent>-boundary, alias alias/nuketown/<stack>/<agent>. Two stacks never share one."""
    names = context.names
    cloud = [r for r in resources if r.type.split(":", 1)[0] in ("gcp", "aws")]
    if names is None:
        return [Finding(None, STACK_UNKNOWN)] if cloud else []

    def expect(resource: Resource, key: str, wanted: str) -> list[str]:
        value = resource.read().get(key)
        return [] if value == wanted else [f"{key} {value!r} is not {wanted!r}"]

    def check(resource: Resource) -> list[str]:
        agent = resource.agent
        if resource.type == GCP_KEY_RING:
            return expect(resource, "name", names.key_ring())
        if agent is None:
            return ["a cloud resource that belongs to no agent"]
        if resource.type == GCP_ACCOUNT:
            return expect(resource, "accountId", names.account_id(agent))
        if resource.type == GCP_KEY:
            ring = resource.read().get("keyRing")
            problems = expect(resource, "name", agent)
            in_ring = isinstance(ring, str) and ring.endswith(f"/keyRings/{names.key_ring()}")
            if not (in_ring or derived_from(ring, GCP_KEY_RING)):
                problems.append(f"keyRing {ring!r} is not the stack's ring {names.key_ring()!r}")
            return problems
        if resource.type == AWS_ROLE:
            return expect(resource, "name", names.role(agent))
        if resource.type == AWS_POLICY:
            return expect(resource, "name", names.boundary(agent))
        if resource.type == AWS_ALIAS:
            return expect(resource, "name", names.key_alias(agent))
        if resource.type == AWS_ROLE_POLICY:
            if derived_from(resource.read().get("role"), AWS_ROLE):
                return []  # the agent's own role, named as the program names it (with_origins checked)
            return expect(resource, "role", names.role(agent))
        return []

    return _each([r for r in cloud if not r.type.startswith("pulumi:")], check)


def _account_email(service_account_id: Any) -> tuple[str | None, str | None]:
    """(email, problem) from a serviceAccountId: projects/<project or ->/serviceAccounts/<email>, or the email."""
    if not isinstance(service_account_id, str):
        return None, f"serviceAccountId {service_account_id!r} is not a name"
    match = ACCOUNT_RESOURCE_NAME.fullmatch(service_account_id)
    email = match["email"] if match else service_account_id
    account = GCP_EMAIL.fullmatch(email)
    if account is None:
        return None, f"serviceAccountId {service_account_id!r} does not name a service account by email"
    if match and match["project"] not in ("-", account["project"]):
        return None, f"serviceAccountId {service_account_id!r} names a project other than its account's"
    return email, None


@stack_rule
def identity_binding_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """An agent binds only its own identity (the account or role this stack creates for it) or the one the
    operator allow-listed for it (pack config allowedIdentities), from its own namespace and ServiceAccount:
    GCP workload identity members, KMS and storage grants, ServiceAccount annotations, EKS Pod Identity
    associations, and the subjects of its role's trust policy. Its keys are its own: a GCP key grant is on its
    key; an AWS role policy or boundary reaches only its key, its key policy is on its key and lets only its own
    (or allow-listed) role decrypt, and its alias targets its key."""
    agents = _Agents.of(resources, context.names)
    findings = []
    for agent, allowed in sorted(context.allowed_identities.items()):
        for other, email in agents.emails.items():
            if allowed == email and other != agent:
                findings.append(
                    Finding(None, f"allowedIdentities gives {agent} {email}, which this stack creates for {other}")
                )

    def own_or_allowed(agent: str, identity: Any, own: bool, what: str) -> list[str]:
        if own or (identity is not None and context.allowed_identities.get(agent) == identity):
            return []
        if context.names is None:
            return [STACK_UNKNOWN]
        return [
            f"{what} {identity!r} is not {agent}'s own identity (created by this stack) nor allow-listed for it "
            f"(pack config allowedIdentities {{{agent!r}: ...}})"
        ]

    def check(resource: Resource) -> list[str]:
        agent, props = resource.agent, resource.read()
        if agent is None:
            return ["an identity binding that belongs to no agent"]
        email = agents.emails.get(agent)
        if resource.type == GCP_ACCOUNT_MEMBER:
            problems = []
            member = props.get("member")
            match = WORKLOAD_IDENTITY_MEMBER.fullmatch(member) if isinstance(member, str) else None
            if match is None:
                problems.append(f"member {member!r} is not serviceAccount:<project>.svc.id.goog[<namespace>/<ksa>]")
            else:
                problem = agents.namespace_problem(match["namespace"], agent, context.names)
                problems += [f"member {member!r}: {problem}"] if problem else []
                if match["account"] != agents.service_account(agent):
                    problems.append(
                        f"member {member!r} is not {agent}'s ServiceAccount {agents.service_account(agent)!r}"
                    )
            if derived_from(props.get("serviceAccountId"), GCP_ACCOUNT):
                return problems  # the account this stack creates for the agent, not created yet
            bound, problem = _account_email(props.get("serviceAccountId"))
            if problem:
                return [*problems, problem]
            return problems + own_or_allowed(agent, bound, bound == email, "service account")
        if resource.type in (GCP_KEY_MEMBER, GCP_PROJECT_MEMBER, GCP_BUCKET_MEMBER):
            problems = []
            if resource.type == GCP_KEY_MEMBER:
                key = props.get("cryptoKeyId")
                ring = context.names.key_ring() if context.names else "?"
                if not derived_from(key, GCP_KEY) and not (
                    isinstance(key, str)
                    and re.fullmatch(
                        rf"projects/[^/]+/locations/[^/]+/keyRings/{re.escape(ring)}/cryptoKeys/{re.escape(agent)}", key
                    )
                ):
                    problems.append(f"cryptoKeyId {key!r} is not {agent}'s key in the stack's ring {ring!r}")
                if props.get("role") != KMS_DECRYPTER:
                    return problems  # encrypters are the operator's (nuketown:gcpKmsEncrypters)
            member = props.get("member")
            granted = member.removeprefix("serviceAccount:") if isinstance(member, str) else None
            own = derived_from(member, GCP_ACCOUNT) or (email is not None and member == f"serviceAccount:{email}")
            if own or (granted is not None and context.allowed_identities.get(agent) == granted):
                return problems
            return [
                *problems,
                f"member {member!r} is not {agent}'s own service account ({email or 'none created'}) "
                f"nor allow-listed for it (pack config allowedIdentities {{{agent!r}: ...}})",
            ]
        if resource.type == SERVICE_ACCOUNT:
            annotations = (props.get("metadata") or {}).get("annotations") or {}
            problems = []
            if GKE_ACCOUNT_ANNOTATION in annotations:
                bound = annotations[GKE_ACCOUNT_ANNOTATION]
                own = derived_from(bound, GCP_ACCOUNT) or (bound == email and email is not None)
                problems += own_or_allowed(agent, bound, own, GKE_ACCOUNT_ANNOTATION)
            if EKS_ROLE_ANNOTATION in annotations:
                arn = annotations[EKS_ROLE_ANNOTATION]
                problems += own_or_allowed(agent, arn, agents.role_arn_matches(arn, agent), EKS_ROLE_ANNOTATION)
            return problems
        if resource.type == AWS_POD_IDENTITY:
            problems = []
            problem = agents.namespace_problem(props.get("namespace"), agent, context.names)
            problems += [problem] if problem else []
            if props.get("serviceAccount") != agents.service_account(agent):
                problems.append(f"serviceAccount {props.get('serviceAccount')!r} is not {agent}'s")
            arn = props.get("roleArn")
            return problems + own_or_allowed(agent, arn, agents.role_arn_matches(arn, agent), "roleArn")
        if resource.type == AWS_ROLE:
            subject = iam.trusted_subject(props.get("assumeRolePolicy"))
            if subject is None:
                return []  # trust_document_problems reports a document it cannot read
            namespace, account = subject
            problems = []
            problem = agents.namespace_problem(namespace, agent, context.names)
            problems += [f"trusts {namespace}/{account}: {problem}"] if problem else []
            if account != agents.service_account(agent):
                problems.append(f"trusts ServiceAccount {account!r}, not {agent}'s {agents.service_account(agent)!r}")
            return problems
        return []

    types = (
        GCP_ACCOUNT_MEMBER,
        GCP_KEY_MEMBER,
        GCP_PROJECT_MEMBER,
        GCP_BUCKET_MEMBER,
        SERVICE_ACCOUNT,
        AWS_POD_IDENTITY,
        AWS_ROLE,
    )
    findings += _each(_of_type(resources, *types), check)
    return findings + _aws_key_target_findings(resources, context, agents)


def _aws_key_target_findings(resources: Sequence[Resource], context: Context, agents: "_Agents") -> list[Finding]:
    """AWS keys, as GCP's are checked above: an agent's role policy and boundary reach only its own key; its key
    policy is on its own key and lets only its own role (or the one allow-listed for it) decrypt; its alias
    targets its own key, and no other agent's alias the same one."""
    targets: dict[str, list[str]] = {}

    def check(resource: Resource) -> list[str]:
        agent, props = resource.agent, resource.read()
        if agent is None:
            return ["a KMS key grant that belongs to no agent"]
        if resource.type == AWS_ALIAS:
            target = props.get("targetKeyId")
            if derived_from(target, AWS_KEY) or not isinstance(target, str):
                return []
            targets.setdefault(target, []).append(agent)
            owner = agents.key_owners.get(target)
            return [f"targetKeyId {target!r} is {owner}'s key, not {agent}'s"] if owner not in (None, agent) else []
        if resource.type == AWS_KEY_POLICY:
            key = props.get("keyId")
            problems = [] if agents.is_own_key(key, agent) else [f"keyId {key!r} is not {agent}'s key"]
            try:
                principals = iam.decrypting_principals(props.get("policy"), "policy")
            except iam.DerivedDocument:
                return problems  # rendered around the agent's own role (with_origins checked where it comes from)
            except iam.DocumentError as error:
                return [*problems, str(error)]
            allowed = context.allowed_identities.get(agent)
            return problems + [
                f"key policy lets {principal!r} decrypt {agent}'s key; only {agent}'s own role (created by this "
                f"stack) or the one allow-listed for it (pack config allowedIdentities) may"
                for principal in dict.fromkeys(principals)
                if not (agents.role_arn_matches(principal, agent) or (allowed is not None and principal == allowed))
            ]
        try:
            reached = iam.kms_resources(props.get("policy"), "policy")
        except iam.DerivedDocument:
            return []  # rendered around the agent's own key (with_origins checked where it comes from)
        own_alias = context.names.key_alias(agent) if context.names else None
        return [
            f"policy reaches KMS {arn!r}, which is not {agent}'s key"
            for arn in dict.fromkeys(reached)
            if not _is_own_kms_arn(arn, agent, agents, own_alias)
        ]

    findings = _each(_of_type(resources, AWS_ALIAS, AWS_KEY_POLICY, AWS_ROLE_POLICY, AWS_POLICY), check)
    aliases = {r.agent: r for r in _of_type(resources, AWS_ALIAS) if r.agent is not None}
    return findings + [
        Finding(
            aliases[agent],
            f"targetKeyId {target!r} is also the target of {', '.join(o for o in owners if o != agent)}'s alias",
        )
        for target, owners in targets.items()
        if len(set(owners)) > 1
        for agent in sorted(set(owners))
    ]


def _is_own_kms_arn(arn: str, agent: str, agents: "_Agents", own_alias: str | None) -> bool:
    match = iam.KMS_ARN.fullmatch(arn)
    if match is None:
        return False
    if match["kind"] == "alias":
        return own_alias is not None and f"alias/{match['name']}" == own_alias
    return agents.is_own_key(match["name"], agent) or agents.is_own_key(arn, agent)


@stack_rule
def scope_ownership_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """An agent's storage grants reach only what is its own: the buckets this stack declares for it (a GCS
    bucket-level grant, or S3 ARNs naming exactly those buckets), and a bucket-name prefix only where the
    operator said so (pack config allowedScopes, or `<agent>-` with storage agentPrefix, which declares the
    project or account the stack's alone); no agent's prefix covers another's. A prefix reaches every bucket
    of the project or account that starts with it, the platform's and other stacks' included."""
    reached: list[tuple[str, str, Resource]] = []
    declared = _declared_buckets(resources)

    def prefixes(resource: Resource) -> list[str]:
        props = resource.read()
        if resource.type == GCP_PROJECT_MEMBER:
            expression = (props.get("condition") or {}).get("expression")
            match = STORAGE_CONDITION.fullmatch(expression) if isinstance(expression, str) else None
            return [match["prefix"]] if match else []
        return [p for document, what in _s3_documents(resource) for p in iam.s3_prefixes(document, what)]

    def buckets(resource: Resource) -> list[str]:
        if resource.type == GCP_BUCKET_MEMBER:
            bucket = resource.read().get("bucket")
            return [bucket] if isinstance(bucket, str) else []
        if resource.type == GCP_PROJECT_MEMBER:
            return []
        return [b for document, what in _s3_documents(resource) for b in iam.s3_buckets(document, what)]

    def check(resource: Resource) -> list[str]:
        agent = resource.agent
        if agent is None:
            found = prefixes(resource) + buckets(resource)
            return [f"reaches buckets {', '.join(found)} but belongs to no agent"] if found else []
        problems = []
        for prefix in dict.fromkeys(prefixes(resource)):
            reached.append((agent, prefix, resource))
            if not context.allows_scope(agent, prefix):
                problems.append(
                    f"reaches every bucket named {prefix}*, in which the project or account may hold others' "
                    f"buckets; {agent}'s grants reach the buckets this stack declares for it, and a prefix only "
                    f"where the operator allow-lists it (pack config allowedScopes {{{agent!r}: [{prefix + '*'!r}]}})"
                )
        for bucket in dict.fromkeys(buckets(resource)):
            if bucket not in declared.get(agent, set()):
                problems.append(f"reaches bucket {bucket}, which this stack does not declare for {agent}")
        return problems

    types = (GCP_PROJECT_MEMBER, GCP_BUCKET_MEMBER, AWS_POLICY, AWS_ROLE_POLICY, AWS_ROLE)
    findings = _each(_of_type(resources, *types), check)
    return findings + [
        Finding(resource, f"scope {prefix}* of {agent} also covers {other}'s {other_prefix}*")
        for agent, prefix, resource in reached
        for other, other_prefix in sorted({(o, p) for o, p, _ in reached if o != agent and p.startswith(prefix)})
    ]


def _s3_documents(resource: Resource) -> list[tuple[Any, str]]:
    """The IAM documents of an AWS policy, role policy or role (its inline policies), with what each is."""
    props = resource.read()
    if resource.type in (AWS_POLICY, AWS_ROLE_POLICY):
        return [(props.get("policy"), "policy")]
    if resource.type == AWS_ROLE:
        return [
            (inline.get("policy"), f"inlinePolicies[{i}].policy")
            for i, inline in enumerate(props.get("inlinePolicies") or [])
        ]
    return []


def _declared_buckets(resources: Sequence[Resource]) -> dict[str, set[str]]:
    """Agent -> the names of the buckets the stack declares for it (GCS `name`, S3 `bucket`)."""
    declared: dict[str, set[str]] = {}
    for resource in _of_type(resources, GCP_BUCKET, AWS_BUCKET):
        name = resource.read().get("name" if resource.type == GCP_BUCKET else "bucket")
        if resource.agent is not None and isinstance(name, str):
            declared.setdefault(resource.agent, set()).add(name)
    return declared


@stack_rule
def permissions_boundary_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """Each agent role's boundary is the boundary policy this stack declares for that agent, and that policy
    denies iam:*, organizations:* and sts:AssumeRole* outright."""
    names = context.names
    roles = _of_type(resources, AWS_ROLE)
    if names is None:
        return [Finding(None, STACK_UNKNOWN)] if roles else []
    boundaries = {
        agent: [p for p in owned if _peek(p, "name") == names.boundary(agent)]
        for agent, owned in _by_agent(resources, AWS_POLICY).items()
    }
    checked: set[str] = set()

    def check_role(role: Resource) -> list[str]:
        if role.agent is None:
            return ["an IAM role that belongs to no agent"]
        name = names.boundary(role.agent)
        arn = role.read().get("permissionsBoundary")
        named = isinstance(arn, str) and re.fullmatch(rf"{_ARN_PREFIX}:policy/{re.escape(name)}", arn)
        if not (named or derived_from(arn, AWS_POLICY)):  # derived: from the agent's boundary (with_origins)
            return [f"permissionsBoundary {arn!r} is not {role.agent}'s boundary policy {name!r} in this stack"]
        if not boundaries.get(role.agent):
            return [f"permissionsBoundary names {name!r}, which this stack does not declare"]
        checked.add(role.agent)
        return []

    def check_policy(policy: Resource) -> list[str]:
        return iam.boundary_denial_problems(policy.read().get("policy"), "boundary policy")

    findings = _each(roles, check_role)
    return findings + _each([p for agent in sorted(checked) for p in boundaries[agent]], check_policy)


def unknown_origin_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """A value a resource rule needs that is unknown at preview comes from the agent's own identity or key:
    the resource rules, run with the origins known (each finding names its rule). A resource policy is given
    no dependencies, so it defers such a value here."""
    findings = []
    for resource, marked in zip(resources, with_origins(resources, context.names), strict=True):
        for rule in RESOURCE_RULES:
            if rule.deferring(resource.type, resource.props) is None:  # type: ignore[attr-defined]
                messages = rule(marked.type, marked.props)
                findings += [Finding(resource, f"{policy_name(rule)}: {message}") for message in messages]
    return findings


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("1e-3"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12)}


def _amount(quantity: Any) -> Decimal | None:
    """A Kubernetes quantity's value (the suffixes tiers use); None when it is not one."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGT])?", str(quantity))
    if match is None:
        return None
    unit = match[2] or ""
    return Decimal(match[1]) * (_BINARY.get(unit) or _DECIMAL.get(unit) or 1)


@stack_rule
def autoscaler_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """A VerticalPodAutoscaler or KEDA ScaledObject acts only on its own agent's Deployment and within the
    agent's approved ceiling: the VPA never sizes above the namespace's ResourceQuota, touches cpu and
    memory only, and KEDA never scales past the quota's one pod."""
    quotas = {
        (r.read().get("metadata") or {}).get("namespace"): (r.read().get("spec") or {}).get("hard") or {}
        for r in _of_type(resources, "kubernetes:core/v1:ResourceQuota")
    }

    def check(resource: Resource) -> list[str]:
        props = resource.read()
        metadata, spec = props.get("metadata") or {}, props.get("spec") or {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        target = spec.get("targetRef") if resource.type == VERTICAL_POD_AUTOSCALER else spec.get("scaleTargetRef")
        target = dict(target or {})
        problems = []
        if (target.get("apiVersion"), target.get("kind"), target.get("name")) != ("apps/v1", "Deployment", name):
            problems.append(f"targets {target.get('kind')} {target.get('name')!r}, not its agent's Deployment {name!r}")
        hard = quotas.get(namespace)
        if hard is None:
            return [*problems, f"namespace {namespace} has no ResourceQuota to bound it"]
        if resource.type == SCALED_OBJECT:
            most = int(spec.get("maxReplicaCount", 100))  # KEDA's default; numbers may arrive as floats
            if most > int(hard.get("pods", 0)):
                problems.append(f"maxReplicaCount {most} exceeds the quota's pods")
            return problems
        for policy in (spec.get("resourcePolicy") or {}).get("containerPolicies") or []:
            controlled = list(policy.get("controlledResources") or [])
            if not controlled or set(controlled) - {"cpu", "memory"}:
                problems.append(f"controlledResources {controlled} must be cpu and memory only")
            for dimension, most in (policy.get("maxAllowed") or {}).items():
                ceiling, value = _amount(hard.get(f"limits.{dimension}")), _amount(most)
                if ceiling is None or value is None or value > ceiling:
                    problems.append(
                        f"maxAllowed {dimension} {most!r} is above the quota's {hard.get(f'limits.{dimension}')!r}"
                    )
            if not policy.get("maxAllowed"):
                problems.append("no maxAllowed: the autoscaler could size past the approved ceiling")
        return problems

    return _each(_of_type(resources, VERTICAL_POD_AUTOSCALER, SCALED_OBJECT), check)


def ownership_policy_name(stack: str) -> str:
    return f"nuketown-{stack}-ownership"


def _guard_policy_problems(policy: Resource) -> list[str]:
    spec = policy.read().get("spec") or {}
    problems = []
    if spec.get("failurePolicy", "Fail") != "Fail":
        problems.append(f"failurePolicy is {spec.get('failurePolicy')!r}: an error would let the takeover through")
    rules = (spec.get("matchConstraints") or {}).get("resourceRules") or []

    def covers(group: str, resource: str, operation: str) -> bool:
        return any(
            {group, "*"} & set(rule.get("apiGroups") or [])
            and {resource, "*"} & set(rule.get("resources") or [])
            and {operation, "*"} & set(rule.get("operations") or [])
            for rule in rules
        )

    for operation in ("CREATE", "UPDATE"):
        missing = sorted(r for g, r in GUARDED_RESOURCES if not covers(g, r, operation))
        if missing:
            problems.append(f"does not guard {operation.lower()}s of {', '.join(missing)}")
    if not any(v.get("expression") for v in spec.get("validations") or []):
        problems.append("has no validation")
    return problems


@stack_rule
def ownership_guard_problems(resources: Sequence[Resource], context: Context) -> list[Finding]:
    """A stack that declares namespaces or volume claims (and so adopts kept ones) declares its ownership
    guard: the ValidatingAdmissionPolicy nuketown-<stack>-ownership refusing updates of namespaces and
    volume claims, bound with Deny; and labels each namespace and claim with its stack, the label it keys on."""
    owned = _of_type(resources, NAMESPACE, PERSISTENT_VOLUME_CLAIM)
    if not owned:
        return []
    if context.stack is None:
        return [Finding(None, STACK_UNKNOWN)]
    name = ownership_policy_name(context.stack)
    policies = [p for p in _of_type(resources, ADMISSION_POLICY) if _peek(p, "metadata", "name") == name]
    bindings = [
        b
        for b in _of_type(resources, ADMISSION_BINDING)
        if _peek(b, "spec", "policyName") == name and "Deny" in (_peek(b, "spec", "validationActions") or [])
    ]
    findings = _each(policies, _guard_policy_problems)
    if not policies:
        findings.append(
            Finding(None, f"no ValidatingAdmissionPolicy {name}: kept namespaces and claims are adopted unguarded")
        )
    if not bindings:
        findings.append(Finding(None, f"no ValidatingAdmissionPolicyBinding of {name} with validationActions Deny"))

    owner = context.names.environment if context.names else context.stack

    def labelled(resource: Resource) -> list[str]:
        stack = ((resource.read().get("metadata") or {}).get("labels") or {}).get(STACK_LABEL)
        return [] if stack == owner else [f"label {STACK_LABEL} is {stack!r}, not {owner!r}"]

    return findings + _each([r for r in owned if r.type == PERSISTENT_VOLUME_CLAIM], labelled)


STACK_RULES: tuple[StackRule, ...] = (
    autoscaler_problems,
    ownership_guard_problems,
    namespace_isolation_problems,
    namespace_placement_problems,
    stack_name_problems,
    identity_binding_problems,
    scope_ownership_problems,
    permissions_boundary_problems,
    unknown_origin_problems,
)


def policy_name(rule: Callable[..., Any]) -> str:
    """`nuketown-<rule>`: the CrossGuard policy that runs `rule` (and the key of its pack config)."""
    return "nuketown-" + rule.__name__.removesuffix("_problems").replace("_", "-")


# Pack config each policy takes (JSON schema per property; CrossGuard's config_schema). Every stack rule reads
# names, so every one takes how the stack derives them, as its settings say (policy/pack_config.py writes it).
NAMES_CONFIG: dict[str, dict[str, Any]] = {
    "environment": {
        "type": "string",
        "description": "what the stack's names derive from (nuketown:environment); default the stack's name",
    },
    "legacyNames": {
        "type": "boolean",
        "description": "the stack keeps names joined by '-' (nuketown:legacyNames), not '--'",
        "default": False,
    },
}
CONFIG_PROPERTIES: dict[str, dict[str, dict[str, Any]]] = {
    policy_name(rule): dict(NAMES_CONFIG) for rule in STACK_RULES
}
CONFIG_PROPERTIES["nuketown-identity-binding"]["allowedIdentities"] = {
    "type": "object",
    "description": "agent -> the existing GCP service account email or AWS role ARN it may bind",
    "additionalProperties": {"type": "string"},
    "default": {},
}
CONFIG_PROPERTIES["nuketown-scope-ownership"]["storage"] = {
    "type": "string",
    "enum": ["buckets", "agentPrefix"],
    "description": "nuketown:storage: agentPrefix lets an agent reach every bucket named <agent>-* as well",
    "default": "buckets",
}
CONFIG_PROPERTIES["nuketown-scope-ownership"]["allowedScopes"] = {
    "type": "object",
    "description": "agent -> scopes beyond '<agent>-*' it may reach, like [\"shared-*\"]",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "default": {},
}


def stack_from_urn(urn: str | None) -> str | None:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> <stack>."""
    if not urn or not urn.startswith("urn:pulumi:"):
        return None
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0] or None


def run_all(
    resources: Sequence[Resource], stack: str | None, config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[tuple[str, Resource | None, str]]:
    """Every rule over every resource: (policy name, resource or None for the stack, message)."""
    config = config or {}
    found: list[tuple[str, Resource | None, str]] = []
    for resource in resources:
        for rule in RESOURCE_RULES:  # as CrossGuard's resource policies: deferring what they cannot read
            messages = rule.deferring(resource.type, resource.props) or []  # type: ignore[attr-defined]
            found += [(policy_name(rule), resource, message) for message in messages]
    for stack_rule in STACK_RULES:
        context = Context.from_config(stack, config.get(policy_name(stack_rule)))
        found += [(policy_name(stack_rule), f.resource, f.message) for f in stack_rule(resources, context)]
    return found
