#!/usr/bin/env bash
# Installs what a fresh machine lacks, then gets out of the way:
#   - nix (Debian's nix-bin) when nix-instantiate is missing,
#   - a virtualenv with exactly what uv.lock pins, installed by the uv the lock pins (taken from PyPI by
#     scripts/install_uv.py, checked against the lock's hashes, the first time only):
#       bootstrap.sh         .venv (the virtualenv Pulumi.yaml names): nuketown-stack and uv, what the
#                            command needs (`uv sync --locked --no-dev --inexact`: test tools already there stay)
#       bootstrap.sh test    .venv as `uv sync` leaves it, which is what `pulumi install` does too: the
#                            groups dev (the test tools) and uv besides the package (`uv sync --locked`)
#       bootstrap.sh policy  policy/venv, the policy pack's virtualenv (PulumiPolicy.yaml): the lock's
#                            group policy and nothing else (`uv sync --locked --only-group policy`)
#   `--locked` stops with an error when uv.lock no longer matches pyproject.toml: run `.venv/bin/uv lock`.
# Safe to run again: a stamp per set, named by a hash of pyproject.toml and uv.lock, skips a sync that
# was already done for exactly these files.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-command}
case $what in
  command | test | policy) ;;
  *)
    echo "usage: scripts/bootstrap.sh [test | policy]" >&2
    exit 2
    ;;
esac

if [ "$what" != policy ] && ! command -v nix-instantiate >/dev/null 2>&1; then
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

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: nuketown-stack needs Python 3.11 or later as python3; found: $(python3 --version 2>&1 || echo none)" >&2
  exit 1
fi

venv=.venv
if [ "$what" = policy ]; then venv=policy/venv; fi
hash=$(cat pyproject.toml uv.lock | sha256sum | cut -c1-16)
stamp="$venv/.synced-$what-$hash"
if [ -f "$stamp" ]; then exit 0; fi

# uv makes the virtualenv from python3 and never downloads a Python of its own.
export UV_PYTHON=python3 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT="$PWD/$venv"
unset VIRTUAL_ENV

# The locked uv: .venv's own once a sync has put it there, else a scratch copy from PyPI.
locked=$(python3 scripts/install_uv.py --version)
uv=.venv/bin/uv
if [ ! -x "$uv" ] || [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" != "$locked" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  echo "bootstrap: installing uv $locked from PyPI (the version and hashes uv.lock pins)" >&2
  uv=$(python3 scripts/install_uv.py "$scratch/uv")
fi

case $what in
  command)
    echo "bootstrap: installing nuketown-stack into .venv from uv.lock" >&2
    "$uv" sync --quiet --locked --no-dev --inexact
    ;;
  test)
    echo "bootstrap: installing nuketown-stack and its test tools into .venv from uv.lock" >&2
    "$uv" sync --quiet --locked
    ;;
  policy)
    echo "bootstrap: installing the policy pack's dependencies into policy/venv from uv.lock" >&2
    "$uv" sync --quiet --locked --only-group policy
    ;;
esac

# Old stamps of this set go (and of the command's set, which the test set holds too); stamps of an
# installer before uv.lock as well.
rm -f "$venv/.synced-$what-"* "$venv"/.installed*
touch "$stamp"
if [ "$what" = test ]; then
  rm -f "$venv/.synced-command-"*
  touch "$venv/.synced-command-$hash"
fi
