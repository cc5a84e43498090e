"""Two stacks in one GCP project and one AWS account, beside the platform's own buckets: every agent reaches
its own buckets and nothing else, and no physical name is declared by both stacks.

The stacks are `prod` (agents eu-bob, ada, acme) and `prod-eu` (bob, ada-x): `prod`'s eu-bob and `prod-eu`'s
bob derived one namespace, account and role in the older names; `prod`'s acme, with a `<agent>-*` grant, reached
the project's `acme-agents-prod-pulumi-state` and the `acme-tfstate` bucket, and `prod`'s ada reached `prod-eu`'s
ada-x-data. GCP grants are evaluated as GCP would: a bucket-level member on its bucket, a project-level member by
its condition under cel-python. AWS role policies run under moto's IAM enforcement for S3.
"""

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import celpy
import pytest
from conftest import EXAMPLE, OIDC_ARN, nix_eval
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from nuketown_stack.clouds.aws import plan as aws_plan
from nuketown_stack.clouds.gcp import plan as gcp_plan
from nuketown_stack.inputs.settings import settings_from_config
from nuketown_stack.inputs.spec import load_spec
from nuketown_stack.plan.stack import build_plan
from nuketown_stack.program.engine import EngineResult, run_program
from nuketown_stack.program.program import define_stack

PROJECT = "acme-agents-prod"
ACCOUNT = OIDC_ARN.split(":")[4]
STACKS = {"prod": ["eu-bob", "ada", "acme"], "prod-eu": ["bob", "ada-x"]}
PLATFORM_BUCKETS = ["acme-agents-prod-pulumi-state", "acme-tfstate", "acme-agents-prod-backups", "ada-x-data"]
CLOUDS = {
    "gcp": {"nuketown:cloud": "gcp", "gcp:project": PROJECT},
    "aws": {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC_ARN},
}
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"


@functools.cache
def _example() -> str:
    return json.dumps(nix_eval(EXAMPLE))


def spec_of(agents: list[str]) -> dict[str, Any]:
    """The example's ada, once per name, each with a bucket `data` and its own default scope."""
    base = json.loads(_example())
    template = base["agents"]["ada"]
    base["agents"] = {}
    for uid, name in enumerate(agents, start=1200):
        agent = json.loads(json.dumps(template))
        agent.update(uid=uid, home=f"/agents/{name}", buckets=["data"])
        agent["identity"]["scope"] = f"{name}-*"
        base["agents"][name] = agent
    return base


def run(tmp_path: Path, stack: str, cloud: str, **extra: str) -> EngineResult:
    source = tmp_path / f"{stack}.json"
    source.write_text(json.dumps(spec_of(STACKS[stack])))
    return run_program(define_stack, stack, {"nuketown:source": str(source), **CLOUDS[cloud], **extra})


@pytest.fixture(scope="module", params=list(CLOUDS))
def stacks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, EngineResult]:
    tmp = tmp_path_factory.mktemp(request.param)
    return {stack: run(tmp, stack, request.param) for stack in STACKS}


def owned(result: EngineResult, agent: str) -> Iterator[Any]:
    return (r for r in result.resources if r.parent == f"nuketown:index:Agent::{agent}")


def own_buckets(result: EngineResult, agent: str) -> set[str]:
    return {
        r.inputs.get("name") or r.inputs["bucket"]
        for r in owned(result, agent)
        if r.type in ("gcp:storage/bucket:Bucket", "aws:s3/bucket:Bucket")
    }


def physical_names(result: EngineResult) -> set[tuple[str, ...]]:
    """What the stack declares that a cluster, project or account holds by name (namespaced Kubernetes objects by
    namespace and name; GCP keys inside their ring)."""
    names: set[tuple[str, ...]] = set()
    for r in result.resources:
        inputs = r.inputs
        if r.type.startswith("kubernetes:"):
            metadata = inputs.get("metadata", {})
            names.add((r.type, metadata.get("namespace", ""), metadata["name"]))
        elif r.type == "gcp:serviceaccount/account:Account":
            names.add((r.type, inputs["project"], inputs["accountId"]))
        elif r.type in ("gcp:kms/keyRing:KeyRing", "gcp:storage/bucket:Bucket"):
            names.add((r.type, inputs["name"]))
        elif r.type == "gcp:kms/cryptoKey:CryptoKey":
            names.add((r.type, inputs["keyRing"], inputs["name"]))
        elif r.type in ("aws:iam/role:Role", "aws:iam/policy:Policy", "aws:kms/alias:Alias"):
            names.add((r.type, inputs["name"]))
        elif r.type == "aws:s3/bucket:Bucket":
            names.add((r.type, inputs["bucket"]))
    return names


def test_no_physical_name_is_declared_by_both_stacks(stacks: dict[str, EngineResult]) -> None:
    prod, prod_eu = physical_names(stacks["prod"]), physical_names(stacks["prod-eu"])
    assert prod and prod_eu
    assert prod & prod_eu == set()


# --- GCP: what each grant reaches, as GCP evaluates it -------------------------------------------------------


def _condition_allows(expression: str, resource_name: str) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": resource_name})}))


def gcp_reaches(result: EngineResult, agent: str, bucket: str) -> bool:
    """Whether any of the agent's grants reaches an object in `bucket`: a bucket-level member on exactly that
    bucket, or a project-level storage member whose condition cel-python says holds for it."""
    for resource in owned(result, agent):
        if resource.type == BUCKET_MEMBER and resource.inputs["bucket"] == bucket:
            return True
        if resource.type == PROJECT_MEMBER and resource.inputs["role"].startswith("roles/storage."):
            for name in (f"projects/_/buckets/{bucket}", f"projects/_/buckets/{bucket}/objects/notes"):
                if _condition_allows(resource.inputs["condition"]["expression"], name):
                    return True
    return False


def test_on_gcp_each_agent_reaches_its_own_buckets_and_nothing_else(tmp_path: Path) -> None:
    results = {stack: run(tmp_path, stack, "gcp") for stack in STACKS}
    every_bucket = set(PLATFORM_BUCKETS) | {
        b for stack, result in results.items() for agent in STACKS[stack] for b in own_buckets(result, agent)
    }
    assert len(every_bucket) == len(PLATFORM_BUCKETS) + 5
    for stack, result in results.items():
        for agent in STACKS[stack]:
            own = own_buckets(result, agent)
            assert own == {f"{PROJECT}--{stack}--{agent}--data"}
            reached = {bucket for bucket in every_bucket if gcp_reaches(result, agent, bucket)}
            assert reached == own, (stack, agent, reached)


def test_the_older_agent_prefix_form_reaches_the_platform_and_other_stacks(tmp_path: Path) -> None:
    """What the default now prevents, shown with the same evaluator: with storage agentPrefix (the operator
    declaring the project the stack's alone) prod's acme reaches the platform's state buckets and prod's ada
    reaches prod-eu's ada-x-data; the program says so on every plan."""
    result = run(tmp_path, "prod", "gcp", **{"nuketown:storage": "agentPrefix"})
    assert gcp_reaches(result, "acme", "acme-agents-prod-pulumi-state")
    assert gcp_reaches(result, "acme", "acme-tfstate")
    assert gcp_reaches(result, "ada", "ada-x-data")
    assert any(w.startswith("nuketown:storage: agentPrefix: every agent also reaches") for w in result.warnings)


# --- AWS: the role policies under moto's IAM enforcement ------------------------------------------------------


def aws_reached(policies: dict[str, dict[str, Any]], buckets: list[str]) -> dict[str, set[str]]:
    """For each agent, the buckets its policy lets it list, read and write under moto's IAM enforcement (the
    setup's calls, two per bucket and three per agent, go unchecked; every agent's call after them is checked)."""
    setup_calls = 2 * len(buckets) + 3 * len(policies)
    return set_initial_no_auth_action_count(setup_calls)(mock_aws(_aws_reached))(policies, buckets)


def _aws_reached(policies: dict[str, dict[str, Any]], buckets: list[str]) -> dict[str, set[str]]:
    admin_iam = boto3.client("iam", region_name="us-east-1")
    admin_s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in buckets:
        admin_s3.create_bucket(Bucket=bucket)
        admin_s3.put_object(Bucket=bucket, Key="notes", Body=b"someone's")
    clients = {}
    for agent, policy in policies.items():
        admin_iam.create_user(UserName=agent)
        admin_iam.put_user_policy(UserName=agent, PolicyName="nuketown-agent", PolicyDocument=json.dumps(policy))
        key = admin_iam.create_access_key(UserName=agent)["AccessKey"]
        clients[agent] = boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
    return {agent: {bucket for bucket in buckets if _s3_allowed(client, bucket)} for agent, client in clients.items()}


def _s3_allowed(client: Any, bucket: str) -> bool:
    """List, read and write all allowed, or none: anything in between is a policy this test does not expect."""
    attempts = (
        lambda: client.list_objects_v2(Bucket=bucket),
        lambda: client.get_object(Bucket=bucket, Key="notes")["Body"].read(),
        lambda: client.put_object(Bucket=bucket, Key="mine", Body=b"x"),
    )
    results = []
    for attempt in attempts:
        try:
            attempt()
            results.append(True)
        except client.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "AccessDenied", error
            results.append(False)
    assert len(set(results)) == 1, (bucket, results)
    return results[0]


def _role_policy(result: EngineResult, agent: str) -> dict[str, Any]:
    policy = next(r for r in owned(result, agent) if r.type == "aws:iam/rolePolicy:RolePolicy")
    return dict(json.loads(policy.inputs["policy"]))


def test_on_aws_each_agent_reaches_its_own_buckets_and_nothing_else(tmp_path: Path) -> None:
    results = {stack: run(tmp_path, stack, "aws") for stack in STACKS}
    policies = {agent: _role_policy(results[stack], agent) for stack in STACKS for agent in STACKS[stack]}
    own = {agent: own_buckets(results[stack], agent) for stack in STACKS for agent in STACKS[stack]}
    assert own["ada"] == {f"nt-prod--ada--data-{ACCOUNT}-us-east-1-an"}
    buckets = sorted(set(PLATFORM_BUCKETS) | {b for names in own.values() for b in names})
    assert aws_reached(policies, buckets) == own


# --- any names ------------------------------------------------------------------------------------------------

words = st.from_regex(r"\A[a-z0-9]{1,5}(-[a-z0-9]{1,5}){0,3}\Z")
bucket_names = st.from_regex(r"\A[a-z0-9][a-z0-9-]{2,40}[a-z0-9]\Z")


def _plans(environment: str, agents: list[str], cloud: str) -> dict[str, Any]:
    config = {**CLOUDS[cloud], "nuketown:source": "unused", "nuketown:environment": environment}
    stack_settings = settings_from_config(environment, config)
    return {a.name: a.identity for a in build_plan(load_spec(spec_of(agents)), stack_settings).agents}


def gcp_plan_reaches(plan: gcp_plan.GcpAgentPlan, bucket: str) -> bool:
    """What an agent's planned grants reach, as GCP would evaluate them: a bucket-level member on each of its
    buckets, and a project-level member under its condition (cel-python) where the plan makes one."""
    if bucket in {b.name for b in plan.buckets}:
        return True
    condition = plan.storage_condition
    return condition is not None and _condition_allows(condition.expression, f"projects/_/buckets/{bucket}")


@settings(max_examples=30)
@given(words, st.lists(words, min_size=2, max_size=4, unique=True), st.lists(bucket_names, max_size=4))
def test_any_agent_on_gcp_reaches_exactly_its_own_buckets(
    environment: str, agents: list[str], platform: list[str]
) -> None:
    """Random environment and agent names with dashes, random platform bucket names: each agent's planned grants
    reach its own bucket, and none of the platform's or the other agents'."""
    plans = _plans(environment, agents, "gcp")
    own = {agent: plan.buckets[0].name for agent, plan in plans.items()}
    for agent, name in own.items():
        full = f"{PROJECT}--{environment}--{agent}--data"
        assert name == full if len(full) < 63 else (len(name) == 63 and name.startswith(full[:54]))
    assert len(set(own.values())) == len(own)
    candidates = set(platform) | set(own.values())
    for agent, plan in plans.items():
        assert isinstance(plan, gcp_plan.GcpAgentPlan)
        reached = {bucket for bucket in candidates if gcp_plan_reaches(plan, bucket)}
        assert reached == {own[agent]}, (agent, reached)


@settings(max_examples=8, deadline=None)
@given(words, st.lists(words, min_size=1, max_size=2, unique=True), st.lists(bucket_names, min_size=1, max_size=3))
def test_any_agent_on_aws_reaches_exactly_its_own_buckets(
    environment: str, agents: list[str], platform: list[str]
) -> None:
    """The same under moto's IAM enforcement: each agent's role policy, for random names, against random
    platform buckets and the other agents' buckets."""
    plans = _plans(environment, agents, "aws")
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    policies, own = {}, {}
    for agent, plan in plans.items():
        assert isinstance(plan, aws_plan.AwsAgentPlan) and plan.storage_prefix is None
        policies[agent] = aws_plan.identity_policy(plan, ACCOUNT, key)
        own[agent] = {plan.bucket_name(bucket, ACCOUNT) for bucket in plan.buckets}
    buckets = sorted(set(platform) | {b for names in own.values() for b in names})
    assert aws_reached(policies, buckets) == own


# --- prefixes, where the operator grants them -------------------------------------------------------------------


def _ownership(spec: dict[str, Any], **config: str) -> list[str]:
    from nuketown_stack.plan.ownership import ownership_problems

    stack_settings = settings_from_config("prod", {**CLOUDS["gcp"], "nuketown:source": "unused", **config})
    return ownership_problems(load_spec(spec), stack_settings)


def test_agents_named_like_each_other_live_side_by_side_by_default() -> None:
    """ada and ada-x in one stack: each has its own buckets; `ada-*` covering `ada-x-*` matters only where a
    prefix is granted (storage agentPrefix), and there it is refused."""
    spec = spec_of(["ada", "ada-x"])
    assert _ownership(spec) == []
    assert _ownership(spec, **{"nuketown:storage": "agentPrefix"}) == [
        "agents.ada.cloud.identity.scope: 'ada-*' also covers ada-x's 'ada-x-*'; "
        "give each agent a prefix no other starts with"
    ]


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
        st.from_regex(r"[ab][ab-]{0,4}", fullmatch=True),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=200, deadline=None)
def test_prefix_overlaps_are_every_covering_pair(scopes: dict[str, str]) -> None:
    """With every scope allow-listed (so granted), the one-pass overlap check reports exactly the pairs a check
    of every pair would."""
    spec = spec_of(sorted(scopes))
    for name, prefix in scopes.items():
        spec["agents"][name]["identity"]["scope"] = prefix + "*"
    allowed = json.dumps({name: [prefix + "*"] for name, prefix in scopes.items()})
    owners = sorted((prefix, name) for name, prefix in scopes.items())
    expected = [
        (outer, inner) for outer in owners for inner in owners if outer < inner and inner[0].startswith(outer[0])
    ]
    reported = [p for p in _ownership(spec, **{"nuketown:allowedScopes": allowed}) if "also covers" in p]
    assert len(reported) == len(expected)
    for (prefix, name), (other_prefix, other) in expected:
        assert other_prefix.startswith(prefix)
        assert any(
            p.startswith(f"agents.{name}.cloud.identity.scope: '{prefix}*' also covers {other}'s") for p in reported
        )


def test_the_pack_passes_own_buckets_and_reports_a_prefix_it_was_not_told_of(tmp_path: Path) -> None:
    """The policy pack, with each stack's own config: both stacks' plans pass; the agentPrefix form, checked with
    a config that does not say storage agentPrefix, is reported for every agent."""
    import nuketown_policy

    for cloud in CLOUDS:
        for stack in STACKS:
            plan = run(tmp_path, stack, cloud).to_json()
            assert nuketown_policy.run_all(nuketown_policy.resources_from_plan(plan), stack) == []
        prefixed = run(tmp_path, "prod", cloud, **{"nuketown:storage": "agentPrefix"}).to_json()
        found = nuketown_policy.run_all(nuketown_policy.resources_from_plan(prefixed), "prod")
        reported = {resource.agent for policy, resource, message in found if policy == "nuketown-scope-ownership"}
        assert reported == set(STACKS["prod"]), found
        assert all("reaches every bucket named" in message for *_, message in found)
