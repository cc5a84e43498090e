#!/usr/bin/env python3
"""Install the uv that uv.lock pins, from PyPI with pip, checked against the lock's wheel hashes.

    python3 scripts/install_uv.py DIR        installs it into DIR (pip --target) and prints DIR/bin/uv
    python3 scripts/install_uv.py --version  prints the locked version only

The first uv has to come from somewhere before any uv can read the lock: this reads uv.lock with the
standard library (Python 3.11+), hands pip the exact version and every wheel hash the lock records, and
lets pip refuse anything else (--require-hashes, wheels only). scripts/bootstrap.sh and
deploy/argocd/Dockerfile use it; after that, `uv sync` installs the same uv into .venv (group `uv`).
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"


def locked_uv(lock: Path = LOCK) -> tuple[str, list[str]]:
    """(version, wheel hashes) of the package `uv` in the lock."""
    packages = tomllib.loads(lock.read_text())["package"]
    found = [p for p in packages if p["name"] == "uv"]
    if len(found) != 1:
        raise SystemExit(f"install_uv: {lock} pins uv {len(found)} times; it must pin it once (dependency group uv)")
    [package] = found
    hashes = [wheel["hash"] for wheel in package.get("wheels", [])]
    if not hashes:
        raise SystemExit(f"install_uv: {lock} records no wheel hashes for uv {package['version']}")
    return package["version"], hashes


def requirement(version: str, hashes: list[str]) -> str:
    """One requirements-file line: pip installs only a file whose sha256 is one of these."""
    return f"uv=={version} " + " ".join(f"--hash={h}" for h in hashes) + "\n"


def main(argv: list[str]) -> int:
    if argv not in (["--version"],) and len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    version, hashes = locked_uv()
    if argv == ["--version"]:
        print(version)
        return 0
    if importlib.util.find_spec("pip") is None:
        raise SystemExit(f"install_uv: {sys.executable} has no pip; on Debian or Ubuntu: apt-get install python3-pip")
    target = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "uv.txt"
        requirements.write_text(requirement(version, hashes))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--require-hashes",
                "--only-binary=:all:",
                "--no-deps",
                "--upgrade",
                "--target",
                str(target),
                "--requirement",
                str(requirements),
            ],
            check=True,
            env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},  # root in CI and containers: no warning
        )
    print(target / "bin" / "uv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
