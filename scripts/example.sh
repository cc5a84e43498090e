#!/usr/bin/env bash
# The main job on the bundled example (ada and vox), as the dev stack sees it:
# validate the spec nix evaluates, render the Kubernetes objects, and run the
# Pulumi program under the mock engine. Output lands in rendered/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

source="examples/cloud-ada.nix"
mkdir -p rendered
nuketown-stack validate "$source"
nuketown-stack render "$source" --stack dev >rendered/cloud-ada.dev.yaml
echo "rendered $(grep -c '^kind:' rendered/cloud-ada.dev.yaml) Kubernetes objects to rendered/cloud-ada.dev.yaml"
nuketown-stack plan "$source" --stack dev --json >rendered/cloud-ada.dev.plan.json
nuketown-stack plan "$source" --stack dev
