"""Writes the crafted plans beside this file: `python tests/data/policy/craft.py [CASE ...]` from the repository
root (every case, or the cases named: a case the program itself now refuses is kept as it was crafted).

Each plan is a small `nuketown-stack plan --json` document: some resources of a real plan (the program
run under the mock engine, as `plan --json` runs it), changed in one place so it carries one finding of
the security review (1, 2, 4, 5), one thing a rule of the policy pack refuses, or (finding "unknown",
from a first preview's plan, where what new resources assign is unknown) a value unknown at preview
that does not provably come from the agent's own identity or key. The changes are the code below, so a
reviewer reads what each plan differs in. A property a case changes is a literal afterwards: its
dependencies are dropped (main), unless the case set them. Keys besides `resources` and `outputs`,
which offline.py ignores except `stack`:

  stack     the stack's name (offline.py reads it when --stack is not given)
  about     what the plan shows
  finding   the review's finding number, or "rule"
  expect    {policy: [texts]}: exactly these policies fire, and their messages contain these texts
  config    the pack config the plan is checked with (its stack file's, as policy/pack_config.py writes it)
  preview   {"unknown": [[type, name, *path]], "expect": [policies]}: with the values at these input
            paths unknown (as at preview), each of these policies reports a value unknown at preview

The generated files are committed: the tests read them, not this script, so a later change to the
program does not silently change what the tests check.
"""

import copy
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from nuketown_stack.program.engine import run_program  # noqa: E402
from nuketown_stack.program.program import define_stack  # noqa: E402

HERE = Path(__file__).resolve().parent
EXAMPLE = ROOT / "examples" / "cloud-ada.nix"
OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
GCP = {"nuketown:cloud": "gcp", "gcp:project": "acme-agents"}
IRSA = {"nuketown:cloud": "aws", "aws:region": "us-east-1", "nuketown:awsOidcProviderArn": OIDC}
POD_IDENTITY = {
    "nuketown:cloud": "aws",
    "aws:region": "us-east-1",
    "nuketown:awsMode": "podIdentity",
    "nuketown:awsClusterName": "agents",
}
T = {
    "agent": "nuketown:index:Agent",
    "ns": "kubernetes:core/v1:Namespace",
    "sa": "kubernetes:core/v1:ServiceAccount",
    "cm": "kubernetes:core/v1:ConfigMap",
    "netpol": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "deploy": "kubernetes:apps/v1:Deployment",
    "account": "gcp:serviceaccount/account:Account",
    "wi": "gcp:serviceaccount/iAMMember:IAMMember",
    "ring": "gcp:kms/keyRing:KeyRing",
    "key": "gcp:kms/cryptoKey:CryptoKey",
    "awskey": "aws:kms/key:Key",
    "alias": "aws:kms/alias:Alias",
    "keypolicy": "aws:kms/keyPolicy:KeyPolicy",
    "keymember": "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "storage": "gcp:projects/iAMMember:IAMMember",
    "bucket": "gcp:storage/bucket:Bucket",
    "bucketgrant": "gcp:storage/bucketIAMMember:BucketIAMMember",
    "s3bucket": "aws:s3/bucket:Bucket",
    "role": "aws:iam/role:Role",
    "boundary": "aws:iam/policy:Policy",
    "rolepolicy": "aws:iam/rolePolicy:RolePolicy",
    "pia": "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "quota": "kubernetes:core/v1:ResourceQuota",
    "vpa": "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler",
    "scaled": "kubernetes:keda.sh/v1alpha1:ScaledObject",
    "pvc": "kubernetes:core/v1:PersistentVolumeClaim",
    "vap": "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
    "vapb": "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
}
# The kinds a stack adopts: a plan holding one holds the stack's ownership guard too (unless a case drops it).
ADOPTED = (T["ns"], T["pvc"])
_spec_cache: dict[str, Any] = {}


def example_spec() -> dict[str, Any]:
    if "example" not in _spec_cache:
        out = subprocess.run(
            ["nix-instantiate", "--eval", "--strict", "--json", str(EXAMPLE)],
            capture_output=True,
            text=True,
            check=True,
        )
        _spec_cache["example"] = json.loads(out.stdout)
    return copy.deepcopy(_spec_cache["example"])


# Most cases change a prefix grant (a storage condition, an S3 `<prefix>*`), which the program makes only where
# the operator declares the project or account the stack's alone: they run with that setting, and the pack is
# given it too, as pack_config.py would give it.
AGENT_PREFIX = {"nuketown:storage": "agentPrefix"}
AGENT_PREFIX_PACK = {"nuketown-scope-ownership": {"storage": "agentPrefix"}}


def plan(config: dict[str, Any], spec: dict[str, Any] | None = None, first_preview: bool = False) -> dict[str, Any]:
    """The program's `plan --json` for the example (or `spec`) in stack dev: after `pulumi up` (everything
    known), or as a first preview (what new resources assign unknown, as `nuketown-stack plan` prints it).
    Storage is agentPrefix unless `config` says otherwise."""
    config = {**AGENT_PREFIX, **config}
    with tempfile.TemporaryDirectory() as tmp:
        source = str(EXAMPLE)
        if spec is not None:
            source = str(Path(tmp) / "spec.json")
            Path(source).write_text(json.dumps(spec))
        known = frozenset() if first_preview else None
        return run_program(define_stack, "dev", {"nuketown:source": source, **config}, known=known).to_json()


def renamed_agent(name: str) -> dict[str, Any]:
    """The example with ada renamed `name` (its scope following), vox left out."""
    spec = example_spec()
    ada = spec["agents"].pop("ada")
    del spec["agents"]["vox"]
    ada["identity"]["scope"] = f"{name}-*"
    spec["agents"][name] = ada
    return spec


PICKED: dict[tuple[str, str], dict[str, Any]] = {}  # (type, name) -> the resource as the program declared it


def pick(full: dict[str, Any], *keys: tuple[str, str]) -> list[dict[str, Any]]:
    """Copies of the named resources, in plan order."""
    wanted = {(T[kind], name) for kind, name in keys}
    picked = [copy.deepcopy(r) for r in full["resources"] if (r["type"], r["name"]) in wanted]
    missing = wanted - {(r["type"], r["name"]) for r in picked}
    assert not missing, missing
    PICKED.update({(r["type"], r["name"]): copy.deepcopy(r) for r in picked})
    return picked


def literal_dependencies(resource: dict[str, Any]) -> None:
    """A property the case changed (and whose dependencies it left as the program's) is a literal now:
    it depends on nothing."""
    original = PICKED.get((resource["type"], resource["name"]))
    if original is None:
        return
    dependencies = resource.get("dependencies") or {}
    for key in list(dependencies):
        changed = resource["inputs"].get(key) != original["inputs"].get(key)
        if changed and dependencies[key] == (original.get("dependencies") or {}).get(key):
            del dependencies[key]


def agent_of(full: dict[str, Any], agent: str, *kinds: str) -> list[tuple[str, str]]:
    """Keys of the agent's component and its resources of these kinds (every kind when none given). A role
    policy or boundary comes with the buckets it names: without them it names buckets the plan lacks."""
    if {"rolepolicy", "boundary"} & set(kinds):
        kinds = (*kinds, "s3bucket")
    reverse = {v: k for k, v in T.items()}
    owned = [
        (reverse.get(r["type"], r["type"]), r["name"])
        for r in full["resources"]
        if r.get("parent") == f"{T['agent']}::{agent}" and (not kinds or reverse.get(r["type"]) in kinds)
    ]
    return [("agent", agent), *owned]


def get(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(r for r in resources if r["type"] == T.get(kind, kind) and r["name"] == name)


def inputs(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return get(resources, kind, name)["inputs"]


def edit_document(props: dict[str, Any], key: str, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(props[key])
    change(document)
    props[key] = json.dumps(document)


CASES: dict[str, dict[str, Any]] = {}


def case(
    name: str,
    finding: str,
    about: str,
    expect: dict[str, list[str]],
    preview: dict[str, Any] | None = None,
    guard: bool = True,
    config: dict[str, Any] | None = None,
):
    def register(build: Callable[[], list[dict[str, Any]]]) -> Callable[[], list[dict[str, Any]]]:
        CASES[name] = {
            "build": build,
            "guard": guard,
            "finding": finding,
            "about": about,
            "expect": expect,
            "preview": preview or {"unknown": [], "expect": []},
            "config": AGENT_PREFIX_PACK if config is None else config,
        }
        return build

    return register


def _unknown(kind: str, name: str, *path: str | int) -> list[Any]:
    return [T.get(kind, kind), name, *path]


# --- finding 1: an agent takes another agent's identity ----------------------------------------------------


@case(
    "finding1-gcp-binds-another-agents-account",
    "1",
    "ada's workload identity member is granted on vox's service account",
    {"nuketown-identity-binding": ["'nt-dev--vox@acme-agents.iam.gserviceaccount.com' is not ada's own identity"]},
    {"unknown": [_unknown("wi", "ada-workload-identity", "serviceAccountId")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "wi"), *agent_of(full, "vox", "account"))
    inputs(resources, "wi", "ada-workload-identity")["serviceAccountId"] = (
        "projects/acme-agents/serviceAccounts/nt-dev--vox@acme-agents.iam.gserviceaccount.com"
    )
    return resources


@case(
    "finding1-gcp-member-from-another-namespace",
    "1",
    "ada's account admits vox's Kubernetes ServiceAccount (nuketown-dev--vox/vox)",
    {"nuketown-identity-binding": ["nuketown-dev--vox", "is not ada's ServiceAccount 'ada'"]},
    {"unknown": [_unknown("wi", "ada-workload-identity", "member")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "wi"))
    inputs(resources, "wi", "ada-workload-identity")["member"] = (
        "serviceAccount:acme-agents.svc.id.goog[nuketown-dev--vox/vox]"
    )
    return resources


@case(
    "finding1-gcp-existing-account-not-allow-listed",
    "1",
    "rio binds an existing account the pack config does not allow-list (the stack settings did: the pack checks "
    "on its own)",
    {"nuketown-identity-binding": ["'rio-agent@fleet-project.iam.gserviceaccount.com' is not rio's own identity"]},
    {"unknown": [_unknown("wi", "rio-workload-identity", "serviceAccountId")], "expect": ["nuketown-identity-binding"]},
)
def _():
    spec = example_spec()
    rio = copy.deepcopy(spec["agents"]["vox"])
    rio["uid"] = 1102  # each agent its own uid
    rio["identity"] = {
        **rio["identity"],
        "scope": "rio-*",
        "gcpServiceAccount": "rio-agent@fleet-project.iam.gserviceaccount.com",
    }
    spec["agents"]["rio"] = rio
    allowed = {"nuketown:allowedIdentities": json.dumps({"rio": "rio-agent@fleet-project.iam.gserviceaccount.com"})}
    full = plan({**GCP, **allowed}, spec)
    return pick(full, *agent_of(full, "rio", "wi"))


@case(
    "finding1-gcp-annotation-names-another-account",
    "1",
    "ada's Kubernetes ServiceAccount is annotated with vox's GCP service account",
    {"nuketown-identity-binding": ["iam.gke.io/gcp-service-account 'nt-dev--vox@acme-agents.iam.gserviceaccount.com'"]},
    {
        "unknown": [_unknown("sa", "ada", "metadata", "annotations", "iam.gke.io/gcp-service-account")],
        "expect": ["nuketown-identity-binding"],
    },
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "ns", "sa", "netpol"), *agent_of(full, "vox", "account"))
    annotations = inputs(resources, "sa", "ada")["metadata"]["annotations"]
    annotations["iam.gke.io/gcp-service-account"] = "nt-dev--vox@acme-agents.iam.gserviceaccount.com"
    return resources


@case(
    "finding1-gcp-decrypter-for-another-account",
    "1",
    "ada's key is decryptable by vox's service account",
    {"nuketown-identity-binding": ["'serviceAccount:nt-dev--vox@acme-agents.iam.gserviceaccount.com' is not ada's"]},
    {"unknown": [_unknown("keymember", "ada-decrypter", "member")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(GCP)
    resources = pick(
        full,
        ("ring", "nuketown-dev"),
        *agent_of(full, "ada", "account", "key", "keymember"),
        *agent_of(full, "vox", "account"),
    )
    inputs(resources, "keymember", "ada-decrypter")["member"] = (
        "serviceAccount:nt-dev--vox@acme-agents.iam.gserviceaccount.com"
    )
    return resources


@case(
    "finding1-aws-pod-identity-to-another-role",
    "1",
    "ada's EKS Pod Identity association hands its pods vox's role",
    {"nuketown-identity-binding": ["roleArn 'arn:aws:iam::123456789012:role/nuketown-dev--vox' is not ada's own"]},
    {"unknown": [_unknown("pia", "ada", "roleArn")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(POD_IDENTITY)
    resources = pick(
        full, *agent_of(full, "ada", "role", "boundary", "pia"), *agent_of(full, "vox", "role", "boundary")
    )
    inputs(resources, "pia", "ada")["roleArn"] = "arn:aws:iam::123456789012:role/nuketown-dev--vox"
    return resources


@case(
    "finding1-aws-irsa-annotation-names-another-role",
    "1",
    "ada's ServiceAccount carries vox's role ARN for IRSA",
    {"nuketown-identity-binding": ["eks.amazonaws.com/role-arn 'arn:aws:iam::111122223333:role/nuketown-dev--vox'"]},
    {
        "unknown": [_unknown("sa", "ada", "metadata", "annotations", "eks.amazonaws.com/role-arn")],
        "expect": ["nuketown-identity-binding"],
    },
)
def _():
    full = plan(IRSA)
    resources = pick(
        full,
        *agent_of(full, "ada", "role", "boundary", "ns", "sa", "netpol"),
        *agent_of(full, "vox", "role", "boundary"),
    )
    annotations = inputs(resources, "sa", "ada")["metadata"]["annotations"]
    annotations["eks.amazonaws.com/role-arn"] = "arn:aws:iam::111122223333:role/nuketown-dev--vox"
    return resources


@case(
    "finding1-aws-trust-admits-another-service-account",
    "1",
    "ada's role trusts vox's ServiceAccount (IRSA subject system:serviceaccount:nuketown-dev--vox:vox)",
    {"nuketown-identity-binding": ["trusts nuketown-dev--vox/vox", "trusts ServiceAccount 'vox'"]},
    {"unknown": [_unknown("role", "ada", "assumeRolePolicy")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))
    role = inputs(resources, "role", "ada")
    role["assumeRolePolicy"] = role["assumeRolePolicy"].replace("nuketown-dev--ada:ada", "nuketown-dev--vox:vox")
    return resources


# --- finding 2: stray characters in a scope ----------------------------------------------------------------


@case(
    "finding2-gcp-condition-trailing-newline",
    "2",
    "ada's storage condition ends its prefix with a newline",
    {"nuketown-storage-condition": ["buckets/ada-\\n"]},
    {
        "unknown": [_unknown("storage", "ada-storage", "condition", "expression")],
        "expect": ["nuketown-storage-condition", "nuketown-unconditioned-storage-grant"],
    },
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "storage"))
    inputs(resources, "storage", "ada-storage")["condition"]["expression"] = (
        'resource.name.startsWith("projects/_/buckets/ada-\n")'
    )
    return resources


def _aws_role_policy(change: Callable[[dict[str, Any]], None], config: dict[str, Any] = IRSA) -> list[dict[str, Any]]:
    full = plan(config)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary", "rolepolicy"))
    edit_document(inputs(resources, "rolepolicy", "ada"), "policy", change)
    return resources


def _s3_resources(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            if isinstance(statement["Resource"], str):
                statement["Resource"] = statement["Resource"].replace(old, new)
            else:
                statement["Resource"] = [resource.replace(old, new) for resource in statement["Resource"]]

    return change


@case(
    "finding2-aws-s3-double-star",
    "2",
    "ada's identity policy reaches arn:aws:s3:::ad** (a scope that lost its end)",
    {"nuketown-policy-document": ["'arn:aws:s3:::ad**'"]},
    {"unknown": [_unknown("rolepolicy", "ada", "policy")], "expect": ["nuketown-policy-document"]},
)
def _():
    return _aws_role_policy(_s3_resources("arn:aws:s3:::ada-*", "arn:aws:s3:::ad**"))


@case(
    "finding2-aws-s3-whitespace",
    "2",
    "ada's identity policy reaches 'arn:aws:s3:::ada-\\n*' (a newline inside the scope)",
    {"nuketown-policy-document": ["contains whitespace", "is not an agent's buckets"]},
    {"unknown": [_unknown("rolepolicy", "ada", "policy")], "expect": ["nuketown-policy-document"]},
)
def _():
    return _aws_role_policy(_s3_resources("arn:aws:s3:::ada-*", "arn:aws:s3:::ada-\n*"))


# --- finding 4: scopes reaching beyond the agent -----------------------------------------------------------


def _gcp_condition(expression: str) -> list[dict[str, Any]]:
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "storage"))
    inputs(resources, "storage", "ada-storage")["condition"]["expression"] = expression
    return resources


@case(
    "finding4-gcp-condition-without-dash",
    "4",
    "ada's storage condition covers every bucket starting 'ada' (adax-data too): well-formed, but not ada's",
    {"nuketown-scope-ownership": ["reaches every bucket named ada*"]},
    {
        "unknown": [_unknown("storage", "ada-storage", "condition", "expression")],
        "expect": ["nuketown-storage-condition", "nuketown-scope-ownership"],
    },
)
def _():
    return _gcp_condition('resource.name.startsWith("projects/_/buckets/ada")')


@case(
    "finding4-gcp-condition-another-prefix",
    "4",
    "ada's storage condition covers p-*, which is not ada's",
    {"nuketown-scope-ownership": ["reaches every bucket named p-*"]},
    {
        "unknown": [_unknown("storage", "ada-storage", "condition", "expression")],
        "expect": ["nuketown-storage-condition", "nuketown-scope-ownership"],
    },
)
def _():
    return _gcp_condition('resource.name.startsWith("projects/_/buckets/p-")')


@case(
    "finding4-aws-s3-without-dash",
    "4",
    "ada's identity policy reaches arn:aws:s3:::ada* (adax-data too): well-formed, but not ada's",
    {"nuketown-scope-ownership": ["reaches every bucket named ada*"]},
    {
        "unknown": [_unknown("rolepolicy", "ada", "policy")],
        "expect": ["nuketown-policy-document", "nuketown-scope-ownership"],
    },
)
def _():
    return _aws_role_policy(_s3_resources("arn:aws:s3:::ada-*", "arn:aws:s3:::ada*"))


@case(
    "finding4-aws-s3-another-agents-buckets",
    "4",
    "ada's identity policy reaches vox's buckets",
    {"nuketown-scope-ownership": ["reaches every bucket named vox-*"]},
    {
        "unknown": [_unknown("rolepolicy", "ada", "policy")],
        "expect": ["nuketown-policy-document", "nuketown-scope-ownership"],
    },
)
def _():
    return _aws_role_policy(_s3_resources("arn:aws:s3:::ada-*", "arn:aws:s3:::vox-*"))


@case(
    "finding4-gcp-scopes-overlap",
    "4",
    "agents ada and ada-x each hold their own scope, but ada-* covers ada-x-* (vox's resources renamed ada-x)",
    {"nuketown-scope-ownership": ["scope ada-* of ada also covers ada-x's ada-x-*"]},
    {
        "unknown": [_unknown("storage", "ada-storage", "condition", "expression")],
        "expect": ["nuketown-storage-condition", "nuketown-scope-ownership"],
    },
)
def _():
    full = plan(GCP)
    ada = pick(full, *agent_of(full, "ada", "account", "storage"))
    # The program refuses two overlapping scopes (spec.py), so ada-x is vox renamed, consistently.
    vox = json.loads(json.dumps(pick(full, *agent_of(full, "vox", "account", "storage"))).replace("vox", "ada-x"))
    return ada + vox


# --- finding 6: storage grants beyond what the stack declares for the agent ---------------------------------

BUCKETS = {"nuketown:storage": "buckets"}  # the default: grants on the buckets the stack declares, nothing else


@case(
    "finding6-gcp-bucket-grant-on-another-agents-bucket",
    "6",
    "ada's bucket grant names vox's bucket: a bucket this stack declares, but not for ada",
    {"nuketown-scope-ownership": ["reaches bucket acme-agents--dev--vox--papers, which this stack does not declare"]},
    config={},
)
def _():
    full = plan({**GCP, **BUCKETS})
    resources = pick(full, *agent_of(full, "ada", "account", "bucket", "bucketgrant"))
    resources += pick(full, *agent_of(full, "vox", "bucket"))
    inputs(resources, "bucketgrant", "ada--artifacts--objects")["bucket"] = "acme-agents--dev--vox--papers"
    return resources


@case(
    "finding6-gcp-prefix-grant-in-a-shared-project",
    "6",
    "ada's grant covers every bucket named ada-*, in a project the stack never declared its own",
    {"nuketown-scope-ownership": ["reaches every bucket named ada-*"]},
    {
        "unknown": [_unknown("storage", "ada-storage", "condition", "expression")],
        "expect": ["nuketown-storage-condition", "nuketown-scope-ownership"],
    },
    config={},
)
def _():
    full = plan(GCP)  # made with storage agentPrefix; checked with the pack's default, buckets
    return pick(full, *agent_of(full, "ada", "account", "storage"))


@case(
    "finding6-aws-policy-names-another-agents-bucket",
    "6",
    "ada's identity policy names vox's bucket: a bucket this stack declares, but not for ada",
    {
        "nuketown-scope-ownership": [
            "reaches bucket nt-dev--vox--papers-111122223333-us-east-1-an, which this stack does not declare"
        ]
    },
    {
        "unknown": [_unknown("rolepolicy", "ada", "policy")],
        "expect": ["nuketown-policy-document", "nuketown-scope-ownership"],
    },
    config={},
)
def _():
    full = plan({**IRSA, **BUCKETS})
    resources = pick(full, *agent_of(full, "ada", "role", "boundary", "rolepolicy", "s3bucket"))
    resources += pick(full, *agent_of(full, "vox", "s3bucket"))
    edit_document(
        inputs(resources, "rolepolicy", "ada"),
        "policy",
        _s3_resources("nt-dev--ada--artifacts-", "nt-dev--vox--papers-"),
    )
    return resources


# --- finding 5: namespaces landing on foreign ones ---------------------------------------------------------


@case(
    "finding5-empty-prefix-agent-kube-system",
    "5",
    "nuketown:namespacePrefix '' and an agent named kube-system: the program derives namespace kube-system",
    {"nuketown-namespace-placement": ["'kube-system' is reserved", "does not carry the environment 'dev'"]},
    {
        "unknown": [_unknown("ns", "kube-system", "metadata", "name")],
        "expect": ["nuketown-namespace-placement", "nuketown-namespace-isolation"],
    },
)
def _():
    full = plan({"nuketown:namespacePrefix": ""}, renamed_agent("kube-system"))
    return pick(full, *agent_of(full, "kube-system", "ns", "sa", "netpol", "deploy"))


@case(
    "finding5-empty-prefix-agent-default",
    "5",
    "nuketown:namespacePrefix '' and an agent named default: the program derives namespace default",
    {"nuketown-namespace-placement": ["'default' is reserved"]},
    {"unknown": [_unknown("ns", "default", "metadata", "name")], "expect": ["nuketown-namespace-placement"]},
)
def _():
    full = plan({"nuketown:namespacePrefix": ""}, renamed_agent("default"))
    return pick(full, *agent_of(full, "default", "ns", "sa", "netpol"))


@case(
    "finding5-prefix-without-the-stack",
    "5",
    "nuketown:namespacePrefix agents-: stack dev and stack prod would both derive agents-ada",
    {"nuketown-namespace-placement": ["'agents-ada' does not carry the environment 'dev'"]},
    {"unknown": [_unknown("ns", "ada", "metadata", "name")], "expect": ["nuketown-namespace-placement"]},
)
def _():
    full = plan({"nuketown:namespacePrefix": "agents-"})
    return pick(full, *agent_of(full, "ada", "ns", "netpol"))


@case(
    "finding5-object-in-another-agents-namespace",
    "5",
    "ada's identity ConfigMap is declared in vox's namespace",
    {"nuketown-namespace-placement": ["namespace 'nuketown-dev--vox' is not ada's ('nuketown-dev--ada')"]},
    {"unknown": [_unknown("cm", "ada-identity", "metadata", "namespace")], "expect": ["nuketown-namespace-placement"]},
)
def _():
    full = plan({})
    resources = pick(full, *agent_of(full, "ada", "ns", "netpol", "cm"), *agent_of(full, "vox", "ns", "netpol"))
    inputs(resources, "cm", "ada-identity")["metadata"]["namespace"] = "nuketown-dev--vox"
    return resources


@case(
    "finding5-account-of-another-stack",
    "5",
    "stack dev declares ada's service account as nt-prod--ada, the name stack prod derives",
    {"nuketown-stack-name": ["accountId 'nt-prod--ada' is not 'nt-dev--ada'"]},
    {"unknown": [_unknown("account", "ada", "accountId")], "expect": ["nuketown-stack-name"]},
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account"))
    inputs(resources, "account", "ada")["accountId"] = "nt-prod--ada"
    return resources


# --- the other rules ---------------------------------------------------------------------------------------


@case(
    "rule-gcp-editor-on-the-project",
    "rule",
    "ada's project grant is roles/editor",
    {"nuketown-gcp-iam-role": ["role 'roles/editor' on the project is not allowed"]},
    {"unknown": [_unknown("storage", "ada-storage", "role")], "expect": ["nuketown-gcp-iam-role"]},
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "storage"))
    inputs(resources, "storage", "ada-storage")["role"] = "roles/editor"
    return resources


@case(
    "rule-gcp-token-creator-on-an-account",
    "rule",
    "ada's workload identity grant is roles/iam.serviceAccountTokenCreator",
    {"nuketown-gcp-iam-role": ["'roles/iam.serviceAccountTokenCreator' on a service account is not allowed"]},
    {"unknown": [_unknown("wi", "ada-workload-identity", "role")], "expect": ["nuketown-gcp-iam-role"]},
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "wi"))
    inputs(resources, "wi", "ada-workload-identity")["role"] = "roles/iam.serviceAccountTokenCreator"
    return resources


@case(
    "rule-gcp-condition-true",
    "rule",
    "ada's storage grant is conditioned on 'true' (every bucket)",
    {"nuketown-storage-condition": ["condition 'true'"]},
    {
        "unknown": [_unknown("storage", "ada-storage", "condition", "expression")],
        "expect": ["nuketown-storage-condition", "nuketown-scope-ownership"],
    },
)
def _():
    return _gcp_condition("true")


@case(
    "rule-gcp-authoritative-binding",
    "rule",
    "a project IAMBinding (authoritative: it removes every grant it does not list)",
    {
        "nuketown-resource-type": ["gcp:projects/iAMBinding:IAMBinding is not a type nuketown declares"],
        "nuketown-authoritative-gcp-iam": ["IAMBinding is authoritative"],
        "nuketown-gcp-iam-role": ["gcp:projects/iAMBinding:IAMBinding is not a grant nuketown makes"],
    },
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account"))
    binding = {
        "type": "gcp:projects/iAMBinding:IAMBinding",
        "name": "ada-viewer",
        "parent": "nuketown:index:Agent::ada",
        "inputs": {"project": "acme-agents", "role": "roles/viewer", "members": ["user:someone@acme.example"]},
        "protect": False,
        "retainOnDelete": False,
    }
    return [*resources, binding]


@case(
    "rule-aws-boundary-any-arn",
    "rule",
    "ada's role names AdministratorAccess as its permissions boundary",
    {"nuketown-permissions-boundary": ["'arn:aws:iam::aws:policy/AdministratorAccess' is not ada's boundary policy"]},
    {
        "unknown": [_unknown("role", "ada", "permissionsBoundary")],
        "expect": ["nuketown-permissions-boundary", "nuketown-role-boundary"],
    },
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))
    inputs(resources, "role", "ada")["permissionsBoundary"] = "arn:aws:iam::aws:policy/AdministratorAccess"
    return resources


@case(
    "rule-aws-role-without-boundary",
    "rule",
    "ada's role without a permissions boundary",
    {
        "nuketown-role-boundary": ["IAM role nuketown-dev--ada has no permissions boundary"],
        "nuketown-permissions-boundary": ["permissionsBoundary None is not ada's boundary policy"],
    },
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))
    del inputs(resources, "role", "ada")["permissionsBoundary"]
    return resources


@case(
    "rule-gcp-storage-grant-without-condition",
    "rule",
    "ada's storage grant on the project without its condition (every bucket in the project)",
    {"nuketown-unconditioned-storage-grant": ["roles/storage.objectUser granted to serviceAccount:nt-dev--ada@"]},
    {"unknown": [_unknown("storage", "ada-storage", "role")], "expect": ["nuketown-unconditioned-storage-grant"]},
)
def _():
    full = plan(GCP)
    resources = pick(full, *agent_of(full, "ada", "account", "storage"))
    del inputs(resources, "storage", "ada-storage")["condition"]
    return resources


@case(
    "rule-aws-boundary-without-denial",
    "rule",
    "ada's boundary policy lost its NoEscalation statement",
    {"nuketown-permissions-boundary": ["boundary policy does not deny iam:*, organizations:*, sts:AssumeRole"]},
    {
        "unknown": [_unknown("boundary", "ada-boundary", "policy")],
        "expect": ["nuketown-permissions-boundary", "nuketown-policy-document"],
    },
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))

    def drop_denial(document: dict[str, Any]) -> None:
        document["Statement"] = [s for s in document["Statement"] if s["Effect"] != "Deny"]

    edit_document(inputs(resources, "boundary", "ada-boundary"), "policy", drop_denial)
    return resources


@case(
    "rule-aws-trust-string-like",
    "rule",
    "ada's IRSA trust matches its subject with StringLike and a wildcard",
    {"nuketown-trust-document": ["condition operator StringLike is not allowed", "StringEquals must name exactly"]},
    {"unknown": [_unknown("role", "ada", "assumeRolePolicy")], "expect": ["nuketown-trust-document"]},
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))

    def like(document: dict[str, Any]) -> None:
        equals = document["Statement"][0]["Condition"]["StringEquals"]
        sub = next(k for k in equals if k.endswith(":sub"))
        document["Statement"][0]["Condition"]["StringLike"] = {sub: "system:serviceaccount:*"}
        del equals[sub]

    edit_document(inputs(resources, "role", "ada"), "assumeRolePolicy", like)
    return resources


@case(
    "rule-aws-pod-identity-trust-without-tags",
    "rule",
    "ada's Pod Identity trust lost its namespace and service-account tag conditions",
    {"nuketown-trust-document": ["no aws:RequestTag/kubernetes-namespace condition"]},
    {"unknown": [_unknown("role", "ada", "assumeRolePolicy")], "expect": ["nuketown-trust-document"]},
)
def _():
    full = plan(POD_IDENTITY)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))

    def untag(document: dict[str, Any]) -> None:
        equals = document["Statement"][0]["Condition"]["StringEquals"]
        for key in [k for k in equals if k.startswith("aws:RequestTag/kubernetes-")]:
            del equals[key]

    edit_document(inputs(resources, "role", "ada"), "assumeRolePolicy", untag)
    return resources


@case(
    "rule-aws-managed-policy-on-the-role",
    "rule",
    "ada's role has AdministratorAccess attached as a managed policy",
    {"nuketown-policy-document": ["managed policies ['arn:aws:iam::aws:policy/AdministratorAccess']"]},
    {"unknown": [_unknown("role", "ada", "managedPolicyArns")], "expect": ["nuketown-policy-document"]},
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))
    inputs(resources, "role", "ada")["managedPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    return resources


@case(
    "rule-aws-wildcard-action",
    "rule",
    "ada's identity policy allows s3:* on its buckets",
    {"nuketown-policy-document": ["action 's3:*' has a wildcard"]},
    {"unknown": [_unknown("rolepolicy", "ada", "policy")], "expect": ["nuketown-policy-document"]},
)
def _():
    def everything(document: dict[str, Any]) -> None:
        document["Statement"][0]["Action"] = "s3:*"

    return _aws_role_policy(everything)


@case(
    "rule-aws-role-policy-attachment",
    "rule",
    "a RolePolicyAttachment on ada's role (a type the pack does not know)",
    {"nuketown-resource-type": ["aws:iam/rolePolicyAttachment:RolePolicyAttachment is not a type nuketown declares"]},
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "role", "boundary"))
    attachment = {
        "type": "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "name": "ada-admin",
        "parent": "nuketown:index:Agent::ada",
        "inputs": {"role": "nuketown-dev--ada", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "protect": False,
        "retainOnDelete": False,
    }
    return [*resources, attachment]


# --- AWS keys: an agent's policies reach its own key only, and only its role decrypts it -----------------------


def _key_arn(full: dict[str, Any], agent: str) -> str:
    """The ARN of the agent's key, as its own role policy names it."""
    policy = json.loads(inputs(full["resources"], "rolepolicy", agent)["policy"])
    return next(s["Resource"] for s in policy["Statement"] if s["Sid"] == "DecryptOwnSecrets")


def _decrypt_on(kind: str, name: str) -> Callable[[], list[dict[str, Any]]]:
    def build() -> list[dict[str, Any]]:
        full = plan(IRSA)
        resources = pick(
            full,
            *agent_of(full, "ada", "awskey", "alias", "role", "boundary", "rolepolicy"),
            *agent_of(full, "vox", "awskey", "alias"),
        )

        def retarget(document: dict[str, Any]) -> None:
            for statement in document["Statement"]:
                if statement.get("Sid") == "DecryptOwnSecrets":
                    statement["Resource"] = _key_arn(full, "vox")

        edit_document(inputs(resources, kind, name), "policy", retarget)
        return resources

    return build


case(
    "rule-aws-role-policy-decrypts-another-agents-key",
    "rule",
    "ada's role policy lets ada decrypt vox's key (its ARN in place of ada's own)",
    {"nuketown-identity-binding": ["policy reaches KMS 'arn:aws:kms:us-east-1:111122223333:key/", "not ada's key"]},
    {"unknown": [_unknown("rolepolicy", "ada", "policy")], "expect": ["nuketown-identity-binding"]},
)(_decrypt_on("rolepolicy", "ada"))
case(
    "rule-aws-boundary-decrypts-another-agents-key",
    "rule",
    "ada's permissions boundary allows decrypting vox's key",
    {"nuketown-identity-binding": ["policy reaches KMS 'arn:aws:kms:us-east-1:111122223333:key/", "not ada's key"]},
    {"unknown": [_unknown("boundary", "ada-boundary", "policy")], "expect": ["nuketown-identity-binding"]},
)(_decrypt_on("boundary", "ada-boundary"))


@case(
    "rule-aws-key-policy-admits-another-agents-role",
    "rule",
    "vox's key policy lets ada's role decrypt vox's key",
    {
        "nuketown-identity-binding": [
            "key policy lets 'arn:aws:iam::111122223333:role/nuketown-dev--ada' decrypt vox's key; only vox's own role"
        ]
    },
    {"unknown": [_unknown("keypolicy", "vox", "policy")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "vox", "awskey", "alias", "keypolicy", "role", "boundary"))

    def admit_ada(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            if statement["Sid"] == "AgentDecrypts":
                statement["Principal"]["AWS"] = "arn:aws:iam::111122223333:role/nuketown-dev--ada"

    edit_document(inputs(resources, "keypolicy", "vox"), "policy", admit_ada)
    return resources


@case(
    "rule-aws-key-policy-on-another-agents-key",
    "rule",
    "ada's key policy, letting ada's role decrypt, is set on vox's key",
    {"nuketown-identity-binding": ["is not ada's key"]},
    {"unknown": [_unknown("keypolicy", "ada", "keyId")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(IRSA)
    resources = pick(
        full,
        *agent_of(full, "ada", "awskey", "alias", "keypolicy", "role", "boundary"),
        *agent_of(full, "vox", "awskey", "alias"),
    )
    inputs(resources, "keypolicy", "ada")["keyId"] = inputs(resources, "alias", "vox")["targetKeyId"]
    return resources


@case(
    "rule-aws-alias-targets-another-agents-key",
    "rule",
    "ada's key alias names vox's key: sops and the pack would take vox's key for ada's",
    {"nuketown-identity-binding": ["is also the target of vox's alias", "is also the target of ada's alias"]},
    {"unknown": [_unknown("alias", "ada", "targetKeyId")], "expect": ["nuketown-identity-binding"]},
)
def _():
    full = plan(IRSA)
    resources = pick(full, *agent_of(full, "ada", "alias"), *agent_of(full, "vox", "alias"))
    inputs(resources, "alias", "ada")["targetKeyId"] = inputs(resources, "alias", "vox")["targetKeyId"]
    return resources


def _network_policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": T["netpol"],
        "name": name,
        "parent": "nuketown:index:Agent::ada",
        "inputs": {"metadata": {"name": name, "namespace": "nuketown-dev--ada"}, "spec": spec},
        "protect": False,
        "retainOnDelete": False,
    }


@case(
    "rule-extra-allow-all-ingress-policy",
    "rule",
    "beside ada's deny-all NetworkPolicy, a second one admits ingress from everywhere",
    {"nuketown-namespace-isolation": ["NetworkPolicy ada-open in nuketown-dev--ada admits ingress"]},
    {"unknown": [_unknown("netpol", "ada-open", "spec", "ingress")], "expect": ["nuketown-namespace-isolation"]},
)
def _():
    full = plan({})
    resources = pick(full, *agent_of(full, "ada", "ns", "netpol"))
    return [*resources, _network_policy("ada-open", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})]


@case(
    "rule-namespace-without-network-policy",
    "rule",
    "ada's namespace without its NetworkPolicy",
    {"nuketown-namespace-isolation": ["agent namespace nuketown-dev--ada has no NetworkPolicy denying all ingress"]},
)
def _():
    full = plan({})
    return pick(full, *agent_of(full, "ada", "ns"))


@case(
    "rule-namespace-not-restricted",
    "rule",
    "ada's namespace enforces Pod Security 'privileged'",
    {"nuketown-namespace-placement": ["label pod-security.kubernetes.io/enforce is 'privileged'"]},
    {
        "unknown": [_unknown("ns", "ada", "metadata", "labels", "pod-security.kubernetes.io/enforce")],
        "expect": ["nuketown-namespace-placement"],
    },
)
def _():
    full = plan({})
    resources = pick(full, *agent_of(full, "ada", "ns", "netpol"))
    inputs(resources, "ns", "ada")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    return resources


@case(
    "rule-ownership-guard-missing",
    "rule",
    "ada's namespace and volume claims without the stack's ownership guard: a kept namespace of another "
    "stack with the same name would be adopted unchecked",
    {
        "nuketown-ownership-guard": [
            "no ValidatingAdmissionPolicy nuketown-dev-ownership",
            "no ValidatingAdmissionPolicyBinding of nuketown-dev-ownership",
        ]
    },
    guard=False,
)
def _():
    full = plan({})
    return pick(full, *agent_of(full, "ada", "ns", "netpol", "pvc"))


@case(
    "rule-ownership-guard-fails-open",
    "rule",
    "the ownership guard ignores its own errors, guards namespace updates only, is bound to warn; a claim lacks "
    "its stack",
    {
        "nuketown-ownership-guard": [
            "failurePolicy is 'Ignore'",
            "does not guard creates of configmaps, deployments, limitranges, namespaces, networkpolicies",
            "does not guard updates of configmaps, deployments, limitranges, networkpolicies, persistentvolumeclaims",
            "no ValidatingAdmissionPolicyBinding of nuketown-dev-ownership with validationActions Deny",
            "label nuketown.io/stack is None, not 'dev'",
        ]
    },
)
def _():
    full = plan({})
    resources = pick(full, ("vap", "ownership"), ("vapb", "ownership"), *agent_of(full, "ada", "ns", "netpol", "pvc"))
    policy = inputs(resources, "vap", "ownership")["spec"]
    policy["failurePolicy"] = "Ignore"
    policy["matchConstraints"]["resourceRules"] = [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["namespaces"]}
    ]
    inputs(resources, "vapb", "ownership")["spec"]["validationActions"] = ["Warn"]
    del inputs(resources, "pvc", "ada-projects")["metadata"]["labels"]["nuketown.io/stack"]
    return resources


def _workload(kind: str, type_token: str, template_path: tuple[str, ...], change: Callable[[dict[str, Any]], None]):
    """ada's Deployment's pod template, changed, inside a workload of another kind."""
    full = plan({})
    resources = pick(full, *agent_of(full, "ada", "ns", "netpol", "deploy"))
    deployment = get(resources, "deploy", "ada")
    template = copy.deepcopy(deployment["inputs"]["spec"]["template"])
    change(template)
    if kind == "Deployment":
        deployment["inputs"]["spec"]["template"] = template
        return resources
    resources.remove(deployment)
    workload: dict[str, Any] = {"metadata": copy.deepcopy(deployment["inputs"]["metadata"])}
    if kind == "Pod":
        workload.update(template)
        workload["metadata"] = {**workload["metadata"], "name": "ada", "namespace": "nuketown-dev--ada"}
    else:
        node = workload
        for key in template_path[:-1]:
            node = node.setdefault(key, {})
        node[template_path[-1]] = template
        if kind != "CronJob":
            workload["spec"]["selector"] = deployment["inputs"]["spec"]["selector"]
    return [*resources, {**deployment, "type": type_token, "inputs": workload}]


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(template: dict[str, Any]) -> None:
        node: Any = template
        for key in path[:-1]:
            node = node[key] if isinstance(key, int) else node.setdefault(key, {})
        node[path[-1]] = value

    return change


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(template: dict[str, Any]) -> None:
        for each in changes:
            each(template)

    return change


@case(
    "rule-pod-security-selinux-and-apparmor",
    "rule",
    "ada's Deployment sets SELinux type spc_t, an unconfined AppArmor annotation and profile",
    {
        "nuketown-workload-pod-security": [
            "pod seLinuxOptions.type 'spc_t' is not allowed",
            "container.apparmor.security.beta.kubernetes.io/agent='unconfined'",
            "container agent: appArmorProfile.type 'Unconfined' is not allowed",
        ]
    },
    {
        "unknown": [_unknown("deploy", "ada", "spec", "template", "spec", "securityContext", "seLinuxOptions")],
        "expect": ["nuketown-workload-pod-security"],
    },
)
def _():
    return _workload(
        "Deployment",
        T["deploy"],
        (),
        _both(
            _set(("spec", "securityContext", "seLinuxOptions"), {"type": "spc_t"}),
            _set(("metadata", "annotations", "container.apparmor.security.beta.kubernetes.io/agent"), "unconfined"),
            _set(("spec", "containers", 0, "securityContext", "appArmorProfile"), {"type": "Unconfined"}),
        ),
    )


@case(
    "rule-pod-security-privileged-statefulset",
    "rule",
    "a StatefulSet of ada's pod, privileged",
    {
        "nuketown-resource-type": ["kubernetes:apps/v1:StatefulSet is not a type nuketown declares"],
        "nuketown-workload-pod-security": ["StatefulSet ada: container agent: privileged must not be true"],
    },
    {
        "unknown": [_unknown("kubernetes:apps/v1:StatefulSet", "ada", "spec", "template", "spec", "containers")],
        "expect": ["nuketown-workload-pod-security"],
    },
)
def _():
    change = _set(("spec", "containers", 0, "securityContext", "privileged"), True)
    return _workload("StatefulSet", "kubernetes:apps/v1:StatefulSet", ("spec", "template"), change)


@case(
    "rule-pod-security-cronjob-host-path",
    "rule",
    "a CronJob of ada's pod mounting the node's root through hostPath",
    {
        "nuketown-resource-type": ["kubernetes:batch/v1:CronJob is not a type nuketown declares"],
        "nuketown-workload-pod-security": ["CronJob ada: volume host: type ['hostPath'] is not allowed"],
    },
    {
        "unknown": [
            _unknown("kubernetes:batch/v1:CronJob", "ada", "spec", "jobTemplate", "spec", "template", "spec", "volumes")
        ],
        "expect": ["nuketown-workload-pod-security"],
    },
)
def _():
    def host_path(template: dict[str, Any]) -> None:
        template["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})

    return _workload("CronJob", "kubernetes:batch/v1:CronJob", ("spec", "jobTemplate", "spec", "template"), host_path)


@case(
    "rule-pod-security-pod-host-access",
    "rule",
    "a bare Pod of ada's with a hostPort, an unsafe sysctl, an unmasked /proc and a Windows host process",
    {
        "nuketown-resource-type": ["kubernetes:core/v1:Pod is not a type nuketown declares"],
        "nuketown-workload-pod-security": [
            "sysctl 'kernel.msgmax' is not allowed",
            "hostPort must not be set",
            "procMount must be Default",
            "windowsOptions.hostProcess must not be true",
        ],
    },
    {
        "unknown": [_unknown("kubernetes:core/v1:Pod", "ada", "spec", "securityContext", "sysctls")],
        "expect": ["nuketown-workload-pod-security"],
    },
)
def _():
    return _workload(
        "Pod",
        "kubernetes:core/v1:Pod",
        (),
        _both(
            _set(("spec", "securityContext", "sysctls"), [{"name": "kernel.msgmax", "value": "65536"}]),
            _set(("spec", "containers", 0, "ports"), [{"containerPort": 8080, "hostPort": 8080}]),
            _set(("spec", "containers", 0, "securityContext", "procMount"), "Unmasked"),
            _set(("spec", "containers", 0, "securityContext", "windowsOptions"), {"hostProcess": True}),
        ),
    )


# --- unknown at preview, from anything but the agent's own identity or key ------------------------------------
# From a first preview's plan: what new resources assign (emails, ids, ARNs) is unknown, and each input names
# the resources it comes from (`dependencies`). The program's own are accepted; these are not.


def _depends(resources: list[dict[str, Any]], kind: str, name: str, key: str, *refs: str) -> None:
    dependencies = get(resources, kind, name).setdefault("dependencies", {})
    if refs:
        dependencies[key] = list(refs)
    else:
        dependencies.pop(key, None)


@case(
    "unknown-gcp-workload-identity-on-another-agents-account",
    "unknown",
    "at a first preview, ada's workload identity grant is on an account not created yet: vox's",
    {
        "nuketown-identity-binding": [
            "serviceAccountId is unknown at preview",
            "comes from gcp:serviceaccount/account:Account vox, which is vox's, not ada's",
        ]
    },
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "account", "wi"), *agent_of(full, "vox", "account"))
    _depends(resources, "wi", "ada-workload-identity", "serviceAccountId", f"{T['account']}::vox")
    return resources


@case(
    "unknown-gcp-annotation-from-another-agents-account",
    "unknown",
    "at a first preview, ada's ServiceAccount is annotated with the email of vox's account",
    {
        "nuketown-identity-binding": [
            "metadata.annotations.iam.gke.io/gcp-service-account is unknown at preview",
            "which is vox's, not ada's",
        ]
    },
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "account", "ns", "sa", "netpol"), *agent_of(full, "vox", "account"))
    _depends(resources, "sa", "ada", "metadata", f"{T['account']}::vox")
    return resources


@case(
    "unknown-gcp-annotation-from-the-agents-own-key",
    "unknown",
    "at a first preview, ada's GKE annotation comes from ada's own key, not its account",
    {"nuketown-identity-binding": ["iam.gke.io/gcp-service-account <unknown at preview: comes from gcp:kms/cryptoKey"]},
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(full, ("ring", "nuketown-dev"), *agent_of(full, "ada", "account", "key", "ns", "sa", "netpol"))
    _depends(resources, "sa", "ada", "metadata", f"{T['key']}::ada")
    return resources


@case(
    "unknown-gcp-decrypter-member-from-a-config-map",
    "unknown",
    "at a first preview, the member of ada's decrypter grant comes from a ConfigMap, not an identity",
    {
        "nuketown-identity-binding": [
            "member is unknown at preview",
            "comes from kubernetes:core/v1:ConfigMap ada-identity, which is not an identity or key resource",
        ]
    },
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(
        full, ("ring", "nuketown-dev"), *agent_of(full, "ada", "account", "key", "keymember", "ns", "netpol", "cm")
    )
    _depends(resources, "keymember", "ada-decrypter", "member", f"{T['cm']}::ada-identity")
    return resources


@case(
    "unknown-gcp-workload-identity-member-from-the-agents-own-account",
    "unknown",
    "at a first preview, ada's workload identity member (namespace and ServiceAccount) comes from ada's account: "
    "its own, but the member names who may act as it, which the account cannot vouch for",
    {"nuketown-identity-binding": ["member <unknown at preview: comes from gcp:serviceaccount/account:Account ada>"]},
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "account", "wi"))
    inputs(resources, "wi", "ada-workload-identity")["member"] = "(known after apply)"
    _depends(resources, "wi", "ada-workload-identity", "member", f"{T['account']}::ada")
    return resources


@case(
    "unknown-gcp-account-of-another-stack",
    "unknown",
    "at a first preview, ada's grant comes from its account, which is named as stack prod names it",
    {
        "nuketown-stack-name": ["accountId 'nt-prod--ada' is not 'nt-dev--ada'"],
        "nuketown-identity-binding": ["whose accountId 'nt-prod--ada' is not ada's account 'nt-dev--ada'"],
    },
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "account", "wi"))
    inputs(resources, "account", "ada")["accountId"] = "nt-prod--ada"
    return resources


@case(
    "unknown-gcp-key-in-another-stacks-ring",
    "unknown",
    "at a first preview, ada's key is in a ring not created yet that is named as stack prod names it",
    {
        "nuketown-stack-name": ["name 'nuketown-prod' is not 'nuketown-dev'", "keyRing is unknown at preview"],
        "nuketown-identity-binding": [
            "cryptoKeyId is unknown at preview",
            "whose name 'nuketown-prod' is not the stack's key ring 'nuketown-dev'",
        ],
    },
)
def _():
    full = plan(GCP, first_preview=True)
    resources = pick(full, ("ring", "nuketown-dev"), *agent_of(full, "ada", "account", "key", "keymember"))
    inputs(resources, "ring", "nuketown-dev")["name"] = "nuketown-prod"
    return resources


@case(
    "unknown-aws-boundary-from-an-undeclared-policy",
    "unknown",
    "at a first preview, ada's role's boundary comes from a policy this stack does not declare",
    {
        "nuketown-permissions-boundary": ["permissionsBoundary is unknown at preview"],
        "nuketown-unknown-origin": ["nuketown-role-boundary: permissionsBoundary is unknown at preview"],
    },
)
def _():
    full = plan(IRSA, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "awskey", "role", "boundary"))
    _depends(resources, "role", "ada", "permissionsBoundary", f"{T['boundary']}::ada-admin")
    return resources


@case(
    "unknown-aws-boundary-from-the-agents-key",
    "unknown",
    "at a first preview, ada's role's boundary comes from ada's own key, not its boundary policy",
    {
        "nuketown-permissions-boundary": [
            "permissionsBoundary <unknown at preview: comes from aws:kms/key:Key ada> is not ada's boundary policy"
        ]
    },
)
def _():
    full = plan(IRSA, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "awskey", "role", "boundary"))
    _depends(resources, "role", "ada", "permissionsBoundary", f"{T['awskey']}::ada")
    return resources


@case(
    "unknown-aws-pod-identity-role-without-dependencies",
    "unknown",
    "at a first preview, ada's Pod Identity association's role is unknown and comes from nothing the plan names",
    {"nuketown-identity-binding": ["roleArn is unknown at preview (known only after apply) and has no dependency"]},
)
def _():
    full = plan(POD_IDENTITY, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "awskey", "role", "boundary", "pia"))
    _depends(resources, "pia", "ada", "roleArn")
    return resources


@case(
    "unknown-aws-role-policy-from-another-agents-key",
    "unknown",
    "at a first preview, ada's identity policy is rendered around vox's key",
    {
        "nuketown-unknown-origin": [
            "nuketown-policy-document: policy is unknown at preview",
            "comes from aws:kms/key:Key vox, which is vox's, not ada's",
        ],
        "nuketown-scope-ownership": ["policy is unknown at preview"],
        "nuketown-identity-binding": ["policy is unknown at preview", "which is vox's, not ada's"],
    },
)
def _():
    full = plan(IRSA, first_preview=True)
    resources = pick(
        full, *agent_of(full, "ada", "awskey", "role", "boundary", "rolepolicy"), *agent_of(full, "vox", "awskey")
    )
    _depends(resources, "rolepolicy", "ada", "policy", f"{T['awskey']}::vox")
    return resources


@case(
    "unknown-aws-key-tagged-for-another-agent",
    "unknown",
    "at a first preview, ada's boundary and identity policy come from a key of ada's tagged for vox",
    {
        "nuketown-unknown-origin": [
            "nuketown-policy-document: policy is unknown at preview",
            "which is not tagged nuketown.io/agent=ada",
        ],
        "nuketown-scope-ownership": ["policy is unknown at preview"],
        "nuketown-permissions-boundary": ["policy is unknown at preview"],
        "nuketown-identity-binding": ["policy is unknown at preview", "which is not tagged nuketown.io/agent=ada"],
    },
)
def _():
    full = plan(IRSA, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "awskey", "role", "boundary", "rolepolicy"))
    inputs(resources, "awskey", "ada")["tags"]["nuketown.io/agent"] = "vox"
    return resources


@case(
    "unknown-aws-trust-from-the-agents-own-key",
    "unknown",
    "at a first preview, ada's role's trust policy comes from ada's own key: a trust policy is read whole, "
    "never passed unknown",
    {"nuketown-unknown-origin": ["nuketown-trust-document: assumeRolePolicy is <unknown at preview: comes from"]},
)
def _():
    full = plan(IRSA, first_preview=True)
    resources = pick(full, *agent_of(full, "ada", "awskey", "role", "boundary"))
    inputs(resources, "role", "ada")["assumeRolePolicy"] = "(known after apply)"
    _depends(resources, "role", "ada", "assumeRolePolicy", f"{T['awskey']}::ada")
    return resources


@case(
    "rule-vpa-above-the-ceiling",
    "rule",
    "vox's VerticalPodAutoscaler may size it past the quota (maxAllowed memory 64Gi, quota 16Gi) and its GPU",
    {
        "nuketown-autoscaler": [
            "maxAllowed memory '64Gi' is above the quota's '16Gi'",
            "must be cpu and memory only",
        ]
    },
)
def _():
    full = plan({})
    resources = pick(full, *agent_of(full, "vox", "ns", "netpol", "quota", "vpa"))
    [policy] = inputs(resources, "vpa", "vox")["spec"]["resourcePolicy"]["containerPolicies"]
    policy["maxAllowed"]["memory"] = "64Gi"
    policy["controlledResources"] = ["cpu", "memory", "nvidia.com/gpu"]
    return resources


@case(
    "rule-scaled-object-on-another-workload",
    "rule",
    "ada's ScaledObject scales a Deployment that is not ada's, up to 10 pods",
    {"nuketown-autoscaler": ["not its agent's Deployment 'ada'", "maxReplicaCount 10 exceeds the quota's pods"]},
)
def _():
    full = plan({})
    resources = pick(full, *agent_of(full, "ada", "ns", "netpol", "quota", "scaled"))
    spec = inputs(resources, "scaled", "ada")["spec"]
    spec["scaleTargetRef"]["name"] = "payroll"
    spec["maxReplicaCount"] = 10
    return resources


def with_guard(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stack's ownership guard (as the program declares it) first, when the plan holds what it guards."""
    present = {r["type"] for r in resources}
    if not present & set(ADOPTED) or T["vap"] in present:
        return resources
    full = plan({})
    return [copy.deepcopy(r) for r in full["resources"] if r["type"] in (T["vap"], T["vapb"])] + resources


def with_key_aliases(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each agent's key alias (as the program declares it), when the plan holds a policy of the agent naming its
    key: the alias is how the pack knows which key is the agent's. Left out at a first preview, where those
    policies are unknown and derived from the key itself."""
    aliased = {r["parent"] for r in resources if r["type"] == T["alias"]}
    naming_keys = {
        r["parent"]
        for r in resources
        if r["type"] in (T["boundary"], T["rolepolicy"], T["keypolicy"])
        and "(known after apply)" not in str(r["inputs"].get("policy"))
        and r["parent"] not in aliased
    }
    if not naming_keys:
        return resources
    full = plan(IRSA)
    return resources + [
        copy.deepcopy(r) for r in full["resources"] if r["type"] == T["alias"] and r["parent"] in naming_keys
    ]


def main(only: list[str]) -> None:
    """Writes every case (removing plans no case makes any more), or only the cases named."""
    unknown = sorted(set(only) - set(CASES))
    if unknown:
        raise SystemExit(f"no such case: {', '.join(unknown)}")
    if not only:
        for old in HERE.glob("*.json"):
            old.unlink()
    for name, spec in CASES.items():
        if only and name not in only:
            continue
        PICKED.clear()
        resources = spec["build"]()
        for resource in resources:
            literal_dependencies(resource)
        if spec["guard"]:
            resources = with_guard(resources)
        resources = with_key_aliases(resources)
        document = {
            "about": spec["about"],
            "finding": spec["finding"],
            "stack": "dev",
            "expect": spec["expect"],
            "config": spec["config"],
            "preview": spec["preview"],
            "resources": resources,
            "outputs": {},
        }
        (HERE / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {name}.json ({len(resources)} resources)")


if __name__ == "__main__":
    main(sys.argv[1:])
