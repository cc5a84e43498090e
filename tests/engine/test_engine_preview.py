"""The program under a first `pulumi preview`, where nothing the clouds assign is known yet.

In a real first preview a new service account's email, a key's id and a role's ARN
are unknown, and so is every input computed from them (pulumi/pulumi
`sdk/python/lib/pulumi/runtime/resource.py`: an empty id is unknown; `rpc.py`
resolve_outputs: in preview an output the provider did not return is unknown;
`output.py` apply: a callback never runs on an unknown value). The mock engine runs
the program that way (`known=frozenset()`), and `plan` shows such values as
"(known after apply)" instead of inventing them.
"""

import json
from typing import Any

import pytest
from conftest import EXAMPLE, FLEET, FLEET_ALLOWED

from nuketown_stack.program.declared import UNKNOWN_TEXT
from nuketown_stack.program.engine import DuplicateUrnError, EngineResult, run_program
from nuketown_stack.program.program import define_stack

OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
STACKS = {
    "none": {},
    "gcp": {"nuketown:cloud": "gcp", "gcp:project": "acme-agents", **FLEET_ALLOWED},
    "irsa": {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC},
    "pod-identity": {
        "nuketown:cloud": "aws",
        "aws:region": "us-east-1",
        "nuketown:awsMode": "podIdentity",
        "nuketown:awsClusterName": "agents",
    },
}


def first_preview(source: Any, config: dict[str, str]) -> EngineResult:
    return run_program(define_stack, "dev", {"nuketown:source": str(source), **config}, known=frozenset())


def inputs_of(result: EngineResult, typ: str, name: str) -> dict[str, Any]:
    return next(r.inputs for r in result.resources if r.type == typ and r.name == name)


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("source", [EXAMPLE, FLEET], ids=["example", "fleet"])
def test_the_program_runs_clean_under_a_first_preview(source: Any, stack: str) -> None:
    result = first_preview(source, STACKS[stack])
    after_up = run_program(define_stack, "dev", {"nuketown:source": str(source), **STACKS[stack]})
    assert [(r.type, r.name) for r in result.resources] == [(r.type, r.name) for r in after_up.resources]


def test_gcp_values_assigned_on_creation_are_unknown_not_invented() -> None:
    result = first_preview(EXAMPLE, STACKS["gcp"])
    annotations = inputs_of(result, "kubernetes:core/v1:ServiceAccount", "ada")["metadata"]["annotations"]
    assert annotations == {"iam.gke.io/gcp-service-account": UNKNOWN_TEXT}
    assert inputs_of(result, "gcp:kms/cryptoKey:CryptoKey", "ada")["keyRing"] == UNKNOWN_TEXT
    assert inputs_of(result, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "ada-decrypter")["member"] == (
        UNKNOWN_TEXT
    )
    ada = result.outputs["agents"]["ada"]
    assert (ada["gcpServiceAccount"], ada["kmsKey"], result.outputs["sopsConfig"]) == (UNKNOWN_TEXT,) * 3
    assert ada["namespace"] == "nuketown-dev--ada"  # what the program decides is known
    assert "iam.gserviceaccount.com" not in json.dumps(result.to_json())  # no email was made up


def test_aws_values_assigned_on_creation_are_unknown_not_invented() -> None:
    result = first_preview(EXAMPLE, STACKS["irsa"])
    annotations = inputs_of(result, "kubernetes:core/v1:ServiceAccount", "ada")["metadata"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": UNKNOWN_TEXT}
    assert inputs_of(result, "aws:iam/role:Role", "ada")["permissionsBoundary"] == UNKNOWN_TEXT
    assert inputs_of(result, "aws:kms/keyPolicy:KeyPolicy", "ada")["policy"] == UNKNOWN_TEXT
    # The trust policy depends only on settings and names, so it is known even before anything exists.
    trust = json.loads(inputs_of(result, "aws:iam/role:Role", "ada")["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Federated": OIDC}
    assert ":key/" not in json.dumps(result.to_json())  # no key id was made up


def test_what_is_in_the_state_is_known_in_a_later_preview() -> None:
    """A preview after an `up`: existing resources' outputs come from the state, new ones' are unknown."""
    config = STACKS["gcp"]
    first = run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **config})
    in_state = frozenset((r.type, r.name) for r in first.resources if not r.name.startswith("vox"))
    later = run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **config}, known=in_state)
    assert later.outputs["agents"]["ada"]["gcpServiceAccount"] == "nt-dev--ada@acme-agents.iam.gserviceaccount.com"
    assert later.outputs["agents"]["vox"]["gcpServiceAccount"] == UNKNOWN_TEXT


def test_a_duplicate_urn_fails_the_run_as_the_engine_does() -> None:
    """pulumi/pulumi `pkg/resource/deploy/step_generator.go` generateURN: a second resource with the same URN
    (type chain and name) bails the deployment with "Duplicate resource URN"; the mock monitor alone would let
    the second silently overwrite the first."""
    import pulumi

    def program() -> dict[str, Any]:
        pulumi.ComponentResource("nuketown:index:Agent", "a")
        pulumi.ComponentResource("nuketown:index:Agent", "a")
        return {}

    with pytest.raises(DuplicateUrnError, match=r"Duplicate resource URN 'urn:pulumi:dev::nuketown::"):
        run_program(program, "dev", {})
