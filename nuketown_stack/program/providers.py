"""Providers: the stand-alone stack's, configured from every `<package>:<key>` stack setting, and the
Kubernetes providers a Fleet uses.

The engine gives a package's stack config (`aws:profile`, `aws:defaultTags`,
`gcp:impersonateServiceAccount`, ...) only to default providers
(pulumi/pulumi pkg/resource/deploy/default_providers.go, GetPackageConfig); an
explicit provider gets exactly the arguments the program passes. So every
setting of the package is passed on here, secrets as secrets.
"""

import difflib
import importlib
import inspect
import json
import typing
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic.alias_generators import to_camel, to_snake

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan import naming
from nuketown_stack.plan.stack import KubeObject

# Provider arguments the program sets itself, never from stack settings.
_PROGRAM_OWNED = frozenset({"upsert_existing_objects"})
# Always secret, whether or not the stack marked it: a kubeconfig usually carries credentials.
_ALWAYS_SECRET = frozenset({"kubernetes:kubeconfig"})


_PARAMETERS: dict[str, dict[str, inspect.Parameter]] = {}  # by provider class: signatures never change


def _parameters(provider_class: type[pulumi.ProviderResource]) -> dict[str, inspect.Parameter]:
    key = f"{provider_class.__module__}.{provider_class.__qualname__}"
    if key not in _PARAMETERS:
        signature = inspect.signature(provider_class._internal_init)  # type: ignore[attr-defined]
        excluded = ("__self__", "resource_name", "opts")
        _PARAMETERS[key] = {name: p for name, p in signature.parameters.items() if name not in excluded}
    return _PARAMETERS[key]


def provider_args(package: str, provider_class: type[pulumi.ProviderResource], settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `provider_class` from the stack's `<package>:*` settings."""
    parameters = _parameters(provider_class)
    problems = _unknown_settings(package, parameters, settings)
    if problems:
        raise InputError(problems)
    args: dict[str, Any] = {}
    for key, value in settings.provider_config.get(package, {}).items():
        name = to_snake(key)
        decoded = _decoded(value, parameters[name])
        full_key = f"{package}:{key}"
        secret = full_key in settings.secret_keys or full_key in _ALWAYS_SECRET
        args[name] = pulumi.Output.secret(decoded) if secret else decoded
    return args


def _unknown_settings(package: str, parameters: dict[str, inspect.Parameter], settings: Settings) -> list[str]:
    return [
        _unknown(package, key, parameters)
        for key in settings.provider_config.get(package, {})
        if to_snake(key) not in parameters or to_snake(key) in _PROGRAM_OWNED
    ]


# The provider class of each package the program declares a provider of (imported only when asked for).
_PROVIDER_CLASSES = {"gcp": "pulumi_gcp", "aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes"}


def setting_problems(settings: Settings) -> list[str]:
    """What `provider_args` refuses for the providers this stack declares (kubernetes unless another tool applies
    the objects; its cloud's), without declaring anything: `validate` says what `pulumi up` would refuse."""
    used = ({"kubernetes"} if settings.apply_kubernetes else set()) | ({settings.cloud} - {"none"})
    problems = []
    for package in sorted(used & set(settings.provider_config)):
        provider_class = importlib.import_module(_PROVIDER_CLASSES[package]).Provider
        problems += _unknown_settings(package, _parameters(provider_class), settings)
    return problems


def _unknown(package: str, key: str, parameters: dict[str, inspect.Parameter]) -> str:
    known = [to_camel(name) for name in parameters if name not in _PROGRAM_OWNED]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {package}:{close[0]}?)" if close else ""
    return f"{package}:{key}: not a setting of the {package} provider{hint}"


def _decoded(value: Any, parameter: inspect.Parameter) -> Any:
    """Config values arrive as text; structured, boolean and numeric arguments are JSON in it (as the CLI writes)."""
    if not isinstance(value, str) or _takes_text(parameter):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _takes_text(parameter: inspect.Parameter) -> bool:
    """The SDK types an argument as `Union[<plain type>, None, Awaitable[...], Output[T]]`."""
    members = typing.get_args(parameter.annotation)
    return bool(members) and members[0] is str


@dataclass(frozen=True)
class Providers:
    """The Kubernetes providers a Fleet's objects use (None: the one its parent hands down)."""

    kubernetes: pulumi.ProviderResource | None
    # For the retained kinds only: namespaces and volumes kept from a removed agent
    # already exist when it comes back, and creating them must adopt, not fail.
    kubernetes_adopting: pulumi.ProviderResource | None

    def for_object(self, obj: KubeObject) -> pulumi.ProviderResource | None:
        if obj.retain_on_delete and self.kubernetes_adopting is not None:
            return self.kubernetes_adopting
        return self.kubernetes


def kubernetes_providers(
    settings: Settings, cluster_kubeconfig: pulumi.Input[str] | None
) -> tuple[k8s.Provider, k8s.Provider]:
    """The stand-alone stack's two providers to one cluster, both with every `kubernetes:*` setting: the one for
    every object, and its adopting twin. Upserting is safe only where Pulumi never deletes (retain_on_delete): a
    rename would otherwise upsert, then delete, the object; the first upserts too only for the update that takes
    the objects back (adopt_existing_objects)."""
    args = provider_args("kubernetes", k8s.Provider, settings)
    if cluster_kubeconfig is not None:
        args["kubeconfig"] = cluster_kubeconfig
    return (
        k8s.Provider(
            naming.PROVIDER_KUBERNETES, **args, upsert_existing_objects=settings.adopt_existing_objects or None
        ),
        k8s.Provider(naming.PROVIDER_KUBERNETES_ADOPTING, **args, upsert_existing_objects=True),
    )
