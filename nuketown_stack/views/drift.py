"""Drift in words: a `pulumi preview --refresh --json` of a shard, as the agents and resources it would change.

The preview digest's shape is pulumi/pulumi's `PreviewDigest` and `PreviewStep` (pkg/display/json.go): a list
of `steps`, each with `op`, `urn`, and the resource's `oldState`/`newState` (apitype.ResourceV3, with its
`parent` URN), `diffReasons` and `detailedDiff`. After a refresh, a resource changed outside Pulumi is one the
program would change back: an `update` (or `replace`, `create` when it was deleted, `delete` when it
appeared). `refresh`, `same` and `read` steps change nothing and are left out, as `--expect-no-changes`
leaves them out (pkg/engine/update.go, HasChanges). Pure: no I/O.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nuketown_stack.errors import InputError
from nuketown_stack.program.declared import AGENT_TYPE

UNCHANGING = frozenset({"same", "refresh", "read", "discard", "read-replacement", "discard-replaced"})


@dataclass(frozen=True)
class Drifted:
    op: str
    type: str
    name: str
    agent: str | None  # None: a resource of the stack itself (a provider, the key ring, the ownership guard)
    paths: tuple[str, ...]  # the properties that differ, when the provider says


def _urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN `urn:pulumi:<stack>::<project>::<parent types$type>::<name>`."""
    parts = urn.split("::", 3)
    if len(parts) != 4:
        raise ValueError(urn)
    return parts[2].rsplit("$", 1)[-1], parts[3]


def drifted(digest: Any, where: str) -> list[Drifted]:
    """Every step of the digest that would change something, with the agent it belongs to."""
    steps = digest.get("steps") if isinstance(digest, Mapping) else None
    if steps is None and isinstance(digest, Mapping) and ("changeSummary" in digest or "diagnostics" in digest):
        steps = []  # nothing to change: the digest leaves `steps` out
    if not isinstance(steps, list):
        raise InputError([f"{where}: not a `pulumi preview --json` digest (no steps)"])
    found = []
    for step in steps:
        if not isinstance(step, Mapping) or step.get("op") in UNCHANGING:
            continue
        try:
            typ, name = _urn_parts(str(step.get("urn")))
        except ValueError:
            raise InputError([f"{where}: a step's urn {step.get('urn')!r} is not a Pulumi URN"]) from None
        if typ == "pulumi:pulumi:Stack":
            continue
        state = step.get("newState") or step.get("oldState") or {}
        paths = tuple(sorted(step.get("detailedDiff") or {})) or tuple(step.get("diffReasons") or ())
        found.append(Drifted(str(step.get("op")), typ, name, _agent(state.get("parent")), paths))
    return found


def _agent(parent: Any) -> str | None:
    if not isinstance(parent, str):
        return None
    try:
        typ, name = _urn_parts(parent)
    except ValueError:
        return None
    return name if typ == AGENT_TYPE else None


def errors(digest: Any) -> list[str]:
    """The preview's error diagnostics: a preview that failed says why, not that nothing drifted."""
    diagnostics = digest.get("diagnostics") if isinstance(digest, Mapping) else None
    return [
        str(d.get("message", "")).strip()
        for d in diagnostics or ()
        if isinstance(d, Mapping) and d.get("severity") == "error"
    ]


def format_drift(stack: str, found: Sequence[Drifted], failures: Sequence[str]) -> str:
    """Markdown for a job summary and an issue: per agent, each resource the next `pulumi up` would change."""
    if failures:
        return "\n".join([f"### {stack}: the preview failed", "", *(f"- {line}" for line in failures)])
    if not found:
        return f"### {stack}: no drift"
    lines = [f"### {stack}: {len(found)} resource(s) drifted from the code; the next `pulumi up` changes them back"]
    agents = sorted({d.agent for d in found if d.agent is not None})
    for heading, items in [
        *((f"agent {a}", [d for d in found if d.agent == a]) for a in agents),
        ("the stack itself", [d for d in found if d.agent is None]),
    ]:
        if items:
            lines += ["", f"**{heading}**"]
            lines += [f"- {d.op} `{d.type}` {d.name}" + (f" ({', '.join(d.paths)})" if d.paths else "") for d in items]
    return "\n".join(lines)
