"""Red team 3 ("blind"): public incident threads the tool was not built from, in the areas it is
weakest at (Envoy's routing rules, Istio's version-specific behaviour, timing).

Each scenario names its thread. The expected first finding is the thread's confirmed resolution
mapped to our catalogue, worked out from the thread, not from the tool's answer; where the
catalogue has no entry for the resolution, the honest answer is "cause not determined", never a
look-alike and never "healthy". Each look-alike control (same outputs, healthy mesh) keeps a fix
from turning into a false positive.
"""

from __future__ import annotations

from typing import Any

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.helpers import STRICT_MESH, pod_target, ratings_calls, wl, world
from tests.scenariokit.world import Container, Namespace, Port, Request, Service, ServicePort, Workload, World, cr

FOLDER = "redteam-blind"
GW = "istio-system/istio-ingressgateway"
ROUTE_LOOKALIKES = ["ROUTE-MATCH-MISS", "ROUTE-HOST-NOT-IN-GATEWAY", "ROUTE-VS-NO-GATEWAY", "ROUTE-GW-SELECTOR",
                    "ROUTE-VS-HOST-CONFLICT", "ROUTE-GW-CONFLICT"]


def gateway_target(w: World) -> str:
    return f"pod/{next(p.name for p in w.pods if p.is_gateway)} -n istio-system"


def _bookinfo_host_only(w: World) -> None:
    """The bookinfo VirtualService serves bookinfo.example.com only (the Gateway keeps hosts '*')."""
    vs = next(o for o in w.istio if o["kind"] == "VirtualService" and o["metadata"]["name"] == "bookinfo")
    vs["spec"]["hosts"] = ["bookinfo.example.com"]


# -- 1. NodePort in the Host header, Istio 1.5 (istio/istio#8807, #15221, #6773) -------------------------
#
# https://github.com/istio/istio/issues/8807 (1.4.6 - 1.5.2 per its comments): "specifying a host of
# test.istio.com would only generate test.istio.com and test.istio.com:80, when in reality it also needs
# to generate one for the node-port i.e test.istio.com:32700"; istio/istio#6773 quotes the gateway's
# line for such a request: `"HEAD /status/200 HTTP/1.1" 404 NR ... "httpbin.example.com:80" "-"`.
# Resolution: up to 1.5 a gateway virtual host lists ``host`` and ``host:<server port>`` only
# (istio/istio@1.5.0 pilot/pkg/networking/core/v1alpha3/gateway.go), so a Host carrying the NodePort
# matches no domain: ROUTE-AUTHORITY-MISMATCH (its port variant). 1.6 added ``host:*``.


def _nodeport_host(w: World) -> None:
    _bookinfo_host_only(w)
    w.traffic.append(Request(GW, "bookinfo.example.com:31380", "/productpage", count=4, connect_port=80))
    w.traffic.append(Request(GW, "bookinfo.example.com", "/productpage", count=1))  # through the LB: fine


def nodeport_host_1_5() -> Scenario:
    w = world(_nodeport_host, version="1.5.2")
    return Scenario(FOLDER, "gateway-host-with-nodeport-1-5",
                    "istio/istio#8807: 1.5 ingress reached through NodePort 31380; Host bookinfo.example.com:31380 gets "
                    "404 NR (domains bookinfo.example.com and :8080 only), through the LB it works",
                    gateway_target(w), "auto", w,
                    Expect("ROUTE-AUTHORITY-MISMATCH", ["ROUTE-AUTHORITY-MISMATCH"], ROUTE_LOOKALIKES))


def nodeport_host_1_6_control() -> Scenario:
    # the same requests on 1.6: the gateway's virtual host also lists bookinfo.example.com:* (any port)
    w = world(_nodeport_host, version="1.6.14")
    return Scenario(FOLDER, "gateway-host-with-nodeport-1-6-control",
                    "control for istio/istio#8807: on 1.6 the gateway domains include host:*, the NodePort Host routes (healthy)",
                    gateway_target(w), "auto", w,
                    Expect(None, [], ["ROUTE-AUTHORITY-MISMATCH", *ROUTE_LOOKALIKES], "no_problem_found"))


# -- 2. a route's prefix shadows a longer one of another VirtualService on the same gateway host -------
#
# https://github.com/istio/istio/issues/18849: two VirtualServices on kubeflow-gateway, hosts '*',
# prefixes /notebook/name/test-root and /notebook/name/test-root1; requests for test-root1 went to
# test-root's service, which answered 404: `"GET /notebook/name/test-root1/ HTTP/2" 404 -...
# outbound|80||test-root.name.svc.cluster.local`. Same in openmobilityfoundation/mds-core#224 (/policy
# caught /policy-author, "a case of the VirtualService ingress getting loaded in a different order").
# Resolution: Envoy's ``prefix`` is a plain string prefix (envoy route.v3.RouteMatch.prefix), the
# gateway merges the VirtualServices' routes for one host into one virtual host (istio/istio@1.22.0
# gateway.go vHostDedupMap) and the first match wins. The 404 is the wrong service's own answer.
# MISROUTE-PREFIX-SHADOWED (added for this incident: before it the tool called this mesh healthy, reading
# the 404 as the application's own); a 404 NR finding would be wrong too.


def _prefix_shadow(w: World) -> None:
    _bookinfo_host_only(w)
    w.istio += [
        cr("VirtualService", "policy", "default", {"hosts": ["bookinfo.example.com"], "gateways": ["bookinfo-gateway"], "http": [
            {"match": [{"uri": {"prefix": "/policy"}}], "route": [{"destination": {"host": "details", "port": {"number": 9080}}}]}]}),
        cr("VirtualService", "policy-author", "default", {"hosts": ["bookinfo.example.com"], "gateways": ["bookinfo-gateway"],
                                                           "http": [{"match": [{"uri": {"prefix": "/policy-author"}}], "route": [
                                                               {"destination": {"host": "ratings", "port": {"number": 9080}}}]}]}),
    ]
    w.traffic.append(Request(GW, "bookinfo.example.com", "/policy-author/", count=4, status=404))
    w.traffic.append(Request(GW, "bookinfo.example.com", "/policy/1", count=2))


def prefix_shadow() -> Scenario:
    w = world(_prefix_shadow)
    return Scenario(FOLDER, "gateway-prefix-shadows-other-virtualservice",
                    "istio/istio#18849, mds-core#224: VirtualService policy (prefix /policy) is merged before policy-author "
                    "(prefix /policy-author) on the gateway host; /policy-author/ reaches details, which answers 404",
                    gateway_target(w), "auto", w,
                    Expect("MISROUTE-PREFIX-SHADOWED", ["MISROUTE-PREFIX-SHADOWED"], ["ROUTE-AUTHORITY-MISMATCH", "ROUTE-MATCH-MISS"]))


def _prefix_segments_ok(w: World) -> None:
    # the look-alike: the same two VirtualServices with segment-safe matches; /policy-author/ reaches ratings,
    # and details' own 404 for an unknown policy id is the application's answer
    _prefix_shadow(w)
    for o in w.istio:
        if o["kind"] == "VirtualService" and o["metadata"]["name"] == "policy":
            o["spec"]["http"][0]["match"] = [{"uri": {"exact": "/policy"}}, {"uri": {"prefix": "/policy/"}}]
    w.traffic.append(Request(GW, "bookinfo.example.com", "/policy/404", count=2, status=404))


def prefix_segments_control() -> Scenario:
    w = world(_prefix_segments_ok)
    return Scenario(FOLDER, "gateway-prefix-segments-control",
                    "control for istio/istio#18849: policy matches exact /policy and prefix /policy/, so /policy-author/ "
                    "reaches ratings; details answers 404 for an unknown id itself (healthy mesh)",
                    gateway_target(w), "auto", w,
                    Expect(None, [], ["MISROUTE-PREFIX-SHADOWED", "ROUTE-MATCH-MISS"], "no_problem_found"))


# -- 3. keep-alive race: the upstream closes idle connections before Envoy does -------------------------
#
# https://github.com/envoyproxy/envoy/issues/14981 ("Envoy intermittently responds with 503 UC
# (upstream_reset_before_response_started{connection_termination})"), resolution in the thread: "Envoy
# having a higher default idle timeout value than one of the backend applications ... The solution was to
# add DestinationRule resources which overrode the default idle timeout"; istio/istio#55138 the same.
# P503-KEEPALIVE-UC.


def _keepalive(w: World) -> None:
    ratings_calls(w, count=8)
    ratings_calls(w, count=2, outcome="keepalive_reset", at_s=40.0)
    ratings_calls(w, count=6, at_s=80.0)


def keepalive() -> Scenario:
    w = world(_keepalive, version="1.24.2")
    return Scenario(FOLDER, "sporadic-503-uc-idle-timeout",
                    "envoyproxy/envoy#14981, istio/istio#55138: a few 503 UC connection_termination among 200s from "
                    "reviews-v2 to ratings (the app closes idle keep-alive connections first)",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("P503-KEEPALIVE-UC", ["P503-KEEPALIVE-UC"], ["P503-NO-ENDPOINTS", "P503-OUTLIER-EJECTED",
                                                                         "P503-SHUTDOWN-RACE", "MTLS-DR-DISABLE-VS-STRICT"]))


# -- 4. MySQL outside the mesh behind a port name Istio sniffs ------------------------------------------
#
# https://github.com/istio/istio/issues/38284 ("Connection stuck from sidecar enabled namespace to
# non-sidecar namespace which talks with MYSQL"): the Service port did not follow the naming convention,
# so the client's sidecar sniffed a server-first protocol; resolution "I added appProtocol: tcp field to
# my service and it worked". P503-SERVER-FIRST.
#
# Not in SCENARIOS yet: a KNOWN MISS. The tool answers INJ-NS-LABEL (the database namespace is
# deliberately outside the mesh): the p503 playbook gates every check on the examined pod having a
# sidecar, but here the sniffing happens on the *client's* outbound listener; and the kit cannot
# render the client's hung TCP connection (Request outcomes cover HTTP only).


def _mysql_outside(w: World) -> None:
    w.namespaces.append(Namespace("db", {}))
    w.workloads.append(Workload("mysql-proxy", "db", [Container("mysql", "docker.io/library/mysql:8.4", ports=[Port(3307)])],
                                labels={"app": "mysql-proxy"}, service_account="mysql", node_index=2))
    w.services.append(Service("mysql-proxy", "db", [ServicePort(3307, "db")], selector={"app": "mysql-proxy"},
                              labels={"app": "mysql-proxy"}))


def mysql_outside() -> Scenario:
    w = world(_mysql_outside, version="1.13.2")
    return Scenario(FOLDER, "mysql-outside-mesh-port-sniffed",
                    "istio/istio#38284: productpage's sidecar sniffs port 3307 (named 'db') of mysql-proxy in a namespace "
                    "without sidecars; MySQL speaks first, connections hang",
                    "svc/mysql-proxy -n db", "auto", w,
                    Expect("P503-SERVER-FIRST", ["P503-SERVER-FIRST"], ["P503-PROTOCOL-MISMATCH", "MTLS-TO-NONMESH-SERVER"]))


# -- 5. Istio 1.10 delivers inbound traffic to the pod IP: an app bound to localhost stops answering -----
#
# https://github.com/kubeflow/kubeflow/issues/5938 ("Don't bind to localhost for Istio 1.10"): "the
# Envoy proxy will not redirect inbound traffic from eth0 to lo. This means that if a web server in a
# container is listening to localhost then it won't be working in 1.10", after Istio's 1.10 upgrade
# notes ("Inbound Forwarding Configuration"). The gateway routes to the dashboard, whose server is
# bound to 127.0.0.1. P503-LOCALHOST-BIND on 1.10; the same pod on 1.9 is fine (loopback forwarding).


def _dashboard_on_localhost(w: World) -> None:
    wl(w, "default/productpage-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    w.traffic.append(Request(GW, "bookinfo.example.com", "/productpage", count=4))


def localhost_1_10() -> Scenario:
    w = world(_dashboard_on_localhost, version="1.10.0")
    return Scenario(FOLDER, "upgrade-1-10-app-bound-to-localhost",
                    "kubeflow/kubeflow#5938: after the upgrade to 1.10 productpage (bound to 127.0.0.1:9080) gets no inbound "
                    "traffic; the ingress gateway sees 503",
                    gateway_target(w), "auto", w,
                    Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND"], ["P503-TARGETPORT", "P503-NO-ENDPOINTS",
                                                                             "MTLS-DR-DISABLE-VS-STRICT", "ROUTE-MATCH-MISS"]))


def localhost_1_9_control() -> Scenario:
    w = world(_dashboard_on_localhost, version="1.9.9")
    return Scenario(FOLDER, "app-bound-to-localhost-1-9-control",
                    "control for kubeflow/kubeflow#5938: on 1.9 the sidecar forwards inbound traffic to 127.0.0.1, the "
                    "localhost-bound productpage answers (healthy)",
                    gateway_target(w), "auto", w,
                    Expect(None, [], ["P503-LOCALHOST-BIND", "P503-TARGETPORT"], "no_problem_found"))


# -- 6. default retries per version: from 1.24 an upstream 503 is not retried ------------------------------
#
# istio/istio#50506 ("Add feature flag to disable default retry policy": the default retried 503s, which
# double-paid a non-idempotent POST) led to istio/istio#52111: from 1.24 ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY``
# (default true) drops 503 from the default retriable codes, and ``ENABLE_INBOUND_RETRY_POLICY`` (#52055)
# makes the server's sidecar retry a reset before the request reached the app (``reset-before-request``).
# So on 1.24 the caller logs ``503 - via_upstream`` once (no URX) where 1.22 logged ``503 URX``, and a
# localhost-bound server logs one ``503 UF,URX`` line instead of three ``503 UF``. The causes stay the same:
# the application's own 503 is not explained by the mesh (cause not determined, never healthy), and the
# localhost bind is P503-LOCALHOST-BIND.


def _ratings_503(w: World) -> None:
    ratings_calls(w, count=4, status=503)


def app_503_1_24() -> Scenario:
    w = world(_ratings_503, version="1.24.2")
    return Scenario(FOLDER, "app-503-not-retried-1-24",
                    "istio/istio#50506 / #52111: on 1.24 ratings' own 503s reach reviews-v2 unretried (503 via_upstream, "
                    "no URX): the application's answer, not a mesh cause",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect(None, [], ["P503-RETRIES-EXHAUSTED", "P503-LOCALHOST-BIND", "P503-NO-ENDPOINTS", "P503-OUTLIER-EJECTED"],
                           "cause_not_determined"))


def _ratings_localhost(w: World) -> None:
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    ratings_calls(w, count=4)


def localhost_1_24() -> Scenario:
    w = world(_ratings_localhost, version="1.24.2")
    return Scenario(FOLDER, "localhost-bind-inbound-retry-1-24",
                    "istio/istio#52055 on 1.24: ratings bound to 127.0.0.1; its sidecar retries the refused connection "
                    "itself (one 503 UF,URX line), reviews-v2 gets 503 via_upstream without URX",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND"], ["P503-TARGETPORT", "P503-NO-ENDPOINTS"]))


# -- 7. the Host header, not the address, picks the destination -------------------------------------------
#
# https://github.com/istio/istio/issues/22727 (1.4.4): `curl 'http://service2/v1/url' --header 'Host: service3'`
# from service1's pod: "I am not receiving any traffic on service2 pod and also no error logs. But got empty
# response body with status code 404 ... When I remove header 'Host' or set it to correct host name(service2),
# I am receiving traffic on service2 pod." The sidecar routes HTTP by the Host header (virtual host domains),
# whatever address the app connected to, so service3 got the request and answered 404 for a path it does not
# serve. The same in istio/istio#11670 (nginx `proxy_set_header Host $host` in front of a mesh service) and
# fission/fission#1377. Here productpage connects to details but sends Host reviews.


def _host_names_other_service(w: World) -> None:
    w.traffic.append(Request("default/productpage-v1", "reviews", "/details/0", count=4, status=404,
                             connect_host="details", connect_port=9080))


def host_override() -> Scenario:
    w = world(_host_names_other_service, version="1.4.6")
    return Scenario(FOLDER, "host-header-names-another-service",
                    "istio/istio#22727: productpage calls details' address with Host: reviews; the sidecar routes by Host "
                    "to reviews, which answers 404 (details never sees the requests)",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("MISROUTE-HOST-OVERRIDES-ADDRESS", ["MISROUTE-HOST-OVERRIDES-ADDRESS"],
                           ["ROUTE-AUTHORITY-MISMATCH", "ROUTE-MATCH-MISS", "MISROUTE-PREFIX-SHADOWED"]))


def _vs_redirects_details(w: World) -> None:
    # the look-alike: the Host names the Service the app called; a VirtualService (on purpose) serves details
    # from reviews during a migration, and reviews answers 404 for an id it does not know
    w.istio.append(cr("VirtualService", "details", "default", {"hosts": ["details"], "http": [
        {"route": [{"destination": {"host": "reviews", "port": {"number": 9080}}}]}]}))
    w.traffic.append(Request("default/productpage-v1", "details:9080", "/details/404", count=3, status=404))


def host_override_control() -> Scenario:
    w = world(_vs_redirects_details, version="1.4.6")
    return Scenario(FOLDER, "virtualservice-redirects-service-control",
                    "control for istio/istio#22727: Host and address agree (details); VirtualService details sends the "
                    "requests to reviews, whose own 404 is the application's answer (healthy mesh)",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect(None, [], ["MISROUTE-HOST-OVERRIDES-ADDRESS", "MISROUTE-PREFIX-SHADOWED"], "no_problem_found"))


# -- 8. a JavaScript-style regex in a VirtualService never matches ------------------------------------------
#
# https://github.com/istio/istio/issues/14983 ("Issues with regex-based http URI matching in Virtual Service",
# 1.1/1.2): `uri: regex: /\/foo\/bar/gi` meant "any URI containing /foo/bar, case-insensitive" (a JavaScript
# literal), "virtually any request gets redirected to the webapp" (the fallback route). Envoy's safe_regex is
# RE2 and must match the WHOLE path (envoy route.v3.RouteMatch.safe_regex: "the regex must match the
# entire path"); the slashes and "gi" are literal characters, so the rule never matches and the next route
# takes every request. Istio documents StringMatch.regex as RE2 (istio/istio.io#7766). Here the gateway's
# first rule is the API (ratings) written that way, the fallback productpage answers 404 for API paths.


def _js_regex(w: World) -> None:
    vs = next(o for o in w.istio if o["kind"] == "VirtualService" and o["metadata"]["name"] == "bookinfo")
    vs["spec"]["hosts"] = ["bookinfo.example.com"]
    vs["spec"]["http"] = [
        {"match": [{"uri": {"regex": "/\\/ratings\\//gi"}}], "route": [{"destination": {"host": "ratings", "port": {"number": 9080}}}]},
        {"route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]
    w.traffic.append(Request(GW, "bookinfo.example.com", "/api/Ratings/0", count=4, status=404))
    w.traffic.append(Request(GW, "bookinfo.example.com", "/productpage", count=2))


def js_regex() -> Scenario:
    w = world(_js_regex, version="1.22.3")
    return Scenario(FOLDER, "virtualservice-regex-written-as-javascript-literal",
                    "istio/istio#14983: uri regex /\\/ratings\\//gi (a JavaScript literal) never matches under RE2 full "
                    "match; /api/Ratings/0 falls through to productpage, which answers 404",
                    gateway_target(w), "auto", w,
                    Expect("MISROUTE-REGEX-NEVER-MATCHES", ["MISROUTE-REGEX-NEVER-MATCHES"],
                           ["ROUTE-MATCH-MISS", "ROUTE-AUTHORITY-MISMATCH", "MISROUTE-PREFIX-SHADOWED"]))


def _re2_regex(w: World) -> None:
    # the look-alike: the same intent in RE2 over the whole path; ratings itself answers 404 for an unknown id
    _js_regex(w)
    vs = next(o for o in w.istio if o["kind"] == "VirtualService" and o["metadata"]["name"] == "bookinfo")
    vs["spec"]["http"][0]["match"] = [{"uri": {"regex": "(?i).*/ratings/.*"}}]


def re2_regex_control() -> Scenario:
    w = world(_re2_regex, version="1.22.3")
    return Scenario(FOLDER, "virtualservice-regex-re2-control",
                    "control for istio/istio#14983: uri regex (?i).*/ratings/.* takes /api/Ratings/0 to ratings, whose own "
                    "404 is the application's answer (healthy mesh)",
                    gateway_target(w), "auto", w,
                    Expect(None, [], ["MISROUTE-REGEX-NEVER-MATCHES", "MISROUTE-PREFIX-SHADOWED"], "no_problem_found"))


SCENARIOS: list[Scenario] = [
    nodeport_host_1_5(), nodeport_host_1_6_control(), prefix_shadow(), prefix_segments_control(), keepalive(),
    localhost_1_10(), localhost_1_9_control(), app_503_1_24(), localhost_1_24(),
    host_override(), host_override_control(), js_regex(), re2_regex_control(),
    # mysql_outside(): a known miss, see the comment above it
]
