"""Right-sizing (Vertical Pod Autoscaler), idling (KEDA) and images from nix, as render and the program declare them.

The VPA and KEDA objects are checked against the real CRD schemas (tests/schemas/, with their source),
with unknown fields refused, and against the rules the schemas leave to the API server.

What the engines do, from their own source and documentation:
- kubernetes/autoscaler `vertical-pod-autoscaler/pkg/admission-controller/resource/pod/handler.go`:
  the VPA admission controller sets a pod's requests when the pod is created; it never changes the
  Deployment. So `pulumi up` sees no drift after the VPA acted (the Deployment's spec is unchanged), and
  a new pod template (a tier change) is again sized by the VPA when its pod starts.
- VPA updater: `--min-replicas` defaults to 2, so a one-pod workload is evicted (Recreate) only with
  `updatePolicy.minReplicas: 1`.
- KEDA `cooldownPeriod`: seconds after the last active trigger before scaling to zero; the operator
  owns the replica count, so the Deployment leaves `replicas` out (server-side apply leaves a field it
  does not set: pulumi-kubernetes `provider/pkg/ssa`), and `advanced.restoreToOriginalReplicaCount` hands
  it back when the ScaledObject goes (kedacore/keda `controllers/keda/scaledobject_finalizer.go`).
"""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import ROOT, make_plan

from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

SCHEMAS = ROOT / "tests" / "schemas"
VPA = json.loads((SCHEMAS / "vpa-v1.schema.json").read_text())
SCALED_OBJECT = json.loads((SCHEMAS / "keda-scaledobject-v1alpha1.schema.json").read_text())


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists properties (the API server would prune them)."""
    if isinstance(schema, dict):
        copied = {k: strict(v) for k, v in schema.items()}
        if "properties" in copied and "additionalProperties" not in copied:
            copied["additionalProperties"] = False
        return copied
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def objects(plan: Any, kind: str) -> list[dict[str, Any]]:
    return [o.manifest for o in plan.objects() if o.kind == kind]


def validate(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(strict(schema)).validate(manifest)


def test_the_example_right_sizes_vox_and_idles_both(example_json: dict[str, Any]) -> None:
    plan = make_plan(example_json)
    assert [m["metadata"]["name"] for m in objects(plan, "VerticalPodAutoscaler")] == ["vox"]
    assert [m["metadata"]["name"] for m in objects(plan, "ScaledObject")] == ["ada", "vox"]


def test_the_objects_validate_against_the_real_crd_schemas(example_json: dict[str, Any]) -> None:
    plan = make_plan(example_json)
    for manifest in objects(plan, "VerticalPodAutoscaler"):
        validate(manifest, VPA)
    for manifest in objects(plan, "ScaledObject"):
        validate(manifest, SCALED_OBJECT)


def test_the_schema_check_can_fail(example_json: dict[str, Any]) -> None:
    [vpa] = objects(make_plan(example_json), "VerticalPodAutoscaler")
    for broken in (
        {**vpa, "spec": {**vpa["spec"], "updatePolicy": {"updateMode": "Sometimes"}}},
        {**vpa, "spec": {**vpa["spec"], "targetRef": {"name": "vox"}}},  # kind is required
        {**vpa, "spec": {**vpa["spec"], "resourcePolicy": {"containerPolicies": [{"containerNam": "agent"}]}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, VPA)
    [scaled] = [m for m in objects(make_plan(example_json), "ScaledObject") if m["metadata"]["name"] == "vox"]
    with pytest.raises(jsonschema.ValidationError):
        validate({**scaled, "spec": {**scaled["spec"], "triggers": [{"metadata": {}}]}}, SCALED_OBJECT)


def test_right_sizing_stays_inside_the_approved_band(example_json: dict[str, Any]) -> None:
    """minAllowed <= the start tier <= maxAllowed = maxResources (the quota's size); cpu and memory only."""
    plan = make_plan(example_json)
    [vpa] = objects(plan, "VerticalPodAutoscaler")
    [policy] = vpa["spec"]["resourcePolicy"]["containerPolicies"]
    assert policy["controlledResources"] == ["cpu", "memory"]  # the GPU is left alone
    assert policy["minAllowed"] == {"cpu": "2", "memory": "4Gi"}  # minResources standard
    assert policy["maxAllowed"] == {"cpu": "4", "memory": "16Gi"}  # maxResources gpu
    quota = next(m for m in objects(plan, "ResourceQuota") if m["metadata"]["namespace"] == "nuketown-dev--vox")
    assert quota["spec"]["hard"]["limits.memory"] == policy["maxAllowed"]["memory"]
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Initial"}  # applied at pod start, never by eviction


@pytest.mark.parametrize("mode", ["Recreate", "InPlaceOrRecreate"])
def test_modes_that_evict_can_act_on_a_one_pod_agent(example_raw: dict[str, Any], mode: str) -> None:
    example_raw["agents"]["vox"]["scaling"]["rightSizing"] = mode
    [vpa] = objects(make_plan(example_raw), "VerticalPodAutoscaler")
    assert vpa["spec"]["updatePolicy"] == {"updateMode": mode, "minReplicas": 1}
    validate(vpa, VPA)


def test_without_min_resources_the_floor_is_each_resources_smallest_tier(example_raw: dict[str, Any]) -> None:
    example_raw["agents"]["vox"]["scaling"]["minResources"] = None
    [vpa] = objects(make_plan(example_raw), "VerticalPodAutoscaler")
    assert vpa["spec"]["resourcePolicy"]["containerPolicies"][0]["minAllowed"] == {"cpu": "1", "memory": "2Gi"}


def test_a_floor_above_the_start_is_refused(example_raw: dict[str, Any]) -> None:
    from nuketown_stack.errors import InputError
    from nuketown_stack.inputs.spec import load_spec

    example_raw["agents"]["ada"]["scaling"]["minResources"] = "large"
    with pytest.raises(InputError) as caught:
        load_spec(example_raw)
    assert caught.value.problems == (
        "agents.ada.cloud.scaling.minResources: 'large' is larger than resources 'standard' in cpu, memory; "
        "right-sizing may only go down from where the agent starts",
    )


def test_an_idling_agent_leaves_its_replica_count_to_keda(example_raw: dict[str, Any]) -> None:
    """No Deployment sets `replicas`, so Pulumi never claims the field KEDA scales, and the ScaledObject hands
    the count back when it goes (tests/engine/test_engine_await.py).

    pulumi-kubernetes applies server-side by default (`provider/pkg/provider/provider.go`, Configure:
    enableServerSideApply "Default to true") and sends only the inputs, pruning the live state to their shape
    (`pruneLiveState`): an omitted field is left to its other manager. Were `replicas` set, an update would
    apply it without force and the API server would answer KEDA's ownership with a 409 conflict
    (`provider/pkg/await/await.go`, ssaUpdate).
    """
    plan = make_plan(example_raw)
    for deployment in objects(plan, "Deployment"):
        assert "replicas" not in deployment["spec"]
    [scaled] = [m for m in objects(plan, "ScaledObject") if m["metadata"]["name"] == "vox"]
    assert scaled["spec"]["cooldownPeriod"] == 1800  # vox's idleTimeout
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 1)
    assert scaled["spec"]["advanced"] == {"restoreToOriginalReplicaCount": True}
    assert [t["metadata"]["listName"] for t in scaled["spec"]["triggers"]] == [
        "nuketown:vox:inbox",
        "nuketown:vox:working",
    ]


def test_an_idle_timeout_nothing_can_wake_is_recorded_only_and_said_so(example_raw: dict[str, Any]) -> None:
    for agent in example_raw["agents"].values():
        agent["scaling"]["wake"] = []
    plan = make_plan(example_raw)
    assert objects(plan, "ScaledObject") == []
    assert all("replicas" not in d["spec"] for d in objects(plan, "Deployment"))  # one, Kubernetes' default
    assert plan.warnings[0].startswith("agents.ada.cloud.scaling.idleTimeout: recorded only: nothing would wake ada")


def test_the_program_declares_the_same_objects(example_json: dict[str, Any], tmp_path: Path) -> None:
    result = run_program(define_stack, "dev", {"nuketown:source": str(ROOT / "examples" / "cloud-ada.nix")})
    declared = {
        (r.type, r.name): r.inputs
        for r in result.resources
        if r.type.split(":")[1] in ("autoscaling.k8s.io/v1", "keda.sh/v1alpha1")
    }
    rendered = {
        (o.type_token, o.resource_name): o.manifest
        for o in make_plan(example_json, **{"nuketown:scheduling": "none"}).objects()
    }
    assert set(declared) == {
        ("kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler", "vox"),
        ("kubernetes:keda.sh/v1alpha1:ScaledObject", "ada"),
        ("kubernetes:keda.sh/v1alpha1:ScaledObject", "vox"),
    }
    for key, inputs in declared.items():
        assert inputs == rendered[key]


def test_images_from_nix_are_never_pulled_again(example_raw: dict[str, Any]) -> None:
    raw = copy.deepcopy(example_raw)
    raw["agents"]["ada"]["image"] = "nix:0/nix/store/8l8jh5ji0nx3k8wqr8mvv6dfa5gzcpfi-nix-image-nuketown-ada.tar"
    raw["agents"]["vox"]["imagePullPolicy"] = "Never"
    containers = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in objects(make_plan(raw), "Deployment")
    }
    assert containers["ada"]["imagePullPolicy"] == "IfNotPresent"  # a store path is content-addressed
    assert containers["vox"]["imagePullPolicy"] == "Never"  # the spec's choice wins
    assert (
        "imagePullPolicy"
        not in objects(make_plan(example_raw), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    )  # a registry image keeps Kubernetes' default
