"""Playbook ``p503``: 503 after sidecar injection (checks ``P503-*``).

Every check here decides one cause of the same symptom, so the first thing each one does is
tell the sides apart: a client-side line (``outbound|...``) says what the caller's proxy saw,
a server-side line (``inbound|PORT||``) says the server's own proxy could not reach its app.
Causes that live on the server (localhost bind, wrong targetPort, failing readiness) are read
on the server pods: the target itself when it is the server, or the related server pods
(``ctx.related``, role ``server``) found from the target's failing requests.

A cause that is merely possible is never a failure: config-only findings fire only when the
config itself breaks traffic (a subset selecting no pod that a route uses, an app running as
UID 1337); the rest need the runtime signal that cause produces (the flag, the socket table,
the ejected host).
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import (
    container_port_for,
    destination_rule_for,
    effective_mtls,
    service_for_host,
    virtual_services_for_host,
)
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.istio import fqdn as to_fqdn
from istio_doctor.evidence.istio import host_matches, parse_duration
from istio_doctor.evidence.sockets import binds_only_localhost

# --------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------

#: Envoy/pilot-agent ports inside every injected pod; never the application's.
ISTIO_PORTS = frozenset({15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090})
#: protocol words Istio accepts as a port-name prefix or appProtocol (protocol-selection page).
KNOWN_PROTOCOLS = frozenset({"http", "http2", "https", "tcp", "tls", "grpc", "grpc-web", "mongo", "mysql", "redis", "udp", "h2c"})
HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc", "grpc-web", "h2c"})
#: ports Istio itself treats as TCP when undeclared (protocol-selection page: SMTP, DNS, MySQL, MongoDB).
AUTO_TCP_PORTS = frozenset({25, 53, 3306, 27017})
#: server-first protocols (the server speaks first, so sniffing waits forever) on their usual
#: ports that are NOT in Istio's auto-TCP list. Client-first protocols (PostgreSQL, Redis,
#: memcached) are deliberately absent: sniffing reads their first bytes and falls back to TCP.
SERVER_FIRST_PORTS: dict[int, str] = {
    21: "FTP", 22: "SSH", 110: "POP3", 143: "IMAP", 587: "SMTP submission", 2525: "SMTP",
    3307: "MySQL", 4222: "NATS",
}
SERVER_FIRST_IMAGES: dict[str, str] = {"mysql": "MySQL", "mariadb": "MySQL", "percona": "MySQL", "postfix": "SMTP",
                                       "mailhog": "SMTP", "nats": "NATS", "vsftpd": "FTP", "dovecot": "IMAP/POP3"}

DOC_NETWORK = "https://istio.io/latest/docs/ops/common-problems/network-issues/"


def port_protocol(name: str | None, app_protocol: str | None) -> str | None:
    """The protocol Istio reads from a Service port (appProtocol wins), None when undeclared (sniffed)."""
    if app_protocol:
        ap = app_protocol.lower()
        if ap in ("kubernetes.io/h2c",):
            return "http2"
        if ap in ("kubernetes.io/ws", "kubernetes.io/wss"):
            return "http"
        if ap in KNOWN_PROTOCOLS:
            return ap
    n = (name or "").lower()
    if n in KNOWN_PROTOCOLS:
        return n
    prefix = n.split("-", 1)[0]
    if n.startswith("grpc-web"):
        return "grpc-web"
    return prefix if prefix in KNOWN_PROTOCOLS and "-" in n else None


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


# --------------------------------------------------------------------------------------
# P503-LOCALHOST-BIND / P503-TARGETPORT: the server's sidecar cannot reach its app
# --------------------------------------------------------------------------------------


def _inbound_uf(pl: PodLog | None, port: int) -> list[AccessLogEntry]:
    if pl is None:
        return []
    return [
        e for e in pl.log.entries
        if e.direction == "inbound" and (e.upstream_service is None or e.upstream_service.port == port)
        and (has_flag(e, "UF") or "connection_failure" in (e.response_code_details or ""))
    ]


def _client_uf(pls: list[PodLog], svc: Any) -> tuple[PodLog | None, list[AccessLogEntry]]:
    for pl in pls:
        hits = [e for e in pl.log.entries if e.direction == "outbound" and e.upstream_service is not None
                and e.upstream_service.fqdn == svc.fqdn() and (has_flag(e, "UF") or "connection_failure" in (e.response_code_details or ""))]
        if hits:
            return pl, hits
    return None, []


def _sockets_of(ctx: CheckContext, pod: Any, role: str) -> Any | None:
    ns, nm = pod.metadata.namespace, pod.metadata.name
    if role == "target":
        return ctx.ev.get(Need.SOCKETS, ns, nm)
    return ctx.ev.get_or(None, Need.SOCKETS, ns, nm)


def _socket_rows(socks: list[Any], ports: Iterable[int] | None = None) -> str:
    want = set(ports) if ports is not None else None
    rows = [f"{s.proto:<5} {s.local_address}:{s.port} LISTEN" + (f" {s.process}" if s.process else "")
            for s in socks if want is None or s.port in want]
    return "\n".join(rows)


def _default_endpoint_for(ctx: CheckContext, pod: Any, port: int) -> str | None:
    """A Sidecar ``ingress.defaultEndpoint`` that sends this port to localhost (the documented workaround)."""
    for sc in ctx.ev.get_or([], Need.SIDECARS):
        if sc.metadata.namespace != pod.metadata.namespace:
            continue
        ws = sc.spec.workload_selector
        if ws is not None and ws.labels and not ws.matches(pod.labels):
            continue
        for ing in sc.spec.ingress:
            if ing.port is not None and ing.port.number is not None and ing.default_endpoint and (
                ing.port.number == port or ing.default_endpoint.endswith(f":{port}")
            ):
                return f"Sidecar {sc.metadata.namespace}/{sc.metadata.name} ingress port {ing.port.number} -> {ing.default_endpoint}"
    return None


@check("P503-LOCALHOST-BIND", needs=(Need.POD, Need.SERVICES, Need.SOCKETS), optional=(Need.PROXY_LOGS, Need.SIDECARS),
       peer_needs=(Need.SOCKETS, Need.PROXY_LOGS), min_istio="1.10")
def localhost_bind(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app listens only on 127.0.0.1, which the sidecar no longer forwards to since Istio 1.10."""
    pls = pod_logs(ctx, required=False)
    checked = []
    missing: tuple[str, str] | None = None
    for pod, role in server_pods(ctx):
        if not pod.has_sidecar or pod.is_gateway:
            continue
        socks = ctx.ev.get_or(None, Need.SOCKETS, pod.metadata.namespace, pod.metadata.name)
        if socks is None:
            # exec may be forbidden or unsupported; the server's own proxy log can still tell.
            inferred = _bind_inferred_from_logs(ctx, pod, pls)
            if inferred is not None:
                return inferred
            if role == "target":
                missing = (pod.metadata.namespace, pod.metadata.name)
            continue
        for svc, sp, cp in target_ports(ctx, pod):
            checked.append(f"{pod.metadata.name}:{cp}")
            if binds_only_localhost(socks, cp) is not True:
                continue
            if _default_endpoint_for(ctx, pod, cp) is not None:
                continue
            ns, nm = pod.metadata.namespace, pod.metadata.name
            server_pl = next((p for p in pls if p.namespace == ns and p.pod == nm), None)
            inbound = _inbound_uf(server_pl, cp)
            cpl, client = _client_uf(pls, svc)
            evidence = [ctx.ref(Need.SOCKETS, _socket_rows(socks, [cp]), f"port {cp} listens on loopback only", namespace=ns, name=nm)]
            observed = []
            if inbound and server_pl is not None:
                evidence.append(log_ref(ctx, server_pl, inbound, "the server's sidecar cannot connect to the app on the pod IP"))
                observed.append(describe_group(inbound))
            if client and cpl is not None:
                evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
                observed.append(describe_group(client))
            evidence.append(ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                                    "ports": [dump(sp)]}, f"{svc_ref(svc)} targets pod port {cp}"))
            return CheckResult.failed(
                f"{pod_ref(pod)} listens on 127.0.0.1:{cp} only; since Istio 1.10 its sidecar forwards inbound traffic "
                f"for {svc_ref(svc)} port {sp.port} to {pod.ip or 'the pod IP'}:{cp}, where nothing listens",
                evidence=evidence, observed=observed, confidence=0.95 if observed else 0.85,
                resources=[pod_ref(pod), svc_ref(svc)],
                fix=Fix(summary=f"Make the app in {workload_name(pod)} listen on 0.0.0.0:{cp} (all interfaces)", steps=[
                    FixStep(description="Change the app's bind address from 127.0.0.1 to 0.0.0.0 (e.g. its --host/--bind flag or "
                                        "listen setting) and redeploy", command=f"kubectl rollout restart {workload_name(pod)} -n {ns}"),
                    FixStep(description="Or, if the app must stay on localhost, send the port to it with a Sidecar ingress listener",
                            yaml_patch=yaml.safe_dump({
                                "apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                                "metadata": {"name": f"{svc.metadata.name}-localhost", "namespace": ns},
                                "spec": {"workloadSelector": {"labels": dict(svc.spec.selector)},
                                         "ingress": [{"port": {"number": cp, "protocol": (port_protocol(sp.name, sp.app_protocol) or "TCP").upper(),
                                                               "name": sp.name or f"port-{cp}"},
                                                      "defaultEndpoint": f"127.0.0.1:{cp}"}]}}, sort_keys=False)),
                ]),
            )
    if missing is not None:
        ctx.ev.get(Need.SOCKETS, *missing)  # raises: unknown, with the reason the sockets are missing
    if not checked:
        return CheckResult.not_applicable("no in-mesh server pod with a Service port and a socket table to compare")
    return CheckResult.passed(f"every Service target port is bound beyond loopback ({', '.join(checked[:6])})")


def _bind_inferred_from_logs(ctx: CheckContext, pod: Any, pls: list[PodLog]) -> CheckResult | None:
    """Without the socket table: the server's sidecar logs 503 UF connection_failure on a port
    the running app container declares. Since 1.10 that is what an app bound to 127.0.0.1
    produces (an app listening elsewhere would not declare the port; a crashed app is not
    Running). Reported with moderate confidence and the command that confirms it."""
    ns, nm = pod.metadata.namespace, pod.metadata.name
    server_pl = next((p for p in pls if p.namespace == ns and p.pod == nm), None)
    if server_pl is None:
        return None
    for svc, sp, cp in target_ports(ctx, pod):
        owner = next((c for c in pod.app_containers if any(p.container_port == cp for p in c.ports)), None)
        if owner is None or _default_endpoint_for(ctx, pod, cp) is not None:
            continue
        st = pod.container_status(owner.name)
        if st is None or st.state.running is None or st.restart_count > 3:
            continue  # not running (or crash looping): the app is down, not mis-bound
        inbound = _inbound_uf(server_pl, cp)
        if not inbound:
            continue
        cpl, client = _client_uf(pls, svc)
        sockets_item = ctx.ev.item(Need.SOCKETS, ns, nm)
        why = sockets_item.failure.reason if sockets_item is not None and sockets_item.failure is not None else "they were not gathered"
        evidence = [log_ref(ctx, server_pl, inbound, "the server's sidecar cannot connect to the app on the pod IP"),
                    ctx.ref(Need.POD, {"container": owner.name, "ports": [dump(p) for p in owner.ports], "state": "running"},
                            f"container {owner.name} declares port {cp} and is running", namespace=ns, name=nm)]
        observed = [describe_group(inbound)]
        if client and cpl is not None:
            evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
            observed.append(describe_group(client))
        return CheckResult.failed(
            f"{pod_ref(pod)}: its sidecar cannot connect to the app on {pod.ip or 'the pod IP'}:{cp} "
            f"({len(inbound)}× 503 UF connection_failure on inbound|{cp}||) although container {owner.name} declares port "
            f"{cp} and is running: the app most likely listens on 127.0.0.1 only (the listening sockets could not be read: {why})",
            evidence=evidence, observed=observed, confidence=0.7 if client else 0.62,
            resources=[pod_ref(pod), svc_ref(svc)],
            fix=Fix(summary=f"Confirm the bind address, then make the app in {workload_name(pod)} listen on 0.0.0.0:{cp}", steps=[
                FixStep(description="Confirm: a 127.0.0.1:PORT LISTEN line (and no 0.0.0.0 or pod-IP line) proves it",
                        command=f"kubectl exec {nm} -n {ns} -c istio-proxy -- netstat -tln"),
                FixStep(description="Change the app's bind address from 127.0.0.1 to 0.0.0.0 and redeploy",
                        command=f"kubectl rollout restart {workload_name(pod)} -n {ns}"),
            ]),
        )
    return None


@check("P503-TARGETPORT", needs=(Need.POD, Need.SERVICES, Need.SOCKETS), optional=(Need.PROXY_LOGS,),
       peer_needs=(Need.SOCKETS, Need.PROXY_LOGS))
def target_port(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Service targetPort on which nothing in the pod listens, while the app listens on another port."""
    pls = pod_logs(ctx, required=False)
    checked = []
    for pod, role in server_pods(ctx):
        # a gateway's listeners are Envoy's own, opened per Gateway server: a Service port with no
        # Gateway behind it (443 on a default install) is not a targetPort mistake
        socks = _sockets_of(ctx, pod, role) if pod.has_sidecar and not pod.is_gateway else None
        if socks is None:
            continue
        app_listeners = sorted({s.port for s in socks if s.port not in ISTIO_PORTS})
        for svc, sp, cp in target_ports(ctx, pod):
            checked.append(f"{svc.metadata.name}:{sp.port}->{cp}")
            if binds_only_localhost(socks, cp) is not None or not app_listeners:
                # something listens there (maybe only on loopback: P503-LOCALHOST-BIND), or the
                # app listens nowhere yet (not started / crashed): not a targetPort mistake.
                continue
            if not pod.ready and not any(s.port for s in socks if s.port not in ISTIO_PORTS):
                continue
            declared = sorted({p.container_port for c in pod.app_containers for p in c.ports})
            ns, nm = pod.metadata.namespace, pod.metadata.name
            server_pl = next((p for p in pls if p.namespace == ns and p.pod == nm), None)
            inbound = _inbound_uf(server_pl, cp)
            cpl, client = _client_uf(pls, svc)
            evidence = [
                ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                        f"targetPort resolves to pod port {cp}"),
                ctx.ref(Need.SOCKETS, _socket_rows(socks, app_listeners), f"the app listens on {app_listeners}, not on {cp}",
                        namespace=ns, name=nm),
            ]
            observed = []
            if inbound and server_pl is not None:
                evidence.append(log_ref(ctx, server_pl, inbound, "the server's sidecar gets connection refused from the app port"))
                observed.append(describe_group(inbound))
            if client and cpl is not None:
                evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
                observed.append(describe_group(client))
            guess = next((p for p in app_listeners if p in declared), app_listeners[0])
            patch = json.dumps([{"op": "replace", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/targetPort", "value": guess}])
            return CheckResult.failed(
                f"{svc_ref(svc)} port {sp.port} targets pod port {cp} (targetPort: {sp.effective_target_port}) but nothing in "
                f"{pod_ref(pod)} listens on {cp}; the app listens on {', '.join(map(str, app_listeners))}"
                + (f" (containerPorts {declared})" if declared else ""),
                evidence=evidence, observed=observed, confidence=0.93 if observed else 0.8,
                resources=[svc_ref(svc), pod_ref(pod)],
                fix=Fix(summary=f"Point {svc_ref(svc)} port {sp.port} at the port the app listens on ({guess})", steps=[
                    FixStep(description=f"Set targetPort to {guess}",
                            command=f"kubectl patch service {svc.metadata.name} -n {svc.metadata.namespace} --type=json -p '{patch}'"),
                ]),
            )
    if not checked:
        return CheckResult.not_applicable("no in-mesh server pod with a Service port and a socket table to compare")
    return CheckResult.passed(f"every Service target port has a listener ({', '.join(checked[:6])})")


# --------------------------------------------------------------------------------------
# protocol: declared vs spoken
# --------------------------------------------------------------------------------------


def _service_by_ip_port(ctx: CheckContext, addr: str | None) -> tuple[Any, Any] | None:
    if not addr or ":" not in addr:
        return None
    ip, _, port_s = addr.rpartition(":")
    ip = ip.strip("[]")
    if not port_s.isdigit():
        return None
    for s in ctx.ev.get_or([], Need.SERVICES):
        if s.spec.cluster_ip == ip or ip in s.spec.cluster_ips:
            sp = s.port(int(port_s))
            if sp is not None:
                return s, sp
    return None


def _entry_port(ctx: CheckContext, pl: PodLog, e: AccessLogEntry) -> tuple[Any, Any] | None:
    """The Service and Service port an entry is about, on either side of the connection."""
    svc, port, _ = entry_service(ctx, e)
    if svc is not None and port is not None:
        sp = svc.port(port)
        return (svc, sp) if sp is not None else None
    if e.direction == "inbound" and e.upstream_service is not None:
        pod = ctx.ev.get_or(None, Need.POD, pl.namespace, pl.pod)
        if pod is not None:
            for s, sp, cp in target_ports(ctx, pod):
                if cp == e.upstream_service.port:
                    return s, sp
    return _service_by_ip_port(ctx, e.downstream_local_address)


def _is_protocol_error(e: AccessLogEntry) -> bool:
    det = e.response_code_details or ""
    return has_flag(e, "UPE", "DPE") or "protocol_error" in det or "codec_error" in det or "http1.codec_error" in det


@check("P503-PROTOCOL-MISMATCH", needs=(Need.POD, Need.SERVICES, Need.PROXY_LOGS), peer_needs=(Need.PROXY_LOGS,))
def protocol_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A port declared HTTP/gRPC (name prefix or appProtocol) carries something that is not HTTP (UPE/DPE)."""
    ctx.ev.get(Need.SERVICES)  # required: the declared protocol lives there
    pls = pod_logs(ctx)
    for pl in pls:
        bad = [e for e in pl.log.entries if _is_protocol_error(e)]
        by_port: dict[tuple[str, int], tuple[Any, Any, list[AccessLogEntry]]] = {}
        for e in bad:
            hit = _entry_port(ctx, pl, e)
            if hit is None:
                continue
            svc, sp = hit
            proto = port_protocol(sp.name, sp.app_protocol)
            if proto not in HTTP_PROTOCOLS:
                continue
            by_port.setdefault((svc.fqdn(), sp.port), (svc, sp, []))[2].append(e)
        for (_, _), (svc, sp, entries) in by_port.items():
            proto = port_protocol(sp.name, sp.app_protocol)
            tls_hint = any("DPE" in e.response_flags for e in entries)
            how = (f"name: {sp.name}" if not sp.app_protocol else f"appProtocol: {sp.app_protocol}")
            new_name = "tls" if tls_hint else "tcp"
            patch = json.dumps([{"op": "replace", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/name", "value": f"{new_name}-{sp.port}"}]
                               + ([{"op": "remove", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/appProtocol"}] if sp.app_protocol else []))
            return CheckResult.failed(
                f"{svc_ref(svc)} port {sp.port} is declared {proto.upper()} ({how}) but the traffic on it is not "
                f"{proto.upper()}: {describe_group(entries)}",
                evidence=[ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                                  f"declared protocol {proto}"),
                          log_ref(ctx, pl, entries, "Envoy could not parse the bytes as HTTP")],
                observed=[describe_group(entries)], confidence=0.9,
                resources=[svc_ref(svc)],
                fix=Fix(summary=f"Declare the protocol the app really speaks on {svc_ref(svc)} port {sp.port} "
                                f"(e.g. name it {new_name}-… or set appProtocol: {new_name}); Envoy requires HTTP/1.1 or later on HTTP ports",
                        steps=[FixStep(description=f"Rename the port to {new_name}-{sp.port}",
                                       command=f"kubectl patch service {svc.metadata.name} -n {svc.metadata.namespace} --type=json -p '{patch}'")]),
            )
    n = sum(1 for pl in pls for e in pl.log.entries if _is_protocol_error(e))
    if n:
        return CheckResult.passed(f"{n} protocol error(s) in the logs, none on a port declared HTTP/gRPC")
    return CheckResult.passed("no UPE/DPE protocol errors in the proxy logs")


def _server_first_reason(sp: Any, pods: list[Any], cp: int | None) -> str | None:
    for p in (sp.port, cp):
        if p in SERVER_FIRST_PORTS:
            return f"port {p} is the usual {SERVER_FIRST_PORTS[p]} port"
    for pod in pods:
        for c in pod.app_containers:
            img = (c.image or "").rsplit("/", 1)[-1].split(":", 1)[0].lower()
            proto = SERVER_FIRST_IMAGES.get(img)
            if proto and (cp is None or any(x.container_port == cp for x in c.ports) or not c.ports):
                return f"container {c.name} runs {c.image} ({proto}, the server speaks first)"
    return None


@check("P503-SERVER-FIRST", needs=(Need.POD, Need.SERVICES), optional=(Need.PROXY_LOGS, Need.PODS),
       peer_needs=(Need.PROXY_LOGS,))
def server_first(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A server-first protocol (MySQL, SMTP, NATS…) on a port whose protocol Istio must sniff, so connections hang."""
    candidates: list[tuple[Any, list[Any]]] = []
    seen: set[str] = set()
    for pod, _role in server_pods(ctx):
        for s in services_of(ctx, pod):
            if s.fqdn() not in seen:
                seen.add(s.fqdn())
                candidates.append((s, [pod]))
    # services the target calls (a hung server-first connection often logs no failure at all)
    for pl in pod_logs(ctx, required=False):
        if pl.role != "target":
            continue
        for e in pl.log.entries:
            svc, _, _ = entry_service(ctx, e)
            if svc is not None and svc.fqdn() not in seen:
                seen.add(svc.fqdn())
                pods = [p for p in (pods_in(ctx, svc.metadata.namespace) or []) if svc.selects(p)]
                candidates.append((svc, pods))
    looked = 0
    for svc, pods in candidates:
        for sp in svc.spec.ports:
            if (sp.protocol or "TCP").upper() != "TCP" or port_protocol(sp.name, sp.app_protocol) is not None:
                continue
            looked += 1
            cp = container_port_for(svc, sp, pods[0]) if pods else (sp.effective_target_port if isinstance(sp.effective_target_port, int) else None)
            if sp.port in AUTO_TCP_PORTS or cp in AUTO_TCP_PORTS:
                continue  # Istio treats these as TCP without sniffing
            why = _server_first_reason(sp, pods, cp)
            if why is None:
                continue
            hung = []
            for pl in pod_logs(ctx, required=False):
                hung += [e for e in pl.log.entries if e.is_tcp and e.upstream_service is not None and e.upstream_service.fqdn == svc.fqdn()
                         and (e.bytes_sent or 0) == 0 and (e.bytes_received or 0) == 0]
            patch = json.dumps([{"op": "replace", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/name", "value": f"tcp-{sp.port}"}])
            return CheckResult.failed(
                f"{svc_ref(svc)} port {sp.port} (name {sp.name or '<unnamed>'!s}, no appProtocol) declares no protocol, so the "
                f"sidecars sniff it and wait for the client's first bytes, but {why}: connections hang",
                evidence=[ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                                  "no protocol declared: Istio sniffs this port")],
                observed=[f"{len(hung)}× TCP connection to {svc.fqdn()} closed with 0 bytes"] if hung else [],
                confidence=0.85 if hung else 0.7, resources=[svc_ref(svc)],
                fix=Fix(summary=f"Declare {svc_ref(svc)} port {sp.port} as TCP (name tcp-… or appProtocol: tcp) so Istio does not sniff it",
                        steps=[FixStep(description=f"Rename the port to tcp-{sp.port}",
                                       command=f"kubectl patch service {svc.metadata.name} -n {svc.metadata.namespace} --type=json -p '{patch}'")]),
            )
    if not looked:
        return CheckResult.not_applicable("every Service port involved declares its protocol")
    return CheckResult.passed(f"{looked} sniffed Service port(s), none carrying a known server-first protocol")


@check("P503-MULTI-SVC-PROTOCOL", needs=(Need.POD, Need.SERVICES), peer_needs=())
def multi_svc_protocol(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Several Services select the pod with the same port but different protocols, or the same targetPort on different ports."""
    for pod, _role in server_pods(ctx):
        if not pod.has_sidecar:
            continue
        svcs = services_of(ctx, pod)
        if len(svcs) < 2:
            continue
        by_port: dict[int, list[tuple[Any, Any, str]]] = {}
        by_target: dict[int, list[tuple[Any, Any]]] = {}
        for s in svcs:
            for sp in s.spec.ports:
                proto = port_protocol(sp.name, sp.app_protocol) or "auto (sniffed)"
                proto = "tcp" if proto in ("tcp", "mysql", "mongo", "redis") else ("http" if proto in HTTP_PROTOCOLS else proto)
                by_port.setdefault(sp.port, []).append((s, sp, proto))
                cp = container_port_for(s, sp, pod)
                if cp is not None:
                    by_target.setdefault(cp, []).append((s, sp))
        for port, rows in sorted(by_port.items()):
            protos = {r[2] for r in rows}
            if len(protos) > 1 and len({r[0].metadata.name for r in rows}) > 1:
                desc = ", ".join(f"{svc_ref(s)} ({sp.name or 'unnamed'}: {p})" for s, sp, p in rows)
                return CheckResult.failed(
                    f"{pod_ref(pod)} is selected by Services using port {port} with different protocols: {desc}; "
                    "Istio builds one listener per port and cannot serve both",
                    evidence=[ctx.ref(Need.SERVICES, [{"name": s.metadata.name, "namespace": s.metadata.namespace, "ports": [dump(sp)]}
                                                      for s, sp, _ in rows], "same port, different protocols")],
                    resources=[svc_ref(s) for s, _, _ in rows] + [pod_ref(pod)],
                    fix=Fix(summary=f"Give port {port} the same protocol in every Service that selects {workload_name(pod)}, or consolidate the Services"),
                )
        for cp, rows in sorted(by_target.items()):
            ports = {sp.port for _, sp in rows}
            if len(ports) > 1 and len({s.metadata.name for s, _ in rows}) > 1:
                desc = ", ".join(f"{svc_ref(s)} port {sp.port}" for s, sp in rows)
                return CheckResult.failed(
                    f"{pod_ref(pod)} is selected by Services that send different ports to the same targetPort {cp}: {desc}",
                    evidence=[ctx.ref(Need.SERVICES, [{"name": s.metadata.name, "namespace": s.metadata.namespace, "ports": [dump(sp)]}
                                                      for s, sp in rows], "same targetPort, different ports")],
                    resources=[svc_ref(s) for s, _ in rows] + [pod_ref(pod)], confidence=0.65,
                    fix=Fix(summary=f"Use the same Service port for targetPort {cp} in every Service selecting {workload_name(pod)}"),
                )
    return CheckResult.passed("no two Services selecting the examined pods disagree on a port")


@check("P503-NO-SERVICE", needs=(Need.POD, Need.SERVICES), optional=(Need.PROXY_LOGS,))
def no_service(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An in-mesh pod that receives traffic (or exposes ports) but no Service selects it."""
    pod = ctx.pod()
    if not pod.has_sidecar or pod.is_gateway:
        return CheckResult.not_applicable(f"{pod_ref(pod)} is not a sidecar-injected workload")
    svcs = services_of(ctx, pod)
    if svcs:
        return CheckResult.passed(f"{pod_ref(pod)} is selected by {', '.join(svc_ref(s) for s in svcs)}")
    ports = sorted({p.container_port for c in pod.app_containers for p in c.ports})
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    passthrough = [e for e in (log.entries if log else []) if (e.upstream_cluster or "").startswith("InboundPassthroughCluster")]
    if not ports and not passthrough:
        return CheckResult.passed(f"{pod_ref(pod)} has no Service but exposes no port and receives no traffic (a pure client)")
    evidence = [ctx.ref(Need.POD, {"labels": pod.labels, "containerPorts": ports}, "labels no Service selector matches")]
    observed = []
    if passthrough and log is not None:
        evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in passthrough[:3]), "inbound traffic only through InboundPassthroughCluster"))
        observed.append(f"{len(passthrough)}× inbound request via InboundPassthroughCluster")
    return CheckResult.failed(
        f"no Service in namespace {pod.metadata.namespace} selects {pod_ref(pod)} (labels {pod.labels}); it exposes "
        f"{ports or 'no declared ports'}, so it is not reachable by a Service name and its inbound traffic has no inbound|PORT|| cluster",
        evidence=evidence, observed=observed, confidence=0.8 if observed else 0.6, resources=[pod_ref(pod)],
        fix=Fix(summary=f"Create a Service selecting {workload_name(pod)} (or fix the selector of the Service meant to)", steps=[
            FixStep(description="Expose the workload", command=f"kubectl expose {workload_name(pod)} -n {pod.metadata.namespace}"
                    + (f" --port={ports[0]} --name={pod.labels.get('app', pod.metadata.name)}" if ports else "")),
        ]),
    )


# --------------------------------------------------------------------------------------
# UH: no (healthy) endpoint
# --------------------------------------------------------------------------------------


def _uh(e: AccessLogEntry) -> bool:
    return has_flag(e, "UH") or (e.response_code_details or "") == "no_healthy_upstream"


@dataclass
class Backing:
    svc: Any
    selected: list[Any]
    ready: list[Any]
    slice_ready: int | None
    slices: list[Any]


def _backing(ctx: CheckContext, svc: Any, subset_labels: dict[str, str] | None = None) -> Backing | None:
    ns = svc.metadata.namespace
    pods = pods_in(ctx, ns)
    slices = [s for s in ctx.ev.get_or([], Need.ENDPOINTSLICES, ns) if s.service_name == svc.metadata.name]
    if pods is None and not slices:
        return None
    selected = [p for p in (pods or []) if svc.selects(p) and p.phase not in ("Succeeded", "Failed")]
    if subset_labels:
        selected = [p for p in selected if all(p.labels.get(k) == v for k, v in subset_labels.items())]
    ready = [p for p in selected if p.ready]
    slice_ready = sum(len(s.ready_addresses) for s in slices) if slices and not subset_labels else None
    return Backing(svc, selected, ready, slice_ready, slices)


def _subset_labels(ctx: CheckContext, fqdn: str, subset: str | None, client_ns: str) -> tuple[Any | None, dict[str, str] | None]:
    if not subset:
        return None, None
    applied = destination_rule_for(ctx, fqdn, client_ns)
    if applied is None:
        return None, None
    sub = applied.rule.subset(subset)
    return applied.rule, (dict(sub.labels) if sub is not None else None)


def _failed_creates(ctx: CheckContext, svc: Any) -> list[Any]:
    """FailedCreate warnings of the ReplicaSets that would create the Service's pods.

    A Service that selects no pod is usually not a selector typo when its pods cannot be created
    (an admission webhook that times out, a quota, Pod Security): the selector is fine and the fix
    is whatever rejects the pods. Without the ReplicaSet objects, its name (Deployment name +
    template hash) ties it to the Service: the Deployment is named after the Service or its ``app``.
    """
    ns = svc.metadata.namespace
    names = {svc.metadata.name, *(v for k, v in svc.spec.selector.items() if k in ("app", "app.kubernetes.io/name"))}
    out = []
    for e in ctx.ev.get_or([], Need.EVENTS, ns):
        obj = e.involved_object
        if e.reason != "FailedCreate" or (obj.kind or "") != "ReplicaSet" or not obj.name:
            continue
        deploy = obj.name.rsplit("-", 1)[0]
        if any(deploy == n or deploy.startswith(n + "-") for n in names):
            out.append(e)
    return out


@check("P503-NO-ENDPOINTS", needs=(Need.POD, Need.SERVICES, Need.PROXY_LOGS),
       optional=(Need.PODS, Need.ENDPOINTSLICES, Need.DESTINATION_RULES, Need.CONFIG_DUMP, Need.EVENTS), peer_needs=(Need.PROXY_LOGS,))
def no_endpoints(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UH no_healthy_upstream because the Service has no ready endpoint (readiness failing, selector matching nothing)."""
    pls = pod_logs(ctx)
    hits = outbound_failures(pls, lambda e: e.direction == "outbound" and _uh(e))
    for pl, entries in hits:
        by_cluster: dict[str, list[AccessLogEntry]] = {}
        for e in entries:
            by_cluster.setdefault(e.upstream_cluster or "", []).append(e)
        for cluster, es in by_cluster.items():
            svc, port, subset = entry_service(ctx, es[0])
            if svc is None:
                continue
            dr, labels = _subset_labels(ctx, svc.fqdn(), subset, pl.namespace)
            if subset and labels is not None:
                b_all = _backing(ctx, svc)
                if b_all is not None and not [p for p in b_all.selected if all(p.labels.get(k) == v for k, v in labels.items())]:
                    continue  # the subset selects no pod at all: P503-SUBSET-NO-PODS
            b = _backing(ctx, svc, labels)
            if b is None:
                continue
            no_ready = (b.slice_ready == 0) if b.slice_ready is not None else (not b.ready)
            if b.slice_ready is None and b.selected and b.ready:
                no_ready = False
            if not no_ready:
                continue
            evidence = [log_ref(ctx, pl, es, "the client's proxy found no healthy endpoint")]
            if b.slices:
                evidence.append(ctx.ref(Need.ENDPOINTSLICES, [{"name": s.metadata.name, "endpoints": [dump(ep) for ep in s.endpoints]} for s in b.slices],
                                        f"EndpointSlices of {svc_ref(svc)}", namespace=svc.metadata.namespace))
            sel = ",".join(f"{k}={v}" for k, v in svc.spec.selector.items())
            failed_creates = _failed_creates(ctx, svc) if not b.selected else []
            if failed_creates:
                fc = failed_creates[0]
                why = (f"its selector {sel} matches no running pod because ReplicaSet {svc.metadata.namespace}/{fc.involved_object.name} "
                       f"cannot create them (FailedCreate x{fc.count or 1}): {fc.message}")
                evidence.append(ctx.ref(Need.EVENTS, "\n".join(f"{e.type} {e.reason} {(e.involved_object.kind or '').lower()}/{e.involved_object.name} "
                                                               f"x{e.count or 1}: {e.message}" for e in failed_creates[:3]),
                                        "pod creation failures", namespace=svc.metadata.namespace))
                fix = Fix(summary=f"Fix what rejects the creation of the pods of {svc_ref(svc)} (the FailedCreate message names it: "
                                  "an admission webhook, a quota, Pod Security); the selector is not the problem", steps=[
                    FixStep(description="Read the ReplicaSet's events",
                            command=f"kubectl describe replicaset {fc.involved_object.name} -n {svc.metadata.namespace}")])
            elif not b.selected:
                why = f"its selector {sel} matches no running pod"
                fix = Fix(summary=f"Fix the selector of {svc_ref(svc)} (or the pod labels) so it selects the intended pods", steps=[
                    FixStep(description="Compare the selector with the pod labels",
                            command=f"kubectl get pods -n {svc.metadata.namespace} --show-labels; kubectl get svc {svc.metadata.name} -n {svc.metadata.namespace} -o jsonpath='{{.spec.selector}}'")])
            else:
                names = ", ".join(p.metadata.name for p in b.selected[:4])
                why = f"its {len(b.selected)} pod(s) ({names}) are not Ready"
                evidence.append(ctx.ref(Need.PODS, [{"name": p.metadata.name, "conditions": [dump(c) for c in p.status.conditions if c.type == "Ready"],
                                                     "containerStatuses": [{"name": s.name, "ready": s.ready, "restartCount": s.restart_count}
                                                                           for s in p.status.container_statuses]} for p in b.selected[:4]],
                                        "pods behind the Service", namespace=svc.metadata.namespace))
                fix = Fix(summary=f"Find why the pods of {svc_ref(svc)} fail readiness and fix it", steps=[
                    FixStep(description="Read the readiness failures", command=f"kubectl describe pod {b.selected[0].metadata.name} -n {svc.metadata.namespace}")])
            return CheckResult.failed(
                f"{describe_group(es)}: {svc_ref(svc)}{f' subset {subset}' if subset else ''} has no ready endpoint: {why}",
                evidence=evidence, observed=[describe_group(es)], confidence=0.93, resources=[svc_ref(svc)], fix=fix)
    # the target as a server: its Services have no ready endpoint at all
    pod = ctx.pod()
    for svc in services_of(ctx, pod):
        b = _backing(ctx, svc)
        if b is not None and b.slice_ready == 0 and b.slices:
            return CheckResult.failed(
                f"{svc_ref(svc)}, which selects {pod_ref(pod)}, has no ready endpoint: every caller gets 503 UH no_healthy_upstream",
                evidence=[ctx.ref(Need.ENDPOINTSLICES, [{"name": s.metadata.name, "endpoints": [dump(ep) for ep in s.endpoints]} for s in b.slices],
                                  f"EndpointSlices of {svc_ref(svc)}", namespace=svc.metadata.namespace)],
                confidence=0.8, resources=[svc_ref(svc), pod_ref(pod)],
                fix=Fix(summary=f"Make the pods of {svc_ref(svc)} Ready", steps=[
                    FixStep(description="Read the readiness failures", command=f"kubectl describe pod {pod.metadata.name} -n {pod.metadata.namespace}")]))
    if not hits:
        return CheckResult.passed("no 503 UH no_healthy_upstream in the proxy logs and the pod's Services have ready endpoints")
    return CheckResult.passed("the UH responses are not explained by a Service without ready endpoints (pods are Ready)")


def _rewrite_disabled(pod: Any) -> bool:
    return pod.annotations.get("sidecar.istio.io/rewriteAppHTTPProbers", "").lower() == "false"


@check("P503-PROBE-REWRITE", needs=(Need.POD, Need.PEER_AUTHENTICATIONS), optional=(Need.EVENTS, Need.PODS, Need.PROXY_LOGS,
       Need.SERVICES, Need.CONTROL_PLANE_CONFIGMAPS), peer_needs=(Need.PROXY_LOGS,))
def probe_rewrite(ctx: CheckContext, _: NoParams) -> CheckResult:
    """HTTP probes not rewritten to the agent (rewriteAppHTTPProbers: false) hit a STRICT mTLS port: kubelet fails readiness."""
    ctx.resources(Need.PEER_AUTHENTICATIONS)  # required: without it no probe can be judged
    cands: dict[tuple[str, str], Any] = {}
    for pod, _role in server_pods(ctx):
        cands[(pod.metadata.namespace, pod.metadata.name)] = pod
    # pods behind the Services the target's UH requests went to
    for pl in pod_logs(ctx, required=False):
        for e in pl.log.entries:
            if _uh(e) and ctx.ev.has(Need.SERVICES):
                svc, _, _ = entry_service(ctx, e)
                for p in [p for p in (pods_in(ctx, svc.metadata.namespace) or []) if svc.selects(p)] if svc is not None else []:
                    cands.setdefault((p.metadata.namespace, p.metadata.name), p)
    looked = 0
    for pod in cands.values():
        if not pod.has_sidecar:
            continue
        for pr in pod.probes:
            hg = pr.probe.http_get
            if hg is None:
                continue
            looked += 1
            if hg.port == 15020 or str(hg.port) == "15020" or (hg.path or "").startswith("/app-health/"):
                continue  # rewritten: the agent probes the app from inside the pod
            port = hg.port if isinstance(hg.port, int) else next(
                (p.container_port for c in pod.app_containers for p in c.ports if p.name == hg.port), None)
            mtls = effective_mtls(ctx, pod, port)
            if mtls.mode != "STRICT":
                continue
            events = [e for e in ctx.ev.get_or([], Need.EVENTS, pod.metadata.namespace)
                      if e.involved_object.name == pod.metadata.name and (e.reason == "Unhealthy" or "probe failed" in (e.message or ""))]
            if pod.ready and not events:
                continue  # the probe passes: not this pod's problem now
            ann = pod.annotations.get("sidecar.istio.io/rewriteAppHTTPProbers")
            evidence = [ctx.ref(Need.POD, {"annotations": {k: v for k, v in pod.annotations.items() if k.startswith("sidecar.istio.io/rewrite")},
                                           f"{pr.kind}Probe": dump(pr.probe), "ready": pod.ready},
                                f"{pr.kind} probe of container {pr.container} is not rewritten to :15020/app-health",
                                namespace=pod.metadata.namespace, name=pod.metadata.name)]
            if mtls.policy is not None:
                evidence.append(ctx.ref(Need.PEER_AUTHENTICATIONS, dump(mtls.policy), mtls.source))
            observed = []
            if events:
                evidence.append(ctx.ref(Need.EVENTS, "\n".join(f"{e.type} {e.reason} pod/{pod.metadata.name}: {e.message} (x{e.count or 1})" for e in events[:3]),
                                        "kubelet's probe is rejected", namespace=pod.metadata.namespace))
                observed.append(f"{events[0].reason}: {events[0].message}")
            wl = workload_name(pod)
            how = f'disabled (sidecar.istio.io/rewriteAppHTTPProbers: "{ann}")' if ann else "not applied"
            return CheckResult.failed(
                f"{pod_ref(pod)}: the {pr.kind} probe (httpGet port {hg.port} {hg.path or '/'}) goes through the sidecar, which "
                f"requires mTLS ({mtls.mode} from {mtls.source}), because HTTP probe rewriting is "
                f"{how}; "
                f"kubelet's plaintext probe fails and the pod is {'not Ready' if not pod.ready else 'failing probes'}",
                evidence=evidence, observed=observed, confidence=0.92 if (not pod.ready or events) else 0.7,
                resources=[pod_ref(pod)] + ([f"PeerAuthentication {mtls.policy.metadata.namespace}/{mtls.policy.metadata.name}"] if mtls.policy is not None else []),
                fix=Fix(summary="Let Istio rewrite the HTTP probes (the default) so pilot-agent probes the app from inside the pod", steps=[
                    FixStep(description=f"Remove the opt-out annotation from the pod template of {wl}",
                            command=f"kubectl patch {wl} -n {pod.metadata.namespace} --type=json -p "
                                    "'[{\"op\":\"remove\",\"path\":\"/spec/template/metadata/annotations/sidecar.istio.io~1rewriteAppHTTPProbers\"}]'"),
                    FixStep(description="Or use exec/tcp probes, or PERMISSIVE mTLS on the probe port"),
                ]),
            )
    if not looked:
        return CheckResult.not_applicable("no HTTP probe on the examined in-mesh pods")
    return CheckResult.passed(f"{looked} HTTP probe(s): rewritten, not under STRICT mTLS, or passing")


@check("P503-SUBSET-NO-PODS", needs=(Need.POD, Need.SERVICES, Need.DESTINATION_RULES, Need.PROXY_LOGS),
       optional=(Need.PODS, Need.VIRTUAL_SERVICES, Need.ANALYZE, Need.DESCRIBE), peer_needs=(Need.PROXY_LOGS,))
def subset_no_pods(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule subset whose labels select no pod of its host, used by a route (503 UH)."""
    pls = pod_logs(ctx)
    # 1. runtime: UH to a subset cluster
    for pl in pls:
        for e in pl.log.entries:
            if not (e.direction == "outbound" and (_uh(e) or has_flag(e, "NR"))):
                continue
            svc, _, subset = entry_service(ctx, e)
            if svc is None or not subset:
                continue
            res = _subset_empty(ctx, svc, subset, pl.namespace)
            if res is None:
                continue
            dr, labels, pods = res
            es = [x for x in pl.log.entries if x.upstream_cluster == e.upstream_cluster and is_failure(x)]
            return _subset_fail(ctx, svc, dr, subset, labels, pods, [log_ref(ctx, pl, es, "503 UH on the subset's cluster")], [describe_group(es)], 0.95)
    # 2. config: a subset routed to by a mesh VirtualService for a host the target serves or calls
    hosts: dict[str, Any] = {}
    pod = ctx.pod()
    for s in services_of(ctx, pod):
        hosts[s.fqdn()] = s
    for pl in pls:
        for e in pl.log.entries:
            svc, _, _ = entry_service(ctx, e)
            if svc is not None:
                hosts.setdefault(svc.fqdn(), svc)
    for host, svc in hosts.items():
        for vs in virtual_services_for_host(ctx, host, client_namespace=ctx.namespace):
            for d in vs.destinations:
                if not d.subset or to_fqdn(d.host, vs.metadata.namespace or "default") != host:
                    continue
                res = _subset_empty(ctx, svc, d.subset, ctx.namespace)
                if res is None:
                    continue
                dr, labels, pods = res
                ev = [ctx.ref(Need.VIRTUAL_SERVICES, dump(vs.spec), f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} routes to subset {d.subset}")]
                analyze = [m for m in ctx.ev.get_or([], Need.ANALYZE, ctx.namespace) if m.code == "IST0173"]
                if analyze:
                    ev.append(ctx.ref(Need.ANALYZE, "\n".join(f"{m.level} [{m.code}] ({m.origin}) {m.message}" for m in analyze[:3]), "istioctl analyze agrees"))
                return _subset_fail(ctx, svc, dr, d.subset, labels, pods, ev, [], 0.8)
    return CheckResult.passed("every DestinationRule subset in use selects at least one pod")


def _subset_empty(ctx: CheckContext, svc: Any, subset: str, client_ns: str) -> tuple[Any, dict[str, str], list[Any]] | None:
    dr, labels = _subset_labels(ctx, svc.fqdn(), subset, client_ns)
    if dr is None or labels is None:
        return None
    pods = pods_in(ctx, svc.metadata.namespace)
    if pods is None:
        return None
    behind = [p for p in pods if svc.selects(p)]
    if not behind:
        return None  # the Service itself selects nothing: P503-NO-ENDPOINTS
    if any(all(p.labels.get(k) == v for k, v in labels.items()) for p in behind):
        return None
    return dr, labels, behind


def _subset_fail(ctx: CheckContext, svc: Any, dr: Any, subset: str, labels: dict[str, str], pods: list[Any],
                 evidence: list[EvidenceRef], observed: list[str], conf: float) -> CheckResult:
    versions = sorted({",".join(f"{k}={p.labels.get(k, '<none>')}" for k in labels) for p in pods})
    sub = dr.subset(subset)
    evidence = [ctx.ref(Need.DESTINATION_RULES, {"host": dr.spec.host, "subsets": [dump(sub)]},
                        f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name} subset {subset}"),
                ctx.ref(Need.PODS, "\n".join(f"{p.metadata.name} {','.join(f'{k}={v}' for k, v in sorted(p.labels.items()) if k != 'pod-template-hash')}" for p in pods[:6]),
                        f"pods of {svc_ref(svc)} and their labels", namespace=svc.metadata.namespace)] + evidence
    want = ",".join(f"{k}={v}" for k, v in labels.items())
    if (dref := ctx.describe_ref(("DOES NOT MATCH ANY SUBSETS", "non-matching subset"), "istioctl x describe agrees")) is not None:
        evidence.append(dref)
    return CheckResult.failed(
        f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name} subset {subset} selects {want}, but none of the "
        f"{len(pods)} pod(s) of {svc_ref(svc)} has those labels (they have {'; '.join(versions)}): outbound|…|{subset}|{svc.fqdn()} has no endpoint",
        evidence=evidence, observed=observed, confidence=conf,
        resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", svc_ref(svc)],
        fix=Fix(summary=f"Make subset {subset} select existing pods (fix its labels) or deploy the version it names", steps=[
            FixStep(description="Compare the subset labels with the pods", command=f"kubectl get pods -n {svc.metadata.namespace} -l {want}"),
            FixStep(description="Then correct the subset", command=f"kubectl edit destinationrule {dr.metadata.name} -n {dr.metadata.namespace}"),
        ]),
    )


# --------------------------------------------------------------------------------------
# UO / outlier / UC / URX / UT / FI
# --------------------------------------------------------------------------------------


def _pool_limits(tp: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tp is None:
        return out
    for pol in [tp, *[p for p in tp.port_level_settings]]:
        cp = pol.connection_pool
        if cp is None:
            continue
        if cp.tcp is not None and cp.tcp.max_connections is not None:
            out["tcp.maxConnections"] = cp.tcp.max_connections
        if cp.http is not None:
            for k, v in (("http.http1MaxPendingRequests", cp.http.http1_max_pending_requests), ("http.http2MaxRequests", cp.http.http2_max_requests),
                         ("http.maxRequestsPerConnection", cp.http.max_requests_per_connection), ("http.maxRetries", cp.http.max_retries)):
                if v is not None:
                    out[k] = v
    return out


@check("P503-CIRCUIT-BREAKER", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.DESTINATION_RULES, Need.SERVICES, Need.ENVOY_STATS, Need.CONFIG_DUMP),
       peer_needs=(Need.PROXY_LOGS,))
def circuit_breaker(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UO: the DestinationRule connectionPool limits overflow (circuit breaking)."""
    pls = pod_logs(ctx)
    stats = ctx.ev.get_or({}, Need.ENVOY_STATS, ctx.namespace, ctx.pod_name)
    overflow = {k: v for k, v in stats.items() if k.startswith("cluster.") and (k.endswith(".upstream_rq_pending_overflow") or k.endswith(".upstream_cx_overflow")) and v > 0}
    for pl in pls:
        uo = [e for e in pl.log.entries if has_flag(e, "UO") or "overflow" in (e.response_code_details or "")]
        if not uo and not (pl.role == "target" and overflow):
            continue
        cluster = uo[0].upstream_cluster if uo else next(iter(overflow)).split(".", 1)[1].rsplit(".", 1)[0]
        es = [e for e in uo if e.upstream_cluster == cluster]
        from istio_doctor.evidence.accesslog import parse_cluster_name

        us = parse_cluster_name(cluster)
        host = us.fqdn if us and us.fqdn else None
        applied = destination_rule_for(ctx, host, pl.namespace) if host else None
        limits = _pool_limits(applied.rule.spec.traffic_policy) if applied else {}
        sub = applied.rule.subset(us.subset) if applied and us and us.subset else None
        if sub is not None and sub.traffic_policy is not None:
            limits.update(_pool_limits(sub.traffic_policy))
        evidence = []
        observed = []
        if es:
            evidence.append(log_ref(ctx, pl, es, "Envoy rejected the requests: connection pool overflow"))
            observed.append(describe_group(es))
        cl_stats = {k: v for k, v in overflow.items() if cluster and cluster in k}
        if cl_stats:
            evidence.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in cl_stats.items()), "overflow counters"))
            observed.append(", ".join(f"{k.rsplit('.', 1)[1]}={v}" for k, v in cl_stats.items()))
        if not observed:
            continue
        if applied and limits:
            evidence.insert(0, ctx.ref(Need.DESTINATION_RULES, {"host": applied.rule.spec.host, "trafficPolicy": dump(applied.rule.spec.traffic_policy)},
                                       applied.why))
            lim = ", ".join(f"{k}: {v}" for k, v in limits.items())
            return CheckResult.failed(
                f"{applied.why} limits the connection pool ({lim}); {observed[0]}",
                evidence=evidence, observed=observed, confidence=0.95,
                resources=[f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"],
                fix=Fix(summary="Raise the connectionPool limits to the real concurrency (or remove them)", steps=[
                    FixStep(description="Raise http1MaxPendingRequests / maxConnections / http2MaxRequests",
                            command=f"kubectl edit destinationrule {applied.rule.metadata.name} -n {applied.rule.metadata.namespace}")]),
            )
        return CheckResult.failed(
            f"Envoy's circuit breaker on {cluster} overflows ({observed[0]}) although no DestinationRule sets connectionPool limits "
            "for it (look for an EnvoyFilter or a mesh-wide DestinationRule)",
            evidence=evidence, observed=observed, confidence=0.75, resources=[],
            fix=Fix(summary=f"Find and raise the circuit-breaker thresholds of {cluster}"),
        )
    return CheckResult.passed("no UO overflow in the proxy logs or stats")


@check("P503-OUTLIER-EJECTED", needs=(Need.POD, Need.ENVOY_CLUSTERS), optional=(Need.PROXY_LOGS, Need.DESTINATION_RULES, Need.ENVOY_STATS))
def outlier_ejected(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Outlier detection ejected the hosts of a cluster the pod calls (503 UH / failing requests)."""
    hosts = ctx.ev.get(Need.ENVOY_CLUSTERS, ctx.namespace, ctx.pod_name)
    ejected = [h for h in hosts if h.outlier_failed and h.cluster.startswith("outbound|")]
    if not ejected:
        return CheckResult.passed("no endpoint is ejected by outlier detection")
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    by_cluster: dict[str, list[Any]] = {}
    for h in hosts:
        by_cluster.setdefault(h.cluster, []).append(h)
    best = None
    for cl in dict.fromkeys(h.cluster for h in ejected):
        allh = by_cluster[cl]
        ej = [h for h in allh if h.outlier_failed]
        failing = [e for e in (log.entries if log else []) if e.upstream_cluster == cl and is_failure(e)]
        score = (len(ej) == len(allh), len(failing))
        if best is None or score > best[0]:
            best = (score, cl, allh, ej, failing)
    assert best is not None
    (_, cl, allh, ej, failing) = best
    all_out = len(ej) == len(allh)
    from istio_doctor.evidence.accesslog import parse_cluster_name

    us = parse_cluster_name(cl)
    applied = destination_rule_for(ctx, us.fqdn, ctx.namespace) if us and us.fqdn and ctx.ev.has(Need.DESTINATION_RULES) else None
    evidence = [ctx.ref(Need.ENVOY_CLUSTERS, "\n".join(f"{h.cluster}::{h.host}::health_flags::{'/' + '/'.join(h.health_flags) if h.health_flags else 'healthy'}" for h in allh),
                        f"{len(ej)}/{len(allh)} endpoint(s) ejected")]
    if applied and applied.rule.spec.traffic_policy and applied.rule.spec.traffic_policy.outlier_detection:
        evidence.append(ctx.ref(Need.DESTINATION_RULES, {"host": applied.rule.spec.host,
                                                         "outlierDetection": dump(applied.rule.spec.traffic_policy.outlier_detection)}, applied.why))
    observed = []
    if failing and log is not None:
        evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in failing[:4]), "failing requests to the cluster"))
        observed.append(describe_group(failing))
    if not all_out and not any(_uh(e) for e in failing):
        # a partly ejected cluster still serves from the remaining hosts: the ejection is a
        # consequence of those hosts failing, not the cause of the 503s
        return CheckResult.passed(f"{len(ej)}/{len(allh)} endpoint(s) of {cl} ejected; the others still serve",
                                  evidence=evidence)
    return CheckResult.failed(
        f"outlier detection ejected {len(ej)} of {len(allh)} endpoint(s) of {cl}"
        + (f" ({applied.why})" if applied else "") + ("; with all of them out Envoy answers 503 UH no_healthy_upstream" if all_out else ""),
        evidence=evidence, observed=observed, confidence=0.92 if observed else 0.8,
        resources=[f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"] if applied else [],
        fix=Fix(summary="Fix the errors that got the hosts ejected; tune outlierDetection (consecutive5xxErrors, baseEjectionTime, maxEjectionPercent)",
                steps=[FixStep(description="See the endpoints' outlier status", command=f"istioctl proxy-config endpoint {ctx.pod_name} -n {ctx.namespace} --cluster '{cl}'")]
                + ([FixStep(description="Tune or remove outlierDetection", command=f"kubectl edit destinationrule {applied.rule.metadata.name} -n {applied.rule.metadata.namespace}")] if applied else [])),
    )


def _uc_termination(e: AccessLogEntry) -> bool:
    return has_flag(e, "UC") and "connection_termination" in (e.response_code_details or "connection_termination")


@check("P503-KEEPALIVE-UC", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.DESTINATION_RULES, Need.SERVICES), peer_needs=(Need.PROXY_LOGS,))
def keepalive_uc(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Sporadic 503 UC connection_termination on a healthy upstream: the app closes idle keep-alive connections Envoy reuses."""
    for pl in pod_logs(ctx):
        by_cluster: dict[str, list[AccessLogEntry]] = {}
        for e in pl.log.entries:
            if e.upstream_cluster and not e.is_tcp:
                by_cluster.setdefault(e.upstream_cluster, []).append(e)
        for cl, es in by_cluster.items():
            uc = [e for e in es if _uc_termination(e)]
            ok = [e for e in es if 200 <= e.response_code < 400]
            # sporadic: the same upstream answers most requests; a UC on every request is a
            # different cause (mTLS conflict, protocol mismatch, app crash)
            if not uc or len(ok) < len(uc) or len(ok) < 2:
                continue
            us = next((e.upstream_service for e in uc if e.upstream_service), None)
            host = us.fqdn if us and us.fqdn else None
            applied = destination_rule_for(ctx, host, pl.namespace) if host and ctx.ev.has(Need.DESTINATION_RULES) else None
            idle = None
            if applied and applied.rule.spec.traffic_policy and applied.rule.spec.traffic_policy.connection_pool and applied.rule.spec.traffic_policy.connection_pool.http:
                idle = applied.rule.spec.traffic_policy.connection_pool.http.idle_timeout
            side = "the server's sidecar, reusing a connection to its app," if cl.startswith("inbound") else "the client's sidecar"
            own = services_of(ctx, ctx.pod(), required=False)
            fix_host = host or (own[0].fqdn() if cl.startswith("inbound") and own else "<host>")
            return CheckResult.failed(
                f"{len(uc)} of {len(es)} requests on {cl} failed with 503 UC connection_termination while {len(ok)} succeeded: "
                f"{side} sent requests on keep-alive connections the upstream had already closed"
                + (f" (DestinationRule idleTimeout {idle})" if idle else " (no DestinationRule idleTimeout)"),
                evidence=[log_ref(ctx, pl, uc, "upstream closed the connection before responding"),
                          log_ref(ctx, pl, ok, "the same upstream answers other requests", limit=2)],
                observed=[describe_group(uc)], confidence=0.75 if idle else 0.82, resources=[],
                fix=Fix(summary="Make Envoy close idle upstream connections before the app does, and retry resets", steps=[
                    FixStep(description="Set connectionPool.http.idleTimeout below the app's keep-alive timeout",
                            yaml_patch=yaml.safe_dump({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                                                       "metadata": {"name": fix_host.split(".")[0], "namespace": pl.namespace},
                                                       "spec": {"host": fix_host, "trafficPolicy": {"connectionPool": {"http": {"idleTimeout": "30s"}}}}},
                                                      sort_keys=False)),
                    FixStep(description="And/or retry on reset in the VirtualService (retries.retryOn: reset,connect-failure)"),
                ]),
            )
    return CheckResult.passed("no sporadic 503 UC connection_termination on an otherwise healthy upstream")


@check("P503-RETRIES-EXHAUSTED", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES,), peer_needs=(Need.PROXY_LOGS,))
def retries_exhausted(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 URX: Envoy retried and every attempt failed; the other flags name the real failure."""
    for pl in pod_logs(ctx):
        urx = [e for e in pl.log.entries if has_flag(e, "URX")]
        if not urx:
            continue
        roots = Counter(f for e in urx for f in e.response_flags if f != "URX")
        if not roots:
            # "503 URX via_upstream": every attempt got a 503 from upstream. Who made it? The
            # server-side lines of the same requests say: an app answer (via_upstream, no
            # flags) is the application's own 503, which Istio merely retried.
            server = {e.request_id: (p, e) for p in pod_logs(ctx, required=False) if p is not pl
                      for e in p.log.entries if e.direction == "inbound" and e.request_id}
            seen = [server[e.request_id] for e in urx if e.request_id in server]
            if seen and all(x.app_responded and not x.response_flags for _, x in seen):
                return CheckResult.passed(
                    f"{describe_group(urx)}: the application answered every attempt with {seen[0][1].response_code} itself "
                    "(server side: via_upstream, no flags); Istio only retried it",
                    evidence=[log_ref(ctx, pl, urx, "client side"), log_ref(ctx, seen[0][0], [x for _, x in seen], "server side")])
            roots = Counter(f for _, x in seen for f in x.response_flags)
        dets = Counter(e.response_code_details for e in urx if e.response_code_details)
        us = next((e.upstream_service for e in urx if e.upstream_service), None)
        vs_retry = []
        if us and us.fqdn and ctx.ev.has(Need.VIRTUAL_SERVICES):
            for vs in virtual_services_for_host(ctx, us.fqdn, client_namespace=pl.namespace):
                for r in vs.spec.http:
                    if r.retries is not None:
                        vs_retry.append((vs, r.retries))
        root = ", ".join(f"{f} ({n}×)" for f, n in roots.most_common(3)) or "none logged"
        evidence = [log_ref(ctx, pl, urx, "every retry attempt failed")]
        if vs_retry:
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, {"name": vs_retry[0][0].metadata.name, "retries": dump(vs_retry[0][1])}, "retry policy"))
        return CheckResult.failed(
            f"{describe_group(urx)}: Envoy exhausted its retries; the underlying failure is {root}"
            + (f" ({dets.most_common(1)[0][0]})" if dets else "") + ": diagnose that, the retries only hide it",
            evidence=evidence, observed=[describe_group(urx)], confidence=0.6, resources=[],
            fix=Fix(summary="Fix the failure the retries hide (see the other findings); review VirtualService retries",
                    steps=[FixStep(description="Read the server-side line of the same x-request-id",
                                   command=f"kubectl logs {ctx.pod_name} -n {ctx.namespace} -c istio-proxy | grep URX")]),
        )
    return CheckResult.passed("no URX (retries exhausted) in the proxy logs")


@check("P503-TIMEOUT", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES, Need.CONFIG_DUMP), peer_needs=(Need.PROXY_LOGS,))
def timeout(ctx: CheckContext, _: NoParams) -> CheckResult:
    """504 UT: the route timeout (VirtualService timeout/perTryTimeout) is shorter than the upstream's latency."""
    for pl in pod_logs(ctx):
        ut = [e for e in pl.log.entries if has_flag(e, "UT") or details_base(e) == "response_timeout"]
        if not ut:
            continue
        if any(has_flag(e, "DI") for e in ut):
            continue  # a delay injected by a fault: P503-FAULT-CONFIG
        us = next((e.upstream_service for e in ut if e.upstream_service), None)
        durs = sorted(e.duration_ms for e in ut if e.duration_ms is not None)
        configured: list[tuple[str, float, str]] = []
        vs_obj = None
        if us and us.fqdn and ctx.ev.has(Need.VIRTUAL_SERVICES):
            for vs in virtual_services_for_host(ctx, us.fqdn, client_namespace=pl.namespace):
                for r in vs.spec.http:
                    for label, val in (("timeout", r.timeout), ("retries.perTryTimeout", r.retries.per_try_timeout if r.retries else None)):
                        secs = parse_duration(val)
                        if secs:
                            configured.append((f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} {label}: {val}", secs, label))
                            vs_obj = vs
        med = durs[len(durs) // 2] if durs else None
        evidence = [log_ref(ctx, pl, ut, "upstream request timeout")]
        if vs_obj is not None:
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, {"name": vs_obj.metadata.name, "namespace": vs_obj.metadata.namespace,
                                                            "http": [dump(r) for r in vs_obj.spec.http if r.timeout or r.retries]}, "route timeout"))
        if configured:
            label, secs, _ = min(configured, key=lambda c: c[1])
            return CheckResult.failed(
                f"{describe_group(ut)} after ~{med} ms: {label} ({int(secs * 1000)} ms) is shorter than the upstream's response time",
                evidence=evidence, observed=[describe_group(ut)], confidence=0.92,
                resources=[f"VirtualService {vs_obj.metadata.namespace}/{vs_obj.metadata.name}"] if vs_obj is not None else [],
                fix=Fix(summary="Raise the route timeout above the upstream's real latency (or make the upstream faster)", steps=[
                    FixStep(description="Edit the timeout", command=f"kubectl edit virtualservice {vs_obj.metadata.name} -n {vs_obj.metadata.namespace}" if vs_obj else None)]),
            )
        return CheckResult.failed(
            f"{describe_group(ut)} after ~{med} ms; no VirtualService sets a timeout for {us.fqdn if us and us.fqdn else 'this route'}, "
            "so the limit comes from elsewhere (EnvoyFilter, gateway, or the caller's own deadline header)",
            evidence=evidence, observed=[describe_group(ut)], confidence=0.6,
            fix=Fix(summary="Find the route timeout in effect and raise it, or speed up the upstream",
                    steps=[FixStep(description="Read the route's timeout", command=f"istioctl proxy-config route {pl.pod} -n {pl.namespace} -o json | grep -n timeout")]),
        )
    return CheckResult.passed("no 504 UT (upstream request timeout) in the proxy logs")


@check("P503-FAULT-CONFIG", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES, Need.SERVICES), peer_needs=(Need.PROXY_LOGS,))
def fault_config(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The 503s/delays are injected on purpose: a VirtualService fault (FI abort / DI delay)."""
    for pl in pod_logs(ctx):
        fi = [e for e in pl.log.entries if has_flag(e, "FI", "DI") or details_base(e) == "fault_filter_abort"]
        if not fi:
            continue
        us = next((e.upstream_service for e in fi if e.upstream_service), None)
        host = us.fqdn if us and us.fqdn else None
        if host is None:
            auth = next((e.authority for e in fi if e.authority), None)
            if auth:
                host = to_fqdn(auth.split(":")[0], pl.namespace)
        faults = []
        if host and ctx.ev.has(Need.VIRTUAL_SERVICES):
            for vs in virtual_services_for_host(ctx, host, client_namespace=pl.namespace):
                for r in vs.spec.http:
                    if r.fault is not None:
                        faults.append((vs, r))
        evidence = [log_ref(ctx, pl, fi, "Envoy's fault filter answered, not the upstream")]
        if faults:
            vs, r = faults[0]
            evidence.insert(0, ctx.ref(Need.VIRTUAL_SERVICES, {"name": vs.metadata.name, "namespace": vs.metadata.namespace,
                                                               "fault": dump(r.fault), **({"retries": dump(r.retries)} if r.retries else {})},
                                       "fault injection configured"))
            ab = r.fault.abort
            what = []
            if ab is not None:
                what.append(f"abort httpStatus {ab.http_status}" + (f" for {ab.percentage.value}%" if ab.percentage else ""))
            if r.fault.delay is not None:
                what.append(f"delay {r.fault.delay.fixed_delay}")
            retry_note = "; its retries do not apply to injected faults" if r.retries is not None else ""
            return CheckResult.failed(
                f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} injects a fault for {host} ({', '.join(what)}): "
                f"the {describe_group(fi)} are configured, not a failure of the service{retry_note}",
                evidence=evidence, observed=[describe_group(fi)], confidence=0.97,
                resources=[f"VirtualService {vs.metadata.namespace}/{vs.metadata.name}"],
                fix=Fix(summary="If the fault injection is not intended any more, remove the fault block", steps=[
                    FixStep(description="Remove the fault from the route",
                            command=f"kubectl edit virtualservice {vs.metadata.name} -n {vs.metadata.namespace}")]),
            )
        return CheckResult.failed(
            f"{describe_group(fi)}: Envoy's fault filter injected these responses (no VirtualService fault found for "
            f"{host or 'the host'}; look for an EnvoyFilter)",
            evidence=evidence, observed=[describe_group(fi)], confidence=0.85,
            fix=Fix(summary="Find and remove the fault injection configuration if it is not intended"),
        )
    return CheckResult.passed("no FI/DI fault-injected responses in the proxy logs")


# --------------------------------------------------------------------------------------
# lifecycle: start-up and shutdown races, proxy readiness
# --------------------------------------------------------------------------------------


def _hold_app(pod: Any, ctx: CheckContext) -> tuple[bool, str]:
    raw = pod.annotations.get("proxy.istio.io/config")
    if raw:
        try:
            cfg = yaml.safe_load(raw) or {}
        except yaml.YAMLError:
            cfg = {}
        if isinstance(cfg, dict) and cfg.get("holdApplicationUntilProxyStarts") is True:
            return True, "pod annotation proxy.istio.io/config"
    try:
        mc = ctx.mesh_config(pod.revision)
    except Exception:  # noqa: BLE001 - mesh config is corroboration here
        mc = None
    if mc is not None and mc.default_config.hold_application_until_proxy_starts:
        return True, "meshConfig.defaultConfig"
    return False, ""


@check("P503-STARTUP-RACE", needs=(Need.POD,), optional=(Need.CONTROL_PLANE_CONFIGMAPS, Need.PROXY_LOGS))
def startup_race(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app crashed in its first seconds, while its classic sidecar was still starting (no holdApplicationUntilProxyStarts)."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable(f"{pod_ref(pod)} has no sidecar")
    if pod.is_native_sidecar:
        return CheckResult.not_applicable("native sidecar: Kubernetes starts istio-proxy (and waits for its startup probe) before the app")
    held, where = _hold_app(pod, ctx)
    if held:
        return CheckResult.passed(f"holdApplicationUntilProxyStarts is set ({where}): the app starts after the proxy")
    proxy = pod.sidecar_status
    proxy_start = proxy.state.running.started_at if proxy and proxy.state.running else None
    for c in pod.app_containers:
        st = pod.container_status(c.name)
        if st is None or st.restart_count == 0:
            continue
        term = st.last_state.terminated
        if term is None or term.exit_code in (None, 0) or term.started_at is None or term.finished_at is None:
            continue
        pod_start = pod.status.start_time or proxy_start
        if pod_start is None:
            continue
        # the failed run is the app's first one (it started with the pod) and died within seconds
        early = (term.started_at - pod_start).total_seconds() <= 15 and (term.finished_at - term.started_at).total_seconds() <= 30
        if not early:
            continue
        return CheckResult.failed(
            f"{pod_ref(pod)}: container {c.name} exited with code {term.exit_code} ({term.reason or 'Error'}) "
            f"{int((term.finished_at - term.started_at).total_seconds())}s after starting together with the pod, while istio-proxy was "
            f"still starting; holdApplicationUntilProxyStarts is not set, so its first outbound calls had no proxy to go through",
            evidence=[ctx.ref(Need.POD, {"startTime": str(pod.status.start_time), "containerStatuses": [
                {"name": s.name, "ready": s.ready, "restartCount": s.restart_count, "lastState": dump(s.last_state), "state": dump(s.state)}
                for s in pod.status.container_statuses]}, "the app's first run died during proxy start-up")],
            observed=[f"container {c.name} restartCount {st.restart_count}, lastState terminated exit {term.exit_code}"],
            confidence=0.7, resources=[pod_ref(pod)],
            fix=Fix(summary="Start the app only after the proxy is ready", steps=[
                FixStep(description=f"Add holdApplicationUntilProxyStarts to the pod template of {workload_name(pod)}",
                        yaml_patch=yaml.safe_dump({"spec": {"template": {"metadata": {"annotations": {
                            "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}}}}}, sort_keys=False)),
                FixStep(description="Or enable native sidecars (Kubernetes >= 1.29, Istio >= 1.19: ENABLE_NATIVE_SIDECARS=true)"),
            ]),
        )
    return CheckResult.passed("no app container failed during the proxy's start-up")


@check("P503-SHUTDOWN-RACE", needs=(Need.POD, Need.PROXY_LOGS), optional=(Need.PODS, Need.ENDPOINTSLICES), peer_needs=(Need.PROXY_LOGS,))
def shutdown_race(ctx: CheckContext, _: NoParams) -> CheckResult:
    """503 UC/UF to endpoints of pods that are terminating: Envoy drains before the app (or the caller) is done."""
    pls = pod_logs(ctx)
    terminating: dict[str, Any] = {}
    for ns in {pl.namespace for pl in pls} | {r.namespace for r in ctx.related}:
        for p in pods_in(ctx, ns) or []:
            if p.metadata.deletion_timestamp is not None and p.ip:
                terminating[p.ip] = p
        for s in ctx.ev.get_or([], Need.ENDPOINTSLICES, ns):
            for ep in s.endpoints:
                if ep.conditions.terminating:
                    for a in ep.addresses:
                        terminating.setdefault(a, ep.target_ref.name if ep.target_ref and ep.target_ref.name else a)
    me = ctx.pod()
    for pl in pls:
        bad = []
        for e in pl.log.entries:
            if not (has_flag(e, "UC", "UF") or "connection_termination" in (e.response_code_details or "")):
                continue
            ip = (e.upstream_host or "").rsplit(":", 1)[0]
            if ip in terminating:
                bad.append(e)
        draining = [ev for ev in pl.log.events if ev.kind == "drain"]
        if not bad and pl.role == "target" and me.metadata.deletion_timestamp is not None and draining:
            bad = [e for e in pl.log.entries if e.direction == "inbound" and has_flag(e, "UC", "UF", "DC", "UH")]
        if not bad:
            continue
        who = [terminating.get((e.upstream_host or "").rsplit(":", 1)[0]) for e in bad]
        names = ", ".join(sorted({w.metadata.name if hasattr(w, "metadata") else str(w) for w in who if w is not None})) or pod_ref(me)
        evidence = [log_ref(ctx, pl, bad, "failures to endpoints of terminating pods")]
        if draining:
            evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(ev.raw for ev in draining[:3]), "the proxy is draining",
                                    namespace=pl.namespace, name=pl.pod))
        return CheckResult.failed(
            f"{describe_group(bad)} went to pods that are terminating ({names}): the proxy stopped accepting or closed "
            "connections while requests were still routed to it",
            evidence=evidence, observed=[describe_group(bad)], confidence=0.8, resources=[],
            fix=Fix(summary="Let in-flight and late requests finish before the proxy exits", steps=[
                FixStep(description="Drain until connections are gone (pod template annotation)",
                        yaml_patch=yaml.safe_dump({"spec": {"template": {"metadata": {"annotations": {
                            "proxy.istio.io/config": "proxyMetadata:\n  EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\"\nterminationDrainDuration: 30s\n"}}}}},
                            sort_keys=False)),
                FixStep(description="Give the app a preStop sleep so endpoints are removed before it stops, and retry connect-failure/reset on callers"),
            ]),
        )
    return CheckResult.passed("no failing request went to a terminating pod")


@check("P503-UID-1337", needs=(Need.POD,), optional=(Need.ANALYZE,), peer_needs=())
def uid_1337(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An app container runs as UID 1337, the proxy's UID, so iptables lets its traffic bypass the sidecar."""
    for pod, _role in server_pods(ctx):
        if not pod.has_sidecar:
            continue
        bad = pod.uid_1337_containers
        if not bad:
            continue
        ev = [ctx.ref(Need.POD, {"containers": [{"name": c.name, "securityContext": dump(c.security_context) if c.security_context else None}
                                                for c in pod.app_containers if c.name in bad],
                                 "podSecurityContext": dump(pod.spec.security_context) if pod.spec.security_context else None},
                      "runAsUser 1337", namespace=pod.metadata.namespace, name=pod.metadata.name)]
        msgs = [m for m in ctx.ev.get_or([], Need.ANALYZE, pod.metadata.namespace) if m.code == "IST0144"]
        if msgs:
            ev.append(ctx.ref(Need.ANALYZE, "\n".join(f"{m.level} [{m.code}] ({m.origin}) {m.message}" for m in msgs[:3]), "istioctl analyze agrees",
                              namespace=pod.metadata.namespace))
        return CheckResult.failed(
            f"{pod_ref(pod)}: container(s) {', '.join(bad)} run as UID 1337, which Istio reserves for the proxy; iptables exempts "
            "that UID, so the app's outbound traffic skips the sidecar (no mTLS, no routing)",
            evidence=ev, confidence=0.88, resources=[pod_ref(pod)],
            fix=Fix(summary=f"Run the app of {workload_name(pod)} as another UID", steps=[
                FixStep(description="Change runAsUser in the pod template", command=f"kubectl edit {workload_name(pod)} -n {pod.metadata.namespace}")]),
        )
    return CheckResult.passed("no app container of the examined pods runs as UID 1337")


def _blackholed(e: AccessLogEntry) -> bool:
    return e.upstream_cluster == "BlackHoleCluster" or e.route_name == "block_all"


def _blackholed_dest(e: AccessLogEntry) -> tuple[str, str]:
    """(host, port) a blackholed request was meant for: the authority (or SNI) for the host, the
    original destination (downstream local address) for the port when the authority has none."""
    raw = (e.authority or e.requested_server_name or e.downstream_local_address or "?").strip()
    if raw.startswith("["):  # [v6]:port
        h, _, rest = raw.partition("]")
        host, port = h + "]", rest.lstrip(":")
    elif raw.count(":") == 1:
        host, _, port = raw.partition(":")
    else:
        host, port = raw, ""
    if not port and e.downstream_local_address and ":" in e.downstream_local_address:
        port = e.downstream_local_address.rsplit(":", 1)[1]
    if not port:
        port = "443" if e.is_tcp else "80"
    return host, port


def _registry_service(ctx: CheckContext, e: AccessLogEntry, client_ns: str) -> Any | None:
    """The Kubernetes Service a blackholed request was meant for: its Host (short name resolved in
    the client's namespace, or name.ns[.svc...]) or the ClusterIP it connected to."""
    host, _ = _blackholed_dest(e)
    svcs = [s for s in ctx.ev.get_or([], Need.SERVICES) if not s.is_headless]
    dst_ip = (e.downstream_local_address or "").rsplit(":", 1)[0]
    for s in svcs:
        if s.spec.cluster_ip and s.spec.cluster_ip in (host, dst_ip):
            return s
    if not host or is_ip(host):
        return None
    parts = host.split(".")
    if len(parts) == 1:
        name, ns = host, client_ns
    elif len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        name, ns = parts[0], parts[1]
    else:
        return None
    return next((s for s in svcs if s.metadata.name == name and s.metadata.namespace == ns), None)


def _unknown_host_nr(ctx: CheckContext, e: AccessLogEntry, client_ns: str) -> bool:
    """An HTTP request to an external host that nothing in the registry declares, answered 404 NR
    without an upstream: how proxies before the ``block_all`` route (Istio <= 1.2, and the 0.x/1.0
    default) rejected it under a registry-only policy."""
    if e.response_code != 404 or "NR" not in (e.response_flags or []) or not e.authority or (e.upstream_cluster or "-") != "-":
        return False
    host, _ = _blackholed_dest(e)
    if is_ip(host) or "." not in host or _registry_service(ctx, e, client_ns) is not None:
        return False
    return not any(host_matches(x, host) for se in ctx.ev.get_or([], Need.SERVICE_ENTRIES) for x in se.spec.hosts)


@check("P503-REGISTRY-ONLY", needs=(Need.POD, Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
       optional=(Need.SIDECARS, Need.SERVICE_ENTRIES, Need.SERVICES, Need.PODS))
def registry_only(ctx: CheckContext, _: NoParams) -> CheckResult:
    """outboundTrafficPolicy REGISTRY_ONLY sends calls to hosts without a ServiceEntry to the BlackHoleCluster (502)."""
    pod = ctx.pod()
    mode, source, sc_obj = ctx.mesh_config(pod.revision).outbound_traffic_policy.mode, "meshConfig.outboundTrafficPolicy", None
    for sc in ctx.ev.get_or([], Need.SIDECARS):
        if sc.metadata.namespace != pod.metadata.namespace or sc.spec.outbound_traffic_policy is None or not sc.spec.outbound_traffic_policy.mode:
            continue
        ws = sc.spec.workload_selector
        if ws is None or not ws.labels or ws.matches(pod.labels):
            mode, source, sc_obj = sc.spec.outbound_traffic_policy.mode, f"Sidecar {sc.metadata.namespace}/{sc.metadata.name}", sc
            if ws is not None and ws.labels:
                break
    log = ctx.proxy_log()
    bh = [e for e in log.entries if _blackholed(e)]
    if mode != "REGISTRY_ONLY":
        if bh:
            return CheckResult.passed(f"{len(bh)} request(s) to BlackHoleCluster but the policy is {mode} ({source})")
        return CheckResult.not_applicable(f"outboundTrafficPolicy is {mode} ({source})")
    bh += [e for e in log.entries if not _blackholed(e) and _unknown_host_nr(ctx, e, pod.metadata.namespace)]
    if not bh:
        return CheckResult.passed(f"outboundTrafficPolicy is REGISTRY_ONLY ({source}) and no request was blackholed")
    headless_ips = {p.ip for s in ctx.ev.get_or([], Need.SERVICES) if s.is_headless and s.spec.selector
                    for p in (pods_in(ctx, s.metadata.namespace) or []) if p.ip and s.selects(p)}
    hosts = Counter((e.authority or e.requested_server_name or e.downstream_local_address or "?") for e in bh)
    # a headless Service's pod called by IP is blackholed too, but a ServiceEntry is not its fix
    hosts = Counter({h: n for h, n in hosts.items() if h.rsplit(":", 1)[0] not in headless_ips})
    if not hosts:
        return CheckResult.passed("the blackholed requests address pods of a headless Service by IP (see P503-HEADLESS-PODIP)")
    # A Kubernetes Service is in the registry already: when a call to it is blackholed, the proxy
    # does not see it (Sidecar egress hosts, exportTo), and a ServiceEntry is not the fix.
    by_host = {(e.authority or e.requested_server_name or e.downstream_local_address or "?"): e for e in bh}
    k8s = {h: s for h in hosts if (s := _registry_service(ctx, by_host[h], pod.metadata.namespace)) is not None}
    hosts = Counter({h: n for h, n in hosts.items() if h not in k8s})
    if not hosts:
        names = sorted({f"{s.metadata.namespace}/{s.metadata.name}" for s in k8s.values()})
        return CheckResult.passed(f"the blackholed requests go to Kubernetes Service(s) {names}, which are in the registry but not "
                                  "visible to this proxy (see ROUTE-SIDECAR-SCOPE / ROUTE-EXPORTTO-HIDDEN)")
    entries = ctx.ev.get_or([], Need.SERVICE_ENTRIES)
    missing = [h for h in hosts if not any(host_matches(x, h.rsplit(":", 1)[0]) for se in entries for x in se.spec.hosts)]
    # A ServiceEntry for the host on another port does not help: Istio builds the listener/route
    # only for the declared ports, so a call to an undeclared port is blackholed all the same.
    wrong_port: list[tuple[str, str, list[str]]] = []
    for e in bh:
        key = e.authority or e.requested_server_name or e.downstream_local_address or "?"
        if key not in hosts or key in missing:
            continue
        host, port_s = _blackholed_dest(e)
        ses = [se for se in entries if any(host_matches(x, host) for x in se.spec.hosts)]
        declared = sorted({p.number for se in ses for p in se.spec.ports})
        if port_s.isdigit() and declared and int(port_s) not in declared and not any(w[0] == host and w[1] == port_s for w in wrong_port):
            wrong_port.append((host, port_s, [f"{se.metadata.namespace}/{se.metadata.name}" for se in ses]))
    if not missing and not wrong_port:
        return CheckResult.passed(f"blackholed hosts {sorted(hosts)} have ServiceEntries for their ports (check their exportTo and Sidecar egress)")
    if not missing:
        host, port_s, names = wrong_port[0]
        ses = [se for se in entries if f"{se.metadata.namespace}/{se.metadata.name}" in names]
        declared = sorted({p.number for se in ses for p in se.spec.ports})
        evidence = [ctx.ref(Need.SERVICE_ENTRIES, "\n".join(f"{n}: hosts {se.spec.hosts}, ports {[p.number for p in se.spec.ports]}"
                                                             for n, se in zip(names, ses)), "ServiceEntries for the host"),
                    ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bh[:4]), "requests sent to the BlackHoleCluster / block_all route")]
        if sc_obj is not None:
            evidence.insert(0, ctx.ref(Need.SIDECARS, dump(sc_obj.spec), source))
        return CheckResult.failed(
            f"outboundTrafficPolicy is REGISTRY_ONLY ({source}) and ServiceEntry {', '.join(names)} declares {host} on port(s) "
            f"{declared} only, but the app calls port {port_s}: {describe_group(bh)}",
            evidence=evidence, observed=[describe_group(bh)], confidence=0.9,
            resources=[f"ServiceEntry {n}" for n in names],
            fix=Fix(summary=f"Add port {port_s} to the ServiceEntry for {host} (or make the app call a declared port)", steps=[
                FixStep(description=f"Declare port {port_s} on ServiceEntry {names[0]}",
                        command=f"kubectl edit serviceentry {names[0].split('/', 1)[1]} -n {names[0].split('/', 1)[0]}")]),
        )
    h0 = missing[0].rsplit(":", 1)[0]
    port = missing[0].rsplit(":", 1)[1] if ":" in missing[0] else ("443" if any(e.is_tcp for e in bh) else "80")
    evidence = [ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bh[:4]), "requests sent to the BlackHoleCluster / block_all route")]
    if sc_obj is not None:
        evidence.insert(0, ctx.ref(Need.SIDECARS, dump(sc_obj.spec), source))
    else:
        evidence.insert(0, ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY", "ConfigMap istio data.mesh"))
    return CheckResult.failed(
        f"outboundTrafficPolicy is REGISTRY_ONLY ({source}) and no ServiceEntry declares {', '.join(missing[:3])}: "
        f"{describe_group(bh)}",
        evidence=evidence, observed=[describe_group(bh)], confidence=0.95, resources=[source] if sc_obj is not None else [],
        fix=Fix(summary=f"Declare {h0} with a ServiceEntry (or relax the outbound traffic policy)", steps=[
            FixStep(description=f"Add a ServiceEntry for {h0}", yaml_patch=yaml.safe_dump({
                "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                "metadata": {"name": h0.replace(".", "-")[:60], "namespace": pod.metadata.namespace},
                "spec": {"hosts": [h0], "location": "MESH_EXTERNAL", "resolution": "DNS",
                         "ports": [{"number": int(port) if port.isdigit() else 443, "name": "https" if port == "443" else f"http-{port}",
                                    "protocol": "TLS" if port == "443" else "HTTP"}]}}, sort_keys=False)),
        ]),
    )


@check("P503-HEADLESS-PODIP", needs=(Need.POD, Need.SERVICES, Need.PROXY_LOGS), optional=(Need.PODS,), peer_needs=(Need.PROXY_LOGS,))
def headless_podip(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A headless Service's pod called by IP on an HTTP port: the Host header matches no route, so the sidecars fail the request."""
    headless = [s for s in ctx.ev.get(Need.SERVICES) if s.is_headless and s.spec.selector]
    if not headless:
        return CheckResult.not_applicable("no headless Service in the cluster")
    for pl in pod_logs(ctx):
        for e in pl.log.entries:
            if e.is_tcp or e.response_code < 500 or not is_ip(e.authority) or e.app_responded:
                continue
            ip = e.authority.rsplit(":", 1)[0] if e.authority and e.authority.count(":") == 1 else (e.authority or "")
            port = int(e.authority.rsplit(":", 1)[1]) if e.authority and e.authority.count(":") == 1 else 80
            for s in headless:
                pods = pods_in(ctx, s.metadata.namespace) or []
                pod = next((p for p in pods if p.ip == ip and s.selects(p)), None)
                if pod is None:
                    continue
                sp = next((x for x in s.spec.ports if x.port == port or container_port_for(s, x, pod) == port), None)
                if sp is None or port_protocol(sp.name, sp.app_protocol) not in (None, *HTTP_PROTOCOLS):
                    continue
                es = [x for x in pl.log.entries if x.authority == e.authority and is_failure(x)]
                return CheckResult.failed(
                    f"requests to headless {svc_ref(s)} use the pod IP as Host ({e.authority}); port {sp.port} "
                    f"({sp.name or 'unnamed'}) is treated as HTTP, and no route matches an IP Host: {describe_group(es)}",
                    evidence=[log_ref(ctx, pl, es, "Host header is a pod IP"),
                              ctx.ref(Need.SERVICES, {"name": s.metadata.name, "namespace": s.metadata.namespace, "clusterIP": "None",
                                                      "ports": [dump(sp)]}, "headless Service, HTTP port")],
                    observed=[describe_group(es)], confidence=0.85, resources=[svc_ref(s), pod_ref(pod)],
                    fix=Fix(summary="Call the pod by its DNS name (pod.svc.ns) or send a Host header of the Service, or declare the port tcp-", steps=[
                        FixStep(description="Use the per-pod DNS name", command=f"curl http://{pod.metadata.name}.{s.metadata.name}.{s.metadata.namespace}:{sp.port}/"),
                        FixStep(description="Or set the Host header", command=f"curl -H 'Host: {s.metadata.name}.{s.metadata.namespace}' http://{e.authority}/"),
                    ]),
                )
    return CheckResult.passed("no failing request addressed a headless Service's pod by IP")


@check("P503-PROXY-NOT-READY", needs=(Need.POD,), optional=(Need.PROXY_LOGS, Need.PROXY_STATUS), peer_needs=(Need.PROXY_LOGS,))
def proxy_not_ready(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istio-proxy is not Ready because it never got its configuration from istiod."""
    status = ctx.ev.get_or(None, Need.PROXY_STATUS)
    looked = 0
    for pod, _role in server_pods(ctx):
        if not pod.has_sidecar:
            continue
        st = pod.sidecar_status
        if st is None:
            continue
        looked += 1
        if st.ready:
            continue
        ns, nm = pod.metadata.namespace, pod.metadata.name
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, ns, nm)
        no_cfg = [ev for ev in (log.events if log else []) if ev.kind == "not_ready_no_config"]
        in_status = None if status is None else any(r.pod == nm and (r.namespace in (None, ns)) for r in status)
        if not no_cfg and in_status is not False:
            continue
        evidence = [ctx.ref(Need.POD, {"name": st.name, "ready": st.ready, "restartCount": st.restart_count, "state": dump(st.state)},
                            "istio-proxy container status", namespace=ns, name=nm)]
        observed = []
        if no_cfg:
            evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(ev.raw for ev in no_cfg[-3:]), "pilot-agent readiness", namespace=ns, name=nm))
            observed.append(no_cfg[-1].detail)
        if in_status is False:
            evidence.append(ctx.ref(Need.PROXY_STATUS, f"{nm}.{ns} is not listed ({len(status or [])} proxies connected)", "istioctl proxy-status"))
            observed.append(f"{nm}.{ns} missing from istioctl proxy-status")
        return CheckResult.failed(
            f"{pod_ref(pod)}: istio-proxy is not Ready and has no configuration from istiod "
            f"({'; '.join(observed)}); the pod is no endpoint and its own calls cannot be routed",
            evidence=evidence, observed=observed, confidence=0.93, resources=[pod_ref(pod)],
            fix=Fix(summary="Restore the proxy's connection to istiod (port 15012)", steps=[
                FixStep(description="Check istiod is running and reachable", command=f"kubectl get pods -n {ctx.conn.istio_namespace} -l app=istiod"),
                FixStep(description="Look for NetworkPolicies blocking egress to istiod:15012", command=f"kubectl get networkpolicy -n {ns}"),
                FixStep(description="Read the proxy's connection errors", command=f"kubectl logs {nm} -n {ns} -c istio-proxy | grep -i xds"),
            ]),
        )
    if not looked:
        return CheckResult.not_applicable("no istio-proxy container status on the examined pods")
    return CheckResult.passed("istio-proxy is Ready (or has its configuration) on the examined pods")
