"""`Fleet`: nuketown agents as a Pulumi component, for the stand-alone stack and for anyone's program.

    Fleet("agents", FleetArgs(spec="agents.nix", settings={"cloud": "gcp", "gcpProject": "acme-agents"}),
          opts=pulumi.ResourceOptions(parent=team, providers=[cluster, gcp_provider]))

The Fleet reads no Pulumi config. It checks its arguments, the spec and the plan before it registers
anything, and raises `InputError` (one line per problem) on bad input. Every resource it declares is its
descendant and uses the providers its options hand down (`opts.provider`, `opts.providers`, the parent's),
except the namespaces and volumes a removed agent left, which an `adopting_kubernetes_provider` takes over
when the program gives one. The Fleet makes no provider.

With the `shards` setting (an environment's placement file) in a stack named `<environment>--sNN`, the Fleet
declares only the agents placed in that shard, checked over the whole spec: one shard stack of an environment
split into shards (docs/scaling.md#shards). A Fleet is this component; the shards are stacks, each with its
own Fleet.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Required, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from nuketown_stack.clouds import KMS_KEY_OUTPUT
from nuketown_stack.errors import InputError
from nuketown_stack.inputs.placement import read_placement
from nuketown_stack.inputs.settings import Settings, checked, settings_from_mapping
from nuketown_stack.inputs.source import load_raw
from nuketown_stack.inputs.spec import CloudSpec, load_spec
from nuketown_stack.plan.shards import stack_agents
from nuketown_stack.plan.stack import StackPlan, build_plan
from nuketown_stack.program.declare import AgentComponent, declare, sops_config, sops_rules
from nuketown_stack.program.declared import FLEET_TYPE
from nuketown_stack.program.providers import Providers


class FleetArgs(TypedDict, total=False):
    """The arguments of a Fleet."""

    spec: Required[Any]
    """The agents: a .json or .nix file, a flake reference with '#', or the spec itself (a dict or CloudSpec)."""

    settings: Any
    """A Settings, or the stack file's settings without `nuketown:`, as {"cloud": "gcp", "gcpProject": "p"}."""

    adopting_kubernetes_provider: k8s.Provider
    """A provider to the cluster with upsert_existing_objects, for the namespaces and volumes agents leave."""


_ARGS = frozenset(FleetArgs.__annotations__)


@dataclass(frozen=True)
class FleetAgent:
    """One agent of a Fleet, as a Python program reads it."""

    namespace: str
    service_account: str
    identity: pulumi.Input[str] | None  # the service account email or role ARN; None without a cloud
    kms_key: pulumi.Output[str] | None  # the key its secrets are encrypted to (GCP: key id; AWS: ARN)


class Fleet(pulumi.ComponentResource):
    """Nuketown agents, each with its namespace, workload and volumes, and on GKE or EKS its identity and key."""

    namespaces: pulumi.Output[dict[str, str]]
    """Each agent's Kubernetes namespace."""

    identities: pulumi.Output[dict[str, str]]
    """Each agent's cloud identity: its GCP service account email or IAM role ARN (none without a cloud)."""

    kms_keys: pulumi.Output[dict[str, str]]
    """Each agent's KMS key: the GCP key id or the AWS key ARN its secrets are encrypted to."""

    sops_rules: pulumi.Output[list[dict[str, str]]]
    """One `.sops.yaml` creation rule per agent: secrets/<agent>/ encrypted to its key."""

    sops_config: pulumi.Output[str]
    """`.sops.yaml` holding those rules."""

    def __init__(self, name: str, args: FleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        plan, settings, adopting = _checked(args)  # InputError before anything is registered
        super().__init__(FLEET_TYPE, name, None, opts)
        for warning in plan.warnings:
            pulumi.log.warn(warning, resource=self)  # `pulumi preview` shows it beside the changes
        kubernetes = Providers(kubernetes=None, kubernetes_adopting=adopting) if settings.apply_kubernetes else None
        agents = declare(plan, settings, self, kubernetes)
        self.agents: dict[str, FleetAgent] = {agent.agent_name: _agent(agent) for agent in agents}
        self.namespaces = pulumi.Output.from_input({agent.agent_name: agent.namespace for agent in agents})
        self.identities = _by_agent({a.agent_name: a.identity for a in agents if a.identity is not None})
        self.kms_keys = _by_agent({a.agent_name: a.sops_key[1] for a in agents if a.sops_key is not None})
        self.sops_rules = sops_rules(agents)
        self.sops_config = sops_config(agents)
        # What the stand-alone stack exports, as it always has.
        self.stack_outputs: dict[str, Any] = {"agents": {agent.agent_name: agent.outputs for agent in agents}}
        if plan.cloud != "none":
            self.stack_outputs["sopsConfig"] = self.sops_config
        self.register_outputs(
            {
                "namespaces": self.namespaces,
                "identities": self.identities,
                "kmsKeys": self.kms_keys,
                "sopsRules": self.sops_rules,
                "sopsConfig": self.sops_config,
            }
        )


def _by_agent(values: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[dict[str, str]]:
    resolved: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(dict(values))  # type: ignore[arg-type]
    return resolved


def _agent(agent: AgentComponent) -> FleetAgent:
    key = agent.outputs.get(KMS_KEY_OUTPUT)
    return FleetAgent(
        namespace=agent.namespace,
        service_account=str(agent.outputs["serviceAccount"]),
        identity=agent.identity,
        kms_key=key if isinstance(key, pulumi.Output) else None,
    )


def _checked(args: Mapping[str, Any]) -> tuple[StackPlan, Settings, pulumi.ProviderResource | None]:
    """The plan, the settings and the adopting provider: every check a Fleet makes of its arguments."""
    if not isinstance(args, Mapping):
        raise InputError([f"args: a FleetArgs (spec=..., settings=...), got {type(args).__name__}"])
    known = ", ".join(sorted(_ARGS))
    problems = [f"{key}: not an argument of a Fleet ({known})" for key in args if key not in _ARGS]
    if "spec" not in args:
        problems.append("spec: required: a source (a .json or .nix file, a flake reference) or the spec itself")
    adopting = args.get("adopting_kubernetes_provider")
    if adopting is not None and not (
        isinstance(adopting, pulumi.ProviderResource) and adopting.package == "kubernetes"
    ):
        problems.append(f"adopting_kubernetes_provider: a pulumi_kubernetes.Provider, got {type(adopting).__name__}")
    if problems:
        raise InputError(problems)
    settings = _settings(args.get("settings"))
    spec = _spec(args["spec"])
    return build_plan(spec, settings, declared_agents(spec, settings)), settings, adopting


def declared_agents(spec: CloudSpec, settings: Settings) -> frozenset[str] | None:
    """The agents a shard stack declares, those its environment's placement file (`shards`) places in its shard,
    checked over the whole spec; None: a stack of the whole spec declares every agent (docs/scaling.md#shards)."""
    if settings.shards is None:
        return None
    return stack_agents(settings, spec.agents, read_placement(Path(settings.shards)), settings.shards)


def _settings(value: Any) -> Settings:
    if isinstance(value, Settings):
        return checked(value)
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise InputError([f"settings: a Settings or a dict of settings, got {type(value).__name__}"])
    unknown = sorted(str(key) for key, item in value.items() if _holds_output(item))
    if unknown:
        raise InputError(
            [f"settings.{key}: an Output; settings must be known when the program runs" for key in unknown]
        )
    return settings_from_mapping(value, pulumi.get_stack())


def _spec(value: Any) -> CloudSpec:
    if isinstance(value, CloudSpec):
        return value
    if isinstance(value, str | PathLike):
        return load_spec(load_raw(str(value)))
    if isinstance(value, Mapping) and not _holds_output(value):
        return load_spec(dict(value))
    if _holds_output(value):
        raise InputError(
            [
                "spec: an Output; the Fleet names everything before it declares anything, so the spec must be known "
                "when the program runs (a file, a flake reference, or the spec itself)"
            ]
        )
    raise InputError(
        [
            f"spec: a source (a .json or .nix file, a flake reference) or the spec (a dict or CloudSpec), got "
            f"{type(value).__name__}"
        ]
    )


def _holds_output(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, Mapping):
        return any(_holds_output(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_output(v) for v in value)
    return False
