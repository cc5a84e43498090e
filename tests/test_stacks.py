"""A stack per environment: the example stack files plan as they are, and two stacks never collide."""

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE, ROOT

from nuketown_stack import cli
from nuketown_stack.inputs.settings import read_stack_file, settings_from_config
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

STACK_FILES = sorted((ROOT / "examples" / "stacks").glob("Pulumi.*.yaml"))


def stack_config(path: Path) -> dict[str, Any]:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    # The files point at a flake of the user's own repository; the bundled example stands in for it.
    return {**read_stack_file(path.parent, stack).config, "nuketown:source": str(EXAMPLE)}


def resources(stack: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    return run_program(define_stack, stack, config).to_json()["resources"]


def test_there_are_gke_and_eks_examples() -> None:
    assert [p.name for p in STACK_FILES] == ["Pulumi.eks.yaml", "Pulumi.gke.yaml"]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_example_stack_files_are_valid_settings_and_plan(path: Path) -> None:
    config = stack_config(path)
    settings = settings_from_config("production", config)
    assert settings.cloud in ("gcp", "aws")
    declared = resources("production", config)
    assert any(r["type"].startswith(f"{settings.cloud}:") for r in declared)
    vox = next(r for r in declared if r["type"] == "kubernetes:apps/v1:Deployment" and r["name"] == "vox")
    selector = vox["inputs"]["spec"]["template"]["spec"]["nodeSelector"]
    assert set(settings.spot_node_selector.items()) <= set(selector.items())  # vox is a spot agent


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_example_stacks_reach_their_cluster_with_the_stacks_cloud_credentials(path: Path) -> None:
    """A CI runner has no kubeconfig context: the example stacks name their cluster, and the program builds
    the Kubernetes providers' kubeconfig from the cloud lookup, authenticating with the cloud's exec plugin."""
    config = stack_config(path)
    assert not any(key.startswith("kubernetes:") for key in config)
    providers = [r for r in resources("production", config) if r["type"] == "pulumi:providers:kubernetes"]
    assert {p["name"] for p in providers} == {"kubernetes", "kubernetes-adopting"}
    plugin = "gke-gcloud-auth-plugin" if "nuketown:gkeCluster" in config else "get-token"
    for provider in providers:
        kubeconfig = yaml.safe_load(provider["inputs"]["kubeconfig"])
        user = kubeconfig["users"][0]["user"]["exec"]
        assert plugin in [user["command"], *user.get("args", [])]


def names_that_must_be_unique(declared: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every name a cluster, project or account holds once, with its type."""
    names = set()
    for resource in declared:
        inputs, typ = resource["inputs"], resource["type"]
        if typ.startswith("kubernetes:"):
            metadata = inputs["metadata"]
            names.add((typ, f"{metadata.get('namespace', '')}/{metadata['name']}"))
        for field in ("accountId", "name"):  # GCP service account ids, key rings, IAM roles/policies, aliases
            if field in inputs and not typ.startswith("kubernetes:"):
                names.add((typ, str(inputs[field])))
    return names


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_two_stacks_in_one_cluster_and_project_never_collide(path: Path) -> None:
    config = stack_config(path)
    staging = names_that_must_be_unique(resources("staging", config))
    production = names_that_must_be_unique(resources("production", config))
    assert len(staging) > 10
    # Names scoped inside a parent may repeat: a key inside its stack's ring, an inline policy inside its role.
    scoped = ("gcp:kms/cryptoKey:CryptoKey", "aws:iam/rolePolicy:RolePolicy")
    assert {name for name in staging & production if name[0] not in scoped} == set()
    rings = {name for typ, name in staging | production if typ == "gcp:kms/keyRing:KeyRing"}
    assert len(rings) == (2 if "gke" in path.name else 0)


def test_a_stack_file_at_the_root_is_read_by_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's walkthrough: copy an example to Pulumi.<stack>.yaml, then use --stack."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    shutil.copy(ROOT / "examples" / "stacks" / "Pulumi.gke.yaml", tmp_path / "Pulumi.production.yaml")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["render", str(EXAMPLE), "--stack", "production"]) == 0
    claims = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d["kind"] == "PersistentVolumeClaim"]
    assert {c["spec"]["storageClassName"] for c in claims} == {"premium-rwo"}  # from the copied stack file
    assert {c["metadata"]["namespace"] for c in claims} == {"nuketown-production--ada", "nuketown-production--vox"}
