"""Red team 2: incidents focused on ROUTES and INJECTION, with cross-section confusion.

Like ``incidents.py``, each world composes a root cause with a consequence, a red herring or a
second, harmless oddity, is examined from the pod (or namespace) an SRE would pick, mostly with
``--symptom auto``, and expects the TRUE root cause first, as an expert would judge it. The
look-alikes listed under ``absent`` are what a naive reading of the same outputs would blame
(an mTLS finding for a plaintext-by-passthrough reset, a workload-certificate finding for a
gateway credential, "no endpoints" for a missing subset, the namespace label for a pod that
simply predates it).
"""

from __future__ import annotations

from typing import Any

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import proxy
from tests.scenariokit.world import Container, Namespace, Port, Request, Service, ServicePort, TlsSecret, Workload, World, cr
from tests.scenariokit.helpers import pod_target, STRICT_FOO, STRICT_MESH, wl, world

GW = "istio-system/istio-ingressgateway"
MTLS_LOOKALIKES = ["MTLS-DR-DISABLE-VS-STRICT", "MTLS-TO-NONMESH-SERVER", "MTLS-ROOTCA-MISMATCH", "MTLS-PEER-NO-CERT"]


def res(w: World, kind: str, name: str, ns: str = "default") -> dict[str, Any]:
    return next(o for o in w.resources(kind, ns) if o["metadata"]["name"] == name)


def gateway_target(w: World) -> str:
    return f"pod/{next(p.name for p in w.pods if p.is_gateway)} -n istio-system"


def ingress(w: World, host: str = "bookinfo.example.com", path: str = "/productpage", count: int = 3, **kw: Any) -> None:
    w.traffic.append(Request(GW, host, path, count=count, **kw))


def reviews_dr(name: str = "reviews", ns: str = "default", host: str = "reviews", **spec: Any) -> dict[str, Any]:
    return cr("DestinationRule", name, ns, {"host": host, "subsets": [
        {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}},
        {"name": "v3", "labels": {"version": "v3"}}], **spec})


# -- 1. a team VirtualService in foo binds the short gateway name of default's Gateway ------------


def _vs_gateway_other_ns(w: World) -> None:
    # the shop team exposes httpbin through the shared bookinfo Gateway, but names it without the namespace:
    # 'bookinfo-gateway' resolves to foo/bookinfo-gateway, which does not exist
    w.istio.append(cr("VirtualService", "shop", "foo", {
        "hosts": ["shop.example.com"], "gateways": ["bookinfo-gateway"],
        "http": [{"route": [{"destination": {"host": "httpbin.foo.svc.cluster.local", "port": {"number": 8000}}}]}]}))
    ingress(w, "shop.example.com", "/anything/cart", count=4)
    ingress(w, count=2)  # bookinfo itself still works through the same gateway


def vs_gateway_other_ns() -> Scenario:
    w = world(_vs_gateway_other_ns, access_log_encoding="JSON")
    return Scenario("redteam-routes-injection", "ingress-404-vs-binds-gateway-of-other-namespace",
                    "VirtualService foo/shop lists gateways [bookinfo-gateway] (short name → foo/bookinfo-gateway, absent); "
                    "shop.example.com gets 404 NR at the ingress while bookinfo.example.com works (JSON logs)",
                    gateway_target(w), "auto", w,
                    Expect("ROUTE-VS-NO-GATEWAY", ["ROUTE-VS-NO-GATEWAY"],
                           ["ROUTE-HOST-NOT-IN-GATEWAY", "ROUTE-GW-SELECTOR", "ROUTE-AUTHORITY-MISMATCH", "P503-NO-ENDPOINTS",
                            "ROUTE-GW-CONFLICT"]))


# -- 2. VS to subset v2 applied before the DestinationRule, JSON access logs -------------------------


def _subset_before_dr(w: World) -> None:
    w.istio.append(cr("VirtualService", "reviews", "default", {"hosts": ["reviews"], "http": [
        {"match": [{"headers": {"end-user": {"exact": "jason"}}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
        {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}))
    # details was not restarted after the upgrade: its proxy is one minor behind (supported)
    wl(w, "default/details-v1").proxy = proxy(version="1.21.4")
    w.traffic.append(Request("default/productpage-v1", "reviews:9080", "/reviews/0", count=4))


def subset_before_dr() -> Scenario:
    w = world(_subset_before_dr, access_log_encoding="JSON")
    return Scenario("redteam-routes-injection", "subset-routing-before-destinationrule-json",
                    "the canary VirtualService (subsets v1/v2) was applied before its DestinationRule: productpage gets "
                    "503 NC cluster_not_found in JSON access logs; details' 1.21 proxy is a supported skew",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("ROUTE-SUBSET-UNDEFINED", ["ROUTE-SUBSET-UNDEFINED"],
                           ["P503-NO-ENDPOINTS", "P503-SUBSET-NO-PODS", "ROUTE-DEST-HOST-UNKNOWN", "ROUTE-DR-HOST-UNKNOWN",
                            "GEN-VERSION-SKEW", "INJ-PROXY-SKEW", "ROUTE-EXPORTTO-HIDDEN"]))


# -- 3. Sidecar egress scope hides a new dependency (REGISTRY_ONLY) --------------------------------


def _sidecar_new_dependency(w: World) -> None:
    # written when reviews only called itself and details; v2 now calls ratings
    w.istio.append(cr("Sidecar", "default", "default", {"egress": [{"hosts": [
        "./productpage.default.svc.cluster.local", "./details.default.svc.cluster.local",
        "./reviews.default.svc.cluster.local", "istio-system/*"]}]}))
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=4))


def sidecar_new_dependency() -> Scenario:
    w = world(_sidecar_new_dependency, registry_only=True, istioctl_version="1.21.2")
    return Scenario("redteam-routes-injection", "sidecar-egress-hides-new-dependency",
                    "REGISTRY_ONLY; Sidecar default/default lists productpage, details and reviews only; reviews-v2's new "
                    "call to ratings (a mesh Service) gets 502 block_all; istioctl is one minor behind",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("ROUTE-SIDECAR-SCOPE", ["ROUTE-SIDECAR-SCOPE"],
                           ["P503-NO-ENDPOINTS", "ROUTE-EXPORTTO-HIDDEN", "ROUTE-DEST-HOST-UNKNOWN", "GEN-VERSION-SKEW",
                            "P503-HEADLESS-PODIP"]))


# -- 4. DR with subsets in foo exported to '.', the VS in default routes to its subset -----------------


def _dr_exportto_other_ns(w: World) -> None:
    # the DR was written by the foo team for their own tests, exported only to foo
    w.istio += [reviews_dr("reviews-subsets", "foo", host="reviews.default.svc.cluster.local", exportTo=["."]),
                cr("VirtualService", "reviews", "default", {"hosts": ["reviews"], "http": [
                    {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]})]
    w.traffic.append(Request("default/productpage-v1", "reviews:9080", "/reviews/0", count=4))


def dr_exportto_other_ns() -> Scenario:
    w = world(_dr_exportto_other_ns)
    return Scenario("redteam-routes-injection", "subset-dr-exported-only-to-other-namespace",
                    "the only DestinationRule with reviews' subsets lives in foo with exportTo ['.']; VirtualService "
                    "default/reviews routes to subset v1: productpage gets 503 NC",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("ROUTE-EXPORTTO-HIDDEN", ["ROUTE-EXPORTTO-HIDDEN"],
                           ["P503-NO-ENDPOINTS", "P503-SUBSET-NO-PODS", "ROUTE-DEST-HOST-UNKNOWN", "ROUTE-DR-HOST-UNKNOWN"]))


# -- 5. revisioned control plane; foo still says istio-injection=enabled ------------------------------


def _canary_only(w: World) -> None:
    w.control_plane.revisions = ["canary"]
    w.namespace("default").labels = {"istio.io/rev": "canary"}  # type: ignore[union-attr]
    w.istio.append(STRICT_MESH)
    w.traffic.append(Request("foo/sleep", "reviews.default:9080", "/reviews/0", count=4))


def canary_only() -> Scenario:
    w = world(_canary_only)
    return Scenario("redteam-routes-injection", "canary-revision-foo-still-injection-enabled",
                    "the mesh moved to revision canary and the default revision was removed; default was relabelled "
                    "istio.io/rev=canary, foo still says istio-injection=enabled, so its restarted pods have no sidecar "
                    "and STRICT reviews resets sleep",
                    "deploy/sleep -n foo", "auto", w,
                    Expect("INJ-REV-MISSING", ["INJ-REV-MISSING"],
                           ["INJ-NS-LABEL", "INJ-POD-PREDATES", "INJ-LABEL-PRECEDENCE", "MTLS-DR-DISABLE-VS-STRICT"]))


# -- 6. inject annotation on the Deployment in an unlabelled namespace, STRICT server -------------------


def _deploy_annotation(w: World) -> None:
    w.namespaces.append(Namespace("payments", {}))
    w.workloads.append(Workload("payments-api", "payments", [Container("api", "docker.io/acme/payments-api:2.3.0", ports=[Port(8080)])],
                                labels={"app": "payments-api", "version": "v1"}, service_account="payments-api",
                                deployment_annotations={"sidecar.istio.io/inject": "true"}, node_index=1))
    w.services.append(Service("payments-api", "payments", [ServicePort(8080, "http")], selector={"app": "payments-api"},
                              labels={"app": "payments-api"}))
    w.istio.append(STRICT_FOO)
    w.traffic.append(Request("payments/payments-api", "httpbin.foo:8000", "/anything/charge", count=4))


def deploy_annotation() -> Scenario:
    w = world(_deploy_annotation)
    return Scenario("redteam-routes-injection", "inject-annotation-on-deployment-unlabelled-ns",
                    "payments (no injection label) opts in with sidecar.istio.io/inject on the Deployment's metadata, "
                    "not the pod template: no sidecar, and STRICT httpbin.foo resets its calls",
                    "deploy/payments-api -n payments", "auto", w,
                    Expect("INJ-ANNOTATION-MISPLACED", ["INJ-ANNOTATION-MISPLACED"],
                           ["INJ-POD-PREDATES", "INJ-INVALID-VALUE", "MTLS-DR-DISABLE-VS-STRICT", "INJ-REV-MISSING"]))


# -- 7. half the namespace injected: cart predates the label -------------------------------------------


def _half_injected(w: World) -> None:
    w.namespaces.append(Namespace("shop", {"istio-injection": "enabled"}))
    for name, predates in (("frontend", False), ("catalog", False), ("cart", True)):
        w.workloads.append(Workload(name, "shop", [Container(name, f"docker.io/acme/{name}:1.8.0", ports=[Port(8080)])],
                                    labels={"app": name, "version": "v1"}, service_account=name,
                                    predates_injection=predates, node_index=1))
        w.services.append(Service(name, "shop", [ServicePort(8080, "http")], selector={"app": name}, labels={"app": name}))
    w.istio.append(STRICT_MESH)
    w.traffic.append(Request("shop/frontend", "catalog:8080", "/items", count=2))
    w.traffic.append(Request("shop/cart", "catalog.shop:8080", "/items/42", count=4))


def half_injected() -> Scenario:
    w = world(_half_injected)
    return Scenario("redteam-routes-injection", "half-injected-namespace-cart-predates-label",
                    "shop is labelled and frontend/catalog have sidecars; cart was never restarted after the label was "
                    "added: no sidecar, STRICT catalog resets it",
                    pod_target(w, "shop/cart"), "auto", w,
                    Expect("INJ-POD-PREDATES", ["INJ-POD-PREDATES"],
                           ["INJ-NS-LABEL", "INJ-REV-MISSING", "INJ-WEBHOOK-FAILOPEN", "MTLS-DR-DISABLE-VS-STRICT"]))


# -- 8. namespace scan: a hostNetwork node agent next to a broken targetPort ---------------------------


def _hostnet_scan(w: World) -> None:
    w.workloads.append(Workload("node-exporter", "default", [Container("node-exporter", "quay.io/prometheus/node-exporter:v1.8.1",
                                                                      ports=[Port(9100)])],
                                labels={"app": "node-exporter"}, service_account="node-exporter", host_network=True))
    w.service("ratings", "default").ports = [ServicePort(9080, "http", target_port=9081)]  # type: ignore[union-attr]
    w.traffic.append(Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=4))


def hostnet_scan() -> Scenario:
    w = world(_hostnet_scan)
    return Scenario("redteam-routes-injection", "namespace-scan-hostnetwork-agent-and-targetport",
                    "`diagnose ns/default`: a hostNetwork node-exporter is deliberately outside the mesh; the real break "
                    "is ratings' Service targeting 9081 while the app listens on 9080",
                    "ns/default", "auto", w,
                    Expect("P503-TARGETPORT", ["P503-TARGETPORT"], ["INJ-HOSTNETWORK", "INJ-NS-LABEL", "INJ-POD-PREDATES",
                                                                    "P503-LOCALHOST-BIND"]))


# -- 9. gateway credential in the wrong namespace, seen on the gateway with JSON logs ------------------


def _credential_wrong_ns(w: World) -> None:
    w.istio.append(cr("Gateway", "bookinfo-https", "default", {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 8443, "name": "https", "protocol": "HTTPS"}, "hosts": ["bookinfo.example.com"],
         "tls": {"mode": "SIMPLE", "credentialName": "bookinfo-cert"}}]}))
    res(w, "VirtualService", "bookinfo")["spec"]["gateways"] = ["bookinfo-gateway", "bookinfo-https"]
    w.tls_secrets.append(TlsSecret("bookinfo-cert", "default", ["bookinfo.example.com"]))
    ingress(w, count=4, tls=True)
    ingress(w, count=2)


def credential_wrong_ns() -> Scenario:
    w = world(_credential_wrong_ns, access_log_encoding="JSON")
    return Scenario("redteam-routes-injection", "gateway-credential-in-gateway-namespace-json",
                    "the TLS Secret bookinfo-cert was created next to the Gateway (default), not in istio-system where "
                    "the gateway pods run: HTTPS handshakes fail (SDS WARMING), HTTP on 80 works; JSON logs",
                    gateway_target(w), "auto", w,
                    Expect("ROUTE-GW-CREDENTIAL", ["ROUTE-GW-CREDENTIAL"],
                           ["MTLS-CERT-NOT-READY", "ROUTE-SNI-MISSING", "ROUTE-GW-TLS-MODE", "MTLS-ROOTCA-MISMATCH",
                            "P503-PROXY-NOT-READY"]))


# -- 10. EnvoyFilter NACK on reviews-v2, examined in auto mode, istioctl behind ------------------------


def _envoyfilter_nack(w: World) -> None:
    wl(w, "default/reviews-v2").proxy = proxy(state="nack")
    w.istio.append(cr("EnvoyFilter", "reviews-ratelimit", "default", {
        "workloadSelector": {"labels": {"app": "reviews"}},
        "configPatches": [{"applyTo": "HTTP_FILTER", "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager"}}}},
            "patch": {"operation": "INSERT_BEFORE", "value": {"name": "envoy.filters.http.local_ratelimit_v2", "typed_config": {
                "@type": "type.googleapis.com/udpa.type.v1.TypedStruct", "type_url": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                "value": {"stat_prefix": "http_local_rate_limiter"}}}}}]}))


def envoyfilter_nack() -> Scenario:
    w = world(_envoyfilter_nack, istioctl_version="1.21.2")
    return Scenario("redteam-routes-injection", "envoyfilter-nack-auto-istioctl-behind",
                    "a rate-limit EnvoyFilter for app=reviews inserts a filter Envoy does not know; reviews-v2 NACKs its "
                    "listeners and keeps stale config; istioctl is one minor behind",
                    pod_target(w, "default/reviews-v2"), "auto", w,
                    Expect("ROUTE-ENVOYFILTER", ["ROUTE-ENVOYFILTER"], ["GEN-VERSION-SKEW", "GEN-ISTIOD-HEALTH",
                                                                        "P503-PROXY-NOT-READY"]))


# -- 11. HTTPRoute attached to a shared Gateway in another namespace that allows Same only ----------


def _httproute_not_allowed(w: World) -> None:
    w.istio += [
        cr("K8sGateway", "shared-gw", "istio-system", {"gatewayClassName": "istio", "listeners": [
            {"name": "http", "hostname": "*.example.com", "port": 80, "protocol": "HTTP",
             "allowedRoutes": {"namespaces": {"from": "Same"}}}]}),
        cr("HTTPRoute", "productpage", "default", {
            "parentRefs": [{"name": "shared-gw", "namespace": "istio-system"}], "hostnames": ["bookinfo.example.com"],
            "rules": [{"backendRefs": [{"name": "productpage", "port": 9080}]}]}, status={"parents": [{
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared-gw", "namespace": "istio-system"},
                "controllerName": "istio.io/gateway-controller",
                "conditions": [
                    {"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
                     "message": "hostnames matched parent hostname \"*.example.com\", but namespace \"default\" is not allowed by the parent",
                     "lastTransitionTime": "2024-07-15T09:00:00Z", "observedGeneration": 1},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved",
                     "lastTransitionTime": "2024-07-15T09:00:00Z", "observedGeneration": 1}]}]}),
    ]


def httproute_not_allowed() -> Scenario:
    w = world(_httproute_not_allowed)
    return Scenario("redteam-routes-injection", "httproute-not-allowed-by-shared-gateway",
                    "HTTPRoute default/productpage attaches to istio-system/shared-gw whose listener allows routes from "
                    "its own namespace only: Accepted=False NotAllowedByListeners, the route is never programmed",
                    "deploy/productpage-v1 -n default", "auto", w,
                    Expect("ROUTE-GWAPI-NOT-ACCEPTED", ["ROUTE-GWAPI-NOT-ACCEPTED"], ["ROUTE-GWAPI-CRD", "ROUTE-VS-NO-GATEWAY"]))


# -- 12. a client calls a headless Service's pod by IP under REGISTRY_ONLY, JSON logs, a ServiceEntry nearby --


def _headless_registry(w: World) -> None:
    w.workloads.append(Workload("search", "default", [Container("search", "docker.io/acme/search:7.17.0", ports=[Port(9200)])],
                                labels={"app": "search", "version": "v1"}, service_account="search", node_index=2))
    w.services.append(Service("search", "default", [ServicePort(9200, "http")], selector={"app": "search"},
                              headless=True, labels={"app": "search"}))
    # the platform team's ServiceEntry for the external search SaaS: declared, working, a red herring
    w.istio.append(cr("ServiceEntry", "search-saas", "default", {
        "hosts": ["api.search-saas.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
        "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}))
    ip = w.pods_of(wl(w, "default/search"))[0].ip
    w.traffic.append(Request("default/productpage-v1", f"{ip}:9200", "/products/_search", count=4))


def headless_registry() -> Scenario:
    w = world(_headless_registry, registry_only=True, access_log_encoding="JSON")
    return Scenario("redteam-routes-injection", "headless-pod-ip-registry-only-json",
                    "REGISTRY_ONLY; productpage's search client discovers pods of the headless search Service and calls "
                    "them by IP on an http port: the IP Host matches no route, 502 block_all (JSON logs); a ServiceEntry "
                    "for an external search SaaS is a red herring",
                    pod_target(w, "default/productpage-v1"), "auto", w,
                    Expect("P503-HEADLESS-PODIP", ["P503-HEADLESS-PODIP"],
                           ["P503-REGISTRY-ONLY", "P503-NO-ENDPOINTS", "ROUTE-AUTHORITY-MISMATCH", "ROUTE-SIDECAR-SCOPE",
                            "ROUTE-EXPORTTO-HIDDEN"]))


# -- 13. Service exported to '.', a foo client falls to passthrough and STRICT resets it --------------


def _exportto_service_strict(w: World) -> None:
    w.service("ratings", "default").annotations["networking.istio.io/exportTo"] = "."  # type: ignore[union-attr]
    w.istio.append(STRICT_MESH)
    w.traffic.append(Request("foo/sleep", "ratings.default:9080", "/ratings/0", count=4))


def exportto_service_strict() -> Scenario:
    w = world(_exportto_service_strict)
    return Scenario("redteam-routes-injection", "service-exported-to-own-ns-strict-reset",
                    "ratings is annotated networking.istio.io/exportTo='.'; sleep in foo (with a sidecar) has no cluster "
                    "for it, goes out by passthrough in plaintext and STRICT ratings resets it: looks like mTLS, is visibility",
                    "deploy/sleep -n foo", "auto", w,
                    Expect("ROUTE-EXPORTTO-HIDDEN", ["ROUTE-EXPORTTO-HIDDEN"],
                           ["MTLS-NONMESH-CLIENT", "MTLS-DR-DISABLE-VS-STRICT", "MTLS-TO-NONMESH-SERVER", "INJ-NS-LABEL",
                            "ROUTE-SIDECAR-SCOPE"]))


# -- 14. the ingress VirtualService routes to a short name of a Service in another namespace ------------


def _ingress_short_name_other_ns(w: World) -> None:
    vs = res(w, "VirtualService", "bookinfo")
    vs["spec"]["http"].insert(0, {"match": [{"uri": {"prefix": "/anything"}}],
                                  "route": [{"destination": {"host": "httpbin", "port": {"number": 8000}}}]})
    ingress(w, path="/anything/echo", count=4)
    ingress(w, count=2)


def ingress_short_name_other_ns() -> Scenario:
    w = world(_ingress_short_name_other_ns)
    return Scenario("redteam-routes-injection", "ingress-route-short-host-other-namespace",
                    "the bookinfo VirtualService (in default) sends /anything to host 'httpbin', which resolves to "
                    "httpbin.default (absent; httpbin lives in foo): the ingress answers 503 NC for it, /productpage works",
                    gateway_target(w), "auto", w,
                    Expect("ROUTE-DEST-HOST-UNKNOWN", ["ROUTE-DEST-HOST-UNKNOWN"],
                           ["ROUTE-SUBSET-UNDEFINED", "P503-NO-ENDPOINTS", "ROUTE-MATCH-MISS", "ROUTE-VS-NO-GATEWAY",
                            "P503-NO-SERVICE"]))


# -- 15. a pod opted out with a label by a Helm chart default while a STRICT peer resets it -------------


def _optout_strict(w: World) -> None:
    w.workloads.append(Workload("reporting", "foo", [Container("reporting", "docker.io/acme/reporting:5.0.1", ports=[Port(8080)])],
                                labels={"app": "reporting", "version": "v1", "sidecar.istio.io/inject": "false"},
                                service_account="reporting", node_index=0))
    w.istio.append(STRICT_FOO)
    w.traffic.append(Request("foo/reporting", "httpbin.foo:8000", "/anything/report", count=4))
    w.traffic.append(Request("foo/sleep", "httpbin.foo:8000", "/ip", count=2))


def optout_strict() -> Scenario:
    w = world(_optout_strict)
    return Scenario("redteam-routes-injection", "chart-optout-label-strict-peer",
                    "reporting's Helm chart sets sidecar.istio.io/inject=false on the pod template in the injected "
                    "namespace foo; STRICT httpbin resets its calls; the SRE examines reporting",
                    "deploy/reporting -n foo", "auto", w,
                    Expect("INJ-POD-OPTOUT", ["INJ-POD-OPTOUT"],
                           ["INJ-NS-LABEL", "INJ-POD-PREDATES", "INJ-INVALID-VALUE", "MTLS-DR-DISABLE-VS-STRICT"]))


SCENARIOS: list[Scenario] = [
    vs_gateway_other_ns(), subset_before_dr(), sidecar_new_dependency(), dr_exportto_other_ns(), canary_only(),
    deploy_annotation(), half_injected(), hostnet_scan(), credential_wrong_ns(), envoyfilter_nack(),
    httproute_not_allowed(), headless_registry(), exportto_service_strict(), ingress_short_name_other_ns(), optout_strict(),
]
