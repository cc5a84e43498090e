"""AWS resources of each agent, from the plan.

The role's boundary caps it whatever is attached later; the key policy, not
IAM alone, decides who decrypts. Policy documents come from aws_plan; here
they only meet the ARNs AWS assigns.
"""

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from nuketown_stack.clouds.aws import plan as aws_plan
from nuketown_stack.clouds.aws.plan import AwsAgentPlan, AwsStackPlan
from nuketown_stack.errors import raise_if_any
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan import naming
from nuketown_stack.plan.kubeconfig import eks_kubeconfig
from nuketown_stack.program.identity import DeclaredIdentity, adoption_opts
from nuketown_stack.program.providers import provider_args


@dataclass(frozen=True)
class AwsStack:
    plan: AwsStackPlan
    account: str  # from the caller identity: the account every role and key lives in
    existing_roles: frozenset[str]  # role names of this stack kept in the account (removed agents)
    existing_keys: dict[str, str]  # agent -> key id of keys kept in the account, found by their tags
    existing_buckets: dict[str, dict[str, str]]  # bucket name -> tags, of buckets tagged for this stack


def declare_provider(settings: Settings) -> aws.Provider:
    """The stack's AWS provider, with every `aws:*` setting."""
    return aws.Provider(naming.PROVIDER_AWS, **provider_args("aws", aws.Provider, settings))


def declare_stack(stack: AwsStackPlan, settings: Settings, opts: pulumi.ResourceOptions) -> AwsStack:
    """What AWS kept of this stack, looked up with the AWS provider of `opts.parent` (AWS has no stack-wide
    resource: every role and key is an agent's)."""
    invoke = pulumi.InvokeOptions(parent=opts.parent)
    caller = aws.get_caller_identity(opts=invoke)
    # Kept roles and keys of removed agents are adopted when their agent comes back: IAM has no
    # "create or take over" for roles, and a key is only found again through its tags.
    roles = aws.iam.get_roles(name_regex=f"^{re.escape(stack.role_prefix)}", opts=invoke)
    tagged = aws.resourcegroupstaggingapi.get_resources(
        resource_type_filters=["kms:key"],
        tag_filters=[{"key": aws_plan.STACK_TAG, "values": [stack.environment]}],
        opts=invoke,
    )
    keys = {
        mapping.tags[aws_plan.AGENT_TAG]: mapping.resource_arn.rpartition("/")[2]
        for mapping in tagged.resource_tag_mapping_lists
        if aws_plan.AGENT_TAG in (mapping.tags or {})
    }
    buckets = aws.resourcegroupstaggingapi.get_resources(
        resource_type_filters=["s3:bucket"],
        tag_filters=[{"key": aws_plan.STACK_TAG, "values": [stack.environment]}],
        opts=invoke,
    )
    return AwsStack(
        plan=stack,
        account=caller.account_id,
        existing_roles=frozenset(roles.names or ()),
        existing_keys=keys,
        existing_buckets={
            mapping.resource_arn.removeprefix("arn:aws:s3:::"): dict(mapping.tags or {})
            for mapping in buckets.resource_tag_mapping_lists
        },
    )


def _json(document: aws_plan.Document) -> str:
    return json.dumps(document, sort_keys=False)


def declare_agent_identity(plan: AwsAgentPlan, aws_stack: AwsStack, parent: pulumi.Resource) -> DeclaredIdentity:
    """The agent's role (created, or the allow-listed one it names), its key, and grants to that role only,
    each with the AWS provider of `parent`."""
    options = pulumi.ResourceOptions(parent=parent)
    account, name = aws_stack.account, plan.agent
    key = aws.kms.Key(
        name,
        description=plan.key_description,
        enable_key_rotation=True,
        deletion_window_in_days=aws_plan.KEY_DELETION_WINDOW_DAYS,
        tags=plan.owner_tags,
        opts=pulumi.ResourceOptions.merge(options, adoption_opts(aws.kms.Key, aws_stack.existing_keys.get(name))),
    )
    aws.kms.Alias(name, name=plan.key_alias, target_key_id=key.key_id, opts=options)
    _declare_buckets(plan, aws_stack, options)
    role_arn, role_name = (
        (plan.existing_role_arn, plan.granted_role)
        if plan.existing_role_arn is not None
        else _declare_role(plan, aws_stack, key, options)
    )
    # KMS checks that a key policy's principals exist, so the policy naming the role comes after it.
    aws.kms.KeyPolicy(
        name,
        key_id=key.key_id,
        policy=pulumi.Output.from_input(role_arn).apply(lambda arn: _json(aws_plan.key_policy(plan, account, arn))),
        opts=options,
    )
    aws.iam.RolePolicy(
        name,
        name=plan.role_policy_name,
        role=role_name,
        policy=key.arn.apply(lambda arn: _json(aws_plan.identity_policy(plan, account, arn))),
        opts=options,
    )
    if aws_stack.plan.mode == "podIdentity":
        aws.eks.PodIdentityAssociation(
            name,
            cluster_name=aws_stack.plan.cluster_name,
            namespace=plan.namespace,
            service_account=plan.service_account,
            role_arn=role_arn,
            opts=options,
        )
    return DeclaredIdentity(
        identity=role_arn, key=key.arn, annotation_value=role_arn if plan.annotation() is not None else None
    )


def _declare_buckets(plan: AwsAgentPlan, aws_stack: AwsStack, options: pulumi.ResourceOptions) -> None:
    """Each of the agent's buckets, in the account's regional namespace (only this account can create its names),
    closed to the public, kept with its objects and adopted when it is the agent's own. The role policy and
    boundary name exactly these buckets (aws_plan._storage_statements)."""
    for bucket in plan.buckets:
        name = plan.bucket_name(bucket, aws_stack.account)
        tags = aws_stack.existing_buckets.get(name)
        if tags is not None:
            raise_if_any([p for p in [plan.bucket_adoption_problem(bucket, aws_stack.account, tags)] if p])
        created = aws.s3.Bucket(
            bucket.resource_name,
            bucket=name,
            bucket_namespace="account-regional",
            tags=plan.owner_tags,
            opts=pulumi.ResourceOptions.merge(
                options, adoption_opts(aws.s3.Bucket, name if tags is not None else None)
            ),
        )
        aws.s3.BucketPublicAccessBlock(
            bucket.resource_name,
            bucket=created.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=options,
        )


def _declare_role(
    plan: AwsAgentPlan, aws_stack: AwsStack, key: aws.kms.Key, options: pulumi.ResourceOptions
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """The boundary naming the key, then the role it caps; both kept, and adopted when kept from before."""
    account = aws_stack.account
    found = plan.role_name in aws_stack.existing_roles
    if found:
        existing = aws.iam.get_role(name=plan.role_name, opts=pulumi.InvokeOptions(parent=options.parent))
        raise_if_any([p for p in [plan.adoption_problem(existing.tags or {}, existing.description)] if p])
    boundary = aws.iam.Policy(
        plan.boundary_resource_name,
        name=plan.boundary_name,
        description=plan.boundary_description,
        tags=plan.owner_tags,
        policy=key.arn.apply(lambda arn: _json(aws_plan.permissions_boundary(plan, account, arn))),
        # Kept with its role: a boundary still attached to a role cannot be deleted.
        opts=pulumi.ResourceOptions.merge(
            options,
            adoption_opts(aws.iam.Policy, plan.boundary_arn(account) if found else None),
        ),
    )
    role = aws.iam.Role(
        plan.agent,
        name=plan.role_name,
        description=plan.role_description,
        assume_role_policy=_json(aws_plan.trust_policy(plan, aws_stack.plan, account)),
        permissions_boundary=boundary.arn,
        tags=plan.owner_tags,
        opts=pulumi.ResourceOptions.merge(options, adoption_opts(aws.iam.Role, plan.role_name if found else None)),
    )
    return role.arn, role.name


def cluster_kubeconfig(settings: Settings, provider: aws.Provider) -> pulumi.Output[str] | None:
    """The EKS cluster's kubeconfig (nuketown:eksCluster) from its endpoint and CA, read with the stand-alone
    stack's AWS provider; None when the stack reaches its cluster another way."""
    name, region = settings.eks_cluster, settings.aws_region
    if name is None:
        return None
    assert region is not None  # settings refuse cloud aws without a region
    found = aws.eks.get_cluster_output(name=name, opts=pulumi.InvokeOutputOptions(provider=provider))
    # No credential is in it (the exec plugin fetches one), and the SDK marks a whole lookup secret if any
    # field is: kept plain, the state holds no secret and a preview needs no passphrase.
    return pulumi.Output.unsecret(
        found.apply(lambda c: eks_kubeconfig(name, region, c.endpoint, c.certificate_authorities[0].data))
    )
