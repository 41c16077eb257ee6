"""Declared protocol against the one spoken: ``P503-PROTOCOL-MISMATCH``, ``P503-SERVER-FIRST`` (a
server-first protocol on a port Istio must sniff), ``P503-MULTI-SVC-PROTOCOL`` (Services that
disagree on a port's protocol) and ``P503-NO-SERVICE`` (an in-mesh pod no Service selects).
"""

from __future__ import annotations

import json
from typing import Any

from istio_doctor.engine.checks.p503._reading import (
    AUTO_TCP_PORTS,
    Protocol,
    SERVER_FIRST_IMAGES,
    SERVER_FIRST_PORTS,
    PodLog,
    describe_group,
    dump,
    entry_service,
    has_flag,
    log_ref,
    pod_logs,
    pod_ref,
    pods_in,
    port_protocol,
    server_pods,
    services_of,
    svc_ref,
    target_ports,
    workload_name,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import service_host
from istio_doctor.engine.mesh import container_port_for
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import Need

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
            if not port_protocol(ctx, sp).is_http:
                continue
            by_port.setdefault((service_host(ctx, svc), sp.port), (svc, sp, []))[2].append(e)
        for (_, _), (svc, sp, entries) in by_port.items():
            proto = port_protocol(ctx, sp)
            tls_hint = any("DPE" in e.response_flags for e in entries)
            new_name = "tls" if tls_hint else "tcp"
            patch = json.dumps([{"op": "replace", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/name", "value": f"{new_name}-{sp.port}"}]
                               + ([{"op": "remove", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/appProtocol"}] if sp.app_protocol else []))
            return CheckResult.failed(
                args={"service": svc_ref(svc), "port": sp.port, "protocol": proto.upper(), "name": sp.name, "app_protocol": sp.app_protocol,
                      "requests": describe_group(entries), "new_name": new_name},
                evidence=[ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                                  f"declared protocol {proto}"),
                          log_ref(ctx, pl, entries, "Envoy could not parse the bytes as HTTP")],
                observed=[describe_group(entries)],
                resources=[svc_ref(svc)],
                fix=Fix(steps=[FixStep(description=f"Rename the port to {new_name}-{sp.port}",
                                       command=f"kubectl patch service {svc.metadata.name} -n {svc.metadata.namespace} --type=json -p '{patch}'")]),
            )
    n = sum(1 for pl in pls for e in pl.log.entries if _is_protocol_error(e))
    if n:
        return CheckResult.passed(f"{n} protocol error(s) in the logs, none on a port declared HTTP/gRPC")
    return CheckResult.passed("no UPE/DPE protocol errors in the proxy logs")


def _server_first_reason(sp: Any, pods: list[Any], cp: int | None) -> tuple[str, dict[str, Any]] | None:
    """Why the port carries a server-first protocol: its number, or the image behind it (message variant, arguments)."""
    for p in (sp.port, cp):
        if p in SERVER_FIRST_PORTS:
            return "port", {"known_port": p, "known_protocol": SERVER_FIRST_PORTS[p]}
    for pod in pods:
        for c in pod.app_containers:
            img = (c.image or "").rsplit("/", 1)[-1].split(":", 1)[0].lower()
            proto = SERVER_FIRST_IMAGES.get(img)
            if proto and (cp is None or any(x.container_port == cp for x in c.ports) or not c.ports):
                return "image", {"container": c.name, "image": c.image, "known_protocol": proto}
    return None


@check("P503-SERVER-FIRST", needs=(Need.POD, Need.SERVICES), optional=(Need.PROXY_LOGS, Need.PODS),
       peer_needs=(Need.PROXY_LOGS,))
def server_first(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A server-first protocol (MySQL, SMTP, NATS…) on a port whose protocol Istio must sniff, so connections hang."""
    candidates: list[tuple[Any, list[Any]]] = []
    seen: set[str] = set()
    for pod, _role in server_pods(ctx):
        for s in services_of(ctx, pod):
            if service_host(ctx, s) not in seen:
                seen.add(service_host(ctx, s))
                candidates.append((s, [pod]))
    # services the target calls (a hung server-first connection often logs no failure at all)
    for pl in pod_logs(ctx, required=False):
        if pl.role != "target":
            continue
        for e in pl.log.entries:
            svc, _, _ = entry_service(ctx, e)
            if svc is not None and service_host(ctx, svc) not in seen:
                seen.add(service_host(ctx, svc))
                pods = [p for p in (pods_in(ctx, svc.metadata.namespace) or []) if svc.selects(p)]
                candidates.append((svc, pods))
    looked = 0
    for svc, pods in candidates:
        for sp in svc.spec.ports:
            if (sp.protocol or "TCP").upper() != "TCP" or not port_protocol(ctx, sp).is_sniffed:
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
                hung += [e for e in pl.log.entries if e.is_tcp and e.upstream_service is not None and e.upstream_service.fqdn == service_host(ctx, svc)
                         and (e.bytes_sent or 0) == 0 and (e.bytes_received or 0) == 0]
            patch = json.dumps([{"op": "replace", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/name", "value": f"tcp-{sp.port}"}])
            return CheckResult.failed(
                message=why[0],
                args={"service": svc_ref(svc), "port": sp.port, "name": sp.name or "<unnamed>", **why[1]},
                corroboration="logs" if hung else None,
                evidence=[ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                                  "no protocol declared: Istio sniffs this port")],
                observed=[f"{len(hung)}× TCP connection to {service_host(ctx, svc)} closed with 0 bytes"] if hung else [],
                resources=[svc_ref(svc)],
                fix=Fix(steps=[FixStep(description=f"Rename the port to tcp-{sp.port}",
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
                p = port_protocol(ctx, sp)
                proto = ("auto (sniffed)" if p.is_sniffed else "http" if p.is_http
                         else "tcp" if p in (Protocol.TCP, Protocol.MYSQL, Protocol.MONGO, Protocol.REDIS) else p.word)
                by_port.setdefault(sp.port, []).append((s, sp, proto))
                cp = container_port_for(s, sp, pod)
                if cp is not None:
                    by_target.setdefault(cp, []).append((s, sp))
        for port, rows in sorted(by_port.items()):
            protos = {r[2] for r in rows}
            if len(protos) > 1 and len({r[0].metadata.name for r in rows}) > 1:
                return CheckResult.failed(
                    message="protocol",
                    args={"pod": pod_ref(pod), "port": port, "workload": workload_name(pod),
                          "services": [f"{svc_ref(s)} ({sp.name or 'unnamed'}: {p})" for s, sp, p in rows]},
                    evidence=[ctx.ref(Need.SERVICES, [{"name": s.metadata.name, "namespace": s.metadata.namespace, "ports": [dump(sp)]}
                                                      for s, sp, _ in rows], "same port, different protocols")],
                    resources=[svc_ref(s) for s, _, _ in rows] + [pod_ref(pod)],
                    fix=Fix(),
                )
        for cp, rows in sorted(by_target.items()):
            ports = {sp.port for _, sp in rows}
            if len(ports) > 1 and len({s.metadata.name for s, _ in rows}) > 1:
                return CheckResult.failed(
                    message="target_port",
                    args={"pod": pod_ref(pod), "target_port": cp, "workload": workload_name(pod),
                          "services": [f"{svc_ref(s)} port {sp.port}" for s, sp in rows]},
                    corroboration="target_port",
                    evidence=[ctx.ref(Need.SERVICES, [{"name": s.metadata.name, "namespace": s.metadata.namespace, "ports": [dump(sp)]}
                                                      for s, sp in rows], "same targetPort, different ports")],
                    resources=[svc_ref(s) for s, _ in rows] + [pod_ref(pod)],
                    fix=Fix(),
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
        args={"namespace": pod.metadata.namespace, "pod": pod_ref(pod), "labels": dict(pod.labels), "ports": ports,
              "workload": workload_name(pod)},
        corroboration="logs" if observed else None,
        evidence=evidence, observed=observed, resources=[pod_ref(pod)],
        fix=Fix(steps=[
            FixStep(description="Expose the workload", command=f"kubectl expose {workload_name(pod)} -n {pod.metadata.namespace}"
                    + (f" --port={ports[0]} --name={pod.labels.get('app', pod.metadata.name)}" if ports else "")),
        ]),
    )
