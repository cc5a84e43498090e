"""GCP: workload identity, KMS and storage scoped to each agent, under the mock engine with the real strings."""

import json
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from conftest import EXAMPLE, FLEET, FLEET_ALLOWED, make_plan

from nuketown_stack.clouds.gcp import plan as gcp_plan
from nuketown_stack.errors import InputError
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan import naming
from nuketown_stack.program.engine import DeclaredResource, EngineResult, run_program
from nuketown_stack.program.mock_cloud import Kept
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.render import to_yaml

PROJECT = "acme-agents"
GCP = {"nuketown:cloud": "gcp", "gcp:project": PROJECT}

RING = f"projects/{PROJECT}/locations/global/keyRings/nuketown-dev"
ENCRYPTERS = ["group:secret-writers@acme.dev", "serviceAccount:ci@acme-ci.iam.gserviceaccount.com"]

# Roles that could change IAM, act as another identity, or administer keys or buckets.
FORBIDDEN_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.securityAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/cloudkms.admin",
    "roles/storage.admin",
    "roles/iam.workloadIdentityPoolAdmin",
}


def run(source: Path, **config: str) -> EngineResult:
    return run_program(define_stack, "dev", {"nuketown:source": str(source), **GCP, **config})


@pytest.fixture(scope="module")
def fleet() -> EngineResult:
    return run(
        FLEET,
        **{
            "nuketown:gcpKmsEncrypters": json.dumps(ENCRYPTERS),
            **FLEET_ALLOWED,
        },
    )


@pytest.fixture(scope="module")
def fleet_agent_prefix() -> EngineResult:
    """With nuketown:storage agentPrefix: each agent also reaches every bucket named <agent>-* in the project."""
    return run(FLEET, **{**FLEET_ALLOWED, "nuketown:storage": "agentPrefix"})


def find(result: EngineResult, typ: str, name: str) -> DeclaredResource:
    matches = [r for r in result.resources if r.type == typ and r.name == name]
    assert len(matches) == 1, f"{typ} {name}: {len(matches)} found"
    return matches[0]


def of_type(result: EngineResult, typ: str) -> list[DeclaredResource]:
    return [r for r in result.resources if r.type == typ]


def test_service_account_per_agent(fleet: EngineResult) -> None:
    account = find(fleet, "gcp:serviceaccount/account:Account", "ada")
    assert account.inputs == {
        "accountId": "nt-dev--ada",
        "project": PROJECT,
        "displayName": "nuketown agent ada (dev)",
        "description": "Workload identity of nuketown agent ada; managed by Pulumi.",
        "createIgnoreAlreadyExists": True,  # a kept account is adopted when its agent comes back
    }
    assert account.parent == "nuketown:index:Agent::ada"
    assert account.retain_on_delete and not account.protect
    long_id = find(
        fleet, "gcp:serviceaccount/account:Account", "a-very-long-agent-name-that-fills-a-namespace-abc"
    ).inputs["accountId"]
    assert long_id == naming.Names("dev").gcp_service_account_id("a-very-long-agent-name-that-fills-a-namespace-abc")
    assert len(long_id) == 30


def test_workload_identity_is_granted_on_the_agents_own_account(fleet: EngineResult) -> None:
    grant = find(fleet, "gcp:serviceaccount/iAMMember:IAMMember", "ada-workload-identity")
    assert grant.inputs == {
        "serviceAccountId": f"projects/{PROJECT}/serviceAccounts/nt-dev--ada@{PROJECT}.iam.gserviceaccount.com",
        "role": "roles/iam.workloadIdentityUser",
        "member": f"serviceAccount:{PROJECT}.svc.id.goog[nuketown-dev--ada/ada]",
    }


def test_cluster_project_names_the_pool() -> None:
    result = run(EXAMPLE, **{"nuketown:gcpClusterProject": "acme-gke"})
    grant = find(result, "gcp:serviceaccount/iAMMember:IAMMember", "vox-workload-identity")
    assert grant.inputs["member"] == "serviceAccount:acme-gke.svc.id.goog[nuketown-dev--vox/vox]"
    assert find(result, "gcp:serviceaccount/account:Account", "vox").inputs["project"] == PROJECT


def test_kubernetes_account_is_annotated_with_the_email(fleet: EngineResult) -> None:
    account = find(fleet, "kubernetes:core/v1:ServiceAccount", "ada")
    assert account.inputs["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": f"nt-dev--ada@{PROJECT}.iam.gserviceaccount.com"
    }


def test_annotation_comes_from_the_account_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """If GCP assigned another email, the annotation would follow it: it is not rebuilt from strings."""
    from nuketown_stack.program import mock_cloud

    def other_email(_: str, inputs: dict[str, Any], __: Any) -> dict[str, Any]:
        email = f"assigned-{inputs['accountId']}@elsewhere.iam.gserviceaccount.com"
        return {"email": email, "name": f"projects/elsewhere/serviceAccounts/{email}"}

    monkeypatch.setitem(mock_cloud.COMPUTED_OUTPUTS, "gcp:serviceaccount/account:Account", other_email)
    result = run(EXAMPLE)
    annotations = find(result, "kubernetes:core/v1:ServiceAccount", "ada").inputs["metadata"]["annotations"]
    assert annotations == {"iam.gke.io/gcp-service-account": "assigned-nt-dev--ada@elsewhere.iam.gserviceaccount.com"}
    decrypter = find(result, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "ada-decrypter")
    assert decrypter.inputs["member"] == "serviceAccount:assigned-nt-dev--ada@elsewhere.iam.gserviceaccount.com"


def test_key_ring_and_keys_are_kept_not_protected(fleet: EngineResult) -> None:
    """retainOnDelete keeps them on removal and destroy; protect would fail every `up` that removes an agent."""
    ring = find(fleet, "gcp:kms/keyRing:KeyRing", "nuketown-dev")
    assert ring.inputs == {"name": "nuketown-dev", "location": "global", "project": PROJECT}
    assert ring.retain_on_delete and not ring.protect
    assert ring.import_id is None
    key = find(fleet, "gcp:kms/cryptoKey:CryptoKey", "ada")
    assert key.inputs == {"name": "ada", "keyRing": RING, "purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "7776000s"}
    assert key.retain_on_delete and not key.protect
    assert key.parent == "nuketown:index:Agent::ada"


def test_only_the_agent_decrypts_its_key(fleet: EngineResult) -> None:
    grants = [
        r.inputs
        for r in of_type(fleet, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if r.inputs["cryptoKeyId"] == f"{RING}/cryptoKeys/ada"
    ]
    assert sorted((g["role"], g["member"]) for g in grants) == [
        ("roles/cloudkms.cryptoKeyDecrypter", f"serviceAccount:nt-dev--ada@{PROJECT}.iam.gserviceaccount.com"),
        ("roles/cloudkms.cryptoKeyEncrypter", "group:secret-writers@acme.dev"),
        ("roles/cloudkms.cryptoKeyEncrypter", "serviceAccount:ci@acme-ci.iam.gserviceaccount.com"),
    ]


def test_each_bucket_is_the_agents_own_and_its_grant_names_it_alone(fleet: EngineResult) -> None:
    """By default an agent's storage grant is a bucket-level objectUser on each bucket the stack creates for it:
    no project-wide grant, no condition, nothing another stack or the platform holds."""
    bucket = find(fleet, "gcp:storage/bucket:Bucket", "ada--data").inputs
    assert bucket == {
        "name": f"{PROJECT}--dev--ada--data",
        "project": PROJECT,
        "location": "US",
        "labels": {"nuketown-stack": "dev", "nuketown-agent": "ada"},
        "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced",
    }
    grant = find(fleet, "gcp:storage/bucketIAMMember:BucketIAMMember", "ada--data--objects").inputs
    assert grant == {
        "bucket": f"{PROJECT}--dev--ada--data",
        "role": "roles/storage.objectUser",
        "member": f"serviceAccount:nt-dev--ada@{PROJECT}.iam.gserviceaccount.com",
    }
    assert of_type(fleet, "gcp:projects/iAMMember:IAMMember") == []
    assert find(fleet, "gcp:storage/bucket:Bucket", "ada--data").retain_on_delete


def test_storage_grant_is_an_object_role_with_a_prefix_condition(fleet_agent_prefix: EngineResult) -> None:
    grant = find(fleet_agent_prefix, "gcp:projects/iAMMember:IAMMember", "ada-storage")
    assert grant.inputs == {
        "project": PROJECT,
        "role": "roles/storage.objectUser",
        "member": f"serviceAccount:nt-dev--ada@{PROJECT}.iam.gserviceaccount.com",
        "condition": {
            "title": "nuketown ada: buckets ada-*",
            "description": "Objects in the buckets nuketown agent ada owns (scope ada-*).",
            "expression": 'resource.name.startsWith("projects/_/buckets/ada-")',
        },
    }


def _condition_allows(expression: str, resource_name: str) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": resource_name})}))


@pytest.mark.parametrize(
    ("resource_name", "allowed"),
    [
        ("projects/_/buckets/ada-data", True),
        ("projects/_/buckets/ada-data/objects/notes/today.md", True),
        ("projects/_/buckets/ada-", True),
        ("projects/_/buckets/vox-data", False),
        ("projects/_/buckets/vox-data/objects/ada-data", False),
        ("projects/_/buckets/adax-data", False),
        ("projects/_/buckets/ada", False),
        ("projects/_/buckets/ada/objects/x", False),
    ],
)
def test_storage_condition_evaluated_with_cel(
    fleet_agent_prefix: EngineResult, resource_name: str, allowed: bool
) -> None:
    member = find(fleet_agent_prefix, "gcp:projects/iAMMember:IAMMember", "ada-storage")
    expression = member.inputs["condition"]["expression"]
    assert _condition_allows(expression, resource_name) is allowed


def test_no_escalation_and_no_authoritative_iam(fleet: EngineResult) -> None:
    roles = {r.inputs["role"] for r in fleet.resources if "role" in r.inputs}
    assert roles == {
        gcp_plan.WORKLOAD_IDENTITY_USER,
        gcp_plan.KMS_DECRYPTER,
        gcp_plan.KMS_ENCRYPTER,
        gcp_plan.STORAGE_OBJECT_ROLE,
    }
    assert not roles & FORBIDDEN_ROLES
    authoritative = [r.type for r in fleet.resources if "IAMBinding" in r.type or "IAMPolicy" in r.type]
    assert authoritative == []
    # workloadIdentityUser is granted only to the cluster's own pool member, on one account.
    for grant in of_type(fleet, "gcp:serviceaccount/iAMMember:IAMMember"):
        assert grant.inputs["member"].startswith(f"serviceAccount:{PROJECT}.svc.id.goog[")


def test_a_given_account_gets_its_own_key_and_grants(fleet: EngineResult) -> None:
    """rio names an allow-listed existing account: nothing is created for the account, everything is granted to it."""
    rio = [
        (r.type, r.name)
        for r in fleet.resources
        if r.parent == "nuketown:index:Agent::rio" and r.type.startswith("gcp:")
    ]
    assert rio == [
        ("gcp:serviceaccount/iAMMember:IAMMember", "rio-workload-identity"),
        ("gcp:kms/cryptoKey:CryptoKey", "rio"),
        ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "rio-decrypter"),
        *[
            ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", f"rio-encrypter-{naming.short_hash(e)}")
            for e in ENCRYPTERS
        ],
        ("gcp:storage/bucket:Bucket", "rio--runbooks"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "rio--runbooks--objects"),
    ]
    given = "rio-agent@fleet-project.iam.gserviceaccount.com"
    assert find(fleet, "gcp:serviceaccount/iAMMember:IAMMember", "rio-workload-identity").inputs[
        "serviceAccountId"
    ] == (f"projects/fleet-project/serviceAccounts/{given}")
    assert find(fleet, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "rio-decrypter").inputs["member"] == (
        f"serviceAccount:{given}"
    )
    storage = find(fleet, "gcp:storage/bucketIAMMember:BucketIAMMember", "rio--runbooks--objects").inputs
    assert storage["member"] == f"serviceAccount:{given}"
    assert storage["bucket"] == f"{PROJECT}--dev--rio--runbooks"
    annotations = find(fleet, "kubernetes:core/v1:ServiceAccount", "rio").inputs["metadata"]["annotations"]
    assert annotations == {"iam.gke.io/gcp-service-account": given}
    assert fleet.outputs["agents"]["rio"] == {
        "namespace": "nuketown-dev--rio",
        "serviceAccount": "rio",
        "uid": 1102,
        "gcpServiceAccount": given,
        "kmsKey": f"{RING}/cryptoKeys/rio",
    }


def test_outputs_and_sops_config(fleet: EngineResult) -> None:
    assert fleet.outputs["agents"]["ada"] == {
        "namespace": "nuketown-dev--ada",
        "serviceAccount": "ada",
        "uid": 1100,
        "gcpServiceAccount": f"nt-dev--ada@{PROJECT}.iam.gserviceaccount.com",
        "kmsKey": f"{RING}/cryptoKeys/ada",
    }
    sops = yaml.safe_load(fleet.outputs["sopsConfig"])
    assert sops == {
        "creation_rules": [
            {
                "path_regex": "^secrets/a-very-long-agent-name-that-fills-a-namespace-abc/",
                "gcp_kms": f"{RING}/cryptoKeys/a-very-long-agent-name-that-fills-a-namespace-abc",
            },
            {"path_regex": "^secrets/ada/", "gcp_kms": f"{RING}/cryptoKeys/ada"},
            {"path_regex": "^secrets/rio/", "gcp_kms": f"{RING}/cryptoKeys/rio"},
            {"path_regex": "^secrets/vox/", "gcp_kms": f"{RING}/cryptoKeys/vox"},
        ]
    }


def test_kept_ring_and_keys_are_adopted(fleet: EngineResult) -> None:
    """GCP never frees a key ring or key name: what a removed agent or a destroyed stack left is imported."""
    kept = Kept(gcp_key_rings=frozenset({RING}), gcp_keys=frozenset({f"{RING}/cryptoKeys/vox"}))
    result = run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **GCP}, kept=kept)
    assert find(result, "gcp:kms/keyRing:KeyRing", "nuketown-dev").import_id == RING
    assert find(result, "gcp:kms/cryptoKey:CryptoKey", "vox").import_id == f"{RING}/cryptoKeys/vox"
    assert find(result, "gcp:kms/cryptoKey:CryptoKey", "ada").import_id is None  # never existed: created
    assert [r.name for r in fleet.resources if r.import_id] == []  # a first deployment imports nothing


def test_kms_location_setting() -> None:
    result = run(EXAMPLE, **{"nuketown:gcpKmsLocation": "europe-west4"})
    assert find(result, "gcp:kms/cryptoKey:CryptoKey", "ada").inputs["keyRing"] == (
        f"projects/{PROJECT}/locations/europe-west4/keyRings/nuketown-dev"
    )


def test_render_shows_the_same_annotation(fleet_json: dict[str, Any], fleet: EngineResult) -> None:
    rendered = list(yaml.safe_load_all(to_yaml(make_plan(fleet_json, **GCP, **FLEET_ALLOWED).objects())))
    declared = [r.inputs for r in fleet.resources if r.type.startswith("kubernetes:")]

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    assert sorted(declared, key=key) == sorted(rendered, key=key)
    identity = next(d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "ada-identity")
    assert 'provider = "gcp"' in identity["data"]["identity.toml"]


def test_every_resource_declared_once(fleet: EngineResult) -> None:
    assert len(fleet.registrations) == len(set(fleet.registrations))


def test_gcp_without_project_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), "nuketown:cloud": "gcp"})
    assert caught.value.problems == (
        "gcp:project: required when nuketown:cloud is gcp (pulumi config set gcp:project ...)",
    )


def test_two_agents_cannot_share_an_existing_account(example_raw: dict[str, Any]) -> None:
    shared = "shared@acme-agents.iam.gserviceaccount.com"
    for agent in ("ada", "vox"):
        example_raw["agents"][agent]["identity"]["gcpServiceAccount"] = shared
    with pytest.raises(InputError) as caught:
        load_spec(example_raw)
    assert caught.value.problems == (
        f"agents.vox.cloud.identity.gcpServiceAccount: '{shared}' is already ada's; "
        "each agent needs an identity of its own",
    )


def test_plan_warns_that_the_pool_trusts_every_cluster_of_its_project(example_json: dict[str, Any]) -> None:
    """One cluster per identity project: said on every plan that cannot tell which cluster uses the pool."""
    pool_warning = "the workload identity pool acme-agents.svc.id.goog trusts every cluster of project acme-agents"
    assert any(pool_warning in w for w in make_plan(example_json, **GCP).warnings)
    elsewhere = {**GCP, "nuketown:gkeCluster": "projects/other-project/locations/europe-west1/clusters/agents"}
    assert any(pool_warning in w for w in make_plan(example_json, **elsewhere).warnings)
    named = {**GCP, "nuketown:gkeCluster": "projects/acme-agents/locations/europe-west1/clusters/agents"}
    assert not any("svc.id.goog" in w for w in make_plan(example_json, **named).warnings)
