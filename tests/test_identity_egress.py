"""Restricted egress keeps the way to the pod's cloud credentials open, and says when the identity is unusable.

Facts from the clouds' documentation:
- GKE, "About Workload Identity Federation for GKE" (GKE metadata server): with a strict
  network policy, allow egress to 169.254.169.252/32 on port 988, and on Dataplane V2 to
  169.254.169.254/32 on port 80; the GKE metadata server intercepts requests to
  169.254.169.254:80, so node credentials are not behind it.
- EKS, "Set up the Amazon EKS Pod Identity Agent": pods get credentials from the agent at
  169.254.170.23 (IPv4) / [fd00:ec2::23] (IPv6), port 80.
- EKS, "private clusters": IRSA pods call STS AssumeRoleWithWebIdentity themselves, over HTTPS.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CLOUD_SETTINGS, make_plan

from nuketown_stack import cli

GCP, IRSA, POD_IDENTITY = CLOUD_SETTINGS["gcp"], CLOUD_SETTINGS["irsa"], CLOUD_SETTINGS["podIdentity"]
GKE_METADATA = [
    {"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"protocol": "TCP", "port": 988}]},
    {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]},
]
POD_IDENTITY_AGENT = [
    {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"protocol": "TCP", "port": 80}]},
    {"to": [{"ipBlock": {"cidr": "fd00:ec2::23/128"}}], "ports": [{"protocol": "TCP", "port": 80}]},
]
HTTPS_ONLY = [{"cidr": "0.0.0.0/0", "ports": [443]}]


def egress_of(raw: dict[str, Any], egress: Any, **config: str) -> tuple[list[Any], tuple[str, ...]]:
    """ada's egress rules, and the warnings about egress."""
    raw["agents"]["ada"]["network"]["egress"] = egress
    plan = make_plan(raw, **config)
    ada = next(a for a in plan.agents if a.name == "ada")
    warnings = tuple(w for w in plan.warnings if ".network.egress:" in w)
    return ada.object("NetworkPolicy").manifest["spec"]["egress"], warnings


def test_egress_none_on_gke_still_reaches_the_metadata_server(example_raw: dict[str, Any]) -> None:
    rules, warnings = egress_of(example_raw, "none", **GCP)
    assert rules == GKE_METADATA
    assert warnings == (
        "agents.ada.cloud.network.egress: allows no HTTPS, so ada reaches no Google APIs (KMS, storage): allow TCP "
        "443 to 0.0.0.0/0, or to restricted.googleapis.com (199.36.153.4/30) or private.googleapis.com "
        "(199.36.153.8/30) with Private Google Access",
    )


def test_an_https_list_on_gke_reaches_the_metadata_server_and_the_apis(example_raw: dict[str, Any]) -> None:
    rules, warnings = egress_of(example_raw, HTTPS_ONLY, **GCP)
    assert rules[0] == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert rules[-2:] == GKE_METADATA
    assert warnings == ()


def test_egress_none_with_pod_identity_still_reaches_the_agent(example_raw: dict[str, Any]) -> None:
    rules, warnings = egress_of(example_raw, "none", **POD_IDENTITY)
    assert rules == POD_IDENTITY_AGENT
    assert warnings[0].startswith("agents.ada.cloud.network.egress: allows no HTTPS, so ada reaches no AWS APIs")


def test_irsa_without_https_cannot_assume_its_role(example_raw: dict[str, Any]) -> None:
    rules, warnings = egress_of(example_raw, [{"cidr": "10.0.0.0/8", "ports": [5432]}], **IRSA)
    assert "169.254.170.23/32" not in json.dumps(rules)  # IRSA has no credential agent to allow
    assert warnings == (
        "agents.ada.cloud.network.egress: allows no HTTPS, so ada reaches no AWS STS, so its IAM role can never be "
        "assumed (IRSA calls sts.<region>.amazonaws.com itself): allow TCP 443 to 0.0.0.0/0 or to your STS VPC "
        "endpoint",
    )


def test_without_a_cloud_identity_none_means_nothing(example_raw: dict[str, Any]) -> None:
    rules, warnings = egress_of(example_raw, "none")
    assert (rules, warnings) == ([], ())


@pytest.mark.parametrize("command", ["render", "plan"])
def test_the_warning_reaches_the_user(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """render says it on stderr; the program logs it with pulumi.log.warn, which `pulumi preview` shows."""
    example_raw["agents"]["ada"]["network"]["egress"] = "none"
    source = tmp_path / "spec.json"
    source.write_text(json.dumps(example_raw))
    code = cli.main([command, str(source), "-c", "nuketown:cloud=gcp", "-c", "gcp:project=acme-agents"])
    err = capsys.readouterr().err
    assert code == 0
    assert "warning: agents.ada.cloud.network.egress: allows no HTTPS, so ada reaches no Google APIs" in err


GITHUB_ONLY = [{"cidr": "140.82.112.0/20", "ports": [443]}, {"cidr": "192.30.252.0/22", "ports": [443]}]


@pytest.mark.parametrize(
    ("cloud", "apis"),
    [(GCP, "Google APIs (KMS, storage)"), (IRSA, "AWS STS"), (POD_IDENTITY, "AWS APIs (KMS, S3)")],
    ids=["gcp", "irsa", "pod-identity"],
)
def test_https_only_to_other_addresses_reaches_no_cloud_api(
    example_raw: dict[str, Any], cloud: dict[str, str], apis: str
) -> None:
    """HTTPS to GitHub's addresses is HTTPS, but none of the cloud's APIs is there: the identity is unusable."""
    _, warnings = egress_of(example_raw, GITHUB_ONLY, **cloud)
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"agents.ada.cloud.network.egress: allows HTTPS only to 140.82.112.0/20, 192.30.252.0/22, so ada reaches "
        f"no {apis}"
    )


@pytest.mark.parametrize(
    ("cloud", "egress"),
    [
        (GCP, [{"cidr": "199.36.153.4/30", "ports": [443]}]),  # restricted.googleapis.com
        (GCP, [{"cidr": "199.36.153.8/30", "ports": [443]}]),  # private.googleapis.com
        (GCP, [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"], "ports": [443]}]),
        (IRSA, [{"cidr": "10.20.0.15/32", "ports": [443]}]),  # an interface VPC endpoint for STS
        (POD_IDENTITY, [{"cidr": "172.16.0.0/12"}]),
        (IRSA, [*GITHUB_ONLY, {"cidr": "::/0", "ports": [443]}]),
    ],
    ids=["gcp-restricted", "gcp-private", "gcp-internet", "irsa-endpoint", "pod-identity-private", "irsa-ipv6"],
)
def test_https_to_the_apis_or_a_private_endpoint_is_enough(
    example_raw: dict[str, Any], cloud: dict[str, str], egress: list[dict[str, Any]]
) -> None:
    _, warnings = egress_of(example_raw, egress, **cloud)
    assert warnings == ()
