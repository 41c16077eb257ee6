"""The tracer on real config dumps: expected outcomes worked out by hand from the JSON.

Each expectation below was derived by reading the dump (the listener, chain match, domains and
route quoted in the comment), then applying Envoy's documented rules, not by running the tracer.
Dumps: ``tests/fixtures/corpus`` (see its SOURCES.md) and ``tests/fixtures/trace/SOURCES.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.engine.trace import Stage, TraceRequest, trace_request
from istio_doctor.engine.trace.listeners import Conn, eval_matcher
from istio_doctor.evidence.envoy.configdump import config_dump_from_parts, parse_config_dump
from istio_doctor.evidence.sockets import ListeningSocket

FIX = Path(__file__).parent / "fixtures"
CORPUS = FIX / "corpus"


def _load(rel: str):
    return parse_config_dump((CORPUS / rel).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def productpage_115():
    # Istio 1.1.5 bookinfo productpage sidecar (envoy.admin.v2alpha, captured from a live cluster).
    return _load("captured/configdump/xeviknal-istio-lab/productpage-config-dump.json")


@pytest.fixture(scope="module")
def productpage_14():
    # Istio ~1.4 productpage: istioctl proxy-config listener|route|cluster|endpoint -o json.
    b = CORPUS / "captured/proxy-config/liucw2012-istio"
    return config_dump_from_parts(listeners=(b / "lds.json").read_text(), routes=(b / "rds.json").read_text(),
                                  clusters=(b / "cds.json").read_text(), endpoints=(b / "eds.json").read_text())


@pytest.fixture(scope="module")
def authz_118():
    # Istio 1.18-era sidecar listeners with an AuthorizationPolicy (istio/istio testdata).
    return parse_config_dump((FIX / "trace/istio-authz-sidecar-listeners.json").read_text(encoding="utf-8"))


def _stages(t):
    return [(h.stage, h.element) for h in t.hops]


def _elem(t, stage):
    return [h.element for h in t.hops if h.stage is stage]


# --------------------------------------------------------------------------------------
# Istio 1.1.5: virtual listener (use_original_dst), 0.0.0.0_9080 HTTP, host:port domains
# --------------------------------------------------------------------------------------


def test_115_outbound_http_short_name_with_port(productpage_115):
    """`virtual` (0.0.0.0:15001, use_original_dst) hands 172.30.1.50:9080 to `0.0.0.0_9080` (no
    172.30.1.50_9080 listener exists); RDS `9080`; domain `reviews:9080` is listed verbatim in
    vhost `reviews.bookinfo.svc.cluster.local:9080`, whose only route `prefix: /` goes to
    `outbound|9080||reviews.bookinfo.svc.cluster.local`. The dump has no EDS: unknown, not delivered."""
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.30.1.50", dest_port=9080, authority="reviews:9080",
                                                    path="/reviews/0"))
    assert _elem(t, Stage.LISTENER) == ["virtual", "0.0.0.0_9080"]
    assert _elem(t, Stage.VIRTUAL_HOST) == ["reviews.bookinfo.svc.cluster.local:9080"]
    assert t.cluster == "outbound|9080||reviews.bookinfo.svc.cluster.local"
    assert t.verdict == "unknown" and any("EDS" in u for u in t.unknowns)


@pytest.mark.parametrize("authority", ["reviews", "reviews.bookinfo.svc.cluster.local:9080", "REVIEWS.bookinfo:9080"])
def test_115_outbound_other_spellings(productpage_115, authority):
    """`reviews`, the FQDN with port and `reviews.bookinfo:9080` are all listed domains of the
    reviews vhost; Envoy lower-cases the Host before matching (config_impl.cc findVirtualHost)."""
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.30.1.50", dest_port=9080, authority=authority))
    assert t.cluster == "outbound|9080||reviews.bookinfo.svc.cluster.local"


def test_115_wrong_port_in_host_falls_to_allow_any(productpage_115):
    """Before Istio 1.15 nothing strips the port: `reviews:8080` is not a domain of route 9080 (it
    lists `reviews` and `reviews:9080`), and no wildcard covers it, so the `*` vhost `allow_any`
    wins and its `prefix: /` route sends the request to PassthroughCluster (ORIGINAL_DST)."""
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.30.1.50", dest_port=9080, authority="reviews:8080"))
    assert _elem(t, Stage.VIRTUAL_HOST) == ["allow_any"]
    assert t.cluster == "PassthroughCluster" and t.verdict == "delivered"
    assert t.upstream is not None and t.upstream.tls == "plaintext" and t.upstream.address == "172.30.1.50:9080"


def test_115_unknown_host_passthrough(productpage_115):
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.30.1.50", dest_port=9080, authority="www.example.com"))
    assert _elem(t, Stage.VIRTUAL_HOST) == ["allow_any"] and t.cluster == "PassthroughCluster"


def test_115_tcp_exact_ip_port_listener(productpage_115):
    """`172.30.0.2_53` (bind_to_port false via deprecated_v1) owns 172.30.0.2:53 exactly; its one
    chain is tcp_proxy to `outbound|53||kube-dns.kube-dns.svc.cluster.local`."""
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.30.0.2", dest_port=53, protocol="tcp"))
    assert _elem(t, Stage.LISTENER)[-1] == "172.30.0.2_53"
    assert t.cluster == "outbound|53||kube-dns.kube-dns.svc.cluster.local"


def test_115_tcp_no_listener_stays_on_virtual(productpage_115):
    """No listener owns 10.9.9.9:5432 (exact or 0.0.0.0:5432): `virtual` keeps the connection and its
    only chain is tcp_proxy to PassthroughCluster."""
    t = trace_request(productpage_115, TraceRequest(dest_ip="10.9.9.9", dest_port=5432, protocol="tcp"))
    assert _elem(t, Stage.LISTENER) == ["virtual"]
    assert t.cluster == "PassthroughCluster" and t.verdict == "delivered"


def test_115_inbound_plaintext_before_1_3_uses_15001_and_localhost(productpage_115):
    """Istio 1.1 has no 15006 listener: inbound goes to 15001 too and is handed to
    `172.17.0.23_9080`; plaintext (no ALPN) picks the chain without application_protocols; its
    inline route `*` goes to `inbound|9080|http|productpage...`, a STATIC cluster on 127.0.0.1:9080
    (before 1.10 the sidecar delivers to localhost)."""
    sockets = [ListeningSocket(proto="tcp", local_address="127.0.0.1", port=9080, state="LISTEN")]
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.17.0.23", dest_port=9080, authority="productpage:9080",
                                                    source_principal=None), sockets=sockets)
    assert _elem(t, Stage.LISTENER)[-1] == "172.17.0.23_9080"
    assert t.cluster == "inbound|9080|http|productpage.bookinfo.svc.cluster.local"
    assert t.upstream is not None and t.upstream.address == "127.0.0.1:9080"
    assert t.verdict == "delivered"


def test_115_inbound_mtls_alpn_istio_picks_tls_chain(productpage_115):
    """The TLS chain of `172.17.0.23_9080` matches application_protocols [istio] and carries a
    legacy tls_context with require_client_certificate; an Istio 1.1 client sends ALPN `istio`."""
    t = trace_request(productpage_115, TraceRequest(dest_ip="172.17.0.23", dest_port=9080, authority="productpage:9080",
                                                    tls="istio_mutual", alpn=["istio"]))
    fc = next(h for h in t.hops if h.stage is Stage.FILTER_CHAIN)
    assert "application_protocols istio" in fc.why
    assert any(h.stage is Stage.DOWNSTREAM_TLS and "mutual" in h.decision for h in t.hops)


# --------------------------------------------------------------------------------------
# Istio ~1.4: virtualOutbound / virtualInbound, prefix ranges, passthrough clusters
# --------------------------------------------------------------------------------------


def test_14_outbound_clusterip_listed_as_domain(productpage_14):
    """Route 9080 lists the ClusterIP `169.169.236.122:9080` as a domain of the reviews vhost; the
    0.0.0.0_9080 chain without prefix_ranges is HCM (the other is 10.0.15.34/32 only); EDS (here
    /clusters JSON) shows three HEALTHY hosts 10.0.15.30-32."""
    t = trace_request(productpage_14, TraceRequest(dest_ip="169.169.236.122", dest_port=9080,
                                                   authority="169.169.236.122:9080", direction="outbound"))
    assert t.cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert t.verdict == "delivered"
    assert t.upstream is not None and t.upstream.address == "10.0.15.30:9080" and t.upstream.healthy_endpoints == 3


def test_14_outbound_to_own_pod_ip(productpage_14):
    """Hand-off is by exact address first: `10.0.15.34_9080` (the pod's own inbound listener, bind_to_port
    false) owns 10.0.15.34:9080, so an outbound call to the pod's own IP on 9080 is handed there and
    takes the inbound path. On a port without such a listener (8000) virtualOutbound keeps it, and its
    chain for prefix 10.0.15.34/32 (longer than the catch-all's /0) is tcp_proxy to BlackHoleCluster."""
    t = trace_request(productpage_14, TraceRequest(dest_ip="10.0.15.34", dest_port=9080, authority="productpage:9080",
                                                   direction="outbound"))
    assert _elem(t, Stage.LISTENER)[-1] == "10.0.15.34_9080"
    assert t.cluster == "inbound|9080|http|productpage.default.svc.cluster.local"
    t2 = trace_request(productpage_14, TraceRequest(dest_ip="10.0.15.34", dest_port=8000, protocol="tcp", direction="outbound"))
    assert _elem(t2, Stage.LISTENER) == ["virtualOutbound"]
    assert t2.cluster == "BlackHoleCluster" and t2.verdict == "cluster"


def test_14_inbound_declared_port(productpage_14):
    """virtualInbound chain {destinationPort 9080, 10.0.15.34/32} is HCM; its inline route `*` goes
    to `inbound|9080|http|productpage.default...`, STATIC 127.0.0.1:9080 (pre-1.10 delivery)."""
    t = trace_request(productpage_14, TraceRequest(dest_ip="10.0.15.34", dest_port=9080, authority="productpage:9080",
                                                   direction="inbound"))
    assert _elem(t, Stage.LISTENER) == ["virtualInbound"]
    assert t.cluster == "inbound|9080|http|productpage.default.svc.cluster.local"
    assert t.upstream is not None and t.upstream.address == "127.0.0.1:9080"


def test_14_inbound_undeclared_port_passthrough(productpage_14):
    """No chain has destinationPort 8000, so the port-less chain {0.0.0.0/0} decides: tcp_proxy to
    InboundPassthroughClusterIpv4 (ORIGINAL_DST, bound to 127.0.0.6)."""
    t = trace_request(productpage_14, TraceRequest(dest_ip="10.0.15.34", dest_port=8000, protocol="tcp", direction="inbound"))
    assert t.cluster == "InboundPassthroughClusterIpv4"
    assert t.upstream is not None and t.upstream.address == "10.0.15.34:8000"


def test_14_filter_chains_never_backtrack(productpage_14):
    """Envoy's findFilterChain: the 9080 port branch exists (only 10.0.15.34/32 under it), so a
    connection to another IP on 9080 gets nullptr at the IP level and then the default chain;
    virtualInbound has none: filter_chain_not_found, although the 0.0.0.0/0 chain would have matched."""
    t = trace_request(productpage_14, TraceRequest(dest_ip="10.0.16.99", dest_port=9080, protocol="tcp", direction="inbound"))
    assert t.verdict == "filter_chain" and t.details == "filter_chain_not_found"


# --------------------------------------------------------------------------------------
# Istio 1.18-era: inspectors, default chains, STRICT/PERMISSIVE chains, RBAC
# --------------------------------------------------------------------------------------


def test_118_outbound_http_sniffed_port_uses_hcm_chain(authz_118):
    """`10.96.0.10_9153` has tls_inspector + http_inspector; plaintext HTTP/1.1 is detected as
    raw_buffer + ALPN http/1.1, matching the chain {raw_buffer, [http/1.1, h2c]} (HCM, RDS
    `kube-dns.kube-system.svc.cluster.local:9153`). The dump has no routes section: unknown."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.96.0.10", dest_port=9153, authority="kube-dns.kube-system:9153"))
    assert _elem(t, Stage.LISTENER)[-1] == "10.96.0.10_9153"
    assert t.verdict == "unknown" and any("routes section" in u for u in t.unknowns)


def test_118_outbound_tcp_same_port_uses_default_chain(authz_118):
    """Raw TCP on 10.96.0.10:9153: no ALPN, so the only chain (which needs http/1.1|h2c) fails and
    the listener's default_filter_chain (tcp_proxy outbound|9153||kube-dns...) takes it."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.96.0.10", dest_port=9153, protocol="tcp"))
    fc = next(h for h in t.hops if h.stage is Stage.FILTER_CHAIN)
    assert "default_filter_chain" in fc.why
    assert t.cluster == "outbound|9153||kube-dns.kube-system.svc.cluster.local"


def test_118_app_tls_to_sniffed_port_passes_through(authz_118):
    """TLS from the app to 10.1.2.3:8000: transport tls, so the raw_buffer HCM chain of 0.0.0.0_8000
    does not match; the default chain PassthroughFilterChain sends it to PassthroughCluster."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.1.2.3", dest_port=8000, protocol="http1", tls="tls",
                                              sni="example.com", alpn=["h2", "http/1.1"]))
    assert t.cluster == "PassthroughCluster"


def test_118_connect_to_15001_is_blackholed(authz_118):
    """virtualOutbound's chain {destination_port: 15001} is tcp_proxy to BlackHoleCluster (loop guard)."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.1.2.3", dest_port=15001, protocol="tcp"))
    assert _elem(t, Stage.FILTER_CHAIN) == ["virtualOutbound-blackhole"] and t.cluster == "BlackHoleCluster"


def test_118_inbound_plaintext_denied_by_http_rbac(authz_118):
    """Port 80 is PERMISSIVE (chains for tls and raw_buffer). The HTTP RBAC ALLOWs only principal
    spiffe://cluster.local/ns/default/sa/sleep (filter_state io.istio.peer_principal): a plaintext
    client has no peer identity, so no policy matches: 403 rbac_access_denied_matched_policy[none]."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.244.0.178", dest_port=80, authority="httpbin:8000", path="/info",
                                              direction="inbound"))
    assert _elem(t, Stage.FILTER_CHAIN) == ["0.0.0.0_80"]
    assert t.verdict == "http_rbac" and t.details == "rbac_access_denied_matched_policy[none]"


def test_118_inbound_mtls_from_sleep_needs_a_jwt(authz_118):
    """mTLS with ALPN istio-http/1.1 picks chain {80, tls, [istio, ..., istio-http/1.1, ...]}. The
    policy's principals are and_ids(peer sleep, request.auth.claims[iss] = accounts.google.com): GET
    /info from sleep without a bearer token has no request.auth metadata, so nothing matches (403);
    with a token the claim decides, which the trace cannot see (unknown, never "allowed")."""
    base = dict(dest_ip="10.244.0.178", dest_port=80, authority="httpbin:8000", path="/info/x", direction="inbound",
                tls="istio_mutual", alpn=["istio-http/1.1"], source_principal="spiffe://cluster.local/ns/default/sa/sleep")
    t = trace_request(authz_118, TraceRequest(**base))
    assert _elem(t, Stage.FILTER_CHAIN) == ["0.0.0.0_80"]
    assert t.verdict == "http_rbac"
    t2 = trace_request(authz_118, TraceRequest(**base, headers={"Authorization": "Bearer abc"}))
    rb = next(h for h in t2.hops if h.stage is Stage.HTTP_RBAC)
    assert rb.status == "unknown" and "ns[default]-policy[httpbin]-rule[0]" in rb.why
    assert t2.cluster == "inbound|80||" and t2.verdict == "unknown"


def test_118_inbound_mtls_from_sleep_wrong_method_denied(authz_118):
    t = trace_request(authz_118, TraceRequest(dest_ip="10.244.0.178", dest_port=80, authority="httpbin:8000", path="/info",
                                              method="DELETE", direction="inbound", tls="istio_mutual",
                                              alpn=["istio-http/1.1"], source_principal="spiffe://cluster.local/ns/default/sa/sleep"))
    assert t.verdict == "http_rbac"


def test_118_app_tls_to_permissive_http_port_finds_no_chain(authz_118):
    """Port 80's tls chain requires an Istio ALPN; app TLS with ALPN h2 matches the port branch and
    the tls branch and then nothing, and Envoy does not backtrack: filter_chain_not_found."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.244.0.178", dest_port=80, authority="httpbin", direction="inbound",
                                              tls="tls", alpn=["h2"]))
    assert t.verdict == "filter_chain" and t.details == "filter_chain_not_found"


def test_118_tcp_to_undeclared_port_denied_by_empty_network_rbac(authz_118):
    """Port 9999 has no chain: the catch-all virtualInbound {raw_buffer} chain (no ALPN, the
    http_inspector finds none for TCP) runs envoy.filters.network.rbac with `rules: {}`: ALLOW with no
    policy denies everything. That is Istio dropping the HTTP-only ALLOW rule on a TCP chain."""
    t = trace_request(authz_118, TraceRequest(dest_ip="10.244.0.178", dest_port=9999, protocol="tcp", direction="inbound"))
    assert t.verdict == "network_rbac"


def test_inbound_15021_is_never_captured(authz_118):
    t = trace_request(authz_118, TraceRequest(dest_ip="10.244.0.178", dest_port=15021, direction="inbound"))
    assert t.verdict == "bypassed"


# --------------------------------------------------------------------------------------
# Gateway routes (ignore_port_in_host_matching) and route-only dumps
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_routes():
    # istioctl testdata: gateway route http.8080, vhost `httpbin.example.com:80` with domain
    # `httpbin.example.com` only, ignore_port_in_host_matching: true, route prefix /get.
    return _load("istio/proxy-config/routes/istio-gateway-http-route-prefix/configdump.json")


@pytest.mark.parametrize("authority", ["httpbin.example.com", "httpbin.example.com:80", "httpbin.example.com:31380",
                                       "HTTPBIN.Example.com:8080"])
def test_gateway_ignores_port_in_host(gateway_routes, authority):
    t = trace_request(gateway_routes, TraceRequest(dest_ip="10.0.0.1", dest_port=8080, authority=authority, path="/get"),
                      route_config="http.8080")
    assert _elem(t, Stage.VIRTUAL_HOST) == ["httpbin.example.com:80"]
    assert t.cluster == "outbound|8000||httpbin.default.svc.cluster.local"


def test_gateway_unknown_host_no_catch_all(gateway_routes):
    """No `*` vhost in http.8080: an unknown host is 404 NR route_not_found."""
    t = trace_request(gateway_routes, TraceRequest(dest_ip="10.0.0.1", dest_port=8080, authority="other.example.com", path="/get"),
                      route_config="http.8080")
    assert t.verdict == "virtual_host" and t.response == "404 NR"


@pytest.mark.parametrize(("path", "ok"), [("/get", True), ("/getter", True), ("/get?x=1", True), ("/status/200", False)])
def test_gateway_prefix_route(gateway_routes, path, ok):
    """`prefix: /get` (case_sensitive) matches /getter too (a plain prefix, not path_separated_prefix)."""
    t = trace_request(gateway_routes, TraceRequest(dest_ip="10.0.0.1", dest_port=8080, authority="httpbin.example.com", path=path),
                      route_config="http.8080")
    assert (t.verdict != "route") is ok


def test_describe_fixture_routes_to_cluster_it_lacks():
    """istioctl's describe fixture routes `/productpage` to `outbound|9080||productpage...`, but its
    clusters section holds only the `v1` subset cluster: Envoy answers 503 NC cluster_not_found."""
    d = _load("istio/describe/http_config.json")
    t = trace_request(d, TraceRequest(dest_ip="10.0.0.1", dest_port=8080, authority="bookinfo.com", path="/productpage"),
                      route_config="http.8080")
    assert t.verdict == "cluster" and t.details == "cluster_not_found" and t.response == "503 NC"
    # `path: /login` is exact: /login/ does not match, and no later route does.
    t2 = trace_request(d, TraceRequest(dest_ip="10.0.0.1", dest_port=8080, authority="bookinfo.com", path="/login/"),
                       route_config="http.8080")
    assert t2.verdict == "route"


# --------------------------------------------------------------------------------------
# filter_chain_matcher (Istio 1.21 waypoint, istioctl testdata)
# --------------------------------------------------------------------------------------


def test_waypoint_filter_chain_matcher():
    """main_internal's matcher: DestinationIP 10.104.171.68/32 -> DestinationPort exact 8000 ->
    chain `inbound-vip|8000||httpbin...-http`; 192.168.195.248/32 -> ALPN 'http/1.1' -> direct-http,
    on_no_match -> direct-tcp."""
    d = _load("istio/proxy-config/all/config_dump.json")
    lst = next(x for x in d.listeners if x.name == "main_internal")
    fcm = lst.raw["filter_chain_matcher"]

    def pick(ip, port, alpn):
        return eval_matcher(fcm, Conn(dest_ip=ip, dest_port=port, sni="", transport="raw_buffer", alpn=alpn,
                                      source_ip=None, source_port=None), [])

    assert pick("10.104.171.68", 8000, []) == "inbound-vip|8000||httpbin.default.svc.cluster.local-http"
    assert pick("10.104.171.68", 9999, []) is None
    assert pick("192.168.195.248", 8000, ["http/1.1"]) == "direct-http"
    assert pick("192.168.195.248", 8000, []) == "direct-tcp"
