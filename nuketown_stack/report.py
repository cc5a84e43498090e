"""Human views of what the program declared: each agent's identity chain, and the resource tree.

Built from the declared resources and stack outputs (the JSON of `plan
--json`), so what it shows is what `pulumi up` would create, not a second
reading of the spec. Pure: no pulumi import.
"""

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from nuketown_stack.declared import UNKNOWN_TEXT, Resource, owning_agents, resource_key
from nuketown_stack.plan import AKS_CLIENT_ANNOTATION, EKS_ROLE_ANNOTATION

Tree = tuple[str, list["Tree"]]  # a label and its children
Owned = Mapping[str, list[Resource]]  # one agent's resources by type


def identity_chains(resources: Sequence[Resource], outputs: Mapping[str, Any]) -> str:
    """Per agent: Unix user, Kubernetes ServiceAccount, cloud identity and its scoped grants, as a tree."""
    owners = owning_agents(resources)
    by_agent: dict[str, dict[str, list[Resource]]] = {}
    for resource in resources:
        agent = owners[resource_key(resource)]
        if agent is not None:
            by_agent.setdefault(agent, {}).setdefault(resource["type"], []).append(resource)
    blocks = []
    for name, agent_outputs in sorted(outputs.get("agents", {}).items()):
        blocks.append(_render(_agent_tree(name, agent_outputs, by_agent.get(name, {}))))
    return "\n\n".join(blocks)


def _agent_tree(name: str, outputs: Mapping[str, Any], owned: Owned) -> Tree:
    account = _inputs(owned, "kubernetes:core/v1:ServiceAccount")
    annotations = account.get("metadata", {}).get("annotations", {})
    ksa = f"Kubernetes ServiceAccount {outputs['namespace']}/{outputs['serviceAccount']}"
    return (f"agent {name} (Unix uid {outputs['uid']})", [(ksa, [_cloud_identity(outputs, owned, annotations)])])


def _cloud_identity(outputs: Mapping[str, Any], owned: Owned, annotations: Mapping[str, str]) -> Tree:
    if "gcpServiceAccount" in outputs:
        return _gcp_identity(outputs, owned)
    if "roleArn" in outputs:
        return _aws_identity(outputs, owned, annotations)
    if AKS_CLIENT_ANNOTATION in annotations:
        return (f"Azure workload identity, client id {annotations[AKS_CLIENT_ANNOTATION]} (no Azure resources)", [])
    return ("no cloud identity (nuketown:cloud none)", [])


def _gcp_identity(outputs: Mapping[str, Any], owned: Owned) -> Tree:
    account = _inputs(owned, "gcp:serviceaccount/account:Account")
    created = "" if account else ", existing"
    email = outputs["gcpServiceAccount"]
    if email == UNKNOWN_TEXT and account:  # a first preview: GCP assigns the email on creation
        email = f"{account['accountId']} in project {account['project']}, email {UNKNOWN_TEXT}"
    binding = _inputs(owned, "gcp:serviceaccount/iAMMember:IAMMember")
    grants: list[Tree] = []
    if binding:
        grants.append((f"impersonated only by {binding['member']} ({binding['role']})", []))
    for member in owned.get("gcp:projects/iAMMember:IAMMember", []):
        inputs = member["inputs"]
        condition = inputs.get("condition", {}).get("expression", "no condition")
        grants.append((f"storage: {inputs['role']} where {condition}", []))
    own = {f"serviceAccount:{outputs['gcpServiceAccount']}", UNKNOWN_TEXT}  # unknown: the account being created
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
    for policy in owned.get("aws:iam/rolePolicy:RolePolicy", []):
        document = policy["inputs"]["policy"]
        if document == UNKNOWN_TEXT:  # it names the agent's key, whose ARN AWS assigns on creation
            grants.append((f"policy {policy['inputs']['name']}: its buckets and key, {UNKNOWN_TEXT}", []))
            continue
        for statement in json.loads(document).get("Statement", []):
            grants.append((_statement(statement), []))
    arn = outputs["roleArn"]
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
