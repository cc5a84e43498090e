"""GCP intent of each agent (pure): service account, workload identity member, KMS key, storage grant.

Every string IAM will see is decided here, so tests can read it and `declare`
only wires resources together. DESIGN.md section 7, GCP.
"""

from dataclasses import dataclass

from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import AgentSpec
from nuketown_stack.plan import naming

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
KMS_DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
KMS_ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypter"
# Objects only: read, write, list, delete inside the agent's buckets; no bucket or IAM administration.
STORAGE_OBJECT_ROLE = "roles/storage.objectUser"
KEY_ROTATION = "7776000s"  # 90 days
# Where a pod gets its workload identity tokens: the GKE metadata server. GKE's documentation for strict
# network policies: allow 169.254.169.252/32 port 988, and on Dataplane V2 169.254.169.254/32 port 80.
GKE_METADATA_SERVER = (("169.254.169.252/32", 988), ("169.254.169.254/32", 80))
KEY_PURPOSE = "ENCRYPT_DECRYPT"


@dataclass(frozen=True)
class GcpStackPlan:
    project: str
    cluster_project: str
    key_ring: str
    location: str
    encrypters: tuple[str, ...]  # members allowed to encrypt to every agent's key (people, CI)

    @property
    def key_ring_id(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/keyRings/{self.key_ring}"


@dataclass(frozen=True)
class GcpAgentPlan:
    agent: str
    account_id: str | None  # None: bind the existing account, create nothing for it
    existing_email: str | None
    display_name: str
    workload_identity_member: str
    key_name: str
    storage_prefix: str
    storage_condition_title: str
    storage_condition_expression: str

    @property
    def creates_identity(self) -> bool:
        return self.account_id is not None


def stack_plan(settings: Settings) -> GcpStackPlan:
    assert settings.gcp_project is not None  # settings refuse cloud gcp without a project
    return GcpStackPlan(
        project=settings.gcp_project,
        cluster_project=settings.gcp_cluster_project or settings.gcp_project,
        key_ring=naming.gcp_key_ring(settings.stack),
        location=settings.gcp_kms_location,
        encrypters=settings.gcp_kms_encrypters,
    )


def agent_plan(
    stack: GcpStackPlan, settings: Settings, name: str, agent: AgentSpec, namespace: str, service_account: str
) -> GcpAgentPlan:
    existing = agent.identity.gcp_service_account
    prefix = agent.identity.prefix
    return GcpAgentPlan(
        agent=name,
        account_id=None if existing else naming.gcp_service_account_id(settings.stack, name),
        existing_email=existing,
        display_name=f"nuketown agent {name} ({settings.stack})",
        workload_identity_member=f"serviceAccount:{stack.cluster_project}.svc.id.goog[{namespace}/{service_account}]",
        key_name=naming.gcp_crypto_key(name),
        storage_prefix=prefix,
        storage_condition_title=f"nuketown {name}: buckets {prefix}*",
        # The prefix keeps its trailing dash: ada- covers ada-data, never adax-data.
        storage_condition_expression=f'resource.name.startsWith("projects/_/buckets/{prefix}")',
    )


def email(plan: GcpAgentPlan, stack: GcpStackPlan) -> str:
    """The account's email as GCP assigns it (the program reads it from the resource's output)."""
    if plan.existing_email is not None:
        return plan.existing_email
    return f"{plan.account_id}@{stack.project}.iam.gserviceaccount.com"


def account_resource_name(email_address: str) -> str:
    """projects/<project>/serviceAccounts/<email>, the form IAM policies on an account take."""
    domain = email_address.partition("@")[2]
    project = domain.removesuffix(".iam.gserviceaccount.com") if domain.endswith(".iam.gserviceaccount.com") else "-"
    return f"projects/{project}/serviceAccounts/{email_address}"


def key_id(plan: GcpAgentPlan, stack: GcpStackPlan) -> str:
    return f"{stack.key_ring_id}/cryptoKeys/{plan.key_name}"
