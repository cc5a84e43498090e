"""AWS IAM documents as the pack reads them: identity policies, boundaries and trust policies.

Pure functions over a parsed document (read through nuketown_values.view, so an
unknown anywhere in what is read is a violation). Each returns one line per problem.

A document unknown at preview that comes only from the agent's own identity or key
(nuketown_values.Derived: the program renders the identity policy and the boundary
around the key's ARN) is passed by the identity policy and boundary checks: it is
read whole once known, by nuketown-policy-document as the resource is registered
in `pulumi up`, before it is created. A trust policy is never passed unread: it
names who may assume the role, which no identity resource vouches for.
"""

import json
import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from nuketown_values import Derived, strings, view

# A scope prefix: the program's scope grammar without its '*' (nuketown_stack/inputs/spec.py `_SCOPE`), matched
# whole: lowercase name characters (`ada-`, `ada-data`). Whose prefix it is, scope_ownership_problems decides.
SCOPE_PREFIX = r"[a-z0-9][a-z0-9._-]*"
_PARTITION = r"arn:aws(?:-cn|-us-gov)?"
# Buckets `<prefix>*` and their objects `<prefix>*/*`: the only wildcards an Allow may carry.
S3_SCOPED = re.compile(rf"{_PARTITION}:s3:::(?P<prefix>{SCOPE_PREFIX})\*(?:/\*)?")
S3_ARN = re.compile(rf"{_PARTITION}:s3:::")
# One bucket by its exact name (S3's naming rules), or every object in it.
S3_EXACT = re.compile(rf"{_PARTITION}:s3:::(?P<bucket>[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9])(?:/\*)?")
OIDC_PROVIDER = re.compile(
    rf"{_PARTITION}:iam::[0-9]{{12}}:oidc-provider/(?P<issuer>[A-Za-z0-9.-]+(?:/[A-Za-z0-9._-]+)*)"
)
ACCOUNT_ID = re.compile(r"[0-9]{12}")
WILDCARDS = ("*", "?")
_WHITESPACE = re.compile(r"\s")
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
IRSA_ACTION = "sts:AssumeRoleWithWebIdentity"
POD_IDENTITY_ACTIONS = frozenset({"sts:AssumeRole", "sts:TagSession"})
POD_IDENTITY_NAMESPACE_TAG = "aws:RequestTag/kubernetes-namespace"
POD_IDENTITY_ACCOUNT_TAG = "aws:RequestTag/kubernetes-service-account"
POD_IDENTITY_CLUSTER_TAG = "aws:RequestTag/eks-cluster-name"
POD_IDENTITY_SOURCES = ("aws:SourceAccount", "aws:SourceArn")
# What a permissions boundary must deny outright: IAM, Organizations, and assuming other roles.
ESCALATION = ("iam:*", "organizations:*", "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity")


class DocumentError(ValueError):
    """Not a policy document the pack can read."""


class DerivedDocument(DocumentError):
    """A document unknown at preview that comes only from the agent's own identity or key."""


def parse(document: Any, what: str) -> Any:
    """A document given as a JSON string (or already an object), read through `view`."""
    document = view(document, what)
    if isinstance(document, Derived):
        raise DerivedDocument(f"{what} is {document!r}")
    if isinstance(document, str):
        try:
            document = view(json.loads(document), what)
        except json.JSONDecodeError as error:
            raise DocumentError(f"{what} is not JSON ({error.msg})") from None
    if not isinstance(document, Mapping):
        raise DocumentError(f"{what} is not a policy document")
    return document


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement")
    if isinstance(found, Mapping):
        return [found]
    items = list(found or [])
    if not all(isinstance(s, Mapping) for s in items):
        raise DocumentError("a Statement is not an object")
    return items


def _label(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"statement {sid!r}" if isinstance(sid, str) and sid else f"statement {index}"


def _every_string(value: Any) -> list[str]:
    """Every key and string inside a statement field, for the whitespace check."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for key in value for s in [key, *_every_string(value[key])]]
    if isinstance(value, Sequence):
        return [s for item in value for s in _every_string(item)]
    return []


def identity_policy_problems(document: Any, what: str) -> list[str]:
    """An identity policy or boundary: no whitespace anywhere, and an Allow reaches only named things.

    In an Allow, actions carry no wildcard, NotAction and NotResource are refused (they invert), and
    the only wildcard a resource may carry is S3's `<prefix>*` (and `<prefix>*/*`), the prefix a lowercase
    name (`ada-*`, `ada-data*`; whose it is, scope_ownership_problems decides). Deny statements may use
    wildcards: they only take away.
    """
    try:
        document = parse(document, what)
        found_statements = statements(document)
    except DerivedDocument:
        return []  # read whole once known: as the resource is registered in `pulumi up`
    except DocumentError as error:
        return [str(error)]
    problems = []
    for index, statement in enumerate(found_statements):
        label = _label(statement, index)
        for field in ("Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"):
            for text in _every_string(statement.get(field)):
                if _WHITESPACE.search(text):
                    problems.append(f"{what} {label}: {field} {text!r} contains whitespace")
        if statement.get("Effect") != "Allow":
            if statement.get("Effect") != "Deny":
                problems.append(f"{what} {label}: Effect {statement.get('Effect')!r} is neither Allow nor Deny")
            continue
        for field in ("NotAction", "NotResource", "NotPrincipal", "Principal"):
            if statement.get(field) is not None:
                problems.append(f"{what} {label}: {field} is not allowed in an Allow of an agent's policy")
        for action in strings(statement.get("Action")):
            if not isinstance(action, str) or any(w in action for w in WILDCARDS):
                problems.append(f"{what} {label}: action {action!r} has a wildcard; name each action")
        resources = strings(statement.get("Resource"))
        if not resources:
            problems.append(f"{what} {label}: an Allow without Resource")
        for resource in resources:
            problems += [f"{what} {label}: {p}" for p in _resource_problems(resource)]
    return problems


def _resource_problems(resource: Any) -> list[str]:
    if not isinstance(resource, str):
        return [f"resource {resource!r} is not a string"]
    if S3_ARN.match(resource):
        if "**" in resource or (S3_SCOPED.fullmatch(resource) is None and S3_EXACT.fullmatch(resource) is None):
            return [
                f"resource {resource!r} is not an agent's buckets: arn:aws:s3:::<bucket> or <bucket>/*, or "
                "arn:aws:s3:::<prefix>* or <prefix>*/*, the prefix a lowercase name ([a-z0-9][a-z0-9._-]*), one "
                "'*' after it"
            ]
        return []
    if any(w in resource for w in WILDCARDS):
        return [f"resource {resource!r} has a wildcard; an Allow names its resources"]
    return []


def s3_prefixes(document: Any, what: str) -> list[str]:
    """The bucket prefixes the document's Allow statements reach (well-formed ones only)."""
    return [m["prefix"] for m in _s3_matches(document, what, S3_SCOPED)]


def s3_buckets(document: Any, what: str) -> list[str]:
    """The buckets the document's Allow statements name exactly."""
    return [m["bucket"] for m in _s3_matches(document, what, S3_EXACT)]


def _s3_matches(document: Any, what: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    try:
        document = parse(document, what)
        found_statements = statements(document)
    except DocumentError:
        return []
    matches = []
    for statement in found_statements:
        if statement.get("Effect") != "Allow":
            continue
        for resource in strings(statement.get("Resource")):
            match = pattern.fullmatch(resource) if isinstance(resource, str) else None
            if match is not None:
                matches.append(match)
    return matches


def _covers(denied: str, required: str) -> bool:
    """Whether a denied action pattern covers every action `required` stands for (IAM globs, any case)."""
    denied, required = denied.lower(), required.lower()
    if required.endswith("*"):
        return denied.endswith("*") and required[:-1].startswith(denied[:-1]) and "?" not in denied
    return fnmatchcase(required, denied)


def boundary_denial_problems(document: Any, what: str) -> list[str]:
    """A boundary denies the escalation actions outright: a Deny on Resource '*' without a Condition."""
    try:
        document = parse(document, what)
        found_statements = statements(document)
    except DerivedDocument:
        return []  # read whole once known (at the end of `pulumi up`, by the stack policy)
    except DocumentError as error:
        return [str(error)]
    denied = [
        action
        for statement in found_statements
        if statement.get("Effect") == "Deny"
        and statement.get("Condition") is None
        and statement.get("NotAction") is None
        and strings(statement.get("Resource")) == ["*"]
        for action in strings(statement.get("Action"))
        if isinstance(action, str)
    ]
    missing = [required for required in ESCALATION if not any(_covers(d, required) for d in denied)]
    if missing:
        return [f"{what} does not deny {', '.join(missing)} (a Deny on Resource '*' without a Condition)"]
    return []


def trust_policy_problems(document: Any, what: str = "assumeRolePolicy") -> list[str]:
    """The shape of an agent role's trust: one statement, IRSA or EKS Pod Identity, exact conditions."""
    try:
        document = parse(document, what)
        found_statements = statements(document)
    except DerivedDocument as error:
        return [f"{error}: a trust policy names who may assume the role; it is read whole, never passed unknown"]
    except DocumentError as error:
        return [str(error)]
    if len(found_statements) != 1:
        return [f"{what} has {len(found_statements)} statements; an agent's role is trusted by exactly one"]
    statement = found_statements[0]
    problems = [
        f"{what}: {field} {text!r} contains whitespace"
        for field in ("Principal", "Action", "Condition")
        for text in _every_string(statement.get(field))
        if _WHITESPACE.search(text)
    ]
    if statement.get("Effect") != "Allow":
        problems.append(f"{what}: Effect must be Allow")
    for field in ("NotPrincipal", "NotAction", "Resource", "NotResource"):
        if statement.get(field) is not None:
            problems.append(f"{what}: {field} is not allowed")
    principal = statement.get("Principal")
    if not isinstance(principal, Mapping) or len(principal) != 1:
        return [*problems, f"{what}: Principal must be one Federated OIDC provider or the Pod Identity service"]
    if "Federated" in principal:
        return problems + _irsa_problems(statement, principal["Federated"], what)
    if "Service" in principal:
        return problems + _pod_identity_problems(statement, principal["Service"], what)
    return [*problems, f"{what}: Principal must be one Federated OIDC provider or the Pod Identity service"]


def _only_string_equals(
    statement: Mapping[str, Any], what: str, also: tuple[str, ...] = ()
) -> tuple[list[str], Mapping[str, Any]]:
    condition = statement.get("Condition") or {}
    allowed = ("StringEquals", *also)
    problems = [
        f"{what}: condition operator {operator} is not allowed; only {' and '.join(allowed)}"
        for operator in condition
        if operator not in allowed
    ]
    equals = condition.get("StringEquals") or {}
    for key in equals:
        values = strings(equals[key])
        if len(values) != 1 or not isinstance(values[0], str):
            problems.append(f"{what}: condition {key} must be one string")
        elif any(w in values[0] for w in WILDCARDS):
            problems.append(f"{what}: condition {key} = {values[0]!r} has a wildcard")
    return problems, equals


def _one(equals: Mapping[str, Any], key: str) -> Any:
    values = strings(equals.get(key))
    return values[0] if len(values) == 1 else None


def _irsa_problems(statement: Mapping[str, Any], federated: Any, what: str) -> list[str]:
    match = OIDC_PROVIDER.fullmatch(federated) if isinstance(federated, str) else None
    if match is None:
        return [f"{what}: Federated principal {federated!r} is not an IAM OIDC provider ARN"]
    problems, equals = _only_string_equals(statement, what)
    if strings(statement.get("Action")) != [IRSA_ACTION]:
        problems.append(f"{what}: Action must be exactly {IRSA_ACTION}")
    issuer = match["issuer"]
    expected = {f"{issuer}:sub", f"{issuer}:aud"}
    if set(equals) != expected:
        problems.append(f"{what}: StringEquals must name exactly {sorted(expected)}, names {sorted(equals)}")
    subject = _one(equals, f"{issuer}:sub")
    if subject is not None and re.fullmatch(r"system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+", subject) is None:
        problems.append(f"{what}: subject {subject!r} is not one Kubernetes ServiceAccount")
    audience = _one(equals, f"{issuer}:aud")
    if audience is not None and audience != "sts.amazonaws.com":
        problems.append(f"{what}: audience {audience!r} is not sts.amazonaws.com")
    return problems


def _pod_identity_problems(statement: Mapping[str, Any], service: Any, what: str) -> list[str]:
    if strings(service) != [POD_IDENTITY_SERVICE]:
        return [f"{what}: Service principal {service!r} is not {POD_IDENTITY_SERVICE}"]
    problems, equals = _only_string_equals(statement, what, also=("ArnEquals",))
    problems += _source_cluster_problems(statement, equals, what)
    actions = strings(statement.get("Action"))
    if len(actions) != len(POD_IDENTITY_ACTIONS) or set(actions) != POD_IDENTITY_ACTIONS:
        problems.append(f"{what}: Action must be exactly {sorted(POD_IDENTITY_ACTIONS)}")
    allowed = {*POD_IDENTITY_SOURCES, POD_IDENTITY_NAMESPACE_TAG, POD_IDENTITY_ACCOUNT_TAG, POD_IDENTITY_CLUSTER_TAG}
    problems += [f"{what}: condition key {key} is not one nuketown sets" for key in equals if key not in allowed]
    if not any(key in equals for key in POD_IDENTITY_SOURCES):
        problems.append(f"{what}: no aws:SourceAccount or aws:SourceArn condition")
    source = _one(equals, "aws:SourceAccount")
    if source is not None and ACCOUNT_ID.fullmatch(source) is None:
        problems.append(f"{what}: aws:SourceAccount {source!r} is not an account id")
    problems += [
        f"{what}: no {key} condition"
        for key in (POD_IDENTITY_NAMESPACE_TAG, POD_IDENTITY_ACCOUNT_TAG)
        if key not in equals
    ]
    return problems


EKS_CLUSTER_ARN = re.compile(
    r"arn:aws(-cn|-us-gov)?:eks:[a-z0-9-]+:[0-9]{12}:cluster/(?P<name>[0-9A-Za-z][A-Za-z0-9_-]*)"
)


def _source_cluster_problems(statement: Mapping[str, Any], equals: Mapping[str, Any], what: str) -> list[str]:
    """Pod Identity trust names the cluster by its ARN (ArnEquals aws:SourceArn), as EKS documents."""
    arns = (statement.get("Condition") or {}).get("ArnEquals") or {}
    if set(arns) != {"aws:SourceArn"}:
        return [f"{what}: ArnEquals must name exactly aws:SourceArn, the cluster's ARN"]
    arn = _one(arns, "aws:SourceArn")
    match = EKS_CLUSTER_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None:
        return [f"{what}: aws:SourceArn {arn!r} is not one EKS cluster's ARN"]
    cluster = _one(equals, POD_IDENTITY_CLUSTER_TAG)
    if cluster is not None and cluster != match["name"]:
        return [f"{what}: aws:SourceArn names cluster {match['name']!r}, the session tag {cluster!r}"]
    return []


def trusted_subject(document: Any) -> tuple[str, str] | None:
    """(namespace, service account) a well-formed trust document admits, for either mode; None otherwise."""
    try:
        document = parse(document, "assumeRolePolicy")
        [statement] = statements(document)
    except (DocumentError, ValueError):
        return None
    principal = statement.get("Principal") or {}
    equals = (statement.get("Condition") or {}).get("StringEquals") or {}
    if not isinstance(principal, Mapping):
        return None
    if "Federated" in principal:
        match = OIDC_PROVIDER.fullmatch(principal["Federated"]) if isinstance(principal["Federated"], str) else None
        subject = _one(equals, f"{match['issuer']}:sub") if match else None
        parts = subject.split(":") if isinstance(subject, str) else []
        return (parts[2], parts[3]) if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] else None
    namespace, account = _one(equals, POD_IDENTITY_NAMESPACE_TAG), _one(equals, POD_IDENTITY_ACCOUNT_TAG)
    return (namespace, account) if isinstance(namespace, str) and isinstance(account, str) else None


# --- KMS keys: which key a policy reaches, and who a key policy lets decrypt -----------------------------------

KMS_ARN = re.compile(rf"{_PARTITION}:kms:[a-z0-9-]*:[0-9]*:(?P<kind>key|alias)/(?P<name>.+)")
# Actions that read what was encrypted to a key, or hand that power on (a grant).
DECRYPTING = ("kms:Decrypt", "kms:ReEncryptFrom", "kms:CreateGrant")


def kms_resources(document: Any, what: str) -> list[str]:
    """Every KMS ARN (`...:key/<id>`, `...:alias/<name>`) the document's Allow statements name.
    An unknown document raises UnknownValue (a Derived one DerivedDocument); one that is not a document, []."""
    try:
        found_statements = statements(parse(document, what))
    except DerivedDocument:
        raise
    except DocumentError:
        return []
    return [
        resource
        for statement in found_statements
        if statement.get("Effect") == "Allow"
        for resource in strings(statement.get("Resource"))
        if isinstance(resource, str) and KMS_ARN.fullmatch(resource)
    ]


def decrypting_principals(document: Any, what: str) -> list[Any]:
    """The principals a key policy's Allow statements let decrypt (or grant decrypting): any action covering
    kms:Decrypt, kms:ReEncryptFrom or kms:CreateGrant, NotAction included. `*` is returned as "*"."""
    found_statements = statements(parse(document, what))
    principals: list[Any] = []
    for statement in found_statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = [a for a in strings(statement.get("Action")) if isinstance(a, str)]
        decrypts = statement.get("NotAction") is not None or any(
            _covers(action, wanted) for action in actions for wanted in DECRYPTING
        )
        if not decrypts:
            continue
        if statement.get("NotPrincipal") is not None:
            principals.append(f"everyone but {statement['NotPrincipal']!r}")  # NotPrincipal inverts: nearly anyone
        principal = statement.get("Principal")
        if isinstance(principal, Mapping):
            principals += [p for values in principal.values() for p in strings(values)]
        elif principal is not None:
            principals.append(principal)
    return principals
