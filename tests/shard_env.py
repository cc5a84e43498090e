"""A small sharded environment `fleet` in a directory, made from examples/fleet as the tests need it.

The example's generator at a small size (`agents.nix --arg count N`), its Pulumi.yaml and its first shard's
settings, with the spec as a JSON file beside them; `nuketown-stack shards --write` places the agents.
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from conftest import ROOT

FLEET = ROOT / "examples" / "fleet"


def generated(count: int) -> dict[str, Any]:
    """The example's spec of `count` agents, as its generator makes it."""
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--arg", "count", str(count), str(FLEET / "agents.nix")],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


@dataclass(frozen=True)
class Environment:
    directory: Path

    @property
    def spec(self) -> Path:
        return self.directory / "spec.json"

    @property
    def placement_file(self) -> Path:
        return self.directory / "shards.fleet.json"

    def placement(self) -> dict[str, str]:
        return dict(json.loads(self.placement_file.read_text())["agents"])

    def raw(self) -> dict[str, Any]:
        return dict(json.loads(self.spec.read_text()))

    def write_spec(self, raw: dict[str, Any]) -> None:
        self.spec.write_text(json.dumps(raw))

    def set_tier(self, agent: str, tier: str) -> None:
        """Change one agent's resource tier in the spec: the one-agent change the shard tests diff."""
        raw = self.raw()
        raw["agents"][agent]["resources"] = tier
        self.write_spec(raw)

    def copy(self, to: Path) -> "Environment":
        shutil.copytree(self.directory, to)
        return Environment(to)


def first_shard_settings() -> dict[str, Any]:
    settings = dict(yaml.safe_load((FLEET / "Pulumi.fleet--s00.yaml").read_text())["config"])
    settings["nuketown:source"] = "spec.json"
    return settings


def make_environment(directory: Path, raw: dict[str, Any], bound: int) -> Environment:
    """The environment's files in `directory`, its agents not placed yet (the placement file is empty)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(FLEET / "Pulumi.yaml", directory)
    (directory / "Pulumi.fleet--s00.yaml").write_text(yaml.safe_dump({"config": first_shard_settings()}))
    environment = Environment(directory)
    environment.write_spec(raw)
    environment.placement_file.write_text(json.dumps({"environment": "fleet", "bound": bound, "agents": {}}))
    return environment


def with_agent(raw: dict[str, Any], name: str, uid: int, like: str = "ada-0") -> dict[str, Any]:
    """`raw` with one more agent, `name`, shaped like `like` (its name-derived fields its own)."""
    agent = json.loads(json.dumps(raw["agents"][like]))
    agent |= {"uid": uid, "home": f"/agents/{name}", "image": f"nuketown-{name}:latest"}
    agent["git"] = {"name": name, "email": f"{name}@fleet.example"}
    agent["identity"]["scope"] = f"{name}-*"
    return {**raw, "agents": {**raw["agents"], name: agent}}
