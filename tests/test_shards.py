"""Shards of an environment: the stack names, the placement file, the placement rule and what a shard declares."""

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FLEET_ALLOWED
from hypothesis import given
from hypothesis import strategies as st

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.placement import DEFAULT_BOUND, MAX_BOUND, Placement, placement_text, read_placement
from nuketown_stack.inputs.settings import settings_from_config, settings_from_mapping
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan import shards
from nuketown_stack.plan.shards import Layout
from nuketown_stack.plan.stack import build_plan

SHARD = {"nuketown:environment": "fleet", "nuketown:shards": "shards.fleet.json"}
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


def refused(config: dict[str, Any], stack: str) -> list[str]:
    with pytest.raises(InputError) as error:
        settings_from_config(stack, config)
    return list(error.value.problems)


# --- the stacks ----------------------------------------------------------------------------------------------


def test_a_shard_stack_is_named_after_its_environment() -> None:
    settings = settings_from_config("fleet--s03", SHARD)
    assert settings.shard == "s03"
    assert settings.names.environment == "fleet" and settings.prefix == "nuketown-fleet--"


@pytest.mark.parametrize(
    ("stack", "config", "expected"),
    [
        (
            "fleet--s03",
            {"nuketown:shards": "shards.fleet.json"},
            "nuketown:shards: a shard stack needs nuketown:environment, the environment every shard's names derive "
            "from (for stack 'fleet--s03': the part before '--')",
        ),
        (
            "fleet-s03",
            SHARD,
            "stack 'fleet-s03': a shard of environment 'fleet' is named fleet--sNN (s and two or more digits, like "
            "fleet--s00)",
        ),
        ("fleet--eu", SHARD, "stack 'fleet--eu': a shard of environment 'fleet' is named fleet--sNN"),
        ("other--s03", SHARD, "stack 'other--s03': a shard of environment 'fleet'"),
        ("fleet--s3", SHARD, "stack 'fleet--s3': a shard of environment 'fleet'"),
    ],
)
def test_a_shard_stack_that_does_not_say_its_environment_is_refused(
    stack: str, config: dict[str, Any], expected: str
) -> None:
    problems = refused(config, stack)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_stack_without_shards_is_no_shard_whatever_its_name() -> None:
    """A stack renamed `prod--eu` that keeps environment prod-eu (test_settings.py) stays a stack of a whole spec."""
    assert settings_from_config("prod--eu", {"nuketown:environment": "prod-eu"}).shard is None


# --- the placement rule --------------------------------------------------------------------------------------


def placement(agents: dict[str, str] | None = None, bound: int = 3) -> Placement:
    return Placement(environment="fleet", bound=bound, agents=agents or {})


def test_new_agents_fill_the_least_filled_shard_with_room_in_name_order() -> None:
    placed = shards.place(placement({"a": "s00", "b": "s00", "c": "s01"}), ["a", "b", "c", "z", "y", "x"])
    assert placed.agents == {"a": "s00", "b": "s00", "c": "s01", "x": "s01", "y": "s00", "z": "s01"}
    assert placed.counts() == {"s00": 3, "s01": 3}


def test_a_full_environment_gets_a_new_shard() -> None:
    placed = shards.place(placement({"a": "s00", "b": "s00", "c": "s00"}), ["a", "b", "c", "d"])
    assert placed.agents["d"] == "s01"


def test_an_empty_shard_with_a_stack_file_is_filled_first() -> None:
    placed = shards.place(placement({"a": "s00"}), ["a", "b"], shards=["s00", "s01"])
    assert placed.agents["b"] == "s01"


def test_an_agent_whose_name_sorts_first_moves_nobody() -> None:
    before = shards.place(placement(bound=2), ["m", "n", "o", "p"])
    after = shards.place(before, ["a", "m", "n", "o", "p"])
    assert {k: v for k, v in after.agents.items() if k != "a"} == before.agents
    assert after.agents["a"] == "s02"  # s00 and s01 are full


@given(
    first=st.sets(NAMES, max_size=30),
    added=st.sets(NAMES, max_size=10),
    removed=st.sets(NAMES, max_size=10),
    bound=st.integers(1, 6),
)
def test_adding_removing_or_renaming_others_never_moves_an_agent(
    first: set[str], added: set[str], removed: set[str], bound: int
) -> None:
    """A rename is a removal and an addition: whatever sorts where, every agent kept stays in its shard, and
    automatic placement fills no shard past the bound."""
    before = shards.place(placement(bound=bound), first)
    kept = first - removed
    after = shards.place(shards.pruned(before, kept), kept | added)
    assert all(after.agents[agent] == before.agents[agent] for agent in kept)
    assert set(after.agents) == kept | added
    assert max(after.counts().values(), default=0) <= bound


@given(agents=st.sets(NAMES, max_size=30), bound=st.integers(1, 6))
def test_placement_depends_on_the_names_only(agents: set[str], bound: int) -> None:
    """The same agents in any order give the same placement file, byte for byte."""
    forward = shards.place(placement(bound=bound), sorted(agents))
    backward = shards.place(placement(bound=bound), sorted(agents, reverse=True))
    assert placement_text(forward) == placement_text(backward)


def test_only_a_person_moves_an_agent_and_only_into_room() -> None:
    start = placement({"a": "s00", "b": "s00", "c": "s01"}, bound=2)
    assert shards.move(start, "a", "s01", ["s00", "s01"]).agents == {"a": "s01", "b": "s00", "c": "s01"}
    full = shards.move(start, "a", "s01", ["s00", "s01"])
    with pytest.raises(InputError, match="s01 holds 2 agents, the bound of fleet's placement file"):
        shards.move(full, "b", "s01", ["s00", "s01"])
    with pytest.raises(InputError, match=r"no such shard of fleet \(s00, s01\)"):
        shards.move(start, "a", "s07", ["s00", "s01"])
    with pytest.raises(InputError, match="a is in s00 already"):
        shards.move(start, "a", "s00", ["s00", "s01"])
    with pytest.raises(InputError, match="no agent of fleet's spec is named so"):
        shards.move(start, "zz", "s01", ["s00", "s01"])


def test_the_default_bound_is_within_the_issues_ceiling() -> None:
    assert 1 <= DEFAULT_BOUND <= MAX_BOUND == 500


# --- the placement file --------------------------------------------------------------------------------------


def test_the_file_holds_the_placement_in_a_fixed_order(tmp_path: Path) -> None:
    text = placement_text(placement({"b": "s01", "a": "s00"}))
    assert text == (
        '{\n  "environment": "fleet",\n  "bound": 3,\n  "agents": {\n    "a": "s00",\n    "b": "s01"\n  }\n}\n'
    )
    (tmp_path / "shards.fleet.json").write_text(text)
    assert read_placement(tmp_path / "shards.fleet.json") == placement({"a": "s00", "b": "s01"})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('{"environment": "fleet", "agents": {"a": "eu"}}', "agents.a: 'eu' is not a shard; shards are s and two"),
        ('{"environment": "fleet", "shards": {}}', "shards: unknown field (a placement file holds environment"),
        ('{"environment": "fleet", "bound": 0}', "bound: Input should be greater than or equal to 1, got 0"),
        ('{"environment": "Fleet"}', "environment: 'Fleet': environment names are part of Kubernetes"),
        ('{"environment": "fleet",', "not valid JSON (line 1, column 25)"),
    ],
)
def test_a_bad_placement_file_is_one_line_per_problem_naming_it(tmp_path: Path, document: str, expected: str) -> None:
    path = tmp_path / "shards.fleet.json"
    path.write_text(document)
    with pytest.raises(InputError) as error:
        read_placement(path)
    [problem] = error.value.problems
    assert problem.startswith(f"{path}: {expected}"), problem


# --- what a shard declares -----------------------------------------------------------------------------------


def test_a_shard_declares_its_agents_with_the_names_of_the_environment(fleet_json: dict[str, Any]) -> None:
    """Moving an agent between shards moves no name: its objects are the same in any shard, and the same as in
    a stack of the whole spec for that environment."""
    spec = load_spec(fleet_json)
    cloud = {"nuketown:cloud": "gcp", "gcp:project": "fleet-project", **FLEET_ALLOWED}
    whole = build_plan(spec, settings_from_config("dev", cloud))
    shard_settings = {**cloud, "nuketown:environment": "dev", "nuketown:shards": "shards.dev.json"}
    shard = build_plan(spec, settings_from_config("dev--s01", shard_settings), frozenset({"vox", "rio"}))
    assert [a.name for a in shard.agents] == ["rio", "vox"]
    for agent in shard.agents:
        [same] = [a for a in whole.agents if a.name == agent.name]
        assert agent == same  # every object, name and identity plan


def test_collisions_are_checked_over_the_whole_environment(example_json: dict[str, Any]) -> None:
    """Two agents of different shards that would derive one claim name are refused in every shard, though
    neither shard plans the other's agent."""
    raw = json.loads(json.dumps(example_json))
    raw["agents"]["ada-x"] = {**raw["agents"]["ada"], "uid": 1200, "persist": [{"path": "projects", "size": "1Gi"}]}
    raw["agents"]["ada"]["persist"] = [{"path": "x-projects", "size": "1Gi"}]
    with pytest.raises(InputError, match="volume claim 'ada-x-projects'"):
        build_plan(load_spec(raw), settings_from_config("fleet--s00", SHARD), frozenset({"vox"}))


def test_a_shard_stack_needs_every_agent_placed() -> None:
    settings = settings_from_config("fleet--s00", SHARD)
    assert shards.stack_agents(settings, ["a", "b"], placement({"a": "s00", "b": "s01"}), "f.json") == {"a"}
    with pytest.raises(InputError) as error:
        shards.stack_agents(settings, ["a", "c"], placement({"a": "s00"}), "f.json")
    assert error.value.problems == (
        "agents.c: not placed in any shard of fleet (f.json); run `nuketown-stack shards --env fleet --write` and "
        "commit the file",
    )
    many = [f"x{i:03d}" for i in range(25)]
    assert len(shards.unplaced_problems(placement(), many, "f.json")) == shards.UNPLACED_SHOWN + 1


def test_a_placement_of_another_environment_is_refused() -> None:
    settings = settings_from_config("fleet--s00", SHARD)
    with pytest.raises(InputError, match="places agents of environment 'other', not of 'fleet'"):
        shards.stack_agents(settings, [], Placement(environment="other"), "f.json")


def test_a_fleet_component_in_a_shard_stack_declares_the_shards_agents(
    fleet_json: dict[str, Any], tmp_path: Path
) -> None:
    """The `Fleet` component reads the setting as the stand-alone stack does: in stack dev--s01 with `shards`,
    it declares the agents placed in s01, under itself, checked over the whole spec."""
    import pulumi
    import pulumi_kubernetes as k8s

    from nuketown_stack import Fleet, FleetArgs
    from nuketown_stack.program.declared import AGENT_TYPE, FLEET_TYPE
    from nuketown_stack.program.engine import run_program

    path = tmp_path / "shards.dev.json"
    placed = {name: "s01" if name in ("rio", "vox") else "s00" for name in fleet_json["agents"]}
    path.write_text(placement_text(Placement(environment="dev", agents=placed)))
    settings = {"environment": "dev", "shards": str(path)}

    def program() -> dict[str, Any]:
        cluster = k8s.Provider("cluster", context="dev")
        Fleet("agents", FleetArgs(spec=fleet_json, settings=settings), pulumi.ResourceOptions(providers=[cluster]))
        return {}

    resources = run_program(program, "dev--s01", {}).to_json()["resources"]
    agents = {r["name"]: r for r in resources if r["type"] == AGENT_TYPE}
    assert sorted(agents) == ["rio", "vox"]
    assert {r["parent"] for r in agents.values()} == {f"{FLEET_TYPE}::agents"}
    with pytest.raises(InputError) as error:
        settings_from_mapping({"shards": str(path)}, "dev--s01")
    needs = "settings.shards: a shard stack needs settings.environment, the environment every shard's names derive"
    assert any(problem.startswith(needs) for problem in error.value.problems), error.value.problems


# --- what a change touches -----------------------------------------------------------------------------------


def layout(members: dict[str, list[str]], agents: dict[str, Any], shared: Any = 1, settings: Any = 1) -> Layout:
    return Layout(members=members, settings=dict.fromkeys(members, settings), agents=agents, shared=shared)


def test_a_change_touches_the_shards_whose_agents_or_settings_changed() -> None:
    base = layout({"s00": ["a", "b"], "s01": ["c"], "s02": ["d"]}, {"a": 1, "b": 1, "c": 1, "d": 1})
    assert shards.touched(base, base) == []
    assert shards.touched(base, layout({"s00": ["a", "b"], "s01": ["c"], "s02": ["d"]}, {**base.agents, "c": 2})) == [
        "s01"
    ]
    moved = layout({"s00": ["a"], "s01": ["c"], "s02": ["b", "d"]}, base.agents)
    assert shards.touched(base, moved) == ["s00", "s02"]
    assert shards.touched(base, layout(dict(base.members), base.agents, shared=2)) == ["s00", "s01", "s02"]
    assert shards.touched(base, layout(dict(base.members), base.agents, settings=2)) == ["s00", "s01", "s02"]
    grown = layout({**base.members, "s03": []}, base.agents)
    assert shards.touched(base, grown) == ["s03"]
