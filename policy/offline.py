"""Run every rule of the nuketown policy pack over `nuketown-stack plan --json`, without the Pulumi engine.

    python policy/offline.py PLAN_JSON [--config CONFIG_JSON] [--stack NAME]

Prints one line per violation, `<type> <name>: <message> [<policy>]` (`pulumi:pulumi:Stack <stack>` for
findings about the stack as a whole). Exit 0: no violation; 1: violations; 2: bad usage or unreadable input.

CONFIG_JSON is the file `pulumi preview --policy-pack-config` takes: {"<policy>": {<property>: <value>}},
here {"nuketown-identity-binding": {"allowedIdentities": {...}}, "nuketown-scope-ownership":
{"allowedScopes": {...}}}. Without --stack the stack name is taken from the plan: its "stack" field if
it has one, else the GCP key ring (nuketown-<stack>) or the AWS key aliases (alias/nuketown/<stack>/...),
else the agents' namespaces when all have the default prefix nuketown-<stack>- (then the check that
namespaces carry the stack is only a check that they agree; say so on stderr). Values the plan prints as
"(known after apply)" are unknown: a rule that needs one reports it, unless the plan's "dependencies" (and
"parent", for the owning agent) show it comes from the agent's own identity or key (a first preview).
"""

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the pack's modules import one another by name

from nuketown_policy import (
    AWS_ALIAS,
    GCP_KEY_RING,
    NAMESPACE,
    ConfigError,
    Resource,
    resources_from_plan,
    run_all,
)
from nuketown_values import is_unknown

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def derive_stack(plan: Mapping[str, Any], resources: Sequence[Resource]) -> tuple[str | None, str]:
    """(stack, where it came from) from the plan alone; (None, why not) when it cannot be told."""
    named = plan.get("stack")
    if isinstance(named, str) and named and not is_unknown(named):
        return named, "the plan's stack field"
    candidates: dict[str, set[str]] = {}
    for resource in resources:
        name = resource.props.get("name") if isinstance(resource.props, Mapping) else None
        if not isinstance(name, str) or is_unknown(name):
            continue
        if resource.type == GCP_KEY_RING and (match := re.fullmatch(r"nuketown-(.+)", name)):
            candidates.setdefault("the GCP key ring", set()).add(match[1])
        if (
            resource.type == AWS_ALIAS
            and resource.agent
            and (match := re.fullmatch(r"alias/nuketown/(.+)/[^/]+", name))
        ):
            candidates.setdefault("the AWS key aliases", set()).add(match[1])
    for source in ("the GCP key ring", "the AWS key aliases"):
        if len(candidates.get(source, ())) == 1:
            return next(iter(candidates[source])), source
    stacks = set()
    for resource in resources:
        metadata = resource.props.get("metadata") if isinstance(resource.props, Mapping) else None
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if resource.type == NAMESPACE and resource.agent and isinstance(name, str):
            match = re.fullmatch(rf"nuketown-(.+)-{re.escape(resource.agent)}", name)
            stacks.add(match[1] if match else None)
    if len(stacks) == 1 and None not in stacks:
        return next(iter(stacks)), "the namespaces' default prefix nuketown-<stack>- (pass --stack to check it)"
    return None, "not found in the plan (pass --stack)"


def _load(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise UsageError(f"{what} {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{what} {path}: not JSON ({error.msg}, line {error.lineno})") from None


def _one_line(text: str) -> str:
    return text.replace("\n", "\\n").replace("\r", "\\r")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="offline.py", description="Run the nuketown policy pack over `nuketown-stack plan --json` output."
    )
    parser.add_argument("plan", metavar="PLAN_JSON", help="the output of `nuketown-stack plan SOURCE --json`")
    parser.add_argument("--config", metavar="CONFIG_JSON", help="pack config, as --policy-pack-config takes it")
    parser.add_argument("--stack", metavar="NAME", help="the stack's name (default: read from the plan)")
    args = parser.parse_args(argv)  # exits 2 on bad usage
    try:
        plan = _load(args.plan, "plan")
        if not isinstance(plan, Mapping) or not isinstance(plan.get("resources"), list):
            raise UsageError(f"plan {args.plan}: not `nuketown-stack plan --json` output (no resources list)")
        config = _load(args.config, "config") if args.config else {}
        if not isinstance(config, Mapping):
            raise UsageError(f"config {args.config}: expected an object of policy names")
        try:
            resources = resources_from_plan(plan)
        except (KeyError, TypeError) as error:
            raise UsageError(f"plan {args.plan}: a resource without type or name ({error})") from None
        if args.stack:
            stack, source = args.stack, "--stack"
        else:
            stack, source = derive_stack(plan, resources)
        print(f"stack: {stack or '?'} ({source})", file=sys.stderr)
        try:
            found = run_all(resources, stack, {k: v for k, v in config.items() if isinstance(v, Mapping)})
        except ConfigError as error:
            raise UsageError(f"config {args.config}: {error}") from None
    except UsageError as error:
        print(f"offline.py: {error}", file=sys.stderr)
        return EXIT_USAGE
    for policy, resource, message in found:
        where = f"{resource.type} {resource.name}" if resource else f"pulumi:pulumi:Stack {stack or '?'}"
        print(_one_line(f"{where}: {message} [{policy}]"))
    print(f"{len(found)} violations" if found else "no violations", file=sys.stderr)
    return EXIT_VIOLATIONS if found else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
