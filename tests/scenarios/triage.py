"""Scenarios of the triage playbook (GEN-*) and the bundled demo incident.

Each world is the healthy bookinfo mesh with one thing changed.
"""

from __future__ import annotations

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.world import Port, ProxyState, Request, World, cr


def _pod(w: World, prefix: str, ns: str = "default") -> str:
    return next(p.name for p in w.pods if p.name.startswith(prefix) and p.workload.namespace == ns)


def _target(w: World, prefix: str, ns: str = "default") -> str:
    return f"pod/{_pod(w, prefix, ns)} -n {ns}"


GEN_TRIAGE_ONLY = ["GEN-WHICH-PROXY", "GEN-FLAG-CLASSIFY"]


def healthy() -> Scenario:
    w = bookinfo_world()
    return Scenario("triage", "healthy-bookinfo", "bookinfo with 200s everywhere: nothing to report",
                    _target(w, "productpage-v1"), "auto", w,
                    Expect(verdict="no_problem_found", absent=["GEN-ISTIOD-HEALTH", "GEN-ACCESSLOG-OFF", "GEN-VERSION-SKEW", *GEN_TRIAGE_ONLY]))


def istiod_down() -> Scenario:
    w = bookinfo_world()
    w.control_plane.istiod_ready = False
    return Scenario("triage", "istiod-not-ready", "istiod is not ready: no endpoints for the webhook or xDS",
                    _target(w, "productpage-v1"), "auto", w,
                    Expect(findings_first="GEN-ISTIOD-HEALTH", findings=["GEN-ISTIOD-HEALTH"]))


def istiod_zero_replicas() -> Scenario:
    w = bookinfo_world()
    w.control_plane.istiod_replicas = 0
    return Scenario("triage", "istiod-scaled-to-zero", "istiod scaled to 0 replicas",
                    _target(w, "reviews-v1"), "503", w,
                    Expect(findings_first="GEN-ISTIOD-HEALTH", findings=["GEN-ISTIOD-HEALTH"]))


def access_log_off() -> Scenario:
    w = bookinfo_world(access_log=False)
    return Scenario("triage", "access-logging-off", "meshConfig.accessLogFile empty and no Telemetry: no request lines",
                    _target(w, "productpage-v1"), "auto", w,
                    Expect(findings_first="GEN-ACCESSLOG-OFF", findings=["GEN-ACCESSLOG-OFF"], absent=GEN_TRIAGE_ONLY))


def access_log_via_telemetry() -> Scenario:
    """Look-alike: meshConfig has no accessLogFile, but a Telemetry resource turns logging on."""
    w = bookinfo_world(access_log=False)
    w.istio.append(cr("Telemetry", "mesh-default", "istio-system", {"accessLogging": [{"providers": [{"name": "envoy"}]}]},
                      api_version="telemetry.istio.io/v1"))
    w.control_plane.mesh.access_log_file = ""
    return Scenario("triage", "access-logging-by-telemetry",
                    "accessLogFile empty but a mesh-wide Telemetry enables the envoy provider: logging is on",
                    _target(w, "productpage-v1"), "auto", w,
                    Expect(verdict="no_problem_found", absent=["GEN-ACCESSLOG-OFF"]))


def proxy_skew() -> Scenario:
    w = bookinfo_world()
    wl = w.workload("default/details-v1")
    assert wl is not None
    wl.proxy = ProxyState(version="1.18.2")
    return Scenario("triage", "proxy-version-skew", "details-v1 still runs proxy 1.18 against istiod 1.22 (never restarted)",
                    _target(w, "details-v1"), "auto", w,
                    Expect(findings_first="GEN-VERSION-SKEW", findings=["GEN-VERSION-SKEW"]))


def old_istioctl() -> Scenario:
    w = bookinfo_world("1.28.1", istioctl_version="1.26.2")
    return Scenario("triage", "istioctl-behind-control-plane", "istioctl 1.26 against a 1.28 control plane",
                    _target(w, "ratings-v1"), "auto", w,
                    Expect(findings_first="GEN-VERSION-SKEW", findings=["GEN-VERSION-SKEW"]))


def unknown_flag() -> Scenario:
    w = bookinfo_world("1.28.1")
    w.faults.calls["proxy-status"] = "unknown_flag"
    return Scenario("triage", "istioctl-unknown-flag", "this istioctl rejects the proxy-status flags we use",
                    _target(w, "ratings-v1"), "auto", w,
                    Expect(findings_first="GEN-CMD-CAPABILITY", findings=["GEN-CMD-CAPABILITY"]))


def rbac_forbidden() -> Scenario:
    """Missing evidence is never healthy: istiod's namespace is forbidden → inconclusive."""
    w = bookinfo_world()
    w.faults.calls["pods:istio-system"] = "forbidden"
    w.faults.calls["deployments:istio-system"] = "forbidden"
    return Scenario("triage", "control-plane-forbidden", "RBAC forbids reading istio-system: the control plane is unchecked",
                    _target(w, "productpage-v1"), "auto", w,
                    Expect(verdict="inconclusive", absent=["GEN-ISTIOD-HEALTH"]))


def app_500s() -> Scenario:
    """Look-alike: the application itself answers 500 (via_upstream): no Envoy flag, no triage finding."""
    w = bookinfo_world()
    w.traffic.append(Request("default/productpage-v1", "details:9080", "/details/0", count=3, status=500))
    return Scenario("triage", "app-answers-500", "details answers 500 itself: the proxies only forwarded it",
                    _target(w, "productpage-v1"), "auto", w,
                    # requests fail (500) and nothing in the mesh explains it: never "no problem found"
                    Expect(verdict="cause_not_determined", absent=GEN_TRIAGE_ONLY + ["GEN-ACCESSLOG-OFF"]))


def demo() -> Scenario:
    """The bundled demo incident: after a mesh-wide STRICT rollout, an old DestinationRule for
    ratings still disables TLS; reviews-v2/v3 get 503s ("Ratings service is currently unavailable")."""
    w = bookinfo_world()
    w.istio += [
        cr("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}),
        cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}),
    ]
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=6))
    return Scenario("demo", "bookinfo-reviews-503",
                    "bookinfo: reviews-v2 gets 503 from ratings after mesh-wide STRICT mTLS; a leftover DestinationRule disables TLS",
                    _target(w, "reviews-v2"), "auto", w,
                    Expect(findings_first="MTLS-DR-DISABLE-VS-STRICT",
                           findings=["MTLS-DR-DISABLE-VS-STRICT", "GEN-WHICH-PROXY", "GEN-FLAG-CLASSIFY"],
                           absent=["P503-LOCALHOST-BIND", "P503-NO-ENDPOINTS"]))


def ns_hidden_localhost() -> Scenario:
    """A namespace scan where every pod is Ready: only the proxies' logs show ratings failing."""
    w = bookinfo_world()
    wl = w.workload("default/ratings-v1")
    assert wl is not None
    wl.containers[0].ports = [Port(9080, bind="127.0.0.1")]
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=4))
    return Scenario("namespace", "scan-finds-localhost-bound-app", "ns/default scan: ratings binds 127.0.0.1, every pod Ready",
                    "ns/default", "auto", w, Expect(findings_first="P503-LOCALHOST-BIND", findings=["P503-LOCALHOST-BIND"]))


def ns_healthy() -> Scenario:
    w = bookinfo_world()
    return Scenario("namespace", "scan-healthy", "ns/default scan of a healthy bookinfo", "ns/default", "auto", w,
                    Expect(verdict="no_problem_found"))


def ns_logs_forbidden() -> Scenario:
    """Without the proxies' logs a scan cannot see failing traffic: inconclusive, never healthy."""
    w = bookinfo_world()
    w.faults.calls["logs:default"] = "forbidden"
    return Scenario("namespace", "scan-logs-forbidden", "ns/default scan where RBAC forbids reading pod logs",
                    "ns/default", "auto", w, Expect(verdict="inconclusive"))


SCENARIOS = [
    ns_hidden_localhost(), ns_healthy(), ns_logs_forbidden(),
    healthy(), istiod_down(), istiod_zero_replicas(), access_log_off(), access_log_via_telemetry(), proxy_skew(),
    old_istioctl(), unknown_flag(), rbac_forbidden(), app_500s(), demo(),
]
