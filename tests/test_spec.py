"""The spec layer: the example is accepted; each kind of bad input is refused with its path."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.spec import CloudSpec, load_spec


def test_example_is_accepted(example_raw: dict[str, Any]) -> None:
    spec = load_spec(example_raw)
    assert isinstance(spec, CloudSpec)
    assert sorted(spec.agents) == ["ada", "vox"]
    assert spec.agents["vox"].resources == "gpu"
    assert spec.agents["ada"].max_resources == "large"
    assert [p.path for p in spec.agents["ada"].persist] == ["projects", ".config/claude"]


def test_spec_is_frozen(example_raw: dict[str, Any]) -> None:
    spec = load_spec(example_raw)
    with pytest.raises(ValueError):
        spec.agents["ada"].uid = 0  # type: ignore[misc]


def refusal(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_spec(raw)
    return list(caught.value.problems)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = raw
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete_tier(raw: dict[str, Any]) -> None:
    del raw["tiers"]["gpu"]


def _rename_agent(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["agents"][name] = raw["agents"].pop("ada")

    return mutate


BAD_INPUTS = [
    (
        "unknown tier",
        _set("agents.ada.resources", "huge"),
        "agents.ada.cloud.resources: 'huge' is not a tier (gpu, large, small, standard)",
    ),
    (
        "maxResources below resources",
        _set("agents.ada.scaling.maxResources", "small"),
        "agents.ada.cloud.scaling.maxResources: 'small' is smaller than resources 'standard' in cpu, memory; "
        "pick a tier at least as large",
    ),
    (
        "maxResources lacks the GPU",
        _set("agents.vox.scaling.maxResources", "large"),
        "agents.vox.cloud.scaling.maxResources: 'large' is smaller than resources 'gpu' in memory, nvidia.com/gpu; "
        "pick a tier at least as large",
    ),
    (
        "tier referenced but not defined",
        _delete_tier,
        "agents.vox.cloud.resources: 'gpu' is not a tier (large, small, standard)",
    ),
    (
        "maxResources not defined",
        _set("agents.ada.scaling.maxResources", "xl"),
        "agents.ada.cloud.scaling.maxResources: 'xl' is not a tier (gpu, large, small, standard)",
    ),
    (
        "absolute persist path",
        _set("agents.ada.persist.0.path", "/etc/shadow"),
        "agents.ada.persist[0].path: '/etc/shadow' must be relative to the agent's home, not absolute",
    ),
    (
        "persist path with ..",
        _set("agents.ada.persist.0.path", "projects/../../etc"),
        "agents.ada.persist[0].path: 'projects/../../etc' must stay inside the agent's home (no '..')",
    ),
    ("empty persist path", _set("agents.ada.persist.0.path", ""), "agents.ada.persist[0].path: must not be empty"),
    (
        "persist paths naming one volume",
        _set("agents.ada.persist.1.path", "Projects"),
        "agents.ada.persist[1]: 'Projects' and 'projects' both name the volume 'ada-projects'; rename one directory",
    ),
    (
        "agent name not a DNS label",
        _rename_agent("Ada_1"),
        "agents.Ada_1: agent name must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)",
    ),
    (
        "agent name too long",
        _rename_agent("a" * 64),
        f"agents.{'a' * 64}: agent name must be a DNS-1123 label "
        "(lowercase letters, digits, '-', at most 63 characters)",
    ),
    (
        "uid 0",
        _set("agents.ada.uid", 0),
        "agents.ada.uid: 0 is not allowed; agents run as a non-root uid (1 to 2147483647, usually 1100+)",
    ),
    (
        "size not a quantity",
        _set("agents.ada.persist.0.size", "10GB"),
        "agents.ada.persist[0].size: '10GB' is not a positive Kubernetes quantity (like 500m, 2, 4Gi)",
    ),
    (
        "tier cpu not a quantity",
        _set("tiers.small.cpu", "one"),
        "cloud.tiers.small.cpu: 'one' is not a positive Kubernetes quantity (like 500m, 2, 4Gi)",
    ),
    ("typo in a field", _set("agents.ada.resorces", "large"), "agents.ada.resorces: unknown field (a typo?)"),
    (
        "typo in a nested field",
        _set("agents.ada.scaling.idleTimout", 5),
        "agents.ada.cloud.scaling.idleTimout: unknown field (a typo?)",
    ),
    (
        "unsupported schemaVersion",
        _set("schemaVersion", 2),
        "schemaVersion: schemaVersion 2 is not supported; this nuketown-stack reads 1",
    ),
    (
        "scope without a star",
        _set("agents.ada.identity.scope", "ada-"),
        "agents.ada.cloud.identity.scope: 'ada-' must be a lowercase name prefix ending in '*', like 'ada-*'",
    ),
    (
        "gcpServiceAccount not an email",
        _set("agents.ada.identity.gcpServiceAccount", "ada-agent"),
        "agents.ada.cloud.identity.gcpServiceAccount: 'ada-agent' is not a user-managed service account email "
        "(name@project.iam.gserviceaccount.com; Google-managed default accounts and service agents are refused)",
    ),
    *[
        (
            f"Google-managed account {email}",
            _set("agents.ada.identity.gcpServiceAccount", email),
            f"agents.ada.cloud.identity.gcpServiceAccount: {email!r} is not a user-managed service account email "
            "(name@project.iam.gserviceaccount.com; Google-managed default accounts and service agents are refused)",
        )
        for email in (
            "acme-prod@appspot.gserviceaccount.com",
            "123456789-compute@developer.gserviceaccount.com",
            "service-123456789@gcp-sa-cloudkms.iam.gserviceaccount.com",
            "nt-dev--vox@acme-agents.iam.gserviceaccount.com\n",
        )
    ],
    (
        "awsRoleArn not a role ARN",
        _set("agents.ada.identity.awsRoleArn", "arn:aws:iam::123:user/ada"),
        "agents.ada.cloud.identity.awsRoleArn: 'arn:aws:iam::123:user/ada' is not an IAM role ARN "
        "(arn:aws:iam::<12-digit account>:role/<name>; service-linked and aws-reserved roles are refused)",
    ),
    (
        "awsRoleArn a service-linked role",
        _set("agents.ada.identity.awsRoleArn", "arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/X"),
        "agents.ada.cloud.identity.awsRoleArn: 'arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/X' "
        "is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>; "
        "service-linked and aws-reserved roles are refused)",
    ),
    (
        "scope with a trailing newline (a nix indented string)",
        _set("agents.ada.identity.scope", "ad*\n"),
        "agents.ada.cloud.identity.scope: 'ad*\\n' must be a lowercase name prefix ending in '*', like 'ada-*'",
    ),
    (
        "agent name with a trailing newline",
        _rename_agent("vox2\n"),
        "agents.vox2\\n: agent name must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)",
    ),
    (
        "empty image",
        _set("agents.ada.image", ""),
        "agents.ada.cloud.image: must be an image reference (nix:0/nix/store/...tar or registry/name:tag), not empty",
    ),
    (
        "negative idleTimeout",
        _set("agents.ada.scaling.idleTimeout", -1),
        "agents.ada.cloud.scaling.idleTimeout: Input should be greater than or equal to 0, got -1",
    ),
    (
        "invalid CIDR",
        _set("agents.vox.network.egress.0.cidr", "10.0.0.300/8"),
        "agents.vox.cloud.network.egress[0].cidr: '10.0.0.300/8' is not a CIDR network "
        "('10.0.0.300/8' does not appear to be an IPv4 or IPv6 network)",
    ),
    (
        "CIDR with host bits",
        _set("agents.vox.network.egress.0.cidr", "10.0.0.1/8"),
        "agents.vox.cloud.network.egress[0].cidr: '10.0.0.1/8' is not a CIDR network (10.0.0.1/8 has host bits set)",
    ),
    (
        "except outside cidr",
        _set("agents.vox.network.egress.0", {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}),
        "agents.vox.cloud.network.egress[0].except: '192.168.0.0/16' is not inside '10.0.0.0/8'",
    ),
    (
        "unknown egress mode",
        _set("agents.vox.network.egress", "some"),
        "agents.vox.cloud.network.egress: Input should be 'all' or 'none', got 'some'",
    ),
    (
        "port out of range",
        _set("agents.vox.network.egress.0.ports", [70000]),
        "agents.vox.cloud.network.egress[0].ports[0]: Input should be less than or equal to 65535, got 70000",
    ),
    (
        "env overriding HOME",
        _set("agents.ada.env", {"HOME": "/root"}),
        "agents.ada.cloud.env: 'HOME' is set by nuketown itself "
        "(GIT_AUTHOR_EMAIL, GIT_AUTHOR_NAME, GIT_COMMITTER_EMAIL, "
        "GIT_COMMITTER_NAME, HOME, NUKETOWN_AGENT, NUKETOWN_ROLE, USER)",
    ),
    ("missing uid", lambda raw: raw["agents"]["ada"].pop("uid"), "agents.ada.uid: required field is missing"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in BAD_INPUTS], ids=[name for name, _, _ in BAD_INPUTS]
)
def test_bad_input_is_refused_with_its_path(
    example_raw: dict[str, Any], mutate: Callable[[dict[str, Any]], None], expected: str | tuple[str, ...]
) -> None:
    mutate(example_raw)
    assert refusal(example_raw) == ([expected] if isinstance(expected, str) else list(expected))


def test_every_field_problem_is_reported_at_once(example_raw: dict[str, Any]) -> None:
    raw = copy.deepcopy(example_raw)
    raw["agents"]["ada"]["uid"] = 0
    raw["agents"]["ada"]["image"] = ""
    raw["agents"]["vox"]["persist"][0]["size"] = "lots"
    problems = refusal(raw)
    assert len(problems) == 3
    assert {p.split(":")[0] for p in problems} == {
        "agents.ada.uid",
        "agents.ada.cloud.image",
        "agents.vox.persist[0].size",
    }


def test_not_an_object_is_refused() -> None:
    assert refusal([1, 2]) == ["spec: expected a JSON object, got list"]  # type: ignore[arg-type]
