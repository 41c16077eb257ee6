"""Red-team incidents: composites the way real clusters break.

Every playbook's own scenarios change exactly ONE thing. Real incidents rarely do: the root
cause comes with a consequence (an outlier ejection, a not-ready proxy), a red herring (an
app answering 404 on another path, a fault-injection VirtualService for another host, an
istioctl one minor behind) or missing evidence (RBAC forbids the proxy logs). Each world
here has two or more such things, is examined from the pod an SRE would actually pick (often
the CLIENT that sees the 503), mostly with ``--symptom auto``, and expects the TRUE root cause
first, as an expert would judge it.
"""

from __future__ import annotations


from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import proxy, readiness
from tests.scenariokit.world import Container, Port, Request, Service, ServicePort, Workload, World, cr
from tests.scenariokit.helpers import pod_target, ratings_calls, STRICT_FOO, STRICT_MESH, wl, world


TRIAGE_NOISE = ["GEN-ACCESSLOG-OFF", "GEN-VERSION-SKEW", "GEN-CMD-CAPABILITY", "GEN-ISTIOD-HEALTH"]


# -- a localhost-bound ratings (shared by several incidents) ---------------------------------------


def _localhost_bind(w: World) -> None:
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    ratings_calls(w, count=5)


# -- 1. DR DISABLE vs STRICT + the application's own 404s on another path --------------------------


def _dr_disable_app_404(w: World) -> None:
    w.istio += [STRICT_MESH,
                cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    ratings_calls(w, count=4)
    # the product team also ships a broken link: details answers 404 itself (via_upstream)
    w.traffic.append(Request("default/reviews-v2", "details:9080", "/details/legacy-sku", count=3, status=404))


def dr_disable_app_404() -> Scenario:
    w = world(_dr_disable_app_404)
    return Scenario("redteam-composites", "dr-disable-strict-with-app-404s",
                    "mesh-wide STRICT rollout left DR ratings tls DISABLE (503 UC); the same caller also gets "
                    "app-generated 404s from details (red herring)",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"],
                           ["ROUTE-MATCH-MISS", "ROUTE-AUTHORITY-MISMATCH", "P503-LOCALHOST-BIND", "P503-KEEPALIVE-UC",
                            "P503-NO-ENDPOINTS"]))


# -- 2. namespace-wide STRICT + a legacy cron job client -------------------------------------------


def _strict_cron(w: World) -> None:
    w.istio.append(STRICT_FOO)
    w.workloads.append(Workload("billing-report", "legacy", [Container("report", "docker.io/acme/billing-report:4.2.0")],
                                labels={"app": "billing-report"}, service_account="billing-report", node_index=0))
    w.traffic.append(Request("legacy/billing-report", "httpbin.foo:8000", "/anything/report", count=4,
                             user_agent="python-requests/2.31.0"))
    w.traffic.append(Request("foo/sleep", "httpbin.foo:8000", "/ip", count=3))


def strict_cron_server() -> Scenario:
    w = world(_strict_cron)
    return Scenario("redteam-composites", "strict-ns-legacy-cronjob-server",
                    "foo went STRICT; a nightly billing-report job in the un-injected legacy namespace is reset; "
                    "in-mesh callers are fine; the SRE examines httpbin",
                    pod_target(w, "foo/httpbin"), "auto", w,
                    Expect("MTLS-NONMESH-CLIENT", ["MTLS-NONMESH-CLIENT"],
                           ["MTLS-DR-DISABLE-VS-STRICT", "ROUTE-MATCH-MISS", "P503-LOCALHOST-BIND", "MTLS-PEER-NO-CERT"]))


# -- 3. istiod down → a restarted proxy never gets config ------------------------------------------


def _istiod_down(w: World) -> None:
    w.control_plane.istiod_ready = False
    wl(w, "default/ratings-v1").proxy = proxy(state="no_config", connected=False)
    ratings_calls(w, count=4)


def istiod_down_client() -> Scenario:
    w = world(_istiod_down)
    return Scenario("redteam-composites", "istiod-down-proxy-not-ready-client",
                    "istiod is not ready; ratings was rescheduled meanwhile and its sidecar never got config; "
                    "reviews-v2 gets 503 UH",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("GEN-ISTIOD-HEALTH", ["GEN-ISTIOD-HEALTH", "P503-PROXY-NOT-READY"], ["P503-PROBE-REWRITE"]))


# -- 4. subset after a version relabel + a fault VS for another host -------------------------------


def _subset_relabel(w: World) -> None:
    # the reviews-v3 Deployment was re-rolled with version=v3.1; DR subset v3 still says v3
    wl(w, "default/reviews-v3").labels["version"] = "v3.1"
    w.istio += [
        cr("DestinationRule", "reviews", "default", {"host": "reviews", "subsets": [
            {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}},
            {"name": "v3", "labels": {"version": "v3"}}]}),
        cr("VirtualService", "reviews", "default", {"hosts": ["reviews"], "http": [
            {"route": [{"destination": {"host": "reviews", "subset": "v3"}}]}]}),
        # the fault-injection task, left behind for ratings and only for user jason
        cr("VirtualService", "ratings", "default", {"hosts": ["ratings"], "http": [
            {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
             "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100.0}}},
             "route": [{"destination": {"host": "ratings"}}]},
            {"route": [{"destination": {"host": "ratings"}}]}]}),
    ]


def subset_relabel() -> Scenario:
    w = world(_subset_relabel)
    return Scenario("redteam-composites", "subset-after-version-relabel-with-fault-vs",
                    "reviews-v3 relabelled version=v3.1, DR subset v3 selects nothing and the VS routes all traffic "
                    "there (503 UH); a fault-injection VS for ratings (user jason) is a red herring",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("P503-SUBSET-NO-PODS", ["P503-SUBSET-NO-PODS"],
                           ["P503-FAULT-CONFIG", "ROUTE-SUBSET-UNDEFINED", "P503-OUTLIER-EJECTED"]))


# -- 5. REGISTRY_ONLY with a ServiceEntry for a different port -------------------------------------


def _registry_wrong_port(w: World) -> None:
    w.istio.append(cr("ServiceEntry", "payments-api", "default", {
        "hosts": ["api.payments.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
        "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}]}))
    # the app calls the plain-HTTP port 80 (a config flag reverted to http://)
    w.traffic.append(Request("default/productpage-v1", "api.payments.example.com", "/v2/charges", count=4))


def registry_wrong_port() -> Scenario:
    w = world(_registry_wrong_port, registry_only=True)
    return Scenario("redteam-composites", "registry-only-serviceentry-other-port",
                    "REGISTRY_ONLY; a ServiceEntry declares api.payments.example.com on 443 only, the app calls port 80: "
                    "502 block_all",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("P503-REGISTRY-ONLY", ["P503-REGISTRY-ONLY"],
                           ["P503-NO-ENDPOINTS", "MTLS-HTTPS-ON-HTTP-PORT", "MTLS-DOUBLE-TLS"]))


# -- a pod that predates the namespace label (the namespace scan below) ----------------------------


def _predates_strict(w: World) -> None:
    w.istio.append(STRICT_FOO)
    w.workloads.append(Workload("orders", "foo", [Container("orders", "docker.io/acme/orders:3.1.4", ports=[Port(8080)])],
                                labels={"app": "orders", "version": "v1"}, service_account="orders",
                                predates_injection=True, node_index=0))
    w.services.append(Service("orders", "foo", [ServicePort(8080, "http")], selector={"app": "orders"}, labels={"app": "orders"}))
    w.traffic.append(Request("foo/orders", "httpbin.foo:8000", "/anything/stock", count=4))
    w.traffic.append(Request("foo/sleep", "httpbin.foo:8000", "/ip", count=2))


# -- 6. Istio version-dependent localhost behaviour ------------------------------------------------


def _localhost_19_targetport(w: World) -> None:
    # on 1.9 the localhost bind of ratings is fine (inbound goes to 127.0.0.1) ...
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    # ... the real break is details' Service targetPort after a port rename
    w.service("details", "default").ports = [ServicePort(9080, "http", target_port=9081)]  # type: ignore[union-attr]
    ratings_calls(w, count=3)
    w.traffic.append(Request("default/productpage-v1", "details:9080", "/details/0", count=4))


def localhost_19_targetport() -> Scenario:
    w = world(_localhost_19_targetport, version="1.9.9")
    return Scenario("redteam-composites", "istio-1-9-localhost-fine-targetport-broken",
                    "Istio 1.9: ratings binds 127.0.0.1 (works before 1.10); details' Service targets 9081 "
                    "while the app listens on 9080: productpage gets 503",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("P503-TARGETPORT", ["P503-TARGETPORT"], ["P503-LOCALHOST-BIND", "P503-NO-ENDPOINTS"]))


def _upgraded_localhost(w: World) -> None:
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    # details was not restarted after the upgrade: proxy one minor behind (supported skew)
    wl(w, "default/details-v1").proxy = proxy(version="1.21.4")
    ratings_calls(w, count=4)


def upgraded_localhost_server() -> Scenario:
    w = world(_upgraded_localhost, version="1.22.3", istioctl_version="1.21.2")
    return Scenario("redteam-composites", "upgrade-1-22-localhost-server-istioctl-behind",
                    "after upgrading to 1.22 the localhost-bound ratings fails (inbound to the pod IP); istioctl is "
                    "one minor behind and details still runs a 1.21 proxy (both supported)",
                    pod_target(w, "default/ratings-v1"), "auto", w,
                    Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND"], ["GEN-VERSION-SKEW", "GEN-CMD-CAPABILITY",
                                                                            "P503-TARGETPORT"]))


# -- DR DISABLE vs mesh STRICT (shared by several incidents) ---------------------------------------


def _dr_disable(w: World) -> None:
    w.istio += [STRICT_MESH,
                cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    ratings_calls(w, count=4)


# -- 7. RBAC forbids proxy logs --------------------------------------------------------------------


def rbac_logs_dr_disable() -> Scenario:
    w = world(_dr_disable)
    w.faults.calls["logs"] = "forbidden"
    return Scenario("redteam-composites", "rbac-no-logs-dr-disable",
                    "the on-call SA may not read pod logs; DR ratings DISABLE vs mesh STRICT is still provable from config",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"], ["GEN-ACCESSLOG-OFF"]))


def rbac_logs_exec_localhost() -> Scenario:
    w = world(_localhost_bind)
    w.faults.calls["logs"] = "forbidden"
    w.faults.calls["exec"] = "forbidden"
    return Scenario("redteam-composites", "rbac-no-logs-no-exec-localhost",
                    "logs and exec are forbidden; ratings binds 127.0.0.1: without flags or sockets the tool must not "
                    "call it healthy",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect(None, [], ["GEN-ACCESSLOG-OFF", "P503-TARGETPORT"], verdict="inconclusive"))


# -- 8. outlier ejection hiding a localhost bind ---------------------------------------------------


def _outlier_localhost(w: World) -> None:
    wl(w, "default/ratings-v1").containers[0].ports = [Port(9080, bind="127.0.0.1")]
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"outlierDetection": {
        "consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": 100}}}))
    ratings_calls(w, count=6)


def outlier_localhost() -> Scenario:
    w = world(_outlier_localhost)
    return Scenario("redteam-composites", "outlier-ejection-hides-localhost-bind",
                    "ratings binds 127.0.0.1; outlierDetection ejects it after the first 503, so reviews-v2 mostly sees "
                    "503 UH: the ejection is the consequence, the bind the cause",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND", "P503-OUTLIER-EJECTED"], ["P503-NO-ENDPOINTS"]))


# -- 9. root CA mismatch after a cacerts rotation + a proxy one minor behind ----------------------


def _rootca_skew(w: World) -> None:
    w.istio.append(STRICT_MESH)
    wl(w, "default/ratings-v1").proxy = proxy(root_ca="other", version="1.21.4")
    ratings_calls(w, count=4)


def rootca_skew() -> Scenario:
    w = world(_rootca_skew)
    return Scenario("redteam-composites", "rootca-rotation-with-proxy-one-minor-behind",
                    "cacerts was rotated and ratings (still on a 1.21 proxy, a supported skew) trusts the old root: "
                    "reviews-v2 gets CERTIFICATE_VERIFY_FAILED (istio-34920)",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("MTLS-ROOTCA-MISMATCH", ["MTLS-ROOTCA-MISMATCH"], ["GEN-VERSION-SKEW", "MTLS-DR-DISABLE-VS-STRICT",
                                                                             "P503-LOCALHOST-BIND"]))


# -- 10. webhook deadline: ratings cannot be recreated, callers get UH -----------------------------


def _webhook_deadline(w: World) -> None:
    w.control_plane.webhook_error = "deadline"
    wl(w, "default/ratings-v1").new_pods = True
    ratings_calls(w, count=4)


def webhook_deadline_client() -> Scenario:
    w = world(_webhook_deadline)
    return Scenario("redteam-composites", "webhook-deadline-ratings-not-recreated",
                    "a node drain deleted ratings; the injection webhook times out (istio-36955) so the ReplicaSet "
                    "cannot create a pod: reviews-v2 gets 503 UH",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("INJ-WEBHOOK-DOWN", ["INJ-WEBHOOK-DOWN", "P503-NO-ENDPOINTS"], ["P503-PROXY-NOT-READY"]))


# -- 11. namespace scan: every pod Ready, traffic broken by config ---------------------------------


def namespace_dr_disable() -> Scenario:
    w = world(_dr_disable)
    return Scenario("redteam-composites", "namespace-scan-dr-disable",
                    "`diagnose ns/default`: every pod is Running and Ready, yet reviews -> ratings fails with DR "
                    "DISABLE vs mesh STRICT",
                    "ns/default", "auto", w,
                    Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"], ["P503-LOCALHOST-BIND"]))


# -- 12. an app that answers 503 itself while a DR DISABLE towards a PERMISSIVE server exists ------


def _app503_dr_permissive(w: World) -> None:
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}))
    ratings_calls(w, count=4, status=503)


def app503_dr_permissive() -> Scenario:
    w = world(_app503_dr_permissive)
    return Scenario("redteam-composites", "app-503-with-harmless-dr-disable",
                    "ratings' app answers 503 itself (its database is down); a DR DISABLE towards the PERMISSIVE "
                    "ratings is harmless: no mesh cause may be blamed",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect(None, [], ["MTLS-DR-DISABLE-VS-STRICT", "P503-RETRIES-EXHAUSTED", "P503-LOCALHOST-BIND",
                                      "P503-OUTLIER-EJECTED", "P503-KEEPALIVE-UC"], verdict="cause_not_determined"))


# -- 13. probe rewrite off under STRICT + JSON logs, seen from the caller --------------------------


def _probe_json(w: World) -> None:
    r = wl(w, "default/details-v1")
    r.containers[0].readiness = readiness("/health", 9080)
    r.containers[0].ready = False
    r.proxy = proxy(rewrite_probes=False)
    w.istio.append(STRICT_MESH)
    w.traffic.append(Request("default/productpage-v1", "details:9080", "/details/0", count=4))


def probe_json() -> Scenario:
    w = world(_probe_json, access_log_encoding="JSON")
    return Scenario("redteam-composites", "probe-rewrite-off-strict-json-client",
                    "details opted out of probe rewriting; after the STRICT rollout the kubelet's plaintext probe is "
                    "reset, details is never Ready, productpage gets 503 UH (JSON logs)",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("P503-PROBE-REWRITE", ["P503-PROBE-REWRITE", "P503-NO-ENDPOINTS"],
                           ["P503-SUBSET-NO-PODS", "MTLS-NONMESH-CLIENT"]))


# -- 14. REGISTRY_ONLY, TLS to 443 while the ServiceEntry declares only port 80 --------------------


def _registry_tls_wrong_port(w: World) -> None:
    w.istio.append(cr("ServiceEntry", "geo-api", "default", {
        "hosts": ["geo.example.org"], "location": "MESH_EXTERNAL", "resolution": "DNS",
        "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}))
    w.traffic.append(Request("default/productpage-v1", "geo.example.org:443", "/v1/lookup", count=3, tls=True))


def registry_tls_wrong_port() -> Scenario:
    w = world(_registry_tls_wrong_port, registry_only=True)
    return Scenario("redteam-composites", "registry-only-tls-serviceentry-http-only",
                    "REGISTRY_ONLY; the ServiceEntry for geo.example.org declares port 80 only, the app moved to HTTPS: "
                    "its TLS connections hit the BlackHoleCluster (0 UH), which must not be read as 'no endpoints'",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("P503-REGISTRY-ONLY", ["P503-REGISTRY-ONLY"], ["P503-NO-ENDPOINTS", "P503-SUBSET-NO-PODS",
                                                                          "P503-OUTLIER-EJECTED"]))


# -- 15. access logging off + a localhost-bound server ---------------------------------------------


def logging_off_localhost_server() -> Scenario:
    w = world(_localhost_bind, access_log=False)
    return Scenario("redteam-composites", "access-logging-off-localhost-server",
                    "access logging is off (no flags anywhere), but ratings' sockets show 127.0.0.1:9080: the bind is "
                    "the cause, the missing logs only a visibility gap",
                    pod_target(w, "default/ratings-v1"), "auto", w,
                    Expect("P503-LOCALHOST-BIND", ["P503-LOCALHOST-BIND"], ["P503-TARGETPORT"]))


# -- 16. ingress gateway -> productpage with DR DISABLE under STRICT -------------------------------


def _gateway_dr_disable(w: World) -> None:
    w.istio += [STRICT_MESH, cr("DestinationRule", "productpage", "default", {
        "host": "productpage.default.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    w.traffic.append(Request("istio-system/istio-ingressgateway", "bookinfo.example.com", "/productpage", count=5))


def gateway_dr_disable() -> Scenario:
    w = world(_gateway_dr_disable)
    return Scenario("redteam-composites", "gateway-dr-disable-vs-strict",
                    "users get 503 from the ingress gateway after the STRICT rollout: DR productpage (applied from the "
                    "service's namespace to the gateway too) disables TLS",
                    pod_target(w, "istio-system/istio-ingressgateway"), "auto", w,
                    Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"],
                           ["ROUTE-VS-NO-GATEWAY", "ROUTE-MATCH-MISS", "P503-NO-ENDPOINTS", "P503-LOCALHOST-BIND",
                            "P503-TARGETPORT"]))


# -- 17. istiod scaled to zero; a certificate expired meanwhile ------------------------------------


def _istiod_zero_cert(w: World) -> None:
    w.control_plane.istiod_replicas = 0
    wl(w, "default/ratings-v1").proxy = proxy(cert="expired")
    ratings_calls(w, count=4)


def istiod_zero_cert() -> Scenario:
    w = world(_istiod_zero_cert)
    return Scenario("redteam-composites", "istiod-zero-replicas-cert-expired",
                    "istiod was scaled to 0 by a cost-saving job over the weekend; ratings' workload certificate "
                    "expired without rotation; reviews-v2 gets TLS failures",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("GEN-ISTIOD-HEALTH", ["GEN-ISTIOD-HEALTH", "MTLS-CERT-NOT-READY"], ["MTLS-ROOTCA-MISMATCH"]))


# -- 18. namespace scan: a pod predating the label among healthy pods, foo STRICT ------------------


def namespace_predates() -> Scenario:
    w = world(_predates_strict)
    return Scenario("redteam-composites", "namespace-scan-predates-label-strict",
                    "`diagnose ns/foo`: orders predates foo's injection label and, without a sidecar, is reset by "
                    "STRICT httpbin; sleep and httpbin are healthy",
                    "ns/foo", "auto", w,
                    Expect("INJ-POD-PREDATES", ["INJ-POD-PREDATES"], ["INJ-NS-LABEL", "MTLS-DR-DISABLE-VS-STRICT"]))


SCENARIOS: list[Scenario] = [
    dr_disable_app_404(), strict_cron_server(), istiod_down_client(), istiod_zero_cert(), subset_relabel(),
    registry_wrong_port(), registry_tls_wrong_port(), namespace_predates(), localhost_19_targetport(),
    upgraded_localhost_server(), logging_off_localhost_server(), rbac_logs_dr_disable(), rbac_logs_exec_localhost(),
    outlier_localhost(), rootca_skew(), webhook_deadline_client(), namespace_dr_disable(), app503_dr_permissive(),
    probe_json(), gateway_dr_disable(),
]
