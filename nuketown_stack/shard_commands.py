"""The command line of a sharded environment: `shards`.

`cli.py` parses the arguments and maps errors to exit codes; these functions do the work. Nothing here
imports pulumi.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.placement import Placement, read_placement, write_placement
from nuketown_stack.inputs.shard_stacks import ShardStacks, new_shard_file, read_shard_stacks
from nuketown_stack.inputs.source import load_raw
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan import naming, shards

SHOWN = 10  # agents named one by one in a message before the rest are counted


def project_directory() -> Path:
    """The nearest directory at or above the working directory holding Pulumi.yaml, as the Pulumi CLI finds it."""
    cwd = Path.cwd()
    return next((d for d in (cwd, *cwd.parents) if (d / "Pulumi.yaml").is_file()), cwd)


def _stacks(directory: Path, environment: str) -> ShardStacks:
    found = read_shard_stacks(directory, environment)
    if not found.files:
        raise InputError(
            [
                f"--env {environment}: no shard stack file (Pulumi.{environment}--s00.yaml, ...) in {directory}; write "
                f"the first one with nuketown:environment: {environment} and nuketown:shards: shards.{environment}.json"
            ]
        )
    return found


def _source(stacks: ShardStacks, given: str | None) -> str:
    """SOURCE, else the shards' nuketown:source, relative to their directory as `pulumi up` reads it there."""
    source = given or stacks.config.get("nuketown:source")
    if not source:
        raise InputError(["SOURCE: give one, or set nuketown:source in the shards' stack files"])
    source = str(source)
    if given is not None or source == "-" or "#" in source or Path(source).is_absolute():
        return source
    return str(stacks.directory / source)


def _placement(stacks: ShardStacks, missing_ok: bool = False) -> Placement:
    path = stacks.placement
    if missing_ok and not path.is_file():
        return Placement(environment=stacks.environment)
    placement = read_placement(path)
    if placement.environment != stacks.environment:
        problem = f"environment: {placement.environment!r}, where its shards' is {stacks.environment!r}"
        raise InputError([f"{path}: {problem}"])
    return placement


# --- shards --------------------------------------------------------------------------------------------------


def cmd_shards(args: argparse.Namespace) -> int:
    """Every shard of the environment and its agents; --write records new agents' places, --move a person's move."""
    stacks = _stacks(project_directory(), args.env)
    spec = load_spec(load_raw(_source(stacks, args.source)))
    current = _placement(stacks, missing_ok=True)
    names = list(spec.agents)
    proposed = shards.place(shards.pruned(current, names), names, stacks.files)
    if args.move is not None:
        agent, target = args.move
        proposed = shards.move(proposed, agent, _shard_of(target, args.env), stacks.files)
    recording = args.write or args.move is not None
    _say_changes(current, proposed, stacks, recording)
    if recording:
        _record(stacks, current, proposed)
    members = shards.shard_agents(proposed, names, stacks.files)
    if args.json:
        json.dump({stacks.stack(s): agents for s, agents in members.items()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_table(stacks, proposed, members))
    return 0


def _shard_of(target: str, environment: str) -> str:
    """`s03` or `fleet--s03` -> `s03`."""
    shard = target.removeprefix(f"{environment}{naming.SEPARATOR}")
    if not naming.is_shard(shard):
        raise InputError([f"--move: {target!r} is not a shard of {environment} (like s03 or {environment}--s03)"])
    return shard


def _say_changes(current: Placement, proposed: Placement, stacks: ShardStacks, recording: bool) -> None:
    added = sorted(a for a in proposed.agents if a not in current.agents)
    dropped = sorted(a for a in current.agents if a not in proposed.agents)
    moved = sorted(a for a in proposed.agents if a in current.agents and current.agents[a] != proposed.agents[a])
    lines = []
    if added:
        lines.append(f"placed {len(added)} new agent(s): {_listed([f'{a} -> {proposed.agents[a]}' for a in added])}")
    if dropped:
        lines.append(f"dropped {len(dropped)} agent(s) no longer in the spec: {_listed(dropped)}")
    for agent in moved:
        lines.append(
            f"moved {agent}: {stacks.stack(current.agents[agent])} -> {stacks.stack(proposed.agents[agent])}; "
            "on merge `pulumi state move` carries its resources (docs/lifecycle.md#shard-move)"
        )
    new = [stacks.stack(shard) for shard in _new_shards(stacks, proposed)]
    if new:
        lines.append(f"new shard stack(s) {_listed(new)}: a stack file each; `pulumi stack init` makes the stacks")
    if lines and not recording:
        lines.append(f"not recorded: --write records it in {stacks.placement.name}")
    for line in lines:
        print(line, file=sys.stderr)


def _listed(items: Sequence[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _new_shards(stacks: ShardStacks, placement: Placement) -> list[str]:
    return [s for s in shards.ordered(placement.agents.values()) if s not in stacks.files]


def _record(stacks: ShardStacks, current: Placement, proposed: Placement) -> None:
    if proposed != current or not stacks.placement.is_file():
        write_placement(stacks.placement, proposed)
    for shard in _new_shards(stacks, proposed):
        stacks.stack_file(shard).write_text(new_shard_file(stacks, shard))
    secret = next(iter(stacks.files.values())).secret_keys
    if secret and _new_shards(stacks, proposed):
        print(
            f"the new shards' stack files leave out the secret settings {', '.join(sorted(secret))}: set them "
            "with `pulumi config set --secret` on each new stack",
            file=sys.stderr,
        )


def _table(stacks: ShardStacks, placement: Placement, members: dict[str, list[str]]) -> str:
    total = sum(len(agents) for agents in members.values())
    lines = [
        f"environment {stacks.environment}: {total} agents in {len(members)} shards "
        f"(bound {placement.bound}; {stacks.placement.name})"
    ]
    width = max((len(stacks.stack(shard)) for shard in members), default=0)
    lines += [f"  {stacks.stack(shard):<{width}}  {len(agents):>5}" for shard, agents in members.items()]
    return "\n".join(lines)
