"""What Envoy does with the logged request: ``ROUTE-AUTHORITY-MISMATCH`` (no virtual host for the
``:authority``) and ``ROUTE-MATCH-MISS`` (a virtual host, but no route matches the path).
"""

from __future__ import annotations

import json
from typing import Any

from istio_doctor.engine.checks.routes._proxy import (
    _authority_host,
    _is_ip,
    _is_nr,
    _lines,
    _path_only,
    _route_match_text,
    _route_ref,
    _routed,
)
from istio_doctor.engine.checks.routes._resources import (
    _gw_refs,
    _nr_without_vhost,
    _service_entries_for,
    _service_for_authority,
    _vs_excerpt,
    _vs_ns,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import config_host, service_host
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.engine.trace.http import find_virtual_host
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches

# --------------------------------------------------------------------------------------
# ROUTE-AUTHORITY-MISMATCH / ROUTE-MATCH-MISS (what Envoy does with the logged request)
# --------------------------------------------------------------------------------------


def _known_host(ctx: CheckContext, host: str, client_ns: str) -> bool:
    """Whether any configuration names this host (a VirtualService host or a registry entry)."""
    svc = _service_for_authority(ctx, host, client_ns)
    if svc is not None or (not _is_ip(host) and _service_entries_for(ctx, host)):
        return True
    sfq = service_host(ctx, svc) if svc is not None else None
    for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES):
        for h in vs.spec.hosts:
            r = config_host(ctx, h, _vs_ns(vs))
            if h == "*":
                # '*' names no host in particular, but a '*' VirtualService meant for a gateway
                # does serve this request: then the binding, not the Host header, is wrong.
                if _gw_refs(vs):
                    return True
                continue
            if host_matches(r, host) or (sfq and host_matches(r, sfq)):
                return True
    return False


def _route_not_found(ctx: CheckContext, none: str) -> tuple[Any, Any, Any, list[Any]] | CheckResult:
    """The examined pod, its dump, its log and the 404 NR lines with an authority, or not applicable
    (``none`` says why) when it logged none: the opening of the checks that explain an NR."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    log = ctx.proxy_log()
    nr = [e for e in log.entries if _is_nr(e) and e.authority]
    if not nr:
        return CheckResult.not_applicable(none)
    return pod, dump, log, nr


@check("ROUTE-AUTHORITY-MISMATCH", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.VIRTUAL_SERVICES, Need.SERVICES),
       optional=(Need.SERVICE_ENTRIES,))
def authority_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The request's Host/:authority matches no virtual host domain and no configured host."""
    opening = _route_not_found(ctx, "no 404 NR route_not_found in the istio-proxy log")
    if isinstance(opening, CheckResult):
        return opening
    pod, dump, log, nr = opening
    misses = _nr_without_vhost(ctx, dump, log, pod)
    unknown = {a: es for a, es in misses.items() if not _known_host(ctx, a, ctx.namespace)}
    if not unknown:
        by_port = {a: ps for a, es in misses.items() if (ps := [e for e in es if _port_only_miss(ctx, dump, e)])}
        if by_port:
            return _port_in_host(ctx, dump, pod, *max(by_port.items(), key=lambda kv: len(kv[1])))
        return CheckResult.passed("every authority of the 404 NR requests is a configured host: the miss is elsewhere")
    host, es = max(unknown.items(), key=lambda kv: len(kv[1]))
    routed = _routed(ctx, dump, es[0])
    rc = routed.route_config if routed is not None else None
    rc_name = rc.name if rc is not None else ""
    domains = sorted({d for vh in (rc.virtual_hosts if rc else []) if vh.routes for d in vh.domains})
    evidence = [ctx.ref(Need.PROXY_LOGS, _lines(es), f"404 NR for authority {es[0].authority}")]
    if rc is not None:
        evidence.append(_route_ref(ctx, rc, f"route {rc_name}: no virtual host domain matches {es[0].authority}"))
    return CheckResult.failed(
        args={"count": len(es), "authority": es[0].authority, "by_ip": _is_ip(host), "route": rc_name or "?", "domains": domains,
              "served": domains[:3], "host": host},
        evidence=evidence, observed=[f"{len(es)}× 404 NR route_not_found for authority {es[0].authority}"],
        resources=[f"Pod {ctx.namespace}/{pod.name}"],
        fix=Fix(steps=[FixStep(description="test with the served host name",
                               command=f"curl -sv -H 'Host: {domains[0] if domains else '<host>'}' http://<address>{_path_only(es[0].path)}"),
                       FixStep(description=f"or serve {host} too: add it to spec.hosts of the VirtualService (and the Gateway servers for ingress)")]),
    )


def _port_only_miss(ctx: CheckContext, dump: Any, e: Any) -> bool:
    """The Host names a served host, but its port makes Envoy miss: the route table does not
    ignore the port (istiod sets ignore_port_in_host_matching on gateways from 1.15, on sidecars from 1.16:
    ``SIDECAR_IGNORE_PORT_IN_HOST_MATCH`` defaults to false in 1.15.x) and no ``host:port`` /
    ``host:*`` domain takes this one (istio/istio@1.3.0 gateway.go wrote ``host:<server port>``).
    Both choices are the tracer's (engine/trace/http.find_virtual_host), the one copy of Envoy's rule."""
    host = _authority_host(e.authority)
    if host == (e.authority or "").strip().lower():
        return False
    routed = _routed(ctx, dump, e)
    if routed is None or routed.route_config is None:
        return False
    vh = find_virtual_host(routed.route_config, host).vhost
    return vh is not None and bool(vh.routes) and vh.domains != ["*"]


def _port_in_host(ctx: CheckContext, dump: Any, pod: Any, host: str, es: list[Any]) -> CheckResult:
    routed = _routed(ctx, dump, es[0])
    rc = routed.route_config if routed is not None else None
    rc_name = rc.name if rc is not None else ""
    vh = find_virtual_host(rc, host).vhost if rc is not None else None
    domains = list(vh.domains) if vh is not None else []
    port = (es[0].authority or "").rsplit(":", 1)[1]
    evidence = [ctx.ref(Need.PROXY_LOGS, _lines(es), f"404 NR for authority {es[0].authority}")]
    if rc is not None:
        evidence.append(_route_ref(ctx, rc, f"route {rc_name}: {host} is served, {es[0].authority} matches no domain"))
    return CheckResult.failed(
        message="port",
        args={"count": len(es), "authority": es[0].authority, "route": rc_name or "?", "domains": domains, "host": host,
              "port": port, "vhost": vh.name if vh is not None else "?"},
        evidence=evidence, observed=[f"{len(es)}× 404 NR route_not_found for authority {es[0].authority}"],
        resources=[f"Pod {ctx.namespace}/{pod.name}"],
        fix=Fix(steps=[FixStep(description="test with the Host the routes serve, without the port",
                               command=f"curl -sv -H 'Host: {host}' http://<address>{_path_only(es[0].path)}")]),
    )


@check("ROUTE-MATCH-MISS", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES,))
def match_miss(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A virtual host matches the request but none of its routes matches the path (no catch-all)."""
    opening = _route_not_found(ctx, "no 404 NR route_not_found in the istio-proxy log (an application's own 404 is via_upstream)")
    if isinstance(opening, CheckResult):
        return opening
    pod, dump, log, nr = opening
    misses: list[tuple[Any, Any, Any]] = []
    for e in nr:
        r = _routed(ctx, dump, e)
        # Envoy picked a virtual host and none of its routes holds for the request (path, headers,
        # query, as the trace evaluated them)
        if r is None or r.vhost is None or not r.vhost.routes or r.route_matched:
            continue
        misses.append((e, r.vhost, r.route_config.name if r.route_config else ""))
    if not misses:
        return CheckResult.passed("no 404 NR request reached a virtual host whose routes miss its path")
    e0, vh, rc_name = misses[0]
    same = [e for e, v, _ in misses if v.name == vh.name]
    paths = sorted({_path_only(e.path) for e in same})
    vs_ref = next((r.virtual_service for r in vh.routes if r.virtual_service), None)
    matches = [_route_match_text(r) for r in vh.routes]
    evidence = [ctx.ref(Need.PROXY_LOGS, _lines(same), "404 NR for paths no route matches"),
                ctx.ref(Need.CONFIG_DUMP, {"route_config": rc_name, "virtual_host": vh.name, "domains": vh.domains,
                                           "routes": [{"match": m} for m in matches]}, "the routes of the matched virtual host")]
    vs_obj = None
    if vs_ref:
        name, _, ns = vs_ref.partition(".")
        vs_obj = next((v for v in ctx.ev.get_or([], Need.VIRTUAL_SERVICES) if v.metadata.name == name and _vs_ns(v) == ns), None)
        if vs_obj is not None:
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs_obj), "the VirtualService behind these routes"))
    header_only = [m for m in matches if m.get("headers")]
    default_dest = None
    if vs_obj is not None:
        for h in vs_obj.spec.http:
            if h.route:
                default_dest = h.route[0].destination
                break
    patch = None
    if default_dest is not None:
        d = {"host": default_dest.host}
        if default_dest.port and default_dest.port.number:
            d["port"] = {"number": default_dest.port.number}  # type: ignore[assignment]
        patch = "spec:\n  http:\n  # ...existing rules, then a last rule without match:\n  - route:\n    - destination:\n" + "".join(
            f"        {k}: {json.dumps(v) if isinstance(v, dict) else v}\n" for k, v in d.items())
    target = f"VirtualService {vs_ref.split('.')[1]}/{vs_ref.split('.')[0]}" if vs_ref else f"virtual host {vh.name}"
    return CheckResult.failed(
        args={"count": len(same), "authority": e0.authority, "paths": paths, "path": paths[0], "vhost": vh.name, "route": rc_name,
              "routes": len(vh.routes), "header_routes": bool(header_only),
              "vs": f"{vs_ref.split('.')[1]}/{vs_ref.split('.')[0]}" if vs_ref else None},
        evidence=evidence, observed=[f"{len(same)}× 404 NR route_not_found for {e0.authority}{paths[0]}"],
        resources=[target],
        fix=Fix(steps=[FixStep(description="append a catch-all route as the last http rule", yaml_patch=patch,
                               command=(f"kubectl edit virtualservice {vs_ref.split('.')[0]} -n {vs_ref.split('.')[1]}" if vs_ref else None))]),
    )
