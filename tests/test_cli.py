"""The command line as users run it: exit codes, output, and render/plan parity."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE, FLEET, ROOT

from nuketown_stack import cli

OIDC_ARN = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"


def nuketown_stack(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nuketown_stack.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_validate() -> None:
    result = nuketown_stack("validate", "examples/cloud-ada.nix")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok: schemaVersion 1, 2 agents (ada, vox), tiers gpu, large, small, standard\n"


def test_render_is_byte_identical_across_runs() -> None:
    first = nuketown_stack("render", str(FLEET), "--stack", "dev")
    second = nuketown_stack("render", str(FLEET), "--stack", "dev")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    kinds = [d["kind"] for d in yaml.safe_load_all(first.stdout)]
    assert kinds[:4] == ["Namespace"] * 4
    assert len(kinds) == 4 * 7 + 6  # 7 objects per agent plus one claim per persist dir (3 + 2 + 0 + 1)


def test_render_reads_the_stack_file_and_overrides() -> None:
    """Pulumi.dev.yaml says scheduling none; -c puts tiers back."""
    dev = [d for d in yaml.safe_load_all(nuketown_stack("render", str(EXAMPLE)).stdout) if d["kind"] == "Deployment"]
    assert all("nodeSelector" not in d["spec"]["template"]["spec"] for d in dev)
    tiers = nuketown_stack("render", str(EXAMPLE), "-c", "nuketown:scheduling=tiers")
    placed = [d for d in yaml.safe_load_all(tiers.stdout) if d["kind"] == "Deployment"]
    assert [d["spec"]["template"]["spec"]["nodeSelector"]["nuketown.io/tier"] for d in placed] == ["standard", "gpu"]


def test_render_out_dir(tmp_path: Path) -> None:
    result = nuketown_stack("render", str(EXAMPLE), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ada.yaml", "vox.yaml"]
    ada = list(yaml.safe_load_all((tmp_path / "out" / "ada.yaml").read_text()))
    assert ada[0]["kind"] == "Namespace"
    assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in ada} == {"nuketown-dev-ada"}


def test_render_from_stdin(example_json: dict[str, Any]) -> None:
    result = nuketown_stack("render", "-", stdin=json.dumps(example_json))
    assert result.returncode == 0, result.stderr
    assert result.stdout == nuketown_stack("render", str(EXAMPLE)).stdout


def test_plan_json_matches_render() -> None:
    result = nuketown_stack("plan", str(FLEET), "--json", "-c", "nuketown:storageClass=standard-rwo")
    assert result.returncode == 0, result.stderr
    planned = json.loads(result.stdout)
    assert set(planned) == {"stack", "resources", "outputs"}
    for resource in planned["resources"]:
        assert set(resource) == {"type", "name", "parent", "inputs", "protect", "retainOnDelete", "dependencies"}
    kube = [r["inputs"] for r in planned["resources"] if r["type"].startswith("kubernetes:")]
    rendered = list(
        yaml.safe_load_all(nuketown_stack("render", str(FLEET), "-c", "nuketown:storageClass=standard-rwo").stdout)
    )

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    assert sorted(kube, key=key) == sorted(rendered, key=key)
    assert len(kube) == len(rendered) == 34
    components = [r for r in planned["resources"] if r["type"] == "nuketown:index:Agent"]
    assert [c["name"] for c in components] == [
        "a-very-long-agent-name-that-fills-a-namespace-abcd",
        "ada",
        "rio",
        "vox",
    ]


def test_plan_tree() -> None:
    result = nuketown_stack("plan", str(EXAMPLE), "--tree")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "pulumi:pulumi:Stack  nuketown-dev"
    assert "├─ nuketown:index:Agent  ada" in lines
    assert "│  ├─ kubernetes:core/v1:PersistentVolumeClaim  ada-projects  [retain]" in lines
    assert lines[-1] == "   25  resources"  # two providers; per agent a component, nine objects (+ vox's VPA)


def test_plan_shows_each_agents_identity_chain_then_counts() -> None:
    result = nuketown_stack("plan", str(EXAMPLE), "-c", "nuketown:cloud=gcp", "-c", "gcp:project=acme-agents")
    assert result.returncode == 0, result.stderr
    # As a first `pulumi preview` shows it: the email and the key's id are assigned by GCP on creation.
    assert result.stdout.startswith(
        "agent ada (Unix uid 1100)\n"
        "└─ Kubernetes ServiceAccount nuketown-dev-ada/ada\n"
        "   └─ GCP service account nt-dev-ada in project acme-agents, email (known after apply) (workload identity)\n"
        "      ├─ impersonated only by serviceAccount:acme-agents.svc.id.goog[nuketown-dev-ada/ada]"
        " (roles/iam.workloadIdentityUser)\n"
        '      ├─ storage: roles/storage.objectUser where resource.name.startsWith("projects/_/buckets/ada-")\n'
        "      └─ KMS: roles/cloudkms.cryptoKeyDecrypter on key ada (id (known after apply))\n"
        "\n"
        "agent vox (Unix uid 1101)\n"
    )
    assert "    2  gcp:serviceaccount/account:Account" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "   37  resources"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (["-c", "nuketown:awsOidcProviderArn=" + OIDC_ARN], "(IRSA, boundary nuketown-dev-ada-boundary)"),
        (
            ["-c", "nuketown:awsMode=podIdentity", "-c", "nuketown:awsClusterName=agents"],
            "(EKS Pod Identity, boundary nuketown-dev-ada-boundary)",
        ),
    ],
)
def test_plan_identity_chain_on_aws(mode: list[str], expected: str) -> None:
    result = nuketown_stack("plan", str(EXAMPLE), "-c", "nuketown:cloud=aws", "-c", "aws:region=us-east-1", *mode)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # A first preview: AWS assigns the role's ARN and the key's ARN (which the policy names) on creation.
    assert lines[2] == f"   └─ IAM role nuketown-dev-ada (ARN (known after apply)) {expected}"
    assert lines[3] == "      └─ policy nuketown-agent: its buckets and key, (known after apply)"


def test_plan_without_cloud_says_so() -> None:
    result = nuketown_stack("plan", str(EXAMPLE))
    assert result.stderr == ""  # no progress spinner when stderr is not a terminal
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "agent ada (Unix uid 1100)",
        "└─ Kubernetes ServiceAccount nuketown-dev-ada/ada",
        "   └─ no cloud identity (nuketown:cloud none)",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["validate", "tests/data/missing.json"],
            ["tests/data/missing.json: no such file (SOURCE is a .json or .nix file, '-', or a flake#attribute)"],
        ),
        (
            ["render", str(EXAMPLE), "-c", "nuketown:cloud=gcp"],
            ["gcp:project: required when nuketown:cloud is gcp (pulumi config set gcp:project ...)"],
        ),
        (
            ["plan", str(EXAMPLE), "-c", "nuketown:cloud=aws", "-c", "aws:region=us-east-1"],
            [
                "nuketown:awsOidcProviderArn: required when nuketown:cloud is aws and nuketown:awsMode is irsa "
                "(pulumi config set nuketown:awsOidcProviderArn ...)"
            ],
        ),
        (
            ["render", str(FLEET), "--stack", "prod"],
            [
                "agents.a-very-long-agent-name-that-fills-a-namespace-abcd: namespace "
                "'nuketown-prod-a-very-long-agent-name-that-fills-a-namespace-abcd' is not a DNS-1123 label "
                "of at most 63 "
                "characters; shorten the agent name (at most 49 here) or nuketown:namespacePrefix"
            ],
        ),
    ],
)
def test_invalid_input_exits_2_with_one_line_per_problem(args: list[str], expected: list[str]) -> None:
    result = nuketown_stack(*args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""


def test_bad_spec_through_every_command(tmp_path: Path, example_json: dict[str, Any]) -> None:
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"]["uid"] = 0
    spec["agents"]["vox"]["image"] = ""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    for command in ("validate", "render", "plan"):
        result = nuketown_stack(command, str(path))
        assert result.returncode == 2, command
        assert result.stderr.splitlines() == [
            "agents.ada.uid: 0 is not allowed; agents run as a non-root uid (1 to 2147483647, usually 1100+)",
            "agents.vox.cloud.image: must be an image reference (nix:0/nix/store/...tar or registry/name:tag), "
            "not empty",
        ], command
        assert "Traceback" not in result.stderr


def test_malformed_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{")
    result = nuketown_stack("validate", str(path))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"{path}: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2\n"
    )


def test_internal_error_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def explode(_: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli.COMMANDS, "validate", explode)
    monkeypatch.delenv("NUKETOWN_DEBUG", raising=False)
    assert cli.main(["validate", "x.json"]) == 1
    err = capsys.readouterr().err
    assert err == "nuketown-stack: internal error: RuntimeError: boom\n(set NUKETOWN_DEBUG=1 for the traceback)\n"


def test_usage_error_exits_2() -> None:
    result = nuketown_stack("render")
    assert result.returncode == 2
    assert "SOURCE" in result.stderr


def test_settings_found_from_a_subdirectory() -> None:
    result = nuketown_stack("render", "../examples/cloud-ada.nix", cwd=ROOT / "tests")
    assert result.returncode == 0, result.stderr
    assert all(
        "nodeSelector" not in d["spec"]["template"]["spec"]
        for d in yaml.safe_load_all(result.stdout)
        if d["kind"] == "Deployment"
    )


def test_plan_of_an_identity_only_stack_still_names_each_agent() -> None:
    """With Argo CD applying the workloads, the chain comes from the stack's outputs alone."""
    result = nuketown_stack(
        "plan", str(EXAMPLE), "-c", "nuketown:cloud=gcp", "-c", "gcp:project=p", "-c", "nuketown:applyKubernetes=false"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "agent ada (Unix uid 1100)",
        "└─ Kubernetes ServiceAccount nuketown-dev-ada/ada",
        "   └─ GCP service account nt-dev-ada in project p, email (known after apply) (workload identity)",
    ]
    assert not any("kubernetes:" in line for line in lines)
