"""The rules of the nuketown policy pack, as plain functions over a resource's type and properties.

Each returns one line per problem (empty when the resource complies), so the
pack's policies report them and tests call them directly: building a
PolicyPack needs the Pulumi engine. Properties are the engine's (camelCase),
exactly what `nuketown-stack plan --json` prints as `inputs`.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from podsecurity import violations as pod_security_violations

Props = Mapping[str, Any]
AGENT_LABEL = "nuketown.io/agent"
AUTHORITATIVE_GCP_IAM = ("IAMBinding", "IAMPolicy")  # they replace every other grant on the resource


def role_boundary_problems(resource_type: str, props: Props) -> list[str]:
    """An agent's IAM role must carry a permissions boundary, whatever gets attached to it later."""
    if resource_type == "aws:iam/role:Role" and not props.get("permissionsBoundary"):
        return [f"IAM role {props.get('name', '?')} has no permissions boundary"]
    return []


def authoritative_gcp_iam_problems(resource_type: str, props: Props) -> list[str]:
    """Only additive members: a binding or policy would silently remove grants others rely on."""
    kind = resource_type.rsplit(":", 1)[-1]
    if resource_type.startswith("gcp:") and kind.endswith(AUTHORITATIVE_GCP_IAM):
        return [f"{kind} is authoritative (it replaces grants it does not list); use the matching IAMMember"]
    return []


def unconditioned_storage_grant_problems(resource_type: str, props: Props) -> list[str]:
    """A storage role on a whole project reaches every bucket in it unless a condition narrows it."""
    role = str(props.get("role", ""))
    conditioned = bool((props.get("condition") or {}).get("expression"))
    if resource_type == "gcp:projects/iAMMember:IAMMember" and role.startswith("roles/storage.") and not conditioned:
        return [f"{role} granted to {props.get('member', '?')} on the project without a condition"]
    return []


def deployment_pod_security_problems(resource_type: str, props: Props) -> list[str]:
    """Deployments run pods that meet the Pod Security `restricted` profile."""
    if resource_type != "kubernetes:apps/v1:Deployment":
        return []
    pod = props.get("spec", {}).get("template", {}).get("spec", {})
    name = props.get("metadata", {}).get("name", "?")
    return [f"Deployment {name}: {problem}" for problem in pod_security_violations(pod)]


RESOURCE_RULES = (
    role_boundary_problems,
    authoritative_gcp_iam_problems,
    unconditioned_storage_grant_problems,
    deployment_pod_security_problems,
)


def namespace_isolation_problems(resources: Iterable[tuple[str, Props]]) -> list[str]:
    """Every agent namespace has a NetworkPolicy over all its pods that admits no ingress."""
    resources = list(resources)
    agent_namespaces = [
        props["metadata"]["name"]
        for resource_type, props in resources
        if resource_type == "kubernetes:core/v1:Namespace"
        and AGENT_LABEL in props.get("metadata", {}).get("labels", {})
    ]
    isolated = {
        props.get("metadata", {}).get("namespace")
        for resource_type, props in resources
        if resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and _denies_all_ingress(props)
    }
    return [
        f"agent namespace {namespace} has no NetworkPolicy denying all ingress"
        for namespace in agent_namespaces
        if namespace not in isolated
    ]


def _denies_all_ingress(props: Props) -> bool:
    spec = props.get("spec", {})
    return spec.get("podSelector") == {} and "Ingress" in spec.get("policyTypes", []) and not spec.get("ingress")
