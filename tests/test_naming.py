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
    assert names.namespace("ada") == "nuketown-dev--ada"
    assert names.gcp_service_account_id("ada") == "nt-dev--ada"
    assert names.gcp_key_ring() == "nuketown-dev"
    assert names.aws_role("ada") == "nuketown-dev--ada"
    assert names.aws_boundary_policy("ada") == "nuketown-dev--ada--boundary"
    assert names.aws_kms_alias("ada") == "alias/nuketown/dev/ada"
    legacy = naming.Names("dev", legacy=True)
    assert legacy.namespace("ada") == "nuketown-dev-ada"
    assert legacy.gcp_service_account_id("ada") == "nt-dev-ada"
    assert legacy.aws_role("ada") == "nuketown-dev-ada"
    assert legacy.aws_boundary_policy("ada") == "nuketown-dev-ada-boundary"


def test_long_names_are_hashed_within_limits() -> None:
    long_agent = "a-very-long-agent-name-that-fills-a-namespace-abc"
    gcp = naming.Names("production").gcp_service_account_id(long_agent)
    assert len(gcp) == 30 and GCP_ID.match(gcp)
    assert gcp.startswith("nt-production--a-very-") and len(gcp.rpartition("-")[2]) == 8
    role = naming.Names("production").aws_role(long_agent + "-and-then-some")
    assert len(role) == 64 and AWS_ROLE.match(role)
    legacy = naming.Names("production", legacy=True).gcp_service_account_id(long_agent)
    assert len(legacy) == 30 and legacy.startswith("nt-production-a-very-lo")


def test_a_name_at_its_limit_is_cut_so_no_uncut_name_can_equal_a_cut_one() -> None:
    """An uncut name is always shorter than the limit and a cut one exactly as long: an agent named like a
    hash (`...-1a2b3c4d`) can never derive the name another agent's long name was cut to."""
    assert naming.fit_distinct("a" * 29, 30) == "a" * 29
    assert len(naming.fit_distinct("a" * 30, 30)) == 30 and naming.fit_distinct("a" * 30, 30) != "a" * 30
    cut = naming.Names("p").gcp_service_account_id("x" * 40)
    uncut_lookalike = cut[len("nt-p--") :]  # an agent whose name is the cut name's tail
    assert naming.Names("p").gcp_service_account_id(uncut_lookalike) != cut


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
def test_a_legacy_namespace_prefix_must_be_a_label_head_ending_in_a_dash(prefix: str) -> None:
    assert naming.prefix_problems(naming.Names("prod", prefix, legacy=True)) != []
    assert naming.prefix_problems(naming.Names("prod", "team-prod-", legacy=True)) == []


@pytest.mark.parametrize(
    "prefix", ["", "nuketown-prod-", "team--prod--", "team-prod---", "-prod--", "Team-prod--", "kube-prod--", "x--\n"]
)
def test_a_namespace_prefix_ends_in_the_separator_and_holds_no_other(prefix: str) -> None:
    assert naming.prefix_problems(naming.Names("prod", prefix)) != []
    assert naming.prefix_problems(naming.Names("prod", "team-prod--")) == []


@pytest.mark.parametrize("agent", ["kube-system", "kube-anything"])
def test_kubernetes_own_namespaces_are_refused(agent: str) -> None:
    assert naming.collision_problems(naming.Names("dev", namespace_prefix=""), {agent: []})[0].startswith(
        f"agents.{agent}: namespace"
    )


# --- names across stacks ------------------------------------------------------------------------------------

# Names as users write them: words joined by single dashes ('--' is refused in both).
words = st.lists(st.from_regex(r"\A[a-z0-9]{1,6}\Z"), min_size=2, max_size=7)


def _stack_names(names: naming.Names, agent: str) -> dict[str, str]:
    """Every name a stack declares for an agent outside the agent's own namespace, by what it is."""
    return {
        "namespace": names.namespace(agent),
        "GCP service account id": names.gcp_service_account_id(agent),
        "AWS role": names.aws_role(agent),
        "AWS boundary policy": names.aws_boundary_policy(agent),
        "AWS KMS alias": names.aws_kms_alias(agent),
    }


def _valid(names: naming.Names, agent: str) -> bool:
    return not (naming.environment_problems(names, given=True) + naming.name_problems(names, agent, []))


@given(st.lists(st.from_regex(r"\A[a-z0-9]{1,6}\Z"), min_size=3, max_size=7), st.data(), st.booleans())
def test_two_stacks_never_derive_one_name(parts: list[str], data: st.DataObject, other_legacy: bool) -> None:
    """The same words cut into (environment, agent) at two places, as stack `prod` agent `eu-bob` and stack
    `prod-eu` agent `bob`, or any other pair: no name of one is a name of the other, when one of the two
    stacks uses the separated form (legacy stacks can collide only with each other)."""
    cut = data.draw(st.integers(1, len(parts) - 1))
    other_cut = data.draw(st.integers(1, len(parts) - 1).filter(lambda c: c != cut))
    one = (naming.Names("-".join(parts[:cut])), "-".join(parts[cut:]))
    other = (naming.Names("-".join(parts[:other_cut]), legacy=other_legacy), "-".join(parts[other_cut:]))
    if not (_valid(*one) and _valid(*other)):
        return
    mine, theirs = _stack_names(*one), _stack_names(*other)
    assert set(mine.values()).isdisjoint(theirs.values()), (mine, theirs)


@given(st.tuples(words, words), st.booleans())
def test_distinct_environments_and_agents_never_share_a_name(pair: tuple[list[str], list[str]], legacy: bool) -> None:
    (env, agent), (other_env, other_agent) = (
        ("-".join(pair[0][:1]), "-".join(pair[0][1:])),
        (
            "-".join(pair[1][:-1]),
            "-".join(pair[1][-1:]),
        ),
    )
    one, other = (naming.Names(env), agent), (naming.Names(other_env, legacy=legacy), other_agent)
    if (env, agent) == (other_env, other_agent) or not (_valid(*one) and _valid(*other)):
        return
    assert set(_stack_names(*one).values()).isdisjoint(_stack_names(*other).values())
    if env != other_env:
        assert one[0].gcp_key_ring() != other[0].gcp_key_ring()
        assert naming.ownership_policy(env) != naming.ownership_policy(other_env)


def test_the_documented_collision_is_gone() -> None:
    """Stack prod with agent eu-bob, stack prod-eu with agent bob: one namespace, account, role and boundary in
    the legacy form (only the KMS alias, joined by '/', told them apart); none in the separated form."""
    before = _stack_names(naming.Names("prod", legacy=True), "eu-bob")
    before_other = _stack_names(naming.Names("prod-eu", legacy=True), "bob")
    shared = {what for what in before if before[what] == before_other[what]}
    assert shared == {"namespace", "GCP service account id", "AWS role", "AWS boundary policy"}
    assert set(_stack_names(naming.Names("prod"), "eu-bob").values()).isdisjoint(
        _stack_names(naming.Names("prod-eu"), "bob").values()
    )
