"""The engine's change model, row by row, as diff applies it.

Each row of nuketown_stack.plan.change_model.MODEL was read in the source its `source` names:
pulumi-kubernetes `provider/pkg/provider/diff.go` (the force-new paths of each kind, and
`metadata.name`/`namespace` for all) and `provider.go` (lines 1645-1658: an object with an
explicit name is deleted before its replacement is created); the Terraform providers behind
pulumi-gcp and pulumi-aws for the `ForceNew` arguments of each resource type used here
(terraform-provider-google `resource_google_service_account.go`, `resource_kms_key_ring.go`,
`resource_kms_crypto_key.go`, `tpgiamresource/resource_iam_member.go`; terraform-provider-aws
`internal/service/iam/role.go`, `policy.go`, `role_policy.go`, `internal/service/kms/key.go`,
`alias.go`, `key_policy.go`, `internal/service/eks/pod_identity_association.go`).
"""

import pytest
from conftest import EXAMPLE

from nuketown_stack.plan import change_model
from nuketown_stack.plan.change_model import MODEL
from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

ROWS = sorted(MODEL.items())


@pytest.mark.parametrize(("type_token", "row"), ROWS, ids=[t for t, _ in ROWS])
def test_each_row_names_its_source_and_replaces_on_its_paths(type_token: str, row: change_model.Replacement) -> None:
    assert ".go" in row.source  # read in the provider's source, not guessed
    for path in row.replace_on:
        assert change_model.forces_replace(type_token, path)
        assert change_model.forces_replace(type_token, f"{path}.nested")
    assert not change_model.forces_replace(type_token, "tags.team")  # an ordinary field is an update
    if type_token.startswith("kubernetes:"):
        assert row.delete_before_replace and row.identity == ("metadata.name", "metadata.namespace")


def test_a_kept_object_under_its_own_name_is_the_same_physical_object() -> None:
    claim = "kubernetes:core/v1:PersistentVolumeClaim"
    assert change_model.same_physical_object(claim, ["spec.storageClassName"])
    assert not change_model.same_physical_object(claim, ["metadata.namespace", "spec.storageClassName"])
    assert not change_model.same_physical_object("aws:kms/key:Key", ["keyUsage"])  # a key has no name: always new


@pytest.mark.parametrize("cloud", ["none", "gcp", "aws"])
def test_every_type_the_program_declares_has_a_row(cloud: str) -> None:
    """A type without a row would be diffed as if every change were an update."""
    config = {
        "none": {},
        "gcp": {"nuketown:cloud": "gcp", "gcp:project": "p"},
        "aws": {
            "nuketown:cloud": "aws",
            "aws:region": "us-east-1",
            "nuketown:awsMode": "podIdentity",
            "nuketown:awsClusterName": "c",
        },
    }[cloud]
    result = run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **config})
    declared = {r.type for r in result.resources if not r.type.startswith(("pulumi:", "nuketown:"))}
    assert declared <= set(MODEL)
    assert set(KEPT) <= set(MODEL)


def test_claims_only_ever_grow() -> None:
    """Kubernetes: a bound claim can be expanded, never shrunk (the API server refuses)."""
    small = {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    big = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    assert change_model.shrinks(big, small) and not change_model.shrinks(small, big)
