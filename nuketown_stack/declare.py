"""StackPlan -> Pulumi resources: one ComponentResource per agent, providers passed in.

Nothing is decided here: every name and manifest comes from the plan, and no
resource is created inside an `apply`.
"""

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic.alias_generators import to_snake

from nuketown_stack.plan import AgentPlan, KubeObject, StackPlan

AGENT_TYPE = "nuketown:index:Agent"

_CLASSES: dict[str, type[pulumi.CustomResource]] = {
    "kubernetes:core/v1:Namespace": k8s.core.v1.Namespace,
    "kubernetes:core/v1:ServiceAccount": k8s.core.v1.ServiceAccount,
    "kubernetes:core/v1:ConfigMap": k8s.core.v1.ConfigMap,
    "kubernetes:core/v1:ResourceQuota": k8s.core.v1.ResourceQuota,
    "kubernetes:core/v1:LimitRange": k8s.core.v1.LimitRange,
    "kubernetes:core/v1:PersistentVolumeClaim": k8s.core.v1.PersistentVolumeClaim,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "kubernetes:apps/v1:Deployment": k8s.apps.v1.Deployment,
}


@dataclass(frozen=True)
class Providers:
    kubernetes: k8s.Provider
    # For the retained kinds only: namespaces and volumes kept from a removed agent
    # already exist when it comes back, and creating them must adopt, not fail.
    kubernetes_adopting: k8s.Provider

    def for_object(self, obj: KubeObject) -> k8s.Provider:
        return self.kubernetes_adopting if obj.retain_on_delete else self.kubernetes


def kubernetes_providers(context: str | None, kubeconfig: str | None) -> Providers:
    """Two providers to one cluster. Upserting is safe only where Pulumi never deletes
    (retain_on_delete), because a rename would otherwise upsert, then delete, the object."""
    return Providers(
        kubernetes=k8s.Provider("kubernetes", context=context, kubeconfig=kubeconfig),
        kubernetes_adopting=k8s.Provider(
            "kubernetes-adopting", context=context, kubeconfig=kubeconfig, upsert_existing_objects=True
        ),
    )


def _resource_args(manifest: dict[str, Any]) -> dict[str, Any]:
    """Top-level manifest fields as keyword arguments (apiVersion and kind are implied by the class)."""
    return {to_snake(key): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}


class Agent(pulumi.ComponentResource):
    """Everything of one agent, grouped so `pulumi preview` shows it as one tree."""

    def __init__(self, plan: AgentPlan, providers: Providers, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(AGENT_TYPE, plan.name, None, opts)
        self.resources: dict[str, pulumi.CustomResource] = {}
        namespace = self._declare(plan.object("Namespace"), providers, [])
        in_namespace = [namespace]
        for obj in plan.objects:
            if obj.kind in ("Namespace", "Deployment"):
                continue
            self._declare(obj, providers, in_namespace)
        volumes = [r for o, r in self.resources.items() if o.startswith("PersistentVolumeClaim/")]
        self._declare(plan.object("Deployment"), providers, [namespace, *volumes])
        self.register_outputs(plan.outputs())

    def _declare(
        self, obj: KubeObject, providers: Providers, depends_on: list[pulumi.Resource]
    ) -> pulumi.CustomResource:
        options = pulumi.ResourceOptions(
            parent=self,
            provider=providers.for_object(obj),
            depends_on=depends_on,
            retain_on_delete=obj.retain_on_delete or None,
        )
        resource = _CLASSES[obj.type_token](obj.resource_name, **_resource_args(obj.manifest), opts=options)
        self.resources[f"{obj.kind}/{obj.resource_name}"] = resource
        return resource


def declare(plan: StackPlan, providers: Providers) -> dict[str, Any]:
    """Declare every agent; returns the stack outputs."""
    for agent_plan in plan.agents:
        Agent(agent_plan, providers)
    return {"agents": {a.name: a.outputs() for a in plan.agents}}
