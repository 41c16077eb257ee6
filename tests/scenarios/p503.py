"""Scenarios of playbook p503 (503 after sidecar injection): one failing world per cause, plus
healthy meshes and look-alikes that must not be blamed on the mesh.

Each world is the healthy bookinfo mesh with one thing changed; the kit derives every output
(pods, sockets, config dumps, both proxies' access logs) from that one change.
"""

from __future__ import annotations


from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import proxy, readiness
from tests.scenariokit.world import Container, Port, Request, Service, ServicePort, Terminated, Workload, World, cr
from tests.scenariokit.helpers import ratings_calls, svc, wl, world

ALL = [
    "P503-LOCALHOST-BIND", "P503-TARGETPORT", "P503-PROTOCOL-MISMATCH", "P503-SERVER-FIRST", "P503-MULTI-SVC-PROTOCOL",
    "P503-NO-SERVICE", "P503-NO-ENDPOINTS", "P503-PROBE-REWRITE", "P503-SUBSET-NO-PODS", "P503-CIRCUIT-BREAKER",
    "P503-OUTLIER-EJECTED", "P503-KEEPALIVE-UC", "P503-RETRIES-EXHAUSTED", "P503-TIMEOUT", "P503-FAULT-CONFIG",
    "P503-STARTUP-RACE", "P503-SHUTDOWN-RACE", "P503-UID-1337", "P503-REGISTRY-ONLY", "P503-HEADLESS-PODIP",
    "P503-PROXY-NOT-READY",
]


def others(*keep: str) -> list[str]:
    return [c for c in ALL if c not in keep]


# -- failing worlds ---------------------------------------------------------------------


def _localhost(w: World) -> None:
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    ratings_calls(w)


def _targetport(w: World) -> None:
    svc(w, "ratings").ports = [ServicePort(9080, "http", target_port=9081)]
    ratings_calls(w)


def _protocol(w: World) -> None:
    ratings_calls(w, outcome="upstream_protocol_error")


def _server_first(w: World) -> None:
    w.workloads.append(Workload("mysql", "default", [Container("mysql", "docker.io/library/mysql:8.4", ports=[Port(3307)])],
                                labels={"app": "mysql"}, service_account="mysql", node_index=2))
    w.services.append(Service("mysql", "default", [ServicePort(3307, "db")], selector={"app": "mysql"}, labels={"app": "mysql"}))


def _mysql_3306(w: World) -> None:
    w.workloads.append(Workload("mysql", "default", [Container("mysql", "docker.io/library/mysql:8.4", ports=[Port(3306)])],
                                labels={"app": "mysql"}, service_account="mysql", node_index=2))
    w.services.append(Service("mysql", "default", [ServicePort(3306, "db")], selector={"app": "mysql"}, labels={"app": "mysql"}))


def _multi_svc(w: World) -> None:
    w.services.append(Service("ratings-tcp", "default", [ServicePort(9080, "tcp-ratings")], selector={"app": "ratings"},
                              labels={"app": "ratings"}))


def _no_service(w: World) -> None:
    w.workloads.append(Workload("inventory-v1", "default", [Container("inventory", "docker.io/acme/inventory:2.3.1", ports=[Port(8080)])],
                                labels={"app": "inventory", "version": "v1"}, service_account="inventory", node_index=1))


def _not_ready(w: World) -> None:
    c = wl(w, "default/ratings-v1").containers[0]
    c.readiness = readiness("/health", 9080)
    c.ready = False
    ratings_calls(w)


def _selector_typo(w: World) -> None:
    svc(w, "ratings").selector = {"app": "rating"}
    ratings_calls(w)


def _probe_rewrite(w: World) -> None:
    r = wl(w, "default/ratings-v1")
    r.containers[0].readiness = readiness("/health", 9080)
    r.containers[0].ready = False
    r.proxy = proxy(rewrite_probes=False)
    w.istio.append(cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}))
    ratings_calls(w)


def _subset(w: World) -> None:
    w.istio += [
        cr("DestinationRule", "reviews", "default", {"host": "reviews", "subsets": [
            {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}},
            {"name": "v3", "labels": {"version": "3"}}]}),
        cr("VirtualService", "reviews", "default", {"hosts": ["reviews"], "http": [
            {"route": [{"destination": {"host": "reviews", "subset": "v3"}}]}]}),
    ]


def _circuit(w: World) -> None:
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"connectionPool": {
        "tcp": {"maxConnections": 1}, "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}}}}))
    ratings_calls(w, count=2)
    ratings_calls(w, count=5, outcome="overflow")


def _outlier(w: World) -> None:
    # ratings answers 5xx (its sidecar cannot reach the app), so the first request gets the
    # only host ejected; every later one is 503 UH no_healthy_upstream while it stays out
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"outlierDetection": {
        "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": 100}}}))
    ratings_calls(w, status=503)


def _shutdown(w: World) -> None:
    # a scale-down: one of two ratings pods was deleted 4 s ago and its sidecar is draining;
    # reviews' EDS still lists it, so the requests it gets now are reset (503 UC)
    r = wl(w, "default/ratings-v1")
    r.replicas = 2
    r.terminating = 1
    ratings_calls(w, count=4, at_s=w.at_s_for_next(r.deleted_at_s - 3.1))


def _startup(w: World) -> None:
    # classic sidecar (Istio 1.22), no holdApplicationUntilProxyStarts: the app's first run
    # could not reach its dependencies while istio-proxy was starting and exited
    wl(w, "default/ratings-v1").containers[0].last_terminated = Terminated(exit_code=1, started_s=2, finished_s=4)
    ratings_calls(w)


def _keepalive(w: World) -> None:
    ratings_calls(w, count=6)
    ratings_calls(w, count=2, outcome="keepalive_reset", at_s=30.0)


def _timeout(w: World) -> None:
    w.istio.append(cr("VirtualService", "ratings", "default", {"hosts": ["ratings"], "http": [
        {"route": [{"destination": {"host": "ratings"}}], "timeout": "0.5s"}]}))
    ratings_calls(w, count=3, outcome="timeout")


def _fault(w: World) -> None:
    w.istio.append(cr("VirtualService", "ratings", "default", {"hosts": ["ratings"], "http": [
        {"fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}},
         "route": [{"destination": {"host": "ratings"}}]}]}))
    ratings_calls(w)


def _uid(w: World) -> None:
    wl(w, "default/ratings-v1").containers[0].run_as_user = 1337


def _registry_only(w: World) -> None:
    w.traffic.append(Request("default/productpage-v1", "api.github.com", "/repos/istio/istio", count=3))


def _headless(w: World) -> None:
    w.services.append(Service("ratings-pods", "default", [ServicePort(9080, "http")], selector={"app": "ratings"},
                              headless=True, labels={"app": "ratings"}))
    ip = w.pods_of(wl(w, "default/ratings-v1"))[0].ip
    w.traffic.append(Request("default/reviews-v2", f"{ip}:9080", "/ratings/0", count=3))


def _proxy_no_config(w: World) -> None:
    wl(w, "default/ratings-v1").proxy = proxy(state="no_config", connected=False)
    ratings_calls(w)


# -- look-alikes ------------------------------------------------------------------------


def _app_503(w: World) -> None:
    ratings_calls(w, status=503)


def _fake_sidecar_names(w: World) -> None:
    w.workloads.append(Workload("edge", "legacy", [
        Container("proxy", "docker.io/library/nginx:1.27", ports=[Port(8080)]),
        Container("istio-proxy-sidecar", "docker.io/envoyproxy/envoy:v1.31.0", ports=[Port(9901)]),
    ], labels={"app": "edge"}, service_account="edge", node_index=1))
    w.services.append(Service("edge", "legacy", [ServicePort(8080, "http")], selector={"app": "edge"}, labels={"app": "edge"}))


def _localhost_exec_forbidden(w: World) -> None:
    _localhost(w)
    w.faults.calls["exec"] = "forbidden"


def _localhost_19(w: World) -> None:
    _localhost(w)


# -- look-alikes of one log signature -----------------------------------------------------
# The server's sidecar logs 503 UF upstream_reset_before_response_started{connection_failure}
# on inbound|9080|| and the caller sees "upstream connect error or disconnect/reset before
# headers. reset reason: connection failure, transport failure reason: delayed connect error: 111"
# (verbatim from https://github.com/istio/istio/issues/41090, where the application was still
# starting, and https://github.com/istio/istio/issues/51267, where restarting the application
# pods made the errors stop for hours). A localhost bind produces the same lines; so do the worlds
# below. P503-LOCALHOST-BIND must not claim them: only the pod's socket table (or the request
# trace against it) tells them apart.


def _declared_port_unused(w: World) -> None:
    # the app declares containerPort 9080 (the Service targets it) but listens on 8080
    c = wl(w, "default/ratings-v1").containers[0]
    c.ports = [Port(9080, bind=None)]
    c.extra_listen = [("0.0.0.0", 8080)]
    ratings_calls(w)


def _declared_port_unused_exec_forbidden(w: World) -> None:
    _declared_port_unused(w)
    w.faults.calls["exec"] = "forbidden"


def _ipv6_only_bind(w: World) -> None:
    # the app binds its IPv6 address only (dual-stack pod); the sidecar connects to the IPv4 pod IP
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="fd00:10:244:3::6")]
    ratings_calls(w)


def _restarting_app(w: World) -> None:
    # crash-looping app: running again after its 6th exit, not listening yet when the calls come
    c = wl(w, "default/ratings-v1").containers[0]
    c.ports = [Port(9080, bind=None)]
    c.restarts = 6
    c.last_terminated = Terminated(exit_code=1, reason="Error", started_s=40.0, finished_s=42.0)
    ratings_calls(w)


SCENARIOS: list[Scenario] = [
    # The server's log alone cannot tell a localhost bind from its look-alikes (below): without the
    # socket table the cause is not determined, and the report says which command decides.
    Scenario("p503", "localhost-bind-exec-forbidden",
             "ratings binds 127.0.0.1:9080; RBAC forbids kubectl exec, so only the server's proxy log shows the refusals",
             "pod/ratings-v1-tg8lt8qrmc-rmh9x -n default", "503", world(_localhost_exec_forbidden),
             Expect(None, [], others("P503-RETRIES-EXHAUSTED"), verdict="cause_not_determined")),
    Scenario("p503", "lookalike-declared-port-unused",
             "ratings declares 9080 but listens on 8080: 503 UF like a localhost bind (istio/istio#41090 output)",
             "deploy/ratings-v1 -n default", "503", world(_declared_port_unused),
             Expect("P503-TARGETPORT", ["P503-TARGETPORT"], ["P503-LOCALHOST-BIND"])),
    Scenario("p503", "lookalike-declared-port-unused-exec-forbidden",
             "the same without kubectl exec: the log signature is a localhost bind's, so no cause is claimed",
             "pod/ratings-v1-tg8lt8qrmc-rmh9x -n default", "503", world(_declared_port_unused_exec_forbidden),
             Expect(None, [], others("P503-RETRIES-EXHAUSTED"), verdict="cause_not_determined")),
    Scenario("p503", "lookalike-ipv6-only-bind",
             "ratings binds its IPv6 address only; the sidecar connects to the IPv4 pod IP: 503 UF, not a localhost bind",
             "deploy/ratings-v1 -n default", "503", world(_ipv6_only_bind),
             Expect("TRACE-DELIVERY", ["TRACE-DELIVERY"], ["P503-LOCALHOST-BIND"])),
    Scenario("p503", "lookalike-restarting-app",
             "ratings crash-loops and is not listening when called (istio/istio#51267): 503 UF, not a localhost bind",
             "deploy/ratings-v1 -n default", "503", world(_restarting_app),
             Expect("TRACE-DELIVERY", ["TRACE-DELIVERY"], ["P503-LOCALHOST-BIND", "P503-TARGETPORT"])),
    Scenario("p503", "localhost-bind-server", "ratings listens on 127.0.0.1:9080 only; Istio 1.22 forwards inbound to the pod IP",
             "deploy/ratings-v1 -n default", "503", world(_localhost),
             Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND"], ["P503-TARGETPORT", "P503-NO-ENDPOINTS", "P503-FAULT-CONFIG"])),
    Scenario("p503", "localhost-bind-client", "the caller of a localhost-bound ratings sees 503 URX; the cause is on the server",
             "deploy/reviews-v2 -n default", "503", world(_localhost),
             Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND", "P503-RETRIES-EXHAUSTED"], ["P503-TARGETPORT", "P503-NO-ENDPOINTS"])),
    Scenario("p503", "targetport-wrong", "Service ratings targets 9081 while the app listens on 9080",
             "deploy/reviews-v2 -n default", "503", world(_targetport),
             Expect("P503-TARGETPORT", ["P503-TARGETPORT"], ["P503-LOCALHOST-BIND", "P503-NO-ENDPOINTS"])),
    Scenario("p503", "protocol-mismatch", "ratings port is named http but the app does not speak HTTP (502 UPE on the server)",
             "deploy/reviews-v2 -n default", "503", world(_protocol),
             Expect("P503-PROTOCOL-MISMATCH", ["P503-PROTOCOL-MISMATCH"], ["P503-LOCALHOST-BIND", "P503-TARGETPORT"])),
    Scenario("p503", "server-first-sniffed", "MySQL on 3307 behind a port named 'db': sniffed, so connections hang",
             "deploy/mysql -n default", "503", world(_server_first),
             Expect("P503-SERVER-FIRST", ["P503-SERVER-FIRST"], ["P503-NO-SERVICE", "P503-PROTOCOL-MISMATCH"])),
    Scenario("p503", "multi-service-protocol", "ratings selected by two Services: port 9080 http and port 9080 tcp",
             "deploy/ratings-v1 -n default", "503", world(_multi_svc),
             Expect("P503-MULTI-SVC-PROTOCOL", ["P503-MULTI-SVC-PROTOCOL"], ["P503-NO-SERVICE"])),
    Scenario("p503", "no-service", "an injected workload exposing 8080 that no Service selects",
             "deploy/inventory-v1 -n default", "503", world(_no_service),
             Expect("P503-NO-SERVICE", ["P503-NO-SERVICE"], ["P503-MULTI-SVC-PROTOCOL", "P503-LOCALHOST-BIND"])),
    Scenario("p503", "no-endpoints-not-ready", "ratings fails its readiness probe: callers get 503 UH no_healthy_upstream",
             "deploy/reviews-v2 -n default", "503", world(_not_ready),
             Expect("P503-NO-ENDPOINTS", ["P503-NO-ENDPOINTS"], ["P503-PROBE-REWRITE", "P503-SUBSET-NO-PODS", "P503-OUTLIER-EJECTED",
                                                                  "P503-PROXY-NOT-READY"])),
    Scenario("p503", "no-endpoints-selector-typo", "Service ratings selects app=rating: no pod, 503 UH",
             "deploy/reviews-v2 -n default", "503", world(_selector_typo),
             Expect("P503-NO-ENDPOINTS", ["P503-NO-ENDPOINTS"], ["P503-SUBSET-NO-PODS", "P503-PROBE-REWRITE"])),
    Scenario("p503", "probe-rewrite-strict", "ratings opts out of probe rewriting under mesh-wide STRICT: never Ready",
             "deploy/reviews-v2 -n default", "503", world(_probe_rewrite),
             Expect("P503-PROBE-REWRITE", ["P503-PROBE-REWRITE", "P503-NO-ENDPOINTS"], ["P503-SUBSET-NO-PODS"])),
    Scenario("p503", "subset-no-pods", "DestinationRule subset v3 selects version=3 while the pods say v3; the VS routes there",
             "deploy/productpage-v1 -n default", "503", world(_subset),
             Expect("P503-SUBSET-NO-PODS", ["P503-SUBSET-NO-PODS"], ["P503-NO-ENDPOINTS"])),
    Scenario("p503", "circuit-breaker", "DestinationRule ratings limits the pool to 1 pending request: 503 UO",
             "deploy/reviews-v2 -n default", "503", world(_circuit),
             Expect("P503-CIRCUIT-BREAKER", ["P503-CIRCUIT-BREAKER"], ["P503-NO-ENDPOINTS", "P503-OUTLIER-EJECTED"])),
    Scenario("p503", "keepalive-uc", "sporadic 503 UC connection_termination to an otherwise healthy ratings",
             "deploy/reviews-v2 -n default", "503", world(_keepalive),
             Expect("P503-KEEPALIVE-UC", ["P503-KEEPALIVE-UC"], ["P503-NO-ENDPOINTS", "P503-LOCALHOST-BIND"])),
    Scenario("p503", "route-timeout", "VirtualService ratings times out after 0.5s: 504 UT",
             "deploy/reviews-v2 -n default", "503", world(_timeout),
             Expect("P503-TIMEOUT", ["P503-TIMEOUT"], ["P503-FAULT-CONFIG", "P503-NO-ENDPOINTS"])),
    Scenario("p503", "fault-injection", "look-alike: the 503s are a VirtualService fault abort (FI), configured on purpose",
             "deploy/reviews-v2 -n default", "503", world(_fault),
             Expect("P503-FAULT-CONFIG", ["P503-FAULT-CONFIG"], others("P503-FAULT-CONFIG"))),
    Scenario("p503", "uid-1337", "the ratings app runs as UID 1337, the proxy's UID",
             "deploy/ratings-v1 -n default", "503", world(_uid),
             Expect("P503-UID-1337", ["P503-UID-1337"], ["P503-LOCALHOST-BIND", "P503-NO-SERVICE"])),
    Scenario("p503", "registry-only", "REGISTRY_ONLY and no ServiceEntry for api.github.com: 502 block_all",
             "deploy/productpage-v1 -n default", "503", world(_registry_only, registry_only=True),
             Expect("P503-REGISTRY-ONLY", ["P503-REGISTRY-ONLY"], ["P503-NO-ENDPOINTS", "P503-HEADLESS-PODIP"])),
    Scenario("p503", "headless-pod-ip", "headless ratings-pods called by pod IP on an http port under REGISTRY_ONLY",
             "deploy/reviews-v2 -n default", "503", world(_headless, registry_only=True),
             Expect("P503-HEADLESS-PODIP", ["P503-HEADLESS-PODIP"], ["P503-NO-ENDPOINTS"])),
    Scenario("p503", "proxy-not-ready", "ratings' sidecar never got config from istiod: NotReady, callers get 503 UH",
             "deploy/reviews-v2 -n default", "503", world(_proxy_no_config),
             Expect("P503-PROXY-NOT-READY", ["P503-PROXY-NOT-READY", "P503-NO-ENDPOINTS"], ["P503-PROBE-REWRITE"])),
    Scenario("p503", "outlier-ejected", "outlierDetection (consecutive5xxErrors 1) ejected the only ratings host after one 5xx: 503 UH",
             "deploy/reviews-v2 -n default", "503", world(_outlier),
             Expect("P503-OUTLIER-EJECTED", ["P503-OUTLIER-EJECTED"], ["P503-NO-ENDPOINTS", "P503-CIRCUIT-BREAKER"])),
    Scenario("p503", "shutdown-race", "a ratings pod is being deleted; reviews still sends to it: 503 UC while it drains",
             "deploy/reviews-v2 -n default", "503", world(_shutdown),
             Expect("P503-SHUTDOWN-RACE", ["P503-SHUTDOWN-RACE"], ["P503-NO-ENDPOINTS", "P503-OUTLIER-EJECTED"])),
    Scenario("p503", "startup-race", "ratings' first run exited 1 two seconds after start, before its classic sidecar was up",
             "deploy/ratings-v1 -n default", "503", world(_startup),
             Expect("P503-STARTUP-RACE", ["P503-STARTUP-RACE"], ["P503-PROXY-NOT-READY", "P503-NO-ENDPOINTS"])),
    # healthy and look-alikes
    Scenario("p503", "healthy-client", "healthy bookinfo seen from productpage", "deploy/productpage-v1 -n default", "503",
             world(), Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("p503", "healthy-server", "healthy bookinfo seen from ratings (a server)", "deploy/ratings-v1 -n default", "503",
             world(lambda w: ratings_calls(w)), Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("p503", "app-answers-503", "look-alike: ratings itself answers 503 (via_upstream, no flags): not the mesh",
             "deploy/reviews-v2 -n default", "503", world(_app_503),
             # triage still reports who answered (the app) as context; no P503 cause may be blamed and
             # no context finding is promoted to a cause: the cause is not determined (in the mesh)
             Expect(None, [], ALL, verdict="cause_not_determined")),
    Scenario("p503", "fake-sidecar-names", "look-alike: containers named proxy and istio-proxy-sidecar are not an Istio sidecar",
             "deploy/edge -n legacy", "503", world(_fake_sidecar_names), Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("p503", "localhost-bind-istio-1-9", "look-alike: localhost-bound ratings on Istio 1.9 works (inbound to 127.0.0.1)",
             "deploy/ratings-v1 -n default", "503", world(_localhost_19, version="1.9.9"),
             Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("p503", "mysql-3306-auto-tcp", "look-alike: MySQL on 3306 unnamed is treated as TCP by Istio itself",
             "deploy/mysql -n default", "503", world(_mysql_3306), Expect(None, [], ["P503-SERVER-FIRST"], verdict="no_problem_found")),
]
