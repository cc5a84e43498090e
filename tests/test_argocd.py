"""The Argo CD path: the plugin's generate command run as the repo-server would run it, the sources it
refuses and the nix restrictions it sets, the AppProject that bounds what a sync may apply, and the Pulumi
stack that then holds the cloud identity only."""

import json
import os
import shutil
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLOUD_SETTINGS, EXAMPLE, ROOT, make_plan, nix_eval

from nuketown_stack import cli
from nuketown_stack.inputs.source import NIX_EXPERIMENTAL
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

ARGOCD = ROOT / "deploy" / "argocd"
GENERATE = ARGOCD / "nuketown-cmp-generate"  # the image installs it on PATH (Dockerfile)
BIN = Path(sys.executable).parent
CLOUDS = {
    "gcp": (CLOUD_SETTINGS["gcp"], "iam.gke.io/gcp-service-account", "gcpServiceAccount"),
    "aws": (CLOUD_SETTINGS["irsa"], "eks.amazonaws.com/role-arn", "roleArn"),
}


def plugin() -> dict[str, Any]:
    config_map = yaml.safe_load((ARGOCD / "cmp-plugin.yaml").read_text())
    assert config_map["kind"] == "ConfigMap"
    return yaml.safe_load(config_map["data"]["plugin.yaml"])


def sidecar() -> dict[str, Any]:
    patch = yaml.safe_load((ARGOCD / "repo-server-patch.yaml").read_text())
    [container] = patch["spec"]["template"]["spec"]["containers"]
    return container


def generate(
    checkout: Path, env: dict[str, str], first_on_path: Path | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The plugin's generate command in the sidecar's environment (its private nix store included),
    with Argo CD's ARGOCD_ENV_ prefix on the Application's env. `first_on_path` holds stand-ins that
    shadow real commands; `extra_env` is anything else the sidecar's environment might hold."""
    command = plugin()["spec"]["generate"]
    sidecar_env = {e["name"]: e["value"] for e in sidecar()["env"]}
    path = [str(d) for d in (first_on_path, ARGOCD, BIN) if d is not None]
    return subprocess.run(
        [*command["command"], *command.get("args", [])],
        cwd=checkout,
        env={
            "PATH": os.pathsep.join([*path, os.environ["PATH"]]),
            **sidecar_env,
            **(extra_env or {}),
            **{f"ARGOCD_ENV_{k}": v for k, v in env.items()},
        },
        capture_output=True,
        text=True,
        check=False,
    )


# Records that it ran, with which arguments, and the NIX_CONFIG it was given.
STAND_IN = """#!/bin/sh
here=$(dirname "$0")
echo "$(basename "$0") $*" >> "$here/ran"
printf '%s\\n' "$NIX_CONFIG" > "$here/NIX_CONFIG"
"""


def stand_ins(tmp_path: Path) -> Path:
    """Stand-ins for nix, nix-instantiate and nuketown-stack, to put first on PATH."""
    directory = tmp_path / "stand-ins"
    directory.mkdir()
    for name in ("nix", "nix-instantiate", "nuketown-stack"):
        (directory / name).write_text(STAND_IN)
        (directory / name).chmod(0o755)
    return directory


def ran(stand_in_dir: Path) -> list[str]:
    runs = stand_in_dir / "ran"
    return runs.read_text().splitlines() if runs.exists() else []


def checkout_with_stack(tmp_path: Path, stack: str, config: dict[str, str]) -> Path:
    """A repository as Argo CD checks it out: Pulumi.yaml, a stack file, the spec."""
    checkout = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", checkout / "examples")
    shutil.copytree(ROOT / "nix", checkout / "nix")
    (checkout / "nuketown_stack" / "inputs").mkdir(parents=True)
    grammar = ROOT / "nuketown_stack" / "inputs" / "grammar.json"  # nix/spec.nix reads it
    shutil.copy(grammar, checkout / "nuketown_stack" / "inputs")
    shutil.copy(ROOT / "Pulumi.yaml", checkout)
    settings = {"nuketown:source": "examples/cloud-ada.nix", "nuketown:applyKubernetes": False, **config}
    (checkout / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": settings}))
    return checkout


def test_the_plugin_is_a_named_sidecar_plugin() -> None:
    spec = plugin()
    assert (spec["apiVersion"], spec["kind"], spec["metadata"]["name"]) == (
        "argoproj.io/v1alpha1",
        "ConfigManagementPlugin",
        "nuketown",
    )
    assert application()["spec"]["source"]["plugin"]["name"] == f"nuketown-{spec['spec']['version']}"
    assert application()["spec"]["syncPolicy"]["automated"]["prune"] is False  # kept volumes stay kept


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_generate_renders_what_pulumi_would_apply_and_pulumi_keeps_the_identity(tmp_path: Path, cloud: str) -> None:
    config, annotation, output = CLOUDS[cloud]
    checkout = checkout_with_stack(tmp_path, "production", config)
    result = generate(checkout, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"})
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"] == [
        "nuketown-production--ada",
        "nuketown-production--vox",
    ]

    # The same stack under Pulumi: identity only, no Kubernetes objects to fight Argo CD over.
    declared = run_program(
        define_stack, "production", {**config, "nuketown:source": str(EXAMPLE)} | {"nuketown:applyKubernetes": "false"}
    )
    assert not [r for r in declared.resources if r.type.startswith("kubernetes:")]
    assert any(r.type.startswith(f"{cloud}:") for r in declared.resources)
    # The identity Argo CD's ServiceAccount names is the one the stack created.
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    for agent, outputs in declared.outputs["agents"].items():
        assert accounts[agent]["metadata"]["annotations"][annotation] == outputs[output]


def test_generate_without_a_source_says_what_is_missing(tmp_path: Path) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    result = generate(checkout, {"NUKETOWN_STACK": "production"})
    assert result.returncode != 0
    assert "set NUKETOWN_SOURCE in the Application's plugin env" in result.stderr


def test_the_sidecar_is_restricted_and_gets_its_plugin_file() -> None:
    patch = yaml.safe_load((ARGOCD / "repo-server-patch.yaml").read_text())
    pod = patch["spec"]["template"]["spec"]
    container = sidecar()
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "plugin.yaml"
    assert {v["name"] for v in pod["volumes"]} >= {mounts["/home/argocd/cmp-server/config/plugin.yaml"]["name"]}
    context = container["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert context["capabilities"] == {"drop": ["ALL"]} and context["allowPrivilegeEscalation"] is False


def test_the_image_installs_the_generate_command_on_its_path() -> None:
    [command] = plugin()["spec"]["generate"]["command"]
    dockerfile = (ARGOCD / "Dockerfile").read_text()
    assert f"COPY deploy/argocd/{GENERATE.name} /usr/local/bin/{command}\n" in dockerfile
    assert GENERATE.name == command and os.access(GENERATE, os.X_OK)


# Sources the plugin refuses before anything runs; {checkout} and {outside} are filled in.
REFUSED = {
    "remote flake": ("github:attacker/specs#spec", "flake references are not evaluated"),
    "nixpkgs flake": ("github:NixOS/nixpkgs#hello", "flake references are not evaluated"),
    "flake in the checkout": (".#spec", "flake references are not evaluated"),
    "path flake": ("path:/etc#x", "flake references are not evaluated"),
    "absolute path into the checkout": ("{checkout}/examples/cloud-ada.nix", "is absolute"),
    "absolute path elsewhere": ("{outside}", "is absolute"),
    "parent directory": ("../outside.nix", "contains '..'"),
    "parent inside a path": ("examples/../../outside.nix", "contains '..'"),
    "stdin": ("-", "stdin and options are not sources"),
    "an option": ("--out=/tmp/x.nix", "stdin and options are not sources"),
    "not a spec file": ("Pulumi.yaml", "is not a .nix or .json file"),
    "missing file": ("examples/missing.nix", "no such file in the application directory"),
    "symlink out of the checkout": ("examples/escape.nix", "outside the application directory"),
    "symlinked directory out of the checkout": ("elsewhere/outside.nix", "outside the application directory"),
    "a directory": ("examples/dir.nix", "is not a regular file"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_generate_refuses_a_source_outside_the_checkout_before_nix_runs(tmp_path: Path, case: str) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    outside = tmp_path / "outside.nix"
    outside.write_text('{ schemaVersion = 1; leak = builtins.readFile "/etc/hostname"; }')
    (checkout / "examples" / "escape.nix").symlink_to(outside)
    (checkout / "elsewhere").symlink_to(tmp_path)
    (checkout / "examples" / "dir.nix").mkdir()
    source, reason = REFUSED[case]
    source = source.format(checkout=checkout, outside=outside)
    nothing = stand_ins(tmp_path)

    result = generate(checkout, {"NUKETOWN_SOURCE": source, "NUKETOWN_STACK": "production"}, first_on_path=nothing)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("nuketown plugin: ")
    assert reason in result.stderr
    assert ran(nothing) == [], "nix or nuketown-stack ran for a refused source"


@pytest.mark.parametrize("stack", ["../../etc/x", "prod uction", "a/b"])
def test_generate_refuses_a_stack_name_that_is_a_path(tmp_path: Path, stack: str) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    nothing = stand_ins(tmp_path)
    result = generate(checkout, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": stack}, nothing)
    assert result.returncode == 2 and "is not a stack name" in result.stderr
    assert ran(nothing) == []


def test_generate_takes_a_spec_file_inside_the_checkout_as_given(tmp_path: Path) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    (checkout / "spec.nix").symlink_to("examples/cloud-ada.nix")  # a symlink that stays inside is fine
    (checkout / "spec.json").write_text("{}")
    stand_in_dir = stand_ins(tmp_path)
    for source in ("examples/cloud-ada.nix", "./examples/cloud-ada.nix", "spec.nix", "spec.json"):
        result = generate(checkout, {"NUKETOWN_SOURCE": source, "NUKETOWN_STACK": "production"}, stand_in_dir)
        assert result.returncode == 0, result.stderr
    stack_file = checkout.resolve() / "Pulumi.production.yaml"
    assert ran(stand_in_dir) == [
        f"nuketown-stack render {source} --stack production --stack-file {stack_file}"
        for source in ("examples/cloud-ada.nix", "./examples/cloud-ada.nix", "spec.nix", "spec.json")
    ]


def test_generate_reads_the_stack_file_of_the_application_directory_only(tmp_path: Path) -> None:
    """A Pulumi.yaml and stack file above the application directory (the CLI's --stack would find them)
    are not read; nor is a stack file that is a symlink out of the directory."""
    checkout = checkout_with_stack(tmp_path, "production", {})
    app = checkout / "agents"
    shutil.copytree(checkout / "examples", app / "examples")
    nothing = stand_ins(tmp_path)
    result = generate(app, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"}, nothing)
    assert result.returncode == 2
    assert result.stderr == (
        "nuketown plugin: no Pulumi.production.yaml in the application directory; "
        "set the Application's path to the directory holding it\n"
    )
    (app / "Pulumi.production.yaml").symlink_to(checkout / "Pulumi.production.yaml")
    result = generate(app, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"}, nothing)
    assert result.returncode == 2 and "outside the application directory" in result.stderr
    assert ran(nothing) == []


def sidecar_nix_config(tmp_path: Path) -> str:
    """The NIX_CONFIG that the generate command gives nix for a checkout."""
    checkout = checkout_with_stack(tmp_path, "production", {})
    stand_in_dir = stand_ins(tmp_path)
    result = generate(
        checkout, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"}, stand_in_dir
    )
    assert result.returncode == 0, result.stderr
    return (stand_in_dir / "NIX_CONFIG").read_text()


def test_nix_is_restricted_to_the_application_directory_by_its_own_settings(tmp_path: Path) -> None:
    lines = [line.partition("=") for line in sidecar_nix_config(tmp_path).splitlines() if line]
    settings = {name.strip(): value.strip() for name, _, value in lines}
    assert settings == {
        "restrict-eval": "true",
        "nix-path": f"checkout={(tmp_path / 'repo').resolve()}",
        "allowed-uris": "",
        "allow-import-from-derivation": "false",
        "allow-unsafe-native-code-during-evaluation": "false",
        "experimental-features": "",
    }
    # nix 2.8 knows each of them by these names.
    shown = subprocess.run(["nix", *NIX_EXPERIMENTAL, "show-config"], capture_output=True, text=True, check=True).stdout
    known = {line.split(" = ", 1)[0] for line in shown.splitlines()}
    assert set(settings) <= known


def crafted_spec(checkout: Path, description: str) -> str:
    """The example with ada's description (which lands in her ConfigMap) set to a nix expression."""
    (checkout / "examples" / "crafted.nix").write_text(
        "let base = import ./cloud-ada/nuketown.nix; in\n"
        "(import ../nix/spec.nix).spec (base // { agents = base.agents // {\n"
        f"  ada = base.agents.ada // {{ description = {description}; }};\n"
        "}; })\n"
    )
    return "examples/crafted.nix"


# What a spec pushed by an agent might try, and what nix 2.8 says in the sidecar.
ESCAPES = {
    "a host file": ("builtins.readFile /etc/hostname", "access to absolute path '/etc/hostname' is forbidden"),
    "the process environment": ("builtins.readFile /proc/self/environ", "is forbidden in restricted mode"),
    "a file beside the checkout": ("builtins.readFile ../../outside.txt", "outside.txt' is forbidden"),
    "a symlink out of the checkout": ("builtins.readFile ./notes.txt", "access to canonical path"),
    "the search path": ("builtins.readFile <nixpkgs>", "was not found in the Nix search path"),
    "a download": ('builtins.readFile (builtins.fetchurl "https://example.com/")', "access to URI"),
    "a tarball": ('toString (builtins.fetchTarball "https://example.com/x.tar.gz")', "access to URI"),
    "a git URL": ('toString (builtins.fetchGit "https://example.com/x.git")', "access to URI"),
    "a local repository": ('toString (builtins.fetchGit "{root}")', "is forbidden in restricted mode"),
    "a flake": ('(builtins.getFlake "path:{outside_dir}").x', "attribute 'getFlake' missing"),
    "fetchTree": ('toString (builtins.fetchTree {{ type = "path"; path = "{outside_dir}"; }})', "'flakes' is disabled"),
    "a native command": ('builtins.exec [ "hostname" ]', "attribute 'exec' missing"),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_a_crafted_spec_cannot_read_outside_the_checkout(tmp_path: Path, case: str) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    (tmp_path / "outside.txt").write_text("outside-the-checkout")
    (checkout / "examples" / "notes.txt").symlink_to(tmp_path / "outside.txt")
    expression, said = ESCAPES[case]
    source = crafted_spec(checkout, expression.format(root=ROOT, outside_dir=tmp_path))

    result = generate(checkout, {"NUKETOWN_SOURCE": source, "NUKETOWN_STACK": "production"})

    assert result.returncode != 0 and result.stdout == ""
    assert "nix evaluation failed" in result.stderr and said in result.stderr, result.stderr


def test_a_crafted_spec_reads_an_empty_environment(tmp_path: Path) -> None:
    """Restricted mode does not fail getEnv: it returns "" for every name, so nothing leaks."""
    checkout = checkout_with_stack(tmp_path, "production", {})
    source = crafted_spec(checkout, '"home=" + builtins.getEnv "HOME" + " canary=" + builtins.getEnv "CANARY"')
    result = generate(
        checkout,
        {"NUKETOWN_SOURCE": source, "NUKETOWN_STACK": "production"},
        extra_env={"CANARY": "from-the-sidecar-environment"},
    )
    assert result.returncode == 0, result.stderr
    assert '"home= canary="' in result.stdout
    assert "from-the-sidecar-environment" not in result.stdout


DERIVATION = """builtins.derivation {
  name = "leak";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo '\\"'$(hostname)'\\"' > $out" ];
}
"""


@pytest.mark.parametrize("use", ["import (import ./leak.nix)", "builtins.readFile (import ./leak.nix)"])
def test_a_crafted_spec_cannot_import_from_a_derivation(tmp_path: Path, use: str) -> None:
    checkout = checkout_with_stack(tmp_path, "production", {})
    (checkout / "examples" / "leak.nix").write_text(DERIVATION)
    sidecar_env = {e["name"]: e["value"] for e in sidecar()["env"]}
    # The derivation already in the sidecar's store, so that only the setting stands between it and a build
    # (`nix-instantiate --eval` alone never writes one: it then fails with "is not valid").
    subprocess.run(
        ["nix-instantiate", str(checkout / "examples" / "leak.nix")],
        env={"PATH": os.environ["PATH"], **sidecar_env},
        capture_output=True,
        check=True,
    )
    source = crafted_spec(checkout, use)
    result = generate(checkout, {"NUKETOWN_SOURCE": source, "NUKETOWN_STACK": "production"})
    assert result.returncode != 0 and result.stdout == ""
    assert "because the option 'allow-import-from-derivation' is disabled" in result.stderr, result.stderr


def test_looser_nix_settings_in_the_sidecar_do_not_loosen_evaluation(tmp_path: Path) -> None:
    """A nix.conf (the image's or $HOME's), NIX_CONFIG or NIX_PATH in the pod cannot undo the restrictions:
    the generate command's NIX_CONFIG is read last."""
    loose = "\n".join(
        [
            "restrict-eval = false",
            "allow-import-from-derivation = true",
            "experimental-features = nix-command flakes",
            "allowed-uris = file:// https://",
            "nix-path = /etc",
        ]
    )
    (tmp_path / "xdg" / "nix").mkdir(parents=True)
    (tmp_path / "xdg" / "nix" / "nix.conf").write_text(loose + "\n")
    checkout = checkout_with_stack(tmp_path, "production", {})
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "NIX_CONFIG": loose, "NIX_PATH": "/etc"}
    for expression in (
        "builtins.readFile /etc/hostname",
        "builtins.readFile <hostname>",
        'toString (builtins.fetchTree { type = "path"; path = "/etc"; })',
    ):
        source = crafted_spec(checkout, expression)
        result = generate(checkout, {"NUKETOWN_SOURCE": source, "NUKETOWN_STACK": "production"}, extra_env=env)
        assert result.returncode != 0 and result.stdout == "", expression
    result = generate(
        checkout, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"}, extra_env=env
    )
    assert result.returncode == 0, result.stderr


def test_why_no_flake_is_evaluated_restricted_mode_does_not_cover_flake_inputs(tmp_path: Path) -> None:
    """With the sidecar's very settings, `nix eval .#spec` on a flake in the checkout reads a file outside
    it through a `path:` input (nix 2.8 fetches inputs outside the evaluator's checks). Hence the plugin
    refuses `.#attr` too. Should a later nix refuse this, the plugin could take `.#attr` again."""
    nix_config = sidecar_nix_config(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("outside-the-checkout")
    flake = tmp_path / "flake"
    flake.mkdir()
    (flake / "flake.nix").write_text(
        '{ inputs.o = { url = "path:%s"; flake = false; };\n'
        '  outputs = { self, o }: { spec = builtins.readFile "${o}/secret.txt"; }; }\n' % (tmp_path / "outside")
    )
    sidecar_env = {e["name"]: e["value"] for e in sidecar()["env"]}
    result = subprocess.run(
        ["nix", *NIX_EXPERIMENTAL, "eval", "--json", ".#spec"],
        cwd=flake,
        env={"PATH": os.environ["PATH"], **sidecar_env, "NIX_CONFIG": nix_config},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "outside-the-checkout"


IN_CLUSTER = "https://kubernetes.default.svc"
# Which kinds are namespaced, as the API server's discovery tells Argo CD.
NAMESPACED = {
    "ServiceAccount": True,
    "ConfigMap": True,
    "Secret": True,
    "ResourceQuota": True,
    "LimitRange": True,
    "PersistentVolumeClaim": True,
    "NetworkPolicy": True,
    "Deployment": True,
    "VerticalPodAutoscaler": True,
    "ScaledObject": True,
    "RoleBinding": True,
    "Namespace": False,
    "ClusterRole": False,
    "ClusterRoleBinding": False,
    "ValidatingAdmissionPolicy": False,
    "ValidatingAdmissionPolicyBinding": False,
}


GENERATED = ARGOCD / "nuketown-production.yaml"  # `nuketown-stack argocd` for stack production
PROJECT_COMMAND = [
    "argocd",
    str(EXAMPLE.relative_to(ROOT)),
    "--stack",
    "production",
    "--defaults",
    "--repo",
    "https://github.com/your-org/your-agents.git",
]


def appproject() -> dict[str, Any]:
    return _generated("AppProject")


def application() -> dict[str, Any]:
    return _generated("Application")


def _generated(kind: str) -> dict[str, Any]:
    return next(d for d in yaml.safe_load_all(GENERATED.read_text()) if d["kind"] == kind)


def _argocd(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert cli.main(["argocd", *args]) == 0
    return list(yaml.safe_load_all(capsys.readouterr().out))


def test_the_shipped_project_is_what_the_cli_generates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No hand edits: deploy/argocd/nuketown-production.yaml is `nuketown-stack argocd`'s output, byte for byte."""
    monkeypatch.chdir(ROOT)
    assert cli.main(PROJECT_COMMAND) == 0
    assert capsys.readouterr().out == GENERATED.read_text()


@pytest.mark.parametrize("legacy", [False, True])
def test_a_stack_project_admits_none_of_another_stacks_namespaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, legacy: bool
) -> None:
    """Stack production (agents eu-bob, ada, acme) and stack production-eu (bob, ada-x): each project admits its
    own stack's namespaces and Namespace objects, none of the other's. The hand-written pattern
    `nuketown-production-*` admitted all of production-eu's."""
    spec = tmp_path / "spec.json"
    specs = {"production": ["eu-bob", "ada", "acme"], "production-eu": ["bob", "ada-x"]}
    flags = ["-c", "nuketown:legacyNames=true"] if legacy else []
    namespaces, projects = {}, {}
    for stack, agents in specs.items():
        spec.write_text(json.dumps(_spec_of(agents)))
        plan = make_plan(_spec_of(agents), stack=stack, **{"nuketown:legacyNames": legacy})
        namespaces[stack] = [a.namespace for a in plan.agents]
        projects[stack] = _argocd(capsys, str(spec), "--stack", stack, "--defaults", "--repo", "https://r", *flags)[0]
    for stack, other in (("production", "production-eu"), ("production-eu", "production")):
        for namespace in namespaces[stack]:
            assert permitted(projects[stack], _in(namespace)) and permitted(projects[stack], _namespace(namespace))
        shared = set(namespaces[stack]) & set(namespaces[other])  # legacy names collide: the guard refuses them
        assert shared == ({"nuketown-production-eu-bob"} if legacy else set())
        for namespace in set(namespaces[other]) - shared:
            assert not permitted(projects[stack], _in(namespace)), namespace
            assert not permitted(projects[stack], _namespace(namespace)), namespace


def _spec_of(agents: list[str]) -> dict[str, Any]:
    base = json.loads(json.dumps(nix_eval(EXAMPLE)))
    template = base["agents"]["ada"]
    base["agents"] = {}
    for uid, name in enumerate(agents, start=1100):
        agent = json.loads(json.dumps(template))
        agent.update(uid=uid, home=f"/agents/{name}")
        agent["identity"]["scope"] = f"{name}-*"
        base["agents"][name] = agent
    return base


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _in(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "x", "namespace": namespace},
    }


def permitted(project: dict[str, Any], obj: dict[str, Any], server: str = IN_CLUSTER) -> bool:
    """Argo CD's check of one object at sync (validateSyncPermissions, Argo CD 3.3+): its group and kind,
    and for a cluster-scoped object its name, against the whitelists; a namespaced object's namespace
    against the destinations. The project has no blacklists or negated patterns, so this is all of it."""
    spec = project["spec"]
    group, kind, name = obj["apiVersion"].rpartition("/")[0], obj["kind"], obj["metadata"]["name"]
    if not NAMESPACED[kind]:
        return any(
            fnmatchcase(group, e["group"]) and fnmatchcase(kind, e["kind"]) and fnmatchcase(name, e.get("name") or "*")
            for e in spec["clusterResourceWhitelist"]
        )
    namespace = obj["metadata"]["namespace"]
    return any(
        fnmatchcase(group, e["group"]) and fnmatchcase(kind, e["kind"]) for e in spec["namespaceResourceWhitelist"]
    ) and any(fnmatchcase(server, d["server"]) and fnmatchcase(namespace, d["namespace"]) for d in spec["destinations"])


def test_the_project_model_is_complete() -> None:
    spec = appproject()["spec"]
    assert not {k for k in spec if "Blacklist" in k}
    patterns = [d["namespace"] for d in spec["destinations"]] + [d["server"] for d in spec["destinations"]]
    patterns += [e.get("name", "") for e in spec["clusterResourceWhitelist"]] + spec["sourceRepos"]
    assert not [p for p in patterns if p.startswith("!")]


@pytest.mark.parametrize("cloud", [None, *CLOUDS])
def test_the_project_permits_every_object_the_render_produces(tmp_path: Path, cloud: str | None) -> None:
    checkout = checkout_with_stack(tmp_path, "production", CLOUDS[cloud][0] if cloud else {})
    result = generate(checkout, {"NUKETOWN_SOURCE": "examples/cloud-ada.nix", "NUKETOWN_STACK": "production"})
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    project = appproject()
    assert objects and [o for o in objects if not permitted(project, o)] == []
    # Each namespaced object names its namespace: none falls back to the Application's default one.
    assert all("namespace" in o["metadata"] for o in objects if NAMESPACED[o["kind"]])
    # The whitelist is exactly the rendered kinds (the example has a VPA and ScaledObjects too).
    rendered = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in objects if NAMESPACED[o["kind"]]}
    whitelist = {(e["group"], e["kind"]) for e in project["spec"]["namespaceResourceWhitelist"]}
    assert whitelist == rendered
    # Cluster-scoped, exactly: the agents' namespaces and the stack's ownership guard, by name.
    cluster = {(o["kind"], o["metadata"]["name"]) for o in objects if not NAMESPACED[o["kind"]]}
    assert {kind for kind, _ in cluster} == {e["kind"] for e in project["spec"]["clusterResourceWhitelist"]}
    assert ("ValidatingAdmissionPolicyBinding", "nuketown-production-ownership") in cluster


OUTSIDE_THE_PROJECT = {
    "the kube-system Namespace": ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
    "another stack's Namespace": (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nuketown-staging--ada"}}
    ),
    "a ConfigMap in kube-system": (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}}
    ),
    "a Deployment in another stack": (
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "nuketown-staging--ada"}}
    ),
    "an admission policy not the stack's guard": (
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "nuketown-production--other"},
        }
    ),
    "a ClusterRole": (
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "nuketown-production--x"},
        }
    ),
    "a ClusterRoleBinding": (
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}
    ),
    "a RoleBinding in a stack namespace": (
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "x", "namespace": "nuketown-production--ada"},
        }
    ),
    "a Secret in a stack namespace": (
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "nuketown-production--ada"}}
    ),
    "a ConfigMap of the wrong group": (
        {
            "apiVersion": "evil.example/v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "nuketown-production--ada"},
        }
    ),
}


@pytest.mark.parametrize("case", list(OUTSIDE_THE_PROJECT))
def test_the_project_refuses_what_the_render_never_produces(case: str) -> None:
    assert not permitted(appproject(), OUTSIDE_THE_PROJECT[case])


def test_an_allowed_kind_on_another_cluster_is_refused() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "nuketown-production--ada"},
    }
    assert permitted(appproject(), deployment)
    assert not permitted(appproject(), deployment, server="https://other-cluster.example")


def test_the_application_is_in_the_project_and_within_it() -> None:
    app, project = application()["spec"], appproject()
    assert app["project"] == project["metadata"]["name"] == "nuketown-production"
    assert project["spec"]["sourceRepos"] == [app["source"]["repoURL"]]
    destination = app["destination"]
    assert any(
        fnmatchcase(destination["server"], d["server"]) and fnmatchcase(destination["namespace"], d["namespace"])
        for d in project["spec"]["destinations"]
    )
    stack = {e["name"]: e["value"] for e in app["source"]["plugin"]["env"]}["NUKETOWN_STACK"]
    assert project["spec"]["destinations"] == [{"server": IN_CLUSTER, "namespace": f"nuketown-{stack}--*"}]
