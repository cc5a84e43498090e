"""The Argo CD path: the plugin's generate command run as the repo-server would run it, and the Pulumi
stack that then holds the cloud identity only."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE, ROOT

from nuketown_stack.engine import run_program
from nuketown_stack.program import define_stack

ARGOCD = ROOT / "deploy" / "argocd"
BIN = Path(sys.executable).parent
OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
CLOUDS = {
    "gcp": (
        {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"},
        "iam.gke.io/gcp-service-account",
        "gcpServiceAccount",
    ),
    "aws": (
        {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC},
        "eks.amazonaws.com/role-arn",
        "roleArn",
    ),
}


def plugin() -> dict[str, Any]:
    config_map = yaml.safe_load((ARGOCD / "cmp-plugin.yaml").read_text())
    assert config_map["kind"] == "ConfigMap"
    return yaml.safe_load(config_map["data"]["plugin.yaml"])


def sidecar() -> dict[str, Any]:
    patch = yaml.safe_load((ARGOCD / "repo-server-patch.yaml").read_text())
    [container] = patch["spec"]["template"]["spec"]["containers"]
    return container


def generate(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The plugin's generate command in the sidecar's environment (its private nix store included),
    with Argo CD's ARGOCD_ENV_ prefix on the Application's env."""
    command = plugin()["spec"]["generate"]
    sidecar_env = {e["name"]: e["value"] for e in sidecar()["env"]}
    return subprocess.run(
        [*command["command"], *command["args"]],
        cwd=checkout,
        env={
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            **sidecar_env,
            **{f"ARGOCD_ENV_{k}": v for k, v in env.items()},
        },
        capture_output=True,
        text=True,
        check=False,
    )


def checkout_with_stack(tmp_path: Path, stack: str, config: dict[str, str]) -> Path:
    """A repository as Argo CD checks it out: Pulumi.yaml, a stack file, the spec."""
    checkout = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", checkout / "examples")
    shutil.copytree(ROOT / "nix", checkout / "nix")
    (checkout / "nuketown_stack").mkdir()
    shutil.copy(ROOT / "nuketown_stack" / "grammar.json", checkout / "nuketown_stack")  # nix/spec.nix reads it
    shutil.copy(ROOT / "Pulumi.yaml", checkout)
    settings = {"nuketown:source": "examples/cloud-ada.nix", "nuketown:applyKubernetes": False, **config}
    (checkout / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": settings}))
    return checkout


def test_the_plugin_is_a_named_sidecar_plugin() -> None:
    spec = plugin()
    assert (spec["apiVersion"], spec["kind"], spec["metadata"]["name"]) == (
        "argoproj.io/v1alpha1",
        "ConfigManagementPlugin",
        "nuketown",
    )
    application = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    assert application["spec"]["source"]["plugin"]["name"] == f"nuketown-{spec['spec']['version']}"
    assert application["spec"]["syncPolicy"]["automated"]["prune"] is False  # kept volumes stay kept


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_generate_renders_what_pulumi_would_apply_and_pulumi_keeps_the_identity(tmp_path: Path, cloud: str) -> None:
    config, annotation, output = CLOUDS[cloud]
    checkout = checkout_with_stack(tmp_path, "production", config)
    result = generate(checkout, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"})
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"] == [
        "nuketown-production-ada",
        "nuketown-production-vox",
    ]

    # The same stack under Pulumi: identity only, no Kubernetes objects to fight Argo CD over.
    declared = run_program(
        define_stack, "production", {**config, "nuketown:source": str(EXAMPLE)} | {"nuketown:applyKubernetes": "false"}
    )
    assert not [r for r in declared.resources if r.type.startswith("kubernetes:")]
    assert any(r.type.startswith(f"{cloud}:") for r in declared.resources)
    # The identity Argo CD's ServiceAccount names is the one the stack created.
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    for agent, outputs in declared.outputs["agents"].items():
        assert accounts[agent]["metadata"]["annotations"][annotation] == outputs[output]


def test_generate_without_a_source_says_what_is_missing(tmp_path: Path) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    result = generate(checkout, {"NUKETOWN_STACK": "production"})
    assert result.returncode != 0
    assert "set NUKETOWN_SOURCE in the Application's plugin env" in result.stderr


def test_the_sidecar_is_restricted_and_gets_its_plugin_file() -> None:
    patch = yaml.safe_load((ARGOCD / "repo-server-patch.yaml").read_text())
    pod = patch["spec"]["template"]["spec"]
    container = sidecar()
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "plugin.yaml"
    assert {v["name"] for v in pod["volumes"]} >= {mounts["/home/argocd/cmp-server/config/plugin.yaml"]["name"]}
    context = container["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert context["capabilities"] == {"drop": ["ALL"]} and context["allowPrivilegeEscalation"] is False
