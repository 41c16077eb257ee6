"""Each matching rule of the tracer against Envoy's / Istio's documented behaviour or source.

Minimal configurations shaped like the fields Envoy reads; every test cites the rule it pins.
Envoy sources are envoyproxy/envoy (main) paths; Istio sources are istio/istio at the tag named.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from istio_doctor.engine.trace import Stage, TraceRequest, trace_request
from istio_doctor.engine.trace.http import find_virtual_host, header_matches, match_route, normalize
from istio_doctor.engine.trace.listeners import Conn, capture_exclusion, match_filter_chains
from istio_doctor.engine.trace.rbac import RbacInput, evaluate
from istio_doctor.engine.trace.upstream import choose_socket
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.sockets import ListeningSocket

# --------------------------------------------------------------------------------------
# a tiny dump builder (raw admin /config_dump shape)
# --------------------------------------------------------------------------------------


def _addr(ip: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": ip, "port_value": port}}


def hcm(rds: str | None = None, routes: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    tc: dict[str, Any] = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                          "http_filters": extra.pop("http_filters", [{"name": "envoy.filters.http.router"}]), **extra}
    if rds:
        tc["rds"] = {"route_config_name": rds}
    if routes is not None:
        tc["route_config"] = routes
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": tc}


def tcp(cluster: str) -> dict[str, Any]:
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": {"cluster": cluster, "stat_prefix": cluster}}


def listener(name: str, ip: str, port: int, chains: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": _addr(ip, port), "filter_chains": chains, **extra}


def chain(filters: list[dict[str, Any]], match: dict[str, Any] | None = None, name: str = "", tls: bool = False,
          mtls: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"filters": filters}
    if match:
        out["filter_chain_match"] = match
    if name:
        out["name"] = name
    if tls:
        out["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": mtls, "common_tls_context": {}}}
    return out


def vhost(name: str, domains: list[str], routes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "domains": domains, "routes": routes, **extra}


def route(match: dict[str, Any], cluster: str = "c", name: str = "") -> dict[str, Any]:
    r: dict[str, Any] = {"match": match, "route": {"cluster": cluster}}
    if name:
        r["name"] = name
    return r


def eds_cluster(name: str, tsm: bool = False) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "type": "EDS", "eds_cluster_config": {"service_name": name}}
    if tsm:
        c["transport_socket_matches"] = [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": f"outbound_.80_._.{name}", "common_tls_context": {"alpn_protocols": ["istio-peer-exchange", "istio"],
                                                                       "tls_certificate_sds_secret_configs": [{"name": "default"}],
                                                                       "combined_validation_context": {"validation_context_sds_secret_config": {"name": "ROOTCA"}}}}}},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer"}}]
    return c


def cla(name: str, eps: list[tuple[str, int, str, dict[str, Any] | None]]) -> dict[str, Any]:
    lbs = []
    for ip, port, health, tsm in eps:
        lb: dict[str, Any] = {"endpoint": {"address": _addr(ip, port)}, "health_status": health}
        if tsm is not None:
            lb["metadata"] = {"filter_metadata": {"envoy.transport_socket_match": tsm}}
        lbs.append(lb)
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": lbs}]}


def dump(listeners=(), routes=(), clusters=(), endpoints=(), node: dict[str, Any] | None = None):
    configs: list[dict[str, Any]] = []
    if node is not None:
        configs.append({"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": node}})
    configs += [
        {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
         "dynamic_listeners": [{"name": x["name"], "active_state": {"listener": x}} for x in listeners]},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
         "dynamic_route_configs": [{"route_config": r} for r in routes]},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
         "dynamic_active_clusters": [{"cluster": c} for c in clusters]},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
         "dynamic_endpoint_configs": [{"endpoint_config": e} for e in endpoints]},
    ]
    return parse_config_dump(json.dumps({"configs": configs}))


VOUT = listener("virtualOutbound", "0.0.0.0", 15001, [chain([tcp("PassthroughCluster")])], use_original_dst=True)
PASS = {"name": "PassthroughCluster", "type": "ORIGINAL_DST"}


def rc(name: str, vhosts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "virtual_hosts": vhosts, **extra}


def _vh(route_cfg: dict[str, Any], authority: str) -> str | None:
    d = dump(routes=[route_cfg])
    ch = find_virtual_host(d.routes[0], authority)
    return ch.vhost.name if ch.vhost else None


# --------------------------------------------------------------------------------------
# virtual hosts: envoy source/common/router/config_impl.cc RouteMatcher::findVirtualHost
# --------------------------------------------------------------------------------------

DOMAINS = rc("r", [
    vhost("exact", ["www.example.com"], []),
    vhost("sfx", ["*.example.com"], []),
    vhost("longsfx", ["*.api.example.com"], []),
    vhost("pfx", ["api.*"], []),
    vhost("longpfx", ["api.internal.*"], []),
    vhost("any", ["*"], []),
])


@pytest.mark.parametrize(("host", "want"), [
    ("www.example.com", "exact"),              # exact first
    ("WWW.Example.COM", "exact"),              # host lower-cased, domains lower-cased at load
    ("v1.api.example.com", "longsfx"),         # longest suffix wildcard
    ("foo.example.com", "sfx"),
    ("api.example.com", "sfx"),                # suffix wildcards are tried before prefix wildcards
    ("api.internal.x", "longpfx"),             # longest prefix wildcard
    ("api.other", "pfx"),
    (".example.com", "any"),                   # the wildcard must cover at least one character
    ("10.0.0.1:8080", "any"),
])
def test_vhost_order(host, want):
    assert _vh(DOMAINS, host) == want


def test_vhost_none_without_catch_all():
    assert _vh(rc("r", [vhost("a", ["a.com"], [])]), "b.com") is None


def test_port_is_part_of_the_host_without_ignore_port():
    """Istio <= 1.14 sidecars (and 1.15 unless SIDECAR_IGNORE_PORT_IN_HOST_MATCH) list `host` and
    `host:port` domains (istio/istio@1.14.0 pilot/pkg/networking/core/v1alpha3/httproute.go
    generateVirtualHostDomains / appendDomainPort), and Envoy matches the Host as sent: the
    listener's port matches, any other port falls to `*`."""
    cfg = rc("9080", [vhost("reviews.default.svc.cluster.local:9080", ["reviews", "reviews:9080"], []),
                      vhost("allow_any", ["*"], [])])
    assert _vh(cfg, "reviews:9080") == "reviews.default.svc.cluster.local:9080"
    assert _vh(cfg, "reviews") == "reviews.default.svc.cluster.local:9080"
    assert _vh(cfg, "reviews:80") == "allow_any"


def test_ignore_port_in_host_matching_from_1_16_sidecars():
    """Istio >= 1.15 with SIDECAR_IGNORE_PORT_IN_HOST_MATCH (default true from 1.16: istio/istio@1.16.0
    pilot/pkg/features/pilot.go) lists bare hosts only and sets ignore_port_in_host_matching, so
    Envoy drops any port (HeaderUtility::getPortStart) before matching."""
    cfg = rc("9080", [vhost("reviews.default.svc.cluster.local:9080", ["reviews"], []), vhost("allow_any", ["*"], [])],
             ignore_port_in_host_matching=True)
    assert _vh(cfg, "reviews:9080") == "reviews.default.svc.cluster.local:9080"
    assert _vh(cfg, "reviews:80") == "reviews.default.svc.cluster.local:9080"
    # an IPv6 literal without port keeps its colons
    cfg6 = rc("r", [vhost("v6", ["[fd00::1]"], [])], ignore_port_in_host_matching=True)
    assert _vh(cfg6, "[fd00::1]") == "v6"
    assert _vh(cfg6, "[fd00::1]:8080") == "v6"


def test_gateway_domains_before_1_15_use_prefix_wildcard_port():
    """Istio 1.14 gateways wrote `host` and `host:*` (istio/istio@1.14.0 pilot/pkg/networking/core/
    v1alpha3/gateway.go buildGatewayVirtualHostDomains), a prefix wildcard covering any port; a
    wildcard host kept its literal port (`*.example.com:80`) because Envoy allows one wildcard only."""
    cfg = rc("http.8080", [vhost("bookinfo.com:80", ["bookinfo.com", "bookinfo.com:*"], []),
                           vhost("*.example.com:80", ["*.example.com", "*.example.com:80"], [])])
    assert _vh(cfg, "bookinfo.com:31380") == "bookinfo.com:80"   # prefix wildcard bookinfo.com:*
    assert _vh(cfg, "a.example.com") == "*.example.com:80"
    assert _vh(cfg, "a.example.com:80") == "*.example.com:80"
    assert _vh(cfg, "a.example.com:31380") is None               # the port mismatch of issue istio/istio#40474


# --------------------------------------------------------------------------------------
# routes: envoy config_impl.cc (first match wins) and header_utility.cc matchHeaders
# --------------------------------------------------------------------------------------


def _route(routes: list[dict[str, Any]], path: str, headers: dict[str, str] | None = None) -> str | None:
    d = dump(routes=[rc("r", [vhost("v", ["*"], routes)])])
    p, _, q = path.partition("?")
    ch = match_route(d.routes[0].virtual_hosts[0], p, q, {k.lower(): v for k, v in (headers or {}).items()})
    return ch.route.name if ch.route else None


def test_first_matching_route_wins():
    routes = [route({"prefix": "/api"}, name="api"), route({"prefix": "/api/v2"}, name="v2"), route({"prefix": "/"}, name="all")]
    assert _route(routes, "/api/v2/x") == "api"


@pytest.mark.parametrize(("m", "path", "ok"), [
    ({"prefix": "/get"}, "/getter", True),
    ({"prefix": "/Get", "case_sensitive": False}, "/GET/x", True),
    ({"prefix": "/Get"}, "/get", False),
    ({"path": "/login"}, "/login", True),
    ({"path": "/login"}, "/login/", False),
    ({"path": "/login"}, "/login?next=/", True),            # query string is not part of the path
    ({"path_separated_prefix": "/api"}, "/api", True),
    ({"path_separated_prefix": "/api"}, "/api/x", True),
    ({"path_separated_prefix": "/api"}, "/apix", False),
    ({"safe_regex": {"regex": "/reviews/[0-9]+"}}, "/reviews/12", True),
    ({"safe_regex": {"regex": "/reviews/[0-9]+"}}, "/reviews/12/x", False),  # RE2 full match
])
def test_path_specifiers(m, path, ok):
    assert (_route([route(m, name="r")], path) == "r") is ok


@pytest.mark.parametrize(("hm", "headers", "ok"), [
    ({"name": "end-user", "exact_match": "jason"}, {"end-user": "jason"}, True),
    ({"name": "end-user", "string_match": {"exact": "jason"}}, {"end-user": "bob"}, False),
    ({"name": "end-user", "string_match": {"prefix": "ja"}}, {"end-user": "jason"}, True),
    ({"name": "end-user", "safe_regex_match": {"regex": "j.*n"}}, {"end-user": "jason"}, True),
    ({"name": "x-canary", "present_match": True}, {}, False),
    ({"name": "x-canary", "present_match": False}, {}, True),                  # absence matcher
    ({"name": "end-user", "string_match": {"exact": "jason"}, "invert_match": True}, {"end-user": "bob"}, True),
    ({"name": "end-user", "string_match": {"exact": "jason"}, "invert_match": True}, {}, False),  # missing never matches
    ({"name": "x-canary", "present_match": True, "invert_match": True}, {}, True),                # ... except inverted presence
    ({"name": ":method", "exact_match": "GET"}, {":method": "GET"}, True),
])
def test_header_matchers(hm, headers, ok):
    assert header_matches(hm, headers) is ok


def test_query_parameters():
    r = [route({"prefix": "/", "query_parameters": [{"name": "v", "string_match": {"exact": "2"}}]}, name="q")]
    assert _route(r, "/x?v=2") == "q"
    assert _route(r, "/x?v=1") is None
    assert _route(r, "/x") is None


def test_normalize_path():
    cfg = {"normalize_path": True, "merge_slashes": True}
    assert normalize("/a/../b//c", cfg) == "/b/c"
    assert normalize("/a/./b/", cfg) == "/a/b/"
    assert normalize("/a//b", {}) == "/a//b"


# --------------------------------------------------------------------------------------
# listeners and filter chains
# --------------------------------------------------------------------------------------


def test_handoff_exact_then_any_address_then_stay():
    """connection_handler_impl.cc getBalancedHandlerByAddress: exact ip:port, then 0.0.0.0:port."""
    d = dump(listeners=[VOUT, listener("10.0.0.5_80", "10.0.0.5", 80, [chain([tcp("exact")])], bind_to_port=False),
                        listener("0.0.0.0_80", "0.0.0.0", 80, [chain([tcp("any")])], bind_to_port=False)],
             clusters=[PASS, {"name": "exact", "type": "STATIC"}, {"name": "any", "type": "STATIC"}])
    r = dict(dest_port=80, protocol="tcp", direction="outbound")
    assert trace_request(d, TraceRequest(dest_ip="10.0.0.5", **r)).cluster == "exact"
    assert trace_request(d, TraceRequest(dest_ip="10.0.0.6", **r)).cluster == "any"
    assert trace_request(d, TraceRequest(dest_ip="10.0.0.6", dest_port=81, protocol="tcp", direction="outbound")).cluster == "PassthroughCluster"


def _fc(*chains: dict[str, Any]):
    d = dump(listeners=[listener("l", "0.0.0.0", 1, list(chains))])
    return d.listeners[0].filter_chains


def _pick(chains, **conn):
    base = dict(dest_ip="10.0.0.1", dest_port=80, sni="", transport="raw_buffer", alpn=[], source_ip=None, source_port=None)
    fc, _ = match_filter_chains(chains, Conn(**{**base, **conn}))
    return fc.name if fc else None


def test_filter_chain_destination_port_first_and_no_backtracking():
    """filter_chain_manager_impl.cc findFilterChain: a specific port branch wins; when it fails deeper,
    the result is the default chain, never the port-less branch."""
    chains = _fc(chain([tcp("a")], {"destination_port": 80, "transport_protocol": "tls"}, "port80-tls"),
                 chain([tcp("b")], {"transport_protocol": "raw_buffer"}, "any-raw"))
    assert _pick(chains, transport="tls") == "port80-tls"
    assert _pick(chains, transport="raw_buffer") is None
    assert _pick(chains, dest_port=81, transport="raw_buffer") == "any-raw"


def test_filter_chain_longest_prefix():
    chains = _fc(chain([tcp("a")], {"prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]}, "slash8"),
                 chain([tcp("b")], {"prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 24}]}, "slash24"),
                 chain([tcp("c")], None, "none"))
    assert _pick(chains, dest_ip="10.0.0.9") == "slash24"
    assert _pick(chains, dest_ip="10.9.0.9") == "slash8"
    assert _pick(chains, dest_ip="192.168.0.1") == "none"


def test_filter_chain_server_names_exact_then_wildcard_then_none():
    """Server names: exact, then `*.suffix` from the most specific, then chains without server_names
    (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/listener/v3/listener_components.proto)."""
    chains = _fc(chain([tcp("a")], {"server_names": ["www.example.com"]}, "exact"),
                 chain([tcp("b")], {"server_names": ["*.example.com"]}, "wild"),
                 chain([tcp("c")], {"server_names": ["*.com"]}, "wildcom"),
                 chain([tcp("d")], None, "none"))
    assert _pick(chains, sni="www.example.com", transport="tls") == "exact"
    assert _pick(chains, sni="api.example.com", transport="tls") == "wild"
    assert _pick(chains, sni="a.b.other.com", transport="tls") == "wildcom"
    assert _pick(chains, sni="localhost", transport="tls") == "none"
    assert _pick(chains, sni="", transport="raw_buffer") == "none"


def test_filter_chain_alpn_in_connection_order():
    chains = _fc(chain([tcp("a")], {"application_protocols": ["http/1.1"]}, "h1"),
                 chain([tcp("b")], {"application_protocols": ["h2"]}, "h2"),
                 chain([tcp("c")], None, "none"))
    assert _pick(chains, alpn=["h2", "http/1.1"]) == "h2"
    assert _pick(chains, alpn=["http/1.1", "h2"]) == "h1"
    assert _pick(chains, alpn=["istio"]) == "none"


def test_listener_filters_detection_and_filter_disabled():
    """Without a TLS inspector the transport is raw_buffer even for TLS (active_tcp_socket.cc); the
    http_inspector sets http/1.1 only on plaintext; filter_disabled port ranges are [start, end)."""
    insp = [{"name": "envoy.filters.listener.tls_inspector"},
            {"name": "envoy.filters.listener.http_inspector", "filter_disabled": {"destination_port_range": {"start": 80, "end": 81}}}]
    chains = [chain([tcp("http")], {"transport_protocol": "raw_buffer", "application_protocols": ["http/1.1", "h2c"]}, "http"),
              chain([tcp("tls")], {"transport_protocol": "tls"}, "tls")]
    d = dump(listeners=[VOUT, listener("0.0.0.0_80", "0.0.0.0", 80, chains, listener_filters=insp),
                        listener("0.0.0.0_81", "0.0.0.0", 81, chains, listener_filters=insp),
                        listener("0.0.0.0_82", "0.0.0.0", 82, chains)],
             clusters=[PASS, {"name": "http", "type": "STATIC"}, {"name": "tls", "type": "STATIC"}])
    fc = lambda t: next(h.element for h in t.hops if h.stage is Stage.FILTER_CHAIN)  # noqa: E731
    assert fc(trace_request(d, TraceRequest(dest_ip="1.1.1.1", dest_port=81, protocol="tcp", tls="tls", direction="outbound"))) == "tls"
    # http_inspector disabled on 80: no ALPN, so the HTTP chain does not match -> no chain
    assert trace_request(d, TraceRequest(dest_ip="1.1.1.1", dest_port=80, direction="outbound")).verdict == "filter_chain"
    # no inspectors at all on 82: TLS is seen as raw_buffer
    t = trace_request(d, TraceRequest(dest_ip="1.1.1.1", dest_port=82, protocol="tcp", tls="tls", direction="outbound"))
    assert t.verdict == "filter_chain"


# --------------------------------------------------------------------------------------
# capture (istio-iptables)
# --------------------------------------------------------------------------------------


def test_capture_exclusions():
    """istio/istio@1.22.0 tools/istio-iptables/pkg/capture/run.go: loopback and excluded ports/ranges RETURN."""
    a = {"traffic.sidecar.istio.io/excludeOutboundPorts": "3306,5432", "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.0/12"}
    assert capture_exclusion(a, "outbound", "10.1.1.1", 5432)
    assert capture_exclusion(a, "outbound", "10.96.0.10", 80)
    assert capture_exclusion({}, "outbound", "127.0.0.1", 80)
    assert capture_exclusion({}, "outbound", "10.1.1.1", 80) is None
    assert capture_exclusion({"traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8"}, "outbound", "8.8.8.8", 443)
    assert capture_exclusion({"traffic.sidecar.istio.io/excludeInboundPorts": "15020,9000"}, "inbound", "10.0.0.1", 9000)


# --------------------------------------------------------------------------------------
# upstream: transport_socket_matches, endpoints, panic threshold
# --------------------------------------------------------------------------------------


def test_transport_socket_match_by_endpoint_tls_mode():
    """transport_socket_match_impl.cc resolve: first match whose labels the endpoint carries; `{}` matches all."""
    d = dump(clusters=[eds_cluster("outbound|80||a.ns.svc.cluster.local", tsm=True)])
    c = d.clusters[0]
    assert choose_socket(c, {"tlsMode": "istio"}).tls == "istio_mutual"
    assert choose_socket(c, {}).tls == "plaintext"
    assert choose_socket(c, {"tlsMode": "disabled"}).tls == "plaintext"


def _http_dump(eps, *, tsm=True, cluster_extra: dict[str, Any] | None = None, hcm_filters=None):
    name = "outbound|80||a.ns.svc.cluster.local"
    c = {**eds_cluster(name, tsm=tsm), **(cluster_extra or {})}
    kw = {"http_filters": hcm_filters} if hcm_filters else {}
    return dump(listeners=[VOUT, listener("0.0.0.0_80", "0.0.0.0", 80, [chain([hcm(rds="80", **kw)])], bind_to_port=False)],
                routes=[rc("80", [vhost("a", ["a"], [route({"prefix": "/"}, name)])])],
                clusters=[PASS, c], endpoints=[cla(name, eps)])


def _go(d, **kw):
    return trace_request(d, TraceRequest(dest_ip="10.0.0.10", dest_port=80, authority="a", direction="outbound", **kw))


def test_auto_mtls_per_endpoint_and_istio_alpn_override():
    alpn = [{"name": "istio.alpn", "typed_config": {"alpn_override": [
        {"upstream_protocol": "HTTP11", "alpn_override": ["istio-http/1.1", "istio"]},
        {"upstream_protocol": "HTTP2", "alpn_override": ["istio-h2", "istio"]}]}}, {"name": "envoy.filters.http.router"}]
    t = _go(_http_dump([("10.1.0.1", 80, "HEALTHY", {"tlsMode": "istio"})], hcm_filters=alpn))
    assert t.verdict == "delivered" and t.upstream.tls == "istio_mutual" and t.upstream.alpn == ["istio-http/1.1", "istio"]
    t = _go(_http_dump([("10.1.0.1", 80, "HEALTHY", None)]))
    assert t.upstream.tls == "plaintext"  # an endpoint without tlsMode (a pod without sidecar)


def test_no_endpoints_is_503_uh():
    t = _go(_http_dump([]))
    assert t.verdict == "endpoints" and t.response == "503 UH" and t.details == "no_healthy_upstream"


def test_unhealthy_endpoints_and_panic_threshold():
    """Panic threshold default 50%: with 0% healthy Envoy balances over all hosts; Istio sets it to
    outlierDetection.minHealthPercent (0 turns panic off), and then there is no healthy upstream."""
    eps = [("10.1.0.1", 80, "UNHEALTHY", {"tlsMode": "istio"})]
    assert _go(_http_dump(eps)).verdict == "delivered"
    off = {"common_lb_config": {"healthy_panic_threshold": {}}}
    assert _go(_http_dump(eps, cluster_extra=off)).verdict == "endpoints"


def test_missing_cluster_is_503_nc():
    d = dump(listeners=[VOUT, listener("0.0.0.0_80", "0.0.0.0", 80, [chain([hcm(rds="80")])])],
             routes=[rc("80", [vhost("a", ["a"], [route({"prefix": "/"}, "outbound|80|v9|a.ns.svc.cluster.local")])])],
             clusters=[PASS])
    t = _go(d)
    assert t.verdict == "cluster" and t.response == "503 NC"


def test_direct_response_redirect_and_fault():
    fault = {"typed_per_filter_config": {"envoy.filters.http.fault": {"abort": {"http_status": 503, "percentage": {"numerator": 100}}}}}
    d = dump(listeners=[VOUT, listener("0.0.0.0_80", "0.0.0.0", 80, [chain([hcm(rds="80", http_filters=[
        {"name": "envoy.filters.http.fault"}, {"name": "envoy.filters.http.router"}])])])],
        routes=[rc("80", [vhost("a", ["a"], [{"match": {"prefix": "/blocked"}, "direct_response": {"status": 502}},
                                             {"match": {"prefix": "/old"}, "redirect": {"path_redirect": "/new"}},
                                             {**route({"prefix": "/"}, "c"), **fault}])])],
        clusters=[PASS, {"name": "c", "type": "STATIC"}])
    assert _go(d, path="/blocked").response == "502"
    r = _go(d, path="/old")
    assert r.verdict == "answered" and r.response == "301"
    f = _go(d, path="/x")
    assert f.verdict == "fault" and f.response == "503 FI"


def test_plaintext_to_strict_inbound_and_rbac_http_only_rule_on_tcp():
    """STRICT inbound has only `tls` chains for the port (no raw_buffer): plaintext finds no chain
    (NR filter_chain_not_found, https://istio.io/latest/docs/ops/common-problems/security-issues/)."""
    vin = listener("virtualInbound", "0.0.0.0", 15006, [
        chain([hcm(routes=rc("inbound|9080||", [vhost("v", ["*"], [route({"prefix": "/"}, "inbound|9080||")])]))],
              {"destination_port": 9080, "transport_protocol": "tls", "application_protocols": ["istio-http/1.1"]}, "0.0.0.0_9080", tls=True, mtls=True),
        chain([{"name": "envoy.filters.network.rbac", "typed_config": {"rules": {}}}, tcp("inbound|3306||")],
              {"destination_port": 3306, "transport_protocol": "raw_buffer"}, "0.0.0.0_3306")],
        listener_filters=[{"name": "envoy.filters.listener.original_dst"}, {"name": "envoy.filters.listener.tls_inspector"}])
    d = dump(listeners=[vin], clusters=[{"name": "inbound|9080||", "type": "ORIGINAL_DST"}, {"name": "inbound|3306||", "type": "ORIGINAL_DST"}])
    t = trace_request(d, TraceRequest(dest_ip="10.1.0.1", dest_port=9080, authority="r:9080", direction="inbound"))
    assert t.verdict == "filter_chain" and t.details == "filter_chain_not_found"
    t = trace_request(d, TraceRequest(dest_ip="10.1.0.1", dest_port=9080, authority="r:9080", direction="inbound",
                                      tls="istio_mutual", alpn=["istio-http/1.1"]))
    assert t.verdict == "delivered"
    t = trace_request(d, TraceRequest(dest_ip="10.1.0.1", dest_port=3306, protocol="tcp", direction="inbound"))
    assert t.verdict == "network_rbac"


def test_rbac_deny_before_allow_and_action_semantics():
    """engine_impl.cc: DENY rejects on a match; ALLOW needs a match; LOG never rejects."""
    inp = RbacInput(dest_ip="10.0.0.1", dest_port=80, sni="", source_ip="10.0.0.2", principal=None, mtls=False,
                    headers={":method": "GET"}, path="/admin")
    deny = {"rules": {"action": "DENY", "policies": {"p": {"permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
                                                            "principals": [{"any": True}]}}}}
    assert evaluate(deny, inp).allowed is False
    allow_none = {"rules": {"action": "ALLOW", "policies": {}}}
    assert evaluate(allow_none, inp).allowed is False
    assert evaluate({"rules": {"action": "LOG", "policies": {}}}, inp).allowed is True
    assert evaluate({"stat_prefix": "x"}, inp) is None  # no rules: enforces nothing


def test_inbound_delivery_against_app_sockets():
    """Istio >= 1.10 inbound clusters are ORIGINAL_DST to the pod IP (istio/istio@1.10.0
    cluster_builder.go buildInboundClusterForPortOrUDS); an app bound to 127.0.0.1 only refuses it."""
    vin = listener("virtualInbound", "0.0.0.0", 15006, [chain([tcp("inbound|9080||")], {"destination_port": 9080}, "0.0.0.0_9080")],
                   listener_filters=[{"name": "envoy.filters.listener.original_dst"}])
    d = dump(listeners=[vin], clusters=[{"name": "inbound|9080||", "type": "ORIGINAL_DST",
                                         "upstream_bind_config": {"source_address": {"address": "127.0.0.6", "port_value": 0}}}])
    req = TraceRequest(dest_ip="10.1.0.7", dest_port=9080, protocol="tcp", direction="inbound")
    lo = [ListeningSocket(proto="tcp", local_address="127.0.0.1", port=9080, state="LISTEN")]
    t = trace_request(d, req, sockets=lo)
    assert t.verdict == "delivery" and t.response == "503 UF"
    ok = [ListeningSocket(proto="tcp", local_address="0.0.0.0", port=9080, state="LISTEN")]
    assert trace_request(d, req, sockets=ok).verdict == "delivered"
    v6 = [ListeningSocket(proto="tcp6", local_address="::", port=9080, state="LISTEN")]
    assert trace_request(d, req, sockets=v6).verdict == "delivered"   # dual-stack by default (bindv6only=0)
    v6lo = [ListeningSocket(proto="tcp6", local_address="::1", port=9080, state="LISTEN")]
    assert trace_request(d, req, sockets=v6lo).verdict == "delivery"
    assert trace_request(d, req, sockets=[]).verdict == "delivery"   # nothing listens: refused
    unknown = trace_request(d, req)
    assert unknown.verdict == "delivered" and unknown.unknowns
