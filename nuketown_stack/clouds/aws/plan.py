"""AWS intent of each agent (pure): IAM role, trust, permissions boundary, identity policy, KMS key policy.

Policy documents are functions of the account id, which the program reads from
the caller identity; everything else is decided here.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nuketown_stack.clouds import Annotation
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import AgentSpec
from nuketown_stack.plan import naming
from nuketown_stack.plan.kubernetes import NODE_METADATA, EgressGuard
from nuketown_stack.plan.ownership import granted_prefix

Document = dict[str, Any]
POLICY_VERSION = "2012-10-17"
KEY_DELETION_WINDOW_DAYS = 30
# Node credentials live behind the instance metadata service; an agent's pod must not reach them.
METADATA_CIDRS = NODE_METADATA
# The EKS Pod Identity agent on every node, where Pod Identity credentials come from.
POD_IDENTITY_AGENT = (("169.254.170.23/32", 80), ("fd00:ec2::23/128", 80))

BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
DECRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
ESCALATION_ACTIONS = (
    "iam:*",
    "organizations:*",
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
)
# What the account may do with an agent's key without being the agent: administer it and encrypt to it.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
KEY_ENCRYPT_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")


EKS_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
IDENTITY_OUTPUT = "roleArn"  # agents.<name>.roleArn in the stack outputs
SOPS_FIELD = "kms"
STACK_TAG = "nuketown.io/stack"
AGENT_TAG = "nuketown.io/agent"
CREATED_ROLE_POLICY = "nuketown-agent"  # the inline policy on a role this stack created


@dataclass(frozen=True)
class AwsStackPlan:
    stack: str
    environment: str  # the owner its roles and keys are tagged with (nuketown.io/stack)
    role_prefix: str  # what every role name of the stack starts with, to find roles kept from removed agents
    region: str
    mode: Literal["irsa", "podIdentity"]
    oidc_provider_arn: str | None
    cluster_name: str | None

    @property
    def cloud(self) -> str:
        return "aws"

    @property
    def identity_output(self) -> str:
        return IDENTITY_OUTPUT

    @property
    def sops_field(self) -> str:
        return SOPS_FIELD

    def guard(self) -> EgressGuard:
        required = POD_IDENTITY_AGENT if self.mode == "podIdentity" else ()
        return EgressGuard(blocked=METADATA_CIDRS, required=required)

    def agent_plan(
        self, settings: Settings, name: str, agent: AgentSpec, namespace: str, service_account: str
    ) -> "AwsAgentPlan":
        return agent_plan(self, settings, name, agent, namespace, service_account)

    def name_problems(self, settings: Settings, name: str, agent: AgentSpec) -> list[str]:
        return []  # every name is cut to its limit; bucket names live in the account's own namespace

    @property
    def oidc_account(self) -> str:
        """The account of the OIDC provider, which IRSA requires to be the roles' account."""
        assert self.oidc_provider_arn is not None
        return self.oidc_provider_arn.split(":")[4]

    @property
    def oidc_issuer(self) -> str:
        """`oidc.eks.<region>.amazonaws.com/id/<id>` from the provider's ARN (the condition key prefix)."""
        assert self.oidc_provider_arn is not None
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]


@dataclass(frozen=True)
class AwsBucket:
    """One of the agent's buckets: its short name in the spec and its Pulumi logical name (its S3 name depends on
    the account, which the program reads from the caller identity: `AwsAgentPlan.bucket_name`)."""

    short: str
    resource_name: str


@dataclass(frozen=True)
class AwsAgentPlan:
    agent: str
    namespace: str
    service_account: str
    role_name: str | None  # None: bind the existing role, create nothing for it
    existing_role_arn: str | None
    boundary_name: str
    key_alias: str
    # Whose a key, role or boundary is: how a kept key is found again (keys have no name of their own), and
    # what adoption checks before taking a kept role back.
    owner_tags: dict[str, str]
    environment: str
    region: str
    buckets: tuple[AwsBucket, ...]  # created for the agent, kept with their objects; its grants reach these
    # A bucket-name prefix granted beyond its own buckets (allow-listed, or nuketown:storage agentPrefix); None: none.
    storage_prefix: str | None
    # The inline policy granting the agent its buckets and key: on a given role it carries the stack and
    # agent, so it never overwrites a policy of the role's owner or of another stack.
    role_policy_name: str
    mode: Literal["irsa", "podIdentity"]
    irsa_role_arn: str | None  # IRSA: the ARN the ServiceAccount names (the program takes the role's output)
    key_description: str
    boundary_description: str
    role_description: str
    boundary_resource_name: str  # the boundary policy's Pulumi logical name

    @property
    def creates_identity(self) -> bool:
        return self.role_name is not None

    def annotation(self) -> Annotation | None:
        """IRSA hands the pod its role through the ServiceAccount; Pod Identity through an association."""
        return Annotation(EKS_ROLE_ANNOTATION, self.irsa_role_arn) if self.irsa_role_arn is not None else None

    def credentials(self) -> dict[str, str | None]:
        return {"awsMode": self.mode, "role": self.role_name or self.existing_role_arn}

    def adoption_problem(self, tags: Mapping[str, str], description: str | None) -> str | None:
        """Why an existing role of this agent's name must not be adopted: it is tagged for another stack or agent,
        or (untagged, made before roles were tagged) describes another agent. Role names derive from
        `nuketown-<stack>-<agent>`, so stack `dev` with agent `x-ada` and stack `dev-x` with agent `ada` derive
        the same one; adopting it would rewrite its trust to this agent and take the other's grants."""
        if AGENT_TAG in tags:
            owner = f"agent {tags[AGENT_TAG]} of stack {tags.get(STACK_TAG, '?')}"
            mine = tags[AGENT_TAG] == self.agent and tags.get(STACK_TAG) == self.owner_tags[STACK_TAG]
        else:
            owner = f"description {description!r}"
            mine = description == self.role_description
        if mine:
            return None
        tags_flags = " ".join(f"Key={key},Value={value}" for key, value in self.owner_tags.items())
        return (
            f"agents.{self.agent}: IAM role {self.role_name} already exists and is not this agent's ({owner}): "
            "another stack's agent derives the same name, or it was made by hand; rename the agent, or, to adopt "
            f"it on purpose, aws iam tag-role --role-name {self.role_name} --tags {tags_flags}"
        )

    def bucket_name(self, bucket: AwsBucket, account: str) -> str:
        return naming.Names(self.environment).aws_bucket(account, self.region, self.agent, bucket.short)

    def bucket_adoption_problem(self, bucket: AwsBucket, account: str, tags: Mapping[str, str]) -> str | None:
        """Why a bucket of an agent bucket's name, tagged for this stack, must not be adopted: it is tagged for
        another agent. (Only this account can create names in its regional namespace.)"""
        if all(tags.get(key) == value for key, value in self.owner_tags.items()):
            return None
        name = self.bucket_name(bucket, account)
        tags_flags = ",".join(f"{{Key={key},Value={value}}}" for key, value in self.owner_tags.items())
        return (
            f"agents.{self.agent}.cloud.buckets: S3 bucket {name} already exists and is not this agent's (tags "
            f"{dict(tags)!r}): rename the bucket, or, to adopt it on purpose, aws s3api put-bucket-tagging --bucket "
            f"{name} --tagging 'TagSet=[{tags_flags}]'"
        )

    def boundary_arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:policy/{self.boundary_name}"

    @property
    def granted_role(self) -> str:
        """The name of the role the grants go to: the created one, or the given one (from its ARN)."""
        if self.role_name is not None:
            return self.role_name
        assert self.existing_role_arn is not None
        return self.existing_role_arn.rpartition("/")[2]


def stack_plan(settings: Settings) -> AwsStackPlan:
    assert settings.aws_region is not None  # settings refuse cloud aws without a region
    return AwsStackPlan(
        stack=settings.stack,
        environment=settings.names.environment,
        role_prefix=settings.names.aws_role_prefix(),
        region=settings.aws_region,
        mode=settings.aws_mode,
        oidc_provider_arn=settings.aws_oidc_provider_arn,
        cluster_name=settings.pod_identity_cluster,
    )


def agent_plan(
    stack: AwsStackPlan, settings: Settings, name: str, agent: AgentSpec, namespace: str, service_account: str
) -> AwsAgentPlan:
    existing = agent.identity.aws_role_arn
    role = settings.names.aws_role(name)
    return AwsAgentPlan(
        agent=name,
        namespace=namespace,
        service_account=service_account,
        role_name=None if existing else role,
        existing_role_arn=existing,
        boundary_name=settings.names.aws_boundary_policy(name),
        key_alias=settings.names.aws_kms_alias(name),
        owner_tags={STACK_TAG: settings.names.environment, AGENT_TAG: name},
        environment=settings.names.environment,
        region=stack.region,
        buckets=tuple(AwsBucket(short, naming.resource_name(name, short)) for short in agent.buckets),
        storage_prefix=granted_prefix(settings, name, agent),
        role_policy_name=CREATED_ROLE_POLICY if existing is None else role,
        mode=stack.mode,
        # IRSA requires the role in the OIDC provider's account, so that is the ARN's account.
        irsa_role_arn=(existing or f"arn:aws:iam::{stack.oidc_account}:role/{role}") if stack.mode == "irsa" else None,
        key_description=f"Secrets of nuketown agent {name}",
        boundary_description=f"Permissions boundary of nuketown agent {name}: its own buckets and key, no escalation.",
        role_description=f"Workload identity of nuketown agent {name}; managed by Pulumi.",
        boundary_resource_name=f"{name}-boundary",
    )


def trust_policy(plan: AwsAgentPlan, stack: AwsStackPlan, account: str) -> Document:
    """Who may assume the agent's role: exactly its Kubernetes ServiceAccount, through IRSA or Pod Identity."""
    if stack.mode == "irsa":
        issuer = stack.oidc_issuer
        statement: Document = {
            "Sid": "AgentServiceAccountViaIrsa",
            "Effect": "Allow",
            "Principal": {"Federated": stack.oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{issuer}:sub": f"system:serviceaccount:{plan.namespace}:{plan.service_account}",
                    f"{issuer}:aud": "sts.amazonaws.com",
                }
            },
        }
    else:
        statement = {
            "Sid": "AgentServiceAccountViaPodIdentity",
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": account,
                    "aws:RequestTag/eks-cluster-name": stack.cluster_name,
                    "aws:RequestTag/kubernetes-namespace": plan.namespace,
                    "aws:RequestTag/kubernetes-service-account": plan.service_account,
                },
                # The cluster itself, as EKS documents for Pod Identity trust: a cluster name can be reused,
                # and another account's cluster can carry the same one; its ARN is unique.
                "ArnEquals": {"aws:SourceArn": f"arn:aws:eks:{stack.region}:{account}:cluster/{stack.cluster_name}"},
            },
        }
    return {"Version": POLICY_VERSION, "Statement": [statement]}


def _storage_statements(plan: AwsAgentPlan, account: str) -> list[Document]:
    """S3 on exactly the agent's own buckets, and on `<prefix>*` where the stack grants one, in its own account
    only (a prefix keeps its dash). No buckets and no prefix: no S3 at all."""
    own_account = {"StringEquals": {"aws:ResourceAccount": account}}
    buckets = [f"arn:aws:s3:::{plan.bucket_name(bucket, account)}" for bucket in plan.buckets]
    statements = []
    if buckets:
        statements += [
            {"Sid": "OwnBuckets", "Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": buckets},
            {
                "Sid": "OwnObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"{b}/*" for b in buckets],
            },
        ]
    if plan.storage_prefix is not None:
        prefix = f"arn:aws:s3:::{plan.storage_prefix}*"
        statements += [
            {"Sid": "ScopeBuckets", "Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": prefix},
            {"Sid": "ScopeObjects", "Effect": "Allow", "Action": list(OBJECT_ACTIONS), "Resource": f"{prefix}/*"},
        ]
    return [{**statement, "Condition": own_account} for statement in statements]


def identity_policy(plan: AwsAgentPlan, account: str, key_arn: str) -> Document:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            *_storage_statements(plan, account),
            {"Sid": "DecryptOwnSecrets", "Effect": "Allow", "Action": list(DECRYPT_ACTIONS), "Resource": key_arn},
        ],
    }


def permissions_boundary(plan: AwsAgentPlan, account: str, key_arn: str) -> Document:
    """The most the role can ever do, whatever is attached to it later; escalation explicitly denied."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            *_storage_statements(plan, account),
            {"Sid": "DecryptOwnSecrets", "Effect": "Allow", "Action": list(DECRYPT_ACTIONS), "Resource": key_arn},
            {"Sid": "NoEscalation", "Effect": "Deny", "Action": list(ESCALATION_ACTIONS), "Resource": "*"},
        ],
    }


def key_policy(plan: AwsAgentPlan, account: str, agent_role_arn: str) -> Document:
    """The account keeps the key administrable and may encrypt to it; only the agent's role decrypts."""
    root = f"arn:aws:iam::{account}:root"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(KEY_ADMIN_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "AccountEncrypts",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(KEY_ENCRYPT_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "AgentDecrypts",
                "Effect": "Allow",
                "Principal": {"AWS": agent_role_arn},
                "Action": list(DECRYPT_ACTIONS),
                "Resource": "*",
            },
        ],
    }
