"""examples/fleet: the environment `fleet`, 10,000 agents in shard stacks of a bounded size.

Cheap on purpose: the placement file is read as committed. That it places exactly fleet.nix's agents is the
README's fleet example (`shards --env fleet --project examples/fleet`, run by tests/test_readme.py: an agent
not placed, or placed but gone, would be a line on stderr). The commands themselves are tested on small fleets
(tests/test_shard_commands.py, tests/test_shard_moves.py).
"""

from typing import Any

import pytest
import yaml
from conftest import ROOT

from nuketown_stack.inputs.placement import DEFAULT_BOUND, MAX_BOUND, Placement, read_placement
from nuketown_stack.inputs.shard_stacks import read_shard_stacks
from nuketown_stack.plan import shards

FLEET = ROOT / "examples" / "fleet"


@pytest.fixture(scope="module")
def placement() -> Placement:
    return read_placement(FLEET / "shards.fleet.json")


def test_ten_thousand_agents_fall_into_two_or_more_shards_of_at_most_the_bound(placement: Placement) -> None:
    counts = placement.counts()
    assert len(placement.agents) == 10_000
    assert len(counts) >= 2
    assert placement.bound == DEFAULT_BOUND <= MAX_BOUND == 500
    assert max(counts.values()) <= placement.bound


def test_every_shard_has_its_stack_file_with_the_same_settings(placement: Placement) -> None:
    stacks = read_shard_stacks(FLEET, "fleet")  # refuses files whose settings differ
    assert list(stacks.files) == shards.ordered(placement.agents.values())
    assert stacks.placement == FLEET / "shards.fleet.json"
    assert stacks.config["nuketown:environment"] == "fleet" and stacks.config["nuketown:source"] == "fleet.nix"


@pytest.mark.parametrize("name", ["aaa-0", "0", "ada-0-a"])
def test_an_agent_whose_name_sorts_first_moves_no_other_agent(placement: Placement, name: str) -> None:
    """A new name that sorts before every other (or among them): every agent placed keeps its shard, and the
    newcomer goes where the rule says, within the bound."""
    assert sorted([name, *placement.agents])[0] == name or name == "ada-0-a"
    after = shards.place(placement, [*placement.agents, name], shards.ordered(placement.agents.values()))
    assert {agent: after.agents[agent] for agent in placement.agents} == placement.agents
    assert max(after.counts().values()) <= placement.bound
    # Every shard of the example is full, so the newcomer opens the next one.
    full = all(count == placement.bound for count in placement.counts().values())
    assert not full or after.agents[name] == shards.shard_name(len(placement.counts()))


def test_the_example_is_one_project_running_the_repositorys_program() -> None:
    """Its Pulumi.yaml declares the repository's settings (the same typed schema, as its comment says), and its
    program is ours."""
    mine = yaml.safe_load((FLEET / "Pulumi.yaml").read_text())
    ours = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert mine["name"] == ours["name"] and mine["runtime"]["name"] == "python"
    assert mine["config"] == ours["config"]
    assert "nuketown_stack.program.program import main" in (FLEET / "__main__.py").read_text()


def test_the_generator_is_deterministic() -> None:
    """The same count gives the same spec, its agents each with a uid of their own."""
    from shard_env import generated

    first: dict[str, Any] = generated(60)
    assert generated(60) == first
    assert len(first["agents"]) == 60 and len({agent["uid"] for agent in first["agents"].values()}) == 60
