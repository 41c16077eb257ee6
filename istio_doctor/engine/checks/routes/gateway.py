"""Gateway binding and gateway workload checks: ``ROUTE-VS-NO-GATEWAY``,
``ROUTE-HOST-NOT-IN-GATEWAY``, ``ROUTE-GW-SELECTOR``, ``ROUTE-GW-PORT-NOT-ON-SVC``,
``ROUTE-GW-TLS-MODE``, ``ROUTE-SNI-MISSING``, ``ROUTE-DUP-CERT-404``, ``ROUTE-GW-CONFLICT``,
``ROUTE-GW-CREDENTIAL``.
"""

from __future__ import annotations

import json
from typing import Any

from istio_doctor.engine.checks.routes._proxy import (
    _authority_host,
    _entries,
    _is_nr,
    _lines,
    _log,
    _port_of,
    _routed,
    _route_ref,
)
from istio_doctor.engine.checks.routes._resources import (
    _analyze,
    _analyze_ref,
    _dump,
    _gateways_selecting,
    _gw_key,
    _gw_lists_host,
    _gw_refs,
    _gw_serves_host,
    _in_registry,
    _nr_without_vhost,
    _obj_excerpt,
    _pod_pool,
    _relevant_gateways,
    _relevant_vs_for_pod,
    _selected_pods,
    _server_hosts_for,
    _vs_bound_to,
    _vs_excerpt,
    _vs_ns,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import config_host
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.engine.trace import TraceRequest, trace_request
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches, hosts_intersect

# --------------------------------------------------------------------------------------
# ROUTE-VS-NO-GATEWAY
# --------------------------------------------------------------------------------------


@check("ROUTE-VS-NO-GATEWAY", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.GATEWAYS),
       optional=(Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.SERVICES, Need.SERVICE_ENTRIES, Need.ANALYZE))
def vs_no_gateway(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService meant for ingress is not bound to the Gateway serving the examined gateway pod."""
    pod = ctx.pod()
    if not pod.is_gateway:
        return CheckResult.not_applicable("the examined pod is not a gateway; a VirtualService without gateways serves mesh traffic")
    gws = _gateways_selecting(ctx, pod)
    if not gws:
        return CheckResult.not_applicable(f"no Gateway selects gateway pod {pod.name}")
    gw_keys = {_gw_key(g) for g in gws}
    all_gw_keys = {_gw_key(g) for g in ctx.resources(Need.GATEWAYS)}
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    log = _log(ctx)
    misses = _nr_without_vhost(ctx, dump, log, pod) if dump is not None and log is not None else {}

    problems: list[tuple[Any, str, dict[str, Any], list[Any]]] = []  # (vs, message variant, its arguments, nr entries)
    for vs in ctx.resources(Need.VIRTUAL_SERVICES):
        refs = _gw_refs(vs)
        if set(refs) & gw_keys:
            continue
        vns = _vs_ns(vs)
        hosts = [config_host(ctx, h, vns) for h in vs.spec.hosts]
        hit_hosts = [a for a in misses if any(host_matches(h, a) for h in hosts)]
        hit = [e for a in hit_hosts for e in misses[a]]
        if not hit and log is not None:
            # Another VirtualService's '*' host may catch the request (a virtual host with routes
            # that miss its path): a 404 NR for a host this VirtualService names is still its
            # missing binding, not that other VirtualService's missing catch-all.
            named = [h for h in hosts if h != "*"]
            hit = [e for e in _entries(log) if _is_nr(e) and e.authority
                   and any(host_matches(h, _authority_host(e.authority)) for h in named)]
        dangling = [r for r in refs if r not in all_gw_keys]
        same_name = [g for g in gws for r in dangling if r.split("/")[1] == g.metadata.name]
        # A non-service host that a Gateway of this pod lists by name is meant for ingress.
        explicit = [h for h in vs.spec.hosts if h != "*" and not _in_registry(ctx, config_host(ctx, h, vns))
                    and any(_gw_lists_host(g, h) for g in gws)]
        served = [a for a in hit_hosts if any(_gw_serves_host(g, a) for g in gws)]
        if same_name:  # a short gateway name resolved in the VirtualService's namespace
            why, args = "dangling", {"dangling": dangling[0], "vs_namespace": vns, "real_gateway": _gw_key(same_name[0])}
        elif not vs.spec.gateways and (served or explicit):
            why, args = "mesh_only", {}
        elif refs and served:
            why, args = "other_gateway", {"refs": refs, "pod": pod.name}
        else:
            continue
        problems.append((vs, why, args, hit))
    if not problems:
        if misses:
            return CheckResult.passed(f"no VirtualService for {', '.join(sorted(misses))} exists unbound from {', '.join(sorted(gw_keys))}")
        return CheckResult.passed(f"every VirtualService meant for {', '.join(sorted(gw_keys))} is bound to it")
    vs, why, why_args, hit = problems[0]
    gw = gws[0]
    for g in gws:
        if any(_gw_serves_host(g, config_host(ctx, h, _vs_ns(vs)), _vs_ns(vs)) for h in vs.spec.hosts):
            gw = g
            break
    gw_ref = _gw_key(gw)
    evidence, observed = _nr_vs_gateway_refs(ctx, pod, hit, "the gateway answers 404 NR route_not_found for this host",
                                             vs, "the VirtualService is not bound to the gateway",
                                             gw, "the Gateway that selects the examined gateway pod")
    if dump is not None and hit:
        routed = _routed(ctx, dump, hit[0])
        rc = routed.route_config if routed is not None else None
        if rc is not None:
            evidence.append(_route_ref(ctx, rc, "the gateway's routes have no virtual host for the host"))
    msgs = _analyze(ctx, ["IST0101"], kind="VirtualService", name=vs.metadata.name, contains="gateway")
    evidence += _analyze_ref(ctx, msgs)
    gws_list = [g for g in vs.spec.gateways if g != "mesh"]
    new = [r if r.split("/")[0] != _vs_ns(vs) else r.split("/")[1] for r in [gw_ref]]
    keep_mesh = ["mesh"] if not vs.spec.gateways or "mesh" in vs.spec.gateways else []
    patch = "spec:\n  gateways:\n" + "".join(f"  - {g}\n" for g in new + keep_mesh)
    cmd = (f"kubectl patch virtualservice {vs.metadata.name} -n {_vs_ns(vs)} --type merge "
           f"-p '{json.dumps({'spec': {'gateways': new + keep_mesh}})}'")
    return CheckResult.failed(
        message=why,
        args={"vs": f"{_vs_ns(vs)}/{vs.metadata.name}", "vs_name": vs.metadata.name, "hosts": vs.spec.hosts, "gateway": gw_ref,
              "was": gws_list, **why_args},
        corroboration="logs" if hit else None,
        evidence=evidence,
        observed=observed,
        resources=[f"VirtualService {_vs_ns(vs)}/{vs.metadata.name}", f"Gateway {gw_ref}"],
        fix=Fix(steps=[FixStep(description="set spec.gateways (keep 'mesh' if sidecars also use this VirtualService)",
                               command=cmd, yaml_patch=patch)]),
    )


def _nr_vs_gateway_refs(
    ctx: CheckContext, pod: Any, hit: list[Any], log_note: str, vs: Any, vs_note: str, gw: Any, gw_note: str
) -> tuple[list[EvidenceRef], list[str]]:
    """The evidence of a VirtualService and Gateway that do not fit together: the gateway's
    404 NR lines for the host (when it logged any), then the two resources; and what was observed."""
    evidence: list[EvidenceRef] = []
    observed: list[str] = []
    if hit:
        evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hit), log_note))
        observed.append(f"{len(hit)}× 404 NR route_not_found at gateway {pod.name} for {hit[0].authority}")
    evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), vs_note))
    evidence.append(ctx.ref(Need.GATEWAYS, _obj_excerpt(gw, "Gateway"), gw_note))
    return evidence, observed


# --------------------------------------------------------------------------------------
# ROUTE-HOST-NOT-IN-GATEWAY
# --------------------------------------------------------------------------------------


@check("ROUTE-HOST-NOT-IN-GATEWAY", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.GATEWAYS),
       optional=(Need.SERVICES, Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.ANALYZE))
def host_not_in_gateway(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService host does not intersect the hosts of the Gateway it is bound to (Istio drops it)."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    problems: list[tuple[Any, Any, list[str]]] = []
    for gw in gws:
        for vs in _vs_bound_to(ctx, gw):
            vns = _vs_ns(vs)
            ghosts = [h for s in gw.spec.servers for h in _server_hosts_for(gw, s, vns)]
            bad = [h for h in vs.spec.hosts if not any(hosts_intersect(g, config_host(ctx, h, vns)) or hosts_intersect(g, h) for g in ghosts)]
            if bad:
                problems.append((gw, vs, bad))
    if not problems:
        return CheckResult.passed(f"every VirtualService host intersects the hosts of its Gateway ({', '.join(_gw_key(g) for g in gws)})")
    gw, vs, bad = problems[0]
    log = _log(ctx) if pod.is_gateway else None
    hit = [e for e in _entries(log) if _is_nr(e) and any(host_matches(h, _authority_host(e.authority)) for h in bad)]
    evidence, observed = _nr_vs_gateway_refs(ctx, pod, hit, "the gateway answers 404 NR for the dropped host",
                                             vs, "VirtualService hosts", gw, "Gateway server hosts")
    evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0132"], kind="VirtualService", name=vs.metadata.name))
    ghosts = sorted({h for s in gw.spec.servers for h in s.hosts})
    new_servers = [_dump(s) for s in gw.spec.servers]
    for s in new_servers:
        s["hosts"] = list(dict.fromkeys(list(s.get("hosts", [])) + bad))
    return CheckResult.failed(
        args={"vs": f"{_vs_ns(vs)}/{vs.metadata.name}", "hosts": bad, "gateway_hosts": ghosts, "gateway": _gw_key(gw)},
        corroboration="logs" if hit else None,
        evidence=evidence, observed=observed,
        resources=[f"VirtualService {_vs_ns(vs)}/{vs.metadata.name}", f"Gateway {_gw_key(gw)}"],
        fix=Fix(steps=[FixStep(description=f"add the host(s) to Gateway {_gw_key(gw)}",
                               command=f"kubectl edit gateway {gw.metadata.name} -n {gw.metadata.namespace}",
                               yaml_patch=json.dumps({"spec": {"servers": new_servers}}, indent=2))]),
    )


# --------------------------------------------------------------------------------------
# Gateway workload / Service / listener checks
# --------------------------------------------------------------------------------------


def _gateway_candidates(ctx: CheckContext, pod: Any) -> list[Any]:
    """Gateways relevant to the examined pod, including ones that (wrongly) select nothing."""
    gws = ctx.resources(Need.GATEWAYS)
    out = {_gw_key(g): g for g in _relevant_gateways(ctx, pod)}
    refs = {r for vs in _relevant_vs_for_pod(ctx, pod) for r in _gw_refs(vs)}
    for g in gws:
        if g.metadata.namespace == ctx.namespace or _gw_key(g) in refs:
            out.setdefault(_gw_key(g), g)
    if pod.is_gateway:
        log = _log(ctx)
        hosts = {_authority_host(e.authority) for e in _entries(log) if _is_nr(e) and e.authority}
        for g in gws:
            if any(_gw_serves_host(g, h) for h in hosts if h) and not any(h == "*" for s in g.spec.servers for h in s.hosts):
                out.setdefault(_gw_key(g), g)
    return list(out.values())


def _selecting_gateways(ctx: CheckContext, pod: Any) -> list[Any]:
    """The Gateways of the examined pod's traffic that have a selector: the ones whose pods and
    Service the gateway checks can look for."""
    return [g for g in _gateway_candidates(ctx, pod) if g.spec.selector]


@check("ROUTE-GW-SELECTOR", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES),
       optional=(Need.SERVICES, Need.CONTROL_PLANE_PODS, Need.PODS, Need.PROXY_STATUS, Need.PROXY_LOGS, Need.ANALYZE))
def gw_selector(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway's selector matches no gateway pod, so no proxy opens its listeners."""
    pod = ctx.pod()
    gws = _selecting_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway is involved in the examined pod's traffic")
    pool, known = _pod_pool(ctx, [g.metadata.namespace for g in gws])
    ps = ctx.ev.get_or(None, Need.PROXY_STATUS)
    gw_like_ns = {r.namespace for r in (ps or []) if r.namespace and (r.proxy_type == "router" or "gateway" in r.pod)}
    undecided = []
    for g in gws:
        if _selected_pods(pool, g.spec.selector):
            continue
        msgs = _analyze(ctx, ["IST0101"], kind="Gateway", name=g.metadata.name, namespace=g.metadata.namespace, contains="selector")
        if ps is None and not msgs:
            undecided.append(g)
            continue
        unseen = gw_like_ns - known
        if unseen and not msgs:
            undecided.append(g)
            continue
        sel = ",".join(f"{k}={v}" for k, v in g.spec.selector.items())
        gateway_pods = [p for p in pool if p.is_gateway]
        labels = {f"{p.metadata.namespace}/{p.metadata.name}": {k: p.labels.get(k) for k in ("app", "istio") if p.labels.get(k)} for p in gateway_pods[:4]}
        evidence = [ctx.ref(Need.GATEWAYS, _obj_excerpt(g, "Gateway"), "the Gateway's selector")]
        if labels:
            evidence.append(EvidenceRef(source=ctx.ev.source(Need.CONTROL_PLANE_PODS) or ctx.pod_source(), key="pods",
                                        excerpt="\n".join(f"{k}: {v}" for k, v in labels.items()), note="labels of the gateway pods that exist"))
        evidence += _analyze_ref(ctx, msgs)
        good = next((lbl for lbl in labels.values() if lbl), None)
        patch = json.dumps({"spec": {"selector": good}}) if good else None
        return CheckResult.failed(
            args={"gateway": _gw_key(g), "selector": sel, "namespaces": sorted(known), "ports": [s.port.number for s in g.spec.servers]},
            corroboration="analyze" if msgs else None,
            evidence=evidence, resources=[f"Gateway {_gw_key(g)}"],
            fix=Fix(steps=[FixStep(description="find the gateway pods' labels", command="kubectl get pods -A -l istio=ingressgateway --show-labels"),
                           FixStep(description="point the selector at them",
                                   command=(f"kubectl patch gateway {g.metadata.name} -n {g.metadata.namespace} --type merge -p '{patch}'" if patch else None),
                                   yaml_patch=patch)]),
        )
    if undecided:
        return CheckResult.unknown(
            f"no pod among {sorted(known)} matches the selector of Gateway(s) {[_gw_key(g) for g in undecided]}, but gateway pods may run elsewhere",
            reason="pods of other namespaces (and proxy-status) were not available to confirm the selector matches nothing")
    return CheckResult.passed(f"every involved Gateway selects running gateway pods ({', '.join(_gw_key(g) for g in gws)})")


@check("ROUTE-GW-PORT-NOT-ON-SVC", needs=(Need.POD, Need.GATEWAYS, Need.SERVICES, Need.VIRTUAL_SERVICES),
       optional=(Need.CONTROL_PLANE_PODS, Need.PODS, Need.ANALYZE, Need.PROXY_LOGS))
def gw_port_not_on_svc(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway server port is not exposed by the Service in front of the gateway pods."""
    pod = ctx.pod()
    gws = _selecting_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway is involved in the examined pod's traffic")
    pool, _known = _pod_pool(ctx, [g.metadata.namespace for g in gws])
    if pod.is_gateway:
        pool = pool + [pod]
    checked = 0
    for g in gws:
        gpods = _selected_pods(pool, g.spec.selector)
        if not gpods:
            continue
        svcs = [s for s in ctx.services() if any(s.selects(p) for p in gpods)]
        if not svcs:
            continue
        checked += 1
        ports: set[int] = set()
        for s in svcs:
            for p in s.spec.ports:
                ports.add(p.port)
                tp = p.effective_target_port
                if isinstance(tp, int):
                    ports.add(tp)
                else:
                    for gp in gpods[:1]:
                        for c in gp.spec.containers:
                            ports.update(cp.container_port for cp in c.ports if cp.name == tp)
        missing = [s.port.number for s in g.spec.servers if s.port.number not in ports]
        if missing:
            svc = svcs[0]
            table = "\n".join(f"{p.name or '-'}\t{p.port}\t{p.effective_target_port}/{p.protocol}" for p in svc.spec.ports)
            evidence = [ctx.ref(Need.GATEWAYS, _obj_excerpt(g, "Gateway"), "server ports"),
                        ctx.ref(Need.SERVICES, f"NAME\tPORT\tTARGETPORT\n{table}", f"ports of Service {svc.metadata.namespace}/{svc.metadata.name}")]
            evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0162"], kind="Gateway", name=g.metadata.name))
            new_ports = [{"name": f"port-{m}", "port": m, "targetPort": m, "protocol": "TCP"} for m in missing]
            return CheckResult.failed(
                args={"gateway": _gw_key(g), "missing": missing, "service": f"{svc.metadata.namespace}/{svc.metadata.name}",
                      "service_name": svc.metadata.name, "ports": sorted(ports)},
                evidence=evidence,
                resources=[f"Gateway {_gw_key(g)}", f"Service {svc.metadata.namespace}/{svc.metadata.name}"],
                fix=Fix(steps=[FixStep(description="add the port to the gateway Service",
                                       command=f"kubectl patch svc {svc.metadata.name} -n {svc.metadata.namespace} --type json -p "
                                               f"'{json.dumps([{'op': 'add', 'path': '/spec/ports/-', 'value': p} for p in new_ports])}'")]),
            )
    if not checked:
        return CheckResult.not_applicable("no involved Gateway has gateway pods behind a Service that could be checked")
    return CheckResult.passed("every involved Gateway port is exposed by the gateway Service")


_TERMINATING = {"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"}
_PASSTHROUGH = {"PASSTHROUGH", "AUTO_PASSTHROUGH"}


def _server_tls_mode(server: Any) -> str | None:
    proto = server.port.protocol.upper()
    mode = (server.tls.mode or "").upper() if server.tls else ""
    if proto in ("HTTPS", "TLS") or mode:
        if mode in _PASSTHROUGH:
            return "PASSTHROUGH"
        if proto == "HTTPS" or mode in _TERMINATING:
            return mode or "SIMPLE"
    return None


@check("ROUTE-GW-TLS-MODE", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES),
       optional=(Need.SERVICES, Need.PROXY_LOGS))
def gw_tls_mode(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The VirtualService route type does not match the Gateway server's TLS mode (http vs tls routes)."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    tls_servers = [(g, s) for g in gws for s in g.spec.servers if _server_tls_mode(s)]
    if not tls_servers:
        return CheckResult.not_applicable("no TLS server on the involved Gateways")
    for g, s in tls_servers:
        mode = _server_tls_mode(s)
        for vs in _vs_bound_to(ctx, g):
            vns = _vs_ns(vs)
            sh = _server_hosts_for(g, s, vns)
            if not any(hosts_intersect(a, config_host(ctx, h, vns)) or hosts_intersect(a, h) for a in sh for h in vs.spec.hosts):
                continue
            problem = None
            if mode != "PASSTHROUGH" and vs.spec.tls and not vs.spec.http:
                problem, step = "terminate", "use http: routes in the VirtualService (the gateway terminates TLS), or set the server's tls.mode: PASSTHROUGH"
            elif mode == "PASSTHROUGH" and vs.spec.http and not vs.spec.tls and not vs.spec.tcp:
                problem, step = "passthrough", "add a tls: route with match.sniHosts for the host, or terminate TLS at the gateway (tls.mode: SIMPLE with credentialName)"
            if problem:
                return CheckResult.failed(
                    message=problem,
                    args={"gateway": _gw_key(g), "mode": mode, "port": s.port.number, "vs": f"{vns}/{vs.metadata.name}"},
                    evidence=[ctx.ref(Need.GATEWAYS, {"metadata": {"name": g.metadata.name, "namespace": g.metadata.namespace},
                                                      "server": _dump(s)}, "the TLS server"),
                              ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), "the bound VirtualService's route type")],
                    resources=[f"Gateway {_gw_key(g)}", f"VirtualService {vns}/{vs.metadata.name}"],
                    fix=Fix(steps=[FixStep(description=step, command=f"kubectl edit virtualservice {vs.metadata.name} -n {vns}")]),
                )
    return CheckResult.passed("VirtualService route types match the TLS mode of their Gateway servers")


@check("ROUTE-SNI-MISSING", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS), optional=(Need.ENVOY_STATS, Need.GATEWAYS))
def sni_missing(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Clients reach an HTTPS gateway port whose filter chains all require an SNI, without sending one."""
    pod = ctx.pod()
    if not pod.is_gateway:
        return CheckResult.not_applicable("the examined pod is not a gateway")
    dump = ctx.config_dump()
    sni_ports = {}
    for lst in dump.listeners:
        tls_chains = [fc for fc in lst.filter_chains if fc.has_tls]
        if not tls_chains or not lst.port or lst.state != "active":
            continue
        names = sorted({n for fc in tls_chains for n in fc.server_names})
        # Envoy's own filter-chain matching (the request tracer): TLS without SNI finds no chain,
        # TLS with one of the served names does.
        ip = pod.ip or "10.0.0.1"
        without = trace_request(dump, TraceRequest(dest_ip=ip, dest_port=lst.port, tls="tls", direction="gateway",
                                                   authority=names[0] if names else None))
        with_sni = trace_request(dump, TraceRequest(dest_ip=ip, dest_port=lst.port, tls="tls", sni=names[0],
                                                    direction="gateway", authority=names[0])) if names else None
        if without.verdict == "filter_chain" and with_sni is not None and with_sni.verdict != "filter_chain":
            sni_ports[lst.port] = names
    if not sni_ports:
        return CheckResult.not_applicable("no gateway listener requires an SNI (no HTTPS server with specific hosts)")
    log = ctx.proxy_log()
    hits = [e for e in log.entries if e.response_code_details == "filter_chain_not_found" and not e.requested_server_name
            and _port_of(e.downstream_local_address) in sni_ports]
    stats = ctx.ev.get_or({}, Need.ENVOY_STATS, ctx.namespace, ctx.pod_name)
    counters = {k: v for k, v in stats.items() if k.endswith("no_filter_chain_match") and v > 0 and any(f"_{p}." in k for p in sni_ports)}
    if not hits and not counters:
        return CheckResult.passed(f"no connection without SNI was refused on the SNI-only ports {sorted(sni_ports)}")
    port = _port_of(hits[0].downstream_local_address) if hits else next(iter(sni_ports))
    evidence = []
    observed = []
    if hits:
        evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hits), "connections without SNI (REQUESTED_SERVER_NAME '-') refused"))
        observed.append(f"{len(hits)}× NR filter_chain_not_found without SNI on gateway port {port}")
    if counters:
        evidence.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in counters.items()), "listener no_filter_chain_match"))
    lst = dump.listeners_on_port(port)
    if lst:
        evidence.append(ctx.ref(Need.CONFIG_DUMP, {"listener": lst[0].name, "filter_chains": [
            {"server_names": fc.server_names, "tls": fc.has_tls} for fc in lst[0].filter_chains]}, "every filter chain requires one of these SNIs"))
    names = sni_ports.get(port, [])
    return CheckResult.failed(
        args={"port": port, "server_names": names, "name": names[0] if names else ""},
        corroboration="logs" if hits else None,
        evidence=evidence, observed=observed, resources=[f"Pod {pod.namespace}/{pod.name}"],
        fix=Fix(steps=[FixStep(description="test with SNI set",
                               command=f"curl -v --resolve {names[0] if names else '<host>'}:443:<gateway-ip> https://{names[0] if names else '<host>'}/")]),
    )


@check("ROUTE-DUP-CERT-404", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES), optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.ANALYZE, Need.SERVICES))
def dup_cert_404(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Several Gateways terminate TLS with the same certificate: browsers reuse HTTP/2 connections across hosts and get 404."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if pod.is_gateway is False and not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    selectors = {tuple(sorted(g.spec.selector.items())) for g in gws}
    peers = [g for g in ctx.resources(Need.GATEWAYS) if tuple(sorted(g.spec.selector.items())) in selectors]
    by_cert: dict[str, list[tuple[Any, Any]]] = {}
    for g in peers:
        for s in g.spec.servers:
            mode = _server_tls_mode(s)
            if mode and mode != "PASSTHROUGH" and s.tls is not None:
                cert = s.tls.credential_name or s.tls.server_certificate
                if cert:
                    by_cert.setdefault(f"{g.metadata.namespace if s.tls.credential_name else ''}/{cert}", []).append((g, s))
    shared = {c: pairs for c, pairs in by_cert.items() if len({_gw_key(g) for g, _ in pairs}) > 1}
    if not shared:
        return CheckResult.not_applicable("no TLS certificate is shared by several Gateways")
    cert, pairs = next(iter(shared.items()))
    hosts = sorted({h.partition("/")[2] or h for _, s in pairs for h in s.hosts})
    log = _log(ctx) if pod.is_gateway else None
    hit = [e for e in _entries(log) if _is_nr(e) and any(host_matches(h, _authority_host(e.authority)) for h in hosts)
           and (e.protocol or "").upper().startswith("HTTP/2")]
    msgs = _analyze(ctx, ["IST0138"])
    if not hit and not msgs:
        return CheckResult.passed(f"certificate {cert.split('/')[-1]} is shared by {sorted({_gw_key(g) for g, _ in pairs})}, but no HTTP/2 404 NR for their hosts is seen")
    evidence = [ctx.ref(Need.GATEWAYS, [{"gateway": _gw_key(g), "server": _dump(s)} for g, s in pairs], "the same certificate on several Gateways")]
    if hit:
        evidence.insert(0, ctx.ref(Need.PROXY_LOGS, _lines(hit), "HTTP/2 requests answered 404 NR on a reused connection"))
    evidence += _analyze_ref(ctx, msgs)
    return CheckResult.failed(
        args={"gateways": sorted({_gw_key(g) for g, _ in pairs}), "certificate": cert.split("/")[-1], "hosts": hosts},
        corroboration="logs" if hit else None,
        evidence=evidence, observed=[f"{len(hit)}× HTTP/2 404 NR for {hit[0].authority}"] if hit else [],
        resources=[f"Gateway {_gw_key(g)}" for g, _ in pairs],
        fix=Fix(steps=[FixStep(description="merge the servers into one Gateway whose hosts list every host", yaml_patch=json.dumps(
                    {"spec": {"servers": [{"port": _dump(pairs[0][1].port), "hosts": hosts, "tls": _dump(pairs[0][1].tls)}]}}, indent=2))]),
    )


@check("ROUTE-GW-CONFLICT", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES),
       optional=(Need.PROXY_LOGS, Need.ANALYZE, Need.SERVICES, Need.CONTROL_PLANE_PODS, Need.PODS))
def gw_conflict(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Several Gateways with the same selector declare the same port and overlapping hosts."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    all_gws = ctx.resources(Need.GATEWAYS)
    found = None
    for g in gws:
        for o in all_gws:
            if _gw_key(o) == _gw_key(g) or o.spec.selector != g.spec.selector:
                continue
            for s in g.spec.servers:
                for t in o.spec.servers:
                    if s.port.number != t.port.number:
                        continue
                    common = [a for a in s.hosts for b in t.hosts if hosts_intersect(a.partition("/")[2] or a, b.partition("/")[2] or b)]
                    if common:
                        found = (g, s, o, t, common)
                        break
                if found:
                    break
            if found:
                break
        if found:
            break
    if not found:
        return CheckResult.passed("no other Gateway with the same selector declares an overlapping port and host")
    g, s, o, t, common = found
    tls = bool(_server_tls_mode(s) or _server_tls_mode(t))
    log = _log(ctx) if pod.is_gateway else None
    hit = [e for e in _entries(log) if (_is_nr(e) or e.response_code_details == "filter_chain_not_found")
           and _port_of(e.downstream_local_address) in (s.port.number, s.port.target_port)]
    msgs = _analyze(ctx, ["IST0145"])
    if not tls and not hit and not msgs:
        return CheckResult.passed(f"Gateways {_gw_key(g)} and {_gw_key(o)} share port {s.port.number} and hosts {common}; "
                                  "for plain HTTP Istio merges them and no failing request shows a conflict")
    evidence = [ctx.ref(Need.GATEWAYS, [{"gateway": _gw_key(g), "selector": g.spec.selector, "server": _dump(s)},
                                        {"gateway": _gw_key(o), "selector": o.spec.selector, "server": _dump(t)}], "overlapping servers")]
    if hit:
        evidence.insert(0, ctx.ref(Need.PROXY_LOGS, _lines(hit), "failing requests on the contested port"))
    evidence += _analyze_ref(ctx, msgs)
    return CheckResult.failed(
        message="tls" if tls else None,
        args={"gateway": _gw_key(g), "other": _gw_key(o), "selector": g.spec.selector, "port": s.port.number, "hosts": sorted(set(common))},
        corroboration="logs" if hit else ("tls" if tls else None),
        evidence=evidence, observed=[f"{len(hit)}× failing requests on gateway port {s.port.number}"] if hit else [],
        resources=[f"Gateway {_gw_key(g)}", f"Gateway {_gw_key(o)}"],
        fix=Fix(steps=[FixStep(description="remove the duplicate server from one Gateway", command=f"kubectl edit gateway {o.metadata.name} -n {o.metadata.namespace}")]),
    )


@check("ROUTE-GW-CREDENTIAL", needs=(Need.POD, Need.CONFIG_DUMP, Need.GATEWAYS), optional=(Need.ANALYZE, Need.PROXY_LOGS))
def gw_credential(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway's credentialName secret is missing or invalid: the gateway's SDS secret stays WARMING."""
    pod = ctx.pod()
    if not pod.is_gateway:
        return CheckResult.not_applicable("the examined pod is not a gateway (its config dump has no gateway certificates)")
    creds = [(g, s, s.tls.credential_name) for g in _gateways_selecting(ctx, pod) for s in g.spec.servers
             if s.tls is not None and s.tls.credential_name and _server_tls_mode(s) not in (None, "PASSTHROUGH")]
    if not creds:
        return CheckResult.not_applicable("no Gateway server of this gateway uses credentialName")
    dump = ctx.config_dump()
    if "secrets" not in dump.sections:
        return CheckResult.unknown("the config dump has no secrets section", reason="secrets were not part of the config dump")
    for g, s, cred in creds:
        names = {f"kubernetes://{cred}", f"kubernetes://{g.metadata.namespace}/{cred}", cred}
        ours = [x for x in dump.secrets if x.name in names or x.name.endswith(f"/{cred}")]
        active = [x for x in ours if x.status == "ACTIVE"]
        if active:
            continue
        msgs = _analyze(ctx, ["IST0101", "IST0161"], kind="Gateway", name=g.metadata.name)
        evidence = [ctx.ref(Need.CONFIG_DUMP, "NAME\tSTATUS\n" + "\n".join(f"{x.name}\t{x.status}" for x in dump.secrets), "gateway SDS secrets"),
                    ctx.ref(Need.GATEWAYS, {"gateway": _gw_key(g), "server": _dump(s)}, "the server's credentialName")]
        evidence += _analyze_ref(ctx, msgs)
        return CheckResult.failed(
            args={"gateway": _gw_key(g), "port": s.port.number, "credential": cred, "secrets": [f"{x.name} {x.status}" for x in ours],
                  "namespace": pod.namespace},
            evidence=evidence, resources=[f"Gateway {_gw_key(g)}", f"Secret {pod.namespace}/{cred}"],
            fix=Fix(steps=[FixStep(description="check the secret exists where the gateway runs", command=f"kubectl get secret {cred} -n {pod.namespace}"),
                           FixStep(description="create it", command=f"kubectl create -n {pod.namespace} secret tls {cred} --cert=<cert.pem> --key=<key.pem>")],
                    ordered=True),
        )
    return CheckResult.passed(f"every credentialName of the gateway's servers is loaded ACTIVE ({', '.join(sorted({c for _, _, c in creds}))})")
