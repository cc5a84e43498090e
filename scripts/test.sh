#!/usr/bin/env bash
# The test suite: lint, type check, then pytest (unit tests, the program under Pulumi's mocks,
# real nix evaluation, kubernetes-validate, Pod Security and checkov checks).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh test
export PATH="$PWD/.venv/bin:$PATH" UV_PYTHON_DOWNLOADS=never  # uv: .venv's Python, never a download
# uv.lock matches pyproject.toml (a static check: no network, no resolution). Bootstrap installs with
# --locked only when either file changed since its last sync; this runs every time.
uv lock --check --quiet

# NIXPKGS_LIB: the NixOS module tests evaluate with nixpkgs' lib. CI machines keep one next to the checkout.
if [ -z "${NIXPKGS_LIB:-}" ] && [ -d "$(dirname "$PWD")/shared/nixpkgs-lib/lib" ]; then
  NIXPKGS_LIB="$(dirname "$PWD")/shared/nixpkgs-lib/lib"
  export NIXPKGS_LIB
fi
if [ -z "${NIXPKGS_LIB:-}" ]; then
  echo "note: NIXPKGS_LIB is not set, so the NixOS module tests are skipped. Point it at a nixpkgs lib directory:" >&2
  # shellcheck disable=SC2016 # printed for the user to run
  echo '  export NIXPKGS_LIB="$(nix --extra-experimental-features "nix-command flakes" flake metadata --json nixpkgs | jq -r .path)/lib"   # or <a nix-community/nixpkgs.lib checkout>/lib' >&2
fi

ruff check .
ruff format --check .
mypy  # strict, on nuketown_stack (pyproject.toml)
python -m pytest -n auto "$@"  # one worker per core (pytest-xdist)
