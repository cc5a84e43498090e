"""The policy pack's config from a stack file: the operator's allow-lists, as the program reads them.

    python policy/pack_config.py Pulumi.<stack>.yaml > pack-config.json

The program and the pack must agree on which existing identity or scope beyond `<agent>-*` an agent
may have; both take it from the stack's own settings (nuketown:allowedIdentities,
nuketown:allowedScopes), read and checked by the program's settings code. The output is the file
`pulumi preview --policy-pack-config` (and pulumi/actions' policyPackConfigs) takes, and what
policy/offline.py --config reads. Run it with the project's virtualenv (it imports nuketown_stack).
"""

import json
import sys
from pathlib import Path
from typing import Any

from nuketown_policy import CONFIG_PROPERTIES

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.settings import load_stack_file, settings_from_config

IDENTITY_BINDING = "nuketown-identity-binding"
SCOPE_OWNERSHIP = "nuketown-scope-ownership"


def pack_config(stack_file: Path) -> dict[str, Any]:
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    settings = settings_from_config(stack, load_stack_file(stack_file).config)
    names = {"environment": settings.names.environment, "legacyNames": settings.names.legacy}
    config: dict[str, Any] = {policy: dict(names) for policy, properties in CONFIG_PROPERTIES.items() if properties}
    config[IDENTITY_BINDING]["allowedIdentities"] = dict(settings.allowed_identities)
    config[SCOPE_OWNERSHIP]["storage"] = settings.storage
    config[SCOPE_OWNERSHIP]["allowedScopes"] = {agent: list(scope) for agent, scope in settings.allowed_scopes.items()}
    return config


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python policy/pack_config.py Pulumi.<stack>.yaml", file=sys.stderr)
        return 2
    try:
        config = pack_config(Path(argv[0]))
    except InputError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    json.dump(config, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
