"""StackPlan -> Pulumi resources: one ComponentResource per agent, providers passed in.

Nothing is decided here: every name and manifest comes from the plan, and no
resource is created inside an `apply`.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic.alias_generators import to_snake

from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan.kubeconfig import GkeCluster
from nuketown_stack.plan.stack import EKS_ROLE_ANNOTATION, GKE_ACCOUNT_ANNOTATION, AgentPlan, KubeObject, StackPlan
from nuketown_stack.program.declared import AGENT_TYPE
from nuketown_stack.program.providers import provider_args

if TYPE_CHECKING:  # each cloud's SDK is imported only by the stacks that use it (a large import)
    from nuketown_stack.clouds.aws.declare import AwsStack
    from nuketown_stack.clouds.gcp.declare import GcpStack


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


def kubernetes_providers(settings: Settings, cluster_kubeconfig: pulumi.Input[str] | None) -> Providers:
    """Two providers to one cluster, both with every `kubernetes:*` setting. Upserting is safe only where
    Pulumi never deletes (retain_on_delete), because a rename would otherwise upsert, then delete, the object."""
    args = provider_args("kubernetes", k8s.Provider, settings)
    if cluster_kubeconfig is not None:
        args["kubeconfig"] = cluster_kubeconfig
    return Providers(
        kubernetes=k8s.Provider("kubernetes", **args),
        kubernetes_adopting=k8s.Provider("kubernetes-adopting", **args, upsert_existing_objects=True),
    )


def _resource_args(manifest: dict[str, Any]) -> dict[str, Any]:
    """Top-level manifest fields as keyword arguments (apiVersion and kind are implied by the class)."""
    return {to_snake(key): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}


def _annotated(manifest: dict[str, Any], annotations: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    """The manifest with annotations whose values come from other resources' outputs."""
    metadata = manifest["metadata"]
    return {**manifest, "metadata": {**metadata, "annotations": {**metadata.get("annotations", {}), **annotations}}}


@dataclass(frozen=True)
class Clouds:
    """The stack-wide cloud resources agents hang their identities on (at most one cloud is set)."""

    gcp: "GcpStack | None" = None
    aws: "AwsStack | None" = None


class AgentComponent(pulumi.ComponentResource):
    """Everything of one agent, grouped so `pulumi preview` shows it as one tree."""

    def __init__(
        self,
        plan: AgentPlan,
        providers: Providers | None,  # None: another tool applies the Kubernetes objects
        clouds: Clouds,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(AGENT_TYPE, plan.name, None, opts)
        self.agent_name = plan.name
        self.outputs: dict[str, pulumi.Input[Any]] = dict(plan.outputs())
        # ServiceAccount annotations whose values the cloud assigns, and the key secrets are encrypted to.
        self.identity_annotations: dict[str, pulumi.Input[str]] = {}
        self.sops_key: tuple[str, pulumi.Output[str]] | None = None
        self._declare_cloud_identity(plan, clouds)
        self.resources: dict[str, pulumi.CustomResource] = {}
        if providers is not None:
            self._declare_workload(plan, providers)
        self.register_outputs(self.outputs)

    def _declare_workload(self, plan: AgentPlan, providers: Providers) -> None:
        namespace = self._declare(plan.object("Namespace"), providers, [])
        for obj in plan.objects:
            if obj.kind not in ("Namespace", "Deployment"):
                self._declare(obj, providers, [namespace])
        volumes = [r for o, r in self.resources.items() if o.startswith("PersistentVolumeClaim/")]
        self._declare(plan.object("Deployment"), providers, [namespace, *volumes])

    def _declare_cloud_identity(self, plan: AgentPlan, clouds: Clouds) -> None:
        # Annotations take the identity from the cloud resource's output, so IAM and Kubernetes cannot drift apart.
        if plan.gcp is not None and clouds.gcp is not None:
            from nuketown_stack.clouds.gcp import declare as gcp_declare

            gcp = gcp_declare.declare_agent_identity(plan.gcp, clouds.gcp, parent=self)
            self.identity_annotations[GKE_ACCOUNT_ANNOTATION] = gcp.email
            self.outputs["gcpServiceAccount"] = gcp.email
            self.outputs["kmsKey"] = gcp.key_id
            self.sops_key = ("gcp_kms", gcp.key_id)
        if plan.aws is not None and clouds.aws is not None:
            from nuketown_stack.clouds.aws import declare as aws_declare

            aws = aws_declare.declare_agent_identity(plan.aws, clouds.aws, parent=self)
            if clouds.aws.plan.mode == "irsa":
                self.identity_annotations[EKS_ROLE_ANNOTATION] = aws.role_arn
            self.outputs["roleArn"] = aws.role_arn
            self.outputs["kmsKey"] = aws.key_arn
            self.sops_key = ("kms", aws.key_arn)

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


def sops_config(agents: list[AgentComponent]) -> pulumi.Output[str]:
    """`.sops.yaml` with one creation rule per agent key: secrets/<agent>/ encrypted to it."""
    keyed = [(agent.agent_name, agent.sops_key) for agent in agents if agent.sops_key is not None]

    def document(keys: list[str]) -> str:
        rules = [
            {"path_regex": f"^secrets/{name}/", field: key} for (name, (field, _)), key in zip(keyed, keys, strict=True)
        ]
        return yaml.safe_dump({"creation_rules": rules}, sort_keys=False)

    return pulumi.Output.all(*[key for _, (_, key) in keyed]).apply(document)


def _declare_clouds(plan: StackPlan, settings: Settings) -> Clouds:
    if plan.gcp is not None:
        from nuketown_stack.clouds.gcp import declare as gcp_declare

        return Clouds(gcp=gcp_declare.declare_stack(plan.gcp, settings))
    if plan.aws is not None:
        from nuketown_stack.clouds.aws import declare as aws_declare

        return Clouds(aws=aws_declare.declare_stack(plan.aws, settings))
    return Clouds()


def _cluster_kubeconfig(clouds: Clouds, settings: Settings) -> pulumi.Output[str] | None:
    """The kubeconfig of a cluster looked up through its cloud (nuketown:gkeCluster / eksCluster), if any."""
    if clouds.gcp is not None and settings.gke_cluster is not None:
        from nuketown_stack.clouds.gcp import declare as gcp_declare

        return gcp_declare.cluster_kubeconfig(GkeCluster.parse(settings.gke_cluster), clouds.gcp)
    if clouds.aws is not None and settings.eks_cluster is not None:
        from nuketown_stack.clouds.aws import declare as aws_declare

        return aws_declare.cluster_kubeconfig(settings.eks_cluster, clouds.aws)
    return None


def declare(plan: StackPlan, settings: Settings) -> dict[str, Any]:
    """Declare every agent; returns the stack outputs."""
    clouds = _declare_clouds(plan, settings)
    providers = (
        kubernetes_providers(settings, _cluster_kubeconfig(clouds, settings)) if settings.apply_kubernetes else None
    )
    agents = [AgentComponent(agent_plan, providers, clouds) for agent_plan in plan.agents]
    outputs: dict[str, Any] = {"agents": {agent.agent_name: agent.outputs for agent in agents}}
    if plan.cloud != "none":
        outputs["sopsConfig"] = sops_config(agents)
    return outputs
