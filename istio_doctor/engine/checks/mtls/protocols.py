"""What the bytes on the wire are: ``MTLS-DOUBLE-TLS`` (the app sends HTTPS to a ServiceEntry port
declared HTTPS/TLS and a DestinationRule also originates TLS), ``MTLS-HTTPS-ON-HTTP-PORT`` (HTTPS
sent to a port the mesh was told is plain HTTP) and ``MTLS-SERVER-FIRST-PERMISSIVE`` (a server-first
protocol on a port the mesh sniffs: undeclared protocol, or PERMISSIVE mTLS).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks.mtls._reading import (
    _WVN,
    Problem,
    ServerPort,
    _client_dests,
    _dr_excerpt,
    _dr_tls,
    _ip_of,
    _obj_excerpt,
    _own_served_ports,
    _pa_excerpt,
    _pa_port_fix,
    _port_of,
    _raw,
    _result,
    _server_ports,
    _summarize,
    _tls_text,
    examined_pod,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import container_port_for, destination_rule_for
from istio_doctor.engine.model import CheckResult, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.protocol import Protocol, of_service_port, server_first, service_entry_port
from istio_doctor.engine.mesh.visibility import exported_to

# --------------------------------------------------------------------------------------
# MTLS-DOUBLE-TLS and MTLS-HTTPS-ON-HTTP-PORT
# --------------------------------------------------------------------------------------


def _se_ports(ctx: CheckContext, client_ns: str) -> list[tuple[Any, Any]]:
    out = []
    for se in ctx.resources(Need.SERVICE_ENTRIES):
        if not exported_to(se.spec.export_to, se.metadata.namespace or "default", client_ns):
            continue
        for p in se.spec.ports:
            out.append((se, p))
    return out


@check(
    "MTLS-DOUBLE-TLS",
    needs=(Need.POD, Need.SERVICE_ENTRIES, Need.DESTINATION_RULES),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS),
)
def double_tls(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app sends HTTPS to a ServiceEntry port declared HTTPS/TLS and a DestinationRule also originates TLS."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable("the pod has no sidecar: nothing originates TLS on its behalf")
    ctx.resources(Need.DESTINATION_RULES)
    problems: list[Problem] = []
    decided = False
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    for se, p in _se_ports(ctx, pod.metadata.namespace):
        proto = (p.protocol or "").upper()
        for h in se.spec.hosts:
            applied = destination_rule_for(ctx, h, pod.metadata.namespace, pod.labels)
            if applied is None:
                continue
            tls, where = _dr_tls(applied.rule, p.number, None)
            if tls is None:
                continue
            decided = True
            if proto not in ("HTTPS", "TLS") or tls.mode not in ("SIMPLE", "MUTUAL"):
                continue
            entries = [e for e in (log.entries if log is not None else [])
                       if e.upstream_service is not None and e.upstream_service.fqdn == h and e.upstream_service.port == p.number and is_failure(e)]
            wvn = [e for e in (log.entries if log is not None else []) if _WVN in _tls_text(e)]
            ev = [ctx.ref(Need.SERVICE_ENTRIES, _obj_excerpt(se, "ServiceEntry"), f"port {p.number} protocol {p.protocol}: the application itself sends TLS"),
                  ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(applied.rule), f"{where}.mode: {tls.mode}: the sidecar originates TLS again")]
            observed = _summarize(entries + wvn, h)
            if entries or wvn:
                ev.append(ctx.ref(Need.PROXY_LOGS, _raw(entries + wvn), "requests to that host"))
            problems.append(Problem(
                args={"service_entry": f"{se.metadata.namespace}/{se.metadata.name}", "host": h, "port": p.number, "protocol": p.protocol,
                      "dr": f"{applied.rule.metadata.namespace}/{applied.rule.metadata.name}", "where": where, "mode": tls.mode},
                short=f"double TLS to {h}:{p.number}",
                level="logs" if observed else None,
                evidence=ev, observed=observed,
                resources=[f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}", f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"],
                steps=[FixStep(description=f"remove the TLS origination from DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name} for port {p.number}",
                               command=f"kubectl edit destinationrule {applied.rule.metadata.name} -n {applied.rule.metadata.namespace}"),
                       FixStep(description="or call the host with http:// on an HTTP port and keep the DR SIMPLE (TLS origination, see istio.io egress TLS origination)")],
            ))
    return _result(problems, ctx, check="MTLS-DOUBLE-TLS", decided=decided,
                   ok_summary="no ServiceEntry port declared HTTPS/TLS also gets TLS origination from a DestinationRule",
                   na_summary="no DestinationRule with TLS applies to a ServiceEntry host visible to this pod")


def _svc_port_protocol(ctx: CheckContext, sp: Any) -> Protocol:
    """Istio's protocol for a Service port (engine/mesh/protocol.py, at this control plane's version)."""
    return of_service_port(sp, version=ctx.istio_version).protocol


@check(
    "MTLS-HTTPS-ON-HTTP-PORT",
    needs=(Need.POD, Need.SERVICE_ENTRIES, Need.SERVICES),
    optional=(Need.PROXY_LOGS,),
)
def https_on_http_port(ctx: CheckContext, _: NoParams) -> CheckResult:
    """HTTPS is sent to a port the mesh was told is plain HTTP (ServiceEntry/Service port protocol): 400 DPE."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable("the pod has no sidecar: no proxy parses its traffic as HTTP")
    ses = _se_ports(ctx, pod.metadata.namespace)
    svcs = ctx.services()
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    problems: list[Problem] = []
    dpe = [e for e in (log.entries if log is not None else []) if "DPE" in e.response_flags]
    by_port: dict[int, list[AccessLogEntry]] = {}
    for e in dpe:
        port = _port_of(e.downstream_local_address)
        if port is not None:
            by_port.setdefault(port, []).append(e)
    for port, entries in by_port.items():
        ip = _ip_of(entries[0].downstream_local_address)
        decl: tuple[str, Any, Any] | None = None
        for svc in svcs:
            if svc.spec.cluster_ip == ip or (pod.ip == ip and svc.selects(pod)):
                sp = svc.port(port) or next((x for x in svc.spec.ports if container_port_for(svc, x, pod) == port), None)
                if sp is not None and _svc_port_protocol(ctx, sp).is_http:
                    decl = ("Service", svc, sp)
                    break
        if decl is None:
            for se, p in ses:
                if p.number == port and service_entry_port(p.protocol).protocol.is_http:
                    decl = ("ServiceEntry", se, p)
                    break
        if decl is None:
            continue
        kind, obj, p = decl
        proto = _svc_port_protocol(ctx, p).value if kind == "Service" else p.protocol
        pnum = p.port if kind == "Service" else p.number
        ev = [ctx.ref(Need.PROXY_LOGS, _raw(entries), "400 DPE: the proxy could not parse the bytes as HTTP"),
              ctx.ref(Need.SERVICES if kind == "Service" else Need.SERVICE_ENTRIES, _obj_excerpt(obj, kind), f"port {pnum} declared {proto}")]
        tlsish = port in (443, 8443) or "https" in (getattr(p, "name", "") or "").lower()
        problems.append(Problem(
            args={"count": len(entries), "port": port, "kind": kind, "resource": f"{obj.metadata.namespace}/{obj.metadata.name}",
                  "declared_port": pnum, "protocol": proto},
            short=f"DPE on {port}",
            level="tls_port" if tlsish else None,
            evidence=ev, observed=_summarize(entries, f"port {port}"),
            resources=[f"{kind} {obj.metadata.namespace}/{obj.metadata.name}"],
            steps=[FixStep(description=f"declare port {pnum} of {kind} {obj.metadata.namespace}/{obj.metadata.name} as HTTPS "
                           + ("(name it https-… or set appProtocol: https)" if kind == "Service" else "(protocol: HTTPS)"),
                           command=f"kubectl edit {kind.lower()} {obj.metadata.name} -n {obj.metadata.namespace}")],
        ))
    # Config alone: port 443 declared HTTP on a ServiceEntry is the documented mistake.
    for se, p in ses:
        if p.number == 443 and service_entry_port(p.protocol).protocol.is_http and (p.target_port in (None, 443)):
            if any(f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}" in x.resources for x in problems):
                continue
            problems.append(Problem(
                message="config",
                args={"service_entry": f"{se.metadata.namespace}/{se.metadata.name}", "hosts": se.spec.hosts[:2], "protocol": p.protocol},
                short=f"443 declared {p.protocol}",
                level="config_only",
                evidence=[ctx.ref(Need.SERVICE_ENTRIES, _obj_excerpt(se, "ServiceEntry"), f"port 443 protocol {p.protocol}")],
                resources=[f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}"],
                steps=[FixStep(description="set protocol: HTTPS on port 443", command=f"kubectl edit serviceentry {se.metadata.name} -n {se.metadata.namespace}")],
            ))
    return _result(problems, ctx, check="MTLS-HTTPS-ON-HTTP-PORT", decided=log is not None or bool(ses),
                   ok_summary="no downstream protocol error (DPE) and no HTTPS port declared as HTTP",
                   na_summary="no proxy log and no ServiceEntry to judge")


# --------------------------------------------------------------------------------------
# MTLS-SERVER-FIRST-PERMISSIVE
# --------------------------------------------------------------------------------------

def _server_first(sp: Any, target: int | None) -> str | None:
    return server_first(sp.port, name=sp.name, target_port=target)


@check(
    "MTLS-SERVER-FIRST-PERMISSIVE",
    needs=(Need.POD, Need.SERVICES, Need.PEER_AUTHENTICATIONS, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
)
def server_first_permissive(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A server-first protocol (MySQL, SMTP, ...) sits on a port the mesh sniffs: undeclared protocol, or PERMISSIVE mTLS."""
    pod = examined_pod(ctx, Need.PEER_AUTHENTICATIONS)
    sps: list[ServerPort] = list(_own_served_ports(ctx, pod)) if pod.has_sidecar else []
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod, dr_namespace_hosts=False):
            _svc, s = _server_ports(ctx, d.host, d.port)
            sps += [x for x in (s or []) if x.port is not None]
    problems: list[Problem] = []
    decided = False
    seen: set[str] = set()
    for s in sps:
        if s.port is None:
            continue
        proto_name = _server_first(s.port, s.target)
        if proto_name is None:
            continue
        decided = True
        key = f"{s.svc.metadata.namespace}/{s.svc.metadata.name}:{s.port.port}"
        if key in seen:
            continue
        undeclared = _svc_port_protocol(ctx, s.port).is_sniffed
        permissive = s.mtls is not None and s.mtls.mode == "PERMISSIVE"
        if not undeclared and not permissive:
            continue
        seen.add(key)
        ev = [ctx.ref(Need.SERVICES, {"name": s.svc.metadata.name, "namespace": s.svc.metadata.namespace,
                                      "ports": [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in s.svc.spec.ports]}, f"{proto_name} port")]
        if permissive:
            ev.append(ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(s.mtls), f"{s.mtls.source}: PERMISSIVE"))
        steps = []
        if undeclared:
            steps.append(FixStep(description=f"declare the port as TCP (name it tcp-{proto_name.lower()} or set appProtocol: tcp)",
                                 command=f"kubectl patch service {s.svc.metadata.name} -n {s.svc.metadata.namespace} --type=json "
                                 f"-p='[{{\"op\":\"add\",\"path\":\"/spec/ports/{s.svc.spec.ports.index(s.port)}/appProtocol\",\"value\":\"tcp\"}}]'"))
        if permissive or undeclared:
            steps.append(_pa_port_fix(s, "STRICT") if s.pod.has_sidecar else FixStep(description="use STRICT or DISABLE for that port"))
        # both sniffers wait (client sidecars for the protocol, the server's for mTLS) > undeclared only > PERMISSIVE only
        variant = "both" if undeclared and permissive else ("undeclared" if undeclared else "permissive")
        problems.append(Problem(
            message=variant,
            args={"protocol": proto_name, "service_port": key, "port": s.port.port, "port_name": s.port.name or "",
                  "peer_authentication": s.mtls.source if permissive else None, "target_port": s.target},
            short=f"{proto_name} on {key}",
            level=None if variant == "permissive" else variant,
            evidence=ev,
            resources=[f"Service {s.svc.metadata.namespace}/{s.svc.metadata.name}"],
            steps=steps,
        ))
    return _result(problems, ctx, check="MTLS-SERVER-FIRST-PERMISSIVE", decided=decided,
                   ok_summary="server-first ports examined are declared TCP and not PERMISSIVE",
                   na_summary="no server-first protocol port among the services examined")
