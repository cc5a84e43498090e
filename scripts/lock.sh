#!/usr/bin/env bash
# Re-lock after changing a dependency in pyproject.toml: `uv lock` (arguments go to it, e.g.
# --upgrade-package moto), then policy/requirements.txt again from the lock's group policy, with hashes
# (what `pulumi install` inside policy/ installs with pip). Both files go in the same commit.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON=python3 UV_PYTHON_DOWNLOADS=never

uv=.venv/bin/uv
if [ ! -x "$uv" ] || [ "$("$uv" --version | cut -d' ' -f2)" != "$(python3 scripts/install_uv.py --version)" ]; then
  tools=$(mktemp -d)
  trap 'rm -rf "$tools"' EXIT
  uv=$(python3 scripts/install_uv.py "$tools/uv")
fi
"$uv" lock "$@"
"$uv" export --quiet --frozen --only-group policy --format requirements.txt -o policy/requirements.txt
