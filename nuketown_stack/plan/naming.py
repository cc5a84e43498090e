"""Every physical name, derived in one place, with each platform's limits enforced.

Names are pure functions of (stack, agent, path): the same input always gives
the same name, so a refactor never renames (and so never replaces) a volume.
Names too long for a limit that allows hashing get a stable hash suffix;
names that must stay readable (namespaces) are refused instead.
"""

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
GCP_SERVICE_ACCOUNT_ID_MIN = 6
GCP_SERVICE_ACCOUNT_ID_MAX = 30
GCP_KMS_NAME_MAX = 63
AWS_ROLE_NAME_MAX = 64
AWS_KMS_ALIAS_MAX = 256
AWS_POLICY_NAME_MAX = 128
HASH_LENGTH = 6

# Pulumi logical names of the stack's providers: part of every resource's provider reference, so never renamed.
PROVIDER_GCP = "gcp"
PROVIDER_AWS = "aws"
PROVIDER_KUBERNETES = "kubernetes"
PROVIDER_KUBERNETES_ADOPTING = "kubernetes-adopting"  # the one that takes over kept namespaces and volumes

# Grammars are matched whole (fullmatch): `$` would let a trailing newline through.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(  # also the spec's domain and label-key prefix grammar
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_GCP_SERVICE_ACCOUNT_ID = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])")
_GCP_KMS_NAME = re.compile(r"[a-zA-Z0-9_-]{1,63}")
_AWS_ROLE_NAME = re.compile(r"[\w+=,.@-]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def is_dns_label(name: str) -> bool:
    return len(name) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(name) is not None


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= DNS_SUBDOMAIN_MAX and DNS_SUBDOMAIN.fullmatch(name) is not None


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def fit(name: str, limit: int) -> str:
    """`name` if it fits `limit`, else its head plus a hash of the whole name."""
    if len(name) <= limit:
        return name
    head = name[: limit - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{short_hash(name)}"


def sanitize_path(path: str) -> str:
    """A persist path as a DNS-label fragment: `.config/claude` -> `config-claude`."""
    return _NOT_ALNUM.sub("-", path.lower()).strip("-")


def service_account(agent: str) -> str:
    return agent


def identity_config_map(agent: str) -> str:
    return f"{agent}-identity"


def pvc(agent: str, path: str) -> str:
    return f"{agent}-{sanitize_path(path)}"


def volume(path: str) -> str:
    """Pod volume name of a persist dir (a DNS label, unique within the pod)."""
    return fit(f"persist-{sanitize_path(path)}", DNS_LABEL_MAX)


def ownership_policy(stack: str) -> str:
    """The stack's ValidatingAdmissionPolicy and its binding (cluster-scoped: one per stack, never shared)."""
    return f"nuketown-{stack}-ownership"


@dataclass(frozen=True)
class Names:
    """The names one stack derives for its agents: namespaces and cloud identities, from the stack's name."""

    stack: str
    namespace_prefix: str | None = None  # nuketown:namespacePrefix; None: the default

    @property
    def prefix(self) -> str:
        """Namespace prefix: namespace = prefix + agent."""
        return self.namespace_prefix if self.namespace_prefix is not None else f"nuketown-{self.stack}-"

    def namespace(self, agent: str) -> str:
        return f"{self.prefix}{agent}"

    def gcp_service_account_id(self, agent: str) -> str:
        return fit(f"nt-{self.stack}-{agent}", GCP_SERVICE_ACCOUNT_ID_MAX)

    def gcp_service_account_prefix(self) -> str:
        """What every account id of the stack starts with: `fit` keeps this much of the head of a long id."""
        return f"nt-{self.stack}-"[: GCP_SERVICE_ACCOUNT_ID_MAX - HASH_LENGTH - 1]

    def gcp_key_ring(self) -> str:
        return f"nuketown-{self.stack}"

    def aws_role_prefix(self) -> str:
        """What every role name of the stack starts with: `fit` keeps this much of the head of a long name."""
        return f"nuketown-{self.stack}-"[: AWS_ROLE_NAME_MAX - HASH_LENGTH - 1]

    def aws_role(self, agent: str) -> str:
        return fit(f"nuketown-{self.stack}-{agent}", AWS_ROLE_NAME_MAX)

    def aws_boundary_policy(self, agent: str) -> str:
        return fit(f"nuketown-{self.stack}-{agent}-boundary", AWS_POLICY_NAME_MAX)

    def aws_kms_alias(self, agent: str) -> str:
        return f"alias/nuketown/{self.stack}/{agent}"


def gcp_crypto_key(agent: str) -> str:
    return agent


def name_problems(names: Names, agent: str, paths: list[str]) -> list[str]:
    """Why the names derived for one agent do not fit their platforms (empty when they do)."""
    problems = []
    prefix = names.prefix
    ns = names.namespace(agent)
    if not is_dns_label(ns):
        problems.append(
            f"agents.{agent}: namespace {ns!r} is not a DNS-1123 label of at most {DNS_LABEL_MAX} "
            f"characters; shorten the agent name (at most {DNS_LABEL_MAX - len(prefix)} here) "
            "or nuketown:namespacePrefix"
        )
    for index, path in enumerate(paths):
        claim = pvc(agent, path)
        if not is_dns_subdomain(claim):
            problems.append(
                f"agents.{agent}.persist[{index}]: volume claim name {claim!r} is not a DNS-1123 "
                f"subdomain of at most {DNS_SUBDOMAIN_MAX} characters"
            )
    checks = (
        (names.gcp_service_account_id(agent), _GCP_SERVICE_ACCOUNT_ID, "GCP service account id"),
        (gcp_crypto_key(agent), _GCP_KMS_NAME, "GCP KMS key name"),
        (names.aws_role(agent), _AWS_ROLE_NAME, "AWS IAM role name"),
    )
    for derived, pattern, what in checks:
        if pattern.fullmatch(derived) is None:
            problems.append(f"agents.{agent}: {what} {derived!r} is not allowed ({pattern.pattern})")
    gcp_id = names.gcp_service_account_id(agent)
    if len(gcp_id) < GCP_SERVICE_ACCOUNT_ID_MIN:
        problems.append(f"agents.{agent}: GCP service account id {gcp_id!r} is shorter than 6 characters")
    return problems


# Namespaces Kubernetes itself owns: an agent's objects (a deny-all NetworkPolicy, a one-pod quota,
# restricted Pod Security) must never land on them.
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*)?-")


def prefix_problems(prefix: str) -> list[str]:
    """A namespace prefix is the head of a DNS label, ends in '-', and is not Kubernetes' own."""
    if not _PREFIX.fullmatch(prefix):
        return [
            f"nuketown:namespacePrefix: {prefix!r} must be lowercase letters, digits and '-', ending in '-' "
            "(like nuketown-prod-), so an agent's namespace can never be one that exists for other reasons"
        ]
    if prefix.startswith("kube-"):
        return [f"nuketown:namespacePrefix: {prefix!r} starts with 'kube-', which Kubernetes reserves"]
    return []


def collision_problems(names: Names, agents: Mapping[str, list[str]]) -> list[str]:
    """Derived names two agents would share: a namespace, an account, a role, or a volume claim, whose
    name is also its Pulumi logical name (`ada` with `x-projects` and `ada-x` with `projects`)."""
    problems = []
    for agent in sorted(agents):
        ns = names.namespace(agent)
        if ns in RESERVED_NAMESPACES or ns.startswith("kube-"):
            problems.append(f"agents.{agent}: namespace {ns!r} is Kubernetes' own; rename the agent")
    claims: dict[str, tuple[str, str]] = {}
    for agent in sorted(agents):
        for path in agents[agent]:
            claim = pvc(agent, path)
            owner = claims.setdefault(claim, (agent, path))
            if owner[0] != agent:
                problems.append(
                    f"agents.{agent}.persist: volume claim {claim!r} (from {path!r}) is also {owner[0]}'s "
                    f"(from {owner[1]!r}); rename one directory"
                )
    derivations: tuple[tuple[str, Callable[[str], str]], ...] = (
        ("namespace", names.namespace),
        ("GCP service account id", names.gcp_service_account_id),
        ("AWS IAM role name", names.aws_role),
    )
    for what, derive in derivations:
        owners: dict[str, str] = {}
        for agent in sorted(agents):
            derived = derive(agent)
            if derived in owners:
                problems.append(f"agents.{agent}: {what} {derived!r} is also {owners[derived]}'s; rename one agent")
            owners.setdefault(derived, agent)
    return problems


def stack_problems(stack: str) -> list[str]:
    if is_dns_label(stack) and len(Names(stack).gcp_key_ring()) <= GCP_KMS_NAME_MAX:
        return []
    return [
        f"stack {stack!r}: stack names are part of Kubernetes and cloud names; "
        "use lowercase letters, digits and '-' (at most 54 characters)"
    ]
