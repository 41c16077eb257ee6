"""Every argv the ambient evidence needs (read-only; names validated; connection flags added).

* ztunnel's config: ``istioctl ztunnel-config all <ztunnel-pod> -n <ns> -o json`` prints the
  whole ``/config_dump`` (``PrintFullDump``), from which every ``ztunnel-config`` view is
  derived locally — one call per ztunnel instead of one per view. ``--node N`` picks the
  ztunnel of a node (istioctl finds it through the DaemonSet). The command is top level from
  istioctl 1.23 and ``istioctl x ztunnel-config`` in 1.22 (istioctl/cmd/root.go at those tags):
  that form is the fallback. Before 1.22 there is no such command.
* ztunnel and istio-cni logs: ``kubectl logs <pod> -n <ns>`` (their pods are found by label:
  ``app=ztunnel``, ``k8s-app=istio-cni-node``, as the Helm charts label them).
"""

from __future__ import annotations

from istio_doctor.evidence.commands import with_connection
from istio_doctor.evidence.target import Connection, validate_name, validate_namespace

__all__ = ["ZTUNNEL_SELECTOR", "CNI_SELECTOR", "component_logs", "ztunnel_config_all", "ztunnel_pods"]

ZTUNNEL_SELECTOR = "app=ztunnel"
CNI_SELECTOR = "k8s-app=istio-cni-node"


def _node_name(node: str) -> str:
    # node names are DNS subdomains (RFC 1123, dots allowed), like pod names
    return validate_name(node)


def ztunnel_config_all(conn: Connection, *, pod: str | None = None, namespace: str | None = None,
                       node: str | None = None) -> tuple[tuple[str, ...], ...]:
    """The calls that print one ztunnel's ``/config_dump``: primary first, then the 1.22 form."""
    if node:
        target = ["--node", _node_name(node)]
    elif pod:
        target = [validate_name(pod), "-n", validate_namespace(namespace or conn.istio_namespace)]
    else:
        raise ValueError("a ztunnel pod or a node is needed")
    return tuple(
        tuple(with_connection([*prefix, "ztunnel-config", "all", *target, "-o", "json"], conn))
        for prefix in (["istioctl"], ["istioctl", "x"])
    )


def ztunnel_pods(conn: Connection, namespace: str | None = None) -> tuple[str, ...]:
    """ztunnel pods (``app=ztunnel``) in every namespace: GKE and OpenShift run it in kube-system."""
    argv = ["kubectl", "get", "pods"]
    argv += ["-n", validate_namespace(namespace)] if namespace else ["--all-namespaces"]
    return tuple(with_connection([*argv, "-l", ZTUNNEL_SELECTOR, "-o", "json"], conn))


def component_logs(conn: Connection, pod: str, namespace: str, *, since: str = "1h", tail: int = 2000) -> tuple[str, ...]:
    return tuple(with_connection(["kubectl", "logs", validate_name(pod), "-n", validate_namespace(namespace),
                                  f"--since={since}", f"--tail={int(tail)}"], conn))
