"""GCP resources of a stack and of each agent, from the plan (DESIGN.md section 7, GCP).

IAM is granted with non-authoritative *IAMMember resources only: a binding or
policy resource would overwrite grants other people made.
"""

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from nuketown_stack.clouds.gcp import plan as gcp_plan
from nuketown_stack.clouds.gcp.plan import GcpAgentPlan, GcpStackPlan
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan import naming
from nuketown_stack.plan.kubeconfig import GkeCluster, gke_kubeconfig
from nuketown_stack.program.providers import provider_args


@dataclass(frozen=True)
class GcpStack:
    plan: GcpStackPlan
    provider: gcp.Provider
    key_ring: gcp.kms.KeyRing
    existing_keys: frozenset[str]  # ids of the keys already in the ring (kept from removed agents)


@dataclass(frozen=True)
class GcpIdentity:
    """What the rest of an agent needs from its GCP identity."""

    email: pulumi.Input[str]
    key_id: pulumi.Output[str]


def _kept(adopt_id: str | None = None) -> pulumi.ResourceOptions:
    """Kept on removal, replacement and destroy (see keeping.py); adopted when it already exists."""
    return pulumi.ResourceOptions(retain_on_delete=True, import_=adopt_id)


def declare_stack(stack: GcpStackPlan, settings: Settings) -> GcpStack:
    """The provider and the stack's key ring, adopting the ring and keys GCP kept (it never deletes them)."""
    provider = gcp.Provider("gcp", **provider_args("gcp", gcp.Provider, settings))
    ring_found, existing_keys = _existing_kms(stack, provider)
    options = pulumi.ResourceOptions.merge(
        pulumi.ResourceOptions(provider=provider), _kept(stack.key_ring_id if ring_found else None)
    )
    key_ring = gcp.kms.KeyRing(
        stack.key_ring, name=stack.key_ring, location=stack.location, project=stack.project, opts=options
    )
    return GcpStack(plan=stack, provider=provider, key_ring=key_ring, existing_keys=existing_keys)


def _existing_kms(stack: GcpStackPlan, provider: gcp.Provider) -> tuple[bool, frozenset[str]]:
    """Whether the stack's ring exists, and which keys it holds: key ring and key names can never be reused,
    so a key kept from a removed agent (or a destroyed stack) must be adopted, not created again."""
    invoke = pulumi.InvokeOptions(provider=provider)
    rings = gcp.kms.get_key_rings(
        project=stack.project, location=stack.location, filter=f"name:{stack.key_ring}", opts=invoke
    ).key_rings
    if not any(stack.key_ring_id in (ring.id, ring.name) for ring in rings):
        return False, frozenset()
    keys = gcp.kms.get_crypto_keys(key_ring=stack.key_ring_id, opts=invoke).keys
    return True, frozenset(key.id for key in keys)


def declare_agent_identity(plan: GcpAgentPlan, gcp_stack: GcpStack, parent: pulumi.Resource) -> GcpIdentity:
    """The agent's account (created, or the allow-listed one it names), its key, and grants to that account only."""
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
    member = pulumi.Output.concat("serviceAccount:", email)
    key_id = gcp_plan.key_id(plan, stack)
    key = gcp.kms.CryptoKey(
        name,
        name=plan.key_name,
        key_ring=key_ring.id,
        purpose=gcp_plan.KEY_PURPOSE,
        rotation_period=gcp_plan.KEY_ROTATION,
        opts=pulumi.ResourceOptions.merge(options, _kept(key_id if key_id in gcp_stack.existing_keys else None)),
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
    """The agent's account email and resource name: created (or adopted when kept), or the given one."""
    if plan.existing_email is not None:
        return plan.existing_email, gcp_plan.account_resource_name(plan.existing_email)
    account = gcp.serviceaccount.Account(
        plan.agent,
        account_id=plan.account_id,
        display_name=plan.display_name,
        description=f"Workload identity of nuketown agent {plan.agent}; managed by Pulumi.",
        project=stack.project,
        # A kept account (its agent removed, then added back) is taken over as it is, with its unique id
        # and every grant made to it outside this stack (terraform-provider-google, create_ignore_already_exists).
        create_ignore_already_exists=True,
        opts=pulumi.ResourceOptions.merge(options, _kept()),
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
    # No credential is in it (the exec plugin fetches one), and the SDK marks a whole lookup secret if any
    # field is: kept plain, the state holds no secret and a preview needs no passphrase.
    return pulumi.Output.unsecret(
        found.apply(lambda c: gke_kubeconfig(cluster, c.endpoint, c.master_auths[0].cluster_ca_certificate))
    )
