"""The policy pack (policy/): each rule on the program's real resources, and on what it must refuse."""

import copy
from typing import Any

import pytest
from conftest import EXAMPLE, FLEET, FLEET_ALLOWED
from nuketown_policy import (
    RESOURCE_RULES,
    authoritative_gcp_iam_problems,
    deployment_pod_security_problems,
    namespace_isolation_problems,
    role_boundary_problems,
    unconditioned_storage_grant_problems,
)
from policies import POLICIES
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs, StackValidationPolicy

from nuketown_stack.engine import run_program
from nuketown_stack.program import define_stack

OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
STACKS = {
    "kubernetes": {},
    "gcp": {"nuketown:cloud": "gcp", "gcp:project": "acme-agents", **FLEET_ALLOWED},
    "aws-irsa": {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC},
    "aws-pod-identity": {
        "nuketown:cloud": "aws",
        "aws:region": "us-east-1",
        "nuketown:awsMode": "podIdentity",
        "nuketown:awsClusterName": "agents",
    },
}


def declared(config: dict[str, str], source: Any = EXAMPLE) -> list[tuple[str, dict[str, Any]]]:
    result = run_program(define_stack, "dev", {"nuketown:source": str(source), **config})
    return [(r.type, r.inputs) for r in result.resources]


@pytest.fixture(scope="module")
def gcp_resources() -> list[tuple[str, dict[str, Any]]]:
    return declared(STACKS["gcp"])


@pytest.fixture(scope="module")
def aws_resources() -> list[tuple[str, dict[str, Any]]]:
    return declared(STACKS["aws-irsa"])


def first(resources: list[tuple[str, dict[str, Any]]], resource_type: str) -> dict[str, Any]:
    return copy.deepcopy(next(props for typ, props in resources if typ == resource_type))


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("source", [EXAMPLE, FLEET], ids=["example", "fleet"])
def test_the_program_passes_every_rule(stack: str, source: Any) -> None:
    resources = declared({**STACKS[stack], "nuketown:storageClass": "standard-rwo"}, source)
    problems = [p for typ, props in resources for rule in RESOURCE_RULES for p in rule(typ, props)]
    assert problems + namespace_isolation_problems(resources) == []


def test_a_role_without_boundary_is_refused(aws_resources: list[tuple[str, dict[str, Any]]]) -> None:
    role = first(aws_resources, "aws:iam/role:Role")
    assert role_boundary_problems("aws:iam/role:Role", role) == []
    del role["permissionsBoundary"]
    assert role_boundary_problems("aws:iam/role:Role", role) == [
        "IAM role nuketown-dev-ada has no permissions boundary"
    ]


@pytest.mark.parametrize(
    "resource_type",
    [
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
        "gcp:serviceaccount/iAMBinding:IAMBinding",
        "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding",
        "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
    ],
)
def test_authoritative_gcp_iam_is_refused(resource_type: str) -> None:
    [problem] = authoritative_gcp_iam_problems(resource_type, {"role": "roles/viewer", "members": ["user:a@b.c"]})
    assert "authoritative" in problem


def test_additive_gcp_iam_is_allowed() -> None:
    for member in ("gcp:projects/iAMMember:IAMMember", "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"):
        assert authoritative_gcp_iam_problems(member, {}) == []


def test_a_storage_grant_without_condition_is_refused(gcp_resources: list[tuple[str, dict[str, Any]]]) -> None:
    grant = first(gcp_resources, "gcp:projects/iAMMember:IAMMember")
    assert unconditioned_storage_grant_problems("gcp:projects/iAMMember:IAMMember", grant) == []
    del grant["condition"]
    [problem] = unconditioned_storage_grant_problems("gcp:projects/iAMMember:IAMMember", grant)
    assert problem.startswith("roles/storage.objectUser granted to serviceAccount:nt-dev-ada@")
    assert problem.endswith("on the project without a condition")


def test_a_privileged_deployment_is_refused(gcp_resources: list[tuple[str, dict[str, Any]]]) -> None:
    deployment = first(gcp_resources, "kubernetes:apps/v1:Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["privileged"] = True
    container["securityContext"]["allowPrivilegeEscalation"] = True
    problems = deployment_pod_security_problems("kubernetes:apps/v1:Deployment", deployment)
    assert len(problems) >= 2
    assert all(p.startswith("Deployment ada: ") for p in problems)


def test_a_namespace_without_isolation_is_refused(gcp_resources: list[tuple[str, dict[str, Any]]]) -> None:
    opened = copy.deepcopy(gcp_resources)
    for typ, props in opened:
        if typ == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and props["metadata"]["namespace"].endswith("ada"):
            props["spec"]["ingress"] = [{"from": [{"namespaceSelector": {}}]}]
    assert namespace_isolation_problems(opened) == [
        "agent namespace nuketown-dev-ada has no NetworkPolicy denying all ingress"
    ]
    without = [(t, p) for t, p in gcp_resources if t != "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    assert len(namespace_isolation_problems(without)) == 2


# --- the CrossGuard wiring --------------------------------------------------------------------------------


def test_policies_report_through_crossguard(aws_resources: list[tuple[str, dict[str, Any]]]) -> None:
    """Each rule's problems reach report_violation; names and enforcement are what the pack publishes."""
    assert [p.name for p in POLICIES] == [
        "nuketown-role-boundary",
        "nuketown-authoritative-gcp-iam",
        "nuketown-unconditioned-storage-grant",
        "nuketown-deployment-pod-security",
        "nuketown-namespace-isolation",
    ]
    assert {p.enforcement_level.value for p in POLICIES} == {"mandatory"}
    role = first(aws_resources, "aws:iam/role:Role")
    del role["permissionsBoundary"]
    reported: list[str] = []
    args = ResourceValidationArgs(
        "aws:iam/role:Role", role, "urn:pulumi:dev::nuketown::aws:iam/role:Role::ada", "ada", None, None
    )
    POLICIES[0].validate(args, lambda message, urn=None: reported.append(message))
    assert reported == ["IAM role nuketown-dev-ada has no permissions boundary"]

    stack_policy = POLICIES[-1]
    assert isinstance(stack_policy, StackValidationPolicy)
    namespaces = [
        PolicyResource(typ, props, f"urn:{typ}::{i}", str(i), None, None, None, [], {})
        for i, (typ, props) in enumerate(aws_resources)
        if typ == "kubernetes:core/v1:Namespace"
    ]
    reported.clear()
    stack_policy.validate(StackValidationArgs(namespaces), lambda message, urn=None: reported.append(message))
    assert len(reported) == 2
