"""The cloud seam: every cloud fills the same shape, and one helper decides keeping and adoption."""

import inspect

import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest
from conftest import CLOUD_SETTINGS

from nuketown_stack.clouds import PLANNERS, declare_module, stack_plan
from nuketown_stack.inputs.settings import settings_from_config
from nuketown_stack.program.identity import adoption_opts

# One stack setting per cloud: the conftest's settings, AWS through IRSA.
SETTINGS = {"gcp": CLOUD_SETTINGS["gcp"], "aws": CLOUD_SETTINGS["irsa"]}


@pytest.mark.parametrize("cloud", sorted(PLANNERS))
def test_every_cloud_fills_the_seam(cloud: str) -> None:
    plan = stack_plan(settings_from_config("dev", SETTINGS[cloud]))
    assert plan is not None and plan.cloud == cloud
    assert plan.identity_output and plan.sops_field
    module = declare_module(cloud)
    for function in ("declare_provider", "declare_stack", "declare_agent_identity", "cluster_kubeconfig"):
        assert inspect.isfunction(getattr(module, function)), f"{cloud}: {function}"


def test_no_cloud_has_no_plan() -> None:
    assert stack_plan(settings_from_config("dev", {"nuketown:cloud": "none"})) is None


@pytest.mark.parametrize(
    ("resource_class", "kept"),
    [
        (gcp.kms.CryptoKey, True),
        (gcp.serviceaccount.Account, True),
        (aws.kms.Key, True),
        (aws.iam.Role, True),
        (aws.iam.Policy, True),
        (aws.iam.RolePolicy, False),
        (gcp.kms.CryptoKeyIAMMember, False),
        (k8s.core.v1.ConfigMap, False),
    ],
)
def test_adoption_opts_keeps_by_type(resource_class: type, kept: bool) -> None:
    options = adoption_opts(resource_class, "some-id")
    assert options.retain_on_delete is (True if kept else None)
    assert options.import_ == "some-id"
