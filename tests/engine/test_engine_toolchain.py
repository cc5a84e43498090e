"""How the Pulumi CLI installs and runs this Python program and the policy pack, and that both get uv.lock.

Read in pulumi/pulumi at commit 1b5949891b (2026-08-21, after v3.259.0); paths are in that repository:

- `sdk/python/cmd/pulumi-language-python/main.go`, `parseOptions` (233-291): the runtime options
  `toolchain` (pip, poetry, uv; 264-281) and `virtualenv`. `RunPlugin` (1528-1623) starts a policy
  pack as `python -u -m pulumi.policy ...` through the pack's own toolchain's `Command` (1612-1623).
- `sdk/python/toolchain/toolchain.go`, `ResolveToolchain` (140-170): `toolchain: uv` makes a uv toolchain
  whose virtualenv is the option joined to the project root (159-164); an unset toolchain (Auto, 142-156)
  picks uv when a `uv.lock` is found in the program's directory or any parent (`searchup`, 271-283).
  Auto came with commit a8e50ec83f, first released in v3.227.0.
- `sdk/python/toolchain/uv.go`: `pulumi install` is `InstallDependencies` (121-159), which runs `uv sync`
  (152); `pulumi up`/`preview` run the program through `Command` (346-382), which runs
  `uv sync --inexact` first when a pyproject.toml is found (358-374) and then the virtualenv's python
  (376-381). Every uv command gets `UV_PROJECT_ENVIRONMENT=<virtualenv>` (`uvCommand`, 421-434) and
  no other flag: no `--locked`, no `--no-dev`. History: the uv toolchain came with ab04c7c0bd (v3.139.0),
  the sync before a run with 3289f8e345 (v3.186.0), `--inexact` with 210c123189 (v3.188.0).
- `sdk/python/toolchain/pip.go`: `Command` (178-193) runs the virtualenv's python as it is, no install;
  `InstallDependencies` (444-559) makes the virtualenv with `python -m venv`, upgrades pip, setuptools and
  wheel (536), then runs `pip install -r requirements.txt` (551).

And in astral-sh/uv at commit 26a9dd4b21 (0.12.5): `uv sync` installs the project, its dependencies and
the `default-groups` (`crates/uv-workspace/src/pyproject.rs:390-400`, default `["dev"]`), and removes
every other package unless `--inexact` (`crates/uv-cli/src/lib.rs:3840-3845`); extras only with
`--extra`. The tests below run the locked uv (`.venv/bin/uv`, group uv) in dry-run mode on this checkout,
so what they check is what that uv does, not a reading of it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

BIN = Path(sys.executable).parent
# What would change which environment uv syncs, or how: each test states its own.
UV_SELECTION = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_NO_DEV", "UV_DEV", "UV_LOCKED", "UV_FROZEN"}
UV_SELECTION |= {"UV_NO_DEFAULT_GROUPS", "UV_NO_GROUP", "UV_NO_INSTALL_PROJECT", "UV_NO_EDITABLE"}
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
PACK = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
PLUGIN = yaml.safe_load((ROOT / "plugin" / "PulumiPlugin.yaml").read_text())
TEST_TOOLS = {"pytest", "ruff", "mypy", "moto", "zizmor", "pulumi-policy"}
RUNTIME = {"nuketown-stack", "pulumi", "pulumi-kubernetes", "pulumi-gcp", "pulumi-aws", "pydantic"}


def uv_sync_dry_run(
    environment: Path, *flags: str, extra_env: dict[str, str] | None = None, cwd: Path = ROOT
) -> dict[str, set[str]]:
    """`uv sync --dry-run --frozen --offline FLAGS` against `environment`, as Pulumi runs it (UV_PROJECT_ENVIRONMENT,
    cwd the project root unless given): the package names it would install (+) and uninstall (-)."""
    env = {k: v for k, v in os.environ.items() if k not in UV_SELECTION}
    env |= {"UV_PROJECT_ENVIRONMENT": str(environment), "UV_PYTHON_DOWNLOADS": "never", **(extra_env or {})}
    result = subprocess.run(
        [str(BIN / "uv"), "sync", "--dry-run", "--frozen", "--offline", "--python", sys.executable, *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    changes: dict[str, set[str]] = {"+": set(), "-": set()}
    for sign, name in re.findall(r"^ ([+-]) ([A-Za-z0-9_.-]+)(?:==| @ )", result.stderr, flags=re.MULTILINE):
        changes[sign].add(name)
    return changes


def test_the_program_runs_with_uv_in_the_virtualenv_bootstrap_fills() -> None:
    """`toolchain: uv` (main.go:271) with `virtualenv: .venv`, which ResolveToolchain joins to the project root
    (toolchain.go:159-164): the environment scripts/bootstrap.sh syncs (UV_PROJECT_ENVIRONMENT=$PWD/.venv)."""
    assert PROJECT["runtime"] == {"name": "python", "options": {"toolchain": "uv", "virtualenv": ".venv"}}
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "venv=.venv\n" in bootstrap and 'UV_PROJECT_ENVIRONMENT="$PWD/$venv"' in bootstrap


def test_pulumi_install_keeps_the_test_environment_as_it_is() -> None:
    """`pulumi install` runs plain `uv sync` (uv.go:152) into .venv: on the environment `scripts/test.sh` made it
    would change nothing, so the test tools stay (they are the default group dev, not an extra). Had they been an
    extra, the same exact sync would remove them: that is what the run with `--no-dev` shows."""
    assert uv_sync_dry_run(Path(sys.prefix)) == {"+": set(), "-": set()}
    without_dev = uv_sync_dry_run(Path(sys.prefix), "--no-dev")
    assert without_dev["-"] >= TEST_TOOLS and without_dev["+"] == set()


def test_pulumi_up_keeps_what_is_there_and_the_deploy_adds_no_test_tools(tmp_path: Path) -> None:
    """`pulumi up` runs `uv sync --inexact` before the program (uv.go:370): nothing is removed from the test
    environment. The deploy jobs set UV_NO_DEV=1, so on a fresh runner that sync (and scripts/bootstrap.sh's
    `--no-dev --inexact`) installs the package, its dependencies and uv, no test tool."""
    assert uv_sync_dry_run(Path(sys.prefix), "--inexact", extra_env={"UV_NO_DEV": "1"}) == {"+": set(), "-": set()}
    deploy = uv_sync_dry_run(tmp_path / "venv", "--inexact", extra_env={"UV_NO_DEV": "1"})
    assert deploy["+"] >= RUNTIME | {"uv"}
    assert deploy["+"] & TEST_TOOLS == set()


def test_the_policy_pack_runs_its_own_virtualenv_as_it_is() -> None:
    """PulumiPolicy.yaml names `toolchain: pip` (main.go:264-281), whose Command runs policy/venv's python and
    installs nothing (pip.go:178-193). Without it, a CLI of v3.227.0 or later resolves Auto to uv because
    ../uv.lock is found upward (toolchain.go:142-150, 271-283), and uv's Command would `uv sync --inexact` the
    whole project into policy/venv before starting the pack (uv.go:358-374)."""
    assert PACK["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "venv=policy/venv" in bootstrap and "--only-group policy" in bootstrap


def test_the_policy_pack_gets_the_locked_policy_group_only(tmp_path: Path) -> None:
    """`scripts/bootstrap.sh policy` syncs uv.lock's group policy into policy/venv, not the project: pulumi-policy
    and what it needs, at the lock's versions."""
    pack = uv_sync_dry_run(tmp_path / "venv", "--only-group", "policy")
    assert {"pulumi-policy", "pulumi"} <= pack["+"]
    assert pack["+"] & (RUNTIME - {"pulumi"}) == set() and "uv" not in pack["+"]


def test_the_component_provider_plugin_runs_from_the_lock_in_the_stacks_virtualenv() -> None:
    """plugin/PulumiPlugin.yaml names `toolchain: uv` and no virtualenv: parseOptions gives a plugin the pip
    virtualenv `venv` only for the pip and Auto toolchains (main.go:281-288), and `newUv` with no virtualenv
    places it beside the nearest uv.lock above the plugin's directory (uv.go:64-95): this repository's lock and
    .venv. The sync Pulumi runs from plugin/ (uv.go:152, cwd the plugin) finds the project above it and would
    change nothing in the environment scripts/test.sh made: the plugin runs the tested versions."""
    assert PLUGIN["runtime"] == {"name": "python", "options": {"toolchain": "uv"}}
    plugin = ROOT / "plugin"
    nearest_lock = next(d for d in (plugin, *plugin.parents) if (d / "uv.lock").is_file())
    assert nearest_lock == ROOT and not (plugin / "requirements.txt").exists()
    assert uv_sync_dry_run(Path(sys.prefix), cwd=plugin) == {"+": set(), "-": set()}
    assert uv_sync_dry_run(Path(sys.prefix), "--inexact", cwd=plugin) == {"+": set(), "-": set()}


def test_every_sync_in_bootstrap_reads_the_lock() -> None:
    """Each `uv sync` bootstrap runs is `--locked`: the lock as it is, or an error when it no longer matches
    pyproject.toml, never a new resolution. Pulumi's own syncs pass no such flag (uv.go:152, 370), which is
    why the workflows that run the CLI set UV_LOCKED=1 (tests/test_workflows.py)."""
    syncs = re.findall(r'"\$uv" sync ([^\n]*)', (ROOT / "scripts" / "bootstrap.sh").read_text())
    assert len(syncs) == 3 and all("--locked" in sync for sync in syncs), syncs
