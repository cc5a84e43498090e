"""AWS resources of each agent, from the plan (DESIGN.md section 7, AWS).

The role's boundary caps it whatever is attached later; the key policy, not
IAM alone, decides who decrypts. Policy documents come from aws_plan; here
they only meet the ARNs AWS assigns.
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from nuketown_stack import aws_plan
from nuketown_stack.aws_plan import AwsAgentPlan, AwsStackPlan
from nuketown_stack.kubeconfig import eks_kubeconfig
from nuketown_stack.providers import provider_args
from nuketown_stack.settings import Settings


@dataclass(frozen=True)
class AwsStack:
    plan: AwsStackPlan
    provider: aws.Provider
    account: str  # from the caller identity: the account every role and key lives in


@dataclass(frozen=True)
class AwsIdentity:
    role_arn: pulumi.Input[str]
    key_arn: pulumi.Output[str] | None


# A deleted key loses every secret encrypted with it.
_KEEP = pulumi.ResourceOptions(protect=True, retain_on_delete=True)


def declare_stack(stack: AwsStackPlan, settings: Settings) -> AwsStack:
    provider = aws.Provider("aws", **provider_args("aws", aws.Provider, settings))
    caller = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider))
    return AwsStack(plan=stack, provider=provider, account=caller.account_id)


def _json(document: aws_plan.Document) -> str:
    return json.dumps(document, sort_keys=False)


def declare_agent_identity(plan: AwsAgentPlan, aws_stack: AwsStack, parent: pulumi.Resource) -> AwsIdentity:
    options = pulumi.ResourceOptions(parent=parent, provider=aws_stack.provider)
    identity = (
        AwsIdentity(role_arn=plan.existing_role_arn, key_arn=None)
        if plan.existing_role_arn
        else (_declare_role_and_key(plan, aws_stack, options))
    )
    if aws_stack.plan.mode == "podIdentity":
        aws.eks.PodIdentityAssociation(
            plan.agent,
            cluster_name=aws_stack.plan.cluster_name,
            namespace=plan.namespace,
            service_account=plan.service_account,
            role_arn=identity.role_arn,
            opts=options,
        )
    return identity


def _declare_role_and_key(plan: AwsAgentPlan, aws_stack: AwsStack, options: pulumi.ResourceOptions) -> AwsIdentity:
    """Key first (its policy attached once the role exists), then the boundary naming the key, then the role."""
    account, name = aws_stack.account, plan.agent
    key = aws.kms.Key(
        name,
        description=f"Secrets of nuketown agent {name}",
        enable_key_rotation=True,
        deletion_window_in_days=aws_plan.KEY_DELETION_WINDOW_DAYS,
        opts=pulumi.ResourceOptions.merge(options, _KEEP),
    )
    aws.kms.Alias(name, name=plan.key_alias, target_key_id=key.key_id, opts=options)
    boundary = aws.iam.Policy(
        f"{name}-boundary",
        name=plan.boundary_name,
        description=f"Permissions boundary of nuketown agent {name}: its own buckets and key, no escalation.",
        policy=key.arn.apply(lambda arn: _json(aws_plan.permissions_boundary(plan, account, arn))),
        opts=options,
    )
    role = aws.iam.Role(
        name,
        name=plan.role_name,
        description=f"Workload identity of nuketown agent {name}; managed by Pulumi.",
        assume_role_policy=_json(aws_plan.trust_policy(plan, aws_stack.plan, account)),
        permissions_boundary=boundary.arn,
        opts=options,
    )
    # KMS checks that a key policy's principals exist, so the policy naming the role comes after it.
    aws.kms.KeyPolicy(
        name,
        key_id=key.key_id,
        policy=role.arn.apply(lambda arn: _json(aws_plan.key_policy(plan, account, arn))),
        opts=options,
    )
    aws.iam.RolePolicy(
        name,
        name="nuketown-agent",
        role=role.name,
        policy=key.arn.apply(lambda arn: _json(aws_plan.identity_policy(plan, account, arn))),
        opts=options,
    )
    return AwsIdentity(role_arn=role.arn, key_arn=key.arn)


def cluster_kubeconfig(name: str, aws_stack: AwsStack) -> pulumi.Output[str]:
    """The EKS cluster's kubeconfig from its endpoint and CA, read with the stack's AWS credentials."""
    found = aws.eks.get_cluster_output(name=name, opts=pulumi.InvokeOutputOptions(provider=aws_stack.provider))
    region = aws_stack.plan.region
    return found.apply(lambda c: eks_kubeconfig(name, region, c.endpoint, c.certificate_authorities[0].data))
