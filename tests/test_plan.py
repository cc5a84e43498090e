"""The plan: every Kubernetes object of an agent, decided in pure Python."""

import tomllib
from typing import Any

import pytest
from conftest import CLOUD_SETTINGS, FLEET_ALLOWED, make_plan

from nuketown_stack.errors import InputError
from nuketown_stack.plan.stack import AgentPlan, StackPlan
from nuketown_stack.views.render import to_yaml


def manifest(agent: AgentPlan, kind: str) -> dict[str, Any]:
    return agent.object(kind).manifest


def agent_of(stack_plan: StackPlan, name: str) -> AgentPlan:
    return next(a for a in stack_plan.agents if a.name == name)


def pod_spec(agent: AgentPlan) -> dict[str, Any]:
    return manifest(agent, "Deployment")["spec"]["template"]["spec"]


def test_the_pure_layers_import_no_pulumi() -> None:
    """Inputs, the plan (each cloud's plan included) and the views never import pulumi: the program alone does."""
    import subprocess
    import sys

    pure = [
        "nuketown_stack",
        "nuketown_stack.inputs.settings",
        "nuketown_stack.plan.stack",
        "nuketown_stack.clouds.gcp.plan",
        "nuketown_stack.clouds.aws.plan",
        "nuketown_stack.views.render",
        "nuketown_stack.views.diff",
        "nuketown_stack.views.report",
        "nuketown_stack.program.aliases",
        "nuketown_stack.program.declared",
        "nuketown_stack.cli",
        "nuketown_stack.collector",
        "nuketown_stack.program.sides",  # diff's parent process: only the runs it starts import pulumi
    ]
    code = f"import sys, {', '.join(pure)}; print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def _reversed(value: Any) -> Any:
    """The same JSON with every object's keys in reverse order (nix sorts them; a hand-written spec may not)."""
    if isinstance(value, dict):
        return {key: _reversed(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(item) for item in value]
    return value


@pytest.mark.parametrize("cloud", sorted(CLOUD_SETTINGS))
def test_render_does_not_depend_on_input_order(fleet_json: dict[str, Any], cloud: str) -> None:
    """Agents, volumes, env and every other map in any order give the same bytes, so a diff shows real changes only."""
    settings = {**CLOUD_SETTINGS[cloud], **FLEET_ALLOWED}
    shuffled = _reversed(fleet_json)
    assert list(shuffled["agents"]) == list(reversed(list(fleet_json["agents"])))  # the input really is reordered
    assert to_yaml(make_plan(shuffled, **settings).objects()) == to_yaml(make_plan(fleet_json, **settings).objects())


def test_objects_per_agent_in_order(example_json: dict[str, Any]) -> None:
    ada = agent_of(make_plan(example_json), "ada")
    assert [(o.kind, o.manifest["metadata"]["name"]) for o in ada.objects] == [
        ("Namespace", "nuketown-dev--ada"),
        ("ServiceAccount", "ada"),
        ("ConfigMap", "ada-identity"),
        ("ResourceQuota", "ada"),
        ("LimitRange", "ada"),
        ("NetworkPolicy", "ada"),
        ("PersistentVolumeClaim", "ada-projects"),
        ("PersistentVolumeClaim", "ada-config-claude"),
        ("ScaledObject", "ada"),  # the example idles every agent after its idleTimeout
        ("Deployment", "ada"),
    ]
    assert all(o.manifest["metadata"]["namespace"] == "nuketown-dev--ada" for o in ada.objects[1:])


def test_render_order_puts_the_guard_then_namespaces_first(example_json: dict[str, Any]) -> None:
    """`kubectl apply -f` and Argo CD apply in file order: the ownership guard must be in force before any
    namespace is written, and namespaces exist before what goes in them."""
    kinds = [o.kind for o in make_plan(example_json).objects()]
    assert kinds[:4] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Namespace", "Namespace"]
    assert "Namespace" not in kinds[4:]


def test_namespace_labels_and_pod_security(example_json: dict[str, Any]) -> None:
    labels = manifest(agent_of(make_plan(example_json), "ada"), "Namespace")["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/part-of": "nuketown",
        "app.kubernetes.io/managed-by": "pulumi",
        "nuketown.io/agent": "ada",
        "nuketown.io/stack": "dev",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }


def test_namespace_prefix_setting(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(example_json, stack="prod", **{"nuketown:namespacePrefix": "agents--"})
    assert [a.namespace for a in stack_plan.agents] == ["agents--ada", "agents--vox"]
    legacy = {"nuketown:namespacePrefix": "agents-", "nuketown:legacyNames": True}
    assert [a.namespace for a in make_plan(example_json, stack="prod", **legacy).agents] == ["agents-ada", "agents-vox"]
    assert [a.namespace for a in make_plan(example_json, stack="prod").agents] == [
        "nuketown-prod--ada",
        "nuketown-prod--vox",
    ]


def test_only_namespaces_and_volumes_are_retained(example_json: dict[str, Any]) -> None:
    retained = {(o.kind, o.resource_name) for o in make_plan(example_json).objects() if o.retain_on_delete}
    assert retained == {
        ("Namespace", "ada"),
        ("Namespace", "vox"),
        ("PersistentVolumeClaim", "ada-projects"),
        ("PersistentVolumeClaim", "ada-config-claude"),
        ("PersistentVolumeClaim", "vox-projects"),
        ("PersistentVolumeClaim", "vox-datasets"),
    }


def test_service_account_has_no_token(example_json: dict[str, Any]) -> None:
    account = manifest(agent_of(make_plan(example_json), "ada"), "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert "annotations" not in account["metadata"]


def test_aks_client_id_annotates_account_and_labels_pod(example_raw: dict[str, Any]) -> None:
    example_raw["agents"]["ada"]["identity"]["azureClientId"] = "00000000-1111-2222-3333-444444444444"
    ada = agent_of(make_plan(example_raw), "ada")
    assert manifest(ada, "ServiceAccount")["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": "00000000-1111-2222-3333-444444444444"
    }
    labels = manifest(ada, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_identity_toml(example_json: dict[str, Any]) -> None:
    config_map = manifest(agent_of(make_plan(example_json), "ada"), "ConfigMap")
    identity = tomllib.loads(config_map["data"]["identity.toml"])
    assert identity == {
        "name": "ada",
        "role": "software",
        "email": "ada@nuketown.cloud",
        "domain": "nuketown.cloud",
        "home": "/agents/ada",
        "uid": 1100,
        "description": "Software collaborator. Thinks before acting.",
        "cloud": {"provider": "none", "namespace": "nuketown-dev--ada"},
    }


def test_deployment_runs_one_pod_recreated(example_raw: dict[str, Any]) -> None:
    example_raw["agents"]["ada"]["scaling"]["idleTimeout"] = None  # no KEDA: one replica, Kubernetes' default
    spec = manifest(agent_of(make_plan(example_raw), "ada"), "Deployment")["spec"]
    assert "replicas" not in spec  # never claimed: KEDA may hold it (tests/engine/test_engine_await.py)
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_pod_security_context(example_json: dict[str, Any]) -> None:
    pod = pod_spec(agent_of(make_plan(example_json), "ada"))
    assert pod["securityContext"] == {
        "runAsUser": 1100,
        "runAsGroup": 1100,
        "fsGroup": 1100,
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "ada"
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_home_and_tmp_are_ephemeral_and_persist_dirs_are_claims(example_json: dict[str, Any]) -> None:
    pod = pod_spec(agent_of(make_plan(example_json), "ada"))
    volumes = {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in pod["volumes"]}
    assert volumes == {
        "home": {"emptyDir": {}},
        "tmp": {"emptyDir": {}},
        "identity": {"configMap": {"name": "ada-identity"}},
        "persist-projects": {"persistentVolumeClaim": {"claimName": "ada-projects"}},
        "persist-config-claude": {"persistentVolumeClaim": {"claimName": "ada-config-claude"}},
    }
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {
        "/agents/ada": "home",
        "/tmp": "tmp",
        "/agents/ada/.config/nuketown/identity.toml": "identity",
        "/agents/ada/projects": "persist-projects",
        "/agents/ada/.config/claude": "persist-config-claude",
    }


def test_identity_change_rolls_the_pod(example_raw: dict[str, Any]) -> None:
    def checksum(raw: dict[str, Any]) -> str:
        template = manifest(agent_of(make_plan(raw), "ada"), "Deployment")["spec"]["template"]
        return str(template["metadata"]["annotations"]["nuketown.io/identity-checksum"])

    before = checksum(example_raw)
    example_raw["agents"]["ada"]["role"] = "reviewer"
    assert checksum(example_raw) != before


def test_tier_requests_and_limits(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(example_json)
    ada = pod_spec(agent_of(stack_plan, "ada"))["containers"][0]["resources"]
    assert ada == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    vox = pod_spec(agent_of(stack_plan, "vox"))["containers"][0]["resources"]
    assert vox == {
        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    }


def test_tier_placement_and_spot(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(example_json)
    assert pod_spec(agent_of(stack_plan, "ada"))["nodeSelector"] == {"nuketown.io/tier": "standard"}
    assert "tolerations" not in pod_spec(agent_of(stack_plan, "ada"))
    vox = pod_spec(agent_of(stack_plan, "vox"))
    assert vox["nodeSelector"] == {"cloud.google.com/gke-spot": "true", "nuketown.io/tier": "gpu"}
    assert vox["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    ]


def test_custom_spot_placement(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(
        example_json,
        **{
            "nuketown:spotNodeSelector": '{"eks.amazonaws.com/capacityType": "SPOT"}',
            "nuketown:spotTolerations": "[]",
        },
    )
    vox = pod_spec(agent_of(stack_plan, "vox"))
    assert vox["nodeSelector"] == {"eks.amazonaws.com/capacityType": "SPOT", "nuketown.io/tier": "gpu"}
    assert vox["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_scheduling_none_drops_all_placement_but_keeps_resources(example_json: dict[str, Any]) -> None:
    vox = pod_spec(agent_of(make_plan(example_json, **{"nuketown:scheduling": "none"}), "vox"))
    assert "nodeSelector" not in vox
    assert "tolerations" not in vox
    assert vox["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_scaling_annotations(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(example_json)
    annotations = manifest(agent_of(stack_plan, "ada"), "Deployment")["metadata"]["annotations"]
    assert annotations["nuketown.io/max-resources"] == "large"
    assert annotations["nuketown.io/idle-timeout"] == "3600"
    assert annotations["nuketown.io/resources"] == "standard"


def test_idle_timeout_null_leaves_no_annotation(example_raw: dict[str, Any]) -> None:
    example_raw["agents"]["ada"]["scaling"]["idleTimeout"] = None
    annotations = manifest(agent_of(make_plan(example_raw), "ada"), "Deployment")["metadata"]["annotations"]
    assert "nuketown.io/idle-timeout" not in annotations


def test_env(example_raw: dict[str, Any]) -> None:
    example_raw["agents"]["ada"]["env"] = {"ZED": "last", "EDITOR": "nvim"}
    env = pod_spec(agent_of(make_plan(example_raw), "ada"))["containers"][0]["env"]
    assert env == [
        {"name": "HOME", "value": "/agents/ada"},
        {"name": "USER", "value": "ada"},
        {"name": "NUKETOWN_AGENT", "value": "ada"},
        {"name": "NUKETOWN_ROLE", "value": "software"},
        {"name": "GIT_AUTHOR_NAME", "value": "Ada"},
        {"name": "GIT_AUTHOR_EMAIL", "value": "ada@nuketown.cloud"},
        {"name": "GIT_COMMITTER_NAME", "value": "Ada"},
        {"name": "GIT_COMMITTER_EMAIL", "value": "ada@nuketown.cloud"},
        {"name": "EDITOR", "value": "nvim"},
        {"name": "ZED", "value": "last"},
    ]


def test_volume_claims(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(example_json, **{"nuketown:storageClass": "fast-ssd"})
    claim = manifest(agent_of(stack_plan, "ada"), "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "ada-projects"
    assert claim["metadata"]["annotations"] == {"nuketown.io/persist-path": "projects", "pulumi.com/skipAwait": "true"}
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "10Gi"}},
        "storageClassName": "fast-ssd",
    }
    default_class = manifest(agent_of(make_plan(example_json), "ada"), "PersistentVolumeClaim")
    assert "storageClassName" not in default_class["spec"]


def test_volume_names_do_not_depend_on_other_agents_or_order(example_raw: dict[str, Any]) -> None:
    """A refactor (reordering, adding or removing agents) must never rename a volume."""

    def claims(raw: dict[str, Any]) -> set[str]:
        return {
            o.manifest["metadata"]["name"]
            for o in agent_of(make_plan(raw), "ada").objects
            if o.kind == "PersistentVolumeClaim"
        }

    before = claims(example_raw)
    del example_raw["agents"]["vox"]
    example_raw["agents"]["ada"]["persist"].reverse()
    assert claims(example_raw) == before == {"ada-projects", "ada-config-claude"}


def test_resource_quota_is_sized_at_max_resources(example_json: dict[str, Any]) -> None:
    stack_plan = make_plan(example_json)
    assert manifest(agent_of(stack_plan, "ada"), "ResourceQuota")["spec"]["hard"] == {
        "requests.cpu": "4",
        "limits.cpu": "4",
        "requests.memory": "8Gi",
        "limits.memory": "8Gi",
        "requests.nvidia.com/gpu": "0",
        "pods": "1",
        "services": "0",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    vox = manifest(agent_of(stack_plan, "vox"), "ResourceQuota")["spec"]["hard"]
    assert vox["requests.nvidia.com/gpu"] == "1"
    assert vox["limits.memory"] == "16Gi"
    # Claims are not counted: only the stack creates them, and a kept one would block every later claim.
    assert "persistentvolumeclaims" not in vox and "requests.storage" not in vox


def test_limit_range_defaults_to_smallest_tier_capped_at_max(example_json: dict[str, Any]) -> None:
    limits = manifest(agent_of(make_plan(example_json), "ada"), "LimitRange")["spec"]["limits"]
    assert limits == [
        {
            "type": "Container",
            "default": {"cpu": "1", "memory": "2Gi"},
            "defaultRequest": {"cpu": "1", "memory": "2Gi"},
            "max": {"cpu": "4", "memory": "8Gi"},
        }
    ]


def test_resources_tier_change_touches_only_the_deployment(example_raw: dict[str, Any]) -> None:
    """Scaling up an agent rewrites its pod, nothing else (quota and limits follow maxResources)."""
    before = make_plan(example_raw)
    example_raw["agents"]["ada"]["resources"] = "large"
    after = make_plan(example_raw)
    pairs = zip(agent_of(before, "ada").objects, agent_of(after, "ada").objects, strict=True)
    changed = [new.kind for old, new in pairs if old.manifest != new.manifest]
    assert changed == ["Deployment"]


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        # No cloud identity, so node metadata (169.254.169.254, fd00:ec2::254) is never reachable.
        (
            "all",
            [
                {
                    "to": [
                        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                        {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}},
                    ]
                }
            ],
        ),
        ("none", []),
        (
            [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"], "ports": [443]}, {"cidr": "fd00::/8"}],
            [
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.169.254/32"]}}],
                    "ports": [{"protocol": "TCP", "port": 443}],
                },
                {"to": [{"ipBlock": {"cidr": "fd00::/8", "except": ["fd00:ec2::254/128"]}}]},
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
            ],
        ),
    ],
)
def test_network_policy(example_raw: dict[str, Any], egress: Any, expected: list[Any]) -> None:
    example_raw["agents"]["ada"]["network"]["egress"] = egress
    policy = manifest(agent_of(make_plan(example_raw), "ada"), "NetworkPolicy")["spec"]
    assert policy == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": expected}


def test_fleet_shapes(fleet_json: dict[str, Any]) -> None:
    stack_plan = make_plan(fleet_json)
    assert [a.name for a in stack_plan.agents] == [
        "a-very-long-agent-name-that-fills-a-namespace-abc",
        "ada",
        "rio",
        "vox",
    ]
    long_agent = stack_plan.agents[0]
    assert len(long_agent.namespace) == 63
    claims = [o.manifest["metadata"]["name"] for o in long_agent.objects if o.kind == "PersistentVolumeClaim"]
    assert claims == ["a-very-long-agent-name-that-fills-a-namespace-abc-work-in-progress-notes-2024"]
    ada_claims = [o.resource_name for o in agent_of(stack_plan, "ada").objects if o.kind == "PersistentVolumeClaim"]
    assert ada_claims == ["ada-projects", "ada-config-claude", "ada-local-share-nvim"]
    rio = agent_of(stack_plan, "rio")
    assert manifest(rio, "NetworkPolicy")["spec"]["egress"] == []
    assert [o for o in rio.objects if o.kind == "PersistentVolumeClaim"] == []  # rio persists nothing
    assert pod_spec(agent_of(stack_plan, "vox"))["containers"][0]["image"] == "registry.example/nuketown/vox:2026.11"


def test_names_too_long_for_the_stack_are_refused(fleet_json: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        make_plan(fleet_json, stack="prod")
    assert caught.value.problems == (
        "agents.a-very-long-agent-name-that-fills-a-namespace-abc: namespace "
        "'nuketown-prod--a-very-long-agent-name-that-fills-a-namespace-abc' is not a DNS-1123 label of at most 63 "
        "characters; shorten the agent name (at most 48 here) or nuketown:namespacePrefix",
    )


def test_type_tokens(example_json: dict[str, Any]) -> None:
    tokens = {o.kind: o.type_token for o in make_plan(example_json).objects()}
    assert tokens == {
        "Namespace": "kubernetes:core/v1:Namespace",
        "ServiceAccount": "kubernetes:core/v1:ServiceAccount",
        "ConfigMap": "kubernetes:core/v1:ConfigMap",
        "ResourceQuota": "kubernetes:core/v1:ResourceQuota",
        "LimitRange": "kubernetes:core/v1:LimitRange",
        "NetworkPolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "PersistentVolumeClaim": "kubernetes:core/v1:PersistentVolumeClaim",
        "VerticalPodAutoscaler": "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler",
        "ScaledObject": "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "Deployment": "kubernetes:apps/v1:Deployment",
        "ValidatingAdmissionPolicy": "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding": (
            "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
        ),
    }
    kept = {o.kind for o in make_plan(example_json).objects() if o.retain_on_delete}
    assert kept == {"Namespace", "PersistentVolumeClaim"}
