"""What an agent may claim as its own: a cloud identity, the resource-name scope it owns, and (when the operator
requires it) only images pinned by digest.

The spec may be written by the agents themselves (they can have push rights), so
anything that reaches beyond the agent is refused unless the stack's operator
allow-lists it in the stack settings (`nuketown:allowedIdentities`,
`nuketown:allowedScopes`): an existing identity to bind, or a scope that does not
start with the agent's own name. Pure: no pulumi, no I/O.
"""

import re

from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import AgentSpec, CloudSpec
from nuketown_stack.plan.kubernetes import NIX_IMAGE_PREFIX

# `registry/name@sha256:<digest>` (a tag may stand before the digest; the digest alone decides what runs).
_PINNED_IMAGE = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")
# A nix store path is named by its hash: `nix:0/nix/store/<32 base-32 characters>-<name>`, nothing after it.
_NIX_IMAGE = re.compile(re.escape(NIX_IMAGE_PREFIX) + r"[0-9a-z]{32}-[A-Za-z0-9+._?=-]+")


def ownership_problems(spec: CloudSpec, settings: Settings) -> list[str]:
    return (
        _identity_problems(spec, settings)
        + _scope_problems(spec, settings)
        + _prefix_overlaps(spec, settings)
        + _image_problems(spec, settings)
    )


def _identity_problems(spec: CloudSpec, settings: Settings) -> list[str]:
    """A given identity must be the one the operator allow-listed for that agent, and never one this stack creates."""
    created = _created_identities(spec, settings)
    problems = []
    for name in sorted(spec.agents):
        identity = spec.agents[name].identity
        for field, value, used in (
            ("gcpServiceAccount", identity.gcp_service_account, settings.cloud == "gcp"),
            ("awsRoleArn", identity.aws_role_arn, settings.cloud == "aws"),
        ):
            if value is None or not used:
                continue
            path = f"agents.{name}.cloud.identity.{field}"
            owner = created.get(_role_name(value) if field == "awsRoleArn" else value)
            if owner is not None:
                problems.append(f"{path}: {value!r} is the identity this stack creates for {owner}; it cannot be given")
            elif settings.allowed_identities.get(name) != value:
                problems.append(
                    f"{path}: {value!r} is not allow-listed for {name}; binding an existing identity needs the "
                    f"stack's operator to set nuketown:allowedIdentities {{{name!r}: {value!r}}} in the stack settings"
                )
    return problems


def _created_identities(spec: CloudSpec, settings: Settings) -> dict[str, str]:
    """Service account emails (GCP) or role names (AWS) this stack creates, to the agent they belong to."""
    if settings.cloud == "gcp":
        return {
            f"{settings.names.gcp_service_account_id(a)}@{settings.gcp_project}.iam.gserviceaccount.com": a
            for a in spec.agents
        }
    return {settings.names.aws_role(a): a for a in spec.agents}


def _role_name(arn: str) -> str:
    """`arn:aws:iam::1:role/path/name` -> `name` (a role's name is unique in its account, whatever its path)."""
    return arn.rpartition("/")[2]


def _scope_problems(spec: CloudSpec, settings: Settings) -> list[str]:
    """A scope starts with the agent's own name and a dash (`ada-*`), unless the operator allow-listed it."""
    problems = []
    for name in sorted(spec.agents):
        scope = spec.agents[name].identity.scope
        if scope.startswith(f"{name}-") or scope in settings.allowed_scopes.get(name, ()):
            continue
        problems.append(
            f"agents.{name}.cloud.identity.scope: {scope!r} reaches beyond {name}'s own names; a scope starts with "
            f"'{name}-' (like '{name}-*'), or the stack's operator allow-lists it in nuketown:allowedScopes"
        )
    return problems


def granted_prefix(settings: Settings, name: str, agent: AgentSpec) -> str | None:
    """The bucket-name prefix the agent's storage grant covers beyond its own buckets, if any.

    A prefix reaches every bucket of the project or account that starts with it, the platform's and other
    stacks' included, so it is granted only where the operator said so in the stack settings: a scope
    allow-listed for the agent (nuketown:allowedScopes), or `<agent>-*` when nuketown:storage is agentPrefix,
    which declares the project or account this stack's alone.
    """
    scope = agent.identity.scope
    if scope in settings.allowed_scopes.get(name, ()):
        return agent.identity.prefix
    if settings.storage == "agentPrefix" and scope.startswith(f"{name}-"):
        return agent.identity.prefix
    return None


def _prefix_overlaps(spec: CloudSpec, settings: Settings) -> list[str]:
    """Agents whose granted prefixes cover one another's (`ada-*` covers `ada-dev-*`): one agent would reach the
    other's buckets. Only prefixes the stack grants count: by default none is, and agents `ada` and `ada-x`
    live side by side, each with its own buckets. One sorted pass, not every pair."""
    granted = sorted(
        (prefix, name)
        for name, agent in spec.agents.items()
        if (prefix := granted_prefix(settings, name, agent)) is not None
    )
    overlaps: list[tuple[tuple[str, str], tuple[str, str]]] = []
    # In sorted order every prefix of a scope comes before it, and everything between them shares it,
    # so a stack of the scopes that prefix the current one is all there is to compare.
    covering: list[tuple[str, str]] = []
    for owner in granted:
        while covering and not owner[0].startswith(covering[-1][0]):
            covering.pop()
        overlaps += [(outer, owner) for outer in covering]
        covering.append(owner)
    return [
        f"agents.{name}.cloud.identity.scope: {prefix + '*'!r} also covers {other}'s "
        f"{other_prefix + '*'!r}; give each agent a prefix no other starts with"
        for (prefix, name), (other_prefix, other) in sorted(overlaps)
    ]


def _image_problems(spec: CloudSpec, settings: Settings) -> list[str]:
    """With nuketown:requireImageDigests, an image is pinned by digest or is a nix store path (content-addressed)."""
    if not settings.require_image_digests:
        return []
    return [
        f"agents.{name}.cloud.image: {image!r} is not pinned: whoever can push to its registry can change what "
        f"runs; this stack requires name@sha256:<digest> or an image built by nix (nuketown:requireImageDigests)"
        for name in sorted(spec.agents)
        if not (_NIX_IMAGE.fullmatch(image := spec.agents[name].image) or _PINNED_IMAGE.fullmatch(image))
    ]
