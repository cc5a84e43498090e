"""The GitHub workflows: clean under actionlint (with shellcheck on every `run:`), shaped as the README says,
and the PR diff step run for real on a data-losing change."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # actionlint and shellcheck come with the test extras


def actionlint(cwd: Path, *files: str) -> list[dict[str, Any]]:
    tool = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    assert tool, "actionlint is missing: run ./scripts/bootstrap.sh (it installs the test extras)"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [tool, "-format", "{{json .}}", *files], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout or "[]")


def workflow(name: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); map it back.
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    return {("on" if key is True else key): value for key, value in document.items()}


def test_shellcheck_is_there_so_run_scripts_are_checked() -> None:
    assert shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")


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


def test_pull_requests_validate_diff_and_preview_every_stack() -> None:
    preview = workflow("preview.yml")
    assert preview["on"] == {"pull_request": {"branches": ["main"]}}
    check_steps = preview["jobs"]["check"]["steps"]
    assert any("nuketown-stack validate" in step.get("run", "") for step in check_steps)
    assert any("nuketown-stack diff" in step.get("run", "") for step in check_steps)
    [pulumi] = [s for s in preview["jobs"]["preview"]["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
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
    [pulumi] = [s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "up"


# --- the diff step, run as the runner would run it --------------------------------------------------------


def diff_step_script() -> tuple[str, dict[str, str]]:
    [step] = [s for s in workflow("preview.yml")["jobs"]["check"]["steps"] if "nuketown-stack diff" in s.get("run", "")]
    return step["run"], step["env"]


@pytest.mark.parametrize(("label", "exit_code"), [(False, 1), (True, 0)], ids=["unlabelled", "accept-data-loss"])
def test_the_diff_step_fails_on_data_loss_unless_accepted(
    example_json: dict[str, Any], tmp_path: Path, label: bool, exit_code: int
) -> None:
    script, _ = diff_step_script()
    head = json.loads(json.dumps(example_json))
    head["agents"]["vox"]["persist"] = head["agents"]["vox"]["persist"][:1]  # drops vox's datasets volume
    checkout, runner_temp = tmp_path / "checkout", tmp_path / "runner"
    (runner_temp / "base").mkdir(parents=True)
    checkout.mkdir()
    (runner_temp / "base" / "spec.json").write_text(json.dumps(example_json))
    (checkout / "spec.json").write_text(json.dumps(head))
    shutil.copy(ROOT / "Pulumi.yaml", checkout)
    (checkout / "Pulumi.staging.yaml").write_text("config:\n  nuketown:source: spec.json\n")
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "STACK": "staging",
        "SOURCE": "spec.json",
        "DATA_LOSS_ACCEPTED": "true" if label else "false",
    }
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert "**DATA LOSS: volume vox-datasets leaves the stack" in summary.read_text()
    annotation = "::warning::" if label else "::error::"
    assert annotation in result.stdout
