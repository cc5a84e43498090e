"""Shards of an environment: which agents a shard stack declares, where a new agent goes, and moves.

An environment past one stack is the stacks `<environment>--<shard>`, all reading one spec and one placement
file (inputs/placement.py). Every name derives from the environment, never the shard, so an agent's
namespace, volumes, identity and key are the same whichever shard declares it.

Placement is stable: an agent placed stays in its shard until a person moves it (`move`). A new agent goes to
the shard with the fewest agents that is under the bound (the first such shard on a tie), or to a new shard
when every shard is full; new agents are placed in name order, so a placement depends only on the placement
before it and the names added, never on how the others sort. Pure: no I/O.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.placement import Placement
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.plan import naming

UNPLACED_SHOWN = 20  # a placement file far behind the spec is one problem, not ten thousand lines


def shard_number(shard: str) -> int:
    return int(shard[1:])


def shard_name(number: int) -> str:
    return f"s{number:02d}"


def ordered(shards: Iterable[str]) -> list[str]:
    """Shards in their numeric order (s9 would sort after s10 as text; names have two digits or more)."""
    return sorted(set(shards), key=shard_number)


def place(placement: Placement, agents: Iterable[str], shards: Iterable[str] = ()) -> Placement:
    """`placement` with every agent of `agents` not placed yet added by the rule; nobody placed moves.
    `shards`: shards that exist (their stack files) besides those holding agents, empty ones included."""
    counts = {shard: 0 for shard in shards} | placement.counts()
    placed = dict(placement.agents)
    for agent in sorted(set(agents) - placed.keys()):
        room = [shard for shard in ordered(counts) if counts[shard] < placement.bound]
        if room:
            shard = min(room, key=lambda s: (counts[s], shard_number(s)))
        else:
            shard = shard_name(max(map(shard_number, counts), default=-1) + 1)
        placed[agent] = shard
        counts[shard] = counts.get(shard, 0) + 1
    return placement.model_copy(update={"agents": dict(sorted(placed.items()))})


def pruned(placement: Placement, agents: Collection[str]) -> Placement:
    """`placement` without the agents no longer in the spec (an agent added back is placed again)."""
    return placement.model_copy(update={"agents": {a: s for a, s in placement.agents.items() if a in agents}})


def move(placement: Placement, agent: str, shard: str, shards: Iterable[str]) -> Placement:
    """`agent` moved to `shard`, a person's choice: the shard must exist and be under the bound."""
    known = ordered([*shards, *placement.agents.values()])
    if agent not in placement.agents:
        raise InputError([f"--move {agent}: no agent of {placement.environment}'s spec is named so"])
    if shard not in known:
        raise InputError([f"--move {agent} {shard}: no such shard of {placement.environment} ({', '.join(known)})"])
    if placement.agents[agent] == shard:
        raise InputError([f"--move {agent} {shard}: {agent} is in {shard} already"])
    held = placement.counts().get(shard, 0)
    if held >= placement.bound:
        raise InputError(
            [
                f"--move {agent} {shard}: {shard} holds {held} agents, the bound of {placement.environment}'s "
                f"placement file ({placement.bound}); pick a shard with room, or raise the file's bound"
            ]
        )
    return placement.model_copy(update={"agents": {**placement.agents, agent: shard}})


def unplaced_problems(placement: Placement, agents: Iterable[str], where: str) -> list[str]:
    """One line per agent of the spec the placement file does not place (at most UNPLACED_SHOWN of them)."""
    missing = sorted(set(agents) - placement.agents.keys())
    lines = [
        f"agents.{agent}: not placed in any shard of {placement.environment} ({where}); run "
        f"`nuketown-stack shards --env {placement.environment} --write` and commit the file"
        for agent in missing[:UNPLACED_SHOWN]
    ]
    if len(missing) > UNPLACED_SHOWN:
        lines.append(f"agents: {len(missing) - UNPLACED_SHOWN} more agents are not placed ({where})")
    return lines


def stack_agents(settings: Settings, agents: Iterable[str], placement: Placement, where: str) -> frozenset[str]:
    """The agents a shard stack declares: those of the spec its placement puts in its shard. Every agent of
    the spec must be placed somewhere: an agent no shard declares would silently never run."""
    shard = settings.shard
    assert shard is not None and settings.environment is not None
    if placement.environment != settings.environment:
        raise InputError(
            [
                f"nuketown:shards: {where} places agents of environment {placement.environment!r}, "
                f"not of {settings.environment!r}"
            ]
        )
    names = list(agents)
    problems = unplaced_problems(placement, names, where)
    if problems:
        raise InputError(problems)
    return frozenset(a for a in names if placement.agents[a] == shard)


def stacks_of(environment: str, shards: Iterable[str]) -> list[str]:
    return [naming.shard_stack(environment, shard) for shard in ordered(shards)]


def shard_agents(placement: Placement, agents: Iterable[str], shards: Iterable[str] = ()) -> dict[str, list[str]]:
    """{shard: [agents of the spec in it, sorted]} for every shard that exists or holds an agent."""
    found: dict[str, list[str]] = {shard: [] for shard in shards}
    for agent in sorted(agents):
        shard = placement.agents.get(agent)
        if shard is not None:
            found.setdefault(shard, []).append(agent)
    return {shard: found[shard] for shard in ordered(found)}


def moves(
    base: Mapping[str, str], head: Mapping[str, str], base_agents: Collection[str], head_agents: Collection[str]
) -> dict[str, tuple[str, str]]:
    """agent -> (from shard, to shard), for agents of both specs whose shard changed."""
    return {
        agent: (base[agent], head[agent])
        for agent in sorted(set(base_agents) & set(head_agents))
        if agent in base and agent in head and base[agent] != head[agent]
    }


@dataclass(frozen=True)
class Layout:
    """One side of an environment, as `diff --env` compares two: which agents each shard declares, with what."""

    members: Mapping[str, Sequence[str]]  # shard -> its agents, sorted
    settings: Mapping[str, Any]  # shard -> its stack file's settings (any value that compares)
    agents: Mapping[str, Any]  # agent -> its entry in the spec
    shared: Any  # what every shard reads besides its agents (the spec's domain and tiers)

    def shards(self) -> set[str]:
        return set(self.members) | set(self.settings)


def touched(base: Layout, head: Layout) -> list[str]:
    """The shards whose run could differ: their settings, their agents or an agent's entry changed; every
    shard when what they all read changed. The others' BASE and HEAD declare the same, so they are not run."""
    shards = ordered(base.shards() | head.shards())
    if base.shared != head.shared:
        return shards
    return [shard for shard in shards if _differs(base, head, shard)]


def _differs(base: Layout, head: Layout, shard: str) -> bool:
    if shard not in base.settings or shard not in head.settings:
        return True
    agents = head.members.get(shard, ())
    return (
        base.settings[shard] != head.settings[shard]
        or tuple(base.members.get(shard, ())) != tuple(agents)
        or any(base.agents.get(agent) != head.agents.get(agent) for agent in agents)
    )
