"""A stack's Argo CD AppProject and Application, derived from its settings and plan (pure).

Written by hand, a project drifted from the names the program derives: `nuketown-production-*` also
admitted every namespace of a stack `production-eu`. Generated, the project admits exactly the stack's
namespaces: `<prefix>*` with the separated names (no other environment's namespace starts with
`nuketown-<env>--`), or, with legacy names, where a prefix can start another stack's, each agent's
namespace by name. Argo CD matches destinations and whitelist names as globs
(argo-cd util/glob, AppProject.IsDestinationPermitted, IsGroupKindNamePermitted since 3.3).
"""

from dataclasses import dataclass
from typing import Any

from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan import naming
from nuketown_stack.plan.admission import WRITTEN_KINDS
from nuketown_stack.plan.stack import StackPlan

Manifest = dict[str, Any]

API_VERSION = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
PLUGIN = "nuketown-v1"  # the config management plugin's name (deploy/argocd/cmp-plugin.yaml)
OWNERSHIP_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")


@dataclass(frozen=True)
class ArgoTarget:
    """Where the Application takes the spec from and applies the render to."""

    repo: str  # the agents' repository: the only source the project admits
    source: str  # NUKETOWN_SOURCE: the spec file, inside `path`
    path: str = "."
    revision: str = "main"
    server: str = IN_CLUSTER
    argocd_namespace: str = "argocd"


def project_name(stack: str) -> str:
    return f"nuketown-{stack}"


def namespace_patterns(plan: StackPlan, settings: Settings) -> list[str]:
    """The namespaces the project admits: the stack's, and no other stack's."""
    if not settings.names.legacy:
        return [f"{settings.names.prefix}*"]
    return [agent.namespace for agent in plan.agents]


def app_project(plan: StackPlan, settings: Settings, target: ArgoTarget) -> Manifest:
    namespaces = namespace_patterns(plan, settings)
    guard = naming.ownership_policy(plan.stack)
    return {
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {
            "name": project_name(plan.stack),
            "namespace": target.argocd_namespace,
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],  # kept while an Application uses it
        },
        "spec": {
            "description": f"Nuketown agents of stack {plan.stack}, rendered by the nuketown plugin",
            "sourceRepos": [target.repo],
            "destinations": [{"server": target.server, "namespace": pattern} for pattern in namespaces],
            "clusterResourceWhitelist": [
                *({"group": "", "kind": "Namespace", "name": pattern} for pattern in namespaces),
                *({"group": "admissionregistration.k8s.io", "kind": kind, "name": guard} for kind in OWNERSHIP_KINDS),
            ],
            "namespaceResourceWhitelist": [
                {"group": written.group, "kind": written.kind}
                for written in WRITTEN_KINDS
                if written.kind != "Namespace"
            ],
        },
    }


def application(plan: StackPlan, settings: Settings, target: ArgoTarget) -> Manifest:
    # Argo CD wants a destination namespace inside the project, though every rendered object names its own.
    default_namespace = plan.agents[0].namespace if plan.agents else f"{settings.names.prefix}default"
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": project_name(plan.stack), "namespace": target.argocd_namespace},
        "spec": {
            "project": project_name(plan.stack),
            "source": {
                "repoURL": target.repo,
                "targetRevision": target.revision,
                "path": target.path,
                "plugin": {
                    "name": PLUGIN,
                    "env": [
                        {"name": "NUKETOWN_SOURCE", "value": target.source},
                        {"name": "NUKETOWN_STACK", "value": plan.stack},
                    ],
                },
            },
            "destination": {"server": target.server, "namespace": default_namespace},
            "syncPolicy": {
                # Never prune: a volume or namespace no longer declared is kept, as the Pulumi stack keeps it.
                "automated": {"prune": False, "selfHeal": True},
                "syncOptions": ["CreateNamespace=false"],  # the render holds each agent's Namespace itself
            },
        },
    }
