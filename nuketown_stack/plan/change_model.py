"""How the Pulumi engine, its providers and the Kubernetes API carry out a change: the rows diff reads.

Every row names the source it was read from; tests/engine/test_engine_change_model.py holds
one test per row. Pure: no pulumi, no I/O.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nuketown_stack.inputs.quantity import parse_quantity

_K8S_DIFF = "pulumi-kubernetes provider/pkg/provider/diff.go (forceNewProperties)"
_K8S_NAMED = "pulumi-kubernetes provider/pkg/provider/provider.go 1645-1658 (an explicit name is deleted first)"
_GOOGLE = "terraform-provider-google google/services"
_AWS = "terraform-provider-aws internal/service"


@dataclass(frozen=True)
class Replacement:
    """Inputs a provider cannot change in place, and which of them make the object a different one."""

    replace_on: tuple[str, ...]  # a change under any of these paths replaces the resource
    # The paths that name the physical object: when all are unchanged, the replacement must take over the
    # very name the old object still holds (a kept old object is never deleted). Empty: it has no name
    # of its own (a new one is always another object).
    identity: tuple[str, ...]
    delete_before_replace: bool  # the old object goes first (fixed names), as the provider asks
    source: str


_K8S_NAME = ("metadata.name", "metadata.namespace")


def _kubernetes(*extra: str) -> Replacement:
    return Replacement(_K8S_NAME + extra, _K8S_NAME, True, f"{_K8S_DIFF}; {_K8S_NAMED}")


MODEL: dict[str, Replacement] = {
    "kubernetes:core/v1:Namespace": _kubernetes(),
    "kubernetes:core/v1:ServiceAccount": _kubernetes(),
    # Immutable by default: pulumi-kubernetes replaces a ConfigMap whose data changes (enableConfigMapMutable off).
    "kubernetes:core/v1:ConfigMap": _kubernetes("data", "binaryData"),
    "kubernetes:core/v1:ResourceQuota": _kubernetes("spec.scopes"),
    "kubernetes:core/v1:LimitRange": _kubernetes(),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _kubernetes(),
    "kubernetes:core/v1:PersistentVolumeClaim": _kubernetes(
        "spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"
    ),
    "kubernetes:apps/v1:Deployment": _kubernetes("spec.selector"),
    "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler": _kubernetes(),
    "kubernetes:keda.sh/v1alpha1:ScaledObject": _kubernetes(),
    # forceNew lists no admissionregistration kind: only the name replaces them.
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": _kubernetes(),
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": _kubernetes(),
    "gcp:serviceaccount/account:Account": Replacement(
        ("accountId", "project"),
        ("accountId", "project"),
        False,
        f"{_GOOGLE}/resourcemanager/resource_google_service_account.go",
    ),
    "gcp:kms/keyRing:KeyRing": Replacement(
        ("name", "location", "project"),
        ("name", "location", "project"),
        False,
        f"{_GOOGLE}/kms/resource_kms_key_ring.go",
    ),
    "gcp:kms/cryptoKey:CryptoKey": Replacement(
        (
            "keyRing",
            "name",
            "cryptoKeyBackend",
            "destroyScheduledDuration",
            "importOnly",
            "purpose",
            "versionTemplate.protectionLevel",
        ),
        ("keyRing", "name"),
        False,
        f"{_GOOGLE}/kms/resource_kms_crypto_key.go",
    ),
    # IAM members have no update: every argument forces a new member (tpgiamresource/resource_iam_member.go).
    "gcp:serviceaccount/iAMMember:IAMMember": Replacement(
        ("serviceAccountId", "role", "member", "condition"),
        (),
        False,
        f"{_GOOGLE}/../tpgiamresource/resource_iam_member.go",
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": Replacement(
        ("cryptoKeyId", "role", "member", "condition"), (), False, f"{_GOOGLE}/../tpgiamresource/resource_iam_member.go"
    ),
    "gcp:projects/iAMMember:IAMMember": Replacement(
        ("project", "role", "member", "condition"), (), False, f"{_GOOGLE}/../tpgiamresource/resource_iam_member.go"
    ),
    # A bucket's name is global (GCS) or the account's (S3): a replacement under the same name meets the kept one.
    "gcp:storage/bucket:Bucket": Replacement(
        ("name", "location", "project", "enableObjectRetention"),
        ("name",),
        False,
        f"{_GOOGLE}/storage/resource_storage_bucket.go",
    ),
    "gcp:storage/bucketIAMMember:BucketIAMMember": Replacement(
        ("bucket", "role", "member", "condition"), (), False, f"{_GOOGLE}/../tpgiamresource/resource_iam_member.go"
    ),
    "aws:s3/bucket:Bucket": Replacement(
        ("bucket", "bucketPrefix", "bucketNamespace", "objectLockEnabled"),
        ("bucket",),
        False,
        f"{_AWS}/s3/bucket.go (bucket, bucket_prefix; bucket_namespace, object_lock_enabled as pulumi-aws documents)",
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Replacement(
        ("bucket",), (), False, f"{_AWS}/s3/bucket_public_access_block.go"
    ),
    "aws:iam/role:Role": Replacement(("name", "namePrefix", "path"), ("name",), False, f"{_AWS}/iam/role.go"),
    "aws:iam/policy:Policy": Replacement(
        ("name", "namePrefix", "path", "description"), ("name", "path"), False, f"{_AWS}/iam/policy.go"
    ),
    "aws:iam/rolePolicy:RolePolicy": Replacement(
        ("name", "namePrefix", "role"), (), False, f"{_AWS}/iam/role_policy.go"
    ),
    # A key has no name: a replacement is always a new key with a new id.
    "aws:kms/key:Key": Replacement(
        ("customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"),
        (),
        False,
        f"{_AWS}/kms/key.go",
    ),
    "aws:kms/alias:Alias": Replacement(("name", "namePrefix"), (), False, f"{_AWS}/kms/alias.go"),
    "aws:kms/keyPolicy:KeyPolicy": Replacement((), (), False, f"{_AWS}/kms/key_policy.go"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": Replacement(
        ("clusterName", "namespace", "serviceAccount"), (), False, f"{_AWS}/eks/pod_identity_association.go"
    ),
}

# The Kubernetes provider is replaced, and every resource it manages with it, when the cluster it points
# at changes (pulumi-kubernetes provider.go DiffConfig, 454-569: kubeconfig, context or cluster).
KUBERNETES_PROVIDER_CLUSTER = ("kubeconfig", "context", "cluster")


def under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def forces_replace(type_token: str, path: str) -> bool:
    model = MODEL.get(type_token)
    return model is not None and under(path, model.replace_on)


def same_physical_object(type_token: str, changed_paths: list[str]) -> bool:
    """Whether a replaced resource keeps the name that identifies it (so old and new compete for one name)."""
    model = MODEL.get(type_token)
    return model is not None and bool(model.identity) and not any(under(p, model.identity) for p in changed_paths)


# --- rules of the Kubernetes API server ------------------------------------------------------------------------


def claim_size(claim_inputs: Mapping[str, Any]) -> Decimal | None:
    try:
        return parse_quantity(str(claim_inputs["spec"]["resources"]["requests"]["storage"]))
    except (KeyError, TypeError, ValueError):
        return None


def shrinks(old_claim: Mapping[str, Any], new_claim: Mapping[str, Any]) -> bool:
    """The API server refuses to make a bound claim smaller (only expansion is supported)."""
    old, new = claim_size(old_claim), claim_size(new_claim)
    return old is not None and new is not None and new < old


def quota_admits(hard: Mapping[str, str], claims: list[Mapping[str, Any]]) -> bool:
    """ResourceQuota admission for claims: their count and requested storage stay within the quota's hard limits.
    Kubernetes documentation, "Resource Quotas", storage resource quota (persistentvolumeclaims, requests.storage)."""
    if "persistentvolumeclaims" in hard and len(claims) > int(hard["persistentvolumeclaims"]):
        return False
    if "requests.storage" in hard:
        total = sum((claim_size(c) or Decimal(0) for c in claims), Decimal(0))
        return total <= parse_quantity(hard["requests.storage"]) if hard["requests.storage"] != "0" else total == 0
    return True
