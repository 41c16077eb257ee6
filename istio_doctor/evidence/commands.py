"""Every argv istio-doctor can build. One place, so tests can enumerate them all.

The argv of each evidence kind is defined with the kind (``kinds.py``); this module is the
entry point callers use (``build_call``), the per-type fallback of the config dump, and
``every_argv()`` for the read-only and real-kubectl tests.
"""

from __future__ import annotations

from istio_doctor.evidence.argv import (  # noqa: F401 - re-exported: the argv building blocks
    EXEC_ALLOWLIST,
    Call,
    kubectl_get,
    with_connection,
)
from istio_doctor.evidence.kinds import BuildArgs, Need
from istio_doctor.evidence.target import Connection, validate_name, validate_namespace


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
    return need.build(conn, BuildArgs(namespace=namespace, name=name, since=since, tail=tail,
                                      istioctl_minor=istioctl_minor, fallback_namespace=fallback_namespace))


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
