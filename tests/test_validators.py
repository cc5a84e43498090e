"""Rendered manifests through real validators: kubernetes-validate --strict on two Kubernetes
versions, the Pod Security `restricted` profile, and an allow-list of checkov checks."""

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import podsecurity
import pytest
import yaml
from conftest import make_plan

from nuketown_stack.views.render import to_yaml

# The oldest and newest schemas kubernetes-validate ships that this project supports.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

# checkov checks every rendered workload must pass. Left out on purpose: probes (CKV_K8S_8/9; an agent
# serves no endpoint), image digests and tags (CKV_K8S_14/43; the example uses local tags), and high
# UIDs (CKV_K8S_40; agents keep their nuketown uids, 1100+, so files on volumes stay theirs).
CHECKOV_ALLOW_LIST = (
    "CKV_K8S_10",
    "CKV_K8S_11",
    "CKV_K8S_12",
    "CKV_K8S_13",  # CPU and memory requests and limits
    "CKV_K8S_16",
    "CKV_K8S_17",
    "CKV_K8S_18",
    "CKV_K8S_19",  # not privileged, no host PID/IPC/network
    "CKV_K8S_20",
    "CKV_K8S_22",
    "CKV_K8S_23",  # no privilege escalation, read-only root, not root
    "CKV_K8S_25",
    "CKV_K8S_28",
    "CKV_K8S_37",
    "CKV_K8S_39",  # capabilities dropped, none added
    "CKV_K8S_26",
    "CKV_K8S_27",  # no hostPort, no docker socket
    "CKV_K8S_29",
    "CKV_K8S_30",
    "CKV_K8S_31",  # security contexts, seccomp RuntimeDefault
    "CKV_K8S_21",
    "CKV_K8S_38",
    "CKV_K8S_41",  # not the default namespace or account, no token
    "CKV2_K8S_6",  # every pod is covered by a NetworkPolicy
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Path]:
    from conftest import EXAMPLE, FLEET, nix_eval

    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, source, config in (
        ("example", EXAMPLE, {}),
        ("fleet", FLEET, {"nuketown:storageClass": "standard-rwo"}),
        ("fleet-k3s", FLEET, {"nuketown:scheduling": "none"}),
    ):
        path = out / f"{name}.yaml"
        path.write_text(to_yaml(make_plan(nix_eval(source), **config).objects()))
        files[name] = path
    return files


def _documents(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(path.read_text()))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", ["example", "fleet", "fleet-k3s"])
def test_kubernetes_validate_strict(rendered: dict[str, Path], name: str, version: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, "--quiet", str(rendered[name])],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_can_fail(tmp_path: Path, rendered: dict[str, Path]) -> None:
    """The strict check is live: a misspelt field is caught."""
    documents = _documents(rendered["example"])
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(documents))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            KUBERNETES_VERSIONS[-1],
            "--quiet",
            str(broken),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "imagePulPolicy" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["example", "fleet"])
def test_pod_security_restricted(rendered: dict[str, Path], name: str) -> None:
    documents = _documents(rendered[name])
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        assert podsecurity.violations(deployment["spec"]["template"]["spec"]) == []
    enforced = {
        d["metadata"]["name"]
        for d in documents
        if d["kind"] == "Namespace" and d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    }
    assert enforced == {d["metadata"]["namespace"] for d in deployments}


def test_pod_security_check_can_fail(rendered: dict[str, Path]) -> None:
    deployment = next(d for d in _documents(rendered["example"]) if d["kind"] == "Deployment")
    pod = copy.deepcopy(deployment["spec"]["template"]["spec"])
    container = pod["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}
    pod["securityContext"]["runAsNonRoot"] = False
    del container["securityContext"]["runAsNonRoot"]
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    pod["hostNetwork"] = True
    assert podsecurity.violations(pod) == [
        "host namespaces: hostNetwork must not be true",
        "volume host: type ['hostPath'] is not allowed",
        "container agent: allowPrivilegeEscalation must be false",
        "container agent: runAsNonRoot must be true (pod or container)",
        "container agent: capabilities must drop ALL",
        "container agent: capabilities may add only NET_BIND_SERVICE, adds ['SYS_ADMIN']",
    ]


# Beside the interpreter running the tests, so `.venv/bin/python -m pytest` finds it without .venv/bin on PATH.
CHECKOV = shutil.which("checkov", path=str(Path(sys.executable).parent)) or "checkov"


def _checkov(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            CHECKOV,
            "--file",
            str(path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--check",
            ",".join(CHECKOV_ALLOW_LIST),
        ],
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_allow_list(rendered: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # As docs/verification.md runs one file: `.venv/bin/python -m pytest`, without .venv/bin on PATH.
    monkeypatch.setenv("PATH", os.defpath)
    results = _checkov(rendered["fleet"])["results"]
    failed = sorted({(c["check_id"], c["resource"]) for c in results["failed_checks"]})
    assert failed == []
    passed = {c["check_id"] for c in results["passed_checks"]}
    assert passed == set(CHECKOV_ALLOW_LIST)


def test_checkov_allow_list_can_fail(tmp_path: Path, rendered: dict[str, Path]) -> None:
    documents = _documents(rendered["example"])
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(documents))
    failed = {c["check_id"] for c in _checkov(broken)["results"]["failed_checks"]}
    assert failed == {"CKV_K8S_22"}
