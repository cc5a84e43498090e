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
BUCKET_NAME_MAX = 63  # GCS (without dots) and S3 alike
AWS_REGIONAL_NAMESPACE_SUFFIX = "-an"  # S3 account regional namespace names end in -<account>-<region>-an
HASH_LENGTH = 6

# Pulumi logical names of the stack's providers: part of every resource's provider reference, so never renamed.
PROVIDER_GCP = "gcp"
PROVIDER_AWS = "aws"
PROVIDER_KUBERNETES = "kubernetes"
PROVIDER_KUBERNETES_ADOPTING = "kubernetes-adopting"  # the one that takes over kept namespaces and volumes
# The stand-alone stack's Fleet component (a new URN: everything it holds is aliased to where it was).
FLEET = "nuketown"

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


# A shard of an environment: `s` and two or more digits; its stack is <environment>--<shard>. No environment
# contains the separator, so a shard stack's name tells its environment, and no environment's stack can be
# another environment's shard.
_SHARD = re.compile(r"s[0-9]{2,}")


def is_shard(name: str) -> bool:
    return _SHARD.fullmatch(name) is not None


def shard_stack(environment: str, shard: str) -> str:
    """The stack of one shard of an environment: `fleet--s03`."""
    return f"{environment}{SEPARATOR}{shard}"


def ownership_policy(stack: str) -> str:
    """The stack's ValidatingAdmissionPolicy and its binding (cluster-scoped: one per stack, never shared)."""
    return f"nuketown-{stack}-ownership"


# Between the environment and the agent in every name that carries both. Neither may contain it, so where
# it stands in a name tells the two apart: `nuketown-prod--eu-bob` and `nuketown-prod-eu--bob` differ.
SEPARATOR = "--"
# The hash that replaces the tail of a name over its limit, in the separated form: long enough that two
# names cut to the same head differ in it (32 bits).
DISTINCT_HASH_LENGTH = 8


def fit_distinct(name: str, limit: int) -> str:
    """`name` if it is shorter than `limit`, else its head plus a hash of the whole name, exactly `limit` long.
    A cut name is never as short as an uncut one, so the two can never be equal."""
    if len(name) < limit:
        return name
    head = name[: limit - DISTINCT_HASH_LENGTH - 1]
    return f"{head}-{hashlib.sha256(name.encode()).hexdigest()[:DISTINCT_HASH_LENGTH]}"


@dataclass(frozen=True)
class Names:
    """The names one stack derives for its agents, from its environment (the stack's name unless set).

    The separated form joins environment and agent with `--`, which neither may contain, so no two
    (environment, agent) pairs derive one name: stacks sharing a cluster, a project or an account never
    reach each other's namespaces, accounts, roles or policies. The legacy form (`nuketown:legacyNames`)
    joins them with `-`, as stacks made before the separated form did, and keeps their names; they can
    collide with another legacy stack's (`prod` with agent `eu-bob`, `prod-eu` with `bob`), but, since no
    name in either form has `--` but where the separated form puts it, never with a separated one.
    """

    environment: str
    namespace_prefix: str | None = None  # nuketown:namespacePrefix; None: the default
    legacy: bool = False

    @property
    def separator(self) -> str:
        return "-" if self.legacy else SEPARATOR

    def _fit(self, name: str, limit: int) -> str:
        return fit(name, limit) if self.legacy else fit_distinct(name, limit)

    def _head(self, name: str, limit: int) -> str:
        """What a name longer than `limit` keeps of its head when it is cut."""
        if self.legacy:
            return name[: limit - HASH_LENGTH - 1]
        return name[: limit - DISTINCT_HASH_LENGTH - 1]

    @property
    def prefix(self) -> str:
        """Namespace prefix: namespace = prefix + agent."""
        if self.namespace_prefix is not None:
            return self.namespace_prefix
        return f"nuketown-{self.environment}{self.separator}"

    def namespace(self, agent: str) -> str:
        return f"{self.prefix}{agent}"

    def gcp_service_account_id(self, agent: str) -> str:
        return self._fit(f"nt-{self.environment}{self.separator}{agent}", GCP_SERVICE_ACCOUNT_ID_MAX)

    def gcp_service_account_prefix(self) -> str:
        """What every account id of the stack starts with, cut or not."""
        return self._head(f"nt-{self.environment}{self.separator}", GCP_SERVICE_ACCOUNT_ID_MAX)

    def gcp_key_ring(self) -> str:
        return f"nuketown-{self.environment}"

    def aws_role_prefix(self) -> str:
        """What every role name of the stack starts with, cut or not."""
        return self._head(f"nuketown-{self.environment}{self.separator}", AWS_ROLE_NAME_MAX)

    def aws_role(self, agent: str) -> str:
        return self._fit(f"nuketown-{self.environment}{self.separator}{agent}", AWS_ROLE_NAME_MAX)

    def aws_boundary_policy(self, agent: str) -> str:
        sep = self.separator
        return self._fit(f"nuketown-{self.environment}{sep}{agent}{sep}boundary", AWS_POLICY_NAME_MAX)

    def aws_kms_alias(self, agent: str) -> str:
        return f"alias/nuketown/{self.environment}/{agent}"

    def gcp_bucket(self, project: str, agent: str, bucket: str) -> str:
        """A GCS bucket: bucket names are global, so the project (globally unique) leads; the separator
        keeps (project, environment, agent, bucket) apart as in every other name."""
        sep = SEPARATOR
        return fit_distinct(f"{project}{sep}{self.environment}{sep}{agent}{sep}{bucket}", BUCKET_NAME_MAX)

    def gcp_bucket_prefix(self, project: str) -> str:
        """What every GCS bucket of the stack starts with, cut or not (to find the ones kept from removed agents)."""
        return f"{project}{SEPARATOR}{self.environment}{SEPARATOR}"[: BUCKET_NAME_MAX - DISTINCT_HASH_LENGTH - 1]

    def aws_bucket(self, account: str, region: str, agent: str, bucket: str) -> str:
        """An S3 bucket in the account's regional namespace (`<prefix>-<account>-<region>-an`), where only that
        account can create names: no other account can hold, or take first, an agent's bucket name."""
        suffix = f"-{account}-{region}{AWS_REGIONAL_NAMESPACE_SUFFIX}"
        head = f"nt-{self.environment}{SEPARATOR}{agent}{SEPARATOR}{bucket}"
        return fit_distinct(head, BUCKET_NAME_MAX - len(suffix)) + suffix


def resource_name(agent: str, *parts: str) -> str:
    """A Pulumi logical name of an agent's resource with parts of its own (a bucket): joined by the separator,
    which neither agent nor part contains, so two agents' resources of one type never share a URN."""
    return SEPARATOR.join((agent, *parts))


def gcp_crypto_key(agent: str) -> str:
    return agent


def name_problems(names: Names, agent: str, paths: list[str]) -> list[str]:
    """Why the names derived for one agent do not fit their platforms (empty when they do)."""
    problems = []
    if SEPARATOR in agent:
        problems.append(
            f"agents.{agent}: an agent name may not contain '{SEPARATOR}', which separates it from the environment "
            "in every name a stack derives; rename the agent"
        )
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
# Dash-separated words ending in the separator, which occurs nowhere else: the agent is what follows it.
_SEPARATED_PREFIX = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*--")


def prefix_problems(names: Names) -> list[str]:
    """A namespace prefix is the head of a DNS label, ends in '-' ('--' in the separated form, its only '--'),
    and is not Kubernetes' own."""
    prefix = names.prefix
    if names.legacy and (not _PREFIX.fullmatch(prefix) or SEPARATOR in prefix):
        return [
            f"nuketown:namespacePrefix: {prefix!r} must be lowercase letters, digits and single '-', ending in '-' "
            "(like nuketown-prod-), so an agent's namespace can never be one that exists for other reasons"
        ]
    if not names.legacy and not _SEPARATED_PREFIX.fullmatch(prefix):
        return [
            f"nuketown:namespacePrefix: {prefix!r} must be lowercase words joined by single '-' and end in "
            f"'{SEPARATOR}' (like nuketown-prod{SEPARATOR}), its only '{SEPARATOR}', so no two stacks' agents "
            "derive one namespace (or set nuketown:legacyNames: true to keep a stack's older names)"
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


def environment_problems(names: Names, given: bool) -> list[str]:
    """The environment every name derives from: a DNS label short enough for a key ring, without the separator.
    `given`: set as nuketown:environment, else it is the stack's name."""
    environment = names.environment
    where = f"nuketown:environment: {environment!r}" if given else f"stack {environment!r}"
    if not is_dns_label(environment) or len(names.gcp_key_ring()) > GCP_KMS_NAME_MAX:
        return [
            f"{where}: environment names are part of Kubernetes and cloud names; "
            "use lowercase letters, digits and '-' (at most 54 characters)"
        ]
    if SEPARATOR in environment:
        fix = "rename it" if given else "set nuketown:environment to a name without it"
        return [
            f"{where}: may not contain '{SEPARATOR}', which separates the environment from the agent in every "
            f"name; {fix}"
        ]
    return []
