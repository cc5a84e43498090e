"""`diff --env`: what a change does to every shard it touches, and agents that move between shards.

Each touched shard is diffed as `diff` diffs one stack (views/diff.py). An agent whose shard changed is taken
out of both shards' diffs and reported once, as a move: its resources on the old shard's BASE against those
on the new shard's HEAD, matched by (type, name) as the engine matches them after `pulumi state move` carries
them over (names derive from the environment, not the shard, so nothing of the agent is renamed). A move
that changes nothing else carries every resource as it is: nothing is deleted, nothing starts empty.
Pure: no pulumi import, no I/O.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nuketown_stack.program.declared import Resource, owning_agents, resource_key
from nuketown_stack.views.diff import EXIT_CANNOT_APPLY, EXIT_DATA_AT_RISK, PlanDiff, diff_plans, format_diff

if TYPE_CHECKING:
    from nuketown_stack.views.diff import SettingChange

MOVE_DOC = "docs/lifecycle.md#shard-move"


@dataclass(frozen=True)
class ShardRun:
    """One touched shard's two sides: resources as `plan --json` lists them (None: the stack is not there)."""

    base: Sequence[Resource] | None
    head: Sequence[Resource] | None
    settings: Sequence["SettingChange"] = ()


@dataclass(frozen=True)
class Move:
    agent: str
    source: str  # stack the agent leaves
    dest: str  # stack the agent joins
    carried: int  # resources `pulumi state move` carries (the agent's component and all under it)
    diff: PlanDiff  # the agent on the old shard's BASE against the new shard's HEAD

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "from": self.source,
            "to": self.dest,
            "carried": self.carried,
            "diff": self.diff.to_json(),
        }


@dataclass(frozen=True)
class EnvironmentDiff:
    environment: str
    shards: Sequence[str]  # every shard stack of the environment, on either side
    touched: Sequence[str]  # the stacks whose agents or settings changed: the only ones run
    diffs: Mapping[str, PlanDiff]  # touched stack -> its diff, moved agents left out
    moves: Sequence[Move] = ()

    @property
    def exit_code(self) -> int:
        codes = {d.exit_code for d in self.diffs.values()} | {m.diff.exit_code for m in self.moves}
        if EXIT_CANNOT_APPLY in codes:
            return EXIT_CANNOT_APPLY
        return EXIT_DATA_AT_RISK if EXIT_DATA_AT_RISK in codes else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "shards": list(self.shards),
            "touched": list(self.touched),
            "diffs": {stack: diff.to_json() for stack, diff in self.diffs.items()},
            "moves": [move.to_json() for move in self.moves],
            "exitCode": self.exit_code,
        }


def agent_resources(resources: Sequence[Resource], agent: str) -> list[Resource]:
    """The agent's resources: its component and everything under it, however deep."""
    owners = owning_agents(resources)
    return [r for r in resources if owners[resource_key(r)] == agent]


def environment_diff(
    environment: str,
    shards: Sequence[str],
    runs: Mapping[str, ShardRun],
    moved: Mapping[str, tuple[str, str]],
) -> EnvironmentDiff:
    """Each touched shard's diff, and each move (agent -> (from stack, to stack)) as one entry of its own."""
    leaving: dict[str, set[str]] = {}
    arriving: dict[str, set[str]] = {}
    moves = []
    for agent, (source, dest) in sorted(moved.items()):
        leaving.setdefault(source, set()).add(agent)
        arriving.setdefault(dest, set()).add(agent)
        before = agent_resources(runs[source].base or (), agent)
        after = agent_resources(runs[dest].head or (), agent)
        moves.append(Move(agent, source, dest, len(before), diff_plans(before, after)))
    diffs = {}
    for stack, run in runs.items():
        base = _without(run.base or (), leaving.get(stack, set()))
        head = _without(run.head or (), arriving.get(stack, set()))
        diffs[stack] = diff_plans(base, head, run.settings)
    return EnvironmentDiff(environment, tuple(shards), tuple(runs), diffs, tuple(moves))


def _without(resources: Sequence[Resource], agents: set[str]) -> list[Resource]:
    if not agents:
        return list(resources)
    owners = owning_agents(resources)
    return [r for r in resources if owners[resource_key(r)] not in agents]


def format_environment_diff(diff: EnvironmentDiff, style: str = "markdown") -> str:
    """Moves first, then each touched shard as `diff` shows one stack."""
    untouched = len(diff.shards) - len(diff.touched)
    touched = ", ".join(diff.touched) or "none"
    lines = [
        f"environment {diff.environment}: {len(diff.touched)} of {len(diff.shards)} shards touched ({touched}); "
        f"{untouched} unchanged, not run"
    ]
    for move in diff.moves:
        lines += ["", f"agent {move.agent} moves: {move.source} -> {move.dest}"]
        lines.append(
            f"   on merge, `pulumi state move` carries its {move.carried} resources to {move.dest} before either "
            f"shard goes up; {MOVE_DOC}"
        )
        changed = move.diff.changes or move.diff.settings
        lines.append(
            "   "
            + (
                "and this change also does:"
                if changed
                else "nothing is deleted, replaced or created: it keeps its namespace, volumes, identity and key"
            )
        )
        if changed:
            lines += ["      " + line if line else "" for line in format_diff(move.diff, style).splitlines()]
    for stack, shard_diff in diff.diffs.items():
        shown = format_diff(shard_diff, style).splitlines()
        lines += ["", f"shard {stack}", *("   " + line if line else "" for line in shown)]
    return "\n".join(lines)
