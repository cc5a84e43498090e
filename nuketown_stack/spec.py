"""The spec: the contract between nix and Python (DESIGN.md section 3).

Parsing a raw dict into a frozen CloudSpec is the only place input is
validated. Problems are reported all at once, one line each, with the path
named as the nix option that sets it (`agents.ada.cloud.resources`).
"""

import ipaddress
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from nuketown_stack import naming
from nuketown_stack.errors import InputError
from nuketown_stack.quantity import parse_quantity

SCHEMA_VERSION = 1

# Environment variables the Deployment sets itself; the spec's env may not override them.
RESERVED_ENV = frozenset(
    {
        "HOME",
        "USER",
        "NUKETOWN_AGENT",
        "NUKETOWN_ROLE",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    }
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GCP_SERVICE_ACCOUNT_EMAIL = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9][-a-z0-9.]*\.gserviceaccount\.com$")
_AWS_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SCOPE = re.compile(r"^[a-z0-9][a-z0-9._-]*\*$")


def _quantity(value: str) -> str:
    parse_quantity(value)
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class Tier(Model):
    cpu: Quantity
    memory: Quantity
    extended_resources: dict[str, Quantity] = {}
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()

    def amounts(self) -> dict[str, Decimal]:
        """Every resource the tier requests, by Kubernetes resource name."""
        return {"cpu": parse_quantity(self.cpu), "memory": parse_quantity(self.memory)} | {
            name: parse_quantity(value) for name, value in self.extended_resources.items()
        }


class Git(Model):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class Scaling(Model):
    max_resources: str | None = None
    idle_timeout: int | None = Field(default=None, ge=0)


class Persist(Model):
    path: str
    size: Quantity

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
    aws_role_arn: str | None = None
    azure_client_id: str | None = None
    scope: str

    @field_validator("gcp_service_account")
    @classmethod
    def _service_account_email(cls, value: str | None) -> str | None:
        if value is not None and not _GCP_SERVICE_ACCOUNT_EMAIL.match(value):
            raise ValueError(f"{value!r} is not a service account email (name@project.iam.gserviceaccount.com)")
        return value

    @field_validator("aws_role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not _AWS_ROLE_ARN.match(value):
            raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
        return value

    @field_validator("azure_client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not _UUID.match(value):
            raise ValueError(f"{value!r} is not an Azure client id (a UUID)")
        return value

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if not _SCOPE.match(value):
            raise ValueError(f"{value!r} must be a lowercase name prefix ending in '*', like 'ada-*'")
        return value

    @property
    def prefix(self) -> str:
        """The resource-name prefix the agent owns: the scope without its '*'."""
        return self.scope[:-1]


class EgressRule(Model):
    cidr: str
    except_: tuple[str, ...] = Field(default=(), alias="except")
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = ()

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
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR network ({error})") from None


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


class Agent(Model):
    uid: int
    role: str = "general"
    description: str = ""
    home: str = Field(pattern=r"^/")
    git: Git
    resources: str
    scaling: Scaling = Scaling()
    image: str
    persist: tuple[Persist, ...] = ()
    identity: Identity
    network: Network = Network()
    spot: bool = False
    env: dict[str, str] = {}

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
        if not image.strip() or image != image.strip():
            raise ValueError("must be an image reference (nix:0/nix/store/...tar or registry/name:tag), not empty")
        return image

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
            if name in RESERVED_ENV:
                raise ValueError(f"{name!r} is set by nuketown itself ({', '.join(sorted(RESERVED_ENV))})")
        return env

    @property
    def max_resources(self) -> str:
        return self.scaling.max_resources or self.resources


class CloudSpec(Model):
    schema_version: int
    domain: str
    tiers: dict[str, Tier]
    agents: dict[str, Agent]

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
    try:
        spec = CloudSpec.model_validate(raw)
    except ValidationError as error:
        raise InputError(_validation_lines(error)) from None
    problems = semantic_problems(spec)
    if problems:
        raise InputError(problems)
    return spec


def semantic_problems(spec: CloudSpec) -> list[str]:
    """Problems that span fields: tier references, sizes, names, scopes."""
    problems: list[str] = []
    for name, agent in spec.agents.items():
        problems += _agent_problems(spec, name, agent)
    problems += _scope_overlaps(spec)
    problems += _shared_identities(spec)
    return problems


def _agent_problems(spec: CloudSpec, name: str, agent: Agent) -> list[str]:
    problems = []
    if not naming.is_dns_label(name):
        problems.append(
            f"agents.{name}: agent name must be a DNS-1123 label "
            "(lowercase letters, digits, '-', at most 63 characters)"
        )
    tier_list = ", ".join(spec.tiers)
    references = {"resources": agent.resources, "scaling.maxResources": agent.max_resources}
    if agent.max_resources == agent.resources:
        del references["scaling.maxResources"]  # one line for one unknown name
    for field, tier in references.items():
        if tier not in spec.tiers:
            problems.append(f"agents.{name}.cloud.{field}: {tier!r} is not a tier ({tier_list})")
    if agent.resources in spec.tiers and agent.max_resources in spec.tiers:
        problems += _scale_problems(spec, name, agent)
    problems += _persist_problems(name, agent)
    if isinstance(agent.network.egress, tuple):
        for index, rule in enumerate(agent.network.egress):
            problems += [
                f"agents.{name}.cloud.network.egress[{index}].except: {line}" for line in rule.inside_problems()
            ]
    return problems


def _scale_problems(spec: CloudSpec, name: str, agent: Agent) -> list[str]:
    base = spec.tiers[agent.resources].amounts()
    ceiling = spec.tiers[agent.max_resources].amounts()
    smaller = sorted(r for r, amount in base.items() if ceiling.get(r, Decimal(0)) < amount)
    if not smaller:
        return []
    return [
        f"agents.{name}.cloud.scaling.maxResources: {agent.max_resources!r} is smaller than "
        f"resources {agent.resources!r} in {', '.join(smaller)}; pick a tier at least as large"
    ]


def _persist_problems(name: str, agent: Agent) -> list[str]:
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


def _scope_overlaps(spec: CloudSpec) -> list[str]:
    """Pairs where one agent's scope prefix starts another's; one sorted pass, not every pair."""
    overlaps: list[tuple[tuple[str, str], tuple[str, str]]] = []
    # In sorted order every prefix of a scope comes before it, and everything between them shares it,
    # so a stack of the scopes that prefix the current one is all there is to compare.
    covering: list[tuple[str, str]] = []
    for owner in sorted((agent.identity.prefix, name) for name, agent in spec.agents.items()):
        while covering and not owner[0].startswith(covering[-1][0]):
            covering.pop()
        overlaps += [(outer, owner) for outer in covering]
        covering.append(owner)
    return [
        f"agents.{name}.cloud.identity.scope: {prefix + '*'!r} also covers {other}'s "
        f"{other_prefix + '*'!r}; give each agent a prefix no other starts with"
        for (prefix, name), (other_prefix, other) in sorted(overlaps)
    ]


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
_CLOUD_FIELDS = frozenset({"resources", "scaling", "image", "identity", "network", "spot", "env"})
_UNION_TAGS = frozenset({"mode", "rules"})


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
    return item["msg"]
