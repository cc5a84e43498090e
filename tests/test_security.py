"""Isolation between agents: each security finding reproduced with its evaluator, then shown refused by the CLI.

The spec may be written by the agents themselves, so an agent naming another
agent's identity, the deployer's, or a scope beyond its own name must be refused
unless the stack's operator allow-listed it (`nuketown:allowedIdentities`,
`nuketown:allowedScopes`).
"""

import json
from pathlib import Path
from typing import Any

import celpy
import pytest
from conftest import CLOUD_SETTINGS, config_flags

from nuketown_stack import cli

PROJECT = "acme-agents"
GCP = config_flags(CLOUD_SETTINGS["gcp"])
IRSA = config_flags(CLOUD_SETTINGS["irsa"])
POD_IDENTITY = config_flags(CLOUD_SETTINGS["podIdentity"])


def write_spec(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(raw))
    return str(path)


def with_eve(raw: dict[str, Any], **identity: str) -> dict[str, Any]:
    """A new agent `eve`, a copy of ada with its own uid and scope, and the identity fields given."""
    eve = json.loads(json.dumps(raw["agents"]["ada"]))
    eve.update(uid=1199, home="/agents/eve")
    eve["identity"] = {**eve["identity"], "scope": "eve-*", **identity}
    raw["agents"]["eve"] = eve
    return raw


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout, and stderr without the line naming the settings read."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    err = "".join(line for line in captured.err.splitlines(keepends=True) if not line.startswith("settings: "))
    return code, captured.out, err


VOX_ACCOUNT = f"nt-dev-vox@{PROJECT}.iam.gserviceaccount.com"
DEPLOYER = f"pulumi-deployer@{PROJECT}.iam.gserviceaccount.com"


def test_an_agent_cannot_take_the_account_this_stack_creates_for_another(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: before, `eve` naming vox's generated account planned with exit 0 and was granted it."""
    source = write_spec(tmp_path, with_eve(example_raw, gcpServiceAccount=VOX_ACCOUNT))
    code, out, err = run_cli(capsys, "plan", source, *GCP)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"agents.eve.cloud.identity.gcpServiceAccount: {VOX_ACCOUNT!r} is the identity this stack creates for vox; "
        "it cannot be given"
    ]
    # Even an operator's allow-list cannot hand one agent's account to another.
    allowed = json.dumps({"eve": VOX_ACCOUNT})
    code, _, err = run_cli(capsys, "plan", source, *GCP, "-c", f"nuketown:allowedIdentities={allowed}")
    assert code == 2
    assert "is the identity this stack creates for vox" in err


def test_an_existing_identity_needs_the_operators_allow_list(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: the deployer's own account (or any other) was bound as soon as the spec named it."""
    source = write_spec(tmp_path, with_eve(example_raw, gcpServiceAccount=DEPLOYER))
    code, _, err = run_cli(capsys, "render", source, *GCP)
    assert code == 2
    assert err.splitlines() == [
        f"agents.eve.cloud.identity.gcpServiceAccount: {DEPLOYER!r} is not allow-listed for eve; binding an existing "
        f"identity needs the stack's operator to set nuketown:allowedIdentities {{'eve': {DEPLOYER!r}}} "
        "in the stack settings"
    ]
    # Allow-listed for another agent is not allow-listed for eve.
    code, _, _ = run_cli(
        capsys, "render", source, *GCP, "-c", f"nuketown:allowedIdentities={json.dumps({'ada': DEPLOYER})}"
    )
    assert code == 2
    code, out, err = run_cli(
        capsys, "render", source, *GCP, "-c", f"nuketown:allowedIdentities={json.dumps({'eve': DEPLOYER})}"
    )
    assert code == 0, err
    assert f"iam.gke.io/gcp-service-account: {DEPLOYER}" in out


@pytest.mark.parametrize("mode", [IRSA, POD_IDENTITY], ids=["irsa", "pod-identity"])
def test_a_given_role_needs_the_allow_list_on_aws(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    """Finding 1: in Pod Identity mode any role ARN was associated (controller roles often trust every pod)."""
    controller = "arn:aws:iam::111122223333:role/karpenter-controller"
    source = write_spec(tmp_path, with_eve(example_raw, awsRoleArn=controller))
    code, _, err = run_cli(capsys, "plan", source, *mode)
    assert code == 2
    assert err.startswith(f"agents.eve.cloud.identity.awsRoleArn: {controller!r} is not allow-listed for eve")
    vox_role = "arn:aws:iam::111122223333:role/nuketown-dev-vox"
    source = write_spec(tmp_path, with_eve(example_raw, awsRoleArn=vox_role))
    code, _, err = run_cli(
        capsys, "plan", source, *mode, "-c", f"nuketown:allowedIdentities={json.dumps({'eve': vox_role})}"
    )
    assert code == 2
    assert "is the identity this stack creates for vox; it cannot be given" in err


def test_identities_of_another_cloud_are_not_checked_against_this_ones_allow_list(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GCP account in the spec of an AWS stack binds nothing there, so it needs no allow-list entry."""
    source = write_spec(tmp_path, with_eve(example_raw, gcpServiceAccount=DEPLOYER))
    code, _, err = run_cli(capsys, "render", source, *IRSA)
    assert code == 0, err


def _cel_allows(expression: str, resource_name: str) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": resource_name})}))


@pytest.mark.parametrize(
    ("scope", "reaches"),
    [("ada*", "projects/_/buckets/adam-payroll"), ("p*", "projects/_/buckets/prod-terraform-state")],
)
def test_a_scope_beyond_the_agents_name_is_refused(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], scope: str, reaches: str
) -> None:
    """Finding 4: the storage condition built from such a scope reaches other people's buckets (cel-python)."""
    condition = f'resource.name.startsWith("projects/_/buckets/{scope[:-1]}")'
    assert _cel_allows(condition, reaches)  # what the grant would have allowed
    example_raw["agents"]["ada"]["identity"]["scope"] = scope
    source = write_spec(tmp_path, example_raw)
    code, _, err = run_cli(capsys, "plan", source, *GCP)
    assert code == 2
    assert err.splitlines() == [
        f"agents.ada.cloud.identity.scope: {scope!r} reaches beyond ada's own names; a scope starts with 'ada-' "
        "(like 'ada-*'), or the stack's operator allow-lists it in nuketown:allowedScopes"
    ]


def test_an_allow_listed_scope_is_accepted(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example_raw["agents"]["ada"]["identity"]["scope"] = "ml-shared-*"
    source = write_spec(tmp_path, example_raw)
    allowed = json.dumps({"ada": ["ml-shared-*"]})
    code, out, err = run_cli(capsys, "plan", source, *GCP, "--json", "-c", f"nuketown:allowedScopes={allowed}")
    assert code == 0, err
    grants = [r for r in json.loads(out)["resources"] if r["type"] == "gcp:projects/iAMMember:IAMMember"]
    assert [g["inputs"]["condition"]["expression"] for g in grants if g["name"] == "ada-storage"] == [
        'resource.name.startsWith("projects/_/buckets/ml-shared-")'
    ]
