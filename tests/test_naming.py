"""Names: platform limits hold for every input, hashing is stable, collisions are refused."""

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.spec import Persist, load_spec
from nuketown_stack.plan import naming

dns_labels = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
agent_names = st.from_regex(r"\A[a-z]([-a-z0-9]{0,30}[a-z0-9])?\Z")
stacks = st.from_regex(r"\A[a-z]([-a-z0-9]{0,20}[a-z0-9])?\Z")
path_segments = st.text(alphabet="abcXYZ019._- ", min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))
persist_paths = st.lists(path_segments, min_size=1, max_size=4).map("/".join)

GCP_ID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
AWS_ROLE = re.compile(r"^[\w+=,.@-]+$")


def test_documented_examples() -> None:
    assert naming.pvc("ada", "projects") == "ada-projects"
    assert naming.pvc("ada", ".config/claude") == "ada-config-claude"
    names = naming.Names("dev")
    assert names.namespace("ada") == "nuketown-dev-ada"
    assert names.gcp_service_account_id("ada") == "nt-dev-ada"
    assert names.gcp_key_ring() == "nuketown-dev"
    assert names.aws_role("ada") == "nuketown-dev-ada"
    assert names.aws_kms_alias("ada") == "alias/nuketown/dev/ada"


def test_long_names_are_hashed_within_limits() -> None:
    long_agent = "a-very-long-agent-name-that-fills-a-namespace-abcd"
    gcp = naming.Names("production").gcp_service_account_id(long_agent)
    assert len(gcp) == 30 and GCP_ID.match(gcp)
    assert gcp.startswith("nt-production-a-very-lo")
    role = naming.Names("production").aws_role(long_agent + "-and-then-some")
    assert len(role) == 64 and AWS_ROLE.match(role)


@given(persist_paths)
def test_sanitized_paths_are_label_fragments(path: str) -> None:
    fragment = naming.sanitize_path(path)
    assert fragment == "" or re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", fragment)


@given(agent_names, persist_paths)
def test_claim_and_volume_names_are_valid(agent: str, path: str) -> None:
    if not naming.sanitize_path(path):
        return
    assert naming.is_dns_subdomain(naming.pvc(agent, path))
    assert naming.is_dns_label(naming.volume(path))


@given(stacks, agent_names)
def test_cloud_names_fit_their_platforms(stack: str, agent: str) -> None:
    names = naming.Names(stack)
    gcp = names.gcp_service_account_id(agent)
    assert 6 <= len(gcp) <= 30 and GCP_ID.match(gcp)
    role = names.aws_role(agent)
    assert len(role) <= 64 and AWS_ROLE.match(role)
    assert len(names.aws_kms_alias(agent)) <= 256


@given(st.text(min_size=1, max_size=200), st.integers(min_value=20, max_value=100))
def test_fit_is_stable_and_bounded(name: str, limit: int) -> None:
    fitted = naming.fit(name, limit)
    assert len(fitted) <= limit
    assert fitted == naming.fit(name, limit)
    assert fitted == name or len(name) > limit


@given(st.lists(agent_names, min_size=2, max_size=8, unique=True), stacks)
def test_distinct_agents_get_distinct_names(agents: list[str], stack: str) -> None:
    names = naming.Names(stack)
    for derive in (names.namespace, names.gcp_service_account_id, names.aws_role, names.aws_kms_alias):
        assert len({derive(a) for a in agents}) == len(agents)


@given(st.lists(persist_paths, min_size=1, max_size=6))
def test_persist_paths_collide_only_when_refused(
    paths: list[str],
) -> None:
    """Any set of persist paths either gets distinct volume names or is refused with a line naming the clash."""
    valid = [p for p in paths if _is_valid_path(p)]
    if not valid:
        return
    raw = _spec_with_persist(valid)
    claims = [naming.pvc("ada", p) for p in valid]
    try:
        load_spec(raw)
    except InputError as error:
        assert len(set(claims)) < len(claims)
        assert all("both name the volume" in line for line in error.problems)
    else:
        assert len(set(claims)) == len(claims)


def _is_valid_path(path: str) -> bool:
    try:
        Persist(path=path, size="1Gi")
    except ValueError:
        return False
    return True


def _spec_with_persist(paths: list[str]) -> dict[str, Any]:
    tier = {"cpu": "1", "memory": "1Gi"}
    return {
        "schemaVersion": 1,
        "domain": "d",
        "tiers": {"small": tier},
        "agents": {
            "ada": {
                "uid": 1100,
                "home": "/agents/ada",
                "git": {"name": "Ada", "email": "ada@d"},
                "resources": "small",
                "image": "img",
                "identity": {"scope": "ada-*"},
                "persist": [{"path": p, "size": "1Gi"} for p in paths],
            }
        },
    }


def test_derived_name_collisions_are_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(naming.Names, "gcp_service_account_id", lambda self, agent: "nt-dev-same")
    assert naming.collision_problems(naming.Names("dev"), {"vox": [], "ada": []}) == [
        "agents.vox: GCP service account id 'nt-dev-same' is also ada's; rename one agent"
    ]
    assert naming.collision_problems(naming.Names("dev"), {"ada": []}) == []


def test_a_claim_two_agents_would_share_is_refused() -> None:
    """Claim names are Pulumi logical names too: two resources with one URN fail the whole deployment."""
    agents = {"ada": ["x-projects"], "ada-x": ["projects"]}
    assert naming.collision_problems(naming.Names("dev"), agents) == [
        "agents.ada-x.persist: volume claim 'ada-x-projects' (from 'projects') is also ada's (from 'x-projects'); "
        "rename one directory"
    ]


@pytest.mark.parametrize("prefix", ["", "nuketown", "Team-", "kube-", "a_b-", "x-\n"])
def test_a_namespace_prefix_must_be_a_label_head_ending_in_a_dash(prefix: str) -> None:
    assert naming.prefix_problems(prefix) != []
    assert naming.prefix_problems("team-prod-") == []


@pytest.mark.parametrize("agent", ["kube-system", "kube-anything"])
def test_kubernetes_own_namespaces_are_refused(agent: str) -> None:
    assert naming.collision_problems(naming.Names("dev", namespace_prefix=""), {agent: []})[0].startswith(
        f"agents.{agent}: namespace"
    )
