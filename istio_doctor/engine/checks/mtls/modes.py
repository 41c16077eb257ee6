"""Client TLS mode against the server's PeerAuthentication mode: ``MTLS-DR-DISABLE-VS-STRICT`` (a
DestinationRule turns TLS off towards a STRICT port), ``MTLS-NONMESH-CLIENT`` (a client without a
sidecar calls a STRICT port), ``MTLS-TO-NONMESH-SERVER`` (a DestinationRule forces ISTIO_MUTUAL
towards pods without a sidecar) and ``MTLS-PORT-LEVEL-PA`` (``portLevelMtls`` keyed by the Service
port, while Istio matches the workload's target port).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks.mtls._reading import (
    STRICT_PATH_NEEDS,
    _CONN_FLAGS,
    _TLS_OFF,
    _WVN,
    Dest,
    Problem,
    ServerPort,
    _client_dests,
    _client_reset_entries,
    _cluster_tls,
    _describe_cluster_tls,
    _dests_under_dr,
    _dr_excerpt,
    _dr_tls,
    _dr_tls_fix,
    _drs_targeting,
    _ip_of,
    _mesh_clients_in,
    _obj_excerpt,
    _own_served_ports,
    _pa_excerpt,
    _pa_port_fix,
    _pod_by_ip,
    _port_of,
    _raw,
    _result,
    _server_nr_entries,
    _server_ports,
    _summarize,
    _tls_text,
    examined_pod,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import service_host
from istio_doctor.engine.mesh import container_port_for, effective_mtls, root_namespace
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.engine.trace import plaintext_inbound
from istio_doctor.engine.trace.model import hops_text
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# MTLS-DR-DISABLE-VS-STRICT
# --------------------------------------------------------------------------------------


@check(
    "MTLS-DR-DISABLE-VS-STRICT",
    needs=STRICT_PATH_NEEDS,
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS, Need.ENVOY_STATS),
    peer_needs=(Need.PROXY_LOGS, Need.CONFIG_DUMP),
)
def dr_disable_vs_strict(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule turns TLS off (DISABLE/SIMPLE) towards a workload whose port is STRICT."""
    pod = examined_pod(ctx, Need.DESTINATION_RULES, Need.PEER_AUTHENTICATIONS)
    problems: list[Problem] = []
    decided = False
    overridden: list[str] = []
    if pod.has_sidecar:
        for d, applied, tls, where in _dests_under_dr(ctx, pod):
            if tls is None or tls.mode not in _TLS_OFF:
                decided = True
                continue
            svc, sps = _server_ports(ctx, d.host, d.port)
            if not sps:
                continue
            strict = [s for s in sps if s.mtls is not None and s.mtls.mode == "STRICT"]
            decided = True
            if not strict:
                continue
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and ctls.mode == "istio_mutual":
                overridden.append(f"{applied.rule.metadata.namespace}/{applied.rule.metadata.name} ({_describe_cluster_tls(cl)})")
                continue
            problems.append(_dr_off_problem(ctx, pod, d, applied, tls.mode, where, strict, cl))
    # server view: rules anywhere that disable TLS towards this pod's STRICT ports
    if pod.has_sidecar:
        for sp in _own_served_ports(ctx, pod):
            if sp.mtls is None or sp.mtls.mode != "STRICT":
                if sp.mtls is not None:
                    decided = True
                continue
            host = service_host(ctx, sp.svc)
            for dr, why in _drs_targeting(ctx, host):
                decided = True
                tls, where = _dr_tls(dr, sp.port.port, None)
                if tls is None or tls.mode not in _TLS_OFF:
                    continue
                if dr.metadata.namespace != sp.svc.metadata.namespace and dr.metadata.namespace != root_namespace(ctx):
                    if _mesh_clients_in(ctx, dr.metadata.namespace) is False:
                        continue  # no sidecar client there applies the rule
                if any(p.resources and f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}" in p.resources for p in problems):
                    continue
                nr = _server_nr_entries(ctx, pod, sp.target)
                ev = [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.mode: {tls.mode} ({why})"),
                      ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(sp.mtls), f"{sp.mtls.source}: {sp.mtls.mode}")]
                observed = []
                if nr:
                    ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), "plaintext connections rejected by this STRICT port"))
                    observed = _summarize(nr, f"{pod.metadata.name}:{sp.target}")
                stats = ctx.ev.get_or(None, Need.ENVOY_STATS, ctx.namespace, ctx.pod_name) or {}
                counter = "ssl.fail_verify_no_cert" if tls.mode == "SIMPLE" else "no_filter_chain_match"
                hits = {k: v for k, v in stats.items() if k.startswith("listener.") and k.endswith(counter) and v > 0}
                if hits:
                    ev.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in hits.items()), "inbound listener counters"))
                    observed.append(f"{counter} = {sum(hits.values())} on the inbound listener")
                problems.append(Problem(
                    message="server",
                    args={"dr": f"{dr.metadata.namespace}/{dr.metadata.name}", "where": where, "mode": tls.mode, "host": host,
                          "port": sp.port.port, "peer_authentication": sp.mtls.source, "target_port": sp.target,
                          # the rule applies to its own namespace's clients, or to every client from the host's/root namespace
                          "client_namespace": dr.metadata.namespace if dr.metadata.namespace not in (sp.svc.metadata.namespace, root_namespace(ctx)) else None,
                          "plaintext": tls.mode == "DISABLE"},
                    short=f"DR {dr.metadata.namespace}/{dr.metadata.name} {tls.mode} vs STRICT port {sp.target}",
                    level="server_rejects" if observed else "server_config",
                    evidence=ev, observed=observed,
                    resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", f"Service {sp.svc.metadata.namespace}/{sp.svc.metadata.name}"],
                    steps=[_dr_tls_fix(dr, where), _pa_port_fix(sp, "PERMISSIVE")],
                ))
    res = _result(problems, ctx, check="MTLS-DR-DISABLE-VS-STRICT", decided=decided or bool(overridden),
                  ok_summary="no DestinationRule disables TLS towards a STRICT workload on the paths examined"
                  + (f"; DR(s) {', '.join(overridden)} say DISABLE but the client's Envoy still uses mTLS" if overridden else ""),
                  na_summary="no DestinationRule applies to the traffic examined")
    return res


def _dr_off_problem(ctx: CheckContext, pod: Any, d: Dest, applied: Any, mode: str, where: str,
                    strict: list[ServerPort], cl: Any | None) -> Problem:
    dr = applied.rule
    s0 = strict[0]
    ev = [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.mode: {mode} — {applied.why} is the rule this client applies"),
          ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(s0.mtls), f"{s0.mtls.source}: {s0.mtls.mode} on port {s0.target} of {s0.pod.metadata.name}")]
    observed: list[str] = []
    level = None
    if cl is not None and cl.tls.mode in ("none", "simple"):
        ev.append(ctx.ref(Need.CONFIG_DUMP, _describe_cluster_tls(cl), "what the client's Envoy does"))
        level = "config_dump"
    resets = _client_reset_entries(d.entries)
    if resets:
        ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "the client's failing requests"))
        observed += _summarize(resets, d.host)
        level = "client_logs"
    for s in strict:
        nr = _server_nr_entries(ctx, s.pod, s.target)
        if nr:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), f"server {s.pod.metadata.name} rejects plaintext (no filter chain)",
                              namespace=s.pod.metadata.namespace, name=s.pod.metadata.name))
            observed += _summarize(nr, f"{s.pod.metadata.name}:{s.target}")
            level = "server_logs"
            break
    return Problem(
        args={"dr": f"{dr.metadata.namespace}/{dr.metadata.name}", "where": where, "mode": mode, "host": d.host, "port": d.port,
              "peer_authentication": s0.mtls.source, "target_port": s0.target, "server": f"{s0.pod.metadata.namespace}/{s0.pod.metadata.name}",
              "plaintext": mode == "DISABLE"},
        short=f"DR {dr.metadata.namespace}/{dr.metadata.name} {mode} vs STRICT {d.host}:{d.port}",
        level=level,
        evidence=ev, observed=observed,
        resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", f"Service {s0.svc.metadata.namespace}/{s0.svc.metadata.name}"]
        + ([f"PeerAuthentication {s0.mtls.policy.metadata.namespace}/{s0.mtls.policy.metadata.name}"] if s0.mtls.policy is not None else []),
        steps=[_dr_tls_fix(dr, where), _pa_port_fix(s0, "PERMISSIVE")],
    )


# --------------------------------------------------------------------------------------
# MTLS-NONMESH-CLIENT
# --------------------------------------------------------------------------------------


@check(
    "MTLS-NONMESH-CLIENT",
    needs=(Need.POD, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.DESTINATION_RULES, Need.CONTROL_PLANE_CONFIGMAPS, Need.NAMESPACES, Need.CONFIG_DUMP),
    peer_needs=(Need.PROXY_LOGS,),
)
def nonmesh_client(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A client without a sidecar (other namespace, Job, controller) sends plaintext to a STRICT port."""
    pod = ctx.pod()
    pas = ctx.resources(Need.PEER_AUTHENTICATIONS)
    ctx.pods()
    problems: list[Problem] = []
    decided = False
    if pod.has_sidecar:
        strict = [s for s in _own_served_ports(ctx, pod) if s.mtls is not None and s.mtls.mode == "STRICT"]
        if not strict:
            return CheckResult.not_applicable("no port of this pod is STRICT: plaintext clients are accepted")
        decided = True
        by_port = {s.target: s for s in strict}
        nr = [e for e in _server_nr_entries(ctx, pod, None) if _port_of(e.downstream_local_address) in by_port]
        groups: dict[str, list[AccessLogEntry]] = {}
        for e in nr:
            ip = _ip_of(e.downstream_remote_address) or "?"
            groups.setdefault(ip, []).append(e)
        related_clients = {(r.namespace, r.name) for r in ctx.related if r.role == "client"}
        for ip, entries in groups.items():
            client = _pod_by_ip(ctx, ip)
            if client is None:
                for r in ctx.related:
                    if (r.namespace, r.name) in related_clients:
                        cand = ctx.ev.get_or(None, Need.POD, r.namespace, r.name)
                        if cand is not None and cand.ip == ip:
                            client = cand
            sp = by_port[_port_of(entries[0].downstream_local_address)]
            host = service_host(ctx, sp.svc)
            if client is not None and client.has_sidecar:
                continue  # a mesh client sending plaintext: a DestinationRule or a bypass, not this cause
            sdump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
            plain = plaintext_inbound(sdump, pod.ip, sp.target) if sdump is not None and pod.ip else None
            if plain is not None and plain.verdict != "filter_chain":
                # The proxy's own configuration accepts plaintext on this port (the request tracer):
                # the PeerAuthentication does not explain these rejections (stale config, another cause).
                continue
            if client is None:
                # An IP no gathered pod has: a pod of another namespace, a node, a VM. When a
                # DestinationRule disables TLS towards this host, a mesh client may be the
                # sender, so the identity is left undecided rather than guessed.
                if any(_dr_tls(dr, sp.port.port, None)[0] is not None and _dr_tls(dr, sp.port.port, None)[0].mode in _TLS_OFF
                       for dr, _w in _drs_targeting(ctx, host)):
                    continue
            ev = [ctx.ref(Need.PROXY_LOGS, _raw(entries), f"plaintext from {ip} rejected: no filter chain for non-mTLS traffic"),
                  ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(sp.mtls), f"{sp.mtls.source}: STRICT on port {sp.target}")]
            if plain is not None:
                ev.append(ctx.ref(Need.CONFIG_DUMP, hops_text(plain.hops),
                                  f"request trace of plaintext to port {sp.target}: no filter chain takes it"))
            if client is not None:
                ev.append(ctx.ref(Need.POD, f"containers: {[c.name for c in client.spec.containers]}\npodIP: {client.ip}",
                                  "the client runs no istio-proxy", namespace=client.metadata.namespace, name=client.metadata.name))
            steps = []
            if client is not None:
                steps.append(FixStep(
                    description="inject the client: label its namespace and restart its workload",
                    command=f"kubectl label namespace {client.metadata.namespace} istio-injection=enabled --overwrite && "
                    + (f"kubectl rollout restart {client.owner_workload.kind.lower()}/{client.owner_workload.name} -n {client.metadata.namespace}"
                       if client.owner_workload is not None and client.owner_workload.kind in ("Deployment", "StatefulSet", "DaemonSet")
                       else f"kubectl delete pod {client.metadata.name} -n {client.metadata.namespace}  # recreate it injected"),
                ))
            steps.append(_pa_port_fix(sp, "PERMISSIVE"))
            problems.append(Problem(
                message="server",
                args={"client": f"{client.metadata.namespace}/{client.metadata.name}" if client is not None else None, "ip": ip,
                      "host": host, "port": sp.port.port, "peer_authentication": sp.mtls.source, "target_port": sp.target,
                      "count": len(entries)},
                short=f"plaintext from {ip}",
                level="server_logs_client_pod" if client is not None else "server_logs",
                evidence=ev, observed=_summarize(entries, f"{pod.metadata.name}:{sp.target}"),
                resources=[f"Service {sp.svc.metadata.namespace}/{sp.svc.metadata.name}"]
                + ([f"Pod {client.metadata.namespace}/{client.metadata.name}"] if client is not None else []),
                steps=steps,
            ))
        return _result(problems, ctx, check="MTLS-NONMESH-CLIENT", decided=decided,
                       ok_summary="no plaintext connection from a client without sidecar was rejected by this pod's STRICT ports",
                       na_summary="")
    # The examined pod is itself outside the mesh: which STRICT workloads would reset its calls?
    if pod.spec.host_network or pod.is_gateway:
        return CheckResult.not_applicable("host-network or gateway pod: not an ordinary mesh client")
    root = root_namespace(ctx)
    strict_scopes = [p for p in pas if not p.is_workload_level and p.mode == "STRICT"]
    if not strict_scopes:
        return CheckResult.passed(f"pod {pod.metadata.name} has no sidecar, but no mesh-wide or namespace-wide PeerAuthentication is STRICT")
    mesh_wide = [p for p in strict_scopes if p.metadata.namespace == root]
    ev = [ctx.ref(Need.POD, f"containers: {[c.name for c in pod.spec.containers]}", "no istio-proxy: this pod sends plaintext"),
          ctx.ref(Need.PEER_AUTHENTICATIONS, [_obj_excerpt(p, "PeerAuthentication") for p in strict_scopes[:3]], "STRICT scopes")]
    return CheckResult.failed(
        message="client",
        args={"pod": f"{pod.metadata.namespace}/{pod.metadata.name}",
              "peer_authentications": [f"{p.metadata.namespace}/{p.metadata.name}" for p in strict_scopes[:4]],
              # a STRICT policy in the root namespace covers the whole mesh; else the namespaces listed
              "namespaces": None if mesh_wide else sorted({p.metadata.namespace for p in strict_scopes})},
        evidence=ev,
        fix=Fix(steps=[
            FixStep(description="inject the sidecar and recreate the pod",
                    command=f"kubectl label namespace {pod.metadata.namespace} istio-injection=enabled --overwrite && "
                    + (f"kubectl rollout restart {pod.owner_workload.kind.lower()}/{pod.owner_workload.name} -n {pod.metadata.namespace}"
                       if pod.owner_workload is not None and pod.owner_workload.kind in ("Deployment", "StatefulSet", "DaemonSet")
                       else f"kubectl delete pod {pod.metadata.name} -n {pod.metadata.namespace}  # recreate it injected")),
        ]),
        resources=[f"Pod {pod.metadata.namespace}/{pod.metadata.name}"] + [f"PeerAuthentication {p.metadata.namespace}/{p.metadata.name}" for p in strict_scopes[:3]],
    )


# --------------------------------------------------------------------------------------
# MTLS-TO-NONMESH-SERVER
# --------------------------------------------------------------------------------------


@check(
    "MTLS-TO-NONMESH-SERVER",
    needs=(Need.POD, Need.DESTINATION_RULES, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS, Need.PEER_AUTHENTICATIONS),
    peer_needs=(Need.PROXY_LOGS,),
)
def to_nonmesh_server(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule forces ISTIO_MUTUAL towards pods that run no sidecar (auto mTLS would send plaintext)."""
    pod = examined_pod(ctx, Need.DESTINATION_RULES)
    problems: list[Problem] = []
    decided = False
    if pod.has_sidecar:
        for d, applied, tls, where in _dests_under_dr(ctx, pod):
            svc, sps = _server_ports(ctx, d.host, d.port)
            if not sps:
                continue
            decided = True
            if tls is None or tls.mode != "ISTIO_MUTUAL":
                continue
            plain = [s for s in sps if not s.pod.has_sidecar]
            if not plain:
                continue
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and (ctls.mode == "none" or ctls.auto):
                continue  # the client's Envoy does not force mTLS: the rule is not in effect
            problems.append(_to_plain_problem(ctx, applied.rule, where, d.host, d.port, plain, d.entries, cl, client=pod))
    else:
        for svc in ctx.services_selecting(pod):
            host = service_host(ctx, svc)
            for sp in svc.spec.ports:
                for dr, why in _drs_targeting(ctx, host):
                    decided = True
                    tls, where = _dr_tls(dr, sp.port, None)
                    if tls is None or tls.mode != "ISTIO_MUTUAL":
                        continue
                    if any(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}" in p.resources for p in problems):
                        continue
                    tgt = container_port_for(svc, sp, pod)
                    problems.append(_to_plain_problem(ctx, dr, where, host, sp.port, [ServerPort(svc, sp, pod, tgt, None)], [], None, client=None))
    return _result(problems, ctx, check="MTLS-TO-NONMESH-SERVER", decided=decided,
                   ok_summary="no DestinationRule forces ISTIO_MUTUAL towards pods without a sidecar on the paths examined",
                   na_summary="no DestinationRule applies to the traffic examined")


def _to_plain_problem(ctx: CheckContext, dr: Any, where: str, host: str, port: int, plain: list[ServerPort],
                      entries: list[AccessLogEntry], cl: Any | None, *, client: Any | None) -> Problem:
    s0 = plain[0]
    ev = [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.mode: ISTIO_MUTUAL"),
          ctx.ref(Need.POD, f"containers: {[c.name for c in s0.pod.spec.containers]}\nlabels: {dict(s0.pod.labels)}",
                  "server pod without istio-proxy (no security.istio.io/tlsMode=istio label)",
                  namespace=s0.pod.metadata.namespace, name=s0.pod.metadata.name)]
    level = None
    observed: list[str] = []
    if cl is not None:
        ev.append(ctx.ref(Need.CONFIG_DUMP, _describe_cluster_tls(cl), "the client's Envoy originates Istio mTLS to every endpoint"))
        level = "config_dump"
    tls_fail = [e for e in entries if _WVN in _tls_text(e) or ("TLS" in _tls_text(e) and set(e.response_flags) & _CONN_FLAGS)]
    resets = tls_fail or _client_reset_entries(entries)
    if resets:
        ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "TLS handshake towards a plaintext server fails"))
        observed = _summarize(resets, host)
        level = "client_tls_error" if tls_fail else "client_logs"
    return Problem(
        message="client" if client is not None else "server",
        args={"dr": f"{dr.metadata.namespace}/{dr.metadata.name}", "where": where, "host": host, "port": port,
              "servers": [s.pod.metadata.name for s in plain[:3]]},
        short=f"DR {dr.metadata.namespace}/{dr.metadata.name} ISTIO_MUTUAL to non-mesh {host}",
        level=level,
        evidence=ev, observed=observed,
        resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", f"Pod {s0.pod.metadata.namespace}/{s0.pod.metadata.name}"],
        steps=[
            FixStep(description=f"remove the tls setting ({where}) from DestinationRule {dr.metadata.namespace}/{dr.metadata.name} so auto mTLS picks plaintext for pods without sidecar",
                    command=(f"kubectl patch destinationrule {dr.metadata.name} -n {dr.metadata.namespace} --type=json -p='[{{\"op\":\"remove\",\"path\":\"/spec/trafficPolicy/tls\"}}]'"
                             if where == "trafficPolicy.tls" else f"kubectl edit destinationrule {dr.metadata.name} -n {dr.metadata.namespace}")),
            FixStep(description="or put the server in the mesh",
                    command=f"kubectl label namespace {s0.pod.metadata.namespace} istio-injection=enabled --overwrite && "
                    + (f"kubectl rollout restart deployment/{s0.pod.owner_workload.name} -n {s0.pod.metadata.namespace}"
                       if s0.pod.owner_workload is not None and s0.pod.owner_workload.kind == "Deployment"
                       else f"kubectl delete pod {s0.pod.metadata.name} -n {s0.pod.metadata.namespace}")),
        ],
    )


# --------------------------------------------------------------------------------------
# MTLS-PORT-LEVEL-PA
# --------------------------------------------------------------------------------------


@check(
    "MTLS-PORT-LEVEL-PA",
    needs=(Need.POD, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
    peer_needs=(Need.PROXY_LOGS,),
)
def port_level_pa(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A PeerAuthentication's portLevelMtls is keyed by the Service port, but Istio matches the workload (target) port."""
    pod = examined_pod(ctx)
    pas = ctx.resources(Need.PEER_AUTHENTICATIONS)
    servers: list[Any] = [pod] if pod.has_sidecar else []
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod, dr_namespace_hosts=False):
            _svc, sps = _server_ports(ctx, d.host, d.port)
            servers += [s.pod for s in (sps or []) if s.pod.has_sidecar]
    problems: list[Problem] = []
    decided = False
    seen: set[tuple[str, str, int]] = set()
    for server in servers:
        ns = server.metadata.namespace
        for pa in pas:
            if pa.metadata.namespace != ns or not pa.spec.port_level_mtls or not pa.is_workload_level or not pa.spec.selector.matches(server.labels):
                continue
            decided = True
            workload_ports = {cp.container_port for c in server.app_containers for cp in c.ports}
            svc_ports = [(svc, sp, container_port_for(svc, sp, server)) for svc in ctx.services_selecting(server) for sp in svc.spec.ports]
            workload_ports |= {t for _s, _p, t in svc_ports if t is not None}
            for key, m in pa.spec.port_level_mtls.items():
                if key in workload_ports or not m.mode or m.mode == "UNSET":
                    continue
                hit = next(((svc, sp, t) for svc, sp, t in svc_ports if sp.port == key and t is not None and t != key), None)
                if hit is None:
                    continue  # an undeclared app port is possible: no evidence of a wrong key
                svc, sp, tgt = hit
                eff = effective_mtls(ctx, server, tgt)
                k = (pa.metadata.namespace, pa.metadata.name, key)
                if eff.mode == m.mode or k in seen:
                    continue
                seen.add(k)
                nr = _server_nr_entries(ctx, server, tgt) if eff.mode == "STRICT" else []
                ev = [ctx.ref(Need.PEER_AUTHENTICATIONS, _obj_excerpt(pa, "PeerAuthentication"), f"portLevelMtls keyed by {key}"),
                      ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                              "ports": [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in svc.spec.ports]},
                              f"Service port {key} targets workload port {tgt}")]
                if nr:
                    ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), "plaintext still rejected on the target port",
                                      namespace=server.metadata.namespace, name=server.metadata.name))
                problems.append(Problem(
                    args={"peer_authentication": f"{pa.metadata.namespace}/{pa.metadata.name}", "key": key, "mode": m.mode,
                          "service": svc.metadata.name, "pod": server.metadata.name, "target_port": tgt,
                          "effective_mode": eff.mode, "effective_source": eff.source},
                    short=f"portLevelMtls {key} should be {tgt}",
                    level="server_logs" if nr else None,
                    evidence=ev, observed=_summarize(nr, f"{server.metadata.name}:{tgt}") if nr else [],
                    resources=[f"PeerAuthentication {pa.metadata.namespace}/{pa.metadata.name}", f"Service {svc.metadata.namespace}/{svc.metadata.name}"],
                    steps=[FixStep(description=f"replace the key {key} with {tgt}",
                                   command=(f"kubectl patch peerauthentication {pa.metadata.name} -n {pa.metadata.namespace} --type=json "
                                            f"-p='[{{\"op\":\"remove\",\"path\":\"/spec/portLevelMtls/{key}\"}},{{\"op\":\"add\",\"path\":\"/spec/portLevelMtls/{tgt}\",\"value\":{{\"mode\":\"{m.mode}\"}}}}]'"))],
                ))
    return _result(problems, ctx, check="MTLS-PORT-LEVEL-PA", decided=decided,
                   ok_summary="every portLevelMtls key is a workload port",
                   na_summary="no workload-level PeerAuthentication with portLevelMtls applies to the pods examined")
