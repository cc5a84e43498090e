"""The placement file of a sharded environment: which shard each agent belongs to, as committed.

`shards.<environment>.json` beside the shard stack files. The command line writes it (`nuketown-stack shards
--write`, `--move`); people commit it; every shard's program reads it and declares its own agents only. Its
bytes depend on its content alone (sorted keys, one agent per line), so a change to one agent is a one-line
diff and two checkouts with the same placement hold the same file.
"""

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from nuketown_stack.errors import InputError
from nuketown_stack.plan import naming

# The most agents the command line places in one shard unless the file says otherwise (docs/scaling.md says
# how it was chosen). A person may move an agent into a fuller shard only by raising the file's bound.
DEFAULT_BOUND = 250
MAX_BOUND = 500  # no shard is made larger by default: the engine saves the whole state after every step

Shard = Annotated[str, StringConstraints(pattern=r"^s[0-9]{2,}$")]


class Placement(BaseModel):
    """agent -> shard for one environment, and the bound automatic placement keeps to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str
    bound: int = Field(default=DEFAULT_BOUND, ge=1)
    agents: dict[str, Shard] = {}

    def counts(self) -> dict[str, int]:
        """Agents per shard, of the shards that hold any."""
        counts: dict[str, int] = {}
        for shard in self.agents.values():
            counts[shard] = counts.get(shard, 0) + 1
        return counts


def placement_path(directory: Path, environment: str) -> Path:
    """Where an environment's placement file lives: beside its shard stack files."""
    return directory / f"shards.{environment}.json"


def read_placement(path: Path) -> Placement:
    """The placement file at `path`; InputError names the file and each problem."""
    if not path.is_file():
        raise InputError([f"{path}: no such placement file; `nuketown-stack shards --env ENV --write` writes it"])
    try:
        document: Any = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError([f"{path}: not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"]) from None
    try:
        placement = Placement.model_validate(document)
    except ValidationError as error:
        raise InputError([_problem(path, item) for item in error.errors()]) from None
    problems = naming.environment_problems(naming.Names(placement.environment), given=True)
    if problems:
        raise InputError([f"{path}: environment: {problem.partition(': ')[2]}" for problem in problems])
    return placement


def _problem(path: Path, item: Any) -> str:
    where = ".".join(str(part) for part in item["loc"]) or "(top)"
    if item["type"] == "string_pattern_mismatch":
        return f"{path}: {where}: {item['input']!r} is not a shard; shards are s and two or more digits (s00, s01, ...)"
    if item["type"] == "extra_forbidden":
        return f"{path}: {where}: unknown field (a placement file holds environment, bound and agents)"
    return f"{path}: {where}: {item['msg']}, got {item.get('input')!r}"


def placement_text(placement: Placement) -> str:
    """The file's bytes: the same placement always gives the same text."""
    agents = dict(sorted(placement.agents.items()))
    document = {"environment": placement.environment, "bound": placement.bound, "agents": agents}
    return json.dumps(document, indent=2) + "\n"


def write_placement(path: Path, placement: Placement) -> None:
    path.write_text(placement_text(placement))
