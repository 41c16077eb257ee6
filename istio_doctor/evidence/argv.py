"""Building blocks of every argv: connection flags, ``kubectl get``, ``kubectl exec`` of the
allowlisted read-only commands, and ``Call`` (an argv with its fallbacks).

Builders return lists or tuples of strings (never shell strings). Names are validated before
they reach an argv. The evidence kinds (``kinds.py``) compose these; ``safety.py`` reads the
exec allowlist from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from istio_doctor.evidence.target import Connection, validate_name, validate_namespace

#: Read-only commands that may run inside the ``istio-proxy`` container, and nothing else.
#: The proxy image shares the pod's network namespace, so these see the app's sockets too.
EXEC_ALLOWLIST: dict[str, tuple[str, ...]] = {
    "sockets": ("netstat", "-tln"),
    "sockets_ss": ("ss", "-ltn"),
    "sockets_proc": ("cat", "/proc/net/tcp", "/proc/net/tcp6"),
    "envoy_stats": ("pilot-agent", "request", "GET", "stats"),
    "envoy_clusters": ("pilot-agent", "request", "GET", "clusters"),
}


def with_connection(argv: list[str], conn: Connection) -> list[str]:
    """Append the connection flags in the form each binary understands."""
    flags: list[str] = []
    if conn.context:
        flags += ["--context", conn.context]
    if conn.kubeconfig:
        flags += ["--kubeconfig", conn.kubeconfig]
    if argv[0] == "istioctl" and conn.istio_namespace != "istio-system":
        flags += ["--istioNamespace", conn.istio_namespace]
    # Flags after `--` would become part of the command run inside the container.
    cut = argv.index("--") if "--" in argv else len(argv)
    return list(argv[:cut]) + flags + list(argv[cut:])


@dataclass(frozen=True)
class Call:
    """One planned call: the argv, and alternatives to try when it fails (older versions, RBAC)."""

    argv: tuple[str, ...]
    fallbacks: tuple[tuple[str, ...], ...] = ()


def kubectl_get(kind: str, *, namespace: str | None = None, name: str | None = None, all_namespaces: bool = False) -> list[str]:
    argv = ["kubectl", "get", kind]
    if name:
        argv.append(validate_name(name))
    if all_namespaces:
        argv.append("--all-namespaces")
    elif namespace:
        argv += ["-n", validate_namespace(namespace)]
    return argv + ["-o", "json"]


def kubectl_exec(pod: str, namespace: str, command: str) -> list[str]:
    """``kubectl exec POD -n NS -c istio-proxy -- <allowlisted command>``."""
    return ["kubectl", "exec", validate_name(pod), "-n", validate_namespace(namespace), "-c", "istio-proxy", "--",
            *EXEC_ALLOWLIST[command]]
