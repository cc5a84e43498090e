"""The stack's ownership guard: a ValidatingAdmissionPolicy that keeps it off what another stack owns (pure).

The program adopts kept namespaces and volume claims (pulumi-kubernetes' upsertExistingObjects turns a
create of an existing object into an update). Names alone cannot tell whose a namespace is: stack `dev`
with agent `x-ada` and stack `dev-x` with agent `ada` both derive `nuketown-dev-x-ada`, and one stack's
plan never sees the other. So every object carries its stack and agent in labels, and the API server
refuses an update by this stack that would take over a namespace or claim labelled for another stack or
agent, or one nuketown never labelled (made by hand). An update that keeps the owner, as a re-added agent
adopting its own kept volume does, passes; so does any write that does not claim the object for this
stack, which leaves other controllers alone and lets an administrator release an object by removing its
labels. ValidatingAdmissionPolicy is GA in admissionregistration.k8s.io/v1 since Kubernetes 1.30.
"""

from typing import Any

from nuketown_stack.plan import naming

Manifest = dict[str, Any]

STACK_LABEL = "nuketown.io/stack"
AGENT_LABEL = "nuketown.io/agent"
API_VERSION = "admissionregistration.k8s.io/v1"
GUARDED_RESOURCES = ("namespaces", "persistentvolumeclaims")  # the kinds the program adopts


def _label(var: str, key: str) -> str:
    return f"{var}.metadata.labels['{key}']"


def _has_label(var: str, key: str) -> str:
    return f"has({var}.metadata.labels) && '{key}' in {var}.metadata.labels"


def claims_for_stack(stack: str) -> str:
    """The match condition: the write labels the object for this stack (the guard ignores every other write)."""
    return f"{_has_label('object', STACK_LABEL)} && {_label('object', STACK_LABEL)} == '{stack}'"


# The object was this agent's before the write: same agent label, and the same stack label when it has one
# (objects kept from before the stack label was added carry the agent label only).
SAME_OWNER = (
    f"{_has_label('object', AGENT_LABEL)} && {_has_label('oldObject', AGENT_LABEL)}"
    f" && {_label('oldObject', AGENT_LABEL)} == {_label('object', AGENT_LABEL)}"
    f" && (!('{STACK_LABEL}' in oldObject.metadata.labels)"
    f" || {_label('oldObject', STACK_LABEL)} == {_label('object', STACK_LABEL)})"
)

# Who owned it, for the refusal message.
_PREVIOUS_OWNER = (
    f"({_has_label('oldObject', AGENT_LABEL)} ? 'agent ' + {_label('oldObject', AGENT_LABEL)}"
    f" + ({_has_label('oldObject', STACK_LABEL)} ? ' of stack ' + {_label('oldObject', STACK_LABEL)} : '')"
    " : 'no nuketown agent (it was made another way)')"
)
REFUSAL_MESSAGE = (
    f"'nuketown stack ' + {_label('object', STACK_LABEL)} + ' will not take over ' + request.resource.resource"
    f" + ' ' + object.metadata.name + ': it belongs to ' + {_PREVIOUS_OWNER}"
    " + '. Rename the agent or nuketown:namespacePrefix; to hand it over, remove its nuketown.io labels first.'"
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


def ownership_policy(stack: str, owner: str) -> Manifest:
    """The guard of stack `stack`, whose objects are labelled for `owner` (its environment)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _metadata(stack, owner),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": list(GUARDED_RESOURCES),
                    }
                ]
            },
            "matchConditions": [{"name": "claims-for-this-stack", "expression": claims_for_stack(owner)}],
            "validations": [
                {
                    "expression": SAME_OWNER,
                    "messageExpression": REFUSAL_MESSAGE,
                    "message": "nuketown will not take over a namespace or volume claim of another stack or agent",
                    "reason": "Forbidden",
                }
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
