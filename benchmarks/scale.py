"""Scale benchmark: 1 to 1000 agents through nix, validate, render, plan and diff, against the SDK's floor.

    python benchmarks/scale.py                 # 1, 10, 100, 1000 agents
    python benchmarks/scale.py --agents 1 100  # a quicker look
    python benchmarks/scale.py --compare ../main  # also time another checkout's plan, in the same run

Every measurement runs in a fresh Python process (so peak memory is that
stage's own, and nothing is warm from a previous stage). Four floors, all
under the same mock engine and collector settings as plan, with no logic of ours:
  - bare:  as many resources as `plan` declares, with no inputs (the issue's floor);
  - same:  the very resources `plan` declared (types, names, inputs), registered
           flat as generic CustomResources: what the SDK spends serializing them;
  - typed: the same, through the SDK's typed classes (k8s.apps.v1.Deployment, ...),
           as a program must to get typed outputs: the SDK's cost for this fleet;
  - wired: the typed floor with the options `plan` gave each resource (its parent
           component, explicit providers, depends_on, the alias from the stack's root,
           retainOnDelete): typed -> wired is what the SDK spends on those options,
           wired -> plan is the rest of plan (reading the spec, the plan, Output-valued
           inputs, component and stack outputs, lookups).
Beside plan: `plan gc0`, the same run with Python's collector left as it comes (the
effect of nuketown_stack.collector), and `diff`, the command line's diff for a change of
one agent's tier (BASE and HEAD), as `nuketown-stack diff` runs them.
Times are the median of --repeat runs; import time is excluded (reported once), but
diff's child processes import for themselves, as they do for a user.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT_VARIABLE = "NUKETOWN_BENCH_CHECKOUT"  # whose nuketown_stack a stage imports (--compare: another's)
SPEC_NIX = ROOT / "nix" / "spec.nix"
TIERS = ("small", "standard", "large", "gpu")
PERSIST = ('"projects"', '".config/claude"', '".local/share/nvim"', '"datasets"')
SETTINGS = {
    "gcp": {"nuketown:cloud": "gcp", "gcp:project": "bench-project"},
    "aws": {
        "nuketown:cloud": "aws",
        "aws:region": "us-east-1",
        "nuketown:awsOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/B",
    },
}


def fleet_nix(count: int, spec_nix: Path = SPEC_NIX) -> str:
    """A nix config of `count` agents with mixed tiers, 1 to 4 persist dirs, some spot and egress lists, read
    through the spec function `spec_nix` (another checkout's, for --compare: the spec as that code reads it)."""
    agents = []
    for index in range(count):
        tier = TIERS[index % len(TIERS)]
        persist = " ".join(PERSIST[: 1 + index % len(PERSIST)])
        extra = 'spot = true; network.egress = [ { cidr = "0.0.0.0/0"; ports = [ 443 ]; } ];' if index % 5 == 0 else ""
        agents.append(
            f'a{index:04d} = {{ enable = true; uid = {1100 + index}; role = "bench"; persist = [ {persist} ]; '
            f'cloud = {{ resources = "{tier}"; scaling.maxResources = "gpu"; {extra} }}; }};'
        )
    return (
        f'(import {spec_nix}).spec {{ enable = true; domain = "bench.example"; '
        f'cloud = {{ enable = true; storage.sizes.datasets = "100Gi"; }}; agents = {{ {" ".join(agents)} }}; }}'
    )


# --- one stage, in a child process ---------------------------------------------------------------


def _stage(stage: str, spec_path: str, cloud: str, resources: int, dump: str) -> dict[str, Any]:
    imported = time.perf_counter()
    import pulumi

    from nuketown_stack.inputs import settings, source, spec
    from nuketown_stack.plan import stack as plan
    from nuketown_stack.program import engine, program
    from nuketown_stack.views import render

    if cloud != "none":  # the cloud's SDK, as declare imports it
        import importlib

        from nuketown_stack.clouds import declare_module

        declare_module(cloud)
        for module in CLOUD_MODULES[cloud]:  # imported on first use otherwise: inside one stage's time, not another's
            lazy = importlib.import_module(f"pulumi_{cloud}.{module}")
            getattr(lazy, "__all__", None)  # loads it: a lazy module runs on its first attribute read
    if stage in PROGRAM_STAGES:  # as the command line and `pulumi up` run the program; floors alike
        from nuketown_stack import collector

        collector.tune()
    imported = time.perf_counter() - imported
    declared: list[dict[str, Any]] = json.loads(Path(dump).read_text()) if stage.startswith("floor-") else []
    if stage in ("floor-same", "floor-typed"):  # resources alone: the engine's default providers serve them
        declared = [entry for entry in declared if not entry["type"].startswith("pulumi:providers:")]
    config = SETTINGS.get(cloud, {})
    started, cpu_started = time.perf_counter(), time.process_time()
    if stage == "diff":
        resources = _diff(spec_path, config)
    elif stage == "validate":
        spec.load_spec(source.load_raw(spec_path))
    elif stage == "render":
        stack_settings = settings.settings_from_config("bench", config)
        render.to_yaml(plan.build_plan(spec.load_spec(source.load_raw(spec_path)), stack_settings).objects())
    elif stage in ("plan", "plan-gc0"):
        result = engine.run_program(program.define_stack, "bench", {"nuketown:source": spec_path, **config})
        resources = len(result.resources)
    elif stage == "declare":  # run once, for the floors: what plan declares, and the options it gives each
        resources = _declare(spec_path, config, dump)
    elif stage == "floor-same":

        def same() -> dict[str, Any]:
            for entry in declared:
                pulumi.CustomResource(entry["type"], entry["name"], entry["inputs"])
            return {}

        engine.run_program(same, "bench", {})
        resources = len(declared)
    elif stage == "floor-typed":
        from nuketown_stack.program.declare import _resource_args  # a manifest as keyword arguments, as plan has it

        def typed() -> dict[str, Any]:
            for entry in declared:
                cls = _typed_class(entry["type"])
                cls(entry["name"], **_resource_args(entry["inputs"]))
            return {}

        engine.run_program(typed, "bench", {})
        resources = len(declared)
    elif stage == "floor-wired":

        def wired() -> dict[str, Any]:
            built: dict[tuple[str, str], pulumi.Resource] = {}
            for entry in declared:
                built[(entry["type"], entry["name"])] = _wired(entry, built)
            return {}

        engine.run_program(wired, "bench", {})
        resources = len(declared)
    elif stage == "floor":

        def bare() -> dict[str, Any]:
            for index in range(resources):
                pulumi.CustomResource("bench:index:Bare", f"r{index}", {})
            return {}

        engine.run_program(bare, "bench", {})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    # CPU of this process and of the processes it waited for (diff's sides): on a busy machine, where wall
    # time measures the neighbours too, the ratios of these are the steadier ones.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += children.ru_utime + children.ru_stime
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mib": peak_kib / 1024,
        "resources": resources,
        "import_seconds": imported,
    }


# The SDK modules the cloud's declare module reaches (`gcp.kms.KeyRing`, ...): pulumi_gcp and pulumi_aws
# import each one the first time it is used (0.36 s for pulumi_gcp.storage), so a stage that reaches one
# the others do not would count an import the rest leave out. tests/test_benchmark.py keeps this in step.
CLOUD_MODULES = {
    "gcp": ("container", "kms", "projects", "serviceaccount", "storage"),
    "aws": ("eks", "iam", "kms", "resourcegroupstaggingapi", "s3"),
}

# plan-gc0 leaves the collector as it comes
PROGRAM_STAGES = ("plan", "declare", "floor", "floor-same", "floor-typed", "floor-wired")


def head_spec(spec_path: Path) -> Path:
    """The spec after a change of one agent: the second agent's tier (a Deployment update, nothing moves)."""
    document = json.loads(spec_path.read_text())
    name = sorted(document["agents"])[min(1, len(document["agents"]) - 1)]
    document["agents"][name]["resources"] = "large" if document["agents"][name]["resources"] != "large" else "small"
    head = spec_path.with_suffix(".head.json")
    head.write_text(json.dumps(document))
    return head


def _diff(spec_path: str, config: dict[str, str]) -> int:
    """`nuketown-stack diff BASE HEAD` from the sides on: both runs, the diff and its text."""
    from nuketown_stack import cli
    from nuketown_stack.program.sides import KnownFrom, run_sides
    from nuketown_stack.views.diff import diff_plans, format_diff

    head_path = str(head_spec(Path(spec_path)))
    sides = []
    for path, known in ((spec_path, None), (head_path, KnownFrom(0))):
        side = cli.SettingsSource("bench", False, None, True, tuple(f"{k}={v}" for k, v in config.items()))
        prepared, _ = cli._prepared_from(side, side.config(path), "nuketown", known)
        sides.append(prepared)
    base, head = (cli._raised(outcome) for outcome in run_sides(sides))
    diff = diff_plans(base["resources"], head["resources"])
    assert diff.counts()["update"] == 1, diff.counts()  # one agent's Deployment, as the change says
    format_diff(diff)
    return len(head["resources"])


def _declare(spec_path: str, config: dict[str, str], dump: str) -> int:
    """Run the program once and write down every resource in the order it was built: its type, name and the
    inputs the engine recorded, and the options the program gave it, which the wired floor gives it again."""
    import pulumi

    from nuketown_stack.program import engine, program

    def key(resource: Any) -> list[str]:  # a Resource: the program gives no Output where the floor reads one
        return [resource.pulumi_resource_type, resource.pulumi_resource_name]

    built: list[dict[str, Any]] = []

    def note(args: pulumi.ResourceTransformationArgs) -> None:
        opts, parent = args.opts, args.opts.parent
        at_the_root = parent is None or parent.pulumi_resource_type == ROOT_STACK_TYPE
        providers = opts.providers.values() if isinstance(opts.providers, dict) else opts.providers or []
        built.append(
            {
                "type": args.type_,
                "name": args.name,
                "custom": isinstance(args.resource, pulumi.CustomResource),
                "parent": None if at_the_root else key(parent),
                "provider": key(opts.provider) if opts.provider is not None else None,
                "providers": [key(provider) for provider in providers],
                "dependsOn": [key(resource) for resource in opts.depends_on or []],  # type: ignore[union-attr]
                "fromTheRoot": any(_from_the_root(alias) for alias in opts.aliases or []),
                "retainOnDelete": bool(opts.retain_on_delete),
            }
        )

    def declare() -> dict[str, Any]:
        pulumi.runtime.register_stack_transformation(note)
        return program.define_stack()

    result = engine.run_program(declare, "bench", {"nuketown:source": spec_path, **config})
    inputs = {(r.type, r.name): r.inputs for r in result.resources}
    Path(dump).write_text(json.dumps([{**entry, "inputs": inputs[(entry["type"], entry["name"])]} for entry in built]))
    return len(built)


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def _from_the_root(alias: Any) -> bool:
    import pulumi

    return isinstance(alias, pulumi.Alias) and alias.parent is pulumi.ROOT_STACK_RESOURCE


def _wired(entry: dict[str, Any], built: dict[tuple[str, str], Any]) -> Any:
    """One resource of the wired floor: as the typed floor builds it, with the options the program gave it
    (parent, providers, depends_on, the alias from the stack's root, retainOnDelete), its components and
    providers built again as plain ones."""
    import pulumi

    def of(key: list[str] | None) -> Any:
        return built[(key[0], key[1])] if key is not None else None

    opts = pulumi.ResourceOptions(
        parent=of(entry["parent"]),
        provider=of(entry["provider"]),
        providers=[of(key) for key in entry["providers"]] or None,
        depends_on=[of(key) for key in entry["dependsOn"]] or None,
        aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)] if entry["fromTheRoot"] else None,
        retain_on_delete=entry["retainOnDelete"] or None,
    )
    kind, name = entry["type"], entry["name"]
    if kind.startswith("pulumi:providers:"):
        return pulumi.ProviderResource(kind.split(":")[2], name, entry["inputs"], opts)
    if not entry["custom"]:
        return pulumi.ComponentResource(kind, name, None, opts)
    from nuketown_stack.program.declare import _resource_args  # a manifest as keyword arguments, as plan has it

    return _typed_class(kind)(name, **_resource_args(entry["inputs"]), opts=opts)


def _typed_class(token: str) -> Any:
    """The SDK class of a type token: `gcp:kms/cryptoKey:CryptoKey` -> pulumi_gcp.kms.CryptoKey."""
    import importlib

    import pulumi

    package, module, name = token.split(":")
    if package == "nuketown":  # the Agent component: no SDK class, registered as it is by the program
        return lambda resource_name, **_: pulumi.ComponentResource(token, resource_name)
    group, _, version = module.partition("/")
    # kubernetes:apps/v1 -> apps.v1, networking.k8s.io/v1 -> networking.v1; clouds: the module alone.
    path = [group.split(".")[0], version] if package == "kubernetes" else [group]
    return getattr(importlib.import_module(".".join([f"pulumi_{package}", *path])), name)


def measure(
    stage: str, spec_path: Path, cloud: str, resources: int, repeat: int, checkout: Path | None = None
) -> dict[str, Any]:
    """The median of `repeat` runs of a stage; of another checkout's code when given (--compare)."""
    runs = []
    dump = spec_path.with_suffix(".declared.json")
    for _ in range(repeat):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--stage",
                stage,
                str(spec_path),
                cloud,
                str(resources),
                str(dump),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=checkout or ROOT,
            env={**os.environ, CHECKOUT_VARIABLE: str(checkout or ROOT)},
        )
        if out.returncode != 0:
            sys.exit(f"stage {stage} failed on {spec_path.name}:\n{out.stderr}")
        runs.append(json.loads(out.stdout))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "resources": runs[0]["resources"],
        "import_seconds": statistics.median(r["import_seconds"] for r in runs),
    }


def _measure_before(checkout: Path, count: int, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Another checkout's plan of the same fleet, the spec generated through that checkout's own spec function
    (an older one refuses fields it never had, such as `buckets`)."""
    nix_file, spec_path = scratch / f"fleet-{count}.before.nix", scratch / f"fleet-{count}.before.json"
    nix_file.write_text(fleet_nix(count, checkout / "nix" / "spec.nix"))
    nix_seconds(nix_file, spec_path, 1)
    return measure("plan-gc0", spec_path, args.cloud, 0, args.repeat, checkout)


def nix_seconds(nix_file: Path, spec_path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run(
            ["nix-instantiate", "--eval", "--strict", "--json", str(nix_file)],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
    spec_path.write_text(out.stdout)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--cloud", choices=["none", "gcp", "aws"], default="gcp")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--compare", type=Path, metavar="CHECKOUT", help="also time this checkout's plan (main, say) in the same run"
    )
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for count in args.agents:
            nix_file = Path(scratch) / f"fleet-{count}.nix"
            spec_path = Path(scratch) / f"fleet-{count}.json"
            nix_file.write_text(fleet_nix(count))
            row: dict[str, Any] = {"agents": count, "nix": nix_seconds(nix_file, spec_path, args.repeat)}
            for stage in ("validate", "render", "plan"):
                row[stage] = measure(stage, spec_path, args.cloud, 0, args.repeat)
            measure("declare", spec_path, args.cloud, 0, 1)  # what the floors declare; not a figure
            row["floor"] = measure("floor", spec_path, args.cloud, row["plan"]["resources"], args.repeat)
            row["same"] = measure("floor-same", spec_path, args.cloud, 0, args.repeat)
            row["typed"] = measure("floor-typed", spec_path, args.cloud, 0, args.repeat)
            row["wired"] = measure("floor-wired", spec_path, args.cloud, 0, args.repeat)
            row["gc0"] = measure("plan-gc0", spec_path, args.cloud, 0, args.repeat)
            row["diff"] = measure("diff", spec_path, args.cloud, 0, args.repeat)
            if args.compare is not None:  # its plan as its command line ran it: the collector as it comes
                row["before"] = _measure_before(args.compare.resolve(), count, Path(scratch), args)
            rows.append(row)
            print(f"measured {count} agents", file=sys.stderr)
    print_table(rows, args.cloud)
    print(f"imports (not in the stage times): {rows[0]['plan']['import_seconds']:.2f} s")
    print_goals(rows)


COLUMNS: tuple[tuple[str, Any], ...] = (
    ("agents", lambda r: r["agents"]),
    ("resources", lambda r: r["plan"]["resources"]),
    ("nix s", lambda r: f"{r['nix']:.3f}"),
    ("validate s", lambda r: f"{r['validate']['seconds']:.3f}"),
    ("render s", lambda r: f"{r['render']['seconds']:.3f}"),
    ("plan s", lambda r: f"{r['plan']['seconds']:.3f}"),
    ("plan-cpu s", lambda r: f"{r['plan']['cpu_seconds']:.3f}"),
    ("bare s", lambda r: f"{r['floor']['seconds']:.3f}"),
    ("same s", lambda r: f"{r['same']['seconds']:.3f}"),
    ("typed s", lambda r: f"{r['typed']['seconds']:.3f}"),
    ("typed-cpu s", lambda r: f"{r['typed']['cpu_seconds']:.3f}"),
    ("wired s", lambda r: f"{r['wired']['seconds']:.3f}"),
    ("plan/bare", lambda r: f"{r['plan']['seconds'] / r['floor']['seconds']:.2f}"),
    ("plan/same", lambda r: f"{r['plan']['seconds'] / r['same']['seconds']:.2f}"),
    ("plan/typed", lambda r: f"{r['plan']['seconds'] / r['typed']['seconds']:.2f}"),
    ("plan/wired", lambda r: f"{r['plan']['seconds'] / r['wired']['seconds']:.2f}"),
    ("plan-gc0 s", lambda r: f"{r['gc0']['seconds']:.3f}"),
    ("diff s", lambda r: f"{r['diff']['seconds']:.3f}"),
    ("diff/plan", lambda r: f"{r['diff']['seconds'] / r['plan']['seconds']:.2f}"),
    ("render MiB", lambda r: f"{r['render']['peak_mib']:.0f}"),
    ("plan MiB", lambda r: f"{r['plan']['peak_mib']:.0f}"),
    ("typed MiB", lambda r: f"{r['typed']['peak_mib']:.0f}"),
)


def print_table(rows: list[dict[str, Any]], cloud: str) -> None:
    print(f"cloud={cloud}; seconds: median of each stage's own work; MiB: the stage process's peak RSS")
    print(" ".join(f"{title:>10}" for title, _ in COLUMNS))
    for row in rows:
        print(" ".join(f"{cell(row):>10}" for _, cell in COLUMNS))
    by_count = {row["agents"]: row for row in rows}
    if 100 in by_count and 1000 in by_count:
        growth = {
            stage: by_count[1000][stage]["seconds"] / by_count[100][stage]["seconds"]
            for stage in ("validate", "render", "plan", "floor", "same", "typed", "wired")
        }
        growth["nix"] = by_count[1000]["nix"] / by_count[100]["nix"]
        print("growth 100 -> 1000 agents: " + ", ".join(f"{k} {v:.1f}x" for k, v in growth.items()))


def print_goals(rows: list[dict[str, Any]]) -> None:
    """The issue's goals (docs/performance.md), each figure against its goal, from this run only: wall time,
    then CPU time (this process and the ones it waited for), which a busy machine disturbs less."""
    row = max(rows, key=lambda r: r["agents"])
    by_count = {r["agents"]: r for r in rows}

    def ratio(a: str, b: str, key: str, of: dict[str, Any] = row) -> str:
        return f"{of[a][key] / of[b][key]:.2f}"

    for key, what in (("seconds", "wall"), ("cpu_seconds", "CPU")):
        lines = [
            f"[{what}] plan / typed floor at {row['agents']} agents: {ratio('plan', 'typed', key)} (goal <= 1.10)",
            f"[{what}] of which: the wired floor / typed floor: {ratio('wired', 'typed', key)} (the SDK's work for the "
            f"program's resource options), plan / wired floor: {ratio('plan', 'wired', key)} (the rest of plan's work)",
            f"[{what}] plan with the collector as it comes / plan: {ratio('gc0', 'plan', key)} (its effect)",
        ]
        if key == "seconds":  # diff's CPU is both sides' work: only its wall time says how long one waits
            lines.append(f"[wall] diff of a one-agent change / plan: {ratio('diff', 'plan', key)} (goal <= 1.30)")
            lines.append(f"[wall] render of {row['agents']} agents: {row['render'][key]:.2f} s (goal <= 1 s)")
        else:
            lines.append(f"[CPU] render of {row['agents']} agents: {row['render'][key]:.2f} s")
        if "before" in row:
            lines.append(f"[{what}] plan before (--compare) / plan: {ratio('before', 'plan', key)} (goal >= 1.50)")
        if 100 in by_count and 1000 in by_count:
            grew = {k: by_count[1000][k][key] / by_count[100][k][key] for k in ("plan", "typed")}
            lines.append(
                f"[{what}] growth 100 -> 1000: plan {grew['plan']:.2f}x, typed floor {grew['typed']:.2f}x, "
                f"ratio {grew['plan'] / grew['typed']:.2f} (goal <= 1.10)"
            )
        print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stage":
        sys.path.insert(0, os.environ.get(CHECKOUT_VARIABLE, str(ROOT)))
        print(json.dumps(_stage(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])))
    else:
        main()
