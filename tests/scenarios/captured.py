"""Captured scenarios: real outputs from the corpus spliced into a scenario world.

Each scenario takes real captures from ``tests/fixtures/corpus`` (origin in its ``SOURCES.md``)
and places them where the tool reads them; the world answers every other call and is built to be
the cluster the capture came from (the same failure, the same kind of workload, the capture's
names mapped onto the world's). The expected verdict is worked out from the capture itself (what
the captured text says went wrong, written above each scenario), not from the tool's answer.
The recordings say ``provenance: captured`` and name the captures; ``tests/test_real_formats_e2e.py``
replays each through the installed CLI and checks the capture was read.

They live in the folder of the playbook whose symptom they show, named ``captured-*``.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.scenariokit import Capture, Expect, Scenario
from tests.scenariokit.bookinfo import bookinfo_world, proxy
from tests.scenariokit.helpers import STRICT_FOO, STRICT_MESH, pod_target, ratings_calls, wl
from tests.scenariokit.world import Container, Namespace, Port, Request, Service, ServicePort, Workload, World, cr


def _world(mutate: Callable[[World], None] | None = None, version: str = "1.22.3", **kw: object) -> World:
    w = bookinfo_world(version, **kw)  # type: ignore[arg-type]
    if mutate is not None:
        mutate(w)
    return w


def _webhook_fails(workload: str, error: str = "deadline") -> Callable[[World], None]:
    """The injector webhook cannot be called (failurePolicy Fail) while ``workload`` needs new pods."""
    def m(w: World) -> None:
        w.control_plane.webhook_error = error
        wl(w, workload).new_pods = True
    return m


def _failed_create(corpus: str) -> list[Capture]:
    """A captured FailedCreate (event or ReplicaSet status): the controller records the same error
    in the ReplicaSet's ReplicaFailure condition and in its events, so both carry it."""
    return [Capture(("get", "events"), corpus, how="events"), Capture(("get", "replicasets"), corpus, how="rs_failure")]


def _inj(name: str, desc: str, target: str, world: World, captures: list[Capture], first: str | None,
         expect: Expect | None = None) -> Scenario:
    return Scenario("injection", name, desc, target, "injection", world, expect or Expect(first, [first] if first else []), captures)


# -- injection: what the API server says when it cannot call the injector --------------------------------
#
# Each event/status says the API server could not call the sidecar injector webhook while
# creating pods: the cause is INJ-WEBHOOK-DOWN, whatever the error behind it.

#: (name, what the capture says, workload whose new pods fail, error the world gives the webhook, Istio version, corpus file)
_WEBHOOK_DOWN = [
    ("captured-webhook-deadline-eks-1-12",
     "istio/istio#36955 (1.12 on EKS): FailedCreate, the webhook call exceeded its deadline",
     "productpage-v1", "deadline", "1.12.1", "captured/events/istio-36955_rs_event_webhook_deadline_1.12_eks.txt"),
    ("captured-webhook-replicafailure-status",
     "istio/istio#43882 (1.17): the ReplicaSet's ReplicaFailure condition, webhook call deadline exceeded",
     "details-v1", "deadline", "1.17.1", "captured/events/istio-43882_rs_status_replicafailure_webhook.yaml"),
    ("captured-webhook-internal-error-1-20",
     "istio/istio#48098 (1.20): the injector answered the webhook call with Internal Server Error",
     "ratings-v1", "deadline", "1.20.3", "captured/events/istio-48098_webhook_internal_server_error_1.20.txt"),
    ("captured-webhook-x509-unknown-authority",
     "istio/istio#6186: the API server does not trust the injector's certificate (x509, crypto/rsa verification error)",
     "reviews-v1", "x509", "1.1.3", "captured/events/istio-6186_rs_event_x509_crypto_rsa_0.8.txt"),
    ("captured-webhook-x509-not-valid-for-names",
     "istio/istio#7409: the injector's certificate is not valid for the service name the API server calls",
     "reviews-v2", "x509", "1.1.3", "captured/events/istio-7409_rs_event_x509_not_valid_for_names.txt"),
    ("captured-webhook-legacy-injector-timeouts",
     "istio/istio#13840: kubectl get events, the legacy istio-sidecar-injector webhook times out (deadline, client timeout)",
     "details-v1", "deadline", "1.1.3", "captured/events/istio-13840_get_events_legacy_injector_timeouts.txt"),
    ("captured-webhook-unexpected-eof-microk8s",
     "istio/istio#35725 (microk8s, pre-1.10 webhook name): FailedCreate x40, the injector call ended in unexpected EOF",
     "productpage-v1", "deadline", "1.9.9", "captured/events/istio-35725_rs_event_webhook_unexpected_eof_microk8s.txt"),
    ("captured-webhook-deadline-failed-to-call-1-15",
     "istio/istio#41653 (1.15.2): FailedCreate, 'failed to call webhook: ... context deadline exceeded' (newer apiserver wording)",
     "ratings-v1", "deadline", "1.15.2", "captured/events/istio-41653_webhook_deadline_failed_to_call_1.15.txt"),
]

INJECTION = [
    _inj(name, desc, f"deploy/{workload} -n default", _world(_webhook_fails(f"default/{workload}", error), version),
         _failed_create(corpus), "INJ-WEBHOOK-DOWN")
    for name, desc, workload, error, version, corpus in _WEBHOOK_DOWN
]


# -- p503: a sidecar that never gets its configuration ---------------------------------------------
#
# istio/istio#23410 (1.5): pilot-agent says "Envoy proxy is NOT ready: config not received from
# Pilot" after Envoy's gRPC config stream to Pilot closed with a connection failure: the proxy
# never became Ready, so its pod is no endpoint and its callers get 503. The cause is
# P503-PROXY-NOT-READY (the world: ratings' sidecar cut off from istiod, reviews-v2 calling it).

def _ratings_no_config(w: World) -> None:
    wl(w, "default/ratings-v1").proxy = proxy(state="no_config", connected=False)
    ratings_calls(w)


def _ratings_log(w: World, corpus: str) -> Capture:
    """The captured istio-proxy log stands for the whole log of ratings' pod (``replace``)."""
    pod = w.pods_of(wl(w, "default/ratings-v1"))[0].name
    return Capture(("logs", pod, "istio-proxy"), corpus)


_NO_CONFIG_1_5 = _world(_ratings_no_config, "1.5.2")

P503 = [
    Scenario("p503", "captured-proxy-not-ready-pilot-1-5",
             "istio/istio#23410 (1.5): ratings' istio-proxy log says config not received from Pilot; reviews-v2 gets 503",
             "deploy/reviews-v2 -n default", "503", _NO_CONFIG_1_5,
             Expect("P503-PROXY-NOT-READY", ["P503-PROXY-NOT-READY"]),
             [_ratings_log(_NO_CONFIG_1_5, "captured/access-logs/istio-23410_proxy_log_not_ready_no_config.log")]),
]

SCENARIOS: list[Scenario] = [*INJECTION, *P503]


def _log(w: World, workload: str, corpus: str, how: str = "replace", **kw: object) -> Capture:
    """A captured istio-proxy log of ``workload``'s first pod: the whole log (``replace``) or real
    lines after the world's (``append``)."""
    pod = w.pods_of(wl(w, workload))[0].name
    return Capture(("logs", pod, "istio-proxy"), corpus, how=how, **kw)  # type: ignore[arg-type]


def _ip(w: World, workload: str) -> str:
    return w.pods_of(wl(w, workload))[0].ip


# -- p503: the kubelet's view of a sidecar that never gets its configuration ----------------------
#
# istio/istio#23410 again, the pod's events this time: the kubelet's readiness probe of istio-proxy
# failed with 503 298 times over 11 minutes (pilot-agent answers 503 on /healthz/ready until Envoy
# has its first config). A pod that is never Ready is no endpoint: P503-PROXY-NOT-READY.

P503 += [
    Scenario("p503", "captured-proxy-not-ready-probe-events-1-5",
             "istio/istio#23410 (1.5): kubelet events, istio-proxy readiness probe failed with statuscode 503 (x298 over 11m)",
             "deploy/reviews-v2 -n default", "503", _NO_CONFIG_1_5,
             Expect("P503-PROXY-NOT-READY", ["P503-PROXY-NOT-READY"]),
             [Capture(("get", "events"), "captured/events/istio-23410_pod_events_readiness_503_x298.txt", how="events",
                      reason="Unhealthy")]),
]


# -- mtls: the client cannot verify the server's certificate ------------------------------------
#
# istio/istio#26349 (1.6/1.7, "Istio-proxy sidecar mutual TLS verify issue"): the calling sidecar's
# Envoy debug log shows its upstream handshake failing with CERTIFICATE_VERIFY_FAILED: the server's
# certificate does not chain to a root the client trusts. With both sides holding valid workload
# certificates, the two proxies trust different roots: MTLS-ROOTCA-MISMATCH.

def _rootca(w: World) -> None:
    w.istio.append(STRICT_MESH)
    wl(w, "default/ratings-v1").proxy = proxy(root_ca="other")
    ratings_calls(w)


_ROOTCA_1_7 = _world(_rootca, "1.7.0")

# -- mtls: a plaintext client against a STRICT server ---------------------------------------------
#
# istio/istio#43505: a socket server (TCP, port 50000) logs `"- - -" 0 NR filter_chain_not_found`
# for connections from its socket client once its PeerAuthentication is STRICT; with PERMISSIVE
# the traffic works but is not encrypted: the client sends plaintext, i.e. it is not in the mesh.
# The server's inbound listener only has TLS filter chains under STRICT: MTLS-NONMESH-CLIENT.


def _socket_pair(w: World) -> None:
    w.workloads += [
        Workload("socket-server", "foo", [Container("socket-server", "docker.io/library/python:3.11", ports=[Port(50000)])],
                 labels={"app": "socket-server"}, service_account="socket-server"),
        Workload("socket-client", "legacy", [Container("socket-client", "docker.io/library/python:3.11")],
                 labels={"app": "socket-client"}, service_account="socket-client"),
    ]
    w.services.append(Service("socket-server", "foo", [ServicePort(50000, "tcp")], selector={"app": "socket-server"},
                              labels={"app": "socket-server"}))
    w.istio.append(STRICT_FOO)
    w.traffic.append(Request("legacy/socket-client", "socket-server.foo:50000", "/", count=2))


_SOCKETS = _world(_socket_pair)

MTLS = [
    Scenario("mtls", "captured-rootca-verify-failed-1-7",
             "istio/istio#26349 (1.6/1.7): the client sidecar's debug log, upstream TLS error CERTIFICATE_VERIFY_FAILED",
             "deploy/reviews-v2 -n default", "mtls", _ROOTCA_1_7,
             Expect("MTLS-ROOTCA-MISMATCH", ["MTLS-ROOTCA-MISMATCH"]),
             [_log(_ROOTCA_1_7, "default/reviews-v2", "captured/access-logs/istio-26349_envoy_debug_tls_certificate_verify_failed.log",
                   how="append")]),
    Scenario("mtls", "captured-nonmesh-client-nr-strict",
             "istio/istio#43505: a STRICT TCP socket server logs NR filter_chain_not_found for its plaintext client",
             "deploy/socket-server -n foo", "mtls", _SOCKETS,
             Expect("MTLS-NONMESH-CLIENT", ["MTLS-NONMESH-CLIENT"]),
             [_log(_SOCKETS, "foo/socket-server", "captured/access-logs/istio-43505_server_nr_filter_chain_not_found_strict.log",
                   names={"10.1.2.188": _ip(_SOCKETS, "foo/socket-server"), "10.1.2.182": _ip(_SOCKETS, "legacy/socket-client")})]),
]


# -- routes / injection: istioctl analyze names the broken resource --------------------------------
#
# istio/istio#17440 (1.4): `istioctl x analyze samples/httpbin/httpbin-gateway.yaml` says the
# VirtualService default/httpbin routes to host "httpbin", which does not exist (httpbin was not
# deployed in default): the gateway's route has no destination: ROUTE-DEST-HOST-UNKNOWN.

def _httpbin_gateway_without_httpbin(w: World) -> None:
    # the sample's Gateway and VirtualService instead of bookinfo's (the ingress gateway stays)
    w.istio = [o for o in w.istio if o["kind"] not in ("Gateway", "VirtualService")]
    w.istio += [
        cr("Gateway", "httpbin-gateway", "default", {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}),
        cr("VirtualService", "httpbin", "default", {"hosts": ["*"], "gateways": ["httpbin-gateway"], "http": [
            {"route": [{"destination": {"host": "httpbin", "port": {"number": 8000}}}]}]}),
    ]
    w.traffic.append(Request("istio-system/istio-ingressgateway", "httpbin.example.com", "/status/200", count=3))


_HTTPBIN_GW_1_4 = _world(_httpbin_gateway_without_httpbin, "1.4.3")

# istio/istio#27390 (1.7): `istioctl analyze --all-namespaces` warns IST0102, the namespace of the
# application (bookinfo there, default here) is not enabled for injection: its pods run without a
# sidecar: INJ-NS-LABEL.


def _default_unlabelled(w: World) -> None:
    w.namespaces[0] = Namespace("default", {})


_UNLABELLED_1_7 = _world(_default_unlabelled, "1.7.0")

ROUTES = [
    Scenario("routes", "captured-analyze-ist0101-httpbin-1-4",
             "istio/istio#17440 (1.4): analyze IST0101, VirtualService default/httpbin routes to host httpbin, which does not exist",
             pod_target(_HTTPBIN_GW_1_4, "istio-system/istio-ingressgateway"), "routes", _HTTPBIN_GW_1_4,
             Expect("ROUTE-DEST-HOST-UNKNOWN", ["ROUTE-DEST-HOST-UNKNOWN"]),
             [Capture(("analyze",), "captured/analyze/istio-17440_x_analyze_file_ist0101_1.4.txt", after="x analyze",
                      until="echo $?", exit_code=79)]),
]

INJECTION += [
    _inj("captured-analyze-ist0102-ns-not-enabled-1-7",
         "istio/istio#27390 (1.7): analyze IST0102, the application's namespace is not enabled for injection",
         "deploy/productpage-v1 -n default", _UNLABELLED_1_7,
         [Capture(("analyze",), "captured/analyze/istio-27390_warn_ist0102_many_ns_1.7.txt", names={"bookinfo": "default"},
                  after="analyze --all-namespaces", until="(Namespace cert-manager)", exit_code=79)], "INJ-NS-LABEL"),
]

SCENARIOS = [*INJECTION, *P503, *MTLS, *ROUTES]


# -- triage: the application's own 500, seen through its sidecar ---------------------------------
#
# istio/istio#29109 (1.7/1.8, lines as `kubectl logs --timestamps` prints them): the inbound line
# of scrappers-service says 500 with no response flag after the app worked 11.9 s on it
# (upstream service time 11933 ms, upstream host 127.0.0.1:8080, the pre-1.10 inbound delivery),
# and the app's own outbound HTTPS goes out through PassthroughCluster with bytes both ways: the
# proxy forwarded the app's answer, nothing in the mesh failed, yet requests fail: cause_not_determined (read the app's logs).

def _scrappers(w: World) -> None:
    w.workloads.append(Workload("scrappers", "default", [Container("scrappers", "docker.io/library/node:14", ports=[Port(8080)])],
                                labels={"app": "scrappers"}, service_account="scrappers"))
    w.services.append(Service("scrappers-service", "default", [ServicePort(8080, "http-8080")], selector={"app": "scrappers"},
                              labels={"app": "scrappers"}))


_SCRAPPERS_1_8 = _world(_scrappers, "1.7.6")

TRIAGE = [
    Scenario("triage", "captured-app-500-inbound-1-7",
             "istio/istio#29109 (1.7/1.8): scrappers-service answers 500 itself (inbound line without flags); its HTTPS egress passes through",
             pod_target(_SCRAPPERS_1_8, "default/scrappers"), "auto", _SCRAPPERS_1_8,
             # requests fail (500) and nothing in the mesh explains them: the trace delivers them and
             # the report says the cause was not determined (read the app's logs), never "no problem"
             Expect(None, [], absent=["GEN-FLAG-CLASSIFY", "GEN-WHICH-PROXY"], verdict="cause_not_determined"),
             [_log(_SCRAPPERS_1_8, "default/scrappers", "captured/access-logs/istio-29109_inbound_500_and_passthrough_tcp.log",
                   how="append", names={"172.18.0.10": _ip(_SCRAPPERS_1_8, "default/scrappers")})]),
]

# -- routes: the gateway has the host, not the path ----------------------------------------------
#
# istio/istio#24042 (EKS, May 2020, the 1.5/1.6 text format): bookinfo opened in a browser; the
# browser also asks for /favicon.ico, and the reporter shows the ingress gateway answering it
# `404 NR` itself ("The ingress responds with 404", nothing in productpage's proxy). bookinfo's
# VirtualService serves host "*" on bookinfo-gateway but only /productpage, /static*, /login,
# /logout and /api/v1/products*: the virtual host matches, no route matches the path:
# ROUTE-MATCH-MISS.

_BOOKINFO_1_6 = _world(version="1.6.0")

ROUTES += [
    Scenario("routes", "captured-ingress-404-nr-favicon",
             "istio/istio#24042 (1.5/1.6): the ingress gateway logs 404 NR for GET /favicon.ico, a path bookinfo's VirtualService does not route",
             pod_target(_BOOKINFO_1_6, "istio-system/istio-ingressgateway"), "routes", _BOOKINFO_1_6,
             Expect("ROUTE-MATCH-MISS", ["ROUTE-MATCH-MISS"]),
             [_log(_BOOKINFO_1_6, "istio-system/istio-ingressgateway", "captured/access-logs/istio-24042_ingress_404_NR_favicon_1.6.log",
                   how="append", names={"10.10.202.119": _ip(_BOOKINFO_1_6, "istio-system/istio-ingressgateway")})]),
]

# -- mtls: plaintext into a STRICT mesh ----------------------------------------------------------
#
# envoyproxy/ratelimit#296 (= istio/istio#35398, Istio 1.10.2): bookinfo with the rate-limit task's
# ratelimit service (gRPC port 8081); once a mesh-wide PeerAuthentication in istio-system says
# STRICT, ratelimit's sidecar logs `"- - -" 0 NR filter_chain_not_found` for a connection from
# 172.17.0.1 (the node's bridge address, no pod of the mesh): under STRICT the inbound listener
# only has mTLS filter chains, so a client without an Istio certificate finds none:
# MTLS-NONMESH-CLIENT. The reporter's log viewer put the container name before each line; the
# capture is spliced without it (what `kubectl logs -c istio-proxy` prints).


def _ratelimit(w: World) -> None:
    w.workloads.append(Workload("ratelimit", "default", [Container("ratelimit", "docker.io/envoyproxy/ratelimit:6f5de117",
                                                                   ports=[Port(8080), Port(8081), Port(6070)])],
                                labels={"app": "ratelimit"}, service_account="default"))
    w.services.append(Service("ratelimit", "default", [ServicePort(8080, "http-port"), ServicePort(8081, "grpc-port"),
                                                       ServicePort(6070, "http-debug")],
                              selector={"app": "ratelimit"}, labels={"app": "ratelimit"}))
    w.istio.append(STRICT_MESH)


_RATELIMIT_1_10 = _world(_ratelimit, "1.10.2")

MTLS += [
    Scenario("mtls", "captured-nonmesh-client-nr-mesh-strict-1-10",
             "envoyproxy/ratelimit#296 (1.10): after a mesh-wide STRICT PeerAuthentication the ratelimit sidecar logs NR filter_chain_not_found for a plaintext peer",
             "deploy/ratelimit -n default", "mtls", _RATELIMIT_1_10,
             Expect("MTLS-NONMESH-CLIENT", ["MTLS-NONMESH-CLIENT"]),
             [_log(_RATELIMIT_1_10, "default/ratelimit", "captured/access-logs/ratelimit-296_server_nr_filter_chain_not_found_mesh_strict_1.10.log",
                   how="append", names={"istio-proxy [": "[", "172.17.0.8": _ip(_RATELIMIT_1_10, "default/ratelimit")})]),
]

# -- mtls: a 403 that is an authorization decision -----------------------------------------------
#
# istio/istio#40944 (Sep 2022, CUSTOM ext-authz): httpbin's sidecar answers GET /headers with
# `403 - rbac_access_denied_matched_policy[default-deny-all-due-to-bad-CUSTOM-action]`. istiod
# names that policy when it cannot build a CUSTOM AuthorizationPolicy's provider (undefined or
# invalid in meshConfig.extensionProviders) and denies every request instead
# (istio/istio@1.15.0:pilot/pkg/security/authz/builder/builder.go, extauthz.go); the reporters
# fixed it by defining the provider again. The handshake worked: MTLS-AUTHZ-CONFUSION, naming
# the CUSTOM policy whose provider the mesh config does not define.


def _sleep_httpbin(w: World) -> None:
    """The httpbin and sleep samples in namespace foo (httpbin:8000 -> port 80), in place of the
    base world's (kong/httpbin on 8080): one httpbin Deployment and Service, as in the captures."""
    w.workloads = [x for x in w.workloads if not (x.namespace == "foo" and x.name in ("httpbin", "sleep"))]
    w.services = [x for x in w.services if not (x.namespace == "foo" and x.name == "httpbin")]
    w.workloads += [
        Workload("httpbin", "foo", [Container("httpbin", "docker.io/kennethreitz/httpbin", ports=[Port(80)])],
                 labels={"app": "httpbin", "version": "v1"}, service_account="httpbin"),
        Workload("sleep", "foo", [Container("sleep", "curlimages/curl")], labels={"app": "sleep"}, service_account="sleep"),
    ]
    w.services.append(Service("httpbin", "foo", [ServicePort(8000, "http", 80)], selector={"app": "httpbin"}, labels={"app": "httpbin"}))


def _httpbin_bad_custom(w: World) -> None:
    _sleep_httpbin(w)
    w.istio.append(cr("AuthorizationPolicy", "ext-authz", "foo", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "CUSTOM", "provider": {"name": "sample-ext-authz-http"},
        "rules": [{"to": [{"operation": {"paths": ["/headers"]}}]}]}))


_BAD_CUSTOM_1_15 = _world(_httpbin_bad_custom, "1.15.0")

MTLS += [
    Scenario("mtls", "captured-authz-bad-custom-deny-all-1-15",
             "istio/istio#40944 (1.15): httpbin answers 403 rbac_access_denied_matched_policy[default-deny-all-due-to-bad-CUSTOM-action]",
             "deploy/httpbin -n foo", "mtls", _BAD_CUSTOM_1_15,
             Expect("MTLS-AUTHZ-CONFUSION", ["MTLS-AUTHZ-CONFUSION"]),
             [_log(_BAD_CUSTOM_1_15, "foo/httpbin", "captured/access-logs/istio-40944_httpbin_403_rbac_bad_custom_action.log",
                   how="append", names={"192.168.24.67": _ip(_BAD_CUSTOM_1_15, "foo/httpbin"),
                                        "192.168.54.235": _ip(_BAD_CUSTOM_1_15, "foo/sleep")})]),
]

# -- triage: an answer the application chose ------------------------------------------------------
#
# istio.io's "Envoy Access Logs" task (1.8 docs, snips of a real run): sleep calls
# httpbin:8000/status/418 in namespace foo; sleep's sidecar logs 418 with no response flag,
# details via_upstream and httpbin's pod as upstream host (the task's httpbin line says the same;
# a healthy 418 gives the tool no reason to read the server's log, so only sleep's is spliced). httpbin's /status/418 answers "I'm a teapot" by design: the mesh carried
# the request both ways and nothing failed: no_problem_found.


_TEAPOT_1_8 = _world(_sleep_httpbin, "1.8.0")


def _teapot_names(w: World) -> dict[str, str]:
    httpbin = w.service("httpbin", "foo")
    assert httpbin is not None
    return {"10.44.1.23": _ip(w, "foo/sleep"), "10.44.1.27": _ip(w, "foo/httpbin"), "10.0.45.184": str(w.cluster_ip(httpbin))}


TRIAGE += [
    Scenario("triage", "captured-app-418-teapot-1-8",
             "istio.io access-log task (1.8): sleep -> httpbin /status/418, sleep's sidecar logs 418 via_upstream without flags: the app's own answer",
             pod_target(_TEAPOT_1_8, "foo/sleep"), "auto", _TEAPOT_1_8,
             Expect(None, [], absent=["GEN-FLAG-CLASSIFY", "GEN-WHICH-PROXY"], verdict="no_problem_found"),
             [_log(_TEAPOT_1_8, "foo/sleep", "istio/docs/istio.io/access-log/access_log_client_outbound.txt", how="append",
                   names=_teapot_names(_TEAPOT_1_8))]),
]

# -- routes: the Host header carries the NodePort -------------------------------------------------
#
# istio/istio#17140 (Sep 2019, the Istio 1.0 text format): the ingress gateway routes curl's
# `HEAD /status/200` with authority httpbin.example.com to httpbin (200) but answers a browser's
# `GET /status/200` with authority httpbin.example.com:31080 `404 NR` ("Accessible through curl,
# not through browsers"; a maintainer: no virtual service matches the request). The browser puts
# the NodePort in the Host header; the gateway's virtual host serves httpbin.example.com (and
# httpbin.example.com:80), never :31080 (istio.io#1454: reach the gateway from a browser on the
# standard port only): ROUTE-AUTHORITY-MISMATCH. The world is the ingress task's httpbin
# Gateway/VirtualService on port 80; the kit's oldest control plane (1.1.3) stands for 1.0.


def _httpbin_ingress_task(w: World) -> None:
    w.workloads.append(Workload("httpbin", "default", [Container("httpbin", "docker.io/kennethreitz/httpbin", ports=[Port(80)])],
                                labels={"app": "httpbin", "version": "v1"}, service_account="httpbin"))
    w.services.append(Service("httpbin", "default", [ServicePort(8000, "http", 80)], selector={"app": "httpbin"}, labels={"app": "httpbin"}))
    w.istio += [
        cr("Gateway", "httpbin-gateway", "default", {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["httpbin.example.com"]}]}),
        cr("VirtualService", "httpbin", "default", {"hosts": ["httpbin.example.com"], "gateways": ["httpbin-gateway"], "http": [
            {"match": [{"uri": {"prefix": "/status"}}, {"uri": {"prefix": "/delay"}}],
             "route": [{"destination": {"host": "httpbin", "port": {"number": 8000}}}]}]}),
    ]


_HTTPBIN_INGRESS_1_1 = _world(_httpbin_ingress_task, "1.1.3")

ROUTES += [
    Scenario("routes", "captured-ingress-404-nr-host-with-nodeport",
             "istio/istio#17140 (1.0 format): the gateway answers 404 NR to a browser's Host httpbin.example.com:31080, routes curl's httpbin.example.com",
             pod_target(_HTTPBIN_INGRESS_1_1, "istio-system/istio-ingressgateway"), "routes", _HTTPBIN_INGRESS_1_1,
             Expect("ROUTE-AUTHORITY-MISMATCH", ["ROUTE-AUTHORITY-MISMATCH"], absent=["ROUTE-MATCH-MISS"]),
             [_log(_HTTPBIN_INGRESS_1_1, "istio-system/istio-ingressgateway",
                   "captured/access-logs/istio-17140_ingress_404_NR_host_with_nodeport.log", how="append", proof_line="404 NR",
                   names={"172.30.76.15": _ip(_HTTPBIN_INGRESS_1_1, "istio-system/istio-ingressgateway"),
                          "172.30.76.13": _ip(_HTTPBIN_INGRESS_1_1, "default/httpbin")})]),
]

SCENARIOS = [*INJECTION, *P503, *MTLS, *ROUTES, *TRIAGE]
