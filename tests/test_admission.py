"""The stack's ownership guard: its CEL, as rendered, evaluated with cel-python on the updates it must
refuse and those it must let through.

Kubernetes evaluates a ValidatingAdmissionPolicy's matchConditions first (all true, or the policy does not
apply), then each validation; a false validation denies the request with its messageExpression's text
(kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/). cel-python is the CEL
language without Kubernetes' extension libraries; the guard uses none (has, `in` on maps, ?:, string +).
"""

from typing import Any

import celpy
import pytest
from conftest import make_plan

from nuketown_stack.plan.stack import KubeObject

ENVIRONMENT = celpy.Environment()
Labels = dict[str, str] | None


def _guard(example_json: dict[str, Any], stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    policy, binding = (o.manifest for o in make_plan(example_json, stack=stack).ownership_guard)
    return policy, binding


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    program = ENVIRONMENT.program(ENVIRONMENT.compile(expression))
    return program.evaluate({key: celpy.json_to_cel(value) for key, value in activation.items()})


def _object(name: str, labels: Labels) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return {"metadata": metadata}


def admit(policy: dict[str, Any], resource: str, old: Labels, new: Labels) -> str | None:
    """What the API server answers an UPDATE of `resource` from `old` labels to `new`: None when admitted,
    the refusal message otherwise."""
    spec = policy["spec"]
    rule = spec["matchConstraints"]["resourceRules"][0]
    if resource not in rule["resources"] or "UPDATE" not in rule["operations"]:
        return None
    activation = {
        "object": _object("nuketown-dev-x-ada", new),
        "oldObject": _object("nuketown-dev-x-ada", old),
        "request": {"operation": "UPDATE", "resource": {"group": "", "version": "v1", "resource": resource}},
    }
    if not all(bool(_evaluate(c["expression"], activation)) for c in spec["matchConditions"]):
        return None
    for validation in spec["validations"]:
        if not bool(_evaluate(validation["expression"], activation)):
            return str(_evaluate(validation["messageExpression"], activation))
    return None


def owner(agent: str, stack: str | None) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": "nuketown", "nuketown.io/agent": agent}
    return labels | ({"nuketown.io/stack": stack} if stack is not None else {})


@pytest.mark.parametrize("resource", ["namespaces", "persistentvolumeclaims"])
def test_another_stacks_namespace_or_claim_is_refused(example_json: dict[str, Any], resource: str) -> None:
    """Stack dev-x, agent ada, derives the namespace stack dev, agent x-ada, already holds."""
    policy, _ = _guard(example_json, "dev-x")
    message = admit(policy, resource, old=owner("x-ada", "dev"), new=owner("ada", "dev-x"))
    assert message == (
        f"nuketown stack dev-x will not take over {resource} nuketown-dev-x-ada: it belongs to agent x-ada of "
        "stack dev. Rename the agent or nuketown:namespacePrefix; to hand it over, remove its nuketown.io "
        "labels first."
    )


@pytest.mark.parametrize(
    ("old", "owned_by"),
    [
        (owner("vox", "dev"), "agent vox of stack dev"),  # another agent of the same stack
        (owner("ada", "prod"), "agent ada of stack prod"),  # the same agent name in another stack
        (owner("vox", None), "agent vox"),  # another agent's, from before the stack label
        ({"team": "payments"}, "no nuketown agent (it was made another way)"),  # made by hand
        (None, "no nuketown agent (it was made another way)"),  # no labels at all
    ],
)
def test_a_takeover_is_refused_whoever_owned_it(example_json: dict[str, Any], old: Labels, owned_by: str) -> None:
    policy, _ = _guard(example_json, "dev")
    message = admit(policy, "namespaces", old=old, new=owner("ada", "dev"))
    assert message is not None and f"it belongs to {owned_by}." in message


@pytest.mark.parametrize(
    "old",
    [
        owner("ada", "dev"),  # the agent's own kept namespace or volume, adopted when it comes back
        owner("ada", None),  # kept from before the stack label existed: the agent label decides
    ],
)
def test_the_agent_takes_back_what_is_its_own(example_json: dict[str, Any], old: Labels) -> None:
    policy, _ = _guard(example_json, "dev")
    for resource in ("namespaces", "persistentvolumeclaims"):
        assert admit(policy, resource, old=old, new=owner("ada", "dev")) is None


@pytest.mark.parametrize(
    "new",
    [
        owner("ada", "prod"),  # another stack's write: that stack's own guard decides
        {"nuketown.io/agent": "x-ada"},  # an administrator releasing the object (the stack label removed)
        None,  # a controller's write without labels
    ],
)
def test_writes_that_do_not_claim_for_this_stack_are_left_alone(example_json: dict[str, Any], new: Labels) -> None:
    policy, _ = _guard(example_json, "dev")
    assert admit(policy, "namespaces", old=owner("x-ada", "dev-x"), new=new) is None


def test_the_guard_is_bound_to_deny_and_fails_closed(example_json: dict[str, Any]) -> None:
    policy, binding = _guard(example_json, "dev")
    assert policy["metadata"]["name"] == binding["metadata"]["name"] == "nuketown-dev-ownership"
    assert binding["spec"] == {"policyName": "nuketown-dev-ownership", "validationActions": ["Deny"]}
    assert "matchResources" not in binding["spec"]  # every object the policy matches, cluster-wide
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["UPDATE"],
            "resources": ["namespaces", "persistentvolumeclaims"],
        }
    ]


def test_every_namespace_and_claim_carries_its_stack_and_agent(example_json: dict[str, Any]) -> None:
    plan = make_plan(example_json, stack="dev")
    owned: list[KubeObject] = [o for o in plan.objects() if o.kind in ("Namespace", "PersistentVolumeClaim")]
    assert owned
    for obj in owned:
        labels = obj.manifest["metadata"]["labels"]
        assert labels["nuketown.io/stack"] == "dev"
        metadata = obj.manifest["metadata"]
        namespace = metadata["name"] if obj.kind == "Namespace" else metadata["namespace"]
        assert namespace == f"nuketown-dev--{labels['nuketown.io/agent']}"


def test_pod_templates_keep_their_labels(example_json: dict[str, Any]) -> None:
    """The stack label is on objects only: adding it restarted no agent's pod."""
    for agent in make_plan(example_json).agents:
        template = agent.object("Deployment").manifest["spec"]["template"]["metadata"]["labels"]
        assert "nuketown.io/stack" not in template
