"""GCP intent of each agent (pure): service account, workload identity member, KMS key, storage grant.

Every string IAM will see, and every name and description of a resource, is decided here, so tests can
read it and `declare` only wires resources together.
"""

from dataclasses import dataclass

from nuketown_stack.clouds import Annotation
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import AgentSpec
from nuketown_stack.plan import naming
from nuketown_stack.plan.kubernetes import EgressGuard
from nuketown_stack.plan.ownership import granted_prefix

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


# GCS refuses bucket names that begin with "goog" or contain "google" or a close misspelling of it.
_GOOGLE_LIKE = ("google", "g00gle", "go0gle", "g0ogle")
BUCKET_STACK_LABEL = "nuketown-stack"  # GCP label keys take no '.' or '/': the owner labels of a bucket
BUCKET_AGENT_LABEL = "nuketown-agent"

GKE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
IDENTITY_OUTPUT = "gcpServiceAccount"  # agents.<name>.gcpServiceAccount in the stack outputs
SOPS_FIELD = "gcp_kms"


@dataclass(frozen=True)
class GcpStackPlan:
    project: str
    cluster_project: str
    key_ring: str
    location: str
    encrypters: tuple[str, ...]  # members allowed to encrypt to every agent's key (people, CI)

    @property
    def cloud(self) -> str:
        return "gcp"

    @property
    def identity_output(self) -> str:
        return IDENTITY_OUTPUT

    @property
    def sops_field(self) -> str:
        return SOPS_FIELD

    @property
    def key_ring_id(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/keyRings/{self.key_ring}"

    def guard(self) -> EgressGuard:
        return EgressGuard(required=GKE_METADATA_SERVER)

    def agent_plan(
        self, settings: Settings, name: str, agent: AgentSpec, namespace: str, service_account: str
    ) -> "GcpAgentPlan":
        return agent_plan(self, settings, name, agent, namespace, service_account)

    def name_problems(self, settings: Settings, name: str, agent: AgentSpec) -> list[str]:
        """Bucket names GCS would refuse (it reserves names that look like Google's)."""
        return [
            f"agents.{name}.cloud.buckets[{index}]: GCS bucket {bucket!r} begins with 'goog' or contains 'google' "
            "(or a look-alike), which GCS refuses; rename the bucket or the agent"
            for index, short in enumerate(agent.buckets)
            if (bucket := settings.names.gcp_bucket(self.project, name, short)).startswith("goog")
            or any(word in bucket for word in _GOOGLE_LIKE)
        ]


@dataclass(frozen=True)
class GcpBucket:
    """One of the agent's buckets: its short name in the spec, its name in GCS, its Pulumi logical names."""

    short: str
    name: str
    resource_name: str  # the bucket's
    grant_name: str  # the agent's objectUser grant on it


@dataclass(frozen=True)
class StorageCondition:
    """The IAM condition of a project-wide storage grant: the buckets whose names start with `prefix`."""

    prefix: str
    title: str
    description: str
    expression: str


def storage_condition(name: str, prefix: str) -> StorageCondition:
    return StorageCondition(
        prefix=prefix,
        title=f"nuketown {name}: buckets {prefix}*",
        description=f"Objects in the buckets nuketown agent {name} owns (scope {prefix}*).",
        # The prefix keeps its trailing dash: ada- covers ada-data, never adax-data.
        expression=f'resource.name.startsWith("projects/_/buckets/{prefix}")',
    )


@dataclass(frozen=True)
class GcpResourceNames:
    """Pulumi logical names of an agent's GCP resources (stable: a change would replace them)."""

    agent: str

    @property
    def workload_identity(self) -> str:
        return f"{self.agent}-workload-identity"

    @property
    def decrypter(self) -> str:
        return f"{self.agent}-decrypter"

    @property
    def storage(self) -> str:
        return f"{self.agent}-storage"

    def encrypter(self, member: str) -> str:
        """Named by a hash of the member, so reordering the list never re-creates a grant."""
        return f"{self.agent}-encrypter-{naming.short_hash(member)}"


@dataclass(frozen=True)
class GcpAgentPlan:
    agent: str
    account_id: str | None  # None: bind the existing account, create nothing for it
    existing_email: str | None
    email: str  # as GCP assigns it (the program takes it from the account's output)
    display_name: str
    account_description: str
    workload_identity_member: str
    key_name: str
    key_id: str
    buckets: tuple[GcpBucket, ...]  # created for the agent, kept with their objects; its grants reach these
    bucket_labels: dict[str, str]  # whose a bucket is: what adoption checks before taking a kept one back
    bucket_location: str
    # The project-wide grant on a bucket-name prefix beyond its own buckets (allow-listed, or nuketown:storage
    # agentPrefix); None: the agent's grants reach its own buckets only.
    storage_condition: "StorageCondition | None"
    names: GcpResourceNames

    @property
    def creates_identity(self) -> bool:
        return self.account_id is not None

    def adoption_problem(self, existing_display_name: str | None) -> str | None:
        """Why an existing account of this agent's id must not be adopted: it carries another agent's display
        name. Ids derive from `nt-<stack>-<agent>`, so stack `dev` with agent `x-ada` and stack `dev-x` with
        agent `ada` derive the same one; adopting it would hand one agent the other's identity and grants."""
        if existing_display_name is None or existing_display_name == self.display_name:
            return None
        return (
            f"agents.{self.agent}: GCP service account {self.account_id} already exists and is not this agent's "
            f"(display name {existing_display_name!r}, this agent's is {self.display_name!r}): another stack's "
            "agent derives the same id, or it was made by hand; rename the agent, or, to adopt it on purpose, "
            f"set its display name to {self.display_name!r}"
        )

    def bucket_adoption_problem(self, bucket: GcpBucket, labels: dict[str, str]) -> str | None:
        """Why an existing bucket of an agent bucket's name must not be adopted: its labels name another owner
        (or none: made another way). Names derive from project, environment and agent, but anyone with the
        project's storage admin can make a bucket of that name first."""
        if all(labels.get(key) == value for key, value in self.bucket_labels.items()):
            return None
        label_flags = ",".join(f"{key}={value}" for key, value in self.bucket_labels.items())
        return (
            f"agents.{self.agent}.cloud.buckets: GCS bucket {bucket.name} already exists and is not this agent's "
            f"(labels {labels!r}): rename the bucket, or, to adopt it on purpose, "
            f"gcloud storage buckets update gs://{bucket.name} --update-labels={label_flags}"
        )

    def annotation(self) -> Annotation:
        return Annotation(GKE_ACCOUNT_ANNOTATION, self.email)

    def credentials(self) -> dict[str, str | None]:
        return {}  # the account is in the annotation


def display_name(environment: str, agent: str) -> str:
    """The account's display name: whose it is, which adoption checks before taking a kept account back."""
    return f"nuketown agent {agent} ({environment})"


def account_member(email: str) -> str:
    """How IAM names a service account as a member of a grant."""
    return f"serviceAccount:{email}"


def stack_plan(settings: Settings) -> GcpStackPlan:
    assert settings.gcp_project is not None  # settings refuse cloud gcp without a project
    return GcpStackPlan(
        project=settings.gcp_project,
        cluster_project=settings.gcp_cluster_project or settings.gcp_project,
        key_ring=settings.names.gcp_key_ring(),
        location=settings.gcp_kms_location,
        encrypters=settings.gcp_kms_encrypters,
    )


def agent_plan(
    stack: GcpStackPlan, settings: Settings, name: str, agent: AgentSpec, namespace: str, service_account: str
) -> GcpAgentPlan:
    existing = agent.identity.gcp_service_account
    prefix = granted_prefix(settings, name, agent)
    account_id = None if existing else settings.names.gcp_service_account_id(name)
    key_name = naming.gcp_crypto_key(name)
    buckets = tuple(
        GcpBucket(
            short=short,
            name=settings.names.gcp_bucket(stack.project, name, short),
            resource_name=naming.resource_name(name, short),
            grant_name=naming.resource_name(name, short, "objects"),
        )
        for short in agent.buckets
    )
    return GcpAgentPlan(
        agent=name,
        account_id=account_id,
        existing_email=existing,
        email=existing or f"{account_id}@{stack.project}.iam.gserviceaccount.com",
        display_name=display_name(settings.names.environment, name),
        account_description=f"Workload identity of nuketown agent {name}; managed by Pulumi.",
        workload_identity_member=account_member(f"{stack.cluster_project}.svc.id.goog[{namespace}/{service_account}]"),
        key_name=key_name,
        key_id=f"{stack.key_ring_id}/cryptoKeys/{key_name}",
        buckets=buckets,
        bucket_labels={BUCKET_STACK_LABEL: settings.names.environment, BUCKET_AGENT_LABEL: name},
        bucket_location=settings.gcp_bucket_location,
        storage_condition=storage_condition(name, prefix) if prefix is not None else None,
        names=GcpResourceNames(name),
    )


def account_resource_name(email_address: str) -> str:
    """projects/<project>/serviceAccounts/<email>, the form IAM policies on an account take."""
    domain = email_address.partition("@")[2]
    project = domain.removesuffix(".iam.gserviceaccount.com") if domain.endswith(".iam.gserviceaccount.com") else "-"
    return f"projects/{project}/serviceAccounts/{email_address}"
