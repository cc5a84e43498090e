"""A Fleet in someone else's Pulumi program: under their component, with their providers, no nuketown config.

Every run here is a host program under the mock engine with an empty config: no `nuketown:*` key, no
provider setting. The providers the host hands the Fleet (in its own options, or on its parent) are the
only ones anything uses, and nothing but the host's component sits at the stack's root.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest
from conftest import CLOUD_SETTINGS, EXAMPLE, FLEET, FLEET_ALLOWED, ROOT, spy_on_mocks
from test_settings import as_mapping

from nuketown_stack import Fleet, FleetArgs, InputError
from nuketown_stack.inputs.settings import settings_from_config
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program import engine
from nuketown_stack.program.engine import EngineResult, run_program

TEAM = "platform:index:Team"
HOST = {"kubernetes", "gcp", "aws"}  # the packages a host hands providers of


class Team(pulumi.ComponentResource):
    """A host component: its own providers, and a Fleet under it."""

    def __init__(self, name: str, build: Callable[["Team"], Fleet]) -> None:
        super().__init__(TEAM, name, None, None)
        mine = pulumi.ResourceOptions(parent=self)
        self.cluster = k8s.Provider("cluster", context="prod", opts=mine)
        self.adopting = k8s.Provider("cluster-adopting", context="prod", upsert_existing_objects=True, opts=mine)
        self.gcp = gcp.Provider("gcp-prod", project="acme-agents", opts=mine)
        self.aws = aws.Provider("aws-prod", region="us-east-1", opts=mine)
        self.fleet = build(self)
        self.register_outputs({})


def fleet_settings(cloud: str) -> dict[str, Any]:
    return as_mapping(CLOUD_SETTINGS[cloud])


def in_team(args: FleetArgs, how: str = "providers") -> Callable[[Team], Fleet]:
    """A Fleet under the team, handed the team's providers one of the ways Pulumi allows."""

    def build(team: Team) -> Fleet:
        cloud = [team.gcp, team.aws]
        ways = {
            "providers": pulumi.ResourceOptions(parent=team, providers=[team.cluster, *cloud]),
            "map": pulumi.ResourceOptions(
                parent=team, providers={"kubernetes": team.cluster, "gcp": team.gcp, "aws": team.aws}
            ),
            "provider": pulumi.ResourceOptions(parent=team, provider=team.cluster, providers=cloud),
        }
        return Fleet("agents", args, ways[how])

    return build


def run(
    build: Callable[[Team], Fleet], stack: str = "dev", known: engine.Known = frozenset()
) -> tuple[EngineResult, list[Any]]:
    """The host program; returns what was declared and, per invoke, (token, provider reference)."""

    def program() -> dict[str, Any]:
        team = Team("research", build)
        return {
            "namespaces": team.fleet.namespaces,
            "identities": team.fleet.identities,
            "kmsKeys": team.fleet.kms_keys,
            "sopsRules": team.fleet.sops_rules,
            "sopsConfig": team.fleet.sops_config,
        }

    with pytest.MonkeyPatch.context() as patch:
        calls = spy_on_mocks(patch, "call")
        result = run_program(program, stack, {}, known=known)
    return result, [(call.token, call.provider) for call in calls]


def chain(result: EngineResult, resource: engine.DeclaredResource) -> list[str]:
    """The resource's ancestors, nearest first, as "type::name"."""
    parents = {f"{r.type}::{r.name}": r.parent for r in result.resources}
    found, parent = [], resource.parent
    while parent is not None:
        found.append(parent)
        parent = parents[parent]
    return found


def urn_of(result: EngineResult, typ: str, name: str) -> str:
    return next(r.urn for r in result.resources if (r.type, r.name) == (typ, name))


@pytest.mark.parametrize("how", ["providers", "map", "provider"])
@pytest.mark.parametrize("cloud", sorted(CLOUD_SETTINGS))
def test_everything_sits_under_the_host_component_and_uses_the_hosts_providers(cloud: str, how: str) -> None:
    args = FleetArgs(spec=str(EXAMPLE), settings=fleet_settings(cloud))
    result, invokes = run(in_team(args, how))
    team = f"{TEAM}::research"
    assert [r.name for r in result.resources if r.parent is None] == ["research"]
    assert all(team in chain(result, r) for r in result.resources if r.parent is not None)
    assert "nuketown:index:Fleet::agents" in chain(
        result, next(r for r in result.resources if r.type.endswith("Namespace"))
    )
    host = {
        "kubernetes": urn_of(result, "pulumi:providers:kubernetes", "cluster"),
        "gcp": urn_of(result, "pulumi:providers:gcp", "gcp-prod"),
        "aws": urn_of(result, "pulumi:providers:aws", "aws-prod"),
    }
    declared = [r for r in result.resources if r.type.split(":")[0] in HOST and not r.type.startswith("pulumi:")]
    assert declared, "the Fleet declared nothing"
    for resource in declared:
        assert resource.provider_urn == host[resource.type.split(":")[0]], (resource.type, resource.name)
    # Lookups (kept keys, roles and accounts) go through the host's cloud provider too.
    cloud_invokes = [(token, provider) for token, provider in invokes if token.split(":")[0] in ("gcp", "aws")]
    assert (cloud == "none") == (cloud_invokes == [])
    assert all(
        provider.rsplit("::", 1)[0].endswith(host[token.split(":")[0]].split("::", 3)[3])
        for token, provider in cloud_invokes
    )
    # The Fleet makes no provider: the only ones are the host's.
    assert {r.name for r in result.resources if r.type.startswith("pulumi:providers:")} == {
        "cluster",
        "cluster-adopting",
        "gcp-prod",
        "aws-prod",
    }


def test_providers_on_the_hosts_component_reach_the_fleet() -> None:
    """A provider map set on a component above the Fleet reaches the Fleet's resources (opts.providers is
    inherited by every descendant)."""

    class Platform(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("platform:index:Platform", "platform", None, None)
            self.cluster = k8s.Provider("platform-cluster", context="prod", opts=pulumi.ResourceOptions(parent=self))
            inner = pulumi.ResourceOptions(parent=self, providers=[self.cluster])
            self.team = pulumi.ComponentResource(TEAM, "research", None, inner)
            self.fleet = Fleet("agents", FleetArgs(spec=str(EXAMPLE)), pulumi.ResourceOptions(parent=self.team))

    result = run_program(lambda: (Platform(), {})[1], "dev", {})
    cluster = urn_of(result, "pulumi:providers:kubernetes", "platform-cluster")
    kube = [r for r in result.resources if r.type.startswith("kubernetes:")]
    assert kube and all(r.provider_urn == cluster for r in kube)


@pytest.mark.parametrize("adopting", [True, False])
def test_kept_kinds_take_the_adopting_provider_when_the_host_gives_one(adopting: bool) -> None:
    def build(team: Team) -> Fleet:
        args = FleetArgs(
            spec=str(FLEET), settings={"allowedIdentities": json.loads(FLEET_ALLOWED["nuketown:allowedIdentities"])}
        )
        if adopting:
            args["adopting_kubernetes_provider"] = team.adopting
        return Fleet("agents", args, pulumi.ResourceOptions(parent=team, providers=[team.cluster]))

    result, _ = run(build)
    by_provider = {r.provider for r in result.resources if r.retain_on_delete}
    others = {r.provider for r in result.resources if r.type.startswith("kubernetes:") and not r.retain_on_delete}
    kept = {r.type for r in result.resources if r.retain_on_delete}
    assert kept == {t for t in KEPT if t.startswith("kubernetes:")}
    assert by_provider == ({"cluster-adopting"} if adopting else {"cluster"})
    assert others == {"cluster"}


def test_the_fleets_outputs_are_per_agent(example_json: dict[str, Any]) -> None:
    args = FleetArgs(spec=str(EXAMPLE), settings=fleet_settings("gcp"))
    result, _ = run(in_team(args), known=None)  # everything known, as after a `pulumi up`
    outputs = result.outputs
    assert outputs["namespaces"] == {"ada": "nuketown-dev--ada", "vox": "nuketown-dev--vox"}
    assert outputs["identities"] == {a: f"nt-dev--{a}@acme-agents.iam.gserviceaccount.com" for a in ("ada", "vox")}
    assert set(outputs["kmsKeys"]) == {"ada", "vox"} and all("/cryptoKeys/" in k for k in outputs["kmsKeys"].values())
    assert outputs["sopsRules"] == [
        {"path_regex": f"^secrets/{a}/", "gcp_kms": outputs["kmsKeys"][a]} for a in ("ada", "vox")
    ]
    assert "creation_rules:" in outputs["sopsConfig"] and outputs["kmsKeys"]["vox"] in outputs["sopsConfig"]
    assert sorted(example_json["agents"]) == sorted(outputs["namespaces"])


def test_a_fleet_without_a_cloud_has_no_identities_and_no_rules() -> None:
    result, _ = run(in_team(FleetArgs(spec=str(EXAMPLE))), known=None)
    assert (result.outputs["identities"], result.outputs["kmsKeys"], result.outputs["sopsRules"]) == ({}, {}, [])


def test_python_programs_read_each_agent_typed() -> None:
    fleets: list[Fleet] = []

    def program() -> dict[str, Any]:
        fleet = Fleet("agents", FleetArgs(spec=str(EXAMPLE), settings=fleet_settings("irsa")))
        fleets.append(fleet)
        return {"identity": fleet.agents["ada"].identity, "key": fleet.agents["ada"].kms_key}

    result = run_program(program, "dev", {}, known=None)
    ada = fleets[0].agents["ada"]
    assert (ada.namespace, ada.service_account) == ("nuketown-dev--ada", "ada")
    assert result.outputs["identity"].startswith("arn:aws:iam::") and result.outputs["identity"].endswith(
        ":role/nuketown-dev--ada"
    )
    assert result.outputs["key"].startswith("arn:aws:kms:")


def test_names_derive_from_the_pulumi_stack_unless_the_settings_name_one() -> None:
    result, _ = run(in_team(FleetArgs(spec=str(EXAMPLE))), stack="prod")
    assert {r.inputs["metadata"]["name"] for r in result.resources if r.type.endswith(":Namespace")} == {
        "nuketown-prod--ada",
        "nuketown-prod--vox",
    }
    result, _ = run(in_team(FleetArgs(spec=str(EXAMPLE), settings={"stack": "team-a"})), stack="prod")
    assert {r.inputs["metadata"]["name"] for r in result.resources if r.type.endswith(":Namespace")} == {
        "nuketown-team-a--ada",
        "nuketown-team-a--vox",
    }


def test_every_form_of_spec_and_settings_declares_the_same(example_json: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "spec.json"
    source.write_text(json.dumps(example_json))
    settings = fleet_settings("podIdentity")
    typed = settings_from_config("dev", CLOUD_SETTINGS["podIdentity"])
    forms = [
        FleetArgs(spec=str(EXAMPLE), settings=settings),
        FleetArgs(spec=source, settings=settings),
        FleetArgs(spec=example_json, settings=settings),
        FleetArgs(spec=load_spec(example_json), settings=typed),
    ]
    declared = [sorted(json.dumps(r.to_json(), sort_keys=True) for r in run(in_team(f))[0].resources) for f in forms]
    assert all(d == declared[0] for d in declared[1:])


def test_without_kubernetes_the_fleet_declares_the_cloud_identity_only() -> None:
    def build(team: Team) -> Fleet:
        settings = {**fleet_settings("gcp"), "applyKubernetes": False}
        return Fleet(
            "agents",
            FleetArgs(spec=str(EXAMPLE), settings=settings),
            pulumi.ResourceOptions(parent=team, providers=[team.gcp]),
        )

    result, _ = run(build)
    assert not [r for r in result.resources if r.type.startswith("kubernetes:")]
    assert [r for r in result.resources if r.type == "gcp:serviceaccount/account:Account"]


def mistakes() -> dict[str, Any]:
    return json.loads((ROOT / "examples" / "mistakes.json").read_text())


BAD: dict[str, tuple[Callable[[Team], FleetArgs], list[str]]] = {
    "settings typo": (
        lambda t: FleetArgs(spec=str(EXAMPLE), settings={"clud": "gcp"}),
        ["settings.clud: not a setting (did you mean settings.cloud?)"],
    ),
    "cloud without project": (
        lambda t: FleetArgs(spec=str(EXAMPLE), settings={"cloud": "gcp"}),
        ["settings.gcpProject: required when settings.cloud is gcp (set settings.gcpProject)"],
    ),
    "a stack-only setting": (
        lambda t: FleetArgs(spec=str(EXAMPLE), settings={"source": "x.nix"}),
        ["settings.source: not a Fleet setting; pass the spec as the Fleet's `spec`"],
    ),
    "no spec": (
        lambda t: {"settings": {}},
        ["spec: required: a source (a .json or .nix file, a flake reference) or the spec itself"],
    ),
    "an unknown argument": (
        lambda t: {"spec": str(EXAMPLE), "setting": {}},
        ["setting: not an argument of a Fleet (adopting_kubernetes_provider, settings, spec)"],
    ),
    "a spec that is an Output": (
        lambda t: FleetArgs(spec=pulumi.Output.from_input(str(EXAMPLE))),
        [
            "spec: an Output; the Fleet names everything before it declares anything, so the spec must be known "
            "when the program runs (a file, a flake reference, or the spec itself)"
        ],
    ),
    "a setting that is an Output": (
        lambda t: FleetArgs(spec=str(EXAMPLE), settings={"gcpProject": t.gcp.id}),
        ["settings.gcpProject: an Output; settings must be known when the program runs"],
    ),
    "an adopting provider of another package": (
        lambda t: FleetArgs(spec=str(EXAMPLE), adopting_kubernetes_provider=t.gcp),
        ["adopting_kubernetes_provider: a pulumi_kubernetes.Provider, got Provider"],
    ),
    "a spec with mistakes": (
        lambda t: FleetArgs(spec=mistakes()),
        [],  # the stack file's own lines: compared below with what the command line prints
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_raise_the_input_errors_and_declare_nothing_of_the_fleet(case: str) -> None:
    make, expected = BAD[case]

    def build(team: Team) -> Fleet:
        return Fleet("agents", make(team), pulumi.ResourceOptions(parent=team, providers=[team.cluster]))

    with pytest.raises(InputError) as caught:
        run(build)
    if case == "a spec with mistakes":
        with pytest.raises(InputError) as from_the_stack_file:
            load_spec(mistakes())
        expected = list(from_the_stack_file.value.problems)
    assert list(caught.value.problems) == expected


def test_bad_arguments_register_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    registered = spy_on_mocks(monkeypatch, "new_resource")
    with pytest.raises(InputError):
        run(in_team(FleetArgs(spec=str(EXAMPLE), settings={"cloud": "gcp"})))
    types = [args.typ for args in registered]
    assert types and all(t == TEAM or t.startswith("pulumi:providers:") for t in types)
