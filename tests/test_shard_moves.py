"""`diff --env` over a sharded environment, and an agent moved between shards: nothing deleted, nothing empty.

The move is carried out by `pulumi state move` (docs/lifecycle.md#shard-move). Read in pulumi/pulumi at
commit 1b5949891b (2026-08-21, after v3.259.0), `pkg/cmd/pulumi/state/state_move.go`:
- the URNs given are matched exactly (`resourceMatches`, 538) and a provider is refused (240); of what is
  matched, only the direct children are added (278-287, `graph.ChildrenOf`, which lists direct children:
  `pkg/resource/graph/dependency_graph.go` 338-344), so every URN of the agent is given, not its component
  alone (`nuketown-stack agent-urns`);
- the moved resources keep their type and name; their URNs take the destination's stack (`rewriteURNs`,
  `renameStackAndProject`, 641-700), and a resource whose parent stays behind is re-parented to the root
  stack (368, 413): the agent's component is a child of the root stack on both sides;
- a provider they use is matched with the destination's provider of the same URN: the same id, or inputs
  that are `DeepEquals` (372-391); otherwise the move fails with "provider ... already exists in destination
  stack" (388) before anything is saved. Every shard of an environment has the same settings, so the same
  provider inputs (tested below);
- a resource already at the destination URN fails the move (424); dependencies on resources left behind
  (the key ring, the ownership guard) are dropped with a warning (`breakDependencies`) and recorded again by
  the destination's next `up`; the destination is saved before the source (500-507).
"""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from shard_env import Environment, generated, make_environment, with_agent

from nuketown_stack import cli
from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program import sides
from nuketown_stack.program.declared import AGENT_TYPE, owning_agents, resource_key
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.mock_cloud import Kept
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.diff import diff_plans

MOVED = "bea-0"


@pytest.fixture(scope="module")
def forty() -> dict[str, Any]:
    return generated(40)


@pytest.fixture
def base(tmp_path: Path, forty: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Environment:
    environment = make_environment(tmp_path / "base", forty, bound=15)
    monkeypatch.chdir(environment.directory)
    assert cli.main(["shards", "--env", "fleet", "--write"]) == 0
    return environment


def diff_env(
    base: Environment, head: Environment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any], list[str]]:
    """`diff --env fleet --json` run in HEAD's directory: exit code, JSON (or stderr's lines under "problems"),
    and the stacks each run was for."""
    ran: list[str] = []
    run_sides = sides.run_sides

    def recorded(given: Any, *args: Any, **kwargs: Any) -> Any:
        ran.extend(side.stack for side in given)
        return run_sides(given, *args, **kwargs)

    monkeypatch.setattr(sides, "run_sides", recorded)
    monkeypatch.chdir(head.directory)
    capsys.readouterr()
    code = cli.main(
        ["diff", str(base.spec), "spec.json", "--env", "fleet", "--base-project", str(base.directory), "--json"]
    )
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {"problems": captured.err.splitlines()}, ran


def test_a_one_agent_change_runs_its_shard_only(
    base: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = base.copy(tmp_path / "head")
    head.set_tier("cal-0", "large")
    shard = f"fleet--{base.placement()['cal-0']}"
    code, diff, ran = diff_env(base, head, capsys, monkeypatch)
    assert code == 0
    assert diff["touched"] == [shard] and sorted(ran) == [shard, shard]  # its BASE and HEAD, nothing else
    assert diff["shards"] == ["fleet--s00", "fleet--s01", "fleet--s02"]
    [change] = diff["diffs"][shard]["changes"]
    assert (change["agent"], change["action"], change["type"]) == ("cal-0", "update", "kubernetes:apps/v1:Deployment")


def test_an_unchanged_environment_runs_nothing(
    base: Environment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, diff, ran = diff_env(base, base, capsys, monkeypatch)
    assert (code, diff["touched"], ran, diff["diffs"]) == (0, [], [], {})


def test_a_setting_touches_every_shard(
    base: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = base.copy(tmp_path / "head")
    for path in head.directory.glob("Pulumi.fleet--*.yaml"):
        document = yaml.safe_load(path.read_text())
        document["config"]["nuketown:gcpKmsLocation"] = "europe-west4"
        path.write_text(yaml.safe_dump(document))
    code, diff, _ = diff_env(base, head, capsys, monkeypatch)
    assert code == 3  # a new key ring and keys: NEW IDENTITY
    assert diff["touched"] == diff["shards"]
    assert all(d["settings"][0]["key"] == "nuketown:gcpKmsLocation" for d in diff["diffs"].values())


def test_a_new_agent_unplaced_is_refused(
    base: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = base.copy(tmp_path / "head")
    raw = head.raw()
    head.write_spec(with_agent(raw, "aaa", 9999))
    code, diff, ran = diff_env(base, head, capsys, monkeypatch)
    assert code == 2 and ran == []
    assert diff["problems"] == [
        f"agents.aaa: not placed in any shard of fleet (HEAD: {head.placement_file}); run `nuketown-stack shards "
        "--env fleet --write` and commit the file"
    ]


def test_a_new_agent_placed_touches_one_shard(
    base: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name that sorts first of all: it goes to the shard with room, and no other agent moves."""
    head = base.copy(tmp_path / "head")
    raw = head.raw()
    head.write_spec(with_agent(raw, "aaa", 9999))
    monkeypatch.chdir(head.directory)
    assert cli.main(["shards", "--env", "fleet", "--write"]) == 0
    code, diff, _ = diff_env(base, head, capsys, monkeypatch)
    assert code == 0, diff
    assert diff["touched"] == ["fleet--s02"] and diff["moves"] == []
    creates = {c["agent"] for c in diff["diffs"]["fleet--s02"]["changes"] if c["action"] == "create"}
    assert creates == {"aaa"}


def test_a_shards_diff_keeps_the_verdicts_of_one_stack(
    base: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each touched shard is judged as `diff` judges one stack: a widening is SECURITY, and taking the objects
    back from Argo CD without adopting them CANNOT APPLY (exit 4) on every shard."""
    head = base.copy(tmp_path / "head")
    raw = head.raw()
    assert raw["agents"]["fay-0"]["network"]["egress"] == [{"cidr": "0.0.0.0/0", "ports": [443]}]
    raw["agents"]["fay-0"]["network"]["egress"] = "all"
    head.write_spec(raw)
    code, diff, _ = diff_env(base, head, capsys, monkeypatch)
    shard = f"fleet--{base.placement()['fay-0']}"
    assert (code, diff["touched"]) == (0, [shard])
    [policy] = [c for c in diff["diffs"][shard]["changes"] if c["type"].endswith("NetworkPolicy")]
    assert policy["agent"] == "fay-0" and policy["security"].startswith("egress widened: from 0.0.0.0/0")

    handed = base.copy(tmp_path / "handed")
    for path in handed.directory.glob("Pulumi.fleet--*.yaml"):
        document = yaml.safe_load(path.read_text())
        document["config"]["nuketown:applyKubernetes"] = False
        path.write_text(yaml.safe_dump(document))
    code, diff, _ = diff_env(handed, base, capsys, monkeypatch)
    assert code == 4 and diff["exitCode"] == 4 and diff["touched"] == diff["shards"]
    for shard_diff in diff["diffs"].values():
        [setting] = shard_diff["settings"]
        assert (setting["key"], setting["effect"], shard_diff["exitCode"]) == ("nuketown:applyKubernetes", "blocked", 4)


def test_options_of_one_stack_are_refused_with_env(base: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["diff", "spec.json", "spec.json", "--env", "fleet", "--stack", "fleet--s00", "-c", "a:b=c"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "--stack: not with --env; each shard reads its own stack file (--base-project: the base's)",
        "--config: not with --env; each shard reads its own stack file (--base-project: the base's)",
    ]


def test_options_of_an_environment_are_refused_without_env(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["diff", "a.json", "b.json", "--jobs", "2", "--json-file", "d.json"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == ["--jobs: only with --env ENV", "--json-file: only with --env ENV"]


def test_the_json_file_holds_what_json_prints(
    base: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workflow shows the human diff and reads the touched shards from the file: one run, both forms."""
    head = base.copy(tmp_path / "head")
    head.set_tier("cal-0", "large")
    _, printed, _ = diff_env(base, head, capsys, monkeypatch)
    monkeypatch.chdir(head.directory)
    written = tmp_path / "diff.json"
    argv = ["diff", str(base.spec), "spec.json", "--env", "fleet", "--base-project", str(base.directory)]
    assert cli.main([*argv, "--json-file", str(written)]) == 0
    assert json.loads(written.read_text()) == printed
    assert capsys.readouterr().out.startswith("environment fleet: 1 of 3 shards touched")


# --- a move ------------------------------------------------------------------------------------------------


@pytest.fixture
def moved(base: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Environment:
    head = base.copy(tmp_path / "head")
    monkeypatch.chdir(head.directory)
    assert base.placement()[MOVED] == "s00"
    assert cli.main(["shards", "--env", "fleet", "--move", MOVED, "s02"]) == 0
    return head


def test_diff_reports_a_move_as_a_move(
    base: Environment, moved: Environment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, diff, _ = diff_env(base, moved, capsys, monkeypatch)
    assert code == 0
    assert diff["touched"] == ["fleet--s00", "fleet--s02"]
    [move] = diff["moves"]
    assert (move["agent"], move["from"], move["to"]) == (MOVED, "fleet--s00", "fleet--s02")
    assert move["carried"] > 10 and move["diff"]["changes"] == [] and move["diff"]["counts"]["same"] == move["carried"]
    for shard in diff["touched"]:  # neither shard shows the agent leaving or arriving
        assert diff["diffs"][shard]["changes"] == [], shard


def test_a_move_with_a_change_shows_the_change_on_the_move(
    base: Environment, moved: Environment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = moved.raw()
    raw["agents"][MOVED]["persist"].append({"path": "notes", "size": "1Gi"})
    moved.write_spec(raw)
    code, diff, _ = diff_env(base, moved, capsys, monkeypatch)
    [move] = diff["moves"]
    assert {(c["action"], c["name"]) for c in move["diff"]["changes"]} >= {("create", f"{MOVED}-notes")}
    assert code == 0


def test_the_human_diff_says_what_the_move_does(
    base: Environment, moved: Environment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(moved.directory)
    code = cli.main(["diff", str(base.spec), "spec.json", "--env", "fleet", "--base-project", str(base.directory)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[:5] == [
        "environment fleet: 2 of 3 shards touched (fleet--s00, fleet--s02); 1 unchanged, not run",
        "",
        f"agent {MOVED} moves: fleet--s00 -> fleet--s02",
        f"   on merge, `pulumi state move` carries its {out.split('carries its ')[1].split()[0]} resources to "
        "fleet--s02 before either shard goes up; docs/lifecycle.md#shard-move",
        "   nothing is deleted, replaced or created: it keeps its namespace, volumes, identity and key",
    ]


# --- what the engine does with it ----------------------------------------------------------------------------


def declared(environment: Environment, stack: str, known: Any = None, kept: Kept | None = None) -> list[dict[str, Any]]:
    """The resources a shard stack declares (`plan --json`'s shape), as the mock engine records them."""
    config = yaml.safe_load((environment.directory / f"Pulumi.{stack}.yaml").read_text())["config"]
    config = {**config, "nuketown:source": str(environment.spec), "nuketown:shards": str(environment.placement_file)}
    result = run_program(define_stack, stack, config, kept=kept, known=known)
    return list(result.to_json()["resources"])


def agent_urns(
    resources: list[dict[str, Any]], agent: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """`nuketown-stack agent-urns` on a `pulumi stack export` of a state holding `resources`, with the URNs
    `plan --json` records: each resource's own, and its parent's as the state's `parent` (ResourceV3)."""
    urn_of = {f"{r['type']}::{r['name']}": r["urn"] for r in resources}
    state = [
        {"urn": r["urn"], "type": r["type"]} | ({"parent": urn_of[r["parent"]]} if r["parent"] else {})
        for r in resources
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": state}}))
    capsys.readouterr()
    assert cli.main(["agent-urns", agent, str(path)]) == 0
    return capsys.readouterr().out.splitlines()


def state_move(
    source: list[dict[str, Any]], dest: list[dict[str, Any]], urns: list[str], dest_stack: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What `pulumi state move --dest DEST_STACK URNS...` leaves in both states (state_move.go): the resources
    of the URNs given and their direct children, each URN given the destination's stack name, and one whose
    parent stays behind (the agent's component: the shard's Fleet stays) re-parented to the root."""
    urn_of = {f"{r['type']}::{r['name']}": r["urn"] for r in source}
    moving = {r["urn"] for r in source if r["urn"] in urns}
    moving |= {r["urn"] for r in source if r["parent"] and urn_of[r["parent"]] in moving}  # direct children
    carried = [r for r in source if r["urn"] in moving]
    assert not [r for r in carried if r["type"].startswith("pulumi:providers:")]  # refused by the move (240)
    renamed = [
        r
        | {
            "urn": f"urn:pulumi:{dest_stack}::{r['urn'].split('::', 1)[1]}",
            "parent": r["parent"] if r["parent"] and urn_of[r["parent"]] in moving else None,
        }
        for r in carried
    ]
    at_dest = {r["urn"] for r in dest}
    assert not [r for r in renamed if r["urn"] in at_dest]  # "already exists in destination stack" (424)
    return [r for r in source if r["urn"] not in moving], [*dest, *renamed]


def test_a_moved_agent_is_carried_whole_nothing_deleted_nothing_empty(
    base: Environment, moved: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The move of the URNs `agent-urns` lists, on the states the mock engine records (URNs and all): then each
    shard's next run changes nothing, and the destination declares the agent under the very URNs it was given."""
    source_before, dest_before = declared(base, "fleet--s00"), declared(base, "fleet--s02")
    urns = agent_urns(source_before, MOVED, tmp_path, capsys)
    owners = owning_agents(source_before)
    assert set(urns) == {r["urn"] for r in source_before if owners[resource_key(r)] == MOVED}  # not the Fleet
    source_after, dest_after = state_move(source_before, dest_before, urns, "fleet--s02")
    # The next `up` of each shard, from the moved states: a preview knows what its state holds.
    in_state = frozenset(resource_key(r) for r in dest_after)
    dest_next = declared(moved, "fleet--s02", known=in_state)
    source_up = diff_plans(source_after, declared(moved, "fleet--s00"))
    dest_up = diff_plans(dest_after, dest_next)
    assert source_up.changes == () and dest_up.changes == ()  # no delete, no create (no empty volume), no update
    carried = [r for r in dest_after if r not in dest_before]
    assert {r["urn"] for r in carried} <= {r["urn"] for r in dest_next}  # found by URN, not through an alias
    assert {r["type"] for r in carried} >= {AGENT_TYPE, *(t for t in KEPT if t.startswith("kubernetes:"))}
    assert {r["type"] for r in carried} >= {"gcp:kms/cryptoKey:CryptoKey", "gcp:serviceaccount/account:Account"}


def test_an_agents_resources_are_its_components_direct_children(base: Environment) -> None:
    """`state move` adds only direct children of what it is given (state_move.go 278-287): with every URN given
    none is left behind either way, and today none is deeper than a child."""
    resources = declared(base, "fleet--s00")
    owners = owning_agents(resources)
    mine = [r for r in resources if owners[resource_key(r)] == MOVED and r["type"] != AGENT_TYPE]
    assert mine and all(r["parent"] == f"{AGENT_TYPE}::{MOVED}" for r in mine)


def test_every_shard_has_the_same_providers(base: Environment) -> None:
    """`state move` maps the moved resources' providers to the destination's only when their inputs are equal
    (state_move.go 372-391), else it fails with "provider ... already exists in destination stack"."""
    providers = {
        stack: {
            resource_key(r): r["inputs"] for r in declared(base, stack) if r["type"].startswith("pulumi:providers:")
        }
        for stack in ("fleet--s00", "fleet--s01", "fleet--s02")
    }
    first = providers["fleet--s00"]
    assert first and all(found == first for found in providers.values())


def test_without_state_move_the_new_shard_adopts_what_the_old_one_kept(base: Environment, moved: Environment) -> None:
    """The fallback (docs/lifecycle.md#shard-move): the old shard's `up` first, which deletes the agent's workload
    and grants and keeps what holds data or identity; then the new shard's, which adopts every kept resource by
    the mechanism of plan/keeping.py: the same namespace and volumes, the same account and key.

    "Kept" is the engine's: a delete step of a `retainOnDelete` resource removes it from the state without
    calling the provider's Delete, and one of a `protect`ed resource fails the update (pulumi/pulumi
    `pkg/resource/deploy/step.go`, `DeleteStep.Apply`, at commit 1b5949891b), so nothing here is protected."""
    source_up = diff_plans(declared(base, "fleet--s00"), declared(moved, "fleet--s00"))
    retained = {(c.type, c.name) for c in source_up.changes if c.effect == "kept"}
    assert {c.action for c in source_up.changes} == {"delete"} and {c.agent for c in source_up.changes} == {MOVED}
    assert all(c.effect == "kept" for c in source_up.changes if c.type in KEPT)
    before = {resource_key(r): r for r in declared(base, "fleet--s00")}
    assert not [key for key, r in before.items() if r["protect"]]
    assert all(before[key]["retainOnDelete"] for key in retained)
    kept = Kept(
        gcp_key_rings=frozenset({"projects/acme-fleet/locations/europe-west1/keyRings/nuketown-fleet"}),
        gcp_keys=frozenset(
            f"projects/acme-fleet/locations/europe-west1/keyRings/nuketown-fleet/cryptoKeys/{name}"
            for typ, name in retained
            if typ == "gcp:kms/cryptoKey:CryptoKey"
        ),
        gcp_accounts=tuple(
            (before[(typ, name)]["inputs"]["accountId"], "fleet", name)
            for typ, name in retained
            if typ == "gcp:serviceaccount/account:Account"
        ),
    )
    arrived = {resource_key(r): r for r in declared(moved, "fleet--s02", kept=kept)}
    for key in retained:
        assert arrived[key]["inputs"] == before[key]["inputs"], key  # the very same object, adopted
    arriving = run_program(
        define_stack,
        "fleet--s02",
        {
            **yaml.safe_load((moved.directory / "Pulumi.fleet--s02.yaml").read_text())["config"],
            "nuketown:source": str(moved.spec),
            "nuketown:shards": str(moved.placement_file),
        },
        kept=kept,
    )
    adopted = {(r.type, r.name): r for r in arriving.resources if (r.type, r.name) in retained}
    for (typ, name), resource in adopted.items():
        adoption = KEPT[typ].adoption
        if adoption == "upsert":
            assert resource.provider == "kubernetes-adopting", name
        elif adoption == "import":
            assert resource.import_id, (typ, name)
        else:
            assert resource.inputs["createIgnoreAlreadyExists"] is True


def test_every_shard_declares_the_key_ring_and_no_destroy_deletes_it(base: Environment) -> None:
    """The GCP key ring is the environment's: every shard declares it, retainOnDelete, and adopts it by import
    when it is found (clouds/gcp/declare.py). So `pulumi destroy` of one shard, or its last agent leaving, never
    calls the ring's delete (GCP could not delete it anyway), and the other shards keep using it."""
    for stack in ("fleet--s00", "fleet--s01", "fleet--s02"):
        [ring] = [r for r in declared(base, stack) if r["type"] == "gcp:kms/keyRing:KeyRing"]
        assert ring["name"] == "nuketown-fleet" and ring["retainOnDelete"] is True
    destroyed = diff_plans(declared(base, "fleet--s01"), [])
    held = [c for c in destroyed.changes if c.type in KEPT]
    assert held and all(c.effect == "kept" and c.reason and "leaves the stack" in c.reason for c in held)
