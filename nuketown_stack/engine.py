"""Run the real program under Pulumi's unit-test mock engine and record what it declares.

This is how `nuketown-stack plan` and the tests see the program without a
Pulumi CLI. Resource options (parent, protect, retainOnDelete) never reach
the mocks, so a stack transformation reads them as each resource is built.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "nuketown"


@dataclass
class DeclaredResource:
    type: str
    name: str
    parent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    provider: str | None = None  # logical name of the explicit provider, when one is used
    import_id: str | None = None  # set when the resource adopts an existing one (`import_`)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": self.inputs,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
        }


@dataclass
class EngineResult:
    resources: list[DeclaredResource]
    outputs: dict[str, Any]
    registrations: list[tuple[str, str]]  # every (type, name) in registration order, duplicates kept

    def to_json(self) -> dict[str, Any]:
        return {"resources": [r.to_json() for r in self.resources], "outputs": self.outputs}


def _gcp_account(inputs: dict[str, Any]) -> dict[str, Any]:
    email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{inputs['project']}/serviceAccounts/{email}",
    }


def _gcp_key_ring(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"projects/{inputs['project']}/locations/{inputs['location']}/keyRings/{inputs['name']}"}


def _gcp_crypto_key(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}"}


# Outputs the cloud computes, derived from the inputs the way the cloud would, so a
# plan shows the real strings (emails, key ids) where the program reads them.
COMPUTED_OUTPUTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "gcp:serviceaccount/account:Account": _gcp_account,
    "gcp:kms/keyRing:KeyRing": _gcp_key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _gcp_crypto_key,
}


def _plain(value: Any) -> Any:
    """Mock inputs arrive through protobuf Structs, where every number is a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, record: Callable[[pulumi.runtime.MockResourceArgs, dict[str, Any]], None]) -> None:
        self._record = record

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _plain(dict(args.inputs))
        self._record(args, inputs)
        computed = COMPUTED_OUTPUTS.get(args.typ, lambda _: {})(inputs)
        resource_id = computed.pop("id", f"{args.name}-id")
        return resource_id, {**inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def run_program(
    program: Callable[[], Mapping[str, Any]], stack: str, config: Mapping[str, Any], project: str = PROJECT
) -> EngineResult:
    """Run `program` as stack `stack` with `config`; exceptions it raises propagate unchanged."""
    by_key: dict[tuple[str, str], DeclaredResource] = {}
    registrations: list[tuple[str, str]] = []

    def entry(typ: str, name: str) -> DeclaredResource:
        return by_key.setdefault((typ, name), DeclaredResource(type=typ, name=name))

    def record_inputs(args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any]) -> None:
        registrations.append((args.typ, args.name))
        declared = entry(args.typ, args.name)
        declared.inputs = inputs
        declared.import_id = args.resource_id or None
        if args.provider:  # a reference "<provider urn>::<id>"; the urn ends in "::<name>"
            declared.provider = args.provider.split("::")[-2]

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        declared = entry(args.type_, args.name)
        parent = args.opts.parent
        if parent is not None and parent.pulumi_resource_type != "pulumi:pulumi:Stack":
            declared.parent = f"{parent.pulumi_resource_type}::{parent.pulumi_resource_name}"
        declared.protect = bool(args.opts.protect)
        declared.retain_on_delete = bool(args.opts.retain_on_delete)
        return None

    runtime_settings.set_root_resource(None)  # a fresh root stack for every run
    mocks.set_mocks(_RecordingMocks(record_inputs), project=project, stack=stack, preview=True)
    pulumi.runtime.set_all_config({k: _config_text(v) for k, v in config.items()})
    pulumi.runtime.register_stack_transformation(record_options)

    outputs: dict[str, Any] = {}

    def body() -> None:
        declared = program()
        outputs.update(_sync_await(pulumi.Output.from_input(declared).future()) or {})

    _sync_await(run_pulumi_func(body))
    return EngineResult(resources=list(by_key.values()), outputs=_plain(outputs), registrations=registrations)


def _config_text(value: Any) -> str:
    """Pulumi config values are strings; structured values travel as JSON, as the CLI sends them."""
    import json

    return value if isinstance(value, str) else json.dumps(value)
