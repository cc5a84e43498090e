"""Fleet benchmark: an environment of 10,000 agents in shard stacks, as `nuketown-stack` runs it.

    python benchmarks/fleet.py                           # 10,000 agents at the default bound
    python benchmarks/fleet.py --agents 600 --bound 200  # a quicker look
    python benchmarks/fleet.py --sizes 100 250 500       # also one shard's plan at each size (the bound's choice)

The spec is examples/fleet/agents.nix at --agents, evaluated once into a JSON file in a scratch copy of the
example's project. Every figure is one run of the real command line in a process of its own: its wall time,
its CPU time (user + system, of the command and every process it starts) and the peak resident memory of
its largest process:

  placement   `shards --env fleet --write` from an empty placement file (the rule alone is timed in-process too)
  shard plan  `plan --stack <a full shard> --json`: the baseline the ratios below are taken against
  env diff    `diff BASE HEAD --env fleet --json` for a change to one agent of that shard
  stack diff  `diff BASE HEAD --stack <that shard> --json` for the same change
  all shards  `plan --stack S --json` of every shard, at most --jobs processes at once (default 2)

The goals are ratios to the shard plan measured in the same run: env diff at most 2x, stack diff at most
1.3x. Nothing in the test suite is timed; tests/test_benchmark.py only checks that this script runs. The load
average is printed at the start and the end: figures taken beside other work are not an idle machine's, and
the CPU times say how much of a wall time was this work's own.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "examples" / "fleet"
CLI = [sys.executable, "-c", "from nuketown_stack.cli import run; run()"]
# Runs one command (argv[3:]) in argv[1], its stdout to the file argv[2], and prints its exit code, wall
# seconds, CPU seconds and the peak RSS of its largest process (every descendant is waited for by its parent).
MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
with open(sys.argv[2], "w") as out:
    run = subprocess.run(sys.argv[3:], cwd=sys.argv[1], stdout=out, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - started
if run.returncode not in (0, 3, 4):
    sys.stderr.write(run.stderr)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(run.returncode, f"{seconds:.3f}", f"{usage.ru_utime + usage.ru_stime:.3f}", f"{usage.ru_maxrss / 1024:.0f}")
"""


@dataclass(frozen=True)
class Figure:
    """One command line run: wall and CPU seconds, and its largest process's peak MiB."""

    wall: float
    cpu: float
    mib: float

    def shown(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU, {self.mib:.0f} MiB"


def measure(cwd: Path, *argv: str, out: Path | None = None) -> Figure:
    """One run of the command line; stops the benchmark on an exit other than 0, 3 or 4 (diff's data loss
    and cannot-apply are figures too)."""
    target = str(out) if out is not None else os.devnull
    run = subprocess.run([sys.executable, "-c", MEASURE, str(cwd), target, *CLI, *argv], capture_output=True, text=True)
    code, wall, cpu, mib = run.stdout.split()
    if int(code) not in (0, 3, 4):
        raise SystemExit(f"nuketown-stack {' '.join(argv)} failed with exit {code}: {run.stderr}")
    return Figure(float(wall), float(cpu), float(mib))


def generated(count: int) -> dict[str, Any]:
    """The example's spec of `count` agents, as its generator makes it."""
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--arg", "count", str(count), str(FLEET / "agents.nix")],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def environment(directory: Path, raw: dict[str, Any], bound: int) -> Path:
    """The example's project in `directory` with `raw` as spec.json, its agents not placed yet."""
    directory.mkdir(parents=True)
    shutil.copy(FLEET / "Pulumi.yaml", directory)
    first = (FLEET / "Pulumi.fleet--s00.yaml").read_text()
    (directory / "Pulumi.fleet--s00.yaml").write_text(first.replace("source: fleet.nix", "source: spec.json"))
    (directory / "spec.json").write_text(json.dumps(raw))
    placement = {"environment": "fleet", "bound": bound, "agents": {}}
    (directory / "shards.fleet.json").write_text(json.dumps(placement))
    return directory


def place_in_process(raw: dict[str, Any], bound: int) -> float:
    """Seconds the placement rule alone takes for every agent of `raw`."""
    from nuketown_stack.inputs.placement import Placement
    from nuketown_stack.plan.shards import place

    started = time.perf_counter()
    place(Placement(environment="fleet", bound=bound), raw["agents"])
    return time.perf_counter() - started


def one_agent_change(raw: dict[str, Any], agent: str) -> dict[str, Any]:
    """`raw` with `agent`'s tier changed: one agent's Deployment and LimitRange-bound objects update."""
    changed = json.loads(json.dumps(raw))
    entry = changed["agents"][agent]
    entry["resources"] = "small" if entry["resources"] != "small" else "standard"
    return changed


def all_shards(directory: Path, stacks: list[str], jobs: int) -> tuple[float, list[Figure]]:
    """Every shard's plan, at most `jobs` at once: (wall seconds of them all, each one's figure)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        figures = list(pool.map(lambda stack: measure(directory, "plan", "--stack", stack, "--json"), stacks))
    return time.perf_counter() - started, figures


def sizes(scratch: Path, raw: dict[str, Any], counts: list[int]) -> list[tuple[int, int, Figure]]:
    """One shard's plan at each size: (agents, resources, figure)."""
    rows = []
    for count in counts:
        directory = environment(scratch / f"size-{count}", raw, bound=count)
        subprocess.run([*CLI, "shards", "--env", "fleet", "--write"], cwd=directory, capture_output=True, check=True)
        out = scratch / f"plan-{count}.json"
        figure = measure(directory, "plan", "--stack", "fleet--s00", "--json", out=out)
        rows.append((count, len(json.loads(out.read_text())["resources"]), figure))
    return rows


def ratio(of: Figure, to: Figure) -> str:
    return f"{of.wall / to.wall:.2f}x wall, {of.cpu / to.cpu:.2f}x CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--bound", type=int, help="agents per shard (default: the placement file's default)")
    parser.add_argument("--jobs", type=int, default=2, help="shards planned at once (default 2)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="also time one shard's plan at these sizes")
    args = parser.parse_args()
    from nuketown_stack.inputs.placement import DEFAULT_BOUND

    bound = args.bound or DEFAULT_BOUND
    print(f"machine: {os.cpu_count()} CPUs, load average {_load()} at the start; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="nuketown-fleet-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        started = time.perf_counter()
        raw = generated(args.agents)
        nix = time.perf_counter() - started
        print(f"spec: {args.agents} agents from examples/fleet/agents.nix, {nix:.2f} s of nix")
        head_dir = environment(scratch / "head", raw, bound)
        rule = place_in_process(raw, bound)
        placing = measure(head_dir, "shards", "--env", "fleet", "--write")
        placement = json.loads((head_dir / "shards.fleet.json").read_text())["agents"]
        stacks = sorted({f"fleet--{s}" for s in placement.values()}, key=lambda s: int(s.rsplit("s", 1)[1]))
        print(f"placement: the rule {rule:.3f} s; `shards --write` {placing.shown()}; {len(stacks)} shards <= {bound}")
        base_dir = scratch / "base"
        shutil.copytree(head_dir, base_dir)
        shard = stacks[len(stacks) // 2]
        agent = next(a for a, s in sorted(placement.items()) if f"fleet--{s}" == shard)
        (head_dir / "spec.json").write_text(json.dumps(one_agent_change(raw, agent)))
        plan = measure(head_dir, "plan", "--stack", shard, "--json")
        count = sum(1 for s in placement.values() if f"fleet--{s}" == shard)
        print(f"shard plan: {shard} ({count} agents) {plan.shown()}  [the baseline]")
        base_spec = str(base_dir / "spec.json")
        env_diff = measure(
            head_dir, "diff", base_spec, "spec.json", "--env", "fleet", "--base-project", str(base_dir), "--json"
        )
        print(f"env diff: one agent ({agent}) {env_diff.shown()}; {ratio(env_diff, plan)} the shard plan (goal <= 2)")
        stack_diff = measure(head_dir, "diff", base_spec, "spec.json", "--stack", shard, "--json")
        print(f"stack diff: {shard} {stack_diff.shown()}; {ratio(stack_diff, plan)} the shard plan (goal <= 1.3)")
        total, figures = all_shards(head_dir, stacks, args.jobs)
        walls, cpus, mibs = ([getattr(f, k) for f in figures] for k in ("wall", "cpu", "mib"))
        print(
            f"all shards: {len(stacks)} plans, {args.jobs} processes at once, {total:.1f} s wall, "
            f"{sum(cpus):.1f} s CPU in all; per process {min(walls):.1f}-{max(walls):.1f} s wall, "
            f"{min(cpus):.1f}-{max(cpus):.1f} s CPU, peak {min(mibs):.0f}-{max(mibs):.0f} MiB"
        )
        if args.sizes:
            print("\n| agents | resources | plan s wall | plan s CPU | plan MiB |\n|---:|---:|---:|---:|---:|")
            for agents, resources, figure in sizes(scratch, raw, args.sizes):
                print(f"| {agents} | {resources} | {figure.wall:.2f} | {figure.cpu:.2f} | {figure.mib:.0f} |")
    print(f"load average {_load()} at the end")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
