"""Provider configuration as the real engine hands it over: what reaches the explicit providers, and secrecy.

- pulumi/pulumi `pkg/resource/deploy/default_providers.go` (lines 139-147) and `target.go`
  `GetPackageConfig` (lines 46-72): only *default* providers receive a package's stack
  config; an explicit provider gets exactly the arguments the program passes
  (`providers/registry.go` Check/Create, lines 672-678 and 961-976). So the program
  must pass every `gcp:*`, `aws:*` and `kubernetes:*` setting itself.
- pulumi/pulumi `sdk/python/lib/pulumi/runtime/rpc.py` (serialize_property, the secret
  signature) and `pkg/resource/stack/deployment.go` (SerializePropertyValue, lines
  844-881): a secret input is stored encrypted in the state, a plain one in clear text.
  Neither the SDK's Provider class nor pulumi-kubernetes' schema marks `kubeconfig`
  secret (pulumi-kubernetes `provider/pkg/gen/schema.go`), so the program must.
"""

import json
from typing import Any

import pytest
import yaml
from conftest import EXAMPLE

from nuketown_stack.errors import InputError
from nuketown_stack.program.engine import SECRET_TEXT, EngineResult, run_program
from nuketown_stack.program.program import define_stack

GCP = {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"}
OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
AWS = {"nuketown:cloud": "aws", "aws:region": "eu-west-1", "nuketown:awsOidcProviderArn": OIDC}


def run(config: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> EngineResult:
    return run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **config}, secret_keys=secret_keys)


def provider(result: EngineResult, name: str) -> dict[str, Any]:
    return next(r.inputs for r in result.resources if r.type.startswith("pulumi:providers:") and r.name == name)


@pytest.fixture(autouse=True)
def no_ambient_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """pulumi_aws.Provider fills `region` from AWS_REGION when not given; keep the runs deterministic."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def test_every_aws_setting_reaches_the_aws_provider() -> None:
    tags = {"tags": {"team": "agents", "env": "dev"}}
    result = run({**AWS, "aws:profile": "agents-dev", "aws:defaultTags": json.dumps(tags), "aws:maxRetries": "5"})
    inputs = provider(result, "aws")
    # The SDK sends a provider's inputs as text, structured ones as JSON, as the engine does for default providers.
    assert (inputs["region"], inputs["profile"], inputs["maxRetries"]) == ("eu-west-1", "agents-dev", "5")
    assert json.loads(inputs["defaultTags"]) == tags


def test_every_gcp_setting_reaches_the_gcp_provider() -> None:
    result = run({**GCP, "gcp:impersonateServiceAccount": "deployer@acme-agents.iam.gserviceaccount.com"})
    inputs = provider(result, "gcp")
    assert inputs["project"] == "acme-agents"
    assert inputs["impersonateServiceAccount"] == "deployer@acme-agents.iam.gserviceaccount.com"


def test_every_kubernetes_setting_reaches_both_kubernetes_providers() -> None:
    result = run({"kubernetes:context": "k3s-lab", "kubernetes:namespace": "unused"})
    for name in ("kubernetes", "kubernetes-adopting"):
        inputs = provider(result, name)
        assert (inputs["context"], inputs["namespace"]) == ("k3s-lab", "unused")
    assert provider(result, "kubernetes-adopting")["upsertExistingObjects"] in (True, "true")


def test_a_setting_no_provider_has_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        run({**GCP, "gcp:projet": "acme-agents"})
    assert caught.value.problems == ("gcp:projet: not a setting of the gcp provider (did you mean gcp:project?)",)


def test_secret_settings_stay_secret_into_the_providers() -> None:
    """A secret kubeconfig or cloud credential is sent as a secret, so the engine encrypts it in the state."""
    kubeconfig = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: s3cr3t}}]\n"
    result = run(
        {**AWS, "kubernetes:kubeconfig": kubeconfig, "aws:secretKey": "AKIA-SECRET"},
        secret_keys=frozenset({"kubernetes:kubeconfig", "aws:secretKey"}),
    )
    assert provider(result, "kubernetes")["kubeconfig"] == SECRET_TEXT
    assert provider(result, "kubernetes-adopting")["kubeconfig"] == SECRET_TEXT
    assert provider(result, "aws")["secretKey"] == SECRET_TEXT
    assert "s3cr3t" not in json.dumps(result.to_json())


def test_a_kubeconfig_is_secret_even_when_the_stack_left_it_plain() -> None:
    result = run({"kubernetes:kubeconfig": "apiVersion: v1\nkind: Config\n"})
    assert provider(result, "kubernetes")["kubeconfig"] == SECRET_TEXT


def test_a_gke_cluster_is_reached_with_the_exec_plugin() -> None:
    """CI has cloud credentials (OIDC) and no kubeconfig: the program looks the cluster up."""
    cluster = "projects/acme-clusters/locations/europe-west1/clusters/agents"
    result = run({**GCP, "nuketown:gkeCluster": cluster})
    kubeconfig = yaml.safe_load(provider(result, "kubernetes")["kubeconfig"])
    assert kubeconfig["current-context"] == "gke_acme-clusters_europe-west1_agents"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://203.0.113.10"
    assert kubeconfig["users"][0]["user"] == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
        }
    }
    assert provider(result, "kubernetes-adopting")["kubeconfig"] == provider(result, "kubernetes")["kubeconfig"]


def test_an_eks_cluster_is_reached_with_aws_eks_get_token() -> None:
    result = run({**AWS, "nuketown:eksCluster": "agents"})
    kubeconfig = yaml.safe_load(provider(result, "kubernetes")["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "aws"
    assert kubeconfig["users"][0]["user"]["exec"]["args"] == [
        *("eks", "get-token", "--cluster-name", "agents", "--region", "eu-west-1", "--output", "json")
    ]
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"nuketown:gkeCluster": "projects/acme-agents/locations/europe-west1/clusters/agents"},
            "nuketown:gkeCluster: needs nuketown:cloud gcp (its credentials look the cluster up)",
        ),
        (
            {**AWS, "nuketown:eksCluster": "agents", "kubernetes:context": "other"},
            "nuketown:eksCluster: also set kubernetes:context; reach the cluster one way (remove one of them)",
        ),
    ],
)
def test_cluster_lookup_conflicts_are_refused(config: dict[str, str], expected: str) -> None:
    with pytest.raises(InputError) as caught:
        run(config)
    assert caught.value.problems == (expected,)


def test_pod_identity_defaults_its_cluster_to_the_eks_cluster() -> None:
    config = {"nuketown:cloud": "aws", "aws:region": "eu-west-1", "nuketown:awsMode": "podIdentity"}
    result = run({**config, "nuketown:eksCluster": "agents"})
    associations = [r for r in result.resources if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"]
    assert {a.inputs["clusterName"] for a in associations} == {"agents"}
