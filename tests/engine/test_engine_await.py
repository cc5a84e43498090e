"""pulumi-kubernetes' await rules for what the program declares.

pulumi/pulumi-kubernetes `provider/pkg/await/awaiters.go`, untilCoreV1PersistentVolumeClaimReady
(lines 288-322): creating a claim waits until it is Pending when its storage class binds
WaitForFirstConsumer, else until it is Bound; only an *update* of a Bound claim is ready at
once (lines 303-308). A re-added agent's kept claim is created again through the upserting
provider (a create, not an update) and is already Bound, so on a WaitForFirstConsumer class it
never reaches Pending: the create fails after the awaiter's fixed 5 minutes (line 320) and the
Deployment is not created. `pulumi.com/skipAwait` turns that wait off (`await.go`), and the
Deployment's own await already waits for the claims its pods use to be bound.
"""

import json
from collections.abc import Mapping
from typing import Any

import pytest
from conftest import EXAMPLE, make_plan

from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


def claim_create_ready(manifest: Mapping[str, Any], bind_mode: str, phase: str) -> bool:
    """The create awaiter of awaiters.go (lines 288-322), with the skipAwait annotation honoured."""
    annotations = manifest["metadata"].get("annotations", {})
    if annotations.get("pulumi.com/skipAwait") == "true":
        return True
    if bind_mode == WAIT_FOR_FIRST_CONSUMER:
        return phase == "Pending"
    return phase == "Bound"


@pytest.mark.parametrize("bind_mode", [WAIT_FOR_FIRST_CONSUMER, "Immediate"])
def test_a_kept_bound_claim_is_ready_when_created_again(fleet_json: dict[str, Any], bind_mode: str) -> None:
    claims = [o.manifest for o in make_plan(fleet_json).objects() if o.kind == "PersistentVolumeClaim"]
    assert claims
    for claim in claims:
        assert claim_create_ready(claim, bind_mode, phase="Bound")


def test_without_skip_await_the_adopting_create_would_wait_out_its_timeout(fleet_json: dict[str, Any]) -> None:
    claim = next(o.manifest for o in make_plan(fleet_json).objects() if o.kind == "PersistentVolumeClaim")
    plain = {**claim, "metadata": {**claim["metadata"], "annotations": {}}}
    assert not claim_create_ready(plain, WAIT_FOR_FIRST_CONSUMER, phase="Bound")


def test_only_adopted_kinds_skip_their_wait(fleet_json: dict[str, Any]) -> None:
    """The annotation goes only on claims: other objects keep the provider's readiness checks."""
    skipping = {
        o.kind
        for o in make_plan(fleet_json).objects()
        if "pulumi.com/skipAwait" in o.manifest["metadata"].get("annotations", {})
    }
    assert skipping == {"PersistentVolumeClaim"}
    assert "kubernetes:core/v1:PersistentVolumeClaim" in KEPT  # the kind that is created again on re-add


# --- creating an object that already exists ------------------------------------------------------------------


def create_outcome(server_side_apply: bool, upsert_existing_objects: bool, exists: bool) -> str:
    """pulumi-kubernetes `provider/pkg/await/await.go`, Creation: with server-side apply and
    upsertExistingObjects the create is an apply PATCH, which takes over an existing object ("the AlreadyExists
    error does not occur since we always send a PATCH request"); otherwise it is a plain Create, and an existing
    object fails it with AlreadyExists ("Intentional upsert: set upsertExistingObjects on the provider")."""
    if server_side_apply and upsert_existing_objects:
        return "applied"
    return "AlreadyExists" if exists else "created"


def _providers_upsert(result: Any) -> dict[str, bool]:
    return {
        r.name: r.inputs.get("upsertExistingObjects") in (True, "true")
        for r in result.resources
        if r.type == "pulumi:providers:kubernetes"
    }


@pytest.mark.parametrize("adopt", [False, True], ids=["plain", "adopting"])
def test_taking_objects_back_from_argo_cd_fails_unless_the_stack_adopts_them(adopt: bool) -> None:
    """After Argo CD applied the render, every object exists: the stack's plain provider fails each create of
    it, which is why diff calls the change CANNOT APPLY without nuketown:adoptExistingObjects."""
    config = {"nuketown:source": str(EXAMPLE), **({"nuketown:adoptExistingObjects": "true"} if adopt else {})}
    result = run_program(define_stack, "dev", config)
    upserts = _providers_upsert(result)
    # pulumi-kubernetes applies server-side unless enableServerSideApply is false (the program never sets it).
    outcomes = {
        (r.type, r.name): create_outcome(True, upserts[r.provider], exists=True)
        for r in result.resources
        if r.type.startswith("kubernetes:")
    }
    refused = {key for key, outcome in outcomes.items() if outcome == "AlreadyExists"}
    kept = {key for key in outcomes if key[0] in KEPT}
    if adopt:
        assert refused == set()
    else:
        assert refused == set(outcomes) - kept  # the guard, workloads, policies: everything but what is kept
        assert ("kubernetes:apps/v1:Deployment", "ada") in refused


# --- switching idling off while KEDA holds the agent at zero ------------------------------------------------------


def apply_conflicts(applied: dict[str, Any], live: dict[str, Any], managers: dict[str, str], force: bool) -> set[str]:
    """Server-side apply: a field the applier sets to another value than the live one, while another manager
    owns it, is a conflict (409) unless the apply forces (Kubernetes, "Server-Side Apply", Conflicts).
    pulumi-kubernetes' ssaUpdate (`provider/pkg/await/await.go`) forces only with the pulumi.com/patchForce
    annotation or the provider's enablePatchForce (patchForce): the program sets neither."""
    if force:
        return set()
    return {path for path, value in applied.items() if path in managers and live.get(path) != value}


def restored_replicas(scaled_object: dict[str, Any], original: int, current: int) -> int:
    """kedacore/keda `controllers/keda/scaledobject_finalizer.go`, finalizeScaledObject: deleting a
    ScaledObject scales its target back to status.originalReplicaCount (recorded when KEDA first took the
    target: scaledobject_controller.go) only with spec.advanced.restoreToOriginalReplicaCount; otherwise the
    target keeps KEDA's last count."""
    advanced = scaled_object["spec"].get("advanced") or {}
    return original if advanced.get("restoreToOriginalReplicaCount") else current


def _idling_off(how: str) -> Any:
    def change(agent: dict[str, Any]) -> None:
        if how in ("idleTimeout", "both"):
            agent["scaling"]["idleTimeout"] = None
        if how in ("wake", "both"):
            agent["scaling"]["wake"] = []

    return change


@pytest.mark.parametrize("how", ["idleTimeout", "wake", "both"])
def test_switching_idling_off_while_idle_applies_and_wakes_the_agent(example_raw: dict[str, Any], how: str) -> None:
    """The agent is idle: KEDA (its own field manager) holds the Deployment's replicas at 0. `pulumi up` first
    applies the Deployment, and deletes the ScaledObject only at the end, after every update went through."""
    base = make_plan(example_raw).agents[0]
    head_raw = json.loads(json.dumps(example_raw))
    _idling_off(how)(head_raw["agents"]["ada"])
    head = make_plan(head_raw).agents[0]
    deployment = head.object("Deployment").manifest
    applied = {"spec.replicas": deployment["spec"]["replicas"]} if "replicas" in deployment["spec"] else {}
    live = {"spec.replicas": 0}
    assert apply_conflicts(applied, live, {"spec.replicas": "keda"}, force=False) == set()
    assert [o.kind for o in head.objects].count("ScaledObject") == 0
    scaled_object = base.object("ScaledObject").manifest
    assert restored_replicas(scaled_object, original=1, current=0) == 1  # the agent runs again


def test_the_models_can_fail() -> None:
    """Setting replicas would conflict with KEDA; a ScaledObject without restoring would leave the agent at 0."""
    assert apply_conflicts({"spec.replicas": 1}, {"spec.replicas": 0}, {"spec.replicas": "keda"}, force=False) == {
        "spec.replicas"
    }
    assert restored_replicas({"spec": {}}, original=1, current=0) == 0
