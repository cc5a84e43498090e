"""The stack's ownership guard: a ValidatingAdmissionPolicy that keeps it off what another stack owns (pure).

The program adopts kept namespaces and volume claims (pulumi-kubernetes' upsertExistingObjects turns a
create of an existing object into an update), and Argo CD applies whatever the render holds. Names alone
cannot prove whose a namespace is (two legacy-named stacks can derive one, and a hand-made namespace can
carry any name), and one stack's plan never sees another's. So every object carries its owner in labels
(the environment as `nuketown.io/stack`, and the agent), and the API server refuses any write of this
stack, CREATE or UPDATE of any kind it writes (WRITTEN_KINDS), that would

- take over an object labelled for another owner, or one nuketown never labelled (made by hand), unless
  whoever administers it handed it over first (the annotation `nuketown.io/hand-over-to: <env>/<agent>`,
  which its owner's own guard lets through since it changes no label); or
- land in a namespace that is not labelled for the same owner: a NetworkPolicy, quota or Deployment of
  agent eu-bob of stack prod never joins agent bob's namespace of stack prod-eu.

A write that does not claim the object for this stack is left alone, which leaves other controllers and
other stacks' guards to themselves. ValidatingAdmissionPolicy is GA in admissionregistration.k8s.io/v1 since
Kubernetes 1.30, with `namespaceObject` (null for cluster-scoped objects) and `oldObject` (null on CREATE).
"""

from dataclasses import dataclass
from typing import Any

from nuketown_stack.plan import naming

Manifest = dict[str, Any]

STACK_LABEL = "nuketown.io/stack"
AGENT_LABEL = "nuketown.io/agent"
HAND_OVER_ANNOTATION = "nuketown.io/hand-over-to"
API_VERSION = "admissionregistration.k8s.io/v1"


@dataclass(frozen=True)
class WrittenKind:
    """A kind an agent's plan writes, as admission names it: API group, version, kind and plural resource."""

    group: str
    version: str
    kind: str
    resource: str


# Every kind an agent's plan writes; tests/test_admission.py checks each kind the plan renders is here.
WRITTEN_KINDS = (
    WrittenKind("", "v1", "Namespace", "namespaces"),
    WrittenKind("", "v1", "ServiceAccount", "serviceaccounts"),
    WrittenKind("", "v1", "ConfigMap", "configmaps"),
    WrittenKind("", "v1", "ResourceQuota", "resourcequotas"),
    WrittenKind("", "v1", "LimitRange", "limitranges"),
    WrittenKind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    WrittenKind("apps", "v1", "Deployment", "deployments"),
    WrittenKind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    WrittenKind("autoscaling.k8s.io", "v1", "VerticalPodAutoscaler", "verticalpodautoscalers"),
    WrittenKind("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects"),
)


def _label(var: str, key: str) -> str:
    return f"{var}.metadata.labels['{key}']"


def _has_label(var: str, key: str) -> str:
    return f"has({var}.metadata.labels) && '{key}' in {var}.metadata.labels"


def claims_for_stack(owner: str) -> str:
    """The match condition: the write labels the object for this owner (the guard ignores every other write)."""
    return f"{_has_label('object', STACK_LABEL)} && {_label('object', STACK_LABEL)} == '{owner}'"


# The object was this agent's before the write: same agent label, and the same stack label when it has one
# (objects kept from before the stack label was added carry the agent label only).
SAME_OWNER = (
    f"{_has_label('object', AGENT_LABEL)} && {_has_label('oldObject', AGENT_LABEL)}"
    f" && {_label('oldObject', AGENT_LABEL)} == {_label('object', AGENT_LABEL)}"
    f" && (!('{STACK_LABEL}' in oldObject.metadata.labels)"
    f" || {_label('oldObject', STACK_LABEL)} == {_label('object', STACK_LABEL)})"
)
# Whoever administers the object handed it to exactly the owner this write names.
_NEW_OWNER = f"{_label('object', STACK_LABEL)} + '/' + {_label('object', AGENT_LABEL)}"
HANDED_OVER = (
    f"{_has_label('object', AGENT_LABEL)} && has(oldObject.metadata.annotations)"
    f" && '{HAND_OVER_ANNOTATION}' in oldObject.metadata.annotations"
    f" && oldObject.metadata.annotations['{HAND_OVER_ANNOTATION}'] == {_NEW_OWNER}"
)
# An update keeps its owner, or follows a hand-over; a create has no old object to take over.
OWNER_KEPT = f"request.operation != 'UPDATE' || ({SAME_OWNER}) || ({HANDED_OVER})"
# The namespace the object lands in is labelled for the same environment and agent (cluster-scoped: none).
IN_OWN_NAMESPACE = (
    f"namespaceObject == null || ({_has_label('object', AGENT_LABEL)}"
    f" && {_has_label('namespaceObject', STACK_LABEL)} && '{AGENT_LABEL}' in namespaceObject.metadata.labels"
    f" && {_label('namespaceObject', STACK_LABEL)} == {_label('object', STACK_LABEL)}"
    f" && {_label('namespaceObject', AGENT_LABEL)} == {_label('object', AGENT_LABEL)})"
)


def _owner_of(var: str) -> str:
    """Who a labelled object belongs to, in words (for the refusal messages)."""
    return (
        f"({_has_label(var, AGENT_LABEL)} ? 'agent ' + {_label(var, AGENT_LABEL)}"
        f" + ({_has_label(var, STACK_LABEL)} ? ' of environment ' + {_label(var, STACK_LABEL)} : '')"
        " : 'no nuketown agent (it was made another way)')"
    )


_WRITE = f"'nuketown environment ' + {_label('object', STACK_LABEL)} + ' will not '"
_NAMESPACE_FLAG = "(request.namespace != '' ? ' -n ' + request.namespace : '')"
TAKEOVER_MESSAGE = (
    f"{_WRITE} + 'take over ' + request.resource.resource + ' ' + object.metadata.name"
    f" + ': it belongs to ' + {_owner_of('oldObject')}"
    " + '. Rename the agent or nuketown:environment; to hand it over on purpose, its administrator runs: kubectl"
    " annotate ' + request.resource.resource + ' ' + object.metadata.name + " + _NAMESPACE_FLAG + " + ' "
    f"{HAND_OVER_ANNOTATION}=' + {_label('object', STACK_LABEL)} + '/' + "
    f"({_has_label('object', AGENT_LABEL)} ? {_label('object', AGENT_LABEL)} : '?')"
)
FOREIGN_NAMESPACE_MESSAGE = (
    f"{_WRITE} + 'write ' + request.resource.resource + ' ' + object.metadata.name"
    f" + ' into namespace ' + namespaceObject.metadata.name + ': it belongs to ' + {_owner_of('namespaceObject')}"
    " + ', not to ' + "
    f"({_has_label('object', AGENT_LABEL)} ? 'agent ' + {_label('object', AGENT_LABEL)} : 'no agent')"
    f" + ' of environment ' + {_label('object', STACK_LABEL)} + '. Rename the agent or nuketown:environment.'"
)


# Argo CD applies wave by wave, lowest first, and within a wave namespaces before other kinds
# (argo-cd docs/user-guide/sync-waves.md): wave -1 puts the guard in force before any namespace.
ARGO_SYNC_WAVE = {"argocd.argoproj.io/sync-wave": "-1"}


def _metadata(stack: str, owner: str) -> Manifest:
    return {
        "name": naming.ownership_policy(stack),
        "annotations": dict(ARGO_SYNC_WAVE),
        "labels": {
            "app.kubernetes.io/part-of": "nuketown",
            "app.kubernetes.io/managed-by": "pulumi",
            STACK_LABEL: owner,
        },
    }


def _resource_rules() -> list[Manifest]:
    """One rule per API group and version, in the order WRITTEN_KINDS first names them."""
    by_version: dict[tuple[str, str], list[str]] = {}
    for written in WRITTEN_KINDS:
        by_version.setdefault((written.group, written.version), []).append(written.resource)
    return [
        {"apiGroups": [group], "apiVersions": [version], "operations": ["CREATE", "UPDATE"], "resources": resources}
        for (group, version), resources in by_version.items()
    ]


def ownership_policy(stack: str, owner: str) -> Manifest:
    """The guard of stack `stack`, whose objects are labelled for `owner` (its environment)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _metadata(stack, owner),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": _resource_rules()},
            "matchConditions": [{"name": "claims-for-this-stack", "expression": claims_for_stack(owner)}],
            "validations": [
                {
                    "expression": OWNER_KEPT,
                    "messageExpression": TAKEOVER_MESSAGE,
                    "message": "nuketown will not take over an object of another stack or agent",
                    "reason": "Forbidden",
                },
                {
                    "expression": IN_OWN_NAMESPACE,
                    "messageExpression": FOREIGN_NAMESPACE_MESSAGE,
                    "message": "nuketown will not write into a namespace of another stack or agent",
                    "reason": "Forbidden",
                },
            ],
        },
    }


def ownership_binding(stack: str, owner: str) -> Manifest:
    """Binds the policy cluster-wide (no matchResources: every object the policy matches) with Deny."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": _metadata(stack, owner),
        "spec": {"policyName": naming.ownership_policy(stack), "validationActions": ["Deny"]},
    }
