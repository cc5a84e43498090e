"""The spec: the contract between nix and Python.

Parsing a raw dict into a frozen CloudSpec validates every field of it; nix checked the
same grammar first (nix/spec.nix), and what needs the stack's settings too (names that
fit, allow-listed identities and scopes) is checked in plan/. Problems are reported all
at once, one line each, with the path named as the nix option that sets it
(`agents.ada.cloud.resources`).
"""

import ipaddress
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.env import env_problem
from nuketown_stack.inputs.quantity import parse_quantity
from nuketown_stack.inputs.source import repeated_keys
from nuketown_stack.plan import naming

SCHEMA_VERSION = 1

# Every grammar is matched with fullmatch: `$` would also accept a trailing newline ("ada*\n").
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A user-managed account: <id>@<project>.iam.gserviceaccount.com. Google-managed accounts (App Engine and
# Compute Engine defaults, service agents in gcp-sa-* projects) are never an agent's identity.
_GCP_SERVICE_ACCOUNT_EMAIL = re.compile(
    r"[a-z][-a-z0-9]{4,28}[a-z0-9]@(?!gcp-sa-)[a-z][-a-z0-9]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com"
)
# An IAM role ARN; service-linked (aws-service-role/) and SSO-reserved (aws-reserved/) roles are never an agent's.
_AWS_ROLE_ARN = re.compile(
    r"arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/(?!aws-service-role/|aws-reserved/)([\w+=,.@-]+/)*[\w+=,.@-]{1,64}"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SCOPE = re.compile(r"[a-z0-9][a-z0-9._-]*\*")
# A bucket's short name: words joined by single dashes, as in the names derived from it (no '--').
_BUCKET = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
BUCKET_NAME_MAX = 32
# Kubernetes label keys ([prefix/]name) and values; tier names and toleration keys follow the same grammar.
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"({naming.DNS_SUBDOMAIN.pattern}/)?{_LABEL_NAME}")
_LABEL_VALUE = re.compile(rf"({_LABEL_NAME})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _single_line(value: str) -> str:
    """Text that lands in names, paths, annotations and labels: no control characters, no outer whitespace."""
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} contains a control character (a newline or tab, say)")
    if value != value.strip():
        raise ValueError(f"{value!r} has leading or trailing whitespace")
    return value


def _multi_line(value: str) -> str:
    """Free text (descriptions): newlines and tabs are fine, other control characters are not."""
    if _CONTROL_BUT_LINES.search(value):
        raise ValueError(f"{value!r} contains a control character")
    return value


def _grammar(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


Text = Annotated[str, AfterValidator(_single_line)]
FreeText = Annotated[str, AfterValidator(_multi_line)]
LabelKey = Annotated[str, AfterValidator(_grammar(_LABEL_KEY, "a Kubernetes label key ([prefix/]name)"))]
LabelValue = Annotated[str, AfterValidator(_grammar(_LABEL_VALUE, "a Kubernetes label value"))]
TierName = Annotated[
    str, AfterValidator(_grammar(re.compile(_LABEL_NAME), "a tier name (letters, digits, '-', '_', '.')"))
]


def _quantity(value: str) -> str:
    parse_quantity(value)
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]


def _whole_number(value: Any) -> Any:
    """A JSON number: pydantic alone would read "1201", 1201.0 or true as a number, so a spec could show a
    reviewer text and run a uid."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().removeprefix("-").isdigit():
        raise ValueError(f"{value!r} is text; write the number itself ({value.strip()}), not in quotes")
    if isinstance(value, float) and value.is_integer():
        raise ValueError(f"{value!r} is not a whole number written as one; write {int(value)}")
    raise ValueError(f"{value!r} is not a whole number")


def _flag(value: Any) -> Any:
    """A JSON boolean, not text or a number pydantic would read as one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        raise ValueError(f"{value!r} is text; write true or false, not in quotes")
    raise ValueError(f"{value!r} is not true or false")


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class Model(BaseModel):
    # Attribute docstrings become the JSON Schema's descriptions (docs/spec.schema.json).
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True
    )


class Toleration(Model):
    key: LabelKey | None = None
    """The taint's key; none with operator Exists (every taint, control-plane ones too) is refused."""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: LabelValue | None = None
    """The taint's value (with operator Equal)."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect tolerated; null: every effect."""
    toleration_seconds: WholeNumber | None = None
    """With NoExecute: how long the pod stays once the taint appears."""


# Where the cluster's own components run: an agent's pod is never placed there.
CONTROL_PLANE_KEYS = frozenset({"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"})


class Tier(Model):
    cpu: Quantity
    """CPU requested and limited, a Kubernetes quantity ("2", "500m")."""
    memory: Quantity
    """Memory requested and limited, a Kubernetes quantity ("4Gi")."""
    extended_resources: dict[LabelKey, Quantity] = {}
    """Extended resources requested and limited, like {"nvidia.com/gpu": "1"}."""
    node_selector: dict[LabelKey, LabelValue] = {}
    """Node labels a pod of this tier requires (ignored with nuketown:scheduling none)."""
    tolerations: tuple[Toleration, ...] = ()
    """Taints a pod of this tier tolerates (ignored with nuketown:scheduling none)."""

    @field_validator("node_selector")
    @classmethod
    def _not_control_plane(cls, selector: dict[str, str]) -> dict[str, str]:
        for key in selector:
            if key in CONTROL_PLANE_KEYS:
                raise ValueError(f"{key!r} selects control-plane nodes, where agents never run")
        return selector

    @field_validator("tolerations")
    @classmethod
    def _bounded(cls, tolerations: tuple[Toleration, ...]) -> tuple[Toleration, ...]:
        for toleration in tolerations:
            if toleration.key is None and toleration.operator == "Exists":
                raise ValueError("a toleration without a key tolerates every taint (control-plane nodes too)")
            if toleration.key in CONTROL_PLANE_KEYS:
                raise ValueError(f"{toleration.key!r} is the control-plane taint, where agents never run")
        return tolerations

    def amounts(self) -> dict[str, Decimal]:
        """Every resource the tier requests, by Kubernetes resource name."""
        return {"cpu": parse_quantity(self.cpu), "memory": parse_quantity(self.memory)} | {
            name: parse_quantity(value) for name, value in self.extended_resources.items()
        }


class Git(Model):
    name: Text = Field(min_length=1)
    """Git author and committer name."""
    email: Text
    """Git author and committer email; also the identity's email."""

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an email address (name@domain)")
        return value


class AuthenticationRef(Model):
    name: Text
    """The KEDA TriggerAuthentication (in the agent's namespace) or ClusterTriggerAuthentication."""
    kind: Literal["TriggerAuthentication", "ClusterTriggerAuthentication"] = "TriggerAuthentication"


class WakeTrigger(Model):
    """A KEDA trigger that says the agent has work (a message in its inbox queue, a cron window)."""

    type: Text
    """The KEDA scaler type, like "gcp-pubsub", "aws-sqs-queue" or "cron"."""
    metadata: dict[Text, str] = {}
    """The scaler's metadata, as KEDA documents it for that type."""
    name: Text | None = None
    """A name for the trigger (KEDA's triggers[].name)."""
    authentication_ref: AuthenticationRef | None = None
    """Credentials the scaler reads the source with."""


# How the Vertical Pod Autoscaler may apply its recommendation: Off records it only, Initial applies it
# when a pod starts, Recreate evicts a running pod to apply it, InPlaceOrRecreate resizes it in place.
RightSizing = Literal["Off", "Initial", "Recreate", "InPlaceOrRecreate"]


class Scaling(Model):
    max_resources: Text | None = None
    """The largest tier the agent may be scaled to (its quota and limits); null: its own tier."""
    min_resources: Text | None = None
    """The smallest tier right-sizing may go down to; null: each resource's smallest value over all tiers."""
    idle_timeout: Annotated[int, Field(ge=0), BeforeValidator(_whole_number)] | None = None
    """Seconds without work before the agent scales to zero (a KEDA ScaledObject); null: always on."""
    right_sizing: RightSizing | None = None
    """How a Vertical Pod Autoscaler applies its recommendation within [minResources, maxResources];
    null: no autoscaler object."""
    wake: tuple[WakeTrigger, ...] = ()
    """KEDA triggers that bring an idled agent back (a queue with messages, a cron window)."""


class Persist(Model):
    path: Text
    """A directory relative to the agent's home; its volume claim is named <agent>-<path>."""
    size: Quantity
    """The volume's size, a Kubernetes quantity ("10Gi"); it can grow, never shrink."""

    @field_validator("path")
    @classmethod
    def _relative_inside_home(cls, path: str) -> str:
        if not path.strip():
            raise ValueError("must not be empty")
        if path.startswith("/"):
            raise ValueError(f"{path!r} must be relative to the agent's home, not absolute")
        if ".." in path.split("/"):
            raise ValueError(f"{path!r} must stay inside the agent's home (no '..')")
        if not naming.sanitize_path(path):
            raise ValueError(f"{path!r} has no letters or digits to name its volume after")
        return path


class Identity(Model):
    gcp_service_account: str | None = None
    """An existing GCP service account to bind instead of creating one (the stack must allow-list it)."""
    aws_role_arn: str | None = None
    """An existing IAM role to bind instead of creating one (the stack must allow-list it)."""
    azure_client_id: str | None = None
    """An Azure workload identity client id to annotate the ServiceAccount with."""
    scope: str
    """The bucket-name prefix the agent owns, ending in "*": "<agent>-*" or one the stack allow-lists."""

    @field_validator("gcp_service_account")
    @classmethod
    def _service_account_email(cls, value: str | None) -> str | None:
        if value is not None and not _GCP_SERVICE_ACCOUNT_EMAIL.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a user-managed service account email (name@project.iam.gserviceaccount.com; "
                "Google-managed default accounts and service agents are refused)"
            )
        return value

    @field_validator("aws_role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not _AWS_ROLE_ARN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>; "
                "service-linked and aws-reserved roles are refused)"
            )
        return value

    @field_validator("azure_client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not _UUID.fullmatch(value):
            raise ValueError(f"{value!r} is not an Azure client id (a UUID)")
        return value

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if not _SCOPE.fullmatch(value):
            raise ValueError(f"{value!r} must be a lowercase name prefix ending in '*', like 'ada-*'")
        return value

    @property
    def prefix(self) -> str:
        """The resource-name prefix the agent owns: the scope without its '*'."""
        return self.scope[:-1]


class EgressRule(Model):
    cidr: str
    """A network the agent may connect to, in CIDR form ("10.0.0.0/8", "2001:db8::/32")."""
    except_: tuple[str, ...] = Field(default=(), alias="except")
    """Networks inside cidr that stay closed."""
    ports: tuple[Annotated[int, Field(ge=1, le=65535), BeforeValidator(_whole_number)], ...] = ()
    """TCP ports; empty: every port."""

    @field_validator("cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        _parse_network(value)
        return value

    @field_validator("except_")
    @classmethod
    def _networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _parse_network(value)
        return values

    def inside_problems(self) -> list[str]:
        outer = _parse_network(self.cidr)
        return [
            f"{inner!r} is not inside {self.cidr!r}"
            for inner in self.except_
            if not _is_subnet(_parse_network(inner), outer)
        ]


def _parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if "/" not in value:  # Python reads a bare address as /32; the API server wants the prefix length
        raise ValueError(f"{value!r} is not a CIDR network: give the prefix length, like {value}/32")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR network ({error})") from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d reaches IPv4 addresses past rules written for IPv4 (the metadata block, say).
        raise ValueError(f"{value!r} is an IPv4-mapped IPv6 network; write the IPv4 network instead")
    return network


def _is_subnet(
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network, outer: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def cidr_within(inner: str, outer: str) -> bool:
    """Whether network `inner` lies inside `outer` (both valid CIDRs; other IP versions never do)."""
    return _is_subnet(_parse_network(inner), _parse_network(outer))


def _egress_kind(value: Any) -> str:
    return "mode" if isinstance(value, str) else "rules"


Egress = Annotated[
    Annotated[Literal["all", "none"], Tag("mode")] | Annotated[tuple[EgressRule, ...], Tag("rules")],
    Discriminator(_egress_kind),
]


class Network(Model):
    egress: Egress = "all"
    """Where the agent may connect: "all", "none" (not even DNS), or a list of networks (cluster DNS added)."""


class AgentSpec(Model):
    uid: WholeNumber
    """The agent's Unix uid (and gid, fsGroup): the pod runs as it, never as root."""
    role: Text = "general"
    description: FreeText = ""
    home: Text = Field(pattern=r"^/")
    """The agent's home directory, absolute; persist paths are relative to it."""
    git: Git
    resources: Text
    """The agent's tier, a key of tiers: its requests and limits."""
    scaling: Scaling = Scaling()
    image: Text
    """The container image: a registry reference, or a nix-snapshotter reference (nix:0/nix/store/...)."""
    persist: tuple[Persist, ...] = ()
    """Directories kept across restarts, each on its own volume; the rest of home is empty at every start."""
    identity: Identity
    network: Network = Network()
    spot: Flag = False
    """Run on spot capacity (the stack's spot node selector and tolerations)."""
    buckets: tuple[str, ...] = ()
    """Object storage buckets the stack creates for the agent, by short name; its grants reach exactly these."""
    env: dict[str, str] = {}
    """Extra environment variables; nuketown's own and the families that move credentials or load code (cloud
    SDK, proxy, loader, search path, interpreter options, shell, git, nix, package source variables) are refused."""
    # None: Kubernetes' default (Always for :latest and untagged images), except nix-snapshotter references.
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    """The container's imagePullPolicy; null: Kubernetes' default, IfNotPresent for nix-snapshotter images."""

    @field_validator("uid")
    @classmethod
    def _not_root(cls, uid: int) -> int:
        if uid <= 0:
            raise ValueError(f"{uid} is not allowed; agents run as a non-root uid (1 to 2147483647, usually 1100+)")
        if uid > 2**31 - 1:
            raise ValueError(f"{uid} is larger than Kubernetes allows (2147483647)")
        return uid

    @field_validator("image")
    @classmethod
    def _image(cls, image: str) -> str:
        if not image or any(c.isspace() for c in image):
            raise ValueError("must be an image reference (nix:0/nix/store/...tar or registry/name:tag), not empty")
        return image

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, buckets: tuple[str, ...]) -> tuple[str, ...]:
        for bucket in buckets:
            if len(bucket) > BUCKET_NAME_MAX or not _BUCKET.fullmatch(bucket):
                raise ValueError(
                    f"{bucket!r} is not a bucket name: lowercase words joined by single '-', at most {BUCKET_NAME_MAX} "
                    "characters (like 'data'); the stack derives the full name"
                )
        repeated = sorted({b for b in buckets if buckets.count(b) > 1})
        if repeated:
            raise ValueError(f"{', '.join(map(repr, repeated))} is listed twice; each bucket once")
        return buckets

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return env

    @property
    def max_resources(self) -> str:
        return self.scaling.max_resources or self.resources


class CloudSpec(Model):
    """What the nix side hands the program: config.nuketown.cloud.spec, evaluated to JSON."""

    schema_version: WholeNumber
    """The version of this format; 1."""
    domain: Text
    """nuketown.domain: the agents' mail and identity domain."""
    tiers: dict[TierName, Tier]
    """Resource tiers by name."""
    agents: dict[str, AgentSpec]
    """The agents to run, by name (only those with cloud enabled)."""

    @field_validator("domain")
    @classmethod
    def _dns_name(cls, domain: str) -> str:
        if not naming.DNS_SUBDOMAIN.fullmatch(domain):
            raise ValueError(f"{domain!r} is not a DNS domain (lowercase labels separated by dots)")
        return domain

    @field_validator("schema_version")
    @classmethod
    def _supported(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ValueError(f"schemaVersion {version} is not supported; this nuketown-stack reads {SCHEMA_VERSION}")
        return version


def load_spec(raw: Any) -> CloudSpec:
    """Validate a raw (JSON-decoded) spec; InputError lists every problem."""
    if not isinstance(raw, Mapping):
        raise InputError([f"spec: expected a JSON object, got {type(raw).__name__}"])
    repeated = list(repeated_keys(raw))
    if repeated:
        raise InputError(
            f"{_option_path(path)}: given more than once; JSON keeps only the last, so what a reviewer reads may "
            "not be what runs: keep one"
            for path in repeated
        )
    if "schemaVersion" not in raw and ("agents" in raw or "enable" in raw):
        raise InputError(
            [
                "spec: this is a nuketown config (config.nuketown), not the spec made from it; wrap it with the "
                "spec function: (import ./nix/spec.nix).spec (import ./your-nuketown.nix), or evaluate "
                "config.nuketown.cloud.spec of your NixOS configuration"
            ]
        )
    try:
        spec = CloudSpec.model_validate(raw)
    except ValidationError as error:
        found = raw.get("agents")
        agents: Mapping[Any, Any] = found if isinstance(found, Mapping) else {}
        names = [str(name) for name in agents]
        # Field checks failed, so the cross-field ones (names among them) did not run: a bad name still says so.
        lines = [p for name in names for p in _name_problems(name)]
        lines += _without_derived_scopes(raw, _validation_lines(error))
        lines += [p for name, agent in agents.items() for p in _env_problems(str(name), _raw_env(agent))]
        raise InputError(_fleet_lines(lines, len(agents))) from None
    problems = semantic_problems(spec)
    if problems:
        raise InputError(problems)
    return spec


def semantic_problems(spec: CloudSpec) -> list[str]:
    """Problems that span fields: tier references, sizes, names, scopes."""
    problems: list[str] = []
    for name, agent in spec.agents.items():
        problems += _agent_problems(spec, name, agent)
    problems += _shared_identities(spec)
    problems += _shared_uids(spec)
    return problems


def _shared_uids(spec: CloudSpec) -> list[str]:
    """Each agent is its own Unix user. Which of two agents sharing a uid was edited cannot be told from one spec,
    so each of them is named."""
    by_uid: dict[int, list[str]] = {}
    for name in sorted(spec.agents):
        by_uid.setdefault(spec.agents[name].uid, []).append(name)
    problems = []
    for uid, names in sorted(by_uid.items()):
        for name in names if len(names) > 1 else ():
            others = " and ".join(f"{other}'s" for other in names if other != name)
            problems.append(
                f"agents.{name}.uid: {uid} is also {others} uid; each agent runs as its own Unix user: "
                "give one of them another uid"
            )
    return problems


def _name_problems(name: str) -> list[str]:
    if naming.is_dns_label(name):
        return []
    return [
        f"agents.{name}: agent name must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)"
    ]


def _agent_problems(spec: CloudSpec, name: str, agent: AgentSpec) -> list[str]:
    problems = _name_problems(name)
    tier_list = ", ".join(spec.tiers)
    references = {"resources": agent.resources, "scaling.maxResources": agent.max_resources}
    if agent.scaling.min_resources is not None:
        references["scaling.minResources"] = agent.scaling.min_resources
    if agent.max_resources == agent.resources:
        del references["scaling.maxResources"]  # one line for one unknown name
    for field, tier in references.items():
        if tier not in spec.tiers:
            problems.append(f"agents.{name}.cloud.{field}: {tier!r} is not a tier ({tier_list})")
    if agent.resources in spec.tiers and agent.max_resources in spec.tiers:
        problems += _scale_problems(spec, name, agent)
    if agent.scaling.min_resources in spec.tiers and agent.resources in spec.tiers:
        problems += _floor_problems(spec, name, agent)
    problems += _persist_problems(name, agent)
    problems += _env_problems(name, agent.env)
    if isinstance(agent.network.egress, tuple):
        for index, rule in enumerate(agent.network.egress):
            problems += [
                f"agents.{name}.cloud.network.egress[{index}].except: {line}" for line in rule.inside_problems()
            ]
    return problems


def _raw_env(agent: Any) -> Any:
    return agent.get("env") if isinstance(agent, Mapping) else None


def _env_problems(name: str, env: Any) -> list[str]:
    """One line per variable of a family the spec may not set (inputs/env.py)."""
    names = sorted(str(key) for key in env) if isinstance(env, Mapping) else []
    return [f"agents.{name}.cloud.env: {problem}" for problem in map(env_problem, names) if problem]


def _scale_problems(spec: CloudSpec, name: str, agent: AgentSpec) -> list[str]:
    base = spec.tiers[agent.resources].amounts()
    ceiling = spec.tiers[agent.max_resources].amounts()
    smaller = sorted(r for r, amount in base.items() if ceiling.get(r, Decimal(0)) < amount)
    if not smaller:
        return []
    return [
        f"agents.{name}.cloud.scaling.maxResources: {agent.max_resources!r} is smaller than "
        f"resources {agent.resources!r} in {', '.join(smaller)}; pick a tier at least as large"
    ]


def _floor_problems(spec: CloudSpec, name: str, agent: AgentSpec) -> list[str]:
    assert agent.scaling.min_resources is not None
    floor = spec.tiers[agent.scaling.min_resources].amounts()
    base = spec.tiers[agent.resources].amounts()
    larger = sorted(r for r in ("cpu", "memory") if floor[r] > base[r])
    if not larger:
        return []
    return [
        f"agents.{name}.cloud.scaling.minResources: {agent.scaling.min_resources!r} is larger than resources "
        f"{agent.resources!r} in {', '.join(larger)}; right-sizing may only go down from where the agent starts"
    ]


def _persist_problems(name: str, agent: AgentSpec) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(agent.persist):
        claim = naming.pvc(name, entry.path)
        if claim in seen:
            problems.append(
                f"agents.{name}.persist[{index}]: {entry.path!r} and {seen[claim]!r} "
                f"both name the volume {claim!r}; rename one directory"
            )
        else:
            seen[claim] = entry.path
    return problems


def _shared_identities(spec: CloudSpec) -> list[str]:
    """Two agents bound to one existing cloud identity could read each other's data."""
    problems = []
    for field in ("gcp_service_account", "aws_role_arn", "azure_client_id"):
        owners: dict[str, str] = {}
        for name in sorted(spec.agents):
            identity = getattr(spec.agents[name].identity, field)
            if identity is None:
                continue
            if identity in owners:
                problems.append(
                    f"agents.{name}.cloud.identity.{to_camel(field)}: {identity!r} is already "
                    f"{owners[identity]}'s; each agent needs an identity of its own"
                )
            owners.setdefault(identity, name)
    return problems


# Spec keys of an agent that come from nuketown.agents.<n>.cloud.* in nix.
_CLOUD_FIELDS = frozenset({"resources", "scaling", "image", "imagePullPolicy", "identity", "network", "spot", "env"})
_UNION_TAGS = frozenset({"mode", "rules"})


def _without_derived_scopes(raw: Mapping[str, Any], lines: list[str]) -> list[str]:
    """An agent name that is not a valid name also makes its default scope (`<name>-*`) invalid: report the
    name only (its own check says so), not a scope the user never set."""
    found = raw.get("agents")
    agents: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    derived = {
        f"agents.{name}.cloud.identity.scope:"
        for name, agent in agents.items()
        if not naming.is_dns_label(str(name))
        and isinstance(agent, Mapping)
        and (agent.get("identity") or {}).get("scope") == f"{name}-*"
    }
    return [line for line in lines if not line.startswith(tuple(derived))] if derived else lines


def _fleet_lines(lines: list[str], agent_count: int) -> list[str]:
    """A problem every agent has at the same option path almost always comes from the fleet-wide option
    (nuketown.cloud.<path>): one line for it instead of one per agent."""
    agents_by_problem: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    other: list[str] = []
    for line in lines:
        parts = line.split(": ", 1)
        path = parts[0].split(".")
        if len(parts) == 2 and len(path) > 3 and path[0] == "agents" and path[2] == "cloud":
            key = (".".join(path[3:]), parts[1])
            if key not in agents_by_problem:
                order.append(key)
            agents_by_problem.setdefault(key, []).append(path[1])
        else:
            other.append(line)
    result = other
    for key in order:
        agents = agents_by_problem[key]
        suffix, message = key
        if agent_count > 1 and len(agents) == agent_count:
            result.append(f"cloud.{suffix} (every agent: {', '.join(agents)}; set in nuketown.cloud?): {message}")
        else:
            result.append(f"agents.{agents[0]}.cloud.{suffix}: {message}")
    return result


def _validation_lines(error: ValidationError) -> list[str]:
    return [f"{_option_path(item['loc'])}: {_message(item)}" for item in error.errors()]


def _option_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the nix option path users edit (`agents.ada.cloud.image`)."""
    parts = [p for p in loc if p not in _UNION_TAGS]
    if len(parts) >= 3 and parts[0] == "agents" and parts[2] in _CLOUD_FIELDS:
        parts.insert(2, "cloud")
    elif parts and parts[0] == "tiers":
        parts.insert(0, "cloud")
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "spec"


def _message(item: Any) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field (a typo?)"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(item["ctx"]["error"])
    if "input" in item and kind not in ("model_type", "dict_type", "tuple_type"):
        return f"{item['msg']}, got {item['input']!r}"
    return str(item["msg"])


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec, from the model (docs/spec.schema.json). It checks shapes, names and types;
    what needs more than one field (a tier that exists, quantities, scopes, collisions) only the model checks."""
    schema = CloudSpec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
