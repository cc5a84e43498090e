"""The Kubernetes Pod Security Standards, `restricted` profile, as a check on pod specs.

Written from the published profile (the baseline controls plus the restricted
ones, as kubernetes/pod-security-admission states them in policy/check_*.go),
for a pod that must be admitted on every Kubernetes version this project
supports (1.30 to 1.37). Where the profile changed between those versions the
stricter reading is kept, so what passes here passes on all of them:

- sysctls: the 1.29 safe set (tcp_rmem/wmem came in 1.32, two more in 1.37);
- SELinux types: container_t, container_init_t, container_kvm_t
  (container_engine_t came in 1.31);
- volumes: no `image` volumes (allowed from 1.31);
- probe and lifecycle `host` fields refused (a 1.34 check);
- no relaxation for `hostUsers: false` (1.35) and no Windows exemption
  (pods with spec.os.name windows skip three checks since 1.25): agents run Linux.

The seccomp alpha annotations, which only pre-1.19 clusters read, are not checked.
Returns one line per violation. Used by the policy pack (nuketown_policy.py)
and the validator tests; a value unknown at preview is a violation.
"""

from collections.abc import Callable, Mapping
from typing import Any

from nuketown_values import UnknownValue, view

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
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
ALLOWED_CAPABILITY = "NET_BIND_SERVICE"
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

Check = Callable[..., list[str]]


def violations(pod: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> list[str]:
    """Why a pod spec (and the pod's metadata, for AppArmor annotations) would be refused by
    `pod-security.kubernetes.io/enforce: restricted`."""
    found: list[str] = []
    try:
        pod = view(pod, "spec")
        metadata = view(metadata or {}, "metadata")
    except UnknownValue as unknown:
        return [unknown.message]
    for check in (_host_namespaces, _volumes, _sysctls, _pod_run_as_user, _pod_seccomp, _pod_se_linux):
        found += _guarded(check, pod)
    found += _guarded(_pod_app_armor, pod, metadata)
    found += _guarded(_pod_host_process, pod)
    pod_context = _guarded_value(lambda: pod.get("securityContext") or {}, found)
    if pod_context is None:
        return found
    containers = _guarded_value(lambda: _containers(pod), found)
    for container in containers or []:
        try:
            name = container.get("name", "?")
        except UnknownValue as unknown:
            found.append(unknown.message)
            continue
        found += [f"container {name}: {v}" for v in _guarded(_container_violations, container, pod_context)]
    found += _guarded(_pod_run_as_non_root, pod_context, containers or [])
    return found


def _guarded(check: Check, *args: Any) -> list[str]:
    try:
        return check(*args)
    except UnknownValue as unknown:
        return [unknown.message]


def _guarded_value(read: Callable[[], Any], found: list[str]) -> Any:
    try:
        return read()
    except UnknownValue as unknown:
        found.append(unknown.message)
        return None


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for key in CONTAINER_LISTS for c in pod.get(key) or []]


def _host_namespaces(pod: Mapping[str, Any]) -> list[str]:
    return [f"host namespaces: {key} must not be true" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]


def _volumes(pod: Mapping[str, Any]) -> list[str]:
    found = []
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(
                f"volume {volume.get('name', '?')}: type {sorted(kinds - RESTRICTED_VOLUME_TYPES)} is not allowed"
            )
    return found


def _sysctls(pod: Mapping[str, Any]) -> list[str]:
    context = pod.get("securityContext") or {}
    return [
        f"sysctl {sysctl.get('name')!r} is not allowed"
        for sysctl in context.get("sysctls") or []
        if sysctl.get("name") not in SAFE_SYSCTLS
    ]


def _pod_run_as_user(pod: Mapping[str, Any]) -> list[str]:
    return ["pod runAsUser must not be 0"] if (pod.get("securityContext") or {}).get("runAsUser") == 0 else []


def _pod_seccomp(pod: Mapping[str, Any]) -> list[str]:
    profile = (pod.get("securityContext") or {}).get("seccompProfile")
    if profile is not None and profile.get("type") not in ALLOWED_SECCOMP:
        return [f"pod seccompProfile {profile.get('type')} is not allowed"]
    return []


def _se_linux(context: Mapping[str, Any]) -> list[str]:
    options = context.get("seLinuxOptions")
    if options is None:
        return []
    found = []
    if (options.get("type") or "") not in SELINUX_TYPES:
        found.append(
            f"seLinuxOptions.type {options.get('type')!r} is not allowed ({', '.join(sorted(SELINUX_TYPES - {''}))})"
        )
    found += [f"seLinuxOptions.{key} must not be set" for key in ("user", "role") if options.get(key)]
    return found


def _pod_se_linux(pod: Mapping[str, Any]) -> list[str]:
    return [f"pod {problem}" for problem in _se_linux(pod.get("securityContext") or {})]


def _app_armor(context: Mapping[str, Any]) -> list[str]:
    profile = context.get("appArmorProfile")
    if profile is not None and profile.get("type") not in ALLOWED_APPARMOR:
        return [f"appArmorProfile.type {profile.get('type')!r} is not allowed (RuntimeDefault or Localhost)"]
    return []


def _pod_app_armor(pod: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[str]:
    found = [f"pod {problem}" for problem in _app_armor(pod.get("securityContext") or {})]
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not _allowed_app_armor_annotation(value):
            found.append(f"annotation {key}={value!r}: AppArmor profile must be runtime/default or localhost/*")
    return found


def _allowed_app_armor_annotation(value: Any) -> bool:
    return isinstance(value, str) and (value in ("", "runtime/default") or value.startswith("localhost/"))


def _host_process(context: Mapping[str, Any]) -> bool:
    return bool((context.get("windowsOptions") or {}).get("hostProcess"))


def _pod_host_process(pod: Mapping[str, Any]) -> list[str]:
    return (
        ["pod windowsOptions.hostProcess must not be true"] if _host_process(pod.get("securityContext") or {}) else []
    )


def _pod_run_as_non_root(pod_context: Mapping[str, Any], containers: list[Mapping[str, Any]]) -> list[str]:
    """A pod-level runAsNonRoot: false is refused even when every container sets true; reported here only
    when no container line above already names the setting (a container without its own inherits it)."""
    every_container_explicit = all((c.get("securityContext") or {}).get("runAsNonRoot") is not None for c in containers)
    if pod_context.get("runAsNonRoot") is False and every_container_explicit:
        return ["pod runAsNonRoot must not be false"]
    return []


def _container_violations(container: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    found = []
    context = container.get("securityContext") or {}
    if context.get("privileged"):
        found.append("privileged must not be true")
    host_ports = [port.get("hostPort") for port in container.get("ports") or [] if port.get("hostPort")]
    if host_ports:
        found.append(f"hostPort must not be set (sets {host_ports})")
    if context.get("procMount", "Default") not in (None, "Default"):
        found.append("procMount must be Default")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation must be false")
    non_root = context.get("runAsNonRoot")
    if non_root is False or (non_root is None and pod_context.get("runAsNonRoot") is not True):
        found.append("runAsNonRoot must be true (pod or container)")
    if context.get("runAsUser") == 0:
        found.append("runAsUser must not be 0")
    found += _container_seccomp(context, pod_context)
    capabilities = context.get("capabilities") or {}
    if "ALL" not in list(capabilities.get("drop") or []):
        found.append("capabilities must drop ALL")
    added = set(capabilities.get("add") or []) - {ALLOWED_CAPABILITY}
    if added:
        found.append(f"capabilities may add only {ALLOWED_CAPABILITY}, adds {sorted(added)}")
    found += _se_linux(context)
    found += _app_armor(context)
    if _host_process(context):
        found.append("windowsOptions.hostProcess must not be true")
    found += _probe_hosts(container)
    return found


def _container_seccomp(context: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    own = context.get("seccompProfile")
    pod_profile = pod_context.get("seccompProfile")
    seccomp = own.get("type") if own is not None else (pod_profile or {}).get("type")
    if seccomp not in ALLOWED_SECCOMP:
        return [f"seccompProfile must be RuntimeDefault or Localhost, is {seccomp}"]
    return []


def _probe_hosts(container: Mapping[str, Any]) -> list[str]:
    handlers = [(probe, container.get(probe)) for probe in ("livenessProbe", "readinessProbe", "startupProbe")]
    lifecycle = container.get("lifecycle") or {}
    handlers += [(f"lifecycle.{hook}", lifecycle.get(hook)) for hook in ("postStart", "preStop")]
    return [
        f"{where}.{kind}.host must not be set (is {handler[kind]['host']!r})"
        for where, handler in handlers
        if handler
        for kind in ("httpGet", "tcpSocket")
        if (handler.get(kind) or {}).get("host")
    ]
