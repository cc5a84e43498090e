"""`nuketown-stack diff`: what a PR changes, per agent, and which changes would lose data."""

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from test_cli import nuketown_stack

from nuketown_stack.diff import PlanDiff, changed_paths, diff_plans, format_diff
from nuketown_stack.engine import run_program
from nuketown_stack.program import define_stack

GCP = {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"}
AWS = {
    "nuketown:cloud": "aws",
    "aws:region": "us-east-1",
    "nuketown:awsOidcProviderArn": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
}


def declared(raw: dict[str, Any], tmp_path: Path, label: str, **config: str) -> list[dict[str, Any]]:
    source = tmp_path / f"{label}.json"
    source.write_text(json.dumps(raw))
    result = run_program(define_stack, "dev", {"nuketown:source": str(source), **config})
    return result.to_json()["resources"]


def diff_of(base: dict[str, Any], head: dict[str, Any], tmp_path: Path, **config: str) -> PlanDiff:
    return diff_plans(declared(base, tmp_path, "base", **config), declared(head, tmp_path, "head", **config))


def summary(diff: PlanDiff) -> list[tuple[str | None, str, str, str]]:
    return [(c.agent, c.action, c.type.rsplit(":", 1)[-1], c.name) for c in diff.changes]


# --- the two stories of issue 5 ---------------------------------------------------------------------


@pytest.mark.parametrize("config", [{}, GCP, AWS], ids=["kubernetes", "gcp", "aws"])
def test_a_tier_change_touches_only_the_deployment(
    example_json: dict[str, Any], tmp_path: Path, config: dict[str, str]
) -> None:
    head = json.loads(json.dumps(example_json))
    head["agents"]["ada"]["resources"] = "large"
    diff = diff_of(example_json, head, tmp_path, **config)
    assert summary(diff) == [("ada", "update", "Deployment", "ada")]
    paths = {f.path for f in diff.changes[0].fields}
    assert "spec.template.spec.containers[0].resources.limits.memory" in paths
    assert not any(f.forces_replace for f in diff.changes[0].fields)
    assert diff.data_loss == ()


def test_raising_max_resources_also_moves_quota_and_limits(example_json: dict[str, Any], tmp_path: Path) -> None:
    head = json.loads(json.dumps(example_json))
    head["agents"]["ada"]["scaling"]["maxResources"] = "gpu"
    diff = diff_of(example_json, head, tmp_path)
    assert summary(diff) == [
        ("ada", "update", "ResourceQuota", "ada"),
        ("ada", "update", "LimitRange", "ada"),
        ("ada", "update", "Deployment", "ada"),  # its scaling annotation names the ceiling
    ]
    assert diff.data_loss == ()


def test_a_persist_change_is_flagged_as_data_loss(example_json: dict[str, Any], tmp_path: Path) -> None:
    head = json.loads(json.dumps(example_json))
    vox = head["agents"]["vox"]
    vox["persist"] = [p if p["path"] != "datasets" else {**p, "path": "data"} for p in vox["persist"]]
    diff = diff_of(example_json, head, tmp_path)
    assert ("vox", "delete", "PersistentVolumeClaim", "vox-datasets") in summary(diff)
    assert ("vox", "create", "PersistentVolumeClaim", "vox-data") in summary(diff)
    [loss] = diff.data_loss
    assert loss.name == "vox-datasets"
    assert "kept in the cluster" in (loss.data_loss or "")  # retained: the volume itself survives


def test_removing_an_agent_flags_its_kept_namespace_volumes_and_key(
    example_json: dict[str, Any], tmp_path: Path
) -> None:
    head = json.loads(json.dumps(example_json))
    del head["agents"]["vox"]
    diff = diff_of(example_json, head, tmp_path, **GCP)
    lost = {(c.type.rsplit(":", 1)[-1], c.name): c.data_loss or "" for c in diff.data_loss}
    assert set(lost) == {
        ("Namespace", "vox"),
        ("PersistentVolumeClaim", "vox-projects"),
        ("PersistentVolumeClaim", "vox-datasets"),
        ("CryptoKey", "vox"),
        ("Account", "vox"),
    }
    assert all("kept" in reason for reason in lost.values())
    assert all(c.agent == "vox" for c in diff.changes)
    assert {c.action for c in diff.changes} == {"delete"}


def test_a_storage_class_change_replaces_the_volume(example_json: dict[str, Any], tmp_path: Path) -> None:
    base = declared(example_json, tmp_path, "base")
    head = declared(example_json, tmp_path, "head", **{"nuketown:storageClass": "premium-rwo"})
    diff = diff_plans(base, head)
    replaced = [c for c in diff.changes if c.action == "replace"]
    assert sorted(c.name for c in replaced) == ["ada-config-claude", "ada-projects", "vox-datasets", "vox-projects"]
    assert all(c.data_loss and "replaced" in c.data_loss for c in replaced)
    assert all(f.forces_replace for c in replaced for f in c.fields if f.path == "spec.storageClassName")


def test_same_inputs_same_plan(example_json: dict[str, Any], tmp_path: Path) -> None:
    diff = diff_of(example_json, example_json, tmp_path, **AWS)
    assert diff.changes == ()
    assert diff.unchanged == len(declared(example_json, tmp_path, "again", **AWS))
    assert format_diff(diff).endswith(f"no changes; {diff.unchanged} unchanged")


# --- the pure parts -----------------------------------------------------------------------------------


def test_changed_paths_reports_leaves_on_either_side() -> None:
    old = {"spec": {"a": 1, "list": [1, 2], "gone": "x"}}
    new = {"spec": {"a": 2, "list": [1, 3, 4]}}
    changes = {path: (before, after) for path, before, after in changed_paths(old, new)}
    assert set(changes) == {"spec.a", "spec.list[1]", "spec.list[2]", "spec.gone"}
    assert changes["spec.a"] == (1, 2)
    long = [path for path, _, _ in changed_paths({"l": list(range(12))}, {"l": list(range(1, 13))})]
    assert long == [f"l[{i}]" for i in range(12)]  # in index order, whatever order the engine used


def resource(typ: str, logical: str, parent: str | None = None, **inputs: Any) -> dict[str, Any]:
    return {"type": typ, "name": logical, "parent": parent, "inputs": inputs, "protect": False, "retainOnDelete": False}


def test_resources_belong_to_the_agent_above_them_and_stack_resources_to_none() -> None:
    agent = resource("nuketown:index:Agent", "ada")
    role = resource("aws:iam/role:Role", "ada", "nuketown:index:Agent::ada", name="r")
    policy = resource("aws:iam/rolePolicy:RolePolicy", "ada", "aws:iam/role:Role::ada", policy="{}")
    ring = resource("gcp:kms/keyRing:KeyRing", "ring", name="nuketown-dev")
    diff = diff_plans([], [agent, role, policy, ring])
    assert [(c.agent, c.name) for c in diff.changes] == [("ada", "ada"), ("ada", "ada"), ("ada", "ada"), (None, "ring")]


def test_a_renamed_role_is_an_identity_change_and_a_deleted_config_map_is_no_data_loss() -> None:
    base = [
        resource("aws:iam/role:Role", "ada", name="old"),
        resource("kubernetes:core/v1:ConfigMap", "ada", data={"a": "1"}),
    ]
    head = [resource("aws:iam/role:Role", "ada", name="new")]
    diff = diff_plans(base, head)
    assert [(c.action, c.type) for c in diff.changes] == [
        ("delete", "kubernetes:core/v1:ConfigMap"),
        ("replace", "aws:iam/role:Role"),
    ]
    # A new role has a new unique id: grants made to the old one do not follow it.
    assert [c.type for c in diff.data_loss] == ["aws:iam/role:Role"]


def test_formatting_marks_data_loss_in_bold() -> None:
    base = [{**resource("kubernetes:core/v1:PersistentVolumeClaim", "ada-projects"), "retainOnDelete": True}]
    text = format_diff(diff_plans(base, []), bold="markdown")
    assert "**DATA LOSS: volume ada-projects leaves the stack" in text
    assert "\033[1mDATA LOSS" in format_diff(diff_plans(base, []), bold="ansi")


# --- the command line -----------------------------------------------------------------------------------


def test_cli_diff_exit_codes_and_json(example_json: dict[str, Any], tmp_path: Path) -> None:
    head = json.loads(json.dumps(example_json))
    del head["agents"]["ada"]["persist"][1]
    (tmp_path / "base.json").write_text(json.dumps(example_json))
    (tmp_path / "head.json").write_text(json.dumps(head))

    same = nuketown_stack("diff", str(tmp_path / "base.json"), str(tmp_path / "base.json"))
    assert same.returncode == 0, same.stderr
    assert "no changes" in same.stdout

    lossy = nuketown_stack("diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"), "--json")
    assert lossy.returncode == 3, lossy.stderr
    document = json.loads(lossy.stdout)
    assert document["dataLoss"] is True
    assert {c["name"] for c in document["changes"] if c["dataLoss"]} == {"ada-config-claude"}

    bad = nuketown_stack("diff", str(tmp_path / "base.json"), str(tmp_path / "missing.json"))
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("no such file (SOURCE is a .json or .nix file, '-', or a flake#attribute)")


def test_cli_diff_of_nix_sources_reads_the_stack_file(tmp_path: Path) -> None:
    head = tmp_path / "scaled.nix"
    head.write_text(
        f"let base = import {ROOT}/examples/cloud-ada/nuketown.nix; in\n"
        f"(import {ROOT}/nix/spec.nix).spec (base // {{ agents = base.agents // "
        '{ ada = base.agents.ada // { cloud.resources = "large"; }; }; })\n'
    )
    result = nuketown_stack("diff", "examples/cloud-ada.nix", str(head))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agent ada\n   ~ update   kubernetes:apps/v1:Deployment  ada\n")
    assert "1 to update;" in result.stdout
