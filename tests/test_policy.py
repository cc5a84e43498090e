"""The policy pack (policy/): every rule on the program's real plans, after `pulumi up` and at a first
preview (no finding), on crafted plans that carry the security review's findings (each reported), with the
offending values unknown as at preview (still reported), and on first previews whose unknowns do not come
from the agent's own identity or key (reported), through the plain functions, through pulumi_policy's own
analyzer as the Pulumi engine drives it, and through policy/offline.py."""

import copy
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nuketown_iam
import nuketown_policy
import nuketown_values
import pulumi_policy.proxy
import pytest
from conftest import EXAMPLE, FLEET, FLEET_ALLOWED, ROOT
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st
from nuketown_policy import (
    CONFIG_PROPERTIES,
    RESOURCE_RULES,
    STACK_RULES,
    ConfigError,
    Context,
    Resource,
    authoritative_gcp_iam_problems,
    namespace_isolation_problems,
    policy_name,
    resources_from_plan,
    role_boundary_problems,
    run_all,
    stack_from_urn,
    unconditioned_storage_grant_problems,
    workload_pod_security_problems,
)
from nuketown_values import PLAN_UNKNOWN, UnknownValue, is_unknown, plain, view
from policies import POLICIES
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer  # the SDK's analyzer: what the engine talks to

from nuketown_stack.plan import naming
from nuketown_stack.plan.admission import WRITTEN_KINDS
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

OFFLINE = ROOT / "policy" / "offline.py"
CRAFTED = sorted((ROOT / "tests" / "data" / "policy").glob("*.json"))
OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
STACKS = {
    "kubernetes": {},
    "gcp": {"nuketown:cloud": "gcp", "gcp:project": "acme-agents", **FLEET_ALLOWED},
    "aws-irsa": {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC},
    "aws-pod-identity": {
        "nuketown:cloud": "aws",
        "aws:region": "us-east-1",
        "nuketown:awsMode": "podIdentity",
        "nuketown:awsClusterName": "agents",
    },
}
# The pack's own allow-list for the fleet's rio: the same identity the stack settings allow (FLEET_ALLOWED).
AGENT_PREFIX = {"nuketown:storage": "agentPrefix"}  # the operator declares the project or account the stack's
AGENT_PREFIX_PACK = {"nuketown-scope-ownership": {"storage": "agentPrefix"}}  # and the pack is told so
PACK_CONFIG = {
    "nuketown-identity-binding": {"allowedIdentities": json.loads(FLEET_ALLOWED["nuketown:allowedIdentities"])}
}
UNKNOWN_AT_PREVIEW = "unknown at preview"
_plans: dict[str, dict[str, Any]] = {}


def plan_of(
    config: dict[str, Any], source: Path = EXAMPLE, stack: str = "dev", first_preview: bool = False
) -> dict[str, Any]:
    """The program's `plan --json` document (cached per configuration): after `pulumi up`, everything known,
    or as `nuketown-stack plan` prints it, a first preview (what new resources assign unknown)."""
    key = json.dumps([str(source), stack, config, first_preview], sort_keys=True)
    if key not in _plans:
        known = frozenset() if first_preview else None
        config = {"nuketown:source": str(source), **config}
        _plans[key] = run_program(define_stack, stack, config, known=known).to_json()
    return copy.deepcopy(_plans[key])


def found_by_policy(found: list[tuple[str, Resource | None, str]]) -> dict[str, list[str]]:
    by_policy: dict[str, list[str]] = {}
    for policy, _, message in found:
        by_policy.setdefault(policy, []).append(message)
    return by_policy


def crafted(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def with_unknowns(plan: dict[str, Any], marker: str) -> dict[str, Any]:
    """The plan with the values its `preview.unknown` paths name replaced by `marker`."""
    plan = copy.deepcopy(plan)
    for resource_type, name, *path in plan["preview"]["unknown"]:
        resource = next(r for r in plan["resources"] if r["type"] == resource_type and r["name"] == name)
        node = resource["inputs"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = marker
    return plan


def assert_reported(by_policy: dict[str, list[str]], expect: dict[str, list[str]]) -> None:
    """Exactly the expected policies fire, and between them their messages name every expected text."""
    assert set(by_policy) == set(expect), by_policy
    for policy, texts in expect.items():
        for text in texts:
            assert any(text in message for message in by_policy[policy]), (policy, text, by_policy[policy])


RESOURCE_POLICIES = {policy_name(rule) for rule in RESOURCE_RULES}
UNKNOWN_ORIGIN = policy_name(nuketown_policy.unknown_origin_problems)


def assert_reported_unknown(by_policy: dict[str, list[str]], document: dict[str, Any]) -> None:
    """Each policy the preview variant names reports an unknown value (a resource policy defers it to
    nuketown-unknown-origin, which names it); anything else reported is either an unknown value too or the
    original finding of a rule that reads no value (a resource's type)."""
    for policy in document["preview"]["expect"]:
        if policy in RESOURCE_POLICIES:
            reported = [m for m in by_policy.get(UNKNOWN_ORIGIN, []) if f"{policy}: " in m]
        else:
            reported = by_policy.get(policy, [])
        assert any(UNKNOWN_AT_PREVIEW in m for m in reported), (policy, by_policy)
    deferred = tuple(f"{policy}: " for policy in document["expect"] if policy in RESOURCE_POLICIES)
    for policy, messages in by_policy.items():
        if policy == UNKNOWN_ORIGIN:  # what a deferring resource policy found besides, reported here
            messages = [m for m in messages if not m.split("\n")[-1].startswith(deferred)]
        if policy not in document["expect"]:
            assert all(UNKNOWN_AT_PREVIEW in m for m in messages), (policy, messages)


# --- the pulumi_policy analyzer, driven as the Pulumi engine drives it -------------------------------------


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_sent(value))
    return struct


def _sent(value: Any) -> Any:
    """Properties as the engine sends them: an unknown (`plan --json` prints it as PLAN_UNKNOWN) is the SDK's
    sentinel string."""
    if value == PLAN_UNKNOWN:
        return pulumi_policy.proxy.UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {key: _sent(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sent(item) for item in value]
    return value


def _urns(resources: list[dict[str, Any]], stack: str) -> tuple[str, dict[str, str]]:
    """URNs as the engine makes them: the parent's type chain joined with '$' before the type."""
    by_ref = {f"{r['type']}::{r['name']}": r for r in resources}

    def chain(resource: dict[str, Any]) -> str:
        parent = by_ref.get(resource.get("parent") or "")
        return f"{chain(parent)}${resource['type']}" if parent else resource["type"]

    stack_urn = f"urn:pulumi:{stack}::nuketown::pulumi:pulumi:Stack::nuketown-{stack}"
    return stack_urn, {ref: f"urn:pulumi:{stack}::nuketown::{chain(r)}::{r['name']}" for ref, r in by_ref.items()}


def analyze(
    plan: dict[str, Any], stack: str = "dev", config: dict[str, Any] | None = None, policies: list[Any] | None = None
) -> list[Any]:
    """Diagnostics of pulumi_policy's analyzer: configured as the engine configures it (every policy at its
    own enforcement level with its schema's defaults, then the --policy-pack-config file), then Analyze on
    each resource (its inputs, no dependencies: the engine's AnalyzeRequest has none) and AnalyzeStack on
    them all (with parents and each input's property dependencies as URNs; one the plan does not declare
    gets a URN of its own, which the SDK drops). Unknowns are the SDK's sentinel strings."""
    policies = POLICIES if policies is None else policies
    servicer = _PolicyAnalyzerServicer("nuketown", "0.0.1", policies, EnforcementLevel.ADVISORY)
    policy_config = {}
    for policy in policies:
        schemas = CONFIG_PROPERTIES.get(policy.name, {})
        properties = {key: schema["default"] for key, schema in schemas.items() if "default" in schema}
        properties.update((config or {}).get(policy.name, {}))
        policy_config[policy.name] = analyzer_pb2.PolicyConfig(
            enforcementLevel=analyzer_pb2.MANDATORY, properties=_struct(properties)
        )
    servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config), None)
    stack_urn, urns = _urns(plan["resources"], stack)
    diagnostics: list[Any] = []
    stack_resources = [
        analyzer_pb2.AnalyzerResource(
            type="pulumi:pulumi:Stack", name=f"nuketown-{stack}", urn=stack_urn, properties=_struct({})
        )
    ]
    for resource in plan["resources"]:
        ref = f"{resource['type']}::{resource['name']}"
        parent = urns.get(resource.get("parent") or "", stack_urn)
        request = analyzer_pb2.AnalyzeRequest(
            type=resource["type"],
            name=resource["name"],
            urn=urns[ref],
            properties=_struct(resource["inputs"]),
            options=analyzer_pb2.AnalyzerResourceOptions(parent=parent),
        )
        diagnostics += servicer.Analyze(request, None).diagnostics
        dependencies = {
            key: analyzer_pb2.AnalyzerPropertyDependencies(
                urns=[urns.get(d, f"urn:pulumi:{stack}::nuketown::{d}") for d in refs]
            )
            for key, refs in (resource.get("dependencies") or {}).items()
        }
        stack_resources.append(
            analyzer_pb2.AnalyzerResource(
                type=resource["type"],
                name=resource["name"],
                urn=urns[ref],
                properties=_struct(resource["inputs"]),
                parent=parent,
                propertyDependencies=dependencies,
            )
        )
    request = analyzer_pb2.AnalyzeStackRequest(resources=stack_resources)
    return diagnostics + list(servicer.AnalyzeStack(request, None).diagnostics)


def diagnostics_by_policy(diagnostics: list[Any]) -> dict[str, list[str]]:
    by_policy: dict[str, list[str]] = {}
    for diagnostic in diagnostics:
        assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY, diagnostic
        by_policy.setdefault(diagnostic.policyName, []).append(diagnostic.message)
    return by_policy


def offline(
    plan: dict[str, Any], tmp_path: Path, *args: str, config: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """policy/offline.py as CI runs it (`python policy/offline.py plan.json`), from another directory."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    extra = list(args)
    if config is not None:
        config_path = tmp_path / "policy-config.json"
        config_path.write_text(json.dumps(config))
        extra += ["--config", str(config_path)]
    return subprocess.run(
        [sys.executable, str(OFFLINE), str(path), *extra], capture_output=True, text=True, cwd=tmp_path
    )


def offline_by_policy(stdout: str) -> dict[str, list[str]]:
    by_policy: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        head, _, rest = line.partition(": ")
        assert head.count(" ") == 1, line  # `<type> <name>: <message> [<policy>]`
        message, _, policy = rest.rpartition(" [")
        by_policy.setdefault(policy.removesuffix("]"), []).append(message)
    return by_policy


# --- the program's own plans pass every rule ---------------------------------------------------------------


@pytest.mark.parametrize("apply_kubernetes", [True, False], ids=["kubernetes", "identity-only"])
@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("source", [EXAMPLE, FLEET], ids=["example", "fleet"])
def test_the_program_passes_every_rule(stack: str, source: Path, apply_kubernetes: bool) -> None:
    config = {**STACKS[stack], "nuketown:storageClass": "standard-rwo"}
    if not apply_kubernetes:
        config["nuketown:applyKubernetes"] = "false"
    plan = plan_of(config, source)
    assert run_all(resources_from_plan(plan), "dev", PACK_CONFIG) == []
    assert analyze(plan, config=PACK_CONFIG) == []


@pytest.mark.parametrize("stack", list(STACKS))
def test_the_program_passes_offline(stack: str, tmp_path: Path) -> None:
    """No --stack: offline.py reads it from the plan (key ring, key aliases, or the default namespace prefix)."""
    result = offline(plan_of(STACKS[stack], FLEET), tmp_path, config=PACK_CONFIG)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr.startswith("stack: dev (")


def test_the_fleets_existing_account_needs_the_packs_allow_list() -> None:
    """The stack settings allow rio's account; the pack checks on its own, with its own config."""
    resources = resources_from_plan(plan_of(STACKS["gcp"], FLEET))
    found = run_all(resources, "dev")
    assert [(policy, resource and resource.type) for policy, resource, _ in found] == [
        ("nuketown-identity-binding", "gcp:serviceaccount/iAMMember:IAMMember"),
        ("nuketown-identity-binding", "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"),
        ("nuketown-identity-binding", "gcp:storage/bucketIAMMember:BucketIAMMember"),
        ("nuketown-identity-binding", "kubernetes:core/v1:ServiceAccount"),
    ]
    assert all("rio-agent@fleet-project.iam.gserviceaccount.com' is not rio's own" in m for *_, m in found)


# --- the crafted plans: each finding reported, at up and at preview ----------------------------------------


def test_every_finding_and_rule_has_crafted_plans() -> None:
    documents = [crafted(path) for path in CRAFTED]
    assert {d["finding"] for d in documents} == {"1", "2", "4", "5", "6", "rule", "unknown"}
    fired = {policy for d in documents for policy in d["expect"]}
    assert fired == {policy_name(rule) for rule in (*RESOURCE_RULES, *STACK_RULES)}


@pytest.mark.parametrize("path", CRAFTED, ids=lambda p: p.stem)
def test_a_crafted_plan_is_reported_by_the_rules(path: Path) -> None:
    document = crafted(path)
    found = run_all(resources_from_plan(document), document["stack"], document.get("config"))
    assert_reported(found_by_policy(found), document["expect"])


@pytest.mark.parametrize("path", CRAFTED, ids=lambda p: p.stem)
def test_a_crafted_plan_is_reported_by_the_analyzer(path: Path) -> None:
    document = crafted(path)
    found = analyze(document, document["stack"], config=document.get("config"))
    assert_reported(diagnostics_by_policy(found), document["expect"])


@pytest.mark.parametrize("path", CRAFTED, ids=lambda p: p.stem)
def test_a_crafted_plan_is_reported_offline(path: Path, tmp_path: Path) -> None:
    document = crafted(path)
    result = offline(document, tmp_path, config=document.get("config"))
    assert result.returncode == 1, result.stderr
    assert_reported(offline_by_policy(result.stdout), document["expect"])


@pytest.mark.parametrize("path", [p for p in CRAFTED if crafted(p)["preview"]["unknown"]], ids=lambda p: p.stem)
def test_a_crafted_plan_is_reported_at_preview(path: Path, tmp_path: Path) -> None:
    """The offending values unknown: as `plan --json` prints them, and as the engine hands them to the pack."""
    document = crafted(path)
    config = document.get("config")
    printed = with_unknowns(document, PLAN_UNKNOWN)
    assert_reported_unknown(found_by_policy(run_all(resources_from_plan(printed), "dev", config)), document)
    result = offline(printed, tmp_path, config=config)
    assert result.returncode == 1, result.stderr
    assert_reported_unknown(offline_by_policy(result.stdout), document)
    sent = with_unknowns(document, pulumi_policy.proxy.UNKNOWN_STRING_VALUE)
    assert_reported_unknown(diagnostics_by_policy(analyze(sent, "dev", config=config)), document)


def test_an_allow_listed_identity_and_scope_pass() -> None:
    document = crafted(ROOT / "tests" / "data" / "policy" / "finding1-gcp-existing-account-not-allow-listed.json")
    resources = resources_from_plan(document)
    allowed = {
        "nuketown-identity-binding": {"allowedIdentities": {"rio": "rio-agent@fleet-project.iam.gserviceaccount.com"}}
    }
    assert run_all(resources, "dev", allowed) == []
    assert analyze(document, config=allowed) == []
    wrong_agent = {
        "nuketown-identity-binding": {"allowedIdentities": {"vox": "rio-agent@fleet-project.iam.gserviceaccount.com"}}
    }
    assert run_all(resources, "dev", wrong_agent) != []

    document = crafted(ROOT / "tests" / "data" / "policy" / "finding4-gcp-condition-another-prefix.json")
    scopes = {"nuketown-scope-ownership": {"allowedScopes": {"ada": ["p-*"]}}}
    assert run_all(resources_from_plan(document), "dev", scopes) == []
    assert analyze(document, config=scopes) == []


def test_an_identity_this_stack_creates_cannot_be_allow_listed_for_another_agent() -> None:
    resources = resources_from_plan(plan_of(STACKS["gcp"]))
    config = {
        "nuketown-identity-binding": {"allowedIdentities": {"ada": "nt-dev--vox@acme-agents.iam.gserviceaccount.com"}}
    }
    assert [m for _, r, m in run_all(resources, "dev", config) if r is None] == [
        "allowedIdentities gives ada nt-dev--vox@acme-agents.iam.gserviceaccount.com, which this stack creates for vox"
    ]


# --- unknown values ----------------------------------------------------------------------------------------


def test_the_sentinels_are_pulumi_policys() -> None:
    sdk = {
        value
        for name, value in vars(pulumi_policy.proxy).items()
        if name.startswith("UNKNOWN_") and name.endswith("_VALUE")
    }
    assert sdk == nuketown_values.PULUMI_UNKNOWNS
    assert all(is_unknown(s) for s in sdk) and is_unknown(PLAN_UNKNOWN) and is_unknown(f'{{"a": "{PLAN_UNKNOWN}"}}')
    assert not is_unknown("arn:aws:iam::1:role/x") and not is_unknown(None) and not is_unknown(3)


def test_reading_an_unknown_raises_with_its_path() -> None:
    props = view({"spec": {"containers": [{"name": "a", "securityContext": PLAN_UNKNOWN}]}})
    container = props["spec"]["containers"][0]
    assert container.get("name") == "a"
    with pytest.raises(UnknownValue) as raised:
        container.get("securityContext")
    assert raised.value.path == "spec.containers[0].securityContext"
    assert view({"a": []})["a"] == [] and view({"a": {}})["a"] == {}


def test_plain_unwraps_the_sdks_proxy_keeping_unknowns() -> None:
    unknown = pulumi_policy.proxy.UNKNOWN_STRING_VALUE
    raw = {"a": {"b": [1, {"c": unknown}]}, "d": unknown}
    proxied = pulumi_policy.proxy.unknown_checking_proxy(copy.deepcopy(raw))
    with pytest.raises(pulumi_policy.proxy.UnknownValueError):
        proxied["d"]
    assert plain(proxied) == raw


def test_the_sdk_alone_turns_a_mandatory_policy_advisory_at_preview() -> None:
    """Why the rules read unwrapped values: a policy that reads an unknown through the SDK's proxy is
    reported as an advisory "can't run policy during preview", and the preview passes."""
    role = {
        "type": nuketown_policy.AWS_ROLE,
        "name": "ada",
        "inputs": {"name": "nuketown-dev--ada", "permissionsBoundary": pulumi_policy.proxy.UNKNOWN_STRING_VALUE},
    }

    def naive(args: ResourceValidationArgs, report_violation: Callable[..., None]) -> None:
        if not args.props["permissionsBoundary"]:
            report_violation("no boundary")

    plain_policy = ResourceValidationPolicy(
        name="naive-role-boundary", description="naive", validate=naive, enforcement_level=EnforcementLevel.MANDATORY
    )
    [diagnostic] = [d for d in analyze({"resources": [role]}, policies=[plain_policy]) if d.policyName]
    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
    assert "can't run policy 'naive-role-boundary'" in diagnostic.message
    found = analyze({"resources": [role]})
    assert not [d for d in found if d.policyName == "nuketown-role-boundary"]  # deferred: it sees no dependencies
    ours = [d for d in found if d.policyName == UNKNOWN_ORIGIN and "nuketown-role-boundary: " in d.message]
    assert [d.enforcementLevel for d in ours] == [analyzer_pb2.MANDATORY]
    assert "permissionsBoundary is unknown at preview (known only after apply) and has no dependency" in ours[0].message


# --- a first preview: unknowns from the agent's own identity resources pass, any other is refused ------------


def _unknown_resources(plan: dict[str, Any]) -> list[str]:
    return [f"{r['type']}::{r['name']}" for r in plan["resources"] if nuketown_values.has_unknown(r["inputs"])]


@pytest.mark.parametrize("apply_kubernetes", [True, False], ids=["kubernetes", "identity-only"])
@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("source", [EXAMPLE, FLEET], ids=["example", "fleet"])
def test_a_first_preview_passes_every_rule(stack: str, source: Path, apply_kubernetes: bool, tmp_path: Path) -> None:
    """A stack's first `pulumi preview` (and the one `pulumi up` runs first): every value a cloud assigns on
    creation is unknown, and comes from the agent's own account, key, key ring, role, boundary or key created
    in the same deployment. Accepted through the plain functions, pulumi_policy's analyzer (given the
    property dependencies, as the engine gives AnalyzeStack) and offline.py as CI runs it."""
    config = {**STACKS[stack], "nuketown:storageClass": "standard-rwo"}
    if not apply_kubernetes:
        config["nuketown:applyKubernetes"] = "false"
    plan = plan_of(config, source, first_preview=True)
    assert bool(_unknown_resources(plan)) == (stack != "kubernetes")
    assert run_all(resources_from_plan(plan), "dev", PACK_CONFIG) == []
    assert analyze(plan, config=PACK_CONFIG) == []
    result = offline(plan, tmp_path, config=PACK_CONFIG)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "kubernetes"])
def test_a_first_preview_without_dependencies_is_refused(stack: str, tmp_path: Path) -> None:
    """The same first preview with no dependency information: every unknown a rule needs is of unknown origin,
    and a violation, three ways (under CrossGuard, the resource policies defer to nuketown-unknown-origin)."""
    plan = plan_of(STACKS[stack], FLEET, first_preview=True)
    for resource in plan["resources"]:
        resource["dependencies"] = {}
    found = run_all(resources_from_plan(plan), "dev", PACK_CONFIG)
    assert found and all(UNKNOWN_AT_PREVIEW in m and nuketown_values.NO_ORIGIN in m for *_, m in found), found
    assert not {policy for policy, *_ in found} & RESOURCE_POLICIES
    diagnostics = diagnostics_by_policy(analyze(plan, config=PACK_CONFIG))
    assert set(diagnostics) == {policy for policy, *_ in found}
    assert offline(plan, tmp_path, config=PACK_CONFIG).returncode == 1


def _origin(resources: list[Resource], resource_type: str, name: str, key: str, *path: str) -> Any:
    """What `with_origins` puts in place of the unknown at props[key][path...]."""
    marked = next(r for r in resources if r.type == resource_type and r.name == name)
    value = marked.props[key]
    for part in path:
        value = value[part]
    assert isinstance(value, (nuketown_values.Derived, nuketown_values.UnknownOrigin)), value
    return value


def _first_preview(cloud: str) -> list[Resource]:
    return resources_from_plan(plan_of(STACKS[cloud], first_preview=True))


def _changed(resources: list[Resource], resource_type: str, name: str, **changes: Any) -> list[Resource]:
    return [dataclasses.replace(r, **changes) if (r.type, r.name) == (resource_type, name) else r for r in resources]


WI = (nuketown_policy.GCP_ACCOUNT_MEMBER, "ada-workload-identity", "serviceAccountId")
DECRYPTER = (nuketown_policy.GCP_KEY_MEMBER, "ada-decrypter", "cryptoKeyId")
ROLE_BOUNDARY = (nuketown_policy.AWS_ROLE, "ada", "permissionsBoundary")
BOUNDARY_DOCUMENT = (nuketown_policy.AWS_POLICY, "ada-boundary", "policy")


def _renamed(key: str, value: Any) -> Callable[[Resource], Resource]:
    return lambda r: dataclasses.replace(r, props={**r.props, key: value})


# The ways an unknown's origin is not the agent's own: (cloud, the unknown, what changes, the origin it reports).
ORIGINS: dict[str, tuple[str, tuple[str, str, str], Callable[[list[Resource]], list[Resource]], str]] = {
    "no dependency information": (
        "gcp",
        WI,
        lambda rs: _changed(rs, *WI[:2], dependencies={}),
        "has no dependency information",
    ),
    "a resource of no agent": (
        "gcp",
        WI,
        lambda rs: _changed(rs, *WI[:2], agent=None),
        "comes from gcp:serviceaccount/account:Account::ada but belongs to no agent",
    ),
    "not declared": (
        "aws-irsa",
        ROLE_BOUNDARY,
        lambda rs: [r for r in rs if (r.type, r.name) != (nuketown_policy.AWS_POLICY, "ada-boundary")],
        "comes from aws:iam/policy:Policy::ada-boundary, which this stack does not declare",
    ),
    "another type": (
        "gcp",
        WI,
        lambda rs: _changed(rs, *WI[:2], dependencies={"serviceAccountId": (f"{nuketown_policy.NAMESPACE}::ada",)}),
        "comes from kubernetes:core/v1:Namespace ada, which is not an identity or key resource",
    ),
    "another agent's": (
        "aws-irsa",
        ROLE_BOUNDARY,
        lambda rs: _changed(
            rs,
            *ROLE_BOUNDARY[:2],
            dependencies={"permissionsBoundary": (f"{nuketown_policy.AWS_POLICY}::vox-boundary",)},
        ),
        "comes from aws:iam/policy:Policy vox-boundary, which is vox's, not ada's",
    ),
    "an account of another name": (
        "gcp",
        WI,
        lambda rs: [
            _renamed("accountId", "nt-dev--vox")(r) if r.type == nuketown_policy.GCP_ACCOUNT and r.name == "ada" else r
            for r in rs
        ],
        "whose accountId 'nt-dev--vox' is not ada's account 'nt-dev--ada'",
    ),
    "a role of another name": (
        "aws-pod-identity",
        (nuketown_policy.AWS_POD_IDENTITY, "ada", "roleArn"),
        lambda rs: [
            _renamed("name", "admin")(r) if r.type == nuketown_policy.AWS_ROLE and r.name == "ada" else r for r in rs
        ],
        "whose name 'admin' is not ada's role 'nuketown-dev--ada'",
    ),
    "a boundary of another name": (
        "aws-irsa",
        ROLE_BOUNDARY,
        lambda rs: [_renamed("name", "admin")(r) if r.type == nuketown_policy.AWS_POLICY else r for r in rs],
        "whose name 'admin' is not ada's boundary 'nuketown-dev--ada--boundary'",
    ),
    "an untagged key": (
        "aws-irsa",
        BOUNDARY_DOCUMENT,
        lambda rs: [_renamed("tags", {})(r) if r.type == nuketown_policy.AWS_KEY else r for r in rs],
        "which is not tagged nuketown.io/agent=ada, nuketown.io/stack=dev",
    ),
    "a key of another name": (
        "gcp",
        DECRYPTER,
        lambda rs: [
            _renamed("name", "vox")(r) if r.type == nuketown_policy.GCP_KEY and r.name == "ada" else r for r in rs
        ],
        "whose name 'vox' is not ada's key 'ada'",
    ),
    "a key in another ring": (
        "gcp",
        DECRYPTER,
        lambda rs: [
            _renamed("keyRing", "projects/p/locations/global/keyRings/nuketown-prod")(r)
            if r.type == nuketown_policy.GCP_KEY and r.name == "ada"
            else r
            for r in rs
        ],
        "whose keyRing 'projects/p/locations/global/keyRings/nuketown-prod' is not the stack's ring 'nuketown-dev'",
    ),
    "a key in a ring of unknown origin": (
        "gcp",
        DECRYPTER,
        lambda rs: _changed(rs, nuketown_policy.GCP_KEY, "ada", dependencies={}),
        "whose keyRing is unknown and has no dependency information",
    ),
    "a key in a ring it makes itself": (
        "gcp",
        DECRYPTER,
        lambda rs: _changed(
            rs, nuketown_policy.GCP_KEY, "ada", dependencies={"keyRing": (f"{nuketown_policy.GCP_KEY}::ada",)}
        ),
        "whose keyRing is unknown and comes from gcp:kms/cryptoKey:CryptoKey ada, whose keyRing None",
    ),
    "a ring of another name": (
        "gcp",
        (nuketown_policy.GCP_KEY, "ada", "keyRing"),
        lambda rs: [_renamed("name", "nuketown-prod")(r) if r.type == nuketown_policy.GCP_KEY_RING else r for r in rs],
        "whose name 'nuketown-prod' is not the stack's key ring 'nuketown-dev'",
    ),
}


@pytest.mark.parametrize("case", list(ORIGINS))
def test_an_unknown_of_another_origin_is_marked_with_where_it_came_from(case: str) -> None:
    cloud, (resource_type, name, key), change, origin = ORIGINS[case]
    resources = _first_preview(cloud)
    assert isinstance(
        _origin(nuketown_policy.with_origins(resources, nuketown_policy.Names("dev")), resource_type, name, key),
        nuketown_values.Derived,
    )
    marked = _origin(
        nuketown_policy.with_origins(change(resources), nuketown_policy.Names("dev")), resource_type, name, key
    )
    assert isinstance(marked, nuketown_values.UnknownOrigin) and origin in marked.origin, marked
    with pytest.raises(UnknownValue) as raised:
        view({key: marked})[key]
    assert raised.value.message.startswith(f"{key} is unknown at preview (known only after apply) and {marked.origin}")


def test_without_the_stack_name_no_unknown_is_the_agents_own() -> None:
    marked = _origin(nuketown_policy.with_origins(_first_preview("gcp"), None), *WI)
    assert isinstance(marked, nuketown_values.UnknownOrigin) and nuketown_policy.STACK_UNKNOWN in marked.origin


def _derived_from(resources: list[Resource], target: tuple[str, str, str], ref: str, *path: str) -> list[Resource]:
    """The unknown at target (props[key][path...]) made to come from `ref` alone."""
    resource_type, name, key = target

    def change(resource: Resource) -> Resource:
        props = copy.deepcopy(dict(resource.props))
        node = props
        for part in (key, *path)[:-1]:
            node = node[part]
        node[(key, *path)[-1]] = PLAN_UNKNOWN
        return dataclasses.replace(resource, props=props, dependencies={**resource.dependencies, key: (ref,)})

    return [change(r) if (r.type, r.name) == (resource_type, name) else r for r in resources]


GCP_KEY_REF, GCP_ACCOUNT_REF = f"{nuketown_policy.GCP_KEY}::ada", f"{nuketown_policy.GCP_ACCOUNT}::ada"
AWS_KEY_REF, AWS_BOUNDARY_REF = f"{nuketown_policy.AWS_KEY}::ada", f"{nuketown_policy.AWS_POLICY}::ada-boundary"
# Where a rule accepts a value that comes from the agent's own identity, it takes only the right kind:
# (cloud, the unknown, path inside, the resource it is made to come from) -> (policy, what it reports).
WRONG_KIND: dict[str, tuple[str, tuple[str, str, str], tuple[str, ...], str, str, str]] = {
    "workload identity on the key": (
        "gcp",
        WI,
        (),
        GCP_KEY_REF,
        "nuketown-identity-binding",
        "serviceAccountId <unknown",
    ),
    "decrypter on the account": (
        "gcp",
        DECRYPTER,
        (),
        GCP_ACCOUNT_REF,
        "nuketown-identity-binding",
        "cryptoKeyId <unknown",
    ),
    "decrypter for the key": (
        "gcp",
        (nuketown_policy.GCP_KEY_MEMBER, "ada-decrypter", "member"),
        (),
        GCP_KEY_REF,
        "nuketown-identity-binding",
        "member <unknown",
    ),
    "storage for the key": (
        "gcp",
        (nuketown_policy.GCP_BUCKET_MEMBER, "ada--artifacts--objects", "member"),
        (),
        GCP_KEY_REF,
        "nuketown-identity-binding",
        "member <unknown",
    ),
    "key in the account": (
        "gcp",
        (nuketown_policy.GCP_KEY, "ada", "keyRing"),
        (),
        GCP_ACCOUNT_REF,
        "nuketown-stack-name",
        "keyRing <unknown",
    ),
    "IRSA annotation from the boundary": (
        "aws-irsa",
        (nuketown_policy.SERVICE_ACCOUNT, "ada", "metadata"),
        ("annotations", nuketown_policy.EKS_ROLE_ANNOTATION),
        AWS_BOUNDARY_REF,
        "nuketown-identity-binding",
        "eks.amazonaws.com/role-arn <unknown",
    ),
    "Pod Identity to the key": (
        "aws-pod-identity",
        (nuketown_policy.AWS_POD_IDENTITY, "ada", "roleArn"),
        (),
        AWS_KEY_REF,
        "nuketown-identity-binding",
        "roleArn <unknown",
    ),
    "role policy on the key": (
        "aws-irsa",
        (nuketown_policy.AWS_ROLE_POLICY, "ada", "role"),
        (),
        AWS_KEY_REF,
        "nuketown-stack-name",
        "role <unknown",
    ),
    "boundary from the key": (
        "aws-irsa",
        ROLE_BOUNDARY,
        (),
        AWS_KEY_REF,
        "nuketown-permissions-boundary",
        "permissionsBoundary <unknown",
    ),
}


@pytest.mark.parametrize("case", list(WRONG_KIND))
def test_a_value_of_the_agents_own_of_the_wrong_kind_is_refused(case: str) -> None:
    """Each place a rule takes a value unknown at preview as the agent's own identity, key or ring, shown
    refusing one that comes from the agent's own resource of another kind (what follows from it, too)."""
    cloud, target, path, ref, policy, text = WRONG_KIND[case]
    resources = _first_preview(cloud)
    assert run_all(resources, "dev", PACK_CONFIG) == []  # the right kind passes
    found = found_by_policy(run_all(_derived_from(resources, target, ref, *path), "dev", PACK_CONFIG))
    assert any(text in m for m in found.get(policy, [])), found
    assert all("unknown at preview" in m for messages in found.values() for m in messages), found


def test_offline_names_an_undeclared_origin_the_sdk_cannot(tmp_path: Path) -> None:
    """pulumi_policy keeps only the property dependencies on resources of the stack (policy.py AnalyzeStack):
    one on an undeclared resource reaches the pack as no dependency information; offline.py names it."""
    document = crafted(ROOT / "tests" / "data" / "policy" / "unknown-aws-boundary-from-an-undeclared-policy.json")
    result = offline(document, tmp_path)
    assert "comes from aws:iam/policy:Policy::ada-admin, which this stack does not declare" in result.stdout
    messages = [d.message for d in analyze(document) if d.policyName == "nuketown-permissions-boundary"]
    assert messages and all("has no dependency information" in m for m in messages)


# --- names restated from the program -----------------------------------------------------------------------


environments = st.from_regex(r"\A[a-z0-9]+(-[a-z0-9]+){0,4}\Z").filter(lambda e: len(e) <= 40)
agents = st.from_regex(r"\A[a-z0-9]+(-[a-z0-9]+){0,6}\Z").filter(lambda a: len(a) <= 60)


@given(environments, agents, st.booleans())
def test_the_pack_derives_the_programs_names(environment: str, agent: str, legacy: bool) -> None:
    names, pack = naming.Names(environment, legacy=legacy), nuketown_policy.Names(environment, legacy)
    assert pack.account_id(agent) == names.gcp_service_account_id(agent)
    assert pack.key_ring() == names.gcp_key_ring()
    assert pack.role(agent) == names.aws_role(agent)
    assert pack.boundary(agent) == names.aws_boundary_policy(agent)
    assert pack.key_alias(agent) == names.aws_kms_alias(agent)
    assert pack.carried_by(names.prefix)


def test_stack_and_carried_environment() -> None:
    assert stack_from_urn("urn:pulumi:prod::nuketown::nuketown:index:Agent$aws:iam/role:Role::ada") == "prod"
    assert stack_from_urn("not-a-urn") is None
    separated, legacy = nuketown_policy.Names("prod"), nuketown_policy.Names("prod", legacy=True)
    assert separated.carried_by("team-prod--") and legacy.carried_by("team-prod-")
    assert not separated.carried_by("team-prod-"), "the separated form ends the prefix in '--'"
    assert not separated.carried_by("a--prod--") and not separated.carried_by("prod---")
    for names in (separated, legacy):
        assert not names.carried_by("agents-") and not names.carried_by("preprod-")
        assert not names.carried_by("")


# --- each rule on the program's resources, changed ---------------------------------------------------------


@pytest.fixture(scope="module")
def gcp_resources() -> list[Resource]:
    return resources_from_plan(plan_of({"nuketown:cloud": "gcp", "gcp:project": "acme-agents"}))


@pytest.fixture(scope="module")
def gcp_prefix_resources() -> list[Resource]:
    """With nuketown:storage agentPrefix: each agent's project-wide grant on its `<agent>-*` buckets too."""
    return resources_from_plan(plan_of({**STACKS["gcp"], **AGENT_PREFIX}))


@pytest.fixture(scope="module")
def aws_resources() -> list[Resource]:
    return resources_from_plan(plan_of(STACKS["aws-irsa"]))


def first(resources: list[Resource], resource_type: str) -> dict[str, Any]:
    return copy.deepcopy(dict(next(r.props for r in resources if r.type == resource_type)))


def test_a_role_without_boundary_is_refused(aws_resources: list[Resource]) -> None:
    role = first(aws_resources, "aws:iam/role:Role")
    assert role_boundary_problems("aws:iam/role:Role", role) == []
    del role["permissionsBoundary"]
    assert role_boundary_problems("aws:iam/role:Role", role) == [
        "IAM role nuketown-dev--ada has no permissions boundary"
    ]


@pytest.mark.parametrize(
    "resource_type",
    [
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
        "gcp:serviceaccount/iAMBinding:IAMBinding",
        "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding",
        "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
    ],
)
def test_authoritative_gcp_iam_is_refused(resource_type: str) -> None:
    [problem] = authoritative_gcp_iam_problems(resource_type, {"role": "roles/viewer", "members": ["user:a@b.c"]})
    assert "authoritative" in problem


def test_additive_gcp_iam_is_allowed() -> None:
    for member in ("gcp:projects/iAMMember:IAMMember", "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"):
        assert authoritative_gcp_iam_problems(member, {}) == []


@pytest.mark.parametrize(
    ("resource_type", "role"),
    [
        ("gcp:projects/iAMMember:IAMMember", "roles/owner"),
        ("gcp:projects/iAMMember:IAMMember", "roles/storage.admin"),
        ("gcp:projects/iAMMember:IAMMember", "roles/iam.serviceAccountTokenCreator"),
        ("gcp:serviceaccount/iAMMember:IAMMember", "roles/iam.serviceAccountUser"),
        ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "roles/cloudkms.admin"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.admin"),
        ("gcp:organizations/iAMMember:IAMMember", "roles/viewer"),
    ],
)
def test_gcp_roles_outside_the_allow_list_are_refused(resource_type: str, role: str) -> None:
    [problem] = nuketown_policy.gcp_iam_role_problems(resource_type, {"role": role, "member": "user:a@b.c"})
    assert "not allowed" in problem or "not a grant nuketown makes" in problem


def test_a_storage_grant_without_condition_is_refused(gcp_prefix_resources: list[Resource]) -> None:
    grant = first(gcp_prefix_resources, "gcp:projects/iAMMember:IAMMember")
    assert unconditioned_storage_grant_problems("gcp:projects/iAMMember:IAMMember", grant) == []
    del grant["condition"]
    [problem] = unconditioned_storage_grant_problems("gcp:projects/iAMMember:IAMMember", grant)
    assert problem.startswith("roles/storage.objectUser granted to serviceAccount:nt-dev--ada@")
    assert problem.endswith("on the project without a condition")


@pytest.mark.parametrize(
    "expression",
    [
        "true",
        'resource.name.startsWith("projects/_/buckets/ada-")\n',
        'resource.name.startsWith("projects/_/buckets/ada-") || true',
        'resource.name.startsWith("projects/_/buckets/Ada-")',
        'resource.name.startsWith("projects/_/buckets/")',
    ],
)
def test_storage_conditions_other_than_one_owned_prefix_are_refused(
    gcp_prefix_resources: list[Resource], expression: str
) -> None:
    grant = first(gcp_prefix_resources, "gcp:projects/iAMMember:IAMMember")
    grant["condition"]["expression"] = expression
    assert nuketown_policy.storage_condition_problems("gcp:projects/iAMMember:IAMMember", grant) != []


@pytest.mark.parametrize(
    ("resource", "refused"),
    [
        ("arn:aws:s3:::ada-*", False),
        ("arn:aws:s3:::ada-*/*", False),
        ("arn:aws:s3:::ada.data-*", False),
        ("arn:aws:s3:::ada-data*", False),
        ("arn:aws:s3:::ada*", False),  # well-formed; scope ownership refuses it as not ada's
        ("arn:aws:s3:::ad*\n", True),
        ("arn:aws:s3:::ad**", True),
        ("arn:aws:s3:::ada-**", True),
        ("arn:aws:s3:::*", True),
        ("arn:aws:s3:::ada-*/secret*", True),
        ("arn:aws:s3:::ada-\n*", True),
        ("arn:aws:s3:::ada-? ", True),
        ("*", True),
        ("arn:aws:kms:us-east-1:111122223333:key/*", True),
    ],
)
def test_policy_document_resources(resource: str, refused: bool) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}],
    }
    problems = nuketown_policy.policy_document_problems(
        "aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(document)}
    )
    assert bool(problems) == refused, problems


SCOPES = {  # scope -> passes: the program's grammar (spec.py) and ownership rule (ownership.py), for agent ada
    "ada-*": True,
    "ada-data*": True,
    "ada*": False,
    "p*": False,
    "ad*\n": False,
    "ada-**": False,
    "ada- *": False,
    "vox-*": False,
}


def _with_scope(plan: dict[str, Any], scope: str) -> dict[str, Any]:
    """ada's storage condition (GCP) or the S3 resources of its policy and boundary (AWS) set to `scope`."""
    changed = 0
    for resource in plan["resources"]:
        if resource["name"] == "ada-storage":
            prefix = scope.removesuffix("*")
            resource["inputs"]["condition"]["expression"] = f'resource.name.startsWith("projects/_/buckets/{prefix}")'
            changed += 1
        if resource["type"] in (nuketown_policy.AWS_ROLE_POLICY, nuketown_policy.AWS_POLICY) and resource[
            "name"
        ].startswith("ada"):
            document = json.loads(resource["inputs"]["policy"])
            for statement in document["Statement"]:
                if statement["Resource"] in ("arn:aws:s3:::ada-*", "arn:aws:s3:::ada-*/*"):
                    statement["Resource"] = statement["Resource"].replace("ada-*", scope, 1)
                    changed += 1
            resource["inputs"]["policy"] = json.dumps(document)
    assert changed
    return plan


@pytest.mark.parametrize("cloud", ["gcp", "aws-irsa"])
@pytest.mark.parametrize("scope", list(SCOPES))
def test_a_scope_passes_as_the_program_allows_it(cloud: str, scope: str) -> None:
    """Through every rule, in a stack whose operator declared its project or account its own (storage
    agentPrefix), a scope gets the program's verdict (it starts with 'ada-'): `ada-data*` passes, `ada*`, `p*`,
    `ad*\\n` do not."""
    plan = _with_scope(plan_of({**STACKS[cloud], **AGENT_PREFIX}), scope)
    config = {**PACK_CONFIG, **AGENT_PREFIX_PACK}
    found = run_all(resources_from_plan(plan), "dev", config)
    assert (found == []) == SCOPES[scope], found
    if not SCOPES[scope]:
        assert_reported(diagnostics_by_policy(analyze(plan, config=config)), found_by_policy(found))


@pytest.mark.parametrize("cloud", ["gcp", "aws-irsa"])
def test_the_programs_own_scopes_pass(cloud: str, example_json: dict[str, Any], tmp_path: Path) -> None:
    """The program's plans with ada's scope `ada-data*` pass; one the operator allow-lists for the program
    (`ada*`, nuketown:allowedScopes) passes only when the pack's config allow-lists it too."""
    spec = copy.deepcopy(example_json)
    spec["agents"]["ada"]["identity"]["scope"] = "ada-data*"
    (tmp_path / "ada-data.json").write_text(json.dumps(spec))
    plan = plan_of(STACKS[cloud], tmp_path / "ada-data.json")
    assert run_all(resources_from_plan(plan), "dev", PACK_CONFIG) == []
    spec["agents"]["ada"]["identity"]["scope"] = "ada*"
    (tmp_path / "ada.json").write_text(json.dumps(spec))
    config = {**STACKS[cloud], "nuketown:allowedScopes": json.dumps({"ada": ["ada*"]})}
    resources = resources_from_plan(plan_of(config, tmp_path / "ada.json"))
    assert {policy for policy, *_ in run_all(resources, "dev", PACK_CONFIG)} == {"nuketown-scope-ownership"}
    allowed = {**PACK_CONFIG, "nuketown-scope-ownership": {"allowedScopes": {"ada": ["ada*"]}}}
    assert run_all(resources, "dev", allowed) == []


def test_a_deny_may_use_wildcards_but_not_whitespace() -> None:
    deny = {"Effect": "Deny", "Action": ["iam:*"], "Resource": "*"}
    document = {"Statement": [deny]}
    assert nuketown_iam.identity_policy_problems(json.dumps(document), "policy") == []
    deny["Action"] = ["iam:* "]
    assert nuketown_iam.identity_policy_problems(json.dumps(document), "policy") != []


@pytest.mark.parametrize(
    ("denied", "complete"),
    [
        (["iam:*", "organizations:*", "sts:AssumeRole*"], True),
        (["*"], True),
        (
            ["IAM:*", "organizations:*", "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"],
            True,
        ),
        (["iam:PassRole", "organizations:*", "sts:AssumeRole*"], False),
        (["iam:*", "organizations:*", "sts:AssumeRole"], False),
    ],
)
def test_a_boundary_denies_escalation(denied: list[str], complete: bool) -> None:
    document = {"Statement": [{"Effect": "Deny", "Action": denied, "Resource": "*"}]}
    assert (nuketown_iam.boundary_denial_problems(json.dumps(document), "boundary") == []) == complete
    conditioned = {"Statement": [{**document["Statement"][0], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    assert nuketown_iam.boundary_denial_problems(json.dumps(conditioned), "boundary") != []


def _trust(aws_resources: list[Resource]) -> dict[str, Any]:
    return json.loads(first(aws_resources, "aws:iam/role:Role")["assumeRolePolicy"])


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["Statement"].append(copy.deepcopy(d["Statement"][0])),
        lambda d: d["Statement"][0].update(Principal={"Federated": "arn:aws:iam::111122223333:saml-provider/x"}),
        lambda d: d["Statement"][0].update(Principal={"AWS": "*"}),
        lambda d: d["Statement"][0].update(Action="sts:AssumeRole"),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].popitem(),
        lambda d: d["Statement"][0]["Condition"].update(StringLike={"x": "y"}),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update(
            {k: v + "*" for k, v in d["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")}
        ),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update(
            {k: "other" for k in d["Statement"][0]["Condition"]["StringEquals"] if k.endswith(":aud")}
        ),
        lambda d: d["Statement"][0].update(Effect="Deny"),
    ],
)
def test_irsa_trust_documents_are_exact(aws_resources: list[Resource], change: Callable[[dict[str, Any]], Any]) -> None:
    document = _trust(aws_resources)
    assert nuketown_iam.trust_policy_problems(json.dumps(document)) == []
    change(document)
    assert nuketown_iam.trust_policy_problems(json.dumps(document)) != []


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["Statement"][0].update(Action=["sts:AssumeRole"]),
        lambda d: d["Statement"][0].update(Principal={"Service": "ec2.amazonaws.com"}),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].pop("aws:SourceAccount"),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update({"aws:SourceAccount": "1234"}),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].pop("aws:RequestTag/kubernetes-service-account"),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update({"aws:RequestTag/kubernetes-namespace": "n*"}),
    ],
)
def test_pod_identity_trust_documents_are_exact(change: Callable[[dict[str, Any]], Any]) -> None:
    role = first(resources_from_plan(plan_of(STACKS["aws-pod-identity"])), "aws:iam/role:Role")
    document = json.loads(role["assumeRolePolicy"])
    assert nuketown_iam.trust_policy_problems(json.dumps(document)) == []
    change(document)
    assert nuketown_iam.trust_policy_problems(json.dumps(document)) != []


# --- Pod Security `restricted` on every workload kind ------------------------------------------------------


@pytest.fixture(scope="module")
def template(gcp_resources: list[Resource]) -> dict[str, Any]:
    return copy.deepcopy(first(gcp_resources, "kubernetes:apps/v1:Deployment")["spec"]["template"])


def _container(template: dict[str, Any]) -> dict[str, Any]:
    return template["spec"]["containers"][0]


def _context(template: dict[str, Any]) -> dict[str, Any]:
    return _container(template)["securityContext"]


RESTRICTED_VIOLATIONS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "host network": (lambda t: t["spec"].update(hostNetwork=True), "hostNetwork must not be true"),
    "host PID": (lambda t: t["spec"].update(hostPID=True), "hostPID must not be true"),
    "host IPC": (lambda t: t["spec"].update(hostIPC=True), "hostIPC must not be true"),
    "privileged": (lambda t: _context(t).update(privileged=True), "privileged must not be true"),
    "capability added": (lambda t: _context(t)["capabilities"].update(add=["NET_RAW"]), "adds ['NET_RAW']"),
    "capabilities kept": (lambda t: _context(t)["capabilities"].update(drop=[]), "capabilities must drop ALL"),
    "hostPath volume": (lambda t: t["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
    "nfs volume": (lambda t: t["spec"]["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}), "nfs"),
    "image volume": (lambda t: t["spec"]["volumes"].append({"name": "i", "image": {"reference": "x"}}), "image"),
    "host port": (lambda t: _container(t).update(ports=[{"containerPort": 80, "hostPort": 80}]), "hostPort"),
    "pod AppArmor": (
        lambda t: t["spec"]["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        "pod appArmorProfile.type 'Unconfined'",
    ),
    "container AppArmor": (
        lambda t: _context(t).update(appArmorProfile={"type": "Unconfined"}),
        "appArmorProfile.type 'Unconfined'",
    ),
    "AppArmor annotation": (
        lambda t: t["metadata"]["annotations"].update(
            {"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"}
        ),
        "AppArmor profile must be runtime/default or localhost/*",
    ),
    "SELinux type": (lambda t: _context(t).update(seLinuxOptions={"type": "spc_t"}), "seLinuxOptions.type 'spc_t'"),
    "SELinux engine type": (
        lambda t: _context(t).update(seLinuxOptions={"type": "container_engine_t"}),
        "seLinuxOptions.type 'container_engine_t'",
    ),
    "SELinux user": (lambda t: _context(t).update(seLinuxOptions={"user": "system_u"}), "seLinuxOptions.user"),
    "SELinux role": (
        lambda t: t["spec"]["securityContext"].update(seLinuxOptions={"role": "r"}),
        "seLinuxOptions.role",
    ),
    "proc mount": (lambda t: _context(t).update(procMount="Unmasked"), "procMount must be Default"),
    "pod seccomp": (
        lambda t: t["spec"]["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "pod seccompProfile Unconfined",
    ),
    "container seccomp": (lambda t: _context(t).update(seccompProfile={"type": "Unconfined"}), "is Unconfined"),
    "no seccomp": (
        lambda t: (t["spec"]["securityContext"].pop("seccompProfile"), _context(t).pop("seccompProfile")),
        "seccompProfile must be RuntimeDefault or Localhost, is None",
    ),
    "unsafe sysctl": (
        lambda t: t["spec"]["securityContext"].update(sysctls=[{"name": "net.ipv4.tcp_rmem", "value": "1"}]),
        "sysctl 'net.ipv4.tcp_rmem'",
    ),
    "pod host process": (
        lambda t: t["spec"]["securityContext"].update(windowsOptions={"hostProcess": True}),
        "pod windowsOptions.hostProcess",
    ),
    "container host process": (lambda t: _context(t).update(windowsOptions={"hostProcess": True}), "hostProcess"),
    "privilege escalation": (lambda t: _context(t).pop("allowPrivilegeEscalation"), "allowPrivilegeEscalation"),
    "root container": (lambda t: _context(t).update(runAsNonRoot=False), "runAsNonRoot must be true"),
    "root pod": (
        lambda t: t["spec"]["securityContext"].update(runAsNonRoot=False),
        "pod runAsNonRoot must not be false",
    ),
    "uid 0 pod": (lambda t: t["spec"]["securityContext"].update(runAsUser=0), "pod runAsUser must not be 0"),
    "uid 0 container": (lambda t: _context(t).update(runAsUser=0), "runAsUser must not be 0"),
    "probe host": (
        lambda t: _container(t).update(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}),
        "livenessProbe.httpGet.host",
    ),
    "lifecycle host": (
        lambda t: _container(t).update(lifecycle={"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 80}}}),
        "lifecycle.preStop.tcpSocket.host",
    ),
    "privileged init container": (
        lambda t: t["spec"].update(
            initContainers=[{**copy.deepcopy(_container(t)), "name": "init", "securityContext": {"privileged": True}}]
        ),
        "container init: privileged must not be true",
    ),
    "ephemeral container": (
        lambda t: t["spec"].update(ephemeralContainers=[{"name": "debug", "image": "busybox"}]),
        "container debug: allowPrivilegeEscalation must be false",
    ),
    "unknown security context": (
        lambda t: _container(t).update(securityContext=PLAN_UNKNOWN),
        "spec.containers[0].securityContext is unknown at preview",
    ),
}
RESTRICTED_ALLOWED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Localhost seccomp": lambda t: _context(t).update(seccompProfile={"type": "Localhost", "localhostProfile": "p"}),
    "localhost AppArmor annotation": lambda t: t["metadata"]["annotations"].update(
        {"container.apparmor.security.beta.kubernetes.io/agent": "localhost/agent"}
    ),
    "RuntimeDefault AppArmor": lambda t: _context(t).update(appArmorProfile={"type": "RuntimeDefault"}),
    "SELinux container_t": lambda t: _context(t).update(seLinuxOptions={"type": "container_t", "level": "s0:c1"}),
    "NET_BIND_SERVICE": lambda t: _context(t)["capabilities"].update(add=["NET_BIND_SERVICE"]),
    "safe sysctl": lambda t: t["spec"]["securityContext"].update(
        sysctls=[{"name": "net.ipv4.tcp_syncookies", "value": "1"}]
    ),
    "hostPort 0": lambda t: _container(t).update(ports=[{"containerPort": 80, "hostPort": 0}]),
    "probe without host": lambda t: _container(t).update(readinessProbe={"httpGet": {"path": "/", "port": 80}}),
}
WORKLOAD_KINDS = {
    "Pod": "kubernetes:core/v1:Pod",
    "PodTemplate": "kubernetes:core/v1:PodTemplate",
    "ReplicationController": "kubernetes:core/v1:ReplicationController",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
}


def workload(kind: str, template: dict[str, Any]) -> dict[str, Any]:
    metadata = {"name": "ada", "namespace": "nuketown-dev--ada"}
    if kind == "Pod":
        return {**template, "metadata": {**template["metadata"], **metadata}}
    if kind == "PodTemplate":
        return {"metadata": metadata, "template": template}
    if kind == "CronJob":
        return {"metadata": metadata, "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}}
    return {"metadata": metadata, "spec": {"template": template}}


@pytest.mark.parametrize("name", list(RESTRICTED_VIOLATIONS))
def test_each_restricted_control_can_fail(template: dict[str, Any], name: str) -> None:
    change, text = RESTRICTED_VIOLATIONS[name]
    changed = copy.deepcopy(template)
    change(changed)
    problems = workload_pod_security_problems("kubernetes:apps/v1:Deployment", workload("Deployment", changed))
    assert any(text in problem for problem in problems), problems


@pytest.mark.parametrize("name", list(RESTRICTED_ALLOWED))
def test_what_restricted_allows_passes(template: dict[str, Any], name: str) -> None:
    changed = copy.deepcopy(template)
    RESTRICTED_ALLOWED[name](changed)
    assert workload_pod_security_problems("kubernetes:apps/v1:Deployment", workload("Deployment", changed)) == []


@pytest.mark.parametrize("kind", list(WORKLOAD_KINDS))
def test_every_workload_kind_is_checked(template: dict[str, Any], kind: str) -> None:
    resource_type = WORKLOAD_KINDS[kind]
    assert workload_pod_security_problems(resource_type, workload(kind, template)) == []
    changed = copy.deepcopy(template)
    _context(changed)["privileged"] = True
    assert workload_pod_security_problems(resource_type, workload(kind, changed)) == [
        f"{kind} ada: container agent: privileged must not be true"
    ]


@pytest.mark.parametrize("resource_type", ["kubernetes:apps/v1:DeploymentPatch", "kubernetes:core/v1:PodList"])
def test_partial_and_listed_workloads_are_refused(resource_type: str) -> None:
    [problem] = workload_pod_security_problems(resource_type, {"metadata": {"name": "ada"}})
    assert "not allowed" in problem


# --- namespaces and network policies -----------------------------------------------------------------------


def _stack_findings(rule: Callable[..., list[Any]], resources: list[Resource], stack: str | None = "dev") -> list[str]:
    return [f"{f.resource.type if f.resource else 'stack'} {f.message}" for f in rule(resources, Context(stack))]


def _edited(
    resources: list[Resource], resource_type: str, name: str, change: Callable[[dict[str, Any]], Any]
) -> list[Resource]:
    edited = []
    for resource in resources:
        if resource.type == resource_type and resource.name == name:
            props = copy.deepcopy(dict(resource.props))
            change(props)
            resource = Resource(resource.type, resource.name, props, resource.agent)
        edited.append(resource)
    return edited


def test_a_namespace_without_isolation_is_refused(gcp_resources: list[Resource]) -> None:
    opened = _edited(
        gcp_resources,
        nuketown_policy.NETWORK_POLICY,
        "ada",
        lambda p: p["spec"].update(ingress=[{"from": [{"namespaceSelector": {}}]}]),
    )
    assert _stack_findings(namespace_isolation_problems, opened) == [
        "kubernetes:networking.k8s.io/v1:NetworkPolicy NetworkPolicy ada in nuketown-dev--ada "
        "admits ingress (1 rule(s))",
        "kubernetes:core/v1:Namespace agent namespace nuketown-dev--ada has no NetworkPolicy denying all ingress",
    ]
    without = [r for r in gcp_resources if r.type != nuketown_policy.NETWORK_POLICY]
    assert len(_stack_findings(namespace_isolation_problems, without)) == 2


def test_a_network_policy_patch_admitting_ingress_is_refused(gcp_resources: list[Resource]) -> None:
    patch = Resource(
        nuketown_policy.NETWORK_POLICY_PATCH,
        "ada-patch",
        {"metadata": {"name": "ada", "namespace": "nuketown-dev--ada"}, "spec": {"ingress": [{}]}},
    )
    [finding] = _stack_findings(namespace_isolation_problems, [*gcp_resources, patch])
    assert "admits ingress" in finding


def test_namespaces_must_carry_the_stack_and_stay_the_agents(gcp_resources: list[Resource]) -> None:
    assert _stack_findings(nuketown_policy.namespace_placement_problems, gcp_resources, "prod") == [
        message
        for agent in ("ada", "vox")
        for message in (
            f"kubernetes:core/v1:Namespace namespace 'nuketown-dev--{agent}' does not carry the environment 'prod' in "
            f"its prefix (like nuketown-prod--{agent}); two stacks would derive the same name",
            "kubernetes:core/v1:Namespace label nuketown.io/stack is 'dev', not 'prod'",
        )
    ]
    assert (
        _stack_findings(nuketown_policy.namespace_placement_problems, gcp_resources, None)
        == [f"kubernetes:core/v1:Namespace {nuketown_policy.STACK_UNKNOWN}"] * 2
    )
    relabelled = _edited(
        gcp_resources,
        nuketown_policy.NAMESPACE,
        "ada",
        lambda p: p["metadata"]["labels"].update({"nuketown.io/agent": "vox"}),
    )
    assert any(
        "label nuketown.io/agent is 'vox'" in f
        for f in _stack_findings(nuketown_policy.namespace_placement_problems, relabelled)
    )
    stray = Resource("kubernetes:core/v1:ConfigMap", "stray", {"metadata": {"name": "stray"}})
    assert _stack_findings(nuketown_policy.namespace_placement_problems, [*gcp_resources, stray]) == [
        "kubernetes:core/v1:ConfigMap no metadata.namespace: it would land in the provider's default namespace"
    ]


# --- the CrossGuard wiring ---------------------------------------------------------------------------------


def test_the_pack_publishes_mandatory_policies_with_their_config_schema() -> None:
    servicer = _PolicyAnalyzerServicer("nuketown", "0.0.1", POLICIES, EnforcementLevel.ADVISORY)
    info = servicer.GetAnalyzerInfo(None, None)
    assert [p.name for p in info.policies] == [
        "nuketown-resource-type",
        "nuketown-role-boundary",
        "nuketown-authoritative-gcp-iam",
        "nuketown-gcp-iam-role",
        "nuketown-unconditioned-storage-grant",
        "nuketown-storage-condition",
        "nuketown-policy-document",
        "nuketown-trust-document",
        "nuketown-workload-pod-security",
        "nuketown-autoscaler",
        "nuketown-ownership-guard",
        "nuketown-namespace-isolation",
        "nuketown-namespace-placement",
        "nuketown-stack-name",
        "nuketown-identity-binding",
        "nuketown-scope-ownership",
        "nuketown-permissions-boundary",
        "nuketown-unknown-origin",
    ]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
    schemas = {p.name: set(p.configSchema.properties) for p in info.policies if p.configSchema.properties}
    names = {"environment", "legacyNames"}
    stack_policies = {p.name for p in info.policies if p.name in {policy_name(rule) for rule in STACK_RULES}}
    assert schemas == {
        **{name: names for name in stack_policies},
        "nuketown-identity-binding": {"allowedIdentities", *names},
        "nuketown-scope-ownership": {"allowedScopes", "storage", *names},
    }


def test_policies_report_through_the_validation_objects(aws_resources: list[Resource]) -> None:
    """As the older tests did: the policy objects' validate, with args built by hand."""
    role = first(aws_resources, "aws:iam/role:Role")
    del role["permissionsBoundary"]
    reported: list[str] = []
    args = ResourceValidationArgs(
        "aws:iam/role:Role", role, "urn:pulumi:dev::nuketown::aws:iam/role:Role::ada", "ada", None, None
    )
    policy = next(p for p in POLICIES if p.name == "nuketown-role-boundary")
    policy.validate(args, lambda message, urn=None: reported.append(message))
    assert reported == ["IAM role nuketown-dev--ada has no permissions boundary"]

    stack_policy = next(p for p in POLICIES if p.name == "nuketown-namespace-isolation")
    assert isinstance(stack_policy, StackValidationPolicy)
    namespaces = [
        PolicyResource(
            r.type, dict(r.props), f"urn:pulumi:dev::nuketown::{r.type}::{r.name}", r.name, None, None, None, [], {}
        )
        for r in aws_resources
        if r.type == "kubernetes:core/v1:Namespace"
    ]
    urns: list[str | None] = []
    stack_policy.validate(StackValidationArgs(namespaces), lambda message, urn=None: urns.append(urn))
    assert urns == [n.urn for n in namespaces]


def test_a_malformed_pack_config_is_an_error() -> None:
    with pytest.raises(ConfigError):
        Context.from_config("dev", {"allowedIdentities": ["ada"]})
    with pytest.raises(ConfigError):
        Context.from_config("dev", {"allowedScopes": {"ada": "shared-*"}})


# --- the offline runner ------------------------------------------------------------------------------------


def test_offline_usage_errors_exit_2(tmp_path: Path) -> None:
    run = lambda *args: subprocess.run([sys.executable, str(OFFLINE), *args], capture_output=True, text=True)  # noqa: E731
    assert run().returncode == 2
    assert run(str(tmp_path / "missing.json")).returncode == 2
    (tmp_path / "bad.json").write_text("{")
    assert run(str(tmp_path / "bad.json")).returncode == 2
    (tmp_path / "list.json").write_text("[]")
    assert run(str(tmp_path / "list.json")).returncode == 2
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"resources": [], "outputs": {}}))
    assert run(str(plan)).returncode == 0
    (tmp_path / "config.json").write_text(json.dumps({"nuketown-scope-ownership": {"allowedScopes": {"ada": "x"}}}))
    result = run(str(plan), "--config", str(tmp_path / "config.json"))
    assert result.returncode == 2 and "allowedScopes" in result.stderr


def without_stack(plan: dict[str, Any]) -> dict[str, Any]:
    """A plan as one without its `stack` field (an older nuketown-stack), to show what offline.py derives."""
    return {key: value for key, value in plan.items() if key != "stack"}


def test_offline_stack_from_the_plan_or_the_command_line(tmp_path: Path) -> None:
    assert offline(plan_of({}, stack="prod"), tmp_path).stderr.startswith("stack: prod (the plan's stack field)")
    plan = without_stack(plan_of({"nuketown:namespacePrefix": "team-prod--"}, stack="prod"))
    result = offline(plan, tmp_path)
    assert result.returncode == 1 and nuketown_policy.STACK_UNKNOWN in result.stdout
    assert result.stderr.startswith("stack: ? (not found in the plan (pass --stack))")
    assert offline(plan, tmp_path, "--stack", "prod").returncode == 0
    assert "does not carry the environment 'dev'" in offline(plan, tmp_path, "--stack", "dev").stdout
    assert offline({**plan, "stack": "prod"}, tmp_path).returncode == 0
    gcp = without_stack(plan_of({"nuketown:cloud": "gcp", "gcp:project": "acme-agents"}, stack="prod"))
    assert offline(gcp, tmp_path).stderr.startswith("stack: prod (the GCP key ring)")
    aws = without_stack(plan_of(STACKS["aws-pod-identity"], stack="prod"))
    assert offline(aws, tmp_path).stderr.startswith("stack: prod (the AWS key aliases)")


def test_offline_prints_one_line_per_violation(tmp_path: Path) -> None:
    document = crafted(ROOT / "tests" / "data" / "policy" / "finding2-gcp-condition-trailing-newline.json")
    result = offline(document, tmp_path)
    assert result.stdout == (
        "gcp:projects/iAMMember:IAMMember ada-storage: condition "
        "'resource.name.startsWith(\"projects/_/buckets/ada-\\n\")' is not "
        'resource.name.startsWith("projects/_/buckets/<prefix>") with a lowercase prefix ([a-z0-9][a-z0-9._-]*) '
        "[nuketown-storage-condition]\n"
    )


def test_the_pack_config_from_a_stack_file_has_the_packs_own_keys(tmp_path: Path) -> None:
    """policy/pack_config.py writes what CONFIG_PROPERTIES declares, from the allow-lists the program reads."""
    import pack_config

    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(
        "config:\n  nuketown:allowedScopes:\n    ada: [shared-*]\n"
        '  nuketown:allowedIdentities: \'{"rio": "rio@p.iam.gserviceaccount.com"}\'\n'
    )
    config = pack_config.pack_config(stack_file)
    assert {policy: set(props) for policy, props in config.items()} == {
        policy: set(props) for policy, props in nuketown_policy.CONFIG_PROPERTIES.items()
    }
    assert config["nuketown-scope-ownership"]["allowedScopes"] == {"ada": ["shared-*"]}
    assert config["nuketown-identity-binding"]["allowedIdentities"] == {"rio": "rio@p.iam.gserviceaccount.com"}
    assert pack_config.main([str(tmp_path / "Pulumi.missing.yaml")]) == 2


# --- AWS key targets ------------------------------------------------------------------------------------------


def _with_key_outputs_instead_of_aliases(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as a stack policy may see it at `pulumi up`, where a key carries its outputs (id, ARN): its
    alias left out, so the key's own outputs are all the pack knows it by."""
    plan = copy.deepcopy(plan)
    aliases = [r for r in plan["resources"] if r["type"] == nuketown_policy.AWS_ALIAS]
    targets = {r["parent"]: r["inputs"]["targetKeyId"] for r in aliases}
    plan["resources"] = [r for r in plan["resources"] if r["type"] != nuketown_policy.AWS_ALIAS]
    for resource in plan["resources"]:
        if resource["type"] == nuketown_policy.AWS_KEY and resource["parent"] in targets:
            key_id = targets[resource["parent"]]
            resource["inputs"].update(keyId=key_id, arn=f"arn:aws:kms:us-east-1:111122223333:key/{key_id}")
    return plan


def test_an_agents_key_is_known_by_its_alias_or_its_own_outputs() -> None:
    """The rule needs to know which key is whose: from the alias this stack names for the agent, or from the
    key's own id and ARN; without either, a key a policy names cannot be shown to be the agent's."""
    own = plan_of(STACKS["aws-irsa"])
    assert run_all(resources_from_plan(_with_key_outputs_instead_of_aliases(own)), "dev") == []
    crafted_plan = crafted(ROOT / "tests" / "data" / "policy" / "rule-aws-key-policy-on-another-agents-key.json")
    found = run_all(resources_from_plan(_with_key_outputs_instead_of_aliases(crafted_plan)), "dev")
    assert [(p, m) for p, _, m in found if "is not ada's key" in m], found
    bare = copy.deepcopy(own)
    bare["resources"] = [r for r in bare["resources"] if r["type"] != nuketown_policy.AWS_ALIAS]
    assert {m for _, _, m in run_all(resources_from_plan(bare), "dev") if "not ada's key" in m}


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:role/x"]},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    ],
    ids=["anyone", "wildcard-action", "grant", "not-principal"],
)
def test_a_key_policy_letting_anyone_else_decrypt_is_reported(statement: dict[str, Any]) -> None:
    """Other forms of the same mistake: any principal, an action covering decrypt, a grant, NotPrincipal."""
    plan = plan_of(STACKS["aws-irsa"])
    key_policy = next(
        r for r in plan["resources"] if r["type"] == nuketown_policy.AWS_KEY_POLICY and r["name"] == "ada"
    )
    document = json.loads(key_policy["inputs"]["policy"])
    document["Statement"].append(statement)
    key_policy["inputs"]["policy"] = json.dumps(document)
    found = [m for p, _, m in run_all(resources_from_plan(plan), "dev") if p == "nuketown-identity-binding"]
    assert [m for m in found if m.startswith("key policy lets ") and "decrypt ada's key" in m], found


def test_the_pack_requires_the_guard_on_every_kind_the_program_writes() -> None:
    """The pack runs in its own virtualenv without this package, so it keeps its own copy of the guarded
    kinds: it must be exactly the program's table, or a kind the program starts writing goes unchecked."""
    assert {(kind.group, kind.resource) for kind in WRITTEN_KINDS} == nuketown_policy.GUARDED_RESOURCES
