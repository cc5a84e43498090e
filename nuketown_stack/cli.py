"""nuketown-stack: validate | render | plan | diff, over the same functions as `pulumi up`.

Exit codes: 0 success, 2 invalid input (one line per problem, no traceback),
1 internal error, 3 `diff` found a change that would lose data.
"""

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nuketown_stack.errors import InputError
from nuketown_stack.plan import StackPlan, build_plan
from nuketown_stack.render import to_yaml
from nuketown_stack.report import identity_chains, resource_tree, type_counts
from nuketown_stack.settings import (
    Settings,
    StackFile,
    load_stack_file,
    parse_overrides,
    read_stack_file,
    settings_from_config,
)
from nuketown_stack.source import load_raw
from nuketown_stack.spec import CloudSpec, load_spec

EXIT_INVALID = 2
EXIT_INTERNAL = 1
DEFAULT_STACK = "dev"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nuketown-stack",
        description="Nuketown agents from nix to Kubernetes and cloud identity (the Pulumi program, without Pulumi).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    source_help = "a .json file or '-', a .nix file (nix-instantiate), or a flake reference with '#' (nix eval)"

    validate = commands.add_parser("validate", help="check a spec; no settings needed")
    validate.add_argument("source", metavar="SOURCE", help=source_help)

    for name, help_text in (
        ("render", "print every Kubernetes object as YAML"),
        ("plan", "run the Pulumi program under the mock engine and show its resources"),
        (
            "diff",
            "what would change from BASE to HEAD, per agent; exit 3 when data or identity would move or be lost, "
            "4 when the change can never apply",
        ),
    ):
        command = commands.add_parser(name, help=help_text)
        if name == "diff":
            command.add_argument("base", metavar="BASE", help="the spec before (" + source_help + ")")
            command.add_argument("head", metavar="HEAD", help="the spec after, same forms as BASE")
        else:
            command.add_argument("source", metavar="SOURCE", help=source_help)
        command.add_argument(
            "--stack",
            default=DEFAULT_STACK,
            help=f"stack name (default {DEFAULT_STACK}); settings come from Pulumi.<stack>.yaml beside Pulumi.yaml",
        )
        command.add_argument(
            "-c",
            "--config",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a setting, like -c nuketown:cloud=gcp (repeatable)",
        )
    commands.choices["render"].add_argument(
        "--out", type=Path, metavar="DIR", help="write DIR/<agent>.yaml instead of printing"
    )
    commands.choices["plan"].add_argument("--json", action="store_true", help="print resources and outputs as JSON")
    commands.choices["plan"].add_argument(
        "--tree", action="store_true", help="print every resource as `pulumi preview` nests them"
    )
    commands.choices["diff"].add_argument("--json", action="store_true", help="print the changes as JSON")
    commands.choices["diff"].add_argument(
        "--base-stack-file",
        type=Path,
        metavar="PATH",
        help="the base side's stack settings (the base branch's Pulumi.<stack>.yaml); default: the same file as HEAD",
    )
    commands.choices["diff"].add_argument(
        "--base-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the base side only (repeatable); -c then applies to HEAD only",
    )
    return parser


def find_project_dir(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding Pulumi.yaml, as the Pulumi CLI finds it."""
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return None


def project_name(project_dir: Path | None) -> str:
    from nuketown_stack.engine import PROJECT

    if project_dir is None:
        return PROJECT
    document = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    return str(document.get("name", PROJECT))


def stack_config(
    stack: str, overrides: list[str], source: str, stack_file_path: Path | None = None
) -> tuple[dict[str, Any], frozenset[str]]:
    """Pulumi.<stack>.yaml (or the file given), then -c overrides; SOURCE always wins for nuketown:source.
    Also the secret keys."""
    if stack_file_path is not None:
        stack_file = load_stack_file(stack_file_path)
    else:
        project_dir = find_project_dir(Path.cwd())
        stack_file = read_stack_file(project_dir, stack) if project_dir else StackFile(path=None, config={})
    config = {**stack_file.config, **parse_overrides(overrides), "nuketown:source": source}
    return config, stack_file.secret_keys


def _load(source: str) -> CloudSpec:
    return load_spec(load_raw(source))


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _load(args.source)
    names = ", ".join(sorted(spec.agents)) or "none"
    print(
        f"ok: schemaVersion {spec.schema_version}, {len(spec.agents)} agents ({names}), tiers {', '.join(spec.tiers)}"
    )
    return 0


def _settings_and_plan(args: argparse.Namespace) -> tuple[Settings, StackPlan]:
    config, secret_keys = stack_config(args.stack, args.config, args.source)
    settings = settings_from_config(args.stack, config, secret_keys)
    return settings, build_plan(_load(args.source), settings)


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_render(args: argparse.Namespace) -> int:
    _, plan = _settings_and_plan(args)
    _warn(plan.warnings)
    if args.out is None:
        sys.stdout.write(to_yaml(plan.objects()))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for agent in plan.agents:
        (args.out / f"{agent.name}.yaml").write_text(to_yaml(agent.objects))
    print(f"wrote {len(plan.agents)} files to {args.out}", file=sys.stderr)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    project = project_name(find_project_dir(Path.cwd()))
    # As a first `pulumi preview` sees it: what the clouds assign on creation is not known yet.
    declared = _declared(args, _Side(args.source, args.config, None), project, known=frozenset())
    _warn(declared.pop("warnings"))
    if args.json:
        json.dump(declared, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        return 0
    resources = declared["resources"]
    if args.tree:
        print(resource_tree(project, args.stack, resources))
    else:
        print(identity_chains(resources, declared["outputs"]))
    print(f"\n{type_counts(resources)}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from nuketown_stack.diff import diff_plans, format_diff, setting_changes

    project = project_name(find_project_dir(Path.cwd()))
    # Each side under its own settings: the base branch's stack file and --base-config for BASE, the
    # stack file and -c for HEAD. Without base-side settings, both sides share HEAD's.
    base_own = args.base_stack_file is not None or bool(args.base_config)
    base_side = _Side(args.base, args.base_config if base_own else args.config, args.base_stack_file)
    head_side = _Side(args.head, args.config, None)
    settings = setting_changes(base_side.settings(args.stack), head_side.settings(args.stack))
    # The base is what `pulumi up` left (everything known); the head is a preview from there: only new
    # resources' cloud-assigned values are unknown.
    base = _declared(args, base_side, project, known=None)["resources"]
    in_state = frozenset((r["type"], r["name"]) for r in base)
    head_run = _declared(args, head_side, project, known=in_state)
    _warn(head_run["warnings"])
    diff = diff_plans(base, head_run["resources"], settings)
    if args.json:
        json.dump(diff.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_diff(diff, style="ansi" if sys.stdout.isatty() else "markdown"))
    return diff.exit_code


@dataclass(frozen=True)
class _Side:
    """One side of a diff: its spec and where its settings come from."""

    source: str
    overrides: list[str]
    stack_file: Path | None

    def config(self, stack: str) -> tuple[dict[str, Any], frozenset[str]]:
        return stack_config(stack, self.overrides, self.source, self.stack_file)

    def settings(self, stack: str) -> Settings:
        config, secret_keys = self.config(stack)
        return settings_from_config(stack, config, secret_keys)


def _declared(
    args: argparse.Namespace, side: "_Side", project: str, known: frozenset[tuple[str, str]] | None
) -> dict[str, Any]:
    """The program's resources and outputs for one side under the mock engine (the JSON of `plan --json`)."""
    from nuketown_stack.engine import run_program  # deferred: importing pulumi is the slow part
    from nuketown_stack.program import define_stack

    config, secret_keys = side.config(args.stack)
    result = run_program(define_stack, args.stack, config, project=project, secret_keys=secret_keys, known=known)
    return {**result.to_json(), "warnings": result.warnings}


COMMANDS = {"validate": cmd_validate, "render": cmd_render, "plan": cmd_plan, "diff": cmd_diff}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except Exception as error:
        print(f"nuketown-stack: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        if os.environ.get("NUKETOWN_DEBUG"):
            traceback.print_exc()
        else:
            print("(set NUKETOWN_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
