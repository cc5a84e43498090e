"""The stack files of a sharded environment: `Pulumi.<environment>--<shard>.yaml` beside the project's Pulumi.yaml.

Every shard of an environment has the same settings: the same names, cloud, cluster and providers, which is
what lets one shard adopt what another kept and lets `pulumi state move` carry an agent's resources to a
shard whose providers are the same (docs/lifecycle.md). This module reads them and refuses any difference,
one line per setting, naming both files.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.placement import placement_path
from nuketown_stack.inputs.settings import StackFile, load_stack_file
from nuketown_stack.plan import naming

SHARDS_KEY = "nuketown:shards"
ENVIRONMENT_KEY = "nuketown:environment"


@dataclass(frozen=True)
class ShardStacks:
    """An environment's shard stack files, as found in one project directory."""

    environment: str
    directory: Path
    files: dict[str, StackFile]  # shard -> its stack file, in shard order

    @property
    def config(self) -> dict[str, Any]:
        """The settings every shard shares (empty when there is no shard yet)."""
        return next(iter(self.files.values())).config if self.files else {}

    @property
    def placement(self) -> Path:
        """The placement file the shards name (nuketown:shards), else where `--write` puts a new one."""
        named = self.config.get(SHARDS_KEY)
        return self.directory / str(named) if named else placement_path(self.directory, self.environment)

    def stack(self, shard: str) -> str:
        return naming.shard_stack(self.environment, shard)

    def stack_file(self, shard: str) -> Path:
        return self.directory / f"Pulumi.{self.stack(shard)}.yaml"


def read_shard_stacks(directory: Path, environment: str) -> ShardStacks:
    """The shard stack files of `environment` in `directory`; InputError for any that is not a shard of it, or
    whose settings differ from the first shard's."""
    problems = naming.environment_problems(naming.Names(environment), given=True)
    if problems:
        raise InputError([f"--env {environment}: {p.partition(': ')[2]}" for p in problems])
    prefix = f"Pulumi.{environment}{naming.SEPARATOR}"
    found: dict[str, StackFile] = {}
    for path in directory.glob(f"{prefix}*.yaml"):
        shard = path.name.removeprefix(prefix).removesuffix(".yaml")
        if not naming.is_shard(shard):
            problems.append(f"{path.name}: {shard!r} is not a shard name (s and two or more digits: s00, s01, ...)")
            continue
        found[shard] = load_stack_file(path)
    files = {shard: found[shard] for shard in sorted(found, key=lambda s: int(s[1:]))}
    problems += [p for shard, stack_file in files.items() for p in _shard_problems(environment, shard, stack_file)]
    problems += _differences(files)
    if problems:
        raise InputError(problems)
    return ShardStacks(environment=environment, directory=directory, files=files)


def _shard_problems(environment: str, shard: str, stack_file: StackFile) -> list[str]:
    assert stack_file.path is not None
    config, name = stack_file.config, stack_file.path.name
    problems = []
    if config.get(ENVIRONMENT_KEY) != environment:
        problems.append(
            f"{name}: {ENVIRONMENT_KEY}: {config.get(ENVIRONMENT_KEY)!r}; a shard of {environment} sets {environment}, "
            "so its names derive from the environment and not from the shard"
        )
    if not config.get(SHARDS_KEY):
        problems.append(f"{name}: {SHARDS_KEY}: not set; a shard names its environment's placement file")
    return problems


def _differences(files: dict[str, StackFile]) -> list[str]:
    """Every setting in which a shard's file differs from the first shard's."""
    if not files:
        return []
    first = next(iter(files.values()))
    assert first.path is not None
    problems = []
    for stack_file in list(files.values())[1:]:
        assert stack_file.path is not None
        for key in sorted(first.config.keys() | stack_file.config.keys()):
            mine, theirs = stack_file.config.get(key), first.config.get(key)
            if mine != theirs:
                problems.append(
                    f"{stack_file.path.name}: {key}: {_shown(mine)}, where {first.path.name} has {_shown(theirs)}; "
                    "every shard of an environment has the same settings"
                )
        if stack_file.secret_keys != first.secret_keys:
            keys = sorted(stack_file.secret_keys ^ first.secret_keys)
            problems.append(
                f"{stack_file.path.name}: secret settings {', '.join(keys)}: set in only one of it and "
                f"{first.path.name}; every shard of an environment has the same settings"
            )
    return problems


def _shown(value: Any) -> str:
    return "not set" if value is None else repr(value)


def new_shard_file(shards: ShardStacks, shard: str) -> str:
    """The stack file of a new shard: the settings every shard shares, nothing of another stack's secrets
    (a `secure:` value and the encryption salt are per stack: `pulumi stack init` makes its own)."""
    first = next(iter(shards.files))
    header = (
        f"# Shard {shard} of environment {shards.environment}, written by `nuketown-stack shards --write` with the\n"
        f"# settings of Pulumi.{shards.stack(first)}.yaml: every shard of an environment has the same settings.\n"
    )
    return header + yaml.safe_dump({"config": shards.config}, sort_keys=True)
