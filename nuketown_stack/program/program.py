"""The stand-alone Pulumi program: settings from the stack's config, its providers, then a `Fleet`.

`pulumi up` runs `main()` through __main__.py; `nuketown-stack plan` and the
tests run `define_stack()` under Pulumi's mock engine. Same code path.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from nuketown_stack import collector
from nuketown_stack.clouds import declare_module
from nuketown_stack.errors import InputError
from nuketown_stack.inputs.settings import Settings, pulumi_config_map, settings_from_config
from nuketown_stack.inputs.source import load_raw
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan import naming
from nuketown_stack.plan.stack import build_plan
from nuketown_stack.program.fleet import Fleet, FleetArgs, declared_agents
from nuketown_stack.program.providers import kubernetes_providers


def define_stack(raw: Any = None) -> dict[str, Any]:
    """Declare every resource of this stack; returns the stack outputs. `raw` is the spec when the caller
    has already read nuketown:source (the command line reads it before the run starts)."""
    config, secret_keys = pulumi_config_map()
    settings = settings_from_config(pulumi.get_stack(), config, secret_keys)
    if settings.source is None:
        raise InputError(["nuketown:source: required (pulumi config set nuketown:source examples/cloud-ada.nix)"])
    spec = load_spec(load_raw(settings.source) if raw is None else raw)
    build_plan(spec, settings, declared_agents(spec, settings))  # every plan-time check, before the providers
    cloud, kubernetes = stand_alone_providers(settings)
    args = FleetArgs(spec=spec, settings=settings)
    providers = [cloud] if cloud is not None else []
    if kubernetes is not None:
        providers.append(kubernetes[0])
        args["adopting_kubernetes_provider"] = kubernetes[1]
    fleet = Fleet(naming.FLEET, args, pulumi.ResourceOptions(providers=providers))
    return fleet.stack_outputs


def stand_alone_providers(
    settings: Settings,
) -> tuple[pulumi.ProviderResource | None, tuple[k8s.Provider, k8s.Provider] | None]:
    """The stack's cloud provider and its Kubernetes providers (the program's and the adopting twin), at the
    stack's root as they always were (a provider's URN is part of every resource's provider reference), each
    with every `<package>:*` setting."""
    cloud = declare_module(settings.cloud).declare_provider(settings) if settings.cloud != "none" else None
    if not settings.apply_kubernetes:
        return cloud, None
    kubeconfig = declare_module(settings.cloud).cluster_kubeconfig(settings, cloud) if cloud is not None else None
    return cloud, kubernetes_providers(settings, kubeconfig)


def main() -> None:
    # `pulumi up` imports this module first, so everything the imports made is frozen here.
    collector.tune()
    try:
        outputs = define_stack()
    except InputError as error:
        # RunError is reported by the engine as a message, without a traceback.
        raise pulumi.RunError("invalid nuketown input:\n" + "\n".join(error.problems)) from None
    for key, value in outputs.items():
        pulumi.export(key, value)
