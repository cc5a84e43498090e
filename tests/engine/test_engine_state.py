"""What the mock engine hands back as a resource's state: computed outputs and the echoed inputs the program reads.

A real preview returns the provider's planned state. The mock engine returns only what the program
reads back: what the cloud computes (`mock_cloud.COMPUTED_OUTPUTS`) and the inputs a provider echoes
(`mock_cloud.ECHOED_INPUTS`). Any other output is unknown to the program, because in a preview the
SDK resolves an output the engine did not return as unknown (pulumi/pulumi
`sdk/python/lib/pulumi/runtime/rpc.py`, resolve_properties: "`allProps` may not have contained a value
for every resolver", known only when not a dry run). So reading a new output needs a row here first,
and the first test fails until it has one.
"""

from typing import Any

import pulumi_kubernetes as k8s
import pytest
from conftest import CLOUD_SETTINGS, EXAMPLE, FLEET, FLEET_ALLOWED

from nuketown_stack.program import engine
from nuketown_stack.program.declared import UNKNOWN_TEXT
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack


def _every_input(type_token: str, inputs: Any) -> dict[str, Any]:
    """The mock engine as it was: every input handed back as state."""
    return {key: engine._echoed(value) for key, value in inputs.items()}


@pytest.mark.parametrize("known", [None, frozenset()], ids=["after-up", "first-preview"])
@pytest.mark.parametrize("cloud", list(CLOUD_SETTINGS))
@pytest.mark.parametrize("source", [EXAMPLE, FLEET], ids=["example", "fleet"])
def test_the_program_reads_nothing_the_engine_leaves_out(
    source: Any, cloud: str, known: frozenset[tuple[str, str]] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything the program declares and exports is the same as when every input is echoed."""
    config = {"nuketown:source": str(source), **CLOUD_SETTINGS[cloud], **FLEET_ALLOWED}
    trimmed = run_program(define_stack, "dev", config, known=known)
    monkeypatch.setattr(engine, "_returned_state", _every_input)
    echoed = run_program(define_stack, "dev", config, known=known)
    assert trimmed.to_json() == echoed.to_json()
    assert trimmed.warnings == echoed.warnings


@pytest.mark.parametrize("known", [None, frozenset()], ids=["after-up", "first-preview"])
@pytest.mark.parametrize("cloud", list(CLOUD_SETTINGS))
def test_a_program_reads_every_output_of_a_fleet_as_when_every_input_is_echoed(
    cloud: str, known: frozenset[tuple[str, str]] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host program's Fleet (examples/host): its outputs and each agent's, as a program reads them."""
    from nuketown_stack import Fleet, FleetArgs
    from nuketown_stack.inputs.settings import settings_from_config

    def program() -> dict[str, Any]:
        settings = settings_from_config("dev", {**CLOUD_SETTINGS[cloud], **FLEET_ALLOWED})
        fleet = Fleet("agents", FleetArgs(spec=str(FLEET), settings=settings))
        agents = {name: [a.namespace, a.service_account, a.identity, a.kms_key] for name, a in fleet.agents.items()}
        return {
            "namespaces": fleet.namespaces,
            "identities": fleet.identities,
            "kmsKeys": fleet.kms_keys,
            "sopsRules": fleet.sops_rules,
            "sopsConfig": fleet.sops_config,
            "agents": agents,
        }

    trimmed = run_program(program, "dev", {}, known=known)
    monkeypatch.setattr(engine, "_returned_state", _every_input)
    echoed = run_program(program, "dev", {}, known=known)
    assert trimmed.outputs == echoed.outputs
    assert trimmed.to_json() == echoed.to_json()


def test_an_output_left_out_is_unknown_to_the_program() -> None:
    """The fidelity this costs: a Namespace's `metadata` output, which a real preview would plan as given."""

    def program() -> dict[str, Any]:
        namespace = k8s.core.v1.Namespace("ns", metadata={"name": "ns"})
        return {"name": namespace.metadata.apply(lambda m: m.name)}

    assert run_program(program, "dev", {}).outputs == {"name": UNKNOWN_TEXT}


def test_an_echoed_input_is_known_before_the_resource_exists() -> None:
    """An IAM role's name is given, so even a first preview knows it (`ECHOED_INPUTS`)."""
    import pulumi_aws as aws

    def program() -> dict[str, Any]:
        role = aws.iam.Role("r", name="nuketown-dev-ada", assume_role_policy="{}")
        return {"name": role.name, "arn": role.arn}

    outputs = run_program(program, "dev", {"aws:region": "us-east-1"}, known=frozenset()).outputs
    assert outputs == {"name": "nuketown-dev-ada", "arn": UNKNOWN_TEXT}
