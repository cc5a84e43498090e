"""`nuketown-stack shards`, and `plan`, `render`, `validate` and `diff` on one shard stack, as a user runs them."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from shard_env import Environment, generated, make_environment, with_agent

from nuketown_stack import cli
from nuketown_stack.program.declared import AGENT_TYPE


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    def invoke(*argv: str, cwd: Path) -> Ran:
        monkeypatch.chdir(cwd)
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="module")
def forty() -> dict[str, Any]:
    return generated(40)


@pytest.fixture
def placed(tmp_path: Path, forty: dict[str, Any], run: Any) -> Environment:
    """40 agents with a bound of 15: shards of 15, 15 and 10."""
    environment = make_environment(tmp_path / "fleet", forty, bound=15)
    ran = run("shards", "--env", "fleet", "--write", cwd=environment.directory)
    assert ran.code == 0, ran.err
    return environment


def test_shards_prints_every_shard_and_its_agents(placed: Environment, run: Any, forty: dict[str, Any]) -> None:
    ran = run("shards", "--env", "fleet", "--json", cwd=placed.directory)
    assert ran.code == 0 and ran.err == "", ran.err
    shards = json.loads(ran.out)
    assert list(shards) == ["fleet--s00", "fleet--s01", "fleet--s02"]
    assert [len(agents) for agents in shards.values()] == [15, 15, 10]
    assert sorted(a for agents in shards.values() for a in agents) == sorted(forty["agents"])
    assert shards["fleet--s00"] == sorted(shards["fleet--s00"])


def test_project_names_the_environments_directory_from_anywhere(placed: Environment, run: Any, tmp_path: Path) -> None:
    here = run("shards", "--env", "fleet", "--json", cwd=placed.directory)
    elsewhere = run("shards", "--env", "fleet", "--json", "--project", str(placed.directory), cwd=tmp_path)
    assert elsewhere == here and elsewhere.code == 0
    missing = run("shards", "--env", "fleet", "--project", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.code == 2 and missing.err.startswith("--env fleet: no shard stack file") and missing.out == ""


def test_write_makes_the_placement_and_the_new_shards_stack_files(placed: Environment, run: Any) -> None:
    files = sorted(p.name for p in placed.directory.glob("Pulumi.fleet--*.yaml"))
    assert files == ["Pulumi.fleet--s00.yaml", "Pulumi.fleet--s01.yaml", "Pulumi.fleet--s02.yaml"]
    first, new = (yaml.safe_load((placed.directory / f).read_text()) for f in (files[0], files[2]))
    assert new == first  # every shard has the same settings
    before = placed.placement_file.read_bytes()
    ran = run("shards", "--env", "fleet", "--write", cwd=placed.directory)
    assert ran.code == 0 and ran.err == ""  # nothing to place: nothing said, nothing written differently
    assert placed.placement_file.read_bytes() == before


def test_an_agent_whose_name_sorts_first_moves_nobody(placed: Environment, run: Any) -> None:
    before = placed.placement()
    raw = placed.raw()
    placed.write_spec(with_agent(raw, "aaa", 9999))
    ran = run("shards", "--env", "fleet", "--write", cwd=placed.directory)
    assert ran.code == 0, ran.err
    assert ran.err == "placed 1 new agent(s): aaa -> s02\n"  # the least filled shard with room
    after = placed.placement()
    assert {agent: shard for agent, shard in after.items() if agent != "aaa"} == before


def test_without_write_nothing_is_recorded_and_it_says_so(placed: Environment, run: Any) -> None:
    raw = placed.raw()
    placed.write_spec(with_agent(raw, "zz-new", 9999))
    before = placed.placement_file.read_bytes()
    ran = run("shards", "--env", "fleet", "--json", cwd=placed.directory)
    assert ran.code == 0
    assert "placed 1 new agent(s): zz-new -> s02" in ran.err and "not recorded: --write records it" in ran.err
    assert "zz-new" in json.loads(ran.out)["fleet--s02"]
    assert placed.placement_file.read_bytes() == before


def test_move_records_a_persons_choice(placed: Environment, run: Any) -> None:
    shard = placed.placement()["bea-0"]
    ran = run("shards", "--env", "fleet", "--move", "bea-0", "fleet--s02", cwd=placed.directory)
    assert ran.code == 0, ran.err
    assert f"moved bea-0: fleet--{shard} -> fleet--s02" in ran.err
    assert placed.placement()["bea-0"] == "s02"
    full = run("shards", "--env", "fleet", "--move", "cal-0", "s01", cwd=placed.directory)
    assert full.code == 2 and "s01 holds 15 agents, the bound of fleet's placement file (15)" in full.err


def test_shards_that_differ_in_a_setting_are_refused(placed: Environment, run: Any) -> None:
    path = placed.directory / "Pulumi.fleet--s02.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["nuketown:storageClass"] = "standard-rwo"
    path.write_text(yaml.safe_dump(document))
    ran = run("shards", "--env", "fleet", cwd=placed.directory)
    assert ran.code == 2
    assert ran.err == (
        "Pulumi.fleet--s02.yaml: nuketown:storageClass: 'standard-rwo', where Pulumi.fleet--s00.yaml has "
        "'premium-rwo'; every shard of an environment has the same settings\n"
    )


def test_a_shard_file_of_another_environment_is_refused(placed: Environment, run: Any) -> None:
    path = placed.directory / "Pulumi.fleet--s01.yaml"
    path.write_text(path.read_text().replace("nuketown:environment: fleet", "nuketown:environment: other"))
    ran = run("shards", "--env", "fleet", cwd=placed.directory)
    assert ran.code == 2
    assert "Pulumi.fleet--s01.yaml: nuketown:environment: 'other'; a shard of fleet sets fleet" in ran.err


def test_an_environment_without_shards_says_how_to_start(tmp_path: Path, run: Any) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: nuketown\n")
    ran = run("shards", "--env", "fleet", cwd=tmp_path)
    assert ran.code == 2
    assert ran.err.startswith("--env fleet: no shard stack file (Pulumi.fleet--s00.yaml, ...) in")


# --- one shard stack -----------------------------------------------------------------------------------------


def test_plan_of_a_shard_declares_its_agents_only(placed: Environment, run: Any) -> None:
    ran = run("plan", "--stack", "fleet--s02", "--json", cwd=placed.directory)
    assert ran.code == 0, ran.err
    agents = {r["name"] for r in json.loads(ran.out)["resources"] if r["type"] == AGENT_TYPE}
    assert agents == {a for a, shard in placed.placement().items() if shard == "s02"}


def test_render_and_validate_of_a_shard(placed: Environment, run: Any) -> None:
    mine = sorted(a for a, shard in placed.placement().items() if shard == "s01")
    ran = run("render", "--stack", "fleet--s01", cwd=placed.directory)
    assert ran.code == 0, ran.err
    namespaces = [d["metadata"]["name"] for d in yaml.safe_load_all(ran.out) if d["kind"] == "Namespace"]
    assert namespaces == [f"nuketown-fleet--{agent}" for agent in mine]
    validated = run("validate", "--stack", "fleet--s01", cwd=placed.directory)
    assert validated.code == 0 and "40 agents" in validated.out  # the whole spec is checked


def test_a_shard_refuses_an_agent_no_shard_declares(placed: Environment, run: Any) -> None:
    raw = placed.raw()
    placed.write_spec(with_agent(raw, "zz-new", 9999))
    ran = run("render", "--stack", "fleet--s00", cwd=placed.directory)
    assert ran.code == 2
    assert ran.err.splitlines()[-1] == (
        "agents.zz-new: not placed in any shard of fleet (shards.fleet.json); run `nuketown-stack shards --env fleet "
        "--write` and commit the file"
    )


def test_diff_of_one_shard_stack(placed: Environment, run: Any) -> None:
    """`diff --stack` on a shard sees that shard's agents: a change to another shard's agent is no change here."""
    base = placed.directory / "base.json"
    base.write_text(placed.spec.read_text())
    raw = placed.raw()
    moved = next(a for a, shard in placed.placement().items() if shard == "s01")
    raw["agents"][moved]["resources"] = "gpu"
    raw["agents"][moved]["scaling"]["maxResources"] = "gpu"
    placed.write_spec(raw)
    other = run("diff", str(base), "spec.json", "--stack", "fleet--s00", "--json", cwd=placed.directory)
    assert other.code == 0 and json.loads(other.out)["changes"] == []
    own = run("diff", str(base), "spec.json", "--stack", "fleet--s01", "--json", cwd=placed.directory)
    assert {c["agent"] for c in json.loads(own.out)["changes"]} == {moved}
