"""Settings: Pulumi config keys in, one Settings out; bad keys named."""

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CLOUD_SETTINGS, ROOT, make_plan

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.settings import (
    GKE_SPOT_SELECTOR,
    KEYS,
    MAPPING_KEYS,
    STACK_ONLY,
    Settings,
    StackFile,
    parse_overrides,
    read_stack_file,
    settings_from_config,
    settings_from_mapping,
)


def refused(config: dict[str, object], stack: str = "dev") -> list[str]:
    with pytest.raises(InputError) as caught:
        settings_from_config(stack, config)
    return list(caught.value.problems)


def test_defaults() -> None:
    settings = settings_from_config("dev", {})
    assert settings == Settings(stack="dev")
    assert settings.cloud == "none"
    assert settings.scheduling == "tiers"
    assert settings.prefix == "nuketown-dev--"
    assert settings.names.environment == "dev" and not settings.names.legacy
    assert settings.spot_node_selector == GKE_SPOT_SELECTOR
    assert settings.gcp_kms_location == "global"
    assert settings.aws_mode == "irsa"


def test_dev_stack_file_is_read() -> None:
    stack_file = read_stack_file(ROOT, "dev")
    assert stack_file.path == ROOT / "Pulumi.dev.yaml"
    settings = settings_from_config("dev", stack_file.config)
    assert settings.source == "examples/cloud-ada.nix"
    assert settings.scheduling == "none"


def test_missing_stack_file_is_empty(tmp_path: Path) -> None:
    assert read_stack_file(tmp_path, "prod") == StackFile(path=None, config={})


def test_stack_file_structured_values(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.eks.yaml").write_text(
        "config:\n"
        "  nuketown:spotNodeSelector:\n    eks.amazonaws.com/capacityType: SPOT\n"
        "  nuketown:spotTolerations: []\n"
        "  aws:region: us-east-1\n"
        "  kubernetes:context: eks-prod\n"
    )
    settings = settings_from_config("eks", read_stack_file(tmp_path, "eks").config)
    assert settings.spot_node_selector == {"eks.amazonaws.com/capacityType": "SPOT"}
    assert settings.spot_tolerations == ()
    assert settings.provider_config == {"aws": {"region": "us-east-1"}, "kubernetes": {"context": "eks-prod"}}


def test_secret_settings_cannot_be_read_without_pulumi(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  gcp:project:\n    secure: AAABAC==\n")
    with pytest.raises(InputError) as caught:
        read_stack_file(tmp_path, "s")
    assert caught.value.problems == ("Pulumi.s.yaml: gcp:project: is a secret; only the Pulumi CLI can decrypt it",)


def test_a_secret_kubeconfig_is_left_to_pulumi(tmp_path: Path) -> None:
    """Only a real cluster needs it, so render, plan and diff work on a stack that keeps it secret."""
    (tmp_path / "Pulumi.s.yaml").write_text(
        "config:\n  nuketown:cloud: none\n"
        "  kubernetes:kubeconfig:\n    secure: AAABAC==\n"
        "  other:token:\n    secure: x\n"
    )
    stack_file = read_stack_file(tmp_path, "s")
    assert stack_file.config == {"nuketown:cloud": "none"}
    assert stack_file.secret_keys == {"kubernetes:kubeconfig", "other:token"}


def test_overrides() -> None:
    assert parse_overrides(["nuketown:cloud=gcp", "gcp:project=p=1"]) == {"nuketown:cloud": "gcp", "gcp:project": "p=1"}
    with pytest.raises(InputError) as caught:
        parse_overrides(["cloud=gcp", "nuketown:cloud"])
    assert len(caught.value.problems) == 2


def test_unknown_nuketown_key_is_a_typo() -> None:
    (line,) = refused({"nuketown:sorce": "x.nix"})
    assert line == "nuketown:sorce: not a setting (did you mean nuketown:source?)"
    (line,) = refused({"nuketown:qqqqqqqqqqqq": "x"})  # nothing close: the known keys
    assert line.startswith(
        "nuketown:qqqqqqqqqqqq: not a setting (known: nuketown:adoptExistingObjects, nuketown:allowedIdentities, "
    )


def test_other_namespaces_are_left_to_their_providers() -> None:
    assert settings_from_config("dev", {"aws:profile": "x", "kubernetes:namespace": "y"}).cloud == "none"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"nuketown:cloud": "azure"}, "nuketown:cloud: Input should be 'none', 'gcp' or 'aws', got 'azure'"),
        ({"nuketown:scheduling": "auto"}, "nuketown:scheduling: Input should be 'tiers' or 'none', got 'auto'"),
        (
            {"nuketown:cloud": "gcp"},
            "gcp:project: required when nuketown:cloud is gcp (pulumi config set gcp:project ...)",
        ),
        (
            {"nuketown:cloud": "aws", "aws:region": "us-east-1"},
            "nuketown:awsOidcProviderArn: required when nuketown:cloud is aws and nuketown:awsMode is irsa "
            "(pulumi config set nuketown:awsOidcProviderArn ...)",
        ),
        (
            {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsMode": "podIdentity"},
            "nuketown:awsClusterName: required when nuketown:cloud is aws and nuketown:awsMode is podIdentity "
            "(pulumi config set nuketown:awsClusterName ...)",
        ),
        (
            {"nuketown:spotNodeSelector": "{not json"},
            "nuketown:spotNodeSelector: expected JSON (Expecting property name enclosed in double quotes)",
        ),
    ],
)
def test_refused_settings(config: dict[str, object], expected: str) -> None:
    assert refused(config) == [expected]


def test_aws_needs_a_region() -> None:
    assert "aws:region: required when nuketown:cloud is aws (pulumi config set aws:region ...)" in refused(
        {"nuketown:cloud": "aws"}
    )


def test_stack_names_must_fit_in_names() -> None:
    assert refused({}, stack="Prod_EU") == [
        "stack 'Prod_EU': environment names are part of Kubernetes and cloud names; "
        "use lowercase letters, digits and '-' (at most 54 characters)"
    ]


def test_names_derive_from_the_environment_not_the_stack(example_json: dict[str, Any]) -> None:
    """A renamed stack that keeps its environment keeps every name (its ownership guard alone is per stack)."""
    renamed = make_plan(example_json, stack="prod-2", **{"nuketown:environment": "prod", "nuketown:cloud": "none"})
    original = make_plan(example_json, stack="prod")
    kept = [o.manifest for o in original.objects() if not o.kind.startswith("ValidatingAdmissionPolicy")]
    assert [o.manifest for o in renamed.objects() if not o.kind.startswith("ValidatingAdmissionPolicy")] == kept
    assert renamed.ownership_guard[0].manifest["metadata"]["name"] == "nuketown-prod-2-ownership"


@pytest.mark.parametrize(
    ("stack", "config", "expected"),
    [
        (
            "prod--eu",
            {},
            "stack 'prod--eu': may not contain '--', which separates the environment from the agent in every name; "
            "set nuketown:environment to a name without it",
        ),
        (
            "prod",
            {"nuketown:environment": "prod--eu"},
            "nuketown:environment: 'prod--eu': may not contain '--', which separates the environment from the agent "
            "in every name; rename it",
        ),
        (
            "prod",
            {"nuketown:environment": "Prod"},
            "nuketown:environment: 'Prod': environment names are part of Kubernetes and cloud names; use lowercase "
            "letters, digits and '-' (at most 54 characters)",
        ),
    ],
)
def test_an_environment_with_the_separator_is_refused(stack: str, config: dict[str, Any], expected: str) -> None:
    assert refused(config, stack=stack) == [expected]
    assert settings_from_config("prod--eu", {"nuketown:environment": "prod-eu"}).names.prefix == "nuketown-prod-eu--"


# --- the settings of a Fleet, as a mapping ---------------------------------------------------------------------


def as_mapping(config: dict[str, object]) -> dict[str, object]:
    """Config keys as a program writes them for a Fleet: no namespace, the Settings field in camelCase."""
    short = {key: name for name, key in MAPPING_KEYS.items()}
    return {short[key]: value for key, value in config.items()}


def spelled_for_a_mapping(line: str) -> str:
    """A stack-file problem as the mapping spells it: each config key becomes `settings.<key>`."""
    for name, key in sorted(MAPPING_KEYS.items(), key=lambda item: -len(item[1])):
        line = re.sub(rf"pulumi config set {re.escape(key)} \.\.\.", f"set settings.{name}", line)
        line = re.sub(rf"(?<![\w:]){re.escape(key)}(?![\w])", f"settings.{name}", line)
    return line


def mapping_refused(values: dict[str, object], stack: str = "dev") -> list[str]:
    with pytest.raises(InputError) as caught:
        settings_from_mapping(values, stack)
    return list(caught.value.problems)


@pytest.mark.parametrize("cloud", sorted(CLOUD_SETTINGS))
def test_a_mapping_gives_what_the_stack_file_gives(cloud: str) -> None:
    config = {**CLOUD_SETTINGS[cloud], "nuketown:namespacePrefix": "agents-", "nuketown:applyKubernetes": "false"}
    assert settings_from_mapping(as_mapping(config), "dev") == settings_from_config("dev", config)


def test_every_setting_has_a_mapping_key() -> None:
    """One table: the mapping keys are the config keys, none lost, none added."""
    assert sorted(MAPPING_KEYS.values()) == sorted(KEYS)
    assert MAPPING_KEYS["cloud"] == "nuketown:cloud" and MAPPING_KEYS["gcpProject"] == "gcp:project"


@pytest.mark.parametrize(
    "config",
    [
        {"nuketown:cloud": "gcp"},
        {"nuketown:cloud": "azure"},
        {"nuketown:cloud": "aws", "nuketown:awsMode": "podIdentity"},
        {"nuketown:cloud": "aws", "aws:region": "us-east-1"},
        {"nuketown:allowedIdentities": "{not json"},
        {"nuketown:spotTolerations": [{"key": 1, "bogus": "x"}]},
        {"nuketown:gcpKmsEncrypters": ["alice@example.org"]},
        {"nuketown:scheduling": "spread", "nuketown:applyKubernetes": "maybe"},
        {"nuketown:environment": "prod--eu"},
    ],
    ids=lambda config: ",".join(config),
)
def test_a_mapping_is_refused_with_the_stack_files_messages(config: dict[str, object]) -> None:
    expected = [spelled_for_a_mapping(line) for line in refused(config)]
    assert mapping_refused(as_mapping(config)) == expected
    assert all(line.startswith("settings.") for line in expected)


def test_a_mapping_key_that_is_not_a_setting_is_named_with_the_closest() -> None:
    assert mapping_refused({"clud": "gcp", "zzz": 1}) == [
        "settings.clud: not a setting (did you mean settings.cloud?)",
        "settings.zzz: not a setting (known: " + ", ".join(MAPPING_SETTINGS) + ")",
    ]
    assert mapping_refused({"nuketown:cloud": "gcp"})[0].startswith("settings.nuketown:cloud: not a setting")


MAPPING_SETTINGS = sorted(["stack", *(k for k, key in MAPPING_KEYS.items() if key not in STACK_ONLY)])


def test_a_fleet_gets_no_stack_only_setting() -> None:
    """The spec and the cluster come from the program: its `spec` argument and its Kubernetes provider."""
    problems = mapping_refused({"source": "agents.nix", "gkeCluster": "projects/p/locations/l/clusters/c"})
    assert problems == [
        "settings.source: not a Fleet setting; pass the spec as the Fleet's `spec`",
        "settings.gkeCluster: not a Fleet setting; give your Kubernetes provider the cluster's kubeconfig, and "
        "the Fleet that provider",
    ]
    # The Fleet makes no provider: taking the objects back from Argo CD is its Kubernetes provider's upsert.
    assert mapping_refused({"adoptExistingObjects": True}) == [
        "settings.adoptExistingObjects: not a Fleet setting; for the update that takes the objects back, give the "
        "Kubernetes provider you hand the Fleet upsert_existing_objects=True"
    ]


def test_a_mapping_may_name_the_stack() -> None:
    assert settings_from_mapping({}, "dev").stack == "dev"
    assert settings_from_mapping({"stack": "prod"}, "dev").prefix == "nuketown-prod--"
    assert mapping_refused({"stack": "Prod_1"})[0].startswith("stack 'Prod_1': ")
    assert mapping_refused({"stack": 7}) == ["settings.stack: a stack name is text, got 7"]
