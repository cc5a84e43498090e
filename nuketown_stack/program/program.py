"""The Pulumi program: settings -> source -> spec -> plan -> declare -> exports.

`pulumi up` runs `main()` through __main__.py; `nuketown-stack plan` and the
tests run `define_stack()` under Pulumi's mock engine. Same code path.
"""

from typing import Any

import pulumi

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.settings import pulumi_config_map, settings_from_config
from nuketown_stack.inputs.source import load_raw
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan.stack import build_plan
from nuketown_stack.program.declare import declare


def define_stack() -> dict[str, Any]:
    """Declare every resource of this stack; returns the stack outputs."""
    config, secret_keys = pulumi_config_map()
    settings = settings_from_config(pulumi.get_stack(), config, secret_keys)
    if settings.source is None:
        raise InputError(["nuketown:source: required (pulumi config set nuketown:source examples/cloud-ada.nix)"])
    plan = build_plan(load_spec(load_raw(settings.source)), settings)
    for warning in plan.warnings:
        pulumi.log.warn(warning)  # `pulumi preview` shows it beside the changes
    return declare(plan, settings)


def main() -> None:
    try:
        outputs = define_stack()
    except InputError as error:
        # RunError is reported by the engine as a message, without a traceback.
        raise pulumi.RunError("invalid nuketown input:\n" + "\n".join(error.problems)) from None
    for key, value in outputs.items():
        pulumi.export(key, value)
