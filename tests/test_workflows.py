"""The GitHub workflows: clean under actionlint (with shellcheck on every `run:`) and zizmor, shaped as
docs/ci.md says (who holds which credential), and their shell steps run for real on the cases that matter.

Every structural rule is a function returning its problems, so that each test can show it fails: the
`*_can_fail` tests break a copy of .github in a temp dir and expect the rule to say so."""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # actionlint, shellcheck and zizmor come with the test extras

# The deployer's identity and the stack passphrase: only up.yml's job (in staging/production) may use them.
DEPLOY_CREDENTIALS = re.compile(r"vars\.\w*DEPLOYER\w*|secrets\.PULUMI_CONFIG_PASSPHRASE|secrets\.PULUMI_ACCESS_TOKEN")
SECRETS_REF = re.compile(r"secrets\.|secrets\[|toJSON\(\s*secrets\s*\)")
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is missing: run ./scripts/bootstrap.sh (it installs the test extras)"
    return found


def actionlint(cwd: Path, *files: str) -> list[dict[str, Any]]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [tool("actionlint"), "-format", "{{json .}}", *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout or "[]")


def zizmor(cwd: Path) -> list[str]:
    """`zizmor --offline .github`, one `audit path:line` per finding (ignored ones excluded, as zizmor does)."""
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", ".github"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")},
        check=False,
    )
    assert result.stdout.strip(), result.stderr  # exit 10+ means findings; no JSON at all means it failed
    findings = [f for f in json.loads(result.stdout) if not f.get("ignored")]
    lines = []
    for finding in findings:
        where = finding["locations"][0]
        path = where["symbolic"]["key"]["Local"]["verbatim_path"]
        row = where["concrete"]["location"]["start_point"]["row"] + 1
        lines.append(f"{finding['ident']} {path}:{row}")
    return lines


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); map it back.
    document = yaml.safe_load(path.read_text())
    return {("on" if key is True else key): value for key, value in document.items()}


def workflow(name: str, root: Path = ROOT) -> dict[str, Any]:
    return load(root / ".github" / "workflows" / name)


def workflows(root: Path) -> dict[str, dict[str, Any]]:
    return {path.name: load(path) for path in sorted((root / ".github" / "workflows").glob("*.yml"))}


def steps_of(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every step of a workflow's jobs, or of a composite action."""
    if "runs" in document:
        yield from document["runs"].get("steps", [])
    for job in document.get("jobs", {}).values():
        yield from job.get("steps", [])


def environment_name(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def text(node: Any) -> str:
    return yaml.safe_dump(node, sort_keys=True)


def pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    return step


def setup_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if s.get("uses", "").endswith("/.github/actions/setup")]
    return step


# --- the rules ----------------------------------------------------------------------------------------------


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+#\s*v\d+\.\d+\.\d+\s*$")


def unpinned_uses(root: Path) -> list[str]:
    """Every `uses:` of another repository is a full commit SHA with a `# vX.Y.Z` comment; own ones are `$/` or `./`."""
    problems = []
    for path in sorted((root / ".github").rglob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES.match(line)
            if match is None or match["ref"].startswith(("./", "$/")):
                continue
            where = f"{path.relative_to(root)}:{number}"
            if not PINNED.match(match["ref"]):
                problems.append(f"{where}: {match['ref']} is not pinned to a full commit SHA")
            elif not VERSION_COMMENT.match(match["rest"]):
                problems.append(f"{where}: {match['ref']} has no `# vX.Y.Z` version comment")
    return problems


def persisted_checkouts(root: Path) -> list[str]:
    """Every actions/checkout sets persist-credentials: false (no git token left on disk for later steps)."""
    problems = []
    documents = {**workflows(root), "setup": load(root / ".github" / "actions" / "setup" / "action.yml")}
    for name, document in documents.items():
        for step in steps_of(document):
            checkout = step.get("uses", "").startswith("actions/checkout@")
            if checkout and (step.get("with") or {}).get("persist-credentials") is not False:
                problems.append(f"{name}: a checkout step without persist-credentials: false")
    return problems


def pull_request_privileges(root: Path) -> list[str]:
    """Jobs triggered by a pull request run its code: outside `environment: preview` they get `contents: read`
    only, no OIDC token and no secret. pull_request_target (which hands base secrets to PR code) never."""
    problems = []
    for name, document in workflows(root).items():
        triggers = document["on"] if isinstance(document["on"], dict | list) else [document["on"]]
        if "pull_request_target" in triggers:
            problems.append(f"{name}: pull_request_target gives a PR's code the base's secrets")
        if "pull_request" not in triggers:
            continue
        top = document.get("permissions")
        if isinstance(top, str) or (top or {}).get("id-token") == "write":
            problems.append(f"{name}: workflow-level permissions {top!r} (id-token belongs on the preview job only)")
        for job_id, job in document["jobs"].items():
            if environment_name(job) == "preview":
                continue
            permissions = job.get("permissions", top)
            if permissions is None:
                problems.append(f"{name}: job {job_id} has the default token permissions, not contents: read")
            elif permissions not in ({"contents": "read"}, {}):
                problems.append(f"{name}: job {job_id} has permissions {permissions}, not contents: read only")
            if SECRETS_REF.search(text(job)) or job.get("secrets") == "inherit":
                problems.append(f"{name}: job {job_id} references secrets outside environment: preview")
    return problems


def preview_job_problems(root: Path) -> list[str]:
    """The credentialed preview: in `environment: preview`, never for forks, with the read-only identity and
    nothing that decrypts stack secrets (no secret at all, no Pulumi token, no real passphrase)."""
    job = workflow("preview.yml", root)["jobs"]["preview"]
    problems = []
    if environment_name(job) != "preview":
        problems.append(f"the preview job runs in environment {environment_name(job)!r}, not preview")
    if FORK_GUARD not in job.get("if", ""):
        problems.append("the preview job is not skipped for forks (its `if` lacks the same-repository test)")
    body = text(job)
    if DEPLOY_CREDENTIALS.search(body):
        problems.append(f"the preview job references deploy credentials: {DEPLOY_CREDENTIALS.findall(body)}")
    if SECRETS_REF.search(body):
        problems.append("the preview job references secrets")
    env = job.get("env", {})
    if "PULUMI_ACCESS_TOKEN" in env:
        problems.append("the preview job has a Pulumi access token (with Stack Read it can decrypt secrets)")
    passphrase = str(env.get("PULUMI_CONFIG_PASSPHRASE", ""))
    if "${{" in passphrase:
        problems.append("the preview job's PULUMI_CONFIG_PASSPHRASE is an expression, not a public placeholder")
    if str(env.get("PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER")).lower() != "true":
        problems.append("the preview job does not take its secrets manager from the state (locked)")
    identity = setup_step(job).get("with", {})
    if identity.get("gcp-service-account") != "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}":
        problems.append(f"the preview job's GCP identity is {identity.get('gcp-service-account')!r}")
    if identity.get("aws-role-to-assume") != "${{ vars.AWS_PREVIEW_ROLE_ARN }}":
        problems.append(f"the preview job's AWS identity is {identity.get('aws-role-to-assume')!r}")
    return problems


def up_problems(root: Path) -> list[str]:
    """`pulumi up` only in up.yml, in the environment of its stack (staging/production), called by deploy.yml on
    pushes to main with named secrets that up.yml declares; deploy credentials appear nowhere else."""
    problems = []
    up = workflow("up.yml", root)
    declared = set((up["on"]["workflow_call"].get("secrets") or {}).keys())
    for job_id, job in up["jobs"].items():
        if environment_name(job) != "${{ inputs.stack }}":
            problems.append(f"up.yml: job {job_id} runs outside the stack's environment")
        used = set(re.findall(r"secrets\.(\w+)", text(job))) - {"GITHUB_TOKEN"}
        if used - declared:
            problems.append(f"up.yml: job {job_id} uses undeclared secrets {sorted(used - declared)}")
    deploy = workflow("deploy.yml", root)
    if deploy["on"] != {"push": {"branches": ["main"]}}:
        problems.append(f"deploy.yml runs on {deploy['on']}, not pushes to main")
    callers = {job_id: job for job_id, job in deploy["jobs"].items() if job.get("uses", "").endswith("/up.yml")}
    for job_id, job in callers.items():
        if job.get("with", {}).get("stack") not in ("staging", "production"):
            problems.append(f"deploy.yml: job {job_id} goes up on {job.get('with')}")
        passed = job.get("secrets", {})
        if not isinstance(passed, dict):
            problems.append(f"deploy.yml: job {job_id} passes secrets: {passed} (name each one)")
        elif set(passed) - declared:
            problems.append(
                f"deploy.yml: job {job_id} passes secrets up.yml does not declare: {set(passed) - declared}"
            )
    for name, document in workflows(root).items():
        for job_id, job in document["jobs"].items():
            if name in DEPLOYING or (name == "deploy.yml" and job_id in callers) or _calls_fleet_up(name, job):
                continue
            if DEPLOY_CREDENTIALS.search(text(job)):
                problems.append(f"{name}: job {job_id} references deploy credentials")
    return problems


# The reusable workflows that hold deploy credentials, each checked by its own rule (fleet-up.yml:
# tests/test_fleet_workflows.py), and the jobs that call them with named secrets.
DEPLOYING = ("up.yml", "fleet-up.yml")


def _calls_fleet_up(name: str, job: dict[str, Any]) -> bool:
    return name == "fleet-deploy.yml" and str(job.get("uses", "")).endswith("/fleet-up.yml")


def policy_problems(root: Path) -> list[str]:
    """The policy pack runs on every preview and up (pulumi/actions' policyPacks, with its virtualenv made
    first), and offline on the plan in the credential-free check."""
    problems = []
    pack = yaml.safe_load((root / "policy" / "PulumiPolicy.yaml").read_text())
    venv = pack["runtime"]["options"]["virtualenv"]
    setup = load(root / ".github" / "actions" / "setup" / "action.yml")
    # scripts/bootstrap.sh policy syncs uv.lock's group policy into the virtualenv PulumiPolicy.yaml names.
    makes_venv = [s for s in steps_of(setup) if "./scripts/bootstrap.sh policy" in s.get("run", "")]
    bootstrap = (root / "scripts" / "bootstrap.sh").read_text()
    on_request = bool(makes_venv) and "inputs.policy-pack" in makes_venv[0].get("if", "")
    if not on_request or not re.search(rf"\bvenv=policy/{re.escape(venv)}\b", bootstrap):
        problems.append(f"the setup action does not create policy/{venv} (PulumiPolicy.yaml's virtualenv) on request")
    jobs = {"preview": workflow("preview.yml", root)["jobs"]["preview"], "up": workflow("up.yml", root)["jobs"]["up"]}
    for name, job in jobs.items():
        if pulumi_step(job).get("with", {}).get("policyPacks") != "policy":
            problems.append(f"the {name} job's pulumi/actions step does not run the policy pack (policyPacks)")
        if setup_step(job).get("with", {}).get("policy-pack") != "true":
            problems.append(f"the {name} job does not make the policy pack's virtualenv")
    check = workflow("preview.yml", root)["jobs"]["check"]
    offline = [s["run"] for s in check["steps"] if "python policy/offline.py" in s.get("run", "")]
    if not offline or "nuketown-stack plan" not in offline[0] or "--json" not in offline[0]:
        problems.append("the check job does not run policy/offline.py on `nuketown-stack plan --json`")
    return problems


def setup_action_problems(root: Path) -> list[str]:
    """Cluster access from cloud credentials: gcloud with gke-gcloud-auth-plugin after GCP auth, the aws CLI
    for EKS, each only when its credentials are configured."""
    steps = list(steps_of(load(root / ".github" / "actions" / "setup" / "action.yml")))
    problems = []
    auth = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("google-github-actions/auth@")]
    gcloud = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("google-github-actions/setup-gcloud@")]
    if not gcloud or "gke-gcloud-auth-plugin" not in str(steps[gcloud[0]].get("with", {}).get("install_components")):
        problems.append("no setup-gcloud step installing gke-gcloud-auth-plugin")
    elif not auth or gcloud[0] < auth[0] or "inputs.gcp-workload-identity-provider" not in steps[gcloud[0]]["if"]:
        problems.append("setup-gcloud does not follow the GCP auth step under the same condition")
    aws = [s for s in steps if "aws --version" in s.get("run", "")]
    if not aws or "inputs.aws-role-to-assume" not in aws[0].get("if", ""):
        problems.append("no check for the aws CLI when AWS credentials are configured")
    return problems


SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
UV_DEPLOY_ENV = {"UV_LOCKED": "1", "UV_NO_DEV": "1", "UV_PYTHON_DOWNLOADS": "never"}


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def pulumi_cli_problems(root: Path) -> list[str]:
    """Every pulumi/actions step installs the CLI that .pulumi-version pins (pulumi/actions v6.6.1 reads
    `pulumi-version-file` in src/config.ts:49-65 and installs the newest 3.x without it, `pulumiVersion ?? '^3'`
    at :79; src/libs/pulumi-cli.ts:60-196 downloads exactly the version the range resolves to). The pin is an
    exact version, no older than the minimum the README names, which is the pulumi SDK floor in pyproject.toml."""
    problems = []
    pinned = (root / ".pulumi-version").read_text().strip() if (root / ".pulumi-version").is_file() else ""
    if not SEMVER.match(pinned):
        problems.append(f".pulumi-version holds {pinned!r}, not an exact version X.Y.Z")
    for name, document in workflows(root).items():
        for job_id, job in document["jobs"].items():
            for step in job.get("steps", []):
                if not str(step.get("uses", "")).startswith("pulumi/actions@"):
                    continue
                given = step.get("with") or {}
                if given.get("pulumi-version-file") != ".pulumi-version" or "pulumi-version" in given:
                    problems.append(
                        f"{name}: job {job_id} runs pulumi/actions without pulumi-version-file: .pulumi-version"
                    )
    readme = (root / "README.md").read_text()
    minimum = re.search(r"Pulumi CLI (\d+\.\d+\.\d+) or later", readme)
    pyproject = (root / "pyproject.toml").read_text()
    floor = re.search(r'"pulumi>=(\d+\.\d+)(?:\.(\d+))?,', pyproject)
    if minimum is None or floor is None:
        problems.append("the README names no minimum Pulumi CLI, or pyproject.toml no pulumi floor")
    else:
        sdk_floor = f"{floor[1]}.{floor[2] or 0}"
        if version_tuple(minimum[1]) != version_tuple(sdk_floor):
            problems.append(f"the README's minimum CLI {minimum[1]} is not the pulumi SDK floor {sdk_floor}")
        if SEMVER.match(pinned) and version_tuple(pinned) < version_tuple(minimum[1]):
            problems.append(f".pulumi-version {pinned} is older than the README's minimum {minimum[1]}")
        if version_tuple(minimum[1]) < (3, 139, 0):
            problems.append(f"the minimum CLI {minimum[1]} predates toolchain uv (3.139.0)")
    return problems


def locked_install_problems(root: Path) -> list[str]:
    """The setup action installs with scripts/bootstrap.sh (uv.lock, the locked uv), and every job that runs the
    Pulumi CLI keeps its `uv sync` on the lock as it is (UV_LOCKED), without test tools (UV_NO_DEV), never
    downloading a Python: Pulumi's toolchain passes uv no flag of its own (tests/engine/test_engine_toolchain.py)."""
    problems = []
    setup = load(root / ".github" / "actions" / "setup" / "action.yml")
    runs = [s.get("run", "") for s in steps_of(setup)]
    if not any(run.startswith("./scripts/bootstrap.sh\n") for run in runs):
        problems.append("the setup action does not install .venv with ./scripts/bootstrap.sh")
    for name, document in workflows(root).items():
        for job_id, job in document["jobs"].items():
            if not any(str(s.get("uses", "")).startswith("pulumi/actions@") for s in job.get("steps", [])):
                continue
            env = {k: str(v) for k, v in (job.get("env") or {}).items()}
            wrong = {k: env.get(k) for k, v in UV_DEPLOY_ENV.items() if env.get(k) != v}
            if wrong:
                problems.append(f"{name}: job {job_id} runs the Pulumi CLI with {wrong}, not {UV_DEPLOY_ENV}")
    return problems


def pull_request_test_problems(root: Path) -> list[str]:
    """A workflow runs the README's test command on every pull request, forks included (the `pull_request` event,
    no branch or path filter), read-only (contents: read, no secret, no environment), and on pushes to main."""
    problems = []
    found = []
    for name, document in workflows(root).items():
        triggers = document["on"] if isinstance(document["on"], dict) else {}
        if "pull_request" not in triggers or (triggers["pull_request"] or {}):
            continue
        for job_id, job in document["jobs"].items():
            if any(s.get("run", "").endswith("./scripts/test.sh") for s in job.get("steps", [])):
                found.append((name, job_id, job, triggers))
    if not found:
        problems.append("no workflow runs ./scripts/test.sh on every pull request")
    for name, job_id, job, triggers in found:
        if job.get("permissions") != {"contents": "read"} or job.get("environment") or SECRETS_REF.search(text(job)):
            problems.append(f"{name}: job {job_id} is not read-only")
        if triggers.get("push") != {"branches": ["main"]}:
            problems.append(f"{name}: does not run on pushes to main")
        if "if" in job:
            problems.append(f"{name}: job {job_id} has a condition; it must run for every pull request")
    return problems


def upstream_problems(root: Path) -> list[str]:
    """A scheduled workflow runs the suite on the newest releases and at the floors (scripts/upstream.sh), so a
    broken upstream release turns it red; pull requests that change the dependency declarations run it too."""
    problems = []
    runs: set[str] = set()
    for name, document in workflows(root).items():
        triggers = document["on"] if isinstance(document["on"], dict) else {}
        for job in document["jobs"].values():
            if not any("./scripts/upstream.sh" in s.get("run", "") for s in job.get("steps", [])):
                continue
            if "schedule" not in triggers:
                problems.append(f"{name} runs scripts/upstream.sh but not on a schedule")
            paths = set((triggers.get("pull_request") or {}).get("paths") or [])
            if not {"pyproject.toml", "uv.lock"} <= paths:
                problems.append(f"{name}: pull requests that change pyproject.toml or uv.lock do not run it")
            runs |= set(job.get("strategy", {}).get("matrix", {}).get("versions", []))
    for versions in ("latest", "floors"):
        if versions not in runs:
            problems.append(f"no scheduled job runs scripts/upstream.sh {versions}")
    return problems


def renovate_problems(root: Path) -> list[str]:
    """Renovate keeps uv.lock current (its pep621 manager runs `uv lock --upgrade-package`, and lock file
    maintenance `uv lock --upgrade`: renovatebot/renovate lib/modules/manager/pep621/processors/uv.ts, at
    c2dd4f856f), moves the Pulumi packages, CLI and action in one group, and bumps the CLI pin in .pulumi-version
    (a regex custom manager)."""
    path = root / ".github" / "renovate.json"
    if not path.is_file():
        return ["no .github/renovate.json"]
    config = json.loads(path.read_text())
    problems = []
    if not {"pep621", "github-actions", "custom.regex"} <= set(config.get("enabledManagers", [])):
        problems.append(
            f"Renovate's managers {config.get('enabledManagers')} leave out pep621, github-actions or regex"
        )
    if not (config.get("lockFileMaintenance") or {}).get("enabled"):
        problems.append("Renovate's lock file maintenance is off")
    groups = [r for r in config.get("packageRules", []) if r.get("groupName") == "pulumi"]
    names = set(groups[0].get("matchPackageNames", [])) if groups else set()
    if not {"pulumi", "pulumi-*", "pulumi/pulumi", "pulumi/actions"} <= names:
        problems.append(f"Renovate's pulumi group matches {sorted(names)}")
    pins = [m for m in config.get("customManagers", []) if m.get("depNameTemplate") == "pulumi/pulumi"]
    pattern = pins[0]["managerFilePatterns"][0].strip("/") if pins else "$^"
    if not re.search(pattern, ".pulumi-version"):
        problems.append("no Renovate custom manager updates .pulumi-version")
    return problems


RULES: dict[str, Callable[[Path], list[str]]] = {
    "unpinned_uses": unpinned_uses,
    "persisted_checkouts": persisted_checkouts,
    "pull_request_privileges": pull_request_privileges,
    "preview_job": preview_job_problems,
    "up": up_problems,
    "policy": policy_problems,
    "setup_action": setup_action_problems,
    "pulumi_cli": pulumi_cli_problems,
    "locked_install": locked_install_problems,
    "pull_request_tests": pull_request_test_problems,
    "upstream": upstream_problems,
    "renovate": renovate_problems,
}


@pytest.mark.parametrize("rule", RULES)
def test_the_workflows_keep_the_rule(rule: str) -> None:
    assert RULES[rule](ROOT) == []


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    (tmp_path / "policy").mkdir()
    shutil.copy(ROOT / "policy" / "PulumiPolicy.yaml", tmp_path / "policy")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts")
    for name in (".pulumi-version", "README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path)
    path = tmp_path / file
    before = path.read_text()
    assert old in before, f"{old!r} is not in {file}: update this break"
    path.write_text(before.replace(old, new, 1))
    return tmp_path


PREVIEW, UP, DEPLOY = ".github/workflows/preview.yml", ".github/workflows/up.yml", ".github/workflows/deploy.yml"
SETUP = ".github/actions/setup/action.yml"
TEST, UPSTREAM = ".github/workflows/test.yml", ".github/workflows/upstream.yml"
RENOVATE = ".github/renovate.json"
CHECKOUT = "actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0"
CHECK_PERMISSIONS = "permissions:\n      contents: read\n    strategy:"
NAMED_SECRETS = (
    "secrets:\n      PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}\n"
    "      PULUMI_ACCESS_TOKEN: ${{ secrets.PULUMI_ACCESS_TOKEN }}\n"
)
BREAKS = {
    "tag instead of SHA": ("unpinned_uses", PREVIEW, CHECKOUT, "actions/checkout@v4", "not pinned"),
    "short SHA": ("unpinned_uses", SETUP, "@630ae543ea3a38a9a4166f03376c02c50f408342", "@630ae54", "not pinned"),
    "no version comment": ("unpinned_uses", UP, " # v6.6.1", "", "version comment"),
    "persisted checkout": (
        "persisted_checkouts",
        DEPLOY,
        "persist-credentials: false",
        "persist-credentials: true",
        "persist-credentials",
    ),
    "OIDC in the check": (
        "pull_request_privileges",
        PREVIEW,
        CHECK_PERMISSIONS,
        CHECK_PERMISSIONS.replace("read\n", "read\n      id-token: write\n"),
        "job check has permissions",
    ),
    "secret in the check": (
        "pull_request_privileges",
        PREVIEW,
        "DATA_LOSS_ACCEPTED: ${{",
        "TOKEN: ${{ secrets.PULUMI_ACCESS_TOKEN }}\n          DATA_LOSS_ACCEPTED: ${{",
        "job check references secrets",
    ),
    "write-all": (
        "pull_request_privileges",
        PREVIEW,
        "permissions: {}\n",
        "permissions: write-all\n",
        "workflow-level",
    ),
    "preview outside its environment": (
        "pull_request_privileges",
        PREVIEW,
        "environment: preview",
        "environment: staging",
        "job preview has permissions",
    ),
    "preview environment renamed": ("preview_job", PREVIEW, "environment: preview", "environment: ci", "not preview"),
    "preview for forks": ("preview_job", PREVIEW, FORK_GUARD, "true", "forks"),
    "deployer in preview": (
        "preview_job",
        PREVIEW,
        "vars.GCP_PREVIEW_SERVICE_ACCOUNT",
        "vars.GCP_DEPLOYER_SERVICE_ACCOUNT",
        "deploy credentials",
    ),
    "passphrase in preview": (
        "preview_job",
        PREVIEW,
        "PULUMI_CONFIG_PASSPHRASE: not-the-stack-passphrase",
        "PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
        "deploy credentials",
    ),
    "Pulumi token in preview": (
        "preview_job",
        PREVIEW,
        'PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true"\n',
        'PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true"\n      PULUMI_ACCESS_TOKEN: x\n',
        "Pulumi access token",
    ),
    "secrets: inherit": ("up", DEPLOY, NAMED_SECRETS, "secrets: inherit\n", "passes secrets: inherit"),
    "up without environment": (
        "up",
        UP,
        "    environment: ${{ inputs.stack }}\n",
        "",
        "outside the stack's environment",
    ),
    "undeclared secret": (
        "up",
        UP,
        "PULUMI_BACKEND_URL: ${{ vars.PULUMI_BACKEND_URL }}",
        "PULUMI_BACKEND_URL: ${{ secrets.BACKEND }}",
        "undeclared secrets ['BACKEND']",
    ),
    "passphrase outside up": (
        "up",
        DEPLOY,
        "      - id: list\n",
        "      - id: list\n        env:\n          P: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}\n",
        "job stacks references deploy credentials",
    ),
    "up without the pack": ("policy", UP, "          policyPacks: policy\n", "", "up job's pulumi/actions"),
    "preview without the venv": ("policy", PREVIEW, '          policy-pack: "true"\n', "", "preview job does not make"),
    "no offline policy": ("policy", PREVIEW, "python policy/offline.py", "true", "policy/offline.py"),
    "venv elsewhere": ("policy", "policy/PulumiPolicy.yaml", "virtualenv: venv", "virtualenv: .env", "policy/.env"),
    "no GKE plugin": ("setup_action", SETUP, "install_components: gke-gcloud-auth-plugin", "version: latest", "gke"),
    "no aws check": ("setup_action", SETUP, "aws --version", "true", "aws CLI"),
    "pack venv by pip": (
        "policy",
        SETUP,
        "run: ./scripts/bootstrap.sh policy",
        "run: python -m venv policy/venv",
        "venv",
    ),
    "newest CLI": ("pulumi_cli", UP, "          pulumi-version-file: .pulumi-version", "", "up.yml: job up runs"),
    "CLI as a range": ("pulumi_cli", ".pulumi-version", ".", ".x", "not an exact version"),
    "CLI below the floor": ("pulumi_cli", ".pulumi-version", "3.", "2.", "older than the README's minimum"),
    "README minimum off": ("pulumi_cli", "README.md", "Pulumi CLI 3.", "Pulumi CLI 2.", "is not the pulumi SDK floor"),
    "setup by pip": (
        "locked_install",
        SETUP,
        "./scripts/bootstrap.sh\n",
        "pip install -e .\n",
        "./scripts/bootstrap.sh",
    ),
    "deploy re-locks": ("locked_install", UP, '      UV_LOCKED: "1"\n', "", "job up runs the Pulumi CLI"),
    "preview with test tools": ("locked_install", PREVIEW, '      UV_NO_DEV: "1"\n', "", "job preview runs the Pulumi"),
    "tests skip forks": ("pull_request_tests", TEST, "  pull_request:\n", "  pull_request_target:\n", "no workflow"),
    "tests on main PRs only": (
        "pull_request_tests",
        TEST,
        "  pull_request:\n",
        "  pull_request:\n    branches: [main]\n",
        "no",
    ),
    "tests with a secret": (
        "pull_request_tests",
        TEST,
        "./scripts/test.sh\n",
        "./scripts/test.sh\n        env:\n          T: ${{ secrets.T }}\n",
        "not read-only",
    ),
    "tests with write access": (
        "pull_request_tests",
        TEST,
        "      contents: read",
        "      contents: write",
        "not read-only",
    ),
    "no floors": ("upstream", UPSTREAM, "versions: [latest, floors]", "versions: [latest]", "upstream.sh floors"),
    "not scheduled": ("upstream", UPSTREAM, '  schedule:\n    - cron: "17 5 * * 1"\n', "", "not on a schedule"),
    "lock PRs unchecked": ("upstream", UPSTREAM, "      - uv.lock\n", "", "do not run it"),
    "pulumi ungrouped": ("renovate", RENOVATE, '"groupName": "pulumi"', '"groupName": "sdk"', "pulumi group"),
    "no lock maintenance": ("renovate", RENOVATE, '"enabled": true', '"enabled": false', "maintenance is off"),
    "CLI pin unmanaged": ("renovate", RENOVATE, "pulumi-version$", "pulumi-versions$", ".pulumi-version"),
}


@pytest.mark.parametrize("name", BREAKS)
def test_each_rule_can_fail(tmp_path: Path, name: str) -> None:
    rule, file, old, new, expected = BREAKS[name]
    problems = RULES[rule](broken_copy(tmp_path, file, old, new))
    assert any(expected in problem for problem in problems), problems


# --- linters ---------------------------------------------------------------------------------------------------


def test_shellcheck_is_there_so_run_scripts_are_checked() -> None:
    assert tool("shellcheck")


def test_workflows_are_clean_under_actionlint() -> None:
    findings = actionlint(ROOT)
    assert [f"{f['filepath']}:{f['line']}: {f['message']} [{f['kind']}]" for f in findings] == []


def test_actionlint_catches_what_it_should(tmp_path: Path) -> None:
    """The check can fail: a script injection, a typo in an action input, and an unquoted variable."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "bad.yml").write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  bad:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          fetch-dept: 0\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - run: ls $HOME/x\n"
    )
    kinds = sorted({f["kind"] for f in actionlint(tmp_path, ".github/workflows/bad.yml")})
    assert kinds == ["action", "expression", "shellcheck"]


def test_workflows_are_clean_under_zizmor() -> None:
    """Every finding fails, whatever its severity; the one inline ignore says why in the action."""
    assert zizmor(ROOT) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "audit"),
    [
        (PREVIEW, CHECKOUT, "actions/checkout@v4", "unpinned-uses"),
        (UP, "        with:\n          persist-credentials: false\n", "", "artipacked"),
        (DEPLOY, NAMED_SECRETS, "secrets: inherit\n", "secrets-inherit"),
        (DEPLOY, "uses: $/.github/workflows/up.yml", "uses: ./.github/workflows/up.yml", "self-repository"),
    ],
    ids=["unpinned", "persisted credentials", "secrets inherit", "workspace-relative uses"],
)
def test_zizmor_catches_what_it_should(tmp_path: Path, file: str, old: str, new: str, audit: str) -> None:
    findings = zizmor(broken_copy(tmp_path, file, old, new))
    assert any(finding.startswith(f"{audit} {file}:") for finding in findings), findings


# --- the shape the README describes ---------------------------------------------------------------------------


def test_pull_requests_validate_diff_and_preview_every_stack() -> None:
    preview = workflow("preview.yml")
    assert preview["on"] == {"pull_request": {"branches": ["main"]}}
    check_steps = preview["jobs"]["check"]["steps"]
    assert any("nuketown-stack validate" in step.get("run", "") for step in check_steps)
    assert any("nuketown-stack diff" in step.get("run", "") for step in check_steps)
    pulumi = pulumi_step(preview["jobs"]["preview"])
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert preview["jobs"]["preview"]["permissions"]["pull-requests"] == "write"


def test_main_goes_up_on_staging_then_production_behind_its_environment() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["jobs"]["production"]["needs"] == ["stacks", "staging"]
    assert deploy["jobs"]["production"]["with"] == {"stack": "production"}
    up = workflow("up.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.stack }}"  # production's approval rule lives on its environment
    assert up["concurrency"]["cancel-in-progress"] is False
    assert pulumi_step(up)["with"]["command"] == "up"


# --- shell steps, run as the runner would run them -----------------------------------------------------------


def step_script(job: str, marker: str) -> str:
    [step] = [s for s in workflow("preview.yml")["jobs"][job]["steps"] if marker in s.get("run", "")]
    return step["run"]


def run_step(script: str, cwd: Path, env: dict[str, str], path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    search = os.pathsep.join([*map(str, path), str(BIN), os.environ["PATH"]])
    # GitHub runs `run:` steps as `bash --noprofile --norc -eo pipefail {0}`.
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": search, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def fake_cli(tmp_path: Path, exit_code: int) -> tuple[Path, Path]:
    """A `nuketown-stack` that records its arguments, prints a line and exits with `exit_code`."""
    bin_dir, args = tmp_path / "fakebin", tmp_path / "args.txt"
    bin_dir.mkdir()
    cli = bin_dir / "nuketown-stack"
    cli.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {args}\necho 'fake diff of {{vox}}'\nexit {exit_code}\n")
    cli.chmod(0o755)
    return bin_dir, args


def checkout_with_base(tmp_path: Path, base_stack_file: str | None) -> tuple[Path, Path]:
    checkout, runner_temp = tmp_path / "checkout", tmp_path / "runner"
    (runner_temp / "base").mkdir(parents=True)
    checkout.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", checkout)
    (checkout / "Pulumi.staging.yaml").write_text("config:\n  nuketown:source: spec.json\n")
    if base_stack_file is not None:
        (runner_temp / "base" / "Pulumi.staging.yaml").write_text(base_stack_file)
    return checkout, runner_temp


DIFF_OUTCOMES = {
    # (diff's exit code, accept-data-loss label): (the step's exit code, annotation it prints or None)
    (0, False): (0, None),
    (0, True): (0, None),
    (3, False): (1, "::error::stack staging: this PR would delete or replace"),
    (3, True): (0, "::warning::stack staging: this PR would lose data (accepted"),
    (4, False): (1, "::error::stack staging: this PR has a change the Pulumi engine can never apply"),
    (4, True): (1, "::error::stack staging: this PR has a change the Pulumi engine can never apply"),
    (2, False): (2, "::error::stack staging: nuketown-stack diff rejected its input"),
    (1, True): (1, "::error::stack staging: nuketown-stack diff failed (exit 1)"),
}


def diff_step_env(runner_temp: Path, summary: Path, data_loss_accepted: bool = False) -> dict[str, str]:
    """The environment the check job gives its diff step, for stack staging and source spec.json."""
    return {
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "STACK": "staging",
        "SOURCE": "spec.json",
        "DATA_LOSS_ACCEPTED": "true" if data_loss_accepted else "false",
    }


@pytest.mark.parametrize(
    ("diff_exit", "label"),
    list(DIFF_OUTCOMES),
    ids=[f"exit{c}-{'label' if lb else 'nolabel'}" for c, lb in DIFF_OUTCOMES],
)
def test_the_diff_step_acts_on_each_exit_code(tmp_path: Path, diff_exit: int, label: bool) -> None:
    """0 passes; 3 (data loss) fails unless the PR has the label accept-data-loss; 4 (can never apply) always fails."""
    step_exit, annotation = DIFF_OUTCOMES[(diff_exit, label)]
    checkout, runner_temp = checkout_with_base(tmp_path, "config:\n  nuketown:source: spec.json\n")
    bin_dir, _ = fake_cli(tmp_path, diff_exit)
    summary = tmp_path / "summary.md"
    env = diff_step_env(runner_temp, summary, data_loss_accepted=label)
    result = run_step(step_script("check", "nuketown-stack diff"), checkout, env, (bin_dir,))
    assert result.returncode == step_exit, result.stdout + result.stderr
    assert "fake diff of {vox}" in summary.read_text()
    annotations = [line for line in result.stdout.splitlines() if line.startswith(("::error::", "::warning::"))]
    if annotation is None:
        assert annotations == []
    else:
        assert len(annotations) == 1 and annotations[0].startswith(annotation), annotations


@pytest.mark.parametrize(
    ("base_stack_file", "expected_base", "expected_flag"),
    [
        ("config:\n  nuketown:source: old.json\n", "base/old.json", True),
        ("config:\n  nuketown:source: .#spec\n", "base#spec", True),
        (None, "base/spec.json", False),
    ],
    ids=["base settings", "base flake", "new stack"],
)
def test_the_diff_step_gives_each_side_its_own_settings(
    tmp_path: Path, base_stack_file: str | None, expected_base: str, expected_flag: bool
) -> None:
    """The base side takes the base branch's Pulumi.<stack>.yaml (its source too); a stack new in the PR has none."""
    checkout, runner_temp = checkout_with_base(tmp_path, base_stack_file)
    bin_dir, args_file = fake_cli(tmp_path, 0)
    env = diff_step_env(runner_temp, tmp_path / "summary.md")
    result = run_step(step_script("check", "nuketown-stack diff"), checkout, env, (bin_dir,))
    assert result.returncode == 0, result.stdout + result.stderr
    args = args_file.read_text().splitlines()
    assert args[:2] == ["diff", str(runner_temp / expected_base)] and args[2:5] == ["spec.json", "--stack", "staging"]
    if expected_flag:
        assert args[5:] == ["--base-stack-file", str(runner_temp / "base" / "Pulumi.staging.yaml")]
    else:
        assert args[5:] == []
        assert "::notice::stack staging is new in this PR" in result.stdout


def test_the_diff_step_compares_a_renamed_stack_with_its_old_self(tmp_path: Path) -> None:
    """A PR that renames Pulumi.staging-old.yaml to Pulumi.staging.yaml: git (the merge commit and its first parent,
    as the checkout fetches them) says so, and the base side is the old stack's file, so diff sees every derived
    name move (test_diff.py::test_a_stack_rename_moves_every_name)."""
    checkout, runner_temp = checkout_with_base(tmp_path, None)
    (checkout / "Pulumi.staging.yaml").unlink()
    git = ["git", "-C", str(checkout), "-c", "user.email=ci@example", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], check=True)
    (checkout / "Pulumi.staging-old.yaml").write_text("config:\n  nuketown:source: spec.json\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    subprocess.run([*git, "mv", "Pulumi.staging-old.yaml", "Pulumi.staging.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "rename"], check=True)
    (runner_temp / "base" / "Pulumi.staging-old.yaml").write_text("config:\n  nuketown:source: spec.json\n")
    bin_dir, args_file = fake_cli(tmp_path, 0)
    env = diff_step_env(runner_temp, tmp_path / "summary.md")
    result = run_step(step_script("check", "nuketown-stack diff"), checkout, env, (bin_dir,))
    assert result.returncode == 0, result.stdout + result.stderr
    args = args_file.read_text().splitlines()
    assert args[5:] == ["--base-stack-file", str(runner_temp / "base" / "Pulumi.staging-old.yaml")]
    assert "::notice::stack staging is renamed in this PR from staging-old" in result.stdout


@pytest.mark.parametrize(("label", "exit_code"), [(False, 1), (True, 0)], ids=["unlabelled", "accept-data-loss"])
def test_the_diff_step_fails_on_data_loss_unless_accepted(
    example_json: dict[str, Any], tmp_path: Path, label: bool, exit_code: int
) -> None:
    """The real CLI on a real data-losing change (the stack new in the PR, so no --base-stack-file)."""
    head = json.loads(json.dumps(example_json))
    head["agents"]["vox"]["persist"] = head["agents"]["vox"]["persist"][:1]  # drops vox's datasets volume
    checkout, runner_temp = checkout_with_base(tmp_path, None)
    (runner_temp / "base" / "spec.json").write_text(json.dumps(example_json))
    (checkout / "spec.json").write_text(json.dumps(head))
    summary = tmp_path / "summary.md"
    env = diff_step_env(runner_temp, summary, data_loss_accepted=label)
    result = run_step(step_script("check", "nuketown-stack diff"), checkout, env)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert "**KEPT: volume vox-datasets leaves the stack" in summary.read_text()
    annotation = "::warning::" if label else "::error::"
    assert annotation in result.stdout


def test_the_diff_step_passes_the_base_settings_to_the_real_cli(example_json: dict[str, Any], tmp_path: Path) -> None:
    """The real CLI takes the step's --base-stack-file and runs the diff with each side's settings."""
    checkout, runner_temp = checkout_with_base(tmp_path, "config:\n  nuketown:source: spec.json\n")
    (runner_temp / "base" / "spec.json").write_text(json.dumps(example_json))
    (checkout / "spec.json").write_text(json.dumps(example_json))
    env = diff_step_env(runner_temp, tmp_path / "summary.md")
    result = run_step(step_script("check", "nuketown-stack diff"), checkout, env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("violations", "exit_code"), [([], 0), (["rule-a: agent vox: bad", "rule-b: x"], 1)])
def test_the_offline_policy_step_fails_on_violations(
    example_json: dict[str, Any], tmp_path: Path, violations: list[str], exit_code: int
) -> None:
    """The real `nuketown-stack plan --json` and policy/pack_config.py (the stack file's allow-lists as the
    pack's config), then a stand-in policy/offline.py with its interface: the plan's path and --config,
    one line per violation, exit 0 clean or 1."""
    checkout, runner_temp = checkout_with_base(tmp_path, None)
    (checkout / "spec.json").write_text(json.dumps(example_json))
    (checkout / "policy").mkdir()
    _copy_pack_config(checkout)
    (checkout / "Pulumi.staging.yaml").write_text(
        "config:\n  nuketown:source: spec.json\n  nuketown:allowedScopes:\n    ada: [shared-*]\n"
    )
    (checkout / "policy" / "offline.py").write_text(
        "import json, sys\n"
        "plan = json.load(open(sys.argv[1]))\n"
        "assert plan, 'empty plan'\n"
        "assert sys.argv[2] == '--config', sys.argv\n"
        "config = json.load(open(sys.argv[3]))\n"
        "assert config['nuketown-scope-ownership']['allowedScopes'] == {'ada': ['shared-*']}, config\n"
        f"lines = {violations!r}\n"
        "print(*lines, sep='\\n') if lines else None\n"
        "sys.exit(1 if lines else 0)\n"
    )
    summary = tmp_path / "summary.md"
    env = {"RUNNER_TEMP": str(runner_temp), "GITHUB_STEP_SUMMARY": str(summary), "STACK": "staging"}
    env["SOURCE"] = "spec.json"
    result = run_step(step_script("check", "python policy/offline.py"), checkout, env)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert (runner_temp / "plan.staging.json").is_file()
    for line in violations:
        assert line in result.stdout and f"- {line}" in summary.read_text()
    assert ("::error::stack staging: 2 policy violation(s)" in result.stdout) == bool(violations)


SALT = "encryptionsalt: v1:c2FsdA==:v1:aXY=:Y2lwaGVy\n"


@pytest.mark.parametrize(
    ("stack_file", "exit_code", "message"),
    [
        (SALT + "config:\n  nuketown:source: spec.json\n", 0, None),
        ("secretsprovider: passphrase\n" + SALT + "config:\n  nuketown:source: spec.json\n", 0, None),
        (
            "secretsprovider: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k\nencryptedkey: AAAA\n"
            "config:\n  nuketown:source: spec.json\n",
            1,
            "needs decrypt rights on that key",
        ),
        (SALT + "config:\n  nuketown:source: spec.json\n  nuketown:token:\n    secure: AAAA\n", 1, "secret settings"),
    ],
    ids=["passphrase", "passphrase named", "cloud KMS", "secure setting"],
)
def test_the_preview_drops_the_salt_and_refuses_what_it_cannot_preview(
    tmp_path: Path, stack_file: str, exit_code: int, message: str | None
) -> None:
    """Before `pulumi preview`: the stack file's salt goes (so the state's secrets manager is used, locked by the
    wrong passphrase); a KMS secrets provider or a secret setting stops the job with the reason."""
    steps = workflow("preview.yml")["jobs"]["preview"]["steps"]
    [step] = [s for s in steps if s.get("name") == "Preview without the stack's secrets"]
    (tmp_path / "Pulumi.staging.yaml").write_text(stack_file)
    result = run_step(step["run"], tmp_path, {"STACK": "staging"})
    assert result.returncode == exit_code, result.stdout + result.stderr
    after = (tmp_path / "Pulumi.staging.yaml").read_text()
    if message is None:
        assert "encryptionsalt" not in after
        assert after == stack_file.replace(SALT, "")
    else:
        assert message in result.stdout and result.stdout.startswith("::error::")


def _copy_pack_config(checkout: Path) -> None:
    """policy/pack_config.py and the pack modules it reads the policies' config schema from."""
    for module in ("pack_config.py", "nuketown_policy.py", "nuketown_iam.py", "nuketown_values.py", "podsecurity.py"):
        shutil.copy(ROOT / "policy" / module, checkout / "policy")


@pytest.mark.parametrize(("workflow_file", "job"), [("preview.yml", "preview"), ("up.yml", "up")])
def test_the_pulumi_runs_get_the_stacks_allow_lists_as_pack_config(
    tmp_path: Path, workflow_file: str, job: str
) -> None:
    """Without it the pack refuses every allow-listed identity or scope the program accepts: the step writes
    policy/pack_config.py's output where the pulumi/actions step's policyPackConfigs reads it."""
    steps = workflow(workflow_file)["jobs"][job]["steps"]
    [step] = [s for s in steps if s.get("name") == "Policy pack config from the stack's allow-lists"]
    [pulumi] = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "${{ runner.temp }}/pack-config.json"
    assert steps.index(step) < steps.index(pulumi)
    checkout, runner_temp = tmp_path / "checkout", tmp_path / "runner"
    (checkout / "policy").mkdir(parents=True)
    runner_temp.mkdir()
    _copy_pack_config(checkout)
    allowed = {"rio": "rio-agent@fleet-project.iam.gserviceaccount.com"}
    (checkout / "Pulumi.staging.yaml").write_text(
        yaml.safe_dump({"config": {"nuketown:allowedIdentities": json.dumps(allowed)}})
    )
    result = run_step(step["run"], checkout, {"STACK": "staging", "RUNNER_TEMP": str(runner_temp)})
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((runner_temp / "pack-config.json").read_text())
    assert config["nuketown-identity-binding"]["allowedIdentities"] == allowed
    assert config["nuketown-scope-ownership"]["allowedScopes"] == {}
    assert {policy["environment"] for policy in config.values()} == {"staging"}  # how the stack derives names
