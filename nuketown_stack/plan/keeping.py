"""What holds data or identity, and how the program keeps it: the one table plan, declare and diff read.

Nothing here is `protect`ed: the engine fails any `pulumi up` that would delete a
protected resource (pulumi/pulumi pkg/resource/deploy/step.go, deleteProtectedError),
so removing an agent from nix would need `pulumi state unprotect` by hand. Instead
these resources are `retainOnDelete`: the engine never calls the provider's delete for
them, on removal, replacement or destroy (step.go, DeleteStep.Apply), so the agent's
data and identity stay in the cluster and the cloud, outside the stack. When the agent
comes back, what was kept is adopted rather than created anew.
"""

from dataclasses import dataclass
from typing import Literal

# How a kept resource is taken back when the program declares it again (each declare module does it
# this way; tests/engine/test_engine_lifecycle.py checks every kept kind against this column):
#   upsert   the Kubernetes provider's upsertExistingObjects applies over the existing object
#   import   the program finds it through the cloud's API and sets `import_` to its id
#   ignore   the resource's own create treats "already exists" as success (GCP createIgnoreAlreadyExists)
Adoption = Literal["upsert", "import", "ignore"]


@dataclass(frozen=True)
class Kept:
    holds: str  # what a user loses with it, in the words diff uses
    adoption: Adoption


KEPT: dict[str, Kept] = {
    "kubernetes:core/v1:Namespace": Kept("namespace (deleting it deletes every volume in it)", "upsert"),
    "kubernetes:core/v1:PersistentVolumeClaim": Kept("volume", "upsert"),
    "gcp:kms/keyRing:KeyRing": Kept("KMS key ring", "import"),
    "gcp:kms/cryptoKey:CryptoKey": Kept("KMS key (the secrets encrypted to it)", "import"),
    "gcp:serviceaccount/account:Account": Kept("service account (and every grant made to it)", "ignore"),
    "aws:kms/key:Key": Kept("KMS key (the secrets encrypted to it)", "import"),
    "aws:iam/role:Role": Kept("IAM role (and every grant made to it)", "import"),
    "aws:iam/policy:Policy": Kept("permissions boundary of a kept role", "import"),
    "gcp:storage/bucket:Bucket": Kept("bucket (and every object in it)", "import"),
    "aws:s3/bucket:Bucket": Kept("bucket (and every object in it)", "import"),
}


def is_kept(type_token: str) -> bool:
    return type_token in KEPT
