"""Human views of what the program declared: each agent's summary and identity chain, and the resource tree.

Built from the declared resources and stack outputs (the JSON of `plan
--json`), so what it shows is what `pulumi up` would create, not a second
reading of the spec. Pure: no pulumi import.
"""

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from nuketown_stack.clouds.aws.plan import EKS_ROLE_ANNOTATION
from nuketown_stack.clouds.aws.plan import IDENTITY_OUTPUT as AWS_IDENTITY
from nuketown_stack.clouds.gcp.plan import IDENTITY_OUTPUT as GCP_IDENTITY
from nuketown_stack.clouds.gcp.plan import account_member
from nuketown_stack.plan.egress import egress_in_words
from nuketown_stack.plan.stack import AKS_CLIENT_ANNOTATION
from nuketown_stack.program.declared import UNKNOWN_TEXT, Resource, owning_agents, resource_key

Tree = tuple[str, list["Tree"]]  # a label and its children
Owned = Mapping[str, list[Resource]]  # one agent's resources by type


def agent_summaries(resources: Sequence[Resource], outputs: Mapping[str, Any]) -> str:
    """Per agent: what it runs at and may grow to, how it is sized and idled, its volumes, where it may
    connect, then its identity chain (Unix user, Kubernetes ServiceAccount, cloud identity and grants)."""
    by_agent = _by_agent(resources)
    blocks = []
    for name, agent_outputs in sorted(outputs.get("agents", {}).items()):
        owned = by_agent.get(name, {})
        label, chain = _agent_tree(name, agent_outputs, owned)
        blocks.append(_render((label, [*_workload(owned), *chain])))
    if any(_node_labels(owned) for owned in by_agent.values()):
        blocks.append(
            "A pod stays Pending until some node has all the labels its agent needs (kubectl label node NODE "
            "KEY=VALUE; docs/clouds.md); on a cluster without tiers, set nuketown:scheduling none."
        )
    return "\n\n".join(blocks)


def _node_labels(owned: Owned) -> list[str]:
    pod = _inputs(owned, "kubernetes:apps/v1:Deployment").get("spec", {}).get("template", {}).get("spec", {})
    return [f"{key}={value}" for key, value in sorted((pod.get("nodeSelector") or {}).items())]


def _placement(deployment: Mapping[str, Any], owned: Owned) -> str:
    """The node labels the pod requires and the taints it tolerates (nothing with nuketown:scheduling none)."""
    labels = _node_labels(owned)
    if not labels:
        return ""
    tolerations = deployment["spec"]["template"]["spec"].get("tolerations") or []
    tolerated = sorted(
        f"{t.get('key', '*')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect') or 'any effect'}"
        for t in tolerations
    )
    return f"needs a node labelled {', '.join(labels)}" + (f"; tolerates {', '.join(tolerated)}" if tolerated else "")


def _by_agent(resources: Sequence[Resource]) -> dict[str, dict[str, list[Resource]]]:
    owners = owning_agents(resources)
    by_agent: dict[str, dict[str, list[Resource]]] = {}
    for resource in resources:
        agent = owners[resource_key(resource)]
        if agent is not None:
            by_agent.setdefault(agent, {}).setdefault(resource["type"], []).append(resource)
    return by_agent


def _agent_tree(name: str, outputs: Mapping[str, Any], owned: Owned) -> Tree:
    account = _inputs(owned, "kubernetes:core/v1:ServiceAccount")
    annotations = account.get("metadata", {}).get("annotations", {})
    ksa = f"Kubernetes ServiceAccount {outputs['namespace']}/{outputs['serviceAccount']}"
    return (f"agent {name} (Unix uid {outputs['uid']})", [(ksa, [_cloud_identity(outputs, owned, annotations)])])


def _workload(owned: Owned) -> list[Tree]:
    """Tier, ceiling, right-sizing, idling, volumes, egress and spot, from the declared objects."""
    deployment = _inputs(owned, "kubernetes:apps/v1:Deployment")
    if not deployment:
        return []  # an identity-only stack: another tool applies the workload
    annotations = deployment.get("metadata", {}).get("annotations", {})
    requests = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    hard = _inputs(owned, "kubernetes:core/v1:ResourceQuota").get("spec", {}).get("hard", {})
    lines = [
        f"runs at {annotations.get('nuketown.io/resources')}: {_amounts(requests)} "
        f"(ceiling {annotations.get('nuketown.io/max-resources')}: {hard.get('limits.cpu')} cpu, "
        f"{hard.get('limits.memory')})",
        _right_sizing(_inputs(owned, "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler")),
        _idling(_inputs(owned, "kubernetes:keda.sh/v1alpha1:ScaledObject"), annotations),
        _volumes(owned.get("kubernetes:core/v1:PersistentVolumeClaim", [])),
        "egress: "
        + egress_in_words(
            _inputs(owned, "kubernetes:networking.k8s.io/v1:NetworkPolicy").get("spec", {}).get("egress", [])
        ),
        _placement(deployment, owned),
    ]
    if annotations.get("nuketown.io/spot") == "true":
        placed = "nodeSelector" in deployment["spec"]["template"]["spec"]
        lines.append(
            "on spot capacity (the cloud may stop it at any time)"
            if placed
            else "asks for spot capacity, but nuketown:scheduling is none here: placement is ignored"
        )
    return [(line, []) for line in lines if line]


def _amounts(resources: Mapping[str, str]) -> str:
    extra = [f"{value} {name}" for name, value in resources.items() if name not in ("cpu", "memory")]
    return ", ".join([f"{resources.get('cpu')} cpu", str(resources.get("memory")), *extra])


def _right_sizing(vpa: Mapping[str, Any]) -> str:
    if not vpa:
        return "right-sizing: off"
    mode = vpa["spec"]["updatePolicy"]["updateMode"]
    [policy] = vpa["spec"]["resourcePolicy"]["containerPolicies"]
    low, high = policy["minAllowed"], policy["maxAllowed"]
    return f"right-sizing ({mode}): between {_amounts(low)} and {_amounts(high)} (VerticalPodAutoscaler)"


def _idling(scaled: Mapping[str, Any], annotations: Mapping[str, str]) -> str:
    if scaled:
        spec = scaled["spec"]
        wakes = ", ".join(f"{t['type']} {t.get('name', '')}".strip() for t in spec["triggers"])
        return f"idles after {spec['cooldownPeriod']} s with nothing to do (KEDA scales it to 0); woken by {wakes}"
    timeout = annotations.get("nuketown.io/idle-timeout")
    if timeout is not None:
        return f"idleTimeout {timeout} s is recorded only: nothing would wake it, so nothing idles it"
    return ""


def _volumes(claims: Sequence[Resource]) -> str:
    if not claims:
        return "volumes: none (its home starts empty on every restart)"
    entries = [
        f"{c['inputs']['metadata'].get('annotations', {}).get('nuketown.io/persist-path', c['name'])} "
        f"{c['inputs']['spec']['resources']['requests']['storage']}"
        for c in claims
    ]
    return "volumes: " + ", ".join(entries)


def _cloud_identity(outputs: Mapping[str, Any], owned: Owned, annotations: Mapping[str, str]) -> Tree:
    if GCP_IDENTITY in outputs:
        return _gcp_identity(outputs, owned)
    if AWS_IDENTITY in outputs:
        return _aws_identity(outputs, owned, annotations)
    if AKS_CLIENT_ANNOTATION in annotations:
        return (f"Azure workload identity, client id {annotations[AKS_CLIENT_ANNOTATION]} (no Azure resources)", [])
    return ("no cloud identity (nuketown:cloud none)", [])


def _gcp_identity(outputs: Mapping[str, Any], owned: Owned) -> Tree:
    account = _inputs(owned, "gcp:serviceaccount/account:Account")
    created = "" if account else ", existing"
    email = outputs[GCP_IDENTITY]
    if email == UNKNOWN_TEXT and account:  # a first preview: GCP assigns the email on creation
        email = f"{account['accountId']} in project {account['project']}, email {UNKNOWN_TEXT}"
    binding = _inputs(owned, "gcp:serviceaccount/iAMMember:IAMMember")
    grants: list[Tree] = []
    if binding:
        grants.append((f"impersonated only by {binding['member']} ({binding['role']})", []))
    buckets = [b["inputs"]["name"] for b in owned.get("gcp:storage/bucket:Bucket", [])]
    if buckets:
        roles = sorted({m["inputs"]["role"] for m in owned.get("gcp:storage/bucketIAMMember:BucketIAMMember", [])})
        grants.append((f"storage: {', '.join(roles)} on its buckets {', '.join(buckets)} only", []))
    for member in owned.get("gcp:projects/iAMMember:IAMMember", []):
        inputs = member["inputs"]
        condition = inputs.get("condition", {}).get("expression", "no condition")
        grants.append((f"storage: {inputs['role']} where {condition}", []))
    own = {account_member(outputs[GCP_IDENTITY]), UNKNOWN_TEXT}  # unknown: the account being created
    key = _inputs(owned, "gcp:kms/cryptoKey:CryptoKey")
    for member in owned.get("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", []):
        inputs = member["inputs"]
        whom = "" if inputs["member"] in own else f" for {inputs['member']}"  # encrypters from stack config
        target = inputs["cryptoKeyId"]
        if target == UNKNOWN_TEXT and key:
            target = f"key {key['name']} (id {UNKNOWN_TEXT})"
        grants.append((f"KMS: {inputs['role']}{whom} on {target}", []))
    return (f"GCP service account {email} (workload identity{created})", grants)


def _aws_identity(outputs: Mapping[str, Any], owned: Owned, annotations: Mapping[str, str]) -> Tree:
    if "aws:eks/podIdentityAssociation:PodIdentityAssociation" in owned:
        mode = "EKS Pod Identity"
    elif EKS_ROLE_ANNOTATION in annotations:
        mode = "IRSA"
    else:
        mode = "not bound"
    role = _inputs(owned, "aws:iam/role:Role")
    boundary = role.get("permissionsBoundary")
    if boundary == UNKNOWN_TEXT:
        boundary = _inputs(owned, "aws:iam/policy:Policy").get("name", boundary)
    details = f"{mode}, boundary {boundary}" if boundary else f"{mode}, existing role"
    grants: list[Tree] = []
    buckets = [b["inputs"]["bucket"] for b in owned.get("aws:s3/bucket:Bucket", [])]
    if buckets:
        grants.append((f"storage: its buckets {', '.join(buckets)} (S3, this account's regional namespace)", []))
    for policy in owned.get("aws:iam/rolePolicy:RolePolicy", []):
        document = policy["inputs"]["policy"]
        if document == UNKNOWN_TEXT:  # it names the agent's key, whose ARN AWS assigns on creation
            grants.append((f"policy {policy['inputs']['name']}: its buckets and key, {UNKNOWN_TEXT}", []))
            continue
        for statement in json.loads(document).get("Statement", []):
            grants.append((_statement(statement), []))
    arn = outputs[AWS_IDENTITY]
    if arn == UNKNOWN_TEXT and role:
        arn = f"{role['name']} (ARN {UNKNOWN_TEXT})"
    return (f"IAM role {arn} ({details})", grants)


def _statement(statement: Mapping[str, Any]) -> str:
    actions = statement.get("Action", [])
    targets = statement.get("Resource", [])
    actions = [actions] if isinstance(actions, str) else actions
    targets = [targets] if isinstance(targets, str) else targets
    return f"{statement.get('Sid', 'statement')}: {', '.join(actions)} on {', '.join(targets)}"


def _inputs(owned: Owned, typ: str) -> dict[str, Any]:
    found = owned.get(typ, [])
    return dict(found[0]["inputs"]) if found else {}


def _render(tree: Tree) -> str:
    label, children = tree
    lines = [label]

    def walk(nodes: list[Tree], indent: str) -> None:
        for index, (child, grandchildren) in enumerate(nodes):
            last = index == len(nodes) - 1
            lines.append(f"{indent}{'└─ ' if last else '├─ '}{child}")
            walk(grandchildren, indent + ("   " if last else "│  "))

    walk(children, "")
    return "\n".join(lines)


def resource_tree(project: str, stack: str, resources: Sequence[Resource]) -> str:
    """Resources as `pulumi preview` nests them, with protect and retain flags."""
    children: dict[str | None, list[Resource]] = {}
    for resource in resources:
        children.setdefault(resource["parent"], []).append(resource)

    def subtree(resource: Resource) -> Tree:
        flags = [f for f, on in (("protect", resource["protect"]), ("retain", resource["retainOnDelete"])) if on]
        suffix = f"  [{', '.join(flags)}]" if flags else ""
        reference = f"{resource['type']}::{resource['name']}"
        return (f"{resource['type']}  {resource['name']}{suffix}", [subtree(c) for c in children.get(reference, [])])

    return _render((f"pulumi:pulumi:Stack  {project}-{stack}", [subtree(r) for r in children.get(None, [])]))


def type_counts(resources: Sequence[Resource]) -> str:
    counts = Counter(r["type"] for r in resources)
    lines = [f"{count:5d}  {typ}" for typ, count in sorted(counts.items())]
    lines.append(f"{len(resources):5d}  resources")
    return "\n".join(lines)
