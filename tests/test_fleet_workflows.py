"""The fleet's workflows (fleet-preview.yml, fleet-deploy.yml with fleet-up.yml, fleet-drift.yml): shaped as
docs/ci.md says, each rule shown to fail on a broken copy, and their shell steps run for real.

actionlint and zizmor cover these files with the others (tests/test_workflows.py lints all of .github). What
the steps rely on, read in source: pulumi/actions v6.6.1 installs the CLI and stops when no `command` is
given (`src/main.ts` 26-31, `src/config.ts` 18-45, `makeInstallationConfig`), and adds it to PATH
(`src/libs/pulumi-cli.ts` 183); `pulumi stack export --file` (pulumi/pulumi
`pkg/cmd/pulumi/stack/stack_export.go` 145-148), `pulumi state move --source --dest --yes URN...`
(`pkg/cmd/pulumi/state/state_move.go` 135-148, 538) and `pulumi preview --refresh --expect-no-changes --json`
(`pkg/cmd/pulumi/operations/preview.go` 635-636, 688-690, 760-763, 773-776), at commit 1b5949891b.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from shard_env import generated, make_environment
from test_workflows import (
    DEPLOY_CREDENTIALS,
    FORK_GUARD,
    SECRETS_REF,
    broken_copy,
    environment_name,
    run_step,
    setup_step,
    text,
    workflow,
)

PREVIEW, DEPLOY, UP, DRIFT = (f"fleet-{name}.yml" for name in ("preview", "deploy", "up", "drift"))
PULUMI_ACTION = "pulumi/actions@"
NAMED_SECRETS = (
    "    secrets:\n      PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}\n"
    "      PULUMI_ACCESS_TOKEN: ${{ secrets.PULUMI_ACCESS_TOKEN }}\n"
)
DEPLOYMENT_URN = "urn:pulumi:fleet--s01::nuketown::nuketown:index:Agent$kubernetes:apps/v1:Deployment::ada-0"


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def read_only_preview_problems(where: str, job: dict[str, Any], environment: str) -> list[str]:
    """A job that runs `pulumi preview` holds the read-only identity of `environment` and nothing that decrypts
    stack secrets: no secret, no Pulumi token, a public passphrase placeholder, the state's (locked) manager."""
    problems = []
    if environment_name(job) != environment:
        problems.append(f"{where} runs in environment {environment_name(job)!r}, not {environment}")
    body = text(job)
    if DEPLOY_CREDENTIALS.search(body) or SECRETS_REF.search(body):
        problems.append(f"{where} references secrets or deploy credentials")
    env = job.get("env", {})
    if "PULUMI_ACCESS_TOKEN" in env or "${{" in str(env.get("PULUMI_CONFIG_PASSPHRASE", "${{")):
        problems.append(f"{where} has a Pulumi token or a passphrase that is not a public placeholder")
    if str(env.get("PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER")).lower() != "true":
        problems.append(f"{where} does not take its secrets manager from the state (locked)")
    identity = setup_step(job).get("with", {})
    if identity.get("gcp-service-account") != "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}":
        problems.append(f"{where}'s GCP identity is {identity.get('gcp-service-account')!r}")
    if identity.get("aws-role-to-assume") != "${{ vars.AWS_PREVIEW_ROLE_ARN }}":
        problems.append(f"{where}'s AWS identity is {identity.get('aws-role-to-assume')!r}")
    return problems


def preview_problems(root: Path) -> list[str]:
    """Every pull request previews exactly the touched shards, one matrix job each, in `preview`, never for a fork;
    the other jobs hold nothing; one summary job writes the fleet's summary."""
    document = workflow(PREVIEW, root)
    jobs = document["jobs"]
    problems = (
        [] if document["on"] == {"pull_request": {"branches": ["main"]}} else [f"{PREVIEW} runs on {document['on']}"]
    )
    preview = jobs.get("preview", {})
    problems += read_only_preview_problems(f"{PREVIEW}: job preview", preview, "preview")
    if FORK_GUARD not in preview.get("if", ""):
        problems.append(f"{PREVIEW}: the preview job is not skipped for forks")
    if preview.get("strategy", {}).get("matrix", {}).get("stack") != "${{ fromJSON(needs.shards.outputs.touched) }}":
        problems.append(f"{PREVIEW}: the preview matrix is not the touched shards")
    touched = [s["run"] for s in steps(jobs.get("shards", {})) if "nuketown-stack diff" in s.get("run", "")]
    if not touched or "--env" not in touched[0]:
        problems.append(f"{PREVIEW}: the shards job does not run `nuketown-stack diff --env`")
    pulumi = [s for s in steps(preview) if str(s.get("uses", "")).startswith(PULUMI_ACTION)]
    if not pulumi or pulumi[0]["with"].get("command") != "preview" or pulumi[0]["with"].get("comment-on-pr"):
        problems.append(f"{PREVIEW}: the preview job does not run `pulumi preview` (without a comment per shard)")
    summary = jobs.get("summary", {})
    if summary.get("permissions") != {} or any("checkout" in str(s.get("uses", "")) for s in steps(summary)):
        problems.append(f"{PREVIEW}: the summary job holds a permission or runs the repository's code")
    return problems


def deploy_problems(root: Path) -> list[str]:
    """Pushes to main go up on the touched shards through fleet-up.yml, in the environment named after the
    nuketown environment, with named secrets it declares: the first shard alone, then the rest; moves first."""
    deploy, up = workflow(DEPLOY, root), workflow(UP, root)
    problems = [] if deploy["on"] == {"push": {"branches": ["main"]}} else [f"{DEPLOY} runs on {deploy['on']}"]
    declared = set((up["on"]["workflow_call"].get("secrets") or {}).keys())
    callers = {k: j for k, j in deploy["jobs"].items() if str(j.get("uses", "")).endswith("/fleet-up.yml")}
    for job_id, job in callers.items():
        passed = job.get("secrets")
        if not isinstance(passed, dict) or set(passed) - declared:
            problems.append(f"{DEPLOY}: job {job_id} passes secrets {passed} (name each one fleet-up.yml declares)")
    summary = deploy["jobs"].get("summary", {})
    if summary.get("permissions") != {} or any("checkout" in str(s.get("uses", "")) for s in steps(summary)):
        problems.append(f"{DEPLOY}: no summary job, or it holds a permission or runs the repository's code")
    if "first" not in callers.get("rest", {}).get("needs", []):
        problems.append(f"{DEPLOY}: the rest of the shards do not wait for the first")
    for job_id, job in up["jobs"].items():
        if environment_name(job) != "${{ inputs.environment }}":
            problems.append(f"{UP}: job {job_id} runs outside the environment's GitHub environment")
        used = set(re.findall(r"secrets\.(\w+)", text(job))) - {"GITHUB_TOKEN"}
        if used - declared:
            problems.append(f"{UP}: job {job_id} uses undeclared secrets {sorted(used - declared)}")
    moves = "\n".join(s.get("run", "") for s in steps(up["jobs"].get("moves", {})))
    if "pulumi state move" not in moves or "nuketown-stack agent-urns" not in moves:
        problems.append(f"{UP}: the moves job does not carry agents with `pulumi state move` and agent-urns")
    if up["jobs"].get("up", {}).get("needs") != "moves":
        problems.append(f"{UP}: the shards go up without waiting for the moves")
    condition = str(up["jobs"].get("up", {}).get("if"))
    if "!cancelled()" not in condition or "always()" in condition or "needs.moves.result == 'success'" not in condition:
        problems.append(f"{UP}: the shards go up after failed moves or in a cancelled run")
    pulumi = [s for s in steps(up["jobs"].get("up", {})) if str(s.get("uses", "")).startswith(PULUMI_ACTION)]
    if not pulumi or pulumi[0]["with"].get("policyPacks") != "${{ github.workspace }}/policy":
        problems.append(f"{UP}: the up job does not run the policy pack")
    return problems


def drift_problems(root: Path) -> list[str]:
    """A schedule previews every shard with a refresh, expecting no change, with the read-only identity of the
    `drift` environment; the report job may write issues and nothing else, and runs none of the repository's code."""
    document = workflow(DRIFT, root)
    problems = [] if "schedule" in document["on"] else [f"{DRIFT} is not scheduled"]
    drift = document["jobs"].get("drift", {})
    problems += read_only_preview_problems(f"{DRIFT}: job drift", drift, "drift")
    preview = "\n".join(s.get("run", "") for s in steps(drift))
    if not all(
        flag in preview for flag in ("pulumi preview", "--refresh", "--expect-no-changes", "nuketown-stack drift")
    ):
        problems.append(f"{DRIFT}: the drift job does not run `pulumi preview --refresh --expect-no-changes`")
    report = document["jobs"].get("report", {})
    if report.get("permissions") != {"issues": "write"}:
        problems.append(f"{DRIFT}: the report job has permissions {report.get('permissions')}, not issues: write only")
    if any("checkout" in str(s.get("uses", "")) or "setup" in str(s.get("uses", "")) for s in steps(report)):
        problems.append(f"{DRIFT}: the report job runs the repository's code")
    return problems


RULES = {"preview": preview_problems, "deploy": deploy_problems, "drift": drift_problems}


@pytest.mark.parametrize("rule", RULES)
def test_the_fleet_workflows_keep_the_rule(rule: str) -> None:
    assert RULES[rule](ROOT) == []


BREAKS = {
    "preview for forks": ("preview", PREVIEW, FORK_GUARD, "true", "not skipped for forks"),
    "every shard previewed": (
        "preview",
        PREVIEW,
        "stack: ${{ fromJSON(needs.shards.outputs.touched) }}\n    env:",
        "stack: [fleet--s00]\n    env:",
        "not the touched shards",
    ),
    "a comment per shard": ("preview", PREVIEW, "comment-on-summary: true", "comment-on-pr: true", "a comment per"),
    "deployer in the preview": (
        "preview",
        PREVIEW,
        "vars.GCP_PREVIEW_SERVICE_ACCOUNT",
        "vars.GCP_DEPLOYER_SERVICE_ACCOUNT",
        "deploy credentials",
    ),
    "summary with a token": (
        "preview",
        PREVIEW,
        "    permissions: {}\n    steps:",
        "    permissions:\n      pull-requests: write\n    steps:",
        "summary job",
    ),
    "rest before first": ("deploy", DEPLOY, "needs: [shards, first]", "needs: [shards]", "do not wait for the first"),
    "secrets inherit": (
        "deploy",
        DEPLOY,
        NAMED_SECRETS + "\n  rest:",
        "    secrets: inherit\n\n  rest:",
        "passes secrets inherit",
    ),
    "deploy summary with a token": (
        "deploy",
        DEPLOY,
        "    needs: [shards, first, rest]\n    if: always() && needs.shards.result == 'success'\n"
        "    runs-on: ubuntu-latest\n    permissions: {}",
        "    needs: [shards, first, rest]\n    if: always() && needs.shards.result == 'success'\n"
        "    runs-on: ubuntu-latest\n    permissions:\n      contents: write",
        "no summary job",
    ),
    "up in a cancelled run": ("deploy", UP, "!cancelled() && (", "always() && (", "cancelled run"),
    "up before moves": ("deploy", UP, "    needs: moves\n", "", "without waiting for the moves"),
    "no state move": ("deploy", UP, 'pulumi state move --source "$from"', 'pulumi up --stack "$from"', "state move"),
    "up outside its environment": (
        "deploy",
        UP,
        "    environment: ${{ inputs.environment }}\n    concurrency:\n      group: pulumi-up",
        "    concurrency:\n      group: pulumi-up",
        "outside the environment",
    ),
    "drift without refresh": ("drift", DRIFT, '"$name" --refresh --expect', '"$name" --expect', "--refresh"),
    "drift with the deployer": (
        "drift",
        DRIFT,
        "vars.AWS_PREVIEW_ROLE_ARN",
        "vars.AWS_DEPLOYER_ROLE_ARN",
        "deploy credentials",
    ),
    "report with contents": (
        "drift",
        DRIFT,
        "      issues: write # the one",
        "      contents: write\n      issues: write # the one",
        "not issues: write only",
    ),
}


@pytest.mark.parametrize("name", BREAKS)
def test_each_fleet_rule_can_fail(tmp_path: Path, name: str) -> None:
    rule, file, old, new, expected = BREAKS[name]
    problems = RULES[rule](broken_copy(tmp_path, f".github/workflows/{file}", old, new))
    assert any(expected in problem for problem in problems), problems


def test_deploy_credentials_stay_in_fleet_up(tmp_path: Path) -> None:
    """tests/test_workflows.py's rule: deploy credentials appear only in up.yml, fleet-up.yml and their callers."""
    from test_workflows import up_problems

    root = broken_copy(
        tmp_path,
        f".github/workflows/{DRIFT}",
        "      GH_REPO: ${{ github.repository }}",
        "      P: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
    )
    assert "fleet-drift.yml: job report references deploy credentials" in up_problems(root)


# --- shell steps, run as the runner would run them -----------------------------------------------------------


def step_script(file: str, job: str, marker: str) -> str:
    [step] = [s for s in workflow(file)["jobs"][job]["steps"] if marker in s.get("run", "") or marker == s.get("name")]
    return str(step["run"])


def git(directory: Path, *argv: str) -> None:
    subprocess.run(
        ["git", "-C", str(directory), "-c", "user.email=ci@example", "-c", "user.name=ci", *argv],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def thirty() -> dict[str, Any]:
    return generated(30)


@pytest.fixture
def pull_request(tmp_path: Path, thirty: dict[str, Any]) -> tuple[Path, Path]:
    """A checkout whose HEAD changes one agent of a placed environment in examples/fleet, its base beside it
    (as `git worktree add $RUNNER_TEMP/base HEAD^1` leaves it), and RUNNER_TEMP."""
    checkout, runner = tmp_path / "checkout", tmp_path / "runner"
    runner.mkdir()
    environment = make_environment(checkout / "examples" / "fleet", thirty, bound=12)
    shutil.copytree(ROOT / "nix", checkout / "nix")
    subprocess.run(
        ["nuketown-stack", "shards", "--env", "fleet", "--write"],
        cwd=environment.directory,
        check=True,
        capture_output=True,
    )
    git(checkout, "init", "-q")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-qm", "base")
    environment.set_tier("cal-0", "large")
    git(checkout, "commit", "-qam", "cal-0 grows")
    git(checkout, "worktree", "add", "-q", str(runner / "base"), "HEAD^1")
    return checkout, runner


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_the_preview_lists_the_touched_shards_with_the_real_cli(
    pull_request: tuple[Path, Path], tmp_path: Path
) -> None:
    checkout, runner = pull_request
    env = {
        "RUNNER_TEMP": str(runner),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "FLEET_DIR": "examples/fleet",
        "FLEET_ENV": "fleet",
        "DATA_LOSS_ACCEPTED": "false",
    }
    diff = run_step(step_script(PREVIEW, "shards", "nuketown-stack diff"), checkout, env)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "environment fleet: 1 of 3 shards touched" in (tmp_path / "summary.md").read_text()
    touched = run_step(
        step_script(PREVIEW, "shards", "The shards to preview (every shard when the program changes)"), checkout, env
    )
    assert touched.returncode == 0, touched.stderr
    placement = json.loads((checkout / "examples/fleet/shards.fleet.json").read_text())["agents"]
    assert json.loads(outputs(tmp_path / "output")["touched"]) == [f"fleet--{placement['cal-0']}"]


def test_a_program_change_previews_every_shard(pull_request: tuple[Path, Path], tmp_path: Path) -> None:
    checkout, runner = pull_request
    (checkout / "nuketown_stack").mkdir()
    (checkout / "nuketown_stack" / "x.py").write_text("")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-qm", "the program changes")
    (runner / "fleet-diff.json").write_text(
        json.dumps({"touched": ["fleet--s01"], "shards": ["fleet--s00", "fleet--s01", "fleet--s02"]})
    )
    git(checkout, "worktree", "remove", "--force", str(runner / "base"))
    env = {
        "RUNNER_TEMP": str(runner),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "FLEET_DIR": "examples/fleet",
        "FLEET_ENV": "fleet",
    }
    # HEAD^1 is the commit before: its diff touches the program.
    touched = run_step(
        step_script(PREVIEW, "shards", "The shards to preview (every shard when the program changes)"), checkout, env
    )
    assert touched.returncode == 0, touched.stderr
    assert json.loads(outputs(tmp_path / "output")["touched"]) == ["fleet--s00", "fleet--s01", "fleet--s02"]


def fake(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_the_moves_step_carries_every_urn_of_the_agent(tmp_path: Path) -> None:
    """A stand-in `pulumi` records its arguments and exports a state; `nuketown-stack agent-urns` is the real one."""
    # As the shard's state holds them: the agent under the shard's Fleet, which stays behind.
    fleet = "urn:pulumi:fleet--s00::nuketown::nuketown:index:Fleet::nuketown"
    agent = "urn:pulumi:fleet--s00::nuketown::nuketown:index:Fleet$nuketown:index:Agent::bea-0"
    namespace = (
        "urn:pulumi:fleet--s00::nuketown::nuketown:index:Fleet$nuketown:index:Agent$kubernetes:core/v1:Namespace::bea-0"
    )
    root = "urn:pulumi:fleet--s00::nuketown::pulumi:pulumi:Stack::nuketown-fleet--s00"
    state = {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": root, "type": "pulumi:pulumi:Stack"},
                {"urn": fleet, "type": "nuketown:index:Fleet", "parent": root},
                {"urn": agent, "type": "nuketown:index:Agent", "parent": fleet},
                {"urn": namespace, "type": "kubernetes:core/v1:Namespace", "parent": agent},
            ]
        },
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    fake(
        bin_dir,
        "pulumi",
        f'echo "$@" >> {calls}\nif [ "$1 $2" = "stack export" ]; then cp {tmp_path / "state.json"} "$6"; fi\n',
    )
    (tmp_path / "fleet").mkdir()
    moves = [
        {"agent": "bea-0", "from": "fleet--s00", "to": "fleet--s02"},
        {"agent": "gone", "from": "fleet--s00", "to": "fleet--s01"},
    ]
    env = {"RUNNER_TEMP": str(tmp_path), "DIRECTORY": "fleet", "MOVES": json.dumps(moves), "PULUMI_ORG": ""}
    result = run_step(step_script(UP, "moves", "pulumi state move"), tmp_path, env, (bin_dir,))
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == [
        f"stack export --stack fleet--s00 --file {tmp_path}/export.json",
        f"state move --source fleet--s00 --dest fleet--s02 --yes {agent} {namespace}",
        f"stack export --stack fleet--s00 --file {tmp_path}/export.json",
    ]
    assert "::notice::gone is not in fleet--s00's state" in result.stdout


@pytest.mark.parametrize(
    ("pulumi_exit", "digest", "expected"),
    [
        (
            255,
            {
                "steps": [
                    {
                        "op": "update",
                        "urn": DEPLOYMENT_URN,
                        "newState": {"parent": "urn:pulumi:fleet--s01::nuketown::nuketown:index:Agent::ada-0"},
                        "detailedDiff": {"spec.replicas": {"kind": "update"}},
                    }
                ]
            },
            "- update `kubernetes:apps/v1:Deployment` ada-0 (spec.replicas)",
        ),
        (0, {"steps": [], "changeSummary": {"same": 3}}, "### fleet--s01: no drift"),
        (255, None, "### fleet--s01: the preview failed (exit 255) before it planned anything"),
    ],
)
def test_the_drift_step_names_agent_and_resource(tmp_path: Path, pulumi_exit: int, digest: Any, expected: str) -> None:
    (tmp_path / "examples/fleet").mkdir(parents=True)
    (tmp_path / "examples/fleet/Pulumi.fleet--s01.yaml").write_text("encryptionsalt: v1:x\nconfig: {}\n")
    bin_dir = tmp_path / "bin"
    printed = json.dumps(digest) if digest is not None else ""
    fake(bin_dir, "pulumi", f"printf '%s' '{printed}'\nexit {pulumi_exit}\n")
    env = {
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "STACK": "fleet--s01",
        "FLEET_DIR": "examples/fleet",
        "PULUMI_ORG": "",
    }
    result = run_step(step_script(DRIFT, "drift", "pulumi preview"), tmp_path, env, (bin_dir,))
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "drift" / "fleet--s01.md").read_text()
    assert expected in report and report in (tmp_path / "summary.md").read_text()
    assert "encryptionsalt" not in (tmp_path / "examples/fleet/Pulumi.fleet--s01.yaml").read_text()


@pytest.mark.parametrize(
    ("reports", "open_issue", "expected"),
    [
        (
            {"fleet--s00": "### fleet--s00: no drift", "fleet--s01": "### fleet--s01: 1 resource(s) drifted"},
            "",
            "issue create --title Drift in environment fleet --label drift",
        ),
        ({"fleet--s01": "### fleet--s01: 1 resource(s) drifted"}, "7", "issue comment 7"),
        ({"fleet--s00": "### fleet--s00: no drift"}, "7", "issue close 7"),
        ({"fleet--s00": "### fleet--s00: no drift"}, "", None),
        # fleet--s01's job left no report: not counted as clean.
        ({"fleet--s00": "### fleet--s00: no drift", "fleet--s01": None}, "", "issue create --title Drift"),
    ],
)
def test_the_report_keeps_one_drift_issue(
    tmp_path: Path, reports: dict[str, str | None], open_issue: str, expected: str | None
) -> None:
    (tmp_path / "drift").mkdir()
    for stack, report in reports.items():
        if report is not None:
            (tmp_path / "drift" / f"{stack}.md").write_text(report + "\n")
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    fake(bin_dir, "gh", f'echo "$@" >> {calls}\nif [ "$1 $2" = "issue list" ]; then echo "{open_issue}"; fi\n')
    env = {
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "FLEET_ENV": "fleet",
        "RUN_URL": "https://x/run/1",
        "STACKS": json.dumps(sorted(reports)),
    }
    result = run_step(step_script(DRIFT, "report", "gh issue"), tmp_path, env, (bin_dir,))
    assert result.returncode == 0, result.stdout + result.stderr
    made = [line for line in calls.read_text().splitlines() if not line.startswith("issue list")]
    if expected is None:
        assert made == []
    else:
        assert len(made) == 1 and made[0].startswith(expected), made
    summary = (tmp_path / "summary.md").read_text()
    assert ("fleet--s01: 1 resource(s) drifted" in summary) == bool(reports.get("fleet--s01"))
    assert ("fleet--s01: no report" in summary) == ("fleet--s01" in reports and reports["fleet--s01"] is None)


def test_the_deploy_summary_names_every_touched_shard(tmp_path: Path) -> None:
    """One summary of the push: each touched shard's `pulumi up` outcome ("not run" when its job left none),
    the moves and the diff."""
    fleet = tmp_path / "fleet"
    (fleet / "up-fleet--s00").mkdir(parents=True)
    (fleet / "up-fleet--s00" / "fleet--s00.json").write_text('{"stack": "fleet--s00", "outcome": "success"}')
    (fleet / "fleet-diff").mkdir()
    (fleet / "fleet-diff" / "fleet-diff.md").write_text("environment fleet: 2 of 3 shards touched\n")
    env = {
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "FLEET_ENV": "fleet",
        "FIRST": '["fleet--s00"]',
        "REST": '["fleet--s02"]',
        "MOVES": '[{"agent": "bea-0", "from": "fleet--s00", "to": "fleet--s02"}]',
    }
    result = run_step(step_script(DEPLOY, "summary", "One summary of the environment"), tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "| fleet--s00 | success |" in summary and "| fleet--s02 | not run |" in summary
    assert "- bea-0 moved: fleet--s00 -> fleet--s02" in summary and "2 of 3 shards touched" in summary
