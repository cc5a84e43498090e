"""GCP resources of a stack and of each agent, from the plan (DESIGN.md section 7, GCP).

IAM is granted with non-authoritative *IAMMember resources only: a binding or
policy resource would overwrite grants other people made.
"""

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from nuketown_stack import gcp_plan, naming
from nuketown_stack.gcp_plan import GcpAgentPlan, GcpStackPlan
from nuketown_stack.kubeconfig import GkeCluster, gke_kubeconfig
from nuketown_stack.providers import provider_args
from nuketown_stack.settings import Settings


@dataclass(frozen=True)
class GcpStack:
    plan: GcpStackPlan
    provider: gcp.Provider
    key_ring: gcp.kms.KeyRing


@dataclass(frozen=True)
class GcpIdentity:
    """What the rest of an agent needs from its GCP identity."""

    email: pulumi.Input[str]
    key_id: pulumi.Output[str] | None


# A destroyed key loses every secret encrypted with it, and its name can never be reused.
_KEEP = {"protect": True, "retain_on_delete": True}


def declare_stack(stack: GcpStackPlan, settings: Settings) -> GcpStack:
    """The provider and the stack's key ring. Rings cannot be deleted; after a destroy, adopt the old one."""
    provider = gcp.Provider("gcp", **provider_args("gcp", gcp.Provider, settings))
    options = pulumi.ResourceOptions(provider=provider, import_=stack.key_ring_id if stack.adopt_kms else None, **_KEEP)
    key_ring = gcp.kms.KeyRing(
        stack.key_ring, name=stack.key_ring, location=stack.location, project=stack.project, opts=options
    )
    return GcpStack(plan=stack, provider=provider, key_ring=key_ring)


def declare_agent_identity(plan: GcpAgentPlan, gcp_stack: GcpStack, parent: pulumi.Resource) -> GcpIdentity:
    stack, key_ring = gcp_stack.plan, gcp_stack.key_ring
    options = pulumi.ResourceOptions(parent=parent, provider=gcp_stack.provider)
    email, account_name = _account(plan, stack, options)
    name = plan.agent
    gcp.serviceaccount.IAMMember(
        f"{name}-workload-identity",
        service_account_id=account_name,
        role=gcp_plan.WORKLOAD_IDENTITY_USER,
        member=plan.workload_identity_member,
        opts=options,
    )
    if plan.key_name is None:  # an existing identity is only bound, never granted more
        return GcpIdentity(email=email, key_id=None)
    member = pulumi.Output.concat("serviceAccount:", email)
    adopt = gcp_plan.key_id(plan, stack) if stack.adopt_kms else None
    key = gcp.kms.CryptoKey(
        name,
        name=plan.key_name,
        key_ring=key_ring.id,
        purpose=gcp_plan.KEY_PURPOSE,
        rotation_period=gcp_plan.KEY_ROTATION,
        opts=pulumi.ResourceOptions.merge(options, pulumi.ResourceOptions(import_=adopt, **_KEEP)),
    )
    gcp.kms.CryptoKeyIAMMember(
        f"{name}-decrypter", crypto_key_id=key.id, role=gcp_plan.KMS_DECRYPTER, member=member, opts=options
    )
    for encrypter in stack.encrypters:
        # Named by a hash of the member, so reordering the list never re-creates a grant.
        gcp.kms.CryptoKeyIAMMember(
            f"{name}-encrypter-{naming.short_hash(encrypter)}",
            crypto_key_id=key.id,
            role=gcp_plan.KMS_ENCRYPTER,
            member=encrypter,
            opts=options,
        )
    gcp.projects.IAMMember(
        f"{name}-storage",
        project=stack.project,
        role=gcp_plan.STORAGE_OBJECT_ROLE,
        member=member,
        condition={
            "title": plan.storage_condition_title,
            "description": f"Objects in the buckets nuketown agent {name} owns (scope {plan.storage_prefix}*).",
            "expression": plan.storage_condition_expression,
        },
        opts=options,
    )
    return GcpIdentity(email=email, key_id=key.id)


def _account(
    plan: GcpAgentPlan, stack: GcpStackPlan, options: pulumi.ResourceOptions
) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
    """The agent's account email and resource name: created, or the existing one the spec names."""
    if plan.existing_email is not None:
        return plan.existing_email, gcp_plan.account_resource_name(plan.existing_email)
    account = gcp.serviceaccount.Account(
        plan.agent,
        account_id=plan.account_id,
        display_name=plan.display_name,
        description=f"Workload identity of nuketown agent {plan.agent}; managed by Pulumi.",
        project=stack.project,
        opts=options,
    )
    return account.email, account.name


def cluster_kubeconfig(cluster: GkeCluster, gcp_stack: GcpStack) -> pulumi.Output[str]:
    """The GKE cluster's kubeconfig from its endpoint and CA, read with the stack's GCP credentials."""
    found = gcp.container.get_cluster_output(
        name=cluster.name,
        location=cluster.location,
        project=cluster.project,
        opts=pulumi.InvokeOutputOptions(provider=gcp_stack.provider),
    )
    return found.apply(lambda c: gke_kubeconfig(cluster, c.endpoint, c.master_auths[0].cluster_ca_certificate))
