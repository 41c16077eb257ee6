"""Scenarios of the ``waypoint`` playbook (ambient A3): the waypoint is not used, or L7 is ignored.

Waypoints are Gateways of class istio-waypoint plus the Deployment istiod renders for them
(``ambient_bookinfo.waypoint``); bindings are ``istio.io/use-waypoint`` labels; istiod's verdicts
(Service ``istio.io/WaypointBound``, Gateway ``Programmed``, HTTPRoute parents) are derived by the kit.
"""

from __future__ import annotations

from typing import Any

from tests.scenarios._ambient import compose, control, fail, found, pod, target, workload_label, world
from tests.scenariokit.ambient_bookinfo import waypoint
from tests.scenariokit.world import Namespace, Request, World, cr


def _bind_ns(ns: str = "default", name: str = "waypoint", wp_ns: str | None = None):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        n = w.namespace(ns)
        assert n is not None
        n.labels["istio.io/use-waypoint"] = name
        if wp_ns:
            n.labels["istio.io/use-waypoint-namespace"] = wp_ns
    return m


def _wp(namespace: str = "default", traffic: str | None = None):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        if w.namespace(namespace) is None:
            w.namespaces.append(Namespace(namespace, {}))
        waypoint(w, namespace=namespace, traffic=traffic)
    return m


def _route(svc: str = "reviews"):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        w.istio.append(cr("HTTPRoute", f"{svc}-v1", "default", {
            "parentRefs": [{"group": "", "kind": "Service", "name": svc, "port": 9080}],
            "rules": [{"backendRefs": [{"name": svc, "port": 9080}]}]}))
    return m


def _ingress(w: World) -> None:
    w.traffic.append(Request("istio-system/istio-ingressgateway", "productpage.default:9080", "/productpage", count=2))


def _svc_label(name: str, k: str, v: str):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        s = w.service(name, "default")
        assert s is not None
        s.labels[k] = v
    return m


def _pod_ip_client(w: World) -> None:
    pp = next(p for p in w.pods if p.name.startswith("productpage"))
    w.traffic.append(Request("foo/sleep", f"{pp.ip}:9080", "/productpage", count=2))


def _l7_policy(w: World) -> None:
    w.istio.append(cr("AuthorizationPolicy", "productpage-viewer", "default", {
        "targetRefs": [{"kind": "Service", "group": "", "name": "productpage"}], "action": "ALLOW",
        "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]}))


def _scenarios() -> list:  # type: ignore[type-arg]
    out = []
    w = world(compose(_wp(), _bind_ns()), waypoint_state={"default/waypoint": "pending"})
    out.append(fail("waypoint", "wp-never-reconciled", "the namespace's waypoint was never reconciled "
                    "(Accepted/Programmed Unknown, Waiting for controller)", w, target(w, "reviews-v1"), "AMB-WP-NOT-PROGRAMMED"))
    w = world(compose(_wp(), _bind_ns()), waypoint_state={"default/waypoint": "address_not_usable"})
    out.append(fail("waypoint", "wp-address-not-usable", "the waypoint is Programmed=False AddressNotUsable", w,
                    target(w, "reviews-v1"), "AMB-WP-NOT-PROGRAMMED"))
    w = world(compose(_wp(), _bind_ns()))
    out.append(control("waypoint", "healthy-waypoint", "namespace bound to a Programmed waypoint; traffic crosses it", w,
                       target(w, "reviews-v1"), ruled_out=("AMB-WP-NOT-PROGRAMMED",)))

    w = world(compose(_wp("waypoints"), _bind_ns()))
    out.append(fail("waypoint", "wp-cross-ns", "namespace bound to waypoint 'waypoint', which lives in namespace "
                    "waypoints, without istio.io/use-waypoint-namespace", w, target(w, "reviews-v1"), "AMB-WP-CROSS-NS"))
    w = world(compose(_wp("waypoints"), _bind_ns(wp_ns="waypoints")))
    out.append(control("waypoint", "lookalike-cross-ns-with-namespace", "the same binding with istio.io/use-waypoint-namespace",
                       w, target(w, "reviews-v1"), ruled_out=("AMB-WP-CROSS-NS",)))

    w = world(compose(_wp(), workload_label("default/reviews-v1", "istio.io/use-waypoint", "waypoint")))
    out.append(fail("waypoint", "wp-traffic-type-pod", "a pod labelled to use a waypoint that serves only service traffic",
                    w, target(w, "reviews-v1"), "AMB-WP-TRAFFIC-TYPE"))
    w = world(compose(_wp(traffic="workload"), workload_label("default/reviews-v1", "istio.io/use-waypoint", "waypoint")))
    out.append(control("waypoint", "lookalike-pod-waypoint-for-workload", "the same pod label, waypoint-for workload", w,
                       target(w, "reviews-v1"), ruled_out=("AMB-WP-TRAFFIC-TYPE",)))

    w = world(compose(_wp(), _route()))
    out.append(found("waypoint", "wp-not-used", "a Programmed waypoint and an HTTPRoute on reviews, but nothing binds the "
                     "namespace or the service to the waypoint", w, target(w, "reviews-v1"),
                     ("AMB-WP-NOT-USED", "AMB-WP-ROUTE-NOT-BOUND"), first="AMB-WP-NOT-USED"))
    w = world(_route())
    out.append(fail("waypoint", "wp-route-not-bound", "an HTTPRoute attached to Service reviews, which has no waypoint", w,
                    target(w, "reviews-v1"), "AMB-WP-ROUTE-NOT-BOUND"))
    w = world(compose(_wp(), _bind_ns(), _route()))
    out.append(control("waypoint", "lookalike-route-on-bound-service", "an HTTPRoute on a service bound to its waypoint", w,
                       target(w, "reviews-v1"), ruled_out=("AMB-WP-ROUTE-NOT-BOUND", "AMB-WP-NOT-USED")))

    w = world(compose(_wp(), _bind_ns(), _ingress))
    out.append(fail("waypoint", "wp-ingress-bypass", "the ingress gateway reaches productpage directly: its Service is bound "
                    "to a waypoint without istio.io/ingress-use-waypoint", w, target(w, "productpage"), "AMB-WP-INGRESS-BYPASS"))
    w = world(compose(_wp(), _bind_ns(), _ingress, _svc_label("productpage", "istio.io/ingress-use-waypoint", "true")))
    out.append(control("waypoint", "lookalike-ingress-uses-waypoint", "the same, with istio.io/ingress-use-waypoint=true",
                       w, target(w, "productpage"), ruled_out=("AMB-WP-INGRESS-BYPASS",)))

    w = world(compose(_wp(), _bind_ns(), _pod_ip_client))
    out.append(fail("waypoint", "wp-pod-ip-bypass", "a client dials productpage's pod IP; the waypoint serves only service "
                    "traffic", w, target(w, "productpage"), "AMB-WP-POD-IP-BYPASS"))
    w = world(compose(_wp(traffic="all"), _bind_ns(), _pod_ip_client))
    out.append(control("waypoint", "lookalike-pod-ip-waypoint-for-all", "the same client, waypoint-for all", w,
                       target(w, "productpage"), ruled_out=("AMB-WP-POD-IP-BYPASS",)))

    w = world(compose(_wp(), _bind_ns(), _ingress, _l7_policy))
    out.append(found("waypoint", "wp-authz-bypass", "an L7 policy on productpage's waypoint while the ingress gateway "
                     "skips the waypoint", w, target(w, "productpage"), ("AMB-WP-INGRESS-BYPASS", "AMB-WP-AUTHZ-BYPASS"),
                     first="AMB-WP-INGRESS-BYPASS"))
    w = world(compose(_wp(), _bind_ns(), _l7_policy))
    out.append(control("waypoint", "lookalike-l7-policy-all-through-waypoint", "an L7 policy on the waypoint; every client "
                       "goes through it", w, target(w, "productpage"), ruled_out=("AMB-WP-AUTHZ-BYPASS",)))
    _ = pod
    return out


SCENARIOS = _scenarios()
