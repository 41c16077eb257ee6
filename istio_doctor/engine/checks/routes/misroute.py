"""Requests Envoy delivers to another service than the caller meant: ``MISROUTE-PREFIX-SHADOWED`` (a route
that catches requests meant for a later one) and ``MISROUTE-HOST-OVERRIDES-ADDRESS`` (the Host header names
another service than the address the app connected to) and ``MISROUTE-REGEX-NEVER-MATCHES`` (a route
regex written as a JavaScript literal, which RE2's whole-path match never takes). All show only as the
wrong service's own answer (``via_upstream``, no flag), which is why the other routing checks, reading Envoy's flags, miss them.

``MISROUTE-PREFIX-SHADOWED``:

Envoy takes the first route of a virtual host whose match holds (envoy
``source/common/router/config_impl.cc`` ``VirtualHostImpl::getRouteFromEntries``), and a ``prefix``
match is a plain string prefix, not a path segment (envoy ``api/envoy/config/route/v3/route_components.proto``
``RouteMatch.prefix``; ``path_separated_prefix`` is the segment-aware one). istiod turns an Istio
``uri: {prefix: /policy}`` into ``prefix: /policy`` and, on a gateway, appends the routes of every
VirtualService bound to one host into one virtual host (istio/istio@1.22.0
``pilot/pkg/networking/core/gateway.go``, ``vHostDedupMap``). So ``/policy`` placed before
``/policy-author`` sends ``/policy-author/...`` to the ``/policy`` service, whose own 404
(``via_upstream``, no flag) is all the access log shows (istio/istio#18849,
openmobilityfoundation/mds-core#224).

The check reads the examined proxy's upstream 404s, replays Envoy's route choice on the dump and
reports a request that a shorter prefix caught in the middle of a path segment while a later route
of the same virtual host, to another destination, matches it more specifically.
"""

from __future__ import annotations

import re
from typing import Any

from istio_doctor.engine.checks.routes._proxy import _authority_host, _lines, _path_only, _route_match_text, _routed
from istio_doctor.engine.checks.routes._resources import _service_for_authority
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import service_host
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.engine.trace.http import match_route, split_path
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.envoy.model import Route, VirtualHost


def _dest(r: Route) -> str:
    return r.cluster or ",".join(c for c, _ in r.weighted_clusters) or "?"


def _mid_segment(prefix: str, path: str) -> bool:
    """The prefix ends inside a path segment of ``path`` (``/policy`` in ``/policy-author/``)."""
    return bool(prefix) and not prefix.endswith("/") and len(path) > len(prefix) and path[len(prefix)] != "/"


def _vs_ref(r: Route) -> str | None:
    if not r.virtual_service:
        return None
    name, _, ns = r.virtual_service.partition(".")
    return f"{ns}/{name}"


def _shadowing(vh: VirtualHost, path: str, query: str) -> tuple[int, Route, int, Route] | None:
    """(index, route) Envoy picks and (index, route) of the later, more specific one, when the pick is a
    prefix caught mid-segment. Routes with header matchers are left alone: the log does not carry headers."""
    first = match_route(vh, path, query, {})
    if first.route is None or first.route.match.headers:
        return None
    prefix = first.route.match.prefix
    if prefix is None or not _mid_segment(prefix, path):
        return None
    rest = VirtualHost(name=vh.name, domains=vh.domains, routes=vh.routes[first.index + 1:])
    later = match_route(rest, path, query, {})
    if later.route is None or later.route.match.headers or _dest(later.route) == _dest(first.route):
        return None
    m = later.route.match
    specific = (m.path == path) or (m.prefix is not None and len(m.prefix) > len(prefix)) or (
        m.path_separated_prefix is not None and len(m.path_separated_prefix) > len(prefix))
    if not specific:
        return None
    return first.index, first.route, first.index + 1 + later.index, later.route


@check("MISROUTE-PREFIX-SHADOWED", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS))
def prefix_shadowed(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An earlier route's string prefix catches requests that a later, more specific route serves."""
    dump = ctx.config_dump()
    log = ctx.proxy_log()
    app_404 = [e for e in log.entries if e.response_code == 404 and not e.response_flags and not e.is_tcp and e.path
               and e.upstream_cluster and not e.upstream_cluster.startswith("inbound|")]
    if not app_404:
        return CheckResult.not_applicable("no upstream 404 on an outbound or gateway route in the istio-proxy log")
    found: list[tuple[Any, Any, tuple[int, Route, int, Route]]] = []
    for e in app_404:
        r = _routed(ctx, dump, e)
        if r is None or r.vhost is None:
            continue
        path, query = split_path(e.path)
        hit = _shadowing(r.vhost, path, query)
        if hit is not None:
            found.append((e, r, hit))
    if not found:
        return CheckResult.passed(f"{len(app_404)} upstream 404(s), none caught by a shorter prefix before a more specific route")
    e0, r0, (i, first, j, later) = found[0]
    same = [e for e, r, h in found if r.vhost is r0.vhost and h[0] == i and h[2] == j]
    paths = sorted({_path_only(e.path) for e in same})
    rc_name = r0.route_config.name if r0.route_config is not None else "?"
    prefix = first.match.prefix or ""
    first_vs, later_vs = _vs_ref(first), _vs_ref(later)
    later_match = ", ".join(f"{k} {v!r}" for k, v in _route_match_text(later).items())
    return CheckResult.failed(
        args={"count": len(same), "paths": paths, "authority": e0.authority, "vhost": r0.vhost.name, "route": rc_name,
              "prefix": prefix, "first": i, "first_dest": _dest(first), "first_vs": first_vs,
              "later": j, "later_dest": _dest(later), "later_vs": later_vs, "later_match": later_match},
        evidence=[ctx.ref(Need.PROXY_LOGS, _lines(same), f"upstream 404 from {_dest(first)} for paths a later route serves"),
                  ctx.ref(Need.CONFIG_DUMP, {"route_config": rc_name, "virtual_host": r0.vhost.name, "routes": [
                      {"index": i, "match": _route_match_text(first), "cluster": _dest(first), "virtual_service": first_vs},
                      {"index": j, "match": _route_match_text(later), "cluster": _dest(later), "virtual_service": later_vs}]},
                      "Envoy takes the first route whose match holds; a prefix is a plain string prefix")],
        observed=[f"{len(same)}× 404 via_upstream from {_dest(first)} for {paths[0]}"],
        resources=[f"VirtualService {v}" for v in dict.fromkeys(x for x in (first_vs, later_vs) if x)] or [f"virtual host {r0.vhost.name}"],
        fix=Fix(steps=[FixStep(description=f"make route {i} match whole segments: `prefix: {prefix}/` plus `exact: {prefix}` "
                                           f"(or move the more specific match first, in one VirtualService)")]),
    )


def _svc_ref(s: Any) -> str:
    return f"{s.metadata.namespace}/{s.metadata.name}"


@check("MISROUTE-HOST-OVERRIDES-ADDRESS", needs=(Need.POD, Need.PROXY_LOGS, Need.SERVICES))
def host_overrides_address(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app connected to one Service's address but its Host header named another; the sidecar routed by
    the Host (Envoy picks the virtual host from ``:authority``, envoy ``config_impl.cc`` ``findVirtualHost``; the
    outbound listener's address only picks the route table), so the other service answered.

    istio/istio#22727 (``curl http://service2/... -H 'Host: service3'``: service3 answered 404, service2 saw
    nothing), istio/istio#11670 (nginx forwarding the client's Host). Only failed requests count: a Host
    rewritten on purpose that gets its answer is not an incident.
    """
    pod = ctx.pod()
    if pod.is_gateway:
        return CheckResult.not_applicable("an ingress gateway is addressed by its own IP; the Host picks the service there")
    log = ctx.proxy_log()
    found: list[tuple[Any, Any, Any]] = []
    for e in log.entries:
        us = e.upstream_service
        if (e.is_tcp or e.response_code < 400 or e.response_flags or not e.authority or us is None
                or us.direction != "outbound" or not e.downstream_local_address):
            continue
        ip = e.downstream_local_address.rsplit(":", 1)[0]
        connected = _service_for_authority(ctx, ip, ctx.namespace)
        named = _service_for_authority(ctx, _authority_host(e.authority), ctx.namespace)
        if connected is None or named is None or connected is named:
            continue
        if service_host(ctx, named) != us.fqdn or service_host(ctx, connected) == us.fqdn:
            continue  # a VirtualService, not the Host, chose the destination
        found.append((e, connected, named))
    if not found:
        return CheckResult.passed("every failed request went to the service whose address the app connected to")
    e0, conn, named = found[0]
    same = [e for e, c, n in found if c is conn and n is named]
    codes = sorted({e.response_code for e in same})
    return CheckResult.failed(
        args={"count": len(same), "codes": codes, "address": e0.downstream_local_address, "connected": _svc_ref(conn),
              "authority": e0.authority, "named": _svc_ref(named), "cluster": e0.upstream_cluster},
        evidence=[ctx.ref(Need.PROXY_LOGS, _lines(same), f"sent to {_svc_ref(conn)}'s address with Host {e0.authority}"),
                  ctx.ref(Need.SERVICES, [{"name": s.metadata.name, "namespace": s.metadata.namespace, "clusterIP": s.spec.cluster_ip}
                                          for s in (conn, named)], "the address belongs to one Service, the Host names the other")],
        observed=[f"{len(same)}× {'/'.join(map(str, codes))} via_upstream from {e0.upstream_cluster} for requests to {e0.downstream_local_address}"],
        resources=[f"Pod {ctx.namespace}/{pod.name}", f"Service {_svc_ref(conn)}", f"Service {_svc_ref(named)}"],
        fix=Fix(steps=[FixStep(description=f"send Host {conn.metadata.name} (or no Host override) when calling {_svc_ref(conn)}; "
                                           "a reverse proxy must set Host to the upstream it forwards to")]),
    )


#: a JavaScript regex literal: ``/body/flags`` (ECMAScript RegularExpressionLiteral), with at least one escaped
#: slash or a flag, so a plain RE2 path pattern such as ``/api/.*`` is never mistaken for one
_JS_LITERAL = re.compile(r"^/(?P<body>.+)/(?P<flags>[dgimsuy]*)$")


def _js_intent(rx: str) -> re.Pattern[str] | None:
    """The pattern a JavaScript-style literal was meant to be (search semantics, its flags), or None."""
    m = _JS_LITERAL.match(rx)
    if m is None or not (m.group("flags") or "\\/" in m.group("body")):
        return None
    try:
        return re.compile(m.group("body"), re.IGNORECASE if "i" in m.group("flags") else 0)
    except re.error:
        return None


@check("MISROUTE-REGEX-NEVER-MATCHES", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS))
def regex_never_matches(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A route regex written as a JavaScript literal (``/\\/foo\\/bar/gi``): Envoy's ``safe_regex`` is RE2 and must
    match the whole path (envoy ``api/envoy/config/route/v3/route_components.proto`` ``RouteMatch.safe_regex``;
    Istio's ``StringMatch.regex`` is RE2, istio/istio.io#7766), so the delimiters and flags are literal
    characters and the rule never matches; the requests it was meant for fall to a later route (istio/istio#14983)."""
    dump = ctx.config_dump()
    log = ctx.proxy_log()
    failed = [e for e in log.entries if e.response_code >= 400 and not e.response_flags and not e.is_tcp and e.path
              and e.upstream_cluster and not e.upstream_cluster.startswith("inbound|")]
    if not failed:
        return CheckResult.not_applicable("no failed upstream answer on an outbound or gateway route in the istio-proxy log")
    found: list[tuple[Any, Any, int, Route, Route]] = []
    for e in failed:
        r = _routed(ctx, dump, e)
        if r is None or r.vhost is None:
            continue
        path, query = split_path(e.path)
        taken = match_route(r.vhost, path, query, {})
        if taken.route is None:
            continue
        for i, rt in enumerate(r.vhost.routes[:taken.index]):
            intent = _js_intent(rt.match.safe_regex or "")
            if intent is not None and intent.search(path) and _dest(rt) != _dest(taken.route):
                found.append((e, r, i, rt, taken.route))
                break
    if not found:
        return CheckResult.passed(f"{len(failed)} failed request(s), none passed over a JavaScript-style route regex")
    e0, r0, i, rt, taken = found[0]
    same = [e for e, r, j, _, _ in found if r.vhost is r0.vhost and j == i]
    paths = sorted({_path_only(e.path) for e in same})
    rc_name = r0.route_config.name if r0.route_config is not None else "?"
    return CheckResult.failed(
        args={"count": len(same), "paths": paths, "regex": rt.match.safe_regex, "index": i, "vs": _vs_ref(rt),
              "dest": _dest(rt), "taken": _dest(taken), "codes": sorted({e.response_code for e in same}),
              "vhost": r0.vhost.name, "route": rc_name},
        evidence=[ctx.ref(Need.PROXY_LOGS, _lines(same), f"answered by {_dest(taken)}, not by the regex route's {_dest(rt)}"),
                  ctx.ref(Need.CONFIG_DUMP, {"route_config": rc_name, "virtual_host": r0.vhost.name, "routes": [
                      {"index": i, "match": _route_match_text(rt), "cluster": _dest(rt), "virtual_service": _vs_ref(rt)}]},
                      "safe_regex is RE2 and must match the whole path")],
        observed=[f"{len(same)}× {e0.response_code} via_upstream from {_dest(taken)} for {paths[0]}"],
        resources=[f"VirtualService {_vs_ref(rt)}"] if _vs_ref(rt) else [f"virtual host {r0.vhost.name}"],
        fix=Fix(steps=[FixStep(description="write the regex in RE2 matching the whole path, e.g. `(?i).*/ratings/.*` for "
                                           "`/\\/ratings\\//i`, or use a prefix match")]),
    )
