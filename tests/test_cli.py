"""The command line as a user runs it: settings it reads and says it read, exit codes, output.

Everything runs in-process (`cli.main([...])`), except the few checks that need a real process: the
console script, a closed pipe, and output compared across two separate runs.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLOUD_SETTINGS, EXAMPLE, FLEET, OIDC_ARN, ROOT, config_flags

from nuketown_stack import cli

GCP = config_flags(CLOUD_SETTINGS["gcp"])


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def problems(self) -> list[str]:
        """stderr without the line that says which settings were read."""
        return [line for line in self.err.splitlines() if not line.split(": ", 1)[0].endswith("settings")]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """`nuketown-stack ARGS` in the repository (or `cwd`), in this process."""

    def invoke(*argv: str, cwd: Path = ROOT) -> Ran:
        monkeypatch.chdir(cwd)
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


def write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --- the everyday commands ---------------------------------------------------------------------------------


def test_validate_checks_the_spec_and_the_stacks_settings(run: Any) -> None:
    ran = run("validate", "examples/cloud-ada.nix")
    assert ran.code == 0, ran.err
    assert ran.out == (
        "ok: schemaVersion 1, 2 agents (ada, vox), tiers gpu, large, small, standard; "
        "checked with stack dev's settings\n"
    )
    assert ran.err.splitlines()[0] == "settings: Pulumi.dev.yaml (stack dev)"  # relative: under the working directory


def test_render_reads_the_stack_file_and_overrides(run: Any) -> None:
    """Pulumi.dev.yaml says scheduling none; -c puts tiers back."""
    dev = [d for d in yaml.safe_load_all(run("render", str(EXAMPLE)).out) if d["kind"] == "Deployment"]
    assert all("nodeSelector" not in d["spec"]["template"]["spec"] for d in dev)
    placed = [
        d
        for d in yaml.safe_load_all(run("render", str(EXAMPLE), "-c", "nuketown:scheduling=tiers").out)
        if d["kind"] == "Deployment"
    ]
    assert [d["spec"]["template"]["spec"]["nodeSelector"]["nuketown.io/tier"] for d in placed] == ["standard", "gpu"]


def test_render_from_stdin(run: Any, example_json: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(example_json)))
    from_stdin = run("render", "-")
    assert from_stdin.code == 0, from_stdin.err
    assert from_stdin.out == run("render", str(EXAMPLE)).out


def test_rendered_manifests_have_no_yaml_anchors(run: Any) -> None:
    rendered = run("render", str(FLEET), "-c", "nuketown:cloud=gcp", "-c", "gcp:project=p").out
    assert "&id" not in rendered and "*id" not in rendered


def test_plan_json_matches_render_with_sorted_keys(run: Any) -> None:
    ran = run("plan", str(FLEET), "--json", "-c", "nuketown:storageClass=standard-rwo")
    assert ran.code == 0, ran.err
    planned = json.loads(ran.out)
    assert ran.out == json.dumps(planned, indent=2, sort_keys=True) + "\n"  # stable, whatever the engine's order
    assert set(planned) == {"stack", "resources", "outputs"}
    keys = {"type", "name", "parent", "urn", "aliases", "inputs", "protect", "retainOnDelete", "dependencies"}
    for resource in planned["resources"]:
        assert set(resource) == keys
        assert resource["urn"].startswith("urn:pulumi:dev::nuketown::") and resource["urn"].endswith(resource["name"])
    kube = [r["inputs"] for r in planned["resources"] if r["type"].startswith("kubernetes:")]
    rendered = list(yaml.safe_load_all(run("render", str(FLEET), "-c", "nuketown:storageClass=standard-rwo").out))

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    assert sorted(kube, key=key) == sorted(rendered, key=key)
    assert [r["name"] for r in planned["resources"] if r["type"] == "nuketown:index:Agent"] == [
        "a-very-long-agent-name-that-fills-a-namespace-abc",
        "ada",
        "rio",
        "vox",
    ]


def test_plan_tree(run: Any) -> None:
    ran = run("plan", str(EXAMPLE), "--tree")
    lines = ran.out.splitlines()
    assert lines[0] == "pulumi:pulumi:Stack  nuketown-dev"
    assert "└─ nuketown:index:Fleet  nuketown" in lines
    assert "   ├─ nuketown:index:Agent  ada" in lines
    assert "   │  ├─ kubernetes:core/v1:PersistentVolumeClaim  ada-projects  [retain]" in lines
    # two providers; the Fleet; its ownership policy and binding; per agent a component and ten objects; vox's VPA
    assert lines[-1] == "   28  resources"


def test_plan_shows_each_agents_workload_then_its_identity_chain(run: Any) -> None:
    ran = run("plan", str(EXAMPLE), "-c", "nuketown:scheduling=tiers", *GCP)
    assert ran.code == 0, ran.err
    assert ran.out.startswith(
        "agent ada (Unix uid 1100)\n"
        "├─ runs at standard: 2 cpu, 4Gi (ceiling large: 4 cpu, 8Gi)\n"
        "├─ right-sizing: off\n"
        "├─ idles after 3600 s with nothing to do (KEDA scales it to 0); woken by redis inbox, redis working\n"
        "├─ volumes: projects 10Gi, .config/claude 1Gi\n"
        "├─ egress: everything\n"
        "├─ needs a node labelled nuketown.io/tier=standard\n"
        "└─ Kubernetes ServiceAccount nuketown-dev--ada/ada\n"
        "   └─ GCP service account nt-dev--ada in project acme-agents, email (known after apply) (workload identity)\n"
        "      ├─ impersonated only by serviceAccount:acme-agents.svc.id.goog[nuketown-dev--ada/ada]"
        " (roles/iam.workloadIdentityUser)\n"
        "      ├─ storage: roles/storage.objectUser on its buckets acme-agents--dev--ada--artifacts only\n"
        "      └─ KMS: roles/cloudkms.cryptoKeyDecrypter on key ada (id (known after apply))\n"
        "\n"
        "agent vox (Unix uid 1101)\n"
        "├─ runs at gpu: 4 cpu, 16Gi, 1 nvidia.com/gpu (ceiling gpu: 4 cpu, 16Gi)\n"
        "├─ right-sizing (Initial): between 2 cpu, 4Gi and 4 cpu, 16Gi (VerticalPodAutoscaler)\n"
    )
    assert "├─ on spot capacity (the cloud may stop it at any time)\n" in ran.out
    assert "    2  gcp:serviceaccount/account:Account" in ran.out.splitlines()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (["-c", "nuketown:awsOidcProviderArn=" + OIDC_ARN], "(IRSA, boundary nuketown-dev--ada--boundary)"),
        (
            ["-c", "nuketown:awsMode=podIdentity", "-c", "nuketown:awsClusterName=agents"],
            "(EKS Pod Identity, boundary nuketown-dev--ada--boundary)",
        ),
    ],
)
def test_plan_identity_chain_on_aws(run: Any, mode: list[str], expected: str) -> None:
    ran = run("plan", str(EXAMPLE), "-c", "nuketown:cloud=aws", "-c", "aws:region=us-east-1", *mode)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    # A first preview: AWS assigns the role's ARN and the key's ARN (which the policy names) on creation.
    assert f"   └─ IAM role nuketown-dev--ada (ARN (known after apply)) {expected}" in lines


def test_plan_of_an_identity_only_stack_still_names_each_agent(run: Any) -> None:
    """With Argo CD applying the workloads, the chain comes from the stack's outputs alone."""
    ran = run("plan", str(EXAMPLE), *GCP, "-c", "nuketown:applyKubernetes=false")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[:3] == [
        "agent ada (Unix uid 1100)",
        "└─ Kubernetes ServiceAccount nuketown-dev--ada/ada",
        "   └─ GCP service account nt-dev--ada in project acme-agents, email (known after apply) (workload identity)",
    ]
    assert not any("kubernetes:" in line for line in lines)


# --- point 2: settings never depend silently on the working directory -------------------------------------------


def test_the_settings_read_are_named_and_a_missing_stack_is_refused(run: Any, tmp_path: Path) -> None:
    ran = run("render", str(EXAMPLE), "--stack", "prdo")
    assert ran.code == 2
    assert ran.problems == [
        f"--stack prdo: no Pulumi.prdo.yaml in {ROOT} (stacks there: dev); pass --defaults to run on default settings"
    ]
    defaults = run("render", str(EXAMPLE), "--stack", "prdo", "--defaults")
    assert defaults.code == 0
    assert defaults.err.splitlines()[0] == "settings: none: defaults only (stack prdo)"
    outside = run("render", str(EXAMPLE), cwd=tmp_path)  # no Pulumi.yaml anywhere up from here
    assert outside.code == 0
    assert outside.err.splitlines()[0] == "settings: none: defaults only (stack dev)"


def test_an_own_stack_file_without_pulumi_yaml_is_read(run: Any, tmp_path: Path) -> None:
    write(tmp_path / "Pulumi.lab.yaml", yaml.safe_dump({"config": {"nuketown:scheduling": "none"}}))
    ran = run("render", str(EXAMPLE), "--stack", "lab", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert ran.err.splitlines()[0] == "settings: Pulumi.lab.yaml (stack lab)"  # relative to where it ran
    assert "nodeSelector" not in ran.out
    elsewhere = run("render", str(EXAMPLE), "--stack-file", str(tmp_path / "Pulumi.lab.yaml"))
    assert elsewhere.err.splitlines()[0] == f"settings: {tmp_path / 'Pulumi.lab.yaml'} (stack dev)"  # absolute


def test_source_comes_from_the_stack_file_when_omitted(run: Any, tmp_path: Path) -> None:
    """Relative to the stack file's directory, as `pulumi up` reads it there."""
    write(tmp_path / "Pulumi.yaml", (ROOT / "Pulumi.yaml").read_text())
    write(tmp_path / "spec.json", json.loads(json.dumps(run("plan", str(EXAMPLE), "--json").out and {})))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "Pulumi.lab.yaml", yaml.safe_dump({"config": {"nuketown:source": str(EXAMPLE)}}))
    assert run("validate", "--stack", "lab", cwd=tmp_path / "sub").code == 0
    write(tmp_path / "Pulumi.rel.yaml", yaml.safe_dump({"config": {"nuketown:source": "missing.nix"}}))
    ran = run("validate", "--stack", "rel", cwd=tmp_path / "sub")
    assert ran.code == 2
    assert ran.problems == [f"{tmp_path / 'missing.nix'}: no such file"]
    assert run("render", "--defaults").problems == ["SOURCE: give one, or set nuketown:source in the stack file"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("config: [unclosed\n", "not valid YAML (line 2, column 1)"),
        ("nuketown:cloud: gcp\n", "a Pulumi stack file holds its settings in a `config:` map at the top; none here"),
        ("", "a Pulumi stack file holds its settings in a `config:` map at the top; none here"),
    ],
    ids=["syntax", "no-config", "empty"],
)
def test_a_broken_stack_file_is_invalid_input_naming_it(run: Any, tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path / "Pulumi.bad.yaml", content)
    ran = run("render", str(EXAMPLE), "--stack-file", str(path))
    assert ran.code == 2
    [line] = ran.problems
    assert line.startswith(f"{path}: ") and expected in line


# --- point 5: render --out holds exactly the current agents ----------------------------------------------------


def test_render_out_removes_its_stale_files_and_nothing_else(
    run: Any, tmp_path: Path, example_json: dict[str, Any]
) -> None:
    out = tmp_path / "out"
    assert run("render", str(EXAMPLE), "--out", str(out)).code == 0
    write(out / "kustomization.yaml", "resources: []\n")  # not ours: never touched
    fewer = json.loads(json.dumps(example_json))
    del fewer["agents"]["vox"]
    ran = run("render", str(write(tmp_path / "fewer.json", fewer)), "--out", str(out))
    assert ran.code == 0
    assert sorted(p.name for p in out.iterdir()) == ["ada.yaml", "kustomization.yaml"]
    assert ran.problems == ["wrote 1 files to " + str(out) + ", removed vox.yaml (agents no longer declared)"]
    ada = list(yaml.safe_load_all((out / "ada.yaml").read_text()))
    assert ada[0]["kind"] == "Namespace"
    assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in ada} == {"nuketown-dev--ada"}


def test_render_out_onto_a_file_is_invalid_input(run: Any, tmp_path: Path) -> None:
    target = write(tmp_path / "file.yaml", "x: 1\n")
    ran = run("render", str(EXAMPLE), "--out", str(target))
    assert (ran.code, ran.problems) == (
        2,
        [f"--out {target}: is a file; give a directory (it will hold one file per agent)"],
    )


# --- points 6 and 7: exit codes, usage, version ---------------------------------------------------------------------


def test_diff_of_stdin_twice_is_invalid_input(run: Any) -> None:
    ran = run("diff", "-", "-")
    assert (ran.code, ran.problems) == (
        2,
        ["BASE and HEAD are both '-': stdin can be read once; give one of them as a file"],
    )


def test_json_and_tree_together_are_a_usage_error(run: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        run("plan", str(EXAMPLE), "--json", "--tree")
    assert exited.value.code == 2


def test_version_and_help_say_the_exit_codes(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("nuketown-stack 0.")
    for command in ("validate", "render", "plan", "diff"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        assert "exit codes: 0" in text and "example" in text and "$ nuketown-stack" in text, command
    diff_help = cli._parser()._subparsers._group_actions[0].choices["diff"].format_help()  # type: ignore[union-attr]
    assert "4 a change the engine can never apply" in diff_help


def test_internal_error_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def explode(_: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli.COMMANDS, "validate", explode)
    monkeypatch.delenv("NUKETOWN_DEBUG", raising=False)
    assert cli.main(["validate", "x.json"]) == 1
    err = capsys.readouterr().err
    assert err == "nuketown-stack: internal error: RuntimeError: boom\n(set NUKETOWN_DEBUG=1 for the traceback)\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["validate", "tests/data/missing.json"],
            ["tests/data/missing.json: no such file (SOURCE is a .json or .nix file, '-', or a flake#attribute)"],
        ),
        (
            ["render", str(EXAMPLE), "-c", "nuketown:cloud=gcp"],
            ["gcp:project: required when nuketown:cloud is gcp (pulumi config set gcp:project ...)"],
        ),
        (
            ["plan", str(EXAMPLE), "-c", "nuketown:cloud=aws", "-c", "aws:region=us-east-1"],
            [
                "nuketown:awsOidcProviderArn: required when nuketown:cloud is aws and nuketown:awsMode is irsa "
                "(pulumi config set nuketown:awsOidcProviderArn ...)"
            ],
        ),
        (
            ["render", str(FLEET), "--stack", "dev", "-c", "nuketown:namespacePrefix=nuketown-production--"],
            [
                "agents.a-very-long-agent-name-that-fills-a-namespace-abc: namespace "
                "'nuketown-production--a-very-long-agent-name-that-fills-a-namespace-abc' is not a DNS-1123 label "
                "of at most 63 characters; shorten the agent name (at most 42 here) or nuketown:namespacePrefix"
            ],
        ),
        (
            ["render", str(EXAMPLE), "-c", "nuketown:clod=gcp"],
            ["nuketown:clod: not a setting (did you mean nuketown:cloud?)"],
        ),
    ],
    ids=["missing-source", "gcp-without-project", "irsa-without-provider", "name-too-long", "typo-in-a-key"],
)
def test_invalid_input_exits_2_with_one_line_per_problem(run: Any, args: list[str], expected: list[str]) -> None:
    ran = run(*args)
    assert (ran.code, ran.problems, ran.out) == (2, expected, "")


def test_bad_spec_through_every_command(run: Any, tmp_path: Path, example_json: dict[str, Any]) -> None:
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"]["uid"] = 0
    spec["agents"]["vox"]["image"] = ""
    path = write(tmp_path / "bad.json", spec)
    for command in ("validate", "render", "plan"):
        ran = run(command, str(path))
        assert ran.code == 2, command
        assert ran.problems == [
            "agents.ada.uid: 0 is not allowed; agents run as a non-root uid (1 to 2147483647, usually 1100+)",
            "agents.vox.cloud.image: must be an image reference (nix:0/nix/store/...tar or registry/name:tag), "
            "not empty",
        ], command


def test_malformed_json_exits_2(run: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", "{")
    ran = run("validate", str(path))
    assert (ran.code, ran.problems) == (
        2,
        [f"{path}: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"],
    )


# --- point 8: messages that point at what to fix ------------------------------------------------------------------


def test_a_plain_nuketown_config_is_recognized(run: Any, tmp_path: Path) -> None:
    plain = {"enable": True, "agents": {"ada": {"enable": True, "uid": 1100}}, "cloud": {"enable": True}}
    ran = run("validate", str(write(tmp_path / "nuketown.json", plain)))
    assert ran.code == 2
    assert ran.problems[0].startswith("spec: this is a nuketown config (config.nuketown), not the spec made from it")
    # Through nix the example's nuketown.nix cannot even become JSON (it holds a function): say what it is.
    ran = run("validate", "examples/cloud-ada/nuketown.nix")
    assert ran.code == 2
    assert ran.problems[-1].startswith("examples/cloud-ada/nuketown.nix: is this a nuketown config rather than a spec?")


def test_a_flake_directory_needs_its_attribute(run: Any) -> None:
    ran = run("validate", "examples/cloud-ada")
    assert ran.problems == [
        "examples/cloud-ada: a flake; name the spec's attribute after '#', like "
        "'examples/cloud-ada#nixosConfigurations.<host>.config.nuketown.cloud.spec'"
    ]


def test_an_uppercase_agent_name_is_blamed_on_the_name_only(
    run: Any, tmp_path: Path, example_json: dict[str, Any]
) -> None:
    spec = json.loads(json.dumps(example_json))
    ada = spec["agents"].pop("ada")
    ada["identity"]["scope"] = "Ada-*"  # what nix derives for an agent named Ada
    spec["agents"]["Ada"] = ada
    ran = run("validate", str(write(tmp_path / "upper.json", spec)))
    assert ran.problems == [
        "agents.Ada: agent name must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)"
    ]


def test_a_fleet_option_is_reported_once(run: Any, tmp_path: Path, example_json: dict[str, Any]) -> None:
    spec = json.loads(json.dumps(example_json))
    for agent in spec["agents"].values():
        agent["scaling"]["idleTimeout"] = -1
    ran = run("validate", str(write(tmp_path / "fleet.json", spec)))
    assert ran.problems == [
        "cloud.scaling.idleTimeout (every agent: ada, vox; set in nuketown.cloud?): "
        "Input should be greater than or equal to 0, got -1"
    ]


def test_no_agents_is_said(run: Any, tmp_path: Path, example_json: dict[str, Any]) -> None:
    empty = {**example_json, "agents": {}}
    assert "warning: agents: none to run" in run("render", str(write(tmp_path / "e.json", empty))).err


@pytest.mark.parametrize("edited", ["ada", "vox", "aaa", "zed"])
def test_two_agents_with_one_uid_are_refused_naming_the_edited_one(
    run: Any, tmp_path: Path, example_json: dict[str, Any], edited: str
) -> None:
    """Each agent is its own Unix user: a uid given twice (an agent edited, or one added, with another's uid)
    is refused, and the edited agent's option is named, whichever sorts first."""
    spec = json.loads(json.dumps(example_json))
    agents = spec["agents"]
    if edited not in agents:  # a new agent, copied from vox with its name
        agents[edited] = {**json.loads(json.dumps(agents["vox"])), "home": f"/agents/{edited}"}
        agents[edited]["identity"]["scope"] = f"{edited}-*"
    other = "vox" if edited == "ada" else "ada"
    agents[edited]["uid"] = agents[other]["uid"]
    for command in ("validate", "render"):
        ran = run(command, str(write(tmp_path / "shared.json", spec)))
        assert (ran.code, ran.out) == (2, "")
        uid = agents[other]["uid"]
        assert f"agents.{edited}.uid: {uid} is also {other}'s uid; each agent runs as its own Unix user" in ran.err
        assert f"agents.{other}.uid: {uid} is also {edited}'s uid" in ran.err


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("uid", "1201", "agents.ada.uid: '1201' is text; write the number itself (1201), not in quotes"),
        ("uid", 1201.0, "agents.ada.uid: 1201.0 is not a whole number written as one; write 1201"),
        ("uid", True, "agents.ada.uid: True is not a whole number"),
        ("spot", "true", "agents.ada.cloud.spot: 'true' is text; write true or false, not in quotes"),
    ],
    ids=["uid-text", "uid-float", "uid-bool", "spot-text"],
)
def test_numbers_and_flags_written_as_text_are_refused(
    run: Any, tmp_path: Path, example_json: dict[str, Any], field: str, value: Any, expected: str
) -> None:
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"][field] = value
    ran = run("validate", str(write(tmp_path / "typed.json", spec)))
    assert (ran.code, ran.problems) == (2, [expected])


def test_an_identity_of_another_cloud_is_said_to_be_ignored(
    run: Any, tmp_path: Path, example_json: dict[str, Any]
) -> None:
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"]["identity"]["gcpServiceAccount"] = "ada-agent@acme-agents.iam.gserviceaccount.com"
    ran = run("render", str(write(tmp_path / "other.json", spec)))
    assert "warning: agents.ada.cloud.identity.gcpServiceAccount: ignored: nuketown:cloud is none" in ran.err


# --- the few that need a real process ---------------------------------------------------------------------------


def nuketown_stack(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from nuketown_stack.cli import run; run()", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_output_is_byte_identical_across_processes() -> None:
    """Two separate processes (the engine's maps and set orders differ between them), one byte stream."""
    outputs = []
    for _ in range(2):
        process = nuketown_stack("plan", str(FLEET), "--json")
        out, err = process.communicate()
        assert process.returncode == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """`plan | head -1` under `set -o pipefail` must not fail the job: a closed pipe is exit 0, no traceback."""
    process = nuketown_stack("plan", str(FLEET), "--json")
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()
    process.wait()
    assert process.stderr is not None
    err = process.stderr.read()
    assert (process.returncode, "Traceback" in err, "internal error" in err) == (0, False, False)


# --- keys given twice: what a reviewer reads is what runs ------------------------------------------------------


def _with_a_first(value: Any, path: tuple[str, ...], decoy: Any) -> str:
    """`value` as JSON text, the object at `path[:-1]` naming `path[-1]` twice: `decoy` first, the real value last
    (the one JSON keeps), as a reviewer reading from the top would meet them."""
    if not isinstance(value, dict):
        return json.dumps(value)
    pairs = [
        (key, _with_a_first(item, path[1:], decoy) if path and key == path[0] else json.dumps(item))
        for key, item in value.items()
    ]
    if len(path) == 1:
        pairs.insert(0, (path[0], json.dumps(decoy)))
    return "{" + ", ".join(f"{json.dumps(key)}: {text}" for key, text in pairs) + "}"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("agents", "ada"), "agents.ada"),
        (("agents", "vox", "image"), "agents.vox.cloud.image"),
        (("tiers", "small", "memory"), "cloud.tiers.small.memory"),
        (("schemaVersion",), "schemaVersion"),
    ],
    ids=["agent", "agent-field", "tier-field", "top-level"],
)
def test_a_key_given_twice_in_a_json_spec_is_refused(
    run: Any, tmp_path: Path, example_json: dict[str, Any], path: tuple[str, ...], expected: str
) -> None:
    """JSON keeps the last of two equal keys: a reviewer reading the first would approve what never runs."""
    decoy = {"image": "ghcr.io/acme/other:1"} if path == ("agents", "ada") else 1
    text = _with_a_first(example_json, path, decoy)
    spec = write(tmp_path / "twice.json", text)
    for command in ("validate", "render"):
        ran = run(command, str(spec))
        assert (ran.code, ran.out) == (2, ""), ran.err
        assert ran.problems == [
            f"{expected}: given more than once; JSON keeps only the last, so what a reviewer reads may not be "
            "what runs: keep one"
        ]


def test_a_setting_given_twice_is_refused(run: Any, tmp_path: Path) -> None:
    stack = write(tmp_path / "Pulumi.twice.yaml", "config:\n  nuketown:cloud: none\n  nuketown:cloud: gcp\n")
    ran = run("validate", str(EXAMPLE), "--stack-file", str(stack))
    assert ran.code == 2
    assert ran.problems == [f"{stack}: config.nuketown:cloud: given more than once (line 3); keep one"]
    flag = run("validate", str(EXAMPLE), "-c", 'nuketown:allowedScopes={"ada": ["shared-*"], "ada": []}')
    assert (flag.code, flag.problems) == (2, ["nuketown:allowedScopes: 'ada' given more than once; keep one"])


# --- what the cluster must have -------------------------------------------------------------------------------


def test_plan_names_the_node_labels_each_agent_needs(run: Any) -> None:
    """The default tiers select nodes by nuketown.io/tier: on a cluster without those labels the pods stay
    Pending, so plan says which labels (and taints) each agent needs, and how to label a node."""
    ran = run("plan", str(EXAMPLE), "--defaults")
    assert ran.code == 0, ran.err
    assert "├─ needs a node labelled nuketown.io/tier=standard\n" in ran.out
    assert (
        "├─ needs a node labelled cloud.google.com/gke-spot=true, nuketown.io/tier=gpu; tolerates "
        "cloud.google.com/gke-spot=true:NoSchedule, nvidia.com/gpu:NoSchedule\n"
    ) in ran.out
    assert ran.out.count("A pod stays Pending until some node has all the labels its agent needs") == 1
    none = run("plan", str(EXAMPLE), "--defaults", "-c", "nuketown:scheduling=none")
    assert "needs a node" not in none.out and "kubectl label node" not in none.out


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            [*GCP, "-c", "gcp:projct=acme-agents"],
            "gcp:projct: not a setting of the gcp provider (did you mean gcp:project?)",
        ),
        (
            ["-c", "kubernetes:contxt=kind-dev"],
            "kubernetes:contxt: not a setting of the kubernetes provider (did you mean kubernetes:context?)",
        ),
        (
            [*config_flags(CLOUD_SETTINGS["irsa"]), "-c", "aws:profil=dev"],
            "aws:profil: not a setting of the aws provider (did you mean aws:profile?)",
        ),
    ],
    ids=["gcp", "kubernetes", "aws"],
)
def test_validate_refuses_a_provider_setting_plan_refuses(run: Any, settings: list[str], expected: str) -> None:
    """What `plan` (and `pulumi up`) refuse, `validate` refuses the same way."""
    for command in ("validate", "plan"):
        ran = run(command, str(EXAMPLE), *settings)
        assert (ran.code, [p for p in ran.problems if not p.startswith("warning:")]) == (2, [expected]), command
    # A package the stack does not use is not its business: no provider of it is declared.
    assert run("validate", str(EXAMPLE), "-c", "gcp:projct=acme-agents").code == 0


@pytest.mark.parametrize(
    "flags",
    [
        ["-c", "nuketown:allowedIdentities.rio=rio-agent@fleet-project.iam.gserviceaccount.com"],
        ["-c", 'nuketown:allowedIdentities["rio"]=rio-agent@fleet-project.iam.gserviceaccount.com'],
        ["-c", 'nuketown:allowedIdentities={"rio": "rio-agent@fleet-project.iam.gserviceaccount.com"}'],
    ],
    ids=["path", "quoted-path", "json"],
)
def test_a_setting_can_be_given_by_path_as_pulumi_config_set_path_takes_it(run: Any, flags: list[str]) -> None:
    """`pulumi config set --path nuketown:allowedIdentities.rio ...` is how the Pulumi CLI sets one entry."""
    ran = run("validate", str(FLEET), *GCP, *flags)
    assert ran.code == 0, ran.problems


def test_a_path_setting_adds_to_the_stack_files_value(run: Any, tmp_path: Path) -> None:
    stack = write(
        tmp_path / "Pulumi.paths.yaml",
        yaml.safe_dump(
            {
                "config": {
                    "nuketown:cloud": "gcp",
                    "gcp:project": "acme-agents",
                    "nuketown:allowedScopes": {"vox": ["shared-*"]},
                }
            }
        ),
    )
    spec = run("plan", str(EXAMPLE), "--stack-file", str(stack), "--json").out
    assert spec  # the stack file alone is valid
    ran = run("validate", str(EXAMPLE), "--stack-file", str(stack), "-c", "nuketown:allowedScopes.ada[0]=team-*")
    assert ran.code == 0, ran.problems
    from nuketown_stack.inputs.settings import apply_overrides

    merged = apply_overrides(
        {"nuketown:allowedScopes": {"vox": ["shared-*"]}}, ["nuketown:allowedScopes.ada[0]=team-*"]
    )
    assert merged == {"nuketown:allowedScopes": {"vox": ["shared-*"], "ada": ["team-*"]}}
    bad = run("validate", str(EXAMPLE), "-c", "nuketown:allowedScopes.ada[3]=x")
    assert (bad.code, bad.problems) == (
        2,
        ["-c nuketown:allowedScopes.ada[3]=x: index 3 is past the end of the list (0 entries); add entries in order"],
    )


def test_help_says_config_values_may_be_json_or_paths(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "maps and lists as JSON" in text
    assert "nuketown:allowedIdentities.ada=EMAIL" in text
