"""Every argv istio-doctor can build. One place, so tests can enumerate them all.

Builders return lists (never shell strings). Names are validated before they reach argv.
Connection flags (``--context``, ``--kubeconfig``, the Istio namespace) are appended the same
way to both binaries by ``with_connection``.
"""

from __future__ import annotations

from dataclasses import dataclass

from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.target import Connection, validate_name, validate_namespace

# Istio and Gateway API kinds, fully qualified so a same-named CRD of another project
# (e.g. Knative's or Contour's Gateway) is never read by mistake.
ISTIO_KINDS: dict[Need, str] = {
    Need.VIRTUAL_SERVICES: "virtualservices.networking.istio.io",
    Need.DESTINATION_RULES: "destinationrules.networking.istio.io",
    Need.GATEWAYS: "gateways.networking.istio.io",
    Need.SERVICE_ENTRIES: "serviceentries.networking.istio.io",
    Need.SIDECARS: "sidecars.networking.istio.io",
    Need.PEER_AUTHENTICATIONS: "peerauthentications.security.istio.io",
    Need.AUTHORIZATION_POLICIES: "authorizationpolicies.security.istio.io",
    Need.REQUEST_AUTHENTICATIONS: "requestauthentications.security.istio.io",
    Need.ENVOY_FILTERS: "envoyfilters.networking.istio.io",
    Need.TELEMETRIES: "telemetries.telemetry.istio.io",
    Need.K8S_GATEWAYS: "gateways.gateway.networking.k8s.io",
    Need.HTTP_ROUTES: "httproutes.gateway.networking.k8s.io",
}

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


def build_call(
    need: Need,
    conn: Connection,
    *,
    namespace: str | None = None,
    name: str | None = None,
    since: str = "1h",
    tail: int = 2000,
    istioctl_minor: int | None = None,
    fallback_namespace: str | None = None,
) -> Call:
    """The argv for one piece of evidence. ``fallback_namespace`` narrows -A calls refused by RBAC."""
    ins = conn.istio_namespace
    c = lambda a: tuple(with_connection(a, conn))  # noqa: E731

    def cluster_wide(kind: str) -> Call:
        fb = (c(kubectl_get(kind, namespace=fallback_namespace)),) if fallback_namespace else ()
        return Call(c(kubectl_get(kind, all_namespaces=True)), fb)

    if need in ISTIO_KINDS:
        return cluster_wide(ISTIO_KINDS[need])
    match need:
        case Need.KUBECTL_VERSION:
            return Call(c(["kubectl", "version", "-o", "json"]))
        case Need.ISTIOCTL_VERSION:
            # --remote reads the control plane and data plane versions too (GEN-VERSION-SKEW)
            return Call(c(["istioctl", "version", "-o", "json"]), (c(["istioctl", "version", "--remote=false", "-o", "json"]),))
        case Need.NAMESPACES:
            fb = (c(kubectl_get("namespace", name=fallback_namespace)),) if fallback_namespace else ()
            return Call(c(kubectl_get("namespaces")), fb)
        case Need.SERVICES:
            return cluster_wide("services")
        case Need.WEBHOOKS:
            return Call(c(kubectl_get("mutatingwebhookconfigurations")))
        case Need.CRDS:
            return Call(c(["kubectl", "get", "customresourcedefinitions", "-l", "gateway.networking.k8s.io/bundle-version", "-o", "json"]))
        case Need.CONTROL_PLANE_CONFIGMAPS:
            return Call(c(kubectl_get("configmaps", namespace=ins)))
        case Need.CONTROL_PLANE_PODS:
            return Call(c(kubectl_get("pods", namespace=ins)))
        case Need.CONTROL_PLANE_DEPLOYMENTS:
            return Call(c(kubectl_get("deployments", namespace=ins)))
        case Need.CONTROL_PLANE_ENDPOINTSLICES:
            return Call(c(kubectl_get("endpointslices", namespace=ins)))
        case Need.PROXY_STATUS:
            # Format churn: <=1.26 per-type table; 1.27-1.29 needs --verbose for per-type status;
            # >=1.30 has -o json (one document per istiod). Pick by the istioctl version.
            if istioctl_minor is not None and istioctl_minor >= 30:
                return Call(c(["istioctl", "proxy-status", "-o", "json"]), (c(["istioctl", "proxy-status"]),))
            if istioctl_minor is not None and istioctl_minor >= 27:
                return Call(c(["istioctl", "proxy-status", "--verbose"]), (c(["istioctl", "proxy-status"]),))
            return Call(c(["istioctl", "proxy-status"]))
        case Need.PODS:
            return Call(c(kubectl_get("pods", namespace=namespace)))
        case Need.ENDPOINTSLICES:
            return Call(c(kubectl_get("endpointslices", namespace=namespace)))
        case Need.EVENTS:
            return Call(c(kubectl_get("events", namespace=namespace)))
        case Need.DEPLOYMENTS:
            return Call(c(kubectl_get("deployments", namespace=namespace)))
        case Need.REPLICASETS:
            return Call(c(kubectl_get("replicasets", namespace=namespace)))
        case Need.ANALYZE:
            return Call(
                c(["istioctl", "analyze", "-n", validate_namespace(namespace or "default"), "-o", "json"]),
                (c(["istioctl", "analyze", "-n", validate_namespace(namespace or "default")]),),
            )
        case Need.NAMESPACE_PROXY_LOGS:
            # One call for every injected pod (the injector labels them tlsMode=istio); --prefix
            # tags each line with its pod. Without -f, kubectl reads the pods one after another.
            return Call(
                c(["kubectl", "logs", "-n", validate_namespace(namespace or "default"), "-l", "security.istio.io/tlsMode=istio",
                   "-c", "istio-proxy", "--prefix", f"--since={since}", "--tail=200"])
            )
        case Need.POD:
            return Call(c(kubectl_get("pod", namespace=namespace, name=name)))
        case Need.CONFIG_DUMP:
            pod, ns = validate_name(name or ""), validate_namespace(namespace or "default")
            # One dump, every view derived from it. The per-type calls are a fallback for
            # istioctl builds whose `all` subcommand is missing or fails.
            return Call(c(["istioctl", "proxy-config", "all", pod, "-n", ns, "-o", "json"]))
        case Need.PROXY_LOGS:
            return Call(
                c(["kubectl", "logs", validate_name(name or ""), "-n", validate_namespace(namespace or "default"),
                   "-c", "istio-proxy", f"--since={since}", f"--tail={int(tail)}"])
            )
        case Need.INIT_LOGS:
            pod, ns = validate_name(name or ""), validate_namespace(namespace or "default")
            return Call(
                c(["kubectl", "logs", pod, "-n", ns, "-c", "istio-init", "--tail=200"]),
                (c(["kubectl", "logs", pod, "-n", ns, "-c", "istio-validation", "--tail=200"]),),
            )
        case Need.DESCRIBE:
            return Call(c(["istioctl", "x", "describe", "pod", validate_name(name or ""), "-n", validate_namespace(namespace or "default")]))
        case Need.SOCKETS:
            base = ["kubectl", "exec", validate_name(name or ""), "-n", validate_namespace(namespace or "default"), "-c", "istio-proxy", "--"]
            return Call(
                c(base + list(EXEC_ALLOWLIST["sockets"])),
                (c(base + list(EXEC_ALLOWLIST["sockets_ss"])), c(base + list(EXEC_ALLOWLIST["sockets_proc"]))),
            )
        case Need.ENVOY_STATS:
            base = ["kubectl", "exec", validate_name(name or ""), "-n", validate_namespace(namespace or "default"), "-c", "istio-proxy", "--"]
            return Call(c(base + list(EXEC_ALLOWLIST["envoy_stats"])))
        case Need.ENVOY_CLUSTERS:
            base = ["kubectl", "exec", validate_name(name or ""), "-n", validate_namespace(namespace or "default"), "-c", "istio-proxy", "--"]
            return Call(c(base + list(EXEC_ALLOWLIST["envoy_clusters"])))
    raise ValueError(f"no command for {need}")  # pragma: no cover - every Need is handled above


def config_dump_per_type_calls(conn: Connection, namespace: str, name: str) -> dict[str, tuple[str, ...]]:
    """Fallback for CONFIG_DUMP: the per-type ``proxy-config <type> -o json`` outputs (camelCase)."""
    pod, ns = validate_name(name), validate_namespace(namespace)
    return {
        t: tuple(with_connection(["istioctl", "proxy-config", t, pod, "-n", ns, "-o", "json"], conn))
        for t in ("bootstrap", "cluster", "listener", "route", "endpoint", "secret")
    }


# -- preflight (issue #12) -------------------------------------------------------------------

#: What ``kubectl config view --minify`` is asked to print: the context in use and its server.
#: ``\n`` is jsonpath's escape (two characters in argv), never a line break in an argument.
PREFLIGHT_JSONPATH = 'jsonpath={.current-context}{"\\n"}{.clusters[0].cluster.server}'


def preflight_calls(conn: Connection, request_timeout_s: float) -> dict[str, tuple[str, ...]]:
    """The preflight's calls, each answering one question before (and while) evidence is gathered.

    * ``kubeconfig``: is the kubeconfig readable and does the context exist? Local to kubectl,
      no network: ``config view --minify`` fails when the context (or its cluster) is missing.
    * ``api-server``: does the server answer as a Kubernetes API server? ``kubectl version``
      GETs ``/version``; ``--request-timeout`` makes kubectl itself give up on a server that
      accepts connections and never answers, with its own message.
    * ``istioctl``: is istioctl there? ``--remote=false`` keeps it local.
    """
    seconds = max(1, int(round(request_timeout_s)))
    c = lambda a: tuple(with_connection(a, conn))  # noqa: E731
    return {
        "kubeconfig": c(["kubectl", "config", "view", "--minify", "-o", PREFLIGHT_JSONPATH]),
        "api-server": c(["kubectl", "version", "-o", "json", f"--request-timeout={seconds}s"]),
        "istioctl": c(["istioctl", "version", "--remote=false", "-o", "json"]),
    }


def contexts_call(conn: Connection) -> tuple[str, ...]:
    """The kubeconfig's context names, one a line (for "context X does not exist; its contexts are ...").
    ``--context`` is left out on purpose: listing must not depend on the context that is wrong."""
    argv = ["kubectl", "config", "get-contexts", "-o", "name"]
    if conn.kubeconfig:
        argv += ["--kubeconfig", conn.kubeconfig]
    return tuple(argv)


def every_argv(conn: Connection | None = None) -> list[tuple[str, ...]]:
    """Every argv the tool can build (sample names), for the read-only and real-kubectl tests."""
    conn = conn or Connection(context="ctx", kubeconfig="/tmp/kubeconfig", istio_namespace="istio-system")
    out: list[tuple[str, ...]] = []
    for need in Need:
        for minor in (None, 27, 30):
            call = build_call(need, conn, namespace="default", name="productpage-v1-6b746f74dc-9stvs",
                              istioctl_minor=minor, fallback_namespace="default")
            out.append(call.argv)
            out.extend(call.fallbacks)
    out.extend(config_dump_per_type_calls(conn, "default", "productpage-v1-6b746f74dc-9stvs").values())
    out.extend(preflight_calls(conn, 5.0).values())
    out.append(contexts_call(conn))
    return list(dict.fromkeys(out))
