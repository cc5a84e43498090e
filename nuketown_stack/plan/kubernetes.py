"""Kubernetes objects of one agent, as plain dicts (pure; no pulumi).

Each builder returns the full manifest (apiVersion, kind, metadata, ...), so
`render` prints exactly what `declare` hands to pulumi-kubernetes.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import tomli_w

from nuketown_stack.inputs.quantity import parse_quantity
from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import Agent, CloudSpec, EgressRule, Tier, Toleration, cidr_within
from nuketown_stack.plan import naming

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
        "nuketown.io/agent": agent,
    }


def selector_labels(agent: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": agent}


def _metadata(name: str, namespace: str, agent: str, annotations: dict[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": name, "namespace": namespace, "labels": common_labels(agent)}
    if annotations:
        meta["annotations"] = annotations
    return meta


def namespace(name: str, agent: str) -> Manifest:
    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": common_labels(agent) | restricted},
    }


def service_account(ns: str, agent: str, annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(naming.service_account(agent), ns, agent, annotations),
        "automountServiceAccountToken": False,
    }


def identity_toml(spec: CloudSpec, name: str, agent: Agent, provider: str, ns: str) -> str:
    """identity.toml as nuketown projects it, plus where the agent runs."""
    document = {
        "name": name,
        "role": agent.role,
        "email": agent.git.email,
        "domain": spec.domain,
        "home": agent.home,
        "uid": agent.uid,
        "description": agent.description,
        "cloud": {"provider": provider, "namespace": ns},
    }
    return tomli_w.dumps(document)


def identity_config_map(ns: str, agent: str, toml: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(naming.identity_config_map(agent), ns, agent),
        "data": {IDENTITY_FILE: toml},
    }


# pulumi-kubernetes waits on a claim it creates until it is Pending (WaitForFirstConsumer classes) or
# Bound; adopting a kept claim, which is Bound, on such a class waits 5 minutes and fails, and the
# Deployment is then not created. The Deployment's own wait covers its claims being bound.
_NO_AWAIT = {"pulumi.com/skipAwait": "true"}


def persistent_volume_claim(ns: str, agent: str, path: str, size: str, storage_class: str | None) -> Manifest:
    spec: Manifest = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(naming.pvc(agent, path), ns, agent, {"nuketown.io/persist-path": path, **_NO_AWAIT}),
        "spec": spec,
    }


def tier_resources(tier: Tier) -> dict[str, str]:
    return {"cpu": tier.cpu, "memory": tier.memory} | dict(sorted(tier.extended_resources.items()))


def resource_quota(ns: str, name: str, spec: CloudSpec, agent: Agent) -> Manifest:
    """Room for one pod at maxResources, nothing more, and no Services."""
    ceiling = spec.tiers[agent.max_resources]
    hard = {
        "requests.cpu": ceiling.cpu,
        "limits.cpu": ceiling.cpu,
        "requests.memory": ceiling.memory,
        "limits.memory": ceiling.memory,
    }
    # Every extended resource any tier offers is capped, at 0 when the ceiling has none.
    extended = sorted({r for tier in spec.tiers.values() for r in tier.extended_resources})
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
        "metadata": _metadata(name, ns, name),
        "spec": {"hard": hard},
    }


def limit_range(ns: str, name: str, spec: CloudSpec, agent: Agent) -> Manifest:
    """Caps any container at maxResources; containers that set nothing get the fleet's smallest tier.

    The defaults deliberately do not follow the agent's `resources` tier: the
    Deployment sets its own requests, so a tier change then touches only the
    Deployment, and an extra container that sets nothing cannot take the
    agent's whole quota.
    """
    ceiling = spec.tiers[agent.max_resources]
    smallest = {
        dimension: min((getattr(tier, dimension) for tier in spec.tiers.values()), key=parse_quantity)
        for dimension in ("cpu", "memory")
    }
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(name, ns, name),
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


def egress_rules(agent: Agent, guard: EgressGuard) -> list[Manifest]:
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


def network_policy(ns: str, name: str, agent: Agent, guard: EgressGuard = NO_GUARD) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, ns, name),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress_rules(agent, guard),
        },
    }


def _toleration(toleration: Toleration) -> Manifest:
    return toleration.model_dump(by_alias=True, exclude_none=True)


def _placement(spec: CloudSpec, agent: Agent, settings: Settings) -> Manifest:
    if settings.scheduling == "none":
        return {}
    tier = spec.tiers[agent.resources]
    selector = dict(tier.node_selector)
    tolerations = list(tier.tolerations)
    if agent.spot:
        selector |= settings.spot_node_selector
        tolerations += settings.spot_tolerations
    placement: Manifest = {}
    if selector:
        placement["nodeSelector"] = dict(sorted(selector.items()))
    if tolerations:
        placement["tolerations"] = [_toleration(t) for t in tolerations]
    return placement


def _env(name: str, agent: Agent) -> list[Manifest]:
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


def _volumes(name: str, agent: Agent) -> tuple[list[Manifest], list[Manifest]]:
    """Pod volumes and the container's mounts: an ephemeral home and /tmp, identity, persist dirs."""
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
    ns: str,
    name: str,
    spec: CloudSpec,
    agent: Agent,
    settings: Settings,
    restart_on: dict[str, str],  # checksums of what the pod reads at start (identity.toml, credentials wiring)
    pod_labels: dict[str, str],
) -> Manifest:
    tier = spec.tiers[agent.resources]
    volumes, mounts = _volumes(name, agent)
    scaling = {"nuketown.io/resources": agent.resources, "nuketown.io/max-resources": agent.max_resources}
    if agent.scaling.idle_timeout is not None:
        scaling["nuketown.io/idle-timeout"] = str(agent.scaling.idle_timeout)
    if agent.spot:
        scaling["nuketown.io/spot"] = "true"
    resources = tier_resources(tier)
    container: Manifest = {
        "name": CONTAINER,
        "image": agent.image,
        **({"imagePullPolicy": policy} if (policy := image_pull_policy(agent)) else {}),
        "env": _env(name, agent),
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
        **_placement(spec, agent, settings),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, ns, name, scaling | {"nuketown.io/role": agent.role}),
        "spec": {
            # With an idle timeout KEDA owns the replica count (0 when idle, 1 when woken): left out here, so
            # `pulumi up` never scales an idle agent back up (server-side apply leaves a field it does not set).
            **({} if idles(agent) else {"replicas": 1}),
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


def image_pull_policy(agent: Agent) -> str | None:
    """The spec's policy; else IfNotPresent for a nix-snapshotter image; else Kubernetes' own default."""
    if agent.image_pull_policy is not None:
        return agent.image_pull_policy
    return "IfNotPresent" if agent.image.startswith(NIX_IMAGE_PREFIX) else None


def idles(agent: Agent) -> bool:
    """An idle timeout acts only with something to wake the agent again (scaling.wake)."""
    return agent.scaling.idle_timeout is not None and bool(agent.scaling.wake)


def _tier_floor(spec: CloudSpec, agent: Agent) -> dict[str, str]:
    """minAllowed: the minResources tier, or per resource the smallest any tier asks for."""
    if agent.scaling.min_resources is not None:
        tier = spec.tiers[agent.scaling.min_resources]
        return {"cpu": tier.cpu, "memory": tier.memory}
    return {
        dimension: min((getattr(tier, dimension) for tier in spec.tiers.values()), key=parse_quantity)
        for dimension in ("cpu", "memory")
    }


def vertical_pod_autoscaler(ns: str, name: str, spec: CloudSpec, agent: Agent) -> Manifest:
    """Right-sizing inside the approved band: never above maxResources (the quota's size), GPUs left alone."""
    ceiling = spec.tiers[agent.max_resources]
    mode = agent.scaling.right_sizing
    update_policy: Manifest = {"updateMode": mode}
    if mode in ("Recreate", "InPlaceOrRecreate"):
        # The updater evicts nothing from a workload of fewer than --min-replicas (2) pods unless told:
        # without this the chosen mode would silently behave like Initial for a one-pod agent.
        update_policy["minReplicas"] = 1
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": _metadata(name, ns, name),
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
                        "minAllowed": _tier_floor(spec, agent),
                        "maxAllowed": {"cpu": ceiling.cpu, "memory": ceiling.memory},
                    }
                ]
            },
        },
    }


def scaled_object(ns: str, name: str, agent: Agent) -> Manifest:
    """KEDA scales the agent to zero after idleTimeout seconds with no wake trigger active, and back to one."""
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
        "metadata": _metadata(name, ns, name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": 0,
            "maxReplicaCount": 1,
            "cooldownPeriod": agent.scaling.idle_timeout,
            "triggers": triggers,
        },
    }
