"""Ambient mode in the diagnosis plan (pure): which pods are ambient, which playbooks they walk,
which of their pods deserve a look in a namespace scan, and who is on the other side of their
failing connections.

A pod is ambient from its labels and the ``ambient.istio.io/redirection`` annotation
(``evidence.ambient.dataplane``), never from the absence of a sidecar alone. Ambient pods walk
the playbooks whose ``dataplane`` lists ``ambient`` (plus triage); out-of-mesh pods walk the
ambient playbooks that list ``none`` only where the cluster uses ambient (some namespace or pod
asks for it), so a sidecar-only mesh is diagnosed exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from istio_doctor.engine.context import RelatedPod
from istio_doctor.engine.playbook import Playbook
from istio_doctor.evidence.ambient.dataplane import (
    DATAPLANE_MODE_LABEL,
    REDIRECTION_ANNOTATION,
    DataplaneMode,
    PodDataplane,
    pod_dataplane,
)
from istio_doctor.evidence.bundle import Evidence, Need

__all__ = [
    "AMBIENT",
    "NONE_IN_AMBIENT_MESH",
    "SIDECAR",
    "ambient_flags",
    "ambient_in_use",
    "ambient_playbooks",
    "log_scouts",
    "dataplane_of",
    "dataplane_walk",
    "playbooks_for",
    "related_pods",
]

#: what an examined pod walks (``Examined.dataplane``)
SIDECAR = "sidecar"  # sidecar or out-of-mesh pods in a sidecar mesh: the playbooks as before
AMBIENT = "ambient"
NONE_IN_AMBIENT_MESH = "none"  # out of the mesh where the cluster uses ambient
ANY = "any"  # a namespace-level walk in a namespace that uses ambient


def _namespace(ev: Evidence, name: str) -> Any | None:
    return next((n for n in ev.get_or([], Need.NAMESPACES) if n.metadata.name == name), None)


def _pod(ev: Evidence, namespace: str, name: str) -> Any | None:
    pod = ev.get_or(None, Need.POD, namespace, name)
    if pod is not None:
        return pod
    return next((p for p in ev.get_or([], Need.PODS, namespace) if p.metadata.name == name), None)


def dataplane_of(ev: Evidence, namespace: str, name: str) -> PodDataplane | None:
    """The pod's data-plane mode, with ztunnel's PROTOCOL when its dump was gathered."""
    pod = _pod(ev, namespace, name)
    if pod is None:
        return None
    proto = ""
    dump = ev.get_or(None, Need.ZTUNNEL_CONFIG, namespace, name)
    if dump is not None:
        w = dump.workload_by_name(namespace, name)
        proto = w.protocol if w is not None else ""
    return pod_dataplane(pod, _namespace(ev, namespace), ztunnel_protocol=proto)


def ambient_in_use(ev: Evidence, namespace: str) -> bool:
    """Some namespace is labelled for ambient, or some pod of ``namespace`` asks for or has it."""
    if any(n.labels.get(DATAPLANE_MODE_LABEL) == "ambient" for n in ev.get_or([], Need.NAMESPACES)):
        return True
    for p in ev.get_or([], Need.PODS, namespace):
        if p.labels.get(DATAPLANE_MODE_LABEL) == "ambient" or REDIRECTION_ANNOTATION in p.annotations:
            return True
    return False


def dataplane_walk(ev: Evidence, namespace: str, pod: str | None) -> str:
    """What an examined pod walks: SIDECAR, AMBIENT, NONE_IN_AMBIENT_MESH (or ANY for a
    namespace-level walk where ambient is in use)."""
    in_use = ambient_in_use(ev, namespace)
    if pod is None:
        return ANY if in_use else SIDECAR
    mode = dataplane_of(ev, namespace, pod)
    if mode is None:
        return SIDECAR
    if mode.is_ambient:
        return AMBIENT
    if mode.mode in (DataplaneMode.NONE, DataplaneMode.OPTED_OUT) and in_use:
        return NONE_IN_AMBIENT_MESH
    return SIDECAR


def playbooks_for(playbooks: Iterable[Playbook], walk: str) -> list[Playbook]:
    """The playbooks an examined pod walks (order kept)."""
    pbs = list(playbooks)
    if walk == ANY:
        return pbs
    if walk == AMBIENT:
        return [p for p in pbs if "ambient" in p.dataplane]
    if walk == NONE_IN_AMBIENT_MESH:
        return [p for p in pbs if "none" in p.dataplane]
    return [p for p in pbs if "sidecar" in p.dataplane]


def ambient_playbooks(playbooks: Iterable[Playbook]) -> list[Playbook]:
    """Playbooks a sidecar-mesh diagnosis never walks (their evidence is gathered on demand)."""
    return [p for p in playbooks if "sidecar" not in p.dataplane]


def log_scouts(ev: Evidence, namespace: str) -> list[str]:
    """One ambient pod per node of the namespace: their ztunnel logs cover every node's log once."""
    seen: set[str] = set()
    out = []
    for p in ev.get_or([], Need.PODS, namespace):
        node = p.spec.node_name
        if node and node not in seen and pod_dataplane(p, _namespace(ev, namespace)).is_ambient:
            seen.add(node)
            out.append(p.name)
    return out


def _failing_in_logs(ev: Evidence, namespace: str) -> dict[str, str]:
    """Pods of ``namespace`` named by failing lines of the ztunnel logs gathered so far."""
    out: dict[str, str] = {}
    for item in ev.items():
        if item.key.need is not Need.ZTUNNEL_LOGS or not item.ok:
            continue
        for ln in item.value.lines:
            if not ln.error_kind:
                continue
            names = []
            if ln.is_access:
                for side in ("src", "dst"):
                    if ln.field(f"{side}.namespace") == namespace and ln.field(f"{side}.workload"):
                        names.append(ln.field(f"{side}.workload"))
            elif ln.field("name") and ln.field("namespace") in ("", namespace):
                names.append(ln.field("name"))
            elif "(" in ln.message and ln.message.endswith("from xds"):
                names.append(ln.message.rsplit("(", 1)[1].split(")")[0])
            for n in names:
                out.setdefault(n, f"ztunnel logged failures for it ({ln.error_kind})")
    return out


def ambient_flags(ev: Evidence, namespace: str) -> dict[str, str]:
    """Namespace scan: ambient pods worth examining in depth, and why (cheap signals plus the
    failures in the ztunnel logs of the namespace's nodes)."""
    out: dict[str, str] = {}
    for p in ev.get_or([], Need.PODS, namespace):
        if getattr(p.status, "phase", "") == "Succeeded":
            continue
        mode = pod_dataplane(p, _namespace(ev, namespace))
        if mode.mode is DataplaneMode.AMBIENT_PENDING:
            out[p.name] = f"annotation {REDIRECTION_ANNOTATION}=pending: no ztunnel accepted the pod"
        elif mode.mode is DataplaneMode.AMBIENT_NOT_CAPTURED:
            out[p.name] = f"meant for ambient ({mode.because[0]}) but istio-cni never enrolled it"
    names = {p.name for p in ev.get_or([], Need.PODS, namespace)}
    for name, why in _failing_in_logs(ev, namespace).items():
        if name in names:
            out.setdefault(name, why)
    return out


def related_pods(ev: Evidence, namespace: str, pod: str, *, limit: int = 3) -> list[RelatedPod]:
    """The other side of the pod's failing connections, from the ztunnel log of its node.

    ztunnel logs ``src.workload``/``dst.workload`` as pod names (src/proxy/metrics.rs): an
    outbound failure names the server, an inbound one the client. Inbound rejections are logged
    by the *server's* node ztunnel, outbound ones by the client's: the peer's own ztunnel log is
    the other half (AMB-GEN-WHICH-ZTUNNEL).
    """
    log = ev.get_or(None, Need.ZTUNNEL_LOGS, namespace, pod)
    me = _pod(ev, namespace, pod)
    if log is None or me is None:
        return []
    my_ips = {getattr(me, "ip", None)} - {None}
    counts: dict[tuple[str, str, str], int] = {}
    for ln in log.access:
        if not ln.failed:
            continue
        src_ip = ln.field("src.addr").rpartition(":")[0]
        dst_ip = (ln.field("dst.hbone_addr") or ln.field("dst.addr")).rpartition(":")[0]
        if ln.field("src.workload") == pod or src_ip in my_ips:
            peer = (ln.field("dst.namespace"), ln.field("dst.workload"), "server")
        elif ln.field("dst.workload") == pod or dst_ip in my_ips:
            peer = (ln.field("src.namespace"), ln.field("src.workload"), "client")
        else:
            continue
        if peer[0] and peer[1] and (peer[0], peer[1]) != (namespace, pod):
            counts[peer] = counts.get(peer, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [RelatedPod(ns, name, role, f"{n} failing connection(s) {'to' if role == 'server' else 'from'} it in the ztunnel "
                       f"log of {namespace}/{pod}'s node") for (ns, name, role), n in ranked]
