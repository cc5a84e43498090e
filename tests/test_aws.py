"""AWS: IRSA and Pod Identity roles, boundary, KMS key and S3 scoped to each agent, under the mock engine."""

import fnmatch
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from conftest import EXAMPLE, FLEET, make_plan
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from parliament import analyze_policy_string, enhance_finding

from nuketown_stack.clouds.aws import plan as aws_plan
from nuketown_stack.errors import InputError
from nuketown_stack.program.engine import DeclaredResource, EngineResult, run_program
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.render import to_yaml

ACCOUNT = "111122223333"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/5C0FFEE5"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
IRSA = {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC_ARN}
POD_IDENTITY = {
    "nuketown:cloud": "aws",
    "aws:region": "us-east-1",
    "nuketown:awsMode": "podIdentity",
    "nuketown:awsClusterName": "agents",
}
SEVERE = {"MEDIUM", "HIGH", "CRITICAL"}


def run(source: Path, settings: dict[str, str], **config: str) -> EngineResult:
    return run_program(define_stack, "dev", {"nuketown:source": str(source), **settings, **config})


@pytest.fixture(scope="module")
def irsa() -> EngineResult:
    return run(FLEET, IRSA)


@pytest.fixture(scope="module")
def irsa_agent_prefix() -> EngineResult:
    """With nuketown:storage agentPrefix: each agent also reaches every bucket named <agent>-* in the account."""
    return run(FLEET, {**IRSA, "nuketown:storage": "agentPrefix"})


ADA_BUCKET = f"nt-dev--ada--data-{ACCOUNT}-us-east-1-an"  # fleet's ada, bucket data, in the account's namespace


@pytest.fixture(scope="module")
def pod_identity() -> EngineResult:
    return run(FLEET, POD_IDENTITY)


def find(result: EngineResult, typ: str, name: str) -> DeclaredResource:
    matches = [r for r in result.resources if r.type == typ and r.name == name]
    assert len(matches) == 1, f"{typ} {name}: {len(matches)} found"
    return matches[0]


def document(result: EngineResult, typ: str, name: str, field: str = "policy") -> dict[str, Any]:
    return json.loads(find(result, typ, name).inputs[field])


def role_of(result: EngineResult, agent: str) -> DeclaredResource:
    return find(result, "aws:iam/role:Role", agent)


def test_irsa_trust_is_exactly_the_agents_service_account(irsa: EngineResult) -> None:
    role = role_of(irsa, "ada")
    assert role.inputs["name"] == "nuketown-dev--ada"
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AgentServiceAccountViaIrsa",
                "Effect": "Allow",
                "Principal": {"Federated": OIDC_ARN},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{ISSUER}:sub": "system:serviceaccount:nuketown-dev--ada:ada",
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
    assert "StringLike" not in role.inputs["assumeRolePolicy"]


def test_irsa_annotation_is_the_roles_arn(irsa: EngineResult) -> None:
    account = find(irsa, "kubernetes:core/v1:ServiceAccount", "ada")
    assert account.inputs["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/nuketown-dev--ada"
    }
    assert of_type(irsa, "aws:eks/podIdentityAssociation:PodIdentityAssociation") == []


def test_annotation_comes_from_the_role_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from nuketown_stack.program import mock_cloud

    def other_arn(_: str, inputs: dict[str, Any], __: Any) -> dict[str, Any]:
        return {"id": inputs["name"], "arn": f"arn:aws:iam::{ACCOUNT}:role/assigned/{inputs['name']}"}

    monkeypatch.setitem(mock_cloud.COMPUTED_OUTPUTS, "aws:iam/role:Role", other_arn)
    result = run(EXAMPLE, IRSA)
    annotations = find(result, "kubernetes:core/v1:ServiceAccount", "ada").inputs["metadata"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/assigned/nuketown-dev--ada"}


def of_type(result: EngineResult, typ: str) -> list[DeclaredResource]:
    return [r for r in result.resources if r.type == typ]


def test_pod_identity_trust_and_association(pod_identity: EngineResult) -> None:
    trust = json.loads(role_of(pod_identity, "ada").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Sid": "AgentServiceAccountViaPodIdentity",
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": "123456789012",
                    "aws:RequestTag/eks-cluster-name": "agents",
                    "aws:RequestTag/kubernetes-namespace": "nuketown-dev--ada",
                    "aws:RequestTag/kubernetes-service-account": "ada",
                },
                # The cluster by its ARN, as EKS documents for Pod Identity trust (names can repeat).
                "ArnEquals": {"aws:SourceArn": "arn:aws:eks:us-east-1:123456789012:cluster/agents"},
            },
        }
    ]
    association = find(pod_identity, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "ada")
    assert association.inputs == {
        "clusterName": "agents",
        "namespace": "nuketown-dev--ada",
        "serviceAccount": "ada",
        "roleArn": "arn:aws:iam::123456789012:role/nuketown-dev--ada",
    }
    assert "annotations" not in find(pod_identity, "kubernetes:core/v1:ServiceAccount", "ada").inputs["metadata"]


def test_every_role_has_the_boundary(irsa: EngineResult, pod_identity: EngineResult) -> None:
    # The mock caller identity is the OIDC provider's account under IRSA, moto's default account otherwise.
    for result, account in ((irsa, ACCOUNT), (pod_identity, "123456789012")):
        roles = of_type(result, "aws:iam/role:Role")
        assert {r.name for r in roles} == {"ada", "vox", "rio", "a-very-long-agent-name-that-fills-a-namespace-abc"}
        for role in roles:
            boundary = find(result, "aws:iam/policy:Policy", f"{role.name}-boundary")
            assert role.inputs["permissionsBoundary"] == f"arn:aws:iam::{account}:policy/{boundary.inputs['name']}"


def _matches(patterns: Any, action: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action.lower(), p.lower()) for p in ([patterns] if isinstance(patterns, str) else patterns)
    )


@pytest.mark.parametrize(
    "action",
    [
        "iam:CreateRole",
        "iam:PassRole",
        "iam:AttachRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePermissionsBoundary",
        "organizations:LeaveOrganization",
        "sts:AssumeRole",
        "sts:AssumeRoleWithWebIdentity",
    ],
)
def test_boundary_denies_escalation(irsa: EngineResult, action: str) -> None:
    """moto does not evaluate boundaries, so the document is read: an explicit Deny, and no Allow, for each action."""
    statements = document(irsa, "aws:iam/policy:Policy", "ada-boundary")["Statement"]
    denied = [s for s in statements if s["Effect"] == "Deny" and _matches(s["Action"], action) and s["Resource"] == "*"]
    allowed = [s for s in statements if s["Effect"] == "Allow" and _matches(s["Action"], action)]
    assert denied and not allowed


def _allowed(policy: dict[str, Any]) -> set[tuple[str, str]]:
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    return {
        (a, r)
        for s in allows
        for a in s["Action"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }


def test_boundary_allows_only_own_buckets_and_key(irsa: EngineResult, irsa_agent_prefix: EngineResult) -> None:
    key_arn = irsa.outputs["agents"]["ada"]["kmsKey"]
    key = {("kms:Decrypt", key_arn), ("kms:DescribeKey", key_arn)}
    assert _allowed(document(irsa, "aws:iam/policy:Policy", "ada-boundary")) == {
        *((a, f"arn:aws:s3:::{ADA_BUCKET}") for a in aws_plan.BUCKET_ACTIONS),
        *((a, f"arn:aws:s3:::{ADA_BUCKET}/*") for a in aws_plan.OBJECT_ACTIONS),
        *key,
    }
    assert _allowed(document(irsa_agent_prefix, "aws:iam/policy:Policy", "ada-boundary")) == {
        *((a, f"arn:aws:s3:::{ADA_BUCKET}") for a in aws_plan.BUCKET_ACTIONS),
        *((a, f"arn:aws:s3:::{ADA_BUCKET}/*") for a in aws_plan.OBJECT_ACTIONS),
        *((a, "arn:aws:s3:::ada-*") for a in aws_plan.BUCKET_ACTIONS),
        *((a, "arn:aws:s3:::ada-*/*") for a in aws_plan.OBJECT_ACTIONS),
        *key,
    }
    vox_key = irsa.outputs["agents"]["vox"]["kmsKey"]
    assert _allowed(document(irsa, "aws:iam/policy:Policy", "vox-boundary")) == {  # vox has no buckets
        ("kms:Decrypt", vox_key),
        ("kms:DescribeKey", vox_key),
    }


def test_identity_policy(irsa: EngineResult) -> None:
    key_arn = irsa.outputs["agents"]["ada"]["kmsKey"]
    own_account = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    assert document(irsa, "aws:iam/rolePolicy:RolePolicy", "ada")["Statement"] == [
        {
            "Sid": "OwnBuckets",
            "Effect": "Allow",
            "Action": list(aws_plan.BUCKET_ACTIONS),
            "Resource": [f"arn:aws:s3:::{ADA_BUCKET}"],
            "Condition": own_account,
        },
        {
            "Sid": "OwnObjects",
            "Effect": "Allow",
            "Action": list(aws_plan.OBJECT_ACTIONS),
            "Resource": [f"arn:aws:s3:::{ADA_BUCKET}/*"],
            "Condition": own_account,
        },
        {
            "Sid": "DecryptOwnSecrets",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": key_arn,
        },
    ]
    assert find(irsa, "aws:iam/rolePolicy:RolePolicy", "ada").inputs["role"] == "nuketown-dev--ada"


def test_kms_key_alias_and_policy(irsa: EngineResult) -> None:
    key = find(irsa, "aws:kms/key:Key", "ada")
    assert key.inputs == {
        "description": "Secrets of nuketown agent ada",
        "enableKeyRotation": True,
        "deletionWindowInDays": 30,
        "tags": {"nuketown.io/stack": "dev", "nuketown.io/agent": "ada"},
    }
    # Kept, not protected: removing the agent must not fail `pulumi up` (tests/engine/test_engine_lifecycle.py).
    assert not key.protect and key.retain_on_delete
    key_id = irsa.outputs["agents"]["ada"]["kmsKey"].rsplit("/", 1)[1]
    assert find(irsa, "aws:kms/alias:Alias", "ada").inputs == {"name": "alias/nuketown/dev/ada", "targetKeyId": key_id}
    policy = document(irsa, "aws:kms/keyPolicy:KeyPolicy", "ada")
    decrypters = [s["Principal"]["AWS"] for s in policy["Statement"] if _matches(s["Action"], "kms:Decrypt")]
    assert decrypters == [f"arn:aws:iam::{ACCOUNT}:role/nuketown-dev--ada"]
    administers = [s for s in policy["Statement"] if _matches(s["Action"], "kms:PutKeyPolicy")]
    assert [s["Principal"]["AWS"] for s in administers] == [f"arn:aws:iam::{ACCOUNT}:root"]
    assert find(irsa, "aws:kms/keyPolicy:KeyPolicy", "ada").inputs["keyId"] == key_id


def _all_documents(result: EngineResult) -> list[tuple[str, str, str]]:
    return [
        (r.type, r.name, r.inputs[field])
        for r in result.resources
        if r.type.startswith("aws:")
        for field in ("policy", "assumeRolePolicy")
        if field in r.inputs
    ]


# parliament reads every document as an identity policy: it wants a Resource, which IAM forbids in a role's
# trust policy, and knows SAML federation but not IAM OIDC providers. Those two findings, on trust policies
# only, are its limits, not problems of the documents; everything else must be clean.
TRUST_POLICY_LIMITS = {
    ("MALFORMED", "Statement contains neither Resource nor NotResource"),
    ("UNKNOWN_FEDERATION_SOURCE", OIDC_ARN),
}


@pytest.mark.parametrize("mode", ["irsa", "pod_identity"])
def test_parliament_finds_nothing_medium_or_worse(mode: str, request: pytest.FixtureRequest) -> None:
    result: EngineResult = request.getfixturevalue(mode)
    documents = _all_documents(result)
    assert len(documents) == 4 * 4  # boundary, role trust, key policy, identity policy per agent
    for typ, name, text in documents:
        findings = [enhance_finding(f) for f in analyze_policy_string(text).findings]
        severe = {(f.issue, str(f.detail)) for f in findings if f.severity in SEVERE}
        if typ == "aws:iam/role:Role":
            severe -= TRUST_POLICY_LIMITS
        assert severe == set(), f"{typ} {name}: {severe}"


def test_parliament_would_catch_a_bad_document() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": "arn:aws:s3:::ada-*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.amazonaws.com"}},
            }
        ],
    }
    severities = {enhance_finding(f).severity for f in analyze_policy_string(json.dumps(bad)).findings}
    assert severities & SEVERE


@set_initial_no_auth_action_count(8)  # setting up the user and the buckets; every call after it is checked
@mock_aws
def _s3_as_agent(policy: dict[str, Any], own: str = "ada-data") -> dict[str, bool]:
    """What a user holding `policy` may do, under moto's IAM enforcement, on its own bucket `own` and on others:
    vox-data (another agent's) and adax-data (a name that starts like ada's)."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="ada")
    iam.put_user_policy(UserName="ada", PolicyName="nuketown-agent", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="ada")["AccessKey"]
    admin = boto3.client("s3", region_name="us-east-1")
    for bucket in (own, "vox-data", "adax-data"):
        admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket="vox-data", Key="notes", Body=b"vox's")
    admin.put_object(Bucket="adax-data", Key="notes", Body=b"not ada's")
    agent = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    attempts = {
        "write own": lambda: agent.put_object(Bucket=own, Key="notes", Body=b"ada's"),
        "read own": lambda: agent.get_object(Bucket=own, Key="notes")["Body"].read() == b"ada's",
        "list own": lambda: agent.list_objects_v2(Bucket=own)["KeyCount"] == 1,
        "read other agent": lambda: agent.get_object(Bucket="vox-data", Key="notes"),
        "write other agent": lambda: agent.put_object(Bucket="vox-data", Key="x", Body=b"x"),
        "list other agent": lambda: agent.list_objects_v2(Bucket="vox-data"),
        "read prefix without dash": lambda: agent.get_object(Bucket="adax-data", Key="notes"),
        "write prefix without dash": lambda: agent.put_object(Bucket="adax-data", Key="x", Body=b"x"),
    }
    allowed = {}
    for name, attempt in attempts.items():
        try:
            allowed[name] = attempt() is not False
        except agent.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "AccessDenied", error
            allowed[name] = False
    return allowed


ONLY_ITS_OWN = {
    "write own": True,
    "read own": True,
    "list own": True,
    "read other agent": False,
    "write other agent": False,
    "list other agent": False,
    "read prefix without dash": False,
    "write prefix without dash": False,
}


def test_s3_policy_under_moto_iam_enforcement(irsa: EngineResult, irsa_agent_prefix: EngineResult) -> None:
    """ada reaches its own bucket and nothing else, neither by default (its declared bucket, exactly) nor with
    storage agentPrefix (also ada-*, with its dash: never adax-data)."""
    allowed = _s3_as_agent(document(irsa, "aws:iam/rolePolicy:RolePolicy", "ada"), own=ADA_BUCKET)
    assert allowed == ONLY_ITS_OWN
    allowed = _s3_as_agent(document(irsa_agent_prefix, "aws:iam/rolePolicy:RolePolicy", "ada"))
    assert allowed == ONLY_ITS_OWN


def test_moto_check_would_catch_a_prefix_without_its_dash(irsa_agent_prefix: EngineResult) -> None:
    policy = document(irsa_agent_prefix, "aws:iam/rolePolicy:RolePolicy", "ada")
    loose = json.loads(json.dumps(policy).replace("ada-*", "ada*"))
    assert _s3_as_agent(loose)["read prefix without dash"] is True


def test_a_given_role_gets_its_own_key_and_grants(example_raw: dict[str, Any], tmp_path: Path) -> None:
    """An allow-listed existing role is bound and granted the agent's key and buckets; nothing caps it."""
    existing = "arn:aws:iam::111122223333:role/teams/ada-agent"
    example_raw["agents"]["ada"]["identity"]["awsRoleArn"] = existing
    source = tmp_path / "spec.json"
    source.write_text(json.dumps(example_raw))
    allowed = {"nuketown:allowedIdentities": json.dumps({"ada": existing})}
    grants = [
        ("aws:kms/key:Key", "ada"),
        ("aws:kms/alias:Alias", "ada"),
        ("aws:s3/bucket:Bucket", "ada--artifacts"),
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ada--artifacts"),
        ("aws:kms/keyPolicy:KeyPolicy", "ada"),
        ("aws:iam/rolePolicy:RolePolicy", "ada"),
    ]
    for settings, expected in (
        (IRSA, grants),
        (POD_IDENTITY, [*grants, ("aws:eks/podIdentityAssociation:PodIdentityAssociation", "ada")]),
    ):
        result = run(source, settings, **allowed)
        created = [
            (r.type, r.name)
            for r in result.resources
            if r.type.startswith("aws:") and r.parent == "nuketown:index:Agent::ada"
        ]
        assert created == expected  # no role and no boundary: the role is not this stack's
        outputs = result.outputs["agents"]["ada"]
        assert outputs["roleArn"] == existing
        assert {"path_regex": "^secrets/ada/", "kms": outputs["kmsKey"]} in yaml.safe_load(
            result.outputs["sopsConfig"]
        )["creation_rules"]
        role_policy = find(result, "aws:iam/rolePolicy:RolePolicy", "ada").inputs
        # Named for the stack and agent, so it never overwrites a policy of the role's owner or another stack.
        assert (role_policy["role"], role_policy["name"]) == ("ada-agent", "nuketown-dev--ada")
        decrypters = [
            s["Principal"]["AWS"]
            for s in document(result, "aws:kms/keyPolicy:KeyPolicy", "ada")["Statement"]
            if _matches(s["Action"], "kms:Decrypt")
        ]
        assert decrypters == [existing]
    irsa_result = run(source, IRSA, **allowed)
    annotations = find(irsa_result, "kubernetes:core/v1:ServiceAccount", "ada").inputs["metadata"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": existing}
    association = find(
        run(source, POD_IDENTITY, **allowed), "aws:eks/podIdentityAssociation:PodIdentityAssociation", "ada"
    )
    assert association.inputs["roleArn"] == existing


def test_outputs_and_sops_config(irsa: EngineResult) -> None:
    ada = irsa.outputs["agents"]["ada"]
    assert ada["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/nuketown-dev--ada"
    assert ada["kmsKey"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    rules = yaml.safe_load(irsa.outputs["sopsConfig"])["creation_rules"]
    assert {"path_regex": "^secrets/ada/", "kms": ada["kmsKey"]} in rules
    assert len(rules) == 4


def test_metadata_address_is_blocked_on_aws(irsa: EngineResult, pod_identity: EngineResult) -> None:
    ada = find(irsa, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "ada").inputs["spec"]["egress"]
    assert ada == [
        {
            "to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}},
            ]
        }
    ]
    vox = find(irsa, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "vox").inputs["spec"]["egress"]
    assert vox[0]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.169.254/32"]}}]
    assert vox[1]["to"] == [{"ipBlock": {"cidr": "2001:db8::/32"}}]  # does not contain the metadata address
    # Pod Identity's credentials come from the node agent, which stays reachable.
    vox_pi = find(pod_identity, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "vox").inputs["spec"]["egress"]
    assert vox_pi[-2:] == [
        {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"protocol": "TCP", "port": 80}]},
        {"to": [{"ipBlock": {"cidr": "fd00:ec2::23/128"}}], "ports": [{"protocol": "TCP", "port": 80}]},
    ]
    rio = find(irsa, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "rio").inputs["spec"]["egress"]
    assert rio == []


def test_metadata_address_is_not_blocked_on_gcp(example_json: dict[str, Any]) -> None:
    """GKE workload identity itself answers on 169.254.169.254 (without a cloud it is blocked: test_plan.py)."""
    plan = make_plan(example_json, **{"nuketown:cloud": "gcp", "gcp:project": "p"})
    policy = next(o for o in plan.objects() if o.kind == "NetworkPolicy" and o.resource_name == "ada")
    assert policy.manifest["spec"]["egress"] == [{}]


def test_egress_to_the_metadata_address_is_refused(example_raw: dict[str, Any]) -> None:
    example_raw["agents"]["vox"]["network"]["egress"] = [{"cidr": "169.254.169.254/32", "ports": [80]}]
    with pytest.raises(InputError) as caught:
        make_plan(example_raw, **IRSA)
    assert caught.value.problems == (
        "agents.vox.cloud.network.egress[0]: '169.254.169.254/32' lies inside '169.254.169.254/32', the instance "
        "metadata service that holds node credentials; it stays blocked on this cloud",
    )


def test_render_matches_the_program(fleet_json: dict[str, Any], irsa: EngineResult) -> None:
    rendered = list(yaml.safe_load_all(to_yaml(make_plan(fleet_json, **IRSA).objects())))
    declared = [r.inputs for r in irsa.resources if r.type.startswith("kubernetes:")]

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    assert sorted(declared, key=key) == sorted(rendered, key=key)


def test_every_resource_declared_once(irsa: EngineResult, pod_identity: EngineResult) -> None:
    for result in (irsa, pod_identity):
        assert len(result.registrations) == len(set(result.registrations))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"nuketown:cloud": "aws", "aws:region": "us-east-1"},
            "nuketown:awsOidcProviderArn: required when nuketown:cloud is aws and nuketown:awsMode is irsa "
            "(pulumi config set nuketown:awsOidcProviderArn ...)",
        ),
        (
            {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsMode": "podIdentity"},
            "nuketown:awsClusterName: required when nuketown:cloud is aws and nuketown:awsMode is podIdentity "
            "(pulumi config set nuketown:awsClusterName ...)",
        ),
        (
            {**IRSA, "nuketown:awsOidcProviderArn": "oidc.eks.us-east-1.amazonaws.com/id/X"},
            "nuketown:awsOidcProviderArn: String should match pattern "
            "'^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:oidc-provider/.+$', got 'oidc.eks.us-east-1.amazonaws.com/id/X'",
        ),
    ],
)
def test_refused_settings(settings: dict[str, str], expected: str) -> None:
    with pytest.raises(InputError) as caught:
        run(EXAMPLE, settings)
    assert caught.value.problems == (expected,)
