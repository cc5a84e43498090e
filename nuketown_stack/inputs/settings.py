"""Stack settings: where configuration keys become typed, checked Settings.

Settings are flat Pulumi config keys (`nuketown:cloud`, `gcp:project`, ...).
`pulumi up` gets them from the engine, `nuketown-stack` from
Pulumi.<stack>.yaml plus `-c KEY=VALUE`; both go through `settings_from_config`.
A `Fleet` in someone's program takes the same settings as a mapping, each key
without its namespace (`cloud`, `gcpProject`): `settings_from_mapping` turns it
into config keys through the same table (`KEYS`) and checks it the same way,
naming each problem by the key the program wrote.
"""

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.source import decode_json, repeated_keys
from nuketown_stack.inputs.spec import Toleration
from nuketown_stack.plan import naming

# A GCP IAM principal: user:, group:, serviceAccount:, domain: or principal(Set):// forms.
IamMember = Annotated[
    str, StringConstraints(pattern=r"^(user|group|serviceAccount|domain):[^\s]+$|^principal(Set)?://\S+$")
]
GKE_SPOT_SELECTOR = {"cloud.google.com/gke-spot": "true"}
GKE_SPOT_TOLERATIONS = (
    Toleration(key="cloud.google.com/gke-spot", operator="Equal", value="true", effect="NoSchedule"),
)

# Config key -> Settings field. Keys outside the `nuketown` namespace belong to providers.
KEYS: dict[str, str] = {
    "nuketown:source": "source",
    "nuketown:cloud": "cloud",
    "nuketown:environment": "environment",
    "nuketown:shards": "shards",
    "nuketown:legacyNames": "legacy_names",
    "nuketown:namespacePrefix": "namespace_prefix",
    "nuketown:storageClass": "storage_class",
    "nuketown:scheduling": "scheduling",
    "nuketown:applyKubernetes": "apply_kubernetes",
    "nuketown:adoptExistingObjects": "adopt_existing_objects",
    "nuketown:spotNodeSelector": "spot_node_selector",
    "nuketown:spotTolerations": "spot_tolerations",
    "nuketown:allowedIdentities": "allowed_identities",
    "nuketown:allowedScopes": "allowed_scopes",
    "nuketown:requireImageDigests": "require_image_digests",
    "nuketown:storage": "storage",
    "nuketown:gcpBucketLocation": "gcp_bucket_location",
    "gcp:project": "gcp_project",
    "nuketown:gcpClusterProject": "gcp_cluster_project",
    "nuketown:gcpKmsLocation": "gcp_kms_location",
    "nuketown:gcpKmsEncrypters": "gcp_kms_encrypters",
    "aws:region": "aws_region",
    "nuketown:awsMode": "aws_mode",
    "nuketown:awsOidcProviderArn": "aws_oidc_provider_arn",
    "nuketown:awsClusterName": "aws_cluster_name",
    "nuketown:gkeCluster": "gke_cluster",
    "nuketown:eksCluster": "eks_cluster",
}
# Packages whose stack settings (`gcp:*`, `aws:*`, `kubernetes:*`) go to the program's explicit providers:
# unlike default providers, explicit ones get no stack config from the engine.
PROVIDER_PACKAGES = ("gcp", "aws", "kubernetes")
_JSON_KEYS = frozenset(
    {
        "nuketown:spotNodeSelector",
        "nuketown:spotTolerations",
        "nuketown:gcpKmsEncrypters",
        "nuketown:allowedIdentities",
        "nuketown:allowedScopes",
    }
)
_FIELD_KEYS = {field: key for key, field in KEYS.items()}
# Settings only a stand-alone stack has: it reads its spec and makes its providers from them. A program
# that declares a Fleet passes the spec itself and hands the Fleet its own providers.
STACK_ONLY: dict[str, str] = {
    "nuketown:source": "pass the spec as the Fleet's `spec`",
    "nuketown:gkeCluster": "give your Kubernetes provider the cluster's kubeconfig, and the Fleet that provider",
    "nuketown:eksCluster": "give your Kubernetes provider the cluster's kubeconfig, and the Fleet that provider",
    "nuketown:adoptExistingObjects": (
        "for the update that takes the objects back, give the Kubernetes provider you hand the Fleet "
        "upsert_existing_objects=True"
    ),
}
# The mapping key of every setting: the Settings field in camelCase (`nuketown:cloud` is `cloud`,
# `gcp:project` is `gcpProject`); `stack` is the name physical names derive from.
MAPPING_KEYS: dict[str, str] = {to_camel(field): key for key, field in KEYS.items()}
STACK_KEY = "stack"


@dataclass(frozen=True)
class _Spelling:
    """How a problem names a setting: by its config key, or by the mapping key a program wrote."""

    prefix: str = ""  # what the program called the mapping ("settings."), before each key
    mapping: bool = False

    def name(self, key: str) -> str:
        field = KEYS.get(key)
        return f"{self.prefix}{to_camel(field)}" if self.mapping and field is not None else key

    def in_text(self, line: str, key: str) -> str:
        """A problem that names `key` in its text, naming it as this spelling does."""
        return line.replace(key, self.name(key)) if self.mapping else line

    def how_to_set(self, key: str) -> str:
        return f"set {self.name(key)}" if self.mapping else f"pulumi config set {key} ..."


_CONFIG = _Spelling()


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack: str
    source: str | None = None
    cloud: Literal["none", "gcp", "aws"] = "none"
    # What every physical name derives from; None: the stack's name. Stacks that share it share names (a
    # renamed stack that keeps its old environment keeps its namespaces, volumes and identities).
    environment: str | None = None
    # The environment's placement file (agent -> shard), when this stack is one shard of it: the stack is then
    # named <environment>--<shard> and declares only the agents placed in that shard (plan/shards.py).
    shards: str | None = None
    # True: the names stacks derived before environment and agent were joined by '--' (they can collide
    # across stacks: `prod` with agent `eu-bob` and `prod-eu` with `bob`).
    legacy_names: bool = False
    namespace_prefix: str | None = None
    storage_class: str | None = None
    scheduling: Literal["tiers", "none"] = "tiers"
    # False when another tool (Argo CD running `nuketown-stack render`) applies the Kubernetes
    # objects: the stack then holds the cloud identity only.
    apply_kubernetes: bool = True
    # True for the update that takes the Kubernetes objects back from such a tool: every object the stack would
    # create is adopted if it exists (upsert), not refused as AlreadyExists. Set back to false afterwards.
    adopt_existing_objects: bool = False
    spot_node_selector: dict[str, str] = GKE_SPOT_SELECTOR
    spot_tolerations: tuple[Toleration, ...] = GKE_SPOT_TOLERATIONS
    # The operator's allow-lists, beyond what an agent owns by name: an existing identity per agent
    # (a service account email or an IAM role ARN), and scopes that do not start with the agent's name.
    allowed_identities: dict[str, str] = {}
    allowed_scopes: dict[str, tuple[str, ...]] = {}
    # True: every agent's image must be pinned (by digest, or a nix store path); a tag can be moved by whoever
    # can push to the registry, and the spec's writers may not be the operator.
    require_image_digests: bool = False
    # What an agent's storage grants reach. buckets: exactly the buckets the stack creates for it (cloud.buckets),
    # whatever else the project or account holds. agentPrefix: also every bucket named <agent>-*, which is the
    # agent's own only when the project or account holds nothing but this stack's agents' buckets: choosing it
    # declares that. Allow-listed scopes (allowed_scopes) are granted in either mode.
    storage: Literal["buckets", "agentPrefix"] = "buckets"
    gcp_project: str | None = None
    gcp_cluster_project: str | None = None
    gcp_kms_location: str = "global"
    # Where GCS buckets are created (a multi-region like US or EU, or a region): GCS requires one.
    gcp_bucket_location: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+$")] = "US"
    gcp_kms_encrypters: tuple[IamMember, ...] = ()
    aws_region: str | None = None
    aws_mode: Literal["irsa", "podIdentity"] = "irsa"
    aws_oidc_provider_arn: (
        Annotated[str, StringConstraints(pattern=r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:oidc-provider/.+$")] | None
    ) = None
    aws_cluster_name: str | None = None
    # Reach the cluster from cloud credentials: look it up and use the cloud's exec credential plugin.
    gke_cluster: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/locations/[a-z0-9-]+/clusters/[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"
            ),
        ]
        | None
    ) = None
    eks_cluster: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")] | None = None
    # Every `<package>:<key>` setting of the provider packages, by package, for the explicit providers.
    provider_config: dict[str, dict[str, Any]] = {}
    secret_keys: frozenset[str] = frozenset()  # config keys whose values are secrets, to keep them secret

    @property
    def pod_identity_cluster(self) -> str | None:
        """The EKS cluster Pod Identity associations name: nuketown:awsClusterName, else nuketown:eksCluster."""
        return self.aws_cluster_name or self.eks_cluster

    @property
    def names(self) -> naming.Names:
        """Every physical name this stack derives (plan/naming.py)."""
        return naming.Names(self.environment or self.stack, self.namespace_prefix, self.legacy_names)

    @property
    def prefix(self) -> str:
        """Namespace prefix: namespace = prefix + agent."""
        return self.names.prefix

    @property
    def shard(self) -> str | None:
        """This stack's shard (`s03` of stack `fleet--s03`), when it is one; None for a stack of a whole spec."""
        if self.shards is None:
            return None
        return self.stack.partition(naming.SEPARATOR)[2]


def settings_from_config(stack: str, config: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Settings from flat config keys; InputError names each bad key."""
    problems = [_unknown_key(key) for key in config if key.startswith("nuketown:") and key not in KEYS]
    return _settings(stack, config, secret_keys, problems, _CONFIG)


def settings_from_mapping(values: Mapping[str, Any], stack: str, prefix: str = "settings.") -> Settings:
    """Settings from a program's mapping (`{"cloud": "gcp", "gcpProject": "acme-agents"}`); `values["stack"]`,
    when given, replaces `stack`. Checked as the stack file is; InputError names each bad key as `prefix` + key."""
    spelling = _Spelling(prefix=prefix, mapping=True)
    problems = [_unknown_mapping_key(key, prefix) for key in values if key != STACK_KEY and key not in MAPPING_KEYS]
    problems += [
        f"{prefix}{key}: not a Fleet setting; {STACK_ONLY[MAPPING_KEYS[key]]}"
        for key in values
        if MAPPING_KEYS.get(key) in STACK_ONLY
    ]
    given_stack = values.get(STACK_KEY)
    if given_stack is not None and not isinstance(given_stack, str):
        problems.append(f"{prefix}{STACK_KEY}: a stack name is text, got {given_stack!r}")
    elif given_stack is not None:
        stack = given_stack
    config = {MAPPING_KEYS[key]: value for key, value in values.items() if key in MAPPING_KEYS}
    return _settings(stack, config, frozenset(), problems, spelling)


def _settings(
    stack: str, config: Mapping[str, Any], secret_keys: frozenset[str], problems: list[str], spelling: _Spelling
) -> Settings:
    values: dict[str, Any] = {
        "stack": stack,
        "provider_config": _provider_config(config),
        "secret_keys": frozenset(k for k in secret_keys if k in config),
    }
    for key, field in KEYS.items():
        if key in config and config[key] is not None:
            try:
                values[field] = _decode(key, config[key])
            except ValueError as error:
                problems.append(f"{spelling.name(key)}: {error}")
    if problems:
        raise InputError(problems)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        raise InputError(_lines(error, spelling)) from None
    return checked(settings, spelling)


def checked(settings: Settings, spelling: _Spelling = _CONFIG) -> Settings:
    """`settings` after the checks across fields (the environment names derive from, a shard stack's name, what a
    cloud requires, how the cluster is reached), which a Settings made directly has not been through; InputError
    names each problem."""
    problems = (
        [
            spelling.in_text(line, "nuketown:environment")
            for line in naming.environment_problems(settings.names, given=settings.environment is not None)
        ]
        + _shard_problems(settings, spelling)
        + _requirement_problems(settings, spelling)
        + _cluster_problems(settings)
    )
    if problems:
        raise InputError(problems)
    return settings


def _unknown_key(key: str) -> str:
    known = sorted(k for k in KEYS if k.startswith("nuketown:"))
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"{key}: not a setting (did you mean {close[0]}?)"
    return f"{key}: not a setting (known: {', '.join(known)})"


def _unknown_mapping_key(key: str, prefix: str) -> str:
    known = sorted([STACK_KEY, *(k for k, config_key in MAPPING_KEYS.items() if config_key not in STACK_ONLY)])
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"{prefix}{key}: not a setting (did you mean {prefix}{close[0]}?)"
    return f"{prefix}{key}: not a setting (known: {', '.join(known)})"


def _provider_config(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for key in sorted(config):
        package, _, name = key.partition(":")
        if package in PROVIDER_PACKAGES and name and config[key] is not None:
            grouped.setdefault(package, {})[name] = config[key]
    return grouped


def _decode(key: str, value: Any) -> Any:
    if key in _JSON_KEYS and isinstance(value, str):
        try:
            decoded = decode_json(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"expected JSON ({error.msg})") from None
        repeated = [".".join(str(part) for part in path) for path in repeated_keys(decoded)]
        if repeated:
            raise ValueError(f"{', '.join(repr(path) for path in repeated)} given more than once; keep one")
        return decoded
    return value


def _cluster_problems(settings: Settings) -> list[str]:
    """A cluster looked up through a cloud needs that cloud, and leaves no other way to reach one set."""
    problems = []
    for key, value, cloud in (
        ("nuketown:gkeCluster", settings.gke_cluster, "gcp"),
        ("nuketown:eksCluster", settings.eks_cluster, "aws"),
    ):
        if value is None:
            continue
        if settings.cloud != cloud:
            problems.append(f"{key}: needs nuketown:cloud {cloud} (its credentials look the cluster up)")
        kubernetes = settings.provider_config.get("kubernetes", {})
        problems += [
            f"{key}: also set kubernetes:{other}; reach the cluster one way (remove one of them)"
            for other in ("kubeconfig", "context")
            if other in kubernetes or f"kubernetes:{other}" in settings.secret_keys
        ]
    return problems


def _shard_problems(settings: Settings, spelling: _Spelling = _CONFIG) -> list[str]:
    """A shard stack is named <environment>--<shard> for an environment it sets itself: its names must derive
    from the environment, never from the shard, or an agent moved between shards would move every name."""
    if settings.shards is None:
        return []
    if settings.environment is None:
        return [
            f"{spelling.name('nuketown:shards')}: a shard stack needs {spelling.name('nuketown:environment')}, the "
            f"environment every shard's names derive from (for stack {settings.stack!r}: the part before "
            f"'{naming.SEPARATOR}')"
        ]
    environment, separator, shard = settings.stack.partition(naming.SEPARATOR)
    if environment != settings.environment or not separator or not naming.is_shard(shard):
        return [
            f"stack {settings.stack!r}: a shard of environment {settings.environment!r} is named "
            f"{settings.environment}{naming.SEPARATOR}sNN (s and two or more digits, like "
            f"{settings.environment}{naming.SEPARATOR}s00)"
        ]
    return []


def _requirement_problems(settings: Settings, spelling: _Spelling = _CONFIG) -> list[str]:
    needs = {
        "gcp": [("gcp_project", "gcp:project")],
        "aws": [("aws_region", "aws:region")]
        + ([("aws_oidc_provider_arn", "nuketown:awsOidcProviderArn")] if settings.aws_mode == "irsa" else [])
        + ([("pod_identity_cluster", "nuketown:awsClusterName")] if settings.aws_mode == "podIdentity" else []),
    }.get(settings.cloud, [])
    cloud, mode = spelling.name("nuketown:cloud"), spelling.name("nuketown:awsMode")
    return [
        f"{spelling.name(key)}: required when {cloud} is {settings.cloud}"
        + (f" and {mode} is {settings.aws_mode}" if key.startswith("nuketown:aws") else "")
        + f" ({spelling.how_to_set(key)})"
        for field, key in needs
        if not getattr(settings, field)
    ]


def _lines(error: ValidationError, spelling: _Spelling) -> list[str]:
    lines = []
    for item in error.errors():
        field = item["loc"][0]
        key = spelling.name(_FIELD_KEYS.get(str(field), str(field)))
        rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"][1:])
        lines.append(f"{key}{rest}: {item['msg']}, got {item['input']!r}")
    return lines


@dataclass(frozen=True)
class StackFile:
    """What an offline command reads of Pulumi.<stack>.yaml."""

    path: Path | None  # None: there is no such file
    config: dict[str, Any]
    # Encrypted provider settings (a kubeconfig, cloud credentials): only the Pulumi CLI can decrypt them,
    # and only a real provider needs them, so offline commands go on without their values.
    secret_keys: frozenset[str] = frozenset()


def read_stack_file(project_dir: Path, stack: str) -> StackFile:
    """The `config:` map of Pulumi.<stack>.yaml (empty when the file does not exist)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return StackFile(path=None, config={})
    return load_stack_file(path)


def _repeated_yaml_keys(node: yaml.Node | None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, int]]:
    """(path, line) of every key a YAML mapping names twice: PyYAML would keep the last one silently."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield ".".join((*path, key)), key_node.start_mark.line + 1
            seen.add(key)
            yield from _repeated_yaml_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _repeated_yaml_keys(item, (*path, str(index)))


def load_stack_file(path: Path) -> StackFile:
    """The `config:` map of a stack file at any path (the base branch's, for diff); InputError names the file."""
    if not path.is_file():
        raise InputError([f"{path}: no such stack file"])
    try:
        text = path.read_text()
        repeated = list(_repeated_yaml_keys(yaml.compose(text, Loader=yaml.SafeLoader)))
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise InputError([f"{path}: not valid YAML{line}: {getattr(error, 'problem', None) or error}"]) from None
    if repeated:
        raise InputError(f"{path}: {key}: given more than once (line {line}); keep one" for key, line in repeated)
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise InputError([f"{path}: a Pulumi stack file holds its settings in a `config:` map at the top; none here"])
    secure = {k for k, v in config.items() if isinstance(v, dict) and "secure" in v}
    unreadable = sorted(k for k in secure if k in KEYS)  # settings that names and plans depend on
    if unreadable:
        raise InputError([f"{path.name}: {k}: is a secret; only the Pulumi CLI can decrypt it" for k in unreadable])
    plain = {key: value for key, value in config.items() if isinstance(key, str) and key not in secure}
    return StackFile(path=path, config=plain, secret_keys=frozenset(secure))


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`-c KEY=VALUE` pairs as a config map."""
    overrides = {}
    problems = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or ":" not in key:
            problems.append(f"-c {pair}: expected NAMESPACE:KEY=VALUE, like nuketown:cloud=gcp")
        else:
            overrides[key] = value
    if problems:
        raise InputError(problems)
    return overrides


# A `pulumi config set --path` key: `ns:name`, then `.key`, `["any key"]` or `[index]` steps.
_PATH_STEP = re.compile(r'\.([^.\[\]"]+)|\["([^"]*)"\]|\[(\d+)\]')


def apply_overrides(config: Mapping[str, Any], pairs: list[str]) -> dict[str, Any]:
    """`config` with `-c KEY=VALUE` pairs applied in order. KEY may be a path into a map or list setting, as
    `pulumi config set --path` takes it: `nuketown:allowedIdentities.kai`, `nuketown:allowedScopes.kai[0]`,
    `nuketown:spotNodeSelector["cloud.google.com/gke-spot"]`."""
    merged = dict(config)
    problems = []
    for key, value in parse_overrides(pairs).items():
        setting = re.split(r"[.\[]", key, maxsplit=1)[0]
        if setting == key:
            merged[key] = value
            continue
        try:
            merged[setting] = _set_path(_structured(merged.get(setting)), _steps(key[len(setting) :]), value)
        except ValueError as error:
            problems.append(f"-c {key}={value}: {error}")
    if problems:
        raise InputError(problems)
    return merged


def _structured(value: Any) -> Any:
    """A map or list setting as data: the stack file's YAML, or JSON text (as `-c` and the CLI write it)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"the setting holds {value!r}, not a map or list to set a path in") from None
    return value


def _steps(path: str) -> list[tuple[str | None, int | None]]:
    found = list(_PATH_STEP.finditer(path))
    if "".join(m.group(0) for m in found) != path:
        raise ValueError(f'{path!r} is not a path (.key, ["key"] or [index] steps)')
    return [(m.group(1) or m.group(2), None) if m.group(3) is None else (None, int(m.group(3))) for m in found]


def _set_path(node: Any, steps: list[tuple[str | None, int | None]], value: str) -> Any:
    """`node` with the value at `steps` set, maps and lists made as needed (nothing is changed in place)."""
    if not steps:
        return value
    (name, index), rest = steps[0], steps[1:]
    if index is None:
        if not isinstance(node, dict | None):
            raise ValueError(f"{name!r}: the setting is not a map there")
        node = node or {}
        return {**node, name: _set_path(node.get(name), rest, value)}
    if not isinstance(node, list | None):
        raise ValueError(f"[{index}]: the setting is not a list there")
    items = list(node or [])
    if index > len(items):
        raise ValueError(f"index {index} is past the end of the list ({len(items)} entries); add entries in order")
    if index == len(items):
        items.append(None)
    items[index] = _set_path(items[index], rest, value)
    return items


def pulumi_config_map() -> tuple[dict[str, Any], frozenset[str]]:
    """The whole config the Pulumi engine gave this program (or the mocks set), and which keys are secrets."""
    from pulumi.runtime import config as runtime_config  # deferred: only the program path needs pulumi

    merged = dict(runtime_config.get_config_env() or {})
    merged.update(runtime_config.CONFIG.get())
    secret = set(runtime_config.get_config_secret_keys_env()) | {
        k for k in merged if runtime_config.is_config_secret(k)
    }
    return merged, frozenset(secret)
