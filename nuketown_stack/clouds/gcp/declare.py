"""GCP resources of a stack and of each agent, from the plan.

IAM is granted with non-authoritative *IAMMember resources only: a binding or
policy resource would overwrite grants other people made.
"""

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from nuketown_stack.clouds.gcp import plan as gcp_plan
from nuketown_stack.clouds.gcp.plan import GcpAgentPlan, GcpStackPlan
from nuketown_stack.errors import raise_if_any
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan import naming
from nuketown_stack.plan.kubeconfig import GkeCluster, gke_kubeconfig
from nuketown_stack.program.identity import DeclaredIdentity, adoption_opts
from nuketown_stack.program.providers import provider_args


@dataclass(frozen=True)
class GcpStack:
    plan: GcpStackPlan
    key_ring: gcp.kms.KeyRing
    existing_keys: frozenset[str]  # ids of the keys already in the ring (kept from removed agents)
    existing_accounts: dict[str, str]  # account id -> display name, of accounts with the stack's id prefix
    existing_buckets: dict[str, dict[str, str]]  # bucket name -> labels, of buckets with the stack's name prefix


def declare_provider(settings: Settings) -> gcp.Provider:
    """The stack's GCP provider, with every `gcp:*` setting."""
    return gcp.Provider(naming.PROVIDER_GCP, **provider_args("gcp", gcp.Provider, settings))


def declare_stack(stack: GcpStackPlan, settings: Settings, opts: pulumi.ResourceOptions) -> GcpStack:
    """The stack's key ring, adopting the ring and keys GCP kept (it never deletes them). `opts` places it
    (parent, aliases); it and every lookup use the GCP provider of that parent."""
    invoke = pulumi.InvokeOptions(parent=opts.parent)
    ring_found, existing_keys = _existing_kms(stack, invoke)
    options = pulumi.ResourceOptions.merge(
        opts, adoption_opts(gcp.kms.KeyRing, stack.key_ring_id if ring_found else None)
    )
    key_ring = gcp.kms.KeyRing(
        stack.key_ring, name=stack.key_ring, location=stack.location, project=stack.project, opts=options
    )
    return GcpStack(
        plan=stack,
        key_ring=key_ring,
        existing_keys=existing_keys,
        existing_accounts=_existing_accounts(stack, settings, invoke),
        existing_buckets=_existing_buckets(stack, settings, invoke),
    )


def _existing_buckets(
    stack: GcpStackPlan, settings: Settings, invoke: pulumi.InvokeOptions
) -> dict[str, dict[str, str]]:
    """Buckets whose name could be one of this stack's: a kept bucket (its agent removed, then added back) is
    imported, and only when its labels say it is the agent's."""
    found = gcp.storage.get_buckets(
        prefix=settings.names.gcp_bucket_prefix(stack.project), project=stack.project, opts=invoke
    ).buckets
    return {bucket.name: dict(bucket.labels or {}) for bucket in found}


def _existing_accounts(stack: GcpStackPlan, settings: Settings, invoke: pulumi.InvokeOptions) -> dict[str, str]:
    """Accounts whose id could be one of this stack's: adoption takes one back only when it is the agent's."""
    found = gcp.serviceaccount.get_s(
        prefix=settings.names.gcp_service_account_prefix(), project=stack.project, opts=invoke
    ).accounts
    return {account.account_id: account.display_name for account in found}


def _existing_kms(stack: GcpStackPlan, invoke: pulumi.InvokeOptions) -> tuple[bool, frozenset[str]]:
    """Whether the stack's ring exists, and which keys it holds: key ring and key names can never be reused,
    so a key kept from a removed agent (or a destroyed stack) must be adopted, not created again."""
    rings = gcp.kms.get_key_rings(
        project=stack.project, location=stack.location, filter=f"name:{stack.key_ring}", opts=invoke
    ).key_rings
    if not any(stack.key_ring_id in (ring.id, ring.name) for ring in rings):
        return False, frozenset()
    keys = gcp.kms.get_crypto_keys(key_ring=stack.key_ring_id, opts=invoke).keys
    return True, frozenset(key.id for key in keys)


def declare_agent_identity(plan: GcpAgentPlan, gcp_stack: GcpStack, parent: pulumi.Resource) -> DeclaredIdentity:
    """The agent's account (created, or the allow-listed one it names), its key, and grants to that account only,
    each with the GCP provider of `parent`."""
    stack, key_ring = gcp_stack.plan, gcp_stack.key_ring
    options = pulumi.ResourceOptions(parent=parent)
    email, account_name = _account(plan, gcp_stack, options)
    name, names = plan.agent, plan.names
    gcp.serviceaccount.IAMMember(
        names.workload_identity,
        service_account_id=account_name,
        role=gcp_plan.WORKLOAD_IDENTITY_USER,
        member=plan.workload_identity_member,
        opts=options,
    )
    member = pulumi.Output.from_input(email).apply(gcp_plan.account_member)
    key = gcp.kms.CryptoKey(
        name,
        name=plan.key_name,
        key_ring=key_ring.id,
        purpose=gcp_plan.KEY_PURPOSE,
        rotation_period=gcp_plan.KEY_ROTATION,
        opts=pulumi.ResourceOptions.merge(
            options,
            adoption_opts(gcp.kms.CryptoKey, plan.key_id if plan.key_id in gcp_stack.existing_keys else None),
        ),
    )
    gcp.kms.CryptoKeyIAMMember(
        names.decrypter, crypto_key_id=key.id, role=gcp_plan.KMS_DECRYPTER, member=member, opts=options
    )
    for encrypter in stack.encrypters:
        gcp.kms.CryptoKeyIAMMember(
            names.encrypter(encrypter),
            crypto_key_id=key.id,
            role=gcp_plan.KMS_ENCRYPTER,
            member=encrypter,
            opts=options,
        )
    _declare_buckets(plan, gcp_stack, member, options)
    condition = plan.storage_condition
    if condition is not None:
        gcp.projects.IAMMember(
            names.storage,
            project=stack.project,
            role=gcp_plan.STORAGE_OBJECT_ROLE,
            member=member,
            condition={
                "title": condition.title,
                "description": condition.description,
                "expression": condition.expression,
            },
            opts=options,
        )
    return DeclaredIdentity(identity=email, key=key.id, annotation_value=email)


def _declare_buckets(
    plan: GcpAgentPlan, gcp_stack: GcpStack, member: pulumi.Output[str], options: pulumi.ResourceOptions
) -> None:
    """Each of the agent's buckets (kept with its objects, adopted when it is the agent's own), and an object grant
    on exactly that bucket: a bucket-level member, no condition, nothing else in the project."""
    for bucket in plan.buckets:
        labels = gcp_stack.existing_buckets.get(bucket.name)
        if labels is not None:
            raise_if_any([p for p in [plan.bucket_adoption_problem(bucket, labels)] if p])
        created = gcp.storage.Bucket(
            bucket.resource_name,
            name=bucket.name,
            project=gcp_stack.plan.project,
            location=plan.bucket_location,
            labels=plan.bucket_labels,
            uniform_bucket_level_access=True,  # IAM alone decides who reaches objects: no object ACLs
            public_access_prevention="enforced",
            opts=pulumi.ResourceOptions.merge(
                options,
                adoption_opts(
                    gcp.storage.Bucket, f"{gcp_stack.plan.project}/{bucket.name}" if labels is not None else None
                ),
            ),
        )
        gcp.storage.BucketIAMMember(
            bucket.grant_name, bucket=created.name, role=gcp_plan.STORAGE_OBJECT_ROLE, member=member, opts=options
        )


def _account(
    plan: GcpAgentPlan, gcp_stack: GcpStack, options: pulumi.ResourceOptions
) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
    """The agent's account email and resource name: created (or adopted when kept), or the given one."""
    if plan.existing_email is not None:
        return plan.existing_email, gcp_plan.account_resource_name(plan.existing_email)
    assert plan.account_id is not None
    raise_if_any([p for p in [plan.adoption_problem(gcp_stack.existing_accounts.get(plan.account_id))] if p])
    account = gcp.serviceaccount.Account(
        plan.agent,
        account_id=plan.account_id,
        display_name=plan.display_name,
        description=plan.account_description,
        project=gcp_stack.plan.project,
        # A kept account (its agent removed, then added back) is taken over as it is, with its unique id
        # and every grant made to it outside this stack (terraform-provider-google, create_ignore_already_exists);
        # only this agent's: an existing account of the same id and another display name was refused above.
        create_ignore_already_exists=True,
        opts=pulumi.ResourceOptions.merge(options, adoption_opts(gcp.serviceaccount.Account)),
    )
    return account.email, account.name


def cluster_kubeconfig(settings: Settings, provider: gcp.Provider) -> pulumi.Output[str] | None:
    """The GKE cluster's kubeconfig (nuketown:gkeCluster) from its endpoint and CA, read with the stand-alone
    stack's GCP provider; None when the stack reaches its cluster another way."""
    if settings.gke_cluster is None:
        return None
    cluster = GkeCluster.parse(settings.gke_cluster)
    found = gcp.container.get_cluster_output(
        name=cluster.name,
        location=cluster.location,
        project=cluster.project,
        opts=pulumi.InvokeOutputOptions(provider=provider),
    )
    # No credential is in it (the exec plugin fetches one), and the SDK marks a whole lookup secret if any
    # field is: kept plain, the state holds no secret and a preview needs no passphrase.
    return pulumi.Output.unsecret(
        found.apply(lambda c: gke_kubeconfig(cluster, c.endpoint, c.master_auths[0].cluster_ca_certificate))
    )
