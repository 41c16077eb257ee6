"""Scenarios of playbook routes (404 NR, 503 NC, 502 BlackHoleCluster): one failing world per
cause, plus healthy meshes and look-alikes (an application's own 404, a mesh-only VirtualService,
a wildcard Gateway host, pod-IP passthrough) that must produce no route finding.

Each world is the healthy bookinfo mesh (ingress gateway in istio-system, Gateway
``default/bookinfo-gateway`` on 8080 with hosts ``*``) with one thing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import proxy
from tests.scenariokit.world import Container, Port, Request, ServicePort, TlsSecret, Workload, World, cr
from tests.scenariokit.helpers import world

ALL = [
    "ROUTE-VS-NO-GATEWAY", "ROUTE-HOST-NOT-IN-GATEWAY", "ROUTE-AUTHORITY-MISMATCH", "ROUTE-GW-SELECTOR",
    "ROUTE-GW-PORT-NOT-ON-SVC", "ROUTE-GW-TLS-MODE", "ROUTE-SNI-MISSING", "ROUTE-DUP-CERT-404", "ROUTE-GW-CONFLICT",
    "ROUTE-GW-CREDENTIAL", "ROUTE-DEST-HOST-UNKNOWN", "ROUTE-SUBSET-UNDEFINED", "ROUTE-PORT-AMBIGUOUS",
    "ROUTE-MATCH-MISS", "ROUTE-VS-HOST-CONFLICT", "ROUTE-EXPORTTO-HIDDEN", "ROUTE-SIDECAR-SCOPE",
    "ROUTE-INGRESS-SUBSET-IGNORED", "ROUTE-JWT-CLAIM", "ROUTE-GWAPI-NOT-ACCEPTED", "ROUTE-GWAPI-CRD",
    "ROUTE-XDS-STALE", "ROUTE-ENVOYFILTER", "ROUTE-SE-TCP-NO-ADDRESS", "ROUTE-DR-HOST-UNKNOWN",
]

GW = "istio-system/istio-ingressgateway"


def others(*keep: str) -> list[str]:
    return [c for c in ALL if c not in keep]


def res(w: World, kind: str, name: str, ns: str = "default") -> dict[str, Any]:
    return next(o for o in w.resources(kind, ns) if o["metadata"]["name"] == name)


def drop(w: World, kind: str, name: str, ns: str = "default") -> None:
    w.istio.remove(res(w, kind, name, ns))


def gateway_pod(w: World) -> str:
    return f"pod/{next(p.name for p in w.pods if p.is_gateway)} -n istio-system"


def ingress(w: World, host: str = "bookinfo.example.com", path: str = "/productpage", count: int = 3) -> None:
    w.traffic.append(Request(GW, host, path, count=count))


def reviews_vs(*http: dict[str, Any], name: str = "reviews") -> dict[str, Any]:
    return cr("VirtualService", name, "default", {"hosts": ["reviews"], "http": list(http)})


def reviews_dr(host: str = "reviews", **spec: Any) -> dict[str, Any]:
    return cr("DestinationRule", "reviews", "default", {"host": host, "subsets": [
        {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}},
        {"name": "v3", "labels": {"version": "v3"}}], **spec})


def to_reviews(subset: str | None = None, host: str = "reviews") -> dict[str, Any]:
    d: dict[str, Any] = {"host": host}
    if subset:
        d["subset"] = subset
    return {"route": [{"destination": d}]}


def pp_calls_reviews(w: World, path: str = "/reviews/0", count: int = 4) -> None:
    w.traffic.append(Request("default/productpage-v1", "reviews:9080", path, count=count))


# -- gateway binding --------------------------------------------------------------------


def _vs_no_gateway(w: World) -> None:
    vs = res(w, "VirtualService", "bookinfo")
    vs["spec"]["hosts"] = ["bookinfo.example.com"]
    del vs["spec"]["gateways"]
    ingress(w)


def _vs_gateway_wrong_ns(w: World) -> None:
    vs = res(w, "VirtualService", "bookinfo")
    drop(w, "VirtualService", "bookinfo")
    vs["metadata"]["namespace"] = "foo"
    vs["spec"]["http"][0]["route"][0]["destination"]["host"] = "productpage.default.svc.cluster.local"
    w.istio.append(vs)
    ingress(w)


def _host_not_in_gateway(w: World) -> None:
    res(w, "Gateway", "bookinfo-gateway")["spec"]["servers"][0]["hosts"] = ["bookinfo.example.com"]
    res(w, "VirtualService", "bookinfo")["spec"]["hosts"] = ["www.bookinfo.com"]
    ingress(w, "www.bookinfo.com")


def _authority_ip(w: World) -> None:
    res(w, "Gateway", "bookinfo-gateway")["spec"]["servers"][0]["hosts"] = ["bookinfo.example.com"]
    res(w, "VirtualService", "bookinfo")["spec"]["hosts"] = ["bookinfo.example.com"]
    ingress(w, "172.18.255.200")
    ingress(w, "bookinfo.example.com", count=1)


def _gw_match_miss(w: World) -> None:
    ingress(w, path="/admin/settings")


def _gw_selector(w: World) -> None:
    res(w, "Gateway", "bookinfo-gateway")["spec"]["selector"] = {"istio": "ingress"}
    ingress(w)


def _gw_port(w: World) -> None:
    w.istio.append(cr("Gateway", "api-gateway", "default", {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 9090, "name": "http-api", "protocol": "HTTP"}, "hosts": ["api.example.com"]}]}))
    w.istio.append(cr("VirtualService", "api", "default", {
        "hosts": ["api.example.com"], "gateways": ["api-gateway"],
        "http": [{"route": [{"destination": {"host": "details", "port": {"number": 9080}}}]}]}))


def _gw_passthrough_http(w: World) -> None:
    res(w, "Gateway", "bookinfo-gateway")["spec"]["servers"] = [
        {"port": {"number": 8443, "name": "tls", "protocol": "TLS"}, "tls": {"mode": "PASSTHROUGH"},
         "hosts": ["bookinfo.example.com"]}]
    res(w, "VirtualService", "bookinfo")["spec"]["hosts"] = ["bookinfo.example.com"]


def _gw_conflict(w: World) -> None:
    w.istio.append(cr("Gateway", "reviews-gateway", "default", {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 8080, "name": "http-reviews", "protocol": "HTTP"}, "hosts": ["*"]}]}))
    w.istio.append(cr("VirtualService", "reviews-ingress", "default", {
        "hosts": ["*"], "gateways": ["reviews-gateway"],
        "http": [{"match": [{"uri": {"prefix": "/reviews"}}], "route": [{"destination": {"host": "reviews", "port": {"number": 9080}}}]}]}))
    ingress(w, path="/reviews/0")


def _jwt_claim(w: World) -> None:
    vs = res(w, "VirtualService", "bookinfo")
    vs["spec"]["http"][0]["match"] = [{"uri": {"exact": "/productpage"}, "headers": {"@request.auth.claims.groups": {"exact": "admin"}}}]
    ingress(w)


def _ingress_subset(w: World) -> None:
    w.workloads.append(Workload(
        name="productpage-v2", namespace="default", labels={"app": "productpage", "version": "v2"},
        service_account="bookinfo-productpage",
        containers=[Container("productpage", "docker.io/istio/examples-bookinfo-productpage-v1:1.20.2", ports=[Port(9080)])]))
    w.istio += [
        cr("DestinationRule", "productpage", "default", {"host": "productpage", "subsets": [
            {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}),
        cr("VirtualService", "productpage", "default", {"hosts": ["productpage"], "http": [
            {"route": [{"destination": {"host": "productpage", "subset": "v1"}}]}]}),
    ]
    ingress(w)


# -- destinations -----------------------------------------------------------------------


def _dest_host_unknown(w: World) -> None:
    w.istio.append(reviews_vs(to_reviews(host="reveiws")))
    pp_calls_reviews(w)


def _subset_undefined(w: World) -> None:
    w.istio.append(reviews_vs(to_reviews("v1")))
    pp_calls_reviews(w)


def _dr_host_typo(w: World) -> None:
    w.istio += [reviews_vs(to_reviews("v1")), reviews_dr(host="reveiws")]
    pp_calls_reviews(w)


def _port_ambiguous(w: World) -> None:
    pp = next(s for s in w.services if s.name == "productpage")
    pp.ports = [ServicePort(9080, "http"), ServicePort(9443, "https", 9443)]
    vs = res(w, "VirtualService", "bookinfo")
    del vs["spec"]["http"][0]["route"][0]["destination"]["port"]
    ingress(w)


def _mesh_match_miss(w: World) -> None:
    w.istio.append(reviews_vs({"match": [{"uri": {"prefix": "/reviews/"}}], **to_reviews()}))
    pp_calls_reviews(w, path="/health", count=3)
    pp_calls_reviews(w, count=2)


def _vs_host_conflict(w: World) -> None:
    w.istio += [reviews_vs({"match": [{"uri": {"prefix": "/reviews/"}}], **to_reviews()}, name="reviews-paths"),
                reviews_vs({"match": [{"uri": {"exact": "/health"}}], **to_reviews()}, name="reviews-health")]
    pp_calls_reviews(w, path="/health", count=3)


# -- visibility ---------------------------------------------------------------------------


def _exportto_dr(w: World) -> None:
    w.istio += [reviews_vs(to_reviews("v1")), reviews_dr(exportTo=["."])]
    w.traffic.append(Request("foo/sleep", "reviews.default:9080", "/reviews/0", count=3))


def _exportto_service(w: World) -> None:
    ratings = next(s for s in w.services if s.name == "ratings")
    ratings.annotations["networking.istio.io/exportTo"] = "."
    w.traffic.append(Request("foo/sleep", "ratings.default:9080", "/ratings/0", count=3))


def _sidecar_scope(w: World) -> None:
    w.istio.append(cr("Sidecar", "default", "default", {"egress": [
        {"hosts": ["./details.default.svc.cluster.local", "istio-system/*"]}]}))
    pp_calls_reviews(w, count=3)


def _sidecar_ok(w: World) -> None:
    w.istio.append(cr("Sidecar", "default", "default", {"egress": [{"hosts": ["./*", "istio-system/*"]}]}))


# -- proxy state, EnvoyFilter, ServiceEntry, Gateway API --------------------------------------


def _xds_stale(w: World) -> None:
    wl = w.workload("default/productpage-v1")
    assert wl is not None
    wl.proxy = proxy(xds={"RDS": "STALE"})


def _envoyfilter_nack(w: World) -> None:
    wl = w.workload("default/productpage-v1")
    assert wl is not None
    wl.proxy = proxy(state="nack")
    w.istio.append(cr("EnvoyFilter", "productpage-lua", "default", {
        "workloadSelector": {"labels": {"app": "productpage"}},
        "configPatches": [{"applyTo": "HTTP_FILTER", "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager"}}}},
            "patch": {"operation": "INSERT_BEFORE", "value": {"name": "envoy.filters.http.lua_typo", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", "inlineCode": "function envoy_on_request(h) end"}}}}]}))


def _se_tcp(w: World) -> None:
    for name in ("orders-db", "billing-db"):
        w.istio.append(cr("ServiceEntry", name, "default", {
            "hosts": [f"{name}.example.com"], "ports": [{"number": 3306, "name": "tcp-mysql", "protocol": "TCP"}],
            "location": "MESH_EXTERNAL", "resolution": "DNS"}))


def _se_tcp_ok(w: World) -> None:
    for i, name in enumerate(("orders-db", "billing-db")):
        w.istio.append(cr("ServiceEntry", name, "default", {
            "hosts": [f"{name}.example.com"], "addresses": [f"192.0.2.{10 + i}"],
            "ports": [{"number": 3306, "name": "tcp-mysql", "protocol": "TCP"}], "location": "MESH_EXTERNAL", "resolution": "DNS"}))


def _httproute_not_accepted(w: World) -> None:
    w.istio.append(cr("HTTPRoute", "productpage", "default", {
        "parentRefs": [{"name": "bookinfo-gw"}], "hostnames": ["bookinfo.example.com"],
        "rules": [{"backendRefs": [{"name": "productpage", "port": 9080}]}]}, status={"parents": [{
            "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "bookinfo-gw"},
            "controllerName": "istio.io/gateway-controller",
            "conditions": [
                {"type": "Accepted", "status": "False", "reason": "NoMatchingParent", "message": "parent gateway not found",
                 "lastTransitionTime": "2024-07-15T09:00:00Z", "observedGeneration": 1},
                {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved",
                 "lastTransitionTime": "2024-07-15T09:00:00Z", "observedGeneration": 1}]}]}))


def _httproute_ok(w: World) -> None:
    w.istio.append(cr("HTTPRoute", "productpage", "default", {
        "parentRefs": [{"name": "bookinfo-gw"}], "hostnames": ["bookinfo.example.com"],
        "rules": [{"backendRefs": [{"name": "productpage", "port": 9080}]}]}, status={"parents": [{
            "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "bookinfo-gw"},
            "controllerName": "istio.io/gateway-controller",
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid",
                 "lastTransitionTime": "2024-07-15T09:00:00Z", "observedGeneration": 1},
                {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved",
                 "lastTransitionTime": "2024-07-15T09:00:00Z", "observedGeneration": 1}]}]}))


# -- gateway TLS: credentials, SNI, shared certificates, Gateway API CRDs ----------------------


def https_gateway(name: str, host: str, cred: str, ns: str = "default") -> dict[str, Any]:
    """An Istio Gateway terminating TLS on 8443 (the Service's 443) for one host."""
    return cr("Gateway", name, ns, {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 8443, "name": "https", "protocol": "HTTPS"}, "hosts": [host],
         "tls": {"mode": "SIMPLE", "credentialName": cred}}]})


def https_ingress(w: World, host: str = "bookinfo.example.com", path: str = "/productpage", count: int = 3,
                  **kw: Any) -> None:
    w.traffic.append(Request(GW, host, path, count=count, tls=True, **kw))


def _bookinfo_https(w: World, *, secret: bool) -> None:
    w.istio.append(https_gateway("bookinfo-https", "bookinfo.example.com", "bookinfo-cert"))
    res(w, "VirtualService", "bookinfo")["spec"]["gateways"] = ["bookinfo-gateway", "bookinfo-https"]
    if secret:
        w.tls_secrets.append(TlsSecret("bookinfo-cert", "istio-system", ["bookinfo.example.com"]))


def _credential_missing(w: World) -> None:
    _bookinfo_https(w, secret=False)
    https_ingress(w, count=4)
    ingress(w, count=2)  # plain HTTP on 80 still works


def _credential_present(w: World) -> None:
    _bookinfo_https(w, secret=True)
    https_ingress(w, count=4)


def _credential_other_namespace(w: World) -> None:
    _bookinfo_https(w, secret=False)
    # created next to the Gateway resource, not where the gateway pods run: istiod does not serve it
    w.tls_secrets.append(TlsSecret("bookinfo-cert", "default", ["bookinfo.example.com"]))
    https_ingress(w, count=3)


def _sni_missing(w: World) -> None:
    _bookinfo_https(w, secret=True)
    https_ingress(w, "172.18.255.200", count=4)  # by the load balancer's IP: curl sends no SNI
    https_ingress(w, count=1)


def _no_sni_wildcard_server(w: World) -> None:
    _bookinfo_https(w, secret=True)
    res(w, "Gateway", "bookinfo-https")["spec"]["servers"][0]["hosts"] = ["*"]
    https_ingress(w, "172.18.255.200", count=3)  # no SNI, but the one filter chain has no server_names


def _two_hosts(w: World, shop_cert: str, blog_cert: str) -> None:
    w.istio += [
        https_gateway("shop-gateway", "shop.example.com", shop_cert, "istio-system"),
        https_gateway("blog-gateway", "blog.example.com", blog_cert, "istio-system"),
        cr("VirtualService", "shop", "default", {"hosts": ["shop.example.com"], "gateways": ["istio-system/shop-gateway"],
                                                 "http": [{"route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}),
        cr("VirtualService", "blog", "default", {"hosts": ["blog.example.com"], "gateways": ["istio-system/blog-gateway"],
                                                 "http": [{"route": [{"destination": {"host": "details", "port": {"number": 9080}}}]}]}),
    ]
    for cert in dict.fromkeys([shop_cert, blog_cert]):
        w.tls_secrets.append(TlsSecret(cert, "istio-system", ["*.example.com"] if shop_cert == blog_cert else [f"{cert.split('-')[0]}.example.com"]))


def _dup_cert(w: World) -> None:
    _two_hosts(w, "wildcard-example-cert", "wildcard-example-cert")
    https_ingress(w, "shop.example.com", "/productpage", count=2, protocol="HTTP/2")
    # the browser reuses the shop connection (the *.example.com certificate covers blog too)
    https_ingress(w, "blog.example.com", "/details/0", count=3, protocol="HTTP/2", sni="shop.example.com")


def _distinct_certs(w: World) -> None:
    _two_hosts(w, "shop-cert", "blog-cert")
    https_ingress(w, "shop.example.com", "/productpage", count=2, protocol="HTTP/2")
    https_ingress(w, "blog.example.com", "/details/0", count=2, protocol="HTTP/2")


def _gwapi_old_bundle(w: World) -> None:
    w.gateway_api_version = "v0.8.0"
    # Istio 1.22 watches gateway.networking.k8s.io/v1, which v0.8.0 does not serve: no controller
    # ever writes a status on these objects
    w.istio += [
        cr("K8sGateway", "bookinfo-gw", "default", {"gatewayClassName": "istio", "listeners": [
            {"name": "http", "hostname": "bookinfo.example.com", "port": 80, "protocol": "HTTP"}]}),
        cr("HTTPRoute", "productpage", "default", {
            "parentRefs": [{"name": "bookinfo-gw"}], "hostnames": ["bookinfo.example.com"],
            "rules": [{"backendRefs": [{"name": "productpage", "port": 9080}]}]}),
    ]


# -- healthy and look-alikes ---------------------------------------------------------------


def _healthy_ingress(w: World) -> None:
    ingress(w, count=4)
    ingress(w, path="/static/css/app.css", count=1)


def _app_404(w: World) -> None:
    w.traffic.append(Request("default/productpage-v1", "details:9080", "/details/999", status=404, count=4))


def _mesh_only_vs(w: World) -> None:
    w.istio += [reviews_vs(to_reviews("v2")), reviews_dr()]
    pp_calls_reviews(w, count=3)
    ingress(w, count=2)


def _wildcard_gateway_host(w: World) -> None:
    res(w, "VirtualService", "bookinfo")["spec"]["hosts"] = ["bookinfo.example.com"]
    ingress(w, count=3)


def _subsets_ok(w: World) -> None:
    w.istio += [reviews_vs(to_reviews("v1")), reviews_dr()]
    pp_calls_reviews(w, count=3)


def _pod_ip_passthrough(w: World) -> None:
    reviews = next(p for p in w.pods if p.name.startswith("reviews-v1"))
    w.traffic.append(Request("default/productpage-v1", f"{reviews.ip}:9080", "/reviews/0", count=2))


def _no_endpoints(w: World) -> None:
    wl = w.workload("default/ratings-v1")
    assert wl is not None
    wl.containers[0].ready = False
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=3))


def _pp(w: World) -> str:
    return "deploy/productpage-v1 -n default"


def S(name: str, desc: str, mutate: Callable[[World], None], expect: Expect, target: Callable[[World], str] = gateway_pod,
      **kw: Any) -> Scenario:
    w = world(mutate, **kw)
    return Scenario("routes", name, desc, target(w), "routes", w, expect)


def fail(code: str, *also: str, absent: list[str] | None = None) -> Expect:
    return Expect(code, [code, *also], absent if absent is not None else others(code, *also))


CLEAN = Expect(None, [], ALL, "no_problem_found")

SCENARIOS: list[Scenario] = [
    # failing worlds: the cause ranks first
    S("vs-no-gateway", "VirtualService bookinfo has no spec.gateways: the ingress gateway answers 404 NR for bookinfo.example.com",
      _vs_no_gateway, fail("ROUTE-VS-NO-GATEWAY")),
    S("vs-gateway-short-name-other-ns", "VirtualService in foo names gateway 'bookinfo-gateway', which resolves to foo/bookinfo-gateway",
      _vs_gateway_wrong_ns, fail("ROUTE-VS-NO-GATEWAY")),
    S("host-not-in-gateway", "VirtualService host www.bookinfo.com is not among the Gateway's hosts [bookinfo.example.com]",
      _host_not_in_gateway, fail("ROUTE-HOST-NOT-IN-GATEWAY")),
    S("authority-by-ip", "clients call the gateway by its load-balancer IP; routes serve only bookinfo.example.com",
      _authority_ip, fail("ROUTE-AUTHORITY-MISMATCH")),
    S("gateway-path-no-route", "ingress request for /admin/settings: the bookinfo VirtualService has no rule for it",
      _gw_match_miss, fail("ROUTE-MATCH-MISS")),
    S("mesh-path-no-route", "VirtualService reviews only matches /reviews/; productpage's /health calls get 404 NR",
      _mesh_match_miss, fail("ROUTE-MATCH-MISS"), _pp),
    S("gateway-selector-typo", "Gateway bookinfo-gateway selects istio=ingress, which no gateway pod carries",
      _gw_selector, fail("ROUTE-GW-SELECTOR"), _pp),
    S("gateway-port-not-on-service", "Gateway api-gateway listens on 9090; the istio-ingressgateway Service exposes 80/443/15021",
      _gw_port, fail("ROUTE-GW-PORT-NOT-ON-SVC")),
    S("passthrough-with-http-routes", "Gateway passes TLS through on 8443 but VirtualService bookinfo has only http routes",
      _gw_passthrough_http, fail("ROUTE-GW-TLS-MODE"), _pp),
    S("gateway-conflict", "Gateways bookinfo-gateway and reviews-gateway both claim port 8080 for '*'; /reviews gets 404 NR",
      _gw_conflict, fail("ROUTE-GW-CONFLICT", "ROUTE-MATCH-MISS")),
    S("jwt-claim-without-requestauthn", "gateway VirtualService routes on @request.auth.claims.groups without a RequestAuthentication",
      _jwt_claim, fail("ROUTE-JWT-CLAIM", "ROUTE-MATCH-MISS")),
    S("ingress-ignores-mesh-subset", "mesh VirtualService pins productpage to v1; gateway traffic still reaches productpage-v2",
      _ingress_subset, fail("ROUTE-INGRESS-SUBSET-IGNORED")),
    S("dest-host-typo", "VirtualService reviews routes to 'reveiws': 503 NC cluster_not_found",
      _dest_host_unknown, fail("ROUTE-DEST-HOST-UNKNOWN"), _pp),
    S("subset-undefined", "VirtualService reviews routes to subset v1 and no DestinationRule defines it: 503 NC",
      _subset_undefined, fail("ROUTE-SUBSET-UNDEFINED"), _pp),
    S("subset-undefined-server-view",
      "the reviews owner asks why reviews gets no traffic: its VirtualService routes to subset v1 that no DestinationRule defines",
      _subset_undefined, fail("ROUTE-SUBSET-UNDEFINED"), lambda w: "deploy/reviews-v1 -n default"),
    S("dr-host-typo", "DestinationRule host 'reveiws' defines the subsets, so subset v1 of reviews does not exist: 503 NC",
      _dr_host_typo, fail("ROUTE-DR-HOST-UNKNOWN", "ROUTE-SUBSET-UNDEFINED"), _pp),
    S("port-ambiguous", "gateway VirtualService routes to two-port productpage without destination.port",
      _port_ambiguous, fail("ROUTE-PORT-AMBIGUOUS")),
    S("vs-host-conflict", "two mesh VirtualServices define reviews; sidecars use only reviews-paths, /health gets 404 NR",
      _vs_host_conflict, fail("ROUTE-VS-HOST-CONFLICT", "ROUTE-MATCH-MISS"), _pp),
    S("exportto-dr-hidden", "DestinationRule reviews (subsets) is exported to '.', sleep in foo routes to subset v1: 503 NC",
      _exportto_dr, fail("ROUTE-EXPORTTO-HIDDEN"), lambda w: "deploy/sleep -n foo"),
    S("exportto-service-hidden", "Service ratings is exported to its namespace only; sleep in foo gets 502 under REGISTRY_ONLY",
      _exportto_service, fail("ROUTE-EXPORTTO-HIDDEN"), lambda w: "deploy/sleep -n foo", registry_only=True),
    S("sidecar-scope", "Sidecar default/default imports only details: productpage's calls to reviews hit block_all (502)",
      _sidecar_scope, fail("ROUTE-SIDECAR-SCOPE"), _pp, registry_only=True),
    S("xds-rds-stale", "istiod sent productpage new routes that were never acknowledged (RDS STALE)",
      _xds_stale, fail("ROUTE-XDS-STALE"), _pp),
    S("envoyfilter-nack", "EnvoyFilter productpage-lua inserts a misspelled filter; the proxy NACKs the listener",
      _envoyfilter_nack, fail("ROUTE-ENVOYFILTER", "ROUTE-XDS-STALE"), _pp),
    S("serviceentry-tcp-no-address", "two TCP ServiceEntries on 3306 without addresses share one 0.0.0.0:3306 listener",
      _se_tcp, fail("ROUTE-SE-TCP-NO-ADDRESS"), _pp),
    S("httproute-not-accepted", "HTTPRoute productpage names parent gateway bookinfo-gw, which does not exist (Accepted=False)",
      _httproute_not_accepted, fail("ROUTE-GWAPI-NOT-ACCEPTED"), _pp),
    S("gateway-credential-missing", "Gateway bookinfo-https names credentialName bookinfo-cert; no such Secret in istio-system, the SDS secret stays WARMING",
      _credential_missing, fail("ROUTE-GW-CREDENTIAL")),
    S("gateway-credential-other-namespace", "TLS Secret bookinfo-cert exists in default (next to the Gateway), not in istio-system where the gateway runs",
      _credential_other_namespace, fail("ROUTE-GW-CREDENTIAL")),
    S("sni-missing", "clients reach the SNI-only HTTPS port 8443 by the load balancer IP without SNI: NR filter_chain_not_found",
      _sni_missing, fail("ROUTE-SNI-MISSING")),
    S("duplicate-certificate-404", "shop-gateway and blog-gateway share *.example.com; HTTP/2 clients reuse the shop connection for blog and get 404 NR",
      _dup_cert, fail("ROUTE-DUP-CERT-404")),
    S("gateway-api-crds-too-old", "Istio 1.22 reads Gateway API v1; the installed v0.8.0 CRDs serve v1beta1/v1alpha2 only",
      _gwapi_old_bundle, fail("ROUTE-GWAPI-CRD"), _pp),
    # healthy worlds and look-alikes: no route finding
    S("gateway-credential-present", "HTTPS on 8443 with TLS Secret bookinfo-cert in istio-system: ACTIVE, 200s", _credential_present, CLEAN),
    S("no-sni-wildcard-server", "clients without SNI reach an HTTPS server with hosts '*' (a chain without server_names): 200s",
      _no_sni_wildcard_server, CLEAN),
    S("distinct-certificates", "shop-gateway and blog-gateway with their own certificates: HTTP/2 clients open a connection per host, 200s",
      _distinct_certs, CLEAN),
    S("healthy-ingress", "bookinfo through the ingress gateway: 200s", _healthy_ingress, CLEAN),
    S("healthy-client", "productpage calls details and reviews: 200s", lambda w: None, CLEAN, _pp),
    S("app-own-404", "details answers 404 itself (via_upstream, no flag): not a route problem", _app_404,
      Expect(None, [], ALL, "no_problem_found"), _pp),
    S("mesh-only-virtualservice", "VirtualService reviews has no gateways and serves mesh traffic only: fine",
      _mesh_only_vs, CLEAN),
    S("mesh-only-virtualservice-client", "the same world seen from productpage", _mesh_only_vs, CLEAN, _pp),
    S("wildcard-gateway-host", "Gateway hosts '*' with a VirtualService for bookinfo.example.com: fine",
      _wildcard_gateway_host, CLEAN),
    S("subsets-defined", "VirtualService subset v1 defined by DestinationRule reviews: fine", _subsets_ok, CLEAN, _pp),
    S("sidecar-imports-namespace", "Sidecar imports ./* and istio-system/*: fine", _sidecar_ok, CLEAN, _pp),
    S("serviceentry-tcp-with-addresses", "TCP ServiceEntries with addresses: fine", _se_tcp_ok, CLEAN, _pp),
    S("httproute-accepted", "an accepted HTTPRoute: fine", _httproute_ok, CLEAN, _pp),
    S("pod-ip-passthrough", "productpage calls a reviews pod by IP: passthrough 200, not an authority problem",
      _pod_ip_passthrough, CLEAN, _pp),
    S("no-endpoints-look-alike", "ratings not ready: 503 UH no_healthy_upstream is not a routing problem",
      _no_endpoints, Expect(None, [], ALL, "problems_found"), lambda w: "deploy/reviews-v2 -n default"),
]
