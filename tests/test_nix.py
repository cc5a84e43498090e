"""The nix side, evaluated for real: the builtins-only spec function, and the module with nixpkgs lib.

Evaluations are batched: one nix-instantiate call evaluates many cases and returns them all as JSON.
Every call runs with --readonly-mode, so derivations get their store paths and nothing is written or built.
"""

import json
import os
import re
import subprocess
import types
import typing
from typing import Any

import pytest
from conftest import ROOT
from pydantic import BaseModel

from nuketown_stack.inputs.quantity import parse_quantity
from nuketown_stack.inputs.source import NIX_EXPERIMENTAL
from nuketown_stack.inputs.spec import AgentSpec, CloudSpec, Scaling, load_spec

SPEC_NIX = ROOT / "nix" / "spec.nix"
STRICT_NIX = ROOT / "nix" / "strict.nix"
GRAMMAR = ROOT / "nuketown_stack" / "inputs" / "grammar.json"
HARNESS = ROOT / "tests" / "nix" / "harness.nix"
EXAMPLE_DIR = ROOT / "examples" / "cloud-ada"
NIXPKGS_LIB = os.environ.get("NIXPKGS_LIB")
# nix-snapshotter's reference to an image archive in the store (nix base32 has no e, o, t, u).
NIX_IMAGE = re.compile(r"nix:0/nix/store/[0-9a-df-np-sv-z]{32}-nix-image-(?P<name>[^/]+)\.tar")


def nix(expression: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nix-instantiate", "--readonly-mode", "--eval", "--strict", "--json", "--expr", expression, *args],
        capture_output=True,
        text=True,
    )


def nix_json(expression: str, *args: str) -> Any:
    result = nix(expression, *args)
    if result.returncode != 0:
        raise AssertionError(result.stderr)
    return json.loads(result.stdout)


def nix_error(expression: str, *args: str) -> str:
    result = nix(expression, *args)
    assert result.returncode != 0, result.stdout
    return result.stderr


def spec_of(settings: str) -> Any:
    return nix_json(f"(import {SPEC_NIX}).spec ({settings})")


def problems_of(cases: dict[str, str]) -> dict[str, list[str]]:
    """The spec function's problems with each nuketown attrset, in one evaluation."""
    body = " ".join(f"{json.dumps(name)} = problems ({settings});" for name, settings in cases.items())
    return nix_json(f"let inherit (import {SPEC_NIX}) problems; in {{ {body} }}")


def drv(name: str) -> str:
    """A derivation nix gives a store path without building it."""
    return f'(builtins.derivation {{ name = "{name}"; system = "x86_64-linux"; builder = "/bin/sh"; }})'


SEED_MINIMAL = "{ enable = true; agents.ada = { enable = true; uid = 1100; }; cloud.enable = true; }"


def with_ada(cloud: str = "", agent_cloud: str = "", agent: str = "") -> str:
    """A one-agent nuketown attrset with extra settings."""
    return (
        f"{{ enable = true; agents.ada = {{ enable = true; uid = 1100; {agent} cloud = {{ {agent_cloud} }}; }}; "
        f"cloud = {{ enable = true; {cloud} }}; }}"
    )


def test_seed_one_line_config_gives_a_valid_spec() -> None:
    spec = spec_of(SEED_MINIMAL)
    assert spec["schemaVersion"] == 1
    assert sorted(spec["tiers"]) == ["gpu", "large", "small", "standard"]
    ada = spec["agents"]["ada"]
    assert ada == {
        "uid": 1100,
        "role": "general",
        "description": "",
        "home": "/agents/ada",
        "git": {"name": "ada", "email": "ada@localhost"},
        "resources": "standard",
        "scaling": {
            "maxResources": "standard",
            "minResources": None,
            "idleTimeout": None,
            "rightSizing": None,
            "wake": [],
        },
        "image": "nuketown-ada:latest",
        "imagePullPolicy": None,
        "persist": [{"path": "projects", "size": "10Gi"}],
        "identity": {"gcpServiceAccount": None, "awsRoleArn": None, "azureClientId": None, "scope": "ada-*"},
        "network": {"egress": "all"},
        "spot": False,
        "env": {},
        "buckets": [],
    }
    load_spec(spec)


def test_tiers_match_the_design() -> None:
    tiers = spec_of(SEED_MINIMAL)["tiers"]
    assert tiers["gpu"] == {
        "cpu": "4",
        "memory": "16Gi",
        "extendedResources": {"nvidia.com/gpu": "1"},
        "nodeSelector": {"nuketown.io/tier": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert {n: (t["cpu"], t["memory"]) for n, t in tiers.items()} == {
        "small": ("1", "2Gi"),
        "standard": ("2", "4Gi"),
        "large": ("4", "8Gi"),
        "gpu": ("4", "16Gi"),
    }


def test_only_enabled_cloud_agents_appear() -> None:
    spec = spec_of("""{ enable = true; cloud.enable = true; agents = {
        ada = { enable = true; uid = 1100; };
        off = { enable = false; uid = 1101; };
        local = { enable = true; uid = 1102; cloud.enable = false; }; }; }""")
    assert list(spec["agents"]) == ["ada"]
    opt_in = spec_of("{ enable = true; agents.ada = { enable = true; uid = 1100; cloud.enable = true; }; }")
    assert list(opt_in["agents"]) == ["ada"]
    assert spec_of("{ enable = false; cloud.enable = true; agents.ada = { enable = true; uid = 1; }; }")["agents"] == {}


def test_defaults_flow_from_nuketown_cloud() -> None:
    spec = spec_of("""{ enable = true; domain = "d.example"; agentsDir = "/home/agents";
        agents.ada = { enable = true; uid = 1100; persist = [ "projects" ".config/claude" ];
                       cloud.scaling.idleTimeout = 60; };
        cloud = { enable = true; resources = "small"; scaling = { maxResources = "large"; idleTimeout = 3600; };
                  storage = { defaultSize = "5Gi"; sizes.".config/claude" = "1Gi"; };
                  image = "ghcr.io/me/@agent@:v1"; }; }""")
    ada = spec["agents"]["ada"]
    assert ada["home"] == "/home/agents/ada"
    assert ada["git"]["email"] == "ada@d.example"
    assert ada["resources"] == "small"
    assert ada["scaling"] == {
        "maxResources": "large",
        "minResources": None,
        "idleTimeout": 60,
        "rightSizing": None,
        "wake": [],
    }
    assert ada["persist"] == [{"path": "projects", "size": "5Gi"}, {"path": ".config/claude", "size": "1Gi"}]
    assert ada["image"] == "ghcr.io/me/ada:v1"


def test_tiers_merge_field_by_field_as_in_the_module() -> None:
    spec = spec_of(with_ada(cloud='tiers = { gpu.memory = "32Gi"; xl = { cpu = "16"; memory = "64Gi"; }; };'))
    assert spec["tiers"]["gpu"]["memory"] == "32Gi"
    assert spec["tiers"]["gpu"]["extendedResources"] == {"nvidia.com/gpu": "1"}
    assert spec["tiers"]["xl"] == {
        "cpu": "16",
        "memory": "64Gi",
        "extendedResources": {},
        "nodeSelector": {},
        "tolerations": [],
    }
    assert sorted(spec["tiers"]) == ["gpu", "large", "small", "standard", "xl"]


def test_image_may_be_a_function() -> None:
    spec = spec_of(
        "{ enable = true; agents.ada = { enable = true; uid = 1; }; "
        'cloud = { enable = true; image = name: "reg/${name}-img"; }; }'
    )
    assert spec["agents"]["ada"]["image"] == "reg/ada-img"


def test_undefined_tier_fails_evaluation_with_an_actionable_message() -> None:
    error = nix_error(
        f"(import {SPEC_NIX}).spec {{ enable = true; cloud.enable = true; "
        'agents.ada = { enable = true; uid = 1; cloud.scaling.maxResources = "xl"; }; }'
    )
    assert (
        "nuketown.agents.ada.cloud.scaling.maxResources: 'xl' is not a tier (gpu, large, small, standard); "
        "define it in nuketown.cloud.tiers or pick one of those."
    ) in error


# --- strict names: a typo fails with its option path -------------------------------------------


def test_edit_distance() -> None:
    pairs = [
        ("egres", "egress", 1),
        ("persits", "persist", 1),  # two neighbours swapped: one edit
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("abc", "", 3),
        ("same", "same", 0),
        ("idleTimout", "idleTimeout", 1),
        ("ca", "abc", 3),  # a swap is not edited again (optimal string alignment)
    ]
    body = " ".join(f'(distance "{a}" "{b}")' for a, b, _ in pairs)
    assert nix_json(f"let inherit (import {STRICT_NIX}) distance; in [ {body} ]") == [d for _, _, d in pairs]


TYPO_CASES = {
    # (nuketown attrset, the problems it has)
    "egress": (
        with_ada(agent_cloud='network.egres = "none";'),
        ["nuketown.agents.ada.cloud.network.egres: no such option; did you mean `egress`?"],
    ),
    "persist": (
        with_ada(agent='persits = [ "projects" ];'),
        ["nuketown.agents.ada.persits: no such option; did you mean `persist`?"],
    ),
    "top": ("{ enable = true; clod.enable = true; }", ["nuketown.clod: no such option; did you mean `cloud`?"]),
    "git": (
        with_ada(agent='git.emial = "a@b.c";'),
        ["nuketown.agents.ada.git.emial: no such option; did you mean `email`?"],
    ),
    "agent cloud": (
        with_ada(agent_cloud='resorces = "small";'),
        ["nuketown.agents.ada.cloud.resorces: no such option; did you mean `resources`?"],
    ),
    "agent scaling": (
        with_ada(agent_cloud='scaling.maxResource = "large";'),
        ["nuketown.agents.ada.cloud.scaling.maxResource: no such option; did you mean `maxResources`?"],
    ),
    "identity": (
        with_ada(agent_cloud='identity.gcpServiceAcount = "x";'),
        ["nuketown.agents.ada.cloud.identity.gcpServiceAcount: no such option; did you mean `gcpServiceAccount`?"],
    ),
    "egress rule": (
        with_ada(agent_cloud='network.egress = [ { cidr = "0.0.0.0/0"; port = [ 443 ]; } ];'),
        ["nuketown.agents.ada.cloud.network.egress[0].port: no such option; did you mean `ports`?"],
    ),
    "wake trigger": (
        with_ada(agent_cloud='scaling.wake = [ { type = "cron"; metdata = { }; authenticationRef.knd = "x"; } ];'),
        [
            "nuketown.agents.ada.cloud.scaling.wake[0].authenticationRef.knd: no such option; did you mean `kind`?",
            "nuketown.agents.ada.cloud.scaling.wake[0].metdata: no such option; did you mean `metadata`?",
        ],
    ),
    "fleet wake function": (
        with_ada(cloud='scaling.wake = name: [ { type = "redis"; metadata.listName = name; nmae = name; } ];'),
        ['nuketown.cloud.scaling.wake("ada")[0].nmae: no such option; did you mean `name`?'],
    ),
    "cloud": (
        with_ada(cloud='imagePulPolicy = "Always";'),
        ["nuketown.cloud.imagePulPolicy: no such option; did you mean `imagePullPolicy`?"],
    ),
    "cloud scaling": (
        with_ada(cloud="scaling.idleTimout = 60;"),
        ["nuketown.cloud.scaling.idleTimout: no such option; did you mean `idleTimeout`?"],
    ),
    "storage": (
        with_ada(cloud='storage.defaultsize = "1Gi";'),
        ["nuketown.cloud.storage.defaultsize: no such option; did you mean `defaultSize`?"],
    ),
    "tier": (
        with_ada(cloud='tiers.xl = { cpu = "8"; memroy = "32Gi"; };'),
        ["nuketown.cloud.tiers.xl.memroy: no such option; did you mean `memory`?"],
    ),
    "toleration": (
        with_ada(
            cloud='tiers.xl = { cpu = "8"; memory = "1Gi"; tolerations = [ { key = "k"; efect = "NoSchedule"; } ]; };'
        ),
        ["nuketown.cloud.tiers.xl.tolerations[0].efect: no such option; did you mean `effect`?"],
    ),
    "nothing close": (
        with_ada(cloud="scaling.foo = 1;"),
        [
            "nuketown.cloud.scaling.foo: no such option; the options here are "
            "idleTimeout, maxResources, minResources, rightSizing, wake"
        ],
    ),
    "upstream typo": (
        with_ada(agent="sudo.enabel = true;"),
        ["nuketown.agents.ada.sudo.enabel: no such option; did you mean `enable`?"],
    ),
    "several at once": (
        "{ enable = true; domian = 1; agents.ada = { enable = true; uid = 1; rol = 2; }; }",
        [
            "nuketown.agents.ada.rol: no such option; did you mean `role`?",
            "nuketown.domian: no such option; did you mean `domain`?",
        ],
    ),
    # Upstream options the spec passes over (nix/upstream-options.nix), as a nuketown.nix for both paths sets them.
    "upstream options": (
        '{ enable = true; humanUser = "josh"; basePackages = [ ]; sopsFile = ./x; agents.ada = { enable = true; '
        "uid = 1; packages = [ ]; sudo = { enable = true; commands = [ ]; }; portal.enable = true; "
        "claudeCode = { enable = true; settings.anything.goes = 1; }; git.signing = false; "
        'daemon = { enable = true; repos.hello.url = "u"; mail.port = 1; }; xmpp.rooms = [ ]; '
        'devices = [ { subsystem = "tty"; attrs = { }; } ]; secrets.extraSecrets.a = "b"; '
        "extraHomeConfig.programs.whatever = true; }; }",
        [],
    ),
    "offline cannot build images": (
        with_ada(cloud="nixSnapshotter.enable = true;"),
        [
            "nuketown.cloud.nixSnapshotter.enable: images are built from the agents' packages by the NixOS module, "
            "which needs nixpkgs; evaluate config.nuketown.cloud.spec of the NixOS configuration, "
            "or set nuketown.cloud.image"
        ],
    ),
    "the fleet and the example": (f"import {ROOT / 'examples' / 'cloud-ada' / 'nuketown.nix'}", []),
}


def test_every_unknown_name_fails_with_its_path_and_a_suggestion() -> None:
    found = problems_of({name: settings for name, (settings, _) in TYPO_CASES.items()})
    assert found == {name: expected for name, (_, expected) in TYPO_CASES.items()}


def test_a_typo_stops_the_spec() -> None:
    """`egres = "none"` used to validate and leave egress open; `persits` dropped every volume."""
    error = nix_error(f"(import {SPEC_NIX}).spec ({TYPO_CASES['egress'][0]})")
    assert "nuketown.agents.ada.cloud.network.egres: no such option; did you mean `egress`?" in error
    error = nix_error(f"(import {SPEC_NIX}).spec ({TYPO_CASES['persist'][0]})")
    assert "nuketown.agents.ada.persits: no such option; did you mean `persist`?" in error


# --- one grammar for quantities ------------------------------------------------------------------

QUANTITIES = {
    "1": True,
    "500m": True,
    "4Gi": True,
    "0.5": True,
    ".5": True,
    "1.": True,
    "1e3": True,
    "1E3": True,
    "1E": True,  # exa
    "1.5e-3": True,
    "007": True,
    "10mi": False,  # milli is m; Mi is binary mega
    "1K": False,
    "1ki": False,
    "-1": False,  # sizes are positive: no sign at all
    "+1": False,
    "0": False,  # nor zero
    "0Gi": False,
    "0.000": False,
    "0e3": False,
    "": False,
    ".": False,
    "1e": False,
    "1.5.2": False,
    " 1": False,
    "1\n": False,
    "1KiB": False,
}


def grammar() -> dict[str, str]:
    return json.loads(GRAMMAR.read_text())["quantity"]


def test_nix_and_python_regex_engines_read_the_grammar_alike() -> None:
    pattern = grammar()["pattern"]
    body = " ".join(f"{json.dumps(q)} = match {json.dumps(q)};" for q in QUANTITIES)
    in_nix = nix_json(
        f"let g = builtins.fromJSON (builtins.readFile {GRAMMAR}); "
        f"match = q: builtins.match g.quantity.pattern q != null; in {{ {body} }}"
    )
    in_python = {q: re.fullmatch(pattern, q) is not None for q in QUANTITIES}
    assert in_nix == in_python == QUANTITIES


def test_spec_function_checks_quantities_with_the_grammar() -> None:
    cases = {
        "10mi": with_ada(cloud='tiers.xl = { cpu = "10mi"; memory = "1Gi"; extendedResources.gpu = "0"; };'),
        "-1": with_ada(cloud='storage = { defaultSize = "-1"; sizes.projects = "0Gi"; };'),
    }
    described = grammar()["description"]
    assert problems_of(cases) == {
        "10mi": [
            f'nuketown.cloud.tiers.xl.cpu: "10mi" is not {described}.',
            f'nuketown.cloud.tiers.xl.extendedResources."gpu": "0" is not {described}.',
        ],
        "-1": [
            f'nuketown.cloud.storage.defaultSize: "-1" is not {described}.',
            f'nuketown.cloud.storage.sizes."projects": "0Gi" is not {described}.',
        ],
    }


def python_accepts(quantity: str) -> bool:
    try:
        parse_quantity(quantity)
    except ValueError:
        return False
    return True


def test_python_quantities_follow_the_grammar() -> None:
    assert {q: python_accepts(q) for q in QUANTITIES} == QUANTITIES


# --- images built by nix -------------------------------------------------------------------------


def test_images_built_by_nix_are_nix_snapshotter_references() -> None:
    image = drv("nix-image-ada.tar")
    result = nix_json(f"""
      let
        spec = (import {SPEC_NIX}).spec;
        image = {image};
        ada = {{ enable = true; uid = 1; }};
        one = settings: (spec ({{ enable = true; agents.ada = ada; }} // settings)).agents.ada.image;
      in {{
        archive = image.outPath;  # (an attrset with outPath would print as that path)
        derivation = one {{ cloud = {{ enable = true; image = image; }}; }};
        function = one {{ cloud = {{ enable = true; image = name: {drv("nix-image-fn-${name}.tar")}; }}; }};
        storePath = one {{ cloud.enable = true; agents.ada = ada // {{ cloud.image = "${{image}}"; }}; }};
        plainString = one {{
          cloud.enable = true;
          agents.ada = ada // {{ cloud.image = "/nix/store/00000000000000000000000000000000-nix-image-ada.tar"; }};
        }};
        template = one {{ cloud = {{ enable = true; image = "reg/@agent@:v1"; }}; }};
      }}""")
    assert result["derivation"] == "nix:0" + result["archive"]
    assert NIX_IMAGE.fullmatch(result["derivation"])["name"] == "ada"
    assert NIX_IMAGE.fullmatch(result["function"])["name"] == "fn-ada"
    assert result["storePath"] == result["derivation"]
    assert result["plainString"] == "nix:0/nix/store/00000000000000000000000000000000-nix-image-ada.tar"
    assert result["template"] == "reg/ada:v1"
    spec = spec_of(with_ada(cloud=f"image = {image};"))
    assert load_spec(spec).agents["ada"].image == result["derivation"]


def test_an_image_path_outside_the_store_is_refused() -> None:
    error = nix_error(f"(import {SPEC_NIX}).spec ({with_ada(agent_cloud='image = /tmp/ada.tar;')})")
    assert "the image of agent ada, /tmp/ada.tar, is a path outside the nix store" in error


# --- scaling.minResources, rightSizing, wake; imagePullPolicy --------------------------------------

WAKE_FLEET = """scaling = { minResources = "small"; rightSizing = "Initial";
    wake = name: [ { type = "redis"; metadata = { address = "redis:6379"; listName = "nuketown:${name}:inbox"; }; } ];
  };
  imagePullPolicy = "IfNotPresent";"""
WAKE_VOX = """scaling = { rightSizing = "Off"; minResources = "standard";
    wake = [ { type = "cron"; name = "workday"; authenticationRef.name = "none";
               metadata = { start = "0 8 * * *"; end = "0 18 * * *"; timezone = "UTC"; }; } ];
  };
  imagePullPolicy = "Always";"""
NEW_FIELDS = (
    f'{{ enable = true; domain = "d.example"; cloud = {{ enable = true; {WAKE_FLEET} }}; agents = {{ '
    "ada = { enable = true; uid = 1100; }; "
    f"vox = {{ enable = true; uid = 1101; cloud = {{ {WAKE_VOX} }}; }}; }}; }}"
)


def test_new_scaling_fields_and_pull_policy_flow_from_the_fleet() -> None:
    spec = spec_of(NEW_FIELDS)
    ada, vox = spec["agents"]["ada"], spec["agents"]["vox"]
    assert ada["scaling"] == {
        "maxResources": "standard",
        "minResources": "small",
        "idleTimeout": None,
        "rightSizing": "Initial",
        "wake": [
            {
                "type": "redis",
                "metadata": {"address": "redis:6379", "listName": "nuketown:ada:inbox"},
                "name": None,
                "authenticationRef": None,
            }
        ],
    }
    assert ada["imagePullPolicy"] == "IfNotPresent"
    assert vox["scaling"]["rightSizing"] == "Off"
    assert vox["scaling"]["minResources"] == "standard"
    assert vox["scaling"]["wake"] == [
        {
            "type": "cron",
            "name": "workday",
            "metadata": {"start": "0 8 * * *", "end": "0 18 * * *", "timezone": "UTC"},
            "authenticationRef": {"name": "none", "kind": "TriggerAuthentication"},
        }
    ]
    assert vox["imagePullPolicy"] == "Always"
    loaded = load_spec(spec)
    assert loaded.agents["ada"].scaling.wake[0].metadata["listName"] == "nuketown:ada:inbox"
    assert loaded.agents["vox"].scaling.wake[0].authentication_ref.kind == "TriggerAuthentication"


def test_min_resources_must_be_a_tier() -> None:
    found = problems_of({"xs": with_ada(agent_cloud='scaling.minResources = "xs";')})
    assert found == {
        "xs": [
            "nuketown.agents.ada.cloud.scaling.minResources: 'xs' is not a tier (gpu, large, small, standard); "
            "define it in nuketown.cloud.tiers or pick one of those."
        ]
    }


# --- the names the spec function knows are the model's -------------------------------------------

UPSTREAM_OWNED = {"uid", "role", "description", "home", "git", "persist"}  # set by upstream nuketown options
FLEET_DEFAULTS = {"resources", "scaling", "image", "imagePullPolicy"}  # nuketown.cloud.* defaults of agents' options
MODULE_ONLY_AGENT = {"enable": True}
MODULE_ONLY_FLEET = {
    "enable": True,
    "storage": {"defaultSize": True, "sizes": True},
    "nixSnapshotter": {"enable": True},
}


def model_tree(model: type[BaseModel]) -> dict[str, Any]:
    """Field names (as the spec spells them) of a model; a field holding models is their tree."""
    tree: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        inner = _model_in(field.annotation)
        tree[field.alias or name] = model_tree(inner) if inner else True
    return tree


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


def expected_agent_cloud() -> dict[str, Any]:
    agent = model_tree(AgentSpec)
    assert agent.keys() >= UPSTREAM_OWNED
    return {k: v for k, v in agent.items() if k not in UPSTREAM_OWNED} | MODULE_ONLY_AGENT


def expected_fleet_cloud() -> dict[str, Any]:
    agent = model_tree(AgentSpec)
    return {k: agent[k] for k in FLEET_DEFAULTS} | {"tiers": model_tree(CloudSpec)["tiers"]} | MODULE_ONLY_FLEET


def flatten(names: Any) -> Any:
    """nix/upstream-options.nix notation to a plain tree: lists and "<name>" attribute sets are their element."""
    if isinstance(names, list):
        return flatten(names[0])
    if isinstance(names, dict):
        return flatten(names["<name>"]) if "<name>" in names else {k: flatten(v) for k, v in names.items()}
    return names


def test_spec_function_knows_the_models_names() -> None:
    names = flatten(nix_json(f"(import {SPEC_NIX}).names"))
    assert model_tree(Scaling)["wake"] == {
        "type": True,
        "metadata": True,
        "name": True,
        "authenticationRef": {"name": True, "kind": True},
    }
    assert names["agents"]["cloud"] == expected_agent_cloud()
    assert names["cloud"] == expected_fleet_cloud()
    upstream_read = {k: names["agents"][k] for k in UPSTREAM_OWNED - {"home"}}
    assert upstream_read["git"].keys() >= model_tree(AgentSpec)["git"].keys()
    assert {"enable", "domain", "agentsDir", "agents", "cloud"} <= names.keys()


# --- CI -----------------------------------------------------------------------------------------


def test_test_script_finds_nixpkgs_lib_next_to_the_checkout(tmp_path: Any) -> None:
    """CI runs the module tests: scripts/test.sh points NIXPKGS_LIB at ../shared/nixpkgs-lib/lib when it is there."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    script = (ROOT / "scripts" / "test.sh").read_text()
    probe = script.split("# NIXPKGS_LIB:", 1)[1].split("\n\n", 1)[0]  # the block that sets it
    (checkout / "probe.sh").write_text("set -eu\n" + "# NIXPKGS_LIB:" + probe + '\necho "${NIXPKGS_LIB:-}"\n')

    def run() -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "NIXPKGS_LIB"}
        return subprocess.run(["bash", "probe.sh"], cwd=checkout, env=env, capture_output=True, text=True)

    missing = run()
    assert missing.stdout.strip() == ""
    assert "NIXPKGS_LIB" in missing.stderr and 'nix-command flakes" flake metadata' in missing.stderr
    lib = tmp_path / "shared" / "nixpkgs-lib" / "lib"
    lib.mkdir(parents=True)
    found = run()
    assert found.stdout.strip() == str(lib)
    assert found.stderr == ""
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()  # CI runs the script that sets it


# --- the NixOS module, with nixpkgs lib ------------------------------------------------------------

needs_lib = pytest.mark.skipif(
    not NIXPKGS_LIB,
    reason="NIXPKGS_LIB is not set: the NixOS module tests need nixpkgs' lib; "
    "export NIXPKGS_LIB=\"$(nix --extra-experimental-features 'nix-command flakes' flake metadata --json nixpkgs "
    '| jq -r .path)/lib", '
    "or the lib directory of a checkout of nix-community/nixpkgs.lib",
)


def harness(body: str, nix_snapshotter: bool = False) -> Any:
    """Evaluate `body` with `h` bound to tests/nix/harness.nix (stand-ins for NixOS and upstream nuketown)."""
    flag = "true" if nix_snapshotter else "false"
    return nix_json(
        f"let lib = import {NIXPKGS_LIB}; h = import {HARNESS} {{ inherit lib; nixSnapshotter = {flag}; }}; in {body}"
    )


def harness_error(body: str, nix_snapshotter: bool = False) -> str:
    flag = "true" if nix_snapshotter else "false"
    return nix_error(
        f"let lib = import {NIXPKGS_LIB}; h = import {HARNESS} {{ inherit lib; nixSnapshotter = {flag}; }}; in {body}"
    )


def module_spec(configuration: str) -> Any:
    return harness(f"(h.module ({configuration})).spec")


@needs_lib
def test_module_seed_one_liner_on_an_existing_agent() -> None:
    spec = module_spec(
        "{ nuketown.enable = true; nuketown.agents.ada = { enable = true; uid = 1100; }; "
        "nuketown.cloud.enable = true; }"
    )
    # Upstream's domain default is `<hostname>.local` (NixOS' hostname defaults to nixos); with it, both paths agree.
    # (Compared as CloudSpecs: the module spells unset toleration fields as null.)
    plain = spec_of(SEED_MINIMAL.replace("enable = true;", 'enable = true; domain = "nixos.local";', 1))
    assert load_spec(spec) == load_spec(plain)
    assert spec["agents"]["ada"]["git"]["email"] == "ada@nixos.local"


@needs_lib
def test_module_and_plain_function_agree() -> None:
    """Each nuketown attrset, as the NixOS module evaluates it and as the spec function does: one spec."""
    cases = {
        "example": f"import {EXAMPLE_DIR / 'nuketown.nix'}",
        "new fields": NEW_FIELDS,
        "images": (
            '{ enable = true; domain = "d.example"; '
            f"cloud = {{ enable = true; image = name: {drv('nix-image-${name}.tar')}; }}; "
            "agents.ada = { enable = true; uid = 1; }; "
            f'agents.vox = {{ enable = true; uid = 2; cloud.image = "${{{drv("nix-image-vox.tar")}}}"; }}; }}'
        ),
        "tiers": with_ada(
            cloud='tiers = { gpu.tolerations = [ { key = "k"; operator = "Equal"; value = "v"; effect = "NoExecute"; '
            'tolerationSeconds = 30; } ]; xl = { cpu = "8"; memory = "32Gi"; }; small.memory = "3Gi"; };'
        ).replace("enable = true;", 'enable = true; domain = "d.example";', 1),
    }
    body = " ".join(
        f"{json.dumps(name)} = {{ module = (h.module {{ nuketown = {settings}; }}).spec; "
        f"plain = (import {SPEC_NIX}).spec ({settings}); }};"
        for name, settings in cases.items()
    )
    results = harness(f"{{ {body} }}")
    for name, result in results.items():
        assert load_spec(result["module"]) == load_spec(result["plain"]), name
    images = results["images"]["module"]["agents"]
    assert NIX_IMAGE.fullmatch(images["ada"]["image"])["name"] == "ada"
    assert NIX_IMAGE.fullmatch(images["vox"]["image"])["name"] == "vox"
    assert results["new fields"]["module"]["agents"] == results["new fields"]["plain"]["agents"]


@needs_lib
def test_module_tiers_merge_field_by_field() -> None:
    spec = module_spec('{ nuketown.cloud.tiers = { gpu.memory = "32Gi"; xl = { cpu = "16"; memory = "64Gi"; }; }; }')
    assert spec["tiers"]["gpu"]["memory"] == "32Gi"
    assert spec["tiers"]["gpu"]["extendedResources"] == {"nvidia.com/gpu": "1"}
    assert spec["tiers"]["xl"]["cpu"] == "16"
    assert sorted(spec["tiers"]) == ["gpu", "large", "small", "standard", "xl"]


@needs_lib
def test_module_undefined_tiers_are_assertions_and_stop_the_spec() -> None:
    configuration = (
        "{ nuketown.enable = true; nuketown.cloud.enable = true; "
        'nuketown.agents.ada = { enable = true; uid = 1100; cloud.resources = "huge"; '
        'cloud.scaling.minResources = "tiny"; }; }'
    )
    failed = harness(f"(h.module {configuration}).failedAssertions")
    assert failed == [
        "nuketown.agents.ada.cloud.resources: 'huge' is not a tier (gpu, large, small, standard); "
        "define it in nuketown.cloud.tiers or pick one of those.",
        "nuketown.agents.ada.cloud.scaling.minResources: 'tiny' is not a tier (gpu, large, small, standard); "
        "define it in nuketown.cloud.tiers or pick one of those.",
    ]
    assert "is not a tier" in harness_error(f"(h.module {configuration}).spec")


@needs_lib
def test_module_quantities_follow_the_grammar() -> None:
    body = " ".join(
        f"{json.dumps(q)} = (builtins.tryEval (builtins.deepSeq (h.module "
        f"{{ nuketown.cloud.storage.defaultSize = {json.dumps(q)}; }}).spec true)).success;"
        for q in QUANTITIES
    )
    assert harness(f"{{ {body} }}") == QUANTITIES
    error = harness_error('(h.module { nuketown.cloud.tiers.small.cpu = "10mi"; }).spec')
    assert "nuketown.cloud.tiers.small.cpu" in error
    assert grammar()["description"] in error


@needs_lib
def test_module_rejects_bad_option_values() -> None:
    error = harness_error(
        '(h.module { nuketown.cloud.scaling.rightSizing = "Sometimes"; nuketown.enable = true; '
        "nuketown.cloud.enable = true; nuketown.agents.ada = { enable = true; uid = 1; }; }).spec"
    )
    assert "nuketown.cloud.scaling.rightSizing" in error
    error = harness_error(
        "(h.module { nuketown.enable = true; nuketown.cloud.enable = true; "
        "nuketown.agents.ada = { enable = true; uid = 1; cloud.image = /tmp/ada.tar; }; }).spec"
    )
    assert "nuketown.agents.ada.cloud.image" in error


@needs_lib
def test_module_nix_snapshotter_images() -> None:
    on = (
        "{ nuketown = { enable = true; cloud = { enable = true; nixSnapshotter.enable = true; }; "
        "agents.ada = { enable = true; uid = 1; packages = [ h.pkgs.hello ]; }; "
        "agents.vox = { enable = true; uid = 2; daemon.enable = true; }; }; }"
    )
    result = harness(
        f"""let evaluated = h.module {on}; image = evaluated.config.nuketown.agents.ada.cloud.image; in {{
          spec = evaluated.spec;
          archive = image.outPath;
          inherit (image.args) name resolvedByNix;
          packages = map (p: p.name) image.args.copyToRoot;
          ada = image.args.config;
          vox = evaluated.config.nuketown.agents.vox.cloud.image.args.config;
          voxPackages = map (p: p.name) evaluated.config.nuketown.agents.vox.cloud.image.args.copyToRoot;
          off = (h.module {{ nuketown = {{ enable = true; cloud.enable = true;
                  agents.ada = {{ enable = true; uid = 1; }}; }}; }}).spec.agents.ada.image;
        }}""",
        nix_snapshotter=True,
    )
    ada = result["spec"]["agents"]["ada"]["image"]
    assert ada == "nix:0" + result["archive"]
    assert NIX_IMAGE.fullmatch(ada)["name"] == "nuketown-ada"
    assert (result["name"], result["resolvedByNix"]) == ("nuketown-ada", True)
    assert result["packages"] == ["git", "ripgrep", "fd", "jq", "curl", "tree", "tmux", "hello"]
    assert result["ada"] == {"Env": ["PATH=/bin"], "WorkingDir": "/agents/ada"}
    assert result["vox"]["Entrypoint"] == ["/bin/nuketown-daemon"]
    assert result["voxPackages"][-1] == "nuketown-daemon"
    assert result["off"] == "nuketown-ada:latest"  # nix-snapshotter in pkgs alone changes nothing
    load_spec(result["spec"])
    error = harness_error(f"(h.module {on}).spec")  # a pkgs without nix-snapshotter
    assert "nuketown.cloud.nixSnapshotter.enable: pkgs.nix-snapshotter.buildImage is missing" in error


@needs_lib
def test_module_options_are_the_models_fields() -> None:
    """nuketown.agents.<n>.cloud and nuketown.cloud declare exactly the spec's fields; upstream's are upstream's."""
    trees = harness("""let evaluated = h.evalModule { }; in {
        agent = h.optionTree ((evaluated.options.nuketown.agents.type.getSubOptions [ ]).cloud);
        fleet = h.optionTree evaluated.options.nuketown.cloud;
        upstream = h.optionTree (lib.evalModules { modules = h.system; }).options.nuketown;
      }""")
    assert trees["agent"] == expected_agent_cloud()
    assert trees["fleet"] == expected_fleet_cloud() | {"spec": True}
    names = flatten(nix_json(f"import {ROOT / 'nix' / 'upstream-options.nix'}"))
    assert trees["upstream"] == names
    assert {k: v for k, v in trees["upstream"]["agents"].items() if k in UPSTREAM_OWNED} == {
        "uid": True,
        "role": True,
        "description": True,
        "git": {"name": True, "email": True, "signing": True},
        "persist": True,
    }


@needs_lib
def test_module_adds_only_cloud_options_and_documents_them() -> None:
    """module.nix must not redeclare upstream options: alone, it declares only nuketown.cloud and agents.<n>.cloud."""
    expression = f"""
      let lib = import {NIXPKGS_LIB};
          alone = lib.evalModules {{ modules = [ {ROOT / "nix" / "module.nix"}
                    {{ options.assertions = lib.mkOption {{ type = lib.types.listOf lib.types.unspecified; }}; }} ]; }};
          agentOptions = alone.options.nuketown.agents.type.getSubOptions [ ];
          cloudOptions = lib.collect lib.isOption alone.options.nuketown.cloud
            ++ lib.collect lib.isOption agentOptions.cloud;
      in {{
        top = builtins.attrNames alone.options.nuketown;
        agent = builtins.filter (n: n != "_module") (builtins.attrNames agentOptions);
        undocumented = map (o: o.loc) (builtins.filter (o: (o.description or null) == null) cloudOptions);
        untyped = map (o: o.loc) (builtins.filter (o: !(o ? type)) cloudOptions);
        # Each option a user sets shows a value: its default or an example.
        noExample = map (o: o.loc)
          (builtins.filter (o: !(o ? example) && !(o ? default) && !(o.readOnly or false)) cloudOptions);
      }}"""
    result = nix_json(expression)
    assert result == {
        "top": ["agents", "cloud"],
        "agent": ["cloud"],
        "undocumented": [],
        "untyped": [],
        "noExample": [],
    }


# --- the NixOS example evaluates ------------------------------------------------------------------


@needs_lib
def test_the_example_flake_evaluates_to_the_plain_spec() -> None:
    """The flake's outputs, with stand-ins for its inputs: upstream's module needs home-manager and impermanence."""
    result = harness(f"""let
        f = h.flake {EXAMPLE_DIR / "flake.nix"};
        config = f.outputs.nixosConfigurations.cloud-ada.config;
      in {{
        inherit (f) takes declares;
        spec = config.nuketown.cloud.spec;
        plain = import {ROOT / "examples" / "cloud-ada.nix"};
        homes = builtins.attrNames config.home-manager.users;
        persisted = lib.mapAttrs (_: u: u.directories) config.environment.persistence."/persist".users;
      }}""")
    assert set(result["takes"]) <= set(result["declares"])
    assert {"home-manager", "impermanence", "sops-nix", "nuketown", "nixpkgs"} <= set(result["takes"])
    assert load_spec(result["spec"]) == load_spec(result["plain"])
    assert result["homes"] == ["ada", "vox"]
    assert result["persisted"] == {"ada": ["projects", ".config/claude"], "vox": ["projects", "datasets"]}


@needs_lib
def test_the_stand_ins_fail_like_nixos_without_home_manager() -> None:
    """What the flake fixes: upstream's module alone sets options nothing declares."""
    error = harness_error(
        f"""(lib.evalModules {{ modules = [ h.standins.nixos h.standins.impermanence
              {ROOT / "tests" / "nix" / "upstream-standin.nix"} {EXAMPLE_DIR / "configuration.nix"} ]; }})
            .config.nuketown.cloud.spec"""
    )
    assert "The option `home-manager' does not exist" in error


def _readme_options() -> list[tuple[list[str], set[str]]]:
    """The README's options table: each row's option paths (braces expanded, `<name>` dropped) and where it says
    they are set ("fleet" is nuketown.cloud.*, "agent" nuketown.agents.<n>.cloud.*)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| option | set in |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = []
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")]
        paths = []
        for written in re.findall(r"`([^`]+)`", cells[0]):
            head, _, rest = written.partition("{")
            names = [n.strip() for n in rest.rstrip("}").split(",")] if rest else [""]
            paths += [(head + name).replace(".<name>", "").rstrip(".") for name in names]
        rows.append((paths, {where.strip() for where in cells[1].split(",")}))
    return rows


def _declared(tree: dict[str, Any], path: str) -> bool:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _options(tree: dict[str, Any], head: str = "") -> set[str]:
    """Every option path of a tree, each path and its parents."""
    paths = set()
    for name, node in tree.items():
        path = f"{head}{name}"
        paths.add(path)
        if isinstance(node, dict):
            paths |= _options(node, f"{path}.")
    return paths


def test_the_readme_says_where_each_option_is_set() -> None:
    """An option only an agent has (spot, env, network.egress, identity.*, buckets) is not shown as a fleet
    default, and every option of the module is in the table, itself or under a row that covers it."""
    trees = {"fleet": expected_fleet_cloud(), "agent": expected_agent_cloud()}
    rows = _readme_options()
    assert rows and all(paths for paths, _ in rows)
    for paths, where in rows:
        assert where <= set(trees), where
        for path in paths:
            assert {name for name, tree in trees.items() if _declared(tree, path)} == where, (path, where)
    shown = {path for paths, _ in rows for path in paths}
    for option in sorted(set().union(*(_options(tree) for tree in trees.values()))):
        parts = option.split(".")
        covered = any(".".join(parts[:n]) in shown for n in range(1, len(parts) + 1))
        below = any(path.startswith(f"{option}.") for path in shown)
        assert covered or below, f"{option} is not in the README's options table"


def test_the_example_flake_is_locked() -> None:
    """examples/cloud-ada/flake.lock pins every input flake.nix names: the real nix reads the flake offline,
    without updating the lock, which it could not do were an input unlocked or its lock entry stale."""
    flake = ROOT / "examples" / "cloud-ada"
    done = subprocess.run(
        ["nix", *NIX_EXPERIMENTAL, "flake", "metadata", "--json", "--offline", "--no-update-lock-file", str(flake)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    locks = json.loads(done.stdout)["locks"]["nodes"]
    declared = nix_json(f"builtins.attrNames (import {flake / 'flake.nix'}).inputs")
    assert sorted(locks["root"]["inputs"]) == sorted(declared)
    for name in declared:
        locked = locks[locks["root"]["inputs"][name]]["locked"]
        assert locked["narHash"].startswith("sha256-") and len(locked["rev"]) == 40, name
