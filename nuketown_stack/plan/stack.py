"""(CloudSpec, Settings) -> StackPlan: every name, label, limit and manifest.

Pure and deterministic: no pulumi, no I/O. `render` prints the plan's objects;
`declare` turns the same objects into Pulumi resources.
"""

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nuketown_stack import clouds
from nuketown_stack.clouds import AgentIdentityPlan, StackIdentityPlan
from nuketown_stack.errors import raise_if_any
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import AgentSpec, CloudSpec, EgressRule, cidr_within
from nuketown_stack.plan import admission, naming
from nuketown_stack.plan import kubernetes as manifests
from nuketown_stack.plan.keeping import is_kept
from nuketown_stack.plan.kubernetes import EgressGuard
from nuketown_stack.plan.ownership import granted_prefix, ownership_problems

AKS_CLIENT_ANNOTATION = "azure.workload.identity/client-id"


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object and how Pulumi should hold it."""

    resource_name: str  # the Pulumi logical name, stable across refactors
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def type_token(self) -> str:
        group_version = str(self.manifest["apiVersion"])
        if "/" not in group_version:
            group_version = f"core/{group_version}"
        return f"kubernetes:{group_version}:{self.kind}"

    @property
    def retain_on_delete(self) -> bool:
        return is_kept(self.type_token)


@dataclass(frozen=True)
class AgentPlan:
    name: str
    namespace: str
    service_account: str
    uid: int
    objects: tuple[KubeObject, ...]  # namespace first, the Deployment last
    identity: AgentIdentityPlan | None = None  # its cloud identity, when the stack has a cloud

    def object(self, kind: str) -> KubeObject:
        return next(o for o in self.objects if o.kind == kind)

    def outputs(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "serviceAccount": self.service_account, "uid": self.uid}


@dataclass(frozen=True)
class StackPlan:
    stack: str
    cloud: str
    agents: tuple[AgentPlan, ...]  # sorted by name
    # Cluster-scoped objects of the stack itself (the ownership guard), in place before any namespace.
    ownership_guard: tuple[KubeObject, ...] = ()
    identity: StackIdentityPlan | None = None  # the stack's cloud identity plan (None: nuketown:cloud none)
    # What is valid but probably not what the user meant, one line each naming its option path.
    warnings: tuple[str, ...] = ()

    def objects(self) -> Iterator[KubeObject]:
        """Every Kubernetes object in render order: the stack's guard, namespaces, then agent by agent."""
        yield from self.ownership_guard
        for agent in self.agents:
            yield agent.object("Namespace")
        for agent in self.agents:
            yield from (o for o in agent.objects if o.kind != "Namespace")


def build_plan(spec: CloudSpec, settings: Settings, only: frozenset[str] | None = None) -> StackPlan:
    """The plan of every agent, or of the agents in `only` (a shard's); InputError when a derived name does
    not fit. Names, collisions and ownership are checked over the whole spec: shards of one environment
    share every namespace, cloud project and account, and no shard's plan sees another's."""
    raise_if_any(
        [
            problem
            for name, agent in spec.agents.items()
            for problem in naming.name_problems(settings.names, name, [p.path for p in agent.persist])
        ]
        + naming.prefix_problems(settings.names)
        + naming.collision_problems(settings.names, _persist_paths(spec))
        + ownership_problems(spec, settings)
    )
    cloud = clouds.stack_plan(settings)
    guard = cloud.guard() if cloud is not None else manifests.WITHOUT_CLOUD
    cloud_names = (
        [] if cloud is None else [p for n, a in spec.agents.items() for p in cloud.name_problems(settings, n, a)]
    )
    raise_if_any(_guard_problems(spec, guard) + cloud_names)
    whole = spec
    if only is not None:
        spec = spec.model_copy(update={"agents": {name: a for name, a in spec.agents.items() if name in only}})
    agents = tuple(_agent_plan(spec, settings, cloud, guard, name, spec.agents[name]) for name in sorted(spec.agents))
    return StackPlan(
        stack=settings.stack,
        cloud=settings.cloud,
        agents=agents,
        ownership_guard=_ownership_guard(settings.stack, settings.names.environment),
        identity=cloud,
        warnings=tuple(
            _fleet_warnings(spec, whole, settings)
            + _ignored_identity_warnings(spec, settings)
            + _unreachable_api_warnings(spec, settings)
            + _storage_warnings(spec, settings)
            + _scaling_warnings(spec)
        ),
    )


def _fleet_warnings(spec: CloudSpec, whole: CloudSpec, settings: Settings) -> list[str]:
    """`spec`: the agents this stack declares; `whole`: the environment's (more than `spec` on a shard)."""
    warnings = []
    if not whole.agents:
        warnings.append(
            "agents: none to run: only agents with enable = true and cloud.enable (nuketown.cloud.enable) "
            "are in the spec, and nuketown.enable must be true"
        )
    elif not spec.agents:
        warnings.append(f"nuketown:shards: no agent of the spec is placed in shard {settings.shard}")
    if settings.legacy_names:
        warnings.append(
            "nuketown:legacyNames: names join environment and agent with '-', so another legacy stack's agent can "
            "derive this stack's names (stack prod with agent eu-bob, stack prod-eu with bob); the ownership guard "
            "refuses such a takeover only at apply time. Move to the separated names: docs/lifecycle.md#legacy-names"
        )
    if settings.adopt_existing_objects and settings.apply_kubernetes:
        warnings.append(
            "nuketown:adoptExistingObjects: on: the stack takes over every Kubernetes object of its names that "
            "exists (Argo CD's too) instead of creating it; once `pulumi up` has taken them back, set it to false "
            "(docs/lifecycle.md#argo-cd-back)"
        )
    pool = settings.gcp_cluster_project or settings.gcp_project
    cluster_project = settings.gke_cluster.split("/")[1] if settings.gke_cluster else None
    if settings.cloud == "gcp" and cluster_project != pool:  # no cluster named, or one outside the pool's project
        warnings.append(
            f"nuketown:cloud: the workload identity pool {pool}.svc.id.goog trusts every cluster of project {pool}: "
            "any of them with these namespace and ServiceAccount names gets the agents' accounts; keep one "
            "cluster per identity project (docs/security.md)"
        )
    return warnings


def _ignored_identity_warnings(spec: CloudSpec, settings: Settings) -> list[str]:
    """A given identity of another cloud than the stack's binds nothing: say so, not silently drop it."""
    used = {"gcp": "gcpServiceAccount", "aws": "awsRoleArn"}.get(settings.cloud)
    return [
        f"agents.{name}.cloud.identity.{field}: ignored: nuketown:cloud is {settings.cloud}"
        for name, agent in sorted(spec.agents.items())
        for field, value in (
            ("gcpServiceAccount", agent.identity.gcp_service_account),
            ("awsRoleArn", agent.identity.aws_role_arn),
        )
        if value is not None and field != used
    ]


# What an agent's pod calls over HTTPS to use its cloud identity, by cloud (and AWS mode).
_IDENTITY_APIS = {
    "gcp": "Google APIs (KMS, storage): allow TCP 443 to 0.0.0.0/0, or to restricted.googleapis.com "
    "(199.36.153.4/30) or private.googleapis.com (199.36.153.8/30) with Private Google Access",
    "irsa": "AWS STS, so its IAM role can never be assumed (IRSA calls sts.<region>.amazonaws.com itself): "
    "allow TCP 443 to 0.0.0.0/0 or to your STS VPC endpoint",
    "podIdentity": "AWS APIs (KMS, S3): allow TCP 443 to 0.0.0.0/0 or to your VPC endpoints",
}
# Where a cloud's APIs can be reached besides the internet: Private Google Access' addresses on GCP; on either
# cloud, private endpoints (VPC interface endpoints, Private Service Connect) in the VPC's private ranges.
_API_ADDRESSES = {"gcp": ("199.36.153.4/30", "199.36.153.8/30"), "aws": ()}
_PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


def _unreachable_api_warnings(spec: CloudSpec, settings: Settings) -> list[str]:
    """Egress that lets the pod reach its credential endpoint but no cloud API: the identity is then unusable."""
    if settings.cloud == "none":
        return []
    apis = _IDENTITY_APIS[settings.aws_mode if settings.cloud == "aws" else "gcp"]
    warnings = []
    for name, agent in sorted(spec.agents.items()):
        https = _https_rules(agent.network.egress)
        if https is None:
            continue  # egress "all"
        if not https:
            warnings.append(f"agents.{name}.cloud.network.egress: allows no HTTPS, so {name} reaches no {apis}")
        elif not any(_may_hold_cloud_apis(rule, settings.cloud) for rule in https):
            cidrs = ", ".join(rule.cidr for rule in https)
            warnings.append(
                f"agents.{name}.cloud.network.egress: allows HTTPS only to {cidrs}, so {name} reaches no {apis}"
            )
    return warnings


def _storage_warnings(spec: CloudSpec, settings: Settings) -> list[str]:
    """A prefix grant reaches whatever else the project or account holds under that prefix; a scope that grants
    nothing should not read as if it did."""
    if settings.cloud == "none":
        return []
    where = f"project {settings.gcp_project}" if settings.cloud == "gcp" else "the AWS account"
    if settings.storage == "agentPrefix":
        return [
            f"nuketown:storage: agentPrefix: every agent also reaches every bucket of {where} named <agent>-*; that "
            "is its own only if nothing else lives there (no other stack, no platform bucket like <project>-state); "
            "the default, buckets, grants exactly the buckets the stack creates (cloud.buckets)"
        ]
    return [
        f"agents.{name}.cloud.identity.scope: {agent.identity.scope!r} grants nothing: this stack grants storage "
        "on the buckets it creates for the agent (cloud.buckets); a prefix only where the operator allow-lists it "
        "(nuketown:allowedScopes)"
        for name, agent in sorted(spec.agents.items())
        if agent.identity.scope != f"{name}-*" and granted_prefix(settings, name, agent) is None
    ]


def _scaling_warnings(spec: CloudSpec) -> list[str]:
    """Scaling options that are recorded but that nothing acts on, said rather than implied."""
    warnings = []
    for name, agent in sorted(spec.agents.items()):
        scaling = agent.scaling
        if scaling.idle_timeout is not None and not scaling.wake:
            warnings.append(
                f"agents.{name}.cloud.scaling.idleTimeout: recorded only: nothing would wake {name} again, so "
                "nothing idles it; set scaling.wake (a KEDA trigger: its inbox queue, a cron window)"
            )
        if scaling.wake and scaling.idle_timeout is None:
            warnings.append(
                f"agents.{name}.cloud.scaling.wake: unused while scaling.idleTimeout is null (nothing idles {name})"
            )
    return warnings


def _https_rules(egress: object) -> list[EgressRule] | None:
    """The rules that admit TCP 443 (None: egress "all", which admits everything)."""
    if egress == "all":
        return None
    if egress == "none" or not isinstance(egress, tuple):
        return []
    return [rule for rule in egress if not rule.ports or 443 in rule.ports]


def _may_hold_cloud_apis(rule: EgressRule, cloud: str) -> bool:
    """Whether the rule's network reaches the internet as a whole (a /0), one of the cloud's private API
    addresses, or a private network where its VPC endpoints may be; GitHub's addresses, say, hold none."""
    if ipaddress.ip_network(rule.cidr).prefixlen == 0:
        return True
    excepted = [ipaddress.ip_network(e) for e in rule.except_]
    network = ipaddress.ip_network(rule.cidr)
    candidates = [ipaddress.ip_network(a) for a in _API_ADDRESSES.get(cloud, ())]
    if any(_overlaps(network, a) and not any(_covers(e, a) for e in excepted) for a in candidates):
        return True
    return any(_overlaps(network, ipaddress.ip_network(p)) for p in _PRIVATE_NETWORKS)


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _overlaps(a: IpNetwork, b: IpNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)


def _covers(outer: IpNetwork, inner: IpNetwork) -> bool:
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _persist_paths(spec: CloudSpec) -> dict[str, list[str]]:
    return {name: [entry.path for entry in agent.persist] for name, agent in spec.agents.items()}


def _guard_problems(spec: CloudSpec, guard: EgressGuard) -> list[str]:
    """Egress the spec asks for that the cloud must keep closed."""
    return [
        f"agents.{name}.cloud.network.egress[{index}]: {rule.cidr!r} lies inside {blocked!r}, "
        "the instance metadata service that holds node credentials; it stays blocked on this cloud"
        for name, agent in spec.agents.items()
        if isinstance(agent.network.egress, tuple)
        for index, rule in enumerate(agent.network.egress)
        for blocked in guard.blocked
        if cidr_within(rule.cidr, blocked)
    ]


def _agent_plan(
    spec: CloudSpec,
    settings: Settings,
    cloud: StackIdentityPlan | None,
    guard: EgressGuard,
    name: str,
    agent: AgentSpec,
) -> AgentPlan:
    ns = settings.names.namespace(name)
    account = naming.service_account(name)
    ctx = manifests.AgentContext(
        environment=settings.names.environment,
        name=name,
        agent=agent,
        namespace=ns,
        tiers=spec.tiers,
        placement=manifests.Placement(
            by_tier=settings.scheduling == "tiers",
            spot_node_selector=settings.spot_node_selector,
            spot_tolerations=settings.spot_tolerations,
        ),
        storage_class=settings.storage_class,
    )
    identity = cloud.agent_plan(settings, name, agent, ns, account) if cloud is not None else None
    annotations = _service_account_annotations(agent)
    annotation = identity.annotation() if identity is not None else None
    if annotation is not None:
        annotations[annotation.key] = annotation.planned
    toml = manifests.identity_toml(ctx, spec.domain, settings.cloud)
    # A pod reads its credentials wiring once, at start: a change to it must roll the pod.
    credentials = {
        "cloud": settings.cloud,
        "awsMode": None,
        "role": None,
        **(identity.credentials() if identity is not None else {}),
        "serviceAccount": annotations,
        "pod": _pod_labels(agent),
    }
    objects = [
        manifests.namespace(ctx),
        manifests.service_account(ctx, annotations),
        manifests.identity_config_map(ctx, toml),
        manifests.resource_quota(ctx),
        manifests.limit_range(ctx),
        manifests.network_policy(ctx, guard),
        *(manifests.persistent_volume_claim(ctx, entry) for entry in agent.persist),
        *([manifests.vertical_pod_autoscaler(ctx)] if agent.scaling.right_sizing else []),
        *([manifests.scaled_object(ctx)] if manifests.idles(agent) else []),
        manifests.deployment(
            ctx,
            {
                "nuketown.io/identity-checksum": manifests.checksum(toml),
                "nuketown.io/credentials-checksum": manifests.checksum(json.dumps(credentials, sort_keys=True)),
            },
            _pod_labels(agent),
        ),
    ]
    return AgentPlan(
        name=name,
        namespace=ns,
        service_account=account,
        uid=agent.uid,
        objects=tuple(KubeObject(_resource_name(name, m), m) for m in objects),
        identity=identity,
    )


def _ownership_guard(stack: str, owner: str) -> tuple[KubeObject, ...]:
    policy, binding = admission.ownership_policy(stack, owner), admission.ownership_binding(stack, owner)
    return (KubeObject("ownership", policy), KubeObject("ownership", binding))


def _resource_name(agent: str, manifest: dict[str, Any]) -> str:
    """Logical name: the agent for one-per-agent kinds, the object's name otherwise."""
    if manifest["kind"] in ("PersistentVolumeClaim", "ConfigMap"):
        return str(manifest["metadata"]["name"])
    return agent


def _service_account_annotations(agent: AgentSpec) -> dict[str, str]:
    if agent.identity.azure_client_id is not None:
        return {AKS_CLIENT_ANNOTATION: agent.identity.azure_client_id}
    return {}


def _pod_labels(agent: AgentSpec) -> dict[str, str]:
    if agent.identity.azure_client_id is not None:
        return {"azure.workload.identity/use": "true"}
    return {}
