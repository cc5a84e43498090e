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

from nuketown_stack.plan.admission import WRITTEN_KINDS
from nuketown_stack.plan.stack import KubeObject

ENVIRONMENT = celpy.Environment()
Labels = dict[str, str] | None


def _guard(example_json: dict[str, Any], stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    policy, binding = (o.manifest for o in make_plan(example_json, stack=stack).ownership_guard)
    return policy, binding


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    program = ENVIRONMENT.program(ENVIRONMENT.compile(expression))
    return program.evaluate({key: celpy.json_to_cel(value) for key, value in activation.items()})


def _object(name: str, labels: Labels, annotations: Labels = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"metadata": metadata}


def _matched(policy: dict[str, Any], group: str, resource: str, operation: str) -> bool:
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and operation in rule["operations"]
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
    )


def admit(
    policy: dict[str, Any],
    resource: str,
    old: Labels,
    new: Labels,
    *,
    operation: str = "UPDATE",
    group: str = "",
    namespace: Labels = None,
    old_annotations: Labels = None,
) -> str | None:
    """What the API server answers a write of `resource` (labels `old` before, `new` after; in a namespace
    labelled `namespace`, or cluster-scoped when None): None when admitted, the refusal message otherwise."""
    spec = policy["spec"]
    if not _matched(policy, group, resource, operation):
        return None
    name = "nuketown-dev-x--ada" if resource == "namespaces" else "ada-projects"
    activation = {
        "object": _object(name, new),
        "oldObject": _object(name, old, old_annotations) if operation == "UPDATE" else None,
        "namespaceObject": None if namespace is None else _object("nuketown-dev-x--ada", namespace),
        "request": {
            "operation": operation,
            "namespace": "" if namespace is None else "nuketown-dev-x--ada",
            "resource": {"group": group, "version": "v1", "resource": resource},
        },
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
    """Stack dev-x, agent ada, derives what stack dev, agent x-ada, already holds (legacy names, or a hand-made
    namespace of that name); the refusal says how to hand it over on purpose, and that advice works
    (test_a_hand_over_lets_exactly_the_named_owner_take_it)."""
    policy, _ = _guard(example_json, "dev-x")
    namespaced = None if resource == "namespaces" else owner("ada", "dev-x")
    message = admit(policy, resource, old=owner("x-ada", "dev"), new=owner("ada", "dev-x"), namespace=namespaced)
    name, flag = (
        ("nuketown-dev-x--ada", "") if resource == "namespaces" else ("ada-projects", " -n nuketown-dev-x--ada")
    )
    assert message == (
        f"nuketown environment dev-x will not take over {resource} {name}: it belongs to agent x-ada of "
        "environment dev. Rename the agent or nuketown:environment; to hand it over on purpose, its administrator "
        f"runs: kubectl annotate {resource} {name}{flag} nuketown.io/hand-over-to=dev-x/ada"
    )


@pytest.mark.parametrize(
    ("old", "owned_by"),
    [
        (owner("vox", "dev"), "agent vox of environment dev"),  # another agent of the same stack
        (owner("ada", "prod"), "agent ada of environment prod"),  # the same agent name in another stack
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
    assert admit(policy, "namespaces", old=old, new=owner("ada", "dev")) is None
    assert (
        admit(policy, "persistentvolumeclaims", old=old, new=owner("ada", "dev"), namespace=owner("ada", "dev")) is None
    )


def test_a_hand_over_lets_exactly_the_named_owner_take_it(example_json: dict[str, Any]) -> None:
    """The refusal's advice: annotate the object for its new owner. The annotation is an update its old owner's
    guard admits (no label changes), and then the new owner's guard admits the takeover, and only its."""
    old_guard, _ = _guard(example_json, "dev")
    annotated = owner("x-ada", "dev")
    assert admit(old_guard, "namespaces", old=annotated, new=annotated) is None  # kubectl annotate
    handed = {"nuketown.io/hand-over-to": "dev-x/ada"}
    new_guard, _ = _guard(example_json, "dev-x")
    assert admit(new_guard, "namespaces", old=annotated, new=owner("ada", "dev-x"), old_annotations=handed) is None
    other, _ = _guard(example_json, "staging")
    refused = admit(other, "namespaces", old=annotated, new=owner("ada", "staging"), old_annotations=handed)
    assert refused is not None and "it belongs to agent x-ada of environment dev" in refused
    wrong_agent = admit(new_guard, "namespaces", old=annotated, new=owner("bob", "dev-x"), old_annotations=handed)
    assert wrong_agent is not None


@pytest.mark.parametrize(
    ("group", "resource"),
    # Every kind the plan writes but the namespace itself (its own tests above); the test that every kind the
    # plan renders is in WRITTEN_KINDS keeps this complete.
    [(kind.group, kind.resource) for kind in WRITTEN_KINDS if kind.resource != "namespaces"],
)
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_nothing_lands_in_another_owners_namespace(
    example_json: dict[str, Any], group: str, resource: str, operation: str
) -> None:
    """Stack production renders agent eu-bob's objects; with legacy names its namespace is the one stack
    production-eu's agent bob holds. A NetworkPolicy (egress to all) created there would add to bob's and widen
    its egress: every kind the stack writes is refused in a namespace labelled for another owner."""
    policy, _ = _guard(example_json, "production")
    mine = owner("eu-bob", "production")
    old = mine if operation == "UPDATE" else None
    message = admit(
        policy, resource, old, mine, operation=operation, group=group, namespace=owner("bob", "production-eu")
    )
    assert message is not None and message.startswith(f"nuketown environment production will not write {resource}")
    assert "into namespace nuketown-dev-x--ada: it belongs to agent bob of environment production-eu" in message
    own = admit(policy, resource, old, mine, operation=operation, group=group, namespace=owner("eu-bob", "production"))
    assert own is None
    unlabelled = admit(policy, resource, old, mine, operation=operation, group=group, namespace={"team": "x"})
    assert unlabelled is not None and "no nuketown agent" in unlabelled


def test_every_kind_the_plan_writes_is_guarded(example_raw: dict[str, Any]) -> None:
    """The guard's resource list is written by hand (plural names): every kind any agent's plan renders is in it,
    for CREATE and UPDATE (the example's vox idles and gets right-sized: a ScaledObject and a VPA)."""
    example_raw["agents"]["vox"]["scaling"]["rightSizing"] = "Initial"
    plan = make_plan(example_raw)
    policy = plan.ownership_guard[0].manifest
    written = {(o.manifest["apiVersion"], o.kind) for a in plan.agents for o in a.objects}
    assert {kind for _, kind in written} >= {"VerticalPodAutoscaler", "ScaledObject", "Deployment"}
    kinds = {(f"{w.group}/{w.version}".lstrip("/"), w.kind): w for w in WRITTEN_KINDS}
    for api_version, kind in written:
        known = kinds[(api_version, kind)]
        assert _matched(policy, known.group, known.resource, "CREATE"), kind
        assert _matched(policy, known.group, known.resource, "UPDATE"), kind


@pytest.mark.parametrize(
    "new",
    [
        owner("ada", "prod"),  # another stack's write: that stack's own guard decides
        {"nuketown.io/agent": "x-ada"},  # an administrator's write without the stack label
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
    assert {op for rule in policy["spec"]["matchConstraints"]["resourceRules"] for op in rule["operations"]} == {
        "CREATE",
        "UPDATE",
    }


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
