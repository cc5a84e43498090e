"""What the workflows read from the real engine's files: `agent-urns` on a `pulumi stack export`, and `drift` on
a `pulumi preview --refresh --json`.

Both shapes were read in pulumi/pulumi at commit 1b5949891b (2026-08-21, after v3.259.0):
- a stack export is apitype.UntypedDeployment (`sdk/go/common/apitype/core.go`, 382) holding a DeploymentV3
  (156) whose `resources` are apitype.ResourceV3 with `urn`, `type` and `parent` (489-520);
- `pulumi preview --json` prints one PreviewDigest (`pkg/backend/display/json.go`, ShowPreviewDigest, 161-266,
  getPreviewMetadataStep, 269-310; `pkg/display/json.go`, 32-84): `steps`, each with `op`, `urn`,
  `oldState`/`newState` (ResourceV3, so with `parent`), `diffReasons` and `detailedDiff`; `diagnostics` with a
  `severity`; and `changeSummary`. Same
  steps are not shown (`shouldShow`, `pkg/backend/display/display.go` 308-329) but the root stack's is. With
  `--refresh` a drifted resource's refresh step is followed by the step that changes it back, and
  `--expect-no-changes` fails the preview when any step is other than same or read
  (`pkg/engine/update.go`, HasChanges, 531-542; `pkg/cmd/pulumi/operations/preview.go`, 635-636); a refresh
  step is not counted in a preview (`pkg/resource/deploy/step.go`, RefreshStep.Logical is false, 1500).
"""

import json
from pathlib import Path
from typing import Any

import pytest

from nuketown_stack import cli

STACK = "urn:pulumi:fleet--s03::nuketown::"
AGENT = "nuketown:index:Agent"


def urn(chain: str, name: str) -> str:
    return f"{STACK}{chain}::{name}"


def export(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"version": 3, "deployment": {"manifest": {}, "resources": list(resources)}}


def resource(chain: str, name: str, parent: str | None = None) -> dict[str, Any]:
    found = {"urn": urn(chain, name), "type": chain.rsplit("$", 1)[-1], "custom": True}
    return found | ({"parent": parent} if parent else {})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_agent_urns_lists_the_agent_and_everything_under_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = resource("pulumi:pulumi:Stack", "nuketown-fleet--s03")
    ada = resource(AGENT, "ada", root["urn"])
    ada_x = resource(AGENT, "ada-x", root["urn"])  # a name ada's is a prefix of, and its children: not ada's
    state = export(
        root,
        resource("pulumi:providers:kubernetes", "kubernetes", root["urn"]),
        ada,
        ada_x,
        deployment := resource(f"{AGENT}$kubernetes:apps/v1:Deployment", "ada", ada["urn"]),
        resource(f"{AGENT}$kubernetes:apps/v1:Deployment$example:index:Child", "ada-deep", deployment["urn"]),
        resource(f"{AGENT}$kubernetes:apps/v1:Deployment", "ada-x", ada_x["urn"]),
        resource("gcp:kms/keyRing:KeyRing", "nuketown-fleet", root["urn"]),
    )
    path = tmp_path / "export.json"
    path.write_text(json.dumps(state))
    code, out, _ = run(capsys, "agent-urns", "ada", str(path))
    assert code == 0
    assert out.splitlines() == [
        urn(AGENT, "ada"),
        urn(f"{AGENT}$kubernetes:apps/v1:Deployment", "ada"),
        urn(f"{AGENT}$kubernetes:apps/v1:Deployment$example:index:Child", "ada-deep"),
    ]


def test_agent_urns_of_an_agent_not_in_the_state_is_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The move already happened (a re-run of the job): there is nothing to carry."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export(resource("pulumi:pulumi:Stack", "s"))))
    assert run(capsys, "agent-urns", "ada", str(path)) == (0, "", "")


def test_agent_urns_refuses_what_is_not_an_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "export.json"
    path.write_text('{"resources": []}')
    assert run(capsys, "agent-urns", "ada", str(path)) == (
        2,
        "",
        f"{path}: not a `pulumi stack export` (no deployment.resources)\n",
    )


# --- drift --------------------------------------------------------------------------------------------------

DEPLOYMENT = f"{AGENT}$kubernetes:apps/v1:Deployment"
GRANT = f"{AGENT}$gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"


def step(op: str, chain: str, name: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    state = {"urn": urn(chain, name), "type": chain.rsplit("$", 1)[-1], "parent": parent or ""}
    found: dict[str, Any] = {"op": op, "urn": urn(chain, name), "detailedDiff": None, **extra}
    found["oldState" if op == "delete" else "newState"] = state
    return found


DRIFTED = {
    "steps": [
        step("same", "pulumi:pulumi:Stack", "nuketown-fleet--s03"),
        step("refresh", DEPLOYMENT, "ada", urn(AGENT, "ada")),
        step(
            "update",
            DEPLOYMENT,
            "ada",
            urn(AGENT, "ada"),
            diffReasons=["spec"],
            detailedDiff={"spec.replicas": {"kind": "update", "inputDiff": False}},
        ),
        step("create", GRANT, "ada-decrypter", urn(AGENT, "ada")),
        step(
            "update",
            "gcp:kms/keyRing:KeyRing",
            "nuketown-fleet",
            urn("pulumi:pulumi:Stack", "s"),
            diffReasons=["labels"],
        ),
    ],
    "changeSummary": {"update": 2, "create": 1, "same": 3500},
}


def test_drift_names_the_agent_and_the_resource(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(DRIFTED))
    code, out, _ = run(capsys, "drift", str(path), "--stack", "fleet--s03")
    assert code == 3
    assert out.splitlines() == [
        "### fleet--s03: 3 resource(s) drifted from the code; the next `pulumi up` changes them back",
        "",
        "**agent ada**",
        "- update `kubernetes:apps/v1:Deployment` ada (spec.replicas)",
        "- create `gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember` ada-decrypter",
        "",
        "**the stack itself**",
        "- update `gcp:kms/keyRing:KeyRing` nuketown-fleet (labels)",
    ]


def test_no_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"steps": [step("same", "pulumi:pulumi:Stack", "s")], "changeSummary": {"same": 9}}))
    assert run(capsys, "drift", str(path), "--stack", "fleet--s03") == (0, "### fleet--s03: no drift\n", "")


def test_a_failed_preview_is_not_no_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = {"diagnostics": [{"message": "error: could not reach the cluster\n", "severity": "error"}]}
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(failed))
    code, out, _ = run(capsys, "drift", str(path), "--stack", "fleet--s03")
    assert code == 3
    assert out.splitlines() == ["### fleet--s03: the preview failed", "", "- error: could not reach the cluster"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[]", "not a `pulumi preview --json` digest (no steps)"), ("{", "not valid JSON (line 1, column 2)")],
)
def test_drift_refuses_what_is_not_a_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "preview.json"
    path.write_text(text)
    code, _, err = run(capsys, "drift", str(path), "--stack", "s")
    assert code == 2 and err.startswith(f"{path}: {expected}")
