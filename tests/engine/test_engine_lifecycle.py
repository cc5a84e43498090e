"""An agent added, removed and added back, as the engine and the providers would carry it out.

Engine and provider rules this relies on, read in their source:
- pulumi/pulumi `pkg/resource/deploy/step.go` DeleteStep.Apply (lines 644-664): a
  delete of a `protect`ed resource fails (deleteProtectedError); one of a
  `retainOnDelete` resource never calls the provider's delete. `step_executor.go`
  (lines 435-462): a protected delete lets the other steps run, then fails the
  deployment, so every `up` that removes an agent with a protected key would fail.
- pulumi/pulumi `pkg/resource/deploy/step_generator.go` (lines 1102-1113, v3.174+): an
  `import_` id on a resource not in the state imports it; on one already in the state
  with that id it is an ordinary same/update, so adopting is safe to repeat.
- terraform-provider-google `resource_google_service_account.go`,
  `create_ignore_already_exists`: a 409 on create reads the existing account instead.
- terraform-provider-aws `internal/service/kms/key_policy.go` resourceKeyPolicyDelete:
  deleting the key policy resource restores the default key policy, so a removed
  agent's kept role loses its decrypt grant.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program.engine import EngineResult, run_program
from nuketown_stack.program.mock_cloud import Kept
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.diff import diff_plans

GCP = {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"}
AWS = {
    "nuketown:cloud": "aws",
    "aws:region": "us-east-1",
    "nuketown:awsOidcProviderArn": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
}
CLOUDS = {"kubernetes": {}, "gcp": GCP, "aws": AWS}


def run(raw: dict[str, Any], tmp_path: Path, config: dict[str, str], kept: Kept | None = None) -> EngineResult:
    source = tmp_path / f"spec-{len(list(tmp_path.iterdir()))}.json"
    source.write_text(json.dumps(raw))
    return run_program(define_stack, "dev", {"nuketown:source": str(source), **config}, kept=kept)


def without_vox(raw: dict[str, Any]) -> dict[str, Any]:
    head = json.loads(json.dumps(raw))
    del head["agents"]["vox"]
    return head


def kept_after(removed: EngineResult, stack: str = "dev") -> Kept:
    """What the cloud still holds once the removal ran: every retained resource, under its physical id."""
    retained = [r for r in removed.resources if r.retain_on_delete]
    rings = {
        f"projects/{r.inputs['project']}/locations/{r.inputs['location']}/keyRings/{r.inputs['name']}"
        for r in retained
        if r.type == "gcp:kms/keyRing:KeyRing"
    }
    ring = next(iter(rings), "")
    return Kept(
        gcp_key_rings=frozenset(rings),
        gcp_keys=frozenset(
            f"{ring}/cryptoKeys/{r.inputs['name']}" for r in retained if r.type == "gcp:kms/cryptoKey:CryptoKey"
        ),
        aws_roles=tuple(
            (r.inputs["name"], r.inputs["tags"]["nuketown.io/stack"], r.inputs["tags"]["nuketown.io/agent"])
            for r in retained
            if r.type == "aws:iam/role:Role"
        ),
        gcp_accounts=tuple(
            (r.inputs["accountId"], stack, r.name) for r in retained if r.type == "gcp:serviceaccount/account:Account"
        ),
        aws_keys=tuple(
            (stack, r.inputs["tags"]["nuketown.io/agent"], f"key-of-{r.name}")
            for r in retained
            if r.type == "aws:kms/key:Key"
        ),
        gcp_buckets=tuple(
            (r.inputs["name"], r.inputs["labels"]["nuketown-stack"], r.inputs["labels"]["nuketown-agent"])
            for r in retained
            if r.type == "gcp:storage/bucket:Bucket"
        ),
        aws_buckets=tuple(
            (r.inputs["bucket"], r.inputs["tags"]["nuketown.io/stack"], r.inputs["tags"]["nuketown.io/agent"])
            for r in retained
            if r.type == "aws:s3/bucket:Bucket"
        ),
    )


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_nothing_that_holds_data_or_identity_is_protected_and_all_of_it_is_kept(
    example_json: dict[str, Any], tmp_path: Path, cloud: str
) -> None:
    """So removing an agent neither fails `up` (no protect) nor deletes its data (retainOnDelete)."""
    result = run(example_json, tmp_path, CLOUDS[cloud])
    assert [r.name for r in result.resources if r.protect] == []
    holding = [r for r in result.resources if r.type in KEPT]
    assert holding and all(r.retain_on_delete for r in holding)


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_removing_an_agent_deletes_nothing_that_holds_data_or_identity(
    example_json: dict[str, Any], tmp_path: Path, cloud: str
) -> None:
    base = run(example_json, tmp_path, CLOUDS[cloud]).to_json()["resources"]
    head = run(without_vox(example_json), tmp_path, CLOUDS[cloud]).to_json()["resources"]
    diff = diff_plans(base, head)
    removed = [c for c in diff.changes if c.action == "delete"]
    assert {c.agent for c in diff.changes} == {"vox"}
    assert {c.action for c in diff.changes} == {"delete"}
    by_key = {(r["type"], r["name"]): r for r in base}
    for change in removed:
        resource = by_key[(change.type, change.name)]
        assert not resource["protect"]
        if change.type in KEPT:
            assert resource["retainOnDelete"], change  # the provider's delete is never called
            assert change.effect == "kept" and change.reason is not None and "kept" in change.reason


@pytest.mark.parametrize("cloud", ["gcp", "aws"])
def test_an_agent_added_back_takes_back_what_was_kept(example_json: dict[str, Any], tmp_path: Path, cloud: str) -> None:
    config = CLOUDS[cloud]
    removed = run(without_vox(example_json), tmp_path, config)
    first = run(example_json, tmp_path, config)
    kept = kept_after(first)  # vox's key, account or role, namespace and volumes were retained
    readded = run(example_json, tmp_path, config, kept=kept)
    imported = {(r.type, r.name): r.import_id for r in readded.resources if r.import_id}
    if cloud == "gcp":
        ring = "projects/acme-agents/locations/global/keyRings/nuketown-dev"
        assert imported == {
            ("gcp:kms/keyRing:KeyRing", "nuketown-dev"): ring,
            ("gcp:kms/cryptoKey:CryptoKey", "ada"): f"{ring}/cryptoKeys/ada",
            ("gcp:kms/cryptoKey:CryptoKey", "vox"): f"{ring}/cryptoKeys/vox",
            # The buckets, with their objects, under their GCS import id <project>/<name>.
            ("gcp:storage/bucket:Bucket", "ada--artifacts"): "acme-agents/acme-agents--dev--ada--artifacts",
            ("gcp:storage/bucket:Bucket", "vox--papers"): "acme-agents/acme-agents--dev--vox--papers",
        }
        account = next(
            r for r in readded.resources if r.type == "gcp:serviceaccount/account:Account" and r.name == "vox"
        )
        assert account.inputs["createIgnoreAlreadyExists"] is True  # the kept account, its grants with it
    else:
        assert imported[("aws:kms/key:Key", "vox")] == "key-of-vox"  # the old key: old secrets still decrypt
        assert imported[("aws:s3/bucket:Bucket", "vox--papers")] == "nt-dev--vox--papers-111122223333-us-east-1-an"
        assert imported[("aws:iam/role:Role", "vox")] == "nuketown-dev--vox"  # the kept role, same unique id
        assert imported[("aws:iam/policy:Policy", "vox-boundary")] == (
            "arn:aws:iam::111122223333:policy/nuketown-dev--vox--boundary"
        )
        # The key policy is declared again and names the same (kept) role, so decrypt works again.
        policy = next(r for r in readded.resources if r.type == "aws:kms/keyPolicy:KeyPolicy" and r.name == "vox")
        decrypters = [
            s["Principal"]["AWS"]
            for s in json.loads(policy.inputs["policy"])["Statement"]
            if s["Sid"] == "AgentDecrypts"
        ]
        assert decrypters == ["arn:aws:iam::111122223333:role/nuketown-dev--vox"]
    # Namespaces and volumes come back through the adopting (upserting) Kubernetes provider.
    adopting = {(r.type, r.name) for r in readded.resources if r.provider == "kubernetes-adopting"}
    assert ("kubernetes:core/v1:PersistentVolumeClaim", "vox-datasets") in adopting
    assert ("kubernetes:core/v1:Namespace", "vox") in adopting
    assert "vox" not in removed.outputs["agents"]


@pytest.mark.parametrize("cloud", ["gcp", "aws"])
def test_each_kept_kind_is_adopted_the_way_the_keeping_table_says(
    example_json: dict[str, Any], tmp_path: Path, cloud: str
) -> None:
    """plan/keeping.py's `adoption` column is a contract: with everything of a first run kept in the cloud and
    cluster, the program declares every kept kind again through exactly that mechanism."""
    config = CLOUDS[cloud]
    kept = kept_after(run(example_json, tmp_path, config))
    readded = run(example_json, tmp_path, config, kept=kept)
    seen = set()
    for resource in readded.resources:
        row = KEPT.get(resource.type)
        if row is None:
            continue
        seen.add(row.adoption)
        if row.adoption == "upsert":
            assert resource.provider == "kubernetes-adopting", resource.name
        elif row.adoption == "import":
            assert resource.import_id, (resource.type, resource.name)
        else:
            assert resource.inputs["createIgnoreAlreadyExists"] is True, resource.name
    assert seen == ({"upsert", "import", "ignore"} if cloud == "gcp" else {"upsert", "import"})
