#!/usr/bin/env bash
# The test suite: lint, then pytest (unit tests, the program under Pulumi's mocks,
# real nix evaluation, kubernetes-validate, Pod Security and checkov checks).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

ruff check .
ruff format --check .
if [ -z "${NIXPKGS_LIB:-}" ]; then
  echo "note: NIXPKGS_LIB is not set, so the NixOS module option tests are skipped (see README, Tests)" >&2
fi
python -m pytest "$@"
