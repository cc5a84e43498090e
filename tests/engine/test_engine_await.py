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
