"""Readings shared by the ``P503-*`` checks: the ports and protocols Istio assigns
(``port_protocol``, the ports it reserves or sniffs), the proxy logs of the examined and related
pods (``pod_logs``), the server pods and Services behind a client's failures, and the citations
findings make.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import container_port_for, service_for_host
from istio_doctor.engine.mesh.protocol import (  # noqa: F401  (re-exported to the P503 modules)
    ISTIO_PORTS,
    SERVER_FIRST_IMAGES,
    SERVER_FIRST_PORTS,
    Protocol,
    of_service_port,
)
from istio_doctor.engine.mesh.protocol import WELL_KNOWN_TCP_PORTS as AUTO_TCP_PORTS  # noqa: F401
from istio_doctor.engine.model import EvidenceRef
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------

# Protocol selection, Istio's reserved ports and the server-first tables are mesh semantics:
# one home, engine/mesh/protocol.py (each rule from Istio's source).
DOC_NETWORK = "https://istio.io/latest/docs/ops/common-problems/network-issues/"


def port_protocol(ctx: CheckContext, sp: Any) -> Protocol:
    """The protocol Istio selects for a Service port at this control plane's version."""
    return of_service_port(sp, version=ctx.istio_version).protocol


@dataclass(frozen=True)
class PodLog:
    namespace: str
    pod: str
    role: str  # "target" | "server" | "client"
    log: Any


def pod_logs(ctx: CheckContext, *, required: bool = True) -> list[PodLog]:
    """The target's proxy log (raises when required and missing) plus the related pods' logs we have."""
    out: list[PodLog] = []
    if ctx.pod_name:
        log = ctx.proxy_log() if required else ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
        if log is not None:
            out.append(PodLog(ctx.namespace, ctx.pod_name, "target", log))
    for r in ctx.related:
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, r.namespace, r.name)
        if log is not None:
            out.append(PodLog(r.namespace, r.name, r.role, log))
    return out


def log_ref(ctx: CheckContext, pl: PodLog, entries: list[AccessLogEntry], note: str, limit: int = 5) -> EvidenceRef:
    return ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in entries[:limit]), note, namespace=pl.namespace, name=pl.pod)


def describe_group(entries: list[AccessLogEntry]) -> str:
    """``12× 503 UF,URX upstream_reset_before_response_started{connection_failure} to outbound|...``."""
    c: Counter[tuple[int, str, str, str]] = Counter(
        (e.response_code, ",".join(e.response_flags) or "-", e.response_code_details or "-", e.upstream_cluster or "-") for e in entries
    )
    parts = []
    for (code, flags, det, cl), n in c.most_common(3):
        parts.append(f"{n}× {code} {flags} {det} {'to' if not cl.startswith('inbound') else 'on'} {cl}")
    return "; ".join(parts)


def server_pods(ctx: CheckContext) -> list[tuple[Any, str]]:
    """(pod, why) for the target and every related server pod whose object we have."""
    out: list[tuple[Any, str]] = []
    if ctx.pod_name:
        out.append((ctx.pod(), "target"))
    for r in ctx.related:
        if r.role != "server":
            continue
        p = ctx.ev.get_or(None, Need.POD, r.namespace, r.name)
        if p is None:
            p = next((x for x in ctx.ev.get_or([], Need.PODS, r.namespace) if x.metadata.name == r.name), None)
        if p is not None:
            out.append((p, f"server of {r.service or 'the failing requests'}"))
    return out


def services_of(ctx: CheckContext, pod: Any, *, required: bool = True) -> list[Any]:
    """Services selecting the pod; raises (unknown) when SERVICES is required and missing."""
    svcs = ctx.ev.get(Need.SERVICES) if required else ctx.ev.get_or([], Need.SERVICES)
    return [s for s in svcs if s.selects(pod)]


def target_ports(ctx: CheckContext, pod: Any) -> list[tuple[Any, Any, int]]:
    """(service, service port, pod port) for every TCP Service port that selects the pod."""
    out = []
    for s in services_of(ctx, pod):
        for sp in s.spec.ports:
            if (sp.protocol or "TCP").upper() != "TCP":
                continue
            cp = container_port_for(s, sp, pod)
            if cp is not None and cp not in ISTIO_PORTS:
                out.append((s, sp, cp))
    return out


def pods_in(ctx: CheckContext, namespace: str) -> list[Any] | None:
    return ctx.ev.get_or(None, Need.PODS, namespace)


def entry_service(ctx: CheckContext, e: AccessLogEntry) -> tuple[Any | None, int | None, str | None]:
    """(Service, service port, subset) an outbound entry went to, from its cluster name."""
    us = e.upstream_service
    if us is None or us.direction != "outbound" or not us.fqdn:
        return None, None, None
    return service_for_host(ctx, us.fqdn), us.port, us.subset


def outbound_failures(pls: Iterable[PodLog], pred: Callable[[AccessLogEntry], bool]) -> list[tuple[PodLog, list[AccessLogEntry]]]:
    out = []
    for pl in pls:
        hits = [e for e in pl.log.entries if pred(e)]
        if hits:
            out.append((pl, hits))
    return out


def has_flag(e: AccessLogEntry, *flags: str) -> bool:
    return any(f in e.response_flags for f in flags)


def details_base(e: AccessLogEntry) -> str:
    return (e.response_code_details or "").split("{")[0]


def is_ip(host: str | None) -> bool:
    if not host:
        return False
    h = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(h.strip("[]"))
    except ValueError:
        return False
    return True


def pod_ref(pod: Any) -> str:
    return f"Pod {pod.metadata.namespace}/{pod.metadata.name}"


def svc_ref(svc: Any) -> str:
    return f"Service {svc.metadata.namespace}/{svc.metadata.name}"


def dump(obj: Any) -> Any:
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True) if hasattr(obj, "model_dump") else obj


def workload_name(pod: Any) -> str:
    wl = pod.owner_workload
    return f"{wl.kind.lower()}/{wl.name}" if wl else f"pod/{pod.metadata.name}"


def _uh(e: AccessLogEntry) -> bool:
    return has_flag(e, "UH") or (e.response_code_details or "") == "no_healthy_upstream"
