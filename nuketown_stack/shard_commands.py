"""The command line of a sharded environment: `shards`, `diff --env`, and `agent-urns` and `read_json` for the
workflows' `pulumi state move` and drift reports.

`cli.py` parses the arguments and maps errors to exit codes; these functions do the work. Nothing here
imports pulumi: the runs go through program/sides.py, which starts the program in processes of its own.
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nuketown_stack.errors import InputError, raise_if_any
from nuketown_stack.inputs.placement import Placement, read_placement, write_placement
from nuketown_stack.inputs.settings import Settings, settings_from_config
from nuketown_stack.inputs.shard_stacks import ShardStacks, new_shard_file, read_shard_stacks
from nuketown_stack.inputs.source import load_raw
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan import naming, shards
from nuketown_stack.plan.shards import Layout

if TYPE_CHECKING:
    from nuketown_stack.program.sides import Known, Outcome, Side

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
    stacks = _stacks(args.project or project_directory(), args.env)
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


# --- diff --env ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EnvironmentSide:
    """One side of `diff --env`: the shard stacks, the spec and placement they read."""

    label: str
    stacks: ShardStacks
    source: str
    raw: Any
    agents: Mapping[str, Any]  # agent -> its entry in the spec, as read (each run validates its spec)
    placement: Placement
    project: str

    def layout(self) -> Layout:
        members = shards.shard_agents(self.placement, self.agents, self.stacks.files)
        settings = {shard: (f.config, f.secret_keys) for shard, f in self.stacks.files.items()}
        shared = {key: value for key, value in self.raw.items() if key != "agents"}
        return Layout(members=members, settings=settings, agents=self.agents, shared=shared)

    def config(self, shard: str) -> tuple[dict[str, Any], frozenset[str]]:
        stack_file = self.stacks.files[shard]
        config = {**stack_file.config, "nuketown:source": self.source, "nuketown:shards": str(self.stacks.placement)}
        return config, stack_file.secret_keys

    def settings(self, shard: str) -> Settings:
        config, secret_keys = self.config(shard)
        return settings_from_config(self.stacks.stack(shard), config, secret_keys)


def _environment_side(label: str, directory: Path, environment: str, source: str, raw: Any) -> _EnvironmentSide:
    from nuketown_stack.cli import project_name

    stacks = _stacks(directory, environment) if label == "HEAD" else read_shard_stacks(directory, environment)
    agents = _agents_of(raw)
    placement = _placement(stacks, missing_ok=not stacks.files)
    if stacks.files:
        raise_if_any(shards.unplaced_problems(placement, agents, f"{label}: {stacks.placement}"))
    return _EnvironmentSide(label, stacks, source, raw, agents, placement, project_name(directory))


def _agents_of(raw: Any) -> Mapping[str, Any]:
    """The spec's agents as read. Comparing what was read is enough to know which shards may differ, and spares
    validating 10,000 agents here: each run validates the whole spec anyway, and a shard no change touches
    reads the same spec on both sides."""
    agents = raw.get("agents") if isinstance(raw, Mapping) and "schemaVersion" in raw else None
    return agents if isinstance(agents, Mapping) else load_spec(raw).agents  # load_spec says what is wrong


def _read_both(base: str, head: str) -> tuple[Any, Any]:
    """BASE and HEAD read at once: evaluating a large spec is seconds of nix, each in a process of its own."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        base_raw, head_raw = pool.submit(load_raw, base), pool.submit(load_raw, head)
        return base_raw.result(), head_raw.result()


def diff_environment(args: argparse.Namespace) -> tuple[Any, int]:
    """`diff BASE HEAD --env ENV`: the touched shards' diffs and the moves, and the exit code."""
    from nuketown_stack.views.diff import setting_changes
    from nuketown_stack.views.shards import ShardRun, environment_diff

    head_dir = project_directory()
    base_dir = args.base_project or head_dir
    base_raw, head_raw = _read_both(args.base, args.head)
    head = _environment_side("HEAD", head_dir, args.env, args.head, head_raw)
    base = _environment_side("BASE", base_dir, args.env, args.base, base_raw)
    before, after = base.layout(), head.layout()
    touched = shards.touched(before, after)
    moved = {
        agent: (source, dest)
        for agent, (source, dest) in shards.moves(
            base.placement.agents, head.placement.agents, base.agents, head.agents
        ).items()
        if source in base.stacks.files and dest in head.stacks.files
    }
    results = _run_touched(base, head, touched, moved, args.jobs or os.cpu_count() or 1)
    runs = {
        head.stacks.stack(shard): ShardRun(
            base=results.get(("base", shard)),
            head=results.get(("head", shard)),
            settings=setting_changes(base.settings(shard), head.settings(shard))
            if shard in base.stacks.files and shard in head.stacks.files
            else (),
        )
        for shard in touched
    }
    stacks = [head.stacks.stack(s) for s in shards.ordered(before.shards() | after.shards())]
    movers = {a: (head.stacks.stack(f), head.stacks.stack(t)) for a, (f, t) in moved.items()}
    diff = environment_diff(args.env, stacks, runs, movers)
    return diff, diff.exit_code


def _run_touched(
    base: _EnvironmentSide,
    head: _EnvironmentSide,
    touched: Sequence[str],
    moved: dict[str, tuple[str, str]],
    jobs: int,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every touched shard's BASE (as `pulumi up` left it: all known) and HEAD (a preview from there), at most
    `jobs` runs at once. A HEAD that receives a moved agent waits for the BASE it comes from: after `pulumi
    state move` the agent's resources are in its state, so their cloud-assigned values are known."""
    receiving = {dest for _, dest in moved.values()}
    first: list[tuple[tuple[str, str], Side, int | None]] = []
    for shard in touched:
        if shard in base.stacks.files:
            first.append((("base", shard), _side(base, shard, None), None))
        if shard in head.stacks.files and shard not in receiving:
            paired = len(first) - 1 if shard in base.stacks.files else None
            first.append((("head", shard), _side(head, shard, frozenset()), paired))
    results = _run_batches(first, jobs)
    later: list[tuple[tuple[str, str], Side, int | None]] = []
    for shard in touched:
        if shard in head.stacks.files and shard in receiving:
            known = {_key(r) for r in results.get(("base", shard), [])}
            for agent, (source, dest) in moved.items():
                if dest == shard:
                    known |= {_key(r) for r in _agent_resources(results[("base", source)], agent)}
            later.append((("head", shard), _side(head, shard, frozenset(known)), None))
    return results | _run_batches(later, jobs)


def _key(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["type"], resource["name"]


def _agent_resources(resources: list[dict[str, Any]], agent: str) -> list[dict[str, Any]]:
    from nuketown_stack.views.shards import agent_resources

    return [dict(r) for r in agent_resources(resources, agent)]


def _side(side: _EnvironmentSide, shard: str, known: "Known") -> "Side":
    from nuketown_stack.program.sides import Side

    config, secret_keys = side.config(shard)
    return Side(
        stack=side.stacks.stack(shard),
        config=config,
        raw=side.raw,
        project=side.project,
        secret_keys=secret_keys,
        known=known,
    )


def _run_batches(
    runs: list[tuple[tuple[str, str], "Side", int | None]], jobs: int
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Runs in batches of at most `jobs` (a HEAD stays in its BASE's batch and previews from it)."""
    from nuketown_stack.program.sides import KnownFrom, run_sides

    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    index = 0
    while index < len(runs):
        batch = runs[index : index + max(jobs, 2)]
        if batch[-1][2] is None and index + len(batch) < len(runs) and runs[index + len(batch)][2] is not None:
            batch = batch[:-1]  # a BASE whose HEAD would fall in the next batch waits for it
        sides = []
        for _, side, paired in batch:
            if paired is not None:
                side = _with_known(side, KnownFrom(paired - index))
            sides.append(side)
        for (key, _, _), outcome in zip(batch, run_sides(sides), strict=True):
            results[key] = _raised(outcome)["resources"]
        index += len(batch)
    return results


def _with_known(side: "Side", known: "Known") -> "Side":
    from dataclasses import replace

    return replace(side, known=known)


def _raised(outcome: "Outcome") -> dict[str, Any]:
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


# --- agent-urns ----------------------------------------------------------------------------------------------


def cmd_agent_urns(args: argparse.Namespace) -> int:
    """The URNs of an agent's resources in a `pulumi stack export` (its component and everything under it),
    in the order of the state: what `pulumi state move` is given, since it adds only the direct children of
    what it is given (pkg/cmd/pulumi/state/state_move.go)."""
    from nuketown_stack.program.declared import AGENT_TYPE

    document = read_json(args.state)
    resources = (document.get("deployment") or {}).get("resources") if isinstance(document, dict) else None
    if not isinstance(resources, list):
        raise InputError([f"{args.state}: not a `pulumi stack export` (no deployment.resources)"])
    parents = {r.get("urn"): r.get("parent") for r in resources if isinstance(r, dict)}
    agents = {
        str(r["urn"])
        for r in resources
        if isinstance(r, dict) and r.get("type") == AGENT_TYPE and str(r.get("urn")).endswith(f"::{args.agent}")
    }

    def under(urn: str | None) -> bool:
        while urn is not None:
            if urn in agents:
                return True
            urn = parents.get(urn)
        return False

    for resource in resources:
        if isinstance(resource, dict) and under(resource.get("urn")):
            print(resource["urn"])
    return 0


def read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except OSError as error:
        raise InputError([f"{path}: {error.strerror}"]) from None
    except json.JSONDecodeError as error:
        raise InputError([f"{path}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"]) from None
