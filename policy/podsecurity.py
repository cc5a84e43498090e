"""The Kubernetes Pod Security Standards, `restricted` profile, as a check on pod templates.

A reading of the published profile (baseline controls plus the restricted
ones) for the fields this project's manifests can carry; returns one line per
violation. Used by the policy pack (nuketown_policy.py) and the validator tests.
"""

from typing import Any

RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("containers", "initContainers", "ephemeralContainers") for c in pod.get(key, [])]


def violations(pod: dict[str, Any]) -> list[str]:
    """Why a pod spec would be refused by `pod-security.kubernetes.io/enforce: restricted`."""
    found: list[str] = []
    pod_context = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"host namespaces: {key} must not be true")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']}: type {sorted(kinds)} is not allowed")
    for sysctl in pod_context.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl['name']} is not allowed")
    if pod_context.get("runAsUser") == 0:
        found.append("pod runAsUser must not be 0")
    pod_non_root = pod_context.get("runAsNonRoot") is True
    pod_seccomp = pod_context.get("seccompProfile", {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        found.append(f"pod seccompProfile {pod_seccomp} is not allowed")
    for container in _containers(pod):
        found += [
            f"container {container['name']}: {v}" for v in _container_violations(container, pod_non_root, pod_seccomp)
        ]
    return found


def _container_violations(container: dict[str, Any], pod_non_root: bool, pod_seccomp: str | None) -> list[str]:
    found = []
    context = container.get("securityContext", {})
    if context.get("privileged"):
        found.append("privileged must not be true")
    if any(port.get("hostPort") for port in container.get("ports", [])):
        found.append("hostPort must not be set")
    if context.get("procMount", "Default") != "Default":
        found.append("procMount must be Default")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation must be false")
    non_root = context.get("runAsNonRoot")
    if non_root is False or (non_root is None and not pod_non_root):
        found.append("runAsNonRoot must be true (pod or container)")
    if context.get("runAsUser") == 0:
        found.append("runAsUser must not be 0")
    seccomp = context.get("seccompProfile", {}).get("type", pod_seccomp)
    if seccomp not in ALLOWED_SECCOMP:
        found.append(f"seccompProfile must be RuntimeDefault or Localhost, is {seccomp}")
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        found.append("capabilities must drop ALL")
    added = set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}
    if added:
        found.append(f"capabilities may add only NET_BIND_SERVICE, adds {sorted(added)}")
    return found
