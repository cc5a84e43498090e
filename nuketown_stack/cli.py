"""nuketown-stack: validate | render | plan | diff, over the same functions as `pulumi up`.

Settings come from the stack file `pulumi` itself would read (Pulumi.<stack>.yaml beside the nearest
Pulumi.yaml), and the command says on stderr which file that was, or that there was none.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nuketown_stack.errors import InputError, raise_if_any
from nuketown_stack.inputs.settings import (
    Settings,
    StackFile,
    apply_overrides,
    load_stack_file,
    parse_overrides,
    settings_from_config,
)
from nuketown_stack.inputs.source import load_raw
from nuketown_stack.inputs.spec import CloudSpec, load_spec
from nuketown_stack.plan.stack import StackPlan, build_plan
from nuketown_stack.views.render import to_yaml

if TYPE_CHECKING:
    from nuketown_stack.program.sides import Known, Outcome, Side

EXIT_INTERNAL = 1
EXIT_INVALID = 2
DEFAULT_STACK = "dev"
SOURCE_HELP = (
    "a .json file or '-' (stdin), a .nix file (nix-instantiate), or a flake reference with '#' (nix eval); "
    "default: the stack's nuketown:source"
)
EXIT_CODES = "exit codes: 0 success; 2 invalid input, one line per problem naming its path; 1 a bug (report it)"
EPILOGS = {
    "validate": f"""{EXIT_CODES}.

example:
  $ nuketown-stack validate examples/cloud-ada.nix
  ok: schemaVersion 1, 2 agents (ada, vox), tiers gpu, large, small, standard; checked with stack dev's settings""",
    "render": f"""{EXIT_CODES}.

examples:
  $ nuketown-stack render examples/cloud-ada.nix | kubectl apply -f -
  $ nuketown-stack render --stack production --out rendered/   # one file per agent; stale ones removed""",
    "plan": f"""{EXIT_CODES}.

examples:
  $ nuketown-stack plan examples/cloud-ada.nix -c nuketown:cloud=gcp -c gcp:project=acme-agents
  $ nuketown-stack plan --stack production --json > plan.json""",
    "diff": """exit codes: 0 nothing moves or is lost; 3 data or identity moves or leaves the stack (read it; the PR
label accept-data-loss lets it through); 4 a change the engine can never apply (rework it); 2 invalid input;
1 a bug.

examples:
  $ nuketown-stack diff main.json pr.json
  $ nuketown-stack diff base/spec.nix spec.nix --stack production --base-stack-file base/Pulumi.production.yaml
  $ nuketown-stack diff spec.nix spec.nix --stack prod-2 --base-stack prod   # a stack rename: what moves
  $ nuketown-stack diff base/fleet.nix fleet.nix --env fleet --base-project base/ --json   # touched shards only""",
    "shards": f"""{EXIT_CODES}.

examples (in the environment's project directory):
  $ nuketown-stack shards --env fleet --json          # {{"fleet--s00": ["ada-0", ...], ...}}
  $ nuketown-stack shards --env fleet --write         # place new agents; commit shards.fleet.json
  $ nuketown-stack shards --env fleet --move ada-0 s03""",
    "argocd": f"""{EXIT_CODES}.

example:
  $ nuketown-stack argocd agents.nix --stack production --repo https://github.com/your-org/your-agents.git \\
      | kubectl -n argocd apply -f -""",
}


# --- where settings come from ------------------------------------------------------------------------------


def find_project_dir(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding Pulumi.yaml, as the Pulumi CLI finds it."""
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return None


def project_name(project_dir: Path | None) -> str:
    from nuketown_stack.program.declared import PROJECT  # pure: the engine would import pulumi

    if project_dir is None:
        return PROJECT
    document = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    return str(document.get("name", PROJECT))


@dataclass(frozen=True)
class SettingsSource:
    """Where one side's settings come from: a stack file (found or given), or defaults, then -c pairs."""

    stack: str
    stack_given: bool  # --stack was passed: its file must exist
    stack_file: Path | None  # --stack-file / --base-stack-file
    defaults: bool  # --defaults: no stack file at all
    overrides: tuple[str, ...]
    label: str = "settings"
    # Where to read settings when Pulumi.<stack>.yaml does not exist: the base side of a renamed stack
    # reads the head's file under its old name.
    fallback: Path | None = None

    def stack_file_read(self) -> StackFile:
        if self.stack_file is not None:
            found = load_stack_file(self.stack_file)
        elif self.defaults:
            found = StackFile(path=None, config={})
        else:
            found = self._found()
        where = _shown(found.path) if found.path is not None else "none: defaults only"
        print(f"{self.label}: {where} (stack {self.stack})", file=sys.stderr)
        return found

    def located(self) -> Path | None:
        """The stack file this side reads, without reading it (None: defaults only)."""
        if self.stack_file is not None:
            return self.stack_file
        if self.defaults:
            return None
        cwd = Path.cwd()
        path = (find_project_dir(cwd) or cwd) / f"Pulumi.{self.stack}.yaml"
        return path if path.is_file() else self.fallback

    def _found(self) -> StackFile:
        cwd = Path.cwd()
        directory = find_project_dir(cwd) or cwd
        path = directory / f"Pulumi.{self.stack}.yaml"
        if path.is_file():
            return load_stack_file(path)
        if self.fallback is not None:
            return load_stack_file(self.fallback)
        if self.stack_given:
            stacks = sorted(
                p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml")
            )
            raise InputError(
                [
                    f"--stack {self.stack}: no Pulumi.{self.stack}.yaml in {directory} (stacks there: "
                    f"{', '.join(stacks) or 'none'}); pass --defaults to run on default settings"
                ]
            )
        return StackFile(path=None, config={})

    def config(self, source: str | None) -> tuple[dict[str, Any], frozenset[str], str]:
        """The flat config, its secret keys, and the spec's source (SOURCE, else nuketown:source)."""
        stack_file = self.stack_file_read()
        config = apply_overrides(stack_file.config, list(self.overrides))
        if source is None:
            source = _source_from(config, stack_file)
        config["nuketown:source"] = source
        placement = stack_file.config.get("nuketown:shards")
        overridden = "nuketown:shards" in parse_overrides(list(self.overrides))
        if placement and not overridden and stack_file.path is not None:
            config["nuketown:shards"] = str(stack_file.path.parent / str(placement))  # as `pulumi up` reads it there
        return config, stack_file.secret_keys, source

    def settings(self, source: str | None) -> tuple[Settings, str]:
        config, secret_keys, source = self.config(source)
        return settings_from_config(self.stack, config, secret_keys), source


def _shown(path: Path) -> str:
    """A path as the user would type it: relative when under the working directory."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _source_from(config: dict[str, Any], stack_file: StackFile) -> str:
    """nuketown:source, relative to the stack file's directory as `pulumi up` reads it there."""
    configured = config.get("nuketown:source")
    if not configured:
        raise InputError(["SOURCE: give one, or set nuketown:source in the stack file"])
    source = str(configured)
    if stack_file.path is None or source == "-" or "#" in source or Path(source).is_absolute():
        return source
    return str(stack_file.path.parent / source)


def _settings_source(args: argparse.Namespace) -> SettingsSource:
    return SettingsSource(
        stack=args.stack or DEFAULT_STACK,
        stack_given=args.stack is not None,
        stack_file=args.stack_file,
        defaults=args.defaults,
        overrides=tuple(args.config),
    )


# --- the commands ------------------------------------------------------------------------------------------


def _load(source: str) -> CloudSpec:
    return load_spec(load_raw(source))


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _spec_and_plan(args: argparse.Namespace) -> tuple[Settings, CloudSpec, StackPlan]:
    settings, source = _settings_source(args).settings(args.source)
    spec = _load(source)
    plan = build_plan(spec, settings, _shard_agents(spec, settings))
    _warn(plan.warnings)
    return settings, spec, plan


def _shard_agents(spec: CloudSpec, settings: Settings) -> frozenset[str] | None:
    """The agents a shard stack declares (None: the stack declares the whole spec), as its program picks them."""
    if settings.shards is None:
        return None
    from nuketown_stack.inputs.placement import read_placement
    from nuketown_stack.plan.shards import stack_agents

    return stack_agents(settings, spec.agents, read_placement(Path(settings.shards)), _shown(Path(settings.shards)))


def cmd_validate(args: argparse.Namespace) -> int:
    """The spec, and what the stack's settings add to it (names, allow-lists, egress, provider settings)."""
    settings, spec, plan = _spec_and_plan(args)
    if settings.provider_config:
        from nuketown_stack.program.providers import setting_problems  # deferred: imports the providers' SDKs

        raise_if_any(setting_problems(settings))
    names = ", ".join(sorted(spec.agents)) or "none"
    agents = f"{len(spec.agents)} agent{'' if len(spec.agents) == 1 else 's'}"
    print(
        f"ok: schemaVersion {spec.schema_version}, {agents} ({names}), tiers {', '.join(spec.tiers)}; "
        f"checked with stack {plan.stack}'s settings"
    )
    return 0


RENDER_MARK = "# nuketown-stack render --out: agent "  # first line of every file --out writes, and only those


def cmd_render(args: argparse.Namespace) -> int:
    _, _, plan = _spec_and_plan(args)
    if args.out is None:
        sys.stdout.write(to_yaml(plan.objects()))
        return 0
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError([f"--out {out}: is a file; give a directory (it will hold one file per agent)"])
    out.mkdir(parents=True, exist_ok=True)
    current = {agent.name for agent in plan.agents}
    for agent in plan.agents:
        (out / f"{agent.name}.yaml").write_text(f"{RENDER_MARK}{agent.name}\n{to_yaml(agent.objects)}")
    stale = sorted(p for p in out.glob("*.yaml") if _written_by_render(p) and p.stem not in current)
    for path in stale:
        path.unlink()  # an agent no longer declared: `kubectl apply -f DIR` must not bring it back
    removed = f", removed {', '.join(p.name for p in stale)} (agents no longer declared)" if stale else ""
    print(f"wrote {len(plan.agents)} files to {out}{removed}", file=sys.stderr)
    return 0


def cmd_argocd(args: argparse.Namespace) -> int:
    """The stack's Argo CD AppProject and Application, generated so the project cannot drift from the names."""
    from nuketown_stack.plan.argocd import ArgoTarget, app_project, application, namespace_patterns

    side = _settings_source(args)
    config, secret_keys, _ = side.config(args.source)
    settings = settings_from_config(side.stack, config, secret_keys)
    spec = _load(config["nuketown:source"])
    plan = build_plan(spec, settings, _shard_agents(spec, settings))
    _warn(plan.warnings)
    target = ArgoTarget(
        repo=args.repo,
        source=args.source or _configured_source(side),
        path=args.path,
        revision=args.revision,
        server=args.server,
        argocd_namespace=args.argocd_namespace,
    )
    documents = [app_project(plan, settings, target), application(plan, settings, target)]
    sys.stdout.write(_argocd_header(plan.stack, namespace_patterns(plan, settings), settings.names.legacy))
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True))
    return 0


def _configured_source(side: SettingsSource) -> str:
    """nuketown:source as the stack file (or -c) writes it: relative to the application directory, as the
    plugin takes NUKETOWN_SOURCE."""
    located = side.located()
    config = apply_overrides(load_stack_file(located).config if located else {}, list(side.overrides))
    return str(config.get("nuketown:source"))


def _argocd_header(stack: str, namespaces: list[str], legacy: bool) -> str:
    lines = [
        f"Argo CD project and application of nuketown stack {stack}, generated by `nuketown-stack argocd`:",
        "regenerate it rather than edit it. The project admits only the stack's namespaces"
        f" ({', '.join(namespaces) or 'none'}), its",
        "ownership guard by name, the kinds the render produces, and the repository it names.",
        "Naming a Namespace in clusterResourceWhitelist needs Argo CD 3.3 or later; do not drop the",
        "name to fit an older CRD: without it the project could create or relabel any Namespace.",
    ]
    if legacy:
        lines.append("Legacy names list each namespace by name: regenerate when an agent is added or removed.")
    return "".join(f"# {line}\n" for line in lines)


def _written_by_render(path: Path) -> bool:
    with path.open() as text:
        return text.readline().startswith(RENDER_MARK)


def cmd_plan(args: argparse.Namespace) -> int:
    from nuketown_stack.program.sides import run_sides
    from nuketown_stack.views.report import agent_summaries, resource_tree, type_counts

    project = project_name(find_project_dir(Path.cwd()))
    # As a first `pulumi preview` sees it: what the clouds assign on creation is not known yet.
    side, _ = _prepared(_settings_source(args), args.source, project, known=frozenset())
    [outcome] = run_sides([side])
    declared = _raised(outcome)
    _warn(declared.pop("warnings"))
    if args.json:
        json.dump(declared, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    resources = declared["resources"]
    if args.tree:
        print(resource_tree(project, declared["stack"], resources))
    else:
        print(agent_summaries(resources, declared["outputs"]))
    print(f"\n{type_counts(resources)}")
    return 0


# Options of an environment's diff, and those of one stack's diff that have no meaning for an environment's
# (each shard reads its own stack file).
_ENVIRONMENT_OPTIONS = ("base_project", "jobs", "json_file")
_ONE_STACK_OPTIONS = ("stack", "stack_file", "defaults", "config", "base_stack", "base_stack_file", "base_config")


def cmd_diff(args: argparse.Namespace) -> int:
    from nuketown_stack.program.sides import KnownFrom, run_sides
    from nuketown_stack.views.diff import diff_plans, format_diff, setting_changes

    if args.base == "-" and args.head == "-":
        raise InputError(["BASE and HEAD are both '-': stdin can be read once; give one of them as a file"])
    if args.env is not None:
        return _diff_environment(args)
    given = [f"--{name.replace('_', '-')}" for name in _ENVIRONMENT_OPTIONS if getattr(args, name)]
    if given:
        raise InputError([f"{option}: only with --env ENV" for option in given])
    project = project_name(find_project_dir(Path.cwd()))
    # Each side under its own settings: the base branch's stack file and --base-config for BASE, the
    # stack file and -c for HEAD. Without base-side settings, both sides share HEAD's.
    head_side = _settings_source(args)
    base_own = args.base_stack_file is not None or bool(args.base_config)
    # The base side's stack: --base-stack, else the name of --base-stack-file, else the head's. A renamed
    # stack (Pulumi.prod.yaml moved to Pulumi.prod-2.yaml) reads the head's file under its old name.
    base_stack = args.base_stack or _stack_of(args.base_stack_file) or head_side.stack
    renamed = base_stack != head_side.stack
    base_side = SettingsSource(
        stack=base_stack,
        stack_given=head_side.stack_given and not renamed,
        stack_file=args.base_stack_file or head_side.stack_file,
        defaults=head_side.defaults and args.base_stack_file is None,
        overrides=tuple(args.base_config) if base_own else head_side.overrides,
        label="base settings",
        fallback=head_side.located() if renamed else None,
    )
    head_side = SettingsSource(**{**head_side.__dict__, "label": "head settings"})
    # The base is what `pulumi up` left (everything known); the head is a preview from there: only new
    # resources' cloud-assigned values are unknown. Both run at once; what either says on stderr comes
    # in the order it did when BASE ran first, then HEAD.
    base, base_settings = _prepared(base_side, args.base, project, known=None)
    head_said = io.StringIO()
    try:
        with contextlib.redirect_stderr(head_said):  # its settings line, said once BASE has run
            head_config = head_side.config(args.head)
        head, head_settings = _prepared_from(head_side, head_config, project, known=KnownFrom(0))
    except Exception:
        _raised(run_sides([base])[0])
        sys.stderr.write(head_said.getvalue())
        raise
    base_outcome, head_outcome = run_sides([base, head])
    base_run = _raised(base_outcome)
    sys.stderr.write(head_said.getvalue())
    head_run = _raised(head_outcome)
    _warn(head_run["warnings"])
    settings = setting_changes(base_settings, head_settings)
    diff = diff_plans(base_run["resources"], head_run["resources"], settings)
    if args.json:
        json.dump(diff.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_diff(diff, style=_style()))
    return diff.exit_code


def _diff_environment(args: argparse.Namespace) -> int:
    """`diff BASE HEAD --env ENV`: only the shards whose agents or settings changed are run."""
    from nuketown_stack.shard_commands import diff_environment
    from nuketown_stack.views.shards import format_environment_diff

    given = [f"--{name.replace('_', '-')}" for name in _ONE_STACK_OPTIONS if getattr(args, name)]
    if given:
        reason = "not with --env; each shard reads its own stack file (--base-project: the base's)"
        raise InputError([f"{option}: {reason}" for option in given])
    diff, exit_code = diff_environment(args)
    if args.json_file is not None:  # for a workflow that shows the diff and acts on the touched shards
        args.json_file.write_text(json.dumps(diff.to_json(), indent=2, sort_keys=True) + "\n")
    if args.json:
        json.dump(diff.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_environment_diff(diff, style=_style()))
    return exit_code


def cmd_shards(args: argparse.Namespace) -> int:
    from nuketown_stack.shard_commands import cmd_shards as shards

    return shards(args)


def cmd_agent_urns(args: argparse.Namespace) -> int:
    from nuketown_stack.shard_commands import cmd_agent_urns as agent_urns

    return agent_urns(args)


def cmd_drift(args: argparse.Namespace) -> int:
    """A shard's `pulumi preview --refresh --json` as drift, per agent and resource: 0 none, 3 some."""
    from nuketown_stack.shard_commands import read_json
    from nuketown_stack.views.drift import drifted, errors, format_drift

    digest = read_json(args.preview)
    found, failures = drifted(digest, args.preview), errors(digest)
    print(format_drift(args.stack, found, failures))
    return 3 if found or failures else 0


def _stack_of(stack_file: Path | None) -> str | None:
    """`Pulumi.<stack>.yaml` -> <stack>; None for a file not named that way."""
    if stack_file is None or not (stack_file.name.startswith("Pulumi.") and stack_file.name.endswith(".yaml")):
        return None
    return stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml") or None


def _style() -> str:
    """ANSI on a terminal unless NO_COLOR (no colour, no bold); markdown for PR comments and job summaries."""
    if not sys.stdout.isatty():
        return "markdown"
    return "plain" if os.environ.get("NO_COLOR") else "ansi"


def _prepared(side: SettingsSource, source: str | None, project: str, known: "Known") -> tuple["Side", Settings]:
    """One run of the program, ready to start (settings read, spec loaded), and the Settings it runs with."""
    return _prepared_from(side, side.config(source), project, known)


def _prepared_from(
    side: SettingsSource, config: tuple[dict[str, Any], frozenset[str], str], project: str, known: "Known"
) -> tuple["Side", Settings]:
    from nuketown_stack.program.sides import Side

    flat, secret_keys, source = config
    settings = settings_from_config(side.stack, flat, secret_keys)
    # Read here, once: the run may be in another process, which has no stdin, and diff compares the specs.
    raw = load_raw(source)
    return Side(stack=side.stack, config=flat, raw=raw, project=project, secret_keys=secret_keys, known=known), settings


def _raised(outcome: "Outcome") -> dict[str, Any]:
    """A run's result (the JSON of `plan --json` with its warnings), or what it raised, raised here."""
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "render": cmd_render,
    "plan": cmd_plan,
    "diff": cmd_diff,
    "argocd": cmd_argocd,
    "shards": cmd_shards,
    "agent-urns": cmd_agent_urns,
    "drift": cmd_drift,
}


# --- the parser ------------------------------------------------------------------------------------------------


def _settings_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--stack",
        help=f"stack name (default {DEFAULT_STACK}); settings come from Pulumi.<stack>.yaml beside the nearest "
        "Pulumi.yaml, and a --stack whose file does not exist is refused",
    )
    where = command.add_mutually_exclusive_group()
    where.add_argument("--stack-file", type=Path, metavar="PATH", help="read settings from this stack file")
    where.add_argument("--defaults", action="store_true", help="run on default settings, reading no stack file")
    command.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, like -c nuketown:cloud=gcp (repeatable); maps and lists as JSON, "
        '-c \'nuketown:allowedScopes={"ada": ["shared-*"]}\', or one entry by path as pulumi config set --path '
        "takes it, -c nuketown:allowedIdentities.ada=EMAIL, -c 'nuketown:allowedScopes.ada[0]=shared-*'",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nuketown-stack",
        description="Nuketown agents from nix to Kubernetes and cloud identity (the Pulumi program, without Pulumi).",
        epilog=EXIT_CODES + "; diff also 3 and 4 (see nuketown-stack diff --help).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {
        "validate": "check a spec and the stack's settings; nothing is declared",
        "render": "print every Kubernetes object as YAML (kubectl apply -f -, Argo CD)",
        "plan": "run the Pulumi program under the mock engine and show, per agent, what it declares",
        "diff": "what `pulumi up` would do from BASE to HEAD, per agent, and whether data moves",
        "argocd": "print the stack's Argo CD AppProject and Application (the project admits only its namespaces)",
    }
    for name, help_text in helps.items():
        command = commands.add_parser(
            name, help=help_text, epilog=EPILOGS[name], formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if name == "diff":
            command.add_argument("base", metavar="BASE", help="the spec before (" + SOURCE_HELP.split(";")[0] + ")")
            command.add_argument("head", metavar="HEAD", help="the spec after, same forms as BASE")
        else:
            command.add_argument("source", metavar="SOURCE", nargs="?", help=SOURCE_HELP)
        _settings_options(command)
    commands.choices["render"].add_argument(
        "--out", type=Path, metavar="DIR", help="write DIR/<agent>.yaml instead of printing; removes its stale ones"
    )
    argocd = commands.choices["argocd"]
    argocd.add_argument("--repo", required=True, metavar="URL", help="the agents' repository, the only source admitted")
    argocd.add_argument("--path", default=".", help="the application directory in the repository (default .)")
    argocd.add_argument("--revision", default="main", help="the branch or commit Argo CD follows (default main)")
    argocd.add_argument("--server", default="https://kubernetes.default.svc", help="the destination cluster's API")
    argocd.add_argument(
        "--argocd-namespace", default="argocd", metavar="NS", help="where Argo CD runs (default argocd)"
    )
    output = commands.choices["plan"].add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print resources and outputs as JSON (sorted keys)")
    output.add_argument("--tree", action="store_true", help="print every resource as `pulumi preview` nests them")
    diff = commands.choices["diff"]
    diff.add_argument("--json", action="store_true", help="print the changes as JSON")
    diff.add_argument(
        "--base-stack",
        metavar="NAME",
        help="the base side's stack name, when the change renames the stack (default: the name of --base-stack-file, "
        "else --stack); every name derived from it that moves is shown",
    )
    diff.add_argument(
        "--base-stack-file",
        type=Path,
        metavar="PATH",
        help="the base side's stack settings (the base branch's Pulumi.<stack>.yaml); default: the same as HEAD",
    )
    diff.add_argument(
        "--env",
        metavar="ENV",
        help="diff every shard of environment ENV (its Pulumi.ENV--sNN.yaml and placement file); only the shards "
        "whose agents or settings changed are run, and an agent that changes shard is shown as a move",
    )
    diff.add_argument(
        "--base-project",
        type=Path,
        metavar="DIR",
        help="with --env: the base side's project directory (the base branch's shard stack files and placement); "
        "default: the same as HEAD's",
    )
    diff.add_argument(
        "--jobs", type=int, metavar="N", help="with --env: at most N runs at once (default: the number of CPUs)"
    )
    diff.add_argument(
        "--json-file", type=Path, metavar="PATH", help="with --env: also write the JSON to PATH, whatever stdout shows"
    )
    diff.add_argument(
        "--base-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the base side only (repeatable); -c then applies to HEAD only",
    )
    _shard_commands(commands)
    return parser


def _shard_commands(commands: Any) -> None:
    """The commands of a sharded environment (docs/scaling.md#shards), which read no single stack's settings."""
    shards = commands.add_parser(
        "shards",
        help="every shard of an environment and its agents; --write places new agents, --move moves one",
        epilog=EPILOGS["shards"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shards.add_argument("source", metavar="SOURCE", nargs="?", help=SOURCE_HELP.replace("stack's", "shards'"))
    shards.add_argument("--env", required=True, metavar="ENV", help="the environment (its stacks are ENV--sNN)")
    shards.add_argument("--json", action="store_true", help='print {"<stack>": [agents, ...]} for every shard')
    shards.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="the environment's project directory (its Pulumi.yaml, shard stack files and placement file); "
        "default: the nearest directory holding a Pulumi.yaml, as the Pulumi CLI finds it",
    )
    shards.add_argument(
        "--write",
        action="store_true",
        help="record the placement: new agents in the shard with room, agents gone from the spec dropped, a stack "
        "file for each new shard; no placed agent ever moves",
    )
    shards.add_argument(
        "--move",
        nargs=2,
        metavar=("AGENT", "SHARD"),
        help="move AGENT to SHARD (s03 or ENV--s03) and record it; docs/lifecycle.md#shard-move says what follows",
    )
    urns = commands.add_parser(
        "agent-urns",
        help="the URNs of an agent's resources in a `pulumi stack export`, for `pulumi state move`",
    )
    urns.add_argument("agent", metavar="AGENT")
    urns.add_argument("state", metavar="STATE", help="the JSON of `pulumi stack export`, or '-' (stdin)")
    drift = commands.add_parser(
        "drift",
        help="a shard's `pulumi preview --refresh --json` as drift per agent and resource (exit 3 when any)",
    )
    drift.add_argument("preview", metavar="PREVIEW", help="the JSON of `pulumi preview --json`, or '-' (stdin)")
    drift.add_argument("--stack", required=True, help="the stack the preview ran on, for the report's heading")


def _version() -> str:
    try:
        return metadata.version("nuketown-stack")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        # The reader stopped reading (`plan | head`): not an error of ours, and nothing more to say.
        _silence_stdout()
        return 0
    except Exception as error:
        print(f"nuketown-stack: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        if os.environ.get("NUKETOWN_DEBUG"):
            traceback.print_exc()
        else:
            print("(set NUKETOWN_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not raise on the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run() -> None:
    """The console script: exit with main's code, and never a BrokenPipeError traceback at shutdown."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(code)


if __name__ == "__main__":
    run()
