"""Shared fixtures: the bundled example and the fleet, evaluated by real nix once per session."""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from nuketown_stack.inputs.settings import settings_from_config
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan.stack import StackPlan, build_plan

# Property tests check what holds, not how fast: hypothesis' per-example deadline (200 ms) fails them at
# random on a loaded 2-core CI machine. Speed has its benchmark (benchmarks/).
hypothesis_settings.register_profile("nuketown", deadline=None)
hypothesis_settings.load_profile("nuketown")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cloud-ada.nix"
FLEET = ROOT / "tests" / "data" / "fleet.nix"
# The fleet's rio binds an existing service account; the stack's operator allow-lists it.
FLEET_ALLOWED = {"nuketown:allowedIdentities": json.dumps({"rio": "rio-agent@fleet-project.iam.gserviceaccount.com"})}
OIDC_ARN = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
# The stack settings of each way an agent gets its cloud identity: the matrix shared tests run over.
CLOUD_SETTINGS: dict[str, dict[str, str]] = {
    "none": {},
    "gcp": {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"},
    "irsa": {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC_ARN},
    "podIdentity": {
        "nuketown:cloud": "aws",
        "aws:region": "us-east-1",
        "nuketown:awsMode": "podIdentity",
        "nuketown:awsClusterName": "agents",
    },
}
# The policy pack is its own Pulumi project (policy/); its modules import one another by name.
sys.path.insert(0, str(ROOT / "policy"))


def nix_eval(path: Path) -> Any:
    if shutil.which("nix-instantiate") is None:
        pytest.fail("nix-instantiate is not installed (apt-get install nix-bin); the README's test command installs it")
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def example_json() -> dict[str, Any]:
    return nix_eval(EXAMPLE)


@pytest.fixture(scope="session")
def fleet_json() -> dict[str, Any]:
    return nix_eval(FLEET)


@pytest.fixture
def example_raw(example_json: dict[str, Any]) -> dict[str, Any]:
    """A fresh, mutable copy of the example spec."""
    return copy.deepcopy(example_json)


def config_flags(config: dict[str, str]) -> list[str]:
    """Stack settings as the CLI's `-c key=value` flags."""
    return [flag for key, value in config.items() for flag in ("-c", f"{key}={value}")]


def spy_on_mocks(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """Every argument the mock engine's `method` ("new_resource" or "call") receives from here on, in order."""
    from nuketown_stack.program import engine

    seen: list[Any] = []
    original = getattr(engine._RecordingMocks, method)

    def spy(self: Any, args: Any) -> Any:
        seen.append(args)
        return original(self, args)

    monkeypatch.setattr(engine._RecordingMocks, method, spy)
    return seen


def make_plan(raw: dict[str, Any], stack: str = "dev", **config: Any) -> StackPlan:
    return build_plan(load_spec(raw), settings_from_config(stack, config))
