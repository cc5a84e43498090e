#!/usr/bin/env bash
# The test suite on other versions than the locked ones, in a scratch copy of this checkout (nothing
# here changes, uv.lock included):
#   scripts/upstream.sh latest   every package at the newest version pyproject.toml allows (uv lock --upgrade):
#                                what the next lock update would bring; a broken upstream release fails here
#   scripts/upstream.sh floors   every direct dependency at the lowest version pyproject.toml allows
#                                (--resolution lowest-direct): the floors are true
# It prints each package whose version moved against uv.lock, then runs scripts/test.sh in the copy (extra
# arguments go to pytest). The copy is left in $TMPDIR for a look at its uv.lock and .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case $mode in
  latest) lock_flags=(--upgrade) ;;
  floors)
    lock_flags=(--upgrade --resolution lowest-direct)
    # bootstrap's `uv sync --locked` in the copy must resolve the same way, or it calls the lock stale.
    export UV_RESOLUTION=lowest-direct
    ;;
  *)
    echo "usage: scripts/upstream.sh latest|floors [pytest arguments]" >&2
    exit 2
    ;;
esac
shift

# The copy's test.sh looks for nixpkgs' lib beside its own checkout; give it this checkout's.
if [ -z "${NIXPKGS_LIB:-}" ] && [ -d "$(dirname "$PWD")/shared/nixpkgs-lib/lib" ]; then
  NIXPKGS_LIB="$(dirname "$PWD")/shared/nixpkgs-lib/lib"
  export NIXPKGS_LIB
fi

copy="$(mktemp -d)/nuketown-cloud"
mkdir "$copy"
# Tracked and untracked files, not what .gitignore names (.venv, caches), as they are on disk.
git -c safe.directory="$PWD" ls-files -z --cached --others --exclude-standard | tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C "$copy"
# A repository of its own: actionlint finds .github/workflows from the repository's root.
git init --quiet "$copy"
# Staged, so that nix, which reads a flake in a git tree through git, sees the files (tests/test_nix.py).
git -C "$copy" add --all
echo "upstream: scratch copy in $copy" >&2

# The copy's own scripts/lock.sh: the locked uv runs `uv lock` with these flags, and the policy pack's
# requirements.txt follows the new lock.
(cd "$copy" && ./scripts/lock.sh --quiet "${lock_flags[@]}")

python3 - "$PWD/uv.lock" "$copy/uv.lock" <<'EOF'
import sys, tomllib

def versions(path):
    return {p["name"]: p.get("version", "") for p in tomllib.load(open(path, "rb"))["package"]}

old, new = versions(sys.argv[1]), versions(sys.argv[2])
moved = [f"  {n}: {old.get(n, '-')} -> {new.get(n, '-')}" for n in sorted(old.keys() | new.keys()) if old.get(n) != new.get(n)]
print(f"upstream: {len(moved)} package(s) differ from uv.lock", *moved, sep="\n", file=sys.stderr)
EOF

cd "$copy"
./scripts/test.sh "$@"
