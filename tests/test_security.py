"""Isolation between agents: each security finding reproduced with its evaluator, then shown refused by the CLI.

The spec may be written by the agents themselves, so an agent naming another
agent's identity, the deployer's, or a scope beyond its own name must be refused
unless the stack's operator allow-listed it (`nuketown:allowedIdentities`,
`nuketown:allowedScopes`).
"""

import json
from pathlib import Path
from typing import Any

import celpy
import pytest
from conftest import CLOUD_SETTINGS, EXAMPLE, config_flags, nix_eval

from nuketown_stack import cli
from nuketown_stack.errors import InputError
from nuketown_stack.program.mock_cloud import Kept

PROJECT = "acme-agents"
GCP = config_flags(CLOUD_SETTINGS["gcp"])
IRSA = config_flags(CLOUD_SETTINGS["irsa"])
POD_IDENTITY = config_flags(CLOUD_SETTINGS["podIdentity"])


def write_spec(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(raw))
    return str(path)


def with_eve(raw: dict[str, Any], **identity: str) -> dict[str, Any]:
    """A new agent `eve`, a copy of ada with its own uid and scope, and the identity fields given."""
    eve = json.loads(json.dumps(raw["agents"]["ada"]))
    eve.update(uid=1199, home="/agents/eve")
    eve["identity"] = {**eve["identity"], "scope": "eve-*", **identity}
    raw["agents"]["eve"] = eve
    return raw


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout, and stderr without the line naming the settings read."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    err = "".join(line for line in captured.err.splitlines(keepends=True) if not line.startswith("settings: "))
    return code, captured.out, err


VOX_ACCOUNT = f"nt-dev--vox@{PROJECT}.iam.gserviceaccount.com"
DEPLOYER = f"pulumi-deployer@{PROJECT}.iam.gserviceaccount.com"


def test_an_agent_cannot_take_the_account_this_stack_creates_for_another(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: before, `eve` naming vox's generated account planned with exit 0 and was granted it."""
    source = write_spec(tmp_path, with_eve(example_raw, gcpServiceAccount=VOX_ACCOUNT))
    code, out, err = run_cli(capsys, "plan", source, *GCP)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"agents.eve.cloud.identity.gcpServiceAccount: {VOX_ACCOUNT!r} is the identity this stack creates for vox; "
        "it cannot be given"
    ]
    # Even an operator's allow-list cannot hand one agent's account to another.
    allowed = json.dumps({"eve": VOX_ACCOUNT})
    code, _, err = run_cli(capsys, "plan", source, *GCP, "-c", f"nuketown:allowedIdentities={allowed}")
    assert code == 2
    assert "is the identity this stack creates for vox" in err


def test_an_existing_identity_needs_the_operators_allow_list(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: the deployer's own account (or any other) was bound as soon as the spec named it."""
    source = write_spec(tmp_path, with_eve(example_raw, gcpServiceAccount=DEPLOYER))
    code, _, err = run_cli(capsys, "render", source, *GCP)
    assert code == 2
    assert err.splitlines() == [
        f"agents.eve.cloud.identity.gcpServiceAccount: {DEPLOYER!r} is not allow-listed for eve; binding an existing "
        f"identity needs the stack's operator to set nuketown:allowedIdentities {{'eve': {DEPLOYER!r}}} "
        "in the stack settings"
    ]
    # Allow-listed for another agent is not allow-listed for eve.
    code, _, _ = run_cli(
        capsys, "render", source, *GCP, "-c", f"nuketown:allowedIdentities={json.dumps({'ada': DEPLOYER})}"
    )
    assert code == 2
    code, out, err = run_cli(
        capsys, "render", source, *GCP, "-c", f"nuketown:allowedIdentities={json.dumps({'eve': DEPLOYER})}"
    )
    assert code == 0, err
    assert f"iam.gke.io/gcp-service-account: {DEPLOYER}" in out


@pytest.mark.parametrize("mode", [IRSA, POD_IDENTITY], ids=["irsa", "pod-identity"])
def test_a_given_role_needs_the_allow_list_on_aws(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    """Finding 1: in Pod Identity mode any role ARN was associated (controller roles often trust every pod)."""
    controller = "arn:aws:iam::111122223333:role/karpenter-controller"
    source = write_spec(tmp_path, with_eve(example_raw, awsRoleArn=controller))
    code, _, err = run_cli(capsys, "plan", source, *mode)
    assert code == 2
    assert err.startswith(f"agents.eve.cloud.identity.awsRoleArn: {controller!r} is not allow-listed for eve")
    vox_role = "arn:aws:iam::111122223333:role/nuketown-dev--vox"
    source = write_spec(tmp_path, with_eve(example_raw, awsRoleArn=vox_role))
    code, _, err = run_cli(
        capsys, "plan", source, *mode, "-c", f"nuketown:allowedIdentities={json.dumps({'eve': vox_role})}"
    )
    assert code == 2
    assert "is the identity this stack creates for vox; it cannot be given" in err


def test_identities_of_another_cloud_are_not_checked_against_this_ones_allow_list(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GCP account in the spec of an AWS stack binds nothing there, so it needs no allow-list entry."""
    source = write_spec(tmp_path, with_eve(example_raw, gcpServiceAccount=DEPLOYER))
    code, _, err = run_cli(capsys, "render", source, *IRSA)
    assert code == 0, err


def _cel_allows(expression: str, resource_name: str) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": resource_name})}))


@pytest.mark.parametrize(
    ("scope", "reaches"),
    [("ada*", "projects/_/buckets/adam-payroll"), ("p*", "projects/_/buckets/prod-terraform-state")],
)
def test_a_scope_beyond_the_agents_name_is_refused(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], scope: str, reaches: str
) -> None:
    """Finding 4: the storage condition built from such a scope reaches other people's buckets (cel-python)."""
    condition = f'resource.name.startsWith("projects/_/buckets/{scope[:-1]}")'
    assert _cel_allows(condition, reaches)  # what the grant would have allowed
    example_raw["agents"]["ada"]["identity"]["scope"] = scope
    source = write_spec(tmp_path, example_raw)
    code, _, err = run_cli(capsys, "plan", source, *GCP)
    assert code == 2
    assert err.splitlines() == [
        f"agents.ada.cloud.identity.scope: {scope!r} reaches beyond ada's own names; a scope starts with 'ada-' "
        "(like 'ada-*'), or the stack's operator allow-lists it in nuketown:allowedScopes"
    ]


def test_an_allow_listed_scope_is_accepted(
    example_raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example_raw["agents"]["ada"]["identity"]["scope"] = "ml-shared-*"
    source = write_spec(tmp_path, example_raw)
    allowed = json.dumps({"ada": ["ml-shared-*"]})
    code, out, err = run_cli(capsys, "plan", source, *GCP, "--json", "-c", f"nuketown:allowedScopes={allowed}")
    assert code == 0, err
    grants = [r for r in json.loads(out)["resources"] if r["type"] == "gcp:projects/iAMMember:IAMMember"]
    assert [g["inputs"]["condition"]["expression"] for g in grants if g["name"] == "ada-storage"] == [
        'resource.name.startsWith("projects/_/buckets/ml-shared-")'
    ]


# --- finding 5, in the cloud: two stacks whose names derive the same account or role -----------------------


def _renamed(raw: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    agent = raw["agents"].pop(old)
    agent["identity"]["scope"] = f"{new}-*"
    raw["agents"][new] = agent
    return raw


def _run_with_kept(raw: dict[str, Any], tmp_path: Path, stack: str, cloud: str, kept: Kept, **config: Any) -> Any:
    from nuketown_stack.program.engine import run_program
    from nuketown_stack.program.program import define_stack

    source = tmp_path / f"{stack}.json"
    source.write_text(json.dumps(raw))
    config = {"nuketown:source": str(source), **CLOUD_SETTINGS[cloud], **config}
    return run_program(define_stack, stack, config, kept=kept)


@pytest.mark.parametrize(
    ("cloud", "kept", "what"),
    [
        ("gcp", Kept(gcp_accounts=(("nt-dev-x-ada", "dev-x", "ada"),)), "GCP service account nt-dev-x-ada"),
        ("irsa", Kept(aws_roles=(("nuketown-dev-x-ada", "dev-x", "ada"),)), "IAM role nuketown-dev-x-ada"),
        ("podIdentity", Kept(aws_roles=(("nuketown-dev-x-ada", "dev-x", "ada"),)), "IAM role nuketown-dev-x-ada"),
    ],
)
def test_an_identity_of_another_stack_with_the_same_derived_name_is_not_adopted(
    example_raw: dict[str, Any], tmp_path: Path, cloud: str, kept: Kept, what: str
) -> None:
    """Stack dev-x runs agent ada; an agent pushed to stack dev as `x-ada` derives the same account id or role
    name, in the legacy form both stacks keep (nuketown:legacyNames). Before, the account was taken over by
    createIgnoreAlreadyExists and the role imported (its trust rewritten to x-ada): x-ada held ada's identity,
    key grants and buckets. Now the program refuses."""
    raw = _renamed(example_raw, "ada", "x-ada")
    with pytest.raises(InputError) as refused:
        _run_with_kept(raw, tmp_path, "dev", cloud, kept, **{"nuketown:legacyNames": True})
    [problem] = refused.value.problems
    assert problem.startswith(f"agents.x-ada: {what} already exists and is not this agent's (")
    assert "ada" in problem and "dev-x" in problem


@pytest.mark.parametrize(
    ("cloud", "kept"),
    [
        ("gcp", Kept(gcp_accounts=(("nt-dev--x-ada", "dev", "x-ada"),))),
        ("irsa", Kept(aws_roles=(("nuketown-dev--x-ada", "dev", "x-ada"),))),
    ],
)
def test_the_agents_own_kept_identity_is_adopted(
    example_raw: dict[str, Any], tmp_path: Path, cloud: str, kept: Kept
) -> None:
    raw = _renamed(example_raw, "ada", "x-ada")
    result = _run_with_kept(raw, tmp_path, "dev", cloud, kept)
    if cloud == "gcp":
        account = next(
            r for r in result.resources if r.type == "gcp:serviceaccount/account:Account" and r.name == "x-ada"
        )
        assert account.inputs["createIgnoreAlreadyExists"] is True
    else:
        role = next(r for r in result.resources if r.type == "aws:iam/role:Role" and r.name == "x-ada")
        assert role.import_id == "nuketown-dev--x-ada"
        assert role.inputs["tags"] == {"nuketown.io/stack": "dev", "nuketown.io/agent": "x-ada"}


def test_an_untagged_role_is_adopted_only_when_it_describes_the_agent() -> None:
    """Roles made before roles were tagged carry the agent only in their description."""
    from nuketown_stack.clouds.aws.plan import stack_plan
    from nuketown_stack.inputs.settings import settings_from_config
    from nuketown_stack.inputs.spec import load_spec

    settings = settings_from_config("dev", {**CLOUD_SETTINGS["irsa"], "nuketown:source": "unused"})
    spec = load_spec(_renamed(nix_eval(EXAMPLE), "ada", "x-ada"))
    plan = stack_plan(settings).agent_plan(settings, "x-ada", spec.agents["x-ada"], "nuketown-dev--x-ada", "x-ada")
    assert plan.adoption_problem({}, "Workload identity of nuketown agent x-ada; managed by Pulumi.") is None
    problem = plan.adoption_problem({}, "Workload identity of nuketown agent ada; managed by Pulumi.")
    assert problem is not None and "description 'Workload identity of nuketown agent ada" in problem
    assert plan.adoption_problem({}, None) is not None  # made by hand: never taken over
    assert plan.adoption_problem({"nuketown.io/agent": "x-ada", "nuketown.io/stack": "dev-x"}, None) is not None


# --- finding 11: what a pod must not be pointed at --------------------------------------------------------


def _tiers_with(raw: dict[str, Any], **tier: Any) -> dict[str, Any]:
    raw["tiers"]["standard"] = {**raw["tiers"]["standard"], **tier}
    return raw


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda raw: raw["agents"]["ada"].update(env={"AWS_WEB_IDENTITY_TOKEN_FILE": "/tmp/t"}),
            "agents.ada.cloud.env: 'AWS_WEB_IDENTITY_TOKEN_FILE' would redirect the pod's cloud credentials",
        ),
        (
            lambda raw: raw["agents"]["ada"].update(env={"GOOGLE_APPLICATION_CREDENTIALS": "/tmp/key.json"}),
            "agents.ada.cloud.env: 'GOOGLE_APPLICATION_CREDENTIALS' would redirect the pod's cloud credentials",
        ),
        (
            lambda raw: raw["agents"]["ada"].update(env={"LD_PRELOAD": "/tmp/x.so"}),
            "agents.ada.cloud.env: 'LD_PRELOAD' changes what the dynamic loader loads",
        ),
        (
            lambda raw: _tiers_with(raw, nodeSelector={"node-role.kubernetes.io/control-plane": ""}),
            "selects control-plane nodes, where agents never run",
        ),
        (
            lambda raw: _tiers_with(raw, tolerations=[{"operator": "Exists"}]),
            "a toleration without a key tolerates every taint",
        ),
        (
            lambda raw: _tiers_with(
                raw, tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]
            ),
            "is the control-plane taint, where agents never run",
        ),
        (
            lambda raw: raw["agents"]["ada"].update(network={"egress": [{"cidr": "::ffff:10.0.0.0/104"}]}),
            "is an IPv4-mapped IPv6 network; write the IPv4 network instead",
        ),
        (
            lambda raw: raw["agents"]["ada"].update(network={"egress": [{"cidr": "169.254.169.254/32"}]}),
            "the instance metadata service that holds node credentials; it stays blocked",
        ),
    ],
    ids=[
        "web identity token file",
        "google credentials",
        "loader",
        "control-plane selector",
        "toleration of everything",
        "control-plane toleration",
        "ipv4-mapped cidr",
        "metadata without a cloud",
    ],
)
def test_a_pod_cannot_be_pointed_at_credentials_loaders_or_the_control_plane(
    example_raw: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Any,
    expected: str,
) -> None:
    mutate(example_raw)
    code, out, err = run_cli(capsys, "validate", write_spec(tmp_path, example_raw), "--defaults")
    assert (code, out) == (2, "")
    assert expected in err, err


PINNED = "ghcr.io/acme/nuketown-ada:1.2@sha256:" + "ab" * 32
NIX_IMAGE = "nix:0/nix/store/8l8jh5ji0nx3k8wqr8mvv6dfa5gzcpfi-nix-image-nuketown-vox.tar"


@pytest.mark.parametrize(
    "image",
    [
        "nuketown-ada:latest",
        "ghcr.io/acme/nuketown-ada:1.2",
        "ghcr.io/acme/nuketown-ada@sha256:" + "ab" * 31,  # a digest one byte short
        "ghcr.io/acme/nuketown-ada@sha256:" + "AB" * 32,  # digests are lowercase hex
        "@sha256:" + "ab" * 32,  # no name
        "nix:0/nix/store/../../tmp/ada.tar",  # not a store path named by its hash
    ],
)
def test_an_unpinned_image_is_refused_when_the_stack_requires_digests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_raw: dict[str, Any], image: str
) -> None:
    raw = json.loads(json.dumps(example_raw))
    raw["agents"]["ada"]["image"] = image
    raw["agents"]["vox"]["image"] = NIX_IMAGE
    spec = write_spec(tmp_path, raw)
    code, _, err = run_cli(capsys, "validate", spec, "-c", "nuketown:requireImageDigests=true")
    assert code == 2
    assert err == (
        f"agents.ada.cloud.image: {image!r} is not pinned: whoever can push to its registry can change what runs; "
        "this stack requires name@sha256:<digest> or an image built by nix (nuketown:requireImageDigests)\n"
    )
    assert run_cli(capsys, "validate", spec)[0] == 0  # off by default: a local k3s runs its :latest tag


def test_images_pinned_by_digest_or_built_by_nix_pass_and_render_as_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_raw: dict[str, Any]
) -> None:
    raw = json.loads(json.dumps(example_raw))
    raw["agents"]["ada"]["image"] = PINNED
    raw["agents"]["vox"]["image"] = NIX_IMAGE
    code, out, _ = run_cli(capsys, "render", write_spec(tmp_path, raw), "-c", "nuketown:requireImageDigests=true")
    assert code == 0
    assert f"image: {PINNED}\n" in out and f"image: {NIX_IMAGE}\n" in out
