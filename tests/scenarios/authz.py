"""Scenarios of the ``authz`` playbook (ambient A4): authorization denies, or fails to deny.

Policies are real AuthorizationPolicy objects; the kit derives istiod's ZtunnelAccepted status
(per version: 1.24 wording, 1.25+ wording) and ztunnel's L4 verdicts at the destination.
"""

from __future__ import annotations

from typing import Any

from tests.scenarios._ambient import compose, control, fail, target, world
from tests.scenariokit.ambient_bookinfo import waypoint
from tests.scenariokit.world import World, cr


def _ap(name: str, spec: dict[str, Any], ns: str = "default"):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        w.istio.append(cr("AuthorizationPolicy", name, ns, spec))
    return m


def _bound(w: World) -> None:
    waypoint(w)
    ns = w.namespace("default")
    assert ns is not None
    ns.labels["istio.io/use-waypoint"] = "waypoint"


def _pa_strict(ns: str):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        w.istio.append(cr("PeerAuthentication", "default", ns, {"mtls": {"mode": "STRICT"}}))
    return m


DETAILS = {"selector": {"matchLabels": {"app": "details"}}}
PRODUCTPAGE = "cluster.local/ns/default/sa/bookinfo-productpage"


def _scenarios() -> list:  # type: ignore[type-arg]
    out = []
    l7_allow = {**DETAILS, "action": "ALLOW", "rules": [{"from": [{"source": {"principals": [PRODUCTPAGE]}}],
                                                       "to": [{"operation": {"methods": ["GET"]}}]}]}
    for version in ("1.24.2", "1.26.1"):
        w = world(_ap("details-get-only", l7_allow), version=version)
        out.append(fail("authz", f"l7-allow-on-ztunnel-{version.replace('.', '-')}", f"Istio {version}: an ALLOW policy with "
                        "HTTP methods selects details: ztunnel drops the rule and denies productpage", w,
                        target(w, "details"), "AMB-AUTHZ-L7-ON-ZTUNNEL"))
    w = world(_ap("details-from-productpage", {**DETAILS, "action": "ALLOW",
                                               "rules": [{"from": [{"source": {"principals": [PRODUCTPAGE]}}]}]}))
    out.append(control("authz", "lookalike-l4-allow", "an L4-only ALLOW policy on details that admits productpage", w,
                       target(w, "details"), ruled_out=("AMB-AUTHZ-L7-ON-ZTUNNEL",)))

    deny_paths = {**DETAILS, "action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}
    w = world(_ap("details-deny-admin", deny_paths), version="1.26.1")
    out.append(fail("authz", "deny-l7-noop", "a DENY policy on details made only of paths: it denies nothing at ztunnel "
                    "while its status says it is enforced", w, target(w, "details"), "AMB-AUTHZ-DENY-L7-NOOP"))
    w = world(_ap("details-deny-sleep-admin", {**DETAILS, "action": "DENY", "rules": [
        {"from": [{"source": {"principals": ["cluster.local/ns/foo/sa/sleep"]}}], "to": [{"operation": {"paths": ["/admin*"]}}]}]}),
        version="1.26.1")
    out.append(control("authz", "lookalike-deny-with-l4-part", "a DENY with a principal and a path: ztunnel keeps the "
                       "principal part", w, target(w, "details"), ruled_out=("AMB-AUTHZ-DENY-L7-NOOP",)))

    w = world(_ap("details-ext-authz", {**DETAILS, "action": "CUSTOM", "provider": {"name": "oauth2-proxy"},
                                        "rules": [{"to": [{"operation": {"paths": ["/"]}}]}]}))
    out.append(fail("authz", "custom-on-ztunnel", "a CUSTOM (ext-authz) policy selects details", w, target(w, "details"),
                    "AMB-AUTHZ-CUSTOM-ON-ZTUNNEL"))
    w = world(compose(_bound, _ap("details-ext-authz", {"targetRefs": [{"kind": "Service", "group": "", "name": "details"}],
                                                      "action": "CUSTOM", "provider": {"name": "oauth2-proxy"},
                                                      "rules": [{"to": [{"operation": {"paths": ["/"]}}]}]})))
    out.append(control("authz", "lookalike-custom-on-waypoint", "the CUSTOM policy attached to details' waypoint", w,
                       target(w, "details"), ruled_out=("AMB-AUTHZ-CUSTOM-ON-ZTUNNEL",)))

    l4_clients = {**DETAILS, "action": "ALLOW", "rules": [{"from": [{"source": {"principals": [PRODUCTPAGE]}}]}]}
    w = world(compose(_bound, _ap("details-from-productpage", l4_clients)))
    out.append(fail("authz", "waypoint-sa-denied", "details is bound to a waypoint but its ALLOW policy lists only "
                    "productpage's principal", w, target(w, "details"), "AMB-AUTHZ-WAYPOINT-SA"))
    w = world(compose(_bound, _ap("details-from-waypoint", {**DETAILS, "action": "ALLOW", "rules": [
        {"from": [{"source": {"principals": [PRODUCTPAGE, "cluster.local/ns/default/sa/waypoint"]}}]}]})))
    out.append(control("authz", "lookalike-waypoint-sa-allowed", "the same policy also admits the waypoint", w,
                       target(w, "details"), ruled_out=("AMB-AUTHZ-WAYPOINT-SA",)))

    w = world(_pa_strict("foo"))
    out.append(fail("authz", "strict-nonmesh-client", "STRICT mTLS in foo: legacy/sleep (not in the mesh) calls httpbin", w,
                    target(w, "httpbin", "foo"), "AMB-STRICT-NONMESH-CLIENT"))
    w = world(_pa_strict("default"))
    out.append(control("authz", "lookalike-strict-only-mesh-clients", "STRICT mTLS where only mesh clients call", w,
                       target(w, "details"), ruled_out=("AMB-STRICT-NONMESH-CLIENT",)))
    return out


SCENARIOS = _scenarios()
