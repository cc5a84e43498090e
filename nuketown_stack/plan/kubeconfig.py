"""Kubeconfigs for a cluster found through its cloud, with the cloud's exec credential plugin (pure).

CI runners have cloud credentials (OIDC) but no kubeconfig: the program looks the
cluster up (endpoint, CA certificate) and hands the Kubernetes provider a kubeconfig
whose user runs `gke-gcloud-auth-plugin` or `aws eks get-token`, the way
`gcloud container clusters get-credentials` and `aws eks update-kubeconfig` write
them. No credential is stored: a token is fetched each time the provider connects.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import yaml

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True)
class GkeCluster:
    project: str
    location: str
    name: str

    @classmethod
    def parse(cls, resource_name: str) -> "GkeCluster":
        """`projects/<p>/locations/<l>/clusters/<n>` (validated by the settings)."""
        _, project, _, location, _, name = resource_name.split("/")
        return cls(project=project, location=location, name=name)

    @property
    def context(self) -> str:
        return f"gke_{self.project}_{self.location}_{self.name}"


def gke_kubeconfig(cluster: GkeCluster, endpoint: str, ca_certificate: str) -> str:
    user = {
        "apiVersion": EXEC_API_VERSION,
        "command": "gke-gcloud-auth-plugin",
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "provideClusterInfo": True,
    }
    return _kubeconfig(cluster.context, f"https://{endpoint}", ca_certificate, user)


def eks_kubeconfig(name: str, region: str, endpoint: str, ca_certificate: str) -> str:
    user = {
        "apiVersion": EXEC_API_VERSION,
        "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
        "interactiveMode": "Never",
    }
    return _kubeconfig(f"eks_{region}_{name}", endpoint, ca_certificate, user)


def _kubeconfig(context: str, server: str, ca_certificate: str, exec_user: Mapping[str, object]) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": ca_certificate}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "users": [{"name": context, "user": {"exec": exec_user}}],
    }
    return yaml.safe_dump(document, sort_keys=False)
