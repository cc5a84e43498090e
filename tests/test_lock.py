"""uv.lock is the one source of every installed Python package: it matches pyproject.toml, every install path
reads it, the uv that reads it is itself pinned by it, and the known upstream breakages are excluded in the
constraints with their reasons."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT

BIN = Path(sys.executable).parent
# What would change which environment uv syncs, or how: each test states its own.
UV_SELECTION = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_NO_DEV", "UV_DEV", "UV_LOCKED", "UV_FROZEN"}
UV_SELECTION |= {"UV_NO_DEFAULT_GROUPS", "UV_NO_GROUP", "UV_NO_INSTALL_PROJECT", "UV_NO_EDITABLE"}
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def locked(name: str) -> str:
    [package] = [p for p in LOCK["package"] if p["name"] == name]
    return str(package["version"])


def uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in UV_SELECTION}
    env |= {"UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run([str(BIN / "uv"), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def install_uv() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_uv", ROOT / "scripts" / "install_uv.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the lock matches pyproject.toml, and the README's test command checks it -------------------------------


def test_the_lock_matches_pyproject() -> None:
    """`uv lock --check`: the lock satisfies every requirement pyproject.toml states (no network needed)."""
    result = uv("lock", "--check", "--offline")
    assert result.returncode == 0, f"uv.lock no longer matches pyproject.toml: run ./scripts/lock.sh\n{result.stderr}"


def test_the_lock_check_fails_when_pyproject_moves_on(tmp_path: Path) -> None:
    """A requirement added to pyproject.toml without re-locking is caught."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"tomli-w>=1,<2",', '"tomli-w>=1,<2",\n    "idna>=3",', 1))
    result = uv("lock", "--check", "--offline", cwd=tmp_path)
    assert result.returncode != 0
    # With idna's metadata in uv's cache uv says the lock needs updating; with an empty cache it fails to
    # resolve idna offline. Either way the new requirement was seen.
    assert "needs to be updated" in result.stderr or "idna" in result.stderr, result.stderr


def test_the_test_command_checks_the_lock_and_ci_runs_it() -> None:
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "\nuv lock --check" in test_sh
    assert test_sh.index("./scripts/bootstrap.sh test") < test_sh.index("\nuv lock --check")
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


# --- every install reads the lock --------------------------------------------------------------------------

INSTALLERS = [
    *(ROOT / ".github").rglob("*.yml"),
    *(ROOT / "scripts").glob("*.sh"),
    ROOT / ".ci" / "run",
    ROOT / "deploy" / "argocd" / "Dockerfile",
]
BYPASS = re.compile(r"\bpip3? install\b|\buv pip (?:install|sync)\b|\buv add\b|\buv tool install\b|\bpipx\b")
SYNC = re.compile(r"\buv\"? sync\b([^\n]*)")


def commands(text: str) -> list[str]:
    """The lines that run something: comments left out."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def bypasses(text: str) -> list[str]:
    return [line for line in commands(text) if BYPASS.search(line)]


def unlocked_syncs(text: str) -> list[str]:
    syncs = [args for line in commands(text) for args in SYNC.findall(line)]
    return [args for args in syncs if "--locked" not in args and "--frozen" not in args]


@pytest.mark.parametrize("path", INSTALLERS, ids=[str(p.relative_to(ROOT)) for p in INSTALLERS])
def test_no_install_goes_around_the_lock(path: Path) -> None:
    """Packages come from `uv sync --locked` (or `--frozen`); the only pip run is scripts/install_uv.py's, which
    installs the locked uv with the lock's hashes."""
    text = path.read_text()
    assert bypasses(text) == []
    assert unlocked_syncs(text) == []


def test_the_install_check_can_fail() -> None:
    assert bypasses("run: pip install -r requirements.txt\n") == ["run: pip install -r requirements.txt"]
    assert bypasses("RUN uv pip install /src\n") and bypasses("uv add requests\n")
    assert unlocked_syncs('"$uv" sync --quiet --no-dev\n') == [" --quiet --no-dev"]
    assert unlocked_syncs("uv sync --locked\n") == []


def test_the_policy_requirements_are_the_locked_policy_group(tmp_path: Path) -> None:
    """policy/requirements.txt (what `pulumi install` in policy/ installs with pip) is `uv export` of the group
    policy, with hashes; regenerate it with the command in its header."""
    committed = (ROOT / "policy" / "requirements.txt").read_text()
    command = re.search(r"^#\s+(uv export .*)$", committed, flags=re.MULTILINE)
    assert command and "--only-group policy" in command[1] and "-o policy/requirements.txt" in command[1]
    out = tmp_path / "requirements.txt"
    args = command[1].split()[1:]
    args[args.index("-o") + 1] = str(out)
    result = uv(*args, "--quiet", "--offline")
    assert result.returncode == 0, result.stderr

    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("#")]

    assert body(committed) == body(out.read_text()), "policy/requirements.txt is stale: run ./scripts/lock.sh"
    assert "pulumi-policy==" in committed and "--hash=sha256:" in committed


# --- the uv that reads the lock is the one it pins ----------------------------------------------------------


def test_the_virtualenv_has_the_locked_uv() -> None:
    """`uv sync` installs the group uv, so .venv/bin/uv (which Pulumi's toolchain finds on PATH) is the locked one."""
    assert "uv" in PYPROJECT["tool"]["uv"]["default-groups"]
    version = subprocess.run([str(BIN / "uv"), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split()[1] == locked("uv") == install_uv().locked_uv()[0]


def test_install_uv_gives_pip_the_locked_version_and_hashes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The bootstrap's first uv: pip installs exactly the locked version, only as a wheel whose sha256 the lock
    records (--require-hashes, --only-binary), into the directory given."""
    module = install_uv()
    seen: dict[str, Any] = {}

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        requirements = Path(argv[argv.index("--requirement") + 1]).read_text()
        seen.update(argv=argv, requirements=requirements)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(module.subprocess, "run", fake_run)
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: object())  # .venv itself has no pip
    assert module.main([str(tmp_path / "uv")]) == 0
    [package] = [p for p in LOCK["package"] if p["name"] == "uv"]
    hashes = {wheel["hash"] for wheel in package["wheels"]}
    line = seen["requirements"]
    assert line.startswith(f"uv=={package['version']} ")
    assert set(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)) == hashes and len(hashes) > 1
    argv = seen["argv"]
    assert argv[:4] == [sys.executable, "-m", "pip", "install"]
    assert {"--require-hashes", "--only-binary=:all:", "--no-deps"} <= set(argv)
    assert argv[argv.index("--target") + 1] == str(tmp_path / "uv")


def test_install_uv_says_when_pip_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = install_uv()
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match="has no pip; on Debian or Ubuntu: apt-get install python3-pip"):
        module.main([str(tmp_path / "uv")])


def test_install_uv_refuses_a_lock_without_exactly_one_uv(tmp_path: Path) -> None:
    module = install_uv()
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "ruff"\nversion = "1"\n')
    with pytest.raises(SystemExit, match="pins uv 0 times"):
        module.locked_uv(lock)
    lock.write_text('version = 1\n[[package]]\nname = "uv"\nversion = "1"\n')
    with pytest.raises(SystemExit, match="no wheel hashes"):
        module.locked_uv(lock)


# --- the upstream breakages, excluded at the root -----------------------------------------------------------


def dev_requirement(name: str) -> str:
    [requirement] = [r for r in PYPROJECT["dependency-groups"]["dev"] if isinstance(r, str) and r.startswith(name)]
    return requirement


def test_the_broken_moto_release_is_excluded_and_the_lock_has_another() -> None:
    """moto 5.2.6 checks ListObjectsV2 against the IAM action s3:ListObjectsV2 (its `_get_action` returns the
    botocore operation since that release, moto/core/responses.py and core/authorization.py in the 5.2.6 wheel);
    AWS checks s3:ListBucket, and tests/test_aws.py::test_s3_policy_under_moto_iam_enforcement relies on that."""
    assert "!=5.2.6" in dev_requirement("moto")
    assert locked("moto") != "5.2.6"
    text = (ROOT / "pyproject.toml").read_text()
    assert "ListObjectsV2" in text and "s3:ListBucket" in text


def test_setuptools_keeps_pkg_resources_for_parliament() -> None:
    """parliament imports pkg_resources (parliament/__init__.py) without declaring setuptools, and setuptools 82
    removed pkg_resources: the dev group caps setuptools, and the environment can import what parliament needs."""
    assert "<82" in dev_requirement("setuptools")
    assert int(locked("setuptools").split(".")[0]) < 82
    result = subprocess.run([sys.executable, "-c", "import parliament"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
