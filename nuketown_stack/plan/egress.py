"""A NetworkPolicy's egress rules in words and as (destination, ports) pairs (pure)."""

from collections.abc import Mapping, Sequence
from typing import Any

Rules = Sequence[Mapping[str, Any]]
Atom = tuple[str, str]  # (destination, ports); "*" for any


def _peer(peer: Mapping[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        excepted = block.get("except") or []
        return str(block["cidr"]) + (f" except {', '.join(excepted)}" if excepted else "")
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    if labels.get("k8s-app") == "kube-dns":
        return "cluster DNS"
    return "pods " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _ports(rule: Mapping[str, Any]) -> str:
    ports = rule.get("ports") or []
    if not ports:
        return "*"
    return "/".join(sorted({f"{p.get('protocol', 'TCP')} {p['port']}" for p in ports}))


def atoms(rules: Rules) -> set[Atom]:
    """Every (destination, ports) pair the rules allow; "*" for any."""
    found: set[Atom] = set()
    for rule in rules:
        peers = rule.get("to") or []
        ports = _ports(rule)
        found |= {(_peer(p), ports) for p in peers} if peers else {("*", ports)}
    return found


def egress_in_words(rules: Rules) -> str:
    found = atoms(rules)
    if not found:
        return "nothing"
    if ("*", "*") in found:
        return "everything"
    described = []
    for peer, ports in sorted(found, key=lambda a: (a[0] == "cluster DNS", a)):
        if peer == "cluster DNS":
            described.append("cluster DNS")
        else:
            described.append(f"{'anywhere' if peer == '*' else peer}{'' if ports == '*' else f' on {ports}'}")
    return "; ".join(described)
