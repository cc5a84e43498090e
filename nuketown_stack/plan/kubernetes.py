"""Kubernetes objects of one agent, as plain dicts (pure; no pulumi).

Each builder takes the agent's context (one props object: the agent, its namespace, the tiers and
where pods are placed) and returns the full manifest (apiVersion, kind, metadata, ...), so `render`
prints exactly what `declare` hands to pulumi-kubernetes.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tomli_w

from nuketown_stack.inputs.quantity import parse_quantity
from nuketown_stack.inputs.spec import AgentSpec, EgressRule, Persist, Tier, Toleration, cidr_within
from nuketown_stack.plan import naming
from nuketown_stack.plan.admission import AGENT_LABEL, STACK_LABEL

Manifest = dict[str, Any]

PART_OF = "nuketown"
MANAGED_BY = "pulumi"
APP_NAME = "nuketown-agent"
CONTAINER = "agent"
HOME_VOLUME = "home"
TMP_VOLUME = "tmp"
IDENTITY_VOLUME = "identity"
IDENTITY_FILE = "identity.toml"
DNS_PORT = 53


def common_labels(agent: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        AGENT_LABEL: agent,
    }


def owner_labels(environment: str, agent: str) -> dict[str, str]:
    """What an object's metadata says about whose it is: the admission guard reads these (plan/admission.py).
    The stack label holds the environment the names derive from (the stack's name unless set), so stacks
    sharing names share ownership. Pod templates keep common_labels alone, so adding the stack label
    restarted no agent."""
    return common_labels(agent) | {STACK_LABEL: environment}


def selector_labels(agent: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": agent}


@dataclass(frozen=True)
class Placement:
    """Where pods go: the tiers' node placement (scheduling tiers) and, for spot agents, the spot capacity."""

    by_tier: bool  # false: scheduling none, a plain cluster where placement is ignored
    spot_node_selector: Mapping[str, str]
    spot_tolerations: tuple[Toleration, ...]


@dataclass(frozen=True)
class AgentContext:
    """One agent and what its Kubernetes objects are built from: the props every builder takes."""

    environment: str  # what the stack's names derive from: the owner its objects are labelled with
    name: str  # the agent's name: its labels, its one-per-agent objects' names
    agent: AgentSpec
    namespace: str
    tiers: Mapping[str, Tier]
    placement: Placement
    storage_class: str | None

    @property
    def tier(self) -> Tier:
        return self.tiers[self.agent.resources]

    @property
    def ceiling(self) -> Tier:
        return self.tiers[self.agent.max_resources]

    def metadata(self, name: str, annotations: dict[str, str] | None = None) -> Manifest:
        labels = owner_labels(self.environment, self.name)
        meta: Manifest = {"name": name, "namespace": self.namespace, "labels": labels}
        if annotations:
            meta["annotations"] = annotations
        return meta


def namespace(ctx: AgentContext) -> Manifest:
    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ctx.namespace, "labels": owner_labels(ctx.environment, ctx.name) | restricted},
    }


def service_account(ctx: AgentContext, annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": ctx.metadata(naming.service_account(ctx.name), annotations),
        "automountServiceAccountToken": False,
    }


def identity_toml(ctx: AgentContext, domain: str, provider: str) -> str:
    """identity.toml as nuketown projects it, plus where the agent runs."""
    agent = ctx.agent
    document = {
        "name": ctx.name,
        "role": agent.role,
        "email": agent.git.email,
        "domain": domain,
        "home": agent.home,
        "uid": agent.uid,
        "description": agent.description,
        "cloud": {"provider": provider, "namespace": ctx.namespace},
    }
    return tomli_w.dumps(document)


def identity_config_map(ctx: AgentContext, toml: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(naming.identity_config_map(ctx.name)),
        "data": {IDENTITY_FILE: toml},
    }


# pulumi-kubernetes waits on a claim it creates until it is Pending (WaitForFirstConsumer classes) or
# Bound; adopting a kept claim, which is Bound, on such a class waits 5 minutes and fails, and the
# Deployment is then not created. The Deployment's own wait covers its claims being bound.
_NO_AWAIT = {"pulumi.com/skipAwait": "true"}


def persistent_volume_claim(ctx: AgentContext, persist: Persist) -> Manifest:
    spec: Manifest = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": persist.size}}}
    if ctx.storage_class is not None:
        spec["storageClassName"] = ctx.storage_class
    annotations = {"nuketown.io/persist-path": persist.path, **_NO_AWAIT}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": ctx.metadata(naming.pvc(ctx.name, persist.path), annotations),
        "spec": spec,
    }


def tier_resources(tier: Tier) -> dict[str, str]:
    return {"cpu": tier.cpu, "memory": tier.memory} | dict(sorted(tier.extended_resources.items()))


def resource_quota(ctx: AgentContext) -> Manifest:
    """Room for one pod at maxResources, nothing more, and no Services."""
    ceiling = ctx.ceiling
    hard = {
        "requests.cpu": ceiling.cpu,
        "limits.cpu": ceiling.cpu,
        "requests.memory": ceiling.memory,
        "limits.memory": ceiling.memory,
    }
    # Every extended resource any tier offers is capped, at 0 when the ceiling has none.
    extended = sorted({r for tier in ctx.tiers.values() for r in tier.extended_resources})
    hard |= {f"requests.{r}": ceiling.extended_resources.get(r, "0") for r in extended}
    # Claims are not counted: agents have no API token, so this stack alone creates claims in their
    # namespaces and the spec is their bound; and a claim kept from a removed persist directory stays in the
    # namespace, where a count would refuse every claim added after it (docs/lifecycle.md, persist).
    hard |= {
        "pods": "1",
        "services": "0",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": ctx.metadata(ctx.name),
        "spec": {"hard": hard},
    }


def limit_range(ctx: AgentContext) -> Manifest:
    """Caps any container at maxResources; containers that set nothing get the fleet's smallest tier.

    The defaults deliberately do not follow the agent's `resources` tier: the
    Deployment sets its own requests, so a tier change then touches only the
    Deployment, and an extra container that sets nothing cannot take the
    agent's whole quota.
    """
    ceiling = ctx.ceiling
    smallest = _smallest(ctx.tiers)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": ctx.metadata(ctx.name),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": smallest,
                    "defaultRequest": smallest,
                    "max": {"cpu": ceiling.cpu, "memory": ceiling.memory},
                }
            ]
        },
    }


@dataclass(frozen=True)
class EgressGuard:
    """What a cloud adds to every agent's egress, whatever the spec allows."""

    blocked: tuple[str, ...] = ()  # never reachable (node credentials)
    required: tuple[tuple[str, int], ...] = ()  # always reachable unless egress is all (credential endpoints)


NO_GUARD = EgressGuard()
# Where a cloud VM's instance metadata service answers: the node's own credentials live behind it.
NODE_METADATA = ("169.254.169.254/32", "fd00:ec2::254/128")
# No cloud identity, so nothing the pod needs lives behind a metadata address.
WITHOUT_CLOUD = EgressGuard(blocked=NODE_METADATA)


def _ip_block(cidr: str, excepted: tuple[str, ...], guard: EgressGuard) -> Manifest:
    blocked = [b for b in guard.blocked if b != cidr and cidr_within(b, cidr) and b not in excepted]
    block: Manifest = {"cidr": cidr}
    if excepted or blocked:
        block["except"] = [*excepted, *blocked]
    return {"ipBlock": block}


def _egress_rule(rule: EgressRule, guard: EgressGuard) -> Manifest:
    entry: Manifest = {"to": [_ip_block(rule.cidr, rule.except_, guard)]}
    if rule.ports:
        entry["ports"] = [{"protocol": "TCP", "port": port} for port in rule.ports]
    return entry


def _dns_rule() -> Manifest:
    """Cluster DNS, so a list of allowed networks can still be reached by name."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
    }


def egress_rules(agent: AgentSpec, guard: EgressGuard) -> list[Manifest]:
    egress = agent.network.egress
    # Where the pod's cloud credentials come from stays reachable however narrow its egress is.
    required = [
        {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
        for cidr, port in guard.required
    ]
    if egress == "none":
        return required
    if egress == "all":
        if not guard.blocked:
            return [{}]
        return [{"to": [_ip_block("0.0.0.0/0", (), guard), _ip_block("::/0", (), guard)]}]
    return [_egress_rule(rule, guard) for rule in egress] + [_dns_rule()] + required


def network_policy(ctx: AgentContext, guard: EgressGuard = NO_GUARD) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(ctx.name),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress_rules(ctx.agent, guard),
        },
    }


def _toleration(toleration: Toleration) -> Manifest:
    return toleration.model_dump(by_alias=True, exclude_none=True)


def _placement(ctx: AgentContext) -> Manifest:
    if not ctx.placement.by_tier:
        return {}
    tier = ctx.tier
    selector = dict(tier.node_selector)
    tolerations = list(tier.tolerations)
    if ctx.agent.spot:
        selector |= ctx.placement.spot_node_selector
        tolerations += ctx.placement.spot_tolerations
    placement: Manifest = {}
    if selector:
        placement["nodeSelector"] = dict(sorted(selector.items()))
    if tolerations:
        placement["tolerations"] = [_toleration(t) for t in tolerations]
    return placement


def _env(ctx: AgentContext) -> list[Manifest]:
    name, agent = ctx.name, ctx.agent
    fixed = {
        "HOME": agent.home,
        "USER": name,
        "NUKETOWN_AGENT": name,
        "NUKETOWN_ROLE": agent.role,
        "GIT_AUTHOR_NAME": agent.git.name,
        "GIT_AUTHOR_EMAIL": agent.git.email,
        "GIT_COMMITTER_NAME": agent.git.name,
        "GIT_COMMITTER_EMAIL": agent.git.email,
    }
    return [{"name": k, "value": v} for k, v in fixed.items()] + [
        {"name": k, "value": agent.env[k]} for k in sorted(agent.env)
    ]


def _volumes(ctx: AgentContext) -> tuple[list[Manifest], list[Manifest]]:
    """Pod volumes and the container's mounts: an ephemeral home and /tmp, identity, persist dirs."""
    name, agent = ctx.name, ctx.agent
    volumes: list[Manifest] = [
        {"name": HOME_VOLUME, "emptyDir": {}},
        {"name": TMP_VOLUME, "emptyDir": {}},
        {"name": IDENTITY_VOLUME, "configMap": {"name": naming.identity_config_map(name)}},
    ]
    mounts: list[Manifest] = [
        {"name": HOME_VOLUME, "mountPath": agent.home},
        {"name": TMP_VOLUME, "mountPath": "/tmp"},
        {
            "name": IDENTITY_VOLUME,
            "mountPath": f"{agent.home}/.config/nuketown/{IDENTITY_FILE}",
            "subPath": IDENTITY_FILE,
            "readOnly": True,
        },
    ]
    for entry in agent.persist:
        volume = naming.volume(entry.path)
        volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": naming.pvc(name, entry.path)}})
        mounts.append({"name": volume, "mountPath": f"{agent.home}/{entry.path.strip('/')}"})
    return volumes, mounts


def deployment(
    ctx: AgentContext,
    restart_on: dict[str, str],  # checksums of what the pod reads at start (identity.toml, credentials wiring)
    pod_labels: dict[str, str],
) -> Manifest:
    name, agent = ctx.name, ctx.agent
    volumes, mounts = _volumes(ctx)
    scaling = {"nuketown.io/resources": agent.resources, "nuketown.io/max-resources": agent.max_resources}
    if agent.scaling.idle_timeout is not None:
        scaling["nuketown.io/idle-timeout"] = str(agent.scaling.idle_timeout)
    if agent.spot:
        scaling["nuketown.io/spot"] = "true"
    resources = tier_resources(ctx.tier)
    container: Manifest = {
        "name": CONTAINER,
        "image": agent.image,
        **({"imagePullPolicy": policy} if (policy := image_pull_policy(agent)) else {}),
        "env": _env(ctx),
        "resources": {"requests": resources, "limits": dict(resources)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }
    pod_spec: Manifest = {
        "serviceAccountName": naming.service_account(name),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsUser": agent.uid,
            "runAsGroup": agent.uid,
            "fsGroup": agent.uid,
            "fsGroupChangePolicy": "OnRootMismatch",
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **_placement(ctx),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.metadata(name, scaling | {"nuketown.io/role": agent.role}),
        "spec": {
            # No `replicas`: one by Kubernetes' default, and KEDA's to set while the agent idles (0, and 1 when
            # woken). Server-side apply leaves a field it does not set to its other manager; were it set, an
            # update while KEDA holds it at 0 would conflict, and switching idling off could never apply.
            "revisionHistoryLimit": 3,
            # Volumes are ReadWriteOnce: the old pod must let go before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(name)},
            "template": {
                "metadata": {
                    "labels": selector_labels(name) | common_labels(name) | pod_labels,
                    # A changed identity.toml (a subPath mount) or credentials wiring only reaches the agent
                    # through a new pod.
                    "annotations": scaling | restart_on,
                },
                "spec": pod_spec,
            },
        },
    }


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# nix-snapshotter references name a store path: content-addressed, so never pulled again once present.
NIX_IMAGE_PREFIX = "nix:0/nix/store/"


def image_pull_policy(agent: AgentSpec) -> str | None:
    """The spec's policy; else IfNotPresent for a nix-snapshotter image; else Kubernetes' own default."""
    if agent.image_pull_policy is not None:
        return agent.image_pull_policy
    return "IfNotPresent" if agent.image.startswith(NIX_IMAGE_PREFIX) else None


def idles(agent: AgentSpec) -> bool:
    """An idle timeout acts only with something to wake the agent again (scaling.wake)."""
    return agent.scaling.idle_timeout is not None and bool(agent.scaling.wake)


def _smallest(tiers: Mapping[str, Tier]) -> dict[str, str]:
    """Per resource, the smallest amount any tier asks for."""
    return {
        dimension: min((getattr(tier, dimension) for tier in tiers.values()), key=parse_quantity)
        for dimension in ("cpu", "memory")
    }


def _tier_floor(ctx: AgentContext) -> dict[str, str]:
    """minAllowed: the minResources tier, or per resource the smallest any tier asks for."""
    if ctx.agent.scaling.min_resources is not None:
        tier = ctx.tiers[ctx.agent.scaling.min_resources]
        return {"cpu": tier.cpu, "memory": tier.memory}
    return _smallest(ctx.tiers)


def vertical_pod_autoscaler(ctx: AgentContext) -> Manifest:
    """Right-sizing inside the approved band: never above maxResources (the quota's size), GPUs left alone."""
    name, ceiling = ctx.name, ctx.ceiling
    mode = ctx.agent.scaling.right_sizing
    update_policy: Manifest = {"updateMode": mode}
    if mode in ("Recreate", "InPlaceOrRecreate"):
        # The updater evicts nothing from a workload of fewer than --min-replicas (2) pods unless told:
        # without this the chosen mode would silently behave like Initial for a one-pod agent.
        update_policy["minReplicas"] = 1
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": ctx.metadata(name),
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "updatePolicy": update_policy,
            "resourcePolicy": {
                "containerPolicies": [
                    {
                        "containerName": CONTAINER,
                        "controlledResources": ["cpu", "memory"],
                        # Limits follow requests at the Deployment's 1:1 ratio, so they stay under the quota too.
                        "controlledValues": "RequestsAndLimits",
                        "minAllowed": _tier_floor(ctx),
                        "maxAllowed": {"cpu": ceiling.cpu, "memory": ceiling.memory},
                    }
                ]
            },
        },
    }


def scaled_object(ctx: AgentContext) -> Manifest:
    """KEDA scales the agent to zero after idleTimeout seconds with no wake trigger active, back to one when one
    is, and back to its count from before idling when the ScaledObject goes."""
    name, agent = ctx.name, ctx.agent
    triggers = [
        {
            "type": trigger.type,
            **({"name": trigger.name} if trigger.name else {}),
            "metadata": dict(sorted(trigger.metadata.items())),
            **(
                {"authenticationRef": trigger.authentication_ref.model_dump(by_alias=True)}
                if trigger.authentication_ref
                else {}
            ),
        }
        for trigger in agent.scaling.wake
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": ctx.metadata(name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": 0,
            "maxReplicaCount": 1,
            "cooldownPeriod": agent.scaling.idle_timeout,
            # When idling is switched off (or the agent removed), KEDA lets go of the Deployment at its count from
            # before idling (1), not at 0: an idle agent switched to always-on runs again.
            "advanced": {"restoreToOriginalReplicaCount": True},
            "triggers": triggers,
        },
    }
