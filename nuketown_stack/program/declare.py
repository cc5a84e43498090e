"""StackPlan -> Pulumi resources under a Fleet: one ComponentResource per agent, providers passed in.

Nothing is decided here: every name and manifest comes from the plan, and no
resource is created inside an `apply`. Everything the Fleet holds directly sat
at the stack's root before there was a Fleet, and says so (`aliases`), so the
stand-alone stack keeps it; its children follow their parent's alias.
"""

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic.alias_generators import to_snake

from nuketown_stack.clouds import KMS_KEY_OUTPUT, StackIdentityPlan, declare_module
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan.stack import AgentPlan, KubeObject, StackPlan
from nuketown_stack.program.declared import AGENT_TYPE
from nuketown_stack.program.identity import DeclaredIdentity
from nuketown_stack.program.providers import Providers

_CLASSES: dict[str, type[pulumi.CustomResource]] = {
    "kubernetes:core/v1:Namespace": k8s.core.v1.Namespace,
    "kubernetes:core/v1:ServiceAccount": k8s.core.v1.ServiceAccount,
    "kubernetes:core/v1:ConfigMap": k8s.core.v1.ConfigMap,
    "kubernetes:core/v1:ResourceQuota": k8s.core.v1.ResourceQuota,
    "kubernetes:core/v1:LimitRange": k8s.core.v1.LimitRange,
    "kubernetes:core/v1:PersistentVolumeClaim": k8s.core.v1.PersistentVolumeClaim,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "kubernetes:apps/v1:Deployment": k8s.apps.v1.Deployment,
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": (
        k8s.admissionregistration.v1.ValidatingAdmissionPolicy
    ),
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": (
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding
    ),
}


def _resource_args(manifest: dict[str, Any]) -> dict[str, Any]:
    """Top-level manifest fields as keyword arguments (apiVersion and kind are implied by the class)."""
    return {to_snake(key): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}


def _annotated(manifest: dict[str, Any], annotations: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    """The manifest with annotations whose values come from other resources' outputs."""
    metadata = manifest["metadata"]
    return {**manifest, "metadata": {**metadata, "annotations": {**metadata.get("annotations", {}), **annotations}}}


@dataclass(frozen=True)
class DeclaredCloud:
    """A stack's cloud: its plan, the module that declares it, and the stack-wide resources agents hang on."""

    plan: StackIdentityPlan
    module: ModuleType  # nuketown_stack.clouds.<cloud>.declare
    stack: Any  # what module.declare_stack returned (GcpStack, AwsStack)

    def declare_agent_identity(self, plan: AgentPlan, parent: pulumi.Resource) -> DeclaredIdentity:
        identity: DeclaredIdentity = self.module.declare_agent_identity(plan.identity, self.stack, parent=parent)
        return identity


class AgentComponent(pulumi.ComponentResource):
    """Everything of one agent, grouped so `pulumi preview` shows it as one tree."""

    def __init__(
        self,
        plan: AgentPlan,
        providers: Providers | None,  # None: another tool applies the Kubernetes objects
        cloud: DeclaredCloud | None,
        ownership_guard: list[pulumi.Resource],  # in force before the agent's namespace is created or adopted
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(AGENT_TYPE, plan.name, None, opts)
        self.agent_name = plan.name
        self.namespace = plan.namespace
        self.outputs: dict[str, pulumi.Input[Any]] = dict(plan.outputs())
        # ServiceAccount annotations whose values the cloud assigns, and the key secrets are encrypted to.
        self.identity_annotations: dict[str, pulumi.Input[str]] = {}
        self.identity: pulumi.Input[str] | None = None  # the cloud identity (email, role ARN); None without a cloud
        self.sops_key: tuple[str, pulumi.Output[str]] | None = None
        if cloud is not None:
            self._declare_cloud_identity(plan, cloud)
        self.resources: dict[str, pulumi.CustomResource] = {}
        if providers is not None:
            self._declare_workload(plan, providers, ownership_guard)
        self.register_outputs(self.outputs)

    def _declare_workload(self, plan: AgentPlan, providers: Providers, guard: list[pulumi.Resource]) -> None:
        namespace = self._declare(plan.object("Namespace"), providers, guard)
        for obj in plan.objects:
            if obj.kind not in ("Namespace", "Deployment"):
                self._declare(obj, providers, [namespace])
        volumes = [r for o, r in self.resources.items() if o.startswith("PersistentVolumeClaim/")]
        self._declare(plan.object("Deployment"), providers, [namespace, *volumes])

    def _declare_cloud_identity(self, plan: AgentPlan, cloud: DeclaredCloud) -> None:
        # Annotations take the identity from the cloud resource's output, so IAM and Kubernetes cannot drift apart.
        declared = cloud.declare_agent_identity(plan, parent=self)
        annotation = plan.identity.annotation() if plan.identity is not None else None
        if annotation is not None and declared.annotation_value is not None:
            self.identity_annotations[annotation.key] = declared.annotation_value
        self.identity = declared.identity
        self.outputs[cloud.plan.identity_output] = declared.identity
        self.outputs[KMS_KEY_OUTPUT] = declared.key
        self.sops_key = (cloud.plan.sops_field, declared.key)

    def _declare(
        self, obj: KubeObject, providers: Providers, depends_on: list[pulumi.Resource]
    ) -> pulumi.CustomResource:
        manifest = obj.manifest
        if obj.kind == "ServiceAccount" and self.identity_annotations:
            manifest = _annotated(manifest, self.identity_annotations)
        options = pulumi.ResourceOptions(
            parent=self,
            provider=providers.for_object(obj),
            depends_on=depends_on,
            retain_on_delete=obj.retain_on_delete or None,
        )
        resource = _kubernetes_resource(obj, manifest, options)
        self.resources[f"{obj.kind}/{obj.resource_name}"] = resource
        return resource


def _kubernetes_resource(
    obj: KubeObject, manifest: dict[str, Any], options: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """A typed SDK class for core kinds; a CustomResource for the autoscalers' kinds (VPA, KEDA)."""
    typed = _CLASSES.get(obj.type_token)
    if typed is not None:
        return typed(obj.resource_name, **_resource_args(manifest), opts=options)
    return k8s.apiextensions.CustomResource(
        obj.resource_name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=options,
    )


def sops_rules(agents: list[AgentComponent]) -> pulumi.Output[list[dict[str, str]]]:
    """One `.sops.yaml` creation rule per agent key: secrets/<agent>/ encrypted to it."""
    keyed = [(agent.agent_name, agent.sops_key) for agent in agents if agent.sops_key is not None]

    def rules(keys: list[str]) -> list[dict[str, str]]:
        return [
            {"path_regex": f"^secrets/{name}/", field: key} for (name, (field, _)), key in zip(keyed, keys, strict=True)
        ]

    return pulumi.Output.all(*[key for _, (_, key) in keyed]).apply(rules)


def sops_config(agents: list[AgentComponent]) -> pulumi.Output[str]:
    """`.sops.yaml` with one creation rule per agent key."""
    return sops_rules(agents).apply(lambda rules: yaml.safe_dump({"creation_rules": rules}, sort_keys=False))


def _from_the_root(fleet: pulumi.Resource) -> pulumi.ResourceOptions:
    """Under `fleet`, and found under the URN it had at the stack's root before there was a Fleet."""
    return pulumi.ResourceOptions(parent=fleet, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])


def _declare_cloud(plan: StackPlan, settings: Settings, fleet: pulumi.Resource) -> DeclaredCloud | None:
    if plan.identity is None:
        return None
    module = declare_module(plan.identity.cloud)
    stack = module.declare_stack(plan.identity, settings, _from_the_root(fleet))
    return DeclaredCloud(plan=plan.identity, module=module, stack=stack)


def _declare_ownership_guard(plan: StackPlan, providers: Providers, fleet: pulumi.Resource) -> list[pulumi.Resource]:
    """The stack's admission policy and its binding, the binding after the policy it names."""
    declared: list[pulumi.Resource] = []
    for obj in plan.ownership_guard:
        options = pulumi.ResourceOptions.merge(
            _from_the_root(fleet), pulumi.ResourceOptions(provider=providers.kubernetes, depends_on=list(declared))
        )
        declared.append(_kubernetes_resource(obj, obj.manifest, options))
    return declared


def declare(
    plan: StackPlan, settings: Settings, fleet: pulumi.Resource, kubernetes: Providers | None
) -> list[AgentComponent]:
    """Declare the stack-wide resources and every agent under `fleet` (kubernetes None: no Kubernetes objects)."""
    cloud = _declare_cloud(plan, settings, fleet)
    guard = _declare_ownership_guard(plan, kubernetes, fleet) if kubernetes is not None else []
    return [AgentComponent(agent_plan, kubernetes, cloud, guard, _from_the_root(fleet)) for agent_plan in plan.agents]
