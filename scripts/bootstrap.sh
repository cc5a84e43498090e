#!/usr/bin/env bash
# Installs what a fresh machine lacks, then gets out of the way:
#   - nix (Debian's nix-bin) when nix-instantiate is missing,
#   - .venv (the virtualenv Pulumi.yaml names) with this package: `bootstrap.sh` installs what the
#     nuketown-stack command needs, `bootstrap.sh test` adds the test tools.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: nix is missing and this is not a Debian/Ubuntu machine; install nix, then run again" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "bootstrap: installing nix (apt-get install nix-bin)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nix-bin >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  python3 -m venv .venv
fi

# Reinstall only when the dependencies change (one stamp per set: the command's, the tests').
extras=""
what="nuketown-stack"
if [ "${1:-}" = "test" ]; then
  extras="[test]"
  what="nuketown-stack and its test tools"
fi
stamp=".venv/.installed${extras:+-test}-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing $what into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".$extras"
  # Old stamps of this set only (hashes are hex, so the command's pattern never matches the tests' stamp).
  if [ -n "$extras" ]; then rm -f .venv/.installed-test-*; else rm -f .venv/.installed-[0-9a-f]*; fi
  touch "$stamp"
fi
