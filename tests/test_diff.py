"""`nuketown-stack diff`: what a change does on the real engine, per agent, and the exit code that gates it.

The lifecycle matrix of docs/lifecycle.md, one test per row, through the command line as a user
runs it (in-process): the change, the exit code, and the words that say what happens.
"""

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLOUD_SETTINGS, EXAMPLE, OIDC_ARN, ROOT, config_flags

from nuketown_stack import cli
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.diff import changed_paths, diff_plans, format_diff

GCP = config_flags(CLOUD_SETTINGS["gcp"])
AWS = config_flags(CLOUD_SETTINGS["irsa"])
Mutation = Callable[[dict[str, Any]], None]


def diff_cli(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    base: dict[str, Any],
    head: dict[str, Any],
    *options: str,
) -> tuple[int, str, dict[str, Any]]:
    """Exit code, the human text and the JSON of `nuketown-stack diff BASE HEAD`."""
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "head.json").write_text(json.dumps(head))
    args = ["diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"), *options]
    code = cli.main(args)
    text = capsys.readouterr().out
    assert cli.main([*args, "--json"]) == code
    return code, text, json.loads(capsys.readouterr().out)


def changed(base: dict[str, Any], mutate: Mutation) -> dict[str, Any]:
    head = json.loads(json.dumps(base))
    mutate(head)
    return head


def effects(document: dict[str, Any]) -> set[tuple[str | None, str, str, str]]:
    return {
        (c["agent"], c["action"], c["type"].rsplit(":", 1)[-1], c["name"])
        for c in document["changes"]
        if c["effect"] is not None
    }


def summary(document: dict[str, Any]) -> list[tuple[str | None, str, str, str]]:
    return [(c["agent"], c["action"], c["type"].rsplit(":", 1)[-1], c["name"]) for c in document["changes"]]


# --- the matrix: spec changes --------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", [[], GCP, AWS], ids=["kubernetes", "gcp", "aws"])
def test_a_tier_change_touches_only_the_deployment(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud: list[str]
) -> None:
    head = changed(example_json, lambda h: h["agents"]["ada"].update(resources="large"))
    code, _, document = diff_cli(capsys, tmp_path, example_json, head, *cloud)
    assert (code, summary(document)) == (0, [("ada", "update", "Deployment", "ada")])
    paths = {f["path"] for f in document["changes"][0]["fields"]}
    assert "spec.template.spec.containers[0].resources.limits.memory" in paths


def test_raising_max_resources_also_moves_quota_and_limits(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = changed(example_json, lambda h: h["agents"]["ada"]["scaling"].update(maxResources="gpu"))
    code, _, document = diff_cli(capsys, tmp_path, example_json, head)
    assert code == 0
    assert summary(document) == [
        ("ada", "update", "ResourceQuota", "ada"),
        ("ada", "update", "LimitRange", "ada"),
        ("ada", "update", "Deployment", "ada"),  # its scaling annotation names the ceiling
    ]


def test_renaming_a_persist_dir_keeps_the_old_volume_and_can_apply(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rename(head: dict[str, Any]) -> None:
        vox = head["agents"]["vox"]
        vox["persist"] = [p if p["path"] != "datasets" else {**p, "path": "data"} for p in vox["persist"]]

    code, text, document = diff_cli(capsys, tmp_path, example_json, changed(example_json, rename))
    assert code == 3
    assert ("vox", "create", "PersistentVolumeClaim", "vox-data") in summary(document)
    assert effects(document) == {("vox", "delete", "PersistentVolumeClaim", "vox-datasets")}  # kept, not blocked
    assert "**KEPT: volume vox-datasets leaves the stack: it is kept in the cluster, unused" in text


def test_removing_a_persist_dir_keeps_its_volume(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = changed(example_json, lambda h: h["agents"]["ada"]["persist"].pop(1))
    code, _, document = diff_cli(capsys, tmp_path, example_json, head)
    assert code == 3
    assert effects(document) == {("ada", "delete", "PersistentVolumeClaim", "ada-config-claude")}


def test_growing_a_volume_is_an_update(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = changed(example_json, lambda h: h["agents"]["vox"]["persist"][1].update(size="80Gi"))
    code, _, document = diff_cli(capsys, tmp_path, example_json, head)
    assert (code, summary(document)) == (0, [("vox", "update", "PersistentVolumeClaim", "vox-datasets")])


def test_shrinking_a_volume_can_never_apply(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = changed(example_json, lambda h: h["agents"]["vox"]["persist"][1].update(size="5Gi"))
    code, text, document = diff_cli(capsys, tmp_path, example_json, head)
    assert code == 4
    assert effects(document) == {("vox", "update", "PersistentVolumeClaim", "vox-datasets")}
    assert "**CANNOT APPLY: volume vox-datasets cannot shrink: Kubernetes only ever expands a claim" in text


@pytest.mark.parametrize("cloud", [[], GCP, AWS], ids=["kubernetes", "gcp", "aws"])
def test_removing_an_agent_keeps_its_data_and_identity(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud: list[str]
) -> None:
    head = changed(example_json, lambda h: h["agents"].pop("vox"))
    code, text, document = diff_cli(capsys, tmp_path, example_json, head, *cloud)
    assert code == 3
    kept = {name_type for *_, name_type in [(a, act, f"{t} {n}") for a, act, t, n in effects(document)]}
    expected = {"Namespace vox", "PersistentVolumeClaim vox-projects", "PersistentVolumeClaim vox-datasets"}
    expected |= {"Account vox", "CryptoKey vox", "Bucket vox--papers"} if cloud == GCP else set()
    expected |= {"Role vox", "Policy vox-boundary", "Key vox", "Bucket vox--papers"} if cloud == AWS else set()
    assert kept == expected
    assert all(c["action"] == "delete" for c in document["changes"])
    assert "protected" not in text  # nothing is protected, so `pulumi up` goes through


def test_adding_an_agent_back_creates_or_adopts(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Creates move nothing (exit 0), but the reviewer is told that a kept volume, account or key of that
    name is adopted as it is: an agent reusing a removed agent's name gets its data and identity."""
    base = changed(example_json, lambda h: h["agents"].pop("vox"))
    code, text, document = diff_cli(capsys, tmp_path, base, example_json, *GCP)
    assert code == 0
    assert {c["action"] for c in document["changes"]} == {"create"}
    noted = {(c["type"].rsplit(":", 1)[-1], c["name"]) for c in document["changes"] if c["note"]}
    assert noted == {
        ("Namespace", "vox"),
        ("PersistentVolumeClaim", "vox-datasets"),
        ("PersistentVolumeClaim", "vox-projects"),
        ("Account", "vox"),
        ("CryptoKey", "vox"),
        ("Bucket", "vox--papers"),
    }
    assert "note: adopts, as it is, the volume vox-datasets kept from a removed agent of this name" in text
    assert all(c["effect"] is None for c in document["changes"])


def test_renaming_an_agent_keeps_the_old_ones_data(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rename(head: dict[str, Any]) -> None:
        vox = head["agents"].pop("vox")
        vox["identity"]["scope"] = "vex-*"
        vox["home"] = "/agents/vex"
        head["agents"]["vex"] = vox

    code, _, document = diff_cli(capsys, tmp_path, example_json, changed(example_json, rename), *GCP)
    assert code == 3
    assert {a for a, *_ in effects(document)} == {"vox"}
    assert ("vex", "create", "PersistentVolumeClaim", "vex-datasets") in summary(document)


def test_turning_on_right_sizing_and_idling_creates_and_moves_nothing(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def plain(head: dict[str, Any]) -> None:
        for agent in head["agents"].values():
            agent["scaling"].update(rightSizing=None, idleTimeout=None, wake=[])

    code, _, document = diff_cli(capsys, tmp_path, changed(example_json, plain), example_json)
    assert code == 0
    assert effects(document) == set()
    created = {(c["type"].rsplit(":", 1)[-1], c["name"]) for c in document["changes"] if c["action"] == "create"}
    assert created == {("VerticalPodAutoscaler", "vox"), ("ScaledObject", "ada"), ("ScaledObject", "vox")}
    # The Deployments never set the replica count, which KEDA owns from now on.
    replicas = [f for c in document["changes"] if c["type"].endswith("Deployment") for f in c["fields"]]
    assert [f for f in replicas if f["path"] == "spec.replicas"] == []


@pytest.mark.parametrize("how", ["idleTimeout", "wake"])
def test_switching_idling_off_while_idle_applies_and_wakes_the_agent(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """KEDA holds an idle agent's replicas at 0 as its own field manager: an update of the Deployment that set
    them would conflict (tests/engine/test_engine_await.py), so none does; deleting the ScaledObject hands the
    count back."""
    change = {"idleTimeout": None} if how == "idleTimeout" else {"wake": []}
    head = changed(example_json, lambda h: h["agents"]["ada"]["scaling"].update(change))
    code, text, document = diff_cli(capsys, tmp_path, example_json, head)
    assert code == 0
    fields = [f["path"] for c in document["changes"] if c["type"].endswith("Deployment") for f in c["fields"]]
    assert "spec.replicas" not in fields
    [deleted] = [c for c in document["changes"] if c["action"] == "delete"]
    assert (deleted["type"], deleted["name"]) == ("kubernetes:keda.sh/v1alpha1:ScaledObject", "ada")
    assert "KEDA scales the Deployment back to its replica count from before idling" in deleted["note"]
    assert "note: KEDA scales the Deployment back" in text


def test_a_deployment_that_sets_replicas_keda_holds_can_never_apply() -> None:
    """The engine rule behind the program's choice, for any plan that breaks it."""
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ada"}
    scaled = resource(
        "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "ada",
        metadata={"name": "ada", "namespace": "n"},
        spec={"scaleTargetRef": target},
    )

    def deployment(**spec: Any) -> dict[str, Any]:
        return resource("kubernetes:apps/v1:Deployment", "ada", metadata={"name": "ada", "namespace": "n"}, spec=spec)

    setting = diff_plans([scaled, deployment(paused=False)], [deployment(paused=False, replicas=1)])
    assert [(c.type.rsplit(":", 1)[-1], c.effect) for c in setting.changes] == [
        ("ScaledObject", None),
        ("Deployment", "blocked"),
    ]
    assert setting.exit_code == 4
    leaving = diff_plans([scaled, deployment(paused=False)], [deployment(paused=True)])
    assert leaving.exit_code == 0


def test_widening_egress_is_a_security_change_in_words(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = changed(example_json, lambda h: h["agents"]["ada"]["network"].update(egress="none"))
    code, text, document = diff_cli(capsys, tmp_path, base, example_json)
    assert code == 0
    [policy] = [c for c in document["changes"] if c["type"].endswith("NetworkPolicy")]
    everything = "0.0.0.0/0 except 169.254.169.254/32; ::/0 except fd00:ec2::254/128"  # but node metadata
    assert policy["security"] == f"egress widened: from nothing to {everything}"
    assert f"**SECURITY: egress widened: from nothing to {everything}**" in text


GIVEN = "ada-agent@acme-agents.iam.gserviceaccount.com"


def given_identity(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The spec with ada bound to an existing GCP account, and the setting that allow-lists it."""
    head = changed(spec, lambda h: h["agents"]["ada"]["identity"].update(gcpServiceAccount=GIVEN))
    return head, ["-c", f"nuketown:allowedIdentities={json.dumps({'ada': GIVEN})}"]


def test_switching_to_a_given_identity_keeps_the_created_one(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head, allowed = given_identity(example_json)
    code, text, document = diff_cli(capsys, tmp_path, example_json, head, *GCP, *allowed)
    assert code == 3
    assert effects(document) == {("ada", "delete", "Account", "ada")}
    assert "kept in the cloud, unused" in text
    # The pod rolls, so it does not keep credentials of the account it no longer uses.
    deployment = next(c for c in document["changes"] if c["type"].endswith("Deployment"))
    assert any(f["path"].endswith("nuketown.io/credentials-checksum") for f in deployment["fields"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h["agents"]["ada"].update(uid=1200),
        lambda h: h["agents"]["ada"].update(role="research"),
        lambda h: h["agents"]["ada"].update(description="Writes the code."),
        lambda h: h["agents"]["ada"].update(image="ghcr.io/acme/ada:2"),
    ],
    ids=["uid", "role", "description", "image"],
)
def test_everyday_changes_move_nothing(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Mutation
) -> None:
    code, _, document = diff_cli(capsys, tmp_path, example_json, changed(example_json, mutate))
    assert code == 0
    assert effects(document) == set()
    assert {c["agent"] for c in document["changes"]} == {"ada"}


# --- the matrix: stack settings, each side with its own ---------------------------------------------------------


def stack_file(tmp_path: Path, name: str, settings: dict[str, Any]) -> str:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": settings}))
    return str(path)


@pytest.mark.parametrize(
    ("base_settings", "head_settings", "code", "words"),
    [
        ({}, {"nuketown:storageClass": "premium-rwo"}, 4, "cannot be replaced in place (spec.storageClassName)"),
        ({}, {"nuketown:namespacePrefix": "agents--"}, 3, "every agent moves to a new namespace"),
        ({"nuketown:legacyNames": True}, {}, 3, "every name derived from it moves"),
        ({}, {"nuketown:environment": "staging"}, 3, "every name derived from it moves"),
        ({}, {"kubernetes:context": "other-cluster"}, 3, "points at another cluster"),
        (
            {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"},
            {},
            3,
            "every agent's gcp identity and key leave the stack",
        ),
        (
            {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"},
            {"nuketown:cloud": "gcp", "gcp:project": "acme-agents-2"},
            3,
            "created in the new project",
        ),
        (
            {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"},
            {"nuketown:cloud": "gcp", "gcp:project": "acme-agents", "nuketown:gcpKmsLocation": "europe-west1"},
            3,
            "a new key ring and keys are created there",
        ),
        (
            {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC_ARN},
            {"nuketown:cloud": "aws", "aws:region": "eu-west-1", "nuketown:awsOidcProviderArn": OIDC_ARN},
            3,
            "keys are regional",
        ),
        ({}, {"nuketown:applyKubernetes": False}, 3, "the stack stops applying Kubernetes objects"),
    ],
    ids=[
        "storage-class",
        "namespace-prefix",
        "legacy-names",
        "environment",
        "cluster",
        "cloud",
        "gcp-project",
        "kms-location",
        "aws-region",
        "argo",
    ],
)
def test_a_settings_change_is_seen_with_each_sides_own_stack_file(
    example_json: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    base_settings: dict[str, Any],
    head_settings: dict[str, Any],
    code: int,
    words: str,
) -> None:
    """The PR's stack file is HEAD's (Pulumi.<stack>.yaml); the base branch's comes with --base-stack-file."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack_file(project, "prod", head_settings)
    (tmp_path / "base").mkdir()
    base_file = stack_file(tmp_path / "base", "prod", base_settings)  # the base branch's Pulumi.prod.yaml
    monkeypatch.chdir(project)
    found, text, document = diff_cli(
        capsys, tmp_path, example_json, example_json, "--stack", "prod", "--base-stack-file", base_file
    )
    assert found == code
    assert words in text
    assert document["exitCode"] == code
    # The same settings on both sides: nothing to report.
    same, _, _ = diff_cli(capsys, tmp_path, example_json, example_json, "--stack", "prod")
    assert same == 0


@pytest.mark.parametrize("cloud", ["none", "gcp", "irsa"])
@pytest.mark.parametrize("how", ["--base-stack", "--base-stack-file"])
def test_a_stack_rename_moves_every_name(
    example_json: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cloud: str,
    how: str,
) -> None:
    """Pulumi.prod.yaml renamed Pulumi.prod-2.yaml: every name derives from the stack's name, so each agent
    would move to a new namespace on empty volumes (and a new identity and key): exit 3, each named."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack_file(project, "prod-2", CLOUD_SETTINGS[cloud])
    (tmp_path / "base").mkdir()
    base = ["--base-stack", "prod"] if how == "--base-stack" else [how, stack_file(tmp_path / "base", "prod", {})]
    if how == "--base-stack-file":
        stack_file(tmp_path / "base", "prod", CLOUD_SETTINGS[cloud])
    monkeypatch.chdir(project)
    code, text, document = diff_cli(capsys, tmp_path, example_json, example_json, "--stack", "prod-2", *base)
    assert code == 3
    assert [(s["key"], s["old"], s["new"]) for s in document["settings"]] == [
        ("nuketown:environment", "prod", "prod-2")
    ]
    moved = {(c["type"].rsplit(":", 1)[-1], c["name"], c["effect"]) for c in document["changes"] if c["effect"]}
    for agent in ("ada", "vox"):
        assert ("Namespace", agent, "empty") in moved
        if cloud == "gcp":
            assert {("Account", agent, "identity"), ("CryptoKey", agent, "identity")} <= moved
        if cloud == "irsa":  # the key stays the same key: only its tags (and alias) follow the new name
            assert {("Role", agent, "identity"), ("Policy", f"{agent}-boundary", "identity")} <= moved
    assert "NEW EMPTY" in text and "nuketown-prod--ada' -> 'nuketown-prod-2--ada'" in text


def test_a_stack_renamed_with_its_environment_kept_moves_nothing(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docs/lifecycle.md says to do instead: the new stack keeps nuketown:environment prod."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack_file(project, "prod-2", {**CLOUD_SETTINGS["gcp"], "nuketown:environment": "prod"})
    stack_file(project, "prod", CLOUD_SETTINGS["gcp"])
    monkeypatch.chdir(project)
    code, _, document = diff_cli(
        capsys, tmp_path, example_json, example_json, "--stack", "prod-2", "--base-stack", "prod"
    )
    assert code == 0 and document["settings"] == []
    # Only the ownership guard is the stack's own.
    assert {c["name"] for c in document["changes"]} == {"ownership"}


def test_switching_aws_mode_rolls_the_pods(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials follow identity: a pod keeps the credentials it started with until it restarts."""
    pod_identity = ["-c", "nuketown:awsMode=podIdentity", "-c", "nuketown:awsClusterName=agents"]
    base_irsa = [f"--base-config={pair}" for pair in AWS[1::2]]
    code, _, document = diff_cli(capsys, tmp_path, example_json, example_json, *AWS, *pod_identity, *base_irsa)
    assert code == 0
    deployments = [c for c in document["changes"] if c["type"].endswith("Deployment")]
    assert len(deployments) == 2
    assert all(any(f["path"].endswith("credentials-checksum") for f in d["fields"]) for d in deployments)


def test_base_config_overrides_only_the_base_side(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = diff_cli(
        capsys, tmp_path, example_json, example_json, "--base-config", "nuketown:namespacePrefix=old--"
    )
    assert code == 3
    assert "~ nuketown:namespacePrefix: 'old--' -> 'nuketown-dev--'" in text
    assert diff_cli(capsys, tmp_path, example_json, example_json, "-c", "nuketown:namespacePrefix=x--")[0] == 0


# --- the pure parts -----------------------------------------------------------------------------------


def resource(typ: str, logical: str, parent: str | None = None, **inputs: Any) -> dict[str, Any]:
    return {"type": typ, "name": logical, "parent": parent, "inputs": inputs, "protect": False, "retainOnDelete": False}


def test_changed_paths_reports_leaves_on_either_side() -> None:
    old = {"spec": {"a": 1, "list": [1, 2], "gone": "x"}}
    new = {"spec": {"a": 2, "list": [1, 3, 4]}}
    changes = {path: (before, after) for path, before, after in changed_paths(old, new)}
    assert set(changes) == {"spec.a", "spec.list[1]", "spec.list[2]", "spec.gone"}
    assert changes["spec.a"] == (1, 2)
    long = [path for path, _, _ in changed_paths({"l": list(range(12))}, {"l": list(range(1, 13))})]
    assert long == [f"l[{i}]" for i in range(12)]  # in index order, whatever order the engine used


def test_resources_belong_to_the_agent_above_them_and_stack_resources_to_none() -> None:
    agent = resource("nuketown:index:Agent", "ada")
    role = resource("aws:iam/role:Role", "ada", "nuketown:index:Agent::ada", name="r")
    policy = resource("aws:iam/rolePolicy:RolePolicy", "ada", "aws:iam/role:Role::ada", policy="{}")
    ring = resource("gcp:kms/keyRing:KeyRing", "ring", name="nuketown-dev")
    diff = diff_plans([], [agent, role, policy, ring])
    assert [(c.agent, c.name) for c in diff.changes] == [("ada", "ada"), ("ada", "ada"), ("ada", "ada"), (None, "ring")]


def test_a_renamed_role_is_a_new_identity_and_a_deleted_config_map_moves_nothing() -> None:
    base = [
        {**resource("aws:iam/role:Role", "ada", name="old"), "retainOnDelete": True},
        resource("kubernetes:core/v1:ConfigMap", "ada", data={"a": "1"}),
    ]
    head = [{**resource("aws:iam/role:Role", "ada", name="new"), "retainOnDelete": True}]
    diff = diff_plans(base, head)
    assert [(c.action, c.type, c.effect) for c in diff.changes] == [
        ("delete", "kubernetes:core/v1:ConfigMap", None),
        ("replace", "aws:iam/role:Role", "identity"),  # a new unique id: grants to the old one do not follow
    ]
    assert diff.exit_code == 3


def test_a_kept_resource_replaced_under_its_own_name_can_never_apply() -> None:
    """Delete-before-replace with the delete skipped (retainOnDelete): the create meets the old object."""
    old = {**resource("kubernetes:core/v1:PersistentVolumeClaim", "ada-projects"), "retainOnDelete": True}
    old["inputs"] = {"metadata": {"name": "ada-projects", "namespace": "n"}, "spec": {"storageClassName": "a"}}
    new = json.loads(json.dumps(old))
    new["inputs"]["spec"]["storageClassName"] = "b"
    diff = diff_plans([old], [new])
    assert [c.effect for c in diff.changes] == ["blocked"]
    assert diff.exit_code == 4


def test_quota_admission_counts_the_claims_kept_in_the_namespace() -> None:
    """A quota that counted claims would refuse the renamed directory's claim: the program's quota does not."""
    claim = "kubernetes:core/v1:PersistentVolumeClaim"

    def pvc(name: str) -> dict[str, Any]:
        inputs = {"metadata": {"name": name, "namespace": "n"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
        return {**resource(claim, name), "inputs": inputs, "retainOnDelete": True}

    def quota(hard: dict[str, str]) -> dict[str, Any]:
        return resource("kubernetes:core/v1:ResourceQuota", "q", metadata={"namespace": "n"}, spec={"hard": hard})

    counting = diff_plans(
        [pvc("old"), quota({"persistentvolumeclaims": "1"})], [pvc("new"), quota({"persistentvolumeclaims": "1"})]
    )
    assert [(c.name, c.effect) for c in counting.changes if c.type == claim] == [("old", "kept"), ("new", "blocked")]
    program = diff_plans([pvc("old"), quota({"pods": "1"})], [pvc("new"), quota({"pods": "1"})])
    assert [(c.name, c.effect) for c in program.changes if c.type == claim] == [("old", "kept"), ("new", None)]


def test_formatting_marks_effects_in_bold_and_colours_the_marks_on_a_terminal() -> None:
    base = [{**resource("kubernetes:core/v1:PersistentVolumeClaim", "ada-projects"), "retainOnDelete": True}]
    diff = diff_plans(base, [])
    assert "**KEPT: volume ada-projects leaves the stack" in format_diff(diff, "markdown")
    ansi = format_diff(diff, "ansi")
    assert "\033[1mKEPT" in ansi and "\033[31m -\033[0m delete" in ansi
    plain = format_diff(diff, "plain")
    assert "\033[" not in plain and "**" not in plain


def test_same_inputs_same_plan(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, document = diff_cli(capsys, tmp_path, example_json, example_json, *AWS)
    assert (code, document["changes"]) == (0, [])
    assert text.strip().endswith(f"no changes; {document['counts']['same']} unchanged")


def test_cli_diff_of_nix_sources_reads_the_stack_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = tmp_path / "scaled.nix"
    head.write_text(
        f"let base = import {ROOT}/examples/cloud-ada/nuketown.nix; in\n"
        f"(import {ROOT}/nix/spec.nix).spec (base // {{ agents = base.agents // "
        '{ ada = base.agents.ada // { cloud.resources = "large"; }; }; })\n'
    )
    code = cli.main(["diff", str(ROOT / "examples" / "cloud-ada.nix"), str(head)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("agent ada\n   ~ update   kubernetes:apps/v1:Deployment  ada\n")
    assert "1 to update;" in out


def test_a_missing_side_is_invalid_input(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.json").write_text(json.dumps(example_json))
    assert cli.main(["diff", str(tmp_path / "base.json"), str(tmp_path / "missing.json")]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("no such file (SOURCE is a .json or .nix file, '-', or a flake#attribute)")
    )


# --- what a change adds to what an agent reaches: SECURITY -------------------------------------------------------


def security(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["type"].rsplit(":", 1)[-1], c["name"]): c["security"] for c in document["changes"] if c["security"]}


SHARED = ["-c", 'nuketown:allowedScopes={"ada": ["shared-*"]}']
AGENT_PREFIX = ["-c", "nuketown:storage=agentPrefix"]


CLOUDS = {"gcp": GCP, "aws-irsa": AWS, "aws-pod-identity": config_flags(CLOUD_SETTINGS["podIdentity"])}


def prefix_marks(cloud: str, prefix: str) -> tuple[set[tuple[str, str]], str]:
    """What a grant of bucket prefix `prefix` to ada marks SECURITY on a cloud, and the words that name it."""
    if cloud == "gcp":
        return {("IAMMember", "ada-storage")}, f'if resource.name.startsWith("projects/_/buckets/{prefix}")'
    return {("RolePolicy", "ada"), ("Policy", "ada-boundary")}, f"on arn:aws:s3:::{prefix}*/*"


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_moving_a_scope_to_a_shared_one_is_a_security_change(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud: str
) -> None:
    """Allow-listed, so valid: but ada now reaches every bucket of shared-*, which a reviewer must see."""
    head = changed(example_json, lambda h: h["agents"]["ada"]["identity"].update(scope="shared-*"))
    code, text, document = diff_cli(capsys, tmp_path, example_json, head, *CLOUDS[cloud], *SHARED)
    assert code == 0
    marked, reached = prefix_marks(cloud, "shared-")
    assert set(security(document)) == marked
    assert all(reached in words and words.startswith("reaches more: ") for words in security(document).values())
    assert "**SECURITY: reaches more: " in text


@pytest.mark.parametrize("cloud", [GCP, AWS], ids=["gcp", "aws"])
def test_narrowing_a_scope_is_not_a_security_change(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud: list[str]
) -> None:
    """With the agent's prefix granted (nuketown:storage agentPrefix), a longer prefix reaches less."""
    head = changed(example_json, lambda h: h["agents"]["ada"]["identity"].update(scope="ada-data-*"))
    code, _, document = diff_cli(capsys, tmp_path, example_json, head, *cloud, *AGENT_PREFIX)
    assert code == 0
    assert any(c["agent"] == "ada" for c in document["changes"])  # the grants did change
    assert security(document) == {}


def test_binding_a_given_identity_is_a_security_change(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pod now acts as an account that keeps whatever was granted to it outside this stack."""
    head, allowed = given_identity(example_json)
    _, _, document = diff_cli(capsys, tmp_path, example_json, head, *GCP, *allowed, *AGENT_PREFIX)
    marked = security(document)
    assert ("ServiceAccount", "ada") in marked and GIVEN in marked[("ServiceAccount", "ada")]
    assert f"serviceAccount:{GIVEN}: roles/storage.objectUser" in marked[("IAMMember", "ada-storage")]
    # Its own bucket, which the account it acts as now reaches too.
    assert marked[("BucketIAMMember", "ada--artifacts--objects")] == (
        f"reaches more: serviceAccount:{GIVEN}: roles/storage.objectUser on bucket acme-agents--dev--ada--artifacts"
    )
    # And back to an account this stack creates (new, with no grant of its own): nothing more is reached.
    _, _, back = diff_cli(capsys, tmp_path, head, example_json, *GCP, *allowed, *AGENT_PREFIX)
    assert security(back) == {}


@pytest.mark.parametrize("cloud", list(CLOUDS))
@pytest.mark.parametrize(
    ("grant", "others"),
    [(AGENT_PREFIX, {"vox"}), (["-c", 'nuketown:allowedScopes={"ada": ["ada-*"]}'], set())],
    ids=["storage-agentPrefix", "scope-allow-listed"],
)
def test_granting_a_bucket_prefix_is_a_security_change(
    example_json: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    cloud: str,
    grant: list[str],
    others: set[str],
) -> None:
    """nuketown:storage from buckets to agentPrefix, or the agent's scope newly allow-listed: a prefix grant
    reaches every bucket of the project or account whose name starts with it, beyond the agent's own buckets.
    With agentPrefix, every agent; with the allow-list, the agent it names."""
    base = [f"--base-config={pair}" for pair in CLOUDS[cloud][1::2]]
    code, text, document = diff_cli(capsys, tmp_path, example_json, example_json, *CLOUDS[cloud], *grant, *base)
    assert code == 0
    marked, reached = prefix_marks(cloud, "ada-")
    ada = {key: words for key, words in security(document).items() if key[1].startswith("ada")}
    assert set(ada) == marked
    assert all(words.startswith("reaches more: ") and reached in words for words in ada.values()), ada
    assert {c["agent"] for c in document["changes"] if c["security"]} == {"ada", *others}
    assert "(SECURITY): read them**" in text
    # And back to the buckets alone: nothing more is reached.
    back = [f"--base-config={pair}" for pair in [*CLOUDS[cloud], *grant][1::2]]
    _, _, narrowed = diff_cli(capsys, tmp_path, example_json, example_json, *CLOUDS[cloud], *back)
    assert any(c["agent"] == "ada" for c in narrowed["changes"]) and security(narrowed) == {}


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_adding_a_bucket_of_its_own_is_not_a_security_change(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud: str
) -> None:
    """The agent's own identity on a bucket the change creates for it (or adopts, only when labelled for it):
    nothing beyond the agent is reached, so the grant is not SECURITY (views/reach.py). On GCP it is a new
    bucket-level member; on AWS the role policy and boundary name one more bucket."""
    head = changed(example_json, lambda h: h["agents"]["ada"]["buckets"].append("scratch"))
    code, _, document = diff_cli(capsys, tmp_path, example_json, head, *CLOUDS[cloud])
    assert code == 0
    created = {c["type"].rsplit(":", 1)[-1] for c in document["changes"] if c["action"] == "create"}
    assert "Bucket" in created
    updated = {c["type"].rsplit(":", 1)[-1] for c in document["changes"] if c["action"] == "update"}
    assert updated == ({"RolePolicy", "Policy"} if cloud.startswith("aws") else set())
    assert security(document) == {}


def _with_vox_bucket_for_ada(resources: list[dict[str, Any]], cloud: str) -> list[dict[str, Any]]:
    """ada's grants edited to reach vox's bucket as well: a bucket-level member on it (GCP), its ARN in ada's role
    policy (AWS). No spec says this; a hand edit, or a bug, would."""
    resources = copy.deepcopy(resources)
    if cloud == "gcp":
        vox = next(r for r in resources if r["type"] == "gcp:storage/bucket:Bucket" and r["name"] == "vox--papers")
        ada = next(r for r in resources if r["type"].endswith("BucketIAMMember") and r["name"].startswith("ada--"))
        return [
            *resources,
            {**ada, "name": "ada--papers--objects", "inputs": {**ada["inputs"], "bucket": vox["inputs"]["name"]}},
        ]
    vox = next(r for r in resources if r["type"] == "aws:s3/bucket:Bucket" and r["name"] == "vox--papers")
    policy = next(r for r in resources if r["type"] == "aws:iam/rolePolicy:RolePolicy" and r["name"] == "ada")
    document = json.loads(policy["inputs"]["policy"])
    for statement in document["Statement"]:
        if statement.get("Sid") == "OwnObjects":
            statement["Resource"].append(f"arn:aws:s3:::{vox['inputs']['bucket']}/*")
    policy["inputs"]["policy"] = json.dumps(document)
    return resources


@pytest.mark.parametrize("cloud", ["gcp", "aws-irsa"])
def test_a_grant_on_another_agents_bucket_is_a_security_change(cloud: str) -> None:
    config = {"nuketown:source": str(EXAMPLE), **CLOUD_SETTINGS["gcp" if cloud == "gcp" else "irsa"]}
    base = run_program(define_stack, "dev", config).to_json()["resources"]
    changes = [c for c in diff_plans(base, _with_vox_bucket_for_ada(base, cloud)).changes if c.security]
    assert [(c.agent, c.type.rsplit(":", 1)[-1]) for c in changes] == [
        ("ada", "BucketIAMMember" if cloud == "gcp" else "RolePolicy")
    ]
    [words] = [c.security for c in changes]
    assert words is not None and "vox--papers" in words, words


@pytest.mark.parametrize(
    ("base_settings", "head_settings", "marked"),
    [
        (
            GCP,
            [*GCP, "-c", 'nuketown:gcpKmsEncrypters=["user:eve@example.org"]'],
            {"CryptoKeyIAMMember": "user:eve@example.org: roles/cloudkms.cryptoKeyEncrypter on key"},
        ),
        (
            GCP,
            [*GCP, "-c", "nuketown:gcpClusterProject=other-project"],
            {"IAMMember": "serviceAccount:other-project.svc.id.goog[nuketown-dev--ada/ada]"},
        ),
        (
            AWS,
            [*AWS, "-c", "nuketown:awsMode=podIdentity", "-c", "nuketown:awsClusterName=agents"],
            {"Role": "Service:pods.eks.amazonaws.com: sts:AssumeRole", "PodIdentityAssociation": "pods of agents/"},
        ),
    ],
    ids=["gcp-encrypter", "gcp-cluster-project", "aws-pod-identity"],
)
def test_settings_that_widen_who_reaches_an_identity_or_key_are_security_changes(
    example_json: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    base_settings: list[str],
    head_settings: list[str],
    marked: dict[str, str],
) -> None:
    base = [f"--base-config={pair}" for pair in base_settings[1::2]]
    _, _, document = diff_cli(capsys, tmp_path, example_json, example_json, *head_settings, *base)
    found = {(kind, name): words for (kind, name), words in security(document).items() if name.startswith("ada")}
    for kind, words in marked.items():
        assert any(k == kind and words in w for (k, _), w in found.items()), (kind, found)


def test_setting_an_environment_variable_is_a_security_change(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No list names every variable a program reads as an address or a command: each one set is read."""
    head = changed(example_json, lambda h: h["agents"]["ada"]["env"].update(ANTHROPIC_BASE_URL="http://x", TZ="UTC"))
    _, text, document = diff_cli(capsys, tmp_path, example_json, head)
    assert "**1 change(s) widen what an agent reaches (SECURITY): read them**" in text
    assert security(document) == {
        ("Deployment", "ada"): "environment set or changed: ANTHROPIC_BASE_URL, TZ (a variable can redirect "
        "traffic or run code in the program that reads it; nuketown refuses only the families it knows, "
        "docs/security.md#2-what-an-agents-pod-can-reach)"
    }
    _, _, removed = diff_cli(capsys, tmp_path, head, example_json)
    assert security(removed) == {}
    _, _, role = diff_cli(capsys, tmp_path, head, changed(head, lambda h: h["agents"]["ada"].update(role="x")))
    assert security(role) == {}  # nuketown's own variables (NUKETOWN_ROLE) are not the spec's


def test_a_removed_denial_is_a_security_change() -> None:
    """A boundary's Deny is a limit: losing it widens what the role can ever do."""
    deny = {"Effect": "Deny", "Action": ["iam:*"], "Resource": "*"}
    allow = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::ada-*/*"}

    def boundary(*statements: dict[str, Any]) -> dict[str, Any]:
        return resource("aws:iam/policy:Policy", "b", name="b", policy=json.dumps({"Statement": list(statements)}))

    dropped = diff_plans([boundary(allow, deny)], [boundary(allow)])
    assert [c.security for c in dropped.changes] == ["reaches more: no longer: boundary b iam:* on *"]
    narrower = {**deny, "Action": ["iam:PassRole"]}
    assert [c.security for c in diff_plans([boundary(allow, deny)], [boundary(allow, narrower)]).changes] == [
        "reaches more: no longer: boundary b iam:* on *"
    ]
    wider = {**deny, "Action": ["iam:*", "sts:*"]}
    assert [c.security for c in diff_plans([boundary(allow, deny)], [boundary(allow, wider)]).changes] == [None]


# --- taking the Kubernetes objects back from Argo CD ---------------------------------------------------------------


@pytest.mark.parametrize("cloud", [[], GCP, AWS], ids=["kubernetes", "gcp", "aws"])
def test_taking_the_objects_back_from_argo_cd_needs_adoption(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], cloud: list[str]
) -> None:
    """Argo CD applied every object already: created without adopting, each is refused as AlreadyExists."""
    base = [*(f"--base-config={pair}" for pair in cloud[1::2]), "--base-config=nuketown:applyKubernetes=false"]
    code, text, document = diff_cli(capsys, tmp_path, example_json, example_json, *cloud, *base)
    assert code == 4
    [setting] = document["settings"]
    assert (setting["key"], setting["old"], setting["new"], setting["effect"]) == (
        "nuketown:applyKubernetes",
        False,
        True,
        "blocked",
    )
    assert "AlreadyExists" in setting["reason"] and "nuketown:adoptExistingObjects" in setting["reason"]
    assert "docs/lifecycle.md#argo-cd-back" in text
    created = {c["type"] for c in document["changes"] if c["action"] == "create"}
    assert "kubernetes:apps/v1:Deployment" in created
    # Adopting them, the same change applies: namespaces and claims as ever, every other object by upsert too.
    adopt = ["-c", "nuketown:adoptExistingObjects=true"]
    code, _, document = diff_cli(capsys, tmp_path, example_json, example_json, *cloud, *adopt, *base)
    assert (code, document["settings"]) == (0, [])
    cli.main(["diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"), *cloud, *adopt, *base])
    assert "warning: nuketown:adoptExistingObjects: on: " in capsys.readouterr().err


# --- docs/scaling.md's pull request answers, as diff prints them ------------------------------------------------


def _matches(shown: list[str], printed: list[str]) -> bool:
    """Whether `printed` is `shown`, where a shown line `...` stands for any run of printed lines."""
    if not shown:
        return not printed
    if shown[0].strip() == "...":
        return any(_matches(shown[1:], printed[i:]) for i in range(len(printed) + 1))
    return bool(printed) and shown[0] == printed[0] and _matches(shown[1:], printed[1:])


def test_scaling_docs_show_what_diff_prints(
    example_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two pull requests of docs/scaling.md (a tier change; then the ceiling too), on the example's dev stack
    with GCP identity on, as the document says."""
    text = (ROOT / "docs" / "scaling.md").read_text()
    blocks = [b for b in re.findall(r"```\n(agent ada\n.*?)```", text, flags=re.DOTALL)]
    tier = changed(example_json, lambda h: h["agents"]["ada"].update(resources="large"))
    ceiling = changed(tier, lambda h: h["agents"]["ada"]["scaling"].update(maxResources="gpu"))
    assert len(blocks) == 2
    for block, head in zip(blocks, (tier, ceiling), strict=True):
        _, printed, _ = diff_cli(capsys, tmp_path, example_json, head, *GCP)
        assert _matches(block.rstrip("\n").splitlines(), printed.rstrip("\n").splitlines()), printed
